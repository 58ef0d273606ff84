/*
 * csession.c: the client side of the SecureChat v1 protocol (see
 * csession.h and docs/PROTOCOL.md).
 */
#include "csession.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "sccrypto.h"
#include "util.h"

#define CS_DEFAULT_TIMEOUT_MS	30000

static void
seterr(struct csession_err *e, int code, int remote, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
seterr(struct csession_err *e, int code, int remote, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	e->remote = remote;
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
}

/* Tell the server why we give up (best effort), and record it. */
static void
fail_local(struct csession *cs, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail_local(struct csession *cs, int code, const char *fmt, ...)
{
	va_list ap;

	cs->err.code = code;
	cs->err.remote = 0;
	va_start(ap, fmt);
	vsnprintf(cs->err.reason, sizeof(cs->err.reason), fmt, ap);
	va_end(ap);
	if (cs->fd != -1)
		(void)sc_error_send(cs->fd, 1000, code, sc_err_name(code));
	cs->state = CS_CLOSED;
}

/* An ERROR frame from the server becomes our error. */
static void
fail_remote(struct csession *cs, const struct sc_frame *f)
{
	char reason[SC_MAX_REASON + 1];
	uint16_t code;

	if (sc_error_parse(f->payload, f->len, &code, reason,
	    sizeof(reason)) != 0)
		seterr(&cs->err, SC_E_PROTOCOL, 1,
		    "server sent a malformed error");
	else
		seterr(&cs->err, code, 1, "%s", reason);
	cs->state = CS_CLOSED;
}

/*
 * Read one frame.  A clean close, a timeout or an I/O failure become the
 * session's error; the frame is the caller's to free on success.
 */
static int
read_frame(struct csession *cs, int timeout_ms, struct sc_frame *f)
{
	int code = 0, r;

	r = sc_frame_read(cs->fd, timeout_ms, f, &code);
	if (r == 1)
		return 0;
	if (r == 0)
		seterr(&cs->err, SC_E_PROTOCOL, 0,
		    "server closed the connection");
	else if (code != 0)
		fail_local(cs, code, "bad frame from server: %s",
		    sc_err_name(code));
	else
		seterr(&cs->err, SC_E_PROTOCOL, 0, "connection lost: %s",
		    strerror(errno));
	cs->state = CS_CLOSED;
	return -1;
}

static int
tcp_connect(const char *host, const char *port, int timeout_ms,
    struct csession_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, rc, soerr;
	socklen_t sl;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		seterr(err, SC_E_PROTOCOL, 0, "cannot resolve %s port %s: %s",
		    host, port, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno != EINPROGRESS)
			goto next;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) != 1)
			goto next;
		sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1 ||
		    soerr != 0) {
			errno = soerr;
			goto next;
		}
		/* Blocking from here on; sc_frame_read/write poll. */
		if (fcntl(fd, F_SETFL, 0) == -1)
			goto next;
		rc = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &rc, sizeof(rc));
		freeaddrinfo(res);
		return fd;
 next:
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	seterr(err, SC_E_PROTOCOL, 0, "cannot connect to %s port %s: %s",
	    host, port, strerror(errno));
	freeaddrinfo(res);
	return -1;
}

/* Read and check o's CA, CRL, certificate and key into id. */
static int
ident_read(struct csession_ident *id, const struct csession_opts *o,
    struct csession_err *err)
{
	char ebuf[256];

	if ((id->trust = pki_trust_load(o->ca, o->crl, ebuf,
	    sizeof(ebuf))) == NULL) {
		seterr(err, SC_E_BAD_CERT, 0, "CA: %s", ebuf);
		return -1;
	}
	if ((id->cert = pki_load_cert(o->cert, ebuf, sizeof(ebuf))) == NULL) {
		seterr(err, SC_E_BAD_CERT, 0, "certificate: %s", ebuf);
		return -1;
	}
	if ((id->key = pki_load_key(o->key, ebuf, sizeof(ebuf))) == NULL) {
		seterr(err, SC_E_BAD_CERT, 0, "key: %s", ebuf);
		return -1;
	}
	if (!pki_key_matches_cert(id->key, id->cert)) {
		seterr(err, SC_E_BAD_CERT, 0,
		    "key %s does not belong to certificate %s", o->key,
		    o->cert);
		return -1;
	}
	if (sc_rsa_key_ok(id->key) == -1) {
		seterr(err, SC_E_BAD_CERT, 0,
		    "key %s: need RSA of 2048 to 4096 bits", o->key);
		return -1;
	}
	if (pki_fingerprint(id->cert, id->cert_fp) == -1) {
		seterr(err, SC_E_INTERNAL, 0, "cannot fingerprint %s", o->cert);
		return -1;
	}
	return 0;
}

