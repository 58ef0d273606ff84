/*
 * test_attack_certs.c: certificates an attacker presents, both ways.
 *
 * Client side of the daemon: a CLIENT_HELLO carrying each bad
 * certificate is answered with the exact error code (BAD_CERT, or
 * TOO_LARGE/PROTOCOL when the hello itself is malformed), the audit log
 * records why (the pki verdict), and afterwards the daemon, its helpers
 * and the witness session work and nothing already written changed
 * (arena_check).  The worker reads the CRL at each connection, so a
 * revocation takes effect for the next connection without a SIGHUP.
 *
 * Server side of the client: a fake server (hfake) presents a bad
 * certificate or signature to the real client engine (csession) and to
 * sc-client, which must refuse it with BAD_CERT / SIG_FAIL / VERSION /
 * PROTOCOL and say so to the server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "hostile.h"

#define DAY	86400

static struct arena A;
static struct hid ca;		/* the arena's CA, with its key */

static int
setup(void **state)
{
	(void)state;
	if (arena_setup(&A, "attack-certs", "crl @CA@/crl.pem\n") == -1)
		return -1;
	if (hid_load_ca(&ca, &A, "ca") == -1 || hostile_rsa_key(0) == NULL) {
		arena_teardown(&A);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	hid_free(&ca);
	arena_teardown(&A);
	return 0;
}

/*
 * A CLIENT_HELLO with these certificate bytes; the server's answer.
 * serial gets the audit needle of this connection's lines.
 */
static int
try_cert(const struct hsnap *s, const uint8_t *der, size_t len, char *serial,
    size_t serialsz)
{
	struct hconn h;
	struct hhello hh;
	int code;

	if (hconn_connect(&h, A.env.port) == -1)
		return -100;
	if (arena_serial_of(&A, s, h.fd, serial, serialsz, 10000) == -1)
		return -104;
	if (hconn_hello_init(&h, &hh, NULL) == -1)
		return -101;
	hh.cert = der;
	hh.certlen = len;
	if (hconn_send_hello(&h, &hh) == -1)
		return -102;
	code = hostile_read_error(h.fd, 20000, NULL, 0);
	/* The worker closes right after its ERROR. */
	if (code > 0 && !hostile_wait_eof(h.fd, 20000))
		code = -103;
	hconn_close(&h);
	return code;
}

/*
 * The whole case: the answer is want, the audit log has a line with
 * event and (when not NULL) the pki verdict, and nothing else suffered.
 */
static void
expect_cert(const uint8_t *der, size_t len, int want, const char *event,
    const char *verdict)
{
	struct hsnap s;
	char ev[64], vd[64], code[64], serial[64];

	/* event names the verdict's line; without a verdict, the code's. */
	snprintf(ev, sizeof(ev), "\"event\":\"%s\"", event);
	snprintf(vd, sizeof(vd), "\"verdict\":\"%s\"", verdict ? verdict : "");
	snprintf(code, sizeof(code), "\"code\":\"%s\"", sc_err_name(want));
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_int_equal(try_cert(&s, der, len, serial, sizeof(serial)),
	    want);
	if (verdict != NULL)
		assert_int_equal(arena_audit_wait(&A, &s, 10000, serial, ev, vd,
		    NULL), 0);
	else
		assert_int_equal(arena_audit_wait(&A, &s, 10000, serial,
		    "\"proc\":\"worker\"", code, NULL), 0);
	/* The worker ended it (exit 1: a refusal, not a crash)... */
	assert_int_equal(arena_audit_wait(&A, &s, 10000, serial,
	    "\"event\":\"session_end\"", "\"status\":\"exit 1\"", NULL), 0);
	/* ...and it never became a session. */
	assert_int_equal(arena_audit_count(&A, &s, serial, "\"handshake_ok\"",
	    NULL), 0);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
spec_init(struct pki_cert_spec *sp, const char *cn, enum pki_purpose p,
    time_t from, time_t to)
{
	memset(sp, 0, sizeof(*sp));
	sp->cn = cn;
	sp->purpose = p;
	sp->not_before = from;
	sp->not_after = to;
}

/* Control: a certificate made here the same way, but valid, is accepted. */
static void
test_control_valid_cert_accepted(void **state)
{
	struct pki_cert_spec sp;
	struct hid id;
	struct hconn h;
	time_t now = time(NULL);

	(void)state;
	spec_init(&sp, "control", PKI_PURPOSE_CLIENT, now - DAY, now + DAY);
	assert_int_equal(hid_make(&id, &sp, hostile_rsa_key(0), &ca), 0);
	assert_int_equal(hconn_handshake(&h, A.env.port, &id), 0);
	assert_true(h.server_sig_ok);
	hconn_close(&h);
	hid_free(&id);
}

static void
test_self_signed(void **state)
{
	struct pki_cert_spec sp;
	struct hid id;
	time_t now = time(NULL);

	(void)state;
	spec_init(&sp, "selfie", PKI_PURPOSE_CLIENT, now - DAY, now + DAY);
	assert_int_equal(hid_make(&id, &sp, hostile_rsa_key(0), NULL), 0);
	expect_cert(id.der, id.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "self-signed");
	hid_free(&id);
	/* The CA's own certificate is no client either. */
	expect_cert(ca.der, ca.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "self-signed");
}

static void
test_expired(void **state)
{
	struct pki_cert_spec sp;
	struct hid id;
	time_t now = time(NULL);

	(void)state;
	spec_init(&sp, "expired", PKI_PURPOSE_CLIENT, now - 10 * DAY,
	    now - DAY);
	assert_int_equal(hid_make(&id, &sp, hostile_rsa_key(0), &ca), 0);
	expect_cert(id.der, id.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "expired");
	hid_free(&id);
}

static void
test_not_yet_valid(void **state)
{
	struct pki_cert_spec sp;
	struct hid id;
	time_t now = time(NULL);

	(void)state;
	spec_init(&sp, "future", PKI_PURPOSE_CLIENT, now + DAY,
	    now + 30 * DAY);
	assert_int_equal(hid_make(&id, &sp, hostile_rsa_key(0), &ca), 0);
	expect_cert(id.der, id.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "not-yet-valid");
	hid_free(&id);
}

static void
test_other_ca(void **state)
{
	struct pki_cert_spec sp;
	struct hid other, id;
	time_t now = time(NULL);

	(void)state;
	spec_init(&sp, "SecureChat Test CA", PKI_PURPOSE_ANY, now - DAY,
	    now + DAY);
	sp.is_ca = 1;
	/* Same name as the real CA: only the key tells them apart. */
	assert_int_equal(hid_make(&other, &sp, hostile_rsa_key(1), NULL), 0);
	spec_init(&sp, "alice", PKI_PURPOSE_CLIENT, now - DAY, now + DAY);
	assert_int_equal(hid_make(&id, &sp, hostile_rsa_key(0), &other), 0);
	/* Its authority key id names another key: no issuer found. */
	expect_cert(id.der, id.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "unknown-issuer");
	hid_free(&id);
	hid_free(&other);

	/* A CA of another name. */
	spec_init(&sp, "Other CA", PKI_PURPOSE_ANY, now - DAY, now + DAY);
	sp.is_ca = 1;
	assert_int_equal(hid_make(&other, &sp, hostile_rsa_key(1), NULL), 0);
	spec_init(&sp, "mallory", PKI_PURPOSE_CLIENT, now - DAY, now + DAY);
	assert_int_equal(hid_make(&id, &sp, hostile_rsa_key(0), &other), 0);
	expect_cert(id.der, id.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "unknown-issuer");
	hid_free(&id);
	hid_free(&other);
}

/* A leaf (CA:FALSE) used as an issuer: alice "signs" a certificate. */
static void
test_issuer_not_a_ca(void **state)
{
	struct pki_cert_spec sp;
	struct hid alice, id;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(hid_load_ca(&alice, &A, "alice"), 0);
	spec_init(&sp, "alices-minion", PKI_PURPOSE_CLIENT, now - DAY,
	    now + DAY);
	assert_int_equal(hid_make(&id, &sp, hostile_rsa_key(0), &alice), 0);
	/*
	 * The hello carries one certificate; alice's is not a trust
	 * anchor, so the issuer cannot be found.
	 */
	expect_cert(id.der, id.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "unknown-issuer");
	hid_free(&id);
	hid_free(&alice);
}

/* A server certificate (serverAuth only) presented by a client. */
static void
test_wrong_purpose(void **state)
{
	struct pki_cert_spec sp;
	struct hid server, id;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(hid_load_ca(&server, &A, "server"), 0);
	expect_cert(server.der, server.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "wrong-purpose");
	hid_free(&server);
	/* Same with a fresh one, for a name a client could hold. */
	spec_init(&sp, "alice", PKI_PURPOSE_SERVER, now - DAY, now + DAY);
	sp.san = "DNS:alice.example";
	assert_int_equal(hid_make(&id, &sp, hostile_rsa_key(0), &ca), 0);
	expect_cert(id.der, id.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "wrong-purpose");
	hid_free(&id);
}

static void
test_revoked(void **state)
{
	struct csession_err err;
	struct csession *cs;
	struct tu_result r;
	struct hsnap s;

	(void)state;
	assert_int_equal(scenv_issue(&A.env, "revokee", "--client"), 0);
	/* Before the revocation: accepted. */
	cs = arena_open(&A, "revokee", NULL);
	assert_non_null(cs);
	csession_free(cs);

	assert_int_equal(tu_sh(&r, NULL, "'%s' pki revoke --dir '%s' '%s'",
	    tu_bin("sc-admin"), A.env.ca, scenv_ca_file(&A.env,
	    "revokee.pem")), 0);
	tu_result_free(&r);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	/* The next connection already reads the new CRL. */
	cs = arena_open(&A, "revokee", &err);
	assert_null(cs);
	assert_int_equal(err.code, SC_E_BAD_CERT);
	assert_int_equal(err.remote, 1);
	assert_true(tu_contains(err.reason, "revoked"));
	assert_int_equal(arena_audit_wait(&A, &s, 10000,
	    "\"event\":\"cert_rejected\"", "\"verdict\":\"revoked\"", NULL), 0);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_bad_signature(void **state)
{
	struct hid alice;
	uint8_t *der;

	(void)state;
	assert_int_equal(hid_load_ca(&alice, &A, "alice"), 0);
	der = malloc(alice.derlen);
	assert_non_null(der);
	memcpy(der, alice.der, alice.derlen);
	/* The DER ends with the signature BIT STRING. */
	der[alice.derlen - 10] ^= 0x40;
	expect_cert(der, alice.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "bad-signature");
	/* A byte of the signed part (inside the public key) instead. */
	memcpy(der, alice.der, alice.derlen);
	der[alice.derlen / 2] ^= 0x01;
	expect_cert(der, alice.derlen, SC_E_BAD_CERT, "cert_rejected", NULL);
	free(der);
	hid_free(&alice);
}

/*
 * An intermediate CA under the real root, and a leaf under it.  The
 * trust model allows no intermediate (depth 0, pathlen 0) and the hello
 * carries one certificate: the leaf's issuer is unknown.
 */
static void
test_chain_too_long(void **state)
{
	struct pki_cert_spec sp;
	struct hid inter, id;
	time_t now = time(NULL);

	(void)state;
	spec_init(&sp, "Intermediate CA", PKI_PURPOSE_ANY, now - DAY,
	    now + DAY);
	sp.is_ca = 1;
	assert_int_equal(hid_make(&inter, &sp, hostile_rsa_key(1), &ca), 0);
	spec_init(&sp, "deep", PKI_PURPOSE_CLIENT, now - DAY, now + DAY);
	assert_int_equal(hid_make(&id, &sp, hostile_rsa_key(0), &inter), 0);
	expect_cert(id.der, id.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "unknown-issuer");
	/* The intermediate itself is a CA, never a peer. */
	expect_cert(inter.der, inter.derlen, SC_E_BAD_CERT, "cert_rejected",
	    "invalid");
	hid_free(&id);
	hid_free(&inter);
}

static void
test_garbage(void **state)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\n"
	    "MIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGUgZ2FyYmFnZTAKBggqhkjOPQQDAjAA\n"
	    "-----END CERTIFICATE-----\n";
	struct hid alice;
	uint8_t junk[600], *der;

	(void)state;
	assert_int_equal(RAND_bytes(junk, sizeof(junk)), 1);
	junk[0] = 0x30;		/* looks like a SEQUENCE for one byte */
	expect_cert(junk, sizeof(junk), SC_E_BAD_CERT, "cert_rejected", NULL);
	expect_cert((const uint8_t *)pem, sizeof(pem) - 1, SC_E_BAD_CERT,
	    "cert_rejected", NULL);
	memset(junk, 0, sizeof(junk));
	expect_cert(junk, 64, SC_E_BAD_CERT, "cert_rejected", NULL);

	/* A valid certificate with one byte more: exactly one DER. */
	assert_int_equal(hid_load_ca(&alice, &A, "alice"), 0);
	der = malloc(alice.derlen + 1);
	assert_non_null(der);
	memcpy(der, alice.der, alice.derlen);
	der[alice.derlen] = 0;
	expect_cert(der, alice.derlen + 1, SC_E_BAD_CERT, "cert_rejected",
	    NULL);
	/* Cut short by one byte. */
	expect_cert(der, alice.derlen - 1, SC_E_BAD_CERT, "cert_rejected",
	    NULL);
	free(der);
	hid_free(&alice);

	/* No certificate at all: the hello is malformed. */
	expect_cert(NULL, 0, SC_E_PROTOCOL, "bad_hello", NULL);
}

/*
 * A certificate over the protocol's 8192-byte limit, properly signed by
 * the CA: the hello parser answers TOO_LARGE before any X.509 code sees
 * it (the code the implementation uses for a field over its limit).
 */
static void
test_huge_certificate(void **state)
{
	struct pki_cert_spec sp;
	struct hid id;
	char san[12000], label[61];
	time_t now = time(NULL);
	uint8_t *blob;
	size_t n = 0;
	int i;

	(void)state;
	memset(label, 'x', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	/* 32 names (pki's limit) of 248 bytes: over 8192 bytes of DER. */
	for (i = 0; i < 32; i++)
		n += (size_t)snprintf(san + n, sizeof(san) - n,
		    "%sDNS:host%02d.%s.%s.%s.%.50s.example", i ? "," : "", i,
		    label, label, label, label);
	spec_init(&sp, "huge", PKI_PURPOSE_CLIENT, now - DAY, now + DAY);
	sp.san = san;
	assert_int_equal(hid_make(&id, &sp, hostile_rsa_key(0), &ca), 0);
	assert_true(id.derlen > SC_MAX_CERT);
	fprintf(stderr, "huge certificate: %zu bytes of DER\n", id.derlen);
	expect_cert(id.der, id.derlen, SC_E_TOO_LARGE, "bad_hello", NULL);
	hid_free(&id);

	/* 60000 bytes: still one frame, still TOO_LARGE. */
	blob = calloc(1, 60000);
	assert_non_null(blob);
	expect_cert(blob, 60000, SC_E_TOO_LARGE, "bad_hello", NULL);
	free(blob);
}

/* Keys the protocol cannot use, certified by the real CA. */
static void
test_weak_key(void **state)
{
	struct pki_cert_spec sp;
	struct hid id;
	EVP_PKEY *weak;
	time_t now = time(NULL);

	(void)state;
	/* RSA-1024: under security level 2. */
	weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(weak);
	spec_init(&sp, "weakling", PKI_PURPOSE_CLIENT, now - DAY, now + DAY);
	assert_int_equal(hid_make(&id, &sp, weak, &ca), 0);
	expect_cert(id.der, id.derlen, SC_E_BAD_CERT, "cert_rejected", NULL);
	hid_free(&id);
	EVP_PKEY_free(weak);

	/*
	 * An EC P-256 key, CA-issued and valid as X.509 goes: every
	 * signature of the protocol is RSA, so the worker refuses the key.
	 */
	weak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(weak);
	spec_init(&sp, "curvy", PKI_PURPOSE_CLIENT, now - DAY, now + DAY);
	assert_int_equal(hid_make(&id, &sp, weak, &ca), 0);
	expect_cert(id.der, id.derlen, SC_E_BAD_CERT, "cert_rejected", NULL);
	hid_free(&id);
	EVP_PKEY_free(weak);
}

/*
 * A certificate built by hand (pki_make_cert refuses such names): CN of
 * subject and issuer with a newline, an ESC sequence and a C1 control.
 */
static X509 *
raw_cert(const char *subject_cn, const char *issuer_cn, EVP_PKEY *key,
    EVP_PKEY *signer)
{
	X509 *x;
	X509_NAME *sn, *in;
	time_t now = time(NULL);

	x = X509_new();
	sn = X509_NAME_new();
	in = X509_NAME_new();
	assert_non_null(x);
	assert_non_null(sn);
	assert_non_null(in);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(sn, "CN", MBSTRING_UTF8,
	    (const unsigned char *)subject_cn, -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_UTF8,
	    (const unsigned char *)issuer_cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_subject_name(x, sn), 1);
	assert_int_equal(X509_set_issuer_name(x, in), 1);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600,
	    &now));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 1, 0, &now));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	X509_NAME_free(sn);
	X509_NAME_free(in);
	return x;
}

