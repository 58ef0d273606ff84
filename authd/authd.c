/*
 * authd.c: the auth daemon.  The only process with the database
 * credentials and a database connection; it answers REGISTER and LOGIN
 * for the workers with a code, the account id and the canonical
 * username, never a hash or a salt, binds accounts to client
 * certificates, and, for a channel whose login succeeded, keeps the
 * durable message store (envelopes it cannot read, their delivery state),
 * rooms and their members, and the per-user message rate
 * (docs/ARCHITECTURE.md "Messaging").
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

#include <openssl/crypto.h>

#include "account.h"
#include "audit.h"
#include "buf.h"
#include "db.h"
#include "dbconf.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include "msg.h"
#include "password.h"
#include "privdrop.h"
#include "sandbox.h"

/* Expired throttling rows are deleted this often (seconds). */
#define AUTHD_HOUSEKEEPING	600
/* Expired messages are deleted at start and this often (seconds). */
#define AUTHD_EXPIRY_INTERVAL	3600
/* Certificates of a room's members considered by a STORE check. */
#define AUTHD_ROOM_CERTS_MAX	1024

enum channel_state {
	CH_PREAUTH,		/* REGISTER / LOGIN permitted */
	CH_AUTHED,		/* one succeeded: the messaging requests */
};

struct channel {
	int			 fd;
	uint64_t		 serial;
	char			 addr[AUTHD_ADDR_MAX + 1];
	enum channel_state	 state;
	unsigned int		 attempts;
	/* CH_AUTHED: who this channel speaks for, set by authd alone. */
	uint64_t		 account_id;
	char			 user[ACCOUNT_USER_MAX + 1];
	uint8_t			 cert_fp[AUTHD_CERT_FP_LEN];
};

/*
 * A handler gets the request decoded and checked for form (msg.c: a
 * malformed one never reaches it) and answers it, with the request's id.
 */
typedef void (*req_handler)(struct channel *, const struct authd_req *,
    uint32_t id);

#define REQ_PREAUTH	0x01	/* only before a successful request */
#define REQ_COUNTED	0x02	/* counts towards AUTHD_MAX_ATTEMPTS */
#define REQ_AUTHED	0x04	/* only after a successful REGISTER/LOGIN */

static void	req_register(struct channel *, const struct authd_req *,
	    uint32_t);
static void	req_login(struct channel *, const struct authd_req *,
	    uint32_t);
static void	req_certs(struct channel *, const struct authd_req *,
	    uint32_t);
static void	req_store(struct channel *, const struct authd_req *,
	    uint32_t);
static void	req_fetch(struct channel *, const struct authd_req *,
	    uint32_t);
static void	req_ack(struct channel *, const struct authd_req *,
	    uint32_t);
static void	req_join(struct channel *, const struct authd_req *,
	    uint32_t);
static void	req_leave(struct channel *, const struct authd_req *,
	    uint32_t);
static void	req_rooms(struct channel *, const struct authd_req *,
	    uint32_t);
static void	req_members(struct channel *, const struct authd_req *,
	    uint32_t);

static const struct authd_request {
	uint16_t	 type;
	const char	*name;
	int		 flags;
	req_handler	 handler;
} requests[] = {
	{ AUTHD_REQ_REGISTER, "register", REQ_PREAUTH | REQ_COUNTED,
	    req_register },
	{ AUTHD_REQ_LOGIN, "login", REQ_PREAUTH | REQ_COUNTED, req_login },
	{ AUTHD_REQ_CERTS, "certs", REQ_AUTHED, req_certs },
	{ AUTHD_REQ_STORE, "store", REQ_AUTHED, req_store },
	{ AUTHD_REQ_FETCH, "fetch", REQ_AUTHED, req_fetch },
	{ AUTHD_REQ_ACK, "ack", REQ_AUTHED, req_ack },
	{ AUTHD_REQ_JOIN, "join", REQ_AUTHED, req_join },
	{ AUTHD_REQ_LEAVE, "leave", REQ_AUTHED, req_leave },
	{ AUTHD_REQ_ROOMS, "rooms", REQ_AUTHED, req_rooms },
	{ AUTHD_REQ_MEMBERS, "members", REQ_AUTHED, req_members },
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
	    "             [-R 0|1] [-F maxfail] [-W window] [-C 0|1]\n"
	    "             [-M rate] [-B burst] [-Q queue] [-S roomsize] "
	    "[-E days]\n");
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

/* Send the reply in b (built by a handler) with the request's id. */
static int
send_reply(struct channel *ch, uint16_t type, uint32_t id, struct wbuf *b)
{
	int rv;

	if (b->err) {
		log_warnx("session %" PRIu64 ": reply %u does not fit",
		    ch->serial, (unsigned)type);
		return -1;
	}
	if ((rv = ipc_send(ch->fd, type, id, b->data, b->len)) == -1)
		log_warn("session %" PRIu64 ": send reply", ch->serial);
	return rv;
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
	rv = send_reply(ch, AUTHD_RES_RESULT, id, &b);
	wbuf_free(&b);
	return rv;
}

/* A reply that is only a code (JOIN, LEAVE) or a code and fields left
 * empty (every refusal). */
