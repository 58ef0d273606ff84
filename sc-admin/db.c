/*
 * db.c: `sc-admin db`: create and migrate the SecureChat database schema
 * (`init`) and report on it (`status`).
 *
 * The schema is versioned: schema_version holds one row per migration
 * applied.  `init` takes a named server lock (so two administrators or
 * nodes cannot migrate at once), reads the current version and applies
 * the missing migrations in order.  MariaDB commits DDL implicitly, so
 * a migration cannot be rolled back; instead each statement is written
 * to be harmless when repeated (CREATE TABLE IF NOT EXISTS), and a
 * migration interrupted half-way is simply run again.
 */
#include "sc-admin.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "dbconf.h"
#include "log.h"

/*
 * TRANSITION: schema version 2 is this release's; common/dbconf.h says
 * 1 until the lead raises DB_SCHEMA_VERSION (authd/db.h and user.c carry
 * the same shim).
 */
#if DB_SCHEMA_VERSION < 2
#undef DB_SCHEMA_VERSION
#define DB_SCHEMA_VERSION	2
#endif

#define EXIT_USAGE	2

/* Migration n takes the schema from version n - 1 to n. */
static const char *const migration_1[] = {
	"CREATE TABLE IF NOT EXISTS users ("
	" id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"
	/* Canonical (lower-case) names: compared byte for byte. */
	" username VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	"  NOT NULL,"
	/* One account per address, whatever its letter case. */
	" email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
	"  NOT NULL,"
	" pw_kdf VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
	" pw_salt VARBINARY(64) NOT NULL,"
	" pw_hash VARBINARY(64) NOT NULL,"
	/* scrypt parameters of this hash; 0 for legacy-sha256 rows. */
	" kdf_n INT UNSIGNED NOT NULL DEFAULT 0,"
	" kdf_r INT UNSIGNED NOT NULL DEFAULT 0,"
	" kdf_p INT UNSIGNED NOT NULL DEFAULT 0,"
	" disabled TINYINT(1) NOT NULL DEFAULT 0,"
	" created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,"
	" last_login_at DATETIME NULL DEFAULT NULL,"
	" PRIMARY KEY (id),"
	" UNIQUE KEY users_username (username),"
	" UNIQUE KEY users_email (email),"
	" CONSTRAINT users_kdf CHECK (pw_kdf IN ('scrypt', 'legacy-sha256'))"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",

	/* The client certificates (SHA-256 of the DER) bound to a user. */
	"CREATE TABLE IF NOT EXISTS user_certs ("
	" user_id BIGINT UNSIGNED NOT NULL,"
	" cert_sha256 BINARY(32) NOT NULL,"
	" added_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,"
	" UNIQUE KEY user_certs_user_cert (user_id, cert_sha256),"
	" KEY user_certs_cert (cert_sha256),"
	" CONSTRAINT user_certs_user FOREIGN KEY (user_id)"
	"  REFERENCES users (id) ON DELETE CASCADE"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",

	/*
	 * Failed logins per account ('user', canonical name) and per source
	 * address ('addr'), in fixed windows that start at the first
	 * failure (window_start: UNIX time of the database server, so that
	 * every node uses one clock).
	 */
	"CREATE TABLE IF NOT EXISTS auth_failures ("
	" scope VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
	" subject VARBINARY(255) NOT NULL,"
	" window_start BIGINT UNSIGNED NOT NULL,"
	" failures INT UNSIGNED NOT NULL,"
	" PRIMARY KEY (scope, subject),"
	" KEY auth_failures_window (window_start),"
	" CONSTRAINT auth_failures_scope CHECK (scope IN ('user', 'addr'))"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
	NULL
};

/*
 * Version 2 (issue 5, users talk to users): the certificates' DER (so
 * that senders can encrypt to every device of a user), the durable
 * message store with its per-recipient delivery state, rooms and their
 * members, and the per-user message rate bucket.  Times are UTC
 * (DATETIME(3) written with UTC_TIMESTAMP); envelope bytes are opaque
 * (end-to-end encrypted, docs/MESSAGING.md).  Every statement is
 * harmless when repeated: an interrupted migration is run again.
 */
