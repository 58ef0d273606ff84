/*
 * keyd.c: the key daemon.  Started by the securechatd master (fork and
 * exec) with its control channel on IPC_CTL_FD; loads the server's RSA
 * key and certificate, drops privileges, enters its sandbox and then
 * serves one channel per worker with poll(2).  The request table is in
 * sign.c; this file owns the channels: it opens them on the master's
 * KEYD_CTL_NEW_CHANNEL, closes them when the worker goes away, and on a
 * refused request closes the channel, audits, and asks the master to kill
 * that worker.  keyd exits when the master does (EOF on the control
 * channel) or on SIGTERM.
 *
 *	keyd -k keyfile -c certfile [-u user] [-j jaildir] [-d] [-v]
 */
#include "keyd.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "audit.h"
#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "pki.h"
#include "privdrop.h"
#include "sandbox.h"
#include "sccrypto.h"

static volatile sig_atomic_t	keyd_quit;
static struct keyd_chan		*chans[KEYD_MAX_CHANNELS];
static size_t			 nchans;
static struct ipc_msg		 msg;	/* one at a time; 32 KiB off the stack */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: keyd -k keyfile -c certfile [-u user] "
	    "[-j jaildir] [-d] [-v]\n");
	exit(2);
}

static void
sighandler(int sig)
{
	(void)sig;
	keyd_quit = 1;
}

/*
 * Load key and certificate, check they belong together, and prove the
 * key signs what the certificate verifies.  The self-test also makes
 * OpenSSL load everything it needs before the chroot and the sandbox.
 */
