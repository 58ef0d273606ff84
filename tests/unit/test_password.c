/*
 * test_password.c: authd's password hashing (authd/password.c), the
 * account field rules (common/account.c) and the credentials file
 * parser (common/dbconf.c).
 *
 * authd/password.c belongs to the authd program, not to libsccommon, so
 * it is compiled into this test directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "account.h"
#include "dbconf.h"
#include "testutil.h"
#include "util.h"

#include "authd/password.c"

/* Small parameters: these tests are about logic, not cost. */
static struct pw_params
low(unsigned int log2n)
{
	struct pw_params p;

	assert_int_equal(pw_params_set(&p, log2n, 8, 1), 0);
	return p;
}

static void
test_scrypt_roundtrip(void **state)
{
	struct pw_params p = low(10);
	struct pw_record a, b;

	(void)state;
	assert_int_equal(pw_hash(&p, "correct horse", 13, &a), 0);
	assert_int_equal(a.kdf, PW_KDF_SCRYPT);
	assert_int_equal(a.salt_len, PW_SALT_LEN);
	assert_int_equal(a.hash_len, PW_HASH_LEN);
	assert_true(a.params.N == 1024 && a.params.r == 8 && a.params.p == 1);
	assert_int_equal(pw_verify(&a, "correct horse", 13), 1);
	/* Fresh salt each time: same password, different hash. */
	assert_int_equal(pw_hash(&p, "correct horse", 13, &b), 0);
	assert_memory_not_equal(a.salt, b.salt, PW_SALT_LEN);
	assert_memory_not_equal(a.hash, b.hash, PW_HASH_LEN);
	assert_int_equal(pw_verify(&b, "correct horse", 13), 1);
	/* Passwords are bytes: an embedded NUL is part of the password. */
	assert_int_equal(pw_hash(&p, "abc\0defgh", 9, &a), 0);
	assert_int_equal(pw_verify(&a, "abc\0defgh", 9), 1);
	assert_int_equal(pw_verify(&a, "abc", 3), 0);
	assert_int_equal(pw_verify(&a, "abc\0defgX", 9), 0);
}

static void
test_wrong_password(void **state)
{
	struct pw_params p = low(10);
	struct pw_record a;

	(void)state;
	assert_int_equal(pw_hash(&p, "password-one", 12, &a), 0);
	assert_int_equal(pw_verify(&a, "password-two", 12), 0);
	assert_int_equal(pw_verify(&a, "password-on", 11), 0);
	assert_int_equal(pw_verify(&a, "password-one ", 13), 0);
	/* A flipped bit in the stored hash or salt breaks the match. */
	a.hash[31] ^= 1;
	assert_int_equal(pw_verify(&a, "password-one", 12), 0);
	a.hash[31] ^= 1;
	a.salt[0] ^= 0x80;
	assert_int_equal(pw_verify(&a, "password-one", 12), 0);
}

/* RFC 7914 section 12, second vector: our scrypt is the standard one. */
static void
test_scrypt_rfc7914(void **state)
{
	static const uint8_t expect[64] = {
		0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00,
		0x78, 0x56, 0xe7, 0x19, 0x0d, 0x01, 0xe9, 0xfe,
		0x7c, 0x6a, 0xd7, 0xcb, 0xc8, 0x23, 0x78, 0x30,
		0xe7, 0x73, 0x76, 0x63, 0x4b, 0x37, 0x31, 0x62,
		0x2e, 0xaf, 0x30, 0xd9, 0x2e, 0x22, 0xa3, 0x88,
		0x6f, 0xf1, 0x09, 0x27, 0x9d, 0x98, 0x30, 0xda,
		0xc7, 0x27, 0xaf, 0xb9, 0x4a, 0x83, 0xee, 0x6d,
		0x83, 0x60, 0xcb, 0xdf, 0xa2, 0xcc, 0x06, 0x40,
	};
	struct pw_record rec;

	(void)state;
	memset(&rec, 0, sizeof(rec));
	rec.kdf = PW_KDF_SCRYPT;
	rec.params.N = 1024;
	rec.params.r = 8;
	rec.params.p = 16;
	memcpy(rec.salt, "NaCl", 4);
	rec.salt_len = 4;
	/* Records hold 32-byte outputs: the first half of the vector. */
	memcpy(rec.hash, expect, 32);
	rec.hash_len = 32;
	assert_int_equal(pw_verify(&rec, "password", 8), 1);
	assert_int_equal(pw_verify(&rec, "Password", 8), 0);
}

