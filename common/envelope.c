/*
 * envelope.c: end-to-end envelopes (see envelope.h and docs/MESSAGING.md).
 */
#include "envelope.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "sccrypto.h"
#include "util.h"

_Static_assert(ENV_MAX_LEN == 50074, "MESSAGING.md §5 states 50074");
/* The envelope and a message around it fit one record of one frame. */
_Static_assert(ENV_MAX_LEN + 1024 <= SC_MAX_CT - 1, "envelope too large");

static void
setreason(char *reason, size_t reasonlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
setreason(char *reason, size_t reasonlen, const char *fmt, ...)
{
	va_list ap;

	if (reason == NULL || reasonlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(reason, reasonlen, fmt, ap);
	va_end(ap);
}

/* Set the reason and yield code: `return FAIL(code, fmt, ...)`. */
#define FAIL(code, ...) \
	(setreason(reason, reasonlen, __VA_ARGS__), (code))

const char *
envelope_err_name(int code)
{
	switch (code) {
	case ENV_OK:
		return "OK";
	case ENV_E_PROTOCOL:
		return "PROTOCOL";
	case ENV_E_BAD_CERT:
		return "BAD_CERT";
	case ENV_E_SIG_FAIL:
		return "SIG_FAIL";
	case ENV_E_REPLAY:
		return "REPLAY";
	case ENV_E_TOO_LARGE:
		return "TOO_LARGE";
	case ENV_E_INTERNAL:
		return "INTERNAL";
	case ENV_E_VERSION:
		return "VERSION";
	case ENV_E_BAD_INPUT:
		return "BAD_INPUT";
	case ENV_E_NOT_FOR_ME:
		return "NOT_FOR_ME";
	}
	return "UNKNOWN";
}

int
envelope_err_wire(int code)
{
	switch (code) {
	case ENV_E_PROTOCOL:
	case ENV_E_BAD_CERT:
	case ENV_E_SIG_FAIL:
	case ENV_E_REPLAY:
	case ENV_E_TOO_LARGE:
	case ENV_E_INTERNAL:
	case ENV_E_VERSION:
	case ENV_E_BAD_INPUT:
		return code;
	}
	/* NOT_FOR_ME and anything unexpected: the envelope is not ours. */
	return SC_E_PROTOCOL;
}

/* ---- Names ---- */

static int
valid_name(const char *s)
{
	return s != NULL && sc_valid_username((const uint8_t *)s, strlen(s));
}

int
envelope_valid_room(const char *s)
{
	size_t n;

	if (s == NULL || s[0] != '#')
		return 0;
	n = strlen(s);
	return n <= ENV_MAX_ROOM &&
	    sc_valid_username((const uint8_t *)s + 1, n - 1);
}

int
envelope_valid_conv(const char *s)
{
	return valid_name(s) || envelope_valid_room(s);
}

/* Copy a length-delimited name (already checked: no NUL) to a C string. */
static void
copy_name(char *dst, size_t dstsz, const uint8_t *p, size_t n)
{
	if (n >= dstsz)
		n = dstsz - 1;
	if (n > 0)
		memcpy(dst, p, n);
	dst[n] = '\0';
}

/*
 * The conversation of a header: the room, or the one user other than the
 * sender among the recipients (the sender for a note to self).  -1 when a
 * direct message names two other users.
 */
static int
header_conv(struct env_header *h)
{
	const char *peer = NULL;
	size_t i;

	if (h->room[0] != '\0') {
		strlcpy(h->conv, h->room, sizeof(h->conv));
		return 0;
	}
	for (i = 0; i < h->nrcpt; i++) {
		if (strcmp(h->rcpt[i].name, h->sender) == 0)
			continue;
		if (peer != NULL && strcmp(peer, h->rcpt[i].name) != 0)
			return -1;
		peer = h->rcpt[i].name;
	}
	strlcpy(h->conv, peer != NULL ? peer : h->sender, sizeof(h->conv));
	return 0;
}

/* ---- Primitives ---- */

int
envelope_key_commit(const uint8_t key[ENV_KEY_LEN],
    uint8_t out[ENV_COMMIT_LEN])
{
	uint8_t buf[sizeof(ENV_LABEL_COMMIT) + ENV_KEY_LEN];
	int rc;

	memcpy(buf, ENV_LABEL_COMMIT, sizeof(ENV_LABEL_COMMIT));
	memcpy(buf + sizeof(ENV_LABEL_COMMIT), key, ENV_KEY_LEN);
	rc = sc_sha256(buf, sizeof(buf), out);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* AES-256-GCM, no associated data (the signature covers everything). */
static int
gcm_seal(const uint8_t key[ENV_KEY_LEN], const uint8_t nonce[ENV_NONCE_LEN],
    const uint8_t *pt, size_t ptlen, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx;
	int n, m, rc = -1;

	if (ptlen > ENV_MAX_BODY || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ENV_NONCE_LEN,
	    NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, out, &n, pt, (int)ptlen) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out + n, &m) != 1 ||
	    (size_t)(n + m) != ptlen ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ENV_TAG_LEN,
	    out + ptlen) != 1)
		goto out;
	rc = 0;
 out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Decrypt ct||tag into out (ctlen - 16 bytes); -1 on a bad tag. */
static int
gcm_open(const uint8_t key[ENV_KEY_LEN], const uint8_t nonce[ENV_NONCE_LEN],
    const uint8_t *ct, size_t ctlen, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t tag[ENV_TAG_LEN];
	size_t ptlen;
	int n, m, rc = -1;

	if (ctlen < ENV_TAG_LEN || ctlen > ENV_MAX_CT)
		return -1;
	ptlen = ctlen - ENV_TAG_LEN;
	memcpy(tag, ct + ptlen, ENV_TAG_LEN);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ENV_NONCE_LEN,
	    NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, out, &n, ct, (int)ptlen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ENV_TAG_LEN,
	    tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, out + n, &m) != 1 ||
	    (size_t)(n + m) != ptlen)
		goto out;
	rc = 0;
 out:
	if (rc != 0)
		explicit_bzero(out, ptlen);
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

