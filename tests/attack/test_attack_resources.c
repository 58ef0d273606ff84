/*
 * test_attack_resources.c: attacks on the daemon's resources, through
 * the real daemon (scenv: securechatd as root, real workers, keyd, authd
 * and MariaDB), one installation for the whole file.
 *
 * Limits are set small so that the attacks are cheap to mount:
 * max_sessions 8, max_per_source 3, max_startups 4 (a plain number:
 * every connection beyond 4 unauthenticated ones is refused, no random
 * early drop), and scenv's handshake_timeout (10 s).  The master keeps
 * its counters in its process title ("master [N sessions, M
 * unauthenticated]"); the tests wait on them instead of sleeping, and
 * they are also the proof that a slot was freed.
 *
 * Other client addresses are loopback addresses (127.0.0.2, ...): a raw
 * socket is bound to one before connect, a full client session goes
 * through a relay bound to it (attackutil.h).
 *
 * One honest session, logged in first, lives through every attack of the
 * file and must keep chatting; at the end it closes with receipts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "attackutil.h"
#include "csession.h"
#include "pki.h"
#include "proto.h"
#include "scenv.h"
#include "sccrypto.h"

#define MAX_SESSIONS	8
#define MAX_PER_SOURCE	3
#define MAX_STARTUPS	4
#define WAIT_MS		20000

#define USER		"rita"
#define USER_PW		"rita password 1"

static struct scenv env;
static struct csession *honest;	/* lives through the whole file */
static int hs_timeout_s;	/* scenv's handshake_timeout */

static int
ready(struct scenv *e)
{
	struct csession *cs;
	char *conf, *p;

	/* The timeout scenv chose, read back from the file it wrote. */
	if ((conf = tu_read(e->conf, NULL)) == NULL ||
	    (p = strstr(conf, "\nhandshake_timeout ")) == NULL ||
	    sscanf(p, "\nhandshake_timeout %d", &hs_timeout_s) != 1 ||
	    hs_timeout_s < 1) {
		free(conf);
		return -1;
	}
	free(conf);
	if ((cs = at_register(e, "alice", NULL, USER, "rita@example.org",
	    USER_PW)) == NULL)
		return -1;
	csession_free(cs);
	if ((honest = at_login(e, "alice", NULL, USER, USER_PW)) == NULL ||
	    at_chat(honest, "first words") == -1)
		return -1;
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	return scenv_up(&env, "atk-res", NULL, ready,
	    "max_sessions %d\nmax_per_source %d\nmax_startups %d\n"
	    /* Accounts here share certificates: not what is tested. */
	    "bind_certificates no\n",
	    MAX_SESSIONS, MAX_PER_SOURCE, MAX_STARTUPS);
}

static int
teardown(void **state)
{
	(void)state;
	csession_free(honest);
	scenv_teardown(&env);
	at_relays_join();
	return 0;
}

/* The master's counters reach these values (the honest session is one). */
static void
wait_counts(unsigned int sessions, unsigned int unauth)
{
	if (at_wait_counts(env.pid, sessions, unauth, WAIT_MS) == -1)
		fail_msg("master counters did not reach %u sessions, %u "
		    "unauthenticated", sessions, unauth);
}

/* A full session (login and one chat) from src: the daemon took it. */
static struct csession *
served_from(const char *src, const char *text)
{
	struct csession *cs;

	cs = at_login(&env, "bob", src, USER, USER_PW);
	if (cs == NULL)
		fail_msg("no session from %s", src);
	if (at_chat(cs, text) == -1)
		fail_msg("no chat from %s", src);
	return cs;
}

/*
 * A refused connection: an ERROR with this code and words, sent by the
 * master before reading a byte (so quickly: well before any timeout),
 * and audited with the master's reason.
 */
static void
expect_refused(int fd, const char *src, int code, const char *words,
    const char *why, double t_connect)
{
	const char *kv[] = { "event", "connection_refused", "addr", src,
	    "reason", why, NULL };
	char reason[SC_MAX_REASON + 1];
	double ms;
	int got;

	got = at_read_error(fd, WAIT_MS, reason, sizeof(reason));
	ms = at_now_ms() - t_connect;
	if (got != code)
		fail_msg("connection from %s: got %s, expected %s (%s)", src,
		    got < 0 ? "nothing" : sc_err_name(got), sc_err_name(code),
		    reason);
	assert_true(tu_contains(reason, words));
	/* A worker would only have said TIMEOUT, and much later. */
	assert_true(ms < hs_timeout_s * 1000.0);
	/* And then the master closed it. */
	assert_int_equal(at_read_error(fd, WAIT_MS, NULL, 0), -1);
	if (at_audit_wait(&env, 1, WAIT_MS, kv) < 1)
		fail_msg("no connection_refused (%s) audited for %s", why, src);
}

