/*
 * test_envelope.c: end-to-end envelopes (common/envelope.[ch],
 * docs/MESSAGING.md): the test vectors of MESSAGING.md §8 byte for byte,
 * round trips for direct and room messages, every check a recipient makes
 * (each tampered field, forged but well-signed envelopes, certificates,
 * replay and reordering, limits, truncation), the replay state file, and
 * a cross-check of the RSA-OAEP wrapping and the signature with the
 * openssl command.
 *
 * Keys and certificates are made at run time in a temporary directory
 * that is removed at the end; no private key is in the tree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "buf.h"
#include "envelope.h"
#include "pki.h"
#include "sccrypto.h"
#include "testutil.h"
#include "util.h"

#define DAY	(24 * 3600)

/* ---- MESSAGING.md §8 ---- */

#define V_ALICE_CERT	"placeholder alice certificate"
#define V_BOB_CERT	"placeholder bob certificate"
#define V_CAROL_CERT	"placeholder carol certificate"
#define V_ALICE_FP	"45aa2fa48bfd1b99753ea74d80838bde5e3b127b1a1d2532054b7c8b28314615"
#define V_BOB_FP	"ec3ed949337ee67b40a6f7645e428341210d8788414c15bf02bc9d3e0ea7066c"
#define V_CAROL_FP	"144d8180f94904c61ab61e8c875608da60e246292c42e19c70d4343918094705"

#define V1_COMMIT	"c3b5d66391c71af10dda4e678b858f98039503ce7546c1cd68a50fd31647cecc"
#define V1_CT		"686a1c5c338cb352110d798c517216d6b6b22d00930651a2e432"
#define V1_TBS_HEAD \
	"534501" "0005616c696365" \
	"001d706c616365686f6c64657220616c6963652063657274696669636174" "65" \
	"0000" "0000018bcfe56800" "000000000000002a" "01" \
	"0003626f62" V_BOB_FP "0100"
#define V1_TBS_TAIL \
	"a0a1a2a3a4a5a6a7a8a9aaab" V1_COMMIT "001a" V1_CT
#define V1_TBS_SHA	"c4e01fce9d7c4588e6b2219927b8ce42536f09c6ab3ac98b554aaab6e9ffc78c"
#define V1_STMT_SHA	"bce54da7dcecb12066ccea37a0c8672cd460da3e85d4f83b33c920c2e48d39a2"
#define V1_ENV_SHA	"3235f4b331a3f3c3e92b297c6d6e5b07acf63c17935c2902bb50bb7e8f0cbea4"

#define V2_COMMIT	"cfb15678d81de2fd8eb7ce8e76f7be8881114005ca5e18cda119655831c41b8d"
#define V2_CT		"cd14f8f0e18a461268372ddfab3eac2f7758df99256fef59142f2d"
#define V2_TBS_SHA	"17cce9b6b61aa1c952891ca6fc22a0d1318e5aa37ac25439c0c2c3591f332ddb"
#define V2_STMT_SHA	"289ca84a70e22b5069c3e0b70c7c904e9fab3b338eedcf537c1fae70df357dfc"
#define V2_ENV_SHA	"4ff8feeaa4c3f1906dc5cccac3359c6bb8e72401a99dda32e0c6645dc4fe8b9c"

/* ---- Fixture: a CA, another CA, users (made once: keygen is slow) ---- */

struct user {
	const char	*name;
	EVP_PKEY	*key;
	X509		*cert;
	char		 cert_path[512];
	char		 key_path[512];
};

static struct {
	char		*dir;
	time_t		 now;
	EVP_PKEY	*ca_key, *other_key;
	X509		*ca, *other_ca;
	char		 ca_path[512], other_path[512];
	struct pki_trust *trust, *other_trust;
	struct user	 alice, bob, bob2, carol, dave, eve;
} g;

static char err[512], reason[512];

static X509 *
make_cert(const char *cn, EVP_PKEY *key, enum pki_purpose purpose,
    int is_ca, time_t nb, time_t na, X509 *issuer, EVP_PKEY *issuer_key)
{
	struct pki_cert_spec spec;
	X509 *x;

	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.purpose = purpose;
	spec.is_ca = is_ca;
	spec.not_before = nb;
	spec.not_after = na;
	if ((x = pki_make_cert(&spec, key, issuer, issuer_key, err,
	    sizeof(err))) == NULL)
		fail_msg("pki_make_cert %s: %s", cn, err);
	return x;
}

/* A client certificate of our CA, valid now. */
static X509 *
client_cert(const char *cn, EVP_PKEY *key)
{
	return make_cert(cn, key, PKI_PURPOSE_CLIENT, 0, g.now - 300,
	    g.now + 30 * DAY, g.ca, g.ca_key);
}

