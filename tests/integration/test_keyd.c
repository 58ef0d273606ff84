/*
 * test_keyd.c: the real keyd binary, started the way the master starts it
 * (fork, exec, control channel on descriptor 3), with a key and
 * certificate made at run time.  As root it runs with its full privilege
 * drop (user nobody, an empty jail under /run, seccomp); otherwise in
 * development mode.
 *
 * The test plays the master (control channel) and several workers (one
 * channel each, through the real worker stubs of session/keyd_wrap.c)
 * and checks the request table: NONCE once and first, a handshake
 * signature that verifies with the certificate and only over keyd's own
 * nonce, session and certificate, records with exactly the next seq and
 * only server->client types in their order, one receipt; every refusal
 * closes that channel, is audited and asks the master to kill that worker,
 * while the other channels go on working.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "audit.h"
#include "buf.h"
#include "daemonspawn.h"
#include "ipc.h"
#include "keyd/keyd.h"
#include "pki.h"
#include "proto.h"
#include "sccrypto.h"
#include "testutil.h"
#include "util.h"

/*
 * The worker-side stubs are compiled into this test as they are into
 * securechatd, so that the real stubs meet the real daemon.
 */
#include "session/keyd_wrap.c"

static struct {
	char		*dir;
	struct ds_daemon d;		/* keyd; we are its master */
	char		 key[512], cert[512], other_cert[512];
	X509		*srv;
	uint8_t		 der[SC_MAX_CERT], other_der[SC_MAX_CERT];
	size_t		 derlen, other_derlen;
	uint64_t	 serial;
} kt;

static struct ipc_msg ctlmsg;

static X509 *
make_cert(const char *cn, enum pki_purpose purpose, int is_ca, EVP_PKEY *key,
    X509 *issuer, EVP_PKEY *issuer_key)
{
	struct pki_cert_spec spec;
	char err[256];
	X509 *x;

	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.san = purpose == PKI_PURPOSE_SERVER ? "DNS:localhost" : NULL;
	spec.purpose = purpose;
	spec.is_ca = is_ca;
	spec.not_before = time(NULL) - 3600;
	spec.not_after = time(NULL) + 86400;
	if ((x = pki_make_cert(&spec, key, issuer, issuer_key, err,
	    sizeof(err))) == NULL)
		fail_msg("pki_make_cert: %s", err);
	return x;
}

/* Start keyd with key and cert; returns the pid, *ctlp the master's end. */
static pid_t
start_keyd(const char *key, const char *cert, int *ctlp)
{
	const char *args[] = { "-k", key, "-c", cert, NULL };

	return ds_start(&kt.d, args, ctlp);
}

