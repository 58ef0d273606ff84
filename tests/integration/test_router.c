/*
 * test_router.c: the real router binary, started the way the master
 * starts it (fork, exec, control channel on descriptor 3).  As root it
 * runs with its full privilege drop (user nobody, an empty jail under
 * /run, seccomp); otherwise in development mode.
 *
 * The test plays the master (control channel: NEW_CHANNEL, BIND; it reads
 * KILL_WORKER and audit events) and several workers, one channel each:
 * alice, bob on two devices, carol, dave.  Envelopes are sealed at run
 * time with envelope_seal() from keys and certificates made in memory.
 * It checks fan-out (every channel of every recipient, never back to the
 * sending channel, never to others), that the router reads the envelope
 * itself and refuses one from another sender, that nothing is accepted
 * before BIND, STATUS with by_user set by the router, WHO, the rate
 * limit, and that a recipient that does not read cannot stall the router.
 *
 * The last tests run the whole daemon (tests/lib/scenv.c): the master
 * starts the router as _securechat-router, hands every worker a router
 * channel on descriptor 8, restarts a killed router, and keeps serving
 * when the router cannot run.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/x509.h>

#include "audit.h"
#include "authd/authd.h"
#include "buf.h"
#include "daemonspawn.h"
#include "envelope.h"
#include "fakeauthd.h"
#include "hostile.h"
#include "ipc.h"
#include "log.h"
#include "pki.h"
#include "proto.h"
#include "router/router.h"
#include "scenv.h"
#include "securechatd/securechatd.h"
#include "testutil.h"
#include "util.h"

struct ident {
	const char	*name;
	EVP_PKEY	*key;
	X509		*cert;
};

static struct {
	char		*dir;
	struct ds_daemon d;		/* the router; we are its master */
	char		 ca_path[512];
	struct pki_trust *trust;
	struct ident	 ca, alice, bob1, bob2, carol, dave;
	uint64_t	 serial;
	uint64_t	 counter;
	uint32_t	 reqid;
} rt;

/* What the router told the master so far (audit lines, kill requests). */
static char		 audits[1 << 20];
static size_t		 auditslen;
static uint64_t		 kills[1024];
static size_t		 nkills;

static struct ipc_msg	*rmsg;		/* 65 KiB: not on the stack */

/* ---- set-up ---- */

static X509 *
make_cert(const char *cn, enum pki_purpose purpose, int is_ca, EVP_PKEY *key,
    X509 *issuer, EVP_PKEY *issuer_key)
{
	struct pki_cert_spec spec;
	char err[256];
	X509 *x;

	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.purpose = purpose;
	spec.is_ca = is_ca;
	spec.not_before = time(NULL) - 3600;
	spec.not_after = time(NULL) + 86400;
	if ((x = pki_make_cert(&spec, key, issuer, issuer_key, err,
	    sizeof(err))) == NULL)
		fail_msg("pki_make_cert: %s", err);
	return x;
}

static void
make_ident(struct ident *id, const char *name)
{
	char err[256];

	id->name = name;
	if ((id->key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL)
		fail_msg("keygen: %s", err);
	id->cert = make_cert(name, PKI_PURPOSE_CLIENT, 0, id->key, rt.ca.cert,
	    rt.ca.key);
}

static void
free_ident(struct ident *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
	id->key = NULL;
	id->cert = NULL;
}

static int
setup(void **state)
{
	char err[256];

	(void)state;
	memset(&rt, 0, sizeof(rt));
	assert_non_null(rmsg = malloc(sizeof(*rmsg)));
	rt.dir = tu_mkdtemp("router");
	ds_init(&rt.d, "router", rt.dir);
	snprintf(rt.ca_path, sizeof(rt.ca_path), "%s/ca.pem", rt.dir);
	rt.ca.name = "router test CA";
	assert_non_null(rt.ca.key = pki_rsa_keygen(2048, err, sizeof(err)));
	rt.ca.cert = make_cert(rt.ca.name, PKI_PURPOSE_ANY, 1, rt.ca.key, NULL,
	    NULL);
	assert_int_equal(pki_write_cert(rt.ca_path, rt.ca.cert, 0, err,
	    sizeof(err)), 0);
	if ((rt.trust = pki_trust_load(rt.ca_path, NULL, err,
	    sizeof(err))) == NULL)
		fail_msg("trust: %s", err);
	make_ident(&rt.alice, "alice");
	make_ident(&rt.bob1, "bob");	/* bob's two devices: two certs */
	make_ident(&rt.bob2, "bob");
	make_ident(&rt.carol, "carol");
	make_ident(&rt.dave, "dave");
	rt.counter = now_ms();
	rt.d.pid = ds_start(&rt.d, NULL, &rt.d.ctl);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	ds_stop(&rt.d, "SC_ROUTER_LOG");
	pki_trust_free(rt.trust);
	free_ident(&rt.ca);
	free_ident(&rt.alice);
	free_ident(&rt.bob1);
	free_ident(&rt.bob2);
	free_ident(&rt.carol);
	free_ident(&rt.dave);
	tu_rmrf(rt.dir);
	free(rt.dir);
	free(rmsg);
	return 0;
}

/* ---- the master's side ---- */

/* Read what the router sent the master, waiting at most ms for the first. */
static void
ctl_pump(int ms)
{
	struct pollfd pfd;
	struct cursor c;
	uint64_t serial;

	for (;;) {
		pfd.fd = rt.d.ctl;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms) != 1)
			return;
		ms = 0;
		if (ipc_recv(rt.d.ctl, rmsg, 0) != 1)
			fail_msg("control channel broke");
		if (rmsg->hdr.type == IPC_MSG_AUDIT) {
			if (auditslen + rmsg->len + 2 < sizeof(audits)) {
				memcpy(audits + auditslen, rmsg->body,
				    rmsg->len);
				auditslen += rmsg->len;
				audits[auditslen++] = '\n';
				audits[auditslen] = '\0';
			}
			continue;
		}
		assert_int_equal(rmsg->hdr.type, ROUTER_CTL_KILL_WORKER);
		cur_init(&c, rmsg->body, rmsg->len);
		serial = cur_u64(&c);
		assert_int_equal(cur_done(&c), 0);
		if (nkills < sizeof(kills) / sizeof(kills[0]))
			kills[nkills++] = serial;
	}
}

