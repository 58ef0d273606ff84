/*
 * test_attack_handshake.c: the handshake attacked step by step.
 *
 * Messages out of order, repeated and missing; invalid X25519 values in
 * both key exchanges; CLIENT_FINISH signed by the wrong key or over
 * another session's transcript; a man in the middle relaying between two
 * sessions; version downgrades.  Each case asserts the exact code, the
 * audit line of that connection, a refusal (exit 1) rather than a crash,
 * and arena_check: the daemon, its helpers and the witness session keep
 * working and nothing already written changed.
 *
 * What the protocol guarantees against a relay (PROTOCOL.md §2): the
 * server signs H1, the hash of the exact CLIENT_HELLO it received (client
 * certificate, nonce, X25519 value, version range) and of its own hello;
 * the client signs H2, which extends H1 with that signature.  So a
 * client accepts a SERVER_HELLO only for the very hello it sent, and a
 * CLIENT_FINISH is valid for exactly one server session.  An attacker
 * with a valid certificate of its own can relay bytes unchanged (and
 * learns nothing: the keys come from X25519 secrets it does not hold),
 * but cannot make any signature from one session count in another.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "hostile.h"
#include "sccrypto.h"

#define HS_TIMEOUT	5	/* seconds: handshake_timeout for this program */

static struct arena A;
static struct hid alice, carol;

