/*
 * faultutil.h: helpers for the fault tests (tests/fault/): drive real
 * sessions with the client engine (common/csession.c), watch the daemon's
 * log, audit log, processes and systemd notifications while processes are
 * killed under it, and check transcripts line by line.
 *
 * Every wait polls with a deadline: the tests must hold on a loaded
 * two-core machine, so nothing sleeps a fixed time and hopes.
 */
#ifndef SC_TU_FAULTUTIL_H
#define SC_TU_FAULTUTIL_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "csession.h"
#include "scenv.h"

/*
 * Connect as the holder of certificate `who` and complete the handshake;
 * the client keeps its transcript in a fresh file of e->dir, whose path
 * is copied to tr when tr is not NULL.  NULL on failure with *err
 * filled in.
 */
struct csession *fu_open(struct scenv *e, const char *who, char *tr,
	    size_t trlen, struct csession_err *err);
/*
 * fu_open, then REGISTER (reg = 1, email user@example.org) or LOGIN.
 * NULL on failure, with the reason printed and, when code is not NULL,
 * the SC_E_* code in *code (0 when the connection itself failed).
 */
struct csession *fu_login(struct scenv *e, const char *who, const char *user,
	    const char *pass, int reg, int *code, char *reason, size_t rlen);
/* Read one frame: the code of an ERROR, 0 for another frame, -1 for none. */
int	fu_server_error(struct csession *cs, int timeout_ms, char *reason,
	    size_t rlen);
/*
 * A logged-in session with both of its transcripts: the client's (ctr)
 * and the one the daemon keeps (str, found through the audit log: the
 * worker's session_start names the session id, the master's
 * connection_accepted of the same serial the transcript).
 */
struct fu_sess {
	struct csession	*cs;
	char		 ctr[PATH_MAX];
	char		 str[PATH_MAX];
	uint8_t		 sid[SC_SESSION_ID_LEN];
};
/* fu_login into s (0), or -1 with *code as for fu_login. */
int	fu_sess_login(struct scenv *e, struct fu_sess *s, const char *who,
	    const char *user, const char *pass, int reg, int *code);
/*
 * Register user with its own certificate (who = user) and close: the
 * accounts a test group's set-up makes.  0 or -1.
 */
int	fu_register(struct scenv *e, const char *user, const char *pass);
/*
 * The accounts the fault tests share, each with the certificate of its
 * name, and their passwords; fu_register_users registers them all (a
 * scenv_up ready hook).
 */
#define FU_NUSERS	3
extern const char *const fu_users[FU_NUSERS];
const char *fu_pass(const char *user);
int	fu_register_users(struct scenv *e);
/*
 * Close with receipts: both sides' receipts are checked by csession and
 * saved in e->dir.  0 or -1.  fu_sess_free frees what is left.
 */
int	fu_sess_close(struct fu_sess *s);
void	fu_sess_free(struct fu_sess *s);
/* Send text and expect "echo: text" back within timeout_ms.  0 or -1. */
int	fu_chat(struct csession *cs, const char *text, int timeout_ms);

/*
 * Every line of a transcript file parses, follows the seq rule, and its
 * signature verifies with the certificate of its direction (client_cert
 * for client->server, server_cert for server->client) over session sid.
 * *nlines gets the number of lines.  0, or -1 with the reason printed.
 */
int	fu_transcript_verify(const char *path,
	    const uint8_t sid[SC_SESSION_ID_LEN], const char *client_cert,
	    const char *server_cert, size_t *nlines);
/* sc-admin receipt verify; returns its exit status (0: valid). */
int	fu_receipt_verify(const char *transcript, const char *receipt,
	    const char *signer_cert, const char *ca);

/* Number of occurrences of needle in the file (0 when missing). */
int	fu_count(const char *path, const char *needle);
/*
 * The pid of the nth (1-based; 0: the latest) start of prog[instance]
 * (prog "keyd" or "authd"), from the master's log line "started
 * authd[i] (pid P)", or -1 when there is none; *starts, when not NULL,
 * gets the number of starts.
 */
pid_t	fu_started(struct scenv *e, const char *prog, int instance, int nth,
	    int *starts);
/*
 * Wait until the file holds at least `min` occurrences of needle.
 * 0, or -1 after timeout_s with the file's tail printed.
 */
int	fu_wait_count(const char *path, const char *needle, int min,
	    int timeout_s);
/*
 * Audit lines: count the lines of the audit log that contain every one
 * of the (NULL-terminated) substrings, e.g. "\"event\":\"child_crash\"",
 * "\"child\":\"keyd\"".  fu_audit_wait waits until at least min exist.
 */
int	fu_audit_count(struct scenv *e, ...) __attribute__((sentinel));
int	fu_audit_wait(struct scenv *e, int min, int timeout_s, ...)
	    __attribute__((sentinel));

/* 1 while /proc/pid exists and is not a zombie. */
int	fu_alive(pid_t pid);
/* Wait until pid is gone or a zombie.  0, or -1 after timeout_s. */
int	fu_wait_gone(pid_t pid, int timeout_s);
/*
 * Wait for a child of ppid whose command line contains needle and whose
 * pid is not `other` (the process it replaces).  Its pid, or -1.
 */
pid_t	fu_wait_child(pid_t ppid, const char *needle, pid_t other,
	    int timeout_s);
/* The same, none of the nknown pids in known. */
pid_t	fu_wait_new_child(pid_t ppid, const char *needle, const pid_t *known,
	    size_t nknown, int timeout_s);
/* Children of ppid whose command line contains needle. */
int	fu_count_children(pid_t ppid, const char *needle);
/*
 * The master's session count from its process title ("master [N
 * sessions, ..."), or -1.  fu_wait_sessions waits until it equals n.
 */
int	fu_master_sessions(pid_t master);
int	fu_wait_sessions(pid_t master, int n, int timeout_s);
/*
 * Bytes waiting to be read at the far end of descriptor fd of pid (a
 * SOCK_SEQPACKET channel, seen with `ss -xn`), or -1 when that end is
 * not held by process holder: tells that a request reached a stopped
 * helper and waits in its socket.
 */
long	fu_channel_pending(pid_t pid, int fd, pid_t holder);

/*
 * A systemd notification socket (unix datagram) at path, which the test
 * hands to the daemon in NOTIFY_SOCKET; a thread collects every
 * datagram, newline-separated (one collector per process).
 * fu_notify_wait waits until needle appears in what was collected;
 * fu_notify_text returns a malloc'd copy of it.
 */
int	fu_notify_start(const char *path);
int	fu_notify_wait(const char *needle, int timeout_s);
char	*fu_notify_text(void);
void	fu_notify_stop(void);

#endif