struct csession_ident *
csession_ident_load(const struct csession_opts *o, struct csession_err *err)
{
	struct csession_ident *id;

	memset(err, 0, sizeof(*err));
	if ((id = calloc(1, sizeof(*id))) == NULL) {
		seterr(err, SC_E_INTERNAL, 0, "out of memory");
		return NULL;
	}
	if (ident_read(id, o, err) == -1) {
		csession_ident_free(id);
		return NULL;
	}
	return id;
}

void
csession_ident_free(struct csession_ident *id)
{
	if (id == NULL)
		return;
	pki_trust_free(id->trust);
	X509_free(id->cert);
	EVP_PKEY_free(id->key);
	freezero(id, sizeof(*id));
}

static int
load_identity(struct csession *cs, const struct csession_opts *o,
    struct csession_err *err)
{
	struct csession_ident id;

	if (o->ident != NULL) {
		/* Shared: the certificate and key are counted, the trust
		 * store borrowed (the ident outlives the session). */
		id = *o->ident;
		if (id.trust == NULL || id.cert == NULL || id.key == NULL ||
		    X509_up_ref(id.cert) != 1) {
			seterr(err, SC_E_INTERNAL, 0, "bad shared identity");
			return -1;
		}
		if (EVP_PKEY_up_ref(id.key) != 1) {
			X509_free(id.cert);
			seterr(err, SC_E_INTERNAL, 0, "bad shared identity");
			return -1;
		}
		cs->trust_borrowed = 1;
	} else {
		memset(&id, 0, sizeof(id));
		if (ident_read(&id, o, err) == -1) {
			pki_trust_free(id.trust);
			X509_free(id.cert);
			EVP_PKEY_free(id.key);
			return -1;
		}
	}
	cs->trust = id.trust;
	cs->cert = id.cert;
	cs->key = id.key;
	memcpy(cs->cert_fp, id.cert_fp, sizeof(cs->cert_fp));
	return 0;
}

