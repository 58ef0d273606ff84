/*
 * msg.h: authd's decoders of the messages it receives (authd/msg.c).
 *
 * Each takes one received IPC message and gives a struct, or -1 when
 * the message is malformed (a protocol violation: authd kills the
 * worker).  They read nothing but the message: no database, no
 * configuration, no channel state, so that authd.c and the fuzz harness
 * (tests/fuzz/fuzz_authd.c) run the very same code.  The body layouts
 * are those of authd.h.
 *
 * Two kinds of failure are kept apart, as authd answers them: a body
 * that does not parse, or a certificate that is not the fingerprint's,
 * is malformed (-1, *why says what); a body that parses but whose
 * content breaks a rule (a username that is not one, a room name that
 * is not one, an unknown delivery state) decodes with `bad` set to the
 * reason, and authd answers BAD_INPUT.  Pointers in the structs point
 * into the message body: the message must outlive the struct, and both
 * hold the password of a REGISTER or LOGIN (wipe both).
 */
#ifndef SC_AUTHD_MSG_H
#define SC_AUTHD_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "authd.h"
#include "ipc.h"

/* The commonName a REGISTER or LOGIN certificate may carry, with NUL. */
#define AUTHD_CN_MAX		128

/* REGISTER and LOGIN. */
struct authd_req_auth {
	const uint8_t	*user;
	size_t		 userlen;
	const uint8_t	*email;		/* REGISTER only */
	size_t		 emaillen;
	const uint8_t	*pw;
	size_t		 pwlen;
	uint8_t		 cert_fp[AUTHD_CERT_FP_LEN];
	const uint8_t	*der;		/* NULL: absent (see authd.h) */
	size_t		 derlen;
	/* The certificate's single commonName ("" when none or several). */
	char		 cn[AUTHD_CN_MAX];
	/* Unless bad: the canonical username, and the email (REGISTER). */
	char		 canon[ACCOUNT_USER_MAX + 1];
	char		 email_str[ACCOUNT_EMAIL_MAX + 1];
};

/* Any request from a worker, by its type. */
struct authd_req {
	uint16_t	 type;
	const char	*bad;		/* NULL, or why the content is refused */
	union {
		struct authd_req_auth	auth;	/* REGISTER, LOGIN */
		struct {			/* CERTS */
			int	is_room;	/* a room, else a user */
			char	user[ACCOUNT_USER_MAX + 1];
			char	room[AUTHD_ROOM_MAX + 1];
		} certs;
		struct {			/* STORE */
			const uint8_t	*env;
			size_t		 envlen;
		} store;
		struct {			/* FETCH */
			uint64_t	 after;
		} fetch;
		struct {			/* ACK */
			uint64_t	 env_id;
			uint8_t		 state;
		} ack;
		struct {			/* JOIN, LEAVE, MEMBERS */
			char	room[AUTHD_ROOM_MAX + 1];
		} room;
	} u;
};

/*
 * Decode a request of any type authd.h lists (ROOMS has an empty body).
 * Returns 0, or -1 for an unknown type or a malformed body, with *why.
 */
int	authd_req_decode(const struct ipc_msg *, struct authd_req *,
	    const char **why);

/* Master -> authd: AUTHD_CTL_NEW_CHANNEL, with its descriptor. */
struct authd_ctl_new {
	uint64_t	 serial;
	char		 addr[AUTHD_ADDR_MAX + 1];
	int		 fd;
};
/* Returns 0, or -1 (another type, a bad body or address, no fd). */
int	authd_ctl_decode(const struct ipc_msg *, struct authd_ctl_new *);

/*
 * The content rules, for the decoders and the harness: a printable
 * peer address; a password of any bytes but NUL; a room name ('#' and
 * 1..31 name characters) into room.
 */
int	authd_addr_ok(const uint8_t *, size_t);
int	authd_password_bytes_ok(const uint8_t *, size_t);
int	authd_room_arg(const uint8_t *, size_t, char room[AUTHD_ROOM_MAX + 1]);

#endif
