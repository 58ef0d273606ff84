/*
 * privdrop.h: the one privilege-drop function every SecureChat child
 * (worker, keyd, authd) calls after it has loaded its secrets and
 * configuration and before it installs its seccomp filter.
 *
 * The order never changes (docs/ARCHITECTURE.md, "Start-up and privilege
 * drop"): check the jail; chroot and chdir("/"); stdio to /dev/null;
 * setgroups, setresgid, setresuid; prove that root cannot be regained;
 * rlimits and no core dumps; no_new_privs.  Started by root, every step is
 * mandatory and a failure returns -1 (the caller calls fatal).  Started by
 * any other user (development), the user switch and the chroot are skipped
 * and the log says so once; the remaining steps still apply.
 */
#ifndef SC_PRIVDROP_H
#define SC_PRIVDROP_H

/* RLIMIT_NOFILE when the spec asks for none: a worker needs 0..7. */
#define PRIVDROP_NOFILE_DEFAULT	32

struct privdrop_spec {
	const char	*user;		/* account to become, e.g. "_securechat" */
	const char	*jail;		/* empty root-owned directory to chroot to */
	int		 keep_stderr;	/* foreground (-d): keep fd 2 for logging */
	/*
	 * RLIMIT_NOFILE after the drop; 0 means PRIVDROP_NOFILE_DEFAULT.
	 * keyd and authd hold one channel per session and pass
	 * max_sessions plus a margin.
	 */
	unsigned int	 max_files;
	/*
	 * RLIMIT_NPROC after the drop: 0 (no fork at all) but for the
	 * zygote, which forks the workers (each of which then sets 0).
	 */
	unsigned int	 max_procs;
};

/* Returns 0, or -1 after logging which step failed (never fail open). */
int	privdrop(const struct privdrop_spec *);
/*
 * RLIMIT_NPROC 0, as privdrop() sets it for max_procs 0: for a worker
 * forked by the zygote.  0, or -1 logged.
 */
int	privdrop_nofork(void);

/*
 * Check that path is a usable jail: an absolute path whose every
 * component is a directory owned by root and not writable by group or
 * others (as sshd's ChrootDirectory), and which is empty.  Returns 0, or
 * -1 with errno set and the reason logged.
 */
int	privdrop_jail_dir(const char *path);

#endif
