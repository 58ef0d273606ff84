/*
 * test_attack_framing.c: frames and payloads that are not what they
 * claim to be.
 *
 * Truncated frames (the peer closes: closed without an answer; the peer
 * waits: TIMEOUT at handshake_timeout), oversized length fields (TOO_LARGE
 * before any allocation: the worker's memory is sampled from /proc while
 * it answers), bad magic, version byte and type, invalid UTF-8, NUL bytes
 * and control characters in CHAT text and usernames, wrong types, extra
 * trailing bytes and missing fields at every layer (frame payload, record,
 * plaintext), binary garbage.  Each case asserts the exact code, the
 * audit line of that connection, a refusal and not a crash, and
 * arena_check (daemon, helpers, witness, everything written).
 *
 * The wire format is binary and flat: there is no JSON and no nesting on
 * the wire to attack; "invalid encoding" means the length-prefixed
 * fields and UTF-8 text here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "hostile.h"

#define HS_TIMEOUT	5

static struct arena A;
static struct hid alice;

static int
setup(void **state)
{
	(void)state;
	if (arena_setup(&A, "attack-framing", NULL) == -1)
		return -1;
	if (hid_load_ca(&alice, &A, "alice") == -1 ||
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
	arena_teardown(&A);
	return 0;
}

static struct csession *
victim(void)
{
	struct csession *cs = arena_login(&A, "alice");

	assert_non_null(cs);
	assert_int_equal(arena_chat(cs, "before the attack"), 0);
	return cs;
}

/* Bytes as the very first thing on a new connection; the answer. */
static void
raw_case(const void *bytes, size_t len, int want, const char *event)
{
	struct hsnap s;
	int fd;

	assert_int_equal(arena_snapshot(&A, &s), 0);
	fd = hostile_connect(A.env.port);
	assert_true(fd >= 0);
	assert_int_equal(hostile_send(fd, bytes, len), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, fd, want, event), 0);
	close(fd);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* A frame as the first thing on a new connection. */
static void
frame_case(uint8_t type, const void *payload, size_t len, int want,
    const char *event)
{
	struct hsnap s;
	int fd;

	assert_int_equal(arena_snapshot(&A, &s), 0);
	fd = hostile_connect(A.env.port);
	assert_true(fd >= 0);
	assert_int_equal(hostile_send_frame(fd, type, payload, len), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, fd, want, event), 0);
	close(fd);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* ---- Headers ---- */

static void
test_bad_magic(void **state)
{
	static const uint8_t m[][2] = { { 'X', 'X' }, { 'C', 'S' },
	    { 's', 'c' }, { 0, 0 }, { 'S', 0 } };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		uint8_t h[SC_HDR_LEN + 4] = { m[i][0], m[i][1], 1,
		    SC_T_CLIENT_HELLO, 0, 0, 0, 4, 1, 1, 0, 0 };

		raw_case(h, sizeof(h), SC_E_PROTOCOL, "bad_frame");
	}
}

static void
test_bad_version_byte(void **state)
{
	static const uint8_t v[] = { 0, 2, 0x7f, 0xff };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v); i++) {
		uint8_t h[SC_HDR_LEN] = { 'S', 'C', v[i], SC_T_CLIENT_HELLO,
		    0, 0, 0, 0 };

		raw_case(h, sizeof(h), SC_E_VERSION, "bad_frame");
	}
}

static void
test_unknown_type(void **state)
{
	static const uint8_t t[] = { 0x00, 0x04, 0x1f, 0x23, 0x33, 0x7e,
	    0x80, 0xff };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t); i++) {
		uint8_t h[SC_HDR_LEN + 2] = { 'S', 'C', 1, t[i], 0, 0, 0, 2,
		    0, 0 };

		raw_case(h, sizeof(h), SC_E_PROTOCOL, "bad_frame");
	}
}

/*
 * An oversized length field: TOO_LARGE at once, before any allocation.
 * The worker's RssAnon and VmPeak are sampled from before the header
 * until it is gone: a worker that allocated the declared size (or waited
 * for the payload) would show it.  RssAnon, not VmRSS: a worker forked
 * from the zygote maps the shared library pages of its error path on
 * first use, file pages that are no allocation.
 */
