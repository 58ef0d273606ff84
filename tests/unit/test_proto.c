/*
 * test_proto.c: framing and message codecs of the wire protocol: round
 * trips, and every way a payload can be malformed (truncated at every
 * byte, trailing bytes, over-long fields, bad header fields, a huge
 * declared length refused before the payload is read), the content
 * checks and base64.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "proto.h"
#include "sccrypto.h"

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
}

static void
put_hdr(uint8_t h[8], uint8_t m0, uint8_t m1, uint8_t ver, uint8_t type,
    uint32_t len)
{
	h[0] = m0;
	h[1] = m1;
	h[2] = ver;
	h[3] = type;
	h[4] = (uint8_t)(len >> 24);
	h[5] = (uint8_t)(len >> 16);
	h[6] = (uint8_t)(len >> 8);
	h[7] = (uint8_t)len;
}

/* Read one frame from raw bytes written on a fresh socket pair. */
static int
read_raw(const void *raw, size_t n, int timeout_ms, struct sc_frame *f,
    int *code, int *leftover)
{
	int sv[2], r;
	uint8_t c;

	pair(sv);
	assert_int_equal(write(sv[1], raw, n), (ssize_t)n);
	assert_int_equal(write(sv[1], "X", 1), 1);	/* a marker after it */
	shutdown(sv[1], SHUT_WR);
	r = sc_frame_read(sv[0], timeout_ms, f, code);
	/* What the reader left unread: -1 if nothing. */
	*leftover = read(sv[0], &c, 1) == 1 ? c : -1;
	close(sv[0]);
	close(sv[1]);
	return r;
}

static void
test_frame_roundtrip(void **state)
{
	struct sc_frame f;
	uint8_t *big;
	pid_t pid;
	int sv[2], code, st;

	(void)state;
	pair(sv);
	assert_int_equal(sc_frame_write(sv[1], 1000, SC_T_CHAT, "abc", 3), 0);
	assert_int_equal(sc_frame_write(sv[1], 1000, SC_T_ERROR, NULL, 0), 0);
	big = calloc(1, SC_MAX_PAYLOAD + 1);
	assert_non_null(big);
	big[SC_MAX_PAYLOAD - 1] = 0xee;
	/* The largest payload goes through (a child writes, we read). */
	if ((pid = fork()) == 0) {
		int rc = sc_frame_write(sv[1], 5000, SC_T_REGISTER, big,
		    SC_MAX_PAYLOAD) == 0 ? 0 : 1;

		free(big);	/* valgrind follows the child too */
		_exit(rc);
	}
	assert_true(pid > 0);
	assert_int_equal(sc_frame_read(sv[0], 1000, &f, &code), 1);
	assert_int_equal(f.type, SC_T_CHAT);
	assert_int_equal(f.len, 3);
	assert_memory_equal(f.payload, "abc", 3);
	sc_frame_free(&f);
	assert_int_equal(sc_frame_read(sv[0], 1000, &f, &code), 1);
	assert_int_equal(f.type, SC_T_ERROR);
	assert_int_equal(f.len, 0);
	assert_null(f.payload);
	sc_frame_free(&f);
	assert_int_equal(sc_frame_read(sv[0], 5000, &f, &code), 1);
	assert_int_equal(f.len, SC_MAX_PAYLOAD);
	assert_int_equal(f.payload[SC_MAX_PAYLOAD - 1], 0xee);
	sc_frame_free(&f);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* Over the limit or an unknown type is refused by the writer. */
	assert_int_equal(sc_frame_write(sv[1], 1000, SC_T_CHAT, big,
	    SC_MAX_PAYLOAD + 1), -1);
	assert_int_equal(sc_frame_write(sv[1], 1000, 0x55, "x", 1), -1);
	/* Peer closed at a frame boundary: 0. */
	close(sv[1]);
	assert_int_equal(sc_frame_read(sv[0], 1000, &f, &code), 0);
	close(sv[0]);
	free(big);
}

static void
test_frame_pipe(void **state)
{
	struct sc_frame f;
	int p[2], code;

	(void)state;
	/* Not a socket: the writer falls back to write(2). */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(sc_frame_write(p[1], 1000, SC_T_CLOSE, "zz", 2), 0);
	assert_int_equal(sc_frame_read(p[0], 1000, &f, &code), 1);
	assert_int_equal(f.type, SC_T_CLOSE);
	sc_frame_free(&f);
	close(p[0]);
	close(p[1]);
}

