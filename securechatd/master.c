/*
 * master.c: the securechatd master process.  It runs as root and does
 * only what needs root or a global view: listen, start and supervise keyd,
 * authd and the router, count and limit connections, fork and execute
 * one worker (LIBEXECDIR/session) per connection with its descriptors in
 * place, tell the router
 * which user each session is (from authd, never from the worker), and
 * write the audit log.  It never parses a byte of the client protocol: a
 * refused connection gets one ERROR frame, written before any byte is
 * read.
 *
 * Signals only set flags; the loop blocks them except inside ppoll(), so
 * a signal can never slip in between the flag check and the wait.
 */
#include "securechatd.h"

#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "audit.h"
#include "authd/authd.h"
#include "buf.h"
#include "ipc.h"
#include "keyd/keyd.h"
#include "log.h"
#include "proto.h"
#include "router/router.h"
#include "transcript.h"
#include "util.h"

#define LISTEN_BACKLOG		128
#define MAX_LISTEN_FDS		(2 * SC_MAX_LISTEN)	/* v4 and v6 for "*" */
#define ACCEPT_BURST		16	/* accepts per listener per wake-up */
#define ACCEPT_PAUSE_S		1	/* after EMFILE/ENFILE */
#define HANDSHAKE_GRACE_S	5	/* the worker times out first */
#define TERM_GRACE_S		3	/* SIGTERM -> SIGKILL */
#define HELPER_BACKOFF_MAX_S	60
#define HELPER_STABLE_S		60	/* ran this long: reset the backoff */
/*
 * A zygote forks at most this many workers, which share its address
 * layout and stack canary, before a new one (new layout) replaces it.
 */
#define ZYGOTE_MAX_SPAWNS	256
#define ZYGOTE_REPLY_MS		2000	/* longest wait for ZYGOTE_SPAWNED */
#define REFUSE_TIMEOUT_MS	100
#define SESSION_DRAIN_MAX	64	/* messages read after a worker's exit */

enum phase {
	PH_RUN,		/* accepting */
	PH_DRAIN,	/* SIGTERM: not accepting, sessions may finish */
	PH_TERM,	/* sessions were sent SIGTERM */
	PH_KILL,	/* sessions were sent SIGKILL */
	PH_HELPERS,	/* sessions gone; stopping keyd, authd, router */
};

/*
 * keyd_processes keyd instances ("keyd[1]", ...), authd_processes authd
 * instances ("authd[1]", ...) and the router: each a separate process
 * with its own control channel, supervised and restarted on its own.
 */
struct pool;
struct helper {
	char		 name[16];	/* "keyd[1]", "authd[2]", "router" */
	const char	*prog;		/* "keyd", "authd", "router" */
	struct pool	*pool;		/* keyds or authds; NULL: the router */
	unsigned int	 instance;	/* in a pool: 1.. (slot[instance - 1]) */
	uint16_t	 msg_new;	/* *_CTL_NEW_CHANNEL */
	uint16_t	 msg_kill;	/* *_CTL_KILL_WORKER */
	/*
	 * keyd and authd are needed by every session: the daemon does not
	 * start without them and refuses connections while every keyd or
	 * every authd instance is down.  The router only carries live
	 * delivery (sessions work without it).
	 */
	int		 required;
	pid_t		 pid;		/* 0: not running */
	int		 ctl;		/* our end of its channel, or -1 */
	unsigned int	 failures;	/* quick deaths in a row */
	time_t		 started;
	time_t		 restart_at;	/* when pid is 0 */
	int		 restart_now;	/* stopped on purpose (reload) */
	unsigned int	 gen;		/* starts so far: names its channels */
};

/*
 * keyd and authd run as pools of identical instances, each one process
 * on one CPU at a time: signatures and logins of different sessions run
 * on every core.  A session's channel goes to one instance of each,
 * which alone may speak for that session (pool_owns).
 */
#define POOL_MAX	16
_Static_assert(SC_KEYD_PROCESSES_MAX <= POOL_MAX &&
    SC_AUTHD_PROCESSES_MAX <= POOL_MAX, "pool slots");
struct pool {
	const char	*prog;		/* "keyd", "authd" */
	struct helper	 slot[POOL_MAX];
	unsigned int	 n;		/* instances 1..n are wanted */
	unsigned int	 next;		/* round robin among equals */
};

/* A session's channel in a pool: slot[idx] in its start gen (0: none). */
struct pool_ref {
	unsigned int	 idx;
	unsigned int	 gen;
};

struct session {
	TAILQ_ENTRY(session) entry;
	pid_t		 pid;
	uint64_t	 serial;
	int		 ctl;		/* -1 once the worker closed it */
	enum worker_state state;
	int		 af;		/* per-source limit compares these */
	uint8_t		 src[16];
	char		 addr[SC_ADDR_MAX];
	char		 user[SC_USER_MAX + 1];
	int		 bound;		/* user came from authd (AUTHENTICATED) */
	/*
	 * The keyd and authd instances its channels went to: only those
	 * processes may ask for its worker's death, and only that authd
	 * may authenticate the session.
	 */
	struct pool_ref	 keyd_ch;
	struct pool_ref	 authd_ch;
	unsigned int	 router_gen;	/* router.gen its channel went to; 0 none */
	char		 tname[64];	/* transcript file name without .log */
	unsigned int	 receipts;	/* 1 << role of those saved */
	time_t		 started;
	const char	*killed;	/* why we killed it, or NULL */
	unsigned int	 zygote_gen;	/* forked by that zygote; 0: executed */
};
TAILQ_HEAD(session_list, session);

static struct sc_config	*conf;
static char		*conftext;
static size_t		 conftextlen;

static int		 listen_fds[MAX_LISTEN_FDS];
static unsigned int	 nlisten_fds;
static int		 socket_activated;
static time_t		 accept_paused_until;

static struct helper	 router = { "router", "router", NULL, 0,
			    ROUTER_CTL_NEW_CHANNEL, ROUTER_CTL_KILL_WORKER, 0,
			    0, -1, 0, 0, 0, 0, 0 };
/* Filled in by helpers_init(). */
static struct pool	 keyds = { .prog = "keyd" };
static struct pool	 authds = { .prog = "authd" };
/* Start order: every keyd slot, every authd slot, the router. */
static struct helper	*helpers[2 * POOL_MAX + 1];
#define NHELPERS	(sizeof(helpers) / sizeof(helpers[0]))

/*
 * The zygote (worker_spawn fork; session/zygote.c): a pre-initialised
 * worker that forks the workers.  Not required: while it is down or not
 * yet ready, workers are executed as with worker_spawn exec.
 */
#define ZYGOTE_NFILES	3	/* ca, crl, cert */
struct zygote_file {
	dev_t		 dev;
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtime, ctime;
	int		 present;
};
static struct {
	pid_t		 pid;		/* 0: not running */
	pid_t		 retired;	/* the one before, until reaped */
	int		 ctl;		/* -1: none */
	int		 ready;		/* ZYGOTE_READY received */
	unsigned int	 gen;		/* starts so far */
	unsigned int	 spawns;	/* workers forked by this one */
	unsigned int	 failures;	/* quick deaths in a row */
	uint32_t	 next_id;
	time_t		 started;
	time_t		 restart_at;
	/* ca, crl, cert as they were when it loaded them */
	struct zygote_file files[ZYGOTE_NFILES];
} zyg = { .ctl = -1 };

static struct session_list sessions = TAILQ_HEAD_INITIALIZER(sessions);
static unsigned int	 nsessions, nunauth, nbound;
static uint64_t		 next_serial;

static enum phase	 phase = PH_RUN;
static time_t		 phase_deadline;

static volatile sig_atomic_t got_sigchld, got_sighup, got_sigterm;

static uint64_t		 watchdog_usec;
static struct timespec	 watchdog_last;
static unsigned int	 status_sessions = ~0U, status_unauth = ~0U;
static unsigned int	 title_sessions = ~0U, title_unauth = ~0U;
static unsigned int	 title_bound = ~0U;
static struct timespec	 status_last;

static struct ipc_msg	 msg;	/* 65 KiB receive buffer, reused */

static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void
master_sig(int sig)
{
	switch (sig) {
	case SIGCHLD:
		got_sigchld = 1;
		break;
	case SIGHUP:
		got_sighup = 1;
		break;
	case SIGINT:
	case SIGTERM:
		got_sigterm++;
		break;
	}
}

static const int handled_signals[] = { SIGCHLD, SIGHUP, SIGINT, SIGTERM };
#define NHANDLED	(sizeof(handled_signals) / sizeof(handled_signals[0]))

static void
signals_setup(void)
{
	struct sigaction sa;
	sigset_t block;
	size_t i;

	sigemptyset(&block);
	for (i = 0; i < NHANDLED; i++)
		sigaddset(&block, handled_signals[i]);
	if (sigprocmask(SIG_BLOCK, &block, NULL) == -1)
		fatal("sigprocmask");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = master_sig;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < NHANDLED; i++)
		if (sigaction(handled_signals[i], &sa, NULL) == -1)
			fatal("sigaction");
	/* A client gone before its ERROR frame must not kill the master. */
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		fatal("sigaction SIGPIPE");
}

/* In a child between fork and exec: default dispositions, nothing masked. */
static void
signals_child(void)
{
	struct sigaction sa;
	sigset_t none;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NHANDLED; i++)
		(void)sigaction(handled_signals[i], &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static void
status_exit(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d%s", WTERMSIG(status),
		    WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, len, "status 0x%x", (unsigned)status);
}

/* ---- systemd ---- */

/*
 * STATUS= to systemd at most once a second (the loop's timer sends the
 * latest counts): sd_notify() blocks while the manager's queue is full,
 * and one datagram per connection would stall the master behind a busy
 * PID 1 during a connection burst.  The process title is ours: always.
 */
#define STATUS_INTERVAL_MS	1000

