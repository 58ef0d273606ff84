/*
 * authd.c: the auth daemon.  The only process with the database
 * credentials and a database connection; it answers REGISTER and LOGIN
 * for the workers with a code, the account id and the canonical
 * username, never a hash or a salt.
 *
 * Started by the securechatd master with fork and exec, with the control
 * channel on descriptor 3.  It reads the database configuration as root,
 * connects once, drops privileges (common/privdrop.c), installs its
 * seccomp filter and then serves many worker channels from one poll
 * loop.  Requests go through a table (OpenSSH's mon_table): a request
 * type that is not in it, a malformed body, or a request in a state that
 * does not permit it is a protocol violation, and the worker that sent
 * it is killed; authd keeps serving the others.
 */
#include "authd.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "audit.h"
#include "buf.h"
#include "db.h"
#include "dbconf.h"
#include "ipc.h"
#include "log.h"
#include "password.h"
#include "privdrop.h"
#include "sandbox.h"

/* Expired throttling rows are deleted this often (seconds). */
#define AUTHD_HOUSEKEEPING	600

enum channel_state {
	CH_PREAUTH,		/* REGISTER / LOGIN permitted */
	CH_AUTHED,		/* one succeeded: nothing more to ask */
};

struct channel {
	int			 fd;
	uint64_t		 serial;
	char			 addr[AUTHD_ADDR_MAX + 1];
	enum channel_state	 state;
	unsigned int		 attempts;
	uint64_t		 account_id;
};

/* A handler answers the request and returns 0, or returns -1 when the
 * body is malformed (a protocol violation). */
typedef int (*req_handler)(struct channel *, struct ipc_msg *);

#define REQ_PREAUTH	0x01	/* only before a successful request */
#define REQ_COUNTED	0x02	/* counts towards AUTHD_MAX_ATTEMPTS */

static int	req_register(struct channel *, struct ipc_msg *);
static int	req_login(struct channel *, struct ipc_msg *);

static const struct authd_request {
	uint16_t	 type;
	const char	*name;
	int		 flags;
	req_handler	 handler;
} requests[] = {
	{ AUTHD_REQ_REGISTER, "register", REQ_PREAUTH | REQ_COUNTED,
	    req_register },
	{ AUTHD_REQ_LOGIN, "login", REQ_PREAUTH | REQ_COUNTED, req_login },
};

static struct authd_conf conf;
static struct pw_params pwparams;
static struct authdb *adb;
static struct channel *channels;
static size_t nchannels;
static volatile sig_atomic_t quit;

static void
usage(void)
{
	fprintf(stderr, "usage: authd -D dbconf [-dv] [-u user] [-j jail] "
	    "[-N log2n] [-r r] [-p p]\n"
	    "             [-R 0|1] [-F maxfail] [-W window]\n");
	exit(2);
}

static void
on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static unsigned int
num_arg(const char *s, unsigned int min, unsigned int max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		fatalx("%s: must be a number from %u to %u", what, min, max);
	return (unsigned int)v;
}

static void
audit(const char *event, const struct channel *ch, const char *user,
    const char *reason)
{
	char serial[24];

	snprintf(serial, sizeof(serial), "%" PRIu64, ch->serial);
	if (audit_emit(IPC_CTL_FD, event, "session_serial", serial,
	    "addr", ch->addr, "user", user != NULL ? user : "",
	    "reason", reason != NULL ? reason : "", NULL) == -1)
		log_warn("audit %s", event);
}

/* ---- channels ---- */

static struct channel *
channel_add(int fd, uint64_t serial, const char *addr)
{
	struct channel *ch;

	if (nchannels >= AUTHD_MAX_CHANNELS)
		return NULL;
	ch = &channels[nchannels++];
	memset(ch, 0, sizeof(*ch));
	ch->fd = fd;
	ch->serial = serial;
	strlcpy(ch->addr, addr, sizeof(ch->addr));
	ch->state = CH_PREAUTH;
	return ch;
}

static void
channel_close(size_t i)
{
	close(channels[i].fd);
	/* Keep the array dense: the poll set is rebuilt from it. */
	channels[i] = channels[nchannels - 1];
	memset(&channels[nchannels - 1], 0, sizeof(channels[0]));
	nchannels--;
}

