/*
 * dbconf.h: the database credentials file, shared by authd and sc-admin.
 *
 * The file holds simple "key = value" lines (blank lines and lines
 * starting with '#' are ignored; a value may be put in double quotes to
 * keep leading or trailing blanks):
 *
 *	host     = 127.0.0.1	# TCP; authd is chrooted, see docs/ADMIN-DB.md
 *	port     = 3306
 *	socket   = /run/mysqld/mysqld.sock	# instead of host/port
 *	user     = securechat
 *	password = ...
 *	database = securechat
 *
 * It is refused unless it is a regular file owned by root or by the
 * caller with no permission bits for group or others (0600 or 0400):
 * it holds the one secret of authd.
 */
#ifndef SC_DBCONF_H
#define SC_DBCONF_H

#include <stddef.h>

#define DBCONF_DEFAULT_PATH	SYSCONFDIR "/securechat/db.conf"
#define DBCONF_MAX_FILE		8192

/*
 * The database schema version of this release: `sc-admin db init`
 * migrates to it and authd refuses any other (sc-admin/db.c).
 */
#define DB_SCHEMA_VERSION	2

struct dbconf {
	char		host[256];
	unsigned int	port;		/* 0: the client library's default */
	char		socket[108];	/* sizeof(sun_path) */
	char		user[81];	/* MariaDB user names: 80 characters */
	char		password[256];
	char		database[65];	/* identifiers: 64 characters */
};

/*
 * Parse path into *c.  Returns 0, or -1 after logging why (mode, owner,
 * syntax with the line number; never the password).
 */
int	dbconf_load(const char *path, struct dbconf *c);
/* Wipe the whole struct (the password is the point). */
void	dbconf_clear(struct dbconf *c);

struct st_mysql;
/*
 * Open a connection with the settings every SecureChat client uses:
 * connect/read/write timeouts, utf8mb4, session time zone UTC, no LOAD
 * DATA LOCAL, no automatic reconnect (callers decide), "found rows" as
 * affected rows.  Returns the handle or NULL; on NULL *errnum gets the
 * client library's error number and errbuf its message.
 */
struct st_mysql *dbconf_connect(const struct dbconf *c, unsigned int *errnum,
	    char *errbuf, size_t errlen);
/*
 * 1 when a client or server error number means "the server is not
 * reachable now" (down, restarting, connection lost, too many
 * connections), as opposed to a failure that retrying will not fix.
 */
int	dbconf_err_unavailable(unsigned int errnum);
/*
 * For the administration tool: load path, connect, wipe the credentials.
 * Returns the handle, or NULL after logging why.
 */
struct st_mysql *dbconf_open(const char *path);
/*
 * The schema version recorded by `sc-admin db init`: 0 when the database
 * has no schema_version table or no row yet.  Returns 0, or -1 with
 * *errnum set (and *version untouched).
 */
int	dbconf_schema_version(struct st_mysql *db, unsigned int *version,
	    unsigned int *errnum);

#endif