static int
killed(uint64_t serial)
{
	size_t i;

	for (i = 0; i < nkills; i++)
		if (kills[i] == serial)
			return 1;
	return 0;
}

/* An audit line with this event for this session, within ms. */
static int
audited(const char *event, uint64_t serial, int ms)
{
	char ev[96], se[64];
	const char *line, *nl;

	snprintf(ev, sizeof(ev), "\"event\":\"%s\"", event);
	snprintf(se, sizeof(se), "\"session_serial\":\"%llu\"",
	    (unsigned long long)serial);
	for (; ms >= 0; ms -= 50) {
		ctl_pump(50);
		for (line = audits; *line != '\0'; line = nl + 1) {
			if ((nl = strchr(line, '\n')) == NULL)
				break;
			if (memmem(line, (size_t)(nl - line), ev, strlen(ev)) &&
			    memmem(line, (size_t)(nl - line), se, strlen(se)))
				return 1;
		}
	}
	return 0;
}

/* The master hands the router a new channel; returns the worker's end. */
static int
new_channel(uint64_t *serialp)
{
	struct wbuf b;
	int sv[2];

	*serialp = ++rt.serial;
	assert_int_equal(ipc_socketpair(sv), 0);
	wbuf_init(&b, 256);
	wbuf_put_u64(&b, *serialp);
	wbuf_put_str16(&b, "192.0.2.9", 9);
	assert_int_equal(ipc_send_fd(rt.d.ctl, ROUTER_CTL_NEW_CHANNEL, 0,
	    b.data, b.len, sv[1]), 0);
	wbuf_free(&b);
	close(sv[1]);
	return sv[0];
}

static void
send_bind(uint64_t serial, uint64_t account, const char *user)
{
	struct wbuf b;

	wbuf_init(&b, 256);
	wbuf_put_u64(&b, serial);
	wbuf_put_u64(&b, account);
	wbuf_put_str16(&b, user, strlen(user));
	assert_int_equal(ipc_send(rt.d.ctl, ROUTER_CTL_BIND, 0, b.data, b.len),
	    0);
	wbuf_free(&b);
}

/* ---- the workers' side ---- */

/* One message within ms: 1 (in rmsg), 0 on EOF, -1 on timeout. */
static int
get(int fd, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	int rc;

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	if ((rc = ipc_recv(fd, rmsg, 0)) == -1)
		fail_msg("ipc_recv: %s", strerror(errno));
	return rc;
}

static void
expect_nothing(int fd, int ms)
{
	int rc = get(fd, ms);

	if (rc == 1)
		fail_msg("unexpected message type 0x%x", rmsg->hdr.type);
	assert_int_equal(rc, -1);
}

/* A channel bound to user, after the router said so (ROUTER_BOUND). */
static int
open_user(const char *user, uint64_t account, uint64_t *serialp)
{
	struct cursor c;
	const uint8_t *u;
	size_t ulen;
	int fd;

	fd = new_channel(serialp);
	send_bind(*serialp, account, user);
	if (get(fd, 3000) != 1) {
		ds_dump_log(&rt.d);
		fail_msg("no BOUND for %s", user);
	}
	assert_int_equal(rmsg->hdr.type, ROUTER_BOUND);
	assert_int_equal(rmsg->hdr.id, 0);
	cur_init(&c, rmsg->body, rmsg->len);
	assert_int_equal(cur_u64(&c), account);
	u = cur_str16(&c, &ulen, SC_MAX_USERNAME);
	assert_int_equal(cur_done(&c), 0);
	assert_int_equal(ulen, strlen(user));
	assert_memory_equal(u, user, ulen);
	return fd;
}

/* Seal bodylen bytes of text from `from` to the certificates in `to`. */
static void
seal(struct wbuf *out, const struct ident *from, const struct ident *const *to,
    size_t n, const char *room, size_t bodylen)
{
	static uint8_t body[ENV_MAX_BODY];
	struct env_identity me = { from->name, from->cert, from->key };
	struct env_rcpt_in r[8];
	char reason[256];
	size_t i;
	int rc;

	assert_true(n <= 8 && bodylen <= sizeof(body));
	memset(body, 'x', bodylen);
	for (i = 0; i < n; i++) {
		r[i].name = to[i]->name;
		r[i].cert = to[i]->cert;
	}
	wbuf_init(out, ENV_MAX_LEN);
	rc = envelope_seal(out, &me, r, n, room, now_ms(), ++rt.counter, body,
	    bodylen, rt.trust, 0, reason, sizeof(reason));
	if (rc != 0)
		fail_msg("envelope_seal: %s", reason);
}

/* Send a ROUTE body as is; the request id used. */
static uint32_t
send_route_body(int fd, uint64_t msg_id, const void *env, size_t len)
{
	struct wbuf b;
	uint32_t id = ++rt.reqid;

	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_u64(&b, msg_id);
	wbuf_put_str32(&b, env, len);
	assert_false(b.err);
	assert_int_equal(ipc_send(fd, ROUTER_ROUTE, id, b.data, b.len), 0);
	wbuf_free(&b);
	return id;
}

