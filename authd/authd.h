/*
 * authd.h: the authd process boundary.  Every message that crosses it is
 * listed here, with its body; both sides build and parse the bodies with
 * buf.h, and a body must be consumed exactly.
 *
 * Channels (SOCK_SEQPACKET, common/ipc.h framing):
 *  - master <-> authd: the control channel, descriptor 3 (IPC_CTL_FD) of
 *    the re-executed authd.  Master to authd: AUTHD_CTL_NEW_CHANNEL.
 *    authd to master: AUTHD_CTL_KILL_WORKER and IPC_MSG_AUDIT events
 *    (common/audit.h).  When it closes, authd exits.
 *  - worker <-> authd: one fresh socketpair per session, handed over by
 *    the master with AUTHD_CTL_NEW_CHANNEL; authd thus knows the session
 *    serial and the peer address of every request.  Worker to authd:
 *    AUTHD_REQ_REGISTER or AUTHD_REQ_LOGIN; authd answers each with one
 *    AUTHD_RES_RESULT carrying the same request id.
 *
 * Per channel, authd allows REGISTER and LOGIN only until one succeeds,
 * and at most AUTHD_MAX_ATTEMPTS of them in all.  Any other message, a
 * malformed body, or a request out of state is a protocol violation:
 * authd logs it, closes the channel and asks the master to kill the
 * worker (AUTHD_CTL_KILL_WORKER).
 *
 * The RESULT never carries a hash or salt: only a code, the account id
 * and the canonical username.
 */
#ifndef SC_AUTHD_H
#define SC_AUTHD_H

#include <stdint.h>

#include "proto.h"

/* Master -> authd, with the worker's channel end attached (SCM_RIGHTS):
 *	u64	session_serial
 *	str16	peer_addr	(printable, at most AUTHD_ADDR_MAX bytes,
 *				 e.g. "192.0.2.7" or "2001:db8::1")  */
#define AUTHD_CTL_NEW_CHANNEL	1
/* authd -> master: that worker broke the protocol; kill it.
 *	u64	session_serial  */
#define AUTHD_CTL_KILL_WORKER	2

/* Worker -> authd:
 *	str16	username	(as the client sent it: authd checks the
 *				 content and answers BAD_INPUT)
 *	str16	email
 *	str16	password
 *	32	cert_sha256	(SHA-256 of the client certificate's DER)  */
#define AUTHD_REQ_REGISTER	0x10
/* Worker -> authd:
 *	str16	username
 *	str16	password
 *	32	cert_sha256  */
#define AUTHD_REQ_LOGIN		0x11
/* authd -> worker, answer to either request (same request id):
 *	u16	code		(AUTHD_RES_*: 0 or a docs/PROTOCOL.md code)
 *	u64	account_id	(0 unless code is AUTHD_RES_OK)
 *	str16	username	(canonical form; empty unless AUTHD_RES_OK)  */
#define AUTHD_RES_RESULT	0x12

/* Result codes: the protocol's error codes (common/proto.h), 0 for OK. */
#define AUTHD_RES_OK		0
#define AUTHD_RES_AUTH_FAIL	SC_E_AUTH_FAIL		/* 6 */
#define AUTHD_RES_USER_EXISTS	SC_E_USER_EXISTS	/* 7 */
#define AUTHD_RES_RATE_LIMITED	SC_E_RATE_LIMITED	/* 8 */
#define AUTHD_RES_INTERNAL	SC_E_INTERNAL		/* 10 */
#define AUTHD_RES_UNAVAILABLE	SC_E_UNAVAILABLE	/* 11 */
#define AUTHD_RES_REG_CLOSED	SC_E_REG_CLOSED		/* 14 */
#define AUTHD_RES_BAD_INPUT	SC_E_BAD_INPUT		/* 15 */

#define AUTHD_CERT_FP_LEN	32
#define AUTHD_ADDR_MAX		64	/* textual address of the client */
#define AUTHD_FIELD_MAX		0xffff	/* str16; the content rules are
					 * checked after parsing (BAD_INPUT) */
/* REGISTER/LOGIN requests per channel (successful or not). */
#define AUTHD_MAX_ATTEMPTS	3
/* Open worker channels; beyond it new channels are refused. */
#define AUTHD_MAX_CHANNELS	1024

/* Defaults for authd's options. */
#define AUTHD_USER		"_securechat-auth"
#define AUTHD_JAIL		"/var/empty"
#define AUTHD_MAXFAIL		5	/* -F: failures per window ... */
#define AUTHD_WINDOW		900	/* -W: ... of this many seconds */

struct authd_conf {
	const char	*dbconf_path;	/* -D */
	const char	*user;		/* -u */
	const char	*jail;		/* -j */
	int		 foreground;	/* -d */
	int		 verbose;	/* -v */
	unsigned int	 log2n;		/* -N */
	unsigned int	 r;		/* -r */
	unsigned int	 p;		/* -p */
	int		 reg_open;	/* -R */
	unsigned int	 maxfail;	/* -F */
	unsigned int	 window;	/* -W */
};

/* Entry point of the authd process (authd/authd.c). */
int	authd_main(int argc, char **argv);

#endif
