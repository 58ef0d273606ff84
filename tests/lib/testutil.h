/*
 * testutil.h: helpers for the cmocka test programs: run a real program and
 * capture what it printed, temporary directories, paths to built binaries.
 */
#ifndef SC_TESTUTIL_H
#define SC_TESTUTIL_H

#include <stddef.h>

struct tu_result {
	int	 status;	/* exit code, or 128+signal */
	char	*out;		/* stdout, NUL-terminated */
	char	*err;		/* stderr, NUL-terminated */
};

/*
 * Run argv (argv[0] is looked up in PATH unless it contains '/') with
 * optional stdin text; waits at most timeout_s seconds (then SIGKILL and
 * status 137).
 */
int	 tu_run(struct tu_result *, const char *input, int timeout_s,
	    const char *const argv[]);
/* Same with a printf-built shell command line run by /bin/sh -c. */
int	 tu_sh(struct tu_result *, const char *input, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 tu_result_free(struct tu_result *);
/* Fresh private temporary directory; tu_rmrf removes a tree. */
char	*tu_mkdtemp(const char *tag);
void	 tu_rmrf(const char *path);
/* Absolute path to a built program: $BUILD/bin/NAME (BUILD from env). */
const char *tu_bin(const char *name);
/* Absolute path under the source tree's root. */
const char *tu_src(const char *rel);
/* Read a whole small file (NULL on error); free() the result. */
char	*tu_read(const char *path, size_t *lenp);
int	 tu_write(const char *path, const void *, size_t);
int	 tu_contains(const char *hay, const char *needle);

#endif
