/*
 * test_vectors.c: the worked example of docs/PROTOCOL.md §7, byte for
 * byte.  Every hex string below is copied from the document (which was
 * computed independently with Python's `cryptography`); if the code or the
 * document changes, this test says which value differs.
 *
 * No RSA key is involved: the certificates and signatures of the example
 * are labelled placeholders, and the vectors pin down the exact bytes that
 * get signed (and their SHA-256), which is what an implementation must
 * reproduce; RSA PKCS#1 v1.5 itself is standard.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "buf.h"
#include "proto.h"
#include "record.h"
#include "sccrypto.h"
#include "testutil.h"
#include "transcript.h"
#include "util.h"

/* Inputs (PROTOCOL.md §7.1). */
#define V_CLIENT_PRIV	"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define V_SERVER_PRIV	"5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
#define V_KEX2C_PRIV	"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define V_KEX2S_PRIV	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
#define V_CCERT		"placeholder client certificate"
#define V_SCERT		"placeholder server certificate"

/* Outputs (PROTOCOL.md §7.2 - §7.5). */
#define V_CLIENT_KEX	"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define V_SERVER_KEX	"de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
#define V_KEX2C		"605a725d2a4adfeeb1a29e17edd621c1b7593ee8cdbc44ac6c4ab6e2f805d23c"
#define V_KEX2S		"dc2cca31e8e43bbd91dff7e475cca3347eb478107d5bd765aba4ae4a30c35d44"
#define V_CH \
	"0101000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" \
	"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" \
	"001e706c616365686f6c64657220636c69656e74206365727469666963617465"
#define V_SH_CORE \
	"01202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" \
	"404142434445464748494a4b4c4d4e4f" \
	"de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f" \
	"001e706c616365686f6c64657220736572766572206365727469666963617465"
#define V_H1		"81abd886651e8d6b166bb2212cabfc4acf59baee71deafb6c736fa877dfb6ba1"
#define V_SSTMT \
	"536563757265436861742d7631207365727665722068616e647368616b6500" \
	"81abd886651e8d6b166bb2212cabfc4acf59baee71deafb6c736fa877dfb6ba1"
#define V_SSTMT_SHA	"7bfb71c5370872792c2168d91671989dd7a7826c1f982c3f849ae7c4ddf4617a"
#define V_H2		"c9eab1099d93cb20639585c7bd1fad32e41b56b7283dc9b5711342e0ea76d08c"
#define V_CSTMT_SHA	"1514bbe0e5d8fdc012e13f1f4eec30b7017a7be634b595ad14e2e00f725cf463"
#define V_SS1		"4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
#define V_KTEMP_C2S	"49fbcc1b780542ecf89c9f0ebaf6a25c"
#define V_KTEMP_S2C	"e40a9c7b7a1a47e8ea5255a868617270"
#define V_SS2		"3b87c5035cce13678dd93d2dbc3a3d42039ebec86444a1ff82cd61b84c6fe968"
#define V_K_C2S		"9c09e62caa0c7165712c60f22946b233"
#define V_K_S2C		"ac2a72b40dd274291ae7ee3cd0da4d3b"
#define V_CHAT_PT	"000c68656c6c6f2c20776f726c64"
#define V_CHAT_CT	"230d818361975e49f95a2086ac4dbafd"
#define V_RSTMT \
	"536563757265436861742d7631207265636f726400" \
	"404142434445464748494a4b4c4d4e4f" "01" "30" "02" \
	"0000000000000002" "0000018bcfe56800" \
	"606162636465666768696a6b6c6d6e6f" \
	"00000010" "230d818361975e49f95a2086ac4dbafd"
#define V_RSTMT_SHA	"771013cd61a601730048ba21c450248eb1c3a26d40015fd847c9f2023a6e2d26"
#define V_FRAME_HEAD \
	"5343013000000136" "0000000000000002" "0000018bcfe56800" \
	"606162636465666768696a6b6c6d6e6f" \
	"00000010" "230d818361975e49f95a2086ac4dbafd" "0100"
#define V_CLIENT_FP	"8e9a4d51148bae4c95d41f3cfafde9f4fde26ebca3f2aa699963425a98b8d3a9"
#define V_D_C2S		"1adb1402e54088ee8dde351dded0590b71e562f41ffc1bbf775e64e854a3231c"
#define V_TRANSCRIPT	"e40dee5a72d7a414aeafc9c542398ec10cbb4e7cc2b058955d2e58fe8057306a"
#define V_RCPT_SHA	"9000b28ed1e6e839c5c8453adba56bb5e6588f7b47ec587f8f04170274a389e0"
#define V_TS		1700000000000ULL

