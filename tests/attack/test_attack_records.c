/*
 * test_attack_records.c: chat records attacked field by field.
 *
 * A logged-in session (csession: the honest parts) sends one honest
 * message, then a record built by hand (hrecord) with one thing wrong.
 * PROTOCOL.md §3 fixes the receiver's order: type allowed in the state
 * (PROTOCOL), signature (SIG_FAIL), seq == last + 1 (REPLAY), timestamp
 * window (STALE), decryption (bad padding is SIG_FAIL too).  Each case
 * asserts that exact code, the audit line of that connection, that the
 * worker refused (exit 1) rather than crashed, and arena_check: the
 * session's own transcript and every other file already written are
 * byte-identical (the rejected record was never logged), and the daemon,
 * its helpers and the witness session carry on.
 *
 * The daemon runs with stale_window 10 s; stale cases are 70 s off.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "hostile.h"
#include "sccrypto.h"
#include "util.h"

#define WINDOW_MS	10000ULL

static struct arena A;

static int
setup(void **state)
{
	(void)state;
	return arena_setup(&A, "attack-records", "stale_window 10\n");
}

static int
teardown(void **state)
{
	(void)state;
	arena_teardown(&A);
	return 0;
}

/* A logged-in session with one honest exchange already in its transcript. */
static struct csession *
victim(void)
{
	struct csession *cs = arena_login(&A, "alice");

	assert_non_null(cs);
	assert_int_equal(arena_chat(cs, "before the attack"), 0);
	return cs;
}

/* The refusal of cs, then everything else still as it was. */
static void
expect(struct csession *cs, struct hsnap *s, int code, const char *event)
{
	assert_int_equal(arena_expect_refusal(&A, s, csession_fd(cs), code,
	    event), 0);
	csession_free(cs);
	assert_int_equal(arena_check(&A, s), 0);
}

