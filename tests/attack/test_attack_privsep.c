/*
 * test_attack_privsep.c: privilege separation under attack.  The test
 * plays a worker that has been taken over: the attacker runs arbitrary
 * code in it and holds everything it holds.
 *
 * 1. Its channels.  The test starts the real keyd and authd binaries
 *    itself, exactly as master.c's helper_start() does (fork and exec,
 *    the control channel on descriptor 3, everything above closed, the
 *    same options: _securechat-key / _securechat-auth, the installation's
 *    jail, foreground logging), plays the master on their control
 *    channels (KEYD_CTL_NEW_CHANNEL / AUTHD_CTL_NEW_CHANNEL with a fresh
 *    socketpair) and plays the hostile worker on the channels it gets,
 *    speaking raw IPC (every body built by hand from keyd/keyd.h and
 *    authd/authd.h, so the documented layouts are checked too):
 *    - keyd signs only well-formed statements of the channel's own
 *      session: a handshake over another session's nonce or session id,
 *      a record of a client->server type, a replayed or skipped seq, a
 *      second receipt, any request before NONCE, arbitrary blobs are all
 *      refused; each refusal closes that channel, is audited and asks
 *      the master to kill the worker (KEYD_CTL_KILL_WORKER), while a
 *      witness channel opened first keeps getting valid signatures;
 *    - authd's RESULT is exactly u16 code, u64 account id, str16
 *      username: every byte of every answer is checked, never a byte of
 *      the salt or hash (read from the database) and an unknown user's
 *      answer identical to a wrong password's; requests out of state, a
 *      request after AUTHD_MAX_ATTEMPTS, unknown or malformed messages
 *      are refused the same way, and other channels keep working.
 *
 * 2. Its process.  The attacker's code cannot be injected into the real
 *    worker, so the evidence comes in two halves that only together
 *    prove the claim:
 *    - a replica: a child of the test runs the worker's own drop
 *      sequence, the same functions from common/ with the same spec
 *      (privdrop() as _securechat into the installation's jail, then
 *      sandbox_apply(SANDBOX_WORKER)), and then tries what an attacker
 *      would: open and openat files, execve a shell, make sockets,
 *      connect to the database over TCP and its unix socket, ptrace,
 *      setuid(0).  Each must fail with EACCES/EPERM or kill the child
 *      with SIGSYS; the same calls succeed in the test before the drop,
 *      so the attempts are real (the database is up, the files exist).
 *    - the real worker, started by the real daemon as root for a live
 *      session: /proc says it is in that state (uids and gids of
 *      _securechat, no capabilities, NoNewPrivs 1, Seccomp 2, its root is
 *      the jail), it holds only descriptors 0..7, and none of its sockets
 *      is connected to the database (socket inodes matched against
 *      /proc/net/tcp, tcp6 and unix).  Finally its seccomp program, read
 *      with PTRACE_SECCOMP_GET_FILTER, is instruction for instruction the
 *      replica's (but for the process's own pid, which the tgkill rule
 *      embeds): the filter whose effect the replica demonstrated is the
 *      one the real worker runs under.  (Forked by the zygote, the worker
 *      also runs under the zygote's filter, installed before its own:
 *      seccomp filters only ever add restrictions.)
 *    Neither half alone would do: the replica shows what the policy
 *    does, but not that the worker runs it; /proc shows the worker runs
 *    a policy, but not what it blocks.
 *
 * Runs as root only (the privilege drop is what is being tested); CI
 * runs as root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "attackutil.h"
#include "audit.h"
#include "authd/authd.h"
#include "authdutil.h"
#include "buf.h"
#include "ipc.h"
#include "keyd/keyd.h"
#include "pki.h"
#include "privdrop.h"
#include "proto.h"
#include "sandbox.h"
#include "scenv.h"
#include "securechatd/securechatd.h"
#include "sccrypto.h"
#include "util.h"

#define WORKER_USER	"_securechat"
#define KEYD_USER	"_securechat-key"
#define AUTHD_USER	"_securechat-auth"
#define WAIT_MS		10000

/* A daemon the test started, and what it said on its control channel. */
struct helper {
	const char	*name;
	pid_t		 pid;
	int		 ctl;		/* the master's end */
	char		 log[PATH_MAX];
	char		*audit;		/* audit events, one JSON a line */
	size_t		 auditlen;
};

static struct scenv	 env;
static struct helper	 kd = { "keyd", -1, -1, "", NULL, 0 };
static struct helper	 ad = { "authd", -1, -1, "", NULL, 0 };
static uint64_t		 next_serial = 7000;
static X509		*srv_cert;
static uint8_t		 srv_der[SC_MAX_CERT], cli_der[SC_MAX_CERT];
static size_t		 srv_derlen, cli_derlen;
static struct ipc_msg	 msg;	/* 32 KiB: not on the stack */

#define PAULA_PW	"paula password 1"
static uint8_t		 paula_salt[64], paula_hash[64];
static size_t		 paula_saltlen, paula_hashlen;
static uint64_t		 paula_id;

/* ---- playing the master ---- */

/*
 * As master.c's child_exec(): the channel on descriptor 3 (moved above
 * first, so that dup2 clears close-on-exec even if it already was 3),
 * stdout and stderr to the log as the master's own, nothing else open.
 */
static void
helper_start(struct helper *h, const char *const argv[])
{
	int sv[2], hi, logfd;

	snprintf(h->log, sizeof(h->log), "%s/%s-test.log", env.dir, h->name);
	assert_int_equal(ipc_socketpair(sv), 0);
	logfd = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(logfd != -1);
	h->pid = fork();
	assert_true(h->pid != -1);
	if (h->pid == 0) {
		if ((hi = fcntl(sv[1], F_DUPFD_CLOEXEC, 10)) == -1 ||
		    dup2(hi, IPC_CTL_FD) == -1 || dup2(logfd, 1) == -1 ||
		    dup2(logfd, 2) == -1)
			_exit(127);
		closefrom(IPC_CTL_FD + 1);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(sv[1]);
	close(logfd);
	h->ctl = sv[0];
}

static void
helper_stop(struct helper *h)
{
	int st, i;

	if (h->ctl != -1)
		close(h->ctl);
	h->ctl = -1;
	if (h->pid <= 0)
		return;
	/* EOF on the control channel: both exit on their own. */
	for (i = 0; i < 200; i++) {
		if (waitpid(h->pid, &st, WNOHANG) == h->pid)
			break;
		usleep(50000);
	}
	if (i == 200) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, &st, 0);
	}
	h->pid = -1;
	free(h->audit);
	h->audit = NULL;
}

