/*
 * test_authd.c: the real authd binary against a real MariaDB server.
 *
 * The test plays the securechatd master: it starts build/bin/authd with
 * fork and exec, its control channel on descriptor 3, hands it one fresh
 * worker channel per request (AUTHD_CTL_NEW_CHANNEL), and plays the
 * worker through the real worker-side stubs (session/authd_wrap.c).
 * Run as root (as CI does), authd drops to "nobody" in a chroot jail and
 * reaches the database over TCP, exactly as in production.
 *
 * Covered: registration, duplicates, login, the uniform AUTH_FAIL,
 * disabled accounts, throttling per account and per address (and the
 * window), SQL metacharacters and NUL bytes, over-long fields, the
 * per-channel request rules (violations kill the worker), the legacy
 * import and its upgrade to scrypt, the database going away and coming
 * back, closed registration, and no password in any log or audit event.
 *
 * The requests here carry a certificate fingerprint without the
 * certificate (the transitional bodies, authd/authd.h) and log in with
 * certificates other than the registration's, so authd runs with -C 0;
 * certificate binding, its enforcement and the messaging requests are
 * tested with real certificates in test_authd_msg.c.
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
#include <dirent.h>
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

#include "audit.h"
#include "authdutil.h"
#include "buf.h"
#include "ipc.h"
#include "mariadb.h"
#include "testutil.h"
#include "util.h"

/* The worker's real stubs: authd_register(), authd_login(). */
#include "session/authd_wrap.c"

#define MAXFAIL		"3"
#define WINDOW		"60"

static struct au_env te;
static struct au_authd authd = AU_AUTHD_INIT;
static uint64_t next_serial = 1000;

/* Every password this test sends: none may appear in any log. */
static const char *const secrets[] = {
	"correct-horse-battery", "wrong-password-1", "hunter2-but-longer",
	"' OR '1'='1", "erin-legacy-pw", "abc12", "carol-secret-pw",
	"stored-as-scrypt",
};

static const uint8_t fp_alice[32] = { 0xa1, 0xa1, 0xa1, 0xa1, 0xa1 };
static const uint8_t fp_other[32] = { 0x0f, 0x0f, 0x0f };

/* ---- playing the master ---- */

static int
authd_spawn(struct au_authd *p, const char *regopen)
{
	const char *const args[] = { "-N", "14", "-r", "8", "-p", "1",
	    "-F", MAXFAIL, "-W", WINDOW, "-R", regopen, "-C", "0", NULL };

	return au_spawn(p, &te, regopen, args);
}

/* ---- playing the worker: one channel per request ---- */

static int
reg_b(const char *addr, const void *u, size_t ul, const void *e, size_t el,
    const void *pw, size_t pl, uint64_t *id, char *canon)
{
	uint64_t dummy_id;
	char dummy[64];
	int ch, code;

	ch = au_chan_open(&authd, next_serial++, addr);
	code = authd_register(ch, u, ul, e, el, pw, pl, fp_alice,
	    id ? id : &dummy_id, canon ? canon : dummy, 64);
	close(ch);
	au_ctl_drain(&authd, 0);
	return code;
}

static int
reg(const char *addr, const char *u, const char *e, const char *pw)
{
	return reg_b(addr, u, strlen(u), e, strlen(e), pw, strlen(pw), NULL,
	    NULL);
}

static int
login_b(struct au_authd *p, const char *addr, const void *u, size_t ul,
    const void *pw, size_t pl, uint64_t *id, char *canon)
{
	uint64_t dummy_id;
	char dummy[64];
	int ch, code;

	ch = au_chan_open(p, next_serial++, addr);
	code = authd_login(ch, u, ul, pw, pl, fp_other, id ? id : &dummy_id,
	    canon ? canon : dummy, 64);
	close(ch);
	au_ctl_drain(p, 0);
	return code;
}

static int
login(const char *addr, const char *u, const char *pw)
{
	return login_b(&authd, addr, u, strlen(u), pw, strlen(pw), NULL, NULL);
}

static int
admin(const char *a1, const char *a2, const char *a3)
{
	struct tu_result r;
	const char *argv[] = { tu_bin("sc-admin"), a1, a2, "--config",
	    te.db.conf, a3, NULL };
	int st;

	st = tu_run(&r, NULL, 60, argv);
	if (st != 0)
		fprintf(stderr, "sc-admin %s %s: %d\n%s%s", a1, a2, st, r.out,
		    r.err);
	tu_result_free(&r);
	return st;
}

