/*
 * fuzz_envelope.c: end-to-end message envelopes (common/envelope.c) as
 * the server and router parse them (envelope_peek, envelope_verify) and
 * as a recipient's client opens them (envelope_open).
 *
 * At set-up the harness makes a CA, certificates for "alice" and "bob"
 * (in memory; one RSA key for all, never stored) and seals one real
 * envelope from alice to bob.  Input: one mode byte, then
 *	mode & 1 == 0	the bytes are an envelope
 *	mode & 1 == 1	the bytes are edits of the real envelope, each
 *			u16 offset (modulo its length) and u8 value: a
 *			well-formed envelope with a few wrong bytes, which
 *			reaches the signature, unwrap and AEAD checks
 * With SC_FUZZ_ENVELOPE_DUMP=path set, set-up also writes the sealed
 * envelope there as a raw-mode input (tests/fuzz/mkcorpus.py uses it).
 * Properties: a header that parses points inside the envelope, holds
 * terminated names, at most ENV_MAX_RECIPIENTS entries and a valid room
 * or conversation; the untouched envelope opens for bob to its body; an
 * envelope that opens has a header that parses and verifies, and bob's
 * replay state moves only when it opens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "envelope.h"
#include "fuzz.h"

#define ENV_FZ_BODY	"hello bob \xe2\x9c\x93"

static struct pki_trust *env_fz_trust;
static X509 *env_fz_alice, *env_fz_bob;
static EVP_PKEY *env_fz_key;
static struct wbuf env_fz_env;

static X509 *
env_fz_cert(const char *cn, int is_ca, X509 *ca, time_t now)
{
	struct pki_cert_spec spec;
	char err[256];

	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.is_ca = is_ca;
	spec.purpose = PKI_PURPOSE_CLIENT;
	spec.not_before = now - 86400;
	spec.not_after = now + 10 * 365 * 86400L;
	return pki_make_cert(&spec, env_fz_key, ca, ca != NULL ? env_fz_key :
	    NULL, err, sizeof(err));
}

static int
env_fz_init(void)
{
	struct env_identity alice;
	struct env_rcpt_in rcpt;
	const char *tmp = getenv("TMPDIR");
	char dir[512], path[600], err[256];
	time_t now = time(NULL);
	X509 *ca;
	int rc = -1;

	if (env_fz_trust != NULL)
		return 0;
	if ((env_fz_key = fuzz_rsa_key()) == NULL ||
	    (ca = env_fz_cert("SecureChat Fuzz Envelope CA", 1, NULL,
	    now)) == NULL)
		return -1;
	if ((env_fz_alice = env_fz_cert("alice", 0, ca, now)) == NULL ||
	    (env_fz_bob = env_fz_cert("bob", 0, ca, now)) == NULL)
		goto out;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/sc-fuzz-env.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	if (pki_write_cert(path, ca, 0, err, sizeof(err)) == 0)
		env_fz_trust = pki_trust_load(path, NULL, err, sizeof(err));
	unlink(path);
	rmdir(dir);
	if (env_fz_trust == NULL)
		goto out;
	alice.name = "alice";
	alice.cert = env_fz_alice;
	alice.key = env_fz_key;
	rcpt.name = "bob";
	rcpt.cert = env_fz_bob;
	wbuf_init(&env_fz_env, ENV_MAX_LEN);
	if (envelope_seal(&env_fz_env, &alice, &rcpt, 1, NULL,
	    (uint64_t)now * 1000, 5, (const uint8_t *)ENV_FZ_BODY,
	    strlen(ENV_FZ_BODY), env_fz_trust, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_envelope: seal: %s\n", err);
		goto out;
	}
	/* tests/fuzz/mkcorpus.py takes the envelope as a raw-mode seed. */
	if ((tmp = getenv("SC_FUZZ_ENVELOPE_DUMP")) != NULL) {
		FILE *f = fopen(tmp, "wb");

		if (f == NULL || fputc(0, f) == EOF ||
		    fwrite(env_fz_env.data, 1, env_fz_env.len, f) !=
		    env_fz_env.len || fclose(f) == EOF)
			goto out;
	}
	rc = 0;
 out:
	X509_free(ca);
	return rc;
}

static int
env_fz_inside(const uint8_t *p, size_t n, const uint8_t *env, size_t len)
{
	return n == 0 || (p >= env && p <= env + len && n <= len &&
	    (size_t)(p - env) <= len - n);
}

