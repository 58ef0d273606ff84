/*
 * msg.c: decoding and checking of the messages authd receives, from a
 * worker (REGISTER, LOGIN and the messaging requests) and from the
 * master (NEW_CHANNEL); see msg.h.  Pure functions of the message: the
 * libFuzzer harness tests/fuzz/fuzz_authd.c #includes this file and runs
 * exactly what authd runs.
 */
#include "msg.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "buf.h"
#include "envelope.h"
#include "pki.h"
#include "sccrypto.h"

int
authd_addr_ok(const uint8_t *p, size_t len)
{
	size_t i;

	if (len < 1 || len > AUTHD_ADDR_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return 0;
	return 1;
}

/*
 * A password may be any bytes but NUL.  scrypt keys HMAC-SHA256 with the
 * password, and HMAC pads a key shorter than its block with zeros: "pw"
 * and "pw\0" hash alike, so a NUL would silently not count.  Refusing it
 * keeps "the exact bytes, or nothing" true for every password.
 */
int
authd_password_bytes_ok(const uint8_t *pw, size_t len)
{
	return memchr(pw, '\0', len) == NULL;
}

/* Returns 0 with room filled, -1 when it is not a room name. */
int
authd_room_arg(const uint8_t *p, size_t len, char room[AUTHD_ROOM_MAX + 1])
{
	room[0] = '\0';
	if (len < 2 || len > AUTHD_ROOM_MAX || memchr(p, '\0', len) != NULL)
		return -1;
	memcpy(room, p, len);
	room[len] = '\0';
	if (!envelope_valid_room(room)) {
		room[0] = '\0';
		return -1;
	}
	return 0;
}

/*
 * The certificate at the end of a REGISTER or LOGIN body: absent (the
 * transitional body of issue 3), or str16 cert_der of 1..8192 bytes.
 * Returns 0 (*der NULL when absent) or -1 for a malformed body.
 */
static int
msg_cur_cert(struct cursor *c, const uint8_t **der, size_t *derlen)
{
	*der = NULL;
	*derlen = 0;
	if (c->err || c->left == 0)
		return 0;
	*der = cur_str16(c, derlen, AUTHD_CERT_DER_MAX);
	if (c->err || *derlen == 0)
		return -1;
	return 0;
}

/*
 * The worker computed cert_sha256 from the certificate it sends: the
 * DER must hash to it and be one certificate, or the worker is lying or
 * broken (-1).  cn receives the certificate's single commonName.
 */
static int
msg_cert_check(struct authd_req_auth *r, const char **why)
{
	uint8_t h[SC_SHA256_LEN];
	char err[256];
	X509 *x;

	r->cn[0] = '\0';
	if (sc_sha256(r->der, r->derlen, h) == -1) {
		*why = "SHA-256 failed";
		return -1;
	}
	if (CRYPTO_memcmp(h, r->cert_fp, AUTHD_CERT_FP_LEN) != 0) {
		*why = "certificate does not match its fingerprint";
		return -1;
	}
	if ((x = pki_cert_from_der(r->der, r->derlen, err,
	    sizeof(err))) == NULL) {
		*why = "not a DER certificate";
		return -1;
	}
	if (pki_cert_cn(x, r->cn, sizeof(r->cn)) == -1)
		r->cn[0] = '\0';
	X509_free(x);
	return 0;
}

/*
 * REGISTER: str16 username, str16 email, str16 password, 32 cert_sha256,
 * str16 cert_der (optional).  LOGIN: the same without the email.  New
 * passwords need 8 bytes, but an imported seed account may have a
 * shorter one: a login only needs a non-empty password within the upper
 * bound.
 */
static int
msg_decode_auth(struct cursor *c, struct authd_req *rq, const char **why)
{
	struct authd_req_auth *r = &rq->u.auth;
	int reg = rq->type == AUTHD_REQ_REGISTER;

	r->user = cur_str16(c, &r->userlen, AUTHD_FIELD_MAX);
	if (reg)
		r->email = cur_str16(c, &r->emaillen, AUTHD_FIELD_MAX);
	r->pw = cur_str16(c, &r->pwlen, AUTHD_FIELD_MAX);
	cur_bytes(c, r->cert_fp, sizeof(r->cert_fp));
	if (msg_cur_cert(c, &r->der, &r->derlen) == -1 || cur_done(c) == -1) {
		*why = "malformed body";
		return -1;
	}
	if (r->der != NULL && msg_cert_check(r, why) == -1)
		return -1;
	if (account_username_canon(r->user, r->userlen, r->canon) == -1 ||
	    !authd_password_bytes_ok(r->pw, r->pwlen))
		rq->bad = "bad input";
	else if (reg && (account_email_check(r->email, r->emaillen) == -1 ||
	    account_password_check(r->pwlen) == -1))
		rq->bad = "bad input";
	else if (!reg && (r->pwlen < 1 || r->pwlen > ACCOUNT_PASS_MAX))
		rq->bad = "bad input";
	if (rq->bad != NULL)
		r->canon[0] = '\0';
	else if (reg) {
		memcpy(r->email_str, r->email, r->emaillen);
		r->email_str[r->emaillen] = '\0';
	}
	return 0;
}

/*
 * A body of one str16 name: a room for JOIN, LEAVE and MEMBERS; for
 * CERTS a username, or a room when it starts with '#'.
 */
static int
msg_decode_name(struct cursor *c, struct authd_req *rq)
{
	const uint8_t *p;
	size_t len;

	p = cur_str16(c, &len, AUTHD_FIELD_MAX);
	if (cur_done(c) == -1)
		return -1;
	if (rq->type != AUTHD_REQ_CERTS) {
		if (authd_room_arg(p, len, rq->u.room.room) == -1)
			rq->bad = "not a room name";
	} else if (len > 0 && p[0] == '#') {
		rq->u.certs.is_room = 1;
		if (authd_room_arg(p, len, rq->u.certs.room) == -1)
			rq->bad = "not a room name";
	} else if (account_username_canon(p, len, rq->u.certs.user) == -1) {
		rq->u.certs.user[0] = '\0';
		rq->bad = "not a username";
	}
	return 0;
}

int
authd_req_decode(const struct ipc_msg *m, struct authd_req *rq,
    const char **why)
{
	struct cursor c;

	memset(rq, 0, sizeof(*rq));
	rq->type = m->hdr.type;
	*why = "malformed body";
	cur_init(&c, m->body, m->len);
	switch (m->hdr.type) {
	case AUTHD_REQ_REGISTER:
	case AUTHD_REQ_LOGIN:
		return msg_decode_auth(&c, rq, why);
	case AUTHD_REQ_CERTS:
	case AUTHD_REQ_JOIN:
	case AUTHD_REQ_LEAVE:
	case AUTHD_REQ_MEMBERS:
		return msg_decode_name(&c, rq);
	case AUTHD_REQ_STORE:
		/* Over ENV_MAX_LEN is a refusal (TOO_LARGE), not malformed. */
		rq->u.store.env = cur_str32(&c, &rq->u.store.envlen,
		    IPC_MAX_BODY);
		return cur_done(&c);
	case AUTHD_REQ_FETCH:
		rq->u.fetch.after = cur_u64(&c);
		return cur_done(&c);
	case AUTHD_REQ_ACK:
		rq->u.ack.env_id = cur_u64(&c);
		rq->u.ack.state = cur_u8(&c);
		if (cur_done(&c) == -1)
			return -1;
		if (rq->u.ack.state != AUTHD_ST_DELIVERED &&
		    rq->u.ack.state != AUTHD_ST_READ)
			rq->bad = "not a delivery state";
		return 0;
	case AUTHD_REQ_ROOMS:
		return m->len == 0 ? 0 : -1;
	default:
		*why = "unknown request type";
		return -1;
	}
}

int
authd_ctl_decode(const struct ipc_msg *m, struct authd_ctl_new *nc)
{
	struct cursor c;
	const uint8_t *a;
	size_t alen;

	memset(nc, 0, sizeof(*nc));
	nc->fd = -1;
	if (m->hdr.type != AUTHD_CTL_NEW_CHANNEL)
		return -1;
	cur_init(&c, m->body, m->len);
	nc->serial = cur_u64(&c);
	a = cur_str16(&c, &alen, AUTHD_ADDR_MAX);
	if (cur_done(&c) == -1 || m->fd == -1 || !authd_addr_ok(a, alen))
		return -1;
	memcpy(nc->addr, a, alen);
	nc->addr[alen] = '\0';
	nc->fd = m->fd;
	return 0;
}
