/*
 * test_authd_pool.c: the master's pool of authd processes
 * (authd_processes, securechatd/master.c), on a real installation as
 * root (tests/lib/scenv.c):
 *
 *  - `securechatd -t` takes authd_processes 1 to 16 and refuses the rest;
 *  - with authd_processes 2, two authd processes run, children of the
 *    master, as the authd user, each named in the log ("started authd[1]
 *    (pid P)");
 *  - sessions are spread over both: shown from /proc (which process holds
 *    the far end of each worker's authd descriptor) and from the audit
 *    log (login_ok events of "authd[1]" and "authd[2]", with their pids);
 *  - killing one leaves logins working; it alone is restarted;
 *  - SIGHUP with a new authd setting restarts both; a new authd_processes
 *    starts or stops the difference;
 *  - an instance is only believed for its own sessions: with stand-in
 *    authds (this very program, run by the master as "authd", see main),
 *    one that reports a login or asks for a worker's death for a session
 *    of the other instance is logged, audited and ignored;
 *  - the same for the pool of keyd processes (keyd_processes): a stand-in
 *    keyd's KILL_WORKER for the other instance's session is ignored and
 *    audited, one for its own session kills that worker.
 *
 * Nothing here measures time: every wait is for an event, with a
 * deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd/authd.h"
#include "keyd/keyd.h"
#include "buf.h"
#include "csession.h"
#include "fakeauthd.h"
#include "faultutil.h"
#include "hostile.h"
#include "ipc.h"
#include "proto.h"
#include "scenv.h"
#include "testutil.h"

#define NSESS		8	/* sessions spread over the instances */
#define PASSWORD	"alice password 1"

static struct scenv env;

/* Every session here uses alice's account. */
static int
ready(struct scenv *e)
{
	return fu_register(e, "alice", PASSWORD);
}

static int
setup(void **state)
{
	(void)state;
	return scenv_up(&env, "apool", NULL, ready,
	    "authd_processes 2\n"
	    "max_per_source 32\n"
	    "max_startups 64\n"
	    /* Every session here uses alice's certificate. */
	    "bind_certificates no\n");
}

static int
teardown(void **state)
{
	(void)state;
	scenv_teardown(&env);
	return 0;
}

/*
 * The pid of the nth (1-based) start of authd[instance], from the
 * master's log line "started authd[i] (pid P)"; -1 if there is none yet.
 */
static pid_t
started_pid(int instance, int nth)
{
	return fu_started(&env, "authd", instance, nth, NULL);
}

static pid_t
wait_started(int instance, int nth)
{
	char needle[64];

	snprintf(needle, sizeof(needle), "started authd[%d] (pid ", instance);
	if (fu_wait_count(env.log, needle, nth, 30) == -1)
		return -1;
	return started_pid(instance, nth);
}

/* The real, effective, saved and file-system uid of pid are all uid. */
static int
runs_as(pid_t pid, uid_t uid)
{
	char path[64], line[256];
	unsigned long r, e, s, f;
	FILE *fp;
	int ok = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "Uid: %lu %lu %lu %lu", &r, &e, &s, &f) == 4)
			ok = r == uid && e == uid && s == uid && f == uid;
	fclose(fp);
	return ok;
}

/* A fresh authd drops its privileges after its start: wait for it. */
static int
wait_runs_as(pid_t pid, uid_t uid)
{
	int i;

	for (i = 0; i < 400; i++) {
		if (runs_as(pid, uid))
			return 1;
		if (!fu_alive(pid))
			return 0;
		usleep(50 * 1000);
	}
	return 0;
}

static uid_t
authd_uid(void)
{
	struct passwd *pw = getpwnam("_securechat-auth");

	assert_non_null(pw);
	return pw->pw_uid;
}

/* Which of pids[0..n) holds the far end of the worker's authd channel. */
static int
holder_of(pid_t worker, const pid_t *pids, int n)
{
	int i, found = -1;

	for (i = 0; i < n; i++)
		if (fu_channel_pending(worker, 5, pids[i]) >= 0) {
			if (found != -1)
				return -2;	/* cannot be held twice */
			found = i;
		}
	return found;
}

