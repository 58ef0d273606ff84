/*
 * faultutil.c: helpers for the fault tests (see faultutil.h).
 */
#include "faultutil.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "pki.h"
#include "sccrypto.h"
#include "transcript.h"
#include "util.h"

#define FU_POLL_NS	(50 * 1000 * 1000)

static void
fu_nap(void)
{
	struct timespec ts = { 0, FU_POLL_NS };

	nanosleep(&ts, NULL);
}

static time_t
fu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- sessions ---- */

struct csession *
fu_open(struct scenv *e, const char *who, char *tr, size_t trlen,
    struct csession_err *err)
{
	static unsigned int n;
	struct csession_opts o;
	struct csession *cs;
	char port[16], cert[PATH_MAX + 8], key[PATH_MAX + 8];
	char path[PATH_MAX + 64];

	snprintf(port, sizeof(port), "%d", e->port);
	snprintf(cert, sizeof(cert), "%s/%s.pem", e->ca, who);
	snprintf(key, sizeof(key), "%s/%s.key", e->ca, who);
	snprintf(path, sizeof(path), "%s/fault-%d-%u.transcript", e->dir,
	    (int)getpid(), n++);
	if (tr != NULL)
		snprintf(tr, trlen, "%s", path);
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = port;
	o.ca = scenv_ca_file(e, "ca.pem");
	o.cert = cert;
	o.key = key;
	o.server_name = "localhost";
	o.transcript = path;
	o.timeout_ms = 30000;
	memset(err, 0, sizeof(*err));
	if ((cs = csession_open(&o, err)) == NULL)
		fprintf(stderr, "fu_open %s: %s%s (%s)\n", who, err->remote ?
		    "server: " : "", err->reason, sc_err_name(err->code));
	return cs;
}

struct csession *
fu_login(struct scenv *e, const char *who, const char *user, const char *pass,
    int reg, int *code, char *reason, size_t rlen)
{
	struct csession_err err;
	struct csession *cs;
	char email[128];
	int rc;

	if (code != NULL)
		*code = 0;
	if (rlen > 0)
		reason[0] = '\0';
	if ((cs = fu_open(e, who, NULL, 0, &err)) == NULL) {
		if (code != NULL && err.remote)
			*code = err.code;
		if (rlen > 0)
			snprintf(reason, rlen, "%s", err.reason);
		return NULL;
	}
	snprintf(email, sizeof(email), "%s@example.org", user);
	rc = reg ? csession_register(cs, user, email, pass) :
	    csession_login(cs, user, pass);
	if (rc == -1) {
		fprintf(stderr, "fu_login %s as %s: %s%s (%s)\n", user, who,
		    cs->err.remote ? "server: " : "", cs->err.reason,
		    sc_err_name(cs->err.code));
		if (code != NULL && cs->err.remote)
			*code = cs->err.code;
		if (rlen > 0)
			snprintf(reason, rlen, "%s", cs->err.reason);
		csession_free(cs);
		return NULL;
	}
	return cs;
}

/*
 * The daemon's transcript of session sid: the worker audits
 * session_start with the session id, the master connection_accepted with
 * the transcript path, both under the master's serial.
 */
static int
server_transcript(struct scenv *e, const uint8_t sid[SC_SESSION_ID_LEN],
    char *out, size_t outlen)
{
	char hex[2 * SC_SESSION_ID_LEN + 1], *text, *line, *nl;
	json_int_t serial = 0;
	time_t deadline = fu_now() + 20;
	json_t *j;
	const char *ev, *v;
	int pass;

	hex_encode(sid, SC_SESSION_ID_LEN, hex);
	for (;;) {
		if ((text = tu_read(e->audit, NULL)) == NULL)
			text = strdup("");
		for (pass = 0; pass < 2; pass++) {
			for (line = text; (nl = strchr(line, '\n')) != NULL;
			    line = nl + 1) {
				if ((j = json_loadb(line,
				    (size_t)(nl - line), 0, NULL)) == NULL)
					continue;
				ev = json_string_value(json_object_get(j,
				    "event"));
				if (ev == NULL)
					ev = "";
				if (pass == 0 && strncmp(ev, "session_start",
				    13) == 0 && (v = json_string_value(
				    json_object_get(j, "session"))) != NULL &&
				    strcmp(v, hex) == 0)
					serial = json_integer_value(
					    json_object_get(j, "serial"));
				if (pass == 1 && serial != 0 &&
				    strcmp(ev, "connection_accepted") == 0 &&
				    json_integer_value(json_object_get(j,
				    "serial")) == serial && (v =
				    json_string_value(json_object_get(j,
				    "transcript"))) != NULL) {
					snprintf(out, outlen, "%s", v);
					json_decref(j);
					free(text);
					return 0;
				}
				json_decref(j);
			}
		}
		free(text);
		if (fu_now() >= deadline)
			break;
		fu_nap();
	}
	fprintf(stderr, "fu_sess_login: no transcript for session %s\n", hex);
	return -1;
}

