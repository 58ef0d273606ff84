/*
 * fuzz_payload.h: every SecureChat v1 payload parser on one byte range,
 * with the properties a correct parser must have (shared by fuzz_proto.c,
 * which picks one parser per input, and fuzz_frame.c, which picks it by
 * the type of each frame read off the wire).
 *
 *  - a payload that parses encodes back to exactly the same bytes (no
 *    field is ignored, no second spelling of a message is accepted);
 *  - a parser that fails says PROTOCOL or TOO_LARGE and nothing else;
 *  - the worker's content rules (sc_valid_*) and authd's (account_*)
 *    agree, and sc_valid_text agrees with an independent UTF-8 decoder.
 */
#ifndef SC_FUZZ_PAYLOAD_H
#define SC_FUZZ_PAYLOAD_H

#include <string.h>

#include "account.h"
#include "buf.h"
#include "proto.h"
#include "fuzz.h"

/* Which parser fuzz_proto's selector byte picks (modulo the count). */
enum fz_parser {
	FZ_ERROR, FZ_CH, FZ_SH, FZ_SH_CORE, FZ_CF, FZ_RECORD, FZ_REGISTER,
	FZ_LOGIN, FZ_AUTH_OK, FZ_CHAT, FZ_RECEIPT, FZ_VALID,
	/* Messaging (PROTOCOL.md §8), after the others: seeds keep meaning. */
	FZ_SEND, FZ_SENT, FZ_DELIVER, FZ_ACK, FZ_STATUS, FZ_REQUEST,
	FZ_REPLY, FZ_NPARSERS
};

static int
fz_rc_ok(int rc)
{
	return rc == 0 || rc == SC_E_PROTOCOL || rc == SC_E_TOO_LARGE;
}

/* The encoding in b must be exactly the parsed bytes. */
static void
fz_same(struct wbuf *b, const uint8_t *p, size_t len, const char *what)
{
	if (b->err || b->len != len || (len > 0 && memcmp(b->data, p, len)))
		fuzz_fail(__FILE__, __LINE__, what);
	wbuf_free(b);
}

/*
 * Reference for sc_valid_text, written from the Unicode well-formed
 * byte-sequence table (Unicode 15, table 3-7) rather than from proto.c:
 * 1..SC_MAX_TEXT bytes, no C0 control but TAB, no DEL, no C1 control.
 */