/* Drop channel i and ask the master to kill the worker behind it. */
static void
violation(size_t i, const char *why, const char *what)
{
	struct channel *ch = &channels[i];
	uint8_t body[8];
	char serial[24];

	log_warnx("session %" PRIu64 " [%s]: %s%s; killing the worker",
	    ch->serial, ch->addr, why, what != NULL ? what : "");
	snprintf(serial, sizeof(serial), "%" PRIu64, ch->serial);
	if (audit_emit(IPC_CTL_FD, "authd_violation", "session_serial", serial,
	    "addr", ch->addr, "reason", why, NULL) == -1)
		log_warn("audit authd_violation");
	for (int k = 0; k < 8; k++)
		body[k] = (uint8_t)(ch->serial >> (56 - 8 * k));
	if (ipc_send(IPC_CTL_FD, AUTHD_CTL_KILL_WORKER, 0, body,
	    sizeof(body)) == -1)
		log_warn("control channel: kill worker");
	channel_close(i);
}

static int
send_result(struct channel *ch, uint32_t id, uint16_t code,
    uint64_t account_id, const char *user)
{
	struct wbuf b;
	int rv;

	wbuf_init(&b, IPC_MAX_BODY);
	if (code != AUTHD_RES_OK) {
		account_id = 0;
		user = "";
	}
	wbuf_put_u16(&b, code);
	wbuf_put_u64(&b, account_id);
	wbuf_put_str16(&b, user, strlen(user));
	if (b.err) {
		wbuf_free(&b);
		return -1;
	}
	if ((rv = ipc_send(ch->fd, AUTHD_RES_RESULT, id, b.data, b.len)) == -1)
		log_warn("session %" PRIu64 ": send result", ch->serial);
	wbuf_free(&b);
	return rv;
}

/*
 * A password may be any bytes but NUL.  scrypt keys HMAC-SHA256 with the
 * password, and HMAC pads a key shorter than its block with zeros: "pw"
 * and "pw\0" hash alike, so a NUL would silently not count.  Refusing it
 * keeps "the exact bytes, or nothing" true for every password.
 */
static int
password_bytes_ok(const uint8_t *pw, size_t len)
{
	return memchr(pw, '\0', len) == NULL;
}

static uint16_t
rc_to_code(enum authdb_rc rc)
{
	return rc == ADB_UNAVAILABLE ? AUTHD_RES_UNAVAILABLE :
	    AUTHD_RES_INTERNAL;
}

/* ---- requests ---- */

/*
 * REGISTER: str16 username, str16 email, str16 password, 32 cert_sha256.
 * Registration failures (USER_EXISTS) count against the source address,
 * so that probing which names exist is throttled like guessing
 * passwords.
 */
