/*
 * authd_wrap.c: worker-side stubs for the authd requests (see
 * authd_wrap.h and authd/authd.h for the message bodies).
 */
#include "authd_wrap.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd/authd.h"
#include "buf.h"
#include "ipc.h"
#include "log.h"

static uint32_t	authd_wrap_id;

static int
wait_readable(int fd, int timeout_ms)
{
	struct pollfd pfd;
	struct timespec start, now;
	int r, left = timeout_ms;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -1;
		if (errno != EINTR)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			return -1;
	}
}

/* Send the request in b and parse the RESULT.  Returns the code. */
static int
authd_call(int ch, uint16_t type, struct wbuf *b, uint64_t *account_id,
    char *canon, size_t canonlen)
{
	struct ipc_msg *m;
	struct cursor c;
	const uint8_t *u;
	size_t ulen;
	uint32_t id;
	uint16_t code;
	uint64_t acct;
	int r, rv = AUTHD_RES_INTERNAL;

	*account_id = 0;
	if (canonlen > 0)
		canon[0] = '\0';
	if (b->err) {
		/* Only an over-long field gets here: the body cap is 32 KiB. */
		wbuf_free(b);
		return AUTHD_RES_BAD_INPUT;
	}
	id = ++authd_wrap_id;
	r = ipc_send(ch, type, id, b->data, b->len);
	wbuf_free(b);
	if (r == -1) {
		log_warn("authd: send");
		return AUTHD_RES_UNAVAILABLE;
	}
	if ((m = malloc(sizeof(*m))) == NULL) {
		log_warn("authd: malloc");
		return AUTHD_RES_INTERNAL;
	}
	if (wait_readable(ch, AUTHD_WRAP_TIMEOUT_MS) == -1) {
		log_warnx("authd: no answer");
		rv = AUTHD_RES_UNAVAILABLE;
		goto done;
	}
	if ((r = ipc_recv(ch, m, 0)) != 1) {
		if (r == 0)
			log_warnx("authd: channel closed");
		else
			log_warn("authd: receive");
		rv = AUTHD_RES_UNAVAILABLE;
		goto done;
	}
	if (m->hdr.type != AUTHD_RES_RESULT || m->hdr.id != id) {
		log_warnx("authd: unexpected reply type %u id %u",
		    (unsigned)m->hdr.type, (unsigned)m->hdr.id);
		goto done;
	}
	cur_init(&c, m->body, m->len);
	code = cur_u16(&c);
	acct = cur_u64(&c);
	u = cur_str16(&c, &ulen, 32);
	if (cur_done(&c) == -1 || code > SC_E_MAX ||
	    (code == AUTHD_RES_OK && (acct == 0 || ulen == 0)) ||
	    ulen + 1 > canonlen) {
		log_warnx("authd: malformed reply");
		goto done;
	}
	rv = code;
	if (code == AUTHD_RES_OK) {
		*account_id = acct;
		memcpy(canon, u, ulen);
		canon[ulen] = '\0';
	}
 done:
	freezero(m, sizeof(*m));
	return rv;
}

int
authd_register(int ch, const uint8_t *user, size_t userlen,
    const uint8_t *email, size_t emaillen, const uint8_t *pass,
    size_t passlen, const uint8_t cert_sha256[32], uint64_t *account_id,
    char *canon, size_t canonlen)
{
	struct wbuf b;

	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_str16(&b, user, userlen);
	wbuf_put_str16(&b, email, emaillen);
	wbuf_put_str16(&b, pass, passlen);
	wbuf_put(&b, cert_sha256, AUTHD_CERT_FP_LEN);
	return authd_call(ch, AUTHD_REQ_REGISTER, &b, account_id, canon,
	    canonlen);
}

int
authd_login(int ch, const uint8_t *user, size_t userlen, const uint8_t *pass,
    size_t passlen, const uint8_t cert_sha256[32], uint64_t *account_id,
    char *canon, size_t canonlen)
{
	struct wbuf b;

	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_str16(&b, user, userlen);
	wbuf_put_str16(&b, pass, passlen);
	wbuf_put(&b, cert_sha256, AUTHD_CERT_FP_LEN);
	return authd_call(ch, AUTHD_REQ_LOGIN, &b, account_id, canon,
	    canonlen);
}
