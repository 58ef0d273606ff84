/*
 * worker.c: one client session, in the exposed process.
 *
 * The master executes the session program (session.c, its own small
 * executable: LIBEXECDIR/session) for each connection.  The worker loads
 * only public material (CA, CRL,
 * its own certificate), drops to the worker user in an empty chroot with
 * a seccomp filter, and then runs the server side of docs/PROTOCOL.md.
 * It never holds the server's private key (keyd signs for it, bound to
 * this session) nor a database connection (authd checks credentials), and
 * it opens no file after the drop: its transcript descriptor comes from
 * the master, its receipts go back to the master to be written.
 */
#include "securechatd/securechatd.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "audit.h"
#include "session/authd_wrap.h"
#include "envelope.h"
#include "buf.h"
#include "session/keyd_wrap.h"
#include "session/worker.h"
#include "log.h"
#include "pki.h"
#include "privdrop.h"
#include "proto.h"
#include "record.h"
#include "router/router.h"
#include "sandbox.h"
#include "sccrypto.h"
#include "transcript.h"
#include "util.h"

struct worker {
	const struct sc_config	*conf;
	int			 fd;		/* the client */
	char			 addr[SC_ADDR_MAX];
	char			 sid_hex[2 * SC_SESSION_ID_LEN + 1];
	char			 user[SC_MAX_USERNAME + 1];
	uint64_t		 account_id;
	time_t			 hs_deadline;
	struct pki_trust	*trust;
	X509			*cert;
	uint8_t			 cert_der[SC_MAX_CERT];
	size_t			 cert_derlen;
	uint8_t			 cert_fp[SC_SHA256_LEN];
	X509			*peer;
	uint8_t			 peer_fp[SC_SHA256_LEN];
	char			 peer_fp_hex[2 * SC_SHA256_LEN + 1];
	char			 peer_cn[128];
	uint8_t			 h2[SC_SHA256_LEN];
	EVP_PKEY		*eph;		/* X25519 share, made early */
	uint8_t			 kex[SC_KEX_LEN];
	struct sc_channel	 ch;
	struct transcript	 tr;
	uint64_t		 nchat;
	/* Messaging: the router channel and what is pending on it. */
	int			 router;	/* 1 bound, 0 not yet, -1 gone */
	uint64_t		 fetched_max;	/* highest id from the queue */
	uint32_t		 who_ref[16];	/* REQUEST WHO awaiting WHO_OK */
	unsigned int		 who_n;
	int			 synced;	/* SYNC answered: closing */
};

static struct worker w;

/* How long the master may take to create a transcript after the login. */
#define TRANSCRIPT_WAIT_MS	10000

static void	receive_transcript(void);

/*
 * The plaintext of the record being handled (REGISTER/LOGIN, then every
 * session record).  Static and wiped to the length used: only the pages a
 * record actually touched become private memory of the worker (a 64 KiB
 * malloc wiped in full dirtied all of them in every worker).
 */
static uint8_t ptbuf[SC_MAX_CT];

static void
audit(const char *event, ...) __attribute__((sentinel));

