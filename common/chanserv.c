/*
 * chanserv.c: the channel-serving loop of keyd and the router (see
 * chanserv.h): the control channel, the table of worker channels, one
 * message per ready channel and round, and the refusal that closes a
 * channel and has its worker killed.  What a request means is the
 * daemon's business (its request table); this file only moves messages.
 */
#include "chanserv.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "util.h"

static volatile sig_atomic_t	chanserv_quit;

static void
sighandler(int sig)
{
	(void)sig;
	chanserv_quit = 1;
}

void
chanserv_inherit_ctl(void)
{
	struct stat st;

	/* Only the control channel is inherited; nothing else stays open. */
	if (fstat(IPC_CTL_FD, &st) == -1 || !S_ISSOCK(st.st_mode))
		fatalx("descriptor %d is not the control channel", IPC_CTL_FD);
	closefrom(IPC_CTL_FD + 1);
}

void
chanserv_signals(void)
{
	daemon_signals(sighandler);
}

int
chanserv_init(struct chanserv *cs, const struct chanserv_ops *ops,
    size_t max)
{
	memset(cs, 0, sizeof(*cs));
	cs->ops = ops;
	cs->ctl = IPC_CTL_FD;
	cs->max = max;
	cs->msg.fd = -1;
	/* Both sized once: nothing grows while serving. */
	if ((cs->chans = calloc(max, sizeof(*cs->chans))) == NULL ||
	    (cs->pfd = calloc(max + 1, sizeof(*cs->pfd))) == NULL) {
		free(cs->chans);
		cs->chans = NULL;
		return -1;
	}
	return 0;
}

void
chanserv_chan_init(struct chanserv_chan *c, int fd, uint64_t serial,
    const char *peer)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->serial = serial;
	strlcpy(c->peer, peer, sizeof(c->peer));
}

struct chanserv_chan *
chanserv_find(struct chanserv *cs, uint64_t serial)
{
	size_t i;

	for (i = 0; i < cs->nchans; i++)
		if (!cs->chans[i]->dead && cs->chans[i]->serial == serial)
			return cs->chans[i];
	return NULL;
}

void
chanserv_close(struct chanserv_chan *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->dead = 1;
}

void
chanserv_kill_worker(struct chanserv *cs, uint64_t serial)
{
	struct wbuf b;

	wbuf_init(&b, 8);
	wbuf_put_u64(&b, serial);
	if (b.err || ipc_send(cs->ctl, cs->ops->ctl_kill_worker, 0, b.data,
	    b.len) == -1)
		log_warn("session %llu: cannot ask the master to kill the "
		    "worker", (unsigned long long)serial);
	wbuf_free(&b);
}

void
chanserv_refuse(struct chanserv *cs, struct chanserv_chan *c,
    const char *req, const char *why)
{
	cs->ops->refused(cs, c, req, why);
	chanserv_close(c);
	chanserv_kill_worker(cs, c->serial);
}

/* Send the reply to a permitted request. */
static void
chan_reply(struct chanserv *cs, struct chanserv_chan *c, uint16_t rtype,
    uint32_t id, const struct wbuf *reply, const char *req)
{
	/*
	 * The channel is non-blocking: a worker that does not read its
	 * replies cannot stall the daemon for everyone else.
	 */
	if (ipc_send(c->fd, rtype, id, reply->data, reply->len) == 0)
		return;
	if (cs->ops->flags & CHANSERV_DROP_REPLIES)
		log_debug("session %llu: reply dropped: %s",
		    (unsigned long long)c->serial, strerror(errno));
	else if (errno == EAGAIN || errno == EWOULDBLOCK)
		chanserv_refuse(cs, c, req, "worker does not read its "
		    "replies");
	else {
		log_debug("session %llu: reply: %s",
		    (unsigned long long)c->serial, strerror(errno));
		chanserv_close(c);
	}
}

static void
chan_read(struct chanserv *cs, struct chanserv_chan *c)
{
	struct ipc_msg *m = &cs->msg;
	struct wbuf reply;
	const char *req = "unknown", *why = "";
	uint16_t rtype = 0;
	int n, rc;

	if (c->dead)
		return;
	if ((n = ipc_recv(c->fd, m, 0)) == 0 ||
	    (n == -1 && errno == ECONNRESET)) {
		/* The worker is gone: its session is over. */
		if (cs->ops->closed != NULL)
			cs->ops->closed(c);
		else
			log_debug("session %llu: channel closed",
			    (unsigned long long)c->serial);
		chanserv_close(c);
		return;
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		chanserv_refuse(cs, c, "malformed message", strerror(errno));
		return;
	}
	wbuf_init(&reply, IPC_MAX_BODY);
	rc = cs->ops->request(cs, c, m, &reply, &rtype, &req, &why);
	switch (rc) {
	case CHANSERV_OK:
		chan_reply(cs, c, rtype, m->hdr.id, &reply, req);
		break;
	case CHANSERV_NOREPLY:
		break;
	case CHANSERV_ERROR:
		log_warnx("session %llu: %s failed inside %s; closing channel",
		    (unsigned long long)c->serial, req, cs->ops->name);
		(void)ipc_send(c->fd, cs->ops->fail_reply, m->hdr.id, NULL, 0);
		chanserv_close(c);
		break;
	default:
		chanserv_refuse(cs, c, req, why);
		break;
	}
	/* Both are wiped: a request may carry what a daemon keeps secret. */
	ipc_msg_clear(m);
	wbuf_free(&reply);
}

