/*
 * router.c: the router daemon.  Started by the securechatd master (fork
 * and exec) with its control channel on IPC_CTL_FD; it holds no key and
 * no database connection: it drops privileges, enters its sandbox and
 * then serves one channel per worker with poll(2).  The request table is
 * in route.c; this file owns the channels: it opens them on the master's
 * ROUTER_CTL_NEW_CHANNEL, binds them to a user on ROUTER_CTL_BIND, closes
 * them when the worker goes away, and on a refused request closes the
 * channel, audits, and asks the master to kill that worker.  The router
 * exits when the master does (EOF on the control channel) or on SIGTERM.
 *
 * If the router dies, the master restarts it; the channels of sessions
 * started before are gone (their workers see EOF) and those sessions get
 * their messages from the store at their next login.
 *
 *	router [-u user] [-j jaildir] [-d] [-v]
 */
#include "router.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "privdrop.h"
#include "proto.h"
#include "sandbox.h"
#include "sccrypto.h"

static volatile sig_atomic_t	router_quit;
static struct router_chan	*chans[ROUTER_MAX_CHANNELS];
static struct router_tab	 tab = { chans, 0 };
static struct ipc_msg		 msg;	/* one at a time; 65 KiB off the stack */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: router [-u user] [-j jaildir] [-d] [-v]\n");
	exit(2);
}

static void
sighandler(int sig)
{
	(void)sig;
	router_quit = 1;
}

/* An event about channel c with up to two more pairs (a NULL key ends). */
static void
router_audit2(const struct router_chan *c, const char *event, const char *k1,
    const char *v1, const char *k2, const char *v2)
{
	char serial[32];

	snprintf(serial, sizeof(serial), "%llu", (unsigned long long)c->serial);
	if (audit_emit(IPC_CTL_FD, event, "session_serial", serial, "peer",
	    c->peer, "user", c->user, k1, v1, k2, v2, NULL) == -1)
		log_warnx("session %llu: audit failed",
		    (unsigned long long)c->serial);
}

void
router_audit(const struct router_chan *c, const char *event, const char *key,
    const char *value)
{
	router_audit2(c, event, key, value, NULL, NULL);
}

static void
ctl_kill_worker(uint64_t serial)
{
	struct wbuf b;

	wbuf_init(&b, 8);
	wbuf_put_u64(&b, serial);
	if (b.err || ipc_send(IPC_CTL_FD, ROUTER_CTL_KILL_WORKER, 0, b.data,
	    b.len) == -1)
		log_warn("session %llu: cannot ask the master to kill the "
		    "worker", (unsigned long long)serial);
	wbuf_free(&b);
}

static void
chan_close(struct router_chan *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->dead = 1;
}

/* A request broke the rules: log, audit, close, have the worker killed. */
static void
chan_refuse(struct router_chan *c, const char *req, const char *why)
{
	log_warnx("session %llu (%s%s%s): refused %s: %s; closing channel",
	    (unsigned long long)c->serial, c->peer, c->user[0] != '\0' ?
	    ", " : "", c->user, req, why);
	router_audit2(c, "router_refused", "request", req, "reason", why);
	chan_close(c);
	ctl_kill_worker(c->serial);
}

static void
chan_read(struct router_chan *c)
{
	struct wbuf reply;
	const char *req = "unknown", *why = "";
	uint16_t rtype = 0;
	int n, rc;

	if (c->dead)
		return;
	if ((n = ipc_recv(c->fd, &msg, 0)) == 0) {
		/* The worker is gone: its session is over. */
		log_debug("session %llu (%s): channel closed; %llu routed, "
		    "%llu pushed, %llu dropped, %llu over the rate",
		    (unsigned long long)c->serial, c->user,
		    (unsigned long long)c->nrouted,
		    (unsigned long long)c->ndelivered,
		    (unsigned long long)c->ndropped,
		    (unsigned long long)c->nlimited);
		chan_close(c);
		return;
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (errno == ECONNRESET) {
			chan_close(c);
			return;
		}
		chan_refuse(c, "malformed message", strerror(errno));
		return;
	}
	wbuf_init(&reply, IPC_MAX_BODY);
	rc = router_dispatch(&tab, c, &msg, router_now_ms(), &reply, &rtype,
	    &req, &why);
	switch (rc) {
	case ROUTER_OK:
		/*
		 * A worker that does not read its own replies loses them;
		 * it is not killed for being slow (the reply is only
		 * information, see router.h).
		 */
		if (ipc_send(c->fd, rtype, msg.hdr.id, reply.data,
		    reply.len) == -1)
			log_debug("session %llu: reply dropped: %s",
			    (unsigned long long)c->serial, strerror(errno));
		break;
	case ROUTER_NOREPLY:
		break;
	default:
		chan_refuse(c, req, why);
		break;
	}
	ipc_msg_clear(&msg);
	wbuf_free(&reply);
}

