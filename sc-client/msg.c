/*
 * msg.c: users talking to users, the client's half (docs/MESSAGING.md,
 * docs/ARCHITECTURE.md "Messaging", PROTOCOL.md §8).
 *
 * Sending a line to USER or #room: the recipients' certificates come from
 * the server (REQUEST CERTS), are checked against the CA and against the
 * fingerprints pinned in known_peers, the text is sealed into an envelope
 * for them and sent (SEND); SENT answers with the message id or a refusal.
 * A user's certificates are kept for the session; a room's are fetched
 * for every message (or batch of lines typed while a fetch is under way)
 * because its membership changes.  Everything is asynchronous: requests
 * carry a ref, and answers, deliveries and status changes arrive through
 * msg_event() whenever the server sends them.
 *
 * Receiving: DELIVER is opened (CA, signature, addressed to my
 * certificate, replay state), the replay state and the history line are
 * written before the message is shown, then ACKed delivered and read.  A
 * rejected envelope is ACKed delivered too (so that the server does not
 * offer it forever), shown as rejected and kept in the history as such.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "log.h"
#include "pki.h"
#include "sc-client.h"
#include "util.h"

/* Age after which a received message also shows when it was sent. */
#define SHOW_SENT_AFTER_MS	(5 * 60 * 1000)

/* Server-supplied bytes made printable ('?' for anything else). */
static void
printable(const uint8_t *p, size_t n, char *out, size_t outsz)
{
	size_t i;

	if (outsz == 0)
		return;
	if (n >= outsz)
		n = outsz - 1;
	for (i = 0; i < n; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	out[n] = '\0';
}

static int
is_room(const char *target)
{
	return target[0] == '#';
}

/* ---- Setup ---- */

int
msg_init(struct client *c, const char *state_dir, const char *user,
    X509 *cert, char *reason, size_t reasonlen)
{
	TAILQ_INIT(&c->certs);
	TAILQ_INIT(&c->queue);
	TAILQ_INIT(&c->reqs);
	TAILQ_INIT(&c->sends);
	TAILQ_INIT(&c->pend);
	c->hist_fd = -1;
	c->next_ref = 1;
	pins_init(&c->pins);
	envelope_replay_init(&c->replay);
	if (strlcpy(c->me, user, sizeof(c->me)) >= sizeof(c->me) ||
	    pki_fingerprint(cert, c->my_fp) == -1) {
		snprintf(reason, reasonlen, "bad user name or certificate");
		return -1;
	}
	if (store_paths(state_dir, user, c->my_fp, &c->paths) == -1) {
		snprintf(reason, reasonlen, "%s: path too long", state_dir);
		return -1;
	}
	if (store_mkdir(c->paths.dir) == -1) {
		snprintf(reason, reasonlen, "mkdir %s: %s", c->paths.dir,
		    strerror(errno));
		return -1;
	}
	if (pins_load(&c->pins, c->paths.pins, reason, reasonlen) == -1 ||
	    envelope_replay_load(&c->replay, c->paths.replay, reason,
	    reasonlen) == -1)
		return -1;
	if ((c->hist_fd = hist_open(c->paths.history)) == -1) {
		snprintf(reason, reasonlen, "%s: %s", c->paths.history,
		    strerror(errno));
		return -1;
	}
	return 0;
}

void
msg_attach(struct client *c, struct csession *cs)
{
	char reason[512], cn[ENV_MAX_NAME + 2];

	c->cs = cs;
	c->trust = cs->trust;
	if (strcmp(cs->username, c->me) != 0)
		log_warnx("server calls us \"%s\", not \"%s\"", cs->username,
		    c->me);
	c->id.name = c->me;
	c->id.cert = cs->cert;
	c->id.key = cs->key;
	/*
	 * The server accepted this certificate for me: pin it under my
	 * name, so that another certificate offered as mine is noticed.
	 */
	if (pki_cert_cn(cs->cert, cn, sizeof(cn)) == 0 &&
	    strcmp(cn, c->me) == 0 &&
	    pins_check(&c->pins, c->me, c->my_fp) != PIN_KNOWN &&
	    (pins_add(&c->pins, c->me, c->my_fp) == -1 ||
	    pins_persist(&c->pins, c->paths.pins, c->paths.lock, reason,
	    sizeof(reason)) == -1))
		log_warnx("cannot pin my own certificate: %s", reason);
}

static void
certset_free(struct certset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		X509_free(s->v[i].cert);
	free(s->v);
	free(s);
}

static struct certset *
certs_find(struct client *c, const char *target)
{
	struct certset *s;

	TAILQ_FOREACH(s, &c->certs, entry)
		if (strcmp(s->target, target) == 0)
			return s;
	return NULL;
}

static void
certs_drop(struct client *c, const char *target)
{
	struct certset *s;

	if ((s = certs_find(c, target)) != NULL) {
		TAILQ_REMOVE(&c->certs, s, entry);
		certset_free(s);
	}
}

static void
certs_drop_all(struct client *c)
{
	struct certset *s;

	while ((s = TAILQ_FIRST(&c->certs)) != NULL) {
		TAILQ_REMOVE(&c->certs, s, entry);
		certset_free(s);
	}
}

static void
outmsg_free(struct outmsg *m)
{
	if (m->text != NULL)
		freezero(m->text, m->len + 1);
	free(m);
}

static void
pendsend_free(struct pendsend *p)
{
	if (p->text != NULL)
		freezero(p->text, p->len + 1);
	free(p->env);
	free(p);
}

void
msg_free(struct client *c)
{
	struct outmsg *m;
	struct pendreq *r;
	struct pendsend *p;
	struct pendpin *pp;

	certs_drop_all(c);
	while ((m = TAILQ_FIRST(&c->queue)) != NULL) {
		TAILQ_REMOVE(&c->queue, m, entry);
		outmsg_free(m);
	}
	while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
		TAILQ_REMOVE(&c->reqs, r, entry);
		free(r);
	}
	while ((p = TAILQ_FIRST(&c->sends)) != NULL) {
		TAILQ_REMOVE(&c->sends, p, entry);
		pendsend_free(p);
	}
	while ((pp = TAILQ_FIRST(&c->pend)) != NULL) {
		TAILQ_REMOVE(&c->pend, pp, entry);
		free(pp);
	}
	c->nqueue = c->nreqs = c->nsends = 0;
	pins_free(&c->pins);
	envelope_replay_free(&c->replay);
	if (c->hist_fd != -1)
		close(c->hist_fd);
	c->hist_fd = -1;
}

