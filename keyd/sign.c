/*
 * sign.c: keyd's request table and handlers.
 *
 * One row per request type says in which channel states it is permitted
 * and whether it may be used once (OpenSSH's mon_table).  A handler
 * checks its body, rebuilds the statement from the channel's own state
 * (its nonce, its session id, direction server->client, the next seq),
 * signs, and moves the channel to the next state.  Anything else is
 * refused: keyd.c then closes the channel and has the master kill the
 * worker.
 */
#include "keyd.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "sccrypto.h"
#include "util.h"

static EVP_PKEY	*sign_key;
static uint8_t	 cert_der[SC_MAX_CERT];
static size_t	 cert_derlen;

static int	req_nonce(struct keyd_chan *, const struct ipc_msg *,
		    struct wbuf *, const char **);
static int	req_sign_handshake(struct keyd_chan *, const struct ipc_msg *,
		    struct wbuf *, const char **);
static int	req_sign_record(struct keyd_chan *, const struct ipc_msg *,
		    struct wbuf *, const char **);
static int	req_sign_receipt(struct keyd_chan *, const struct ipc_msg *,
		    struct wbuf *, const char **);

#define KR_ONCE		0x01

static const struct keyd_req {
	uint16_t	 type;
	uint16_t	 reply;
	const char	*name;
	unsigned int	 states;	/* KEYD_S_* in which it is permitted */
	unsigned int	 flags;
	int		(*handler)(struct keyd_chan *, const struct ipc_msg *,
			    struct wbuf *, const char **);
} keyd_reqs[] = {
	{ KEYD_NONCE, KEYD_NONCE_OK, "NONCE",
	    KEYD_S_NEW, KR_ONCE, req_nonce },
	{ KEYD_SIGN_HANDSHAKE, KEYD_SIGN_HANDSHAKE_OK, "SIGN_HANDSHAKE",
	    KEYD_S_NONCE, KR_ONCE, req_sign_handshake },
	{ KEYD_SIGN_RECORD, KEYD_SIGN_RECORD_OK, "SIGN_RECORD",
	    KEYD_S_HS | KEYD_S_AUTH, 0, req_sign_record },
	{ KEYD_SIGN_RECEIPT, KEYD_SIGN_RECEIPT_OK, "SIGN_RECEIPT",
	    KEYD_S_AUTH, KR_ONCE, req_sign_receipt },
};

int
keyd_sign_setup(EVP_PKEY *key, const uint8_t *der, size_t len)
{
	if (len == 0 || len > sizeof(cert_der) || sc_rsa_key_ok(key) == -1)
		return -1;
	sign_key = key;
	memcpy(cert_der, der, len);
	cert_derlen = len;
	return 0;
}

void
keyd_chan_init(struct keyd_chan *c, int fd, uint64_t serial, const char *peer)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->serial = serial;
	strlcpy(c->peer, peer, sizeof(c->peer));
	c->state = KEYD_S_NEW;
}

/* Sign stmt and append str16 sig to the reply. */
static int
sign_reply(struct keyd_chan *c, const struct wbuf *stmt, struct wbuf *reply)
{
	uint8_t sig[SC_MAX_SIG];
	size_t siglen = sizeof(sig);

	if (stmt->err || sc_rsa_sign(sign_key, stmt->data, stmt->len, sig,
	    &siglen) == -1) {
		log_sslx("session %llu: signing failed",
		    (unsigned long long)c->serial);
		return KEYD_ERROR;
	}
	c->nsigs++;
	if (wbuf_put_str16(reply, sig, siglen) == -1)
		return KEYD_ERROR;
	return KEYD_OK;
}

