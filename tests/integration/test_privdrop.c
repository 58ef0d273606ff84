/*
 * test_privdrop.c: the privilege drop (common/privdrop.c) and the seccomp
 * sandbox (common/sandbox.c), checked from the outside: each case forks a
 * child that drops or sandboxes itself, and the parent looks at it through
 * /proc and its exit status.  Children report only through pipes and exit
 * codes (never cmocka asserts) and leave with _exit().
 *
 * As root the full drop runs with the real user _securechat (created from
 * systemd/sysusers.conf when missing; system users are left in place for
 * the other integration tests) into a temporary jail under /run.  As any
 * other user the root cases are skipped and the development-mode path is
 * tested instead.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/mman.h>
#include <sys/random.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"
#include "sandbox.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define WORKER_USER	"_securechat"

/* ---- helpers ---- */

static int
is_root(void)
{
	return geteuid() == 0;
}

static void
ensure_users(void)
{
	struct tu_result r;
	const char *argv[3];

	if (getpwnam(WORKER_USER) != NULL)
		return;
	argv[0] = "systemd-sysusers";
	argv[1] = tu_src("systemd/sysusers.conf");
	argv[2] = NULL;
	if (tu_run(&r, NULL, 60, argv) != 0)
		fail_msg("systemd-sysusers: %s", r.err);
	tu_result_free(&r);
	assert_non_null(getpwnam(WORKER_USER));
}

/* A fresh jail: under /run (root-owned, 0755 all the way up), mode 0755. */
static char *
make_jail(void)
{
	char *p = strdup("/run/sctest-jail-XXXXXX");

	assert_non_null(p);
	assert_non_null(mkdtemp(p));
	assert_int_equal(chmod(p, 0755), 0);
	return p;
}

static void
read_proc(pid_t pid, const char *what, char *buf, size_t len)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, what);
	fd = open(path, O_RDONLY);
	assert_true(fd != -1);
	n = read(fd, buf, len - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
}

/* The value after "Key:\t" in /proc/PID/status, up to the newline. */
static void
status_field(const char *status, const char *key, char *out, size_t len)
{
	const char *p = status;
	size_t klen = strlen(key), n;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == status || p[-1] == '\n') && p[klen] == ':')
			break;
		p += klen;
	}
	if (p == NULL)
		fail_msg("no %s in status", key);
	p += klen + 1;
	while (*p == '\t' || *p == ' ')
		p++;
	n = strcspn(p, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	/* Trailing blanks (Groups: has one). */
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
		out[--n] = '\0';
}

typedef int (*child_fn)(void *);