static int
lines_of(const char *path)
{
	char *t = tu_read(path, NULL), *p;
	int n = 0;

	if (t == NULL)
		return -1;
	for (p = t; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	free(t);
	return n;
}

/* The checker itself: damage to a file already written is caught. */
static void
test_arena_detects_damage(void **state)
{
	struct csession *cs;
	struct hsnap s;
	char path[PATH_MAX], *saved;
	size_t len;

	(void)state;
	cs = victim();
	assert_int_equal(arena_transcript_of(&A, csession_fd(cs), path,
	    sizeof(path)), 0);
	assert_int_equal(lines_of(path), 2);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	saved = tu_read(path, &len);
	assert_non_null(saved);
	assert_int_equal(tu_write(path, saved, len - 1), 0);
	assert_int_equal(arena_check(&A, &s), -1);
	assert_int_equal(tu_write(path, saved, len), 0);
	free(saved);
	csession_free(cs);
}

/* ---- Every field tampered after signing: SIG_FAIL ---- */

enum tamper {
	T_SEQ, T_TS, T_IV, T_CT_FIRST, T_CT_LAST, T_SIG, T_TYPE_CLOSE,
	T_CT_SHORTER, T_SIG_SHORTER, T_NONE
};

static const char *const tamper_names[] = {
	"seq", "ts", "iv", "ct first block", "ct last block", "sig",
	"frame type CHAT->CLOSE", "ct one block shorter", "sig one byte shorter",
	"nothing (control)"
};

static void
tamper_case(enum tamper t)
{
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	struct wbuf b;
	uint8_t type = SC_T_CHAT;
	size_t off, len;
	char reply[64];

	fprintf(stderr, "tamper: %s\n", tamper_names[t]);
	cs = victim();
	assert_int_equal(arena_snapshot(&A, &s), 0);
	/* 40 bytes of text: a ciphertext of three blocks. */
	assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key,
	    "this message gets tampered on the way..", 39, 0), 0);
	wbuf_init(&b, 2 * SC_MAX_PAYLOAD);
	assert_int_equal(hrecord_encode(&r, &b), 0);
	switch (t) {
	case T_SEQ:
		assert_int_equal(hrecord_field(b.data, b.len, HREC_SEQ, &off,
		    &len), 0);
		b.data[off + 7] ^= 0x02;	/* 3 -> 1 */
		break;
	case T_TS:
		assert_int_equal(hrecord_field(b.data, b.len, HREC_TS, &off,
		    &len), 0);
		b.data[off + 7] ^= 0x01;	/* 1 ms: inside the window */
		break;
	case T_IV:
		assert_int_equal(hrecord_field(b.data, b.len, HREC_IV, &off,
		    &len), 0);
		b.data[off + 15] ^= 0x01;
		break;
	case T_CT_FIRST:
	case T_CT_LAST:
		assert_int_equal(hrecord_field(b.data, b.len, HREC_CT, &off,
		    &len), 0);
		assert_int_equal(len, 48);
		b.data[off + (t == T_CT_FIRST ? 0 : len - 1)] ^= 0x80;
		break;
	case T_SIG:
		assert_int_equal(hrecord_field(b.data, b.len, HREC_SIG, &off,
		    &len), 0);
		b.data[off + len / 2] ^= 0x01;
		break;
	case T_TYPE_CLOSE:
		type = SC_T_CLOSE;	/* also allowed in a session */
		break;
	case T_CT_SHORTER:
		r.ctlen -= 16;
		wbuf_reset(&b);
		assert_int_equal(hrecord_encode(&r, &b), 0);
		break;
	case T_SIG_SHORTER:
		r.siglen--;
		wbuf_reset(&b);
		assert_int_equal(hrecord_encode(&r, &b), 0);
		break;
	case T_NONE:
		break;
	}
	assert_int_equal(hostile_send_frame(csession_fd(cs), type, b.data,
	    b.len), 0);
	if (t == T_NONE) {
		size_t n;

		/* The same path untouched is accepted: the cases are sound. */
		assert_int_equal(csession_recv_chat(cs, 20000, reply,
		    sizeof(reply), &n), 1);
		assert_string_equal(reply,
		    "echo: this message gets tampered on the way..");
		hsnap_free(&s);
		csession_free(cs);
	} else
		expect(cs, &s, SC_E_SIG_FAIL, "tamper_rejected");
	hrecord_free(&r);
	wbuf_free(&b);
}

static void
test_tamper_each_field(void **state)
{
	int t;

	(void)state;
	for (t = T_SEQ; t <= T_NONE; t++)
		tamper_case((enum tamper)t);
}

/*
 * What the statement binds besides the wire fields: session id,
 * direction, type and phase.  The record is signed again over the
 * changed statement, so the signature is valid for *something*, just not
 * for this record in this session.
 */
static void
test_statement_fields(void **state)
{
	static const char *const what[] = { "session id", "direction",
	    "type LOGIN", "phase 1" };
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		fprintf(stderr, "statement: %s\n", what[i]);
		cs = victim();
		assert_int_equal(arena_snapshot(&A, &s), 0);
		assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "bound",
		    5, 0), 0);
		switch (i) {
		case 0:
			r.sid[0] ^= 1;
			break;
		case 1:
			r.dir = SC_DIR_S2C;
			break;
		case 2:
			r.type = SC_T_LOGIN;
			break;
		case 3:
			r.phase = SC_PHASE_TEMP;
			break;
		}
		assert_int_equal(hrecord_sign(&r, cs->key), 0);
		assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
		expect(cs, &s, SC_E_SIG_FAIL, "tamper_rejected");
		hrecord_free(&r);
	}
}

