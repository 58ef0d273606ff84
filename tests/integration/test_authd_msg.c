/*
 * test_authd_msg.c: authd's side of issue 5 (users talk to users), with
 * the real authd binary, a real MariaDB server, certificates made at run
 * time by a test CA and envelopes sealed with envelope_seal().
 *
 * As test_authd.c, the test plays the securechatd master (authd's control
 * channel on descriptor 3, one worker channel per session) and the worker
 * through its real stubs (session/authd_wrap.c).
 *
 * Covered: the migration of a version-1 database with data in it; the
 * binding of accounts to certificates (CN at registration, bound or
 * unbound certificates at login, add-cert and a second device, the first
 * login of an imported account, the DER learnt for a version-1 binding,
 * AUTHD_CTL_AUTHENTICATED); CERTS for users and rooms; STORE of direct
 * and room messages and every refusal; FETCH order, ACK states and
 * exactly-once delivery; JOIN, LEAVE, ROOMS, MEMBERS; the rate, queue and
 * room-size limits; retention; requests out of state; nothing readable
 * in the database.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit.h"
#include "authdutil.h"
#include "buf.h"
#include "envelope.h"
#include "ipc.h"
#include "mariadb.h"
#include "pki.h"
#include "sccrypto.h"
#include "testutil.h"
#include "util.h"

/* The worker's real stubs. */
#include "session/authd_wrap.c"

#define PW		"correct-horse-battery"
#define DAY		86400

/* A user's device: key, certificate (of the test CA), its DER and PEM. */
struct dev {
	const char	*name;
	EVP_PKEY	*key;
	X509		*cert;
	uint8_t		 der[PKI_MAX_CERT_DER];
	size_t		 derlen;
	uint8_t		 fp[32];
	char		 pem[PATH_MAX];
};

/* A logged-in worker channel. */
struct sess {
	int		 ch;
	uint64_t	 serial;
	uint64_t	 id;
};

static struct au_env te;
static char ca_path[PATH_MAX];
static struct au_authd authd = AU_AUTHD_INIT;
static uint64_t next_serial = 5000;

static EVP_PKEY *ca_key;
static X509 *ca;
static struct pki_trust *trust;
static uint64_t counter = 1;
static char err[512], reason[512];

/*
 * alice has two devices (alice2 is bound later with add-cert); bob2 is
 * bob's device that nobody bound; notbob is a certificate with CN
 * "notbob" that someone tries to register bob with; erin and ivan come
 * from a version-1 database (erin bound by fingerprint, ivan with no
 * certificate at all).  frank, gina and hank meet the limits.
 */
static struct dev alice, alice2, bob, bob2, notbob, carol, dave, erin, ivan;
static struct dev frank, gina, hank;

/* ---- the version-1 schema, as sc-admin of issue 2 created it ---- */

static const char *const schema_v1[] = {
	"CREATE TABLE schema_version (version INT UNSIGNED NOT NULL,"
	" description VARCHAR(255) NOT NULL,"
	" applied_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,"
	" PRIMARY KEY (version)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
	"COLLATE=utf8mb4_unicode_ci",
	"CREATE TABLE users (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"
	" username VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	"  NOT NULL,"
	" email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
	"  NOT NULL,"
	" pw_kdf VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
	" pw_salt VARBINARY(64) NOT NULL, pw_hash VARBINARY(64) NOT NULL,"
	" kdf_n INT UNSIGNED NOT NULL DEFAULT 0,"
	" kdf_r INT UNSIGNED NOT NULL DEFAULT 0,"
	" kdf_p INT UNSIGNED NOT NULL DEFAULT 0,"
	" disabled TINYINT(1) NOT NULL DEFAULT 0,"
	" created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,"
	" last_login_at DATETIME NULL DEFAULT NULL, PRIMARY KEY (id),"
	" UNIQUE KEY users_username (username),"
	" UNIQUE KEY users_email (email),"
	" CONSTRAINT users_kdf CHECK (pw_kdf IN ('scrypt', 'legacy-sha256'))"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
	"CREATE TABLE user_certs (user_id BIGINT UNSIGNED NOT NULL,"
	" cert_sha256 BINARY(32) NOT NULL,"
	" added_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,"
	" UNIQUE KEY user_certs_user_cert (user_id, cert_sha256),"
	" KEY user_certs_cert (cert_sha256),"
	" CONSTRAINT user_certs_user FOREIGN KEY (user_id)"
	"  REFERENCES users (id) ON DELETE CASCADE"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
	"CREATE TABLE auth_failures ("
	" scope VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
	" subject VARBINARY(255) NOT NULL,"
	" window_start BIGINT UNSIGNED NOT NULL,"
	" failures INT UNSIGNED NOT NULL, PRIMARY KEY (scope, subject),"
	" KEY auth_failures_window (window_start),"
	" CONSTRAINT auth_failures_scope CHECK (scope IN ('user', 'addr'))"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
	"INSERT INTO schema_version (version, description) VALUES "
	"(1, 'users, user_certs, auth_failures')",
	NULL
};

/* ---- certificates ---- */

static X509 *
make_cert(const char *cn, EVP_PKEY *key, int is_ca)
{
	struct pki_cert_spec spec;
	time_t now = time(NULL);
	X509 *x;

	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.purpose = is_ca ? PKI_PURPOSE_ANY : PKI_PURPOSE_CLIENT;
	spec.is_ca = is_ca;
	spec.not_before = now - 300;
	spec.not_after = now + 30 * DAY;
	if ((x = pki_make_cert(&spec, key, is_ca ? NULL : ca,
	    is_ca ? NULL : ca_key, err, sizeof(err))) == NULL)
		fprintf(stderr, "pki_make_cert %s: %s\n", cn, err);
	return x;
}