static int
setup(void **state)
{
	(void)state;
	if (arena_setup(&A, "attack-hs", NULL) == -1)
		return -1;
	if (hid_load_ca(&alice, &A, "alice") == -1 ||
	    hid_load_ca(&carol, &A, "carol") == -1 ||
	    arena_reconfigure(&A, "handshake_timeout", "5") == -1) {
		arena_teardown(&A);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	hid_free(&alice);
	hid_free(&carol);
	arena_teardown(&A);
	return 0;
}

/* Connect and send a default hello as alice, changed by the caller. */
static void
hello_as(struct hconn *h, struct hhello *hh, const struct hid *id)
{
	assert_int_equal(hconn_connect(h, A.env.port), 0);
	assert_int_equal(hconn_hello_init(h, hh, id), 0);
}

/* Send the hello and get a verified SERVER_HELLO for it. */
static void
send_hello_get_sh(struct hconn *h, const struct hhello *hh)
{
	assert_int_equal(hconn_send_hello(h, hh), 0);
	assert_int_equal(hconn_recv_server_hello(h), 0);
	assert_true(h->server_sig_ok);
}

/* ---- Out of order, repeated ---- */

static void
test_finish_first(void **state)
{
	struct hsnap s;
	struct hconn h;
	uint8_t sig[256];

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hconn_connect(&h, A.env.port), 0);
	memset(sig, 0x5a, sizeof(sig));
	assert_int_equal(hconn_send_finish_sig(&h, sig, sizeof(sig)), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_PROTOCOL,
	    "protocol_violation"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_record_before_handshake(void **state)
{
	static const uint8_t types[] = { SC_T_CHAT, SC_T_LOGIN, SC_T_REGISTER,
	    SC_T_CLOSE, SC_T_SERVER_HELLO, SC_T_AUTH_OK };
	struct hsnap s;
	struct hconn h;
	uint8_t rec[8 + 8 + 16 + 4 + 32 + 2 + 256];
	size_t i;

	(void)state;
	/* Shaped like a record: seq 1, a ts, iv, 32 bytes ct, a 256-byte sig. */
	memset(rec, 0, sizeof(rec));
	rec[7] = 1;
	assert_int_equal(RAND_bytes(rec + 16, 16), 1);
	rec[35] = 32;
	rec[8 + 8 + 16 + 4 + 32] = 1;
	for (i = 0; i < sizeof(types); i++) {
		assert_int_equal(arena_snapshot(&A, &s), 0);
		assert_int_equal(hconn_connect(&h, A.env.port), 0);
		assert_int_equal(hostile_send_frame(h.fd, types[i], rec,
		    sizeof(rec)), 0);
		assert_int_equal(arena_expect_refusal(&A, &s, h.fd,
		    SC_E_PROTOCOL, "protocol_violation"), 0);
		hconn_close(&h);
		assert_int_equal(arena_check(&A, &s), 0);
	}
}

static void
test_hello_twice(void **state)
{
	struct hsnap s;
	struct hconn h;
	struct hhello hh;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h, &hh, &alice);
	send_hello_get_sh(&h, &hh);
	/* The same hello again where CLIENT_FINISH belongs. */
	assert_int_equal(hostile_send_frame(h.fd, SC_T_CLIENT_HELLO, h.chb,
	    h.chlen), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_PROTOCOL,
	    "protocol_violation"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_finish_twice(void **state)
{
	struct hsnap s;
	struct hconn h;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hconn_handshake(&h, A.env.port, &alice), 0);
	/* A second, equally valid CLIENT_FINISH where LOGIN belongs. */
	assert_int_equal(hconn_send_finish(&h, alice.key, NULL), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_PROTOCOL,
	    "protocol_violation"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* LOGIN again inside a session (phase 1 keys are still known). */
static void
test_login_twice(void **state)
{
	struct sc_login login;
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	struct wbuf b;

	(void)state;
	cs = arena_login(&A, "alice");
	assert_non_null(cs);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	memset(&login, 0, sizeof(login));
	login.username = (const uint8_t *)ARENA_USER;
	login.ulen = strlen(ARENA_USER);
	login.password = (const uint8_t *)ARENA_PASS;
	login.plen = strlen(ARENA_PASS);
	assert_int_equal(RAND_bytes(login.kex2, sizeof(login.kex2)), 1);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	assert_int_equal(sc_login_encode(&b, &login), 0);
	/* Under the temp keys, with the next client seq. */
	assert_int_equal(hrecord_build(&r, &cs->ch, cs->key, SC_T_LOGIN,
	    b.data, b.len, 0), 0);
	assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(cs),
	    SC_E_PROTOCOL, "protocol_violation"), 0);
	hrecord_free(&r);
	wbuf_free(&b);
	csession_free(cs);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* An ERROR from the client ends the handshake quietly (no answer). */
static void
test_client_error_midway(void **state)
{
	struct hsnap s;
	struct hconn h;
	struct hhello hh;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h, &hh, &alice);
	send_hello_get_sh(&h, &hh);
	assert_int_equal(sc_error_send(h.fd, 5000, SC_E_BAD_CERT,
	    "I do not like you"), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, HOSTILE_CLOSED,
	    "client_error"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* ---- Missing: nothing comes, the handshake timeout answers ---- */

static void
test_missing_messages_time_out(void **state)
{
	struct hsnap s;
	struct hconn quiet, nofinish, nologin;
	struct hhello hh;
	time_t t0;
	long dt;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	t0 = time(NULL);
	/* Three at once, so the suite waits once. */
	assert_int_equal(hconn_connect(&quiet, A.env.port), 0);
	hello_as(&nofinish, &hh, &alice);
	send_hello_get_sh(&nofinish, &hh);
	assert_int_equal(hconn_handshake(&nologin, A.env.port, &alice), 0);

	assert_int_equal(arena_expect_refusal(&A, &s, quiet.fd, SC_E_TIMEOUT,
	    "timeout"), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, nofinish.fd,
	    SC_E_TIMEOUT, "timeout"), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, nologin.fd, SC_E_TIMEOUT,
	    "timeout"), 0);
	dt = (long)(time(NULL) - t0);
	fprintf(stderr, "timeouts after %ld s (handshake_timeout %d)\n", dt,
	    HS_TIMEOUT);
	assert_true(dt >= HS_TIMEOUT - 1);
	assert_true(dt <= HS_TIMEOUT + 15);
	hconn_close(&quiet);
	hconn_close(&nofinish);
	hconn_close(&nologin);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* ---- Invalid X25519 values ---- */

/* Values whose X25519 with any clamped scalar is all zeros. */
static const uint8_t bad_points[][32] = {
	{ 0 },						/* 0 */
	{ 1 },						/* 1 */
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
	  0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
	  0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	{ 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
	  0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
	  0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57 },
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },	/* p */
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },	/* p+1 */
	/* 0 with the top bit set: X25519 ignores that bit. */
	{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	  0, 0, 0, 0, 0, 0, 0, 0, 0x80 },
};
#define NBAD	(sizeof(bad_points) / sizeof(bad_points[0]))

/* Each bad value really yields an all-zero secret (the test is sound). */
static void
test_bad_points_are_bad(void **state)
{
	EVP_PKEY *k;
	uint8_t pub[32], ss[32];
	size_t i;

	(void)state;
	assert_int_equal(sc_x25519_keygen(&k, pub), 0);
	for (i = 0; i < NBAD; i++)
		assert_int_equal(sc_x25519_derive(k, bad_points[i], 32, ss), -1);
	assert_int_equal(sc_x25519_derive(k, pub, 32, ss), 0);
	EVP_PKEY_free(k);
}

static void
test_invalid_client_kex(void **state)
{
	struct hsnap s;
	struct hconn h;
	struct hhello hh;
	size_t i;

	(void)state;
	for (i = 0; i < NBAD; i++) {
		assert_int_equal(arena_snapshot(&A, &s), 0);
		hello_as(&h, &hh, &alice);
		memcpy(hh.kex, bad_points[i], 32);
		send_hello_get_sh(&h, &hh);
		/* A valid signature over the hello with the bad value. */
		assert_int_equal(hconn_send_finish(&h, alice.key, NULL), 0);
		assert_int_equal(arena_expect_refusal(&A, &s, h.fd,
		    SC_E_PROTOCOL, "bad_hello"), 0);
		assert_int_equal(arena_audit_count(&A, &s,
		    "\"event\":\"handshake_ok\"", NULL), 0);
		hconn_close(&h);
		assert_int_equal(arena_check(&A, &s), 0);
	}
}

static void
test_wrong_length_kex(void **state)
{
	struct hsnap s;
	struct hconn h;
	struct hhello hh;

	(void)state;
	/* 31 bytes and nothing after: the hello is cut short. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h, &hh, &alice);
	{
		uint8_t p[2 + 32 + 31];

		p[0] = p[1] = 1;
		memcpy(p + 2, hh.nonce, 32);
		memcpy(p + 34, hh.kex, 31);
		assert_int_equal(hostile_send_frame(h.fd, SC_T_CLIENT_HELLO, p,
		    sizeof(p)), 0);
	}
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_PROTOCOL,
	    "bad_hello"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);

	/* 33 bytes: every later field shifts by one. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h, &hh, &alice);
	hh.kex[32] = 0;
	hh.kexlen = 33;
	assert_int_equal(hconn_send_hello(&h, &hh), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_PROTOCOL,
	    "bad_hello"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
}

/*
 * The second exchange: an invalid kex2 in LOGIN is PROTOCOL, refused
 * before authd is asked (no password check, no login recorded).
 */
static void
test_invalid_login_kex(void **state)
{
	struct sc_register reg;
	struct sc_login login;
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	struct wbuf b;
	char serial[64], authd[96];
	size_t i;

	(void)state;
	wbuf_init(&b, SC_MAX_PAYLOAD);
	for (i = 0; i < NBAD + 2; i++) {
		cs = arena_open(&A, "alice", NULL);
		assert_non_null(cs);
		assert_int_equal(arena_snapshot(&A, &s), 0);
		memset(&login, 0, sizeof(login));
		login.username = (const uint8_t *)ARENA_USER;
		login.ulen = strlen(ARENA_USER);
		login.password = (const uint8_t *)ARENA_PASS;
		login.plen = strlen(ARENA_PASS);
		wbuf_reset(&b);
		if (i < NBAD) {
			memcpy(login.kex2, bad_points[i], 32);
			assert_int_equal(sc_login_encode(&b, &login), 0);
		} else {
			/* 31 or 33 bytes of key share. */
			assert_int_equal(sc_login_encode(&b, &login), 0);
			if (i == NBAD)
				b.len--;
			else
				assert_int_equal(wbuf_put_u8(&b, 9), 0);
		}
		assert_int_equal(hrecord_build(&r, &cs->ch, cs->key,
		    SC_T_LOGIN, b.data, b.len, 0), 0);
		assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
		assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(cs),
		    SC_E_PROTOCOL, "bad_input"), 0);
		/* authd never saw a login for it. */
		assert_int_equal(arena_serial_of(&A, &s, csession_fd(cs),
		    serial, sizeof(serial), 1000), 0);
		snprintf(authd, sizeof(authd), "\"session_serial\":\"%.*s\"",
		    (int)strcspn(serial + 9, ","), serial + 9);
		assert_int_equal(arena_audit_count(&A, &s, "\"proc\":\"authd[",
		    authd, NULL), 0);
		hrecord_free(&r);
		csession_free(cs);
		assert_int_equal(arena_check(&A, &s), 0);
	}

	/* REGISTER with an all-zero kex2: no account may come of it. */
	cs = arena_open(&A, "bob", NULL);
	assert_non_null(cs);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	memset(&reg, 0, sizeof(reg));
	reg.username = (const uint8_t *)"zerokex";
	reg.ulen = 7;
	reg.email = (const uint8_t *)"zerokex@example.org";
	reg.elen = strlen("zerokex@example.org");
	reg.password = (const uint8_t *)"zerokex password";
	reg.plen = strlen("zerokex password");
	wbuf_reset(&b);
	assert_int_equal(sc_register_encode(&b, &reg), 0);
	assert_int_equal(hrecord_build(&r, &cs->ch, cs->key, SC_T_REGISTER,
	    b.data, b.len, 0), 0);
	assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(cs),
	    SC_E_PROTOCOL, "bad_input"), 0);
	hrecord_free(&r);
	csession_free(cs);
	/* arena_check: the accounts table is unchanged. */
	assert_int_equal(arena_check(&A, &s), 0);
	wbuf_free(&b);
}

