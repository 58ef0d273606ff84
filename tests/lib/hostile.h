/*
 * hostile.h: the attack suite's scriptable hostile client (tests/attack/).
 *
 * Layers, each usable alone:
 *  - raw: connect, send any bytes or any frame header (wrong magic,
 *    version, type or length), read the ERROR code the server answers;
 *  - handshake (struct hconn): the client handshake one step at a time,
 *    every field of CLIENT_HELLO and CLIENT_FINISH chosen by the test;
 *  - records (struct hrecord): a record whose signed statement and wire
 *    fields are separate values, so that any one field can be made to
 *    disagree with the rest, sealed over a csession's channel (the honest
 *    parts come from common/csession.c: login, keys, sequence numbers);
 *  - a fake server (struct hfake) and a frame-aware relay (struct
 *    hrelay) that alters what the server sends, to attack the client side;
 *  - the arena: one scenv installation (daemon + MariaDB) per program,
 *    one shared account, an honest session kept open from setup to
 *    teardown (the witness), and arena_snapshot()/arena_check(), which
 *    prove that an attack lost or altered nothing already written
 *    (transcripts, receipts, audit log, accounts) and left the daemon,
 *    its helpers and the witness serving.
 *
 * Functions return 0 / -1 (with a line on stderr saying why) unless they
 * say otherwise.  None calls cmocka: any test program may use them.
 *
 * A case reads:
 *	arena_snapshot(&A, &s);
 *	... attack on connection fd ...
 *	assert(arena_expect_refusal(&A, &s, fd, SC_E_SIG_FAIL,
 *	    "tamper_rejected") == 0);
 *	assert(arena_check(&A, &s) == 0);
 */
#ifndef SC_TU_HOSTILE_H
#define SC_TU_HOSTILE_H

#include <sys/types.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "csession.h"
#include "pki.h"
#include "proto.h"
#include "record.h"
#include "scenv.h"

/* The account every arena registers at setup (with alice's certificate). */
#define ARENA_USER	"witness"
#define ARENA_EMAIL	"witness@example.org"
#define ARENA_PASS	"witness password 1"

/* hostile_read_error() results besides an SC_E_* code. */
#define HOSTILE_CLOSED		0	/* the server closed without ERROR */
#define HOSTILE_TIMEOUT		(-1)	/* nothing within the timeout */
#define HOSTILE_OTHER_FRAME	(-2)	/* a frame that is not ERROR */

/* ---- Arena ---- */

struct arena {
	struct scenv	 env;
	struct csession	*witness;	/* honest session open all along */
	pid_t		 keyd;		/* the helpers: an attack that made */
	pid_t		 authd;		/* one restart fails arena_check */
	unsigned int	 nwitness;	/* witness messages so far */
	unsigned int	 nconn;		/* client transcripts made */
};

/*
 * scenv_setup + extra_conf (appended to the daemon's configuration; the
 * arena adds generous per-address limits of its own) + scenv_start, then
 * register ARENA_USER and open the witness.  0 or -1 (torn down).
 */
int	arena_setup(struct arena *, const char *tag, const char *extra_conf);
void	arena_teardown(struct arena *);
/*
 * Set keyword to value in the running daemon's configuration (replacing
 * the line if there is one) and SIGHUP it; returns once the audit log
 * says config_reloaded.  Workers started afterwards use the new value.
 */
int	arena_reconfigure(struct arena *, const char *keyword,
	    const char *value);
/* Port of the daemon as a string (static buffer). */
const char *arena_port(struct arena *);
/*
 * An honest csession as the holder of certificate `who` (a name in the
 * CA directory): arena_open stops after the handshake (CS_AUTH, K_temp
 * in force), arena_login also logs in as ARENA_USER (CS_OPEN).  Each gets
 * its own client transcript.  NULL on failure; *err (may be NULL) says
 * why.
 */
struct csession *arena_open(struct arena *, const char *who,
	    struct csession_err *err);
struct csession *arena_login(struct arena *, const char *who);

/*
 * Send text on an open session and check the echo service's answer
 * ("echo: " + text).  0 or -1.
 */