/* Audit with the session's identity; key/value pairs end with NULL. */
static void
audit(const char *event, ...)
{
	const char *kv[16];
	va_list ap;
	int n = 0;

	va_start(ap, event);
	while (n < 12 && (kv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	kv[n] = NULL;
	if (audit_emit(WORKER_FD_CTL, event, "addr", w.addr, "session",
	    w.sid_hex[0] ? w.sid_hex : "-", "user", w.user[0] ? w.user : "-",
	    n > 0 ? kv[0] : NULL, n > 1 ? kv[1] : NULL, n > 2 ? kv[2] : NULL,
	    n > 3 ? kv[3] : NULL, n > 4 ? kv[4] : NULL, n > 5 ? kv[5] : NULL,
	    n > 6 ? kv[6] : NULL, n > 7 ? kv[7] : NULL, NULL) == -1)
		log_warn("audit %s", event);
}

/*
 * Refuse the peer: a stable code and a short reason on the wire, a
 * detailed line in the log and the audit log, then a clean close.
 */
static void __attribute__((noreturn))
refuse(int code, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
refuse(int code, const char *event, const char *fmt, ...)
{
	char reason[SC_MAX_REASON + 1];
	char codebuf[16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_info("session %s from %s: %s: %s", w.sid_hex[0] ? w.sid_hex : "-",
	    w.addr, sc_err_name(code), reason);
	snprintf(codebuf, sizeof(codebuf), "%s", sc_err_name(code));
	audit(event, "code", codebuf, "reason", reason, NULL);
	/* Internal details stay in our logs, never on the wire. */
	if (code == SC_E_INTERNAL)
		snprintf(reason, sizeof(reason), "internal error");
	(void)sc_error_send(w.fd, 2000, code, reason);
	(void)shutdown(w.fd, SHUT_WR);
	exit(1);
}

static int
hs_timeout_ms(void)
{
	time_t left = w.hs_deadline - time(NULL);

	return left <= 0 ? 0 : (int)left * 1000;
}

/* Read a frame; ERROR from the client or EOF ends the session quietly. */
static void
read_frame(int timeout_ms, struct sc_frame *f)
{
	char reason[SC_MAX_REASON + 1];
	uint16_t ecode;
	int code = 0, r;

	r = sc_frame_read(w.fd, timeout_ms, f, &code);
	if (r == 1 && f->type == SC_T_ERROR) {
		/*
		 * A malformed ERROR (over-long reason, cut short) ends the
		 * session all the same, but still leaves its audit line:
		 * every end of a session is accounted for.
		 */
		if (sc_error_parse(f->payload, f->len, &ecode, reason,
		    sizeof(reason)) != 0) {
			ecode = 0;
			strlcpy(reason, "malformed ERROR frame", sizeof(reason));
		}
		log_info("session %s from %s: client error %s: %s",
		    w.sid_hex[0] ? w.sid_hex : "-", w.addr,
		    ecode ? sc_err_name(ecode) : "-", reason);
		audit("client_error", "code", ecode ? sc_err_name(ecode) : "-",
		    "reason", reason, NULL);
		exit(0);
	}
	if (r == 1)
		return;
	if (r == -1 && code == SC_E_TIMEOUT)
		refuse(SC_E_TIMEOUT, "timeout", "%s timeout",
		    w.user[0] ? "idle" : "handshake");
	if (r == -1 && code != 0)
		refuse(code, "bad_frame", "bad frame: %s", sc_err_name(code));
	log_info("session %s from %s: connection closed%s%s", w.sid_hex,
	    w.addr, r == -1 ? ": " : "", r == -1 ? strerror(errno) : "");
	audit("disconnect", NULL);
	exit(0);
}

static void
expect(const struct sc_frame *f, uint8_t type)
{
	if (f->type != type)
		refuse(SC_E_PROTOCOL, "protocol_violation", "expected %s, got %s",
		    sc_type_name(type), sc_type_name(f->type));
}

static int keyd_fd = WORKER_FD_KEYD;

/*
 * Seal a record and send it.  A session record goes to the transcript first:
 * a line is never missing for a message the peer may have received.
 */
static void
send_record(uint8_t type, const uint8_t *pt, size_t len, struct wbuf *out)
{
	struct sc_record rec;
	int code;

	wbuf_reset(out);
	if ((code = record_seal(&w.ch, type, pt, len, keyd_record_signer,
	    &keyd_fd, out)) != 0)
		refuse(SC_E_INTERNAL, "internal_error", "cannot seal %s: %s",
		    sc_type_name(type), sc_err_name(code));
	if (sc_record_in_transcript(type) && (sc_record_parse(out->data,
	    out->len, &rec) != 0 || transcript_append(&w.tr, SC_DIR_S2C, type,
	    &rec, w.cert_fp) == -1))
		refuse(SC_E_INTERNAL, "internal_error",
		    "transcript write failed");
	if (sc_frame_write(w.fd, 10000, type, out->data, out->len) == -1) {
		log_info("session %s from %s: cannot send: %s", w.sid_hex,
		    w.addr, strerror(errno));
		audit("disconnect", NULL);
		exit(0);
	}
}

/* Open a record; every failure is a refusal with the protocol's code. */
static void
open_record(const struct sc_frame *f, uint8_t *pt, size_t cap, size_t *ptlen,
    struct sc_record *rec)
{
	static const char *events[SC_E_MAX + 1] = {
		[SC_E_SIG_FAIL] = "tamper_rejected",
		[SC_E_REPLAY] = "replay_rejected",
		[SC_E_STALE] = "stale_rejected",
	};
	int code;

	if ((code = record_open(&w.ch, f->type, f->payload, f->len, pt, cap,
	    ptlen, rec)) != 0)
		refuse(code, events[code] ? events[code] : "bad_record",
		    "%s record rejected: %s", sc_type_name(f->type),
		    code == SC_E_SIG_FAIL ? "signature or padding check failed" :
		    code == SC_E_REPLAY ? "sequence number is not the next one" :
		    code == SC_E_STALE ? "timestamp outside the allowed window" :
		    sc_err_name(code));
}

static void
load_public(void)
{
	char err[512];

	if ((w.trust = pki_trust_load(w.conf->ca, w.conf->crl[0] ?
	    w.conf->crl : NULL, err, sizeof(err))) == NULL)
		fatalx("CA %s: %s", w.conf->ca, err);
	if ((w.cert = pki_load_cert(w.conf->cert, err, sizeof(err))) == NULL)
		fatalx("certificate %s: %s", w.conf->cert, err);
	if (pki_cert_to_der(w.cert, w.cert_der, sizeof(w.cert_der),
	    &w.cert_derlen) == -1 || pki_fingerprint(w.cert, w.cert_fp) == -1)
		fatalx("certificate %s: cannot encode", w.conf->cert);
}

/* Handshake: certificate exchange, signed X25519, K_temp. */
static void
handshake(void)
{
	struct sc_client_hello ch;
	struct sc_server_hello sh;
	struct sc_frame f1 = { 0 }, f3 = { 0 };
	struct sc_dirkeys keys;
	struct wbuf core, shb, stmt;
	EVP_PKEY *eph = NULL, *peer_pub = NULL;
	const uint8_t *csig;
	uint8_t ssig[SC_MAX_SIG], h1[SC_SHA256_LEN], ss[32];
	size_t ssiglen = sizeof(ssig), csiglen;
	char reason[512];
	enum pki_verdict v;
	int code;

	wbuf_init(&core, SC_MAX_PAYLOAD);
	wbuf_init(&shb, SC_MAX_PAYLOAD);
	wbuf_init(&stmt, SC_STMT_MAX);

	/*
	 * Ask keyd for the nonce and make our key share before the
	 * CLIENT_HELLO is read: keyd and this process work at once, and
	 * neither waits on the path of the handshake.
	 */
	if (keyd_nonce_send(WORKER_FD_KEYD) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "keyd: no nonce");
	worker_keygen();
	read_frame(hs_timeout_ms(), &f1);
	expect(&f1, SC_T_CLIENT_HELLO);
	if ((code = sc_ch_parse(f1.payload, f1.len, &ch)) != 0)
		refuse(code, "bad_hello", "malformed CLIENT_HELLO");
	if (sc_version_choose(&ch) == 0)
		refuse(SC_E_VERSION, "bad_hello",
		    "no common protocol version (client offers %u..%u, "
		    "server speaks %u)", ch.min_version, ch.max_version,
		    SC_PROTO_VERSION);

	/* keyd picks the server nonce and session id for this channel. */
	memset(&sh, 0, sizeof(sh));
	sh.version = SC_PROTO_VERSION;
	if (keyd_nonce(WORKER_FD_KEYD, sh.server_nonce, sh.session_id) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "keyd: no nonce");
	hex_encode(sh.session_id, SC_SESSION_ID_LEN, w.sid_hex);
	eph = w.eph;
	w.eph = NULL;
	memcpy(sh.server_kex, w.kex, sizeof(sh.server_kex));
	sh.cert = w.cert_der;
	sh.certlen = w.cert_derlen;
	if (sc_sh_core_encode(&core, &sh) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "encode SERVER_HELLO");
	/*
	 * keyd signs while this process parses and checks the client's
	 * certificate (OpenSSL 3's key decoder, chain, CRL, purpose): on two
	 * CPUs the two take the time of one, as a TLS server checks the
	 * client's certificate after its own flight.  The signature covers
	 * only the two hellos and is thrown away unless the certificate
	 * passes.  The price: a hello with a bad certificate now costs keyd
	 * one signature, as one with a good certificate always did
	 * (max_startups and max_per_source bound both).
	 */
	if (keyd_sign_handshake_send(WORKER_FD_KEYD, f1.payload, f1.len,
	    core.data, core.len) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "keyd: no signature");
	if ((w.peer = pki_cert_from_der(ch.cert, ch.certlen, reason,
	    sizeof(reason))) == NULL)
		refuse(SC_E_BAD_CERT, "cert_rejected",
		    "client certificate: %s", reason);
	if (pki_fingerprint(w.peer, w.peer_fp) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "fingerprint");
	hex_encode(w.peer_fp, sizeof(w.peer_fp), w.peer_fp_hex);
	if (pki_cert_cn(w.peer, w.peer_cn, sizeof(w.peer_cn)) == -1)
		strlcpy(w.peer_cn, "?", sizeof(w.peer_cn));
	v = pki_verify(w.trust, w.peer, PKI_PURPOSE_CLIENT, NULL, 0, reason,
	    sizeof(reason));
	if (v != PKI_OK) {
		audit("cert_rejected", "verdict", pki_verdict_name(v),
		    "cert_sha256", w.peer_fp_hex, "cn", w.peer_cn, NULL);
		refuse(SC_E_BAD_CERT, "bad_cert",
		    "client certificate rejected: %s", reason);
	}
	if ((peer_pub = X509_get_pubkey(w.peer)) == NULL ||
	    sc_rsa_key_ok(peer_pub) == -1)
		refuse(SC_E_BAD_CERT, "cert_rejected",
		    "client certificate: key must be RSA of 2048..4096 bits");
	if (keyd_sign_handshake_recv(WORKER_FD_KEYD, ssig, &ssiglen) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "keyd: no signature");
	sh.sig = ssig;
	sh.siglen = ssiglen;
	if (sc_sh_encode(&shb, &sh) == -1 ||
	    sc_frame_write(w.fd, 10000, SC_T_SERVER_HELLO, shb.data,
	    shb.len) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "send SERVER_HELLO");
	if (sc_h1(f1.payload, f1.len, core.data, core.len, h1) == -1 ||
	    sc_h2(h1, ssig, ssiglen, w.h2) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "handshake hash");

	/* The client proves possession of its key over both hellos. */
	read_frame(hs_timeout_ms(), &f3);
	expect(&f3, SC_T_CLIENT_FINISH);
	if ((code = sc_cf_parse(f3.payload, f3.len, &csig, &csiglen)) != 0)
		refuse(code, "bad_hello", "malformed CLIENT_FINISH");
	if (sc_stmt_client_handshake(&stmt, w.h2) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "statement");
	if (sc_rsa_verify(peer_pub, stmt.data, stmt.len, csig, csiglen) == -1)
		refuse(SC_E_SIG_FAIL, "handshake_sig_fail",
		    "client handshake signature does not verify");
	if (sc_x25519_derive(eph, ch.client_kex, sizeof(ch.client_kex),
	    ss) == -1)
		refuse(SC_E_PROTOCOL, "bad_hello", "invalid client key share");
	if (sc_derive_temp_keys(ss, w.h2, &keys) == -1 ||
	    record_channel_init(&w.ch, SC_SIDE_SERVER, sh.session_id, peer_pub,
	    (uint64_t)w.conf->stale_window * 1000) == -1 ||
	    record_set_keys(&w.ch, SC_PHASE_TEMP, &keys) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "key schedule");
	OPENSSL_cleanse(ss, sizeof(ss));
	OPENSSL_cleanse(&keys, sizeof(keys));
	EVP_PKEY_free(eph);
	EVP_PKEY_free(peer_pub);
	sc_frame_free(&f1);
	sc_frame_free(&f3);
	wbuf_free(&core);
	wbuf_free(&shb);
	wbuf_free(&stmt);
	audit("handshake_ok", "cert_sha256", w.peer_fp_hex, "cn", w.peer_cn,
	    NULL);
}

/* REGISTER or LOGIN under K_temp, checked by authd; then the second DH. */
static void
authenticate(void)
{
	struct sc_frame f = { 0 };
	struct sc_register reg;
	struct sc_login login;
	struct sc_auth_ok ok;
	struct sc_dirkeys keys;
	struct wbuf body, out;
	EVP_PKEY *eph = NULL;
	const uint8_t *kex2;
	uint8_t *pt, ss[32];
	size_t ptlen;
	char canon[SC_MAX_USERNAME + 1], idbuf[24];
	int code, isreg;

	pt = ptbuf;
	read_frame(hs_timeout_ms(), &f);
	if (f.type != SC_T_REGISTER && f.type != SC_T_LOGIN)
		refuse(SC_E_PROTOCOL, "protocol_violation",
		    "expected REGISTER or LOGIN, got %s", sc_type_name(f.type));
	isreg = f.type == SC_T_REGISTER;
	open_record(&f, pt, SC_MAX_CT, &ptlen, NULL);
	if (isreg) {
		if ((code = sc_register_parse(pt, ptlen, &reg)) != 0)
			refuse(code, "bad_input", "malformed REGISTER");
		kex2 = reg.kex2;
	} else {
		if ((code = sc_login_parse(pt, ptlen, &login)) != 0)
			refuse(code, "bad_input", "malformed LOGIN");
		kex2 = login.kex2;
	}
	/*
	 * Second ephemeral DH first: an invalid key share (all-zero or
	 * low-order point) is a protocol error, refused before authd spends
	 * a KDF on the password and records a login (and, for REGISTER, an
	 * account) for a session that can never start.
	 */
	memset(&ok, 0, sizeof(ok));
	if (sc_x25519_keygen(&eph, ok.kex2) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "X25519 keygen");
	if (sc_x25519_derive(eph, kex2, SC_KEX_LEN, ss) == -1) {
		OPENSSL_cleanse(pt, ptlen);
		refuse(SC_E_PROTOCOL, "bad_input", "invalid key share");
	}
	if (isreg)
		code = authd_register_x509(WORKER_FD_AUTHD, reg.username,
		    reg.ulen, reg.email, reg.elen, reg.password, reg.plen,
		    w.peer, &w.account_id, canon, sizeof(canon));
	else
		code = authd_login_x509(WORKER_FD_AUTHD, login.username,
		    login.ulen, login.password, login.plen, w.peer,
		    &w.account_id, canon, sizeof(canon));
	/* The password is no longer needed anywhere in this process. */
	OPENSSL_cleanse(pt, ptlen);
	if (code != 0) {
		OPENSSL_cleanse(ss, sizeof(ss));
		/* authd audited the details; the peer gets the code. */
		refuse(code, isreg ? "register_refused" : "login_refused", "%s",
		    code == SC_E_AUTH_FAIL ? "unknown user or wrong password" :
		    code == SC_E_USER_EXISTS ? "username or email already taken" :
		    code == SC_E_RATE_LIMITED ? "too many failed attempts, try later" :
		    code == SC_E_REG_CLOSED ? "registration is closed" :
		    code == SC_E_BAD_INPUT ? "username, email or password not acceptable" :
		    code == SC_E_UNAVAILABLE ? "account database unavailable, try later" :
		    "internal error");
	}
	strlcpy(w.user, canon, sizeof(w.user));

	/* The session keys, one per direction, from the second DH. */
	ok.account_id = w.account_id;
	ok.username = (const uint8_t *)w.user;
	ok.ulen = strlen(w.user);
	wbuf_init(&body, SC_MAX_PAYLOAD);
	wbuf_init(&out, SC_MAX_PAYLOAD);
	if (sc_auth_ok_encode(&body, &ok) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "encode AUTH_OK");
	send_record(SC_T_AUTH_OK, body.data, body.len, &out);
	if (sc_derive_session_keys(ss, w.h2, &keys) == -1 ||
	    record_set_keys(&w.ch, SC_PHASE_SESSION, &keys) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "session keys");
	OPENSSL_cleanse(ss, sizeof(ss));
	OPENSSL_cleanse(&keys, sizeof(keys));
	EVP_PKEY_free(eph);
	wbuf_free(&body);
	wbuf_free(&out);
	sc_frame_free(&f);

	snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)w.account_id);
	if (worker_send_state(WORKER_FD_CTL, WORKER_ST_AUTH, w.user) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "state to master: %s",
		    strerror(errno));
	receive_transcript();
	setproctitle("worker [%s] %s", w.addr, w.user);
	audit(isreg ? "session_start_register" : "session_start",
	    "account_id", idbuf, "cert_sha256", w.peer_fp_hex, NULL);
	log_info("session %s from %s: %s as %s", w.sid_hex, w.addr,
	    isreg ? "registered" : "logged in", w.user);
}

/*
 * The master answers WORKER_ST_AUTH with the session's transcript, which
 * it creates only now (securechatd.h).  Nothing of the session is
 * recorded before: no session record exists yet.
 */
static void
receive_transcript(void)
{
	static struct ipc_msg msg;	/* IPC_MAX_BODY: not on the stack */
	int r;

	if (ipc_wait_readable(WORKER_FD_CTL, TRANSCRIPT_WAIT_MS) == -1)
		refuse(SC_E_INTERNAL, "internal_error",
		    "no transcript from the master");
	if ((r = ipc_recv(WORKER_FD_CTL, &msg, 1)) != 1 ||
	    msg.hdr.type != WORKER_TRANSCRIPT || msg.len != 0 ||
	    msg.fd != WORKER_FD_TRANSCRIPT) {
		if (r == 1 && msg.fd != -1)
			close(msg.fd);
		refuse(SC_E_INTERNAL, "internal_error", "bad transcript "
		    "message from the master");
	}
	if (transcript_fdopen(&w.tr, WORKER_FD_TRANSCRIPT,
	    w.conf->transcript_sync) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "transcript: %s",
		    strerror(errno));
}

/* Our receipt, signed by keyd; the client's, verified; both to the master. */
static void
close_session(const uint8_t *pt, size_t ptlen)
{
	struct sc_receipt theirs, mine;
	struct wbuf stmt, body, out, msg;
	EVP_PKEY *pub = NULL;
	char hashhex[2 * SC_SHA256_LEN + 1], first[24], last[24];
	int code;

	if ((code = sc_receipt_parse(pt, ptlen, &theirs)) != 0)
		refuse(code, "bad_receipt", "malformed CLOSE receipt");
	memcpy(theirs.session_id, w.ch.session_id, SC_SESSION_ID_LEN);
	memset(&mine, 0, sizeof(mine));
	memcpy(mine.session_id, w.ch.session_id, SC_SESSION_ID_LEN);
	mine.role = SC_ROLE_SERVER;
	memcpy(mine.peer_fp, w.peer_fp, SC_SHA256_LEN);
	if (transcript_digest(&w.tr, mine.transcript_sha256, &mine.first_seq,
	    &mine.last_seq) == -1)
		refuse(SC_E_INTERNAL, "internal_error",
		    "transcript incomplete: no receipt");

	wbuf_init(&stmt, SC_STMT_MAX);
	if ((pub = X509_get_pubkey(w.peer)) == NULL ||
	    sc_stmt_receipt(&stmt, &theirs) == -1 ||
	    sc_rsa_verify(pub, stmt.data, stmt.len, theirs.sig,
	    theirs.siglen) == -1)
		refuse(SC_E_SIG_FAIL, "receipt_rejected",
		    "client receipt signature does not verify");
	EVP_PKEY_free(pub);
	if (theirs.role != SC_ROLE_CLIENT ||
	    CRYPTO_memcmp(theirs.peer_fp, w.cert_fp, SC_SHA256_LEN) != 0 ||
	    CRYPTO_memcmp(theirs.transcript_sha256, mine.transcript_sha256,
	    SC_SHA256_LEN) != 0 || theirs.first_seq != mine.first_seq ||
	    theirs.last_seq != mine.last_seq)
		/*
		 * Not tampering (the signature verified) but a receipt over
		 * another state: docs/PROTOCOL.md §6.4.  Clients drain their
		 * replies before CLOSE, so this means a broken client.
		 */
		refuse(SC_E_PROTOCOL, "receipt_rejected",
		    "client receipt does not cover the server's transcript");

	mine.siglen = sizeof(mine.sig);
	if (keyd_sign_receipt(WORKER_FD_KEYD, &mine, mine.sig, &mine.siglen) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "keyd: no receipt");

	/* The master writes both receipts next to the transcript. */
	wbuf_init(&msg, IPC_MAX_BODY);
	for (int i = 0; i < 2; i++) {
		const struct sc_receipt *r = i == 0 ? &theirs : &mine;

		wbuf_reset(&msg);
		if (wbuf_put(&msg, w.ch.session_id, SC_SESSION_ID_LEN) == -1 ||
		    wbuf_put(&msg, i == 0 ? w.peer_fp : w.cert_fp,
		    SC_SHA256_LEN) == -1 || sc_receipt_encode(&msg, r) == -1 ||
		    ipc_send(WORKER_FD_CTL, WORKER_RECEIPT, 0, msg.data,
		    msg.len) == -1)
			log_warn("receipt to master");
	}
	wbuf_free(&msg);

	wbuf_init(&body, SC_MAX_PAYLOAD);
	wbuf_init(&out, SC_MAX_PAYLOAD);
	if (sc_receipt_encode(&body, &mine) == -1)
		refuse(SC_E_INTERNAL, "internal_error", "encode receipt");
	send_record(SC_T_CLOSE_ACK, body.data, body.len, &out);
	(void)worker_send_state(WORKER_FD_CTL, WORKER_ST_CLOSING, w.user);
	hex_encode(mine.transcript_sha256, SC_SHA256_LEN, hashhex);
	snprintf(first, sizeof(first), "%llu",
	    (unsigned long long)mine.first_seq);
	snprintf(last, sizeof(last), "%llu", (unsigned long long)mine.last_seq);
	audit("session_end", "transcript_sha256", hashhex, "first_seq", first,
	    "last_seq", last, NULL);
	log_info("session %s from %s: %s closed, receipts exchanged",
	    w.sid_hex, w.addr, w.user);
	wbuf_free(&stmt);
	wbuf_free(&body);
	wbuf_free(&out);
}


/* ---- Messaging: envelopes between the client, authd and the router ---- */

static const char *
code_reason(int code)
{
	switch (code) {
	case 0:
		return "";
	case SC_E_RATE_LIMITED:
		return "too many messages, or the recipient's queue is full";
	case SC_E_TOO_LARGE:
		return "too large";
	case SC_E_BAD_INPUT:
		return "recipients or room not acceptable";
	case SC_E_AUTH_FAIL:
		return "not a member";
	case SC_E_SIG_FAIL:
		return "envelope signature does not verify";
	case SC_E_BAD_CERT:
		return "envelope sender certificate rejected";
	case SC_E_UNAVAILABLE:
		return "message store unavailable, try later";
	default:
		return "refused";
	}
}

static void
router_gone(const char *why)
{
	if (w.router != -1)
		log_info("session %s: router %s: no live delivery until the "
		    "next login", w.sid_hex, why);
	w.router = -1;
}

static void
router_send(uint16_t type, const struct wbuf *b)
{
	if (w.router != 1)
		return;
	if (b->err || ipc_send(WORKER_FD_ROUTER, type, 0, b->data,
	    b->len) == -1)
		router_gone("unreachable");
}

/* DELIVER one envelope to the client (from the queue or the router). */
static void
deliver(uint64_t id, const uint8_t *env, size_t envlen, struct wbuf *out)
{
	struct sc_deliver d = { id, env, envlen };
	struct wbuf body;

	wbuf_init(&body, SC_MAX_RECORD_PT);
	if (sc_deliver_encode(&body, &d) == -1 || body.err)
		refuse(SC_E_INTERNAL, "internal_error", "encode DELIVER");
	send_record(SC_T_DELIVER, body.data, body.len, out);
	wbuf_free(&body);
}

/* At login: everything queued while we were away, in id order. */
static void
drain_queue(struct wbuf *out)
{
	static uint8_t env[SC_MAX_ENVELOPE];
	authd_name sender;
	uint64_t id, after = 0;
	size_t envlen;
	int present, code, n = 0;

	for (;;) {
		code = authd_fetch(WORKER_FD_AUTHD, after, &present, &id,
		    sender, env, sizeof(env), &envlen);
		if (code != 0) {
			log_warnx("session %s: queue fetch: %s", w.sid_hex,
			    sc_err_name(code));
			break;
		}
		if (!present)
			break;
		deliver(id, env, envlen, out);
		after = w.fetched_max = id;
		n++;
	}
	if (n > 0)
		log_info("session %s: %d queued message(s) delivered to %s",
		    w.sid_hex, n, w.user);
}

static void
reply_send(struct wbuf *b, struct wbuf *out)
{
	if (b->err)
		refuse(SC_E_INTERNAL, "internal_error", "REPLY too large");
	send_record(SC_T_REPLY, b->data, b->len, out);
}

static void
reply_code(uint32_t ref, uint8_t op, int code, struct wbuf *out)
{
	struct wbuf b;

	wbuf_init(&b, 64);
	(void)sc_reply_encode_head(&b, ref, op, (uint16_t)code, 0);
	reply_send(&b, out);
	wbuf_free(&b);
}

static void
reply_names(uint32_t ref, uint8_t op, authd_name *names, size_t n,
    struct wbuf *out)
{
	struct wbuf b;
	size_t i;

	wbuf_init(&b, SC_MAX_RECORD_PT);
	(void)sc_reply_encode_head(&b, ref, op, 0, (uint16_t)n);
	for (i = 0; i < n; i++)
		(void)sc_reply_encode_item(&b, (const uint8_t *)names[i],
		    strlen(names[i]), NULL, 0);
	reply_send(&b, out);
	wbuf_free(&b);
}

static void
handle_send(const uint8_t *pt, size_t ptlen, struct wbuf *out)
{
	struct sc_send m;
	struct sc_sent sent;
	struct env_header h;
	struct wbuf b;
	char reason[256], idbuf[24];
	uint64_t id = 0;
	int code;

	if ((code = sc_send_parse(pt, ptlen, &m)) != 0)
		refuse(code, "bad_input", "malformed SEND");
	reason[0] = '\0';
	/* Refuse forgeries early: the sender is this session's user. */
	code = envelope_peek(m.env, m.envlen, &h, reason, sizeof(reason));
	if (code == 0 && strcmp(h.sender, w.user) != 0) {
		code = SC_E_BAD_INPUT;
		snprintf(reason, sizeof(reason), "envelope sender is not %s",
		    w.user);
	}
	if (code == 0)
		code = envelope_verify(&h, w.trust, time(NULL), reason,
		    sizeof(reason));
	if (code != 0)
		code = envelope_err_wire(code);
	else if ((code = authd_store(WORKER_FD_AUTHD, m.env, m.envlen,
	    &id)) == 0) {
		wbuf_init(&b, IPC_MAX_BODY);
		wbuf_put_u64(&b, id);
		wbuf_put_str32(&b, m.env, m.envlen);
		router_send(ROUTER_ROUTE, &b);
		wbuf_free(&b);
	}
	if (code != 0) {
		if (reason[0] == '\0')
			strlcpy(reason, code_reason(code), sizeof(reason));
		audit("send_refused", "code", sc_err_name(code), "reason",
		    reason, NULL);
	} else {
		snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)id);
		audit("message_stored", "id", idbuf, "room", h.room[0] ?
		    h.room : "-", NULL);
	}
	memset(&sent, 0, sizeof(sent));
	sent.ref = m.ref;
	sent.code = (uint16_t)code;
	sent.msg_id = id;
	sent.reason = (const uint8_t *)(code ? reason : "");
	sent.reasonlen = code ? strnlen(reason, SC_MAX_REASON) : 0;
	/* The reason goes to the peer: printable ASCII only. */
	for (size_t i = 0; i < sent.reasonlen; i++)
		if (reason[i] < 0x20 || reason[i] > 0x7e)
			reason[i] = '?';
	wbuf_init(&b, 512);
	if (sc_sent_encode(&b, &sent) == -1 || b.err)
		refuse(SC_E_INTERNAL, "internal_error", "encode SENT");
	send_record(SC_T_SENT, b.data, b.len, out);
	wbuf_free(&b);
}