int
fu_sess_login(struct scenv *e, struct fu_sess *s, const char *who,
    const char *user, const char *pass, int reg, int *code)
{
	struct csession_err err;
	char email[128];

	memset(s, 0, sizeof(*s));
	if (code != NULL)
		*code = 0;
	if ((s->cs = fu_open(e, who, s->ctr, sizeof(s->ctr), &err)) == NULL) {
		if (code != NULL && err.remote)
			*code = err.code;
		return -1;
	}
	snprintf(email, sizeof(email), "%s@example.org", user);
	if ((reg ? csession_register(s->cs, user, email, pass) :
	    csession_login(s->cs, user, pass)) == -1) {
		fprintf(stderr, "fu_sess_login %s as %s: %s (%s)\n", user, who,
		    s->cs->err.reason, sc_err_name(s->cs->err.code));
		if (code != NULL && s->cs->err.remote)
			*code = s->cs->err.code;
		goto fail;
	}
	memcpy(s->sid, s->cs->ch.session_id, sizeof(s->sid));
	if (server_transcript(e, s->sid, s->str, sizeof(s->str)) == -1)
		goto fail;
	return 0;
 fail:
	csession_free(s->cs);
	s->cs = NULL;
	return -1;
}

int
fu_register(struct scenv *e, const char *user, const char *pass)
{
	struct fu_sess s;

	if (fu_sess_login(e, &s, user, user, pass, 1, NULL) == -1)
		return -1;
	fu_sess_free(&s);
	return 0;
}

const char *const fu_users[FU_NUSERS] = { "alice", "bob", "carol" };

const char *
fu_pass(const char *user)
{
	if (strcmp(user, "alice") == 0)
		return "alice password 1";
	if (strcmp(user, "bob") == 0)
		return "bob password 12";
	return "carol password 123";
}

int
fu_register_users(struct scenv *e)
{
	size_t i;

	for (i = 0; i < FU_NUSERS; i++)
		if (fu_register(e, fu_users[i], fu_pass(fu_users[i])) == -1)
			return -1;
	return 0;
}

int
fu_sess_close(struct fu_sess *s)
{
	char mine[PATH_MAX + 16], theirs[PATH_MAX + 16];
	int rc;

	snprintf(mine, sizeof(mine), "%s.mine.json", s->ctr);
	snprintf(theirs, sizeof(theirs), "%s.server.json", s->ctr);
	if ((rc = csession_close(s->cs, mine, theirs)) == -1)
		fprintf(stderr, "fu_sess_close: %s%s (%s)\n",
		    s->cs->err.remote ? "server: " : "", s->cs->err.reason,
		    sc_err_name(s->cs->err.code));
	return rc;
}

void
fu_sess_free(struct fu_sess *s)
{
	if (s->cs != NULL)
		csession_free(s->cs);
	s->cs = NULL;
}