static void
show_log(const struct helper *h)
{
	char *t = tu_read(h->log, NULL);

	fprintf(stderr, "--- %s ---\n%s---\n", h->log, t ? t : "");
	free(t);
}

/* A fresh channel for session serial: the worker's end. */
static int
new_channel(struct helper *h, uint64_t serial, const char *addr)
{
	return au_chan_send(h->ctl, h == &kd ? KEYD_CTL_NEW_CHANNEL :
	    AUTHD_CTL_NEW_CHANNEL, serial, addr);
}

/*
 * Read the control channel until the daemon asks to kill the worker of
 * serial, keeping the audit events; any other kill request is a failure
 * (a refusal must hit the offender only).  The event `event` for that
 * serial must have come with it.
 */
static void
expect_kill(struct helper *h, uint64_t serial, const char *event,
    const char *why)
{
	struct pollfd p;
	struct cursor c;
	char ser[24];
	const char *kv[] = { "event", event, "session_serial", ser, NULL };
	double end = at_now_ms() + WAIT_MS;
	const char *reason, *req;
	char said[512], *n;
	uint64_t got;
	json_t *ev;

	snprintf(ser, sizeof(ser), "%llu", (unsigned long long)serial);
	for (;;) {
		p.fd = h->ctl;
		p.events = POLLIN;
		if (poll(&p, 1, (int)(end - at_now_ms())) != 1 ||
		    ipc_recv(h->ctl, &msg, 0) != 1) {
			show_log(h);
			fail_msg("%s: no kill request for session %s", h->name,
			    ser);
		}
		/* authd reports each login to the master: not a refusal. */
		if (h != &kd && msg.hdr.type == AUTHD_CTL_AUTHENTICATED)
			continue;
		if (msg.hdr.type == IPC_MSG_AUDIT) {
			if ((n = realloc(h->audit, h->auditlen + msg.len +
			    2)) == NULL)
				abort();
			h->audit = n;
			memcpy(h->audit + h->auditlen, msg.body, msg.len);
			h->auditlen += msg.len;
			h->audit[h->auditlen++] = '\n';
			h->audit[h->auditlen] = '\0';
			continue;
		}
		assert_int_equal(msg.hdr.type, h == &kd ? KEYD_CTL_KILL_WORKER :
		    AUTHD_CTL_KILL_WORKER);
		cur_init(&c, msg.body, msg.len);
		got = cur_u64(&c);
		assert_int_equal(cur_done(&c), 0);
		if (got != serial)
			fail_msg("%s asked to kill session %llu, not %s",
			    h->name, (unsigned long long)got, ser);
		break;
	}
	if (at_audit_count(h->audit, kv) != 1)
		fail_msg("%s: no %s audit event for session %s", h->name,
		    event, ser);
	/*
	 * Refused for the reason the test meant, not an earlier one (keyd
	 * says what and why, authd why).
	 */
	ev = at_audit_find(h->audit, kv);
	req = json_string_value(json_object_get(ev, "request"));
	reason = json_string_value(json_object_get(ev, "reason"));
	snprintf(said, sizeof(said), "%s: %s", req ? req : "",
	    reason ? reason : "");
	if (strstr(said, why) == NULL)
		fail_msg("%s refused session %s with \"%s\", expected \"%s\"",
		    h->name, ser, said, why);
	json_decref(ev);
}

/* The daemon closed the channel, without a word: the next read is EOF. */
static void
expect_closed(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_int_equal(ipc_recv(fd, &msg, 1), 0);
	close(fd);
}

/* ---- the hostile worker's keyd channel ---- */

struct ksess {
	int		 fd;
	uint64_t	 serial;
	uint8_t		 nonce[SC_NONCE_LEN];
	uint8_t		 sid[SC_SESSION_ID_LEN];
	uint64_t	 seq;		/* last record seq signed */
};

/*
 * One request.  Returns 1 with the reply (of type want, same id), or 0
 * when keyd answered by closing the channel.
 */
static int
kreq(int fd, uint16_t type, const void *body, size_t len, uint16_t want)
{
	static uint32_t id = 100;
	struct pollfd p = { fd, POLLIN, 0 };
	int n;

	assert_int_equal(ipc_send(fd, type, ++id, body, len), 0);
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	if ((n = ipc_recv(fd, &msg, 1)) == 0)
		return 0;
	assert_int_equal(n, 1);
	assert_int_equal(msg.hdr.type, want);
	assert_int_equal(msg.hdr.id, id);
	assert_int_equal(msg.fd, -1);
	return 1;
}

/* A signature reply is exactly str16 sig, of the key's size; verify it. */
static void
check_sig_reply(const struct wbuf *stmt)
{
	struct cursor c;
	const uint8_t *sig;
	size_t siglen;

	cur_init(&c, msg.body, msg.len);
	sig = cur_str16(&c, &siglen, SC_MAX_SIG);
	assert_int_equal(cur_done(&c), 0);
	assert_int_equal(siglen, 256);
	assert_int_equal(msg.len, 2 + siglen);
	if (sc_rsa_verify(X509_get0_pubkey(srv_cert), stmt->data, stmt->len,
	    sig, siglen) != 0)
		fail_msg("keyd's signature does not verify over the statement");
}

static void
k_new(struct ksess *s)
{
	memset(s, 0, sizeof(*s));
	s->serial = next_serial++;
	s->fd = new_channel(&kd, s->serial, "192.0.2.66");
}

static void
k_nonce(struct ksess *s)
{
	assert_int_equal(kreq(s->fd, KEYD_NONCE, NULL, 0, KEYD_NONCE_OK), 1);
	assert_int_equal(msg.len, SC_NONCE_LEN + SC_SESSION_ID_LEN);
	memcpy(s->nonce, msg.body, SC_NONCE_LEN);
	memcpy(s->sid, msg.body + SC_NONCE_LEN, SC_SESSION_ID_LEN);
}