/* Names meant to forge log lines or drive a terminal stay inert. */
static void
test_hostile_names(void **state)
{
	static const char evil[] = "Evil\n[fake] session ok\x1b[31m\xc2\x9b";
	static const char evil_ca[] = "Evil CA\n[fake] ok\x1b]0;title\x07";
	X509 *x;
	unsigned char *der = NULL;
	char *log, *audit, *p;
	int n;

	(void)state;
	x = raw_cert(evil, evil_ca, hostile_rsa_key(0), hostile_rsa_key(1));
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	expect_cert(der, (size_t)n, SC_E_BAD_CERT, "cert_rejected",
	    "unknown-issuer");
	OPENSSL_free(der);
	X509_free(x);

	log = tu_read(A.env.log, NULL);
	audit = scenv_audit(&A.env);
	assert_non_null(log);
	/* No raw ESC, no forged line, in the log or the audit log. */
	assert_null(strchr(log, 0x1b));
	assert_null(strchr(audit, 0x1b));
	assert_null(strchr(log, 0x07));
	assert_false(tu_contains(log, "\n[fake]"));
	assert_false(tu_contains(audit, "\n[fake]"));
	/* Every audit line is one JSON object. */
	for (p = audit; *p != '\0'; p = strchr(p, '\n') + 1) {
		assert_int_equal(*p, '{');
		assert_non_null(strchr(p, '\n'));
	}
	free(log);
	free(audit);
}

