/*
 * daemonspawn.h: start a channel daemon (keyd, router) the way the
 * securechatd master does: fork, exec the built program with its control
 * channel on IPC_CTL_FD and nothing else open, debug logging appended to
 * a file.  As root the daemon gets its full privilege drop (user nobody,
 * an empty jail under /run, seccomp); otherwise it runs in development
 * mode.  The test plays the master on the other end of the channel.
 */
#ifndef SC_DAEMONSPAWN_H
#define SC_DAEMONSPAWN_H

#include <sys/types.h>

struct ds_daemon {
	const char	*prog;		/* under $BUILD/bin */
	char		 log[512];	/* its stderr, every start appended */
	char		 jail[64];	/* as root; "" otherwise */
	pid_t		 pid;		/* the daemon ds_stop stops, or 0 */
	int		 ctl;		/* its control channel (ours), or -1 */
};

/* Log in dir; as root, a fresh root-owned jail /run/sc-test-PROG-XXXXXX. */
void	ds_init(struct ds_daemon *, const char *prog, const char *dir);
/*
 * Start prog -d -v args... (args ends with NULL; as root also -u nobody
 * -j jail); returns its pid, and *ctlp the master's end of the channel.
 * Does not touch d->pid or d->ctl: a test may start several.
 */
pid_t	ds_start(const struct ds_daemon *, const char *const *args,
	    int *ctlp);
/* Wait for pid at most ms; its exit status (128+signal), or -1 if running. */
int	ds_wait_exit(pid_t pid, int ms);
/* Print the daemon's log on stderr. */
void	ds_dump_log(const struct ds_daemon *);
/*
 * Close d->ctl (the daemon exits on EOF), wait 3 s for d->pid, then kill
 * it; print its log when the environment variable logenv is set; remove
 * the jail.
 */
void	ds_stop(struct ds_daemon *, const char *logenv);

#endif
