/*
 * transcript.c: append-only session transcripts, receipt files and their
 * offline verification (see transcript.h and docs/PROTOCOL.md §5).
 */
#include "transcript.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "buf.h"
#include "pki.h"
#include "sccrypto.h"
#include "util.h"

#define RECEIPT_FORMAT		"securechat-receipt-v1"
#define RECEIPT_MAX_FILE	(16 * 1024)

static int
md_init(struct transcript *t)
{
	int i;

	for (i = 0; i < 2; i++)
		if ((t->md[i] = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(t->md[i], EVP_sha256(), NULL) != 1)
			return -1;
	return 0;
}

int
transcript_fdopen(struct transcript *t, int fd, int sync_each)
{
	int fl;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	/* Refuse a descriptor that could overwrite earlier lines. */
	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	if (!(fl & O_APPEND) || (fl & O_ACCMODE) == O_RDONLY) {
		errno = EINVAL;
		return -1;
	}
	if (md_init(t) == -1) {
		transcript_close(t);
		errno = ENOMEM;
		return -1;
	}
	t->fd = fd;
	t->sync_each = sync_each;
	wbuf_init(&t->line, TRANSCRIPT_MAX_LINE);
	return 0;
}

int
transcript_open(struct transcript *t, const char *path, int sync_each)
{
	int fd, saved;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return -1;
	if (transcript_fdopen(t, fd, sync_each) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return 0;
}

/* Append the base64 of in to w, encoded in place. */
static int
put_b64(struct wbuf *w, const uint8_t *in, size_t n)
{
	size_t need = (n + 2) / 3 * 4 + 1;
	char *p;
	int k;

	if ((p = (char *)wbuf_reserve(w, need)) == NULL ||
	    (k = sc_b64_encode(in, n, p, need)) < 0 || (size_t)k != need - 1)
		return -1;
	w->len--;	/* EVP_EncodeBlock's NUL */
	return 0;
}

/*
 * Append the base64 of iv || ct without copying ct: the base64 of a
 * concatenation is that of its parts when the first part is a multiple
 * of 3 bytes, so the IV goes with the first bytes of ct.
 */
static int
put_b64_ivct(struct wbuf *w, const uint8_t *iv, const uint8_t *ct,
    size_t ctlen)
{
	uint8_t first[SC_IV_LEN + 2];
	size_t k = (3 - SC_IV_LEN % 3) % 3;

	if (ctlen < k)
		k = ctlen;
	memcpy(first, iv, SC_IV_LEN);
	memcpy(first + SC_IV_LEN, ct, k);
	if (put_b64(w, first, SC_IV_LEN + k) == -1)
		return -1;
	return ctlen > k ? put_b64(w, ct + k, ctlen - k) : 0;
}

int
transcript_line_format(struct wbuf *b, uint8_t dir, uint8_t type,
    const struct sc_record *r, const uint8_t fp[SC_SHA256_LEN])
{
	char head[80], hexfp[2 * SC_SHA256_LEN + 1];
	int n;

	if ((dir != SC_DIR_C2S && dir != SC_DIR_S2C) ||
	    !sc_record_dir_ok(type, dir) || r->ctlen > SC_MAX_CT ||
	    r->siglen == 0 || r->siglen > SC_MAX_SIG)
		return -1;
	n = snprintf(head, sizeof(head), "%llu|%llu|%s|%u|",
	    (unsigned long long)r->seq, (unsigned long long)r->ts,
	    dir == SC_DIR_C2S ? "c2s" : "s2c", (unsigned)type);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	wbuf_put(b, head, (size_t)n);
	if (put_b64_ivct(b, r->iv, r->ct, r->ctlen) == -1)
		return -1;
	wbuf_put_u8(b, '|');
	if (put_b64(b, r->sig, r->siglen) == -1)
		return -1;
	wbuf_put_u8(b, '|');
	hex_encode(fp, SC_SHA256_LEN, hexfp);
	wbuf_put(b, hexfp, 2 * SC_SHA256_LEN);
	return wbuf_put_u8(b, '\n') == 0 ? 0 : -1;
}

/* Account for one line in the running state: hash and seq range. */
static int
account_line(EVP_MD_CTX *md[2], uint64_t last[2], uint64_t *first,
    uint64_t *lastany, uint64_t nlines, uint8_t dir, uint64_t seq,
    const void *line, size_t len)
{
	int d = dir - 1;

	if (seq == 0 || (last[d] != 0 && seq != last[d] + 1))
		return -1;
	if (EVP_DigestUpdate(md[d], line, len) != 1)
		return -1;
	last[d] = seq;
	if (nlines == 0 || seq < *first)
		*first = seq;
	if (nlines == 0 || seq > *lastany)
		*lastany = seq;
	return 0;
}

int
transcript_append(struct transcript *t, uint8_t dir, uint8_t type,
    const struct sc_record *r, const uint8_t signer_fp[SC_SHA256_LEN])
{
	struct wbuf *lb = &t->line;
	ssize_t n;
	int d = dir - 1, rc = -1;

	if (t->fd == -1 || t->failed) {
		errno = EBADF;
		return -1;
	}
	if ((dir != SC_DIR_C2S && dir != SC_DIR_S2C) || r->seq == 0 ||
	    (t->last[d] != 0 && r->seq != t->last[d] + 1)) {
		errno = EINVAL;
		return -1;
	}
	/* The buffer is kept between lines (no allocation per line). */
	lb->len = 0;
	lb->err = 0;
	if (transcript_line_format(lb, dir, type, r, signer_fp) == -1 ||
	    lb->err) {
		errno = EINVAL;
		goto out;
	}
	/*
	 * One write per line: O_APPEND makes it land whole at the end.  A
	 * short write means a torn line; stop here for good.
	 */
	do {
		n = write(t->fd, lb->data, lb->len);
	} while (n == -1 && errno == EINTR);
	if (n != (ssize_t)lb->len) {
		if (n >= 0)
			errno = EIO;
		t->failed = 1;
		goto out;
	}
	t->unsynced = 1;
	if (t->sync_each == TRANSCRIPT_SYNC_EACH && transcript_sync(t) == -1)
		goto out;
	if (account_line(t->md, t->last, &t->first_seq, &t->last_seq,
	    t->nlines, dir, r->seq, lb->data, lb->len) == -1) {
		t->failed = 1;
		goto out;
	}
	t->nlines++;
	rc = 0;
 out:
	return rc;
}

int
transcript_sync(struct transcript *t)
{
	if (t->fd == -1 || t->failed) {
		errno = EBADF;
		return -1;
	}
	if (!t->unsynced)
		return 0;
	/* EINVAL: a descriptor that cannot be synced (a pipe in tests). */
	if (fdatasync(t->fd) == -1 && errno != EINVAL) {
		t->failed = 1;
		return -1;
	}
	t->unsynced = 0;
	return 0;
}

/* SHA-256(D_c2s || D_s2c) from copies, so the running digests go on. */
static int
final_digest(EVP_MD_CTX *md[2], uint8_t out[SC_SHA256_LEN])
{
	EVP_MD_CTX *tmp;
	uint8_t both[2 * SC_SHA256_LEN];
	unsigned int n;
	int i, rc = -1;

	if ((tmp = EVP_MD_CTX_new()) == NULL)
		return -1;
	for (i = 0; i < 2; i++) {
		n = 0;
		if (EVP_MD_CTX_copy_ex(tmp, md[i]) != 1 ||
		    EVP_DigestFinal_ex(tmp, both + i * SC_SHA256_LEN, &n) != 1 ||
		    n != SC_SHA256_LEN)
			goto out;
	}
	rc = sc_sha256(both, sizeof(both), out);
 out:
	EVP_MD_CTX_free(tmp);
	return rc;
}

int
transcript_digest(struct transcript *t, uint8_t out[SC_SHA256_LEN],
    uint64_t *firstp, uint64_t *lastp)
{
	if (t->fd == -1 || t->failed || t->md[0] == NULL) {
		errno = EBADF;
		return -1;
	}
	/* The receipt vouches for these lines: they must be on disk. */
	t->unsynced = 1;
	if (transcript_sync(t) == -1)
		return -1;
	if (final_digest(t->md, out) == -1)
		return -1;
	*firstp = t->nlines ? t->first_seq : 0;
	*lastp = t->nlines ? t->last_seq : 0;
	return 0;
}

void
transcript_close(struct transcript *t)
{
	int i;

	if (t->fd != -1) {
		(void)fdatasync(t->fd);
		close(t->fd);
	}
	for (i = 0; i < 2; i++)
		EVP_MD_CTX_free(t->md[i]);
	wbuf_free(&t->line);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
}

/* ---- Parsing lines ---- */

/* Decimal u64 without sign, leading zeros or overflow. */
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

int
transcript_line_parse(const char *line, size_t len, struct transcript_line *l,
    char *reason, size_t reasonlen)
{
	const char *f[7];
	size_t flen[7], i, k = 0, start = 0, n;
	uint64_t v;
	char hex[2 * SC_SHA256_LEN + 1];

	memset(l, 0, sizeof(*l) - sizeof(l->ivct));
	if (len == 0 || line[len - 1] != '\n') {
		snprintf(reason, reasonlen, "line does not end with a newline");
		return -1;
	}
	len--;
	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != '|')
			continue;
		if (k == 7) {
			snprintf(reason, reasonlen, "more than 7 fields");
			return -1;
		}
		f[k] = line + start;
		flen[k++] = i - start;
		start = i + 1;
	}
	if (k != 7) {
		snprintf(reason, reasonlen, "%zu fields instead of 7", k);
		return -1;
	}
	if (parse_u64(f[0], flen[0], &l->seq) == -1 || l->seq == 0) {
		snprintf(reason, reasonlen, "bad seq");
		return -1;
	}
	if (parse_u64(f[1], flen[1], &l->ts) == -1) {
		snprintf(reason, reasonlen, "bad timestamp");
		return -1;
	}
	if (flen[2] == 3 && memcmp(f[2], "c2s", 3) == 0)
		l->dir = SC_DIR_C2S;
	else if (flen[2] == 3 && memcmp(f[2], "s2c", 3) == 0)
		l->dir = SC_DIR_S2C;
	else {
		snprintf(reason, reasonlen, "bad direction");
		return -1;
	}
	if (parse_u64(f[3], flen[3], &v) == -1 || v > 0xff ||
	    !sc_record_dir_ok((int)v, l->dir)) {
		snprintf(reason, reasonlen, "bad record type for direction");
		return -1;
	}
	l->type = (uint8_t)v;
	if (sc_b64_decode(f[4], flen[4], l->ivct, sizeof(l->ivct), &n) == -1 ||
	    n < SC_IV_LEN + 16 || (n - SC_IV_LEN) % 16 != 0) {
		snprintf(reason, reasonlen, "bad iv||ciphertext");
		return -1;
	}
	memcpy(l->iv, l->ivct, SC_IV_LEN);
	l->ct = l->ivct + SC_IV_LEN;
	l->ctlen = n - SC_IV_LEN;
	if (sc_b64_decode(f[5], flen[5], l->sig, sizeof(l->sig),
	    &l->siglen) == -1 || l->siglen == 0) {
		snprintf(reason, reasonlen, "bad signature field");
		return -1;
	}
	/* Lower-case hex only, so that every line has one spelling. */
	if (flen[6] != 2 * SC_SHA256_LEN) {
		snprintf(reason, reasonlen, "bad signer fingerprint");
		return -1;
	}
	memcpy(hex, f[6], flen[6]);
	hex[flen[6]] = '\0';
	for (i = 0; i < flen[6]; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') ||
		    (hex[i] >= 'a' && hex[i] <= 'f'))) {
			snprintf(reason, reasonlen, "bad signer fingerprint");
			return -1;
		}
	if (hex_decode(hex, l->signer_fp, SC_SHA256_LEN) == -1) {
		snprintf(reason, reasonlen, "bad signer fingerprint");
		return -1;
	}
	return 0;
}

