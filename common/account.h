/*
 * account.h: the rules for account fields, shared by authd (registration
 * and login) and sc-admin (import, user commands), so that a name the
 * administrator can import is exactly a name a client can log in with.
 *
 * docs/PROTOCOL.md section 3: username 1..32 of [a-z0-9_.-] starting with
 * a letter or digit; email 3..254 printable ASCII with exactly one '@';
 * password 8..1024 bytes, any bytes but NUL (refused by authd: scrypt's HMAC
 * pads keys with zeros, so "pw" and "pw\0" would hash alike).
 */
#ifndef SC_ACCOUNT_H
#define SC_ACCOUNT_H

#include <stddef.h>

#define ACCOUNT_USER_MAX	32
#define ACCOUNT_EMAIL_MIN	3
#define ACCOUNT_EMAIL_MAX	254
#define ACCOUNT_PASS_MIN	8
#define ACCOUNT_PASS_MAX	1024

/*
 * Canonical form of a username: ASCII upper case is folded to lower case
 * (so "Alice" and "alice" are one account), then the result must match
 * the rule above.  out receives the NUL-terminated canonical name.
 * Returns 0, or -1 when the name is not acceptable (out is then "").
 */
int	account_username_canon(const void *in, size_t len,
	    char out[ACCOUNT_USER_MAX + 1]);
/* 0 when the bytes are an acceptable email address, else -1. */
int	account_email_check(const void *in, size_t len);
/* 0 when a password of this length is acceptable, else -1. */
int	account_password_check(size_t len);

#endif