static void
handle_ack(const uint8_t *pt, size_t ptlen)
{
	struct sc_ack m;
	struct wbuf b;
	authd_name sender;
	int code;

	if ((code = sc_ack_parse(pt, ptlen, &m)) != 0)
		refuse(code, "bad_input", "malformed ACK");
	if ((code = authd_ack(WORKER_FD_AUTHD, m.msg_id, m.state,
	    sender)) != 0) {
		log_info("session %s: ACK of %llu refused: %s", w.sid_hex,
		    (unsigned long long)m.msg_id, sc_err_name(code));
		return;
	}
	/* Tell the sender; the router names us, not this worker. */
	wbuf_init(&b, 128);
	wbuf_put_u64(&b, m.msg_id);
	wbuf_put_str16(&b, sender, strlen(sender));
	wbuf_put_u8(&b, m.state);
	router_send(ROUTER_STATUS, &b);
	wbuf_free(&b);
}

static void
handle_request(const uint8_t *pt, size_t ptlen, struct wbuf *out)
{
	static authd_name names[AUTHD_CERTS_MAX > 64 ? AUTHD_CERTS_MAX : 64];
	struct authd_certlist certs;
	struct sc_request m;
	struct wbuf b;
	char arg[SC_MAX_USERNAME + 1];
	size_t n = 0, i;
	int code;

	if ((code = sc_request_parse(pt, ptlen, &m)) != 0)
		refuse(code, "bad_input", "malformed REQUEST");
	memcpy(arg, m.arg, m.arglen);
	arg[m.arglen] = '\0';
	if (memchr(m.arg, '\0', m.arglen) != NULL) {
		reply_code(m.ref, m.op, SC_E_BAD_INPUT, out);
		return;
	}
	switch (m.op) {
	case SC_OP_CERTS:
		memset(&certs, 0, sizeof(certs));
		if ((code = authd_certs(WORKER_FD_AUTHD, arg, &certs)) != 0) {
			reply_code(m.ref, m.op, code, out);
			break;
		}
		wbuf_init(&b, SC_MAX_RECORD_PT);
		n = certs.n > SC_MAX_REPLY_ITEMS ? SC_MAX_REPLY_ITEMS : certs.n;
		(void)sc_reply_encode_head(&b, m.ref, m.op, 0, (uint16_t)n);
		for (i = 0; i < n; i++)
			(void)sc_reply_encode_item(&b,
			    (const uint8_t *)certs.v[i].user,
			    strlen(certs.v[i].user), certs.v[i].der,
			    certs.v[i].derlen);
		authd_certlist_free(&certs);
		if (b.err) {
			wbuf_free(&b);
			reply_code(m.ref, m.op, SC_E_TOO_LARGE, out);
			break;
		}
		reply_send(&b, out);
		wbuf_free(&b);
		break;
	case SC_OP_JOIN:
	case SC_OP_LEAVE:
		code = m.op == SC_OP_JOIN ? authd_join(WORKER_FD_AUTHD, arg) :
		    authd_leave(WORKER_FD_AUTHD, arg);
		if (code == 0)
			audit(m.op == SC_OP_JOIN ? "room_join" : "room_leave",
			    "room", arg, NULL);
		reply_code(m.ref, m.op, code, out);
		break;
	case SC_OP_ROOMS:
	case SC_OP_MEMBERS:
		code = m.op == SC_OP_ROOMS ? authd_rooms(WORKER_FD_AUTHD, names,
		    64, &n) : authd_members(WORKER_FD_AUTHD, arg, names, 64, &n);
		if (code != 0)
			reply_code(m.ref, m.op, code, out);
		else
			reply_names(m.ref, m.op, names, n, out);
		break;
	case SC_OP_SYNC:
		/*
		 * The client is closing: from now on nothing unsolicited
		 * (live DELIVER, STATUS) is sent, so that its receipt covers
		 * exactly our transcript.  Live envelopes stay queued in the
		 * database until the next login.
		 */
		w.synced = 1;
		reply_code(m.ref, m.op, 0, out);
		break;
	case SC_OP_WHO:
		if (w.router != 1 || w.who_n == sizeof(w.who_ref) /
		    sizeof(w.who_ref[0])) {
			reply_code(m.ref, m.op, SC_E_UNAVAILABLE, out);
			break;
		}
		wbuf_init(&b, 16);
		router_send(ROUTER_WHO, &b);
		wbuf_free(&b);
		if (w.router == 1)
			w.who_ref[w.who_n++] = m.ref;
		else
			reply_code(m.ref, m.op, SC_E_UNAVAILABLE, out);
		break;
	}
}