static EVP_PKEY *
load_identity(const char *keyfile, const char *certfile, uint8_t *der,
    size_t dersz, size_t *derlenp)
{
	static const uint8_t probe[] = "keyd self-test";
	EVP_PKEY *key;
	X509 *cert;
	uint8_t sig[SC_MAX_SIG];
	size_t siglen = sizeof(sig);
	char err[256];

	if ((key = pki_load_key(keyfile, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((cert = pki_load_cert(certfile, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (sc_rsa_key_ok(key) == -1)
		fatalx("%s: not an RSA key of %d..%d bits", keyfile,
		    SC_MIN_RSA_BITS, SC_MAX_SIG * 8);
	if (!pki_key_matches_cert(key, cert))
		fatalx("%s does not match the certificate %s", keyfile,
		    certfile);
	if (pki_cert_to_der(cert, der, dersz, derlenp) == -1)
		fatalx("%s: certificate too large", certfile);
	if (sc_rsa_sign(key, probe, sizeof(probe), sig, &siglen) == -1 ||
	    sc_rsa_verify(X509_get0_pubkey(cert), probe, sizeof(probe), sig,
	    siglen) == -1)
		fatalx("signing self-test failed");
	X509_free(cert);
	return key;
}

static void
ctl_kill_worker(uint64_t serial)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(serial >> (56 - 8 * i));
	if (ipc_send(IPC_CTL_FD, KEYD_CTL_KILL_WORKER, 0, b, sizeof(b)) == -1)
		log_warn("session %llu: cannot ask the master to kill the "
		    "worker", (unsigned long long)serial);
}

static void
chan_close(struct keyd_chan *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->dead = 1;
}

/* A request broke the table: log, audit, close, have the worker killed. */
static void
chan_refuse(struct keyd_chan *c, const char *req, const char *why)
{
	char serial[32];

	log_warnx("session %llu (%s): refused %s: %s; closing channel",
	    (unsigned long long)c->serial, c->peer, req, why);
	snprintf(serial, sizeof(serial), "%llu", (unsigned long long)c->serial);
	if (audit_emit(IPC_CTL_FD, "keyd_refused", "session_serial", serial,
	    "peer", c->peer, "request", req, "reason", why, NULL) == -1)
		log_warnx("session %llu: audit failed",
		    (unsigned long long)c->serial);
	chan_close(c);
	ctl_kill_worker(c->serial);
}

static void
chan_read(struct keyd_chan *c)
{
	struct wbuf reply;
	const char *req = "unknown", *why = "";
	uint16_t rtype = 0;
	int n, rc;

	if ((n = ipc_recv(c->fd, &msg, 0)) == 0) {
		/* The worker is gone: its session is over. */
		log_debug("session %llu: channel closed",
		    (unsigned long long)c->serial);
		chan_close(c);
		return;
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		chan_refuse(c, "malformed message", strerror(errno));
		return;
	}
	wbuf_init(&reply, IPC_MAX_BODY);
	rc = keyd_dispatch(c, &msg, &reply, &rtype, &req, &why);
	ipc_msg_clear(&msg);
	switch (rc) {
	case KEYD_OK:
		log_debug("session %llu: %s", (unsigned long long)c->serial,
		    req);
		/*
		 * The channel is non-blocking: a worker that does not read
		 * its replies cannot stall keyd for everyone else.
		 */
		if (ipc_send(c->fd, rtype, msg.hdr.id, reply.data,
		    reply.len) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				chan_refuse(c, req, "worker does not read "
				    "its replies");
			else {
				log_debug("session %llu: reply: %s",
				    (unsigned long long)c->serial,
				    strerror(errno));
				chan_close(c);
			}
		}
		break;
	case KEYD_ERROR:
		log_warnx("session %llu: %s failed inside keyd; closing "
		    "channel", (unsigned long long)c->serial, req);
		(void)ipc_send(c->fd, KEYD_FAIL, msg.hdr.id, NULL, 0);
		chan_close(c);
		break;
	default:
		chan_refuse(c, req, why);
		break;
	}
	wbuf_free(&reply);
}

static void
ctl_new_channel(const struct ipc_msg *m)
{
	struct keyd_chan *c;
	struct cursor cur;
	const uint8_t *addr;
	char peer[KEYD_MAX_PEER_ADDR + 1];
	uint64_t serial;
	size_t alen;
	int fl;

	cur_init(&cur, m->body, m->len);
	serial = cur_u64(&cur);
	addr = cur_str16(&cur, &alen, KEYD_MAX_PEER_ADDR);
	if (cur_done(&cur) == -1 || m->fd == -1) {
		log_warnx("control: malformed NEW_CHANNEL ignored");
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	memcpy(peer, addr, alen);
	peer[alen] = '\0';
	if (memchr(peer, '\0', alen) != NULL)
		strlcpy(peer, "?", sizeof(peer));
	if (nchans >= KEYD_MAX_CHANNELS) {
		log_warnx("session %llu (%s): too many channels (%d)",
		    (unsigned long long)serial, peer, KEYD_MAX_CHANNELS);
		close(m->fd);
		ctl_kill_worker(serial);
		return;
	}
	if ((fl = fcntl(m->fd, F_GETFL)) == -1 ||
	    fcntl(m->fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (c = malloc(sizeof(*c))) == NULL) {
		log_warn("session %llu: new channel", (unsigned long long)serial);
		close(m->fd);
		ctl_kill_worker(serial);
		return;
	}
	keyd_chan_init(c, m->fd, serial, peer);
	chans[nchans++] = c;
	log_debug("session %llu (%s): channel open, %zu in use",
	    (unsigned long long)serial, peer, nchans);
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
	case KEYD_CTL_NEW_CHANNEL:
		ctl_new_channel(&msg);
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

	for (i = 0, j = 0; i < nchans; i++) {
		if (chans[i]->dead) {
			explicit_bzero(chans[i], sizeof(*chans[i]));
			free(chans[i]);
			continue;
		}
		chans[j++] = chans[i];
	}
	nchans = j;
}

static void
keyd_loop(void)
{
	static struct pollfd pfd[1 + KEYD_MAX_CHANNELS];
	size_t i, n;
	int rc;

	while (!keyd_quit) {
		pfd[0].fd = IPC_CTL_FD;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		n = nchans;
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
		/* Workers first: a channel added now is not in pfd yet. */
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
keyd_main(int argc, char **argv)
{
	struct privdrop_spec spec;
	struct sigaction sa;
	struct stat st;
	EVP_PKEY *key;
	const char *keyfile = NULL, *certfile = NULL, *user = NULL;
	const char *jail = NULL;
	uint8_t der[SC_MAX_CERT], seed[16];
	size_t derlen = 0;
	int ch, debug = 0, verbose = 0;

	while ((ch = getopt(argc, argv, "c:dj:k:u:v")) != -1) {
		switch (ch) {
		case 'c':
			certfile = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'j':
			jail = optarg;
			break;
		case 'k':
			keyfile = optarg;
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
	if (optind != argc || keyfile == NULL || certfile == NULL)
		usage();

	log_init(debug, verbose, LOG_DAEMON);
	log_procinit("keyd");
	/* Only the control channel is inherited; nothing else stays open. */
	if (fstat(IPC_CTL_FD, &st) == -1 || !S_ISSOCK(st.st_mode))
		fatalx("descriptor %d is not the control channel", IPC_CTL_FD);
	closefrom(IPC_CTL_FD + 1);

	key = load_identity(keyfile, certfile, der, sizeof(der), &derlen);
	if (keyd_sign_setup(key, der, derlen) == -1)
		fatalx("cannot set up signing");
	/* Seed the generator now: no /dev/urandom inside the jail. */
	if (RAND_bytes(seed, sizeof(seed)) != 1)
		fatalx("random generator unavailable");
	explicit_bzero(seed, sizeof(seed));

	memset(&spec, 0, sizeof(spec));
	spec.user = user;
	spec.jail = jail;
	spec.keep_stderr = debug;
	spec.max_files = KEYD_MAX_CHANNELS + 16;
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

	if (sandbox_apply(SANDBOX_KEYD) == -1)
		fatalx("cannot install the sandbox");
	log_info("ready: %s, serving up to %d channels", certfile,
	    KEYD_MAX_CHANNELS);

	keyd_loop();
	EVP_PKEY_free(key);
	return 0;
}

int
main(int argc, char **argv)
{
	int rc = keyd_main(argc, argv);

	/*
	 * _exit, not exit: keyd has nothing to flush (stderr is unbuffered,
	 * syslog is a datagram per line), and after privdrop's
	 * PR_SET_DUMPABLE 0 the LeakSanitizer's at-exit check of a
	 * SANITIZE=1 build cannot attach its tracer and would spin forever.
	 */
	_exit(rc);
}
