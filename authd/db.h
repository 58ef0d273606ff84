/*
 * db.h: authd's database access (MariaDB Connector/C).
 *
 * Prepared statements only: every value travels as a bound parameter,
 * never inside SQL text.  Each statement is prepared once per connection
 * and kept (db.c).  The connection is opened lazily and reopened
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

/*
 * The schema version this authd is written for (see dbconf.h).  Schema 2
 * (issue 5) adds the certificates' DER, the message store and rooms.
 * TRANSITION: common/dbconf.h still says 1 until the lead raises
 * DB_SCHEMA_VERSION to 2; sc-admin/db.c and sc-admin/user.c carry the
 * same shim, so the three agree.
 */
#if DB_SCHEMA_VERSION < 2
#undef DB_SCHEMA_VERSION
#define DB_SCHEMA_VERSION	2
#endif
#define AUTHDB_SCHEMA_VERSION	DB_SCHEMA_VERSION

enum authdb_rc {
	ADB_OK = 0,
	ADB_NOTFOUND,
	ADB_DUP,		/* username or email already taken */
	ADB_UNAVAILABLE,
	ADB_INTERNAL,
	ADB_TOOMANY,		/* a list is longer than the caller's cap */
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

#define AUTHDB_FP_LEN		32	/* SHA-256 of a certificate's DER */
#define AUTHDB_DER_MAX		8192	/* user_certs.cert_der */

/* A certificate bound to a user. */
struct authdb_cert {
	uint64_t	 user_id;
	char		 username[ACCOUNT_USER_MAX + 1];
	uint8_t		 fp[AUTHDB_FP_LEN];
	uint8_t		*der;		/* NULL: bound by fingerprint only */
	size_t		 derlen;
};

/* A list of certificates; the lists are bounded by the callers' caps. */
struct authdb_certs {
	struct authdb_cert	*v;
	size_t			 n;
	size_t			 cap;
};
void	authdb_certs_free(struct authdb_certs *);

/* A user (room member) by id and name. */
struct authdb_name {
	uint64_t	 id;
	char		 name[ACCOUNT_USER_MAX + 1];	/* or a room name */
};
struct authdb_names {
	struct authdb_name	*v;
	size_t			 n;
	size_t			 cap;
};
void	authdb_names_free(struct authdb_names *);

/* Keeps a copy of *conf (for reconnects) and wipes it in authdb_free. */
struct authdb *authdb_new(const struct dbconf *conf);
void	authdb_free(struct authdb *);
/* Connect now if not connected (start-up, before the privilege drop). */
enum authdb_rc authdb_connect(struct authdb *);

enum authdb_rc authdb_user_get(struct authdb *, const char *username,
	    struct authdb_user *);
/*
 * Insert the user and bind the certificate to it, in one transaction;
 * der may be NULL (bound by fingerprint only).
 */
enum authdb_rc authdb_user_create(struct authdb *, const char *username,
	    const char *email, const struct pw_record *,
	    const uint8_t cert_sha256[32], const uint8_t *der, size_t derlen,
	    uint64_t *idp);
/* The id of a user; ADB_NOTFOUND when there is none. */
enum authdb_rc authdb_user_id(struct authdb *, const char *username,
	    uint64_t *idp);
/*
 * Replace the password record of user id, only if it still holds old (a
 * concurrent change by another node or by the administrator wins).
 */
enum authdb_rc authdb_user_rehash(struct authdb *, uint64_t id,
	    const struct pw_record *old, const struct pw_record *newrec);
/* Set last_login_at. */
enum authdb_rc authdb_login_record(struct authdb *, uint64_t id);

/* ---- certificates ---- */

/*
 * Is cert_sha256 bound to user id (*bound), with its DER known
 * (*has_der), and how many certificates are bound to id (*nbound)?
 */
enum authdb_rc authdb_cert_lookup(struct authdb *, uint64_t id,
	    const uint8_t cert_sha256[32], int *bound, int *has_der,
	    uint64_t *nbound);
/*
 * Bind cert_sha256 (and der when not NULL) to user id; an existing
 * binding keeps its DER, or gets der when it had none.
 */
enum authdb_rc authdb_cert_bind(struct authdb *, uint64_t id,
	    const uint8_t cert_sha256[32], const uint8_t *der, size_t derlen);
/*
 * Append to *out every certificate bound to user id (with_der: only those
 * whose DER is known), oldest binding first; at most max (ADB_TOOMANY
 * when there are more: the caller refuses rather than send a partial
 * list).
 */
enum authdb_rc authdb_user_certs(struct authdb *, uint64_t id, int with_der,
	    size_t max, struct authdb_certs *out);
/* Likewise for every member of a room, by username then binding. */
enum authdb_rc authdb_room_certs(struct authdb *, uint64_t room_id,
	    int with_der, size_t max, struct authdb_certs *out);

/* ---- the message store ---- */

/*
 * Token bucket of user id on the database server's clock (so that every
 * node shares it): rate tokens per second, at most burst.  *taken = 1
 * when a token was taken, 0 when the user is over the rate.  One
 * statement when the user has a bucket with a token in it.
 */
enum authdb_rc authdb_rate_take(struct authdb *, uint64_t id,
	    unsigned int rate, unsigned int burst, int *taken);
/*
 * What a STORE checks its recipients against, in one statement: one row
 * per (user, bound certificate), or a row with has_cert 0 for a user
 * with none, with every user's count of undelivered messages (0 for the
 * sender, whose queue a message does not grow).
 */
struct authdb_peer {
	uint64_t	 user_id;
	char		 username[ACCOUNT_USER_MAX + 1];
	int		 has_cert;
	uint8_t		 fp[AUTHDB_FP_LEN];
	int		 has_der;	/* the certificate's DER is known */
	uint64_t	 queued;
};
struct authdb_peers {
	struct authdb_peer	*v;
	size_t			 n;
	size_t			 cap;
};
void	authdb_peers_free(struct authdb_peers *);
/*
 * A direct message: the sender (by id) and the user named other (no rows
 * for other: no such user), ordered by user id.  At most max rows
 * (ADB_TOOMANY beyond).
 */
enum authdb_rc authdb_dm_peers(struct authdb *, uint64_t sender_id,
	    const char *other, size_t max, struct authdb_peers *out);
/*
 * A room message: every member of the room (no rows: no such room),
 * ordered by username then binding.  At most max rows.
 */
enum authdb_rc authdb_room_peers(struct authdb *, uint64_t sender_id,
	    const char *room, size_t max, struct authdb_peers *out);
/* Undelivered (state 0) messages queued for user id. */
enum authdb_rc authdb_queue_len(struct authdb *, uint64_t id, uint64_t *n);
/*
 * In one transaction: store the envelope from sender_id (room NULL for a
 * direct message), to expire after retention_days, and one queue row per
 * recipient id.  *idp is the envelope id.
 */
enum authdb_rc authdb_envelope_store(struct authdb *, uint64_t sender_id,
	    const char *room, const uint8_t *env, size_t envlen,
	    unsigned int retention_days, const uint64_t *rcpt, size_t nrcpt,
	    uint64_t *idp);
/*
 * The queued (state 0), unexpired message for user id with the smallest
 * envelope id above after: *found, its id, its sender's name, and the
 * envelope into env (cap bytes; ADB_INTERNAL if it does not fit).
 */
enum authdb_rc authdb_fetch(struct authdb *, uint64_t id, uint64_t after,
	    int *found, uint64_t *env_id, char sender[ACCOUNT_USER_MAX + 1],
	    uint8_t *env, size_t cap, size_t *envlen);
/*
 * Move user id's delivery of env_id forward to state (1 or 2; never
 * back) and give its sender's name.  ADB_NOTFOUND when user id has no
 * such delivery.
 */
enum authdb_rc authdb_ack(struct authdb *, uint64_t id, uint64_t env_id,
	    unsigned int state, char sender[ACCOUNT_USER_MAX + 1]);
/* Delete expired messages (their queue rows go with them). */
enum authdb_rc authdb_expire_messages(struct authdb *, uint64_t *deleted);

/* ---- rooms ---- */

/* The id of a room; ADB_NOTFOUND when there is none. */
enum authdb_rc authdb_room_id(struct authdb *, const char *room,
	    uint64_t *idp);
enum authdb_join {
	AUTHDB_JOINED,
	AUTHDB_JOIN_ALREADY,	/* was a member */
	AUTHDB_JOIN_FULL,	/* the room has room_size members */
	AUTHDB_JOIN_TOO_MANY,	/* the user is in max_rooms rooms */
};
/* Join (creating the room on first use), in one transaction. */
enum authdb_rc authdb_room_join(struct authdb *, uint64_t user_id,
	    const char *room, unsigned int room_size, unsigned int max_rooms,
	    enum authdb_join *result);
/* Leave; the room goes with its last member.  ADB_NOTFOUND: not in it. */
enum authdb_rc authdb_room_leave(struct authdb *, uint64_t user_id,
	    const char *room);
/* The members of a room (id, username), in byte order; at most max
 * (ADB_TOOMANY beyond). */
enum authdb_rc authdb_room_members(struct authdb *, uint64_t room_id,
	    size_t max, struct authdb_names *out);
/* The rooms of user id (id, name), in byte order; at most max
 * (ADB_TOOMANY beyond). */
enum authdb_rc authdb_user_rooms(struct authdb *, uint64_t user_id,
	    size_t max, struct authdb_names *out);

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
