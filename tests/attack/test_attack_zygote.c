/*
 * test_attack_zygote.c: the session zygote (worker_spawn fork, the
 * default; session/zygote.c and the zygote section of
 * securechatd/master.c), on a real installation as root.
 *
 * Workers forked from one pre-initialised process share its memory
 * layout and everything it held when it forked.  What this program shows:
 *
 *  - the zygote is confined before it forks anything: the worker user's
 *    uids, no capabilities, no_new_privs, a seccomp filter, its root in
 *    the jail, and nothing open but stdio, its channel to the master and
 *    its channel to the spare worker (forked ahead of the next
 *    connection), which is confined too and holds nothing else;
 *  - every worker is a child of the master (CLONE_PARENT), runs under
 *    the zygote's filter and its own (Seccomp_filters 2), and draws its
 *    own randomness: the X25519 shares of many SERVER_HELLOs all differ
 *    (a worker that kept the zygote's arc4random state would repeat);
 *  - a worker that dies of a signal (a crash, or a probe of the layout;
 *    here SIGABRT) retires the zygote: the next worker comes from a new process;
 *  - a changed CRL reaches the very next connection without SIGHUP (the
 *    zygote is renewed, as an executed worker would read the new file);
 *  - SIGHUP renews it; worker_spawn exec stops it and workers are
 *    executed (one filter); back to fork, a zygote again;
 *  - a killed zygote costs nothing but speed: connections are served by
 *    executed workers until its replacement is ready;
 *  - a zygote forks at most 256 workers before a new one replaces it;
 *  - a zygote that lies or hangs cannot make the master take a process
 *    that is not its child for a worker, nor start two workers for one
 *    connection: with a stand-in zygote (this very program, run by the
 *    master as "session -Z", see main) that names a foreign pid, then
 *    never answers, then dies at once, the connection it was asked for
 *    is refused, the zygote killed and replaced, and while none is
 *    ready the master executes workers (the real session program, which
 *    this program executes when run as a worker).
 *
 * Each case ends with arena_check(): nothing written was lost, the
 * witness session still chats, keyd and authd are the same processes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "faultutil.h"
#include "hostile.h"
#include "ipc.h"
#include "proto.h"
#include "scenv.h"
#include "securechatd/securechatd.h"
#include "testutil.h"

#define SPAWN_LIMIT	256	/* ZYGOTE_MAX_SPAWNS in master.c */

static struct arena A;
static struct hid alice;

static int
setup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "test_attack_zygote: must run as root (the "
		    "zygote's privilege drop is part of what it tests)\n");
		return -1;
	}
	if (arena_setup(&A, "atk-zyg", "crl @CA@/crl.pem\n") == -1)
		return -1;
	if (hid_load_ca(&alice, &A, "alice") == -1) {
		arena_teardown(&A);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	hid_free(&alice);
	arena_teardown(&A);
	return 0;
}

/* The value of "Key:" in /proc/pid/status, or NULL (static buffer). */
static const char *
status_field(pid_t pid, const char *key)
{
	static char val[256];
	char path[64], line[256];
	size_t klen = strlen(key);
	FILE *fp;
	const char *v = NULL;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = line + klen + 1;
			v += strspn(v, " \t");
			snprintf(val, sizeof(val), "%.*s",
			    (int)strcspn(v, "\n"), v);
			v = val;
			break;
		}
	fclose(fp);
	return v;
}

/* The running zygote: the master's child named "zygote", not `other`. */
static pid_t
zygote_pid(pid_t other)
{
	pid_t z = fu_wait_child(A.env.pid, "session: zygote", other, 20);
	char needle[64];

	if (z <= 0)
		return -1;
	/* It takes ZYGOTE_SPAWN only once it said it is ready. */
	snprintf(needle, sizeof(needle), "zygote %d ready", (int)z);
	if (fu_wait_count(A.env.log, needle, 1, 20) == -1)
		return -1;
	return z;
}

/*
 * The worker of our connection fd: the master logs "session N from ADDR
 * port P: worker PID" for the serial that arena_serial_of finds.
 */
static pid_t
worker_of(const struct hsnap *s, int fd)
{
	char serial[64], needle[96], *log, *p;
	unsigned long long n;
	long pid = -1;
	int i;

	if (arena_serial_of(&A, s, fd, serial, sizeof(serial), 10000) ==
	    -1 || sscanf(serial, "\"serial\":%llu,", &n) != 1)
		return -1;
	snprintf(needle, sizeof(needle), "session %llu from ", n);
	for (i = 0; i < 200 && pid == -1; i++) {
		if ((log = tu_read(A.env.log, NULL)) != NULL &&
		    (p = strstr(log, needle)) != NULL &&
		    (p = strstr(p, ": worker ")) != NULL)
			pid = strtol(p + 9, NULL, 10);
		free(log);
		if (pid == -1)
			usleep(50 * 1000);
	}
	return (pid_t)pid;
}