static int
req_register(struct channel *ch, struct ipc_msg *m)
{
	struct cursor c;
	const uint8_t *u, *e, *pw;
	size_t ulen, elen, pwlen;
	uint8_t cert[AUTHD_CERT_FP_LEN];
	char user[ACCOUNT_USER_MAX + 1], email[ACCOUNT_EMAIL_MAX + 1];
	struct pw_record rec;
	uint64_t id = 0;
	uint16_t code;
	enum authdb_rc rc;
	int limited = 0;
	const char *reason = NULL;

	memset(&rec, 0, sizeof(rec));
	cur_init(&c, m->body, m->len);
	u = cur_str16(&c, &ulen, AUTHD_FIELD_MAX);
	e = cur_str16(&c, &elen, AUTHD_FIELD_MAX);
	pw = cur_str16(&c, &pwlen, AUTHD_FIELD_MAX);
	cur_bytes(&c, cert, sizeof(cert));
	if (cur_done(&c) == -1)
		return -1;

	user[0] = '\0';
	if (!conf.reg_open) {
		code = AUTHD_RES_REG_CLOSED;
		reason = "registration closed";
		goto done;
	}
	if (account_username_canon(u, ulen, user) == -1 ||
	    account_email_check(e, elen) == -1 ||
	    account_password_check(pwlen) == -1 ||
	    !password_bytes_ok(pw, pwlen)) {
		code = AUTHD_RES_BAD_INPUT;
		reason = "bad input";
		goto done;
	}
	memcpy(email, e, elen);
	email[elen] = '\0';
	if ((rc = authdb_throttle_check(adb, AUTHDB_SCOPE_ADDR, ch->addr,
	    conf.maxfail, conf.window, &limited)) != ADB_OK) {
		code = rc_to_code(rc);
		reason = authdb_rc_str(rc);
		goto done;
	}
	if (limited) {
		audit("rate_limited", ch, user, "address");
		code = AUTHD_RES_RATE_LIMITED;
		reason = "rate limited";
		goto done;
	}
	if (pw_hash(&pwparams, pw, pwlen, &rec) == -1) {
		code = AUTHD_RES_INTERNAL;
		reason = "password hashing failed";
		goto done;
	}
	rc = authdb_user_create(adb, user, email, &rec, cert, &id);
	switch (rc) {
	case ADB_OK:
		code = AUTHD_RES_OK;
		ch->state = CH_AUTHED;
		ch->account_id = id;
		break;
	case ADB_DUP:
		code = AUTHD_RES_USER_EXISTS;
		reason = "username or email taken";
		if (authdb_throttle_fail(adb, AUTHDB_SCOPE_ADDR, ch->addr,
		    conf.window) != ADB_OK)
			log_warnx("session %" PRIu64 ": failure not counted",
			    ch->serial);
		break;
	default:
		code = rc_to_code(rc);
		reason = authdb_rc_str(rc);
		break;
	}
 done:
	pw_record_clear(&rec);
	if (code == AUTHD_RES_OK) {
		log_info("session %" PRIu64 " [%s]: registered %s (id %" PRIu64
		    ")", ch->serial, ch->addr, user, id);
		audit("register_ok", ch, user, NULL);
	} else {
		log_info("session %" PRIu64 " [%s]: registration refused: %s",
		    ch->serial, ch->addr, reason);
		audit("register_fail", ch, user, reason);
	}
	explicit_bzero(email, sizeof(email));
	(void)send_result(ch, m->hdr.id, code, id, user);
	return 0;
}

/*
 * LOGIN: str16 username, str16 password, 32 cert_sha256.  Unknown user,
 * wrong password and disabled account give the same AUTH_FAIL after the
 * same scrypt work; the audit log alone says which it was.
 */