static int
handshake(struct csession *cs, const struct csession_opts *o)
{
	struct sc_client_hello ch;
	struct sc_server_hello sh;
	struct sc_frame f = { 0 };
	struct wbuf chb, stmt, cf;
	struct sc_dirkeys keys;
	EVP_PKEY *eph = NULL, *peer_pub = NULL;
	uint8_t der[SC_MAX_CERT], h1[SC_SHA256_LEN], ss[32];
	uint8_t sig[SC_MAX_SIG];
	size_t derlen, corelen, siglen = sizeof(sig);
	char reason[512];
	enum pki_verdict v;
	int rc = -1, code;

	wbuf_init(&chb, SC_MAX_PAYLOAD);
	wbuf_init(&stmt, SC_STMT_MAX);
	wbuf_init(&cf, SC_MAX_PAYLOAD);
	memset(&ch, 0, sizeof(ch));
	ch.min_version = SC_PROTO_VERSION;
	ch.max_version = SC_PROTO_VERSION;
	if (RAND_bytes(ch.client_nonce, sizeof(ch.client_nonce)) != 1 ||
	    sc_x25519_keygen(&eph, ch.client_kex) == -1 ||
	    pki_cert_to_der(cs->cert, der, sizeof(der), &derlen) == -1) {
		fail_local(cs, SC_E_INTERNAL, "cannot build the client hello");
		goto out;
	}
	ch.cert = der;
	ch.certlen = derlen;
	if (sc_ch_encode(&chb, &ch) == -1 ||
	    sc_frame_write(cs->fd, cs->timeout_ms, SC_T_CLIENT_HELLO,
	    chb.data, chb.len) == -1) {
		seterr(&cs->err, SC_E_PROTOCOL, 0, "cannot send client hello: %s",
		    strerror(errno));
		goto out;
	}

	if (read_frame(cs, cs->timeout_ms, &f) == -1)
		goto out;
	if (f.type == SC_T_ERROR) {
		fail_remote(cs, &f);
		goto out;
	}
	if (f.type != SC_T_SERVER_HELLO) {
		fail_local(cs, SC_E_PROTOCOL, "server sent %s, expected "
		    "SERVER_HELLO", sc_type_name(f.type));
		goto out;
	}
	if ((code = sc_sh_parse(f.payload, f.len, &sh, &corelen)) != 0) {
		fail_local(cs, code, "malformed server hello");
		goto out;
	}
	if (sh.version != SC_PROTO_VERSION) {
		fail_local(cs, SC_E_VERSION, "server chose protocol version %u",
		    sh.version);
		goto out;
	}
	if ((cs->peer_cert = pki_cert_from_der(sh.cert, sh.certlen, reason,
	    sizeof(reason))) == NULL) {
		fail_local(cs, SC_E_BAD_CERT, "server certificate: %s", reason);
		goto out;
	}
	v = pki_verify(cs->trust, cs->peer_cert, PKI_PURPOSE_SERVER,
	    o->server_name ? o->server_name : o->host, 0, reason,
	    sizeof(reason));
	if (v != PKI_OK) {
		fail_local(cs, SC_E_BAD_CERT, "server certificate rejected: %s",
		    reason);
		goto out;
	}
	if ((peer_pub = X509_get_pubkey(cs->peer_cert)) == NULL ||
	    sc_rsa_key_ok(peer_pub) == -1 ||
	    pki_fingerprint(cs->peer_cert, cs->peer_fp) == -1) {
		fail_local(cs, SC_E_BAD_CERT,
		    "server certificate: unusable public key");
		goto out;
	}
	/* The server proves it holds the key of that certificate. */
	if (sc_h1(chb.data, chb.len, f.payload, corelen, h1) == -1 ||
	    sc_stmt_server_handshake(&stmt, h1) == -1) {
		fail_local(cs, SC_E_INTERNAL, "cannot hash the handshake");
		goto out;
	}
	if (sc_rsa_verify(peer_pub, stmt.data, stmt.len, sh.sig,
	    sh.siglen) == -1) {
		fail_local(cs, SC_E_SIG_FAIL,
		    "server handshake signature does not verify");
		goto out;
	}
	if (sc_h2(h1, sh.sig, sh.siglen, cs->h2) == -1) {
		fail_local(cs, SC_E_INTERNAL, "cannot hash the handshake");
		goto out;
	}
	if (sc_x25519_derive(eph, sh.server_kex, sizeof(sh.server_kex),
	    ss) == -1) {
		fail_local(cs, SC_E_PROTOCOL, "invalid server key share");
		goto out;
	}

	/* Our proof of possession over the whole handshake. */
	wbuf_reset(&stmt);
	if (sc_stmt_client_handshake(&stmt, cs->h2) == -1 ||
	    sc_rsa_sign(cs->key, stmt.data, stmt.len, sig, &siglen) == -1 ||
	    sc_cf_encode(&cf, sig, siglen) == -1) {
		fail_local(cs, SC_E_INTERNAL, "cannot sign the handshake");
		goto out;
	}
	if (sc_frame_write(cs->fd, cs->timeout_ms, SC_T_CLIENT_FINISH,
	    cf.data, cf.len) == -1) {
		seterr(&cs->err, SC_E_PROTOCOL, 0, "cannot send: %s",
		    strerror(errno));
		goto out;
	}
	if (sc_derive_temp_keys(ss, cs->h2, &keys) == -1 ||
	    record_channel_init(&cs->ch, SC_SIDE_CLIENT, sh.session_id,
	    peer_pub, o->stale_ms) == -1 ||
	    record_set_keys(&cs->ch, SC_PHASE_TEMP, &keys) == -1) {
		fail_local(cs, SC_E_INTERNAL, "cannot derive keys");
		goto out;
	}
	cs->state = CS_AUTH;
	rc = 0;
 out:
	OPENSSL_cleanse(ss, sizeof(ss));
	OPENSSL_cleanse(&keys, sizeof(keys));
	EVP_PKEY_free(eph);
	EVP_PKEY_free(peer_pub);
	sc_frame_free(&f);
	wbuf_free(&chb);
	wbuf_free(&stmt);
	wbuf_free(&cf);
	return rc;
}

struct csession *
csession_open(const struct csession_opts *o, struct csession_err *err)
{
	struct csession *cs;

	memset(err, 0, sizeof(*err));
	if ((cs = calloc(1, sizeof(*cs))) == NULL) {
		seterr(err, SC_E_INTERNAL, 0, "out of memory");
		return NULL;
	}
	cs->fd = -1;
	cs->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms :
	    CS_DEFAULT_TIMEOUT_MS;
	wbuf_init(&cs->sbody, SC_MAX_PAYLOAD);
	wbuf_init(&cs->sout, SC_MAX_PAYLOAD);
	/* One plaintext buffer for the session, not one per record. */
	if ((cs->ptbuf = malloc(SC_MAX_CT)) == NULL) {
		seterr(err, SC_E_INTERNAL, 0, "out of memory");
		goto fail;
	}
	if (load_identity(cs, o, err) == -1)
		goto fail;
	if (o->transcript != NULL) {
		if (transcript_open(&cs->tr, o->transcript,
		    TRANSCRIPT_SYNC_RECEIPT) == -1) {
			seterr(err, SC_E_INTERNAL, 0, "transcript %s: %s",
			    o->transcript, strerror(errno));
			goto fail;
		}
		cs->have_tr = 1;
	}
	if ((cs->fd = tcp_connect(o->host, o->port, cs->timeout_ms, err)) == -1)
		goto fail;
	if (handshake(cs, o) == -1) {
		*err = cs->err;
		goto fail;
	}
	return cs;
 fail:
	csession_free(cs);
	return NULL;
}

