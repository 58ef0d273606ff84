/*
 * clientfake.c: a small messaging server for sc-client tests
 * (clientfake.h).  It speaks the real protocol with the real code of
 * common/ (handshake statements, records, transcript, receipt); only the
 * storage is a few arrays in memory, and nothing is checked that a test
 * of the client does not need (any password logs in).
 */
#include "clientfake.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "account.h"
#include "envelope.h"
#include "hostile.h"
#include "pki.h"
#include "proto.h"
#include "record.h"
#include "sccrypto.h"
#include "transcript.h"

#define CF_TIMEOUT_MS	5000

struct cfake_conn {
	int			 fd;		/* -1: free */
	char			 user[SC_MAX_USERNAME + 1];
	struct sc_channel	 ch;
	struct transcript	 tr;
	int			 have_tr;
	uint8_t			 client_fp[SC_SHA256_LEN];
};

struct cfake_user {
	char		 name[SC_MAX_USERNAME + 1];
	uint8_t		*der[CFAKE_MAX_CERTS];
	size_t		 derlen[CFAKE_MAX_CERTS];
	int		 n;
};

struct cfake_room {
	char		 name[ENV_MAX_ROOM + 1];
	char		 member[CFAKE_MAX_USERS][SC_MAX_USERNAME + 1];
	int		 n;
};

struct cfake_msg {
	uint64_t	 id;
	char		 sender[SC_MAX_USERNAME + 1];
	uint8_t		*env;
	size_t		 len;
	char		 rcpt[ENV_MAX_RECIPIENTS][SC_MAX_USERNAME + 1];
	int		 acked[ENV_MAX_RECIPIENTS];
	int		 nrcpt;
};

struct cfake_state {
	struct cfake_conn	 conn[CFAKE_MAX_CONN];
	struct cfake_user	 user[CFAKE_MAX_USERS];
	int			 nuser;
	struct cfake_room	 room[CFAKE_MAX_ROOMS];
	int			 nroom;
	struct cfake_msg	 msg[CFAKE_MAX_MSGS];
	int			 nmsg;
	uint64_t		 next_id;
	unsigned int		 nconn;		/* transcripts made */
	uint8_t			*pt;		/* SC_MAX_CT */
};

static void
say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "clientfake: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* ---- Registry ---- */

static struct cfake_user *
user_find(struct cfake_state *st, const char *name)
{
	int i;

	for (i = 0; i < st->nuser; i++)
		if (strcmp(st->user[i].name, name) == 0)
			return &st->user[i];
	return NULL;
}

static void
user_clear(struct cfake_user *u)
{
	int i;

	for (i = 0; i < u->n; i++)
		free(u->der[i]);
	u->n = 0;
}

int
cfake_set_certs(struct cfake *fk, const char *user, ...)
{
	struct cfake_state *st = fk->st;
	struct cfake_user *u;
	const char *path;
	char err[256];
	va_list ap;
	X509 *x;
	int rc = 0;

	pthread_mutex_lock(&fk->mu);
	if ((u = user_find(st, user)) == NULL) {
		if (st->nuser == CFAKE_MAX_USERS) {
			pthread_mutex_unlock(&fk->mu);
			return -1;
		}
		u = &st->user[st->nuser++];
		snprintf(u->name, sizeof(u->name), "%s", user);
	}
	user_clear(u);
	va_start(ap, user);
	while ((path = va_arg(ap, const char *)) != NULL) {
		uint8_t der[PKI_MAX_CERT_DER];
		size_t len;

		if (u->n == CFAKE_MAX_CERTS ||
		    (x = pki_load_cert(path, err, sizeof(err))) == NULL) {
			say("%s: %s", path, err);
			rc = -1;
			break;
		}
		if (pki_cert_to_der(x, der, sizeof(der), &len) == -1 ||
		    (u->der[u->n] = malloc(len)) == NULL) {
			X509_free(x);
			rc = -1;
			break;
		}
		memcpy(u->der[u->n], der, len);
		u->derlen[u->n++] = len;
		X509_free(x);
	}
	va_end(ap);
	pthread_mutex_unlock(&fk->mu);
	return rc;
}

int
cfake_online(struct cfake *fk, const char *user)
{
	int i, n = 0;

	pthread_mutex_lock(&fk->mu);
	for (i = 0; i < CFAKE_MAX_CONN; i++)
		if (fk->st->conn[i].fd != -1 &&
		    strcmp(fk->st->conn[i].user, user) == 0)
			n++;
	pthread_mutex_unlock(&fk->mu);
	return n;
}

