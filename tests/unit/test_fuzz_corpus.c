/*
 * test_fuzz_corpus.c: replay every checked-in fuzzing input
 * (tests/fuzz/corpus/NAME/: the seeds and the regression inputs of bugs
 * that fuzzing found) through the same harness code, compiled normally
 * with this test, so that `make check` (and its ASan/UBSan and valgrind
 * runs) keeps every fixed crash fixed without needing clang.
 *
 * Each harness file is #included with FUZZ_REPLAY defined (see
 * tests/fuzz/fuzz.h): its checks then count failures instead of
 * aborting.  The cheap parsers also get every prefix of every input, a
 * deterministic taste of what the fuzzer does with truncation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_REPLAY
#include "../fuzz/fuzz_proto.c"
#include "../fuzz/fuzz_frame.c"
#include "../fuzz/fuzz_record.c"
#include "../fuzz/fuzz_cert.c"
#include "../fuzz/fuzz_keyd.c"
#include "../fuzz/fuzz_authd.c"
#include "../fuzz/fuzz_conf.c"
#include "../fuzz/fuzz_dbconf.c"
#include "../fuzz/fuzz_transcript.c"
#include "../fuzz/fuzz_receipt.c"
#include "../fuzz/fuzz_envelope.c"
#include "../fuzz/fuzz_router.c"
#include "../fuzz/fuzz_replay.c"
#include "log.h"
#include "testutil.h"

/* Inputs of one harness; fails the test on any failed property. */
static void
replay(const char *name, int (*init)(void),
    int (*one)(const uint8_t *, size_t), int prefixes)
{
	char dir[512], path[1024];
	struct dirent *de;
	DIR *d;
	uint8_t *data, *exact;
	size_t len, k, files = 0, regress = 0;

	assert_int_equal(init(), 0);
	snprintf(dir, sizeof(dir), "%s/%s", tu_src("tests/fuzz/corpus"), name);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		data = (uint8_t *)tu_read(path, &len);
		assert_non_null(data);
		/* Exact size: one byte too far is an ASan report. */
		exact = malloc(len > 0 ? len : 1);
		assert_non_null(exact);
		memcpy(exact, data, len);
		fuzz_failures = 0;
		(void)one(exact, len);
		for (k = 0; prefixes && k < len; k++)
			(void)one(exact, k);
		if (fuzz_failures != 0)
			fail_msg("%s: %u failed properties (see above)", path,
			    fuzz_failures);
		free(exact);
		free(data);
		files++;
		if (strncmp(de->d_name, "regress-", 8) == 0)
			regress++;
	}
	closedir(d);
	print_message("%s: %zu inputs (%zu regression)\n", name, files,
	    regress);
	assert_true(files > 0);
}

static void
test_proto(void **state)
{
	(void)state;
	replay("proto", proto_init, proto_one, 1);
}

static void
test_frame(void **state)
{
	(void)state;
	replay("frame", frame_init, frame_one, 1);
}

static void
test_record(void **state)
{
	(void)state;
	replay("record", record_fz_init, record_fz_one, 0);
}

static void
test_cert(void **state)
{
	(void)state;
	replay("cert", cert_init, cert_one, 0);
}

static void
test_keyd(void **state)
{
	(void)state;
	replay("keyd", keyd_fz_init, keyd_fz_one, 0);
}

static void
test_authd(void **state)
{
	(void)state;
	replay("authd", authd_fz_init, authd_fz_one, 1);
}

static void
test_conf(void **state)
{
	(void)state;
	replay("conf", conf_fz_init, conf_fz_one, 1);
}

static void
test_dbconf(void **state)
{
	(void)state;
	replay("dbconf", dbconf_fz_init, dbconf_fz_one, 0);
}

static void
test_transcript(void **state)
{
	(void)state;
	replay("transcript", tr_fz_init, tr_fz_one, 0);
}

static void
test_receipt(void **state)
{
	(void)state;
	replay("receipt", rc_fz_init, rc_fz_one, 0);
}

static void
test_envelope(void **state)
{
	(void)state;
	replay("envelope", env_fz_init, env_fz_one, 0);
}

static void
test_router(void **state)
{
	(void)state;
	replay("router", rt_fz_init, rt_fz_one, 1);
}

static void
test_replay(void **state)
{
	(void)state;
	replay("replay", rp_fz_init, rp_fz_one, 1);
}

/*
 * Regression (found reading dbconf_load while writing its harness): a
 * file of exactly DBCONF_MAX_FILE bytes passed the fstat check and was
 * then refused as "larger than 8192 bytes".  The limit is inclusive.
 */
static void
test_dbconf_size_limit(void **state)
{
	static const char head[] = "host = 127.0.0.1\nuser = u\n"
	    "database = d\npassword = \"p w\"\n";
	struct dbconf c;
	char *buf;
	size_t off, n;

	(void)state;
	assert_int_equal(dbconf_fz_init(), 0);
	buf = malloc(DBCONF_MAX_FILE + 1);
	assert_non_null(buf);
	memcpy(buf, head, sizeof(head) - 1);
	/* Pad with comment lines of 100 bytes, then a last shorter one. */
	for (off = sizeof(head) - 1; off < DBCONF_MAX_FILE + 1; off += n) {
		n = DBCONF_MAX_FILE + 1 - off < 100 ? DBCONF_MAX_FILE + 1 - off :
		    100;
		memset(buf + off, '#', n);
		buf[off + n - 1] = '\n';
	}
	assert_int_equal(dbconf_fz_write((const uint8_t *)buf,
	    DBCONF_MAX_FILE), 0);
	assert_int_equal(dbconf_load(dbconf_fz_path, &c), 0);
	assert_string_equal(c.password, "p w");
	dbconf_clear(&c);
	assert_int_equal(dbconf_fz_write((const uint8_t *)buf,
	    DBCONF_MAX_FILE + 1), 0);
	assert_int_equal(dbconf_load(dbconf_fz_path, &c), -1);
	free(buf);
}

/* A harness that cannot fail proves nothing: a broken input must. */
static void
test_properties_bite(void **state)
{
	/* A CLIENT_HELLO whose cert length runs past the payload ... */
	static const uint8_t trunc[] = { FZ_CH, 1, 1 };
	/* ... and a frame stream with a bad magic, both must be rejected
	 * without a failed property; a wrong expectation must fail one. */
	static const uint8_t bad[] = { 'S', 'X', 1, 1, 0, 0, 0, 0 };
	struct sc_client_hello ch;

	(void)state;
	fuzz_failures = 0;
	print_message("one failed property is expected below\n");
	(void)proto_one(trunc, sizeof(trunc));
	(void)frame_one(bad, sizeof(bad));
	assert_int_equal(fuzz_failures, 0);
	FUZZ_CHECK(sc_ch_parse(trunc + 1, sizeof(trunc) - 1, &ch) == 0);
	assert_int_equal(fuzz_failures, 1);
	fuzz_failures = 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto),
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_cert),
		cmocka_unit_test(test_keyd),
		cmocka_unit_test(test_authd),
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_dbconf),
		cmocka_unit_test(test_transcript),
		cmocka_unit_test(test_receipt),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_router),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_dbconf_size_limit),
		cmocka_unit_test(test_properties_bite),
	};

	/* The parsers log every rejected input; only failures matter here. */
	log_init(1, 0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
