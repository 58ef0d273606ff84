/*
 * sc-client.c: the SecureChat client, a terminal front end over the
 * protocol engine in common/csession.c.
 *
 *	sc-client [options] register --username U --email E
 *	sc-client [options] login --username U
 *	sc-client [options] verify --history FILE [--at-sent]
 *
 * Options come from the command line, else from the config file
 * (~/.config/securechat/client.conf, "key = value" lines).  The password
 * is read from the terminal without echo, or as the first line of
 * standard input with --password-stdin; it is never an argument.  After
 * login, ui.c runs the session (messages, rooms, commands) and this file
 * closes it with the signed receipts.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "account.h"
#include "csession.h"
#include "log.h"
#include "pki.h"
#include "proto.h"
#include "sc-client.h"

struct client_conf {
	char	*server;	/* host[:port] or [v6]:port */
	char	*ca, *crl, *cert, *key, *server_name, *state_dir;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: sc-client [-v] [-c file] [-s | --server host[:port]] [--ca file]\n"
	    "                 [--crl file]"
	    " [--cert file] [--key file] [--name server-name]\n"
	    "                 [--dir state-dir] [--password-stdin]\n"
	    "                 register --username name --email address\n"
	    "       sc-client [options] login --username name\n"
	    "       sc-client [-c file] [--ca file] [--crl file]"
	    " verify --history file\n"
	    "                 [--at-sent]\n");
	exit(2);
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}

/* Fill only what the command line left empty. */
static void
load_conf(const char *path, int explicit, struct client_conf *c)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} keys[] = {	/* sorted */
		{ "ca", offsetof(struct client_conf, ca) },
		{ "cert", offsetof(struct client_conf, cert) },
		{ "crl", offsetof(struct client_conf, crl) },
		{ "key", offsetof(struct client_conf, key) },
		{ "server", offsetof(struct client_conf, server) },
		{ "server_name", offsetof(struct client_conf, server_name) },
		{ "state_dir", offsetof(struct client_conf, state_dir) },
	};
	char line[2048], *k, *v, *e;
	FILE *f;
	int lineno = 0;
	size_t i;

	if ((f = fopen(path, "re")) == NULL) {
		if (explicit || errno != ENOENT)
			fatal("%s", path);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f))
			fatalx("%s:%d: line too long", path, lineno);
		line[strcspn(line, "\r\n")] = '\0';
		for (k = line; isspace((unsigned char)*k); k++)
			;
		if (*k == '#' || *k == '\0')
			continue;
		if ((v = strchr(k, '=')) == NULL)
			fatalx("%s:%d: expected key = value", path, lineno);
		*v++ = '\0';
		for (e = v - 2; e >= k && isspace((unsigned char)*e); e--)
			*e = '\0';
		while (isspace((unsigned char)*v))
			v++;
		for (e = v + strlen(v) - 1; e >= v && isspace((unsigned char)*e); e--)
			*e = '\0';
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(k, keys[i].name) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0]))
			fatalx("%s:%d: unknown keyword '%s'", path, lineno, k);
		{
			char **slot = (char **)((char *)c + keys[i].off);

			if (*slot == NULL)
				*slot = xstrdup(v);
		}
	}
	fclose(f);
}

/* "host", "host:port", "[v6]:port", "v6" (more than one ':'). */
static void
split_server(const char *s, char **host, char **port)
{
	const char *p;

	if (s[0] == '[') {
		if ((p = strchr(s, ']')) == NULL)
			fatalx("server %s: missing ']'", s);
		*host = strndup(s + 1, (size_t)(p - s - 1));
		*port = xstrdup(p[1] == ':' ? p + 2 : "9000");
	} else if ((p = strchr(s, ':')) != NULL && strchr(p + 1, ':') == NULL) {
		*host = strndup(s, (size_t)(p - s));
		*port = xstrdup(p + 1);
	} else {
		*host = xstrdup(s);
		*port = xstrdup("9000");
	}
	if (*host == NULL)
		fatal("strndup");
}

