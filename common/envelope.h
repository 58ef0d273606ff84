/*
 * envelope.h: end-to-end envelopes for user-to-user messages
 * (docs/MESSAGING.md).
 *
 * A sender seals a text body for the certificates of its recipients: a
 * fresh 256-bit content key encrypts the body with AES-256-GCM and is
 * wrapped for each recipient certificate's RSA key with RSA-OAEP
 * (SHA-256, MGF1-SHA-256); the sender signs every byte of the envelope
 * with its own key (RSA PKCS#1 v1.5 SHA-256, as the rest of the protocol).
 * The server and the router see the clear header (sender, room, time,
 * counter, recipients' names and certificate fingerprints) through
 * envelope_peek() and nothing else; only a listed recipient can open one.
 *
 * Every function that takes bytes from outside parses them strictly
 * (caps checked before anything is used, exact consumption) and returns 0
 * or an ENV_E_* code with one readable line in reason.  Parsed structs
 * point into the parsed bytes, so they live as long as those bytes.
 *
 * Replay and reordering are rejected per (sender, conversation): the
 * counter must be strictly greater than the last one accepted.  That state
 * belongs to the caller (sc-client keeps it in a file): struct env_replay.
 */
#ifndef SC_ENVELOPE_H
#define SC_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "buf.h"
#include "pki.h"
#include "proto.h"

/* Wire constants (MESSAGING.md §2). */
#define ENV_MAGIC0		0x53	/* 'S' */
#define ENV_MAGIC1		0x45	/* 'E' */
#define ENV_VERSION		1

/* Domain-separation labels; each is used with its terminating NUL byte. */
#define ENV_LABEL_SIG		"SecureChat-v1 envelope"
#define ENV_LABEL_WRAP		"SecureChat-v1 envelope key"
#define ENV_LABEL_COMMIT	"SecureChat-v1 envelope commit"

/* Fixed sizes. */
#define ENV_KEY_LEN		32	/* AES-256-GCM content key */
#define ENV_NONCE_LEN		12	/* GCM nonce */
#define ENV_TAG_LEN		16	/* GCM tag, appended to the ciphertext */
#define ENV_COMMIT_LEN		32	/* SHA-256(label || content key) */
#define ENV_FP_LEN		32	/* SHA-256 of a certificate's DER */

/* Limits (MESSAGING.md §5). */
#define ENV_MAX_RECIPIENTS	64	/* certificates, not users */
#define ENV_MAX_BODY		SC_MAX_TEXT	/* 4096 bytes of UTF-8 text */
#define ENV_MAX_NAME		SC_MAX_USERNAME	/* 32 */
#define ENV_MAX_ROOM		32	/* '#' and 1..31 name characters */
#define ENV_MAX_CONV		32	/* a room or a user name */
#define ENV_MAX_CERT		PKI_MAX_CERT_DER	/* 8192 */
#define ENV_MIN_RSA		256	/* RSA-2048: wrapped key, signature */
#define ENV_MAX_RSA		SC_MAX_SIG	/* RSA-4096: 512 bytes */
#define ENV_MAX_CT		(ENV_MAX_BODY + ENV_TAG_LEN)
#define ENV_MIN_CT		(1 + ENV_TAG_LEN)
/* Counters and timestamps fit a signed 64-bit column. */
#define ENV_MAX_COUNTER		((uint64_t)INT64_MAX)

/* One recipient entry on the wire at its largest. */
#define ENV_RCPT_MAX_LEN	(2 + ENV_MAX_NAME + ENV_FP_LEN + 2 + ENV_MAX_RSA)
/*
 * The largest envelope: 50074 bytes.  It fits a 65536-byte frame with
 * room to spare: a record carries up to SC_MAX_CT (64976) bytes of
 * ciphertext, i.e. 64975 bytes of plaintext, leaving 14901 bytes for the
 * fields of the message that carries the envelope.
 */