/* ---- Records ---- */

static void
conn_close(struct cfake_conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	if (c->have_tr)
		transcript_close(&c->tr);
	record_channel_clear(&c->ch);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static int
send_rec(struct cfake *fk, struct cfake_conn *c, uint8_t type,
    const uint8_t *pt, size_t len)
{
	struct sc_record rec;
	struct wbuf out;
	int rc = -1;

	wbuf_init(&out, SC_MAX_PAYLOAD);
	if (record_seal(&c->ch, type, pt, len, record_sign_local, fk->key,
	    &out) != 0)
		goto out;
	if (sc_record_in_transcript(type) &&
	    (sc_record_parse(out.data, out.len, &rec) != 0 ||
	    transcript_append(&c->tr, SC_DIR_S2C, type, &rec, fk->fp) == -1))
		goto out;
	if (sc_frame_write(c->fd, CF_TIMEOUT_MS, type, out.data, out.len) == -1)
		goto out;
	rc = 0;
 out:
	wbuf_free(&out);
	return rc;
}

static int
send_wbuf(struct cfake *fk, struct cfake_conn *c, uint8_t type,
    struct wbuf *b)
{
	int rc = b->err ? -1 : send_rec(fk, c, type, b->data, b->len);

	wbuf_free(b);
	return rc;
}

/* ---- Handshake and login ---- */

static int
read_expect(int fd, uint8_t type, struct sc_frame *f)
{
	int code = 0;

	if (sc_frame_read(fd, CF_TIMEOUT_MS, f, &code) != 1)
		return -1;
	if (f->type != type) {
		sc_frame_free(f);
		return -1;
	}
	return 0;
}

static int
handshake(struct cfake *fk, struct cfake_conn *c)
{
	struct cfake_state *st = fk->st;
	struct sc_client_hello ch;
	struct sc_server_hello sh;
	struct sc_frame f1 = { 0 }, f2 = { 0 }, f3 = { 0 };
	struct sc_dirkeys keys;
	struct wbuf core, full, stmt, body;
	struct sc_auth_ok ok;
	struct sc_login login;
	struct sc_register reg;
	EVP_PKEY *eph = NULL, *eph2 = NULL, *pub = NULL;
	X509 *ccert = NULL;
	uint8_t der[PKI_MAX_CERT_DER], h1[32], h2[32], ss[32], sig[SC_MAX_SIG];
	const uint8_t *csig, *name, *kex2;
	size_t derlen, siglen = sizeof(sig), csiglen, ptlen, namelen;
	char err[256], path[4096], canon[ACCOUNT_USER_MAX + 1];
	int rc = -1;

	wbuf_init(&core, SC_MAX_PAYLOAD);
	wbuf_init(&full, SC_MAX_PAYLOAD);
	wbuf_init(&stmt, SC_STMT_MAX);
	wbuf_init(&body, SC_MAX_PAYLOAD);
	if (read_expect(c->fd, SC_T_CLIENT_HELLO, &f1) == -1 ||
	    sc_ch_parse(f1.payload, f1.len, &ch) != 0 ||
	    (ccert = pki_cert_from_der(ch.cert, ch.certlen, err,
	    sizeof(err))) == NULL ||
	    (pub = X509_get_pubkey(ccert)) == NULL ||
	    pki_fingerprint(ccert, c->client_fp) == -1) {
		say("bad client hello");
		goto out;
	}
	memset(&sh, 0, sizeof(sh));
	sh.version = SC_PROTO_VERSION;
	if (RAND_bytes(sh.server_nonce, sizeof(sh.server_nonce)) != 1 ||
	    RAND_bytes(sh.session_id, sizeof(sh.session_id)) != 1 ||
	    sc_x25519_keygen(&eph, sh.server_kex) == -1 ||
	    pki_cert_to_der(fk->cert, der, sizeof(der), &derlen) == -1)
		goto out;
	sh.cert = der;
	sh.certlen = derlen;
	if (sc_sh_core_encode(&core, &sh) == -1 ||
	    sc_h1(f1.payload, f1.len, core.data, core.len, h1) == -1 ||
	    sc_stmt_server_handshake(&stmt, h1) == -1 ||
	    sc_rsa_sign(fk->key, stmt.data, stmt.len, sig, &siglen) == -1)
		goto out;
	sh.sig = sig;
	sh.siglen = siglen;
	if (sc_sh_encode(&full, &sh) == -1 ||
	    sc_frame_write(c->fd, CF_TIMEOUT_MS, SC_T_SERVER_HELLO, full.data,
	    full.len) == -1 ||
	    sc_h2(h1, sig, siglen, h2) == -1)
		goto out;
	wbuf_reset(&stmt);
	if (read_expect(c->fd, SC_T_CLIENT_FINISH, &f2) == -1 ||
	    sc_cf_parse(f2.payload, f2.len, &csig, &csiglen) != 0 ||
	    sc_stmt_client_handshake(&stmt, h2) == -1 ||
	    sc_rsa_verify(pub, stmt.data, stmt.len, csig, csiglen) == -1) {
		say("bad client finish");
		goto out;
	}
	if (sc_x25519_derive(eph, ch.client_kex, sizeof(ch.client_kex),
	    ss) == -1 || sc_derive_temp_keys(ss, h2, &keys) == -1 ||
	    record_channel_init(&c->ch, SC_SIDE_SERVER, sh.session_id, pub,
	    0) == -1 || record_set_keys(&c->ch, SC_PHASE_TEMP, &keys) == -1)
		goto out;
	snprintf(path, sizeof(path), "%s/cfake-%u.transcript", fk->dir,
	    ++st->nconn);
	if (transcript_open(&c->tr, path, TRANSCRIPT_SYNC_RECEIPT) == -1)
		goto out;
	c->have_tr = 1;

	/* LOGIN or REGISTER: any password will do. */
	{
		int code = 0;

		if (sc_frame_read(c->fd, CF_TIMEOUT_MS, &f3, &code) != 1 ||
		    (f3.type != SC_T_LOGIN && f3.type != SC_T_REGISTER) ||
		    record_open(&c->ch, f3.type, f3.payload, f3.len, st->pt,
		    SC_MAX_CT, &ptlen, NULL) != 0)
			goto out;
	}
	if (f3.type == SC_T_LOGIN) {
		if (sc_login_parse(st->pt, ptlen, &login) != 0)
			goto out;
		name = login.username;
		namelen = login.ulen;
		kex2 = login.kex2;
	} else {
		if (sc_register_parse(st->pt, ptlen, &reg) != 0)
			goto out;
		name = reg.username;
		namelen = reg.ulen;
		kex2 = reg.kex2;
	}
	if (account_username_canon(name, namelen, canon) == -1)
		goto out;
	memset(&ok, 0, sizeof(ok));
	ok.account_id = 100 + (uint64_t)(c - st->conn);
	ok.username = (const uint8_t *)canon;
	ok.ulen = strlen(canon);
	if (sc_x25519_keygen(&eph2, ok.kex2) == -1 ||
	    sc_x25519_derive(eph2, kex2, SC_KEX_LEN, ss) == -1 ||
	    sc_auth_ok_encode(&body, &ok) == -1 ||
	    send_rec(fk, c, SC_T_AUTH_OK, body.data, body.len) == -1 ||
	    sc_derive_session_keys(ss, h2, &keys) == -1 ||
	    record_set_keys(&c->ch, SC_PHASE_SESSION, &keys) == -1)
		goto out;
	snprintf(c->user, sizeof(c->user), "%s", canon);
	rc = 0;
 out:
	OPENSSL_cleanse(ss, sizeof(ss));
	OPENSSL_cleanse(&keys, sizeof(keys));
	EVP_PKEY_free(eph);
	EVP_PKEY_free(eph2);
	EVP_PKEY_free(pub);
	X509_free(ccert);
	sc_frame_free(&f1);
	sc_frame_free(&f2);
	sc_frame_free(&f3);
	wbuf_free(&core);
	wbuf_free(&full);
	wbuf_free(&stmt);
	wbuf_free(&body);
	return rc;
}

/* ---- Messaging ---- */

static int
deliver_one(struct cfake *fk, struct cfake_conn *c, const struct cfake_msg *m)
{
	struct sc_deliver d;
	struct wbuf b;
	uint8_t *copy;
	size_t len = m->len;
	int times = 1, i, rc = 0;

	if ((copy = malloc(m->len + 64)) == NULL)
		return -1;
	memcpy(copy, m->env, m->len);
	if (fk->tamper != NULL && !fk->tamper(fk, c->user, copy, &len)) {
		free(copy);
		return 0;
	}
	if (fk->replay_next) {
		fk->replay_next = 0;
		times = 2;
	}
	d.msg_id = m->id;
	d.env = copy;
	d.envlen = len;
	for (i = 0; i < times && rc == 0; i++) {
		wbuf_init(&b, SC_MAX_RECORD_PT);
		if (sc_deliver_encode(&b, &d) == -1)
			b.err = 1;
		rc = send_wbuf(fk, c, SC_T_DELIVER, &b);
	}
	free(copy);
	return rc;
}

/* What was stored for c's user and not yet acknowledged, in order. */
static void
deliver_pending(struct cfake *fk, struct cfake_conn *c)
{
	struct cfake_state *st = fk->st;
	int i, j;

	for (i = 0; i < st->nmsg; i++)
		for (j = 0; j < st->msg[i].nrcpt; j++)
			if (strcmp(st->msg[i].rcpt[j], c->user) == 0 &&
			    !st->msg[i].acked[j])
				(void)deliver_one(fk, c, &st->msg[i]);
}

static void
on_send(struct cfake *fk, struct cfake_conn *from, const uint8_t *pt,
    size_t len)
{
	struct cfake_state *st = fk->st;
	struct sc_send s;
	struct sc_sent sent;
	struct env_header *h;
	struct cfake_msg *m;
	struct wbuf b;
	const char *why = "";
	int i, j, k;

	memset(&sent, 0, sizeof(sent));
	if ((h = malloc(sizeof(*h))) == NULL)
		return;
	if (sc_send_parse(pt, len, &s) != 0)
		return;
	sent.ref = s.ref;
	if (envelope_peek(s.env, s.envlen, h, NULL, 0) != 0) {
		sent.code = SC_E_PROTOCOL;
		why = "malformed envelope";
	} else if (strcmp(h->sender, from->user) != 0) {
		sent.code = SC_E_PROTOCOL;
		why = "not your envelope";
	} else if (fk->refuse_next) {
		sent.code = (uint16_t)fk->refuse_next;
		fk->refuse_next = 0;
		why = "refused by the test";
	} else if (st->nmsg == CFAKE_MAX_MSGS) {
		sent.code = SC_E_TOO_LARGE;
		why = "store full";
	}
	if (sent.code != 0) {
		sent.reason = (const uint8_t *)why;
		sent.reasonlen = strlen(why);
		wbuf_init(&b, 1024);
		(void)sc_sent_encode(&b, &sent);
		(void)send_wbuf(fk, from, SC_T_SENT, &b);
		free(h);
		return;
	}
	m = &st->msg[st->nmsg++];
	memset(m, 0, sizeof(*m));
	m->id = ++st->next_id;
	snprintf(m->sender, sizeof(m->sender), "%s", h->sender);
	if ((m->env = malloc(s.envlen)) == NULL)
		abort();
	memcpy(m->env, s.env, s.envlen);
	m->len = s.envlen;
	for (i = 0; i < (int)h->nrcpt; i++) {
		for (j = 0; j < m->nrcpt; j++)
			if (strcmp(m->rcpt[j], h->rcpt[i].name) == 0)
				break;
		if (j == m->nrcpt)
			snprintf(m->rcpt[m->nrcpt++], sizeof(m->rcpt[0]), "%s",
			    h->rcpt[i].name);
	}
	fk->nsend++;
	sent.msg_id = m->id;
	wbuf_init(&b, 1024);
	(void)sc_sent_encode(&b, &sent);
	(void)send_wbuf(fk, from, SC_T_SENT, &b);
	for (j = 0; j < m->nrcpt; j++)
		for (k = 0; k < CFAKE_MAX_CONN; k++) {
			struct cfake_conn *c = &st->conn[k];

			if (c->fd == -1 || c == from || c->user[0] == '\0' ||
			    strcmp(c->user, m->rcpt[j]) != 0)
				continue;
			(void)deliver_one(fk, c, m);
		}
	free(h);
}

static void
on_ack(struct cfake *fk, struct cfake_conn *from, const uint8_t *pt,
    size_t len)
{
	struct cfake_state *st = fk->st;
	struct sc_ack a;
	struct sc_status s;
	struct wbuf b;
	int i, j, k;

	if (sc_ack_parse(pt, len, &a) != 0)
		return;
	fk->nack++;
	for (i = 0; i < st->nmsg; i++) {
		struct cfake_msg *m = &st->msg[i];

		if (m->id != a.msg_id)
			continue;
		for (j = 0; j < m->nrcpt; j++)
			if (strcmp(m->rcpt[j], from->user) == 0)
				m->acked[j] = 1;
		s.msg_id = m->id;
		s.by_user = (const uint8_t *)from->user;
		s.by_userlen = strlen(from->user);
		s.state = a.state;
		for (k = 0; k < CFAKE_MAX_CONN; k++) {
			struct cfake_conn *c = &st->conn[k];

			if (c->fd == -1 || strcmp(c->user, m->sender) != 0)
				continue;
			wbuf_init(&b, 1024);
			(void)sc_status_encode(&b, &s);
			(void)send_wbuf(fk, c, SC_T_STATUS, &b);
		}
	}
}

static struct cfake_room *
room_find(struct cfake_state *st, const char *name)
{
	int i;

	for (i = 0; i < st->nroom; i++)
		if (strcmp(st->room[i].name, name) == 0)
			return &st->room[i];
	return NULL;
}

static int
room_member(const struct cfake_room *r, const char *user)
{
	int i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->member[i], user) == 0)
			return i;
	return -1;
}

