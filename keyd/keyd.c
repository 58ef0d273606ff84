/*
 * keyd.c: the key daemon.  Started by the securechatd master (fork and
 * exec) with its control channel on IPC_CTL_FD; loads the server's RSA
 * key and certificate, drops privileges, enters its sandbox and then
 * serves one channel per worker with the loop shared with the router
 * (common/chanserv.c): it opens them on the master's KEYD_CTL_NEW_CHANNEL,
 * closes them when the worker goes away, and on a refused request closes
 * the channel and asks the master to kill that worker.  The request table
 * is in sign.c; this file holds what is keyd's own: the identity, the
 * audit event of a refusal, and a worker that does not read its replies
 * is refused.  keyd exits when the master does (EOF on the control
 * channel) or on SIGTERM.
 *
 *	keyd -k keyfile -c certfile [-u user] [-j jaildir] [-d] [-v]
 */
#include "keyd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "audit.h"
#include "buf.h"
#include "chanserv.h"
#include "ipc.h"
#include "log.h"
#include "pki.h"
#include "privdrop.h"
#include "sandbox.h"
#include "sccrypto.h"

/*
 * A channel as the loop (common/chanserv.c) and the request table
 * (sign.c) each see it.  The loop owns the descriptor: k.fd and k.dead
 * are not used in keyd.
 */
struct keyd_slot {
	struct chanserv_chan	 cs;
	struct keyd_chan	 k;
};

static struct chanserv	 chanserv;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: keyd -k keyfile -c certfile [-u user] "
	    "[-j jaildir] [-d] [-v]\n");
	exit(2);
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

static struct chanserv_chan *
keyd_open(int fd, uint64_t serial, const char *peer)
{
	struct keyd_slot *s;

	if ((s = malloc(sizeof(*s))) == NULL)
		return NULL;
	chanserv_chan_init(&s->cs, fd, serial, peer);
	keyd_chan_init(&s->k, fd, serial, peer);
	return &s->cs;
}

static void
keyd_free(struct chanserv_chan *c)
{
	struct keyd_slot *s = CHANSERV_CHAN(c, struct keyd_slot, cs);

	/* The nonce and session id of a finished session. */
	freezero(s, sizeof(*s));
}

static int
keyd_request(struct chanserv *cs, struct chanserv_chan *c,
    const struct ipc_msg *m, struct wbuf *reply, uint16_t *rtype,
    const char **req, const char **why)
{
	struct keyd_slot *s = CHANSERV_CHAN(c, struct keyd_slot, cs);

	(void)cs;
	switch (keyd_dispatch(&s->k, m, reply, rtype, req, why)) {
	case KEYD_OK:
		log_debug("session %llu: %s", (unsigned long long)c->serial,
		    *req);
		return CHANSERV_OK;
	case KEYD_ERROR:
		return CHANSERV_ERROR;
	default:
		return CHANSERV_REFUSE;
	}
}

/* A request broke the table: log and audit (the loop closes and kills). */
static void
keyd_refused(struct chanserv *cs, struct chanserv_chan *c, const char *req,
    const char *why)
{
	char serial[32];

	log_warnx("session %llu (%s): refused %s: %s; closing channel",
	    (unsigned long long)c->serial, c->peer, req, why);
	snprintf(serial, sizeof(serial), "%llu", (unsigned long long)c->serial);
	if (audit_emit(cs->ctl, "keyd_refused", "session_serial", serial,
	    "peer", c->peer, "request", req, "reason", why, NULL) == -1)
		log_warnx("session %llu: audit failed",
		    (unsigned long long)c->serial);
}

/* A worker must read its replies (no CHANSERV_DROP_REPLIES). */
static const struct chanserv_ops keyd_ops = {
	.name = "keyd",
	.ctl_new_channel = KEYD_CTL_NEW_CHANNEL,
	.ctl_kill_worker = KEYD_CTL_KILL_WORKER,
	.fail_reply = KEYD_FAIL,
	.flags = 0,
	.open = keyd_open,
	.free = keyd_free,
	.request = keyd_request,
	.refused = keyd_refused,
};

_Static_assert(KEYD_MAX_PEER_ADDR == CHANSERV_MAX_PEER, "peer sizes");

int
keyd_main(int argc, char **argv)
{
	struct privdrop_spec spec;
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
	chanserv_inherit_ctl();

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

	chanserv_signals();
	if (chanserv_init(&chanserv, &keyd_ops, KEYD_MAX_CHANNELS) == -1)
		fatalx("out of memory");

	if (sandbox_apply(SANDBOX_KEYD) == -1)
		fatalx("cannot install the sandbox");
	log_info("ready: %s, serving up to %d channels", certfile,
	    KEYD_MAX_CHANNELS);

	chanserv_run(&chanserv);
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
