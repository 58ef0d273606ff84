/*
 * test_pki.c: the PKI library (common/pki.c): every verdict of pki_verify
 * on certificates made with the library in a temporary directory, the DER
 * and file loaders, key file permissions, and the no-truncate writers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pki.h"
#include "testutil.h"

#define DAY	86400

/* Made once: RSA key generation dominates the run time. */
static struct {
	char		*dir;
	EVP_PKEY	*ca_key, *other_key, *leaf_key;
	X509		*ca, *other_ca;
	char		 ca_path[512], other_path[512];
	struct pki_trust *trust;
	time_t		 now;
} g;

static char err[512], reason[512];

static X509 *
make(const char *cn, const char *san, enum pki_purpose purpose, time_t nb,
    time_t na, X509 *issuer, EVP_PKEY *issuer_key)
{
	struct pki_cert_spec spec;
	X509 *x;

	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.san = san;
	spec.purpose = purpose;
	spec.not_before = nb;
	spec.not_after = na;
	x = pki_make_cert(&spec, g.leaf_key, issuer, issuer_key, err,
	    sizeof(err));
	if (x == NULL)
		fail_msg("pki_make_cert %s: %s", cn, err);
	return x;
}

/* A leaf of our CA, valid now. */
static X509 *
leaf(const char *cn, const char *san, enum pki_purpose purpose)
{
	return make(cn, san, purpose, g.now - 300, g.now + 30 * DAY, g.ca,
	    g.ca_key);
}

static X509 *
make_ca(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
	struct pki_cert_spec spec;
	X509 *x;

	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.is_ca = 1;
	spec.not_before = g.now - 300;
	spec.not_after = g.now + 365 * DAY;
	x = pki_make_cert(&spec, key, issuer, issuer_key, err, sizeof(err));
	if (x == NULL)
		fail_msg("make CA %s: %s", cn, err);
	return x;
}

static int
write_str(const char *path, const char *s)
{
	return tu_write(path, s, strlen(s));
}

static int
write_encrypted_key(const char *path, EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	int rv = -1;

	if (bio != NULL && PEM_write_bio_PKCS8PrivateKey(bio, key,
	    EVP_aes_256_cbc(), "secret", 6, NULL, NULL) == 1 &&
	    (n = BIO_get_mem_data(bio, &data)) > 0 &&
	    tu_write(path, data, (size_t)n) == 0 && chmod(path, 0600) == 0)
		rv = 0;
	BIO_free(bio);
	return rv;
}

static enum pki_verdict
verify(const struct pki_trust *t, X509 *x, enum pki_purpose p,
    const char *name)
{
	return pki_verify(t, x, p, name, 0, reason, sizeof(reason));
}