/*
 * Open n sessions (handshake only) and tell, for each, which of the
 * instances pids[0..ninst) got its authd channel: per[i] counts them.
 */
static void
open_sessions(struct csession **cs, int n, const pid_t *pids, int ninst,
    int *per)
{
	struct csession_err err;
	pid_t workers[NSESS * 2];
	int i, h;

	assert_true(n <= NSESS * 2);
	memset(per, 0, sizeof(*per) * (size_t)ninst);
	for (i = 0; i < n; i++) {
		cs[i] = fu_open(&env, "alice", NULL, 0, &err);
		assert_non_null(cs[i]);
		workers[i] = fu_wait_new_child(env.pid, "worker [", workers,
		    (size_t)i, 10);
		assert_true(workers[i] > 0);
		h = holder_of(workers[i], pids, ninst);
		assert_true(h >= 0);
		per[h]++;
	}
}

static void
close_sessions(struct csession **cs, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		csession_free(cs[i]);
		cs[i] = NULL;
	}
	assert_int_equal(fu_wait_sessions(env.pid, 0, 30), 0);
}

static int
count_login_ok(int instance, pid_t pid)
{
	char proc[32], pidkv[32];

	snprintf(proc, sizeof(proc), "\"proc\":\"authd[%d]\"", instance);
	snprintf(pidkv, sizeof(pidkv), "\"pid\":%d,", (int)pid);
	return fu_audit_count(&env, "\"event\":\"login_ok\"", proc, pidkv,
	    NULL);
}

/* Write a configuration with extra as its last line and run -t on it. */
static int
check_conf(const char *extra, struct tu_result *r)
{
	char path[PATH_MAX], *text = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/t.conf", env.dir);
	assert_true(asprintf(&text, "ca %s/ca.pem\ncert %s/server.pem\n"
	    "key %s/server.key\n%s\n", env.ca, env.ca, env.ca, extra) != -1);
	assert_int_equal(tu_write(path, text, strlen(text)), 0);
	free(text);
	{
		const char *argv[] = { tu_bin("securechatd"), "-t", "-f", path,
		    NULL };

		rc = tu_run(r, NULL, 30, argv);
	}
	unlink(path);
	return rc;
}

static void
test_conf_bounds(void **state)
{
	static const char *const bad[] = { "0", "17", "two", "-1", "2 3" };
	struct tu_result r;
	char line[64];
	size_t i;

	(void)state;
	assert_int_equal(check_conf("authd_processes 1", &r), 0);
	assert_true(tu_contains(r.out, "configuration OK"));
	tu_result_free(&r);
	assert_int_equal(check_conf("authd_processes 16", &r), 0);
	tu_result_free(&r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "authd_processes %s", bad[i]);
		assert_int_equal(check_conf(line, &r), 1);
		assert_true(tu_contains(r.err, "t.conf:4: authd_processes"));
		tu_result_free(&r);
	}
	assert_int_equal(check_conf("authd_processes 2\nauthd_processes 2",
	    &r), 1);
	assert_true(tu_contains(r.err, "given twice"));
	tu_result_free(&r);
}

/* Two authd processes, children of the master, as the authd user. */
static void
test_two_instances(void **state)
{
	pid_t p1, p2;

	(void)state;
	p1 = wait_started(1, 1);
	p2 = wait_started(2, 1);
	assert_true(p1 > 0 && p2 > 0 && p1 != p2);
	assert_int_equal(fu_count_children(env.pid, "authd -D"), 2);
	assert_int_equal(fu_wait_child(env.pid, "authd -D", p1, 5), p2);
	assert_int_equal(fu_wait_child(env.pid, "authd -D", p2, 5), p1);
	assert_true(wait_runs_as(p1, authd_uid()));
	assert_true(wait_runs_as(p2, authd_uid()));
	/* No third one, and the audit log names each start. */
	assert_int_equal(started_pid(3, 1), -1);
	assert_int_equal(fu_audit_count(&env, "\"event\":\"child_start\"",
	    "\"child\":\"authd[1]\"", NULL), 1);
	assert_int_equal(fu_audit_count(&env, "\"event\":\"child_start\"",
	    "\"child\":\"authd[2]\"", NULL), 1);
}

