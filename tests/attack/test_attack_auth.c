/*
 * test_attack_auth.c: attacks on authentication, through the real daemon.
 *
 * One installation (scenv: securechatd as root with its real workers,
 * keyd and authd, a private MariaDB) serves every test of this file.  The
 * attacker is the real client engine (csession) that completes the
 * handshake honestly and then sends REGISTER and LOGIN records whose
 * fields no honest client would send (at_auth_raw): the record is sealed
 * and signed correctly, so only the daemon's own checks of the content
 * stand between those bytes and the database.  Other client addresses
 * (127.0.0.2, ...) are played through a relay bound to that address.
 *
 * Throttling is set low (auth_max_failures 3 per auth_failure_window
 * 10 s); tests that are not about throttling start by emptying the
 * auth_failures table so that their own failures never trip it.
 *
 * Timing: unknown user and wrong password must cost the server the same
 * work; the test measures both round trips and prints the medians, but
 * asserts nothing about them (a loaded CI machine makes any bound either
 * meaningless or flaky).  It asserts what must be identical: the code and
 * reason on the wire, and the shape of the audit events.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "attackutil.h"
#include "csession.h"
#include "proto.h"
#include "scenv.h"
#include "util.h"

#define MAX_FAILURES	3
#define WINDOW_S	10
#define TIMING_SAMPLES	9

static struct scenv env;

/* Accounts made in setup; their passwords appear in no log. */
#define VICTIM_PW	"victim password 1"
#define ERIN_PW		"erin password 22"
#define FRANK_PW	"frank password 333"

static const char *const secrets[] = {
	VICTIM_PW, ERIN_PW, FRANK_PW, "wrong guess 1", "p'; DROP TABLE",
};

static void
throttle_clear(void)
{
	assert_int_equal(tu_db_exec(&env.db, "DELETE FROM auth_failures"), 0);
}

/*
 * Everything an attack could have changed: every row of users (but the
 * login time), the certificate bindings and the tables themselves.
 */
static char *
users_digest(const char *where)
{
	char *d = tu_db_query(&env.db,
	    "SELECT CONCAT(COUNT(*), ':', IFNULL(MD5(GROUP_CONCAT(id, '/', "
	    "HEX(username), '/', HEX(email), '/', pw_kdf, '/', HEX(pw_salt), "
	    "'/', HEX(pw_hash), '/', kdf_n, '/', disabled ORDER BY id "
	    "SEPARATOR ';')), '-'), ':', (SELECT COUNT(*) FROM user_certs), "
	    "':', (SELECT COUNT(*) FROM information_schema.tables WHERE "
	    "table_schema = 'securechat')) FROM users %s", where);

	assert_non_null(d);
	return d;
}

/* The rows (count and digest) of two users_digest() results agree. */
static int
same_rows(const char *a, const char *b)
{
	const char *ea = strchr(a, ':'), *eb = strchr(b, ':');

	if (ea == NULL || eb == NULL || (ea = strchr(ea + 1, ':')) == NULL ||
	    (eb = strchr(eb + 1, ':')) == NULL)
		return 0;
	return ea - a == eb - b && strncmp(a, b, (size_t)(ea - a)) == 0;
}

/*
 * One attempt in a session of its own (the daemon allows one REGISTER
 * or LOGIN per connection), from address src.  Returns the code; the
 * session id (hex) goes to sid when asked.
 */
static int
attempt(const char *src, const void *u, size_t ul, const void *e, size_t el,
    const void *p, size_t pl, struct at_answer *ans, char *sid)
{
	struct csession_err err;
	struct csession *cs;
	int code;

	cs = at_open(&env, "alice", src, &err);
	assert_non_null(cs);
	if (sid != NULL)
		at_sid_hex(cs, sid);
	code = at_auth_raw(cs, u, ul, e, el, p, pl, ans);
	csession_free(cs);
	return code;
}

/* Text fields (no NUL inside): the common case. */
static int
login_s(const char *src, const char *u, const char *p, struct at_answer *a)
{
	return attempt(src, u, strlen(u), NULL, 0, p, strlen(p), a, NULL);
}

static int
register_s(const char *src, const char *u, const char *e, const char *p)
{
	return attempt(src, u, strlen(u), e, strlen(e), p, strlen(p), NULL,
	    NULL);
}

