/*
 * sandbox.h: the seccomp policy of each unprivileged process, applied
 * right after privdrop().  One allow list per process, default kill.
 *
 * Debugging: with SC_SANDBOX_DEBUG set in the environment (non-empty), or
 * built with -DSC_SANDBOX_DEBUG, a forbidden call raises SIGSYS, which is
 * caught and reported on stderr ("sandbox: forbidden system call N") before
 * the process exits, instead of a silent kill.  `ausyscall N` names it.
 *
 * Sanitizer builds (SANITIZE=1, detected through __SANITIZE_ADDRESS__)
 * allow the extra calls the ASan/LSan runtime makes (clone, ptrace, wait4,
 * prctl, sigaltstack, ...), and run LeakSanitizer's check when the
 * process drops privileges (privdrop) or enters the sandbox: LSan needs
 * /proc, so leaks made after that point are not reported.  Never ship
 * such a build.
 */
#ifndef SC_SANDBOX_H
#define SC_SANDBOX_H

#include <stddef.h>

enum sandbox_proc {
	SANDBOX_WORKER,		/* session: one client connection */
	SANDBOX_KEYD,		/* keyd: signs with the server key */
	SANDBOX_AUTHD,		/* authd: talks to the database */
	SANDBOX_ROUTER,		/* router: pushes envelopes between workers */
	SANDBOX_ZYGOTE,		/* session -Z: forks the workers */
};

/*
 * Install the filter of proc for the rest of the process's life (it is
 * inherited and cannot be removed).  Returns 0, or -1 after logging why;
 * the caller must treat -1 as fatal: never run unsandboxed by accident.
 */
int	sandbox_apply(enum sandbox_proc proc);

/*
 * A filter compiled ahead (the zygote's, for the workers it forks):
 * sandbox_prepare() builds proc's program once, with a placeholder where
 * the process's own pid goes; sandbox_load() puts the caller's pid there
 * and installs it, without libseccomp's compile in every worker.  Each
 * forked copy of a prepared program may be loaded once.
 */
#define SANDBOX_PROG_MAX	4096	/* instructions (BPF_MAXINSNS) */
struct sock_filter;
struct sandbox_prog {
	enum sandbox_proc	 proc;
	int			 debug;
	struct sock_filter	*insn;
	size_t			 len;
	size_t			 nself;		/* placeholders in insn */
};
int	sandbox_prepare(enum sandbox_proc proc, struct sandbox_prog *);
int	sandbox_load(const struct sandbox_prog *);

/* The name of proc, for logs ("worker", "keyd", ..., "zygote"). */
const char *sandbox_name(enum sandbox_proc proc);

#endif
