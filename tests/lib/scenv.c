/*
 * scenv.c: a whole SecureChat installation for integration tests (see
 * scenv.h).  Everything real: sc-admin, MariaDB, securechatd, keyd,
 * authd, sc-client.
 */
#include "scenv.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Shared by every test: root-owned, 0755, empty (privdrop checks it). */
#define SCENV_JAIL	"/run/securechat-tests/empty"

static int
sh_ok(const char *what, const char *fmt, const char *a, const char *b,
    const char *c)
{
	struct tu_result r;
	int rc;

	rc = tu_sh(&r, NULL, fmt, a, b, c);
	if (rc != 0)
		fprintf(stderr, "scenv: %s failed (%d):\n%s%s\n", what, rc,
		    r.out, r.err);
	tu_result_free(&r);
	return rc == 0 ? 0 : -1;
}

const char *
scenv_ca_file(struct scenv *e, const char *name)
{
	static char path[4][PATH_MAX];
	static int slot;
	char *p = path[slot++ % 4];

	if ((size_t)snprintf(p, PATH_MAX, "%s/%s", e->ca, name) >= PATH_MAX)
		abort();
	return p;
}

int
scenv_issue(struct scenv *e, const char *name, const char *extra)
{
	struct tu_result r;
	int rc;

	rc = tu_sh(&r, NULL, "'%s' pki issue --dir '%s' --name '%s' --cn '%s' "
	    "--key-bits 2048 %s", tu_bin("sc-admin"), e->ca, name, name,
	    extra ? extra : "--client");
	if (rc != 0)
		fprintf(stderr, "scenv: issue %s failed:\n%s%s\n", name, r.out,
		    r.err);
	tu_result_free(&r);
	return rc == 0 ? 0 : -1;
}

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
make_users(void)
{
	struct tu_result r;
	int rc;

	if (geteuid() != 0)
		return 0;
	rc = tu_sh(&r, NULL, "getent passwd _securechat _securechat-key "
	    "_securechat-auth _securechat-router >/dev/null || systemd-sysusers '%s'",
	    tu_src("systemd/sysusers.conf"));
	if (rc != 0)
		fprintf(stderr, "scenv: cannot create users: %s%s\n", r.out,
		    r.err);
	tu_result_free(&r);
	return rc == 0 ? 0 : -1;
}

int
scenv_setup(struct scenv *e, const char *tag)
{
	const char *admin = tu_bin("sc-admin");

	memset(e, 0, sizeof(*e));
	e->pid = -1;
	e->dir = tu_mkdtemp(tag);
	/* The daemons' users must reach the files they read before the drop
	 * only as root; clients run as root in CI too. */
	chmod(e->dir, 0711);
	snprintf(e->ca, sizeof(e->ca), "%s/ca", e->dir);
	snprintf(e->conf, sizeof(e->conf), "%s/securechatd.conf", e->dir);
	snprintf(e->transcripts, sizeof(e->transcripts), "%s/transcripts",
	    e->dir);
	snprintf(e->receipts, sizeof(e->receipts), "%s/receipts", e->dir);
	snprintf(e->audit, sizeof(e->audit), "%s/audit.log", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/securechatd.log", e->dir);
	snprintf(e->state, sizeof(e->state), "%s/client", e->dir);
	if (geteuid() == 0) {
		snprintf(e->jail, sizeof(e->jail), "%s", SCENV_JAIL);
		if (mkdir("/run/securechat-tests", 0755) == -1 &&
		    errno != EEXIST)
			return -1;
		if (mkdir(e->jail, 0755) == -1 && errno != EEXIST)
			return -1;
		if (chown(e->jail, 0, 0) == -1 || chmod(e->jail, 0755) == -1)
			return -1;
	} else {
		snprintf(e->jail, sizeof(e->jail), "%s/jail", e->dir);
		if (mkdir(e->jail, 0755) == -1)
			return -1;
	}
	if (mkdir(e->transcripts, 0700) == -1 || mkdir(e->receipts, 0700) == -1)
		return -1;
	if (make_users() == -1)
		return -1;
	if (sh_ok("init-ca", "'%s' pki init-ca --dir '%s' --cn 'SecureChat Test CA' "
	    "--key-bits %s", admin, e->ca, "2048") == -1)
		return -1;
	if (scenv_issue(e, "server", "--server --san DNS:localhost,IP:127.0.0.1")
	    == -1 || scenv_issue(e, "alice", "--client") == -1 ||
	    scenv_issue(e, "bob", "--client") == -1 ||
	    scenv_issue(e, "carol", "--client") == -1)
		return -1;
	if (tu_db_start(&e->db) == -1)
		return -1;
	e->have_db = 1;
	if (sh_ok("db init", "'%s' db init --config '%s'%s", admin, e->db.conf,
	    "") == -1)
		return -1;
	return 0;
}

static int
wait_port(int port, pid_t pid, int seconds)
{
	struct sockaddr_in sin;
	int fd, i, st;

	for (i = 0; i < seconds * 20; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return -1;
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			return -1;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			close(fd);
			return 0;
		}
		close(fd);
		usleep(50000);
	}
	return -1;
}

