/*
 * test_client_echo.c: sc-client's session loop against the real daemon
 * (echo service only): scripts, long lines, local command errors, a
 * damaged state file, the clientdrv driver, and a pseudo-terminal for the
 * prompt and its redraw.
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

#include <poll.h>
#include <pty.h>
#include <sys/wait.h>

#include "clientdrv.h"
#include "scenv.h"

static struct scenv env;

static int
setup(void **state)
{
	struct tu_result r;

	(void)state;
	if (scenv_setup(&env, "cliecho") == -1 || scenv_start(&env) == -1) {
		scenv_teardown(&env);
		return -1;
	}
	if (scenv_client(&env, &r, "alice", "alice password", "/exit\n",
	    "register --username alice --email alice@example.org") != 0)
		return -1;
	tu_result_free(&r);
	if (scenv_client(&env, &r, "bob", "bob password 1", "/exit\n",
	    "register --username bob --email bob@example.org") != 0)
		return -1;
	tu_result_free(&r);
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
test_script(void **state)
{
	struct tu_result r;
	char *big, *in;

	(void)state;
	big = malloc(6000);
	memset(big, 'x', 5999);
	big[5999] = '\0';
	assert_true(asprintf(&in, "hello\n/frobnicate\n/msg Bad!name hi\n"
	    "/join room\n/history bob\n%s\nafter long\n/to\n//slash\n"
	    "a\nb\nc\n/exit\nnever\n", big) > 0);
	assert_int_equal(scenv_client(&env, &r, "alice", "alice password", in,
	    "login --username alice"), 0);
	assert_true(tu_contains(r.out, "Server> echo: hello\n"));
	assert_true(tu_contains(r.out, "unknown command"));
	assert_true(tu_contains(r.out, "not a user name"));
	assert_true(tu_contains(r.out, "usage: /join #room"));
	assert_true(tu_contains(r.out, "no messages with bob"));
	assert_true(tu_contains(r.out, "line longer than"));
	assert_true(tu_contains(r.out, "Server> echo: after long\n"));
	assert_true(tu_contains(r.out, "echo service"));
	assert_true(tu_contains(r.out, "Server> echo: /slash\n"));
	assert_true(tu_contains(r.out, "Server> echo: a\nServer> echo: b\n"
	    "Server> echo: c\n"));
	assert_false(tu_contains(r.out, "never"));
	assert_true(tu_contains(r.out, "Receipts exchanged and verified"));
	tu_result_free(&r);
	free(in);
	free(big);

	/* A damaged state file stops the client before it connects. */
	{
		char pins[8192], *saved;

		snprintf(pins, sizeof(pins), "%s/alice/known_peers", env.state);
		saved = tu_read(pins, NULL);
		assert_non_null(saved);
		assert_int_equal(tu_write(pins, "alice nothex\n", 13), 0);
		assert_int_equal(scenv_client(&env, &r, "alice",
		    "alice password", "hello\n", "login --username alice"), 1);
		assert_true(tu_contains(r.err, "sc-client: state:"));
		assert_true(tu_contains(r.err, "known_peers:1"));
		assert_false(tu_contains(r.out, "Logged in"));
		tu_result_free(&r);
		assert_int_equal(tu_write(pins, saved, strlen(saved)), 0);
		free(saved);
	}

	/* End of input without /exit, no newline at the end. */
	assert_int_equal(scenv_client(&env, &r, "alice", "alice password",
	    "one\ntwo", "login --username alice"), 0);
	assert_true(tu_contains(r.out, "Server> echo: one\nServer> echo: two\n"));
	assert_true(tu_contains(r.out, "Receipts exchanged and verified"));
	tu_result_free(&r);
}

static void
test_driver(void **state)
{
	struct tu_client a;

	(void)state;
	assert_int_equal(tc_start(&a, &env, "alice", "alice password",
	    "login --username alice"), 0);
	assert_true(tc_expect(&a, "Logged in as alice", 10000));
	assert_true(tc_expect(&a, "Your certificate: SHA256:", 1000));
	assert_int_equal(tc_send(&a, "hello"), 0);
	assert_true(tc_expect(&a, "Server> echo: hello\n", 5000));
	assert_int_equal(tc_send(&a, "/help"), 0);
	assert_true(tc_expect(&a, "/history USER|#room", 5000));
	assert_int_equal(tc_send(&a, "/fp"), 0);
	assert_true(tc_expect(&a, "your certificate (alice): SHA256:", 5000));
	assert_int_equal(tc_send(&a, "/fp bob"), 0);
	assert_true(tc_expect(&a, "no certificate known for bob", 5000));
	assert_int_equal(tc_send(&a, "/trust bob"), 0);
	assert_true(tc_expect(&a, "no new certificate of bob", 5000));
	assert_int_equal(tc_send(&a, "/to #room"), 0);
	assert_true(tc_expect(&a, "plain lines now go to #room", 5000));
	assert_int_equal(tc_send(&a, "/to"), 0);
	assert_true(tc_expect(&a, "echo service", 5000));
	assert_int_equal(tc_send(&a, "still echo"), 0);
	assert_true(tc_expect(&a, "Server> echo: still echo\n", 5000));
	tc_close_input(&a);
	assert_int_equal(tc_wait(&a, 20), 0);
	assert_true(tc_expect(&a, "Receipts exchanged and verified", 100));
	tc_free(&a);
}

static void
test_tty(void **state)
{
	char cmd[32768], buf[65536];
	size_t len = 0;
	int fd, st, i;
	pid_t pid;

	(void)state;
	snprintf(cmd, sizeof(cmd), "exec '%s' -s 127.0.0.1:%d --name localhost "
	    "--ca '%s/ca.pem' --cert '%s/alice.pem' --key '%s/alice.key' "
	    "--dir '%s' --password-stdin login --username alice",
	    tu_bin("sc-client"), env.port, env.ca, env.ca, env.ca, env.state);
	pid = forkpty(&fd, NULL, NULL, NULL);
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(write(fd, "alice password\n", 15), 15);
	for (i = 0; i < 100 && len < sizeof(buf) - 1; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 100) == 1 && (n = read(fd, buf + len,
		    sizeof(buf) - 1 - len)) > 0)
			len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "msg> ") != NULL)
			break;
	}
	assert_non_null(strstr(buf, "msg> "));
	assert_int_equal(write(fd, "hello tty\n", 10), 10);
	for (i = 0; i < 100 && len < sizeof(buf) - 1; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 100) == 1 && (n = read(fd, buf + len,
		    sizeof(buf) - 1 - len)) > 0)
			len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "echo: hello tty\r\nmsg> ") != NULL)
			break;
	}
	fprintf(stderr, "---- tty:\n");
	for (size_t k = 0; k < len; k++) {
		if (buf[k] == '\033') fputs("<ESC>", stderr);
		else if (buf[k] == '\r') fputs("<CR>", stderr);
		else fputc(buf[k], stderr);
	}
	assert_non_null(strstr(buf, "msg> \r\033[KServer> echo: hello tty\r\nmsg> "));
	assert_int_equal(write(fd, "/exit\n", 6), 6);
	for (i = 0; i < 100; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 100) == 1) {
			if ((n = read(fd, buf, sizeof(buf) - 1)) <= 0)
				break;
			buf[n] = '\0';
			fputs(buf, stderr);
		}
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_script),
		cmocka_unit_test(test_driver),
		cmocka_unit_test(test_tty),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