/*
 * ROUTE and wait for the answer, which must be the next message on the
 * channel: ROUTE_OK (returns 0, *delivered set), REFUSED (returns its
 * code), or EOF (returns -1: the router closed the channel).
 */
static int
route(int fd, uint64_t msg_id, const struct wbuf *env, unsigned int *delivered)
{
	struct cursor c;
	uint32_t id;
	uint16_t v;
	int rc;

	id = send_route_body(fd, msg_id, env->data, env->len);
	if ((rc = get(fd, 3000)) == 0)
		return -1;
	if (rc == -1) {
		ds_dump_log(&rt.d);
		fail_msg("no answer to ROUTE");
	}
	assert_int_equal(rmsg->hdr.id, id);
	cur_init(&c, rmsg->body, rmsg->len);
	v = cur_u16(&c);
	assert_int_equal(cur_done(&c), 0);
	if (rmsg->hdr.type == ROUTER_ROUTE_OK) {
		*delivered = v;
		return 0;
	}
	assert_int_equal(rmsg->hdr.type, ROUTER_REFUSED);
	assert_true(v != 0);
	return v;
}

/* The next message on fd is a DELIVER of exactly (msg_id, env). */
static void
expect_deliver(int fd, uint64_t msg_id, const struct wbuf *env)
{
	struct cursor c;
	const uint8_t *e;
	size_t elen;

	if (get(fd, 3000) != 1) {
		ds_dump_log(&rt.d);
		fail_msg("no DELIVER");
	}
	assert_int_equal(rmsg->hdr.type, ROUTER_DELIVER);
	assert_int_equal(rmsg->hdr.id, 0);
	cur_init(&c, rmsg->body, rmsg->len);
	assert_int_equal(cur_u64(&c), msg_id);
	e = cur_str32(&c, &elen, ENV_MAX_LEN);
	assert_int_equal(cur_done(&c), 0);
	assert_int_equal(elen, env->len);
	assert_memory_equal(e, env->data, elen);
}

static void
send_status(int fd, uint64_t msg_id, const char *orig, uint8_t state)
{
	struct wbuf b;

	wbuf_init(&b, 256);
	wbuf_put_u64(&b, msg_id);
	wbuf_put_str16(&b, orig, strlen(orig));
	wbuf_put_u8(&b, state);
	assert_int_equal(ipc_send(fd, ROUTER_STATUS, ++rt.reqid, b.data,
	    b.len), 0);
	wbuf_free(&b);
}

/*
 * WHO: the names as one "a,b,c" string (static), or NULL when the router
 * refused it (REFUSED) or closed the channel.
 */
static const char *
who(int fd)
{
	static char list[4096];
	struct cursor c;
	const uint8_t *u;
	uint32_t id = ++rt.reqid;
	size_t ulen, off = 0;
	uint16_t n, i;

	assert_int_equal(ipc_send(fd, ROUTER_WHO, id, NULL, 0), 0);
	if (get(fd, 3000) != 1)
		return NULL;
	assert_int_equal(rmsg->hdr.id, id);
	if (rmsg->hdr.type == ROUTER_REFUSED)
		return NULL;
	assert_int_equal(rmsg->hdr.type, ROUTER_WHO_OK);
	cur_init(&c, rmsg->body, rmsg->len);
	n = cur_u16(&c);
	list[0] = '\0';
	for (i = 0; i < n; i++) {
		u = cur_str16(&c, &ulen, SC_MAX_USERNAME);
		assert_non_null(u);
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%.*s",
		    i > 0 ? "," : "", (int)ulen, (const char *)u);
	}
	assert_int_equal(cur_done(&c), 0);
	return list;
}

/* The router refused: KILL_WORKER for serial, audited, channel closed. */
static void
assert_refused(int fd, uint64_t serial)
{
	int i;

	for (i = 0; i < 300 && !killed(serial); i++)
		ctl_pump(10);
	if (!killed(serial)) {
		ds_dump_log(&rt.d);
		fail_msg("no KILL_WORKER for session %llu",
		    (unsigned long long)serial);
	}
	assert_true(audited("router_refused", serial, 1000));
	/* Whatever was queued before, the channel ends with EOF. */
	while ((i = get(fd, 3000)) == 1)
		;
	assert_int_equal(i, 0);
	close(fd);
}

/* ---- the tests ---- */

static void
test_direct_message(void **state)
{
	const struct ident *to[] = { &rt.bob1, &rt.bob2, &rt.alice };
	struct wbuf env;
	uint64_t sa, sa2, sb1, sb2, sc;
	unsigned int n;
	int a, a2, b1, b2, c;

	(void)state;
	a = open_user("alice", 1, &sa);
	a2 = open_user("alice", 1, &sa2);	/* alice's other device */
	b1 = open_user("bob", 2, &sb1);
	b2 = open_user("bob", 2, &sb2);
	c = open_user("carol", 3, &sc);

	/* To both of bob's devices: both of his channels, not carol. */
	seal(&env, &rt.alice, to, 2, "", 100);
	assert_int_equal(route(a, 1001, &env, &n), 0);
	assert_int_equal(n, 2);
	expect_deliver(b1, 1001, &env);
	expect_deliver(b2, 1001, &env);
	expect_nothing(c, 200);
	expect_nothing(a2, 0);
	expect_nothing(a, 0);
	wbuf_free(&env);

	/*
	 * A copy for alice's own certificate: her other channel gets it,
	 * the sending channel does not (its client has the message).
	 */
	seal(&env, &rt.alice, to, 3, "", 100);
	assert_int_equal(route(a, 1002, &env, &n), 0);
	assert_int_equal(n, 3);
	expect_deliver(b1, 1002, &env);
	expect_deliver(b2, 1002, &env);
	expect_deliver(a2, 1002, &env);
	expect_nothing(a, 200);
	expect_nothing(c, 0);
	wbuf_free(&env);

	/* A user with no channel here: nobody gets it, not an error. */
	{
		const struct ident *d[] = { &rt.dave };

		seal(&env, &rt.carol, d, 1, "", 10);
		assert_int_equal(route(c, 1003, &env, &n), 0);
		assert_int_equal(n, 0);
		expect_nothing(a, 100);
		expect_nothing(b1, 0);
		wbuf_free(&env);
	}
	ctl_pump(0);
	assert_int_equal(nkills, 0);
	close(a);
	close(a2);
	close(b1);
	close(b2);
	close(c);
}

