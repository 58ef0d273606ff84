/*
 * db.c: authd's database access through prepared statements (see db.h).
 *
 * One connection, opened on demand, and on it one prepared statement
 * per SQL text of the table stmts[] below, prepared on first use and
 * kept: a request then costs one round trip per statement (execute)
 * instead of two (prepare, execute) and the server does not parse the
 * same text again.  The cache belongs to the connection: it is dropped
 * with it (reconnect, server gone), and a statement that failed is
 * closed so that its next use prepares it anew.
 *
 * A stale connection (the server restarted) is noticed before a
 * statement is sent: the idle socket has become readable (end of file).
 * A statement that fails while being prepared, or before it could be
 * sent, because the server went away is retried once on a new
 * connection, unless it failed only after a timeout (a hung server); a
 * failure after the statement went out is not retried, because it may
 * have taken effect, and is reported as UNAVAILABLE.  After any failure
 * of that kind, requests fail at once for DB_RETRY_INTERVAL.
 */
#include "db.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "log.h"

/*
 * Milliseconds since the epoch on the database server's clock, the one
 * clock every node shares.
 */
#define DB_NOW_MS	"CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)"

/* The refilled bucket of the rate statements (db.h authdb_rate_take). */
#define DB_RATE_REFILL	"LEAST(?, tokens_milli + " \
			" GREATEST(0, " DB_NOW_MS " - updated_ms) * ?)"

/*
 * Every statement authd runs, by id: the cache is an array indexed by
 * it, so finding a prepared statement costs no lookup.  nin and nout are
 * the statement's parameters and result columns, checked once when it
 * is prepared.
 */
enum stmt_id {
	S_USER_GET,
	S_USER_INSERT,
	S_CERT_INSERT,
	S_USER_ID,
	S_USER_REHASH,
	S_LOGIN_RECORD,
	S_CERT_LOOKUP,
	S_CERT_BIND,
	S_USER_CERTS_ALL,
	S_USER_CERTS_DER,
	S_ROOM_CERTS_ALL,
	S_ROOM_CERTS_DER,
	S_RATE_TAKE,
	S_RATE_NEW,
	S_DM_PEERS,
	S_ROOM_PEERS,
	S_QUEUE_LEN,
	S_ENV_INSERT,
	S_DLV_INSERT,
	S_FETCH,
	S_ACK_GET,
	S_ACK_SET,
	S_MSG_EXPIRE,
	S_ROOM_ID,
	S_ROOM_CREATE,
	S_ROOM_COUNT,
	S_ROOM_MINE,
	S_ROOM_ADD,
	S_ROOM_LOCK,
	S_ROOM_DEL,
	S_ROOM_EMPTY,
	S_ROOM_MEMBERS,
	S_USER_ROOMS,
	S_THROTTLE_CHECK,
	S_THROTTLE_FAIL,
	S_THROTTLE_RESET,
	S_THROTTLE_EXPIRE,
	S_COUNT
};

struct stmt_def {
	const char	*what;		/* for the log: never a value */
	const char	*sql;
	unsigned int	 nin, nout;
};

/*
 * The certificate queries (struct cert_row): of a user or of a room's
 * members, all of them or those whose DER is known, oldest binding first.
 */
#define CERT_COLS	"SELECT u.id, u.username, c.cert_sha256, c.cert_der "
#define USER_CERTS	"FROM user_certs c " \
			"JOIN users u ON u.id = c.user_id " \
			"WHERE c.user_id = ? "
#define ROOM_CERTS	"FROM room_members m " \
			"JOIN users u ON u.id = m.user_id " \
			"JOIN user_certs c ON c.user_id = u.id " \
			"WHERE m.room_id = ? "
#define WITH_DER	"AND c.cert_der IS NOT NULL "
#define CERT_ORDER	"c.added_at, c.cert_sha256"
/*
 * The STORE checks' columns (struct authdb_peer): a user without a
 * certificate gives one row of NULLs (LEFT JOIN); the queue length of
 * every user but the sender (the first parameter).
 */
#define PEER_COLS	"SELECT u.id, u.username, c.cert_sha256, " \
			"c.cert_der IS NOT NULL, IF(u.id = ?, 0, " \
			"(SELECT COUNT(*) FROM deliveries d WHERE " \
			"d.recipient_id = u.id AND d.state = 0)) "

