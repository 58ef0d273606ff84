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
 * Called for each row of a multi-row result, the values in the result
 * binds; returns 0, or -1 to stop with rc (ADB_TOOMANY, ADB_INTERNAL).
 */
typedef int (*row_fn)(void *arg, enum authdb_rc *rc);

/*
 * Prepare, bind, execute sql; with `out`, fetch at most one row into it
 * (*found says whether there was one), or with each_row every row, one
 * after the other.  *affected, *insert_id as asked.
 */
static enum authdb_rc
run_rows(struct authdb *a, const char *what, const char *sql, MYSQL_BIND *in,
    unsigned int nin, MYSQL_BIND *out, unsigned int nout, row_fn each_row,
    void *arg, int *found, uint64_t *affected, uint64_t *insert_id)
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
		for (;;) {
			r = mysql_stmt_fetch(st);
			if (r == MYSQL_DATA_TRUNCATED) {
				log_warnx("database: %s: value larger than "
				    "expected", what);
				rc = ADB_INTERNAL;
				goto done;
			}
			if (r == 1) {
				rc = stmt_fail(a, st, what);
				goto done;
			}
			if (found != NULL && r == 0)
				*found = 1;
			if (r != 0 || each_row == NULL)
				break;
			if (each_row(arg, &rc) == -1)
				goto done;
		}
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

static enum authdb_rc
run(struct authdb *a, const char *what, const char *sql, MYSQL_BIND *in,
    unsigned int nin, MYSQL_BIND *out, unsigned int nout, int *found,
    uint64_t *affected, uint64_t *insert_id)
{
	return run_rows(a, what, sql, in, nin, out, nout, NULL, NULL, found,
	    affected, insert_id);
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

/* A NULL parameter (a direct message's room). */
static void
in_null(MYSQL_BIND *b)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_NULL;
}