/*
 * NSESS sessions opened one after the other, none logged in yet: each
 * goes to the instance with fewer sessions still to log in, so exactly
 * half to each; then every one logs in and each instance has done half
 * of the logins (its own login_ok events, with its pid).
 */
static void
test_logins_spread(void **state)
{
	struct csession *cs[NSESS];
	pid_t pids[2];
	int per[2], before[2], i;

	(void)state;
	assert_int_equal(fu_wait_sessions(env.pid, 0, 30), 0);
	pids[0] = started_pid(1, 1);
	pids[1] = started_pid(2, 1);
	assert_true(pids[0] > 0 && pids[1] > 0);
	before[0] = count_login_ok(1, pids[0]);
	before[1] = count_login_ok(2, pids[1]);

	open_sessions(cs, NSESS, pids, 2, per);
	fprintf(stderr, "authd channels: %d with authd[1], %d with "
	    "authd[2]\n", per[0], per[1]);
	assert_int_equal(per[0], NSESS / 2);
	assert_int_equal(per[1], NSESS / 2);
	for (i = 0; i < NSESS; i++)
		assert_int_equal(csession_login(cs[i], "alice", PASSWORD), 0);
	assert_int_equal(fu_audit_wait(&env, before[0] + NSESS / 2, 20,
	    "\"event\":\"login_ok\"", "\"proc\":\"authd[1]\"", NULL), 0);
	assert_int_equal(fu_audit_wait(&env, before[1] + NSESS / 2, 20,
	    "\"event\":\"login_ok\"", "\"proc\":\"authd[2]\"", NULL), 0);
	assert_int_equal(count_login_ok(1, pids[0]) - before[0], NSESS / 2);
	assert_int_equal(count_login_ok(2, pids[1]) - before[1], NSESS / 2);
	/* Every session was bound by the instance that served it. */
	assert_int_equal(fu_audit_count(&env, "\"event\":\"authd_wrong_"
	    "instance\"", NULL), 0);
	for (i = 0; i < NSESS; i++)
		assert_int_equal(fu_chat(cs[i], "spread", 10000), 0);
	close_sessions(cs, NSESS);
}

/*
 * SIGKILL authd[1]: logins go on (through authd[2] until authd[1] is
 * back); authd[1] alone is restarted, as the authd user, and new
 * sessions are spread over both again.
 */
static void
test_kill_one(void **state)
{
	struct fu_sess s;
	struct csession *cs[2];
	pid_t p1, p2, p1b, pids[2];
	int per[2], i;

	(void)state;
	assert_int_equal(fu_wait_sessions(env.pid, 0, 30), 0);
	p1 = started_pid(1, 1);
	p2 = started_pid(2, 1);
	assert_true(p1 > 0 && p2 > 0);
	assert_int_equal(kill(p1, SIGKILL), 0);
	assert_int_equal(fu_wait_count(env.log, "authd[1] died (signal 9)", 1,
	    20), 0);
	assert_int_equal(fu_audit_wait(&env, 1, 20, "\"event\":\"child_crash\"",
	    "\"child\":\"authd[1]\"", "\"status\":\"signal 9\"", NULL), 0);
	/* Logins work whether or not authd[1] is back yet. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(fu_sess_login(&env, &s, "alice", "alice",
		    PASSWORD, 0, NULL), 0);
		assert_int_equal(fu_chat(s.cs, "one authd down", 10000), 0);
		fu_sess_free(&s);
	}
	p1b = wait_started(1, 2);
	assert_true(p1b > 0 && p1b != p1);
	assert_int_equal(fu_audit_wait(&env, 1, 20,
	    "\"event\":\"child_restart\"", "\"child\":\"authd[1]\"", NULL), 0);
	assert_true(wait_runs_as(p1b, authd_uid()));
	/* authd[2] was never touched. */
	assert_int_equal(started_pid(2, 2), -1);
	assert_true(fu_alive(p2));
	assert_int_equal(fu_count_children(env.pid, "authd -D"), 2);
	assert_int_equal(fu_audit_count(&env, "\"event\":\"child_crash\"",
	    "\"child\":\"authd[2]\"", NULL), 0);

	/* Both serve again: two new sessions, one each. */
	assert_int_equal(fu_wait_sessions(env.pid, 0, 30), 0);
	pids[0] = p1b;
	pids[1] = p2;
	open_sessions(cs, 2, pids, 2, per);
	assert_int_equal(per[0], 1);
	assert_int_equal(per[1], 1);
	for (i = 0; i < 2; i++)
		assert_int_equal(csession_login(cs[i], "alice", PASSWORD), 0);
	assert_true(count_login_ok(1, p1b) >= 1);
	close_sessions(cs, 2);
}