static int
dev_init(struct dev *d, const char *name, const char *cn, const char *tag)
{
	d->name = name;
	if ((d->key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL ||
	    (d->cert = make_cert(cn, d->key, 0)) == NULL ||
	    pki_cert_to_der(d->cert, d->der, sizeof(d->der), &d->derlen) ==
	    -1 || sc_sha256(d->der, d->derlen, d->fp) == -1)
		return -1;
	snprintf(d->pem, sizeof(d->pem), "%s/%s.pem", te.tmpdir, tag);
	return pki_write_cert(d->pem, d->cert, 0, err, sizeof(err));
}

static void
dev_free(struct dev *d)
{
	EVP_PKEY_free(d->key);
	X509_free(d->cert);
}

static char *
fp_hex(const struct dev *d)
{
	static char s[65];

	hex_encode(d->fp, 32, s);
	return s;
}

/* ---- playing the master ---- */

static int
authd_spawn(struct au_authd *p, const char *tag, const char *const *extra)
{
	const char *args[40] = { "-N", "14", "-F", "50" };
	size_t n = 4;

	while (extra != NULL && *extra != NULL && n < 39)
		args[n++] = *extra++;
	args[n] = NULL;
	return au_spawn(p, &te, tag, args);
}

/* ---- playing the worker ---- */

static int
do_register(struct au_authd *p, const char *user, const struct dev *d,
    struct sess *s)
{
	char email[64], canon[64];
	uint64_t id = 0;
	int ch, code;
	uint64_t serial = next_serial++;

	snprintf(email, sizeof(email), "%s@example.org", user);
	ch = au_chan_open(p, serial, "192.0.2.10");
	code = authd_register_x509(ch, (const uint8_t *)user, strlen(user),
	    (const uint8_t *)email, strlen(email), (const uint8_t *)PW,
	    strlen(PW), d->cert, &id, canon, sizeof(canon));
	au_ctl_drain(p, 0);
	if (code == 0 && s != NULL) {
		s->ch = ch;
		s->serial = serial;
		s->id = id;
	} else
		close(ch);
	return code;
}

static int
do_login(struct au_authd *p, const char *user, const struct dev *d,
    struct sess *s)
{
	char canon[64];
	uint64_t id = 0;
	int ch, code;
	uint64_t serial = next_serial++;

	ch = au_chan_open(p, serial, "192.0.2.11");
	code = authd_login_x509(ch, (const uint8_t *)user, strlen(user),
	    (const uint8_t *)PW, strlen(PW), d->cert, &id, canon,
	    sizeof(canon));
	au_ctl_drain(p, 0);
	if (code == 0 && s != NULL) {
		s->ch = ch;
		s->serial = serial;
		s->id = id;
	} else
		close(ch);
	return code;
}

static void
sess_close(struct sess *s)
{
	if (s->ch != -1)
		close(s->ch);
	s->ch = -1;
}

/* Seal text from `from` to the given devices (NULL-terminated). */
static void
seal(struct wbuf *b, const struct dev *from, const char *room,
    const char *text, ...)
{
	struct env_rcpt_in r[ENV_MAX_RECIPIENTS];
	struct env_identity me;
	const struct dev *d;
	va_list ap;
	size_t n = 0;
	int rc;

	va_start(ap, text);
	while ((d = va_arg(ap, const struct dev *)) != NULL &&
	    n < ENV_MAX_RECIPIENTS) {
		r[n].name = d->name;
		r[n].cert = d->cert;
		n++;
	}
	va_end(ap);
	me.name = from->name;
	me.cert = from->cert;
	me.key = from->key;
	wbuf_init(b, ENV_MAX_LEN);
	rc = envelope_seal(b, &me, r, n, room, (uint64_t)time(NULL) * 1000,
	    counter++, (const uint8_t *)text, strlen(text), trust, 0, reason,
	    sizeof(reason));
	if (rc != 0)
		fail_msg("envelope_seal: %s", reason);
}

/* STORE an envelope sealed here; returns the code, *id the message id. */
static int
store(const struct sess *s, uint64_t *id, const struct dev *from,
    const char *room, const char *text, const struct dev *r1,
    const struct dev *r2, const struct dev *r3, const struct dev *r4)
{
	struct wbuf b;
	uint64_t dummy;
	int code;

	seal(&b, from, room, text, r1, r2, r3, r4, (const struct dev *)NULL);
	code = authd_store(s->ch, b.data, b.len, id ? id : &dummy);
	wbuf_free(&b);
	au_ctl_drain(&authd, 0);
	return code;
}

static unsigned long long
query_u64(const char *fmt, ...)
{
	char sql[1024], *v;
	unsigned long long n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	v = tu_db_query(&te.db, "%s", sql);
	assert_non_null(v);
	n = strtoull(v, NULL, 10);
	free(v);
	return n;
}

static int
admin(struct tu_result *r, const char *a1, const char *a2, const char *a3,
    const char *a4, const char *a5)
{
	const char *argv[] = { tu_bin("sc-admin"), a1, a2, "--config",
	    te.db.conf, a3, a4, a5, NULL };

	return tu_run(r, NULL, 60, argv);
}

/* ---- setup ---- */

static void
legacy_hash(const uint8_t *salt, size_t n, const char *pass, char out[65])
{
	uint8_t h[32];
	unsigned int hl;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, salt, n) != 1 ||
	    EVP_DigestUpdate(ctx, pass, strlen(pass)) != 1 ||
	    EVP_DigestFinal_ex(ctx, h, &hl) != 1)
		abort();
	EVP_MD_CTX_free(ctx);
	hex_encode(h, 32, out);
}