static void
expect_code(int got, int want, const char *what)
{
	if (got != want)
		fail_msg("%s: got %s (%d), expected %s", what,
		    got < 0 ? "no answer" : got == 0 ? "AUTH_OK" :
		    sc_err_name(got), got, want == 0 ? "AUTH_OK" :
		    sc_err_name(want));
}

static int
ready(struct scenv *e)
{
	(void)e;	/* register_s uses env */
	if (register_s(NULL, "victim", "victim@example.org", VICTIM_PW) != 0 ||
	    register_s(NULL, "erin", "erin@example.org", ERIN_PW) != 0 ||
	    register_s(NULL, "frank", "frank@example.org", FRANK_PW) != 0)
		return -1;
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	return scenv_up(&env, "atk-auth", NULL, ready,
	    "auth_max_failures %d\nauth_failure_window %d\n"
	    /* Accounts here share alice's certificate: not what is tested. */
	    "bind_certificates no\n", MAX_FAILURES, WINDOW_S);
}

static int
teardown(void **state)
{
	(void)state;
	at_relays_join();
	scenv_teardown(&env);
	at_relays_join();
	return 0;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The audit events of one attempt: the worker's (found by the session
 * id it logs) and authd's (found by the master's session serial, which
 * the master adds to the worker's event and authd logs itself).
 */
static void
attempt_events(const char *sid, json_t **worker, json_t **authd)
{
	const char *kv[] = { "event", "login_refused", "session", sid, NULL };
	const char *kv2[] = { "event", "login_fail", "session_serial", NULL,
	    NULL };
	char *text, serial[32];
	json_t *js;

	assert_true(at_audit_wait(&env, 1, 10000, kv) >= 1);
	text = scenv_audit(&env);
	*worker = at_audit_find(text, kv);
	assert_non_null(*worker);
	/* The master writes its serial as a number, authd as a string. */
	js = json_object_get(*worker, "serial");
	assert_true(json_is_integer(js));
	snprintf(serial, sizeof(serial), "%" JSON_INTEGER_FORMAT,
	    json_integer_value(js));
	kv2[3] = serial;
	free(text);
	assert_true(at_audit_wait(&env, 1, 10000, kv2) >= 1);
	text = scenv_audit(&env);
	*authd = at_audit_find(text, kv2);
	assert_non_null(*authd);
	free(text);
}

