/*
 * zygote.c: the session zygote (worker_spawn fork, the default).
 *
 *	session -Z -f file [-d] [-v]
 *
 * A worker started by exec pays, in every connection, for mapping and
 * relocating libcrypto and for OpenSSL 3's lazy set-up on first use
 * (decoders, algorithm fetches): about 3.4 ms of CPU, more than a whole
 * TLS 1.3 handshake (docs/PERFORMANCE.md).  The zygote pays it once: it
 * loads the CA, CRL and certificate, runs every crypto path once on
 * throw-away data, drops to worker_user in the jail with no new
 * privileges, installs its own seccomp filter, and then only forks.
 *
 * Each worker is a fork of it, made with CLONE_PARENT so that its parent
 * is the master: the master reaps it, signals it and counts its CPU time
 * exactly as an executed worker's.  It is forked ahead of its connection
 * (the spare): it confines itself (RLIMIT_NPROC 0, the worker's seccomp
 * filter on top of the zygote's) and waits on its own channel for the
 * five descriptors of ZYGOTE_SPAWN, which the zygote forwards to it before
 * it answers the master with its pid and forks the next spare.  The
 * zygote holds no secret the workers do not (public material and the
 * configuration text only; the config never names a secret, only where
 * keyd and authd find theirs), and it reads nothing but ZYGOTE_SPAWN from
 * the master.
 *
 * What the workers share with each other is the zygote's address-space
 * layout and stack canary.  The master bounds that (securechatd/zygote.c):
 * a new zygote after every ZYGOTE_MAX_SPAWNS workers, after any worker
 * dies of a signal (so a crash-and-retry probe of the layout, as in
 * blind ROP, meets a fresh one every time), on SIGHUP, and whenever the
 * CA, CRL or certificate file changes.  worker_spawn exec gives every
 * connection its own layout at the old cost.
 */
#include "securechatd/securechatd.h"

#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "privdrop.h"
#include "sandbox.h"
#include "session/worker.h"
#include "util.h"

/* Processes of worker_user beyond max_sessions (restarts overlap). */
#define ZYGOTE_NPROC_MARGIN	16
/* The spare's channel to the zygote, above every WORKER_FD_*. */
#define SPARE_FD		16

/*
 * The spare: the next worker, forked ahead of its connection, so that
 * the fork, the move of its descriptors, its seccomp filter and its key
 * share are not on the way of a client's handshake.  It waits in the
 * worker sandbox on its own channel to the zygote for ZYGOTE_SPAWN.
 * (Two spares were tried: no faster on two CPUs.)
 */
static struct {
	pid_t	pid;		/* 0: none */
	int	fd;		/* the zygote's end of its channel */
} spare = { 0, -1 };

/* The worker's seccomp program, prepared by the zygote (or none). */
static struct sandbox_prog worker_prog;

/*
 * In the spare: nothing open but stdio and its channel (moved to
 * SPARE_FD), so that the five descriptors of ZYGOTE_SPAWN arrive as the
 * lowest free ones, 3..7 (WORKER_FD_*), and the transcript later as 8; a
 * fresh random stream; confined; then it waits.
 */
static void __attribute__((noreturn))
spare_child(struct sc_config *conf, int chan)
{
	static struct ipc_msg m;	/* IPC_MAX_BODY: not on the stack */
	struct cursor c;
	const uint8_t *a;
	size_t alen, nfds, i;
	int fds[IPC_MAX_FDS], rc;

	log_rename("securechatd-worker");
	setproctitle("spare worker");
	if (chan != SPARE_FD) {
		if (dup2(chan, SPARE_FD) == -1)
			fatal("worker: dup2");
	}
	if (close_range(WORKER_FD_CLIENT, SPARE_FD - 1, 0) == -1 ||
	    close_range(SPARE_FD + 1, ~0U, 0) == -1)
		fatal("worker: close_range");
	/* As an executed worker: it may never fork. */
	if (privdrop_nofork() == -1)
		fatalx("worker: cannot forbid fork");
	/*
	 * The raw clone ran no atfork handler: never let two workers draw
	 * from one arc4random state copied from the zygote.
	 */
	arc4random_stir();
	/* The worker's filter, compiled once by the zygote. */
	if (worker_prog.insn == NULL)
		worker_confine();
	else if (sandbox_load(&worker_prog) == -1)
		fatalx("cannot install the worker sandbox");
	/* Its key share, made from its own random stream before it waits. */
	worker_keygen();

	if ((rc = ipc_recv_fds(SPARE_FD, &m, fds, IPC_MAX_FDS, &nfds)) == 0)
		exit(0);		/* its zygote was retired */
	if (rc == -1)
		fatal("worker: zygote channel");
	if (m.hdr.type != ZYGOTE_SPAWN || nfds != ZYGOTE_SPAWN_FDS)
		fatalx("worker: unexpected message %u from the zygote",
		    m.hdr.type);
	for (i = 0; i < nfds; i++)
		if (fds[i] != WORKER_FD_CLIENT + (int)i)
			fatalx("worker: descriptor %d arrived as %d",
			    WORKER_FD_CLIENT + (int)i, fds[i]);
	close(SPARE_FD);
	/* Checked by the zygote before it was forwarded. */
	cur_init(&c, m.body, m.len);
	conf->session_serial = cur_u64(&c);
	a = cur_str16(&c, &alen, SC_ADDR_MAX - 1);
	if (cur_done(&c) == -1 || a == NULL)
		fatalx("worker: malformed spawn request");
	memcpy(conf->peer_addr, a, alen);
	conf->peer_addr[alen] = '\0';
	exit(worker_serve());
}