static void
test_frame_bad_header(void **state)
{
	struct sc_frame f;
	uint8_t raw[8 + 4];
	int code, left;

	(void)state;
	memcpy(raw + 8, "abcd", 4);
	put_hdr(raw, 'S', 'X', 1, SC_T_CHAT, 4);
	assert_int_equal(read_raw(raw, 12, 1000, &f, &code, &left), -1);
	assert_int_equal(code, SC_E_PROTOCOL);
	assert_int_equal(left, 'a');	/* payload never read */

	put_hdr(raw, 'S', 'C', 2, SC_T_CHAT, 4);
	assert_int_equal(read_raw(raw, 12, 1000, &f, &code, &left), -1);
	assert_int_equal(code, SC_E_VERSION);

	put_hdr(raw, 'S', 'C', 1, 0x55, 4);
	assert_int_equal(read_raw(raw, 12, 1000, &f, &code, &left), -1);
	assert_int_equal(code, SC_E_PROTOCOL);
	assert_null(f.payload);

	/*
	 * A huge declared length: TOO_LARGE at once, before anything is
	 * allocated or read (the marker right after the header is unread,
	 * and there was no wait for 2 GiB that never come).
	 */
	put_hdr(raw, 'S', 'C', 1, SC_T_CHAT, 0x7fffffff);
	assert_int_equal(read_raw(raw, 8, 60000, &f, &code, &left), -1);
	assert_int_equal(code, SC_E_TOO_LARGE);
	assert_int_equal(left, 'X');
	assert_null(f.payload);
	put_hdr(raw, 'S', 'C', 1, SC_T_CHAT, SC_MAX_PAYLOAD + 1);
	assert_int_equal(read_raw(raw, 8, 1000, &f, &code, &left), -1);
	assert_int_equal(code, SC_E_TOO_LARGE);

	/* Connection lost in the header or the payload: nothing to answer. */
	put_hdr(raw, 'S', 'C', 1, SC_T_CHAT, 4);
	assert_int_equal(read_raw(raw, 5, 1000, &f, &code, &left), -1);
	assert_int_equal(code, 0);
	put_hdr(raw, 'S', 'C', 1, SC_T_CHAT, 40);
	assert_int_equal(read_raw(raw, 12, 1000, &f, &code, &left), -1);
	assert_int_equal(code, 0);
	assert_null(f.payload);
}