/* Set OAEP with SHA-256, MGF1-SHA-256 and our label on an RSA context. */
static int
oaep_params(EVP_PKEY_CTX *pctx)
{
	unsigned char *label;

	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1)
		return -1;
	/* set0 takes ownership of the copy on success only. */
	if ((label = OPENSSL_memdup(ENV_LABEL_WRAP,
	    sizeof(ENV_LABEL_WRAP))) == NULL)
		return -1;
	if (EVP_PKEY_CTX_set0_rsa_oaep_label(pctx, label,
	    sizeof(ENV_LABEL_WRAP)) != 1) {
		OPENSSL_free(label);
		return -1;
	}
	return 0;
}

int
envelope_wrap_key(EVP_PKEY *pub, const uint8_t key[ENV_KEY_LEN],
    uint8_t *out, size_t *outlenp)
{
	EVP_PKEY_CTX *pctx;
	size_t n = *outlenp;
	int rc = -1;

	if (sc_rsa_key_ok(pub) == -1 || n < (size_t)EVP_PKEY_get_size(pub))
		return -1;
	if ((pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL)) == NULL)
		return -1;
	if (EVP_PKEY_encrypt_init(pctx) != 1 || oaep_params(pctx) == -1 ||
	    EVP_PKEY_encrypt(pctx, out, &n, key, ENV_KEY_LEN) != 1 ||
	    n != (size_t)EVP_PKEY_get_size(pub))
		goto out;
	*outlenp = n;
	rc = 0;
 out:
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

int
envelope_unwrap_key(EVP_PKEY *priv, const uint8_t *in, size_t inlen,
    uint8_t key[ENV_KEY_LEN])
{
	EVP_PKEY_CTX *pctx;
	uint8_t out[ENV_MAX_RSA];
	size_t n = sizeof(out);
	int rc = -1;

	/* The ciphertext is exactly the modulus size: no slack. */
	if (sc_rsa_key_ok(priv) == -1 ||
	    inlen != (size_t)EVP_PKEY_get_size(priv))
		return -1;
	if ((pctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL)) == NULL)
		return -1;
	if (EVP_PKEY_decrypt_init(pctx) != 1 || oaep_params(pctx) == -1 ||
	    EVP_PKEY_decrypt(pctx, out, &n, in, inlen) != 1 ||
	    n != ENV_KEY_LEN)
		goto out;
	memcpy(key, out, ENV_KEY_LEN);
	rc = 0;
 out:
	explicit_bzero(out, sizeof(out));
	EVP_PKEY_CTX_free(pctx);
	ERR_clear_error();
	return rc;
}

/* ---- Encoding ---- */

static int
put_name(struct wbuf *b, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		b->err = 1;
		return -1;
	}
	return wbuf_put_str16(b, s, n);
}