int
transcript_file_digest(const char *path, uint8_t out[SC_SHA256_LEN],
    uint64_t *firstp, uint64_t *lastp,
    int (*cb)(void *, const struct transcript_line *, size_t, char *, size_t),
    void *cbarg, char *reason, size_t reasonlen)
{
	struct transcript_line *l = NULL;
	EVP_MD_CTX *md[2] = { NULL, NULL };
	uint64_t last[2] = { 0, 0 }, first = 0, lastany = 0, nlines = 0;
	FILE *fp;
	char *line = NULL, why[128];
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int fd, rc = -1, i;

	*firstp = *lastp = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(reason, reasonlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		snprintf(reason, reasonlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if ((l = malloc(sizeof(*l))) == NULL) {
		snprintf(reason, reasonlen, "out of memory");
		goto out;
	}
	for (i = 0; i < 2; i++)
		if ((md[i] = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(md[i], EVP_sha256(), NULL) != 1) {
			snprintf(reason, reasonlen, "digest failure");
			goto out;
		}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if ((size_t)n > TRANSCRIPT_MAX_LINE ||
		    memchr(line, '\0', (size_t)n) != NULL) {
			snprintf(reason, reasonlen, "line %zu: too long or "
			    "binary", lineno);
			goto out;
		}
		if (transcript_line_parse(line, (size_t)n, l, why,
		    sizeof(why)) == -1) {
			snprintf(reason, reasonlen, "line %zu: %s", lineno, why);
			goto out;
		}
		if (account_line(md, last, &first, &lastany, nlines, l->dir,
		    l->seq, line, (size_t)n) == -1) {
			snprintf(reason, reasonlen, "line %zu: %s seq %llu does "
			    "not follow %llu", lineno,
			    l->dir == SC_DIR_C2S ? "c2s" : "s2c",
			    (unsigned long long)l->seq,
			    (unsigned long long)last[l->dir - 1]);
			goto out;
		}
		nlines++;
		if (cb != NULL && cb(cbarg, l, lineno, reason, reasonlen) == -1)
			goto out;
	}
	if (ferror(fp)) {
		snprintf(reason, reasonlen, "%s: read error", path);
		goto out;
	}
	if (final_digest(md, out) == -1) {
		snprintf(reason, reasonlen, "digest failure");
		goto out;
	}
	*firstp = nlines ? first : 0;
	*lastp = nlines ? lastany : 0;
	rc = 0;
 out:
	free(line);
	free(l);
	for (i = 0; i < 2; i++)
		EVP_MD_CTX_free(md[i]);
	fclose(fp);
	return rc;
}

/* ---- Receipt files ---- */

static const char *
role_name(uint8_t role)
{
	return role == SC_ROLE_CLIENT ? "client" :
	    role == SC_ROLE_SERVER ? "server" : NULL;
}

int
receipt_write_json(const char *path, const struct sc_receipt *r,
    const uint8_t signer_fp[SC_SHA256_LEN], int force)
{
	json_t *o;
	char sid[2 * SC_SESSION_ID_LEN + 1], th[2 * SC_SHA256_LEN + 1];
	char pfp[2 * SC_SHA256_LEN + 1], sfp[2 * SC_SHA256_LEN + 1];
	char sig[4 * ((SC_MAX_SIG + 2) / 3) + 1];
	char *s = NULL;
	int rc = -1;

	if (role_name(r->role) == NULL || r->first_seq > INT64_MAX ||
	    r->last_seq > INT64_MAX || r->siglen == 0 ||
	    r->siglen > SC_MAX_SIG) {
		errno = EINVAL;
		return -1;
	}
	hex_encode(r->session_id, SC_SESSION_ID_LEN, sid);
	hex_encode(r->transcript_sha256, SC_SHA256_LEN, th);
	hex_encode(r->peer_fp, SC_SHA256_LEN, pfp);
	hex_encode(signer_fp, SC_SHA256_LEN, sfp);
	if (sc_b64_encode(r->sig, r->siglen, sig, sizeof(sig)) == -1)
		return -1;
	o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}",
	    "format", RECEIPT_FORMAT,
	    "session_id", sid,
	    "role", role_name(r->role),
	    "first_seq", (json_int_t)r->first_seq,
	    "last_seq", (json_int_t)r->last_seq,
	    "transcript_sha256", th,
	    "peer_fingerprint", pfp,
	    "signer_fingerprint", sfp,
	    "sig", sig);
	if (o == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if ((s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		errno = ENOMEM;
		goto out;
	}
	/* A trailing newline makes the file a well-formed text file. */
	{
		size_t n = strlen(s);
		char *t = realloc(s, n + 2);

		if (t == NULL)
			goto out;
		s = t;
		s[n] = '\n';
		s[n + 1] = '\0';
		rc = write_file_new(path, s, n + 1, 0644, force);
	}
 out:
	free(s);
	json_decref(o);
	return rc;
}

/* A string member of exactly 2n lower/upper hex digits into out. */
static int
json_hex(json_t *o, const char *key, uint8_t *out, size_t n)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!json_is_string(v) || (s = json_string_value(v)) == NULL ||
	    json_string_length(v) != 2 * n)
		return -1;
	return hex_decode(s, out, n);
}

