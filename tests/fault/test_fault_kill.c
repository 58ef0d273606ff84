/*
 * test_fault_kill.c: SIGKILL the processes under a running installation
 * (keyd, authd, one worker, the MariaDB server) in the middle of
 * sessions, with the real daemon as root (tests/lib/scenv.c), and show
 * what the daemon promises:
 *
 *  - the master logs and audits every death, restarts keyd and authd with
 *    a backoff, and new sessions work after the restart; with pools of
 *    two (keyd_processes 2, authd_processes 2), only the instance killed
 *    is restarted and the other serves new sessions and logins meanwhile;
 *  - a session that needs the dead process fails with a clean ERROR
 *    (INTERNAL for keyd, UNAVAILABLE for authd or the database), never a
 *    hang, and sessions that do not need it go on;
 *  - a killed worker ends only its own session: the master reaps it,
 *    audits the signal and frees its slot;
 *  - every transcript line written before a kill is intact and verifies,
 *    and receipts of sessions that completed before it still verify.
 *
 * One installation for the whole file; the tests run in order and each
 * starts once the master has no session left.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csession.h"
#include "faultutil.h"
#include "proto.h"
#include "scenv.h"

/* Per-source limit: small, so that a freed slot can be seen. */
#define PER_SOURCE	4

static struct scenv env;

static double
elapsed_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int
setup(void **state)
{
	(void)state;
	return scenv_up(&env, "fkill", NULL, fu_register_users,
	    "max_per_source %d\n"
	    /* Pools of two, whatever the number of CPUs. */
	    "keyd_processes 2\n"
	    "authd_processes 2\n"
	    /* Accounts here share certificates: not what is tested. */
	    "bind_certificates no\n", PER_SOURCE);
}

static int
teardown(void **state)
{
	(void)state;
	/* A test that failed while the database was stopped. */
	if (env.db.pid > 0)
		(void)kill(env.db.pid, SIGCONT);
	scenv_teardown(&env);
	return 0;
}

/* Each test starts from a quiet daemon. */
static void
quiet(void)
{
	assert_int_equal(fu_wait_sessions(env.pid, 0, 20), 0);
}

static void
login(struct fu_sess *s, const char *user)
{
	assert_int_equal(fu_sess_login(&env, s, user, user, fu_pass(user), 0,
	    NULL), 0);
}

/* The server's receipt file of a transcript ("<name>.log"). */
static void
receipt_path(const char *str, const char *role, char *out, size_t len)
{
	const char *base = strrchr(str, '/') + 1;
	size_t n = strlen(base) - strlen(".log");

	assert_true((size_t)snprintf(out, len, "%s/%.*s.%s.json",
	    env.receipts, (int)n, base, role) < len);
}

static void
check_transcript(const struct fu_sess *s, const char *path,
    const char *user, size_t want_lines)
{
	size_t n = 0;

	assert_int_equal(fu_transcript_verify(path, s->sid,
	    scenv_ca_file(&env, strcmp(user, "alice") == 0 ? "alice.pem" :
	    strcmp(user, "bob") == 0 ? "bob.pem" : "carol.pem"),
	    scenv_ca_file(&env, "server.pem"), &n), 0);
	assert_int_equal(n, want_lines);
}

/*
 * The pid of the latest start of prog[instance], from the master's log
 * line "started keyd[i] (pid P)", and how many starts there were.
 */
static pid_t
started(const char *prog, int instance, int *starts)
{
	return fu_started(&env, prog, instance, 0, starts);
}

/*
 * 0 or 1: which of the two pids p holds the worker's channel on fd
 * (4: keyd, 5: authd).
 */
static int
holder_of(pid_t worker, int fd, const pid_t p[2])
{
	int held0 = fu_channel_pending(worker, fd, p[0]) >= 0;
	int held1 = fu_channel_pending(worker, fd, p[1]) >= 0;

	assert_true(held0 != held1);
	return held0 ? 0 : 1;
}