static void
oversized(uint32_t len, int in_session)
{
	struct csession *cs = NULL;
	struct hsnap s;
	long rss0, peak0, rss, peak, maxrss, maxpeak;
	long long t;
	pid_t w;
	int fd, i;

	fprintf(stderr, "oversized %u bytes%s\n", len,
	    in_session ? " in a session" : "");
	if (in_session) {
		cs = victim();
		fd = csession_fd(cs);
	} else {
		fd = hostile_connect(A.env.port);
		assert_true(fd >= 0);
	}
	assert_int_equal(arena_snapshot(&A, &s), 0);
	w = hostile_worker_of(A.env.pid, fd, 10000);
	assert_true(w > 0);
	/* Settled: sandboxed and waiting for our frame. */
	for (i = 0; i < 500 && hostile_status_kb(w, "Seccomp") != 2; i++)
		usleep(10000);
	assert_int_equal(hostile_status_kb(w, "Seccomp"), 2);
	usleep(50000);
	rss0 = hostile_status_kb(w, "RssAnon");
	peak0 = hostile_status_kb(w, "VmPeak");
	assert_true(rss0 > 0 && peak0 > 0);
	maxrss = rss0;
	maxpeak = peak0;
	assert_int_equal(hostile_send_hdr(fd, 'S', 'C', 1, in_session ?
	    SC_T_CHAT : SC_T_CLIENT_HELLO, len), 0);
	t = 0;
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		rss = hostile_status_kb(w, "RssAnon");
		peak = hostile_status_kb(w, "VmPeak");
		if (rss < 0 || peak < 0)
			break;		/* gone (or a zombie) */
		if (rss > maxrss)
			maxrss = rss;
		if (peak > maxpeak)
			maxpeak = peak;
		if (poll(&pfd, 1, 0) == 1 || ++t > 20000)
			break;		/* answered (or 20 s: the assert says) */
		usleep(1000);
	}
	fprintf(stderr, "worker %d: RssAnon %ld -> %ld kB, VmPeak %ld -> %ld "
	    "kB\n",
	    (int)w, rss0, maxrss, peak0, maxpeak);
	assert_int_equal(arena_expect_refusal(&A, &s, fd, SC_E_TOO_LARGE,
	    "bad_frame"), 0);
	assert_true(maxrss - rss0 < 1024);
	assert_true(maxpeak - peak0 < 1024);
	if (cs != NULL)
		csession_free(cs);
	else
		close(fd);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_oversized_length(void **state)
{
	(void)state;
	oversized(0xffffffffU, 0);
	oversized(0x7fffffffU, 0);
	oversized(SC_MAX_PAYLOAD + 1, 0);
	oversized(0xffffffffU, 1);
	oversized(SC_MAX_PAYLOAD + 1, 1);
}

/* The largest legal length is read in full (then judged by its type). */
static void
test_max_length_is_legal(void **state)
{
	uint8_t *p;

	(void)state;
	p = calloc(1, SC_MAX_PAYLOAD);
	assert_non_null(p);
	frame_case(SC_T_CHAT, p, SC_MAX_PAYLOAD, SC_E_PROTOCOL,
	    "protocol_violation");
	free(p);
}

/* ---- Truncated frames ---- */

static void
test_truncated_then_closed(void **state)
{
	uint8_t ch[SC_HDR_LEN + 500];
	struct csession *cs;
	struct hsnap s;
	int i, fd;

	(void)state;
	memset(ch, 0, sizeof(ch));
	memcpy(ch, "SC\x01\x01\x00\x00\x03\xe8", SC_HDR_LEN);	/* 1000 */
	/* Half a header, a header alone, half a payload. */
	for (i = 0; i < 3; i++) {
		size_t n = i == 0 ? 4 : i == 1 ? SC_HDR_LEN : sizeof(ch);

		assert_int_equal(arena_snapshot(&A, &s), 0);
		fd = hostile_connect(A.env.port);
		assert_true(fd >= 0);
		assert_int_equal(hostile_send(fd, ch, n), 0);
		assert_int_equal(shutdown(fd, SHUT_WR), 0);
		/* Nothing to answer: the connection was lost mid-frame. */
		assert_int_equal(arena_expect_refusal(&A, &s, fd,
		    HOSTILE_CLOSED, "disconnect"), 0);
		close(fd);
		assert_int_equal(arena_check(&A, &s), 0);
	}

	/* In a session: half a CHAT frame, then gone. */
	cs = victim();
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hostile_send_hdr(csession_fd(cs), 'S', 'C', 1,
	    SC_T_CHAT, 400), 0);
	assert_int_equal(hostile_send(csession_fd(cs), ch, 200), 0);
	assert_int_equal(shutdown(csession_fd(cs), SHUT_WR), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(cs),
	    HOSTILE_CLOSED, "disconnect"), 0);
	csession_free(cs);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* The peer stops mid-frame and waits: TIMEOUT at the handshake deadline. */