static void
on_request(struct cfake *fk, struct cfake_conn *from, const uint8_t *pt,
    size_t len)
{
	struct cfake_state *st = fk->st;
	struct sc_request q;
	struct cfake_room *r = NULL;
	struct cfake_user *u;
	struct wbuf b, items;
	char arg[SC_MAX_USERNAME + 1];
	uint16_t code = 0, n = 0;
	int i, j;

	if (sc_request_parse(pt, len, &q) != 0)
		return;
	memcpy(arg, q.arg, q.arglen);
	arg[q.arglen] = '\0';
	wbuf_init(&items, SC_MAX_RECORD_PT);
	if (arg[0] == '#')
		r = room_find(st, arg);
	switch (q.op) {
	case SC_OP_CERTS:
		if (arg[0] != '#') {
			if ((u = user_find(st, arg)) == NULL) {
				code = SC_E_BAD_INPUT;
				break;
			}
			for (i = 0; i < u->n; i++, n++)
				sc_reply_encode_item(&items,
				    (const uint8_t *)u->name, strlen(u->name),
				    u->der[i], u->derlen[i]);
			break;
		}
		if (r == NULL || room_member(r, from->user) == -1) {
			code = SC_E_BAD_INPUT;
			break;
		}
		for (i = 0; i < r->n; i++) {
			if ((u = user_find(st, r->member[i])) == NULL)
				continue;
			for (j = 0; j < u->n; j++, n++)
				sc_reply_encode_item(&items,
				    (const uint8_t *)u->name, strlen(u->name),
				    u->der[j], u->derlen[j]);
		}
		break;
	case SC_OP_JOIN:
		if (r == NULL) {
			if (st->nroom == CFAKE_MAX_ROOMS) {
				code = SC_E_TOO_LARGE;
				break;
			}
			r = &st->room[st->nroom++];
			memset(r, 0, sizeof(*r));
			snprintf(r->name, sizeof(r->name), "%s", arg);
		}
		if (room_member(r, from->user) == -1 && r->n < CFAKE_MAX_USERS)
			snprintf(r->member[r->n++], sizeof(r->member[0]), "%s",
			    from->user);
		break;
	case SC_OP_LEAVE:
		if (r == NULL || (i = room_member(r, from->user)) == -1) {
			code = SC_E_BAD_INPUT;
			break;
		}
		memmove(r->member[i], r->member[i + 1],
		    (size_t)(r->n - i - 1) * sizeof(r->member[0]));
		r->n--;
		break;
	case SC_OP_WHO:
		for (i = 0; i < CFAKE_MAX_CONN; i++) {
			if (st->conn[i].fd == -1 || st->conn[i].user[0] == '\0')
				continue;
			for (j = 0; j < i; j++)
				if (st->conn[j].fd != -1 && strcmp(
				    st->conn[j].user, st->conn[i].user) == 0)
					break;
			if (j < i)
				continue;
			sc_reply_encode_item(&items,
			    (const uint8_t *)st->conn[i].user,
			    strlen(st->conn[i].user), NULL, 0);
			n++;
		}
		break;
	case SC_OP_ROOMS:
		for (i = 0; i < st->nroom; i++)
			if (room_member(&st->room[i], from->user) != -1) {
				sc_reply_encode_item(&items,
				    (const uint8_t *)st->room[i].name,
				    strlen(st->room[i].name), NULL, 0);
				n++;
			}
		break;
	case SC_OP_SYNC:
		/* Nothing is pushed by this server between two requests. */
		break;
	case SC_OP_MEMBERS:
		if (r == NULL) {
			code = SC_E_BAD_INPUT;
			break;
		}
		for (i = 0; i < r->n; i++, n++)
			sc_reply_encode_item(&items,
			    (const uint8_t *)r->member[i],
			    strlen(r->member[i]), NULL, 0);
		break;
	}
	if (code != 0) {
		n = 0;
		wbuf_reset(&items);
	}
	wbuf_init(&b, SC_MAX_RECORD_PT);
	(void)sc_reply_encode_head(&b, q.ref, q.op, code, n);
	if (items.len > 0)
		(void)wbuf_put(&b, items.data, items.len);
	wbuf_free(&items);
	(void)send_wbuf(fk, from, SC_T_REPLY, &b);
}