int
msg_busy(const struct client *c)
{
	return c->echo_pending > 0 || c->nqueue > 0 || c->nreqs > 0 ||
	    c->nsends > 0;
}

/* ---- Pinning ---- */

/* "SHA256:aa.., SHA256:bb.." of the pins of user. */
static void
pinned_list(struct client *c, const char *user, char *out, size_t outsz)
{
	const struct pin *p[4];
	char fps[STORE_FP_STR_LEN];
	size_t n, i;

	out[0] = '\0';
	n = pins_of(&c->pins, user, p, 4);
	for (i = 0; i < n && i < 4; i++) {
		store_fp_str(p[i]->fp, fps);
		if (i > 0)
			strlcat(out, ", ", outsz);
		strlcat(out, fps, outsz);
	}
	if (n > 4) {
		char more[32];

		snprintf(more, sizeof(more), " and %zu more", n - 4);
		strlcat(out, more, outsz);
	}
}

static void
persist_pins(struct client *c)
{
	char reason[512];

	if (pins_persist(&c->pins, c->paths.pins, c->paths.lock, reason,
	    sizeof(reason)) == -1)
		ui_printf(c, "sc-client: cannot save known peers: %s", reason);
}

/*
 * Note a certificate for user that is not pinned while others are:
 * warn once per session and keep it for /trust.  sending says whether
 * it was offered for encryption (refused) or used to sign (shown).
 */
static void
pin_changed(struct client *c, const char *user, const uint8_t fp[ENV_FP_LEN],
    int sending)
{
	struct pendpin *pp;
	char old[4 * STORE_FP_STR_LEN + 64], fps[STORE_FP_STR_LEN];

	TAILQ_FOREACH(pp, &c->pend, entry)
		if (strcmp(pp->user, user) == 0 &&
		    memcmp(pp->fp, fp, ENV_FP_LEN) == 0)
			return;
	if ((pp = calloc(1, sizeof(*pp))) == NULL)
		fatal("calloc");
	strlcpy(pp->user, user, sizeof(pp->user));
	memcpy(pp->fp, fp, ENV_FP_LEN);
	TAILQ_INSERT_TAIL(&c->pend, pp, entry);
	pinned_list(c, user, old, sizeof(old));
	store_fp_str(fp, fps);
	if (sending)
		ui_printf(c, "WARNING: the certificate of %s has changed: "
		    "known %s, now offered %s; messages are not encrypted to "
		    "it until you have checked it with %s and typed "
		    "/trust %s", user, old, fps, user, user);
	else
		ui_printf(c, "WARNING: %s signed with a certificate that is "
		    "not the one known for %s: known %s, used %s (issued by "
		    "your CA); check it with %s and type /trust %s", user,
		    user, old, fps, user, user);
}