/* ---- setup ---- */

static int
setup(void **state)
{
	struct tu_result r;
	const char *argv[] = { NULL, "db", "init", "--config", NULL, NULL };

	(void)state;
	if (au_env_start(&te, "authd") == -1)
		return -1;
	argv[0] = tu_bin("sc-admin");
	argv[4] = te.db.conf;
	if (tu_run(&r, NULL, 60, argv) != 0) {
		fprintf(stderr, "db init: %s%s", r.out, r.err);
		tu_result_free(&r);
		return -1;
	}
	tu_result_free(&r);
	if (authd_spawn(&authd, "1") == -1)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (authd.pid > 0)
		(void)au_stop(&authd);
	au_env_stop(&te);
	return 0;
}

/* ---- tests ---- */

static void
test_started_and_dropped(void **state)
{
	char path[64], buf[PATH_MAX], *status;
	ssize_t n;
	struct passwd *pw;
	uint64_t id = 0;
	char canon[64];

	(void)state;
	/* The first request also waits for the start-up to finish. */
	assert_int_equal(reg_b("192.0.2.1", "alice", 5, "alice@example.com",
	    17, "correct-horse-battery", 21, &id, canon), AUTHD_RES_OK);
	assert_true(id > 0);
	assert_string_equal(canon, "alice");

	snprintf(path, sizeof(path), "/proc/%d/status", (int)authd.pid);
	assert_non_null(status = tu_read(path, NULL));
	if (geteuid() == 0) {
		char uidline[64];

		assert_non_null(pw = getpwnam("nobody"));
		snprintf(uidline, sizeof(uidline), "Uid:\t%u\t%u\t%u\t%u",
		    pw->pw_uid, pw->pw_uid, pw->pw_uid, pw->pw_uid);
		assert_true(tu_contains(status, uidline));
		/* Chrooted to the jail. */
		snprintf(path, sizeof(path), "/proc/%d/root", (int)authd.pid);
		n = readlink(path, buf, sizeof(buf) - 1);
		assert_true(n > 0);
		buf[n] = '\0';
		assert_string_equal(buf, te.jail);
	}
	assert_true(tu_contains(status, "NoNewPrivs:\t1"));
	assert_true(tu_contains(status, "Seccomp:\t2"));
	free(status);
}

static void
test_register(void **state)
{
	uint64_t id = 0;

	(void)state;
	/* Stored as scrypt with the configured parameters and the
	 * certificate of the registration bound. */
	au_assert_query(&te.db, "SELECT CONCAT(pw_kdf, ' ', kdf_n, ' ', kdf_r, ' ', "
	    "kdf_p, ' ', LENGTH(pw_salt), ' ', LENGTH(pw_hash), ' ', "
	    "disabled) FROM users WHERE username = 'alice'",
	    "scrypt 16384 8 1 16 32 0");
	au_assert_query(&te.db, "SELECT LOWER(HEX(c.cert_sha256)) FROM user_certs c JOIN "
	    "users u ON u.id = c.user_id WHERE u.username = 'alice'",
	    "a1a1a1a1a1000000000000000000000000000000000000000000000000000000");
	assert_true(tu_contains(au_seen.audit, "\"register_ok\""));

	/* Duplicates: the name in another case, the email in another. */
	assert_int_equal(reg_b("192.0.2.2", "ALICE", 5, "other@example.com",
	    17, "correct-horse-battery", 21, &id, NULL),
	    AUTHD_RES_USER_EXISTS);
	assert_true(id == 0);
	assert_int_equal(reg("192.0.2.2", "bob", "Alice@Example.COM",
	    "correct-horse-battery"), AUTHD_RES_USER_EXISTS);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM users", "1");
	assert_true(tu_contains(au_seen.audit, "\"register_fail\""));
}