/* A user with a fresh key; tag names its files in the directory. */
static int
user_init(struct user *u, const char *name, const char *tag)
{
	u->name = name;
	if ((u->key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL)
		return -1;
	u->cert = client_cert(name, u->key);
	snprintf(u->cert_path, sizeof(u->cert_path), "%s/%s.pem", g.dir, tag);
	snprintf(u->key_path, sizeof(u->key_path), "%s/%s.key", g.dir, tag);
	return pki_write_cert(u->cert_path, u->cert, 0, err, sizeof(err));
}

static int
setup(void **state)
{
	(void)state;
	g.now = time(NULL);
	g.dir = tu_mkdtemp("envelope");
	if ((g.ca_key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL ||
	    (g.other_key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL)
		return -1;
	g.ca = make_cert("Test Root", g.ca_key, PKI_PURPOSE_ANY, 1,
	    g.now - 30 * DAY, g.now + 365 * DAY, NULL, NULL);
	g.other_ca = make_cert("Other Root", g.other_key, PKI_PURPOSE_ANY, 1,
	    g.now - 30 * DAY, g.now + 365 * DAY, NULL, NULL);
	snprintf(g.ca_path, sizeof(g.ca_path), "%s/ca.pem", g.dir);
	snprintf(g.other_path, sizeof(g.other_path), "%s/other.pem", g.dir);
	if (pki_write_cert(g.ca_path, g.ca, 0, err, sizeof(err)) == -1 ||
	    pki_write_cert(g.other_path, g.other_ca, 0, err,
	    sizeof(err)) == -1)
		return -1;
	if ((g.trust = pki_trust_load(g.ca_path, NULL, err,
	    sizeof(err))) == NULL ||
	    (g.other_trust = pki_trust_load(g.other_path, NULL, err,
	    sizeof(err))) == NULL)
		return -1;
	/* bob2 is bob's second device: another key, another certificate. */
	if (user_init(&g.alice, "alice", "alice") == -1 ||
	    user_init(&g.bob, "bob", "bob") == -1 ||
	    user_init(&g.bob2, "bob", "bob2") == -1 ||
	    user_init(&g.carol, "carol", "carol") == -1 ||
	    user_init(&g.dave, "dave", "dave") == -1 ||
	    user_init(&g.eve, "eve", "eve") == -1)
		return -1;
	return 0;
}

static void
user_free(struct user *u)
{
	X509_free(u->cert);
	EVP_PKEY_free(u->key);
}

static int
teardown(void **state)
{
	(void)state;
	pki_trust_free(g.trust);
	pki_trust_free(g.other_trust);
	X509_free(g.ca);
	X509_free(g.other_ca);
	EVP_PKEY_free(g.ca_key);
	EVP_PKEY_free(g.other_key);
	user_free(&g.alice);
	user_free(&g.bob);
	user_free(&g.bob2);
	user_free(&g.carol);
	user_free(&g.dave);
	user_free(&g.eve);
	tu_rmrf(g.dir);
	free(g.dir);
	return 0;
}

/* ---- Helpers ---- */

static struct env_identity
ident(const struct user *u)
{
	struct env_identity id = { u->name, u->cert, u->key };

	return id;
}

static struct env_rcpt_in
rin(const struct user *u)
{
	struct env_rcpt_in r = { u->name, u->cert };

	return r;
}

#define expect_code(rc, want) do {					\
	int rc_ = (rc), want_ = (want);					\
	if (rc_ != want_)						\
		fail_msg("%s:%d: got %s, want %s (%s)", __FILE__,	\
		    __LINE__, envelope_err_name(rc_),			\
		    envelope_err_name(want_), reason);			\
} while (0)

static void
unhex(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(s), 2 * n);
	assert_int_equal(hex_decode(s, out, n), 0);
}

static void
expect_sha(const uint8_t *p, size_t n, const char *hex)
{
	uint8_t h[32];
	char s[65];

	assert_int_equal(sc_sha256(p, n, h), 0);
	hex_encode(h, 32, s);
	assert_string_equal(s, hex);
}

/* Seal text from u to rcpts; the envelope is in *b (freed by caller). */
static int
seal(struct wbuf *b, const struct user *u, const struct env_rcpt_in *r,
    size_t n, const char *room, uint64_t counter, const char *text)
{
	struct env_identity me = ident(u);

	wbuf_init(b, ENV_MAX_LEN);
	return envelope_seal(b, &me, r, n, room, now_ms(), counter,
	    (const uint8_t *)text, strlen(text), g.trust, 0, reason,
	    sizeof(reason));
}

static int
open_as(const struct user *u, const uint8_t *env, size_t len,
    struct env_replay *rp, struct env_opened *o)
{
	struct env_identity me = ident(u);

	return envelope_open(env, len, &me, g.trust, 0, rp, o, reason,
	    sizeof(reason));
}

static struct env_opened *
opened_new(void)
{
	struct env_opened *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	return o;
}

static void
opened_free(struct env_opened *o)
{
	envelope_opened_clear(o);
	free(o);
}

/*
 * A well-signed envelope with arbitrary contents, as a hostile sender
 * (holding a valid certificate and its key) could make: header h, the
 * content key key (whose commitment and ciphertext are used), body, and a
 * signature by signer.
 */
static void
forge(struct wbuf *b, const struct env_header *h, const uint8_t *key,
    const char *body, EVP_PKEY *signer)
{
	struct wbuf stmt;
	uint8_t nonce[ENV_NONCE_LEN] = { 0 }, sig[ENV_MAX_RSA];
	size_t siglen = sizeof(sig);

	wbuf_init(b, ENV_MAX_LEN);
	wbuf_init(&stmt, ENV_STMT_MAX);
	assert_int_equal(envelope_encode_tbs(b, h, nonce, key,
	    (const uint8_t *)body, strlen(body)), 0);
	assert_int_equal(envelope_statement(&stmt, b->data, b->len), 0);
	assert_int_equal(sc_rsa_sign(signer, stmt.data, stmt.len, sig,
	    &siglen), 0);
	assert_int_equal(wbuf_put_str16(b, sig, siglen), 0);
	wbuf_free(&stmt);
}

/* A header from alice to the given users, content key wrapped for each. */
static struct env_header *
forge_header(X509 *sender_cert, const char *sender, const char *room,
    uint64_t counter, const struct user *const *to, size_t n,
    const uint8_t *key, uint8_t *certbuf, uint8_t (*wrapbuf)[ENV_MAX_RSA])
{
	struct env_header *h = calloc(1, sizeof(*h));
	size_t i, wl;

	assert_non_null(h);
	strlcpy(h->sender, sender, sizeof(h->sender));
	strlcpy(h->room, room, sizeof(h->room));
	assert_int_equal(pki_cert_to_der(sender_cert, certbuf, ENV_MAX_CERT,
	    &h->certlen), 0);
	h->cert = certbuf;
	h->ts = now_ms();
	h->counter = counter;
	h->nrcpt = n;
	for (i = 0; i < n; i++) {
		strlcpy(h->rcpt[i].name, to[i]->name, sizeof(h->rcpt[i].name));
		assert_int_equal(pki_fingerprint(to[i]->cert, h->rcpt[i].fp),
		    0);
		wl = ENV_MAX_RSA;
		assert_int_equal(envelope_wrap_key(
		    X509_get0_pubkey(to[i]->cert), key, wrapbuf[i], &wl), 0);
		h->rcpt[i].wrapped = wrapbuf[i];
		h->rcpt[i].wrappedlen = wl;
	}
	return h;
}

/* ---- Tests ---- */

static void
test_vectors(void **state)
{
	struct env_header *h, *p;
	struct wbuf b, stmt;
	uint8_t key[ENV_KEY_LEN], nonce[ENV_NONCE_LEN], commit[ENV_COMMIT_LEN];
	uint8_t w77[256], w78[384], w79[256], sig[256], ct[64], head[128];
	char hex[65];
	size_t i, headlen = strlen(V1_TBS_HEAD) / 2;

	(void)state;
	memset(w77, 0x77, sizeof(w77));
	memset(w78, 0x78, sizeof(w78));
	memset(w79, 0x79, sizeof(w79));
	memset(sig, 0xa5, sizeof(sig));
	assert_non_null(h = calloc(1, sizeof(*h)));
	assert_non_null(p = calloc(1, sizeof(*p)));

	/* §8.2: a direct message. */
	for (i = 0; i < ENV_KEY_LEN; i++)
		key[i] = (uint8_t)(0x80 + i);
	for (i = 0; i < ENV_NONCE_LEN; i++)
		nonce[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(envelope_key_commit(key, commit), 0);
	hex_encode(commit, sizeof(commit), hex);
	assert_string_equal(hex, V1_COMMIT);
	strlcpy(h->sender, "alice", sizeof(h->sender));
	h->cert = (const uint8_t *)V_ALICE_CERT;
	h->certlen = strlen(V_ALICE_CERT);
	h->ts = 1700000000000ULL;
	h->counter = 42;
	h->nrcpt = 1;
	strlcpy(h->rcpt[0].name, "bob", sizeof(h->rcpt[0].name));
	unhex(V_BOB_FP, h->rcpt[0].fp, 32);
	h->rcpt[0].wrapped = w77;
	h->rcpt[0].wrappedlen = sizeof(w77);
	wbuf_init(&b, ENV_MAX_LEN);
	assert_int_equal(envelope_encode_tbs(&b, h, nonce, key,
	    (const uint8_t *)"hello, bob", 10), 0);
	assert_int_equal(b.len, 427);
	unhex(V1_TBS_HEAD, head, headlen);
	assert_memory_equal(b.data, head, headlen);
	for (i = 0; i < 256; i++)
		assert_int_equal(b.data[headlen + i], 0x77);
	unhex(V1_TBS_TAIL, head, strlen(V1_TBS_TAIL) / 2);
	assert_memory_equal(b.data + headlen + 256, head,
	    strlen(V1_TBS_TAIL) / 2);
	unhex(V1_CT, ct, strlen(V1_CT) / 2);
	assert_memory_equal(b.data + b.len - 26, ct, 26);
	expect_sha(b.data, b.len, V1_TBS_SHA);
	wbuf_init(&stmt, ENV_STMT_MAX);
	assert_int_equal(envelope_statement(&stmt, b.data, b.len), 0);
	assert_int_equal(stmt.len, 450);
	assert_memory_equal(stmt.data, "SecureChat-v1 envelope\0", 23);
	expect_sha(stmt.data, stmt.len, V1_STMT_SHA);
	wbuf_free(&stmt);
	assert_int_equal(wbuf_put_str16(&b, sig, sizeof(sig)), 0);
	assert_int_equal(b.len, 685);
	expect_sha(b.data, b.len, V1_ENV_SHA);
	/* What the server sees of it. */
	expect_code(envelope_peek(b.data, b.len, p, reason, sizeof(reason)),
	    0);
	assert_string_equal(p->sender, "alice");
	assert_string_equal(p->room, "");
	assert_string_equal(p->conv, "bob");
	assert_true(p->ts == 1700000000000ULL && p->counter == 42);
	assert_int_equal(p->nrcpt, 1);
	assert_string_equal(p->rcpt[0].name, "bob");
	hex_encode(p->sender_fp, 32, hex);
	assert_string_equal(hex, V_ALICE_FP);
	assert_int_equal(p->tbslen, 427);
	assert_int_equal(p->ctlen, 26);
	wbuf_free(&b);

	/* §8.3: a room message to three certificates, one of them alice's. */
	memset(h, 0, sizeof(*h));
	for (i = 0; i < ENV_KEY_LEN; i++)
		key[i] = (uint8_t)(0xc0 + i);
	for (i = 0; i < ENV_NONCE_LEN; i++)
		nonce[i] = (uint8_t)(0xe0 + i);
	assert_int_equal(envelope_key_commit(key, commit), 0);
	hex_encode(commit, sizeof(commit), hex);
	assert_string_equal(hex, V2_COMMIT);
	strlcpy(h->sender, "alice", sizeof(h->sender));
	strlcpy(h->room, "#general", sizeof(h->room));
	h->cert = (const uint8_t *)V_ALICE_CERT;
	h->certlen = strlen(V_ALICE_CERT);
	h->ts = 1700000000500ULL;
	h->counter = 1700000000500ULL;
	h->nrcpt = 3;
	strlcpy(h->rcpt[0].name, "bob", sizeof(h->rcpt[0].name));
	unhex(V_BOB_FP, h->rcpt[0].fp, 32);
	h->rcpt[0].wrapped = w77;
	h->rcpt[0].wrappedlen = sizeof(w77);
	strlcpy(h->rcpt[1].name, "carol", sizeof(h->rcpt[1].name));
	unhex(V_CAROL_FP, h->rcpt[1].fp, 32);
	h->rcpt[1].wrapped = w78;
	h->rcpt[1].wrappedlen = sizeof(w78);
	strlcpy(h->rcpt[2].name, "alice", sizeof(h->rcpt[2].name));
	unhex(V_ALICE_FP, h->rcpt[2].fp, 32);
	h->rcpt[2].wrapped = w79;
	h->rcpt[2].wrappedlen = sizeof(w79);
	wbuf_init(&b, ENV_MAX_LEN);
	assert_int_equal(envelope_encode_tbs(&b, h, nonce, key,
	    (const uint8_t *)"caf\xc3\xa9 at 5?", 11), 0);
	assert_int_equal(b.len, 1158);
	unhex(V2_CT, ct, strlen(V2_CT) / 2);
	assert_memory_equal(b.data + b.len - 27, ct, 27);
	expect_sha(b.data, b.len, V2_TBS_SHA);
	wbuf_init(&stmt, ENV_STMT_MAX);
	assert_int_equal(envelope_statement(&stmt, b.data, b.len), 0);
	expect_sha(stmt.data, stmt.len, V2_STMT_SHA);
	wbuf_free(&stmt);
	assert_int_equal(wbuf_put_str16(&b, sig, sizeof(sig)), 0);
	assert_int_equal(b.len, 1416);
	expect_sha(b.data, b.len, V2_ENV_SHA);
	expect_code(envelope_peek(b.data, b.len, p, reason, sizeof(reason)),
	    0);
	assert_string_equal(p->room, "#general");
	assert_string_equal(p->conv, "#general");
	assert_int_equal(p->nrcpt, 3);
	assert_int_equal(p->rcpt[1].wrappedlen, 384);
	assert_memory_equal(p->nonce, nonce, ENV_NONCE_LEN);
	assert_memory_equal(p->commit, commit, ENV_COMMIT_LEN);
	/* A placeholder certificate is, of course, no certificate. */
	expect_code(envelope_verify(p, g.trust, 0, reason, sizeof(reason)),
	    ENV_E_BAD_CERT);
	wbuf_free(&b);
	free(h);
	free(p);
}

static void
test_roundtrip_dm(void **state)
{
	struct env_rcpt_in r[2] = { rin(&g.bob), rin(&g.bob2) };
	struct env_opened *o = opened_new(), *o2 = opened_new();
	struct env_header *p = calloc(1, sizeof(*p));
	uint8_t fp[32];
	struct wbuf b;
	uint64_t t0 = now_ms();

	(void)state;
	assert_non_null(p);
	expect_code(seal(&b, &g.alice, r, 2, NULL, 7, "hello, bob"), 0);
	assert_true(b.len > 0 && b.len <= ENV_MAX_LEN);

	/* Both of bob's devices open it; both see the same thing. */
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), 0);
	expect_code(open_as(&g.bob2, b.data, b.len, NULL, o2), 0);
	assert_string_equal((char *)o->body, "hello, bob");
	assert_int_equal(o->bodylen, 10);
	assert_string_equal((char *)o2->body, "hello, bob");
	assert_memory_equal(o->key, o2->key, ENV_KEY_LEN);
	assert_int_equal(o->me, 0);
	assert_int_equal(o2->me, 1);
	assert_string_equal(o->hdr.sender, "alice");
	assert_string_equal(o->hdr.room, "");
	assert_string_equal(o->hdr.conv, "bob");
	assert_true(o->hdr.counter == 7);
	assert_true(o->hdr.ts >= t0 && o->hdr.ts <= now_ms());
	assert_int_equal(pki_fingerprint(g.alice.cert, fp), 0);
	assert_memory_equal(o->hdr.sender_fp, fp, 32);

	/* The server's view: names, fingerprints, no keys needed. */
	expect_code(envelope_peek(b.data, b.len, p, reason, sizeof(reason)),
	    0);
	assert_int_equal(p->nrcpt, 2);
	assert_string_equal(p->rcpt[0].name, "bob");
	assert_string_equal(p->rcpt[1].name, "bob");
	assert_int_equal(pki_fingerprint(g.bob2.cert, fp), 0);
	assert_memory_equal(p->rcpt[1].fp, fp, 32);
	expect_code(envelope_verify(p, g.trust, 0, reason, sizeof(reason)),
	    0);
	expect_code(envelope_verify(p, g.other_trust, 0, reason,
	    sizeof(reason)), ENV_E_BAD_CERT);
	/* No clear text in what the server stores. */
	assert_null(memmem(b.data, b.len, "hello", 5));

	/* Not a recipient: others, and alice herself (not listed). */
	expect_code(open_as(&g.carol, b.data, b.len, NULL, o), ENV_E_NOT_FOR_ME);
	expect_code(open_as(&g.alice, b.data, b.len, NULL, o),
	    ENV_E_NOT_FOR_ME);
	/* bob's certificate but another name: not for that identity. */
	{
		struct env_identity id = { "carol", g.bob.cert, g.bob.key };

		expect_code(envelope_open(b.data, b.len, &id, g.trust, 0,
		    NULL, o, reason, sizeof(reason)), ENV_E_NOT_FOR_ME);
	}
	/* A failed open leaves nothing behind. */
	assert_int_equal(o->bodylen, 0);
	wbuf_free(&b);

	/* A note to self is a direct message too (conv = the sender). */
	r[0] = rin(&g.alice);
	expect_code(seal(&b, &g.alice, r, 1, "", 1, "note"), 0);
	expect_code(open_as(&g.alice, b.data, b.len, NULL, o), 0);
	assert_string_equal(o->hdr.conv, "alice");
	wbuf_free(&b);
	opened_free(o);
	opened_free(o2);
	free(p);
}