static int
setup(void **state)
{
	EVP_PKEY *ca_key, *key, *other_key;
	X509 *ca, *other;
	char err[256];

	(void)state;
	memset(&kt, 0, sizeof(kt));
	kt.dir = tu_mkdtemp("keyd");
	ds_init(&kt.d, "keyd", kt.dir);
	snprintf(kt.key, sizeof(kt.key), "%s/server.key", kt.dir);
	snprintf(kt.cert, sizeof(kt.cert), "%s/server.pem", kt.dir);
	snprintf(kt.other_cert, sizeof(kt.other_cert), "%s/other.pem", kt.dir);
	assert_non_null(ca_key = pki_rsa_keygen(2048, err, sizeof(err)));
	assert_non_null(key = pki_rsa_keygen(2048, err, sizeof(err)));
	assert_non_null(other_key = pki_rsa_keygen(2048, err, sizeof(err)));
	ca = make_cert("keyd test CA", PKI_PURPOSE_ANY, 1, ca_key, NULL, NULL);
	kt.srv = make_cert("localhost", PKI_PURPOSE_SERVER, 0, key, ca, ca_key);
	other = make_cert("localhost", PKI_PURPOSE_SERVER, 0, other_key, ca,
	    ca_key);
	assert_int_equal(pki_write_key(kt.key, key, 0, err, sizeof(err)), 0);
	assert_int_equal(pki_write_cert(kt.cert, kt.srv, 0, err, sizeof(err)),
	    0);
	assert_int_equal(pki_write_cert(kt.other_cert, other, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_cert_to_der(kt.srv, kt.der, sizeof(kt.der),
	    &kt.derlen), 0);
	assert_int_equal(pki_cert_to_der(other, kt.other_der,
	    sizeof(kt.other_der), &kt.other_derlen), 0);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	X509_free(ca);
	X509_free(other);

	kt.d.pid = start_keyd(kt.key, kt.cert, &kt.d.ctl);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	ds_stop(&kt.d, "SC_KEYD_LOG");
	X509_free(kt.srv);
	tu_rmrf(kt.dir);
	free(kt.dir);
	return 0;
}

/* The master hands keyd a new channel; returns the worker's end. */
static int
new_channel(uint64_t *serialp)
{
	struct wbuf b;
	int sv[2];

	*serialp = ++kt.serial;
	assert_int_equal(ipc_socketpair(sv), 0);
	wbuf_init(&b, 256);
	wbuf_put_u64(&b, *serialp);
	wbuf_put_str16(&b, "192.0.2.7:40000", 15);
	assert_int_equal(ipc_send_fd(kt.d.ctl, KEYD_CTL_NEW_CHANNEL, 0, b.data,
	    b.len, sv[1]), 0);
	wbuf_free(&b);
	close(sv[1]);
	return sv[0];
}

/*
 * Read control messages until a KILL_WORKER for serial (1) or timeout
 * (0).  *audited is set when a keyd_refused audit event came first.
 */
static int
expect_kill(uint64_t serial, int ms, int *audited)
{
	struct pollfd pfd;
	struct cursor c;
	uint64_t got;

	*audited = 0;
	for (;;) {
		pfd.fd = kt.d.ctl;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms) != 1)
			return 0;
		if (ipc_recv(kt.d.ctl, &ctlmsg, 0) != 1)
			return 0;
		if (ctlmsg.hdr.type == IPC_MSG_AUDIT) {
			ctlmsg.body[ctlmsg.len < sizeof(ctlmsg.body) ?
			    ctlmsg.len : sizeof(ctlmsg.body) - 1] = '\0';
			if (tu_contains((char *)ctlmsg.body, "keyd_refused"))
				*audited = 1;
			continue;
		}
		assert_int_equal(ctlmsg.hdr.type, KEYD_CTL_KILL_WORKER);
		cur_init(&c, ctlmsg.body, ctlmsg.len);
		got = cur_u64(&c);
		assert_int_equal(cur_done(&c), 0);
		if (got != serial)
			fail_msg("kill for session %llu, expected %llu",
			    (unsigned long long)got, (unsigned long long)serial);
		return 1;
	}
}

/* The channel has been closed by keyd: the next read is EOF. */
static void
assert_closed(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	struct ipc_msg *m = malloc(sizeof(*m));

	assert_non_null(m);
	assert_int_equal(poll(&pfd, 1, 3000), 1);
	assert_int_equal(ipc_recv(fd, m, 0), 0);
	free(m);
}

static void
assert_refused(int fd, uint64_t serial)
{
	int audited;

	if (!expect_kill(serial, 3000, &audited)) {
		ds_dump_log(&kt.d);
		fail_msg("no KILL_WORKER for session %llu",
		    (unsigned long long)serial);
	}
	assert_true(audited);
	assert_closed(fd);
	close(fd);
}

/* A session's handshake material, built like a worker would. */
struct hs {
	uint8_t		 nonce[32], sid[16];
	struct wbuf	 ch, core;
	uint8_t		 sig[SC_MAX_SIG];
	size_t		 siglen;
};

static void
hs_build(struct hs *h, const uint8_t *der, size_t derlen)
{
	struct sc_client_hello ch;
	struct sc_server_hello sh;
	static const uint8_t ccert[] = "client certificate bytes";

	memset(&ch, 0, sizeof(ch));
	ch.min_version = ch.max_version = 1;
	RAND_bytes(ch.client_nonce, 32);
	RAND_bytes(ch.client_kex, 32);
	ch.cert = ccert;
	ch.certlen = sizeof(ccert);
	memset(&sh, 0, sizeof(sh));
	sh.version = 1;
	memcpy(sh.server_nonce, h->nonce, 32);
	memcpy(sh.session_id, h->sid, 16);
	RAND_bytes(sh.server_kex, 32);
	sh.cert = der;
	sh.certlen = derlen;
	wbuf_init(&h->ch, SC_MAX_PAYLOAD);
	wbuf_init(&h->core, SC_MAX_PAYLOAD);
	assert_int_equal(sc_ch_encode(&h->ch, &ch), 0);
	assert_int_equal(sc_sh_core_encode(&h->core, &sh), 0);
}

