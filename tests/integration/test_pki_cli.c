/*
 * test_pki_cli.c: `sc-admin pki` end to end.  A CA and its leaves are made
 * in a temporary directory by the real binary, and every case is checked
 * twice: by `sc-admin pki verify` and by the stock openssl command
 * (`openssl verify`, `-crl_check`, `openssl crl -verify`), which must agree
 * on acceptance and on the reason for each rejection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"

static char *dir;

/* DIR/rel, from a small ring of buffers so that several fit in one call. */
static const char *
P(const char *rel)
{
	static char buf[8][1024];
	static int slot;
	char *p = buf[slot++ % 8];

	snprintf(p, 1024, "%s/%s", dir, rel);
	return p;
}

/* Run "sc-admin pki ARGS" (ARGS is printf-formatted, run by /bin/sh). */
static int __attribute__((format(printf, 2, 3)))
pki(struct tu_result *r, const char *fmt, ...)
{
	char *args = NULL;
	va_list ap;
	int rv;

	va_start(ap, fmt);
	if (vasprintf(&args, fmt, ap) == -1)
		abort();
	va_end(ap);
	rv = tu_sh(r, NULL, "cd %s && %s pki %s", dir, tu_bin("sc-admin"),
	    args);
	/* Under SANITIZE=1 a leak also exits 1: never mistake it for a verdict. */
	if (tu_contains(r->err, "Sanitizer"))
		fail_msg("sc-admin pki %s:\n%s", args, r->err);
	free(args);
	return rv;
}

/* Like pki() but the test fails unless it exits 0. */
static void __attribute__((format(printf, 1, 2)))
pki_ok(const char *fmt, ...)
{
	struct tu_result r;
	char *args = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&args, fmt, ap) == -1)
		abort();
	va_end(ap);
	if (pki(&r, "%s", args) != 0)
		fail_msg("sc-admin pki %s: exit %d\n%s%s", args, r.status,
		    r.out, r.err);
	tu_result_free(&r);
	free(args);
}

static int __attribute__((format(printf, 2, 3)))
sh(struct tu_result *r, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int rv;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) == -1)
		abort();
	va_end(ap);
	rv = tu_sh(r, NULL, "cd %s && %s", dir, cmd);
	free(cmd);
	return rv;
}

/* stdout of a shell command that must succeed, trailing newline cut. */
static char *
sh_out(const char *cmd)
{
	struct tu_result r;
	char *s;
	size_t n;

	if (sh(&r, "%s", cmd) != 0)
		fail_msg("%s: exit %d: %s", cmd, r.status, r.err);
	s = strdup(r.out);
	tu_result_free(&r);
	if ((n = strlen(s)) > 0 && s[n - 1] == '\n')
		s[n - 1] = '\0';
	return s;
}

static char *
serial_of(const char *cert)
{
	char cmd[1200], *s, *v;

	snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -serial", cert);
	s = sh_out(cmd);
	assert_true(strncmp(s, "serial=", 7) == 0);
	v = strdup(s + 7);
	free(s);
	return v;
}

static int
setup(void **state)
{
	char start[32], end[32];
	time_t t = time(NULL);
	struct tm tm;

	(void)state;
	dir = tu_mkdtemp("pkicli");
	pki_ok("init-ca --dir ca --cn 'Test CA' --key-bits 2048");
	pki_ok("init-ca --dir other --cn 'Other CA' --key-bits 2048 --days 30");
	pki_ok("issue --dir ca --name server --cn server.example "
	    "--san DNS:server.example,IP:127.0.0.1 --server");
	pki_ok("issue --dir ca --name alice --cn alice --client");
	/* Reuse alice's key for the odd ones: key generation is the cost. */
	pki_ok("issue --dir ca --name old --cn old.example --server "
	    "--valid-from -10d --days 1 --key-in ca/alice.key");
	t += 86400;
	gmtime_r(&t, &tm);
	strftime(start, sizeof(start), "%Y%m%d%H%M%SZ", &tm);
	t += 10 * 86400;
	gmtime_r(&t, &tm);
	strftime(end, sizeof(end), "%Y%m%d%H%M%SZ", &tm);
	pki_ok("issue --dir ca --name future --cn future.example --server "
	    "--start %s --end %s --key-in ca/alice.key", start, end);
	pki_ok("issue --dir ca --name self --cn self.example --server "
	    "--self-signed --key-in ca/alice.key");
	pki_ok("issue --dir other --name server --cn server.example --server "
	    "--key-in ca/alice.key");
	pki_ok("issue --dir ca --name mallory --cn mallory --client "
	    "--key-in ca/alice.key");
	pki_ok("revoke --dir ca ca/mallory.pem");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_rmrf(dir);
	free(dir);
	return 0;
}