/* Replace (or add) keyword's line in the configuration and SIGHUP. */
static void
reconfigure(const char *keyword, const char *value, int nth_reload)
{
	assert_int_equal(scenv_conf_set(&env, keyword, value), 0);
	assert_int_equal(kill(env.pid, SIGHUP), 0);
	assert_int_equal(fu_audit_wait(&env, nth_reload, 20,
	    "\"event\":\"config_reloaded\"", NULL), 0);
}

static void
login_once(const char *what)
{
	struct fu_sess s;

	assert_int_equal(fu_sess_login(&env, &s, "alice", "alice", PASSWORD, 0,
	    NULL), 0);
	assert_int_equal(fu_chat(s.cs, what, 10000), 0);
	fu_sess_free(&s);
}

static void
test_reload(void **state)
{
	pid_t a1, a2, b1, b2, c3;
	int n1, n2, reloads;

	(void)state;
	reloads = fu_audit_count(&env, "\"event\":\"config_reloaded\"", NULL);
	n1 = fu_count(env.log, "started authd[1] (pid ");
	n2 = fu_count(env.log, "started authd[2] (pid ");
	a1 = started_pid(1, n1);
	a2 = started_pid(2, n2);
	assert_true(a1 > 0 && a2 > 0);

	/* An authd setting: every instance restarts. */
	reconfigure("auth_max_failures", "6", reloads + 1);
	assert_int_equal(fu_audit_count(&env, "\"event\":\"config_reloaded\"",
	    "\"restart_authd\":\"yes\"", NULL), 1);
	b1 = wait_started(1, n1 + 1);
	b2 = wait_started(2, n2 + 1);
	assert_true(b1 > 0 && b1 != a1 && b2 > 0 && b2 != a2);
	assert_int_equal(fu_wait_gone(a1, 20), 0);
	assert_int_equal(fu_wait_gone(a2, 20), 0);
	login_once("after the restart of both");

	/* One more instance: started, the others untouched. */
	reconfigure("authd_processes", "3", reloads + 2);
	c3 = wait_started(3, 1);
	assert_true(c3 > 0);
	assert_true(wait_runs_as(c3, authd_uid()));
	assert_int_equal(fu_count(env.log, "started authd[1] (pid "), n1 + 1);
	assert_int_equal(fu_count(env.log, "started authd[2] (pid "), n2 + 1);
	assert_true(fu_alive(b1) && fu_alive(b2));
	assert_int_equal(fu_count_children(env.pid, "authd -D"), 3);

	/* Down to one: authd[2] and authd[3] stop and stay stopped. */
	reconfigure("authd_processes", "1", reloads + 3);
	assert_int_equal(fu_wait_count(env.log, "authd[2] stopped: "
	    "authd_processes is now 1", 1, 20), 0);
	assert_int_equal(fu_wait_count(env.log, "authd[3] stopped: "
	    "authd_processes is now 1", 1, 20), 0);
	assert_int_equal(fu_wait_gone(b2, 20), 0);
	assert_int_equal(fu_wait_gone(c3, 20), 0);
	assert_true(fu_alive(b1));
	assert_int_equal(fu_count_children(env.pid, "authd -D"), 1);
	login_once("one authd left");
	login_once("one authd left, again");
	assert_int_equal(fu_count(env.log, "started authd[2] (pid "), n2 + 1);
	assert_int_equal(fu_count(env.log, "started authd[3] (pid "), 1);

	/* Back to two. */
	reconfigure("authd_processes", "2", reloads + 4);
	assert_true(wait_started(2, n2 + 2) > 0);
	assert_int_equal(fu_count_children(env.pid, "authd -D"), 2);
	login_once("two again");
}

