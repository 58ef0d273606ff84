/*
 * proto.h: the SecureChat v1 wire protocol (docs/PROTOCOL.md): framing on a
 * TCP socket, the clear handshake messages, the record layout and the
 * plaintext bodies carried inside records.
 *
 * Encoders append to a struct wbuf; parsers take a byte range, must consume
 * it exactly and return 0 or the protocol error code to answer with
 * (SC_E_PROTOCOL for a malformed payload, SC_E_TOO_LARGE for a length field
 * over its limit).  Parsed structs point into the parsed bytes (no copies),
 * so they live as long as those bytes.  Content rules that are not framing
 * (username alphabet, e-mail shape, UTF-8) are separate sc_valid_*()
 * checks; their failure is answered with SC_E_BAD_INPUT.
 */
#ifndef SC_PROTO_H
#define SC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Frame header. */
#define SC_MAGIC0		0x53	/* 'S' */
#define SC_MAGIC1		0x43	/* 'C' */
#define SC_PROTO_VERSION	1
#define SC_HDR_LEN		8
#define SC_MAX_PAYLOAD		65536

/* Frame types. */
#define SC_T_CLIENT_HELLO	0x01
#define SC_T_SERVER_HELLO	0x02
#define SC_T_CLIENT_FINISH	0x03
#define SC_T_REGISTER		0x20
#define SC_T_LOGIN		0x21
#define SC_T_AUTH_OK		0x22
#define SC_T_CHAT		0x30
#define SC_T_CLOSE		0x31
#define SC_T_CLOSE_ACK		0x32
/* Messaging (PROTOCOL.md §8): records, phase 2. */
#define SC_T_SEND		0x40	/* C2S: an envelope for others */
#define SC_T_SENT		0x41	/* S2C: SEND stored (or refused) */
#define SC_T_DELIVER		0x42	/* S2C: an envelope for us */
#define SC_T_ACK		0x43	/* C2S: delivered / read */
#define SC_T_STATUS		0x44	/* S2C: a recipient's ACK */
#define SC_T_REQUEST		0x45	/* C2S: certs, rooms, who */
#define SC_T_REPLY		0x46	/* S2C: answer to a REQUEST */
#define SC_T_ERROR		0x7f

/* Error codes of ERROR frames (and of every parse/check in this library). */
#define SC_E_PROTOCOL		1
#define SC_E_BAD_CERT		2
#define SC_E_SIG_FAIL		3
#define SC_E_REPLAY		4
#define SC_E_STALE		5
#define SC_E_AUTH_FAIL		6
#define SC_E_USER_EXISTS	7
#define SC_E_RATE_LIMITED	8
#define SC_E_TOO_LARGE		9
#define SC_E_INTERNAL		10
#define SC_E_UNAVAILABLE	11
#define SC_E_VERSION		12
#define SC_E_TIMEOUT		13
#define SC_E_REG_CLOSED		14
#define SC_E_BAD_INPUT		15
#define SC_E_MAX		15

/* Record directions and key phases. */
#define SC_DIR_C2S		1
#define SC_DIR_S2C		2
#define SC_PHASE_TEMP		1
#define SC_PHASE_SESSION	2

/* Fixed sizes. */
#define SC_NONCE_LEN		32
#define SC_SESSION_ID_LEN	16
#define SC_KEX_LEN		32	/* X25519 public value */
#define SC_IV_LEN		16
#define SC_AES_KEY_LEN		16
#define SC_SHA256_LEN		32

/* Limits. */
#define SC_MAX_CERT		8192	/* DER certificate in a hello */
#define SC_MAX_SIG		512	/* RSA-4096 at most */
#define SC_MIN_RSA_BITS		2048
#define SC_MAX_REASON		256	/* ERROR reason */
/* Record ciphertext: at most 65536 - 40 - 514, a multiple of 16. */
#define SC_MAX_CT		((SC_MAX_PAYLOAD - 40 - 514) / 16 * 16)
#define SC_MIN_USERNAME		1
#define SC_MAX_USERNAME		32
#define SC_MIN_EMAIL		3
#define SC_MAX_EMAIL		254
#define SC_MIN_PASSWORD		8
#define SC_MAX_PASSWORD		1024
#define SC_MAX_TEXT		4096	/* CHAT text, bytes of UTF-8 */
#define SC_STALE_DEFAULT_MS	120000	/* record timestamp window */

