/*
 * router.c: the router daemon.  Started by the securechatd master (fork
 * and exec) with its control channel on IPC_CTL_FD; it holds no key and
 * no database connection: it drops privileges, enters its sandbox and
 * then serves one channel per worker with the loop shared with keyd
 * (common/chanserv.c): it opens them on the master's
 * ROUTER_CTL_NEW_CHANNEL, closes them when the worker goes away, and on a
 * refused request closes the channel, audits, and asks the master to kill
 * that worker.  The request table, the master's ROUTER_CTL_BIND and the
 * rest of what is the router's own are in route.c.  The router exits
 * when the master does (EOF on the control channel) or on SIGTERM.
 *
 * If the router dies, the master restarts it; the channels of sessions
 * started before are gone (their workers see EOF) and those sessions get
 * their messages from the store at their next login.
 *
 *	router [-u user] [-j jaildir] [-d] [-v]
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "chanserv.h"
#include "log.h"
#include "privdrop.h"
#include "sandbox.h"
#include "sccrypto.h"

static struct chanserv	 chanserv;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: router [-u user] [-j jaildir] [-d] [-v]\n");
	exit(2);
}

int
router_main(int argc, char **argv)
{
	static const uint8_t probe[] = "router self-test";
	struct privdrop_spec spec;
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
	chanserv_inherit_ctl();

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

	chanserv_signals();
	if (chanserv_init(&chanserv, &router_ops, ROUTER_MAX_CHANNELS) == -1)
		fatalx("out of memory");

	if (sandbox_apply(SANDBOX_ROUTER) == -1)
		fatalx("cannot install the sandbox");
	log_info("ready: serving up to %d channels, %d requests/s each",
	    ROUTER_MAX_CHANNELS, ROUTER_RATE_PER_S);

	chanserv_run(&chanserv);
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