static void
test_unknown_user_same_as_wrong_password(void **state)
{
	struct at_answer a_wrong, a_unknown;
	double t_wrong[TIMING_SAMPLES], t_unknown[TIMING_SAMPLES];
	char sid_wrong[33], sid_unknown[33], ghost[32];
	char keys1[512], keys2[512];
	json_t *w1, *a1, *w2, *a2;
	double m_wrong, m_unknown;
	int i;

	(void)state;
	for (i = 0; i < 2 * TIMING_SAMPLES; i++) {
		/* Alternate which goes first, so that order cannot bias. */
		int unknown = (i % 2) ^ (i / 2 % 2);

		/* Never throttled: every sample pays the full price. */
		throttle_clear();
		if (unknown) {
			snprintf(ghost, sizeof(ghost), "ghost%d", i);
			expect_code(attempt(NULL, ghost, strlen(ghost), NULL, 0,
			    "wrong guess 1", 13, &a_unknown, sid_unknown),
			    SC_E_AUTH_FAIL, "unknown user");
			t_unknown[i / 2] = a_unknown.ms;
		} else {
			expect_code(attempt(NULL, "victim", 6, NULL, 0,
			    "wrong guess 1", 13, &a_wrong, sid_wrong),
			    SC_E_AUTH_FAIL, "wrong password");
			t_wrong[i / 2] = a_wrong.ms;
		}
	}
	/* The peer cannot tell them apart: same code, same words. */
	assert_string_equal(a_wrong.reason, a_unknown.reason);
	/* median() sorts: [0] is then the minimum. */
	m_wrong = median(t_wrong, TIMING_SAMPLES);
	m_unknown = median(t_unknown, TIMING_SAMPLES);
	fprintf(stderr, "timing: LOGIN round trip through the daemon, %d "
	    "each: wrong password median %.2f ms (min %.2f), unknown user "
	    "median %.2f ms (min %.2f)\n", TIMING_SAMPLES, m_wrong, t_wrong[0],
	    m_unknown, t_unknown[0]);

	/*
	 * The audit events have one shape for both: the same event names
	 * and keys, the same code and reason from the worker.  Only authd's
	 * "reason" says which it was: the administrator may know, the
	 * client may not.
	 */
	attempt_events(sid_wrong, &w1, &a1);
	attempt_events(sid_unknown, &w2, &a2);
	at_json_keys(w1, keys1, sizeof(keys1));
	at_json_keys(w2, keys2, sizeof(keys2));
	assert_string_equal(keys1, keys2);
	assert_string_equal(json_string_value(json_object_get(w1, "code")),
	    "AUTH_FAIL");
	assert_string_equal(json_string_value(json_object_get(w2, "code")),
	    "AUTH_FAIL");
	assert_string_equal(json_string_value(json_object_get(w1, "reason")),
	    json_string_value(json_object_get(w2, "reason")));
	at_json_keys(a1, keys1, sizeof(keys1));
	at_json_keys(a2, keys2, sizeof(keys2));
	assert_string_equal(keys1, keys2);
	/* Both from authd (any of its authd_processes instances). */
	assert_non_null(json_string_value(json_object_get(a1, "proc")));
	assert_non_null(json_string_value(json_object_get(a2, "proc")));
	assert_int_equal(strncmp(json_string_value(json_object_get(a1, "proc")),
	    "authd[", 6), 0);
	assert_int_equal(strncmp(json_string_value(json_object_get(a2, "proc")),
	    "authd[", 6), 0);
	assert_string_equal(json_string_value(json_object_get(a1, "reason")),
	    "wrong password");
	assert_string_equal(json_string_value(json_object_get(a2, "reason")),
	    "unknown user");
	json_decref(w1);
	json_decref(w2);
	json_decref(a1);
	json_decref(a2);
}

/* A field value with its length: NUL bytes are part of it. */
struct field {
	const char	*p;
	size_t		 len;
};
#define F(s)	{ s, sizeof(s) - 1 }

