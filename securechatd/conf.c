/*
 * conf.c: the securechatd configuration file (securechatd.conf(5)).
 *
 * One parser fills one struct sc_config.  The grammar is line based:
 * "keyword value", '#' starts a comment at the start of a line or after
 * blanks, a value may be double-quoted to hold blanks.  Keywords come
 * from one sorted table (looked up with bsearch); each one may appear
 * once, except listen.  Every error names the file and the line, so that
 * `securechatd -t` tells an administrator exactly what to fix.
 */
#include "securechatd.h"

#include <sys/stat.h>

#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "authd/authd.h"
#include "keyd/keyd.h"
#include "log.h"
#include "privdrop.h"
#include "router/router.h"
#include "transcript.h"
#include "util.h"

/*
 * Every session holds one channel in the router, in ONE keyd instance
 * (keyd_processes) and in ONE authd instance (authd_processes): stay
 * under all caps.  The keyd and authd caps apply to every instance alone,
 * not to their sum, because one instance may serve every session (the
 * others down, or a pool of 1).
 */
#define MIN_OF(a, b)	((a) < (b) ? (a) : (b))
#define SESSIONS_MAX	MIN_OF(MIN_OF(AUTHD_MAX_CHANNELS, KEYD_MAX_CHANNELS), \
	ROUTER_MAX_CHANNELS)

#define CONF_LINE_MAX	1024
#define SCRYPT_MAX_MEM	(1024ULL * 1024 * 1024)	/* 128 * r * 2^N */

enum conf_type {
	CT_PATH,	/* absolute path */
	CT_PATH_NONE,	/* absolute path, or "none" for "" */
	CT_HOST,	/* DNS name */
	CT_USER,	/* account name */
	CT_UINT,	/* number in [min, max] */
	CT_SECONDS,	/* number with optional s/m/h suffix, in [min, max] */
	CT_BOOL,	/* yes | no */
	CT_LISTEN,	/* addr:port, [v6]:port, *:port or port */
	CT_STARTUPS,	/* start:rate:full or a number */
	CT_FACILITY,	/* syslog facility name */
	CT_PAIR,	/* one of two words (pairs[] below), an int field */
};

struct conf_keyword {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;	/* offsetof(struct sc_config, field) */
	size_t		 size;	/* sizeof the field (strings) */
	unsigned long	 min, max;
	int		 multi;	/* may appear more than once */
};

#define KS(n, t, f) { n, t, offsetof(struct sc_config, f), \
	sizeof(((struct sc_config *)0)->f), 0, 0, 0 }
#define KN(n, t, f, lo, hi) { n, t, offsetof(struct sc_config, f), \
	sizeof(((struct sc_config *)0)->f), lo, hi, 0 }

/* Sorted by name (bsearch); the unit test checks the order. */
static const struct conf_keyword keywords[] = {
	KS("audit_log", CT_PATH, audit_log),
	KN("auth_failure_window", CT_SECONDS, auth_failure_window, 1, 86400),
	KN("auth_max_failures", CT_UINT, auth_max_failures, 1, 1000),
	KS("authd_path", CT_PATH, authd_path),
	KN("authd_processes", CT_UINT, authd_processes, 1,
	    SC_AUTHD_PROCESSES_MAX),
	KS("authd_user", CT_USER, authd_user),
	KN("bind_certificates", CT_BOOL, bind_certificates, 0, 1),
	KS("ca", CT_PATH, ca),
	KS("cert", CT_PATH, cert),
	KS("crl", CT_PATH_NONE, crl),
	KS("db_config", CT_PATH, db_config),
	KN("drain_timeout", CT_SECONDS, drain_timeout, 0, 3600),
	KN("handshake_timeout", CT_SECONDS, handshake_timeout, 1, 3600),
	KN("idle_timeout", CT_SECONDS, idle_timeout, 0, 86400),
	KS("jail", CT_PATH, jail),
	KS("key", CT_PATH, key),
	KS("keyd_path", CT_PATH, keyd_path),
	KN("keyd_processes", CT_UINT, keyd_processes, 1,
	    SC_KEYD_PROCESSES_MAX),
	KS("keyd_user", CT_USER, keyd_user),
	{ "listen", CT_LISTEN, 0, 0, 0, 0, 1 },
	KS("log_facility", CT_FACILITY, log_facility),
	KN("max_per_source", CT_UINT, max_per_source, 1, SESSIONS_MAX),
	KN("max_sessions", CT_UINT, max_sessions, 1, SESSIONS_MAX),
	KS("max_startups", CT_STARTUPS, startups_begin),
	KN("message_burst", CT_UINT, message_burst, 1, 10000),
	KN("message_queue_max", CT_UINT, message_queue_max, 1, 10000000),
	KN("message_rate", CT_UINT, message_rate, 1, 1000),	/* authd -M */
	KN("message_retention", CT_UINT, message_retention, 1, 3650),
	KS("receipt_dir", CT_PATH, receipt_dir),
	KN("registration", CT_BOOL, registration, 0, 1),
	KN("room_max_members", CT_UINT, room_max_members, 2, 64),
	KS("router_path", CT_PATH, router_path),
	KS("router_user", CT_USER, router_user),
	KN("scrypt_n_log2", CT_UINT, scrypt_n_log2, 10, 24),
	KN("scrypt_p", CT_UINT, scrypt_p, 1, 16),
	KN("scrypt_r", CT_UINT, scrypt_r, 1, 32),
	KS("server_name", CT_HOST, server_name),
	KN("stale_window", CT_SECONDS, stale_window, 1, 3600),
	KS("transcript_dir", CT_PATH, transcript_dir),
	KS("transcript_sync", CT_PAIR, transcript_sync),
	KS("worker_spawn", CT_PAIR, worker_spawn),
	KS("worker_user", CT_USER, worker_user),
};

