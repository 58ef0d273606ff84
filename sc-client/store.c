/*
 * store.c: sc-client's local files, in one directory per user inside the
 * state directory (sc-client.1, FILES):
 *
 *	known_peers	the pinned certificate fingerprints of peers
 *	history		one line per message sent or received, with its
 *			envelope, so that it can be re-verified offline
 *	replay-FP16	the replay state of envelope.h, per certificate of
 *			mine (envelopes are addressed to certificates)
 *	lock		taken while a file is read, merged and replaced
 *
 * Every parser here is strict (a malformed file is refused whole, a
 * malformed history line is reported, never half-used) and bounded, as
 * the formats of envelope.c and transcript.c are.  Pure file code: no
 * session, no terminal; tests/unit/test_client_store.c includes it.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sc-client.h"
#include "sccrypto.h"
#include "util.h"

static void
store_reason(char *reason, size_t reasonlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
store_reason(char *reason, size_t reasonlen, const char *fmt, ...)
{
	va_list ap;

	if (reason == NULL || reasonlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, reasonlen, fmt, ap);
	va_end(ap);
}

static int
valid_user(const char *s)
{
	return sc_valid_username((const uint8_t *)s, strlen(s));
}

/* ---- The directory ---- */

int
store_paths(const char *state_dir, const char *user,
    const uint8_t fp[ENV_FP_LEN], struct client_paths *p)
{
	char fph[2 * ENV_FP_LEN + 1];

	if (!valid_user(user))
		return -1;
	hex_encode(fp, 8, fph);
	if ((size_t)snprintf(p->dir, sizeof(p->dir), "%s/%s", state_dir,
	    user) >= sizeof(p->dir) ||
	    (size_t)snprintf(p->pins, sizeof(p->pins), "%s/known_peers",
	    p->dir) >= sizeof(p->pins) ||
	    (size_t)snprintf(p->history, sizeof(p->history), "%s/history",
	    p->dir) >= sizeof(p->history) ||
	    (size_t)snprintf(p->replay, sizeof(p->replay), "%s/replay-%s",
	    p->dir, fph) >= sizeof(p->replay) ||
	    (size_t)snprintf(p->lock, sizeof(p->lock), "%s/lock", p->dir) >=
	    sizeof(p->lock))
		return -1;
	return 0;
}

int
store_mkdir(const char *path)
{
	char tmp[PATH_MAX], *p;

	if (strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

int
store_lock(const char *lockpath)
{
	int fd;

	if ((fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return -1;
	while (flock(fd, LOCK_EX) == -1) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

void
store_unlock(int fd)
{
	if (fd != -1)
		close(fd);	/* releases the flock */
}

void
store_fp_str(const uint8_t fp[ENV_FP_LEN], char out[STORE_FP_STR_LEN])
{
	memcpy(out, "SHA256:", 7);
	hex_encode(fp, ENV_FP_LEN, out + 7);
}

/* Exactly 2n lower-case hex digits (what hex_encode writes). */
static int
lower_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
	char tmp[2 * ENV_KEY_LEN + 1];
	size_t i;

	if (len != 2 * n || len >= sizeof(tmp))
		return -1;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return hex_decode(tmp, out, n);
}

/* ---- known_peers ---- */

void
pins_init(struct pinstore *ps)
{
	memset(ps, 0, sizeof(*ps));
}

void
pins_free(struct pinstore *ps)
{
	free(ps->v);
	memset(ps, 0, sizeof(*ps));
}

static struct pin *
pins_find(const struct pinstore *ps, const char *user,
    const uint8_t fp[ENV_FP_LEN])
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i].user, user) == 0 &&
		    memcmp(ps->v[i].fp, fp, ENV_FP_LEN) == 0)
			return &ps->v[i];
	return NULL;
}

int
pins_add(struct pinstore *ps, const char *user, const uint8_t fp[ENV_FP_LEN])
{
	struct pin *v;
	size_t ncap;

	if (!valid_user(user))
		return -1;
	if (pins_find(ps, user, fp) != NULL)
		return 0;
	if (ps->n == PINS_MAX)
		return -1;
	if (ps->n == ps->cap) {
		ncap = ps->cap ? ps->cap * 2 : 16;
		if (ncap > PINS_MAX)
			ncap = PINS_MAX;
		if ((v = recallocarray(ps->v, ps->cap, ncap,
		    sizeof(*v))) == NULL)
			return -1;
		ps->v = v;
		ps->cap = ncap;
	}
	strlcpy(ps->v[ps->n].user, user, sizeof(ps->v[ps->n].user));
	memcpy(ps->v[ps->n].fp, fp, ENV_FP_LEN);
	ps->n++;
	return 0;
}

