/*
 * authd_wrap.h: the worker's calls to authd, shaped like local functions
 * (as OpenSSH's monitor_wrap.c): each sends one request on the worker's
 * authd channel and waits for the matching RESULT.
 *
 * Fields are (pointer, length) as they came out of the decrypted record:
 * authd applies the content rules itself and answers BAD_INPUT.  The
 * return value is the code to act on: 0 (AUTHD_RES_OK) or a
 * docs/PROTOCOL.md error code (AUTH_FAIL, USER_EXISTS, RATE_LIMITED,
 * REG_CLOSED, BAD_INPUT, INTERNAL, UNAVAILABLE).  A broken channel, a
 * malformed or mismatched reply or a timeout give INTERNAL or
 * UNAVAILABLE; the worker should then close the session.
 */
#ifndef SC_AUTHD_WRAP_H
#define SC_AUTHD_WRAP_H

#include <stddef.h>
#include <stdint.h>

/* How long a worker waits for authd (scrypt requests queue there). */
#define AUTHD_WRAP_TIMEOUT_MS	60000

/*
 * On success *account_id is set and canon (canonlen >= 33) receives the
 * canonical username, NUL-terminated; on failure they are 0 and "".
 */
int	authd_register(int ch, const uint8_t *user, size_t userlen,
	    const uint8_t *email, size_t emaillen, const uint8_t *pass,
	    size_t passlen, const uint8_t cert_sha256[32],
	    uint64_t *account_id, char *canon, size_t canonlen);
int	authd_login(int ch, const uint8_t *user, size_t userlen,
	    const uint8_t *pass, size_t passlen, const uint8_t cert_sha256[32],
	    uint64_t *account_id, char *canon, size_t canonlen);

#endif