static void
send_code(struct channel *ch, uint16_t type, uint32_t id, uint16_t code)
{
	struct wbuf b;

	wbuf_init(&b, 64);
	wbuf_put_u16(&b, code);
	switch (type) {
	case AUTHD_RES_CERTS:
		wbuf_put_u8(&b, 0);
		break;
	case AUTHD_RES_STORE:
		wbuf_put_u64(&b, 0);
		break;
	case AUTHD_RES_FETCH:
		wbuf_put_u8(&b, 0);
		wbuf_put_u64(&b, 0);
		wbuf_put_str16(&b, "", 0);
		wbuf_put_str32(&b, "", 0);
		break;
	case AUTHD_RES_ACK:
		wbuf_put_str16(&b, "", 0);
		break;
	case AUTHD_RES_ROOMS:
	case AUTHD_RES_MEMBERS:
		wbuf_put_u16(&b, 0);
		break;
	default:
		break;
	}
	(void)send_reply(ch, type, id, &b);
	wbuf_free(&b);
}

static uint16_t
rc_to_code(enum authdb_rc rc)
{
	return rc == ADB_UNAVAILABLE ? AUTHD_RES_UNAVAILABLE :
	    AUTHD_RES_INTERNAL;
}

/* ---- certificates ---- */

/*
 * Tell the master who this session is (AUTHD_CTL_AUTHENTICATED) and
 * remember it for the channel's messaging requests.  The master binds
 * the session's router channel from this message, never from the
 * worker.  Returns -1 when the master cannot be told: the login then
 * fails, since the session could not be bound.
 */
static int
authenticated(struct channel *ch, uint64_t account_id, const char *user,
    const uint8_t fp[AUTHD_CERT_FP_LEN])
{
	struct wbuf b;
	int rv;

	wbuf_init(&b, 128);
	wbuf_put_u64(&b, ch->serial);
	wbuf_put_u64(&b, account_id);
	wbuf_put_str16(&b, user, strlen(user));
	wbuf_put(&b, fp, AUTHD_CERT_FP_LEN);
	if (b.err)
		rv = -1;
	else
		rv = ipc_send(IPC_CTL_FD, AUTHD_CTL_AUTHENTICATED, 0, b.data,
		    b.len);
	wbuf_free(&b);
	if (rv == -1) {
		log_warn("session %" PRIu64 ": control channel: "
		    "authenticated", ch->serial);
		return -1;
	}
	ch->state = CH_AUTHED;
	ch->account_id = account_id;
	strlcpy(ch->user, user, sizeof(ch->user));
	memcpy(ch->cert_fp, fp, AUTHD_CERT_FP_LEN);
	return 0;
}

/* ---- requests ---- */

/*
 * REGISTER: str16 username, str16 email, str16 password, 32 cert_sha256,
 * str16 cert_der (optional during the transition, see authd.h).
 * Registration failures (USER_EXISTS) count against the source address,
 * so that probing which names exist is throttled like guessing
 * passwords.
 */
static void
req_register(struct channel *ch, const struct authd_req *rq, uint32_t reqid)
{
	const struct authd_req_auth *r = &rq->u.auth;
	const char *user = "";
	struct pw_record rec;
	uint64_t id = 0;
	uint16_t code;
	enum authdb_rc rc;
	int limited = 0;
	const char *reason = NULL;

	memset(&rec, 0, sizeof(rec));
	if (!conf.reg_open) {
		code = AUTHD_RES_REG_CLOSED;
		reason = "registration closed";
		goto done;
	}
	if (rq->bad != NULL) {
		code = AUTHD_RES_BAD_INPUT;
		reason = rq->bad;
		goto done;
	}
	user = r->canon;
	/* The certificate names its owner: it must be this account. */
	if (r->der != NULL && conf.cert_strict && strcmp(r->cn, user) != 0) {
		code = AUTHD_RES_BAD_INPUT;
		reason = "certificate CN does not match username";
		goto done;
	}
	if (r->der == NULL)
		log_info("session %" PRIu64 ": REGISTER without the "
		    "certificate (transitional worker): binding the "
		    "fingerprint only", ch->serial);
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
	if (pw_hash(&pwparams, r->pw, r->pwlen, &rec) == -1) {
		code = AUTHD_RES_INTERNAL;
		reason = "password hashing failed";
		goto done;
	}
	rc = authdb_user_create(adb, user, r->email_str, &rec, r->cert_fp,
	    r->der, r->derlen, &id);
	switch (rc) {
	case ADB_OK:
		code = AUTHD_RES_OK;
		if (authenticated(ch, id, user, r->cert_fp) == -1) {
			code = AUTHD_RES_INTERNAL;
			reason = "master unreachable";
		}
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
		audit("register_ok", ch, user, r->der != NULL ?
		    "certificate bound" : "certificate fingerprint bound");
	} else {
		log_info("session %" PRIu64 " [%s]: registration refused: %s",
		    ch->serial, ch->addr, reason);
		audit("register_fail", ch, user, reason);
	}
	(void)send_result(ch, reqid, code, id, user);
}

/*
 * The certificate part of a successful password check.  Returns the
 * code (OK, or AUTH_FAIL / INTERNAL / UNAVAILABLE) and the audit note.
 */
