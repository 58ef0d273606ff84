/*
 * ui.c: the session loop of sc-client.  poll() waits on the terminal (or
 * the script on standard input) and on the connection at once, so that
 * messages from others appear while the user types.  Plain line mode, no
 * curses: the kernel's line discipline edits the line; when a message
 * arrives while the prompt is shown, the prompt line is cleared, the
 * message printed and "msg> " drawn again (what was typed so far stays in
 * the terminal's line buffer and is still sent on Enter; ^R shows it).
 *
 * When standard input is not a terminal, each line is taken once the
 * answers to the previous one have arrived (or after 30 seconds), so that
 * a script reads like a conversation; at the end of input the client
 * waits up to 5 seconds for what is still unanswered, then closes.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sc-client.h"
#include "util.h"

/* The longest line: a full message after "/msg " and a room name. */
#define UI_LINE_MAX		(SC_MAX_TEXT + 64)
/* A script waits this long for the answers to one line. */
#define UI_LINE_WAIT_MS		30000
/* At the end, unanswered requests get this long. */
#define UI_DRAIN_MS		5000

static const char prompt_str[] = "msg> ";

static volatile sig_atomic_t quit_signal;

static void
on_signal(int sig)
{
	quit_signal = sig;
}

void
ui_printf(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->prompt_shown)
		fputs(c->redraw ? "\r\033[K" : "\n", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (c->prompt_shown)
		fputs(prompt_str, stdout);
	fflush(stdout);
}

static void
show_prompt(struct client *c)
{
	if (!c->interactive || c->prompt_shown)
		return;
	fputs(prompt_str, stdout);
	fflush(stdout);
	c->prompt_shown = 1;
}

/* One line: 0 go on, 1 end the session, -1 the session failed. */
static int
do_line(struct client *c, char *line)
{
	struct client_cmd cmd;
	size_t i;

	line[strcspn(line, "\r")] = '\0';
	switch (cmd_parse(line, &cmd)) {
	case CMD_NONE:
		return 0;
	case CMD_ERROR:
		ui_printf(c, "%s", cmd.error);
		return 0;
	case CMD_HELP:
		for (i = 0; cmd_help[i] != NULL; i++)
			ui_printf(c, "%s", cmd_help[i]);
		return 0;
	case CMD_EXIT:
		return 1;
	case CMD_TEXT:
		if (c->target[0] != '\0')
			return msg_send_text(c, c->target, cmd.text,
			    cmd.textlen);
		return msg_echo(c, cmd.text, cmd.textlen);
	case CMD_MSG:
		return msg_send_text(c, cmd.target, cmd.text, cmd.textlen);
	case CMD_JOIN:
		return msg_request(c, SC_OP_JOIN, cmd.target);
	case CMD_LEAVE:
		return msg_request(c, SC_OP_LEAVE, cmd.target);
	case CMD_MEMBERS:
		return msg_request(c, SC_OP_MEMBERS, cmd.target);
	case CMD_WHO:
		return msg_request(c, SC_OP_WHO, "");
	case CMD_ROOMS:
		return msg_request(c, SC_OP_ROOMS, "");
	case CMD_TO:
		strlcpy(c->target, cmd.target, sizeof(c->target));
		if (c->target[0] != '\0')
			ui_printf(c, "plain lines now go to %s", c->target);
		else
			ui_printf(c, "plain lines now go to the server's echo "
			    "service");
		return 0;
	case CMD_HISTORY:
		msg_history(c, cmd.target, cmd.n);
		return 0;
	case CMD_TRUST:
		msg_trust(c, cmd.target);
		return 0;
	case CMD_FP:
		msg_show_fp(c, cmd.target);
		return 0;
	}
	return 0;
}

/* Read what the connection has: 0, or -1 when the session failed. */
static int
do_event(struct client *c, int timeout_ms)
{
	struct cs_event ev;
	int r;

	if ((r = csession_next_event(c->cs, timeout_ms, &ev)) == -1)
		return -1;
	if (r == 0)
		return 0;
	r = msg_event(c, &ev);
	csession_event_clear(&ev);
	return r;
}