static int
json_u64(json_t *o, const char *key, uint64_t *vp)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*vp = (uint64_t)json_integer_value(v);
	return 0;
}

int
receipt_read_json(const char *path, struct sc_receipt *r,
    uint8_t signer_fp[SC_SHA256_LEN], char *reason, size_t reasonlen)
{
	static const char *const keys[] = { "format", "session_id", "role",
	    "first_seq", "last_seq", "transcript_sha256", "peer_fingerprint",
	    "signer_fingerprint", "sig" };
	json_error_t jerr;
	json_t *o = NULL, *v;
	const char *key, *s;
	uint8_t *data;
	size_t len, i;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if ((data = read_file_bounded(path, RECEIPT_MAX_FILE, &len)) == NULL) {
		snprintf(reason, reasonlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		snprintf(reason, reasonlen, "%s: line %d: %s", path, jerr.line,
		    jerr.text);
		goto out;
	}
	if (!json_is_object(o)) {
		snprintf(reason, reasonlen, "receipt is not a JSON object");
		goto out;
	}
	json_object_foreach(o, key, v) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			snprintf(reason, reasonlen, "unknown receipt field");
			goto out;
		}
	}
	v = json_object_get(o, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v),
	    RECEIPT_FORMAT) != 0) {
		snprintf(reason, reasonlen, "not a %s file", RECEIPT_FORMAT);
		goto out;
	}
	v = json_object_get(o, "role");
	s = json_is_string(v) ? json_string_value(v) : "";
	if (strcmp(s, "client") == 0)
		r->role = SC_ROLE_CLIENT;
	else if (strcmp(s, "server") == 0)
		r->role = SC_ROLE_SERVER;
	else {
		snprintf(reason, reasonlen, "bad role");
		goto out;
	}
	if (json_hex(o, "session_id", r->session_id, SC_SESSION_ID_LEN) == -1 ||
	    json_hex(o, "transcript_sha256", r->transcript_sha256,
	    SC_SHA256_LEN) == -1 ||
	    json_hex(o, "peer_fingerprint", r->peer_fp, SC_SHA256_LEN) == -1 ||
	    json_hex(o, "signer_fingerprint", signer_fp, SC_SHA256_LEN) == -1) {
		snprintf(reason, reasonlen, "bad or missing hex field");
		goto out;
	}
	if (json_u64(o, "first_seq", &r->first_seq) == -1 ||
	    json_u64(o, "last_seq", &r->last_seq) == -1 ||
	    r->first_seq > r->last_seq) {
		snprintf(reason, reasonlen, "bad first_seq/last_seq");
		goto out;
	}
	v = json_object_get(o, "sig");
	if (!json_is_string(v) || sc_b64_decode(json_string_value(v),
	    json_string_length(v), r->sig, sizeof(r->sig), &r->siglen) == -1 ||
	    r->siglen == 0) {
		snprintf(reason, reasonlen, "bad signature field");
		goto out;
	}
	rc = 0;
 out:
	json_decref(o);
	freezero(data, len);
	return rc;
}