static void
notify_status(int force)
{
	struct timespec now;
	char title[96];
	long long ms;

	if (force || nsessions != title_sessions || nunauth != title_unauth ||
	    nbound != title_bound) {
		title_sessions = nsessions;
		title_unauth = nunauth;
		title_bound = nbound;
		/* Tests parse the bracket: keep its shape. */
		snprintf(title, sizeof(title), "master [%u sessions, %u "
		    "unauthenticated] %u users bound%s", nsessions, nunauth,
		    nbound, phase == PH_RUN ? "" : " shutting down");
		setproctitle("%s", title);
	}
	if (!force && nsessions == status_sessions && nunauth == status_unauth)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(now.tv_sec - status_last.tv_sec) * 1000 +
	    (now.tv_nsec - status_last.tv_nsec) / 1000000;
	if (!force && ms < STATUS_INTERVAL_MS)
		return;
	status_last = now;
	status_sessions = nsessions;
	status_unauth = nunauth;
	(void)sd_notifyf(0, "STATUS=%u session%s (%u unauthenticated)%s",
	    nsessions, nsessions == 1 ? "" : "s", nunauth,
	    phase == PH_RUN ? "" : ", shutting down");
}

static void
watchdog_tick(void)
{
	struct timespec now;
	uint64_t elapsed;

	if (watchdog_usec == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (uint64_t)(now.tv_sec - watchdog_last.tv_sec) * 1000000 +
	    (uint64_t)((now.tv_nsec - watchdog_last.tv_nsec) / 1000);
	if (elapsed >= watchdog_usec / 2) {
		(void)sd_notify(0, "WATCHDOG=1");
		watchdog_last = now;
	}
}

/* ---- listening sockets ---- */

static void
fd_nonblock_cloexec(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (fl = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		fatal("fcntl %d", fd);
}

static void
listen_one(const struct sc_listen *l)
{
	struct addrinfo hints, *res, *ai;
	int fd, on = 1, rc, bound = 0;
	const char *shown = l->host[0] != '\0' ? l->host : "*";

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if ((rc = getaddrinfo(l->host[0] != '\0' ? l->host : NULL, l->port,
	    &hints, &res)) != 0)
		fatalx("listen %s:%s: %s", shown, l->port, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (nlisten_fds >= MAX_LISTEN_FDS)
			fatalx("listen: too many sockets");
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			/* A host without IPv6 still serves "*" over IPv4. */
			if (l->host[0] == '\0' && errno == EAFNOSUPPORT)
				continue;
			fatal("listen %s:%s: socket", shown, l->port);
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on)) == -1)
			fatal("setsockopt SO_REUSEADDR");
		/* "*" opens one socket per family; keep them apart. */
		if (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
		    IPV6_V6ONLY, &on, sizeof(on)) == -1)
			fatal("setsockopt IPV6_V6ONLY");
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
			fatal("listen %s:%s: bind", shown, l->port);
		if (listen(fd, LISTEN_BACKLOG) == -1)
			fatal("listen %s:%s", shown, l->port);
		listen_fds[nlisten_fds++] = fd;
		bound++;
	}
	freeaddrinfo(res);
	if (bound == 0)
		fatalx("listen %s:%s: no usable address", shown, l->port);
	log_info("listening on %s:%s", shown, l->port);
}

static void
listeners_open(void)
{
	unsigned int i;
	int n, fd;

	/* unset_environment: workers must not think they are activated. */
	if ((n = sd_listen_fds(1)) < 0)
		fatalx("sd_listen_fds: %s", strerror(-n));
	if (n > 0) {
		if (n > MAX_LISTEN_FDS)
			fatalx("socket activation: %d sockets, at most %d", n,
			    MAX_LISTEN_FDS);
		for (i = 0; i < (unsigned int)n; i++) {
			fd = SD_LISTEN_FDS_START + (int)i;
			/* Clients are counted and named by IP address. */
			if (sd_is_socket(fd, AF_INET, SOCK_STREAM, 1) <= 0 &&
			    sd_is_socket(fd, AF_INET6, SOCK_STREAM, 1) <= 0)
				fatalx("socket activation: descriptor %d is "
				    "not a listening TCP socket", fd);
			fd_nonblock_cloexec(fd);
			listen_fds[nlisten_fds++] = fd;
		}
		socket_activated = 1;
		log_info("using %d socket(s) from systemd; \"listen\" lines "
		    "are ignored", n);
		return;
	}
	for (i = 0; i < conf->nlisten; i++)
		listen_one(&conf->listen[i]);
}

static void
listeners_close(void)
{
	unsigned int i;

	for (i = 0; i < nlisten_fds; i++)
		close(listen_fds[i]);
	nlisten_fds = 0;
}

/* ---- child processes ---- */

/*
 * The worker program, LIBEXECDIR/session (session/session.c), resolved
 * once: $SC_LIBEXECDIR/session when set; else, when keyd_path names a
 * keyd outside LIBEXECDIR (uninstalled builds, the tests), a "session"
 * next to it if there is one (as trusted as keyd itself: root runs it);
 * else LIBEXECDIR/session.
 */
static const char *
session_program(void)
{
	static char path[SC_PATH_MAX];
	const char *env;
	char *slash;

	if (path[0] != '\0')
		return path;
	env = getenv("SC_LIBEXECDIR");
	if ((env == NULL || *env == '\0') && conf->keyd_path[0] == '/' &&
	    (slash = strrchr(conf->keyd_path, '/')) != NULL &&
	    snprintf(path, sizeof(path), "%.*s/session",
	    (int)(slash - conf->keyd_path), conf->keyd_path) <
	    (int)sizeof(path) && access(path, X_OK) == 0)
		return path;
	conf_helper_path(conf, "session", path, sizeof(path));
	return path;
}

/*
 * In the child: put fds[i] on descriptor first + i, close everything
 * above, and exec.  Sources are first moved above the target range so
 * that no dup2 overwrites a source still to be moved.
 */
static void __attribute__((noreturn))
child_exec(const int *fds, int nfds, int first, const char *path,
    char *const argv[])
{
	int high[8], i;

	signals_child();
	/* Only the master talks to systemd (NotifyAccess=main). */
	(void)unsetenv("NOTIFY_SOCKET");
	(void)unsetenv("WATCHDOG_USEC");
	(void)unsetenv("WATCHDOG_PID");
	if (nfds > (int)(sizeof(high) / sizeof(high[0])))
		_exit(127);
	for (i = 0; i < nfds; i++)
		if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC,
		    first + nfds)) == -1) {
			log_warn("child: F_DUPFD");
			_exit(127);
		}
	for (i = 0; i < nfds; i++)
		if (dup2(high[i], first + i) == -1) {	/* clears CLOEXEC */
			log_warn("child: dup2");
			_exit(127);
		}
	closefrom(first + nfds);
	execv(path, argv);
	log_warn("exec %s", path);
	_exit(127);
}

static void
argv_add(char **argv, size_t *n, size_t max, const char *s)
{
	if (*n + 1 >= max)
		fatalx("argv overflow");
	argv[(*n)++] = (char *)(uintptr_t)s;
	argv[*n] = NULL;
}

static void
argv_verbose(char **argv, size_t *n, size_t max)
{
	int i;

	if (conf->foreground)
		argv_add(argv, n, max, "-d");
	for (i = 0; i < conf->verbose; i++)
		argv_add(argv, n, max, "-v");
}

/* Name the slots of pool p and append them to helpers[] at *n. */
static void
pool_init(struct pool *p, uint16_t msg_new, uint16_t msg_kill,
    unsigned int wanted, size_t *n)
{
	struct helper *h;
	size_t i;

	for (i = 0; i < POOL_MAX; i++) {
		h = &p->slot[i];
		memset(h, 0, sizeof(*h));
		snprintf(h->name, sizeof(h->name), "%s[%zu]", p->prog, i + 1);
		h->prog = p->prog;
		h->pool = p;
		h->instance = (unsigned int)i + 1;
		h->msg_new = msg_new;
		h->msg_kill = msg_kill;
		h->required = 1;
		h->ctl = -1;
		helpers[(*n)++] = h;
	}
	p->n = wanted;
	p->next = 0;
}

/* Name the pool slots and put every helper in start order. */
static void
helpers_init(void)
{
	size_t n = 0;

	pool_init(&keyds, KEYD_CTL_NEW_CHANNEL, KEYD_CTL_KILL_WORKER,
	    conf->keyd_processes, &n);
	pool_init(&authds, AUTHD_CTL_NEW_CHANNEL, AUTHD_CTL_KILL_WORKER,
	    conf->authd_processes, &n);
	helpers[n++] = &router;
}

/* A pool slot beyond its count (after a reload) is not restarted. */
static int
helper_wanted(const struct helper *h)
{
	return h->pool == NULL || h->instance <= h->pool->n;
}

/*
 * May instance h take new sessions?  Its control channel is open and it
 * is not being stopped (a reload's restart: its audit events still
 * come, but a login sent to it now would fail).
 */
static int
pool_usable(const struct helper *h)
{
	return h->ctl != -1 && !h->restart_now;
}

/* Instances of pool p that take new sessions. */
static unsigned int
pool_live(const struct pool *p)
{
	unsigned int i, n = 0;

	for (i = 0; i < p->n; i++)
		if (pool_usable(&p->slot[i]))
			n++;
	return n;
}