static void
test_sql_and_nul_in_every_field(void **state)
{
	static const struct field users[] = {
		F("x'; DROP TABLE users; --"), F("a' OR '1'='1"),
		F("victim' --"), F("victim\" OR \"\"=\""), F("victim;"),
		F("vic\0tim"), F("victim\0"), F("\0victim"), F("\0"),
		F("%"), F("_"), F("victim\\"), F("*"), F(""), F(" victim"),
	};
	static const struct field emails[] = {
		F("a\0@example.org"), F("x@example.org\0"),
		F("x@example.org\0' OR 1=1 --"), F("'; DROP TABLE users; --@x"),
		F("a@b@example.org"),
	};
	static const struct field passwords[] = {
		F("' OR '1'='1' --"), F("\0"), F(VICTIM_PW "\0"),
		F("victim\0password 1"), F("\0" VICTIM_PW), F("victim\0"),
	};
	static const char meta_email[] = "o'brien+\"q\";--%_\\@example.org";
	static const char meta_pw[] = "p'; DROP TABLE users; -- \"%_\\";
	char *before, *after, *hex, want[128], what[64];
	size_t i;
	int code;

	(void)state;
	throttle_clear();
	before = users_digest("");

	/* Usernames: the alphabet is closed; nothing reaches SQL. */
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		code = attempt(NULL, users[i].p, users[i].len,
		    "new@example.org", 15, "a fine password", 15, NULL, NULL);
		expect_code(code, SC_E_BAD_INPUT, "REGISTER username");
		code = attempt(NULL, users[i].p, users[i].len, NULL, 0,
		    VICTIM_PW, strlen(VICTIM_PW), NULL, NULL);
		expect_code(code, SC_E_BAD_INPUT, "LOGIN username");
	}
	/* Emails: NUL, blanks and a second '@' are refused. */
	for (i = 0; i < sizeof(emails) / sizeof(emails[0]); i++) {
		code = attempt(NULL, "newuser", 7, emails[i].p, emails[i].len,
		    "a fine password", 15, NULL, NULL);
		expect_code(code, SC_E_BAD_INPUT, "REGISTER email");
	}
	/*
	 * Passwords are any bytes but NUL, and only the exact ones log in.
	 * A NUL is refused outright: scrypt's HMAC would hash "pw" and
	 * "pw\0" alike (keys are zero-padded), so "victim password 1\0"
	 * would log in as victim (it did, before authd refused NULs).
	 */
	for (i = 0; i < sizeof(passwords) / sizeof(passwords[0]); i++) {
		throttle_clear();
		code = attempt(NULL, "victim", 6, NULL, 0, passwords[i].p,
		    passwords[i].len, NULL, NULL);
		snprintf(what, sizeof(what), "LOGIN password #%zu", i);
		expect_code(code, memchr(passwords[i].p, '\0',
		    passwords[i].len) != NULL ? SC_E_BAD_INPUT :
		    SC_E_AUTH_FAIL, what);
		/* (A password with quotes is registered below.) */
		if (memchr(passwords[i].p, '\0', passwords[i].len) == NULL)
			continue;
		code = attempt(NULL, "newuser", 7, "new@example.org", 15,
		    passwords[i].p, passwords[i].len, NULL, NULL);
		snprintf(what, sizeof(what), "REGISTER password #%zu", i);
		expect_code(code, SC_E_BAD_INPUT, what);
	}
	/* A password shorter than 8 bytes at registration. */
	code = attempt(NULL, "newuser", 7, "new@example.org", 15, "1234567",
	    7, NULL, NULL);
	expect_code(code, SC_E_BAD_INPUT, "REGISTER short password");
	throttle_clear();
	after = users_digest("");
	assert_string_equal(before, after);
	free(after);

	/*
	 * What is acceptable is stored as the bytes it is: an address full
	 * of quotes, a password with SQL and a NUL in it.  Only the new row
	 * appears; no other changes.
	 */
	code = attempt(NULL, "quoter", 6, meta_email, sizeof(meta_email) - 1,
	    meta_pw, sizeof(meta_pw) - 1, NULL, NULL);
	expect_code(code, 0, "REGISTER with quotes in email and password");
	hex = tu_db_query(&env.db, "SELECT HEX(email) FROM users WHERE "
	    "username = 'quoter'");
	assert_non_null(hex);
	for (i = 0; i < sizeof(meta_email) - 1; i++)
		snprintf(want + 2 * i, 3, "%02X", (unsigned char)meta_email[i]);
	assert_string_equal(hex, want);
	free(hex);
	after = users_digest("WHERE username <> 'quoter'");
	assert_true(same_rows(before, after));
	free(after);
	/* Only the exact bytes: not a prefix, not one byte more. */
	code = attempt(NULL, "quoter", 6, NULL, 0, meta_pw, 24, NULL, NULL);
	expect_code(code, SC_E_AUTH_FAIL, "LOGIN with a prefix");
	code = attempt(NULL, "quoter", 6, NULL, 0, meta_pw, sizeof(meta_pw),
	    NULL, NULL);
	expect_code(code, SC_E_BAD_INPUT, "LOGIN with a NUL appended");
	code = attempt(NULL, "quoter", 6, NULL, 0, meta_pw,
	    sizeof(meta_pw) - 1, NULL, NULL);
	expect_code(code, 0, "LOGIN with the exact password");
	free(before);
}

