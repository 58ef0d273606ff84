/*
 * attackutil.c: helpers for the attack tests (see attackutil.h).
 */
#include "attackutil.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "proto.h"
#include "record.h"
#include "sccrypto.h"
#include "util.h"

double
at_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int
at_connect_from(const char *src, int port)
{
	struct sockaddr_in sin;
	int fd, on = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "attack: socket: %s\n", strerror(errno));
		return -1;
	}
	if (src != NULL) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		if (inet_pton(AF_INET, src, &sin.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
			fprintf(stderr, "attack: bind %s: %s\n", src,
			    strerror(errno));
			close(fd);
			return -1;
		}
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		fprintf(stderr, "attack: connect from %s: %s\n",
		    src ? src : "any", strerror(errno));
		close(fd);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	return fd;
}

int
at_read_error(int fd, int timeout_ms, char *reason, size_t reasonsz)
{
	struct sc_frame f = { 0 };
	char text[SC_MAX_REASON + 1];
	uint16_t code = 0;
	int ec = 0, rv;

	if (reason != NULL && reasonsz > 0)
		reason[0] = '\0';
	if (sc_frame_read(fd, timeout_ms, &f, &ec) != 1)
		return -1;
	if (f.type != SC_T_ERROR)
		rv = 0;
	else if (sc_error_parse(f.payload, f.len, &code, text,
	    sizeof(text)) != 0)
		rv = -1;
	else {
		rv = code;
		if (reason != NULL)
			snprintf(reason, reasonsz, "%s", text);
	}
	sc_frame_free(&f);
	return rv;
}

/* ---- relays: a client seen from another source address ---- */

struct relay {
	int		 lfd;
	int		 port;
	int		 target;
	char		 src[INET_ADDRSTRLEN];
	pthread_t	 th;
	struct relay	*next;
};

static struct relay	*relays;
static atomic_int	 relays_stop;	/* read by the relay threads */

static void *
relay_run(void *arg)
{
	struct relay *rl = arg;
	struct pollfd p[2];
	char buf[16384];
	ssize_t k;
	int c = -1, s = -1, i, waited = 0;

	/* One client, which must come within 60 s. */
	p[0].fd = rl->lfd;
	p[0].events = POLLIN;
	while (!relays_stop && waited < 60) {
		if (poll(p, 1, 1000) == 1)
			break;
		waited++;
	}
	if (relays_stop || waited >= 60 ||
	    (c = accept(rl->lfd, NULL, NULL)) == -1)
		goto out;
	close(rl->lfd);
	rl->lfd = -1;
	if ((s = at_connect_from(rl->src, rl->target)) == -1)
		goto out;
	while (!relays_stop) {
		p[0].fd = c;
		p[0].events = POLLIN;
		p[1].fd = s;
		p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, 1000) <= 0)
			continue;
		for (i = 0; i < 2; i++) {
			if (p[i].revents == 0)
				continue;
			if ((k = read(p[i].fd, buf, sizeof(buf))) <= 0)
				goto out;
			if (write(p[1 - i].fd, buf, (size_t)k) != k)
				goto out;
		}
	}
 out:
	if (c != -1)
		close(c);
	if (s != -1)
		close(s);
	return NULL;
}