static void
test_room(void **state)
{
	const struct ident *to[] = { &rt.bob1, &rt.bob2, &rt.carol,
	    &rt.alice };
	struct wbuf env;
	uint64_t sa, sb1, sb2, sc, sd;
	unsigned int n;
	int a, b1, b2, c, d;

	(void)state;
	a = open_user("alice", 1, &sa);
	b1 = open_user("bob", 2, &sb1);
	b2 = open_user("bob", 2, &sb2);
	c = open_user("carol", 3, &sc);
	d = open_user("dave", 4, &sd);	/* online, not in the room */

	seal(&env, &rt.alice, to, 4, "#general", 300);
	assert_int_equal(route(a, 2001, &env, &n), 0);
	assert_int_equal(n, 3);
	expect_deliver(b1, 2001, &env);
	expect_deliver(b2, 2001, &env);
	expect_deliver(c, 2001, &env);
	expect_nothing(d, 200);
	expect_nothing(a, 0);
	wbuf_free(&env);
	close(a);
	close(b1);
	close(b2);
	close(c);
	close(d);
}

static void
test_status(void **state)
{
	struct cursor cur;
	const uint8_t *by;
	uint64_t sa, sa2, sb1, sb2, sc;
	size_t bylen;
	int a, a2, b1, b2, c, i;

	(void)state;
	a = open_user("alice", 1, &sa);
	a2 = open_user("alice", 1, &sa2);
	b1 = open_user("bob", 2, &sb1);
	b2 = open_user("bob", 2, &sb2);
	c = open_user("carol", 3, &sc);

	/* bob read alice's 1001: both of alice's channels hear it from "bob". */
	send_status(b1, 1001, "alice", ROUTER_ST_READ);
	for (i = 0; i < 2; i++) {
		if (get(i == 0 ? a : a2, 3000) != 1)
			fail_msg("no STATUS_PUSH");
		assert_int_equal(rmsg->hdr.type, ROUTER_STATUS_PUSH);
		assert_int_equal(rmsg->hdr.id, 0);
		cur_init(&cur, rmsg->body, rmsg->len);
		assert_int_equal(cur_u64(&cur), 1001);
		by = cur_str16(&cur, &bylen, SC_MAX_USERNAME);
		assert_int_equal(cur_u8(&cur), ROUTER_ST_READ);
		assert_int_equal(cur_done(&cur), 0);
		/* Set by the router from the channel, never by the worker. */
		assert_int_equal(bylen, 3);
		assert_memory_equal(by, "bob", 3);
	}
	/* No answer to STATUS; nobody else hears of it. */
	expect_nothing(b1, 200);
	expect_nothing(b2, 0);
	expect_nothing(c, 0);

	/* carol's "delivered" for a message of bob's: bob's two channels. */
	send_status(c, 77, "bob", ROUTER_ST_DELIVERED);
	for (i = 0; i < 2; i++) {
		if (get(i == 0 ? b1 : b2, 3000) != 1)
			fail_msg("no STATUS_PUSH");
		assert_int_equal(rmsg->hdr.type, ROUTER_STATUS_PUSH);
		cur_init(&cur, rmsg->body, rmsg->len);
		assert_int_equal(cur_u64(&cur), 77);
		by = cur_str16(&cur, &bylen, SC_MAX_USERNAME);
		assert_int_equal(cur_u8(&cur), ROUTER_ST_DELIVERED);
		assert_int_equal(cur_done(&cur), 0);
		assert_int_equal(bylen, 5);
		assert_memory_equal(by, "carol", 5);
	}
	expect_nothing(a, 200);
	close(a);
	close(a2);
	close(b1);
	close(b2);
	close(c);
}

static void
test_who(void **state)
{
	const char *l = NULL;
	uint64_t sa, sb1, sb2, sc;
	int a, b1, b2, c, i;

	(void)state;
	/* Let the channels of earlier tests go. */
	usleep(200000);
	b2 = open_user("bob", 2, &sb2);
	c = open_user("carol", 3, &sc);
	a = open_user("alice", 1, &sa);
	b1 = open_user("bob", 2, &sb1);
	/* Unique and sorted, whoever asks. */
	assert_non_null(l = who(c));
	assert_string_equal(l, "alice,bob,carol");
	assert_non_null(l = who(b1));
	assert_string_equal(l, "alice,bob,carol");

	/* carol's worker goes away: her channel disappears. */
	close(c);
	for (i = 0; i < 100; i++) {
		assert_non_null(l = who(a));
		if (strcmp(l, "alice,bob") == 0)
			break;
		usleep(20000);
	}
	assert_string_equal(l, "alice,bob");
	/* One of bob's two devices leaving leaves bob online. */
	close(b1);
	usleep(100000);
	assert_non_null(l = who(a));
	assert_string_equal(l, "alice,bob");
	close(a);
	close(b2);
}