enum authdb_rc
authdb_user_create(struct authdb *a, const char *username, const char *email,
    const struct pw_record *pw, const uint8_t cert[32], const uint8_t *der,
    size_t derlen, uint64_t *idp)
{
	static const char sql_user[] =
	    "INSERT INTO users (username, email, pw_kdf, pw_salt, pw_hash, "
	    "kdf_n, kdf_r, kdf_p) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
	static const char sql_cert[] =
	    "INSERT INTO user_certs (user_id, cert_sha256, cert_der) "
	    "VALUES (?, ?, ?)";
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
	if ((rc = run(a, "user insert", sql_user, in, 8, NULL, 0, NULL, NULL,
	    &id)) != ADB_OK)
		goto rollback;
	in_u64(&in[0], &id);
	in_bin(&in[1], cert, 32);
	if (der != NULL)
		in_bin(&in[2], der, derlen);
	else
		in_null(&in[2]);
	if ((rc = run(a, "certificate insert", sql_cert, in, 3, NULL, 0, NULL,
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

enum authdb_rc
authdb_user_id(struct authdb *a, const char *username, uint64_t *idp)
{
	static const char sql[] = "SELECT id FROM users WHERE username = ?";
	MYSQL_BIND in[1], out[1];
	my_bool isnull = 0;
	int found;
	enum authdb_rc rc;

	*idp = 0;
	in_str(&in[0], username);
	out_u64(&out[0], idp, &isnull);
	if ((rc = run(a, "user id", sql, in, 1, out, 1, &found, NULL,
	    NULL)) != ADB_OK)
		return rc;
	if (!found || isnull) {
		*idp = 0;
		return ADB_NOTFOUND;
	}
	return ADB_OK;
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
authdb_login_record(struct authdb *a, uint64_t id)
{
	static const char sql[] =
	    "UPDATE users SET last_login_at = CURRENT_TIMESTAMP WHERE id = ?";
	MYSQL_BIND in[1];

	in_u64(&in[0], &id);
	return run(a, "last login", sql, in, 1, NULL, 0, NULL, NULL, NULL);
}

/* ---- certificates ---- */

enum authdb_rc
authdb_cert_lookup(struct authdb *a, uint64_t id, const uint8_t cert[32],
    int *bound, int *has_der, uint64_t *nbound)
{
	static const char sql[] =
	    "SELECT COUNT(*), "
	    "COALESCE(SUM(cert_sha256 = ?), 0), "
	    "COALESCE(SUM(cert_sha256 = ? AND cert_der IS NOT NULL), 0) "
	    "FROM user_certs WHERE user_id = ?";
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
	if ((rc = run(a, "certificate lookup", sql, in, 3, out, 3, NULL, NULL,
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
	/* An existing DER is never replaced: it hashes to cert_sha256. */
	static const char sql[] =
	    "INSERT INTO user_certs (user_id, cert_sha256, cert_der) "
	    "VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE "
	    "cert_der = COALESCE(cert_der, VALUES(cert_der))";
	MYSQL_BIND in[3];

	in_u64(&in[0], &id);
	in_bin(&in[1], cert, 32);
	if (der != NULL)
		in_bin(&in[2], der, derlen);
	else
		in_null(&in[2]);
	return run(a, "certificate bind", sql, in, 3, NULL, 0, NULL, NULL,
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
	if (l->n >= r->max) {
		*rc = ADB_TOOMANY;
		return -1;
	}
	if (l->n == l->cap) {
		if ((nv = reallocarray(l->v, l->cap + 8, sizeof(*l->v))) ==
		    NULL) {
			*rc = ADB_INTERNAL;
			return -1;
		}
		l->v = nv;
		l->cap += 8;
	}
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
certs_query(struct authdb *a, const char *what, const char *sql,
    uint64_t key, size_t max, struct authdb_certs *out)
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
	rc = run_rows(a, what, sql, in, 1, out_b, 4, cert_row_add, r, NULL,
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
	static const char sql_all[] =
	    "SELECT u.id, u.username, c.cert_sha256, c.cert_der "
	    "FROM user_certs c JOIN users u ON u.id = c.user_id "
	    "WHERE c.user_id = ? ORDER BY c.added_at, c.cert_sha256";
	static const char sql_der[] =
	    "SELECT u.id, u.username, c.cert_sha256, c.cert_der "
	    "FROM user_certs c JOIN users u ON u.id = c.user_id "
	    "WHERE c.user_id = ? AND c.cert_der IS NOT NULL "
	    "ORDER BY c.added_at, c.cert_sha256";

	return certs_query(a, "user certificates", with_der ? sql_der :
	    sql_all, id, max, out);
}

enum authdb_rc
authdb_room_certs(struct authdb *a, uint64_t room_id, int with_der,
    size_t max, struct authdb_certs *out)
{
	static const char sql_all[] =
	    "SELECT u.id, u.username, c.cert_sha256, c.cert_der "
	    "FROM room_members m JOIN users u ON u.id = m.user_id "
	    "JOIN user_certs c ON c.user_id = u.id WHERE m.room_id = ? "
	    "ORDER BY u.username, c.added_at, c.cert_sha256";
	static const char sql_der[] =
	    "SELECT u.id, u.username, c.cert_sha256, c.cert_der "
	    "FROM room_members m JOIN users u ON u.id = m.user_id "
	    "JOIN user_certs c ON c.user_id = u.id WHERE m.room_id = ? "
	    "AND c.cert_der IS NOT NULL "
	    "ORDER BY u.username, c.added_at, c.cert_sha256";

	return certs_query(a, "room certificates", with_der ? sql_der :
	    sql_all, room_id, max, out);
}

/* ---- the message store ---- */

/*
 * Milliseconds since the epoch on the database server's clock, the one
 * clock every node shares.
 */
#define DB_NOW_MS	"CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)"

enum authdb_rc
authdb_rate_take(struct authdb *a, uint64_t id, unsigned int rate,
    unsigned int burst, int *taken)
{
	/* A new user starts with a full bucket. */
	static const char sql_row[] =
	    "INSERT IGNORE INTO msg_rate (user_id, tokens_milli, updated_ms) "
	    "VALUES (?, ?, " DB_NOW_MS ")";
	/*
	 * One statement takes a token only if there is one after the
	 * refill, so that concurrent nodes cannot both spend the last.
	 * Tokens are counted in thousandths: rate per second is rate
	 * thousandths per millisecond.  The assignments run left to right,
	 * so tokens_milli is refilled from the old updated_ms; a clock
	 * that went back refills nothing.
	 */
	static const char sql_take[] =
	    "UPDATE msg_rate SET "
	    "tokens_milli = LEAST(?, tokens_milli + "
	    " GREATEST(0, " DB_NOW_MS " - updated_ms) * ?) - 1000, "
	    "updated_ms = " DB_NOW_MS " "
	    "WHERE user_id = ? AND LEAST(?, tokens_milli + "
	    " GREATEST(0, " DB_NOW_MS " - updated_ms) * ?) >= 1000";
	MYSQL_BIND in[5];
	uint64_t full = (uint64_t)burst * 1000, r = rate, affected = 0;
	enum authdb_rc rc;

	*taken = 0;
	in_u64(&in[0], &id);
	in_u64(&in[1], &full);
	if ((rc = run(a, "rate bucket", sql_row, in, 2, NULL, 0, NULL, NULL,
	    NULL)) != ADB_OK)
		return rc;
	in_u64(&in[0], &full);
	in_u64(&in[1], &r);
	in_u64(&in[2], &id);
	in_u64(&in[3], &full);
	in_u64(&in[4], &r);
	if ((rc = run(a, "rate take", sql_take, in, 5, NULL, 0, NULL,
	    &affected, NULL)) != ADB_OK)
		return rc;
	*taken = affected == 1;
	return ADB_OK;
}

enum authdb_rc
authdb_queue_len(struct authdb *a, uint64_t id, uint64_t *n)
{
	static const char sql[] =
	    "SELECT COUNT(*) FROM deliveries WHERE recipient_id = ? AND "
	    "state = 0";
	MYSQL_BIND in[1], out[1];
	my_bool isnull = 0;
	enum authdb_rc rc;

	*n = 0;
	in_u64(&in[0], &id);
	out_u64(&out[0], n, &isnull);
	rc = run(a, "queue length", sql, in, 1, out, 1, NULL, NULL, NULL);
	if (isnull)
		*n = 0;
	return rc;
}

enum authdb_rc
authdb_envelope_store(struct authdb *a, uint64_t sender_id, const char *room,
    const uint8_t *env, size_t envlen, unsigned int retention_days,
    const uint64_t *rcpt, size_t nrcpt, uint64_t *idp)
{
	static const char sql_env[] =
	    "INSERT INTO envelopes (sender_id, room, created_at, expires_at, "
	    "envelope) VALUES (?, ?, UTC_TIMESTAMP(3), "
	    "UTC_TIMESTAMP(3) + INTERVAL ? DAY, ?)";
	static const char sql_dlv[] =
	    "INSERT INTO deliveries (envelope_id, recipient_id, queued_at) "
	    "VALUES (?, ?, UTC_TIMESTAMP(3))";
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
	if ((rc = run(a, "envelope insert", sql_env, in, 4, NULL, 0, NULL,
	    NULL, &id)) != ADB_OK)
		goto rollback;
	for (i = 0; i < nrcpt; i++) {
		in_u64(&in[0], &id);
		in_u64(&in[1], &rcpt[i]);
		if ((rc = run(a, "delivery insert", sql_dlv, in, 2, NULL, 0,
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
	static const char sql[] =
	    "SELECT d.envelope_id, u.username, e.envelope "
	    "FROM deliveries d JOIN envelopes e ON e.id = d.envelope_id "
	    "JOIN users u ON u.id = e.sender_id "
	    "WHERE d.recipient_id = ? AND d.state = 0 AND d.envelope_id > ? "
	    "AND e.expires_at > UTC_TIMESTAMP(3) "
	    "ORDER BY d.envelope_id LIMIT 1";
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
	if ((rc = run(a, "fetch", sql, in, 2, out, 3, found, NULL, NULL)) !=
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
	static const char sql_get[] =
	    "SELECT u.username FROM deliveries d "
	    "JOIN envelopes e ON e.id = d.envelope_id "
	    "JOIN users u ON u.id = e.sender_id "
	    "WHERE d.envelope_id = ? AND d.recipient_id = ?";
	/*
	 * Forward only: the WHERE clause leaves a delivery at or above
	 * the state asked for as it is.  Being read implies being
	 * delivered, so a direct "read" also sets delivered_at.
	 */
	static const char sql_set[] =
	    "UPDATE deliveries SET state = ?, "
	    "delivered_at = COALESCE(delivered_at, UTC_TIMESTAMP(3)), "
	    "read_at = IF(? = 2, UTC_TIMESTAMP(3), read_at) "
	    "WHERE envelope_id = ? AND recipient_id = ? AND state < ?";
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
	if ((rc = run(a, "ack lookup", sql_get, in, 2, out, 1, &found, NULL,
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
	if ((rc = run(a, "ack", sql_set, in, 5, NULL, 0, NULL, NULL,
	    NULL)) != ADB_OK)
		sender[0] = '\0';
	return rc;
}

enum authdb_rc
authdb_expire_messages(struct authdb *a, uint64_t *deleted)
{
	/* In slices, so that no statement holds locks for long. */
	static const char sql[] =
	    "DELETE FROM envelopes WHERE expires_at <= UTC_TIMESTAMP(3) "
	    "LIMIT 1000";
	uint64_t n;
	int i;
	enum authdb_rc rc;

	*deleted = 0;
	for (i = 0; i < 1000; i++) {
		n = 0;
		if ((rc = run(a, "message expiry", sql, NULL, 0, NULL, 0, NULL,
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
	static const char sql[] = "SELECT id FROM rooms WHERE name = ?";
	MYSQL_BIND in[1], out[1];
	my_bool isnull = 0;
	int found;
	enum authdb_rc rc;

	*idp = 0;
	in_str(&in[0], room);
	out_u64(&out[0], idp, &isnull);
	if ((rc = run(a, "room id", sql, in, 1, out, 1, &found, NULL,
	    NULL)) != ADB_OK)
		return rc;
	if (!found || isnull) {
		*idp = 0;
		return ADB_NOTFOUND;
	}
	return ADB_OK;
}

enum authdb_rc
authdb_room_join(struct authdb *a, uint64_t user_id, const char *room,
    unsigned int room_size, unsigned int max_rooms, enum authdb_join *result)
{
	/*
	 * Creating or finding the room locks its row for the rest of the
	 * transaction, so that concurrent JOINs (and a LEAVE that would
	 * delete it) on any node are serialised and the size holds.
	 */
	static const char sql_room[] =
	    "INSERT INTO rooms (name, created_at) VALUES (?, UTC_TIMESTAMP()) "
	    "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)";
	static const char sql_count[] =
	    "SELECT COUNT(*), COALESCE(SUM(user_id = ?), 0) FROM room_members "
	    "WHERE room_id = ?";
	static const char sql_mine[] =
	    "SELECT COUNT(*) FROM room_members WHERE user_id = ?";
	static const char sql_add[] =
	    "INSERT INTO room_members (room_id, user_id, joined_at) "
	    "VALUES (?, ?, UTC_TIMESTAMP())";
	MYSQL_BIND in[2], out[2];
	my_bool nul[2] = { 0, 0 };
	uint64_t room_id = 0, n = 0, me = 0, mine = 0;
	enum authdb_rc rc;

	*result = AUTHDB_JOIN_FULL;
	if ((rc = txn_begin(a)) != ADB_OK)
		return rc;
	in_str(&in[0], room);
	if ((rc = run(a, "room create", sql_room, in, 1, NULL, 0, NULL, NULL,
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
	if ((rc = run(a, "room size", sql_count, in, 2, out, 2, NULL, NULL,
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
	if ((rc = run(a, "rooms of user", sql_mine, in, 1, out, 1, NULL, NULL,
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
	if ((rc = run(a, "room join", sql_add, in, 2, NULL, 0, NULL, NULL,
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
	static const char sql_room[] =
	    "SELECT id FROM rooms WHERE name = ? FOR UPDATE";
	static const char sql_del[] =
	    "DELETE FROM room_members WHERE room_id = ? AND user_id = ?";
	static const char sql_empty[] =
	    "DELETE FROM rooms WHERE id = ? AND NOT EXISTS "
	    "(SELECT 1 FROM room_members WHERE room_id = ?)";
	MYSQL_BIND in[2], out[1];
	my_bool isnull = 0;
	uint64_t room_id = 0, affected = 0;
	int found;
	enum authdb_rc rc;

	if ((rc = txn_begin(a)) != ADB_OK)
		return rc;
	in_str(&in[0], room);
	out_u64(&out[0], &room_id, &isnull);
	if ((rc = run(a, "room lock", sql_room, in, 1, out, 1, &found, NULL,
	    NULL)) != ADB_OK)
		goto rollback;
	if (!found || isnull) {
		txn_rollback(a);
		return ADB_NOTFOUND;
	}
	in_u64(&in[0], &room_id);
	in_u64(&in[1], &user_id);
	if ((rc = run(a, "room leave", sql_del, in, 2, NULL, 0, NULL,
	    &affected, NULL)) != ADB_OK)
		goto rollback;
	if (affected == 0) {
		txn_rollback(a);
		return ADB_NOTFOUND;
	}
	in_u64(&in[0], &room_id);
	in_u64(&in[1], &room_id);
	if ((rc = run(a, "room delete", sql_empty, in, 2, NULL, 0, NULL, NULL,
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
	if (l->n >= r->max) {
		*rc = ADB_TOOMANY;
		return -1;
	}
	if (l->n == l->cap) {
		if ((nv = reallocarray(l->v, l->cap + 16, sizeof(*l->v))) ==
		    NULL) {
			*rc = ADB_INTERNAL;
			return -1;
		}
		l->v = nv;
		l->cap += 16;
	}
	l->v[l->n].id = r->id;
	memcpy(l->v[l->n].name, r->name, r->len);
	l->v[l->n].name[r->len] = '\0';
	l->n++;
	return 0;
}

static enum authdb_rc
names_query(struct authdb *a, const char *what, const char *sql, uint64_t key,
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
	rc = run_rows(a, what, sql, in, 1, out_b, 2, name_row_add, &r, NULL,
	    NULL, NULL);
	if (rc != ADB_OK)
		authdb_names_free(out);
	return rc;
}

enum authdb_rc
authdb_room_members(struct authdb *a, uint64_t room_id, size_t max,
    struct authdb_names *out)
{
	static const char sql[] =
	    "SELECT u.id, u.username FROM room_members m "
	    "JOIN users u ON u.id = m.user_id WHERE m.room_id = ? "
	    "ORDER BY u.username";

	return names_query(a, "room members", sql, room_id, max, out);
}

enum authdb_rc
authdb_user_rooms(struct authdb *a, uint64_t user_id, size_t max,
    struct authdb_names *out)
{
	static const char sql[] =
	    "SELECT r.id, r.name FROM room_members m "
	    "JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ? "
	    "ORDER BY r.name";

	return names_query(a, "user rooms", sql, user_id, max, out);
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
