/*
 * test_client_fake.c: sc-client's messaging (direct, rooms, offline
 * delivery, receipts and read state, history, pinning and /trust, replay
 * and tampering by the server, refusals, script mode, sc-client verify)
 * against tests/lib/clientfake.c, a small server that speaks the real
 * protocol and can misbehave on purpose; the clients are the real
 * sc-client driven through tests/lib/clientdrv.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clientdrv.h"
#include "clientfake.h"
#include "envelope.h"
#include "scenv.h"

static struct scenv env;
static struct cfake fk;
static char hist_bob[8192];

#define T 10000

static int
setup(void **state)
{
	struct tu_result r;

	(void)state;
	if (scenv_setup(&env, "clifake") == -1)
		return -1;
	if (tu_sh(&r, NULL, "'%s' pki issue --dir '%s' --name bob2 --cn bob "
	    "--key-bits 2048 --client", tu_bin("sc-admin"), env.ca) != 0)
		return -1;
	tu_result_free(&r);
	memset(&fk, 0, sizeof(fk));
	fk.dir = env.dir;
	fk.cert_path = scenv_ca_file(&env, "server.pem");
	{
		static char k[8192];
		snprintf(k, sizeof(k), "%s/server.key", env.ca);
		fk.key_path = k;
	}
	if (cfake_start(&fk) == -1)
		return -1;
	cfake_set_certs(&fk, "alice", scenv_ca_file(&env, "alice.pem"), NULL);
	cfake_set_certs(&fk, "bob", scenv_ca_file(&env, "bob.pem"), NULL);
	cfake_set_certs(&fk, "carol", scenv_ca_file(&env, "carol.pem"), NULL);
	env.port = fk.port;
	snprintf(hist_bob, sizeof(hist_bob), "%s/bob/history", env.state);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cfake_stop(&fk);
	scenv_teardown(&env);
	return 0;
}

static void
login(struct tu_client *c, const char *who)
{
	char args[64];

	snprintf(args, sizeof(args), "login --username %s", who);
	assert_int_equal(tc_start(c, &env, who, "pw pw pw pw", args), 0);
	assert_true(tc_expect(c, "Logged in as", T));
}

static void
finish(struct tu_client *c)
{
	tc_close_input(c);
	assert_int_equal(tc_wait(c, 20), 0);
	assert_true(tc_expect(c, "Receipts exchanged and verified", 100));
	fprintf(stderr, "---- out:\n%s---- err:\n%s", c->obuf, c->ebuf);
	tc_free(c);
}

static void
test_direct(void **state)
{
	struct tu_client a, b;

	(void)state;
	login(&a, "alice");
	login(&b, "bob");
	tc_send(&a, "/msg bob hello bob");
	assert_true(tc_expect(&a, "new certificate for bob: SHA256:", T));
	assert_true(tc_expect(&a, "-> bob: hello bob (#1)", T));
	assert_true(tc_expect(&b, "new certificate for alice: SHA256:", T));
	assert_true(tc_expect(&b, "[alice] hello bob\n", T));
	assert_true(tc_expect(&a, "(#1 delivered to bob)", T));
	assert_true(tc_expect(&a, "(#1 read by bob)", T));
	tc_send(&b, "@alice hi alice | with a pipe \\ and a backslash");
	assert_true(tc_expect(&a, "[bob] hi alice | with a pipe \\ and a backslash\n", T));
	assert_true(tc_expect(&b, "-> alice: hi alice", T));
	/* A second message uses the cached certificate. */
	tc_send(&a, "/to bob");
	tc_send(&a, "second");
	assert_true(tc_expect(&b, "[alice] second\n", T));
	assert_false(tu_contains(a.obuf + a.seen, "new certificate"));
	tc_send(&a, "/who");
	assert_true(tc_expect(&a, "online: alice, bob", T));
	tc_send(&b, "/history alice");
	assert_true(tc_expect(&b, "history of alice (the last 3 of 3):", T));
	assert_true(tc_expect(&b, "[alice] hello bob (#1)", T));
	assert_true(tc_expect(&b, "-> alice: hi alice", T));
	assert_true(tc_expect(&b, "[alice] second (#3)", T));
	tc_send(&b, "/history alice 1");
	assert_true(tc_expect(&b, "the last 1 of 3", T));
	finish(&a);
	finish(&b);
}