/*
 * Pin the certificates of a batch (a CERTS answer) whose users were
 * never seen; warn about changed ones.  Decided for the whole batch
 * first, so that a new user with two devices gets both pinned.  My own
 * certificate is mine to know and is skipped.
 */
static void
pin_batch(struct client *c, const struct certent *v, size_t n, int sending)
{
	enum pin_state *st;
	char fps[STORE_FP_STR_LEN];
	size_t i;
	int added = 0;

	if (n == 0)
		return;
	if ((st = calloc(n, sizeof(*st))) == NULL)
		fatal("calloc");
	for (i = 0; i < n; i++)
		st[i] = memcmp(v[i].fp, c->my_fp, ENV_FP_LEN) == 0 ?
		    PIN_KNOWN : pins_check(&c->pins, v[i].name, v[i].fp);
	for (i = 0; i < n; i++) {
		if (st[i] == PIN_FIRST) {
			if (pins_add(&c->pins, v[i].name, v[i].fp) == -1) {
				ui_printf(c, "sc-client: too many known "
				    "peers; %s not pinned", v[i].name);
				continue;
			}
			added = 1;
			store_fp_str(v[i].fp, fps);
			ui_printf(c, "new certificate for %s: %s", v[i].name,
			    fps);
		} else if (st[i] == PIN_CHANGED)
			pin_changed(c, v[i].name, v[i].fp, sending);
	}
	free(st);
	if (added)
		persist_pins(c);
}

void
msg_trust(struct client *c, const char *user)
{
	struct pendpin *pp, *next;
	char fps[STORE_FP_STR_LEN];
	int n = 0;

	for (pp = TAILQ_FIRST(&c->pend); pp != NULL; pp = next) {
		next = TAILQ_NEXT(pp, entry);
		if (strcmp(pp->user, user) != 0)
			continue;
		if (pins_add(&c->pins, user, pp->fp) == -1) {
			ui_printf(c, "sc-client: too many known peers");
			break;
		}
		store_fp_str(pp->fp, fps);
		ui_printf(c, "trusted certificate for %s: %s", user, fps);
		TAILQ_REMOVE(&c->pend, pp, entry);
		free(pp);
		n++;
	}
	if (n == 0) {
		ui_printf(c, "no new certificate of %s is waiting for /trust "
		    "(one is listed when you send to %s or hear from them)",
		    user, user);
		return;
	}
	persist_pins(c);
}

void
msg_show_fp(struct client *c, const char *user)
{
	struct pendpin *pp;
	char list[4 * STORE_FP_STR_LEN + 64], fps[STORE_FP_STR_LEN];

	if (user[0] == '\0' || strcmp(user, c->me) == 0) {
		store_fp_str(c->my_fp, fps);
		ui_printf(c, "your certificate (%s): %s", c->me, fps);
		if (user[0] == '\0')
			return;
	}
	pinned_list(c, user, list, sizeof(list));
	if (list[0] == '\0')
		ui_printf(c, "no certificate known for %s yet", user);
	else
		ui_printf(c, "known for %s: %s", user, list);
	TAILQ_FOREACH(pp, &c->pend, entry)
		if (strcmp(pp->user, user) == 0) {
			store_fp_str(pp->fp, fps);
			ui_printf(c, "waiting for /trust %s: %s", user, fps);
		}
}

/* ---- Requests ---- */

static struct pendreq *
req_find(struct client *c, uint8_t op, const char *arg)
{
	struct pendreq *r;

	TAILQ_FOREACH(r, &c->reqs, entry)
		if (r->op == op && strcmp(r->arg, arg) == 0)
			return r;
	return NULL;
}

/* A local refusal (cs still open) is shown; -1 only when cs failed. */
static int
session_failed(struct client *c, const char *what)
{
	if (c->cs->state == CS_CLOSED)
		return -1;
	ui_printf(c, "not sent (%s): %s", what, c->cs->err.reason);
	return 0;
}

