/*
 * pki.h: X.509 for SecureChat: load and verify peer certificates against
 * the private CA (used by the daemon's worker and by sc-client), and the
 * small set of operations the CA itself needs (keys, certificates, CRLs;
 * used by `sc-admin pki` and by tests that need certificates).
 *
 * The trust model is deliberately narrow: one private root (or a few, all
 * in one PEM file), leaves directly under a root (pathlen 0), no
 * intermediates, RSA >= 2048 and SHA-256 or better (security level 2).
 * Every function that can fail writes one readable line into err/reason.
 */
#ifndef SC_PKI_H
#define SC_PKI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

/* The protocol carries certificates as DER of at most this many bytes. */
#define PKI_MAX_CERT_DER	8192
/* Certificate, CA and CRL files larger than this are refused unread. */
#define PKI_MAX_FILE		(1024 * 1024)
/* Most CA certificates accepted in one trust file. */
#define PKI_MAX_CAS		16
#define PKI_SHA256_LEN		32

enum pki_purpose {
	PKI_PURPOSE_ANY,	/* no extendedKeyUsage requirement */
	PKI_PURPOSE_SERVER,	/* serverAuth (X509_PURPOSE_SSL_SERVER) */
	PKI_PURPOSE_CLIENT	/* clientAuth (X509_PURPOSE_SSL_CLIENT) */
};

enum pki_verdict {
	PKI_OK = 0,
	PKI_EXPIRED,
	PKI_NOT_YET_VALID,
	PKI_UNKNOWN_ISSUER,
	PKI_SELF_SIGNED,
	PKI_WRONG_PURPOSE,
	PKI_NAME_MISMATCH,
	PKI_REVOKED,
	PKI_BAD_SIGNATURE,
	PKI_CHAIN_TOO_LONG,
	PKI_CRL_PROBLEM,
	PKI_INVALID		/* anything else: malformed, weak key, CA as leaf */
};

/* CA certificate(s) and an optional CRL, loaded once (before a chroot). */
struct pki_trust;

/*
 * Load every certificate of ca_pem_path (each must be a CA, at most
 * PKI_MAX_CAS) and, when crl_path is not NULL, one CRL (PEM or DER) that
 * must name one of those CAs as issuer.  The CRL's signature and dates are
 * judged by pki_verify (PKI_CRL_PROBLEM), so that a bad CRL rejects every
 * peer instead of being skipped; pki_trust_check_crl() reports it early.
 */
struct pki_trust *pki_trust_load(const char *ca_pem_path,
	    const char *crl_path, char *err, size_t errlen);
void	pki_trust_free(struct pki_trust *);
/* 0 when there is no CRL or it is well signed and current at now (0: now). */
int	pki_trust_check_crl(const struct pki_trust *, time_t now,
	    char *reason, size_t reasonlen);

/*
 * Verify leaf against the trust: chain to a trusted CA with no
 * intermediate, signatures, validity at now (0: the current time),
 * purpose, name (IP literal: IP SANs; otherwise DNS SANs, the CN only when
 * the certificate has no SAN at all), and revocation when a CRL is loaded.
 * reason gets one line such as "certificate expired on 2026-01-02
 * 10:00:00 UTC" (or "ok").
 */
enum pki_verdict pki_verify(const struct pki_trust *, X509 *leaf,
	    enum pki_purpose, const char *name, time_t now,
	    char *reason, size_t reasonlen);
/* Stable short names: "ok", "expired", "not-yet-valid", "unknown-issuer",
 * "self-signed", "wrong-purpose", "name-mismatch", "revoked",
 * "bad-signature", "chain-too-long", "crl-problem", "invalid". */
const char *pki_verdict_name(enum pki_verdict);

