/*
 * test_conf.c: the securechatd configuration parser (securechatd/conf.c,
 * compiled into this test) and `securechatd -t`; and the master's other
 * input check, the audit log writer (common/audit.c), which validates
 * what children send before it becomes a line of the log.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "ipc.h"
#include "securechatd/conf.c"
#include "testutil.h"

static const char minimal[] =
    "ca /etc/sc/ca.pem\ncert /etc/sc/server.pem\nkey /etc/sc/server.key\n";

static int
parse(struct sc_config *c, const char *text, char *err, size_t errlen)
{
	return conf_parse(c, "t.conf", text, strlen(text), err, errlen);
}

static void
test_keywords_sorted(void **state)
{
	size_t i;

	(void)state;
	/* bsearch() silently misses keywords of an unsorted table. */
	for (i = 1; i < NKEYWORDS; i++)
		assert_true(strcmp(keywords[i - 1].name, keywords[i].name) < 0);
	for (i = 0; i < NKEYWORDS; i++)
		assert_non_null(bsearch(keywords[i].name, keywords, NKEYWORDS,
		    sizeof(keywords[0]), keyword_cmp));
}

static void
test_defaults(void **state)
{
	static struct sc_config c;
	char err[512];

	(void)state;
	assert_int_equal(parse(&c, minimal, err, sizeof(err)), 0);
	assert_string_equal(c.ca, "/etc/sc/ca.pem");
	assert_string_equal(c.crl, "");
	assert_int_equal(c.nlisten, 1);
	assert_string_equal(c.listen[0].host, "");
	assert_string_equal(c.listen[0].port, "9000");
	assert_string_equal(c.worker_user, "_securechat");
	assert_string_equal(c.keyd_user, "_securechat-key");
	assert_string_equal(c.authd_user, "_securechat-auth");
	assert_string_equal(c.jail, "/var/empty/securechat");
	assert_int_equal(c.max_sessions, 256);
	assert_int_equal(c.startups_begin, 10);
	assert_int_equal(c.startups_rate, 30);
	assert_int_equal(c.startups_full, 100);
	assert_int_equal(c.handshake_timeout, 30);
	assert_int_equal(c.stale_window, 120);
	assert_int_equal(c.registration, 1);
	assert_int_equal(c.scrypt_n_log2, 17);
	assert_int_equal(c.scrypt_r, 8);
	assert_int_equal(c.scrypt_p, 1);
	assert_int_equal(c.log_facility, LOG_DAEMON);
	/* One authd and keyd per online CPU; transcripts synced per batch. */
	assert_int_equal(c.authd_processes,
	    sysconf(_SC_NPROCESSORS_ONLN) > SC_AUTHD_PROCESSES_MAX ?
	    SC_AUTHD_PROCESSES_MAX : sysconf(_SC_NPROCESSORS_ONLN));
	assert_int_equal(c.keyd_processes,
	    sysconf(_SC_NPROCESSORS_ONLN) > SC_KEYD_PROCESSES_MAX ?
	    SC_KEYD_PROCESSES_MAX : sysconf(_SC_NPROCESSORS_ONLN));
	assert_int_equal(c.transcript_sync, TRANSCRIPT_SYNC_BATCH);
	assert_int_equal(c.worker_spawn, WORKER_SPAWN_FORK);
}