int
msg_request(struct client *c, uint8_t op, const char *arg)
{
	struct pendreq *r;

	if (c->nreqs >= CLIENT_MAX_PENDING) {
		ui_printf(c, "too many requests waiting for the server; not "
		    "sent");
		return 0;
	}
	/* The server's answer to /who is also the moment to refresh. */
	if (op == SC_OP_WHO)
		certs_drop_all(c);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("calloc");
	r->ref = c->next_ref++;
	r->op = op;
	strlcpy(r->arg, arg, sizeof(r->arg));
	if (csession_request(c->cs, r->ref, op, arg) == -1) {
		free(r);
		return session_failed(c, "request");
	}
	TAILQ_INSERT_TAIL(&c->reqs, r, entry);
	c->nreqs++;
	return 0;
}

int
msg_echo(struct client *c, const char *text, size_t len)
{
	if (csession_send_chat(c->cs, text, len) == -1)
		return session_failed(c, "echo");
	c->echo_pending++;
	return 0;
}

/* ---- Sending ---- */

static void
history_add(struct client *c, enum hist_dir dir, const char *conv,
    const char *sender, uint64_t id, const uint8_t *text, size_t len,
    const uint8_t *key, const uint8_t *env, size_t envlen)
{
	struct hist_entry e;

	memset(&e, 0, sizeof(e));
	e.time_ms = now_ms();
	e.dir = dir;
	strlcpy(e.conv, conv, sizeof(e.conv));
	strlcpy(e.sender, sender, sizeof(e.sender));
	e.msg_id = id;
	e.text = (uint8_t *)(uintptr_t)text;
	e.textlen = len;
	if (key != NULL) {
		e.have_key = 1;
		memcpy(e.key, key, ENV_KEY_LEN);
	}
	e.env = (uint8_t *)(uintptr_t)env;
	e.envlen = envlen;
	if (c->hist_fd == -1 || hist_append(c->hist_fd, &e) == -1)
		ui_printf(c, "sc-client: cannot write the history %s: %s",
		    c->paths.history, strerror(errno));
	explicit_bzero(&e, sizeof(e));
}

static void
persist_replay(struct client *c)
{
	char reason[512];

	if (replay_persist(&c->replay, c->paths.replay, c->paths.lock, reason,
	    sizeof(reason)) == -1)
		ui_printf(c, "sc-client: cannot save the replay state: %s",
		    reason);
}

/* Seal one line for the certificates of its target and SEND it. */
static int
seal_and_send(struct client *c, const struct certset *s, struct outmsg *m)
{
	struct env_rcpt_in rc[ENV_MAX_RECIPIENTS];
	struct pendsend *p;
	struct wbuf env;
	char reason[512];
	const char *conv = m->target;
	uint64_t counter;
	size_t i, n = 0, unconfirmed = 0, total = 0;
	int self = strcmp(m->target, c->me) == 0, code, ret = 0;

	for (i = 0; i < s->n; i++) {
		const struct certent *e = &s->v[i];

		/* My own certificate can read nothing I need: skip it, but
		 * for a note to myself it is the recipient. */
		if (!self && memcmp(e->fp, c->my_fp, ENV_FP_LEN) == 0)
			continue;
		if (pins_check(&c->pins, e->name, e->fp) != PIN_KNOWN) {
			unconfirmed++;
			continue;
		}
		if (total++ < ENV_MAX_RECIPIENTS) {
			rc[n].name = e->name;
			rc[n].cert = e->cert;
			n++;
		}
	}
	if (total > ENV_MAX_RECIPIENTS) {
		ui_printf(c, "not sent to %s: %zu certificates, but an "
		    "envelope holds at most %d", m->target, total,
		    ENV_MAX_RECIPIENTS);
		return 0;
	}
	if (n == 0) {
		if (unconfirmed > 0)
			ui_printf(c, "not sent to %s: no confirmed certificate "
			    "(see the WARNING above; /trust USER once you "
			    "have checked the fingerprint)", m->target);
		else if (is_room(m->target))
			ui_printf(c, "not sent to %s: no other member can "
			    "receive it", m->target);
		else
			ui_printf(c, "not sent to %s: the server lists no "
			    "certificate for %s", m->target, m->target);
		return 0;
	}
	if (unconfirmed > 0)
		ui_printf(c, "(%s: not encrypted to %zu unconfirmed "
		    "certificate%s, see the WARNING above)", m->target,
		    unconfirmed, unconfirmed == 1 ? "" : "s");
	if (envelope_replay_next(&c->replay, c->me, conv, now_ms(),
	    &counter) == -1) {
		ui_printf(c, "not sent to %s: message counter exhausted",
		    m->target);
		return 0;
	}
	wbuf_init(&env, ENV_MAX_LEN);
	code = envelope_seal(&env, &c->id, rc, n,
	    is_room(m->target) ? m->target : "", now_ms(), counter,
	    (const uint8_t *)m->text, m->len, c->trust, 0, reason,
	    sizeof(reason));
	if (code != 0) {
		ui_printf(c, "not sent to %s: %s: %s", m->target,
		    envelope_err_name(code), reason);
		/* A certificate the CA no longer accepts: ask again. */
		if (code == ENV_E_BAD_CERT)
			certs_drop(c, m->target);
		goto out;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->env = malloc(env.len)) == NULL)
		fatal("calloc");
	p->ref = c->next_ref++;
	strlcpy(p->target, m->target, sizeof(p->target));
	memcpy(p->env, env.data, env.len);
	p->envlen = env.len;
	p->text = m->text;	/* the line's copy moves to the send */
	p->len = m->len;
	m->text = NULL;
	if (csession_send_envelope(c->cs, p->ref, p->env, p->envlen) == -1) {
		pendsend_free(p);
		ret = session_failed(c, "send");
		goto out;
	}
	/*
	 * Recorded as soon as it left: the next line in this conversation
	 * takes a higher counter even before SENT comes back.
	 */
	if (envelope_replay_update(&c->replay, c->me, conv, counter) == 0)
		persist_replay(c);
	TAILQ_INSERT_TAIL(&c->sends, p, entry);
	c->nsends++;
 out:
	wbuf_free(&env);
	return ret;
}

