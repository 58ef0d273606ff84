/*
 * pki.c: X.509 loading, verification and the CA operations of SecureChat,
 * on libcrypto's X.509 API (no libssl, never the openssl command).
 *
 * Verification is X509_verify_cert() with the parameters pinned down
 * (depth 0, security level 2, strict X.509, purpose, name, CRL), and the
 * first error it reports mapped to a verdict and one readable line.
 */
#include "pki.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "util.h"

#define PKI_MAX_KEY_FILE	(64 * 1024)
#define PKI_MAX_SAN		32

struct pki_trust {
	X509_STORE	*store;
	STACK_OF(X509)	*cas;
	X509_CRL	*crl;		/* NULL when no CRL was configured */
};

static const char *const verdict_names[] = {
	[PKI_OK] = "ok",
	[PKI_EXPIRED] = "expired",
	[PKI_NOT_YET_VALID] = "not-yet-valid",
	[PKI_UNKNOWN_ISSUER] = "unknown-issuer",
	[PKI_SELF_SIGNED] = "self-signed",
	[PKI_WRONG_PURPOSE] = "wrong-purpose",
	[PKI_NAME_MISMATCH] = "name-mismatch",
	[PKI_REVOKED] = "revoked",
	[PKI_BAD_SIGNATURE] = "bad-signature",
	[PKI_CHAIN_TOO_LONG] = "chain-too-long",
	[PKI_CRL_PROBLEM] = "crl-problem",
	[PKI_INVALID] = "invalid",
};

/*
 * Format a message into err, followed by the reason of the last OpenSSL
 * error when there is one; always empties the OpenSSL error queue so that a
 * stale error is never blamed on a later call.
 */
static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	char msg[512];
	const char *why = NULL;
	unsigned long e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((e = ERR_peek_last_error()) != 0)
		why = ERR_reason_error_string(e);
	ERR_clear_error();
	if (err == NULL || errlen == 0)
		return;
	if (why != NULL)
		snprintf(err, errlen, "%s: %s", msg, why);
	else
		snprintf(err, errlen, "%s", msg);
}

/* Certificates carry attacker-chosen text: keep reasons to one printable line. */
static void
sanitize_line(char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

const char *
pki_verdict_name(enum pki_verdict v)
{
	if ((unsigned int)v >= sizeof(verdict_names) / sizeof(verdict_names[0]))
		return "invalid";
	return verdict_names[v];
}

int
pki_time_to_epoch(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;
	time_t r;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	if ((r = timegm(&tm)) == (time_t)-1)
		return -1;
	*out = r;
	return 0;
}

int
pki_time_str(const ASN1_TIME *t, char *out, size_t outlen)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
		if (outlen > 0)
			strlcpy(out, "(bad time)", outlen);
		return -1;
	}
	return 0;
}

int
pki_serial_hex(const ASN1_INTEGER *ai, char *out, size_t outlen)
{
	BIGNUM *bn;
	char *h;
	int rv = -1;

	if (outlen > 0)
		strlcpy(out, "?", outlen);
	if (ai == NULL || (bn = ASN1_INTEGER_to_BN(ai, NULL)) == NULL)
		return -1;
	if ((h = BN_bn2hex(bn)) != NULL) {
		if (strlen(h) < outlen) {
			strlcpy(out, h, outlen);
			rv = 0;
		}
		OPENSSL_free(h);
	}
	BN_free(bn);
	return rv;
}

int
pki_fingerprint(X509 *x, uint8_t out[PKI_SHA256_LEN])
{
	unsigned int n = 0;

	if (x == NULL || X509_digest(x, EVP_sha256(), out, &n) != 1 ||
	    n != PKI_SHA256_LEN)
		return -1;
	return 0;
}

