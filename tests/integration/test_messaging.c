/*
 * test_messaging.c: users talking to users through the real daemon
 * (worker, router, authd with MariaDB), three real client sessions built
 * on the client engine: direct messages both ways, a room, offline
 * delivery exactly once and in order, delivered/read status, nothing of
 * the text in the database, a tampered stored envelope and a replayed one
 * rejected by the recipient, and a certificate not bound to the account
 * refused at login.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "csession.h"
#include "envelope.h"
#include "pki.h"
#include "proto.h"
#include "scenv.h"
#include "util.h"

static struct scenv env;

struct user {
	const char		*name;
	struct csession		*cs;
	X509			*cert;
	EVP_PKEY		*key;
	struct pki_trust	*trust;
	struct env_replay	 replay;
	uint32_t		 ref;
	int			 registered;
};

static struct user alice = { .name = "alice" }, bob = { .name = "bob" },
    carol = { .name = "carol" };

static void
load_user(struct user *u)
{
	char err[256], file[64];

	snprintf(file, sizeof(file), "%s.pem", u->name);
	u->cert = pki_load_cert(scenv_ca_file(&env, file), err, sizeof(err));
	assert_non_null(u->cert);
	snprintf(file, sizeof(file), "%s.key", u->name);
	u->key = pki_load_key(scenv_ca_file(&env, file), err, sizeof(err));
	assert_non_null(u->key);
	u->trust = pki_trust_load(scenv_ca_file(&env, "ca.pem"), NULL, err,
	    sizeof(err));
	assert_non_null(u->trust);
	envelope_replay_init(&u->replay);
}

static int
setup(void **state)
{
	(void)state;
	if (scenv_setup(&env, "msg") == -1 || scenv_start(&env) == -1) {
		scenv_teardown(&env);
		return -1;
	}
	load_user(&alice);
	load_user(&bob);
	load_user(&carol);
	return 0;
}

static void
free_user(struct user *u)
{
	csession_free(u->cs);
	u->cs = NULL;
	X509_free(u->cert);
	EVP_PKEY_free(u->key);
	pki_trust_free(u->trust);
	envelope_replay_free(&u->replay);
}

static int
teardown(void **state)
{
	(void)state;
	free_user(&alice);
	free_user(&bob);
	free_user(&carol);
	scenv_teardown(&env);
	return 0;
}

static int via_port;	/* when set, clients connect through the relay */

/* Connect and log in (registering the first time) with the user's cert. */
static struct csession *
connect_as(const char *who, const char *user, int do_register,
    struct csession_err *err)
{
	struct csession_opts o;
	struct csession *cs;
	char port[16], cert[PATH_MAX + 8], key[PATH_MAX + 8];
	char tr[PATH_MAX + 64], email[64];
	static int n;

	snprintf(port, sizeof(port), "%d", via_port ? via_port : env.port);
	snprintf(cert, sizeof(cert), "%s/%s.pem", env.ca, who);
	snprintf(key, sizeof(key), "%s/%s.key", env.ca, who);
	snprintf(tr, sizeof(tr), "%s/msg-%s-%d.log", env.dir, user, n++);
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = port;
	o.ca = scenv_ca_file(&env, "ca.pem");
	o.cert = cert;
	o.key = key;
	o.server_name = "localhost";
	o.transcript = tr;
	if ((cs = csession_open(&o, err)) == NULL)
		return NULL;
	snprintf(email, sizeof(email), "%s@example.org", user);
	if ((do_register ? csession_register(cs, user, email,
	    "messaging password 1") : csession_login(cs, user,
	    "messaging password 1")) == -1) {
		*err = cs->err;
		csession_free(cs);
		return NULL;
	}
	return cs;
}

static void
login(struct user *u)
{
	struct csession_err err;

	u->cs = connect_as(u->name, u->name, !u->registered, &err);
	if (u->cs == NULL)
		fail_msg("%s: %s (%s)", u->name, err.reason,
		    sc_err_name(err.code));
	u->registered = 1;
}

static void
logout(struct user *u)
{
	assert_int_equal(csession_close(u->cs, NULL, NULL), 0);
	csession_free(u->cs);
	u->cs = NULL;
}