/* Send the lines waiting for target now that its certificates are here. */
static int
flush_queue(struct client *c, const char *target)
{
	struct certset *s = certs_find(c, target);
	struct outmsg *m, *next;
	int rc = 0;

	for (m = TAILQ_FIRST(&c->queue); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (strcmp(m->target, target) != 0)
			continue;
		TAILQ_REMOVE(&c->queue, m, entry);
		c->nqueue--;
		if (rc == 0 && s != NULL)
			rc = seal_and_send(c, s, m);
		outmsg_free(m);
	}
	/* A room's members change: ask again for the next line. */
	if (is_room(target))
		certs_drop(c, target);
	return rc;
}

static void
drop_queue(struct client *c, const char *target)
{
	struct outmsg *m, *next;

	for (m = TAILQ_FIRST(&c->queue); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (strcmp(m->target, target) != 0)
			continue;
		TAILQ_REMOVE(&c->queue, m, entry);
		c->nqueue--;
		outmsg_free(m);
	}
}

int
msg_send_text(struct client *c, const char *target, const char *text,
    size_t len)
{
	struct outmsg *m;

	if (!sc_valid_text((const uint8_t *)text, len)) {
		ui_printf(c, "not sent: a message is 1 to %d bytes of UTF-8 "
		    "text without control characters", ENV_MAX_BODY);
		return 0;
	}
	if (c->nqueue >= CLIENT_MAX_PENDING) {
		ui_printf(c, "not sent to %s: too many lines waiting for the "
		    "server", target);
		return 0;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->text = malloc(len + 1)) == NULL)
		fatal("calloc");
	strlcpy(m->target, target, sizeof(m->target));
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	m->len = len;
	TAILQ_INSERT_TAIL(&c->queue, m, entry);
	c->nqueue++;
	if (certs_find(c, target) != NULL)
		return flush_queue(c, target);
	if (req_find(c, SC_OP_CERTS, target) != NULL)
		return 0;	/* goes out with the answer under way */
	if (msg_request(c, SC_OP_CERTS, target) == -1)
		return -1;
	/* Refused before it left: nothing will answer for the line. */
	if (req_find(c, SC_OP_CERTS, target) == NULL)
		drop_queue(c, target);
	return 0;
}

/* ---- Answers and deliveries ---- */