static int
on_close(struct cfake *fk, struct cfake_conn *c, const uint8_t *pt,
    size_t len)
{
	struct sc_receipt mine, theirs;
	struct wbuf stmt, b;
	int rc = -1;

	if (sc_receipt_parse(pt, len, &theirs) != 0)
		return -1;
	memset(&mine, 0, sizeof(mine));
	memcpy(mine.session_id, c->ch.session_id, SC_SESSION_ID_LEN);
	mine.role = SC_ROLE_SERVER;
	memcpy(mine.peer_fp, c->client_fp, SC_SHA256_LEN);
	mine.siglen = sizeof(mine.sig);
	wbuf_init(&stmt, SC_STMT_MAX);
	wbuf_init(&b, 4096);
	if (transcript_digest(&c->tr, mine.transcript_sha256, &mine.first_seq,
	    &mine.last_seq) == -1 ||
	    sc_stmt_receipt(&stmt, &mine) == -1 ||
	    sc_rsa_sign(fk->key, stmt.data, stmt.len, mine.sig,
	    &mine.siglen) == -1 ||
	    sc_receipt_encode(&b, &mine) == -1) {
		wbuf_free(&b);
		goto out;
	}
	rc = send_wbuf(fk, c, SC_T_CLOSE_ACK, &b);
 out:
	wbuf_free(&stmt);
	return rc;
}