static int
helper_start(struct helper *h)
{
	char path[SC_PATH_MAX], nlog2[12], r[12], p[12], fail[12], win[12];
	char rate[12], burst[12], queue[12], room[12], keep[12];
	char *argv[64];
	size_t n = 0;
	int sv[2];
	pid_t pid;

	conf_helper_path(conf, h->prog, path, sizeof(path));
	if (access(path, X_OK) == -1) {
		log_warn("%s program %s", h->name, path);
		return -1;
	}
	/* No instance number: argv[0] stays the program's. */
	argv_add(argv, &n, 64, h->prog);
	if (h->pool == &keyds) {
		argv_add(argv, &n, 64, "-k");
		argv_add(argv, &n, 64, conf->key);
		argv_add(argv, &n, 64, "-c");
		argv_add(argv, &n, 64, conf->cert);
		argv_add(argv, &n, 64, "-u");
		argv_add(argv, &n, 64, conf->keyd_user);
	} else if (h == &router) {
		/* No secret and no file: a user and a jail are all it needs. */
		argv_add(argv, &n, 64, "-u");
		argv_add(argv, &n, 64, conf->router_user);
	} else {
		snprintf(nlog2, sizeof(nlog2), "%u", conf->scrypt_n_log2);
		snprintf(r, sizeof(r), "%u", conf->scrypt_r);
		snprintf(p, sizeof(p), "%u", conf->scrypt_p);
		snprintf(fail, sizeof(fail), "%u", conf->auth_max_failures);
		snprintf(win, sizeof(win), "%u", conf->auth_failure_window);
		argv_add(argv, &n, 64, "-D");
		argv_add(argv, &n, 64, conf->db_config);
		argv_add(argv, &n, 64, "-u");
		argv_add(argv, &n, 64, conf->authd_user);
		argv_add(argv, &n, 64, "-N");
		argv_add(argv, &n, 64, nlog2);
		argv_add(argv, &n, 64, "-r");
		argv_add(argv, &n, 64, r);
		argv_add(argv, &n, 64, "-p");
		argv_add(argv, &n, 64, p);
		argv_add(argv, &n, 64, "-R");
		argv_add(argv, &n, 64, conf->registration ? "1" : "0");
		argv_add(argv, &n, 64, "-F");
		argv_add(argv, &n, 64, fail);
		argv_add(argv, &n, 64, "-W");
		argv_add(argv, &n, 64, win);
		/* Messaging: certificate binding, rates, queues, rooms. */
		snprintf(rate, sizeof(rate), "%u", conf->message_rate);
		snprintf(burst, sizeof(burst), "%u", conf->message_burst);
		snprintf(queue, sizeof(queue), "%u", conf->message_queue_max);
		snprintf(room, sizeof(room), "%u", conf->room_max_members);
		snprintf(keep, sizeof(keep), "%u", conf->message_retention);
		argv_add(argv, &n, 64, "-C");
		argv_add(argv, &n, 64, conf->bind_certificates ? "1" : "0");
		argv_add(argv, &n, 64, "-M");
		argv_add(argv, &n, 64, rate);
		argv_add(argv, &n, 64, "-B");
		argv_add(argv, &n, 64, burst);
		argv_add(argv, &n, 64, "-Q");
		argv_add(argv, &n, 64, queue);
		argv_add(argv, &n, 64, "-S");
		argv_add(argv, &n, 64, room);
		argv_add(argv, &n, 64, "-E");
		argv_add(argv, &n, 64, keep);
	}
	argv_add(argv, &n, 64, "-j");
	argv_add(argv, &n, 64, conf->jail);
	argv_verbose(argv, &n, 64);

	if (ipc_socketpair(sv) == -1) {
		log_warn("%s: socketpair", h->name);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", h->name);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		child_exec(&sv[1], 1, IPC_CTL_FD, path, argv);
	close(sv[1]);
	h->pid = pid;
	h->ctl = sv[0];
	h->started = mono_now();
	h->restart_now = 0;
	/* 0 stays "never started": a session with router_gen 0 has none. */
	if (++h->gen == 0)
		h->gen = 1;
	log_info("started %s (pid %ld)", h->name, (long)pid);
	audit_record("securechatd", "child_start", "child", h->name,
	    "path", path, NULL);
	return 0;
}

static void
helper_schedule(struct helper *h)
{
	unsigned int delay;

	if (h->restart_now) {
		h->failures = 0;
		h->restart_at = mono_now();
		return;
	}
	if (mono_now() - h->started >= HELPER_STABLE_S)
		h->failures = 0;
	delay = h->failures >= 6 ? HELPER_BACKOFF_MAX_S : 1U << h->failures;
	if (delay > HELPER_BACKOFF_MAX_S)
		delay = HELPER_BACKOFF_MAX_S;
	h->failures++;
	h->restart_at = mono_now() + delay;
	log_warnx("%s will be restarted in %u s", h->name, delay);
}

static void
helper_exited(struct helper *h, int status)
{
	char st[48];

	status_exit(status, st, sizeof(st));
	if (h->ctl != -1) {
		close(h->ctl);
		h->ctl = -1;
	}
	h->pid = 0;
	if (phase != PH_RUN && phase != PH_DRAIN) {
		log_info("%s exited (%s)", h->name, st);
		return;
	}
	if (!helper_wanted(h)) {
		log_info("%s stopped: %s_processes is now %u (%s)",
		    h->name, h->prog, h->pool->n, st);
		audit_record("securechatd", "child_exit", "child", h->name,
		    "status", st, NULL);
		h->restart_now = 0;
		h->failures = 0;
		return;
	}
	if (h->restart_now)
		log_info("%s stopped for a restart (%s)", h->name, st);
	else
		log_warnx("%s died (%s)", h->name, st);
	audit_record("securechatd", h->restart_now ? "child_exit" :
	    "child_crash", "child", h->name, "status", st, NULL);
	helper_schedule(h);
}

static void
helpers_restart_due(void)
{
	struct helper *h;
	size_t i;

	if (phase != PH_RUN && phase != PH_DRAIN)
		return;
	for (i = 0; i < NHELPERS; i++) {
		h = helpers[i];
		if (h->pid != 0 || !helper_wanted(h) ||
		    mono_now() < h->restart_at)
			continue;
		if (helper_start(h) == -1) {
			audit_record("securechatd", "child_start_failed",
			    "child", h->name, NULL);
			/* A failed start is a quick failure: back off. */
			h->started = mono_now();
			helper_schedule(h);
		} else
			audit_record("securechatd", "child_restart",
			    "child", h->name, NULL);
	}
}


/* ---- the zygote ---- */

/* File i of what the zygote loads: the CA, the CRL, the certificate. */
static void
zygote_file_stamp(size_t i, struct zygote_file *f)
{
	const char *path = i == 0 ? conf->ca : i == 1 ? conf->crl : conf->cert;
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (path[0] == '\0' || stat(path, &st) == -1)
		return;
	f->present = 1;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	f->ctime = st.st_ctim;
}

/*
 * Has the CA, CRL or certificate file changed since the zygote loaded
 * it?  An executed worker reads them at every connection; a forked one
 * must not serve an older CRL than that.
 */
static int
zygote_files_changed(void)
{
	struct zygote_file now;
	size_t i;

	for (i = 0; i < ZYGOTE_NFILES; i++) {
		zygote_file_stamp(i, &now);
		if (now.present != zyg.files[i].present ||
		    now.dev != zyg.files[i].dev || now.ino != zyg.files[i].ino ||
		    now.size != zyg.files[i].size ||
		    now.mtime.tv_sec != zyg.files[i].mtime.tv_sec ||
		    now.mtime.tv_nsec != zyg.files[i].mtime.tv_nsec ||
		    now.ctime.tv_sec != zyg.files[i].ctime.tv_sec ||
		    now.ctime.tv_nsec != zyg.files[i].ctime.tv_nsec)
			return 1;
	}
	return 0;
}

static int
zygote_start(void)
{
	char *argv[16];
	size_t n = 0, i;
	int sv[2];
	pid_t pid;

	argv_add(argv, &n, 16, "session");
	argv_add(argv, &n, 16, "-Z");
	argv_add(argv, &n, 16, "-f");
	argv_add(argv, &n, 16, conf->path);
	argv_verbose(argv, &n, 16);
	/* Stamped before it reads them: a change in between renews it. */
	for (i = 0; i < ZYGOTE_NFILES; i++)
		zygote_file_stamp(i, &zyg.files[i]);
	if (ipc_socketpair(sv) == -1) {
		log_warn("zygote: socketpair");
		return -1;
	}
	if (ipc_send(sv[0], WORKER_CONFIG, 0, conftext, conftextlen) == -1) {
		log_warn("zygote: configuration");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("zygote: fork");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/*
		 * Every library's symbols bound once in the zygote, not
		 * lazily in each worker it forks (a lookup and a page copy
		 * per first call).  Not for executed workers: the lookups
		 * would be paid on every exec.
		 */
		(void)setenv("LD_BIND_NOW", "1", 1);
		child_exec(&sv[1], 1, ZYGOTE_FD_CTL, session_program(), argv);
	}
	close(sv[1]);
	zyg.pid = pid;
	zyg.ctl = sv[0];
	zyg.ready = 0;
	zyg.spawns = 0;
	zyg.started = mono_now();
	if (++zyg.gen == 0)
		zyg.gen = 1;
	log_debug("zygote started (pid %ld)", (long)pid);
	return 0;
}

/*
 * Close the running zygote's channel, which makes it exit, and keep its
 * pid until it is reaped (one retired zygote at a time: an older one
 * still there is killed).
 */
static void
zygote_retire(void)
{
	if (zyg.ctl != -1) {
		close(zyg.ctl);
		zyg.ctl = -1;
	}
	zyg.ready = 0;
	if (zyg.pid == 0)
		return;
	if (zyg.retired != 0 && kill(zyg.retired, SIGKILL) == -1 &&
	    errno != ESRCH)
		log_warn("kill zygote %ld", (long)zyg.retired);
	zyg.retired = zyg.pid;
	zyg.pid = 0;
}

/*
 * Retire the running zygote for good reason: a new one starts at once;
 * workers are executed until it is ready.
 */
static void
zygote_renew(const char *why)
{
	char n[12];

	if (zyg.pid == 0)
		return;
	snprintf(n, sizeof(n), "%u", zyg.spawns);
	log_info("zygote %ld retired after %u worker%s: %s", (long)zyg.pid,
	    zyg.spawns, zyg.spawns == 1 ? "" : "s", why);
	audit_record("securechatd", "zygote_renew", "reason", why,
	    "workers", n, NULL);
	zygote_retire();
	zyg.failures = 0;
	zyg.restart_at = mono_now();
}

/* The next start after a failure: 1 s, doubling, at most 60 s. */
static unsigned int
zygote_backoff(void)
{
	unsigned int delay;

	if (mono_now() - zyg.started >= HELPER_STABLE_S)
		zyg.failures = 0;
	delay = zyg.failures >= 6 ? HELPER_BACKOFF_MAX_S : 1U << zyg.failures;
	if (delay > HELPER_BACKOFF_MAX_S)
		delay = HELPER_BACKOFF_MAX_S;
	zyg.failures++;
	zyg.restart_at = mono_now() + delay;
	return delay;
}

/* Something is wrong with it: kill it, start another after a pause. */
static void
zygote_fail(const char *why)
{
	unsigned int failures = zyg.failures;
	pid_t pid = zyg.pid;

	if (pid == 0)
		return;
	zygote_renew(why);
	if (kill(pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("kill zygote %ld", (long)pid);
	zyg.failures = failures;
	log_warnx("zygote %ld: %s; workers are executed until a new one is "
	    "ready in %u s", (long)pid, why, zygote_backoff());
}

static void
zygote_ctl_read(void)
{
	int rc;

	if ((rc = ipc_recv(zyg.ctl, &msg, 0)) == 0) {
		/* It is exiting: zygote_reaped() tells how and restarts it. */
		close(zyg.ctl);
		zyg.ctl = -1;
		zyg.ready = 0;
		return;
	}
	if (rc == -1) {
		zygote_fail("bad control message");
		return;
	}
	if (msg.hdr.type == ZYGOTE_READY && msg.len == 0 && !zyg.ready) {
		zyg.ready = 1;
		log_info("zygote %ld ready", (long)zyg.pid);
	} else
		zygote_fail("unexpected control message");
	ipc_msg_clear(&msg);
}

/* Is pid a zygote (then its exit is handled here)? */
static int
zygote_reaped(pid_t pid, int status)
{
	char st[48];
	unsigned int delay;

	if (pid != 0 && pid == zyg.retired) {
		zyg.retired = 0;
		return 1;
	}
	if (pid == 0 || pid != zyg.pid)
		return 0;
	status_exit(status, st, sizeof(st));
	if (zyg.ctl != -1) {
		close(zyg.ctl);
		zyg.ctl = -1;
	}
	zyg.pid = 0;
	zyg.ready = 0;
	if (phase != PH_RUN)
		return 1;
	delay = zygote_backoff();
	log_warnx("zygote died (%s); workers are executed until a new one is "
	    "ready in %u s", st, delay);
	audit_record("securechatd", "child_crash", "child", "zygote",
	    "status", st, NULL);
	return 1;
}

static void
zygote_due(void)
{
	if (conf->worker_spawn != WORKER_SPAWN_FORK || phase != PH_RUN ||
	    zyg.pid != 0 || mono_now() < zyg.restart_at)
		return;
	if (zygote_start() == -1) {
		zyg.failures++;
		zyg.restart_at = mono_now() + HELPER_BACKOFF_MAX_S;
		audit_record("securechatd", "child_start_failed", "child",
		    "zygote", NULL);
	}
}

/* No zygote from now on (worker_spawn exec, shutdown). */
static void
zygote_stop(int sig)
{
	zygote_retire();
	if (zyg.retired != 0 && sig != SIGTERM &&
	    kill(zyg.retired, sig) == -1 && errno != ESRCH)
		log_warn("kill zygote %ld", (long)zyg.retired);
}

/*
 * Ask the zygote for a worker on fds[] (WORKER_FD_* order).  Returns its
 * pid; -1 when no worker was made (no usable zygote, or it could not
 * fork: the caller executes one); -2 when the zygote was asked but gave
 * no usable answer, so a worker may exist for these descriptors (the
 * caller must not start a second one: it refuses the connection).  The
 * master waits for the answer: the zygote only forks, and the pid must
 * be known before the worker can be reaped.
 */
static pid_t
zygote_spawn(uint64_t serial, const char *addr, const int *fds)
{
	struct cursor c;
	struct wbuf b;
	siginfo_t si;
	uint32_t id, pid, err;
	int rc;

	if (conf->worker_spawn != WORKER_SPAWN_FORK || !zyg.ready)
		return -1;
	if (zyg.spawns >= ZYGOTE_MAX_SPAWNS) {
		zygote_renew("worker limit");
		return -1;
	}
	if (zygote_files_changed()) {
		zygote_renew("CA, CRL or certificate file changed");
		return -1;
	}
	id = ++zyg.next_id;
	wbuf_init(&b, 8 + 2 + SC_ADDR_MAX);
	wbuf_put_u64(&b, serial);
	wbuf_put_str16(&b, addr, strlen(addr));
	rc = b.err ? -1 : ipc_send_fds(zyg.ctl, ZYGOTE_SPAWN, id, b.data,
	    b.len, fds, ZYGOTE_SPAWN_FDS);
	wbuf_free(&b);
	if (rc == -1) {
		zygote_fail("spawn request failed");
		return -1;
	}
	if (ipc_wait_readable(zyg.ctl, ZYGOTE_REPLY_MS) == -1) {
		zygote_fail("no answer");
		return -2;
	}
	if ((rc = ipc_recv(zyg.ctl, &msg, 0)) != 1 ||
	    msg.hdr.type != ZYGOTE_SPAWNED || msg.hdr.id != id) {
		zygote_fail(rc == 0 ? "closed its channel" : "bad answer");
		return -2;
	}
	cur_init(&c, msg.body, msg.len);
	pid = cur_u32(&c);
	err = cur_u32(&c);
	if (cur_done(&c) == -1 || pid > INT32_MAX || (pid_t)pid == zyg.pid) {
		zygote_fail("malformed answer");
		return -2;
	}
	if (pid == 0) {
		errno = (int)err;
		log_warn("zygote could not fork");
		return -1;
	}
	/* Only a child of ours (CLONE_PARENT) may be taken for a worker. */
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1) {
		zygote_fail("answered with a process that is not a child of "
		    "the master");
		return -2;
	}
	zyg.spawns++;
	return (pid_t)pid;
}

/* ---- sessions ---- */

static struct session *
session_by_pid(pid_t pid)
{
	struct session *s;

	TAILQ_FOREACH(s, &sessions, entry)
		if (s->pid == pid)
			return s;
	return NULL;
}

static struct session *
session_by_serial(uint64_t serial)
{
	struct session *s;

	TAILQ_FOREACH(s, &sessions, entry)
		if (s->serial == serial)
			return s;
	return NULL;
}

static void
session_kill(struct session *s, const char *why)
{
	if (s->killed != NULL)
		return;
	s->killed = why;
	log_warnx("killing worker %ld (session %llu, %s): %s", (long)s->pid,
	    (unsigned long long)s->serial, s->addr, why);
	audit_record_session("securechatd", s->serial, "worker_killed",
	    "reason", why, "addr", s->addr, NULL);
	if (kill(s->pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("kill %ld", (long)s->pid);
	if (s->ctl != -1) {
		close(s->ctl);
		s->ctl = -1;
	}
}

/*
 * The last messages of a worker that has exited (its disconnect or
 * refusal audit line, its receipts) may still be queued on its control
 * channel when its exit is noticed: read them before the channel goes,
 * or under load the end of a session would vanish from the audit log.
 * The pid is reaped and may already be reused: session_kill() is
 * disarmed first, and state changes are no longer acted on.
 */
static void	session_receipt(struct session *);

static void
session_drain(struct session *s)
{
	struct pollfd pfd;
	int n;

	if (s->killed == NULL)
		s->killed = "exited";
	for (n = 0; s->ctl != -1 && n < SESSION_DRAIN_MAX; n++) {
		pfd.fd = s->ctl;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) != 1 || ipc_recv(s->ctl, &msg, 0) != 1)
			break;
		if (msg.hdr.type == WORKER_AUDIT)
			(void)audit_write_session("worker", s->pid, s->serial,
			    msg.body, msg.len);
		else if (msg.hdr.type == WORKER_RECEIPT)
			session_receipt(s);
		ipc_msg_clear(&msg);
	}
}

static void
session_reaped(struct session *s, int status)
{
	char st[48];
	int crashed;

	status_exit(status, st, sizeof(st));
	crashed = s->killed == NULL && (WIFSIGNALED(status) ||
	    (WIFEXITED(status) && WEXITSTATUS(status) > 1));
	session_drain(s);
	if (crashed)
		log_warnx("worker %ld (session %llu, %s) ended abnormally: %s",
		    (long)s->pid, (unsigned long long)s->serial, s->addr, st);
	else
		log_debug("worker %ld (session %llu) ended: %s", (long)s->pid,
		    (unsigned long long)s->serial, st);
	audit_record_session("securechatd", s->serial,
	    crashed ? "worker_crash" : "session_end", "addr", s->addr,
	    "user", s->user, "status", st, NULL);
	/*
	 * A worker of the running zygote died of a signal it was not sent
	 * by us: the next worker must not have the same layout and canary
	 * (a crash-and-retry probe learns nothing from the last try).
	 */
	if (crashed && WIFSIGNALED(status) && s->zygote_gen != 0 &&
	    s->zygote_gen == zyg.gen)
		zygote_renew("a worker died of a signal");
	if (s->state == WORKER_ST_HANDSHAKE)
		nunauth--;
	if (s->bound)
		nbound--;
	nsessions--;
	if (s->ctl != -1)
		close(s->ctl);
	TAILQ_REMOVE(&sessions, s, entry);
	free(s);
}

static void
reap_children(void)
{
	struct session *s;
	size_t i;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (zygote_reaped(pid, status))
			continue;
		for (i = 0; i < NHELPERS; i++)
			if (helpers[i]->pid == pid)
				break;
		if (i < NHELPERS)
			helper_exited(helpers[i], status);
		else if ((s = session_by_pid(pid)) != NULL)
			session_reaped(s, status);
		else
			log_debug("reaped unknown child %ld", (long)pid);
	}
	if (pid == -1 && errno != ECHILD)
		log_warn("waitpid");
}

/*
 * The address a per-source limit counts: IPv4-mapped IPv6 is the IPv4
 * address, and the port never matters.
 */
static void
peer_address(const struct sockaddr_storage *ss, socklen_t sl,
    struct session *s, char *port, size_t portlen)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	struct sockaddr_in v4;
	char host[NI_MAXHOST];
	const struct sockaddr *sa = (const struct sockaddr *)ss;

	memset(s->src, 0, sizeof(s->src));
	if (ss->ss_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memset(&v4, 0, sizeof(v4));
			v4.sin_family = AF_INET;
			v4.sin_port = sin6->sin6_port;
			memcpy(&v4.sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
			sa = (const struct sockaddr *)&v4;
			sl = sizeof(v4);
		}
	}
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		s->af = AF_INET;
		memcpy(s->src, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		s->af = AF_INET6;
		memcpy(s->src, &sin6->sin6_addr, 16);
	} else
		s->af = sa->sa_family;
	if (getnameinfo(sa, sl, host, sizeof(host), port, portlen,
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		/* Cannot happen for an IP socket; keep the worker's -A valid. */
		strlcpy(host, "0.0.0.0", sizeof(host));
		strlcpy(port, "0", portlen);
	}
	/* "fe80::1%eth0": the scope is not part of the address we pass on. */
	host[strcspn(host, "%")] = '\0';
	strlcpy(s->addr, host, sizeof(s->addr));
}

static unsigned int
sessions_from(const struct session *n)
{
	const struct session *s;
	unsigned int count = 0;

	TAILQ_FOREACH(s, &sessions, entry)
		if (s->af == n->af && memcmp(s->src, n->src, 16) == 0)
			count++;
	return count;
}

/*
 * sshd's MaxStartups: below start, accept; at full, refuse; in between
 * refuse with a probability rising linearly from rate% to 100%.
 */
static int
startups_drop(void)
{
	unsigned int u = nunauth, b = conf->startups_begin;
	unsigned int f = conf->startups_full, p;

	if (u < b)
		return 0;
	if (u >= f || b >= f)
		return 1;
	p = 100 - conf->startups_rate;
	p = p * (u - b) / (f - b);
	p += conf->startups_rate;
	return arc4random_uniform(100) < p;
}

static void
refuse(int fd, const struct session *n, const char *port, int code,
    const char *reason, const char *why)
{
	log_info("refused %s port %s: %s", n->addr, port, why);
	audit_record("securechatd", "connection_refused", "addr", n->addr,
	    "port", port, "reason", why, NULL);
	/* The client learns why; a write failure changes nothing. */
	(void)sc_error_send(fd, REFUSE_TIMEOUT_MS, code, reason);
	close(fd);
}

static int
master_transcript_name(struct session *s, char *path, size_t pathlen)
{
	char stamp[32];
	struct tm tm;
	time_t t = time(NULL);

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm) == 0)
		return -1;
	snprintf(s->tname, sizeof(s->tname), "%s-%llu", stamp,
	    (unsigned long long)s->serial);
	if ((size_t)snprintf(path, pathlen, "%s/%s.log", conf->transcript_dir,
	    s->tname) >= pathlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * The worker logged in: create its transcript (named at accept) and hand
 * it over.  Only now, so that connections that never authenticate leave
 * no file.  A failure ends the session: it must not run unrecorded.
 */
static void
master_transcript_send(struct session *s)
{
	char path[SC_PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s.log",
	    conf->transcript_dir, s->tname) >= sizeof(path)) {
		session_kill(s, "transcript path too long");
		return;
	}
	/* O_EXCL: a transcript is never reopened or shared. */
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640)) == -1) {
		log_warn("session %llu: transcript %s",
		    (unsigned long long)s->serial, path);
		session_kill(s, "cannot create its transcript");
		return;
	}
	if (ipc_send_fd(s->ctl, WORKER_TRANSCRIPT, 0, NULL, 0, fd) == -1) {
		log_warn("session %llu: sending its transcript",
		    (unsigned long long)s->serial);
		session_kill(s, "cannot hand over its transcript");
	}
	close(fd);
}