static int
setup(void **state)
{
	size_t i;

	(void)state;
	/* Started first: the certificates go into its directory. */
	if (au_env_start(&te, "authd-msg") == -1)
		return -1;
	if ((ca_key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL ||
	    (ca = make_cert("Test Root", ca_key, 1)) == NULL)
		return -1;
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", te.tmpdir);
	if (pki_write_cert(ca_path, ca, 0, err, sizeof(err)) == -1 ||
	    (trust = pki_trust_load(ca_path, NULL, err, sizeof(err))) == NULL)
		return -1;
	if (dev_init(&alice, "alice", "alice", "alice") == -1 ||
	    dev_init(&alice2, "alice", "alice", "alice2") == -1 ||
	    dev_init(&bob, "bob", "bob", "bob") == -1 ||
	    dev_init(&bob2, "bob", "bob", "bob2") == -1 ||
	    dev_init(&notbob, "bob", "notbob", "notbob") == -1 ||
	    dev_init(&carol, "carol", "carol", "carol") == -1 ||
	    dev_init(&dave, "dave", "dave", "dave") == -1 ||
	    dev_init(&erin, "erin", "erin", "erin") == -1 ||
	    dev_init(&ivan, "ivan", "ivan", "ivan") == -1 ||
	    dev_init(&frank, "frank", "frank", "frank") == -1 ||
	    dev_init(&gina, "gina", "gina", "gina") == -1 ||
	    dev_init(&hank, "hank", "hank", "hank") == -1) {
		fprintf(stderr, "certificates: %s\n", err);
		return -1;
	}
	/* A version-1 database, as issue 2 left it, with accounts in it. */
	for (i = 0; schema_v1[i] != NULL; i++)
		if (tu_db_exec(&te.db, "%s", schema_v1[i]) == -1)
			return -1;
	{
		static const uint8_t salt[4] = { 1, 2, 3, 4 };
		char h[65];

		legacy_hash(salt, sizeof(salt), PW, h);
		if (tu_db_exec(&te.db, "INSERT INTO users (username, email, "
		    "pw_kdf, pw_salt, pw_hash) VALUES ('erin', "
		    "'erin@example.org', 'legacy-sha256', X'01020304', "
		    "X'%s'), ('ivan', 'ivan@example.org', 'legacy-sha256', "
		    "X'01020304', X'%s')", h, h) == -1 ||
		    tu_db_exec(&te.db, "INSERT INTO user_certs (user_id, "
		    "cert_sha256) SELECT id, X'%s' FROM users WHERE username "
		    "= 'erin'", fp_hex(&erin)) == -1 ||
		    tu_db_exec(&te.db, "INSERT INTO auth_failures VALUES "
		    "('addr', '198.51.100.99', UNIX_TIMESTAMP(), 2)") == -1)
			return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (authd.pid > 0)
		(void)au_stop(&authd);
	au_env_stop(&te);
	dev_free(&alice);
	dev_free(&alice2);
	dev_free(&bob);
	dev_free(&bob2);
	dev_free(&notbob);
	dev_free(&carol);
	dev_free(&dave);
	dev_free(&erin);
	dev_free(&ivan);
	dev_free(&frank);
	dev_free(&gina);
	dev_free(&hank);
	pki_trust_free(trust);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return 0;
}

/* ---- tests ---- */

static void
test_migration(void **state)
{
	static const char *const args[] = { "-M", "1000", "-B", "1000", NULL };
	struct tu_result r;

	(void)state;
	/* Version 1: this release's tools say what to do. */
	assert_int_equal(admin(&r, "db", "status", NULL, NULL, NULL), 1);
	assert_true(tu_contains(r.out, "schema version:   1"));
	tu_result_free(&r);

	assert_int_equal(admin(&r, "db", "init", NULL, NULL, NULL), 0);
	assert_true(tu_contains(r.out, "applied version 2"));
	assert_false(tu_contains(r.out, "applied version 1"));
	tu_result_free(&r);
	assert_int_equal(admin(&r, "db", "init", NULL, NULL, NULL), 0);
	assert_true(tu_contains(r.out, "version 2, up to date"));
	tu_result_free(&r);

	/* The accounts, the binding and the counters are all still there. */
	au_assert_query(&te.db, "SELECT GROUP_CONCAT(username ORDER BY username) FROM "
	    "users", "erin,ivan");
	{
		char expect[80];

		snprintf(expect, sizeof(expect), "%s 1", fp_hex(&erin));
		au_assert_query(&te.db, "SELECT CONCAT(LOWER(HEX(cert_sha256)), ' ', "
		    "cert_der IS NULL) FROM user_certs", expect);
	}
	au_assert_query(&te.db, "SELECT failures FROM auth_failures", "2");
	au_assert_query(&te.db, "SELECT MAX(version) FROM schema_version", "2");

	assert_int_equal(authd_spawn(&authd, "main", args), 0);
}

static void
test_register_binding(void **state)
{
	struct sess s = { -1, 0, 0 };
	size_t mark = au_seen.audit_len;
	char *v;

	(void)state;
	assert_int_equal(do_register(&authd, "alice", &alice, &s), 0);
	/* The master heard it from authd: serial, account, name, cert. */
	au_ctl_drain(&authd, 100);
	assert_true(au_seen.nauthn > 0);
	assert_true(au_seen.last.serial == s.serial);
	assert_true(au_seen.last.account_id == s.id);
	assert_string_equal(au_seen.last.user, "alice");
	assert_memory_equal(au_seen.last.fp, alice.fp, 32);
	sess_close(&s);
	/* The certificate itself is stored with its fingerprint. */
	v = tu_db_query(&te.db, "SELECT CONCAT(LOWER(HEX(c.cert_sha256)), ' ', "
	    "LENGTH(c.cert_der), ' ', SHA2(c.cert_der, 256)) FROM user_certs c "
	    "JOIN users u ON u.id = c.user_id WHERE u.username = 'alice'");
	assert_non_null(v);
	{
		char expect[200];

		snprintf(expect, sizeof(expect), "%s %zu %s", fp_hex(&alice),
		    alice.derlen, fp_hex(&alice));
		assert_string_equal(v, expect);
	}
	free(v);

	/* A certificate whose CN is not the username. */
	assert_int_equal(do_register(&authd, "bob", &notbob, NULL),
	    AUTHD_RES_BAD_INPUT);
	assert_true(au_audit_since(&authd, mark, "certificate CN does not match "
	    "username"));
	au_assert_query(&te.db, "SELECT COUNT(*) FROM users WHERE username = 'bob'", "0");

	assert_int_equal(do_register(&authd, "bob", &bob, NULL), 0);
	assert_int_equal(do_register(&authd, "carol", &carol, NULL), 0);
	assert_int_equal(do_register(&authd, "dave", &dave, NULL), 0);
	assert_int_equal(do_register(&authd, "frank", &frank, NULL), 0);
	assert_int_equal(do_register(&authd, "gina", &gina, NULL), 0);
	assert_int_equal(do_register(&authd, "hank", &hank, NULL), 0);
}

static void
test_login_binding(void **state)
{
	struct sess s = { -1, 0, 0 };
	struct tu_result r;
	size_t mark = au_seen.audit_len;

	(void)state;
	assert_int_equal(do_login(&authd, "alice", &alice, &s), 0);
	sess_close(&s);
	/* bob's certificate, and alice's second device not bound yet. */
	assert_int_equal(do_login(&authd, "alice", &bob, NULL),
	    AUTHD_RES_AUTH_FAIL);
	assert_int_equal(do_login(&authd, "alice", &alice2, NULL),
	    AUTHD_RES_AUTH_FAIL);
	assert_true(au_audit_since(&authd, mark, "certificate not bound"));

	/* The administrator binds the second device. */
	assert_int_equal(admin(&r, "user", "add-cert", "alice", alice2.pem,
	    NULL), 0);
	assert_true(tu_contains(r.out, "bound"));
	tu_result_free(&r);
	assert_int_equal(do_login(&authd, "alice", &alice2, &s), 0);
	assert_memory_equal(au_seen.last.fp, alice2.fp, 32);
	sess_close(&s);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM user_certs c JOIN users u ON "
	    "u.id = c.user_id WHERE u.username = 'alice' AND "
	    "c.cert_der IS NOT NULL", "2");
	/* A certificate whose CN is another user's is refused by add-cert. */
	assert_int_equal(admin(&r, "user", "add-cert", "alice", bob2.pem,
	    NULL), 1);
	assert_true(tu_contains(r.err, "CN"));
	tu_result_free(&r);
}

static void
test_login_migrated(void **state)
{
	struct sess s = { -1, 0, 0 };
	size_t mark = au_seen.audit_len;

	(void)state;
	/* erin: bound by fingerprint under version 1; her login brings
	 * the DER, and her legacy hash becomes scrypt. */
	au_assert_query(&te.db, "SELECT COUNT(*) FROM user_certs c JOIN users u ON "
	    "u.id = c.user_id WHERE u.username = 'erin' AND c.cert_der IS "
	    "NULL", "1");
	assert_int_equal(do_login(&authd, "erin", &dave, NULL),
	    AUTHD_RES_AUTH_FAIL);
	assert_int_equal(do_login(&authd, "erin", &erin, &s), 0);
	sess_close(&s);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM user_certs c JOIN users u ON "
	    "u.id = c.user_id WHERE u.username = 'erin' AND c.cert_der IS "
	    "NOT NULL", "1");
	au_assert_query(&te.db, "SELECT pw_kdf FROM users WHERE username = 'erin'",
	    "scrypt");

	/* ivan: imported without any certificate; the first login's is
	 * bound, and then only that one works. */
	assert_int_equal(do_login(&authd, "ivan", &ivan, &s), 0);
	sess_close(&s);
	assert_true(au_audit_since(&authd, mark, "certificate bound at first login"));
	assert_int_equal(do_login(&authd, "ivan", &dave, NULL),
	    AUTHD_RES_AUTH_FAIL);
	assert_int_equal(do_login(&authd, "ivan", &ivan, NULL), 0);
}