static void
assert_hex(const uint8_t *got, size_t len, const char *want)
{
	char *h = malloc(2 * len + 1);

	assert_non_null(h);
	hex_encode(got, len, h);
	assert_string_equal(h, want);
	free(h);
}

static void
assert_sha(const uint8_t *p, size_t len, const char *want)
{
	uint8_t d[32];

	assert_int_equal(sc_sha256(p, len, d), 0);
	assert_hex(d, 32, want);
}

/* Everything the example derives, in order. */
struct example {
	EVP_PKEY	*client, *server, *kex2c, *kex2s;
	struct wbuf	 ch, shcore;
	uint8_t		 h1[32], h2[32], ss1[32], ss2[32];
	uint8_t		 ssig[256];
	struct sc_dirkeys temp, sess;
};

static void
example_run(struct example *e)
{
	struct sc_client_hello ch;
	struct sc_server_hello sh;
	uint8_t priv[32], pub[32];
	size_t i;

	memset(e, 0, sizeof(*e));
	assert_int_equal(hex_decode(V_CLIENT_PRIV, priv, 32), 0);
	assert_int_equal(sc_x25519_from_private(priv, &e->client, pub), 0);
	assert_hex(pub, 32, V_CLIENT_KEX);
	memset(&ch, 0, sizeof(ch));
	ch.min_version = ch.max_version = 1;
	for (i = 0; i < 32; i++)
		ch.client_nonce[i] = (uint8_t)i;
	memcpy(ch.client_kex, pub, 32);
	ch.cert = (const uint8_t *)V_CCERT;
	ch.certlen = strlen(V_CCERT);

	assert_int_equal(hex_decode(V_SERVER_PRIV, priv, 32), 0);
	assert_int_equal(sc_x25519_from_private(priv, &e->server, pub), 0);
	assert_hex(pub, 32, V_SERVER_KEX);
	memset(&sh, 0, sizeof(sh));
	sh.version = 1;
	for (i = 0; i < 32; i++)
		sh.server_nonce[i] = (uint8_t)(0x20 + i);
	for (i = 0; i < 16; i++)
		sh.session_id[i] = (uint8_t)(0x40 + i);
	memcpy(sh.server_kex, pub, 32);
	sh.cert = (const uint8_t *)V_SCERT;
	sh.certlen = strlen(V_SCERT);

	wbuf_init(&e->ch, SC_MAX_PAYLOAD);
	wbuf_init(&e->shcore, SC_MAX_PAYLOAD);
	assert_int_equal(sc_ch_encode(&e->ch, &ch), 0);
	assert_int_equal(sc_sh_core_encode(&e->shcore, &sh), 0);
	assert_int_equal(sc_h1(e->ch.data, e->ch.len, e->shcore.data,
	    e->shcore.len, e->h1), 0);
	/* The placeholder server signature: 256 bytes of 0x5a. */
	memset(e->ssig, 0x5a, sizeof(e->ssig));
	assert_int_equal(sc_h2(e->h1, e->ssig, sizeof(e->ssig), e->h2), 0);
	assert_int_equal(sc_x25519_derive(e->client, sh.server_kex, 32,
	    e->ss1), 0);
	assert_int_equal(sc_derive_temp_keys(e->ss1, e->h2, &e->temp), 0);

	assert_int_equal(hex_decode(V_KEX2C_PRIV, priv, 32), 0);
	assert_int_equal(sc_x25519_from_private(priv, &e->kex2c, pub), 0);
	assert_hex(pub, 32, V_KEX2C);
	assert_int_equal(hex_decode(V_KEX2S_PRIV, priv, 32), 0);
	assert_int_equal(sc_x25519_from_private(priv, &e->kex2s, pub), 0);
	assert_hex(pub, 32, V_KEX2S);
	assert_int_equal(sc_x25519_derive(e->kex2c, pub, 32, e->ss2), 0);
	assert_int_equal(sc_derive_session_keys(e->ss2, e->h2, &e->sess), 0);
}

static void
example_free(struct example *e)
{
	EVP_PKEY_free(e->client);
	EVP_PKEY_free(e->server);
	EVP_PKEY_free(e->kex2c);
	EVP_PKEY_free(e->kex2s);
	wbuf_free(&e->ch);
	wbuf_free(&e->shcore);
}