static int
helper_new_channel(struct helper *h, uint64_t serial, const char *addr,
    int *worker_end)
{
	struct wbuf b;
	int sv[2], rc;

	if (h->ctl == -1) {
		errno = ENOTCONN;
		return -1;
	}
	if (ipc_socketpair(sv) == -1)
		return -1;
	wbuf_init(&b, 8 + 2 + SC_ADDR_MAX);
	wbuf_put_u64(&b, serial);
	wbuf_put_str16(&b, addr, strlen(addr));
	rc = b.err ? -1 : ipc_send_fd(h->ctl, h->msg_new, 0, b.data, b.len,
	    sv[1]);
	wbuf_free(&b);
	close(sv[1]);
	if (rc == -1) {
		log_warn("%s: new channel", h->name);
		close(sv[0]);
		return -1;
	}
	*worker_end = sv[0];
	return 0;
}

/* The session's channel in pool p. */
static struct pool_ref *
pool_ref_of(struct session *s, const struct pool *p)
{
	return p == &keyds ? &s->keyd_ch : &s->authd_ch;
}

/*
 * The session's channel in pool p, with the instance that has the fewest
 * sessions still to log in (for authd: each login is one scrypt, the
 * cost that matters), then the fewest sessions (for keyd: each session
 * asks for a signature per record), then the next in turn: work arriving
 * together lands on different instances, so on different CPUs.  Only
 * live instances are asked; one whose channel cannot be handed over is
 * skipped.  The session records the instance and its start (gen).
 */