/* SIGN_HANDSHAKE over a SERVER_HELLO core carrying nonce and sid. */
static int
k_handshake(struct ksess *s, const uint8_t *nonce, const uint8_t *sid)
{
	struct sc_client_hello ch;
	struct sc_server_hello sh;
	struct wbuf chb, core, body, stmt;
	uint8_t h1[SC_SHA256_LEN];
	int rc;

	memset(&ch, 0, sizeof(ch));
	ch.min_version = ch.max_version = SC_PROTO_VERSION;
	assert_int_equal(RAND_bytes(ch.client_nonce, SC_NONCE_LEN), 1);
	assert_int_equal(RAND_bytes(ch.client_kex, SC_KEX_LEN), 1);
	ch.cert = cli_der;
	ch.certlen = cli_derlen;
	memset(&sh, 0, sizeof(sh));
	sh.version = SC_PROTO_VERSION;
	memcpy(sh.server_nonce, nonce, SC_NONCE_LEN);
	memcpy(sh.session_id, sid, SC_SESSION_ID_LEN);
	assert_int_equal(RAND_bytes(sh.server_kex, SC_KEX_LEN), 1);
	sh.cert = srv_der;
	sh.certlen = srv_derlen;
	wbuf_init(&chb, SC_MAX_PAYLOAD);
	wbuf_init(&core, SC_MAX_PAYLOAD);
	wbuf_init(&body, IPC_MAX_BODY);
	wbuf_init(&stmt, SC_STMT_MAX);
	assert_int_equal(sc_ch_encode(&chb, &ch), 0);
	assert_int_equal(sc_sh_core_encode(&core, &sh), 0);
	wbuf_put_str32(&body, chb.data, chb.len);
	wbuf_put_str32(&body, core.data, core.len);
	assert_false(body.err);
	rc = kreq(s->fd, KEYD_SIGN_HANDSHAKE, body.data, body.len,
	    KEYD_SIGN_HANDSHAKE_OK);
	if (rc == 1) {
		assert_int_equal(sc_h1(chb.data, chb.len, core.data, core.len,
		    h1), 0);
		assert_int_equal(sc_stmt_server_handshake(&stmt, h1), 0);
		check_sig_reply(&stmt);
	}
	wbuf_free(&chb);
	wbuf_free(&core);
	wbuf_free(&body);
	wbuf_free(&stmt);
	return rc;
}

/* SIGN_RECORD; a signature must verify over this session's statement. */
static int
k_record(struct ksess *s, uint8_t type, uint64_t seq)
{
	struct wbuf body, stmt;
	uint8_t iv[SC_IV_LEN], ct[32];
	uint64_t ts = now_ms();
	int rc;

	assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
	assert_int_equal(RAND_bytes(ct, sizeof(ct)), 1);
	wbuf_init(&body, IPC_MAX_BODY);
	wbuf_init(&stmt, SC_STMT_MAX);
	wbuf_put_u8(&body, type);
	wbuf_put_u64(&body, seq);
	wbuf_put_u64(&body, ts);
	wbuf_put(&body, iv, sizeof(iv));
	wbuf_put_str32(&body, ct, sizeof(ct));
	assert_false(body.err);
	rc = kreq(s->fd, KEYD_SIGN_RECORD, body.data, body.len,
	    KEYD_SIGN_RECORD_OK);
	if (rc == 1) {
		/* Bound to keyd's session id and direction server->client. */
		assert_int_equal(sc_stmt_record(&stmt, s->sid, SC_DIR_S2C, type,
		    (uint8_t)sc_record_phase(type), seq, ts, iv, ct,
		    sizeof(ct)), 0);
		check_sig_reply(&stmt);
		s->seq = seq;
	}
	wbuf_free(&body);
	wbuf_free(&stmt);
	return rc;
}

static int
k_receipt(struct ksess *s)
{
	struct sc_receipt r;
	struct wbuf body, stmt;
	int rc;

	memset(&r, 0, sizeof(r));
	r.first_seq = 2;
	r.last_seq = s->seq > 2 ? s->seq : 2;
	assert_int_equal(RAND_bytes(r.transcript_sha256, SC_SHA256_LEN), 1);
	assert_int_equal(RAND_bytes(r.peer_fp, SC_SHA256_LEN), 1);
	wbuf_init(&body, IPC_MAX_BODY);
	wbuf_init(&stmt, SC_STMT_MAX);
	wbuf_put_u64(&body, r.first_seq);
	wbuf_put_u64(&body, r.last_seq);
	wbuf_put(&body, r.transcript_sha256, SC_SHA256_LEN);
	wbuf_put(&body, r.peer_fp, SC_SHA256_LEN);
	rc = kreq(s->fd, KEYD_SIGN_RECEIPT, body.data, body.len,
	    KEYD_SIGN_RECEIPT_OK);
	if (rc == 1) {
		/* keyd filled in its own session id and the server role. */
		memcpy(r.session_id, s->sid, SC_SESSION_ID_LEN);
		r.role = SC_ROLE_SERVER;
		assert_int_equal(sc_stmt_receipt(&stmt, &r), 0);
		check_sig_reply(&stmt);
	}
	wbuf_free(&body);
	wbuf_free(&stmt);
	return rc;
}

/* A session through the handshake and AUTH_OK, as an honest worker. */
static void
k_ready(struct ksess *s)
{
	k_new(s);
	k_nonce(s);
	assert_int_equal(k_handshake(s, s->nonce, s->sid), 1);
	assert_int_equal(k_record(s, SC_T_AUTH_OK, 1), 1);
}

static struct ksess witness;

/*
 * keyd refused session x: channel closed, worker to be killed, audited;
 * and the witness channel still gets its next record signed.
 */
static void
k_refused(struct ksess *x, const char *what, const char *why)
{
	fprintf(stderr, "keyd refuses: %s\n", what);
	expect_closed(x->fd);
	expect_kill(&kd, x->serial, "keyd_refused", why);
	assert_int_equal(k_record(&witness, SC_T_CHAT, witness.seq + 1), 1);
}

