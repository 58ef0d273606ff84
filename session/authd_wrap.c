/*
 * authd_wrap.c: worker-side stubs for the authd requests (see
 * authd_wrap.h and authd/authd.h for the message bodies).  Every answer
 * is checked like any input from another process: its type and request
 * id, exact consumption, caps and content rules.
 */
#include "authd_wrap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "authd/authd.h"
#include "buf.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "pki.h"
#include "proto.h"
#include "sccrypto.h"

static uint32_t	authd_wrap_id;

/*
 * The answer buffer.  The worker makes one call at a time, so one static
 * message serves nearly every call: no 65 KiB allocation wiped in full per
 * call (that was a page fault per touched page and 65 KiB of private
 * memory in every worker); msg_release() wipes only the bytes received.
 * A call made while it is held (a certificate list not yet freed) gets
 * an allocated one.
 */
static struct ipc_msg	authd_wrap_msg;
static int		authd_wrap_msg_busy;

static struct ipc_msg *
msg_get(void)
{
	struct ipc_msg *m;

	if (!authd_wrap_msg_busy) {
		authd_wrap_msg_busy = 1;
		authd_wrap_msg.len = 0;
		return &authd_wrap_msg;
	}
	if ((m = malloc(sizeof(*m))) != NULL)
		m->len = 0;
	return m;
}

static void
msg_release(struct ipc_msg *m)
{
	if (m == NULL)
		return;
	if (m == &authd_wrap_msg) {
		/* Only what ipc_recv() wrote: the header and len bytes. */
		explicit_bzero(&m->hdr, sizeof(m->hdr));
		ipc_msg_clear(m);
		authd_wrap_msg_busy = 0;
	} else {
		explicit_bzero(&m->hdr, sizeof(m->hdr));
		ipc_msg_clear(m);
		free(m);
	}
}

/*
 * Send the request in b (freed here) and receive the answer of type
 * restype with the same id into *mp, released by the caller with
 * msg_release().  Returns 0 or the code to give up with.
 */
static int
authd_rpc(int ch, uint16_t type, struct wbuf *b, uint16_t restype,
    struct ipc_msg **mp)
{
	struct ipc_msg *m;
	uint32_t id;
	int r;

	*mp = NULL;
	if (b->err) {
		/* Only an over-long field gets here. */
		wbuf_free(b);
		return AUTHD_RES_BAD_INPUT;
	}
	id = ++authd_wrap_id;
	r = ipc_send(ch, type, id, b->data, b->len);
	wbuf_free(b);
	if (r == -1) {
		log_warn("authd: send");
		return AUTHD_RES_UNAVAILABLE;
	}
	if ((m = msg_get()) == NULL) {
		log_warn("authd: malloc");
		return AUTHD_RES_INTERNAL;
	}
	if (ipc_wait_readable(ch, AUTHD_WRAP_TIMEOUT_MS) == -1) {
		log_warnx("authd: no answer");
		msg_release(m);
		return AUTHD_RES_UNAVAILABLE;
	}
	if ((r = ipc_recv(ch, m, 0)) != 1) {
		if (r == 0)
			log_warnx("authd: channel closed");
		else
			log_warn("authd: receive");
		msg_release(m);
		return AUTHD_RES_UNAVAILABLE;
	}
	if (m->hdr.type != restype || m->hdr.id != id) {
		log_warnx("authd: unexpected reply type %u id %u",
		    (unsigned)m->hdr.type, (unsigned)m->hdr.id);
		msg_release(m);
		return AUTHD_RES_INTERNAL;
	}
	*mp = m;
	return 0;
}

/* A code from authd: 0 or a protocol error code. */
static int
code_ok(uint16_t code)
{
	return code <= SC_E_MAX;
}