static void
hs_free(struct hs *h)
{
	wbuf_free(&h->ch);
	wbuf_free(&h->core);
}

/* NONCE and SIGN_HANDSHAKE, checking the signature with the cert. */
static void
handshake(int fd, struct hs *h)
{
	struct wbuf st;
	uint8_t h1[32];

	assert_int_equal(keyd_nonce(fd, h->nonce, h->sid), 0);
	hs_build(h, kt.der, kt.derlen);
	h->siglen = sizeof(h->sig);
	assert_int_equal(keyd_sign_handshake(fd, h->ch.data, h->ch.len,
	    h->core.data, h->core.len, h->sig, &h->siglen), 0);
	assert_int_equal(sc_h1(h->ch.data, h->ch.len, h->core.data,
	    h->core.len, h1), 0);
	wbuf_init(&st, SC_STMT_MAX);
	sc_stmt_server_handshake(&st, h1);
	assert_int_equal(sc_rsa_verify(X509_get0_pubkey(kt.srv), st.data,
	    st.len, h->sig, h->siglen), 0);
	wbuf_free(&st);
}

/* SIGN_RECORD through the stub; verify the result when it succeeds. */
static int
sign_record(int fd, const uint8_t sid[16], uint8_t type, uint64_t seq,
    uint64_t ts, size_t ctlen)
{
	struct wbuf st;
	uint8_t iv[16], ct[SC_MAX_CT], sig[SC_MAX_SIG];
	size_t siglen = sizeof(sig);
	int phase = sc_record_phase(type);

	RAND_bytes(iv, sizeof(iv));
	RAND_bytes(ct, (int)ctlen);
	if (keyd_sign_record(fd, type, seq, ts, iv, ct, ctlen, sig,
	    &siglen) == -1)
		return -1;
	wbuf_init(&st, SC_STMT_MAX);
	sc_stmt_record(&st, sid, SC_DIR_S2C, type, (uint8_t)phase, seq, ts,
	    iv, ct, ctlen);
	assert_int_equal(sc_rsa_verify(X509_get0_pubkey(kt.srv), st.data,
	    st.len, sig, siglen), 0);
	wbuf_free(&st);
	return 0;
}

static void
test_full_session(void **state)
{
	struct sc_receipt r;
	struct wbuf st;
	struct hs h, h2;
	uint64_t serial, s2;
	uint8_t sig[SC_MAX_SIG];
	size_t siglen = sizeof(sig);
	int fd, fd2, audited;

	(void)state;
	fd = new_channel(&serial);
	fd2 = new_channel(&s2);
	handshake(fd, &h);
	/* Each channel gets its own nonce and session id. */
	handshake(fd2, &h2);
	assert_memory_not_equal(h.sid, h2.sid, 16);
	assert_memory_not_equal(h.nonce, h2.nonce, 32);

	assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 1, now_ms(), 80),
	    0);
	assert_int_equal(sign_record(fd, h.sid, SC_T_CHAT, 2, now_ms(), 16), 0);
	assert_int_equal(sign_record(fd, h.sid, SC_T_CHAT, 3, now_ms(),
	    SC_CT_LEN(2 + SC_MAX_TEXT)), 0);

	memset(&r, 0, sizeof(r));
	r.first_seq = 2;
	r.last_seq = 3;
	RAND_bytes(r.transcript_sha256, 32);
	RAND_bytes(r.peer_fp, 32);
	assert_int_equal(keyd_sign_receipt(fd, &r, sig, &siglen), 0);
	/* keyd filled in its session id and role "server". */
	memcpy(r.session_id, h.sid, 16);
	r.role = SC_ROLE_SERVER;
	wbuf_init(&st, SC_STMT_MAX);
	sc_stmt_receipt(&st, &r);
	assert_int_equal(sc_rsa_verify(X509_get0_pubkey(kt.srv), st.data,
	    st.len, sig, siglen), 0);
	wbuf_free(&st);

	assert_int_equal(sign_record(fd, h.sid, SC_T_CLOSE_ACK, 4, now_ms(),
	    608), 0);
	/* Nothing after CLOSE_ACK. */
	assert_int_equal(sign_record(fd, h.sid, SC_T_CHAT, 5, now_ms(), 16),
	    -1);
	assert_refused(fd, serial);

	/* The worker of the other session simply goes away: no kill. */
	close(fd2);
	assert_int_equal(expect_kill(s2, 300, &audited), 0);
	hs_free(&h);
	hs_free(&h2);
}