static void
test_certs(void **state)
{
	struct sess s = { -1, 0, 0 };
	struct authd_certlist l;

	(void)state;
	assert_int_equal(do_login(&authd, "bob", &bob, &s), 0);
	/* Every device of alice, in binding order, as DER. */
	assert_int_equal(authd_certs(s.ch, "alice", &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].user, "alice");
	assert_string_equal(l.v[1].user, "alice");
	assert_true((l.v[0].derlen == alice.derlen &&
	    memcmp(l.v[0].der, alice.der, alice.derlen) == 0 &&
	    l.v[1].derlen == alice2.derlen &&
	    memcmp(l.v[1].der, alice2.der, alice2.derlen) == 0) ||
	    (l.v[1].derlen == alice.derlen &&
	    memcmp(l.v[1].der, alice.der, alice.derlen) == 0 &&
	    l.v[0].derlen == alice2.derlen &&
	    memcmp(l.v[0].der, alice2.der, alice2.derlen) == 0));
	authd_certlist_free(&l);
	/* Any letter case of the name. */
	assert_int_equal(authd_certs(s.ch, "CAROL", &l), 0);
	assert_int_equal(l.n, 1);
	assert_memory_equal(l.v[0].der, carol.der, carol.derlen);
	authd_certlist_free(&l);
	/* No such user, not a name, not a room of bob's. */
	assert_int_equal(authd_certs(s.ch, "nosuchuser", &l),
	    AUTHD_RES_BAD_INPUT);
	authd_certlist_free(&l);
	assert_int_equal(authd_certs(s.ch, "x y", &l), AUTHD_RES_BAD_INPUT);
	authd_certlist_free(&l);
	assert_int_equal(authd_certs(s.ch, "#nowhere", &l),
	    AUTHD_RES_BAD_INPUT);
	authd_certlist_free(&l);
	sess_close(&s);
}

static void
test_rooms(void **state)
{
	struct sess a = { -1, 0, 0 }, b = { -1, 0, 0 }, c = { -1, 0, 0 };
	struct sess d = { -1, 0, 0 };
	struct authd_certlist l;
	authd_name names[AUTHD_ROOMS_MAX];
	size_t n, i;
	size_t mark = au_seen.audit_len;

	(void)state;
	assert_int_equal(do_login(&authd, "alice", &alice, &a), 0);
	assert_int_equal(do_login(&authd, "bob", &bob, &b), 0);
	assert_int_equal(do_login(&authd, "carol", &carol, &c), 0);
	assert_int_equal(do_login(&authd, "dave", &dave, &d), 0);

	/* Names that are not rooms. */
	assert_int_equal(authd_join(a.ch, "general"), AUTHD_RES_BAD_INPUT);
	assert_int_equal(authd_join(a.ch, "#General"), AUTHD_RES_BAD_INPUT);
	assert_int_equal(authd_join(a.ch, "#"), AUTHD_RES_BAD_INPUT);
	assert_int_equal(authd_join(a.ch,
	    "#a234567890123456789012345678901x"), AUTHD_RES_BAD_INPUT);
	assert_true(au_audit_since(&authd, mark, "join_refused"));

	/* The first JOIN creates the room; joining twice is fine. */
	assert_int_equal(authd_join(a.ch, "#general"), 0);
	assert_int_equal(authd_join(a.ch, "#general"), 0);
	assert_int_equal(authd_join(b.ch, "#general"), 0);
	assert_int_equal(authd_join(c.ch, "#general"), 0);
	assert_int_equal(authd_join(a.ch, "#ops"), 0);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM room_members m JOIN rooms r ON "
	    "r.id = m.room_id WHERE r.name = '#general'", "3");
	assert_true(au_audit_since(&authd, mark, "\"room_join\""));

	assert_int_equal(authd_rooms(a.ch, names, AUTHD_ROOMS_MAX, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "#general");
	assert_string_equal(names[1], "#ops");
	assert_int_equal(authd_rooms(d.ch, names, AUTHD_ROOMS_MAX, &n), 0);
	assert_int_equal(n, 0);

	assert_int_equal(authd_members(b.ch, "#general", names,
	    AUTHD_ROOMS_MAX, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "alice");
	assert_string_equal(names[1], "bob");
	assert_string_equal(names[2], "carol");
	/* Members only. */
	assert_int_equal(authd_members(d.ch, "#general", names,
	    AUTHD_ROOMS_MAX, &n), AUTHD_RES_BAD_INPUT);
	assert_int_equal(n, 0);
	assert_int_equal(authd_members(d.ch, "#nosuch", names,
	    AUTHD_ROOMS_MAX, &n), AUTHD_RES_BAD_INPUT);
	assert_true(au_audit_since(&authd, mark, "members_refused"));

	/* CERTS of a room: every member's every certificate. */
	assert_int_equal(authd_certs(b.ch, "#general", &l), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].user, "alice");
	assert_string_equal(l.v[1].user, "alice");
	assert_string_equal(l.v[2].user, "bob");
	assert_string_equal(l.v[3].user, "carol");
	for (i = 0; i < l.n; i++)
		assert_true(l.v[i].derlen > 0);
	authd_certlist_free(&l);
	assert_int_equal(authd_certs(d.ch, "#general", &l),
	    AUTHD_RES_BAD_INPUT);
	authd_certlist_free(&l);

	/* LEAVE: not a member, then the last member deletes the room. */
	assert_int_equal(authd_leave(d.ch, "#ops"), AUTHD_RES_BAD_INPUT);
	assert_int_equal(authd_leave(d.ch, "#nosuch"), AUTHD_RES_BAD_INPUT);
	assert_int_equal(authd_leave(a.ch, "#ops"), 0);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM rooms WHERE name = '#ops'", "0");
	assert_int_equal(authd_leave(a.ch, "#ops"), AUTHD_RES_BAD_INPUT);
	assert_true(au_audit_since(&authd, mark, "\"room_leave\""));
	assert_true(au_audit_since(&authd, mark, "leave_refused"));
	/* dave joins and leaves #general: the room stays. */
	assert_int_equal(authd_join(d.ch, "#general"), 0);
	assert_int_equal(authd_leave(d.ch, "#general"), 0);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM room_members m JOIN rooms r ON "
	    "r.id = m.room_id WHERE r.name = '#general'", "3");

	sess_close(&a);
	sess_close(&b);
	sess_close(&c);
	sess_close(&d);
}

