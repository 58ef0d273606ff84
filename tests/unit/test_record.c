/*
 * test_record.c: the cryptography (X25519 with low-order points, HKDF
 * against RFC 5869, AES-CBC padding, RSA), sealing and opening records
 * (every tampered field is SIG_FAIL, replay and gaps are REPLAY, time
 * outside the window is STALE, bad padding under a valid signature is
 * SIG_FAIL, nothing is committed by a failure), and transcripts and
 * receipts: both ends get the same hash, a receipt verifies offline, and
 * a modified transcript or receipt does not.
 *
 * Keys and certificates are made at run time (common/pki.h) in a
 * temporary directory that is removed at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "buf.h"
#include "pki.h"
#include "proto.h"
#include "record.h"
#include "sccrypto.h"
#include "testutil.h"
#include "transcript.h"
#include "util.h"

struct fixture {
	char		*dir;
	EVP_PKEY	*ca_key, *srv_key, *cli_key, *other_key;
	X509		*ca, *srv, *cli;
	uint8_t		 srv_fp[32], cli_fp[32];
	char		 ca_path[512], srv_path[512], cli_path[512];
	char		 other_ca_path[512];
};

static struct fixture fx;

static X509 *
make_cert(const char *cn, enum pki_purpose purpose, int is_ca, EVP_PKEY *key,
    X509 *issuer, EVP_PKEY *issuer_key)
{
	struct pki_cert_spec spec;
	char err[256];
	X509 *x;

	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.san = purpose == PKI_PURPOSE_SERVER ? "DNS:localhost" : NULL;
	spec.purpose = purpose;
	spec.is_ca = is_ca;
	spec.not_before = time(NULL) - 3600;
	spec.not_after = time(NULL) + 86400;
	x = pki_make_cert(&spec, key, issuer, issuer_key, err, sizeof(err));
	if (x == NULL)
		fail_msg("pki_make_cert %s: %s", cn, err);
	return x;
}

static EVP_PKEY *
rsa_key(unsigned int bits)
{
	char err[256];
	EVP_PKEY *k = pki_rsa_keygen(bits, err, sizeof(err));

	if (k == NULL)
		fail_msg("keygen: %s", err);
	return k;
}

static int
setup(void **state)
{
	X509 *other_ca;
	EVP_PKEY *other_ca_key;
	char err[256];

	(void)state;
	memset(&fx, 0, sizeof(fx));
	fx.dir = tu_mkdtemp("record");
	fx.ca_key = rsa_key(2048);
	fx.srv_key = rsa_key(2048);
	fx.cli_key = rsa_key(2048);
	fx.other_key = rsa_key(2048);
	fx.ca = make_cert("Test CA", PKI_PURPOSE_ANY, 1, fx.ca_key, NULL, NULL);
	fx.srv = make_cert("localhost", PKI_PURPOSE_SERVER, 0, fx.srv_key,
	    fx.ca, fx.ca_key);
	fx.cli = make_cert("alice", PKI_PURPOSE_CLIENT, 0, fx.cli_key, fx.ca,
	    fx.ca_key);
	assert_int_equal(pki_fingerprint(fx.srv, fx.srv_fp), 0);
	assert_int_equal(pki_fingerprint(fx.cli, fx.cli_fp), 0);
	snprintf(fx.ca_path, sizeof(fx.ca_path), "%s/ca.pem", fx.dir);
	snprintf(fx.srv_path, sizeof(fx.srv_path), "%s/server.pem", fx.dir);
	snprintf(fx.cli_path, sizeof(fx.cli_path), "%s/client.pem", fx.dir);
	snprintf(fx.other_ca_path, sizeof(fx.other_ca_path), "%s/other.pem",
	    fx.dir);
	assert_int_equal(pki_write_cert(fx.ca_path, fx.ca, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_write_cert(fx.srv_path, fx.srv, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_write_cert(fx.cli_path, fx.cli, 0, err,
	    sizeof(err)), 0);
	other_ca_key = rsa_key(2048);
	other_ca = make_cert("Other CA", PKI_PURPOSE_ANY, 1, other_ca_key,
	    NULL, NULL);
	assert_int_equal(pki_write_cert(fx.other_ca_path, other_ca, 0, err,
	    sizeof(err)), 0);
	X509_free(other_ca);
	EVP_PKEY_free(other_ca_key);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(fx.ca_key);
	EVP_PKEY_free(fx.srv_key);
	EVP_PKEY_free(fx.cli_key);
	EVP_PKEY_free(fx.other_key);
	X509_free(fx.ca);
	X509_free(fx.srv);
	X509_free(fx.cli);
	tu_rmrf(fx.dir);
	free(fx.dir);
	return 0;
}

/* ---- primitives ---- */

static void
test_x25519(void **state)
{
	/* Low-order points and non-canonical encodings of them. */
	static const char *const bad[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	EVP_PKEY *a, *b;
	uint8_t pa[32], pb[32], s1[32], s2[32], p[33];
	size_t i;

	(void)state;
	assert_int_equal(sc_x25519_keygen(&a, pa), 0);
	assert_int_equal(sc_x25519_keygen(&b, pb), 0);
	assert_int_equal(sc_x25519_derive(a, pb, 32, s1), 0);
	assert_int_equal(sc_x25519_derive(b, pa, 32, s2), 0);
	assert_memory_equal(s1, s2, 32);
	assert_memory_not_equal(pa, pb, 32);
	/* Wrong lengths. */
	memcpy(p, pb, 32);
	p[32] = 0;
	assert_int_equal(sc_x25519_derive(a, p, 31, s1), -1);
	assert_int_equal(sc_x25519_derive(a, p, 33, s1), -1);
	assert_int_equal(sc_x25519_derive(a, NULL, 32, s1), -1);
	assert_int_equal(sc_x25519_derive(NULL, pb, 32, s1), -1);
	/* Every low-order point gives an all-zero secret: refused, wiped. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hex_decode(bad[i], p, 32), 0);
		memset(s1, 0xff, sizeof(s1));
		assert_int_equal(sc_x25519_derive(a, p, 32, s1), -1);
		for (size_t k = 0; k < 32; k++)
			assert_int_equal(s1[k], 0);
	}
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

static void
test_hkdf_rfc5869(void **state)
{
	uint8_t ikm[22], salt[13], info[10], okm[42], want[42];
	size_t i;

	(void)state;
	/* RFC 5869 A.1 */
	memset(ikm, 0x0b, sizeof(ikm));
	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	assert_int_equal(hex_decode("3cb25f25faacd57a90434f64d0362f2a"
	    "2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", want, 42),
	    0);
	assert_int_equal(sc_hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt),
	    info, sizeof(info), okm, sizeof(okm)), 0);
	assert_memory_equal(okm, want, 42);
}

