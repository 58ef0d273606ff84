/*
 * hostile.c: the attack suite's hostile client, fake server and arena
 * (see hostile.h).  Built from the protocol's own codecs and crypto
 * (common/), with encoders of its own wherever a test must be able to
 * send what the real encoders refuse to produce.
 */
#include "hostile.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "buf.h"
#include "sccrypto.h"
#include "transcript.h"
#include "util.h"

#define HOSTILE_IO_MS	20000

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hostile: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Raw bytes and frames ---- */

int
hostile_connect(int port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		say("socket: %s", strerror(errno));
		return -1;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		say("connect to port %d: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int
hostile_listen(int *portp)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 8) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		say("listen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*portp = ntohs(sin.sin_port);
	return fd;
}

int
hostile_accept(int lfd, int timeout_ms)
{
	struct pollfd pfd = { lfd, POLLIN, 0 };
	int fd, one = 1;

	if (poll(&pfd, 1, timeout_ms) != 1) {
		say("accept: nobody connected within %d ms", timeout_ms);
		return -1;
	}
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		say("accept: %s", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int
hostile_send(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			say("send: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
hostile_send_hdr(int fd, uint8_t m0, uint8_t m1, uint8_t version,
    uint8_t type, uint32_t len)
{
	uint8_t h[SC_HDR_LEN] = { m0, m1, version, type, (uint8_t)(len >> 24),
	    (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };

	return hostile_send(fd, h, sizeof(h));
}

int
hostile_send_frame(int fd, uint8_t type, const void *payload, size_t len)
{
	uint8_t *buf;
	int rc;

	if (len > UINT32_MAX || (buf = malloc(SC_HDR_LEN + len)) == NULL)
		return -1;
	buf[0] = SC_MAGIC0;
	buf[1] = SC_MAGIC1;
	buf[2] = SC_PROTO_VERSION;
	buf[3] = type;
	buf[4] = (uint8_t)(len >> 24);
	buf[5] = (uint8_t)(len >> 16);
	buf[6] = (uint8_t)(len >> 8);
	buf[7] = (uint8_t)len;
	if (len > 0)
		memcpy(buf + SC_HDR_LEN, payload, len);
	/* One write, so the server sees the frame at once. */
	rc = hostile_send(fd, buf, SC_HDR_LEN + len);
	free(buf);
	return rc;
}

int
hostile_read_error(int fd, int timeout_ms, char *reason, size_t reasonsz)
{
	struct sc_frame f;
	char why[SC_MAX_REASON + 1];
	uint16_t code;
	int ec, r;

	if (reason != NULL && reasonsz > 0)
		reason[0] = '\0';
	r = sc_frame_read(fd, timeout_ms, &f, &ec);
	if (r == 0)
		return HOSTILE_CLOSED;
	if (r == -1) {
		if (ec == SC_E_TIMEOUT) {
			say("no answer within %d ms", timeout_ms);
			return HOSTILE_TIMEOUT;
		}
		if (ec != 0) {
			say("server sent a bad frame (%s)", sc_err_name(ec));
			return HOSTILE_OTHER_FRAME;
		}
		/* A reset or EOF mid-frame: the server went away. */
		return HOSTILE_CLOSED;
	}
	if (f.type != SC_T_ERROR) {
		say("server sent %s (%zu bytes), not ERROR",
		    sc_type_name(f.type), f.len);
		sc_frame_free(&f);
		return HOSTILE_OTHER_FRAME;
	}
	if (sc_error_parse(f.payload, f.len, &code, why, sizeof(why)) != 0) {
		say("server sent a malformed ERROR");
		sc_frame_free(&f);
		return HOSTILE_OTHER_FRAME;
	}
	sc_frame_free(&f);
	fprintf(stderr, "hostile: server said %s: %s\n", sc_err_name(code),
	    why);
	if (reason != NULL && reasonsz > 0)
		snprintf(reason, reasonsz, "%s", why);
	return code;
}

int
hostile_wait_eof(int fd, int timeout_ms)
{
	long long deadline = mono_ms() + timeout_ms;
	char buf[4096];
	ssize_t n;

	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long long left = deadline - mono_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			return 0;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
}

/* ---- Identities ---- */

static int
hid_set_der(struct hid *id)
{
	unsigned char *p = NULL;
	int n;

	if ((n = i2d_X509(id->cert, &p)) <= 0)
		return -1;
	id->der = p;
	id->derlen = (size_t)n;
	return 0;
}

int
hid_load(struct hid *id, const char *certpath, const char *keypath)
{
	char err[256];

	memset(id, 0, sizeof(*id));
	if ((id->cert = pki_load_cert(certpath, err, sizeof(err))) == NULL) {
		say("%s: %s", certpath, err);
		return -1;
	}
	if (keypath != NULL &&
	    (id->key = pki_load_key(keypath, err, sizeof(err))) == NULL) {
		say("%s: %s", keypath, err);
		hid_free(id);
		return -1;
	}
	if (hid_set_der(id) == -1) {
		hid_free(id);
		return -1;
	}
	return 0;
}

int
hid_load_ca(struct hid *id, struct arena *a, const char *name)
{
	char cert[PATH_MAX + 64], key[PATH_MAX + 64];

	snprintf(cert, sizeof(cert), "%s/%s.pem", a->env.ca, name);
	snprintf(key, sizeof(key), "%s/%s.key", a->env.ca, name);
	return hid_load(id, cert, key);
}

int
hid_make(struct hid *id, const struct pki_cert_spec *spec, EVP_PKEY *key,
    const struct hid *issuer)
{
	char err[256];

	memset(id, 0, sizeof(*id));
	if ((id->cert = pki_make_cert(spec, key, issuer ? issuer->cert : NULL,
	    issuer ? issuer->key : NULL, err, sizeof(err))) == NULL) {
		say("make certificate %s: %s", spec->cn, err);
		return -1;
	}
	if (EVP_PKEY_up_ref(key) != 1) {
		hid_free(id);
		return -1;
	}
	id->key = key;
	if (hid_set_der(id) == -1) {
		hid_free(id);
		return -1;
	}
	return 0;
}

void
hid_free(struct hid *id)
{
	X509_free(id->cert);
	EVP_PKEY_free(id->key);
	OPENSSL_free(id->der);
	memset(id, 0, sizeof(*id));
}

EVP_PKEY *
hostile_rsa_key(int which)
{
	static EVP_PKEY *keys[4];
	char err[256];

	if (which < 0 || which >= 4)
		return NULL;
	if (keys[which] == NULL &&
	    (keys[which] = pki_rsa_keygen(2048, err, sizeof(err))) == NULL)
		say("keygen: %s", err);
	return keys[which];
}

/* ---- Handshake ---- */

int
hconn_connect(struct hconn *h, int port)
{
	memset(h, 0, sizeof(*h));
	h->timeout_ms = HOSTILE_IO_MS;
	if ((h->fd = hostile_connect(port)) == -1)
		return -1;
	return 0;
}

void
hconn_close(struct hconn *h)
{
	if (h->fd > 0)
		close(h->fd);
	h->fd = -1;
	EVP_PKEY_free(h->eph);
	EVP_PKEY_free(h->server_pub);
	EVP_PKEY_free(h->signkey);
	free(h->chb);
	sc_frame_free(&h->shf);
	record_channel_clear(&h->ch);
	memset(h, 0, sizeof(*h));
	h->fd = -1;
}

int
hconn_hello_init(struct hconn *h, struct hhello *hh, const struct hid *id)
{
	memset(hh, 0, sizeof(*hh));
	hh->min_version = SC_PROTO_VERSION;
	hh->max_version = SC_PROTO_VERSION;
	EVP_PKEY_free(h->eph);
	h->eph = NULL;
	if (RAND_bytes(hh->nonce, sizeof(hh->nonce)) != 1 ||
	    sc_x25519_keygen(&h->eph, hh->kex) == -1)
		return -1;
	hh->kexlen = SC_KEX_LEN;
	hh->cert = id != NULL ? id->der : NULL;
	hh->certlen = id != NULL ? id->derlen : 0;
	hh->certlen_field = -1;
	return 0;
}

int
hconn_send_hello(struct hconn *h, const struct hhello *hh)
{
	struct wbuf b;
	size_t lf = hh->certlen_field < 0 ? hh->certlen :
	    (size_t)hh->certlen_field;

	wbuf_init(&b, 4 * SC_MAX_PAYLOAD);
	wbuf_put_u8(&b, hh->min_version);
	wbuf_put_u8(&b, hh->max_version);
	wbuf_put(&b, hh->nonce, sizeof(hh->nonce));
	wbuf_put(&b, hh->kex, hh->kexlen);
	wbuf_put_u16(&b, (uint16_t)lf);
	if (hh->certlen > 0)
		wbuf_put(&b, hh->cert, hh->certlen);
	if (hh->trailerlen > 0)
		wbuf_put(&b, hh->trailer, hh->trailerlen);
	if (b.err) {
		wbuf_free(&b);
		return -1;
	}
	free(h->chb);
	if ((h->chb = malloc(b.len)) == NULL) {
		wbuf_free(&b);
		return -1;
	}
	memcpy(h->chb, b.data, b.len);
	h->chlen = b.len;
	wbuf_free(&b);
	return hostile_send_frame(h->fd, SC_T_CLIENT_HELLO, h->chb, h->chlen);
}

int
hconn_recv_server_hello(struct hconn *h)
{
	struct wbuf stmt;
	X509 *cert;
	char err[256];
	uint16_t code;
	int ec, r;

	sc_frame_free(&h->shf);
	r = sc_frame_read(h->fd, h->timeout_ms, &h->shf, &ec);
	if (r != 1) {
		say("no SERVER_HELLO (%s)", r == 0 ? "closed" :
		    ec ? sc_err_name(ec) : strerror(errno));
		return -1;
	}
	if (h->shf.type == SC_T_ERROR) {
		if (sc_error_parse(h->shf.payload, h->shf.len, &code,
		    h->reason, sizeof(h->reason)) != 0)
			return -1;
		fprintf(stderr, "hostile: server said %s: %s\n",
		    sc_err_name(code), h->reason);
		h->error = code;
		return code;
	}
	if (h->shf.type != SC_T_SERVER_HELLO) {
		say("got %s, not SERVER_HELLO", sc_type_name(h->shf.type));
		return -1;
	}
	if (sc_sh_parse(h->shf.payload, h->shf.len, &h->sh,
	    &h->shcorelen) != 0 ||
	    sc_h1(h->chb, h->chlen, h->shf.payload, h->shcorelen,
	    h->h1) == -1 ||
	    sc_h2(h->h1, h->sh.sig, h->sh.siglen, h->h2) == -1) {
		say("malformed SERVER_HELLO");
		return -1;
	}
	if ((cert = pki_cert_from_der(h->sh.cert, h->sh.certlen, err,
	    sizeof(err))) == NULL) {
		say("server certificate: %s", err);
		return -1;
	}
	EVP_PKEY_free(h->server_pub);
	h->server_pub = X509_get_pubkey(cert);
	X509_free(cert);
	if (h->server_pub == NULL)
		return -1;
	wbuf_init(&stmt, SC_STMT_MAX);
	h->server_sig_ok = sc_stmt_server_handshake(&stmt, h->h1) == 0 &&
	    sc_rsa_verify(h->server_pub, stmt.data, stmt.len, h->sh.sig,
	    h->sh.siglen) == 0;
	wbuf_free(&stmt);
	return 0;
}

int
hconn_send_finish_sig(struct hconn *h, const uint8_t *sig, size_t siglen)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, SC_MAX_PAYLOAD);
	wbuf_put_str16(&b, sig, siglen);
	rc = b.err ? -1 : hostile_send_frame(h->fd, SC_T_CLIENT_FINISH,
	    b.data, b.len);
	wbuf_free(&b);
	return rc;
}

int
hconn_send_finish(struct hconn *h, EVP_PKEY *key, const uint8_t *h2)
{
	struct wbuf stmt;
	uint8_t sig[SC_MAX_SIG];
	size_t siglen = sizeof(sig);
	int rc;

	wbuf_init(&stmt, SC_STMT_MAX);
	rc = sc_stmt_client_handshake(&stmt, h2 != NULL ? h2 : h->h2);
	if (rc == 0)
		rc = sc_rsa_sign(key, stmt.data, stmt.len, sig, &siglen);
	wbuf_free(&stmt);
	if (rc == -1) {
		say("cannot sign CLIENT_FINISH");
		return -1;
	}
	return hconn_send_finish_sig(h, sig, siglen);
}

int
hconn_keys(struct hconn *h, EVP_PKEY *signkey)
{
	struct sc_dirkeys keys;
	uint8_t ss[32];
	int rc = -1;

	if (h->eph == NULL || sc_x25519_derive(h->eph, h->sh.server_kex,
	    SC_KEX_LEN, ss) == -1) {
		say("no shared secret");
		return -1;
	}
	if (sc_derive_temp_keys(ss, h->h2, &keys) == 0 &&
	    record_channel_init(&h->ch, SC_SIDE_CLIENT, h->sh.session_id,
	    h->server_pub, 0) == 0 &&
	    record_set_keys(&h->ch, SC_PHASE_TEMP, &keys) == 0 &&
	    EVP_PKEY_up_ref(signkey) == 1) {
		EVP_PKEY_free(h->signkey);
		h->signkey = signkey;
		rc = 0;
	}
	OPENSSL_cleanse(ss, sizeof(ss));
	OPENSSL_cleanse(&keys, sizeof(keys));
	return rc;
}

int
hconn_handshake(struct hconn *h, int port, const struct hid *id)
{
	struct hhello hh;

	if (hconn_connect(h, port) == -1 ||
	    hconn_hello_init(h, &hh, id) == -1 ||
	    hconn_send_hello(h, &hh) == -1)
		return -1;
	if (hconn_recv_server_hello(h) != 0)
		return -1;
	if (!h->server_sig_ok) {
		say("server handshake signature does not verify");
		return -1;
	}
	if (hconn_send_finish(h, id->key, NULL) == -1 ||
	    hconn_keys(h, id->key) == -1)
		return -1;
	return 0;
}

/* ---- Records ---- */

int
hrecord_encrypt(struct hrecord *r, const uint8_t key[SC_AES_KEY_LEN],
    const void *pt, size_t ptlen, int pad)
{
	EVP_CIPHER_CTX *ctx;
	int n1 = 0, n2 = 0, ok;
	size_t cap = SC_MAX_CT + 16;

	if (pad) {
		if (sc_aes_cbc_encrypt(key, r->iv, pt, ptlen, r->ct, &cap) == -1)
			return -1;
		r->ctlen = cap;
		return 0;
	}
	if (ptlen % 16 != 0 || ptlen > SC_MAX_CT + 16 ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, r->iv) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_EncryptUpdate(ctx, r->ct, &n1, pt, (int)ptlen) == 1 &&
	    EVP_EncryptFinal_ex(ctx, r->ct + n1, &n2) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return -1;
	r->ctlen = (size_t)(n1 + n2);
	return 0;
}

int
hrecord_sign(struct hrecord *r, EVP_PKEY *key)
{
	struct wbuf stmt;
	int rc;

	wbuf_init(&stmt, SC_STMT_MAX + 64);
	r->siglen = SC_MAX_SIG;
	rc = sc_stmt_record(&stmt, r->sid, r->dir, r->type, r->phase, r->seq,
	    r->ts, r->iv, r->ct, r->ctlen);
	if (rc == 0)
		rc = sc_rsa_sign(key, stmt.data, stmt.len, r->sig, &r->siglen);
	wbuf_free(&stmt);
	if (rc == -1)
		say("cannot sign the record");
	return rc;
}

int
hrecord_build(struct hrecord *r, struct sc_channel *ch, EVP_PKEY *key,
    uint8_t type, const void *pt, size_t ptlen, uint64_t ts)
{
	int phase = sc_record_phase(type);

	memset(r, 0, sizeof(*r));
	if ((r->ct = calloc(1, SC_MAX_CT + 16)) == NULL)
		return -1;
	if (phase == 0)		/* not a record type: whatever keys we have */
		phase = ch->have_keys[SC_PHASE_SESSION - 1] ?
		    SC_PHASE_SESSION : SC_PHASE_TEMP;
	if (!ch->have_keys[phase - 1]) {
		say("no keys for phase %d", phase);
		return -1;
	}
	r->frame_type = type;
	memcpy(r->sid, ch->session_id, sizeof(r->sid));
	r->dir = ch->send_dir;
	r->type = type;
	r->phase = (uint8_t)phase;
	r->seq = ++ch->send_seq;
	r->ts = ts != 0 ? ts : now_ms();
	if (RAND_bytes(r->iv, sizeof(r->iv)) != 1 ||
	    hrecord_encrypt(r, ch->key_send[phase - 1], pt, ptlen, 1) == -1)
		return -1;
	return hrecord_sign(r, key);
}

int
hrecord_chat(struct hrecord *r, struct sc_channel *ch, EVP_PKEY *key,
    const void *text, size_t len, uint64_t ts)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, SC_MAX_PAYLOAD);
	wbuf_put_str16(&b, text, len);
	rc = b.err ? -1 : hrecord_build(r, ch, key, SC_T_CHAT, b.data, b.len,
	    ts);
	wbuf_free(&b);
	return rc;
}

int
hrecord_encode(const struct hrecord *r, struct wbuf *out)
{
	wbuf_put_u64(out, r->seq);
	wbuf_put_u64(out, r->ts);
	wbuf_put(out, r->iv, sizeof(r->iv));
	wbuf_put_str32(out, r->ct, r->ctlen);
	wbuf_put_str16(out, r->sig, r->siglen);
	return out->err ? -1 : 0;
}

int
hrecord_send(const struct hrecord *r, int fd)
{
	struct wbuf b;
	int rc;

	wbuf_init(&b, 2 * SC_MAX_PAYLOAD);
	rc = hrecord_encode(r, &b);
	if (rc == 0)
		rc = hostile_send_frame(fd, r->frame_type, b.data, b.len);
	wbuf_free(&b);
	return rc;
}

int
hrecord_log(const struct hrecord *r, struct csession *cs)
{
	struct sc_record rec;

	if (!cs->have_tr)
		return 0;
	memset(&rec, 0, sizeof(rec));
	rec.seq = r->seq;
	rec.ts = r->ts;
	rec.iv = r->iv;
	rec.ct = r->ct;
	rec.ctlen = r->ctlen;
	rec.sig = r->sig;
	rec.siglen = r->siglen;
	return transcript_append(&cs->tr, SC_DIR_C2S, r->frame_type, &rec,
	    cs->cert_fp);
}

void
hrecord_free(struct hrecord *r)
{
	free(r->ct);
	memset(r, 0, sizeof(*r));
}

int
hrecord_field(const uint8_t *p, size_t len, enum hrec_field f, size_t *off,
    size_t *flen)
{
	size_t ctlen, siglen;

	if (len < 36)
		return -1;
	ctlen = (size_t)p[32] << 24 | (size_t)p[33] << 16 |
	    (size_t)p[34] << 8 | p[35];
	if (36 + ctlen + 2 > len)
		return -1;
	siglen = (size_t)p[36 + ctlen] << 8 | p[37 + ctlen];
	switch (f) {
	case HREC_SEQ:
		*off = 0, *flen = 8;
		break;
	case HREC_TS:
		*off = 8, *flen = 8;
		break;
	case HREC_IV:
		*off = 16, *flen = SC_IV_LEN;
		break;
	case HREC_CTLEN:
		*off = 32, *flen = 4;
		break;
	case HREC_CT:
		*off = 36, *flen = ctlen;
		break;
	case HREC_SIGLEN:
		*off = 36 + ctlen, *flen = 2;
		break;
	case HREC_SIG:
		*off = 38 + ctlen, *flen = siglen;
		break;
	default:
		return -1;
	}
	return *off + *flen <= len ? 0 : -1;
}

/* ---- Fake server ---- */

static void *
hfake_run(void *arg)
{
	struct hfake *fk = arg;
	struct sc_frame f = { 0 };
	struct sc_client_hello ch;
	struct sc_server_hello sh;
	struct wbuf core, shb, stmt;
	EVP_PKEY *eph = NULL;
	uint8_t h1[SC_SHA256_LEN], sig[SC_MAX_SIG];
	char reason[SC_MAX_REASON + 1];
	size_t siglen = sizeof(sig);
	uint16_t code;
	int fd, ec;

	wbuf_init(&core, SC_MAX_PAYLOAD);
	wbuf_init(&shb, SC_MAX_PAYLOAD);
	wbuf_init(&stmt, SC_STMT_MAX);
	if ((fd = hostile_accept(fk->lfd, HOSTILE_IO_MS)) == -1)
		goto out;
	if (sc_frame_read(fd, HOSTILE_IO_MS, &f, &ec) != 1 ||
	    f.type != SC_T_CLIENT_HELLO || sc_ch_parse(f.payload, f.len,
	    &ch) != 0) {
		say("fake server: no valid CLIENT_HELLO");
		goto out;
	}
	fk->served = 1;
	memset(&sh, 0, sizeof(sh));
	sh.version = fk->version ? fk->version : SC_PROTO_VERSION;
	if (RAND_bytes(sh.server_nonce, sizeof(sh.server_nonce)) != 1 ||
	    RAND_bytes(sh.session_id, sizeof(sh.session_id)) != 1 ||
	    sc_x25519_keygen(&eph, sh.server_kex) == -1)
		goto out;
	if (fk->zero_kex)
		memset(sh.server_kex, 0, sizeof(sh.server_kex));
	sh.cert = fk->id->der;
	sh.certlen = fk->id->derlen;
	if (sc_sh_core_encode(&core, &sh) == -1 ||
	    sc_h1(f.payload, f.len, core.data, core.len, h1) == -1 ||
	    sc_stmt_server_handshake(&stmt, h1) == -1 ||
	    sc_rsa_sign(fk->signkey ? fk->signkey : fk->id->key, stmt.data,
	    stmt.len, sig, &siglen) == -1)
		goto out;
	sh.sig = sig;
	sh.siglen = siglen;
	if (sc_sh_encode(&shb, &sh) == -1 ||
	    hostile_send_frame(fd, SC_T_SERVER_HELLO, shb.data, shb.len) == -1)
		goto out;
	sc_frame_free(&f);
	if (sc_frame_read(fd, HOSTILE_IO_MS, &f, &ec) == 1) {
		if (f.type == SC_T_ERROR && sc_error_parse(f.payload, f.len,
		    &code, reason, sizeof(reason)) == 0)
			fk->client_error = code;
		else if (f.type == SC_T_CLIENT_FINISH)
			fk->got_finish = 1;
	}
 out:
	if (fd != -1)
		close(fd);
	sc_frame_free(&f);
	EVP_PKEY_free(eph);
	wbuf_free(&core);
	wbuf_free(&shb);
	wbuf_free(&stmt);
	return NULL;
}

int
hfake_start(struct hfake *fk)
{
	fk->served = fk->client_error = fk->got_finish = 0;
	if ((fk->lfd = hostile_listen(&fk->port)) == -1)
		return -1;
	if (pthread_create(&fk->th, NULL, hfake_run, fk) != 0) {
		close(fk->lfd);
		return -1;
	}
	fk->running = 1;
	return 0;
}

void
hfake_wait(struct hfake *fk)
{
	if (!fk->running)
		return;
	pthread_join(fk->th, NULL);
	close(fk->lfd);
	fk->running = 0;
}

/* ---- Relay ---- */

static void *
hrelay_run(void *arg)
{
	struct hrelay *rl = arg;
	struct sc_frame f;
	int c, srv, ec, r, i, open = 2;

	if ((c = hostile_accept(rl->lfd, HOSTILE_IO_MS)) == -1)
		return NULL;
	if ((srv = hostile_connect(rl->target)) == -1) {
		close(c);
		return NULL;
	}
	while (open > 0) {
		struct pollfd p[2] = { { c, POLLIN, 0 }, { srv, POLLIN, 0 } };

		if (poll(p, 2, HOSTILE_IO_MS) <= 0)
			break;
		for (i = 0; i < 2; i++) {
			int from = i == 0 ? c : srv, to = i == 0 ? srv : c;

			if (p[i].revents == 0 || p[i].fd == -1)
				continue;
			r = sc_frame_read(from, HOSTILE_IO_MS, &f, &ec);
			if (r != 1) {
				/* That side is done: pass the close on. */
				(void)shutdown(to, SHUT_WR);
				open = 0;
				break;
			}
			if (i == 1) {
				rl->nframes++;
				if (rl->s2c != NULL && !rl->s2c(rl, &f)) {
					sc_frame_free(&f);
					continue;
				}
			}
			(void)hostile_send_frame(to, f.type, f.payload, f.len);
			sc_frame_free(&f);
		}
	}
	/* Let the last frames drain before the sockets go. */
	(void)hostile_wait_eof(c, 2000);
	close(c);
	close(srv);
	return NULL;
}

int
hrelay_start(struct hrelay *rl, int target)
{
	rl->target = target;
	rl->nframes = 0;
	if ((rl->lfd = hostile_listen(&rl->port)) == -1)
		return -1;
	if (pthread_create(&rl->th, NULL, hrelay_run, rl) != 0) {
		close(rl->lfd);
		return -1;
	}
	rl->running = 1;
	return 0;
}

void
hrelay_wait(struct hrelay *rl)
{
	if (!rl->running)
		return;
	pthread_join(rl->th, NULL);
	close(rl->lfd);
	rl->running = 0;
}

/* ---- Processes ---- */

static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	FILE *f;
	int pp = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL)
		(void)sscanf(p + 2, "%*c %d", &pp);
	fclose(f);
	return pp;
}

