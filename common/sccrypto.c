/*
 * sccrypto.c: SecureChat v1 cryptography on OpenSSL 3 EVP (see sccrypto.h).
 */
#include "sccrypto.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

/* ---- X25519 ---- */

static int
x25519_pub(EVP_PKEY *pk, uint8_t pub[SC_KEX_LEN])
{
	size_t n = SC_KEX_LEN;

	if (EVP_PKEY_get_raw_public_key(pk, pub, &n) != 1 || n != SC_KEX_LEN)
		return -1;
	return 0;
}

/*
 * The private key is 32 bytes from arc4random_buf(3) (the kernel's
 * getrandom(2) behind a per-process ChaCha20, fork-safe), not from
 * OpenSSL's DRBG: a worker is a fresh process per connection, and
 * instantiating the DRBG there costs about 0.4 ms of its start, for no
 * better randomness.  RFC 7748 clamping is X25519's own.
 */
int
sc_x25519_keygen(EVP_PKEY **privp, uint8_t pub[SC_KEX_LEN])
{
	uint8_t priv[32];
	int rc;

	arc4random_buf(priv, sizeof(priv));
	rc = sc_x25519_from_private(priv, privp, pub);
	OPENSSL_cleanse(priv, sizeof(priv));
	return rc;
}

int
sc_x25519_from_private(const uint8_t priv[32], EVP_PKEY **privp,
    uint8_t pub[SC_KEX_LEN])
{
	EVP_PKEY *pk;

	*privp = NULL;
	if ((pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv,
	    32)) == NULL)
		return -1;
	if (x25519_pub(pk, pub) == -1) {
		EVP_PKEY_free(pk);
		return -1;
	}
	*privp = pk;
	return 0;
}

int
sc_x25519_derive(EVP_PKEY *priv, const uint8_t *peer, size_t peerlen,
    uint8_t ss[32])
{
	EVP_PKEY *peerkey = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t n = 32;
	uint8_t acc = 0;
	int rc = -1, i;

	memset(ss, 0, 32);
	if (priv == NULL || peer == NULL || peerlen != SC_KEX_LEN)
		return -1;
	if ((peerkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer,
	    peerlen)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL)) == NULL ||
	    EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, peerkey) != 1 ||
	    EVP_PKEY_derive(ctx, ss, &n) != 1 || n != 32)
		goto out;
	/*
	 * OpenSSL already refuses an all-zero result; check again so that
	 * a low-order point can never yield a predictable key here.
	 */
	for (i = 0; i < 32; i++)
		acc |= ss[i];
	if (acc == 0)
		goto out;
	rc = 0;
 out:
	if (rc == -1)
		OPENSSL_cleanse(ss, 32);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peerkey);
	return rc;
}

/* ---- Primitives ---- */

int
sc_sha256(const void *p, size_t n, uint8_t out[SC_SHA256_LEN])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 ||
	    len != SC_SHA256_LEN)
		return -1;
	return 0;
}

int
sc_hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt,
    size_t saltlen, const uint8_t *info, size_t infolen, uint8_t *out,
    size_t outlen)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5], *p = params;
	int rc = -1;

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL)
		return -1;
	if ((kctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)(uintptr_t)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)(uintptr_t)ikm, ikmlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)(uintptr_t)salt, saltlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)(uintptr_t)info, infolen);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, params) != 1)
		goto out;
	rc = 0;
 out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

static int
aes_cbc(int enc, const uint8_t *key, const uint8_t *iv, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t *outlenp)
{
	EVP_CIPHER_CTX *ctx;
	int n1 = 0, n2 = 0, rc = -1;
	size_t need;

	if (inlen > SC_MAX_PAYLOAD)
		return -1;
	need = enc ? SC_CT_LEN(inlen) : inlen;
	if (!enc && (inlen == 0 || inlen % 16 != 0))
		return -1;
	if (*outlenp < need)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_CipherInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv, enc) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 1) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n1, in, (int)inlen) != 1 ||
	    EVP_CipherFinal_ex(ctx, out + n1, &n2) != 1)
		goto out;
	*outlenp = (size_t)n1 + (size_t)n2;
	rc = 0;
 out:
	if (rc == -1)
		OPENSSL_cleanse(out, need);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
