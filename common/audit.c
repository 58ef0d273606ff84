/*
 * audit.c: audit events (see audit.h).  Children build events with
 * audit_emit() and send them to the master; the master validates each one
 * (a child may be compromised: it must not be able to forge the time, the
 * process name or the pid, nor break the one-event-per-line format) and
 * appends it to the audit log.
 */
#include "audit.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc.h"
#include "log.h"

#define AUDIT_MAX_KEY	64

static int	audit_fd = -1;
static int	audit_dirty;
static struct timespec audit_synced;

static int
audit_key_ok(const char *key)
{
	size_t n = 0;

	for (; key[n] != '\0'; n++)
		if (!((key[n] >= 'a' && key[n] <= 'z') ||
		    (key[n] >= '0' && key[n] <= '9') || key[n] == '_'))
			return 0;
	return n > 0 && n <= AUDIT_MAX_KEY;
}

static int
audit_key_reserved(const char *key)
{
	return strcmp(key, "ts") == 0 || strcmp(key, "proc") == 0 ||
	    strcmp(key, "pid") == 0 || strcmp(key, "serial") == 0;
}

/*
 * Values often come from the network (a username, a certificate subject);
 * JSON needs UTF-8, so anything else is kept readable rather than lost.
 */
static json_t *
audit_string(const char *s)
{
	json_t *j;
	char *copy;
	size_t i;

	if ((j = json_string(s)) != NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *
audit_build(const char *event, va_list ap)
{
	json_t *o, *v;
	const char *k, *s;

	if (event == NULL || (o = json_object()) == NULL)
		return NULL;
	if ((v = audit_string(event)) == NULL ||
	    json_object_set_new(o, "event", v) == -1)
		goto fail;
	while ((k = va_arg(ap, const char *)) != NULL) {
		s = va_arg(ap, const char *);
		if (!audit_key_ok(k) || audit_key_reserved(k) ||
		    strcmp(k, "event") == 0) {
			log_warnx("audit: bad key \"%s\" in event %s", k,
			    event);
			goto fail;
		}
		if ((v = audit_string(s == NULL ? "" : s)) == NULL ||
		    json_object_set_new(o, k, v) == -1)
			goto fail;
	}
	return o;
 fail:
	json_decref(o);
	return NULL;
}

int
audit_emit(int fd, const char *event, ...)
{
	va_list ap;
	json_t *o;
	char *s;
	size_t len;
	int rc;

	va_start(ap, event);
	o = audit_build(event, ap);
	va_end(ap);
	if (o == NULL)
		return -1;
	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (s == NULL)
		return -1;
	if ((len = strlen(s)) > AUDIT_MAX_EVENT) {
		free(s);
		errno = EMSGSIZE;
		return -1;
	}
	rc = ipc_send(fd, IPC_MSG_AUDIT, 0, s, len);
	free(s);
	return rc;
}

int
audit_open(const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NOCTTY, 0640);
	if (fd == -1) {
		log_warn("audit log %s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_warnx("audit log %s: not a regular file", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	audit_flush(1);
	if (audit_fd != -1)
		close(audit_fd);
	audit_fd = fd;
	return 0;
}

void
audit_close(void)
{
	audit_flush(1);
	if (audit_fd != -1)
		close(audit_fd);
	audit_fd = -1;
}

static double
since(const struct timespec *then)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - then->tv_sec) +
	    (double)(now.tv_nsec - then->tv_nsec) / 1e9;
}

void
audit_flush(int force)
{
	if (audit_fd == -1 || !audit_dirty)
		return;
	if (!force && since(&audit_synced) < 1.0)
		return;
	if (fdatasync(audit_fd) == -1)
		log_warn("audit: fdatasync");
	audit_dirty = 0;
	clock_gettime(CLOCK_MONOTONIC, &audit_synced);
}

static int
audit_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    gmtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return -1;
	if ((size_t)snprintf(buf, len, "%s.%03ldZ", base,
	    ts.tv_nsec / 1000000) >= len)
		return -1;
	return 0;
}