/* ---- The client refusing a bad server ---- */

/*
 * Run the real client engine against a fake server presenting id (its
 * hello signed by signkey); return the client's error.
 */
static int
client_vs_fake(struct hfake *fk, struct csession_err *err)
{
	struct csession_opts o;
	struct csession *cs;
	char port[16];

	assert_int_equal(hfake_start(fk), 0);
	snprintf(port, sizeof(port), "%d", fk->port);
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = port;
	o.ca = scenv_ca_file(&A.env, "ca.pem");
	o.cert = scenv_ca_file(&A.env, "alice.pem");
	o.key = scenv_ca_file(&A.env, "alice.key");
	o.server_name = "localhost";
	o.timeout_ms = 20000;
	cs = csession_open(&o, err);
	hfake_wait(fk);
	if (cs != NULL) {
		csession_free(cs);
		return 0;
	}
	fprintf(stderr, "client: %s: %s\n", sc_err_name(err->code),
	    err->reason);
	assert_true(fk->served);
	/* The client refused before proving anything. */
	assert_false(fk->got_finish);
	assert_int_equal(err->remote, 0);
	/* And told the server why. */
	assert_int_equal(fk->client_error, err->code);
	return err->code;
}

static void
test_client_refuses_bad_servers(void **state)
{
	struct pki_cert_spec sp;
	struct csession_err err;
	struct hfake fk;
	struct hid server, evil, alice, old, selfie;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(hid_load_ca(&server, &A, "server"), 0);
	assert_int_equal(hid_load_ca(&alice, &A, "alice"), 0);

	/* Control: the real server certificate and key pass. */
	memset(&fk, 0, sizeof(fk));
	fk.id = &server;
	assert_int_equal(client_vs_fake(&fk, &err), 0);
	assert_true(fk.got_finish);

	/* A CA-signed server certificate for another name. */
	spec_init(&sp, "evil.example", PKI_PURPOSE_SERVER, now - DAY,
	    now + DAY);
	sp.san = "DNS:evil.example,IP:127.0.0.2";
	assert_int_equal(hid_make(&evil, &sp, hostile_rsa_key(0), &ca), 0);
	memset(&fk, 0, sizeof(fk));
	fk.id = &evil;
	assert_int_equal(client_vs_fake(&fk, &err), SC_E_BAD_CERT);
	assert_true(tu_contains(err.reason, "localhost"));

	/* A client certificate (clientAuth) presented by a server. */
	memset(&fk, 0, sizeof(fk));
	fk.id = &alice;
	assert_int_equal(client_vs_fake(&fk, &err), SC_E_BAD_CERT);
	/* Same with the right name in it: the purpose alone refuses it. */
	spec_init(&sp, "localhost", PKI_PURPOSE_CLIENT, now - DAY, now + DAY);
	sp.san = "DNS:localhost";
	hid_free(&evil);
	assert_int_equal(hid_make(&evil, &sp, hostile_rsa_key(0), &ca), 0);
	memset(&fk, 0, sizeof(fk));
	fk.id = &evil;
	assert_int_equal(client_vs_fake(&fk, &err), SC_E_BAD_CERT);
	assert_true(tu_contains(err.reason, "serverAuth"));

	/* Expired server certificate. */
	spec_init(&sp, "localhost", PKI_PURPOSE_SERVER, now - 10 * DAY,
	    now - DAY);
	sp.san = "DNS:localhost";
	assert_int_equal(hid_make(&old, &sp, hostile_rsa_key(0), &ca), 0);
	memset(&fk, 0, sizeof(fk));
	fk.id = &old;
	assert_int_equal(client_vs_fake(&fk, &err), SC_E_BAD_CERT);
	assert_true(tu_contains(err.reason, "expired"));

	/* Self-signed, right name and purpose. */
	spec_init(&sp, "localhost", PKI_PURPOSE_SERVER, now - DAY, now + DAY);
	sp.san = "DNS:localhost";
	assert_int_equal(hid_make(&selfie, &sp, hostile_rsa_key(0), NULL), 0);
	memset(&fk, 0, sizeof(fk));
	fk.id = &selfie;
	assert_int_equal(client_vs_fake(&fk, &err), SC_E_BAD_CERT);

	/* The real certificate, but the hello signed by another key. */
	memset(&fk, 0, sizeof(fk));
	fk.id = &server;
	fk.signkey = hostile_rsa_key(0);
	assert_int_equal(client_vs_fake(&fk, &err), SC_E_SIG_FAIL);

	/* The real server choosing a version we do not speak. */
	memset(&fk, 0, sizeof(fk));
	fk.id = &server;
	fk.version = 2;
	assert_int_equal(client_vs_fake(&fk, &err), SC_E_VERSION);

	/* A signed all-zero X25519 value. */
	memset(&fk, 0, sizeof(fk));
	fk.id = &server;
	fk.zero_kex = 1;
	assert_int_equal(client_vs_fake(&fk, &err), SC_E_PROTOCOL);

	hid_free(&server);
	hid_free(&evil);
	hid_free(&alice);
	hid_free(&old);
	hid_free(&selfie);
}