/*
 * One case, judged by both tools.  verdict NULL means "must pass";
 * otherwise sc-admin must exit 1 naming verdict and openssl must fail
 * with error number ossl_err at depth 0.
 */
static void
both(const char *file, const char *purpose, const char *name, int crl,
    const char *verdict, int ossl_err)
{
	struct tu_result r;
	char want[64], ossl_name[300];

	ossl_name[0] = '\0';
	if (name != NULL)
		snprintf(ossl_name, sizeof(ossl_name), "%s %s",
		    strchr(name, ':') != NULL || isdigit((unsigned char)name[0])
		    ? "-verify_ip" : "-verify_hostname", name);
	pki(&r, "verify --ca ca/ca.pem %s --purpose %s %s%s %s",
	    crl ? "--crl ca/crl.pem" : "", purpose, name ? "--name " : "",
	    name ? name : "", file);
	if (verdict == NULL) {
		if (r.status != 0 || !tu_contains(r.out, ": OK"))
			fail_msg("sc-admin rejected %s: %s%s", file, r.out,
			    r.err);
	} else {
		snprintf(want, sizeof(want), "failed: %s: ", verdict);
		if (r.status != 1 || !tu_contains(r.out, want))
			fail_msg("sc-admin on %s: want %s, got exit %d: %s%s",
			    file, verdict, r.status, r.out, r.err);
	}
	tu_result_free(&r);

	sh(&r, "openssl verify -CAfile ca/ca.pem %s -purpose ssl%s %s %s 2>&1",
	    crl ? "-crl_check -CRLfile ca/crl.pem" : "", purpose, ossl_name,
	    file);
	if (verdict == NULL) {
		if (r.status != 0 || !tu_contains(r.out, ": OK"))
			fail_msg("openssl rejected %s: %s", file, r.out);
	} else {
		snprintf(want, sizeof(want), "error %d at 0 depth", ossl_err);
		if (r.status == 0 || !tu_contains(r.out, want))
			fail_msg("openssl on %s: want \"%s\", got: %s", file,
			    want, r.out);
	}
	tu_result_free(&r);
}

static void
test_good_chain(void **state)
{
	(void)state;
	both("ca/server.pem", "server", "server.example", 0, NULL, 0);
	both("ca/server.pem", "server", "127.0.0.1", 1, NULL, 0);
	both("ca/alice.pem", "client", NULL, 1, NULL, 0);
}

static void
test_expired(void **state)
{
	(void)state;
	both("ca/old.pem", "server", NULL, 0, "expired", 10);
}

static void
test_not_yet_valid(void **state)
{
	(void)state;
	both("ca/future.pem", "server", NULL, 0, "not-yet-valid", 9);
}

static void
test_other_ca(void **state)
{
	(void)state;
	both("other/server.pem", "server", "server.example", 0,
	    "unknown-issuer", 20);
}

static void
test_self_signed(void **state)
{
	(void)state;
	both("ca/self.pem", "server", NULL, 0, "self-signed", 18);
}

static void
test_client_for_server(void **state)
{
	(void)state;
	both("ca/alice.pem", "server", NULL, 0, "wrong-purpose", 26);
	both("ca/server.pem", "client", NULL, 0, "wrong-purpose", 26);
}

static void
test_name_mismatch(void **state)
{
	(void)state;
	both("ca/server.pem", "server", "evil.example", 0, "name-mismatch", 62);
	both("ca/server.pem", "server", "10.9.9.9", 0, "name-mismatch", 64);
}

static void
test_revoked(void **state)
{
	struct tu_result r;
	char *serial, *text;

	(void)state;
	both("ca/mallory.pem", "client", NULL, 1, "revoked", 23);
	/* The control: without the CRL both accept it. */
	both("ca/mallory.pem", "client", NULL, 0, NULL, 0);
	/* The CRL is well signed and lists mallory's serial. */
	sh(&r, "openssl crl -in ca/crl.pem -CAfile ca/ca.pem -verify -noout "
	    "2>&1");
	assert_int_equal(r.status, 0);
	assert_true(tu_contains(r.out, "verify OK"));
	tu_result_free(&r);
	serial = serial_of("ca/mallory.pem");
	text = sh_out("openssl crl -in ca/crl.pem -noout -text");
	assert_true(tu_contains(text, serial));
	free(text);
	free(serial);
}