/*
 * Fork the spare, with the master as its parent.  The zygote has one
 * thread and holds no lock here, so glibc's atfork work (which a raw
 * clone skips) has nothing to do but reseed arc4random, done in the
 * spare.  0, or -1 with errno set.
 */
static int
spare_fork(struct sc_config *conf)
{
	int sv[2], err;
	pid_t pid;

	if (spare.pid != 0) {
		errno = EBUSY;
		return -1;
	}
	if (ipc_socketpair(sv) == -1)
		return -1;
	/*
	 * Small chunks this process freed sit in malloc's fast bins; the
	 * first large allocation in a worker would merge them all, writing
	 * to (copying) every page they are on.  Merged here once instead.
	 */
	(void)malloc_trim(0);
	pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		close(sv[0]);
		spare_child(conf, sv[1]);
	}
	err = errno;
	close(sv[1]);
	if (pid == -1) {
		close(sv[0]);
		errno = err;
		return -1;
	}
	spare.pid = pid;
	spare.fd = sv[0];
	return 0;
}

/* Forget the spare (handed over, or found dead). */
static void
spare_drop(void)
{
	if (spare.fd != -1)
		close(spare.fd);
	spare.fd = -1;
	spare.pid = 0;
}

/*
 * Hand the request to the spare (forked now if there is none, or if the
 * one waiting is gone).  Its pid, or -1 with errno set.
 */
static pid_t
spawn(struct sc_config *conf, const struct ipc_msg *m, const int *fds)
{
	pid_t pid;
	int tries;

	for (tries = 0; tries < 2; tries++) {
		if (spare.pid == 0 && spare_fork(conf) == -1)
			return -1;
		if (ipc_send_fds(spare.fd, ZYGOTE_SPAWN, m->hdr.id, m->body,
		    m->len, fds, ZYGOTE_SPAWN_FDS) == 0) {
			pid = spare.pid;
			spare_drop();
			return pid;
		}
		/* It died waiting (killed from outside): another one. */
		log_warn("zygote: spare worker %ld", (long)spare.pid);
		spare_drop();
	}
	return -1;
}

static int
spawned(uint32_t id, pid_t pid, int err)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 8);
	wbuf_put_u32(&b, (uint32_t)pid);
	wbuf_put_u32(&b, (uint32_t)err);
	if (b.err) {
		wbuf_free(&b);
		errno = ENOMEM;
		return -1;
	}
	rc = ipc_send(ZYGOTE_FD_CTL, ZYGOTE_SPAWNED, id, b.data, b.len);
	wbuf_free(&b);
	return rc;
}

int
zygote_main(struct sc_config *conf)
{
	static struct ipc_msg msg;	/* IPC_MAX_BODY: not on the stack */
	struct cursor c;
	const uint8_t *a;
	char addr[SC_ADDR_MAX];
	int fds[IPC_MAX_FDS], rc, err;
	size_t nfds, alen, i;
	uint64_t serial;
	pid_t pid;

	setproctitle("zygote");
	worker_prepare(conf);
	worker_warm();
	/*
	 * Processes of worker_user are at most the workers (max_sessions)
	 * and this one: a bound even if it were made to fork at will.
	 */
	worker_drop(conf->max_sessions + ZYGOTE_NPROC_MARGIN);
	/*
	 * Every worker's filter is the same program but for its pid:
	 * compiled here once instead of by libseccomp in every worker.
	 */
	if (sandbox_prepare(SANDBOX_WORKER, &worker_prog) == -1)
		log_warnx("zygote: workers will compile their own filter");
	if (sandbox_apply(SANDBOX_ZYGOTE) == -1)
		fatalx("cannot install the zygote sandbox");
	if (spare_fork(conf) == -1)
		log_warn("zygote: first spare worker");
	if (ipc_send(ZYGOTE_FD_CTL, ZYGOTE_READY, 0, NULL, 0) == -1)
		fatal("zygote: ready");
	log_debug("zygote ready");

	for (;;) {
		if ((rc = ipc_recv_fds(ZYGOTE_FD_CTL, &msg, fds, IPC_MAX_FDS,
		    &nfds)) == 0)
			exit(0);	/* the master is done with us */
		if (rc == -1)
			fatal("zygote: control channel");
		if (msg.hdr.type != ZYGOTE_SPAWN || nfds != ZYGOTE_SPAWN_FDS)
			fatalx("zygote: unexpected message %u with %zu "
			    "descriptors", msg.hdr.type, nfds);
		cur_init(&c, msg.body, msg.len);
		serial = cur_u64(&c);
		a = cur_str16(&c, &alen, SC_ADDR_MAX - 1);
		if (cur_done(&c) == -1 || serial == 0 || a == NULL)
			fatalx("zygote: malformed spawn request");
		memcpy(addr, a, alen);
		addr[alen] = '\0';
		if (!session_addr_ok(addr))
			fatalx("zygote: bad peer address");

		pid = spawn(conf, &msg, fds);
		err = pid == -1 ? errno : 0;
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (pid == -1)
			log_warnx("zygote: no worker: %s", strerror(err));
		if (spawned(msg.hdr.id, pid == -1 ? 0 : pid, err) == -1)
			fatal("zygote: reply");
		/* The next one, now that the master has its answer. */
		if (spare.pid == 0 && spare_fork(conf) == -1)
			log_warn("zygote: spare worker");
	}
}
