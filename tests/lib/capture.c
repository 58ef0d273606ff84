/*
 * capture.c: a relay that records one connection (see capture.h).
 */
#include "capture.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *
capture_run(void *arg)
{
	struct capture *cp = arg;
	struct sockaddr_in sin;
	char buf[8192];
	int c, s;

	if ((c = accept(cp->lfd, NULL, NULL)) == -1)
		return NULL;
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1) {
		close(c);
		return NULL;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)cp->target);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto out;
	for (;;) {
		struct pollfd p[2] = { { c, POLLIN, 0 }, { s, POLLIN, 0 } };
		ssize_t k;
		char *n;

		if (poll(p, 2, 30000) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			if ((k = read(p[i].fd, buf, sizeof(buf))) <= 0 ||
			    write(p[1 - i].fd, buf, (size_t)k) != k)
				goto out;
			if ((n = realloc(cp->bytes, cp->len + (size_t)k)) ==
			    NULL)
				goto out;
			cp->bytes = n;
			memcpy(cp->bytes + cp->len, buf, (size_t)k);
			cp->len += (size_t)k;
		}
	}
 out:
	close(c);
	close(s);
	return NULL;
}

int
capture_start(struct capture *cp, int target)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(cp, 0, sizeof(*cp));
	cp->target = target;
	if ((cp->lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(cp->lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(cp->lfd, 1) == -1 ||
	    getsockname(cp->lfd, (struct sockaddr *)&sin, &sl) == -1) {
		close(cp->lfd);
		return -1;
	}
	cp->port = ntohs(sin.sin_port);
	if (pthread_create(&cp->thread, NULL, capture_run, cp) != 0) {
		close(cp->lfd);
		return -1;
	}
	return 0;
}

void
capture_wait(struct capture *cp)
{
	pthread_join(cp->thread, NULL);
	close(cp->lfd);
	cp->lfd = -1;
}

void
capture_free(struct capture *cp)
{
	free(cp->bytes);
	cp->bytes = NULL;
	cp->len = 0;
}