static void
test_keyd_signs_only_its_own_session(void **state)
{
	static const uint8_t c2s[] = { SC_T_LOGIN, SC_T_REGISTER, SC_T_CLOSE,
	    SC_T_CLIENT_HELLO, SC_T_CLIENT_FINISH };
	struct ksess x;
	uint8_t blob[200];
	size_t i;

	(void)state;
	k_ready(&witness);

	/* Requests before NONCE, even over the witness's own statements. */
	k_new(&x);
	assert_int_equal(k_handshake(&x, witness.nonce, witness.sid), 0);
	k_refused(&x, "SIGN_HANDSHAKE before NONCE",
	    "not permitted in this state");
	k_new(&x);
	assert_int_equal(k_record(&x, SC_T_AUTH_OK, 1), 0);
	k_refused(&x, "SIGN_RECORD before NONCE",
	    "not permitted in this state");
	k_new(&x);
	assert_int_equal(k_receipt(&x), 0);
	k_refused(&x, "SIGN_RECEIPT before NONCE",
	    "not permitted in this state");

	/* A handshake with another session's nonce and session id. */
	k_new(&x);
	k_nonce(&x);
	assert_int_equal(k_handshake(&x, witness.nonce, witness.sid), 0);
	k_refused(&x, "handshake over another session's nonce",
	    "not keyd's");
	k_new(&x);
	k_nonce(&x);
	assert_int_equal(k_handshake(&x, x.nonce, witness.sid), 0);
	k_refused(&x, "handshake with another session's id", "not keyd's");
	k_new(&x);
	k_nonce(&x);
	assert_int_equal(k_handshake(&x, witness.nonce, x.sid), 0);
	k_refused(&x, "handshake with another session's nonce",
	    "not keyd's");

	/* Records of the client's direction. */
	for (i = 0; i < sizeof(c2s); i++) {
		k_ready(&x);
		assert_int_equal(k_record(&x, c2s[i], 2), 0);
		k_refused(&x, sc_type_name(c2s[i]), "not sent by a server");
	}

	/* Replayed and skipped seqs. */
	k_ready(&x);
	assert_int_equal(k_record(&x, SC_T_CHAT, 2), 1);
	assert_int_equal(k_record(&x, SC_T_CHAT, 2), 0);
	k_refused(&x, "replayed seq", "not the next one");
	k_ready(&x);
	assert_int_equal(k_record(&x, SC_T_CHAT, 3), 0);
	k_refused(&x, "skipped seq", "not the next one");

	/* One receipt per session. */
	k_ready(&x);
	assert_int_equal(k_record(&x, SC_T_CHAT, 2), 1);
	assert_int_equal(k_receipt(&x), 1);
	assert_int_equal(k_receipt(&x), 0);
	k_refused(&x, "second receipt", "already used");

	/* Blobs: not a message at all; garbage bodies; unknown types. */
	assert_int_equal(RAND_bytes(blob, sizeof(blob)), 1);
	k_new(&x);
	assert_int_equal(send(x.fd, blob, sizeof(blob), 0),
	    (ssize_t)sizeof(blob));
	k_refused(&x, "a datagram that is no IPC message",
	    "malformed message");
	k_ready(&x);
	assert_int_equal(kreq(x.fd, KEYD_SIGN_RECORD, blob, sizeof(blob),
	    KEYD_SIGN_RECORD_OK), 0);
	k_refused(&x, "SIGN_RECORD with a random body",
	    "malformed SIGN_RECORD");
	k_new(&x);
	k_nonce(&x);
	assert_int_equal(kreq(x.fd, KEYD_SIGN_HANDSHAKE, blob, sizeof(blob),
	    KEYD_SIGN_HANDSHAKE_OK), 0);
	k_refused(&x, "SIGN_HANDSHAKE with a random body",
	    "malformed SIGN_HANDSHAKE");
	k_new(&x);
	assert_int_equal(kreq(x.fd, 0x7777, blob, sizeof(blob), 0), 0);
	k_refused(&x, "unknown request type", "unknown request type");
	k_new(&x);
	assert_int_equal(kreq(x.fd, KEYD_NONCE_OK, blob, 48, 0), 0);
	k_refused(&x, "a reply type as a request",
	    "unknown request type");

	/* The witness finishes its session normally; keyd is still up. */
	assert_int_equal(k_receipt(&witness), 1);
	assert_int_equal(k_record(&witness, SC_T_CLOSE_ACK, witness.seq + 1),
	    1);
	close(witness.fd);
	assert_int_equal(waitpid(kd.pid, NULL, WNOHANG), 0);
}

/* ---- the hostile worker's authd channel ---- */

static const uint8_t fp[AUTHD_CERT_FP_LEN] = { 0x5a, 0x5a, 0x5a };

static void
body_login(struct wbuf *b, const char *user, const char *pw)
{
	wbuf_init(b, IPC_MAX_BODY);
	wbuf_put_str16(b, user, strlen(user));
	wbuf_put_str16(b, pw, strlen(pw));
	wbuf_put(b, fp, sizeof(fp));
	assert_false(b->err);
}

/* One request: 1 with the RESULT in msg, 0 when authd closed instead. */
static int
areq(int fd, uint16_t type, const struct wbuf *b)
{
	static uint32_t id = 500;
	struct pollfd p = { fd, POLLIN, 0 };
	int n;

	assert_int_equal(ipc_send(fd, type, ++id, b->data, b->len), 0);
	assert_int_equal(poll(&p, 1, 60000), 1);
	if ((n = ipc_recv(fd, &msg, 1)) == 0)
		return 0;
	assert_int_equal(n, 1);
	assert_int_equal(msg.hdr.type, AUTHD_RES_RESULT);
	assert_int_equal(msg.hdr.id, id);
	assert_int_equal(msg.hdr.flags, 0);
	assert_int_equal(msg.fd, -1);
	return 1;
}

/*
 * Every byte of a RESULT: u16 code, u64 account id (0 unless OK), str16
 * canonical username (empty unless OK), and nothing else; no part of
 * the stored salt or hash anywhere in it.
 */
static void
check_result(uint16_t code, uint64_t id, const char *user)
{
	struct cursor c;
	const uint8_t *u;
	size_t ulen, k;

	assert_int_equal(msg.len, 2 + 8 + 2 + strlen(user));
	cur_init(&c, msg.body, msg.len);
	assert_int_equal(cur_u16(&c), code);
	assert_int_equal(cur_u64(&c), id);
	u = cur_str16(&c, &ulen, 0xffff);
	assert_int_equal(cur_done(&c), 0);
	assert_int_equal(ulen, strlen(user));
	assert_memory_equal(u, user, ulen);
	/*
	 * Not even 4 consecutive bytes of the secrets (but four zeros,
	 * which the id field of a failure is made of).
	 */
	for (k = 0; k + 4 <= paula_saltlen; k++)
		if (memcmp(paula_salt + k, "\0\0\0\0", 4) != 0)
			assert_null(memmem(msg.body, msg.len, paula_salt + k,
			    4));
	for (k = 0; k + 4 <= paula_hashlen; k++)
		if (memcmp(paula_hash + k, "\0\0\0\0", 4) != 0)
			assert_null(memmem(msg.body, msg.len, paula_hash + k,
			    4));
}