static void
test_sender_mismatch(void **state)
{
	const struct ident *to[] = { &rt.carol };
	struct wbuf env;
	uint64_t sa, sc;
	unsigned int n;
	int a, c;

	(void)state;
	a = open_user("alice", 1, &sa);
	c = open_user("carol", 3, &sc);
	/* alice's worker routes an envelope bob signed: refused, killed. */
	seal(&env, &rt.bob1, to, 1, "", 20);
	assert_int_equal(route(a, 3001, &env, &n), -1);
	assert_refused(a, sa);
	expect_nothing(c, 200);
	wbuf_free(&env);
	/* carol's channel is untouched. */
	assert_non_null(who(c));
	close(c);
}

static void
test_before_bind(void **state)
{
	const struct ident *to[] = { &rt.bob1 };
	struct wbuf env;
	uint64_t s;
	int fd;

	(void)state;
	/* WHO, ROUTE, STATUS on a NEW channel: each refused, worker killed. */
	fd = new_channel(&s);
	assert_int_equal(ipc_send(fd, ROUTER_WHO, 1, NULL, 0), 0);
	assert_refused(fd, s);

	seal(&env, &rt.alice, to, 1, "", 20);
	fd = new_channel(&s);
	send_route_body(fd, 1, env.data, env.len);
	assert_refused(fd, s);
	wbuf_free(&env);

	fd = new_channel(&s);
	send_status(fd, 1, "bob", ROUTER_ST_READ);
	assert_refused(fd, s);

	/* A BIND for another session binds nothing here. */
	fd = new_channel(&s);
	send_bind(s + 1000, 1, "alice");
	assert_int_equal(ipc_send(fd, ROUTER_WHO, 1, NULL, 0), 0);
	assert_refused(fd, s);
}

static void
test_malformed(void **state)
{
	const struct ident *to[] = { &rt.bob1 };
	struct wbuf env, b;
	uint8_t junk[64];
	uint64_t s;
	int fd, sv[2];

	(void)state;
	seal(&env, &rt.alice, to, 1, "", 20);

	/* A type the router does not know; a reply type as a request. */
	fd = open_user("alice", 1, &s);
	assert_int_equal(ipc_send(fd, 0x99, 1, NULL, 0), 0);
	assert_refused(fd, s);
	fd = open_user("alice", 1, &s);
	assert_int_equal(ipc_send(fd, ROUTER_DELIVER, 1, NULL, 0), 0);
	assert_refused(fd, s);

	/* Bytes that are not an envelope; an envelope cut short. */
	memset(junk, 'A', sizeof(junk));
	fd = open_user("alice", 1, &s);
	send_route_body(fd, 1, junk, sizeof(junk));
	assert_refused(fd, s);
	fd = open_user("alice", 1, &s);
	send_route_body(fd, 1, env.data, env.len - 1);
	assert_refused(fd, s);

	/* A byte after the envelope field. */
	fd = open_user("alice", 1, &s);
	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_u64(&b, 1);
	wbuf_put_str32(&b, env.data, env.len);
	wbuf_put_u8(&b, 0);
	assert_int_equal(ipc_send(fd, ROUTER_ROUTE, 1, b.data, b.len), 0);
	wbuf_free(&b);
	assert_refused(fd, s);

	/* STATUS: a state that does not exist; a name that is not one. */
	fd = open_user("alice", 1, &s);
	send_status(fd, 1, "bob", 3);
	assert_refused(fd, s);
	fd = open_user("alice", 1, &s);
	send_status(fd, 1, "Bob!", ROUTER_ST_READ);
	assert_refused(fd, s);

	/* WHO with a body. */
	fd = open_user("alice", 1, &s);
	assert_int_equal(ipc_send(fd, ROUTER_WHO, 1, "x", 1), 0);
	assert_refused(fd, s);

	/* A descriptor smuggled along with a request. */
	fd = open_user("alice", 1, &s);
	assert_int_equal(ipc_socketpair(sv), 0);
	assert_int_equal(ipc_send_fd(fd, ROUTER_WHO, 1, NULL, 0, sv[0]), 0);
	close(sv[0]);
	close(sv[1]);
	assert_refused(fd, s);

	/* Bound to alice, then the master binds the session to bob. */
	fd = open_user("alice", 1, &s);
	send_bind(s, 2, "bob");
	assert_refused(fd, s);
	wbuf_free(&env);
}

static void
test_rate_limit(void **state)
{
	const struct ident *to[] = { &rt.carol };
	struct cursor c;
	struct wbuf env;
	uint64_t s;
	unsigned int n;
	int fd, i, rc = 0;

	(void)state;
	fd = open_user("dave", 4, &s);
	seal(&env, &rt.dave, to, 1, "", 10);	/* carol is not online */
	for (i = 0; i < 5 * ROUTER_RATE_BURST; i++)
		if ((rc = route(fd, (uint64_t)i + 1, &env, &n)) != 0)
			break;
	/* The burst passes, then RATE_LIMITED; the channel lives on. */
	assert_int_equal(rc, SC_E_RATE_LIMITED);
	assert_true(i >= ROUTER_RATE_BURST);
	assert_true(i < 2 * ROUTER_RATE_BURST);
	assert_true(audited("router_rate_limited", s, 1000));
	assert_false(killed(s));
	/* WHO costs a token too. */
	assert_int_equal(ipc_send(fd, ROUTER_WHO, 9, NULL, 0), 0);
	assert_int_equal(get(fd, 3000), 1);
	if (rmsg->hdr.type == ROUTER_REFUSED) {
		cur_init(&c, rmsg->body, rmsg->len);
		assert_int_equal(cur_u16(&c), SC_E_RATE_LIMITED);
		assert_int_equal(cur_done(&c), 0);
	} else
		assert_int_equal(rmsg->hdr.type, ROUTER_WHO_OK);
	/* Tokens come back with time (ROUTER_RATE_PER_S). */
	usleep(2 * 1000000 / ROUTER_RATE_PER_S + 20000);
	assert_int_equal(route(fd, 99999, &env, &n), 0);
	wbuf_free(&env);
	close(fd);
}