static void
test_frame_timeout(void **state)
{
	struct sc_frame f;
	struct timespec t0, t1;
	uint8_t hdr[8];
	pid_t pid;
	int sv[2], code, i;
	long ms;

	(void)state;
	/* Half a header, then silence. */
	pair(sv);
	put_hdr(hdr, 'S', 'C', 1, SC_T_CHAT, 4);
	assert_int_equal(write(sv[1], hdr, 4), 4);
	assert_int_equal(sc_frame_read(sv[0], 100, &f, &code), -1);
	assert_int_equal(code, SC_E_TIMEOUT);
	close(sv[0]);
	close(sv[1]);

	/*
	 * A peer trickling one byte every 40 ms never lets a per-read
	 * timeout of 300 ms fire; the whole-frame deadline does.
	 */
	pair(sv);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		for (i = 0; i < 8; i++) {
			if (write(sv[1], &hdr[i], 1) != 1)
				_exit(1);
			usleep(40000);
		}
		for (i = 0; i < 40; i++) {
			if (write(sv[1], "p", 1) != 1)
				_exit(0);
			usleep(40000);
		}
		_exit(0);
	}
	close(sv[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	put_hdr(hdr, 'S', 'C', 1, SC_T_CHAT, 4);
	assert_int_equal(sc_frame_read(sv[0], 300, &f, &code), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(code, SC_E_TIMEOUT);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 250 && ms < 1500);
	close(sv[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
test_error_frames(void **state)
{
	struct wbuf b;
	struct sc_frame f;
	char reason[SC_MAX_REASON + 1], longr[400];
	uint16_t code;
	uint8_t raw[8];
	int sv[2], ec;

	(void)state;
	pair(sv);
	assert_int_equal(sc_error_send(sv[1], 1000, SC_E_REPLAY,
	    "seq 3\x1b[31m red"), 0);
	assert_int_equal(sc_frame_read(sv[0], 1000, &f, &ec), 1);
	assert_int_equal(f.type, SC_T_ERROR);
	assert_int_equal(sc_error_parse(f.payload, f.len, &code, reason,
	    sizeof(reason)), 0);
	assert_int_equal(code, SC_E_REPLAY);
	assert_string_equal(reason, "seq 3?[31m red");
	sc_frame_free(&f);
	close(sv[0]);
	close(sv[1]);

	/* A long reason is cut to 256 bytes by the sender. */
	memset(longr, 'r', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	wbuf_init(&b, 1024);
	assert_int_equal(sc_error_encode(&b, SC_E_INTERNAL, longr), 0);
	assert_int_equal(b.len, 2 + 2 + SC_MAX_REASON);
	assert_int_equal(sc_error_parse(b.data, b.len, &code, reason,
	    sizeof(reason)), 0);
	assert_int_equal(strlen(reason), SC_MAX_REASON);
	/* A receiver's small buffer truncates safely. */
	assert_int_equal(sc_error_parse(b.data, b.len, &code, reason, 5), 0);
	assert_string_equal(reason, "rrrr");
	/* Trailing byte; over-long reason; hostile bytes are replaced. */
	wbuf_put_u8(&b, 0);
	assert_int_equal(sc_error_parse(b.data, b.len, &code, reason,
	    sizeof(reason)), SC_E_PROTOCOL);
	wbuf_reset(&b);
	wbuf_put_u16(&b, 1);
	wbuf_put_u16(&b, SC_MAX_REASON + 1);
	wbuf_put(&b, longr, SC_MAX_REASON + 1);
	assert_int_equal(sc_error_parse(b.data, b.len, &code, reason,
	    sizeof(reason)), SC_E_TOO_LARGE);
	wbuf_reset(&b);
	wbuf_put_u16(&b, 1);
	wbuf_put_str16(&b, "a\nb\x7f\xff", 5);
	assert_int_equal(sc_error_parse(b.data, b.len, &code, reason,
	    sizeof(reason)), 0);
	assert_string_equal(reason, "a?b??");
	wbuf_free(&b);
	(void)raw;

	assert_string_equal(sc_err_name(SC_E_PROTOCOL), "PROTOCOL");
	assert_string_equal(sc_err_name(SC_E_SIG_FAIL), "SIG_FAIL");
	assert_string_equal(sc_err_name(SC_E_BAD_INPUT), "BAD_INPUT");
	assert_string_equal(sc_err_name(0), "UNKNOWN");
	assert_string_equal(sc_err_name(16), "UNKNOWN");
	for (ec = 1; ec <= SC_E_MAX; ec++)
		assert_string_not_equal(sc_err_name(ec), "UNKNOWN");
	assert_string_equal(sc_type_name(SC_T_CLOSE_ACK), "CLOSE_ACK");
	assert_string_equal(sc_type_name(0x04), "UNKNOWN");
}

typedef int (*parse_fn)(const uint8_t *, size_t, void *);

/*
 * Every strict prefix of a valid payload fails, and so does the payload
 * with one byte more.
 */
static void
check_prefixes_and_trailing(const uint8_t *p, size_t n, parse_fn parse,
    void *out)
{
	uint8_t *q;
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_not_equal(parse(p, i, out), 0);
	q = malloc(n + 1);
	assert_non_null(q);
	memcpy(q, p, n);
	q[n] = 0;
	assert_int_equal(parse(q, n + 1, out), SC_E_PROTOCOL);
	assert_int_equal(parse(q, n, out), 0);
	free(q);
}

static int p_ch(const uint8_t *p, size_t n, void *o) { return sc_ch_parse(p, n, o); }
static int p_shcore(const uint8_t *p, size_t n, void *o) { return sc_sh_core_parse(p, n, o); }
static int p_rec(const uint8_t *p, size_t n, void *o) { return sc_record_parse(p, n, o); }
static int p_reg(const uint8_t *p, size_t n, void *o) { return sc_register_parse(p, n, o); }
static int p_login(const uint8_t *p, size_t n, void *o) { return sc_login_parse(p, n, o); }
static int p_ok(const uint8_t *p, size_t n, void *o) { return sc_auth_ok_parse(p, n, o); }
static int p_rcpt(const uint8_t *p, size_t n, void *o) { return sc_receipt_parse(p, n, o); }

static int
p_sh(const uint8_t *p, size_t n, void *o)
{
	size_t core;

	return sc_sh_parse(p, n, o, &core);
}

static int
p_cf(const uint8_t *p, size_t n, void *o)
{
	const uint8_t *s;
	size_t len;

	(void)o;
	return sc_cf_parse(p, n, &s, &len);
}

static int
p_chat(const uint8_t *p, size_t n, void *o)
{
	const uint8_t *s;
	size_t len;

	(void)o;
	return sc_chat_parse(p, n, &s, &len);
}

static void
test_hellos(void **state)
{
	struct sc_client_hello ch, ch2;
	struct sc_server_hello sh, sh2;
	struct wbuf b;
	uint8_t cert[SC_MAX_CERT + 1], sig[SC_MAX_SIG + 1];
	const uint8_t *sp;
	size_t core, sl;

	(void)state;
	memset(cert, 0xcc, sizeof(cert));
	memset(sig, 0x55, sizeof(sig));
	memset(&ch, 0, sizeof(ch));
	ch.min_version = 1;
	ch.max_version = 3;
	memset(ch.client_nonce, 1, sizeof(ch.client_nonce));
	memset(ch.client_kex, 2, sizeof(ch.client_kex));
	ch.cert = cert;
	ch.certlen = 100;
	wbuf_init(&b, SC_MAX_PAYLOAD);
	assert_int_equal(sc_ch_encode(&b, &ch), 0);
	assert_int_equal(b.len, 1 + 1 + 32 + 32 + 2 + 100);
	assert_int_equal(sc_ch_parse(b.data, b.len, &ch2), 0);
	assert_int_equal(ch2.max_version, 3);
	assert_memory_equal(ch2.client_kex, ch.client_kex, 32);
	assert_int_equal(ch2.certlen, 100);
	assert_ptr_equal(ch2.cert, b.data + 68);	/* zero copy */
	assert_int_equal(sc_version_choose(&ch2), 1);
	check_prefixes_and_trailing(b.data, b.len, p_ch, &ch2);
	/* min > max, version 0, no version in common, empty cert. */
	b.data[0] = 4;
	assert_int_equal(sc_ch_parse(b.data, b.len, &ch2), SC_E_PROTOCOL);
	b.data[0] = 0;
	assert_int_equal(sc_ch_parse(b.data, b.len, &ch2), SC_E_PROTOCOL);
	b.data[0] = 2;
	assert_int_equal(sc_ch_parse(b.data, b.len, &ch2), 0);
	assert_int_equal(sc_version_choose(&ch2), 0);
	wbuf_reset(&b);
	ch.certlen = 0;
	assert_int_equal(sc_ch_encode(&b, &ch), -1);
	/* Certificate over 8192 bytes: refused both ways. */
	wbuf_reset(&b);
	ch.certlen = SC_MAX_CERT + 1;
	assert_int_equal(sc_ch_encode(&b, &ch), -1);
	wbuf_reset(&b);
	wbuf_put_u8(&b, 1);
	wbuf_put_u8(&b, 1);
	wbuf_put(&b, ch.client_nonce, 32);
	wbuf_put(&b, ch.client_kex, 32);
	wbuf_put_str16(&b, cert, SC_MAX_CERT + 1);
	assert_int_equal(sc_ch_parse(b.data, b.len, &ch2), SC_E_TOO_LARGE);
	wbuf_reset(&b);
	wbuf_put_u8(&b, 1);
	wbuf_put_u8(&b, 1);
	wbuf_put(&b, ch.client_nonce, 32);
	wbuf_put(&b, ch.client_kex, 32);
	wbuf_put_str16(&b, cert, 0);
	assert_int_equal(sc_ch_parse(b.data, b.len, &ch2), SC_E_PROTOCOL);

	memset(&sh, 0, sizeof(sh));
	sh.version = 1;
	memset(sh.server_nonce, 3, 32);
	memset(sh.session_id, 4, 16);
	memset(sh.server_kex, 5, 32);
	sh.cert = cert;
	sh.certlen = SC_MAX_CERT;
	sh.sig = sig;
	sh.siglen = 256;
	wbuf_reset(&b);
	assert_int_equal(sc_sh_encode(&b, &sh), 0);
	assert_int_equal(sc_sh_parse(b.data, b.len, &sh2, &core), 0);
	assert_int_equal(core, 1 + 32 + 16 + 32 + 2 + SC_MAX_CERT);
	assert_int_equal(sh2.siglen, 256);
	assert_memory_equal(sh2.session_id, sh.session_id, 16);
	assert_ptr_equal(sh2.sig, b.data + core + 2);
	/* The core alone parses as a core, and equals the prefix. */
	assert_int_equal(sc_sh_core_parse(b.data, core, &sh2), 0);
	assert_null(sh2.sig);
	check_prefixes_and_trailing(b.data, core, p_shcore, &sh2);
	sh.certlen = 50;
	wbuf_reset(&b);
	assert_int_equal(sc_sh_encode(&b, &sh), 0);
	check_prefixes_and_trailing(b.data, b.len, p_sh, &sh2);
	/* Signature over 512 bytes. */
	wbuf_reset(&b);
	sh.siglen = SC_MAX_SIG + 1;
	assert_int_equal(sc_sh_encode(&b, &sh), -1);
	wbuf_reset(&b);
	sh.siglen = 0;
	assert_int_equal(sc_sh_core_encode(&b, &sh), 0);
	wbuf_put_str16(&b, sig, SC_MAX_SIG + 1);
	assert_int_equal(sc_sh_parse(b.data, b.len, &sh2, &core),
	    SC_E_TOO_LARGE);
	/* A full hello is not a core, nor is a core a full hello. */
	wbuf_reset(&b);
	assert_int_equal(sc_sh_core_encode(&b, &sh), 0);
	assert_int_equal(sc_sh_parse(b.data, b.len, &sh2, &core),
	    SC_E_PROTOCOL);
	wbuf_put_str16(&b, sig, 256);
	assert_int_equal(sc_sh_core_parse(b.data, b.len, &sh2), SC_E_PROTOCOL);

	wbuf_reset(&b);
	assert_int_equal(sc_cf_encode(&b, sig, 384), 0);
	assert_int_equal(sc_cf_parse(b.data, b.len, &sp, &sl), 0);
	assert_int_equal(sl, 384);
	check_prefixes_and_trailing(b.data, b.len, p_cf, NULL);
	wbuf_reset(&b);
	assert_int_equal(sc_cf_encode(&b, sig, 0), -1);
	wbuf_reset(&b);
	wbuf_put_str16(&b, sig, 0);
	assert_int_equal(sc_cf_parse(b.data, b.len, &sp, &sl), SC_E_PROTOCOL);
	wbuf_reset(&b);
	wbuf_put_str16(&b, sig, SC_MAX_SIG + 1);
	assert_int_equal(sc_cf_parse(b.data, b.len, &sp, &sl), SC_E_TOO_LARGE);
	wbuf_free(&b);
}

static void
test_records(void **state)
{
	struct sc_record r, r2;
	struct wbuf b;
	uint8_t iv[16], *ct, sig[SC_MAX_SIG];

	(void)state;
	ct = calloc(1, SC_MAX_CT + 16);
	assert_non_null(ct);
	memset(iv, 7, sizeof(iv));
	memset(sig, 9, sizeof(sig));
	memset(&r, 0, sizeof(r));
	r.seq = 0x0102030405060708ULL;
	r.ts = 1700000000123ULL;
	r.iv = iv;
	r.ct = ct;
	r.ctlen = 32;
	r.sig = sig;
	r.siglen = 256;
	wbuf_init(&b, SC_MAX_PAYLOAD + 100);
	assert_int_equal(sc_record_encode(&b, &r), 0);
	assert_int_equal(b.len, 8 + 8 + 16 + 4 + 32 + 2 + 256);
	assert_int_equal(sc_record_parse(b.data, b.len, &r2), 0);
	assert_true(r2.seq == r.seq && r2.ts == r.ts);
	assert_int_equal(r2.ctlen, 32);
	assert_int_equal(r2.siglen, 256);
	check_prefixes_and_trailing(b.data, b.len, p_rec, &r2);

	/* The largest record fits a frame. */
	wbuf_reset(&b);
	r.ctlen = SC_MAX_CT;
	r.siglen = SC_MAX_SIG;
	assert_int_equal(SC_MAX_CT % 16, 0);
	assert_int_equal(sc_record_encode(&b, &r), 0);
	assert_true(b.len <= SC_MAX_PAYLOAD);
	assert_int_equal(sc_record_parse(b.data, b.len, &r2), 0);
	/* Ciphertext not a multiple of 16, empty, too long. */
	wbuf_reset(&b);
	r.ctlen = 17;
	r.siglen = 256;
	assert_int_equal(sc_record_encode(&b, &r), -1);
	wbuf_reset(&b);
	wbuf_put_u64(&b, 1);
	wbuf_put_u64(&b, 1);
	wbuf_put(&b, iv, 16);
	wbuf_put_str32(&b, ct, 17);
	wbuf_put_str16(&b, sig, 256);
	assert_int_equal(sc_record_parse(b.data, b.len, &r2), SC_E_PROTOCOL);
	wbuf_reset(&b);
	wbuf_put_u64(&b, 1);
	wbuf_put_u64(&b, 1);
	wbuf_put(&b, iv, 16);
	wbuf_put_str32(&b, ct, 0);
	wbuf_put_str16(&b, sig, 256);
	assert_int_equal(sc_record_parse(b.data, b.len, &r2), SC_E_PROTOCOL);
	wbuf_reset(&b);
	wbuf_put_u64(&b, 1);
	wbuf_put_u64(&b, 1);
	wbuf_put(&b, iv, 16);
	wbuf_put_u32(&b, 0xfffffff0);		/* declared, not present */
	assert_int_equal(sc_record_parse(b.data, b.len, &r2), SC_E_TOO_LARGE);
	wbuf_reset(&b);
	wbuf_put_u64(&b, 1);
	wbuf_put_u64(&b, 1);
	wbuf_put(&b, iv, 16);
	wbuf_put_str32(&b, ct, 16);
	wbuf_put_str16(&b, sig, 0);
	assert_int_equal(sc_record_parse(b.data, b.len, &r2), SC_E_PROTOCOL);

	/* Types: phase, direction, sizes. */
	assert_int_equal(sc_record_phase(SC_T_LOGIN), 1);
	assert_int_equal(sc_record_phase(SC_T_CHAT), 2);
	assert_int_equal(sc_record_phase(SC_T_CLIENT_HELLO), 0);
	assert_int_equal(sc_record_phase(SC_T_ERROR), 0);
	assert_true(sc_record_dir_ok(SC_T_CHAT, SC_DIR_C2S));
	assert_true(sc_record_dir_ok(SC_T_CHAT, SC_DIR_S2C));
	assert_true(sc_record_dir_ok(SC_T_AUTH_OK, SC_DIR_S2C));
	assert_false(sc_record_dir_ok(SC_T_AUTH_OK, SC_DIR_C2S));
	assert_false(sc_record_dir_ok(SC_T_LOGIN, SC_DIR_S2C));
	assert_false(sc_record_dir_ok(SC_T_CLOSE, SC_DIR_S2C));
	assert_false(sc_record_dir_ok(SC_T_ERROR, SC_DIR_S2C));
	assert_false(sc_record_dir_ok(SC_T_CHAT, 3));
	assert_int_equal(sc_record_max_pt(SC_T_CHAT), 2 + SC_MAX_TEXT);
	wbuf_free(&b);
	free(ct);
}

static void
test_bodies(void **state)
{
	struct sc_register reg, reg2;
	struct sc_login lg, lg2;
	struct sc_auth_ok ok, ok2;
	struct sc_receipt rc, rc2;
	struct wbuf b;
	uint8_t text[SC_MAX_TEXT + 1], kex[32];
	const uint8_t *tp;
	size_t tl;

	(void)state;
	memset(kex, 0x42, sizeof(kex));
	memset(text, 'a', sizeof(text));
	wbuf_init(&b, SC_MAX_PAYLOAD);

	memset(&reg, 0, sizeof(reg));
	reg.username = (const uint8_t *)"alice";
	reg.ulen = 5;
	reg.email = (const uint8_t *)"alice@example.org";
	reg.elen = 17;
	reg.password = (const uint8_t *)"correct horse";
	reg.plen = 13;
	memcpy(reg.kex2, kex, 32);
	assert_int_equal(sc_register_encode(&b, &reg), 0);
	assert_int_equal(sc_register_parse(b.data, b.len, &reg2), 0);
	assert_int_equal(reg2.elen, 17);
	assert_memory_equal(reg2.password, "correct horse", 13);
	assert_memory_equal(reg2.kex2, kex, 32);
	check_prefixes_and_trailing(b.data, b.len, p_reg, &reg2);
	/* 33-byte username: TOO_LARGE, not truncated. */
	wbuf_reset(&b);
	wbuf_put_str16(&b, text, SC_MAX_USERNAME + 1);
	wbuf_put_str16(&b, "a@b", 3);
	wbuf_put_str16(&b, "password", 8);
	wbuf_put(&b, kex, 32);
	assert_int_equal(sc_register_parse(b.data, b.len, &reg2),
	    SC_E_TOO_LARGE);
	reg.ulen = SC_MAX_USERNAME + 1;
	reg.username = text;
	wbuf_reset(&b);
	assert_int_equal(sc_register_encode(&b, &reg), -1);

	memset(&lg, 0, sizeof(lg));
	lg.username = (const uint8_t *)"bob";
	lg.ulen = 3;
	lg.password = text;
	lg.plen = SC_MAX_PASSWORD;
	memcpy(lg.kex2, kex, 32);
	wbuf_reset(&b);
	assert_int_equal(sc_login_encode(&b, &lg), 0);
	assert_int_equal(sc_login_parse(b.data, b.len, &lg2), 0);
	assert_int_equal(lg2.plen, SC_MAX_PASSWORD);
	check_prefixes_and_trailing(b.data, b.len, p_login, &lg2);
	wbuf_reset(&b);
	wbuf_put_str16(&b, "bob", 3);
	wbuf_put_str16(&b, text, SC_MAX_PASSWORD + 1);
	wbuf_put(&b, kex, 32);
	assert_int_equal(sc_login_parse(b.data, b.len, &lg2), SC_E_TOO_LARGE);

	memset(&ok, 0, sizeof(ok));
	ok.account_id = 77;
	ok.username = (const uint8_t *)"bob";
	ok.ulen = 3;
	memcpy(ok.kex2, kex, 32);
	wbuf_reset(&b);
	assert_int_equal(sc_auth_ok_encode(&b, &ok), 0);
	assert_int_equal(b.len, sc_record_max_pt(SC_T_AUTH_OK) - 29);
	assert_int_equal(sc_auth_ok_parse(b.data, b.len, &ok2), 0);
	assert_true(ok2.account_id == 77);
	check_prefixes_and_trailing(b.data, b.len, p_ok, &ok2);

	wbuf_reset(&b);
	assert_int_equal(sc_chat_encode(&b, text, SC_MAX_TEXT), 0);
	assert_int_equal(sc_chat_parse(b.data, b.len, &tp, &tl), 0);
	assert_int_equal(tl, SC_MAX_TEXT);
	check_prefixes_and_trailing(b.data, b.len, p_chat, NULL);
	wbuf_reset(&b);
	assert_int_equal(sc_chat_encode(&b, text, SC_MAX_TEXT + 1), -1);
	wbuf_reset(&b);
	wbuf_put_str16(&b, text, SC_MAX_TEXT + 1);
	assert_int_equal(sc_chat_parse(b.data, b.len, &tp, &tl),
	    SC_E_TOO_LARGE);

	memset(&rc, 0, sizeof(rc));
	memset(rc.session_id, 0x11, 16);
	rc.role = SC_ROLE_CLIENT;
	rc.first_seq = 2;
	rc.last_seq = 9;
	memset(rc.transcript_sha256, 0x22, 32);
	memset(rc.peer_fp, 0x33, 32);
	memset(rc.sig, 0x44, 256);
	rc.siglen = 256;
	wbuf_reset(&b);
	assert_int_equal(sc_receipt_encode(&b, &rc), 0);
	assert_int_equal(b.len, 1 + 8 + 8 + 32 + 32 + 2 + 256);
	memset(rc2.session_id, 0x99, 16);
	assert_int_equal(sc_receipt_parse(b.data, b.len, &rc2), 0);
	/* session_id is not on the wire: the caller's value stays. */
	assert_int_equal(rc2.session_id[0], 0x99);
	assert_int_equal(rc2.role, SC_ROLE_CLIENT);
	assert_true(rc2.first_seq == 2 && rc2.last_seq == 9);
	assert_memory_equal(rc2.sig, rc.sig, 256);
	check_prefixes_and_trailing(b.data, b.len, p_rcpt, &rc2);
	b.data[0] = 3;				/* no such role */
	assert_int_equal(sc_receipt_parse(b.data, b.len, &rc2), SC_E_PROTOCOL);
	rc.role = SC_ROLE_SERVER;
	rc.first_seq = 10;			/* first > last */
	wbuf_reset(&b);
	assert_int_equal(sc_receipt_encode(&b, &rc), 0);
	assert_int_equal(sc_receipt_parse(b.data, b.len, &rc2), SC_E_PROTOCOL);
	wbuf_free(&b);
}

#define U(s)	(const uint8_t *)(s), strlen(s)

static void
test_content_checks(void **state)
{
	uint8_t buf[SC_MAX_TEXT + 1];

	(void)state;
	assert_true(sc_valid_username(U("alice")));
	assert_true(sc_valid_username(U("a")));
	assert_true(sc_valid_username(U("0day_user.name-x")));
	assert_true(sc_valid_username(U("abcdefghijklmnopqrstuvwxyz012345")));
	assert_false(sc_valid_username(U("abcdefghijklmnopqrstuvwxyz0123456")));
	assert_false(sc_valid_username(U("")));
	assert_false(sc_valid_username(U("Alice")));
	assert_false(sc_valid_username(U("_alice")));
	assert_false(sc_valid_username(U(".alice")));
	assert_false(sc_valid_username(U("al ice")));
	assert_false(sc_valid_username((const uint8_t *)"al\0ce", 5));
	assert_false(sc_valid_username(U("al\xc3\xa9")));

	assert_true(sc_valid_email(U("a@b")));
	assert_true(sc_valid_email(U("alice+tag@example.org")));
	assert_false(sc_valid_email(U("ab")));
	assert_false(sc_valid_email(U("alice.example.org")));
	assert_false(sc_valid_email(U("a@b@c")));
	assert_false(sc_valid_email(U("@bc")));
	assert_false(sc_valid_email(U("ab@")));
	assert_false(sc_valid_email(U("a b@c")));
	assert_false(sc_valid_email(U("a\n@b")));
	memset(buf, 'e', 300);
	buf[1] = '@';
	assert_true(sc_valid_email(buf, SC_MAX_EMAIL));
	assert_false(sc_valid_email(buf, SC_MAX_EMAIL + 1));

	assert_true(sc_valid_password(U("12345678")));
	assert_false(sc_valid_password(U("1234567")));
	/* NUL refused: scrypt's HMAC would not tell "pw" from "pw\0". */
	assert_false(sc_valid_password((const uint8_t *)"1234\0" "5678", 9));
	memset(buf, 'p', sizeof(buf));
	assert_true(sc_valid_password(buf, SC_MAX_PASSWORD));
	assert_false(sc_valid_password(buf, SC_MAX_PASSWORD + 1));

	assert_true(sc_valid_text(U("hello, world")));
	assert_true(sc_valid_text(U("tab\there")));
	assert_true(sc_valid_text(U("h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80")));
	assert_true(sc_valid_text(U("\xf4\x8f\xbf\xbf")));	/* U+10FFFF */
	assert_false(sc_valid_text(U("")));
	assert_false(sc_valid_text(U("bell\x07")));
	assert_false(sc_valid_text(U("line\nbreak")));
	assert_false(sc_valid_text(U("esc\x1b[2J")));
	assert_false(sc_valid_text(U("del\x7f")));
	assert_false(sc_valid_text(U("\xc2\x9b" "31m")));	/* C1 CSI */
	assert_false(sc_valid_text(U("\xc0\x80")));		/* overlong NUL */
	assert_false(sc_valid_text(U("\xe0\x80\xaf")));	/* overlong '/' */
	assert_false(sc_valid_text(U("\xed\xa0\x80")));	/* surrogate */
	assert_false(sc_valid_text(U("\xf4\x90\x80\x80")));	/* > U+10FFFF */
	assert_false(sc_valid_text(U("\xf5\x80\x80\x80")));
	assert_false(sc_valid_text(U("\xe2\x9c")));		/* truncated */
	assert_false(sc_valid_text(U("\x80")));
	assert_false(sc_valid_text((const uint8_t *)"a\0b", 3));
	memset(buf, 'x', sizeof(buf));
	assert_true(sc_valid_text(buf, SC_MAX_TEXT));
	assert_false(sc_valid_text(buf, SC_MAX_TEXT + 1));
}

static void
test_base64(void **state)
{
	uint8_t in[64], out[64];
	char enc[100];
	size_t n, i;
	int len;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 1);
	for (i = 0; i <= 10; i++) {
		len = sc_b64_encode(in, i, enc, sizeof(enc));
		assert_int_equal(len, (int)((i + 2) / 3 * 4));
		assert_int_equal(sc_b64_decode(enc, (size_t)len, out,
		    sizeof(out), &n), 0);
		assert_int_equal(n, i);
		assert_memory_equal(out, in, i);
	}
	assert_int_equal(sc_b64_encode((const uint8_t *)"foob", 4, enc, 9), 8);
	assert_string_equal(enc, "Zm9vYg==");
	assert_int_equal(sc_b64_encode((const uint8_t *)"foob", 4, enc, 8), -1);
	assert_int_equal(sc_b64_decode("Zm9vYg==", 8, out, 4, &n), 0);
	assert_int_equal(sc_b64_decode("Zm9vYg==", 8, out, 3, &n), -1);
	assert_int_equal(sc_b64_decode("Zm9vYg", 6, out, 9, &n), -1);
	assert_int_equal(sc_b64_decode("Zm9vYh==", 8, out, 9, &n), -1);
	assert_int_equal(sc_b64_decode("Zm9vY===", 8, out, 9, &n), -1);
	assert_int_equal(sc_b64_decode("Zm=vYg==", 8, out, 9, &n), -1);
	assert_int_equal(sc_b64_decode("Zm9v Yg=", 8, out, 9, &n), -1);
	assert_int_equal(sc_b64_decode("Zm9vYg=\n", 8, out, 9, &n), -1);
	assert_int_equal(sc_b64_decode("", 0, out, 9, &n), 0);
	assert_int_equal(n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_frame_pipe),
		cmocka_unit_test(test_frame_bad_header),
		cmocka_unit_test(test_frame_timeout),
		cmocka_unit_test(test_error_frames),
		cmocka_unit_test(test_hellos),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_content_checks),
		cmocka_unit_test(test_base64),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