static void
test_roundtrip_room(void **state)
{
	struct env_rcpt_in r[4] = { rin(&g.bob), rin(&g.carol), rin(&g.dave),
	    rin(&g.alice) };
	const struct user *members[] = { &g.bob, &g.carol, &g.dave, &g.alice };
	struct env_opened *o = opened_new(), *first = opened_new();
	const char *text = "meeting at 5, caf\xc3\xa9 \xe2\x98\x95";
	struct wbuf b;
	size_t i;

	(void)state;
	expect_code(seal(&b, &g.alice, r, 4, "#room", 100, text), 0);
	for (i = 0; i < 4; i++) {
		expect_code(open_as(members[i], b.data, b.len, NULL,
		    i == 0 ? first : o), 0);
		if (i == 0)
			continue;
		assert_string_equal((char *)o->body, text);
		assert_string_equal(o->hdr.room, "#room");
		assert_string_equal(o->hdr.conv, "#room");
		assert_int_equal(o->me, i);
		assert_memory_equal(o->key, first->key, ENV_KEY_LEN);
	}
	assert_string_equal((char *)first->body, text);
	expect_code(open_as(&g.eve, b.data, b.len, NULL, o), ENV_E_NOT_FOR_ME);
	expect_code(open_as(&g.bob2, b.data, b.len, NULL, o),
	    ENV_E_NOT_FOR_ME);
	wbuf_free(&b);

	/* Two different users without a room is not a direct message. */
	expect_code(seal(&b, &g.alice, r, 2, "", 1, "x"), ENV_E_BAD_INPUT);
	assert_int_equal(b.len, 0);
	wbuf_free(&b);
	expect_code(seal(&b, &g.alice, r, 2, "room", 1, "x"),
	    ENV_E_BAD_INPUT);
	wbuf_free(&b);
	/* One certificate twice. */
	r[1] = rin(&g.bob);
	expect_code(seal(&b, &g.alice, r, 2, "#room", 1, "x"),
	    ENV_E_BAD_INPUT);
	wbuf_free(&b);
	opened_free(o);
	opened_free(first);
}

