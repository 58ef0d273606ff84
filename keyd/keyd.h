/*
 * keyd.h: the boundary of the key daemon.  Every message that crosses it
 * is listed here, with its body; the enum doubles as the documentation of
 * what keyd accepts and when (docs/ARCHITECTURE.md "keyd").
 *
 * keyd holds the server's RSA private key and nothing else.  It signs only
 * the statements of docs/PROTOCOL.md, which it builds itself from the
 * fields a worker sends and from the state of that worker's channel: its
 * own nonce and session id, direction server->client, the next seq.
 *
 * All bodies are encoded with buf.h (big-endian, str16/str32 length
 * prefixes) and must be consumed exactly.  Every reply echoes the
 * request's id.
 */
#ifndef SC_KEYD_H
#define SC_KEYD_H

#include <stdint.h>

#include <openssl/evp.h>

#include "proto.h"

/* ---- master <-> keyd: control channel on IPC_CTL_FD ---- */
enum keyd_ctl_type {
	/*
	 * master -> keyd, with the keyd end of a fresh socketpair attached
	 * (the worker gets the other end as its keyd channel).
	 * body: u64 session_serial, str16 peer_addr (<= KEYD_MAX_PEER_ADDR)
	 */
	KEYD_CTL_NEW_CHANNEL = 1,
	/*
	 * keyd -> master: a worker's channel broke the request table and
	 * was closed; kill that worker.  body: u64 session_serial
	 */
	KEYD_CTL_KILL_WORKER = 2,
	/* keyd -> master: audit events use IPC_MSG_AUDIT (audit.h). */
};

/* ---- worker <-> keyd: one channel per session ---- */
enum keyd_req_type {
	/*
	 * Once, first.  body: empty.
	 * reply KEYD_NONCE_OK: 32 server_nonce, 16 session_id
	 */
	KEYD_NONCE = 0x10,
	KEYD_NONCE_OK = 0x11,
	/*
	 * Once, after NONCE.  body: str32 client_hello (the CLIENT_HELLO
	 * payload), str32 sh_core (the SERVER_HELLO core).  keyd parses
	 * both, checks version 1 is in the client's range and chosen, and
	 * that server_nonce, session_id and server_cert are its own, then
	 * signs "SecureChat-v1 server handshake\0" || H1.
	 * reply KEYD_SIGN_HANDSHAKE_OK: str16 server_sig
	 */
	KEYD_SIGN_HANDSHAKE = 0x12,
	KEYD_SIGN_HANDSHAKE_OK = 0x13,
	/*
	 * After the handshake.  body: u8 type, u64 seq, u64 ts, 16 iv,
	 * str32 ct.  type must be a server->client record type and the
	 * next legal one (AUTH_OK first and once, then CHAT, CLOSE_ACK
	 * last); seq exactly the previous + 1 (1 first); ts within
	 * KEYD_TS_WINDOW_MS of keyd's clock; ct a multiple of 16 no longer
	 * than the type's largest plaintext allows.  keyd builds the
	 * record statement with its session id, direction 2 and the phase
	 * of the type.
	 * reply KEYD_SIGN_RECORD_OK: str16 sig
	 */
	KEYD_SIGN_RECORD = 0x14,
	KEYD_SIGN_RECORD_OK = 0x15,
	/*
	 * Once, after AUTH_OK was signed and before CLOSE_ACK.
	 * body: u64 first_seq, u64 last_seq, 32 transcript_sha256,
	 * 32 peer_fingerprint.  keyd fills in its session id and role 2.
	 * reply KEYD_SIGN_RECEIPT_OK: str16 sig
	 */
	KEYD_SIGN_RECEIPT = 0x16,
	KEYD_SIGN_RECEIPT_OK = 0x17,
	/*
	 * keyd -> worker: a permitted request failed inside keyd (signing
	 * error); the worker answers its client with INTERNAL.  body: empty.
	 * A refused request gets no reply: the channel is closed.
	 */
	KEYD_FAIL = 0x1f,
};

#define KEYD_MAX_PEER_ADDR	128	/* "[v6addr]:port" */
#define KEYD_MAX_CHANNELS	4096	/* concurrent worker channels */
#define KEYD_MAX_SIGS		1000000	/* signatures per channel */
#define KEYD_TS_WINDOW_MS	300000	/* record ts vs keyd's clock */
#define KEYD_REPLY_TIMEOUT_MS	10000	/* worker waits this long for keyd */

/* ---- inside keyd ---- */

struct ipc_msg;
struct wbuf;

/* One worker's channel and what it has been allowed to do so far. */
struct keyd_chan {
	int		 fd;
	uint64_t	 serial;		/* the master's session serial */
	char		 peer[KEYD_MAX_PEER_ADDR + 1];
	unsigned int	 state;			/* one KEYD_S_* bit */
	unsigned int	 done;			/* once-requests used (by row) */
	uint8_t		 server_nonce[SC_NONCE_LEN];
	uint8_t		 session_id[SC_SESSION_ID_LEN];
	uint64_t	 seq;			/* last s2c seq signed */
	uint64_t	 nsigs;
	int		 dead;			/* closed; reaped by the loop */
};

/* Channel states (bits, so that a table row can permit several). */
#define KEYD_S_NEW	0x01	/* nothing yet: NONCE */
#define KEYD_S_NONCE	0x02	/* nonce given: SIGN_HANDSHAKE */
#define KEYD_S_HS	0x04	/* handshake signed: SIGN_RECORD(AUTH_OK) */
#define KEYD_S_AUTH	0x08	/* AUTH_OK signed: CHAT, CLOSE_ACK, receipt */
#define KEYD_S_CLOSED	0x10	/* CLOSE_ACK signed: nothing more */

/* Outcome of one request (keyd_dispatch). */
#define KEYD_OK		0	/* reply in *rtype and the reply buffer */
#define KEYD_REFUSE	-1	/* not permitted: close, kill the worker */
#define KEYD_ERROR	-2	/* permitted but failed inside keyd */

/* keyd/sign.c: the signing key and the request table. */
int	keyd_sign_setup(EVP_PKEY *key, const uint8_t *cert_der, size_t len);
void	keyd_chan_init(struct keyd_chan *, int fd, uint64_t serial,
	    const char *peer);
int	keyd_dispatch(struct keyd_chan *, const struct ipc_msg *,
	    struct wbuf *reply, uint16_t *rtype, const char **reqname,
	    const char **why);

/* keyd/keyd.c: the daemon. */
int	keyd_main(int argc, char **argv);

#endif