static void
test_login(void **state)
{
	uint64_t id = 0, id2 = 0;
	char canon[64];
	char *v;
	(void)state;
	uint64_t serial = next_serial;

	assert_int_equal(login_b(&authd, "192.0.2.3", "alice", 5,
	    "correct-horse-battery", 21, &id, canon), AUTHD_RES_OK);
	assert_string_equal(canon, "alice");
	/* The master heard who the session is from authd itself. */
	au_ctl_drain(&authd, 100);
	assert_true(au_seen.last.serial == serial);
	assert_true(au_seen.last.account_id == id);
	assert_string_equal(au_seen.last.user, "alice");
	assert_memory_equal(au_seen.last.fp, fp_other, 32);
	v = tu_db_query(&te.db, "SELECT id FROM users WHERE username = 'alice'");
	assert_non_null(v);
	assert_int_equal(strtoull(v, NULL, 10), id);
	free(v);
	/* The canonical name comes back whatever case was typed. */
	assert_int_equal(login_b(&authd, "192.0.2.3", "ALICE", 5,
	    "correct-horse-battery", 21, &id2, canon), AUTHD_RES_OK);
	assert_true(id2 == id);
	assert_string_equal(canon, "alice");
	au_assert_query(&te.db, "SELECT last_login_at IS NOT NULL FROM users WHERE "
	    "username = 'alice'", "1");
	assert_true(tu_contains(au_seen.audit, "\"login_ok\""));
	/* A certificate other than the registration's: allowed (-C 0),
	 * noted, and not bound. */
	assert_true(tu_contains(au_seen.audit, "certificate not bound"));
	au_assert_query(&te.db, "SELECT COUNT(*) FROM user_certs c JOIN users u ON "
	    "u.id = c.user_id WHERE u.username = 'alice'", "1");
}

static void
test_auth_fail_uniform(void **state)
{
	uint64_t id = 99;
	char canon[64] = "x";

	(void)state;
	assert_int_equal(login_b(&authd, "192.0.2.4", "alice", 5,
	    "wrong-password-1", 16, &id, canon), AUTHD_RES_AUTH_FAIL);
	assert_true(id == 0);
	assert_string_equal(canon, "");
	assert_int_equal(login_b(&authd, "192.0.2.5", "mallory", 7,
	    "wrong-password-1", 16, &id, canon), AUTHD_RES_AUTH_FAIL);
	assert_true(id == 0);
	assert_string_equal(canon, "");

	/* Disabled: the right password gives the same answer. */
	assert_int_equal(admin("user", "disable", "alice"), 0);
	assert_int_equal(login("192.0.2.6", "alice", "correct-horse-battery"),
	    AUTHD_RES_AUTH_FAIL);
	assert_int_equal(admin("user", "enable", "alice"), 0);
	assert_int_equal(login("192.0.2.6", "alice", "correct-horse-battery"),
	    AUTHD_RES_OK);
	/* The audit log (not the peer) says which it was. */
	assert_true(tu_contains(au_seen.audit, "wrong password"));
	assert_true(tu_contains(au_seen.audit, "unknown user"));
	assert_true(tu_contains(au_seen.audit, "account disabled"));
}

static void
test_bad_input(void **state)
{
	char big[2100];
	const char *addr = "192.0.2.7";

	(void)state;
	memset(big, 'a', sizeof(big));
	/* Over-long fields. */
	assert_int_equal(reg_b(addr, big, 33, "b@example.com", 13,
	    "hunter2-but-longer", 18, NULL, NULL), AUTHD_RES_BAD_INPUT);
	assert_int_equal(reg_b(addr, big, 2000, "b@example.com", 13,
	    "hunter2-but-longer", 18, NULL, NULL), AUTHD_RES_BAD_INPUT);
	memcpy(big + 10, "@", 1);
	assert_int_equal(reg_b(addr, "bob", 3, big, 255, "hunter2-but-longer",
	    18, NULL, NULL), AUTHD_RES_BAD_INPUT);
	assert_int_equal(reg_b(addr, "bob", 3, "b@example.com", 13, big, 1025,
	    NULL, NULL), AUTHD_RES_BAD_INPUT);
	assert_int_equal(login_b(&authd, addr, "alice", 5, big, 1025, NULL,
	    NULL), AUTHD_RES_BAD_INPUT);
	assert_int_equal(login_b(&authd, addr, big, 33, "x", 1, NULL, NULL),
	    AUTHD_RES_BAD_INPUT);
	/* Too short, empty, and malformed. */
	assert_int_equal(reg(addr, "bob", "b@example.com", "short"),
	    AUTHD_RES_BAD_INPUT);
	assert_int_equal(reg(addr, "", "b@example.com", "hunter2-but-longer"),
	    AUTHD_RES_BAD_INPUT);
	assert_int_equal(reg(addr, "bob", "b.example.com", "hunter2-but-longer"),
	    AUTHD_RES_BAD_INPUT);
	assert_int_equal(login_b(&authd, addr, "alice", 5, "", 0, NULL, NULL),
	    AUTHD_RES_BAD_INPUT);
	/* NUL bytes do not shorten a name or an address. */
	assert_int_equal(reg_b(addr, "bob\0evil", 8, "b@example.com", 13,
	    "hunter2-but-longer", 18, NULL, NULL), AUTHD_RES_BAD_INPUT);
	assert_int_equal(reg_b(addr, "bob", 3, "b@example.com\0x", 15,
	    "hunter2-but-longer", 18, NULL, NULL), AUTHD_RES_BAD_INPUT);
	assert_int_equal(login_b(&authd, addr, "alice\0", 6,
	    "correct-horse-battery", 21, NULL, NULL), AUTHD_RES_BAD_INPUT);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM users", "1");
}