#define ENV_MAX_LEN	(2 + 1 + \
			    2 + ENV_MAX_NAME + \
			    2 + ENV_MAX_CERT + \
			    2 + ENV_MAX_ROOM + \
			    8 + 8 + \
			    1 + ENV_MAX_RECIPIENTS * ENV_RCPT_MAX_LEN + \
			    ENV_NONCE_LEN + ENV_COMMIT_LEN + \
			    2 + ENV_MAX_CT + \
			    2 + ENV_MAX_RSA)
/* The signed statement: the label (with its NUL) and the envelope. */
#define ENV_STMT_MAX	(sizeof(ENV_LABEL_SIG) + ENV_MAX_LEN)

/*
 * Result codes.  Those shared with the wire protocol have the SC_E_*
 * value of docs/PROTOCOL.md §5; ENV_E_NOT_FOR_ME has no wire code of its
 * own (envelope_err_wire() maps it to PROTOCOL).
 */
#define ENV_OK			0
#define ENV_E_PROTOCOL		SC_E_PROTOCOL	/* malformed envelope */
#define ENV_E_BAD_CERT		SC_E_BAD_CERT	/* sender (or, sealing, a
						   recipient) cert rejected */
#define ENV_E_SIG_FAIL		SC_E_SIG_FAIL	/* signature, unwrap, key
						   commitment or AEAD failed */
#define ENV_E_REPLAY		SC_E_REPLAY	/* counter not above the last */
#define ENV_E_TOO_LARGE		SC_E_TOO_LARGE	/* a field or the whole too big */
#define ENV_E_INTERNAL		SC_E_INTERNAL	/* allocation, OpenSSL, full
						   replay table */
#define ENV_E_VERSION		SC_E_VERSION	/* envelope version not 1 */
#define ENV_E_BAD_INPUT		SC_E_BAD_INPUT	/* body text or names not
						   acceptable */
#define ENV_E_NOT_FOR_ME	64		/* my certificate is not listed */

/* "PROTOCOL", ..., "NOT_FOR_ME"; "UNKNOWN" otherwise. */
const char *envelope_err_name(int code);
/* The SC_E_* code to put in an ERROR frame for an ENV_E_* code. */
int	envelope_err_wire(int code);

/* Who I am: my username, my certificate and my private key. */
struct env_identity {
	const char	*name;
	X509		*cert;
	EVP_PKEY	*key;
};

/* A recipient as the sender knows it (the server provides the cert). */
struct env_rcpt_in {
	const char	*name;
	X509		*cert;
};

/* A recipient entry of a parsed envelope. */
struct env_rcpt {
	char		 name[ENV_MAX_NAME + 1];
	uint8_t		 fp[ENV_FP_LEN];	/* SHA-256 of its cert's DER */
	const uint8_t	*wrapped;		/* RSA-OAEP of the content key */
	size_t		 wrappedlen;
};

/*
 * The clear part of an envelope: what envelope_peek() gives the server
 * and the router, and the input of envelope_encode_tbs().  The pointers
 * point into the envelope bytes.
 */
struct env_header {
	char		 sender[ENV_MAX_NAME + 1];
	const uint8_t	*cert;			/* sender certificate, DER */
	size_t		 certlen;
	uint8_t		 sender_fp[ENV_FP_LEN];	/* SHA-256 of cert (peek) */
	char		 room[ENV_MAX_ROOM + 1];	/* "" for a direct message */
	/*
	 * The conversation the counter counts in: the room, or for a
	 * direct message the one user other than the sender among the
	 * recipients (the sender's own name for a note to self).
	 */
	char		 conv[ENV_MAX_CONV + 1];
	uint64_t	 ts;			/* sender's clock, ms since epoch */
	uint64_t	 counter;		/* 1..ENV_MAX_COUNTER */
	size_t		 nrcpt;
	struct env_rcpt	 rcpt[ENV_MAX_RECIPIENTS];
	uint8_t		 nonce[ENV_NONCE_LEN];
	uint8_t		 commit[ENV_COMMIT_LEN];
	const uint8_t	*ct;			/* AES-256-GCM ciphertext||tag */
	size_t		 ctlen;
	const uint8_t	*sig;
	size_t		 siglen;
	const uint8_t	*tbs;			/* the signed bytes but label */
	size_t		 tbslen;
};

