/*
 * mariadb.h: a private MariaDB server for tests.
 *
 * tu_db_start() initialises a data directory in a fresh temporary
 * directory (mariadb-install-db), starts mariadbd on a unix socket there
 * and on a free TCP port of 127.0.0.1, waits until it accepts
 * connections, creates the database "securechat" and an application user
 * with a random password, and writes a mode 0600 db.conf (TCP, the way
 * production authd connects from its chroot).  Nothing is skipped: when
 * the server cannot start, tu_db_start() prints the server's error log
 * and returns -1, and the test must fail.
 *
 * The server runs as root only when the test does (--user=root: the temp
 * directory is private to root, so the mysql account could not use it).
 * It dies with the test process (PR_SET_PDEATHSIG) if the test crashes.
 */
#ifndef SC_TU_MARIADB_H
#define SC_TU_MARIADB_H

#include <sys/types.h>

#include <limits.h>

struct tu_db {
	char	*dir;			/* the temporary directory */
	char	 datadir[PATH_MAX];
	char	 sock[108];		/* unix socket (root access) */
	char	 conf[PATH_MAX];	/* db.conf: TCP, application user */
	char	 log[PATH_MAX];		/* the server's error log */
	char	 password[33];		/* application user's password */
	int	 port;
	pid_t	 pid;			/* mariadbd, or -1 when stopped */
};

#define TU_DB_NAME	"securechat"
#define TU_DB_USER	"securechat"

/* Start a private server; 0, or -1 after printing why on stderr. */
int	tu_db_start(struct tu_db *);
/* Stop the server (SIGTERM, then SIGKILL after 30 s), keep the data. */
int	tu_db_halt(struct tu_db *);
/* Start the halted server again: same data, same port. */
int	tu_db_resume(struct tu_db *);
/* Both: a database restart as a fault test sees it.  0 or -1. */
int	tu_db_restart(struct tu_db *);
/* Stop the server and remove the temporary directory. */
void	tu_db_stop(struct tu_db *);
/*
 * Run SQL as root in database securechat (test-chosen text only).
 * tu_db_exec: statements without results, 0 or -1.  tu_db_query: the
 * first column of the first row, malloc'd ("" when there is no row,
 * "NULL" for NULL), or NULL on error.  Errors are printed.
 */
int	tu_db_exec(struct tu_db *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
char	*tu_db_query(struct tu_db *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