/* 0 if the plaintext of a client record parses, else the code. */
static int
body_check(uint8_t type, const uint8_t *pt, size_t ptlen)
{
	struct sc_send sm;
	struct sc_ack am;
	struct sc_request rm;
	const uint8_t *text;
	size_t tlen;
	int code;

	switch (type) {
	case SC_T_CHAT:
		if ((code = sc_chat_parse(pt, ptlen, &text, &tlen)) != 0)
			return code;
		return sc_valid_text(text, tlen) ? 0 : SC_E_BAD_INPUT;
	case SC_T_SEND:
		return sc_send_parse(pt, ptlen, &sm);
	case SC_T_ACK:
		return sc_ack_parse(pt, ptlen, &am);
	case SC_T_REQUEST:
		return sc_request_parse(pt, ptlen, &rm);
	default:
		return SC_E_PROTOCOL;
	}
}

/* One message from the router: a push, or the answer to our request. */
static void
router_event(struct wbuf *out)
{
	static struct ipc_msg msg;
	struct cursor c;
	const uint8_t *env, *by;
	size_t envlen, bylen;
	uint64_t id, account;
	uint16_t n, i;
	uint8_t state;
	int r;

	if ((r = ipc_recv(WORKER_FD_ROUTER, &msg, 0)) != 1) {
		router_gone(r == 0 ? "closed its channel" : "sent garbage");
		return;
	}
	cur_init(&c, msg.body, msg.len);
	switch (msg.hdr.type) {
	case ROUTER_BOUND:
		account = cur_u64(&c);
		by = cur_str16(&c, &bylen, SC_MAX_USERNAME);
		if (cur_done(&c) == -1 || account != w.account_id ||
		    bylen != strlen(w.user) || memcmp(by, w.user, bylen) != 0) {
			router_gone("bound us to someone else");
			break;
		}
		w.router = 1;
		break;
	case ROUTER_DELIVER:
		id = cur_u64(&c);
		env = cur_str32(&c, &envlen, SC_MAX_ENVELOPE);
		if (cur_done(&c) == -1 || envlen == 0 || id == 0) {
			router_gone("sent a malformed DELIVER");
			break;
		}
		/* Already delivered from the queue at login. */
		if (id > w.fetched_max)
			deliver(id, env, envlen, out);
		break;
	case ROUTER_STATUS_PUSH: {
		struct sc_status st;
		struct wbuf b;

		id = cur_u64(&c);
		by = cur_str16(&c, &bylen, SC_MAX_USERNAME);
		state = cur_u8(&c);
		if (cur_done(&c) == -1)
			break;
		st.msg_id = id;
		st.by_user = by;
		st.by_userlen = bylen;
		st.state = state;
		wbuf_init(&b, 128);
		if (sc_status_encode(&b, &st) == 0 && !b.err)
			send_record(SC_T_STATUS, b.data, b.len, out);
		wbuf_free(&b);
		break;
	}
	case ROUTER_WHO_OK: {
		struct wbuf b;
		uint32_t ref;

		if (w.who_n == 0)
			break;
		ref = w.who_ref[0];
		memmove(w.who_ref, w.who_ref + 1, --w.who_n *
		    sizeof(w.who_ref[0]));
		n = cur_u16(&c);
		if (n > SC_MAX_REPLY_ITEMS)
			n = SC_MAX_REPLY_ITEMS;
		wbuf_init(&b, SC_MAX_RECORD_PT);
		(void)sc_reply_encode_head(&b, ref, SC_OP_WHO, 0, n);
		for (i = 0; i < n; i++) {
			by = cur_str16(&c, &bylen, SC_MAX_USERNAME);
			if (c.err)
				break;
			(void)sc_reply_encode_item(&b, by, bylen, NULL, 0);
		}
		if (c.err)
			reply_code(ref, SC_OP_WHO, SC_E_INTERNAL, out);
		else
			reply_send(&b, out);
		wbuf_free(&b);
		break;
	}
	case ROUTER_REFUSED:
		/* A WHO over the router's rate: answer it; a ROUTE is stored. */
		if (w.who_n > 0) {
			uint32_t ref = w.who_ref[0];

			memmove(w.who_ref, w.who_ref + 1, --w.who_n *
			    sizeof(w.who_ref[0]));
			reply_code(ref, SC_OP_WHO, SC_E_RATE_LIMITED, out);
		}
		break;
	case ROUTER_ROUTE_OK:
	default:
		break;
	}
	ipc_msg_clear(&msg);
}

