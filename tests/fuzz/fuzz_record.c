/*
 * fuzz_record.c: the record layer's receive path, record_open()
 * (common/record.c), as the worker runs it on every record after the
 * handshake: parse, direction and phase, signature, seq, timestamp,
 * decryption and padding, then the plaintext body parsers.
 *
 * A fuzzer cannot forge an RSA signature, so the harness plays the
 * client: it holds the client key (made at set-up, never stored) and can
 * sign whatever the input says, so that the checks behind the signature
 * (replay, staleness, padding, body size, the bodies) are reached.
 *
 * Input: any number of steps, each
 *	u8 op, u8 type, u16 length, then length bytes of data
 * op % 3 == 0	seal data as the plaintext of type with record_seal_at
 *		(ts: the clock + the op's high bits in seconds), then open
 * op % 3 == 1	data is ts(8, offset from the clock) iv(16) ct(the rest,
 *		cut to a multiple of 16): signed by the harness for seq
 *		recv_seq + 1 + ((op >> 2) & 3) - 1, then opened
 * op % 3 == 2	data is a record payload opened as it is (unsigned)
 * Properties: a sealed record opens to the same plaintext; a failure is
 * one of the documented codes and leaves the replay state alone; a
 * record signed for the wrong seq is REPLAY (never accepted); a record
 * opened advances the seq by exactly one.
 */
#include <openssl/evp.h>

#include "pki.h"
#include "record.h"
#include "sccrypto.h"
#include "fuzz_payload.h"

#define RECORD_FZ_NOW	1700000000000ULL	/* the receiver's clock, ms */

static EVP_PKEY *record_fz_key;

static uint64_t
record_fz_clock(void)
{
	return RECORD_FZ_NOW;
}

static int
record_fz_init(void)
{
	record_fz_key = fuzz_rsa_key();
	return record_fz_key != NULL ? 0 : -1;
}

/* What the worker does with an opened record's plaintext. */
static void
record_fz_body(uint8_t type, const uint8_t *pt, size_t n)
{
	switch (type) {
	case SC_T_REGISTER:
		fz_register(pt, n);
		break;
	case SC_T_LOGIN:
		fz_login(pt, n);
		break;
	case SC_T_CHAT:
		fz_chat(pt, n);
		break;
	case SC_T_CLOSE:
		fz_receipt(pt, n);
		break;
	case SC_T_SEND:
		fz_send(pt, n);
		break;
	case SC_T_ACK:
		fz_ack(pt, n);
		break;
	case SC_T_REQUEST:
		fz_request(pt, n);
		break;
	default:
		/* Only client -> server types open on the server. */
		FUZZ_CHECK(!"a server opened a server-to-client record");
	}
}

static int
record_fz_code_ok(int rc)
{
	return rc == 0 || rc == SC_E_PROTOCOL || rc == SC_E_TOO_LARGE ||
	    rc == SC_E_SIG_FAIL || rc == SC_E_REPLAY || rc == SC_E_STALE;
}

/* Open payload on the server; returns record_open's code. */
static int
record_fz_open(struct sc_channel *srv, uint8_t type, const uint8_t *p,
    size_t len, const uint8_t *want, size_t wantlen)
{
	static uint8_t pt[SC_MAX_CT];
	struct sc_record rec;
	uint64_t seq0 = srv->recv_seq;
	size_t ptlen = 0;
	int rc;

	rc = record_open(srv, type, p, len, pt, sizeof(pt), &ptlen, &rec);
	FUZZ_CHECK(record_fz_code_ok(rc));
	if (rc != 0) {
		/* Replay state is committed only for a record accepted. */
		FUZZ_CHECK(srv->recv_seq == seq0 && ptlen == 0);
		return rc;
	}
	FUZZ_CHECK(srv->recv_seq == seq0 + 1 && rec.seq == srv->recv_seq);
	FUZZ_CHECK(ptlen <= sc_record_max_pt(type) && ptlen < rec.ctlen + 1);
	if (want != NULL)
		FUZZ_CHECK(ptlen == wantlen && memcmp(pt, want, ptlen) == 0);
	record_fz_body(type, pt, ptlen);
	return 0;
}

