/*
 * test_systemd.c: the systemd integration.  The units pass
 * `systemd-analyze verify` (with @SBINDIR@ pointing at the built daemon,
 * and the man pages they cite found); sysusers.conf and tmpfiles.conf
 * create what they promise under a scratch root; and the daemon, started
 * once through systemd-socket-activate, serves on the socket it was given,
 * refuses a connection over its per-address limit with an ERROR frame,
 * and stops cleanly on SIGTERM.
 *
 * systemd's tools are installed by `make deps`: a missing one is a failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static void
copy_subst(const char *src, const char *dst, const char *sbindir)
{
	char *text, *out, *p;
	size_t len, olen = 0, cap;
	const char *from[] = { "@SBINDIR@", "@SYSCONFDIR@" };
	const char *to[] = { sbindir, "/etc" };
	size_t i, k;

	text = tu_read(src, &len);
	assert_non_null(text);
	cap = len * 2 + 4096;
	out = malloc(cap);
	assert_non_null(out);
	for (p = text; *p != '\0';) {
		for (i = 0; i < 2; i++) {
			k = strlen(from[i]);
			if (strncmp(p, from[i], k) == 0) {
				assert_true(olen + strlen(to[i]) < cap);
				memcpy(out + olen, to[i], strlen(to[i]));
				olen += strlen(to[i]);
				p += k;
				break;
			}
		}
		if (i == 2) {
			assert_true(olen + 1 < cap);
			out[olen++] = *p++;
		}
	}
	out[olen] = '\0';
	assert_null(strstr(out, "@SBINDIR@"));	/* nothing left to substitute */
	assert_null(strstr(out, "@SYSCONFDIR@"));
	assert_int_equal(tu_write(dst, out, olen), 0);
	free(out);
	free(text);
}

static void
dirname_of(const char *path, char *out, size_t len)
{
	char *slash;

	snprintf(out, len, "%s", path);
	if ((slash = strrchr(out, '/')) != NULL)
		*slash = '\0';
}

static void
test_units_verify(void **state)
{
	struct tu_result r;
	char *dir = tu_mkdtemp("units");
	char sbindir[1024], svc[1200], sock[1200];
	int st;

	(void)state;
	assert_int_equal(access(tu_bin("securechatd"), X_OK), 0);
	dirname_of(tu_bin("securechatd"), sbindir, sizeof(sbindir));
	snprintf(svc, sizeof(svc), "%s/securechatd.service", dir);
	snprintf(sock, sizeof(sock), "%s/securechatd.socket", dir);
	copy_subst(tu_src("systemd/securechatd.service"), svc, sbindir);
	copy_subst(tu_src("systemd/securechatd.socket"), sock, sbindir);

	/*
	 * Documentation=man:... is checked by running man(1): give it our
	 * pages in a man tree of its own.
	 */
	st = tu_sh(&r, NULL,
	    "set -e; command -v systemd-analyze >/dev/null || "
	    "{ echo 'systemd-analyze missing (make deps)' >&2; exit 99; }; "
	    "mkdir -p '%s/man/man5' '%s/man/man8'; "
	    "cp '%s' '%s/man/man5/'; cp '%s' '%s/man/man8/'; "
	    "cd '%s'; if command -v man >/dev/null; then "
	    "MANPATH='%s/man' systemd-analyze verify ./securechatd.service "
	    "./securechatd.socket; else systemd-analyze verify --man=no "
	    "./securechatd.service ./securechatd.socket; fi",
	    dir, dir, tu_src("docs/man/securechatd.conf.5"), dir,
	    tu_src("docs/man/securechatd.8"), dir, dir, dir);
	/* Warnings (a misspelt option) only print: they count too. */
	if (st != 0 || r.err[0] != '\0' || r.out[0] != '\0')
		fail_msg("systemd-analyze verify failed (%d): %s%s", st, r.out,
		    r.err);
	tu_result_free(&r);

	/* The same check sees a typo, and a missing program. */
	st = tu_sh(&r, NULL, "cd '%s' && sed 's/^Type=notify/Type=notifyy/' "
	    "securechatd.service > bad.service && systemd-analyze verify "
	    "--man=no ./bad.service", dir);
	assert_true(tu_contains(r.err, "notifyy"));
	tu_result_free(&r);
	st = tu_sh(&r, NULL, "cd '%s' && sed 's|^ExecStart=.*|ExecStart="
	    "/nonexistent/securechatd|' securechatd.service > bad2.service && "
	    "systemd-analyze verify --man=no ./bad2.service", dir);
	assert_int_not_equal(st, 0);
	tu_result_free(&r);
	tu_rmrf(dir);
	free(dir);
}