static uint16_t
login_cert(struct channel *ch, const char *user, uint64_t id,
    const uint8_t cert[AUTHD_CERT_FP_LEN], const uint8_t *der, size_t derlen,
    const char *cn, const char **note)
{
	enum authdb_rc rc;
	uint64_t nbound = 0;
	int bound = 0, has_der = 0;

	if ((rc = authdb_cert_lookup(adb, id, cert, &bound, &has_der,
	    &nbound)) != ADB_OK) {
		*note = authdb_rc_str(rc);
		return rc_to_code(rc);
	}
	if (bound) {
		*note = "certificate bound";
		/* Bound by fingerprint under schema 1: learn its DER. */
		if (!has_der && der != NULL && authdb_cert_bind(adb, id, cert,
		    der, derlen) != ADB_OK)
			log_warnx("user %s: certificate not stored", user);
		return AUTHD_RES_OK;
	}
	if (nbound == 0) {
		/*
		 * An account without any certificate (imported from the
		 * seed) binds the one of its first login: there is no
		 * other to compare with.  The administrator avoids this
		 * by binding one first (sc-admin user add-cert).
		 */
		if (der != NULL && conf.cert_strict && strcmp(cn, user) != 0) {
			*note = "certificate CN does not match username";
			return AUTHD_RES_AUTH_FAIL;
		}
		if ((rc = authdb_cert_bind(adb, id, cert, der, derlen)) !=
		    ADB_OK) {
			*note = authdb_rc_str(rc);
			return rc_to_code(rc);
		}
		log_info("session %" PRIu64 ": user %s: first certificate "
		    "bound at login", ch->serial, user);
		*note = "certificate bound at first login";
		return AUTHD_RES_OK;
	}
	if (conf.cert_strict) {
		*note = "certificate not bound";
		return AUTHD_RES_AUTH_FAIL;
	}
	/* -C 0: allowed and noted, never bound (see authd.h). */
	*note = "certificate not bound to the account";
	return AUTHD_RES_OK;
}

/*
 * LOGIN: str16 username, str16 password, 32 cert_sha256, str16 cert_der
 * (optional during the transition).  Unknown user, wrong password,
 * disabled account and (unless -C 0) a certificate not bound to the
 * account give the same AUTH_FAIL after the same scrypt work; the audit
 * log alone says which it was.
 */
static void
req_login(struct channel *ch, const struct authd_req *rq, uint32_t reqid)
{
	const struct authd_req_auth *r = &rq->u.auth;
	const char *user = r->canon;
	struct authdb_user dbu;
	struct pw_record up;
	const struct pw_record *rec = NULL;
	uint16_t code;
	enum authdb_rc rc;
	int limited_user = 0, limited_addr = 0, ok, upgraded = 0;
	const char *reason = NULL, *note = NULL;

	memset(&dbu, 0, sizeof(dbu));
	memset(&up, 0, sizeof(up));
	if (rq->bad != NULL) {
		code = AUTHD_RES_BAD_INPUT;
		reason = rq->bad;
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
	if ((ok = pw_check(rec, &pwparams, r->pw, r->pwlen, &up,
	    &upgraded)) == -1) {
		code = AUTHD_RES_INTERNAL;
		reason = "password record unusable";
		audit("login_fail", ch, user, reason);
		goto done;
	}
	if (ok == 1 && rec != NULL && !dbu.disabled) {
		/* The password is right: now the certificate. */
		code = login_cert(ch, user, dbu.id, r->cert_fp, r->der,
		    r->derlen, r->cn, &note);
		if (code != AUTHD_RES_OK && code != AUTHD_RES_AUTH_FAIL) {
			reason = note;
			audit("login_fail", ch, user, reason);
			goto done;
		}
	} else
		code = AUTHD_RES_AUTH_FAIL;
	if (code == AUTHD_RES_AUTH_FAIL) {
		reason = rec == NULL ? "unknown user" : ok != 1 ?
		    "wrong password" : dbu.disabled ? "account disabled" :
		    note;
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
	if (authenticated(ch, dbu.id, user, r->cert_fp) == -1) {
		code = AUTHD_RES_INTERNAL;
		reason = "master unreachable";
		audit("login_fail", ch, user, reason);
		goto done;
	}
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
	if (authdb_login_record(adb, dbu.id) != ADB_OK)
		log_warnx("user %s: last login not recorded", user);
	audit("login_ok", ch, user, note);
 done:
	if (code == AUTHD_RES_OK)
		log_info("session %" PRIu64 " [%s]: login %s (id %" PRIu64 ")",
		    ch->serial, ch->addr, user, dbu.id);
	else
		log_info("session %" PRIu64 " [%s]: login refused: %s",
		    ch->serial, ch->addr, reason);
	(void)send_result(ch, reqid, code, dbu.id, user);
	pw_record_clear(&dbu.pw);
	pw_record_clear(&up);
}

/* ---- messaging requests (after a successful REGISTER or LOGIN) ---- */

/* Audit a refusal of the channel's user's request; 'what' is the event. */
static void
refused(struct channel *ch, const char *event, const char *reason)
{
	log_info("session %" PRIu64 " [%s]: %s %s: %s", ch->serial, ch->addr,
	    ch->user, event, reason);
	audit(event, ch, ch->user, reason);
}

/* Is user id among the names? */
static int
names_has(const struct authdb_names *l, uint64_t id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].id == id)
			return 1;
	return 0;
}

/*
 * The room and its members, for a request of the channel's user, who
 * must be one of them.  Returns the code; on OK *room_id and members.
 */
static uint16_t
room_of_member(struct channel *ch, const char *room, uint64_t *room_id,
    struct authdb_names *members, const char **reason)
{
	enum authdb_rc rc;