/* Offsets of the fields of a parsed envelope, for tampering. */
struct offsets {
	size_t	sender, cert, room, ts, counter, nrcpt, nonce, commit, ct,
		sig;
	size_t	rname[ENV_MAX_RECIPIENTS], rfp[ENV_MAX_RECIPIENTS],
		rwrap[ENV_MAX_RECIPIENTS];
};

static void
offsets(const uint8_t *env, const struct env_header *h, struct offsets *f)
{
	size_t i, last;

	f->sender = 5;
	f->cert = (size_t)(h->cert - env);
	f->room = f->cert + h->certlen + 2;
	f->ts = f->room + strlen(h->room);
	f->counter = f->ts + 8;
	f->nrcpt = f->counter + 8;
	for (i = 0; i < h->nrcpt; i++) {
		f->rwrap[i] = (size_t)(h->rcpt[i].wrapped - env);
		f->rfp[i] = f->rwrap[i] - 2 - ENV_FP_LEN;
		f->rname[i] = f->rfp[i] - strlen(h->rcpt[i].name);
	}
	last = h->nrcpt - 1;
	f->nonce = f->rwrap[last] + h->rcpt[last].wrappedlen;
	f->commit = f->nonce + ENV_NONCE_LEN;
	f->ct = (size_t)(h->ct - env);
	f->sig = (size_t)(h->sig - env);
	assert_int_equal(f->ct, f->commit + ENV_COMMIT_LEN + 2);
}

/* Open a copy of env with byte off XORed with x, as bob. */
static int
open_tampered(const struct wbuf *b, size_t off, uint8_t x,
    struct env_replay *rp, const struct user *as)
{
	struct env_opened *o = opened_new();
	uint8_t *copy = malloc(b->len);
	int rc;

	assert_non_null(copy);
	memcpy(copy, b->data, b->len);
	copy[off] ^= x;
	rc = open_as(as, copy, b->len, rp, o);
	assert_int_equal(o->bodylen, 0);
	opened_free(o);
	free(copy);
	return rc;
}

static void
test_tamper(void **state)
{
	struct env_rcpt_in r[3] = { rin(&g.bob), rin(&g.carol), rin(&g.dave) };
	struct env_header *h = calloc(1, sizeof(*h));
	struct env_replay rp;
	struct offsets f;
	struct wbuf b;
	size_t i;

	(void)state;
	assert_non_null(h);
	envelope_replay_init(&rp);
	expect_code(seal(&b, &g.alice, r, 3, "#room", 50, "attack at dawn"),
	    0);
	expect_code(envelope_peek(b.data, b.len, h, reason, sizeof(reason)),
	    0);
	offsets(b.data, h, &f);

	/* Each field changed to another well-formed value. */
	expect_code(open_tampered(&b, f.ts + 7, 1, NULL, &g.bob),
	    ENV_E_SIG_FAIL);
	assert_non_null(strstr(reason, "signature"));
	expect_code(open_tampered(&b, f.counter + 7, 1, NULL, &g.bob),
	    ENV_E_SIG_FAIL);
	expect_code(open_tampered(&b, f.room + 4, 'm' ^ 'n', NULL, &g.bob),
	    ENV_E_SIG_FAIL);		/* "#room" -> "#roon" */
	for (i = 0; i < 3; i++) {
		/* "bob" -> "cob", "carol" -> "barol", "dave" -> "eave" */
		expect_code(open_tampered(&b, f.rname[i], 0x01, NULL,
		    &g.bob), ENV_E_SIG_FAIL);
		expect_code(open_tampered(&b, f.rfp[i] + 5, 0x40, NULL,
		    &g.bob), ENV_E_SIG_FAIL);
		expect_code(open_tampered(&b, f.rwrap[i] + 100, 0x01, NULL,
		    &g.bob), ENV_E_SIG_FAIL);
		expect_code(open_tampered(&b, f.rwrap[i], 0x80, NULL,
		    &g.carol), ENV_E_SIG_FAIL);
	}
	expect_code(open_tampered(&b, f.nonce, 0x01, NULL, &g.bob),
	    ENV_E_SIG_FAIL);
	expect_code(open_tampered(&b, f.commit + 31, 0x01, NULL, &g.bob),
	    ENV_E_SIG_FAIL);
	expect_code(open_tampered(&b, f.ct, 0x01, NULL, &g.bob),
	    ENV_E_SIG_FAIL);
	/* The signature, not the AEAD, is what rejected it. */
	assert_non_null(strstr(reason, "signature"));
	expect_code(open_tampered(&b, f.sig - 3, 0x01, NULL, &g.bob),
	    ENV_E_SIG_FAIL);		/* the tag's last byte */
	expect_code(open_tampered(&b, f.sig + 10, 0x01, NULL, &g.bob),
	    ENV_E_SIG_FAIL);
	/* The sender's name no longer matches its certificate. */
	expect_code(open_tampered(&b, f.sender, 'a' ^ 'b', NULL, &g.bob),
	    ENV_E_BAD_CERT);
	/* The certificate itself (its signature by the CA breaks). */
	expect_code(open_tampered(&b, f.cert + h->certlen - 5, 0x01, NULL,
	    &g.bob), ENV_E_BAD_CERT);
	/* Framing bytes. */
	expect_code(open_tampered(&b, 0, 0x01, NULL, &g.bob),
	    ENV_E_PROTOCOL);
	expect_code(open_tampered(&b, 2, 0x03, NULL, &g.bob), ENV_E_VERSION);

	/*
	 * Order: the signature is checked before the recipient list, the
	 * replay state and any decryption.  A tampered envelope is
	 * SIG_FAIL for a non-recipient and for a replayed counter, and
	 * leaves the replay state alone.
	 */
	expect_code(open_tampered(&b, f.ct, 0x01, NULL, &g.eve),
	    ENV_E_SIG_FAIL);
	assert_int_equal(envelope_replay_update(&rp, "alice", "#room", 60), 0);
	expect_code(open_tampered(&b, f.ct, 0x01, &rp, &g.bob),
	    ENV_E_SIG_FAIL);
	assert_true(envelope_replay_last(&rp, "alice", "#room") == 60);

	/* Every single-bit change anywhere is rejected. */
	for (i = 0; i < b.len; i++) {
		int rc = open_tampered(&b, i, 0x01, NULL, &g.bob);

		if (rc != ENV_E_SIG_FAIL && rc != ENV_E_BAD_CERT &&
		    rc != ENV_E_PROTOCOL && rc != ENV_E_TOO_LARGE &&
		    rc != ENV_E_VERSION)
			fail_msg("byte %zu: %s (%s)", i, envelope_err_name(rc),
			    reason);
	}
	envelope_replay_free(&rp);
	wbuf_free(&b);
	free(h);
}