static void
test_layout_and_extensions(void **state)
{
	struct stat st;
	json_error_t jerr;
	json_t *idx;
	char *text, *s1, *s2;

	(void)state;
	assert_int_equal(stat(P("ca/ca.key"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(P("ca/server.key"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(P("ca/crl.pem"), &st), 0);
	idx = json_load_file(P("ca/index.json"), 0, &jerr);
	assert_non_null(idx);
	/* server, alice, old, future, mallory: not the self-signed one. */
	assert_int_equal(json_array_size(json_object_get(idx, "certs")), 5);
	json_decref(idx);

	text = sh_out("openssl x509 -in ca/ca.pem -noout -text");
	assert_true(tu_contains(text, "CA:TRUE, pathlen:0"));
	assert_true(tu_contains(text, "Basic Constraints: critical"));
	assert_true(tu_contains(text, "Certificate Sign, CRL Sign"));
	assert_true(tu_contains(text, "Subject Key Identifier"));
	assert_true(tu_contains(text, "(2048 bit)"));
	free(text);
	text = sh_out("openssl x509 -in ca/server.pem -noout -text");
	assert_true(tu_contains(text, "CA:FALSE"));
	assert_true(tu_contains(text, "Digital Signature"));
	assert_true(tu_contains(text, "TLS Web Server Authentication"));
	assert_true(tu_contains(text, "Authority Key Identifier"));
	assert_true(tu_contains(text, "DNS:server.example, IP Address:127.0.0.1"));
	assert_true(tu_contains(text, "sha256WithRSAEncryption"));
	free(text);
	text = sh_out("openssl x509 -in ca/alice.pem -noout -text");
	assert_true(tu_contains(text, "TLS Web Client Authentication"));
	free(text);

	/* Random 128-bit serials: long, and unrelated between two leaves. */
	s1 = serial_of("ca/server.pem");
	s2 = serial_of("ca/alice.pem");
	assert_true(strlen(s1) >= 30 && strlen(s2) >= 30);
	assert_string_not_equal(s1, s2);
	assert_true(strncmp(s1, s2, 20) != 0);
	free(s1);
	free(s2);
}

static void
test_inspect(void **state)
{
	struct tu_result r;
	json_error_t jerr;
	json_t *o;
	char *fp, *serial, *hex, *p, *q;

	(void)state;
	assert_int_equal(pki(&r, "inspect ca/server.pem"), 0);
	assert_true(tu_contains(r.out, "CN=server.example"));
	assert_true(tu_contains(r.out, "CN=Test CA"));
	assert_true(tu_contains(r.out, "DNS:server.example, IP:127.0.0.1"));
	assert_true(tu_contains(r.out, "RSA 2048 bits"));
	assert_true(tu_contains(r.out, "serverAuth"));
	tu_result_free(&r);
	assert_int_equal(pki(&r, "inspect ca/old.pem"), 0);
	assert_true(tu_contains(r.out, "expired"));
	tu_result_free(&r);
	assert_int_equal(pki(&r, "inspect ca/future.pem"), 0);
	assert_true(tu_contains(r.out, "not yet valid"));
	tu_result_free(&r);

	/* --json agrees with openssl on serial and fingerprint. */
	assert_int_equal(pki(&r, "inspect --json ca/server.pem"), 0);
	o = json_loads(r.out, 0, &jerr);
	assert_non_null(o);
	tu_result_free(&r);
	serial = serial_of("ca/server.pem");
	assert_string_equal(json_string_value(json_object_get(o, "serial")),
	    serial);
	fp = sh_out("openssl x509 -in ca/server.pem -noout -fingerprint "
	    "-sha256");
	assert_non_null(p = strchr(fp, '='));
	hex = strdup(p + 1);
	for (p = q = hex; *p != '\0'; p++)
		if (*p != ':')
			*q++ = (char)tolower((unsigned char)*p);
	*q = '\0';
	assert_string_equal(json_string_value(json_object_get(o, "sha256")),
	    hex);
	assert_string_equal(json_string_value(json_object_get(o, "status")),
	    "valid");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o,
	    "key"), "bits")), 2048);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o,
	    "extended_key_usage"), 0)), "serverAuth");
	assert_true(json_is_false(json_object_get(o, "ca")));
	json_decref(o);
	free(fp);
	free(hex);
	free(serial);

	/* A CRL is recognised and its revoked serials listed. */
	assert_int_equal(pki(&r, "inspect ca/crl.pem"), 0);
	serial = serial_of("ca/mallory.pem");
	assert_true(tu_contains(r.out, serial));
	assert_true(tu_contains(r.out, "CRL number"));
	free(serial);
	tu_result_free(&r);
}

