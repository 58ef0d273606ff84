/*
 * record.c: SecureChat records: seal (encrypt, sign) and open (verify,
 * check seq and time, decrypt).  See record.h and docs/PROTOCOL.md §3.
 */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util.h"

int
record_channel_init(struct sc_channel *ch, int side,
    const uint8_t sid[SC_SESSION_ID_LEN], EVP_PKEY *peer_key,
    uint64_t stale_ms)
{
	memset(ch, 0, sizeof(*ch));
	if (side != SC_SIDE_CLIENT && side != SC_SIDE_SERVER)
		return -1;
	if (peer_key != NULL && EVP_PKEY_up_ref(peer_key) != 1)
		return -1;
	ch->send_dir = side == SC_SIDE_CLIENT ? SC_DIR_C2S : SC_DIR_S2C;
	ch->recv_dir = side == SC_SIDE_CLIENT ? SC_DIR_S2C : SC_DIR_C2S;
	memcpy(ch->session_id, sid, SC_SESSION_ID_LEN);
	ch->peer_key = peer_key;
	ch->stale_ms = stale_ms ? stale_ms : SC_STALE_DEFAULT_MS;
	ch->clock = now_ms;
	return 0;
}

int
record_set_keys(struct sc_channel *ch, int phase, const struct sc_dirkeys *k)
{
	int i = phase - 1;

	if (phase != SC_PHASE_TEMP && phase != SC_PHASE_SESSION)
		return -1;
	if (ch->send_dir == SC_DIR_C2S) {
		memcpy(ch->key_send[i], k->c2s, SC_AES_KEY_LEN);
		memcpy(ch->key_recv[i], k->s2c, SC_AES_KEY_LEN);
	} else {
		memcpy(ch->key_send[i], k->s2c, SC_AES_KEY_LEN);
		memcpy(ch->key_recv[i], k->c2s, SC_AES_KEY_LEN);
	}
	ch->have_keys[i] = 1;
	return 0;
}

void
record_channel_clear(struct sc_channel *ch)
{
	EVP_PKEY_free(ch->peer_key);
	OPENSSL_cleanse(ch, sizeof(*ch));
}

int
record_seal_at(struct sc_channel *ch, uint8_t type, const uint8_t *pt,
    size_t ptlen, uint64_t ts, const uint8_t iv[SC_IV_LEN],
    record_signer_fn signer, void *signarg, struct wbuf *out)
{
	struct record_sign_req req;
	struct sc_record rec;
	struct wbuf stmt;
	uint8_t ct[SC_CT_LEN(SC_MAX_TEXT + 2)];
	uint8_t sig[SC_MAX_SIG];
	size_t ctlen = sizeof(ct), siglen = sizeof(sig);
	int phase = sc_record_phase(type), rc = SC_E_INTERNAL;

	if (phase == 0 || !sc_record_dir_ok(type, ch->send_dir) ||
	    !ch->have_keys[phase - 1])
		return SC_E_PROTOCOL;
	/* Every plaintext of the protocol fits the CHAT bound. */
	if (ptlen > sc_record_max_pt(type) || SC_CT_LEN(ptlen) > sizeof(ct))
		return SC_E_TOO_LARGE;
	if (ch->send_seq == UINT64_MAX)
		return SC_E_INTERNAL;
	wbuf_init(&stmt, SC_STMT_MAX);
	if (sc_aes_cbc_encrypt(ch->key_send[phase - 1], iv, pt, ptlen, ct,
	    &ctlen) == -1)
		goto out;
	if (sc_stmt_record(&stmt, ch->session_id, ch->send_dir, type,
	    (uint8_t)phase, ch->send_seq + 1, ts, iv, ct, ctlen) == -1)
		goto out;
	memset(&req, 0, sizeof(req));
	req.session_id = ch->session_id;
	req.dir = ch->send_dir;
	req.type = type;
	req.phase = (uint8_t)phase;
	req.seq = ch->send_seq + 1;
	req.ts = ts;
	req.iv = iv;
	req.ct = ct;
	req.ctlen = ctlen;
	req.stmt = stmt.data;
	req.stmtlen = stmt.len;
	if (signer(signarg, &req, sig, &siglen) == -1 || siglen == 0 ||
	    siglen > SC_MAX_SIG)
		goto out;
	memset(&rec, 0, sizeof(rec));
	rec.seq = ch->send_seq + 1;
	rec.ts = ts;
	rec.iv = iv;
	rec.ct = ct;
	rec.ctlen = ctlen;
	rec.sig = sig;
	rec.siglen = siglen;
	if (sc_record_encode(out, &rec) == -1)
		goto out;
	ch->send_seq++;
	rc = 0;
 out:
	wbuf_free(&stmt);
	return rc;
}