/* ---- Offline verification ---- */

struct verify_ctx {
	const uint8_t	*session_id;
	uint8_t		 signer_dir;	/* direction of the signer's records */
	uint8_t		 signer_fp[SC_SHA256_LEN];
	uint8_t		 peer_fp[SC_SHA256_LEN];
	EVP_PKEY	*signer_key;
	EVP_PKEY	*peer_key;	/* NULL: peer lines not verifiable */
	size_t		 verified;
};

static int
verify_line(void *arg, const struct transcript_line *l, size_t lineno,
    char *reason, size_t reasonlen)
{
	struct verify_ctx *v = arg;
	const uint8_t *want_fp;
	EVP_PKEY *key;
	struct wbuf stmt;
	int rc;

	if (l->dir == v->signer_dir) {
		want_fp = v->signer_fp;
		key = v->signer_key;
	} else {
		want_fp = v->peer_fp;
		key = v->peer_key;
	}
	if (CRYPTO_memcmp(l->signer_fp, want_fp, SC_SHA256_LEN) != 0) {
		snprintf(reason, reasonlen, "line %zu: signed by an unexpected "
		    "certificate", lineno);
		return -1;
	}
	if (key == NULL)
		return 0;
	wbuf_init(&stmt, SC_STMT_MAX);
	rc = sc_stmt_record(&stmt, v->session_id, l->dir, l->type,
	    (uint8_t)sc_record_phase(l->type), l->seq, l->ts, l->iv, l->ct,
	    l->ctlen);
	if (rc == 0)
		rc = sc_rsa_verify(key, stmt.data, stmt.len, l->sig, l->siglen);
	wbuf_free(&stmt);
	if (rc == -1) {
		snprintf(reason, reasonlen, "line %zu: record signature does "
		    "not verify", lineno);
		return -1;
	}
	v->verified++;
	return 0;
}

