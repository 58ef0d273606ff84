/*
 * attackutil.h: helpers shared by the attack tests of authentication,
 * resources and privilege separation (tests/attack/test_attack_*.c).
 *
 * Everything here talks to a real installation (scenv.h): TCP connections
 * from a chosen loopback source address (127.0.0.2, ... are all local on
 * Linux, so a test can play several clients), the real client engine
 * (csession.h) driven with fields no honest client would send, the
 * master's own counters (its process title), and the audit log parsed as
 * the JSON lines it is.
 */
#ifndef SC_TU_ATTACKUTIL_H
#define SC_TU_ATTACKUTIL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "csession.h"
#include "scenv.h"

/*
 * A blocking TCP connection to 127.0.0.1:port whose source address is
 * src (a dotted IPv4 loopback address; NULL lets the kernel choose,
 * which is 127.0.0.1).  Returns the descriptor or -1 (reason on stderr).
 */
int	at_connect_from(const char *src, int port);

/*
 * Read one frame within timeout_ms.  Returns the code of an ERROR frame
 * (reason, if not NULL, gets its text), 0 for any other frame, or -1 on
 * EOF, timeout or error.
 */
int	at_read_error(int fd, int timeout_ms, char *reason, size_t reasonsz);

/*
 * Open a session to e's daemon as the holder of certificate `who` (a file
 * pair in e's CA directory), seen by the daemon as coming from src: NULL
 * or "127.0.0.1" connects directly, any other address goes through a
 * relay thread whose outgoing socket is bound to src.  The handshake is
 * complete (K_temp in force) on return; NULL on failure with *err set.
 */
struct csession *at_open(struct scenv *e, const char *who, const char *src,
	    struct csession_err *err);
/* at_open, then LOGIN or REGISTER; NULL on any failure (logged). */
struct csession *at_login(struct scenv *e, const char *who, const char *src,
	    const char *user, const char *pass);
struct csession *at_register(struct scenv *e, const char *who,
	    const char *src, const char *user, const char *email,
	    const char *pass);
/* One CHAT round trip with the echo service: 0 when the echo is right. */
int	at_chat(struct csession *, const char *text);
/* Stop and join every relay thread (their sessions should be gone). */
void	at_relays_join(void);

/* What the daemon answered a REGISTER or LOGIN. */
struct at_answer {
	int	 code;		/* 0: AUTH_OK; the ERROR's code; -1: none */
	char	 reason[SC_MAX_REASON + 1];	/* the ERROR's text */
	double	 ms;		/* request sent -> answer read */
};

/*
 * REGISTER (email != NULL) or LOGIN with fields of any bytes and any
 * length; the record is sealed with the session's real K_temp and key,
 * so only the daemon's checks of the content decide.  A length of
 * 0x10000 + n is sent as a u16 prefix that lies (0xffff) over the first
 * n bytes given.  Returns (and stores in *ans, if not NULL) 0 when AUTH_OK came
 * back, the code of the ERROR frame, or -1 on a local or I/O failure.
 */
int	at_auth_raw(struct csession *, const void *user, size_t ulen,
	    const void *email, size_t elen, const void *pass, size_t plen,
	    struct at_answer *ans);

/* The session id of cs as lower-case hex (33 bytes). */
void	at_sid_hex(const struct csession *, char out[33]);

/*
 * The master's counters, from the process title it keeps up to date
 * ("master [N sessions, M unauthenticated]").  0 or -1.
 */
int	at_master_counts(pid_t master, unsigned int *sessions,
	    unsigned int *unauth);
/* Wait until both counters have these values; 0, or -1 at timeout. */
int	at_wait_counts(pid_t master, unsigned int sessions,
	    unsigned int unauth, int timeout_ms);

/*
 * The audit log: kv is a NULL-terminated list of key, value, ... strings
 * that a line must all carry.  at_audit_count counts such lines in text;
 * at_audit_wait re-reads e's log until at least n of them are there
 * (returns the count, which is < n at timeout); at_audit_find returns
 * the first such line as a JSON object (json_decref it) or NULL.
 */
int	at_audit_count(const char *text, const char *const kv[]);
int	at_audit_wait(struct scenv *e, int n, int timeout_ms,
	    const char *const kv[]);
json_t	*at_audit_find(const char *text, const char *const kv[]);
/* The keys of a JSON object, sorted, comma-separated, into buf. */
void	at_json_keys(const json_t *, char *buf, size_t bufsz);

/*
 * 1 when the file (a daemon's log) holds a report of AddressSanitizer,
 * LeakSanitizer or UndefinedBehaviorSanitizer (SANITIZE=1 builds), the
 * lines printed on stderr; else 0.
 */
int	at_sanitizer_report(const char *path);

/* Milliseconds on the monotonic clock. */
double	at_now_ms(void);

#endif