/* An opened envelope. */
struct env_opened {
	struct env_header hdr;
	size_t		 me;			/* my index in hdr.rcpt */
	/*
	 * The content key: a recipient may disclose it (with the envelope)
	 * to prove what the sender said, see envelope_open_disclosed().
	 */
	uint8_t		 key[ENV_KEY_LEN];
	uint8_t		 body[ENV_MAX_BODY + 1];	/* NUL-terminated text */
	size_t		 bodylen;
};

/*
 * Seal body (1..ENV_MAX_BODY bytes of text, sc_valid_text) from me to
 * nrcpt (1..ENV_MAX_RECIPIENTS) recipient certificates, in room ("" or
 * NULL for a direct message), appending the envelope to out (initialise
 * it with wbuf_init(out, ENV_MAX_LEN) or larger).  Before encrypting to
 * anyone it checks my certificate, my key and every recipient's
 * certificate against trust (clientAuth, at now; 0 means the current
 * time) and that each CN equals the name given: a certificate the server
 * substituted must not receive the content key.  A direct message names
 * at most one user other than me (any number of certificates of that
 * user and of me).  Returns 0 or an ENV_E_* code; on failure out is
 * left as it was.
 */
int	envelope_seal(struct wbuf *out, const struct env_identity *me,
	    const struct env_rcpt_in *rcpts, size_t nrcpt, const char *room,
	    uint64_t ts, uint64_t counter, const uint8_t *body, size_t bodylen,
	    const struct pki_trust *trust, time_t now,
	    char *reason, size_t reasonlen);

/*
 * Parse an envelope without keys (server, router, storage): structure,
 * limits, names, the direct-message rule, distinct fingerprints.  Fills
 * h (pointing into env) and h->sender_fp.  Returns 0, ENV_E_PROTOCOL,
 * ENV_E_TOO_LARGE or ENV_E_VERSION.  It says nothing about authenticity.
 */
int	envelope_peek(const uint8_t *env, size_t len, struct env_header *h,
	    char *reason, size_t reasonlen);

/*
 * Authenticity without decryption, for a parsed header: the sender
 * certificate chains to trust with clientAuth at now (0: current time),
 * has an acceptable RSA key and a CN equal to the sender name
 * (ENV_E_BAD_CERT), and the signature verifies (ENV_E_SIG_FAIL).  A
 * worker can use it to refuse forgeries early; a recipient need not.
 */
int	envelope_verify(const struct env_header *h,
	    const struct pki_trust *trust, time_t now,
	    char *reason, size_t reasonlen);

struct env_replay;

/*
 * Open an envelope as recipient me, in the order of MESSAGING.md §4:
 * parse, sender certificate, signature, my certificate is listed under my
 * name (ENV_E_NOT_FOR_ME), counter above the last one of (sender, conv)
 * in replay (ENV_E_REPLAY; skipped when replay is NULL), unwrap, key
 * commitment and decryption (ENV_E_SIG_FAIL), body text (ENV_E_BAD_INPUT).
 * Only when all pass is the counter recorded in replay (in memory; the
 * caller saves it).  o->hdr points into env.  On failure o holds nothing
 * secret.  Wipe o with envelope_opened_clear() when done.
 */
int	envelope_open(const uint8_t *env, size_t len,
	    const struct env_identity *me, const struct pki_trust *trust,
	    time_t now, struct env_replay *replay, struct env_opened *o,
	    char *reason, size_t reasonlen);

/*
 * Non-repudiation: open an envelope with a content key disclosed by a
 * recipient, checking the sender's certificate, the signature, the key
 * commitment and the ciphertext.  Success proves that the certificate's
 * owner signed this body (for every recipient alike).  No replay check.
 */
int	envelope_open_disclosed(const uint8_t *env, size_t len,
	    const uint8_t key[ENV_KEY_LEN], const struct pki_trust *trust,
	    time_t now, struct env_opened *o, char *reason, size_t reasonlen);

/* Wipe an opened envelope (key and body). */
void	envelope_opened_clear(struct env_opened *);

/* ---- Building blocks (test vectors, other implementations' checks) ---- */