/* A record type the session state does not allow: PROTOCOL first. */
static void
test_type_not_allowed(void **state)
{
	static const uint8_t types[] = { SC_T_LOGIN, SC_T_REGISTER,
	    SC_T_CLOSE_ACK, SC_T_AUTH_OK, SC_T_CLIENT_HELLO,
	    SC_T_CLIENT_FINISH };
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(types); i++) {
		cs = victim();
		assert_int_equal(arena_snapshot(&A, &s), 0);
		assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "typed", 5,
		    0), 0);
		r.frame_type = types[i];
		assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
		expect(cs, &s, SC_E_PROTOCOL, "protocol_violation");
		hrecord_free(&r);
	}
}

/* ---- Sequence numbers: REPLAY ---- */

static void
send_ok(struct csession *cs, const struct hrecord *r, const char *text)
{
	char reply[SC_MAX_TEXT + 1], want[SC_MAX_TEXT + 16];
	size_t n;

	assert_int_equal(hrecord_log(r, cs), 0);
	assert_int_equal(hrecord_send(r, csession_fd(cs)), 0);
	assert_int_equal(csession_recv_chat(cs, 20000, reply, sizeof(reply),
	    &n), 1);
	snprintf(want, sizeof(want), "echo: %s", text);
	assert_string_equal(reply, want);
}

static void
test_replay(void **state)
{
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;

	(void)state;
	cs = victim();
	assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "once", 4, 0), 0);
	send_ok(cs, &r, "once");
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
	expect(cs, &s, SC_E_REPLAY, "replay_rejected");
	hrecord_free(&r);
}

static void
test_reorder_and_skip(void **state)
{
	struct csession *cs;
	struct hrecord r1, r2;
	struct hsnap s;

	(void)state;
	/* Reordered: n+2 before n+1. */
	cs = victim();
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hrecord_chat(&r1, &cs->ch, cs->key, "first", 5, 0), 0);
	assert_int_equal(hrecord_chat(&r2, &cs->ch, cs->key, "second", 6, 0),
	    0);
	assert_int_equal(hrecord_send(&r2, csession_fd(cs)), 0);
	assert_int_equal(hrecord_send(&r1, csession_fd(cs)), 0);
	expect(cs, &s, SC_E_REPLAY, "replay_rejected");
	hrecord_free(&r1);
	hrecord_free(&r2);

	/* Skipped: n+1 never sent. */
	cs = victim();
	assert_int_equal(arena_snapshot(&A, &s), 0);
	cs->ch.send_seq++;
	assert_int_equal(hrecord_chat(&r2, &cs->ch, cs->key, "gap", 3, 0), 0);
	assert_int_equal(hrecord_send(&r2, csession_fd(cs)), 0);
	expect(cs, &s, SC_E_REPLAY, "replay_rejected");
	hrecord_free(&r2);
}

/* The same record twice in a row: the first counts, the second not. */
static void
test_duplicate(void **state)
{
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	char path[PATH_MAX], reply[64];
	size_t n;

	(void)state;
	cs = victim();
	assert_int_equal(arena_transcript_of(&A, csession_fd(cs), path,
	    sizeof(path)), 0);
	assert_int_equal(lines_of(path), 2);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "dup", 3, 0), 0);
	assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
	assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
	assert_int_equal(csession_recv_chat(cs, 20000, reply, sizeof(reply),
	    &n), 1);
	assert_string_equal(reply, "echo: dup");
	assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(cs),
	    SC_E_REPLAY, "replay_rejected"), 0);
	/* Exactly the first copy and its echo were logged. */
	assert_int_equal(lines_of(path), 4);
	hsnap_free(&s);
	csession_free(cs);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(arena_check(&A, &s), 0);
	hrecord_free(&r);
}

/* Correctly signed, impossible sequence numbers. */
static void
test_seq_values(void **state)
{
	static const uint64_t seqs[] = { 0, 1, 2, UINT64_MAX, 1ULL << 63 };
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		fprintf(stderr, "seq %llu\n", (unsigned long long)seqs[i]);
		cs = victim();		/* its next seq is 3 (LOGIN, CHAT) */
		assert_int_equal(cs->ch.send_seq, 2);
		assert_int_equal(arena_snapshot(&A, &s), 0);
		assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "seq", 3,
		    0), 0);
		r.seq = seqs[i];
		assert_int_equal(hrecord_sign(&r, cs->key), 0);
		assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
		expect(cs, &s, SC_E_REPLAY, "replay_rejected");
		hrecord_free(&r);
	}
}