/* Well-signed but hostile envelopes: the checks after the signature. */
static void
test_hostile_sender(void **state)
{
	const struct user *to[3] = { &g.bob, &g.carol, &g.bob2 };
	struct env_opened *o = opened_new();
	struct env_header *h;
	uint8_t key[ENV_KEY_LEN], key2[ENV_KEY_LEN], certbuf[ENV_MAX_CERT];
	uint8_t (*wb)[ENV_MAX_RSA] = calloc(3, ENV_MAX_RSA);
	struct wbuf b;

	(void)state;
	assert_non_null(wb);
	assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
	assert_int_equal(RAND_bytes(key2, sizeof(key2)), 1);

	/* The baseline forgery is good: the helper is right. */
	h = forge_header(g.alice.cert, "alice", "", 1, to, 1, key, certbuf,
	    wb);
	forge(&b, h, key, "fine", g.alice.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), 0);
	assert_string_equal((char *)o->body, "fine");
	wbuf_free(&b);

	/* Sender name that is not its certificate's CN. */
	strlcpy(h->sender, "mallory", sizeof(h->sender));
	forge(&b, h, key, "hi", g.alice.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), ENV_E_BAD_CERT);
	wbuf_free(&b);
	strlcpy(h->sender, "alice", sizeof(h->sender));

	/* A key wrapped for bob that is not the key of the body. */
	forge(&b, h, key2, "hi", g.alice.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), ENV_E_SIG_FAIL);
	assert_non_null(strstr(reason, "commitment"));
	wbuf_free(&b);

	/* Garbage where bob's wrapped key should be. */
	assert_int_equal(RAND_bytes(wb[0], 256), 1);
	forge(&b, h, key, "hi", g.alice.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), ENV_E_SIG_FAIL);
	assert_non_null(strstr(reason, "unwrap"));
	wbuf_free(&b);
	free(h);

	/* A body that is not acceptable text (terminal escape). */
	h = forge_header(g.alice.cert, "alice", "", 1, to, 1, key, certbuf,
	    wb);
	forge(&b, h, key, "\x1b[2Jgotcha", g.alice.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), ENV_E_BAD_INPUT);
	assert_int_equal(o->bodylen, 0);
	wbuf_free(&b);
	free(h);

	/* A direct message to two users. */
	h = forge_header(g.alice.cert, "alice", "", 1, to, 2, key, certbuf,
	    wb);
	forge(&b, h, key, "hi", g.alice.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), ENV_E_PROTOCOL);
	wbuf_free(&b);
	/* ... is fine in a room. */
	strlcpy(h->room, "#r", sizeof(h->room));
	forge(&b, h, key, "hi", g.alice.key);
	expect_code(open_as(&g.carol, b.data, b.len, NULL, o), 0);
	wbuf_free(&b);
	/* The same certificate listed twice. */
	h->rcpt[1] = h->rcpt[0];
	forge(&b, h, key, "hi", g.alice.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), ENV_E_PROTOCOL);
	wbuf_free(&b);
	free(h);

	/* Signed by another key than the certificate's. */
	h = forge_header(g.alice.cert, "alice", "", 1, to, 1, key, certbuf,
	    wb);
	forge(&b, h, key, "hi", g.eve.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), ENV_E_SIG_FAIL);
	wbuf_free(&b);
	free(h);
	free(wb);
	opened_free(o);
}

static void
test_bad_cert(void **state)
{
	const struct user *to[1] = { &g.bob };
	struct env_rcpt_in r[1] = { rin(&g.bob) };
	struct env_opened *o = opened_new();
	struct env_identity me;
	struct env_header *h;
	uint8_t key[ENV_KEY_LEN], certbuf[ENV_MAX_CERT];
	uint8_t (*wb)[ENV_MAX_RSA] = calloc(1, ENV_MAX_RSA);
	X509 *x;
	struct wbuf b;

	(void)state;
	assert_non_null(wb);
	assert_int_equal(RAND_bytes(key, sizeof(key)), 1);

	/* alice's key, certified by another CA. */
	x = make_cert("alice", g.alice.key, PKI_PURPOSE_CLIENT, 0, g.now - 300,
	    g.now + DAY, g.other_ca, g.other_key);
	h = forge_header(x, "alice", "", 1, to, 1, key, certbuf, wb);
	forge(&b, h, key, "hi", g.alice.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), ENV_E_BAD_CERT);
	wbuf_free(&b);
	free(h);
	/* The sender cannot seal with it either (under our CA). */
	me.name = "alice";
	me.cert = x;
	me.key = g.alice.key;
	wbuf_init(&b, ENV_MAX_LEN);
	expect_code(envelope_seal(&b, &me, r, 1, "", now_ms(), 1,
	    (const uint8_t *)"hi", 2, g.trust, 0, reason, sizeof(reason)),
	    ENV_E_BAD_CERT);
	wbuf_free(&b);
	X509_free(x);

	/* Expired since it was sent (the signature is fine). */
	x = make_cert("alice", g.alice.key, PKI_PURPOSE_CLIENT, 0,
	    g.now - 10 * DAY, g.now - DAY, g.ca, g.ca_key);
	h = forge_header(x, "alice", "", 1, to, 1, key, certbuf, wb);
	forge(&b, h, key, "hi", g.alice.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), ENV_E_BAD_CERT);
	assert_non_null(strstr(reason, "expired"));
	/* ... and valid when checked at a time it was valid. */
	me = ident(&g.bob);
	expect_code(envelope_open(b.data, b.len, &me, g.trust,
	    g.now - 2 * DAY, NULL, o, reason, sizeof(reason)), 0);
	envelope_opened_clear(o);
	/* Sealing with it now is refused. */
	me.name = "alice";
	me.cert = x;
	me.key = g.alice.key;
	wbuf_free(&b);
	wbuf_init(&b, ENV_MAX_LEN);
	expect_code(envelope_seal(&b, &me, r, 1, "", now_ms(), 1,
	    (const uint8_t *)"hi", 2, g.trust, 0, reason, sizeof(reason)),
	    ENV_E_BAD_CERT);
	wbuf_free(&b);
	free(h);
	X509_free(x);

	/* A server certificate is not a user's. */
	x = make_cert("alice", g.alice.key, PKI_PURPOSE_SERVER, 0, g.now - 300,
	    g.now + DAY, g.ca, g.ca_key);
	h = forge_header(x, "alice", "", 1, to, 1, key, certbuf, wb);
	forge(&b, h, key, "hi", g.alice.key);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), ENV_E_BAD_CERT);
	wbuf_free(&b);
	free(h);
	X509_free(x);

	/* Sealing checks the recipients' certificates, too. */
	x = make_cert("bob", g.eve.key, PKI_PURPOSE_CLIENT, 0, g.now - 300,
	    g.now + DAY, g.other_ca, g.other_key);
	r[0].cert = x;			/* a substituted "bob" certificate */
	expect_code(seal(&b, &g.alice, r, 1, "", 1, "hi"), ENV_E_BAD_CERT);
	assert_int_equal(b.len, 0);
	wbuf_free(&b);
	X509_free(x);
	r[0].name = "carol";		/* bob's certificate, another name */
	r[0].cert = g.bob.cert;
	expect_code(seal(&b, &g.alice, r, 1, "", 1, "hi"), ENV_E_BAD_CERT);
	wbuf_free(&b);
	r[0] = rin(&g.bob);

	/* My own name, certificate and key must agree. */
	me = ident(&g.alice);
	me.name = "carol";
	wbuf_init(&b, ENV_MAX_LEN);
	expect_code(envelope_seal(&b, &me, r, 1, "", now_ms(), 1,
	    (const uint8_t *)"hi", 2, g.trust, 0, reason, sizeof(reason)),
	    ENV_E_BAD_CERT);
	me = ident(&g.alice);
	me.key = g.eve.key;
	expect_code(envelope_seal(&b, &me, r, 1, "", now_ms(), 1,
	    (const uint8_t *)"hi", 2, g.trust, 0, reason, sizeof(reason)),
	    ENV_E_BAD_CERT);
	assert_int_equal(b.len, 0);
	wbuf_free(&b);
	free(wb);
	opened_free(o);
}