static const struct stmt_def stmts[S_COUNT] = {
	[S_USER_GET] = { "user lookup",
	    "SELECT id, username, disabled, pw_kdf, pw_salt, pw_hash, "
	    "kdf_n, kdf_r, kdf_p FROM users WHERE username = ?", 1, 9 },
	[S_USER_INSERT] = { "user insert",
	    "INSERT INTO users (username, email, pw_kdf, pw_salt, pw_hash, "
	    "kdf_n, kdf_r, kdf_p) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", 8, 0 },
	[S_CERT_INSERT] = { "certificate insert",
	    "INSERT INTO user_certs (user_id, cert_sha256, cert_der) "
	    "VALUES (?, ?, ?)", 3, 0 },
	[S_USER_ID] = { "user id",
	    "SELECT id FROM users WHERE username = ?", 1, 1 },
	[S_USER_REHASH] = { "password upgrade",
	    "UPDATE users SET pw_kdf = ?, pw_salt = ?, pw_hash = ?, "
	    "kdf_n = ?, kdf_r = ?, kdf_p = ? "
	    "WHERE id = ? AND pw_kdf = ? AND pw_hash = ?", 9, 0 },
	[S_LOGIN_RECORD] = { "last login",
	    "UPDATE users SET last_login_at = CURRENT_TIMESTAMP WHERE id = ?",
	    1, 0 },
	[S_CERT_LOOKUP] = { "certificate lookup",
	    "SELECT COUNT(*), "
	    "COALESCE(SUM(cert_sha256 = ?), 0), "
	    "COALESCE(SUM(cert_sha256 = ? AND cert_der IS NOT NULL), 0) "
	    "FROM user_certs WHERE user_id = ?", 3, 3 },
	/* An existing DER is never replaced: it hashes to cert_sha256. */
	[S_CERT_BIND] = { "certificate bind",
	    "INSERT INTO user_certs (user_id, cert_sha256, cert_der) "
	    "VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE "
	    "cert_der = COALESCE(cert_der, VALUES(cert_der))", 3, 0 },
	[S_USER_CERTS_ALL] = { "user certificates",
	    CERT_COLS USER_CERTS "ORDER BY " CERT_ORDER, 1, 4 },
	[S_USER_CERTS_DER] = { "user certificates",
	    CERT_COLS USER_CERTS WITH_DER "ORDER BY " CERT_ORDER, 1, 4 },
	[S_ROOM_CERTS_ALL] = { "room certificates",
	    CERT_COLS ROOM_CERTS "ORDER BY u.username, " CERT_ORDER, 1, 4 },
	[S_ROOM_CERTS_DER] = { "room certificates",
	    CERT_COLS ROOM_CERTS WITH_DER "ORDER BY u.username, " CERT_ORDER,
	    1, 4 },
	/*
	 * One statement takes a token only if there is one after the
	 * refill, so that concurrent nodes cannot both spend the last.
	 * Tokens are counted in thousandths: rate per second is rate
	 * thousandths per millisecond.  The assignments run left to right,
	 * so tokens_milli is refilled from the old updated_ms; a clock
	 * that went back refills nothing.
	 */
	[S_RATE_TAKE] = { "rate take",
	    "UPDATE msg_rate SET "
	    "tokens_milli = " DB_RATE_REFILL " - 1000, "
	    "updated_ms = " DB_NOW_MS " "
	    "WHERE user_id = ? AND " DB_RATE_REFILL " >= 1000", 5, 0 },
	/* A new user starts with a full bucket, less the token it takes. */
	[S_RATE_NEW] = { "rate bucket",
	    "INSERT IGNORE INTO msg_rate (user_id, tokens_milli, updated_ms) "
	    "VALUES (?, ?, " DB_NOW_MS ")", 2, 0 },
	[S_DM_PEERS] = { "direct message recipients", PEER_COLS
	    "FROM users u LEFT JOIN user_certs c ON c.user_id = u.id "
	    "WHERE u.id = ? OR u.username = ? "
	    "ORDER BY u.id, c.added_at, c.cert_sha256", 3, 5 },
	[S_ROOM_PEERS] = { "room message recipients", PEER_COLS
	    "FROM rooms r JOIN room_members m ON m.room_id = r.id "
	    "JOIN users u ON u.id = m.user_id "
	    "LEFT JOIN user_certs c ON c.user_id = u.id WHERE r.name = ? "
	    "ORDER BY u.username, c.added_at, c.cert_sha256", 2, 5 },
	[S_QUEUE_LEN] = { "queue length",
	    "SELECT COUNT(*) FROM deliveries WHERE recipient_id = ? AND "
	    "state = 0", 1, 1 },
	[S_ENV_INSERT] = { "envelope insert",
	    "INSERT INTO envelopes (sender_id, room, created_at, expires_at, "
	    "envelope) VALUES (?, ?, UTC_TIMESTAMP(3), "
	    "UTC_TIMESTAMP(3) + INTERVAL ? DAY, ?)", 4, 0 },
	[S_DLV_INSERT] = { "delivery insert",
	    "INSERT INTO deliveries (envelope_id, recipient_id, queued_at) "
	    "VALUES (?, ?, UTC_TIMESTAMP(3))", 2, 0 },
	[S_FETCH] = { "fetch",
	    "SELECT d.envelope_id, u.username, e.envelope "
	    "FROM deliveries d JOIN envelopes e ON e.id = d.envelope_id "
	    "JOIN users u ON u.id = e.sender_id "
	    "WHERE d.recipient_id = ? AND d.state = 0 AND d.envelope_id > ? "
	    "AND e.expires_at > UTC_TIMESTAMP(3) "
	    "ORDER BY d.envelope_id LIMIT 1", 2, 3 },
	[S_ACK_GET] = { "ack lookup",
	    "SELECT u.username FROM deliveries d "
	    "JOIN envelopes e ON e.id = d.envelope_id "
	    "JOIN users u ON u.id = e.sender_id "
	    "WHERE d.envelope_id = ? AND d.recipient_id = ?", 2, 1 },
	/*
	 * Forward only: the WHERE clause leaves a delivery at or above
	 * the state asked for as it is.  Being read implies being
	 * delivered, so a direct "read" also sets delivered_at.
	 */
	[S_ACK_SET] = { "ack",
	    "UPDATE deliveries SET state = ?, "
	    "delivered_at = COALESCE(delivered_at, UTC_TIMESTAMP(3)), "
	    "read_at = IF(? = 2, UTC_TIMESTAMP(3), read_at) "
	    "WHERE envelope_id = ? AND recipient_id = ? AND state < ?", 5, 0 },
	/* In slices, so that no statement holds locks for long. */
	[S_MSG_EXPIRE] = { "message expiry",
	    "DELETE FROM envelopes WHERE expires_at <= UTC_TIMESTAMP(3) "
	    "LIMIT 1000", 0, 0 },
	[S_ROOM_ID] = { "room id",
	    "SELECT id FROM rooms WHERE name = ?", 1, 1 },
	/*
	 * Creating or finding the room locks its row for the rest of the
	 * transaction, so that concurrent JOINs (and a LEAVE that would
	 * delete it) on any node are serialised and the size holds.
	 */
	[S_ROOM_CREATE] = { "room create",
	    "INSERT INTO rooms (name, created_at) VALUES (?, UTC_TIMESTAMP()) "
	    "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)", 1, 0 },
	[S_ROOM_COUNT] = { "room size",
	    "SELECT COUNT(*), COALESCE(SUM(user_id = ?), 0) FROM room_members "
	    "WHERE room_id = ?", 2, 2 },
	[S_ROOM_MINE] = { "rooms of user",
	    "SELECT COUNT(*) FROM room_members WHERE user_id = ?", 1, 1 },
	[S_ROOM_ADD] = { "room join",
	    "INSERT INTO room_members (room_id, user_id, joined_at) "
	    "VALUES (?, ?, UTC_TIMESTAMP())", 2, 0 },
	[S_ROOM_LOCK] = { "room lock",
	    "SELECT id FROM rooms WHERE name = ? FOR UPDATE", 1, 1 },
	[S_ROOM_DEL] = { "room leave",
	    "DELETE FROM room_members WHERE room_id = ? AND user_id = ?",
	    2, 0 },
	[S_ROOM_EMPTY] = { "room delete",
	    "DELETE FROM rooms WHERE id = ? AND NOT EXISTS "
	    "(SELECT 1 FROM room_members WHERE room_id = ?)", 2, 0 },
	[S_ROOM_MEMBERS] = { "room members",
	    "SELECT u.id, u.username FROM room_members m "
	    "JOIN users u ON u.id = m.user_id WHERE m.room_id = ? "
	    "ORDER BY u.username", 1, 2 },
	[S_USER_ROOMS] = { "user rooms",
	    "SELECT r.id, r.name FROM room_members m "
	    "JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ? "
	    "ORDER BY r.name", 1, 2 },
	[S_THROTTLE_CHECK] = { "throttle check",
	    "SELECT failures FROM auth_failures WHERE scope = ? AND "
	    "subject = ? AND window_start + ? > UNIX_TIMESTAMP()", 3, 1 },
	/*
	 * One statement, so concurrent nodes cannot lose a count.  MariaDB
	 * evaluates the assignments left to right: failures is computed
	 * from the old window_start before window_start moves.
	 */
	[S_THROTTLE_FAIL] = { "throttle count",
	    "INSERT INTO auth_failures "
	    "(scope, subject, window_start, failures) VALUES "
	    "(?, ?, UNIX_TIMESTAMP(), 1) ON DUPLICATE KEY UPDATE "
	    "failures = IF(window_start + ? <= UNIX_TIMESTAMP(), 1, "
	    "failures + 1), "
	    "window_start = IF(window_start + ? <= UNIX_TIMESTAMP(), "
	    "UNIX_TIMESTAMP(), window_start)", 4, 0 },
	[S_THROTTLE_RESET] = { "throttle reset",
	    "DELETE FROM auth_failures WHERE scope = ? AND subject = ?", 2, 0 },
	[S_THROTTLE_EXPIRE] = { "throttle expiry",
	    "DELETE FROM auth_failures WHERE window_start + ? <= "
	    "UNIX_TIMESTAMP()", 1, 0 },
};

struct authdb {
	struct dbconf	 conf;
	MYSQL		*db;
	MYSQL_STMT	*st[S_COUNT];	/* prepared on db, or NULL */
	int		 in_txn;
	int		 down;		/* last attempt failed (log changes) */
	time_t		 retry_at;	/* no new connect before (monotonic) */
};

/*
 * After a failed connect, requests fail at once for this long instead of
 * each waiting for its own connect timeout: authd serves every session
 * from one thread, and an unreachable server must not stall them all.
 */
#define DB_RETRY_INTERVAL	1
/*
 * A stale connection (the server restarted) fails at once; a statement
 * that failed only after this long met a server that is hung, and
 * reconnecting would only add a connect timeout to the wait.
 */