/* ---- Records moved between sessions and directions ---- */

static void
test_inject_other_session(void **state)
{
	struct csession *a, *b;
	struct hrecord r;
	struct hsnap s;

	(void)state;
	a = victim();
	b = victim();
	/* Same user, same certificate, same next seq: only the session differs. */
	assert_int_equal(a->ch.send_seq, b->ch.send_seq);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hrecord_chat(&r, &a->ch, a->key, "for A only", 10, 0),
	    0);
	a->ch.send_seq--;	/* never sent on A */
	assert_int_equal(hrecord_send(&r, csession_fd(b)), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(b),
	    SC_E_SIG_FAIL, "tamper_rejected"), 0);
	csession_free(b);
	/* A is untouched and still works (its transcript grows now). */
	hsnap_free(&s);
	assert_int_equal(arena_chat(a, "A still works"), 0);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	csession_free(a);
	assert_int_equal(arena_check(&A, &s), 0);
	hrecord_free(&r);
}

/* A record from a session that has ended, replayed into a new one. */
static void
test_inject_from_closed_session(void **state)
{
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;

	(void)state;
	cs = victim();
	assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "old", 3, 0), 0);
	send_ok(cs, &r, "old");
	assert_int_equal(csession_close(cs, NULL, NULL), 0);
	csession_free(cs);

	cs = victim();
	assert_int_equal(cs->ch.send_seq, 2);
	/* Same seq as the old one would need here. */
	cs->ch.send_seq = r.seq - 1;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
	expect(cs, &s, SC_E_SIG_FAIL, "tamper_rejected");
	hrecord_free(&r);
}

/* The server's own echo record sent back to it (a reflection). */
static void
test_reflect_server_record(void **state)
{
	struct csession *cs;
	struct sc_frame f = { 0 };
	struct hsnap s;
	int ec;

	(void)state;
	cs = victim();
	assert_int_equal(csession_send_chat(cs, "mirror", 6), 0);
	assert_int_equal(sc_frame_read(csession_fd(cs), 20000, &f, &ec), 1);
	assert_int_equal(f.type, SC_T_CHAT);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	/* Its seq is not the next the server expects either, but the
	 * signature is checked first. */
	assert_int_equal(hostile_send_frame(csession_fd(cs), SC_T_CHAT,
	    f.payload, f.len), 0);
	expect(cs, &s, SC_E_SIG_FAIL, "tamper_rejected");
	sc_frame_free(&f);
}

/* ---- Timestamps: STALE ---- */

static void
test_stale_and_future(void **state)
{
	const uint64_t now = now_ms();
	const uint64_t ts[] = { now - 7 * WINDOW_MS, now + 7 * WINDOW_MS, 1,
	    UINT64_MAX };
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	size_t i;

	(void)state;
	/* Control: 3 s old is inside the 10 s window. */
	cs = victim();
	assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "a bit late", 10,
	    now_ms() - 3000), 0);
	send_ok(cs, &r, "a bit late");
	hrecord_free(&r);
	csession_free(cs);

	for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		fprintf(stderr, "ts %llu (now %llu)\n",
		    (unsigned long long)ts[i], (unsigned long long)now);
		cs = victim();
		assert_int_equal(arena_snapshot(&A, &s), 0);
		assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "when?", 5,
		    ts[i]), 0);
		assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
		expect(cs, &s, SC_E_STALE, "stale_rejected");
		hrecord_free(&r);
	}
}

/* ---- Bad padding under a valid signature: SIG_FAIL ---- */