int
envelope_encode_tbs(struct wbuf *b, const struct env_header *h,
    const uint8_t nonce[ENV_NONCE_LEN], const uint8_t key[ENV_KEY_LEN],
    const uint8_t *body, size_t bodylen)
{
	uint8_t commit[ENV_COMMIT_LEN], *ct;
	size_t i;

	if (h->certlen == 0 || h->certlen > ENV_MAX_CERT || h->nrcpt == 0 ||
	    h->nrcpt > ENV_MAX_RECIPIENTS || bodylen > ENV_MAX_BODY) {
		b->err = 1;
		return -1;
	}
	if (envelope_key_commit(key, commit) == -1)
		return -1;
	wbuf_put_u8(b, ENV_MAGIC0);
	wbuf_put_u8(b, ENV_MAGIC1);
	wbuf_put_u8(b, ENV_VERSION);
	put_name(b, h->sender, ENV_MAX_NAME);
	wbuf_put_str16(b, h->cert, h->certlen);
	put_name(b, h->room, ENV_MAX_ROOM);
	wbuf_put_u64(b, h->ts);
	wbuf_put_u64(b, h->counter);
	wbuf_put_u8(b, (uint8_t)h->nrcpt);
	for (i = 0; i < h->nrcpt; i++) {
		if (h->rcpt[i].wrappedlen > ENV_MAX_RSA) {
			b->err = 1;
			return -1;
		}
		put_name(b, h->rcpt[i].name, ENV_MAX_NAME);
		wbuf_put(b, h->rcpt[i].fp, ENV_FP_LEN);
		wbuf_put_str16(b, h->rcpt[i].wrapped, h->rcpt[i].wrappedlen);
	}
	wbuf_put(b, nonce, ENV_NONCE_LEN);
	wbuf_put(b, commit, ENV_COMMIT_LEN);
	wbuf_put_u16(b, (uint16_t)(bodylen + ENV_TAG_LEN));
	if ((ct = wbuf_reserve(b, bodylen + ENV_TAG_LEN)) == NULL)
		return -1;
	if (gcm_seal(key, nonce, body, bodylen, ct) == -1) {
		b->err = 1;
		return -1;
	}
	return b->err ? -1 : 0;
}

int
envelope_statement(struct wbuf *b, const uint8_t *tbs, size_t tbslen)
{
	wbuf_put(b, ENV_LABEL_SIG, sizeof(ENV_LABEL_SIG));
	return wbuf_put(b, tbs, tbslen);
}

/* ---- Parsing ---- */

/* A u16-prefixed field; a length over max is TOO_LARGE (as proto.c). */
static const uint8_t *
get_str16(struct cursor *c, size_t *lenp, size_t max, int *toolarge)
{
	size_t n;

	if (!c->err && c->left >= 2) {
		n = (size_t)c->p[0] << 8 | c->p[1];
		if (n > max)
			*toolarge = 1;
	}
	return cur_str16(c, lenp, max);
}

