/*
 * fuzz_replay.c: the client's replay table as it is loaded from disk,
 * envelope_replay_load() (common/envelope.c): "sender|conv|counter\n"
 * lines (docs/MESSAGING.md §6), read by sc-client from a file in the
 * user's directory that anything running as that user may have written.
 *
 * envelope_replay_load() takes a path, so each input is written to a
 * 0600 file in a private temporary directory made at set-up and removed
 * at exit.  The input is the file, byte for byte.
 *
 * Properties: a failure leaves the table empty with a reason; a success
 * holds at most ENV_REPLAY_MAX entries, each a valid conversation and a
 * counter within 1..ENV_MAX_COUNTER, and is canonical: saving it gives
 * back the input byte for byte (so no entry was dropped, merged or
 * rewritten); the loaded counters are what the replay checks answer
 * with: the last one again is a replay, the next one is not; and a load
 * into a table that is not empty is refused and changes nothing.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "util.h"
#include "fuzz.h"

static char rp_fz_dir[512], rp_fz_path[600], rp_fz_saved[600];

static void
rp_fz_cleanup(void)
{
	if (rp_fz_path[0] != '\0')
		unlink(rp_fz_path);
	if (rp_fz_saved[0] != '\0')
		unlink(rp_fz_saved);
	if (rp_fz_dir[0] != '\0')
		rmdir(rp_fz_dir);
}

static int
rp_fz_init(void)
{
	const char *tmp = getenv("TMPDIR");

	if (rp_fz_dir[0] != '\0')
		return 0;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(rp_fz_dir, sizeof(rp_fz_dir), "%s/sc-fuzz-replay.XXXXXX",
	    tmp);
	if (mkdtemp(rp_fz_dir) == NULL) {
		rp_fz_dir[0] = '\0';
		return -1;
	}
	snprintf(rp_fz_path, sizeof(rp_fz_path), "%s/replay", rp_fz_dir);
	snprintf(rp_fz_saved, sizeof(rp_fz_saved), "%s/saved", rp_fz_dir);
	return atexit(rp_fz_cleanup) == 0 ? 0 : -1;
}

static int
rp_fz_write(const uint8_t *data, size_t size)
{
	int fd, rc = -1;

	if ((fd = open(rp_fz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	if (size == 0 || write(fd, data, size) == (ssize_t)size)
		rc = 0;
	close(fd);
	return rc;
}

/* The loaded table answers the replay checks with its own counters. */
static void
rp_fz_entries(const struct env_replay *r)
{
	const struct env_replay_entry *e;
	size_t i;

	FUZZ_CHECK(r->n <= ENV_REPLAY_MAX && r->n <= r->cap);
	/* All of them would be quadratic: the first and last few. */
	for (i = 0; i < r->n; i++) {
		if (i == 16 && r->n > 32)
			i = r->n - 16;
		e = &r->v[i];
		FUZZ_CHECK(memchr(e->sender, '\0', sizeof(e->sender)) !=
		    NULL && memchr(e->conv, '\0', sizeof(e->conv)) != NULL);
		FUZZ_CHECK(envelope_valid_conv(e->conv));
		FUZZ_CHECK(e->last >= 1 && e->last <= ENV_MAX_COUNTER);
		FUZZ_CHECK(envelope_replay_last(r, e->sender, e->conv) ==
		    e->last);
		FUZZ_CHECK(envelope_replay_check(r, e->sender, e->conv,
		    e->last) == ENV_E_REPLAY);
		if (e->last < ENV_MAX_COUNTER)
			FUZZ_CHECK(envelope_replay_check(r, e->sender, e->conv,
			    e->last + 1) == ENV_OK);
	}
}

static int
rp_fz_one(const uint8_t *data, size_t size)
{
	struct env_replay r, again;
	char reason[512];
	uint8_t *saved;
	size_t savedlen, n;
	int rc;

	if (size > ENV_REPLAY_FILE_MAX || rp_fz_write(data, size) == -1)
		return 0;
	envelope_replay_init(&r);
	reason[0] = '\0';
	rc = envelope_replay_load(&r, rp_fz_path, reason, sizeof(reason));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		FUZZ_CHECK(r.n == 0 && r.v == NULL);
		FUZZ_CHECK(reason[0] != '\0' &&
		    memchr(reason, '\0', sizeof(reason)) != NULL);
		return 0;
	}
	rp_fz_entries(&r);
	/* Canonical: what it saves is what it read. */
	FUZZ_CHECK(envelope_replay_save(&r, rp_fz_saved) == 0);
	saved = read_file_bounded(rp_fz_saved, ENV_REPLAY_FILE_MAX, &savedlen);
	FUZZ_CHECK(saved != NULL && savedlen == size &&
	    (size == 0 || memcmp(saved, data, size) == 0));
	free(saved);
	/* A table that is not empty is never loaded into. */
	if (r.n > 0) {
		n = r.n;
		FUZZ_CHECK(envelope_replay_load(&r, rp_fz_saved, reason,
		    sizeof(reason)) == -1 && r.n == n);
	}
	envelope_replay_init(&again);
	FUZZ_CHECK(envelope_replay_load(&again, rp_fz_saved, reason,
	    sizeof(reason)) == 0 && again.n == r.n);
	envelope_replay_free(&again);
	envelope_replay_free(&r);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(rp_fz_init, rp_fz_one)
#endif