sc_aes_cbc_encrypt(const uint8_t key[SC_AES_KEY_LEN],
    const uint8_t iv[SC_IV_LEN], const uint8_t *pt, size_t ptlen,
    uint8_t *out, size_t *outlenp)
{
	return aes_cbc(1, key, iv, pt, ptlen, out, outlenp);
}

int
sc_aes_cbc_decrypt(const uint8_t key[SC_AES_KEY_LEN],
    const uint8_t iv[SC_IV_LEN], const uint8_t *ct, size_t ctlen,
    uint8_t *out, size_t *outlenp)
{
	return aes_cbc(0, key, iv, ct, ctlen, out, outlenp);
}

int
sc_rsa_key_ok(EVP_PKEY *key)
{
	int bits;

	if (key == NULL || !EVP_PKEY_is_a(key, "RSA"))
		return -1;
	bits = EVP_PKEY_get_bits(key);
	if (bits < SC_MIN_RSA_BITS || bits > SC_MAX_SIG * 8)
		return -1;
	return 0;
}

/*
 * RSA contexts kept for the last key signed with and the last key
 * verified with.  OpenSSL 3 builds a new signature context on every
 * EVP_DigestSignInit/EVP_DigestVerifyInit (method fetch, key type and
 * size checks, provider key export): in a session's record loop that was
 * about 5 us per signature and 14 us per verification (perf of the echo
 * bench), against 16 us for the verification itself.  A cached context
 * holds a reference to its key, so its pointer cannot be freed and reused
 * for another key while it is cached; the key was checked with
 * sc_rsa_key_ok when the context was made.  A context is taken out of
 * its slot for the operation and put back after (under a mutex held only
 * for that): threads that sign at once each get their own context.
 */
struct rsa_slot {
	EVP_PKEY	*key;
	EVP_PKEY_CTX	*ctx;
	int		 size;	/* EVP_PKEY_get_size(key) */
};
static pthread_mutex_t	rsa_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rsa_slot	rsa_slots[2];	/* [0] signing, [1] verifying */

static void
rsa_slot_clear(struct rsa_slot *sl)
{
	EVP_PKEY_CTX_free(sl->ctx);
	EVP_PKEY_free(sl->key);
	memset(sl, 0, sizeof(*sl));
}