static void
test_handshake_vectors(void **state)
{
	struct example e;
	struct wbuf st;
	uint8_t ss[32], pub[32];

	(void)state;
	example_run(&e);
	assert_hex(e.ch.data, e.ch.len, V_CH);
	assert_hex(e.shcore.data, e.shcore.len, V_SH_CORE);
	assert_hex(e.h1, 32, V_H1);

	wbuf_init(&st, SC_STMT_MAX);
	assert_int_equal(sc_stmt_server_handshake(&st, e.h1), 0);
	assert_hex(st.data, st.len, V_SSTMT);
	assert_sha(st.data, st.len, V_SSTMT_SHA);
	wbuf_reset(&st);
	assert_hex(e.h2, 32, V_H2);
	assert_int_equal(sc_stmt_client_handshake(&st, e.h2), 0);
	assert_int_equal(st.len, 31 + 32);
	assert_sha(st.data, st.len, V_CSTMT_SHA);
	wbuf_free(&st);

	/* X25519 is symmetric, and matches RFC 7748 §6.1. */
	assert_hex(e.ss1, 32, V_SS1);
	assert_int_equal(hex_decode(V_CLIENT_KEX, pub, 32), 0);
	assert_int_equal(sc_x25519_derive(e.server, pub, 32, ss), 0);
	assert_memory_equal(ss, e.ss1, 32);

	assert_hex(e.temp.c2s, 16, V_KTEMP_C2S);
	assert_hex(e.temp.s2c, 16, V_KTEMP_S2C);
	assert_hex(e.ss2, 32, V_SS2);
	assert_hex(e.sess.c2s, 16, V_K_C2S);
	assert_hex(e.sess.s2c, 16, V_K_S2C);
	example_free(&e);
}

/* A signer that hands back a placeholder and keeps the statement. */
struct capture {
	struct wbuf	stmt;
	int		calls;
};

static int
capture_signer(void *arg, const struct record_sign_req *req, uint8_t *sig,
    size_t *siglen)
{
	struct capture *c = arg;

	c->calls++;
	wbuf_put(&c->stmt, req->stmt, req->stmtlen);
	memset(sig, 0xa5, 256);
	*siglen = 256;
	return 0;
}

static void
test_record_vector(void **state)
{
	struct example e;
	struct sc_channel ch;
	struct capture cap;
	struct wbuf out, pt;
	struct sc_record rec;
	uint8_t iv[16], sid[16], frame_head[62], dec[64];
	size_t i, n;

	(void)state;
	example_run(&e);
	for (i = 0; i < 16; i++) {
		iv[i] = (uint8_t)(0x60 + i);
		sid[i] = (uint8_t)(0x40 + i);
	}
	wbuf_init(&pt, 64);
	assert_int_equal(sc_chat_encode(&pt, (const uint8_t *)"hello, world",
	    12), 0);
	assert_hex(pt.data, pt.len, V_CHAT_PT);

	assert_int_equal(record_channel_init(&ch, SC_SIDE_CLIENT, sid, NULL,
	    0), 0);
	assert_int_equal(record_set_keys(&ch, SC_PHASE_SESSION, &e.sess), 0);
	ch.send_seq = 1;	/* LOGIN was c2s record 1 */
	memset(&cap, 0, sizeof(cap));
	wbuf_init(&cap.stmt, SC_STMT_MAX);
	wbuf_init(&out, SC_MAX_PAYLOAD);
	assert_int_equal(record_seal_at(&ch, SC_T_CHAT, pt.data, pt.len, V_TS,
	    iv, capture_signer, &cap, &out), 0);
	assert_int_equal(cap.calls, 1);
	assert_hex(cap.stmt.data, cap.stmt.len, V_RSTMT);
	assert_sha(cap.stmt.data, cap.stmt.len, V_RSTMT_SHA);

	/* The frame: header, then the payload up to the signature. */
	assert_int_equal(out.len, 8 + 8 + 16 + 4 + 16 + 2 + 256);
	frame_head[0] = SC_MAGIC0;
	frame_head[1] = SC_MAGIC1;
	frame_head[2] = SC_PROTO_VERSION;
	frame_head[3] = SC_T_CHAT;
	frame_head[4] = (uint8_t)(out.len >> 24);
	frame_head[5] = (uint8_t)(out.len >> 16);
	frame_head[6] = (uint8_t)(out.len >> 8);
	frame_head[7] = (uint8_t)out.len;
	memcpy(frame_head + 8, out.data, sizeof(frame_head) - 8);
	assert_hex(frame_head, sizeof(frame_head), V_FRAME_HEAD);
	for (i = out.len - 256; i < out.len; i++)
		assert_int_equal(out.data[i], 0xa5);

	/* And the ciphertext decrypts back with K_c2s. */
	assert_int_equal(sc_record_parse(out.data, out.len, &rec), 0);
	assert_hex(rec.ct, rec.ctlen, V_CHAT_CT);
	n = sizeof(dec);
	assert_int_equal(sc_aes_cbc_decrypt(e.sess.c2s, rec.iv, rec.ct,
	    rec.ctlen, dec, &n), 0);
	assert_hex(dec, n, V_CHAT_PT);

	record_channel_clear(&ch);
	wbuf_free(&cap.stmt);
	wbuf_free(&out);
	wbuf_free(&pt);
	example_free(&e);
}