	memset(members, 0, sizeof(*members));
	if ((rc = authdb_room_id(adb, room, room_id)) == ADB_NOTFOUND) {
		*reason = "no such room";
		return AUTHD_RES_BAD_INPUT;
	}
	if (rc == ADB_OK)
		rc = authdb_room_members(adb, *room_id, AUTHD_ROOM_SIZE_MAX,
		    members);
	if (rc != ADB_OK) {
		*reason = authdb_rc_str(rc);
		return rc_to_code(rc);
	}
	if (!names_has(members, ch->account_id)) {
		authdb_names_free(members);
		*reason = "not a member of the room";
		return AUTHD_RES_BAD_INPUT;
	}
	return AUTHD_RES_OK;
}

/* CERTS: str16 name (a username or a room of the channel's user). */
static void
req_certs(struct channel *ch, const struct authd_req *rq, uint32_t reqid)
{
	struct authdb_certs certs;
	struct authdb_names members;
	struct wbuf b;
	size_t i;
	uint64_t id = 0;
	uint16_t code = AUTHD_RES_OK;
	enum authdb_rc rc;
	const char *reason = NULL;

	memset(&certs, 0, sizeof(certs));
	memset(&members, 0, sizeof(members));
	if (rq->bad != NULL) {
		code = AUTHD_RES_BAD_INPUT;
		reason = rq->bad;
		goto done;
	}
	if (rq->u.certs.is_room) {
		if ((code = room_of_member(ch, rq->u.certs.room, &id, &members,
		    &reason)) != AUTHD_RES_OK)
			goto done;
		rc = authdb_room_certs(adb, id, 1, AUTHD_CERTS_MAX, &certs);
	} else {
		if ((rc = authdb_user_id(adb, rq->u.certs.user, &id)) ==
		    ADB_NOTFOUND) {
			code = AUTHD_RES_BAD_INPUT;
			reason = "no such user";
			goto done;
		}
		if (rc == ADB_OK)
			rc = authdb_user_certs(adb, id, 1, AUTHD_CERTS_MAX,
			    &certs);
	}
	if (rc == ADB_TOOMANY) {
		code = AUTHD_RES_TOO_LARGE;
		reason = "more certificates than one envelope can name";
		goto done;
	}
	if (rc != ADB_OK) {
		code = rc_to_code(rc);
		reason = authdb_rc_str(rc);
		goto done;
	}
	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_u16(&b, AUTHD_RES_OK);
	wbuf_put_u8(&b, (uint8_t)certs.n);
	for (i = 0; i < certs.n; i++) {
		wbuf_put_str16(&b, certs.v[i].username,
		    strlen(certs.v[i].username));
		wbuf_put_str16(&b, certs.v[i].der, certs.v[i].derlen);
	}
	if (b.err) {
		/* Never a partial list: a sender would leave someone out. */
		wbuf_free(&b);
		code = AUTHD_RES_TOO_LARGE;
		reason = "certificates do not fit one message";
		goto done;
	}
	(void)send_reply(ch, AUTHD_RES_CERTS, reqid, &b);
	wbuf_free(&b);
 done:
	if (code != AUTHD_RES_OK) {
		refused(ch, "certs_refused", reason);
		send_code(ch, AUTHD_RES_CERTS, reqid, code);
	}
	authdb_certs_free(&certs);
	authdb_names_free(&members);
}

/* Is (name, fp) a certificate bound to that user, among the rows? */
static int
peers_has(const struct authdb_peers *l, const char *name, const uint8_t *fp)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].has_cert &&
		    memcmp(l->v[i].fp, fp, AUTHD_CERT_FP_LEN) == 0 &&
		    strcmp(l->v[i].username, name) == 0)
			return 1;
	return 0;
}

/* Is user id among the rows (a member, for a room)? */
static int
peers_has_user(const struct authdb_peers *l, uint64_t id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].user_id == id)
			return 1;
	return 0;
}

/* The undelivered messages of user id, from its rows. */
static uint64_t
peers_queued(const struct authdb_peers *l, uint64_t id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].user_id == id)
			return l->v[i].queued;
	return 0;
}

/* Is fp among the envelope's recipient entries? */
static int
rcpt_has_fp(const struct env_header *h, const uint8_t *fp)
{
	size_t i;

	for (i = 0; i < h->nrcpt; i++)
		if (memcmp(h->rcpt[i].fp, fp, ENV_FP_LEN) == 0)
			return 1;
	return 0;
}

/* Add id to the distinct recipients (at most ENV_MAX_RECIPIENTS). */
static void
rcpt_add(uint64_t *ids, size_t *n, uint64_t id)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (ids[i] == id)
			return;
	if (*n < ENV_MAX_RECIPIENTS)
		ids[(*n)++] = id;
}

/*
 * The users a STORE concerns, read in one statement before any check
 * that needs them: for a direct message the sender and the one other
 * user it names (*other_name, NULL when it names nobody else), for a
 * room message every member.  The rows also tell whether the sender's
 * certificate is still bound and how full each queue is, so that the
 * whole STORE reads the database once.
 */
static uint16_t
store_peers(struct channel *ch, const struct env_header *h,
    struct authdb_peers *peers, const char **other_name, const char **reason)
{
	enum authdb_rc rc;
	size_t i;