static void
test_aes_cbc(void **state)
{
	uint8_t key[16], iv[16], pt[64], ct[80], out[80];
	size_t n, m, len;

	(void)state;
	RAND_bytes(key, sizeof(key));
	RAND_bytes(iv, sizeof(iv));
	RAND_bytes(pt, sizeof(pt));
	for (len = 0; len <= 48; len++) {
		n = sizeof(ct);
		assert_int_equal(sc_aes_cbc_encrypt(key, iv, pt, len, ct, &n), 0);
		assert_int_equal(n, SC_CT_LEN(len));
		m = sizeof(out);
		assert_int_equal(sc_aes_cbc_decrypt(key, iv, ct, n, out, &m), 0);
		assert_int_equal(m, len);
		assert_memory_equal(out, pt, len);
	}
	/* Output buffer too small. */
	n = 15;
	assert_int_equal(sc_aes_cbc_encrypt(key, iv, pt, 0, ct, &n), -1);
	/* Lengths that cannot be CBC. */
	m = sizeof(out);
	assert_int_equal(sc_aes_cbc_decrypt(key, iv, ct, 0, out, &m), -1);
	assert_int_equal(sc_aes_cbc_decrypt(key, iv, ct, 15, out, &m), -1);
	assert_int_equal(sc_aes_cbc_decrypt(key, iv, ct, 17, out, &m), -1);
	/* A broken padding byte. */
	n = sizeof(ct);
	assert_int_equal(sc_aes_cbc_encrypt(key, iv, pt, 20, ct, &n), 0);
	ct[n - 17] ^= 0x01;	/* flips the last plaintext byte: pad 12 -> 13 */
	m = sizeof(out);
	assert_int_equal(sc_aes_cbc_decrypt(key, iv, ct, n, out, &m), -1);
}

static void
test_rsa(void **state)
{
	EVP_PKEY *x, *small;
	uint8_t sig[SC_MAX_SIG], pub[32];
	size_t siglen = sizeof(sig), tiny = 100;
	const uint8_t msg[] = "statement";

	(void)state;
	assert_int_equal(sc_rsa_sign(fx.srv_key, msg, sizeof(msg), sig,
	    &siglen), 0);
	assert_int_equal(siglen, 256);
	assert_int_equal(sc_rsa_verify(X509_get0_pubkey(fx.srv), msg,
	    sizeof(msg), sig, siglen), 0);
	assert_int_equal(sc_rsa_verify(fx.srv_key, msg, sizeof(msg), sig,
	    siglen), 0);
	/* Deterministic (PKCS#1 v1.5). */
	{
		uint8_t sig2[SC_MAX_SIG];
		size_t l2 = sizeof(sig2);

		assert_int_equal(sc_rsa_sign(fx.srv_key, msg, sizeof(msg),
		    sig2, &l2), 0);
		assert_memory_equal(sig, sig2, siglen);
	}
	assert_int_equal(sc_rsa_verify(X509_get0_pubkey(fx.cli), msg,
	    sizeof(msg), sig, siglen), -1);
	assert_int_equal(sc_rsa_verify(fx.srv_key, msg, sizeof(msg) - 1, sig,
	    siglen), -1);
	assert_int_equal(sc_rsa_verify(fx.srv_key, msg, sizeof(msg), sig,
	    siglen - 1), -1);
	sig[10] ^= 1;
	assert_int_equal(sc_rsa_verify(fx.srv_key, msg, sizeof(msg), sig,
	    siglen), -1);
	assert_int_equal(sc_rsa_sign(fx.srv_key, msg, sizeof(msg), sig,
	    &tiny), -1);
	/* Not RSA, or too small. */
	assert_int_equal(sc_x25519_keygen(&x, pub), 0);
	assert_int_equal(sc_rsa_key_ok(x), -1);
	siglen = sizeof(sig);
	assert_int_equal(sc_rsa_sign(x, msg, sizeof(msg), sig, &siglen), -1);
	EVP_PKEY_free(x);
	small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(small);
	assert_int_equal(sc_rsa_key_ok(small), -1);
	siglen = sizeof(sig);
	assert_int_equal(sc_rsa_sign(small, msg, sizeof(msg), sig, &siglen),
	    -1);
	EVP_PKEY_free(small);
}

/* The signature of msg by key through OpenSSL's one-shot API directly. */
static size_t
direct_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	size_t n = SC_MAX_SIG;

	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL,
	    key), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING),
	    1);
	assert_int_equal(EVP_DigestSign(md, sig, &n, msg, len), 1);
	EVP_MD_CTX_free(md);
	return n;
}

struct signer {
	pthread_t	 th;
	EVP_PKEY	*key[2];
	int		 bad;
};

