/*
 * chanserv.h: the channel-serving loop shared by the daemons that serve
 * one SOCK_SEQPACKET channel per worker (keyd, router).
 *
 * Such a daemon is started by the master with its control channel on
 * IPC_CTL_FD.  The master hands it each new worker channel (a
 * NEW_CHANNEL control message: u64 session_serial, str16 peer_addr, with
 * the daemon's end of a fresh socketpair attached); the daemon serves
 * every channel with poll(2), one message per ready channel and round so
 * that a busy worker cannot starve the others, drops a channel when its
 * worker goes away (EOF), and when a request breaks the daemon's request
 * table it logs and audits the refusal, closes that channel and asks the
 * master to kill that worker (a KILL_WORKER control message: u64
 * session_serial), then goes on serving the others.  It exits when the
 * master does (EOF on the control channel) or on SIGTERM/SIGINT.
 *
 * This file owns that loop and the channel table; each daemon keeps its
 * own request table (which request is allowed in which state) and says
 * what differs with a struct chanserv_ops.  A daemon's channel struct
 * holds a struct chanserv_chan; CHANSERV_CHAN() gets back from it to the
 * daemon's struct.  The loop calls nothing beyond poll, recvmsg, sendmsg,
 * fcntl, close and malloc, which every daemon's sandbox allows.
 */
#ifndef SC_CHANSERV_H
#define SC_CHANSERV_H

#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

#define CHANSERV_MAX_PEER	128	/* "[v6addr]:port" */

/* What the loop knows of a worker's channel. */
struct chanserv_chan {
	int		 fd;			/* non-blocking; -1 when closed */
	uint64_t	 serial;		/* the master's session serial */
	char		 peer[CHANSERV_MAX_PEER + 1];
	int		 dead;			/* closed; freed by the loop */
};

/* The daemon's channel of type t whose struct chanserv_chan member is m. */
#define CHANSERV_CHAN(p, t, m)	\
	((t *)(void *)((char *)(p) - offsetof(t, m)))

/* Outcome of one request (chanserv_ops.request). */
#define CHANSERV_OK		0	/* reply in *rtype and the reply buffer */
#define CHANSERV_NOREPLY	1	/* done, nothing to answer */
#define CHANSERV_REFUSE		-1	/* not permitted: close, kill the worker */
#define CHANSERV_ERROR		-2	/* permitted, failed inside the daemon */

/* chanserv_ops.flags */
/* A serial names one session: a second channel for it is refused. */
#define CHANSERV_UNIQUE_SERIAL	0x01
/*
 * A reply the worker's full socket cannot take is dropped (the reply is
 * only information); without this flag the worker is refused, since it
 * would stall the daemon for everyone else.
 */
#define CHANSERV_DROP_REPLIES	0x02

struct chanserv;
struct pollfd;
struct wbuf;

struct chanserv_ops {
	const char	*name;		/* the daemon, in log lines */
	uint16_t	 ctl_new_channel;	/* master -> daemon */
	uint16_t	 ctl_kill_worker;	/* daemon -> master */
	uint16_t	 fail_reply;	/* the reply to CHANSERV_ERROR */
	unsigned int	 flags;		/* CHANSERV_* above */
	/* A fresh channel for fd (set up with chanserv_chan_init), or NULL. */
	struct chanserv_chan *(*open)(int fd, uint64_t serial,
			    const char *peer);
	/* Free a channel closed and taken out of the table. */
	void		 (*free)(struct chanserv_chan *);
	/* Look the request up in the daemon's table and run it. */
	int		 (*request)(struct chanserv *, struct chanserv_chan *,
			    const struct ipc_msg *, struct wbuf *reply,
			    uint16_t *rtype, const char **reqname,
			    const char **why);
	/* Log and audit a refusal (the loop then closes and kills). */
	void		 (*refused)(struct chanserv *, struct chanserv_chan *,
			    const char *req, const char *why);
	/* The worker has gone (EOF): log it.  NULL: a debug line. */
	void		 (*closed)(struct chanserv_chan *);
	/*
	 * A control message other than NEW_CHANNEL: 0 when handled, -1 for
	 * a type the daemon does not know (logged and ignored).  NULL: none.
	 * A descriptor left in m->fd is closed by the loop.
	 */
	int		 (*control)(struct chanserv *, struct ipc_msg *);
};

/* The channel table; handlers read chans[0..nchans) (dead ones too). */
struct chanserv {
	const struct chanserv_ops *ops;
	int			  ctl;	/* IPC_CTL_FD (a test may set another) */
	struct chanserv_chan	**chans;
	size_t			  nchans;
	size_t			  max;
	struct pollfd		 *pfd;
	struct ipc_msg		  msg;	/* one at a time; 65 KiB off the stack */
};

/* Check IPC_CTL_FD is the control channel and close everything above it. */
void	chanserv_inherit_ctl(void);
/*
 * SIGTERM and SIGINT end chanserv_run() (the handler only sets a flag);
 * SIGPIPE and SIGHUP are ignored.  Fatal on error.
 */
void	chanserv_signals(void);
/* An empty table for up to max channels; 0, or -1 out of memory. */
int	chanserv_init(struct chanserv *, const struct chanserv_ops *,
	    size_t max);
/* Serve until the master goes away or a signal says stop. */
void	chanserv_run(struct chanserv *);
/*
 * One round of chanserv_run: wait at most timeout_ms (-1: for ever), then
 * one message from each ready channel, free the closed channels, and one
 * control message.  0, or -1 when the master has gone.
 */
int	chanserv_round(struct chanserv *, int timeout_ms);
void	chanserv_chan_init(struct chanserv_chan *, int fd, uint64_t serial,
	    const char *peer);
/* The open channel of session serial, or NULL. */
struct chanserv_chan *chanserv_find(struct chanserv *, uint64_t serial);
/* Close c (the loop frees it after this round). */
void	chanserv_close(struct chanserv_chan *);
/* Refuse c: ops->refused, close it, ask the master to kill its worker. */
void	chanserv_refuse(struct chanserv *, struct chanserv_chan *,
	    const char *req, const char *why);
void	chanserv_kill_worker(struct chanserv *, uint64_t serial);

#endif