static void
test_replay(void **state)
{
	struct env_rcpt_in r[2] = { rin(&g.bob), rin(&g.carol) };
	struct env_opened *o = opened_new();
	struct env_replay rp;
	struct wbuf e5, e6, e7, tampered, room;
	uint64_t c;

	(void)state;
	envelope_replay_init(&rp);
	expect_code(seal(&e5, &g.alice, r, 1, "", 5, "five"), 0);
	expect_code(seal(&e6, &g.alice, r, 1, "", 6, "six"), 0);
	expect_code(seal(&e7, &g.alice, r, 1, "", 7, "seven"), 0);
	expect_code(seal(&tampered, &g.alice, r, 1, "", 100, "hundred"), 0);
	tampered.data[tampered.len - 1] ^= 1;

	expect_code(open_as(&g.bob, e5.data, e5.len, &rp, o), 0);
	assert_true(envelope_replay_last(&rp, "alice", "bob") == 5);
	/* The same envelope again. */
	expect_code(open_as(&g.bob, e5.data, e5.len, &rp, o), ENV_E_REPLAY);
	assert_int_equal(o->bodylen, 0);
	/* A rejected envelope changes nothing. */
	expect_code(open_as(&g.bob, tampered.data, tampered.len, &rp, o),
	    ENV_E_SIG_FAIL);
	expect_code(open_as(&g.carol, e7.data, e7.len, &rp, o),
	    ENV_E_NOT_FOR_ME);
	assert_true(envelope_replay_last(&rp, "alice", "bob") == 5);
	/* Reordering: 7 then 6. */
	expect_code(open_as(&g.bob, e7.data, e7.len, &rp, o), 0);
	expect_code(open_as(&g.bob, e6.data, e6.len, &rp, o), ENV_E_REPLAY);
	assert_non_null(strstr(reason, "reordered"));
	assert_true(envelope_replay_last(&rp, "alice", "bob") == 7);

	/* A room of the same sender counts on its own. */
	expect_code(seal(&room, &g.alice, r, 2, "#room", 1, "in the room"), 0);
	expect_code(open_as(&g.bob, room.data, room.len, &rp, o), 0);
	expect_code(open_as(&g.bob, room.data, room.len, &rp, o),
	    ENV_E_REPLAY);
	/* carol's state is hers: the same envelope is new to her. */
	{
		struct env_replay rc;

		envelope_replay_init(&rc);
		expect_code(open_as(&g.carol, room.data, room.len, &rc, o), 0);
		envelope_replay_free(&rc);
	}
	assert_true(envelope_replay_last(&rp, "alice", "#room") == 1);
	assert_true(envelope_replay_last(&rp, "alice", "bob") == 7);
	assert_true(envelope_replay_last(&rp, "carol", "bob") == 0);

	/* The table API alone. */
	expect_code(envelope_replay_check(&rp, "alice", "bob", 7),
	    ENV_E_REPLAY);
	expect_code(envelope_replay_check(&rp, "alice", "bob", 8), 0);
	assert_int_equal(envelope_replay_update(&rp, "alice", "bob", 7), -1);
	assert_int_equal(envelope_replay_update(&rp, "alice", "bob", 0), -1);
	assert_int_equal(envelope_replay_update(&rp, "Alice", "bob", 9), -1);
	assert_int_equal(envelope_replay_update(&rp, "alice", "#", 9), -1);
	assert_int_equal(envelope_replay_update(&rp, "alice", "bob", 9), 0);
	/* My next counter: above the last one, and not behind the clock. */
	assert_int_equal(envelope_replay_next(&rp, "alice", "bob", 3, &c), 0);
	assert_true(c == 10);
	assert_int_equal(envelope_replay_next(&rp, "alice", "bob",
	    1700000000000ULL, &c), 0);
	assert_true(c == 1700000000000ULL);
	assert_int_equal(envelope_replay_update(&rp, "alice", "bob",
	    ENV_MAX_COUNTER), 0);
	assert_int_equal(envelope_replay_next(&rp, "alice", "bob", 3, &c), -1);

	wbuf_free(&e5);
	wbuf_free(&e6);
	wbuf_free(&e7);
	wbuf_free(&tampered);
	wbuf_free(&room);
	envelope_replay_free(&rp);
	opened_free(o);
}

static int
load_str(const char *content, struct env_replay *rp)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/replay-bad", g.dir);
	assert_int_equal(tu_write(path, content, strlen(content)), 0);
	envelope_replay_init(rp);
	return envelope_replay_load(rp, path, reason, sizeof(reason));
}

static void
test_replay_file(void **state)
{
	static const char *const bad[] = {
		"alice|bob\n",
		"alice|bob|0\n",
		"alice|bob|01\n",
		"alice|bob|-1\n",
		"alice|bob| 1\n",
		"alice|bob|1 \n",
		"Alice|bob|1\n",
		"alice||1\n",
		"|bob|1\n",
		"alice|#|1\n",
		"alice|bob|1",
		"alice|bob|1\r\n",
		"alice|bob|1\n\n",
		"alice|bob|1|2\n",
		"alice|bob|9223372036854775808\n",
		"alice|bob|1\nalice|bob|2\n",
		"abcdefghijklmnopqrstuvwxyz0123456|bob|1\n",
	};
	struct env_replay rp, rp2;
	char path[600], *s;
	size_t i, len;
	uint8_t *big;

	(void)state;
	snprintf(path, sizeof(path), "%s/replay", g.dir);
	envelope_replay_init(&rp);
	/* No file yet: an empty table. */
	assert_int_equal(envelope_replay_load(&rp, path, reason,
	    sizeof(reason)), 0);
	assert_int_equal(rp.n, 0);
	assert_int_equal(envelope_replay_update(&rp, "alice", "bob", 7), 0);
	assert_int_equal(envelope_replay_update(&rp, "alice", "#room", 12), 0);
	assert_int_equal(envelope_replay_update(&rp, "bob", "bob",
	    9223372036854775807ULL), 0);
	assert_int_equal(envelope_replay_save(&rp, path), 0);
	assert_non_null(s = tu_read(path, &len));
	assert_string_equal(s, "alice|bob|7\nalice|#room|12\n"
	    "bob|bob|9223372036854775807\n");
	free(s);
	envelope_replay_init(&rp2);
	assert_int_equal(envelope_replay_load(&rp2, path, reason,
	    sizeof(reason)), 0);
	assert_int_equal(rp2.n, 3);
	assert_true(envelope_replay_last(&rp2, "alice", "#room") == 12);
	assert_true(envelope_replay_last(&rp2, "bob", "bob") == ENV_MAX_COUNTER);
	/* Saving replaces the file. */
	assert_int_equal(envelope_replay_update(&rp2, "alice", "bob", 8), 0);
	assert_int_equal(envelope_replay_save(&rp2, path), 0);
	envelope_replay_free(&rp2);
	envelope_replay_init(&rp2);
	assert_int_equal(envelope_replay_load(&rp2, path, reason,
	    sizeof(reason)), 0);
	assert_true(envelope_replay_last(&rp2, "alice", "bob") == 8);
	/* Loading into a table that is not empty is refused. */
	assert_int_equal(envelope_replay_load(&rp2, path, reason,
	    sizeof(reason)), -1);
	envelope_replay_free(&rp2);
	envelope_replay_free(&rp);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load_str(bad[i], &rp) != -1)
			fail_msg("accepted bad line %zu: \"%s\"", i, bad[i]);
		assert_int_equal(rp.n, 0);
		envelope_replay_free(&rp);
	}
	/* A NUL byte; an empty file is fine. */
	snprintf(path, sizeof(path), "%s/replay-nul", g.dir);
	assert_int_equal(tu_write(path, "alice|bob|1\n\0", 13), 0);
	envelope_replay_init(&rp);
	assert_int_equal(envelope_replay_load(&rp, path, reason,
	    sizeof(reason)), -1);
	envelope_replay_free(&rp);
	assert_int_equal(load_str("", &rp), 0);
	envelope_replay_free(&rp);
	/* A file over the cap is refused unread. */
	assert_non_null(big = calloc(1, ENV_REPLAY_FILE_MAX + 1));
	memset(big, 'a', ENV_REPLAY_FILE_MAX + 1);
	snprintf(path, sizeof(path), "%s/replay-big", g.dir);
	assert_int_equal(tu_write(path, big, ENV_REPLAY_FILE_MAX + 1), 0);
	free(big);
	envelope_replay_init(&rp);
	assert_int_equal(envelope_replay_load(&rp, path, reason,
	    sizeof(reason)), -1);
	envelope_replay_free(&rp);
}