#define NKEYWORDS	(sizeof(keywords) / sizeof(keywords[0]))

static const struct {
	const char	*name;
	int		 facility;
} facilities[] = {
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
	{ "daemon", LOG_DAEMON }, { "local0", LOG_LOCAL0 },
	{ "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },
	{ "local7", LOG_LOCAL7 }, { "user", LOG_USER },
};

/* Parser state: where we are, for messages. */
struct conf_ctx {
	struct sc_config *conf;
	const char	*name;
	unsigned int	 line;
	char		*err;
	size_t		 errlen;
	unsigned int	 seen[NKEYWORDS];	/* line of first use */
};

static int conf_error(struct conf_ctx *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
conf_error(struct conf_ctx *ctx, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->line > 0)
		snprintf(ctx->err, ctx->errlen, "%s:%u: %s", ctx->name,
		    ctx->line, msg);
	else
		snprintf(ctx->err, ctx->errlen, "%s: %s", ctx->name, msg);
	return -1;
}

static void
set_string(char *dst, size_t size, const char *src)
{
	strlcpy(dst, src, size);
}

/*
 * The default of authd_processes and keyd_processes: one per online CPU,
 * so that concurrent logins (one scrypt each) and concurrent signatures
 * (one RSA private operation each), single-threaded, use every core.
 * Read once per process: the parser also runs in every worker and in the
 * fuzzer, and the answer does not change under them.
 */
static unsigned int
default_processes(void)
{
	static unsigned int cached;
	long n;

	if (cached == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 1)
			n = 1;
		if (n > SC_AUTHD_PROCESSES_MAX)
			n = SC_AUTHD_PROCESSES_MAX;
		if (n > SC_KEYD_PROCESSES_MAX)
			n = SC_KEYD_PROCESSES_MAX;
		cached = (unsigned int)n;
	}
	return cached;
}