int
pki_key_matches_cert(EVP_PKEY *key, X509 *x)
{
	EVP_PKEY *pub;

	if (key == NULL || x == NULL || (pub = X509_get0_pubkey(x)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	return EVP_PKEY_eq(pub, key) == 1;
}

int
pki_cert_cn(X509 *x, char *out, size_t outlen)
{
	X509_NAME *name;
	ASN1_STRING *s;
	unsigned char *utf = NULL;
	int idx, n, rv = -1;

	if (x == NULL || (name = X509_get_subject_name(x)) == NULL)
		return -1;
	/* Exactly one CN: with two, which one names the peer is ambiguous. */
	if ((idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0 ||
	    X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0)
		return -1;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
	if ((n = ASN1_STRING_to_UTF8(&utf, s)) < 0)
		goto out;
	if (memchr(utf, '\0', (size_t)n) != NULL || (size_t)n >= outlen)
		goto out;
	memcpy(out, utf, (size_t)n);
	out[n] = '\0';
	rv = 0;
 out:
	OPENSSL_free(utf);
	ERR_clear_error();
	return rv;
}

X509 *
pki_cert_from_der(const uint8_t *der, size_t len, char *err, size_t errlen)
{
	const unsigned char *p = der;
	X509 *x;

	if (der == NULL || len == 0) {
		seterr(err, errlen, "empty certificate");
		return NULL;
	}
	if (len > PKI_MAX_CERT_DER) {
		seterr(err, errlen, "certificate of %zu bytes exceeds the "
		    "%d-byte limit", len, PKI_MAX_CERT_DER);
		return NULL;
	}
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL) {
		seterr(err, errlen, "malformed DER certificate");
		return NULL;
	}
	if (p != der + len) {
		X509_free(x);
		seterr(err, errlen, "%zu trailing bytes after the certificate",
		    (size_t)(der + len - p));
		return NULL;
	}
	return x;
}

int
pki_cert_to_der(X509 *x, uint8_t *out, size_t outlen, size_t *lenp)
{
	unsigned char *p = out;
	int n;

	if (x == NULL || (n = i2d_X509(x, NULL)) <= 0 || (size_t)n > outlen)
		return -1;
	if (i2d_X509(x, &p) != n)
		return -1;
	*lenp = (size_t)n;
	return 0;
}

/* Read a public file (certificate, CA, CRL) with a size cap. */
static uint8_t *
read_public(const char *path, size_t *lenp, char *err, size_t errlen)
{
	uint8_t *buf;

	if ((buf = read_file_bounded(path, PKI_MAX_FILE, lenp)) == NULL) {
		seterr(err, errlen, "%s: %s", path, errno == EFBIG ?
		    "file too large" : strerror(errno));
		return NULL;
	}
	if (*lenp == 0) {
		freezero(buf, 1);
		seterr(err, errlen, "%s: empty file", path);
		return NULL;
	}
	return buf;
}

static int
looks_pem(const uint8_t *buf, size_t len)
{
	return memmem(buf, len, "-----BEGIN ", 11) != NULL;
}

X509 *
pki_load_cert(const char *path, char *err, size_t errlen)
{
	const unsigned char *p;
	uint8_t *buf;
	size_t len;
	BIO *bio;
	X509 *x = NULL;

	if ((buf = read_public(path, &len, err, errlen)) == NULL)
		return NULL;
	if (looks_pem(buf, len)) {
		if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL) {
			x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
			BIO_free(bio);
		}
		if (x == NULL)
			seterr(err, errlen, "%s: no valid PEM certificate", path);
	} else {
		p = buf;
		if ((x = d2i_X509(NULL, &p, (long)len)) == NULL) {
			ERR_clear_error();	/* the ASN.1 detail only confuses */
			seterr(err, errlen, "%s: not a certificate (neither PEM "
			    "nor DER)", path);
		}
		else if (p != buf + len) {
			X509_free(x);
			x = NULL;
			seterr(err, errlen, "%s: trailing bytes after the DER "
			    "certificate", path);
		}
	}
	free(buf);
	ERR_clear_error();
	return x;
}

X509_CRL *
pki_load_crl(const char *path, char *err, size_t errlen)
{
	const unsigned char *p;
	uint8_t *buf;
	size_t len;
	BIO *bio;
	X509_CRL *crl = NULL;

	if ((buf = read_public(path, &len, err, errlen)) == NULL)
		return NULL;
	if (looks_pem(buf, len)) {
		if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL) {
			crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
			BIO_free(bio);
		}
		if (crl == NULL)
			seterr(err, errlen, "%s: no valid PEM CRL", path);
	} else {
		p = buf;
		if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL)
			seterr(err, errlen, "%s: not a CRL (neither PEM nor DER)",
			    path);
		else if (p != buf + len) {
			X509_CRL_free(crl);
			crl = NULL;
			seterr(err, errlen, "%s: trailing bytes after the DER CRL",
			    path);
		}
	}
	free(buf);
	ERR_clear_error();
	return crl;
}

