/*
 * ipc.h: messages between SecureChat processes over SOCK_SEQPACKET.
 *
 * Every message is one datagram: a fixed header followed by at most
 * IPC_MAX_BODY bytes of body.  SOCK_SEQPACKET keeps the boundaries, so a
 * receiver sees exactly one message per recv and can check that the
 * header's length matches what arrived; a truncated datagram is an error,
 * never silently cut.  At most IPC_MAX_FDS descriptors travel with a
 * message (SCM_RIGHTS): one (ipc_send_fd, ipc_recv) except where a
 * boundary says otherwise (ipc_send_fds, ipc_recv_fds).  Bodies are built and parsed with buf.h.
 *
 * The message types of each boundary live in that daemon's header
 * (keyd/keyd.h, authd/authd.h, router/router.h, securechatd/securechatd.h).
 */
#ifndef SC_IPC_H
#define SC_IPC_H

#include <stddef.h>
#include <stdint.h>

#define IPC_VERSION	1
/*
 * 64 KiB and a margin: the largest envelope (50074 bytes, envelope.h)
 * with the fields of the message that carries it (router.h), and a
 * record's largest ciphertext (SC_MAX_CT) with its fields, fit in one
 * message.  A datagram this size still fits the default AF_UNIX send
 * buffer (net.core.wmem_default, 208 KiB) several times over.
 */
#define IPC_MAX_BODY	(64 * 1024 + 1024)

/* Descriptors one message may carry (a worker's five channels). */
#define IPC_MAX_FDS	8

/* Fixed descriptors of a re-executed child (closefrom() above them). */
#define IPC_CTL_FD	3	/* keyd/authd: control channel to the master */

struct ipc_hdr {
	uint8_t		version;	/* IPC_VERSION */
	uint8_t		flags;		/* 0 */
	uint16_t	type;
	uint32_t	id;		/* request id, echoed in the reply */
	uint32_t	len;		/* body bytes that follow */
};

struct ipc_msg {
	struct ipc_hdr	hdr;
	uint8_t		body[IPC_MAX_BODY];
	size_t		len;
	int		fd;		/* received descriptor or -1 */
};

/* Create a SOCK_SEQPACKET pair with close-on-exec set on both ends. */
int	ipc_socketpair(int sv[2]);
int	ipc_send(int sock, uint16_t type, uint32_t id, const void *, size_t);
/* As ipc_send, also passing passfd (not closed here). */
int	ipc_send_fd(int sock, uint16_t type, uint32_t id, const void *, size_t,
	    int passfd);
/*
 * Receive one message.  Returns 1 on a message, 0 when the peer closed,
 * -1 on error or a malformed message (wrong version, truncated, length
 * mismatch, unexpected descriptor when fd_ok is 0).  m->fd is -1 unless a
 * descriptor arrived and fd_ok was set.
 */
int	ipc_recv(int sock, struct ipc_msg *m, int fd_ok);
/* As ipc_send_fd with nfds (at most IPC_MAX_FDS) descriptors. */
int	ipc_send_fds(int sock, uint16_t type, uint32_t id, const void *,
	    size_t, const int *fds, size_t nfds);
/*
 * As ipc_recv, taking up to maxfds descriptors into fds[] (*nfdsp of
 * them, all close-on-exec); a message with more is closed and -1.  m->fd
 * is not used.
 */
int	ipc_recv_fds(int sock, struct ipc_msg *m, int *fds, size_t maxfds,
	    size_t *nfdsp);
/*
 * Send n bytes as one datagram as they are, header or not (passfd
 * attached unless -1): for the tests and fuzzers that must send what the
 * product never would.  0 or -1.
 */
int	ipc_send_raw(int sock, const void *p, size_t n, int passfd);
/* Wait up to timeout_ms for sock to be readable: 0, or -1 (timeout or
 * error).  A worker's call to keyd or authd waits with it for the reply. */
int	ipc_wait_readable(int sock, int timeout_ms);
/* Wipe a message that may have carried a secret. */
void	ipc_msg_clear(struct ipc_msg *);

#endif