/* The inode of the TCP socket 127.0.0.1:lport <-> 127.0.0.1:rport. */
static unsigned long
tcp_inode(int lport, int rport)
{
	char line[512];
	unsigned int la, lp, ra, rp, st;
	unsigned long inode, found = 0;
	FILE *f;

	if ((f = fopen("/proc/net/tcp", "r")) == NULL)
		return 0;
	while (found == 0 && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, " %*u: %x:%x %x:%x %x %*x:%*x %*x:%*x %*x "
		    "%*u %*u %lu", &la, &lp, &ra, &rp, &st, &inode) != 6)
			continue;
		if ((int)lp == lport && (int)rp == rport && inode != 0)
			found = inode;
	}
	fclose(f);
	return found;
}

pid_t
hostile_worker_of(pid_t master, int fd, int timeout_ms)
{
	struct sockaddr_in me, peer;
	socklen_t sl = sizeof(me), pl = sizeof(peer);
	long long deadline = mono_ms() + timeout_ms;
	char want[64], path[64], link[64];
	unsigned long inode;

	if (getsockname(fd, (struct sockaddr *)&me, &sl) == -1 ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl) == -1)
		return -1;
	do {
		DIR *d;
		struct dirent *de;
		pid_t found = -1;
		ssize_t n;

		/* The server's side: local is its port, remote is ours. */
		inode = tcp_inode(ntohs(peer.sin_port), ntohs(me.sin_port));
		snprintf(want, sizeof(want), "socket:[%lu]", inode);
		if (inode != 0 && (d = opendir("/proc")) != NULL) {
			while (found == -1 && (de = readdir(d)) != NULL) {
				pid_t pid = (pid_t)atoi(de->d_name);

				if (pid <= 0 || parent_of(pid) != master)
					continue;
				snprintf(path, sizeof(path), "/proc/%d/fd/3",
				    (int)pid);
				n = readlink(path, link, sizeof(link) - 1);
				if (n <= 0)
					continue;
				link[n] = '\0';
				if (strcmp(link, want) == 0)
					found = pid;
			}
			closedir(d);
			if (found != -1)
				return found;
		}
		sleep_ms(20);
	} while (mono_ms() < deadline);
	say("no worker found for our connection");
	return -1;
}

