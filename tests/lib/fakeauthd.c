/*
 * fakeauthd.c: the stand-in authd's loop (fakeauthd.h).
 */
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "authd/authd.h"
#include "buf.h"
#include "fakeauthd.h"
#include "ipc.h"

#define FA_MAXCH	64	/* channels one stand-in serves */

int
fa_authenticated(uint64_t serial, const void *user, size_t ulen)
{
	static const uint8_t fp[AUTHD_CERT_FP_LEN];
	struct wbuf b;
	int rc;

	wbuf_init(&b, 128);
	wbuf_put_u64(&b, serial);
	wbuf_put_u64(&b, 42);
	wbuf_put_str16(&b, user, ulen);
	wbuf_put(&b, fp, sizeof(fp));
	rc = b.err ? -1 : ipc_send(IPC_CTL_FD, AUTHD_CTL_AUTHENTICATED, 0,
	    b.data, b.len);
	wbuf_free(&b);
	return rc;
}

int
fa_login_ok(int fd, uint32_t id, const void *user, size_t ulen)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 256);
	wbuf_put_u16(&b, AUTHD_RES_OK);
	wbuf_put_u64(&b, 42);
	wbuf_put_str16(&b, user, ulen);
	rc = b.err ? -1 : ipc_send(fd, AUTHD_RES_RESULT, id, b.data, b.len);
	wbuf_free(&b);
	return rc;
}

int
fa_run(const struct fa_hooks *h)
{
	struct pollfd pfd[1 + FA_MAXCH];
	struct {
		int	 fd;
		uint64_t serial;
	} ch[FA_MAXCH];
	struct ipc_msg *m;	/* 65 KiB: not on the stack */
	struct cursor c;
	const uint8_t *addr;
	size_t nch = 0, i, alen;
	uint64_t serial;

	if ((m = malloc(sizeof(*m))) == NULL)
		return 1;
	for (;;) {
		pfd[0].fd = IPC_CTL_FD;
		pfd[0].events = POLLIN;
		for (i = 0; i < nch; i++) {
			pfd[1 + i].fd = ch[i].fd;
			pfd[1 + i].events = POLLIN;
		}
		if (poll(pfd, 1 + nch, -1) == -1)
			break;
		if (pfd[0].revents != 0) {
			if (ipc_recv(IPC_CTL_FD, m, 1) != 1) {
				free(m);
				return 0;	/* the master is gone */
			}
			cur_init(&c, m->body, m->len);
			serial = cur_u64(&c);
			addr = cur_str16(&c, &alen, 64);
			if (m->hdr.type != AUTHD_CTL_NEW_CHANNEL ||
			    m->fd == -1 || addr == NULL || cur_done(&c) == -1 ||
			    nch == FA_MAXCH)
				break;
			ch[nch].fd = m->fd;
			ch[nch++].serial = serial;
			if (h->channel != NULL && h->channel(serial) == -1)
				break;
			continue;
		}
		for (i = 0; i < nch; i++) {
			if (pfd[1 + i].revents == 0 || ch[i].fd == -1)
				continue;
			if (ipc_recv(ch[i].fd, m, 0) != 1) {
				close(ch[i].fd);
				ch[i].fd = -1;
				pfd[1 + i].fd = -1;
				continue;
			}
			if (h->request(ch[i].fd, ch[i].serial, m) == -1)
				goto out;
		}
	}
 out:
	free(m);
	return 1;
}
