/*
 * db.c: authd's database access through prepared statements (see db.h).
 *
 * One connection, opened on demand.  A statement that fails while being
 * prepared because the server went away (the usual sign of a stale
 * connection after a database restart) is retried once on a new
 * connection, unless it failed only after a timeout (a hung server); a
 * failure during execution is not retried, because the statement may
 * have taken effect, and is reported as UNAVAILABLE.  After any failure
 * of that kind, requests fail at once for DB_RETRY_INTERVAL.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "log.h"

struct authdb {
	struct dbconf	 conf;
	MYSQL		*db;
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

static void
disconnect(struct authdb *a)
{
	if (a->db != NULL)
		mysql_close(a->db);
	a->db = NULL;
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

/* Log a statement failure; the SQL text is ours, never a value. */
static enum authdb_rc
stmt_fail(struct authdb *a, MYSQL_STMT *st, const char *what)
{
	unsigned int err = mysql_stmt_errno(st);
	enum authdb_rc rc = classify(err);

	if (rc == ADB_UNAVAILABLE) {
		if (!a->down)
			log_warnx("database unavailable (%s): %s", what,
			    mysql_stmt_error(st));
		mark_down(a);
	} else if (rc == ADB_INTERNAL)
		log_warnx("database: %s: error %u: %s", what, err,
		    mysql_stmt_error(st));
	return rc;
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
 * Prepare, bind, execute sql; with `out`, fetch at most one row into it
 * (*found says whether there was one).  *affected, *insert_id as asked.
 */
static enum authdb_rc
run(struct authdb *a, const char *what, const char *sql, MYSQL_BIND *in,
    unsigned int nin, MYSQL_BIND *out, unsigned int nout, int *found,
    uint64_t *affected, uint64_t *insert_id)
{
	MYSQL_STMT *st = NULL;
	enum authdb_rc rc;
	long long t0;
	int attempt, r;

	if (found != NULL)
		*found = 0;
	for (attempt = 0; ; attempt++) {
		if ((rc = authdb_connect(a)) != ADB_OK)
			return rc;
		if ((st = mysql_stmt_init(a->db)) == NULL) {
			log_warnx("database: %s: out of memory", what);
			return ADB_INTERNAL;
		}
		t0 = mono_ms();
		if (mysql_stmt_prepare(st, sql,
		    (unsigned long)strlen(sql)) == 0)
			break;
		/* A stale connection shows here first: reconnect, once. */
		if (attempt == 0 && !a->in_txn &&
		    dbconf_err_unavailable(mysql_stmt_errno(st)) &&
		    mono_ms() - t0 < DB_STALE_MAX_MS) {
			log_debug("database: %s: %s; reconnecting", what,
			    mysql_stmt_error(st));
			mysql_stmt_close(st);
			disconnect(a);
			continue;
		}
		rc = stmt_fail(a, st, what);
		goto done;
	}
	if (mysql_stmt_param_count(st) != nin ||
	    mysql_stmt_field_count(st) != nout) {
		log_warnx("database: %s: statement shape mismatch", what);
		rc = ADB_INTERNAL;
		goto done;
	}
	if (nin > 0 && mysql_stmt_bind_param(st, in) != 0) {
		rc = stmt_fail(a, st, what);
		goto done;
	}
	if (mysql_stmt_execute(st) != 0) {
		rc = stmt_fail(a, st, what);
		goto done;
	}
	if (nout > 0) {
		if (mysql_stmt_bind_result(st, out) != 0) {
			rc = stmt_fail(a, st, what);
			goto done;
		}
		r = mysql_stmt_fetch(st);
		if (r == MYSQL_DATA_TRUNCATED) {
			log_warnx("database: %s: value larger than expected",
			    what);
			rc = ADB_INTERNAL;
			goto done;
		}
		if (r == 1) {
			rc = stmt_fail(a, st, what);
			goto done;
		}
		if (found != NULL)
			*found = (r == 0);
		if (mysql_stmt_free_result(st) != 0) {
			rc = stmt_fail(a, st, what);
			goto done;
		}
	}
	if (affected != NULL)
		*affected = mysql_stmt_affected_rows(st);
	if (insert_id != NULL)
		*insert_id = mysql_stmt_insert_id(st);
	rc = ADB_OK;
 done:
	if (st != NULL)
		mysql_stmt_close(st);
	return rc;
}

/* Statements without parameters or results (transaction control). */
static enum authdb_rc
simple(struct authdb *a, const char *sql)
{
	enum authdb_rc rc;

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
	static const char sql[] =
	    "SELECT id, username, disabled, pw_kdf, pw_salt, pw_hash, "
	    "kdf_n, kdf_r, kdf_p FROM users WHERE username = ?";
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
	rc = run(a, "user lookup", sql, in, 1, out, 9, &found, NULL, NULL);
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

enum authdb_rc
authdb_user_create(struct authdb *a, const char *username, const char *email,
    const struct pw_record *pw, const uint8_t cert[32], uint64_t *idp)
{
	static const char sql_user[] =
	    "INSERT INTO users (username, email, pw_kdf, pw_salt, pw_hash, "
	    "kdf_n, kdf_r, kdf_p) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
	static const char sql_cert[] =
	    "INSERT INTO user_certs (user_id, cert_sha256) VALUES (?, ?)";
	MYSQL_BIND in[8];
	uint64_t n = pw->params.N, r = pw->params.r, p = pw->params.p, id = 0;
	enum authdb_rc rc;

	*idp = 0;
	if ((rc = simple(a, "START TRANSACTION")) != ADB_OK)
		return rc;
	a->in_txn = 1;
	in_str(&in[0], username);
	in_str(&in[1], email);
	in_str(&in[2], pw_kdf_name(pw->kdf));
	in_bin(&in[3], pw->salt, pw->salt_len);
	in_bin(&in[4], pw->hash, pw->hash_len);
	in_u64(&in[5], &n);
	in_u64(&in[6], &r);
	in_u64(&in[7], &p);
	if ((rc = run(a, "user insert", sql_user, in, 8, NULL, 0, NULL, NULL,
	    &id)) != ADB_OK)
		goto rollback;
	in_u64(&in[0], &id);
	in_bin(&in[1], cert, 32);
	if ((rc = run(a, "certificate insert", sql_cert, in, 2, NULL, 0, NULL,
	    NULL, NULL)) != ADB_OK)
		goto rollback;
	if ((rc = simple(a, "COMMIT")) != ADB_OK)
		goto rollback;
	a->in_txn = 0;
	*idp = id;
	return ADB_OK;
 rollback:
	if (a->db != NULL)
		(void)simple(a, "ROLLBACK");
	a->in_txn = 0;
	return rc;
}

enum authdb_rc
authdb_user_rehash(struct authdb *a, uint64_t id, const struct pw_record *old,
    const struct pw_record *nw)
{
	static const char sql[] =
	    "UPDATE users SET pw_kdf = ?, pw_salt = ?, pw_hash = ?, "
	    "kdf_n = ?, kdf_r = ?, kdf_p = ? "
	    "WHERE id = ? AND pw_kdf = ? AND pw_hash = ?";
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
	if ((rc = run(a, "password upgrade", sql, in, 9, NULL, 0, NULL,
	    &affected, NULL)) != ADB_OK)
		return rc;
	return affected == 1 ? ADB_OK : ADB_NOTFOUND;
}

enum authdb_rc
authdb_login_record(struct authdb *a, uint64_t id, const uint8_t cert[32],
    int *bound)
{
	static const char sql_last[] =
	    "UPDATE users SET last_login_at = CURRENT_TIMESTAMP WHERE id = ?";
	static const char sql_cert[] =
	    "SELECT 1 FROM user_certs WHERE user_id = ? AND cert_sha256 = ?";
	MYSQL_BIND in[2], out[1];
	uint64_t one = 0;
	my_bool isnull = 0;
	enum authdb_rc rc;

	*bound = 0;
	in_u64(&in[0], &id);
	if ((rc = run(a, "last login", sql_last, in, 1, NULL, 0, NULL, NULL,
	    NULL)) != ADB_OK)
		return rc;
	in_bin(&in[1], cert, 32);
	out_u64(&out[0], &one, &isnull);
	return run(a, "certificate lookup", sql_cert, in, 2, out, 1, bound,
	    NULL, NULL);
}

/* ---- throttling ---- */

enum authdb_rc
authdb_throttle_check(struct authdb *a, const char *scope, const char *subject,
    unsigned int maxfail, unsigned int window, int *limited)
{
	static const char sql[] =
	    "SELECT failures FROM auth_failures WHERE scope = ? AND "
	    "subject = ? AND window_start + ? > UNIX_TIMESTAMP()";
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
	if ((rc = run(a, "throttle check", sql, in, 3, out, 1, &found, NULL,
	    NULL)) != ADB_OK)
		return rc;
	*limited = found && !isnull && failures >= maxfail;
	return ADB_OK;
}

enum authdb_rc
authdb_throttle_fail(struct authdb *a, const char *scope, const char *subject,
    unsigned int window)
{
	/*
	 * One statement, so concurrent nodes cannot lose a count.  MariaDB
	 * evaluates the assignments left to right: failures is computed
	 * from the old window_start before window_start moves.
	 */
	static const char sql[] =
	    "INSERT INTO auth_failures "
	    "(scope, subject, window_start, failures) VALUES (?, ?, UNIX_TIMESTAMP(), 1) ON DUPLICATE KEY UPDATE "
	    "failures = IF(window_start + ? <= UNIX_TIMESTAMP(), 1, "
	    "failures + 1), "
	    "window_start = IF(window_start + ? <= UNIX_TIMESTAMP(), "
	    "UNIX_TIMESTAMP(), window_start)";
	MYSQL_BIND in[4];
	uint64_t w = window;

	in_str(&in[0], scope);
	in_bin(&in[1], subject, strlen(subject));
	in_u64(&in[2], &w);
	in_u64(&in[3], &w);
	return run(a, "throttle count", sql, in, 4, NULL, 0, NULL, NULL, NULL);
}

enum authdb_rc
authdb_throttle_reset(struct authdb *a, const char *scope, const char *subject)
{
	static const char sql[] =
	    "DELETE FROM auth_failures WHERE scope = ? AND subject = ?";
	MYSQL_BIND in[2];

	in_str(&in[0], scope);
	in_bin(&in[1], subject, strlen(subject));
	return run(a, "throttle reset", sql, in, 2, NULL, 0, NULL, NULL, NULL);
}

enum authdb_rc
authdb_throttle_expire(struct authdb *a, unsigned int window)
{
	static const char sql[] =
	    "DELETE FROM auth_failures WHERE window_start + ? <= "
	    "UNIX_TIMESTAMP()";
	MYSQL_BIND in[1];
	uint64_t w = window;

	in_u64(&in[0], &w);
	return run(a, "throttle expiry", sql, in, 1, NULL, 0, NULL, NULL, NULL);
}