void
conf_init(struct sc_config *c)
{
	memset(c, 0, sizeof(*c));
	set_string(c->db_config, sizeof(c->db_config),
	    SYSCONFDIR "/securechat/db.conf");
	set_string(c->worker_user, sizeof(c->worker_user), "_securechat");
	set_string(c->keyd_user, sizeof(c->keyd_user), "_securechat-key");
	set_string(c->authd_user, sizeof(c->authd_user), "_securechat-auth");
	set_string(c->router_user, sizeof(c->router_user),
	    "_securechat-router");
	set_string(c->jail, sizeof(c->jail), "/var/empty/securechat");
	set_string(c->transcript_dir, sizeof(c->transcript_dir),
	    "/var/lib/securechat/transcripts");
	set_string(c->receipt_dir, sizeof(c->receipt_dir),
	    "/var/lib/securechat/receipts");
	set_string(c->audit_log, sizeof(c->audit_log),
	    "/var/log/securechat/audit.log");
	c->authd_processes = default_processes();
	c->keyd_processes = default_processes();
	c->max_sessions = 256;
	c->startups_begin = 10;		/* sshd's MaxStartups 10:30:100 */
	c->startups_rate = 30;
	c->startups_full = 100;
	c->max_per_source = 10;
	c->handshake_timeout = 30;
	c->idle_timeout = 600;
	c->stale_window = 120;
	c->drain_timeout = 10;
	c->registration = 1;
	c->scrypt_n_log2 = 17;		/* OWASP: N=2^17, r=8, p=1 */
	c->scrypt_r = 8;
	c->scrypt_p = 1;
	c->auth_max_failures = 5;
	c->auth_failure_window = 900;
	c->bind_certificates = 1;
	c->message_rate = 5;		/* per second, per user */
	c->message_burst = 20;
	c->message_queue_max = 10000;	/* undelivered, per recipient */
	c->room_max_members = 32;
	c->message_retention = 30;	/* days */
	c->log_facility = LOG_DAEMON;
	c->transcript_sync = TRANSCRIPT_SYNC_BATCH;
	c->worker_spawn = WORKER_SPAWN_FORK;
}

const char *
conf_facility_name(int facility)
{
	size_t i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (facilities[i].facility == facility)
			return facilities[i].name;
	return "daemon";
}

static int
keyword_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct conf_keyword *)elem)->name);
}

/* Strict decimal: digits only, no sign, no blanks, no overflow. */
static int
parse_number(const char *s, unsigned long long *out, const char **endp)
{
	unsigned long long v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (ULLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	*out = v;
	*endp = p;
	return 0;
}

static int
set_uint(struct conf_ctx *ctx, const struct conf_keyword *kw, const char *v,
    int seconds)
{
	unsigned long long n, mult = 1;
	const char *end;

	if (parse_number(v, &n, &end) == -1)
		goto bad;
	if (seconds && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 's':
			mult = 1;
			break;
		case 'm':
			mult = 60;
			break;
		case 'h':
			mult = 3600;
			break;
		default:
			goto bad;
		}
		end++;
	}
	if (*end != '\0' || n > ULONG_MAX / mult)
		goto bad;
	n *= mult;
	if (n < kw->min || n > kw->max)
		goto bad;
	*(unsigned int *)(void *)((char *)ctx->conf + kw->off) =
	    (unsigned int)n;
	return 0;
 bad:
	if (seconds)
		return conf_error(ctx, "%s: \"%s\" is not a duration from "
		    "%lu to %lu seconds (suffix s, m or h allowed)", kw->name,
		    v, kw->min, kw->max);
	return conf_error(ctx, "%s: \"%s\" is not a number from %lu to %lu",
	    kw->name, v, kw->min, kw->max);
}

static int
set_path(struct conf_ctx *ctx, const struct conf_keyword *kw, const char *v,
    int none_ok)
{
	char *dst = (char *)ctx->conf + kw->off;

	if (none_ok && strcmp(v, "none") == 0) {
		dst[0] = '\0';
		return 0;
	}
	/* Children chdir to / after the drop: relative paths would move. */
	if (v[0] != '/')
		return conf_error(ctx, "%s: \"%s\" is not an absolute path",
		    kw->name, v);
	if (strlcpy(dst, v, kw->size) >= kw->size)
		return conf_error(ctx, "%s: path longer than %zu bytes",
		    kw->name, kw->size - 1);
	return 0;
}

static int
set_host(struct conf_ctx *ctx, const struct conf_keyword *kw, const char *v)
{
	char *dst = (char *)ctx->conf + kw->off;
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') ||
		    (v[i] >= 'A' && v[i] <= 'Z') ||
		    (v[i] >= '0' && v[i] <= '9') || v[i] == '-' ||
		    v[i] == '.'))
			return conf_error(ctx, "%s: \"%s\" is not a host name",
			    kw->name, v);
	if (strlcpy(dst, v, kw->size) >= kw->size)
		return conf_error(ctx, "%s: name longer than %zu bytes",
		    kw->name, kw->size - 1);
	return 0;
}