static void
test_every_keyword(void **state)
{
	static struct sc_config c;
	char err[512];
	const char *text =
	    "# a comment\n"
	    "\n"
	    "   listen 127.0.0.1:9001   # trailing comment\n"
	    "listen [::1]:9002\n"
	    "listen *:9003\n"
	    "listen 9004\n"
	    "ca /a/ca.pem\n"
	    "crl none\n"
	    "cert /a/cert.pem\n"
	    "key\t/a/key.pem\n"
	    "server_name chat.example.org\n"
	    "db_config \"/a/db conf\"\n"
	    "worker_user w_user\n"
	    "keyd_user k-user\n"
	    "authd_user a.user\n"
	    "jail /var/empty\n"
	    "keyd_path /opt/keyd\n"
	    "keyd_processes 5\n"
	    "authd_path /opt/authd\n"
	    "transcript_dir /t\n"
	    "receipt_dir /r\n"
	    "audit_log /l/audit.log\n"
	    "max_sessions 50\n"
	    "max_startups 5:50:20\n"
	    "max_per_source 3\n"
	    "handshake_timeout 1m\n"
	    "idle_timeout 0\n"
	    "stale_window 90s\n"
	    "drain_timeout 1h\n"
	    "registration no\n"
	    "scrypt_n_log2 10\n"
	    "scrypt_r 4\n"
	    "scrypt_p 2\n"
	    "auth_max_failures 7\n"
	    "auth_failure_window 2m\n"
	    "authd_processes 3\n"
	    "transcript_sync always\n"
	    "worker_spawn exec\n"
	    "log_facility local3\r\n";

	(void)state;
	assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
	assert_int_equal(c.nlisten, 4);
	assert_string_equal(c.listen[0].host, "127.0.0.1");
	assert_string_equal(c.listen[0].port, "9001");
	assert_string_equal(c.listen[1].host, "::1");
	assert_string_equal(c.listen[1].port, "9002");
	assert_string_equal(c.listen[2].host, "");
	assert_string_equal(c.listen[3].host, "");
	assert_string_equal(c.listen[3].port, "9004");
	assert_string_equal(c.crl, "");
	assert_string_equal(c.key, "/a/key.pem");
	assert_string_equal(c.server_name, "chat.example.org");
	assert_string_equal(c.db_config, "/a/db conf");
	assert_string_equal(c.worker_user, "w_user");
	assert_string_equal(c.keyd_user, "k-user");
	assert_string_equal(c.authd_user, "a.user");
	assert_string_equal(c.jail, "/var/empty");
	assert_string_equal(c.keyd_path, "/opt/keyd");
	assert_string_equal(c.authd_path, "/opt/authd");
	assert_string_equal(c.transcript_dir, "/t");
	assert_string_equal(c.receipt_dir, "/r");
	assert_string_equal(c.audit_log, "/l/audit.log");
	assert_int_equal(c.max_sessions, 50);
	assert_int_equal(c.startups_begin, 5);
	assert_int_equal(c.startups_rate, 50);
	assert_int_equal(c.startups_full, 20);
	assert_int_equal(c.max_per_source, 3);
	assert_int_equal(c.handshake_timeout, 60);
	assert_int_equal(c.idle_timeout, 0);
	assert_int_equal(c.stale_window, 90);
	assert_int_equal(c.drain_timeout, 3600);
	assert_int_equal(c.registration, 0);
	assert_int_equal(c.scrypt_n_log2, 10);
	assert_int_equal(c.scrypt_r, 4);
	assert_int_equal(c.scrypt_p, 2);
	assert_int_equal(c.auth_max_failures, 7);
	assert_int_equal(c.auth_failure_window, 120);
	assert_int_equal(c.log_facility, LOG_LOCAL3);
	assert_int_equal(c.authd_processes, 3);
	assert_int_equal(c.keyd_processes, 5);
	assert_int_equal(c.transcript_sync, TRANSCRIPT_SYNC_EACH);
	assert_int_equal(c.worker_spawn, WORKER_SPAWN_EXEC);
}

static void
test_startups_forms(void **state)
{
	static struct sc_config c;
	char text[512], err[512];

	(void)state;
	/* A plain number refuses everything beyond it. */
	snprintf(text, sizeof(text), "%smax_startups 7\n", minimal);
	assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
	assert_int_equal(c.startups_begin, 7);
	assert_int_equal(c.startups_rate, 100);
	assert_int_equal(c.startups_full, 7);
	/* full is capped by max_sessions. */
	snprintf(text, sizeof(text), "%smax_sessions 8\nmax_startups 4:30:100\n",
	    minimal);
	assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
	assert_int_equal(c.startups_full, 8);
	assert_int_equal(c.startups_begin, 4);
}

static void
test_sample_file(void **state)
{
	static struct sc_config c;
	char err[512];
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(conf_load(&c, tu_src("etc/securechatd.conf"), &text,
	    &len, err, sizeof(err)), 0);
	assert_non_null(text);
	assert_true(len > 0);
	assert_string_equal(c.ca, "/etc/securechat/ca.pem");
	assert_int_equal(c.nlisten, 1);
	assert_string_equal(c.path, tu_src("etc/securechatd.conf"));
	free(text);
}