long
hostile_status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			kb = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* ---- Arena ---- */

const char *
arena_port(struct arena *a)
{
	static char port[16];

	snprintf(port, sizeof(port), "%d", a->env.port);
	return port;
}

struct csession *
arena_open(struct arena *a, const char *who, struct csession_err *errp)
{
	struct csession_opts o;
	struct csession_err err;
	struct csession *cs;
	char cert[PATH_MAX + 64], key[PATH_MAX + 64], tr[PATH_MAX + 64];

	snprintf(cert, sizeof(cert), "%s/%s.pem", a->env.ca, who);
	snprintf(key, sizeof(key), "%s/%s.key", a->env.ca, who);
	snprintf(tr, sizeof(tr), "%s/client-%u.transcript", a->env.dir,
	    a->nconn++);
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = arena_port(a);
	o.ca = scenv_ca_file(&a->env, "ca.pem");
	o.cert = cert;
	o.key = key;
	o.server_name = "localhost";
	o.transcript = tr;
	o.timeout_ms = HOSTILE_IO_MS;
	if ((cs = csession_open(&o, &err)) == NULL) {
		say("csession_open as %s: %s: %s", who, sc_err_name(err.code),
		    err.reason);
		if (errp != NULL)
			*errp = err;
	}
	return cs;
}