static int
is_socket(pid_t pid, int fd)
{
	char path[64], link[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
		return 0;
	link[n] = '\0';
	return strncmp(link, "socket:[", 8) == 0;
}

static int
filters_of(pid_t pid)
{
	const char *v = status_field(pid, "Seccomp_filters");

	return v != NULL ? atoi(v) : -1;
}

/*
 * An honest handshake as alice, after the snapshot s; its worker's pid in
 * *worker.
 */
static void
handshake(struct hconn *h, const struct hsnap *s, pid_t *worker)
{
	assert_int_equal(hconn_handshake(h, A.env.port, &alice), 0);
	*worker = worker_of(s, h->fd);
	assert_true(*worker > 0);
}

/* A handshake, after snapshot s: its worker's seccomp filter count. */
static int
served_with_filters(const struct hsnap *s)
{
	struct hconn h;
	pid_t w;
	int n;

	handshake(&h, s, &w);
	n = filters_of(w);
	hconn_close(&h);
	return n;
}

static void
test_zygote_confined(void **state)
{
	struct passwd *pw = getpwnam("_securechat");
	struct dirent *d;
	struct hsnap s;
	char path[64], root[PATH_MAX], uids[64];
	ssize_t n;
	DIR *dir;
	pid_t z, sp;
	int nfd = 0, has_ctl = 0, fd;

	(void)state;
	assert_non_null(pw);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_true((z = zygote_pid(0)) > 0);
	snprintf(uids, sizeof(uids), "%u\t%u\t%u\t%u", (unsigned)pw->pw_uid,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	assert_string_equal(status_field(z, "Uid"), uids);
	assert_string_equal(status_field(z, "CapEff"), "0000000000000000");
	assert_string_equal(status_field(z, "CapPrm"), "0000000000000000");
	assert_string_equal(status_field(z, "NoNewPrivs"), "1");
	assert_string_equal(status_field(z, "Seccomp"), "2");
	assert_int_equal(filters_of(z), 1);
	snprintf(path, sizeof(path), "/proc/%d/root", (int)z);
	assert_true((n = readlink(path, root, sizeof(root) - 1)) > 0);
	root[n] = '\0';
	assert_string_equal(root, A.env.jail);
	/*
	 * stdio, its channel to the master (9) and its channel to the
	 * spare worker (a socketpair); a syslog socket when not -d.
	 */
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)z);
	assert_non_null(dir = opendir(path));
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		fd = atoi(d->d_name);
		nfd++;
		if (fd == 9)
			has_ctl = 1;
		else if (fd > 2)
			assert_true(is_socket(z, fd));
	}
	closedir(dir);
	assert_true(has_ctl);
	assert_true(nfd <= 6);

	/*
	 * The spare worker, forked ahead of the next connection: the
	 * master's child, confined (its own filter on the zygote's), and
	 * holding nothing but stdio and its channel to the zygote.
	 */
	assert_true((sp = fu_wait_child(A.env.pid, "spare worker", 0, 20)) >
	    0);
	assert_string_equal(status_field(sp, "Uid"), uids);
	assert_string_equal(status_field(sp, "CapEff"), "0000000000000000");
	assert_string_equal(status_field(sp, "NoNewPrivs"), "1");
	assert_int_equal(filters_of(sp), 2);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)sp);
	assert_non_null(dir = opendir(path));
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		fd = atoi(d->d_name);
		assert_true(fd <= 2 || (fd == 16 && is_socket(sp, fd)));
	}
	closedir(dir);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* Several workers at once: forked, the master's, each its own random. */