/* A row as `sc-admin user import-legacy` stores it. */
static void
legacy_row(struct pw_record *rec, const char *salthex, const char *pass)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n;

	memset(rec, 0, sizeof(*rec));
	rec->kdf = PW_KDF_LEGACY_SHA256;
	rec->salt_len = strlen(salthex) / 2;
	assert_int_equal(hex_decode(salthex, rec->salt, rec->salt_len), 0);
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, rec->salt, rec->salt_len), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, pass, strlen(pass)), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, rec->hash, &n), 1);
	rec->hash_len = n;
	EVP_MD_CTX_free(ctx);
}

static void
test_legacy_verify_and_upgrade(void **state)
{
	struct pw_params cur = low(11);
	struct pw_record rec, up;
	int upgraded = -1;

	(void)state;
	/* Seed shape: 16-byte salt stored as 32 hex digits. */
	legacy_row(&rec, "00112233445566778899aabbccddeeff", "secret123");
	assert_int_equal(pw_verify(&rec, "secret123", 9), 1);
	assert_int_equal(pw_verify(&rec, "secret124", 9), 0);
	assert_int_equal(pw_needs_upgrade(&rec, &cur), 1);

	/* Wrong password: no upgrade is offered. */
	assert_int_equal(pw_check(&rec, &cur, "nope-nope", 9, &up, &upgraded),
	    0);
	assert_int_equal(upgraded, 0);
	assert_int_equal(up.kdf, PW_KDF_NONE);

	/* Right password: an scrypt record with the current parameters. */
	assert_int_equal(pw_check(&rec, &cur, "secret123", 9, &up, &upgraded),
	    1);
	assert_int_equal(upgraded, 1);
	assert_int_equal(up.kdf, PW_KDF_SCRYPT);
	assert_true(up.params.N == cur.N && up.params.r == cur.r &&
	    up.params.p == cur.p);
	assert_int_equal(pw_verify(&up, "secret123", 9), 1);
	assert_int_equal(pw_verify(&up, "secret124", 9), 0);
	assert_int_equal(pw_needs_upgrade(&up, &cur), 0);
	/* And the upgraded record needs no further upgrade. */
	assert_int_equal(pw_check(&up, &cur, "secret123", 9, &rec, &upgraded),
	    1);
	assert_int_equal(upgraded, 0);
}

static void
test_params_from_row(void **state)
{
	struct pw_params p10 = low(10), p12 = low(12);
	struct pw_record rec, up;
	int upgraded;

	(void)state;
	/* A hash made with N=2^10 verifies under a N=2^12 configuration:
	 * the row's parameters are used, not the current ones. */
	assert_int_equal(pw_hash(&p10, "stored-params", 13, &rec), 0);
	assert_int_equal(pw_check(&rec, &p12, "stored-params", 13, &up,
	    &upgraded), 1);
	/* ... and, being cheaper than the configuration, is upgraded. */
	assert_int_equal(upgraded, 1);
	assert_true(up.params.N == p12.N);
	assert_int_equal(pw_verify(&up, "stored-params", 13), 1);
	/* A stronger row is never weakened by a lower configuration. */
	assert_int_equal(pw_check(&up, &p10, "stored-params", 13, &rec,
	    &upgraded), 1);
	assert_int_equal(upgraded, 0);

	/* Tampered parameters in the row give a mismatch ... */
	assert_int_equal(pw_hash(&p10, "stored-params", 13, &rec), 0);
	rec.params.N = 2048;
	assert_int_equal(pw_verify(&rec, "stored-params", 13), 0);
	rec.params.N = 1024;
	rec.params.r = 4;
	assert_int_equal(pw_verify(&rec, "stored-params", 13), 0);
	/* ... and impossible ones an error, not a match. */
	rec.params.N = 1000;		/* not a power of two */
	assert_int_equal(pw_verify(&rec, "stored-params", 13), -1);
	rec.params.N = 1ULL << 30;	/* over the memory bound */
	assert_int_equal(pw_verify(&rec, "stored-params", 13), -1);
	rec.params.N = 1024;
	rec.params.r = 0;
	assert_int_equal(pw_verify(&rec, "stored-params", 13), -1);
	rec.params.r = 8;
	rec.kdf = PW_KDF_NONE;
	assert_int_equal(pw_verify(&rec, "stored-params", 13), -1);
	rec.kdf = PW_KDF_SCRYPT;
	rec.hash_len = 31;
	assert_int_equal(pw_verify(&rec, "stored-params", 13), -1);
}