	memset(peers, 0, sizeof(*peers));
	*other_name = NULL;
	if (h->room[0] != '\0')
		rc = authdb_room_peers(adb, ch->account_id, h->room,
		    AUTHD_ROOM_CERTS_MAX, peers);
	else {
		for (i = 0; i < h->nrcpt; i++)
			if (strcmp(h->rcpt[i].name, ch->user) != 0)
				*other_name = h->rcpt[i].name;
		if (*other_name == NULL) {
			*reason = "a direct message names no other user";
			return AUTHD_RES_BAD_INPUT;
		}
		rc = authdb_dm_peers(adb, ch->account_id, *other_name,
		    AUTHD_ROOM_CERTS_MAX, peers);
	}
	if (rc != ADB_OK) {
		*reason = authdb_rc_str(rc);
		return rc == ADB_TOOMANY && h->room[0] != '\0' ?
		    AUTHD_RES_TOO_LARGE : rc_to_code(rc);
	}
	return AUTHD_RES_OK;
}

/*
 * Is the channel's certificate still bound to its user (the
 * administrator may have removed it since the login)?  The rows have
 * the sender's certificates unless the sender is not in them (not a
 * member of the room): then the database is asked.
 */
static uint16_t
store_sender_bound(struct channel *ch, const struct authdb_peers *peers,
    const char **reason)
{
	enum authdb_rc rc;
	uint64_t n;
	int bound = 0, has_der = 0;

	if (peers_has_user(peers, ch->account_id))
		bound = peers_has(peers, ch->user, ch->cert_fp);
	else if ((rc = authdb_cert_lookup(adb, ch->account_id, ch->cert_fp,
	    &bound, &has_der, &n)) != ADB_OK) {
		*reason = authdb_rc_str(rc);
		return rc_to_code(rc);
	}
	if (!bound) {
		*reason = "sender certificate not bound";
		return AUTHD_RES_BAD_INPUT;
	}
	return AUTHD_RES_OK;
}

/*
 * A direct message: exactly one user other than the sender, every entry
 * a certificate bound to the user it names.  Fills the recipient ids.
 */
static uint16_t
store_check_dm(struct channel *ch, const struct env_header *h,
    const struct authdb_peers *peers, uint64_t *ids, size_t *nids,
    const char **reason)
{
	uint64_t other_id = 0;
	size_t i;

	for (i = 0; i < peers->n; i++)
		if (peers->v[i].user_id != ch->account_id)
			other_id = peers->v[i].user_id;
	if (other_id == 0) {
		*reason = "no such recipient";
		return AUTHD_RES_BAD_INPUT;
	}
	/* Usernames are unique: the name picks the user's rows. */
	for (i = 0; i < h->nrcpt; i++) {
		if (!peers_has(peers, h->rcpt[i].name, h->rcpt[i].fp)) {
			*reason = "a recipient certificate is not bound to "
			    "the user it names";
			return AUTHD_RES_BAD_INPUT;
		}
	}
	*nids = 0;
	rcpt_add(ids, nids, other_id);
	return AUTHD_RES_OK;
}

/*
 * A room message: the sender is a member; every entry a member's bound
 * certificate; every other member's certificates (those whose DER authd
 * knows: the ones CERTS gives) all listed; the sender's own optional.
 */
static uint16_t
store_check_room(struct channel *ch, const struct env_header *h,
    const struct authdb_peers *peers, uint64_t *ids, size_t *nids,
    const char **reason)
{
	size_t i, k;

	if (peers->n == 0) {
		*reason = "no such room";
		return AUTHD_RES_BAD_INPUT;
	}
	if (!peers_has_user(peers, ch->account_id)) {
		*reason = "the sender is not a member of the room";
		return AUTHD_RES_BAD_INPUT;
	}
	*nids = 0;
	for (i = 0; i < h->nrcpt; i++) {
		if (!peers_has(peers, h->rcpt[i].name, h->rcpt[i].fp)) {
			*reason = "a recipient is not a member or its "
			    "certificate is not bound";
			return AUTHD_RES_BAD_INPUT;
		}
	}
	for (k = 0; k < peers->n; k++) {
		if (peers->v[k].user_id == ch->account_id ||
		    !peers->v[k].has_cert || !peers->v[k].has_der)
			continue;
		if (!rcpt_has_fp(h, peers->v[k].fp)) {
			*reason = "a member's certificate is missing";
			return AUTHD_RES_BAD_INPUT;
		}
		rcpt_add(ids, nids, peers->v[k].user_id);
	}
	return AUTHD_RES_OK;
}

/*
 * STORE: str32 envelope.  The checks run in the order authd.h gives;
 * the database is read once for all of them (store_peers), then the
 * rate bucket and the store itself: four statements for a direct
 * message when the sender has tokens.
 */