static void
test_sysusers_tmpfiles(void **state)
{
	struct tu_result r;
	char *root = tu_mkdtemp("sysroot");
	char path[1200], *passwd;
	struct stat sb;
	size_t len;
	int st;

	(void)state;
	st = tu_sh(&r, NULL, "mkdir -p '%s/etc' && systemd-sysusers "
	    "--root='%s' '%s'", root, root,
	    tu_src("systemd/sysusers.conf"));
	if (st != 0)
		fail_msg("systemd-sysusers: %s", r.err);
	tu_result_free(&r);
	snprintf(path, sizeof(path), "%s/etc/passwd", root);
	passwd = tu_read(path, &len);
	assert_non_null(passwd);
	assert_true(tu_contains(passwd, "\n_securechat:x:") ||
	    strncmp(passwd, "_securechat:x:", 14) == 0);
	assert_true(tu_contains(passwd, "_securechat-key:x:"));
	assert_true(tu_contains(passwd, "_securechat-auth:x:"));
	assert_true(tu_contains(passwd, "nologin"));
	free(passwd);

	st = tu_sh(&r, NULL, "systemd-tmpfiles --create --root='%s' '%s'",
	    root, tu_src("systemd/tmpfiles.conf"));
	if (st != 0)
		fail_msg("systemd-tmpfiles: %s", r.err);
	tu_result_free(&r);
	snprintf(path, sizeof(path), "%s/var/empty/securechat", root);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0755);
	snprintf(path, sizeof(path), "%s/var/lib/securechat/transcripts", root);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0750);
	snprintf(path, sizeof(path), "%s/var/log/securechat", root);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0750);
	tu_rmrf(root);
	free(root);
}

/* ---- one daemon run through systemd-socket-activate ---- */

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
connect_port(int port, int tries)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (tries-- > 0) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd != -1);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			return fd;
		close(fd);
		usleep(100000);
	}
	return -1;
}

/* Wait until file contains needle (at most timeout_ms). */
static int
wait_for(const char *file, const char *needle, int timeout_ms)
{
	char *text;
	size_t len;
	int found;

	for (; timeout_ms > 0; timeout_ms -= 100) {
		if ((text = tu_read(file, &len)) != NULL) {
			found = tu_contains(text, needle);
			free(text);
			if (found)
				return 1;
		}
		usleep(100000);
	}
	return 0;
}