/* An authd channel for a new session from a documentation address. */
static int
a_new(uint64_t *serial)
{
	char addr[32];

	*serial = next_serial++;
	snprintf(addr, sizeof(addr), "198.51.100.%u",
	    (unsigned)(*serial % 200) + 1);
	return new_channel(&ad, *serial, addr);
}

/* A fresh channel logs in: authd serves the others. */
static void
authd_serves(void)
{
	struct wbuf b;
	uint64_t serial;
	int fd = a_new(&serial);

	body_login(&b, "Paula", PAULA_PW);
	assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &b), 1);
	check_result(AUTHD_RES_OK, paula_id, "paula");
	wbuf_free(&b);
	close(fd);
}

static void
a_refused(int fd, uint64_t serial, const char *what, const char *why)
{
	fprintf(stderr, "authd refuses: %s\n", what);
	expect_closed(fd);
	expect_kill(&ad, serial, "authd_violation", why);
	authd_serves();
}

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= cap);
	assert_int_equal(hex_decode(hex, out, n), 0);
	return n;
}

static void
test_authd_reveals_nothing(void **state)
{
	struct wbuf b, bad;
	uint8_t wrong[64], unknown[64], blob[100];
	size_t wronglen, i;
	uint64_t serial;
	char *s;
	int fd, sv[2];

	(void)state;
	/* Registration: the answer is the id and the canonical name. */
	fd = a_new(&serial);
	wbuf_init(&b, IPC_MAX_BODY);
	wbuf_put_str16(&b, "PAULA", 5);
	wbuf_put_str16(&b, "paula@example.org", 17);
	wbuf_put_str16(&b, PAULA_PW, strlen(PAULA_PW));
	wbuf_put(&b, fp, sizeof(fp));
	assert_int_equal(areq(fd, AUTHD_REQ_REGISTER, &b), 1);
	wbuf_free(&b);
	s = tu_db_query(&env.db, "SELECT id FROM users WHERE username = "
	    "'paula'");
	assert_non_null(s);
	paula_id = strtoull(s, NULL, 10);
	free(s);
	s = tu_db_query(&env.db, "SELECT HEX(pw_salt) FROM users WHERE id = "
	    "%llu", (unsigned long long)paula_id);
	paula_saltlen = unhex(s, paula_salt, sizeof(paula_salt));
	free(s);
	s = tu_db_query(&env.db, "SELECT HEX(pw_hash) FROM users WHERE id = "
	    "%llu", (unsigned long long)paula_id);
	paula_hashlen = unhex(s, paula_hash, sizeof(paula_hash));
	free(s);
	assert_true(paula_id > 0 && paula_saltlen >= 16 && paula_hashlen >= 32);
	check_result(AUTHD_RES_OK, paula_id, "paula");
	/* Nothing more to ask on a channel whose session is settled. */
	body_login(&b, "paula", PAULA_PW);
	assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &b), 0);
	wbuf_free(&b);
	a_refused(fd, serial, "LOGIN after a successful REGISTER",
	    "after a successful one");

	fd = a_new(&serial);
	body_login(&b, "paula", PAULA_PW);
	assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &b), 1);
	check_result(AUTHD_RES_OK, paula_id, "paula");
	assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &b), 0);
	wbuf_free(&b);
	a_refused(fd, serial, "LOGIN after a successful LOGIN",
	    "after a successful one");

	/* Wrong password and unknown user: byte for byte the same answer. */
	fd = a_new(&serial);
	body_login(&b, "paula", "not the password");
	assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &b), 1);
	check_result(AUTHD_RES_AUTH_FAIL, 0, "");
	wronglen = msg.len;
	memcpy(wrong, msg.body, msg.len);
	wbuf_free(&b);
	close(fd);
	fd = a_new(&serial);
	body_login(&b, "nosuchuser", "not the password");
	assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &b), 1);
	check_result(AUTHD_RES_AUTH_FAIL, 0, "");
	memcpy(unknown, msg.body, msg.len);
	assert_int_equal(msg.len, wronglen);
	assert_memory_equal(wrong, unknown, wronglen);
	wbuf_free(&b);
	close(fd);

	/* A channel gets AUTHD_MAX_ATTEMPTS answers, then no more. */
	fd = a_new(&serial);
	body_login(&b, "paula", "not the password");
	for (i = 0; i < AUTHD_MAX_ATTEMPTS; i++) {
		assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &b), 1);
		check_result(AUTHD_RES_AUTH_FAIL, 0, "");
	}
	wbuf_free(&b);
	body_login(&b, "paula", PAULA_PW);
	assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &b), 0);
	wbuf_free(&b);
	a_refused(fd, serial, "an attempt after AUTHD_MAX_ATTEMPTS failures",
	    "too many attempts");

	/* Messages that are not requests, or not well-formed ones. */
	assert_int_equal(RAND_bytes(blob, sizeof(blob)), 1);
	wbuf_init(&bad, IPC_MAX_BODY);
	wbuf_put(&bad, blob, sizeof(blob));
	fd = a_new(&serial);
	assert_int_equal(areq(fd, 0x99, &bad), 0);
	a_refused(fd, serial, "unknown request type", "unknown request");
	fd = a_new(&serial);
	assert_int_equal(areq(fd, AUTHD_RES_RESULT, &bad), 0);
	a_refused(fd, serial, "a RESULT sent by the worker",
	    "unknown request");
	fd = a_new(&serial);
	assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &bad), 0);
	a_refused(fd, serial, "LOGIN with a random body", "malformed body");
	body_login(&b, "paula", PAULA_PW);
	wbuf_put_u8(&b, 0);
	fd = a_new(&serial);
	assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &b), 0);
	a_refused(fd, serial, "LOGIN with a byte too many", "malformed body");
	b.len -= 1 + AUTHD_CERT_FP_LEN;
	fd = a_new(&serial);
	assert_int_equal(areq(fd, AUTHD_REQ_LOGIN, &b), 0);
	a_refused(fd, serial, "LOGIN without the certificate hash",
	    "malformed body");
	wbuf_free(&b);
	wbuf_free(&bad);
	fd = a_new(&serial);
	assert_int_equal(send(fd, blob, sizeof(blob), 0),
	    (ssize_t)sizeof(blob));
	a_refused(fd, serial, "a datagram that is no IPC message",
	    "malformed message");
	fd = a_new(&serial);
	assert_int_equal(ipc_socketpair(sv), 0);
	body_login(&b, "paula", PAULA_PW);
	assert_int_equal(ipc_send_fd(fd, AUTHD_REQ_LOGIN, 1, b.data, b.len,
	    sv[0]), 0);
	wbuf_free(&b);
	close(sv[0]);
	close(sv[1]);
	a_refused(fd, serial, "a descriptor smuggled with a LOGIN",
	    "malformed message");

	/* Its audit events carry no secret either. */
	assert_non_null(ad.audit);
	assert_false(tu_contains(ad.audit, PAULA_PW));
	s = tu_db_query(&env.db, "SELECT LOWER(HEX(pw_hash)) FROM users "
	    "WHERE id = %llu", (unsigned long long)paula_id);
	assert_false(tu_contains(ad.audit, s));
	free(s);
	assert_int_equal(waitpid(ad.pid, NULL, WNOHANG), 0);
}

