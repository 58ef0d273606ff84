/*
 * clientdrv.c: drive a real sc-client through pipes (clientdrv.h).
 */
#include "clientdrv.h"

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 4096;

		while (ncap < *len + n + 1)
			ncap *= 2;
		if ((*buf = realloc(*buf, ncap)) == NULL)
			abort();
		*cap = ncap;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
}

int
tc_start_dir(struct tu_client *c, struct scenv *e, const char *who,
    const char *password, const char *args, const char *state_dir)
{
	int in[2], out[2], err[2];
	char *cmd = NULL;

	memset(c, 0, sizeof(*c));
	c->in = c->out = c->err = -1;
	c->status = -1;
	append(&c->obuf, &c->olen, &c->ocap, "", 0);
	append(&c->ebuf, &c->elen, &c->ecap, "", 0);
	if (asprintf(&cmd, "exec '%s' -s 127.0.0.1:%d --name localhost "
	    "--ca '%s/ca.pem' --cert '%s/%s.pem' --key '%s/%s.key' "
	    "--dir '%s' --password-stdin %s", tu_bin("sc-client"), e->port,
	    e->ca, e->ca, who, e->ca, who, state_dir ? state_dir : e->state,
	    args) == -1)
		return -1;
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1) {
		free(cmd);
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((c->pid = fork()) == -1) {
		free(cmd);
		return -1;
	}
	if (c->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	c->in = in[1];
	c->out = out[0];
	c->err = err[0];
	return tc_send(c, "%s", password);
}

int
tc_start(struct tu_client *c, struct scenv *e, const char *who,
    const char *password, const char *args)
{
	return tc_start_dir(c, e, who, password, args, NULL);
}

int
tc_send(struct tu_client *c, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL;
	size_t off = 0, n;
	int len;

	if (c->in == -1)
		return -1;
	va_start(ap, fmt);
	len = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -1;
	n = (size_t)len;
	while (off < n + 1) {
		ssize_t w = off < n ? write(c->in, line + off, n - off) :
		    write(c->in, "\n", 1);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			free(line);
			return -1;
		}
		off += (size_t)w;
	}
	free(line);
	return 0;
}

/* Read what arrives within timeout_ms; -1 once both pipes are closed. */
static int
pump_once(struct tu_client *c, int timeout_ms)
{
	struct pollfd pfd[2] = { { c->out, POLLIN, 0 }, { c->err, POLLIN, 0 } };
	char buf[4096];
	int i;

	if (c->out == -1 && c->err == -1)
		return -1;
	if (poll(pfd, 2, timeout_ms) <= 0)
		return 0;
	for (i = 0; i < 2; i++) {
		ssize_t k;

		if (pfd[i].fd == -1 || pfd[i].revents == 0)
			continue;
		k = read(pfd[i].fd, buf, sizeof(buf));
		if (k <= 0) {
			close(pfd[i].fd);
			if (i == 0)
				c->out = -1;
			else
				c->err = -1;
			continue;
		}
		if (i == 0)
			append(&c->obuf, &c->olen, &c->ocap, buf, (size_t)k);
		else
			append(&c->ebuf, &c->elen, &c->ecap, buf, (size_t)k);
	}
	return 0;
}

void
tc_pump(struct tu_client *c, int timeout_ms)
{
	long long deadline = mono_ms() + timeout_ms, now;

	while ((now = mono_ms()) < deadline)
		if (pump_once(c, (int)(deadline - now)) == -1)
			break;
}

int
tc_expect(struct tu_client *c, const char *needle, int timeout_ms)
{
	long long deadline = mono_ms() + timeout_ms, now;
	char *p;

	for (;;) {
		if ((p = strstr(c->obuf + c->seen, needle)) != NULL) {
			c->seen = (size_t)(p - c->obuf) + strlen(needle);
			return 1;
		}
		if ((now = mono_ms()) >= deadline)
			return 0;
		if (pump_once(c, (int)(deadline - now)) == -1)
			return strstr(c->obuf + c->seen, needle) != NULL;
	}
}

void
tc_close_input(struct tu_client *c)
{
	if (c->in != -1)
		close(c->in);
	c->in = -1;
}

int
tc_wait(struct tu_client *c, int timeout_s)
{
	long long deadline = mono_ms() + (long long)timeout_s * 1000;
	int st;
	pid_t r;

	if (c->status != -1)
		return c->status;
	for (;;) {
		/* Keep reading, or a chatty client blocks on a full pipe. */
		(void)pump_once(c, 50);
		if ((r = waitpid(c->pid, &st, WNOHANG)) == c->pid)
			break;
		if (r == -1)
			return -1;
		if (mono_ms() >= deadline) {
			kill(c->pid, SIGKILL);
			if (waitpid(c->pid, &st, 0) != c->pid)
				return -1;
			break;
		}
	}
	/* What it printed last; its pipes close as it exits. */
	deadline = mono_ms() + 2000;
	while ((c->out != -1 || c->err != -1) && mono_ms() < deadline)
		if (pump_once(c, 100) == -1)
			break;
	c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return c->status;
}

void
tc_free(struct tu_client *c)
{
	tc_close_input(c);
	if (c->status == -1 && c->pid > 0) {
		kill(c->pid, SIGKILL);
		(void)tc_wait(c, 5);
	}
	if (c->out != -1)
		close(c->out);
	if (c->err != -1)
		close(c->err);
	free(c->obuf);
	free(c->ebuf);
	memset(c, 0, sizeof(*c));
	c->in = c->out = c->err = -1;
}