/* Copy a name of an answer (username or room) into out, or -1. */
static int
name_copy(const uint8_t *p, size_t len, int room, authd_name out)
{
	out[0] = '\0';
	if (p == NULL || len == 0 || len > AUTHD_ROOM_MAX)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	if (room ? !envelope_valid_room(out) : !sc_valid_username(p, len)) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* Send the request in b and parse the RESULT.  Returns the code. */
static int
authd_call(int ch, uint16_t type, struct wbuf *b, uint64_t *account_id,
    char *canon, size_t canonlen)
{
	struct ipc_msg *m;
	struct cursor c;
	const uint8_t *u;
	char name[ACCOUNT_USER_MAX + 1];
	size_t ulen;
	uint16_t code;
	uint64_t acct;
	int rv;

	*account_id = 0;
	if (canonlen > 0)
		canon[0] = '\0';
	if ((rv = authd_rpc(ch, type, b, AUTHD_RES_RESULT, &m)) != 0)
		return rv;
	rv = AUTHD_RES_INTERNAL;
	cur_init(&c, m->body, m->len);
	code = cur_u16(&c);
	acct = cur_u64(&c);
	u = cur_str16(&c, &ulen, 32);
	if (cur_done(&c) == -1 || !code_ok(code) ||
	    (code == AUTHD_RES_OK && (acct == 0 || ulen == 0)) ||
	    ulen + 1 > canonlen) {
		log_warnx("authd: malformed reply");
		goto done;
	}
	/*
	 * The session runs under the name authd returns: it must already be
	 * canonical by the clients' own rule (account.c), or a confused authd
	 * could give one session two spellings of a user (routing, rooms,
	 * envelope senders compare names byte for byte).
	 */
	if (code == AUTHD_RES_OK && (account_username_canon(u, ulen,
	    name) == -1 || memcmp(name, u, ulen) != 0)) {
		log_warnx("authd: username in the reply is not canonical");
		goto done;
	}
	rv = code;
	if (code == AUTHD_RES_OK) {
		*account_id = acct;
		memcpy(canon, u, ulen);
		canon[ulen] = '\0';
	}
 done:
	msg_release(m);
	return rv;
}

/* The fields common to REGISTER (with email) and LOGIN (without). */
static int
auth_request(int ch, uint16_t type, const uint8_t *user, size_t userlen,
    const uint8_t *email, size_t emaillen, const uint8_t *pass,
    size_t passlen, const uint8_t *fp, const uint8_t *der, size_t derlen,
    uint64_t *account_id, char *canon, size_t canonlen)
{
	struct wbuf b;

	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_str16(&b, user, userlen);
	if (type == AUTHD_REQ_REGISTER)
		wbuf_put_str16(&b, email, emaillen);
	wbuf_put_str16(&b, pass, passlen);
	wbuf_put(&b, fp, AUTHD_CERT_FP_LEN);
	if (der != NULL)
		wbuf_put_str16(&b, der, derlen);
	return authd_call(ch, type, &b, account_id, canon, canonlen);
}

int
authd_register(int ch, const uint8_t *user, size_t userlen,
    const uint8_t *email, size_t emaillen, const uint8_t *pass,
    size_t passlen, const uint8_t cert_sha256[32], uint64_t *account_id,
    char *canon, size_t canonlen)
{
	return auth_request(ch, AUTHD_REQ_REGISTER, user, userlen, email,
	    emaillen, pass, passlen, cert_sha256, NULL, 0, account_id, canon,
	    canonlen);
}

int
authd_login(int ch, const uint8_t *user, size_t userlen, const uint8_t *pass,
    size_t passlen, const uint8_t cert_sha256[32], uint64_t *account_id,
    char *canon, size_t canonlen)
{
	return auth_request(ch, AUTHD_REQ_LOGIN, user, userlen, NULL, 0, pass,
	    passlen, cert_sha256, NULL, 0, account_id, canon, canonlen);
}

/* REGISTER / LOGIN with the certificate and the fingerprint of it. */
static int
auth_request_cert(int ch, uint16_t type, const uint8_t *user, size_t userlen,
    const uint8_t *email, size_t emaillen, const uint8_t *pass,
    size_t passlen, const uint8_t *der, size_t derlen, uint64_t *account_id,
    char *canon, size_t canonlen)
{
	uint8_t fp[SC_SHA256_LEN];

	*account_id = 0;
	if (canonlen > 0)
		canon[0] = '\0';
	if (der == NULL || derlen == 0 || derlen > AUTHD_CERT_DER_MAX)
		return AUTHD_RES_BAD_INPUT;
	if (sc_sha256(der, derlen, fp) == -1)
		return AUTHD_RES_INTERNAL;
	return auth_request(ch, type, user, userlen, email, emaillen, pass,
	    passlen, fp, der, derlen, account_id, canon, canonlen);
}

int
authd_register_cert(int ch, const uint8_t *user, size_t userlen,
    const uint8_t *email, size_t emaillen, const uint8_t *pass,
    size_t passlen, const uint8_t *der, size_t derlen, uint64_t *account_id,
    char *canon, size_t canonlen)
{
	return auth_request_cert(ch, AUTHD_REQ_REGISTER, user, userlen, email,
	    emaillen, pass, passlen, der, derlen, account_id, canon,
	    canonlen);
}

int
authd_login_cert(int ch, const uint8_t *user, size_t userlen,
    const uint8_t *pass, size_t passlen, const uint8_t *der, size_t derlen,
    uint64_t *account_id, char *canon, size_t canonlen)
{
	return auth_request_cert(ch, AUTHD_REQ_LOGIN, user, userlen, NULL, 0,
	    pass, passlen, der, derlen, account_id, canon, canonlen);
}

/* The DER of cert into a fresh buffer (*derp, freed by the caller). */
static int
x509_der(X509 *cert, uint8_t **derp, size_t *lenp)
{
	*derp = NULL;
	if (cert == NULL || (*derp = malloc(AUTHD_CERT_DER_MAX)) == NULL)
		return -1;
	if (pki_cert_to_der(cert, *derp, AUTHD_CERT_DER_MAX, lenp) == -1) {
		free(*derp);
		*derp = NULL;
		return -1;
	}
	return 0;
}

int
authd_register_x509(int ch, const uint8_t *user, size_t userlen,
    const uint8_t *email, size_t emaillen, const uint8_t *pass,
    size_t passlen, X509 *cert, uint64_t *account_id, char *canon,
    size_t canonlen)
{
	uint8_t *der;
	size_t derlen = 0;
	int rv;

	*account_id = 0;
	if (canonlen > 0)
		canon[0] = '\0';
	if (x509_der(cert, &der, &derlen) == -1)
		return AUTHD_RES_INTERNAL;
	rv = authd_register_cert(ch, user, userlen, email, emaillen, pass,
	    passlen, der, derlen, account_id, canon, canonlen);
	free(der);
	return rv;
}

int
authd_login_x509(int ch, const uint8_t *user, size_t userlen,
    const uint8_t *pass, size_t passlen, X509 *cert, uint64_t *account_id,
    char *canon, size_t canonlen)
{
	uint8_t *der;
	size_t derlen = 0;
	int rv;

	*account_id = 0;
	if (canonlen > 0)
		canon[0] = '\0';
	if (x509_der(cert, &der, &derlen) == -1)
		return AUTHD_RES_INTERNAL;
	rv = authd_login_cert(ch, user, userlen, pass, passlen, der, derlen,
	    account_id, canon, canonlen);
	free(der);
	return rv;
}

/* ---- messaging ---- */

/* A request whose body is one str16 name. */
static int
name_request(int ch, uint16_t type, const char *name, uint16_t restype,
    struct ipc_msg **mp)
{
	struct wbuf b;

	*mp = NULL;
	if (name == NULL)
		return AUTHD_RES_BAD_INPUT;
	wbuf_init(&b, 16 + AUTHD_ROOM_MAX);
	wbuf_put_str16(&b, name, strlen(name));
	return authd_rpc(ch, type, &b, restype, mp);
}

void
authd_certlist_free(struct authd_certlist *l)
{
	if (l->msg != NULL)
		msg_release(l->msg);
	memset(l, 0, sizeof(*l));
}

int
authd_certs(int ch, const char *name, struct authd_certlist *out)
{
	struct ipc_msg *m;
	struct cursor c;
	const uint8_t *u;
	size_t ulen, i;
	uint16_t code;
	uint8_t n;
	int rv;

	memset(out, 0, sizeof(*out));
	if ((rv = name_request(ch, AUTHD_REQ_CERTS, name, AUTHD_RES_CERTS,
	    &m)) != 0)
		return rv;
	cur_init(&c, m->body, m->len);
	code = cur_u16(&c);
	n = cur_u8(&c);
	if (c.err || !code_ok(code) || n > AUTHD_CERTS_MAX ||
	    (code != AUTHD_RES_OK && n != 0))
		goto bad;
	for (i = 0; i < n; i++) {
		u = cur_str16(&c, &ulen, AUTHD_ROOM_MAX);
		out->v[i].der = cur_str16(&c, &out->v[i].derlen,
		    AUTHD_CERT_DER_MAX);
		if (c.err || out->v[i].derlen == 0 ||
		    name_copy(u, ulen, 0, out->v[i].user) == -1)
			goto bad;
	}
	if (cur_done(&c) == -1)
		goto bad;
	out->n = n;
	out->msg = m;
	return code;
 bad:
	log_warnx("authd: malformed certificate list");
	msg_release(m);
	memset(out, 0, sizeof(*out));
	return AUTHD_RES_INTERNAL;
}

int
authd_store(int ch, const uint8_t *env, size_t envlen, uint64_t *env_id)
{
	struct ipc_msg *m;
	struct wbuf b;
	struct cursor c;
	uint16_t code;
	uint64_t id;
	int rv;

	*env_id = 0;
	/* authd answers TOO_LARGE too; this one never leaves the worker. */
	if (envlen > ENV_MAX_LEN)
		return AUTHD_RES_TOO_LARGE;
	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_str32(&b, env, envlen);
	if ((rv = authd_rpc(ch, AUTHD_REQ_STORE, &b, AUTHD_RES_STORE, &m)) !=
	    0)
		return rv;
	cur_init(&c, m->body, m->len);
	code = cur_u16(&c);
	id = cur_u64(&c);
	if (cur_done(&c) == -1 || !code_ok(code) ||
	    (code == AUTHD_RES_OK) != (id != 0)) {
		log_warnx("authd: malformed STORE answer");
		rv = AUTHD_RES_INTERNAL;
	} else {
		rv = code;
		*env_id = id;
	}
	msg_release(m);
	return rv;
}

int
authd_fetch(int ch, uint64_t after_id, int *present, uint64_t *env_id,
    authd_name sender, uint8_t *env, size_t envcap, size_t *envlen)
{
	struct ipc_msg *m;
	struct wbuf b;
	struct cursor c;
	const uint8_t *s, *e;
	size_t slen, elen;
	uint16_t code;
	uint8_t pres;
	uint64_t id;
	int rv;

	*present = 0;
	*env_id = 0;
	*envlen = 0;
	sender[0] = '\0';
	wbuf_init(&b, 16);
	wbuf_put_u64(&b, after_id);
	if ((rv = authd_rpc(ch, AUTHD_REQ_FETCH, &b, AUTHD_RES_FETCH, &m)) !=
	    0)
		return rv;
	rv = AUTHD_RES_INTERNAL;
	cur_init(&c, m->body, m->len);
	code = cur_u16(&c);
	pres = cur_u8(&c);
	id = cur_u64(&c);
	s = cur_str16(&c, &slen, AUTHD_ROOM_MAX);
	e = cur_str32(&c, &elen, ENV_MAX_LEN);
	if (cur_done(&c) == -1 || !code_ok(code) || pres > 1 ||
	    (pres == 1 && code != AUTHD_RES_OK))
		goto bad;
	if (pres == 0) {
		if (id != 0 || slen != 0 || elen != 0)
			goto bad;
		rv = code;
		goto done;
	}
	if (id <= after_id || elen == 0 || elen > envcap ||
	    name_copy(s, slen, 0, sender) == -1)
		goto bad;
	memcpy(env, e, elen);
	*envlen = elen;
	*env_id = id;
	*present = 1;
	rv = AUTHD_RES_OK;
	goto done;
 bad:
	log_warnx("authd: malformed FETCH answer");
	sender[0] = '\0';
 done:
	msg_release(m);
	return rv;
}

int
authd_ack(int ch, uint64_t env_id, uint8_t state, authd_name sender)
{
	struct ipc_msg *m;
	struct wbuf b;
	struct cursor c;
	const uint8_t *s;
	size_t slen;
	uint16_t code;
	int rv;

	sender[0] = '\0';
	wbuf_init(&b, 16);
	wbuf_put_u64(&b, env_id);
	wbuf_put_u8(&b, state);
	if ((rv = authd_rpc(ch, AUTHD_REQ_ACK, &b, AUTHD_RES_ACK, &m)) != 0)
		return rv;
	cur_init(&c, m->body, m->len);
	code = cur_u16(&c);
	s = cur_str16(&c, &slen, AUTHD_ROOM_MAX);
	if (cur_done(&c) == -1 || !code_ok(code) ||
	    (code == AUTHD_RES_OK ? name_copy(s, slen, 0, sender) == -1 :
	    slen != 0)) {
		log_warnx("authd: malformed ACK answer");
		sender[0] = '\0';
		rv = AUTHD_RES_INTERNAL;
	} else
		rv = code;
	msg_release(m);
	return rv;
}

/* JOIN / LEAVE: answered with a bare code. */
static int
room_request(int ch, uint16_t type, const char *room)
{
	struct ipc_msg *m;
	struct cursor c;
	uint16_t code;
	int rv;

	if ((rv = name_request(ch, type, room, AUTHD_RES_CODE, &m)) != 0)
		return rv;
	cur_init(&c, m->body, m->len);
	code = cur_u16(&c);
	if (cur_done(&c) == -1 || !code_ok(code)) {
		log_warnx("authd: malformed answer");
		rv = AUTHD_RES_INTERNAL;
	} else
		rv = code;
	msg_release(m);
	return rv;
}

int
authd_join(int ch, const char *room)
{
	return room_request(ch, AUTHD_REQ_JOIN, room);
}

int
authd_leave(int ch, const char *room)
{
	return room_request(ch, AUTHD_REQ_LEAVE, room);
}

/* A list of names (ROOMS: rooms, MEMBERS: usernames). */
static int
names_answer(struct ipc_msg *m, int rooms, authd_name *names, size_t max,
    size_t *np)
{
	struct cursor c;
	const uint8_t *p;
	size_t len, i;
	uint16_t code, n;

	cur_init(&c, m->body, m->len);
	code = cur_u16(&c);
	n = cur_u16(&c);
	if (c.err || !code_ok(code) || n > max ||
	    (code != AUTHD_RES_OK && n != 0))
		goto bad;
	for (i = 0; i < n; i++) {
		p = cur_str16(&c, &len, AUTHD_ROOM_MAX);
		if (c.err || name_copy(p, len, rooms, names[i]) == -1)
			goto bad;
	}
	if (cur_done(&c) == -1)
		goto bad;
	*np = n;
	return code;
 bad:
	log_warnx("authd: malformed name list");
	*np = 0;
	return AUTHD_RES_INTERNAL;
}

int
authd_rooms(int ch, authd_name *names, size_t max, size_t *n)
{
	struct ipc_msg *m;
	struct wbuf b;
	int rv;

	*n = 0;
	wbuf_init(&b, 16);
	if ((rv = authd_rpc(ch, AUTHD_REQ_ROOMS, &b, AUTHD_RES_ROOMS, &m)) !=
	    0)
		return rv;
	rv = names_answer(m, 1, names, max, n);
	msg_release(m);
	return rv;
}

int
authd_members(int ch, const char *room, authd_name *names, size_t max,
    size_t *n)
{
	struct ipc_msg *m;
	int rv;

	*n = 0;
	if ((rv = name_request(ch, AUTHD_REQ_MEMBERS, room, AUTHD_RES_MEMBERS,
	    &m)) != 0)
		return rv;
	rv = names_answer(m, 0, names, max, n);
	msg_release(m);
	return rv;
}
