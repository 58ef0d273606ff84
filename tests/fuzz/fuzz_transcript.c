/*
 * fuzz_transcript.c: the transcript reader: transcript_line_parse() on
 * the input as one line, and transcript_file_digest() (common/
 * transcript.c) on the input as a whole file, as `sc-client verify` and
 * receipt_verify() read a transcript someone hands them.
 *
 * Properties: a line that parses formats back (transcript_line_format)
 * to exactly the same bytes, so a transcript has one spelling and its
 * hash one value; a file that is accepted has every line parsing, the
 * seq rule holding per direction, and the hash and seq range that a
 * separate computation here gives:
 *	SHA-256(SHA-256(c2s lines) || SHA-256(s2c lines)).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "sccrypto.h"
#include "transcript.h"
#include "fuzz.h"

static char tr_fz_dir[512], tr_fz_path[600];

static void
tr_fz_cleanup(void)
{
	if (tr_fz_path[0] != '\0')
		unlink(tr_fz_path);
	if (tr_fz_dir[0] != '\0')
		rmdir(tr_fz_dir);
}

static int
tr_fz_init(void)
{
	const char *tmp = getenv("TMPDIR");

	if (tr_fz_dir[0] != '\0')
		return 0;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(tr_fz_dir, sizeof(tr_fz_dir), "%s/sc-fuzz-tr.XXXXXX", tmp);
	if (mkdtemp(tr_fz_dir) == NULL) {
		tr_fz_dir[0] = '\0';
		return -1;
	}
	snprintf(tr_fz_path, sizeof(tr_fz_path), "%s/transcript", tr_fz_dir);
	return atexit(tr_fz_cleanup) == 0 ? 0 : -1;
}

/* One line: parse, and format back what was parsed. */
static void
tr_fz_line(const uint8_t *p, size_t n)
{
	static struct transcript_line l;
	struct sc_record r;
	struct wbuf b;
	char reason[256];
	int rc;

	reason[0] = '\0';
	rc = transcript_line_parse((const char *)p, n, &l, reason,
	    sizeof(reason));
	FUZZ_CHECK(rc == 0 || (rc == -1 && reason[0] != '\0'));
	if (rc != 0)
		return;
	FUZZ_CHECK(l.seq >= 1 && (l.dir == SC_DIR_C2S ||
	    l.dir == SC_DIR_S2C) && sc_record_dir_ok(l.type, l.dir) &&
	    l.ctlen >= 16 && l.ctlen % 16 == 0 && l.ctlen <= SC_MAX_CT &&
	    l.siglen >= 1 && l.siglen <= SC_MAX_SIG &&
	    l.ct == l.ivct + SC_IV_LEN);
	memset(&r, 0, sizeof(r));
	r.seq = l.seq;
	r.ts = l.ts;
	r.iv = l.iv;
	r.ct = l.ct;
	r.ctlen = l.ctlen;
	r.sig = l.sig;
	r.siglen = l.siglen;
	wbuf_init(&b, TRANSCRIPT_MAX_LINE);
	FUZZ_CHECK(transcript_line_format(&b, l.dir, l.type, &r,
	    l.signer_fp) == 0);
	FUZZ_CHECK(!b.err && b.len == n && memcmp(b.data, p, n) == 0);
	wbuf_free(&b);
}

struct tr_fz_state {
	EVP_MD_CTX	*md[2];
	uint64_t	 last[2];
	size_t		 lines;
};

static int
tr_fz_cb(void *arg, const struct transcript_line *l, size_t lineno,
    char *reason, size_t reasonlen)
{
	struct tr_fz_state *st = arg;

	(void)reason;
	(void)reasonlen;
	FUZZ_CHECK(lineno == st->lines + 1);
	FUZZ_CHECK(l->dir == SC_DIR_C2S || l->dir == SC_DIR_S2C);
	FUZZ_CHECK(st->last[l->dir - 1] == 0 ||
	    l->seq == st->last[l->dir - 1] + 1);
	st->last[l->dir - 1] = l->seq;
	st->lines++;
	return 0;
}

/*
 * The whole input as a transcript file.  The separate hash is taken over
 * the raw lines of the input, by direction, read from their text.
 */
static void
tr_fz_file(const uint8_t *p, size_t n)
{
	struct tr_fz_state st;
	uint8_t out[SC_SHA256_LEN], d[2 * SC_SHA256_LEN], want[SC_SHA256_LEN];
	uint64_t first, last, lo = 0, hi = 0, seq;
	size_t off = 0, len, lines = 0;
	const uint8_t *nl;
	unsigned int dl;
	char reason[512];
	int fd, rc, i, dir;

	if ((fd = open(tr_fz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return;
	if (n > 0 && write(fd, p, n) != (ssize_t)n) {
		close(fd);
		return;
	}
	close(fd);
	memset(&st, 0, sizeof(st));
	rc = transcript_file_digest(tr_fz_path, out, &first, &last, tr_fz_cb,
	    &st, reason, sizeof(reason));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc != 0)
		return;
	for (i = 0; i < 2; i++)
		if ((st.md[i] = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(st.md[i], EVP_sha256(), NULL) != 1)
			goto out;
	while (off < n) {
		nl = memchr(p + off, '\n', n - off);
		/* Accepted: every line, the last one too, ends with '\n'. */
		FUZZ_CHECK(nl != NULL);
		if (nl == NULL)
			goto out;
		len = (size_t)(nl - (p + off)) + 1;
		/* "seq|ts|c2s|..." */
		seq = strtoull((const char *)p + off, NULL, 10);
		dir = memmem(p + off, len, "|c2s|", 5) != NULL ? 0 : 1;
		if (lines == 0 || seq < lo)
			lo = seq;
		if (lines == 0 || seq > hi)
			hi = seq;
		if (EVP_DigestUpdate(st.md[dir], p + off, len) != 1)
			goto out;
		lines++;
		off += len;
	}
	for (i = 0; i < 2; i++)
		if (EVP_DigestFinal_ex(st.md[i], d + i * SC_SHA256_LEN,
		    &dl) != 1)
			goto out;
	FUZZ_CHECK(sc_sha256(d, sizeof(d), want) == 0 &&
	    memcmp(want, out, sizeof(out)) == 0);
	FUZZ_CHECK(lines == st.lines && first == lo && last == hi);
 out:
	for (i = 0; i < 2; i++)
		EVP_MD_CTX_free(st.md[i]);
}

static int
tr_fz_one(const uint8_t *data, size_t size)
{
	if (size > TRANSCRIPT_MAX_LINE * 2)
		return 0;
	if (size <= TRANSCRIPT_MAX_LINE)
		tr_fz_line(data, size);
	tr_fz_file(data, size);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(tr_fz_init, tr_fz_one)
#endif
