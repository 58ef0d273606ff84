/*
 * keyd_wrap.c: worker-side stubs for the keyd requests (see keyd_wrap.h
 * and keyd/keyd.h for the message bodies).
 */
#include "keyd_wrap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ipc.h"
#include "keyd/keyd.h"
#include "log.h"

static uint32_t		keyd_wrap_id;
static struct ipc_msg	keyd_wrap_msg;	/* the worker makes one call at a time */

/* Send one request; its id, or 0 on failure. */
static uint32_t
keyd_request(int ch, uint16_t type, const struct wbuf *b, const char *what)
{
	uint32_t id;

	if (b != NULL && b->err) {
		log_warnx("keyd %s: request too large", what);
		return 0;
	}
	if ((id = ++keyd_wrap_id) == 0)
		id = ++keyd_wrap_id;
	if (ipc_send(ch, type, id, b ? b->data : NULL, b ? b->len : 0) == -1) {
		log_warn("keyd %s: send", what);
		return 0;
	}
	return id;
}

/* Receive the reply to request id into keyd_wrap_msg; 0 only for want. */
static int
keyd_reply(int ch, uint32_t id, uint16_t want, const char *what)
{
	struct ipc_msg *m = &keyd_wrap_msg;
	int r;

	if (ipc_wait_readable(ch, KEYD_REPLY_TIMEOUT_MS) == -1) {
		log_warnx("keyd %s: no reply", what);
		return -1;
	}
	if ((r = ipc_recv(ch, m, 0)) != 1) {
		if (r == 0)
			log_warnx("keyd %s: channel closed by keyd", what);
		else
			log_warn("keyd %s: receive", what);
		return -1;
	}
	if (m->hdr.id != id) {
		log_warnx("keyd %s: reply id %u, expected %u", what,
		    m->hdr.id, id);
		return -1;
	}
	if (m->hdr.type == KEYD_FAIL) {
		log_warnx("keyd %s: failed inside keyd", what);
		return -1;
	}
	if (m->hdr.type != want) {
		log_warnx("keyd %s: reply type 0x%x, expected 0x%x", what,
		    m->hdr.type, want);
		return -1;
	}
	return 0;
}

/*
 * Send one request and receive its reply into keyd_wrap_msg; 0 only for
 * a reply of type want carrying our id.
 */
static int
keyd_call(int ch, uint16_t type, const struct wbuf *b, uint16_t want,
    const char *what)
{
	uint32_t id;

	if ((id = keyd_request(ch, type, b, what)) == 0)
		return -1;
	return keyd_reply(ch, id, want, what);
}

/* The reply body str16 sig, exactly. */
static int
reply_sig(uint8_t *sig, size_t *siglen, const char *what)
{
	struct cursor c;
	const uint8_t *s;
	size_t n;

	cur_init(&c, keyd_wrap_msg.body, keyd_wrap_msg.len);
	s = cur_str16(&c, &n, SC_MAX_SIG);
	if (cur_done(&c) == -1 || n == 0 || n > *siglen) {
		log_warnx("keyd %s: malformed reply", what);
		return -1;
	}
	memcpy(sig, s, n);
	*siglen = n;
	return 0;
}

/* The NONCE request in flight (keyd_nonce_send), or 0. */
static uint32_t keyd_nonce_id;

int
keyd_nonce_send(int ch)
{
	if (keyd_nonce_id != 0)
		return -1;
	if ((keyd_nonce_id = keyd_request(ch, KEYD_NONCE, NULL, "nonce")) == 0)
		return -1;
	return 0;
}