static const char *const migration_2[] = {
	/*
	 * The DER of a bound certificate; NULL for a binding made by
	 * fingerprint under version 1 (authd fills it in at the next login
	 * with that certificate, `sc-admin user add-cert` too).
	 */
	"ALTER TABLE user_certs ADD COLUMN IF NOT EXISTS"
	" cert_der VARBINARY(8192) NULL DEFAULT NULL AFTER cert_sha256",

	"CREATE TABLE IF NOT EXISTS rooms ("
	" id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"
	/* '#' and [a-z0-9_.-]: compared byte for byte. */
	" name VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
	" created_at DATETIME NOT NULL,"
	" PRIMARY KEY (id),"
	" UNIQUE KEY rooms_name (name)"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",

	"CREATE TABLE IF NOT EXISTS room_members ("
	" room_id BIGINT UNSIGNED NOT NULL,"
	" user_id BIGINT UNSIGNED NOT NULL,"
	" joined_at DATETIME NOT NULL,"
	" PRIMARY KEY (room_id, user_id),"
	" KEY room_members_user (user_id),"
	" CONSTRAINT room_members_room FOREIGN KEY (room_id)"
	"  REFERENCES rooms (id) ON DELETE CASCADE,"
	" CONSTRAINT room_members_member FOREIGN KEY (user_id)"
	"  REFERENCES users (id) ON DELETE CASCADE"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",

	/*
	 * One row per message: its sender, its room (NULL for a direct
	 * message) and the envelope (at most 50074 bytes: a BLOB holds
	 * 65535).  Deleting an account deletes what it sent.
	 */
	"CREATE TABLE IF NOT EXISTS envelopes ("
	" id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"
	" sender_id BIGINT UNSIGNED NOT NULL,"
	" room VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL"
	"  DEFAULT NULL,"
	" created_at DATETIME(3) NOT NULL,"
	" expires_at DATETIME(3) NOT NULL,"
	" envelope BLOB NOT NULL,"
	" PRIMARY KEY (id),"
	" KEY envelopes_sender (sender_id),"
	" KEY envelopes_expiry (expires_at),"
	" CONSTRAINT envelopes_sender FOREIGN KEY (sender_id)"
	"  REFERENCES users (id) ON DELETE CASCADE"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",

	/*
	 * One row per (message, recipient user): 0 queued, 1 delivered,
	 * 2 read.  A recipient's queue is read in id order through
	 * deliveries_queue.
	 */
	"CREATE TABLE IF NOT EXISTS deliveries ("
	" envelope_id BIGINT UNSIGNED NOT NULL,"
	" recipient_id BIGINT UNSIGNED NOT NULL,"
	" state TINYINT UNSIGNED NOT NULL DEFAULT 0,"
	" queued_at DATETIME(3) NOT NULL,"
	" delivered_at DATETIME(3) NULL DEFAULT NULL,"
	" read_at DATETIME(3) NULL DEFAULT NULL,"
	" PRIMARY KEY (envelope_id, recipient_id),"
	" KEY deliveries_queue (recipient_id, state, envelope_id),"
	" CONSTRAINT deliveries_envelope FOREIGN KEY (envelope_id)"
	"  REFERENCES envelopes (id) ON DELETE CASCADE,"
	" CONSTRAINT deliveries_recipient FOREIGN KEY (recipient_id)"
	"  REFERENCES users (id) ON DELETE CASCADE,"
	" CONSTRAINT deliveries_state CHECK (state IN (0, 1, 2))"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",

	/*
	 * The per-user message token bucket, in thousandths of a token,
	 * last refilled at updated_ms (the database server's clock, in
	 * milliseconds since the epoch), so that every node shares it.
	 */
	"CREATE TABLE IF NOT EXISTS msg_rate ("
	" user_id BIGINT UNSIGNED NOT NULL,"
	" tokens_milli BIGINT NOT NULL,"
	" updated_ms BIGINT NOT NULL,"
	" PRIMARY KEY (user_id),"
	" CONSTRAINT msg_rate_user FOREIGN KEY (user_id)"
	"  REFERENCES users (id) ON DELETE CASCADE"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
	NULL
};

static const struct migration {
	unsigned int		 version;
	const char		*description;
	const char *const	*statements;
} migrations[] = {
	{ 1, "users, user_certs, auth_failures", migration_1 },
	{ 2, "certificate DER, envelopes, deliveries, rooms, room_members, "
	    "msg_rate", migration_2 },
};
#define NMIGRATIONS	(sizeof(migrations) / sizeof(migrations[0]))
/* Migrations are numbered 1..N and N is this release's version. */
_Static_assert(NMIGRATIONS == DB_SCHEMA_VERSION,
    "one migration per schema version");

