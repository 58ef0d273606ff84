/*
 * test_db_admin.c: `sc-admin db` and `sc-admin user` against a real
 * MariaDB server started by the test harness (tests/lib/mariadb.c):
 * schema creation twice (idempotent), a migration interrupted half-way
 * and run again, status, the refusal of a readable credentials file and
 * of a newer schema, the legacy import with its rejects, and list /
 * disable / enable / delete / add-cert (certificate files).  The
 * migration of a version-1 database holding accounts is in
 * test_authd_msg.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "mariadb.h"
#include "pki.h"
#include "testutil.h"
#include "util.h"

static struct tu_db db;

/* Every table of schema version 2, in byte order. */
#define TABLES_V2	"auth_failures,deliveries,envelopes,msg_rate," \
			"room_members,rooms,schema_version,user_certs,users"

static int
setup(void **state)
{
	(void)state;
	return tu_db_start(&db);
}

static int
teardown(void **state)
{
	(void)state;
	tu_db_stop(&db);
	return 0;
}

/* Run sc-admin with args (NULL-terminated) and --config db.conf. */
static int
admin(struct tu_result *r, const char *input, ...)
{
	const char *argv[16];
	va_list ap;
	int n = 0;

	argv[n++] = tu_bin("sc-admin");
	va_start(ap, input);
	while (n < 12 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n++] = "--config";
	argv[n++] = db.conf;
	argv[n] = NULL;
	return tu_run(r, input, 60, argv);
}

static char *
q(const char *sql)
{
	char *v = tu_db_query(&db, "%s", sql);

	assert_non_null(v);
	return v;
}

static void
assert_query(const char *sql, const char *expect)
{
	char *v = q(sql);

	if (strcmp(v, expect) != 0)
		fail_msg("%s: got \"%s\", expected \"%s\"", sql, v, expect);
	free(v);
}

static void
test_init_idempotent(void **state)
{
	struct tu_result r;

	(void)state;
	/* Before init: status says what to do and fails. */
	assert_int_equal(admin(&r, NULL, "db", "status", NULL), 1);
	assert_true(tu_contains(r.out, "sc-admin db init"));
	tu_result_free(&r);
	/* A user command refuses to work on a missing schema. */
	assert_int_equal(admin(&r, NULL, "user", "list", NULL), 1);
	assert_true(tu_contains(r.err, "db init"));
	tu_result_free(&r);

	assert_int_equal(admin(&r, NULL, "db", "init", NULL), 0);
	assert_true(tu_contains(r.out, "applied version 1"));
	assert_true(tu_contains(r.out, "applied version 2"));
	tu_result_free(&r);
	assert_int_equal(admin(&r, NULL, "db", "init", NULL), 0);
	assert_true(tu_contains(r.out, "version 2, up to date"));
	assert_false(tu_contains(r.out, "applied"));
	tu_result_free(&r);

	assert_query("SELECT COUNT(*) FROM schema_version", "2");
	assert_query("SELECT GROUP_CONCAT(table_name ORDER BY BINARY table_name) "
	    "FROM information_schema.tables WHERE table_schema = 'securechat'",
	    TABLES_V2);
	assert_query("SELECT COUNT(*) FROM information_schema.tables WHERE "
	    "table_schema = 'securechat' AND engine = 'InnoDB' AND "
	    "table_collation LIKE 'utf8mb4%'", "9");
	/* The certificate's DER, and the index that reads a queue. */
	assert_query("SELECT CONCAT(data_type, ' ', character_maximum_length, "
	    "' ', is_nullable) FROM information_schema.columns WHERE "
	    "table_schema = 'securechat' AND table_name = 'user_certs' AND "
	    "column_name = 'cert_der'", "varbinary 8192 YES");
	assert_query("SELECT GROUP_CONCAT(column_name ORDER BY seq_in_index) "
	    "FROM information_schema.statistics WHERE table_schema = "
	    "'securechat' AND table_name = 'deliveries' AND index_name = "
	    "'deliveries_queue'", "recipient_id,state,envelope_id");
	assert_query("SELECT COUNT(*) FROM information_schema.columns WHERE "
	    "table_schema = 'securechat' AND table_name = 'users' AND "
	    "column_name IN ('id','username','email','pw_kdf','pw_salt',"
	    "'pw_hash','kdf_n','kdf_r','kdf_p','disabled','created_at',"
	    "'last_login_at')", "12");

	assert_int_equal(admin(&r, NULL, "db", "status", NULL), 0);
	assert_true(tu_contains(r.out, "schema version:   2"));
	assert_true(tu_contains(r.out, "users:            0"));
	assert_true(tu_contains(r.out, "messages:         0 stored"));
	tu_result_free(&r);
}

