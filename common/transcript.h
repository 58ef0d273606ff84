/*
 * transcript.h: the append-only session transcript and signed receipts
 * (docs/PROTOCOL.md §5).
 *
 * One transcript file holds one session.  Each side appends one line per
 * CHAT record it sent or accepted:
 *
 *	seq|ts|dir|type|base64(iv||ct)|base64(sig)|signer-cert-sha256-hex\n
 *
 * and keeps a running digest per direction, so that both ends compute the
 * same transcript hash whatever the interleaving of the two directions:
 *
 *	transcript_sha256 = SHA-256(SHA-256(c2s lines) || SHA-256(s2c lines))
 *
 * Durability: every line is one write(2) on an O_APPEND descriptor (so a
 * line is never interleaved or torn by another writer, and survives the
 * death of any process as soon as write(2) returns); with
 * TRANSCRIPT_SYNC_EACH it is followed by fdatasync(2).  With
 * TRANSCRIPT_SYNC_BATCH the caller syncs a batch of lines with
 * transcript_sync() (the worker: when it is about to wait, and at least
 * every TRANSCRIPT_BATCH_MS while lines are pending).  In every mode the
 * file is synced before a digest is taken for a receipt and at close.  A
 * write or sync that fails leaves the transcript marked failed: no receipt
 * is issued over a file that may be torn.
 */
#ifndef SC_TRANSCRIPT_H
#define SC_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "proto.h"

#define TRANSCRIPT_SYNC_RECEIPT	0	/* sync before a receipt and at close */
#define TRANSCRIPT_SYNC_EACH	1	/* fdatasync after every line */
#define TRANSCRIPT_SYNC_BATCH	2	/* transcript_sync() per batch, receipt */
/* Longest a written line waits for its sync under TRANSCRIPT_SYNC_BATCH. */
#define TRANSCRIPT_BATCH_MS	20

/* Longest line accepted (a maximal record, base64, plus the fields). */
#define TRANSCRIPT_MAX_LINE	(4 * ((SC_IV_LEN + SC_MAX_CT + 2) / 3) + \
				    4 * ((SC_MAX_SIG + 2) / 3) + 128)

struct transcript {
	int		 fd;
	int		 sync_each;
	int		 failed;	/* a write failed: no more lines, no receipt */
	int		 unsynced;	/* lines written since the last sync */
	struct wbuf	 line;		/* reused line buffer */
	EVP_MD_CTX	*md[2];		/* running digest per direction [dir-1] */
	uint64_t	 last[2];	/* last seq per direction (0: none) */
	uint64_t	 first_seq;	/* smallest seq of any line */
	uint64_t	 last_seq;	/* largest seq of any line */
	uint64_t	 nlines;
};

/* One parsed line; iv||ct and sig are decoded. */
struct transcript_line {
	uint64_t	 seq;
	uint64_t	 ts;
	uint8_t		 dir;
	uint8_t		 type;
	uint8_t		 iv[SC_IV_LEN];
	uint8_t		*ct;		/* points into ivct */
	size_t		 ctlen;
	uint8_t		 sig[SC_MAX_SIG];
	size_t		 siglen;
	uint8_t		 signer_fp[SC_SHA256_LEN];
	uint8_t		 ivct[SC_IV_LEN + SC_MAX_CT];
};

/* Open path (O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW, mode 0600). */
int	transcript_open(struct transcript *, const char *path, int sync_each);
/* Use an append-only descriptor opened by someone else (taken over). */
int	transcript_fdopen(struct transcript *, int fd, int sync_each);
/*
 * Append the line of a record sent or accepted in direction dir, signed
 * by the certificate whose SHA-256 is signer_fp.  The seq must be exactly
 * the previous one of that direction + 1 (any value for the first).
 */
int	transcript_append(struct transcript *, uint8_t dir, uint8_t type,
	    const struct sc_record *, const uint8_t signer_fp[SC_SHA256_LEN]);
/*
 * fdatasync(2) the lines written since the last sync, if any (a no-op
 * otherwise); 0, or -1 with the transcript marked failed.
 */
int	transcript_sync(struct transcript *);
/* 1 if lines were written since the last sync. */
#define transcript_pending(t)	((t)->unsynced != 0)
/*
 * Sync the file and return the transcript hash and seq range so far
 * (first = last = 0 when empty); -1 after a failed write.
 */
int	transcript_digest(struct transcript *, uint8_t out[SC_SHA256_LEN],
	    uint64_t *firstp, uint64_t *lastp);
/* Sync, close and wipe. */
void	transcript_close(struct transcript *);

/* The exact line (with its '\n') of a record; appended to b. */
int	transcript_line_format(struct wbuf *b, uint8_t dir, uint8_t type,
	    const struct sc_record *, const uint8_t signer_fp[SC_SHA256_LEN]);
/* Parse one line of len bytes including its '\n'; 0 or -1 with reason. */
int	transcript_line_parse(const char *line, size_t len,
	    struct transcript_line *, char *reason, size_t reasonlen);
/*
 * Read a transcript file: check every line's syntax and the seq rule,
 * compute the hash and range, and call cb (when not NULL) for each line;
 * cb returning -1 stops with its reason.  0 or -1 with reason.
 */
int	transcript_file_digest(const char *path, uint8_t out[SC_SHA256_LEN],
	    uint64_t *firstp, uint64_t *lastp,
	    int (*cb)(void *, const struct transcript_line *, size_t lineno,
	    char *reason, size_t reasonlen), void *cbarg,
	    char *reason, size_t reasonlen);

/*
 * Receipt files (JSON, see PROTOCOL.md §5.4).  Written with O_EXCL, mode
 * 0644 (or replaced atomically with force).  signer_fp is informative in
 * the file; the verifier checks it against the certificate it is given.
 */
int	receipt_write_json(const char *path, const struct sc_receipt *,
	    const uint8_t signer_fp[SC_SHA256_LEN], int force);
/* Strict: every field present, well formed, no other key. */
int	receipt_read_json(const char *path, struct sc_receipt *,
	    uint8_t signer_fp[SC_SHA256_LEN], char *reason, size_t reasonlen);

/*
 * Verify a receipt offline (PROTOCOL.md §5.5): the signer certificate
 * chains to the CA (optionally checking crl) with the purpose of the
 * receipt's role, the signature over the receipt statement, the
 * transcript hash and seq range, every line of the signer verified
 * against signer_cert and every line of the peer carrying the receipt's
 * peer fingerprint (and verified too when peer_cert is given).
 * Returns 0 when valid, -1 with the first reason it is not.
 */
int	receipt_verify(const char *transcript_path, const char *receipt_path,
	    const char *signer_cert, const char *ca, const char *crl,
	    const char *peer_cert, char *reason, size_t reasonlen);

#endif
