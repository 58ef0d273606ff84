/*
 * fakeauthd.h: a stand-in authd for tests of the master.  A test program
 * names itself in the configuration's authd_path; the master then runs
 * it as "authd" (argv[0]) with its control channel on IPC_CTL_FD, and
 * its main() hands over to fa_run().  fa_run() keeps the channels the
 * master passes (AUTHD_CTL_NEW_CHANNEL) and calls the test's hooks; what
 * it answers is the test's choice, so a test can play an honest authd or
 * a lying one.
 *
 * It runs in a child of the daemon, not under cmocka: no assertions,
 * every failure ends the process (the master logs it).
 */
#ifndef SC_TU_FAKEAUTHD_H
#define SC_TU_FAKEAUTHD_H

#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

struct fa_hooks {
	/* A new channel for session serial.  0, or -1 to stop. */
	int	(*channel)(uint64_t serial);
	/*
	 * A request m from the worker of session serial on its channel fd.
	 * 0, or -1 to stop.
	 */
	int	(*request)(int fd, uint64_t serial, const struct ipc_msg *m);
};

/* Serve until the master goes (0) or a hook or the channel fails (1). */
int	fa_run(const struct fa_hooks *);
/*
 * Tell the master session serial is authenticated as user (account 42,
 * a zero certificate fingerprint): AUTHD_CTL_AUTHENTICATED.  0 or -1.
 */
int	fa_authenticated(uint64_t serial, const void *user, size_t ulen);
/* Answer request id on fd: AUTHD_RES_RESULT OK, account 42, user.  0/-1. */
int	fa_login_ok(int fd, uint32_t id, const void *user, size_t ulen);

#endif