/* Start a relay to 127.0.0.1:target from src; its listening port, or -1. */
static int
relay_start(const char *src, int target)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct relay *rl;

	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return -1;
	rl->target = target;
	snprintf(rl->src, sizeof(rl->src), "%s", src);
	if ((rl->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(rl->lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(rl->lfd, 1) == -1 ||
	    getsockname(rl->lfd, (struct sockaddr *)&sin, &sl) == -1)
		goto fail;
	rl->port = ntohs(sin.sin_port);
	if (pthread_create(&rl->th, NULL, relay_run, rl) != 0)
		goto fail;
	rl->next = relays;
	relays = rl;
	return rl->port;
 fail:
	fprintf(stderr, "attack: relay: %s\n", strerror(errno));
	if (rl->lfd != -1)
		close(rl->lfd);
	free(rl);
	return -1;
}

void
at_relays_join(void)
{
	struct relay *rl;

	relays_stop = 1;
	while ((rl = relays) != NULL) {
		relays = rl->next;
		pthread_join(rl->th, NULL);
		if (rl->lfd != -1)
			close(rl->lfd);
		free(rl);
	}
	relays_stop = 0;
}

/* ---- sessions ---- */

struct csession *
at_open(struct scenv *e, const char *who, const char *src,
    struct csession_err *err)
{
	struct csession_opts o;
	struct csession *cs;
	char port[16], cert[PATH_MAX + 8], key[PATH_MAX + 8];
	char tr[PATH_MAX + 64];
	static unsigned int n;
	int p = e->port;

	if (src != NULL && strcmp(src, "127.0.0.1") != 0 &&
	    (p = relay_start(src, e->port)) == -1) {
		memset(err, 0, sizeof(*err));
		err->code = SC_E_INTERNAL;
		snprintf(err->reason, sizeof(err->reason), "no relay");
		return NULL;
	}
	snprintf(port, sizeof(port), "%d", p);
	snprintf(cert, sizeof(cert), "%s/%s.pem", e->ca, who);
	snprintf(key, sizeof(key), "%s/%s.key", e->ca, who);
	/* A transcript of its own, so that csession_close can work. */
	snprintf(tr, sizeof(tr), "%s/attack-%ld-%u.log", e->dir,
	    (long)getpid(), n++);
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = port;
	o.ca = scenv_ca_file(e, "ca.pem");
	o.cert = cert;
	o.key = key;
	o.server_name = "localhost";
	o.transcript = tr;
	o.timeout_ms = 60000;
	if ((cs = csession_open(&o, err)) == NULL)
		fprintf(stderr, "attack: open as %s from %s: %s: %s\n", who,
		    src ? src : "127.0.0.1", sc_err_name(err->code),
		    err->reason);
	return cs;
}

struct csession *
at_login(struct scenv *e, const char *who, const char *src, const char *user,
    const char *pass)
{
	struct csession_err err;
	struct csession *cs;

	if ((cs = at_open(e, who, src, &err)) == NULL)
		return NULL;
	if (csession_login(cs, user, pass) == -1) {
		fprintf(stderr, "attack: login %s from %s: %s: %s\n", user,
		    src ? src : "127.0.0.1", sc_err_name(cs->err.code),
		    cs->err.reason);
		csession_free(cs);
		return NULL;
	}
	return cs;
}

struct csession *
at_register(struct scenv *e, const char *who, const char *src,
    const char *user, const char *email, const char *pass)
{
	struct csession_err err;
	struct csession *cs;

	if ((cs = at_open(e, who, src, &err)) == NULL)
		return NULL;
	if (csession_register(cs, user, email, pass) == -1) {
		fprintf(stderr, "attack: register %s: %s: %s\n", user,
		    sc_err_name(cs->err.code), cs->err.reason);
		csession_free(cs);
		return NULL;
	}
	return cs;
}

int
at_chat(struct csession *cs, const char *text)
{
	char reply[SC_MAX_TEXT + 16], want[SC_MAX_TEXT + 16];
	size_t n;

	if (csession_send_chat(cs, text, strlen(text)) == -1 ||
	    csession_recv_chat(cs, 30000, reply, sizeof(reply), &n) != 1) {
		fprintf(stderr, "attack: chat: %s: %s\n",
		    sc_err_name(cs->err.code), cs->err.reason);
		return -1;
	}
	snprintf(want, sizeof(want), "echo: %s", text);
	if (strcmp(reply, want) != 0) {
		fprintf(stderr, "attack: chat: got \"%s\"\n", reply);
		return -1;
	}
	return 0;
}

static void
put_field(struct wbuf *b, const void *p, size_t len)
{
	/* 0x10000 + n: a prefix of 0xffff that lies over n bytes. */
	if (len > 0xffff) {
		wbuf_put_u16(b, 0xffff);
		wbuf_put(b, p, len & 0xffff);
		return;
	}
	wbuf_put_u16(b, (uint16_t)len);
	wbuf_put(b, p, len);
}

int
at_auth_raw(struct csession *cs, const void *user, size_t ulen,
    const void *email, size_t elen, const void *pass, size_t plen,
    struct at_answer *ans)
{
	struct at_answer local;
	struct wbuf pt, rec;
	EVP_PKEY *eph = NULL;
	uint8_t kex[SC_KEX_LEN], type = email != NULL ? SC_T_REGISTER :
	    SC_T_LOGIN;
	double t0;
	int code, rv = -1;

	if (ans == NULL)
		ans = &local;
	memset(ans, 0, sizeof(*ans));
	ans->code = -1;
	wbuf_init(&pt, SC_MAX_PAYLOAD);
	wbuf_init(&rec, SC_MAX_PAYLOAD);
	/* A real key share: only the fields under test are hostile. */
	if (sc_x25519_keygen(&eph, kex) == -1)
		goto out;
	put_field(&pt, user, ulen);
	if (email != NULL)
		put_field(&pt, email, elen);
	put_field(&pt, pass, plen);
	wbuf_put(&pt, kex, sizeof(kex));
	if (pt.err) {
		fprintf(stderr, "attack: auth_raw: plaintext too long\n");
		goto out;
	}
	if ((code = csession_seal(cs, type, pt.data, pt.len, &rec)) != 0) {
		fprintf(stderr, "attack: auth_raw: seal: %s\n",
		    sc_err_name(code));
		goto out;
	}
	t0 = at_now_ms();
	if (sc_frame_write(csession_fd(cs), 10000, type, rec.data,
	    rec.len) == -1) {
		fprintf(stderr, "attack: auth_raw: send: %s\n",
		    strerror(errno));
		goto out;
	}
	{
		struct sc_frame f = { 0 };
		uint16_t ecode;
		int ec = 0;

		if (sc_frame_read(csession_fd(cs), 60000, &f, &ec) != 1) {
			fprintf(stderr, "attack: auth_raw: no answer\n");
			goto out;
		}
		ans->ms = at_now_ms() - t0;
		if (f.type == SC_T_AUTH_OK)
			rv = 0;
		else if (f.type == SC_T_ERROR && sc_error_parse(f.payload,
		    f.len, &ecode, ans->reason, sizeof(ans->reason)) == 0)
			rv = ecode;
		else
			fprintf(stderr, "attack: auth_raw: answer %s\n",
			    sc_type_name(f.type));
		sc_frame_free(&f);
	}
 out:
	ans->code = rv;
	EVP_PKEY_free(eph);
	wbuf_free(&pt);
	wbuf_free(&rec);
	return rv;
}

void
at_sid_hex(const struct csession *cs, char out[33])
{
	hex_encode(cs->ch.session_id, SC_SESSION_ID_LEN, out);
}

/* ---- the master's counters ---- */

int
at_master_counts(pid_t master, unsigned int *sessions, unsigned int *unauth)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)master);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	if ((p = strstr(buf, "master [")) == NULL ||
	    sscanf(p, "master [%u sessions, %u unauthenticated]", sessions,
	    unauth) != 2)
		return -1;
	return 0;
}