#define DB_STALE_MAX_MS		1000

static enum authdb_rc classify(unsigned int);

const char *
authdb_rc_str(enum authdb_rc rc)
{
	switch (rc) {
	case ADB_OK:
		return "ok";
	case ADB_NOTFOUND:
		return "not found";
	case ADB_DUP:
		return "duplicate";
	case ADB_UNAVAILABLE:
		return "database unavailable";
	case ADB_TOOMANY:
		return "too many rows";
	default:
		return "database error";
	}
}

struct authdb *
authdb_new(const struct dbconf *conf)
{
	struct authdb *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->conf = *conf;
	return a;
}

/* Close one cached statement: its next use prepares it again. */
static void
stmt_drop(struct authdb *a, enum stmt_id id)
{
	if (a->st[id] != NULL)
		mysql_stmt_close(a->st[id]);
	a->st[id] = NULL;
}

/*
 * Drop every cached statement.  Called after mysql_close() the handles
 * were invalidated by the client library and closing them only frees
 * memory; on a live connection it also frees them on the server.
 */
static void
stmt_drop_all(struct authdb *a)
{
	size_t i;

	for (i = 0; i < S_COUNT; i++)
		stmt_drop(a, (enum stmt_id)i);
}

static void
disconnect(struct authdb *a)
{
	/* Close first: a dead connection is not written to again. */
	if (a->db != NULL)
		mysql_close(a->db);
	a->db = NULL;
	stmt_drop_all(a);
}

void
authdb_free(struct authdb *a)
{
	if (a == NULL)
		return;
	disconnect(a);
	dbconf_clear(&a->conf);
	freezero(a, sizeof(*a));
}

static enum authdb_rc
classify(unsigned int err)
{
	if (err == ER_DUP_ENTRY)
		return ADB_DUP;
	if (dbconf_err_unavailable(err))
		return ADB_UNAVAILABLE;
	return ADB_INTERNAL;
}

/*
 * The statement was not executed and may be prepared again at once: the
 * server dropped it (a schema change it could not re-prepare by itself,
 * or a handle it no longer knows).
 */
static int
err_reprepare(unsigned int err)
{
	return err == ER_NEED_REPREPARE || err == ER_UNKNOWN_STMT_HANDLER;
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The server went away during a statement: drop the connection, and
 * fail the requests of the next DB_RETRY_INTERVAL at once, as after a
 * failed connect.  Without this, every request behind a hung server
 * would wait out its own connect timeout in authd's single thread.
 */
static void
mark_down(struct authdb *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	a->down = 1;
	a->retry_at = now.tv_sec + DB_RETRY_INTERVAL;
	disconnect(a);
}

/*
 * Log a statement failure; the SQL text is ours, never a value.  A
 * statement that failed for any reason but a duplicate key is closed
 * (it may be left in a state the next execution would trip on); when the
 * server went away, the whole connection goes.
 */
static enum authdb_rc
stmt_fail(struct authdb *a, enum stmt_id id, const char *what)
{
	MYSQL_STMT *st = a->st[id];
	unsigned int err = mysql_stmt_errno(st);
	enum authdb_rc rc = classify(err);

	if (rc == ADB_UNAVAILABLE) {
		if (!a->down)
			log_warnx("database unavailable (%s): %s", what,
			    mysql_stmt_error(st));
		mark_down(a);
	} else if (rc == ADB_INTERNAL) {
		log_warnx("database: %s: error %u: %s", what, err,
		    mysql_stmt_error(st));
		stmt_drop(a, id);
	}
	return rc;
}

/*
 * Is the idle connection still there?  A server that exited (or killed
 * the connection) has closed its end, so the socket is readable: there
 * is nothing an idle client connection should have to read.  One poll()
 * instead of a round trip; a hung server still looks alive here, and
 * its statement fails after the read timeout as before.
 */
static int
conn_stale(struct authdb *a)
{
	struct pollfd pfd;

	pfd.fd = (int)mysql_get_socket(a->db);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return 1;
	return poll(&pfd, 1, 0) != 0;
}

/* ---- statement helpers ---- */

static void
in_str(MYSQL_BIND *b, const char *s)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_STRING;
	b->buffer = (void *)(uintptr_t)s;
	b->buffer_length = (unsigned long)strlen(s);
}

/* Binary values are bound as BLOB: the server then takes them as bytes,
 * without any character set conversion. */
static void
in_bin(MYSQL_BIND *b, const void *p, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_BLOB;
	b->buffer = (void *)(uintptr_t)p;
	b->buffer_length = (unsigned long)len;
}

static void
in_u64(MYSQL_BIND *b, const uint64_t *v)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_LONGLONG;
	b->buffer = (void *)(uintptr_t)v;
	b->is_unsigned = 1;
}

/* A NULL parameter (a direct message's room). */
static void
in_null(MYSQL_BIND *b)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_NULL;
}

static void
out_u64(MYSQL_BIND *b, uint64_t *v, my_bool *isnull)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_LONGLONG;
	b->buffer = v;
	b->is_unsigned = 1;
	b->is_null = isnull;
}

static void
out_buf(MYSQL_BIND *b, void *buf, size_t cap, unsigned long *len,
    my_bool *isnull)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_BLOB;
	b->buffer = buf;
	b->buffer_length = (unsigned long)cap;
	b->length = len;
	b->is_null = isnull;
}

/*
 * Called for each row of a multi-row result, the values in the result
 * binds; returns 0, or -1 to stop with rc (ADB_TOOMANY, ADB_INTERNAL).
 */
typedef int (*row_fn)(void *arg, enum authdb_rc *rc);

/*
 * The prepared statement id, from the cache or prepared now.  A stale
 * connection shows here first (outside a transaction: a transaction
 * cannot move to a new connection): reconnect, once.
 */
static enum authdb_rc
stmt_get(struct authdb *a, enum stmt_id id, MYSQL_STMT **stp)
{
	const struct stmt_def *d = &stmts[id];
	MYSQL_STMT *st;
	enum authdb_rc rc;
	long long t0;
	int attempt;

	*stp = NULL;
	for (attempt = 0; ; attempt++) {
		if (a->db != NULL && !a->in_txn && conn_stale(a)) {
			log_debug("database: connection closed by the "
			    "server; reconnecting");
			disconnect(a);
		}
		if ((rc = authdb_connect(a)) != ADB_OK)
			return rc;
		if ((st = a->st[id]) != NULL) {
			*stp = st;
			return ADB_OK;
		}
		if ((st = mysql_stmt_init(a->db)) == NULL) {
			log_warnx("database: %s: out of memory", d->what);
			return ADB_INTERNAL;
		}
		a->st[id] = st;
		t0 = mono_ms();
		if (mysql_stmt_prepare(st, d->sql,
		    (unsigned long)strlen(d->sql)) == 0)
			break;
		if (attempt == 0 && !a->in_txn &&
		    dbconf_err_unavailable(mysql_stmt_errno(st)) &&
		    mono_ms() - t0 < DB_STALE_MAX_MS) {
			log_debug("database: %s: %s; reconnecting", d->what,
			    mysql_stmt_error(st));
			disconnect(a);
			continue;
		}
		return stmt_fail(a, id, d->what);
	}
	if (mysql_stmt_param_count(st) != d->nin ||
	    mysql_stmt_field_count(st) != d->nout) {
		log_warnx("database: %s: statement shape mismatch", d->what);
		stmt_drop(a, id);
		return ADB_INTERNAL;
	}
	*stp = st;
	return ADB_OK;
}

