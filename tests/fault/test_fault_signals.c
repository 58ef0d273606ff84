/*
 * test_fault_signals.c: the signals an administrator sends to a running
 * securechatd, with the real daemon as root (tests/lib/scenv.c) and a
 * systemd notification socket of our own (NOTIFY_SOCKET):
 *
 *  - READY=1 and STATUS= at start-up, STATUS= at most once a second;
 *  - SIGHUP reloads the configuration and the CRL without dropping an
 *    open session; a revoked client certificate is refused for new
 *    sessions after it; a broken file is refused, logged and audited,
 *    and the running configuration stays in force;
 *  - SIGTERM drains: STOPPING=1, no new connections, a session may still
 *    finish (receipts and all) within drain_timeout, the rest are then
 *    terminated; the master exits 0 with keyd, authd and every worker
 *    gone, and the audit log says so.
 *
 * One installation for the file; SIGTERM comes last.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
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
#include "securechatd/securechatd.h"

#define DRAIN_S		4

static struct scenv env;

static double
elapsed_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The daemon inherits our environment: hand it our socket. */
static int
start_notified(struct scenv *e)
{
	char path[PATH_MAX];
	int rc;

	snprintf(path, sizeof(path), "%s/notify.sock", e->dir);
	if (fu_notify_start(path) == -1) {
		fprintf(stderr, "notify socket %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	setenv("NOTIFY_SOCKET", path, 1);
	rc = scenv_start(e);
	unsetenv("NOTIFY_SOCKET");
	return rc;
}

static int
setup(void **state)
{
	(void)state;
	return scenv_up(&env, "fsig", start_notified, fu_register_users,
	    "drain_timeout %d\n", DRAIN_S);
}

static int
teardown(void **state)
{
	(void)state;
	scenv_teardown(&env);
	fu_notify_stop();
	return 0;
}

static void
login(struct fu_sess *s, const char *user)
{
	assert_int_equal(fu_sess_login(&env, s, user, user, fu_pass(user), 0,
	    NULL), 0);
}

/* A new session as user is refused with code (and a reason holding word). */
static void
refused(const char *user, int code, const char *word)
{
	struct csession *cs;
	char reason[512];
	int got;

	cs = fu_login(&env, user, user, fu_pass(user), 0, &got, reason,
	    sizeof(reason));
	assert_null(cs);
	assert_int_equal(got, code);
	if (word != NULL && strstr(reason, word) == NULL)
		fail_msg("reason \"%s\" does not say \"%s\"", reason, word);
}

static void
works(const char *user)
{
	struct fu_sess s;

	login(&s, user);
	assert_int_equal(fu_chat(s.cs, "a new session", 10000), 0);
	fu_sess_free(&s);
}

static void
sc_admin(const char *fmt, const char *a, const char *b)
{
	struct tu_result r;
	char *cmd;

	if (asprintf(&cmd, "'%s' %s", tu_bin("sc-admin"), fmt) == -1)
		abort();
	if (tu_sh(&r, NULL, cmd, a, b) != 0)
		fail_msg("%s: %s%s", cmd, r.out, r.err);
	tu_result_free(&r);
	free(cmd);
}

static void
test_notify_ready(void **state)
{
	(void)state;
	assert_int_equal(fu_notify_wait("READY=1", 10), 0);
	assert_int_equal(fu_notify_wait("STATUS=", 10), 0);
}

static int
count_status(void)
{
	char *s = fu_notify_text(), *p;
	int n = 0;

	for (p = s; (p = strstr(p, "STATUS=")) != NULL; p++)
		n++;
	free(s);
	return n;
}

/*
 * A burst of connections sends STATUS= at most once a second (sd_notify
 * blocks the master while the manager's queue is full), and the last
 * counts still arrive.
 */
static void
test_status_rate(void **state)
{
	struct csession *cs = NULL;
	struct csession_err err;
	struct timespec t0;
	double secs;
	int before, after, i;
	char *s, *last, *p;

	(void)state;
	assert_int_equal(fu_wait_sessions(env.pid, 0, 20), 0);
	before = count_status();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 12; i++) {
		if (cs != NULL)
			csession_free(cs);
		cs = fu_open(&env, "alice", NULL, 0, &err);
		assert_non_null(cs);
	}
	secs = elapsed_since(&t0);
	/* The last one stays: the latest count is one session. */
	assert_int_equal(fu_wait_sessions(env.pid, 1, 20), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		s = fu_notify_text();
		for (last = NULL, p = s; (p = strstr(p, "STATUS=")) != NULL;
		    p++)
			last = p;
		if (last != NULL && strncmp(last, "STATUS=1 session ", 17) ==
		    0) {
			free(s);
			break;
		}
		free(s);
		if (elapsed_since(&t0) > 10)
			fail_msg("the latest STATUS= never came");
		usleep(50 * 1000);
	}
	after = count_status();
	fprintf(stderr, "%d STATUS notifications for 12 connections in "
	    "%.1f s\n", after - before, secs);
	assert_true(after - before <= (int)secs + 2);
	csession_free(cs);
}

/* Send SIGHUP and wait for the n-th audit line of event. */
static void
hup(const char *event, int n)
{
	char ev[64];

	snprintf(ev, sizeof(ev), "\"event\":\"%s\"", event);
	assert_int_equal(kill(env.pid, SIGHUP), 0);
	assert_int_equal(fu_audit_wait(&env, n, 20, ev, NULL), 0);
}

static void
test_sighup_reload(void **state)
{
	struct fu_sess live;
	char *orig, *good, *bad, rcpt[PATH_MAX + 64];
	const char *base;

	(void)state;
	login(&live, "alice");
	assert_int_equal(fu_chat(live.cs, "before the reload", 10000), 0);

	/*
	 * carol's certificate is revoked and a CRL published, but the
	 * running configuration names no CRL: until a reload, she gets in.
	 */
	sc_admin("pki revoke --dir '%s' '%s'", env.ca,
	    scenv_ca_file(&env, "carol.pem"));
	sc_admin("pki crl --dir '%s'%s", env.ca, "");
	works("carol");

	/* The configuration now names the CRL: reload. */
	orig = tu_read(env.conf, NULL);
	assert_non_null(orig);
	assert_true(asprintf(&good, "%scrl %s\n", orig,
	    scenv_ca_file(&env, "crl.pem")) > 0);
	assert_int_equal(tu_write(env.conf, good, strlen(good)), 0);
	hup("config_reloaded", 1);
	assert_int_equal(fu_wait_count(env.log, "configuration reloaded", 1,
	    10), 0);
	/* The open session lives across the reload ... */
	assert_int_equal(fu_chat(live.cs, "across the reload", 10000), 0);
	/* ... and new sessions run with the new configuration. */
	refused("carol", SC_E_BAD_CERT, "revoked");
	works("alice");

	/* A newer CRL (bob revoked too) is read on the next reload. */
	sc_admin("pki revoke --dir '%s' '%s'", env.ca,
	    scenv_ca_file(&env, "bob.pem"));
	sc_admin("pki crl --dir '%s'%s", env.ca, "");
	hup("config_reloaded", 2);
	refused("bob", SC_E_BAD_CERT, "revoked");
	assert_int_equal(fu_chat(live.cs, "after the second reload", 10000),
	    0);

	/* A file that does not parse: kept the running one, said why. */
	assert_true(asprintf(&bad, "%sno_such_keyword 1\n", good) > 0);
	assert_int_equal(tu_write(env.conf, bad, strlen(bad)), 0);
	free(bad);
	hup("config_reload_failed", 1);
	assert_true(fu_audit_count(&env, "\"event\":\"config_reload_failed\"",
	    "no_such_keyword", NULL) == 1);
	assert_int_equal(fu_wait_count(env.log,
	    "keeping the running configuration", 1, 10), 0);
	/* A file that parses but names a CRL that is not there. */
	assert_true(asprintf(&bad, "%scrl %s/missing-crl.pem\n", orig,
	    env.dir) > 0);
	assert_int_equal(tu_write(env.conf, bad, strlen(bad)), 0);
	free(bad);
	hup("config_reload_failed", 2);
	assert_true(fu_audit_count(&env, "\"event\":\"config_reload_failed\"",
	    "environment check failed", NULL) == 1);
	assert_true(fu_alive(env.pid));
	/* Still the last good configuration: CRL in force, sessions fine. */
	assert_int_equal(fu_chat(live.cs, "after the broken reloads", 10000),
	    0);
	refused("carol", SC_E_BAD_CERT, "revoked");
	works("alice");
	assert_int_equal(tu_write(env.conf, good, strlen(good)), 0);
	free(good);
	free(orig);

	/* The session that lived through all of it closes with receipts. */
	assert_int_equal(fu_sess_close(&live), 0);
	base = strrchr(live.str, '/') + 1;
	snprintf(rcpt, sizeof(rcpt), "%s/%.*s.server.json", env.receipts,
	    (int)(strlen(base) - 4), base);
	assert_int_equal(fu_wait_count(rcpt, "\"role\"", 1, 10), 0);
	assert_int_equal(fu_receipt_verify(live.str, rcpt,
	    scenv_ca_file(&env, "server.pem"), scenv_ca_file(&env, "ca.pem")),
	    0);
	fu_sess_free(&live);
}

/* 1 when a TCP connection to the daemon's port is refused. */
static int
port_refused(void)
{
	struct sockaddr_in sin;
	int fd, rc;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)env.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return rc == -1 && errno == ECONNREFUSED;
}

