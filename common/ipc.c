/*
 * ipc.c: one message per SOCK_SEQPACKET datagram (see ipc.h).
 */
#include "ipc.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
ipc_socketpair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

/* One datagram of niov pieces, with passfd attached unless it is -1. */
static int
send_iov(int sock, struct iovec *iov, int niov, size_t total, int passfd)
{
	struct msghdr msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr *cmsg;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)niov;
	if (passfd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &passfd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != total) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int
ipc_send_fd(int sock, uint16_t type, uint32_t id, const void *body,
    size_t len, int passfd)
{
	struct ipc_hdr hdr;
	struct iovec iov[2];

	if (len > IPC_MAX_BODY) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.version = IPC_VERSION;
	hdr.type = type;
	hdr.id = id;
	hdr.len = (uint32_t)len;
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)body;
	iov[1].iov_len = len;
	return send_iov(sock, iov, len > 0 ? 2 : 1, sizeof(hdr) + len, passfd);
}

int
ipc_send_raw(int sock, const void *p, size_t n, int passfd)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = n;
	return send_iov(sock, &iov, 1, n, passfd);
}

int
ipc_send(int sock, uint16_t type, uint32_t id, const void *body, size_t len)
{
	return ipc_send_fd(sock, type, id, body, len, -1);
}

int
ipc_recv(int sock, struct ipc_msg *m, int fd_ok)
{
	struct iovec iov[2];
	struct msghdr msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr *cmsg;

	ssize_t n;
	int fd = -1;

	m->fd = -1;
	m->len = 0;
	iov[0].iov_base = &m->hdr;
	iov[0].iov_len = sizeof(m->hdr);
	iov[1].iov_base = m->body;
	iov[1].iov_len = sizeof(m->body);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);

	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0)
		return 0;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_SOCKET &&
		    cmsg->cmsg_type == SCM_RIGHTS &&
		    cmsg->cmsg_len == CMSG_LEN(sizeof(int)) && fd == -1)
			memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
		else if (cmsg->cmsg_level == SOL_SOCKET &&
		    cmsg->cmsg_type == SCM_RIGHTS) {
			/* More descriptors than allowed: close and fail. */
			size_t k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int x;
				memcpy(&x, CMSG_DATA(cmsg) + i * sizeof(int),
				    sizeof(int));
				close(x);
			}
			goto bad;
		}
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		goto bad;
	if ((size_t)n < sizeof(m->hdr) || m->hdr.version != IPC_VERSION ||
	    m->hdr.flags != 0 || m->hdr.len != (size_t)n - sizeof(m->hdr))
		goto bad;
	if (fd != -1 && !fd_ok)
		goto bad;
	m->len = m->hdr.len;
	m->fd = fd;
	return 1;
 bad:
	if (fd != -1)
		close(fd);
	errno = EBADMSG;
	return -1;
}

void
ipc_msg_clear(struct ipc_msg *m)
{
	explicit_bzero(m->body, m->len);
	m->len = 0;
}

int
ipc_wait_readable(int sock, int timeout_ms)
{
	struct pollfd pfd;
	struct timespec start, now;
	int r, left = timeout_ms;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pfd.fd = sock;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if ((r = poll(&pfd, 1, left)) > 0)
			return 0;
		if (r == 0 || errno != EINTR)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			return -1;
	}
}