int
envelope_peek(const uint8_t *env, size_t len, struct env_header *h,
    char *reason, size_t reasonlen)
{
	struct cursor c;
	const uint8_t *sender, *room, *name, *wrapped;
	size_t senderlen, roomlen, namelen, wrappedlen, i, j, nrcpt;
	uint8_t magic[2], version;
	int big = 0;

	memset(h, 0, sizeof(*h));
	if (len > ENV_MAX_LEN)
		return FAIL(ENV_E_TOO_LARGE, "envelope of %zu bytes (at most "
		    "%d)", len, ENV_MAX_LEN);
	cur_init(&c, env, len);
	cur_bytes(&c, magic, 2);
	version = cur_u8(&c);
	if (c.err || magic[0] != ENV_MAGIC0 || magic[1] != ENV_MAGIC1)
		return FAIL(ENV_E_PROTOCOL, "not an envelope");
	if (version != ENV_VERSION)
		return FAIL(ENV_E_VERSION, "envelope version %u (only %u is "
		    "known)", version, ENV_VERSION);
	sender = get_str16(&c, &senderlen, ENV_MAX_NAME, &big);
	h->cert = get_str16(&c, &h->certlen, ENV_MAX_CERT, &big);
	room = get_str16(&c, &roomlen, ENV_MAX_ROOM, &big);
	h->ts = cur_u64(&c);
	h->counter = cur_u64(&c);
	nrcpt = cur_u8(&c);
	/* Checked before the loop: the table has room for the cap only. */
	if (!c.err && nrcpt > ENV_MAX_RECIPIENTS)
		return FAIL(ENV_E_TOO_LARGE, "%zu recipients (at most %d)",
		    nrcpt, ENV_MAX_RECIPIENTS);
	for (i = 0; i < nrcpt && !c.err; i++) {
		name = get_str16(&c, &namelen, ENV_MAX_NAME, &big);
		cur_bytes(&c, h->rcpt[i].fp, ENV_FP_LEN);
		wrapped = get_str16(&c, &wrappedlen, ENV_MAX_RSA, &big);
		if (c.err)
			break;
		if (!sc_valid_username(name, namelen))
			return FAIL(ENV_E_PROTOCOL, "recipient %zu: bad name",
			    i + 1);
		copy_name(h->rcpt[i].name, sizeof(h->rcpt[i].name), name,
		    namelen);
		h->rcpt[i].wrapped = wrapped;
		h->rcpt[i].wrappedlen = wrappedlen;
	}
	h->nrcpt = nrcpt;
	cur_bytes(&c, h->nonce, ENV_NONCE_LEN);
	cur_bytes(&c, h->commit, ENV_COMMIT_LEN);
	h->ct = get_str16(&c, &h->ctlen, ENV_MAX_CT, &big);
	h->sig = get_str16(&c, &h->siglen, ENV_MAX_RSA, &big);
	if (cur_done(&c) != 0) {
		if (big)
			return FAIL(ENV_E_TOO_LARGE, "envelope field over its "
			    "limit");
		return FAIL(ENV_E_PROTOCOL, "envelope truncated or with "
		    "trailing bytes");
	}

	/* Field rules (MESSAGING.md §2). */
	if (!sc_valid_username(sender, senderlen))
		return FAIL(ENV_E_PROTOCOL, "bad sender name");
	copy_name(h->sender, sizeof(h->sender), sender, senderlen);
	if (h->certlen == 0)
		return FAIL(ENV_E_PROTOCOL, "no sender certificate");
	if (roomlen > 0) {
		copy_name(h->room, sizeof(h->room), room, roomlen);
		if (memchr(room, '\0', roomlen) != NULL ||
		    !envelope_valid_room(h->room))
			return FAIL(ENV_E_PROTOCOL, "bad room name");
	}
	if (h->ts > INT64_MAX)
		return FAIL(ENV_E_PROTOCOL, "timestamp out of range");
	if (h->counter == 0 || h->counter > ENV_MAX_COUNTER)
		return FAIL(ENV_E_PROTOCOL, "counter out of range");
	if (nrcpt == 0)
		return FAIL(ENV_E_PROTOCOL, "no recipient");
	for (i = 0; i < nrcpt; i++) {
		if (h->rcpt[i].wrappedlen < ENV_MIN_RSA)
			return FAIL(ENV_E_PROTOCOL, "recipient %zu: wrapped "
			    "key too short", i + 1);
		/* Distinct certificates: one entry per certificate. */
		for (j = 0; j < i; j++)
			if (memcmp(h->rcpt[i].fp, h->rcpt[j].fp,
			    ENV_FP_LEN) == 0)
				return FAIL(ENV_E_PROTOCOL, "recipient %zu: "
				    "certificate listed twice", i + 1);
	}
	if (header_conv(h) == -1)
		return FAIL(ENV_E_PROTOCOL, "direct message to more than one "
		    "user");
	if (h->ctlen < ENV_MIN_CT)
		return FAIL(ENV_E_PROTOCOL, "ciphertext too short");
	if (h->siglen < ENV_MIN_RSA)
		return FAIL(ENV_E_PROTOCOL, "signature too short");
	h->tbs = env;
	h->tbslen = len - 2 - h->siglen;
	if (sc_sha256(h->cert, h->certlen, h->sender_fp) == -1)
		return FAIL(ENV_E_INTERNAL, "hash failed");
	return ENV_OK;
}

/* ---- Verification ---- */

int
envelope_verify(const struct env_header *h, const struct pki_trust *trust,
    time_t now, char *reason, size_t reasonlen)
{
	struct wbuf stmt;
	X509 *cert;
	EVP_PKEY *pub;
	enum pki_verdict v;
	char why[256], cn[ENV_MAX_NAME + 2];
	int rc;

	if ((cert = pki_cert_from_der(h->cert, h->certlen, why,
	    sizeof(why))) == NULL)
		return FAIL(ENV_E_BAD_CERT, "sender certificate: %s", why);
	v = pki_verify(trust, cert, PKI_PURPOSE_CLIENT, NULL, now, why,
	    sizeof(why));
	if (v != PKI_OK) {
		X509_free(cert);
		return FAIL(ENV_E_BAD_CERT, "sender certificate rejected: %s",
		    why);
	}
	if (pki_cert_cn(cert, cn, sizeof(cn)) == -1 ||
	    strcmp(cn, h->sender) != 0) {
		X509_free(cert);
		return FAIL(ENV_E_BAD_CERT, "sender certificate is not "
		    "\"%s\"'s (its CN differs)", h->sender);
	}
	if ((pub = X509_get0_pubkey(cert)) == NULL ||
	    sc_rsa_key_ok(pub) == -1) {
		X509_free(cert);
		ERR_clear_error();
		return FAIL(ENV_E_BAD_CERT, "sender certificate: key must be "
		    "RSA of 2048..4096 bits");
	}
	wbuf_init(&stmt, ENV_STMT_MAX);
	if (envelope_statement(&stmt, h->tbs, h->tbslen) == -1) {
		wbuf_free(&stmt);
		X509_free(cert);
		return FAIL(ENV_E_INTERNAL, "out of memory");
	}
	rc = sc_rsa_verify(pub, stmt.data, stmt.len, h->sig, h->siglen);
	wbuf_free(&stmt);
	X509_free(cert);
	ERR_clear_error();
	if (rc != 0)
		return FAIL(ENV_E_SIG_FAIL, "bad signature from \"%s\"",
		    h->sender);
	return ENV_OK;
}