int	arena_chat(struct csession *, const char *text);
/* The server's transcript file of our connection fd (from the audit). */
int	arena_transcript_of(struct arena *, int fd, char *path, size_t pathsz);

struct hsnap {
	size_t		  nfiles;
	char		**names;	/* transcripts/x, receipts/y */
	char		**data;
	size_t		 *lens;
	char		 *audit;
	size_t		  auditlen;
	char		 *accounts;
	char		 *certs;
};

/* Everything already written: call it before the attack. */
int	arena_snapshot(struct arena *, struct hsnap *);
/*
 * After the attack: every transcript and receipt of the snapshot is
 * byte-identical, the audit log only grew, the accounts and their
 * certificate bindings are unchanged, the master, keyd and authd are the
 * same processes, the daemon's log has no sanitizer report, the witness
 * still chats, and a fresh session logs in, chats and closes with both
 * receipts saved by the daemon.  Frees snap.
 */
int	arena_check(struct arena *, struct hsnap *);
void	hsnap_free(struct hsnap *);
/*
 * Wait up to timeout_ms for an audit line written after the snapshot
 * that contains every needle (NULL-terminated list).  0 when found.
 */
int	arena_audit_wait(struct arena *, const struct hsnap *, int timeout_ms,
	    ...) __attribute__((sentinel));
/*
 * The master's session serial of our connection fd (from the latest
 * connection_accepted line for its port; snap is unused), as the needle
 * "\"serial\":N," that every line of that session carries.  Waits up to
 * timeout_ms; 0 or -1.
 */
int	arena_serial_of(struct arena *, const struct hsnap *, int fd,
	    char *needle, size_t needlesz, int timeout_ms);
/*
 * The daemon's refusal of our connection fd: it answers ERROR want (or,
 * with want HOSTILE_CLOSED, closes without a word) and closes; the audit
 * log has the worker's line for this connection with event (when not
 * NULL) and the code, and the master saw that worker end with exit
 * status 1 (0 for a quiet close), not a crash.  0 or -1 (says why).
 */
int	arena_expect_refusal(struct arena *, const struct hsnap *, int fd,
	    int want, const char *event);
/* As arena_audit_wait without waiting: lines after the snapshot. */
int	arena_audit_count(struct arena *, const struct hsnap *, ...)
	    __attribute__((sentinel));

/* ---- Identities ---- */

struct hid {
	X509		*cert;
	EVP_PKEY	*key;		/* NULL: the certificate alone */
	uint8_t		*der;		/* malloc'd DER of cert */
	size_t		 derlen;
};

/* cert and key files (key may be NULL). */
int	hid_load(struct hid *, const char *certpath, const char *keypath);
/* NAME.pem and NAME.key of the arena's CA directory ("ca" is the CA). */
int	hid_load_ca(struct hid *, struct arena *, const char *name);
/*
 * A new certificate for key (referenced), signed by issuer (NULL:
 * self-signed) with pki_make_cert.  The DER may be of any size.
 */
int	hid_make(struct hid *, const struct pki_cert_spec *, EVP_PKEY *key,
	    const struct hid *issuer);
void	hid_free(struct hid *);
/* One RSA-2048 key for every test certificate of a program (cached). */
EVP_PKEY *hostile_rsa_key(int which);

/* ---- Raw bytes and frames ---- */

/* Blocking TCP connection to 127.0.0.1:port, TCP_NODELAY; -1 on error. */
int	hostile_connect(int port);
/* Listening socket on a free loopback port (*portp). */
int	hostile_listen(int *portp);
/* Accept one connection within timeout_ms; -1 on error or timeout. */
int	hostile_accept(int lfd, int timeout_ms);
/* Write all bytes (MSG_NOSIGNAL); 0 or -1. */
int	hostile_send(int fd, const void *, size_t);
/* An 8-byte header with every field chosen. */
int	hostile_send_hdr(int fd, uint8_t magic0, uint8_t magic1,
	    uint8_t version, uint8_t type, uint32_t len);
/* A well-formed header (any type, any length) followed by the payload. */
int	hostile_send_frame(int fd, uint8_t type, const void *, size_t);
/*
 * The server's answer: reads frames until an ERROR or the end of the
 * connection.  Returns the ERROR code (> 0), HOSTILE_CLOSED,
 * HOSTILE_TIMEOUT or HOSTILE_OTHER_FRAME (the type goes to stderr).
 * reason (may be NULL) receives the ERROR's reason.
 */
