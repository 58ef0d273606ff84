/*
 * fuzz_router.c: everything the router parses from the master and from
 * its workers: the IPC decoder (ipc_recv on real SOCK_SEQPACKET pairs),
 * the channel loop (common/chanserv.c: NEW_CHANNEL, refusals, EOF), the
 * master's BIND and the request table and handlers (router/route.c,
 * compiled into this harness), with envelope_peek() on every ROUTE.  The
 * harness plays the master on a control socketpair and up to eight
 * workers, and runs the real loop one round at a time (chanserv_round).
 *
 * Input: steps, each an op byte and for ops 0 and 1 a big-endian u16
 * length and that many bytes, sent raw (IPC header included, host byte
 * order) as one datagram:
 *	op & 3 == 0	from the master; with op & 4, a fresh socketpair end
 *			attached, the harness keeping the other as worker
 *			(op >> 3) & 7 (closing one it held there)
 *	op & 3 == 1	from worker (op >> 3) & 7
 *	op & 3 == 2	worker (op >> 3) & 7 hangs up
 *	op & 3 == 3	one more round
 * A control message the router cannot read ends the input: the router
 * exits then (the master is trusted; it restarts the router).
 * The table holds RT_FZ_MAX channels, so "too many" is reachable.
 *
 * Properties: the master only ever gets audit events (a JSON object with
 * an event) and KILL_WORKER for a session it opened; a worker gets only
 * the router's message types, each well-formed: nothing before its
 * BOUND, which comes at most once, a DELIVER whose envelope parses and
 * names the worker's user among its recipients, a STATUS_PUSH with a
 * valid by_user and state, a WHO_OK of valid names in strictly increasing
 * order; the table stays within its size, BOUND channels have a valid
 * user, serials are unique; and after each input no descriptor is left
 * open.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "router/route.c"
#include "fuzz.h"

#define RT_FZ_MAX	4	/* channels the router's table holds */
#define RT_FZ_WORKERS	8
#define RT_FZ_SERIALS	64	/* sessions opened per input, remembered */

static struct chanserv rt_fz_cs;
static int rt_fz_ctl[2] = { -1, -1 };	/* [0] the master's end */

/* What the harness knows of one worker's end. */
static struct rt_fz_worker {
	int	 fd;
	int	 bound;			/* got ROUTER_BOUND */
	char	 user[SC_MAX_USERNAME + 1];
} rt_fz_w[RT_FZ_WORKERS];

static uint64_t rt_fz_serials[RT_FZ_SERIALS];
static size_t rt_fz_nserials;

