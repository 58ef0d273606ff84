/*
 * test_client_store.c: sc-client's pure parts, with real files in a
 * temporary directory: command parsing (sc-client/cmd.c), the
 * known_peers pin store, the history line format and file, the replay
 * state persistence with merging (sc-client/store.c), and the offline
 * `sc-client verify` of a history file (sc-client/verify.c) against
 * envelopes sealed and opened with real keys made at run time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sc-client/cmd.c"
#include "sc-client/store.c"
#include "sc-client/verify.c"

#include "testutil.h"

static char *tmpdir;

/* A path in the temporary directory, valid until teardown. */
static char *paths[256];
static size_t npaths;

static const char *
tpath(const char *name)
{
	char *p;

	if (npaths == sizeof(paths) / sizeof(paths[0]) ||
	    asprintf(&p, "%s/%s", tmpdir, name) == -1)
		fail_msg("tpath");
	paths[npaths++] = p;
	return p;
}

static mode_t
file_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return (mode_t)-1;
	return st.st_mode & 07777;
}

static int
setup(void **state)
{
	(void)state;
	if ((tmpdir = tu_mkdtemp("clientstore")) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_rmrf(tmpdir);
	free(tmpdir);
	while (npaths > 0)
		free(paths[--npaths]);
	return 0;
}

/* ---- cmd.c ---- */

static void
expect_cmd(const char *line, enum cmd_kind kind, const char *target,
    const char *text)
{
	struct client_cmd c;

	if (cmd_parse(line, &c) != kind || c.kind != kind)
		fail_msg("\"%s\": kind %d, expected %d (%s)", line, c.kind, kind,
		    c.error ? c.error : "");
	if (target != NULL && strcmp(c.target, target) != 0)
		fail_msg("\"%s\": target \"%s\", expected \"%s\"", line,
		    c.target, target);
	if (text != NULL) {
		if (c.text == NULL || c.textlen != strlen(text) ||
		    memcmp(c.text, text, c.textlen) != 0)
			fail_msg("\"%s\": wrong text", line);
	}
	if (kind == CMD_ERROR && (c.error == NULL || c.error[0] == '\0'))
		fail_msg("\"%s\": error without a reason", line);
}

static void
test_cmd_parse(void **state)
{
	struct client_cmd c;
	char longname[64], line[128];

	(void)state;
	expect_cmd("", CMD_NONE, "", NULL);
	expect_cmd("hello there", CMD_TEXT, "", "hello there");
	expect_cmd("  leading blanks stay", CMD_TEXT, "",
	    "  leading blanks stay");
	expect_cmd("//not a command", CMD_TEXT, "", "/not a command");
	expect_cmd("@bob hi there ", CMD_MSG, "bob", "hi there ");
	expect_cmd("@Bob   hi", CMD_MSG, "bob", "hi");
	expect_cmd("@bob", CMD_ERROR, NULL, NULL);
	expect_cmd("@bob   ", CMD_ERROR, NULL, NULL);
	expect_cmd("@#room hi", CMD_ERROR, NULL, NULL);
	expect_cmd("@ hi", CMD_ERROR, NULL, NULL);
	expect_cmd("@b!d hi", CMD_ERROR, NULL, NULL);
	expect_cmd("/msg bob hello, world", CMD_MSG, "bob", "hello, world");
	expect_cmd("/msg\tALICE\tx", CMD_MSG, "alice", "x");
	expect_cmd("/msg #General café at 5?", CMD_MSG, "#general",
	    "café at 5?");
	expect_cmd("/msg bob", CMD_ERROR, NULL, NULL);
	expect_cmd("/msg", CMD_ERROR, NULL, NULL);
	expect_cmd("/msg -bob hi", CMD_ERROR, NULL, NULL);
	expect_cmd("/msg # hi", CMD_ERROR, NULL, NULL);
	expect_cmd("/join #room", CMD_JOIN, "#room", NULL);
	expect_cmd("/join   #Room  ", CMD_JOIN, "#room", NULL);
	expect_cmd("/join room", CMD_ERROR, NULL, NULL);
	expect_cmd("/join #a #b", CMD_ERROR, NULL, NULL);
	expect_cmd("/join", CMD_ERROR, NULL, NULL);
	expect_cmd("/leave #room", CMD_LEAVE, "#room", NULL);
	expect_cmd("/members #r.1", CMD_MEMBERS, "#r.1", NULL);
	expect_cmd("/members bob", CMD_ERROR, NULL, NULL);
	expect_cmd("/to", CMD_TO, "", NULL);
	expect_cmd("/to   ", CMD_TO, "", NULL);
	expect_cmd("/to bob", CMD_TO, "bob", NULL);
	expect_cmd("/to #room", CMD_TO, "#room", NULL);
	expect_cmd("/to bob carol", CMD_ERROR, NULL, NULL);
	expect_cmd("/who", CMD_WHO, "", NULL);
	expect_cmd("/who bob", CMD_ERROR, NULL, NULL);
	expect_cmd("/rooms", CMD_ROOMS, "", NULL);
	expect_cmd("/history bob", CMD_HISTORY, "bob", NULL);
	assert_int_equal(cmd_parse("/history bob", &c), CMD_HISTORY);
	assert_int_equal(c.n, CMD_HISTORY_DEFAULT);
	assert_int_equal(cmd_parse("/history #room 5", &c), CMD_HISTORY);
	assert_string_equal(c.target, "#room");
	assert_int_equal(c.n, 5);
	assert_int_equal(cmd_parse("/history bob 1000", &c), CMD_HISTORY);
	assert_int_equal(c.n, 1000);
	expect_cmd("/history bob 0", CMD_ERROR, NULL, NULL);
	expect_cmd("/history bob 1001", CMD_ERROR, NULL, NULL);
	expect_cmd("/history bob 05", CMD_ERROR, NULL, NULL);
	expect_cmd("/history bob -1", CMD_ERROR, NULL, NULL);
	expect_cmd("/history bob 5 6", CMD_ERROR, NULL, NULL);
	expect_cmd("/history bob 99999999999", CMD_ERROR, NULL, NULL);
	expect_cmd("/history", CMD_ERROR, NULL, NULL);
	expect_cmd("/trust bob", CMD_TRUST, "bob", NULL);
	expect_cmd("/trust #room", CMD_ERROR, NULL, NULL);
	expect_cmd("/trust", CMD_ERROR, NULL, NULL);
	expect_cmd("/fp", CMD_FP, "", NULL);
	expect_cmd("/fp Bob", CMD_FP, "bob", NULL);
	expect_cmd("/help", CMD_HELP, "", NULL);
	expect_cmd("/exit", CMD_EXIT, "", NULL);
	expect_cmd("/quit", CMD_EXIT, "", NULL);
	expect_cmd("/exit now", CMD_ERROR, NULL, NULL);
	/* Unknown: a help line, and no prefix matching. */
	expect_cmd("/frobnicate", CMD_ERROR, NULL, NULL);
	expect_cmd("/ex", CMD_ERROR, NULL, NULL);
	expect_cmd("/exits", CMD_ERROR, NULL, NULL);
	expect_cmd("/", CMD_ERROR, NULL, NULL);
	expect_cmd("/ msg bob hi", CMD_ERROR, NULL, NULL);
	assert_int_equal(cmd_parse("/nope", &c), CMD_ERROR);
	assert_non_null(strstr(c.error, "/help"));

	/* Name lengths: 32 for a user, '#' and 31 for a room. */
	memset(longname, 'a', 32);
	longname[32] = '\0';
	snprintf(line, sizeof(line), "/msg %s x", longname);
	expect_cmd(line, CMD_MSG, longname, "x");
	snprintf(line, sizeof(line), "/msg %sa x", longname);
	expect_cmd(line, CMD_ERROR, NULL, NULL);
	longname[31] = '\0';
	snprintf(line, sizeof(line), "/join #%s", longname);
	expect_cmd(line, CMD_JOIN, NULL, NULL);
	snprintf(line, sizeof(line), "/join #%sa", longname);
	expect_cmd(line, CMD_ERROR, NULL, NULL);

	/* The help names every command. */
	{
		const char *want[] = { "/msg", "/to", "/join", "/leave",
		    "/who", "/rooms", "/members", "/history", "/trust", "/fp",
		    "/exit", NULL };
		size_t i, j;

		for (i = 0; want[i] != NULL; i++) {
			for (j = 0; cmd_help[j] != NULL; j++)
				if (strstr(cmd_help[j], want[i]) != NULL)
					break;
			if (cmd_help[j] == NULL)
				fail_msg("help lacks %s", want[i]);
		}
	}
}

/* ---- store.c: paths, directories ---- */

static void
test_paths(void **state)
{
	struct client_paths p;
	uint8_t fp[ENV_FP_LEN];
	char big[PATH_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(fp); i++)
		fp[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(store_paths("/s", "alice", fp, &p), 0);
	assert_string_equal(p.dir, "/s/alice");
	assert_string_equal(p.pins, "/s/alice/known_peers");
	assert_string_equal(p.history, "/s/alice/history");
	assert_string_equal(p.replay, "/s/alice/replay-a0a1a2a3a4a5a6a7");
	assert_string_equal(p.lock, "/s/alice/lock");
	assert_int_equal(store_paths("/s", "../etc", fp, &p), -1);
	assert_int_equal(store_paths("/s", "Alice", fp, &p), -1);
	memset(big, 'x', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(store_paths(big, "alice", fp, &p), -1);

	assert_int_equal(store_mkdir(tpath("a/b/c")), 0);
	assert_int_equal(file_mode(tpath("a/b/c")), 0700);
	assert_int_equal(file_mode(tpath("a")), 0700);
	assert_int_equal(store_mkdir(tpath("a/b/c")), 0);	/* exists */
}

/* ---- known_peers ---- */

static void
fill_fp(uint8_t fp[ENV_FP_LEN], uint8_t v)
{
	memset(fp, v, ENV_FP_LEN);
}

static int
load_text(const char *text, struct pinstore *ps, char *reason, size_t rlen)
{
	const char *path = tpath("pins.test");

	unlink(path);
	if (tu_write(path, text, strlen(text)) == -1)
		fail_msg("write %s", path);
	pins_init(ps);
	return pins_load(ps, path, reason, rlen);
}

static void
test_pins(void **state)
{
	struct pinstore ps, again;
	const struct pin *list[4];
	uint8_t a[ENV_FP_LEN], b[ENV_FP_LEN], c[ENV_FP_LEN];
	char reason[256], *text, hexa[2 * ENV_FP_LEN + 1];
	const char *path = tpath("known_peers");
	char good[256];

	(void)state;
	fill_fp(a, 0xaa);
	fill_fp(b, 0xbb);
	fill_fp(c, 0xcc);
	pins_init(&ps);
	assert_int_equal(pins_check(&ps, "bob", a), PIN_FIRST);
	assert_int_equal(pins_add(&ps, "bob", a), 0);
	assert_int_equal(pins_check(&ps, "bob", a), PIN_KNOWN);
	assert_int_equal(pins_check(&ps, "bob", b), PIN_CHANGED);
	assert_int_equal(pins_check(&ps, "carol", a), PIN_FIRST);
	assert_int_equal(pins_add(&ps, "bob", a), 0);	/* no duplicate */
	assert_int_equal(ps.n, 1);
	assert_int_equal(pins_add(&ps, "bob", b), 0);	/* a second device */
	assert_int_equal(pins_check(&ps, "bob", b), PIN_KNOWN);
	assert_int_equal(pins_add(&ps, "Bob", c), -1);
	assert_int_equal(pins_add(&ps, "", c), -1);
	assert_int_equal(pins_of(&ps, "bob", list, 4), 2);
	assert_memory_equal(list[0]->fp, a, ENV_FP_LEN);
	assert_memory_equal(list[1]->fp, b, ENV_FP_LEN);
	assert_int_equal(pins_of(&ps, "carol", list, 4), 0);
	assert_int_equal(pins_of(&ps, "bob", list, 1), 2);

	/* Saved: exact bytes, 0600, read back the same. */
	assert_int_equal(pins_save(&ps, path), 0);
	assert_int_equal(file_mode(path), 0600);
	text = tu_read(path, NULL);
	assert_non_null(text);
	hex_encode(a, ENV_FP_LEN, hexa);
	snprintf(good, sizeof(good), "bob %s\n", hexa);
	assert_memory_equal(text, good, strlen(good));
	assert_int_equal(strlen(text), 2 * strlen(good));
	free(text);
	pins_init(&again);
	assert_int_equal(pins_load(&again, path, reason, sizeof(reason)), 0);
	assert_int_equal(again.n, 2);
	assert_int_equal(pins_check(&again, "bob", b), PIN_KNOWN);
	pins_free(&again);
	/* A missing file is an empty store. */
	pins_init(&again);
	assert_int_equal(pins_load(&again, tpath("nope"), reason,
	    sizeof(reason)), 0);
	assert_int_equal(again.n, 0);
	pins_free(&again);

	/* Strict: every malformed file is refused whole. */
	{
		char bad[8][200];
		size_t i;

		snprintf(bad[0], sizeof(bad[0]), "bob %s", hexa);  /* no \n */
		snprintf(bad[1], sizeof(bad[1]), "bob  %s\n", hexa);
		snprintf(bad[2], sizeof(bad[2]), "Bob %s\n", hexa);
		snprintf(bad[3], sizeof(bad[3]), "bob %.63s\n", hexa);
		snprintf(bad[4], sizeof(bad[4]), "bob %s\nbob %s\n", hexa,
		    hexa);
		snprintf(bad[5], sizeof(bad[5]), "bob %s x\n", hexa);
		snprintf(bad[6], sizeof(bad[6]), "bob %s\n\n", hexa);
		snprintf(bad[7], sizeof(bad[7]), "bob AA%s\n", hexa + 2);
		for (i = 0; i < 8; i++) {
			if (load_text(bad[i], &again, reason,
			    sizeof(reason)) != -1)
				fail_msg("malformed pins %zu accepted", i);
			assert_int_equal(again.n, 0);
			pins_free(&again);
		}
		assert_int_equal(load_text(good, &again, reason,
		    sizeof(reason)), 0);
		pins_free(&again);
	}
	{
		/* A NUL byte. */
		char nul[200];
		size_t n;

		n = (size_t)snprintf(nul, sizeof(nul), "bob %s\n", hexa);
		nul[3] = '\0';
		unlink(tpath("pins.nul"));
		assert_int_equal(tu_write(tpath("pins.nul"), nul, n), 0);
		pins_init(&again);
		assert_int_equal(pins_load(&again, tpath("pins.nul"), reason,
		    sizeof(reason)), -1);
		assert_non_null(strstr(reason, "NUL"));
		pins_free(&again);
	}

	/*
	 * Persist merges: another client of the user pinned carol in the
	 * file meanwhile; ours keeps bob; both end up in both.
	 */
	pins_init(&again);
	assert_int_equal(pins_add(&again, "carol", c), 0);
	assert_int_equal(pins_save(&again, path), 0);
	pins_free(&again);
	assert_int_equal(pins_persist(&ps, path, tpath("lock"), reason,
	    sizeof(reason)), 0);
	assert_int_equal(pins_check(&ps, "carol", c), PIN_KNOWN);
	pins_init(&again);
	assert_int_equal(pins_load(&again, path, reason, sizeof(reason)), 0);
	assert_int_equal(again.n, 3);
	assert_int_equal(pins_check(&again, "bob", a), PIN_KNOWN);
	assert_int_equal(pins_check(&again, "carol", c), PIN_KNOWN);
	pins_free(&again);
	/* A damaged file is not overwritten. */
	assert_int_equal(tu_write(tpath("known_peers.bad"), "junk\n", 5), 0);
	assert_int_equal(pins_persist(&ps, tpath("known_peers.bad"),
	    tpath("lock"), reason, sizeof(reason)), -1);
	text = tu_read(tpath("known_peers.bad"), NULL);
	assert_string_equal(text, "junk\n");
	free(text);
	pins_free(&ps);

	/* The display form. */
	{
		char s[STORE_FP_STR_LEN];

		store_fp_str(a, s);
		assert_int_equal(strlen(s), 7 + 64);
		assert_memory_equal(s, "SHA256:aaaa", 11);
	}
}

/* ---- History ---- */

static void
test_escape(void **state)
{
	struct wbuf b;
	uint8_t all[256], back[1024];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	wbuf_init(&b, 4096);
	assert_int_equal(hist_escape(&b, all, sizeof(all)), 0);
	/* No separator, newline or control byte survives. */
	for (i = 0; i < b.len; i++) {
		assert_true(b.data[i] != '|' && b.data[i] != '\n' &&
		    b.data[i] >= 0x20 && b.data[i] != 0x7f);
	}
	assert_int_equal(hist_unescape((const char *)b.data, b.len, back,
	    sizeof(back), &n), 0);
	assert_int_equal(n, sizeof(all));
	assert_memory_equal(back, all, sizeof(all));
	wbuf_reset(&b);
	assert_int_equal(hist_escape(&b, (const uint8_t *)"a|b\\c\td", 7), 0);
	assert_int_equal(b.len, strlen("a\\x7cb\\x5cc\\x09d"));
	assert_memory_equal(b.data, "a\\x7cb\\x5cc\\x09d", b.len);
	wbuf_free(&b);

	/* The inverse is strict and canonical. */
	{
		const char *bad[] = { "a|b", "a\\", "a\\x", "a\\x7", "a\\y7c",
		    "a\\x7C", "a\\x41", "a\tb", "a\x7f", "\\xzz", NULL };

		for (i = 0; bad[i] != NULL; i++)
			if (hist_unescape(bad[i], strlen(bad[i]), back,
			    sizeof(back), &n) != -1)
				fail_msg("unescape accepted \"%s\"", bad[i]);
	}
	/* And bounded. */
	assert_int_equal(hist_unescape("abcd", 4, back, 3, &n), -1);
	assert_int_equal(hist_unescape("abc", 3, back, 3, &n), 0);
}

static void
entry_init(struct hist_entry *e, enum hist_dir dir, const char *conv,
    const char *sender, const char *text, const uint8_t *env, size_t envlen)
{
	memset(e, 0, sizeof(*e));
	e->time_ms = 1700000000000ULL;
	e->dir = dir;
	strlcpy(e->conv, conv, sizeof(e->conv));
	strlcpy(e->sender, sender, sizeof(e->sender));
	e->msg_id = 7;
	e->text = (uint8_t *)(uintptr_t)text;
	e->textlen = strlen(text);
	e->env = (uint8_t *)(uintptr_t)env;
	e->envlen = envlen;
}

static int
parse_str(const char *line, struct hist_entry *e)
{
	char reason[256];

	return hist_parse(line, strlen(line), e, 1, reason, sizeof(reason));
}

static void
test_history_format(void **state)
{
	struct hist_entry e, p;
	struct wbuf b;
	const uint8_t env[] = { 'S', 'E', 0x01 };
	const char *golden = "1700000000000|out|bob|alice|7|hi\\x7cthere\\x5c|"
	    "-|U0UB\n";
	char line[512];
	size_t i;

	(void)state;
	/* Byte for byte, as documented in sc-client.1. */
	entry_init(&e, HIST_OUT, "bob", "alice", "hi|there\\", env,
	    sizeof(env));
	wbuf_init(&b, HIST_LINE_MAX + 1);
	assert_int_equal(hist_format(&b, &e), 0);
	assert_int_equal(b.len, strlen(golden));
	assert_memory_equal(b.data, golden, b.len);

	/* And back. */
	assert_int_equal(hist_parse((const char *)b.data, b.len - 1, &p, 1,
	    NULL, 0), 0);
	assert_true(p.time_ms == 1700000000000ULL);
	assert_int_equal(p.dir, HIST_OUT);
	assert_string_equal(p.conv, "bob");
	assert_string_equal(p.sender, "alice");
	assert_true(p.msg_id == 7);
	assert_string_equal((char *)p.text, "hi|there\\");
	assert_int_equal(p.have_key, 0);
	assert_int_equal(p.envlen, 3);
	assert_memory_equal(p.env, env, 3);
	hist_entry_clear(&p);
	/* Without decoding the envelope. */
	assert_int_equal(hist_parse((const char *)b.data, b.len - 1, &p, 0,
	    NULL, 0), 0);
	assert_null(p.env);
	hist_entry_clear(&p);

	/* With a content key, in a room, UTF-8 and a tab. */
	wbuf_reset(&b);
	entry_init(&e, HIST_IN, "#general", "bob", "caf\xc3\xa9\tat 5?", env,
	    sizeof(env));
	e.have_key = 1;
	for (i = 0; i < ENV_KEY_LEN; i++)
		e.key[i] = (uint8_t)(0x80 + i);
	assert_int_equal(hist_format(&b, &e), 0);
	assert_non_null(memmem(b.data, b.len, "|808182838485", 13));
	assert_int_equal(hist_parse((const char *)b.data, b.len - 1, &p, 1,
	    NULL, 0), 0);
	assert_int_equal(p.have_key, 1);
	assert_memory_equal(p.key, e.key, ENV_KEY_LEN);
	assert_string_equal((char *)p.text, "caf\xc3\xa9\tat 5?");
	assert_string_equal(p.conv, "#general");
	hist_entry_clear(&p);

	/* A rejected envelope whose names are unknown. */
	wbuf_reset(&b);
	entry_init(&e, HIST_REJ, "-", "-", "PROTOCOL: truncated", env,
	    sizeof(env));
	assert_int_equal(hist_format(&b, &e), 0);
	assert_int_equal(hist_parse((const char *)b.data, b.len - 1, &p, 1,
	    NULL, 0), 0);
	assert_int_equal(p.dir, HIST_REJ);
	hist_entry_clear(&p);
	/* ... which only a rejected line may have. */
	wbuf_reset(&b);
	entry_init(&e, HIST_IN, "-", "bob", "x", env, sizeof(env));
	assert_int_equal(hist_format(&b, &e), -1);
	entry_init(&e, HIST_OUT, "bob", "alice", "", env, sizeof(env));
	assert_int_equal(hist_format(&b, &e), -1);	/* empty text */
	entry_init(&e, HIST_OUT, "bob", "alice", "x", env, 0);
	assert_int_equal(hist_format(&b, &e), -1);	/* no envelope */
	entry_init(&e, HIST_OUT, "Bob", "alice", "x", env, sizeof(env));
	assert_int_equal(hist_format(&b, &e), -1);
	wbuf_free(&b);

	/* Malformed lines. */
	{
		const char *bad[] = {
		    "1700000000000|out|bob|alice|7|hi|-",	/* 7 fields */
		    "1700000000000|out|bob|alice|7|hi|-|U0UB|x",
		    "01700000000000|out|bob|alice|7|hi|-|U0UB",
		    "|out|bob|alice|7|hi|-|U0UB",
		    "17x|out|bob|alice|7|hi|-|U0UB",
		    "99999999999999999999|out|bob|alice|7|hi|-|U0UB",
		    "1700000000000|sent|bob|alice|7|hi|-|U0UB",
		    "1700000000000|out|Bob|alice|7|hi|-|U0UB",
		    "1700000000000|out|bob|-|7|hi|-|U0UB",
		    "1700000000000|in|-|bob|7|hi|-|U0UB",
		    "1700000000000|out|#|alice|7|hi|-|U0UB",
		    "1700000000000|out|bob|alice|-7|hi|-|U0UB",
		    "1700000000000|out|bob|alice|7||-|U0UB",
		    "1700000000000|out|bob|alice|7|h\\x69|-|U0UB",
		    "1700000000000|out|bob|alice|7|\xff\xfe|-|U0UB",
		    "1700000000000|out|bob|alice|7|hi|abcd|U0UB",
		    "1700000000000|out|bob|alice|7|hi||U0UB",
		    "1700000000000|out|bob|alice|7|hi|-|",
		    "1700000000000|out|bob|alice|7|hi|-|U0U",
		    "1700000000000|out|bob|alice|7|hi|-|U0U*",
		    NULL };

		for (i = 0; bad[i] != NULL; i++) {
			if (parse_str(bad[i], &p) != -1)
				fail_msg("accepted bad line %zu: %s", i, bad[i]);
			assert_null(p.text);
		}
		snprintf(line, sizeof(line), "%.*s", (int)strlen(golden) - 1,
		    golden);
		assert_int_equal(parse_str(line, &p), 0);
		hist_entry_clear(&p);
	}
}

static void
test_history_file(void **state)
{
	struct hist_entry e, p;
	struct hist_reader rd;
	const uint8_t env[] = { 'S', 'E', 0x01, 0x00, 0xff };
	const char *path = tpath("history"), *line;
	char big[HIST_LINE_MAX + 100];
	size_t len;
	int fd, i;

	(void)state;
	/* An existing file readable by others is tightened. */
	assert_int_equal(tu_write(path, "", 0), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_true((fd = hist_open(path)) >= 0);
	assert_int_equal(file_mode(path), 0600);
	for (i = 0; i < 3; i++) {
		char text[32];

		snprintf(text, sizeof(text), "message %d", i);
		entry_init(&e, i == 1 ? HIST_IN : HIST_OUT, "bob",
		    i == 1 ? "bob" : "alice", text, env, sizeof(env));
		e.msg_id = (uint64_t)i + 1;
		assert_int_equal(hist_append(fd, &e), 0);
	}
	close(fd);
	/* A line longer than any we write, then a good one again. */
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	close(fd);
	assert_true((fd = hist_open(path)) >= 0);
	entry_init(&e, HIST_OUT, "#room", "alice", "after", env, sizeof(env));
	assert_int_equal(hist_append(fd, &e), 0);
	close(fd);

	assert_int_equal(hist_reader_open(&rd, path), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(hist_reader_next(&rd, &line, &len), 1);
		assert_int_equal(hist_parse(line, len, &p, 1, NULL, 0), 0);
		assert_true(p.msg_id == (uint64_t)i + 1);
		assert_int_equal(p.envlen, sizeof(env));
		assert_memory_equal(p.env, env, sizeof(env));
		hist_entry_clear(&p);
	}
	assert_int_equal(hist_reader_next(&rd, &line, &len), 1);
	assert_true(len == (size_t)-1);
	assert_int_equal(hist_reader_next(&rd, &line, &len), 1);
	assert_int_equal(hist_parse(line, len, &p, 0, NULL, 0), 0);
	assert_string_equal(p.conv, "#room");
	assert_string_equal((char *)p.text, "after");
	hist_entry_clear(&p);
	assert_int_equal(rd.lineno, 5);
	assert_int_equal(hist_reader_next(&rd, &line, &len), 0);
	hist_reader_close(&rd);
	assert_int_equal(hist_reader_open(&rd, tpath("missing")), -1);

	/* The largest line we can write is read back whole. */
	{
		uint8_t *maxenv = malloc(SC_MAX_ENVELOPE);
		char *text = malloc(HIST_TEXT_MAX + 1);
		struct wbuf b;

		assert_non_null(maxenv);
		assert_non_null(text);
		memset(maxenv, 0xfe, SC_MAX_ENVELOPE);
		memset(text, '|', HIST_TEXT_MAX);	/* 4 bytes escaped */
		text[HIST_TEXT_MAX] = '\0';
		entry_init(&e, HIST_IN, "#abcdefghijklmnopqrstuvwxyz01234",
		    "abcdefghijklmnopqrstuvwxyz012345", text, maxenv,
		    SC_MAX_ENVELOPE);
		e.msg_id = UINT64_MAX;
		e.time_ms = UINT64_MAX;
		e.have_key = 1;
		wbuf_init(&b, HIST_LINE_MAX + 1);
		assert_int_equal(hist_format(&b, &e), 0);
		assert_true(b.len <= HIST_LINE_MAX + 1);
		assert_int_equal(hist_parse((const char *)b.data, b.len - 1,
		    &p, 1, NULL, 0), 0);
		assert_int_equal(p.textlen, HIST_TEXT_MAX);
		assert_int_equal(p.envlen, SC_MAX_ENVELOPE);
		assert_true(p.msg_id == UINT64_MAX);
		hist_entry_clear(&p);
		wbuf_free(&b);
		free(maxenv);
		free(text);
	}
}

/*
 * Mutations of good inputs: the parsers never read out of bounds (run
 * under ASan) and what they accept formats back to the same bytes.
 */
static void
test_mutations(void **state)
{
	const char *good = "1700000000000|in|#room|bob|42|caf\xc3\xa9 \\x7c "
	    "x|000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	    "|U0UBAAEC";
	struct client_cmd c;
	struct hist_entry e;
	struct wbuf b;
	char line[512];
	unsigned int seed = 12345, i, k, accepted = 0;
	size_t len, n;

	(void)state;
	len = strlen(good);
	assert_int_equal(parse_str(good, &e), 0);
	hist_entry_clear(&e);
	wbuf_init(&b, HIST_LINE_MAX + 1);
	for (i = 0; i < 20000; i++) {
		memcpy(line, good, len + 1);
		n = len;
		for (k = 0; k < 1 + (unsigned int)rand_r(&seed) % 3; k++) {
			size_t at;

			if (n == 0)
				break;
			at = (size_t)rand_r(&seed) % n;

			switch (rand_r(&seed) % 3) {
			case 0:		/* a byte changed */
				line[at] = (char)(rand_r(&seed) % 256);
				break;
			case 1:		/* cut short */
				n = at;
				break;
			case 2:		/* a separator */
				line[at] = '|';
				break;
			}
		}
		if (hist_parse(line, n, &e, 1, NULL, 0) == 0) {
			/* Canonical: what parses formats back identically. */
			wbuf_reset(&b);
			assert_int_equal(hist_format(&b, &e), 0);
			assert_int_equal(b.len, n + 1);
			assert_memory_equal(b.data, line, n);
			hist_entry_clear(&e);
			accepted++;
		}
		line[n] = '\0';
		(void)cmd_parse(line, &c);
	}
	/* Some mutations stay valid (a digit, a letter): both paths ran. */
	assert_true(accepted > 100 && accepted < 19000);
	wbuf_free(&b);
}

/* ---- Replay state ---- */

static void
test_replay_persist(void **state)
{
	struct env_replay r, other, back;
	const char *path = tpath("replay-0011223344556677");
	char reason[256], *text;

	(void)state;
	envelope_replay_init(&r);
	assert_int_equal(envelope_replay_update(&r, "alice", "bob", 100), 0);
	assert_int_equal(envelope_replay_update(&r, "bob", "alice", 50), 0);
	/* No file yet: persist creates it, 0600. */
	assert_int_equal(replay_persist(&r, path, tpath("lock"), reason,
	    sizeof(reason)), 0);
	assert_int_equal(file_mode(path), 0600);
	text = tu_read(path, NULL);
	assert_string_equal(text, "alice|bob|100\nbob|alice|50\n");
	free(text);

	/*
	 * Another client of this certificate accepted more meanwhile: the
	 * file's higher counters and new entries win, ours stay.
	 */
	envelope_replay_init(&other);
	assert_int_equal(envelope_replay_update(&other, "alice", "bob", 90), 0);
	assert_int_equal(envelope_replay_update(&other, "bob", "alice", 70), 0);
	assert_int_equal(envelope_replay_update(&other, "carol", "#r", 5), 0);
	assert_int_equal(envelope_replay_save(&other, path), 0);
	envelope_replay_free(&other);
	assert_int_equal(replay_persist(&r, path, tpath("lock"), reason,
	    sizeof(reason)), 0);
	assert_true(envelope_replay_last(&r, "alice", "bob") == 100);
	assert_true(envelope_replay_last(&r, "bob", "alice") == 70);
	assert_true(envelope_replay_last(&r, "carol", "#r") == 5);
	envelope_replay_init(&back);
	assert_int_equal(envelope_replay_load(&back, path, reason,
	    sizeof(reason)), 0);
	assert_int_equal(back.n, 3);
	assert_true(envelope_replay_last(&back, "alice", "bob") == 100);
	assert_true(envelope_replay_last(&back, "bob", "alice") == 70);
	/* What was merged is what a replay is now judged against. */
	assert_int_equal(envelope_replay_check(&back, "bob", "alice", 70),
	    ENV_E_REPLAY);
	assert_int_equal(envelope_replay_check(&back, "bob", "alice", 71), 0);
	envelope_replay_free(&back);

	/* A damaged file is refused and left as it is. */
	assert_int_equal(tu_write(tpath("replay-bad"), "alice|bob|01\n", 13),
	    0);
	assert_int_equal(replay_persist(&r, tpath("replay-bad"), tpath("lock"),
	    reason, sizeof(reason)), -1);
	text = tu_read(tpath("replay-bad"), NULL);
	assert_string_equal(text, "alice|bob|01\n");
	free(text);
	/* The merge itself. */
	envelope_replay_init(&other);
	assert_int_equal(replay_merge(&other, &r), 0);
	assert_int_equal(other.n, r.n);
	assert_int_equal(replay_merge(&other, &r), 0);	/* idempotent */
	assert_int_equal(other.n, r.n);
	envelope_replay_free(&other);
	envelope_replay_free(&r);
}

/* ---- verify.c with real keys ---- */

struct ident {
	EVP_PKEY	*key;
	X509		*cert;
};

static X509 *
issue(const char *cn, EVP_PKEY *key, enum pki_purpose purpose, int is_ca,
    X509 *ca, EVP_PKEY *ca_key)
{
	struct pki_cert_spec spec;
	char err[256];
	time_t now = time(NULL);
	X509 *x;

	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.purpose = purpose;
	spec.is_ca = is_ca;
	spec.not_before = now - 300;
	spec.not_after = now + 86400;
	if ((x = pki_make_cert(&spec, key, ca, ca_key, err,
	    sizeof(err))) == NULL)
		fail_msg("pki_make_cert %s: %s", cn, err);
	return x;
}

static void
ident_make(struct ident *id, const char *cn, X509 *ca, EVP_PKEY *ca_key)
{
	char err[256];

	if ((id->key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL)
		fail_msg("keygen: %s", err);
	id->cert = issue(cn, id->key, PKI_PURPOSE_CLIENT, 0, ca, ca_key);
}

/* Append a history line for env with the given fields. */
static void
append_line(const char *path, enum hist_dir dir, const char *conv,
    const char *sender, const char *text, const uint8_t *key,
    const uint8_t *env, size_t envlen)
{
	struct hist_entry e;
	int fd;

	entry_init(&e, dir, conv, sender, text, env, envlen);
	if (key != NULL) {
		e.have_key = 1;
		memcpy(e.key, key, ENV_KEY_LEN);
	}
	assert_true((fd = hist_open(path)) >= 0);
	assert_int_equal(hist_append(fd, &e), 0);
	close(fd);
}

static int
run_verify(const char *hist, const char *ca)
{
	fflush(stdout);
	return verify_main(hist, ca, NULL, 0);
}

static void
test_verify(void **state)
{
	struct ident ca, alice, bob, mallory, otherca;
	struct env_identity me_alice, me_bob;
	struct env_rcpt_in rc;
	struct env_opened *o;
	struct pki_trust *trust;
	struct wbuf env, forged;
	char err[256], reason[256];
	const char *capath = tpath("ca.pem"), *hist = tpath("verify.history");
	const char *other = tpath("other.pem");
	const char *body = "the contract is signed";
	uint64_t ts;

	(void)state;
	if ((ca.key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL ||
	    (otherca.key = pki_rsa_keygen(2048, err, sizeof(err))) == NULL)
		fail_msg("keygen: %s", err);
	ca.cert = issue("Test CA", ca.key, PKI_PURPOSE_ANY, 1, NULL, NULL);
	otherca.cert = issue("Other CA", otherca.key, PKI_PURPOSE_ANY, 1, NULL,
	    NULL);
	ident_make(&alice, "alice", ca.cert, ca.key);
	ident_make(&bob, "bob", ca.cert, ca.key);
	ident_make(&mallory, "alice", otherca.cert, otherca.key);
	assert_int_equal(pki_write_cert(capath, ca.cert, 0, err, sizeof(err)),
	    0);
	assert_non_null(trust = pki_trust_load(capath, NULL, err,
	    sizeof(err)));

	/* alice seals to bob; bob opens it and keeps the content key. */
	me_alice.name = "alice";
	me_alice.cert = alice.cert;
	me_alice.key = alice.key;
	me_bob.name = "bob";
	me_bob.cert = bob.cert;
	me_bob.key = bob.key;
	rc.name = "bob";
	rc.cert = bob.cert;
	ts = now_ms();
	wbuf_init(&env, ENV_MAX_LEN);
	assert_int_equal(envelope_seal(&env, &me_alice, &rc, 1, "", ts, ts,
	    (const uint8_t *)body, strlen(body), trust, 0, reason,
	    sizeof(reason)), 0);
	assert_non_null(o = malloc(sizeof(*o)));
	assert_int_equal(envelope_open(env.data, env.len, &me_bob, trust, 0,
	    NULL, o, reason, sizeof(reason)), 0);

	/* bob's history: received with the key; alice's: sent without. */
	append_line(hist, HIST_IN, "alice", "alice", body, o->key, env.data,
	    env.len);
	append_line(hist, HIST_OUT, "bob", "alice", body, NULL, env.data,
	    env.len);
	append_line(hist, HIST_REJ, "-", "-", "PROTOCOL: garbage",
	    NULL, (const uint8_t *)"junk", 4);
	assert_int_equal(run_verify(hist, capath), 0);

	/* The text of a received line altered: the key proves otherwise. */
	unlink(hist);
	append_line(hist, HIST_IN, "alice", "alice", "the contract is void",
	    o->key, env.data, env.len);
	assert_int_equal(run_verify(hist, capath), 1);

	/* The envelope altered (one ciphertext bit): the signature fails. */
	unlink(hist);
	env.data[env.len - 300] ^= 0x01;
	append_line(hist, HIST_OUT, "bob", "alice", body, NULL, env.data,
	    env.len);
	assert_int_equal(run_verify(hist, capath), 1);
	env.data[env.len - 300] ^= 0x01;

	/* The line names another sender or conversation than signed. */
	unlink(hist);
	append_line(hist, HIST_IN, "carol", "carol", body, o->key, env.data,
	    env.len);
	assert_int_equal(run_verify(hist, capath), 1);
	unlink(hist);
	append_line(hist, HIST_OUT, "carol", "alice", body, NULL, env.data,
	    env.len);
	assert_int_equal(run_verify(hist, capath), 1);

	/* An envelope "from alice" signed under another CA. */
	unlink(hist);
	me_alice.cert = mallory.cert;
	me_alice.key = mallory.key;
	wbuf_init(&forged, ENV_MAX_LEN);
	{
		/* Sealing checks my own cert against trust: use a trust of
		 * the other CA to make the forgery. */
		struct pki_trust *ot;

		assert_int_equal(pki_write_cert(other, otherca.cert, 0, err,
		    sizeof(err)), 0);
		assert_non_null(ot = pki_trust_load(other, NULL, err,
		    sizeof(err)));
		rc.cert = bob.cert;
		/* bob's cert is not of the other CA: seal refuses; so the
		 * forgery goes to a fake "bob" of the other CA. */
		assert_int_equal(envelope_seal(&forged, &me_alice, &rc, 1, "",
		    ts, ts + 1, (const uint8_t *)body, strlen(body), ot, 0,
		    reason, sizeof(reason)), ENV_E_BAD_CERT);
		rc.cert = mallory.cert;
		rc.name = "alice";
		assert_int_equal(envelope_seal(&forged, &me_alice, &rc, 1, "",
		    ts, ts + 1, (const uint8_t *)body, strlen(body), ot, 0,
		    reason, sizeof(reason)), 0);
		pki_trust_free(ot);
	}
	append_line(hist, HIST_OUT, "alice", "alice", body, NULL, forged.data,
	    forged.len);
	assert_int_equal(run_verify(hist, capath), 1);
	/* Valid against its own CA: the check is the CA's. */
	assert_int_equal(verify_main(hist, other, NULL, 0), 0);

	/* A missing file or CA is an error, not a pass. */
	assert_int_equal(verify_main(tpath("nope"), capath, NULL, 0), 1);
	assert_int_equal(verify_main(hist, tpath("nope.pem"), NULL, 0), 1);
	/* An empty history has nothing wrong in it. */
	assert_int_equal(tu_write(tpath("empty"), "", 0), 0);
	assert_int_equal(verify_main(tpath("empty"), capath, NULL, 0), 0);
	/* An unreadable line fails the whole. */
	assert_int_equal(tu_write(tpath("garbled"), "1|in|bob\n", 9), 0);
	assert_int_equal(verify_main(tpath("garbled"), capath, NULL, 0), 1);

	envelope_opened_clear(o);
	free(o);
	wbuf_free(&env);
	wbuf_free(&forged);
	pki_trust_free(trust);
	EVP_PKEY_free(ca.key);
	EVP_PKEY_free(otherca.key);
	EVP_PKEY_free(alice.key);
	EVP_PKEY_free(bob.key);
	EVP_PKEY_free(mallory.key);
	X509_free(ca.cert);
	X509_free(otherca.cert);
	X509_free(alice.cert);
	X509_free(bob.cert);
	X509_free(mallory.cert);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_parse),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_history_format),
		cmocka_unit_test(test_history_file),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_replay_persist),
		cmocka_unit_test(test_verify),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