int
at_wait_counts(pid_t master, unsigned int sessions, unsigned int unauth,
    int timeout_ms)
{
	double end = at_now_ms() + timeout_ms;
	unsigned int s = 0, u = 0;

	for (;;) {
		if (at_master_counts(master, &s, &u) == 0 && s == sessions &&
		    u == unauth)
			return 0;
		if (at_now_ms() > end)
			break;
		usleep(20000);
	}
	fprintf(stderr, "attack: master has %u sessions, %u unauthenticated; "
	    "expected %u, %u\n", s, u, sessions, unauth);
	return -1;
}

/* ---- the audit log ---- */

static int
line_matches(json_t *o, const char *const kv[])
{
	const char *v;
	size_t i;

	if (!json_is_object(o))
		return 0;
	for (i = 0; kv[i] != NULL && kv[i + 1] != NULL; i += 2) {
		if ((v = json_string_value(json_object_get(o, kv[i]))) ==
		    NULL || strcmp(v, kv[i + 1]) != 0)
			return 0;
	}
	return 1;
}

/*
 * Count the lines matching kv (count != NULL), or return the first one
 * (count == NULL).  Lines that are not JSON objects never match.
 */
static json_t *
audit_scan(const char *text, const char *const kv[], int *count)
{
	const char *p = text, *nl;
	json_t *o, *found = NULL;
	json_error_t jerr;

	if (count != NULL)
		*count = 0;
	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		o = json_loadb(p, nl ? (size_t)(nl - p) : strlen(p), 0, &jerr);
		if (o != NULL && line_matches(o, kv)) {
			if (count != NULL)
				(*count)++;
			if (found == NULL && count == NULL) {
				found = o;
				break;
			}
		}
		json_decref(o);
		p = nl ? nl + 1 : NULL;
	}
	return found;
}

int
at_audit_count(const char *text, const char *const kv[])
{
	int n;

	(void)audit_scan(text, kv, &n);
	return n;
}

json_t *
at_audit_find(const char *text, const char *const kv[])
{
	return audit_scan(text, kv, NULL);
}

int
at_audit_wait(struct scenv *e, int n, int timeout_ms, const char *const kv[])
{
	double end = at_now_ms() + timeout_ms;
	char *text;
	int got;

	for (;;) {
		text = scenv_audit(e);
		got = at_audit_count(text, kv);
		free(text);
		if (got >= n || at_now_ms() > end)
			return got;
		usleep(50000);
	}
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
at_json_keys(const json_t *o, char *buf, size_t bufsz)
{
	const char *keys[64], *k;
	json_t *v;
	size_t n = 0, i, len = 0;

	buf[0] = '\0';
	json_object_foreach((json_t *)(uintptr_t)o, k, v) {
		(void)v;
		if (n < 64)
			keys[n++] = k;
	}
	qsort(keys, n, sizeof(keys[0]), key_cmp);
	for (i = 0; i < n && len < bufsz; i++)
		len += (size_t)snprintf(buf + len, bufsz - len, "%s%s",
		    i ? "," : "", keys[i]);
}

int
at_sanitizer_report(const char *path)
{
	char *text = tu_read(path, NULL);
	int found;

	if (text == NULL)
		return 0;
	found = tu_contains(text, "ERROR: AddressSanitizer") ||
	    tu_contains(text, "ERROR: LeakSanitizer") ||
	    tu_contains(text, "runtime error:");
	if (found)
		fprintf(stderr, "attack: sanitizer report in %s:\n%s\n", path,
		    text);
	free(text);
	return found;
}
