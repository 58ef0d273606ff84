/*
 * audit.h: audit events.  Every process sends its events as one
 * IPC_MSG_AUDIT message (a JSON object) over its control channel; the
 * securechatd master alone appends them to the audit log (JSON lines),
 * adding time, process and pid.
 */
#ifndef SC_AUDIT_H
#define SC_AUDIT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define IPC_MSG_AUDIT	0x7f00	/* body: one JSON object, UTF-8 */

/* Largest event a child may send (the whole IPC body). */
#define AUDIT_MAX_EVENT	(32 * 1024)

/*
 * Build {"event": event, key1: val1, ...} from string key/value pairs ended
 * by NULL and send it on fd.  Values are escaped by the JSON encoder.
 * Returns 0 or -1; a failure to audit is logged by the caller.
 */
int	audit_emit(int fd, const char *event, ...) __attribute__((sentinel));

/*
 * The master's side.  audit_open() opens (or reopens, after log rotation)
 * the audit log for appending, mode 0640; the previous descriptor is
 * closed only once the new one is open.
 */
int	audit_open(const char *path);
void	audit_close(void);
/*
 * Append one event received from a child: json must be a JSON object of at
 * most AUDIT_MAX_EVENT bytes whose values are all strings, with a string
 * "event", keys of [a-z0-9_] only, and none of the keys the master adds
 * ("ts", "proc", "pid", "serial").  The line written is
 * {"ts":"2024-01-02T03:04:05.678Z","proc":proc,"pid":pid,...the event...}.
 * Returns 0, or -1 with the event refused (logged) or not written.
 */
int	audit_write(const char *proc, pid_t pid, const uint8_t *json,
	    size_t len);
/* As audit_write, adding "serial": the master's session serial. */
int	audit_write_session(const char *proc, pid_t pid, uint64_t serial,
	    const uint8_t *json, size_t len);
/* The master's own events, built from key/value pairs like audit_emit. */
int	audit_record(const char *proc, const char *event, ...)
	    __attribute__((sentinel));
int	audit_record_session(const char *proc, uint64_t serial,
	    const char *event, ...) __attribute__((sentinel));
/*
 * Lines are written at once but synced at most once a second (the event
 * loop calls this from its timer, and at exit) so that a burst of
 * connections does not wait on the disk.  force syncs now.
 */
void	audit_flush(int force);

#endif