/* Read the password without echo from the terminal. */
static char *
read_password(int from_stdin)
{
	struct termios old, noecho;
	char *buf;
	size_t cap = SC_MAX_PASSWORD + 2, len;
	FILE *in;
	int fd = -1, restore = 0;

	if ((buf = calloc(1, cap)) == NULL)
		fatal("calloc");
	if (from_stdin) {
		/*
		 * One byte at a time, not through stdio: the lines after
		 * the password belong to the session loop, which reads the
		 * descriptor itself.
		 */
		len = 0;
		for (;;) {
			ssize_t n = read(STDIN_FILENO, buf + len, 1);

			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0 || buf[len] == '\n')
				break;
			if (++len == cap - 1)
				fatalx("password longer than %d bytes",
				    SC_MAX_PASSWORD);
		}
		buf[len] = '\0';
		len = strcspn(buf, "\r");
		buf[len] = '\0';
		return buf;
	} else {
		if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1)
			fatalx("no terminal to read the password from; "
			    "use --password-stdin");
		if ((in = fdopen(fd, "r+")) == NULL)
			fatal("fdopen");
		fprintf(in, "Password: ");
		fflush(in);
		if (tcgetattr(fd, &old) == 0) {
			noecho = old;
			noecho.c_lflag &= ~(tcflag_t)ECHO;
			if (tcsetattr(fd, TCSAFLUSH, &noecho) == 0)
				restore = 1;
		}
	}
	if (fgets(buf, (int)cap, in) == NULL)
		buf[0] = '\0';
	if (restore) {
		(void)tcsetattr(fd, TCSAFLUSH, &old);
		fprintf(in, "\n");
	}
	fclose(in);
	len = strcspn(buf, "\r\n");
	if (len == cap - 1)
		fatalx("password longer than %d bytes", SC_MAX_PASSWORD);
	buf[len] = '\0';
	return buf;
}

static void
make_dir(const char *path)
{
	if (store_mkdir(path) == -1)
		fatal("mkdir %s", path);
}

static void
conf_free(struct client_conf *c)
{
	free(c->server);
	free(c->ca);
	free(c->crl);
	free(c->cert);
	free(c->key);
	free(c->server_name);
	free(c->state_dir);
	memset(c, 0, sizeof(*c));
}

static void
close_event(void *arg, struct cs_event *ev)
{
	(void)msg_event(arg, ev);
}

static void
report(const char *what, const struct csession_err *e)
{
	if (e->remote)
		fprintf(stderr, "sc-client: %s: server refused: %s (%s)\n",
		    what, e->reason, sc_err_name(e->code));
	else
		fprintf(stderr, "sc-client: %s: %s (%s)\n", what, e->reason,
		    sc_err_name(e->code));
}

/*
 * The state files of the session: loaded before connecting, so that a
 * damaged file stops us before anything is said.  The certificate is
 * loaded here only for its fingerprint; csession_open() loads it again
 * and reports any problem with it as before.
 */