int
csession_fd(struct csession *cs)
{
	return cs->fd;
}

int
csession_seal(struct csession *cs, uint8_t type, const uint8_t *pt,
    size_t len, struct wbuf *out)
{
	return record_seal(&cs->ch, type, pt, len, record_sign_local, cs->key,
	    out);
}

static int log_record(struct csession *, uint8_t, uint8_t,
    const struct sc_record *, const uint8_t [SC_SHA256_LEN]);

/*
 * Seal and send one record.  A CHAT record is logged in the transcript
 * before it leaves, so no line is missing for a message the server got.
 */
static int
send_record(struct csession *cs, uint8_t type, const uint8_t *pt, size_t len,
    struct wbuf *out)
{
	struct sc_record rec;
	int code;

	if ((code = csession_seal(cs, type, pt, len, out)) != 0) {
		fail_local(cs, code, "cannot seal %s: %s", sc_type_name(type),
		    sc_err_name(code));
		return -1;
	}
	if (sc_record_in_transcript(type)) {
		if (sc_record_parse(out->data, out->len, &rec) != 0) {
			fail_local(cs, SC_E_INTERNAL,
			    "cannot reparse own record");
			return -1;
		}
		if (log_record(cs, SC_DIR_C2S, type, &rec, cs->cert_fp) == -1)
			return -1;
	}
	if (sc_frame_write(cs->fd, cs->timeout_ms, type, out->data,
	    out->len) == -1) {
		seterr(&cs->err, SC_E_PROTOCOL, 0, "cannot send: %s",
		    strerror(errno));
		cs->state = CS_CLOSED;
		return -1;
	}
	return 0;
}

/*
 * Wait for a record of type want (an ERROR is the server's answer), open
 * it into pt; rec points into f, which the caller frees.
 */
static int
recv_record(struct csession *cs, int timeout_ms, uint8_t want,
    struct sc_frame *f, uint8_t *pt, size_t ptcap, size_t *ptlen,
    struct sc_record *rec)
{
	int code;

	if (read_frame(cs, timeout_ms, f) == -1)
		return -1;
	if (f->type == SC_T_ERROR) {
		fail_remote(cs, f);
		return -1;
	}
	if (f->type != want) {
		fail_local(cs, SC_E_PROTOCOL, "server sent %s, expected %s",
		    sc_type_name(f->type), sc_type_name(want));
		return -1;
	}
	if ((code = record_open(&cs->ch, f->type, f->payload, f->len, pt,
	    ptcap, ptlen, rec)) != 0) {
		fail_local(cs, code, "server %s record rejected: %s",
		    sc_type_name(f->type), sc_err_name(code));
		return -1;
	}
	return 0;
}

