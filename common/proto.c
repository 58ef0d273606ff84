/*
 * proto.c: SecureChat v1 framing and message codecs (see proto.h and
 * docs/PROTOCOL.md).  Every parser reads with a struct cursor and accepts
 * a payload only when it is consumed exactly.
 */
#include "proto.h"

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const err_names[SC_E_MAX + 1] = {
	[SC_E_PROTOCOL] = "PROTOCOL",
	[SC_E_BAD_CERT] = "BAD_CERT",
	[SC_E_SIG_FAIL] = "SIG_FAIL",
	[SC_E_REPLAY] = "REPLAY",
	[SC_E_STALE] = "STALE",
	[SC_E_AUTH_FAIL] = "AUTH_FAIL",
	[SC_E_USER_EXISTS] = "USER_EXISTS",
	[SC_E_RATE_LIMITED] = "RATE_LIMITED",
	[SC_E_TOO_LARGE] = "TOO_LARGE",
	[SC_E_INTERNAL] = "INTERNAL",
	[SC_E_UNAVAILABLE] = "UNAVAILABLE",
	[SC_E_VERSION] = "VERSION",
	[SC_E_TIMEOUT] = "TIMEOUT",
	[SC_E_REG_CLOSED] = "REG_CLOSED",
	[SC_E_BAD_INPUT] = "BAD_INPUT",
};

/*
 * One row per frame type: its name, the directions it may travel in and,
 * for records, the key phase and the largest plaintext.  This table is
 * the single place that says what a type is.
 */
static const struct type_info {
	uint8_t		 type;
	const char	*name;
	uint8_t		 dirs;		/* bit (1 << SC_DIR_x) */
	uint8_t		 phase;		/* 0: not a record */
	size_t		 max_pt;
} type_table[] = {
	{ SC_T_CLIENT_HELLO, "CLIENT_HELLO", 1 << SC_DIR_C2S, 0, 0 },
	{ SC_T_SERVER_HELLO, "SERVER_HELLO", 1 << SC_DIR_S2C, 0, 0 },
	{ SC_T_CLIENT_FINISH, "CLIENT_FINISH", 1 << SC_DIR_C2S, 0, 0 },
	{ SC_T_REGISTER, "REGISTER", 1 << SC_DIR_C2S, SC_PHASE_TEMP,
	    2 + SC_MAX_USERNAME + 2 + SC_MAX_EMAIL + 2 + SC_MAX_PASSWORD +
	    SC_KEX_LEN },
	{ SC_T_LOGIN, "LOGIN", 1 << SC_DIR_C2S, SC_PHASE_TEMP,
	    2 + SC_MAX_USERNAME + 2 + SC_MAX_PASSWORD + SC_KEX_LEN },
	{ SC_T_AUTH_OK, "AUTH_OK", 1 << SC_DIR_S2C, SC_PHASE_TEMP,
	    8 + 2 + SC_MAX_USERNAME + SC_KEX_LEN },
	{ SC_T_CHAT, "CHAT", 1 << SC_DIR_C2S | 1 << SC_DIR_S2C,
	    SC_PHASE_SESSION, 2 + SC_MAX_TEXT },
	{ SC_T_CLOSE, "CLOSE", 1 << SC_DIR_C2S, SC_PHASE_SESSION,
	    1 + 8 + 8 + 32 + 32 + 2 + SC_MAX_SIG },
	{ SC_T_CLOSE_ACK, "CLOSE_ACK", 1 << SC_DIR_S2C, SC_PHASE_SESSION,
	    1 + 8 + 8 + 32 + 32 + 2 + SC_MAX_SIG },
	{ SC_T_SEND, "SEND", 1 << SC_DIR_C2S, SC_PHASE_SESSION,
	    4 + 4 + SC_MAX_ENVELOPE },
	{ SC_T_SENT, "SENT", 1 << SC_DIR_S2C, SC_PHASE_SESSION,
	    4 + 2 + 8 + 2 + SC_MAX_REASON },
	{ SC_T_DELIVER, "DELIVER", 1 << SC_DIR_S2C, SC_PHASE_SESSION,
	    8 + 4 + SC_MAX_ENVELOPE },
	{ SC_T_ACK, "ACK", 1 << SC_DIR_C2S, SC_PHASE_SESSION, 8 + 1 },
	{ SC_T_STATUS, "STATUS", 1 << SC_DIR_S2C, SC_PHASE_SESSION,
	    8 + 2 + SC_MAX_USERNAME + 1 },
	{ SC_T_REQUEST, "REQUEST", 1 << SC_DIR_C2S, SC_PHASE_SESSION,
	    4 + 1 + 2 + SC_MAX_USERNAME },
	{ SC_T_REPLY, "REPLY", 1 << SC_DIR_S2C, SC_PHASE_SESSION,
	    SC_MAX_RECORD_PT },
	{ SC_T_ERROR, "ERROR", 1 << SC_DIR_C2S | 1 << SC_DIR_S2C, 0, 0 },
};

