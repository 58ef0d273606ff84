/*
 * account.c: validation of account fields (see account.h).
 *
 * Every check works on (pointer, length): the fields arrive as
 * length-prefixed strings and may contain NUL bytes, which must make
 * them invalid rather than silently shorter.
 */
#include "account.h"

#include <string.h>

static int
user_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '.' || c == '-';
}

int
account_username_canon(const void *in, size_t len,
    char out[ACCOUNT_USER_MAX + 1])
{
	const unsigned char *p = in;
	size_t i;
	unsigned char c;

	out[0] = '\0';
	if (len < 1 || len > ACCOUNT_USER_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (!user_char_ok(c))
			goto bad;
		/* The first character must be a letter or digit. */
		if (i == 0 && (c == '_' || c == '.' || c == '-'))
			goto bad;
		out[i] = (char)c;
	}
	out[len] = '\0';
	return 0;
 bad:
	explicit_bzero(out, ACCOUNT_USER_MAX + 1);
	return -1;
}

int
account_email_check(const void *in, size_t len)
{
	const unsigned char *p = in;
	size_t i, at = 0;

	if (len < ACCOUNT_EMAIL_MIN || len > ACCOUNT_EMAIL_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		/* Printable ASCII without space: 0x21..0x7e. */
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return -1;
		if (p[i] == '@')
			at++;
	}
	if (at != 1 || p[0] == '@' || p[len - 1] == '@')
		return -1;
	return 0;
}

int
account_password_check(size_t len)
{
	return (len >= ACCOUNT_PASS_MIN && len <= ACCOUNT_PASS_MAX) ? 0 : -1;
}
