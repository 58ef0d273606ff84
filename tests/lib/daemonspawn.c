/*
 * daemonspawn.c: start and stop a channel daemon for a test that plays
 * its master (see daemonspawn.h).
 */
#include "daemonspawn.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ipc.h"
#include "testutil.h"

#define DS_MAX_ARGS	16

void
ds_init(struct ds_daemon *d, const char *prog, const char *dir)
{
	memset(d, 0, sizeof(*d));
	d->prog = prog;
	d->ctl = -1;
	snprintf(d->log, sizeof(d->log), "%s/%s.log", dir, prog);
	if (geteuid() == 0) {
		/* privdrop wants a root-owned path with no writable parent. */
		snprintf(d->jail, sizeof(d->jail), "/run/sc-test-%s-XXXXXX",
		    prog);
		assert_non_null(mkdtemp(d->jail));
		assert_int_equal(chmod(d->jail, 0755), 0);
	}
}

pid_t
ds_start(const struct ds_daemon *d, const char *const *args, int *ctlp)
{
	const char *argv[DS_MAX_ARGS + 8];
	int sv[2], logfd, i = 0;
	pid_t pid;

	assert_int_equal(ipc_socketpair(sv), 0);
	argv[i++] = tu_bin(d->prog);
	argv[i++] = "-d";
	argv[i++] = "-v";
	for (; args != NULL && *args != NULL; args++) {
		assert_true(i < DS_MAX_ARGS);
		argv[i++] = *args;
	}
	if (d->jail[0] != '\0') {
		argv[i++] = "-u";
		argv[i++] = "nobody";
		argv[i++] = "-j";
		argv[i++] = d->jail;
	}
	argv[i] = NULL;
	logfd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(logfd != -1);
	if ((pid = fork()) == 0) {
		/* dup2 clears close-on-exec on the copies. */
		if (dup2(sv[1], IPC_CTL_FD) == -1 || dup2(logfd, 2) == -1)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_true(pid > 0);
	close(sv[1]);
	close(logfd);
	*ctlp = sv[0];
	return pid;
}

int
ds_wait_exit(pid_t pid, int ms)
{
	int st;

	for (; ms > 0; ms -= 10) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		usleep(10000);
	}
	return -1;
}

void
ds_dump_log(const struct ds_daemon *d)
{
	char *s = tu_read(d->log, NULL);

	if (s != NULL) {
		fprintf(stderr, "--- %s log ---\n%s----------------\n",
		    d->prog, s);
		free(s);
	}
}

void
ds_stop(struct ds_daemon *d, const char *logenv)
{
	if (d->ctl != -1)
		close(d->ctl);
	d->ctl = -1;
	if (d->pid > 0 && ds_wait_exit(d->pid, 3000) == -1) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
	}
	d->pid = 0;
	if (logenv != NULL && getenv(logenv) != NULL)
		ds_dump_log(d);
	if (d->jail[0] != '\0')
		rmdir(d->jail);
	d->jail[0] = '\0';
}