/* ---- stand-in authds: an instance speaks only for its sessions ---- */

/*
 * A new channel, for session serial: forge, for session serial - 1 (the
 * other instance's), a KILL_WORKER and an AUTHENTICATED as "mallory".
 */
static int
fake_channel(uint64_t serial)
{
	uint8_t body[8];
	int k;

	for (k = 0; k < 8; k++)
		body[k] = (uint8_t)((serial - 1) >> (56 - 8 * k));
	if (ipc_send(IPC_CTL_FD, AUTHD_CTL_KILL_WORKER, 0, body,
	    sizeof(body)) == -1)
		return -1;
	return fa_authenticated(serial - 1, "mallory", 7);
}

/* A LOGIN on its own channel is accepted; a FETCH finds nothing queued. */
static int
fake_request(int fd, uint64_t serial, const struct ipc_msg *m)
{
	const uint8_t *u;
	struct cursor c;
	struct wbuf b;
	size_t ulen;
	int rc = 0;

	if (m->hdr.type == AUTHD_REQ_LOGIN) {
		cur_init(&c, m->body, m->len);
		if ((u = cur_str16(&c, &ulen, 32)) == NULL ||
		    fa_authenticated(serial, u, ulen) == -1)
			return -1;
		return fa_login_ok(fd, m->hdr.id, u, ulen);
	}
	if (m->hdr.type == AUTHD_REQ_FETCH) {
		wbuf_init(&b, 256);
		wbuf_put_u16(&b, AUTHD_RES_OK);
		wbuf_put_u8(&b, 0);
		wbuf_put_u64(&b, 0);
		wbuf_put_str16(&b, "", 0);
		wbuf_put_str32(&b, "", 0);
		rc = ipc_send(fd, AUTHD_RES_FETCH, m->hdr.id, b.data, b.len);
		wbuf_free(&b);
	}
	return rc;
}

/*
 * Run by the master as "authd" (one per instance).  For every new
 * channel (session serial N) it forges, for session N - 1, which went to
 * the other instance (the master alternates while no session has logged
 * in), a KILL_WORKER and an AUTHENTICATED as "mallory".  A LOGIN on one
 * of its own channels is accepted: AUTHENTICATED to the master, then OK
 * to the worker; a queue FETCH is answered "nothing queued".
 */
static int
fake_authd(void)
{
	static const struct fa_hooks hooks = { fake_channel, fake_request };

	return fa_run(&hooks);
}

/*
 * Run by the master as "keyd" (one per instance).  For every new channel
 * (session serial N) it asks for the death of a worker: of session N - 1,
 * which went to the other instance, while the file named by
 * SC_TEST_KEYD_MODE says "forge"; of session N itself when it says
 * "own".  It keeps the channels and never answers a worker.
 */
static int
fake_keyd(void)
{
	static struct ipc_msg m;
	const char *path = getenv("SC_TEST_KEYD_MODE");
	char mode[16];
	uint64_t serial;
	uint8_t body[8];
	struct cursor c;
	FILE *fp;
	int k;

	while (ipc_recv(IPC_CTL_FD, &m, 1) == 1) {
		if (m.hdr.type != KEYD_CTL_NEW_CHANNEL || m.fd == -1)
			return 1;
		cur_init(&c, m.body, m.len);
		serial = cur_u64(&c);
		mode[0] = '\0';
		if (path != NULL && (fp = fopen(path, "r")) != NULL) {
			if (fgets(mode, sizeof(mode), fp) == NULL)
				mode[0] = '\0';
			fclose(fp);
		}
		if (strncmp(mode, "forge", 5) == 0)
			serial--;
		else if (strncmp(mode, "own", 3) != 0)
			continue;
		for (k = 0; k < 8; k++)
			body[k] = (uint8_t)(serial >> (56 - 8 * k));
		if (ipc_send(IPC_CTL_FD, KEYD_CTL_KILL_WORKER, 0, body,
		    sizeof(body)) == -1)
			return 1;
	}
	return 0;
}