/* Receipt roles. */
#define SC_ROLE_CLIENT		1
#define SC_ROLE_SERVER		2

/* Ciphertext length of an n-byte plaintext (PKCS#7 always pads). */
#define SC_CT_LEN(n)		(((n) / 16 + 1) * 16)

/* ---- Framing ---- */

struct sc_frame {
	uint8_t	 type;
	uint8_t	*payload;	/* malloc'd, len bytes; NULL when len is 0 */
	size_t	 len;
};

/*
 * Read one frame from a blocking descriptor; timeout_ms bounds the whole
 * frame (header and payload together, so a peer cannot trickle bytes), -1
 * waits forever.  The header is checked (magic, version, known type,
 * length <= SC_MAX_PAYLOAD) before the payload is allocated or read.
 * Returns 1 with a frame, 0 when the peer closed cleanly before a header,
 * -1 on failure with *errcode set to the SC_E_* code to answer with
 * (TOO_LARGE, PROTOCOL, VERSION, TIMEOUT), or 0 when nothing can be
 * answered (I/O error, connection lost mid-frame; errno says why).
 */
int	sc_frame_read(int fd, int timeout_ms, struct sc_frame *, int *errcode);
void	sc_frame_free(struct sc_frame *);
/* Write one frame (header and payload in one go); -1 on error/timeout. */
int	sc_frame_write(int fd, int timeout_ms, uint8_t type, const void *,
	    size_t);

/* ERROR frames: u16 code, str16 reason (printable ASCII, <= 256 bytes). */
int	sc_error_encode(struct wbuf *, int code, const char *reason);
/* Send an ERROR frame; reason is cut to 256 bytes, non-printables -> '?'. */
int	sc_error_send(int fd, int timeout_ms, int code, const char *reason);
/*
 * Parse an ERROR payload.  reason (reasonsz >= SC_MAX_REASON + 1) receives
 * a NUL-terminated copy with every non-printable byte replaced by '?', so
 * a hostile peer cannot put terminal escapes on a user's screen.
 */
int	sc_error_parse(const uint8_t *, size_t, uint16_t *code, char *reason,
	    size_t reasonsz);
/* "PROTOCOL", "SIG_FAIL", ...; "UNKNOWN" for a code outside the table. */
const char *sc_err_name(int code);
/* "CLIENT_HELLO", "CHAT", ...; "UNKNOWN" otherwise. */
const char *sc_type_name(int type);
/* 1 if type is one of the frame types of the table, else 0. */
int	sc_type_known(int type);

/* ---- Handshake ---- */

struct sc_client_hello {
	uint8_t		 min_version;
	uint8_t		 max_version;
	uint8_t		 client_nonce[SC_NONCE_LEN];
	uint8_t		 client_kex[SC_KEX_LEN];
	const uint8_t	*cert;		/* DER */
	size_t		 certlen;
};

struct sc_server_hello {
	uint8_t		 version;
	uint8_t		 server_nonce[SC_NONCE_LEN];
	uint8_t		 session_id[SC_SESSION_ID_LEN];
	uint8_t		 server_kex[SC_KEX_LEN];
	const uint8_t	*cert;		/* DER */
	size_t		 certlen;
	const uint8_t	*sig;		/* absent (NULL, 0) in the core */
	size_t		 siglen;
};

int	sc_ch_encode(struct wbuf *, const struct sc_client_hello *);
int	sc_ch_parse(const uint8_t *, size_t, struct sc_client_hello *);
/* Version chosen for a CLIENT_HELLO's range: SC_PROTO_VERSION or 0. */
int	sc_version_choose(const struct sc_client_hello *);
/* SERVER_HELLO core (every field but server_sig): the bytes H1 covers. */
int	sc_sh_core_encode(struct wbuf *, const struct sc_server_hello *);
/* Full SERVER_HELLO: core then str16 server_sig. */
int	sc_sh_encode(struct wbuf *, const struct sc_server_hello *);
int	sc_sh_core_parse(const uint8_t *, size_t, struct sc_server_hello *);
/* Full SERVER_HELLO; *corelenp is the length of the core prefix. */
int	sc_sh_parse(const uint8_t *, size_t, struct sc_server_hello *,
	    size_t *corelenp);