static void
on_certs(struct client *c, const char *target, const struct sc_reply *r)
{
	struct certset *s;
	char who[ENV_MAX_NAME + 1], why[256], cn[ENV_MAX_NAME + 2];
	size_t i, j;

	if (r->code != 0) {
		ui_printf(c, "not sent to %s: the server answers %s", target,
		    sc_err_name(r->code));
		drop_queue(c, target);
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->v = calloc(r->n ? r->n : 1, sizeof(*s->v))) == NULL)
		fatal("calloc");
	strlcpy(s->target, target, sizeof(s->target));
	for (i = 0; i < r->n; i++) {
		const struct sc_reply_item *it = &r->item[i];
		struct certent *e = &s->v[s->n];

		printable(it->name, it->namelen, who, sizeof(who));
		if (!sc_valid_username(it->name, it->namelen) ||
		    (!is_room(target) && strcmp(who, target) != 0)) {
			ui_printf(c, "ignoring a certificate of \"%s\" that "
			    "the server listed for %s", who, target);
			continue;
		}
		if ((e->cert = pki_cert_from_der(it->data, it->datalen, why,
		    sizeof(why))) == NULL ||
		    pki_verify(c->trust, e->cert, PKI_PURPOSE_CLIENT, NULL, 0,
		    why, sizeof(why)) != PKI_OK ||
		    pki_cert_cn(e->cert, cn, sizeof(cn)) == -1 ||
		    strcmp(cn, who) != 0 ||
		    pki_fingerprint(e->cert, e->fp) == -1) {
			if (e->cert != NULL && strcmp(why, "ok") == 0)
				strlcpy(why, "its name is not the user's",
				    sizeof(why));
			ui_printf(c, "ignoring a certificate the server listed "
			    "for %s: %s", who, why);
			X509_free(e->cert);
			e->cert = NULL;
			ERR_clear_error();
			continue;
		}
		for (j = 0; j < s->n; j++)
			if (memcmp(s->v[j].fp, e->fp, ENV_FP_LEN) == 0)
				break;
		if (j < s->n) {		/* listed twice */
			X509_free(e->cert);
			e->cert = NULL;
			continue;
		}
		strlcpy(e->name, who, sizeof(e->name));
		s->n++;
	}
	pin_batch(c, s->v, s->n, 1);
	certs_drop(c, target);
	TAILQ_INSERT_TAIL(&c->certs, s, entry);
}

static void
print_names(struct client *c, const char *label, const char *none,
    const struct sc_reply *r)
{
	char line[SC_MAX_REPLY_ITEMS * (ENV_MAX_CONV + 2) + 128];
	char name[ENV_MAX_CONV + 1];
	uint16_t i;

	if (r->n == 0) {
		ui_printf(c, "%s", none);
		return;
	}
	strlcpy(line, label, sizeof(line));
	for (i = 0; i < r->n; i++) {
		printable(r->item[i].name, r->item[i].namelen, name,
		    sizeof(name));
		strlcat(line, i == 0 ? " " : ", ", sizeof(line));
		strlcat(line, name, sizeof(line));
	}
	ui_printf(c, "%s", line);
}

static int
on_reply(struct client *c, const struct sc_reply *r)
{
	struct pendreq *q;
	char label[128];

	TAILQ_FOREACH(q, &c->reqs, entry)
		if (q->ref == r->ref)
			break;
	if (q == NULL || q->op != r->op) {
		log_debug("REPLY ref %u op %u matches no request", r->ref,
		    r->op);
		return 0;
	}
	TAILQ_REMOVE(&c->reqs, q, entry);
	c->nreqs--;
	if (r->code != 0 && r->op != SC_OP_CERTS) {
		ui_printf(c, "%s%s%s: the server answers %s",
		    r->op == SC_OP_JOIN ? "cannot join" :
		    r->op == SC_OP_LEAVE ? "cannot leave" :
		    r->op == SC_OP_MEMBERS ? "cannot list the members of" :
		    r->op == SC_OP_ROOMS ? "cannot list your rooms" :
		    "cannot list who is online", q->arg[0] ? " " : "",
		    q->arg, sc_err_name(r->code));
		free(q);
		return 0;
	}
	switch (r->op) {
	case SC_OP_CERTS: {
		char target[ENV_MAX_CONV + 1];

		strlcpy(target, q->arg, sizeof(target));
		free(q);
		on_certs(c, target, r);
		return flush_queue(c, target);
	}
	case SC_OP_JOIN:
		ui_printf(c, "joined %s", q->arg);
		break;
	case SC_OP_LEAVE:
		ui_printf(c, "left %s", q->arg);
		break;
	case SC_OP_WHO:
		print_names(c, "online:", "nobody is online", r);
		break;
	case SC_OP_ROOMS:
		print_names(c, "your rooms:", "you are in no room", r);
		break;
	case SC_OP_MEMBERS:
		snprintf(label, sizeof(label), "members of %s:", q->arg);
		print_names(c, label, "no members", r);
		break;
	}
	free(q);
	return 0;
}

