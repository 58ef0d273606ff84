/*
 * worker.h: the stages of a worker (worker.c), shared by its two ways of
 * starting (securechatd.conf(5) worker_spawn):
 *
 *	exec:	session -f -S -A	worker_prepare, worker_drop,
 *					worker_confine, worker_serve
 *	fork:	session -Z -f		worker_prepare, worker_warm, worker_drop
 *		(the zygote, zygote.c),	then a fork ahead of each connection
 *					that runs worker_confine, waits for
 *					its descriptors, then worker_serve
 */
#ifndef SC_SESSION_WORKER_H
#define SC_SESSION_WORKER_H

#include <stdint.h>

#include "securechatd/securechatd.h"

/* Load the CA, CRL and certificate (fatal on failure); before the drop. */
void	worker_prepare(const struct sc_config *);
/* Run every OpenSSL path of a session once on throw-away data. */
void	worker_warm(void);
/*
 * chroot to the jail as worker_user (fatal on failure); max_procs is the
 * RLIMIT_NPROC left (0: the process can never fork).
 */
void	worker_drop(unsigned int max_procs);
/* Make the session's X25519 share now (once; fatal on failure). */
void	worker_keygen(void);
/* The worker's seccomp filter (fatal on failure). */
void	worker_confine(void);
/*
 * The session on descriptors WORKER_FD_CLIENT..WORKER_FD_EXEC_LAST, for
 * the peer in the configuration's peer_addr, confined: handshake, login,
 * records.  Returns the exit status.
 */
int	worker_serve(void);

/* session.c: a session serial and a peer address as the master sends them. */
int	session_parse_serial(const char *, uint64_t *);
int	session_addr_ok(const char *);

/*
 * zygote.c: the zygote's life (session -Z), its control channel on
 * ZYGOTE_FD_CTL.  Returns only in a forked worker, with the worker's exit
 * status; the zygote itself exits.
 */
int	zygote_main(struct sc_config *);

#endif