int	hostile_read_error(int fd, int timeout_ms, char *reason,
	    size_t reasonsz);
/* 1 if the peer closed the connection within timeout_ms, else 0. */
int	hostile_wait_eof(int fd, int timeout_ms);

/* ---- Handshake, one step at a time ---- */

struct hhello {			/* a CLIENT_HELLO, every field chosen */
	uint8_t		 min_version;
	uint8_t		 max_version;
	uint8_t		 nonce[SC_NONCE_LEN];
	uint8_t		 kex[64];
	size_t		 kexlen;	/* 32; any other breaks the layout */
	const uint8_t	*cert;
	size_t		 certlen;
	long		 certlen_field;	/* -1: certlen; else the u16 sent */
	const uint8_t	*trailer;	/* bytes appended to the payload */
	size_t		 trailerlen;
};

struct hconn {
	int			 fd;
	int			 timeout_ms;
	EVP_PKEY		*eph;		/* X25519 of hconn_hello_init */
	uint8_t			*chb;		/* CLIENT_HELLO payload sent */
	size_t			 chlen;
	struct sc_frame		 shf;		/* SERVER_HELLO received */
	struct sc_server_hello	 sh;		/* points into shf */
	size_t			 shcorelen;
	uint8_t			 h1[SC_SHA256_LEN];
	uint8_t			 h2[SC_SHA256_LEN];
	EVP_PKEY		*server_pub;
	int			 server_sig_ok;	/* server_sig verified */
	struct sc_channel	 ch;		/* after hconn_keys */
	EVP_PKEY		*signkey;	/* referenced */
	int			 error;		/* ERROR code read, 0: none */
	char			 reason[SC_MAX_REASON + 1];
};

int	hconn_connect(struct hconn *, int port);
/* Close and free everything (the hconn may be reused after). */
void	hconn_close(struct hconn *);
/* Defaults: versions 1..1, random nonce, fresh X25519 key, id's cert. */
int	hconn_hello_init(struct hconn *, struct hhello *, const struct hid *);
/* Encode as told (the encoder checks nothing) and send; kept in chb. */
int	hconn_send_hello(struct hconn *, const struct hhello *);
/*
 * Read the answer to the hello: 0 with the SERVER_HELLO parsed and H1,
 * H2 computed (server_sig_ok tells whether its signature verifies with
 * the certificate it sent), the ERROR code (> 0), or -1.
 */
int	hconn_recv_server_hello(struct hconn *);
/*
 * CLIENT_FINISH: key signs the client handshake statement over h2 (NULL:
 * this connection's H2) and the frame is sent.
 */
int	hconn_send_finish(struct hconn *, EVP_PKEY *key, const uint8_t *h2);
/* Send a CLIENT_FINISH carrying sig as is. */
int	hconn_send_finish_sig(struct hconn *, const uint8_t *sig,
	    size_t siglen);
/* K_temp from our X25519 key and the server's; records signed by key. */
int	hconn_keys(struct hconn *, EVP_PKEY *signkey);
/* The honest handshake as id (which has a key): hello to keys. */
int	hconn_handshake(struct hconn *, int port, const struct hid *);

/* ---- Records built by hand ---- */

struct hrecord {
	/* The frame type (the wire's) and the statement's inputs. */
	uint8_t		 frame_type;
	uint8_t		 sid[SC_SESSION_ID_LEN];
	uint8_t		 dir;
	uint8_t		 type;		/* in the statement */
	uint8_t		 phase;
	uint64_t	 seq;
	uint64_t	 ts;
	uint8_t		 iv[SC_IV_LEN];
	uint8_t		*ct;		/* malloc'd, SC_MAX_CT + 16 */
	size_t		 ctlen;
	uint8_t		 sig[SC_MAX_SIG + 64];
	size_t		 siglen;
};

/* Record field offsets in the wire form (see hrecord_field). */
enum hrec_field {
	HREC_SEQ, HREC_TS, HREC_IV, HREC_CTLEN, HREC_CT, HREC_SIGLEN, HREC_SIG
};

