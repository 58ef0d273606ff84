/*
 * cmd.c: what a typed line means (sc-client.1, COMMANDS).
 *
 * Pure: no I/O and no session, so that tests/unit/test_client_store.c can
 * check every form.  A line is a command only when it starts with '/' or
 * '@' in its first byte; anything else is text for the current target.
 */
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "sc-client.h"

const char *const cmd_help[] = {
	"commands:",
	"  /msg USER|#room TEXT    send one message (also: @USER TEXT)",
	"  /to USER|#room          where plain lines go (/to alone: the echo service)",
	"  /join #room             join a room (creating it if needed)",
	"  /leave #room            leave a room",
	"  /who                    who is online",
	"  /rooms                  the rooms you are in",
	"  /members #room          who is in a room",
	"  /history USER|#room [N] the last N (default 20) messages, from the local history",
	"  /trust USER             accept USER's new certificate (check it with them first)",
	"  /fp [USER]              your certificate fingerprint, or USER's pinned ones",
	"  /exit, /quit            end the session (receipts are exchanged)",
	"  //TEXT                  send a line that starts with '/'",
	NULL
};

enum cmd_args {
	A_NONE,		/* nothing after the command */
	A_ROOM,		/* #room */
	A_USER,		/* user */
	A_OPTUSER,	/* [user] */
	A_OPTCONV,	/* [user|#room] */
	A_CONV_TEXT,	/* user|#room text */
	A_CONV_N	/* user|#room [N] */
};

/* Sorted by name. */
static const struct {
	const char	*name;
	enum cmd_kind	 kind;
	enum cmd_args	 args;
	const char	*usage;
} cmds[] = {
	{ "exit", CMD_EXIT, A_NONE, "usage: /exit" },
	{ "fp", CMD_FP, A_OPTUSER, "usage: /fp [USER]" },
	{ "help", CMD_HELP, A_NONE, "usage: /help" },
	{ "history", CMD_HISTORY, A_CONV_N,
	    "usage: /history USER|#room [N], N from 1 to 1000" },
	{ "join", CMD_JOIN, A_ROOM, "usage: /join #room" },
	{ "leave", CMD_LEAVE, A_ROOM, "usage: /leave #room" },
	{ "members", CMD_MEMBERS, A_ROOM, "usage: /members #room" },
	{ "msg", CMD_MSG, A_CONV_TEXT, "usage: /msg USER|#room TEXT" },
	{ "quit", CMD_EXIT, A_NONE, "usage: /quit" },
	{ "rooms", CMD_ROOMS, A_NONE, "usage: /rooms" },
	{ "to", CMD_TO, A_OPTCONV, "usage: /to [USER|#room]" },
	{ "trust", CMD_TRUST, A_USER, "usage: /trust USER" },
	{ "who", CMD_WHO, A_NONE, "usage: /who" },
};

static const char unknown_cmd[] = "unknown command; the commands are "
    "/msg /to /join /leave /who /rooms /members /history /trust /fp /exit "
    "(/help explains them); nothing was sent";
static const char bad_name[] = "not a user name (1 to 32 of a-z 0-9 _ . -, "
    "starting with a letter or digit) or a room (# and such a name)";