static void
test_bad_input(void **state)
{
	static const char garbage[] = "-----BEGIN CERTIFICATE-----\n"
	    "bm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
	struct tu_result r;
	char *key_before, *key_after, *pem_before, *pem_after, *ca_before;
	char *ca_after;
	size_t kb, ka, pb, pa, cb, cl;

	(void)state;
	/* Missing file. */
	assert_int_equal(pki(&r, "verify --ca ca/ca.pem ca/nosuch.pem"), 1);
	assert_true(tu_contains(r.err, "No such file"));
	tu_result_free(&r);
	assert_int_equal(pki(&r, "inspect ca/nosuch.pem"), 1);
	tu_result_free(&r);
	/* Garbage PEM, as a leaf, as the CA file, and to inspect. */
	assert_int_equal(tu_write(P("garbage.pem"), garbage, strlen(garbage)),
	    0);
	assert_int_equal(pki(&r, "verify --ca ca/ca.pem garbage.pem"), 1);
	assert_true(tu_contains(r.err, "garbage.pem"));
	tu_result_free(&r);
	assert_int_equal(pki(&r, "verify --ca garbage.pem ca/server.pem"), 1);
	assert_true(tu_contains(r.err, "garbage.pem"));
	tu_result_free(&r);
	assert_int_equal(pki(&r, "inspect garbage.pem"), 1);
	tu_result_free(&r);

	/* A key that does not match: as --key, and as the CA's own key. */
	assert_int_equal(pki(&r, "verify --ca ca/ca.pem --key ca/alice.key "
	    "ca/server.pem"), 1);
	assert_true(tu_contains(r.out, "key-mismatch"));
	tu_result_free(&r);
	assert_int_equal(pki(&r, "verify --ca ca/ca.pem --key ca/server.key "
	    "ca/server.pem"), 0);
	tu_result_free(&r);
	assert_int_equal(sh(&r, "mkdir mixed && cp ca/ca.pem ca/index.json "
	    "mixed/ && cp -p other/ca.key mixed/ca.key"), 0);
	tu_result_free(&r);
	assert_int_equal(pki(&r, "issue --dir mixed --name x --cn x --client"),
	    1);
	assert_true(tu_contains(r.err, "does not match"));
	assert_int_equal(access(P("mixed/x.key"), F_OK), -1);
	assert_int_equal(access(P("mixed/x.pem"), F_OK), -1);
	tu_result_free(&r);

	/* Existing output: refused, and the key is not truncated. */
	key_before = tu_read(P("ca/alice.key"), &kb);
	pem_before = tu_read(P("ca/alice.pem"), &pb);
	ca_before = tu_read(P("ca/ca.key"), &cb);
	assert_int_equal(pki(&r, "issue --dir ca --name alice --cn alice "
	    "--client"), 1);
	assert_true(tu_contains(r.err, "already exists"));
	tu_result_free(&r);
	assert_int_equal(pki(&r, "init-ca --dir ca --cn 'Again' --key-bits "
	    "2048"), 1);
	assert_true(tu_contains(r.err, "already exists"));
	tu_result_free(&r);
	key_after = tu_read(P("ca/alice.key"), &ka);
	pem_after = tu_read(P("ca/alice.pem"), &pa);
	ca_after = tu_read(P("ca/ca.key"), &cl);
	assert_true(kb > 1000 && ka == kb && pa == pb && cl == cb);
	assert_memory_equal(key_before, key_after, kb);
	assert_memory_equal(pem_before, pem_after, pb);
	assert_memory_equal(ca_before, ca_after, cb);
	free(key_before);
	free(key_after);
	free(pem_before);
	free(pem_after);
	free(ca_before);
	free(ca_after);

	/* A key file readable by others is refused. */
	assert_int_equal(sh(&r, "cp ca/alice.key loose.key && chmod 644 "
	    "loose.key"), 0);
	tu_result_free(&r);
	assert_int_equal(pki(&r, "issue --dir ca --name loose --cn loose "
	    "--client --key-in loose.key"), 1);
	assert_true(tu_contains(r.err, "group or other"));
	assert_int_equal(access(P("ca/loose.pem"), F_OK), -1);
	tu_result_free(&r);

	/* Usage errors exit 2; a bad SAN or name is refused. */
	assert_int_equal(pki(&r, "issue --dir ca --name x --cn x"), 2);
	tu_result_free(&r);
	assert_int_equal(pki(&r, "verify ca/server.pem"), 2);
	tu_result_free(&r);
	assert_int_equal(pki(&r, "issue --dir ca --name ../x --cn x --client"),
	    2);
	tu_result_free(&r);
	assert_int_equal(pki(&r, "issue --dir ca --name y --cn y --client "
	    "--san URI:http://x"), 1);
	assert_int_equal(access(P("ca/y.key"), F_OK), -1);
	tu_result_free(&r);
	assert_int_equal(pki(&r, "nonsense"), 2);
	tu_result_free(&r);
}