/* Start securechatd -d on e->conf, its output appended to e->log. */
static int
daemon_spawn(struct scenv *e)
{
	int logfd;

	if ((logfd = open(e->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	if ((e->pid = fork()) == -1) {
		close(logfd);
		return -1;
	}
	if (e->pid == 0) {
		const char *daemon = tu_bin("securechatd");

		dup2(logfd, 1);
		dup2(logfd, 2);
		execl(daemon, daemon, "-d", "-f", e->conf, (char *)NULL);
		_exit(127);
	}
	close(logfd);
	return 0;
}

static void
start_failed(struct scenv *e)
{
	char *log = tu_read(e->log, NULL);

	fprintf(stderr, "scenv: securechatd did not start:\n%s\n",
	    log ? log : "");
	free(log);
}

int
scenv_start(struct scenv *e)
{
	char *text = NULL, libexec[PATH_MAX];
	const char *b;

	if ((e->port = free_port()) == -1)
		return -1;
	b = tu_bin("keyd");
	snprintf(libexec, sizeof(libexec), "%s", b);
	if (asprintf(&text,
	    "# written by tests/lib/scenv.c\n"
	    "listen 127.0.0.1:%d\n"
	    "ca %s/ca.pem\n"
	    "cert %s/server.pem\n"
	    "key %s/server.key\n"
	    "server_name localhost\n"
	    "db_config %s\n"
	    "jail %s\n"
	    "keyd_path %s\n"
	    "authd_path %s\n"
	    "router_path %s\n"
	    "transcript_dir %s\n"
	    "receipt_dir %s\n"
	    "audit_log %s\n"
	    "scrypt_n_log2 12\n"
	    "handshake_timeout 10\n"
	    "%s\n",
	    e->port, e->ca, e->ca, e->ca, e->db.conf, e->jail, libexec,
	    tu_bin("authd"), tu_bin("router"), e->transcripts, e->receipts,
	    e->audit, e->extra_conf) == -1)
		return -1;
	if (tu_write(e->conf, text, strlen(text)) == -1) {
		free(text);
		return -1;
	}
	free(text);
	if (daemon_spawn(e) == -1)
		return -1;
	if (wait_port(e->port, e->pid, 20) == -1) {
		start_failed(e);
		return -1;
	}
	return 0;
}

int
scenv_restart(struct scenv *e)
{
	char needle[64], *log;
	int i, st, found = 0;

	if (daemon_spawn(e) == -1)
		return -1;
	/* Its own "ready" line: no probe connection, so no session. */
	snprintf(needle, sizeof(needle), "securechatd[%d]: ready\n",
	    (int)e->pid);
	for (i = 0; i < 20 * 20 && !found; i++) {
		if (waitpid(e->pid, &st, WNOHANG) == e->pid)
			break;
		if ((log = tu_read(e->log, NULL)) != NULL)
			found = tu_contains(log, needle);
		free(log);
		if (!found)
			usleep(50000);
	}
	if (!found) {
		start_failed(e);
		return -1;
	}
	return 0;
}

int
scenv_up(struct scenv *e, const char *tag, int (*start)(struct scenv *),
    int (*ready)(struct scenv *), const char *fmt, ...)
{
	va_list ap;
	int n;

	if (scenv_setup(e, tag) == -1)
		goto fail;
	va_start(ap, fmt);
	n = vsnprintf(e->extra_conf, sizeof(e->extra_conf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(e->extra_conf)) {
		fprintf(stderr, "scenv %s: extra configuration too long\n",
		    tag);
		goto fail;
	}
	if ((start != NULL ? start(e) : scenv_start(e)) == -1)
		goto fail;
	if (ready != NULL && ready(e) == -1)
		goto fail;
	return 0;
 fail:
	scenv_teardown(e);
	return -1;
}

int
scenv_conf_set(struct scenv *e, const char *keyword, const char *value)
{
	char *text, *out, *p;
	size_t n = strlen(keyword), olen = 0;
	int rc;

	if ((text = tu_read(e->conf, NULL)) == NULL)
		return -1;
	if ((out = malloc(strlen(text) + n + strlen(value) + 4)) == NULL) {
		free(text);
		return -1;
	}
	for (p = text; *p != '\0';) {
		size_t len = strcspn(p, "\n");

		/* Drop every line setting keyword; the new one goes last. */
		if (!(strncmp(p, keyword, n) == 0 && (p[n] == ' ' ||
		    p[n] == '\t'))) {
			memcpy(out + olen, p, len);
			olen += len;
			out[olen++] = '\n';
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	olen += (size_t)sprintf(out + olen, "%s %s\n", keyword, value);
	rc = tu_write(e->conf, out, olen);
	free(out);
	free(text);
	return rc;
}

int
scenv_libexec(struct scenv *e, const char *keyd_prog,
    const char *session_prog, char *keyd, size_t keydlen)
{
	char self[PATH_MAX], dir[PATH_MAX], sess[PATH_MAX + 16];
	ssize_t n;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		return -1;
	self[n] = '\0';
	if (snprintf(dir, sizeof(dir), "%s/libexec", e->dir) >=
	    (int)sizeof(dir) || snprintf(keyd, keydlen, "%s/keyd", dir) >=
	    (int)keydlen)
		return -1;
	snprintf(sess, sizeof(sess), "%s/session", dir);
	if (mkdir(dir, 0755) == -1 ||
	    symlink(keyd_prog != NULL ? keyd_prog : self, keyd) == -1 ||
	    symlink(session_prog != NULL ? session_prog : self, sess) == -1)
		return -1;
	return 0;
}

int
scenv_stop_daemon(struct scenv *e)
{
	int st = 0, i;

	if (e->pid <= 0)
		return 0;
	kill(e->pid, SIGTERM);
	for (i = 0; i < 200; i++) {
		if (waitpid(e->pid, &st, WNOHANG) == e->pid)
			break;
		usleep(50000);
	}
	if (i == 200) {
		kill(e->pid, SIGKILL);
		waitpid(e->pid, &st, 0);
	}
	e->pid = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void
scenv_teardown(struct scenv *e)
{
	scenv_stop_daemon(e);
	if (e->have_db)
		tu_db_stop(&e->db);
	e->have_db = 0;
	if (getenv("SC_KEEP_TMP") != NULL)
		fprintf(stderr, "scenv: kept %s\n", e->dir);
	tu_rmrf(e->dir);
	free(e->dir);
	e->dir = NULL;
}

int
scenv_client(struct scenv *e, struct tu_result *r, const char *who,
    const char *password, const char *input, const char *args)
{
	char *in = NULL, *cmd = NULL;
	int rc;

	if (asprintf(&in, "%s\n%s", password, input ? input : "") == -1)
		abort();
	if (asprintf(&cmd, "exec '%s' -s 127.0.0.1:%d --name localhost "
	    "--ca '%s/ca.pem' --cert '%s/%s.pem' --key '%s/%s.key' "
	    "--dir '%s' --password-stdin %s", tu_bin("sc-client"), e->port,
	    e->ca, e->ca, who, e->ca, who, e->state, args) == -1)
		abort();
	{
		const char *argv[] = { "/bin/sh", "-c", cmd, NULL };

		rc = tu_run(r, in, 60, argv);
	}
	/* Shown in the test log: expected refusals and real failures alike. */
	fprintf(stderr, "scenv: sc-client %s as %s: exit %d\n%s%s", args, who,
	    rc, r->out, r->err);
	free(in);
	free(cmd);
	return rc;
}

char *
scenv_audit(struct scenv *e)
{
	char *s = tu_read(e->audit, NULL);

	return s ? s : strdup("");
}

int
scenv_wait_audit(struct scenv *e, const char *needle, int seconds)
{
	char *s;
	int i, found = 0;

	for (i = 0; i < seconds * 20 && !found; i++) {
		s = scenv_audit(e);
		found = strstr(s, needle) != NULL;
		free(s);
		if (!found)
			usleep(50000);
	}
	return found;
}

pid_t
scenv_find_proc(pid_t ppid, const char *needle)
{
	DIR *d;
	struct dirent *de;
	char path[64], buf[4096];
	pid_t found = -1;

	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL && found == -1) {
		pid_t pid = (pid_t)atoi(de->d_name);
		FILE *f;
		size_t n;
		int pp = -1;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL) {
				char *p = strrchr(buf, ')');
				if (p != NULL)
					sscanf(p + 2, "%*c %d", &pp);
			}
			fclose(f);
		}
		if (ppid != 0 && pp != ppid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\0';
		if (strstr(buf, needle) != NULL)
			found = pid;
	}
	closedir(d);
	return found;
}