int
record_seal(struct sc_channel *ch, uint8_t type, const uint8_t *pt,
    size_t ptlen, record_signer_fn signer, void *signarg, struct wbuf *out)
{
	uint8_t iv[SC_IV_LEN];

	/* arc4random, as for the X25519 keys (sccrypto.c says why). */
	arc4random_buf(iv, sizeof(iv));
	return record_seal_at(ch, type, pt, ptlen, ch->clock(), iv, signer,
	    signarg, out);
}

int
record_open(struct sc_channel *ch, uint8_t type, const uint8_t *payload,
    size_t len, uint8_t *pt, size_t ptcap, size_t *ptlenp,
    struct sc_record *recp)
{
	struct sc_record rec;
	struct wbuf stmt;
	uint64_t now, skew;
	size_t n;
	int phase = sc_record_phase(type), rc;

	*ptlenp = 0;
	if ((rc = sc_record_parse(payload, len, &rec)) != 0)
		return rc;
	if (phase == 0 || !sc_record_dir_ok(type, ch->recv_dir) ||
	    !ch->have_keys[phase - 1] || ch->peer_key == NULL)
		return SC_E_PROTOCOL;
	if (rec.ctlen > ptcap ||
	    rec.ctlen > SC_CT_LEN(sc_record_max_pt(type)))
		return SC_E_TOO_LARGE;

	/* 1. Signature over the statement rebuilt from our own state. */
	wbuf_init(&stmt, SC_STMT_MAX);
	if (sc_stmt_record(&stmt, ch->session_id, ch->recv_dir, type,
	    (uint8_t)phase, rec.seq, rec.ts, rec.iv, rec.ct, rec.ctlen) == -1) {
		wbuf_free(&stmt);
		return SC_E_INTERNAL;
	}
	rc = sc_rsa_verify(ch->peer_key, stmt.data, stmt.len, rec.sig,
	    rec.siglen);
	wbuf_free(&stmt);
	if (rc == -1)
		return SC_E_SIG_FAIL;

	/* 2. Exactly the next sequence number: no replay, no gap. */
	if (ch->recv_seq == UINT64_MAX || rec.seq != ch->recv_seq + 1)
		return SC_E_REPLAY;

	/* 3. Timestamp inside the window on either side of our clock. */
	now = ch->clock();
	skew = rec.ts > now ? rec.ts - now : now - rec.ts;
	if (skew > ch->stale_ms)
		return SC_E_STALE;

	/* 4. Decrypt; bad padding of a validly signed record is SIG_FAIL. */
	n = ptcap;
	if (sc_aes_cbc_decrypt(ch->key_recv[phase - 1], rec.iv, rec.ct,
	    rec.ctlen, pt, &n) == -1)
		return SC_E_SIG_FAIL;
	if (n > sc_record_max_pt(type)) {
		OPENSSL_cleanse(pt, n);
		return SC_E_TOO_LARGE;
	}

	/* Only now, with everything checked, commit the replay state. */
	ch->recv_seq = rec.seq;
	*ptlenp = n;
	if (recp != NULL)
		*recp = rec;
	return 0;
}

int
record_sign_local(void *arg, const struct record_sign_req *req, uint8_t *sig,
    size_t *siglen)
{
	return sc_rsa_sign(arg, req->stmt, req->stmtlen, sig, siglen);
}