/* One frame from a logged-in client; -1 ends the connection. */
static int
serve_one(struct cfake *fk, struct cfake_conn *c)
{
	struct cfake_state *st = fk->st;
	struct sc_frame f = { 0 };
	struct sc_record rec;
	const uint8_t *text;
	size_t ptlen, tlen;
	int code = 0, rc = -1;

	if (sc_frame_read(c->fd, CF_TIMEOUT_MS, &f, &code) != 1)
		return -1;
	if (f.type == SC_T_ERROR || sc_record_phase(f.type) == 0)
		goto out;
	if ((code = record_open(&c->ch, f.type, f.payload, f.len, st->pt,
	    SC_MAX_CT, &ptlen, &rec)) != 0) {
		say("%s record from %s rejected: %s", sc_type_name(f.type),
		    c->user, sc_err_name(code));
		goto out;
	}
	if (sc_record_in_transcript(f.type) &&
	    transcript_append(&c->tr, SC_DIR_C2S, f.type, &rec,
	    c->client_fp) == -1)
		goto out;
	switch (f.type) {
	case SC_T_CHAT: {
		struct wbuf b;
		char echo[SC_MAX_TEXT + 8];
		int n;

		if (sc_chat_parse(st->pt, ptlen, &text, &tlen) != 0)
			goto out;
		n = snprintf(echo, sizeof(echo), "echo: %.*s", (int)tlen,
		    (const char *)text);
		if (n < 0 || (size_t)n >= sizeof(echo))
			n = SC_MAX_TEXT;
		if ((size_t)n > SC_MAX_TEXT)
			n = SC_MAX_TEXT;
		wbuf_init(&b, SC_MAX_PAYLOAD);
		(void)sc_chat_encode(&b, (const uint8_t *)echo, (size_t)n);
		if (send_wbuf(fk, c, SC_T_CHAT, &b) == -1)
			goto out;
		break;
	}
	case SC_T_SEND:
		on_send(fk, c, st->pt, ptlen);
		break;
	case SC_T_ACK:
		on_ack(fk, c, st->pt, ptlen);
		break;
	case SC_T_REQUEST:
		on_request(fk, c, st->pt, ptlen);
		break;
	case SC_T_CLOSE:
		(void)on_close(fk, c, st->pt, ptlen);
		goto out;	/* the session ends either way */
	default:
		goto out;
	}
	rc = 0;
 out:
	OPENSSL_cleanse(st->pt, SC_MAX_CT);
	sc_frame_free(&f);
	return rc;
}