/*
 * Append the to-be-signed bytes of an envelope to out: the header fields
 * of h (sender, cert, room, ts, counter, rcpt[] with their wrapped keys),
 * the nonce given here, the key commitment of key and the AES-256-GCM
 * encryption of body under key and nonce.  h->nonce, h->commit, h->ct and
 * h->sig are ignored.  Only sizes are checked: envelope_seal() validates.
 * Returns 0 or -1.
 */
int	envelope_encode_tbs(struct wbuf *out, const struct env_header *h,
	    const uint8_t nonce[ENV_NONCE_LEN], const uint8_t key[ENV_KEY_LEN],
	    const uint8_t *body, size_t bodylen);
/* The signed statement: "SecureChat-v1 envelope\0" || tbs. */
int	envelope_statement(struct wbuf *out, const uint8_t *tbs, size_t tbslen);
/* SHA-256("SecureChat-v1 envelope commit\0" || key). */
int	envelope_key_commit(const uint8_t key[ENV_KEY_LEN],
	    uint8_t out[ENV_COMMIT_LEN]);
/* RSA-OAEP (SHA-256, MGF1-SHA-256, label "SecureChat-v1 envelope key\0"). */
int	envelope_wrap_key(EVP_PKEY *pub, const uint8_t key[ENV_KEY_LEN],
	    uint8_t *out, size_t *outlenp);
int	envelope_unwrap_key(EVP_PKEY *priv, const uint8_t *in, size_t inlen,
	    uint8_t key[ENV_KEY_LEN]);

/* Content rules (1 if acceptable): a room is '#' then a username. */
int	envelope_valid_room(const char *);
/* A conversation: a room or a username. */
int	envelope_valid_conv(const char *);

/* ---- Replay state: last counter per (sender, conversation) ---- */

/* Most entries one table holds (a client's conversations). */
#define ENV_REPLAY_MAX		16384
/* Longest line of the state file: "sender|conv|counter\n". */
#define ENV_REPLAY_LINE_MAX	(ENV_MAX_NAME + 1 + ENV_MAX_CONV + 1 + 19 + 1)
#define ENV_REPLAY_FILE_MAX	(ENV_REPLAY_MAX * ENV_REPLAY_LINE_MAX)

struct env_replay_entry {
	char		 sender[ENV_MAX_NAME + 1];
	char		 conv[ENV_MAX_CONV + 1];
	uint64_t	 last;
};

struct env_replay {
	struct env_replay_entry	*v;
	size_t			 n;
	size_t			 cap;
};

void	envelope_replay_init(struct env_replay *);
void	envelope_replay_free(struct env_replay *);
/* The last counter accepted from sender in conv; 0 when none. */
uint64_t envelope_replay_last(const struct env_replay *, const char *sender,
	    const char *conv);
/* 0 when counter is above the last one of (sender, conv), else ENV_E_REPLAY. */
int	envelope_replay_check(const struct env_replay *, const char *sender,
	    const char *conv, uint64_t counter);
/*
 * Record counter as the last of (sender, conv).  -1 (nothing changed)
 * when it is not above the last one, a name is not valid or the table is
 * full.
 */
int	envelope_replay_update(struct env_replay *, const char *sender,
	    const char *conv, uint64_t counter);
/*
 * The counter for my next envelope in conv: max(last + 1, now_ms).
 * Tying it to the clock keeps it increasing across a lost state file and
 * between several devices of one user (MESSAGING.md §6).  The caller
 * records it with envelope_replay_update() once the envelope is sent.
 */
int	envelope_replay_next(const struct env_replay *, const char *me,
	    const char *conv, uint64_t now_ms, uint64_t *counterp);
/*
 * Load a state file ("sender|conv|counter\n" lines, MESSAGING.md §6)
 * into an empty table; a missing file is an empty table.  Strict: any
 * malformed or duplicate line fails the whole load (-1 with reason).
 */
int	envelope_replay_load(struct env_replay *, const char *path,
	    char *reason, size_t reasonlen);
/* Replace path atomically (temporary file, fsync, rename), mode 0600. */
int	envelope_replay_save(const struct env_replay *, const char *path);

#endif