struct bad_case {
	const char	*text;
	const char	*prefix;	/* "t.conf:LINE: " */
	const char	*needle;	/* part of the message */
};

static const struct bad_case bad_cases[] = {
	{ "ca /a\nfrobnicate 1\n", "t.conf:2: ", "unknown keyword \"frobnicate\"" },
	{ "ca /a\ncert\n", "t.conf:2: ", "cert: missing value" },
	{ "ca /a\ncert # nothing\n", "t.conf:2: ", "missing value" },
	{ "max_sessions ten\n", "t.conf:1: ", "is not a number from 1 to" },
	{ "\nmax_sessions 0\n", "t.conf:2: ", "max_sessions" },
	{ "max_sessions 99999999999999999999999\n", "t.conf:1: ", "not a number" },
	{ "max_sessions -1\n", "t.conf:1: ", "not a number" },
	{ "max_sessions 10 20\n", "t.conf:1: ", "unexpected \"20\"" },
	{ "handshake_timeout 5d\n", "t.conf:1: ", "not a duration" },
	{ "handshake_timeout 0\n", "t.conf:1: ", "not a duration from 1" },
	{ "ca relative/ca.pem\n", "t.conf:1: ", "not an absolute path" },
	{ "ca /a\n\n\nca /b\n", "t.conf:4: ", "ca given twice (first on line 1)" },
	{ "listen 1.2.3.4\n", "t.conf:1: ", "listen:" },
	{ "listen host.example:9000\n", "t.conf:1: ", "listen:" },
	{ "listen ::1:9000\n", "t.conf:1: ", "listen:" },
	{ "listen *:0\n", "t.conf:1: ", "listen:" },
	{ "listen *:65536\n", "t.conf:1: ", "listen:" },
	{ "listen [::1]9000\n", "t.conf:1: ", "listen:" },
	{ "max_startups 30:30:10\n", "t.conf:1: ", "max_startups" },
	{ "max_startups 1:0:10\n", "t.conf:1: ", "max_startups" },
	{ "max_startups 1:30\n", "t.conf:1: ", "max_startups" },
	{ "registration maybe\n", "t.conf:1: ", "neither yes nor no" },
	{ "db_config \"/a b\n", "t.conf:1: ", "unterminated quote" },
	{ "db_config \"\"\n", "t.conf:1: ", "empty value" },
	{ "log_facility kern\n", "t.conf:1: ", "unknown syslog facility" },
	{ "worker_user bad/user\n", "t.conf:1: ", "not a user name" },
	{ "worker_user root\n", "t.conf:1: ", "must not be root" },
	{ "server_name bad_name!\n", "t.conf:1: ", "not a host name" },
	{ "scrypt_n_log2 9\n", "t.conf:1: ", "scrypt_n_log2" },
	{ "scrypt_r 33\n", "t.conf:1: ", "scrypt_r" },
	{ "authd_processes 0\n", "t.conf:1: ", "authd_processes" },
	{ "authd_processes 17\n", "t.conf:1: ", "authd_processes" },
	{ "keyd_processes 0\n", "t.conf:1: ", "keyd_processes" },
	{ "keyd_processes 17\n", "t.conf:1: ", "keyd_processes" },
	{ "transcript_sync never\n", "t.conf:1: ", "neither always nor batch" },
	{ "worker_spawn vfork\n", "t.conf:1: ", "neither fork nor exec" },
	/* Rules over the whole file have no line. */
	{ "cert /c\nkey /k\n", "t.conf: ", "missing required keyword \"ca\"" },
	{ "ca /a\nkey /k\n", "t.conf: ", "missing required keyword \"cert\"" },
	{ "ca /a\ncert /c\n", "t.conf: ", "missing required keyword \"key\"" },
	{ "ca /a\ncert /c\nkey /k\nkeyd_user _securechat\n", "t.conf: ",
	    "three different users" },
	{ "ca /a\ncert /c\nkey /k\nscrypt_n_log2 24\nscrypt_r 32\n", "t.conf: ",
	    "more than the 1024 MiB" },
};