static void
test_bad_padding(void **state)
{
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	uint8_t block[32], key[SC_AES_KEY_LEN], out[64];
	size_t n;
	int i, tries;

	(void)state;
	/* Control: raw blocks with correct padding are accepted. */
	cs = victim();
	memset(block, 0x0c, 16);
	block[0] = 0;
	block[1] = 2;
	memcpy(block + 2, "ok", 2);
	assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "x", 1, 0), 0);
	assert_int_equal(hrecord_encrypt(&r, cs->ch.key_send[1], block, 16, 0),
	    0);
	assert_int_equal(hrecord_sign(&r, cs->key), 0);
	send_ok(cs, &r, "ok");
	hrecord_free(&r);
	csession_free(cs);

	for (i = 0; i < 4; i++) {
		cs = victim();
		assert_int_equal(arena_snapshot(&A, &s), 0);
		assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "x", 1, 0),
		    0);
		memset(block, 0, sizeof(block));
		block[1] = 2;
		memcpy(block + 2, "ok", 2);
		switch (i) {
		case 0:		/* pad byte 0 */
			block[31] = 0x00;
			break;
		case 1:		/* pad byte over the block size */
			block[31] = 0x11;
			break;
		case 2:		/* 3 claimed, the byte before is not 3 */
			block[29] = 0x07;
			block[30] = 0x03;
			block[31] = 0x03;
			break;
		case 3:		/* sealed under a wrong key (see below) */
			break;
		}
		if (i < 3)
			assert_int_equal(hrecord_encrypt(&r,
			    cs->ch.key_send[1], block, 32, 0), 0);
		else {
			/*
			 * A wrong key whose ciphertext, decrypted with the
			 * right one, certainly has bad padding (checked
			 * here, so the case does not depend on luck).
			 */
			for (tries = 0; tries < 1000; tries++) {
				assert_int_equal(RAND_bytes(key, sizeof(key)),
				    1);
				assert_int_equal(hrecord_encrypt(&r, key,
				    "\0\x02ok", 4, 1), 0);
				n = sizeof(out);
				if (sc_aes_cbc_decrypt(cs->ch.key_send[1], r.iv,
				    r.ct, r.ctlen, out, &n) == -1)
					break;
			}
			assert_true(tries < 1000);
		}
		/* The signature is over exactly these bytes: valid. */
		assert_int_equal(hrecord_sign(&r, cs->key), 0);
		assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
		expect(cs, &s, SC_E_SIG_FAIL, "tamper_rejected");
		hrecord_free(&r);
	}
}

/* ---- Sizes of the record's fields ---- */

static void
test_field_sizes(void **state)
{
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	uint8_t *big;
	int i;

	(void)state;
	big = calloc(1, SC_MAX_CT + 16);
	assert_non_null(big);
	for (i = 0; i < 5; i++) {
		int want = SC_E_PROTOCOL;
		const char *ev = "bad_record";

		cs = victim();
		assert_int_equal(arena_snapshot(&A, &s), 0);
		assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "size", 4,
		    0), 0);
		switch (i) {
		case 0:		/* not a multiple of the block size */
			r.ctlen = 17;
			break;
		case 1:		/* empty ciphertext */
			r.ctlen = 0;
			break;
		case 2:		/* a CHAT can never be that long */
			assert_int_equal(hrecord_encrypt(&r,
			    cs->ch.key_send[1], big,
			    SC_CT_LEN(SC_MAX_TEXT + 2) + 16, 0), 0);
			assert_int_equal(hrecord_sign(&r, cs->key), 0);
			want = SC_E_TOO_LARGE;
			break;
		case 3:		/* no signature */
			r.siglen = 0;
			break;
		case 4:		/* over 512 bytes of signature */
			r.siglen = SC_MAX_SIG + 1;
			want = SC_E_TOO_LARGE;
			break;
		}
		assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
		expect(cs, &s, want, ev);
		hrecord_free(&r);
	}
	free(big);
}