static void
test_sql_metachars(void **state)
{
	static const char pw[] = "' OR '1'='1;--\\x00\"%_";
	static const char email[] = "o'hara\"--;)@x.y";
	const char *addr = "192.0.2.8";

	(void)state;
	assert_int_equal(reg(addr, "robert'); DROP TABLE users;--",
	    "r@example.com", "hunter2-but-longer"), AUTHD_RES_BAD_INPUT);
	/* Quotes in the email, quotes in the password. */
	assert_int_equal(reg_b(addr, "o.hara", 6, email, strlen(email), pw,
	    sizeof(pw) - 1, NULL, NULL), AUTHD_RES_OK);
	au_assert_query(&te.db, "SELECT email FROM users WHERE username = 'o.hara'", email);
	assert_int_equal(login_b(&authd, addr, "o.hara", 6, pw, sizeof(pw) - 1,
	    NULL, NULL), AUTHD_RES_OK);
	/* A prefix of the password is not the password. */
	assert_int_equal(login_b(&authd, addr, "o.hara", 6, pw, 11,
	    NULL, NULL), AUTHD_RES_AUTH_FAIL);
	/*
	 * A NUL byte is refused in a password: scrypt's HMAC pads keys with
	 * zeros, so "pw" and "pw\0" would hash alike.
	 */
	assert_int_equal(reg_b(addr, "nul.pw", 6, "n@x.y", 5, "password\0x",
	    10, NULL, NULL), AUTHD_RES_BAD_INPUT);
	assert_int_equal(login_b(&authd, addr, "o.hara", 6, pw, sizeof(pw),
	    NULL, NULL), AUTHD_RES_BAD_INPUT);
	assert_int_equal(login(addr, "alice' --", "correct-horse-battery"),
	    AUTHD_RES_BAD_INPUT);
	assert_int_equal(login(addr, "alice", "' OR '1'='1"),
	    AUTHD_RES_AUTH_FAIL);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM users", "2");
}

static void
test_throttle_account(void **state)
{
	char addr[32];
	int i;

	(void)state;
	assert_int_equal(reg("198.51.100.200", "carol", "carol@example.com",
	    "carol-secret-pw"), AUTHD_RES_OK);
	/* Failures from several addresses count against the account. */
	for (i = 1; i <= 3; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%d", i);
		assert_int_equal(login(addr, "carol", "wrong-password-1"),
		    AUTHD_RES_AUTH_FAIL);
	}
	au_assert_query(&te.db, "SELECT failures FROM auth_failures WHERE scope = 'user' "
	    "AND subject = 'carol'", "3");
	/* Over the limit: refused even with the right password. */
	assert_int_equal(login("198.51.100.4", "carol", "carol-secret-pw"),
	    AUTHD_RES_RATE_LIMITED);
	assert_true(tu_contains(au_seen.audit, "\"rate_limited\""));
	/* Not counted further while refused. */
	au_assert_query(&te.db, "SELECT failures FROM auth_failures WHERE scope = 'user' "
	    "AND subject = 'carol'", "3");
	/* Unknown accounts are throttled alike (no existence oracle). */
	for (i = 0; i < 3; i++)
		assert_int_equal(login("198.51.100.10", "ghost",
		    "wrong-password-1"), AUTHD_RES_AUTH_FAIL);
	assert_int_equal(login("198.51.100.11", "ghost", "wrong-password-1"),
	    AUTHD_RES_RATE_LIMITED);

	/* When the window has passed, the account works again and a
	 * success clears its counter. */
	assert_int_equal(tu_db_exec(&te.db, "UPDATE auth_failures SET "
	    "window_start = window_start - " WINDOW " - 1 WHERE scope = 'user' "
	    "AND subject = 'carol'"), 0);
	assert_int_equal(login("198.51.100.5", "carol", "carol-secret-pw"),
	    AUTHD_RES_OK);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM auth_failures WHERE scope = 'user' "
	    "AND subject = 'carol'", "0");
}