static int
req_login(struct channel *ch, struct ipc_msg *m)
{
	struct cursor c;
	const uint8_t *u, *pw;
	size_t ulen, pwlen;
	uint8_t cert[AUTHD_CERT_FP_LEN];
	char user[ACCOUNT_USER_MAX + 1];
	struct authdb_user dbu;
	struct pw_record up;
	const struct pw_record *rec = NULL;
	uint16_t code;
	enum authdb_rc rc;
	int limited_user = 0, limited_addr = 0, ok, upgraded = 0, bound = 0;
	const char *reason = NULL;

	memset(&dbu, 0, sizeof(dbu));
	memset(&up, 0, sizeof(up));
	cur_init(&c, m->body, m->len);
	u = cur_str16(&c, &ulen, AUTHD_FIELD_MAX);
	pw = cur_str16(&c, &pwlen, AUTHD_FIELD_MAX);
	cur_bytes(&c, cert, sizeof(cert));
	if (cur_done(&c) == -1)
		return -1;

	/*
	 * New passwords need 8 bytes, but an imported seed account may
	 * have a shorter one: a login only needs a non-empty password
	 * within the upper bound.
	 */
	if (account_username_canon(u, ulen, user) == -1 || pwlen < 1 ||
	    pwlen > ACCOUNT_PASS_MAX || !password_bytes_ok(pw, pwlen)) {
		code = AUTHD_RES_BAD_INPUT;
		reason = "bad input";
		audit("login_fail", ch, "", reason);
		goto done;
	}
	/* Refuse before any scrypt work: throttling also protects the CPU. */
	if ((rc = authdb_throttle_check(adb, AUTHDB_SCOPE_USER, user,
	    conf.maxfail, conf.window, &limited_user)) != ADB_OK ||
	    (rc = authdb_throttle_check(adb, AUTHDB_SCOPE_ADDR, ch->addr,
	    conf.maxfail, conf.window, &limited_addr)) != ADB_OK) {
		code = rc_to_code(rc);
		reason = authdb_rc_str(rc);
		audit("login_fail", ch, user, reason);
		goto done;
	}
	if (limited_user || limited_addr) {
		code = AUTHD_RES_RATE_LIMITED;
		reason = limited_user ? "account" : "address";
		audit("rate_limited", ch, user, reason);
		goto done;
	}
	rc = authdb_user_get(adb, user, &dbu);
	if (rc == ADB_OK)
		rec = &dbu.pw;
	else if (rc != ADB_NOTFOUND) {
		code = rc_to_code(rc);
		reason = authdb_rc_str(rc);
		audit("login_fail", ch, user, reason);
		goto done;
	}
	if ((ok = pw_check(rec, &pwparams, pw, pwlen, &up, &upgraded)) == -1) {
		code = AUTHD_RES_INTERNAL;
		reason = "password record unusable";
		audit("login_fail", ch, user, reason);
		goto done;
	}
	if (ok != 1 || rec == NULL || dbu.disabled) {
		code = AUTHD_RES_AUTH_FAIL;
		reason = rec == NULL ? "unknown user" : ok != 1 ?
		    "wrong password" : "account disabled";
		audit("login_fail", ch, user, reason);
		if (authdb_throttle_fail(adb, AUTHDB_SCOPE_USER, user,
		    conf.window) != ADB_OK ||
		    authdb_throttle_fail(adb, AUTHDB_SCOPE_ADDR, ch->addr,
		    conf.window) != ADB_OK)
			log_warnx("session %" PRIu64 ": failure not counted",
			    ch->serial);
		goto done;
	}

	/* Success: what follows is bookkeeping and does not undo it. */
	code = AUTHD_RES_OK;
	ch->state = CH_AUTHED;
	ch->account_id = dbu.id;
	if (authdb_throttle_reset(adb, AUTHDB_SCOPE_USER, user) != ADB_OK)
		log_warnx("session %" PRIu64 ": throttle reset failed",
		    ch->serial);
	if (upgraded) {
		rc = authdb_user_rehash(adb, dbu.id, &dbu.pw, &up);
		if (rc == ADB_OK)
			log_info("user %s: password hash upgraded to %s "
			    "(N=%" PRIu64 " r=%u p=%u)", user,
			    pw_kdf_name(up.kdf), up.params.N, up.params.r,
			    up.params.p);
		else
			log_warnx("user %s: password upgrade not stored: %s",
			    user, authdb_rc_str(rc));
	}
	if (authdb_login_record(adb, dbu.id, cert, &bound) != ADB_OK)
		log_warnx("user %s: last login not recorded", user);
	/* Certificate binding is recorded at registration and reported
	 * here; enforcing it is left to the certificate-binding issue. */
	audit("login_ok", ch, user, bound ? "certificate bound" :
	    "certificate not bound to the account");
 done:
	if (code == AUTHD_RES_OK)
		log_info("session %" PRIu64 " [%s]: login %s (id %" PRIu64 ")",
		    ch->serial, ch->addr, user, dbu.id);
	else
		log_info("session %" PRIu64 " [%s]: login refused: %s",
		    ch->serial, ch->addr, reason);
	(void)send_result(ch, m->hdr.id, code, dbu.id, user);
	pw_record_clear(&dbu.pw);
	pw_record_clear(&up);
	return 0;
}

/* One message from worker channel i; the channel may be gone after. */
static void
channel_dispatch(size_t i)
{
	static struct ipc_msg m;	/* 32 KiB: not on the stack */
	struct channel *ch = &channels[i];
	const struct authd_request *req = NULL;
	char what[32];
	size_t k;
	int r;

	if ((r = ipc_recv(ch->fd, &m, 0)) == 0) {
		log_debug("session %" PRIu64 ": channel closed", ch->serial);
		channel_close(i);
		return;
	}
	if (r == -1) {
		if (errno == EBADMSG)
			violation(i, "malformed message", NULL);
		else {
			log_warn("session %" PRIu64 ": receive", ch->serial);
			channel_close(i);
		}
		return;
	}
	for (k = 0; k < sizeof(requests) / sizeof(requests[0]); k++)
		if (requests[k].type == m.hdr.type)
			req = &requests[k];
	if (req == NULL) {
		snprintf(what, sizeof(what), " %u", (unsigned)m.hdr.type);
		violation(i, "unknown request type", what);
		goto out;
	}
	if ((req->flags & REQ_PREAUTH) && ch->state != CH_PREAUTH) {
		violation(i, "request after a successful one: ", req->name);
		goto out;
	}
	if ((req->flags & REQ_COUNTED) && ch->attempts >= AUTHD_MAX_ATTEMPTS) {
		violation(i, "too many attempts on one channel: ", req->name);
		goto out;
	}
	if (req->flags & REQ_COUNTED)
		ch->attempts++;
	log_debug("session %" PRIu64 ": %s", ch->serial, req->name);
	if (req->handler(ch, &m) == -1)
		violation(i, "malformed body: ", req->name);
 out:
	/* The body held a password. */
	ipc_msg_clear(&m);
}