struct csession *
arena_login(struct arena *a, const char *who)
{
	struct csession *cs;

	if ((cs = arena_open(a, who, NULL)) == NULL)
		return NULL;
	if (csession_login(cs, ARENA_USER, ARENA_PASS) == -1) {
		say("login as %s: %s: %s", ARENA_USER,
		    sc_err_name(cs->err.code), cs->err.reason);
		csession_free(cs);
		return NULL;
	}
	return cs;
}

int
arena_chat(struct csession *cs, const char *text)
{
	char reply[SC_MAX_TEXT + 1], want[SC_MAX_TEXT + 16];
	size_t n;

	if (csession_send_chat(cs, text, strlen(text)) == -1 ||
	    csession_recv_chat(cs, HOSTILE_IO_MS, reply, sizeof(reply),
	    &n) != 1) {
		say("chat: %s: %s", sc_err_name(cs->err.code), cs->err.reason);
		return -1;
	}
	snprintf(want, sizeof(want), "echo: %s", text);
	if (strcmp(reply, want) != 0) {
		say("chat: got \"%s\", want \"%s\"", reply, want);
		return -1;
	}
	return 0;
}

static int
str_replace_all(char *dst, size_t dstsz, const char *src, const char *from,
    const char *to)
{
	size_t o = 0, fl = strlen(from), tl = strlen(to);
	const char *p;

	while ((p = strstr(src, from)) != NULL) {
		size_t k = (size_t)(p - src);

		if (o + k + tl >= dstsz)
			return -1;
		memcpy(dst + o, src, k);
		memcpy(dst + o + k, to, tl);
		o += k + tl;
		src = p + fl;
	}
	if (o + strlen(src) >= dstsz)
		return -1;
	memcpy(dst + o, src, strlen(src) + 1);
	return 0;
}