/* Nothing has been said on fd yet: the connection is still waiting. */
static void
expect_silent(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	assert_int_equal(poll(&p, 1, 0), 0);
}

/* A valid CLIENT_HELLO payload with alice's certificate. */
static void
client_hello(struct wbuf *b)
{
	struct sc_client_hello ch;
	EVP_PKEY *eph = NULL;
	uint8_t der[SC_MAX_CERT];
	char err[256];
	X509 *x;

	x = pki_load_cert(scenv_ca_file(&env, "alice.pem"), err, sizeof(err));
	assert_non_null(x);
	memset(&ch, 0, sizeof(ch));
	ch.min_version = ch.max_version = SC_PROTO_VERSION;
	assert_int_equal(RAND_bytes(ch.client_nonce, SC_NONCE_LEN), 1);
	assert_int_equal(sc_x25519_keygen(&eph, ch.client_kex), 0);
	assert_int_equal(pki_cert_to_der(x, der, sizeof(der), &ch.certlen), 0);
	ch.cert = der;
	wbuf_init(b, SC_MAX_PAYLOAD);
	assert_int_equal(sc_ch_encode(b, &ch), 0);
	EVP_PKEY_free(eph);
	X509_free(x);
}

static void
test_flood_beyond_max_startups(void **state)
{
	struct wbuf ch;
	int fds[2 * MAX_STARTUPS], i;
	char src[2 * MAX_STARTUPS][32];
	double t0[2 * MAX_STARTUPS];

	(void)state;
	wait_counts(1, 0);
	/*
	 * Connections that never say a word, each from its own address so
	 * that only the unauthenticated limit applies: the first
	 * MAX_STARTUPS get a worker, every one after is refused by the
	 * master.  The listen queue is FIFO and the master counts each
	 * accepted one before it accepts the next, so which is which is
	 * certain.
	 */
	client_hello(&ch);
	for (i = 0; i < 2 * MAX_STARTUPS; i++) {
		snprintf(src[i], sizeof(src[i]), "127.0.0.%d", 11 + i);
		t0[i] = at_now_ms();
		fds[i] = at_connect_from(src[i], env.port);
		assert_true(fds[i] != -1);
		/*
		 * Those to be refused speak at once, as a real client does:
		 * their unread hello must not cost them the master's ERROR.
		 */
		if (i >= MAX_STARTUPS)
			assert_int_equal(sc_frame_write(fds[i], 5000,
			    SC_T_CLIENT_HELLO, ch.data, ch.len), 0);
	}
	wbuf_free(&ch);
	for (i = MAX_STARTUPS; i < 2 * MAX_STARTUPS; i++)
		expect_refused(fds[i], src[i], SC_E_UNAVAILABLE,
		    "unauthenticated", "max_startups", t0[i]);
	wait_counts(1 + MAX_STARTUPS, MAX_STARTUPS);
	for (i = 0; i < MAX_STARTUPS; i++)
		expect_silent(fds[i]);

	/* The established session does not notice. */
	assert_int_equal(at_chat(honest, "still here during the flood"), 0);

	/* The flood ends: the slots come back, and a newcomer is served. */
	for (i = 0; i < 2 * MAX_STARTUPS; i++)
		close(fds[i]);
	wait_counts(1, 0);
	csession_free(served_from("127.0.0.20", "after the flood"));
	wait_counts(1, 0);
}