static const struct type_info *
type_lookup(int type)
{
	size_t i;

	for (i = 0; i < sizeof(type_table) / sizeof(type_table[0]); i++)
		if (type_table[i].type == type)
			return &type_table[i];
	return NULL;
}

const char *
sc_err_name(int code)
{
	if (code < 1 || code > SC_E_MAX)
		return "UNKNOWN";
	return err_names[code];
}

const char *
sc_type_name(int type)
{
	const struct type_info *t = type_lookup(type);

	return t ? t->name : "UNKNOWN";
}

int
sc_type_known(int type)
{
	return type_lookup(type) != NULL;
}

int
sc_record_phase(int type)
{
	const struct type_info *t = type_lookup(type);

	return t ? t->phase : 0;
}

int
sc_record_dir_ok(int type, int dir)
{
	const struct type_info *t = type_lookup(type);

	if (t == NULL || t->phase == 0 ||
	    (dir != SC_DIR_C2S && dir != SC_DIR_S2C))
		return 0;
	return (t->dirs & (1 << dir)) != 0;
}

int
sc_record_in_transcript(int type)
{
	return sc_record_phase(type) == SC_PHASE_SESSION &&
	    type != SC_T_CLOSE && type != SC_T_CLOSE_ACK;
}

size_t
sc_record_max_pt(int type)
{
	const struct type_info *t = type_lookup(type);

	return t ? t->max_pt : 0;
}

/* ---- Framing ---- */

/* Milliseconds left until deadline (monotonic); -1 means no deadline. */
static int
ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	if (deadline == NULL)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	if (ms < 0)
		return 0;
	return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

static void
deadline_set(struct timespec *d, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += timeout_ms / 1000;
	d->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (d->tv_nsec >= 1000000000) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000;
	}
}

/*
 * Wait until fd is ready for events or the deadline passes.  Returns 1
 * ready, 0 timed out, -1 error.
 */
static int
wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd;
	int n;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms_left(deadline));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		return 1;	/* POLLHUP/POLLERR: the read/write reports it */
	}
}

/*
 * Move exactly n bytes: read them into p (POLLIN) or write them from p
 * (POLLOUT).  Returns n, 0 on EOF before the first byte read, -1 on error
 * (errno; ETIMEDOUT on the deadline, ECONNRESET for EOF mid-way).
 *
 * On a socket the call is tried first (MSG_DONTWAIT) and poll(2) only
 * waits when it would block: a payload usually arrives with its header,
 * and a poll before every read and write was a third of a worker's
 * system calls.  MSG_DONTWAIT also keeps a full socket buffer from
 * holding a write past the deadline; MSG_NOSIGNAL makes a closed peer an
 * error, not a SIGPIPE.  Anything else (a pipe, a file in the tests) is
 * polled first, since a blocking call could outlive the deadline.
 */
