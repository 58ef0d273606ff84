/*
 * route.c: the router's request table and its handlers, and what the
 * channel loop (common/chanserv.c) needs to know of the router's
 * channels: their set-up, the master's BIND, refusals and their audit.
 *
 * One row per request a worker may send, with the channel states that
 * permit it (OpenSSH's mon_table).  Only a BOUND channel may ask anything;
 * who it speaks for is the user the master bound it to, never a field a
 * worker sends.  A handler first parses and checks the whole body (a
 * malformed one is refused: the worker is killed), then takes a token
 * from the channel's bucket (over the rate: ROUTER_REFUSED, the channel
 * lives on), then acts.
 *
 * Pushes to other workers never block: each channel is non-blocking, and
 * a push that does not fit a recipient's socket is dropped for that
 * channel and counted.  The store (authd) holds every envelope until its
 * recipient acknowledges it, so a dropped push is delivered at the
 * recipient's next login; a worker that stops reading cannot stall the
 * router for everyone else.
 */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "buf.h"
#include "chanserv.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "proto.h"

typedef int (*router_handler)(struct chanserv *, struct router_chan *,
    const struct ipc_msg *, uint64_t now, struct wbuf *reply,
    uint16_t *rtype, const char **why);

static int	req_route(struct chanserv *, struct router_chan *,
		    const struct ipc_msg *, uint64_t, struct wbuf *,
		    uint16_t *, const char **);
static int	req_status(struct chanserv *, struct router_chan *,
		    const struct ipc_msg *, uint64_t, struct wbuf *,
		    uint16_t *, const char **);
static int	req_who(struct chanserv *, struct router_chan *,
		    const struct ipc_msg *, uint64_t, struct wbuf *,
		    uint16_t *, const char **);

static const struct router_req {
	uint16_t	 type;
	const char	*name;
	unsigned int	 states;	/* ROUTER_S_* that permit it */
	router_handler	 handler;
} router_reqs[] = {
	{ ROUTER_ROUTE, "ROUTE", ROUTER_S_BOUND, req_route },
	{ ROUTER_STATUS, "STATUS", ROUTER_S_BOUND, req_status },
	{ ROUTER_WHO, "WHO", ROUTER_S_BOUND, req_who },
};

#define NREQS	(sizeof(router_reqs) / sizeof(router_reqs[0]))

/* The largest ROUTE (and DELIVER) must fit one IPC message. */
_Static_assert(ROUTER_ROUTE_MAX <= IPC_MAX_BODY, "IPC_MAX_BODY too small");
#define TOKEN	1000ULL		/* one request, in 1/1000 tokens */

/* A refusal reason with details; one request at a time. */
static char	why_buf[256];

uint64_t
router_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
router_chan_init(struct router_chan *c, int fd, uint64_t serial,
    const char *peer, uint64_t now)
{
	memset(c, 0, sizeof(*c));
	chanserv_chan_init(&c->cs, fd, serial, peer);
	c->state = ROUTER_S_NEW;
	c->tokens = ROUTER_RATE_BURST * TOKEN;
	c->refilled_ms = now;
}

int
router_chan_bind(struct router_chan *c, uint64_t account_id,
    const char *user)
{
	if (c->state == ROUTER_S_BOUND) {
		/* A channel never changes identity. */
		if (c->account_id != account_id || strcmp(c->user, user) != 0)
			return -1;
		return 0;
	}
	c->account_id = account_id;
	strlcpy(c->user, user, sizeof(c->user));
	c->state = ROUTER_S_BOUND;
	return 0;
}

/* Refill by the time elapsed, then take one token; -1 when empty. */
static int
bucket_take(struct router_chan *c, uint64_t now)
{
	const uint64_t cap = ROUTER_RATE_BURST * TOKEN;
	uint64_t elapsed;

	if (now > c->refilled_ms) {
		elapsed = now - c->refilled_ms;
		if (elapsed > cap)	/* no overflow below; full anyway */
			elapsed = cap;
		/* ROUTER_RATE_PER_S tokens a second: that many 1/1000 a ms. */
		c->tokens += elapsed * ROUTER_RATE_PER_S;
		if (c->tokens > cap)
			c->tokens = cap;
		c->refilled_ms = now;
	}
	if (c->tokens < TOKEN)
		return -1;
	c->tokens -= TOKEN;
	return 0;
}