static int
req_nonce(struct keyd_chan *c, const struct ipc_msg *m, struct wbuf *reply,
    const char **why)
{
	if (m->len != 0) {
		*why = "NONCE with a body";
		return KEYD_REFUSE;
	}
	if (RAND_bytes(c->server_nonce, sizeof(c->server_nonce)) != 1 ||
	    RAND_bytes(c->session_id, sizeof(c->session_id)) != 1) {
		log_sslx("RAND_bytes");
		return KEYD_ERROR;
	}
	wbuf_put(reply, c->server_nonce, sizeof(c->server_nonce));
	if (wbuf_put(reply, c->session_id, sizeof(c->session_id)) == -1)
		return KEYD_ERROR;
	c->state = KEYD_S_NONCE;
	return KEYD_OK;
}

static int
req_sign_handshake(struct keyd_chan *c, const struct ipc_msg *m,
    struct wbuf *reply, const char **why)
{
	struct sc_client_hello ch;
	struct sc_server_hello sh;
	struct cursor cur;
	struct wbuf stmt;
	const uint8_t *chp, *shp;
	size_t chlen, shlen;
	uint8_t h1[SC_SHA256_LEN];
	int rc;

	cur_init(&cur, m->body, m->len);
	chp = cur_str32(&cur, &chlen, SC_MAX_PAYLOAD);
	shp = cur_str32(&cur, &shlen, SC_MAX_PAYLOAD);
	if (cur_done(&cur) == -1) {
		*why = "malformed SIGN_HANDSHAKE";
		return KEYD_REFUSE;
	}
	if (sc_ch_parse(chp, chlen, &ch) != 0 ||
	    sc_version_choose(&ch) != SC_PROTO_VERSION) {
		*why = "bad CLIENT_HELLO";
		return KEYD_REFUSE;
	}
	if (sc_sh_core_parse(shp, shlen, &sh) != 0 ||
	    sh.version != SC_PROTO_VERSION) {
		*why = "bad SERVER_HELLO core";
		return KEYD_REFUSE;
	}
	/* Only a hello that carries keyd's own nonce, session and cert. */
	if (CRYPTO_memcmp(sh.server_nonce, c->server_nonce,
	    SC_NONCE_LEN) != 0 ||
	    CRYPTO_memcmp(sh.session_id, c->session_id,
	    SC_SESSION_ID_LEN) != 0) {
		*why = "server nonce or session id is not keyd's";
		return KEYD_REFUSE;
	}
	if (sh.certlen != cert_derlen ||
	    CRYPTO_memcmp(sh.cert, cert_der, cert_derlen) != 0) {
		*why = "server certificate is not keyd's";
		return KEYD_REFUSE;
	}
	if (sc_h1(chp, chlen, shp, shlen, h1) == -1)
		return KEYD_ERROR;
	wbuf_init(&stmt, SC_STMT_MAX);
	sc_stmt_server_handshake(&stmt, h1);
	rc = sign_reply(c, &stmt, reply);
	wbuf_free(&stmt);
	if (rc == KEYD_OK)
		c->state = KEYD_S_HS;
	return rc;
}

static int
req_sign_record(struct keyd_chan *c, const struct ipc_msg *m,
    struct wbuf *reply, const char **why)
{
	struct cursor cur;
	struct wbuf stmt;
	const uint8_t *iv, *ct;
	uint64_t seq, ts, now, skew;
	size_t ctlen;
	uint8_t type;
	int rc;