static void
test_unknown_user(void **state)
{
	struct pw_params p = low(10);
	struct pw_record up;
	int upgraded = -1;

	(void)state;
	/* No record: always a mismatch, never an upgrade, never an error. */
	assert_int_equal(pw_check(NULL, &p, "anything-at-all", 15, &up,
	    &upgraded), 0);
	assert_int_equal(upgraded, 0);
	assert_int_equal(pw_check(NULL, &p, "", 0, &up, &upgraded), 0);
}

static void
test_params_bounds(void **state)
{
	struct pw_params p;

	(void)state;
	pw_params_default(&p);
	assert_true(p.N == (1ULL << 17) && p.r == 8 && p.p == 1);
	assert_int_equal(pw_params_check(&p), 0);
	assert_int_equal(pw_params_set(&p, 9, 8, 1), -1);
	assert_int_equal(pw_params_set(&p, 21, 8, 1), -1);	/* 2 GiB */
	assert_int_equal(pw_params_set(&p, 20, 8, 1), 0);	/* 1 GiB */
	assert_int_equal(pw_params_set(&p, 14, 0, 1), -1);
	assert_int_equal(pw_params_set(&p, 14, 8, 0), -1);
	assert_int_equal(pw_params_set(&p, 14, 8, 17), -1);
	assert_int_equal(pw_kdf_from_name("scrypt"), PW_KDF_SCRYPT);
	assert_int_equal(pw_kdf_from_name("legacy-sha256"),
	    PW_KDF_LEGACY_SHA256);
	assert_int_equal(pw_kdf_from_name("md5"), PW_KDF_NONE);
}