static void
test_workers_forked(void **state)
{
	struct hconn h[8];
	struct hsnap s;
	pid_t w[8];
	char ppid[16];
	int i, j;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_true(zygote_pid(0) > 0);
	snprintf(ppid, sizeof(ppid), "%d", (int)A.env.pid);
	for (i = 0; i < 8; i++) {
		handshake(&h[i], &s, &w[i]);
		assert_string_equal(status_field(w[i], "PPid"), ppid);
		assert_int_equal(filters_of(w[i]), 2);
		assert_string_equal(status_field(w[i], "NoNewPrivs"), "1");
		assert_true(h[i].server_sig_ok);
		for (j = 0; j < i; j++) {
			assert_int_not_equal(w[i], w[j]);
			assert_memory_not_equal(h[i].sh.server_kex,
			    h[j].sh.server_kex, sizeof(h[i].sh.server_kex));
		}
	}
	for (i = 0; i < 8; i++)
		hconn_close(&h[i]);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_crash_renews(void **state)
{
	struct hconn h;
	struct hsnap s;
	pid_t z1, z2, w;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_true((z1 = zygote_pid(0)) > 0);
	handshake(&h, &s, &w);
	assert_int_equal(filters_of(w), 2);
	/*
	 * A crash: SIGABRT, which the sanitizer runtime of SANITIZE=1
	 * builds leaves alone (it catches SIGSEGV and exits 1 instead).
	 */
	assert_int_equal(kill(w, SIGABRT), 0);
	assert_int_equal(arena_audit_wait(&A, &s, 10000,
	    "\"event\":\"worker_crash\"", "signal 6", NULL), 0);
	assert_int_equal(arena_audit_wait(&A, &s, 10000,
	    "\"event\":\"zygote_renew\"", "died of a signal", NULL), 0);
	hconn_close(&h);
	assert_int_equal(fu_wait_gone(z1, 10), 0);
	assert_true((z2 = zygote_pid(z1)) > 0);
	assert_int_not_equal(z1, z2);
	assert_int_equal(served_with_filters(&s), 2);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* A CRL written while the zygote runs reaches the next connection. */
static void
test_crl_renews(void **state)
{
	struct csession_err err;
	struct csession *cs;
	struct tu_result r;
	struct hsnap s;
	pid_t z1;

	(void)state;
	assert_int_equal(scenv_issue(&A.env, "zrevokee", "--client"), 0);
	assert_true((z1 = zygote_pid(0)) > 0);
	cs = arena_open(&A, "zrevokee", NULL);
	assert_non_null(cs);
	csession_free(cs);
	assert_true(fu_alive(z1));

	assert_int_equal(tu_sh(&r, NULL, "'%s' pki revoke --dir '%s' '%s'",
	    tu_bin("sc-admin"), A.env.ca, scenv_ca_file(&A.env,
	    "zrevokee.pem")), 0);
	tu_result_free(&r);
	assert_int_equal(arena_snapshot(&A, &s), 0);
	cs = arena_open(&A, "zrevokee", &err);
	assert_null(cs);
	assert_int_equal(err.code, SC_E_BAD_CERT);
	assert_true(tu_contains(err.reason, "revoked"));
	assert_int_equal(arena_audit_wait(&A, &s, 10000,
	    "\"event\":\"zygote_renew\"", "file changed", NULL), 0);
	assert_int_equal(fu_wait_gone(z1, 10), 0);
	/* The new zygote has the new CRL too. */
	assert_true(zygote_pid(z1) > 0);
	cs = arena_open(&A, "zrevokee", &err);
	assert_null(cs);
	assert_int_equal(err.code, SC_E_BAD_CERT);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_reload_and_exec(void **state)
{
	struct hconn h;
	struct hsnap s;
	pid_t z1, z2, w;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_true((z1 = zygote_pid(0)) > 0);
	/* Any reload: new configuration text, new zygote. */
	assert_int_equal(arena_reconfigure(&A, "idle_timeout", "600"), 0);
	assert_int_equal(arena_audit_wait(&A, &s, 10000,
	    "\"event\":\"zygote_renew\"", "\"reason\":\"reload\"", NULL), 0);
	assert_int_equal(fu_wait_gone(z1, 10), 0);
	assert_true((z2 = zygote_pid(z1)) > 0);

	/* exec: no zygote, every worker executed (its own filter only). */
	assert_int_equal(arena_reconfigure(&A, "worker_spawn", "exec"), 0);
	assert_int_equal(fu_wait_gone(z2, 10), 0);
	handshake(&h, &s, &w);
	assert_int_equal(filters_of(w), 1);
	assert_string_equal(status_field(w, "Seccomp"), "2");
	hconn_close(&h);
	assert_int_equal(fu_wait_child(A.env.pid, "session: zygote", 0, 0), -1);

	assert_int_equal(arena_reconfigure(&A, "worker_spawn", "fork"), 0);
	assert_true(zygote_pid(z2) > 0);
	assert_int_equal(served_with_filters(&s), 2);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_zygote_killed(void **state)
{
	struct hsnap s;
	pid_t z1, z2;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	assert_true((z1 = zygote_pid(0)) > 0);
	assert_int_equal(kill(z1, SIGKILL), 0);
	assert_int_equal(arena_audit_wait(&A, &s, 10000,
	    "\"event\":\"child_crash\"", "\"child\":\"zygote\"", NULL), 0);
	/* Served at once, by an executed worker. */
	assert_true(served_with_filters(&s) >= 1);
	assert_true((z2 = zygote_pid(z1)) > 0);
	assert_int_equal(served_with_filters(&s), 2);
	assert_int_equal(arena_check(&A, &s), 0);
}

static void
test_spawn_limit(void **state)
{
	struct hconn h;
	struct hsnap s;
	pid_t z1, z2;
	int i;

	(void)state;
	assert_int_equal(arena_snapshot(&A, &s), 0);
	/* A fresh zygote, so that it has forked nothing yet. */
	assert_true((z1 = zygote_pid(0)) > 0);
	assert_int_equal(kill(z1, SIGKILL), 0);
	assert_int_equal(fu_wait_gone(z1, 10), 0);
	assert_true((z1 = zygote_pid(z1)) > 0);
	for (i = 0; i < SPAWN_LIMIT; i++) {
		assert_int_equal(hconn_handshake(&h, A.env.port, &alice), 0);
		hconn_close(&h);
	}
	assert_true(fu_alive(z1));
	assert_int_equal(fu_audit_count(&A.env, "\"event\":\"zygote_renew\"",
	    "worker limit", NULL), 0);
	assert_int_equal(hconn_handshake(&h, A.env.port, &alice), 0);
	hconn_close(&h);
	assert_int_equal(arena_audit_wait(&A, &s, 10000,
	    "\"event\":\"zygote_renew\"", "worker limit",
	    "\"workers\":\"256\"", NULL), 0);
	assert_int_equal(fu_wait_gone(z1, 10), 0);
	assert_true((z2 = zygote_pid(z1)) > 0);
	assert_int_equal(arena_check(&A, &s), 0);
}

/* ---- a stand-in zygote ---- */

/*
 * Run by the master as "session -Z": what a taken-over zygote could do.
 * The mode comes from the file named by SC_TEST_ZYGOTE_MODE, read at
 * start: "foreign" answers every request with pid 1, "silent" never
 * answers, "exit" exits before it is ready.
 */
static int
fake_zygote(void)
{
	static struct ipc_msg m;
	char mode[16] = "";
	const char *path = getenv("SC_TEST_ZYGOTE_MODE");
	struct wbuf b;
	int fds[IPC_MAX_FDS];
	size_t nfds, i;
	FILE *fp;

	if (path != NULL && (fp = fopen(path, "r")) != NULL) {
		if (fgets(mode, sizeof(mode), fp) == NULL)
			mode[0] = '\0';
		fclose(fp);
	}
	mode[strcspn(mode, "\n")] = '\0';
	fprintf(stderr, "fake zygote %d: mode %s\n", (int)getpid(), mode);
	if (strcmp(mode, "exit") == 0)
		return 3;
	if (ipc_recv(ZYGOTE_FD_CTL, &m, 0) != 1 ||
	    m.hdr.type != WORKER_CONFIG ||
	    ipc_send(ZYGOTE_FD_CTL, ZYGOTE_READY, 0, NULL, 0) == -1)
		return 2;
	for (;;) {
		if (ipc_recv_fds(ZYGOTE_FD_CTL, &m, fds, IPC_MAX_FDS, &nfds) !=
		    1)
			return 0;
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (strcmp(mode, "silent") == 0)
			continue;
		wbuf_init(&b, 8);
		wbuf_put_u32(&b, 1);		/* init: not the master's */
		wbuf_put_u32(&b, 0);
		if (b.err || ipc_send(ZYGOTE_FD_CTL, ZYGOTE_SPAWNED, m.hdr.id,
		    b.data, b.len) == -1)
			return 2;
		wbuf_free(&b);
	}
}

static void
set_mode(const char *path, const char *mode)
{
	assert_int_equal(tu_write(path, mode, strlen(mode)), 0);
}

/* A handshake that must be refused by the server; its ERROR code. */
static int
refused_handshake(struct scenv *e, char *reason, size_t rlen)
{
	struct csession_err err;
	struct csession *cs;

	memset(&err, 0, sizeof(err));
	if ((cs = fu_open(e, "alice", NULL, 0, &err)) != NULL) {
		csession_free(cs);
		return 0;
	}
	snprintf(reason, rlen, "%s", err.reason);
	return err.code;
}

static void
test_lying_zygote(void **state)
{
	struct scenv fenv;
	struct csession_err err;
	struct csession *cs;
	char keyd[PATH_MAX + 16], modef[PATH_MAX + 16], reason[600];
	pid_t keyd_pid, w;

	(void)state;
	memset(&fenv, 0, sizeof(fenv));
	assert_int_equal(scenv_setup(&fenv, "atk-zygfake"), 0);
	/* keyd as it is, "session" this program: next to keyd_path. */
	assert_int_equal(scenv_libexec(&fenv, tu_bin("keyd"), NULL, keyd,
	    sizeof(keyd)), 0);
	snprintf(modef, sizeof(modef), "%s/zygote-mode", fenv.dir);
	set_mode(modef, "foreign");
	assert_int_equal(setenv("SC_TEST_ZYGOTE_MODE", modef, 1), 0);
	strlcpy(fenv.extra_conf, "bind_certificates no\n",
	    sizeof(fenv.extra_conf));
	/* scenv writes the real keyd_path: start once, then replace it. */
	assert_int_equal(scenv_start(&fenv), 0);
	assert_int_equal(scenv_stop_daemon(&fenv), 0);
	assert_int_equal(scenv_conf_set(&fenv, "keyd_path", keyd), 0);
	/* A fresh log: the "ready" lines below are counted from here. */
	assert_int_equal(tu_write(fenv.log, "", 0), 0);
	assert_int_equal(scenv_restart(&fenv), 0);
	assert_int_equal(fu_wait_count(fenv.log, "fake zygote ", 1, 20), 0);
	assert_int_equal(fu_wait_count(fenv.log, " ready\n", 2, 20), 0);
	keyd_pid = fu_wait_child(fenv.pid, "keyd -k", 0, 10);
	assert_true(keyd_pid > 0);

	/* A foreign pid: refused, the zygote killed and replaced. */
	assert_int_equal(refused_handshake(&fenv, reason, sizeof(reason)),
	    SC_E_INTERNAL);
	assert_int_equal(fu_audit_wait(&fenv, 1, 20,
	    "\"event\":\"zygote_renew\"", "not a child of the master", NULL),
	    0);
	assert_int_equal(fu_audit_wait(&fenv, 1, 20,
	    "\"event\":\"connection_refused\"",
	    "could not set up the session", NULL), 0);
	assert_int_equal(fu_audit_count(&fenv, "\"event\":\"worker_killed\"",
	    NULL), 0);
	assert_int_equal(fu_master_sessions(fenv.pid), 0);

	/* One that never answers: refused after the wait, replaced. */
	set_mode(modef, "silent");
	assert_int_equal(fu_wait_count(fenv.log, "mode silent", 1, 30), 0);
	assert_int_equal(fu_wait_count(fenv.log, " ready\n", 3, 30), 0);
	assert_int_equal(refused_handshake(&fenv, reason, sizeof(reason)),
	    SC_E_INTERNAL);
	assert_int_equal(fu_audit_wait(&fenv, 1, 20,
	    "\"event\":\"zygote_renew\"", "\"reason\":\"no answer\"", NULL),
	    0);

	/* None ready at all: every worker is executed, and works. */
	set_mode(modef, "exit");
	assert_int_equal(fu_wait_count(fenv.log, "mode exit", 1, 30), 0);
	cs = fu_open(&fenv, "alice", NULL, 0, &err);
	assert_non_null(cs);
	w = fu_wait_new_child(fenv.pid, "worker [", NULL, 0, 10);
	assert_true(w > 0);
	assert_int_equal(filters_of(w), 1);
	csession_free(cs);

	assert_true(fu_alive(fenv.pid));
	assert_int_equal(fu_wait_child(fenv.pid, "keyd -k", 0, 0), keyd_pid);
	assert_int_equal(scenv_stop_daemon(&fenv), 0);
	scenv_teardown(&fenv);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zygote_confined),
		cmocka_unit_test(test_workers_forked),
		cmocka_unit_test(test_crash_renews),
		cmocka_unit_test(test_crl_renews),
		cmocka_unit_test(test_reload_and_exec),
		cmocka_unit_test(test_zygote_killed),
		cmocka_unit_test(test_spawn_limit),
		cmocka_unit_test(test_lying_zygote),
	};

	/*
	 * Run by the master of test_lying_zygote as its worker program:
	 * the zygote is the stand-in, a worker the real program.
	 */
	if (argc > 0 && strcmp(argv[0], "session") == 0) {
		int i;

		for (i = 1; i < argc; i++)
			if (strcmp(argv[i], "-Z") == 0)
				return fake_zygote();
		execv(tu_bin("session"), argv);
		return 127;
	}

	return cmocka_run_group_tests(tests, setup, teardown);
}