/* After the last line: give the server's answers a little time. */
static int
drain(struct client *c)
{
	uint64_t deadline = now_ms() + UI_DRAIN_MS, now;

	while (msg_busy(c) && !quit_signal && (now = now_ms()) < deadline)
		if (do_event(c, (int)(deadline - now)) == -1)
			return -1;
	if (msg_busy(c))
		ui_printf(c, "(closing with %zu line%s and %zu request%s still "
		    "unanswered)", c->nqueue + c->nsends + c->echo_pending,
		    c->nqueue + c->nsends + c->echo_pending == 1 ? "" : "s",
		    c->nreqs, c->nreqs == 1 ? "" : "s");
	return 0;
}

int
ui_run(struct client *c)
{
	struct sigaction sa;
	struct pollfd pfd[2];
	char *buf;
	size_t have = 0;
	uint64_t busy_since = 0, now;
	int eof = 0, discard = 0, rc = 0, r, timeout, waited_note = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* A second ^C kills, in case the server never answers the close. */
	sa.sa_flags = SA_RESETHAND;
	if (sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1)
		fatal("sigaction");
	if ((buf = malloc(UI_LINE_MAX + 1)) == NULL)
		fatal("malloc");

	for (;;) {
		char *nl;
		int take;

		if (quit_signal) {
			ui_printf(c, "(signal %d: closing the session)",
			    (int)quit_signal);
			break;
		}
		now = now_ms();
		/*
		 * A script's next line waits for the answers to the last
		 * one; a person at a terminal types when they like.
		 */
		take = c->interactive || !msg_busy(c) ||
		    now >= busy_since + UI_LINE_WAIT_MS;
		if (!c->interactive && msg_busy(c) && take && !waited_note) {
			ui_printf(c, "(no answer from the server after %d s; "
			    "going on)", UI_LINE_WAIT_MS / 1000);
			waited_note = 1;
		}
		if (take && (nl = memchr(buf, '\n', have)) != NULL) {
			size_t n = (size_t)(nl - buf) + 1;

			*nl = '\0';
			c->prompt_shown = 0;
			if (discard) {
				discard = 0;
				ui_printf(c, "sc-client: line longer than %d "
				    "bytes, not sent", UI_LINE_MAX);
				r = 0;
			} else
				r = do_line(c, buf);
			memmove(buf, buf + n, have - n);
			have -= n;
			if (r == -1) {
				rc = -1;
				goto out;
			}
			if (r == 1)
				break;
			if (msg_busy(c)) {
				busy_since = now_ms();
				waited_note = 0;
			}
			continue;
		}
		if (take && eof) {
			if (have > 0) {
				/* A last line without its newline. */
				buf[have++] = '\n';
				continue;
			}
			if (c->interactive && c->prompt_shown) {
				putchar('\n');
				c->prompt_shown = 0;
			}
			break;
		}
		if (take && !eof)
			show_prompt(c);

		pfd[0].fd = csession_fd(c->cs);
		pfd[0].events = POLLIN;
		pfd[1].fd = take && !eof ? STDIN_FILENO : -1;
		pfd[1].events = POLLIN;
		timeout = -1;
		if (!take)
			timeout = (int)(busy_since + UI_LINE_WAIT_MS - now);
		if (poll(pfd, 2, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (do_event(c, 0) == -1) {
				rc = -1;
				goto out;
			}
		}
		if (pfd[1].fd != -1 && (pfd[1].revents &
		    (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n;

			if (have == UI_LINE_MAX) {
				/* Too long: keep reading, drop until '\n'. */
				discard = 1;
				have = 0;
			}
			n = read(STDIN_FILENO, buf + have, UI_LINE_MAX - have);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				eof = 1;
			else
				have += (size_t)n;
		}
	}
	rc = drain(c);
 out:
	freezero(buf, UI_LINE_MAX + 1);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	return rc;
}