int
fu_chat(struct csession *cs, const char *text, int timeout_ms)
{
	char reply[SC_MAX_TEXT + 1], want[SC_MAX_TEXT + 8];
	size_t n;

	if (csession_send_chat(cs, text, strlen(text)) == -1) {
		fprintf(stderr, "fu_chat send: %s\n", cs->err.reason);
		return -1;
	}
	if (csession_recv_chat(cs, timeout_ms, reply, sizeof(reply), &n) !=
	    1) {
		fprintf(stderr, "fu_chat receive: %s%s (%s)\n",
		    cs->err.remote ? "server: " : "", cs->err.reason,
		    sc_err_name(cs->err.code));
		return -1;
	}
	snprintf(want, sizeof(want), "echo: %s", text);
	if (strcmp(reply, want) != 0) {
		fprintf(stderr, "fu_chat: got \"%s\", expected \"%s\"\n",
		    reply, want);
		return -1;
	}
	return 0;
}

int
fu_server_error(struct csession *cs, int timeout_ms, char *reason,
    size_t rlen)
{
	struct sc_frame f = { 0 };
	char why[SC_MAX_REASON + 1] = "";
	uint16_t code = 0;
	int ec = 0, rv;

	if (rlen > 0)
		reason[0] = '\0';
	if (sc_frame_read(csession_fd(cs), timeout_ms, &f, &ec) != 1)
		return -1;
	if (f.type == SC_T_ERROR && sc_error_parse(f.payload, f.len, &code,
	    why, sizeof(why)) == 0) {
		rv = code;
		if (rlen > 0)
			snprintf(reason, rlen, "%s", why);
	} else
		rv = 0;
	sc_frame_free(&f);
	return rv;
}

/* ---- files ---- */

int
fu_count(const char *path, const char *needle)
{
	char *s = tu_read(path, NULL), *p;
	int n = 0;

	if (s == NULL)
		return 0;
	for (p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(s);
	return n;
}

pid_t
fu_started(struct scenv *e, const char *prog, int instance, int nth,
    int *starts)
{
	char needle[64], *log, *p;
	pid_t pid = -1;
	int n = 0;

	snprintf(needle, sizeof(needle), "started %s[%d] (pid ", prog,
	    instance);
	if ((log = tu_read(e->log, NULL)) == NULL)
		return -1;
	for (p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		if (++n == nth || nth == 0)
			pid = (pid_t)atoi(p + strlen(needle));
	free(log);
	if (starts != NULL)
		*starts = n;
	return pid;
}

static void
print_tail(const char *path)
{
	char *s = tu_read(path, NULL);
	size_t len;

	if (s == NULL)
		return;
	len = strlen(s);
	fprintf(stderr, "--- last lines of %s:\n%s\n---\n", path,
	    len > 4000 ? s + len - 4000 : s);
	free(s);
}

int
fu_wait_count(const char *path, const char *needle, int min, int timeout_s)
{
	time_t deadline = fu_now() + timeout_s;

	for (;;) {
		if (fu_count(path, needle) >= min)
			return 0;
		if (fu_now() >= deadline)
			break;
		fu_nap();
	}
	fprintf(stderr, "fu_wait_count: \"%s\" not %d times in %s after "
	    "%d s\n", needle, min, path, timeout_s);
	print_tail(path);
	return -1;
}

static int
audit_vcount(struct scenv *e, va_list ap)
{
	const char *needles[16];
	char *s, *line, *nl;
	int n = 0, k = 0, i;

	while (k < 15 && (needles[k] = va_arg(ap, const char *)) != NULL)
		k++;
	if ((s = tu_read(e->audit, NULL)) == NULL)
		return 0;
	for (line = s; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;	/* a line being written */
		*nl = '\0';
		for (i = 0; i < k; i++)
			if (strstr(line, needles[i]) == NULL)
				break;
		if (i == k)
			n++;
	}
	free(s);
	return n;
}

int
fu_audit_count(struct scenv *e, ...)
{
	va_list ap;
	int n;

	va_start(ap, e);
	n = audit_vcount(e, ap);
	va_end(ap);
	return n;
}

int
fu_audit_wait(struct scenv *e, int min, int timeout_s, ...)
{
	time_t deadline = fu_now() + timeout_s;
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, timeout_s);
		n = audit_vcount(e, ap);
		va_end(ap);
		if (n >= min)
			return 0;
		if (fu_now() >= deadline)
			break;
		fu_nap();
	}
	va_start(ap, timeout_s);
	fprintf(stderr, "fu_audit_wait: %d line(s) with \"%s\"..., wanted %d\n",
	    n, va_arg(ap, const char *), min);
	va_end(ap);
	print_tail(e->audit);
	return -1;
}