static int
pool_channel(struct pool *p, struct session *s, int *worker_end)
{
	struct session *o;
	const struct pool_ref *r;
	unsigned int pending[POOL_MAX], total[POOL_MAX];
	unsigned int tried = 0, i, k, best;
	uint32_t failed = 0;

	memset(pending, 0, sizeof(pending));
	memset(total, 0, sizeof(total));
	TAILQ_FOREACH(o, &sessions, entry) {
		r = pool_ref_of(o, p);
		if (r->gen == 0 || r->idx >= p->n ||
		    r->gen != p->slot[r->idx].gen)
			continue;
		total[r->idx]++;
		if (p == &authds && o->state == WORKER_ST_HANDSHAKE)
			pending[r->idx]++;
	}
	while (tried < p->n) {
		best = p->n;
		for (k = 0; k < p->n; k++) {
			i = (p->next + k) % p->n;
			if (!pool_usable(&p->slot[i]) || (failed & (1U << i)))
				continue;
			if (best == p->n || pending[i] < pending[best] ||
			    (pending[i] == pending[best] &&
			    total[i] < total[best]))
				best = i;
		}
		if (best == p->n)
			break;
		if (helper_new_channel(&p->slot[best], s->serial, s->addr,
		    worker_end) == 0) {
			pool_ref_of(s, p)->idx = best;
			pool_ref_of(s, p)->gen = p->slot[best].gen;
			p->next = (best + 1) % p->n;
			log_debug("session %llu: %s channel with %s",
			    (unsigned long long)s->serial, p->prog,
			    p->slot[best].name);
			return 0;
		}
		failed |= 1U << best;
		tried++;
	}
	errno = ENOTCONN;
	return -1;
}

/*
 * The worker's router channel.  Without a router (not running, or the
 * channel could not be handed over) the worker still gets a socket on
 * WORKER_FD_ROUTER, one whose peer is closed: it reads EOF, exactly as
 * when the router dies later, and the session goes on without live
 * delivery.  *genp is the router start the channel belongs to (0: none).
 */
static int
router_channel(struct session *s, int *worker_end, unsigned int *genp)
{
	int sv[2];

	*genp = 0;
	if (router.ctl != -1 &&
	    helper_new_channel(&router, s->serial, s->addr, worker_end) == 0) {
		*genp = router.gen;
		return 0;
	}
	if (ipc_socketpair(sv) == -1)
		return -1;
	close(sv[1]);
	*worker_end = sv[0];
	return 0;
}

/* session_start() puts fds[i] on descriptor WORKER_FD_CLIENT + i. */
_Static_assert(WORKER_FD_KEYD == WORKER_FD_CLIENT + 1 &&
    WORKER_FD_AUTHD == WORKER_FD_CLIENT + 2 &&
    WORKER_FD_CTL == WORKER_FD_CLIENT + 3 &&
    WORKER_FD_ROUTER == WORKER_FD_CLIENT + 4 &&
    WORKER_FD_EXEC_LAST == WORKER_FD_ROUTER &&
    WORKER_FD_TRANSCRIPT == WORKER_FD_EXEC_LAST + 1,
    "fds[] follows WORKER_FD_*");

/*
 * Everything a worker needs is made here, in the master, before the
 * fork: its channels (so keyd, authd and the router know the session
 * before the worker says a word), its transcript, its configuration.
 */