static void
test_per_source_limit(void **state)
{
	struct csession *other;
	int fds[MAX_PER_SOURCE], i;
	double t;

	(void)state;
	wait_counts(1, 0);
	/* The honest session is one from 127.0.0.1; fill up the rest. */
	for (i = 0; i < MAX_PER_SOURCE - 1; i++) {
		fds[i] = at_connect_from("127.0.0.1", env.port);
		assert_true(fds[i] != -1);
	}
	wait_counts(MAX_PER_SOURCE, MAX_PER_SOURCE - 1);
	t = at_now_ms();
	fds[i] = at_connect_from("127.0.0.1", env.port);
	assert_true(fds[i] != -1);
	expect_refused(fds[i], "127.0.0.1", SC_E_RATE_LIMITED,
	    "from your address", "max_per_source", t);
	close(fds[i]);

	/* Another address is served meanwhile, and so is the honest one. */
	other = served_from("127.0.0.2", "from next door");
	assert_int_equal(at_chat(honest, "still here"), 0);
	for (i = 0; i < MAX_PER_SOURCE - 1; i++)
		expect_silent(fds[i]);

	for (i = 0; i < MAX_PER_SOURCE - 1; i++)
		close(fds[i]);
	csession_free(other);
	wait_counts(1, 0);
}

static void
test_max_sessions(void **state)
{
	static const char *const logged[] = { "127.0.0.1", "127.0.0.2",
	    "127.0.0.3" };
	struct csession *cs[3], *late;
	int fds[MAX_STARTUPS], extra, i;
	char src[32];
	double t;

	(void)state;
	wait_counts(1, 0);
	/* Logged-in sessions do not count as unauthenticated... */
	for (i = 0; i < 3; i++)
		cs[i] = served_from(logged[i], "one of many");
	wait_counts(4, 0);
	/* ...these do, which fills max_sessions without max_startups. */
	for (i = 0; i < MAX_STARTUPS; i++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 21 + i);
		fds[i] = at_connect_from(src, env.port);
		assert_true(fds[i] != -1);
	}
	wait_counts(MAX_SESSIONS, MAX_STARTUPS);
	t = at_now_ms();
	extra = at_connect_from("127.0.0.25", env.port);
	assert_true(extra != -1);
	expect_refused(extra, "127.0.0.25", SC_E_UNAVAILABLE,
	    "too many sessions", "max_sessions", t);
	close(extra);
	for (i = 0; i < 3; i++)
		assert_int_equal(at_chat(cs[i], "full house"), 0);
	assert_int_equal(at_chat(honest, "full house"), 0);

	/* One leaves: the next one is served. */
	close(fds[0]);
	wait_counts(MAX_SESSIONS - 1, MAX_STARTUPS - 1);
	late = served_from("127.0.0.25", "my turn");
	wait_counts(MAX_SESSIONS, MAX_STARTUPS - 1);

	csession_free(late);
	for (i = 1; i < MAX_STARTUPS; i++)
		close(fds[i]);
	for (i = 0; i < 3; i++)
		csession_free(cs[i]);
	wait_counts(1, 0);
}

/* A slow client: bytes to trickle, one a second, and what it got. */
struct slow {
	const char	*what;
	int		 fd;
	const uint8_t	*drip;		/* NULL: says nothing at all */
	size_t		 driplen, sent;
	double		 t_start, t_cut;
	int		 code;
};