static void
test_room(void **state)
{
	struct tu_client a, b, c;

	(void)state;
	login(&a, "alice");
	login(&b, "bob");
	login(&c, "carol");
	tc_send(&a, "/join #general");
	assert_true(tc_expect(&a, "joined #general", T));
	tc_send(&b, "/join #general");
	assert_true(tc_expect(&b, "joined #general", T));
	tc_send(&c, "/join #General");
	assert_true(tc_expect(&c, "joined #general", T));
	tc_send(&c, "/members #general");
	assert_true(tc_expect(&c, "members of #general: alice, bob, carol", T));
	tc_send(&c, "/rooms");
	assert_true(tc_expect(&c, "your rooms: #general", T));
	tc_send(&a, "/to #general");
	tc_send(&a, "hello room");
	assert_true(tc_expect(&a, "-> #general: hello room (#", T));
	assert_true(tc_expect(&b, "[#general alice] hello room\n", T));
	assert_true(tc_expect(&c, "[#general alice] hello room\n", T));
	assert_true(tc_expect(&c, "new certificate for alice", 100) ||
	    tu_contains(c.obuf, "new certificate for alice"));
	tc_send(&c, "/msg #general carol here");
	assert_true(tc_expect(&a, "[#general carol] carol here\n", T));
	assert_true(tc_expect(&b, "[#general carol] carol here\n", T));
	tc_send(&b, "/leave #general");
	assert_true(tc_expect(&b, "left #general", T));
	tc_send(&a, "after bob left");
	assert_true(tc_expect(&c, "[#general alice] after bob left\n", T));
	tc_pump(&b, 500);
	assert_false(tu_contains(b.obuf, "after bob left"));
	tc_send(&b, "/msg #general not a member");
	assert_true(tc_expect(&b, "not sent to #general: the server answers BAD_INPUT", T));
	tc_send(&a, "/history #general");
	assert_true(tc_expect(&a, "history of #general (the last 3 of 3)", T));
	finish(&a);
	finish(&b);
	finish(&c);
}

/* A relay that flips one ciphertext bit of every envelope. */
static int
flip(struct cfake *f, const char *user, uint8_t *env_, size_t *lenp)
{
	(void)f;
	(void)user;
	env_[*lenp - 300] ^= 0x40;
	return 1;
}

static void
test_offline_replay_tamper(void **state)
{
	struct tu_client a, b;
	struct tu_result r;
	char *before;

	(void)state;
	login(&a, "alice");
	tc_send(&a, "/msg bob while you were away 1");
	assert_true(tc_expect(&a, "-> bob: while you were away 1 (#", T));
	tc_send(&a, "/msg bob while you were away 2");
	assert_true(tc_expect(&a, "-> bob: while you were away 2 (#", T));
	login(&b, "bob");
	assert_true(tc_expect(&b, "[alice] while you were away 1\n", T));
	assert_true(tc_expect(&b, "[alice] while you were away 2\n", T));
	assert_true(tc_expect(&a, "read by bob", T));

	/* The server delivers one twice: shown once, the copy rejected. */
	fk.replay_next = 1;
	tc_send(&a, "/msg bob only once");
	assert_true(tc_expect(&b, "[alice] only once\n", T));
	assert_true(tc_expect(&b, "from alice: REPLAY", T));
	tc_pump(&b, 300);
	assert_null(strstr(strstr(b.obuf, "[alice] only once") + 5, "[alice] only once"));
	finish(&b);

	/* Reconnecting: an unacknowledged copy is dropped by the saved state. */
	login(&b, "bob");
	tc_pump(&b, 1000);
	assert_false(tu_contains(b.obuf, "[alice]"));

	/* A hostile relay flips a bit: rejected, still ACKed delivered. */
	fk.tamper = flip;
	tc_send(&a, "/msg bob tampered");
	assert_true(tc_expect(&b, "from alice: SIG_FAIL", T));
	fk.tamper = NULL;
	assert_false(tu_contains(b.obuf, "[alice] tampered"));

	/* Refusals by the server. */
	fk.refuse_next = SC_E_RATE_LIMITED;
	tc_send(&a, "/msg bob slow down");
	assert_true(tc_expect(&a, "not sent to bob: RATE_LIMITED: refused by the test", T));
	finish(&a);
	finish(&b);

	/* verify: everything bob kept checks out, the rejected are skipped. */
	assert_int_equal(tu_sh(&r, NULL, "'%s' verify --history '%s' --ca '%s'",
	    tu_bin("sc-client"), hist_bob, scenv_ca_file(&env, "ca.pem")), 0);
	fprintf(stderr, "%s%s", r.out, r.err);
	assert_true(tu_contains(r.out, "0 failed"));
	assert_true(tu_contains(r.out, "skipped"));
	tu_result_free(&r);
	before = tu_read(hist_bob, NULL);
	assert_int_equal(tu_sh(&r, NULL, "sed -i 's/|only once|/|only twice|/' '%s'"
	    " && '%s' verify --history '%s' --ca '%s'", hist_bob,
	    tu_bin("sc-client"), hist_bob, scenv_ca_file(&env, "ca.pem")), 1);
	assert_true(tu_contains(r.out, "not what the sender signed"));
	tu_result_free(&r);
	tu_write(hist_bob, before, strlen(before));
	free(before);
}