static void *
signer_run(void *arg)
{
	struct signer *sg = arg;
	uint8_t sig[SC_MAX_SIG], msg[32];
	size_t n;
	int i;

	for (i = 0; i < 40; i++) {
		memset(msg, i, sizeof(msg));
		n = sizeof(sig);
		if (sc_rsa_sign(sg->key[i & 1], msg, sizeof(msg), sig, &n) != 0 ||
		    sc_rsa_verify(sg->key[i & 1], msg, sizeof(msg), sig, n) !=
		    0 || sc_rsa_verify(sg->key[(i + 1) & 1], msg, sizeof(msg),
		    sig, n) != -1)
			sg->bad++;
	}
	return NULL;
}

/*
 * sc_rsa_sign and sc_rsa_verify keep a context for the last key: the
 * signatures are those of OpenSSL's one-shot API, a change of key is
 * seen, a key freed by its owner while cached is not confused with a
 * new one, and threads signing at once with different keys all get
 * valid signatures.
 */
static void
test_rsa_cache(void **state)
{
	struct signer sg[4];
	EVP_PKEY *k1, *k2;
	uint8_t sig[SC_MAX_SIG], want[SC_MAX_SIG];
	const uint8_t msg[] = "cached statement";
	size_t n, wn;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		EVP_PKEY *key = i == 1 ? fx.cli_key : fx.srv_key;

		n = sizeof(sig);
		assert_int_equal(sc_rsa_sign(key, msg, sizeof(msg), sig, &n),
		    0);
		wn = direct_sign(key, msg, sizeof(msg), want);
		assert_int_equal(n, wn);
		assert_memory_equal(sig, want, n);
		assert_int_equal(sc_rsa_verify(X509_get0_pubkey(i == 1 ?
		    fx.cli : fx.srv), msg, sizeof(msg), sig, n), 0);
		assert_int_equal(sc_rsa_verify(X509_get0_pubkey(i == 1 ?
		    fx.srv : fx.cli), msg, sizeof(msg), sig, n), -1);
	}

	/* Freed by its owner while cached, then a new key. */
	k1 = rsa_key(2048);
	n = sizeof(sig);
	assert_int_equal(sc_rsa_sign(k1, msg, sizeof(msg), sig, &n), 0);
	EVP_PKEY_free(k1);
	k2 = rsa_key(2048);
	assert_ptr_not_equal(k1, k2);	/* the cache still holds k1 */
	n = sizeof(sig);
	assert_int_equal(sc_rsa_sign(k2, msg, sizeof(msg), sig, &n), 0);
	wn = direct_sign(k2, msg, sizeof(msg), want);
	assert_memory_equal(sig, want, wn);
	assert_int_equal(sc_rsa_verify(k2, msg, sizeof(msg), sig, n), 0);
	sc_rsa_forget();
	/* After forget: works the same, and k2 is ours alone to free. */
	n = sizeof(sig);
	assert_int_equal(sc_rsa_sign(k2, msg, sizeof(msg), sig, &n), 0);
	assert_memory_equal(sig, want, wn);
	sc_rsa_forget();
	EVP_PKEY_free(k2);

	for (i = 0; i < 4; i++) {
		sg[i].key[0] = i & 1 ? fx.srv_key : fx.cli_key;
		sg[i].key[1] = i & 1 ? fx.cli_key : fx.other_key;
		sg[i].bad = 0;
		assert_int_equal(pthread_create(&sg[i].th, NULL, signer_run,
		    &sg[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(sg[i].th, NULL), 0);
		assert_int_equal(sg[i].bad, 0);
	}
	sc_rsa_forget();
}

/* ---- records ---- */

static uint64_t fake_now;

static uint64_t
fake_clock(void)
{
	return fake_now;
}

struct pairs {
	struct sc_channel	cli, srv;
	uint8_t			sid[16];
};

static void
pairs_init(struct pairs *p, int phases)
{
	struct sc_dirkeys k;
	int ph;

	RAND_bytes(p->sid, sizeof(p->sid));
	assert_int_equal(record_channel_init(&p->cli, SC_SIDE_CLIENT, p->sid,
	    X509_get0_pubkey(fx.srv), 0), 0);
	assert_int_equal(record_channel_init(&p->srv, SC_SIDE_SERVER, p->sid,
	    X509_get0_pubkey(fx.cli), 0), 0);
	for (ph = 1; ph <= phases; ph++) {
		RAND_bytes((uint8_t *)&k, sizeof(k));
		assert_int_equal(record_set_keys(&p->cli, ph, &k), 0);
		assert_int_equal(record_set_keys(&p->srv, ph, &k), 0);
	}
	fake_now = now_ms();
	p->cli.clock = p->srv.clock = fake_clock;
}

static void
pairs_free(struct pairs *p)
{
	record_channel_clear(&p->cli);
	record_channel_clear(&p->srv);
}

/* Seal a CHAT with text from the client into out (reset first). */
static void
seal_chat(struct sc_channel *ch, EVP_PKEY *key, const char *text,
    struct wbuf *out)
{
	struct wbuf pt;

	wbuf_init(&pt, 8192);
	assert_int_equal(sc_chat_encode(&pt, (const uint8_t *)text,
	    strlen(text)), 0);
	wbuf_reset(out);
	assert_int_equal(record_seal(ch, SC_T_CHAT, pt.data, pt.len,
	    record_sign_local, key, out), 0);
	wbuf_free(&pt);
}

static int
open_chat(struct sc_channel *ch, uint8_t type, const uint8_t *p, size_t n,
    char *text, size_t textsz)
{
	uint8_t pt[SC_MAX_CT];
	const uint8_t *t;
	size_t ptlen, tl;
	int rc;

	if ((rc = record_open(ch, type, p, n, pt, sizeof(pt), &ptlen,
	    NULL)) != 0)
		return rc;
	assert_int_equal(sc_chat_parse(pt, ptlen, &t, &tl), 0);
	assert_true(tl < textsz);
	memcpy(text, t, tl);
	text[tl] = '\0';
	return 0;
}

static void
test_seal_open(void **state)
{
	struct pairs p;
	struct wbuf out;
	struct sc_record rec;
	uint8_t pt[SC_MAX_CT];
	size_t ptlen;
	char text[64];

	(void)state;
	pairs_init(&p, 2);
	wbuf_init(&out, SC_MAX_PAYLOAD);
	seal_chat(&p.cli, fx.cli_key, "hello", &out);
	assert_true(p.cli.send_seq == 1);
	assert_int_equal(sc_record_parse(out.data, out.len, &rec), 0);
	assert_true(rec.seq == 1 && rec.ts == fake_now);
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), 0);
	assert_string_equal(text, "hello");
	assert_true(p.srv.recv_seq == 1);
	/* The same frame again is a replay. */
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), SC_E_REPLAY);

	/* The server answers; the record view points into the payload. */
	seal_chat(&p.srv, fx.srv_key, "hi alice", &out);
	assert_int_equal(record_open(&p.cli, SC_T_CHAT, out.data, out.len, pt,
	    sizeof(pt), &ptlen, &rec), 0);
	assert_true(rec.seq == 1);
	assert_true(rec.sig >= out.data && rec.sig < out.data + out.len);

	/* A skipped record is a gap: REPLAY too. */
	seal_chat(&p.cli, fx.cli_key, "two", &out);
	seal_chat(&p.cli, fx.cli_key, "three", &out);
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), SC_E_REPLAY);
	assert_true(p.srv.recv_seq == 1);

	/* Too small a plaintext buffer; too large a plaintext to seal. */
	assert_int_equal(record_open(&p.srv, SC_T_CHAT, out.data, out.len, pt,
	    8, &ptlen, NULL), SC_E_TOO_LARGE);
	{
		uint8_t big[SC_MAX_TEXT + 3];

		memset(big, 'a', sizeof(big));
		wbuf_reset(&out);
		assert_int_equal(record_seal(&p.cli, SC_T_CHAT, big,
		    sizeof(big), record_sign_local, fx.cli_key, &out),
		    SC_E_TOO_LARGE);
	}
	wbuf_free(&out);
	pairs_free(&p);
}