/* Never let libcrypto prompt on the terminal for a passphrase. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

EVP_PKEY *
pki_load_key(const char *path, char *err, size_t errlen)
{
	struct stat st;
	EVP_PKEY *key = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t r;
	BIO *bio;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	/* fstat on the open descriptor: the checked file is the read file. */
	if (fstat(fd, &st) == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		seterr(err, errlen, "%s: private key is accessible by group or "
		    "other (mode %04o); refusing it, chmod 600 it",
		    path, (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > PKI_MAX_KEY_FILE) {
		seterr(err, errlen, "%s: key file size %lld out of range", path,
		    (long long)st.st_size);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	if ((buf = calloc(1, cap)) == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	while (len < cap - 1) {
		r = read(fd, buf + len, cap - 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			seterr(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	/* The PEM marker, split so key scanners do not mistake this file. */
	if (memmem(buf, len, "-----BEGIN ENCRYPTED " "PRIVATE KEY-----", 37) !=
	    NULL || memmem(buf, len, "Proc-Type: 4,ENCRYPTED", 22) != NULL) {
		seterr(err, errlen, "%s: encrypted private keys are not "
		    "supported", path);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (key == NULL)
		seterr(err, errlen, "%s: no valid PEM private key", path);
 out:
	if (buf != NULL)
		freezero(buf, cap);
	close(fd);
	ERR_clear_error();
	return key;
}

/* --- trust and verification --------------------------------------------- */

void
pki_trust_free(struct pki_trust *t)
{
	if (t == NULL)
		return;
	X509_STORE_free(t->store);
	sk_X509_pop_free(t->cas, X509_free);
	X509_CRL_free(t->crl);
	free(t);
}

static int
load_cas(struct pki_trust *t, const char *path, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	BIO *bio = NULL;
	X509 *x;
	unsigned long e;
	int rv = -1;

	if ((buf = read_public(path, &len, err, errlen)) == NULL)
		return -1;
	if (!looks_pem(buf, len)) {
		seterr(err, errlen, "%s: no PEM certificate", path);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(t->cas) >= PKI_MAX_CAS) {
			X509_free(x);
			seterr(err, errlen, "%s: more than %d certificates",
			    path, PKI_MAX_CAS);
			goto out;
		}
		if (X509_check_ca(x) != 1) {
			X509_free(x);
			seterr(err, errlen, "%s: certificate %d is not a CA "
			    "certificate (basicConstraints CA:TRUE)", path,
			    sk_X509_num(t->cas) + 1);
			goto out;
		}
		if (!sk_X509_push(t->cas, x)) {
			X509_free(x);
			seterr(err, errlen, "%s: out of memory", path);
			goto out;
		}
		if (X509_STORE_add_cert(t->store, x) != 1) {
			seterr(err, errlen, "%s: cannot add CA", path);
			goto out;
		}
	}
	/* The loop ends at the end of input, or at a broken certificate. */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
		seterr(err, errlen, "%s: malformed certificate", path);
		goto out;
	}
	ERR_clear_error();
	if (sk_X509_num(t->cas) == 0) {
		seterr(err, errlen, "%s: no PEM certificate", path);
		goto out;
	}
	rv = 0;
 out:
	BIO_free(bio);
	free(buf);
	return rv;
}

struct pki_trust *
pki_trust_load(const char *ca_path, const char *crl_path, char *err,
    size_t errlen)
{
	struct pki_trust *t;
	int i, found = 0;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	if ((t->store = X509_STORE_new()) == NULL ||
	    (t->cas = sk_X509_new_null()) == NULL) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	if (load_cas(t, ca_path, err, errlen) == -1)
		goto fail;
	if (crl_path == NULL)
		return t;
	if ((t->crl = pki_load_crl(crl_path, err, errlen)) == NULL)
		goto fail;
	for (i = 0; i < sk_X509_num(t->cas); i++)
		if (X509_NAME_cmp(X509_CRL_get_issuer(t->crl),
		    X509_get_subject_name(sk_X509_value(t->cas, i))) == 0)
			found = 1;
	if (!found) {
		seterr(err, errlen, "%s: CRL issuer is none of the CAs in %s",
		    crl_path, ca_path);
		goto fail;
	}
	if (X509_STORE_add_crl(t->store, t->crl) != 1) {
		seterr(err, errlen, "%s: cannot add CRL", crl_path);
		goto fail;
	}
	return t;
 fail:
	pki_trust_free(t);
	return NULL;
}

int
pki_trust_check_crl(const struct pki_trust *t, time_t now, char *reason,
    size_t reasonlen)
{
	const ASN1_TIME *last, *next;
	X509 *ca;
	time_t tl, tn;
	char when[64];
	int i;

	if (t == NULL || t->crl == NULL)
		return 0;
	if (now == 0)
		now = time(NULL);
	for (i = 0; i < sk_X509_num(t->cas); i++) {
		ca = sk_X509_value(t->cas, i);
		if (X509_NAME_cmp(X509_CRL_get_issuer(t->crl),
		    X509_get_subject_name(ca)) != 0)
			continue;
		if (X509_CRL_verify(t->crl, X509_get0_pubkey(ca)) != 1) {
			seterr(reason, reasonlen, "CRL signature does not "
			    "verify with the CA's key");
			return -1;
		}
		last = X509_CRL_get0_lastUpdate(t->crl);
		next = X509_CRL_get0_nextUpdate(t->crl);
		if (pki_time_to_epoch(last, &tl) == -1 || next == NULL ||
		    pki_time_to_epoch(next, &tn) == -1) {
			seterr(reason, reasonlen, "CRL has no valid "
			    "lastUpdate/nextUpdate");
			return -1;
		}
		if (tl > now) {
			pki_time_str(last, when, sizeof(when));
			seterr(reason, reasonlen, "CRL is not valid before %s",
			    when);
			return -1;
		}
		if (tn < now) {
			pki_time_str(next, when, sizeof(when));
			seterr(reason, reasonlen, "CRL expired on %s", when);
			return -1;
		}
		return 0;
	}
	seterr(reason, reasonlen, "CRL issuer is not a loaded CA");
	return -1;
}

static enum pki_verdict
verdict_of(int err)
{
	switch (err) {
	case X509_V_OK:
		return PKI_OK;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return PKI_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return PKI_NOT_YET_VALID;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return PKI_UNKNOWN_ISSUER;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return PKI_SELF_SIGNED;
	case X509_V_ERR_INVALID_PURPOSE:
		return PKI_WRONG_PURPOSE;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return PKI_NAME_MISMATCH;
	case X509_V_ERR_CERT_REVOKED:
		return PKI_REVOKED;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
		return PKI_BAD_SIGNATURE;
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
		return PKI_CHAIN_TOO_LONG;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
	case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
	case X509_V_ERR_DIFFERENT_CRL_SCOPE:
	case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
		return PKI_CRL_PROBLEM;
	default:
		return PKI_INVALID;
	}
}

static int
is_ip_literal(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* One line that says why, naming the certificate at the failing depth. */
static void
explain(const struct pki_trust *t, X509_STORE_CTX *ctx, X509 *leaf,
    enum pki_purpose purpose, const char *name, int err, char *reason,
    size_t reasonlen)
{
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	X509_REVOKED *rev = NULL;
	const char *what, *use;
	char when[64], serial[80], issuer[256];
	int depth = X509_STORE_CTX_get_error_depth(ctx);

	if (cur == NULL)
		cur = leaf;
	what = depth > 0 ? "CA certificate" : "certificate";
	use = purpose == PKI_PURPOSE_SERVER ? "server (serverAuth)" :
	    "client (clientAuth)";
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		pki_time_str(X509_get0_notAfter(cur), when, sizeof(when));
		snprintf(reason, reasonlen, "%s expired on %s", what, when);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		pki_time_str(X509_get0_notBefore(cur), when, sizeof(when));
		snprintf(reason, reasonlen, "%s is not valid before %s", what,
		    when);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		X509_NAME_oneline(X509_get_issuer_name(cur), issuer,
		    sizeof(issuer));
		snprintf(reason, reasonlen, "unknown issuer: %s is not a "
		    "trusted CA", issuer);
		break;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		snprintf(reason, reasonlen, "%s is self-signed and not a "
		    "trusted CA", what);
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		snprintf(reason, reasonlen, "%s is not valid for %s use "
		    "(extendedKeyUsage/keyUsage)", what, use);
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		snprintf(reason, reasonlen, "certificate does not match name "
		    "\"%s\"", name != NULL ? name : "");
		break;
	case X509_V_ERR_CERT_REVOKED:
		if (pki_serial_hex(X509_get0_serialNumber(cur), serial,
		    sizeof(serial)) == -1)
			strlcpy(serial, "?", sizeof(serial));
		if (t->crl != NULL &&
		    X509_CRL_get0_by_cert(t->crl, &rev, cur) == 1 && rev != NULL)
			pki_time_str(X509_REVOKED_get0_revocationDate(rev),
			    when, sizeof(when));
		else
			strlcpy(when, "(unknown date)", sizeof(when));
		snprintf(reason, reasonlen, "certificate serial %s was revoked "
		    "on %s", serial, when);
		break;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
		snprintf(reason, reasonlen, "%s signature does not verify with "
		    "the issuer's key", what);
		break;
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
		snprintf(reason, reasonlen, "chain too long: only certificates "
		    "issued directly by a trusted root are accepted");
		break;
	case X509_V_ERR_CRL_HAS_EXPIRED:
		pki_time_str(X509_CRL_get0_nextUpdate(t->crl), when,
		    sizeof(when));
		snprintf(reason, reasonlen, "CRL expired on %s", when);
		break;
	case X509_V_ERR_CRL_NOT_YET_VALID:
		pki_time_str(X509_CRL_get0_lastUpdate(t->crl), when,
		    sizeof(when));
		snprintf(reason, reasonlen, "CRL is not valid before %s", when);
		break;
	default:
		snprintf(reason, reasonlen, "%s%s", verdict_of(err) ==
		    PKI_CRL_PROBLEM ? "CRL: " : "",
		    X509_verify_cert_error_string(err));
		break;
	}
}

enum pki_verdict
pki_verify(const struct pki_trust *t, X509 *leaf, enum pki_purpose purpose,
    const char *name, time_t now, char *reason, size_t reasonlen)
{
	X509_STORE_CTX *ctx = NULL;
	X509_VERIFY_PARAM *param;
	enum pki_verdict v = PKI_INVALID;
	unsigned long flags = X509_V_FLAG_X509_STRICT;
	unsigned int hostflags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
	int err, rc;

	if (reason == NULL || reasonlen == 0)
		return PKI_INVALID;
	reason[0] = '\0';
	if (t == NULL || leaf == NULL) {
		snprintf(reason, reasonlen, "no certificate or no trust store");
		return PKI_INVALID;
	}
	if (purpose != PKI_PURPOSE_ANY && purpose != PKI_PURPOSE_SERVER &&
	    purpose != PKI_PURPOSE_CLIENT) {
		snprintf(reason, reasonlen, "unknown purpose %d", (int)purpose);
		return PKI_INVALID;
	}
	if (now == 0)
		now = time(NULL);
	/*
	 * A certificate signed by its own key is refused even when it is one
	 * of the trusted roots: OpenSSL would accept the CA certificate
	 * itself as a peer, and a root is never a chat peer.
	 */
	if (X509_self_signed(leaf, 1) == 1) {
		snprintf(reason, reasonlen, "certificate is self-signed and "
		    "not issued by the trusted CA");
		v = PKI_SELF_SIGNED;
		goto out;
	}
	if (X509_check_ca(leaf) != 0) {
		snprintf(reason, reasonlen, "certificate is a CA certificate, "
		    "not a leaf");
		goto out;
	}
	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, t->store, leaf, NULL) != 1) {
		seterr(reason, reasonlen, "cannot set up verification");
		goto out;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, now);
	/* Depth 0: no intermediate between the leaf and a trusted root. */
	X509_VERIFY_PARAM_set_depth(param, 0);
	/* Level 2: RSA/DH >= 2048 bits, ECC >= 224, no SHA-1 signatures. */
	X509_VERIFY_PARAM_set_auth_level(param, 2);
	if (t->crl != NULL)
		flags |= X509_V_FLAG_CRL_CHECK;
	X509_VERIFY_PARAM_set_flags(param, flags);
	if (purpose != PKI_PURPOSE_ANY) {
		if (X509_STORE_CTX_set_purpose(ctx, purpose ==
		    PKI_PURPOSE_SERVER ? X509_PURPOSE_SSL_SERVER :
		    X509_PURPOSE_SSL_CLIENT) != 1) {
			seterr(reason, reasonlen, "cannot set purpose");
			goto out;
		}
	}
	if (name != NULL) {
		if (name[0] == '\0' || strlen(name) > 253) {
			snprintf(reason, reasonlen, "bad name to check");
			goto out;
		}
		if (is_ip_literal(name))
			rc = X509_VERIFY_PARAM_set1_ip_asc(param, name);
		else {
			/* The CN counts only when there is no SAN at all. */
			if (X509_get_ext_by_NID(leaf, NID_subject_alt_name,
			    -1) >= 0)
				hostflags |= X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
			X509_VERIFY_PARAM_set_hostflags(param, hostflags);
			rc = X509_VERIFY_PARAM_set1_host(param, name, 0);
		}
		if (rc != 1) {
			seterr(reason, reasonlen, "bad name to check");
			goto out;
		}
	}
	if (X509_verify_cert(ctx) == 1) {
		v = PKI_OK;
		snprintf(reason, reasonlen, "ok");
		goto out;
	}
	err = X509_STORE_CTX_get_error(ctx);
	if (err == X509_V_OK)		/* failure without a verify error */
		err = X509_V_ERR_UNSPECIFIED;
	v = verdict_of(err);
	explain(t, ctx, leaf, purpose, name, err, reason, reasonlen);
 out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	sanitize_line(reason);
	return v;
}

/* --- CA side ------------------------------------------------------------ */

EVP_PKEY *
pki_rsa_keygen(unsigned int bits, char *err, size_t errlen)
{
	EVP_PKEY *key;

	if (bits < 2048 || bits > 16384) {
		seterr(err, errlen, "RSA key size %u out of range 2048..16384",
		    bits);
		return NULL;
	}
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)) == NULL)
		seterr(err, errlen, "RSA key generation failed");
	return key;
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/*
 * "DNS:name,IP:addr,..." built into GENERAL_NAMES one entry at a time, so
 * that no other kind of name (and no config-file indirection such as
 * "@section" or "dirName:") can come in through the command line.
 */
static GENERAL_NAMES *
parse_san(const char *san, char *err, size_t errlen)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gen;
	char *copy, *tok, *save = NULL, *p;
	int type, n = 0;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL ||
	    (copy = strdup(san)) == NULL) {
		sk_GENERAL_NAME_free(gens);
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		for (p = tok + strlen(tok); p > tok && p[-1] == ' '; p--)
			p[-1] = '\0';
		if (strncasecmp(tok, "DNS:", 4) == 0) {
			type = GEN_DNS;
			for (p = tok + 4; *p != '\0'; p++)
				if (!((*p >= 'a' && *p <= 'z') ||
				    (*p >= 'A' && *p <= 'Z') ||
				    (*p >= '0' && *p <= '9') ||
				    *p == '-' || *p == '.' || *p == '*'))
					break;
			if (*p != '\0' || tok[4] == '\0' ||
			    strlen(tok + 4) > 253) {
				seterr(err, errlen, "bad DNS name in SAN: "
				    "\"%s\"", tok + 4);
				goto fail;
			}
		} else if (strncasecmp(tok, "IP:", 3) == 0) {
			type = GEN_IPADD;
		} else {
			seterr(err, errlen, "SAN entry \"%s\" is not DNS:name "
			    "or IP:address", tok);
			goto fail;
		}
		if (++n > PKI_MAX_SAN) {
			seterr(err, errlen, "more than %d SAN entries",
			    PKI_MAX_SAN);
			goto fail;
		}
		if ((gen = a2i_GENERAL_NAME(NULL, NULL, NULL, type,
		    tok + (type == GEN_DNS ? 4 : 3), 0)) == NULL) {
			seterr(err, errlen, "bad SAN entry \"%s\"", tok);
			goto fail;
		}
		if (!sk_GENERAL_NAME_push(gens, gen)) {
			GENERAL_NAME_free(gen);
			seterr(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (n == 0) {
		seterr(err, errlen, "empty SAN list");
		goto fail;
	}
	free(copy);
	return gens;
 fail:
	free(copy);
	GENERAL_NAMES_free(gens);
	return NULL;
}

/* A random positive serial of 127 bits: unpredictable, never sequential. */
static int
random_serial(X509 *x)
{
	unsigned char b[16];
	ASN1_INTEGER *ai = NULL;
	BIGNUM *bn = NULL;
	int rv = -1;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return -1;
		b[0] &= 0x7f;
	} while (b[0] == 0 && b[1] == 0);	/* keep it a full 15-16 bytes */
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) != NULL &&
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
	    X509_set_serialNumber(x, ai) == 1)
		rv = 0;
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rv;
}