static void
test_seq_enforcement(void **state)
{
	struct hs h;
	uint64_t serial;
	int fd;

	(void)state;
	fd = new_channel(&serial);
	handshake(fd, &h);
	assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 1, now_ms(), 80),
	    0);
	assert_int_equal(sign_record(fd, h.sid, SC_T_CHAT, 2, now_ms(), 32), 0);
	/* The same seq again: refused, channel closed, worker killed. */
	assert_int_equal(sign_record(fd, h.sid, SC_T_CHAT, 2, now_ms(), 32),
	    -1);
	assert_refused(fd, serial);
	hs_free(&h);

	/* A gap. */
	fd = new_channel(&serial);
	handshake(fd, &h);
	assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 1, now_ms(), 80),
	    0);
	assert_int_equal(sign_record(fd, h.sid, SC_T_CHAT, 3, now_ms(), 32),
	    -1);
	assert_refused(fd, serial);
	hs_free(&h);

	/* seq must start at 1. */
	fd = new_channel(&serial);
	handshake(fd, &h);
	assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 0, now_ms(), 80),
	    -1);
	assert_refused(fd, serial);
	hs_free(&h);
}

static void
test_second_nonce(void **state)
{
	uint8_t n[32], s[16];
	uint64_t serial;
	int fd;

	(void)state;
	fd = new_channel(&serial);
	assert_int_equal(keyd_nonce(fd, n, s), 0);
	assert_int_equal(keyd_nonce(fd, n, s), -1);
	assert_refused(fd, serial);
}

static void
test_forbidden_requests(void **state)
{
	uint64_t serial;
	uint8_t n[32], s[16];
	int fd, sv[2];

	(void)state;
	/* A type keyd does not know. */
	fd = new_channel(&serial);
	assert_int_equal(ipc_send(fd, 0x99, 1, NULL, 0), 0);
	assert_refused(fd, serial);
	/* A reply type sent as a request. */
	fd = new_channel(&serial);
	assert_int_equal(ipc_send(fd, KEYD_NONCE_OK, 1, NULL, 0), 0);
	assert_refused(fd, serial);
	/* NONCE with a body. */
	fd = new_channel(&serial);
	assert_int_equal(ipc_send(fd, KEYD_NONCE, 1, "x", 1), 0);
	assert_refused(fd, serial);
	/* A descriptor smuggled along with a request. */
	fd = new_channel(&serial);
	assert_int_equal(ipc_socketpair(sv), 0);
	assert_int_equal(ipc_send_fd(fd, KEYD_NONCE, 1, NULL, 0, sv[0]), 0);
	close(sv[0]);
	close(sv[1]);
	assert_refused(fd, serial);
	/* Signing before the handshake; a receipt before AUTH_OK. */
	fd = new_channel(&serial);
	assert_int_equal(keyd_nonce(fd, n, s), 0);
	assert_int_equal(sign_record(fd, s, SC_T_AUTH_OK, 1, now_ms(), 80), -1);
	assert_refused(fd, serial);
	{
		struct sc_receipt r;
		struct hs h;
		uint8_t sig[SC_MAX_SIG];
		size_t siglen = sizeof(sig);

		fd = new_channel(&serial);
		handshake(fd, &h);
		memset(&r, 0, sizeof(r));
		assert_int_equal(keyd_sign_receipt(fd, &r, sig, &siglen), -1);
		assert_refused(fd, serial);
		hs_free(&h);
	}
}