/*
 * ---- CLOSE with a forged receipt: nothing saved ----
 * A receipt signed by another key is SIG_FAIL; a validly signed receipt
 * over another state of the transcript is PROTOCOL (PROTOCOL.md §6.4).
 */

static void
test_forged_receipts(void **state)
{
	struct sc_receipt rc;
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	struct wbuf stmt, body;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		cs = victim();
		assert_int_equal(arena_snapshot(&A, &s), 0);
		memset(&rc, 0, sizeof(rc));
		memcpy(rc.session_id, cs->ch.session_id, SC_SESSION_ID_LEN);
		rc.role = SC_ROLE_CLIENT;
		memcpy(rc.peer_fp, cs->peer_fp, SC_SHA256_LEN);
		assert_int_equal(transcript_digest(&cs->tr,
		    rc.transcript_sha256, &rc.first_seq, &rc.last_seq), 0);
		if (i == 0)		/* the hash of another transcript */
			rc.transcript_sha256[0] ^= 1;
		if (i == 1)		/* a range with a line we never had */
			rc.first_seq--;
		wbuf_init(&stmt, SC_STMT_MAX);
		wbuf_init(&body, SC_MAX_PAYLOAD);
		assert_int_equal(sc_stmt_receipt(&stmt, &rc), 0);
		rc.siglen = sizeof(rc.sig);
		/* i == 2: right content, signed by someone else's key. */
		assert_non_null(hostile_rsa_key(0));
		assert_int_equal(sc_rsa_sign(i == 2 ? hostile_rsa_key(0) :
		    cs->key, stmt.data, stmt.len, rc.sig, &rc.siglen), 0);
		assert_int_equal(sc_receipt_encode(&body, &rc), 0);
		assert_int_equal(hrecord_build(&r, &cs->ch, cs->key,
		    SC_T_CLOSE, body.data, body.len, 0), 0);
		assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
		/* arena_check: no receipt file appeared for it. */
		expect(cs, &s, i == 2 ? SC_E_SIG_FAIL : SC_E_PROTOCOL,
		    "receipt_rejected");
		hrecord_free(&r);
		wbuf_free(&stmt);
		wbuf_free(&body);
	}
}

/* ---- The client receiving: the same checks in csession ---- */

enum s2c_mode { S2C_FLIP_LAST, S2C_FLIP_CT, S2C_REPLAY_FIRST };

struct s2c_attack {
	uint8_t		 type;		/* frames of this type... */
	int		 nth;		/* ...the nth of them is attacked */
	enum s2c_mode	 mode;
	int		 seen;
	uint8_t		*first;		/* copy of the first one */
	size_t		 firstlen;
};

static int
s2c_mutate(struct hrelay *rl, struct sc_frame *f)
{
	struct s2c_attack *at = rl->arg;
	size_t off, len;

	if (f->type != at->type)
		return 1;
	if (++at->seen == 1 && at->mode == S2C_REPLAY_FIRST &&
	    (at->first = malloc(f->len)) != NULL) {
		memcpy(at->first, f->payload, f->len);
		at->firstlen = f->len;
	}
	if (at->seen != at->nth)
		return 1;
	switch (at->mode) {
	case S2C_FLIP_LAST:
		f->payload[f->len - 1] ^= 0x01;
		break;
	case S2C_FLIP_CT:
		if (hrecord_field(f->payload, f->len, HREC_CT, &off, &len) == 0)
			f->payload[off] ^= 0x01;
		break;
	case S2C_REPLAY_FIRST:
		if (at->first != NULL) {
			free(f->payload);
			f->payload = at->first;
			f->len = at->firstlen;
			at->first = NULL;
		}
		break;
	}
	return 1;
}

/*
 * Alice's client through a relay that attacks one server->client frame:
 * the client refuses it with want (found locally, not said by the
 * server), tells the server so (its audit has the client's ERROR), and
 * logs nothing it did not accept.
 */
