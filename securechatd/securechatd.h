/*
 * securechatd.h: the securechatd process boundary (master <-> worker) and
 * the configuration that the master parses and hands to its workers.
 *
 * The master (master.c) runs as root: it binds, starts keyd, authd and
 * the router, accepts connections, and for each one forks and executes
 * the worker program (`LIBEXECDIR/session -f conf -S serial -A addr [-d]
 * [-v]`: session/session.c, protocol in session/worker.c).  The worker
 * finds its descriptors at fixed numbers, everything above them closed:
 *
 *	3  WORKER_FD_CLIENT	the client's TCP socket
 *	4  WORKER_FD_KEYD	its own channel to keyd (KEYD_CTL_NEW_CHANNEL)
 *	5  WORKER_FD_AUTHD	its own channel to authd (AUTHD_CTL_NEW_CHANNEL)
 *	6  WORKER_FD_CTL	control channel to the master (messages below)
 *	7  WORKER_FD_ROUTER	its own channel to the router
 *				(ROUTER_CTL_NEW_CHANNEL, router/router.h); when
 *				the router is not running, a socket whose peer
 *				is already closed (EOF: no live delivery)
 *
 * and, only once it has logged in:
 *
 *	8  WORKER_FD_TRANSCRIPT	its transcript, created append-only by the
 *				master (WORKER_TRANSCRIPT below): the first
 *				free descriptor, so always this one
 *
 * A connection that never authenticates leaves no file behind: a flood
 * of handshakes cannot fill the transcript directory, and the master
 * spends no inode allocation on it.
 *
 * Control channel (SOCK_SEQPACKET, common/ipc.h framing):
 *  - master -> worker, exactly once, first: WORKER_CONFIG.  The worker
 *    runs with the configuration text the master validated, not with
 *    whatever the file holds now (it may have been edited since).
 *  - master -> worker, exactly once, in answer to WORKER_STATE
 *    WORKER_ST_AUTH: WORKER_TRANSCRIPT.
 *  - worker -> master: WORKER_AUDIT events and WORKER_STATE changes, any
 *    number, in any order; WORKER_RECEIPT at most once per role.  Anything else, or a malformed body, makes the
 *    master kill the worker.  When the worker closes the channel the
 *    master waits for its exit.
 */
#ifndef SC_SECURECHATD_H
#define SC_SECURECHATD_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "ipc.h"

#define WORKER_FD_CLIENT	3
#define WORKER_FD_KEYD		4
#define WORKER_FD_AUTHD		5
#define WORKER_FD_CTL		6
#define WORKER_FD_ROUTER	7
#define WORKER_FD_EXEC_LAST	WORKER_FD_ROUTER	/* open at exec */
#define WORKER_FD_TRANSCRIPT	8	/* received after login */
#define WORKER_FD_LAST		WORKER_FD_TRANSCRIPT

/* master -> worker: the configuration file's bytes (at most SC_CONF_MAX). */
#define WORKER_CONFIG		0x0100
/*
 * worker -> master: the session moved on.
 *	u8	state		(enum worker_state; only ever forward)
 *	str16	username	(empty before login; at most SC_USER_MAX bytes)
 * The master counts unauthenticated connections (MaxStartups) from it,
 * and kills a worker still in WORKER_ST_HANDSHAKE long after
 * handshake_timeout.
 */
#define WORKER_STATE		0x0101
/*
 * master -> worker: the session's transcript (SCM_RIGHTS, empty body),
 * created O_EXCL append-only once the worker reports WORKER_ST_AUTH.
 * The worker waits for it before its first session record.
 */
#define WORKER_TRANSCRIPT	0x0103
/*
 * worker -> master: a signed session receipt to keep (the worker cannot
 * open files).  At most one per role; the master writes it as JSON
 * (receipt_write_json) to receipt_dir/<transcript name>.<role>.json,
 * role "client" or "server".
 *	16	session_id
 *	32	signer_fp	(SHA-256 of the signer's certificate DER)
 *	...	receipt		(the wire form, sc_receipt_encode), to the end
 */