/* Sign a record the way a client would, for any seq, and open it. */
static void
record_fz_signed(struct sc_channel *srv, uint8_t type, int delta,
    const uint8_t *d, size_t n)
{
	struct sc_record r;
	struct wbuf stmt, out;
	uint8_t sig[SC_MAX_SIG];
	uint64_t off = 0;
	size_t siglen = sizeof(sig), k;
	int phase = sc_record_phase(type), rc;

	if (n < 8 + SC_IV_LEN + 16 || phase == 0)
		return;
	for (k = 0; k < 8; k++)
		off = off << 8 | d[k];
	memset(&r, 0, sizeof(r));
	r.seq = srv->recv_seq + 1 + (uint64_t)(int64_t)delta;
	r.ts = RECORD_FZ_NOW + off;
	r.iv = d + 8;
	r.ct = d + 8 + SC_IV_LEN;
	r.ctlen = (n - 8 - SC_IV_LEN) / 16 * 16;
	if (r.ctlen > SC_MAX_CT)
		r.ctlen = SC_MAX_CT;
	wbuf_init(&stmt, SC_STMT_MAX);
	wbuf_init(&out, SC_MAX_PAYLOAD);
	if (sc_stmt_record(&stmt, srv->session_id, SC_DIR_C2S, type,
	    (uint8_t)phase, r.seq, r.ts, r.iv, r.ct, r.ctlen) == -1 ||
	    sc_rsa_sign(record_fz_key, stmt.data, stmt.len, sig,
	    &siglen) == -1)
		goto out;
	r.sig = sig;
	r.siglen = siglen;
	if (sc_record_encode(&out, &r) == -1)
		goto out;
	rc = record_fz_open(srv, type, out.data, out.len, NULL, 0);
	/* Well signed but not the next seq: refused, never SIG_FAIL-ed. */
	if (delta != 0 && sc_record_dir_ok(type, SC_DIR_C2S) &&
	    r.ctlen <= SC_CT_LEN(sc_record_max_pt(type)))
		FUZZ_CHECK(rc == SC_E_REPLAY);
 out:
	wbuf_free(&stmt);
	wbuf_free(&out);
}

static int
record_fz_one(const uint8_t *data, size_t size)
{
	struct sc_channel cli, srv;
	struct sc_dirkeys keys;
	struct wbuf out;
	uint8_t iv[SC_IV_LEN], op, type;
	size_t off = 0, n;
	int rc;

	memset(keys.c2s, 0x11, sizeof(keys.c2s));
	memset(keys.s2c, 0x22, sizeof(keys.s2c));
	memset(iv, 0x33, sizeof(iv));
	if (record_channel_init(&cli, SC_SIDE_CLIENT,
	    (const uint8_t *)"fuzz session id!", NULL, 0) == -1)
		return 0;
	if (record_channel_init(&srv, SC_SIDE_SERVER,
	    (const uint8_t *)"fuzz session id!", record_fz_key, 0) == -1) {
		record_channel_clear(&cli);
		return 0;
	}
	cli.clock = srv.clock = record_fz_clock;
	record_set_keys(&cli, SC_PHASE_TEMP, &keys);
	record_set_keys(&cli, SC_PHASE_SESSION, &keys);
	record_set_keys(&srv, SC_PHASE_TEMP, &keys);
	record_set_keys(&srv, SC_PHASE_SESSION, &keys);

	while (size - off >= 4) {
		op = data[off];
		type = data[off + 1];
		n = (size_t)data[off + 2] << 8 | data[off + 3];
		off += 4;
		if (n > size - off)
			n = size - off;
		switch (op % 3) {
		case 0:
			/* The client stays in step with the server's seq. */
			cli.send_seq = srv.recv_seq;
			wbuf_init(&out, SC_MAX_PAYLOAD);
			rc = record_seal_at(&cli, type, data + off, n,
			    RECORD_FZ_NOW + (uint64_t)(op >> 2) * 1000, iv,
			    record_sign_local, record_fz_key, &out);
			if (rc == 0)
				/* Sealed by the rules: must open, unchanged. */
				FUZZ_CHECK(record_fz_open(&srv, type, out.data,
				    out.len, data + off, n) == 0);
			else
				FUZZ_CHECK(rc == SC_E_PROTOCOL ||
				    rc == SC_E_TOO_LARGE);
			wbuf_free(&out);
			break;
		case 1:
			record_fz_signed(&srv, type, (int)((op >> 2) & 3) - 1,
			    data + off, n);
			break;
		default:
			(void)record_fz_open(&srv, type, data + off, n, NULL,
			    0);
			break;
		}
		off += n;
	}
	record_channel_clear(&cli);
	record_channel_clear(&srv);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(record_fz_init, record_fz_one)
#endif