static void
test_truncated_then_silent(void **state)
{
	uint8_t ch[SC_HDR_LEN + 500];
	struct hsnap s;
	int fd[3], i;
	time_t t0;
	long dt;

	(void)state;
	memset(ch, 0, sizeof(ch));
	memcpy(ch, "SC\x01\x01\x00\x00\x03\xe8", SC_HDR_LEN);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	t0 = time(NULL);
	for (i = 0; i < 3; i++) {
		fd[i] = hostile_connect(A.env.port);
		assert_true(fd[i] >= 0);
		assert_int_equal(hostile_send(fd[i], ch, i == 0 ? 4 :
		    i == 1 ? SC_HDR_LEN : sizeof(ch)), 0);
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(arena_expect_refusal(&A, &s, fd[i],
		    SC_E_TIMEOUT, "timeout"), 0);
		close(fd[i]);
	}
	dt = (long)(time(NULL) - t0);
	fprintf(stderr, "timeouts after %ld s\n", dt);
	assert_true(dt >= HS_TIMEOUT - 1 && dt <= HS_TIMEOUT + 15);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* ---- Hello-level payloads: trailing, missing, garbage, NUL ---- */

static void
test_hello_payloads(void **state)
{
	struct hconn h;
	struct hhello hh;
	struct hsnap s;
	uint8_t buf[300], nul[100];

	(void)state;
	/* One byte after a valid hello. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hconn_connect(&h, A.env.port), 0);
	assert_int_equal(hconn_hello_init(&h, &hh, &alice), 0);
	hh.trailer = (const uint8_t *)"!";
	hh.trailerlen = 1;
	assert_int_equal(hconn_send_hello(&h, &hh), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_PROTOCOL,
	    "bad_hello"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);

	/* Cert length field one more than the bytes sent. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hconn_connect(&h, A.env.port), 0);
	assert_int_equal(hconn_hello_init(&h, &hh, &alice), 0);
	hh.certlen_field = (long)alice.derlen + 1;
	assert_int_equal(hconn_send_hello(&h, &hh), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_PROTOCOL,
	    "bad_hello"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);

	/* Missing fields: empty, versions only, no certificate field. */
	frame_case(SC_T_CLIENT_HELLO, NULL, 0, SC_E_PROTOCOL, "bad_hello");
	frame_case(SC_T_CLIENT_HELLO, "\x01\x01", 2, SC_E_PROTOCOL,
	    "bad_hello");
	memset(buf, 0x11, sizeof(buf));
	buf[0] = buf[1] = 1;
	frame_case(SC_T_CLIENT_HELLO, buf, 66, SC_E_PROTOCOL, "bad_hello");
	/* Garbage whose certificate length points past the end. */
	buf[66] = 0x01;
	buf[67] = 0x00;
	frame_case(SC_T_CLIENT_HELLO, buf, 200, SC_E_PROTOCOL, "bad_hello");
	/* NUL bytes: a hello of zeros (min_version 0). */
	memset(nul, 0, sizeof(nul));
	frame_case(SC_T_CLIENT_HELLO, nul, sizeof(nul), SC_E_PROTOCOL,
	    "bad_hello");
	/* Header of zeros: no magic. */
	raw_case(nul, sizeof(nul), SC_E_PROTOCOL, "bad_frame");

	/* CLIENT_FINISH with a byte left over, and with nothing in it. */
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hconn_connect(&h, A.env.port), 0);
	assert_int_equal(hconn_hello_init(&h, &hh, &alice), 0);
	assert_int_equal(hconn_send_hello(&h, &hh), 0);
	assert_int_equal(hconn_recv_server_hello(&h), 0);
	memset(buf, 0x22, sizeof(buf));
	buf[0] = 0x01;		/* str16 of 256 bytes, then one more */
	buf[1] = 0x00;
	assert_int_equal(hostile_send_frame(h.fd, SC_T_CLIENT_FINISH, buf,
	    2 + 256 + 1), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_PROTOCOL,
	    "bad_hello"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hconn_connect(&h, A.env.port), 0);
	assert_int_equal(hconn_hello_init(&h, &hh, &alice), 0);
	assert_int_equal(hconn_send_hello(&h, &hh), 0);
	assert_int_equal(hconn_recv_server_hello(&h), 0);
	assert_int_equal(hostile_send_frame(h.fd, SC_T_CLIENT_FINISH, NULL, 0),
	    0);
	assert_int_equal(arena_expect_refusal(&A, &s, h.fd, SC_E_PROTOCOL,
	    "bad_hello"), 0);
	hconn_close(&h);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* Random bytes, as the first thing and inside a session. */
static void
test_binary_garbage(void **state)
{
	struct csession *cs;
	struct hsnap s;
	uint8_t junk[4096];

	(void)state;
	assert_int_equal(RAND_bytes(junk, sizeof(junk)), 1);
	junk[0] = 0xa5;		/* never 'S': the magic check answers */
	raw_case(junk, sizeof(junk), SC_E_PROTOCOL, "bad_frame");

	cs = victim();
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hostile_send(csession_fd(cs), junk, sizeof(junk)), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(cs),
	    SC_E_PROTOCOL, "bad_frame"), 0);
	csession_free(cs);
	assert_int_equal(arena_check(&A, &s), 0);

	/* A valid CHAT header and garbage as its record. */
	cs = victim();
	assert_int_equal(arena_snapshot(&A, &s), 0);
	memset(junk, 0, 40);		/* lengths 0: a record cannot parse */
	assert_int_equal(hostile_send_frame(csession_fd(cs), SC_T_CHAT, junk,
	    1000), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(cs),
	    SC_E_PROTOCOL, "bad_record"), 0);
	csession_free(cs);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* An ERROR frame from the client, malformed or over-long: a quiet close. */
