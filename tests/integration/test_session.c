/*
 * test_session.c: the seed's evidence, end to end, with the real
 * binaries: securechatd (master, workers, keyd, authd) as root with the
 * full privilege separation, a private MariaDB, sc-client, sc-admin.
 *
 * One installation is shared by the tests of this file (setup once):
 * they run in order and use distinct accounts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "csession.h"
#include "proto.h"
#include "scenv.h"

static struct scenv env;

static int
setup(void **state)
{
	(void)state;
	if (scenv_setup(&env, "session") == -1 || scenv_start(&env) == -1) {
		scenv_teardown(&env);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	scenv_teardown(&env);
	return 0;
}

/*
 * Newest file in dir whose name ends with suffix (static buffer): the
 * master names them YYYYmmdd-HHMMSS-serial, so the largest name wins.
 */
static const char *
newest(const char *dir, const char *suffix)
{
	static char best[PATH_MAX];
	struct dirent *de;
	char name[NAME_MAX + 1] = "";
	DIR *d;

	best[0] = '\0';
	if ((d = opendir(dir)) == NULL)
		return best;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name), m = strlen(suffix);

		if (n < m || strcmp(de->d_name + n - m, suffix) != 0)
			continue;
		if (strcmp(de->d_name, name) > 0)
			snprintf(name, sizeof(name), "%s", de->d_name);
	}
	closedir(d);
	if (name[0] != '\0' && (size_t)snprintf(best, sizeof(best), "%s/%s",
	    dir, name) >= sizeof(best))
		best[0] = '\0';
	return best;
}