static void
set_mode(const char *path, const char *mode)
{
	assert_int_equal(tu_write(path, mode, strlen(mode)), 0);
}

/*
 * keyd_processes 2 with stand-in keyds: a KILL_WORKER from one instance
 * for a session whose channel is with the other is ignored and audited
 * (keyd_wrong_instance); one for its own session kills that worker.
 */
static void
test_keyd_forged_by_other_instance(void **state)
{
	struct scenv fenv;
	char keyd[PATH_MAX + 16], modef[PATH_MAX + 16];
	pid_t w[3];
	int fd[3], i;

	(void)state;
	assert_int_equal(scenv_stop_daemon(&env), 0);
	memset(&fenv, 0, sizeof(fenv));
	assert_int_equal(scenv_setup(&fenv, "kpoolfake"), 0);
	/* keyd this program, "session" the real one: next to keyd_path. */
	assert_int_equal(scenv_libexec(&fenv, NULL, tu_bin("session"), keyd,
	    sizeof(keyd)), 0);
	snprintf(modef, sizeof(modef), "%s/keyd-mode", fenv.dir);
	set_mode(modef, "forge");
	assert_int_equal(setenv("SC_TEST_KEYD_MODE", modef, 1), 0);
	strlcpy(fenv.extra_conf, "keyd_processes 2\nmax_startups 64\n",
	    sizeof(fenv.extra_conf));
	assert_int_equal(scenv_start(&fenv), 0);
	assert_int_equal(scenv_stop_daemon(&fenv), 0);
	assert_int_equal(scenv_conf_set(&fenv, "keyd_path", keyd), 0);
	assert_int_equal(scenv_restart(&fenv), 0);
	assert_int_equal(fu_wait_count(fenv.log, "started keyd[2] (pid ", 2,
	    20), 0);

	/* Two connections, one per instance; the second one's forges. */
	for (i = 0; i < 2; i++) {
		fd[i] = hostile_connect(fenv.port);
		assert_true(fd[i] != -1);
		w[i] = fu_wait_new_child(fenv.pid, "worker [", w, (size_t)i,
		    10);
		assert_true(w[i] > 0);
	}
	assert_int_equal(fu_audit_wait(&fenv, 1, 20,
	    "\"event\":\"keyd_wrong_instance\"",
	    "\"request\":\"KILL_WORKER\"", NULL), 0);
	assert_int_equal(fu_wait_count(fenv.log, "KILL_WORKER for session ",
	    1, 20), 0);
	assert_int_equal(fu_audit_count(&fenv, "\"event\":\"worker_killed\"",
	    NULL), 0);
	assert_true(fu_alive(w[0]) && fu_alive(w[1]));
	assert_int_equal(fu_master_sessions(fenv.pid), 2);

	/* Its own session: the worker is killed. */
	set_mode(modef, "own");
	fd[2] = hostile_connect(fenv.port);
	assert_true(fd[2] != -1);
	assert_int_equal(fu_audit_wait(&fenv, 1, 20,
	    "\"event\":\"worker_killed\"", "refused by keyd", NULL), 0);
	assert_int_equal(fu_wait_sessions(fenv.pid, 2, 20), 0);
	assert_true(fu_alive(w[0]) && fu_alive(w[1]));
	for (i = 0; i < 3; i++)
		close(fd[i]);
	assert_int_equal(unsetenv("SC_TEST_KEYD_MODE"), 0);
	assert_int_equal(scenv_stop_daemon(&fenv), 0);
	scenv_teardown(&fenv);
}