static void
test_client_direction_types(void **state)
{
	static const uint8_t bad[] = { SC_T_LOGIN, SC_T_REGISTER, SC_T_CLOSE,
	    SC_T_CLIENT_HELLO, SC_T_ERROR };
	struct hs h;
	uint64_t serial;
	size_t i;
	int fd;

	(void)state;
	for (i = 0; i < sizeof(bad); i++) {
		fd = new_channel(&serial);
		handshake(fd, &h);
		assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 1,
		    now_ms(), 80), 0);
		assert_int_equal(sign_record(fd, h.sid, bad[i], 2, now_ms(),
		    16), -1);
		assert_refused(fd, serial);
		hs_free(&h);
	}
	/* CHAT before AUTH_OK; AUTH_OK twice. */
	fd = new_channel(&serial);
	handshake(fd, &h);
	assert_int_equal(sign_record(fd, h.sid, SC_T_CHAT, 1, now_ms(), 16),
	    -1);
	assert_refused(fd, serial);
	hs_free(&h);
	fd = new_channel(&serial);
	handshake(fd, &h);
	assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 1, now_ms(), 80),
	    0);
	assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 2, now_ms(), 80),
	    -1);
	assert_refused(fd, serial);
	hs_free(&h);
	/* A ciphertext longer than any AUTH_OK; not a multiple of 16. */
	fd = new_channel(&serial);
	handshake(fd, &h);
	assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 1, now_ms(),
	    4096), -1);
	assert_refused(fd, serial);
	hs_free(&h);
	fd = new_channel(&serial);
	handshake(fd, &h);
	assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 1, now_ms(), 40),
	    -1);
	assert_refused(fd, serial);
	hs_free(&h);
	/* A timestamp an hour off. */
	fd = new_channel(&serial);
	handshake(fd, &h);
	assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 1,
	    now_ms() + 3600000, 80), -1);
	assert_refused(fd, serial);
	hs_free(&h);
}

static void
test_handshake_checks(void **state)
{
	struct hs h;
	uint64_t serial;
	uint8_t sig[SC_MAX_SIG];
	size_t siglen;
	int fd;

	(void)state;
	/* Another server certificate in the SERVER_HELLO core. */
	fd = new_channel(&serial);
	assert_int_equal(keyd_nonce(fd, h.nonce, h.sid), 0);
	hs_build(&h, kt.other_der, kt.other_derlen);
	siglen = sizeof(sig);
	assert_int_equal(keyd_sign_handshake(fd, h.ch.data, h.ch.len,
	    h.core.data, h.core.len, sig, &siglen), -1);
	assert_refused(fd, serial);
	hs_free(&h);
	/* A nonce keyd did not choose (one from another channel). */
	fd = new_channel(&serial);
	assert_int_equal(keyd_nonce(fd, h.nonce, h.sid), 0);
	h.nonce[0] ^= 1;
	hs_build(&h, kt.der, kt.derlen);
	siglen = sizeof(sig);
	assert_int_equal(keyd_sign_handshake(fd, h.ch.data, h.ch.len,
	    h.core.data, h.core.len, sig, &siglen), -1);
	assert_refused(fd, serial);
	hs_free(&h);
	/* A session id keyd did not choose. */
	fd = new_channel(&serial);
	assert_int_equal(keyd_nonce(fd, h.nonce, h.sid), 0);
	h.sid[15] ^= 1;
	hs_build(&h, kt.der, kt.derlen);
	siglen = sizeof(sig);
	assert_int_equal(keyd_sign_handshake(fd, h.ch.data, h.ch.len,
	    h.core.data, h.core.len, sig, &siglen), -1);
	assert_refused(fd, serial);
	hs_free(&h);
	/* A malformed CLIENT_HELLO (cut short). */
	fd = new_channel(&serial);
	assert_int_equal(keyd_nonce(fd, h.nonce, h.sid), 0);
	hs_build(&h, kt.der, kt.derlen);
	siglen = sizeof(sig);
	assert_int_equal(keyd_sign_handshake(fd, h.ch.data, h.ch.len - 1,
	    h.core.data, h.core.len, sig, &siglen), -1);
	assert_refused(fd, serial);
	hs_free(&h);
	/* The handshake twice. */
	fd = new_channel(&serial);
	handshake(fd, &h);
	siglen = sizeof(sig);
	assert_int_equal(keyd_sign_handshake(fd, h.ch.data, h.ch.len,
	    h.core.data, h.core.len, sig, &siglen), -1);
	assert_refused(fd, serial);
	hs_free(&h);
}