static void
test_client_error_frames(void **state)
{
	uint8_t e[2 + 2 + 300];

	(void)state;
	memset(e, 'x', sizeof(e));
	e[0] = 0;
	e[1] = 1;
	e[2] = 0x01;		/* reason of 300 bytes: over 256 */
	e[3] = 0x2c;
	frame_case(SC_T_ERROR, e, sizeof(e), HOSTILE_CLOSED, "client_error");
	frame_case(SC_T_ERROR, e, 3, HOSTILE_CLOSED, "client_error");
	/* A well-formed one is logged. */
	e[2] = 0;
	e[3] = 5;
	frame_case(SC_T_ERROR, e, 9, HOSTILE_CLOSED, "client_error");
}

/* ---- Record-level framing in a session ---- */

static void
test_record_trailing_and_missing(void **state)
{
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;
	struct wbuf b;
	size_t off, len;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		cs = victim();
		assert_int_equal(arena_snapshot(&A, &s), 0);
		assert_int_equal(hrecord_chat(&r, &cs->ch, cs->key, "frame",
		    5, 0), 0);
		wbuf_init(&b, 2 * SC_MAX_PAYLOAD);
		assert_int_equal(hrecord_encode(&r, &b), 0);
		if (i == 0)		/* a byte after the signature */
			assert_int_equal(wbuf_put_u8(&b, 0), 0);
		else if (i == 1) {	/* no signature field at all */
			assert_int_equal(hrecord_field(b.data, b.len,
			    HREC_SIGLEN, &off, &len), 0);
			b.len = off;
		} else			/* cut inside the IV */
			b.len = 20;
		assert_int_equal(hostile_send_frame(csession_fd(cs), SC_T_CHAT,
		    b.data, b.len), 0);
		assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(cs),
		    SC_E_PROTOCOL, "bad_record"), 0);
		csession_free(cs);
		assert_int_equal(arena_check(&A, &s), 0);
		hrecord_free(&r);
		wbuf_free(&b);
	}
}

/* A validly sealed CHAT whose plaintext is pt (any bytes). */
static void
chat_plaintext_case(const void *pt, size_t ptlen, int want, const char *event)
{
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;

	cs = victim();
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hrecord_build(&r, &cs->ch, cs->key, SC_T_CHAT, pt,
	    ptlen, 0), 0);
	assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(cs), want,
	    event), 0);
	csession_free(cs);
	assert_int_equal(arena_check(&A, &s), 0);
	hrecord_free(&r);
}

/* A CHAT text (str16 of these bytes). */
static void
chat_text_case(const void *text, size_t len, int want, const char *event)
{
	struct wbuf b;

	wbuf_init(&b, SC_MAX_PAYLOAD);
	assert_int_equal(wbuf_put_str16(&b, text, len), 0);
	chat_plaintext_case(b.data, b.len, want, event);
	wbuf_free(&b);
}