int	sc_cf_encode(struct wbuf *, const uint8_t *sig, size_t siglen);
int	sc_cf_parse(const uint8_t *, size_t, const uint8_t **sigp,
	    size_t *siglenp);

/* ---- Records ---- */

struct sc_record {
	uint64_t	 seq;
	uint64_t	 ts;
	const uint8_t	*iv;		/* SC_IV_LEN bytes */
	const uint8_t	*ct;
	size_t		 ctlen;
	const uint8_t	*sig;
	size_t		 siglen;
};

/* Key phase of a record type (1 or 2); 0 if type is not a record type. */
int	sc_record_phase(int type);
/* 1 if a record of this type may travel in direction dir, else 0. */
int	sc_record_dir_ok(int type, int dir);
/* 1 if records of this type are logged in transcripts (phase 2 but CLOSE*). */
int	sc_record_in_transcript(int type);
/* Largest plaintext of a record type (0 if not a record type). */
size_t	sc_record_max_pt(int type);
int	sc_record_encode(struct wbuf *, const struct sc_record *);
/* Checks ct is 16..SC_MAX_CT bytes and a multiple of 16, sig 1..512. */
int	sc_record_parse(const uint8_t *, size_t, struct sc_record *);

/* ---- Plaintext bodies ---- */

struct sc_register {
	const uint8_t	*username;	size_t ulen;
	const uint8_t	*email;		size_t elen;
	const uint8_t	*password;	size_t plen;
	uint8_t		 kex2[SC_KEX_LEN];
};

struct sc_login {
	const uint8_t	*username;	size_t ulen;
	const uint8_t	*password;	size_t plen;
	uint8_t		 kex2[SC_KEX_LEN];
};

struct sc_auth_ok {
	uint64_t	 account_id;
	const uint8_t	*username;	size_t ulen;
	uint8_t		 kex2[SC_KEX_LEN];
};

struct sc_receipt {
	uint8_t		 session_id[SC_SESSION_ID_LEN];	/* not on the wire */
	uint8_t		 role;
	uint64_t	 first_seq;
	uint64_t	 last_seq;
	uint8_t		 transcript_sha256[SC_SHA256_LEN];
	uint8_t		 peer_fp[SC_SHA256_LEN];
	uint8_t		 sig[SC_MAX_SIG];
	size_t		 siglen;
};

int	sc_register_encode(struct wbuf *, const struct sc_register *);
int	sc_register_parse(const uint8_t *, size_t, struct sc_register *);
int	sc_login_encode(struct wbuf *, const struct sc_login *);
int	sc_login_parse(const uint8_t *, size_t, struct sc_login *);
int	sc_auth_ok_encode(struct wbuf *, const struct sc_auth_ok *);
int	sc_auth_ok_parse(const uint8_t *, size_t, struct sc_auth_ok *);
int	sc_chat_encode(struct wbuf *, const uint8_t *text, size_t len);
int	sc_chat_parse(const uint8_t *, size_t, const uint8_t **textp,
	    size_t *lenp);
/* Receipt body of CLOSE / CLOSE_ACK (session_id is implicit). */
int	sc_receipt_encode(struct wbuf *, const struct sc_receipt *);
int	sc_receipt_parse(const uint8_t *, size_t, struct sc_receipt *);

/*
 * Content checks (1 if acceptable, 0 if not): see PROTOCOL.md §3.5.
 * sc_valid_username accepts the canonical (lower-case) form only; the
 * server folds ASCII upper case first (common/account.h).
 */
int	sc_valid_username(const uint8_t *, size_t);
int	sc_valid_email(const uint8_t *, size_t);
int	sc_valid_password(const uint8_t *, size_t);
/* 1..4096 bytes of well-formed UTF-8 without control characters but TAB. */
int	sc_valid_text(const uint8_t *, size_t);

