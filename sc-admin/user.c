/*
 * user.c: `sc-admin user`: the administrator's view of the accounts:
 * list, disable, enable, delete, import-legacy (the seed's users table)
 * and add-cert (bind another client certificate, a device, to a user:
 * the certificate itself, not only its fingerprint, so that senders can
 * encrypt to that device).
 *
 * Prepared statements only: names and fields from the command line or
 * from an import file travel as bound parameters.  Usernames are taken
 * in their canonical form (common/account.h), so "Alice" names alice.
 */
#include "sc-admin.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <mysqld_error.h>

#include "account.h"
#include "dbconf.h"
#include "log.h"
#include "pki.h"
#include "sccrypto.h"
#include "util.h"

/* TRANSITION: see sc-admin/db.c (schema version 2). */
#if DB_SCHEMA_VERSION < 2
#undef DB_SCHEMA_VERSION
#define DB_SCHEMA_VERSION	2
#endif

#define EXIT_USAGE	2
#define IMPORT_LINE_MAX	4096
#define LEGACY_SALT_MAX	64	/* pw_salt column */

static int	user_list(int, char **);
static int	user_disable(int, char **);
static int	user_enable(int, char **);
static int	user_delete(int, char **);
static int	user_import(int, char **);
static int	user_add_cert(int, char **);

static const struct user_command {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*usage;
} user_commands[] = {	/* sorted by name */
	{ "add-cert", user_add_cert,
	    "add-cert [--config dbconf] [--any-cn] name certfile.pem|.der" },
	{ "delete", user_delete, "delete [--config dbconf] name" },
	{ "disable", user_disable, "disable [--config dbconf] name" },
	{ "enable", user_enable, "enable [--config dbconf] name" },
	{ "import-legacy", user_import,
	    "import-legacy [--config dbconf] [--salt-text] file.tsv|-" },
	{ "list", user_list, "list [--config dbconf]" },
};
#define NCOMMANDS	(sizeof(user_commands) / sizeof(user_commands[0]))

static const struct option user_opts[] = {
	{ "any-cn", no_argument, NULL, 'a' },
	{ "config", required_argument, NULL, 'c' },
	{ "salt-text", no_argument, NULL, 's' },
	{ NULL, 0, NULL, 0 }
};

static const char *cmdname;

static int
usage(const char *which)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (which == NULL || strcmp(which, user_commands[i].name) == 0)
			fprintf(stderr, "usage: sc-admin user %s\n",
			    user_commands[i].usage);
	return EXIT_USAGE;
}

int
user_main(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return usage(NULL);
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], user_commands[i].name) == 0) {
			log_procinit("sc-admin user");
			cmdname = user_commands[i].name;
			optind = 1;
			return user_commands[i].fn(argc - 1, argv + 1);
		}
	log_warnx("unknown user command '%s'", argv[1]);
	return usage(NULL);
}

/*
 * Options common to the commands; nargs positional arguments must
 * follow.  Returns 0 (argv + optind holds them) or -1 after usage.
 */
