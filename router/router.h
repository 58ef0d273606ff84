/*
 * router.h: the boundary of the router.  Every message that crosses it is
 * listed here, with its body; the enums double as the documentation of
 * what the router accepts, from whom and when (docs/TRUST.md "router",
 * docs/ARCHITECTURE.md "Messaging").
 *
 * The router knows which worker serves which user on this node and
 * pushes envelopes between workers: no worker can reach another one
 * except through it.  It holds no key, no database connection and nothing
 * secret; envelopes are end-to-end encrypted and signed by their senders
 * (docs/MESSAGING.md), and the router only reads their clear header with
 * envelope_peek().
 *
 * Who a channel speaks for never comes from the worker: the master hands
 * the router each new worker channel (ROUTER_CTL_NEW_CHANNEL, state NEW)
 * and, when authd has accepted that session's REGISTER or LOGIN
 * (AUTHD_CTL_AUTHENTICATED, authd/authd.h), binds it to the account
 * (ROUTER_CTL_BIND, state BOUND; the worker is told with ROUTER_BOUND).
 * A channel that sends anything before it is bound, an unknown type, a malformed body or an envelope whose sender
 * is not the bound user is refused: logged, audited, closed, and the
 * master is asked to kill that worker (ROUTER_CTL_KILL_WORKER).  The
 * router goes on serving the other channels.
 *
 * All bodies are encoded with buf.h (big-endian, str16/str32 length
 * prefixes) and must be consumed exactly.  A reply echoes the request's
 * id; pushes (DELIVER, STATUS_PUSH) carry id 0.
 */
#ifndef SC_ROUTER_H
#define SC_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "chanserv.h"
#include "envelope.h"
#include "proto.h"

/* ---- master <-> router: control channel on IPC_CTL_FD ---- */
enum router_ctl_type {
	/*
	 * master -> router, with the router end of a fresh socketpair
	 * attached (the worker gets the other end as WORKER_FD_ROUTER).
	 * The channel starts NEW.
	 * body: u64 session_serial, str16 peer_addr (<= ROUTER_MAX_PEER_ADDR)
	 */
	ROUTER_CTL_NEW_CHANNEL = 1,
	/*
	 * router -> master: a worker's channel broke the rules and was
	 * closed; kill that worker.  body: u64 session_serial
	 */
	ROUTER_CTL_KILL_WORKER = 2,
	/*
	 * master -> router, once per session, after authd reported the
	 * session's successful REGISTER or LOGIN: the channel of that
	 * session becomes BOUND to username (sc_valid_username).
	 * body: u64 session_serial, u64 account_id, str16 username
	 */
	ROUTER_CTL_BIND = 3,
	/* router -> master: audit events use IPC_MSG_AUDIT (audit.h). */
};

/* ---- worker <-> router: one channel per session ---- */
enum router_msg_type {
	/*
	 * worker -> router, BOUND only.  msg_id is the id the store (authd)
	 * gave the envelope; the router passes it on and cannot check it.
	 * body: u64 msg_id, str32 envelope (<= ENV_MAX_LEN)
	 * The router parses the envelope itself (envelope_peek; a worker's
	 * recipient list is never trusted), requires its sender to be the
	 * channel's bound user, and pushes ROUTER_DELIVER to every other
	 * BOUND channel of every user named among the recipients.
	 * reply ROUTER_ROUTE_OK, or ROUTER_REFUSED (RATE_LIMITED).
	 */
	ROUTER_ROUTE = 0x10,
	/*
	 * body: u16 delivered_channels (pushes written; a recipient channel
	 * whose socket is full is skipped and counted, see ROUTER_DELIVER)
	 */
	ROUTER_ROUTE_OK = 0x11,
	/*
	 * router -> worker, a refusal that keeps the channel: the answer
	 * to a ROUTE or WHO over the channel's rate (ROUTER_RATE_*).
	 * body: u16 code (SC_E_RATE_LIMITED)
	 */
	ROUTER_REFUSED = 0x12,
	/*
	 * router -> worker, push (id 0): an envelope for this worker's user.
	 * body: u64 msg_id, str32 envelope
	 * Written without blocking: when the worker's socket is full the
	 * push is dropped for that channel, counted and audited once per
	 * episode.  Nothing is lost: the store keeps the envelope until the
	 * recipient acknowledges it, and a worker fetches its queue at login.
	 */
	ROUTER_DELIVER = 0x13,
	/*
	 * worker -> router, BOUND only, no reply: this worker's user got
	 * (state 1, ROUTER_ST_DELIVERED) or read (state 2, ROUTER_ST_READ)
	 * message msg_id from original_sender.
	 * body: u64 msg_id, str16 original_sender (sc_valid_username), u8 state
	 * Pushed as ROUTER_STATUS_PUSH to every BOUND channel of
	 * original_sender; an over-rate STATUS is dropped and counted.
	 */
	ROUTER_STATUS = 0x14,
	/*
	 * router -> worker, push (id 0).  by_user is the bound user of the
	 * channel that reported it, set by the router, never by a worker.
	 * body: u64 msg_id, str16 by_user, u8 state
	 */
	ROUTER_STATUS_PUSH = 0x15,
	/*
	 * worker -> router, BOUND only.  body: empty.
	 * reply ROUTER_WHO_OK, or ROUTER_REFUSED (RATE_LIMITED).
	 */
	ROUTER_WHO = 0x16,
	/*
	 * body: u16 n, n x str16 username: the users with a BOUND channel
	 * on this node, each once, in strcmp order, at most ROUTER_WHO_MAX
	 * (the first ones in that order).
	 */
	ROUTER_WHO_OK = 0x17,
	/*
	 * router -> worker, push (id 0), once: the master bound this
	 * channel.  body: u64 account_id, str16 username
	 * The binding travels authd -> master -> router while the worker
	 * hears of its login from authd directly, so a worker must wait for
	 * this push before its first request: one sent earlier is refused
	 * (and the worker killed) like any request from a NEW channel.  A
	 * worker should also check the name is the one authd gave it.
	 */
	ROUTER_BOUND = 0x18,
};