static void
test_throttle_address(void **state)
{
	const char *addr = "203.0.113.9";
	int i;
	char user[32];

	(void)state;
	for (i = 0; i < 3; i++) {
		snprintf(user, sizeof(user), "nobody%d", i);
		assert_int_equal(login(addr, user, "wrong-password-1"),
		    AUTHD_RES_AUTH_FAIL);
	}
	au_assert_query(&te.db, "SELECT failures FROM auth_failures WHERE scope = 'addr' "
	    "AND subject = '203.0.113.9'", "3");
	/* That address may not try anyone now, nor register ... */
	assert_int_equal(login(addr, "alice", "correct-horse-battery"),
	    AUTHD_RES_RATE_LIMITED);
	assert_int_equal(reg(addr, "dave", "dave@example.com",
	    "hunter2-but-longer"), AUTHD_RES_RATE_LIMITED);
	/* ... while another address is not affected. */
	assert_int_equal(login("203.0.113.10", "alice",
	    "correct-horse-battery"), AUTHD_RES_OK);
}

static void
test_channel_rules(void **state)
{
	uint64_t serial, id;
	char canon[64];
	uint8_t junk[4] = { 1, 2, 3, 4 };
	struct wbuf b;
	int ch, i;
	const char *addr = "192.0.2.50";

	(void)state;
	/* A second LOGIN after a successful one. */
	serial = next_serial++;
	ch = au_chan_open(&authd, serial, addr);
	assert_int_equal(authd_login(ch, (const uint8_t *)"alice", 5,
	    (const uint8_t *)"correct-horse-battery", 21, fp_alice, &id,
	    canon, sizeof(canon)), AUTHD_RES_OK);
	assert_int_equal(ipc_send(ch, AUTHD_REQ_LOGIN, 7, junk, 0), 0);
	au_assert_violation(&authd, ch, serial);

	/* A request type that is not in the table. */
	serial = next_serial++;
	ch = au_chan_open(&authd, serial, addr);
	assert_int_equal(ipc_send(ch, 0x99, 1, junk, sizeof(junk)), 0);
	au_assert_violation(&authd, ch, serial);

	/* A LOGIN body with trailing bytes. */
	serial = next_serial++;
	ch = au_chan_open(&authd, serial, addr);
	wbuf_init(&b, 1024);
	wbuf_put_str16(&b, "alice", 5);
	wbuf_put_str16(&b, "correct-horse-battery", 21);
	wbuf_put(&b, fp_alice, 32);
	wbuf_put_u8(&b, 0);
	assert_int_equal(ipc_send(ch, AUTHD_REQ_LOGIN, 1, b.data, b.len), 0);
	wbuf_free(&b);
	au_assert_violation(&authd, ch, serial);

	/* A body cut short (no certificate fingerprint). */
	serial = next_serial++;
	ch = au_chan_open(&authd, serial, addr);
	wbuf_init(&b, 1024);
	wbuf_put_str16(&b, "alice", 5);
	wbuf_put_str16(&b, "correct-horse-battery", 21);
	assert_int_equal(ipc_send(ch, AUTHD_REQ_LOGIN, 1, b.data, b.len), 0);
	wbuf_free(&b);
	au_assert_violation(&authd, ch, serial);

	/* More attempts on one channel than AUTHD_MAX_ATTEMPTS (3). */
	serial = next_serial++;
	ch = au_chan_open(&authd, serial, "192.0.2.51");
	for (i = 0; i < 3; i++)
		assert_int_equal(authd_login(ch, (const uint8_t *)"nosuch", 6,
		    (const uint8_t *)"wrong-password-1", 16, fp_alice, &id,
		    canon, sizeof(canon)), AUTHD_RES_AUTH_FAIL);
	assert_int_equal(ipc_send(ch, AUTHD_REQ_LOGIN, 9, junk, 0), 0);
	au_assert_violation(&authd, ch, serial);
	assert_true(tu_contains(au_seen.audit, "\"authd_violation\""));

	/* A messaging request before any login. */
	serial = next_serial++;
	ch = au_chan_open(&authd, serial, addr);
	wbuf_init(&b, 64);
	wbuf_put_u64(&b, 0);
	assert_int_equal(ipc_send(ch, AUTHD_REQ_FETCH, 1, b.data, b.len), 0);
	wbuf_free(&b);
	au_assert_violation(&authd, ch, serial);
	/* A REGISTER whose certificate does not hash to its fingerprint. */
	serial = next_serial++;
	ch = au_chan_open(&authd, serial, addr);
	wbuf_init(&b, 1024);
	wbuf_put_str16(&b, "mallory", 7);
	wbuf_put_str16(&b, "m@example.com", 13);
	wbuf_put_str16(&b, "hunter2-but-longer", 18);
	wbuf_put(&b, fp_alice, 32);
	wbuf_put_str16(&b, "not a certificate", 17);
	assert_int_equal(ipc_send(ch, AUTHD_REQ_REGISTER, 1, b.data, b.len),
	    0);
	wbuf_free(&b);
	au_assert_violation(&authd, ch, serial);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM users WHERE username = 'mallory'",
	    "0");

	/* authd itself goes on serving. */
	assert_int_equal(login("192.0.2.52", "alice", "correct-horse-battery"),
	    AUTHD_RES_OK);
}