/* 1 if text sets keyword (at the start of a line). */
static int
conf_has(const char *text, const char *keyword)
{
	size_t n = strlen(keyword);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, keyword, n) == 0 && (p[n] == ' ' || p[n] == '\t'))
			return 1;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return 0;
}

int
arena_setup(struct arena *a, const char *tag, const char *extra_conf)
{
	/* Every connection of a test comes from 127.0.0.1. */
	static const char *const defaults[][2] = {
		{ "max_per_source", "max_per_source 200\n" },
		{ "max_startups", "max_startups 100:30:200\n" },
		{ "max_sessions", "max_sessions 400\n" },
		{ "auth_max_failures", "auth_max_failures 1000\n" },
		/* The witness account uses alice's certificate. */
		{ "bind_certificates", "bind_certificates no\n" },
	};
	char extra[2048];
	size_t i;

	memset(a, 0, sizeof(*a));
	a->env.pid = -1;
	if (scenv_setup(&a->env, tag) == -1)
		goto fail;
	if (str_replace_all(extra, sizeof(extra), extra_conf ? extra_conf : "",
	    "@CA@", a->env.ca) == -1)
		goto fail;
	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (!conf_has(extra, defaults[i][0]))
			strlcat(a->env.extra_conf, defaults[i][1],
			    sizeof(a->env.extra_conf));
	if (strlcat(a->env.extra_conf, extra, sizeof(a->env.extra_conf)) >=
	    sizeof(a->env.extra_conf))
		goto fail;
	if (scenv_start(&a->env) == -1)
		goto fail;
	a->keyd = scenv_find_proc(a->env.pid, "keyd");
	a->authd = scenv_find_proc(a->env.pid, "authd");
	if (a->keyd <= 0 || a->authd <= 0) {
		say("keyd or authd not found");
		goto fail;
	}
	if ((a->witness = arena_open(a, "alice", NULL)) == NULL)
		goto fail;
	if (csession_register(a->witness, ARENA_USER, ARENA_EMAIL,
	    ARENA_PASS) == -1) {
		say("register %s: %s", ARENA_USER, a->witness->err.reason);
		goto fail;
	}
	if (arena_chat(a->witness, "witness 0") == -1)
		goto fail;
	return 0;
 fail:
	arena_teardown(a);
	return -1;
}