#define WORKER_RECEIPT		0x0102
/* worker -> master: one audit event (common/audit.h). */
#define WORKER_AUDIT		IPC_MSG_AUDIT

/*
 * The zygote (worker_spawn fork, session/zygote.c): the session program
 * started as `session -Z -f conf [-d] [-v]`, its control channel on
 * ZYGOTE_FD_CTL (nothing else open above 2).  It loads what every worker
 * needs, warms OpenSSL up, drops to worker_user in the jail, installs
 * its seccomp filter and then forks one worker per ZYGOTE_SPAWN, with
 * CLONE_PARENT so that the worker is the master's child (reaped,
 * signalled and accounted like an executed one).
 *  - master -> zygote, exactly once, first: WORKER_CONFIG.
 *  - zygote -> master, once, when it can fork: ZYGOTE_READY (empty).
 *  - master -> zygote: ZYGOTE_SPAWN, with the worker's five descriptors
 *    in WORKER_FD_CLIENT..WORKER_FD_EXEC_LAST order (SCM_RIGHTS):
 *	u64	serial
 *	str16	addr		(at most SC_ADDR_MAX - 1 bytes)
 *  - zygote -> master, for each, with its id: ZYGOTE_SPAWNED
 *	u32	pid		(0: no worker)
 *	u32	errno		(when pid is 0)
 * Anything else ends the zygote; the master then executes workers until
 * a new zygote is ready.
 */
#define ZYGOTE_FD_CTL		9
#define ZYGOTE_SPAWN_FDS	(WORKER_FD_EXEC_LAST - WORKER_FD_CLIENT + 1)
#define ZYGOTE_READY		0x0110
#define ZYGOTE_SPAWN		0x0111
#define ZYGOTE_SPAWNED		0x0112

enum worker_state {
	WORKER_ST_HANDSHAKE = 1,	/* from fork until login succeeds */
	WORKER_ST_AUTH = 2,		/* logged in (or registered) */
	WORKER_ST_CLOSING = 3,		/* receipts exchanged, going away */
};

/* Report a state change on the control channel (worker side). */
int	worker_send_state(int ctlfd, enum worker_state, const char *username);

/* Configuration (conf.c; documented in docs/man/securechatd.conf.5). */
#define SC_CONF_PATH		SYSCONFDIR "/securechat/securechatd.conf"
/* Fits one WORKER_CONFIG; securechatd.conf(5) promises 32768 bytes. */
#define SC_CONF_MAX		(32 * 1024)
#define SC_PATH_MAX		1024
#define SC_USER_MAX		32
#define SC_HOST_MAX		256
#define SC_ADDR_MAX		64	/* textual peer address, no port */
#define SC_MAX_LISTEN		16
#define SC_DEFAULT_PORT		"9000"
#define SC_AUTHD_PROCESSES_MAX	16	/* authd_processes bound */
#define SC_KEYD_PROCESSES_MAX	16	/* keyd_processes bound */
/* worker_spawn: fork each worker from the template, or exec each one. */
#define WORKER_SPAWN_FORK	1
#define WORKER_SPAWN_EXEC	2

struct sc_listen {
	char		host[SC_ADDR_MAX];	/* numeric address; "" = any */
	char		port[8];
};

struct sc_config {
	struct sc_listen listen[SC_MAX_LISTEN];
	unsigned int	 nlisten;	/* 0 in a file means *:9000 */

	/* Public material the worker loads before its drop. */
	char		 ca[SC_PATH_MAX];
	char		 crl[SC_PATH_MAX];		/* "" = none */
	char		 cert[SC_PATH_MAX];
	char		 server_name[SC_HOST_MAX];	/* "" = not checked */
	/* Secrets: only keyd reads key, only authd reads db_config. */
	char		 key[SC_PATH_MAX];
	char		 db_config[SC_PATH_MAX];