static void
legacy_hash(const char *salthex, const char *pass, char out[65])
{
	uint8_t salt[32], h[32];
	unsigned int hl;
	size_t n = strlen(salthex) / 2;
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
test_legacy_upgrade(void **state)
{
	static const char s1[] = "6b8e1c0a55d2f0e4a3b7c9d1e2f30415";
	static const char s2[] = "0badc0ffee0000000000000000000001";
	char h1[65], h2[65], path[PATH_MAX], tsv[512];
	const char *addr = "192.0.2.60";

	(void)state;
	legacy_hash(s1, "erin-legacy-pw", h1);
	legacy_hash(s2, "abc12", h2);	/* the seed allowed short ones */
	snprintf(tsv, sizeof(tsv), "username\temail\tsalt\tpwd_hash\n"
	    "Erin\terin@example.com\t%s\t%s\nfrank\tfrank@example.com\t%s\t%s\n",
	    s1, h1, s2, h2);
	snprintf(path, sizeof(path), "%s/seed.tsv", te.tmpdir);
	assert_int_equal(tu_write(path, tsv, strlen(tsv)), 0);
	assert_int_equal(admin("user", "import-legacy", path), 0);
	au_assert_query(&te.db, "SELECT pw_kdf FROM users WHERE username = 'erin'",
	    "legacy-sha256");

	/* A wrong password changes nothing. */
	assert_int_equal(login(addr, "erin", "wrong-password-1"),
	    AUTHD_RES_AUTH_FAIL);
	au_assert_query(&te.db, "SELECT pw_kdf FROM users WHERE username = 'erin'",
	    "legacy-sha256");
	/* The right one logs in and replaces the row's hash with scrypt. */
	assert_int_equal(login(addr, "erin", "erin-legacy-pw"), AUTHD_RES_OK);
	au_assert_query(&te.db, "SELECT CONCAT(pw_kdf, ' ', kdf_n, ' ', kdf_r, ' ', "
	    "kdf_p, ' ', LENGTH(pw_salt), ' ', LENGTH(pw_hash)) FROM users "
	    "WHERE username = 'erin'", "scrypt 16384 8 1 16 32");
	/* The old salt and hash are gone. */
	{
		char *v = tu_db_query(&te.db, "SELECT COUNT(*) FROM users WHERE "
		    "username = 'erin' AND (LOWER(HEX(pw_hash)) = '%s' OR "
		    "LOWER(HEX(pw_salt)) = '%s')", h1, s1);

		assert_non_null(v);
		assert_string_equal(v, "0");
		free(v);
	}
	/* And the scrypt row works like any other. */
	assert_int_equal(login(addr, "erin", "erin-legacy-pw"), AUTHD_RES_OK);
	assert_int_equal(login("192.0.2.61", "erin", "wrong-password-1"),
	    AUTHD_RES_AUTH_FAIL);
	assert_int_equal(login("192.0.2.61", "frank", "abc12"), AUTHD_RES_OK);
	au_assert_query(&te.db, "SELECT pw_kdf FROM users WHERE username = 'frank'",
	    "scrypt");
	au_assert_query(&te.db, "SELECT COUNT(*) FROM users WHERE pw_kdf <> 'scrypt'",
	    "0");
}

static void
test_db_down_and_back(void **state)
{
	int st, i, code = -1;

	(void)state;
	assert_int_equal(tu_db_halt(&te.db), 0);
	assert_int_equal(login("192.0.2.70", "alice", "correct-horse-battery"),
	    AUTHD_RES_UNAVAILABLE);
	assert_int_equal(reg("192.0.2.70", "gina", "gina@example.com",
	    "hunter2-but-longer"), AUTHD_RES_UNAVAILABLE);
	/* authd is still there ... */
	assert_int_equal(waitpid(authd.pid, &st, WNOHANG), 0);
	/* ... and reconnects once the server is back (it waits a second
	 * between connection attempts, so allow a few tries). */
	assert_int_equal(tu_db_resume(&te.db), 0);
	for (i = 0; i < 50; i++) {
		if ((code = login("192.0.2.70", "alice",
		    "correct-horse-battery")) != AUTHD_RES_UNAVAILABLE)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(code, AUTHD_RES_OK);
	assert_int_equal(reg("192.0.2.70", "gina", "gina@example.com",
	    "stored-as-scrypt"), AUTHD_RES_OK);
}

/*
 * A restart while authd holds an idle connection: the stale connection
 * shows when the next statement is prepared, authd reconnects at once,
 * and the request succeeds on its first try.
 */
static void
test_db_restart(void **state)
{
	(void)state;
	assert_int_equal(login("192.0.2.71", "alice", "correct-horse-battery"),
	    AUTHD_RES_OK);
	assert_int_equal(tu_db_restart(&te.db), 0);
	assert_int_equal(login("192.0.2.71", "alice", "correct-horse-battery"),
	    AUTHD_RES_OK);
	assert_int_equal(login("192.0.2.71", "alice", "wrong-password-1"),
	    AUTHD_RES_AUTH_FAIL);
}

static void
test_registration_closed(void **state)
{
	struct au_authd closed = { -1, -1, "" };
	uint64_t id = 0;
	char canon[64];
	int ch, st;

	(void)state;
	assert_int_equal(authd_spawn(&closed, "0"), 0);
	ch = au_chan_open(&closed, next_serial++, "192.0.2.80");
	assert_int_equal(authd_register(ch, (const uint8_t *)"henry", 5,
	    (const uint8_t *)"henry@example.com", 17,
	    (const uint8_t *)"hunter2-but-longer", 18, fp_alice, &id, canon,
	    sizeof(canon)), AUTHD_RES_REG_CLOSED);
	close(ch);
	assert_int_equal(login_b(&closed, "192.0.2.80", "alice", 5,
	    "correct-horse-battery", 21, NULL, NULL), AUTHD_RES_OK);
	st = au_stop(&closed);
	au_assert_exit0(&closed, st);
	au_assert_query(&te.db, "SELECT COUNT(*) FROM users WHERE username = 'henry'",
	    "0");
}

static void
test_no_secrets_logged(void **state)
{
	char *log;
	size_t i;
	int st;

	(void)state;
	au_ctl_drain(&authd, 100);
	st = au_stop(&authd);
	assert_non_null(log = tu_read(authd.log, NULL));
	if (st != 0)
		free(log);
	au_assert_exit0(&authd, st);
	/* The log did see the work being done ... */
	assert_true(tu_contains(log, "login alice"));
	assert_true(tu_contains(log, "password hash upgraded"));
	assert_true(tu_contains(log, "database unavailable"));
	/* ... and never a password, nor the database's. */
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		if (tu_contains(log, secrets[i]))
			fail_msg("authd log holds \"%s\"", secrets[i]);
		if (tu_contains(au_seen.audit, secrets[i]))
			fail_msg("audit holds \"%s\"", secrets[i]);
	}
	assert_false(tu_contains(log, te.db.password));
	free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_started_and_dropped),
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_auth_fail_uniform),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_sql_metachars),
		cmocka_unit_test(test_throttle_account),
		cmocka_unit_test(test_throttle_address),
		cmocka_unit_test(test_channel_rules),
		cmocka_unit_test(test_legacy_upgrade),
		cmocka_unit_test(test_db_down_and_back),
		cmocka_unit_test(test_db_restart),
		cmocka_unit_test(test_registration_closed),
		cmocka_unit_test(test_no_secrets_logged),
	};

	return cmocka_run_group_tests_name("authd", tests, setup, teardown);
}