static struct router_chan *
chan_by_serial(uint64_t serial)
{
	size_t i;

	for (i = 0; i < tab.nchans; i++)
		if (!chans[i]->dead && chans[i]->serial == serial)
			return chans[i];
	return NULL;
}

static void
ctl_new_channel(const struct ipc_msg *m)
{
	struct router_chan *c;
	struct cursor cur;
	const uint8_t *addr;
	char peer[ROUTER_MAX_PEER_ADDR + 1];
	uint64_t serial;
	size_t alen;
	int fl;

	cur_init(&cur, m->body, m->len);
	serial = cur_u64(&cur);
	addr = cur_str16(&cur, &alen, ROUTER_MAX_PEER_ADDR);
	if (cur_done(&cur) == -1 || addr == NULL || m->fd == -1) {
		log_warnx("control: malformed NEW_CHANNEL ignored");
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	memcpy(peer, addr, alen);
	peer[alen] = '\0';
	if (memchr(peer, '\0', alen) != NULL)
		strlcpy(peer, "?", sizeof(peer));
	/* A serial names one session: BIND must never be ambiguous. */
	if (chan_by_serial(serial) != NULL) {
		log_warnx("session %llu (%s): a channel for it is already "
		    "open; new one refused", (unsigned long long)serial, peer);
		close(m->fd);
		return;
	}
	if (tab.nchans >= ROUTER_MAX_CHANNELS) {
		log_warnx("session %llu (%s): too many channels (%d)",
		    (unsigned long long)serial, peer, ROUTER_MAX_CHANNELS);
		close(m->fd);
		ctl_kill_worker(serial);
		return;
	}
	/* Pushes to a worker must never block the router (route.c). */
	if ((fl = fcntl(m->fd, F_GETFL)) == -1 ||
	    fcntl(m->fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (c = malloc(sizeof(*c))) == NULL) {
		log_warn("session %llu: new channel", (unsigned long long)serial);
		close(m->fd);
		ctl_kill_worker(serial);
		return;
	}
	router_chan_init(c, m->fd, serial, peer, router_now_ms());
	chans[tab.nchans++] = c;
	log_debug("session %llu (%s): channel open, %zu in use",
	    (unsigned long long)serial, peer, tab.nchans);
}

static void
ctl_bind(const struct ipc_msg *m)
{
	struct router_chan *c;
	struct cursor cur;
	struct wbuf b;
	const uint8_t *u;
	char user[SC_MAX_USERNAME + 1];
	uint64_t serial, account_id;
	size_t ulen;

	cur_init(&cur, m->body, m->len);
	serial = cur_u64(&cur);
	account_id = cur_u64(&cur);
	u = cur_str16(&cur, &ulen, SC_MAX_USERNAME);
	if (cur_done(&cur) == -1 || u == NULL || m->fd != -1 ||
	    !sc_valid_username(u, ulen)) {
		log_warnx("control: malformed BIND ignored");
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	memcpy(user, u, ulen);
	user[ulen] = '\0';
	if ((c = chan_by_serial(serial)) == NULL) {
		/* Gone already, or opened by a router before a restart. */
		log_debug("session %llu: BIND for no channel ignored",
		    (unsigned long long)serial);
		return;
	}
	if (c->state == ROUTER_S_BOUND) {
		if (router_chan_bind(c, account_id, user) == -1)
			chan_refuse(c, "BIND", "the channel is already bound "
			    "to another user");
		else
			log_warnx("session %llu: bound twice to %s",
			    (unsigned long long)serial, user);
		return;
	}
	(void)router_chan_bind(c, account_id, user);
	log_debug("session %llu (%s): bound to %s (account %llu)",
	    (unsigned long long)serial, c->peer, user,
	    (unsigned long long)account_id);
	/* Tell the worker it may now ask (router.h, ROUTER_BOUND). */
	wbuf_init(&b, 8 + 2 + SC_MAX_USERNAME);
	wbuf_put_u64(&b, account_id);
	wbuf_put_str16(&b, user, ulen);
	if (b.err || ipc_send(c->fd, ROUTER_BOUND, 0, b.data, b.len) == -1)
		log_warn("session %llu: cannot tell the worker it is bound",
		    (unsigned long long)serial);
	wbuf_free(&b);
}

/* Returns 0 to go on, -1 when the master has gone. */
static int
ctl_read(void)
{
	int n;

	if ((n = ipc_recv(IPC_CTL_FD, &msg, 1)) == 0)
		return -1;
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		log_warn("control channel");
		return -1;
	}
	switch (msg.hdr.type) {
	case ROUTER_CTL_NEW_CHANNEL:
		ctl_new_channel(&msg);
		break;
	case ROUTER_CTL_BIND:
		ctl_bind(&msg);
		break;
	default:
		log_warnx("control: unexpected message type %u ignored",
		    msg.hdr.type);
		if (msg.fd != -1)
			close(msg.fd);
		break;
	}
	ipc_msg_clear(&msg);
	return 0;
}

/* Free the channels closed in this round, keeping the array dense. */
static void
chans_reap(void)
{
	size_t i, j;

	for (i = 0, j = 0; i < tab.nchans; i++) {
		if (chans[i]->dead) {
			free(chans[i]);
			continue;
		}
		chans[j++] = chans[i];
	}
	tab.nchans = j;
}

static void
router_loop(void)
{
	static struct pollfd pfd[1 + ROUTER_MAX_CHANNELS];
	size_t i, n;
	int rc;

	while (!router_quit) {
		pfd[0].fd = IPC_CTL_FD;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		n = tab.nchans;
		for (i = 0; i < n; i++) {
			pfd[1 + i].fd = chans[i]->fd;
			pfd[1 + i].events = POLLIN;
			pfd[1 + i].revents = 0;
		}
		if ((rc = poll(pfd, 1 + n, -1)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		/*
		 * One message per ready channel and round: a busy worker
		 * cannot starve the others.  Workers first: a channel added
		 * now is not in pfd yet.
		 */
		for (i = 0; i < n; i++)
			if (pfd[1 + i].revents & (POLLIN | POLLHUP | POLLERR))
				chan_read(chans[i]);
		chans_reap();
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			if (ctl_read() == -1) {
				log_debug("master went away");
				return;
			}
	}
	log_debug("terminating on signal");
}

int
router_main(int argc, char **argv)
{
	static const uint8_t probe[] = "router self-test";
	struct privdrop_spec spec;
	struct sigaction sa;
	struct stat st;
	const char *user = NULL, *jail = NULL;
	uint8_t digest[SC_SHA256_LEN];
	int ch, debug = 0, verbose = 0;

	while ((ch = getopt(argc, argv, "dj:u:v")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'j':
			jail = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_init(debug, verbose, LOG_DAEMON);
	log_procinit("router");
	/* Only the control channel is inherited; nothing else stays open. */
	if (fstat(IPC_CTL_FD, &st) == -1 || !S_ISSOCK(st.st_mode))
		fatalx("descriptor %d is not the control channel", IPC_CTL_FD);
	closefrom(IPC_CTL_FD + 1);

	/*
	 * envelope_peek() hashes the sender certificate: make OpenSSL load
	 * its configuration and providers now, before the chroot and the
	 * sandbox, and prove it works.
	 */
	if (sc_sha256(probe, sizeof(probe), digest) == -1)
		fatalx("SHA-256 self-test failed");

	memset(&spec, 0, sizeof(spec));
	spec.user = user;
	spec.jail = jail;
	spec.keep_stderr = debug;
	spec.max_files = ROUTER_MAX_CHANNELS + 16;
	if (privdrop(&spec) == -1)
		fatalx("privilege drop failed");

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = sighandler;	/* no SA_RESTART: poll returns */
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		fatal("sigaction");
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1)
		fatal("sigaction");

	if (sandbox_apply(SANDBOX_ROUTER) == -1)
		fatalx("cannot install the sandbox");
	log_info("ready: serving up to %d channels, %d requests/s each",
	    ROUTER_MAX_CHANNELS, ROUTER_RATE_PER_S);

	router_loop();
	return 0;
}

int
main(int argc, char **argv)
{
	int rc = router_main(argc, argv);

	/*
	 * _exit, not exit (as keyd): nothing to flush, and after privdrop's
	 * PR_SET_DUMPABLE 0 the LeakSanitizer's at-exit check of a
	 * SANITIZE=1 build cannot attach its tracer and would spin forever.
	 */
	_exit(rc);
}
