/*
 * fuzz_authd.c: both directions of the worker <-> authd boundary and
 * authd's control channel, from the raw datagram on (ipc_recv on a real
 * SOCK_SEQPACKET pair).
 *
 * authd's own parsing lives in static functions of authd/authd.c that
 * also talk to the database and to descriptor 3 (req_register,
 * req_login, control_dispatch), so it cannot be called from here as it
 * is.  Until it is factored out, authd_fz_request() and authd_fz_ctl()
 * are line-for-line copies of its parsing steps (the cursor reads and the
 * content checks before any database call): keep them in sync.  The
 * worker's side is the real code: securechatd/authd_wrap.c is compiled
 * into this harness.
 *
 * Input: one selector byte, then one datagram (IPC header in host byte
 * order, then the body):
 *	sel % 3 == 0	worker -> authd request (REGISTER, LOGIN, other)
 *	sel % 3 == 1	master -> authd control message; sel & 0x80 attaches
 *			a descriptor, as NEW_CHANNEL must
 *	sel % 3 == 2	authd -> worker RESULT, read by authd_wrap's stub;
 *			sel & 0x40 puts the id the stub waits for
 * Properties: a request body that parses is exactly what authd_wrap's
 * encoder produces for the fields read; whatever authd answers, the
 * worker's stub returns a known code, and an OK only with an account id
 * and a terminated username.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "account.h"
#include "authd/authd.h"
#include "buf.h"
#include "ipc.h"
#include "securechatd/authd_wrap.c"
#include "fuzz.h"

static int authd_fz_sv[2] = { -1, -1 };

static int
authd_fz_init(void)
{
	if (authd_fz_sv[0] != -1)
		return 0;
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0, authd_fz_sv);
}

static void
authd_fz_drain(int fd)
{
	static uint8_t junk[IPC_MAX_BODY + 64];
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(4 * sizeof(int))];
	} cb;
	struct cmsghdr *cm;
	int fds[4];
	size_t k, n;

	for (;;) {
		iov.iov_base = junk;
		iov.iov_len = sizeof(junk);
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cb.buf;
		mh.msg_controllen = sizeof(cb.buf);
		if (recvmsg(fd, &mh, MSG_CMSG_CLOEXEC) <= 0)
			break;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_type != SCM_RIGHTS)
				continue;
			n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
			for (k = 0; k < n; k++)
				close(fds[k]);
		}
	}
}

/* Send a datagram as the peer would: raw bytes, maybe a descriptor. */
static int
authd_fz_send(int fd, const uint8_t *p, size_t n, int withfd)
{
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cb;
	struct cmsghdr *cm;
	int pass = -1, rc;

	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = n;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (withfd) {
		if ((pass = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
			return -1;
		memset(&cb, 0, sizeof(cb));
		mh.msg_control = cb.buf;
		mh.msg_controllen = sizeof(cb.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass, sizeof(int));
	}
	rc = sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
	if (pass != -1)
		close(pass);
	return rc;
}

/* A canned RESULT so that authd_wrap's stub returns without waiting. */
static void
authd_fz_queue_result(uint32_t id)
{
	uint8_t body[2 + 8 + 2] = { 0, AUTHD_RES_AUTH_FAIL };

	(void)ipc_send(authd_fz_sv[0], AUTHD_RES_RESULT, id, body,
	    sizeof(body));
}

/* The request body the worker's encoder produced must be what was read. */
static void
authd_fz_same_body(const struct ipc_msg *m)
{
	static struct ipc_msg back;

	FUZZ_CHECK(ipc_recv(authd_fz_sv[0], &back, 0) == 1 &&
	    back.hdr.type == m->hdr.type && back.len == m->len &&
	    memcmp(back.body, m->body, m->len) == 0);
	authd_fz_drain(authd_fz_sv[0]);
}

/* authd.c's channel_dispatch -> req_register / req_login parsing. */
static void
authd_fz_request(const struct ipc_msg *m)
{
	struct cursor c;
	const uint8_t *u, *e = NULL, *pw;
	size_t ulen, elen = 0, pwlen;
	uint8_t cert[AUTHD_CERT_FP_LEN];
	char user[ACCOUNT_USER_MAX + 1], canon[64];
	uint64_t acct;
	int bad;

	if (m->hdr.type != AUTHD_REQ_REGISTER &&
	    m->hdr.type != AUTHD_REQ_LOGIN)
		return;		/* "unknown request type": violation */
	cur_init(&c, m->body, m->len);
	u = cur_str16(&c, &ulen, AUTHD_FIELD_MAX);
	if (m->hdr.type == AUTHD_REQ_REGISTER)
		e = cur_str16(&c, &elen, AUTHD_FIELD_MAX);
	pw = cur_str16(&c, &pwlen, AUTHD_FIELD_MAX);
	cur_bytes(&c, cert, sizeof(cert));
	if (cur_done(&c) == -1)
		return;		/* "malformed body": violation */
	if (m->hdr.type == AUTHD_REQ_REGISTER)
		bad = account_username_canon(u, ulen, user) == -1 ||
		    account_email_check(e, elen) == -1 ||
		    account_password_check(pwlen) == -1 ||
		    memchr(pw, '\0', pwlen) != NULL;	/* password_bytes_ok */
	else
		bad = account_username_canon(u, ulen, user) == -1 ||
		    pwlen < 1 || pwlen > ACCOUNT_PASS_MAX ||
		    memchr(pw, '\0', pwlen) != NULL;	/* password_bytes_ok */
	if (!bad) {
		/* What goes on to the database and the KDF. */
		FUZZ_CHECK(strlen(user) == ulen && ulen <= ACCOUNT_USER_MAX);
		FUZZ_CHECK(sc_valid_username((const uint8_t *)user, ulen));
	}
	/* The worker's encoder of the same fields gives the same body. */
	authd_fz_drain(authd_fz_sv[0]);
	authd_fz_drain(authd_fz_sv[1]);
	authd_fz_queue_result(authd_wrap_id + 1);
	if (m->hdr.type == AUTHD_REQ_REGISTER)
		(void)authd_register(authd_fz_sv[1], u, ulen, e, elen, pw,
		    pwlen, cert, &acct, canon, sizeof(canon));
	else
		(void)authd_login(authd_fz_sv[1], u, ulen, pw, pwlen, cert,
		    &acct, canon, sizeof(canon));
	authd_fz_same_body(m);
}

/* authd.c's addr_ok, copied (it is static there). */
static int
authd_fz_addr_ok(const uint8_t *p, size_t len)
{
	size_t i;

	if (len < 1 || len > AUTHD_ADDR_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return 0;
	return 1;
}

/* authd.c's control_dispatch parsing of NEW_CHANNEL. */
static void
authd_fz_ctl(const struct ipc_msg *m)
{
	struct cursor c;
	const uint8_t *a;
	size_t alen;
	char addr[AUTHD_ADDR_MAX + 1];

	if (m->hdr.type != AUTHD_CTL_NEW_CHANNEL)
		return;
	cur_init(&c, m->body, m->len);
	(void)cur_u64(&c);
	a = cur_str16(&c, &alen, AUTHD_ADDR_MAX);
	if (cur_done(&c) == -1 || m->fd == -1 || !authd_fz_addr_ok(a, alen))
		return;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	FUZZ_CHECK(strlen(addr) == alen);
}

/* The worker's stub reading whatever authd answered. */
static void
authd_fz_result(const uint8_t *p, size_t n, int right_id)
{
	uint8_t *copy = NULL, cert[32] = { 0 };
	char canon[ACCOUNT_USER_MAX + 1];
	uint64_t acct = 0;
	uint32_t id = authd_wrap_id + 1;
	int code;

	if (right_id && n >= sizeof(struct ipc_hdr)) {
		if ((copy = malloc(n)) == NULL)
			return;
		memcpy(copy, p, n);
		memcpy(copy + offsetof(struct ipc_hdr, id), &id, sizeof(id));
		p = copy;
	}
	if (authd_fz_send(authd_fz_sv[0], p, n, 0) == 0) {
		code = authd_login(authd_fz_sv[1], (const uint8_t *)"alice", 5,
		    (const uint8_t *)"password", 8, cert, &acct, canon,
		    sizeof(canon));
		FUZZ_CHECK(code >= 0 && code <= SC_E_MAX);
		/*
		 * The stub trusts authd for the name's content (it does not
		 * re-check the canonical form: see the report of issue 4);
		 * what it must guarantee is an id and a terminated name.
		 */
		if (code == AUTHD_RES_OK)
			FUZZ_CHECK(acct != 0 && memchr(canon, '\0',
			    sizeof(canon)) != NULL);
		else
			FUZZ_CHECK(acct == 0);
	}
	free(copy);
	authd_fz_drain(authd_fz_sv[0]);
	authd_fz_drain(authd_fz_sv[1]);
}

static int
authd_fz_one(const uint8_t *data, size_t size)
{
	static struct ipc_msg m;
	uint8_t sel;
	int r;

	if (size < 2)
		return 0;
	sel = data[0];
	data++;
	size--;
	authd_fz_drain(authd_fz_sv[0]);
	authd_fz_drain(authd_fz_sv[1]);
	if (sel % 3 == 2) {
		authd_fz_result(data, size, sel & 0x40);
		return 0;
	}
	if (authd_fz_send(authd_fz_sv[0], data, size,
	    sel % 3 == 1 && (sel & 0x80)) == -1)
		return 0;
	r = ipc_recv(authd_fz_sv[1], &m, sel % 3 == 1);
	FUZZ_CHECK(r == 1 || (r == -1 && errno == EBADMSG));
	if (r == 1) {
		FUZZ_CHECK(m.len == m.hdr.len && m.len + sizeof(m.hdr) == size);
		if (sel % 3 == 1)
			authd_fz_ctl(&m);
		else
			authd_fz_request(&m);
		if (m.fd != -1)
			close(m.fd);
		ipc_msg_clear(&m);
	}
	authd_fz_drain(authd_fz_sv[1]);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(authd_fz_init, authd_fz_one)
#endif
