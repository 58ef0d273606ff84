/*
 * authd_wrap.h: the worker's calls to authd, shaped like local functions
 * (as OpenSSH's monitor_wrap.c): each sends one request on the worker's
 * authd channel and waits for the matching answer (authd/authd.h lists
 * every body).
 *
 * Fields are (pointer, length) as they came out of the decrypted record:
 * authd applies the content rules itself and answers BAD_INPUT.  The
 * return value is the code to act on: 0 (AUTHD_RES_OK) or a
 * docs/PROTOCOL.md error code (AUTH_FAIL, USER_EXISTS, RATE_LIMITED,
 * REG_CLOSED, BAD_INPUT, TOO_LARGE, PROTOCOL, VERSION, INTERNAL,
 * UNAVAILABLE).  A broken channel, a malformed or mismatched reply or a
 * timeout give INTERNAL or UNAVAILABLE; the worker should then close the
 * session.  Outputs are cleared ("", 0) unless the code is 0.
 */
#ifndef SC_AUTHD_WRAP_H
#define SC_AUTHD_WRAP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "authd/authd.h"

/* How long a worker waits for authd (scrypt requests queue there). */
#define AUTHD_WRAP_TIMEOUT_MS	60000

/* A username or a room name, NUL-terminated. */
typedef char authd_name[AUTHD_ROOM_MAX + 1];

/*
 * On success *account_id is set and canon (canonlen >= 33) receives the
 * canonical username, NUL-terminated; on failure they are 0 and "".
 *
 * authd_register() and authd_login() send the fingerprint alone (the
 * bodies of issue 3, accepted by authd only during the transition);
 * the _cert forms send the certificate DER too (cert_sha256 is computed
 * from it here), the _x509 forms take the parsed certificate.
 */
int	authd_register(int ch, const uint8_t *user, size_t userlen,
	    const uint8_t *email, size_t emaillen, const uint8_t *pass,
	    size_t passlen, const uint8_t cert_sha256[32],
	    uint64_t *account_id, char *canon, size_t canonlen);
int	authd_login(int ch, const uint8_t *user, size_t userlen,
	    const uint8_t *pass, size_t passlen, const uint8_t cert_sha256[32],
	    uint64_t *account_id, char *canon, size_t canonlen);
int	authd_register_cert(int ch, const uint8_t *user, size_t userlen,
	    const uint8_t *email, size_t emaillen, const uint8_t *pass,
	    size_t passlen, const uint8_t *cert_der, size_t cert_derlen,
	    uint64_t *account_id, char *canon, size_t canonlen);
int	authd_login_cert(int ch, const uint8_t *user, size_t userlen,
	    const uint8_t *pass, size_t passlen, const uint8_t *cert_der,
	    size_t cert_derlen, uint64_t *account_id, char *canon,
	    size_t canonlen);
int	authd_register_x509(int ch, const uint8_t *user, size_t userlen,
	    const uint8_t *email, size_t emaillen, const uint8_t *pass,
	    size_t passlen, X509 *cert, uint64_t *account_id, char *canon,
	    size_t canonlen);
int	authd_login_x509(int ch, const uint8_t *user, size_t userlen,
	    const uint8_t *pass, size_t passlen, X509 *cert,
	    uint64_t *account_id, char *canon, size_t canonlen);

/* ---- messaging (after a successful REGISTER or LOGIN) ---- */

/* One certificate of a CERTS answer; der points into the list's message. */
struct authd_cert {
	authd_name	 user;
	const uint8_t	*der;
	size_t		 derlen;
};

struct authd_certlist {
	size_t		 n;
	struct authd_cert v[AUTHD_CERTS_MAX];
	void		*msg;		/* holds the DER bytes */
};

/*
 * The certificates of user name, or of every member of room name ("#..."),
 * to encrypt an envelope to.  Free the list with authd_certlist_free()
 * whatever the code.
 */
int	authd_certs(int ch, const char *name, struct authd_certlist *out);
void	authd_certlist_free(struct authd_certlist *);
/* Store an envelope; *env_id is the message id for the router. */
int	authd_store(int ch, const uint8_t *env, size_t envlen,
	    uint64_t *env_id);
/*
 * The next undelivered message above after_id: *present 0 when none;
 * else its id, its sender and the envelope (envcap >= ENV_MAX_LEN).
 */
int	authd_fetch(int ch, uint64_t after_id, int *present, uint64_t *env_id,
	    authd_name sender, uint8_t *env, size_t envcap, size_t *envlen);
/* Mark a message delivered (1) or read (2); sender: who sent it. */
int	authd_ack(int ch, uint64_t env_id, uint8_t state, authd_name sender);
int	authd_join(int ch, const char *room);
int	authd_leave(int ch, const char *room);
/* The user's rooms / a room's members: at most max names into names. */
int	authd_rooms(int ch, authd_name *names, size_t max, size_t *n);
int	authd_members(int ch, const char *room, authd_name *names, size_t max,
	    size_t *n);

#endif