/* Fork, run fn in the child, return its wait status. */
static int
run_child(child_fn fn, void *arg)
{
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(fn(arg));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void
assert_exit(int st, int code)
{
	if (!WIFEXITED(st))
		fail_msg("child killed by signal %d, expected exit %d",
		    WIFSIGNALED(st) ? WTERMSIG(st) : -1, code);
	assert_int_equal(WEXITSTATUS(st), code);
}

static void
assert_sigsys(int st)
{
	if (!WIFSIGNALED(st))
		fail_msg("child exited %d, expected death by SIGSYS",
		    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

/* ---- privdrop as root ---- */

static void
test_drop_as_root(void **state)
{
	char *jail, status[4096], field[256], buf[PATH_MAX], path[64];
	struct passwd *pw;
	int ready[2], go[2], st;
	char c = 0, want[64];
	ssize_t n;
	pid_t pid;

	(void)state;
	if (!is_root())
		skip();
	ensure_users();
	pw = getpwnam(WORKER_USER);
	assert_non_null(pw);
	jail = make_jail();
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		struct privdrop_spec spec = { WORKER_USER, jail, 0, 0, 0 };
		char r;

		close(ready[0]);
		close(go[1]);
		r = privdrop(&spec) == 0 ? 'R' : 'F';
		if (write(ready[1], &r, 1) != 1 || r != 'R')
			_exit(2);
		if (read(go[0], &r, 1) != 1)
			_exit(3);
		/* Root must be gone for good. */
		if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1)
			_exit(4);
		/* The jail is empty: nothing of the host is visible. */
		if (access("/etc/passwd", F_OK) != -1 || errno != ENOENT)
			_exit(5);
		if (fork() != -1)	/* RLIMIT_NPROC 0 */
			_exit(SANITIZED ? 0 : 6);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	n = read(ready[0], &c, 1);
	assert_int_equal(n, 1);
	assert_int_equal(c, 'R');

	read_proc(pid, "status", status, sizeof(status));
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_uid,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	status_field(status, "Uid", field, sizeof(field));
	assert_string_equal(field, want);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_gid,
	    (unsigned)pw->pw_gid, (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
	status_field(status, "Gid", field, sizeof(field));
	assert_string_equal(field, want);
	snprintf(want, sizeof(want), "%u", (unsigned)pw->pw_gid);
	status_field(status, "Groups", field, sizeof(field));
	assert_string_equal(field, want);
	status_field(status, "NoNewPrivs", field, sizeof(field));
	assert_string_equal(field, "1");
	status_field(status, "CapEff", field, sizeof(field));
	assert_string_equal(field, "0000000000000000");
	status_field(status, "CapPrm", field, sizeof(field));
	assert_string_equal(field, "0000000000000000");

	snprintf(path, sizeof(path), "/proc/%ld/root", (long)pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, jail);
	snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, jail);
	/* stdio went to /dev/null. */
	snprintf(path, sizeof(path), "/proc/%ld/fd/2", (long)pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "/dev/null");

	read_proc(pid, "limits", status, sizeof(status));
	assert_non_null(strstr(status, "Max core file size        0"));
	assert_non_null(strstr(status, "Max open files            32 "));

	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_exit(st, 0);
	close(ready[0]);
	close(go[1]);
	assert_int_equal(rmdir(jail), 0);
	free(jail);
}

struct drop_case {
	const char	*user;
	const char	*jail;
};

static int
child_drop(void *arg)
{
	const struct drop_case *dc = arg;
	struct privdrop_spec spec = { dc->user, dc->jail, 1, 0, 0 };

	if (privdrop(&spec) == 0)
		return 0;
	/* Refused: still root, still outside any jail. */
	return getuid() == 0 && access("/etc/passwd", F_OK) == 0 ? 1 : 2;
}

static void
test_bad_jails_refused(void **state)
{
	struct drop_case dc = { WORKER_USER, NULL };
	struct passwd *pw;
	char *jail, file[PATH_MAX], *tmpjail;

	(void)state;
	if (!is_root())
		skip();
	ensure_users();
	pw = getpwnam(WORKER_USER);
	assert_non_null(pw);
	jail = make_jail();
	dc.jail = jail;

	/* World-writable, then group-writable. */
	assert_int_equal(chmod(jail, 0777), 0);
	assert_int_equal(privdrop_jail_dir(jail), -1);
	assert_exit(run_child(child_drop, &dc), 1);
	assert_int_equal(chmod(jail, 0775), 0);
	assert_exit(run_child(child_drop, &dc), 1);
	assert_int_equal(chmod(jail, 0755), 0);

	/* Not owned by root. */
	assert_int_equal(chown(jail, pw->pw_uid, pw->pw_gid), 0);
	assert_int_equal(privdrop_jail_dir(jail), -1);
	assert_exit(run_child(child_drop, &dc), 1);
	assert_int_equal(chown(jail, 0, 0), 0);

	/* Not empty. */
	snprintf(file, sizeof(file), "%s/leftover", jail);
	assert_int_equal(tu_write(file, "x", 1), 0);
	assert_int_equal(privdrop_jail_dir(jail), -1);
	assert_int_equal(errno, ENOTEMPTY);
	assert_exit(run_child(child_drop, &dc), 1);
	assert_int_equal(unlink(file), 0);

	/* A safe directory under a world-writable one (/tmp). */
	tmpjail = tu_mkdtemp("jail");
	assert_int_equal(chmod(tmpjail, 0755), 0);
	assert_int_equal(privdrop_jail_dir(tmpjail), -1);
	dc.jail = tmpjail;
	assert_exit(run_child(child_drop, &dc), 1);
	tu_rmrf(tmpjail);
	free(tmpjail);

	/* Relative, missing, a file. */
	assert_int_equal(privdrop_jail_dir("run/x"), -1);
	assert_int_equal(privdrop_jail_dir("/nonexistent/sc-jail"), -1);
	assert_int_equal(privdrop_jail_dir("/etc/passwd"), -1);
	dc.jail = NULL;
	assert_exit(run_child(child_drop, &dc), 1);

	/* Unknown user, and root itself. */
	dc.jail = jail;
	dc.user = "sc-no-such-user";
	assert_exit(run_child(child_drop, &dc), 1);
	dc.user = "root";
	assert_exit(run_child(child_drop, &dc), 1);

	/* And the same jail, fixed, is accepted. */
	assert_int_equal(privdrop_jail_dir(jail), 0);
	dc.user = WORKER_USER;
	assert_exit(run_child(child_drop, &dc), 0);
	assert_int_equal(rmdir(jail), 0);
	free(jail);
}

/* ---- development mode ---- */

static int
child_devmode(void *arg)
{
	struct privdrop_spec spec = { WORKER_USER, "/nonexistent/jail", 1, 0,
	    0 };
	struct rlimit rl;
	char root[PATH_MAX];
	uid_t uid;
	ssize_t n;

	(void)arg;
	if (getuid() == 0) {
		/* Become an ordinary user first, as a developer would be. */
		if (setgroups(0, NULL) == -1 || setresgid(65534, 65534,
		    65534) == -1 || setresuid(65534, 65534, 65534) == -1)
			return 10;
	}
	uid = getuid();
	if (privdrop(&spec) == -1)
		return 11;
	if (getuid() != uid)
		return 12;
	n = readlink("/proc/self/root", root, sizeof(root) - 1);
	if (n != 1 || root[0] != '/')
		return 13;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 14;
	if (getrlimit(RLIMIT_CORE, &rl) == -1 || rl.rlim_cur != 0)
		return 15;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 16;
	return 0;
}

static void
test_development_mode(void **state)
{
	(void)state;
	assert_exit(run_child(child_devmode, NULL), 0);
}

/* ---- sandbox ---- */

enum sb_action {
	SB_OPEN,	/* must fail with EACCES */
	SB_EXEC,	/* must kill */
	SB_SOCKET,	/* worker/keyd: EACCES; authd: allowed */
	SB_NETLINK,	/* socket(AF_NETLINK): kill, even in authd */
	SB_MMAP_EXEC,	/* executable mapping: kill */
	SB_ALLOWED,	/* the calls a session makes: must work */
	SB_FORK,	/* must kill */
	SB_PRCTL,	/* must kill */
};

struct sb_case {
	enum sandbox_proc	 proc;
	enum sb_action		 action;
	const char		*jail;	/* privdrop into it first, as the
					 * daemons do (NULL: no drop) */
};

static int
child_sandbox(void *arg)
{
	const struct sb_case *c = arg;
	struct privdrop_spec spec = { WORKER_USER, c->jail, 1, 0, 0 };
	struct timespec ts;
	uint8_t rnd[16];
	int fd, p[2];
	void *m;
	char *const argv[] = { (char *)"true", NULL };

	if (c->jail != NULL && privdrop(&spec) == -1)
		return 21;
	if (pipe(p) == -1)
		return 22;
	if (sandbox_apply(c->proc) == -1)
		return 23;
	switch (c->action) {
	case SB_OPEN:
		fd = open("/etc/hostname", O_RDONLY);
		if (fd != -1 || errno != EACCES)
			return 30;
		fd = openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY);
		return fd == -1 && errno == EACCES ? 0 : 31;
	case SB_EXEC:
		execv("/bin/true", argv);
		return 32;	/* not killed: fail */
	case SB_SOCKET:
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (c->proc == SANDBOX_AUTHD)
			return fd != -1 ? 0 : 33;
		return fd == -1 && errno == EACCES ? 0 : 34;
	case SB_NETLINK:
		(void)socket(AF_NETLINK, SOCK_RAW, 0);
		return 35;
	case SB_MMAP_EXEC:
		m = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		(void)m;
		return 36;
	case SB_ALLOWED:
		if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
		    getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return 37;
		/* Large enough for malloc to use mmap, then munmap. */
		if ((m = malloc(4 << 20)) == NULL)
			return 38;
		memset(m, 1, 4 << 20);
		free(m);
		if (write(p[1], "ok", 2) != 2 || read(p[0], rnd, 2) != 2 ||
		    close(p[0]) == -1 || close(p[1]) == -1)
			return 39;
		log_info("logging still works inside the sandbox");
		return 0;
	case SB_FORK:
		(void)fork();
		return 40;
	case SB_PRCTL:
		(void)prctl(PR_SET_NAME, "x", 0, 0, 0);
		return 41;
	}
	return 42;
}

static void
test_sandbox_worker(void **state)
{
	struct sb_case c = { SANDBOX_WORKER, SB_OPEN, NULL };

	(void)state;
	assert_exit(run_child(child_sandbox, &c), 0);
	c.action = SB_SOCKET;
	assert_exit(run_child(child_sandbox, &c), 0);
	c.action = SB_ALLOWED;
	assert_exit(run_child(child_sandbox, &c), 0);
	c.action = SB_EXEC;
	assert_sigsys(run_child(child_sandbox, &c));
	c.action = SB_NETLINK;
	assert_exit(run_child(child_sandbox, &c), 35);	/* EACCES, no kill */
	c.action = SB_MMAP_EXEC;
	assert_sigsys(run_child(child_sandbox, &c));
	if (!SANITIZED) {	/* the ASan runtime needs clone and prctl */
		c.action = SB_PRCTL;
		assert_sigsys(run_child(child_sandbox, &c));
		c.action = SB_FORK;
		assert_sigsys(run_child(child_sandbox, &c));
	}
}

static void
test_sandbox_keyd_authd(void **state)
{
	struct sb_case c = { SANDBOX_KEYD, SB_OPEN, NULL };

	(void)state;
	assert_exit(run_child(child_sandbox, &c), 0);
	c.action = SB_SOCKET;
	assert_exit(run_child(child_sandbox, &c), 0);
	c.action = SB_ALLOWED;
	assert_exit(run_child(child_sandbox, &c), 0);
	c.action = SB_EXEC;
	assert_sigsys(run_child(child_sandbox, &c));

	c.proc = SANDBOX_AUTHD;
	c.action = SB_OPEN;
	assert_exit(run_child(child_sandbox, &c), 0);
	c.action = SB_SOCKET;		/* the database connection */
	assert_exit(run_child(child_sandbox, &c), 0);
	c.action = SB_NETLINK;		/* but only inet and unix */
	assert_sigsys(run_child(child_sandbox, &c));
	c.action = SB_ALLOWED;
	assert_exit(run_child(child_sandbox, &c), 0);
	c.action = SB_EXEC;
	assert_sigsys(run_child(child_sandbox, &c));
}

/* The real order: privdrop, then the filter. */
static void
test_drop_then_sandbox(void **state)
{
	struct sb_case c = { SANDBOX_WORKER, SB_ALLOWED, NULL };
	char *jail;

	(void)state;
	if (!is_root())
		skip();
	ensure_users();
	jail = make_jail();
	c.jail = jail;
	assert_exit(run_child(child_sandbox, &c), 0);
	c.action = SB_EXEC;
	assert_sigsys(run_child(child_sandbox, &c));
	c.action = SB_OPEN;
	assert_exit(run_child(child_sandbox, &c), 0);
	assert_int_equal(rmdir(jail), 0);
	free(jail);
}

static int
child_debug(void *arg)
{
	int *errpipe = arg;
	struct sb_case c = { SANDBOX_WORKER, SB_EXEC, NULL };

	if (dup2(errpipe[1], STDERR_FILENO) == -1 ||
	    setenv("SC_SANDBOX_DEBUG", "1", 1) == -1)
		return 50;
	close(errpipe[0]);
	return child_sandbox(&c);
}

static void
test_sandbox_debug_reports(void **state)
{
	int errpipe[2], st;
	char buf[512];
	ssize_t n;
	size_t off = 0;

	(void)state;
	assert_int_equal(pipe(errpipe), 0);
	st = run_child(child_debug, errpipe);
	close(errpipe[1]);
	while (off < sizeof(buf) - 1 &&
	    (n = read(errpipe[0], buf + off, sizeof(buf) - 1 - off)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
	close(errpipe[0]);
	/* Trapped and reported instead of killed. */
	assert_exit(st, 128 + SIGSYS);
	assert_non_null(strstr(buf, "sandbox: forbidden system call "));
}

static void
test_sandbox_names(void **state)
{
	(void)state;
	assert_string_equal(sandbox_name(SANDBOX_WORKER), "worker");
	assert_string_equal(sandbox_name(SANDBOX_KEYD), "keyd");
	assert_string_equal(sandbox_name(SANDBOX_AUTHD), "authd");
	assert_int_equal(sandbox_apply((enum sandbox_proc)42), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_as_root),
		cmocka_unit_test(test_bad_jails_refused),
		cmocka_unit_test(test_development_mode),
		cmocka_unit_test(test_sandbox_worker),
		cmocka_unit_test(test_sandbox_keyd_authd),
		cmocka_unit_test(test_drop_then_sandbox),
		cmocka_unit_test(test_sandbox_debug_reports),
		cmocka_unit_test(test_sandbox_names),
	};
	int rc;

	log_init(1, 0, LOG_DAEMON);
	log_procinit("test_privdrop");
	/* A developer's SC_SANDBOX_DEBUG would turn kills into exits. */
	unsetenv("SC_SANDBOX_DEBUG");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	return rc;
}