/* ---- CLIENT_FINISH forgeries ---- */

static void
test_finish_wrong_key(void **state)
{
	struct hsnap s;
	struct hconn h;
	struct hhello hh;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h, &hh, &alice);
	send_hello_get_sh(&h, &hh);
	/* Alice's certificate, carol's (valid, CA-issued) key. */
	assert_int_equal(hconn_send_finish(&h, carol.key, NULL), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_SIG_FAIL,
	    "handshake_sig_fail"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);

	/* A fresh key nobody certified. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h, &hh, &alice);
	send_hello_get_sh(&h, &hh);
	assert_non_null(hostile_rsa_key(0));
	assert_int_equal(hconn_send_finish(&h, hostile_rsa_key(0), NULL), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_SIG_FAIL,
	    "handshake_sig_fail"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_finish_other_transcript(void **state)
{
	struct hsnap s;
	struct hconn h1, h2;
	struct hhello hh;
	uint8_t sig[SC_MAX_SIG], zero[SC_SHA256_LEN];
	struct wbuf stmt;
	size_t siglen = sizeof(sig);

	(void)state;
	/* Two live handshakes as alice; session 1's H2 signed into 2. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h1, &hh, &alice);
	send_hello_get_sh(&h1, &hh);
	hello_as(&h2, &hh, &alice);
	send_hello_get_sh(&h2, &hh);
	assert_int_equal(hconn_send_finish(&h2, alice.key, h1.h2), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h2.fd, SC_E_SIG_FAIL,
	    "handshake_sig_fail"), 0);
	/* Session 1 is still fine with its own. */
	assert_int_equal(hconn_send_finish(&h1, alice.key, NULL), 0);
	assert_int_equal(hconn_keys(&h1, alice.key), 0);
	hconn_close(&h1);
	hconn_close(&h2);
	assert_int_equal(arena_check(&A, &s), 0);

	/* H1 instead of H2 (the server's statement, not ours). */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h1, &hh, &alice);
	send_hello_get_sh(&h1, &hh);
	assert_int_equal(hconn_send_finish(&h1, alice.key, h1.h1), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h1.fd, SC_E_SIG_FAIL,
	    "handshake_sig_fail"), 0);
	hconn_close(&h1);
	assert_int_equal(arena_check(&A, &s), 0);

	/* The server's own signature sent back as ours (a reflection). */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h1, &hh, &alice);
	send_hello_get_sh(&h1, &hh);
	assert_int_equal(hconn_send_finish_sig(&h1, h1.sh.sig, h1.sh.siglen),
	    0);
	assert_int_equal(arena_expect_refusal(&A, &s, h1.fd, SC_E_SIG_FAIL,
	    "handshake_sig_fail"), 0);
	hconn_close(&h1);
	assert_int_equal(arena_check(&A, &s), 0);

	/* Alice's key over the client label and an all-zero H2. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h1, &hh, &alice);
	send_hello_get_sh(&h1, &hh);
	memset(zero, 0, sizeof(zero));
	wbuf_init(&stmt, SC_STMT_MAX);
	assert_int_equal(sc_stmt_client_handshake(&stmt, zero), 0);
	assert_int_equal(sc_rsa_sign(alice.key, stmt.data, stmt.len, sig,
	    &siglen), 0);
	wbuf_free(&stmt);
	assert_int_equal(hconn_send_finish_sig(&h1, sig, siglen), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h1.fd, SC_E_SIG_FAIL,
	    "handshake_sig_fail"), 0);
	hconn_close(&h1);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_finish_malformed(void **state)
{
	struct hsnap s;
	struct hconn h;
	struct hhello hh;
	uint8_t sig[600];

	(void)state;
	memset(sig, 0xa5, sizeof(sig));
	/* Garbage of the right size. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h, &hh, &alice);
	send_hello_get_sh(&h, &hh);
	assert_int_equal(hconn_send_finish_sig(&h, sig, 256), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_SIG_FAIL,
	    "handshake_sig_fail"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
	/* Empty. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h, &hh, &alice);
	send_hello_get_sh(&h, &hh);
	assert_int_equal(hconn_send_finish_sig(&h, sig, 0), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_PROTOCOL,
	    "bad_hello"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
	/* Over the 512-byte limit. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	hello_as(&h, &hh, &alice);
	send_hello_get_sh(&h, &hh);
	assert_int_equal(hconn_send_finish_sig(&h, sig, sizeof(sig)), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_TOO_LARGE,
	    "bad_hello"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* ---- A man in the middle ---- */

