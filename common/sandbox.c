/*
 * sandbox.c: the seccomp-bpf policy of every unprivileged SecureChat
 * process, in one file so that it can be reviewed in one sitting.
 *
 * Shape (as OpenSSH's sandbox-seccomp-filter.c): the filter only accepts
 * the native architecture (libseccomp also rejects x32 numbers on
 * x86_64); a small group of calls fails with EACCES so that libc and
 * OpenSSL code paths that try to open a file or a socket fail gracefully
 * instead of killing a session; then one allow list per process, in
 * alphabetical order; everything else kills the whole process.  Mappings
 * may never be executable, and tgkill may only target ourselves.
 *
 * The lists were written for x86_64 and aarch64 with glibc 2.36 and
 * OpenSSL 3.0: names a given architecture lacks resolve to libseccomp
 * pseudo numbers and are ignored there.  If a new code path dies with
 * SIGSYS, run it with SC_SANDBOX_DEBUG=1 and -d to see the call.
 */
#include "sandbox.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include "log.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZED 1
#endif
#endif
#ifndef SANDBOX_SANITIZED
#define SANDBOX_SANITIZED 0
#endif

#if SANDBOX_SANITIZED
#include <sanitizer/lsan_interface.h>
#endif

/* Argument conditions some rules carry. */
enum rule_arg {
	ARG_ANY,
	ARG_NOEXEC,	/* mmap/mprotect: arg 2 (prot) without PROT_EXEC */
	ARG_SELF,	/* tgkill: arg 0 (tgid) is our own pid */
	ARG_INET,	/* socket: arg 0 (domain) is AF_UNIX, AF_INET, AF_INET6 */
	ARG_FORK,	/* clone: arg 0 (flags) is CLONE_PARENT | SIGCHLD */
};

struct rule {
	const char	*name;
	enum rule_arg	 arg;
};

#define R(n)		{ #n, ARG_ANY }
#define RA(n, a)	{ #n, a }

/*
 * Fail with EACCES rather than kill: glibc's syslog() reconnects with
 * socket() after journald restarts, isatty() is an ioctl, OpenSSL may look
 * for its configuration file.  None of them can reach anything in an
 * empty chroot anyway.
 */
static const struct rule deny_common[] = {
	R(access), R(creat), R(faccessat), R(faccessat2), R(ioctl), R(lstat),
	R(open), R(openat), R(openat2), R(readlink), R(readlinkat), R(stat),
	R(statfs), R(statx),
};
static const struct rule deny_nosocket[] = {
	R(socket),
};

/*
 * The worker: one client socket, two channels, a control channel and a
 * transcript file, all open before the drop.  No open, no socket, no
 * connect, no exec, no fork.
 */
static const struct rule allow_worker[] = {
	R(alarm),
	R(brk),
	R(clock_getres),
	R(clock_gettime),
	R(clock_nanosleep),
	R(close),
	R(exit),
	R(exit_group),
	R(fcntl),
	R(fdatasync),
	R(fstat),
	R(fsync),
	R(futex),
	R(getegid),
	R(geteuid),
	R(getgid),
	R(getitimer),
	R(getpeername),
	R(getpid),
	R(getrandom),
	R(getsockname),
	R(getsockopt),
	R(gettid),
	R(gettimeofday),
	R(getuid),
	R(lseek),
	R(madvise),
	RA(mmap, ARG_NOEXEC),
	RA(mprotect, ARG_NOEXEC),
	R(mremap),
	R(munmap),
	R(nanosleep),
	R(newfstatat),
	R(poll),
	R(ppoll),
	R(pselect6),
	R(read),
	R(readv),
	R(recvfrom),
	R(recvmsg),
	R(restart_syscall),
	R(rt_sigaction),
	R(rt_sigprocmask),
	R(rt_sigreturn),
	R(sched_yield),
	R(select),
	R(sendmsg),
	R(sendto),
	R(setitimer),
	R(setsockopt),
	R(shutdown),
	R(sysinfo),
	RA(tgkill, ARG_SELF),
	R(time),
	R(write),
	R(writev),
};