static void
session_start(int fd, struct session *s, const char *port)
{
	char serial[24], tpath[SC_PATH_MAX];
	char *argv[16];
	size_t n = 0;
	/* In WORKER_FD_* order: client, keyd, authd, ctl, router. */
	int fds[5] = { fd, -1, -1, -1, -1 }, ctl[2] = { -1, -1 }, i;
	pid_t pid;

	s->serial = next_serial++;
	snprintf(serial, sizeof(serial), "%llu",
	    (unsigned long long)s->serial);
	if (pool_channel(&keyds, s, &fds[1]) == -1 ||
	    pool_channel(&authds, s, &fds[2]) == -1) {
		for (i = 1; i < 3; i++)
			if (fds[i] != -1)
				close(fds[i]);
		refuse(fd, s, port, SC_E_UNAVAILABLE,
		    "server back end not available; try again later",
		    "back end channel failed");
		free(s);
		return;
	}
	if (router_channel(s, &fds[4], &s->router_gen) == -1) {
		log_warn("router channel");
		goto fail;
	}
	if (ipc_socketpair(ctl) == -1) {
		log_warn("socketpair");
		goto fail;
	}
	fds[3] = ctl[0];
	if (master_transcript_name(s, tpath, sizeof(tpath)) == -1) {
		log_warn("transcript %s", tpath);
		goto fail;
	}
	s->zygote_gen = 0;
	if ((pid = zygote_spawn(s->serial, s->addr, fds)) == -2)
		goto fail;
	if (pid > 0) {
		/* A reused pid of a worker not yet reaped cannot be. */
		if (session_by_pid(pid) != NULL) {
			zygote_fail("answered with a live worker's pid");
			goto fail;
		}
		s->zygote_gen = zyg.gen;
	} else {
		if (ipc_send(ctl[1], WORKER_CONFIG, 0, conftext,
		    conftextlen) == -1) {
			log_warn("worker configuration");
			goto fail;
		}
		argv_add(argv, &n, 16, "session");
		argv_add(argv, &n, 16, "-f");
		argv_add(argv, &n, 16, conf->path);
		argv_add(argv, &n, 16, "-S");
		argv_add(argv, &n, 16, serial);
		argv_add(argv, &n, 16, "-A");
		argv_add(argv, &n, 16, s->addr);
		argv_verbose(argv, &n, 16);

		/* Resolved here, once for all, not in every child. */
		(void)session_program();
		if ((pid = fork()) == -1) {
			log_warn("fork");
			goto fail;
		}
		if (pid == 0)
			child_exec(fds, 5, WORKER_FD_CLIENT, session_program(),
			    argv);
	}
	for (i = 0; i < 5; i++)
		close(fds[i]);
	s->pid = pid;
	s->ctl = ctl[1];
	s->state = WORKER_ST_HANDSHAKE;
	s->started = mono_now();
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	nsessions++;
	nunauth++;
	log_info("session %s from %s port %s: worker %ld", serial, s->addr,
	    port, (long)pid);
	audit_record_session("securechatd", s->serial, "connection_accepted",
	    "addr", s->addr, "port", port, "transcript", tpath, NULL);
	return;
 fail:
	for (i = 1; i < 5; i++)
		if (fds[i] != -1)
			close(fds[i]);
	if (ctl[1] != -1)
		close(ctl[1]);
	refuse(fd, s, port, SC_E_INTERNAL, "server error",
	    "could not set up the session");
	free(s);
}

/*
 * Every keyd or every authd instance not running: no session can log in
 * (the router may be down; some instances of each may be).
 */
static int
required_helper_down(void)
{
	return pool_live(&keyds) == 0 || pool_live(&authds) == 0;
}

/* Returns 1 when a connection was taken (accepted or refused), else 0. */
static int
accept_one(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct session *s;
	char port[NI_MAXSERV];
	int fd;

	if ((fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC)) ==
	    -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_warn("accept; pausing for %d s", ACCEPT_PAUSE_S);
			accept_paused_until = mono_now() + ACCEPT_PAUSE_S;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR && errno != ECONNABORTED)
			log_warn("accept");
		return 0;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warn("calloc");
		close(fd);
		return 1;
	}
	s->ctl = -1;
	peer_address(&ss, sl, s, port, sizeof(port));

	/* The order of checks decides which reason a client is told. */
	if (required_helper_down())
		refuse(fd, s, port, SC_E_UNAVAILABLE,
		    "server starting or restarting; try again later",
		    "keyd or authd not running");
	else if (nsessions >= conf->max_sessions)
		refuse(fd, s, port, SC_E_UNAVAILABLE,
		    "too many sessions; try again later", "max_sessions");
	else if (sessions_from(s) >= conf->max_per_source)
		refuse(fd, s, port, SC_E_RATE_LIMITED,
		    "too many connections from your address",
		    "max_per_source");
	else if (startups_drop())
		refuse(fd, s, port, SC_E_UNAVAILABLE,
		    "too many unauthenticated connections; try again later",
		    "max_startups");
	else {
		session_start(fd, s, port);	/* owns s from here */
		return 1;
	}
	free(s);
	return 1;
}

/* ---- control channels ---- */

/*
 * Does the session's channel in h's pool belong to this start of
 * instance h?  A keyd or authd instance speaks only for the sessions it
 * serves: one taken over must not bind, or have killed, the sessions of
 * another instance.  Anything else is logged, audited and ignored.
 */
static int
pool_owns(const struct helper *h, struct session *s, const char *what)
{
	const struct pool_ref *r = pool_ref_of(s, h->pool);
	char owner[32], event[32];

	if (r->gen != 0 && r->idx + 1 == h->instance && r->gen == h->gen)
		return 1;
	if (r->gen == 0)
		strlcpy(owner, "none", sizeof(owner));
	else if (r->idx < POOL_MAX && r->gen == h->pool->slot[r->idx].gen)
		strlcpy(owner, h->pool->slot[r->idx].name, sizeof(owner));
	else
		snprintf(owner, sizeof(owner), "%s[%u] (gone)", h->prog,
		    r->idx + 1);
	log_warnx("%s: %s for session %llu, whose channel is with %s: "
	    "ignored", h->name, what, (unsigned long long)s->serial, owner);
	snprintf(event, sizeof(event), "%s_wrong_instance", h->prog);
	audit_record_session("securechatd", s->serial, event, "child",
	    h->name, "request", what, "owner", owner, NULL);
	return 0;
}

/*
 * authd accepted this session's REGISTER or LOGIN: from now on the
 * session is that user, whatever its worker says, and the router learns
 * it (the only way a router channel gets a user).  authd is trusted for
 * this, a worker never: a body that does not parse is authd's bug and is
 * only logged.  Trusted only for its own sessions (authd_owns).
 */
static void
authd_authenticated(struct helper *h)
{
	struct session *s;
	struct cursor c;
	struct wbuf b;
	const uint8_t *u;
	uint8_t fp[AUTHD_CERT_FP_LEN];
	char user[SC_USER_MAX + 1], idbuf[24], fphex[2 * AUTHD_CERT_FP_LEN + 1];
	uint64_t serial, account_id;
	size_t ulen;

	cur_init(&c, msg.body, msg.len);
	serial = cur_u64(&c);
	account_id = cur_u64(&c);
	u = cur_str16(&c, &ulen, SC_USER_MAX);
	cur_bytes(&c, fp, sizeof(fp));
	if (cur_done(&c) == -1 || u == NULL || !sc_valid_username(u, ulen)) {
		log_warnx("%s: malformed AUTHENTICATED ignored", h->name);
		return;
	}
	memcpy(user, u, ulen);
	user[ulen] = '\0';
	if ((s = session_by_serial(serial)) == NULL || s->killed != NULL) {
		log_debug("%s: AUTHENTICATED for gone session %llu", h->name,
		    (unsigned long long)serial);
		return;
	}
	if (!pool_owns(h, s, "AUTHENTICATED"))
		return;
	if (s->bound) {
		/* One success per channel in authd: this is not normal. */
		log_warnx("%s: second AUTHENTICATED for session %llu "
		    "ignored", h->name, (unsigned long long)serial);
		return;
	}
	/* The worker said who it serves first: it must be the same user. */
	if (s->user[0] != '\0' && strcmp(s->user, user) != 0) {
		session_kill(s, "worker named another user than authd "
		    "authenticated");
		return;
	}
	strlcpy(s->user, user, sizeof(s->user));
	s->bound = 1;
	nbound++;
	snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)account_id);
	hex_encode(fp, sizeof(fp), fphex);
	audit_record_session("securechatd", s->serial, "user_bound", "user",
	    user, "account_id", idbuf, "cert_sha256", fphex, NULL);
	/* Tests read "authd authenticated USER": keep that shape. */
	log_debug("session %llu: authd authenticated %s (account %s, %s)",
	    (unsigned long long)s->serial, user, idbuf, h->name);

	/* Only the router that holds this session's channel knows it. */
	if (router.ctl == -1 || s->router_gen == 0 ||
	    s->router_gen != router.gen)
		return;
	wbuf_init(&b, 8 + 8 + 2 + SC_USER_MAX);
	wbuf_put_u64(&b, s->serial);
	wbuf_put_u64(&b, account_id);
	wbuf_put_str16(&b, user, ulen);
	if (b.err || ipc_send(router.ctl, ROUTER_CTL_BIND, 0, b.data,
	    b.len) == -1)
		log_warn("router: bind session %llu",
		    (unsigned long long)s->serial);
	wbuf_free(&b);
}

static void
helper_ctl_read(struct helper *h)
{
	struct session *s;
	struct cursor c;
	uint64_t serial;
	int rc;

	if ((rc = ipc_recv(h->ctl, &msg, 0)) != 1) {
		if (rc == -1)
			log_warn("%s: control channel", h->name);
		else
			log_warnx("%s closed its control channel", h->name);
		close(h->ctl);
		h->ctl = -1;
		/* Useless without its channel: make it exit so it restarts. */
		if (h->pid != 0 && kill(h->pid, SIGTERM) == -1 &&
		    errno != ESRCH)
			log_warn("kill %s", h->name);
		return;
	}
	if (msg.hdr.type == IPC_MSG_AUDIT) {
		(void)audit_write(h->name, h->pid, msg.body, msg.len);
	} else if (msg.hdr.type == h->msg_kill) {
		cur_init(&c, msg.body, msg.len);
		serial = cur_u64(&c);
		if (cur_done(&c) == -1) {
			log_warnx("%s: malformed kill request", h->name);
			return;
		}
		if ((s = session_by_serial(serial)) == NULL) {
			log_debug("%s: kill request for gone session %llu",
			    h->name, (unsigned long long)serial);
			return;
		}
		if (h->pool != NULL && !pool_owns(h, s, "KILL_WORKER"))
			return;
		session_kill(s, h->pool == &keyds ? "refused by keyd" :
		    h->pool == &authds ? "refused by authd" :
		    "refused by router");
	} else if (h->pool == &authds &&
	    msg.hdr.type == AUTHD_CTL_AUTHENTICATED)
		authd_authenticated(h);
	else
		log_warnx("%s: unexpected control message %u ignored",
		    h->name, msg.hdr.type);
}

static int
username_ok(const uint8_t *u, size_t len)
{
	size_t i;

	if (len > SC_USER_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((u[i] >= 'a' && u[i] <= 'z') ||
		    (u[i] >= '0' && u[i] <= '9') || u[i] == '_' ||
		    u[i] == '.' || u[i] == '-'))
			return 0;
	return 1;
}