/*
 * keyd, one instance of two: the sessions it served lose their signer.
 * Their next server record cannot be signed, so the worker answers
 * INTERNAL and closes; nothing written before is touched.  The other
 * instance serves new sessions meanwhile; the dead one alone is
 * restarted.  With both down, a new connection gets UNAVAILABLE.
 */
static void
test_kill_keyd(void **state)
{
	struct fu_sess done, live, fresh;
	struct csession *cs;
	struct csession_err err;
	char rcpt[PATH_MAX + 64], needle[64], *before, *after, reply[256];
	pid_t k[2], again, other, worker;
	size_t n, blen;
	int v, o, starts_v, starts_o, starts, gone;

	(void)state;
	quiet();
	k[0] = started("keyd", 1, NULL);
	k[1] = started("keyd", 2, NULL);
	assert_true(k[0] > 0 && k[1] > 0 && k[0] != k[1]);
	assert_int_equal(fu_count_children(env.pid, "keyd -k"), 2);
	/* A session that completes before the kill. */
	login(&done, "alice");
	assert_int_equal(fu_chat(done.cs, "finished before the kill", 10000),
	    0);
	assert_int_equal(fu_sess_close(&done), 0);

	/* A session established before the kill: its keyd is the victim. */
	login(&live, "bob");
	assert_int_equal(fu_chat(live.cs, "before the kill, one", 10000), 0);
	assert_int_equal(fu_chat(live.cs, "before the kill, two", 10000), 0);
	check_transcript(&live, live.str, "bob", 4);
	check_transcript(&live, live.ctr, "bob", 4);
	before = tu_read(live.str, &blen);
	assert_non_null(before);
	worker = fu_wait_child(env.pid, "worker [127.0.0.1] bob", -1, 10);
	assert_true(worker > 0);
	v = holder_of(worker, 4, k);
	o = 1 - v;
	(void)started("keyd", v + 1, &starts_v);
	(void)started("keyd", o + 1, &starts_o);
	fprintf(stderr, "killing keyd[%d] (pid %d); keyd[%d] (pid %d) "
	    "stays\n", v + 1, (int)k[v], o + 1, (int)k[o]);
	assert_int_equal(kill(k[v], SIGKILL), 0);

	/*
	 * A new session at once: while the victim is down (its restart
	 * comes after 1 s) its channel provably goes to the survivor.
	 */
	login(&fresh, "carol");
	other = fu_wait_child(env.pid, "worker [127.0.0.1] carol", -1, 10);
	assert_true(other > 0);
	(void)started("keyd", v + 1, &starts);
	if (starts == starts_v)
		assert_int_equal(holder_of(other, 4, k), o);
	assert_int_equal(fu_chat(fresh.cs, "while keyd died", 10000), 0);
	assert_int_equal(fu_sess_close(&fresh), 0);
	fu_sess_free(&fresh);

	/* Logged, audited, restarted after the first backoff step. */
	snprintf(needle, sizeof(needle), "keyd[%d] died (signal 9)", v + 1);
	assert_int_equal(fu_wait_count(env.log, needle, 1, 20), 0);
	snprintf(needle, sizeof(needle), "keyd[%d] will be restarted in 1 s",
	    v + 1);
	assert_int_equal(fu_wait_count(env.log, needle, 1, 20), 0);
	snprintf(needle, sizeof(needle), "\"child\":\"keyd[%d]\"", v + 1);
	assert_int_equal(fu_audit_wait(&env, 1, 20, "\"event\":\"child_crash\"",
	    needle, "\"status\":\"signal 9\"", NULL), 0);
	assert_int_equal(fu_audit_wait(&env, 1, 20,
	    "\"event\":\"child_restart\"", needle, NULL), 0);
	/* The victim alone was restarted. */
	snprintf(needle, sizeof(needle), "started keyd[%d] (pid ", v + 1);
	assert_int_equal(fu_wait_count(env.log, needle, starts_v + 1, 20), 0);
	again = started("keyd", v + 1, NULL);
	assert_true(again > 0 && again != k[v]);
	assert_int_equal(fu_wait_child(env.pid, "keyd -k", k[o], 20), again);
	assert_int_equal(started("keyd", o + 1, &starts), k[o]);
	assert_int_equal(starts, starts_o);
	assert_true(fu_alive(k[o]));

	/* The kill itself changed nothing written. */
	after = tu_read(live.str, NULL);
	assert_non_null(after);
	assert_string_equal(before, after);
	free(after);

	/*
	 * The established session: its keyd channel died with its keyd.
	 * The worker accepts and logs the client's record, cannot sign the
	 * answer, and says INTERNAL (never a hang, never a partial frame).
	 */
	assert_int_equal(csession_send_chat(live.cs, "after the kill", 14), 0);
	assert_int_equal(csession_recv_chat(live.cs, 20000, reply,
	    sizeof(reply), &n), -1);
	assert_int_equal(live.cs->err.remote, 1);
	assert_int_equal(live.cs->err.code, SC_E_INTERNAL);
	/* ... then closes: end of stream, and the worker is gone. */
	assert_int_equal(fu_server_error(live.cs, 10000, NULL, 0), -1);
	assert_int_equal(fu_wait_sessions(env.pid, 0, 20), 0);
	assert_int_equal(fu_audit_wait(&env, 1, 20,
	    "\"event\":\"internal_error\"", "\"user\":\"bob\"", NULL), 0);
	/* Every line from before is intact, in place, and verifies. */
	after = tu_read(live.str, NULL);
	assert_non_null(after);
	assert_memory_equal(before, after, blen);
	free(after);
	check_transcript(&live, live.str, "bob", 5);
	check_transcript(&live, live.ctr, "bob", 5);
	free(before);
	fu_sess_free(&live);

	/* The session that completed before: both receipts still verify. */
	receipt_path(done.str, "server", rcpt, sizeof(rcpt));
	assert_int_equal(fu_receipt_verify(done.str, rcpt,
	    scenv_ca_file(&env, "server.pem"), scenv_ca_file(&env, "ca.pem")),
	    0);
	receipt_path(done.str, "client", rcpt, sizeof(rcpt));
	assert_int_equal(fu_receipt_verify(done.str, rcpt,
	    scenv_ca_file(&env, "alice.pem"), scenv_ca_file(&env, "ca.pem")),
	    0);
	/* Two echoes, and the SYNC and its answer of a clean close. */
	check_transcript(&done, done.str, "alice", 4);
	fu_sess_free(&done);

	/* A new session through the restarted pool, receipts included. */
	login(&fresh, "carol");
	assert_int_equal(fu_chat(fresh.cs, "after the restart", 10000), 0);
	assert_int_equal(fu_sess_close(&fresh), 0);
	receipt_path(fresh.str, "server", rcpt, sizeof(rcpt));
	assert_int_equal(fu_wait_count(rcpt, "\"role\"", 1, 10), 0);
	assert_int_equal(fu_receipt_verify(fresh.str, rcpt,
	    scenv_ca_file(&env, "server.pem"), scenv_ca_file(&env, "ca.pem")),
	    0);
	fu_sess_free(&fresh);

	/*
	 * Both instances killed, the victim again soon after its restart:
	 * its backoff doubles.  While no keyd runs, a new connection is
	 * refused with UNAVAILABLE (checked only when the attempt provably
	 * fell in that window).
	 */
	(void)started("keyd", v + 1, &starts_v);
	(void)started("keyd", o + 1, &starts_o);
	assert_int_equal(kill(k[o], SIGKILL), 0);
	assert_int_equal(kill(again, SIGKILL), 0);
	snprintf(needle, sizeof(needle), "keyd[%d] will be restarted in 2 s",
	    v + 1);
	assert_int_equal(fu_wait_count(env.log, needle, 1, 20), 0);
	snprintf(needle, sizeof(needle), "keyd[%d] will be restarted in 1 s",
	    o + 1);
	assert_int_equal(fu_wait_count(env.log, needle, 1, 20), 0);
	gone = fu_count_children(env.pid, "keyd -k") == 0;
	cs = fu_open(&env, "alice", NULL, 0, &err);
	if (gone && fu_count_children(env.pid, "keyd -k") == 0) {
		assert_null(cs);
		assert_int_equal(err.remote, 1);
		assert_int_equal(err.code, SC_E_UNAVAILABLE);
	}
	if (cs != NULL)
		csession_free(cs);
	snprintf(needle, sizeof(needle), "started keyd[%d] (pid ", v + 1);
	assert_int_equal(fu_wait_count(env.log, needle, starts_v + 1, 20), 0);
	snprintf(needle, sizeof(needle), "started keyd[%d] (pid ", o + 1);
	assert_int_equal(fu_wait_count(env.log, needle, starts_o + 1, 20), 0);
	assert_int_equal(fu_audit_wait(&env, 3, 20,
	    "\"event\":\"child_restart\"", "\"child\":\"keyd[", NULL), 0);
	login(&fresh, "alice");
	assert_int_equal(fu_chat(fresh.cs, "after the second restart", 10000),
	    0);
	assert_int_equal(fu_sess_close(&fresh), 0);
	fu_sess_free(&fresh);
}

