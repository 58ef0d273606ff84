/*
 * fuzz.h: what every libFuzzer harness in tests/fuzz/ shares.
 *
 * A harness is one file, fuzz_NAME.c, with two static functions: an
 * optional set-up run once (NAME_init) and the body run on every input
 * (NAME_one).  Built by `make fuzz` with clang -fsanitize=fuzzer, the
 * FUZZ_MAIN() line at its end turns them into libFuzzer's entry points.
 * tests/unit/test_fuzz_corpus.c defines FUZZ_REPLAY and #includes the same
 * files, compiled normally, to replay every checked-in corpus file through
 * the same code as part of `make check`.
 *
 * Beyond "does not crash", a harness checks properties with FUZZ_CHECK():
 * a payload that parses must encode back to the same bytes, and so on.
 * A failed check aborts under libFuzzer (so it is reported and minimised
 * like a crash) and is counted under FUZZ_REPLAY (so the test fails with
 * the file, line and condition).
 */
#ifndef SC_FUZZ_H
#define SC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "pki.h"

#ifndef FUZZ_REPLAY
#include <sanitizer/common_interface_defs.h>
#endif

/* Failed FUZZ_CHECKs so far (replay mode reads and resets it). */
static unsigned int fuzz_failures;

static void __attribute__((unused))
fuzz_fail(const char *file, int line, const char *what)
{
#ifndef FUZZ_REPLAY
	char msg[512];

	/*
	 * run.sh silences the harnesses' stderr (-close_fd_mask=2: the
	 * daemons' code logs a line per rejected input); the sanitizer's
	 * report descriptor is what libFuzzer keeps for crash reports.
	 */
	snprintf(msg, sizeof(msg), "fuzz property failed at %s:%d: %s",
	    file, line, what);
	__sanitizer_report_error_summary(msg);
	abort();
#else
	fprintf(stderr, "%s:%d: fuzz property failed: %s\n", file, line, what);
	fuzz_failures++;
#endif
}

/*
 * The RSA-2048 key a harness signs with (a CA, keyd, a client), made on
 * first use and never written anywhere.  One per process: the replay test
 * runs every harness in one program and keygen is its slowest step
 * (valgrind).
 */
static EVP_PKEY * __attribute__((unused))
fuzz_rsa_key(void)
{
	static EVP_PKEY *key;
	char err[256];

	if (key == NULL && (key = pki_rsa_keygen(2048, err,
	    sizeof(err))) == NULL)
		fprintf(stderr, "fuzz: RSA key: %s\n", err);
	return key;
}

#define FUZZ_CHECK(cond) do {						\
	if (!(cond))							\
		fuzz_fail(__FILE__, __LINE__, #cond);			\
} while (0)

#ifndef FUZZ_REPLAY
int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A set-up that fails is fatal: fuzzing a half-built harness proves nothing. */
#define FUZZ_MAIN(init, one)						\
int									\
LLVMFuzzerInitialize(int *argcp, char ***argvp)				\
{									\
	(void)argcp;							\
	(void)argvp;							\
	if ((init)() == -1) {						\
		fprintf(stderr, "%s: harness set-up failed\n", __FILE__); \
		exit(1);						\
	}								\
	return 0;							\
}									\
int									\
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)		\
{									\
	(void)(one)(data, size);					\
	return 0;							\
}
#endif

#endif