static void
test_tamper(void **state)
{
	struct pairs p, other;
	struct wbuf out;
	struct sc_record rec;
	uint8_t *t;
	char text[64];
	size_t off, sigoff, i;

	(void)state;
	pairs_init(&p, 2);
	wbuf_init(&out, SC_MAX_PAYLOAD);
	seal_chat(&p.cli, fx.cli_key, "tamper with me", &out);
	assert_int_equal(sc_record_parse(out.data, out.len, &rec), 0);
	sigoff = (size_t)(rec.sig - out.data);
	t = malloc(out.len);
	assert_non_null(t);

	/*
	 * Flip one bit of every byte that is covered by the signature:
	 * seq (0..7), ts (8..15), iv (16..31), ct (36..); the ct length is
	 * covered too but changing it breaks the framing first (as does the
	 * signature's own length).  Each is SIG_FAIL, nothing is committed.
	 */
	for (off = 0; off < sigoff - 2; off++) {
		if (off >= 32 && off < 36)
			continue;
		memcpy(t, out.data, out.len);
		t[off] ^= 0x01;
		assert_int_equal(open_chat(&p.srv, SC_T_CHAT, t, out.len, text,
		    sizeof(text)), SC_E_SIG_FAIL);
	}
	/* The signature itself, at its first, middle and last byte. */
	for (i = 0; i < 3; i++) {
		memcpy(t, out.data, out.len);
		off = sigoff + (i == 0 ? 0 : i == 1 ? rec.siglen / 2 :
		    rec.siglen - 1);
		t[off] ^= 0x80;
		assert_int_equal(open_chat(&p.srv, SC_T_CHAT, t, out.len, text,
		    sizeof(text)), SC_E_SIG_FAIL);
	}
	/* The type: a CHAT presented as CLOSE (same phase and direction). */
	assert_int_equal(record_open(&p.srv, SC_T_CLOSE, out.data, out.len,
	    (uint8_t *)text, 0, &off, NULL), SC_E_TOO_LARGE);
	{
		uint8_t pt[SC_MAX_CT];
		size_t ptlen;

		assert_int_equal(record_open(&p.srv, SC_T_CLOSE, out.data,
		    out.len, pt, sizeof(pt), &ptlen, NULL), SC_E_SIG_FAIL);
	}
	/* Another session (same keys and certificates, other id). */
	pairs_init(&other, 2);
	memcpy(other.srv.key_recv, p.srv.key_recv, sizeof(p.srv.key_recv));
	assert_int_equal(open_chat(&other.srv, SC_T_CHAT, out.data, out.len,
	    text, sizeof(text)), SC_E_SIG_FAIL);
	pairs_free(&other);
	/* Reflected back to its sender: the direction is signed. */
	assert_int_equal(open_chat(&p.cli, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), SC_E_SIG_FAIL);
	/* Signed by someone else's key. */
	{
		struct wbuf o2;

		wbuf_init(&o2, SC_MAX_PAYLOAD);
		p.cli.send_seq = 0;
		seal_chat(&p.cli, fx.other_key, "forged", &o2);
		assert_int_equal(open_chat(&p.srv, SC_T_CHAT, o2.data, o2.len,
		    text, sizeof(text)), SC_E_SIG_FAIL);
		wbuf_free(&o2);
	}

	/* After all that, the genuine record still opens: nothing moved. */
	assert_true(p.srv.recv_seq == 0);
	fake_now += 1000;
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), 0);
	assert_string_equal(text, "tamper with me");
	free(t);
	wbuf_free(&out);
	pairs_free(&p);
}