static void
test_others_keep_working(void **state)
{
	struct hs h;
	uint64_t serial;
	int fd;

	(void)state;
	/* After all the refusals above, keyd serves a new session. */
	fd = new_channel(&serial);
	handshake(fd, &h);
	assert_int_equal(sign_record(fd, h.sid, SC_T_AUTH_OK, 1, now_ms(), 80),
	    0);
	assert_int_equal(sign_record(fd, h.sid, SC_T_CHAT, 2, now_ms(), 16), 0);
	close(fd);
	hs_free(&h);
	assert_int_equal(ds_wait_exit(kt.d.pid, 0), -1);	/* still running */
}

/*
 * The stubs against a fake keyd: a reply with the wrong id or type, a
 * KEYD_FAIL, a malformed body are all failures.
 */
static void
test_stub_mismatch(void **state)
{
	struct ipc_msg *m;
	uint8_t n[32], s[16], body[48];
	pid_t pid;
	int sv[2], st, i;

	(void)state;
	assert_int_equal(ipc_socketpair(sv), 0);
	memset(body, 0, sizeof(body));
	if ((pid = fork()) == 0) {
		m = malloc(sizeof(*m));
		for (i = 0; i < 5; i++) {
			if (m == NULL || ipc_recv(sv[1], m, 0) != 1)
				_exit(1);
			switch (i) {
			case 0:		/* wrong id */
				ipc_send(sv[1], KEYD_NONCE_OK, m->hdr.id + 1,
				    body, 48);
				break;
			case 1:		/* wrong type */
				ipc_send(sv[1], KEYD_SIGN_RECORD_OK, m->hdr.id,
				    body, 48);
				break;
			case 2:		/* keyd failed */
				ipc_send(sv[1], KEYD_FAIL, m->hdr.id, NULL, 0);
				break;
			case 3:		/* short body */
				ipc_send(sv[1], KEYD_NONCE_OK, m->hdr.id,
				    body, 47);
				break;
			default:	/* finally right */
				ipc_send(sv[1], KEYD_NONCE_OK, m->hdr.id,
				    body, 48);
				break;
			}
		}
		_exit(0);
	}
	close(sv[1]);
	for (i = 0; i < 4; i++)
		assert_int_equal(keyd_nonce(sv[0], n, s), -1);
	assert_int_equal(keyd_nonce(sv[0], n, s), 0);
	close(sv[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
test_startup_refusals(void **state)
{
	char badkey[600], *pem;
	size_t n;
	int ctl;
	pid_t pid;

	(void)state;
	/* A key readable by others is refused. */
	snprintf(badkey, sizeof(badkey), "%s/open.key", kt.dir);
	pem = tu_read(kt.key, &n);
	assert_non_null(pem);
	assert_int_equal(tu_write(badkey, pem, n), 0);
	free(pem);
	assert_int_equal(chmod(badkey, 0644), 0);
	pid = start_keyd(badkey, kt.cert, &ctl);
	assert_int_equal(ds_wait_exit(pid, 10000), 1);
	close(ctl);
	/* A key that does not match the certificate. */
	pid = start_keyd(kt.key, kt.other_cert, &ctl);
	assert_int_equal(ds_wait_exit(pid, 10000), 1);
	close(ctl);
	pem = tu_read(kt.d.log, NULL);
	assert_non_null(pem);
	assert_true(tu_contains(pem, "group or other"));
	assert_true(tu_contains(pem, "does not match"));
	free(pem);
}

static void
test_master_exit(void **state)
{
	(void)state;
	/* EOF on the control channel: keyd exits cleanly. */
	close(kt.d.ctl);
	kt.d.ctl = -1;
	assert_int_equal(ds_wait_exit(kt.d.pid, 5000), 0);
	kt.d.pid = 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_session),
		cmocka_unit_test(test_seq_enforcement),
		cmocka_unit_test(test_second_nonce),
		cmocka_unit_test(test_forbidden_requests),
		cmocka_unit_test(test_client_direction_types),
		cmocka_unit_test(test_handshake_checks),
		cmocka_unit_test(test_others_keep_working),
		cmocka_unit_test(test_stub_mismatch),
		cmocka_unit_test(test_startup_refusals),
		cmocka_unit_test(test_master_exit),
	};

	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0, 0);
	return cmocka_run_group_tests_name("keyd", tests, setup, teardown);
}