/* Only the latest timestamp: the first pass, before any key is known. */
static int
max_ts_line(void *arg, const struct transcript_line *l, size_t lineno,
    char *reason, size_t reasonlen)
{
	uint64_t *max = arg;

	(void)lineno;
	(void)reason;
	(void)reasonlen;
	if (l->ts > *max)
		*max = l->ts;
	return 0;
}

/*
 * Load a certificate and check it chains to the CA for purpose.  A
 * receipt outlives its certificates: a certificate that has expired since
 * is checked again at the time of the session's last record (*expiredp
 * set), which is the best an offline verifier without a trusted
 * timestamp can do; every other verdict is final.
 */
static X509 *
load_checked_cert(const char *path, struct pki_trust *trust,
    enum pki_purpose purpose, uint64_t session_ms, int *expiredp,
    const char *what, char *reason, size_t reasonlen)
{
	enum pki_verdict vd;
	X509 *x;
	char why[256];

	if ((x = pki_load_cert(path, why, sizeof(why))) == NULL) {
		snprintf(reason, reasonlen, "%s certificate: %s", what, why);
		return NULL;
	}
	vd = pki_verify(trust, x, purpose, NULL, 0, why, sizeof(why));
	if (vd == PKI_EXPIRED && session_ms / 1000 > 0) {
		*expiredp = 1;
		vd = pki_verify(trust, x, purpose, NULL,
		    (time_t)(session_ms / 1000), why, sizeof(why));
	}
	if (vd != PKI_OK) {
		snprintf(reason, reasonlen, "%s certificate: %s", what, why);
		X509_free(x);
		return NULL;
	}
	return x;
}