static void
test_overlong_fields(void **state)
{
	char big[2048], email[300], *before, *after;
	int code;

	(void)state;
	throttle_clear();
	memset(big, 'a', sizeof(big));
	before = users_digest("");
	/* One byte over each limit: refused before authd (or by it). */
	code = attempt(NULL, big, SC_MAX_USERNAME + 1, "long@example.org", 16,
	    "a fine password", 15, NULL, NULL);
	assert_true(code == SC_E_TOO_LARGE || code == SC_E_BAD_INPUT);
	code = attempt(NULL, big, SC_MAX_USERNAME + 1, NULL, 0, VICTIM_PW,
	    strlen(VICTIM_PW), NULL, NULL);
	assert_true(code == SC_E_TOO_LARGE || code == SC_E_BAD_INPUT);
	memset(email, 'e', sizeof(email));
	memcpy(email + SC_MAX_EMAIL + 1 - 12, "@example.org", 12);
	code = attempt(NULL, "longmail", 8, email, SC_MAX_EMAIL + 1,
	    "a fine password", 15, NULL, NULL);
	assert_true(code == SC_E_TOO_LARGE || code == SC_E_BAD_INPUT);
	code = attempt(NULL, "longpass", 8, "lp@example.org", 14, big,
	    SC_MAX_PASSWORD + 1, NULL, NULL);
	assert_true(code == SC_E_TOO_LARGE || code == SC_E_BAD_INPUT);
	code = attempt(NULL, "victim", 6, NULL, 0, big, SC_MAX_PASSWORD + 1,
	    NULL, NULL);
	assert_true(code == SC_E_TOO_LARGE || code == SC_E_BAD_INPUT);
	/* A length prefix of 65535 over 40 bytes. */
	code = attempt(NULL, big, 0x10000 + 40, NULL, 0, VICTIM_PW,
	    strlen(VICTIM_PW), NULL, NULL);
	assert_true(code == SC_E_TOO_LARGE || code == SC_E_BAD_INPUT ||
	    code == SC_E_PROTOCOL);
	after = users_digest("");
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* The limits themselves are allowed: the checks are exact. */
	memcpy(big, "m", 1);
	memset(email, 'f', sizeof(email));
	memcpy(email + SC_MAX_EMAIL - 12, "@example.org", 12);
	code = attempt(NULL, big, SC_MAX_USERNAME, email, SC_MAX_EMAIL, big,
	    SC_MAX_PASSWORD, NULL, NULL);
	expect_code(code, 0, "REGISTER with every field at its limit");
	code = attempt(NULL, big, SC_MAX_USERNAME, NULL, 0, big,
	    SC_MAX_PASSWORD, NULL, NULL);
	expect_code(code, 0, "LOGIN with every field at its limit");
}

static void
test_duplicate_registration(void **state)
{
	static const char *const dups[][2] = {
		{ "dave", "other1@example.org" },	/* same name */
		{ "Dave", "other2@example.org" },	/* case variant */
		{ "DAVE", "other3@example.org" },
		{ "dave2", "dave@example.org" },	/* same email */
		{ "dave3", "DAVE@EXAMPLE.ORG" },	/* case variants */
		{ "dave4", "Dave@Example.Org" },
	};
	struct at_answer a, first;
	char *before, *after, *n;
	size_t i;

	(void)state;
	throttle_clear();
	expect_code(register_s(NULL, "dave", "dave@example.org",
	    "dave password 1"), 0, "first registration");
	before = users_digest("");
	for (i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
		/* Each USER_EXISTS counts against the address. */
		throttle_clear();
		expect_code(attempt(NULL, dups[i][0], strlen(dups[i][0]),
		    dups[i][1], strlen(dups[i][1]), "another password 1", 18,
		    &a, NULL), SC_E_USER_EXISTS, dups[i][0]);
		/* Which of the two was taken is not said. */
		if (i == 0)
			first = a;
		else
			assert_string_equal(a.reason, first.reason);
	}
	after = users_digest("");
	assert_string_equal(before, after);
	free(before);
	free(after);
	n = tu_db_query(&env.db, "SELECT COUNT(*) FROM users WHERE username "
	    "LIKE 'dave%%' OR email LIKE 'dave@%%'");
	assert_string_equal(n, "1");
	free(n);
	/* The original account still works. */
	throttle_clear();
	expect_code(login_s(NULL, "dave", "dave password 1", NULL), 0,
	    "dave logs in");
}

/* The first rate_limited event for user with that reason and address. */
static void
expect_rate_audit(const char *user, const char *reason, const char *addr)
{
	const char *kv[] = { "event", "rate_limited", "user", user, "reason",
	    reason, "addr", addr, NULL };

	if (at_audit_wait(&env, 1, 10000, kv) < 1)
		fail_msg("no rate_limited audit event for %s (%s) from %s",
		    user, reason, addr);
}

/*
 * Try the right password every half second until it works: each try
 * before must be RATE_LIMITED.  Returns when it worked (monotonic ms).
 */