/* ---- control channel ---- */

static int
addr_ok(const uint8_t *p, size_t len)
{
	size_t i;

	if (len < 1 || len > AUTHD_ADDR_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return 0;
	return 1;
}

/* Returns -1 when the master has gone away: time to exit. */
static int
control_dispatch(void)
{
	static struct ipc_msg m;
	struct cursor c;
	const uint8_t *a;
	size_t alen;
	uint64_t serial;
	char addr[AUTHD_ADDR_MAX + 1];
	int r;

	if ((r = ipc_recv(IPC_CTL_FD, &m, 1)) == 0) {
		log_info("control channel closed: exiting");
		return -1;
	}
	if (r == -1) {
		if (errno == EBADMSG) {
			log_warnx("control channel: malformed message");
			return 0;
		}
		log_warn("control channel");
		return -1;
	}
	if (m.hdr.type != AUTHD_CTL_NEW_CHANNEL) {
		log_warnx("control channel: unexpected message type %u",
		    (unsigned)m.hdr.type);
		goto drop;
	}
	cur_init(&c, m.body, m.len);
	serial = cur_u64(&c);
	a = cur_str16(&c, &alen, AUTHD_ADDR_MAX);
	if (cur_done(&c) == -1 || m.fd == -1 || !addr_ok(a, alen)) {
		log_warnx("control channel: malformed NEW_CHANNEL");
		goto drop;
	}
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	if (channel_add(m.fd, serial, addr) == NULL) {
		/* The worker sees its channel close and reports it. */
		log_warnx("session %" PRIu64 ": %d channels open, refusing "
		    "another", serial, AUTHD_MAX_CHANNELS);
		goto drop;
	}
	log_debug("session %" PRIu64 " [%s]: new channel", serial, addr);
	return 0;
 drop:
	if (m.fd != -1)
		close(m.fd);
	return 0;
}

static void
serve(void)
{
	struct pollfd *pfd;
	struct timespec now, last;
	size_t i, n;
	int r;

	if ((pfd = calloc(AUTHD_MAX_CHANNELS + 1, sizeof(*pfd))) == NULL)
		fatal("calloc");
	clock_gettime(CLOCK_MONOTONIC, &last);
	while (!quit) {
		pfd[0].fd = IPC_CTL_FD;
		pfd[0].events = POLLIN;
		n = nchannels;
		for (i = 0; i < n; i++) {
			pfd[i + 1].fd = channels[i].fd;
			pfd[i + 1].events = POLLIN;
			pfd[i + 1].revents = 0;
		}
		r = poll(pfd, n + 1, 60 * 1000);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - last.tv_sec >= AUTHD_HOUSEKEEPING) {
			last = now;
			(void)authdb_throttle_expire(adb, conf.window);
		}
		/*
		 * Serve the channels from the last to the first:
		 * channel_close() moves the last entry into the freed slot,
		 * which has then already been served.
		 */
		for (i = n; i > 0; i--)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR |
			    POLLNVAL))
				channel_dispatch(i - 1);
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
			if (control_dispatch() == -1)
				break;
	}
	free(pfd);
}