/*
 * MariaDB commits DDL at once, so a migration can stop half-way (a lost
 * connection, a full disk): the schema is then at version 1 with some of
 * version 2's tables and columns.  Running init again finishes it.
 */
static void
test_migration_rerun(void **state)
{
	struct tu_result r;

	(void)state;
	assert_int_equal(tu_db_exec(&db, "DELETE FROM schema_version WHERE "
	    "version = 2"), 0);
	assert_int_equal(tu_db_exec(&db, "DROP TABLE msg_rate"), 0);
	assert_int_equal(tu_db_exec(&db, "DROP TABLE deliveries"), 0);
	/* user_certs.cert_der and the other tables are already there. */
	assert_int_equal(admin(&r, NULL, "db", "status", NULL), 1);
	assert_true(tu_contains(r.out, "schema version:   1"));
	tu_result_free(&r);
	assert_int_equal(admin(&r, NULL, "db", "init", NULL), 0);
	assert_true(tu_contains(r.out, "applied version 2"));
	tu_result_free(&r);
	assert_query("SELECT GROUP_CONCAT(table_name ORDER BY BINARY table_name) "
	    "FROM information_schema.tables WHERE table_schema = 'securechat'",
	    TABLES_V2);
	assert_query("SELECT GROUP_CONCAT(version ORDER BY version) FROM "
	    "schema_version", "1,2");
}

static void
test_newer_schema_refused(void **state)
{
	struct tu_result r;

	(void)state;
	assert_int_equal(tu_db_exec(&db, "INSERT INTO schema_version "
	    "(version, description) VALUES (99, 'from the future')"), 0);
	assert_int_equal(admin(&r, NULL, "db", "init", NULL), 1);
	assert_true(tu_contains(r.err, "newer"));
	tu_result_free(&r);
	assert_int_equal(admin(&r, NULL, "user", "list", NULL), 1);
	tu_result_free(&r);
	assert_int_equal(tu_db_exec(&db, "DELETE FROM schema_version WHERE "
	    "version = 99"), 0);
	assert_int_equal(admin(&r, NULL, "user", "list", NULL), 0);
	tu_result_free(&r);
}

static void
test_config_mode_refused(void **state)
{
	struct tu_result r;

	(void)state;
	assert_int_equal(chmod(db.conf, 0644), 0);
	assert_int_equal(admin(&r, NULL, "db", "status", NULL), 1);
	assert_true(tu_contains(r.err, "chmod 600"));
	/* The refusal never shows the password. */
	assert_false(tu_contains(r.err, db.password));
	assert_false(tu_contains(r.out, db.password));
	tu_result_free(&r);
	assert_int_equal(chmod(db.conf, 0600), 0);
	assert_int_equal(admin(&r, NULL, "db", "status", NULL), 0);
	tu_result_free(&r);
}

/* hex(SHA-256(salt || password)) as the seed stored it. */
static void
seed_hash(const char *salthex, const char *pass, char out[65])
{
	uint8_t salt[32], h[32];
	size_t n = strlen(salthex) / 2;
	unsigned int hl;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_non_null(ctx);
	assert_int_equal(hex_decode(salthex, salt, n), 0);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, salt, n), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, pass, strlen(pass)), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, h, &hl), 1);
	EVP_MD_CTX_free(ctx);
	hex_encode(h, 32, out);
}