static void
test_transcript_vector(void **state)
{
	struct sc_record rec;
	struct sc_receipt r;
	struct transcript t;
	struct wbuf line, st;
	uint8_t iv[16], ct[16], sig[256], fp[32], d[32];
	uint64_t first, last;
	char *dir, path[512], why[256];
	size_t i;
	const char *want_line;

	(void)state;
	for (i = 0; i < 16; i++)
		iv[i] = (uint8_t)(0x60 + i);
	assert_int_equal(hex_decode(V_CHAT_CT, ct, 16), 0);
	memset(sig, 0xa5, sizeof(sig));
	assert_int_equal(sc_sha256(V_CCERT, strlen(V_CCERT), fp), 0);
	assert_hex(fp, 32, V_CLIENT_FP);
	memset(&rec, 0, sizeof(rec));
	rec.seq = 2;
	rec.ts = V_TS;
	rec.iv = iv;
	rec.ct = ct;
	rec.ctlen = 16;
	rec.sig = sig;
	rec.siglen = 256;

	wbuf_init(&line, TRANSCRIPT_MAX_LINE);
	assert_int_equal(transcript_line_format(&line, SC_DIR_C2S, SC_T_CHAT,
	    &rec, fp), 0);
	want_line = "2|1700000000000|c2s|48|"
	    "YGFiY2RlZmdoaWprbG1ubyMNgYNhl15J+VoghqxNuv0=|";
	assert_true(line.len > strlen(want_line));
	assert_memory_equal(line.data, want_line, strlen(want_line));
	assert_sha(line.data, line.len, V_D_C2S);

	dir = tu_mkdtemp("vectors");
	snprintf(path, sizeof(path), "%s/transcript", dir);
	assert_int_equal(transcript_open(&t, path, TRANSCRIPT_SYNC_EACH), 0);
	assert_int_equal(transcript_append(&t, SC_DIR_C2S, SC_T_CHAT, &rec,
	    fp), 0);
	assert_int_equal(transcript_digest(&t, d, &first, &last), 0);
	assert_hex(d, 32, V_TRANSCRIPT);
	assert_true(first == 2 && last == 2);
	transcript_close(&t);
	if (transcript_file_digest(path, d, &first, &last, NULL, NULL, why,
	    sizeof(why)) == -1)
		fail_msg("%s", why);
	assert_hex(d, 32, V_TRANSCRIPT);

	/* The server's receipt statement over that transcript. */
	memset(&r, 0, sizeof(r));
	for (i = 0; i < 16; i++)
		r.session_id[i] = (uint8_t)(0x40 + i);
	r.role = SC_ROLE_SERVER;
	r.first_seq = r.last_seq = 2;
	memcpy(r.transcript_sha256, d, 32);
	memcpy(r.peer_fp, fp, 32);
	wbuf_init(&st, SC_STMT_MAX);
	assert_int_equal(sc_stmt_receipt(&st, &r), 0);
	assert_int_equal(st.len, 22 + 16 + 1 + 8 + 8 + 32 + 32);
	assert_sha(st.data, st.len, V_RCPT_SHA);

	wbuf_free(&st);
	wbuf_free(&line);
	tu_rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_vectors),
		cmocka_unit_test(test_record_vector),
		cmocka_unit_test(test_transcript_vector),
	};

	return cmocka_run_group_tests_name("vectors", tests, NULL, NULL);
}