static int
rt_fz_init(void)
{
	size_t i;

	if (rt_fz_ctl[0] != -1)
		return 0;
	/* Non-blocking: a bug must not hang the fuzzer in recv. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0, rt_fz_ctl) == -1)
		return -1;
	if (chanserv_init(&rt_fz_cs, &router_ops, RT_FZ_MAX) == -1)
		return -1;
	rt_fz_cs.ctl = rt_fz_ctl[1];
	for (i = 0; i < RT_FZ_WORKERS; i++)
		rt_fz_w[i].fd = -1;
	return 0;
}

static void
rt_fz_hangup(struct rt_fz_worker *w)
{
	if (w->fd != -1)
		close(w->fd);
	memset(w, 0, sizeof(*w));
	w->fd = -1;
}

/* Remember the serial of a NEW_CHANNEL the master sent (if it has one). */
static void
rt_fz_note_serial(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	size_t k;

	if (n < sizeof(struct ipc_hdr) + 8 ||
	    rt_fz_nserials >= RT_FZ_SERIALS)
		return;
	for (k = 0; k < 8; k++)
		s = s << 8 | p[sizeof(struct ipc_hdr) + k];
	rt_fz_serials[rt_fz_nserials++] = s;
}

static int
rt_fz_opened(uint64_t serial)
{
	size_t i;

	for (i = 0; i < rt_fz_nserials; i++)
		if (rt_fz_serials[i] == serial)
			return 1;
	return 0;
}

/* What the router told the master. */
static void
rt_fz_drain_master(void)
{
	static struct ipc_msg m;
	struct cursor cur;
	json_t *o;
	uint64_t serial;
	int r;

	while ((r = ipc_recv(rt_fz_ctl[0], &m, 0)) == 1) {
		switch (m.hdr.type) {
		case IPC_MSG_AUDIT:
			o = json_loadb((const char *)m.body, m.len, 0, NULL);
			FUZZ_CHECK(json_is_object(o) && json_is_string(
			    json_object_get(o, "event")));
			json_decref(o);
			break;
		case ROUTER_CTL_KILL_WORKER:
			cur_init(&cur, m.body, m.len);
			serial = cur_u64(&cur);
			FUZZ_CHECK(cur_done(&cur) == 0 && rt_fz_opened(serial));
			break;
		default:
			FUZZ_CHECK(!"unexpected message to the master");
		}
		ipc_msg_clear(&m);
	}
	FUZZ_CHECK(r == -1 && errno == EAGAIN);
}

static void
rt_fz_check_deliver(struct rt_fz_worker *w, const struct ipc_msg *m)
{
	static struct env_header h;
	struct cursor cur;
	const uint8_t *env;
	char reason[160];
	size_t envlen, i;
	int named = 0;

	cur_init(&cur, m->body, m->len);
	(void)cur_u64(&cur);
	env = cur_str32(&cur, &envlen, ENV_MAX_LEN);
	FUZZ_CHECK(cur_done(&cur) == 0 && env != NULL);
	if (env == NULL)
		return;
	FUZZ_CHECK(envelope_peek(env, envlen, &h, reason,
	    sizeof(reason)) == ENV_OK);
	for (i = 0; i < h.nrcpt && i < ENV_MAX_RECIPIENTS; i++)
		if (strcmp(h.rcpt[i].name, w->user) == 0)
			named = 1;
	FUZZ_CHECK(named);
}

static void
rt_fz_check_who(const struct ipc_msg *m)
{
	struct cursor cur;
	const uint8_t *name, *prev = NULL;
	size_t len, plen = 0, n, i;
	int c;

	cur_init(&cur, m->body, m->len);
	n = cur_u16(&cur);
	FUZZ_CHECK(n <= ROUTER_WHO_MAX);
	for (i = 0; i < n && !cur.err; i++) {
		name = cur_str16(&cur, &len, SC_MAX_USERNAME);
		if (name == NULL)
			break;
		FUZZ_CHECK(sc_valid_username(name, len));
		if (prev != NULL) {
			c = memcmp(prev, name, plen < len ? plen : len);
			FUZZ_CHECK(c < 0 || (c == 0 && plen < len));
		}
		prev = name;
		plen = len;
	}
	FUZZ_CHECK(cur_done(&cur) == 0);
}

/* What the router told one worker. */
static void
rt_fz_drain_worker(struct rt_fz_worker *w)
{
	static struct ipc_msg m;
	struct cursor cur;
	const uint8_t *u;
	size_t ulen;
	int r;

	if (w->fd == -1)
		return;
	while ((r = ipc_recv(w->fd, &m, 0)) == 1) {
		/* Nothing before BOUND, and BOUND once. */
		FUZZ_CHECK(w->bound != (m.hdr.type == ROUTER_BOUND));
		cur_init(&cur, m.body, m.len);
		switch (m.hdr.type) {
		case ROUTER_BOUND:
			(void)cur_u64(&cur);
			u = cur_str16(&cur, &ulen, SC_MAX_USERNAME);
			FUZZ_CHECK(cur_done(&cur) == 0 && u != NULL &&
			    sc_valid_username(u, ulen));
			if (u != NULL) {
				memcpy(w->user, u, ulen);
				w->user[ulen] = '\0';
			}
			w->bound = 1;
			break;
		case ROUTER_ROUTE_OK:
			(void)cur_u16(&cur);
			FUZZ_CHECK(cur_done(&cur) == 0);
			break;
		case ROUTER_REFUSED:
			FUZZ_CHECK(cur_u16(&cur) == SC_E_RATE_LIMITED &&
			    cur_done(&cur) == 0);
			break;
		case ROUTER_DELIVER:
			FUZZ_CHECK(m.hdr.id == 0);
			rt_fz_check_deliver(w, &m);
			break;
		case ROUTER_STATUS_PUSH:
			FUZZ_CHECK(m.hdr.id == 0);
			(void)cur_u64(&cur);
			u = cur_str16(&cur, &ulen, SC_MAX_USERNAME);
			r = cur_u8(&cur);
			FUZZ_CHECK(cur_done(&cur) == 0 && u != NULL &&
			    sc_valid_username(u, ulen) &&
			    (r == ROUTER_ST_DELIVERED || r == ROUTER_ST_READ));
			break;
		case ROUTER_WHO_OK:
			rt_fz_check_who(&m);
			break;
		default:
			FUZZ_CHECK(!"unexpected message to a worker");
		}
		ipc_msg_clear(&m);
	}
	/* EOF once the router closed the channel; nothing malformed. */
	FUZZ_CHECK(r == 0 || errno == EAGAIN);
}

/* The router's table after a round. */
static void
rt_fz_check_table(void)
{
	const struct router_chan *c, *d;
	size_t i, j;

	FUZZ_CHECK(rt_fz_cs.nchans <= RT_FZ_MAX);
	for (i = 0; i < rt_fz_cs.nchans; i++) {
		c = ROUTER_CHAN(rt_fz_cs.chans[i]);
		FUZZ_CHECK(c->state == ROUTER_S_NEW ||
		    (c->state == ROUTER_S_BOUND && sc_valid_username(
		    (const uint8_t *)c->user, strlen(c->user))));
		FUZZ_CHECK(c->cs.dead || c->cs.fd != -1);
		for (j = i + 1; j < rt_fz_cs.nchans; j++) {
			d = ROUTER_CHAN(rt_fz_cs.chans[j]);
			FUZZ_CHECK(c->cs.dead || d->cs.dead ||
			    c->cs.serial != d->cs.serial);
		}
	}
}

/* -1 when the router would exit (a control message it cannot read). */
static int
rt_fz_round(void)
{
	size_t i;
	int rc;

	rc = chanserv_round(&rt_fz_cs, 0);
	rt_fz_check_table();
	rt_fz_drain_master();
	for (i = 0; i < RT_FZ_WORKERS; i++)
		rt_fz_drain_worker(&rt_fz_w[i]);
	return rc;
}

static int
rt_fz_one(const uint8_t *data, size_t size)
{
	struct rt_fz_worker *w;
	size_t off = 0, n, i;
	int sv[2], fd, lowfd;
	uint8_t op;

	/* The lowest free descriptor: a leaked one would take it. */
	if ((lowfd = dup(rt_fz_ctl[0])) == -1)
		return 0;
	close(lowfd);
	rt_fz_nserials = 0;
	while (off < size) {
		op = data[off++];
		w = &rt_fz_w[(op >> 3) & 7];
		n = 0;
		if ((op & 3) <= 1) {
			if (size - off < 2)
				break;
			n = (size_t)data[off] << 8 | data[off + 1];
			off += 2;
			if (n == 0 || n > size - off)
				break;
		}
		switch (op & 3) {
		case 0:
			fd = -1;
			if (op & 4) {
				if (socketpair(AF_UNIX, SOCK_SEQPACKET |
				    SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == -1)
					break;
				rt_fz_hangup(w);
				w->fd = sv[0];
				fd = sv[1];
			}
			rt_fz_note_serial(data + off, n);
			(void)ipc_send_raw(rt_fz_ctl[0], data + off, n, fd);
			if (fd != -1)
				close(fd);	/* the router has its copy */
			break;
		case 1:
			if (w->fd != -1)
				(void)ipc_send_raw(w->fd, data + off, n, -1);
			break;
		case 2:
			rt_fz_hangup(w);
			break;
		}
		off += n;
		if (rt_fz_round() == -1)
			break;
	}
	/* Leave nothing for the next input: every channel and descriptor. */
	for (i = 0; i < RT_FZ_WORKERS; i++)
		rt_fz_hangup(&rt_fz_w[i]);
	for (i = 0; i < rt_fz_cs.nchans; i++)
		chanserv_close(rt_fz_cs.chans[i]);
	(void)rt_fz_round();
	while (ipc_recv(rt_fz_ctl[1], &rt_fz_cs.msg, 1) == 1) {
		if (rt_fz_cs.msg.fd != -1)
			close(rt_fz_cs.msg.fd);
		ipc_msg_clear(&rt_fz_cs.msg);
	}
	FUZZ_CHECK(rt_fz_cs.nchans == 0);
	if ((fd = dup(rt_fz_ctl[0])) != -1) {
		FUZZ_CHECK(fd == lowfd);
		close(fd);
	}
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(rt_fz_init, rt_fz_one)
#endif