/*
 * zygote: everything a worker does (its workers run under both filters),
 * and what forking one takes: clone as a fork whose parent is the
 * master, nothing else (no threads, no namespaces), with a channel to it
 * (socketpair); the new worker's descriptors put in place (dup2,
 * close_range); its process limit set to zero (setrlimit, prlimit64) and
 * its own filter installed (prctl for no_new_privs, seccomp).
 */
static const struct rule allow_zygote[] = {
	RA(clone, ARG_FORK),
	R(close_range),
	R(dup2),
	R(dup3),
	R(prctl),
	R(prlimit64),
	R(seccomp),
	R(setrlimit),
	R(socketpair),
};

/*
 * keyd: reads requests and new channels (SCM_RIGHTS) from sockets it
 * already holds and signs.  No files, no sockets of its own.
 */
static const struct rule allow_keyd[] = {
	R(brk),
	R(clock_getres),
	R(clock_gettime),
	R(clock_nanosleep),
	R(close),
	R(exit),
	R(exit_group),
	R(fcntl),
	R(fstat),
	R(futex),
	R(getegid),
	R(geteuid),
	R(getgid),
	R(getpid),
	R(getrandom),
	R(gettid),
	R(gettimeofday),
	R(getuid),
	R(madvise),
	RA(mmap, ARG_NOEXEC),
	RA(mprotect, ARG_NOEXEC),
	R(mremap),
	R(munmap),
	R(nanosleep),
	R(newfstatat),
	R(poll),
	R(ppoll),
	R(read),
	R(readv),
	R(recvfrom),
	R(recvmsg),
	R(restart_syscall),
	R(rt_sigaction),
	R(rt_sigprocmask),
	R(rt_sigreturn),
	R(sched_yield),
	R(sendmsg),
	R(sendto),
	R(shutdown),
	R(sysinfo),
	RA(tgkill, ARG_SELF),
	R(time),
	R(write),
	R(writev),
};

/*
 * authd: as keyd, plus a TCP or unix-socket connection to the database,
 * (re)established after the drop, so socket (three families only),
 * connect and socket options.  scrypt needs large anonymous mappings.
 */
static const struct rule allow_authd[] = {
	R(brk),
	R(clock_getres),
	R(clock_gettime),
	R(clock_nanosleep),
	R(close),
	R(connect),
	R(exit),
	R(exit_group),
	R(fcntl),
	R(fstat),
	R(futex),
	R(getegid),
	R(geteuid),
	R(getgid),
	R(getpeername),
	R(getpid),
	R(getrandom),
	R(getsockname),
	R(getsockopt),
	R(gettid),
	R(gettimeofday),
	R(getuid),
	R(madvise),
	RA(mmap, ARG_NOEXEC),
	RA(mprotect, ARG_NOEXEC),
	R(mremap),
	R(munmap),
	R(nanosleep),
	R(newfstatat),
	R(poll),
	R(ppoll),
	R(read),
	R(readv),
	R(recvfrom),
	R(recvmsg),
	R(restart_syscall),
	R(rt_sigaction),
	R(rt_sigprocmask),
	R(rt_sigreturn),
	R(sched_yield),
	R(sendmsg),
	R(sendto),
	R(setsockopt),
	R(shutdown),
	RA(socket, ARG_INET),
	R(sysinfo),
	RA(tgkill, ARG_SELF),
	R(time),
	R(uname),
	R(write),
	R(writev),
};

/*
 * router: as keyd, minus the random generator (it holds and makes no
 * secret): channels arrive by SCM_RIGHTS and are made non-blocking
 * (fcntl); envelope headers are parsed and hashed in memory; qsort may
 * ask sysinfo for the memory size.  No files, no sockets of its own.
 */