static uint64_t msg_dm[3], msg_room;

static void
test_store(void **state)
{
	struct sess a = { -1, 0, 0 }, a2 = { -1, 0, 0 }, d = { -1, 0, 0 };
	uint64_t id = 0;
	size_t mark = au_seen.audit_len;

	(void)state;
	assert_int_equal(do_login(&authd, "alice", &alice, &a), 0);
	assert_int_equal(do_login(&authd, "dave", &dave, &d), 0);

	/* Direct messages to bob; alice may copy her own other device. */
	assert_int_equal(store(&a, &msg_dm[0], &alice, "", "marker-one",
	    &bob, NULL, NULL, NULL), 0);
	assert_int_equal(store(&a, &msg_dm[1], &alice, "", "marker-two",
	    &bob, &alice2, &alice, NULL), 0);
	assert_int_equal(store(&a, &msg_dm[2], &alice, "", "marker-three",
	    &bob, NULL, NULL, NULL), 0);
	assert_true(msg_dm[0] > 0 && msg_dm[0] < msg_dm[1] &&
	    msg_dm[1] < msg_dm[2]);
	/* One queue row per recipient user, none for the sender. */
	assert_int_equal(query_u64("SELECT COUNT(*) FROM deliveries WHERE "
	    "envelope_id = %llu", (unsigned long long)msg_dm[1]), 1);
	assert_int_equal(query_u64("SELECT COUNT(*) FROM deliveries d JOIN "
	    "users u ON u.id = d.recipient_id WHERE u.username = 'bob' AND "
	    "d.state = 0"), 3);

	/* A room message to every member's every certificate, with or
	 * without the sender's own. */
	assert_int_equal(store(&a, &msg_room, &alice, "#general",
	    "marker-room", &bob, &carol, &alice2, NULL), 0);
	assert_int_equal(query_u64("SELECT COUNT(*) FROM deliveries WHERE "
	    "envelope_id = %llu", (unsigned long long)msg_room), 2);
	assert_int_equal(store(&a, &id, &alice, "#general", "marker-room2",
	    &carol, &bob, NULL, NULL), 0);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM envelopes WHERE room = '#general'",
	    "2");

	/* Refusals, each answered with a code and audited. */
	/* The sender is not the session's user. */
	assert_int_equal(store(&a, &id, &bob, "", "x", &carol, NULL, NULL,
	    NULL), AUTHD_RES_BAD_INPUT);
	assert_true(id == 0);
	assert_true(au_audit_since(&authd, mark, "sender is not the session's user"));
	/* alice, but from her other device than the session's. */
	assert_int_equal(store(&a, &id, &alice2, "", "x", &bob, NULL, NULL,
	    NULL), AUTHD_RES_BAD_INPUT);
	assert_true(au_audit_since(&authd, mark, "sender certificate is not the "
	    "session's"));
	/* A certificate of bob's that is not bound to him. */
	assert_int_equal(store(&a, &id, &alice, "", "x", &bob2, NULL, NULL,
	    NULL), AUTHD_RES_BAD_INPUT);
	assert_int_equal(store(&a, &id, &alice, "", "x", &bob, &bob2, NULL,
	    NULL), AUTHD_RES_BAD_INPUT);
	assert_true(au_audit_since(&authd, mark, "not bound to the user it names"));
	/* A note to self is not a direct message. */
	assert_int_equal(store(&a, &id, &alice, "", "x", &alice2, NULL, NULL,
	    NULL), AUTHD_RES_BAD_INPUT);
	/* A room message that leaves a member out. */
	assert_int_equal(store(&a, &id, &alice, "#general", "x", &bob, NULL,
	    NULL, NULL), AUTHD_RES_BAD_INPUT);
	assert_true(au_audit_since(&authd, mark, "a member's certificate is missing"));
	/* ... or names someone who is not a member. */
	assert_int_equal(store(&a, &id, &alice, "#general", "x", &bob, &carol,
	    &dave, NULL), AUTHD_RES_BAD_INPUT);
	/* ... or comes from someone who is not one. */
	assert_int_equal(store(&d, &id, &dave, "#general", "x", &alice, &bob,
	    &carol, &alice2), AUTHD_RES_BAD_INPUT);
	assert_true(au_audit_since(&authd, mark, "the sender is not a member"));
	/* ... or to a room that does not exist. */
	assert_int_equal(store(&a, &id, &alice, "#nowhere", "x", &bob, NULL,
	    NULL, NULL), AUTHD_RES_BAD_INPUT);
	assert_true(au_audit_since(&authd, mark, "store_refused"));
	/* Nothing of that was stored. */
	assert_int_equal(query_u64("SELECT COUNT(*) FROM envelopes"), 5);

	/* The other device's session may send as itself. */
	assert_int_equal(do_login(&authd, "alice", &alice2, &a2), 0);
	assert_int_equal(store(&a2, &id, &alice2, "", "marker-four", &carol,
	    NULL, NULL, NULL), 0);
	sess_close(&a2);
	sess_close(&a);
	sess_close(&d);
}