/*
 * Wait briefly for the router to confirm who we are (the binding comes
 * from authd through the master, never from us), so that our first
 * ROUTE is not refused as premature.
 */
static void
router_wait_bound(struct wbuf *out)
{
	struct pollfd p = { WORKER_FD_ROUTER, POLLIN, 0 };
	time_t end = time(NULL) + 5;

	while (w.router == 0 && time(NULL) < end) {
		if (poll(&p, 1, 1000) == 1)
			router_event(out);
	}
	if (w.router == 0)
		router_gone("did not confirm the login");
}

/* CLOCK_MONOTONIC in milliseconds (the vDSO: no system call). */
static uint64_t
mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * transcript_sync batch: every line is written (write(2)) before anything
 * that depends on it goes to the peer, so the death of any process loses
 * no line; but fdatasync(2) runs once per batch: when the oldest unsynced
 * line is TRANSCRIPT_BATCH_MS old (the loop below wakes up for it), before
 * a receipt is signed (transcript_digest) and at exit.
 */
static uint64_t tr_sync_due;	/* ms by which pending lines are synced */

static void
tr_sync(void)
{
	tr_sync_due = 0;
	if (transcript_sync(&w.tr) == -1)
		refuse(SC_E_INTERNAL, "internal_error",
		    "transcript sync failed");
}