static void
test_errors_have_line(void **state)
{
	static struct sc_config c;
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		err[0] = '\0';
		if (parse(&c, bad_cases[i].text, err, sizeof(err)) != -1)
			fail_msg("case %zu accepted: %s", i, bad_cases[i].text);
		if (strncmp(err, bad_cases[i].prefix,
		    strlen(bad_cases[i].prefix)) != 0 ||
		    strstr(err, bad_cases[i].needle) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s...%s\"", i,
			    err, bad_cases[i].prefix, bad_cases[i].needle);
	}
}

static void
test_long_line_and_nul(void **state)
{
	static struct sc_config c;
	char text[2048], err[512];

	(void)state;
	memset(text, 'a', sizeof(text));
	memcpy(text, "ca /", 4);
	text[sizeof(text) - 1] = '\n';
	assert_int_equal(conf_parse(&c, "t.conf", text, sizeof(text), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:1: line longer than"));

	memcpy(text, "ca /a\nkey /k\0x\n", 15);
	assert_int_equal(conf_parse(&c, "t.conf", text, 15, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:2: NUL byte"));
}

static void
test_listen_limit(void **state)
{
	static struct sc_config c;
	char text[1024], err[512];
	size_t off;
	int i;

	(void)state;
	off = (size_t)snprintf(text, sizeof(text), "%s", minimal);
	for (i = 0; i <= SC_MAX_LISTEN; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "listen 127.0.0.1:%d\n", 9000 + i);
	assert_int_equal(parse(&c, text, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:20: listen: more than 16"));
}

/* Missing files are found by the environment check, one each. */
static void
test_env_check(void **state)
{
	static struct sc_config c;
	char *dir = tu_mkdtemp("conf");
	char p[1024], text[4096], err[512];
	int base, after;

	(void)state;
	snprintf(text, sizeof(text),
	    "ca %s/ca.pem\ncert %s/cert.pem\nkey %s/key.pem\n"
	    "db_config %s/db.conf\ntranscript_dir %s\nreceipt_dir %s\n"
	    "keyd_path /bin/true\nauthd_path /bin/true\n",
	    dir, dir, dir, dir, dir, dir);
	snprintf(p, sizeof(p), "%s/ca.pem", dir);
	assert_int_equal(tu_write(p, "x", 1), 0);
	snprintf(p, sizeof(p), "%s/cert.pem", dir);
	assert_int_equal(tu_write(p, "x", 1), 0);
	snprintf(p, sizeof(p), "%s/key.pem", dir);
	assert_int_equal(tu_write(p, "x", 1), 0);
	snprintf(p, sizeof(p), "%s/db.conf", dir);
	assert_int_equal(tu_write(p, "x", 1), 0);
	assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
	/* As root the users and jail count too; they are the same twice. */
	base = conf_check_env(&c);
	snprintf(p, sizeof(p), "%s/ca.pem", dir);
	assert_int_equal(unlink(p), 0);
	strlcpy(c.keyd_path, "/nonexistent/keyd", sizeof(c.keyd_path));
	after = conf_check_env(&c);
	assert_int_equal(after, base + 2);
	tu_rmrf(dir);
	free(dir);
}

static void
test_cli(void **state)
{
	struct tu_result r;
	char *dir = tu_mkdtemp("conft");
	char good[1024], bad[1024];
	const char *argv[5];

	(void)state;
	snprintf(good, sizeof(good), "%s/good.conf", dir);
	snprintf(bad, sizeof(bad), "%s/bad.conf", dir);
	assert_int_equal(tu_write(good, minimal, strlen(minimal)), 0);
	assert_int_equal(tu_write(bad, "ca /a\ncert /b\nkey /c\nlisten x\n",
	    29), 0);

	argv[0] = tu_bin("securechatd");
	argv[1] = "-t";
	argv[2] = "-f";
	argv[3] = good;
	argv[4] = NULL;
	(void)tu_run(&r, NULL, 30, argv);
	assert_int_equal(r.status, 0);
	assert_true(tu_contains(r.out, "configuration OK"));
	tu_result_free(&r);

	argv[3] = bad;
	(void)tu_run(&r, NULL, 30, argv);
	assert_int_equal(r.status, 1);
	assert_false(tu_contains(r.out, "configuration OK"));
	assert_true(tu_contains(r.err, ":4: listen:"));
	assert_true(tu_contains(r.err, bad));
	tu_result_free(&r);

	argv[3] = "/nonexistent/securechatd.conf";
	(void)tu_run(&r, NULL, 30, argv);
	assert_int_equal(r.status, 1);
	assert_true(tu_contains(r.err, "/nonexistent/securechatd.conf: No such"));
	tu_result_free(&r);

	/* The sample configuration is valid as shipped. */
	argv[3] = tu_src("etc/securechatd.conf");
	(void)tu_run(&r, NULL, 30, argv);
	assert_int_equal(r.status, 0);
	assert_true(tu_contains(r.out, "configuration OK"));
	tu_result_free(&r);

	/* Unknown options and stray arguments are usage errors. */
	argv[1] = "-x";
	argv[2] = NULL;
	(void)tu_run(&r, NULL, 30, argv);
	assert_int_equal(r.status, 1);
	assert_true(tu_contains(r.err, "usage: securechatd"));
	tu_result_free(&r);

	tu_rmrf(dir);
	free(dir);
}


/* ---- the audit log ---- */

static char *
audit_setup(char **dirp)
{
	char *dir = tu_mkdtemp("audit"), *path;

	assert_true(asprintf(&path, "%s/audit.log", dir) > 0);
	assert_int_equal(audit_open(path), 0);
	*dirp = dir;
	return path;
}

static void
audit_teardown(char *dir, char *path)
{
	audit_close();
	tu_rmrf(dir);
	free(dir);
	free(path);
}

/* Line n (0-based) of the log, parsed; every line must be one object. */
static json_t *
audit_line(const char *path, int n, int *nlines)
{
	char *text, *p, *nl;
	size_t len;
	json_t *j = NULL;
	json_error_t e;
	int i = 0;

	text = tu_read(path, &len);
	assert_non_null(text);
	for (p = text; *p != '\0'; p = nl + 1, i++) {
		nl = strchr(p, '\n');
		assert_non_null(nl);		/* every line is complete */
		if (i == n)
			j = json_loadb(p, (size_t)(nl - p), 0, &e);
	}
	if (nlines != NULL)
		*nlines = i;
	free(text);
	return j;
}

static void
test_audit_write(void **state)
{
	char *dir, *path, *ts;
	const char *ev = "{\"event\":\"login\",\"user\":\"alice\","
	    "\"note\":\"two\\nlines \\u00e9\"}";
	json_t *j;
	int n;

	(void)state;
	path = audit_setup(&dir);
	assert_int_equal(audit_write_session("worker", 1234, 77,
	    (const uint8_t *)ev, strlen(ev)), 0);
	assert_int_equal(audit_record("securechatd", "startup", "config",
	    "/etc/x", NULL), 0);
	j = audit_line(path, 0, &n);
	assert_int_equal(n, 2);
	assert_non_null(j);
	ts = (char *)json_string_value(json_object_get(j, "ts"));
	assert_non_null(ts);
	/* 2024-01-02T03:04:05.678Z */
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
	assert_string_equal(json_string_value(json_object_get(j, "proc")),
	    "worker");
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), 1234);
	assert_int_equal(json_integer_value(json_object_get(j, "serial")), 77);
	assert_string_equal(json_string_value(json_object_get(j, "event")),
	    "login");
	assert_string_equal(json_string_value(json_object_get(j, "note")),
	    "two\nlines \xc3\xa9");
	json_decref(j);
	j = audit_line(path, 1, NULL);
	assert_non_null(j);
	assert_null(json_object_get(j, "serial"));
	assert_string_equal(json_string_value(json_object_get(j, "config")),
	    "/etc/x");
	json_decref(j);
	/* Escaped: the file is ASCII, one event per line. */
	j = NULL;
	{
		size_t len, i;
		char *text = tu_read(path, &len);

		assert_non_null(text);
		for (i = 0; i < len; i++)
			assert_true((unsigned char)text[i] < 0x80);
		free(text);
	}
	audit_teardown(dir, path);
}

static void
test_audit_refuses(void **state)
{
	static const char *bad[] = {
		"not json",
		"[\"event\",\"x\"]",
		"\"event\"",
		"{\"event\":\"x\"} trailing",
		"{}",
		"{\"user\":\"no event\"}",
		"{\"event\":\"\"}",
		"{\"event\":1}",
		"{\"event\":\"x\",\"n\":1}",
		"{\"event\":\"x\",\"o\":{\"a\":\"b\"}}",
		"{\"event\":\"x\",\"a\":[\"b\"]}",
		"{\"event\":\"x\",\"t\":true}",
		"{\"event\":\"x\",\"z\":null}",
		"{\"event\":\"x\",\"ts\":\"2000-01-01T00:00:00.000Z\"}",
		"{\"event\":\"x\",\"proc\":\"keyd\"}",
		"{\"event\":\"x\",\"pid\":\"1\"}",
		"{\"event\":\"x\",\"serial\":\"1\"}",
		"{\"event\":\"x\",\"Bad-Key\":\"v\"}",
		"{\"event\":\"x\",\"\":\"v\"}",
		"{\"event\":\"x\",\"a\":\"1\",\"a\":\"2\"}",
		"{\"event\":\"x\",\"a\":\"nul\\u0000byte\"}",
		"{\"event\":\"x\",\"a\":\"\xff\"}",
	};
	char *dir, *path, *big;
	json_t *j;
	size_t i;
	int n;

	(void)state;
	path = audit_setup(&dir);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (audit_write("worker", 42, (const uint8_t *)bad[i],
		    strlen(bad[i])) != -1)
			fail_msg("accepted: %s", bad[i]);
	big = malloc(AUDIT_MAX_EVENT + 2);
	assert_non_null(big);
	memset(big, ' ', AUDIT_MAX_EVENT + 1);
	memcpy(big, "{\"event\":\"x\"}", 13);
	assert_int_equal(audit_write("worker", 42, (const uint8_t *)big,
	    AUDIT_MAX_EVENT + 1), -1);
	assert_int_equal(audit_write("worker", 42, (const uint8_t *)"", 0), -1);
	free(big);
	/* Each refusal is itself recorded, attributed to the sender. */
	j = audit_line(path, 0, &n);
	assert_int_equal(n, (int)(sizeof(bad) / sizeof(bad[0])) + 2);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "event")),
	    "audit_refused");
	assert_string_equal(json_string_value(json_object_get(j, "proc")),
	    "worker");
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), 42);
	json_decref(j);
	audit_teardown(dir, path);
}