static const struct rule allow_router[] = {
	R(brk),
	R(clock_getres),
	R(clock_gettime),
	R(clock_nanosleep),
	R(close),
	R(exit),
	R(exit_group),
	R(fcntl),
	R(fstat),
	R(futex),
	R(getegid),
	R(geteuid),
	R(getgid),
	R(getpid),
	R(gettid),
	R(gettimeofday),
	R(getuid),
	R(madvise),
	RA(mmap, ARG_NOEXEC),
	RA(mprotect, ARG_NOEXEC),
	R(mremap),
	R(munmap),
	R(nanosleep),
	R(newfstatat),
	R(poll),
	R(ppoll),
	R(read),
	R(readv),
	R(recvfrom),
	R(recvmsg),
	R(restart_syscall),
	R(rt_sigaction),
	R(rt_sigprocmask),
	R(rt_sigreturn),
	R(sched_yield),
	R(sendmsg),
	R(sendto),
	R(shutdown),
	R(sysinfo),
	RA(tgkill, ARG_SELF),
	R(time),
	R(write),
	R(writev),
};

/*
 * What the ASan/LSan runtime calls on its own: LeakSanitizer stops the
 * world with a ptrace-ing clone at exit, reports need sigaltstack and
 * rlimits.  Only compiled into SANITIZE=1 test builds.
 */
static const struct rule allow_sanitizer[] = {
	R(clone),
	R(clone3),
	R(getdents64),
	R(getppid),
	R(getrlimit),
	R(prctl),
	R(prlimit64),
	R(ptrace),
	R(sched_getaffinity),
	R(sigaltstack),
	R(wait4),
	R(waitid),
};

struct policy {
	const char		*name;
	const struct rule	*allow;
	size_t			 nallow;
	int			 deny_socket;
	const struct rule	*extra;		/* allowed as well, or NULL */
	size_t			 nextra;
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const struct policy policies[] = {
	[SANDBOX_WORKER] = { "worker", allow_worker, NELEM(allow_worker), 1 },
	[SANDBOX_KEYD] = { "keyd", allow_keyd, NELEM(allow_keyd), 1 },
	[SANDBOX_AUTHD] = { "authd", allow_authd, NELEM(allow_authd), 0 },
	[SANDBOX_ROUTER] = { "router", allow_router, NELEM(allow_router), 1 },
	[SANDBOX_ZYGOTE] = { "zygote", allow_worker, NELEM(allow_worker), 1,
	    allow_zygote, NELEM(allow_zygote) },
};

const char *
sandbox_name(enum sandbox_proc proc)
{
	if ((size_t)proc >= NELEM(policies))
		return "unknown";
	return policies[proc].name;
}

static int
add_rule(scmp_filter_ctx ctx, uint32_t action, const struct rule *r,
    pid_t self)
{
	static const int families[] = { AF_UNIX, AF_INET, AF_INET6 };
	int nr, rc = 0;
	size_t i;

	/* A name this architecture does not know at all is skipped. */
	if ((nr = seccomp_syscall_resolve_name(r->name)) == __NR_SCMP_ERROR)
		return 0;
	switch (r->arg) {
	case ARG_ANY:
		rc = seccomp_rule_add(ctx, action, nr, 0);
		break;
	case ARG_NOEXEC:
		rc = seccomp_rule_add(ctx, action, nr, 1,
		    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
		break;
	case ARG_SELF:
		rc = seccomp_rule_add(ctx, action, nr, 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
		break;
	case ARG_FORK:
		rc = seccomp_rule_add(ctx, action, nr, 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)(CLONE_PARENT | SIGCHLD)));
		break;
	case ARG_INET:
		for (i = 0; i < NELEM(families) && rc == 0; i++)
			rc = seccomp_rule_add(ctx, action, nr, 1,
			    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]));
		break;
	}
	if (rc < 0) {
		errno = -rc;
		log_warn("sandbox: rule for %s", r->name);
		return -1;
	}
	return 0;
}

static int
add_rules(scmp_filter_ctx ctx, uint32_t action, const struct rule *rules,
    size_t n, pid_t self)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (add_rule(ctx, action, &rules[i], self) == -1)
			return -1;
	return 0;
}