/* Key commitment, decryption and body rules, once the key is known. */
static int
open_body(struct env_opened *o, const uint8_t key[ENV_KEY_LEN],
    char *reason, size_t reasonlen)
{
	struct env_header *h = &o->hdr;
	uint8_t commit[ENV_COMMIT_LEN];

	if (envelope_key_commit(key, commit) == -1)
		return FAIL(ENV_E_INTERNAL, "hash failed");
	if (CRYPTO_memcmp(commit, h->commit, ENV_COMMIT_LEN) != 0)
		return FAIL(ENV_E_SIG_FAIL, "content key does not match its "
		    "commitment");
	if (gcm_open(key, h->nonce, h->ct, h->ctlen, o->body) == -1)
		return FAIL(ENV_E_SIG_FAIL, "cannot decrypt the body");
	o->bodylen = h->ctlen - ENV_TAG_LEN;
	o->body[o->bodylen] = '\0';
	if (!sc_valid_text(o->body, o->bodylen))
		return FAIL(ENV_E_BAD_INPUT, "body is not acceptable text");
	memcpy(o->key, key, ENV_KEY_LEN);
	return ENV_OK;
}

void
envelope_opened_clear(struct env_opened *o)
{
	explicit_bzero(o, sizeof(*o));
}

int
envelope_open(const uint8_t *env, size_t len, const struct env_identity *me,
    const struct pki_trust *trust, time_t now, struct env_replay *replay,
    struct env_opened *o, char *reason, size_t reasonlen)
{
	struct env_header *h = &o->hdr;
	uint8_t myfp[ENV_FP_LEN], key[ENV_KEY_LEN];
	size_t i;
	int rc;

	memset(o, 0, sizeof(*o));
	if ((rc = envelope_peek(env, len, h, reason, reasonlen)) != 0 ||
	    (rc = envelope_verify(h, trust, now, reason, reasonlen)) != 0)
		goto fail;
	if (pki_fingerprint(me->cert, myfp) == -1) {
		rc = FAIL(ENV_E_INTERNAL, "cannot hash my certificate");
		goto fail;
	}
	for (i = 0; i < h->nrcpt; i++)
		if (memcmp(h->rcpt[i].fp, myfp, ENV_FP_LEN) == 0)
			break;
	if (i == h->nrcpt || me->name == NULL ||
	    strcmp(h->rcpt[i].name, me->name) != 0) {
		rc = FAIL(ENV_E_NOT_FOR_ME, "envelope is not addressed to "
		    "this certificate of \"%s\"", me->name ? me->name : "?");
		goto fail;
	}
	o->me = i;
	if (replay != NULL && (rc = envelope_replay_check(replay, h->sender,
	    h->conv, h->counter)) != 0) {
		rc = FAIL(ENV_E_REPLAY, "counter %llu from \"%s\" in \"%s\" is "
		    "not above the last one (%llu): replayed or reordered",
		    (unsigned long long)h->counter, h->sender, h->conv,
		    (unsigned long long)envelope_replay_last(replay,
		    h->sender, h->conv));
		goto fail;
	}
	/* A wrong wrapping can only come from a signed, hostile sender. */
	if (envelope_unwrap_key(me->key, h->rcpt[i].wrapped,
	    h->rcpt[i].wrappedlen, key) == -1) {
		rc = FAIL(ENV_E_SIG_FAIL, "cannot unwrap the content key");
		goto fail;
	}
	rc = open_body(o, key, reason, reasonlen);
	explicit_bzero(key, sizeof(key));
	if (rc != 0)
		goto fail;
	if (replay != NULL && envelope_replay_update(replay, h->sender,
	    h->conv, h->counter) == -1) {
		rc = FAIL(ENV_E_INTERNAL, "replay table full");
		goto fail;
	}
	return ENV_OK;
 fail:
	envelope_opened_clear(o);
	return rc;
}

int
envelope_open_disclosed(const uint8_t *env, size_t len,
    const uint8_t key[ENV_KEY_LEN], const struct pki_trust *trust,
    time_t now, struct env_opened *o, char *reason, size_t reasonlen)
{
	int rc;

	memset(o, 0, sizeof(*o));
	if ((rc = envelope_peek(env, len, &o->hdr, reason, reasonlen)) != 0 ||
	    (rc = envelope_verify(&o->hdr, trust, now, reason,
	    reasonlen)) != 0 ||
	    (rc = open_body(o, key, reason, reasonlen)) != 0) {
		envelope_opened_clear(o);
		return rc;
	}
	o->me = o->hdr.nrcpt;		/* not a recipient */
	return ENV_OK;
}