static void
test_chat_text_encoding(void **state)
{
	static const struct {
		const char	*what;
		const char	*text;
		size_t		 len;
	} bad[] = {
		{ "overlong /", "\xc0\xaf", 2 },
		{ "overlong 3-byte", "\xe0\x80\xaf", 3 },
		{ "surrogate", "\xed\xa0\x80", 3 },
		{ "above U+10FFFF", "\xf4\x90\x80\x80", 4 },
		{ "5-byte form", "\xf8\x88\x80\x80\x80", 5 },
		{ "cut sequence", "ab\xe2\x82", 4 },
		{ "lone continuation", "\x80", 1 },
		{ "bytes FF FE", "\xff\xfe", 2 },
		{ "C1 control", "a\xc2\x85", 3 },
		{ "C0 control", "a\x01z", 3 },
		{ "escape", "\x1b[2J", 4 },
		{ "DEL", "a\x7f", 2 },
		{ "NUL", "a\0b", 3 },
		{ "newline", "a\nb", 3 },
		{ "empty", "", 0 },
	};
	struct csession *cs;
	char reply[SC_MAX_TEXT + 1], *big;
	size_t i, n;

	(void)state;
	/* Control: multi-byte UTF-8 and TAB are text. */
	cs = victim();
	assert_int_equal(arena_chat(cs, "h\xc3\xa9llo\t\xe2\x9c\x93 "
	    "\xf0\x9d\x84\x9e"), 0);
	csession_free(cs);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fprintf(stderr, "text: %s\n", bad[i].what);
		chat_text_case(bad[i].text, bad[i].len, SC_E_BAD_INPUT,
		    "bad_input");
	}

	/* Sizes: 4096 bytes is the limit. */
	big = malloc(SC_MAX_TEXT + 2);
	assert_non_null(big);
	memset(big, 'a', SC_MAX_TEXT + 2);
	cs = victim();
	assert_int_equal(csession_send_chat(cs, big, SC_MAX_TEXT), 0);
	assert_int_equal(csession_recv_chat(cs, 20000, reply, sizeof(reply),
	    &n), 1);
	assert_int_equal(n, SC_MAX_TEXT);
	assert_int_equal(strncmp(reply, "echo: aaaa", 10), 0);
	csession_free(cs);
	/* A length field of 4097 (with 4096 bytes behind it). */
	{
		uint8_t pt[2 + SC_MAX_TEXT];

		pt[0] = (SC_MAX_TEXT + 1) >> 8;
		pt[1] = (SC_MAX_TEXT + 1) & 0xff;
		memset(pt + 2, 'a', SC_MAX_TEXT);
		chat_plaintext_case(pt, sizeof(pt), SC_E_TOO_LARGE,
		    "bad_input");
	}
	/* A plaintext over the largest CHAT (4097 bytes of text). */
	chat_text_case(big, SC_MAX_TEXT + 1, SC_E_TOO_LARGE, "bad_record");
	free(big);

	/* Plaintext framing: a byte after the text, a cut length. */
	chat_plaintext_case("\x00\x02hi!", 5, SC_E_PROTOCOL, "bad_input");
	chat_plaintext_case("\x00\x09hi", 4, SC_E_PROTOCOL, "bad_input");
	chat_plaintext_case("\x00", 1, SC_E_PROTOCOL, "bad_input");
	chat_plaintext_case("", 0, SC_E_PROTOCOL, "bad_input");
}

/* LOGIN / REGISTER bodies with a bad username, trailing or missing data. */
static void
auth_case(uint8_t type, const void *body, size_t len, int want,
    const char *event)
{
	struct csession *cs;
	struct hrecord r;
	struct hsnap s;

	cs = arena_open(&A, "alice", NULL);
	assert_non_null(cs);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(hrecord_build(&r, &cs->ch, cs->key, type, body, len,
	    0), 0);
	assert_int_equal(hrecord_send(&r, csession_fd(cs)), 0);
	assert_int_equal(arena_expect_refusal(&A, &s, csession_fd(cs), want,
	    event), 0);
	csession_free(cs);
	/* No account created, none changed. */
	assert_int_equal(arena_check(&A, &s), 0);
	hrecord_free(&r);
}