void
arena_teardown(struct arena *a)
{
	csession_free(a->witness);
	a->witness = NULL;
	if (a->env.dir != NULL)
		scenv_teardown(&a->env);
}

int
arena_reconfigure(struct arena *a, const char *keyword, const char *value)
{
	struct hsnap s;
	int rc = -1;

	if (arena_snapshot(a, &s) == 0 &&
	    scenv_conf_set(&a->env, keyword, value) == 0 &&
	    kill(a->env.pid, SIGHUP) == 0 &&
	    arena_audit_wait(a, &s, HOSTILE_IO_MS,
	    "\"event\":\"config_reloaded\"", NULL) == 0)
		rc = 0;
	else
		say("reconfigure %s %s failed", keyword, value);
	/* Some settings restart authd on purpose: follow it. */
	if (rc == 0 && arena_audit_count(a, &s, "\"event\":\"config_reloaded\"",
	    "\"restart_authd\":\"yes\"", NULL) > 0) {
		if (arena_audit_wait(a, &s, HOSTILE_IO_MS,
		    "\"event\":\"child_start\"", "\"child\":\"authd[",
		    NULL) == -1 ||
		    (a->authd = scenv_find_proc(a->env.pid, "authd")) <= 0)
			rc = -1;
	}
	hsnap_free(&s);
	return rc;
}

static int
snap_add(struct hsnap *s, const char *name, const char *path)
{
	size_t len;
	char *data;

	if ((data = tu_read(path, &len)) == NULL) {
		say("read %s: %s", path, strerror(errno));
		return -1;
	}
	s->names = reallocarray(s->names, s->nfiles + 1, sizeof(char *));
	s->data = reallocarray(s->data, s->nfiles + 1, sizeof(char *));
	s->lens = reallocarray(s->lens, s->nfiles + 1, sizeof(size_t));
	if (s->names == NULL || s->data == NULL || s->lens == NULL)
		abort();
	s->names[s->nfiles] = strdup(name);
	s->data[s->nfiles] = data;
	s->lens[s->nfiles] = len;
	s->nfiles++;
	return 0;
}

static int
snap_dir(struct hsnap *s, const char *dir, const char *tag)
{
	struct dirent *de;
	char name[PATH_MAX], path[PATH_MAX * 2];
	DIR *d;
	int rc = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(name, sizeof(name), "%s/%s", tag, de->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		rc = snap_add(s, name, path);
	}
	closedir(d);
	return rc;
}

