/*
 * session.c: entry point of the per-connection worker.
 *
 *	session -f file -S serial -A addr [-d] [-v]	(worker_spawn exec)
 *	session -Z -f file [-d] [-v]			(worker_spawn fork)
 *
 * Installed as LIBEXECDIR/session and executed only by the securechatd
 * master: once per accepted connection (securechatd.h: the descriptors
 * it finds, the control channel; worker.c: the protocol), or once as the
 * zygote (-Z, zygote.c) that forks a worker per connection.  It is a separate
 * program (as OpenSSH 9.8 split sshd-session out of sshd) so that each
 * connection maps only what a session needs: libcrypto, libbsd,
 * libseccomp and libc, not the master's libsystemd (and the six libraries
 * it pulls in) nor libjansson.  Fewer libraries to map and relocate make
 * every connection cheaper to start, and fewer relocated data pages make
 * every held session smaller.
 *
 * It takes its configuration from the master over the control channel,
 * never from the file (which may have been edited since the master
 * validated it): -f only names it in messages.
 */
#include "securechatd/securechatd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "log.h"
#include "session/worker.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: session -f file -S serial -A addr [-dv]\n"
	    "       session -Z -f file [-dv]\n"
	    "(started by securechatd for each connection, not by hand)\n");
	exit(1);
}

int
worker_send_state(int ctlfd, enum worker_state state, const char *username)
{
	struct wbuf b;
	size_t ulen = username != NULL ? strlen(username) : 0;
	int rc;

	if (ulen > SC_USER_MAX) {
		errno = EINVAL;
		return -1;
	}
	wbuf_init(&b, 1 + 2 + SC_USER_MAX);
	wbuf_put_u8(&b, (uint8_t)state);
	wbuf_put_str16(&b, username != NULL ? username : "", ulen);
	if (b.err) {
		wbuf_free(&b);
		errno = ENOMEM;
		return -1;
	}
	rc = ipc_send(ctlfd, WORKER_STATE, 0, b.data, b.len);
	wbuf_free(&b);
	return rc;
}

int
session_parse_serial(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return -1;
	*out = v;
	return 0;
}

int
session_addr_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F') ||
		    s[i] == '.' || s[i] == ':'))
			return 0;
	return i > 0 && i < SC_ADDR_MAX;
}

int
main(int argc, char **argv)
{
	static struct ipc_msg msg;	/* IPC_MAX_BODY: not on the stack */
	static struct sc_config conf;
	char *conffile = NULL, *serial = NULL, *addr = NULL, err[1024];
	uint64_t sess = 0;
	int ch, fd, rc, ctlfd, debug = 0, verbose = 0, zygote = 0;

	/* setproctitle() may reuse argv's memory: optargs are copied. */
	setproctitle_init(argc, argv, environ);
	log_init(1, 0, LOG_DAEMON);
	log_procinit("securechatd-worker");
	while ((ch = getopt(argc, argv, "A:df:S:vZ")) != -1) {
		switch (ch) {
		case 'A':
			free(addr);
			if ((addr = strdup(optarg)) == NULL)
				fatal("strdup");
			break;
		case 'd':
			debug = 1;
			break;
		case 'f':
			free(conffile);
			if ((conffile = strdup(optarg)) == NULL)
				fatal("strdup");
			break;
		case 'S':
			free(serial);
			if ((serial = strdup(optarg)) == NULL)
				fatal("strdup");
			break;
		case 'v':
			if (verbose < 3)
				verbose++;
			break;
		case 'Z':
			zygote = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || conffile == NULL)
		usage();
	if (zygote && (serial != NULL || addr != NULL))
		usage();
	log_init(debug, verbose, LOG_DAEMON);
	if (zygote) {
		log_procinit("securechatd-zygote");
		ctlfd = ZYGOTE_FD_CTL;
		if (fcntl(ctlfd, F_GETFD) == -1)
			fatalx("descriptor %d is not open: this program is only "
			    "started by securechatd", ctlfd);
	} else {
		ctlfd = WORKER_FD_CTL;
		for (fd = WORKER_FD_CLIENT; fd <= WORKER_FD_EXEC_LAST; fd++)
			if (fcntl(fd, F_GETFD) == -1)
				fatalx("descriptor %d is not open: this program "
				    "is only started by securechatd, for one "
				    "connection", fd);
	}
	/*
	 * The transcript arrives after the login as the lowest free
	 * descriptor, which must be WORKER_FD_TRANSCRIPT: fill any hole in
	 * 0-2 now (as sshd does), while /dev/null can still be opened.
	 */
	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 &&
		    open("/dev/null", O_RDWR) != fd)
			fatal("descriptor %d: /dev/null", fd);
	if (!zygote) {
		if (session_parse_serial(serial, &sess) == -1)
			fatalx("-S: bad session serial");
		if (addr == NULL || !session_addr_ok(addr))
			fatalx("-A: bad peer address");
	}

	/*
	 * The worker uses libcrypto's built-in default provider only: no
	 * openssl.cnf to find, parse and apply in every connection (and
	 * nothing to read from a file after the drop into the jail).  No
	 * OPENSSL_cleanup() at exit: freeing every provider, method and
	 * cache object would write to pages a forked worker shares with
	 * the zygote, about a hundred copy-on-write faults per connection
	 * for memory the exit returns anyway.  The session's own secrets
	 * are wiped where they are used, not by that cleanup.
	 */
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG |
	    OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS | OPENSSL_INIT_NO_ATEXIT,
	    NULL) != 1)
		fatalx("OpenSSL initialisation failed");

	if ((rc = ipc_recv(ctlfd, &msg, 0)) != 1)
		fatalx("no configuration from the master (%s)",
		    rc == 0 ? "channel closed" : strerror(errno));
	if (msg.hdr.type != WORKER_CONFIG)
		fatalx("unexpected message %u from the master", msg.hdr.type);
	if (conf_parse(&conf, conffile, (const char *)msg.body, msg.len, err,
	    sizeof(err)) == -1)
		fatalx("configuration from the master: %s", err);
	ipc_msg_clear(&msg);
	strlcpy(conf.path, conffile, sizeof(conf.path));
	conf.session_serial = sess;
	if (addr != NULL)
		strlcpy(conf.peer_addr, addr, sizeof(conf.peer_addr));
	conf.foreground = debug;
	conf.verbose = verbose;
	free(conffile);
	free(serial);
	free(addr);
	log_init(debug, verbose, conf.log_facility);
	if (zygote)
		return zygote_main(&conf);
	return worker_main(&conf, argc, argv);
}