static void *
cfake_run(void *arg)
{
	struct cfake *fk = arg;
	struct cfake_state *st = fk->st;
	struct pollfd pfd[CFAKE_MAX_CONN + 1];
	int i, fd;

	for (;;) {
		pthread_mutex_lock(&fk->mu);
		if (fk->stop) {
			pthread_mutex_unlock(&fk->mu);
			break;
		}
		pfd[0].fd = fk->lfd;
		pfd[0].events = POLLIN;
		for (i = 0; i < CFAKE_MAX_CONN; i++) {
			pfd[i + 1].fd = st->conn[i].fd;
			pfd[i + 1].events = POLLIN;
			pfd[i + 1].revents = 0;
		}
		pthread_mutex_unlock(&fk->mu);
		if (poll(pfd, CFAKE_MAX_CONN + 1, 100) <= 0)
			continue;
		pthread_mutex_lock(&fk->mu);
		if (pfd[0].revents & POLLIN) {
			if ((fd = hostile_accept(fk->lfd, 0)) != -1) {
				for (i = 0; i < CFAKE_MAX_CONN; i++)
					if (st->conn[i].fd == -1)
						break;
				if (i == CFAKE_MAX_CONN) {
					close(fd);
				} else {
					st->conn[i].fd = fd;
					if (handshake(fk, &st->conn[i]) == -1)
						conn_close(&st->conn[i]);
					else
						deliver_pending(fk,
						    &st->conn[i]);
				}
			}
		}
		for (i = 0; i < CFAKE_MAX_CONN; i++) {
			if (pfd[i + 1].fd == -1 || pfd[i + 1].revents == 0 ||
			    st->conn[i].fd != pfd[i + 1].fd)
				continue;
			if (serve_one(fk, &st->conn[i]) == -1)
				conn_close(&st->conn[i]);
		}
		pthread_mutex_unlock(&fk->mu);
	}
	return NULL;
}