/* Wait for the next event of type want; others are kept out of the way. */
static void
want_event(struct user *u, uint8_t want, struct cs_event *ev)
{
	time_t end = time(NULL) + 20;
	int r;

	while (time(NULL) < end) {
		r = csession_next_event(u->cs, 1000, ev);
		if (r == -1)
			fail_msg("%s: %s (%s)", u->name, u->cs->err.reason,
			    sc_err_name(u->cs->err.code));
		if (r == 0)
			continue;
		if (ev->type == want)
			return;
		fprintf(stderr, "%s: skipping %s while waiting for %s\n",
		    u->name, sc_type_name(ev->type), sc_type_name(want));
		csession_event_clear(ev);
	}
	fail_msg("%s: no %s within 20 s", u->name, sc_type_name(want));
}

/* No event at all for a while (nothing delivered twice). */
static void
no_event(struct user *u, int ms)
{
	struct cs_event ev;
	int r;

	r = csession_next_event(u->cs, ms, &ev);
	if (r == 1) {
		csession_event_clear(&ev);
		fail_msg("%s: unexpected %s", u->name, sc_type_name(ev.type));
	}
	assert_int_equal(r, 0);
}

/* The certificates of a user or a room, from the server. */
static size_t
get_certs(struct user *u, const char *name, X509 **certs, char names[][33],
    size_t max)
{
	struct cs_event ev;
	size_t i, n;
	char err[128];

	assert_int_equal(csession_request(u->cs, ++u->ref, SC_OP_CERTS, name),
	    0);
	want_event(u, SC_T_REPLY, &ev);
	assert_int_equal(ev.u.reply.ref, u->ref);
	assert_int_equal(ev.u.reply.code, 0);
	n = ev.u.reply.n < max ? ev.u.reply.n : max;
	for (i = 0; i < n; i++) {
		certs[i] = pki_cert_from_der(ev.u.reply.item[i].data,
		    ev.u.reply.item[i].datalen, err, sizeof(err));
		assert_non_null(certs[i]);
		memcpy(names[i], ev.u.reply.item[i].name,
		    ev.u.reply.item[i].namelen);
		names[i][ev.u.reply.item[i].namelen] = '\0';
	}
	csession_event_clear(&ev);
	return n;
}

/* Seal text for `to` (a user or #room) and send it; returns the msg id. */
static uint64_t
send_text(struct user *from, const char *to, const char *text)
{
	struct env_identity me = { from->name, from->cert, from->key };
	struct env_rcpt_in rc[16];
	X509 *certs[16];
	char names[16][33], reason[256];
	struct cs_event ev;
	struct wbuf out;
	uint64_t counter, id;
	size_t n, i, k = 0;
	const char *room = to[0] == '#' ? to : "";
	uint8_t myfp[32], fp[32];

	n = get_certs(from, to, certs, names, 16);
	assert_true(n > 0);
	assert_int_equal(pki_fingerprint(from->cert, myfp), 0);
	for (i = 0; i < n; i++) {
		/* In a room, everyone but this device of ours. */
		assert_int_equal(pki_fingerprint(certs[i], fp), 0);
		if (memcmp(fp, myfp, 32) == 0)
			continue;
		rc[k].name = names[i];
		rc[k].cert = certs[i];
		k++;
	}
	assert_int_equal(envelope_replay_next(&from->replay, from->name,
	    room[0] ? room : to, now_ms(), &counter), 0);
	wbuf_init(&out, SC_MAX_ENVELOPE);
	if (envelope_seal(&out, &me, rc, k, room, now_ms(), counter,
	    (const uint8_t *)text, strlen(text), from->trust, 0, reason,
	    sizeof(reason)) != 0)
		fail_msg("seal: %s", reason);
	assert_int_equal(envelope_replay_update(&from->replay, from->name,
	    room[0] ? room : to, counter), 0);
	assert_int_equal(csession_send_envelope(from->cs, ++from->ref,
	    out.data, out.len), 0);
	want_event(from, SC_T_SENT, &ev);
	assert_int_equal(ev.u.sent.ref, from->ref);
	if (ev.u.sent.code != 0)
		fail_msg("SENT refused: %s: %.*s", sc_err_name(ev.u.sent.code),
		    (int)ev.u.sent.reasonlen, ev.u.sent.reason);
	id = ev.u.sent.msg_id;
	assert_true(id > 0);
	csession_event_clear(&ev);
	wbuf_free(&out);
	for (i = 0; i < n; i++)
		X509_free(certs[i]);
	return id;
}

