/*
 * db.h: authd's database access (MariaDB Connector/C).
 *
 * Prepared statements only: every value travels as a bound parameter,
 * never inside SQL text.  The connection is opened lazily and reopened
 * after the server went away, so authd survives a database restart; a
 * request made while the server is unreachable fails with
 * ADB_UNAVAILABLE (the client is told to try later), any other failure
 * with ADB_INTERNAL.  The schema is created by `sc-admin db init`; authd
 * checks its version on every (re)connect and refuses to work with one
 * it does not know.
 */
#ifndef SC_AUTHD_DB_H
#define SC_AUTHD_DB_H

#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "dbconf.h"
#include "password.h"

/* The schema version this authd is written for (see dbconf.h). */
#define AUTHDB_SCHEMA_VERSION	DB_SCHEMA_VERSION

enum authdb_rc {
	ADB_OK = 0,
	ADB_NOTFOUND,
	ADB_DUP,		/* username or email already taken */
	ADB_UNAVAILABLE,
	ADB_INTERNAL,
};

/* Throttling scopes (the auth_failures.scope column). */
#define AUTHDB_SCOPE_USER	"user"
#define AUTHDB_SCOPE_ADDR	"addr"

struct authdb;

struct authdb_user {
	uint64_t	 id;
	char		 username[ACCOUNT_USER_MAX + 1];
	int		 disabled;
	struct pw_record pw;
};

/* Keeps a copy of *conf (for reconnects) and wipes it in authdb_free. */
struct authdb *authdb_new(const struct dbconf *conf);
void	authdb_free(struct authdb *);
/* Connect now if not connected (start-up, before the privilege drop). */
enum authdb_rc authdb_connect(struct authdb *);

enum authdb_rc authdb_user_get(struct authdb *, const char *username,
	    struct authdb_user *);
/* Insert the user and bind cert_sha256 to it, in one transaction. */
enum authdb_rc authdb_user_create(struct authdb *, const char *username,
	    const char *email, const struct pw_record *,
	    const uint8_t cert_sha256[32], uint64_t *idp);
/*
 * Replace the password record of user id, only if it still holds old (a
 * concurrent change by another node or by the administrator wins).
 */
enum authdb_rc authdb_user_rehash(struct authdb *, uint64_t id,
	    const struct pw_record *old, const struct pw_record *newrec);
/* Set last_login_at; *bound says whether the certificate is bound. */
enum authdb_rc authdb_login_record(struct authdb *, uint64_t id,
	    const uint8_t cert_sha256[32], int *bound);

/*
 * Throttling, shared by every node through the auth_failures table:
 * fixed windows of `window` seconds on the database server's clock.
 * check: *limited = 1 when subject has `maxfail` or more failures in
 * its current window.  fail: count one failure.  reset: forget subject.
 * expire: delete rows whose window ended (housekeeping).
 */
enum authdb_rc authdb_throttle_check(struct authdb *, const char *scope,
	    const char *subject, unsigned int maxfail, unsigned int window,
	    int *limited);
enum authdb_rc authdb_throttle_fail(struct authdb *, const char *scope,
	    const char *subject, unsigned int window);
enum authdb_rc authdb_throttle_reset(struct authdb *, const char *scope,
	    const char *subject);
enum authdb_rc authdb_throttle_expire(struct authdb *, unsigned int window);

const char *authdb_rc_str(enum authdb_rc);

#endif