/*
 * bob's first device never reads its channel.  Pushes to it are dropped
 * once its socket is full, and nothing else slows down: every ROUTE is
 * answered at once, bob's other device and carol get everything.
 */
static void
test_full_recipient(void **state)
{
	const struct ident *to[] = { &rt.bob1, &rt.bob2 };
	const struct ident *toc[] = { &rt.carol };
	struct wbuf env, envc;
	uint64_t sa, sb1, sb2, sc, t0, worst = 0;
	unsigned int n, total = 0, full = 0, queued = 0;
	int a, b1, b2, c, i, rc;

	(void)state;
	a = open_user("alice", 1, &sa);
	b1 = open_user("bob", 2, &sb1);
	b2 = open_user("bob", 2, &sb2);
	c = open_user("carol", 3, &sc);
	/* About 6 KB each: bob1's socket (~208 KiB) fills after ~30. */
	seal(&env, &rt.alice, to, 2, "", ENV_MAX_BODY);
	for (i = 0; i < 150; i++) {
		t0 = now_ms();
		assert_int_equal(route(a, 5000 + (uint64_t)i, &env, &n), 0);
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
		assert_true(n == 1 || n == 2);
		if (n == 1)
			full++;
		total += n;
		expect_deliver(b2, 5000 + (uint64_t)i, &env);
	}
	/* Some were dropped for bob1, none for bob2; no ROUTE waited. */
	assert_true(full > 0);
	assert_true(worst < 1000);
	assert_true(audited("router_push_dropped", sb1, 1000));
	assert_false(killed(sb1));

	/* Others are served at once. */
	seal(&envc, &rt.alice, toc, 1, "", 50);
	t0 = now_ms();
	assert_int_equal(route(a, 6000, &envc, &n), 0);
	assert_int_equal(n, 1);
	expect_deliver(c, 6000, &envc);
	assert_true(now_ms() - t0 < 1000);
	wbuf_free(&envc);

	/* What bob1 got is intact and in order: the first ones. */
	for (i = 0; (rc = get(b1, 100)) == 1; i++) {
		struct cursor cur;

		assert_int_equal(rmsg->hdr.type, ROUTER_DELIVER);
		cur_init(&cur, rmsg->body, rmsg->len);
		assert_int_equal(cur_u64(&cur), 5000 + (uint64_t)i);
		queued++;
	}
	assert_int_equal(rc, -1);
	assert_int_equal(queued, total - 150);
	assert_int_equal(queued, 150 - full);
	/* Read again, bob1 gets pushes again. */
	assert_int_equal(route(a, 7000, &env, &n), 0);
	assert_int_equal(n, 2);
	expect_deliver(b1, 7000, &env);
	expect_deliver(b2, 7000, &env);
	wbuf_free(&env);
	close(a);
	close(b1);
	close(b2);
	close(c);
}

static void
test_confined(void **state)
{
	char path[64], *status;

	(void)state;
	/* After everything above, the router still runs. */
	assert_int_equal(ds_wait_exit(rt.d.pid, 0), -1);
	if (geteuid() != 0)
		skip();
	snprintf(path, sizeof(path), "/proc/%d/status", (int)rt.d.pid);
	assert_non_null(status = tu_read(path, NULL));
	assert_false(tu_contains(status, "Uid:\t0\t"));
	assert_true(tu_contains(status, "NoNewPrivs:\t1"));
	assert_true(tu_contains(status, "Seccomp:\t2"));
	free(status);
	snprintf(path, sizeof(path), "/proc/%d/root", (int)rt.d.pid);
	{
		char link[256];
		ssize_t n = readlink(path, link, sizeof(link) - 1);

		assert_true(n > 0);
		link[n] = '\0';
		assert_string_equal(link, rt.d.jail);
	}
}

static void
test_master_exit(void **state)
{
	(void)state;
	/* EOF on the control channel: the router exits cleanly. */
	close(rt.d.ctl);
	rt.d.ctl = -1;
	assert_int_equal(ds_wait_exit(rt.d.pid, 5000), 0);
	rt.d.pid = 0;
}

/* ---- the whole daemon ---- */

static int
count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int
wait_fds(pid_t pid, int want, int ms)
{
	for (; ms > 0; ms -= 20) {
		if (count_fds(pid) == want)
			return 1;
		usleep(20000);
	}
	return 0;
}

static int
connect_port(int port)
{
	struct sockaddr_in sin;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* A child of ppid whose command line contains needle, other than not. */
static pid_t
find_child(pid_t ppid, const char *needle, pid_t not)
{
	struct dirent *de;
	char path[64], buf[4096];
	pid_t pid, found = -1;
	size_t n, i;
	FILE *f;
	DIR *d;
	int pp;

	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL && found == -1) {
		if ((pid = (pid_t)atoi(de->d_name)) <= 0 || pid == not)
			continue;
		pp = -1;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    strrchr(buf, ')') != NULL)
			(void)sscanf(strrchr(buf, ')') + 2, "%*c %d", &pp);
		fclose(f);
		if (pp != ppid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\0';
		if (strstr(buf, needle) != NULL)
			found = pid;
	}
	closedir(d);
	return found;
}

static pid_t
wait_proc(pid_t ppid, const char *needle, pid_t not, int ms)
{
	pid_t p;

	for (; ms > 0; ms -= 50) {
		if ((p = find_child(ppid, needle, not)) > 0)
			return p;
		usleep(50000);
	}
	return -1;
}