static char *
accounts_text(struct arena *a, int certs)
{
	/* One statement: group_concat's 1 KiB default would cut rows. */
	if (certs)
		return tu_db_query(&a->env.db, "SET STATEMENT "
		    "group_concat_max_len = 16777216 FOR SELECT "
		    "COALESCE(GROUP_CONCAT(CONCAT_WS('|', user_id, "
		    "HEX(cert_sha256), added_at) ORDER BY user_id, cert_sha256 "
		    "SEPARATOR '\\n'), '') FROM user_certs");
	/* last_login_at excluded: an honest login sets it. */
	return tu_db_query(&a->env.db, "SET STATEMENT "
	    "group_concat_max_len = 16777216 FOR SELECT "
	    "COALESCE(GROUP_CONCAT(CONCAT_WS('|', id, username, email, pw_kdf, "
	    "HEX(pw_salt), HEX(pw_hash), kdf_n, kdf_r, kdf_p, disabled, "
	    "created_at) ORDER BY id SEPARATOR '\\n'), '') FROM users");
}

int
arena_snapshot(struct arena *a, struct hsnap *s)
{
	memset(s, 0, sizeof(*s));
	if (snap_dir(s, a->env.transcripts, "transcripts") == -1 ||
	    snap_dir(s, a->env.receipts, "receipts") == -1)
		goto fail;
	if ((s->audit = tu_read(a->env.audit, &s->auditlen)) == NULL)
		goto fail;
	if ((s->accounts = accounts_text(a, 0)) == NULL ||
	    (s->certs = accounts_text(a, 1)) == NULL)
		goto fail;
	return 0;
 fail:
	say("snapshot failed");
	hsnap_free(s);
	return -1;
}

void
hsnap_free(struct hsnap *s)
{
	size_t i;

	for (i = 0; i < s->nfiles; i++) {
		free(s->names[i]);
		free(s->data[i]);
	}
	free(s->names);
	free(s->data);
	free(s->lens);
	free(s->audit);
	free(s->accounts);
	free(s->certs);
	memset(s, 0, sizeof(*s));
}