int
cfake_start(struct cfake *fk)
{
	char err[256];
	int i;

	fk->running = 0;
	fk->stop = 0;
	if ((fk->st = calloc(1, sizeof(*fk->st))) == NULL ||
	    (fk->st->pt = malloc(SC_MAX_CT)) == NULL)
		return -1;
	for (i = 0; i < CFAKE_MAX_CONN; i++)
		fk->st->conn[i].fd = -1;
	if ((fk->cert = pki_load_cert(fk->cert_path, err, sizeof(err))) ==
	    NULL || (fk->key = pki_load_key(fk->key_path, err,
	    sizeof(err))) == NULL || pki_fingerprint(fk->cert, fk->fp) == -1) {
		say("server identity: %s", err);
		return -1;
	}
	if ((fk->lfd = hostile_listen(&fk->port)) == -1)
		return -1;
	pthread_mutex_init(&fk->mu, NULL);
	if (pthread_create(&fk->th, NULL, cfake_run, fk) != 0) {
		close(fk->lfd);
		return -1;
	}
	fk->running = 1;
	return 0;
}

void
cfake_stop(struct cfake *fk)
{
	struct cfake_state *st = fk->st;
	int i;

	if (fk->running) {
		pthread_mutex_lock(&fk->mu);
		fk->stop = 1;
		pthread_mutex_unlock(&fk->mu);
		pthread_join(fk->th, NULL);
		close(fk->lfd);
		pthread_mutex_destroy(&fk->mu);
		fk->running = 0;
	}
	if (st != NULL) {
		for (i = 0; i < CFAKE_MAX_CONN; i++)
			if (st->conn[i].fd != -1)
				conn_close(&st->conn[i]);
		for (i = 0; i < st->nuser; i++)
			user_clear(&st->user[i]);
		for (i = 0; i < st->nmsg; i++)
			free(st->msg[i].env);
		free(st->pt);
		free(st);
		fk->st = NULL;
	}
	X509_free(fk->cert);
	EVP_PKEY_free(fk->key);
	fk->cert = NULL;
	fk->key = NULL;
}