static int
set_user(struct conf_ctx *ctx, const struct conf_keyword *kw, const char *v)
{
	char *dst = (char *)ctx->conf + kw->off;
	size_t i;

	/* The portable user name set, plus the leading '_' of ours. */
	for (i = 0; v[i] != '\0'; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') ||
		    (v[i] >= 'A' && v[i] <= 'Z') ||
		    (v[i] >= '0' && v[i] <= '9') || v[i] == '_' ||
		    (v[i] == '-' && i > 0) || (v[i] == '.' && i > 0)))
			return conf_error(ctx, "%s: \"%s\" is not a user name",
			    kw->name, v);
	if (strcmp(v, "root") == 0)
		return conf_error(ctx, "%s: must not be root", kw->name);
	if (strlcpy(dst, v, kw->size) >= kw->size)
		return conf_error(ctx, "%s: user name longer than %zu bytes",
		    kw->name, kw->size - 1);
	return 0;
}

static int
set_bool(struct conf_ctx *ctx, const struct conf_keyword *kw, const char *v)
{
	int *dst = (int *)(void *)((char *)ctx->conf + kw->off);

	if (strcmp(v, "yes") == 0)
		*dst = 1;
	else if (strcmp(v, "no") == 0)
		*dst = 0;
	else
		return conf_error(ctx, "%s: \"%s\" is neither yes nor no",
		    kw->name, v);
	return 0;
}

static int
set_facility(struct conf_ctx *ctx, const struct conf_keyword *kw,
    const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcmp(v, facilities[i].name) == 0) {
			ctx->conf->log_facility = facilities[i].facility;
			return 0;
		}
	return conf_error(ctx, "%s: unknown syslog facility \"%s\" (daemon, "
	    "auth, authpriv, user, local0 to local7)", kw->name, v);
}

/* The CT_PAIR keywords: the two words each takes, and what they set. */
static const struct {
	const char	*keyword;
	const char	*word[2];
	int		 value[2];
} pairs[] = {
	{ "transcript_sync", { "always", "batch" },
	    { TRANSCRIPT_SYNC_EACH, TRANSCRIPT_SYNC_BATCH } },
	{ "worker_spawn", { "fork", "exec" },
	    { WORKER_SPAWN_FORK, WORKER_SPAWN_EXEC } },
};

static int
set_pair(struct conf_ctx *ctx, const struct conf_keyword *kw, const char *v)
{
	int *field = (int *)(void *)((char *)ctx->conf + kw->off);
	size_t i, j;

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		if (strcmp(kw->name, pairs[i].keyword) != 0)
			continue;
		for (j = 0; j < 2; j++)
			if (strcmp(v, pairs[i].word[j]) == 0) {
				*field = pairs[i].value[j];
				return 0;
			}
		return conf_error(ctx, "%s: \"%s\" is neither %s nor %s",
		    kw->name, v, pairs[i].word[0], pairs[i].word[1]);
	}
	return conf_error(ctx, "%s: no words defined", kw->name);
}

static int
set_listen(struct conf_ctx *ctx, const char *v)
{
	struct sc_config *c = ctx->conf;
	struct sc_listen *l;
	unsigned char addr[16];
	unsigned long long port;
	const char *colon, *end;
	char host[SC_ADDR_MAX];
	size_t hlen;

	if (c->nlisten >= SC_MAX_LISTEN)
		return conf_error(ctx, "listen: more than %d addresses",
		    SC_MAX_LISTEN);
	memset(host, 0, sizeof(host));
	if (v[0] == '[') {
		/* [2001:db8::1]:9000 */
		if ((end = strchr(v, ']')) == NULL || end[1] != ':')
			goto bad;
		hlen = (size_t)(end - v - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, v + 1, hlen);
		if (inet_pton(AF_INET6, host, addr) != 1)
			goto bad;
		colon = end + 1;
	} else if ((colon = strrchr(v, ':')) != NULL) {
		hlen = (size_t)(colon - v);
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, v, hlen);
		if (strcmp(host, "*") == 0)
			host[0] = '\0';
		else if (inet_pton(AF_INET, host, addr) != 1)
			goto bad;	/* v6 needs brackets, names are refused */
	} else
		colon = v - 1;	/* a port alone */
	if (parse_number(colon + 1, &port, &end) == -1 || *end != '\0' ||
	    port < 1 || port > 65535)
		goto bad;
	l = &c->listen[c->nlisten++];
	strlcpy(l->host, host, sizeof(l->host));
	snprintf(l->port, sizeof(l->port), "%llu", port);
	return 0;
 bad:
	return conf_error(ctx, "listen: \"%s\" is not ADDRESS:PORT (an IPv4 "
	    "address, [IPv6 address], or * for all, and a port 1-65535)", v);
}