static void
login_body(struct wbuf *b, const void *user, size_t ulen, const char *pass,
    size_t kexlen)
{
	uint8_t kex[40];

	assert_int_equal(RAND_bytes(kex, sizeof(kex)), 1);
	wbuf_reset(b);
	wbuf_put_str16(b, user, ulen);
	wbuf_put_str16(b, pass, strlen(pass));
	wbuf_put(b, kex, kexlen);
	assert_false(b->err);
}

static void
test_username_encoding(void **state)
{
	static const struct {
		const char	*what;
		const char	*user;
		size_t		 len;
	} bad[] = {
		{ "UTF-8 e-acute", "\xc3\xa9lodie", 7 },
		{ "invalid UTF-8", "wit\xff\xfeness", 9 },
		{ "overlong", "\xc0\xafwitness", 9 },
		{ "NUL inside", "wit\0ness", 8 },
		{ "NUL first", "\0witness", 8 },
		{ "trailing NUL", "witness\0", 8 },
		{ "control", "wit\x01ness", 8 },
		{ "space", "wit ness", 8 },
		{ "empty", "", 0 },
		{ "starts with a dot", ".witness", 8 },
	};
	struct sc_register reg;
	struct wbuf b;
	size_t i;

	(void)state;
	wbuf_init(&b, SC_MAX_PAYLOAD);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fprintf(stderr, "username: %s\n", bad[i].what);
		login_body(&b, bad[i].user, bad[i].len, ARENA_PASS, 32);
		auth_case(SC_T_LOGIN, b.data, b.len, SC_E_BAD_INPUT,
		    "login_refused");
	}
	/* Over 32 bytes: the field's wire limit. */
	login_body(&b, "witnesswitnesswitnesswitnesswitne", 33, ARENA_PASS, 32);
	auth_case(SC_T_LOGIN, b.data, b.len, SC_E_TOO_LARGE, "bad_input");
	/* LOGIN with a byte left over, and without its key share. */
	login_body(&b, ARENA_USER, strlen(ARENA_USER), ARENA_PASS, 33);
	auth_case(SC_T_LOGIN, b.data, b.len, SC_E_PROTOCOL, "bad_input");
	login_body(&b, ARENA_USER, strlen(ARENA_USER), ARENA_PASS, 0);
	auth_case(SC_T_LOGIN, b.data, b.len, SC_E_PROTOCOL, "bad_input");

	/* REGISTER: the same names create no account. */
	for (i = 0; i < 4; i++) {
		fprintf(stderr, "register username: %s\n", bad[i].what);
		memset(&reg, 0, sizeof(reg));
		reg.username = (const uint8_t *)bad[i].user;
		reg.ulen = bad[i].len;
		reg.email = (const uint8_t *)"newcomer@example.org";
		reg.elen = strlen("newcomer@example.org");
		reg.password = (const uint8_t *)"newcomer password";
		reg.plen = strlen("newcomer password");
		assert_int_equal(RAND_bytes(reg.kex2, sizeof(reg.kex2)), 1);
		wbuf_reset(&b);
		assert_int_equal(sc_register_encode(&b, &reg), 0);
		auth_case(SC_T_REGISTER, b.data, b.len, SC_E_BAD_INPUT,
		    "register_refused");
	}
	/* NUL in the e-mail address. */
	memset(&reg, 0, sizeof(reg));
	reg.username = (const uint8_t *)"newcomer";
	reg.ulen = 8;
	reg.email = (const uint8_t *)"new\0comer@example.org";
	reg.elen = 21;
	reg.password = (const uint8_t *)"newcomer password";
	reg.plen = strlen("newcomer password");
	assert_int_equal(RAND_bytes(reg.kex2, sizeof(reg.kex2)), 1);
	wbuf_reset(&b);
	assert_int_equal(sc_register_encode(&b, &reg), 0);
	auth_case(SC_T_REGISTER, b.data, b.len, SC_E_BAD_INPUT,
	    "register_refused");
	wbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_version_byte),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_oversized_length),
		cmocka_unit_test(test_max_length_is_legal),
		cmocka_unit_test(test_truncated_then_closed),
		cmocka_unit_test(test_truncated_then_silent),
		cmocka_unit_test(test_hello_payloads),
		cmocka_unit_test(test_binary_garbage),
		cmocka_unit_test(test_client_error_frames),
		cmocka_unit_test(test_record_trailing_and_missing),
		cmocka_unit_test(test_chat_text_encoding),
		cmocka_unit_test(test_username_encoding),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("attack_framing", tests, setup,
	    teardown);
}