enum pin_state
pins_check(const struct pinstore *ps, const char *user,
    const uint8_t fp[ENV_FP_LEN])
{
	size_t i;
	int any = 0;

	for (i = 0; i < ps->n; i++) {
		if (strcmp(ps->v[i].user, user) != 0)
			continue;
		if (memcmp(ps->v[i].fp, fp, ENV_FP_LEN) == 0)
			return PIN_KNOWN;
		any = 1;
	}
	return any ? PIN_CHANGED : PIN_FIRST;
}

size_t
pins_of(const struct pinstore *ps, const char *user, const struct pin **out,
    size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < ps->n; i++) {
		if (strcmp(ps->v[i].user, user) != 0)
			continue;
		if (n < max)
			out[n] = &ps->v[i];
		n++;
	}
	return n;
}

int
pins_load(struct pinstore *ps, const char *path, char *reason,
    size_t reasonlen)
{
	char *data, *line, *nl, *sp, user[ENV_MAX_NAME + 1];
	uint8_t fp[ENV_FP_LEN];
	size_t len, lineno = 0, n;
	int rc = -1;

	if (ps->n != 0) {
		store_reason(reason, reasonlen, "pin table not empty");
		return -1;
	}
	if ((data = (char *)read_file_bounded(path,
	    (size_t)PINS_MAX * PINS_LINE_MAX, &len)) == NULL) {
		if (errno == ENOENT)
			return 0;
		store_reason(reason, reasonlen, "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (memchr(data, '\0', len) != NULL) {
		store_reason(reason, reasonlen, "%s: NUL byte", path);
		goto out;
	}
	for (line = data; line < data + len; line = nl + 1) {
		lineno++;
		if ((nl = memchr(line, '\n', (size_t)(data + len - line))) ==
		    NULL) {
			store_reason(reason, reasonlen, "%s:%zu: no newline at "
			    "the end", path, lineno);
			goto out;
		}
		*nl = '\0';
		if ((sp = strchr(line, ' ')) == NULL ||
		    (n = (size_t)(sp - line)) > ENV_MAX_NAME) {
			store_reason(reason, reasonlen, "%s:%zu: not \"user "
			    "sha256-hex\"", path, lineno);
			goto out;
		}
		memcpy(user, line, n);
		user[n] = '\0';
		if (!valid_user(user) || lower_hex_decode(sp + 1,
		    strlen(sp + 1), fp, sizeof(fp)) == -1) {
			store_reason(reason, reasonlen, "%s:%zu: bad user name "
			    "or fingerprint", path, lineno);
			goto out;
		}
		if (pins_find(ps, user, fp) != NULL) {
			store_reason(reason, reasonlen, "%s:%zu: duplicate "
			    "line", path, lineno);
			goto out;
		}
		if (pins_add(ps, user, fp) == -1) {
			store_reason(reason, reasonlen, "%s:%zu: too many "
			    "lines (at most %d)", path, lineno, PINS_MAX);
			goto out;
		}
	}
	rc = 0;
 out:
	if (rc != 0)
		pins_free(ps);
	freezero(data, len + 1);
	return rc;
}

int
pins_save(const struct pinstore *ps, const char *path)
{
	struct wbuf b;
	char line[PINS_LINE_MAX + 1], hex[2 * ENV_FP_LEN + 1];
	size_t i;
	int n, rc = -1;

	wbuf_init(&b, (size_t)PINS_MAX * PINS_LINE_MAX);
	for (i = 0; i < ps->n; i++) {
		hex_encode(ps->v[i].fp, ENV_FP_LEN, hex);
		n = snprintf(line, sizeof(line), "%s %s\n", ps->v[i].user, hex);
		if (n < 0 || (size_t)n >= sizeof(line) ||
		    wbuf_put(&b, line, (size_t)n) == -1)
			goto out;
	}
	rc = write_file_new(path, b.data != NULL ? (void *)b.data : (void *)"",
	    b.len, 0600, 1);
 out:
	wbuf_free(&b);
	return rc;
}

int
pins_persist(struct pinstore *ps, const char *path, const char *lockpath,
    char *reason, size_t reasonlen)
{
	struct pinstore disk;
	size_t i;
	int lfd, rc = -1;

	pins_init(&disk);
	if ((lfd = store_lock(lockpath)) == -1) {
		store_reason(reason, reasonlen, "%s: %s", lockpath,
		    strerror(errno));
		return -1;
	}
	/* Another client of this user may have pinned others meanwhile. */
	if (pins_load(&disk, path, reason, reasonlen) == -1)
		goto out;
	for (i = 0; i < disk.n; i++)
		if (pins_add(ps, disk.v[i].user, disk.v[i].fp) == -1) {
			store_reason(reason, reasonlen, "%s: too many pins",
			    path);
			goto out;
		}
	if (pins_save(ps, path) == -1) {
		store_reason(reason, reasonlen, "%s: %s", path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
 out:
	pins_free(&disk);
	store_unlock(lfd);
	return rc;
}

/* ---- Replay state ---- */

int
replay_merge(struct env_replay *dst, const struct env_replay *src)
{
	size_t i;

	for (i = 0; i < src->n; i++) {
		const struct env_replay_entry *e = &src->v[i];

		if (e->last <= envelope_replay_last(dst, e->sender, e->conv))
			continue;
		if (envelope_replay_update(dst, e->sender, e->conv,
		    e->last) == -1)
			return -1;
	}
	return 0;
}

int
replay_persist(struct env_replay *r, const char *path, const char *lockpath,
    char *reason, size_t reasonlen)
{
	struct env_replay disk;
	int lfd, rc = -1;

	envelope_replay_init(&disk);
	if ((lfd = store_lock(lockpath)) == -1) {
		store_reason(reason, reasonlen, "%s: %s", lockpath,
		    strerror(errno));
		return -1;
	}
	/*
	 * Counters only grow: keep the higher of ours and the file's, so
	 * that a second client of this certificate loses nothing.  A file
	 * we cannot read is not replaced (it may be evidence).
	 */
	if (envelope_replay_load(&disk, path, reason, reasonlen) == -1)
		goto out;
	if (replay_merge(r, &disk) == -1) {
		store_reason(reason, reasonlen, "%s: replay table full", path);
		goto out;
	}
	if (envelope_replay_save(r, path) == -1) {
		store_reason(reason, reasonlen, "%s: %s", path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
 out:
	envelope_replay_free(&disk);
	store_unlock(lfd);
	return rc;
}

/* ---- History ---- */

const char *
hist_dir_name(enum hist_dir d)
{
	switch (d) {
	case HIST_IN:
		return "in";
	case HIST_OUT:
		return "out";
	case HIST_REJ:
		return "rej";
	}
	return NULL;
}

static int
must_escape(uint8_t c)
{
	return c == '\\' || c == '|' || c < 0x20 || c == 0x7f;
}

int
hist_escape(struct wbuf *b, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char esc[4] = { '\\', 'x', 0, 0 };
	size_t i, run;

	for (i = 0; i < n; i += run) {
		for (run = 0; i + run < n && !must_escape(p[i + run]); run++)
			;
		if (run > 0) {
			if (wbuf_put(b, p + i, run) == -1)
				return -1;
			continue;
		}
		esc[2] = digits[p[i] >> 4];
		esc[3] = digits[p[i] & 0xf];
		if (wbuf_put(b, esc, sizeof(esc)) == -1)
			return -1;
		run = 1;
	}
	return b->err ? -1 : 0;
}

int
hist_unescape(const char *s, size_t n, uint8_t *out, size_t cap,
    size_t *outlenp)
{
	size_t i, o = 0;
	uint8_t c;

	*outlenp = 0;
	for (i = 0; i < n; i++) {
		c = (uint8_t)s[i];
		if (c == '|' || c < 0x20 || c == 0x7f)
			return -1;
		if (c == '\\') {
			if (i + 4 > n || s[i + 1] != 'x' ||
			    lower_hex_decode(s + i + 2, 2, &c, 1) == -1)
				return -1;
			/* Canonical: only what hist_escape escapes. */
			if (!must_escape(c))
				return -1;
			i += 3;
		}
		if (o == cap)
			return -1;
		out[o++] = c;
	}
	*outlenp = o;
	return 0;
}

/* Decimal u64 without sign or leading zero ("0" itself is allowed). */
static int
parse_u64(const char *s, size_t n, uint64_t *vp)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*vp = v;
	return 0;
}

/* A conversation or sender field: a name, or "-" on a rejected line. */
static int
hist_name_ok(const char *s, int conv, enum hist_dir dir)
{
	if (strcmp(s, "-") == 0)
		return dir == HIST_REJ;
	return conv ? envelope_valid_conv(s) : valid_user(s);
}

int
hist_format(struct wbuf *out, const struct hist_entry *e)
{
	char head[160], hex[2 * ENV_KEY_LEN + 1], *b64 = NULL;
	size_t b64sz;
	int n, rc = -1;

	if (hist_dir_name(e->dir) == NULL ||
	    !hist_name_ok(e->conv, 1, e->dir) ||
	    !hist_name_ok(e->sender, 0, e->dir) ||
	    e->text == NULL || e->textlen == 0 ||
	    e->textlen > HIST_TEXT_MAX ||
	    e->env == NULL || e->envlen == 0 || e->envlen > SC_MAX_ENVELOPE)
		return -1;
	n = snprintf(head, sizeof(head), "%llu|%s|%s|%s|%llu|",
	    (unsigned long long)e->time_ms, hist_dir_name(e->dir), e->conv,
	    e->sender, (unsigned long long)e->msg_id);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	b64sz = (e->envlen + 2) / 3 * 4 + 1;
	if ((b64 = malloc(b64sz)) == NULL)
		return -1;
	if (sc_b64_encode(e->env, e->envlen, b64, b64sz) < 0)
		goto out;
	if (e->have_key)
		hex_encode(e->key, ENV_KEY_LEN, hex);
	else
		strlcpy(hex, "-", sizeof(hex));
	if (wbuf_put(out, head, (size_t)n) == -1 ||
	    hist_escape(out, e->text, e->textlen) == -1 ||
	    wbuf_put_u8(out, '|') == -1 ||
	    wbuf_put(out, hex, strlen(hex)) == -1 ||
	    wbuf_put_u8(out, '|') == -1 ||
	    wbuf_put(out, b64, strlen(b64)) == -1 ||
	    wbuf_put_u8(out, '\n') == -1)
		goto out;
	rc = 0;
 out:
	free(b64);
	return rc;
}

void
hist_entry_clear(struct hist_entry *e)
{
	if (e->text != NULL)
		freezero(e->text, HIST_TEXT_MAX + 1);
	free(e->env);
	explicit_bzero(e, sizeof(*e));
}

#define HIST_NFIELDS	8

int
hist_parse(const char *line, size_t len, struct hist_entry *e, int want_env,
    char *reason, size_t reasonlen)
{
	const char *f[HIST_NFIELDS];
	size_t fl[HIST_NFIELDS], i, k = 0, start = 0;

	memset(e, 0, sizeof(*e));
	if (len > HIST_LINE_MAX || memchr(line, '\0', len) != NULL) {
		store_reason(reason, reasonlen, "line too long or has a NUL");
		return -1;
	}
	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != '|')
			continue;
		if (k == HIST_NFIELDS) {
			store_reason(reason, reasonlen, "more than %d fields",
			    HIST_NFIELDS);
			return -1;
		}
		f[k] = line + start;
		fl[k++] = i - start;
		start = i + 1;
	}
	if (k != HIST_NFIELDS) {
		store_reason(reason, reasonlen, "%zu fields, not %d", k,
		    HIST_NFIELDS);
		return -1;
	}
	if (parse_u64(f[0], fl[0], &e->time_ms) == -1) {
		store_reason(reason, reasonlen, "bad time");
		goto fail;
	}
	for (i = HIST_IN; i <= HIST_REJ; i++)
		if (strlen(hist_dir_name((enum hist_dir)i)) == fl[1] &&
		    memcmp(f[1], hist_dir_name((enum hist_dir)i), fl[1]) == 0)
			e->dir = (enum hist_dir)i;
	if (e->dir == 0) {
		store_reason(reason, reasonlen, "bad direction");
		goto fail;
	}
	if (fl[2] >= sizeof(e->conv) || fl[3] >= sizeof(e->sender)) {
		store_reason(reason, reasonlen, "bad conversation or sender");
		goto fail;
	}
	memcpy(e->conv, f[2], fl[2]);
	e->conv[fl[2]] = '\0';
	memcpy(e->sender, f[3], fl[3]);
	e->sender[fl[3]] = '\0';
	if (!hist_name_ok(e->conv, 1, e->dir) ||
	    !hist_name_ok(e->sender, 0, e->dir)) {
		store_reason(reason, reasonlen, "bad conversation or sender");
		goto fail;
	}
	if (parse_u64(f[4], fl[4], &e->msg_id) == -1) {
		store_reason(reason, reasonlen, "bad message id");
		goto fail;
	}
	if ((e->text = malloc(HIST_TEXT_MAX + 1)) == NULL) {
		store_reason(reason, reasonlen, "out of memory");
		goto fail;
	}
	if (hist_unescape(f[5], fl[5], e->text, HIST_TEXT_MAX,
	    &e->textlen) == -1 || !sc_valid_text(e->text, e->textlen)) {
		store_reason(reason, reasonlen, "bad text");
		goto fail;
	}
	e->text[e->textlen] = '\0';
	if (fl[6] == 1 && f[6][0] == '-')
		e->have_key = 0;
	else if (lower_hex_decode(f[6], fl[6], e->key, ENV_KEY_LEN) == 0)
		e->have_key = 1;
	else {
		store_reason(reason, reasonlen, "bad content key");
		goto fail;
	}
	if (fl[7] == 0 || fl[7] % 4 != 0 ||
	    fl[7] / 4 * 3 > SC_MAX_ENVELOPE + 2) {
		store_reason(reason, reasonlen, "bad envelope");
		goto fail;
	}
	if (want_env) {
		if ((e->env = malloc(fl[7] / 4 * 3)) == NULL ||
		    sc_b64_decode(f[7], fl[7], e->env, fl[7] / 4 * 3,
		    &e->envlen) == -1 || e->envlen == 0 ||
		    e->envlen > SC_MAX_ENVELOPE) {
			store_reason(reason, reasonlen, "bad envelope");
			goto fail;
		}
	}
	return 0;
 fail:
	hist_entry_clear(e);
	return -1;
}

int
hist_open(const char *path)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return -1;
	/* It holds message text: never readable by others. */
	if (fchmod(fd, 0600) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
hist_append(int fd, const struct hist_entry *e)
{
	struct wbuf b;
	size_t off = 0;
	ssize_t w;
	int rc = -1;

	wbuf_init(&b, HIST_LINE_MAX + 1);
	if (hist_format(&b, e) == -1)
		goto out;
	/* O_APPEND and one write: lines of two clients do not interleave. */
	while (off < b.len) {
		if ((w = write(fd, b.data + off, b.len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		off += (size_t)w;
	}
	if (fdatasync(fd) == -1)
		goto out;
	rc = 0;
 out:
	wbuf_free(&b);
	return rc;
}

int
hist_reader_open(struct hist_reader *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	if ((r->f = fopen(path, "re")) == NULL)
		return -1;
	if ((r->buf = malloc(HIST_LINE_MAX + 2)) == NULL) {
		fclose(r->f);
		r->f = NULL;
		return -1;
	}
	return 0;
}

int
hist_reader_next(struct hist_reader *r, const char **linep, size_t *lenp)
{
	size_t len;
	int c;

	if (fgets(r->buf, HIST_LINE_MAX + 2, r->f) == NULL)
		return ferror(r->f) ? -1 : 0;
	r->lineno++;
	len = strlen(r->buf);
	if (len > 0 && r->buf[len - 1] == '\n') {
		r->buf[--len] = '\0';
	} else if (!feof(r->f)) {
		/* Longer than any line we write: skip the rest of it. */
		while ((c = fgetc(r->f)) != EOF && c != '\n')
			;
		*linep = r->buf;
		*lenp = (size_t)-1;
		return 1;
	}
	*linep = r->buf;
	*lenp = len;
	return 1;
}

void
hist_reader_close(struct hist_reader *r)
{
	if (r->f != NULL)
		fclose(r->f);
	if (r->buf != NULL)
		freezero(r->buf, HIST_LINE_MAX + 2);
	memset(r, 0, sizeof(*r));
}
