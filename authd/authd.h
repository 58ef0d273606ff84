/*
 * authd.h: the authd process boundary.  Every message that crosses it is
 * listed here, with its body; both sides build and parse the bodies with
 * buf.h, and a body must be consumed exactly.
 *
 * Channels (SOCK_SEQPACKET, common/ipc.h framing):
 *  - master <-> authd: the control channel, descriptor 3 (IPC_CTL_FD) of
 *    the re-executed authd.  Master to authd: AUTHD_CTL_NEW_CHANNEL.
 *    authd to master: AUTHD_CTL_KILL_WORKER, AUTHD_CTL_AUTHENTICATED and
 *    IPC_MSG_AUDIT events (common/audit.h).  When it closes, authd exits.
 *  - worker <-> authd: one fresh socketpair per session, handed over by
 *    the master with AUTHD_CTL_NEW_CHANNEL; authd thus knows the session
 *    serial and the peer address of every request.  Worker to authd:
 *    AUTHD_REQ_REGISTER or AUTHD_REQ_LOGIN, answered with one
 *    AUTHD_RES_RESULT; after one of them succeeded, the messaging
 *    requests (CERTS, STORE, FETCH, ACK, JOIN, LEAVE, ROOMS, MEMBERS),
 *    each answered with its *_OK message.  Every answer carries the
 *    request's id.
 *
 * Per channel, authd allows REGISTER and LOGIN only until one succeeds,
 * and at most AUTHD_MAX_ATTEMPTS of them in all; the messaging requests
 * only after one succeeded, always for the account it authenticated
 * (authd remembers the user and the certificate of each channel: a
 * worker cannot speak for anyone else).  Any other message, a malformed
 * body, or a request out of state is a protocol violation: authd logs
 * it, closes the channel and asks the master to kill the worker
 * (AUTHD_CTL_KILL_WORKER).  A well-formed request that authd refuses
 * (not a member, over a limit, ...) is answered with a code and audited;
 * the channel stays.
 *
 * The RESULT never carries a hash or salt: only a code, the account id
 * and the canonical username.  Envelope bytes are stored and returned,
 * never logged or audited.
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
/* authd -> master, once per channel, when a REGISTER or LOGIN succeeds
 * (before the RESULT goes to the worker): the session is this account.
 * The master records the user for the session (audit, process title; a
 * worker that names another user is killed) and binds the session's
 * router channel to it (ROUTER_CTL_BIND, router/router.h): who a session
 * speaks for never comes from its worker.
 *	u64	session_serial
 *	u64	account_id
 *	str16	username	(canonical, sc_valid_username)
 *	32	cert_sha256	(SHA-256 of the certificate the client used)  */
#define AUTHD_CTL_AUTHENTICATED	3

/* Worker -> authd:
 *	str16	username	(as the client sent it: authd checks the
 *				 content and answers BAD_INPUT)
 *	str16	email
 *	str16	password
 *	32	cert_sha256	(SHA-256 of the client certificate's DER)
 *	str16	cert_der	(the client certificate, 1..8192 bytes)
 * authd requires SHA-256(cert_der) = cert_sha256 and a DER certificate
 * (else a violation: the worker computed both from one certificate) and,
 * unless started with -C 0, that its CN equals the canonical username
 * (BAD_INPUT, audit "certificate CN does not match username"); it binds
 * both to the new account.
 * TRANSITION: cert_der may still be absent (the body ends after
 * cert_sha256), as the worker of issue 3 sends it; then only the
 * fingerprint is bound and the CN is not checked.  That form will be
 * refused once every worker sends the certificate.  */
#define AUTHD_REQ_REGISTER	0x10
/* Worker -> authd:
 *	str16	username
 *	str16	password
 *	32	cert_sha256
 *	str16	cert_der	(optional as for REGISTER; checked alike)
 * Unless authd runs with -C 0, the certificate must be bound to the
 * account, else AUTH_FAIL (audit "certificate not bound").  An account
 * with no certificate bound at all (imported with `sc-admin user
 * import-legacy`) binds the one of its first successful login (its CN
 * must then equal the username when cert_der is given).  A bound
 * certificate whose DER authd does not know yet (bound by fingerprint
 * under schema version 1) gets it from cert_der, so that others can
 * encrypt to it.  */
#define AUTHD_REQ_LOGIN		0x11
/* authd -> worker, answer to either request (same request id):
 *	u16	code		(AUTHD_RES_*: 0 or a docs/PROTOCOL.md code)
 *	u64	account_id	(0 unless code is AUTHD_RES_OK)
 *	str16	username	(canonical form; empty unless AUTHD_RES_OK)  */
#define AUTHD_RES_RESULT	0x12