static void
client_case(uint8_t type, int nth, enum s2c_mode mode, int want)
{
	struct s2c_attack at = { type, nth, mode, 0, NULL, 0 };
	struct csession_err err;
	struct csession *cs;
	struct hrelay rl;
	struct hsnap s;
	char reply[64], code[64];
	uint64_t lines;
	size_t n;
	int saved, rc;

	fprintf(stderr, "client receives a bad %s (#%d)\n", sc_type_name(type),
	    nth);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	memset(&rl, 0, sizeof(rl));
	rl.s2c = s2c_mutate;
	rl.arg = &at;
	assert_int_equal(hrelay_start(&rl, A.env.port), 0);
	saved = A.env.port;
	A.env.port = rl.port;
	cs = arena_open(&A, "alice", &err);
	A.env.port = saved;
	if (type == SC_T_SERVER_HELLO) {
		assert_null(cs);
		rc = err.code;
		assert_int_equal(err.remote, 0);
	} else {
		assert_non_null(cs);
		if (type == SC_T_AUTH_OK)
			rc = csession_login(cs, ARENA_USER, ARENA_PASS);
		else {
			assert_int_equal(csession_login(cs, ARENA_USER,
			    ARENA_PASS), 0);
			assert_int_equal(arena_chat(cs, "first"), 0);
			lines = cs->tr.nlines;
			if (type == SC_T_CHAT) {
				assert_int_equal(csession_send_chat(cs, "second",
				    6), 0);
				rc = csession_recv_chat(cs, 20000, reply,
				    sizeof(reply), &n);
				/* Only our own line was logged. */
				assert_int_equal(cs->tr.nlines, lines + 1);
			} else
				rc = csession_close(cs, NULL, NULL);
		}
		assert_int_equal(rc, -1);
		assert_int_equal(cs->err.remote, 0);
		rc = cs->err.code;
		csession_free(cs);
	}
	assert_int_equal(rc, want);
	hrelay_wait(&rl);
	free(at.first);
	/* The server heard why (after CLOSE_ACK it has already gone). */
	snprintf(code, sizeof(code), "\"code\":\"%s\"", sc_err_name(want));
	if (type != SC_T_CLOSE_ACK)
		assert_int_equal(arena_audit_wait(&A, &s, 10000,
		    "\"event\":\"client_error\"", code, NULL), 0);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_client_refuses_bad_records(void **state)
{
	(void)state;
	/* The last byte of SERVER_HELLO is in its signature. */
	client_case(SC_T_SERVER_HELLO, 1, S2C_FLIP_LAST, SC_E_SIG_FAIL);
	client_case(SC_T_AUTH_OK, 1, S2C_FLIP_CT, SC_E_SIG_FAIL);
	client_case(SC_T_AUTH_OK, 1, S2C_FLIP_LAST, SC_E_SIG_FAIL);
	client_case(SC_T_CHAT, 2, S2C_FLIP_CT, SC_E_SIG_FAIL);
	client_case(SC_T_CHAT, 2, S2C_FLIP_LAST, SC_E_SIG_FAIL);
	client_case(SC_T_CHAT, 2, S2C_REPLAY_FIRST, SC_E_REPLAY);
	client_case(SC_T_CLOSE_ACK, 1, S2C_FLIP_CT, SC_E_SIG_FAIL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_detects_damage),
		cmocka_unit_test(test_tamper_each_field),
		cmocka_unit_test(test_statement_fields),
		cmocka_unit_test(test_type_not_allowed),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_reorder_and_skip),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_seq_values),
		cmocka_unit_test(test_inject_other_session),
		cmocka_unit_test(test_inject_from_closed_session),
		cmocka_unit_test(test_reflect_server_record),
		cmocka_unit_test(test_stale_and_future),
		cmocka_unit_test(test_bad_padding),
		cmocka_unit_test(test_field_sizes),
		cmocka_unit_test(test_forged_receipts),
		cmocka_unit_test(test_client_refuses_bad_records),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("attack_records", tests, setup,
	    teardown);
}