static const char *
skip_blank(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static size_t
word_len(const char *p)
{
	return strcspn(p, " \t");
}

int
cmd_canon_target(const char *in, size_t len, char *out, size_t outsz)
{
	char canon[ACCOUNT_USER_MAX + 1];
	size_t n;

	if (len == 0 || outsz == 0)
		return -1;
	if (in[0] == '#') {
		if (len < 2 || len > ENV_MAX_ROOM ||
		    account_username_canon(in + 1, len - 1, canon) == -1)
			return -1;
		n = strlen(canon);
		if (n + 2 > outsz)
			return -1;
		out[0] = '#';
		memcpy(out + 1, canon, n + 1);
		return 0;
	}
	if (len > ENV_MAX_NAME || account_username_canon(in, len, canon) == -1)
		return -1;
	n = strlen(canon);
	if (n + 1 > outsz)
		return -1;
	memcpy(out, canon, n + 1);
	return 0;
}

static enum cmd_kind
cmd_error(struct client_cmd *c, const char *why)
{
	c->kind = CMD_ERROR;
	c->error = why;
	return c->kind;
}

/* Parse a decimal 1..max without sign or leading zero; 0 or -1. */
static int
parse_count(const char *p, size_t len, unsigned int max, unsigned int *out)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 9 || p[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

enum cmd_kind
cmd_parse(const char *line, struct client_cmd *c)
{
	const char *p, *name, *arg;
	size_t i, nlen, alen;

	memset(c, 0, sizeof(*c));
	if (line[0] == '\0')
		return c->kind = CMD_NONE;
	if (line[0] == '/' && line[1] == '/') {
		c->kind = CMD_TEXT;
		c->text = line + 1;
		c->textlen = strlen(c->text);
		return c->kind;
	}
	if (line[0] == '@') {
		/* @USER text: a direct message. */
		arg = line + 1;
		alen = word_len(arg);
		if (alen == 0 || arg[0] == '#' ||
		    cmd_canon_target(arg, alen, c->target,
		    sizeof(c->target)) == -1)
			return cmd_error(c, "usage: @USER TEXT (USER a user "
			    "name; for a room: /msg #room TEXT)");
		p = skip_blank(arg + alen);
		if (*p == '\0')
			return cmd_error(c, "usage: @USER TEXT: no text");
		c->kind = CMD_MSG;
		c->text = p;
		c->textlen = strlen(p);
		return c->kind;
	}
	if (line[0] != '/') {
		c->kind = CMD_TEXT;
		c->text = line;
		c->textlen = strlen(line);
		return c->kind;
	}

	name = line + 1;
	nlen = word_len(name);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strlen(cmds[i].name) == nlen &&
		    strncmp(cmds[i].name, name, nlen) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0]))
		return cmd_error(c, unknown_cmd);
	c->kind = cmds[i].kind;
	arg = skip_blank(name + nlen);
	alen = word_len(arg);
	p = skip_blank(arg + alen);	/* what follows the first argument */

	switch (cmds[i].args) {
	case A_NONE:
		if (*arg != '\0')
			return cmd_error(c, cmds[i].usage);
		break;
	case A_ROOM:
		if (alen == 0 || arg[0] != '#' || *p != '\0')
			return cmd_error(c, cmds[i].usage);
		if (cmd_canon_target(arg, alen, c->target,
		    sizeof(c->target)) == -1)
			return cmd_error(c, bad_name);
		break;
	case A_USER:
	case A_OPTUSER:
		if (alen == 0 && cmds[i].args == A_OPTUSER)
			break;
		if (alen == 0 || arg[0] == '#' || *p != '\0')
			return cmd_error(c, cmds[i].usage);
		if (cmd_canon_target(arg, alen, c->target,
		    sizeof(c->target)) == -1)
			return cmd_error(c, bad_name);
		break;
	case A_OPTCONV:
		if (alen == 0)
			break;
		if (*p != '\0')
			return cmd_error(c, cmds[i].usage);
		if (cmd_canon_target(arg, alen, c->target,
		    sizeof(c->target)) == -1)
			return cmd_error(c, bad_name);
		break;
	case A_CONV_TEXT:
		if (alen == 0 || *p == '\0')
			return cmd_error(c, cmds[i].usage);
		if (cmd_canon_target(arg, alen, c->target,
		    sizeof(c->target)) == -1)
			return cmd_error(c, bad_name);
		c->text = p;
		c->textlen = strlen(p);
		break;
	case A_CONV_N:
		if (alen == 0)
			return cmd_error(c, cmds[i].usage);
		if (cmd_canon_target(arg, alen, c->target,
		    sizeof(c->target)) == -1)
			return cmd_error(c, bad_name);
		c->n = CMD_HISTORY_DEFAULT;
		if (*p != '\0') {
			size_t nl = word_len(p);

			if (*skip_blank(p + nl) != '\0' ||
			    parse_count(p, nl, CMD_HISTORY_MAX, &c->n) == -1)
				return cmd_error(c, cmds[i].usage);
		}
		break;
	}
	return c->kind;
}