/* ---- transcripts ---- */

struct fu_verify {
	const uint8_t	*sid;
	EVP_PKEY	*key[2];	/* [dir - 1] */
	uint8_t		 fp[2][SC_SHA256_LEN];
	size_t		 n;
};

static int
fu_verify_line(void *arg, const struct transcript_line *l, size_t lineno,
    char *reason, size_t reasonlen)
{
	struct fu_verify *v = arg;
	struct wbuf stmt;
	int rc;

	if (l->dir != SC_DIR_C2S && l->dir != SC_DIR_S2C) {
		snprintf(reason, reasonlen, "line %zu: direction %u", lineno,
		    l->dir);
		return -1;
	}
	if (memcmp(l->signer_fp, v->fp[l->dir - 1], SC_SHA256_LEN) != 0) {
		snprintf(reason, reasonlen, "line %zu: unexpected signer",
		    lineno);
		return -1;
	}
	wbuf_init(&stmt, SC_STMT_MAX);
	rc = sc_stmt_record(&stmt, v->sid, l->dir, l->type,
	    (uint8_t)sc_record_phase(l->type), l->seq, l->ts, l->iv, l->ct,
	    l->ctlen);
	if (rc == 0)
		rc = sc_rsa_verify(v->key[l->dir - 1], stmt.data, stmt.len,
		    l->sig, l->siglen);
	wbuf_free(&stmt);
	if (rc != 0) {
		snprintf(reason, reasonlen, "line %zu: signature does not "
		    "verify", lineno);
		return -1;
	}
	v->n++;
	return 0;
}

int
fu_transcript_verify(const char *path, const uint8_t sid[SC_SESSION_ID_LEN],
    const char *client_cert, const char *server_cert, size_t *nlines)
{
	struct fu_verify v;
	const char *certs[2] = { client_cert, server_cert };
	uint8_t digest[SC_SHA256_LEN];
	uint64_t first, last;
	char reason[512];
	X509 *x;
	int i, rv = -1;

	memset(&v, 0, sizeof(v));
	v.sid = sid;
	*nlines = 0;
	for (i = 0; i < 2; i++) {
		if ((x = pki_load_cert(certs[i], reason, sizeof(reason))) ==
		    NULL || pki_fingerprint(x, v.fp[i]) == -1 ||
		    (v.key[i] = X509_get_pubkey(x)) == NULL) {
			fprintf(stderr, "fu_transcript_verify: %s: %s\n",
			    certs[i], reason);
			X509_free(x);
			goto done;
		}
		X509_free(x);
	}
	if (transcript_file_digest(path, digest, &first, &last,
	    fu_verify_line, &v, reason, sizeof(reason)) == -1) {
		fprintf(stderr, "fu_transcript_verify: %s: %s\n", path,
		    reason);
		goto done;
	}
	*nlines = v.n;
	rv = 0;
 done:
	EVP_PKEY_free(v.key[0]);
	EVP_PKEY_free(v.key[1]);
	return rv;
}

int
fu_receipt_verify(const char *transcript, const char *receipt,
    const char *signer_cert, const char *ca)
{
	struct tu_result r;
	int rc;

	rc = tu_sh(&r, NULL, "'%s' receipt verify --transcript '%s' "
	    "--receipt '%s' --cert '%s' --ca '%s'", tu_bin("sc-admin"),
	    transcript, receipt, signer_cert, ca);
	if (rc != 0)
		fprintf(stderr, "receipt verify %s: exit %d\n%s%s\n", receipt,
		    rc, r.out, r.err);
	tu_result_free(&r);
	return rc;
}

/* ---- processes ---- */

/* State letter and parent of pid from /proc/pid/stat; 0 when gone. */
static char
proc_stat(pid_t pid, pid_t *ppid)
{
	char path[64], buf[1024], st = 0, *p;
	FILE *f;
	int pp = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL)
		(void)sscanf(p + 2, "%c %d", &st, &pp);
	fclose(f);
	if (ppid != NULL)
		*ppid = pp;
	return st;
}