static void
test_limits(void **state)
{
	struct env_rcpt_in r[ENV_MAX_RECIPIENTS + 1];
	X509 *certs[ENV_MAX_RECIPIENTS + 1];
	char names[ENV_MAX_RECIPIENTS + 1][8], *text;
	struct env_opened *o = opened_new();
	struct env_header *h = calloc(1, sizeof(*h));
	struct env_identity me;
	uint8_t *copy, key[ENV_KEY_LEN] = { 1 }, nonce[ENV_NONCE_LEN] = { 0 };
	uint8_t *bigcert, wrapped[ENV_MAX_RSA], sig[ENV_MAX_RSA];
	struct wbuf b;
	size_t i;

	(void)state;
	assert_non_null(h);
	/* Body: 4096 bytes pass, 4097 do not; empty is not a message. */
	assert_non_null(text = malloc(ENV_MAX_BODY + 2));
	memset(text, 'a', ENV_MAX_BODY + 1);
	text[ENV_MAX_BODY] = '\0';
	r[0] = rin(&g.bob);
	expect_code(seal(&b, &g.alice, r, 1, "", 1, text), 0);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), 0);
	assert_int_equal(o->bodylen, ENV_MAX_BODY);
	wbuf_free(&b);
	text[ENV_MAX_BODY] = 'a';
	text[ENV_MAX_BODY + 1] = '\0';
	expect_code(seal(&b, &g.alice, r, 1, "", 1, text), ENV_E_TOO_LARGE);
	wbuf_free(&b);
	expect_code(seal(&b, &g.alice, r, 1, "", 1, ""), ENV_E_BAD_INPUT);
	wbuf_free(&b);
	free(text);

	/* 64 recipients (certificates u00..u63 on one key) pass, 65 not. */
	for (i = 0; i <= ENV_MAX_RECIPIENTS; i++) {
		snprintf(names[i], sizeof(names[i]), "u%02zu", i);
		certs[i] = client_cert(names[i], g.dave.key);
		r[i].name = names[i];
		r[i].cert = certs[i];
	}
	expect_code(seal(&b, &g.alice, r, ENV_MAX_RECIPIENTS, "#big", 1,
	    "to everyone"), 0);
	assert_true(b.len <= ENV_MAX_LEN);
	me.name = names[63];
	me.cert = certs[63];
	me.key = g.dave.key;
	expect_code(envelope_open(b.data, b.len, &me, g.trust, 0, NULL, o,
	    reason, sizeof(reason)), 0);
	assert_int_equal(o->me, 63);
	/* The count byte says 65 (TOO_LARGE) or 0 (PROTOCOL). */
	expect_code(envelope_peek(b.data, b.len, h, reason, sizeof(reason)),
	    0);
	assert_non_null(copy = malloc(b.len));
	{
		struct offsets f;

		offsets(b.data, h, &f);
		memcpy(copy, b.data, b.len);
		copy[f.nrcpt] = ENV_MAX_RECIPIENTS + 1;
		expect_code(envelope_peek(copy, b.len, h, reason,
		    sizeof(reason)), ENV_E_TOO_LARGE);
		copy[f.nrcpt] = 0;
		assert_int_not_equal(envelope_peek(copy, b.len, h, reason,
		    sizeof(reason)), 0);
		/* A name length of 33, a ciphertext length of 4113. */
		memcpy(copy, b.data, b.len);
		copy[f.sender - 1] = ENV_MAX_NAME + 1;
		expect_code(envelope_peek(copy, b.len, h, reason,
		    sizeof(reason)), ENV_E_TOO_LARGE);
		memcpy(copy, b.data, b.len);
		copy[f.ct - 2] = (ENV_MAX_CT + 1) >> 8;
		copy[f.ct - 1] = (ENV_MAX_CT + 1) & 0xff;
		expect_code(envelope_peek(copy, b.len, h, reason,
		    sizeof(reason)), ENV_E_TOO_LARGE);
	}
	free(copy);
	wbuf_free(&b);
	expect_code(seal(&b, &g.alice, r, ENV_MAX_RECIPIENTS + 1, "#big", 1,
	    "to everyone"), ENV_E_TOO_LARGE);
	wbuf_free(&b);
	for (i = 0; i <= ENV_MAX_RECIPIENTS; i++)
		X509_free(certs[i]);

	/* The largest envelope is exactly ENV_MAX_LEN and parses. */
	assert_non_null(bigcert = calloc(1, ENV_MAX_CERT));
	memset(h, 0, sizeof(*h));
	memset(h->sender, 'a', ENV_MAX_NAME);
	h->room[0] = '#';
	memset(h->room + 1, 'r', ENV_MAX_ROOM - 1);
	h->cert = bigcert;
	h->certlen = ENV_MAX_CERT;
	h->ts = h->counter = 1;
	h->nrcpt = ENV_MAX_RECIPIENTS;
	memset(wrapped, 0x55, sizeof(wrapped));
	for (i = 0; i < ENV_MAX_RECIPIENTS; i++) {
		memset(h->rcpt[i].name, 'b', ENV_MAX_NAME);
		h->rcpt[i].fp[0] = (uint8_t)i;
		h->rcpt[i].wrapped = wrapped;
		h->rcpt[i].wrappedlen = sizeof(wrapped);
	}
	assert_non_null(text = malloc(ENV_MAX_BODY));
	memset(text, 'x', ENV_MAX_BODY);
	wbuf_init(&b, ENV_MAX_LEN + 1);
	assert_int_equal(envelope_encode_tbs(&b, h, nonce, key,
	    (const uint8_t *)text, ENV_MAX_BODY), 0);
	memset(sig, 0xa5, sizeof(sig));
	assert_int_equal(wbuf_put_str16(&b, sig, sizeof(sig)), 0);
	assert_int_equal(b.len, ENV_MAX_LEN);
	assert_int_equal(ENV_MAX_LEN, 50074);
	expect_code(envelope_peek(b.data, b.len, h, reason, sizeof(reason)),
	    0);
	/* One byte more is too large before anything is read. */
	assert_int_equal(wbuf_put_u8(&b, 0), 0);
	expect_code(envelope_peek(b.data, b.len, h, reason, sizeof(reason)),
	    ENV_E_TOO_LARGE);
	wbuf_free(&b);
	/* The encoder refuses more than the limits, too. */
	wbuf_init(&b, 2 * ENV_MAX_LEN);
	assert_int_equal(envelope_encode_tbs(&b, h, nonce, key,
	    (const uint8_t *)text, ENV_MAX_BODY + 1), -1);
	wbuf_free(&b);
	free(text);
	free(bigcert);

	/* A well-formed envelope but for its empty recipient list. */
	wbuf_init(&b, ENV_MAX_LEN);
	wbuf_put(&b, "SE\x01", 3);
	wbuf_put_str16(&b, "alice", 5);
	wbuf_put_str16(&b, "c", 1);
	wbuf_put_str16(&b, "", 0);
	wbuf_put_u64(&b, 1);
	wbuf_put_u64(&b, 1);
	wbuf_put_u8(&b, 0);
	wbuf_put(&b, nonce, ENV_NONCE_LEN);
	wbuf_put(&b, wrapped, ENV_COMMIT_LEN);
	wbuf_put_str16(&b, wrapped, ENV_MIN_CT);
	assert_int_equal(wbuf_put_str16(&b, sig, 256), 0);
	expect_code(envelope_peek(b.data, b.len, h, reason, sizeof(reason)),
	    ENV_E_PROTOCOL);
	assert_non_null(strstr(reason, "no recipient"));
	wbuf_free(&b);

	/* Bad arguments to seal. */
	r[0] = rin(&g.bob);
	expect_code(seal(&b, &g.alice, r, 0, "", 1, "x"), ENV_E_BAD_INPUT);
	wbuf_free(&b);
	expect_code(seal(&b, &g.alice, r, 1, "", 0, "x"), ENV_E_BAD_INPUT);
	wbuf_free(&b);
	expect_code(seal(&b, &g.alice, r, 1, "", ENV_MAX_COUNTER + 1, "x"),
	    ENV_E_BAD_INPUT);
	wbuf_free(&b);
	expect_code(seal(&b, &g.alice, r, 1, "#Room", 1, "x"),
	    ENV_E_BAD_INPUT);
	wbuf_free(&b);
	opened_free(o);
	free(h);
}