static void
session_state(struct session *s)
{
	struct cursor c;
	const uint8_t *u;
	size_t ulen;
	uint8_t st;

	cur_init(&c, msg.body, msg.len);
	st = cur_u8(&c);
	u = cur_str16(&c, &ulen, SC_USER_MAX);
	if (cur_done(&c) == -1 || u == NULL || !username_ok(u, ulen) ||
	    st <= (uint8_t)s->state || st > WORKER_ST_CLOSING) {
		session_kill(s, "bad state message from the worker");
		return;
	}
	/*
	 * Once authd has named the user, the worker's word only has to
	 * agree with it; before, it is kept for the logs (authd's
	 * AUTHENTICATED, arriving on another channel, checks it then).
	 */
	if (ulen > 0 && s->bound && (strlen(s->user) != ulen ||
	    memcmp(s->user, u, ulen) != 0)) {
		session_kill(s, "worker named another user than authd "
		    "authenticated");
		return;
	}
	if (s->state == WORKER_ST_HANDSHAKE)
		nunauth--;
	s->state = (enum worker_state)st;
	if (ulen > 0 && !s->bound) {
		memcpy(s->user, u, ulen);
		s->user[ulen] = '\0';
	}
	log_debug("session %llu: state %u user %s",
	    (unsigned long long)s->serial, st, s->user);
	if (s->state == WORKER_ST_AUTH)
		master_transcript_send(s);
}

/*
 * Keep a receipt the worker sends.  The worker is not trusted: the body
 * must parse exactly, each role comes once, and the file name is ours.
 * Whether the receipt is valid is for `sc-admin receipt verify` to say.
 */
static void
session_receipt(struct session *s)
{
	struct sc_receipt r;
	struct cursor c;
	uint8_t signer_fp[SC_SHA256_LEN];
	const uint8_t *rest;
	char path[SC_PATH_MAX];
	const char *role;

	memset(&r, 0, sizeof(r));
	cur_init(&c, msg.body, msg.len);
	cur_bytes(&c, r.session_id, SC_SESSION_ID_LEN);
	cur_bytes(&c, signer_fp, sizeof(signer_fp));
	if (c.err || (rest = cur_ptr(&c, c.left)) == NULL ||
	    sc_receipt_parse(rest, msg.len - SC_SESSION_ID_LEN -
	    SC_SHA256_LEN, &r) != 0 ||
	    (r.role != SC_ROLE_CLIENT && r.role != SC_ROLE_SERVER) ||
	    (s->receipts & (1U << r.role)) != 0) {
		session_kill(s, "bad receipt message from the worker");
		return;
	}
	s->receipts |= 1U << r.role;
	role = r.role == SC_ROLE_CLIENT ? "client" : "server";
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.%s.json",
	    conf->receipt_dir, s->tname, role) >= sizeof(path)) {
		log_warnx("receipt path too long");
		return;
	}
	if (receipt_write_json(path, &r, signer_fp, 0) == -1) {
		log_warn("receipt %s", path);
		audit_record_session("securechatd", s->serial,
		    "receipt_not_saved", "role", role, "path", path, NULL);
		return;
	}
	audit_record_session("securechatd", s->serial, "receipt_saved",
	    "role", role, "path", path, NULL);
}

static void
session_ctl_read(struct session *s)
{
	int rc;

	if ((rc = ipc_recv(s->ctl, &msg, 0)) != 1) {
		if (rc == -1) {
			session_kill(s, "malformed control message");
			return;
		}
		/* The worker is finishing; its exit status follows. */
		close(s->ctl);
		s->ctl = -1;
		return;
	}
	switch (msg.hdr.type) {
	case WORKER_AUDIT:
		(void)audit_write_session("worker", s->pid, s->serial,
		    msg.body, msg.len);
		break;
	case WORKER_STATE:
		session_state(s);
		break;
	case WORKER_RECEIPT:
		session_receipt(s);
		break;
	default:
		session_kill(s, "unexpected control message type");
		break;
	}
	ipc_msg_clear(&msg);
}

static void
sessions_timeouts(void)
{
	struct session *s;
	time_t now = mono_now();

	/* A worker stuck before login holds a MaxStartups slot: free it. */
	TAILQ_FOREACH(s, &sessions, entry)
		if (s->state == WORKER_ST_HANDSHAKE && s->killed == NULL &&
		    now - s->started > (time_t)conf->handshake_timeout +
		    HANDSHAKE_GRACE_S)
			session_kill(s, "handshake timeout");
}

/* At shutdown: their exit is then expected, not a crash. */
static void
sessions_signal(int sig)
{
	struct session *s;

	TAILQ_FOREACH(s, &sessions, entry) {
		if (s->killed == NULL)
			s->killed = "shutdown";
		if (kill(s->pid, sig) == -1 && errno != ESRCH)
			log_warn("kill %ld", (long)s->pid);
	}
}

/* ---- reload and shutdown ---- */

static int
same_listen(const struct sc_config *a, const struct sc_config *b)
{
	return a->nlisten == b->nlisten && memcmp(a->listen, b->listen,
	    sizeof(a->listen[0]) * a->nlisten) == 0;
}

/*
 * keyd holds the key and certificate it was started with, and restarting
 * it would break every live session: those settings, keyd_processes (a
 * new instance would read a key file that may since have changed), and
 * the listening sockets, need a restart of the service.  authd's settings take effect
 * by restarting every authd instance (logins in progress fail, sessions
 * live on); a new authd_processes alone starts or stops the difference.
 */
static void
master_reload(void)
{
	struct sc_config *n;
	struct helper *h;
	char *text = NULL, err[1024], count[12];
	size_t len = 0;
	unsigned int i, old_nauthd;
	int restart_authd;

	log_info("SIGHUP: reloading %s", conf->path);
	if ((n = malloc(sizeof(*n))) == NULL) {
		log_warn("reload");
		return;
	}
	if (conf_load(n, conf->path, &text, &len, err, sizeof(err)) == -1) {
		log_warnx("reload: %s; keeping the running configuration", err);
		audit_record("securechatd", "config_reload_failed", "error",
		    err, NULL);
		free(n);
		return;
	}
	n->foreground = conf->foreground;
	n->verbose = conf->verbose;
	if (conf_check_env(n) > 0) {
		log_warnx("reload: problems on this host (see above); keeping "
		    "the running configuration");
		audit_record("securechatd", "config_reload_failed", "error",
		    "environment check failed", NULL);
		freezero(text, len);
		free(n);
		return;
	}
	if (!socket_activated && !same_listen(conf, n))
		log_warnx("reload: listen changes need a restart");
	memcpy(n->listen, conf->listen, sizeof(n->listen));
	n->nlisten = conf->nlisten;
	if (strcmp(conf->key, n->key) != 0 ||
	    strcmp(conf->cert, n->cert) != 0 ||
	    strcmp(conf->keyd_user, n->keyd_user) != 0 ||
	    strcmp(conf->keyd_path, n->keyd_path) != 0 ||
	    conf->keyd_processes != n->keyd_processes)
		log_warnx("reload: key, cert, keyd_user, keyd_path and "
		    "keyd_processes changes need a restart");
	n->keyd_processes = conf->keyd_processes;
	strlcpy(n->key, conf->key, sizeof(n->key));
	strlcpy(n->cert, conf->cert, sizeof(n->cert));
	strlcpy(n->keyd_user, conf->keyd_user, sizeof(n->keyd_user));
	strlcpy(n->keyd_path, conf->keyd_path, sizeof(n->keyd_path));
	/*
	 * The router holds every live session's channel: restarting it
	 * would cut live delivery for all of them.
	 */
	if (strcmp(conf->router_user, n->router_user) != 0 ||
	    strcmp(conf->router_path, n->router_path) != 0)
		log_warnx("reload: router_user and router_path changes need a "
		    "restart");
	strlcpy(n->router_user, conf->router_user, sizeof(n->router_user));
	strlcpy(n->router_path, conf->router_path, sizeof(n->router_path));
	restart_authd = strcmp(conf->db_config, n->db_config) != 0 ||
	    strcmp(conf->authd_user, n->authd_user) != 0 ||
	    strcmp(conf->authd_path, n->authd_path) != 0 ||
	    strcmp(conf->jail, n->jail) != 0 ||
	    conf->scrypt_n_log2 != n->scrypt_n_log2 ||
	    conf->scrypt_r != n->scrypt_r || conf->scrypt_p != n->scrypt_p ||
	    conf->registration != n->registration ||
	    conf->auth_max_failures != n->auth_max_failures ||
	    conf->auth_failure_window != n->auth_failure_window ||
	    conf->bind_certificates != n->bind_certificates ||
	    conf->message_rate != n->message_rate ||
	    conf->message_burst != n->message_burst ||
	    conf->message_queue_max != n->message_queue_max ||
	    conf->room_max_members != n->room_max_members ||
	    conf->message_retention != n->message_retention;

	if (audit_open(n->audit_log) == -1)
		log_warnx("reload: audit log %s not reopened; still writing "
		    "to the previous one", n->audit_log);
	freezero(conftext, conftextlen);
	free(conf);
	conf = n;
	conftext = text;
	conftextlen = len;
	log_init(conf->foreground, conf->verbose, conf->log_facility);
	old_nauthd = authds.n;
	authds.n = conf->authd_processes;
	if (authds.n != old_nauthd)
		log_info("reload: authd_processes %u (was %u)", authds.n,
		    old_nauthd);
	if (restart_authd)
		log_info("reload: restarting every authd instance for its new "
		    "settings");
	for (i = 0; i < POOL_MAX; i++) {
		h = &authds.slot[i];
		/*
		 * Stopped on purpose: restarted at once when still wanted
		 * (helper_exited), else left stopped.
		 */
		if (h->pid != 0 && (restart_authd || !helper_wanted(h))) {
			/* No new session goes to it (pool_channel). */
			h->restart_now = 1;
			if (kill(h->pid, SIGTERM) == -1 && errno != ESRCH)
				log_warn("kill %s", h->name);
		} else if (h->pid == 0 && helper_wanted(h) &&
		    h->instance > old_nauthd) {
			/* New instance: helpers_restart_due() starts it. */
			h->failures = 0;
			h->restart_at = mono_now();
		}
	}
	/* New configuration text, CA, CRL: a new zygote (or none). */
	if (conf->worker_spawn == WORKER_SPAWN_FORK)
		zygote_renew("reload");
	else
		zygote_stop(SIGTERM);
	snprintf(count, sizeof(count), "%u", authds.n);
	audit_record("securechatd", "config_reloaded", "restart_authd",
	    restart_authd ? "yes" : "no", "authd_processes", count, NULL);
	log_info("configuration reloaded");
}