static void
test_pin_change(void **state)
{
	struct tu_client a;
	char path[8192];

	(void)state;
	login(&a, "alice");
	snprintf(path, sizeof(path), "%s/bob2.pem", env.ca);
	cfake_set_certs(&fk, "bob", path, NULL);
	tc_send(&a, "/msg bob are you still you");
	assert_true(tc_expect(&a, "WARNING: the certificate of bob has changed", T));
	assert_true(tc_expect(&a, "not sent to bob: no confirmed certificate", T));
	tc_send(&a, "/fp bob");
	assert_true(tc_expect(&a, "waiting for /trust bob: SHA256:", T));
	tc_send(&a, "/trust bob");
	assert_true(tc_expect(&a, "trusted certificate for bob: SHA256:", T));
	tc_send(&a, "/msg bob now to the new one");
	assert_true(tc_expect(&a, "-> bob: now to the new one", T));
	/* Both devices: only the new one is new, nothing more to confirm. */
	cfake_set_certs(&fk, "bob", scenv_ca_file(&env, "bob.pem"), path, NULL);
	tc_send(&a, "/who");
	tc_send(&a, "/msg bob both");
	assert_true(tc_expect(&a, "-> bob: both", T));
	assert_false(tu_contains(a.obuf + a.seen - 200, "WARNING"));
	/* A certificate for bob that is really carol's: ignored. */
	cfake_set_certs(&fk, "bob", scenv_ca_file(&env, "carol.pem"), NULL);
	tc_send(&a, "/who");
	tc_send(&a, "/msg bob substituted");
	assert_true(tc_expect(&a, "ignoring a certificate", T));
	assert_true(tc_expect(&a, "not sent to bob: the server lists no certificate", T));
	cfake_set_certs(&fk, "bob", scenv_ca_file(&env, "bob.pem"), NULL);
	finish(&a);
}

static void
test_script_mode(void **state)
{
	struct tu_result r;

	(void)state;
	assert_int_equal(scenv_client(&env, &r, "alice", "pw pw pw pw",
	    "/msg bob from a script\n@carol to carol\nhello echo\n",
	    "login --username alice"), 0);
	assert_true(tu_contains(r.out, "-> bob: from a script (#"));
	assert_true(tu_contains(r.out, "-> carol: to carol (#"));
	assert_true(tu_contains(r.out, "Server> echo: hello echo"));
	assert_true(tu_contains(r.out, "Receipts exchanged"));
	tu_result_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct),
		cmocka_unit_test(test_room),
		cmocka_unit_test(test_offline_replay_tamper),
		cmocka_unit_test(test_pin_change),
		cmocka_unit_test(test_script_mode),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