static void
test_account_rules(void **state)
{
	char out[ACCOUNT_USER_MAX + 1];
	char long_user[40], long_email[300];

	(void)state;
	assert_int_equal(account_username_canon("alice", 5, out), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(account_username_canon("Bob.Smith-2_x", 13, out), 0);
	assert_string_equal(out, "bob.smith-2_x");
	assert_int_equal(account_username_canon("9lives", 6, out), 0);
	assert_int_equal(account_username_canon("", 0, out), -1);
	assert_int_equal(account_username_canon(".alice", 6, out), -1);
	assert_string_equal(out, "");
	assert_int_equal(account_username_canon("-x", 2, out), -1);
	assert_int_equal(account_username_canon("al ice", 6, out), -1);
	assert_int_equal(account_username_canon("al'ice", 6, out), -1);
	assert_int_equal(account_username_canon("alice\0x", 7, out), -1);
	assert_int_equal(account_username_canon("\xc3\xa9t\xc3\xa9", 6, out),
	    -1);
	memset(long_user, 'a', sizeof(long_user));
	assert_int_equal(account_username_canon(long_user, 32, out), 0);
	assert_int_equal(account_username_canon(long_user, 33, out), -1);

	assert_int_equal(account_email_check("a@b", 3), 0);
	assert_int_equal(account_email_check("a@", 2), -1);
	assert_int_equal(account_email_check("@ab", 3), -1);
	assert_int_equal(account_email_check("ab@", 3), -1);
	assert_int_equal(account_email_check("abc", 3), -1);
	assert_int_equal(account_email_check("a@b@c", 5), -1);
	assert_int_equal(account_email_check("a b@c", 5), -1);
	assert_int_equal(account_email_check("a\0b@c", 5), -1);
	assert_int_equal(account_email_check("a\nb@c", 5), -1);
	assert_int_equal(account_email_check("x');DROP--@t", 12), 0);
	memset(long_email, 'e', sizeof(long_email));
	long_email[1] = '@';
	assert_int_equal(account_email_check(long_email, 254), 0);
	assert_int_equal(account_email_check(long_email, 255), -1);

	assert_int_equal(account_password_check(7), -1);
	assert_int_equal(account_password_check(8), 0);
	assert_int_equal(account_password_check(1024), 0);
	assert_int_equal(account_password_check(1025), -1);
}

static int
write_conf(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	if (tu_write(path, text, strlen(text)) == -1)
		return -1;
	return chmod(path, mode);
}

static void
test_dbconf(void **state)
{
	char *dir = tu_mkdtemp("dbconf"), path[512];
	struct dbconf c;

	(void)state;
	snprintf(path, sizeof(path), "%s/db.conf", dir);
	assert_int_equal(write_conf(path,
	    "# comment\n\n  host = 127.0.0.1\nport=3307\r\n"
	    "user = sc\npassword = \" p w = # \"\ndatabase = securechat\n",
	    0600), 0);
	assert_int_equal(dbconf_load(path, &c), 0);
	assert_string_equal(c.host, "127.0.0.1");
	assert_int_equal(c.port, 3307);
	assert_string_equal(c.user, "sc");
	assert_string_equal(c.password, " p w = # ");
	assert_string_equal(c.database, "securechat");
	assert_string_equal(c.socket, "");
	dbconf_clear(&c);
	assert_string_equal(c.password, "");

	/* Group- or world-readable files are refused, whatever they hold. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(dbconf_load(path, &c), -1);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(dbconf_load(path, &c), -1);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(dbconf_load(path, &c), 0);

	/* Syntax: unknown key, duplicate, missing '=', bad port, both
	 * host and socket, missing required keys. */
	assert_int_equal(write_conf(path, "host=h\nuser=u\ndatabase=d\n"
	    "colour=blue\n", 0600), 0);
	assert_int_equal(dbconf_load(path, &c), -1);
	assert_int_equal(write_conf(path, "host=h\nhost=i\nuser=u\n"
	    "database=d\n", 0600), 0);
	assert_int_equal(dbconf_load(path, &c), -1);
	assert_int_equal(write_conf(path, "host h\nuser=u\ndatabase=d\n",
	    0600), 0);
	assert_int_equal(dbconf_load(path, &c), -1);
	assert_int_equal(write_conf(path, "host=h\nport=70000\nuser=u\n"
	    "database=d\n", 0600), 0);
	assert_int_equal(dbconf_load(path, &c), -1);
	assert_int_equal(write_conf(path, "host=h\nsocket=/s\nuser=u\n"
	    "database=d\n", 0600), 0);
	assert_int_equal(dbconf_load(path, &c), -1);
	assert_int_equal(write_conf(path, "host=h\nuser=u\n", 0600), 0);
	assert_int_equal(dbconf_load(path, &c), -1);
	assert_int_equal(write_conf(path, "socket=/run/m.sock\nuser=u\n"
	    "database=d\n", 0600), 0);
	assert_int_equal(dbconf_load(path, &c), 0);
	assert_string_equal(c.socket, "/run/m.sock");
	dbconf_clear(&c);

	/* A symlink is not followed. */
	{
		char link[600];

		snprintf(link, sizeof(link), "%s/link.conf", dir);
		assert_int_equal(symlink(path, link), 0);
		assert_int_equal(dbconf_load(link, &c), -1);
	}
	tu_rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrypt_roundtrip),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_scrypt_rfc7914),
		cmocka_unit_test(test_legacy_verify_and_upgrade),
		cmocka_unit_test(test_params_from_row),
		cmocka_unit_test(test_unknown_user),
		cmocka_unit_test(test_params_bounds),
		cmocka_unit_test(test_account_rules),
		cmocka_unit_test(test_dbconf),
	};

	return cmocka_run_group_tests_name("password", tests, NULL, NULL);
}
