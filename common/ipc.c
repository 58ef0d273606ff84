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

/* One datagram of niov pieces, with nfds descriptors attached. */
static int
send_iov(int sock, struct iovec *iov, int niov, size_t total,
    const int *fds, size_t nfds)
{
	struct msghdr msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(IPC_MAX_FDS * sizeof(int))];
	} cmsgbuf;
	struct cmsghdr *cmsg;
	ssize_t n;

	if (nfds > IPC_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)niov;
	if (nfds > 0) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
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
ipc_send_fds(int sock, uint16_t type, uint32_t id, const void *body,
    size_t len, const int *fds, size_t nfds)
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
	return send_iov(sock, iov, len > 0 ? 2 : 1, sizeof(hdr) + len, fds,
	    nfds);
}

int
ipc_send_fd(int sock, uint16_t type, uint32_t id, const void *body,
    size_t len, int passfd)
{
	return ipc_send_fds(sock, type, id, body, len, &passfd,
	    passfd != -1 ? 1 : 0);
}

int
ipc_send_raw(int sock, const void *p, size_t n, int passfd)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = n;
	return send_iov(sock, &iov, 1, n, &passfd, passfd != -1 ? 1 : 0);
}

int
ipc_send(int sock, uint16_t type, uint32_t id, const void *body, size_t len)
{
	return ipc_send_fd(sock, type, id, body, len, -1);
}

/* Close the n descriptors of an SCM_RIGHTS message not taken. */
static void
close_rights(const struct cmsghdr *cmsg, size_t from)
{
	size_t i, k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	int x;

	for (i = from; i < k; i++) {
		memcpy(&x, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
		close(x);
	}
}

int
ipc_recv_fds(int sock, struct ipc_msg *m, int *fds, size_t maxfds,
    size_t *nfdsp)
{
	struct iovec iov[2];
	struct msghdr msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(IPC_MAX_FDS * sizeof(int))];
	} cmsgbuf;
	struct cmsghdr *cmsg;
	ssize_t n;
	size_t k, nfds = 0;
	int bad = 0;

	m->fd = -1;
	m->len = 0;
	*nfdsp = 0;
	if (maxfds > IPC_MAX_FDS)
		maxfds = IPC_MAX_FDS;
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
	/* Descriptors first: every one received is kept or closed. */
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (bad || nfds > 0 || k > maxfds) {
			/* More descriptors than allowed: close and fail. */
			close_rights(cmsg, 0);
			bad = 1;
			continue;
		}
		memcpy(fds, CMSG_DATA(cmsg), k * sizeof(int));
		nfds = k;
	}
	if (n == 0 && nfds == 0 && !bad)
		return 0;
	if (bad || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (size_t)n < sizeof(m->hdr) || m->hdr.version != IPC_VERSION ||
	    m->hdr.flags != 0 || m->hdr.len != (size_t)n - sizeof(m->hdr)) {
		while (nfds > 0)
			close(fds[--nfds]);
		errno = EBADMSG;
		return -1;
	}
	m->len = m->hdr.len;
	*nfdsp = nfds;
	return 1;
}

int
ipc_recv(int sock, struct ipc_msg *m, int fd_ok)
{
	int fd = -1, rc;
	size_t nfds;

	if ((rc = ipc_recv_fds(sock, m, &fd, fd_ok ? 1 : 0, &nfds)) == 1)
		m->fd = nfds == 1 ? fd : -1;
	return rc;
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
