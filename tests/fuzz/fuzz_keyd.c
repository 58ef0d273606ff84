/*
 * fuzz_keyd.c: keyd's side of a worker channel: the IPC decoder
 * (ipc_recv on a real SOCK_SEQPACKET pair) and keyd's request table and
 * handlers (keyd/sign.c, compiled into this harness), as keyd.c's
 * chan_read() runs them.
 *
 * Input: one byte choosing the channel's starting state (NEW, NONCE, HS,
 * AUTH, CLOSED), then datagrams, each a big-endian u16 length and that
 * many bytes, sent raw (IPC header included, host byte order) to the
 * channel as a taken-over worker would.  Like keyd, the harness stops at
 * the first malformed message or refused request (keyd closes the
 * channel).  Two pins make deep states reachable from a checked-in
 * corpus: the channel's nonce and session id are fixed values (keyd draws
 * them at random), and the ts of a SIGN_RECORD body is read as an offset
 * from keyd's clock (a bijection, so every ts stays reachable).
 *
 * Properties: a refused or failed request changes nothing in the channel;
 * the state only moves forward, one bit at a time; an accepted request
 * gets its own reply type and a signature that verifies over the
 * statement keyd is documented to sign, rebuilt here from the body and
 * the channel (its session id, direction s2c, the next seq).
 */
#include <sys/socket.h>

#include <errno.h>
#include <unistd.h>

#include "keyd/sign.c"
#include "pki.h"
#include "fuzz.h"

static EVP_PKEY *keyd_fz_key;
static int keyd_fz_sv[2] = { -1, -1 };
/* keyd compares SERVER_HELLO's cert with these bytes, nothing more. */
static const uint8_t keyd_fz_cert[] = "SecureChat fuzz: keyd's certificate";