static void
test_force_replaces(void **state)
{
	struct tu_result r;
	struct stat st;
	char *k1, *k2;
	size_t l1, l2;

	(void)state;
	pki_ok("issue --dir ca --name carol --cn carol --client");
	k1 = tu_read(P("ca/carol.key"), &l1);
	pki_ok("issue --dir ca --name carol --cn carol --client --force");
	k2 = tu_read(P("ca/carol.key"), &l2);
	assert_non_null(k1);
	assert_non_null(k2);
	assert_false(l1 == l2 && memcmp(k1, k2, l1) == 0);
	assert_int_equal(stat(P("ca/carol.key"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* No temporary file is left behind. */
	assert_int_equal(sh(&r, "ls ca | grep -c tmp"), 1);
	tu_result_free(&r);
	both("ca/carol.pem", "client", NULL, 1, NULL, 0);
	assert_int_equal(pki(&r, "verify --ca ca/ca.pem --key ca/carol.key "
	    "ca/carol.pem"), 0);
	tu_result_free(&r);
	free(k1);
	free(k2);
}

static void
test_revoke_by_serial(void **state)
{
	struct tu_result r;
	char *serial, *num1, *num2, *p;

	(void)state;
	pki_ok("issue --dir ca --name bob --cn bob --client "
	    "--key-in ca/alice.key");
	both("ca/bob.pem", "client", NULL, 1, NULL, 0);
	num1 = sh_out("openssl crl -in ca/crl.pem -noout -crlnumber");
	/* Lower case with colons is the same serial. */
	serial = serial_of("ca/bob.pem");
	for (p = serial; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	assert_int_equal(pki(&r, "revoke --dir ca --serial %.2s:%s", serial,
	    serial + 2), 0);
	tu_result_free(&r);
	both("ca/bob.pem", "client", NULL, 1, "revoked", 23);
	num2 = sh_out("openssl crl -in ca/crl.pem -noout -crlnumber");
	assert_string_not_equal(num1, num2);
	/* `crl` re-signs and bumps the number again. */
	pki_ok("crl --dir ca --days 7");
	free(num1);
	num1 = sh_out("openssl crl -in ca/crl.pem -noout -crlnumber");
	assert_string_not_equal(num1, num2);
	both("ca/bob.pem", "client", NULL, 1, "revoked", 23);
	both("ca/alice.pem", "client", NULL, 1, NULL, 0);
	/* Unknown serials and other CAs' certificates are refused. */
	assert_int_equal(pki(&r, "revoke --dir ca --serial 0123ABCD"), 1);
	assert_true(tu_contains(r.err, "not issued"));
	tu_result_free(&r);
	assert_int_equal(pki(&r, "revoke --dir ca other/server.pem"), 1);
	assert_true(tu_contains(r.err, "not issued"));
	tu_result_free(&r);
	free(num1);
	free(num2);
	free(serial);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_chain),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_not_yet_valid),
		cmocka_unit_test(test_other_ca),
		cmocka_unit_test(test_self_signed),
		cmocka_unit_test(test_client_for_server),
		cmocka_unit_test(test_name_mismatch),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_layout_and_extensions),
		cmocka_unit_test(test_inspect),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_force_replaces),
		cmocka_unit_test(test_revoke_by_serial),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