static void
test_store_malformed(void **state)
{
	static uint8_t big[ENV_MAX_LEN + 1];
	struct sess a = { -1, 0, 0 };
	struct wbuf b;
	uint64_t id = 0;
	size_t mark = au_seen.audit_len;
	static struct ipc_msg m;
	struct cursor c;

	(void)state;
	assert_int_equal(do_login(&authd, "alice", &alice, &a), 0);
	/* Not an envelope. */
	memset(big, 'x', sizeof(big));
	assert_int_equal(authd_store(a.ch, big, 100, &id),
	    AUTHD_RES_PROTOCOL);
	/* Over the envelope limit: the stub refuses it ... */
	assert_int_equal(authd_store(a.ch, big, sizeof(big), &id),
	    AUTHD_RES_TOO_LARGE);
	/* ... and so does authd, from a worker that skips the stub. */
	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_str32(&b, big, sizeof(big));
	assert_false(b.err);
	assert_int_equal(ipc_send(a.ch, AUTHD_REQ_STORE, 77, b.data, b.len),
	    0);
	wbuf_free(&b);
	assert_int_equal(ipc_recv(a.ch, &m, 0), 1);
	assert_int_equal(m.hdr.type, AUTHD_RES_STORE);
	assert_int_equal(m.hdr.id, 77);
	cur_init(&c, m.body, m.len);
	assert_int_equal(cur_u16(&c), AUTHD_RES_TOO_LARGE);
	assert_true(cur_u64(&c) == 0);
	assert_int_equal(cur_done(&c), 0);
	assert_true(au_audit_since(&authd, mark, "envelope too large"));
	/* An envelope cut short. */
	seal(&b, &alice, "", "marker-cut", &bob, (const struct dev *)NULL);
	assert_int_equal(authd_store(a.ch, b.data, b.len - 1, &id),
	    AUTHD_RES_PROTOCOL);
	wbuf_free(&b);
	assert_true(au_audit_since(&authd, mark, "malformed envelope"));
	sess_close(&a);
}