static void
test_import_and_manage(void **state)
{
	static const char salt1[] = "000102030405060708090a0b0c0d0e0f";
	static const char salt2[] = "f0e0d0c0b0a090807060504030201000";
	char h1[65], h2[65], *tsv, *dir, path[512];
	struct tu_result r;
	char *v;

	(void)state;
	seed_hash(salt1, "secret123", h1);
	seed_hash(salt2, "hunter22", h2);
	/* As `mysql -B -e 'SELECT username,email,salt,pwd_hash FROM users'`
	 * prints it: header, rows, then the rejects we expect. */
	if (asprintf(&tsv,
	    "username\temail\tsalt\tpwd_hash\n"
	    "Legacy1\tlegacy1@example.com\t%s\t%s\n"
	    "legacy2\tlegacy2@example.com\t%s\t%s\r\n"
	    "bad user\tx@example.com\t%s\t%s\n"		/* space in name */
	    "legacy3\tnot-an-email\t%s\t%s\n"		/* no '@' */
	    "legacy4\tl4@example.com\tzz\t%s\n"		/* salt not hex */
	    "legacy5\tl5@example.com\t%s\tabcd\n"	/* short hash */
	    "legacy6\tl6@example.com\t%s\n"		/* 3 fields */
	    "legacy7\tNULL\t%s\t%s\n"			/* NULL */
	    "LEGACY1\tother@example.com\t%s\t%s\n",	/* duplicate name */
	    salt1, h1, salt2, h2, salt1, h1, salt1, h1, h1, salt1, salt1,
	    salt1, h1, salt1, h1) == -1)
		fail();
	dir = tu_mkdtemp("import");
	snprintf(path, sizeof(path), "%s/users.tsv", dir);
	assert_int_equal(tu_write(path, tsv, strlen(tsv)), 0);
	free(tsv);

	/* Rejected rows make the exit status 1; good rows still go in. */
	assert_int_equal(admin(&r, NULL, "user", "import-legacy", path, NULL),
	    1);
	assert_true(tu_contains(r.out,
	    "imported 2, already present 1, rejected 6"));
	assert_true(tu_contains(r.err, ":4: invalid username"));
	assert_true(tu_contains(r.err, ":5: invalid email"));
	assert_true(tu_contains(r.err, ":6: salt must be"));
	assert_true(tu_contains(r.err, ":7: pwd_hash must be"));
	assert_true(tu_contains(r.err, ":8: expected 4"));
	assert_true(tu_contains(r.err, ":9: a NULL field"));
	tu_result_free(&r);

	/* Stored canonical, legacy, raw salt bytes and raw hash. */
	assert_query("SELECT CONCAT(username, ' ', pw_kdf, ' ', HEX(pw_salt)) "
	    "FROM users WHERE username = 'legacy1'",
	    "legacy1 legacy-sha256 000102030405060708090A0B0C0D0E0F");
	v = tu_db_query(&db, "SELECT LOWER(HEX(pw_hash)) FROM users WHERE "
	    "username = 'legacy1'");
	assert_non_null(v);
	assert_string_equal(v, h1);
	free(v);

	/* Importing from stdin, again: everything already present. */
	if (asprintf(&tsv, "legacy1\tlegacy1@example.com\t%s\t%s\n", salt1,
	    h1) == -1)
		fail();
	assert_int_equal(admin(&r, tsv, "user", "import-legacy", "-", NULL),
	    0);
	assert_true(tu_contains(r.out, "imported 0, already present 1, "
	    "rejected 0"));
	tu_result_free(&r);
	free(tsv);

	/* list */
	assert_int_equal(admin(&r, NULL, "user", "list", NULL), 0);
	assert_true(tu_contains(r.out, "legacy1"));
	assert_true(tu_contains(r.out, "legacy2@example.com"));
	assert_true(tu_contains(r.out, "legacy-sha256"));
	assert_true(tu_contains(r.out, "2 users"));
	tu_result_free(&r);

	/* disable / enable, by any letter case of the name */
	assert_int_equal(admin(&r, NULL, "user", "disable", "LEGACY2", NULL), 0);
	tu_result_free(&r);
	assert_query("SELECT disabled FROM users WHERE username = 'legacy2'",
	    "1");
	assert_int_equal(admin(&r, NULL, "user", "list", NULL), 0);
	assert_true(tu_contains(r.out, "disabled"));
	tu_result_free(&r);
	/* Disabling twice is not an error (rows found, not changed). */
	assert_int_equal(admin(&r, NULL, "user", "disable", "legacy2", NULL), 0);
	tu_result_free(&r);
	assert_int_equal(admin(&r, NULL, "user", "enable", "legacy2", NULL), 0);
	tu_result_free(&r);
	assert_query("SELECT disabled FROM users WHERE username = 'legacy2'",
	    "0");
	assert_int_equal(admin(&r, NULL, "user", "disable", "nobody-here",
	    NULL), 1);
	assert_true(tu_contains(r.err, "no such user"));
	tu_result_free(&r);
	/* Names that cannot exist are refused before the database. */
	assert_int_equal(admin(&r, NULL, "user", "disable", "x' OR '1'='1",
	    NULL), 1);
	assert_true(tu_contains(r.err, "not a valid username"));
	tu_result_free(&r);
	assert_query("SELECT COUNT(*) FROM users WHERE disabled = 1", "0");

	/* add-cert: a PEM file; its DER file again is the same binding. */
	{
		char pem[600], der[600], other[600], e[256];
		EVP_PKEY *key;
		X509 *x, *y;
		struct pki_cert_spec spec;
		uint8_t buf[PKI_MAX_CERT_DER];
		size_t len;

		memset(&spec, 0, sizeof(spec));
		spec.cn = "legacy1";
		spec.purpose = PKI_PURPOSE_CLIENT;
		spec.not_before = time(NULL) - 60;
		spec.not_after = time(NULL) + 86400;
		assert_non_null(key = pki_rsa_keygen(2048, e, sizeof(e)));
		assert_non_null(x = pki_make_cert(&spec, key, NULL, NULL, e,
		    sizeof(e)));
		spec.cn = "someone-else";
		assert_non_null(y = pki_make_cert(&spec, key, NULL, NULL, e,
		    sizeof(e)));
		snprintf(pem, sizeof(pem), "%s/l1.pem", dir);
		snprintf(der, sizeof(der), "%s/l1.der", dir);
		snprintf(other, sizeof(other), "%s/other.pem", dir);
		assert_int_equal(pki_write_cert(pem, x, 0, e, sizeof(e)), 0);
		assert_int_equal(pki_write_cert(other, y, 0, e, sizeof(e)), 0);
		assert_int_equal(pki_cert_to_der(x, buf, sizeof(buf), &len),
		    0);
		assert_int_equal(tu_write(der, buf, len), 0);

		assert_int_equal(admin(&r, NULL, "user", "add-cert", "legacy1",
		    pem, NULL), 0);
		assert_true(tu_contains(r.out, "bound"));
		tu_result_free(&r);
		assert_int_equal(admin(&r, NULL, "user", "add-cert", "legacy1",
		    der, NULL), 0);
		assert_true(tu_contains(r.out, "already bound"));
		tu_result_free(&r);
		v = tu_db_query(&db, "SELECT CONCAT(LENGTH(cert_der), ' ', "
		    "LOWER(HEX(cert_sha256)) = SHA2(cert_der, 256)) FROM "
		    "user_certs");
		assert_non_null(v);
		{
			char expect[32];

			snprintf(expect, sizeof(expect), "%zu 1", len);
			assert_string_equal(v, expect);
		}
		free(v);
		/* A certificate named for someone else: only on purpose. */
		assert_int_equal(admin(&r, NULL, "user", "add-cert", "legacy1",
		    other, NULL), 1);
		assert_true(tu_contains(r.err, "--any-cn"));
		tu_result_free(&r);
		assert_query("SELECT COUNT(*) FROM user_certs", "1");
		assert_int_equal(admin(&r, NULL, "user", "add-cert",
		    "--any-cn", "legacy1", other, NULL), 0);
		tu_result_free(&r);
		assert_query("SELECT COUNT(*) FROM user_certs", "2");
		/* A version-1 binding (fingerprint only) gets its DER. */
		assert_int_equal(tu_db_exec(&db, "UPDATE user_certs SET "
		    "cert_der = NULL"), 0);
		assert_int_equal(admin(&r, NULL, "user", "add-cert", "legacy1",
		    pem, NULL), 0);
		assert_true(tu_contains(r.out, "now stored"));
		tu_result_free(&r);
		assert_query("SELECT COUNT(*) FROM user_certs WHERE cert_der "
		    "IS NOT NULL", "1");
		/* Not a certificate file; a fingerprint is not enough now. */
		assert_int_equal(admin(&r, NULL, "user", "add-cert", "legacy1",
		    "00112233445566778899aabbccddeeff00112233445566778899aabb"
		    "ccddeeff", NULL), 1);
		tu_result_free(&r);
		assert_int_equal(admin(&r, NULL, "user", "add-cert", "legacy1",
		    path, NULL), 1);
		tu_result_free(&r);
		assert_int_equal(admin(&r, NULL, "user", "add-cert",
		    "--any-cn", "ghost", pem, NULL), 1);
		assert_true(tu_contains(r.err, "no such user"));
		tu_result_free(&r);
		assert_query("SELECT COUNT(*) FROM user_certs", "2");
		X509_free(x);
		X509_free(y);
		EVP_PKEY_free(key);
	}

	/* delete takes the certificates with it */
	assert_int_equal(admin(&r, NULL, "user", "delete", "legacy1", NULL), 0);
	tu_result_free(&r);
	assert_query("SELECT COUNT(*) FROM users", "1");
	assert_query("SELECT COUNT(*) FROM user_certs", "0");
	assert_int_equal(admin(&r, NULL, "user", "delete", "legacy1", NULL), 1);
	tu_result_free(&r);

	/* Usage errors exit 2. */
	assert_int_equal(admin(&r, NULL, "user", "frobnicate", NULL), 2);
	tu_result_free(&r);
	assert_int_equal(admin(&r, NULL, "user", "delete", NULL), 2);
	tu_result_free(&r);

	tu_rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_idempotent),
		cmocka_unit_test(test_migration_rerun),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_config_mode_refused),
		cmocka_unit_test(test_import_and_manage),
	};

	return cmocka_run_group_tests_name("db_admin", tests, setup, teardown);
}