/*
 * Bind and execute statement id; with `out`, fetch at most one row into
 * it (*found says whether there was one), or with each_row every row,
 * one after the other.  *affected, *insert_id as asked.
 */
static enum authdb_rc
run_rows(struct authdb *a, enum stmt_id id, MYSQL_BIND *in, unsigned int nin,
    MYSQL_BIND *out, unsigned int nout, row_fn each_row, void *arg,
    int *found, uint64_t *affected, uint64_t *insert_id)
{
	const char *what = stmts[id].what;
	MYSQL_STMT *st;
	enum authdb_rc rc;
	unsigned int err;
	long long t0;
	int attempt, r;

	if (found != NULL)
		*found = 0;
	if (nin != stmts[id].nin || nout != stmts[id].nout) {
		log_warnx("database: %s: called with the wrong shape", what);
		return ADB_INTERNAL;
	}
	for (attempt = 0; ; attempt++) {
		if ((rc = stmt_get(a, id, &st)) != ADB_OK)
			return rc;
		if (nin > 0 && mysql_stmt_bind_param(st, in) != 0)
			return stmt_fail(a, id, what);
		t0 = mono_ms();
		if (mysql_stmt_execute(st) == 0)
			break;
		err = mysql_stmt_errno(st);
		/*
		 * Not executed: the server wants it prepared again, or
		 * (CR_SERVER_GONE_ERROR) the request could not even be
		 * sent.  Either may be tried again, once; a request that
		 * went out and got no answer (CR_SERVER_LOST) may not.
		 */
		if (attempt == 0 && err_reprepare(err)) {
			log_debug("database: %s: %s; preparing again", what,
			    mysql_stmt_error(st));
			stmt_drop_all(a);
			continue;
		}
		if (attempt == 0 && !a->in_txn &&
		    err == CR_SERVER_GONE_ERROR &&
		    mono_ms() - t0 < DB_STALE_MAX_MS) {
			log_debug("database: %s: %s; reconnecting", what,
			    mysql_stmt_error(st));
			disconnect(a);
			continue;
		}
		return stmt_fail(a, id, what);
	}
	if (nout > 0) {
		if (mysql_stmt_bind_result(st, out) != 0)
			return stmt_fail(a, id, what);
		rc = ADB_OK;
		for (;;) {
			r = mysql_stmt_fetch(st);
			if (r == MYSQL_DATA_TRUNCATED) {
				log_warnx("database: %s: value larger than "
				    "expected", what);
				rc = ADB_INTERNAL;
				break;
			}
			if (r == 1)
				return stmt_fail(a, id, what);
			if (found != NULL && r == 0)
				*found = 1;
			if (r != 0 || each_row == NULL)
				break;
			if (each_row(arg, &rc) == -1)
				break;
		}
		/* Reads (and drops) any rows left: the next use needs it. */
		if (mysql_stmt_free_result(st) != 0)
			return stmt_fail(a, id, what);
		if (rc != ADB_OK)
			return rc;
	}
	if (affected != NULL)
		*affected = mysql_stmt_affected_rows(st);
	if (insert_id != NULL)
		*insert_id = mysql_stmt_insert_id(st);
	return ADB_OK;
}

static enum authdb_rc
run(struct authdb *a, enum stmt_id id, MYSQL_BIND *in, unsigned int nin,
    MYSQL_BIND *out, unsigned int nout, int *found, uint64_t *affected,
    uint64_t *insert_id)
{
	return run_rows(a, id, in, nin, out, nout, NULL, NULL, found,
	    affected, insert_id);
}

/* Statements without parameters or results (transaction control). */
static enum authdb_rc
simple(struct authdb *a, const char *sql)
{
	enum authdb_rc rc;

	if (a->db != NULL && !a->in_txn && conn_stale(a)) {
		log_debug("database: connection closed by the server; "
		    "reconnecting");
		disconnect(a);
	}
	if ((rc = authdb_connect(a)) != ADB_OK)
		return rc;
	if (mysql_real_query(a->db, sql, (unsigned long)strlen(sql)) != 0) {
		unsigned int err = mysql_errno(a->db);

		rc = classify(err);
		if (rc == ADB_UNAVAILABLE) {
			if (!a->down)
				log_warnx("database unavailable (%s): %s", sql,
				    mysql_error(a->db));
			mark_down(a);
		} else
			log_warnx("database: %s: error %u: %s", sql, err,
			    mysql_error(a->db));
		return rc == ADB_DUP ? ADB_INTERNAL : rc;
	}
	return ADB_OK;
}

static enum authdb_rc
check_schema(struct authdb *a)
{
	unsigned int version = 0, err;

	if (dbconf_schema_version(a->db, &version, &err) == -1) {
		if (dbconf_err_unavailable(err))
			return ADB_UNAVAILABLE;
		log_warnx("database: schema version: error %u", err);
		return ADB_INTERNAL;
	}
	if (version != AUTHDB_SCHEMA_VERSION) {
		log_warnx("database schema version %u, this authd needs %d: "
		    "run \"sc-admin db init\"%s", version,
		    AUTHDB_SCHEMA_VERSION, version > AUTHDB_SCHEMA_VERSION ?
		    " from the matching release" : "");
		return ADB_INTERNAL;
	}
	return ADB_OK;
}

enum authdb_rc
authdb_connect(struct authdb *a)
{
	char errbuf[512];
	unsigned int err;
	enum authdb_rc rc;
	struct timespec now;

	if (a->db != NULL)
		return ADB_OK;
	/* A transaction cannot continue on a new connection. */
	if (a->in_txn)
		return ADB_UNAVAILABLE;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (a->down && now.tv_sec < a->retry_at)
		return ADB_UNAVAILABLE;
	if ((a->db = dbconf_connect(&a->conf, &err, errbuf,
	    sizeof(errbuf))) == NULL) {
		rc = classify(err);
		if (rc != ADB_UNAVAILABLE)
			rc = ADB_INTERNAL;
		if (!a->down || rc == ADB_INTERNAL)
			log_warnx("database connect: %s", errbuf);
		a->down = 1;
		a->retry_at = now.tv_sec + DB_RETRY_INTERVAL;
		return rc;
	}
	if ((rc = check_schema(a)) != ADB_OK) {
		disconnect(a);
		a->down = 1;
		a->retry_at = now.tv_sec + DB_RETRY_INTERVAL;
		return rc;
	}
	if (a->down)
		log_info("database connection %s", "established");
	else
		log_debug("database connection established");
	a->down = 0;
	return ADB_OK;
}

/* ---- accounts ---- */

