/*
 * scenv.h: a whole SecureChat installation for integration tests, in a
 * private temporary directory: a CA and certificates made with sc-admin
 * pki, a private MariaDB (mariadb.h) initialised with sc-admin db init, a
 * configuration, and the real securechatd (with its real keyd and authd)
 * listening on a free loopback port.  As root the daemons drop to the
 * _securechat* users and chroot to a root-owned empty jail, as in
 * production; the users are created from systemd/sysusers.conf.
 */
#ifndef SC_TU_SCENV_H
#define SC_TU_SCENV_H

#include <sys/types.h>

#include <limits.h>

#include "mariadb.h"
#include "testutil.h"

struct scenv {
	char		*dir;
	struct tu_db	 db;
	int		 have_db;
	char		 ca[PATH_MAX];		/* CA directory (sc-admin pki) */
	char		 conf[PATH_MAX];	/* securechatd.conf */
	char		 jail[PATH_MAX];
	char		 transcripts[PATH_MAX];
	char		 receipts[PATH_MAX];
	char		 audit[PATH_MAX];
	char		 log[PATH_MAX];		/* securechatd's stderr */
	char		 state[PATH_MAX];	/* client state directory */
	char		 extra_conf[2048];	/* appended to the config */
	int		 port;
	pid_t		 pid;			/* securechatd master */
};

/*
 * Build everything but start nothing that listens: CA, server cert
 * (CN/SAN localhost + 127.0.0.1), client certs alice, bob, carol;
 * database started and initialised.  0 or -1 (reason on stderr).
 */
int	scenv_setup(struct scenv *, const char *tag);
/* Write the config (plus extra_conf) and start securechatd -d. */
int	scenv_start(struct scenv *);
/*
 * Start securechatd -d on the config as it is (after scenv_stop_daemon
 * and scenv_conf_set, say), on the same port; 0 once it logs "ready"
 * (it does not connect: no session is started by the wait).
 */
int	scenv_restart(struct scenv *);
/*
 * A test group's set-up in one call: scenv_setup(tag), extra_conf from
 * fmt (printf-style), then start(e) (scenv_start when NULL: a test
 * that must hand the daemon something passes its own, which calls
 * scenv_start), then ready(e) when not NULL (registering the accounts
 * the tests use, say).  On any failure everything is torn down.  0 or
 * -1 (reason on stderr).
 */
int	scenv_up(struct scenv *, const char *tag,
	    int (*start)(struct scenv *), int (*ready)(struct scenv *),
	    const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
/* SIGTERM the master and wait for it (and so for its children). */
int	scenv_stop_daemon(struct scenv *);
/* Stop everything and remove the directory. */
void	scenv_teardown(struct scenv *);
/* Issue one more certificate: extra are sc-admin pki issue options. */
int	scenv_issue(struct scenv *, const char *name, const char *extra);
/*
 * Run sc-client as the holder of certificate `who` with the password as
 * the first input line followed by input; args are the subcommand and
 * its options (e.g. "login --username alice").
 */
int	scenv_client(struct scenv *, struct tu_result *, const char *who,
	    const char *password, const char *input, const char *args);
/*
 * Set keyword to value in the configuration file: every line that sets
 * it is dropped and "keyword value" goes last.  Nothing is signalled.
 * 0 or -1.
 */
int	scenv_conf_set(struct scenv *, const char *keyword, const char *value);
/*
 * A stand-in helper directory for tests that let the master run this
 * very program in a helper's place: <dir>/libexec with "keyd" and
 * "session" (the master looks for the worker program next to
 * keyd_path), each a symlink to the given program or, for NULL, to this
 * test program.  The "keyd" path goes to keyd (for scenv_conf_set).
 * 0 or -1.
 */
int	scenv_libexec(struct scenv *, const char *keyd_prog,
	    const char *session_prog, char *keyd, size_t keydlen);
/* Path of a file in the CA directory ("alice.pem"). */
const char *scenv_ca_file(struct scenv *, const char *name);
/* The audit log's content (malloc'd, "" when missing). */
char	*scenv_audit(struct scenv *);
/*
 * Wait up to seconds for the audit log to contain needle: the master
 * writes what workers send asynchronously, so a client may see the
 * server's answer before the audit line is written.  1 if found.
 */
int	scenv_wait_audit(struct scenv *, const char *needle, int seconds);
/* pid of a process whose cmdline contains needle and whose parent is ppid (0: any). */
pid_t	scenv_find_proc(pid_t ppid, const char *needle);

#endif
