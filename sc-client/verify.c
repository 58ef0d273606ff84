/*
 * verify.c: `sc-client verify --history FILE --ca CA [--crl CRL]`, the
 * offline non-repudiation check of a history file (sc-client.1).
 *
 * For every line it re-checks the stored envelope without any key of the
 * user: the sender's certificate against the CA and the sender's
 * signature over the whole envelope (envelope_peek, envelope_verify),
 * that the line's sender and conversation are those the envelope names,
 * and, where the line keeps the content key (messages received), that
 * the ciphertext the sender signed decrypts to exactly the text of the
 * line (envelope_open_disclosed; MESSAGING.md §7).  One verdict per line;
 * the exit status is 0 only when every line verified.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "sc-client.h"
#include "pki.h"

/* Does the conversation of the line fit the envelope? */
static int
conv_matches(const struct hist_entry *e, const struct env_header *h)
{
	if (h->room[0] != '\0')
		return strcmp(e->conv, h->room) == 0;
	if (e->dir == HIST_OUT)		/* I wrote to h->conv */
		return strcmp(e->conv, h->conv) == 0;
	/* Received: the conversation is the sender (or, from my own other
	 * device, the user it wrote to). */
	return strcmp(e->conv, h->sender) == 0 ||
	    strcmp(e->conv, h->conv) == 0;
}

static void
utc(uint64_t ms, char *out, size_t outsz)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "?");
}

int
verify_main(const char *history, const char *ca, const char *crl,
    int at_sent)
{
	struct pki_trust *trust;
	struct hist_reader rd;
	struct env_header *h;
	struct env_opened *o;
	const char *line;
	char reason[512], when[32], fps[STORE_FP_STR_LEN];
	size_t len, nok = 0, nbad = 0, nskip = 0;
	time_t at;
	int code, r;

	if ((trust = pki_trust_load(ca, crl, reason, sizeof(reason))) == NULL) {
		fprintf(stderr, "sc-client: verify: CA: %s\n", reason);
		return 1;
	}
	if (hist_reader_open(&rd, history) == -1) {
		fprintf(stderr, "sc-client: verify: %s: %s\n", history,
		    strerror(errno));
		pki_trust_free(trust);
		return 1;
	}
	h = malloc(sizeof(*h));
	o = malloc(sizeof(*o));
	if (h == NULL || o == NULL) {
		fprintf(stderr, "sc-client: verify: out of memory\n");
		free(h);
		free(o);
		hist_reader_close(&rd);
		pki_trust_free(trust);
		return 1;
	}
	while ((r = hist_reader_next(&rd, &line, &len)) == 1) {
		struct hist_entry e;
		size_t n = rd.lineno;

		if (len == (size_t)-1) {
			printf("line %zu: FAIL: longer than any history line\n",
			    n);
			nbad++;
			continue;
		}
		if (hist_parse(line, len, &e, 1, reason, sizeof(reason)) == -1) {
			printf("line %zu: FAIL: unreadable: %s\n", n, reason);
			nbad++;
			continue;
		}
		if ((code = envelope_peek(e.env, e.envlen, h, reason,
		    sizeof(reason))) != 0) {
			if (e.dir == HIST_REJ) {
				printf("line %zu: SKIP #%llu: rejected on "
				    "receipt (%s)\n", n,
				    (unsigned long long)e.msg_id, e.text);
				nskip++;
			} else {
				printf("line %zu: FAIL #%llu: %s: %s\n", n,
				    (unsigned long long)e.msg_id,
				    envelope_err_name(code), reason);
				nbad++;
			}
			hist_entry_clear(&e);
			continue;
		}
		/* Checking at the sending time trusts the sender's clock. */
		at = at_sent ? (time_t)(h->ts / 1000) : 0;
		utc(h->ts, when, sizeof(when));
		store_fp_str(h->sender_fp, fps);
		code = envelope_verify(h, trust, at, reason, sizeof(reason));
		if (e.dir == HIST_REJ) {
			printf("line %zu: SKIP #%llu from %s: rejected on "
			    "receipt (%s); now: %s%s%s\n", n,
			    (unsigned long long)e.msg_id, h->sender, e.text,
			    code ? envelope_err_name(code) : "signature valid",
			    code ? ": " : "", code ? reason : "");
			nskip++;
			hist_entry_clear(&e);
			continue;
		}
		if (code != 0) {
			printf("line %zu: FAIL #%llu from %s: %s: %s\n", n,
			    (unsigned long long)e.msg_id, h->sender,
			    envelope_err_name(code), reason);
			nbad++;
			hist_entry_clear(&e);
			continue;
		}
		if (strcmp(e.sender, h->sender) != 0 || !conv_matches(&e, h)) {
			printf("line %zu: FAIL #%llu: the line says %s in %s, "
			    "the signed envelope %s in %s\n", n,
			    (unsigned long long)e.msg_id, e.sender, e.conv,
			    h->sender, h->room[0] ? h->room : h->conv);
			nbad++;
			hist_entry_clear(&e);
			continue;
		}
		if (e.have_key) {
			code = envelope_open_disclosed(e.env, e.envlen, e.key,
			    trust, at, o, reason, sizeof(reason));
			if (code != 0 || o->bodylen != e.textlen ||
			    CRYPTO_memcmp(o->body, e.text, e.textlen) != 0) {
				printf("line %zu: FAIL #%llu from %s: %s\n", n,
				    (unsigned long long)e.msg_id, h->sender,
				    code ? reason : "the text of the line is "
				    "not what the sender signed");
				nbad++;
			} else {
				printf("line %zu: OK #%llu %s %s -> %s: signed "
				    "by %s (%s); the text is what they "
				    "signed\n", n,
				    (unsigned long long)e.msg_id, when,
				    h->sender, h->room[0] ? h->room : h->conv,
				    h->sender, fps);
				nok++;
			}
			envelope_opened_clear(o);
		} else {
			printf("line %zu: OK #%llu %s %s -> %s: signed by %s "
			    "(%s); text not provable (no content key kept for "
			    "messages sent)\n", n,
			    (unsigned long long)e.msg_id, when, h->sender,
			    h->room[0] ? h->room : h->conv, h->sender, fps);
			nok++;
		}
		hist_entry_clear(&e);
	}
	if (r == -1) {
		printf("FAIL: read error on %s\n", history);
		nbad++;
	}
	printf("%zu verified, %zu failed, %zu skipped (rejected on receipt)\n",
	    nok, nbad, nskip);
	hist_reader_close(&rd);
	free(h);
	free(o);
	pki_trust_free(trust);
	return nbad == 0 ? 0 : 1;
}