/* Exactly one DER certificate of at most PKI_MAX_CERT_DER bytes. */
X509	*pki_cert_from_der(const uint8_t *, size_t, char *err, size_t errlen);
/* DER of cert into out (at most outlen bytes); -1 when it does not fit. */
int	 pki_cert_to_der(X509 *, uint8_t *out, size_t outlen, size_t *lenp);
/* The first certificate of a PEM file, or a DER file. */
X509	*pki_load_cert(const char *path, char *err, size_t errlen);
X509_CRL *pki_load_crl(const char *path, char *err, size_t errlen);
/*
 * Unencrypted PEM private key.  Refused (like OpenSSH does) when the file
 * grants any permission to group or other: a key that others could have
 * read must be treated as already leaked.  Never prompts for a passphrase.
 */
EVP_PKEY *pki_load_key(const char *path, char *err, size_t errlen);
/* 1 when key is the private half of cert's public key, else 0. */
int	 pki_key_matches_cert(EVP_PKEY *, X509 *);
/* SHA-256 of the certificate's DER; 0 or -1. */
int	 pki_fingerprint(X509 *, uint8_t out[PKI_SHA256_LEN]);
/* The subject's single commonName as UTF-8 without NUL bytes; 0 or -1. */
int	 pki_cert_cn(X509 *, char *out, size_t outlen);
/*
 * Serial as upper-case hex, two digits per byte (as `openssl x509 -serial`)
 * and time as "YYYY-MM-DD HH:MM:SS UTC"; 0 or -1.  On failure out holds a
 * placeholder ("?", "(bad time)"), so code that only displays the value may
 * ignore the result.
 */
int	 pki_serial_hex(const ASN1_INTEGER *, char *out, size_t outlen);
int	 pki_time_str(const ASN1_TIME *, char *out, size_t outlen);
/* An ASN1_TIME as seconds since the epoch; 0 or -1. */
int	 pki_time_to_epoch(const ASN1_TIME *, time_t *);

/* --- CA side ----------------------------------------------------------- */

/* A fresh RSA key of bits (2048..16384). */
EVP_PKEY *pki_rsa_keygen(unsigned int bits, char *err, size_t errlen);

struct pki_cert_spec {
	const char	*cn;		/* subject commonName (1..64 bytes) */
	const char	*san;		/* "DNS:host,IP:addr,..." or NULL */
	enum pki_purpose purpose;	/* leaf: SERVER or CLIENT EKU */
	int		 is_ca;		/* CA:TRUE critical, pathlen 0 */
	time_t		 not_before;
	time_t		 not_after;
};

/*
 * Make and sign a certificate for key.  With issuer and issuer_key it is
 * signed by that CA (authority key id, issuer name); with both NULL it is
 * self-signed.  A CA gets keyCertSign+cRLSign; a leaf CA:FALSE,
 * digitalSignature and serverAuth or clientAuth.  Every certificate gets a
 * random positive 128-bit serial and a subject key id; SHA-256 signature.
 */
X509	*pki_make_cert(const struct pki_cert_spec *, EVP_PKEY *key,
	    X509 *issuer, EVP_PKEY *issuer_key, char *err, size_t errlen);

struct pki_revoked {
	const char	*serial_hex;
	time_t		 when;
};

/* A v2 CRL with crlNumber and authority key id, signed by the CA. */
X509_CRL *pki_make_crl(X509 *ca, EVP_PKEY *ca_key,
	    const struct pki_revoked *, size_t nrevoked, long crl_number,
	    time_t last_update, time_t next_update, char *err, size_t errlen);

/*
 * PEM writers.  The file is created with O_EXCL (an existing file, above
 * all an existing key, is never truncated); with force it is replaced
 * atomically through a temporary file and rename.  Keys are PKCS#8 mode
 * 0600; certificates and CRLs 0644.
 */
int	 pki_write_key(const char *path, EVP_PKEY *, int force,
	    char *err, size_t errlen);
int	 pki_write_cert(const char *path, X509 *, int force,
	    char *err, size_t errlen);
int	 pki_write_crl(const char *path, X509_CRL *, int force,
	    char *err, size_t errlen);

#endif