static int
count_in(const char *file, const char *needle)
{
	char *text, *p;
	size_t len;
	int n = 0;

	if ((text = tu_read(file, &len)) == NULL)
		return 0;
	for (p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(text);
	return n;
}

static void
test_socket_activation(void **state)
{
	struct tu_result r;
	char *dir = tu_mkdtemp("activate");
	char *jail = NULL, conf[1200], out[1200], audit[1200], fake[1200];
	char text[4096], listen_arg[64], buf[512];
	struct pollfd pfd;
	uint8_t frame[512];
	int port, c1, c2, c3, st, logfd;
	size_t got = 0;
	ssize_t n;
	pid_t pid;
	time_t deadline;

	(void)state;
	/* As root the workers really drop: they need the user and a jail. */
	if (geteuid() == 0) {
		if (getpwnam("_securechat") == NULL) {
			st = tu_sh(&r, NULL, "systemd-sysusers '%s'",
			    tu_src("systemd/sysusers.conf"));
			assert_int_equal(st, 0);
			tu_result_free(&r);
		}
		jail = strdup("/run/sctest-jail-XXXXXX");
		assert_non_null(jail);
		assert_non_null(mkdtemp(jail));
		assert_int_equal(chmod(jail, 0755), 0);
	}
	/* Stand-ins for keyd and authd: the master only supervises them. */
	snprintf(fake, sizeof(fake), "%s/fake-helper", dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho $$ >> '%s/helpers.pid'\n"
	    "exec sleep 600\n", dir);
	assert_int_equal(tu_write(fake, text, strlen(text)), 0);
	assert_int_equal(chmod(fake, 0755), 0);
	/* The real worker program, found next to keyd_path (master.c). */
	snprintf(text, sizeof(text), "%s/session", dir);
	assert_int_equal(symlink(tu_bin("session"), text), 0);
	/* A real CA and server certificate, so that workers wait for a hello. */
	st = tu_sh(&r, NULL, "cd '%s' && mkdir tr rc && touch db.conf && "
	    "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key "
	    "-out ca.pem -days 2 -subj '/CN=Test CA' -addext "
	    "'basicConstraints=critical,CA:TRUE' -addext "
	    "'keyUsage=critical,keyCertSign,cRLSign' && "
	    "openssl req -newkey rsa:2048 -nodes -keyout key.pem -out s.csr "
	    "-subj '/CN=localhost' && printf '%%s\\n' "
	    "'subjectAltName=DNS:localhost' 'extendedKeyUsage=serverAuth' "
	    "'keyUsage=digitalSignature,keyEncipherment' "
	    "'basicConstraints=CA:FALSE' > ext && openssl x509 -req -in s.csr "
	    "-CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 1 "
	    "-extfile ext", dir);
	if (st != 0)
		fail_msg("openssl: %s", r.err);
	tu_result_free(&r);

	port = free_port();
	snprintf(conf, sizeof(conf), "%s/securechatd.conf", dir);
	snprintf(out, sizeof(out), "%s/daemon.log", dir);
	snprintf(audit, sizeof(audit), "%s/audit.log", dir);
	snprintf(text, sizeof(text),
	    "# the listen line must be ignored: systemd passes the socket\n"
	    "listen 127.0.0.1:1\n"
	    "ca %s/ca.pem\ncert %s/cert.pem\nkey %s/key.pem\n"
	    "db_config %s/db.conf\nkeyd_path %s\nauthd_path %s\n"
	    "transcript_dir %s/tr\nreceipt_dir %s/rc\naudit_log %s\n"
	    "jail %s\nmax_per_source 2\nmax_startups 50\n"
	    "drain_timeout 1\nhandshake_timeout 20\nauthd_processes 2\n"
	    "keyd_processes 1\n",
	    dir, dir, dir, dir, fake, fake, dir, dir, audit,
	    jail != NULL ? jail : "/nonexistent");
	assert_int_equal(tu_write(conf, text, strlen(text)), 0);
	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", port);

	logfd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(logfd != -1);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		const char *argv[] = { "systemd-socket-activate", "-l",
		    listen_arg, tu_bin("securechatd"), "-d", "-f", conf, NULL };

		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec systemd-socket-activate: %s\n",
		    strerror(errno));
		_exit(127);
	}
	close(logfd);

	/* The first connection starts the daemon; two fill the per-address limit. */
	c1 = connect_port(port, 50);
	assert_true(c1 != -1);
	if (!wait_for(out, "socket(s) from systemd", 10000))
		fail_msg("the daemon did not take the socket; log:\n%s",
		    tu_read(out, &got));
	assert_true(wait_for(audit, "\"connection_accepted\"", 10000));
	c2 = connect_port(port, 1);
	assert_true(c2 != -1);
	deadline = time(NULL) + 10;
	while (count_in(audit, "\"connection_accepted\"") < 2 &&
	    time(NULL) < deadline)
		usleep(100000);
	assert_int_equal(count_in(audit, "\"connection_accepted\""), 2);

	/* The third from the same address is refused, and told why. */
	c3 = connect_port(port, 1);
	assert_true(c3 != -1);
	pfd.fd = c3;
	pfd.events = POLLIN;
	while (got < 8 + 4 && poll(&pfd, 1, 5000) == 1 &&
	    (n = read(c3, frame + got, sizeof(frame) - got)) > 0)
		got += (size_t)n;
	assert_true(got >= 8 + 4);
	assert_int_equal(frame[0], 0x53);		/* "SC" */
	assert_int_equal(frame[1], 0x43);
	assert_int_equal(frame[2], 1);			/* version */
	assert_int_equal(frame[3], 0x7f);		/* ERROR */
	assert_int_equal((frame[8] << 8) | frame[9], 8);	/* RATE_LIMITED */
	memcpy(buf, frame + 12, got - 12 < sizeof(buf) - 1 ? got - 12 : 0);
	buf[got - 12 < sizeof(buf) - 1 ? got - 12 : 0] = '\0';
	assert_true(tu_contains(buf, "too many connections"));
	assert_true(wait_for(audit, "\"reason\":\"max_per_source\"", 5000));
	close(c3);

	/* The sessions are still up: SIGTERM drains, stops, exits 0. */
	assert_true(wait_for(out, "ready", 1000));
	assert_int_equal(kill(pid, SIGTERM), 0);
	deadline = time(NULL) + 20;
	while (waitpid(pid, &st, WNOHANG) == 0 && time(NULL) < deadline)
		usleep(100000);
	if (time(NULL) >= deadline) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("daemon did not stop on SIGTERM");
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_true(wait_for(audit, "\"event\":\"shutdown\"", 1000));
	assert_int_equal(count_in(audit, "\"worker_crash\""), 0);
	close(c1);
	close(c2);

	/* One keyd and two authd were started, and stopped with the daemon. */
	snprintf(fake, sizeof(fake), "%s/helpers.pid", dir);
	{
		char *pids = tu_read(fake, &got), *line, *save = NULL;
		int nhelpers = 0;

		assert_non_null(pids);
		for (line = strtok_r(pids, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			nhelpers++;
			assert_int_equal(kill((pid_t)atoi(line), 0), -1);
			assert_int_equal(errno, ESRCH);
		}
		assert_int_equal(nhelpers, 3);
		free(pids);
	}
	if (jail != NULL) {
		assert_int_equal(rmdir(jail), 0);
		free(jail);
	}
	tu_rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units_verify),
		cmocka_unit_test(test_sysusers_tmpfiles),
		cmocka_unit_test(test_socket_activation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