/*
 * ---- Messaging requests (issue 5; docs/ARCHITECTURE.md "Messaging") ----
 * Allowed only once the channel's REGISTER or LOGIN succeeded, and always
 * on behalf of that account ("the channel's user").  Each is answered
 * with the message listed, same request id; `code` is AUTHD_RES_OK or one
 * of the refusal codes given (docs/PROTOCOL.md §5 codes only), and the
 * other fields are empty (0, "") unless code is OK.  Any refusal is also
 * an audit event (never with the envelope bytes).
 */
/* Worker -> authd: the certificates to encrypt to.
 *	str16	name	a username (any account), or a room ("#name") the
 *			channel's user is a member of
 * -> AUTHD_RES_CERTS: every certificate bound to that user, or to every
 * member of the room (the channel's user included), whose DER authd
 * knows, ordered by username then binding time:
 *	u16	code	BAD_INPUT: not a valid name, no such user, no such
 *			room or not a member of it; TOO_LARGE: more than
 *			AUTHD_CERTS_MAX certificates, or they do not fit
 *			one IPC message (a partial list is never sent: a
 *			sender would leave someone out unknowingly)
 *	u8	n	0..AUTHD_CERTS_MAX
 *	n times:
 *	  str16	username
 *	  str16	cert_der  */
#define AUTHD_REQ_CERTS		0x20
#define AUTHD_RES_CERTS		0x21
/* Worker -> authd: store an envelope (docs/MESSAGING.md) for delivery.
 *	str32	envelope	(at most IPC_MAX_BODY - 4 bytes on the wire)
 * -> AUTHD_RES_STORE:
 *	u16	code
 *	u64	envelope_id	the message id (increasing; FETCH and ACK
 *				use it, the router passes it on)
 * authd parses the envelope (envelope_peek, no keys) and checks, in order
 * (the database is read once for all of them, before the rate: a direct
 * message that names no other user is refused without taking a token):
 *  - size: over ENV_MAX_LEN, or a field over its cap: TOO_LARGE; not an
 *    envelope: PROTOCOL (VERSION for another envelope version);
 *  - the sender is the channel's user and the sender certificate is the
 *    one the channel logged in with (bound to the user unless -C 0):
 *    BAD_INPUT;
 *  - the user's message rate (token bucket, -M per second, bursts of
 *    -B, shared by every node through the database): RATE_LIMITED;
 *  - a direct message names exactly one user other than the sender and
 *    every entry's certificate is bound to the user it names (the
 *    sender's own other certificates may be listed): BAD_INPUT;
 *  - a room message: the room exists and the sender is a member; every
 *    entry names a member and a certificate bound to that member; every
 *    certificate (with a known DER) of every other member is listed.
 *    The sender's own certificates may be listed or not (its other
 *    devices), each must be bound: BAD_INPUT;
 *  - every recipient's queue (undelivered messages) is below -Q:
 *    RATE_LIMITED ("recipient queue full": the sender may try later);
 * then one transaction stores the envelope and one queue row per distinct
 * recipient user other than the sender (a copy listed for the sender's
 * own devices is not queued for it), to expire after -E days.  */
#define AUTHD_REQ_STORE		0x22
#define AUTHD_RES_STORE		0x23
/* Worker -> authd: the channel's user's next undelivered message.
 *	u64	after_id	0 for the first
 * -> AUTHD_RES_FETCH: the queued (state 0, not expired) message with the
 * smallest id above after_id, one per request:
 *	u16	code
 *	u8	present		0: none left (id 0, empty fields)
 *	u64	envelope_id
 *	str16	sender		its sender's username
 *	str32	envelope  */
#define AUTHD_REQ_FETCH		0x24
#define AUTHD_RES_FETCH		0x25
/* Worker -> authd: the channel's user got or read a message.
 *	u64	envelope_id
 *	u8	state		AUTHD_ST_DELIVERED or AUTHD_ST_READ
 * -> AUTHD_RES_ACK:
 *	u16	code		BAD_INPUT: no such message for this user,
 *				or a state other than 1 and 2
 *	str16	original_sender	(to tell through the router)
 * The state only moves forward: an ACK at or below the current state
 * changes nothing and is answered OK.  A delivered message is never
 * fetched again.  */
#define AUTHD_REQ_ACK		0x26
#define AUTHD_RES_ACK		0x27
/* Worker -> authd: join a room, created by its first JOIN.
 *	str16	room		'#' and 1..31 of [a-z0-9_.-], the first a
 *				letter or digit (envelope_valid_room)
 * -> AUTHD_RES_CODE: u16 code: BAD_INPUT (not a room name), TOO_LARGE
 * (the room has -S members, or the user is in AUTHD_ROOMS_MAX rooms).
 * Joining a room one is in is OK.  */
#define AUTHD_REQ_JOIN		0x28
/* Worker -> authd: leave a room; the last member's leaving deletes it.
 *	str16	room
 * -> AUTHD_RES_CODE: u16 code: BAD_INPUT (not a room name, or not a
 * member).  */
