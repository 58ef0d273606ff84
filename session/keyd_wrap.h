/*
 * keyd_wrap.h: the worker's calls to keyd, shaped like local functions
 * (as OpenSSH's monitor_wrap.c): each sends one request on the worker's
 * keyd channel (WORKER_FD_KEYD) and waits at most KEYD_REPLY_TIMEOUT_MS
 * for the reply with the same id and the expected type.  A wrong type, a
 * wrong id, a malformed body, KEYD_FAIL, a timeout or a closed channel
 * all return -1: the worker then answers its client INTERNAL and ends the
 * session.  The bodies are in keyd/keyd.h.
 */
#ifndef SC_KEYD_WRAP_H
#define SC_KEYD_WRAP_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "record.h"

/*
 * keyd's fresh server_nonce and session_id for this session (once).
 * keyd_nonce_send may ask early (keyd works on it while the worker reads
 * the CLIENT_HELLO); keyd_nonce then only takes the reply.
 */
int	keyd_nonce_send(int ch);
int	keyd_nonce(int ch, uint8_t server_nonce[SC_NONCE_LEN],
	    uint8_t session_id[SC_SESSION_ID_LEN]);
/*
 * server_sig over H1 of the CLIENT_HELLO payload and SERVER_HELLO core
 * (once, after keyd_nonce).  *siglen: capacity (SC_MAX_SIG) in, length out.
 * keyd_sign_handshake_send asks, keyd_sign_handshake_recv takes the reply
 * (the worker checks the client's certificate in between, while keyd
 * signs); keyd_sign_handshake does both.
 */
int	keyd_sign_handshake_send(int ch, const uint8_t *client_hello,
	    size_t chlen, const uint8_t *sh_core, size_t shcorelen);
int	keyd_sign_handshake_recv(int ch, uint8_t *sig, size_t *siglen);
int	keyd_sign_handshake(int ch, const uint8_t *client_hello, size_t chlen,
	    const uint8_t *sh_core, size_t shcorelen, uint8_t *sig,
	    size_t *siglen);
/* Signature of a server->client record (keyd builds the statement). */
int	keyd_sign_record(int ch, uint8_t type, uint64_t seq, uint64_t ts,
	    const uint8_t iv[SC_IV_LEN], const uint8_t *ct, size_t ctlen,
	    uint8_t *sig, size_t *siglen);
/*
 * The server's receipt signature: r's seqs, transcript hash and peer
 * fingerprint are sent; keyd fills in its session id and role server.
 */
int	keyd_sign_receipt(int ch, const struct sc_receipt *r, uint8_t *sig,
	    size_t *siglen);
/*
 * A record_signer_fn for record_seal(): arg points to the int channel.
 * The locally built statement is not sent; keyd rebuilds its own.
 */
int	keyd_record_signer(void *arg, const struct record_sign_req *,
	    uint8_t *sig, size_t *siglen);

#endif
