/*
 * test_transcript.c: the transcript's durability modes (transcript.h).
 *
 * Every mode writes each line with one write(2) before transcript_append
 * returns (what the death of a process must not lose); TRANSCRIPT_SYNC_EACH
 * syncs it there, TRANSCRIPT_SYNC_BATCH leaves it pending until
 * transcript_sync(), transcript_digest() or transcript_close().  Counting
 * fdatasync(2) calls needs no mock: strace is not assumed, so the test
 * checks the pending state that decides whether a sync happens, and the
 * bytes on disk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "transcript.h"

struct fx {
	char	*dir;
	char	 path[512];
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || (fx->dir = tu_mkdtemp("transcript")) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/t", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	tu_rmrf(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

/* A syntactically valid CHAT record (the transcript checks no signature). */
static void
fake_record(struct sc_record *r, uint64_t seq, uint8_t *iv, uint8_t *ct,
    uint8_t *sig)
{
	memset(iv, (int)seq, SC_IV_LEN);
	memset(ct, 0x40 + (int)seq, 32);
	memset(sig, 0x11, 256);
	memset(r, 0, sizeof(*r));
	r->seq = seq;
	r->ts = 1700000000000ULL + seq;
	r->iv = iv;
	r->ct = ct;
	r->ctlen = 32;
	r->sig = sig;
	r->siglen = 256;
}

static size_t
lines_on_disk(const char *path)
{
	char *text;
	size_t len, i, n = 0;

	if ((text = tu_read(path, &len)) == NULL)
		return 0;
	for (i = 0; i < len; i++)
		n += text[i] == '\n';
	free(text);
	return n;
}

static void
append_n(struct transcript *t, uint8_t dir, uint64_t first, int n)
{
	struct sc_record r;
	uint8_t iv[SC_IV_LEN], ct[32], sig[256], fp[SC_SHA256_LEN];
	int i;

	memset(fp, 0xab, sizeof(fp));
	for (i = 0; i < n; i++) {
		fake_record(&r, first + (uint64_t)i, iv, ct, sig);
		assert_int_equal(transcript_append(t, dir, SC_T_CHAT, &r, fp),
		    0);
	}
}

static void
test_batch_writes_now_syncs_later(void **state)
{
	struct fx *fx = *state;
	struct transcript t;
	uint8_t mine[SC_SHA256_LEN], file[SC_SHA256_LEN];
	uint64_t f1, l1, f2, l2;
	char reason[256];

	assert_int_equal(transcript_open(&t, fx->path, TRANSCRIPT_SYNC_BATCH),
	    0);
	assert_false(transcript_pending(&t));
	append_n(&t, SC_DIR_C2S, 1, 3);
	/* Written (a reader, or a crash of this process, sees them)... */
	assert_int_equal(lines_on_disk(fx->path), 3);
	/* ...but not yet synced: one fdatasync will cover all three. */
	assert_true(transcript_pending(&t));
	assert_int_equal(transcript_sync(&t), 0);
	assert_false(transcript_pending(&t));
	/* Nothing new: no second sync. */
	assert_int_equal(transcript_sync(&t), 0);
	assert_false(transcript_pending(&t));
	append_n(&t, SC_DIR_S2C, 1, 2);
	assert_true(transcript_pending(&t));
	/* A receipt's digest always syncs first. */
	assert_int_equal(transcript_digest(&t, mine, &f1, &l1), 0);
	assert_false(transcript_pending(&t));
	assert_int_equal(transcript_file_digest(fx->path, file, &f2, &l2, NULL,
	    NULL, reason, sizeof(reason)), 0);
	assert_memory_equal(mine, file, SC_SHA256_LEN);
	assert_true(f1 == f2 && l1 == l2 && f1 == 1 && l1 == 3);
	transcript_close(&t);
	assert_int_equal(lines_on_disk(fx->path), 5);
}

static void
test_each_never_pending(void **state)
{
	struct fx *fx = *state;
	struct transcript t;

	assert_int_equal(transcript_open(&t, fx->path, TRANSCRIPT_SYNC_EACH),
	    0);
	append_n(&t, SC_DIR_C2S, 1, 4);
	/* Every line was synced by transcript_append itself. */
	assert_false(transcript_pending(&t));
	assert_int_equal(lines_on_disk(fx->path), 4);
	transcript_close(&t);
}

/* A failed write marks the transcript: no sync, no digest, no receipt. */
static void
test_failed_is_final(void **state)
{
	struct fx *fx = *state;
	struct transcript t;
	struct sc_record r;
	uint8_t iv[SC_IV_LEN], ct[32], sig[256], fp[SC_SHA256_LEN], h[32];
	uint64_t f, l;
	int fd;

	assert_int_equal(transcript_open(&t, fx->path, TRANSCRIPT_SYNC_BATCH),
	    0);
	append_n(&t, SC_DIR_C2S, 1, 1);
	/* Swap the descriptor for one that cannot be written. */
	assert_true((fd = open("/dev/full", O_WRONLY | O_APPEND)) != -1);
	assert_true(dup2(fd, t.fd) != -1);
	close(fd);
	memset(fp, 0, sizeof(fp));
	fake_record(&r, 2, iv, ct, sig);
	assert_int_equal(transcript_append(&t, SC_DIR_C2S, SC_T_CHAT, &r, fp),
	    -1);
	assert_int_equal(transcript_sync(&t), -1);
	assert_int_equal(transcript_digest(&t, h, &f, &l), -1);
	transcript_close(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_batch_writes_now_syncs_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_never_pending,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_is_final, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