static int
set_startups(struct conf_ctx *ctx, const char *v)
{
	struct sc_config *c = ctx->conf;
	unsigned long long a, r, f;
	const char *end;

	if (parse_number(v, &a, &end) == -1)
		goto bad;
	if (*end == '\0') {
		/* A plain number: refuse every connection beyond it. */
		r = 100;
		f = a;
	} else {
		if (*end != ':' || parse_number(end + 1, &r, &end) == -1 ||
		    *end != ':' || parse_number(end + 1, &f, &end) == -1 ||
		    *end != '\0')
			goto bad;
	}
	if (a < 1 || f > SESSIONS_MAX || a > f || r < 1 || r > 100)
		goto bad;
	c->startups_begin = (unsigned int)a;
	c->startups_rate = (unsigned int)r;
	c->startups_full = (unsigned int)f;
	return 0;
 bad:
	return conf_error(ctx, "max_startups: \"%s\" is not START:RATE:FULL "
	    "(1 <= START <= FULL, RATE a percentage 1-100) or a number", v);
}

static int
conf_set(struct conf_ctx *ctx, const struct conf_keyword *kw, const char *v)
{
	switch (kw->type) {
	case CT_PATH:
		return set_path(ctx, kw, v, 0);
	case CT_PATH_NONE:
		return set_path(ctx, kw, v, 1);
	case CT_HOST:
		return set_host(ctx, kw, v);
	case CT_USER:
		return set_user(ctx, kw, v);
	case CT_UINT:
		return set_uint(ctx, kw, v, 0);
	case CT_SECONDS:
		return set_uint(ctx, kw, v, 1);
	case CT_BOOL:
		return set_bool(ctx, kw, v);
	case CT_LISTEN:
		return set_listen(ctx, v);
	case CT_STARTUPS:
		return set_startups(ctx, v);
	case CT_FACILITY:
		return set_facility(ctx, kw, v);
	case CT_PAIR:
		return set_pair(ctx, kw, v);
	}
	return conf_error(ctx, "internal error: keyword type");
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* One line, NUL-terminated, without its newline. */
static int
conf_line(struct conf_ctx *ctx, char *line)
{
	const struct conf_keyword *kw;
	char *p = line, *key, *val;
	size_t idx;

	while (is_blank(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	key = p;
	while (*p != '\0' && !is_blank(*p))
		p++;
	if (*p != '\0')
		*p++ = '\0';
	while (is_blank(*p))
		p++;
	if ((kw = bsearch(key, keywords, NKEYWORDS, sizeof(keywords[0]),
	    keyword_cmp)) == NULL)
		return conf_error(ctx, "unknown keyword \"%s\"", key);
	if (*p == '\0' || *p == '#')
		return conf_error(ctx, "%s: missing value", kw->name);
	if (*p == '"') {
		val = ++p;
		while (*p != '\0' && *p != '"')
			p++;
		if (*p != '"')
			return conf_error(ctx, "%s: unterminated quote",
			    kw->name);
		*p++ = '\0';
		if (*val == '\0')
			return conf_error(ctx, "%s: empty value", kw->name);
	} else {
		val = p;
		while (*p != '\0' && !is_blank(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	while (is_blank(*p))
		p++;
	if (*p != '\0' && *p != '#')
		return conf_error(ctx, "%s: unexpected \"%s\" after the value",
		    kw->name, p);
	idx = (size_t)(kw - keywords);
	if (!kw->multi && ctx->seen[idx] != 0)
		return conf_error(ctx, "%s given twice (first on line %u)",
		    kw->name, ctx->seen[idx]);
	if (ctx->seen[idx] == 0)
		ctx->seen[idx] = ctx->line;
	return conf_set(ctx, kw, val);
}

/* Rules between keywords, checked once the whole file is read. */
static int
conf_finish(struct conf_ctx *ctx)
{
	struct sc_config *c = ctx->conf;
	unsigned long long mem;

	ctx->line = 0;
	if (c->ca[0] == '\0')
		return conf_error(ctx, "missing required keyword \"ca\"");
	if (c->cert[0] == '\0')
		return conf_error(ctx, "missing required keyword \"cert\"");
	if (c->key[0] == '\0')
		return conf_error(ctx, "missing required keyword \"key\"");
	if (strcmp(c->worker_user, c->keyd_user) == 0 ||
	    strcmp(c->worker_user, c->authd_user) == 0 ||
	    strcmp(c->keyd_user, c->authd_user) == 0)
		return conf_error(ctx, "worker_user, keyd_user and authd_user "
		    "must be three different users (one per process)");
	if (strcmp(c->router_user, c->worker_user) == 0 ||
	    strcmp(c->router_user, c->keyd_user) == 0 ||
	    strcmp(c->router_user, c->authd_user) == 0)
		return conf_error(ctx, "router_user must differ from "
		    "worker_user, keyd_user and authd_user (one user per "
		    "process)");
	mem = 128ULL * c->scrypt_r * (1ULL << c->scrypt_n_log2);
	if (mem > SCRYPT_MAX_MEM)
		return conf_error(ctx, "scrypt_n_log2 %u with scrypt_r %u "
		    "needs %llu MiB, more than the 1024 MiB allowed",
		    c->scrypt_n_log2, c->scrypt_r, mem >> 20);
	if (c->startups_full > c->max_sessions)
		c->startups_full = c->max_sessions;
	if (c->startups_begin > c->startups_full)
		c->startups_begin = c->startups_full;
	if (c->nlisten == 0) {
		c->listen[0].host[0] = '\0';
		strlcpy(c->listen[0].port, SC_DEFAULT_PORT,
		    sizeof(c->listen[0].port));
		c->nlisten = 1;
	}
	return 0;
}

int
conf_parse(struct sc_config *conf, const char *name, const char *text,
    size_t len, char *err, size_t errlen)
{
	struct conf_ctx ctx;
	char line[CONF_LINE_MAX + 1];
	size_t off = 0, n;
	const char *nl;

	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.name = name;
	ctx.err = err;
	ctx.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	conf_init(conf);
	while (off < len) {
		ctx.line++;
		nl = memchr(text + off, '\n', len - off);
		n = nl != NULL ? (size_t)(nl - (text + off)) : len - off;
		if (n > CONF_LINE_MAX)
			return conf_error(&ctx, "line longer than %d bytes",
			    CONF_LINE_MAX);
		memcpy(line, text + off, n);
		line[n] = '\0';
		if (strlen(line) != n)
			return conf_error(&ctx, "NUL byte in line");
		if (conf_line(&ctx, line) == -1)
			return -1;
		off += n + (nl != NULL ? 1 : 0);
	}
	return conf_finish(&ctx);
}

int
conf_load(struct sc_config *conf, const char *path, char **textp,
    size_t *lenp, char *err, size_t errlen)
{
	uint8_t *text;
	size_t len;

	if ((text = read_file_bounded(path, SC_CONF_MAX, &len)) == NULL) {
		if (errno == EFBIG)
			snprintf(err, errlen, "%s: larger than %d bytes", path,
			    SC_CONF_MAX);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (conf_parse(conf, path, (const char *)text, len, err, errlen) ==
	    -1) {
		freezero(text, len);
		return -1;
	}
	strlcpy(conf->path, path, sizeof(conf->path));
	if (textp != NULL) {
		*textp = (char *)text;
		*lenp = len;
	} else
		freezero(text, len);
	return 0;
}

void
conf_helper_path(const struct sc_config *c, const char *name, char *out,
    size_t outlen)
{
	const char *set = NULL, *dir;

	if (strcmp(name, "keyd") == 0 && c->keyd_path[0] != '\0')
		set = c->keyd_path;
	else if (strcmp(name, "authd") == 0 && c->authd_path[0] != '\0')
		set = c->authd_path;
	else if (strcmp(name, "router") == 0 && c->router_path[0] != '\0')
		set = c->router_path;
	if (set != NULL) {
		strlcpy(out, set, outlen);
		return;
	}
	/* Tests run uninstalled binaries from the build tree. */
	if ((dir = getenv("SC_LIBEXECDIR")) == NULL || *dir == '\0')
		dir = LIBEXECDIR;
	snprintf(out, outlen, "%s/%s", dir, name);
}

static int
check_readable(const char *what, const char *path)
{
	if (path[0] == '\0')
		return 0;
	if (access(path, R_OK) == -1) {
		log_warn("%s %s", what, path);
		return 1;
	}
	return 0;
}

static int
check_dir(const char *what, const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		log_warn("%s %s", what, path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s %s: not a directory", what, path);
		return 1;
	}
	return 0;
}

static int
check_user(const char *what, const char *name)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(name)) == NULL) {
		if (errno != 0)
			log_warn("%s %s", what, name);
		else
			log_warnx("%s %s: no such user (see sysusers.d)",
			    what, name);
		return 1;
	}
	if (pw->pw_uid == 0) {
		log_warnx("%s %s: has uid 0", what, name);
		return 1;
	}
	return 0;
}

static int
check_program(const char *what, const char *path)
{
	if (access(path, X_OK) == -1) {
		log_warn("%s %s", what, path);
		return 1;
	}
	return 0;
}

/* A server certificate that does not carry server_name fails every client. */
static int
check_server_name(const struct sc_config *c)
{
	FILE *f;
	X509 *x;
	int ok;

	if (c->server_name[0] == '\0')
		return 0;
	if ((f = fopen(c->cert, "r")) == NULL)
		return 0;	/* already reported */
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		log_sslx("cert %s: not a PEM certificate", c->cert);
		return 1;
	}
	ok = X509_check_host(x, c->server_name, 0, 0, NULL) == 1;
	X509_free(x);
	if (!ok) {
		log_warnx("cert %s is not valid for server_name %s", c->cert,
		    c->server_name);
		return 1;
	}
	return 0;
}

/*
 * Each authd instance may hash one password at a time, with 128 * r * N
 * bytes: say so when all of them at once would not fit in memory (not
 * an error: logins would slow down or fail, the rest keeps working).
 */
static void
check_authd_memory(const struct sc_config *c)
{
	unsigned long long each, all, phys;
	long pages, pagesize;

	pages = sysconf(_SC_PHYS_PAGES);
	pagesize = sysconf(_SC_PAGESIZE);
	if (pages <= 0 || pagesize <= 0)
		return;
	phys = (unsigned long long)pages * (unsigned long long)pagesize;
	each = 128ULL * c->scrypt_r * (1ULL << c->scrypt_n_log2);
	all = each * c->authd_processes;
	if (all > phys)
		log_warnx("authd_processes %u with scrypt_n_log2 %u and "
		    "scrypt_r %u may hash with %llu MiB at once, more than "
		    "the %llu MiB of memory", c->authd_processes,
		    c->scrypt_n_log2, c->scrypt_r, all >> 20, phys >> 20);
}

int
conf_check_env(const struct sc_config *c)
{
	char prog[SC_PATH_MAX];
	int bad = 0;

	bad += check_readable("ca", c->ca);
	bad += check_readable("crl", c->crl);
	bad += check_readable("cert", c->cert);
	bad += check_readable("key", c->key);
	bad += check_server_name(c);
	bad += check_readable("db_config", c->db_config);
	bad += check_dir("transcript_dir", c->transcript_dir);
	bad += check_dir("receipt_dir", c->receipt_dir);
	conf_helper_path(c, "keyd", prog, sizeof(prog));
	bad += check_program("keyd program", prog);
	conf_helper_path(c, "authd", prog, sizeof(prog));
	bad += check_program("authd program", prog);
	check_authd_memory(c);
	/* Users and the jail only matter when the drop will happen. */
	if (geteuid() == 0) {
		bad += check_user("worker_user", c->worker_user);
		bad += check_user("keyd_user", c->keyd_user);
		bad += check_user("authd_user", c->authd_user);
		if (privdrop_jail_dir(c->jail) == -1)
			bad++;
	}
	/*
	 * The router only carries live delivery between online users:
	 * without it logins, sessions and the store work, and the master
	 * keeps trying to start it.  Said loudly, but not a reason to stay
	 * down.
	 */
	conf_helper_path(c, "router", prog, sizeof(prog));
	if (check_program("router program", prog) ||
	    (geteuid() == 0 && check_user("router_user", c->router_user)))
		log_warnx("without the router, messages reach users who are "
		    "online only at their next login");
	return bad;
}
