/*
 * csession.h: the client side of the SecureChat v1 protocol, as a library.
 *
 * sc-client is a thin terminal front end over it, and the tests' hostile
 * client uses the same engine to reach a given state and then misbehave
 * (csession_fd, csession_channel, csession_seal give it the raw parts).
 *
 * Every call that fails leaves the reason in cs->err (or in the struct
 * csession_err given to csession_open): the protocol code, a line a person
 * can act on, and whether the server said it (remote) or we found it.
 */
#ifndef SC_CSESSION_H
#define SC_CSESSION_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "buf.h"
#include "pki.h"
#include "proto.h"
#include "record.h"
#include "transcript.h"

/*
 * A client identity loaded once and shared by many sessions, as an
 * SSL_CTX is: the CA (and CRL), the certificate and its key, checked to
 * match.  A program that opens many sessions (a load generator, a
 * reconnecting client) pays the PEM decoding once.
 */
struct csession_ident {
	struct pki_trust	*trust;
	X509			*cert;
	EVP_PKEY		*key;
	uint8_t			 cert_fp[SC_SHA256_LEN];
};

struct csession_opts {
	/* When set, ca, crl, cert and key are not read: it must outlive
	 * every session opened with it. */
	const struct csession_ident *ident;
	const char	*host;
	const char	*port;
	const char	*ca;
	const char	*crl;		/* NULL: none */
	const char	*cert;
	const char	*key;
	const char	*server_name;	/* checked against SAN/CN; NULL: host */
	const char	*transcript;	/* path to create; NULL: none */
	int		 timeout_ms;	/* per frame; 0: 30 s */
	uint64_t	 stale_ms;	/* 0: default */
};

struct csession_err {
	int		 code;		/* SC_E_* */
	int		 remote;	/* 1 if the server sent it */
	char		 reason[512];
};

enum csession_state {
	CS_AUTH = 1,	/* handshake done, K_temp in force */
	CS_OPEN,	/* logged in, session keys in force */
	CS_CLOSED,
};

struct cs_event;

struct csession {
	int			 fd;
	int			 timeout_ms;
	enum csession_state	 state;
	struct pki_trust	*trust;		/* own, or the ident's */
	int			 trust_borrowed;
	X509			*cert;
	EVP_PKEY		*key;
	uint8_t			 cert_fp[SC_SHA256_LEN];
	X509			*peer_cert;
	uint8_t			 peer_fp[SC_SHA256_LEN];
	uint8_t			 h2[SC_SHA256_LEN];
	struct sc_channel	 ch;
	struct transcript	 tr;
	int			 have_tr;
	uint64_t		 account_id;
	char			 username[SC_MAX_USERNAME + 1];
	uint8_t			*ptbuf;		/* SC_MAX_CT bytes */
	struct wbuf		 sbody, sout;	/* CHAT plaintext, record */
	/*
	 * Records that arrive while csession_close() drains the session
	 * (before its receipt) go here; NULL drops them (a DELIVER not
	 * acknowledged is delivered again at the next login).
	 */
	void			(*on_event)(void *, struct cs_event *);
	void			*on_event_arg;
	struct csession_err	 err;
};

/* One record from the server in a session (csession_next_event). */
struct cs_event {
	uint8_t			 type;		/* SC_T_CHAT, SENT, DELIVER, ... */
	uint8_t			*buf;		/* the plaintext; u points into it */
	size_t			 buflen;
	union {
		struct {
			const uint8_t	*text;
			size_t		 len;
		}			 chat;
		struct sc_sent		 sent;
		struct sc_deliver	 deliver;
		struct sc_status	 status;
		struct sc_reply		 reply;
	} u;
};

/*
 * Connect, verify the server's certificate and complete the signed
 * handshake.  NULL on failure with *err filled in.
 */
struct csession *csession_open(const struct csession_opts *,
	    struct csession_err *err);
/* Load o's ca, crl, cert and key for csession_opts.ident; NULL on error. */
struct csession_ident *csession_ident_load(const struct csession_opts *o,
	    struct csession_err *err);
void	csession_ident_free(struct csession_ident *);
/* REGISTER or LOGIN under K_temp, then the second DH.  0 or -1. */
int	csession_register(struct csession *, const char *user,
	    const char *email, const char *password);
int	csession_login(struct csession *, const char *user,
	    const char *password);
/* Send one CHAT record and log it in the transcript.  0 or -1. */
int	csession_send_chat(struct csession *, const char *text, size_t len);
/*
 * Receive one CHAT record (waiting at most timeout_ms, -1 forever): its
 * text is copied NUL-terminated into buf.  Returns 1, or -1 on error.
 */
int	csession_recv_chat(struct csession *, int timeout_ms, char *buf,
	    size_t bufsz, size_t *lenp);
/*
 * Close: send our signed receipt, receive and verify the server's (same
 * transcript hash, signed by the server certificate, names us as peer),
 * and write both as JSON files (either path may be NULL).  0 or -1.
 */
int	csession_close(struct csession *, const char *my_receipt,
	    const char *server_receipt);
void	csession_free(struct csession *);

/*
 * Messaging (PROTOCOL.md §8).  Requests are sent and return at once; the
 * answers (SENT, REPLY), deliveries and status changes arrive as events.
 */
int	csession_send_envelope(struct csession *, uint32_t ref,
	    const uint8_t *env, size_t len);
int	csession_ack(struct csession *, uint64_t msg_id, uint8_t state);
int	csession_request(struct csession *, uint32_t ref, uint8_t op,
	    const char *arg);
/*
 * Wait at most timeout_ms (-1: forever) for one record from the server:
 * 1 with *ev filled (free with csession_event_clear), 0 on timeout, -1
 * on error (cs->err says why; the session is then closed).
 */
int	csession_next_event(struct csession *, int timeout_ms,
	    struct cs_event *ev);
void	csession_event_clear(struct cs_event *);

/* Raw access for the hostile test client. */
int	csession_fd(struct csession *);
/* Seal a record of any type with the current keys into out. */
int	csession_seal(struct csession *, uint8_t type, const uint8_t *pt,
	    size_t len, struct wbuf *out);

#endif