static void
test_truncated_extra(void **state)
{
	struct env_rcpt_in r[1] = { rin(&g.bob) };
	struct env_header *h = calloc(1, sizeof(*h));
	struct wbuf b;
	uint8_t *copy;
	size_t i;

	(void)state;
	assert_non_null(h);
	expect_code(seal(&b, &g.alice, r, 1, "", 1, "short"), 0);
	for (i = 0; i < b.len; i++)
		expect_code(envelope_peek(b.data, i, h, reason,
		    sizeof(reason)), ENV_E_PROTOCOL);
	expect_code(envelope_peek(NULL, 0, h, reason, sizeof(reason)),
	    ENV_E_PROTOCOL);
	assert_non_null(copy = malloc(b.len + 1));
	memcpy(copy, b.data, b.len);
	copy[b.len] = 0;
	expect_code(envelope_peek(copy, b.len + 1, h, reason,
	    sizeof(reason)), ENV_E_PROTOCOL);
	assert_non_null(strstr(reason, "trailing"));
	{
		struct env_opened *o = opened_new();

		expect_code(open_as(&g.bob, copy, b.len + 1, NULL, o),
		    ENV_E_PROTOCOL);
		expect_code(open_as(&g.bob, copy, b.len - 1, NULL, o),
		    ENV_E_PROTOCOL);
		opened_free(o);
	}
	free(copy);
	wbuf_free(&b);
	free(h);
}

static void
test_disclosed(void **state)
{
	struct env_rcpt_in r[2] = { rin(&g.bob), rin(&g.carol) };
	struct env_opened *o = opened_new(), *d = opened_new();
	uint8_t key[ENV_KEY_LEN];
	struct wbuf b;

	(void)state;
	expect_code(seal(&b, &g.alice, r, 2, "#room", 3, "I said it"), 0);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), 0);
	/* A third party with the key (no private key) sees the same. */
	expect_code(envelope_open_disclosed(b.data, b.len, o->key, g.trust, 0,
	    d, reason, sizeof(reason)), 0);
	assert_string_equal((char *)d->body, "I said it");
	assert_string_equal(d->hdr.sender, "alice");
	memcpy(key, o->key, sizeof(key));
	key[0] ^= 1;
	expect_code(envelope_open_disclosed(b.data, b.len, key, g.trust, 0,
	    d, reason, sizeof(reason)), ENV_E_SIG_FAIL);
	b.data[b.len - 3] ^= 1;
	expect_code(envelope_open_disclosed(b.data, b.len, o->key, g.trust, 0,
	    d, reason, sizeof(reason)), ENV_E_SIG_FAIL);
	wbuf_free(&b);
	opened_free(o);
	opened_free(d);
}

/* The wrapping and the signature, checked by the openssl command. */
static void
test_openssl_interop(void **state)
{
	struct env_rcpt_in r[1] = { rin(&g.bob) };
	struct env_opened *o = opened_new();
	struct wbuf b, stmt;
	struct tu_result res;
	char wpath[600], spath[600], tpath[600], opath[600], ppath[600];
	char label[2 * sizeof(ENV_LABEL_WRAP) + 1], *out;
	size_t len;

	(void)state;
	expect_code(seal(&b, &g.alice, r, 1, "", 9, "interop"), 0);
	expect_code(open_as(&g.bob, b.data, b.len, NULL, o), 0);
	snprintf(wpath, sizeof(wpath), "%s/wrapped.bin", g.dir);
	snprintf(spath, sizeof(spath), "%s/sig.bin", g.dir);
	snprintf(tpath, sizeof(tpath), "%s/stmt.bin", g.dir);
	snprintf(opath, sizeof(opath), "%s/key.out", g.dir);
	snprintf(ppath, sizeof(ppath), "%s/alice.pub", g.dir);
	assert_int_equal(pki_write_key(g.bob.key_path, g.bob.key, 1, err,
	    sizeof(err)), 0);
	assert_int_equal(tu_write(wpath, o->hdr.rcpt[0].wrapped,
	    o->hdr.rcpt[0].wrappedlen), 0);
	hex_encode((const uint8_t *)ENV_LABEL_WRAP, sizeof(ENV_LABEL_WRAP),
	    label);
	tu_sh(&res, NULL, "openssl pkeyutl -decrypt -inkey %s -in %s -out %s "
	    "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 "
	    "-pkeyopt rsa_mgf1_md:sha256 -pkeyopt rsa_oaep_label:%s",
	    g.bob.key_path, wpath, opath, label);
	if (res.status != 0)
		fail_msg("openssl pkeyutl: %d %s", res.status, res.err);
	tu_result_free(&res);
	assert_non_null(out = tu_read(opath, &len));
	assert_int_equal(len, ENV_KEY_LEN);
	assert_memory_equal(out, o->key, ENV_KEY_LEN);
	freezero(out, len);

	wbuf_init(&stmt, ENV_STMT_MAX);
	assert_int_equal(envelope_statement(&stmt, o->hdr.tbs, o->hdr.tbslen),
	    0);
	assert_int_equal(tu_write(tpath, stmt.data, stmt.len), 0);
	assert_int_equal(tu_write(spath, o->hdr.sig, o->hdr.siglen), 0);
	tu_sh(&res, NULL, "openssl x509 -in %s -pubkey -noout > %s && "
	    "openssl dgst -sha256 -verify %s -signature %s %s",
	    g.alice.cert_path, ppath, ppath, spath, tpath);
	if (res.status != 0 || !tu_contains(res.out, "Verified OK"))
		fail_msg("openssl dgst: %d %s %s", res.status, res.out,
		    res.err);
	tu_result_free(&res);
	/* ... and it can fail: a changed statement does not verify. */
	stmt.data[stmt.len - 1] ^= 1;
	assert_int_equal(tu_write(tpath, stmt.data, stmt.len), 0);
	tu_sh(&res, NULL, "openssl dgst -sha256 -verify %s -signature %s %s",
	    ppath, spath, tpath);
	assert_int_not_equal(res.status, 0);
	tu_result_free(&res);
	wbuf_free(&stmt);
	wbuf_free(&b);
	opened_free(o);
	unlink(g.bob.key_path);
	unlink(opath);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(envelope_err_name(ENV_E_NOT_FOR_ME), "NOT_FOR_ME");
	assert_string_equal(envelope_err_name(ENV_E_SIG_FAIL), "SIG_FAIL");
	assert_string_equal(envelope_err_name(999), "UNKNOWN");
	assert_int_equal(envelope_err_wire(ENV_E_REPLAY), SC_E_REPLAY);
	assert_int_equal(envelope_err_wire(ENV_E_TOO_LARGE), SC_E_TOO_LARGE);
	assert_int_equal(envelope_err_wire(ENV_E_NOT_FOR_ME), SC_E_PROTOCOL);
	assert_true(envelope_valid_room("#general"));
	assert_true(envelope_valid_room("#a"));
	assert_true(envelope_valid_room("#abcdefghijklmnopqrstuvwxyz01234"));
	assert_false(envelope_valid_room("#abcdefghijklmnopqrstuvwxyz012345"));
	assert_false(envelope_valid_room("#"));
	assert_false(envelope_valid_room("general"));
	assert_false(envelope_valid_room("#Gen"));
	assert_false(envelope_valid_room("#_x"));
	assert_false(envelope_valid_room("##x"));
	assert_true(envelope_valid_conv("bob"));
	assert_true(envelope_valid_conv("#bob"));
	assert_false(envelope_valid_conv(""));
	assert_false(envelope_valid_conv("b|b"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_roundtrip_dm),
		cmocka_unit_test(test_roundtrip_room),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_hostile_sender),
		cmocka_unit_test(test_bad_cert),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_replay_file),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_truncated_extra),
		cmocka_unit_test(test_disclosed),
		cmocka_unit_test(test_openssl_interop),
	};

	return cmocka_run_group_tests_name("envelope", tests, setup, teardown);
}