int
authd_main(int argc, char **argv)
{
	struct dbconf dbc;
	struct privdrop_spec spec;
	struct sigaction sa;
	int ch;

	memset(&conf, 0, sizeof(conf));
	conf.user = AUTHD_USER;
	conf.jail = AUTHD_JAIL;
	conf.log2n = PW_DEFAULT_LOG2N;
	conf.r = PW_DEFAULT_R;
	conf.p = PW_DEFAULT_P;
	conf.reg_open = 1;
	conf.maxfail = AUTHD_MAXFAIL;
	conf.window = AUTHD_WINDOW;
	while ((ch = getopt(argc, argv, "D:dF:j:N:p:R:r:u:vW:")) != -1) {
		switch (ch) {
		case 'D':
			conf.dbconf_path = optarg;
			break;
		case 'd':
			conf.foreground = 1;
			break;
		case 'F':
			conf.maxfail = num_arg(optarg, 1, 1000000, "-F");
			break;
		case 'j':
			conf.jail = optarg;
			break;
		case 'N':
			conf.log2n = num_arg(optarg, PW_MIN_LOG2N, PW_MAX_LOG2N,
			    "-N");
			break;
		case 'p':
			conf.p = num_arg(optarg, 1, PW_MAX_P, "-p");
			break;
		case 'R':
			conf.reg_open = (int)num_arg(optarg, 0, 1, "-R");
			break;
		case 'r':
			conf.r = num_arg(optarg, 1, PW_MAX_R, "-r");
			break;
		case 'u':
			conf.user = optarg;
			break;
		case 'v':
			conf.verbose++;
			break;
		case 'W':
			conf.window = num_arg(optarg, 1, 86400 * 7, "-W");
			break;
		default:
			usage();
		}
	}
	if (optind != argc || conf.dbconf_path == NULL)
		usage();

	log_init(conf.foreground, conf.verbose, LOG_DAEMON);
	log_procinit("authd");
	if (fcntl(IPC_CTL_FD, F_GETFD) == -1)
		fatalx("no control channel on descriptor %d: authd is started "
		    "by securechatd", IPC_CTL_FD);
	/* Whatever else the parent left open is not ours to hold. */
	closefrom(IPC_CTL_FD + 1);

	if (pw_params_set(&pwparams, conf.log2n, conf.r, conf.p) == -1)
		fatalx("scrypt parameters N=2^%u r=%u p=%u out of bounds "
		    "(memory 128*r*N at most %llu bytes)", conf.log2n, conf.r,
		    conf.p, (unsigned long long)PW_MAX_MEM);
	if (conf.log2n < PW_DEFAULT_LOG2N || conf.r < PW_DEFAULT_R)
		log_info("scrypt parameters lowered by configuration: N=2^%u "
		    "r=%u p=%u", conf.log2n, conf.r, conf.p);

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		fatal("sigaction");
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1)
		fatal("sigaction");

	/* The secret is read as root, before anything else happens. */
	if (dbconf_load(conf.dbconf_path, &dbc) == -1)
		fatalx("cannot use database configuration %s",
		    conf.dbconf_path);
	if (dbc.socket[0] != '\0')
		log_warnx("%s uses a unix socket: it is unreachable from the "
		    "chroot, so reconnects will fail; use host = 127.0.0.1",
		    conf.dbconf_path);
	adb = authdb_new(&dbc);
	dbconf_clear(&dbc);
	if (adb == NULL)
		fatal("authdb_new");
	if ((channels = calloc(AUTHD_MAX_CHANNELS, sizeof(*channels))) == NULL)
		fatal("calloc");
	/*
	 * Connect before the drop: the client library loads what it needs
	 * from the file system while it still can.  A database that is
	 * down now is not fatal; requests retry and answer UNAVAILABLE.
	 */
	if (authdb_connect(adb) != ADB_OK)
		log_warnx("database not reachable at start-up; will retry");

	memset(&spec, 0, sizeof(spec));
	spec.user = conf.user;
	spec.jail = conf.jail;
	spec.keep_stderr = conf.foreground;
	spec.max_files = AUTHD_MAX_CHANNELS + 16;
	if (privdrop(&spec) == -1)
		fatalx("privilege drop failed");
	if (sandbox_apply(SANDBOX_AUTHD) == -1)
		fatalx("sandbox failed");
	log_info("started: scrypt N=2^%u r=%u p=%u, registration %s, "
	    "throttling %u failures per %u s", conf.log2n, conf.r, conf.p,
	    conf.reg_open ? "open" : "closed", conf.maxfail, conf.window);

	serve();

	while (nchannels > 0)
		channel_close(nchannels - 1);
	free(channels);
	authdb_free(adb);
	log_info("exiting");
	return 0;
}

int
main(int argc, char **argv)
{
	return authd_main(argc, argv);
}