static int
fz_ref_text(const uint8_t *s, size_t n)
{
	size_t i = 0, k, need;
	uint32_t cp;
	uint8_t lo, hi;

	if (n < 1 || n > SC_MAX_TEXT)
		return 0;
	while (i < n) {
		uint8_t b = s[i];

		lo = 0x80;
		hi = 0xbf;
		if (b <= 0x7f) {
			need = 0;
			cp = b;
		} else if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			cp = b & 0x0f;
			if (b == 0xe0)
				lo = 0xa0;
			else if (b == 0xed)
				hi = 0x9f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			cp = b & 0x07;
			if (b == 0xf0)
				lo = 0x90;
			else if (b == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (i + need >= n && need > 0)
			return 0;
		for (k = 1; k <= need; k++) {
			uint8_t c = s[i + k];

			/* Only the second byte has the narrowed range. */
			if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xbf))
				return 0;
			cp = cp << 6 | (c & 0x3f);
		}
		if ((cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp <= 0x9f))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* The content checks on arbitrary bytes. */
static void
fz_valid(const uint8_t *p, size_t len)
{
	char canon[ACCOUNT_USER_MAX + 1];
	int v, a;

	v = sc_valid_username(p, len);
	a = account_username_canon(p, len, canon) == 0;
	/* What the worker accepts, authd accepts unchanged. */
	if (v)
		FUZZ_CHECK(a && strlen(canon) == len &&
		    memcmp(canon, p, len) == 0);
	/* What authd makes of a name is a name the worker accepts. */
	if (a)
		FUZZ_CHECK(sc_valid_username((const uint8_t *)canon,
		    strlen(canon)));
	FUZZ_CHECK(sc_valid_email(p, len) == (account_email_check(p, len) == 0));
	/* A password the client may send is one authd's length rule takes. */
	if (sc_valid_password(p, len))
		FUZZ_CHECK(account_password_check(len) == 0);
	FUZZ_CHECK(sc_valid_text(p, len) == fz_ref_text(p, len));
}

static void
fz_error(const uint8_t *p, size_t len)
{
	char reason[SC_MAX_REASON + 1];
	struct wbuf b;
	uint16_t code;
	size_t i, n;
	int rc, printable = 1;

	rc = sc_error_parse(p, len, &code, reason, sizeof(reason));
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	n = strlen(reason);
	FUZZ_CHECK(n <= SC_MAX_REASON && n == len - 4);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(reason[i] >= 0x20 && reason[i] < 0x7f);
	for (i = 4; i < len; i++)
		if (p[i] < 0x20 || p[i] >= 0x7f)
			printable = 0;
	/* A clean reason with a code in range is sent as it was read. */
	if (printable && code >= 1) {
		wbuf_init(&b, SC_MAX_PAYLOAD);
		sc_error_encode(&b, code, reason);
		fz_same(&b, p, len, "ERROR re-encoding");
	}
	/* A short buffer still gets a terminated, shortened reason. */
	rc = sc_error_parse(p, len, &code, reason, 5);
	FUZZ_CHECK(rc == 0 && strlen(reason) <= 4);
}

static void
fz_ch(const uint8_t *p, size_t len)
{
	struct sc_client_hello ch;
	struct wbuf b;
	int rc;

	rc = sc_ch_parse(p, len, &ch);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	FUZZ_CHECK(ch.certlen >= 1 && ch.certlen <= SC_MAX_CERT &&
	    ch.min_version >= 1 && ch.min_version <= ch.max_version);
	FUZZ_CHECK(sc_version_choose(&ch) == 0 ||
	    sc_version_choose(&ch) == SC_PROTO_VERSION);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_ch_encode(&b, &ch);
	fz_same(&b, p, len, "CLIENT_HELLO re-encoding");
}

static void
fz_sh(const uint8_t *p, size_t len)
{
	struct sc_server_hello sh, core;
	struct wbuf b;
	size_t corelen;
	int rc;

	rc = sc_sh_parse(p, len, &sh, &corelen);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	FUZZ_CHECK(sh.certlen >= 1 && sh.siglen >= 1 &&
	    sh.siglen <= SC_MAX_SIG && corelen < len);
	/* The core prefix is a core on its own: H1 is computed over it. */
	FUZZ_CHECK(sc_sh_core_parse(p, corelen, &core) == 0 &&
	    core.certlen == sh.certlen && core.version == sh.version);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_sh_core_encode(&b, &sh);
	fz_same(&b, p, corelen, "SERVER_HELLO core re-encoding");
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_sh_encode(&b, &sh);
	fz_same(&b, p, len, "SERVER_HELLO re-encoding");
}

static void
fz_sh_core(const uint8_t *p, size_t len)
{
	struct sc_server_hello sh;
	struct wbuf b;
	int rc;

	rc = sc_sh_core_parse(p, len, &sh);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_sh_core_encode(&b, &sh);
	fz_same(&b, p, len, "SERVER_HELLO core re-encoding");
}

static void
fz_cf(const uint8_t *p, size_t len)
{
	const uint8_t *sig;
	size_t siglen;
	struct wbuf b;
	int rc;

	rc = sc_cf_parse(p, len, &sig, &siglen);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_cf_encode(&b, sig, siglen);
	fz_same(&b, p, len, "CLIENT_FINISH re-encoding");
}

static void
fz_record(const uint8_t *p, size_t len)
{
	struct sc_record r;
	struct wbuf b;
	int rc;

	rc = sc_record_parse(p, len, &r);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	FUZZ_CHECK(r.ctlen >= 16 && r.ctlen <= SC_MAX_CT &&
	    r.ctlen % 16 == 0 && r.siglen >= 1 && r.siglen <= SC_MAX_SIG);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_record_encode(&b, &r);
	fz_same(&b, p, len, "record re-encoding");
}

static void
fz_register(const uint8_t *p, size_t len)
{
	struct sc_register m;
	struct wbuf b;
	int rc;

	rc = sc_register_parse(p, len, &m);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	fz_valid(m.username, m.ulen);
	fz_valid(m.email, m.elen);
	fz_valid(m.password, m.plen);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_register_encode(&b, &m);
	fz_same(&b, p, len, "REGISTER re-encoding");
}

static void
fz_login(const uint8_t *p, size_t len)
{
	struct sc_login m;
	struct wbuf b;
	int rc;

	rc = sc_login_parse(p, len, &m);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	fz_valid(m.username, m.ulen);
	fz_valid(m.password, m.plen);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_login_encode(&b, &m);
	fz_same(&b, p, len, "LOGIN re-encoding");
}

static void
fz_auth_ok(const uint8_t *p, size_t len)
{
	struct sc_auth_ok m;
	struct wbuf b;
	int rc;

	rc = sc_auth_ok_parse(p, len, &m);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_auth_ok_encode(&b, &m);
	fz_same(&b, p, len, "AUTH_OK re-encoding");
}

static void
fz_chat(const uint8_t *p, size_t len)
{
	const uint8_t *text;
	size_t tlen;
	struct wbuf b;
	int rc;

	rc = sc_chat_parse(p, len, &text, &tlen);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	fz_valid(text, tlen);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_chat_encode(&b, text, tlen);
	fz_same(&b, p, len, "CHAT re-encoding");
}

static void
fz_receipt(const uint8_t *p, size_t len)
{
	struct sc_receipt r;
	struct wbuf b;
	int rc;

	memset(r.session_id, 0xa5, sizeof(r.session_id));
	rc = sc_receipt_parse(p, len, &r);
	FUZZ_CHECK(fz_rc_ok(rc));
	/* The session id is implicit: never touched by the parser. */
	FUZZ_CHECK(r.session_id[0] == 0xa5 &&
	    r.session_id[SC_SESSION_ID_LEN - 1] == 0xa5);
	if (rc != 0)
		return;
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_receipt_encode(&b, &r);
	fz_same(&b, p, len, "receipt re-encoding");
}

static void
fz_send(const uint8_t *p, size_t len)
{
	struct sc_send m;
	struct wbuf b;
	int rc;

	rc = sc_send_parse(p, len, &m);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	FUZZ_CHECK(m.envlen >= 1 && m.envlen <= SC_MAX_ENVELOPE);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_send_encode(&b, &m);
	fz_same(&b, p, len, "SEND re-encoding");
}

static void
fz_sent(const uint8_t *p, size_t len)
{
	struct sc_sent m;
	struct wbuf b;
	int rc;

	rc = sc_sent_parse(p, len, &m);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	FUZZ_CHECK(m.code <= SC_E_MAX && m.reasonlen <= SC_MAX_REASON);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_sent_encode(&b, &m);
	fz_same(&b, p, len, "SENT re-encoding");
}

static void
fz_deliver(const uint8_t *p, size_t len)
{
	struct sc_deliver m;
	struct wbuf b;
	int rc;

	rc = sc_deliver_parse(p, len, &m);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	FUZZ_CHECK(m.msg_id != 0 && m.envlen >= 1 &&
	    m.envlen <= SC_MAX_ENVELOPE);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_deliver_encode(&b, &m);
	fz_same(&b, p, len, "DELIVER re-encoding");
}

static void
fz_ack(const uint8_t *p, size_t len)
{
	struct sc_ack m;
	struct wbuf b;
	int rc;

	rc = sc_ack_parse(p, len, &m);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	FUZZ_CHECK(m.msg_id != 0 && (m.state == SC_ST_DELIVERED ||
	    m.state == SC_ST_READ));
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_ack_encode(&b, &m);
	fz_same(&b, p, len, "ACK re-encoding");
}

static void
fz_status(const uint8_t *p, size_t len)
{
	struct sc_status m;
	struct wbuf b;
	int rc;

	rc = sc_status_parse(p, len, &m);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	FUZZ_CHECK(sc_valid_username(m.by_user, m.by_userlen));
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_status_encode(&b, &m);
	fz_same(&b, p, len, "STATUS re-encoding");
}

static void
fz_request(const uint8_t *p, size_t len)
{
	struct sc_request m;
	struct wbuf b;
	int rc;

	rc = sc_request_parse(p, len, &m);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	FUZZ_CHECK(m.op >= 1 && m.op <= SC_OP_MAX);
	fz_valid(m.arg, m.arglen);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_request_encode(&b, &m);
	fz_same(&b, p, len, "REQUEST re-encoding");
}

static void
fz_reply(const uint8_t *p, size_t len)
{
	static struct sc_reply m;	/* 64 items: keep it off the stack */
	struct wbuf b;
	uint16_t i;
	int rc;

	rc = sc_reply_parse(p, len, &m);
	FUZZ_CHECK(fz_rc_ok(rc));
	if (rc != 0)
		return;
	FUZZ_CHECK(m.n <= SC_MAX_REPLY_ITEMS && m.code <= SC_E_MAX);
	wbuf_init(&b, SC_MAX_PAYLOAD);
	sc_reply_encode_head(&b, m.ref, m.op, m.code, m.n);
	for (i = 0; i < m.n && i < SC_MAX_REPLY_ITEMS; i++)
		sc_reply_encode_item(&b, m.item[i].name, m.item[i].namelen,
		    m.item[i].data, m.item[i].datalen);
	fz_same(&b, p, len, "REPLY re-encoding");
}

static void __attribute__((unused))
fz_parse_one(enum fz_parser which, const uint8_t *p, size_t len)
{
	switch (which) {
	case FZ_ERROR:
		fz_error(p, len);
		break;
	case FZ_CH:
		fz_ch(p, len);
		break;
	case FZ_SH:
		fz_sh(p, len);
		break;
	case FZ_SH_CORE:
		fz_sh_core(p, len);
		break;
	case FZ_CF:
		fz_cf(p, len);
		break;
	case FZ_RECORD:
		fz_record(p, len);
		break;
	case FZ_REGISTER:
		fz_register(p, len);
		break;
	case FZ_LOGIN:
		fz_login(p, len);
		break;
	case FZ_AUTH_OK:
		fz_auth_ok(p, len);
		break;
	case FZ_CHAT:
		fz_chat(p, len);
		break;
	case FZ_RECEIPT:
		fz_receipt(p, len);
		break;
	case FZ_SEND:
		fz_send(p, len);
		break;
	case FZ_SENT:
		fz_sent(p, len);
		break;
	case FZ_DELIVER:
		fz_deliver(p, len);
		break;
	case FZ_ACK:
		fz_ack(p, len);
		break;
	case FZ_STATUS:
		fz_status(p, len);
		break;
	case FZ_REQUEST:
		fz_request(p, len);
		break;
	case FZ_REPLY:
		fz_reply(p, len);
		break;
	case FZ_VALID:
	case FZ_NPARSERS:
		fz_valid(p, len);
		break;
	}
}

/*
 * The parsers a frame of this type meets: the clear handshake payloads
 * directly; a record's outer layout, and (as if decrypted) the body of its
 * type, which is how the worker and the client see it after opening.
 */
static void __attribute__((unused))
fz_parse_frame(uint8_t type, const uint8_t *p, size_t len)
{
	switch (type) {
	case SC_T_CLIENT_HELLO:
		fz_ch(p, len);
		break;
	case SC_T_SERVER_HELLO:
		fz_sh(p, len);
		break;
	case SC_T_CLIENT_FINISH:
		fz_cf(p, len);
		break;
	case SC_T_ERROR:
		fz_error(p, len);
		break;
	case SC_T_REGISTER:
		fz_record(p, len);
		fz_register(p, len);
		break;
	case SC_T_LOGIN:
		fz_record(p, len);
		fz_login(p, len);
		break;
	case SC_T_AUTH_OK:
		fz_record(p, len);
		fz_auth_ok(p, len);
		break;
	case SC_T_CHAT:
		fz_record(p, len);
		fz_chat(p, len);
		break;
	case SC_T_CLOSE:
	case SC_T_CLOSE_ACK:
		fz_record(p, len);
		fz_receipt(p, len);
		break;
	case SC_T_SEND:
		fz_record(p, len);
		fz_send(p, len);
		break;
	case SC_T_SENT:
		fz_record(p, len);
		fz_sent(p, len);
		break;
	case SC_T_DELIVER:
		fz_record(p, len);
		fz_deliver(p, len);
		break;
	case SC_T_ACK:
		fz_record(p, len);
		fz_ack(p, len);
		break;
	case SC_T_STATUS:
		fz_record(p, len);
		fz_status(p, len);
		break;
	case SC_T_REQUEST:
		fz_record(p, len);
		fz_request(p, len);
		break;
	case SC_T_REPLY:
		fz_record(p, len);
		fz_reply(p, len);
		break;
	default:
		/* sc_frame_read never returns an unknown type. */
		FUZZ_CHECK(sc_type_known(type));
		break;
	}
}

#endif