static void
test_audit_emit(void **state)
{
	static struct ipc_msg m;
	int sv[2];
	json_t *j;
	json_error_t e;

	(void)state;
	assert_int_equal(ipc_socketpair(sv), 0);
	assert_int_equal(audit_emit(sv[0], "login_failed", "user", "bob",
	    "reason", "quote \" and \xff byte", NULL), 0);
	assert_int_equal(ipc_recv(sv[1], &m, 0), 1);
	assert_int_equal(m.hdr.type, IPC_MSG_AUDIT);
	j = json_loadb((const char *)m.body, m.len, 0, &e);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "event")),
	    "login_failed");
	assert_string_equal(json_string_value(json_object_get(j, "reason")),
	    "quote \" and ? byte");
	json_decref(j);
	/* What audit_emit builds, audit_write accepts. */
	{
		char *dir, *path = audit_setup(&dir);

		assert_int_equal(audit_write("keyd", 9, m.body, m.len), 0);
		audit_teardown(dir, path);
	}
	/* Keys the master owns, or malformed ones, are refused at the source. */
	assert_int_equal(audit_emit(sv[0], "x", "ts", "now", NULL), -1);
	assert_int_equal(audit_emit(sv[0], "x", "serial", "1", NULL), -1);
	assert_int_equal(audit_emit(sv[0], "x", "Bad Key", "v", NULL), -1);
	assert_int_equal(audit_emit(sv[0], "x", "event", "y", NULL), -1);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keywords_sorted),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_keyword),
		cmocka_unit_test(test_startups_forms),
		cmocka_unit_test(test_sample_file),
		cmocka_unit_test(test_errors_have_line),
		cmocka_unit_test(test_long_line_and_nul),
		cmocka_unit_test(test_listen_limit),
		cmocka_unit_test(test_env_check),
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_audit_write),
		cmocka_unit_test(test_audit_refuses),
		cmocka_unit_test(test_audit_emit),
	};

	log_init(1, 0, LOG_DAEMON);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