static int
keyd_fz_init(void)
{
	if (keyd_fz_key != NULL)
		return 0;
	if ((keyd_fz_key = fuzz_rsa_key()) == NULL ||
	    keyd_sign_setup(keyd_fz_key, keyd_fz_cert,
	    sizeof(keyd_fz_cert)) == -1)
		return -1;
	/* Non-blocking: a bug must not hang the fuzzer in recv. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0, keyd_fz_sv) == -1)
		return -1;
	return 0;
}

static void
keyd_fz_pin(struct keyd_chan *c)
{
	memset(c->server_nonce, 'N', sizeof(c->server_nonce));
	memset(c->session_id, 'S', sizeof(c->session_id));
}

/* The statement keyd should have signed for this accepted request. */
static int
keyd_fz_stmt(const struct keyd_chan *before, const struct ipc_msg *m,
    struct wbuf *stmt)
{
	struct sc_receipt r;
	struct cursor cur;
	const uint8_t *chp, *shp, *iv, *ct;
	size_t chlen, shlen, ctlen;
	uint8_t h1[SC_SHA256_LEN], type;
	uint64_t seq, ts;

	cur_init(&cur, m->body, m->len);
	switch (m->hdr.type) {
	case KEYD_SIGN_HANDSHAKE:
		chp = cur_str32(&cur, &chlen, SC_MAX_PAYLOAD);
		shp = cur_str32(&cur, &shlen, SC_MAX_PAYLOAD);
		if (cur_done(&cur) == -1 ||
		    sc_h1(chp, chlen, shp, shlen, h1) == -1)
			return -1;
		return sc_stmt_server_handshake(stmt, h1);
	case KEYD_SIGN_RECORD:
		type = cur_u8(&cur);
		seq = cur_u64(&cur);
		ts = cur_u64(&cur);
		iv = cur_ptr(&cur, SC_IV_LEN);
		ct = cur_str32(&cur, &ctlen, SC_MAX_CT);
		if (cur_done(&cur) == -1 || seq != before->seq + 1)
			return -1;
		return sc_stmt_record(stmt, before->session_id, SC_DIR_S2C,
		    type, (uint8_t)sc_record_phase(type), seq, ts, iv, ct,
		    ctlen);
	case KEYD_SIGN_RECEIPT:
		memset(&r, 0, sizeof(r));
		r.first_seq = cur_u64(&cur);
		r.last_seq = cur_u64(&cur);
		cur_bytes(&cur, r.transcript_sha256, SC_SHA256_LEN);
		cur_bytes(&cur, r.peer_fp, SC_SHA256_LEN);
		if (cur_done(&cur) == -1)
			return -1;
		memcpy(r.session_id, before->session_id, SC_SESSION_ID_LEN);
		r.role = SC_ROLE_SERVER;
		return sc_stmt_receipt(stmt, &r);
	}
	return -1;
}

static void
keyd_fz_accepted(const struct keyd_chan *before, const struct keyd_chan *c,
    const struct ipc_msg *m, const struct wbuf *reply, uint16_t rtype)
{
	struct cursor cur;
	struct wbuf stmt;
	const uint8_t *sig;
	size_t siglen;

	FUZZ_CHECK(rtype == m->hdr.type + 1);
	/* One state bit, never going back. */
	FUZZ_CHECK(c->state != 0 && (c->state & (c->state - 1)) == 0 &&
	    c->state >= before->state);
	if (m->hdr.type == KEYD_NONCE) {
		FUZZ_CHECK(before->state == KEYD_S_NEW &&
		    c->state == KEYD_S_NONCE && reply->len ==
		    SC_NONCE_LEN + SC_SESSION_ID_LEN && memcmp(reply->data,
		    c->server_nonce, SC_NONCE_LEN) == 0 &&
		    memcmp(reply->data + SC_NONCE_LEN, c->session_id,
		    SC_SESSION_ID_LEN) == 0);
		return;
	}
	FUZZ_CHECK(c->nsigs == before->nsigs + 1);
	FUZZ_CHECK(memcmp(c->session_id, before->session_id,
	    SC_SESSION_ID_LEN) == 0);
	if (m->hdr.type == KEYD_SIGN_RECORD)
		FUZZ_CHECK(c->seq == before->seq + 1 &&
		    sc_record_dir_ok(m->body[0], SC_DIR_S2C) &&
		    (before->state != KEYD_S_HS ||
		    m->body[0] == SC_T_AUTH_OK));
	else
		FUZZ_CHECK(c->seq == before->seq);
	cur_init(&cur, reply->data, reply->len);
	sig = cur_str16(&cur, &siglen, SC_MAX_SIG);
	FUZZ_CHECK(cur_done(&cur) == 0 && siglen > 0);
	wbuf_init(&stmt, SC_STMT_MAX);
	FUZZ_CHECK(keyd_fz_stmt(before, m, &stmt) == 0 && !stmt.err &&
	    sig != NULL && sc_rsa_verify(keyd_fz_key, stmt.data, stmt.len,
	    sig, siglen) == 0);
	wbuf_free(&stmt);
}

/* Put ts = keyd's clock + the fuzzer's value into a SIGN_RECORD body. */
static void
keyd_fz_ts(struct ipc_msg *m)
{
	uint64_t off = 0, ts;
	int k;

	if (m->hdr.type != KEYD_SIGN_RECORD || m->len < 17)
		return;
	for (k = 0; k < 8; k++)
		off = off << 8 | m->body[9 + k];
	ts = now_ms() + off;
	for (k = 0; k < 8; k++)
		m->body[9 + k] = (uint8_t)(ts >> (56 - 8 * k));
}

static int
keyd_fz_one(const uint8_t *data, size_t size)
{
	static const unsigned int states[5] = { KEYD_S_NEW, KEYD_S_NONCE,
	    KEYD_S_HS, KEYD_S_AUTH, KEYD_S_CLOSED };
	static struct ipc_msg m;	/* 32 KiB, as in keyd.c */
	struct keyd_chan c, before;
	struct wbuf reply;
	const char *req, *why;
	uint16_t rtype;
	size_t off = 1, n;
	int r, rc;

	if (size < 1)
		return 0;
	keyd_chan_init(&c, keyd_fz_sv[1], 7, "192.0.2.7");
	c.state = states[data[0] % 5];
	keyd_fz_pin(&c);
	/* Arrive in a state as keyd would have left the channel there. */
	if (c.state >= KEYD_S_NONCE)
		c.done |= 1U << 0;
	if (c.state >= KEYD_S_HS)
		c.done |= 1U << 1;
	if (c.state >= KEYD_S_AUTH)
		c.seq = 1;
	if (c.state >= KEYD_S_CLOSED)
		c.seq = 2;
	while (size - off >= 2) {
		n = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (n == 0 || n > size - off)
			break;
		if (send(keyd_fz_sv[0], data + off, n, MSG_NOSIGNAL) !=
		    (ssize_t)n)
			break;
		off += n;
		r = ipc_recv(keyd_fz_sv[1], &m, 0);
		FUZZ_CHECK(r != 0);
		if (r != 1) {
			FUZZ_CHECK(r == -1 && errno == EBADMSG);
			break;
		}
		FUZZ_CHECK(m.len == m.hdr.len && m.len <= IPC_MAX_BODY &&
		    m.fd == -1 && m.len + sizeof(m.hdr) == n);
		keyd_fz_ts(&m);
		before = c;
		wbuf_init(&reply, IPC_MAX_BODY);
		rtype = 0;
		rc = keyd_dispatch(&c, &m, &reply, &rtype, &req, &why);
		FUZZ_CHECK(req != NULL && why != NULL);
		if (rc != KEYD_OK) {
			/* Nothing half-done: keyd closes the channel now. */
			FUZZ_CHECK(rc == KEYD_REFUSE || rc == KEYD_ERROR);
			FUZZ_CHECK(memcmp(&before, &c, sizeof(c)) == 0);
			wbuf_free(&reply);
			ipc_msg_clear(&m);
			break;
		}
		FUZZ_CHECK(!reply.err);
		keyd_fz_accepted(&before, &c, &m, &reply, rtype);
		if (c.state == KEYD_S_NONCE)
			keyd_fz_pin(&c);
		wbuf_free(&reply);
		ipc_msg_clear(&m);
	}
	/* Nothing may be left queued for the next input. */
	while (recv(keyd_fz_sv[1], &m, sizeof(m), 0) > 0)
		;
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(keyd_fz_init, keyd_fz_one)
#endif