static void
on_sent(struct client *c, const struct sc_sent *s)
{
	struct pendsend *p;
	char reason[SC_MAX_REASON + 1];

	TAILQ_FOREACH(p, &c->sends, entry)
		if (p->ref == s->ref)
			break;
	if (p == NULL) {
		log_debug("SENT ref %u matches no message", s->ref);
		return;
	}
	TAILQ_REMOVE(&c->sends, p, entry);
	c->nsends--;
	if (s->code == 0) {
		ui_printf(c, "-> %s: %s (#%llu)", p->target, p->text,
		    (unsigned long long)s->msg_id);
		history_add(c, HIST_OUT, p->target, c->me, s->msg_id,
		    (const uint8_t *)p->text, p->len, NULL, p->env, p->envlen);
	} else {
		printable(s->reason, s->reasonlen, reason, sizeof(reason));
		ui_printf(c, "not sent to %s: %s%s%s", p->target,
		    sc_err_name(s->code), reason[0] ? ": " : "", reason);
		/* Maybe a certificate or a membership changed: ask again. */
		certs_drop(c, p->target);
	}
	pendsend_free(p);
}

static void
on_status(struct client *c, const struct sc_status *s)
{
	char who[ENV_MAX_NAME + 1];

	printable(s->by_user, s->by_userlen, who, sizeof(who));
	if (s->state == SC_ST_READ)
		ui_printf(c, "(#%llu read by %s)",
		    (unsigned long long)s->msg_id, who);
	else
		ui_printf(c, "(#%llu delivered to %s)",
		    (unsigned long long)s->msg_id, who);
}

static int
on_deliver(struct client *c, const struct sc_deliver *d)
{
	struct env_opened *o;
	struct env_header *h;
	struct certent ce;
	char reason[512], note[600], when[64];
	const char *conv, *sender;
	uint64_t now = now_ms();
	int code;

	if ((o = malloc(sizeof(*o))) == NULL ||
	    (h = malloc(sizeof(*h))) == NULL)
		fatal("malloc");
	code = envelope_open(d->env, d->envlen, &c->id, c->trust, 0,
	    &c->replay, o, reason, sizeof(reason));
	if (code != 0) {
		/* Names from an envelope that failed are only claims. */
		if (envelope_peek(d->env, d->envlen, h, NULL, 0) == 0) {
			sender = h->sender;
			conv = h->room[0] ? h->room : h->sender;
		} else
			sender = conv = "-";
		ui_printf(c, "rejected message #%llu from %s: %s: %s",
		    (unsigned long long)d->msg_id,
		    strcmp(sender, "-") ? sender : "?",
		    envelope_err_name(code), reason);
		snprintf(note, sizeof(note), "%s: %s",
		    envelope_err_name(code), reason);
		printable((const uint8_t *)note, strlen(note), note,
		    sizeof(note));
		history_add(c, HIST_REJ, conv, sender, d->msg_id,
		    (const uint8_t *)note, strlen(note), NULL, d->env,
		    d->envlen);
		free(h);
		free(o);
		/* Delivered (not read): it must not come back forever. */
		return csession_ack(c->cs, d->msg_id, SC_ST_DELIVERED);
	}
	free(h);
	h = &o->hdr;
	sender = h->sender;
	if (h->room[0] != '\0')
		conv = h->room;
	else if (strcmp(sender, c->me) == 0)
		conv = h->conv;		/* my other device, to someone */
	else
		conv = sender;
	/* The CA vouched for the sender; pinning says if it is the usual. */
	memset(&ce, 0, sizeof(ce));
	strlcpy(ce.name, sender, sizeof(ce.name));
	memcpy(ce.fp, h->sender_fp, ENV_FP_LEN);
	pin_batch(c, &ce, 1, 0);
	/* Saved before shown: a crash must not let a copy in again. */
	persist_replay(c);
	history_add(c, HIST_IN, conv, sender, d->msg_id, o->body, o->bodylen,
	    o->key, d->env, d->envlen);
	when[0] = '\0';
	if (h->ts + SHOW_SENT_AFTER_MS < now) {
		time_t t = (time_t)(h->ts / 1000);
		struct tm tm;

		if (localtime_r(&t, &tm) != NULL)
			strftime(when, sizeof(when), " (sent %Y-%m-%d %H:%M)",
			    &tm);
	}
	if (h->room[0] != '\0')
		ui_printf(c, "[%s %s] %s%s", h->room, sender, o->body, when);
	else if (strcmp(sender, c->me) == 0)
		ui_printf(c, "[%s -> %s] %s%s", sender, h->conv, o->body, when);
	else
		ui_printf(c, "[%s] %s%s", sender, o->body, when);
	envelope_opened_clear(o);
	free(o);
	if (csession_ack(c->cs, d->msg_id, SC_ST_DELIVERED) == -1 ||
	    csession_ack(c->cs, d->msg_id, SC_ST_READ) == -1)
		return -1;
	return 0;
}