/* A LOGIN sent in a thread while the test kills authd under it. */
struct bg_login {
	pthread_t	 th;
	struct csession	*cs;
	int		 rc;
};

static void *
bg_login_run(void *arg)
{
	struct bg_login *b = arg;

	b->rc = csession_login(b->cs, "bob", fu_pass("bob"));
	return NULL;
}

/*
 * authd, one instance of two: a login it holds fails with UNAVAILABLE
 * when it dies, and so does the LOGIN of a session whose channel went to
 * it before; a session of the other instance logs in meanwhile; sessions
 * already logged in go on; the dead instance alone is restarted and
 * serves later logins.
 */
static void
test_kill_authd(void **state)
{
	struct fu_sess live;
	struct bg_login bg;
	struct csession *cs[3], *early, *other, *two[2];
	struct csession_err err;
	struct timespec t0;
	char needle[64];
	pid_t a[2], victim, survivor, again, known[6], w[3], worker;
	long q = -1;
	double secs;
	int i, v, o, pair = -1, starts_v, starts_o, starts, holders[3];

	(void)state;
	quiet();
	a[0] = started("authd", 1, NULL);
	a[1] = started("authd", 2, NULL);
	assert_true(a[0] > 0 && a[1] > 0 && a[0] != a[1]);
	assert_int_equal(fu_count_children(env.pid, "authd -D"), 2);
	login(&live, "alice");
	assert_int_equal(fu_chat(live.cs, "before authd dies", 10000), 0);
	known[0] = fu_wait_child(env.pid, "worker [127.0.0.1] alice", -1, 10);
	assert_true(known[0] > 0);

	/*
	 * Three handshakes (keyd only), no login yet: the master spreads
	 * them, so two share an instance (the victim: one login in its
	 * hands when it dies, one sent after) and one has the other.
	 */
	for (i = 0; i < 3; i++) {
		cs[i] = fu_open(&env, "bob", NULL, 0, &err);
		assert_non_null(cs[i]);
		w[i] = fu_wait_new_child(env.pid, "worker [", known,
		    (size_t)i + 1, 10);
		assert_true(w[i] > 0);
		known[i + 1] = w[i];
		holders[i] = holder_of(w[i], 5, a);
	}
	for (i = 0; i < 3 && pair == -1; i++)
		if (holders[i] == holders[(i + 1) % 3])
			pair = i;
	assert_true(pair != -1);
	v = holders[pair];
	o = 1 - v;
	assert_int_equal(holders[(pair + 2) % 3], o);
	memset(&bg, 0, sizeof(bg));
	bg.cs = cs[pair];
	early = cs[(pair + 1) % 3];
	other = cs[(pair + 2) % 3];
	worker = w[pair];
	victim = a[v];
	survivor = a[o];
	(void)started("authd", v + 1, &starts_v);
	(void)started("authd", o + 1, &starts_o);
	fprintf(stderr, "killing authd[%d] (pid %d); authd[%d] (pid %d) "
	    "stays\n", v + 1, (int)victim, o + 1, (int)survivor);

	/*
	 * The victim held still, then the LOGIN: the test waits until the
	 * request sits in the victim's end of that worker's channel, so the
	 * login is provably in its hands.
	 */
	assert_int_equal(kill(victim, SIGSTOP), 0);
	assert_int_equal(pthread_create(&bg.th, NULL, bg_login_run, &bg), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((q = fu_channel_pending(worker, 5, victim)) <= 0 &&
	    elapsed_since(&t0) < 20)
		usleep(20 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kill(victim, SIGKILL), 0);
	assert_int_equal(pthread_join(bg.th, NULL), 0);
	secs = elapsed_since(&t0);
	fprintf(stderr, "login in authd's hands when it died: %s \"%s\" "
	    "%.1f s after the kill (%ld bytes were waiting)\n",
	    sc_err_name(bg.cs->err.code), bg.cs->err.reason, secs, q);
	assert_true(q > 0);
	assert_int_equal(bg.rc, -1);
	assert_int_equal(bg.cs->err.remote, 1);
	assert_int_equal(bg.cs->err.code, SC_E_UNAVAILABLE);
	assert_true(secs < 10);
	csession_free(bg.cs);

	snprintf(needle, sizeof(needle), "authd[%d] died (signal 9)", v + 1);
	assert_int_equal(fu_wait_count(env.log, needle, 1, 20), 0);
	snprintf(needle, sizeof(needle), "\"child\":\"authd[%d]\"", v + 1);
	assert_int_equal(fu_audit_wait(&env, 1, 20, "\"event\":\"child_crash\"",
	    needle, "\"status\":\"signal 9\"", NULL), 0);

	/* The other instance serves, whether the victim is back or not. */
	assert_int_equal(csession_login(other, "alice", fu_pass("alice")), 0);
	assert_int_equal(fu_chat(other, "the other authd", 10000), 0);
	csession_free(other);

	/* The victim alone is restarted. */
	snprintf(needle, sizeof(needle), "started authd[%d] (pid ", v + 1);
	assert_int_equal(fu_wait_count(env.log, needle, starts_v + 1, 20), 0);
	again = started("authd", v + 1, NULL);
	assert_true(again > 0 && again != victim);
	assert_int_equal(fu_wait_child(env.pid, "authd -D", survivor, 20),
	    again);
	snprintf(needle, sizeof(needle), "\"child\":\"authd[%d]\"", v + 1);
	assert_int_equal(fu_audit_wait(&env, 1, 20,
	    "\"event\":\"child_restart\"", needle, NULL), 0);
	assert_int_equal(started("authd", o + 1, &starts), survivor);
	assert_int_equal(starts, starts_o);
	assert_true(fu_alive(survivor));

	/*
	 * A worker's authd channel is made once, at accept: the session
	 * whose handshake was done before the kill stays bound to the dead
	 * instance, and its LOGIN, sent now, gets UNAVAILABLE too.
	 */
	assert_int_equal(csession_login(early, "carol", fu_pass("carol")), -1);
	assert_int_equal(early->err.remote, 1);
	assert_int_equal(early->err.code, SC_E_UNAVAILABLE);
	csession_free(early);

	/* The logged-in session never needed authd. */
	assert_int_equal(fu_chat(live.cs, "after authd died", 10000), 0);
	assert_int_equal(fu_chat(live.cs, "and still here", 10000), 0);
	assert_int_equal(fu_sess_close(&live), 0);
	check_transcript(&live, live.str, "alice", 8);	/* + SYNC */
	fu_sess_free(&live);

	/* Later logins use both, the new instance included. */
	quiet();
	a[v] = again;
	for (i = 0; i < 2; i++) {
		two[i] = fu_open(&env, "bob", NULL, 0, &err);
		assert_non_null(two[i]);
		w[i] = fu_wait_new_child(env.pid, "worker [", w, (size_t)i,
		    10);
		assert_true(w[i] > 0);
		holders[i] = holder_of(w[i], 5, a);
	}
	assert_int_not_equal(holders[0], holders[1]);
	for (i = 0; i < 2; i++) {
		assert_int_equal(csession_login(two[i], "bob",
		    fu_pass("bob")), 0);
		assert_int_equal(fu_chat(two[i], "authd is back", 10000), 0);
		csession_free(two[i]);
	}
}

/*
 * One worker: only its session ends.  The master reaps it, audits the
 * signal, and its slot is free again (shown with the per-source limit).
 */
static void
test_kill_worker(void **state)
{
	struct fu_sess s[PER_SOURCE], extra;
	struct csession *cs;
	struct csession_err err;
	char reply[256];
	pid_t victim;
	size_t n;
	int i, code;

	(void)state;
	quiet();
	for (i = 0; i < PER_SOURCE; i++) {
		login(&s[i], fu_users[i % 3]);
		assert_int_equal(fu_chat(s[i].cs, "hello", 10000), 0);
	}
	/* The limit holds: one more from this address is refused. */
	cs = fu_open(&env, "carol", NULL, 0, &err);
	assert_null(cs);
	assert_int_equal(err.remote, 1);
	assert_int_equal(err.code, SC_E_RATE_LIMITED);

	/* s[1] is bob's only session: his worker names him. */
	victim = fu_wait_child(env.pid, "worker [127.0.0.1] bob", -1, 10);
	assert_true(victim > 0);
	assert_int_equal(kill(victim, SIGKILL), 0);
	assert_int_equal(fu_wait_gone(victim, 10), 0);

	/* Its client sees the connection end, nothing else. */
	(void)csession_send_chat(s[1].cs, "anyone?", 7);
	assert_int_equal(csession_recv_chat(s[1].cs, 20000, reply,
	    sizeof(reply), &n), -1);
	assert_int_equal(s[1].cs->err.remote, 0);

	assert_int_equal(fu_audit_wait(&env, 1, 20,
	    "\"event\":\"worker_crash\"", "\"user\":\"bob\"",
	    "\"status\":\"signal 9\"", NULL), 0);
	assert_int_equal(fu_wait_count(env.log, "ended abnormally: signal 9",
	    1, 20), 0);
	assert_int_equal(fu_wait_sessions(env.pid, PER_SOURCE - 1, 20), 0);

	/* The others go on, and the freed slot takes a new session. */
	for (i = 0; i < PER_SOURCE; i++)
		if (i != 1)
			assert_int_equal(fu_chat(s[i].cs, "still here", 10000),
			    0);
	assert_int_equal(fu_sess_login(&env, &extra, "bob", "bob",
	    fu_pass("bob"), 0, &code), 0);
	assert_int_equal(fu_chat(extra.cs, "in the freed slot", 10000), 0);
	/* Lines the killed worker wrote are intact and verify. */
	check_transcript(&s[1], s[1].str, "bob", 2);
	for (i = 0; i < PER_SOURCE; i++) {
		if (i != 1) {
			assert_int_equal(fu_sess_close(&s[i]), 0);
			check_transcript(&s[i], s[i].str, fu_users[i % 3], 6);
		}
		fu_sess_free(&s[i]);
	}
	fu_sess_free(&extra);
}

/* Try logins until one succeeds; every failure must be UNAVAILABLE. */
static int
login_when_back(const char *user, int timeout_s)
{
	struct csession *cs;
	struct timespec t0;
	char reason[512];
	int code;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		cs = fu_login(&env, user, user, fu_pass(user), 0, &code, reason,
		    sizeof(reason));
		if (cs != NULL) {
			int rc = fu_chat(cs, "database is back", 10000);

			csession_free(cs);
			return rc;
		}
		if (code != SC_E_UNAVAILABLE)
			return -1;
		if (elapsed_since(&t0) > timeout_s)
			return -1;
		usleep(200 * 1000);
	}
}