/* ---- Sealing ---- */

/*
 * Check a certificate for use under name: chains to trust with
 * clientAuth, CN equal to name, RSA key of an acceptable size.
 */
static int
check_cert(X509 *cert, const char *name, const char *role,
    const struct pki_trust *trust, time_t now, char *reason,
    size_t reasonlen)
{
	enum pki_verdict v;
	char why[256], cn[ENV_MAX_NAME + 2];

	if (cert == NULL)
		return FAIL(ENV_E_BAD_CERT, "%s \"%s\": no certificate", role,
		    name);
	v = pki_verify(trust, cert, PKI_PURPOSE_CLIENT, NULL, now, why,
	    sizeof(why));
	if (v != PKI_OK)
		return FAIL(ENV_E_BAD_CERT, "%s \"%s\": certificate rejected: "
		    "%s", role, name, why);
	if (pki_cert_cn(cert, cn, sizeof(cn)) == -1 || strcmp(cn, name) != 0)
		return FAIL(ENV_E_BAD_CERT, "%s \"%s\": certificate CN differs",
		    role, name);
	if (sc_rsa_key_ok(X509_get0_pubkey(cert)) == -1) {
		ERR_clear_error();
		return FAIL(ENV_E_BAD_CERT, "%s \"%s\": key must be RSA of "
		    "2048..4096 bits", role, name);
	}
	return ENV_OK;
}

int
envelope_seal(struct wbuf *out, const struct env_identity *me,
    const struct env_rcpt_in *rcpts, size_t nrcpt, const char *room,
    uint64_t ts, uint64_t counter, const uint8_t *body, size_t bodylen,
    const struct pki_trust *trust, time_t now, char *reason, size_t reasonlen)
{
	struct env_header *h = NULL;
	struct wbuf stmt;
	uint8_t key[ENV_KEY_LEN], nonce[ENV_NONCE_LEN], *wrapped = NULL;
	uint8_t certder[ENV_MAX_CERT], sig[ENV_MAX_RSA], *sp;
	size_t i, j, n, siglen = sizeof(sig), start = out->len;
	int rc;

	wbuf_init(&stmt, ENV_STMT_MAX);
	if (room == NULL)
		room = "";
	if (bodylen > ENV_MAX_BODY)
		return FAIL(ENV_E_TOO_LARGE, "message of %zu bytes (at most "
		    "%d)", bodylen, ENV_MAX_BODY);
	if (body == NULL || !sc_valid_text(body, bodylen))
		return FAIL(ENV_E_BAD_INPUT, "message is not acceptable text");
	if (nrcpt > ENV_MAX_RECIPIENTS)
		return FAIL(ENV_E_TOO_LARGE, "%zu recipients (at most %d)",
		    nrcpt, ENV_MAX_RECIPIENTS);
	if (nrcpt == 0 || rcpts == NULL)
		return FAIL(ENV_E_BAD_INPUT, "no recipient");
	if (me == NULL || !valid_name(me->name) || me->key == NULL)
		return FAIL(ENV_E_BAD_INPUT, "bad sender");
	if (room[0] != '\0' && !envelope_valid_room(room))
		return FAIL(ENV_E_BAD_INPUT, "bad room name");
	if (counter == 0 || counter > ENV_MAX_COUNTER || ts > INT64_MAX)
		return FAIL(ENV_E_BAD_INPUT, "counter or time out of range");
	if ((rc = check_cert(me->cert, me->name, "sender", trust, now,
	    reason, reasonlen)) != 0)
		return rc;
	if (pki_key_matches_cert(me->key, me->cert) != 1)
		return FAIL(ENV_E_BAD_CERT, "my key does not match my "
		    "certificate");
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (wrapped = calloc(nrcpt, ENV_MAX_RSA)) == NULL) {
		rc = FAIL(ENV_E_INTERNAL, "out of memory");
		goto out;
	}
	strlcpy(h->sender, me->name, sizeof(h->sender));
	strlcpy(h->room, room, sizeof(h->room));
	if (pki_cert_to_der(me->cert, certder, sizeof(certder),
	    &h->certlen) == -1) {
		rc = FAIL(ENV_E_BAD_CERT, "my certificate is too large");
		goto out;
	}
	h->cert = certder;
	h->ts = ts;
	h->counter = counter;
	h->nrcpt = nrcpt;
	for (i = 0; i < nrcpt; i++) {
		if (!valid_name(rcpts[i].name)) {
			rc = FAIL(ENV_E_BAD_INPUT, "recipient %zu: bad name",
			    i + 1);
			goto out;
		}
		if ((rc = check_cert(rcpts[i].cert, rcpts[i].name,
		    "recipient", trust, now, reason, reasonlen)) != 0)
			goto out;
		strlcpy(h->rcpt[i].name, rcpts[i].name,
		    sizeof(h->rcpt[i].name));
		if (pki_fingerprint(rcpts[i].cert, h->rcpt[i].fp) == -1) {
			rc = FAIL(ENV_E_INTERNAL, "hash failed");
			goto out;
		}
		for (j = 0; j < i; j++)
			if (memcmp(h->rcpt[i].fp, h->rcpt[j].fp,
			    ENV_FP_LEN) == 0) {
				rc = FAIL(ENV_E_BAD_INPUT, "recipient %zu: "
				    "certificate listed twice", i + 1);
				goto out;
			}
	}
	if (header_conv(h) == -1) {
		rc = FAIL(ENV_E_BAD_INPUT, "a direct message goes to one user");
		goto out;
	}

	/* A fresh content key per envelope: the nonce is never reused. */
	if (RAND_priv_bytes(key, sizeof(key)) != 1 ||
	    RAND_bytes(nonce, sizeof(nonce)) != 1) {
		rc = FAIL(ENV_E_INTERNAL, "no randomness");
		goto out;
	}
	for (i = 0; i < nrcpt; i++) {
		n = ENV_MAX_RSA;
		if (envelope_wrap_key(X509_get0_pubkey(rcpts[i].cert), key,
		    wrapped + i * ENV_MAX_RSA, &n) == -1) {
			rc = FAIL(ENV_E_INTERNAL, "cannot wrap the key for "
			    "\"%s\"", rcpts[i].name);
			goto out;
		}
		h->rcpt[i].wrapped = wrapped + i * ENV_MAX_RSA;
		h->rcpt[i].wrappedlen = n;
	}
	if (envelope_encode_tbs(out, h, nonce, key, body, bodylen) == -1 ||
	    envelope_statement(&stmt, out->data + start,
	    out->len - start) == -1) {
		rc = FAIL(ENV_E_INTERNAL, "cannot encode the envelope");
		goto out;
	}
	if (sc_rsa_sign(me->key, stmt.data, stmt.len, sig, &siglen) == -1) {
		rc = FAIL(ENV_E_INTERNAL, "cannot sign");
		goto out;
	}
	if (wbuf_put_str16(out, sig, siglen) == -1) {
		rc = FAIL(ENV_E_INTERNAL, "envelope does not fit");
		goto out;
	}
	rc = ENV_OK;
 out:
	explicit_bzero(key, sizeof(key));
	if (rc != ENV_OK && out->data != NULL && out->len > start) {
		/* Leave out as it was (the body ciphertext is not secret). */
		sp = out->data + start;
		explicit_bzero(sp, out->len - start);
		out->len = start;
		out->err = 0;
	}
	wbuf_free(&stmt);
	free(wrapped);
	free(h);
	ERR_clear_error();
	return rc;
}