static void
test_sigterm_drain(void **state)
{
	struct fu_sess stay, fin;
	struct timespec t0;
	char reply[256], *notes;
	pid_t keyd[SC_KEYD_PROCESSES_MAX], authd[SC_AUTHD_PROCESSES_MAX];
	pid_t w_stay, w_fin;
	double secs;
	size_t n, k, nkeyd, nauthd;
	int st;

	(void)state;
	assert_int_equal(fu_wait_sessions(env.pid, 0, 20), 0);
	login(&stay, "alice");
	w_stay = fu_wait_child(env.pid, "worker [127.0.0.1] alice", -1, 10);
	assert_true(w_stay > 0);
	login(&fin, "alice");
	w_fin = fu_wait_child(env.pid, "worker [127.0.0.1] alice", w_stay, 10);
	assert_true(w_fin > 0);
	assert_int_equal(fu_chat(stay.cs, "before SIGTERM", 10000), 0);
	assert_int_equal(fu_chat(fin.cs, "before SIGTERM", 10000), 0);
	/* Every keyd and authd instance (*_processes: one per CPU here). */
	nkeyd = (size_t)fu_count_children(env.pid, "keyd -k");
	assert_true(nkeyd >= 1 && nkeyd <= SC_KEYD_PROCESSES_MAX);
	for (k = 0; k < nkeyd; k++) {
		keyd[k] = fu_wait_new_child(env.pid, "keyd -k", keyd, k, 10);
		assert_true(keyd[k] > 0);
	}
	nauthd = (size_t)fu_count_children(env.pid, "authd -D");
	assert_true(nauthd >= 1 && nauthd <= SC_AUTHD_PROCESSES_MAX);
	for (k = 0; k < nauthd; k++) {
		authd[k] = fu_wait_new_child(env.pid, "authd -D", authd, k,
		    10);
		assert_true(authd[k] > 0);
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kill(env.pid, SIGTERM), 0);
	assert_int_equal(fu_notify_wait("STOPPING=1", 10), 0);
	assert_int_equal(fu_wait_count(env.log, "SIGTERM: no new connections",
	    1, 10), 0);
	/* No new connections: the listening socket is closed. */
	while (!port_refused() && elapsed_since(&t0) < DRAIN_S)
		usleep(20 * 1000);
	assert_true(port_refused());

	/* A session may finish during the drain, receipts included. */
	assert_true(elapsed_since(&t0) < DRAIN_S);
	assert_int_equal(fu_chat(fin.cs, "during the drain", 10000), 0);
	assert_int_equal(fu_sess_close(&fin), 0);
	fu_sess_free(&fin);

	/* The other is terminated when drain_timeout runs out. */
	assert_int_equal(csession_recv_chat(stay.cs, 30000, reply,
	    sizeof(reply), &n), -1);
	secs = elapsed_since(&t0);
	fprintf(stderr, "idle session ended %.1f s after SIGTERM: %s\n", secs,
	    stay.cs->err.reason);
	assert_true(secs >= DRAIN_S - 1);
	assert_true(secs < DRAIN_S + 10);
	fu_sess_free(&stay);

	/* The master exits 0, and everything it started is gone. */
	for (st = -1; elapsed_since(&t0) < DRAIN_S + 30; usleep(50 * 1000))
		if (waitpid(env.pid, &st, WNOHANG) == env.pid)
			break;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	env.pid = -1;
	for (k = 0; k < nkeyd; k++)
		assert_false(fu_alive(keyd[k]));
	for (k = 0; k < nauthd; k++)
		assert_false(fu_alive(authd[k]));
	assert_false(fu_alive(w_stay));
	assert_false(fu_alive(w_fin));

	assert_int_equal(fu_audit_count(&env, "\"event\":\"shutdown_begin\"",
	    NULL), 1);
	assert_int_equal(fu_audit_count(&env, "\"event\":\"shutdown\"", NULL),
	    1);
	/* The idle session's end is a shutdown, not a crash. */
	assert_int_equal(fu_audit_count(&env, "\"event\":\"worker_crash\"",
	    NULL), 0);
	assert_true(fu_audit_count(&env, "\"event\":\"session_end\"",
	    "\"status\":\"signal 15\"", NULL) >= 1);
	notes = fu_notify_text();
	assert_non_null(strstr(notes, "shutting down"));
	free(notes);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_ready),
		cmocka_unit_test(test_status_rate),
		cmocka_unit_test(test_sighup_reload),
		cmocka_unit_test(test_sigterm_drain),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("fault_signals", tests, setup,
	    teardown);
}