/* The poll timeout: idle_ms (-1: none), or less to sync a batch in time. */
static int
tr_poll_timeout(int idle_ms)
{
	uint64_t now;
	int left;

	if (!transcript_pending(&w.tr))
		return idle_ms;
	now = mono_ms();
	if (tr_sync_due == 0)
		tr_sync_due = now + TRANSCRIPT_BATCH_MS;
	if (now >= tr_sync_due) {
		tr_sync();
		return idle_ms;
	}
	left = (int)(tr_sync_due - now);
	return idle_ms < 0 || left < idle_ms ? left : idle_ms;
}

/* Any exit (refusal, disconnect, fatal): the lines written reach the disk. */
static void
tr_atexit(void)
{
	if (w.tr.fd != -1 && transcript_pending(&w.tr))
		(void)transcript_sync(&w.tr);
}

/*
 * The last exit handler to run (registered first): end the process here,
 * after tr_atexit, without the dynamic linker's destructor walk and
 * stdio's flush (the worker writes no buffered stream).  Both only write
 * to pages a forked worker shares with the zygote: copy-on-write faults
 * for nothing, on every connection.
 */
static void
fast_exit(int status, void *arg)
{
	(void)arg;
	_exit(status);
}

/*
 * The session loop: records from the client (CHAT for the echo service,
 * messaging, CLOSE) and pushes from the router, whichever comes first.
 */