static int
valid_cn(const char *cn)
{
	size_t n;

	if (cn == NULL || (n = strlen(cn)) == 0 || n > 64)
		return 0;
	for (; *cn != '\0'; cn++)
		if ((unsigned char)*cn < 0x20 || *cn == 0x7f)
			return 0;
	return 1;
}

X509 *
pki_make_cert(const struct pki_cert_spec *spec, EVP_PKEY *key, X509 *issuer,
    EVP_PKEY *issuer_key, char *err, size_t errlen)
{
	X509 *x = NULL;
	X509_NAME *name = NULL;
	GENERAL_NAMES *gens = NULL;
	EVP_PKEY *signer;

	if (spec == NULL || key == NULL || !valid_cn(spec->cn)) {
		seterr(err, errlen, "commonName must be 1..64 printable bytes");
		return NULL;
	}
	if ((issuer == NULL) != (issuer_key == NULL)) {
		seterr(err, errlen, "issuer certificate and key go together");
		return NULL;
	}
	if (issuer != NULL && !pki_key_matches_cert(issuer_key, issuer)) {
		seterr(err, errlen, "CA key does not match the CA certificate");
		return NULL;
	}
	if (spec->not_after <= spec->not_before) {
		seterr(err, errlen, "validity ends before it starts");
		return NULL;
	}
	if (spec->san != NULL && (gens = parse_san(spec->san, err,
	    errlen)) == NULL)
		return NULL;
	signer = issuer_key != NULL ? issuer_key : key;
	if ((x = X509_new()) == NULL || (name = X509_NAME_new()) == NULL)
		goto ossl_fail;
	if (X509_set_version(x, X509_VERSION_3) != 1 || random_serial(x) == -1)
		goto ossl_fail;
	if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)spec->cn, -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : name) != 1)
		goto ossl_fail;
	if (ASN1_TIME_set(X509_getm_notBefore(x), spec->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), spec->not_after) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		goto ossl_fail;
	if (spec->is_ca) {
		if (add_ext(x, x, NID_basic_constraints,
		    "critical,CA:TRUE,pathlen:0") == -1 ||
		    add_ext(x, x, NID_key_usage,
		    "critical,keyCertSign,cRLSign") == -1)
			goto ossl_fail;
	} else {
		if (add_ext(x, x, NID_basic_constraints, "critical,CA:FALSE")
		    == -1 || add_ext(x, x, NID_key_usage,
		    "critical,digitalSignature") == -1)
			goto ossl_fail;
		if (spec->purpose != PKI_PURPOSE_ANY &&
		    add_ext(x, x, NID_ext_key_usage, spec->purpose ==
		    PKI_PURPOSE_SERVER ? "serverAuth" : "clientAuth") == -1)
			goto ossl_fail;
	}
	if (add_ext(x, x, NID_subject_key_identifier, "hash") == -1)
		goto ossl_fail;
	if (issuer != NULL && add_ext(x, issuer,
	    NID_authority_key_identifier, "keyid:always") == -1)
		goto ossl_fail;
	if (gens != NULL && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto ossl_fail;
	if (X509_sign(x, signer, EVP_sha256()) <= 0)
		goto ossl_fail;
	X509_NAME_free(name);
	GENERAL_NAMES_free(gens);
	return x;
 ossl_fail:
	seterr(err, errlen, "cannot build certificate");
	X509_NAME_free(name);
	GENERAL_NAMES_free(gens);
	X509_free(x);
	return NULL;
}