static int
audit_append(json_t *line)
{
	char *s;
	size_t len, off = 0;
	ssize_t n;
	int rc = 0;

	if (audit_fd == -1) {
		log_warnx("audit: log not open, event lost");
		return -1;
	}
	if ((s = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII)) == NULL)
		return -1;
	len = strlen(s);
	/* json_dumps escapes control characters: the line has no newline. */
	s[len] = '\n';
	len++;
	/* O_APPEND places every write at the end; one write per line. */
	while (off < len) {
		n = write(audit_fd, s + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("audit: write");
			rc = -1;
			break;
		}
		off += (size_t)n;
	}
	free(s);
	audit_dirty = 1;
	audit_flush(0);
	return rc;
}

static json_t *
audit_header(const char *proc, pid_t pid, uint64_t serial)
{
	char ts[40];
	json_t *o;

	if (audit_timestamp(ts, sizeof(ts)) == -1 ||
	    (o = json_object()) == NULL)
		return NULL;
	if (json_object_set_new(o, "ts", json_string(ts)) == -1 ||
	    json_object_set_new(o, "proc", audit_string(proc)) == -1 ||
	    json_object_set_new(o, "pid", json_integer(pid)) == -1 ||
	    (serial != 0 && json_object_set_new(o, "serial",
	    json_integer((json_int_t)serial)) == -1)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Why a child's event is refused, or NULL when it is acceptable. */
static const char *
audit_check(const json_t *ev)
{
	const char *key;
	json_t *val, *e;

	if (!json_is_object(ev))
		return "not a JSON object";
	if ((e = json_object_get(ev, "event")) == NULL || !json_is_string(e) ||
	    json_string_length(e) == 0)
		return "no \"event\" string";
	json_object_foreach((json_t *)ev, key, val) {
		if (!audit_key_ok(key))
			return "bad key";
		if (audit_key_reserved(key))
			return "reserved key";
		if (!json_is_string(val))
			return "value not a string";
	}
	return NULL;
}

static void
audit_refused(const char *proc, pid_t pid, uint64_t serial,
    const char *why)
{
	json_t *o;

	log_warnx("audit: refused an event from %s[%ld]: %s", proc,
	    (long)pid, why);
	if ((o = audit_header(proc, pid, serial)) == NULL)
		return;
	if (json_object_set_new(o, "event", json_string("audit_refused")) ==
	    0 && json_object_set_new(o, "reason", json_string(why)) == 0)
		(void)audit_append(o);
	json_decref(o);
}

int
audit_write_session(const char *proc, pid_t pid, uint64_t serial,
    const uint8_t *json, size_t len)
{
	json_error_t jerr;
	json_t *ev, *line, *val;
	const char *key, *why;
	int rc;

	if (json == NULL || len == 0 || len > AUDIT_MAX_EVENT) {
		audit_refused(proc, pid, serial, "empty or too large");
		return -1;
	}
	/* Duplicate keys could hide a value from a reader of the line. */
	ev = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (ev == NULL) {
		audit_refused(proc, pid, serial, "not valid JSON");
		return -1;
	}
	if ((why = audit_check(ev)) != NULL) {
		json_decref(ev);
		audit_refused(proc, pid, serial, why);
		return -1;
	}
	if ((line = audit_header(proc, pid, serial)) == NULL) {
		json_decref(ev);
		return -1;
	}
	json_object_foreach(ev, key, val) {
		if (json_object_set(line, key, val) == -1) {
			json_decref(ev);
			json_decref(line);
			return -1;
		}
	}
	json_decref(ev);
	rc = audit_append(line);
	json_decref(line);
	return rc;
}

int
audit_write(const char *proc, pid_t pid, const uint8_t *json, size_t len)
{
	return audit_write_session(proc, pid, 0, json, len);
}

static int
audit_vrecord(const char *proc, uint64_t serial, const char *event,
    va_list ap)
{
	json_t *ev;
	char *s;
	int rc;

	if ((ev = audit_build(event, ap)) == NULL)
		return -1;
	s = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (s == NULL)
		return -1;
	rc = audit_write_session(proc, getpid(), serial, (const uint8_t *)s,
	    strlen(s));
	free(s);
	return rc;
}

int
audit_record(const char *proc, const char *event, ...)
{
	va_list ap;
	int rc;

	va_start(ap, event);
	rc = audit_vrecord(proc, 0, event, ap);
	va_end(ap);
	return rc;
}

int
audit_record_session(const char *proc, uint64_t serial, const char *event,
    ...)
{
	va_list ap;
	int rc;

	va_start(ap, event);
	rc = audit_vrecord(proc, serial, event, ap);
	va_end(ap);
	return rc;
}
