/*
 * authdutil.h: what the tests of authd share (tests/lib/authdutil.c).
 *
 * tests/integration/test_authd.c and test_authd_msg.c run the real authd
 * binary against a private MariaDB server and play the securechatd
 * master: authd's control channel on descriptor 3, one fresh worker
 * channel per session (AUTHD_CTL_NEW_CHANNEL), and everything authd
 * sends the master collected in au_seen (audit events, kill requests,
 * AUTHENTICATED).  The assertions are cmocka's: call these from tests.
 */
#ifndef SC_TESTS_AUTHDUTIL_H
#define SC_TESTS_AUTHDUTIL_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "mariadb.h"

/* A temporary directory, a private MariaDB server, a jail for authd. */
struct au_env {
	struct tu_db	 db;
	char		*tmpdir;
	char		 jail[PATH_MAX];
};

/* One authd process, and the master's end of its control channel. */
struct au_authd {
	pid_t		 pid;
	int		 ctl;
	char		 log[PATH_MAX];	/* its stderr */
};
#define AU_AUTHD_INIT	{ -1, -1, "" }

/* An AUTHD_CTL_AUTHENTICATED: the master's view of a session. */
struct au_authn {
	uint64_t	 serial;
	uint64_t	 account_id;
	char		 user[33];
	uint8_t		 fp[32];
};

/* Everything authd told the master so far (au_ctl_drain). */
struct au_seen {
	char		*audit;		/* every audit event, one a line */
	size_t		 audit_len;
	uint64_t	 killed[64];	/* serials of AUTHD_CTL_KILL_WORKER */
	size_t		 nkilled;
	struct au_authn	 last;		/* the last AUTHENTICATED */
	unsigned int	 nauthn;	/* AUTHENTICATED messages in all */
};
extern struct au_seen au_seen;

/*
 * Make the temporary directory (tag names it) and the jail (root-owned
 * in /run when root: privdrop refuses a jail below a world-writable
 * directory), and start the database server, empty: the caller creates
 * the schema.  au_env_stop undoes all of it and frees au_seen.
 */
int	au_env_start(struct au_env *, const char *tag);
void	au_env_stop(struct au_env *);

/*
 * Start authd -d -v -D <db conf> -u nobody -j <jail> and then args (NULL
 * terminated, at most 32), its stderr to <tmpdir>/authd-<tag>.log.
 */
int	au_spawn(struct au_authd *, const struct au_env *, const char *tag,
	    const char *const *args);
/* Close the control channel: authd exits on its own (wait status). */
int	au_stop(struct au_authd *);
void	au_show_log(const struct au_authd *);
/* Fail unless the status is an exit 0 (showing the log). */
void	au_assert_exit0(const struct au_authd *, int status);

/* Collect what authd sent the master, waiting up to wait_ms first. */
void	au_ctl_drain(struct au_authd *, int wait_ms);
/* A fresh worker channel for session serial from address addr. */
int	au_chan_open(struct au_authd *, uint64_t serial, const char *addr);
/*
 * The same for any helper: a NEW_CHANNEL of this type (keyd's or
 * authd's) sent on control channel ctl.  The worker's end.
 */
int	au_chan_send(int ctl, uint16_t type, uint64_t serial,
	    const char *addr);
/* authd closed ch without an answer and asked to kill its worker. */
void	au_assert_violation(struct au_authd *, int ch, uint64_t serial);
/* Is needle in the audit events received after mark (an audit_len)? */
int	au_audit_since(struct au_authd *, size_t mark, const char *needle);
/* The one value of a query is expect. */
void	au_assert_query(struct tu_db *, const char *sql, const char *expect);

#endif