/* ---- the worker process ---- */

enum try {
	TRY_OPEN,		/* open("/etc/passwd") */
	TRY_OPEN_ROOT,		/* open("/", O_DIRECTORY): list the jail */
	TRY_OPENAT,		/* openat(AT_FDCWD, "/etc/shadow") */
	TRY_EXECVE,		/* execve("/bin/sh") */
	TRY_SOCKET_INET,	/* socket(AF_INET), then connect to the DB */
	TRY_SOCKET_UNIX,	/* socket(AF_UNIX), then the DB's socket */
	TRY_CONNECT_TCP,	/* connect a socket made before the drop */
	TRY_CONNECT_UNIX,
	TRY_PTRACE,		/* attach to the test (root) */
	TRY_SETUID,		/* setuid(0) */
	TRY_MAX
};

static const char *const try_names[TRY_MAX] = {
	"open /etc/passwd", "open / (the jail)", "openat /etc/shadow",
	"execve /bin/sh", "socket(AF_INET)+connect to the database port",
	"socket(AF_UNIX)+connect to the database socket",
	"connect a TCP socket made before the drop to the database",
	"connect a unix socket made before the drop to the database",
	"ptrace the test process", "setuid(0)",
};

#define TRY_SUCCEEDED	200	/* exit code: the call worked */
#define TRY_NO_SETUP	201	/* exit code: the drop itself failed */

static void
db_addrs(struct sockaddr_in *sin, struct sockaddr_un *sun)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)env.db.port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	strlcpy(sun->sun_path, env.db.sock, sizeof(sun->sun_path));
}

/* The worker's drop, exactly: worker_main()'s spec, then its sandbox. */
static void
worker_drop(void)
{
	struct privdrop_spec spec;

	/* A debug filter traps instead of killing: not what ships. */
	unsetenv("SC_SANDBOX_DEBUG");
	memset(&spec, 0, sizeof(spec));
	spec.user = WORKER_USER;
	spec.jail = env.jail;
	spec.keep_stderr = 1;	/* as scenv's securechatd -d */
	if (privdrop(&spec) == -1 || sandbox_apply(SANDBOX_WORKER) == -1)
		_exit(TRY_NO_SETUP);
}

/* In a child: drop like the worker, then try.  Never returns. */
static void __attribute__((noreturn))
try_child(enum try t, pid_t test)
{
	struct sockaddr_in sin;
	struct sockaddr_un sun;
	char *const argv[] = { (char *)(uintptr_t)"sh", (char *)(uintptr_t)
	    "-c", (char *)(uintptr_t)"exit 0", NULL };
	int tcp, unx, fd, rc = -1;

	db_addrs(&sin, &sun);
	/* More than a taken-over worker has: sockets made while root. */
	tcp = socket(AF_INET, SOCK_STREAM, 0);
	unx = socket(AF_UNIX, SOCK_STREAM, 0);
	if (tcp == -1 || unx == -1)
		_exit(TRY_NO_SETUP);
	worker_drop();
	switch (t) {
	case TRY_OPEN:
		rc = open("/etc/passwd", O_RDONLY);
		break;
	case TRY_OPEN_ROOT:
		rc = open("/", O_RDONLY | O_DIRECTORY);
		break;
	case TRY_OPENAT:
		rc = openat(AT_FDCWD, "/etc/shadow", O_RDONLY);
		break;
	case TRY_EXECVE:
		rc = execve("/bin/sh", argv, NULL);
		break;
	case TRY_SOCKET_INET:
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1)
			rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		break;
	case TRY_SOCKET_UNIX:
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) != -1)
			rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
		break;
	case TRY_CONNECT_TCP:
		rc = connect(tcp, (struct sockaddr *)&sin, sizeof(sin));
		break;
	case TRY_CONNECT_UNIX:
		rc = connect(unx, (struct sockaddr *)&sun, sizeof(sun));
		break;
	case TRY_PTRACE:
		rc = (int)ptrace(PTRACE_ATTACH, test, NULL, NULL);
		break;
	case TRY_SETUID:
		rc = setuid(0);
		break;
	default:
		break;
	}
	_exit(rc == -1 ? (errno & 0x7f) : TRY_SUCCEEDED);
}

/* What happened to a try, for the log: "EACCES", "SIGSYS", ... */
static const char *
outcome(int st, char *buf, size_t len)
{
	if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by %s", strsignal(WTERMSIG(st)));
	else if (WEXITSTATUS(st) == TRY_SUCCEEDED)
		snprintf(buf, len, "SUCCEEDED");
	else if (WEXITSTATUS(st) == TRY_NO_SETUP)
		snprintf(buf, len, "drop failed");
	else
		snprintf(buf, len, "failed: %s", strerror(WEXITSTATUS(st)));
	return buf;
}

/* Before the drop the same things work: the attempts are real. */
static void
controls(void)
{
	struct sockaddr_in sin;
	struct sockaddr_un sun;
	int fd;

	db_addrs(&sin, &sun);
	assert_true((fd = open("/etc/passwd", O_RDONLY)) != -1);
	close(fd);
	assert_true(access("/bin/sh", X_OK) == 0);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	close(fd);
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
}