	char		 worker_user[SC_USER_MAX + 1];
	int		 worker_spawn;		/* WORKER_SPAWN_FORK/_EXEC */
	char		 keyd_user[SC_USER_MAX + 1];
	char		 authd_user[SC_USER_MAX + 1];
	char		 router_user[SC_USER_MAX + 1];
	char		 jail[SC_PATH_MAX];
	char		 keyd_path[SC_PATH_MAX];	/* "" = default */
	char		 authd_path[SC_PATH_MAX];	/* "" = default */
	/* authd instances (each hashes on its own CPU); default: CPUs online */
	unsigned int	 authd_processes;
	unsigned int	 keyd_processes;
	char		 router_path[SC_PATH_MAX];	/* "" = default */

	char		 transcript_dir[SC_PATH_MAX];
	int		 transcript_sync;	/* TRANSCRIPT_SYNC_EACH/_BATCH */
	char		 receipt_dir[SC_PATH_MAX];
	char		 audit_log[SC_PATH_MAX];

	unsigned int	 max_sessions;
	unsigned int	 startups_begin;	/* max_startups start:rate:full */
	unsigned int	 startups_rate;		/* percent */
	unsigned int	 startups_full;
	unsigned int	 max_per_source;
	unsigned int	 handshake_timeout;	/* seconds */
	unsigned int	 idle_timeout;		/* seconds, 0 = none */
	unsigned int	 stale_window;		/* seconds */
	unsigned int	 drain_timeout;		/* seconds, on SIGTERM */

	int		 registration;		/* 1 = open */
	unsigned int	 scrypt_n_log2;
	unsigned int	 scrypt_r;
	unsigned int	 scrypt_p;
	unsigned int	 auth_max_failures;
	unsigned int	 auth_failure_window;	/* seconds */
	int		 bind_certificates;	/* accounts bound to certs */
	unsigned int	 message_rate;		/* envelopes/s per user */
	unsigned int	 message_burst;
	unsigned int	 message_queue_max;	/* per recipient */
	unsigned int	 room_max_members;
	unsigned int	 message_retention;	/* days */
	int		 log_facility;		/* LOG_DAEMON, ... */

	/* Run time, not from the file (set by securechatd.c). */
	char		 path[SC_PATH_MAX];	/* the file it came from */
	int		 foreground;		/* -d */
	int		 verbose;		/* -v count */
	uint64_t	 session_serial;	/* worker: -S */
	char		 peer_addr[SC_ADDR_MAX];	/* worker: -A */
};

/* Defaults of every keyword (no listen address, no ca/cert/key). */
void	conf_init(struct sc_config *);
/*
 * Parse configuration text (name is used in messages).  On error returns
 * -1 with err holding "name:line: message" (or "name: message" for the
 * file as a whole); *conf is then undefined.
 */
int	conf_parse(struct sc_config *, const char *name, const char *text,
	    size_t len, char *err, size_t errlen);
/*
 * Read and parse path.  On success *textp (if not NULL) gets a malloc'd
 * copy of the bytes parsed (for WORKER_CONFIG) and *lenp their length.
 */
int	conf_load(struct sc_config *, const char *path, char **textp,
	    size_t *lenp, char *err, size_t errlen);
/*
 * What the file cannot say alone: the files named exist and are
 * readable, the users exist, the jail is safe (as root), the directories
 * exist.  Each problem is logged; returns how many there were.
 */
int	conf_check_env(const struct sc_config *);
/*
 * The programs keyd, authd and router: keyd_path (authd_path,
 * router_path), else $SC_LIBEXECDIR/name, else LIBEXECDIR/name.
 */
void	conf_helper_path(const struct sc_config *, const char *name,
	    char *out, size_t outlen);
/* "daemon", "local0", ... for a LOG_* facility. */
const char *conf_facility_name(int facility);

/* Master (master.c): never returns; exits 0 after SIGTERM. */
void	master_main(struct sc_config *, const char *conftext, size_t textlen)
	    __attribute__((noreturn));

/*
 * Worker (worker.c): runs one client session on the descriptors above and
 * returns the process's exit status.  argc/argv are securechatd's own.
 */
int	worker_main(const struct sc_config *, int argc, char **argv);

#endif
