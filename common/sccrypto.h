/*
 * sccrypto.h: the cryptography of the SecureChat v1 protocol, in one
 * place: X25519, HKDF-SHA256, AES-128-CBC, RSA PKCS#1 v1.5 SHA-256, the
 * handshake hashes H1/H2, the exact statements that get signed and the key
 * schedule (docs/PROTOCOL.md §2, §3, §5).  OpenSSL 3 EVP only.
 *
 * Every function returns 0 on success and -1 on failure (OpenSSL's error
 * queue is left for the caller's log_sslx), unless it says otherwise.
 */
#ifndef SC_CRYPTO_H
#define SC_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "buf.h"
#include "proto.h"

/* Domain-separation labels; each includes its terminating NUL byte. */
#define SC_LABEL_SERVER_HS	"SecureChat-v1 server handshake"
#define SC_LABEL_CLIENT_HS	"SecureChat-v1 client handshake"
#define SC_LABEL_RECORD		"SecureChat-v1 record"
#define SC_LABEL_RECEIPT	"SecureChat-v1 receipt"
#define SC_LABEL_TEMP_C2S	"SecureChat-v1 temp c2s"
#define SC_LABEL_TEMP_S2C	"SecureChat-v1 temp s2c"
#define SC_LABEL_SESS_C2S	"SecureChat-v1 session c2s"
#define SC_LABEL_SESS_S2C	"SecureChat-v1 session s2c"

/* Largest statement: the record statement with a maximal ciphertext. */
#define SC_STMT_MAX	(sizeof(SC_LABEL_RECORD) + SC_SESSION_ID_LEN + 3 + \
			    8 + 8 + SC_IV_LEN + 4 + SC_MAX_CT)

/* ---- X25519 ---- */

/* Fresh ephemeral key pair; *privp is freed with EVP_PKEY_free. */
int	sc_x25519_keygen(EVP_PKEY **privp, uint8_t pub[SC_KEX_LEN]);
/* Key pair from a fixed private scalar (test vectors only). */
int	sc_x25519_from_private(const uint8_t priv[32], EVP_PKEY **privp,
	    uint8_t pub[SC_KEX_LEN]);
/*
 * Shared secret with a peer's public value.  Fails unless peerlen is
 * exactly 32 and the result is not all zeros (all-zero or low-order point).
 */
int	sc_x25519_derive(EVP_PKEY *priv, const uint8_t *peer, size_t peerlen,
	    uint8_t ss[32]);

/* ---- Primitives ---- */

int	sc_sha256(const void *, size_t, uint8_t out[SC_SHA256_LEN]);
int	sc_hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt,
	    size_t saltlen, const uint8_t *info, size_t infolen, uint8_t *out,
	    size_t outlen);
/*
 * AES-128-CBC with PKCS#7 padding.  Encrypt writes SC_CT_LEN(ptlen) bytes;
 * *outlenp is the capacity on entry and the length on return.  Decrypt
 * fails on a length that is not a positive multiple of 16 or bad padding.
 */
int	sc_aes_cbc_encrypt(const uint8_t key[SC_AES_KEY_LEN],
	    const uint8_t iv[SC_IV_LEN], const uint8_t *pt, size_t ptlen,
	    uint8_t *out, size_t *outlenp);
int	sc_aes_cbc_decrypt(const uint8_t key[SC_AES_KEY_LEN],
	    const uint8_t iv[SC_IV_LEN], const uint8_t *ct, size_t ctlen,
	    uint8_t *out, size_t *outlenp);
/*
 * RSA PKCS#1 v1.5 with SHA-256.  Keys must be RSA of 2048..4096 bits.
 * sign: *siglenp is the capacity (>= key size) on entry, the length after.
 */
int	sc_rsa_sign(EVP_PKEY *key, const uint8_t *msg, size_t msglen,
	    uint8_t *sig, size_t *siglenp);
/* 0 if sig is a valid signature of msg under pub, else -1. */
int	sc_rsa_verify(EVP_PKEY *pub, const uint8_t *msg, size_t msglen,
	    const uint8_t *sig, size_t siglen);
/*
 * Drop the cached RSA contexts (and their key references) of
 * sc_rsa_sign and sc_rsa_verify: a client calls it when it is done with
 * its key, so the key is not kept alive by the cache.
 */
void	sc_rsa_forget(void);
/* 0 if key is RSA with SC_MIN_RSA_BITS..4096 bits. */
int	sc_rsa_key_ok(EVP_PKEY *key);

/* Base64 (RFC 4648, padded, no line breaks). */
/* Encode into out (outsz >= 4 * ceil(n / 3) + 1); returns the length or -1. */
int	sc_b64_encode(const uint8_t *, size_t n, char *out, size_t outsz);
/* Strict decode of exactly len characters; -1 on anything non-canonical. */
int	sc_b64_decode(const char *, size_t len, uint8_t *out, size_t outsz,
	    size_t *outlenp);

/* ---- Handshake hashes and statements ---- */

/* H1 = SHA-256(u32 len(CH) || CH || u32 len(SH_core) || SH_core) */
int	sc_h1(const uint8_t *ch, size_t chlen, const uint8_t *shcore,
	    size_t shcorelen, uint8_t h1[SC_SHA256_LEN]);
/* H2 = SHA-256(H1 || u16 len(server_sig) || server_sig) */
int	sc_h2(const uint8_t h1[SC_SHA256_LEN], const uint8_t *ssig,
	    size_t ssiglen, uint8_t h2[SC_SHA256_LEN]);
/* Append the exact signed bytes to b (wbuf_init(b, SC_STMT_MAX)). */
int	sc_stmt_server_handshake(struct wbuf *b, const uint8_t h1[32]);
int	sc_stmt_client_handshake(struct wbuf *b, const uint8_t h2[32]);
int	sc_stmt_record(struct wbuf *b, const uint8_t sid[SC_SESSION_ID_LEN],
	    uint8_t dir, uint8_t type, uint8_t phase, uint64_t seq, uint64_t ts,
	    const uint8_t iv[SC_IV_LEN], const uint8_t *ct, size_t ctlen);
/* Uses r's session_id, role, seqs, transcript hash and peer fingerprint. */
int	sc_stmt_receipt(struct wbuf *b, const struct sc_receipt *r);

/* ---- Key schedule ---- */

struct sc_dirkeys {
	uint8_t	c2s[SC_AES_KEY_LEN];
	uint8_t	s2c[SC_AES_KEY_LEN];
};

/* K_temp_* from ss1 = X25519(client_kex, server_kex) and salt H2. */
int	sc_derive_temp_keys(const uint8_t ss1[32], const uint8_t h2[32],
	    struct sc_dirkeys *);
/* K_* from ss2 = X25519(kex2_client, kex2_server) and salt H2. */
int	sc_derive_session_keys(const uint8_t ss2[32], const uint8_t h2[32],
	    struct sc_dirkeys *);

#endif