/*
 * Over the rate.  Audited once per episode (until a request passes), so
 * that a flood cannot turn into a flood of audit lines.
 */
static void
rate_limited(struct chanserv *tab, struct router_chan *c, const char *req)
{
	c->nlimited++;
	if (c->limit_episode)
		return;
	c->limit_episode = 1;
	log_warnx("session %llu (%s, %s): %s over the rate of %d/s",
	    (unsigned long long)c->cs.serial, c->cs.peer, c->user, req,
	    ROUTER_RATE_PER_S);
	router_audit(tab, c, "router_rate_limited", "request", req);
}

static int
refuse_rate(struct chanserv *tab, struct router_chan *c, const char *req,
    struct wbuf *reply, uint16_t *rtype)
{
	rate_limited(tab, c, req);
	wbuf_put_u16(reply, SC_E_RATE_LIMITED);
	*rtype = ROUTER_REFUSED;
	return reply->err ? ROUTER_REFUSE : ROUTER_OK;
}

/*
 * Push one message to another worker without blocking.  1 when written;
 * 0 when dropped (socket full: counted, audited once per episode; or the
 * worker is going away: its hang-up closes the channel in the loop).
 */
static int
push(struct chanserv *tab, struct router_chan *to, uint16_t type,
    const struct wbuf *b, const struct router_chan *from)
{
	if (ipc_send(to->cs.fd, type, 0, b->data, b->len) == 0) {
		to->ndelivered++;
		to->drop_episode = 0;
		return 1;
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK) {
		log_debug("session %llu: push: %s",
		    (unsigned long long)to->cs.serial, strerror(errno));
		return 0;
	}
	to->ndropped++;
	if (!to->drop_episode) {
		to->drop_episode = 1;
		log_warnx("session %llu (%s, %s): worker does not read its "
		    "router channel; dropping pushes (the store keeps them)",
		    (unsigned long long)to->cs.serial, to->cs.peer, to->user);
		router_audit(tab, to, "router_push_dropped", "from",
		    from->user);
	} else
		log_debug("session %llu: push dropped (%llu so far)",
		    (unsigned long long)to->cs.serial,
		    (unsigned long long)to->ndropped);
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort names and drop repeats; returns how many remain. */
static size_t
names_unique(const char **names, size_t n)
{
	size_t i, j;

	if (n == 0)
		return 0;
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (i = 1, j = 1; i < n; i++)
		if (strcmp(names[i], names[j - 1]) != 0)
			names[j++] = names[i];
	return j;
}

static int
req_route(struct chanserv *tab, struct router_chan *c,
    const struct ipc_msg *m, uint64_t now, struct wbuf *reply,
    uint16_t *rtype, const char **why)
{
	/* ~5 KiB with 64 recipients: kept off the stack. */
	static struct env_header h;
	const char *rcpt[ENV_MAX_RECIPIENTS];
	const char *key;
	struct router_chan *d;
	struct cursor cur;
	struct wbuf out;
	const uint8_t *env;
	char reason[160];
	uint64_t msg_id;
	size_t envlen, nrcpt, i;
	unsigned int delivered = 0, users = 0;

	cur_init(&cur, m->body, m->len);
	msg_id = cur_u64(&cur);
	env = cur_str32(&cur, &envlen, ENV_MAX_LEN);
	if (cur_done(&cur) == -1 || env == NULL) {
		*why = "malformed ROUTE body (or an envelope over 50074 bytes)";
		return ROUTER_REFUSE;
	}
	/* The header is ours to read: never a recipient list from a worker. */
	if (envelope_peek(env, envlen, &h, reason, sizeof(reason)) != 0) {
		snprintf(why_buf, sizeof(why_buf), "malformed envelope: %s",
		    reason);
		*why = why_buf;
		return ROUTER_REFUSE;
	}
	if (strcmp(h.sender, c->user) != 0) {
		snprintf(why_buf, sizeof(why_buf), "envelope from \"%s\" on "
		    "a channel bound to \"%s\"", h.sender, c->user);
		*why = why_buf;
		return ROUTER_REFUSE;
	}
	if (bucket_take(c, now) == -1)
		return refuse_rate(tab, c, "ROUTE", reply, rtype);
	c->limit_episode = 0;

	/* A user appears once per device certificate: once is enough. */
	for (i = 0; i < h.nrcpt; i++)
		rcpt[i] = h.rcpt[i].name;
	nrcpt = names_unique(rcpt, h.nrcpt);

	wbuf_init(&out, ROUTER_ROUTE_MAX);
	wbuf_put_u64(&out, msg_id);
	wbuf_put_str32(&out, env, envlen);
	if (out.err) {
		wbuf_free(&out);
		*why = "out of memory";
		return ROUTER_REFUSE;
	}
	for (i = 0; i < tab->nchans; i++) {
		d = ROUTER_CHAN(tab->chans[i]);
		/* Not back to the sending channel: its client has it. */
		if (d == c || d->cs.dead || d->state != ROUTER_S_BOUND)
			continue;
		key = d->user;
		if (bsearch(&key, rcpt, nrcpt, sizeof(rcpt[0]),
		    name_cmp) == NULL)
			continue;
		users++;
		delivered += (unsigned int)push(tab, d, ROUTER_DELIVER, &out,
		    c);
	}
	wbuf_free(&out);
	c->nrouted++;
	log_debug("session %llu (%s): ROUTE %llu%s%s to %zu user(s): %u of "
	    "%u channel(s)", (unsigned long long)c->cs.serial, c->user,
	    (unsigned long long)msg_id, h.room[0] != '\0' ? " in " : "",
	    h.room, nrcpt, delivered, users);
	wbuf_put_u16(reply, (uint16_t)delivered);	/* <= 4096 */
	*rtype = ROUTER_ROUTE_OK;
	return reply->err ? ROUTER_REFUSE : ROUTER_OK;
}

static int
req_status(struct chanserv *tab, struct router_chan *c,
    const struct ipc_msg *m, uint64_t now, struct wbuf *reply,
    uint16_t *rtype, const char **why)
{
	struct router_chan *d;
	struct cursor cur;
	struct wbuf out;
	const uint8_t *orig;
	uint64_t msg_id;
	size_t olen, i;
	uint8_t state;

	(void)reply;
	(void)rtype;
	cur_init(&cur, m->body, m->len);
	msg_id = cur_u64(&cur);
	orig = cur_str16(&cur, &olen, SC_MAX_USERNAME);
	state = cur_u8(&cur);
	if (cur_done(&cur) == -1 || orig == NULL) {
		*why = "malformed STATUS body";
		return ROUTER_REFUSE;
	}
	if (!sc_valid_username(orig, olen)) {
		*why = "STATUS: original sender is not a username";
		return ROUTER_REFUSE;
	}
	if (state != ROUTER_ST_DELIVERED && state != ROUTER_ST_READ) {
		*why = "STATUS: state is neither delivered nor read";
		return ROUTER_REFUSE;
	}
	/* No reply to answer with: an over-rate STATUS is dropped. */
	if (bucket_take(c, now) == -1) {
		rate_limited(tab, c, "STATUS");
		return ROUTER_NOREPLY;
	}
	c->limit_episode = 0;

	/* by_user is the channel's own user: a worker cannot speak for another. */
	wbuf_init(&out, 8 + 2 + SC_MAX_USERNAME + 1);
	wbuf_put_u64(&out, msg_id);
	wbuf_put_str16(&out, c->user, strlen(c->user));
	wbuf_put_u8(&out, state);
	if (out.err) {
		wbuf_free(&out);
		*why = "out of memory";
		return ROUTER_REFUSE;
	}
	for (i = 0; i < tab->nchans; i++) {
		d = ROUTER_CHAN(tab->chans[i]);
		if (d == c || d->cs.dead || d->state != ROUTER_S_BOUND ||
		    strlen(d->user) != olen || memcmp(d->user, orig, olen) != 0)
			continue;
		(void)push(tab, d, ROUTER_STATUS_PUSH, &out, c);
	}
	wbuf_free(&out);
	log_debug("session %llu (%s): STATUS %llu state %u to %.*s",
	    (unsigned long long)c->cs.serial, c->user, (unsigned long long)msg_id,
	    state, (int)olen, (const char *)orig);
	return ROUTER_NOREPLY;
}

static int
req_who(struct chanserv *tab, struct router_chan *c,
    const struct ipc_msg *m, uint64_t now, struct wbuf *reply,
    uint16_t *rtype, const char **why)
{
	static const char *names[ROUTER_MAX_CHANNELS];
	struct router_chan *d;
	size_t i, n = 0;

	if (m->len != 0) {
		*why = "WHO with a body";
		return ROUTER_REFUSE;
	}
	if (bucket_take(c, now) == -1)
		return refuse_rate(tab, c, "WHO", reply, rtype);
	c->limit_episode = 0;
	for (i = 0; i < tab->nchans && n < ROUTER_MAX_CHANNELS; i++) {
		d = ROUTER_CHAN(tab->chans[i]);
		if (!d->cs.dead && d->state == ROUTER_S_BOUND)
			names[n++] = d->user;
	}
	n = names_unique(names, n);
	if (n > ROUTER_WHO_MAX)
		n = ROUTER_WHO_MAX;
	wbuf_put_u16(reply, (uint16_t)n);
	for (i = 0; i < n; i++)
		wbuf_put_str16(reply, names[i], strlen(names[i]));
	*rtype = ROUTER_WHO_OK;
	return reply->err ? ROUTER_REFUSE : ROUTER_OK;
}

int
router_dispatch(struct chanserv *tab, struct router_chan *c,
    const struct ipc_msg *m, uint64_t now, struct wbuf *reply,
    uint16_t *rtype, const char **reqname, const char **why)
{
	const struct router_req *r = NULL;
	size_t i;

	*reqname = "unknown";
	*why = "";
	for (i = 0; i < NREQS; i++)
		if (router_reqs[i].type == m->hdr.type) {
			r = &router_reqs[i];
			break;
		}
	if (r == NULL) {
		snprintf(why_buf, sizeof(why_buf), "message type 0x%x is not "
		    "a request", m->hdr.type);
		*why = why_buf;
		return ROUTER_REFUSE;
	}
	*reqname = r->name;
	if ((c->state & r->states) == 0) {
		*why = c->state == ROUTER_S_NEW ? "the channel is not bound "
		    "to a user yet" : "not permitted in this state";
		return ROUTER_REFUSE;
	}
	return r->handler(tab, c, m, now, reply, rtype, why);
}

/* ---- The channels, as the loop (common/chanserv.c) sees them ---- */

/* An event about channel c with up to two more pairs (a NULL key ends). */
static void
router_audit2(struct chanserv *cs, const struct router_chan *c,
    const char *event, const char *k1, const char *v1, const char *k2,
    const char *v2)
{
	char serial[32];

	snprintf(serial, sizeof(serial), "%llu",
	    (unsigned long long)c->cs.serial);
	if (audit_emit(cs->ctl, event, "session_serial", serial, "peer",
	    c->cs.peer, "user", c->user, k1, v1, k2, v2, NULL) == -1)
		log_warnx("session %llu: audit failed",
		    (unsigned long long)c->cs.serial);
}

void
router_audit(struct chanserv *cs, const struct router_chan *c,
    const char *event, const char *key, const char *value)
{
	router_audit2(cs, c, event, key, value, NULL, NULL);
}

static struct chanserv_chan *
router_open(int fd, uint64_t serial, const char *peer)
{
	struct router_chan *c;

	if ((c = malloc(sizeof(*c))) == NULL)
		return NULL;
	router_chan_init(c, fd, serial, peer, router_now_ms());
	return &c->cs;
}

static void
router_free(struct chanserv_chan *c)
{
	free(ROUTER_CHAN(c));
}

static int
router_request(struct chanserv *cs, struct chanserv_chan *c,
    const struct ipc_msg *m, struct wbuf *reply, uint16_t *rtype,
    const char **req, const char **why)
{
	switch (router_dispatch(cs, ROUTER_CHAN(c), m, router_now_ms(),
	    reply, rtype, req, why)) {
	case ROUTER_OK:
		return CHANSERV_OK;
	case ROUTER_NOREPLY:
		return CHANSERV_NOREPLY;
	default:
		return CHANSERV_REFUSE;
	}
}

/* A request broke the rules: log and audit (the loop closes and kills). */
static void
router_refused(struct chanserv *cs, struct chanserv_chan *cc,
    const char *req, const char *why)
{
	struct router_chan *c = ROUTER_CHAN(cc);

	log_warnx("session %llu (%s%s%s): refused %s: %s; closing channel",
	    (unsigned long long)cc->serial, cc->peer, c->user[0] != '\0' ?
	    ", " : "", c->user, req, why);
	router_audit2(cs, c, "router_refused", "request", req, "reason", why);
}

static void
router_closed(struct chanserv_chan *cc)
{
	struct router_chan *c = ROUTER_CHAN(cc);

	log_debug("session %llu (%s): channel closed; %llu routed, "
	    "%llu pushed, %llu dropped, %llu over the rate",
	    (unsigned long long)cc->serial, c->user,
	    (unsigned long long)c->nrouted,
	    (unsigned long long)c->ndelivered,
	    (unsigned long long)c->ndropped,
	    (unsigned long long)c->nlimited);
}

/* ROUTER_CTL_BIND: the master says whom a session's channel speaks for. */
static void
ctl_bind(struct chanserv *cs, const struct ipc_msg *m)
{
	struct chanserv_chan *cc;
	struct router_chan *c;
	struct cursor cur;
	struct wbuf b;
	const uint8_t *u;
	char user[SC_MAX_USERNAME + 1];
	uint64_t serial, account_id;
	size_t ulen;

	cur_init(&cur, m->body, m->len);
	serial = cur_u64(&cur);
	account_id = cur_u64(&cur);
	u = cur_str16(&cur, &ulen, SC_MAX_USERNAME);
	if (cur_done(&cur) == -1 || u == NULL || m->fd != -1 ||
	    !sc_valid_username(u, ulen)) {
		log_warnx("control: malformed BIND ignored");
		return;		/* the loop closes a descriptor */
	}
	memcpy(user, u, ulen);
	user[ulen] = '\0';
	if ((cc = chanserv_find(cs, serial)) == NULL) {
		/* Gone already, or opened by a router before a restart. */
		log_debug("session %llu: BIND for no channel ignored",
		    (unsigned long long)serial);
		return;
	}
	c = ROUTER_CHAN(cc);
	if (c->state == ROUTER_S_BOUND) {
		if (router_chan_bind(c, account_id, user) == -1)
			chanserv_refuse(cs, cc, "BIND", "the channel is "
			    "already bound to another user");
		else
			log_warnx("session %llu: bound twice to %s",
			    (unsigned long long)serial, user);
		return;
	}
	(void)router_chan_bind(c, account_id, user);
	log_debug("session %llu (%s): bound to %s (account %llu)",
	    (unsigned long long)serial, cc->peer, user,
	    (unsigned long long)account_id);
	/* Tell the worker it may now ask (router.h, ROUTER_BOUND). */
	wbuf_init(&b, 8 + 2 + SC_MAX_USERNAME);
	wbuf_put_u64(&b, account_id);
	wbuf_put_str16(&b, user, ulen);
	if (b.err || ipc_send(cc->fd, ROUTER_BOUND, 0, b.data, b.len) == -1)
		log_warn("session %llu: cannot tell the worker it is bound",
		    (unsigned long long)serial);
	wbuf_free(&b);
}

/* The master's requests beyond NEW_CHANNEL (a table of one row). */
static int
router_control(struct chanserv *cs, struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case ROUTER_CTL_BIND:
		ctl_bind(cs, m);
		return 0;
	}
	return -1;
}

/*
 * A serial names one session: BIND must never be ambiguous.  Pushes to a
 * worker never block the router, and a worker that does not read its own
 * replies loses them; it is not killed for being slow (the reply is only
 * information, see router.h).
 */
const struct chanserv_ops router_ops = {
	.name = "router",
	.ctl_new_channel = ROUTER_CTL_NEW_CHANNEL,
	.ctl_kill_worker = ROUTER_CTL_KILL_WORKER,
	.fail_reply = ROUTER_REFUSED,	/* unused: no handler errs */
	.flags = CHANSERV_UNIQUE_SERIAL | CHANSERV_DROP_REPLIES,
	.open = router_open,
	.free = router_free,
	.request = router_request,
	.refused = router_refused,
	.closed = router_closed,
	.control = router_control,
};

_Static_assert(ROUTER_MAX_PEER_ADDR == CHANSERV_MAX_PEER, "peer sizes");
