/*
 * securechatd.c: entry point of the network daemon.
 *
 *	securechatd [-dtv] [-f file]
 *
 * -t checks the configuration and exits; -d stays in the foreground with
 * logs on stderr (without it, logs go to syslog; the daemon never detaches
 * by itself, systemd supervises it).  Each connection is served by a
 * worker, the separate program LIBEXECDIR/session (session/session.c,
 * started by the master: securechatd.h).
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
main(int argc, char **argv)
{
	static struct sc_config conf;
	char *conffile = NULL, *text = NULL;
	char err[1024];
	size_t textlen = 0;
	int ch, debug = 0, test = 0, verbose = 0, problems;

	/* setproctitle() may reuse argv's memory: keep copies of optargs. */
	setproctitle_init(argc, argv, environ);
	log_init(1, 0, LOG_DAEMON);
	log_procinit("securechatd");
	while ((ch = getopt(argc, argv, "df:tv")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			free(conffile);
			if ((conffile = strdup(optarg)) == NULL)
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
	/* conf.path has it from here on. */
	free(conffile);
	master_main(&conf, text, textlen);
	/* NOTREACHED */
}