/* A login while the database is down: UNAVAILABLE, quickly, with a reason. */
static void
login_refused_unavailable(const char *user, int reg, double max_s)
{
	struct csession *cs;
	struct timespec t0;
	char reason[512];
	double secs;
	int code;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cs = fu_login(&env, "carol", user, fu_pass("carol"), reg, &code, reason,
	    sizeof(reason));
	secs = elapsed_since(&t0);
	fprintf(stderr, "%s with the database down: %s \"%s\" after %.1f s\n",
	    reg ? "registration" : "login", sc_err_name(code), reason, secs);
	assert_null(cs);
	assert_int_equal(code, SC_E_UNAVAILABLE);
	assert_true(strstr(reason, "unavailable") != NULL);
	assert_true(secs < max_s);
}

/*
 * The database: killed outright, then hung (SIGSTOP).  New logins are
 * refused with UNAVAILABLE within seconds; established sessions go on;
 * when it returns, logins work again with the same authd.
 */
static void
test_kill_database(void **state)
{
	struct fu_sess live;
	pid_t authd[2];
	int st;

	(void)state;
	quiet();
	authd[0] = fu_wait_child(env.pid, "authd -D", -1, 10);
	assert_true(authd[0] > 0);
	authd[1] = fu_wait_child(env.pid, "authd -D", authd[0], 10);
	assert_true(authd[1] > 0);
	login(&live, "alice");
	assert_int_equal(fu_chat(live.cs, "before the database dies", 10000),
	    0);

	/* SIGKILL: the server's port is closed at once. */
	assert_true(env.db.pid > 0);
	assert_int_equal(kill(env.db.pid, SIGKILL), 0);
	assert_int_equal(waitpid(env.db.pid, &st, 0), env.db.pid);
	env.db.pid = -1;
	login_refused_unavailable("carol", 0, 8);
	login_refused_unavailable("carol", 0, 8);
	login_refused_unavailable("dave", 1, 8);
	assert_int_equal(fu_audit_wait(&env, 1, 10, "\"event\":\"login_fail\"",
	    "database unavailable", NULL), 0);
	assert_int_equal(fu_chat(live.cs, "the database is down", 10000), 0);

	/* Back (after crash recovery): the same authd reconnects. */
	assert_int_equal(tu_db_resume(&env.db), 0);
	assert_int_equal(login_when_back("bob", 30), 0);
	assert_int_equal(fu_chat(live.cs, "the database is back", 10000), 0);

	/*
	 * Hung: the server accepts TCP connections but answers nothing.
	 * The first login waits out authd's read timeout (10 s, set in
	 * common/dbconf.c) and no more: authd does not then reconnect to
	 * a server that just timed out (that added a 3 s connect timeout).
	 * The next ones fail at once, or after one connect timeout.
	 */
	assert_int_equal(kill(env.db.pid, SIGSTOP), 0);
	login_refused_unavailable("carol", 0, 12.5);
	login_refused_unavailable("carol", 0, 8);
	assert_int_equal(fu_chat(live.cs, "the database hangs", 10000), 0);
	assert_int_equal(kill(env.db.pid, SIGCONT), 0);
	assert_int_equal(login_when_back("carol", 30), 0);

	/* Nothing was restarted for any of it. */
	assert_int_equal(fu_count_children(env.pid, "authd -D"), 2);
	assert_true(fu_alive(authd[0]) && fu_alive(authd[1]));
	assert_int_equal(fu_chat(live.cs, "done", 10000), 0);
	assert_int_equal(fu_sess_close(&live), 0);
	check_transcript(&live, live.str, "alice", 12);	/* + SYNC */
	fu_sess_free(&live);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_keyd),
		cmocka_unit_test(test_kill_authd),
		cmocka_unit_test(test_kill_worker),
		cmocka_unit_test(test_kill_database),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("fault_kill", tests, setup,
	    teardown);
}