static void
test_stale(void **state)
{
	struct pairs p;
	struct wbuf out;
	char text[64];
	uint64_t now;

	(void)state;
	pairs_init(&p, 2);
	wbuf_init(&out, SC_MAX_PAYLOAD);
	now = fake_now;

	/* Sender's clock 121 s behind: STALE, and not committed. */
	fake_now = now - SC_STALE_DEFAULT_MS - 1000;
	seal_chat(&p.cli, fx.cli_key, "old", &out);
	fake_now = now;
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), SC_E_STALE);
	assert_true(p.srv.recv_seq == 0);
	/* 121 s ahead: STALE too. */
	p.cli.send_seq = 0;
	fake_now = now + SC_STALE_DEFAULT_MS + 1000;
	seal_chat(&p.cli, fx.cli_key, "future", &out);
	fake_now = now;
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), SC_E_STALE);
	/* 119 s either way is fine. */
	p.cli.send_seq = 0;
	fake_now = now + SC_STALE_DEFAULT_MS - 1000;
	seal_chat(&p.cli, fx.cli_key, "soon", &out);
	fake_now = now;
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), 0);
	fake_now = now - SC_STALE_DEFAULT_MS + 1000;
	seal_chat(&p.cli, fx.cli_key, "late", &out);
	fake_now = now;
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), 0);
	/* A configured window. */
	p.srv.stale_ms = 5000;
	fake_now = now - 6000;
	seal_chat(&p.cli, fx.cli_key, "6s", &out);
	fake_now = now;
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), SC_E_STALE);
	/* Order: a replayed stale record is REPLAY (seq before ts). */
	p.cli.send_seq = 1;
	fake_now = now - 600000;
	seal_chat(&p.cli, fx.cli_key, "replay", &out);
	fake_now = now;
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), SC_E_REPLAY);
	wbuf_free(&out);
	pairs_free(&p);
}

static void
test_bad_padding(void **state)
{
	struct pairs p;
	struct sc_record rec;
	struct wbuf stmt, out;
	EVP_CIPHER_CTX *c;
	uint8_t iv[16], blk[32], ct[32], sig[SC_MAX_SIG];
	size_t siglen = sizeof(sig);
	char text[64];
	int n = 0;

	(void)state;
	pairs_init(&p, 2);
	/* Two blocks whose last byte is 0x00: never valid PKCS#7. */
	memset(blk, 'A', sizeof(blk));
	blk[31] = 0x00;
	RAND_bytes(iv, sizeof(iv));
	c = EVP_CIPHER_CTX_new();
	assert_non_null(c);
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL,
	    p.cli.key_send[1], iv), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	assert_int_equal(EVP_EncryptUpdate(c, ct, &n, blk, sizeof(blk)), 1);
	assert_int_equal(n, 32);
	EVP_CIPHER_CTX_free(c);
	/* ... validly signed by the client. */
	wbuf_init(&stmt, SC_STMT_MAX);
	assert_int_equal(sc_stmt_record(&stmt, p.sid, SC_DIR_C2S, SC_T_CHAT,
	    2, 1, fake_now, iv, ct, sizeof(ct)), 0);
	assert_int_equal(sc_rsa_sign(fx.cli_key, stmt.data, stmt.len, sig,
	    &siglen), 0);
	memset(&rec, 0, sizeof(rec));
	rec.seq = 1;
	rec.ts = fake_now;
	rec.iv = iv;
	rec.ct = ct;
	rec.ctlen = sizeof(ct);
	rec.sig = sig;
	rec.siglen = siglen;
	wbuf_init(&out, SC_MAX_PAYLOAD);
	assert_int_equal(sc_record_encode(&out, &rec), 0);
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), SC_E_SIG_FAIL);
	assert_true(p.srv.recv_seq == 0);
	/* A good record with seq 1 is still accepted afterwards. */
	seal_chat(&p.cli, fx.cli_key, "fine", &out);
	assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data, out.len, text,
	    sizeof(text)), 0);
	wbuf_free(&stmt);
	wbuf_free(&out);
	pairs_free(&p);
}

static int
failing_signer(void *arg, const struct record_sign_req *req, uint8_t *sig,
    size_t *siglen)
{
	(void)arg;
	(void)req;
	(void)sig;
	(void)siglen;
	return -1;
}