/* The same through sc-client, as a user would see it. */
static void
test_sc_client_refuses_wrong_name(void **state)
{
	struct pki_cert_spec sp;
	struct tu_result r;
	struct hfake fk;
	struct hid evil;
	time_t now = time(NULL);
	int saved;

	(void)state;
	spec_init(&sp, "evil.example", PKI_PURPOSE_SERVER, now - DAY,
	    now + DAY);
	sp.san = "DNS:evil.example";
	assert_int_equal(hid_make(&evil, &sp, hostile_rsa_key(0), &ca), 0);
	memset(&fk, 0, sizeof(fk));
	fk.id = &evil;
	assert_int_equal(hfake_start(&fk), 0);
	saved = A.env.port;
	A.env.port = fk.port;
	assert_int_not_equal(scenv_client(&A.env, &r, "alice", ARENA_PASS,
	    "never sent\n", "login --username " ARENA_USER), 0);
	A.env.port = saved;
	hfake_wait(&fk);
	assert_true(tu_contains(r.err, "BAD_CERT"));
	assert_false(fk.got_finish);
	assert_int_equal(fk.client_error, SC_E_BAD_CERT);
	tu_result_free(&r);
	hid_free(&evil);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_valid_cert_accepted),
		cmocka_unit_test(test_self_signed),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_not_yet_valid),
		cmocka_unit_test(test_other_ca),
		cmocka_unit_test(test_issuer_not_a_ca),
		cmocka_unit_test(test_wrong_purpose),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_chain_too_long),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_huge_certificate),
		cmocka_unit_test(test_weak_key),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_client_refuses_bad_servers),
		cmocka_unit_test(test_sc_client_refuses_wrong_name),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("attack_certs", tests, setup,
	    teardown);
}