static void
test_worker_drop_replica(void **state)
{
	char out[128];
	pid_t pid;
	int t, st, ok;

	(void)state;
	controls();
	for (t = 0; t < TRY_MAX; t++) {
		if ((pid = fork()) == 0)
			try_child((enum try)t, getppid());
		assert_true(pid > 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		fprintf(stderr, "replica worker: %s: %s\n", try_names[t],
		    outcome(st, out, sizeof(out)));
		ok = (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) ||
		    (WIFEXITED(st) && (WEXITSTATUS(st) == EACCES ||
		    WEXITSTATUS(st) == EPERM));
		if (!ok)
			fail_msg("replica worker: %s: %s", try_names[t],
			    outcome(st, out, sizeof(out)));
	}
}

/*
 * The process's seccomp program number idx (it must be stopped under our
 * trace).  The kernel counts from the oldest: 0 is the first filter
 * installed, the zygote's in a forked worker.
 */
static size_t
get_filter(pid_t pid, long idx, struct sock_filter *buf, size_t cap)
{
	long n;
	int st;

	assert_int_equal(ptrace(PTRACE_SEIZE, pid, NULL, NULL), 0);
	assert_int_equal(ptrace(PTRACE_INTERRUPT, pid, NULL, NULL), 0);
	assert_int_equal(waitpid(pid, &st, __WALL), pid);
	assert_true(WIFSTOPPED(st));
	n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, idx, NULL);
	if (n <= 0 || (size_t)n > cap)
		fail_msg("PTRACE_SECCOMP_GET_FILTER: %ld (%s)", n,
		    strerror(errno));
	assert_int_equal(ptrace(PTRACE_SECCOMP_GET_FILTER, pid, idx, buf), n);
	assert_int_equal(ptrace(PTRACE_DETACH, pid, NULL, NULL), 0);
	return (size_t)n;
}

/* A replica that drops, sandboxes and waits: its filter. */
static size_t
replica_filter(struct sock_filter *buf, size_t cap, pid_t *pidp)
{
	int ready[2], go[2];
	size_t n;
	char c;
	pid_t pid;
	int st;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	if ((pid = fork()) == 0) {
		close(ready[0]);
		close(go[1]);
		worker_drop();
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		/* EOF on go: done. */
		while (read(go[0], &c, 1) == -1 && errno == EINTR)
			;
		_exit(0);
	}
	assert_true(pid > 0);
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	n = get_filter(pid, 0, buf, cap);
	close(go[1]);
	close(ready[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	*pidp = pid;
	return n;
}

static const char *
status_line(const char *status, const char *key, char *buf, size_t len)
{
	const char *p = strstr(status, key);
	size_t n;

	if (p == NULL)
		fail_msg("no %s in /proc status", key);
	p += strlen(key);
	n = strcspn(p, "\n");
	if (n >= len)
		n = len - 1;
	/* "Groups:" ends each group with a blank. */
	while (n > 0 && p[n - 1] == ' ')
		n--;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

/* Does /proc/net/<file> list socket inode ino (with remote port *rport)? */
static int
net_has_inode(const char *file, unsigned long ino, unsigned int *lport,
    unsigned int *rport, char *path, size_t pathlen)
{
	char name[64], line[1024];
	FILE *f;
	int found = 0;

	snprintf(name, sizeof(name), "/proc/net/%s", file);
	if ((f = fopen(name, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		unsigned long i = 0;
		unsigned int lp = 0, rp = 0;
		char p[256] = "";

		if (strcmp(file, "unix") == 0) {
			/* Num RefCount Protocol Flags Type St Inode Path */
			if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %255s",
			    &i, p) < 1)
				continue;
		} else if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x "
		    "%*[0-9A-Fa-f]:%x %*x %*s %*s %*s %*u %*d %lu", &lp, &rp,
		    &i) != 3)
			continue;
		if (i == ino) {
			found = 1;
			if (lport != NULL)
				*lport = lp;
			if (rport != NULL)
				*rport = rp;
			if (path != NULL)
				snprintf(path, pathlen, "%s", p);
		}
	}
	fclose(f);
	return found;
}

static void
test_real_worker_confined(void **state)
{
	static struct sock_filter real[4096], rep[4096];
	struct csession *cs;
	struct sockaddr_in me;
	socklen_t sl = sizeof(me);
	struct passwd *pw;
	struct dirent *de;
	char path[PATH_MAX], link[PATH_MAX], want[64], got[128], *status;
	char upath[256];
	unsigned int lport, rport, ntcp = 0, nunix = 0, nsub = 0;
	size_t nreal, nrep, i;
	pid_t worker, replica;
	ssize_t n;
	DIR *d;

	(void)state;
	cs = at_login(&env, "alice", NULL, "walter", "walter password 1");
	assert_non_null(cs);
	assert_int_equal(at_chat(cs, "am I confined?"), 0);
	assert_int_equal(getsockname(csession_fd(cs), (struct sockaddr *)&me,
	    &sl), 0);
	/* Its title names the user once logged in: this session's worker. */
	worker = scenv_find_proc(env.pid, "] walter");
	assert_true(worker > 0);
	pw = getpwnam(WORKER_USER);
	assert_non_null(pw);

	/* Who it is, what it may do, and where it lives. */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)worker);
	status = tu_read(path, NULL);
	assert_non_null(status);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_uid,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	assert_string_equal(status_line(status, "\nUid:\t", got, sizeof(got)),
	    want);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_gid,
	    (unsigned)pw->pw_gid, (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
	assert_string_equal(status_line(status, "\nGid:\t", got, sizeof(got)),
	    want);
	snprintf(want, sizeof(want), "%u", (unsigned)pw->pw_gid);
	assert_string_equal(status_line(status, "\nGroups:\t", got,
	    sizeof(got)), want);
	assert_string_equal(status_line(status, "\nCapEff:\t", got,
	    sizeof(got)), "0000000000000000");
	assert_string_equal(status_line(status, "\nCapPrm:\t", got,
	    sizeof(got)), "0000000000000000");
	assert_string_equal(status_line(status, "\nNoNewPrivs:\t", got,
	    sizeof(got)), "1");
	assert_string_equal(status_line(status, "\nSeccomp:\t", got,
	    sizeof(got)), "2");
	/*
	 * Forked by the zygote (worker_spawn fork, the default): the
	 * zygote's filter and, on top of it, its own (filter 1, compared
	 * below); both apply to every call.
	 */
	if (tu_contains(status, "Seccomp_filters:"))
		assert_string_equal(status_line(status, "\nSeccomp_filters:\t",
		    got, sizeof(got)), "2");
	free(status);
	snprintf(path, sizeof(path), "/proc/%d/root", (int)worker);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, env.jail);

	/*
	 * What it holds: descriptors 0..7 only; its sockets are the client
	 * connection (TCP, to us) and three socketpairs (keyd, authd, the
	 * master), none of them the database.
	 */
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)worker);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		char fdp[PATH_MAX + 300];
		unsigned long ino;
		int fdn;

		if (de->d_name[0] == '.')
			continue;
		fdn = atoi(de->d_name);
		if (fdn < 0 || fdn > WORKER_FD_LAST)
			fail_msg("worker holds descriptor %d", fdn);
		snprintf(fdp, sizeof(fdp), "%s/%s", path, de->d_name);
		n = readlink(fdp, link, sizeof(link) - 1);
		assert_true(n > 0);
		link[n] = '\0';
		fprintf(stderr, "worker fd %d -> %s\n", fdn, link);
		if (sscanf(link, "socket:[%lu]", &ino) != 1) {
			assert_false(tu_contains(link, "mysql"));
			assert_false(tu_contains(link, ".key"));
			continue;
		}
		if (net_has_inode("tcp", ino, &lport, &rport, NULL, 0) ||
		    net_has_inode("tcp6", ino, &lport, &rport, NULL, 0)) {
			ntcp++;
			assert_true(rport != (unsigned)env.db.port);
			/* The one TCP socket is our connection. */
			assert_int_equal(lport, env.port);
			assert_int_equal(rport, ntohs(me.sin_port));
			assert_int_equal(fdn, 3);
		} else if (net_has_inode("unix", ino, NULL, NULL, upath,
		    sizeof(upath))) {
			nunix++;
			/* Socketpairs have no name; the database's has. */
			assert_false(tu_contains(upath, env.db.sock));
			assert_string_equal(upath, "");
		} else
			fail_msg("worker fd %d: socket %lu of another kind",
			    fdn, ino);
	}
	closedir(d);
	assert_int_equal(ntcp, 1);
	assert_int_equal(nunix, 4);	/* keyd, authd, master, router */

	/*
	 * The filter it installed last (the second, index 1) is the
	 * replica's, instruction for instruction.
	 */
	nreal = get_filter(worker, 1, real, sizeof(real) / sizeof(real[0]));
	nrep = replica_filter(rep, sizeof(rep) / sizeof(rep[0]), &replica);
	fprintf(stderr, "seccomp: real worker %zu instructions, replica %zu\n",
	    nreal, nrep);
	assert_int_equal(nreal, nrep);
	for (i = 0; i < nreal; i++) {
		assert_int_equal(real[i].code, rep[i].code);
		assert_int_equal(real[i].jt, rep[i].jt);
		assert_int_equal(real[i].jf, rep[i].jf);
		if (real[i].k == rep[i].k)
			continue;
		/* tgkill may only target the process itself. */
		if (real[i].k != (uint32_t)worker ||
		    rep[i].k != (uint32_t)replica)
			fail_msg("seccomp instruction %zu differs: k %u vs %u",
			    i, real[i].k, rep[i].k);
		nsub++;
	}
	fprintf(stderr, "seccomp: identical but for %u pid constant(s)\n",
	    nsub);

	/* Inspected and released, it goes on serving its session. */
	assert_int_equal(at_chat(cs, "still confined"), 0);
	csession_free(cs);
	assert_false(at_sanitizer_report(env.log));
	assert_false(at_sanitizer_report(kd.log));
	assert_false(at_sanitizer_report(ad.log));
}