static int
parse_opts(int argc, char **argv, int nargs, const char **config,
    int *salt_text, int *any_cn)
{
	int ch;

	*config = DBCONF_DEFAULT_PATH;
	while ((ch = getopt_long(argc, argv, "c:", user_opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			if (any_cn == NULL)
				return -1;
			*any_cn = 1;
			break;
		case 'c':
			*config = optarg;
			break;
		case 's':
			if (salt_text == NULL)
				return -1;
			*salt_text = 1;
			break;
		default:
			return -1;
		}
	}
	return argc - optind == nargs ? 0 : -1;
}

/* Connect and check that the schema is the one this release knows. */
static MYSQL *
open_db(const char *path)
{
	MYSQL *db;
	unsigned int version, err;

	if ((db = dbconf_open(path)) == NULL)
		return NULL;
	if (dbconf_schema_version(db, &version, &err) == -1) {
		log_warnx("database: reading the schema version: error %u",
		    err);
		goto fail;
	}
	if (version != DB_SCHEMA_VERSION) {
		log_warnx("database schema version %u, expected %d: run "
		    "\"sc-admin db init\"", version, DB_SCHEMA_VERSION);
		goto fail;
	}
	return db;
 fail:
	mysql_close(db);
	return NULL;
}

static void
bind_str(MYSQL_BIND *b, const void *p, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_STRING;
	b->buffer = (void *)(uintptr_t)p;
	b->buffer_length = (unsigned long)len;
}

/* Bytes, not text: the server takes BLOB parameters without conversion. */
static void
bind_bin(MYSQL_BIND *b, const void *p, size_t len)
{
	bind_str(b, p, len);
	b->buffer_type = MYSQL_TYPE_BLOB;
}

/*
 * Run a statement without results.  Returns 0 with *affected set, or -1
 * with *errnum set (logged unless it is listed as expected).
 */
static int
exec(MYSQL *db, const char *sql, MYSQL_BIND *in, unsigned long long *affected,
    unsigned int *errnum, unsigned int expected)
{
	MYSQL_STMT *st;
	int rv = -1;

	*errnum = 0;
	if ((st = mysql_stmt_init(db)) == NULL) {
		log_warnx("database: out of memory");
		return -1;
	}
	if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0 ||
	    (in != NULL && mysql_stmt_bind_param(st, in) != 0) ||
	    mysql_stmt_execute(st) != 0) {
		*errnum = mysql_stmt_errno(st);
		if (*errnum != expected)
			log_warnx("database: %s", mysql_stmt_error(st));
		goto done;
	}
	if (affected != NULL)
		*affected = mysql_stmt_affected_rows(st);
	rv = 0;
 done:
	mysql_stmt_close(st);
	return rv;
}

/* The canonical form of a username argument, or -1 after a message. */
static int
name_arg(const char *arg, char user[ACCOUNT_USER_MAX + 1])
{
	if (account_username_canon(arg, strlen(arg), user) == -1) {
		log_warnx("\"%.64s\" is not a valid username", arg);
		return -1;
	}
	return 0;
}

/* ---- list ---- */

static int
user_list(int argc, char **argv)
{
	static const char sql[] =
	    "SELECT u.id, u.username, u.email, u.pw_kdf, u.disabled, "
	    "DATE_FORMAT(u.created_at, '%Y-%m-%dT%H:%i:%sZ'), "
	    "IFNULL(DATE_FORMAT(u.last_login_at, '%Y-%m-%dT%H:%i:%sZ'), '-'), "
	    "(SELECT COUNT(*) FROM user_certs c WHERE c.user_id = u.id) "
	    "FROM users u ORDER BY u.id";
	const char *config;
	MYSQL *db;
	MYSQL_STMT *st = NULL;
	MYSQL_BIND out[8];
	unsigned long long id, disabled, certs;
	char user[ACCOUNT_USER_MAX + 1], email[ACCOUNT_EMAIL_MAX + 1];
	char kdf[17], created[32], last[32];
	unsigned long ulen, elen, klen, clen, llen;
	my_bool nul[8];
	int r, rv = 1, n = 0;

	if (parse_opts(argc, argv, 0, &config, NULL, NULL) == -1)
		return usage("list");
	if ((db = open_db(config)) == NULL)
		return 1;
	memset(out, 0, sizeof(out));
	memset(nul, 0, sizeof(nul));
#define OUT_U64(i, v) do { out[i].buffer_type = MYSQL_TYPE_LONGLONG;	\
	out[i].buffer = &(v); out[i].is_unsigned = 1;			\
	out[i].is_null = &nul[i]; } while (0)
#define OUT_STR(i, b, l) do { out[i].buffer_type = MYSQL_TYPE_STRING;	\
	out[i].buffer = (b); out[i].buffer_length = sizeof(b) - 1;	\
	out[i].length = &(l); out[i].is_null = &nul[i]; } while (0)
	OUT_U64(0, id);
	OUT_STR(1, user, ulen);
	OUT_STR(2, email, elen);
	OUT_STR(3, kdf, klen);
	OUT_U64(4, disabled);
	OUT_STR(5, created, clen);
	OUT_STR(6, last, llen);
	OUT_U64(7, certs);