static void
req_store(struct channel *ch, const struct authd_req *rq, uint32_t reqid)
{
	static struct env_header h;	/* 64 recipients: not on the stack */
	struct authdb_peers peers;
	struct wbuf b;
	const uint8_t *env = rq->u.store.env;
	size_t envlen = rq->u.store.envlen, nids = 0, i;
	uint64_t ids[ENV_MAX_RECIPIENTS], env_id = 0;
	char why[256], reason_buf[320];
	const char *other = NULL;
	uint16_t code;
	enum authdb_rc rc;
	int r, taken = 0;
	const char *reason = NULL;

	memset(&peers, 0, sizeof(peers));
	memset(&h, 0, sizeof(h));
	if (envlen > ENV_MAX_LEN) {
		code = AUTHD_RES_TOO_LARGE;
		reason = "envelope too large";
		goto done;
	}
	if ((r = envelope_peek(env, envlen, &h, why, sizeof(why))) != 0) {
		code = (uint16_t)envelope_err_wire(r);
		snprintf(reason_buf, sizeof(reason_buf), "malformed envelope: "
		    "%s", why);
		reason = reason_buf;
		goto done;
	}
	/* The worker checked these too; authd relies on nobody. */
	if (strcmp(h.sender, ch->user) != 0) {
		code = AUTHD_RES_BAD_INPUT;
		reason = "sender is not the session's user";
		goto done;
	}
	if (CRYPTO_memcmp(h.sender_fp, ch->cert_fp, AUTHD_CERT_FP_LEN) != 0) {
		code = AUTHD_RES_BAD_INPUT;
		reason = "sender certificate is not the session's";
		goto done;
	}
	if ((code = store_peers(ch, &h, &peers, &other, &reason)) !=
	    AUTHD_RES_OK)
		goto done;
	if (conf.cert_strict && (code = store_sender_bound(ch, &peers,
	    &reason)) != AUTHD_RES_OK)
		goto done;
	if ((rc = authdb_rate_take(adb, ch->account_id, conf.msg_rate,
	    conf.msg_burst, &taken)) != ADB_OK) {
		code = rc_to_code(rc);
		reason = authdb_rc_str(rc);
		goto done;
	}
	if (!taken) {
		code = AUTHD_RES_RATE_LIMITED;
		reason = "message rate";
		goto done;
	}
	if (h.room[0] == '\0')
		code = store_check_dm(ch, &h, &peers, ids, &nids, &reason);
	else
		code = store_check_room(ch, &h, &peers, ids, &nids, &reason);
	if (code != AUTHD_RES_OK)
		goto done;
	for (i = 0; i < nids; i++) {
		if (peers_queued(&peers, ids[i]) >= conf.queue_max) {
			code = AUTHD_RES_RATE_LIMITED;
			reason = "recipient queue full";
			goto done;
		}
	}
	if ((rc = authdb_envelope_store(adb, ch->account_id,
	    h.room[0] != '\0' ? h.room : NULL, env, envlen, conf.retention,
	    ids, nids, &env_id)) != ADB_OK) {
		code = rc_to_code(rc);
		reason = authdb_rc_str(rc);
		goto done;
	}
	code = AUTHD_RES_OK;
	log_debug("session %" PRIu64 ": %s: message %" PRIu64 " stored for "
	    "%zu recipient(s)", ch->serial, ch->user, env_id, nids);
 done:
	authdb_peers_free(&peers);
	if (code != AUTHD_RES_OK) {
		refused(ch, code == AUTHD_RES_RATE_LIMITED ? "rate_limited" :
		    "store_refused", reason);
		send_code(ch, AUTHD_RES_STORE, reqid, code);
		return;
	}
	wbuf_init(&b, 16);
	wbuf_put_u16(&b, AUTHD_RES_OK);
	wbuf_put_u64(&b, env_id);
	(void)send_reply(ch, AUTHD_RES_STORE, reqid, &b);
	wbuf_free(&b);
}

/* FETCH: u64 after_id. */
static void
req_fetch(struct channel *ch, const struct authd_req *rq, uint32_t reqid)
{
	static uint8_t env[ENV_MAX_LEN];
	struct wbuf b;
	char sender[ACCOUNT_USER_MAX + 1];
	uint64_t env_id = 0;
	size_t envlen = 0;
	enum authdb_rc rc;
	int found = 0;

	if ((rc = authdb_fetch(adb, ch->account_id, rq->u.fetch.after, &found,
	    &env_id, sender, env, sizeof(env), &envlen)) != ADB_OK) {
		refused(ch, "fetch_refused", authdb_rc_str(rc));
		send_code(ch, AUTHD_RES_FETCH, reqid, rc_to_code(rc));
		return;
	}
	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_u16(&b, AUTHD_RES_OK);
	wbuf_put_u8(&b, found ? 1 : 0);
	wbuf_put_u64(&b, found ? env_id : 0);
	wbuf_put_str16(&b, sender, found ? strlen(sender) : 0);
	wbuf_put_str32(&b, env, found ? envlen : 0);
	if (send_reply(ch, AUTHD_RES_FETCH, reqid, &b) == -1 && b.err)
		send_code(ch, AUTHD_RES_FETCH, reqid, AUTHD_RES_INTERNAL);
	wbuf_free(&b);
}

/* ACK: u64 envelope_id, u8 state. */
static void
req_ack(struct channel *ch, const struct authd_req *rq, uint32_t reqid)
{
	struct wbuf b;
	char sender[ACCOUNT_USER_MAX + 1];
	uint16_t code = AUTHD_RES_OK;
	enum authdb_rc rc;
	const char *reason = NULL;

	if (rq->bad != NULL) {
		code = AUTHD_RES_BAD_INPUT;
		reason = rq->bad;
	} else if ((rc = authdb_ack(adb, ch->account_id, rq->u.ack.env_id,
	    rq->u.ack.state, sender)) == ADB_NOTFOUND) {
		code = AUTHD_RES_BAD_INPUT;
		reason = "no such message for this user";
	} else if (rc != ADB_OK) {
		code = rc_to_code(rc);
		reason = authdb_rc_str(rc);
	}
	if (code != AUTHD_RES_OK) {
		refused(ch, "ack_refused", reason);
		send_code(ch, AUTHD_RES_ACK, reqid, code);
		return;
	}
	wbuf_init(&b, 64);
	wbuf_put_u16(&b, AUTHD_RES_OK);
	wbuf_put_str16(&b, sender, strlen(sender));
	(void)send_reply(ch, AUTHD_RES_ACK, reqid, &b);
	wbuf_free(&b);
}