enum authdb_rc
authdb_user_get(struct authdb *a, const char *username, struct authdb_user *u)
{
	MYSQL_BIND in[1], out[9];
	my_bool nul[9];
	unsigned long ulen = 0, klen = 0, slen = 0, hlen = 0;
	uint64_t disabled = 0, n = 0, r = 0, p = 0;
	char kdf[17];
	int found;
	enum authdb_rc rc;

	memset(u, 0, sizeof(*u));
	memset(nul, 0, sizeof(nul));
	memset(kdf, 0, sizeof(kdf));
	in_str(&in[0], username);
	out_u64(&out[0], &u->id, &nul[0]);
	out_buf(&out[1], u->username, sizeof(u->username) - 1, &ulen, &nul[1]);
	out_u64(&out[2], &disabled, &nul[2]);
	out_buf(&out[3], kdf, sizeof(kdf) - 1, &klen, &nul[3]);
	out_buf(&out[4], u->pw.salt, sizeof(u->pw.salt), &slen, &nul[4]);
	out_buf(&out[5], u->pw.hash, sizeof(u->pw.hash), &hlen, &nul[5]);
	out_u64(&out[6], &n, &nul[6]);
	out_u64(&out[7], &r, &nul[7]);
	out_u64(&out[8], &p, &nul[8]);
	rc = run(a, S_USER_GET, in, 1, out, 9, &found, NULL, NULL);
	if (rc != ADB_OK)
		goto fail;
	if (!found) {
		rc = ADB_NOTFOUND;
		goto fail;
	}
	for (size_t i = 0; i < 6; i++)
		if (nul[i])
			goto bad;
	u->username[ulen] = '\0';
	kdf[klen] = '\0';
	u->disabled = disabled != 0;
	u->pw.salt_len = slen;
	u->pw.hash_len = hlen;
	if ((u->pw.kdf = pw_kdf_from_name(kdf)) == PW_KDF_NONE)
		goto bad;
	if (u->pw.kdf == PW_KDF_SCRYPT) {
		if (nul[6] || nul[7] || nul[8] || r > UINT32_MAX ||
		    p > UINT32_MAX)
			goto bad;
		u->pw.params.N = n;
		u->pw.params.r = (uint32_t)r;
		u->pw.params.p = (uint32_t)p;
	}
	return ADB_OK;
 bad:
	log_warnx("database: user id %llu has a malformed password record",
	    (unsigned long long)u->id);
	rc = ADB_INTERNAL;
 fail:
	pw_record_clear(&u->pw);
	memset(u, 0, sizeof(*u));
	return rc;
}

/* ---- transactions ---- */

static enum authdb_rc
txn_begin(struct authdb *a)
{
	enum authdb_rc rc;

	if ((rc = simple(a, "START TRANSACTION")) == ADB_OK)
		a->in_txn = 1;
	return rc;
}

static void
txn_rollback(struct authdb *a)
{
	if (a->db != NULL)
		(void)simple(a, "ROLLBACK");
	a->in_txn = 0;
}

static enum authdb_rc
txn_commit(struct authdb *a)
{
	enum authdb_rc rc;

	if ((rc = simple(a, "COMMIT")) != ADB_OK) {
		txn_rollback(a);
		return rc;
	}
	a->in_txn = 0;
	return ADB_OK;
}

enum authdb_rc
authdb_user_create(struct authdb *a, const char *username, const char *email,
    const struct pw_record *pw, const uint8_t cert[32], const uint8_t *der,
    size_t derlen, uint64_t *idp)
{
	MYSQL_BIND in[8];
	uint64_t n = pw->params.N, r = pw->params.r, p = pw->params.p, id = 0;
	enum authdb_rc rc;

	*idp = 0;
	if ((rc = txn_begin(a)) != ADB_OK)
		return rc;
	in_str(&in[0], username);
	in_str(&in[1], email);
	in_str(&in[2], pw_kdf_name(pw->kdf));
	in_bin(&in[3], pw->salt, pw->salt_len);
	in_bin(&in[4], pw->hash, pw->hash_len);
	in_u64(&in[5], &n);
	in_u64(&in[6], &r);
	in_u64(&in[7], &p);
	if ((rc = run(a, S_USER_INSERT, in, 8, NULL, 0, NULL, NULL,
	    &id)) != ADB_OK)
		goto rollback;
	in_u64(&in[0], &id);
	in_bin(&in[1], cert, 32);
	if (der != NULL)
		in_bin(&in[2], der, derlen);
	else
		in_null(&in[2]);
	if ((rc = run(a, S_CERT_INSERT, in, 3, NULL, 0, NULL,
	    NULL, NULL)) != ADB_OK)
		goto rollback;
	if ((rc = txn_commit(a)) != ADB_OK)
		return rc;
	*idp = id;
	return ADB_OK;
 rollback:
	txn_rollback(a);
	return rc;
}

/* The id of the row named name, by a one-column lookup statement. */
static enum authdb_rc
id_by_name(struct authdb *a, enum stmt_id st, const char *name,
    uint64_t *idp)
{
	MYSQL_BIND in[1], out[1];
	my_bool isnull = 0;
	int found;
	enum authdb_rc rc;

	*idp = 0;
	in_str(&in[0], name);
	out_u64(&out[0], idp, &isnull);
	if ((rc = run(a, st, in, 1, out, 1, &found, NULL, NULL)) != ADB_OK)
		return rc;
	if (!found || isnull) {
		*idp = 0;
		return ADB_NOTFOUND;
	}
	return ADB_OK;
}

enum authdb_rc
authdb_user_id(struct authdb *a, const char *username, uint64_t *idp)
{
	return id_by_name(a, S_USER_ID, username, idp);
}

enum authdb_rc
authdb_user_rehash(struct authdb *a, uint64_t id, const struct pw_record *old,
    const struct pw_record *nw)
{
	MYSQL_BIND in[9];
	uint64_t n = nw->params.N, r = nw->params.r, p = nw->params.p;
	uint64_t affected = 0;
	enum authdb_rc rc;

	in_str(&in[0], pw_kdf_name(nw->kdf));
	in_bin(&in[1], nw->salt, nw->salt_len);
	in_bin(&in[2], nw->hash, nw->hash_len);
	in_u64(&in[3], &n);
	in_u64(&in[4], &r);
	in_u64(&in[5], &p);
	in_u64(&in[6], &id);
	in_str(&in[7], pw_kdf_name(old->kdf));
	in_bin(&in[8], old->hash, old->hash_len);
	if ((rc = run(a, S_USER_REHASH, in, 9, NULL, 0, NULL,
	    &affected, NULL)) != ADB_OK)
		return rc;
	return affected == 1 ? ADB_OK : ADB_NOTFOUND;
}

enum authdb_rc
authdb_login_record(struct authdb *a, uint64_t id)
{
	MYSQL_BIND in[1];

	in_u64(&in[0], &id);
	return run(a, S_LOGIN_RECORD, in, 1, NULL, 0, NULL, NULL, NULL);
}

/* ---- certificates ---- */

enum authdb_rc
authdb_cert_lookup(struct authdb *a, uint64_t id, const uint8_t cert[32],
    int *bound, int *has_der, uint64_t *nbound)
{
	MYSQL_BIND in[3], out[3];
	my_bool nul[3] = { 0, 0, 0 };
	uint64_t n = 0, b = 0, d = 0;
	enum authdb_rc rc;

	*bound = *has_der = 0;
	*nbound = 0;
	in_bin(&in[0], cert, 32);
	in_bin(&in[1], cert, 32);
	in_u64(&in[2], &id);
	out_u64(&out[0], &n, &nul[0]);
	out_u64(&out[1], &b, &nul[1]);
	out_u64(&out[2], &d, &nul[2]);
	if ((rc = run(a, S_CERT_LOOKUP, in, 3, out, 3, NULL, NULL,
	    NULL)) != ADB_OK)
		return rc;
	*nbound = nul[0] ? 0 : n;
	*bound = !nul[1] && b > 0;
	*has_der = !nul[2] && d > 0;
	return ADB_OK;
}

enum authdb_rc
authdb_cert_bind(struct authdb *a, uint64_t id, const uint8_t cert[32],
    const uint8_t *der, size_t derlen)
{
	MYSQL_BIND in[3];

	in_u64(&in[0], &id);
	in_bin(&in[1], cert, 32);
	if (der != NULL)
		in_bin(&in[2], der, derlen);
	else
		in_null(&in[2]);
	return run(a, S_CERT_BIND, in, 3, NULL, 0, NULL, NULL,
	    NULL);
}