static const char schema_version_table[] =
	"CREATE TABLE IF NOT EXISTS schema_version ("
	" version INT UNSIGNED NOT NULL,"
	" description VARCHAR(255) NOT NULL,"
	" applied_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,"
	" PRIMARY KEY (version)"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci";

static int	db_init(int, char **);
static int	db_status(int, char **);

static const struct db_command {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*usage;
} db_commands[] = {
	{ "init", db_init, "init [--config dbconf]" },
	{ "status", db_status, "status [--config dbconf]" },
};
#define NCOMMANDS	(sizeof(db_commands) / sizeof(db_commands[0]))

static const struct option db_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ NULL, 0, NULL, 0 }
};

static int
usage(const char *which)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (which == NULL || strcmp(which, db_commands[i].name) == 0)
			fprintf(stderr, "usage: sc-admin db %s\n",
			    db_commands[i].usage);
	return EXIT_USAGE;
}

int
db_main(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return usage(NULL);
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], db_commands[i].name) == 0) {
			log_procinit("sc-admin db");
			optind = 1;
			return db_commands[i].fn(argc - 1, argv + 1);
		}
	log_warnx("unknown db command '%s'", argv[1]);
	return usage(NULL);
}

/* Parse --config; returns the path or NULL after printing usage. */
static const char *
config_arg(int argc, char **argv)
{
	const char *path = DBCONF_DEFAULT_PATH;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:", db_opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		default:
			return NULL;
		}
	}
	if (optind != argc)
		return NULL;
	return path;
}

static int
query(MYSQL *db, const char *sql)
{
	if (mysql_real_query(db, sql, (unsigned long)strlen(sql)) != 0) {
		log_warnx("database: %s", mysql_error(db));
		return -1;
	}
	return 0;
}

/* GET_LOCK: 1 when we hold the lock. */
static int
schema_lock(MYSQL *db, int take)
{
	const char *sql = take ?
	    "SELECT GET_LOCK('securechat.schema', 30)" :
	    "SELECT RELEASE_LOCK('securechat.schema')";
	MYSQL_RES *res;
	MYSQL_ROW row;
	int ok;

	if (query(db, sql) == -1 || (res = mysql_store_result(db)) == NULL)
		return -1;
	row = mysql_fetch_row(res);
	ok = row != NULL && row[0] != NULL && strcmp(row[0], "1") == 0;
	mysql_free_result(res);
	if (!ok && take)
		log_warnx("database: another sc-admin db init holds the "
		    "schema lock");
	return ok ? 0 : -1;
}

static int
record_version(MYSQL *db, const struct migration *m)
{
	static const char sql[] =
	    "INSERT INTO schema_version (version, description) VALUES (?, ?)";
	MYSQL_STMT *st;
	MYSQL_BIND in[2];
	unsigned long long v = m->version;
	int rv = -1;

	if ((st = mysql_stmt_init(db)) == NULL)
		return -1;
	memset(in, 0, sizeof(in));
	in[0].buffer_type = MYSQL_TYPE_LONGLONG;
	in[0].buffer = &v;
	in[0].is_unsigned = 1;
	in[1].buffer_type = MYSQL_TYPE_STRING;
	in[1].buffer = (void *)(uintptr_t)m->description;
	in[1].buffer_length = (unsigned long)strlen(m->description);
	if (mysql_stmt_prepare(st, sql, sizeof(sql) - 1) != 0 ||
	    mysql_stmt_bind_param(st, in) != 0 ||
	    mysql_stmt_execute(st) != 0)
		log_warnx("database: recording version %u: %s", m->version,
		    mysql_stmt_error(st));
	else
		rv = 0;
	mysql_stmt_close(st);
	return rv;
}