static int
setup(void **state)
{
	(void)state;
	g.now = time(NULL);
	g.dir = tu_mkdtemp("pki");
	if ((g.ca_key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL ||
	    (g.other_key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL ||
	    (g.leaf_key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL)
		return -1;
	g.ca = make_ca("Test Root", g.ca_key, NULL, NULL);
	g.other_ca = make_ca("Other Root", g.other_key, NULL, NULL);
	snprintf(g.ca_path, sizeof(g.ca_path), "%s/ca.pem", g.dir);
	snprintf(g.other_path, sizeof(g.other_path), "%s/other.pem", g.dir);
	if (pki_write_cert(g.ca_path, g.ca, 0, err, sizeof(err)) == -1 ||
	    pki_write_cert(g.other_path, g.other_ca, 0, err, sizeof(err)) == -1)
		return -1;
	if ((g.trust = pki_trust_load(g.ca_path, NULL, err,
	    sizeof(err))) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	pki_trust_free(g.trust);
	X509_free(g.ca);
	X509_free(g.other_ca);
	EVP_PKEY_free(g.ca_key);
	EVP_PKEY_free(g.other_key);
	EVP_PKEY_free(g.leaf_key);
	tu_rmrf(g.dir);
	free(g.dir);
	return 0;
}

static void
test_good_server(void **state)
{
	X509 *x = leaf("server.example", "DNS:server.example,IP:127.0.0.1,"
	    "IP:::1", PKI_PURPOSE_SERVER);

	(void)state;
	assert_int_equal(verify(g.trust, x, PKI_PURPOSE_SERVER,
	    "server.example"), PKI_OK);
	assert_string_equal(reason, "ok");
	assert_int_equal(verify(g.trust, x, PKI_PURPOSE_SERVER, "127.0.0.1"),
	    PKI_OK);
	assert_int_equal(verify(g.trust, x, PKI_PURPOSE_SERVER, "::1"), PKI_OK);
	assert_int_equal(verify(g.trust, x, PKI_PURPOSE_SERVER, NULL), PKI_OK);
	assert_int_equal(verify(g.trust, x, PKI_PURPOSE_ANY, NULL), PKI_OK);
	/* Case-insensitive DNS match, as RFC 6125 wants. */
	assert_int_equal(verify(g.trust, x, PKI_PURPOSE_SERVER,
	    "SERVER.example"), PKI_OK);
	X509_free(x);
}

static void
test_purpose(void **state)
{
	X509 *c = leaf("alice", NULL, PKI_PURPOSE_CLIENT);
	X509 *s = leaf("server.example", "DNS:server.example",
	    PKI_PURPOSE_SERVER);

	(void)state;
	assert_int_equal(verify(g.trust, c, PKI_PURPOSE_CLIENT, NULL), PKI_OK);
	assert_int_equal(verify(g.trust, c, PKI_PURPOSE_SERVER, NULL),
	    PKI_WRONG_PURPOSE);
	assert_true(tu_contains(reason, "server"));
	assert_int_equal(verify(g.trust, s, PKI_PURPOSE_CLIENT, NULL),
	    PKI_WRONG_PURPOSE);
	assert_true(tu_contains(reason, "client"));
	X509_free(c);
	X509_free(s);
}

static void
test_validity(void **state)
{
	X509 *old = make("old.example", "DNS:old.example", PKI_PURPOSE_SERVER,
	    g.now - 10 * DAY, g.now - 9 * DAY, g.ca, g.ca_key);
	X509 *future = make("new.example", "DNS:new.example",
	    PKI_PURPOSE_SERVER, g.now + DAY, g.now + 10 * DAY, g.ca, g.ca_key);
	char when[64];

	(void)state;
	assert_int_equal(verify(g.trust, old, PKI_PURPOSE_SERVER,
	    "old.example"), PKI_EXPIRED);
	assert_true(tu_contains(reason, "expired on"));
	assert_int_equal(pki_time_str(X509_get0_notAfter(old), when,
	    sizeof(when)), 0);
	assert_true(tu_contains(reason, when));
	assert_true(tu_contains(reason, "UTC"));
	/*
	 * now_or_0 is honoured: back then the leaf was fine but the CA (made
	 * 5 minutes ago) did not exist yet, and the reason says which.
	 */
	assert_int_equal(pki_verify(g.trust, old, PKI_PURPOSE_SERVER, NULL,
	    g.now - 9 * DAY - 3600, reason, sizeof(reason)), PKI_NOT_YET_VALID);
	assert_true(tu_contains(reason, "CA certificate is not valid before"));

	assert_int_equal(verify(g.trust, future, PKI_PURPOSE_SERVER, NULL),
	    PKI_NOT_YET_VALID);
	assert_true(tu_contains(reason, "not valid before"));
	assert_int_equal(pki_verify(g.trust, future, PKI_PURPOSE_SERVER, NULL,
	    g.now + 2 * DAY, reason, sizeof(reason)), PKI_OK);
	X509_free(old);
	X509_free(future);
}

static void
test_unknown_issuer(void **state)
{
	X509 *x = make("server.example", "DNS:server.example",
	    PKI_PURPOSE_SERVER, g.now - 300, g.now + DAY, g.other_ca,
	    g.other_key);
	struct pki_trust *other;

	(void)state;
	assert_int_equal(verify(g.trust, x, PKI_PURPOSE_SERVER,
	    "server.example"), PKI_UNKNOWN_ISSUER);
	assert_true(tu_contains(reason, "Other Root"));
	/* The same certificate is fine for a peer that trusts the other CA. */
	other = pki_trust_load(g.other_path, NULL, err, sizeof(err));
	assert_non_null(other);
	assert_int_equal(verify(other, x, PKI_PURPOSE_SERVER, "server.example"),
	    PKI_OK);
	pki_trust_free(other);
	X509_free(x);
}

static void
test_self_signed(void **state)
{
	X509 *x = make("server.example", "DNS:server.example",
	    PKI_PURPOSE_SERVER, g.now - 300, g.now + DAY, NULL, NULL);

	(void)state;
	assert_int_equal(verify(g.trust, x, PKI_PURPOSE_SERVER,
	    "server.example"), PKI_SELF_SIGNED);
	/* The trusted root itself is no peer either. */
	assert_int_equal(verify(g.trust, g.ca, PKI_PURPOSE_ANY, NULL),
	    PKI_SELF_SIGNED);
	X509_free(x);
}

static void
test_names(void **state)
{
	X509 *s = leaf("server.example", "DNS:server.example,IP:10.0.0.1",
	    PKI_PURPOSE_SERVER);
	X509 *cn_only = leaf("cn.example", NULL, PKI_PURPOSE_SERVER);
	X509 *ip_only = leaf("ip.example", "IP:10.0.0.2", PKI_PURPOSE_SERVER);
	X509 *wild = leaf("wild", "DNS:*.chat.example", PKI_PURPOSE_SERVER);

	(void)state;
	assert_int_equal(verify(g.trust, s, PKI_PURPOSE_SERVER, "evil.example"),
	    PKI_NAME_MISMATCH);
	assert_true(tu_contains(reason, "evil.example"));
	assert_int_equal(verify(g.trust, s, PKI_PURPOSE_SERVER, "10.0.0.9"),
	    PKI_NAME_MISMATCH);
	/* An IP literal matches IP SANs only, never a DNS SAN or the CN. */
	assert_int_equal(verify(g.trust, s, PKI_PURPOSE_SERVER, "10.0.0.1"),
	    PKI_OK);
	/* No SAN at all: the CN is the name. */
	assert_int_equal(verify(g.trust, cn_only, PKI_PURPOSE_SERVER,
	    "cn.example"), PKI_OK);
	assert_int_equal(verify(g.trust, cn_only, PKI_PURPOSE_SERVER,
	    "other.example"), PKI_NAME_MISMATCH);
	/* Any SAN (even only an IP one) turns the CN off. */
	assert_int_equal(verify(g.trust, ip_only, PKI_PURPOSE_SERVER,
	    "ip.example"), PKI_NAME_MISMATCH);
	assert_int_equal(verify(g.trust, ip_only, PKI_PURPOSE_SERVER,
	    "10.0.0.2"), PKI_OK);
	/* Wildcards cover exactly one label. */
	assert_int_equal(verify(g.trust, wild, PKI_PURPOSE_SERVER,
	    "a.chat.example"), PKI_OK);
	assert_int_equal(verify(g.trust, wild, PKI_PURPOSE_SERVER,
	    "a.b.chat.example"), PKI_NAME_MISMATCH);
	assert_int_equal(verify(g.trust, wild, PKI_PURPOSE_SERVER,
	    "chat.example"), PKI_NAME_MISMATCH);
	assert_int_equal(verify(g.trust, s, PKI_PURPOSE_SERVER, ""),
	    PKI_INVALID);
	X509_free(s);
	X509_free(cn_only);
	X509_free(ip_only);
	X509_free(wild);
}

static void
test_revoked(void **state)
{
	X509 *bad = leaf("mallory", NULL, PKI_PURPOSE_CLIENT);
	X509 *good = leaf("alice", NULL, PKI_PURPOSE_CLIENT);
	struct pki_revoked rev[2];
	struct pki_trust *t;
	X509_CRL *crl;
	char serial[80], path[600];

	(void)state;
	assert_int_equal(pki_serial_hex(X509_get0_serialNumber(bad), serial,
	    sizeof(serial)), 0);
	rev[0].serial_hex = "0A0B0C";
	rev[0].when = g.now - DAY;
	rev[1].serial_hex = serial;
	rev[1].when = g.now - 60;
	crl = pki_make_crl(g.ca, g.ca_key, rev, 2, 7, g.now - 300,
	    g.now + 30 * DAY, err, sizeof(err));
	assert_non_null(crl);
	snprintf(path, sizeof(path), "%s/crl.pem", g.dir);
	assert_int_equal(pki_write_crl(path, crl, 1, err, sizeof(err)), 0);
	t = pki_trust_load(g.ca_path, path, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(pki_trust_check_crl(t, 0, reason, sizeof(reason)), 0);
	assert_int_equal(verify(t, bad, PKI_PURPOSE_CLIENT, NULL), PKI_REVOKED);
	assert_true(tu_contains(reason, serial));
	assert_true(tu_contains(reason, "revoked on"));
	assert_int_equal(verify(t, good, PKI_PURPOSE_CLIENT, NULL), PKI_OK);
	/* Without the CRL the revoked certificate would pass. */
	assert_int_equal(verify(g.trust, bad, PKI_PURPOSE_CLIENT, NULL), PKI_OK);
	pki_trust_free(t);
	X509_CRL_free(crl);
	X509_free(bad);
	X509_free(good);
}

static struct pki_trust *
trust_with_crl(X509_CRL *crl, const char *file)
{
	char path[600];
	struct pki_trust *t;

	snprintf(path, sizeof(path), "%s/%s", g.dir, file);
	assert_int_equal(pki_write_crl(path, crl, 1, err, sizeof(err)), 0);
	t = pki_trust_load(g.ca_path, path, err, sizeof(err));
	X509_CRL_free(crl);
	return t;
}

static void
test_crl_problems(void **state)
{
	X509 *x = leaf("alice", NULL, PKI_PURPOSE_CLIENT);
	struct pki_trust *t;
	X509_CRL *crl;

	(void)state;
	/* Issuer name of our CA, signed with another key. */
	crl = pki_make_crl(g.ca, g.other_key, NULL, 0, 1, g.now - 300,
	    g.now + DAY, err, sizeof(err));
	assert_non_null(crl);
	t = trust_with_crl(crl, "forged.pem");
	assert_non_null(t);
	assert_int_equal(verify(t, x, PKI_PURPOSE_CLIENT, NULL),
	    PKI_CRL_PROBLEM);
	assert_true(tu_contains(reason, "CRL"));
	assert_int_equal(pki_trust_check_crl(t, 0, reason, sizeof(reason)), -1);
	assert_true(tu_contains(reason, "signature"));
	pki_trust_free(t);

	/* Expired: its nextUpdate is in the past. */
	crl = pki_make_crl(g.ca, g.ca_key, NULL, 0, 1, g.now - 20 * DAY,
	    g.now - 10 * DAY, err, sizeof(err));
	assert_non_null(crl);
	t = trust_with_crl(crl, "stale.pem");
	assert_non_null(t);
	assert_int_equal(verify(t, x, PKI_PURPOSE_CLIENT, NULL),
	    PKI_CRL_PROBLEM);
	assert_true(tu_contains(reason, "CRL expired on"));
	assert_int_equal(pki_trust_check_crl(t, 0, reason, sizeof(reason)), -1);
	assert_true(tu_contains(reason, "expired"));
	pki_trust_free(t);

	/* A CRL of another CA is refused when loading. */
	crl = pki_make_crl(g.other_ca, g.other_key, NULL, 0, 1, g.now - 300,
	    g.now + DAY, err, sizeof(err));
	assert_non_null(crl);
	assert_null(trust_with_crl(crl, "foreign.pem"));
	assert_true(tu_contains(err, "issuer"));
	X509_free(x);
}

static void
test_bad_signature(void **state)
{
	X509 *x = leaf("server.example", "DNS:server.example",
	    PKI_PURPOSE_SERVER), *y;
	uint8_t der[PKI_MAX_CERT_DER];
	size_t len;

	(void)state;
	assert_int_equal(pki_cert_to_der(x, der, sizeof(der), &len), 0);
	der[len - 1] ^= 0x01;		/* last byte of the signature */
	y = pki_cert_from_der(der, len, err, sizeof(err));
	assert_non_null(y);
	assert_int_equal(verify(g.trust, y, PKI_PURPOSE_SERVER,
	    "server.example"), PKI_BAD_SIGNATURE);
	assert_true(tu_contains(reason, "signature"));
	X509_free(x);
	X509_free(y);
}

static void
test_chain_too_long(void **state)
{
	X509 *inter = make_ca("Intermediate", g.other_key, g.ca, g.ca_key);
	X509 *x = make("server.example", "DNS:server.example",
	    PKI_PURPOSE_SERVER, g.now - 300, g.now + DAY, inter, g.other_key);
	struct pki_trust *t;
	char path[600], *a, *b, *both;
	size_t la, lb;

	(void)state;
	/* Root alone: the intermediate is not sent, so the issuer is unknown. */
	assert_int_equal(verify(g.trust, x, PKI_PURPOSE_SERVER, NULL),
	    PKI_UNKNOWN_ISSUER);
	/* Root and intermediate both trusted: still one level too deep. */
	snprintf(path, sizeof(path), "%s/inter.pem", g.dir);
	assert_int_equal(pki_write_cert(path, inter, 0, err, sizeof(err)), 0);
	a = tu_read(g.ca_path, &la);
	b = tu_read(path, &lb);
	assert_non_null(a);
	assert_non_null(b);
	both = malloc(la + lb);
	assert_non_null(both);
	memcpy(both, a, la);
	memcpy(both + la, b, lb);
	snprintf(path, sizeof(path), "%s/bundle.pem", g.dir);
	assert_int_equal(tu_write(path, both, la + lb), 0);
	t = pki_trust_load(path, NULL, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(verify(t, x, PKI_PURPOSE_SERVER, NULL),
	    PKI_CHAIN_TOO_LONG);
	pki_trust_free(t);
	free(a);
	free(b);
	free(both);
	X509_free(inter);
	X509_free(x);
}

static void
test_der(void **state)
{
	X509 *x = leaf("alice", NULL, PKI_PURPOSE_CLIENT), *y;
	uint8_t der[PKI_MAX_CERT_DER + 16], fp1[32], fp2[32];
	size_t len;

	(void)state;
	assert_int_equal(pki_cert_to_der(x, der, sizeof(der), &len), 0);
	assert_int_equal(pki_cert_to_der(x, der, len - 1, &len), -1);
	assert_int_equal(pki_cert_to_der(x, der, sizeof(der), &len), 0);
	y = pki_cert_from_der(der, len, err, sizeof(err));
	assert_non_null(y);
	assert_int_equal(X509_cmp(x, y), 0);
	X509_free(y);
	/* Trailing bytes, truncation, emptiness, and size over the cap. */
	der[len] = 0;
	assert_null(pki_cert_from_der(der, len + 1, err, sizeof(err)));
	assert_true(tu_contains(err, "trailing"));
	assert_null(pki_cert_from_der(der, len - 1, err, sizeof(err)));
	assert_null(pki_cert_from_der(der, 0, err, sizeof(err)));
	assert_null(pki_cert_from_der(der, PKI_MAX_CERT_DER + 1, err,
	    sizeof(err)));
	assert_true(tu_contains(err, "8192"));
	/* The fingerprint is SHA-256 of exactly these bytes. */
	assert_int_equal(pki_fingerprint(x, fp1), 0);
	assert_int_equal(EVP_Digest(der, len, fp2, NULL, EVP_sha256(), NULL),
	    1);
	assert_memory_equal(fp1, fp2, 32);
	X509_free(x);
}

static void
test_load_files(void **state)
{
	X509 *x = leaf("alice", NULL, PKI_PURPOSE_CLIENT), *y;
	uint8_t der[PKI_MAX_CERT_DER];
	char path[600];
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.pem", g.dir);
	assert_null(pki_load_cert(path, err, sizeof(err)));
	assert_true(tu_contains(err, "No such file"));
	snprintf(path, sizeof(path), "%s/garbage.pem", g.dir);
	assert_int_equal(write_str(path, "hello\n"), 0);
	assert_null(pki_load_cert(path, err, sizeof(err)));
	assert_null(pki_trust_load(path, NULL, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/badpem.pem", g.dir);
	assert_int_equal(write_str(path, "-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n"), 0);
	assert_null(pki_load_cert(path, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/empty.pem", g.dir);
	assert_int_equal(tu_write(path, "", 0), 0);
	assert_null(pki_load_cert(path, err, sizeof(err)));
	assert_true(tu_contains(err, "empty"));
	/* DER file and PEM file give the same certificate. */
	assert_int_equal(pki_cert_to_der(x, der, sizeof(der), &len), 0);
	snprintf(path, sizeof(path), "%s/alice.der", g.dir);
	assert_int_equal(tu_write(path, der, len), 0);
	y = pki_load_cert(path, err, sizeof(err));
	assert_non_null(y);
	assert_int_equal(X509_cmp(x, y), 0);
	X509_free(y);
	y = pki_load_cert(g.ca_path, err, sizeof(err));
	assert_non_null(y);
	assert_int_equal(X509_cmp(g.ca, y), 0);
	X509_free(y);
	/* A leaf is no trust anchor. */
	snprintf(path, sizeof(path), "%s/leaf-as-ca.pem", g.dir);
	assert_int_equal(pki_write_cert(path, x, 0, err, sizeof(err)), 0);
	assert_null(pki_trust_load(path, NULL, err, sizeof(err)));
	assert_true(tu_contains(err, "not a CA"));
	X509_free(x);
}

static void
test_keys(void **state)
{
	X509 *x = leaf("alice", NULL, PKI_PURPOSE_CLIENT);
	EVP_PKEY *k;
	struct stat st;
	char path[600], *before, *after;
	size_t lb, la;

	(void)state;
	snprintf(path, sizeof(path), "%s/alice.key", g.dir);
	assert_int_equal(pki_write_key(path, g.leaf_key, 0, err, sizeof(err)),
	    0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	k = pki_load_key(path, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(pki_key_matches_cert(k, x), 1);
	assert_int_equal(pki_key_matches_cert(g.ca_key, x), 0);
	assert_int_equal(pki_key_matches_cert(k, g.ca), 0);
	EVP_PKEY_free(k);

	/* Never truncated: O_EXCL refuses, the old content survives. */
	before = tu_read(path, &lb);
	assert_int_equal(pki_write_key(path, g.ca_key, 0, err, sizeof(err)),
	    -1);
	assert_true(tu_contains(err, "exists"));
	after = tu_read(path, &la);
	assert_int_equal(la, lb);
	assert_memory_equal(before, after, lb);
	free(after);
	/* --force replaces it whole, still 0600. */
	assert_int_equal(pki_write_key(path, g.ca_key, 1, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	k = pki_load_key(path, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(pki_key_matches_cert(k, g.ca), 1);
	EVP_PKEY_free(k);
	free(before);

	/* A key others can read is refused. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_null(pki_load_key(path, err, sizeof(err)));
	assert_true(tu_contains(err, "group or other"));
	assert_int_equal(chmod(path, 0604), 0);
	assert_null(pki_load_key(path, err, sizeof(err)));
	/* An encrypted key is refused without asking for a passphrase. */
	snprintf(path, sizeof(path), "%s/encrypted.key", g.dir);
	assert_int_equal(write_encrypted_key(path, g.leaf_key), 0);
	assert_null(pki_load_key(path, err, sizeof(err)));
	assert_true(tu_contains(err, "encrypted"));
	/* Garbage and a certificate are no keys; neither is a missing file. */
	snprintf(path, sizeof(path), "%s/garbage.key", g.dir);
	/* A fake (two bytes of body), split so key scanners skip it. */
	assert_int_equal(write_str(path, "-----BEGIN " "PRIVATE KEY-----\nAA\n"
	    "-----END " "PRIVATE KEY-----\n"), 0);
	assert_int_equal(chmod(path, 0600), 0);
	assert_null(pki_load_key(path, err, sizeof(err)));
	assert_null(pki_load_key(g.ca_path, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/nokey", g.dir);
	assert_null(pki_load_key(path, err, sizeof(err)));
	X509_free(x);
}

static void
test_make_cert_checks(void **state)
{
	struct pki_cert_spec spec;
	X509 *a, *b;
	char sa[80], sb[80], cn[80];

	(void)state;
	memset(&spec, 0, sizeof(spec));
	spec.cn = "alice";
	spec.purpose = PKI_PURPOSE_CLIENT;
	spec.not_before = g.now;
	spec.not_after = g.now + DAY;
	/* Issuer key that does not belong to the issuer certificate. */
	assert_null(pki_make_cert(&spec, g.leaf_key, g.ca, g.other_key, err,
	    sizeof(err)));
	assert_true(tu_contains(err, "does not match"));
	spec.san = "URI:http://x";
	assert_null(pki_make_cert(&spec, g.leaf_key, g.ca, g.ca_key, err,
	    sizeof(err)));
	spec.san = "DNS:@section";
	assert_null(pki_make_cert(&spec, g.leaf_key, g.ca, g.ca_key, err,
	    sizeof(err)));
	spec.san = "IP:999.1.1.1";
	assert_null(pki_make_cert(&spec, g.leaf_key, g.ca, g.ca_key, err,
	    sizeof(err)));
	spec.san = NULL;
	spec.cn = "bad\ncn";
	assert_null(pki_make_cert(&spec, g.leaf_key, g.ca, g.ca_key, err,
	    sizeof(err)));
	spec.cn = "alice";
	spec.not_after = g.now - 1;
	assert_null(pki_make_cert(&spec, g.leaf_key, g.ca, g.ca_key, err,
	    sizeof(err)));
	assert_null(pki_rsa_keygen(1024, err, sizeof(err)));

	/* Serials: random, positive, about 128 bits, never repeated. */
	a = leaf("alice", NULL, PKI_PURPOSE_CLIENT);
	b = leaf("alice", NULL, PKI_PURPOSE_CLIENT);
	assert_int_equal(pki_serial_hex(X509_get0_serialNumber(a), sa,
	    sizeof(sa)), 0);
	assert_int_equal(pki_serial_hex(X509_get0_serialNumber(b), sb,
	    sizeof(sb)), 0);
	assert_string_not_equal(sa, sb);
	assert_true(strlen(sa) >= 30 && strlen(sa) <= 32);
	assert_true(sa[0] != '-');
	assert_int_equal(pki_cert_cn(a, cn, sizeof(cn)), 0);
	assert_string_equal(cn, "alice");
	assert_int_equal(pki_cert_cn(a, cn, 5), -1);	/* does not fit */
	X509_free(a);
	X509_free(b);
}

static void
test_verdict_names(void **state)
{
	const char *seen[PKI_INVALID + 1];
	int i, j;

	(void)state;
	for (i = PKI_OK; i <= PKI_INVALID; i++) {
		seen[i] = pki_verdict_name((enum pki_verdict)i);
		assert_non_null(seen[i]);
		for (j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	assert_string_equal(pki_verdict_name(PKI_OK), "ok");
	assert_string_equal(pki_verdict_name(PKI_EXPIRED), "expired");
	assert_string_equal(pki_verdict_name(PKI_REVOKED), "revoked");
	assert_string_equal(pki_verdict_name((enum pki_verdict)99), "invalid");
	/* A missing certificate or trust is rejected, not crashed on. */
	assert_int_equal(verify(g.trust, NULL, PKI_PURPOSE_ANY, NULL),
	    PKI_INVALID);
	assert_int_equal(verify(NULL, g.ca, PKI_PURPOSE_ANY, NULL),
	    PKI_INVALID);
	assert_int_equal(verify(g.trust, g.ca, (enum pki_purpose)42, NULL),
	    PKI_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_server),
		cmocka_unit_test(test_purpose),
		cmocka_unit_test(test_validity),
		cmocka_unit_test(test_unknown_issuer),
		cmocka_unit_test(test_self_signed),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_crl_problems),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_chain_too_long),
		cmocka_unit_test(test_der),
		cmocka_unit_test(test_load_files),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_make_cert_checks),
		cmocka_unit_test(test_verdict_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
