/*
 * dbconf.c: read the database credentials file and open connections with
 * SecureChat's standard client settings (see dbconf.h).
 */
#include "dbconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "log.h"

#define DBCONF_LINE_MAX	1024
#define DB_CONNECT_TIMEOUT	3	/* seconds: the server is near */
/* A hung server must not hold a login (and authd's one thread) long. */
#define DB_RW_TIMEOUT		5

enum dbconf_key { K_DATABASE, K_HOST, K_PASSWORD, K_PORT, K_SOCKET, K_USER };

static const struct dbconf_keyword {
	const char	*name;
	enum dbconf_key	 key;
} keywords[] = {	/* sorted by name */
	{ "database",	K_DATABASE },
	{ "host",	K_HOST },
	{ "password",	K_PASSWORD },
	{ "port",	K_PORT },
	{ "socket",	K_SOCKET },
	{ "user",	K_USER },
};

void
dbconf_clear(struct dbconf *c)
{
	explicit_bzero(c, sizeof(*c));
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
set_str(char *dst, size_t dstlen, const char *val)
{
	if (strlcpy(dst, val, dstlen) >= dstlen) {
		explicit_bzero(dst, dstlen);
		return -1;
	}
	return 0;
}

static int
parse_line(struct dbconf *c, char *line, unsigned int *seen,
    const char *path, unsigned int lineno)
{
	char *key, *val, *eq;
	size_t i, vlen;
	const struct dbconf_keyword *kw = NULL;
	char *end;
	unsigned long port;

	key = trim(line);
	if (*key == '\0' || *key == '#')
		return 0;
	if ((eq = strchr(key, '=')) == NULL) {
		log_warnx("%s:%u: expected \"key = value\"", path, lineno);
		return -1;
	}
	*eq = '\0';
	key = trim(key);
	val = trim(eq + 1);
	vlen = strlen(val);
	/* Quotes keep blanks at either end of a value (passwords). */
	if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
		val[vlen - 1] = '\0';
		val++;
	}
	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strcmp(key, keywords[i].name) == 0)
			kw = &keywords[i];
	if (kw == NULL) {
		log_warnx("%s:%u: unknown keyword \"%.32s\"", path, lineno,
		    key);
		return -1;
	}
	if (*seen & (1u << kw->key)) {
		log_warnx("%s:%u: \"%s\" given twice", path, lineno, kw->name);
		return -1;
	}
	*seen |= 1u << kw->key;
	switch (kw->key) {
	case K_DATABASE:
		if (*val == '\0' ||
		    set_str(c->database, sizeof(c->database), val) == -1)
			goto badval;
		break;
	case K_HOST:
		if (*val == '\0' ||
		    set_str(c->host, sizeof(c->host), val) == -1)
			goto badval;
		break;
	case K_PASSWORD:
		if (set_str(c->password, sizeof(c->password), val) == -1)
			goto badval;
		break;
	case K_PORT:
		errno = 0;
		port = strtoul(val, &end, 10);
		if (*val == '\0' || *end != '\0' || errno != 0 || port < 1 ||
		    port > 65535)
			goto badval;
		c->port = (unsigned int)port;
		break;
	case K_SOCKET:
		if (val[0] != '/' ||
		    set_str(c->socket, sizeof(c->socket), val) == -1)
			goto badval;
		break;
	case K_USER:
		if (*val == '\0' ||
		    set_str(c->user, sizeof(c->user), val) == -1)
			goto badval;
		break;
	}
	return 0;
 badval:
	/* Never echo the value: it may be the password. */
	log_warnx("%s:%u: bad value for \"%s\"", path, lineno, kw->name);
	return -1;
}