/* Path printed by sc-client after "label:". */
static int
printed_path(const char *out, const char *label, char *buf, size_t len)
{
	const char *p = strstr(out, label);
	size_t n;

	if (p == NULL)
		return -1;
	p += strlen(label);
	while (*p == ' ')
		p++;
	n = strcspn(p, "\n");
	if (n >= len)
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

static void
test_register_chat_receipts(void **state)
{
	struct tu_result r;
	char tr[PATH_MAX], mine[PATH_MAX], theirs[PATH_MAX];
	char srv_tr[PATH_MAX * 2];
	const char *srv_receipt;
	char *audit;

	(void)state;
	assert_int_equal(scenv_client(&env, &r, "alice", "correct horse 1",
	    "hello\nsecond message\n/exit\n",
	    "register --username alice --email alice@example.org"), 0);
	assert_true(tu_contains(r.out, "Registered and logged in as alice"));
	assert_true(tu_contains(r.out, "Server> echo: hello\n"));
	assert_true(tu_contains(r.out, "Server> echo: second message\n"));
	assert_true(tu_contains(r.out, "Receipts exchanged and verified"));
	assert_int_equal(printed_path(r.out, "transcript:", tr, sizeof(tr)), 0);
	assert_int_equal(printed_path(r.out, "your receipt:", mine,
	    sizeof(mine)), 0);
	assert_int_equal(printed_path(r.out, "server receipt:", theirs,
	    sizeof(theirs)), 0);
	tu_result_free(&r);

	/* Offline: the client's receipt over the client's transcript. */
	assert_int_equal(tu_sh(&r, NULL, "'%s' receipt verify --transcript '%s' "
	    "--receipt '%s' --cert '%s' --ca '%s'", tu_bin("sc-admin"), tr,
	    mine, scenv_ca_file(&env, "alice.pem"),
	    scenv_ca_file(&env, "ca.pem")), 0);
	tu_result_free(&r);
	/* And the server's receipt, signed by keyd, over the same transcript. */
	assert_int_equal(tu_sh(&r, NULL, "'%s' receipt verify --transcript '%s' "
	    "--receipt '%s' --cert '%s' --ca '%s'", tu_bin("sc-admin"), tr,
	    theirs, scenv_ca_file(&env, "server.pem"),
	    scenv_ca_file(&env, "ca.pem")), 0);
	tu_result_free(&r);
	/* The server's own copy: its transcript and receipts in its dirs. */
	/* The master writes them as the worker hands them over. */
	assert_true(scenv_wait_audit(&env,
	    "\"receipt_saved\",\"role\":\"server\"", 10));
	srv_receipt = newest(env.receipts, ".server.json");
	assert_true(srv_receipt[0] != '\0');
	snprintf(srv_tr, sizeof(srv_tr), "%s/%s", env.transcripts,
	    strrchr(srv_receipt, '/') + 1);
	strcpy(strstr(srv_tr, ".server.json"), ".log");
	assert_int_equal(tu_sh(&r, NULL, "'%s' receipt verify --transcript '%s' "
	    "--receipt '%s' --cert '%s' --ca '%s'", tu_bin("sc-admin"),
	    srv_tr, srv_receipt,
	    scenv_ca_file(&env, "server.pem"), scenv_ca_file(&env, "ca.pem")),
	    0);
	tu_result_free(&r);

	/* README's check with only the stock openssl command agrees. */
	assert_int_equal(tu_sh(&r, NULL, "bash '%s' '%s' '%s' '%s' '%s'",
	    tu_src("docs/examples/verify-receipt-openssl.sh"), tr, mine,
	    scenv_ca_file(&env, "alice.pem"), scenv_ca_file(&env, "ca.pem")), 0);
	assert_true(tu_contains(r.out, "OK: client receipt"));
	tu_result_free(&r);
	assert_int_equal(tu_sh(&r, NULL, "bash '%s' '%s' '%s' '%s' '%s'",
	    tu_src("docs/examples/verify-receipt-openssl.sh"), srv_tr,
	    srv_receipt, scenv_ca_file(&env, "server.pem"),
	    scenv_ca_file(&env, "ca.pem")), 0);
	/* Two echoes and the answer to the client's SYNC before CLOSE. */
	assert_true(tu_contains(r.out, "3 record signatures verified"));
	tu_result_free(&r);

	/* A modified transcript no longer verifies. */
	assert_int_equal(tu_sh(&r, NULL, "cp '%s' '%s.bad' && sed -i "
	    "'1s/|[0-9]/|9/' '%s.bad' && '%s' receipt verify --transcript "
	    "'%s.bad' --receipt '%s' --cert '%s' --ca '%s'", tr, tr, tr,
	    tu_bin("sc-admin"), tr, mine, scenv_ca_file(&env, "alice.pem"),
	    scenv_ca_file(&env, "ca.pem")), 1);
	tu_result_free(&r);
	assert_int_not_equal(tu_sh(&r, NULL, "bash '%s' '%s.bad' '%s' '%s' '%s'",
	    tu_src("docs/examples/verify-receipt-openssl.sh"), tr, mine,
	    scenv_ca_file(&env, "alice.pem"), scenv_ca_file(&env, "ca.pem")), 0);
	tu_result_free(&r);
	assert_int_equal(tu_sh(&r, NULL, "cp '%s' '%s.bad2' && sed -i "
	    "'2s/|[A-Za-z0-9+\\/]\\{4\\}/|AAAA/' '%s.bad2' && '%s' receipt "
	    "verify --transcript '%s.bad2' --receipt '%s' --cert '%s' "
	    "--ca '%s'", tr, tr, tr, tu_bin("sc-admin"), tr, mine,
	    scenv_ca_file(&env, "alice.pem"), scenv_ca_file(&env, "ca.pem")),
	    1);
	tu_result_free(&r);

	assert_true(scenv_wait_audit(&env, "\"session_start_register\"", 10));
	assert_true(scenv_wait_audit(&env, "\"session_end\"", 10));
	audit = scenv_audit(&env);
	assert_false(tu_contains(audit, "correct horse"));
	free(audit);
}

static void
test_login_and_wrong_password(void **state)
{
	struct tu_result r;
	char *log;

	(void)state;
	assert_int_equal(scenv_client(&env, &r, "alice", "correct horse 1",
	    "again\n", "login --username alice"), 0);
	assert_true(tu_contains(r.out, "Logged in as alice"));
	assert_true(tu_contains(r.out, "Server> echo: again"));
	tu_result_free(&r);

	assert_int_equal(scenv_client(&env, &r, "alice", "Wr0ngPassw0rd!",
	    "x\n", "login --username alice"), 1);
	assert_true(tu_contains(r.err, "AUTH_FAIL"));
	tu_result_free(&r);
	/* An unknown user gets exactly the same answer. */
	assert_int_equal(scenv_client(&env, &r, "bob", "whatever 123",
	    "x\n", "login --username nobody"), 1);
	assert_true(tu_contains(r.err, "AUTH_FAIL"));
	tu_result_free(&r);
	/* Duplicate registration. */
	assert_int_equal(scenv_client(&env, &r, "alice", "another pass",
	    "", "register --username alice --email other@example.org"), 1);
	assert_true(tu_contains(r.err, "USER_EXISTS"));
	tu_result_free(&r);

	/* Passwords appear in no log. */
	log = tu_read(env.log, NULL);
	assert_non_null(log);
	assert_false(tu_contains(log, "correct horse"));
	assert_false(tu_contains(log, "Wr0ngPassw0rd!"));
	free(log);
}

static void
check_bad_cert(const char *name, const char *issue_args, const char *word)
{
	struct tu_result r;

	assert_int_equal(scenv_issue(&env, name, issue_args), 0);
	assert_int_equal(scenv_client(&env, &r, name, "irrelevant 123", "hi\n",
	    "login --username alice"), 1);
	assert_true(tu_contains(r.err, "BAD_CERT"));
	assert_true(tu_contains(r.err, word));
	tu_result_free(&r);
	assert_true(scenv_wait_audit(&env, "\"cert_rejected\"", 10));
}

static void
test_bad_client_certs(void **state)
{
	struct tu_result r;
	char cmd[PATH_MAX * 4];

	(void)state;
	check_bad_cert("selfie", "--client --self-signed", "self");
	check_bad_cert("expired", "--client --valid-from -10d --days 1",
	    "expired");
	check_bad_cert("future", "--client --valid-from +10d --days 30",
	    "not valid before");
	/* A server certificate used as a client certificate. */
	check_bad_cert("wrongpurpose", "--server --san DNS:x.example",
	    "clientAuth");

	/* A certificate from another CA. */
	snprintf(cmd, sizeof(cmd), "'%s' pki init-ca --dir '%s/otherca' --cn "
	    "Other --key-bits 2048 && '%s' pki issue --dir '%s/otherca' "
	    "--name mallory --cn mallory --client --key-bits 2048 && "
	    "cp '%s/otherca/mallory.pem' '%s/otherca/mallory.key' '%s/'",
	    tu_bin("sc-admin"), env.dir, tu_bin("sc-admin"), env.dir, env.dir,
	    env.dir, env.ca);
	assert_int_equal(tu_sh(&r, NULL, "%s", cmd), 0);
	tu_result_free(&r);
	assert_int_equal(scenv_client(&env, &r, "mallory", "irrelevant 123",
	    "hi\n", "login --username alice"), 1);
	assert_true(tu_contains(r.err, "BAD_CERT"));
	tu_result_free(&r);
}

/* The hostile client: reach the session, then misbehave. */
static struct csession *
hostile_login(const char *who, const char *user, const char *pass,
    int do_register)
{
	struct csession_opts o;
	struct csession_err err;
	struct csession *cs;
	char port[16], cert[PATH_MAX + 8], key[PATH_MAX + 8], tr[PATH_MAX + 64];
	static int n;

	snprintf(port, sizeof(port), "%d", env.port);
	snprintf(cert, sizeof(cert), "%s/%s.pem", env.ca, who);
	snprintf(key, sizeof(key), "%s/%s.key", env.ca, who);
	snprintf(tr, sizeof(tr), "%s/hostile-%d-%d.log", env.dir, (int)getpid(),
	    n++);
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = port;
	o.ca = scenv_ca_file(&env, "ca.pem");
	o.cert = cert;
	o.key = key;
	o.server_name = "localhost";
	o.transcript = tr;
	cs = csession_open(&o, &err);
	if (cs == NULL) {
		fprintf(stderr, "hostile: %s\n", err.reason);
		return NULL;
	}
	if ((do_register ? csession_register(cs, user, "b@example.org", pass) :
	    csession_login(cs, user, pass)) == -1) {
		fprintf(stderr, "hostile: %s\n", cs->err.reason);
		csession_free(cs);
		return NULL;
	}
	return cs;
}

/* Read the server's answer: an ERROR frame with code, or -1. */
static int
server_error(struct csession *cs)
{
	struct sc_frame f = { 0 };
	char reason[SC_MAX_REASON + 1];
	uint16_t code = 0;
	int ec = 0;

	if (sc_frame_read(csession_fd(cs), 10000, &f, &ec) != 1)
		return -1;
	if (f.type != SC_T_ERROR ||
	    sc_error_parse(f.payload, f.len, &code, reason, sizeof(reason)) != 0)
		code = 0;
	sc_frame_free(&f);
	return code;
}

static void
test_tamper_and_replay(void **state)
{
	struct csession *cs;
	struct wbuf body, rec;
	char reply[256], tpath[PATH_MAX], *before, *after;
	size_t n;

	(void)state;
	cs = hostile_login("bob", "bob", "bob password 1", 1);
	assert_non_null(cs);
	assert_int_equal(csession_send_chat(cs, "honest", 6), 0);
	assert_int_equal(csession_recv_chat(cs, 10000, reply, sizeof(reply),
	    &n), 1);
	assert_string_equal(reply, "echo: honest");
	snprintf(tpath, sizeof(tpath), "%s", newest(env.transcripts, ".log"));
	before = tu_read(tpath, NULL);
	assert_non_null(before);
	assert_true(strlen(before) > 0);

	/* Tampered ciphertext: one bit flipped after signing. */
	wbuf_init(&body, SC_MAX_PAYLOAD);
	wbuf_init(&rec, SC_MAX_PAYLOAD);
	assert_int_equal(sc_chat_encode(&body, (const uint8_t *)"evil", 4), 0);
	assert_int_equal(csession_seal(cs, SC_T_CHAT, body.data, body.len,
	    &rec), 0);
	rec.data[rec.len - 300] ^= 0x01;	/* inside ct or sig */
	assert_int_equal(sc_frame_write(csession_fd(cs), 5000, SC_T_CHAT,
	    rec.data, rec.len), 0);
	assert_int_equal(server_error(cs), SC_E_SIG_FAIL);
	csession_free(cs);

	/* The session's earlier transcript is intact. */
	after = tu_read(tpath, NULL);
	assert_non_null(after);
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* Replay: the same valid record twice. */
	cs = hostile_login("bob", "bob", "bob password 1", 0);
	assert_non_null(cs);
	wbuf_reset(&rec);
	assert_int_equal(csession_seal(cs, SC_T_CHAT, body.data, body.len,
	    &rec), 0);
	assert_int_equal(sc_frame_write(csession_fd(cs), 5000, SC_T_CHAT,
	    rec.data, rec.len), 0);
	assert_int_equal(csession_recv_chat(cs, 10000, reply, sizeof(reply),
	    &n), 1);
	assert_string_equal(reply, "echo: evil");
	assert_int_equal(sc_frame_write(csession_fd(cs), 5000, SC_T_CHAT,
	    rec.data, rec.len), 0);
	assert_int_equal(server_error(cs), SC_E_REPLAY);
	csession_free(cs);
	wbuf_free(&body);
	wbuf_free(&rec);

	assert_true(scenv_wait_audit(&env, "\"tamper_rejected\"", 10));
	assert_true(scenv_wait_audit(&env, "\"replay_rejected\"", 10));
}

static void
test_capture_shows_no_secret(void **state)
{
	struct capture cp;
	struct tu_result r;
	int saved;

	(void)state;
	assert_int_equal(capture_start(&cp, env.port), 0);
	saved = env.port;
	env.port = cp.port;
	assert_int_equal(scenv_client(&env, &r, "carol", "Sup3rSecretPassw0rd",
	    "the eagle lands at midnight\n/exit\n",
	    "register --username carol --email carol@example.org"), 0);
	env.port = saved;
	assert_true(tu_contains(r.out, "Server> echo: the eagle lands at midnight"));
	tu_result_free(&r);
	capture_wait(&cp);

	assert_true(cp.len > 1000);
	assert_null(memmem(cp.bytes, cp.len, "Sup3rSecret", 11));
	assert_null(memmem(cp.bytes, cp.len, "eagle", 5));
	assert_null(memmem(cp.bytes, cp.len, "carol@example", 13));
	capture_free(&cp);
}

static void
test_worker_is_confined(void **state)
{
	struct csession *cs;
	char path[PATH_MAX], link[PATH_MAX], *status;
	struct dirent *de;
	pid_t worker;
	ssize_t n;
	DIR *d;
	int nfd = 0;

	(void)state;
	cs = hostile_login("bob", "bob", "bob password 1", 0);
	assert_non_null(cs);
	worker = scenv_find_proc(env.pid, "worker");
	assert_true(worker > 0);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)worker);
	status = tu_read(path, NULL);
	assert_non_null(status);
	if (geteuid() == 0) {
		/* Not root in any of real, effective, saved, fs uid. */
		assert_false(tu_contains(status, "Uid:\t0\t"));
		assert_false(tu_contains(status, "\t0\t0\t0\nGid"));
		assert_true(tu_contains(status, "NoNewPrivs:\t1"));
		assert_true(tu_contains(status, "Seccomp:\t2"));
		snprintf(path, sizeof(path), "/proc/%d/root", (int)worker);
		n = readlink(path, link, sizeof(link) - 1);
		assert_true(n > 0);
		link[n] = '\0';
		assert_string_equal(link, env.jail);
	}
	free(status);

	/* Its descriptors: the client, keyd, authd, master, transcript. */
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)worker);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char fdp[PATH_MAX + 300];

		if (de->d_name[0] == '.')
			continue;
		nfd++;
		snprintf(fdp, sizeof(fdp), "%s/%s", path, de->d_name);
		n = readlink(fdp, link, sizeof(link) - 1);
		assert_true(n > 0);
		link[n] = '\0';
		assert_null(strstr(link, ".key"));
		assert_null(strstr(link, "mysql"));
		assert_null(strstr(link, "db.conf"));
		/* Files: its transcript, and in -d mode stderr, the log. */
		if (link[0] == '/' && !tu_contains(link, env.transcripts) &&
		    strcmp(link, "/dev/null") != 0 && strcmp(link, env.log) != 0)
			fail_msg("worker fd %s -> %s", de->d_name, link);
	}
	closedir(d);
	assert_true(nfd <= 9);	/* 0-8: stdio and the fds of securechatd.h */
	csession_free(cs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_chat_receipts),
		cmocka_unit_test(test_login_and_wrong_password),
		cmocka_unit_test(test_bad_client_certs),
		cmocka_unit_test(test_tamper_and_replay),
		cmocka_unit_test(test_capture_shows_no_secret),
		cmocka_unit_test(test_worker_is_confined),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("session", tests, setup, teardown);
}