static void
test_forged_by_other_instance(void **state)
{
	struct scenv fenv;
	struct csession *cs[2];
	struct csession_err err;
	char self[PATH_MAX], *log;
	pid_t w[2];
	ssize_t n;
	int i;

	(void)state;
	/* The installation of the other tests is not needed here. */
	assert_int_equal(scenv_stop_daemon(&env), 0);
	memset(&fenv, 0, sizeof(fenv));
	assert_int_equal(scenv_setup(&fenv, "apoolfake"), 0);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	/* scenv_start writes the real authd_path: start once, replace it. */
	strlcpy(fenv.extra_conf, "authd_processes 2\nmax_startups 64\n",
	    sizeof(fenv.extra_conf));
	assert_int_equal(scenv_start(&fenv), 0);
	assert_int_equal(scenv_stop_daemon(&fenv), 0);
	assert_int_equal(scenv_conf_set(&fenv, "authd_path", self), 0);
	assert_int_equal(scenv_restart(&fenv), 0);
	assert_int_equal(fu_wait_count(fenv.log, "started authd[2] (pid ", 2,
	    20), 0);

	/* Two sessions: one per instance; the second one's forges. */
	for (i = 0; i < 2; i++) {
		cs[i] = fu_open(&fenv, "alice", NULL, 0, &err);
		assert_non_null(cs[i]);
		w[i] = fu_wait_new_child(fenv.pid, "worker [", w, (size_t)i,
		    10);
		assert_true(w[i] > 0);
	}
	assert_int_equal(fu_audit_wait(&fenv, 1, 20,
	    "\"event\":\"authd_wrong_instance\"",
	    "\"request\":\"KILL_WORKER\"", NULL), 0);
	assert_int_equal(fu_audit_wait(&fenv, 1, 20,
	    "\"event\":\"authd_wrong_instance\"",
	    "\"request\":\"AUTHENTICATED\"", NULL), 0);
	assert_int_equal(fu_wait_count(fenv.log, "AUTHENTICATED for session ",
	    1, 20), 0);
	/* The first session was neither killed nor bound to mallory... */
	assert_int_equal(fu_audit_count(&fenv, "\"event\":\"worker_killed\"",
	    NULL), 0);
	assert_int_equal(fu_audit_count(&fenv, "\"event\":\"user_bound\"",
	    NULL), 0);
	assert_true(fu_alive(w[0]) && fu_alive(w[1]));
	assert_int_equal(fu_master_sessions(fenv.pid), 2);
	/* ... and its own instance still binds it, as the user it logs in. */
	for (i = 0; i < 2; i++)
		assert_int_equal(csession_login(cs[i], "alice", PASSWORD), 0);
	assert_int_equal(fu_audit_wait(&fenv, 2, 20, "\"event\":\"user_bound\"",
	    "\"user\":\"alice\"", NULL), 0);
	assert_int_equal(fu_audit_count(&fenv, "\"user\":\"mallory\"", NULL),
	    0);
	assert_int_equal(fu_chat(cs[0], "still mine", 10000), 0);
	log = tu_read(fenv.log, NULL);
	assert_non_null(log);
	assert_false(tu_contains(log, "bound to mallory"));
	free(log);
	for (i = 0; i < 2; i++)
		csession_free(cs[i]);
	assert_int_equal(scenv_stop_daemon(&fenv), 0);
	scenv_teardown(&fenv);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_bounds),
		cmocka_unit_test(test_two_instances),
		cmocka_unit_test(test_logins_spread),
		cmocka_unit_test(test_kill_one),
		cmocka_unit_test(test_reload),
		/* Last: they stop the installation above. */
		cmocka_unit_test(test_forged_by_other_instance),
		cmocka_unit_test(test_keyd_forged_by_other_instance),
	};

	/* Started by the master of test_forged_by_other_instance. */
	if (argc > 0 && strcmp(argv[0], "authd") == 0)
		return fake_authd();
	if (argc > 0 && strcmp(argv[0], "keyd") == 0)
		return fake_keyd();
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("authd_pool", tests, setup,
	    teardown);
}