int
fu_alive(pid_t pid)
{
	char st;

	if (pid <= 0)
		return 0;
	st = proc_stat(pid, NULL);
	return st != 0 && st != 'Z' && st != 'X';
}

int
fu_wait_gone(pid_t pid, int timeout_s)
{
	time_t deadline = fu_now() + timeout_s;

	while (fu_alive(pid)) {
		if (fu_now() >= deadline) {
			fprintf(stderr, "fu_wait_gone: %d still running\n",
			    (int)pid);
			return -1;
		}
		fu_nap();
	}
	return 0;
}

/*
 * Count the live children of ppid (but those in other) whose command
 * line holds needle; *first gets one of them.
 */
static int
children(pid_t ppid, const char *needle, const pid_t *other, size_t nother,
    pid_t *first)
{
	struct dirent *de;
	char path[64], buf[4096];
	DIR *d;
	FILE *f;
	size_t n, i;
	pid_t pid, pp;
	int count = 0;
	size_t k;
	char st;

	if (first != NULL)
		*first = -1;
	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if ((pid = (pid_t)atoi(de->d_name)) <= 0)
			continue;
		for (k = 0; k < nother && other[k] != pid; k++)
			;
		if (k < nother)
			continue;
		st = proc_stat(pid, &pp);
		if (st == 0 || st == 'Z' || st == 'X' || pp != ppid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\0';
		if (strstr(buf, needle) == NULL)
			continue;
		if (first != NULL && *first == -1)
			*first = pid;
		count++;
	}
	closedir(d);
	return count;
}

pid_t
fu_wait_new_child(pid_t ppid, const char *needle, const pid_t *known,
    size_t nknown, int timeout_s)
{
	time_t deadline = fu_now() + timeout_s;
	pid_t pid;

	for (;;) {
		if (children(ppid, needle, known, nknown, &pid) > 0)
			return pid;
		if (fu_now() >= deadline)
			break;
		fu_nap();
	}
	fprintf(stderr, "fu_wait_child: no \"%s\" under %d after %d s\n",
	    needle, (int)ppid, timeout_s);
	return -1;
}

pid_t
fu_wait_child(pid_t ppid, const char *needle, pid_t other, int timeout_s)
{
	return fu_wait_new_child(ppid, needle, &other, 1, timeout_s);
}

int
fu_count_children(pid_t ppid, const char *needle)
{
	return children(ppid, needle, NULL, 0, NULL);
}

int
fu_master_sessions(pid_t master)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)master);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strstr(buf, "master [")) == NULL)
		return -1;
	return atoi(p + strlen("master ["));
}

int
fu_wait_sessions(pid_t master, int want, int timeout_s)
{
	time_t deadline = fu_now() + timeout_s;
	int n;

	for (;;) {
		if ((n = fu_master_sessions(master)) == want)
			return 0;
		if (fu_now() >= deadline)
			break;
		fu_nap();
	}
	fprintf(stderr, "fu_wait_sessions: master has %d sessions, "
	    "wanted %d\n", n, want);
	return -1;
}

/* The inode of a socket descriptor of pid, or 0. */
static unsigned long
socket_inode(pid_t pid, int fd)
{
	char path[64], link[64];
	unsigned long ino = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
		return 0;
	link[n] = '\0';
	if (sscanf(link, "socket:[%lu]", &ino) != 1)
		return 0;
	return ino;
}

/* 1 when one of pid's descriptors is the socket of that inode. */
static int
holds_socket(pid_t pid, unsigned long ino)
{
	struct dirent *de;
	char path[64];
	DIR *d;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && !found)
		if (de->d_name[0] != '.' &&
		    socket_inode(pid, atoi(de->d_name)) == ino)
			found = 1;
	closedir(d);
	return found;
}