int
dbconf_load(const char *path, struct dbconf *c)
{
	struct stat st;
	char *buf = NULL, *line, *next;
	size_t off = 0;
	ssize_t r;
	unsigned int lineno = 0, seen = 0;
	int fd, rv = -1;

	memset(c, 0, sizeof(*c));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW)) ==
	    -1) {
		log_warn("%s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("%s: fstat", path);
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("%s: not a regular file", path);
		goto done;
	}
	/* The file holds a password: nobody but its owner may read it. */
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		log_warnx("%s: mode %04o gives access to group or others; "
		    "chmod 600 it", path, (unsigned int)(st.st_mode & 07777));
		goto done;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_warnx("%s: owned by uid %u, expected root or uid %u", path,
		    (unsigned int)st.st_uid, (unsigned int)geteuid());
		goto done;
	}
	if (st.st_size > DBCONF_MAX_FILE) {
		log_warnx("%s: larger than %d bytes", path, DBCONF_MAX_FILE);
		goto done;
	}
	/*
	 * Room for one byte more than the limit, and the NUL after it: a
	 * file of exactly DBCONF_MAX_FILE bytes is accepted (as fstat said),
	 * one that grew past it since is not.
	 */
	if ((buf = calloc(1, DBCONF_MAX_FILE + 2)) == NULL) {
		log_warn("%s", path);
		goto done;
	}
	while (off < DBCONF_MAX_FILE + 1) {
		r = read(fd, buf + off, DBCONF_MAX_FILE + 1 - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			log_warn("%s: read", path);
			goto done;
		}
		if (r == 0)
			break;
		off += (size_t)r;
	}
	if (off > DBCONF_MAX_FILE) {
		log_warnx("%s: larger than %d bytes", path, DBCONF_MAX_FILE);
		goto done;
	}
	if (memchr(buf, '\0', off) != NULL) {
		log_warnx("%s: contains a NUL byte", path);
		goto done;
	}
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strlen(line) > DBCONF_LINE_MAX) {
			log_warnx("%s:%u: line too long", path, lineno);
			goto done;
		}
		if (parse_line(c, line, &seen, path, lineno) == -1)
			goto done;
	}
	if (c->user[0] == '\0' || c->database[0] == '\0') {
		log_warnx("%s: \"user\" and \"database\" are required", path);
		goto done;
	}
	if (c->host[0] == '\0' && c->socket[0] == '\0') {
		log_warnx("%s: one of \"host\" or \"socket\" is required",
		    path);
		goto done;
	}
	if (c->host[0] != '\0' && c->socket[0] != '\0') {
		log_warnx("%s: give \"host\" or \"socket\", not both", path);
		goto done;
	}
	rv = 0;
 done:
	if (buf != NULL)
		freezero(buf, DBCONF_MAX_FILE + 2);
	close(fd);
	if (rv == -1)
		dbconf_clear(c);
	return rv;
}