int
receipt_verify(const char *transcript_path, const char *receipt_path,
    const char *signer_cert, const char *ca, const char *crl,
    const char *peer_cert, char *reason, size_t reasonlen)
{
	struct sc_receipt r;
	struct verify_ctx v;
	struct pki_trust *trust = NULL;
	struct wbuf stmt;
	X509 *sx = NULL, *px = NULL;
	uint8_t file_fp[SC_SHA256_LEN], digest[SC_SHA256_LEN];
	uint64_t first, last;
	char why[256];
	uint64_t session_ms = 0;
	int expired = 0, rc = -1;

	memset(&v, 0, sizeof(v));
	wbuf_init(&stmt, SC_STMT_MAX);
	if (receipt_read_json(receipt_path, &r, file_fp, reason,
	    reasonlen) == -1)
		goto out;
	v.session_id = r.session_id;
	v.signer_dir = r.role == SC_ROLE_SERVER ? SC_DIR_S2C : SC_DIR_C2S;
	memcpy(v.peer_fp, r.peer_fp, SC_SHA256_LEN);
	if ((trust = pki_trust_load(ca, crl, why, sizeof(why))) == NULL) {
		snprintf(reason, reasonlen, "CA: %s", why);
		goto out;
	}

	/*
	 * First pass over the transcript without keys: syntax, seq rule,
	 * hash, and the time of the last record, at which the certificates
	 * must have been valid (a receipt outlives its certificates).
	 */
	if (transcript_file_digest(transcript_path, digest, &first, &last,
	    max_ts_line, &session_ms, reason, reasonlen) == -1)
		goto out;
	if (CRYPTO_memcmp(digest, r.transcript_sha256, SC_SHA256_LEN) != 0) {
		snprintf(reason, reasonlen, "transcript hash does not match "
		    "the receipt (transcript modified, or another session)");
		goto out;
	}
	if (first != r.first_seq || last != r.last_seq) {
		snprintf(reason, reasonlen, "transcript seq range %llu..%llu "
		    "does not match the receipt's %llu..%llu",
		    (unsigned long long)first, (unsigned long long)last,
		    (unsigned long long)r.first_seq,
		    (unsigned long long)r.last_seq);
		goto out;
	}

	/* Certificates: chain and purpose of each role. */
	if ((sx = load_checked_cert(signer_cert, trust, r.role ==
	    SC_ROLE_SERVER ? PKI_PURPOSE_SERVER : PKI_PURPOSE_CLIENT,
	    session_ms, &expired, "signer", reason, reasonlen)) == NULL)
		goto out;
	if (pki_fingerprint(sx, v.signer_fp) == -1 ||
	    CRYPTO_memcmp(v.signer_fp, file_fp, SC_SHA256_LEN) != 0) {
		snprintf(reason, reasonlen, "receipt was not signed by this "
		    "certificate (signer_fingerprint differs)");
		goto out;
	}
	v.signer_key = X509_get0_pubkey(sx);
	if (peer_cert != NULL) {
		uint8_t pfp[SC_SHA256_LEN];

		if ((px = load_checked_cert(peer_cert, trust, r.role ==
		    SC_ROLE_SERVER ? PKI_PURPOSE_CLIENT : PKI_PURPOSE_SERVER,
		    session_ms, &expired, "peer", reason, reasonlen)) == NULL)
			goto out;
		if (pki_fingerprint(px, pfp) == -1 ||
		    CRYPTO_memcmp(pfp, r.peer_fp, SC_SHA256_LEN) != 0) {
			snprintf(reason, reasonlen, "peer certificate is not "
			    "the receipt's peer_fingerprint");
			goto out;
		}
		v.peer_key = X509_get0_pubkey(px);
	}

	/* The receipt signature over the statement. */
	if (sc_stmt_receipt(&stmt, &r) == -1 ||
	    sc_rsa_verify(v.signer_key, stmt.data, stmt.len, r.sig,
	    r.siglen) == -1) {
		snprintf(reason, reasonlen, "receipt signature does not verify");
		goto out;
	}

	/* Second pass: every line's signer, and its signature. */
	if (transcript_file_digest(transcript_path, digest, &first, &last,
	    verify_line, &v, reason, reasonlen) == -1)
		goto out;
	if (CRYPTO_memcmp(digest, r.transcript_sha256, SC_SHA256_LEN) != 0) {
		snprintf(reason, reasonlen, "transcript changed while being "
		    "verified");
		goto out;
	}
	snprintf(reason, reasonlen, "valid: %s receipt, seq %llu..%llu, "
	    "%zu record signatures verified%s", r.role == SC_ROLE_SERVER ?
	    "server" : "client", (unsigned long long)r.first_seq,
	    (unsigned long long)r.last_seq, v.verified, expired ?
	    " (a certificate has expired since the session)" : "");
	rc = 0;
 out:
	wbuf_free(&stmt);
	X509_free(sx);
	X509_free(px);
	pki_trust_free(trust);
	explicit_bzero(&r, sizeof(r));
	return rc;
}