/* STATUS states. */
#define ROUTER_ST_DELIVERED	1
#define ROUTER_ST_READ		2

#define ROUTER_MAX_PEER_ADDR	128	/* as KEYD_MAX_PEER_ADDR */
#define ROUTER_MAX_CHANNELS	4096	/* concurrent worker channels (keyd's) */
#define ROUTER_WHO_MAX		1024	/* names in one WHO_OK: 2 + 1024 * 34 */
/*
 * Per channel token bucket over ROUTE, STATUS and WHO: ROUTER_RATE_PER_S
 * sustained, bursts of ROUTER_RATE_BURST.  It is a backstop well above
 * authd's per-user message rate (which a compliant worker hits first):
 * it only binds a taken-over worker that skips the store.
 */
#define ROUTER_RATE_PER_S	50
#define ROUTER_RATE_BURST	200
/* A ROUTE body at its largest. */
#define ROUTER_ROUTE_MAX	(8 + 4 + ENV_MAX_LEN)

/* ---- inside the router ---- */

struct ipc_msg;
struct wbuf;

/* Channel states (bits, so that a table row can permit several). */
#define ROUTER_S_NEW	0x01	/* no user yet: nothing is allowed */
#define ROUTER_S_BOUND	0x02	/* bound by the master: ROUTE, STATUS, WHO */

/* One worker's channel. */
struct router_chan {
	struct chanserv_chan cs;		/* fd, serial, peer, dead */
	unsigned int	 state;			/* one ROUTER_S_* bit */
	uint64_t	 account_id;		/* BOUND */
	char		 user[SC_MAX_USERNAME + 1];	/* BOUND */
	uint64_t	 tokens;		/* token bucket, in 1/1000 */
	uint64_t	 refilled_ms;		/* monotonic ms of last refill */
	uint64_t	 nrouted, ndelivered, ndropped, nlimited;
	int		 drop_episode;		/* a drop was audited */
	int		 limit_episode;		/* a rate refusal was audited */
};

/* The router's channel of an entry of the channel table. */
#define ROUTER_CHAN(p)	CHANSERV_CHAN(p, struct router_chan, cs)

/* Outcome of one request (router_dispatch). */
#define ROUTER_OK	0	/* reply in *rtype and the reply buffer */
#define ROUTER_NOREPLY	1	/* done, nothing to answer (STATUS) */
#define ROUTER_REFUSE	-1	/* not permitted: close, kill the worker */

/*
 * router/route.c: the request table and its handlers; router_ops is what
 * the channel loop runs (chanserv_init(cs, &router_ops, ...)), the master's
 * BIND included.
 */
extern const struct chanserv_ops router_ops;
void	router_chan_init(struct router_chan *, int fd, uint64_t serial,
	    const char *peer, uint64_t now_ms);
/* Bind c to user (already checked); 0, or -1 if bound to another user. */
int	router_chan_bind(struct router_chan *, uint64_t account_id,
	    const char *user);
int	router_dispatch(struct chanserv *, struct router_chan *,
	    const struct ipc_msg *, uint64_t now_ms, struct wbuf *reply,
	    uint16_t *rtype, const char **reqname, const char **why);
/* Audit an event about c on the control channel. */
void	router_audit(struct chanserv *, const struct router_chan *,
	    const char *event, const char *key, const char *value);
/* Monotonic milliseconds. */
uint64_t router_now_ms(void);

/* router/router.c: the daemon. */
int	router_main(int argc, char **argv);

#endif