static void
test_phases_and_directions(void **state)
{
	struct pairs p;
	struct wbuf out, pt;
	struct sc_login lg;
	struct sc_auth_ok ok;
	uint8_t buf[SC_MAX_CT];
	size_t n;

	(void)state;
	pairs_init(&p, 1);		/* only K_temp so far */
	wbuf_init(&out, SC_MAX_PAYLOAD);
	wbuf_init(&pt, 4096);
	memset(&lg, 0, sizeof(lg));
	lg.username = (const uint8_t *)"alice";
	lg.ulen = 5;
	lg.password = (const uint8_t *)"password1";
	lg.plen = 9;
	assert_int_equal(sc_login_encode(&pt, &lg), 0);
	/* A client cannot send AUTH_OK; no CHAT before the session keys. */
	assert_int_equal(record_seal(&p.cli, SC_T_AUTH_OK, pt.data, pt.len,
	    record_sign_local, fx.cli_key, &out), SC_E_PROTOCOL);
	assert_int_equal(record_seal(&p.cli, SC_T_CHAT, pt.data, 2,
	    record_sign_local, fx.cli_key, &out), SC_E_PROTOCOL);
	assert_int_equal(record_seal(&p.cli, SC_T_ERROR, pt.data, 2,
	    record_sign_local, fx.cli_key, &out), SC_E_PROTOCOL);
	/* A failing signer: INTERNAL, seq not consumed. */
	assert_int_equal(record_seal(&p.cli, SC_T_LOGIN, pt.data, pt.len,
	    failing_signer, NULL, &out), SC_E_INTERNAL);
	assert_true(p.cli.send_seq == 0);
	assert_int_equal(record_seal(&p.cli, SC_T_LOGIN, pt.data, pt.len,
	    record_sign_local, fx.cli_key, &out), 0);
	/* A server gets no AUTH_OK from a client; LOGIN opens. */
	assert_int_equal(record_open(&p.srv, SC_T_AUTH_OK, out.data, out.len,
	    buf, sizeof(buf), &n, NULL), SC_E_PROTOCOL);
	assert_int_equal(record_open(&p.srv, SC_T_LOGIN, out.data, out.len,
	    buf, sizeof(buf), &n, NULL), 0);
	assert_int_equal(sc_login_parse(buf, n, &lg), 0);
	assert_memory_equal(lg.password, "password1", 9);

	memset(&ok, 0, sizeof(ok));
	ok.account_id = 1;
	ok.username = (const uint8_t *)"alice";
	ok.ulen = 5;
	wbuf_reset(&pt);
	wbuf_reset(&out);
	assert_int_equal(sc_auth_ok_encode(&pt, &ok), 0);
	assert_int_equal(record_seal(&p.srv, SC_T_AUTH_OK, pt.data, pt.len,
	    record_sign_local, fx.srv_key, &out), 0);
	assert_int_equal(record_open(&p.cli, SC_T_AUTH_OK, out.data, out.len,
	    buf, sizeof(buf), &n, NULL), 0);
	/* Phase 2 is not installed: a CHAT is refused before any check. */
	assert_int_equal(record_open(&p.cli, SC_T_CHAT, out.data, out.len,
	    buf, sizeof(buf), &n, NULL), SC_E_PROTOCOL);

	/* Phase 2: seq numbers go on from phase 1 in each direction. */
	{
		struct sc_dirkeys k;

		RAND_bytes((uint8_t *)&k, sizeof(k));
		record_set_keys(&p.cli, 2, &k);
		record_set_keys(&p.srv, 2, &k);
		assert_int_equal(record_set_keys(&p.srv, 3, &k), -1);
	}
	seal_chat(&p.cli, fx.cli_key, "now chatting", &out);
	assert_true(p.cli.send_seq == 2);
	{
		char text[64];

		assert_int_equal(open_chat(&p.srv, SC_T_CHAT, out.data,
		    out.len, text, sizeof(text)), 0);
		assert_string_equal(text, "now chatting");
	}
	wbuf_free(&out);
	wbuf_free(&pt);
	pairs_free(&p);
}

/* ---- transcripts and receipts ---- */

struct session {
	struct pairs		p;
	struct transcript	tc, ts;		/* client's and server's */
	char			cpath[600], spath[600];
};

/* One CHAT from sender to receiver, logged at both ends. */
static void
chat(struct session *s, int from_client, const char *text)
{
	struct sc_channel *snd = from_client ? &s->p.cli : &s->p.srv;
	struct sc_channel *rcv = from_client ? &s->p.srv : &s->p.cli;
	struct transcript *tsnd = from_client ? &s->tc : &s->ts;
	struct transcript *trcv = from_client ? &s->ts : &s->tc;
	const uint8_t *fp = from_client ? fx.cli_fp : fx.srv_fp;
	uint8_t dir = from_client ? SC_DIR_C2S : SC_DIR_S2C;
	struct sc_record rec;
	struct wbuf out;
	uint8_t pt[SC_MAX_CT];
	size_t n;

	wbuf_init(&out, SC_MAX_PAYLOAD);
	seal_chat(snd, from_client ? fx.cli_key : fx.srv_key, text, &out);
	assert_int_equal(sc_record_parse(out.data, out.len, &rec), 0);
	assert_int_equal(transcript_append(tsnd, dir, SC_T_CHAT, &rec, fp), 0);
	assert_int_equal(record_open(rcv, SC_T_CHAT, out.data, out.len, pt,
	    sizeof(pt), &n, &rec), 0);
	assert_int_equal(transcript_append(trcv, dir, SC_T_CHAT, &rec, fp), 0);
	wbuf_free(&out);
}

static void
session_start(struct session *s, const char *tag)
{
	memset(s, 0, sizeof(*s));
	pairs_init(&s->p, 2);
	/* Phase 1 took seq 1 in each direction (LOGIN, AUTH_OK). */
	s->p.cli.send_seq = s->p.srv.recv_seq = 1;
	s->p.srv.send_seq = s->p.cli.recv_seq = 1;
	snprintf(s->cpath, sizeof(s->cpath), "%s/%s-client.log", fx.dir, tag);
	snprintf(s->spath, sizeof(s->spath), "%s/%s-server.log", fx.dir, tag);
	assert_int_equal(transcript_open(&s->tc, s->cpath,
	    TRANSCRIPT_SYNC_RECEIPT), 0);
	assert_int_equal(transcript_open(&s->ts, s->spath,
	    TRANSCRIPT_SYNC_EACH), 0);
}

/* The server's receipt over its transcript, written as JSON. */
static void
server_receipt(struct session *s, const char *path, struct sc_receipt *r)
{
	struct wbuf st;

	memset(r, 0, sizeof(*r));
	memcpy(r->session_id, s->p.sid, 16);
	r->role = SC_ROLE_SERVER;
	assert_int_equal(transcript_digest(&s->ts, r->transcript_sha256,
	    &r->first_seq, &r->last_seq), 0);
	memcpy(r->peer_fp, fx.cli_fp, 32);
	wbuf_init(&st, SC_STMT_MAX);
	assert_int_equal(sc_stmt_receipt(&st, r), 0);
	r->siglen = sizeof(r->sig);
	assert_int_equal(sc_rsa_sign(fx.srv_key, st.data, st.len, r->sig,
	    &r->siglen), 0);
	wbuf_free(&st);
	assert_int_equal(receipt_write_json(path, r, fx.srv_fp, 0), 0);
}

static int
verify(const char *t, const char *r, const char *cert, const char *ca,
    const char *peer, char *why, size_t whylen)
{
	return receipt_verify(t, r, cert, ca, NULL, peer, why, whylen);
}