static void
serve(void)
{
	struct sc_frame f = { 0 };
	struct sc_record rec;
	struct wbuf body, out;
	const uint8_t *text;
	uint8_t *pt;
	char reply[SC_MAX_TEXT + 1];
	size_t ptlen, tlen, n;
	int code, idle = w.conf->idle_timeout ?
	    (int)w.conf->idle_timeout * 1000 : -1;

	pt = ptbuf;
	wbuf_init(&body, SC_MAX_PAYLOAD);
	wbuf_init(&out, SC_MAX_PAYLOAD);
	router_wait_bound(&out);
	drain_queue(&out);
	for (;;) {
		struct pollfd pfd[2] = {
			{ w.fd, POLLIN, 0 },
			{ w.router == 1 && !w.synced ? WORKER_FD_ROUTER : -1,
			    POLLIN, 0 },
		};
		int r, timeout;

		sc_frame_free(&f);
		timeout = tr_poll_timeout(idle);
		if ((r = poll(pfd, 2, timeout)) == -1 && errno != EINTR)
			fatal("poll");
		if (r == 0 && transcript_pending(&w.tr)) {
			/* The batch is due (the idle wait starts again). */
			tr_sync();
			continue;
		}
		if (r == 0)
			refuse(SC_E_TIMEOUT, "timeout", "idle timeout");
		if (r <= 0)
			continue;
		if (pfd[1].revents) {
			router_event(&out);
			if (!pfd[0].revents)
				continue;
		}
		read_frame(idle, &f);
		switch (f.type) {
		case SC_T_CHAT:
		case SC_T_CLOSE:
		case SC_T_SEND:
		case SC_T_ACK:
		case SC_T_REQUEST:
			break;
		default:
			refuse(SC_E_PROTOCOL, "protocol_violation",
			    "%s not allowed in a session",
			    sc_type_name(f.type));
		}
		open_record(&f, pt, SC_MAX_CT, &ptlen, &rec);
		if (f.type == SC_T_CLOSE) {
			close_session(pt, ptlen);
			break;
		}
		/* Only a well-formed record is logged, then acted on. */
		if ((code = body_check(f.type, pt, ptlen)) != 0)
			refuse(code, "bad_input", "%s",
			    f.type == SC_T_CHAT ? "CHAT text must be UTF-8 "
			    "without control characters" : "malformed record");
		if (transcript_append(&w.tr, SC_DIR_C2S, f.type, &rec,
		    w.peer_fp) == -1)
			refuse(SC_E_INTERNAL, "internal_error",
			    "transcript write failed");
		if (f.type != SC_T_CHAT) {
			if (f.type == SC_T_SEND)
				handle_send(pt, ptlen, &out);
			else if (f.type == SC_T_ACK)
				handle_ack(pt, ptlen);
			else
				handle_request(pt, ptlen, &out);
			OPENSSL_cleanse(pt, ptlen);
			continue;
		}
		if ((code = sc_chat_parse(pt, ptlen, &text, &tlen)) != 0 ||
		    !sc_valid_text(text, tlen))
			refuse(code ? code : SC_E_BAD_INPUT, "bad_input",
			    "CHAT text must be UTF-8 without control characters");
		w.nchat++;

		/* The seed's echo service, until users talk to users. */
		n = (size_t)snprintf(reply, sizeof(reply), "echo: %.*s",
		    (int)tlen, (const char *)text);
		if (n >= sizeof(reply))
			n = sizeof(reply) - 1;
		/* Never cut a UTF-8 sequence in half. */
		while (n > 0 && ((unsigned char)reply[n] & 0xc0) == 0x80)
			n--;
		wbuf_reset(&body);
		if (sc_chat_encode(&body, (const uint8_t *)reply, n) == -1)
			refuse(SC_E_INTERNAL, "internal_error", "encode CHAT");
		send_record(SC_T_CHAT, body.data, body.len, &out);
		OPENSSL_cleanse(pt, ptlen);
	}
	sc_frame_free(&f);
	wbuf_free(&body);
	wbuf_free(&out);
}