struct victim {
	pthread_t		 th;
	char			 port[16];
	struct csession		*cs;
	struct csession_err	 err;
};

static void *
victim_run(void *arg)
{
	struct victim *v = arg;
	struct csession_opts o;

	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = v->port;
	o.ca = scenv_ca_file(&A.env, "ca.pem");
	o.cert = scenv_ca_file(&A.env, "alice.pem");
	o.key = scenv_ca_file(&A.env, "alice.key");
	o.server_name = "localhost";
	o.timeout_ms = 20000;
	v->cs = csession_open(&o, &v->err);
	return NULL;
}

/* Alice connects to the attacker, believing it is the server. */
static int
victim_start(struct victim *v, int *lfdp)
{
	int port;

	memset(v, 0, sizeof(*v));
	if ((*lfdp = hostile_listen(&port)) == -1)
		return -1;
	snprintf(v->port, sizeof(v->port), "%d", port);
	return pthread_create(&v->th, NULL, victim_run, v) == 0 ? 0 : -1;
}

/*
 * The attacker (carol, with her own valid certificate) relays alice's
 * hello to the server with carol's certificate put in; the server signs
 * what it received, so alice refuses the relayed SERVER_HELLO and signs
 * nothing.  With the hello relayed unchanged but the version range
 * rewritten (a downgrade attempt), the same: H1 covers every byte.
 */