/* Receive one envelope, open it, check sender and text, ACK it. */
static uint64_t
recv_text(struct user *u, const char *from, const char *room,
    const char *text)
{
	struct env_identity me = { u->name, u->cert, u->key };
	struct env_opened *o;
	struct cs_event ev;
	char reason[256];
	uint64_t id;
	int code;

	o = calloc(1, sizeof(*o));
	want_event(u, SC_T_DELIVER, &ev);
	id = ev.u.deliver.msg_id;
	code = envelope_open(ev.u.deliver.env, ev.u.deliver.envlen, &me,
	    u->trust, 0, &u->replay, o, reason, sizeof(reason));
	if (code != 0)
		fail_msg("%s: open: %s: %s", u->name, envelope_err_name(code),
		    reason);
	assert_string_equal(o->hdr.sender, from);
	assert_string_equal(o->hdr.room, room);
	assert_string_equal((char *)o->body, text);
	envelope_opened_clear(o);
	free(o);
	csession_event_clear(&ev);
	assert_int_equal(csession_ack(u->cs, id, SC_ST_DELIVERED), 0);
	assert_int_equal(csession_ack(u->cs, id, SC_ST_READ), 0);
	return id;
}

static void
want_status(struct user *u, uint64_t id, const char *by, uint8_t state)
{
	struct cs_event ev;

	for (;;) {
		want_event(u, SC_T_STATUS, &ev);
		if (ev.u.status.msg_id == id && ev.u.status.state == state)
			break;
		csession_event_clear(&ev);
	}
	assert_int_equal(ev.u.status.by_userlen, strlen(by));
	assert_memory_equal(ev.u.status.by_user, by, strlen(by));
	csession_event_clear(&ev);
}

static void
test_direct_both_ways(void **state)
{
	uint64_t id;

	(void)state;
	login(&alice);
	login(&bob);
	login(&carol);
	id = send_text(&alice, "bob", "hello bob, from alice");
	assert_int_equal(recv_text(&bob, "alice", "", "hello bob, from alice"),
	    id);
	want_status(&alice, id, "bob", SC_ST_DELIVERED);
	want_status(&alice, id, "bob", SC_ST_READ);
	id = send_text(&bob, "alice", "hi alice \xe2\x9c\x93");
	assert_int_equal(recv_text(&alice, "bob", "", "hi alice \xe2\x9c\x93"),
	    id);
	/* Carol was told nothing. */
	no_event(&carol, 500);
}

static void
join(struct user *u, const char *room)
{
	struct cs_event ev;

	assert_int_equal(csession_request(u->cs, ++u->ref, SC_OP_JOIN, room),
	    0);
	want_event(u, SC_T_REPLY, &ev);
	assert_int_equal(ev.u.reply.code, 0);
	csession_event_clear(&ev);
}

static void
test_room(void **state)
{
	struct cs_event ev;
	uint64_t id;

	(void)state;
	join(&carol, "#ops");
	join(&alice, "#ops");
	join(&bob, "#ops");
	assert_int_equal(csession_request(alice.cs, ++alice.ref,
	    SC_OP_MEMBERS, "#ops"), 0);
	want_event(&alice, SC_T_REPLY, &ev);
	assert_int_equal(ev.u.reply.n, 3);
	csession_event_clear(&ev);
	id = send_text(&carol, "#ops", "standup in five");
	assert_int_equal(recv_text(&alice, "carol", "#ops", "standup in five"),
	    id);
	assert_int_equal(recv_text(&bob, "carol", "#ops", "standup in five"),
	    id);
	/* WHO lists the three of us. */
	assert_int_equal(csession_request(bob.cs, ++bob.ref, SC_OP_WHO, ""), 0);
	want_event(&bob, SC_T_REPLY, &ev);
	assert_int_equal(ev.u.reply.code, 0);
	assert_int_equal(ev.u.reply.n, 3);
	csession_event_clear(&ev);
}

static void
test_offline_exactly_once(void **state)
{
	char *rows;
	uint64_t id[3];

	(void)state;
	logout(&bob);
	id[0] = send_text(&alice, "bob", "while you were out (1)");
	id[1] = send_text(&alice, "bob", "while you were out (2)");
	id[2] = send_text(&alice, "bob", "while you were out (3)");
	assert_true(id[0] < id[1] && id[1] < id[2]);

	/* The server stores envelopes it cannot read. */
	rows = tu_db_query(&env.db, "SELECT HEX(envelope) FROM envelopes");
	assert_non_null(rows);
	assert_false(tu_contains(rows, "7768696C6520796F75"));	/* "while you" */
	free(rows);

	login(&bob);
	assert_int_equal(recv_text(&bob, "alice", "", "while you were out (1)"),
	    id[0]);
	assert_int_equal(recv_text(&bob, "alice", "", "while you were out (2)"),
	    id[1]);
	assert_int_equal(recv_text(&bob, "alice", "", "while you were out (3)"),
	    id[2]);
	no_event(&bob, 500);
	/* Acknowledged: nothing comes back at the next login. */
	logout(&bob);
	login(&bob);
	no_event(&bob, 1000);
}