static int
db_init(int argc, char **argv)
{
	const char *path;
	MYSQL *db;
	unsigned int version, err;
	size_t i, k;
	int rv = 1, locked = 0, applied = 0;

	if ((path = config_arg(argc, argv)) == NULL)
		return usage("init");
	if ((db = dbconf_open(path)) == NULL)
		return 1;
	if (schema_lock(db, 1) == -1)
		goto done;
	locked = 1;
	if (query(db, schema_version_table) == -1)
		goto done;
	if (dbconf_schema_version(db, &version, &err) == -1) {
		log_warnx("database: reading the schema version: error %u",
		    err);
		goto done;
	}
	if (version > DB_SCHEMA_VERSION) {
		log_warnx("the database schema is version %u, newer than this "
		    "sc-admin knows (%d): use the matching release", version,
		    DB_SCHEMA_VERSION);
		goto done;
	}
	for (i = 0; i < NMIGRATIONS; i++) {
		if (migrations[i].version <= version)
			continue;
		for (k = 0; migrations[i].statements[k] != NULL; k++)
			if (query(db, migrations[i].statements[k]) == -1) {
				log_warnx("migration to version %u failed; "
				    "fix the cause and run db init again",
				    migrations[i].version);
				goto done;
			}
		if (record_version(db, &migrations[i]) == -1)
			goto done;
		printf("schema: applied version %u (%s)\n",
		    migrations[i].version, migrations[i].description);
		applied++;
	}
	if (applied == 0)
		printf("schema: version %u, up to date\n", version);
	rv = 0;
 done:
	if (locked)
		(void)schema_lock(db, 0);
	mysql_close(db);
	return rv;
}

/* One unsigned number from a query without parameters. */
static int
count(MYSQL *db, const char *sql, unsigned long long *n)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	int rv = -1;

	if (query(db, sql) == -1 || (res = mysql_store_result(db)) == NULL)
		return -1;
	if ((row = mysql_fetch_row(res)) != NULL && row[0] != NULL) {
		*n = strtoull(row[0], NULL, 10);
		rv = 0;
	}
	mysql_free_result(res);
	return rv;
}

static int
db_status(int argc, char **argv)
{
	const char *path;
	MYSQL *db;
	unsigned int version, err;
	unsigned long long users = 0, disabled = 0, legacy = 0, throttled = 0;
	unsigned long long certs = 0, noder = 0, msgs = 0, queued = 0;
	unsigned long long rooms = 0;
	int rv = 1;

	if ((path = config_arg(argc, argv)) == NULL)
		return usage("status");
	if ((db = dbconf_open(path)) == NULL)
		return 1;
	printf("%-18s%s\n", "server:", mysql_get_server_info(db));
	printf("%-18s%s\n", "connection:", mysql_get_host_info(db));
	if (dbconf_schema_version(db, &version, &err) == -1) {
		log_warnx("database: reading the schema version: error %u",
		    err);
		goto done;
	}
	printf("%-18s%u (this release: %d)\n", "schema version:", version,
	    DB_SCHEMA_VERSION);
	if (version != DB_SCHEMA_VERSION) {
		printf("%-18s%s\n", "action:", version < DB_SCHEMA_VERSION ?
		    "run \"sc-admin db init\"" :
		    "the schema is newer than this release");
		goto done;
	}
	if (count(db, "SELECT COUNT(*) FROM users", &users) == -1 ||
	    count(db, "SELECT COUNT(*) FROM users WHERE disabled <> 0",
	    &disabled) == -1 ||
	    count(db, "SELECT COUNT(*) FROM users WHERE pw_kdf = "
	    "'legacy-sha256'", &legacy) == -1 ||
	    count(db, "SELECT COUNT(*) FROM auth_failures", &throttled) == -1 ||
	    count(db, "SELECT COUNT(*) FROM user_certs", &certs) == -1 ||
	    count(db, "SELECT COUNT(*) FROM user_certs WHERE cert_der IS NULL",
	    &noder) == -1 ||
	    count(db, "SELECT COUNT(*) FROM envelopes", &msgs) == -1 ||
	    count(db, "SELECT COUNT(*) FROM deliveries WHERE state = 0",
	    &queued) == -1 ||
	    count(db, "SELECT COUNT(*) FROM rooms", &rooms) == -1)
		goto done;
	printf("%-18s%llu (disabled %llu, legacy hashes %llu)\n", "users:",
	    users, disabled, legacy);
	printf("%-18s%llu (fingerprint only %llu)\n", "certificates:", certs,
	    noder);
	printf("%-18s%llu stored, %llu deliveries queued\n", "messages:", msgs,
	    queued);
	printf("%-18s%llu\n", "rooms:", rooms);
	printf("%-18s%llu\n", "failure counters:", throttled);
	rv = 0;
 done:
	mysql_close(db);
	return rv;
}