void
authdb_certs_free(struct authdb_certs *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].der);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void
authdb_names_free(struct authdb_names *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/*
 * Make room for one more row in a list of n entries of size bytes each
 * (*vp, *capp), at most max of them.  Returns 0, or -1 with *rc.
 */
static int
list_room(void **vp, size_t *capp, size_t n, size_t size, size_t max,
    enum authdb_rc *rc)
{
	void *nv;

	if (n >= max) {
		*rc = ADB_TOOMANY;
		return -1;
	}
	if (n < *capp)
		return 0;
	if ((nv = reallocarray(*vp, *capp + 16, size)) == NULL) {
		*rc = ADB_INTERNAL;
		return -1;
	}
	*vp = nv;
	*capp += 16;
	return 0;
}

/* The result row of a certificate query, copied into a list. */
struct cert_row {
	struct authdb_certs	*out;
	size_t			 max;
	uint64_t		 user_id;
	char			 name[ACCOUNT_USER_MAX + 1];
	unsigned long		 namelen;
	uint8_t			 fp[AUTHDB_FP_LEN];
	unsigned long		 fplen;
	uint8_t			 der[AUTHDB_DER_MAX];
	unsigned long		 derlen;
	my_bool			 nul[4];
};

static int
cert_row_add(void *arg, enum authdb_rc *rc)
{
	struct cert_row *r = arg;
	struct authdb_certs *l = r->out;
	struct authdb_cert *c;
	void *nv;

	if (r->nul[0] || r->nul[1] || r->nul[2] || r->fplen != AUTHDB_FP_LEN ||
	    r->namelen > ACCOUNT_USER_MAX) {
		log_warnx("database: malformed certificate row");
		*rc = ADB_INTERNAL;
		return -1;
	}
	nv = l->v;
	if (list_room(&nv, &l->cap, l->n, sizeof(*l->v), r->max, rc) == -1)
		return -1;
	l->v = nv;
	c = &l->v[l->n];
	memset(c, 0, sizeof(*c));
	c->user_id = r->user_id;
	memcpy(c->username, r->name, r->namelen);
	c->username[r->namelen] = '\0';
	memcpy(c->fp, r->fp, AUTHDB_FP_LEN);
	if (!r->nul[3]) {
		if (r->derlen == 0 || (c->der = malloc(r->derlen)) == NULL) {
			*rc = ADB_INTERNAL;
			return -1;
		}
		memcpy(c->der, r->der, r->derlen);
		c->derlen = r->derlen;
	}
	l->n++;
	return 0;
}

static enum authdb_rc
certs_query(struct authdb *a, enum stmt_id id, uint64_t key, size_t max,
    struct authdb_certs *out)
{
	struct cert_row *r;
	MYSQL_BIND in[1], out_b[4];
	enum authdb_rc rc;

	/* 8 KiB of DER: not on the stack. */
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return ADB_INTERNAL;
	r->out = out;
	r->max = max;
	in_u64(&in[0], &key);
	out_u64(&out_b[0], &r->user_id, &r->nul[0]);
	out_buf(&out_b[1], r->name, sizeof(r->name) - 1, &r->namelen,
	    &r->nul[1]);
	out_buf(&out_b[2], r->fp, sizeof(r->fp), &r->fplen, &r->nul[2]);
	out_buf(&out_b[3], r->der, sizeof(r->der), &r->derlen, &r->nul[3]);
	rc = run_rows(a, id, in, 1, out_b, 4, cert_row_add, r, NULL,
	    NULL, NULL);
	free(r);
	if (rc != ADB_OK)
		authdb_certs_free(out);
	return rc;
}

enum authdb_rc
authdb_user_certs(struct authdb *a, uint64_t id, int with_der, size_t max,
    struct authdb_certs *out)
{
	return certs_query(a, with_der ? S_USER_CERTS_DER : S_USER_CERTS_ALL,
	    id, max, out);
}

enum authdb_rc
authdb_room_certs(struct authdb *a, uint64_t room_id, int with_der,
    size_t max, struct authdb_certs *out)
{
	return certs_query(a, with_der ? S_ROOM_CERTS_DER : S_ROOM_CERTS_ALL,
	    room_id, max, out);
}

/* ---- the message store ---- */

/* One take from the bucket: *taken = 1 when the row had a token. */
static enum authdb_rc
rate_update(struct authdb *a, uint64_t id, uint64_t full, uint64_t rate,
    int *taken)
{
	MYSQL_BIND in[5];
	uint64_t affected = 0;
	enum authdb_rc rc;

	in_u64(&in[0], &full);
	in_u64(&in[1], &rate);
	in_u64(&in[2], &id);
	in_u64(&in[3], &full);
	in_u64(&in[4], &rate);
	rc = run(a, S_RATE_TAKE, in, 5, NULL, 0, NULL, &affected, NULL);
	/* CLIENT_FOUND_ROWS (dbconf.c): matched rows, here 0 or 1. */
	*taken = rc == ADB_OK && affected == 1;
	return rc;
}

/*
 * The user's bucket is there and has a token: one statement, the usual
 * case.  Otherwise the bucket may be missing (the user's first message):
 * create it full, less the token this message takes.  When it was there
 * after all (no token, or another node created it in between), the take
 * is tried once more on it, so that a race between two nodes never
 * refuses a message that had a token.
 */
enum authdb_rc
authdb_rate_take(struct authdb *a, uint64_t id, unsigned int rate,
    unsigned int burst, int *taken)
{
	MYSQL_BIND in[2];
	uint64_t full = (uint64_t)burst * 1000, r = rate, left, affected = 0;
	enum authdb_rc rc;

	*taken = 0;
	if ((rc = rate_update(a, id, full, r, taken)) != ADB_OK || *taken)
		return rc;
	left = full - 1000;	/* burst >= 1 (authd's -B) */
	in_u64(&in[0], &id);
	in_u64(&in[1], &left);
	if ((rc = run(a, S_RATE_NEW, in, 2, NULL, 0, NULL, &affected,
	    NULL)) != ADB_OK)
		return rc;
	if (affected == 1) {
		*taken = 1;
		return ADB_OK;
	}
	return rate_update(a, id, full, r, taken);
}

void
authdb_peers_free(struct authdb_peers *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The result row of a recipients query, copied into a list. */
struct peer_row {
	struct authdb_peers	*out;
	size_t			 max;
	uint64_t		 user_id;
	char			 name[ACCOUNT_USER_MAX + 1];
	unsigned long		 namelen;
	uint8_t			 fp[AUTHDB_FP_LEN];
	unsigned long		 fplen;
	uint64_t		 has_der;
	uint64_t		 queued;
	my_bool			 nul[5];
};

static int
peer_row_add(void *arg, enum authdb_rc *rc)
{
	struct peer_row *r = arg;
	struct authdb_peers *l = r->out;
	struct authdb_peer *p;
	void *nv;

	if (r->nul[0] || r->nul[1] || r->nul[4] ||
	    r->namelen > ACCOUNT_USER_MAX ||
	    (!r->nul[2] && r->fplen != AUTHDB_FP_LEN)) {
		log_warnx("database: malformed recipient row");
		*rc = ADB_INTERNAL;
		return -1;
	}
	nv = l->v;
	if (list_room(&nv, &l->cap, l->n, sizeof(*l->v), r->max, rc) == -1)
		return -1;
	l->v = nv;
	p = &l->v[l->n];
	memset(p, 0, sizeof(*p));
	p->user_id = r->user_id;
	memcpy(p->username, r->name, r->namelen);
	p->username[r->namelen] = '\0';
	if (!r->nul[2]) {
		p->has_cert = 1;
		memcpy(p->fp, r->fp, AUTHDB_FP_LEN);
		p->has_der = !r->nul[3] && r->has_der != 0;
	}
	p->queued = r->queued;
	l->n++;
	return 0;
}

static enum authdb_rc
peers_query(struct authdb *a, enum stmt_id id, MYSQL_BIND *in,
    unsigned int nin, size_t max, struct authdb_peers *out)
{
	struct peer_row r;
	MYSQL_BIND out_b[5];
	enum authdb_rc rc;

	memset(&r, 0, sizeof(r));
	r.out = out;
	r.max = max;
	out_u64(&out_b[0], &r.user_id, &r.nul[0]);
	out_buf(&out_b[1], r.name, sizeof(r.name) - 1, &r.namelen, &r.nul[1]);
	out_buf(&out_b[2], r.fp, sizeof(r.fp), &r.fplen, &r.nul[2]);
	out_u64(&out_b[3], &r.has_der, &r.nul[3]);
	out_u64(&out_b[4], &r.queued, &r.nul[4]);
	rc = run_rows(a, id, in, nin, out_b, 5, peer_row_add, &r, NULL, NULL,
	    NULL);
	if (rc != ADB_OK)
		authdb_peers_free(out);
	return rc;
}

enum authdb_rc
authdb_dm_peers(struct authdb *a, uint64_t sender_id, const char *other,
    size_t max, struct authdb_peers *out)
{
	MYSQL_BIND in[3];

	in_u64(&in[0], &sender_id);
	in_u64(&in[1], &sender_id);
	in_str(&in[2], other);
	return peers_query(a, S_DM_PEERS, in, 3, max, out);
}

enum authdb_rc
authdb_room_peers(struct authdb *a, uint64_t sender_id, const char *room,
    size_t max, struct authdb_peers *out)
{
	MYSQL_BIND in[2];

	in_u64(&in[0], &sender_id);
	in_str(&in[1], room);
	return peers_query(a, S_ROOM_PEERS, in, 2, max, out);
}

enum authdb_rc
authdb_queue_len(struct authdb *a, uint64_t id, uint64_t *n)
{
	MYSQL_BIND in[1], out[1];
	my_bool isnull = 0;
	enum authdb_rc rc;

	*n = 0;
	in_u64(&in[0], &id);
	out_u64(&out[0], n, &isnull);
	rc = run(a, S_QUEUE_LEN, in, 1, out, 1, NULL, NULL, NULL);
	if (isnull)
		*n = 0;
	return rc;
}

enum authdb_rc
authdb_envelope_store(struct authdb *a, uint64_t sender_id, const char *room,
    const uint8_t *env, size_t envlen, unsigned int retention_days,
    const uint64_t *rcpt, size_t nrcpt, uint64_t *idp)
{
	MYSQL_BIND in[4];
	uint64_t days = retention_days, id = 0;
	size_t i;
	enum authdb_rc rc;

	*idp = 0;
	if ((rc = txn_begin(a)) != ADB_OK)
		return rc;
	in_u64(&in[0], &sender_id);
	if (room != NULL)
		in_str(&in[1], room);
	else
		in_null(&in[1]);
	in_u64(&in[2], &days);
	in_bin(&in[3], env, envlen);
	if ((rc = run(a, S_ENV_INSERT, in, 4, NULL, 0, NULL,
	    NULL, &id)) != ADB_OK)
		goto rollback;
	for (i = 0; i < nrcpt; i++) {
		in_u64(&in[0], &id);
		in_u64(&in[1], &rcpt[i]);
		if ((rc = run(a, S_DLV_INSERT, in, 2, NULL, 0,
		    NULL, NULL, NULL)) != ADB_OK)
			goto rollback;
	}
	if ((rc = txn_commit(a)) != ADB_OK)
		return rc;
	*idp = id;
	return ADB_OK;
 rollback:
	txn_rollback(a);
	return rc == ADB_DUP ? ADB_INTERNAL : rc;
}

enum authdb_rc
authdb_fetch(struct authdb *a, uint64_t id, uint64_t after, int *found,
    uint64_t *env_id, char sender[ACCOUNT_USER_MAX + 1], uint8_t *env,
    size_t cap, size_t *envlen)
{
	MYSQL_BIND in[2], out[3];
	my_bool nul[3] = { 0, 0, 0 };
	unsigned long slen = 0, elen = 0;
	enum authdb_rc rc;

	*found = 0;
	*env_id = 0;
	*envlen = 0;
	sender[0] = '\0';
	in_u64(&in[0], &id);
	in_u64(&in[1], &after);
	out_u64(&out[0], env_id, &nul[0]);
	out_buf(&out[1], sender, ACCOUNT_USER_MAX, &slen, &nul[1]);
	out_buf(&out[2], env, cap, &elen, &nul[2]);
	if ((rc = run(a, S_FETCH, in, 2, out, 3, found, NULL, NULL)) !=
	    ADB_OK) {
		sender[0] = '\0';
		*found = 0;
		return rc;
	}
	if (!*found) {
		sender[0] = '\0';
		*env_id = 0;
		return ADB_OK;
	}
	if (nul[0] || nul[1] || nul[2] || slen > ACCOUNT_USER_MAX) {
		log_warnx("database: malformed queue row");
		*found = 0;
		sender[0] = '\0';
		return ADB_INTERNAL;
	}
	sender[slen] = '\0';
	*envlen = elen;
	return ADB_OK;
}

enum authdb_rc
authdb_ack(struct authdb *a, uint64_t id, uint64_t env_id, unsigned int state,
    char sender[ACCOUNT_USER_MAX + 1])
{
	MYSQL_BIND in[5], out[1];
	my_bool isnull = 0;
	unsigned long slen = 0;
	uint64_t st = state;
	int found;
	enum authdb_rc rc;

	sender[0] = '\0';
	in_u64(&in[0], &env_id);
	in_u64(&in[1], &id);
	out_buf(&out[0], sender, ACCOUNT_USER_MAX, &slen, &isnull);
	if ((rc = run(a, S_ACK_GET, in, 2, out, 1, &found, NULL,
	    NULL)) != ADB_OK || !found || isnull) {
		sender[0] = '\0';
		return rc != ADB_OK ? rc : ADB_NOTFOUND;
	}
	sender[slen] = '\0';
	in_u64(&in[0], &st);
	in_u64(&in[1], &st);
	in_u64(&in[2], &env_id);
	in_u64(&in[3], &id);
	in_u64(&in[4], &st);
	if ((rc = run(a, S_ACK_SET, in, 5, NULL, 0, NULL, NULL,
	    NULL)) != ADB_OK)
		sender[0] = '\0';
	return rc;
}

enum authdb_rc
authdb_expire_messages(struct authdb *a, uint64_t *deleted)
{
	uint64_t n;
	int i;
	enum authdb_rc rc;

	*deleted = 0;
	for (i = 0; i < 1000; i++) {
		n = 0;
		if ((rc = run(a, S_MSG_EXPIRE, NULL, 0, NULL, 0, NULL,
		    &n, NULL)) != ADB_OK)
			return rc;
		*deleted += n;
		if (n < 1000)
			break;
	}
	return ADB_OK;
}

/* ---- rooms ---- */

enum authdb_rc
authdb_room_id(struct authdb *a, const char *room, uint64_t *idp)
{
	return id_by_name(a, S_ROOM_ID, room, idp);
}

enum authdb_rc
authdb_room_join(struct authdb *a, uint64_t user_id, const char *room,
    unsigned int room_size, unsigned int max_rooms, enum authdb_join *result)
{
	MYSQL_BIND in[2], out[2];
	my_bool nul[2] = { 0, 0 };
	uint64_t room_id = 0, n = 0, me = 0, mine = 0;
	enum authdb_rc rc;

	*result = AUTHDB_JOIN_FULL;
	if ((rc = txn_begin(a)) != ADB_OK)
		return rc;
	in_str(&in[0], room);
	if ((rc = run(a, S_ROOM_CREATE, in, 1, NULL, 0, NULL, NULL,
	    &room_id)) != ADB_OK)
		goto rollback;
	if (room_id == 0) {
		rc = ADB_INTERNAL;
		goto rollback;
	}
	in_u64(&in[0], &user_id);
	in_u64(&in[1], &room_id);
	out_u64(&out[0], &n, &nul[0]);
	out_u64(&out[1], &me, &nul[1]);
	if ((rc = run(a, S_ROOM_COUNT, in, 2, out, 2, NULL, NULL,
	    NULL)) != ADB_OK)
		goto rollback;
	if (!nul[1] && me > 0) {
		*result = AUTHDB_JOIN_ALREADY;
		return txn_commit(a);
	}
	if (!nul[0] && n >= room_size) {
		*result = AUTHDB_JOIN_FULL;
		txn_rollback(a);
		return ADB_OK;
	}
	in_u64(&in[0], &user_id);
	out_u64(&out[0], &mine, &nul[0]);
	if ((rc = run(a, S_ROOM_MINE, in, 1, out, 1, NULL, NULL,
	    NULL)) != ADB_OK)
		goto rollback;
	if (!nul[0] && mine >= max_rooms) {
		/* Also undoes the room's creation. */
		*result = AUTHDB_JOIN_TOO_MANY;
		txn_rollback(a);
		return ADB_OK;
	}
	in_u64(&in[0], &room_id);
	in_u64(&in[1], &user_id);
	if ((rc = run(a, S_ROOM_ADD, in, 2, NULL, 0, NULL, NULL,
	    NULL)) != ADB_OK)
		goto rollback;
	if ((rc = txn_commit(a)) != ADB_OK)
		return rc;
	*result = AUTHDB_JOINED;
	return ADB_OK;
 rollback:
	txn_rollback(a);
	return rc == ADB_DUP ? ADB_INTERNAL : rc;
}

enum authdb_rc
authdb_room_leave(struct authdb *a, uint64_t user_id, const char *room)
{
	MYSQL_BIND in[2], out[1];
	my_bool isnull = 0;
	uint64_t room_id = 0, affected = 0;
	int found;
	enum authdb_rc rc;

	if ((rc = txn_begin(a)) != ADB_OK)
		return rc;
	in_str(&in[0], room);
	out_u64(&out[0], &room_id, &isnull);
	if ((rc = run(a, S_ROOM_LOCK, in, 1, out, 1, &found, NULL,
	    NULL)) != ADB_OK)
		goto rollback;
	if (!found || isnull) {
		txn_rollback(a);
		return ADB_NOTFOUND;
	}
	in_u64(&in[0], &room_id);
	in_u64(&in[1], &user_id);
	if ((rc = run(a, S_ROOM_DEL, in, 2, NULL, 0, NULL,
	    &affected, NULL)) != ADB_OK)
		goto rollback;
	if (affected == 0) {
		txn_rollback(a);
		return ADB_NOTFOUND;
	}
	in_u64(&in[0], &room_id);
	in_u64(&in[1], &room_id);
	if ((rc = run(a, S_ROOM_EMPTY, in, 2, NULL, 0, NULL, NULL,
	    NULL)) != ADB_OK)
		goto rollback;
	return txn_commit(a);
 rollback:
	txn_rollback(a);
	return rc == ADB_DUP ? ADB_INTERNAL : rc;
}

struct name_row {
	struct authdb_names	*out;
	size_t			 max;
	uint64_t		 id;
	char			 name[ACCOUNT_USER_MAX + 1];
	unsigned long		 len;
	my_bool			 nul[2];
};

static int
name_row_add(void *arg, enum authdb_rc *rc)
{
	struct name_row *r = arg;
	struct authdb_names *l = r->out;
	void *nv;

	if (r->nul[0] || r->nul[1] || r->len > ACCOUNT_USER_MAX) {
		log_warnx("database: malformed name row");
		*rc = ADB_INTERNAL;
		return -1;
	}
	nv = l->v;
	if (list_room(&nv, &l->cap, l->n, sizeof(*l->v), r->max, rc) == -1)
		return -1;
	l->v = nv;
	l->v[l->n].id = r->id;
	memcpy(l->v[l->n].name, r->name, r->len);
	l->v[l->n].name[r->len] = '\0';
	l->n++;
	return 0;
}

static enum authdb_rc
names_query(struct authdb *a, enum stmt_id id, uint64_t key,
    size_t max, struct authdb_names *out)
{
	struct name_row r;
	MYSQL_BIND in[1], out_b[2];
	enum authdb_rc rc;

	memset(&r, 0, sizeof(r));
	r.out = out;
	r.max = max;
	in_u64(&in[0], &key);
	out_u64(&out_b[0], &r.id, &r.nul[0]);
	out_buf(&out_b[1], r.name, sizeof(r.name) - 1, &r.len, &r.nul[1]);
	rc = run_rows(a, id, in, 1, out_b, 2, name_row_add, &r, NULL,
	    NULL, NULL);
	if (rc != ADB_OK)
		authdb_names_free(out);
	return rc;
}

enum authdb_rc
authdb_room_members(struct authdb *a, uint64_t room_id, size_t max,
    struct authdb_names *out)
{

	return names_query(a, S_ROOM_MEMBERS, room_id, max, out);
}

enum authdb_rc
authdb_user_rooms(struct authdb *a, uint64_t user_id, size_t max,
    struct authdb_names *out)
{

	return names_query(a, S_USER_ROOMS, user_id, max, out);
}

/* ---- throttling ---- */

enum authdb_rc
authdb_throttle_check(struct authdb *a, const char *scope, const char *subject,
    unsigned int maxfail, unsigned int window, int *limited)
{
	MYSQL_BIND in[3], out[1];
	uint64_t w = window, failures = 0;
	my_bool isnull = 0;
	int found;
	enum authdb_rc rc;

	*limited = 0;
	in_str(&in[0], scope);
	in_bin(&in[1], subject, strlen(subject));
	in_u64(&in[2], &w);
	out_u64(&out[0], &failures, &isnull);
	if ((rc = run(a, S_THROTTLE_CHECK, in, 3, out, 1, &found, NULL,
	    NULL)) != ADB_OK)
		return rc;
	*limited = found && !isnull && failures >= maxfail;
	return ADB_OK;
}

enum authdb_rc
authdb_throttle_fail(struct authdb *a, const char *scope, const char *subject,
    unsigned int window)
{
	MYSQL_BIND in[4];
	uint64_t w = window;

	in_str(&in[0], scope);
	in_bin(&in[1], subject, strlen(subject));
	in_u64(&in[2], &w);
	in_u64(&in[3], &w);
	return run(a, S_THROTTLE_FAIL, in, 4, NULL, 0, NULL, NULL, NULL);
}

enum authdb_rc
authdb_throttle_reset(struct authdb *a, const char *scope, const char *subject)
{
	MYSQL_BIND in[2];

	in_str(&in[0], scope);
	in_bin(&in[1], subject, strlen(subject));
	return run(a, S_THROTTLE_RESET, in, 2, NULL, 0, NULL, NULL, NULL);
}

enum authdb_rc
authdb_throttle_expire(struct authdb *a, unsigned int window)
{
	MYSQL_BIND in[1];
	uint64_t w = window;

	in_u64(&in[0], &w);
	return run(a, S_THROTTLE_EXPIRE, in, 1, NULL, 0, NULL, NULL, NULL);
}
