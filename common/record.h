/*
 * record.h: sealing and opening SecureChat records (docs/PROTOCOL.md §3).
 *
 * A struct sc_channel is one side's view of a session: its session id,
 * the keys of each phase and direction, the sequence numbers and the
 * peer's public key.  record_open() enforces the receiver's order after
 * the caller's state check: signature, then seq, then timestamp, then
 * decryption, and commits the new seq only when everything passed.
 *
 * Signing is a callback, so that the client signs with its own key
 * (record_sign_local) while the server worker routes the request through
 * keyd, which rebuilds the statement itself.
 */
#ifndef SC_RECORD_H
#define SC_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "buf.h"
#include "proto.h"
#include "sccrypto.h"

#define SC_SIDE_CLIENT	1
#define SC_SIDE_SERVER	2

struct sc_channel {
	uint8_t		 session_id[SC_SESSION_ID_LEN];
	uint8_t		 send_dir;	/* SC_DIR_C2S on the client */
	uint8_t		 recv_dir;
	uint8_t		 key_send[2][SC_AES_KEY_LEN];	/* [phase - 1] */
	uint8_t		 key_recv[2][SC_AES_KEY_LEN];
	int		 have_keys[2];
	uint64_t	 send_seq;	/* seq of the last record sent */
	uint64_t	 recv_seq;	/* seq of the last record accepted */
	EVP_PKEY	*peer_key;	/* verifies the peer's records */
	uint64_t	 stale_ms;	/* |ts - now| window */
	uint64_t	(*clock)(void);	/* now_ms(); tests may replace it */
};

/* What a signer is asked to sign (all pointers valid during the call). */
struct record_sign_req {
	const uint8_t	*session_id;
	uint8_t		 dir;
	uint8_t		 type;
	uint8_t		 phase;
	uint64_t	 seq;
	uint64_t	 ts;
	const uint8_t	*iv;
	const uint8_t	*ct;
	size_t		 ctlen;
	const uint8_t	*stmt;		/* the statement built from the above */
	size_t		 stmtlen;
};

/*
 * Produce the signature of req into sig; *siglen is the capacity
 * (SC_MAX_SIG) on entry and the length on return.  0 or -1.
 */
typedef int (*record_signer_fn)(void *arg, const struct record_sign_req *,
    uint8_t *sig, size_t *siglen);

/*
 * side is SC_SIDE_CLIENT or SC_SIDE_SERVER; peer_key is referenced (not
 * copied) and released by record_channel_clear.  stale_ms 0 means the
 * default window.
 */
int	record_channel_init(struct sc_channel *, int side,
	    const uint8_t sid[SC_SESSION_ID_LEN], EVP_PKEY *peer_key,
	    uint64_t stale_ms);
/* Install the keys of phase 1 (temp) or 2 (session). */
int	record_set_keys(struct sc_channel *, int phase,
	    const struct sc_dirkeys *);
/* Wipe every key and drop the peer key reference. */
void	record_channel_clear(struct sc_channel *);

/*
 * Encrypt and sign a record of type with the next send seq, the current
 * time and a random IV; the frame payload is appended to out (init it
 * with SC_MAX_PAYLOAD).  The send seq advances only on success.  Returns
 * 0, or an SC_E_* code (PROTOCOL: type not sendable by this side or its
 * phase keys absent; TOO_LARGE; INTERNAL: crypto or signer failure).
 */
int	record_seal(struct sc_channel *, uint8_t type, const uint8_t *pt,
	    size_t ptlen, record_signer_fn, void *signarg, struct wbuf *out);
/* As record_seal with a given timestamp and IV (test vectors). */
int	record_seal_at(struct sc_channel *, uint8_t type, const uint8_t *pt,
	    size_t ptlen, uint64_t ts, const uint8_t iv[SC_IV_LEN],
	    record_signer_fn, void *signarg, struct wbuf *out);

/*
 * Open a received record frame of type.  The caller has already checked
 * that type is allowed in its state.  Order: parse (PROTOCOL/TOO_LARGE),
 * direction and phase keys (PROTOCOL), signature (SIG_FAIL), seq ==
 * last + 1 (REPLAY), timestamp window (STALE), decryption (SIG_FAIL, so a
 * padding failure tells nothing more than a bad signature).  pt must hold
 * ptcap >= the ciphertext length (SC_MAX_CT is always enough).  On
 * success returns 0, sets *ptlenp and, when rec is not NULL, the parsed
 * record (pointing into payload) for the transcript.
 */
int	record_open(struct sc_channel *, uint8_t type, const uint8_t *payload,
	    size_t len, uint8_t *pt, size_t ptcap, size_t *ptlenp,
	    struct sc_record *rec);

/* A record_signer_fn signing req->stmt with the EVP_PKEY in arg. */
int	record_sign_local(void *arg, const struct record_sign_req *,
	    uint8_t *sig, size_t *siglen);

#endif