/* ---- setup ---- */

/* Both certificates in DER, and one account. */
static int
ready(struct scenv *e)
{
	char err[256];
	struct csession *cs;
	X509 *cli;

	if ((srv_cert = pki_load_cert(scenv_ca_file(e, "server.pem"), err,
	    sizeof(err))) == NULL ||
	    pki_cert_to_der(srv_cert, srv_der, sizeof(srv_der), &srv_derlen) ==
	    -1 || (cli = pki_load_cert(scenv_ca_file(e, "alice.pem"), err,
	    sizeof(err))) == NULL)
		return -1;
	if (pki_cert_to_der(cli, cli_der, sizeof(cli_der), &cli_derlen) == -1) {
		X509_free(cli);
		return -1;
	}
	X509_free(cli);
	if ((cs = at_register(e, "alice", NULL, "walter",
	    "walter@example.org", "walter password 1")) == NULL)
		return -1;
	csession_free(cs);
	return 0;
}

static int
setup(void **state)
{
	char nlog2[12];

	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "test_attack_privsep: must run as root (the "
		    "privilege drop is what it tests)\n");
		return -1;
	}
	/* Accounts here share certificates: not what is tested. */
	if (scenv_up(&env, "atk-privsep", NULL, ready,
	    "bind_certificates no\n") == -1)
		return -1;

	/* master.c's helper_start(), with scenv's configuration. */
	{
		const char *const kargv[] = { tu_bin("keyd"), "-k",
		    scenv_ca_file(&env, "server.key"), "-c",
		    scenv_ca_file(&env, "server.pem"), "-u", KEYD_USER, "-j",
		    env.jail, "-d", NULL };

		helper_start(&kd, kargv);
	}
	snprintf(nlog2, sizeof(nlog2), "%d", 12);
	{
		/* Throttling high: this file is not about it. */
		const char *const aargv[] = { tu_bin("authd"), "-D",
		    env.db.conf, "-u", AUTHD_USER, "-N", nlog2, "-r", "8",
		    "-p", "1", "-R", "1", "-F", "1000", "-W", "900", "-j",
		    env.jail, "-d", NULL };

		helper_start(&ad, aargv);
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	helper_stop(&kd);
	helper_stop(&ad);
	X509_free(srv_cert);
	scenv_teardown(&env);
	at_relays_join();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyd_signs_only_its_own_session),
		cmocka_unit_test(test_authd_reveals_nothing),
		cmocka_unit_test(test_worker_drop_replica),
		cmocka_unit_test(test_real_worker_confined),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("attack_privsep", tests, setup,
	    teardown);
}