static void
copy_file(const char *from, const char *to)
{
	size_t n;
	char *d = tu_read(from, &n);

	assert_non_null(d);
	unlink(to);
	assert_int_equal(tu_write(to, d, n), 0);
	free(d);
}

static void
test_transcript_receipt(void **state)
{
	struct session s;
	struct sc_receipt r, r2;
	uint8_t dc[32], ds[32], fp[32];
	uint64_t f1, l1, f2, l2;
	char rpath[600], tpath[600], why[512], *data, *p;
	size_t n;

	(void)state;
	session_start(&s, "s1");
	chat(&s, 1, "hello");
	chat(&s, 0, "hi");
	chat(&s, 1, "how are you?");
	chat(&s, 1, "still there?");
	chat(&s, 0, "yes");

	/* Both ends agree on the hash and the range. */
	assert_int_equal(transcript_digest(&s.tc, dc, &f1, &l1), 0);
	assert_int_equal(transcript_digest(&s.ts, ds, &f2, &l2), 0);
	assert_memory_equal(dc, ds, 32);
	assert_true(f1 == 2 && l1 == 4 && f2 == 2 && l2 == 4);
	/* Out-of-sequence lines are refused by the writer. */
	{
		struct sc_record rec;
		uint8_t iv[16] = { 0 }, ct[16] = { 0 }, sig[256] = { 0 };

		memset(&rec, 0, sizeof(rec));
		rec.seq = 9;
		rec.iv = iv;
		rec.ct = ct;
		rec.ctlen = 16;
		rec.sig = sig;
		rec.siglen = 256;
		assert_int_equal(transcript_append(&s.tc, SC_DIR_C2S,
		    SC_T_CHAT, &rec, fx.cli_fp), -1);
		assert_int_equal(transcript_append(&s.tc, SC_DIR_C2S,
		    SC_T_AUTH_OK, &rec, fx.cli_fp), -1);
	}

	snprintf(rpath, sizeof(rpath), "%s/s1.receipt", fx.dir);
	server_receipt(&s, rpath, &r);
	transcript_close(&s.tc);
	transcript_close(&s.ts);

	/* The file round-trips; the file digest equals the running one. */
	assert_int_equal(receipt_read_json(rpath, &r2, fp, why, sizeof(why)),
	    0);
	assert_memory_equal(&r2, &r, sizeof(r));
	assert_memory_equal(fp, fx.srv_fp, 32);
	assert_int_equal(transcript_file_digest(s.spath, dc, &f1, &l1, NULL,
	    NULL, why, sizeof(why)), 0);
	assert_memory_equal(dc, r.transcript_sha256, 32);

	/* Valid against the server's transcript and the client's own. */
	if (verify(s.spath, rpath, fx.srv_path, fx.ca_path, NULL, why,
	    sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_true(tu_contains(why, "valid"));
	if (verify(s.cpath, rpath, fx.srv_path, fx.ca_path, fx.cli_path, why,
	    sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_true(tu_contains(why, "5 record signatures"));

	/* Wrong signer certificate, wrong CA, wrong peer certificate. */
	assert_int_equal(verify(s.spath, rpath, fx.cli_path, fx.ca_path, NULL,
	    why, sizeof(why)), -1);
	assert_int_equal(verify(s.spath, rpath, fx.srv_path, fx.other_ca_path,
	    NULL, why, sizeof(why)), -1);
	assert_int_equal(verify(s.spath, rpath, fx.srv_path, fx.ca_path,
	    fx.srv_path, why, sizeof(why)), -1);

	/* A modified transcript: one ciphertext character. */
	snprintf(tpath, sizeof(tpath), "%s/s1-modified.log", fx.dir);
	data = tu_read(s.spath, &n);
	assert_non_null(data);
	p = strchr(data, '|');
	p = strchr(p + 1, '|');
	p = strchr(p + 1, '|');
	p = strchr(p + 1, '|');	/* base64(iv||ct) starts after this */
	p[5] = p[5] == 'A' ? 'B' : 'A';
	assert_int_equal(tu_write(tpath, data, n), 0);
	assert_int_equal(verify(tpath, rpath, fx.srv_path, fx.ca_path, NULL,
	    why, sizeof(why)), -1);
	assert_true(tu_contains(why, "hash"));
	/* A line deleted. */
	free(data);
	data = tu_read(s.spath, &n);
	p = strchr(data, '\n');
	unlink(tpath);
	assert_int_equal(tu_write(tpath, p + 1, n - (size_t)(p + 1 - data)),
	    0);
	assert_int_equal(verify(tpath, rpath, fx.srv_path, fx.ca_path, NULL,
	    why, sizeof(why)), -1);
	/* A line appended, and a truncated last line. */
	unlink(tpath);
	{
		char *twice = malloc(2 * n);

		memcpy(twice, data, n);
		memcpy(twice + n, data, n);
		assert_int_equal(tu_write(tpath, twice, n + (size_t)(p + 1 -
		    data)), 0);
		free(twice);
	}
	assert_int_equal(verify(tpath, rpath, fx.srv_path, fx.ca_path, NULL,
	    why, sizeof(why)), -1);
	assert_true(tu_contains(why, "does not follow"));
	unlink(tpath);
	assert_int_equal(tu_write(tpath, data, n - 1), 0);
	assert_int_equal(verify(tpath, rpath, fx.srv_path, fx.ca_path, NULL,
	    why, sizeof(why)), -1);
	assert_true(tu_contains(why, "newline"));
	free(data);

	/* A modified receipt: last_seq edited, then an unknown field. */
	data = tu_read(rpath, &n);
	assert_non_null(data);
	p = strstr(data, "\"last_seq\": 4");
	assert_non_null(p);
	p[12] = '3';
	snprintf(tpath, sizeof(tpath), "%s/s1-modified.receipt", fx.dir);
	assert_int_equal(tu_write(tpath, data, n), 0);
	assert_int_equal(verify(s.spath, tpath, fx.srv_path, fx.ca_path, NULL,
	    why, sizeof(why)), -1);
	p[12] = '4';
	p = strstr(data, "\"format\"");
	memcpy(p, "\"formax\"", 8);
	unlink(tpath);
	assert_int_equal(tu_write(tpath, data, n), 0);
	assert_int_equal(receipt_read_json(tpath, &r2, fp, why, sizeof(why)),
	    -1);
	free(data);
	/* A receipt of another session over the same transcript. */
	r.session_id[0] ^= 1;
	unlink(tpath);
	assert_int_equal(receipt_write_json(tpath, &r, fx.srv_fp, 0), 0);
	assert_int_equal(verify(s.spath, tpath, fx.srv_path, fx.ca_path, NULL,
	    why, sizeof(why)), -1);
	assert_true(tu_contains(why, "signature"));
	/* O_EXCL unless forced. */
	assert_int_equal(receipt_write_json(tpath, &r, fx.srv_fp, 0), -1);
	assert_int_equal(receipt_write_json(tpath, &r, fx.srv_fp, 1), 0);
	pairs_free(&s.p);
}

/* A signer that vouches for a transcript with a bad peer line. */
static void
test_receipt_bad_lines(void **state)
{
	struct session s;
	struct sc_receipt r;
	char rpath[600], why[512], *data, *p, *q;
	size_t n;

	(void)state;
	session_start(&s, "s2");
	chat(&s, 1, "one");
	chat(&s, 0, "two");
	transcript_close(&s.tc);
	transcript_close(&s.ts);
	/* Corrupt the client's signature in the server's file, then sign. */
	data = tu_read(s.spath, &n);
	assert_non_null(data);
	p = strstr(data, "|c2s|");
	assert_non_null(p);
	q = strchr(p + 5, '|');
	q = strchr(q + 1, '|');
	q[3] = q[3] == 'A' ? 'B' : 'A';
	unlink(s.spath);
	assert_int_equal(tu_write(s.spath, data, n), 0);
	free(data);
	{
		/* The signer's view: hash and range of the file as it is. */
		uint64_t f, l;

		memset(&r, 0, sizeof(r));
		assert_int_equal(transcript_file_digest(s.spath,
		    r.transcript_sha256, &f, &l, NULL, NULL, why, sizeof(why)),
		    0);
		r.first_seq = f;
		r.last_seq = l;
	}
	memcpy(r.session_id, s.p.sid, 16);
	r.role = SC_ROLE_SERVER;
	memcpy(r.peer_fp, fx.cli_fp, 32);
	{
		struct wbuf st;

		wbuf_init(&st, SC_STMT_MAX);
		sc_stmt_receipt(&st, &r);
		r.siglen = sizeof(r.sig);
		assert_int_equal(sc_rsa_sign(fx.srv_key, st.data, st.len,
		    r.sig, &r.siglen), 0);
		wbuf_free(&st);
	}
	snprintf(rpath, sizeof(rpath), "%s/s2.receipt", fx.dir);
	assert_int_equal(receipt_write_json(rpath, &r, fx.srv_fp, 0), 0);
	/* Without the peer's certificate its lines cannot be checked... */
	if (verify(s.spath, rpath, fx.srv_path, fx.ca_path, NULL, why,
	    sizeof(why)) != 0)
		fail_msg("%s", why);
	/* ... with it, the bad line is found. */
	assert_int_equal(verify(s.spath, rpath, fx.srv_path, fx.ca_path,
	    fx.cli_path, why, sizeof(why)), -1);
	assert_true(tu_contains(why, "line 1: record signature"));
	pairs_free(&s.p);
}

static void
test_sc_admin_receipt(void **state)
{
	struct session s;
	struct sc_receipt r;
	struct tu_result res;
	char rpath[600], bad[600];

	(void)state;
	session_start(&s, "s3");
	chat(&s, 1, "for the admin tool");
	chat(&s, 0, "ok");
	snprintf(rpath, sizeof(rpath), "%s/s3.receipt", fx.dir);
	server_receipt(&s, rpath, &r);
	transcript_close(&s.tc);
	transcript_close(&s.ts);

	tu_sh(&res, NULL, "%s receipt verify --transcript %s --receipt %s "
	    "--cert %s --ca %s --peer-cert %s", tu_bin("sc-admin"), s.spath,
	    rpath, fx.srv_path, fx.ca_path, fx.cli_path);
	if (res.status != 0)
		fail_msg("status %d: %s%s", res.status, res.out, res.err);
	assert_true(tu_contains(res.out, "receipt OK"));
	tu_result_free(&res);

	snprintf(bad, sizeof(bad), "%s/s3-bad.log", fx.dir);
	copy_file(s.spath, bad);
	{
		FILE *f = fopen(bad, "a");

		assert_non_null(f);
		fputs("9|1|c2s|48|AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=|"
		    "AAAA|", f);
		fclose(f);
	}
	tu_sh(&res, NULL, "%s receipt verify --transcript %s --receipt %s "
	    "--cert %s --ca %s --json", tu_bin("sc-admin"), bad, rpath,
	    fx.srv_path, fx.ca_path);
	assert_int_equal(res.status, 1);
	assert_true(tu_contains(res.out, "\"valid\":false"));
	tu_result_free(&res);

	tu_sh(&res, NULL, "%s receipt verify --transcript %s",
	    tu_bin("sc-admin"), s.spath);
	assert_int_equal(res.status, 2);
	tu_result_free(&res);
	pairs_free(&s.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_x25519),
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_aes_cbc),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_rsa_cache),
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_bad_padding),
		cmocka_unit_test(test_phases_and_directions),
		cmocka_unit_test(test_transcript_receipt),
		cmocka_unit_test(test_receipt_bad_lines),
		cmocka_unit_test(test_sc_admin_receipt),
	};

	return cmocka_run_group_tests_name("record", tests, setup, teardown);
}