/* A context for key (sign or verify, PKCS#1 v1.5, SHA-256) in *sl. */
static int
rsa_take(int verify, EVP_PKEY *key, struct rsa_slot *sl)
{
	struct rsa_slot *cached = &rsa_slots[verify];

	memset(sl, 0, sizeof(*sl));
	if (key == NULL)
		return -1;
	if (pthread_mutex_lock(&rsa_mu) != 0)
		return -1;
	if (cached->key == key && cached->ctx != NULL) {
		*sl = *cached;
		memset(cached, 0, sizeof(*cached));
	}
	(void)pthread_mutex_unlock(&rsa_mu);
	if (sl->ctx != NULL)
		return 0;
	if (sc_rsa_key_ok(key) == -1 || EVP_PKEY_up_ref(key) != 1)
		return -1;
	sl->key = key;
	sl->size = EVP_PKEY_get_size(key);
	if ((sl->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL ||
	    (verify ? EVP_PKEY_verify_init(sl->ctx) :
	    EVP_PKEY_sign_init(sl->ctx)) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(sl->ctx, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(sl->ctx, EVP_sha256()) != 1) {
		rsa_slot_clear(sl);
		return -1;
	}
	return 0;
}

/*
 * Back into the cache, replacing another key's context; freed when the
 * operation failed or another thread already put back one for this key.
 */
static void
rsa_give(int verify, struct rsa_slot *sl, int ok)
{
	struct rsa_slot *cached = &rsa_slots[verify], old = { 0 };

	if (ok && pthread_mutex_lock(&rsa_mu) == 0) {
		if (cached->ctx == NULL || cached->key != sl->key) {
			old = *cached;
			*cached = *sl;
			memset(sl, 0, sizeof(*sl));
		}
		(void)pthread_mutex_unlock(&rsa_mu);
	}
	rsa_slot_clear(&old);
	rsa_slot_clear(sl);
}

void
sc_rsa_forget(void)
{
	struct rsa_slot old[2];

	if (pthread_mutex_lock(&rsa_mu) != 0)
		return;
	memcpy(old, rsa_slots, sizeof(old));
	memset(rsa_slots, 0, sizeof(rsa_slots));
	(void)pthread_mutex_unlock(&rsa_mu);
	rsa_slot_clear(&old[0]);
	rsa_slot_clear(&old[1]);
}

int
sc_rsa_sign(EVP_PKEY *key, const uint8_t *msg, size_t msglen, uint8_t *sig,
    size_t *siglenp)
{
	struct rsa_slot sl;
	uint8_t h[SC_SHA256_LEN];
	size_t n = *siglenp;
	int rc = -1;

	if (rsa_take(0, key, &sl) == -1)
		return -1;
	if (n >= (size_t)sl.size && sc_sha256(msg, msglen, h) == 0 &&
	    EVP_PKEY_sign(sl.ctx, sig, &n, h, sizeof(h)) == 1) {
		*siglenp = n;
		rc = 0;
	}
	rsa_give(0, &sl, rc == 0);
	return rc;
}

int
sc_rsa_verify(EVP_PKEY *pub, const uint8_t *msg, size_t msglen,
    const uint8_t *sig, size_t siglen)
{
	struct rsa_slot sl;
	uint8_t h[SC_SHA256_LEN];
	int rc = -1;

	if (sig == NULL || rsa_take(1, pub, &sl) == -1)
		return -1;
	/* A signature is exactly the modulus size: no slack for tricks. */
	if (siglen == (size_t)sl.size && sc_sha256(msg, msglen, h) == 0 &&
	    EVP_PKEY_verify(sl.ctx, sig, siglen, h, sizeof(h)) == 1)
		rc = 0;
	/* A failed verification leaves the context as good as before. */
	rsa_give(1, &sl, 1);
	return rc;
}

int
sc_b64_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
	size_t need;

	if (n > SC_MAX_PAYLOAD * 2)
		return -1;
	need = (n + 2) / 3 * 4 + 1;
	if (outsz < need)
		return -1;
	return EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static int
b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
sc_b64_decode(const char *in, size_t len, uint8_t *out, size_t outsz,
    size_t *outlenp)
{
	size_t i, o = 0, pad = 0;
	uint32_t acc;
	int v, k;

	*outlenp = 0;
	if (len % 4 != 0)
		return -1;
	if (len > 0 && in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	if (len / 4 * 3 - pad > outsz)
		return -1;
	for (i = 0; i < len; i += 4) {
		acc = 0;
		for (k = 0; k < 4; k++) {
			char c = in[i + k];

			if (c == '=' && i + 4 == len && k >= 4 - (int)pad)
				v = 0;
			else if ((v = b64_val(c)) == -1)
				return -1;
			acc = acc << 6 | (uint32_t)v;
		}
		out[o++] = (uint8_t)(acc >> 16);
		if (i + 4 < len || pad < 2)
			out[o++] = (uint8_t)(acc >> 8);
		if (i + 4 < len || pad < 1)
			out[o++] = (uint8_t)acc;
		/* Canonical form: the bits under the padding must be zero. */
		if (i + 4 == len && ((pad == 1 && (acc & 0xff) != 0) ||
		    (pad == 2 && (acc & 0xffff) != 0)))
			return -1;
	}
	*outlenp = o;
	return 0;
}

/* ---- Handshake hashes and statements ---- */

int
sc_h1(const uint8_t *ch, size_t chlen, const uint8_t *shcore,
    size_t shcorelen, uint8_t h1[SC_SHA256_LEN])
{
	struct wbuf b;
	int rc = -1;

	wbuf_init(&b, 4 + SC_MAX_PAYLOAD + 4 + SC_MAX_PAYLOAD);
	if (chlen > SC_MAX_PAYLOAD || shcorelen > SC_MAX_PAYLOAD)
		goto out;
	wbuf_put_str32(&b, ch, chlen);
	if (wbuf_put_str32(&b, shcore, shcorelen) == -1)
		goto out;
	rc = sc_sha256(b.data, b.len, h1);
 out:
	wbuf_free(&b);
	return rc;
}

int
sc_h2(const uint8_t h1[SC_SHA256_LEN], const uint8_t *ssig, size_t ssiglen,
    uint8_t h2[SC_SHA256_LEN])
{
	struct wbuf b;
	int rc = -1;

	wbuf_init(&b, SC_SHA256_LEN + 2 + SC_MAX_SIG);
	if (ssiglen > SC_MAX_SIG)
		goto out;
	wbuf_put(&b, h1, SC_SHA256_LEN);
	if (wbuf_put_str16(&b, ssig, ssiglen) == -1)
		goto out;
	rc = sc_sha256(b.data, b.len, h2);
 out:
	wbuf_free(&b);
	return rc;
}

int
sc_stmt_server_handshake(struct wbuf *b, const uint8_t h1[32])
{
	wbuf_put(b, SC_LABEL_SERVER_HS, sizeof(SC_LABEL_SERVER_HS));
	return wbuf_put(b, h1, SC_SHA256_LEN);
}

int
sc_stmt_client_handshake(struct wbuf *b, const uint8_t h2[32])
{
	wbuf_put(b, SC_LABEL_CLIENT_HS, sizeof(SC_LABEL_CLIENT_HS));
	return wbuf_put(b, h2, SC_SHA256_LEN);
}

int
sc_stmt_record(struct wbuf *b, const uint8_t sid[SC_SESSION_ID_LEN],
    uint8_t dir, uint8_t type, uint8_t phase, uint64_t seq, uint64_t ts,
    const uint8_t iv[SC_IV_LEN], const uint8_t *ct, size_t ctlen)
{
	if (ctlen > SC_MAX_CT) {
		b->err = 1;
		return -1;
	}
	wbuf_put(b, SC_LABEL_RECORD, sizeof(SC_LABEL_RECORD));
	wbuf_put(b, sid, SC_SESSION_ID_LEN);
	wbuf_put_u8(b, dir);
	wbuf_put_u8(b, type);
	wbuf_put_u8(b, phase);
	wbuf_put_u64(b, seq);
	wbuf_put_u64(b, ts);
	wbuf_put(b, iv, SC_IV_LEN);
	return wbuf_put_str32(b, ct, ctlen);
}

int
sc_stmt_receipt(struct wbuf *b, const struct sc_receipt *r)
{
	wbuf_put(b, SC_LABEL_RECEIPT, sizeof(SC_LABEL_RECEIPT));
	wbuf_put(b, r->session_id, SC_SESSION_ID_LEN);
	wbuf_put_u8(b, r->role);
	wbuf_put_u64(b, r->first_seq);
	wbuf_put_u64(b, r->last_seq);
	wbuf_put(b, r->transcript_sha256, SC_SHA256_LEN);
	return wbuf_put(b, r->peer_fp, SC_SHA256_LEN);
}

/* ---- Key schedule ---- */

static int
derive_pair(const uint8_t ss[32], const uint8_t h2[32], const char *lc2s,
    size_t lc2slen, const char *ls2c, size_t ls2clen, struct sc_dirkeys *k)
{
	if (sc_hkdf_sha256(ss, 32, h2, SC_SHA256_LEN, (const uint8_t *)lc2s,
	    lc2slen, k->c2s, sizeof(k->c2s)) == -1 ||
	    sc_hkdf_sha256(ss, 32, h2, SC_SHA256_LEN, (const uint8_t *)ls2c,
	    ls2clen, k->s2c, sizeof(k->s2c)) == -1) {
		OPENSSL_cleanse(k, sizeof(*k));
		return -1;
	}
	return 0;
}

int
sc_derive_temp_keys(const uint8_t ss1[32], const uint8_t h2[32],
    struct sc_dirkeys *k)
{
	return derive_pair(ss1, h2, SC_LABEL_TEMP_C2S, sizeof(SC_LABEL_TEMP_C2S),
	    SC_LABEL_TEMP_S2C, sizeof(SC_LABEL_TEMP_S2C), k);
}

int
sc_derive_session_keys(const uint8_t ss2[32], const uint8_t h2[32],
    struct sc_dirkeys *k)
{
	return derive_pair(ss2, h2, SC_LABEL_SESS_C2S, sizeof(SC_LABEL_SESS_C2S),
	    SC_LABEL_SESS_S2C, sizeof(SC_LABEL_SESS_S2C), k);
}