/*
 * Before the drop: the public material every session needs.  In exec
 * mode for this one connection; in the zygote (zygote.c) once, for every
 * worker it will fork.
 */
void
worker_prepare(const struct sc_config *conf)
{
	memset(&w, 0, sizeof(w));
	w.conf = conf;
	w.fd = WORKER_FD_CLIENT;
	/* Public material only, read before the drop. */
	load_public();
	w.tr.fd = -1;		/* until the login (receive_transcript) */
	if (on_exit(fast_exit, NULL) != 0 || atexit(tr_atexit) != 0)
		fatalx("atexit");
}

/*
 * The zygote's warm-up: run once every OpenSSL code path a handshake and
 * a record take, on throw-away inputs, so that OpenSSL 3's lazy set-up
 * (algorithm fetches, decoder and method tables) is done once in the
 * zygote instead of in every worker.  Nothing secret comes out of it and
 * what it made is wiped; a failure here is only a slower first use.
 */
void
worker_warm(void)
{
	EVP_PKEY *eph = NULL, *pub = NULL;
	struct sc_dirkeys keys;
	uint8_t kex[SC_KEX_LEN], ss[32], h2[SC_SHA256_LEN] = { 0 };
	uint8_t key[SC_AES_KEY_LEN] = { 0 }, iv[SC_IV_LEN] = { 0 };
	uint8_t ct[64], pt[64], sig[512] = { 0 };
	size_t ctlen = sizeof(ct), ptlen = sizeof(pt);
	uint8_t fp[SC_SHA256_LEN];
	char reason[256], cn[128];
	X509 *x;

	/* A certificate from bytes, checked, as a client's will be. */
	if ((x = pki_cert_from_der(w.cert_der, w.cert_derlen, reason,
	    sizeof(reason))) != NULL) {
		(void)pki_fingerprint(x, fp);
		(void)pki_cert_cn(x, cn, sizeof(cn));
		(void)pki_verify(w.trust, x, PKI_PURPOSE_SERVER, NULL, 0,
		    reason, sizeof(reason));
		X509_free(x);
	}
	if ((pub = X509_get_pubkey(w.cert)) != NULL) {
		(void)sc_rsa_key_ok(pub);
		/* Fails, after the public-key operation it warms up. */
		(void)sc_rsa_verify(pub, kex, sizeof(kex), sig,
		    (size_t)EVP_PKEY_get_size(pub) <= sizeof(sig) ?
		    (size_t)EVP_PKEY_get_size(pub) : sizeof(sig));
	}
	if (sc_x25519_keygen(&eph, kex) == 0 &&
	    sc_x25519_derive(eph, kex, sizeof(kex), ss) == 0)
		(void)sc_derive_temp_keys(ss, h2, &keys);
	if (sc_aes_cbc_encrypt(key, iv, h2, sizeof(h2), ct, &ctlen) == 0)
		(void)sc_aes_cbc_decrypt(key, iv, ct, ctlen, pt, &ptlen);
	(void)sc_sha256(ct, sizeof(ct), h2);
	OPENSSL_cleanse(ss, sizeof(ss));
	OPENSSL_cleanse(&keys, sizeof(keys));
	OPENSSL_cleanse(pt, sizeof(pt));
	EVP_PKEY_free(eph);
	EVP_PKEY_free(pub);
	/* Workers verify their own peer's key: no context to inherit. */
	sc_rsa_forget();
}

/*
 * This session's X25519 share, made once: by a spare worker while it
 * waits for its connection, else at the start of the handshake.
 */
void
worker_keygen(void)
{
	if (w.eph != NULL)
		return;
	if (sc_x25519_keygen(&w.eph, w.kex) == -1)
		fatalx("X25519 key generation failed");
}

/* chroot to the jail, the worker user, no new privileges. */
void
worker_drop(unsigned int max_procs)
{
	struct privdrop_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.user = w.conf->worker_user;
	spec.jail = w.conf->jail;
	spec.keep_stderr = w.conf->foreground;
	spec.max_procs = max_procs;
	if (privdrop(&spec) == -1)
		fatalx("privilege drop failed");
}

void
worker_confine(void)
{
	if (sandbox_apply(SANDBOX_WORKER) == -1)
		fatalx("cannot install the worker sandbox");
}

/* One session on WORKER_FD_*; conf's session_serial and peer_addr set. */
int
worker_serve(void)
{
	strlcpy(w.addr, w.conf->peer_addr, sizeof(w.addr));
	w.hs_deadline = time(NULL) + (time_t)w.conf->handshake_timeout;
	setproctitle("worker [%s]", w.addr);

	handshake();
	authenticate();
	serve();
	transcript_close(&w.tr);
	record_channel_clear(&w.ch);
	/*
	 * The trust store and our certificate are public and the process
	 * ends now: freeing them would only copy the zygote's pages.
	 */
	X509_free(w.peer);
	return 0;
}

int
worker_main(const struct sc_config *conf, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	worker_prepare(conf);
	worker_drop(0);
	worker_confine();
	return worker_serve();
}
