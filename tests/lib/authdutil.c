/*
 * authdutil.c: the test harness around a real authd (authdutil.h).
 */
#include "authdutil.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "authd/authd.h"
#include "audit.h"
#include "buf.h"
#include "ipc.h"
#include "testutil.h"

struct au_seen au_seen;

int
au_env_start(struct au_env *e, const char *tag)
{
	memset(e, 0, sizeof(*e));
	if ((e->tmpdir = tu_mkdtemp(tag)) == NULL)
		return -1;
	if (geteuid() == 0)
		snprintf(e->jail, sizeof(e->jail), "/run/sctest-jail-XXXXXX");
	else
		snprintf(e->jail, sizeof(e->jail), "%s/jail-XXXXXX",
		    e->tmpdir);
	if (mkdtemp(e->jail) == NULL) {
		e->jail[0] = '\0';
		return -1;
	}
	if (chmod(e->jail, 0755) == -1)
		return -1;
	return tu_db_start(&e->db);
}

void
au_env_stop(struct au_env *e)
{
	tu_db_stop(&e->db);
	if (e->jail[0] != '\0')
		rmdir(e->jail);
	if (e->tmpdir != NULL) {
		tu_rmrf(e->tmpdir);
		free(e->tmpdir);
	}
	free(au_seen.audit);
	memset(&au_seen, 0, sizeof(au_seen));
	memset(e, 0, sizeof(*e));
}

int
au_spawn(struct au_authd *p, const struct au_env *e, const char *tag,
    const char *const *args)
{
	const char *argv[48];
	const char *user = "nobody";
	int sv[2], fd, n = 0;

	if (getpwnam(user) == NULL)
		return -1;
	snprintf(p->log, sizeof(p->log), "%s/authd-%s.log", e->tmpdir, tag);
	argv[n++] = tu_bin("authd");
	argv[n++] = "-d";
	argv[n++] = "-v";
	argv[n++] = "-D";
	argv[n++] = e->db.conf;
	argv[n++] = "-u";
	argv[n++] = user;
	argv[n++] = "-j";
	argv[n++] = e->jail;
	while (args != NULL && *args != NULL && n < 46)
		argv[n++] = *args++;
	argv[n] = NULL;
	if (ipc_socketpair(sv) == -1)
		return -1;
	if ((p->pid = fork()) == -1)
		return -1;
	if (p->pid == 0) {
#if defined(__SANITIZE_ADDRESS__)
		/*
		 * LeakSanitizer needs /proc, which the chroot does not
		 * have: at exit it would wait forever for its tracer.
		 */
		if (geteuid() == 0)
			setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
#endif
		/* dup2 clears close-on-exec: descriptor 3 survives exec. */
		if (dup2(sv[1], IPC_CTL_FD) == -1)
			_exit(127);
		if ((fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0600)) !=
		    -1)
			dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	p->ctl = sv[0];
	return 0;
}

int
au_stop(struct au_authd *p)
{
	int st = -1, i;

	if (p->pid <= 0)
		return -1;
	close(p->ctl);
	p->ctl = -1;
	for (i = 0; i < 200; i++) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid)
			break;
		usleep(50 * 1000);
	}
	if (i == 200) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
		st = -1;
	}
	p->pid = -1;
	return st;
}

void
au_show_log(const struct au_authd *p)
{
	char *t = tu_read(p->log, NULL);

	fprintf(stderr, "--- %s ---\n%s---\n", p->log, t ? t : "(none)\n");
	free(t);
}

void
au_assert_exit0(const struct au_authd *p, int st)
{
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		au_show_log(p);
		fail_msg("authd did not exit 0 (wait status %#x)", st);
	}
}