/* JOIN: str16 room. */
static void
req_join(struct channel *ch, const struct authd_req *rq, uint32_t reqid)
{
	const char *room = rq->u.room.room;
	char note[96];
	uint16_t code = AUTHD_RES_OK;
	enum authdb_rc rc;
	enum authdb_join res = AUTHDB_JOIN_FULL;
	const char *reason = NULL;

	if (rq->bad != NULL) {
		code = AUTHD_RES_BAD_INPUT;
		reason = rq->bad;
	} else if ((rc = authdb_room_join(adb, ch->account_id, room,
	    conf.room_size, AUTHD_ROOMS_MAX, &res)) != ADB_OK) {
		code = rc_to_code(rc);
		reason = authdb_rc_str(rc);
	} else if (res == AUTHDB_JOIN_FULL) {
		code = AUTHD_RES_TOO_LARGE;
		reason = "the room is full";
	} else if (res == AUTHDB_JOIN_TOO_MANY) {
		code = AUTHD_RES_TOO_LARGE;
		reason = "in too many rooms";
	}
	if (code != AUTHD_RES_OK) {
		if (room[0] != '\0') {
			snprintf(note, sizeof(note), "%s: %s", room, reason);
			reason = note;
		}
		refused(ch, "join_refused", reason);
	} else if (res == AUTHDB_JOINED) {
		log_info("session %" PRIu64 ": %s joined %s", ch->serial,
		    ch->user, room);
		audit("room_join", ch, ch->user, room);
	}
	send_code(ch, AUTHD_RES_CODE, reqid, code);
}

/* LEAVE: str16 room. */
static void
req_leave(struct channel *ch, const struct authd_req *rq, uint32_t reqid)
{
	const char *room = rq->u.room.room;
	char note[96];
	uint16_t code = AUTHD_RES_OK;
	enum authdb_rc rc;
	const char *reason = NULL;

	if (rq->bad != NULL) {
		code = AUTHD_RES_BAD_INPUT;
		reason = rq->bad;
	} else if ((rc = authdb_room_leave(adb, ch->account_id, room)) ==
	    ADB_NOTFOUND) {
		code = AUTHD_RES_BAD_INPUT;
		reason = "not a member of the room";
	} else if (rc != ADB_OK) {
		code = rc_to_code(rc);
		reason = authdb_rc_str(rc);
	}
	if (code != AUTHD_RES_OK) {
		if (room[0] != '\0') {
			snprintf(note, sizeof(note), "%s: %s", room, reason);
			reason = note;
		}
		refused(ch, "leave_refused", reason);
	} else {
		log_info("session %" PRIu64 ": %s left %s", ch->serial,
		    ch->user, room);
		audit("room_leave", ch, ch->user, room);
	}
	send_code(ch, AUTHD_RES_CODE, reqid, code);
}

/* Reply with a list of names (ROOMS, MEMBERS). */
static void
send_names(struct channel *ch, uint16_t type, uint32_t id,
    const struct authdb_names *l)
{
	struct wbuf b;
	size_t i;

	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_u16(&b, AUTHD_RES_OK);
	wbuf_put_u16(&b, (uint16_t)l->n);
	for (i = 0; i < l->n; i++)
		wbuf_put_str16(&b, l->v[i].name, strlen(l->v[i].name));
	if (send_reply(ch, type, id, &b) == -1 && b.err)
		send_code(ch, type, id, AUTHD_RES_INTERNAL);
	wbuf_free(&b);
}

/* ROOMS: empty body. */
static void
req_rooms(struct channel *ch, const struct authd_req *rq, uint32_t reqid)
{
	struct authdb_names rooms;
	enum authdb_rc rc;

	(void)rq;
	memset(&rooms, 0, sizeof(rooms));
	if ((rc = authdb_user_rooms(adb, ch->account_id, AUTHD_ROOMS_MAX,
	    &rooms)) != ADB_OK) {
		refused(ch, "rooms_refused", authdb_rc_str(rc));
		send_code(ch, AUTHD_RES_ROOMS, reqid,
		    rc == ADB_TOOMANY ? AUTHD_RES_INTERNAL : rc_to_code(rc));
		return;
	}
	send_names(ch, AUTHD_RES_ROOMS, reqid, &rooms);
	authdb_names_free(&rooms);
}

/* MEMBERS: str16 room. */
static void
req_members(struct channel *ch, const struct authd_req *rq, uint32_t reqid)
{
	struct authdb_names members;
	uint64_t room_id = 0;
	uint16_t code;
	const char *reason = NULL;

	memset(&members, 0, sizeof(members));
	if (rq->bad != NULL) {
		code = AUTHD_RES_BAD_INPUT;
		reason = rq->bad;
	} else
		code = room_of_member(ch, rq->u.room.room, &room_id, &members,
		    &reason);
	if (code != AUTHD_RES_OK) {
		refused(ch, "members_refused", reason);
		send_code(ch, AUTHD_RES_MEMBERS, reqid, code);
		return;
	}
	send_names(ch, AUTHD_RES_MEMBERS, reqid, &members);
	authdb_names_free(&members);
}

