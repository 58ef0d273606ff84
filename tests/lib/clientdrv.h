/*
 * clientdrv.h: drive a real sc-client as a person would, for integration
 * tests that need several clients at once (alice sends while bob is
 * connected): start it against a scenv installation with pipes on its
 * standard input and output, type lines, wait for what it prints, close
 * its input and collect its exit status.  scenv_client() runs a client
 * to completion instead.
 */
#ifndef SC_TU_CLIENTDRV_H
#define SC_TU_CLIENTDRV_H

#include <sys/types.h>

#include <stddef.h>

#include "scenv.h"

struct tu_client {
	pid_t	 pid;
	int	 in;		/* its standard input (-1 once closed) */
	int	 out;		/* its standard output */
	int	 err;		/* its standard error */
	char	*obuf;		/* everything printed on stdout so far */
	size_t	 olen, ocap;
	char	*ebuf;		/* and on stderr */
	size_t	 elen, ecap;
	size_t	 seen;		/* tc_expect() matched up to here */
	int	 status;	/* exit status once reaped, else -1 */
};

/*
 * Start sc-client as the holder of certificate `who` (scenv's CA dir),
 * with scenv's state directory, the password as its first input line and
 * args the subcommand ("login --username bob").  0 or -1.
 */
int	tc_start(struct tu_client *, struct scenv *, const char *who,
	    const char *password, const char *args);
/* Same, with its own state directory (NULL: scenv's). */
int	tc_start_dir(struct tu_client *, struct scenv *, const char *who,
	    const char *password, const char *args, const char *state_dir);
/* Type one line (a newline is added).  0 or -1. */
int	tc_send(struct tu_client *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * Wait at most timeout_ms for needle to appear on its stdout after what
 * the previous tc_expect() matched; 1 when it did (and it is consumed),
 * 0 on timeout or when the client exited without printing it.
 */
int	tc_expect(struct tu_client *, const char *needle, int timeout_ms);
/* Read what is available within timeout_ms without looking for anything. */
void	tc_pump(struct tu_client *, int timeout_ms);
/* End of input: the client finishes what is under way and closes. */
void	tc_close_input(struct tu_client *);
/*
 * Wait at most timeout_s for it to exit (SIGKILL after that); its exit
 * status, 128+signal when killed.
 */
int	tc_wait(struct tu_client *, int timeout_s);
/* Kill it if it still runs, reap it and free everything. */
void	tc_free(struct tu_client *);

#endif