static void
test_slowloris(void **state)
{
	static const uint8_t hello_hdr[] = { SC_MAGIC0, SC_MAGIC1,
	    SC_PROTO_VERSION, SC_T_CLIENT_HELLO, 0, 0, 4, 0, 1, 1 };
	static const uint8_t finish_hdr[] = { SC_MAGIC0, SC_MAGIC1,
	    SC_PROTO_VERSION, SC_T_CLIENT_FINISH, 0, 0, 1, 2, 1, 0 };
	struct csession_err cerr;
	struct csession *quiet;
	struct slow s[3];
	struct sc_frame f = { 0 };
	struct wbuf ch;
	const char *kv[] = { "event", "timeout", NULL };
	double next, end;
	int i, left, ec = 0, before;
	char *audit;

	(void)state;
	wait_counts(1, 0);
	audit = scenv_audit(&env);
	before = at_audit_count(audit, kv);
	free(audit);
	memset(s, 0, sizeof(s));

	/* A frame header and payload, one byte a second, never complete. */
	s[0].what = "trickled CLIENT_HELLO";
	s[0].t_start = at_now_ms();
	s[0].fd = at_connect_from("127.0.0.31", env.port);
	s[0].drip = hello_hdr;
	s[0].driplen = sizeof(hello_hdr);
	/* A real CLIENT_HELLO, then CLIENT_FINISH one byte a second. */
	s[1].what = "trickled CLIENT_FINISH";
	s[1].t_start = at_now_ms();
	s[1].fd = at_connect_from("127.0.0.32", env.port);
	assert_true(s[0].fd != -1 && s[1].fd != -1);
	client_hello(&ch);
	assert_int_equal(sc_frame_write(s[1].fd, 5000, SC_T_CLIENT_HELLO,
	    ch.data, ch.len), 0);
	wbuf_free(&ch);
	assert_int_equal(sc_frame_read(s[1].fd, WAIT_MS, &f, &ec), 1);
	assert_int_equal(f.type, SC_T_SERVER_HELLO);
	sc_frame_free(&f);
	s[1].drip = finish_hdr;
	s[1].driplen = sizeof(finish_hdr);
	/* The whole handshake, then never a LOGIN. */
	s[2].what = "handshake without login";
	s[2].t_start = at_now_ms();
	quiet = at_open(&env, "carol", NULL, &cerr);
	assert_non_null(quiet);
	s[2].fd = csession_fd(quiet);
	wait_counts(4, 3);

	left = 3;
	next = at_now_ms();
	end = at_now_ms() + (hs_timeout_s + 20) * 1000.0;
	while (left > 0 && at_now_ms() < end) {
		struct pollfd p[3];
		int n = 0, map[3], ms;

		for (i = 0; i < 3; i++) {
			if (s[i].t_cut != 0)
				continue;
			p[n].fd = s[i].fd;
			p[n].events = POLLIN;
			p[n].revents = 0;
			map[n++] = i;
		}
		ms = (int)(next - at_now_ms());
		if (poll(p, (nfds_t)n, ms > 0 ? ms : 0) > 0) {
			/* Something came: it must be the end, with TIMEOUT. */
			for (i = 0; i < n; i++) {
				struct slow *c = &s[map[i]];

				if (p[i].revents == 0)
					continue;
				c->code = at_read_error(c->fd, 5000, NULL, 0);
				c->t_cut = at_now_ms();
				left--;
			}
			continue;
		}
		/* A second passed: one more byte from each trickler. */
		for (i = 0; i < 3; i++) {
			if (s[i].t_cut != 0 || s[i].drip == NULL)
				continue;
			if (write(s[i].fd, s[i].sent < s[i].driplen ?
			    &s[i].drip[s[i].sent] : (const uint8_t *)"x", 1) ==
			    1)
				s[i].sent++;
		}
		next += 1000;
	}
	for (i = 0; i < 3; i++) {
		double after = (s[i].t_cut - s[i].t_start) / 1000;

		fprintf(stderr, "slowloris: %s: %s after %.1f s (%zu bytes "
		    "sent)\n", s[i].what, s[i].code > 0 ?
		    sc_err_name(s[i].code) : "nothing", after, s[i].sent);
		if (s[i].code != SC_E_TIMEOUT)
			fail_msg("%s: not cut with TIMEOUT", s[i].what);
		/* At the handshake timeout: not before, not much later. */
		assert_true(after >= hs_timeout_s - 1.5);
		assert_true(after <= hs_timeout_s + 10);
	}
	close(s[0].fd);
	close(s[1].fd);
	csession_free(quiet);

	/* The master freed their slots; newcomers are served. */
	wait_counts(1, 0);
	assert_true(at_audit_wait(&env, before + 3, WAIT_MS, kv) >= before + 3);
	csession_free(served_from("127.0.0.33", "after the slow ones"));
	assert_int_equal(at_chat(honest, "still here after them"), 0);
}

static void
test_honest_session_survived(void **state)
{
	char *audit;

	(void)state;
	assert_int_equal(at_chat(honest, "last words"), 0);
	/* Its transcript is whole: the server's receipt matches ours. */
	assert_int_equal(csession_close(honest, NULL, NULL), 0);
	csession_free(honest);
	honest = NULL;
	wait_counts(0, 0);
	audit = scenv_audit(&env);
	assert_false(tu_contains(audit, "\"worker_crash\""));
	assert_false(tu_contains(audit, "\"child_crash\""));
	assert_false(tu_contains(audit, "\"worker_killed\""));
	free(audit);
	assert_true(kill(env.pid, 0) == 0);
	assert_false(at_sanitizer_report(env.log));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood_beyond_max_startups),
		cmocka_unit_test(test_per_source_limit),
		cmocka_unit_test(test_max_sessions),
		cmocka_unit_test(test_slowloris),
		cmocka_unit_test(test_honest_session_survived),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("attack_resources", tests, setup,
	    teardown);
}