int
keyd_nonce(int ch, uint8_t server_nonce[SC_NONCE_LEN],
    uint8_t session_id[SC_SESSION_ID_LEN])
{
	struct cursor c;
	uint32_t id;

	if (keyd_nonce_id == 0 && keyd_nonce_send(ch) == -1)
		return -1;
	id = keyd_nonce_id;
	keyd_nonce_id = 0;
	if (keyd_reply(ch, id, KEYD_NONCE_OK, "nonce") == -1)
		return -1;
	cur_init(&c, keyd_wrap_msg.body, keyd_wrap_msg.len);
	cur_bytes(&c, server_nonce, SC_NONCE_LEN);
	cur_bytes(&c, session_id, SC_SESSION_ID_LEN);
	if (cur_done(&c) == -1) {
		log_warnx("keyd nonce: malformed reply");
		return -1;
	}
	return 0;
}

/* The SIGN_HANDSHAKE request in flight (keyd_sign_handshake_send), or 0. */
static uint32_t keyd_hs_id;

int
keyd_sign_handshake_send(int ch, const uint8_t *client_hello, size_t chlen,
    const uint8_t *sh_core, size_t shcorelen)
{
	struct wbuf b;

	if (keyd_hs_id != 0)
		return -1;
	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_str32(&b, client_hello, chlen);
	wbuf_put_str32(&b, sh_core, shcorelen);
	keyd_hs_id = keyd_request(ch, KEYD_SIGN_HANDSHAKE, &b,
	    "sign handshake");
	wbuf_free(&b);
	return keyd_hs_id == 0 ? -1 : 0;
}

int
keyd_sign_handshake_recv(int ch, uint8_t *sig, size_t *siglen)
{
	uint32_t id = keyd_hs_id;

	if (id == 0)
		return -1;
	keyd_hs_id = 0;
	if (keyd_reply(ch, id, KEYD_SIGN_HANDSHAKE_OK, "sign handshake") == -1)
		return -1;
	return reply_sig(sig, siglen, "sign handshake");
}

int
keyd_sign_handshake(int ch, const uint8_t *client_hello, size_t chlen,
    const uint8_t *sh_core, size_t shcorelen, uint8_t *sig, size_t *siglen)
{
	if (keyd_sign_handshake_send(ch, client_hello, chlen, sh_core,
	    shcorelen) == -1)
		return -1;
	return keyd_sign_handshake_recv(ch, sig, siglen);
}

int
keyd_sign_record(int ch, uint8_t type, uint64_t seq, uint64_t ts,
    const uint8_t iv[SC_IV_LEN], const uint8_t *ct, size_t ctlen,
    uint8_t *sig, size_t *siglen)
{
	struct wbuf b;
	int rc = -1;

	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_u8(&b, type);
	wbuf_put_u64(&b, seq);
	wbuf_put_u64(&b, ts);
	wbuf_put(&b, iv, SC_IV_LEN);
	wbuf_put_str32(&b, ct, ctlen);
	if (keyd_call(ch, KEYD_SIGN_RECORD, &b, KEYD_SIGN_RECORD_OK,
	    "sign record") == 0)
		rc = reply_sig(sig, siglen, "sign record");
	wbuf_free(&b);
	return rc;
}

int
keyd_sign_receipt(int ch, const struct sc_receipt *r, uint8_t *sig,
    size_t *siglen)
{
	struct wbuf b;
	int rc = -1;

	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_u64(&b, r->first_seq);
	wbuf_put_u64(&b, r->last_seq);
	wbuf_put(&b, r->transcript_sha256, SC_SHA256_LEN);
	wbuf_put(&b, r->peer_fp, SC_SHA256_LEN);
	if (keyd_call(ch, KEYD_SIGN_RECEIPT, &b, KEYD_SIGN_RECEIPT_OK,
	    "sign receipt") == 0)
		rc = reply_sig(sig, siglen, "sign receipt");
	wbuf_free(&b);
	return rc;
}

int
keyd_record_signer(void *arg, const struct record_sign_req *req,
    uint8_t *sig, size_t *siglen)
{
	const int *ch = arg;

	if (req->dir != SC_DIR_S2C)
		return -1;
	return keyd_sign_record(*ch, req->type, req->seq, req->ts, req->iv,
	    req->ct, req->ctlen, sig, siglen);
}