/* The worker's descriptor 8 is a socket (its router channel). */
static void
assert_worker_router_fd(pid_t worker)
{
	char path[64], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)worker,
	    WORKER_FD_ROUTER);
	/* A loaded machine: give the new worker time to be itself. */
	for (int i = 0; i < 60; i++) {
		if ((n = readlink(path, link, sizeof(link) - 1)) > 0)
			break;
		usleep(50000);
	}
	if (n <= 0)
		fail_msg("worker %d: no descriptor %d (%s)", (int)worker,
		    WORKER_FD_ROUTER, kill(worker, 0) == 0 ? "alive" : "gone");
	link[n] = '\0';
	assert_true(strncmp(link, "socket:[", 8) == 0);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)worker,
	    WORKER_FD_ROUTER + 1);
	assert_int_equal(readlink(path, link, sizeof(link) - 1), -1);
}

static void
ensure_router_user(void)
{
	struct tu_result r;
	int st;

	if (geteuid() != 0 || getpwnam("_securechat-router") != NULL)
		return;
	st = tu_sh(&r, NULL, "systemd-sysusers '%s'",
	    tu_src("systemd/sysusers.conf"));
	if (st != 0)
		fail_msg("systemd-sysusers: %s", r.err);
	tu_result_free(&r);
	assert_non_null(getpwnam("_securechat-router"));
}

static void
test_daemon_starts_router(void **state)
{
	struct scenv env;
	struct passwd *pw;
	char path[64], want[64], *status, *audit;
	pid_t router, router2, w1, w2;
	int c1, c2, base = -1;

	(void)state;
	ensure_router_user();
	if (scenv_setup(&env, "router") == -1 || scenv_start(&env) == -1) {
		scenv_teardown(&env);
		fail_msg("cannot start the daemon");
	}
	router = wait_proc(env.pid, "router -u", 0, 5000);
	assert_true(router > 0);
	if (geteuid() == 0) {
		/* Its own user, its jail, its sandbox. */
		assert_non_null(pw = getpwnam("_securechat-router"));
		snprintf(path, sizeof(path), "/proc/%d/status", (int)router);
		/* The drop happens right after exec: give it a moment. */
		usleep(300000);
		assert_non_null(status = tu_read(path, NULL));
		snprintf(want, sizeof(want), "Uid:\t%u\t%u\t%u",
		    (unsigned)pw->pw_uid, (unsigned)pw->pw_uid,
		    (unsigned)pw->pw_uid);
		assert_true(tu_contains(status, want));
		assert_true(tu_contains(status, "Seccomp:\t2"));
		free(status);
		base = count_fds(router);	/* 0-3, no channel yet */
		assert_int_equal(base, 4);
	}

	/* A connection: its worker holds a router channel on fd 8. */
	c1 = connect_port(env.port);
	w1 = hostile_worker_of(env.pid, c1, 5000);
	assert_true(w1 > 0);
	usleep(200000);
	assert_worker_router_fd(w1);
	if (base != -1)
		assert_true(wait_fds(router, base + 1, 3000));

	/* The router dies: the master restarts it; the session lives on. */
	assert_int_equal(kill(router, SIGKILL), 0);
	router2 = wait_proc(env.pid, "router -u", router, 10000);
	assert_true(router2 > 0);
	assert_true(scenv_wait_audit(&env, "child_crash", 5));
	assert_true(scenv_wait_audit(&env, "child_restart", 5));
	assert_int_equal(kill(w1, 0), 0);
	usleep(300000);

	/* New sessions get a channel to the new router. */
	c2 = connect_port(env.port);
	w2 = hostile_worker_of(env.pid, c2, 5000);
	assert_true(w2 > 0);
	usleep(200000);
	assert_worker_router_fd(w2);
	if (base != -1)
		assert_true(wait_fds(router2, base + 1, 3000));
	/* The worker's end goes away with it: the channel is removed. */
	close(c2);
	if (base != -1)
		assert_true(wait_fds(router2, base, 5000));
	close(c1);

	assert_int_equal(scenv_stop_daemon(&env), 0);
	/* Stopped with the daemon. */
	assert_int_equal(kill(router2, 0), -1);
	audit = scenv_audit(&env);
	assert_false(tu_contains(audit, "worker_crash"));
	free(audit);
	scenv_teardown(&env);
}

/*
 * A router that cannot run (here: its user does not exist) does not
 * stop the daemon: connections are served, each worker gets a channel
 * whose peer is closed, and the master keeps trying.
 */
static void
test_daemon_without_router(void **state)
{
	struct scenv env;
	pid_t w;
	int c;

	(void)state;
	if (geteuid() != 0)
		skip();		/* without root there is no user to miss */
	if (scenv_setup(&env, "norouter") == -1) {
		scenv_teardown(&env);
		fail_msg("cannot set up");
	}
	strlcpy(env.extra_conf, "router_user _sc-test-no-such-user\n",
	    sizeof(env.extra_conf));
	if (scenv_start(&env) == -1) {
		scenv_teardown(&env);
		fail_msg("the daemon did not start without a router");
	}
	/* It started, failed its drop, and is restarted with back-off. */
	assert_true(scenv_wait_audit(&env, "child_crash", 5));
	c = connect_port(env.port);
	/*
	 * Our connection's worker, not another one still ending (scenv's
	 * readiness probe, say): the one holding the far end of c.
	 */
	w = hostile_worker_of(env.pid, c, 5000);
	assert_true(w > 0);
	usleep(200000);
	assert_worker_router_fd(w);
	assert_int_equal(kill(w, 0), 0);
	close(c);
	assert_int_equal(scenv_stop_daemon(&env), 0);
	scenv_teardown(&env);
}