struct st_mysql *
dbconf_connect(const struct dbconf *c, unsigned int *errnum, char *errbuf,
    size_t errlen)
{
	MYSQL *db;
	unsigned int timeout = DB_CONNECT_TIMEOUT, rwtimeout = DB_RW_TIMEOUT;
	unsigned int proto;
	my_bool off = 0;
	unsigned long flags = CLIENT_FOUND_ROWS;

	*errnum = 0;
	if (errlen > 0)
		errbuf[0] = '\0';
	if ((db = mysql_init(NULL)) == NULL) {
		*errnum = CR_OUT_OF_MEMORY;
		snprintf(errbuf, errlen, "mysql_init: out of memory");
		return NULL;
	}
	/*
	 * A socket path means the local socket; a host means TCP even for
	 * "localhost", which the client library would otherwise turn into
	 * the default socket path (unreachable from authd's chroot).
	 */
	proto = c->socket[0] != '\0' ? MYSQL_PROTOCOL_SOCKET :
	    MYSQL_PROTOCOL_TCP;
	if (mysql_optionsv(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout) != 0 ||
	    mysql_optionsv(db, MYSQL_OPT_READ_TIMEOUT, &rwtimeout) != 0 ||
	    mysql_optionsv(db, MYSQL_OPT_WRITE_TIMEOUT, &rwtimeout) != 0 ||
	    mysql_optionsv(db, MYSQL_OPT_PROTOCOL, &proto) != 0 ||
	    mysql_optionsv(db, MYSQL_OPT_RECONNECT, &off) != 0 ||
	    mysql_optionsv(db, MYSQL_OPT_LOCAL_INFILE, &off) != 0 ||
	    mysql_optionsv(db, MYSQL_SET_CHARSET_NAME, "utf8mb4") != 0 ||
	    mysql_optionsv(db, MYSQL_INIT_COMMAND,
	    "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,"
	    "NO_ENGINE_SUBSTITUTION'") != 0) {
		*errnum = mysql_errno(db);
		snprintf(errbuf, errlen, "mysql_options: %s", mysql_error(db));
		mysql_close(db);
		return NULL;
	}
	if (mysql_real_connect(db, c->host[0] != '\0' ? c->host : NULL,
	    c->user, c->password, c->database, c->port,
	    c->socket[0] != '\0' ? c->socket : NULL, flags) == NULL) {
		*errnum = mysql_errno(db);
		snprintf(errbuf, errlen, "%s", mysql_error(db));
		mysql_close(db);
		return NULL;
	}
	return db;
}

int
dbconf_err_unavailable(unsigned int e)
{
	switch (e) {
	case CR_SOCKET_CREATE_ERROR:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_IPSOCK_ERROR:
	case CR_UNKNOWN_HOST:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_ERR_NET_READ:
	case CR_ERR_NET_WRITE:
	case ER_CON_COUNT_ERROR:
	case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED:
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_LOCK_DEADLOCK:
	case ER_QUERY_INTERRUPTED:
	case ER_OUT_OF_RESOURCES:
		return 1;
	default:
		return 0;
	}
}

struct st_mysql *
dbconf_open(const char *path)
{
	struct dbconf c;
	MYSQL *db;
	unsigned int err;
	char errbuf[512];

	if (dbconf_load(path, &c) == -1)
		return NULL;
	db = dbconf_connect(&c, &err, errbuf, sizeof(errbuf));
	dbconf_clear(&c);
	if (db == NULL)
		log_warnx("database: %s", errbuf);
	return db;
}

int
dbconf_schema_version(struct st_mysql *db, unsigned int *version,
    unsigned int *errnum)
{
	static const char sql[] = "SELECT MAX(version) FROM schema_version";
	MYSQL_STMT *st;
	MYSQL_BIND out[1];
	unsigned long long v = 0;
	my_bool isnull = 0;
	int r;

	*errnum = 0;
	if ((st = mysql_stmt_init(db)) == NULL) {
		*errnum = CR_OUT_OF_MEMORY;
		return -1;
	}
	memset(out, 0, sizeof(out));
	out[0].buffer_type = MYSQL_TYPE_LONGLONG;
	out[0].buffer = &v;
	out[0].is_unsigned = 1;
	out[0].is_null = &isnull;
	if (mysql_stmt_prepare(st, sql, sizeof(sql) - 1) != 0 ||
	    mysql_stmt_execute(st) != 0 ||
	    mysql_stmt_bind_result(st, out) != 0 ||
	    (r = mysql_stmt_fetch(st)) == 1 || r == MYSQL_DATA_TRUNCATED) {
		*errnum = mysql_stmt_errno(st);
		mysql_stmt_close(st);
		if (*errnum == ER_NO_SUCH_TABLE) {
			*version = 0;
			return 0;
		}
		if (*errnum == 0)
			*errnum = CR_UNKNOWN_ERROR;
		return -1;
	}
	(void)mysql_stmt_free_result(st);
	mysql_stmt_close(st);
	*version = (isnull || r == MYSQL_NO_DATA || v > 0xffffffffULL) ? 0 :
	    (unsigned int)v;
	return 0;
}