/* ---- Messaging bodies (PROTOCOL.md §8) ---- */

/* Largest envelope carried (docs/MESSAGING.md §5: 50074 bytes). */
#define SC_MAX_ENVELOPE		51200
/* Largest plaintext of any record: its ciphertext must fit SC_MAX_CT. */
#define SC_MAX_RECORD_PT	(SC_MAX_CT - 1)
#define SC_MAX_REPLY_ITEMS	64
#define SC_MAX_REPLY_DATA	8192	/* a certificate */

/* ACK and STATUS states. */
#define SC_ST_DELIVERED		1
#define SC_ST_READ		2

/* REQUEST operations. */
#define SC_OP_CERTS		1	/* arg: user or #room; items: name, DER */
#define SC_OP_JOIN		2	/* arg: #room; no items */
#define SC_OP_LEAVE		3	/* arg: #room; no items */
#define SC_OP_WHO		4	/* arg: empty; items: online users */
#define SC_OP_ROOMS		5	/* arg: empty; items: my rooms */
#define SC_OP_MEMBERS		6	/* arg: #room; items: members */
#define SC_OP_SYNC		7	/* arg: empty; no items: see §8, closing */
#define SC_OP_MAX		7

struct sc_send {
	uint32_t	 ref;		/* chosen by the client, echoed in SENT */
	const uint8_t	*env;
	size_t		 envlen;
};

struct sc_sent {
	uint32_t	 ref;
	uint16_t	 code;		/* 0 or an SC_E_* refusal */
	uint64_t	 msg_id;	/* 0 when refused */
	const uint8_t	*reason;	/* printable ASCII */
	size_t		 reasonlen;
};

struct sc_deliver {
	uint64_t	 msg_id;
	const uint8_t	*env;
	size_t		 envlen;
};

struct sc_ack {
	uint64_t	 msg_id;
	uint8_t		 state;
};

struct sc_status {
	uint64_t	 msg_id;
	const uint8_t	*by_user;
	size_t		 by_userlen;
	uint8_t		 state;
};

struct sc_request {
	uint32_t	 ref;
	uint8_t		 op;
	const uint8_t	*arg;		/* user, #room or empty */
	size_t		 arglen;
};

struct sc_reply_item {
	const uint8_t	*name;
	size_t		 namelen;
	const uint8_t	*data;		/* DER for CERTS, else empty */
	size_t		 datalen;
};

struct sc_reply {
	uint32_t	 ref;
	uint8_t		 op;
	uint16_t	 code;
	uint16_t	 n;
	struct sc_reply_item item[SC_MAX_REPLY_ITEMS];
};

int	sc_send_encode(struct wbuf *, const struct sc_send *);
int	sc_send_parse(const uint8_t *, size_t, struct sc_send *);
int	sc_sent_encode(struct wbuf *, const struct sc_sent *);
int	sc_sent_parse(const uint8_t *, size_t, struct sc_sent *);
int	sc_deliver_encode(struct wbuf *, const struct sc_deliver *);
int	sc_deliver_parse(const uint8_t *, size_t, struct sc_deliver *);
int	sc_ack_encode(struct wbuf *, const struct sc_ack *);
int	sc_ack_parse(const uint8_t *, size_t, struct sc_ack *);
int	sc_status_encode(struct wbuf *, const struct sc_status *);
int	sc_status_parse(const uint8_t *, size_t, struct sc_status *);
int	sc_request_encode(struct wbuf *, const struct sc_request *);
int	sc_request_parse(const uint8_t *, size_t, struct sc_request *);
/* Items are appended by the caller after sc_reply_encode_head(). */
int	sc_reply_encode_head(struct wbuf *, uint32_t ref, uint8_t op,
	    uint16_t code, uint16_t n);
int	sc_reply_encode_item(struct wbuf *, const uint8_t *name, size_t,
	    const uint8_t *data, size_t);
int	sc_reply_parse(const uint8_t *, size_t, struct sc_reply *);

#endif