static void
phase_set(enum phase p, time_t deadline)
{
	phase = p;
	phase_deadline = deadline;
	notify_status(1);
}

static void
helpers_stop(int sig)
{
	struct helper *h;
	size_t i;

	for (i = 0; i < NHELPERS; i++) {
		h = helpers[i];
		/* Closing the control channel alone makes them exit. */
		if (h->ctl != -1 && sig == SIGTERM) {
			close(h->ctl);
			h->ctl = -1;
		}
		if (h->pid != 0 && kill(h->pid, sig) == -1 && errno != ESRCH)
			log_warn("kill %s", h->name);
	}
}

static void __attribute__((noreturn))
master_exit(void)
{
	log_info("stopped");
	audit_record("securechatd", "shutdown", NULL);
	audit_close();
	freezero(conftext, conftextlen);
	free(conf);
	exit(0);
}

/* Move through the shutdown phases as sessions end or time runs out. */
static void
shutdown_step(void)
{
	time_t now = mono_now();
	size_t i;

	if (phase == PH_RUN) {
		log_info("SIGTERM: no new connections; %u session(s) may "
		    "finish within %u s", nsessions, conf->drain_timeout);
		(void)sd_notify(0, "STOPPING=1");
		audit_record("securechatd", "shutdown_begin", NULL);
		listeners_close();
		zygote_stop(SIGTERM);
		phase_set(PH_DRAIN, now + conf->drain_timeout);
	}
	/* A second SIGTERM skips the drain. */
	if (phase == PH_DRAIN && (nsessions == 0 || now >= phase_deadline ||
	    got_sigterm > 1)) {
		if (nsessions > 0) {
			log_info("terminating %u session(s)", nsessions);
			sessions_signal(SIGTERM);
		}
		phase_set(PH_TERM, now + TERM_GRACE_S);
	}
	if (phase == PH_TERM && (nsessions == 0 || now >= phase_deadline)) {
		if (nsessions > 0)
			sessions_signal(SIGKILL);
		phase_set(PH_KILL, now + TERM_GRACE_S);
	}
	if (phase == PH_KILL && (nsessions == 0 || now >= phase_deadline)) {
		helpers_stop(SIGTERM);
		phase_set(PH_HELPERS, now + TERM_GRACE_S);
	}
	if (phase == PH_HELPERS) {
		for (i = 0; i < NHELPERS; i++)
			if (helpers[i]->pid != 0)
				break;
		if (i == NHELPERS && zyg.pid == 0 && zyg.retired == 0)
			master_exit();
		if (now >= phase_deadline) {
			helpers_stop(SIGKILL);
			zygote_stop(SIGKILL);
			phase_deadline = now + TERM_GRACE_S;
		}
	}
}

/* ---- the loop ---- */

enum pref_kind { PK_LISTEN, PK_HELPER, PK_SESSION, PK_ZYGOTE };
struct pref {
	enum pref_kind	 kind;
	void		*ptr;
};

static void
raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)conf->max_sessions * 2 + 64;

	/* One control channel per session, plus bursts of accepts. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ?
	    want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur < want)
		log_warnx("RLIMIT_NOFILE %llu is low for max_sessions %u",
		    (unsigned long long)rl.rlim_cur, conf->max_sessions);
}

void
master_main(struct sc_config *initial, const char *text, size_t textlen)
{
	struct pollfd *pfd;
	struct pref *ref;
	struct session *s;
	struct timespec timeout = { 1, 0 };
	sigset_t empty;
	size_t cap, nfd, i;
	unsigned int l;
	int k, rc;

	if ((conf = malloc(sizeof(*conf))) == NULL)
		fatal("malloc");
	memcpy(conf, initial, sizeof(*conf));
	if ((conftext = malloc(textlen > 0 ? textlen : 1)) == NULL)
		fatal("malloc");
	memcpy(conftext, text, textlen);
	conftextlen = textlen;
	/* Serials stay unique across restarts: they name transcripts. */
	next_serial = now_ms();

	if (geteuid() != 0)
		log_info("running as uid %u, not root: development mode, "
		    "the children skip the user switch and chroot",
		    (unsigned)geteuid());
	/* Found now, not at the first connection. */
	if (access(session_program(), X_OK) == -1)
		fatal("%s (the worker program, needed for every session)",
		    session_program());
	raise_nofile();
	if (audit_open(conf->audit_log) == -1)
		fatalx("cannot open the audit log %s", conf->audit_log);
	signals_setup();
	listeners_open();
	helpers_init();
	for (i = 0; i < NHELPERS; i++) {
		if (!helper_wanted(helpers[i]) || helper_start(helpers[i]) == 0)
			continue;
		/*
		 * A keyd or authd instance: the others serve (one of each
		 * at least must run, checked below).  The router: sessions
		 * work without live delivery.
		 */
		if (helpers[i] == &router)
			log_warnx("cannot start the %s: messages reach online "
			    "users only at their next login until it runs",
			    helpers[i]->name);
		else
			log_warnx("cannot start %s", helpers[i]->name);
		audit_record("securechatd", "child_start_failed", "child",
		    helpers[i]->name, NULL);
		helpers[i]->started = mono_now();
		helper_schedule(helpers[i]);
	}
	if (pool_live(&keyds) == 0)
		fatalx("cannot start keyd");
	if (pool_live(&authds) == 0)
		fatalx("cannot start authd");
	log_info("%u keyd instance%s, %u authd instance%s", keyds.n,
	    keyds.n == 1 ? "" : "s", authds.n, authds.n == 1 ? "" : "s");
	audit_record("securechatd", "startup", "config", conf->path, NULL);
	if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
		watchdog_usec = 0;
	clock_gettime(CLOCK_MONOTONIC, &watchdog_last);
	(void)sd_notify(0, "READY=1");
	notify_status(1);
	log_info("ready");

	sigemptyset(&empty);
	cap = MAX_LISTEN_FDS + NHELPERS + conf->max_sessions + 2;
	pfd = calloc(cap, sizeof(*pfd));
	ref = calloc(cap, sizeof(*ref));
	if (pfd == NULL || ref == NULL)
		fatal("calloc");

	for (;;) {
		if (got_sigchld) {
			got_sigchld = 0;
			reap_children();
		}
		if (got_sighup) {
			got_sighup = 0;
			if (phase == PH_RUN)
				master_reload();
		}
		if (got_sigterm || phase != PH_RUN)
			shutdown_step();
		helpers_restart_due();
		zygote_due();
		sessions_timeouts();
		notify_status(0);
		watchdog_tick();
		audit_flush(0);

		/* max_sessions may have grown on reload. */
		if (cap < MAX_LISTEN_FDS + NHELPERS + (size_t)nsessions + 2) {
			cap = MAX_LISTEN_FDS + NHELPERS + (size_t)nsessions +
			    64;
			free(pfd);
			free(ref);
			pfd = calloc(cap, sizeof(*pfd));
			ref = calloc(cap, sizeof(*ref));
			if (pfd == NULL || ref == NULL)
				fatal("calloc");
		}
		nfd = 0;
		if (phase == PH_RUN && mono_now() >= accept_paused_until)
			for (l = 0; l < nlisten_fds; l++) {
				pfd[nfd].fd = listen_fds[l];
				pfd[nfd].events = POLLIN;
				ref[nfd].kind = PK_LISTEN;
				ref[nfd++].ptr = &listen_fds[l];
			}
		for (i = 0; i < NHELPERS; i++) {
			if (helpers[i]->ctl == -1)
				continue;
			pfd[nfd].fd = helpers[i]->ctl;
			pfd[nfd].events = POLLIN;
			ref[nfd].kind = PK_HELPER;
			ref[nfd++].ptr = helpers[i];
		}
		if (zyg.ctl != -1) {
			pfd[nfd].fd = zyg.ctl;
			pfd[nfd].events = POLLIN;
			ref[nfd].kind = PK_ZYGOTE;
			ref[nfd++].ptr = NULL;
		}
		TAILQ_FOREACH(s, &sessions, entry) {
			if (s->ctl == -1)
				continue;
			pfd[nfd].fd = s->ctl;
			pfd[nfd].events = POLLIN;
			ref[nfd].kind = PK_SESSION;
			ref[nfd++].ptr = s;
		}

		rc = ppoll(pfd, nfd, &timeout, &empty);
		if (rc == -1) {
			if (errno != EINTR)
				fatal("ppoll");
			continue;
		}
		for (i = 0; i < nfd && rc > 0; i++) {
			if (pfd[i].revents == 0)
				continue;
			switch (ref[i].kind) {
			case PK_LISTEN:
				for (k = 0; k < ACCEPT_BURST; k++)
					if (accept_one(*(int *)ref[i].ptr) ==
					    0)
						break;
				break;
			case PK_HELPER:
				if (((struct helper *)ref[i].ptr)->ctl ==
				    pfd[i].fd)
					helper_ctl_read(ref[i].ptr);
				break;
			case PK_SESSION:
				s = ref[i].ptr;
				if (s->ctl == pfd[i].fd)
					session_ctl_read(s);
				break;
			case PK_ZYGOTE:
				if (zyg.ctl == pfd[i].fd)
					zygote_ctl_read();
				break;
			}
		}
	}
}
