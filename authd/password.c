/*
 * password.c: scrypt password hashes and the legacy SHA-256 rows
 * (see password.h).
 */
#include "password.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "log.h"

const char *
pw_kdf_name(enum pw_kdf k)
{
	switch (k) {
	case PW_KDF_SCRYPT:
		return PW_KDF_NAME_SCRYPT;
	case PW_KDF_LEGACY_SHA256:
		return PW_KDF_NAME_LEGACY;
	default:
		return "none";
	}
}

enum pw_kdf
pw_kdf_from_name(const char *s)
{
	if (strcmp(s, PW_KDF_NAME_SCRYPT) == 0)
		return PW_KDF_SCRYPT;
	if (strcmp(s, PW_KDF_NAME_LEGACY) == 0)
		return PW_KDF_LEGACY_SHA256;
	return PW_KDF_NONE;
}

void
pw_params_default(struct pw_params *pp)
{
	pp->N = 1ULL << PW_DEFAULT_LOG2N;
	pp->r = PW_DEFAULT_R;
	pp->p = PW_DEFAULT_P;
}

int
pw_params_check(const struct pw_params *pp)
{
	if (pp->N < (1ULL << PW_MIN_LOG2N) || pp->N > (1ULL << PW_MAX_LOG2N) ||
	    (pp->N & (pp->N - 1)) != 0)
		return -1;
	if (pp->r < 1 || pp->r > PW_MAX_R || pp->p < 1 || pp->p > PW_MAX_P)
		return -1;
	/* Bounded operands: N <= 2^24, r <= 32, so no overflow here. */
	if (128ULL * pp->r * pp->N > PW_MAX_MEM)
		return -1;
	return 0;
}

int
pw_params_set(struct pw_params *pp, unsigned int log2n, uint32_t r,
    uint32_t p)
{
	struct pw_params t;

	if (log2n < PW_MIN_LOG2N || log2n > PW_MAX_LOG2N)
		return -1;
	t.N = 1ULL << log2n;
	t.r = r;
	t.p = p;
	if (pw_params_check(&t) == -1)
		return -1;
	*pp = t;
	return 0;
}

/* scrypt with an explicit memory limit: the default (32 MiB) is below
 * what N=2^17, r=8 needs (128 MiB). */
static int
scrypt(const struct pw_params *pp, const void *pass, size_t passlen,
    const uint8_t *salt, size_t saltlen, uint8_t out[PW_HASH_LEN])
{
	uint64_t maxmem;

	if (pw_params_check(pp) == -1)
		return -1;
	/* What EVP_PBE_scrypt computes (B and V), plus slack. */
	maxmem = 128ULL * pp->r * (pp->N + 2) + 128ULL * pp->r * pp->p +
	    65536;
	if (EVP_PBE_scrypt(pass, passlen, salt, saltlen, pp->N, pp->r, pp->p,
	    maxmem, out, PW_HASH_LEN) != 1) {
		log_sslx("EVP_PBE_scrypt");
		return -1;
	}
	return 0;
}

int
pw_hash(const struct pw_params *pp, const void *pass, size_t passlen,
    struct pw_record *out)
{
	memset(out, 0, sizeof(*out));
	if (RAND_bytes(out->salt, PW_SALT_LEN) != 1) {
		log_sslx("RAND_bytes");
		return -1;
	}
	out->salt_len = PW_SALT_LEN;
	if (scrypt(pp, pass, passlen, out->salt, out->salt_len,
	    out->hash) == -1) {
		pw_record_clear(out);
		return -1;
	}
	out->hash_len = PW_HASH_LEN;
	out->kdf = PW_KDF_SCRYPT;
	out->params = *pp;
	return 0;
}

static int
legacy_sha256(const struct pw_record *rec, const void *pass, size_t passlen,
    uint8_t out[PW_HASH_LEN])
{
	EVP_MD_CTX *ctx;
	unsigned int n = 0;
	int rv = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, rec->salt, rec->salt_len) == 1 &&
	    EVP_DigestUpdate(ctx, pass, passlen) == 1 &&
	    EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == PW_HASH_LEN)
		rv = 0;
	else
		log_sslx("SHA-256");
	EVP_MD_CTX_free(ctx);
	return rv;
}

int
pw_verify(const struct pw_record *rec, const void *pass, size_t passlen)
{
	uint8_t h[PW_HASH_LEN];
	int rv = -1;

	if (rec->hash_len != PW_HASH_LEN || rec->salt_len > PW_SALT_MAX)
		return -1;
	switch (rec->kdf) {
	case PW_KDF_SCRYPT:
		if (rec->salt_len == 0 ||
		    scrypt(&rec->params, pass, passlen, rec->salt,
		    rec->salt_len, h) == -1)
			goto done;
		break;
	case PW_KDF_LEGACY_SHA256:
		if (legacy_sha256(rec, pass, passlen, h) == -1)
			goto done;
		break;
	default:
		goto done;
	}
	rv = CRYPTO_memcmp(h, rec->hash, PW_HASH_LEN) == 0 ? 1 : 0;
 done:
	OPENSSL_cleanse(h, sizeof(h));
	return rv;
}

int
pw_needs_upgrade(const struct pw_record *rec, const struct pw_params *cur)
{
	if (rec->kdf != PW_KDF_SCRYPT)
		return 1;
	/* Upgrade only towards more work: a node configured with lower
	 * parameters (tests) must not weaken hashes made elsewhere. */
	return (rec->params.N * rec->params.r * rec->params.p <
	    cur->N * cur->r * cur->p) ? 1 : 0;
}

int
pw_check(const struct pw_record *rec, const struct pw_params *cur,
    const void *pass, size_t passlen, struct pw_record *up, int *upgraded)
{
	/* A fixed dummy: its hash matches no password anybody can know
	 * (it is not the output of scrypt), and only its cost matters. */
	static const struct pw_record dummy_template = {
		.kdf = PW_KDF_SCRYPT,
		.salt = "securechat-dummy",
		.salt_len = PW_SALT_LEN,
		.hash_len = PW_HASH_LEN,
	};
	struct pw_record dummy;
	int ok;

	*upgraded = 0;
	memset(up, 0, sizeof(*up));
	if (rec == NULL) {
		dummy = dummy_template;
		dummy.params = *cur;
		(void)pw_verify(&dummy, pass, passlen);
		return 0;
	}
	if (rec->kdf == PW_KDF_LEGACY_SHA256) {
		/* Pay the scrypt cost first, whatever the outcome. */
		if (pw_hash(cur, pass, passlen, up) == -1)
			return -1;
		if ((ok = pw_verify(rec, pass, passlen)) == 1)
			*upgraded = 1;
		else
			pw_record_clear(up);
		return ok;
	}
	if ((ok = pw_verify(rec, pass, passlen)) != 1)
		return ok;
	if (pw_needs_upgrade(rec, cur)) {
		if (pw_hash(cur, pass, passlen, up) == -1)
			return 1;	/* the login is still good */
		*upgraded = 1;
	}
	return 1;
}

void
pw_record_clear(struct pw_record *rec)
{
	explicit_bzero(rec, sizeof(*rec));
}