static int
authenticate(struct csession *cs, uint8_t type, const char *user,
    const char *email, const char *password)
{
	struct sc_register reg;
	struct sc_login login;
	struct sc_auth_ok ok;
	struct sc_frame f = { 0 };
	struct wbuf body, out;
	struct sc_dirkeys keys;
	EVP_PKEY *eph = NULL;
	uint8_t kex[SC_KEX_LEN], ss[32], *pt = NULL;
	size_t ptlen = 0;
	int rc = -1, code;

	if (cs->state != CS_AUTH) {
		seterr(&cs->err, SC_E_PROTOCOL, 0, "not ready to log in");
		return -1;
	}
	wbuf_init(&body, SC_MAX_PAYLOAD);
	wbuf_init(&out, SC_MAX_PAYLOAD);
	if ((pt = malloc(SC_MAX_CT)) == NULL ||
	    sc_x25519_keygen(&eph, kex) == -1) {
		fail_local(cs, SC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (type == SC_T_REGISTER) {
		memset(&reg, 0, sizeof(reg));
		reg.username = (const uint8_t *)user;
		reg.ulen = strlen(user);
		reg.email = (const uint8_t *)email;
		reg.elen = strlen(email);
		reg.password = (const uint8_t *)password;
		reg.plen = strlen(password);
		memcpy(reg.kex2, kex, sizeof(kex));
		code = sc_register_encode(&body, &reg) == 0 ? 0 : SC_E_TOO_LARGE;
	} else {
		memset(&login, 0, sizeof(login));
		login.username = (const uint8_t *)user;
		login.ulen = strlen(user);
		login.password = (const uint8_t *)password;
		login.plen = strlen(password);
		memcpy(login.kex2, kex, sizeof(kex));
		code = sc_login_encode(&body, &login) == 0 ? 0 : SC_E_TOO_LARGE;
	}
	if (code != 0) {
		seterr(&cs->err, SC_E_BAD_INPUT, 0, "field too long");
		goto out;
	}
	if (send_record(cs, type, body.data, body.len, &out) == -1)
		goto out;
	if (recv_record(cs, cs->timeout_ms, SC_T_AUTH_OK, &f, pt, SC_MAX_CT,
	    &ptlen, NULL) == -1)
		goto out;
	if ((code = sc_auth_ok_parse(pt, ptlen, &ok)) != 0) {
		fail_local(cs, code, "malformed AUTH_OK");
		goto out;
	}
	if (sc_x25519_derive(eph, ok.kex2, sizeof(ok.kex2), ss) == -1) {
		fail_local(cs, SC_E_PROTOCOL, "invalid server key share");
		goto out;
	}
	if (sc_derive_session_keys(ss, cs->h2, &keys) == -1 ||
	    record_set_keys(&cs->ch, SC_PHASE_SESSION, &keys) == -1) {
		fail_local(cs, SC_E_INTERNAL, "cannot derive session keys");
		goto out;
	}
	cs->account_id = ok.account_id;
	if (ok.ulen >= sizeof(cs->username))
		ok.ulen = sizeof(cs->username) - 1;
	memcpy(cs->username, ok.username, ok.ulen);
	cs->username[ok.ulen] = '\0';
	cs->state = CS_OPEN;
	rc = 0;
 out:
	OPENSSL_cleanse(ss, sizeof(ss));
	OPENSSL_cleanse(&keys, sizeof(keys));
	if (pt != NULL)
		freezero(pt, SC_MAX_CT);
	EVP_PKEY_free(eph);
	sc_frame_free(&f);
	wbuf_free(&body);	/* wipes the password */
	wbuf_free(&out);
	return rc;
}

int
csession_register(struct csession *cs, const char *user, const char *email,
    const char *password)
{
	return authenticate(cs, SC_T_REGISTER, user, email, password);
}

int
csession_login(struct csession *cs, const char *user, const char *password)
{
	return authenticate(cs, SC_T_LOGIN, user, NULL, password);
}

static int
log_record(struct csession *cs, uint8_t dir, uint8_t type,
    const struct sc_record *rec, const uint8_t fp[SC_SHA256_LEN])
{
	if (!cs->have_tr)
		return 0;
	if (transcript_append(&cs->tr, dir, type, rec, fp) == -1) {
		fail_local(cs, SC_E_INTERNAL, "cannot write the transcript: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
csession_send_chat(struct csession *cs, const char *text, size_t len)
{
	struct wbuf *body, *out;
	int rc = -1;

	if (cs->state != CS_OPEN) {
		seterr(&cs->err, SC_E_PROTOCOL, 0, "not logged in");
		return -1;
	}
	if (!sc_valid_text((const uint8_t *)text, len)) {
		seterr(&cs->err, SC_E_BAD_INPUT, 0, "message must be 1 to %d "
		    "bytes of UTF-8 text", SC_MAX_TEXT);
		return -1;
	}
	/* The session's buffers, kept between messages (wiped here). */
	body = &cs->sbody;
	out = &cs->sout;
	wbuf_reset(body);
	wbuf_reset(out);
	if (sc_chat_encode(body, (const uint8_t *)text, len) == -1) {
		seterr(&cs->err, SC_E_TOO_LARGE, 0, "message too long");
		goto out;
	}
	if (send_record(cs, SC_T_CHAT, body->data, body->len, out) == -1)
		goto out;
	rc = 0;
 out:
	wbuf_reset(body);
	return rc;
}

int
csession_recv_chat(struct csession *cs, int timeout_ms, char *buf,
    size_t bufsz, size_t *lenp)
{
	struct sc_frame f = { 0 };
	struct sc_record rec;
	const uint8_t *text;
	uint8_t *pt = cs->ptbuf;	/* the session's: no allocation */
	size_t ptlen = 0, tlen;
	int rc = -1, code;

	if (cs->state != CS_OPEN) {
		seterr(&cs->err, SC_E_PROTOCOL, 0, "not logged in");
		return -1;
	}
	if (recv_record(cs, timeout_ms, SC_T_CHAT, &f, pt, SC_MAX_CT, &ptlen,
	    &rec) == -1)
		goto out;
	if ((code = sc_chat_parse(pt, ptlen, &text, &tlen)) != 0 ||
	    !sc_valid_text(text, tlen)) {
		fail_local(cs, code ? code : SC_E_BAD_INPUT,
		    "malformed chat message from server");
		goto out;
	}
	if (log_record(cs, SC_DIR_S2C, SC_T_CHAT, &rec, cs->peer_fp) == -1)
		goto out;
	if (tlen >= bufsz)
		tlen = bufsz - 1;
	memcpy(buf, text, tlen);
	buf[tlen] = '\0';
	*lenp = tlen;
	rc = 1;
 out:
	/*
	 * What record_open may have written: ptlen bytes when it succeeded,
	 * otherwise never more than the ciphertext (a failed decryption).
	 */
	OPENSSL_cleanse(pt, ptlen > 0 ? ptlen : f.len < SC_MAX_CT ? f.len :
	    SC_MAX_CT);
	sc_frame_free(&f);
	return rc;
}

int
csession_close(struct csession *cs, const char *my_receipt,
    const char *server_receipt)
{
	struct sc_receipt mine, theirs;
	struct sc_frame f = { 0 };
	uint8_t cur_hash[SC_SHA256_LEN];
	uint64_t cur_first, cur_last;
	struct wbuf stmt, body, out;
	EVP_PKEY *pub = NULL;
	uint8_t pt[1024];
	size_t ptlen;
	int rc = -1, code;

	if (cs->state != CS_OPEN) {
		seterr(&cs->err, SC_E_PROTOCOL, 0, "not logged in");
		return -1;
	}
	/*
	 * SYNC first: the server answers once everything it sent before is
	 * on the wire, and sends nothing unsolicited after it.  Our receipt,
	 * made after the answer, covers exactly what the server logged.
	 */
	if (csession_request(cs, 0xffffffffU, SC_OP_SYNC, "") == -1)
		return -1;
	for (;;) {
		struct cs_event ev;
		int r;

		if ((r = csession_next_event(cs, cs->timeout_ms, &ev)) == -1)
			return -1;
		if (r == 0) {
			fail_local(cs, SC_E_TIMEOUT, "no answer to SYNC");
			return -1;
		}
		if (ev.type == SC_T_REPLY && ev.u.reply.op == SC_OP_SYNC &&
		    ev.u.reply.ref == 0xffffffffU) {
			csession_event_clear(&ev);
			break;
		}
		if (cs->on_event != NULL)
			cs->on_event(cs->on_event_arg, &ev);
		csession_event_clear(&ev);
	}
	wbuf_init(&stmt, SC_STMT_MAX);
	wbuf_init(&body, SC_MAX_PAYLOAD);
	wbuf_init(&out, SC_MAX_PAYLOAD);
	memset(&mine, 0, sizeof(mine));
	memcpy(mine.session_id, cs->ch.session_id, SC_SESSION_ID_LEN);
	mine.role = SC_ROLE_CLIENT;
	memcpy(mine.peer_fp, cs->peer_fp, SC_SHA256_LEN);
	if (!cs->have_tr || transcript_digest(&cs->tr, mine.transcript_sha256,
	    &mine.first_seq, &mine.last_seq) == -1) {
		fail_local(cs, SC_E_INTERNAL,
		    "transcript is missing or incomplete: no receipt");
		goto out;
	}
	mine.siglen = sizeof(mine.sig);
	if (sc_stmt_receipt(&stmt, &mine) == -1 ||
	    sc_rsa_sign(cs->key, stmt.data, stmt.len, mine.sig,
	    &mine.siglen) == -1 ||
	    sc_receipt_encode(&body, &mine) == -1) {
		fail_local(cs, SC_E_INTERNAL, "cannot sign the receipt");
		goto out;
	}
	if (send_record(cs, SC_T_CLOSE, body.data, body.len, &out) == -1)
		goto out;
	/* What we hold from now on; our signed receipt stays as sent. */
	memcpy(cur_hash, mine.transcript_sha256, SC_SHA256_LEN);
	cur_first = mine.first_seq;
	cur_last = mine.last_seq;
	/*
	 * CHAT records the server sent before it saw CLOSE are accepted and
	 * logged as usual (PROTOCOL.md §5, CLOSING): the server's receipt
	 * covers them.
	 */
	for (;;) {
		struct sc_record rec;

		sc_frame_free(&f);
		if (read_frame(cs, cs->timeout_ms, &f) == -1)
			goto out;
		if (f.type == SC_T_ERROR) {
			fail_remote(cs, &f);
			goto out;
		}
		if (!sc_record_in_transcript(f.type))
			break;
		if ((code = record_open(&cs->ch, f.type, f.payload, f.len,
		    cs->ptbuf, SC_MAX_CT, &ptlen, &rec)) != 0) {
			fail_local(cs, code, "server %s record rejected: %s",
			    sc_type_name(f.type), sc_err_name(code));
			goto out;
		}
		OPENSSL_cleanse(cs->ptbuf, ptlen);
		if (log_record(cs, SC_DIR_S2C, f.type, &rec, cs->peer_fp) == -1 ||
		    transcript_digest(&cs->tr, cur_hash, &cur_first,
		    &cur_last) == -1)
			goto out;
	}
	if (f.type != SC_T_CLOSE_ACK) {
		fail_local(cs, SC_E_PROTOCOL, "server sent %s, expected "
		    "CLOSE_ACK", sc_type_name(f.type));
		goto out;
	}
	if ((code = record_open(&cs->ch, f.type, f.payload, f.len, pt,
	    sizeof(pt), &ptlen, NULL)) != 0) {
		fail_local(cs, code, "server CLOSE_ACK record rejected: %s",
		    sc_err_name(code));
		goto out;
	}
	if ((code = sc_receipt_parse(pt, ptlen, &theirs)) != 0) {
		fail_local(cs, code, "malformed server receipt");
		goto out;
	}
	memcpy(theirs.session_id, cs->ch.session_id, SC_SESSION_ID_LEN);
	wbuf_reset(&stmt);
	if ((pub = X509_get_pubkey(cs->peer_cert)) == NULL ||
	    sc_stmt_receipt(&stmt, &theirs) == -1 ||
	    sc_rsa_verify(pub, stmt.data, stmt.len, theirs.sig,
	    theirs.siglen) == -1) {
		fail_local(cs, SC_E_SIG_FAIL,
		    "server receipt signature does not verify");
		goto out;
	}
	if (theirs.role != SC_ROLE_SERVER ||
	    CRYPTO_memcmp(theirs.peer_fp, cs->cert_fp, SC_SHA256_LEN) != 0) {
		fail_local(cs, SC_E_SIG_FAIL, "server receipt is not about us");
		goto out;
	}
	if (CRYPTO_memcmp(theirs.transcript_sha256, cur_hash,
	    SC_SHA256_LEN) != 0 || theirs.first_seq != cur_first ||
	    theirs.last_seq != cur_last) {
		fail_local(cs, SC_E_SIG_FAIL, "server receipt covers another "
		    "transcript than ours");
		goto out;
	}
	if (my_receipt != NULL &&
	    receipt_write_json(my_receipt, &mine, cs->cert_fp, 0) == -1) {
		seterr(&cs->err, SC_E_INTERNAL, 0, "cannot write %s: %s",
		    my_receipt, strerror(errno));
		goto out;
	}
	if (server_receipt != NULL &&
	    receipt_write_json(server_receipt, &theirs, cs->peer_fp, 0) == -1) {
		seterr(&cs->err, SC_E_INTERNAL, 0, "cannot write %s: %s",
		    server_receipt, strerror(errno));
		goto out;
	}
	cs->state = CS_CLOSED;
	rc = 0;
 out:
	EVP_PKEY_free(pub);
	sc_frame_free(&f);
	wbuf_free(&stmt);
	wbuf_free(&body);
	wbuf_free(&out);
	return rc;
}

/* ---- Messaging (PROTOCOL.md §8) ---- */

static int
send_body(struct csession *cs, uint8_t type, struct wbuf *body)
{
	struct wbuf out;
	int rc;

	if (cs->state != CS_OPEN) {
		seterr(&cs->err, SC_E_PROTOCOL, 0, "not logged in");
		return -1;
	}
	if (body->err) {
		seterr(&cs->err, SC_E_TOO_LARGE, 0, "%s too large",
		    sc_type_name(type));
		return -1;
	}
	wbuf_init(&out, SC_MAX_PAYLOAD);
	rc = send_record(cs, type, body->data, body->len, &out);
	wbuf_free(&out);
	return rc;
}

int
csession_send_envelope(struct csession *cs, uint32_t ref, const uint8_t *env,
    size_t len)
{
	struct sc_send m = { ref, env, len };
	struct wbuf body;
	int rc;

	wbuf_init(&body, SC_MAX_RECORD_PT);
	if (sc_send_encode(&body, &m) == -1)
		body.err = 1;
	rc = send_body(cs, SC_T_SEND, &body);
	wbuf_free(&body);
	return rc;
}

int
csession_ack(struct csession *cs, uint64_t msg_id, uint8_t state)
{
	struct sc_ack m = { msg_id, state };
	struct wbuf body;
	int rc;

	wbuf_init(&body, 64);
	(void)sc_ack_encode(&body, &m);
	rc = send_body(cs, SC_T_ACK, &body);
	wbuf_free(&body);
	return rc;
}

int
csession_request(struct csession *cs, uint32_t ref, uint8_t op,
    const char *arg)
{
	struct sc_request m = { ref, op, (const uint8_t *)arg,
	    arg ? strlen(arg) : 0 };
	struct wbuf body;
	int rc;

	wbuf_init(&body, 256);
	if (sc_request_encode(&body, &m) == -1 || m.arglen > SC_MAX_USERNAME)
		body.err = 1;
	rc = send_body(cs, SC_T_REQUEST, &body);
	wbuf_free(&body);
	return rc;
}

void
csession_event_clear(struct cs_event *ev)
{
	if (ev->buf != NULL)
		freezero(ev->buf, ev->buflen);
	memset(ev, 0, sizeof(*ev));
}

/* Copy the plaintext so the event outlives the session's buffer. */
static int
event_keep(struct csession *cs, struct cs_event *ev, const uint8_t *pt,
    size_t len)
{
	if ((ev->buf = malloc(len ? len : 1)) == NULL) {
		seterr(&cs->err, SC_E_INTERNAL, 0, "out of memory");
		return -1;
	}
	memcpy(ev->buf, pt, len);
	ev->buflen = len;
	return 0;
}

int
csession_next_event(struct csession *cs, int timeout_ms, struct cs_event *ev)
{
	struct sc_frame f = { 0 };
	struct sc_record rec;
	struct pollfd pfd;
	size_t ptlen;
	int code, rc = -1, r;

	memset(ev, 0, sizeof(*ev));
	if (cs->state != CS_OPEN) {
		seterr(&cs->err, SC_E_PROTOCOL, 0, "not logged in");
		return -1;
	}
	pfd.fd = cs->fd;
	pfd.events = POLLIN;
	if ((r = poll(&pfd, 1, timeout_ms)) == 0)
		return 0;
	if (r == -1) {
		if (errno == EINTR)
			return 0;
		seterr(&cs->err, SC_E_INTERNAL, 0, "poll: %s", strerror(errno));
		return -1;
	}
	if (read_frame(cs, cs->timeout_ms, &f) == -1)
		return -1;
	if (f.type == SC_T_ERROR) {
		fail_remote(cs, &f);
		goto out;
	}
	switch (f.type) {
	case SC_T_CHAT:
	case SC_T_SENT:
	case SC_T_DELIVER:
	case SC_T_STATUS:
	case SC_T_REPLY:
		break;
	default:
		fail_local(cs, SC_E_PROTOCOL, "server sent %s in a session",
		    sc_type_name(f.type));
		goto out;
	}
	if ((code = record_open(&cs->ch, f.type, f.payload, f.len, cs->ptbuf,
	    SC_MAX_CT, &ptlen, &rec)) != 0) {
		fail_local(cs, code, "server %s record rejected: %s",
		    sc_type_name(f.type), sc_err_name(code));
		goto out;
	}
	if (event_keep(cs, ev, cs->ptbuf, ptlen) == -1)
		goto out;
	OPENSSL_cleanse(cs->ptbuf, ptlen);
	ev->type = f.type;
	switch (f.type) {
	case SC_T_CHAT:
		if ((code = sc_chat_parse(ev->buf, ev->buflen, &ev->u.chat.text,
		    &ev->u.chat.len)) == 0 && !sc_valid_text(ev->u.chat.text,
		    ev->u.chat.len))
			code = SC_E_BAD_INPUT;
		break;
	case SC_T_SENT:
		code = sc_sent_parse(ev->buf, ev->buflen, &ev->u.sent);
		break;
	case SC_T_DELIVER:
		code = sc_deliver_parse(ev->buf, ev->buflen, &ev->u.deliver);
		break;
	case SC_T_STATUS:
		code = sc_status_parse(ev->buf, ev->buflen, &ev->u.status);
		break;
	case SC_T_REPLY:
		code = sc_reply_parse(ev->buf, ev->buflen, &ev->u.reply);
		break;
	}
	if (code != 0) {
		fail_local(cs, code, "malformed %s from server",
		    sc_type_name(f.type));
		csession_event_clear(ev);
		goto out;
	}
	if (log_record(cs, SC_DIR_S2C, f.type, &rec, cs->peer_fp) == -1) {
		csession_event_clear(ev);
		goto out;
	}
	rc = 1;
 out:
	sc_frame_free(&f);
	return rc;
}

void
csession_free(struct csession *cs)
{
	if (cs == NULL)
		return;
	if (cs->fd != -1)
		close(cs->fd);
	if (cs->have_tr)
		transcript_close(&cs->tr);
	if (cs->ptbuf != NULL)
		freezero(cs->ptbuf, SC_MAX_CT);
	wbuf_free(&cs->sbody);
	wbuf_free(&cs->sout);
	record_channel_clear(&cs->ch);
	if (!cs->trust_borrowed)
		pki_trust_free(cs->trust);
	X509_free(cs->cert);
	X509_free(cs->peer_cert);
	EVP_PKEY_free(cs->key);
	/* The RSA cache must not keep our key alive after us. */
	sc_rsa_forget();
	freezero(cs, sizeof(*cs));
}