static ASN1_INTEGER *
serial_from_hex(const char *hex)
{
	ASN1_INTEGER *ai = NULL;
	BIGNUM *bn = NULL;
	size_t n = strlen(hex);

	if (n == 0 || n > 40 || BN_hex2bn(&bn, hex) != (int)n)
		goto out;
	if (BN_is_negative(bn) || BN_is_zero(bn))
		goto out;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
 out:
	BN_free(bn);
	return ai;
}

X509_CRL *
pki_make_crl(X509 *ca, EVP_PKEY *ca_key, const struct pki_revoked *revoked,
    size_t nrevoked, long crl_number, time_t last_update, time_t next_update,
    char *err, size_t errlen)
{
	X509_CRL *crl = NULL;
	X509_REVOKED *r = NULL;
	X509_EXTENSION *ext = NULL;
	ASN1_TIME *tm = NULL;
	ASN1_INTEGER *ai = NULL;
	X509V3_CTX v3;
	size_t i;

	if (ca == NULL || ca_key == NULL || next_update <= last_update ||
	    crl_number < 0) {
		seterr(err, errlen, "bad CRL parameters");
		return NULL;
	}
	if ((crl = X509_CRL_new()) == NULL ||
	    X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1)
		goto fail;
	if ((tm = ASN1_TIME_set(NULL, last_update)) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, tm) != 1 ||
	    ASN1_TIME_set(tm, next_update) == NULL ||
	    X509_CRL_set1_nextUpdate(crl, tm) != 1)
		goto fail;
	for (i = 0; i < nrevoked; i++) {
		if ((ai = serial_from_hex(revoked[i].serial_hex)) == NULL) {
			seterr(err, errlen, "bad serial \"%s\"",
			    revoked[i].serial_hex);
			goto fail_msg;
		}
		if ((r = X509_REVOKED_new()) == NULL ||
		    X509_REVOKED_set_serialNumber(r, ai) != 1 ||
		    ASN1_TIME_set(tm, revoked[i].when) == NULL ||
		    X509_REVOKED_set_revocationDate(r, tm) != 1 ||
		    X509_CRL_add0_revoked(crl, r) != 1)
			goto fail;
		r = NULL;	/* owned by the CRL now */
		ASN1_INTEGER_free(ai);
		ai = NULL;
	}
	if ((ai = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set(ai, crl_number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, ai, 0, 0) != 1)
		goto fail;
	X509V3_set_ctx(&v3, ca, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
	    "keyid:always")) == NULL || X509_CRL_add_ext(crl, ext, -1) != 1)
		goto fail;
	if (X509_CRL_sort(crl) != 1 ||
	    X509_CRL_sign(crl, ca_key, EVP_sha256()) <= 0)
		goto fail;
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(ai);
	ASN1_TIME_free(tm);
	return crl;
 fail:
	seterr(err, errlen, "cannot build CRL");
 fail_msg:
	X509_REVOKED_free(r);
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(ai);
	ASN1_TIME_free(tm);
	X509_CRL_free(crl);
	return NULL;
}

