/*
 * fuzz_conf.c: the securechatd configuration parser, conf_parse()
 * (securechatd/conf.c, compiled into this harness).  The master parses
 * the file as root and every worker parses the copy it is sent, so a
 * parser bug is a root bug and a worker bug at once.
 *
 * Input: the file's bytes.  Properties: a failure leaves one line of
 * error that names the file; a success leaves every string terminated
 * within its field, every number within its keyword's bounds, the
 * listen table and the MaxStartups triple consistent; parsing the same
 * text twice gives the same configuration.
 */
#include <string.h>

#include "securechatd/conf.c"
#include "fuzz.h"

static int
conf_fz_init(void)
{
	return 0;
}

/* Every string of the struct ends inside its field. */
static void
conf_fz_strings(const struct sc_config *c)
{
	const char *const s[] = { c->ca, c->crl, c->cert, c->server_name,
	    c->key, c->db_config, c->worker_user, c->keyd_user,
	    c->authd_user, c->jail, c->keyd_path, c->authd_path,
	    c->transcript_dir, c->receipt_dir, c->audit_log };
	const size_t n[] = { sizeof(c->ca), sizeof(c->crl), sizeof(c->cert),
	    sizeof(c->server_name), sizeof(c->key), sizeof(c->db_config),
	    sizeof(c->worker_user), sizeof(c->keyd_user),
	    sizeof(c->authd_user), sizeof(c->jail), sizeof(c->keyd_path),
	    sizeof(c->authd_path), sizeof(c->transcript_dir),
	    sizeof(c->receipt_dir), sizeof(c->audit_log) };
	size_t i;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		FUZZ_CHECK(memchr(s[i], '\0', n[i]) != NULL);
		/* Paths are absolute (or empty where that means "none"). */
		if (i != 3 && i != 6 && i != 7 && i != 8 && s[i][0] != '\0')
			FUZZ_CHECK(s[i][0] == '/');
	}
	for (i = 0; i < c->nlisten && i < SC_MAX_LISTEN; i++)
		FUZZ_CHECK(memchr(c->listen[i].host, '\0',
		    sizeof(c->listen[i].host)) != NULL &&
		    memchr(c->listen[i].port, '\0',
		    sizeof(c->listen[i].port)) != NULL &&
		    atoi(c->listen[i].port) >= 1 &&
		    atoi(c->listen[i].port) <= 65535);
}

static void
conf_fz_numbers(const struct sc_config *c)
{
	size_t i;
	unsigned int v;

	/* Each number within the bounds of its keyword's table row. */
	for (i = 0; i < NKEYWORDS; i++) {
		if (keywords[i].type != CT_UINT &&
		    keywords[i].type != CT_SECONDS)
			continue;
		memcpy(&v, (const char *)c + keywords[i].off, sizeof(v));
		FUZZ_CHECK(v >= keywords[i].min && v <= keywords[i].max);
	}
	FUZZ_CHECK(c->nlisten >= 1 && c->nlisten <= SC_MAX_LISTEN);
	FUZZ_CHECK(c->startups_begin >= 1 &&
	    c->startups_begin <= c->startups_full &&
	    c->startups_full <= c->max_sessions &&
	    c->startups_rate >= 1 && c->startups_rate <= 100);
	FUZZ_CHECK(c->registration == 0 || c->registration == 1);
	FUZZ_CHECK(128ULL * c->scrypt_r * (1ULL << c->scrypt_n_log2) <=
	    SCRYPT_MAX_MEM);
	FUZZ_CHECK(strcmp(c->worker_user, c->keyd_user) != 0 &&
	    strcmp(c->worker_user, c->authd_user) != 0 &&
	    strcmp(c->keyd_user, c->authd_user) != 0);
	FUZZ_CHECK(c->ca[0] == '/' && c->cert[0] == '/' && c->key[0] == '/');
}

static int
conf_fz_one(const uint8_t *data, size_t size)
{
	static struct sc_config a, b;
	char err[1024], err2[1024];
	int rc, rc2;

	if (size > SC_CONF_MAX)
		return 0;
	rc = conf_parse(&a, "fuzz.conf", (const char *)data, size, err,
	    sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		FUZZ_CHECK(strncmp(err, "fuzz.conf:", 10) == 0 &&
		    strchr(err, '\n') == NULL);
	} else {
		conf_fz_strings(&a);
		conf_fz_numbers(&a);
	}
	rc2 = conf_parse(&b, "fuzz.conf", (const char *)data, size, err2,
	    sizeof(err2));
	FUZZ_CHECK(rc2 == rc);
	if (rc == 0)
		FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	else
		FUZZ_CHECK(strcmp(err, err2) == 0);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(conf_fz_init, conf_fz_one)
#endif