static void
mitm_rewrite_hello(int rewrite_versions)
{
	struct sc_client_hello vch;
	struct sc_frame f = { 0 };
	struct victim v;
	struct hsnap s;
	struct hconn h;
	struct hhello hh;
	int lfd, vfd, ec, code;

	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(victim_start(&v, &lfd), 0);
	vfd = hostile_accept(lfd, 20000);
	assert_true(vfd >= 0);
	assert_int_equal(sc_frame_read(vfd, 20000, &f, &ec), 1);
	assert_int_equal(f.type, SC_T_CLIENT_HELLO);
	assert_int_equal(sc_ch_parse(f.payload, f.len, &vch), 0);

	/* Alice's nonce and X25519 value, the attacker's changes. */
	assert_int_equal(hconn_connect(&h, A.env.port), 0);
	memset(&hh, 0, sizeof(hh));
	hh.min_version = vch.min_version;
	hh.max_version = rewrite_versions ? 255 : vch.max_version;
	memcpy(hh.nonce, vch.client_nonce, 32);
	memcpy(hh.kex, vch.client_kex, 32);
	hh.kexlen = 32;
	hh.cert = rewrite_versions ? vch.cert : carol.der;
	hh.certlen = rewrite_versions ? vch.certlen : carol.derlen;
	hh.certlen_field = -1;
	assert_int_equal(hconn_send_hello(&h, &hh), 0);
	assert_int_equal(hconn_recv_server_hello(&h), 0);
	/* A genuine server signature, over the hello the server got. */
	assert_true(h.server_sig_ok);
	assert_int_equal(hostile_send_frame(vfd, SC_T_SERVER_HELLO,
	    h.shf.payload, h.shf.len), 0);

	/* Alice refuses it and says so; no CLIENT_FINISH for anyone. */
	code = hostile_read_error(vfd, 20000, NULL, 0);
	pthread_join(v.th, NULL);
	assert_null(v.cs);
	assert_int_equal(v.err.code, SC_E_SIG_FAIL);
	assert_int_equal(code, SC_E_SIG_FAIL);

	/*
	 * Carol can finish the server side as herself, but the session's
	 * keys come from alice's X25519 secret: she holds nothing usable
	 * (and alice's identity was never involved).
	 */
	close(vfd);
	close(lfd);
	sc_frame_free(&f);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_mitm_substituted_certificate(void **state)
{
	(void)state;
	mitm_rewrite_hello(0);
}

static void
test_version_downgrade_in_the_middle(void **state)
{
	(void)state;
	mitm_rewrite_hello(1);
}

/*
 * The attacker relays alice's handshake unchanged (she completes it: the
 * relay is transparent) and keeps her CLIENT_FINISH; it then opens its
 * own session presenting alice's certificate with its own X25519 value
 * (so it would know those keys) and offers alice's CLIENT_FINISH there.
 * The server refuses: that signature covers the other session's H2.
 */
static void
test_mitm_relays_finish_into_other_session(void **state)
{
	struct sc_client_hello vch;
	struct sc_frame f = { 0 }, sh = { 0 }, cf = { 0 };
	struct victim v;
	struct hsnap s;
	struct hconn h2;
	struct hhello hh;
	char serial[64];
	int lfd, vfd, sfd, ec;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(victim_start(&v, &lfd), 0);
	vfd = hostile_accept(lfd, 20000);
	assert_true(vfd >= 0);
	assert_int_equal(sc_frame_read(vfd, 20000, &f, &ec), 1);
	assert_int_equal(f.type, SC_T_CLIENT_HELLO);
	assert_int_equal(sc_ch_parse(f.payload, f.len, &vch), 0);

	/* Session 1: the relay, byte for byte. */
	sfd = hostile_connect(A.env.port);
	assert_true(sfd >= 0);
	assert_int_equal(hostile_send_frame(sfd, SC_T_CLIENT_HELLO, f.payload,
	    f.len), 0);
	assert_int_equal(sc_frame_read(sfd, 20000, &sh, &ec), 1);
	assert_int_equal(sh.type, SC_T_SERVER_HELLO);
	assert_int_equal(hostile_send_frame(vfd, SC_T_SERVER_HELLO,
	    sh.payload, sh.len), 0);
	assert_int_equal(sc_frame_read(vfd, 20000, &cf, &ec), 1);
	assert_int_equal(cf.type, SC_T_CLIENT_FINISH);
	pthread_join(v.th, NULL);
	assert_non_null(v.cs);		/* alice sees a normal handshake */

	/* Session 2: alice's certificate, the attacker's key share. */
	assert_int_equal(hconn_connect(&h2, A.env.port), 0);
	assert_int_equal(hconn_hello_init(&h2, &hh, NULL), 0);
	hh.cert = vch.cert;
	hh.certlen = vch.certlen;
	assert_int_equal(hconn_send_hello(&h2, &hh), 0);
	assert_int_equal(hconn_recv_server_hello(&h2), 0);
	assert_int_equal(hostile_send_frame(h2.fd, SC_T_CLIENT_FINISH,
	    cf.payload, cf.len), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h2.fd, SC_E_SIG_FAIL,
	    "handshake_sig_fail"), 0);

	/* Session 1 with its own finish is accepted: alice's, not ours. */
	assert_int_equal(hostile_send_frame(sfd, SC_T_CLIENT_FINISH,
	    cf.payload, cf.len), 0);
	assert_int_equal(arena_serial_of(&A, &s, sfd, serial, sizeof(serial),
	    10000), 0);
	assert_int_equal(arena_audit_wait(&A, &s, 10000, serial,
	    "\"event\":\"handshake_ok\"", "\"cn\":\"alice\"", NULL), 0);

	csession_free(v.cs);
	close(sfd);
	close(vfd);
	close(lfd);
	sc_frame_free(&f);
	sc_frame_free(&sh);
	sc_frame_free(&cf);
	hconn_close(&h2);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* ---- Version ranges ---- */

static void
test_version_ranges(void **state)
{
	static const struct {
		uint8_t	min, max;
		int	want;		/* 0: accepted */
	} cases[] = {
		{ 0, 0, SC_E_PROTOCOL },	/* 0 is no version */
		{ 0, 1, SC_E_PROTOCOL },
		{ 2, 1, SC_E_PROTOCOL },	/* min > max */
		{ 255, 2, SC_E_PROTOCOL },
		{ 2, 2, SC_E_VERSION },
		{ 2, 255, SC_E_VERSION },
		{ 255, 255, SC_E_VERSION },
		{ 1, 1, 0 },
		{ 1, 255, 0 },			/* the server picks 1 */
	};
	struct hsnap s;
	struct hconn h;
	struct hhello hh;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fprintf(stderr, "versions %u..%u\n", cases[i].min,
		    cases[i].max);
		assert_int_equal(arena_snapshot(&A, &s), 0);
		hello_as(&h, &hh, &alice);
		hh.min_version = cases[i].min;
		hh.max_version = cases[i].max;
		if (cases[i].want != 0) {
			assert_int_equal(hconn_send_hello(&h, &hh), 0);
			assert_int_equal(arena_expect_refusal(&A, &s, h.fd,
			    cases[i].want, "bad_hello"), 0);
		} else {
			send_hello_get_sh(&h, &hh);
			assert_int_equal(h.sh.version, SC_PROTO_VERSION);
			assert_int_equal(hconn_send_finish(&h, alice.key, NULL),
			    0);
			assert_int_equal(arena_audit_wait(&A, &s, 10000,
			    "\"event\":\"handshake_ok\"", NULL), 0);
		}
		hconn_close(&h);
		assert_int_equal(arena_check(&A, &s), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finish_first),
		cmocka_unit_test(test_record_before_handshake),
		cmocka_unit_test(test_hello_twice),
		cmocka_unit_test(test_finish_twice),
		cmocka_unit_test(test_login_twice),
		cmocka_unit_test(test_client_error_midway),
		cmocka_unit_test(test_missing_messages_time_out),
		cmocka_unit_test(test_bad_points_are_bad),
		cmocka_unit_test(test_invalid_client_kex),
		cmocka_unit_test(test_wrong_length_kex),
		cmocka_unit_test(test_invalid_login_kex),
		cmocka_unit_test(test_finish_wrong_key),
		cmocka_unit_test(test_finish_other_transcript),
		cmocka_unit_test(test_finish_malformed),
		cmocka_unit_test(test_mitm_substituted_certificate),
		cmocka_unit_test(test_version_downgrade_in_the_middle),
		cmocka_unit_test(test_mitm_relays_finish_into_other_session),
		cmocka_unit_test(test_version_ranges),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("attack_handshake", tests, setup,
	    teardown);
}
