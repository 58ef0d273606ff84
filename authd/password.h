/*
 * password.h: password hashing and verification for authd.
 *
 * New hashes are scrypt (EVP_PBE_scrypt) with a 16-byte random salt and
 * a 32-byte output; N, r and p are stored with every hash, so a row is
 * always verified with the parameters it was made with, and a change of
 * the defaults only affects new hashes (and upgrades, see pw_check).
 *
 * Rows imported from the seed are "legacy-sha256": SHA-256(salt ||
 * password) where salt is the raw bytes stored in pw_salt (sc-admin
 * user import-legacy decodes the seed's hex column).  They are accepted
 * and replaced by an scrypt hash after the next successful login.
 */
#ifndef SC_PASSWORD_H
#define SC_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

#define PW_SALT_LEN	16	/* new scrypt salts */
#define PW_HASH_LEN	32	/* scrypt output and SHA-256 */
#define PW_SALT_MAX	64	/* column sizes: VARBINARY(64) */
#define PW_HASH_MAX	64

/* OWASP's scrypt recommendation; lowered only by authd's -N/-r/-p. */
#define PW_DEFAULT_LOG2N	17
#define PW_DEFAULT_R		8
#define PW_DEFAULT_P		1
/* Bounds on accepted parameters, for configuration and stored rows. */
#define PW_MIN_LOG2N		10
#define PW_MAX_LOG2N		24
#define PW_MAX_R		32
#define PW_MAX_P		16
#define PW_MAX_MEM		(1024ULL * 1024 * 1024)	/* 128 * r * N */

/* Values of the pw_kdf column. */
#define PW_KDF_NAME_SCRYPT	"scrypt"
#define PW_KDF_NAME_LEGACY	"legacy-sha256"

enum pw_kdf {
	PW_KDF_NONE = 0,
	PW_KDF_SCRYPT,
	PW_KDF_LEGACY_SHA256,
};

struct pw_params {
	uint64_t	N;	/* a power of two */
	uint32_t	r;
	uint32_t	p;
};

/* One stored password: the pw_* and kdf_* columns of a users row. */
struct pw_record {
	enum pw_kdf		kdf;
	struct pw_params	params;	/* scrypt only; zero for legacy */
	uint8_t			salt[PW_SALT_MAX];
	size_t			salt_len;
	uint8_t			hash[PW_HASH_MAX];
	size_t			hash_len;
};

const char *pw_kdf_name(enum pw_kdf);
/* PW_KDF_NONE for an unknown name. */
enum pw_kdf pw_kdf_from_name(const char *);
/* Defaults, or N = 2^log2n with the given r, p; -1 if out of bounds. */
void	pw_params_default(struct pw_params *);
int	pw_params_set(struct pw_params *, unsigned int log2n, uint32_t r,
	    uint32_t p);
/* 0 when N is a power of two and N, r, p are within the bounds above. */
int	pw_params_check(const struct pw_params *);

/* A new scrypt record for pass with a fresh random salt.  0 or -1. */
int	pw_hash(const struct pw_params *, const void *pass, size_t passlen,
	    struct pw_record *out);
/*
 * Check pass against rec with rec's own parameters.  Returns 1 on a
 * match, 0 on a mismatch, -1 when the record itself is unusable (unknown
 * kdf, parameters out of bounds, bad lengths) or libcrypto failed.
 */
int	pw_verify(const struct pw_record *rec, const void *pass,
	    size_t passlen);
/* 1 when rec should be re-hashed with cur (legacy, or cheaper than cur). */
int	pw_needs_upgrade(const struct pw_record *rec,
	    const struct pw_params *cur);
/*
 * The login check.  rec is the user's record, or NULL for an unknown
 * user: then the same scrypt work with cur is done against a dummy
 * record, so response time does not say whether the user exists.  A
 * legacy record also costs one scrypt computation with cur (the one
 * that becomes its upgrade), for the same reason.
 * Returns 1 on a match, 0 on a mismatch (always for rec == NULL), -1 on
 * an unusable record or a libcrypto failure.  On a match that needs an
 * upgrade, *upgraded is set to 1 and *up holds the new scrypt record;
 * otherwise *upgraded is 0.
 */
int	pw_check(const struct pw_record *rec, const struct pw_params *cur,
	    const void *pass, size_t passlen, struct pw_record *up,
	    int *upgraded);
void	pw_record_clear(struct pw_record *);

#endif