/*
 * An honest record on channel ch (a csession's or an hconn's): next seq
 * (ch->send_seq is advanced), ts (0: now), random IV, AES-CBC under the
 * channel's key of the type's phase, signed by key.
 */
int	hrecord_build(struct hrecord *, struct sc_channel *, EVP_PKEY *key,
	    uint8_t type, const void *pt, size_t ptlen, uint64_t ts);
/* A CHAT record carrying text (any bytes: not validated). */
int	hrecord_chat(struct hrecord *, struct sc_channel *, EVP_PKEY *key,
	    const void *text, size_t len, uint64_t ts);
/*
 * Replace the ciphertext: pt encrypted under key with PKCS#7 padding, or
 * with pad 0 as raw blocks (ptlen a multiple of 16), so that the
 * receiver's padding check sees exactly those bytes.
 */
int	hrecord_encrypt(struct hrecord *, const uint8_t key[SC_AES_KEY_LEN],
	    const void *pt, size_t ptlen, int pad);
/* Sign the statement of the current fields again, with key. */
int	hrecord_sign(struct hrecord *, EVP_PKEY *key);
/* The wire form (payload), appended to out. */
int	hrecord_encode(const struct hrecord *, struct wbuf *out);
/* Encode and send as a frame of frame_type on fd. */
int	hrecord_send(const struct hrecord *, int fd);
/*
 * Log a CHAT record sent by hand in cs's client transcript, as
 * csession_send_chat would have, so that cs can still close with a
 * receipt that matches the server's.  0 or -1.
 */
int	hrecord_log(const struct hrecord *, struct csession *cs);
void	hrecord_free(struct hrecord *);
/* Offset and length of a field in an encoded record; -1 if absent. */
int	hrecord_field(const uint8_t *, size_t, enum hrec_field, size_t *off,
	    size_t *len);

/* ---- A fake server, to attack the client side ---- */

struct hfake {
	/* Set by the test. */
	const struct hid *id;		/* certificate presented (with key) */
	EVP_PKEY	*signkey;	/* signs H1; NULL: id->key */
	uint8_t		 version;	/* SERVER_HELLO version; 0: 1 */
	int		 zero_kex;	/* send an all-zero X25519 value */
	/* Results, after hfake_wait. */
	int		 port;
	int		 served;	/* a client connected and said hello */
	int		 client_error;	/* ERROR code the client sent, 0: none */
	int		 got_finish;	/* the client sent CLIENT_FINISH */
	/* Internal. */
	int		 lfd;
	pthread_t	 th;
	int		 running;
};

/* Listen and serve one connection in a thread. */
int	hfake_start(struct hfake *);
/* Wait for that connection to end (closes the listener). */
void	hfake_wait(struct hfake *);

/* ---- A frame-aware relay, to attack what the client receives ---- */

struct hrelay;
/*
 * Called for every server->client frame before it is forwarded; it may
 * change the frame (f->payload may be replaced by a malloc'd buffer).
 * Returns 1 to forward f, 0 to drop it.
 */
typedef int (*hrelay_fn)(struct hrelay *, struct sc_frame *f);

struct hrelay {
	hrelay_fn	 s2c;		/* NULL: forward everything as is */
	void		*arg;
	int		 port;		/* the client connects here */
	int		 target;	/* the server's port */
	int		 nframes;	/* server->client frames seen */
	/* Internal. */
	int		 lfd;
	pthread_t	 th;
	int		 running;
};

/* Listen and relay one connection to 127.0.0.1:target in a thread. */
int	hrelay_start(struct hrelay *, int target);
/* Wait until both sides have closed (closes the listener). */
void	hrelay_wait(struct hrelay *);

/* ---- Processes ---- */

/*
 * The securechatd worker (a child of master) serving our connection fd:
 * found through its descriptor 3, the socket whose peer is fd's local
 * address.  Waits up to timeout_ms for it to appear; -1 if not found.
 */
pid_t	hostile_worker_of(pid_t master, int fd, int timeout_ms);
/* A "Name:  N kB" field of /proc/PID/status in kB; -1 if unreadable. */
long	hostile_status_kb(pid_t, const char *field);

#endif