long
fu_channel_pending(pid_t pid, int fd, pid_t holder)
{
	struct tu_result r;
	unsigned long mine, lport, pport;
	char *line, *nl;
	long rq, found = -1;

	if ((mine = socket_inode(pid, fd)) == 0)
		return -1;
	/* "u_seq ESTAB Recv-Q Send-Q * inode * peer-inode" */
	if (tu_sh(&r, NULL, "ss -xn") != 0) {
		fprintf(stderr, "fu_channel_pending: ss: %s\n", r.err);
		tu_result_free(&r);
		return -1;
	}
	for (line = r.out; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		if (sscanf(line, "u_seq %*s %ld %*d * %lu * %lu", &rq, &lport,
		    &pport) == 3 && pport == mine) {
			if (holds_socket(holder, lport))
				found = rq;
			break;
		}
	}
	tu_result_free(&r);
	return found;
}

/* ---- systemd notifications ---- */

/*
 * The daemon's sd_notify() blocks when our socket's queue is full (ten
 * datagrams), as it would with a stalled systemd: a thread reads every
 * datagram as soon as it comes, like systemd does.
 */
static struct {
	pthread_mutex_t	 mu;
	pthread_t	 th;
	int		 fd;
	int		 stop[2];
	char		*text;
	size_t		 len, cap;
} fu_nt = { PTHREAD_MUTEX_INITIALIZER, 0, -1, { -1, -1 }, NULL, 0, 0 };

static void *
notify_run(void *arg)
{
	struct pollfd pfd[2];
	char buf[4096];
	ssize_t n;

	(void)arg;
	for (;;) {
		pfd[0].fd = fu_nt.fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = fu_nt.stop[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		if ((n = recv(fu_nt.fd, buf, sizeof(buf), MSG_DONTWAIT)) <= 0)
			continue;
		pthread_mutex_lock(&fu_nt.mu);
		if (fu_nt.len + (size_t)n + 2 > fu_nt.cap) {
			fu_nt.cap = (fu_nt.len + (size_t)n + 2) * 2;
			if ((fu_nt.text = realloc(fu_nt.text, fu_nt.cap)) ==
			    NULL)
				abort();
		}
		memcpy(fu_nt.text + fu_nt.len, buf, (size_t)n);
		fu_nt.len += (size_t)n;
		fu_nt.text[fu_nt.len++] = '\n';
		fu_nt.text[fu_nt.len] = '\0';
		pthread_mutex_unlock(&fu_nt.mu);
	}
	return NULL;
}

int
fu_notify_start(const char *path)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (fu_nt.fd != -1 || strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fu_nt.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (bind(fu_nt.fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    pipe2(fu_nt.stop, O_CLOEXEC) == -1)
		goto fail;
	if (pthread_create(&fu_nt.th, NULL, notify_run, NULL) != 0)
		goto fail;
	return 0;
 fail:
	close(fu_nt.fd);
	fu_nt.fd = -1;
	return -1;
}

char *
fu_notify_text(void)
{
	char *s;

	pthread_mutex_lock(&fu_nt.mu);
	s = strdup(fu_nt.text != NULL ? fu_nt.text : "");
	pthread_mutex_unlock(&fu_nt.mu);
	if (s == NULL)
		abort();
	return s;
}

int
fu_notify_wait(const char *needle, int timeout_s)
{
	time_t deadline = fu_now() + timeout_s;
	char *s;

	for (;;) {
		s = fu_notify_text();
		if (strstr(s, needle) != NULL) {
			free(s);
			return 0;
		}
		if (fu_now() >= deadline)
			break;
		free(s);
		fu_nap();
	}
	fprintf(stderr, "fu_notify_wait: no \"%s\"; received:\n%s\n", needle,
	    s);
	free(s);
	return -1;
}

void
fu_notify_stop(void)
{
	if (fu_nt.fd == -1)
		return;
	if (write(fu_nt.stop[1], "", 1) == 1)
		pthread_join(fu_nt.th, NULL);
	close(fu_nt.stop[0]);
	close(fu_nt.stop[1]);
	close(fu_nt.fd);
	fu_nt.fd = -1;
	free(fu_nt.text);
	fu_nt.text = NULL;
	fu_nt.len = fu_nt.cap = 0;
}