#undef OUT_U64
#undef OUT_STR
	if ((st = mysql_stmt_init(db)) == NULL ||
	    mysql_stmt_prepare(st, sql, sizeof(sql) - 1) != 0 ||
	    mysql_stmt_execute(st) != 0 ||
	    mysql_stmt_bind_result(st, out) != 0) {
		log_warnx("database: %s", st != NULL ? mysql_stmt_error(st) :
		    "out of memory");
		goto done;
	}
	printf("%-6s %-32s %-32s %-14s %-8s %-20s %-20s %s\n", "ID",
	    "USERNAME", "EMAIL", "KDF", "STATE", "CREATED", "LAST-LOGIN",
	    "CERTS");
	while ((r = mysql_stmt_fetch(st)) == 0 || r == MYSQL_DATA_TRUNCATED) {
		/* Values were validated on the way in; cut, never overrun. */
		user[ulen < sizeof(user) ? ulen : sizeof(user) - 1] = '\0';
		email[elen < sizeof(email) ? elen : sizeof(email) - 1] = '\0';
		kdf[klen < sizeof(kdf) ? klen : sizeof(kdf) - 1] = '\0';
		created[clen < sizeof(created) ? clen : sizeof(created) - 1] =
		    '\0';
		last[llen < sizeof(last) ? llen : sizeof(last) - 1] = '\0';
		printf("%-6llu %-32s %-32s %-14s %-8s %-20s %-20s %llu\n", id,
		    user, email, kdf, disabled ? "disabled" : "active",
		    created, last, certs);
		n++;
	}
	if (r != MYSQL_NO_DATA) {
		log_warnx("database: %s", mysql_stmt_error(st));
		goto done;
	}
	printf("%d user%s\n", n, n == 1 ? "" : "s");
	rv = 0;
 done:
	if (st != NULL)
		mysql_stmt_close(st);
	mysql_close(db);
	return rv;
}

/* ---- disable, enable, delete ---- */

static int
set_disabled(int argc, char **argv, int disabled)
{
	static const char sql[] =
	    "UPDATE users SET disabled = ? WHERE username = ?";
	const char *config;
	char user[ACCOUNT_USER_MAX + 1];
	MYSQL *db;
	MYSQL_BIND in[2];
	unsigned long long v = (unsigned long long)disabled, affected = 0;
	unsigned int err;
	int rv = 1;

	if (parse_opts(argc, argv, 1, &config, NULL, NULL) == -1)
		return usage(cmdname);
	if (name_arg(argv[optind], user) == -1)
		return 1;
	if ((db = open_db(config)) == NULL)
		return 1;
	memset(in, 0, sizeof(in));
	in[0].buffer_type = MYSQL_TYPE_LONGLONG;
	in[0].buffer = &v;
	in[0].is_unsigned = 1;
	bind_str(&in[1], user, strlen(user));
	/* The connection reports rows found, so a no-op update counts. */
	if (exec(db, sql, in, &affected, &err, 0) == 0) {
		if (affected == 0)
			log_warnx("no such user: %s", user);
		else {
			printf("%s: %s\n", user, disabled ? "disabled" :
			    "enabled");
			rv = 0;
		}
	}
	mysql_close(db);
	return rv;
}

static int
user_disable(int argc, char **argv)
{
	return set_disabled(argc, argv, 1);
}

static int
user_enable(int argc, char **argv)
{
	return set_disabled(argc, argv, 0);
}

static int
user_delete(int argc, char **argv)
{
	static const char sql_user[] = "DELETE FROM users WHERE username = ?";
	static const char sql_fail[] =
	    "DELETE FROM auth_failures WHERE scope = 'user' AND subject = ?";
	const char *config;
	char user[ACCOUNT_USER_MAX + 1];
	MYSQL *db;
	MYSQL_BIND in[1];
	unsigned long long affected = 0;
	unsigned int err;
	int rv = 1;

	if (parse_opts(argc, argv, 1, &config, NULL, NULL) == -1)
		return usage("delete");
	if (name_arg(argv[optind], user) == -1)
		return 1;
	if ((db = open_db(config)) == NULL)
		return 1;
	/* user_certs rows go with the user (ON DELETE CASCADE). */
	bind_str(&in[0], user, strlen(user));
	if (exec(db, sql_user, in, &affected, &err, 0) == 0) {
		if (affected == 0)
			log_warnx("no such user: %s", user);
		else {
			bind_bin(&in[0], user, strlen(user));
			(void)exec(db, sql_fail, in, NULL, &err, 0);
			printf("%s: deleted\n", user);
			rv = 0;
		}
	}
	mysql_close(db);
	return rv;
}