/* Number of receipt files that read as complete, valid JSON receipts. */
static int
receipts_complete(struct arena *a, int *total)
{
	struct sc_receipt r;
	struct dirent *de;
	uint8_t fp[SC_SHA256_LEN];
	char path[PATH_MAX * 2], reason[256];
	DIR *d;
	int ok = 0;

	*total = 0;
	if ((d = opendir(a->env.receipts)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(*total)++;
		snprintf(path, sizeof(path), "%s/%s", a->env.receipts,
		    de->d_name);
		if (receipt_read_json(path, &r, fp, reason,
		    sizeof(reason)) == 0)
			ok++;
	}
	closedir(d);
	return ok;
}

/* A fresh honest session, start to end, with both receipts saved. */
static int
fresh_session(struct arena *a)
{
	struct csession *cs;
	long long deadline;
	int before, total, ok;

	before = receipts_complete(a, &total);
	if (before != total) {
		say("%d receipt files, %d complete", total, before);
		return -1;
	}
	if ((cs = arena_login(a, "alice")) == NULL)
		return -1;
	if (arena_chat(cs, "fresh session after the attack") == -1 ||
	    csession_close(cs, NULL, NULL) == -1) {
		say("fresh session: %s", cs->err.reason);
		csession_free(cs);
		return -1;
	}
	csession_free(cs);
	/* The master writes the receipts a moment after CLOSE_ACK. */
	deadline = mono_ms() + HOSTILE_IO_MS;
	do {
		ok = receipts_complete(a, &total);
		if (ok == before + 2 && total == ok)
			return 0;
		sleep_ms(20);
	} while (mono_ms() < deadline);
	say("fresh session: %d receipts, %d complete (had %d)", total, ok,
	    before);
	return -1;
}

int
arena_check(struct arena *a, struct hsnap *s)
{
	char path[PATH_MAX * 2], text[64], *now;
	size_t i, len;
	int bad = 0, st;

	for (i = 0; i < s->nfiles; i++) {
		const char *slash = strchr(s->names[i], '/');

		snprintf(path, sizeof(path), "%s/%s",
		    strncmp(s->names[i], "transcripts/", 12) == 0 ?
		    a->env.transcripts : a->env.receipts, slash + 1);
		if ((now = tu_read(path, &len)) == NULL) {
			say("%s was removed", s->names[i]);
			bad++;
			continue;
		}
		if (len != s->lens[i] || memcmp(now, s->data[i], len) != 0) {
			say("%s changed (%zu bytes, was %zu)", s->names[i], len,
			    s->lens[i]);
			bad++;
		}
		free(now);
	}
	if ((now = tu_read(a->env.audit, &len)) == NULL ||
	    len < s->auditlen || memcmp(now, s->audit, s->auditlen) != 0) {
		say("audit log lost or altered lines");
		bad++;
	}
	free(now);
	if ((now = accounts_text(a, 0)) == NULL ||
	    strcmp(now, s->accounts) != 0) {
		say("accounts changed:\n%s\nnow:\n%s", s->accounts,
		    now ? now : "(error)");
		bad++;
	}
	free(now);
	if ((now = accounts_text(a, 1)) == NULL || strcmp(now, s->certs) != 0) {
		say("certificate bindings changed");
		bad++;
	}
	free(now);
	if (waitpid(a->env.pid, &st, WNOHANG) != 0) {
		say("securechatd is gone");
		a->env.pid = -1;
		bad++;
	} else if (scenv_find_proc(a->env.pid, "keyd") != a->keyd ||
	    scenv_find_proc(a->env.pid, "authd") != a->authd) {
		say("keyd or authd was restarted");
		bad++;
	}
	/*
	 * A sanitizer report from any daemon process (SANITIZE=1): a worker
	 * that hit one may still have exited 1 like a plain refusal.
	 */
	if ((now = tu_read(a->env.log, NULL)) != NULL &&
	    (tu_contains(now, "Sanitizer") || tu_contains(now,
	    "runtime error:"))) {
		say("sanitizer report in %s", a->env.log);
		bad++;
	}
	free(now);
	snprintf(text, sizeof(text), "witness %u", ++a->nwitness);
	if (a->witness == NULL || arena_chat(a->witness, text) == -1) {
		say("the witness session no longer works");
		bad++;
	}
	if (fresh_session(a) == -1)
		bad++;
	hsnap_free(s);
	return bad == 0 ? 0 : -1;
}

static int
audit_scan(struct arena *a, const struct hsnap *s, va_list ap0)
{
	const char *needles[16];
	char *text, *line, *end;
	size_t len, n = 0, i;
	int count = 0;
	va_list ap;

	va_copy(ap, ap0);
	while (n < 16 && (needles[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	if ((text = tu_read(a->env.audit, &len)) == NULL)
		return 0;
	for (line = text + (len >= s->auditlen ? s->auditlen : len);
	    *line != '\0'; line = end + 1) {
		if ((end = strchr(line, '\n')) == NULL)
			break;		/* a line still being written */
		*end = '\0';
		for (i = 0; i < n && strstr(line, needles[i]) != NULL; i++)
			;
		if (i == n)
			count++;
	}
	free(text);
	return count;
}

/*
 * The serial of the connection on fd, from its connection_accepted line
 * (matched by our local port).  A port may have served an earlier
 * connection, and the master may not have written this one's line yet:
 * a match before the snapshot s is only taken once no newer match has
 * appeared for a second (a newer one is ours at once).
 */
int
arena_serial_of(struct arena *a, const struct hsnap *s, int fd, char *needle,
    size_t needlesz, int timeout_ms)
{
	struct sockaddr_in me;
	socklen_t sl = sizeof(me);
	long long now, deadline = mono_ms() + timeout_ms, since = -1;
	char port[32], *text, *line, *end, *p;
	size_t len, lastoff = 0;
	int found, first = -1;

	if (getsockname(fd, (struct sockaddr *)&me, &sl) == -1)
		return -1;
	snprintf(port, sizeof(port), "\"port\":\"%u\"", ntohs(me.sin_port));
	do {
		if ((text = tu_read(a->env.audit, &len)) == NULL)
			return -1;
		/* The last one: a local port may have served before. */
		found = 0;
		for (line = text; (end = strchr(line, '\n')) != NULL;
		    line = end + 1) {
			*end = '\0';
			if (strstr(line, "\"event\":\"connection_accepted\"") ==
			    NULL || strstr(line, port) == NULL ||
			    (p = strstr(line, "\"serial\":")) == NULL)
				continue;
			snprintf(needle, needlesz, "%.*s",
			    (int)(strcspn(p, ",") + 1), p);
			lastoff = (size_t)(line - text);
			found++;
		}
		free(text);
		now = mono_ms();
		if (found > 0 && (lastoff >= s->auditlen ||
		    (first >= 0 && found > first)))
			return 0;
		if (found > 0 && first < 0) {
			first = found;
			since = now;
		}
		if (found > 0 && now - since >= 1000)
			return 0;
		sleep_ms(20);
	} while (now < deadline);
	if (found > 0)
		return 0;
	say("no connection_accepted line for %s", port);
	return -1;
}

int
arena_transcript_of(struct arena *a, int fd, char *path, size_t pathsz)
{
	struct hsnap all;
	char serial[64], *text, *line, *end, *p;
	size_t len;
	int rc = -1;

	memset(&all, 0, sizeof(all));
	if (arena_serial_of(a, &all, fd, serial, sizeof(serial), 10000) == -1 ||
	    (text = tu_read(a->env.audit, &len)) == NULL)
		return -1;
	for (line = text; rc == -1 && (end = strchr(line, '\n')) != NULL;
	    line = end + 1) {
		*end = '\0';
		if (strstr(line, serial) == NULL || strstr(line,
		    "\"event\":\"connection_accepted\"") == NULL ||
		    (p = strstr(line, "\"transcript\":\"")) == NULL)
			continue;
		p += strlen("\"transcript\":\"");
		if ((size_t)snprintf(path, pathsz, "%.*s",
		    (int)strcspn(p, "\""), p) < pathsz)
			rc = 0;
	}
	free(text);
	return rc;
}

int
arena_expect_refusal(struct arena *a, const struct hsnap *s, int fd, int want,
    const char *event)
{
	char serial[64], ev[64], code[64], status[64], reason[SC_MAX_REASON + 1];
	int got;

	if (arena_serial_of(a, s, fd, serial, sizeof(serial), 10000) == -1)
		return -1;
	got = hostile_read_error(fd, 30000, reason, sizeof(reason));
	if (got != want) {
		say("answer %s (%d), want %s (%d)", got > 0 ?
		    sc_err_name(got) : got == HOSTILE_CLOSED ? "close" :
		    got == HOSTILE_TIMEOUT ? "nothing" : "another frame", got,
		    want > 0 ? sc_err_name(want) : "close", want);
		return -1;
	}
	if (want > 0 && !hostile_wait_eof(fd, 20000)) {
		say("the server did not close after its ERROR");
		return -1;
	}
	snprintf(ev, sizeof(ev), "\"event\":\"%s\"", event ? event : "");
	snprintf(code, sizeof(code), "\"code\":\"%s\"",
	    want > 0 ? sc_err_name(want) : "");
	if (event != NULL && arena_audit_wait(a, s, 10000, serial,
	    "\"proc\":\"worker\"", ev, want > 0 ? code : ev, NULL) == -1)
		return -1;
	snprintf(status, sizeof(status), "\"status\":\"exit %d\"",
	    want > 0 ? 1 : 0);
	if (arena_audit_wait(a, s, 10000, serial,
	    "\"event\":\"session_end\"", status, NULL) == -1)
		return -1;
	return 0;
}

int
arena_audit_count(struct arena *a, const struct hsnap *s, ...)
{
	va_list ap;
	int n;

	va_start(ap, s);
	n = audit_scan(a, s, ap);
	va_end(ap);
	return n;
}

int
arena_audit_wait(struct arena *a, const struct hsnap *s, int timeout_ms, ...)
{
	long long deadline = mono_ms() + timeout_ms;
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, timeout_ms);
		n = audit_scan(a, s, ap);
		va_end(ap);
		if (n > 0)
			return 0;
		if (mono_ms() >= deadline)
			break;
		sleep_ms(20);
	}
	va_start(ap, timeout_ms);
	fprintf(stderr, "hostile: no audit line with:");
	for (const char *p; (p = va_arg(ap, const char *)) != NULL;)
		fprintf(stderr, " %s", p);
	fprintf(stderr, "\n");
	va_end(ap);
	return -1;
}