static ssize_t
io_full(int fd, short dir, uint8_t *p, size_t n,
    const struct timespec *deadline)
{
	size_t done = 0;
	ssize_t r;
	int w, notsock = 0, wait = 0;

	while (done < n) {
		if (wait || notsock) {
			if ((w = wait_fd(fd, dir, deadline)) == -1)
				return -1;
			if (w == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
		}
		wait = 1;
		if (!notsock)
			r = dir == POLLIN ?
			    recv(fd, p + done, n - done, MSG_DONTWAIT) :
			    send(fd, p + done, n - done,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			r = dir == POLLIN ? read(fd, p + done, n - done) :
			    write(fd, p + done, n - done);
		if (r == -1 && errno == ENOTSOCK && !notsock) {
			notsock = 1;
			continue;
		}
		if (r == -1 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			continue;
		if (r == -1)
			return -1;
		if (r == 0 && dir == POLLIN) {
			if (done == 0)
				return 0;
			errno = ECONNRESET;
			return -1;
		}
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static ssize_t
read_full(int fd, void *buf, size_t n, const struct timespec *deadline)
{
	return io_full(fd, POLLIN, buf, n, deadline);
}

static int
write_full(int fd, const void *buf, size_t n, const struct timespec *deadline)
{
	/* io_full() only reads from buf when writing. */
	return io_full(fd, POLLOUT, (uint8_t *)(uintptr_t)buf, n,
	    deadline) == -1 ? -1 : 0;
}

int
sc_frame_read(int fd, int timeout_ms, struct sc_frame *f, int *errcode)
{
	struct timespec deadline, *dl = NULL;
	uint8_t hdr[SC_HDR_LEN];
	uint32_t len;
	ssize_t r;

	memset(f, 0, sizeof(*f));
	*errcode = 0;
	if (timeout_ms >= 0) {
		deadline_set(&deadline, timeout_ms);
		dl = &deadline;
	}
	if ((r = read_full(fd, hdr, sizeof(hdr), dl)) == 0)
		return 0;
	if (r == -1) {
		if (errno == ETIMEDOUT)
			*errcode = SC_E_TIMEOUT;
		return -1;
	}
	len = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 |
	    (uint32_t)hdr[6] << 8 | hdr[7];
	/* All header checks come before any allocation or payload read. */
	if (hdr[0] != SC_MAGIC0 || hdr[1] != SC_MAGIC1) {
		*errcode = SC_E_PROTOCOL;
		errno = EBADMSG;
		return -1;
	}
	if (hdr[2] != SC_PROTO_VERSION) {
		*errcode = SC_E_VERSION;
		errno = EBADMSG;
		return -1;
	}
	if (len > SC_MAX_PAYLOAD) {
		*errcode = SC_E_TOO_LARGE;
		errno = EMSGSIZE;
		return -1;
	}
	if (!sc_type_known(hdr[3])) {
		*errcode = SC_E_PROTOCOL;
		errno = EBADMSG;
		return -1;
	}
	f->type = hdr[3];
	f->len = len;
	if (len == 0)
		return 1;
	if ((f->payload = malloc(len)) == NULL) {
		f->len = 0;
		*errcode = SC_E_INTERNAL;
		return -1;
	}
	if ((r = read_full(fd, f->payload, len, dl)) != (ssize_t)len) {
		if (r == -1 && errno == ETIMEDOUT)
			*errcode = SC_E_TIMEOUT;
		else if (r == 0)
			errno = ECONNRESET;
		sc_frame_free(f);
		return -1;
	}
	return 1;
}

void
sc_frame_free(struct sc_frame *f)
{
	if (f->payload != NULL)
		freezero(f->payload, f->len);
	memset(f, 0, sizeof(*f));
}

int
sc_frame_write(int fd, int timeout_ms, uint8_t type, const void *payload,
    size_t len)
{
	struct timespec deadline, *dl = NULL;
	uint8_t *buf;
	int rc, saved;

	if (len > SC_MAX_PAYLOAD || !sc_type_known(type)) {
		errno = EMSGSIZE;
		return -1;
	}
	if ((buf = malloc(SC_HDR_LEN + len)) == NULL)
		return -1;
	buf[0] = SC_MAGIC0;
	buf[1] = SC_MAGIC1;
	buf[2] = SC_PROTO_VERSION;
	buf[3] = type;
	buf[4] = (uint8_t)(len >> 24);
	buf[5] = (uint8_t)(len >> 16);
	buf[6] = (uint8_t)(len >> 8);
	buf[7] = (uint8_t)len;
	if (len > 0)
		memcpy(buf + SC_HDR_LEN, payload, len);
	if (timeout_ms >= 0) {
		deadline_set(&deadline, timeout_ms);
		dl = &deadline;
	}
	rc = write_full(fd, buf, SC_HDR_LEN + len, dl);
	saved = errno;
	freezero(buf, SC_HDR_LEN + len);
	errno = saved;
	return rc;
}

/* ---- ERROR ---- */

int
sc_error_encode(struct wbuf *b, int code, const char *reason)
{
	char clean[SC_MAX_REASON];
	size_t n = 0;

	if (code < 1 || code > UINT16_MAX)
		code = SC_E_INTERNAL;
	if (reason != NULL)
		for (; reason[n] != '\0' && n < sizeof(clean); n++)
			clean[n] = (reason[n] >= 0x20 && reason[n] < 0x7f) ?
			    reason[n] : '?';
	wbuf_put_u16(b, (uint16_t)code);
	return wbuf_put_str16(b, clean, n);
}

int
sc_error_send(int fd, int timeout_ms, int code, const char *reason)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 2 + 2 + SC_MAX_REASON);
	if (sc_error_encode(&b, code, reason) == -1) {
		wbuf_free(&b);
		return -1;
	}
	rc = sc_frame_write(fd, timeout_ms, SC_T_ERROR, b.data, b.len);
	wbuf_free(&b);
	return rc;
}

/*
 * A length-prefixed field: remembers TOO_LARGE when the declared length
 * is over the field's limit, so the caller can answer with the precise
 * code; every other failure is PROTOCOL.
 */
static const uint8_t *
get_str16(struct cursor *c, size_t *lenp, size_t max, int *toolarge)
{
	size_t n;

	if (!c->err && c->left >= 2) {
		n = (size_t)c->p[0] << 8 | c->p[1];
		if (n > max)
			*toolarge = 1;
	}
	return cur_str16(c, lenp, max);
}

static const uint8_t *
get_str32(struct cursor *c, size_t *lenp, size_t max, int *toolarge)
{
	size_t n;

	if (!c->err && c->left >= 4) {
		n = (size_t)c->p[0] << 24 | (size_t)c->p[1] << 16 |
		    (size_t)c->p[2] << 8 | c->p[3];
		if (n > max)
			*toolarge = 1;
	}
	return cur_str32(c, lenp, max);
}

/* The result of a parse: 0, or why it failed. */
static int
finish(const struct cursor *c, int toolarge)
{
	if (cur_done(c) == 0)
		return 0;
	return toolarge ? SC_E_TOO_LARGE : SC_E_PROTOCOL;
}

int
sc_error_parse(const uint8_t *p, size_t len, uint16_t *code, char *reason,
    size_t reasonsz)
{
	struct cursor c;
	const uint8_t *r;
	size_t n, i;
	int big = 0, rc;

	if (reasonsz > 0)
		reason[0] = '\0';
	cur_init(&c, p, len);
	*code = cur_u16(&c);
	r = get_str16(&c, &n, SC_MAX_REASON, &big);
	if ((rc = finish(&c, big)) != 0)
		return rc;
	if (reasonsz == 0)
		return 0;
	for (i = 0; i < n && i < reasonsz - 1; i++)
		reason[i] = (r[i] >= 0x20 && r[i] < 0x7f) ? (char)r[i] : '?';
	reason[i] = '\0';
	return 0;
}

/* ---- Handshake ---- */

int
sc_ch_encode(struct wbuf *b, const struct sc_client_hello *ch)
{
	if (ch->certlen == 0 || ch->certlen > SC_MAX_CERT) {
		b->err = 1;
		return -1;
	}
	wbuf_put_u8(b, ch->min_version);
	wbuf_put_u8(b, ch->max_version);
	wbuf_put(b, ch->client_nonce, SC_NONCE_LEN);
	wbuf_put(b, ch->client_kex, SC_KEX_LEN);
	return wbuf_put_str16(b, ch->cert, ch->certlen);
}

int
sc_ch_parse(const uint8_t *p, size_t len, struct sc_client_hello *ch)
{
	struct cursor c;
	int big = 0, rc;

	memset(ch, 0, sizeof(*ch));
	cur_init(&c, p, len);
	ch->min_version = cur_u8(&c);
	ch->max_version = cur_u8(&c);
	cur_bytes(&c, ch->client_nonce, SC_NONCE_LEN);
	cur_bytes(&c, ch->client_kex, SC_KEX_LEN);
	ch->cert = get_str16(&c, &ch->certlen, SC_MAX_CERT, &big);
	if ((rc = finish(&c, big)) != 0)
		return rc;
	if (ch->certlen == 0 || ch->min_version == 0 ||
	    ch->min_version > ch->max_version)
		return SC_E_PROTOCOL;
	return 0;
}

int
sc_version_choose(const struct sc_client_hello *ch)
{
	/* Only version 1 exists: choose it if the client's range holds it. */
	if (ch->min_version <= SC_PROTO_VERSION &&
	    ch->max_version >= SC_PROTO_VERSION)
		return SC_PROTO_VERSION;
	return 0;
}

int
sc_sh_core_encode(struct wbuf *b, const struct sc_server_hello *sh)
{
	if (sh->certlen == 0 || sh->certlen > SC_MAX_CERT) {
		b->err = 1;
		return -1;
	}
	wbuf_put_u8(b, sh->version);
	wbuf_put(b, sh->server_nonce, SC_NONCE_LEN);
	wbuf_put(b, sh->session_id, SC_SESSION_ID_LEN);
	wbuf_put(b, sh->server_kex, SC_KEX_LEN);
	return wbuf_put_str16(b, sh->cert, sh->certlen);
}

int
sc_sh_encode(struct wbuf *b, const struct sc_server_hello *sh)
{
	if (sh->siglen == 0 || sh->siglen > SC_MAX_SIG) {
		b->err = 1;
		return -1;
	}
	if (sc_sh_core_encode(b, sh) == -1)
		return -1;
	return wbuf_put_str16(b, sh->sig, sh->siglen);
}

static void
sh_core_read(struct cursor *c, struct sc_server_hello *sh, int *big)
{
	sh->version = cur_u8(c);
	cur_bytes(c, sh->server_nonce, SC_NONCE_LEN);
	cur_bytes(c, sh->session_id, SC_SESSION_ID_LEN);
	cur_bytes(c, sh->server_kex, SC_KEX_LEN);
	sh->cert = get_str16(c, &sh->certlen, SC_MAX_CERT, big);
}

int
sc_sh_core_parse(const uint8_t *p, size_t len, struct sc_server_hello *sh)
{
	struct cursor c;
	int big = 0, rc;

	memset(sh, 0, sizeof(*sh));
	cur_init(&c, p, len);
	sh_core_read(&c, sh, &big);
	if ((rc = finish(&c, big)) != 0)
		return rc;
	return sh->certlen == 0 ? SC_E_PROTOCOL : 0;
}

int
sc_sh_parse(const uint8_t *p, size_t len, struct sc_server_hello *sh,
    size_t *corelenp)
{
	struct cursor c;
	int big = 0, rc;

	memset(sh, 0, sizeof(*sh));
	*corelenp = 0;
	cur_init(&c, p, len);
	sh_core_read(&c, sh, &big);
	if (!c.err)
		*corelenp = len - c.left;
	sh->sig = get_str16(&c, &sh->siglen, SC_MAX_SIG, &big);
	if ((rc = finish(&c, big)) != 0)
		return rc;
	if (sh->certlen == 0 || sh->siglen == 0)
		return SC_E_PROTOCOL;
	return 0;
}

int
sc_cf_encode(struct wbuf *b, const uint8_t *sig, size_t siglen)
{
	if (siglen == 0 || siglen > SC_MAX_SIG) {
		b->err = 1;
		return -1;
	}
	return wbuf_put_str16(b, sig, siglen);
}

int
sc_cf_parse(const uint8_t *p, size_t len, const uint8_t **sigp,
    size_t *siglenp)
{
	struct cursor c;
	int big = 0, rc;

	cur_init(&c, p, len);
	*sigp = get_str16(&c, siglenp, SC_MAX_SIG, &big);
	if ((rc = finish(&c, big)) != 0)
		return rc;
	return *siglenp == 0 ? SC_E_PROTOCOL : 0;
}

/* ---- Records ---- */

int
sc_record_encode(struct wbuf *b, const struct sc_record *r)
{
	if (r->ctlen == 0 || r->ctlen > SC_MAX_CT || r->ctlen % 16 != 0 ||
	    r->siglen == 0 || r->siglen > SC_MAX_SIG) {
		b->err = 1;
		return -1;
	}
	wbuf_put_u64(b, r->seq);
	wbuf_put_u64(b, r->ts);
	wbuf_put(b, r->iv, SC_IV_LEN);
	wbuf_put_str32(b, r->ct, r->ctlen);
	return wbuf_put_str16(b, r->sig, r->siglen);
}

int
sc_record_parse(const uint8_t *p, size_t len, struct sc_record *r)
{
	struct cursor c;
	int big = 0, rc;

	memset(r, 0, sizeof(*r));
	cur_init(&c, p, len);
	r->seq = cur_u64(&c);
	r->ts = cur_u64(&c);
	r->iv = cur_ptr(&c, SC_IV_LEN);
	r->ct = get_str32(&c, &r->ctlen, SC_MAX_CT, &big);
	r->sig = get_str16(&c, &r->siglen, SC_MAX_SIG, &big);
	if ((rc = finish(&c, big)) != 0)
		return rc;
	if (r->ctlen == 0 || r->ctlen % 16 != 0 || r->siglen == 0)
		return SC_E_PROTOCOL;
	return 0;
}

/* ---- Plaintext bodies ---- */

int
sc_register_encode(struct wbuf *b, const struct sc_register *m)
{
	if (m->ulen > SC_MAX_USERNAME || m->elen > SC_MAX_EMAIL ||
	    m->plen > SC_MAX_PASSWORD) {
		b->err = 1;
		return -1;
	}
	wbuf_put_str16(b, m->username, m->ulen);
	wbuf_put_str16(b, m->email, m->elen);
	wbuf_put_str16(b, m->password, m->plen);
	return wbuf_put(b, m->kex2, SC_KEX_LEN);
}

int
sc_register_parse(const uint8_t *p, size_t len, struct sc_register *m)
{
	struct cursor c;
	int big = 0;

	memset(m, 0, sizeof(*m));
	cur_init(&c, p, len);
	m->username = get_str16(&c, &m->ulen, SC_MAX_USERNAME, &big);
	m->email = get_str16(&c, &m->elen, SC_MAX_EMAIL, &big);
	m->password = get_str16(&c, &m->plen, SC_MAX_PASSWORD, &big);
	cur_bytes(&c, m->kex2, SC_KEX_LEN);
	return finish(&c, big);
}

int
sc_login_encode(struct wbuf *b, const struct sc_login *m)
{
	if (m->ulen > SC_MAX_USERNAME || m->plen > SC_MAX_PASSWORD) {
		b->err = 1;
		return -1;
	}
	wbuf_put_str16(b, m->username, m->ulen);
	wbuf_put_str16(b, m->password, m->plen);
	return wbuf_put(b, m->kex2, SC_KEX_LEN);
}

int
sc_login_parse(const uint8_t *p, size_t len, struct sc_login *m)
{
	struct cursor c;
	int big = 0;

	memset(m, 0, sizeof(*m));
	cur_init(&c, p, len);
	m->username = get_str16(&c, &m->ulen, SC_MAX_USERNAME, &big);
	m->password = get_str16(&c, &m->plen, SC_MAX_PASSWORD, &big);
	cur_bytes(&c, m->kex2, SC_KEX_LEN);
	return finish(&c, big);
}

int
sc_auth_ok_encode(struct wbuf *b, const struct sc_auth_ok *m)
{
	if (m->ulen > SC_MAX_USERNAME) {
		b->err = 1;
		return -1;
	}
	wbuf_put_u64(b, m->account_id);
	wbuf_put_str16(b, m->username, m->ulen);
	return wbuf_put(b, m->kex2, SC_KEX_LEN);
}

int
sc_auth_ok_parse(const uint8_t *p, size_t len, struct sc_auth_ok *m)
{
	struct cursor c;
	int big = 0;

	memset(m, 0, sizeof(*m));
	cur_init(&c, p, len);
	m->account_id = cur_u64(&c);
	m->username = get_str16(&c, &m->ulen, SC_MAX_USERNAME, &big);
	cur_bytes(&c, m->kex2, SC_KEX_LEN);
	return finish(&c, big);
}

int
sc_chat_encode(struct wbuf *b, const uint8_t *text, size_t len)
{
	if (len > SC_MAX_TEXT) {
		b->err = 1;
		return -1;
	}
	return wbuf_put_str16(b, text, len);
}

int
sc_chat_parse(const uint8_t *p, size_t len, const uint8_t **textp,
    size_t *lenp)
{
	struct cursor c;
	int big = 0;

	cur_init(&c, p, len);
	*textp = get_str16(&c, lenp, SC_MAX_TEXT, &big);
	return finish(&c, big);
}

int
sc_receipt_encode(struct wbuf *b, const struct sc_receipt *r)
{
	if (r->siglen == 0 || r->siglen > SC_MAX_SIG) {
		b->err = 1;
		return -1;
	}
	wbuf_put_u8(b, r->role);
	wbuf_put_u64(b, r->first_seq);
	wbuf_put_u64(b, r->last_seq);
	wbuf_put(b, r->transcript_sha256, SC_SHA256_LEN);
	wbuf_put(b, r->peer_fp, SC_SHA256_LEN);
	return wbuf_put_str16(b, r->sig, r->siglen);
}

int
sc_receipt_parse(const uint8_t *p, size_t len, struct sc_receipt *r)
{
	struct cursor c;
	const uint8_t *sig;
	int big = 0, rc;

	/* session_id is implicit on the wire: keep what the caller set. */
	memset(&r->role, 0, sizeof(*r) - offsetof(struct sc_receipt, role));
	cur_init(&c, p, len);
	r->role = cur_u8(&c);
	r->first_seq = cur_u64(&c);
	r->last_seq = cur_u64(&c);
	cur_bytes(&c, r->transcript_sha256, SC_SHA256_LEN);
	cur_bytes(&c, r->peer_fp, SC_SHA256_LEN);
	sig = get_str16(&c, &r->siglen, SC_MAX_SIG, &big);
	if ((rc = finish(&c, big)) != 0)
		return rc;
	if ((r->role != SC_ROLE_CLIENT && r->role != SC_ROLE_SERVER) ||
	    r->siglen == 0 || r->first_seq > r->last_seq)
		return SC_E_PROTOCOL;
	memcpy(r->sig, sig, r->siglen);
	return 0;
}

/* ---- Content checks ---- */

int
sc_valid_username(const uint8_t *u, size_t n)
{
	size_t i;

	if (n < SC_MIN_USERNAME || n > SC_MAX_USERNAME)
		return 0;
	for (i = 0; i < n; i++) {
		int alnum = (u[i] >= 'a' && u[i] <= 'z') ||
		    (u[i] >= '0' && u[i] <= '9');

		if (i == 0 && !alnum)
			return 0;
		if (!alnum && u[i] != '_' && u[i] != '.' && u[i] != '-')
			return 0;
	}
	return 1;
}

int
sc_valid_email(const uint8_t *e, size_t n)
{
	size_t i, at = 0, atpos = 0;

	if (n < SC_MIN_EMAIL || n > SC_MAX_EMAIL)
		return 0;
	for (i = 0; i < n; i++) {
		/* Printable ASCII without space: no header or log injection. */
		if (e[i] <= 0x20 || e[i] >= 0x7f)
			return 0;
		if (e[i] == '@') {
			at++;
			atpos = i;
		}
	}
	/* Exactly one '@', with something on both sides. */
	return at == 1 && atpos > 0 && atpos < n - 1;
}

int
sc_valid_password(const uint8_t *p, size_t n)
{
	/*
	 * Any bytes but NUL: scrypt keys HMAC with the password and HMAC
	 * pads short keys with zeros, so "pw" and "pw\0" would be one.
	 */
	return n >= SC_MIN_PASSWORD && n <= SC_MAX_PASSWORD &&
	    memchr(p, '\0', n) == NULL;
}

int
sc_valid_text(const uint8_t *s, size_t n)
{
	size_t i = 0, k, need;
	uint32_t cp, min;

	if (n < 1 || n > SC_MAX_TEXT)
		return 0;
	while (i < n) {
		uint8_t b = s[i];

		if (b < 0x80) {
			if ((b < 0x20 && b != '\t') || b == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
			cp = b & 0x1f;
			min = 0x80;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			cp = b & 0x0f;
			min = 0x800;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			cp = b & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (n - i - 1 < need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
		if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp > 0x10ffff || (cp >= 0x80 && cp <= 0x9f))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* ---- Messaging bodies (PROTOCOL.md §8) ---- */

int
sc_send_encode(struct wbuf *b, const struct sc_send *m)
{
	if (m->envlen == 0 || m->envlen > SC_MAX_ENVELOPE)
		return -1;
	wbuf_put_u32(b, m->ref);
	return wbuf_put_str32(b, m->env, m->envlen);
}

int
sc_send_parse(const uint8_t *p, size_t n, struct sc_send *m)
{
	struct cursor c;

	cur_init(&c, p, n);
	m->ref = cur_u32(&c);
	m->env = cur_str32(&c, &m->envlen, SC_MAX_ENVELOPE);
	/* Oversized plaintexts were already refused by record_open. */
	if (cur_done(&c) == -1 || m->envlen == 0)
		return SC_E_PROTOCOL;
	return 0;
}

int
sc_sent_encode(struct wbuf *b, const struct sc_sent *m)
{
	if (m->reasonlen > SC_MAX_REASON)
		return -1;
	wbuf_put_u32(b, m->ref);
	wbuf_put_u16(b, m->code);
	wbuf_put_u64(b, m->msg_id);
	return wbuf_put_str16(b, m->reason, m->reasonlen);
}

int
sc_sent_parse(const uint8_t *p, size_t n, struct sc_sent *m)
{
	struct cursor c;

	cur_init(&c, p, n);
	m->ref = cur_u32(&c);
	m->code = cur_u16(&c);
	m->msg_id = cur_u64(&c);
	m->reason = cur_str16(&c, &m->reasonlen, SC_MAX_REASON);
	if (cur_done(&c) == -1 || m->code > SC_E_MAX)
		return SC_E_PROTOCOL;
	return 0;
}

int
sc_deliver_encode(struct wbuf *b, const struct sc_deliver *m)
{
	if (m->envlen == 0 || m->envlen > SC_MAX_ENVELOPE)
		return -1;
	wbuf_put_u64(b, m->msg_id);
	return wbuf_put_str32(b, m->env, m->envlen);
}

int
sc_deliver_parse(const uint8_t *p, size_t n, struct sc_deliver *m)
{
	struct cursor c;

	cur_init(&c, p, n);
	m->msg_id = cur_u64(&c);
	m->env = cur_str32(&c, &m->envlen, SC_MAX_ENVELOPE);
	if (cur_done(&c) == -1 || m->envlen == 0 || m->msg_id == 0)
		return SC_E_PROTOCOL;
	return 0;
}

int
sc_ack_encode(struct wbuf *b, const struct sc_ack *m)
{
	wbuf_put_u64(b, m->msg_id);
	return wbuf_put_u8(b, m->state);
}

int
sc_ack_parse(const uint8_t *p, size_t n, struct sc_ack *m)
{
	struct cursor c;

	cur_init(&c, p, n);
	m->msg_id = cur_u64(&c);
	m->state = cur_u8(&c);
	if (cur_done(&c) == -1 || m->msg_id == 0 ||
	    (m->state != SC_ST_DELIVERED && m->state != SC_ST_READ))
		return SC_E_PROTOCOL;
	return 0;
}

int
sc_status_encode(struct wbuf *b, const struct sc_status *m)
{
	wbuf_put_u64(b, m->msg_id);
	wbuf_put_str16(b, m->by_user, m->by_userlen);
	return wbuf_put_u8(b, m->state);
}

int
sc_status_parse(const uint8_t *p, size_t n, struct sc_status *m)
{
	struct cursor c;

	cur_init(&c, p, n);
	m->msg_id = cur_u64(&c);
	m->by_user = cur_str16(&c, &m->by_userlen, SC_MAX_USERNAME);
	m->state = cur_u8(&c);
	if (cur_done(&c) == -1 || m->msg_id == 0 ||
	    !sc_valid_username(m->by_user, m->by_userlen) ||
	    (m->state != SC_ST_DELIVERED && m->state != SC_ST_READ))
		return SC_E_PROTOCOL;
	return 0;
}

int
sc_request_encode(struct wbuf *b, const struct sc_request *m)
{
	wbuf_put_u32(b, m->ref);
	wbuf_put_u8(b, m->op);
	return wbuf_put_str16(b, m->arg, m->arglen);
}

int
sc_request_parse(const uint8_t *p, size_t n, struct sc_request *m)
{
	struct cursor c;

	cur_init(&c, p, n);
	m->ref = cur_u32(&c);
	m->op = cur_u8(&c);
	m->arg = cur_str16(&c, &m->arglen, SC_MAX_USERNAME);
	if (cur_done(&c) == -1 || m->op < 1 || m->op > SC_OP_MAX)
		return SC_E_PROTOCOL;
	return 0;
}

int
sc_reply_encode_head(struct wbuf *b, uint32_t ref, uint8_t op, uint16_t code,
    uint16_t n)
{
	if (n > SC_MAX_REPLY_ITEMS)
		return -1;
	wbuf_put_u32(b, ref);
	wbuf_put_u8(b, op);
	wbuf_put_u16(b, code);
	return wbuf_put_u16(b, n);
}

int
sc_reply_encode_item(struct wbuf *b, const uint8_t *name, size_t namelen,
    const uint8_t *data, size_t datalen)
{
	if (namelen > SC_MAX_USERNAME || datalen > SC_MAX_REPLY_DATA)
		return -1;
	wbuf_put_str16(b, name, namelen);
	return wbuf_put_str16(b, data, datalen);
}

int
sc_reply_parse(const uint8_t *p, size_t n, struct sc_reply *m)
{
	struct cursor c;
	uint16_t i;

	cur_init(&c, p, n);
	m->ref = cur_u32(&c);
	m->op = cur_u8(&c);
	m->code = cur_u16(&c);
	m->n = cur_u16(&c);
	if (c.err || m->op < 1 || m->op > SC_OP_MAX || m->code > SC_E_MAX ||
	    m->n > SC_MAX_REPLY_ITEMS)
		return SC_E_PROTOCOL;
	for (i = 0; i < m->n; i++) {
		m->item[i].name = cur_str16(&c, &m->item[i].namelen,
		    SC_MAX_USERNAME);
		m->item[i].data = cur_str16(&c, &m->item[i].datalen,
		    SC_MAX_REPLY_DATA);
	}
	if (cur_done(&c) == -1)
		return SC_E_PROTOCOL;
	return 0;
}