/* ---- add-cert ---- */

/*
 * Bind a client certificate (a PEM or DER file) to a user.  The whole
 * certificate is stored: senders get it from authd to encrypt to that
 * device (docs/MESSAGING.md), and its CN must be the username (what
 * envelope_seal checks before encrypting to it) unless --any-cn.  A
 * certificate bound by fingerprint alone under schema version 1 gets its
 * DER here.
 */
static int
user_add_cert(int argc, char **argv)
{
	static const char sql_id[] = "SELECT id FROM users WHERE username = ?";
	static const char sql_has[] =
	    "SELECT cert_der IS NOT NULL FROM user_certs WHERE user_id = ? "
	    "AND cert_sha256 = ?";
	static const char sql_add[] =
	    "INSERT INTO user_certs (user_id, cert_sha256, cert_der) "
	    "VALUES (?, ?, ?)";
	static const char sql_der[] =
	    "UPDATE user_certs SET cert_der = ? WHERE user_id = ? AND "
	    "cert_sha256 = ? AND cert_der IS NULL";
	const char *config, *path;
	char user[ACCOUNT_USER_MAX + 1], hex[65], cn[128], err[256];
	uint8_t fp[SC_SHA256_LEN], *der = NULL;
	size_t derlen = 0;
	X509 *x = NULL;
	MYSQL *db = NULL;
	MYSQL_STMT *st = NULL;
	MYSQL_BIND in[3], out[1];
	unsigned long long id = 0, has_der = 0;
	unsigned int errnum;
	int r, rv = 1, any_cn = 0;

	if (parse_opts(argc, argv, 2, &config, NULL, &any_cn) == -1)
		return usage("add-cert");
	if (name_arg(argv[optind], user) == -1)
		return 1;
	path = argv[optind + 1];
	if ((x = pki_load_cert(path, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", path, err);
		return 1;
	}
	if ((der = malloc(PKI_MAX_CERT_DER)) == NULL) {
		log_warn("malloc");
		goto done;
	}
	if (pki_cert_to_der(x, der, PKI_MAX_CERT_DER, &derlen) == -1) {
		log_warnx("%s: not a certificate of at most %d bytes of DER",
		    path, PKI_MAX_CERT_DER);
		goto done;
	}
	if (sc_sha256(der, derlen, fp) == -1) {
		log_warnx("SHA-256 failed");
		goto done;
	}
	hex_encode(fp, sizeof(fp), hex);
	if (pki_cert_cn(x, cn, sizeof(cn)) == -1)
		cn[0] = '\0';
	if (!any_cn && strcmp(cn, user) != 0) {
		log_warnx("%s: the certificate's CN \"%.64s\" is not the "
		    "username %s (senders would refuse to encrypt to it); use "
		    "--any-cn to bind it anyway", path, cn, user);
		goto done;
	}
	if ((db = open_db(config)) == NULL)
		goto done;
	bind_str(&in[0], user, strlen(user));
	memset(out, 0, sizeof(out));
	out[0].buffer_type = MYSQL_TYPE_LONGLONG;
	out[0].buffer = &id;
	out[0].is_unsigned = 1;
	if ((st = mysql_stmt_init(db)) == NULL ||
	    mysql_stmt_prepare(st, sql_id, sizeof(sql_id) - 1) != 0 ||
	    mysql_stmt_bind_param(st, in) != 0 ||
	    mysql_stmt_execute(st) != 0 ||
	    mysql_stmt_bind_result(st, out) != 0 ||
	    (r = mysql_stmt_fetch(st)) == 1) {
		log_warnx("database: %s", st != NULL ? mysql_stmt_error(st) :
		    "out of memory");
		goto done;
	}
	if (r == MYSQL_NO_DATA) {
		log_warnx("no such user: %s", user);
		goto done;
	}
	mysql_stmt_close(st);
	st = NULL;

	/* Bound already, with or without its DER? */
	memset(in, 0, sizeof(in));
	in[0].buffer_type = MYSQL_TYPE_LONGLONG;
	in[0].buffer = &id;
	in[0].is_unsigned = 1;
	bind_bin(&in[1], fp, sizeof(fp));
	memset(out, 0, sizeof(out));
	out[0].buffer_type = MYSQL_TYPE_LONGLONG;
	out[0].buffer = &has_der;
	out[0].is_unsigned = 1;
	if ((st = mysql_stmt_init(db)) == NULL ||
	    mysql_stmt_prepare(st, sql_has, sizeof(sql_has) - 1) != 0 ||
	    mysql_stmt_bind_param(st, in) != 0 ||
	    mysql_stmt_execute(st) != 0 ||
	    mysql_stmt_bind_result(st, out) != 0 ||
	    (r = mysql_stmt_fetch(st)) == 1) {
		log_warnx("database: %s", st != NULL ? mysql_stmt_error(st) :
		    "out of memory");
		goto done;
	}
	mysql_stmt_close(st);
	st = NULL;
	if (r == 0 && has_der) {
		printf("%s: certificate %s was already bound\n", user, hex);
		rv = 0;
		goto done;
	}
	if (r == 0) {
		bind_bin(&in[0], der, derlen);
		memset(&in[1], 0, sizeof(in[1]));
		in[1].buffer_type = MYSQL_TYPE_LONGLONG;
		in[1].buffer = &id;
		in[1].is_unsigned = 1;
		bind_bin(&in[2], fp, sizeof(fp));
		if (exec(db, sql_der, in, NULL, &errnum, 0) == -1)
			goto done;
		printf("%s: certificate %s was bound by fingerprint; its "
		    "certificate is now stored too\n", user, hex);
		rv = 0;
		goto done;
	}
	bind_bin(&in[2], der, derlen);
	if (exec(db, sql_add, in, NULL, &errnum, ER_DUP_ENTRY) == 0)
		printf("%s: certificate %s bound\n", user, hex);
	else if (errnum == ER_DUP_ENTRY)
		printf("%s: certificate %s was already bound\n", user, hex);
	else
		goto done;
	rv = 0;
 done:
	if (st != NULL)
		mysql_stmt_close(st);
	if (db != NULL)
		mysql_close(db);
	free(der);
	X509_free(x);
	return rv;
}

/* ---- import-legacy ---- */

/*
 * Undo the escapes of `mysql -B` output (\0 \b \n \r \t \Z \\) in
 * place.  Returns the new length, or -1 on a dangling backslash.
 */
static long
unescape(char *s)
{
	char *r = s, *w = s;

	while (*r != '\0') {
		if (*r != '\\') {
			*w++ = *r++;
			continue;
		}
		switch (r[1]) {
		case '0':
			*w++ = '\0';
			break;
		case 'b':
			*w++ = '\b';
			break;
		case 'n':
			*w++ = '\n';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'Z':
			*w++ = '\032';
			break;
		case '\\':
			*w++ = '\\';
			break;
		default:
			return -1;
		}
		r += 2;
	}
	*w = '\0';
	return (long)(w - s);
}

struct legacy_row {
	char		user[ACCOUNT_USER_MAX + 1];
	char		email[ACCOUNT_EMAIL_MAX + 1];
	uint8_t		salt[LEGACY_SALT_MAX];
	size_t		saltlen;
	uint8_t		hash[32];
};

/* Parse one line into r; returns 0, or -1 with *why set. */
static int
parse_legacy(char *line, int salt_text, struct legacy_row *r,
    const char **why)
{
	char *f[4], *p = line;
	long len[4];
	int i;

	for (i = 0; i < 4; i++) {
		f[i] = p;
		if ((p = strchr(p, '\t')) != NULL)
			*p++ = '\0';
		else if (i < 3) {
			*why = "expected 4 tab-separated fields";
			return -1;
		}
	}
	if (p != NULL) {
		*why = "more than 4 fields";
		return -1;
	}
	for (i = 0; i < 4; i++) {
		if (strcmp(f[i], "NULL") == 0) {
			*why = "a NULL field";
			return -1;
		}
		if ((len[i] = unescape(f[i])) < 0) {
			*why = "a bad backslash escape";
			return -1;
		}
	}
	if (account_username_canon(f[0], (size_t)len[0], r->user) == -1) {
		*why = "invalid username (1..32 of a-z 0-9 _ . -)";
		return -1;
	}
	if (account_email_check(f[1], (size_t)len[1]) == -1) {
		*why = "invalid email";
		return -1;
	}
	memcpy(r->email, f[1], (size_t)len[1]);
	r->email[len[1]] = '\0';
	if (salt_text) {
		if (len[2] < 1 || len[2] > LEGACY_SALT_MAX) {
			*why = "salt must be 1..64 bytes";
			return -1;
		}
		memcpy(r->salt, f[2], (size_t)len[2]);
		r->saltlen = (size_t)len[2];
	} else {
		if (len[2] < 2 || len[2] % 2 != 0 || len[2] > 2 * 32 ||
		    hex_decode(f[2], r->salt, (size_t)len[2] / 2) == -1) {
			*why = "salt must be 2..64 hex digits (or use "
			    "--salt-text)";
			return -1;
		}
		r->saltlen = (size_t)len[2] / 2;
	}
	if (len[3] != 64 || hex_decode(f[3], r->hash, sizeof(r->hash)) == -1) {
		*why = "pwd_hash must be 64 hex digits";
		return -1;
	}
	return 0;
}

static int
user_import(int argc, char **argv)
{
	static const char sql[] =
	    "INSERT INTO users (username, email, pw_kdf, pw_salt, pw_hash) "
	    "VALUES (?, ?, 'legacy-sha256', ?, ?)";
	const char *config, *path, *why;
	struct legacy_row row;
	MYSQL *db = NULL;
	MYSQL_BIND in[4];
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0, imported = 0, present = 0, rejected = 0;
	unsigned int err;
	int salt_text = 0, rv = 1;

	if (parse_opts(argc, argv, 1, &config, &salt_text, NULL) == -1)
		return usage("import-legacy");
	path = argv[optind];
	if (strcmp(path, "-") == 0)
		f = stdin;
	else if ((f = fopen(path, "re")) == NULL) {
		log_warn("%s", path);
		return 1;
	}
	if ((db = open_db(config)) == NULL)
		goto done;
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (n > IMPORT_LINE_MAX) {
			log_warnx("%s:%lu: line too long, rejected", path,
			    lineno);
			rejected++;
			continue;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		/* The column names `mysql -B` prints first. */
		if (lineno == 1 &&
		    strcmp(line, "username\temail\tsalt\tpwd_hash") == 0)
			continue;
		if ((size_t)n != strlen(line)) {
			log_warnx("%s:%lu: NUL byte in line, rejected", path,
			    lineno);
			rejected++;
			continue;
		}
		memset(&row, 0, sizeof(row));
		if (parse_legacy(line, salt_text, &row, &why) == -1) {
			log_warnx("%s:%lu: %s, rejected", path, lineno, why);
			rejected++;
			continue;
		}
		bind_str(&in[0], row.user, strlen(row.user));
		bind_str(&in[1], row.email, strlen(row.email));
		bind_bin(&in[2], row.salt, row.saltlen);
		bind_bin(&in[3], row.hash, sizeof(row.hash));
		if (exec(db, sql, in, NULL, &err, ER_DUP_ENTRY) == 0)
			imported++;
		else if (err == ER_DUP_ENTRY) {
			/* Importing twice is harmless: the rows are there. */
			log_info("%s:%lu: %s or its email already exists, "
			    "skipped", path, lineno, row.user);
			present++;
		} else {
			log_warnx("%s:%lu: stopping at a database error", path,
			    lineno);
			goto done;
		}
	}
	if (ferror(f)) {
		log_warn("%s: read", path);
		goto done;
	}
	printf("imported %lu, already present %lu, rejected %lu\n", imported,
	    present, rejected);
	rv = rejected == 0 ? 0 : 1;
 done:
	explicit_bzero(&row, sizeof(row));
	free(line);
	if (f != stdin)
		fclose(f);
	if (db != NULL)
		mysql_close(db);
	return rv;
}