static void
env_fz_header(const struct env_header *h, const uint8_t *env, size_t len)
{
	size_t i;

	FUZZ_CHECK(memchr(h->sender, '\0', sizeof(h->sender)) != NULL &&
	    memchr(h->room, '\0', sizeof(h->room)) != NULL &&
	    memchr(h->conv, '\0', sizeof(h->conv)) != NULL);
	FUZZ_CHECK(sc_valid_username((const uint8_t *)h->sender,
	    strlen(h->sender)));
	FUZZ_CHECK(h->room[0] == '\0' || envelope_valid_room(h->room));
	FUZZ_CHECK(envelope_valid_conv(h->conv));
	FUZZ_CHECK(h->nrcpt >= 1 && h->nrcpt <= ENV_MAX_RECIPIENTS);
	FUZZ_CHECK(h->counter >= 1 && h->counter <= ENV_MAX_COUNTER);
	FUZZ_CHECK(env_fz_inside(h->cert, h->certlen, env, len) &&
	    env_fz_inside(h->ct, h->ctlen, env, len) &&
	    env_fz_inside(h->sig, h->siglen, env, len) &&
	    env_fz_inside(h->tbs, h->tbslen, env, len));
	for (i = 0; i < h->nrcpt && i < ENV_MAX_RECIPIENTS; i++)
		FUZZ_CHECK(memchr(h->rcpt[i].name, '\0',
		    sizeof(h->rcpt[i].name)) != NULL &&
		    env_fz_inside(h->rcpt[i].wrapped, h->rcpt[i].wrappedlen,
		    env, len));
}

static void
env_fz_check(const uint8_t *env, size_t len, int pristine)
{
	static struct env_header h;
	static struct env_opened o;
	struct env_identity bob;
	struct env_replay *replay;
	char reason[512];
	int rc, rv;

	rc = envelope_peek(env, len, &h, reason, sizeof(reason));
	FUZZ_CHECK(rc == ENV_OK || rc == ENV_E_PROTOCOL ||
	    rc == ENV_E_TOO_LARGE || rc == ENV_E_VERSION);
	if (rc == ENV_OK) {
		env_fz_header(&h, env, len);
		rv = envelope_verify(&h, env_fz_trust, 0, reason,
		    sizeof(reason));
		FUZZ_CHECK(rv == ENV_OK || rv == ENV_E_BAD_CERT ||
		    rv == ENV_E_SIG_FAIL || rv == ENV_E_INTERNAL);
	}
	ERR_clear_error();
	if ((replay = malloc(sizeof(*replay))) == NULL)
		return;
	envelope_replay_init(replay);
	bob.name = "bob";
	bob.cert = env_fz_bob;
	bob.key = env_fz_key;
	rv = envelope_open(env, len, &bob, env_fz_trust, 0, replay, &o,
	    reason, sizeof(reason));
	if (pristine)
		FUZZ_CHECK(rv == ENV_OK && o.bodylen == strlen(ENV_FZ_BODY) &&
		    memcmp(o.body, ENV_FZ_BODY, o.bodylen) == 0);
	if (rv == ENV_OK) {
		FUZZ_CHECK(rc == ENV_OK);
		FUZZ_CHECK(envelope_replay_last(replay, o.hdr.sender,
		    o.hdr.conv) == o.hdr.counter);
		FUZZ_CHECK(sc_valid_text(o.body, o.bodylen));
		/* The same envelope again is a replay. */
		FUZZ_CHECK(envelope_open(env, len, &bob, env_fz_trust, 0,
		    replay, &o, reason, sizeof(reason)) == ENV_E_REPLAY);
	} else
		FUZZ_CHECK(rv != ENV_E_INTERNAL || rc != ENV_OK);
	envelope_opened_clear(&o);
	envelope_replay_free(replay);
	free(replay);
	ERR_clear_error();
}

static int
env_fz_one(const uint8_t *data, size_t size)
{
	uint8_t *env;
	size_t i, off, len = env_fz_env.len;

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		env_fz_check(data + 1, size - 1, 0);
		return 0;
	}
	if ((env = malloc(len)) == NULL)
		return 0;
	memcpy(env, env_fz_env.data, len);
	for (i = 1; i + 3 <= size; i += 3) {
		off = ((size_t)data[i] << 8 | data[i + 1]) % len;
		env[off] = data[i + 2];
	}
	env_fz_check(env, len, memcmp(env, env_fz_env.data, len) == 0);
	free(env);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(env_fz_init, env_fz_one)
#endif