static double
wait_allowed(const char *src, const char *user, const char *pw, int *refused)
{
	double end = at_now_ms() + 4000.0 * WINDOW_S;
	int code;

	*refused = 0;
	for (;;) {
		if ((code = login_s(src, user, pw, NULL)) == 0)
			return at_now_ms();
		expect_code(code, SC_E_RATE_LIMITED, user);
		(*refused)++;
		if (at_now_ms() > end)
			fail_msg("%s still refused long after the window",
			    user);
		usleep(500 * 1000);
	}
}

static void
test_brute_force_throttled(void **state)
{
	static const char *const spread[] = { "127.0.0.3", "127.0.0.4",
	    "127.0.0.5" };
	/* Letter case does not make another account to guess at. */
	static const char *const names[] = { "erin", "Erin", "ERIN" };
	struct csession *cs;
	char nobody[32];
	double t0, t_ok;
	int i, limited = 0;

	(void)state;
	throttle_clear();
	/*
	 * Per account: three wrong guesses from three addresses (a
	 * distributed attack); then even the right password is refused.
	 */
	t0 = at_now_ms();
	for (i = 0; i < MAX_FAILURES; i++)
		expect_code(login_s(spread[i], names[i % 3], "wrong guess 1",
		    NULL), SC_E_AUTH_FAIL, "erin: wrong guess");
	expect_code(login_s("127.0.0.6", "erin", ERIN_PW, NULL),
	    SC_E_RATE_LIMITED, "erin: right password while throttled");
	expect_rate_audit("erin", "account", "127.0.0.6");

	/*
	 * Per address: three guesses at three accounts from one address;
	 * then a fourth account is refused there, and not elsewhere.
	 */
	for (i = 0; i < MAX_FAILURES; i++) {
		snprintf(nobody, sizeof(nobody), "nobody%d", i);
		expect_code(login_s("127.0.0.7", nobody, "wrong guess 1", NULL),
		    SC_E_AUTH_FAIL, "one guess per account");
	}
	expect_code(login_s("127.0.0.7", "frank", FRANK_PW, NULL),
	    SC_E_RATE_LIMITED, "frank from the guessing address");
	expect_rate_audit("frank", "address", "127.0.0.7");
	/* Registration from there too: probing names is guessing as well. */
	expect_code(register_s("127.0.0.7", "newcomer", "nc@example.org",
	    "a fine password"), SC_E_RATE_LIMITED, "register from there");
	cs = at_login(&env, "bob", "127.0.0.8", "frank", FRANK_PW);
	assert_non_null(cs);
	assert_int_equal(at_chat(cs, "frank is fine elsewhere"), 0);
	csession_free(cs);

	/*
	 * After the window the right password works again; before its end
	 * it never does.  Windows are fixed and start at the first failure
	 * (database clock, whole seconds).
	 */
	t_ok = wait_allowed(NULL, "erin", ERIN_PW, &limited);
	fprintf(stderr, "throttle: erin refused %d more times, allowed "
	    "%.1f s after the first failure (window %d s)\n", limited,
	    (t_ok - t0) / 1000, WINDOW_S);
	assert_true(t_ok - t0 >= (WINDOW_S - 1) * 1000.0);
	(void)wait_allowed("127.0.0.7", "frank", FRANK_PW, &limited);
}

static void
test_no_password_in_logs(void **state)
{
	char *log, *audit;
	size_t i;

	(void)state;
	log = tu_read(env.log, NULL);
	audit = scenv_audit(&env);
	assert_non_null(log);
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		assert_false(tu_contains(log, secrets[i]));
		assert_false(tu_contains(audit, secrets[i]));
	}
	/* Nothing went wrong inside: no INTERNAL, no crashed worker. */
	assert_false(tu_contains(audit, "\"INTERNAL\""));
	assert_false(tu_contains(audit, "\"worker_crash\""));
	assert_false(tu_contains(audit, "\"child_crash\""));
	assert_false(at_sanitizer_report(env.log));
	free(log);
	free(audit);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_user_same_as_wrong_password),
		cmocka_unit_test(test_sql_and_nul_in_every_field),
		cmocka_unit_test(test_overlong_fields),
		cmocka_unit_test(test_duplicate_registration),
		cmocka_unit_test(test_brute_force_throttled),
		cmocka_unit_test(test_no_password_in_logs),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("attack_auth", tests, setup,
	    teardown);
}