/* Async-signal-safe: format a number and write(2) it, nothing else. */
static void
sandbox_violation(int sig, siginfo_t *si, void *ctx)
{
	char msg[64] = "sandbox: forbidden system call ";
	char num[16];
	size_t len = strlen(msg), n = 0;
	int nr = si->si_syscall;
	unsigned int u = nr < 0 ? (unsigned int)-nr : (unsigned int)nr;

	(void)sig;
	(void)ctx;
	do {
		num[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0 && n < sizeof(num));
	if (nr < 0)
		msg[len++] = '-';
	while (n > 0 && len < sizeof(msg) - 2)
		msg[len++] = num[--n];
	msg[len++] = '\n';
	if (write(STDERR_FILENO, msg, len) == -1)
		_exit(128 + SIGSYS);	/* nowhere to report it */
	_exit(128 + SIGSYS);
}

static int
debug_requested(void)
{
#ifdef SC_SANDBOX_DEBUG
	return 1;
#else
	const char *e = getenv("SC_SANDBOX_DEBUG");

	return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
#endif
}

/*
 * What every load does first: the leak check of sanitizer builds (LSan
 * cannot work under the filter) and, in debug mode, the SIGSYS reporter.
 */
static int
before_load(const struct policy *p, int debug)
{
	struct sigaction sa;
	sigset_t set;

#if SANDBOX_SANITIZED
	/*
	 * LeakSanitizer cannot work under the filter (no /proc, its
	 * tracer would be killed): check now, which also cancels the
	 * check at exit.  privdrop() normally did this already.
	 */
	__lsan_do_leak_check();
#endif
	if (!debug)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_violation;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1) {
		log_warn("sandbox: sigaction SIGSYS");
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	if (sigprocmask(SIG_UNBLOCK, &set, NULL) == -1) {
		log_warn("sandbox: sigprocmask");
		return -1;
	}
	log_info("sandbox: %s: debug mode, forbidden calls are reported on "
	    "stderr", p->name);
	return 0;
}

/* The filter of p, for a process whose pid is self; NULL logged. */
static scmp_filter_ctx
build(const struct policy *p, int debug, pid_t self)
{
	scmp_filter_ctx ctx;
	uint32_t kill_action, default_action;
	int rc;

	/* KILL_PROCESS needs Linux 4.14; a lone thread is the same thing. */
	kill_action = seccomp_api_get() >= 3 ? SCMP_ACT_KILL_PROCESS :
	    SCMP_ACT_KILL;
	default_action = debug ? SCMP_ACT_TRAP : kill_action;
	if ((ctx = seccomp_init(default_action)) == NULL) {
		log_warnx("sandbox: seccomp_init failed");
		return NULL;
	}
	/* Another architecture's numbering would bypass every rule. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    kill_action)) < 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1)) < 0) {
		errno = -rc;
		log_warn("sandbox: seccomp_attr_set");
		goto fail;
	}
	if (add_rules(ctx, SCMP_ACT_ERRNO(EACCES), deny_common,
	    NELEM(deny_common), self) == -1)
		goto fail;
	if (p->deny_socket && add_rules(ctx, SCMP_ACT_ERRNO(EACCES),
	    deny_nosocket, NELEM(deny_nosocket), self) == -1)
		goto fail;
	if (add_rules(ctx, SCMP_ACT_ALLOW, p->allow, p->nallow, self) == -1)
		goto fail;
	if (p->extra != NULL && add_rules(ctx, SCMP_ACT_ALLOW, p->extra,
	    p->nextra, self) == -1)
		goto fail;
	if (SANDBOX_SANITIZED && add_rules(ctx, SCMP_ACT_ALLOW,
	    allow_sanitizer, NELEM(allow_sanitizer), self) == -1)
		goto fail;
	return ctx;
 fail:
	seccomp_release(ctx);
	return NULL;
}

static const struct policy *
policy_of(enum sandbox_proc proc)
{
	if ((size_t)proc >= NELEM(policies)) {
		log_warnx("sandbox: unknown process kind %d", (int)proc);
		return NULL;
	}
	return &policies[proc];
}

int
sandbox_apply(enum sandbox_proc proc)
{
	const struct policy *p;
	scmp_filter_ctx ctx;
	int debug, rc;

	if ((p = policy_of(proc)) == NULL)
		return -1;
	debug = debug_requested();
	if (before_load(p, debug) == -1)
		return -1;
	if ((ctx = build(p, debug, getpid())) == NULL)
		return -1;
	if ((rc = seccomp_load(ctx)) < 0) {
		errno = -rc;
		log_warn("sandbox: seccomp_load");
		seccomp_release(ctx);
		return -1;
	}
	seccomp_release(ctx);
	log_debug("sandbox: %s policy installed", p->name);
	return 0;
}

/*
 * A pid no process can have (above PID_MAX_LIMIT, 2^22): the prepared
 * program carries it where the process's own pid goes (tgkill), and
 * sandbox_load() puts the loading process's pid in its place.
 */
#define SELF_PLACEHOLDER	0x7ffffff1

int
sandbox_prepare(enum sandbox_proc proc, struct sandbox_prog *sp)
{
	const struct policy *p;
	scmp_filter_ctx ctx;
	struct sock_filter *insn = NULL;
	size_t cap = 0, len = 0, i;
	ssize_t n;
	int fds[2] = { -1, -1 }, rc = -1;

	memset(sp, 0, sizeof(*sp));
	if ((p = policy_of(proc)) == NULL)
		return -1;
	sp->proc = proc;
	sp->debug = debug_requested();
	if ((ctx = build(p, sp->debug, SELF_PLACEHOLDER)) == NULL)
		return -1;
	/*
	 * libseccomp 2.5 exports to a descriptor only.  Written whole before
	 * it is read: SANDBOX_PROG_MAX instructions (32 KiB) fit the pipe.
	 */
	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("sandbox: pipe");
		goto out;
	}
	if ((rc = seccomp_export_bpf(ctx, fds[1])) < 0) {
		errno = -rc;
		rc = -1;
		log_warn("sandbox: seccomp_export_bpf");
		goto out;
	}
	rc = -1;
	close(fds[1]);
	fds[1] = -1;
	for (;;) {
		if (len == cap) {
			struct sock_filter *ni;

			if (cap >= SANDBOX_PROG_MAX) {
				log_warnx("sandbox: program too long");
				goto out;
			}
			cap = cap == 0 ? 256 : cap * 2;
			if ((ni = reallocarray(insn, cap, sizeof(*insn))) ==
			    NULL) {
				log_warn("sandbox: program");
				goto out;
			}
			insn = ni;
		}
		n = read(fds[0], (char *)insn + len * sizeof(*insn),
		    (cap - len) * sizeof(*insn));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("sandbox: read program");
			goto out;
		}
		if (n == 0)
			break;
		/* Whole instructions only: the pipe keeps the writer's bytes. */
		if ((size_t)n % sizeof(*insn) != 0) {
			log_warnx("sandbox: program of a partial instruction");
			goto out;
		}
		len += (size_t)n / sizeof(*insn);
	}
	for (i = 0; i < len; i++)
		if (insn[i].k == SELF_PLACEHOLDER)
			sp->nself++;
	if (len == 0 || sp->nself == 0) {
		log_warnx("sandbox: prepared program without its pid check");
		goto out;
	}
	sp->insn = insn;
	sp->len = len;
	insn = NULL;
	rc = 0;
 out:
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
	free(insn);
	seccomp_release(ctx);
	return rc;
}

int
sandbox_load(const struct sandbox_prog *sp)
{
	const struct policy *p;
	struct sock_fprog prog;
	size_t i, nself = 0;
	uint32_t self = (uint32_t)getpid();

	if ((p = policy_of(sp->proc)) == NULL || sp->insn == NULL)
		return -1;
	if (before_load(p, sp->debug) == -1)
		return -1;
	/* The copy is the process's own (copy-on-write): patched in place. */
	for (i = 0; i < sp->len; i++)
		if (sp->insn[i].k == SELF_PLACEHOLDER) {
			sp->insn[i].k = self;
			nself++;
		}
	if (nself != sp->nself) {
		log_warnx("sandbox: prepared program already used");
		return -1;
	}
	prog.len = (unsigned short)sp->len;
	prog.filter = sp->insn;
	/* As seccomp_load(): no_new_privs is set by privdrop(), no flags. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == -1) {
		log_warn("sandbox: seccomp(SECCOMP_SET_MODE_FILTER)");
		return -1;
	}
	log_debug("sandbox: %s policy installed (prepared)", p->name);
	return 0;
}