#define AUTHD_REQ_LEAVE		0x29
/* authd -> worker, the answer to JOIN and LEAVE:
 *	u16	code  */
#define AUTHD_RES_CODE		0x2a
/* Worker -> authd: the rooms of the channel's user.  Body: empty.
 * -> AUTHD_RES_ROOMS:
 *	u16	code
 *	u16	n		0..AUTHD_ROOMS_MAX
 *	n times: str16 room	(in byte order)  */
#define AUTHD_REQ_ROOMS		0x2b
#define AUTHD_RES_ROOMS		0x2c
/* Worker -> authd: who is in a room (members only).
 *	str16	room
 * -> AUTHD_RES_MEMBERS:
 *	u16	code		BAD_INPUT: not a room name, no such room,
 *				or not a member
 *	u16	n		1..AUTHD_ROOM_SIZE_MAX
 *	n times: str16 username	(in byte order)  */
#define AUTHD_REQ_MEMBERS	0x2d
#define AUTHD_RES_MEMBERS	0x2e

/* Delivery states (the deliveries.state column). */
#define AUTHD_ST_QUEUED		0
#define AUTHD_ST_DELIVERED	1
#define AUTHD_ST_READ		2

/* Result codes: the protocol's error codes (common/proto.h), 0 for OK. */
#define AUTHD_RES_OK		0
#define AUTHD_RES_AUTH_FAIL	SC_E_AUTH_FAIL		/* 6 */
#define AUTHD_RES_USER_EXISTS	SC_E_USER_EXISTS	/* 7 */
#define AUTHD_RES_RATE_LIMITED	SC_E_RATE_LIMITED	/* 8 */
#define AUTHD_RES_INTERNAL	SC_E_INTERNAL		/* 10 */
#define AUTHD_RES_UNAVAILABLE	SC_E_UNAVAILABLE	/* 11 */
#define AUTHD_RES_REG_CLOSED	SC_E_REG_CLOSED		/* 14 */
#define AUTHD_RES_BAD_INPUT	SC_E_BAD_INPUT		/* 15 */
/* Messaging refusals use these too: */
#define AUTHD_RES_PROTOCOL	SC_E_PROTOCOL		/* 1: not an envelope */
#define AUTHD_RES_TOO_LARGE	SC_E_TOO_LARGE		/* 9 */
#define AUTHD_RES_VERSION	SC_E_VERSION		/* 12 */

#define AUTHD_CERT_FP_LEN	32
#define AUTHD_ADDR_MAX		64	/* textual address of the client */
#define AUTHD_FIELD_MAX		0xffff	/* str16; the content rules are
					 * checked after parsing (BAD_INPUT) */
/* REGISTER/LOGIN requests per channel (successful or not). */
#define AUTHD_MAX_ATTEMPTS	3
/* Open worker channels; beyond it new channels are refused. */
#define AUTHD_MAX_CHANNELS	1024
/* A client certificate, DER (as in the hello, PROTOCOL.md §2.1). */
#define AUTHD_CERT_DER_MAX	8192
/* Certificates in one CERTS answer: the envelope's recipient limit. */
#define AUTHD_CERTS_MAX		64
/* Rooms one user may be in (so that ROOMS fits one message). */
#define AUTHD_ROOMS_MAX		256
/* Room names: '#' and 1..31 characters (MESSAGING.md §2). */
#define AUTHD_ROOM_MAX		32
/* -S may not exceed it: a room message lists at most 64 certificates. */
#define AUTHD_ROOM_SIZE_MAX	64

/* Defaults for authd's options. */
#define AUTHD_USER		"_securechat-auth"
#define AUTHD_JAIL		"/var/empty"
#define AUTHD_MAXFAIL		5	/* -F: failures per window ... */
#define AUTHD_WINDOW		900	/* -W: ... of this many seconds */
#define AUTHD_MSG_RATE		5	/* -M: messages per second per user */
#define AUTHD_MSG_BURST		20	/* -B: ... in bursts of this many */
#define AUTHD_QUEUE_MAX		10000	/* -Q: undelivered per recipient */
#define AUTHD_ROOM_SIZE		32	/* -S: members per room */
#define AUTHD_RETENTION		30	/* -E: days a stored message is kept */

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
	int		 cert_strict;	/* -C: CN = username, bound certs */
	unsigned int	 msg_rate;	/* -M */
	unsigned int	 msg_burst;	/* -B */
	unsigned int	 queue_max;	/* -Q */
	unsigned int	 room_size;	/* -S */
	unsigned int	 retention;	/* -E, days */
};

/* Entry point of the authd process (authd/authd.c). */
int	authd_main(int argc, char **argv);

#endif
