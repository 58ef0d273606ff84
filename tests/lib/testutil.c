/*
 * testutil.c: run real programs from tests and collect what they printed.
 */
#include "testutil.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
append(char **buf, size_t *len, const char *p, size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);

	if (nb == NULL)
		abort();
	memcpy(nb + *len, p, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
}

int
tu_run(struct tu_result *r, const char *input, int timeout_s,
    const char *const argv[])
{
	int in[2], out[2], err[2], st;
	size_t olen = 0, elen = 0, ilen = input ? strlen(input) : 0, ioff = 0;
	time_t deadline = time(NULL) + (timeout_s > 0 ? timeout_s : 60);
	pid_t pid;
	char buf[4096];

	memset(r, 0, sizeof(*r));
	r->out = strdup("");
	r->err = strdup("");
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1)
		abort();
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (strchr(argv[0], '/') != NULL)
			execv(argv[0], (char *const *)argv);
		else
			execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (ilen == 0) {
		close(in[1]);
		in[1] = -1;
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct pollfd pfd[3] = {
			{ out[0], POLLIN, 0 }, { err[0], POLLIN, 0 },
			{ in[1], POLLOUT, 0 } };
		int n, tmo = (int)(deadline - time(NULL)) * 1000;

		if (pfd[0].fd == -1 && pfd[1].fd == -1)
			break;
		if (tmo <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		n = poll(pfd, 3, tmo);
		if (n == -1 && errno == EINTR)
			continue;
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd != -1 && pfd[i].revents) {
				ssize_t k = read(pfd[i].fd, buf, sizeof(buf));

				if (k <= 0) {
					close(pfd[i].fd);
					if (i == 0)
						out[0] = -1;
					else
						err[0] = -1;
				} else if (i == 0)
					append(&r->out, &olen, buf, (size_t)k);
				else
					append(&r->err, &elen, buf, (size_t)k);
			}
		}
		if (in[1] != -1 && pfd[2].revents) {
			ssize_t k = write(in[1], input + ioff, ilen - ioff);

			if (k <= 0 || (ioff += (size_t)k) == ilen) {
				close(in[1]);
				in[1] = -1;
			}
		}
	}
	if (in[1] != -1)
		close(in[1]);
	if (out[0] != -1)
		close(out[0]);
	if (err[0] != -1)
		close(err[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(st))
		r->status = WEXITSTATUS(st);
	else
		r->status = 128 + WTERMSIG(st);
	return r->status;
}

int
tu_sh(struct tu_result *r, const char *input, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int rv;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) == -1)
		abort();
	va_end(ap);
	{
		const char *argv[] = { "/bin/sh", "-c", cmd, NULL };

		rv = tu_run(r, input, 120, argv);
	}
	free(cmd);
	return rv;
}

void
tu_result_free(struct tu_result *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

char *
tu_mkdtemp(const char *tag)
{
	char *p = NULL;
	const char *base = getenv("TMPDIR");

	if (asprintf(&p, "%s/sctest-%s-XXXXXX", base ? base : "/tmp", tag) == -1)
		abort();
	if (mkdtemp(p) == NULL)
		abort();
	return p;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
tu_rmrf(const char *path)
{
	if (path != NULL && getenv("SC_KEEP_TMP") == NULL)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *
root_dir(void)
{
	static char root[PATH_MAX];
	const char *e;

	if (root[0] == '\0') {
		if ((e = getenv("SC_SRCDIR")) != NULL)
			snprintf(root, sizeof(root), "%s", e);
		else if (getcwd(root, sizeof(root)) == NULL)
			abort();
	}
	return root;
}

const char *
tu_bin(const char *name)
{
	static char path[8][PATH_MAX];
	static int slot;
	const char *b = getenv("BUILD");
	char *p = path[slot++ % 8];

	if (b == NULL)
		b = "build";
	if (b[0] == '/')
		snprintf(p, PATH_MAX, "%s/bin/%s", b, name);
	else
		snprintf(p, PATH_MAX, "%s/%s/bin/%s", root_dir(), b, name);
	return p;
}

const char *
tu_src(const char *rel)
{
	static char path[8][PATH_MAX];
	static int slot;
	char *p = path[slot++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", root_dir(), rel);
	return p;
}

char *
tu_read(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, n;
	char tmp[4096];

	if (f == NULL)
		return NULL;
	buf = strdup("");
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		append(&buf, &len, tmp, n);
	fclose(f);
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

int
tu_write(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	if (fwrite(p, 1, n, f) != n) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

int
tu_contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}
