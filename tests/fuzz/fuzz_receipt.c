/*
 * fuzz_receipt.c: the receipt file reader, receipt_read_json() (common/
 * transcript.c), which `sc-client verify` and receipt_verify() run on a
 * file that anyone may have written.
 *
 * The reader takes a path, so each input goes to a file in a private
 * temporary directory made at set-up and removed at exit.  Properties: a
 * receipt that is accepted has a known role, first_seq <= last_seq and a
 * signature of 1..512 bytes; written back with receipt_write_json() and
 * read again it is the same receipt (nothing was half-read).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transcript.h"
#include "fuzz.h"

static char rc_fz_dir[512], rc_fz_in[600], rc_fz_out[600];

static void
rc_fz_cleanup(void)
{
	if (rc_fz_in[0] != '\0')
		unlink(rc_fz_in);
	if (rc_fz_out[0] != '\0')
		unlink(rc_fz_out);
	if (rc_fz_dir[0] != '\0')
		rmdir(rc_fz_dir);
}

static int
rc_fz_init(void)
{
	const char *tmp = getenv("TMPDIR");

	if (rc_fz_dir[0] != '\0')
		return 0;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(rc_fz_dir, sizeof(rc_fz_dir), "%s/sc-fuzz-rc.XXXXXX", tmp);
	if (mkdtemp(rc_fz_dir) == NULL) {
		rc_fz_dir[0] = '\0';
		return -1;
	}
	snprintf(rc_fz_in, sizeof(rc_fz_in), "%s/in.json", rc_fz_dir);
	snprintf(rc_fz_out, sizeof(rc_fz_out), "%s/out.json", rc_fz_dir);
	return atexit(rc_fz_cleanup) == 0 ? 0 : -1;
}

static int
rc_fz_one(const uint8_t *data, size_t size)
{
	struct sc_receipt r, r2;
	uint8_t fp[SC_SHA256_LEN], fp2[SC_SHA256_LEN];
	char reason[512];
	int fd, rc;

	if (size > 32 * 1024)
		return 0;
	if ((fd = open(rc_fz_in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	reason[0] = '\0';
	rc = receipt_read_json(rc_fz_in, &r, fp, reason, sizeof(reason));
	FUZZ_CHECK(rc == 0 || (rc == -1 && reason[0] != '\0'));
	if (rc != 0)
		return 0;
	FUZZ_CHECK((r.role == SC_ROLE_CLIENT || r.role == SC_ROLE_SERVER) &&
	    r.first_seq <= r.last_seq && r.siglen >= 1 &&
	    r.siglen <= SC_MAX_SIG);
	FUZZ_CHECK(receipt_write_json(rc_fz_out, &r, fp, 1) == 0);
	FUZZ_CHECK(receipt_read_json(rc_fz_out, &r2, fp2, reason,
	    sizeof(reason)) == 0);
	FUZZ_CHECK(memcmp(r.session_id, r2.session_id,
	    SC_SESSION_ID_LEN) == 0 && r.role == r2.role &&
	    r.first_seq == r2.first_seq && r.last_seq == r2.last_seq &&
	    memcmp(r.transcript_sha256, r2.transcript_sha256,
	    SC_SHA256_LEN) == 0 && memcmp(r.peer_fp, r2.peer_fp,
	    SC_SHA256_LEN) == 0 && r.siglen == r2.siglen &&
	    memcmp(r.sig, r2.sig, r.siglen) == 0 &&
	    memcmp(fp, fp2, sizeof(fp)) == 0);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(rc_fz_init, rc_fz_one)
#endif