static void
ctl_new_channel(struct chanserv *cs, struct ipc_msg *m)
{
	struct chanserv_chan *c;
	struct cursor cur;
	const uint8_t *addr;
	char peer[CHANSERV_MAX_PEER + 1];
	uint64_t serial;
	size_t alen;
	int fl, fd = m->fd;

	cur_init(&cur, m->body, m->len);
	serial = cur_u64(&cur);
	addr = cur_str16(&cur, &alen, CHANSERV_MAX_PEER);
	if (cur_done(&cur) == -1 || addr == NULL || fd == -1) {
		log_warnx("control: malformed NEW_CHANNEL ignored");
		return;		/* the caller closes m->fd */
	}
	m->fd = -1;		/* ours now */
	memcpy(peer, addr, alen);
	peer[alen] = '\0';
	if (memchr(peer, '\0', alen) != NULL)
		strlcpy(peer, "?", sizeof(peer));
	if ((cs->ops->flags & CHANSERV_UNIQUE_SERIAL) &&
	    chanserv_find(cs, serial) != NULL) {
		log_warnx("session %llu (%s): a channel for it is already "
		    "open; new one refused", (unsigned long long)serial, peer);
		close(fd);
		return;
	}
	if (cs->nchans >= cs->max) {
		log_warnx("session %llu (%s): too many channels (%zu)",
		    (unsigned long long)serial, peer, cs->max);
		close(fd);
		chanserv_kill_worker(cs, serial);
		return;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (c = cs->ops->open(fd, serial, peer)) == NULL) {
		log_warn("session %llu: new channel", (unsigned long long)serial);
		close(fd);
		chanserv_kill_worker(cs, serial);
		return;
	}
	cs->chans[cs->nchans++] = c;
	log_debug("session %llu (%s): channel open, %zu in use",
	    (unsigned long long)serial, peer, cs->nchans);
}

/* Returns 0 to go on, -1 when the master has gone. */
static int
ctl_read(struct chanserv *cs)
{
	struct ipc_msg *m = &cs->msg;
	int n;

	if ((n = ipc_recv(cs->ctl, m, 1)) == 0)
		return -1;
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		log_warn("control channel");
		return -1;
	}
	if (m->hdr.type == cs->ops->ctl_new_channel)
		ctl_new_channel(cs, m);
	else if (cs->ops->control == NULL || cs->ops->control(cs, m) == -1)
		log_warnx("control: unexpected message type %u ignored",
		    m->hdr.type);
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
	ipc_msg_clear(m);
	return 0;
}

/* Free the channels closed in this round, keeping the array dense. */
static void
chans_reap(struct chanserv *cs)
{
	size_t i, j;

	for (i = 0, j = 0; i < cs->nchans; i++) {
		if (cs->chans[i]->dead) {
			cs->ops->free(cs->chans[i]);
			continue;
		}
		cs->chans[j++] = cs->chans[i];
	}
	cs->nchans = j;
}

int
chanserv_round(struct chanserv *cs, int timeout_ms)
{
	struct pollfd *pfd = cs->pfd;
	size_t i, n;

	pfd[0].fd = cs->ctl;
	pfd[0].events = POLLIN;
	pfd[0].revents = 0;
	n = cs->nchans;
	for (i = 0; i < n; i++) {
		pfd[1 + i].fd = cs->chans[i]->fd;
		pfd[1 + i].events = POLLIN;
		pfd[1 + i].revents = 0;
	}
	if (poll(pfd, 1 + n, timeout_ms) == -1) {
		if (errno == EINTR)
			return 0;
		fatal("poll");
	}
	/*
	 * One message per ready channel and round: a busy worker cannot
	 * starve the others.  Workers first: a channel added now is not in
	 * pfd yet.
	 */
	for (i = 0; i < n; i++)
		if (pfd[1 + i].revents & (POLLIN | POLLHUP | POLLERR))
			chan_read(cs, cs->chans[i]);
	chans_reap(cs);
	if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
		return ctl_read(cs);
	return 0;
}

void
chanserv_run(struct chanserv *cs)
{
	while (!chanserv_quit)
		if (chanserv_round(cs, -1) == -1) {
			log_debug("master went away");
			return;
		}
	log_debug("terminating on signal");
}