/* One message from worker channel i; the channel may be gone after. */
static void
channel_dispatch(size_t i)
{
	static struct ipc_msg m;	/* 65 KiB: not on the stack */
	static struct authd_req rq;
	struct channel *ch = &channels[i];
	const struct authd_request *req = NULL;
	const char *why;
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
	if ((req->flags & REQ_AUTHED) && ch->state != CH_AUTHED) {
		violation(i, "request before a successful login: ", req->name);
		goto out;
	}
	if ((req->flags & REQ_COUNTED) && ch->attempts >= AUTHD_MAX_ATTEMPTS) {
		violation(i, "too many attempts on one channel: ", req->name);
		goto out;
	}
	if (req->flags & REQ_COUNTED)
		ch->attempts++;
	log_debug("session %" PRIu64 ": %s", ch->serial, req->name);
	if (authd_req_decode(&m, &rq, &why) == -1) {
		if (strcmp(why, "malformed body") != 0)
			log_warnx("session %" PRIu64 ": %s", ch->serial, why);
		violation(i, "malformed body: ", req->name);
		goto out;
	}
	req->handler(ch, &rq, m.hdr.id);
 out:
	/* The body held a password, and so may the decoded request. */
	explicit_bzero(&rq, sizeof(rq));
	ipc_msg_clear(&m);
}

/* ---- control channel ---- */

/* Returns -1 when the master has gone away: time to exit. */
static int
control_dispatch(void)
{
	static struct ipc_msg m;
	struct authd_ctl_new nc;
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
	if (authd_ctl_decode(&m, &nc) == -1) {
		log_warnx("control channel: malformed NEW_CHANNEL");
		goto drop;
	}
	if (channel_add(nc.fd, nc.serial, nc.addr) == NULL) {
		/* The worker sees its channel close and reports it. */
		log_warnx("session %" PRIu64 ": %d channels open, refusing "
		    "another", nc.serial, AUTHD_MAX_CHANNELS);
		goto drop;
	}
	log_debug("session %" PRIu64 " [%s]: new channel", nc.serial,
	    nc.addr);
	return 0;
 drop:
	if (m.fd != -1)
		close(m.fd);
	return 0;
}

/*
 * Delete the messages past their retention.  Returns the monotonic time
 * of the next run: an hour later, or sooner after a failure (the
 * database may be down at start).
 */
static time_t
expire_messages(time_t now)
{
	uint64_t deleted = 0;
	enum authdb_rc rc;

	if ((rc = authdb_expire_messages(adb, &deleted)) != ADB_OK) {
		log_warnx("message expiry: %s", authdb_rc_str(rc));
		return now + AUTHD_HOUSEKEEPING;
	}
	if (deleted > 0)
		log_info("deleted %" PRIu64 " expired message%s", deleted,
		    deleted == 1 ? "" : "s");
	return now + AUTHD_EXPIRY_INTERVAL;
}

static void
serve(void)
{
	struct pollfd *pfd;
	struct timespec now, last;
	time_t next_expiry;
	size_t i, n;
	int r;

	if ((pfd = calloc(AUTHD_MAX_CHANNELS + 1, sizeof(*pfd))) == NULL)
		fatal("calloc");
	clock_gettime(CLOCK_MONOTONIC, &last);
	next_expiry = expire_messages(last.tv_sec);
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
		if (now.tv_sec >= next_expiry)
			next_expiry = expire_messages(now.tv_sec);
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
	conf.cert_strict = 1;
	conf.msg_rate = AUTHD_MSG_RATE;
	conf.msg_burst = AUTHD_MSG_BURST;
	conf.queue_max = AUTHD_QUEUE_MAX;
	conf.room_size = AUTHD_ROOM_SIZE;
	conf.retention = AUTHD_RETENTION;
	while ((ch = getopt(argc, argv, "B:C:D:dE:F:j:M:N:p:Q:R:r:S:u:vW:")) !=
	    -1) {
		switch (ch) {
		case 'B':
			conf.msg_burst = num_arg(optarg, 1, 1000000, "-B");
			break;
		case 'C':
			conf.cert_strict = (int)num_arg(optarg, 0, 1, "-C");
			break;
		case 'E':
			conf.retention = num_arg(optarg, 1, 3650, "-E");
			break;
		case 'M':
			conf.msg_rate = num_arg(optarg, 1, 1000, "-M");
			break;
		case 'Q':
			conf.queue_max = num_arg(optarg, 1, 10000000, "-Q");
			break;
		case 'S':
			conf.room_size = num_arg(optarg, 2,
			    AUTHD_ROOM_SIZE_MAX, "-S");
			break;
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

	daemon_signals(on_signal);

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
	    "throttling %u failures per %u s, certificates %s", conf.log2n,
	    conf.r, conf.p, conf.reg_open ? "open" : "closed", conf.maxfail,
	    conf.window, conf.cert_strict ? "enforced" : "not enforced");
	log_info("messages: %u per second per user, bursts of %u, queues of "
	    "%u, rooms of %u, kept %u days", conf.msg_rate, conf.msg_burst,
	    conf.queue_max, conf.room_size, conf.retention);

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