/* ---- Replay state ---- */

void
envelope_replay_init(struct env_replay *r)
{
	memset(r, 0, sizeof(*r));
}

void
envelope_replay_free(struct env_replay *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static struct env_replay_entry *
replay_find(const struct env_replay *r, const char *sender, const char *conv)
{
	size_t i;

	if (sender == NULL || conv == NULL)
		return NULL;
	for (i = 0; i < r->n; i++)
		if (strcmp(r->v[i].sender, sender) == 0 &&
		    strcmp(r->v[i].conv, conv) == 0)
			return &r->v[i];
	return NULL;
}

uint64_t
envelope_replay_last(const struct env_replay *r, const char *sender,
    const char *conv)
{
	struct env_replay_entry *e;

	return (e = replay_find(r, sender, conv)) != NULL ? e->last : 0;
}

int
envelope_replay_check(const struct env_replay *r, const char *sender,
    const char *conv, uint64_t counter)
{
	return counter > envelope_replay_last(r, sender, conv) ?
	    ENV_OK : ENV_E_REPLAY;
}

int
envelope_replay_update(struct env_replay *r, const char *sender,
    const char *conv, uint64_t counter)
{
	struct env_replay_entry *e, *nv;
	size_t ncap;

	if (!valid_name(sender) || !envelope_valid_conv(conv) ||
	    counter == 0 || counter > ENV_MAX_COUNTER)
		return -1;
	if ((e = replay_find(r, sender, conv)) != NULL) {
		if (counter <= e->last)
			return -1;
		e->last = counter;
		return 0;
	}
	if (r->n >= ENV_REPLAY_MAX)
		return -1;
	if (r->n == r->cap) {
		ncap = r->cap ? r->cap * 2 : 16;
		if (ncap > ENV_REPLAY_MAX)
			ncap = ENV_REPLAY_MAX;
		if ((nv = reallocarray(r->v, ncap, sizeof(*nv))) == NULL)
			return -1;
		r->v = nv;
		r->cap = ncap;
	}
	e = &r->v[r->n++];
	memset(e, 0, sizeof(*e));
	strlcpy(e->sender, sender, sizeof(e->sender));
	strlcpy(e->conv, conv, sizeof(e->conv));
	e->last = counter;
	return 0;
}

int
envelope_replay_next(const struct env_replay *r, const char *me,
    const char *conv, uint64_t nowms, uint64_t *counterp)
{
	uint64_t last = envelope_replay_last(r, me, conv), c;

	if (last >= ENV_MAX_COUNTER)
		return -1;
	c = last + 1;
	if (nowms > c)
		c = nowms;
	if (c > ENV_MAX_COUNTER)
		return -1;
	*counterp = c;
	return 0;
}

/* Decimal 1..ENV_MAX_COUNTER without leading zeros, exactly n digits. */
static int
parse_counter(const char *s, size_t n, uint64_t *vp)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 19 || s[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (ENV_MAX_COUNTER - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*vp = v;
	return 0;
}

int
envelope_replay_load(struct env_replay *r, const char *path, char *reason,
    size_t reasonlen)
{
	char *data, *line, *nl, *bar1, *bar2, sender[ENV_MAX_NAME + 1];
	char conv[ENV_MAX_CONV + 1];
	size_t len, lineno = 0, n;
	uint64_t counter;
	int rc = -1;

	if (r->n != 0)
		return FAIL(-1, "replay table not empty");
	if ((data = (char *)read_file_bounded(path, ENV_REPLAY_FILE_MAX,
	    &len)) == NULL) {
		if (errno == ENOENT)
			return 0;
		return FAIL(-1, "%s: %s", path, strerror(errno));
	}
	if (memchr(data, '\0', len) != NULL) {
		setreason(reason, reasonlen, "%s: NUL byte", path);
		goto out;
	}
	for (line = data; line < data + len; line = nl + 1) {
		lineno++;
		if ((nl = memchr(line, '\n', (size_t)(data + len - line))) ==
		    NULL) {
			setreason(reason, reasonlen, "%s:%zu: no newline at "
			    "the end", path, lineno);
			goto out;
		}
		*nl = '\0';
		if ((bar1 = strchr(line, '|')) == NULL ||
		    (bar2 = strchr(bar1 + 1, '|')) == NULL ||
		    strchr(bar2 + 1, '|') != NULL ||
		    (n = (size_t)(bar1 - line)) > ENV_MAX_NAME ||
		    (size_t)(bar2 - bar1 - 1) > ENV_MAX_CONV) {
			setreason(reason, reasonlen, "%s:%zu: not "
			    "sender|conversation|counter", path, lineno);
			goto out;
		}
		memcpy(sender, line, n);
		sender[n] = '\0';
		n = (size_t)(bar2 - bar1 - 1);
		memcpy(conv, bar1 + 1, n);
		conv[n] = '\0';
		if (!valid_name(sender) || !envelope_valid_conv(conv) ||
		    parse_counter(bar2 + 1, strlen(bar2 + 1), &counter) == -1) {
			setreason(reason, reasonlen, "%s:%zu: bad sender, "
			    "conversation or counter", path, lineno);
			goto out;
		}
		if (replay_find(r, sender, conv) != NULL) {
			setreason(reason, reasonlen, "%s:%zu: duplicate entry",
			    path, lineno);
			goto out;
		}
		if (envelope_replay_update(r, sender, conv, counter) == -1) {
			setreason(reason, reasonlen, "%s:%zu: too many "
			    "entries", path, lineno);
			goto out;
		}
	}
	rc = 0;
 out:
	if (rc != 0)
		envelope_replay_free(r);
	freezero(data, len + 1);
	return rc;
}

int
envelope_replay_save(const struct env_replay *r, const char *path)
{
	struct wbuf b;
	char line[ENV_REPLAY_LINE_MAX + 1];
	size_t i;
	int n, rc = -1;

	wbuf_init(&b, ENV_REPLAY_FILE_MAX);
	for (i = 0; i < r->n; i++) {
		n = snprintf(line, sizeof(line), "%s|%s|%llu\n",
		    r->v[i].sender, r->v[i].conv,
		    (unsigned long long)r->v[i].last);
		if (n < 0 || (size_t)n >= sizeof(line) ||
		    wbuf_put(&b, line, (size_t)n) == -1)
			goto out;
	}
	/* An empty table is an empty file (b.data is NULL then). */
	rc = write_file_new(path, b.data != NULL ? (void *)b.data : (void *)"",
	    b.len, 0600, 1);
 out:
	wbuf_free(&b);
	return rc;
}