static void
test_fetch_ack(void **state)
{
	static uint8_t env[ENV_MAX_LEN];
	struct sess b = { -1, 0, 0 }, c = { -1, 0, 0 };
	authd_name sender;
	uint64_t id, after;
	size_t len, mark = au_seen.audit_len;
	int present;
	struct env_header h;
	char why[256];

	(void)state;
	assert_int_equal(do_login(&authd, "bob", &bob, &b), 0);
	/* In id order, one per request. */
	assert_int_equal(authd_fetch(b.ch, 0, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_true(present && id == msg_dm[0]);
	assert_string_equal(sender, "alice");
	assert_int_equal(envelope_peek(env, len, &h, why, sizeof(why)), 0);
	assert_string_equal(h.sender, "alice");
	assert_int_equal(authd_fetch(b.ch, id, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_true(present && id == msg_dm[1]);
	assert_int_equal(authd_fetch(b.ch, id, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_true(present && id == msg_dm[2]);
	assert_int_equal(authd_fetch(b.ch, id, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_true(present && id == msg_room);
	after = id;
	assert_int_equal(authd_fetch(b.ch, after, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_true(present && id > msg_room);	/* marker-room2 */
	assert_int_equal(authd_fetch(b.ch, id, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_false(present);
	assert_true(id == 0 && len == 0);
	assert_string_equal(sender, "");

	/* ACK: delivered, read; forward only; only one's own. */
	assert_int_equal(authd_ack(b.ch, msg_dm[0], AUTHD_ST_DELIVERED,
	    sender), 0);
	assert_string_equal(sender, "alice");
	assert_int_equal(query_u64("SELECT state FROM deliveries WHERE "
	    "envelope_id = %llu", (unsigned long long)msg_dm[0]), 1);
	assert_int_equal(query_u64("SELECT delivered_at IS NOT NULL AND "
	    "read_at IS NULL FROM deliveries WHERE envelope_id = %llu",
	    (unsigned long long)msg_dm[0]), 1);
	assert_int_equal(authd_ack(b.ch, msg_dm[1], AUTHD_ST_READ, sender),
	    0);
	assert_int_equal(authd_ack(b.ch, msg_dm[1], AUTHD_ST_DELIVERED,
	    sender), 0);
	assert_int_equal(query_u64("SELECT state FROM deliveries WHERE "
	    "envelope_id = %llu", (unsigned long long)msg_dm[1]), 2);
	assert_int_equal(query_u64("SELECT delivered_at IS NOT NULL AND "
	    "read_at IS NOT NULL FROM deliveries WHERE envelope_id = %llu",
	    (unsigned long long)msg_dm[1]), 1);
	assert_int_equal(authd_ack(b.ch, msg_dm[0], AUTHD_ST_READ, sender),
	    0);
	assert_int_equal(query_u64("SELECT state FROM deliveries WHERE "
	    "envelope_id = %llu", (unsigned long long)msg_dm[0]), 2);
	assert_int_equal(authd_ack(b.ch, msg_dm[2], 3, sender),
	    AUTHD_RES_BAD_INPUT);
	assert_int_equal(authd_ack(b.ch, msg_dm[2], 0, sender),
	    AUTHD_RES_BAD_INPUT);
	assert_int_equal(authd_ack(b.ch, 999999, AUTHD_ST_DELIVERED, sender),
	    AUTHD_RES_BAD_INPUT);
	assert_true(au_audit_since(&authd, mark, "ack_refused"));
	/* carol cannot acknowledge bob's copy of a DM. */
	assert_int_equal(do_login(&authd, "carol", &carol, &c), 0);
	assert_int_equal(authd_ack(c.ch, msg_dm[2], AUTHD_ST_DELIVERED,
	    sender), AUTHD_RES_BAD_INPUT);
	assert_int_equal(query_u64("SELECT state FROM deliveries WHERE "
	    "envelope_id = %llu", (unsigned long long)msg_dm[2]), 0);
	/* Her copy of the room message is hers to acknowledge. */
	assert_int_equal(authd_ack(c.ch, msg_room, AUTHD_ST_DELIVERED,
	    sender), 0);
	assert_string_equal(sender, "alice");
	sess_close(&c);

	/* Exactly once: acknowledged messages are not fetched again, in
	 * this session or the next. */
	assert_int_equal(authd_fetch(b.ch, 0, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_true(present && id == msg_dm[2]);
	sess_close(&b);
	assert_int_equal(do_login(&authd, "bob", &bob, &b), 0);
	assert_int_equal(authd_fetch(b.ch, 0, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_true(present && id == msg_dm[2]);
	assert_int_equal(authd_ack(b.ch, msg_dm[2], AUTHD_ST_DELIVERED,
	    sender), 0);
	assert_int_equal(authd_ack(b.ch, msg_room, AUTHD_ST_DELIVERED,
	    sender), 0);
	assert_int_equal(authd_fetch(b.ch, 0, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_true(present && id > msg_room);
	assert_int_equal(authd_ack(b.ch, id, AUTHD_ST_DELIVERED, sender), 0);
	assert_int_equal(authd_fetch(b.ch, 0, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_false(present);
	sess_close(&b);
}

/* A server status counter of the test's own MariaDB. */
static unsigned long long
db_status(const char *name)
{
	return query_u64("SELECT VARIABLE_VALUE FROM "
	    "information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = '%s'",
	    name);
}

/*
 * authd prepares each statement once per connection and keeps it: once
 * warm, a direct message costs no prepare at all and exactly four
 * executions (its recipients, the rate bucket, the envelope, the
 * delivery), its ACK two.  The test is the only other client of this
 * server, and its queries are not prepared statements.
 */
static void
test_statements(void **state)
{
	struct sess c = { -1, 0, 0 }, d = { -1, 0, 0 };
	authd_name sender;
	unsigned long long prep0, exec0, prep, exec;
	uint64_t id = 0;
	int i;

	(void)state;
	assert_int_equal(do_login(&authd, "carol", &carol, &c), 0);
	assert_int_equal(do_login(&authd, "dave", &dave, &d), 0);
	/* Warm: every statement of the path prepared, carol's bucket made. */
	assert_int_equal(store(&c, &id, &carol, "", "warm", &dave, NULL, NULL,
	    NULL), 0);
	assert_int_equal(authd_ack(d.ch, id, AUTHD_ST_DELIVERED, sender), 0);
	prep0 = db_status("COM_STMT_PREPARE");
	exec0 = db_status("COM_STMT_EXECUTE");
	for (i = 0; i < 5; i++) {
		assert_int_equal(store(&c, &id, &carol, "", "cached", &dave,
		    NULL, NULL, NULL), 0);
		assert_int_equal(authd_ack(d.ch, id, AUTHD_ST_DELIVERED,
		    sender), 0);
		assert_string_equal(sender, "carol");
	}
	prep = db_status("COM_STMT_PREPARE") - prep0;
	exec = db_status("COM_STMT_EXECUTE") - exec0;
	if (prep != 0 || exec != 5 * (4 + 2))
		fail_msg("5 messages: %llu prepares, %llu executions", prep,
		    exec);
	/* And the queue is what those messages left. */
	assert_int_equal(query_u64("SELECT COUNT(*) FROM deliveries d JOIN "
	    "users u ON u.id = d.recipient_id WHERE u.username = 'dave' AND "
	    "d.state = 0"), 0);
	sess_close(&c);
	sess_close(&d);
}

/* The server holds envelopes only: no text it was given is readable. */
static void
test_nothing_readable(void **state)
{
	char *log;

	(void)state;
	assert_int_equal(query_u64("SELECT COUNT(*) FROM envelopes WHERE "
	    "LOCATE('marker', envelope) > 0"), 0);
	assert_true(query_u64("SELECT COUNT(*) FROM envelopes") >= 6);
	au_ctl_drain(&authd, 50);
	assert_false(tu_contains(au_seen.audit, "marker"));
	assert_non_null(log = tu_read(authd.log, NULL));
	assert_false(tu_contains(log, "marker"));
	assert_false(tu_contains(log, PW));
	free(log);
}

static void
test_out_of_state(void **state)
{
	struct sess a = { -1, 0, 0 };
	struct wbuf b;
	uint64_t serial;
	uint8_t one = 1;
	int ch;

	(void)state;
	/* JOIN before any login. */
	serial = next_serial++;
	ch = au_chan_open(&authd, serial, "192.0.2.20");
	wbuf_init(&b, 64);
	wbuf_put_str16(&b, "#general", 8);
	assert_int_equal(ipc_send(ch, AUTHD_REQ_JOIN, 1, b.data, b.len), 0);
	wbuf_free(&b);
	au_assert_violation(&authd, ch, serial);
	/* A failed login does not open the messaging requests. */
	serial = next_serial++;
	ch = au_chan_open(&authd, serial, "192.0.2.21");
	{
		uint64_t id;
		char canon[64];

		assert_int_equal(authd_login_x509(ch, (const uint8_t *)"bob",
		    3, (const uint8_t *)PW, strlen(PW), alice.cert, &id,
		    canon, sizeof(canon)), AUTHD_RES_AUTH_FAIL);
	}
	wbuf_init(&b, 64);
	assert_int_equal(ipc_send(ch, AUTHD_REQ_ROOMS, 2, b.data, 0), 0);
	wbuf_free(&b);
	au_assert_violation(&authd, ch, serial);
	/* After login: a malformed body (ROOMS takes none) is a violation. */
	assert_int_equal(do_login(&authd, "alice", &alice, &a), 0);
	assert_int_equal(ipc_send(a.ch, AUTHD_REQ_ROOMS, 3, &one, 1), 0);
	au_assert_violation(&authd, a.ch, a.serial);
	/* A LOGIN whose certificate is not the fingerprint's. */
	serial = next_serial++;
	ch = au_chan_open(&authd, serial, "192.0.2.22");
	wbuf_init(&b, 16384);
	wbuf_put_str16(&b, "alice", 5);
	wbuf_put_str16(&b, PW, strlen(PW));
	wbuf_put(&b, alice.fp, 32);
	wbuf_put_str16(&b, bob.der, bob.derlen);
	assert_int_equal(ipc_send(ch, AUTHD_REQ_LOGIN, 4, b.data, b.len), 0);
	wbuf_free(&b);
	au_assert_violation(&authd, ch, serial);
}

/* A second authd on the same database, with small limits. */
static void
test_limits(void **state)
{
	static const char *const args[] = { "-M", "1", "-B", "3", "-Q", "2",
	    "-S", "3", NULL };
	struct au_authd main_authd = authd;
	struct sess f = { -1, 0, 0 }, g = { -1, 0, 0 }, h = { -1, 0, 0 };
	struct sess a = { -1, 0, 0 };
	authd_name sender;
	uint64_t id;
	size_t mark;
	int st;

	(void)state;
	assert_int_equal(authd_spawn(&authd, "limits", args), 0);
	mark = au_seen.audit_len;

	/* Rate: a burst of 3, then one per second (to several recipients,
	 * so that no queue fills up). */
	assert_int_equal(do_login(&authd, "frank", &frank, &f), 0);
	assert_int_equal(store(&f, &id, &frank, "", "r", &hank, NULL, NULL,
	    NULL), 0);
	assert_int_equal(store(&f, &id, &frank, "", "r", &gina, NULL, NULL,
	    NULL), 0);
	assert_int_equal(store(&f, &id, &frank, "", "r", &alice, NULL, NULL,
	    NULL), 0);
	assert_int_equal(store(&f, &id, &frank, "", "r", &gina, NULL, NULL,
	    NULL), AUTHD_RES_RATE_LIMITED);
	assert_true(au_audit_since(&authd, mark, "message rate"));
	usleep(1100 * 1000);
	assert_int_equal(store(&f, &id, &frank, "", "r", &alice, NULL, NULL,
	    NULL), 0);
	assert_int_equal(store(&f, &id, &frank, "", "r", &dave, NULL, NULL,
	    NULL), AUTHD_RES_RATE_LIMITED);

	/* Queue: hank has 1 undelivered; gina sends 1 more, then full. */
	assert_int_equal(do_login(&authd, "gina", &gina, &g), 0);
	assert_int_equal(store(&g, &id, &gina, "", "q", &hank, NULL, NULL,
	    NULL), 0);
	assert_int_equal(store(&g, &id, &gina, "", "q", &hank, NULL, NULL,
	    NULL), AUTHD_RES_RATE_LIMITED);
	assert_true(au_audit_since(&authd, mark, "recipient queue full"));
	/* hank takes one: there is room again. */
	assert_int_equal(do_login(&authd, "hank", &hank, &h), 0);
	{
		static uint8_t env[ENV_MAX_LEN];
		size_t len;
		int present;

		assert_int_equal(authd_fetch(h.ch, 0, &present, &id, sender,
		    env, sizeof(env), &len), 0);
		assert_true(present);
		assert_string_equal(sender, "frank");
		assert_int_equal(authd_ack(h.ch, id, AUTHD_ST_DELIVERED,
		    sender), 0);
	}
	assert_int_equal(store(&g, &id, &gina, "", "q", &hank, NULL, NULL,
	    NULL), 0);

	/* Room size 3. */
	assert_int_equal(do_login(&authd, "alice", &alice, &a), 0);
	assert_int_equal(authd_join(f.ch, "#small"), 0);
	assert_int_equal(authd_join(g.ch, "#small"), 0);
	assert_int_equal(authd_join(h.ch, "#small"), 0);
	assert_int_equal(authd_join(a.ch, "#small"), AUTHD_RES_TOO_LARGE);
	assert_true(au_audit_since(&authd, mark, "the room is full"));
	assert_int_equal(authd_leave(h.ch, "#small"), 0);
	assert_int_equal(authd_join(a.ch, "#small"), 0);

	sess_close(&f);
	sess_close(&g);
	sess_close(&h);
	sess_close(&a);
	st = au_stop(&authd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		au_show_log(&authd);
		fail_msg("limits authd did not exit 0");
	}
	authd = main_authd;
}

static void
test_retention(void **state)
{
	static const char *const args[] = { "-E", "7", NULL };
	static uint8_t env[ENV_MAX_LEN];
	struct sess a = { -1, 0, 0 }, c = { -1, 0, 0 };
	authd_name sender;
	uint64_t old_id, new_id, id;
	size_t len;
	int present, i, st;

	(void)state;
	assert_int_equal(do_login(&authd, "alice", &alice, &a), 0);
	assert_int_equal(store(&a, &old_id, &alice, "", "old", &dave, NULL,
	    NULL, NULL), 0);
	assert_int_equal(store(&a, &new_id, &alice, "", "new", &dave, NULL,
	    NULL, NULL), 0);
	/* Kept for the days of -E (the main authd: 30 by default). */
	assert_int_equal(query_u64("SELECT DATEDIFF(expires_at, created_at) "
	    "FROM envelopes WHERE id = %llu", (unsigned long long)new_id),
	    30);
	sess_close(&a);
	assert_int_equal(tu_db_exec(&te.db, "UPDATE envelopes SET expires_at = "
	    "UTC_TIMESTAMP() - INTERVAL 1 SECOND WHERE id = %llu",
	    (unsigned long long)old_id), 0);
	/* Past its time, a message is no longer delivered ... */
	assert_int_equal(do_login(&authd, "dave", &dave, &c), 0);
	assert_int_equal(authd_fetch(c.ch, 0, &present, &id, sender, env,
	    sizeof(env), &len), 0);
	assert_true(present && id == new_id);
	sess_close(&c);
	assert_int_equal(query_u64("SELECT COUNT(*) FROM deliveries WHERE "
	    "envelope_id = %llu", (unsigned long long)old_id), 1);

	/* ... and it is deleted (its queue rows with it) when authd
	 * starts, and every hour. */
	st = au_stop(&authd);
	assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(authd_spawn(&authd, "retention", args), 0);
	for (i = 0; i < 100; i++) {
		if (query_u64("SELECT COUNT(*) FROM envelopes WHERE id = %llu",
		    (unsigned long long)old_id) == 0)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(query_u64("SELECT COUNT(*) FROM envelopes WHERE id "
	    "= %llu", (unsigned long long)old_id), 0);
	assert_int_equal(query_u64("SELECT COUNT(*) FROM deliveries WHERE "
	    "envelope_id = %llu", (unsigned long long)old_id), 0);
	assert_int_equal(query_u64("SELECT COUNT(*) FROM envelopes WHERE id "
	    "= %llu", (unsigned long long)new_id), 1);
	/* The new authd keeps new messages for -E 7 days. */
	assert_int_equal(do_login(&authd, "alice", &alice, &a), 0);
	assert_int_equal(store(&a, &id, &alice, "", "week", &dave, NULL, NULL,
	    NULL), 0);
	assert_int_equal(query_u64("SELECT DATEDIFF(expires_at, created_at) "
	    "FROM envelopes WHERE id = %llu", (unsigned long long)id), 7);
	sess_close(&a);
	{
		char *log = tu_read(authd.log, NULL);

		assert_non_null(log);
		assert_true(tu_contains(log, "deleted 1 expired message"));
		free(log);
	}
}

static void
test_account_delete(void **state)
{
	struct tu_result r;

	(void)state;
	/* Deleting an account takes its messages, queues, rooms along. */
	assert_true(query_u64("SELECT COUNT(*) FROM envelopes e JOIN users u "
	    "ON u.id = e.sender_id WHERE u.username = 'alice'") > 0);
	assert_int_equal(admin(&r, "user", "delete", "alice", NULL, NULL), 0);
	tu_result_free(&r);
	assert_int_equal(query_u64("SELECT COUNT(*) FROM envelopes e LEFT "
	    "JOIN users u ON u.id = e.sender_id WHERE u.id IS NULL"), 0);
	assert_int_equal(query_u64("SELECT COUNT(*) FROM room_members m LEFT "
	    "JOIN users u ON u.id = m.user_id WHERE u.id IS NULL"), 0);
	assert_int_equal(admin(&r, "db", "status", NULL, NULL, NULL), 0);
	assert_true(tu_contains(r.out, "messages:"));
	assert_true(tu_contains(r.out, "rooms:"));
	tu_result_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migration),
		cmocka_unit_test(test_register_binding),
		cmocka_unit_test(test_login_binding),
		cmocka_unit_test(test_login_migrated),
		cmocka_unit_test(test_certs),
		cmocka_unit_test(test_rooms),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_store_malformed),
		cmocka_unit_test(test_fetch_ack),
		cmocka_unit_test(test_statements),
		cmocka_unit_test(test_nothing_readable),
		cmocka_unit_test(test_out_of_state),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_account_delete),
	};

	return cmocka_run_group_tests_name("authd_msg", tests, setup,
	    teardown);
}