	cur_init(&cur, m->body, m->len);
	type = cur_u8(&cur);
	seq = cur_u64(&cur);
	ts = cur_u64(&cur);
	iv = cur_ptr(&cur, SC_IV_LEN);
	ct = cur_str32(&cur, &ctlen, SC_MAX_CT);
	if (cur_done(&cur) == -1) {
		*why = "malformed SIGN_RECORD";
		return KEYD_REFUSE;
	}
	if (!sc_record_dir_ok(type, SC_DIR_S2C)) {
		*why = "record type not sent by a server";
		return KEYD_REFUSE;
	}
	/* The server's records come in one order: AUTH_OK, CHAT*, CLOSE_ACK. */
	if ((c->state == KEYD_S_HS && type != SC_T_AUTH_OK) ||
	    (c->state == KEYD_S_AUTH && type == SC_T_AUTH_OK)) {
		*why = "record type out of order";
		return KEYD_REFUSE;
	}
	if (seq != c->seq + 1) {
		*why = "record seq is not the next one";
		return KEYD_REFUSE;
	}
	now = now_ms();
	skew = ts > now ? ts - now : now - ts;
	if (skew > KEYD_TS_WINDOW_MS) {
		*why = "record timestamp far from keyd's clock";
		return KEYD_REFUSE;
	}
	if (ctlen == 0 || ctlen % 16 != 0 ||
	    ctlen > SC_CT_LEN(sc_record_max_pt(type))) {
		*why = "record ciphertext length impossible for its type";
		return KEYD_REFUSE;
	}
	if (c->nsigs >= KEYD_MAX_SIGS) {
		*why = "signature budget of the channel exhausted";
		return KEYD_REFUSE;
	}
	wbuf_init(&stmt, SC_STMT_MAX);
	sc_stmt_record(&stmt, c->session_id, SC_DIR_S2C, type,
	    (uint8_t)sc_record_phase(type), seq, ts, iv, ct, ctlen);
	rc = sign_reply(c, &stmt, reply);
	wbuf_free(&stmt);
	if (rc != KEYD_OK)
		return rc;
	c->seq = seq;
	if (type == SC_T_AUTH_OK)
		c->state = KEYD_S_AUTH;
	else if (type == SC_T_CLOSE_ACK)
		c->state = KEYD_S_CLOSED;
	return KEYD_OK;
}

static int
req_sign_receipt(struct keyd_chan *c, const struct ipc_msg *m,
    struct wbuf *reply, const char **why)
{
	struct sc_receipt r;
	struct cursor cur;
	struct wbuf stmt;
	int rc;

	memset(&r, 0, sizeof(r));
	cur_init(&cur, m->body, m->len);
	r.first_seq = cur_u64(&cur);
	r.last_seq = cur_u64(&cur);
	cur_bytes(&cur, r.transcript_sha256, SC_SHA256_LEN);
	cur_bytes(&cur, r.peer_fp, SC_SHA256_LEN);
	if (cur_done(&cur) == -1 || r.first_seq > r.last_seq) {
		*why = "malformed SIGN_RECEIPT";
		return KEYD_REFUSE;
	}
	memcpy(r.session_id, c->session_id, SC_SESSION_ID_LEN);
	r.role = SC_ROLE_SERVER;
	wbuf_init(&stmt, SC_STMT_MAX);
	sc_stmt_receipt(&stmt, &r);
	rc = sign_reply(c, &stmt, reply);
	wbuf_free(&stmt);
	return rc;
}

int
keyd_dispatch(struct keyd_chan *c, const struct ipc_msg *m,
    struct wbuf *reply, uint16_t *rtype, const char **reqname,
    const char **why)
{
	const struct keyd_req *r = NULL;
	size_t i;
	int rc;

	*reqname = "unknown";
	*why = "unknown request type";
	for (i = 0; i < sizeof(keyd_reqs) / sizeof(keyd_reqs[0]); i++)
		if (keyd_reqs[i].type == m->hdr.type) {
			r = &keyd_reqs[i];
			break;
		}
	if (r == NULL)
		return KEYD_REFUSE;
	*reqname = r->name;
	if (!(r->states & c->state)) {
		*why = "request not permitted in this state";
		return KEYD_REFUSE;
	}
	if ((r->flags & KR_ONCE) && (c->done & (1U << i))) {
		*why = "request already used";
		return KEYD_REFUSE;
	}
	if (c->nsigs >= KEYD_MAX_SIGS) {
		*why = "signature budget of the channel exhausted";
		return KEYD_REFUSE;
	}
	if ((rc = r->handler(c, m, reply, why)) != KEYD_OK)
		return rc;
	if (r->flags & KR_ONCE)
		c->done |= 1U << i;
	*rtype = r->reply;
	return KEYD_OK;
}
