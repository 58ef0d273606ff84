/*
 * test_client_users.c: three real sc-client processes talking through the
 * real daemon (worker, router, authd, MariaDB): direct messages both ways,
 * a room, offline delivery exactly once and in order with read status,
 * and the stored history re-verified offline with `sc-client verify`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clientdrv.h"
#include "scenv.h"

static struct scenv env;

static int
setup(void **state)
{
	(void)state;
	if (scenv_setup(&env, "users") == -1 || scenv_start(&env) == -1) {
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

static void
start(struct tu_client *c, const char *who, const char *verb)
{
	char args[128];

	snprintf(args, sizeof(args), "%s --username %s%s%s%s", verb, who,
	    strcmp(verb, "register") == 0 ? " --email " : "",
	    strcmp(verb, "register") == 0 ? who : "",
	    strcmp(verb, "register") == 0 ? "@example.org" : "");
	assert_int_equal(tc_start(c, &env, who, "users password 1", args), 0);
	assert_true(tc_expect(c, "as ", 30000));
}

static void
stop(struct tu_client *c)
{
	assert_int_equal(tc_send(c, "/exit"), 0);
	assert_true(tc_expect(c, "Receipts exchanged and verified", 30000));
	assert_int_equal(tc_wait(c, 30), 0);
	tc_free(c);
}

static void
test_three_users(void **state)
{
	struct tu_client a, b, c;
	struct tu_result r;
	char hist[PATH_MAX * 2];

	(void)state;
	start(&a, "alice", "register");
	start(&b, "bob", "register");
	start(&c, "carol", "register");

	/* Direct messages, both ways, with delivered/read status. */
	assert_int_equal(tc_send(&a, "/msg bob hello bob"), 0);
	assert_true(tc_expect(&a, "-> bob: hello bob (#", 20000));
	assert_true(tc_expect(&b, "[alice] hello bob", 20000));
	assert_true(tc_expect(&a, "read by bob)", 20000));
	assert_int_equal(tc_send(&b, "@alice hi alice"), 0);
	assert_true(tc_expect(&a, "[bob] hi alice", 20000));

	/* A room of three. */
	assert_int_equal(tc_send(&c, "/join #ops"), 0);
	assert_int_equal(tc_send(&a, "/join #ops"), 0);
	assert_int_equal(tc_send(&b, "/join #ops"), 0);
	tc_pump(&a, 1000);
	tc_pump(&b, 1000);
	tc_pump(&c, 1000);
	assert_int_equal(tc_send(&c, "/to #ops"), 0);
	assert_int_equal(tc_send(&c, "standup in five"), 0);
	assert_true(tc_expect(&a, "[#ops carol] standup in five", 20000));
	assert_true(tc_expect(&b, "[#ops carol] standup in five", 20000));
	/* The echo service is still there for lines without a target. */
	assert_int_equal(tc_send(&a, "ping"), 0);
	assert_true(tc_expect(&a, "Server> echo: ping", 20000));

	/* bob goes away; alice writes; bob comes back to all of it. */
	stop(&b);
	assert_int_equal(tc_send(&a, "/msg bob first while away"), 0);
	assert_true(tc_expect(&a, "-> bob: first while away (#", 20000));
	assert_int_equal(tc_send(&a, "/msg bob second while away"), 0);
	assert_true(tc_expect(&a, "-> bob: second while away (#", 20000));
	start(&b, "bob", "login");
	assert_true(tc_expect(&b, "[alice] first while away", 20000));
	assert_true(tc_expect(&b, "[alice] second while away", 20000));
	assert_true(tc_expect(&a, "read by bob)", 20000));
	stop(&b);
	/* Exactly once: nothing is delivered again. */
	start(&b, "bob", "login");
	tc_pump(&b, 2000);
	assert_false(tu_contains(b.obuf + b.seen, "while away"));
	stop(&b);
	stop(&a);
	stop(&c);

	/* bob's history re-verifies offline against the CA. */
	snprintf(hist, sizeof(hist), "%s/bob/history", env.state);
	assert_int_equal(tu_sh(&r, NULL, "'%s' verify --history '%s' --ca '%s'",
	    tu_bin("sc-client"), hist, scenv_ca_file(&env, "ca.pem")), 0);
	tu_result_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_users),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("client_users", tests, setup,
	    teardown);
}
