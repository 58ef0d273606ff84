/*
 * securechatd.c: entry point of the network daemon.
 *
 *	securechatd [-dtv] [-f file]
 *
 * -t checks the configuration and exits; -d stays in the foreground with
 * logs on stderr (without it, logs go to syslog; the daemon never detaches
 * by itself, systemd supervises it).  The hidden -R mode is the worker,
 * re-executed by the master for one connection (securechatd.h); it takes
 * the configuration from the master over its control channel, not from
 * the file.
 */
#include "securechatd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: securechatd [-dtv] [-f file]\n");
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

static int
parse_serial(const char *s, uint64_t *out)
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

static int
printable_addr(const char *s)
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

/*
 * The -R mode: check that the master set us up, take the configuration
 * it sent, and hand over to the protocol code.
 */
static int
worker_start(const char *conffile, const char *serial, const char *addr,
    int debug, int verbose, int argc, char **argv)
{
	static struct ipc_msg msg;	/* IPC_MAX_BODY: not on the stack */
	static struct sc_config conf;
	char err[1024];
	uint64_t sess;
	int fd, rc;

	log_procinit("securechatd-worker");
	log_init(debug, verbose, LOG_DAEMON);
	for (fd = WORKER_FD_CLIENT; fd <= WORKER_FD_LAST; fd++)
		if (fcntl(fd, F_GETFD) == -1)
			fatalx("descriptor %d is not open: -R is only for "
			    "securechatd's own workers", fd);
	if (parse_serial(serial, &sess) == -1)
		fatalx("-S: bad session serial");
	if (addr == NULL || !printable_addr(addr))
		fatalx("-A: bad peer address");
	if ((rc = ipc_recv(WORKER_FD_CTL, &msg, 0)) != 1)
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
	strlcpy(conf.peer_addr, addr, sizeof(conf.peer_addr));
	conf.foreground = debug;
	conf.verbose = verbose;
	log_init(debug, verbose, conf.log_facility);
	return worker_main(&conf, argc, argv);
}

int
main(int argc, char **argv)
{
	static struct sc_config conf;
	char *conffile = NULL, *serial = NULL, *addr = NULL, *text = NULL;
	char err[1024];
	size_t textlen = 0;
	int ch, debug = 0, test = 0, verbose = 0, reexec = 0, problems;

	/* setproctitle() may reuse argv's memory: keep copies of optargs. */
	setproctitle_init(argc, argv, environ);
	log_init(1, 0, LOG_DAEMON);
	log_procinit("securechatd");
	while ((ch = getopt(argc, argv, "A:df:RS:tv")) != -1) {
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
		case 'R':
			reexec = 1;
			break;
		case 'S':
			free(serial);
			if ((serial = strdup(optarg)) == NULL)
				fatal("strdup");
			break;
		case 't':
			test = 1;
			break;
		case 'v':
			if (verbose < 3)
				verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (conffile == NULL && (conffile = strdup(SC_CONF_PATH)) == NULL)
		fatal("strdup");

	if (reexec) {
		if (test)
			usage();
		return worker_start(conffile, serial, addr, debug, verbose,
		    argc, argv);
	}
	if (serial != NULL || addr != NULL)
		usage();

	log_init(1, verbose, LOG_DAEMON);
	if (conf_load(&conf, conffile, &text, &textlen, err, sizeof(err)) ==
	    -1) {
		fprintf(stderr, "securechatd: %s\n", err);
		exit(1);
	}
	conf.foreground = debug;
	conf.verbose = verbose;

	if (test) {
		/*
		 * The file is right; what it points at may not exist yet
		 * (e.g. before certificates are issued): say so, but only
		 * the syntax decides the exit status.
		 */
		problems = conf_check_env(&conf);
		if (problems > 0)
			fprintf(stderr, "securechatd: warning: %d problem(s) "
			    "on this host, see above; the daemon will not "
			    "start until they are fixed\n", problems);
		printf("configuration OK\n");
		freezero(text, textlen);
		free(conffile);
		return 0;
	}

	log_init(debug, verbose, conf.log_facility);
	if ((problems = conf_check_env(&conf)) > 0)
		fatalx("%s: %d problem(s) on this host, see above", conffile,
		    problems);
	master_main(&conf, text, textlen);
	/* NOTREACHED */
}