static void
test_tampered_and_replayed(void **state)
{
	struct env_identity me = { bob.name, bob.cert, bob.key };
	struct env_opened *o;
	struct cs_event ev;
	char reason[256];
	uint64_t id;
	int code;

	(void)state;
	logout(&bob);
	id = send_text(&alice, "bob", "integrity matters");
	/* A hostile store flips one byte of the ciphertext at rest. */
	assert_int_equal(tu_db_exec(&env.db, "UPDATE envelopes SET envelope "
	    "= CONCAT(LEFT(envelope, LENGTH(envelope) - 300), CHAR(ASCII("
	    "SUBSTRING(envelope, LENGTH(envelope) - 299, 1)) ^ 1), "
	    "RIGHT(envelope, 299)) WHERE id = %llu", (unsigned long long)id),
	    0);
	login(&bob);
	o = calloc(1, sizeof(*o));
	want_event(&bob, SC_T_DELIVER, &ev);
	assert_true(ev.u.deliver.msg_id == id);
	code = envelope_open(ev.u.deliver.env, ev.u.deliver.envlen, &me,
	    bob.trust, 0, &bob.replay, o, reason, sizeof(reason));
	assert_int_equal(code, ENV_E_SIG_FAIL);
	csession_event_clear(&ev);
	assert_int_equal(csession_ack(bob.cs, id, SC_ST_DELIVERED), 0);

	/* A server that delivers an old envelope again: the replay table. */
	id = send_text(&alice, "bob", "say it once");
	assert_int_equal(recv_text(&bob, "alice", "", "say it once"), id);
	logout(&bob);
	assert_int_equal(tu_db_exec(&env.db, "UPDATE deliveries SET state = 0 "
	    "WHERE envelope_id = %llu", (unsigned long long)id), 0);
	login(&bob);
	want_event(&bob, SC_T_DELIVER, &ev);
	code = envelope_open(ev.u.deliver.env, ev.u.deliver.envlen, &me,
	    bob.trust, 0, &bob.replay, o, reason, sizeof(reason));
	assert_int_equal(code, ENV_E_REPLAY);
	/* Acknowledged, as a client does with what it rejects. */
	assert_int_equal(csession_ack(bob.cs, ev.u.deliver.msg_id,
	    SC_ST_DELIVERED), 0);
	csession_event_clear(&ev);
	free(o);
}

static void
test_capture_shows_no_text(void **state)
{
	struct capture cp;
	uint64_t id;

	(void)state;
	assert_int_equal(capture_start(&cp, env.port), 0);
	/* bob reads through the relay; alice writes directly. */
	logout(&bob);
	via_port = cp.port;
	login(&bob);
	via_port = 0;
	id = send_text(&alice, "bob", "the vault code is 4711");
	assert_int_equal(recv_text(&bob, "alice", "", "the vault code is 4711"),
	    id);
	logout(&bob);
	capture_wait(&cp);
	assert_true(cp.len > 2000);
	assert_null(memmem(cp.bytes, cp.len, "vault", 5));
	assert_null(memmem(cp.bytes, cp.len, "4711", 4));
	capture_free(&cp);
	login(&bob);
}

static void
test_unbound_certificate(void **state)
{
	struct csession_err err;
	struct csession *cs;

	(void)state;
	/* A second, valid certificate for "alice", never bound to her. */
	assert_int_equal(scenv_issue(&env, "alice2", "--client --cn alice"), 0);
	cs = connect_as("alice2", "alice", 0, &err);
	assert_null(cs);
	assert_int_equal(err.code, SC_E_AUTH_FAIL);
	assert_true(scenv_wait_audit(&env, "certificate not bound", 10));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_both_ways),
		cmocka_unit_test(test_room),
		cmocka_unit_test(test_offline_exactly_once),
		cmocka_unit_test(test_tampered_and_replayed),
		cmocka_unit_test(test_capture_shows_no_text),
		cmocka_unit_test(test_unbound_certificate),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("messaging", tests, setup, teardown);
}