static void
seen_audit(const struct ipc_msg *m)
{
	char *n;

	if ((n = realloc(au_seen.audit, au_seen.audit_len + m->len + 2)) ==
	    NULL)
		abort();
	au_seen.audit = n;
	memcpy(au_seen.audit + au_seen.audit_len, m->body, m->len);
	au_seen.audit_len += m->len;
	au_seen.audit[au_seen.audit_len++] = '\n';
	au_seen.audit[au_seen.audit_len] = '\0';
}

static void
seen_authenticated(const struct ipc_msg *m)
{
	struct au_authn *a = &au_seen.last;
	struct cursor c;
	const uint8_t *u;
	size_t ulen;

	memset(a, 0, sizeof(*a));
	cur_init(&c, m->body, m->len);
	a->serial = cur_u64(&c);
	a->account_id = cur_u64(&c);
	u = cur_str16(&c, &ulen, sizeof(a->user) - 1);
	cur_bytes(&c, a->fp, sizeof(a->fp));
	if (cur_done(&c) == -1 || ulen == 0)
		fail_msg("malformed AUTHENTICATED");
	memcpy(a->user, u, ulen);
	a->user[ulen] = '\0';
	au_seen.nauthn++;
}

void
au_ctl_drain(struct au_authd *p, int wait_ms)
{
	static struct ipc_msg m;
	struct pollfd pfd;
	struct cursor c;

	for (;;) {
		pfd.fd = p->ctl;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, wait_ms) <= 0)
			return;
		wait_ms = 0;
		if (ipc_recv(p->ctl, &m, 0) != 1)
			return;
		if (m.hdr.type == IPC_MSG_AUDIT)
			seen_audit(&m);
		else if (m.hdr.type == AUTHD_CTL_KILL_WORKER && m.len == 8) {
			cur_init(&c, m.body, m.len);
			if (au_seen.nkilled < 64)
				au_seen.killed[au_seen.nkilled++] =
				    cur_u64(&c);
		} else if (m.hdr.type == AUTHD_CTL_AUTHENTICATED)
			seen_authenticated(&m);
		else
			fail_msg("unexpected control message %u", m.hdr.type);
	}
}

int
au_chan_send(int ctl, uint16_t type, uint64_t serial, const char *addr)
{
	struct wbuf b;
	int sv[2];

	assert_int_equal(ipc_socketpair(sv), 0);
	wbuf_init(&b, 256);
	wbuf_put_u64(&b, serial);
	wbuf_put_str16(&b, addr, strlen(addr));
	assert_false(b.err);
	assert_int_equal(ipc_send_fd(ctl, type, 0, b.data, b.len, sv[1]), 0);
	wbuf_free(&b);
	close(sv[1]);
	return sv[0];
}

int
au_chan_open(struct au_authd *p, uint64_t serial, const char *addr)
{
	return au_chan_send(p->ctl, AUTHD_CTL_NEW_CHANNEL, serial, addr);
}

void
au_assert_violation(struct au_authd *p, int ch, uint64_t serial)
{
	static struct ipc_msg m;
	struct pollfd pfd = { ch, POLLIN, 0 };
	size_t i;
	int seen = 0, tries;

	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_int_equal(ipc_recv(ch, &m, 0), 0);	/* closed, no reply */
	for (tries = 0; tries < 50 && !seen; tries++) {
		au_ctl_drain(p, 100);
		for (i = 0; i < au_seen.nkilled; i++)
			if (au_seen.killed[i] == serial)
				seen = 1;
	}
	assert_true(seen);
	close(ch);
}

int
au_audit_since(struct au_authd *p, size_t mark, const char *needle)
{
	au_ctl_drain(p, 50);
	return au_seen.audit != NULL && mark <= au_seen.audit_len &&
	    tu_contains(au_seen.audit + mark, needle);
}

void
au_assert_query(struct tu_db *db, const char *sql, const char *expect)
{
	char *v = tu_db_query(db, "%s", sql);

	assert_non_null(v);
	if (strcmp(v, expect) != 0)
		fail_msg("%s: got \"%s\", expected \"%s\"", sql, v, expect);
	free(v);
}