int
msg_event(struct client *c, struct cs_event *ev)
{
	switch (ev->type) {
	case SC_T_CHAT:
		if (c->echo_pending > 0)
			c->echo_pending--;
		ui_printf(c, "Server> %.*s", (int)ev->u.chat.len,
		    (const char *)ev->u.chat.text);
		return 0;
	case SC_T_SENT:
		on_sent(c, &ev->u.sent);
		return 0;
	case SC_T_DELIVER:
		return on_deliver(c, &ev->u.deliver);
	case SC_T_STATUS:
		on_status(c, &ev->u.status);
		return 0;
	case SC_T_REPLY:
		return on_reply(c, &ev->u.reply);
	}
	return 0;
}

/* ---- /history ---- */

static void
history_line(struct client *c, const struct hist_entry *e)
{
	char when[32];
	time_t t = (time_t)(e->time_ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		strlcpy(when, "?", sizeof(when));
	switch (e->dir) {
	case HIST_OUT:
		ui_printf(c, "%s -> %s: %s (#%llu)", when, e->conv,
		    (const char *)e->text, (unsigned long long)e->msg_id);
		break;
	case HIST_IN:
		if (is_room(e->conv))
			ui_printf(c, "%s [%s %s] %s (#%llu)", when, e->conv,
			    e->sender, (const char *)e->text,
			    (unsigned long long)e->msg_id);
		else
			ui_printf(c, "%s [%s] %s (#%llu)", when, e->sender,
			    (const char *)e->text,
			    (unsigned long long)e->msg_id);
		break;
	case HIST_REJ:
		ui_printf(c, "%s rejected #%llu from %s: %s", when,
		    (unsigned long long)e->msg_id, e->sender,
		    (const char *)e->text);
		break;
	}
}

void
msg_history(struct client *c, const char *conv, unsigned int n)
{
	struct hist_reader rd;
	struct hist_entry *ring;
	const char *line;
	size_t len, head = 0, have = 0, bad = 0, total = 0, i;

	if (hist_reader_open(&rd, c->paths.history) == -1) {
		ui_printf(c, "no history (%s: %s)", c->paths.history,
		    strerror(errno));
		return;
	}
	if ((ring = calloc(n, sizeof(*ring))) == NULL)
		fatal("calloc");
	while (hist_reader_next(&rd, &line, &len) == 1) {
		struct hist_entry e;

		if (len == (size_t)-1 ||
		    hist_parse(line, len, &e, 0, NULL, 0) == -1) {
			bad++;
			continue;
		}
		if (strcmp(e.conv, conv) != 0) {
			hist_entry_clear(&e);
			continue;
		}
		total++;
		hist_entry_clear(&ring[head]);
		ring[head] = e;
		head = (head + 1) % n;
		if (have < n)
			have++;
	}
	hist_reader_close(&rd);
	if (have == 0)
		ui_printf(c, "no messages with %s in the history", conv);
	else
		ui_printf(c, "history of %s (the last %zu of %zu):", conv, have,
		    total);
	for (i = 0; i < have; i++)
		history_line(c, &ring[(head + n - have + i) % n]);
	if (bad > 0)
		ui_printf(c, "(%zu unreadable line%s skipped in %s)", bad,
		    bad == 1 ? "" : "s", c->paths.history);
	for (i = 0; i < n; i++)
		hist_entry_clear(&ring[i]);
	free(ring);
}