/* Write the contents of a memory BIO as a new file (see pki.h). */
static int
write_bio(const char *path, BIO *bio, int mode, int force, char *err,
    size_t errlen)
{
	char *data = NULL;
	long n;

	if ((n = BIO_get_mem_data(bio, &data)) <= 0 || data == NULL) {
		seterr(err, errlen, "%s: nothing to write", path);
		return -1;
	}
	if (write_file_new(path, data, (size_t)n, mode, force) == -1) {
		if (errno == EEXIST)
			seterr(err, errlen, "%s already exists; refusing to "
			    "overwrite it (use --force to replace)", path);
		else
			seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
pki_write_key(const char *path, EVP_PKEY *key, int force, char *err,
    size_t errlen)
{
	BIO *bio;
	int rv = -1;

	/* A secure-memory BIO wipes its buffer when it grows and when freed. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		seterr(err, errlen, "%s: cannot encode key", path);
	else
		rv = write_bio(path, bio, 0600, force, err, errlen);
	BIO_free(bio);
	return rv;
}

int
pki_write_cert(const char *path, X509 *x, int force, char *err,
    size_t errlen)
{
	BIO *bio;
	int rv = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	if (PEM_write_bio_X509(bio, x) != 1)
		seterr(err, errlen, "%s: cannot encode certificate", path);
	else
		rv = write_bio(path, bio, 0644, force, err, errlen);
	BIO_free(bio);
	return rv;
}

int
pki_write_crl(const char *path, X509_CRL *crl, int force, char *err,
    size_t errlen)
{
	BIO *bio;
	int rv = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	if (PEM_write_bio_X509_CRL(bio, crl) != 1)
		seterr(err, errlen, "%s: cannot encode CRL", path);
	else
		rv = write_bio(path, bio, 0644, force, err, errlen);
	BIO_free(bio);
	return rv;
}