static int
client_prepare(struct client *c, const char *state_dir, const char *user,
    const char *certpath)
{
	char reason[512];
	X509 *cert;
	int rc;

	if ((cert = pki_load_cert(certpath, reason, sizeof(reason))) == NULL)
		return 0;
	rc = msg_init(c, state_dir, user, cert, reason, sizeof(reason));
	X509_free(cert);
	if (rc == -1) {
		fprintf(stderr, "sc-client: state: %s\n", reason);
		msg_free(c);
		return -1;
	}
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "at-sent", no_argument, NULL, 'T' },
		{ "ca", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "crl", required_argument, NULL, 'R' },
		{ "dir", required_argument, NULL, 'D' },
		{ "email", required_argument, NULL, 'e' },
		{ "history", required_argument, NULL, 'H' },
		{ "key", required_argument, NULL, 'K' },
		{ "name", required_argument, NULL, 'n' },
		{ "password-stdin", no_argument, NULL, 'P' },
		{ "server", required_argument, NULL, 's' },
		{ "username", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	struct client_conf conf = { 0 };
	struct client client;
	struct csession_opts o;
	struct csession_err err;
	struct csession *cs = NULL;
	char *confpath = NULL, *user = NULL, *email = NULL, *pass;
	char *host = NULL, *port = NULL, *history = NULL;
	char base[PATH_MAX], tpath[PATH_MAX], canon[ACCOUNT_USER_MAX + 1];
	char rmine[PATH_MAX], rtheirs[PATH_MAX], stamp[32], defconf[PATH_MAX];
	const char *home = getenv("HOME"), *cmd;
	int ch, verbose = 0, pw_stdin = 0, at_sent = 0, rc = 0, have_state = 0;
	size_t n;
	time_t now;
	struct tm tm;

	log_init(1, 0, 0);
	log_procinit("sc-client");
	signal(SIGPIPE, SIG_IGN);
	memset(&client, 0, sizeof(client));
	while ((ch = getopt_long(argc, argv, "c:s:v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'A': conf.ca = xstrdup(optarg); break;
		case 'C': conf.cert = xstrdup(optarg); break;
		case 'R': conf.crl = xstrdup(optarg); break;
		case 'D': conf.state_dir = xstrdup(optarg); break;
		case 'H': history = optarg; break;
		case 'K': conf.key = xstrdup(optarg); break;
		case 'T': at_sent = 1; break;
		case 'n': conf.server_name = xstrdup(optarg); break;
		case 'P': pw_stdin = 1; break;
		case 'c': confpath = optarg; break;
		case 'e': email = optarg; break;
		case 's': conf.server = xstrdup(optarg); break;
		case 'u': user = optarg; break;
		case 'v': verbose++; break;
		default: usage();
		}
	}
	log_setverbose(verbose);
	if (optind >= argc)
		usage();
	cmd = argv[optind];
	if (strcmp(cmd, "register") != 0 && strcmp(cmd, "login") != 0 &&
	    strcmp(cmd, "verify") != 0)
		usage();
	if (optind + 1 != argc)
		usage();
	if (confpath == NULL && home != NULL) {
		snprintf(defconf, sizeof(defconf),
		    "%s/.config/securechat/client.conf", home);
		load_conf(defconf, 0, &conf);
	} else if (confpath != NULL)
		load_conf(confpath, 1, &conf);

	if (strcmp(cmd, "verify") == 0) {
		/* Offline: no server, no key; only the CA (and CRL). */
		if (history == NULL) {
			fprintf(stderr, "sc-client: verify: --history is "
			    "required\n");
			usage();
		}
		if (conf.ca == NULL)
			fatalx("verify: need the CA certificate (--ca or %s)",
			    "~/.config/securechat/client.conf");
		rc = verify_main(history, conf.ca, conf.crl, at_sent);
		conf_free(&conf);
		return rc;
	}
	if (history != NULL || at_sent)
		usage();
	if (user == NULL) {
		fprintf(stderr, "sc-client: %s: --username is required\n", cmd);
		usage();
	}
	if (strcmp(cmd, "register") == 0 && email == NULL) {
		fprintf(stderr, "sc-client: register: --email is required\n");
		usage();
	}
	if (conf.server == NULL || conf.ca == NULL || conf.cert == NULL ||
	    conf.key == NULL)
		fatalx("need server, ca, cert and key (options or %s)",
		    "~/.config/securechat/client.conf");
	if (conf.state_dir == NULL) {
		if (home == NULL)
			fatalx("no --dir and no $HOME for the transcripts");
		snprintf(base, sizeof(base), "%s/.local/share/securechat", home);
		conf.state_dir = xstrdup(base);
	}
	make_dir(conf.state_dir);
	split_server(conf.server, &host, &port);
	/* The server folds the name the same way; the files use it too. */
	if (account_username_canon(user, strlen(user), canon) == -1) {
		fprintf(stderr, "sc-client: %s: \"%s\" is not a user name: 1 to "
		    "32 of a-z 0-9 _ . - starting with a letter or digit "
		    "(BAD_INPUT)\n", cmd, user);
		rc = 1;
		goto done;
	}
	if ((have_state = client_prepare(&client, conf.state_dir, canon,
	    conf.cert)) == -1) {
		rc = 1;
		goto done;
	}

	pass = read_password(pw_stdin);

	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(base, sizeof(base), "%s/%s-%s-%ld", conf.state_dir, stamp,
	    canon, (long)getpid());
	if ((size_t)snprintf(tpath, sizeof(tpath), "%s.transcript", base) >=
	    sizeof(tpath) || (size_t)snprintf(rmine, sizeof(rmine),
	    "%s.client-receipt.json", base) >= sizeof(rmine) ||
	    (size_t)snprintf(rtheirs, sizeof(rtheirs), "%s.server-receipt.json",
	    base) >= sizeof(rtheirs))
		fatalx("%s: path too long", conf.state_dir);

	memset(&o, 0, sizeof(o));
	o.host = host;
	o.port = port;
	o.ca = conf.ca;
	o.crl = conf.crl;
	o.cert = conf.cert;
	o.key = conf.key;
	o.server_name = conf.server_name;
	o.transcript = tpath;
	log_debug("connecting to %s port %s, server name %s", host, port,
	    conf.server_name ? conf.server_name : host);
	if ((cs = csession_open(&o, &err)) == NULL) {
		freezero(pass, SC_MAX_PASSWORD + 2);
		/* Nothing was said: leave no empty transcript behind. */
		(void)unlink(tpath);
		report("connect", &err);
		rc = 1;
		goto done;
	}
	if (strcmp(cmd, "register") == 0)
		rc = csession_register(cs, user, email, pass);
	else
		rc = csession_login(cs, user, pass);
	freezero(pass, SC_MAX_PASSWORD + 2);
	if (rc == -1) {
		report(cmd, &cs->err);
		rc = 1;
		goto done;
	}
	if (log_getverbose() > 0) {
		char sid[2 * SC_SESSION_ID_LEN + 1];

		for (n = 0; n < SC_SESSION_ID_LEN; n++)
			snprintf(sid + 2 * n, 3, "%02x", cs->ch.session_id[n]);
		log_debug("session %s with %s", sid, conf.server);
	}
	printf("%s as %s (account %llu); server certificate SHA-256 ",
	    strcmp(cmd, "register") == 0 ? "Registered and logged in" :
	    "Logged in", cs->username, (unsigned long long)cs->account_id);
	for (n = 0; n < SC_SHA256_LEN; n++)
		printf("%02x", cs->peer_fp[n]);
	printf("\n");
	if (!have_state) {
		/* Unreachable in practice: the session loaded the same file. */
		fprintf(stderr, "sc-client: cannot read %s\n", conf.cert);
		rc = 1;
		goto done;
	}
	{
		char fps[STORE_FP_STR_LEN];

		store_fp_str(cs->cert_fp, fps);
		printf("Your certificate: %s\n", fps);
	}
	fflush(stdout);

	client.interactive = isatty(STDIN_FILENO);
	client.redraw = client.interactive && isatty(STDOUT_FILENO);
	msg_attach(&client, cs);
	/* What still arrives while closing is shown and acknowledged too. */
	cs->on_event = close_event;
	cs->on_event_arg = &client;
	if (ui_run(&client) == -1) {
		report("session", &cs->err);
		rc = 1;
		goto done;
	}
	if (csession_close(cs, rmine, rtheirs) == -1) {
		report("close", &cs->err);
		rc = 1;
		goto done;
	}
	printf("Session closed. Receipts exchanged and verified.\n"
	    "  transcript:     %s\n  your receipt:   %s\n"
	    "  server receipt: %s\n", tpath, rmine, rtheirs);
 done:
	if (have_state > 0)
		msg_free(&client);
	csession_free(cs);
	free(host);
	free(port);
	conf_free(&conf);
	return rc;
}