/*
 * The identity binding, with the real master, workers and router and a
 * stand-in authd: this very program, run by the master as "authd" (see
 * main).  It accepts any LOGIN or REGISTER, tells the master the session
 * is authenticated (AUTHD_CTL_AUTHENTICATED, as the real authd will), and
 * answers the worker.  SC_FAKE_AUTHD_NAME makes it name another user to
 * the master than to the worker.
 */
static int
fake_request(int fd, uint64_t serial, const struct ipc_msg *m)
{
	const char *other = getenv("SC_FAKE_AUTHD_NAME");
	const uint8_t *u;
	struct cursor c;
	size_t ulen;

	cur_init(&c, m->body, m->len);
	if ((u = cur_str16(&c, &ulen, SC_MAX_USERNAME)) == NULL)
		return -1;
	/* First the master, then the worker (authd.h). */
	if ((other != NULL ? fa_authenticated(serial, other, strlen(other)) :
	    fa_authenticated(serial, u, ulen)) == -1)
		return -1;
	return fa_login_ok(fd, m->hdr.id, u, ulen);
}

static int
fake_authd(void)
{
	static const struct fa_hooks hooks = { NULL, fake_request };

	return fa_run(&hooks);
}

/* Start securechatd -d -v on env with this program as its authd. */
static void
start_with_fake_authd(struct scenv *env, const char *other_name)
{
	char self[PATH_MAX], *text = NULL;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	ssize_t n;
	int fd, logfd, i;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	env->port = ntohs(sin.sin_port);
	close(fd);
	assert_true(asprintf(&text, "listen 127.0.0.1:%d\nca %s/ca.pem\n"
	    "cert %s/server.pem\nkey %s/server.key\nserver_name localhost\n"
	    "db_config %s\njail %s\nkeyd_path %s\nauthd_path %s\n"
	    "router_path %s\ntranscript_dir %s\nreceipt_dir %s\n"
	    "audit_log %s\nhandshake_timeout 10\n", env->port, env->ca,
	    env->ca, env->ca, env->db.conf, env->jail, tu_bin("keyd"), self,
	    tu_bin("router"), env->transcripts, env->receipts,
	    env->audit) != -1);
	assert_int_equal(tu_write(env->conf, text, strlen(text)), 0);
	free(text);
	logfd = open(env->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	assert_true(logfd != -1);
	if ((env->pid = fork()) == 0) {
		const char *daemon = tu_bin("securechatd");

		if (other_name != NULL)
			setenv("SC_FAKE_AUTHD_NAME", other_name, 1);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execl(daemon, daemon, "-d", "-v", "-f", env->conf,
		    (char *)NULL);
		_exit(127);
	}
	assert_true(env->pid > 0);
	close(logfd);
	for (i = 0; i < 200; i++) {
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			break;
		sin.sin_port = htons((uint16_t)env->port);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			close(fd);
			return;
		}
		close(fd);
		usleep(50000);
	}
	fail_msg("securechatd did not start");
}

static void
test_daemon_binds_user(void **state)
{
	struct tu_result r;
	struct scenv env;
	char *log;

	(void)state;
	ensure_router_user();
	if (scenv_setup(&env, "bind") == -1) {
		scenv_teardown(&env);
		fail_msg("cannot set up");
	}
	start_with_fake_authd(&env, NULL);
	assert_int_equal(scenv_client(&env, &r, "alice", "any password 1",
	    "hi\n", "login --username alice"), 0);
	assert_true(tu_contains(r.out, "Server> echo: hi"));
	tu_result_free(&r);
	/* The master took the user from authd and bound the router channel. */
	assert_true(scenv_wait_audit(&env, "\"event\":\"user_bound\"", 5));
	assert_true(scenv_wait_audit(&env, "\"user\":\"alice\"", 5));
	log = tu_read(env.log, NULL);
	assert_non_null(log);
	assert_true(tu_contains(log, "authd authenticated alice"));
	assert_true(tu_contains(log, "): bound to alice (account 42)"));
	assert_false(tu_contains(log, "worker named another user"));
	free(log);
	assert_int_equal(scenv_stop_daemon(&env), 0);
	scenv_teardown(&env);

	/* authd names mallory, the worker says alice: the worker is killed. */
	if (scenv_setup(&env, "bind2") == -1) {
		scenv_teardown(&env);
		fail_msg("cannot set up");
	}
	start_with_fake_authd(&env, "mallory");
	(void)scenv_client(&env, &r, "alice", "any password 1", "hi\n",
	    "login --username alice");
	tu_result_free(&r);
	assert_true(scenv_wait_audit(&env, "worker named another user than "
	    "authd authenticated", 5));
	assert_true(scenv_wait_audit(&env, "\"event\":\"worker_killed\"", 5));
	assert_int_equal(scenv_stop_daemon(&env), 0);
	scenv_teardown(&env);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_message),
		cmocka_unit_test(test_room),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_who),
		cmocka_unit_test(test_sender_mismatch),
		cmocka_unit_test(test_before_bind),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_full_recipient),
		cmocka_unit_test(test_confined),
		cmocka_unit_test(test_master_exit),
		/* The whole daemon: independent of the router above. */
		cmocka_unit_test(test_daemon_starts_router),
		cmocka_unit_test(test_daemon_without_router),
		cmocka_unit_test(test_daemon_binds_user),
	};

	/* Started by the master of test_daemon_binds_user as its authd. */
	if (argc > 0 && strcmp(argv[0], "authd") == 0)
		return fake_authd();
	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0, 0);
	return cmocka_run_group_tests_name("router", tests, setup, teardown);
}
