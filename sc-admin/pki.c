/*
 * pki.c: `sc-admin pki`, the private certificate authority of a SecureChat
 * deployment: init-ca, issue, inspect, verify, revoke, crl.
 *
 * The CA lives in one directory (see docs/PKI.md): ca.pem, ca.key (0600),
 * index.json (every issued serial and its revocation), crl.pem, and the
 * issued leaves NAME.pem + NAME.key.  Commands that change the directory
 * hold an flock on DIR/.lock so that two runs cannot interleave their index
 * updates.  No key file is ever truncated: new files are created with
 * O_EXCL and --force replaces through a temporary file and rename.
 * Everything is done with libcrypto (common/pki.c), never the openssl tool.
 */
#include "sc-admin.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "pki.h"
#include "util.h"

#define CA_DAYS_DEFAULT		3650
#define LEAF_DAYS_DEFAULT	365
#define CRL_DAYS_DEFAULT	30
#define DAYS_MAX		36500
#define CA_BITS_DEFAULT		3072
#define LEAF_BITS_DEFAULT	2048
/* Validity starts this far in the past so that small clock skew is harmless. */
#define BACKDATE		300
#define INDEX_MAX		(16 * 1024 * 1024)
#define NAME_MAX_LEN		64
#define INDEX_VERSION		1

#define EXIT_USAGE		2

struct ca {
	char		 dir[PATH_MAX];
	int		 lockfd;
	X509		*cert;
	EVP_PKEY	*key;
	json_t		*index;
};

static int	 pki_init_ca(int, char **);
static int	 pki_issue(int, char **);
static int	 pki_inspect(int, char **);
static int	 pki_verify_cmd(int, char **);
static int	 pki_revoke(int, char **);
static int	 pki_crl(int, char **);

static const struct pki_command {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*usage;
} pki_commands[] = {	/* sorted by name */
	{ "crl", pki_crl, "crl --dir DIR [--days N]" },
	{ "init-ca", pki_init_ca, "init-ca --dir DIR --cn NAME [--days N] "
	    "[--key-bits BITS] [--force]" },
	{ "inspect", pki_inspect, "inspect [--json] FILE" },
	{ "issue", pki_issue, "issue --dir DIR --name NAME [--cn CN] "
	    "--server|--client\n\t[--san DNS:x,IP:y,...] [--days N | --end WHEN] "
	    "[--valid-from WHEN]\n\t[--key-bits BITS] [--key-in FILE] "
	    "[--self-signed] [--force]" },
	{ "revoke", pki_revoke, "revoke --dir DIR (--serial HEX | CERTFILE)" },
	{ "verify", pki_verify_cmd, "verify --ca CA [--crl CRL] "
	    "[--purpose server|client|any] [--name HOST]\n\t[--key KEY] FILE" },
};
#define NCOMMANDS	(sizeof(pki_commands) / sizeof(pki_commands[0]))

static int
usage(const char *which)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (which == NULL || strcmp(which, pki_commands[i].name) == 0)
			fprintf(stderr, "usage: sc-admin pki %s\n",
			    pki_commands[i].usage);
	return EXIT_USAGE;
}

int
pki_main(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return usage(NULL);
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], pki_commands[i].name) == 0) {
			log_procinit("sc-admin pki");
			optind = 1;
			return pki_commands[i].fn(argc - 1, argv + 1);
		}
	log_warnx("unknown pki command '%s'", argv[1]);
	return usage(NULL);
}

/* --- small helpers ------------------------------------------------------ */

static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static int
mkpath(char *out, const char *dir, const char *name, const char *ext)
{
	int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, name, ext);

	if (n < 0 || n >= PATH_MAX) {
		log_warnx("%s/%s%s: path too long", dir, name, ext);
		return -1;
	}
	return 0;
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int
parse_days(const char *s, long long *out)
{
	const char *errstr;

	*out = strtonum(s, 1, DAYS_MAX, &errstr);
	if (errstr != NULL) {
		log_warnx("--days %s: %s (1..%d)", s, errstr, DAYS_MAX);
		return -1;
	}
	return 0;
}

static int
parse_bits(const char *s, unsigned int *out)
{
	const char *errstr;

	*out = (unsigned int)strtonum(s, 2048, 16384, &errstr);
	if (errstr != NULL) {
		log_warnx("--key-bits %s: %s (2048..16384)", s, errstr);
		return -1;
	}
	return 0;
}

/*
 * The options of a subcommand: one row per long option, saying where its
 * value goes and how it is checked.  Several names may share a
 * destination (aliases).
 */
enum opt_kind {
	OPT_STR,	/* const char *: the argument */
	OPT_FLAG,	/* int: incremented (a repeat can be refused) */
	OPT_DAYS,	/* long long: parse_days */
	OPT_BITS,	/* unsigned int: parse_bits */
};

struct pki_opt {
	const char	*name;
	enum opt_kind	 kind;
	void		*dst;
};

#define PKI_MAX_OPTS	16

/*
 * Parse cmd's options (opts ends with a NULL name) from argv, getopt_long
 * style, and check that minargs..maxargs operands follow them (from
 * argv[optind]).  0, or the exit code to return.
 */
static int
pki_getopt(const char *cmd, int argc, char **argv, const struct pki_opt *opts,
    int minargs, int maxargs)
{
	struct option lo[PKI_MAX_OPTS + 1];
	const struct pki_opt *o;
	size_t i, n;
	int ch;

	memset(lo, 0, sizeof(lo));
	for (n = 0; opts[n].name != NULL; n++) {
		if (n >= PKI_MAX_OPTS)
			fatalx("pki %s: too many options", cmd);
		lo[n].name = opts[n].name;
		lo[n].has_arg = opts[n].kind == OPT_FLAG ? no_argument :
		    required_argument;
		lo[n].val = 256 + (int)n;	/* never a short option */
	}
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch < 256 || (i = (size_t)(ch - 256)) >= n)
			return usage(cmd);
		o = &opts[i];
		switch (o->kind) {
		case OPT_STR:
			*(const char **)o->dst = optarg;
			break;
		case OPT_FLAG:
			(*(int *)o->dst)++;
			break;
		case OPT_DAYS:
			if (parse_days(optarg, o->dst) == -1)
				return EXIT_USAGE;
			break;
		case OPT_BITS:
			if (parse_bits(optarg, o->dst) == -1)
				return EXIT_USAGE;
			break;
		}
	}
	if (argc - optind < minargs || argc - optind > maxargs)
		return usage(cmd);
	return 0;
}

/*
 * A point in time: "now", relative "[+-]N{s,m,h,d,w}" (e.g. -10d), or
 * absolute UTC "YYYYMMDDHHMMSSZ", "YYYY-MM-DDTHH:MM:SSZ" or "YYYY-MM-DD".
 */
static int
parse_when(const char *s, time_t now, time_t *out)
{
	static const char *const formats[] = {
		"%Y%m%d%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d",
	};
	struct tm tm;
	const char *errstr, *end;
	char num[32];
	long long n, unit;
	size_t len = strlen(s), i;

	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if ((s[0] == '+' || s[0] == '-') && len >= 3 && len < sizeof(num)) {
		switch (s[len - 1]) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: unit = 0; break;
		}
		memcpy(num, s + 1, len - 2);
		num[len - 2] = '\0';
		n = strtonum(num, 0, 100LL * 366 * 86400, &errstr);
		if (unit != 0 && errstr == NULL &&
		    n <= 100LL * 366 * 86400 / unit) {
			*out = now + (time_t)(s[0] == '-' ? -n * unit :
			    n * unit);
			return 0;
		}
	}
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, formats[i], &tm)) != NULL &&
		    *end == '\0') {
			if ((*out = timegm(&tm)) == (time_t)-1)
				break;
			return 0;
		}
	}
	log_warnx("bad time \"%s\": use now, -10d, +2h, 20260102100000Z or "
	    "2026-01-02", s);
	return -1;
}

static void
iso_time(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strlcpy(out, "?", outlen);
}

static int
parse_iso(const char *s, time_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) ==
	    NULL || *end != '\0' || (*out = timegm(&tm)) == (time_t)-1)
		return -1;
	return 0;
}

/* NAME becomes a file name: keep it to a safe alphabet, no "ca"/"crl". */
static int
valid_name(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > NAME_MAX_LEN || name[0] == '.' || name[0] == '-' ||
	    strcmp(name, "ca") == 0 || strcmp(name, "crl") == 0 ||
	    strcmp(name, "index") == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '-' || name[i] == '_' || name[i] == '.'))
			return 0;
	return 1;
}

/* Serial in canonical form (upper-case hex, whole bytes); 0 or -1. */
static int
normalize_serial(const char *in, char *out, size_t outlen)
{
	char clean[128];
	size_t j = 0;
	BIGNUM *bn = NULL;
	char *h;
	int rv = -1;

	if (strncasecmp(in, "0x", 2) == 0)
		in += 2;
	for (; *in != '\0'; in++) {
		if (*in == ':' || *in == ' ')
			continue;
		if (j + 1 >= sizeof(clean) || !((*in >= '0' && *in <= '9') ||
		    (*in >= 'a' && *in <= 'f') || (*in >= 'A' && *in <= 'F')))
			return -1;
		clean[j++] = *in;
	}
	clean[j] = '\0';
	if (j == 0 || j > 40 || BN_hex2bn(&bn, clean) != (int)j)
		goto out;
	if ((h = BN_bn2hex(bn)) != NULL) {
		if (strlcpy(out, h, outlen) < outlen)
			rv = 0;
		OPENSSL_free(h);
	}
 out:
	BN_free(bn);
	return rv;
}

/* SHA-256 of the DER as lower-case hex, as stored in index.json. */
static void
fingerprint_hex(X509 *x, char *out, size_t outlen)
{
	uint8_t fp[PKI_SHA256_LEN];

	if (outlen < 2 * PKI_SHA256_LEN + 1 || pki_fingerprint(x, fp) == -1) {
		strlcpy(out, "?", outlen);
		return;
	}
	hex_encode(fp, sizeof(fp), out);
}

/* RFC 2253 form ("CN=server"); non-ASCII and controls are escaped. */
static void
name_str(X509_NAME *name, char *out, size_t outlen)
{
	BIO *bio;
	char *p = NULL;
	long n;

	strlcpy(out, "?", outlen);
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(bio, &p)) >= 0 && p != NULL) {
		if ((size_t)n >= outlen)
			n = (long)outlen - 1;
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
		sanitize(out);
	}
	BIO_free(bio);
}

/* --- the CA directory --------------------------------------------------- */

static void
ca_close(struct ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	json_decref(ca->index);
	if (ca->lockfd != -1)
		close(ca->lockfd);	/* releases the flock */
	memset(ca, 0, sizeof(*ca));
	ca->lockfd = -1;
}

static int
ca_lock(struct ca *ca)
{
	char path[PATH_MAX];

	if (mkpath(path, ca->dir, ".lock", "") == -1)
		return -1;
	if ((ca->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1) {
		log_warn("%s", path);
		return -1;
	}
	while (flock(ca->lockfd, LOCK_EX) == -1) {
		if (errno != EINTR) {
			log_warn("flock %s", path);
			return -1;
		}
	}
	return 0;
}

static int
index_load(struct ca *ca)
{
	char path[PATH_MAX];
	json_error_t jerr;
	json_t *certs, *num;
	uint8_t *buf;
	size_t len;

	if (mkpath(path, ca->dir, "index", ".json") == -1)
		return -1;
	if ((buf = read_file_bounded(path, INDEX_MAX, &len)) == NULL) {
		log_warn("%s", path);
		return -1;
	}
	ca->index = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
	    &jerr);
	free(buf);
	if (ca->index == NULL) {
		log_warnx("%s:%d: %s", path, jerr.line, jerr.text);
		return -1;
	}
	certs = json_object_get(ca->index, "certs");
	num = json_object_get(ca->index, "crl_number");
	if (!json_is_object(ca->index) || json_integer_value(json_object_get(
	    ca->index, "version")) != INDEX_VERSION || !json_is_array(certs) ||
	    !json_is_integer(num) || json_integer_value(num) < 0) {
		log_warnx("%s: not a version %d SecureChat CA index", path,
		    INDEX_VERSION);
		return -1;
	}
	return 0;
}

/* Replace index.json atomically: readers see the old or the new file. */
static int
index_save(struct ca *ca)
{
	char path[PATH_MAX];
	char *s;
	int rv;

	if (mkpath(path, ca->dir, "index", ".json") == -1)
		return -1;
	if ((s = json_dumps(ca->index, JSON_INDENT(2))) == NULL) {
		log_warnx("%s: cannot encode index", path);
		return -1;
	}
	if ((rv = write_file_new(path, s, strlen(s), 0644, 1)) == -1)
		log_warn("%s", path);
	free(s);
	return rv;
}

/* Lock DIR, load the CA certificate, its key (checked to match) and index. */
static int
ca_open(struct ca *ca, const char *dir)
{
	char path[PATH_MAX], err[512];

	memset(ca, 0, sizeof(*ca));
	ca->lockfd = -1;
	if (strlcpy(ca->dir, dir, sizeof(ca->dir)) >= sizeof(ca->dir)) {
		log_warnx("%s: path too long", dir);
		return -1;
	}
	if (ca_lock(ca) == -1)
		return -1;
	if (mkpath(path, dir, "ca", ".pem") == -1)
		return -1;
	if ((ca->cert = pki_load_cert(path, err, sizeof(err))) == NULL) {
		log_warnx("CA certificate: %s", err);
		return -1;
	}
	if (mkpath(path, dir, "ca", ".key") == -1)
		return -1;
	if ((ca->key = pki_load_key(path, err, sizeof(err))) == NULL) {
		log_warnx("CA key: %s", err);
		return -1;
	}
	if (!pki_key_matches_cert(ca->key, ca->cert)) {
		log_warnx("%s does not match %s/ca.pem: the key does not belong "
		    "to this CA certificate", path, dir);
		return -1;
	}
	return index_load(ca);
}

static json_t *
index_find(struct ca *ca, const char *serial)
{
	json_t *certs = json_object_get(ca->index, "certs"), *e;
	size_t i;

	json_array_foreach(certs, i, e)
		if (strcmp(json_string_value(json_object_get(e, "serial")) ?
		    json_string_value(json_object_get(e, "serial")) : "",
		    serial) == 0)
			return e;
	return NULL;
}

/* Bump the CRL number, sign a CRL of every revoked serial, write crl.pem. */
static int
ca_write_crl(struct ca *ca, long long days)
{
	struct pki_revoked *rev = NULL;
	json_t *certs = json_object_get(ca->index, "certs"), *e;
	X509_CRL *crl = NULL;
	char path[PATH_MAX], err[512], next[64];
	time_t now = time(NULL), when;
	size_t i, n = 0;
	json_int_t number;
	int rv = -1;

	if ((rev = calloc(json_array_size(certs) + 1, sizeof(*rev))) == NULL) {
		log_warn("calloc");
		return -1;
	}
	json_array_foreach(certs, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "status")) ?
		    json_string_value(json_object_get(e, "status")) : "",
		    "revoked") != 0)
			continue;
		if (parse_iso(json_string_value(json_object_get(e,
		    "revoked_at")), &when) == -1 ||
		    json_string_value(json_object_get(e, "serial")) == NULL) {
			log_warnx("index entry %zu: bad revoked entry", i);
			goto out;
		}
		rev[n].serial_hex = json_string_value(json_object_get(e,
		    "serial"));
		rev[n++].when = when;
	}
	number = json_integer_value(json_object_get(ca->index,
	    "crl_number")) + 1;
	if ((crl = pki_make_crl(ca->cert, ca->key, rev, n, (long)number,
	    now - BACKDATE, now + (time_t)days * 86400, err,
	    sizeof(err))) == NULL) {
		log_warnx("CRL: %s", err);
		goto out;
	}
	if (json_object_set_new(ca->index, "crl_number",
	    json_integer(number)) == -1 || index_save(ca) == -1)
		goto out;
	if (mkpath(path, ca->dir, "crl", ".pem") == -1)
		goto out;
	if (pki_write_crl(path, crl, 1, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		goto out;
	}
	iso_time(now + (time_t)days * 86400, next, sizeof(next));
	printf("wrote %s: CRL number %lld, %zu revoked, next update %s\n",
	    path, (long long)number, n, next);
	rv = 0;
 out:
	X509_CRL_free(crl);
	free(rev);
	return rv;
}

/* --- init-ca ------------------------------------------------------------ */

static int
pki_init_ca(int argc, char **argv)
{
	struct pki_cert_spec spec;
	struct ca ca;
	struct stat st;
	const char *dir = NULL, *cn = NULL;
	static const char *const files[][2] = {
		{ "ca", ".key" }, { "ca", ".pem" }, { "index", ".json" },
		{ "crl", ".pem" },
	};
	char keypath[PATH_MAX], certpath[PATH_MAX], path[PATH_MAX], err[512];
	char serial[80], until[64];
	long long days = CA_DAYS_DEFAULT;
	unsigned int bits = CA_BITS_DEFAULT;
	time_t now = time(NULL);
	int force = 0, rv = 1, key_written = 0;
	size_t i;
	const struct pki_opt opts[] = {
		{ "cn", OPT_STR, &cn },
		{ "days", OPT_DAYS, &days },
		{ "dir", OPT_STR, &dir },
		{ "force", OPT_FLAG, &force },
		{ "key-bits", OPT_BITS, &bits },
		{ NULL, OPT_STR, NULL }
	};

	memset(&ca, 0, sizeof(ca));
	ca.lockfd = -1;
	if ((rv = pki_getopt("init-ca", argc, argv, opts, 0, 0)) != 0)
		return rv;
	rv = 1;
	if (dir == NULL || cn == NULL)
		return usage("init-ca");
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return 1;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		log_warnx("%s: not a directory", dir);
		return 1;
	}
	if (strlcpy(ca.dir, dir, sizeof(ca.dir)) >= sizeof(ca.dir) ||
	    ca_lock(&ca) == -1)
		goto out;
	/* Refuse before spending time on a key, and name the file. */
	for (i = 0; !force && i < sizeof(files) / sizeof(files[0]); i++) {
		if (mkpath(path, dir, files[i][0], files[i][1]) == -1)
			goto out;
		if (exists(path)) {
			log_warnx("%s already exists; refusing to overwrite a "
			    "CA (use --force to replace it)", path);
			goto out;
		}
	}
	if (mkpath(keypath, dir, "ca", ".key") == -1 ||
	    mkpath(certpath, dir, "ca", ".pem") == -1)
		goto out;
	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.is_ca = 1;
	spec.purpose = PKI_PURPOSE_ANY;
	spec.not_before = now - BACKDATE;
	spec.not_after = now + (time_t)days * 86400;
	if ((ca.key = pki_rsa_keygen(bits, err, sizeof(err))) == NULL ||
	    (ca.cert = pki_make_cert(&spec, ca.key, NULL, NULL, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s", err);
		goto out;
	}
	if (pki_write_key(keypath, ca.key, force, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		goto out;
	}
	key_written = 1;
	if (pki_write_cert(certpath, ca.cert, force, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		goto out;
	}
	if ((ca.index = json_pack("{s:i, s:i, s:[]}", "version", INDEX_VERSION,
	    "crl_number", 0, "certs")) == NULL) {
		log_warnx("cannot build the index");
		goto out;
	}
	if (ca_write_crl(&ca, CRL_DAYS_DEFAULT) == -1)
		goto out;
	(void)pki_serial_hex(X509_get0_serialNumber(ca.cert), serial, sizeof(serial));
	(void)pki_time_str(X509_get0_notAfter(ca.cert), until, sizeof(until));
	sanitize(serial);
	printf("created CA \"%s\" (RSA %u, serial %s, valid until %s)\n"
	    "  %s (certificate)\n  %s (private key, mode 0600)\n"
	    "  %s/index.json, %s/crl.pem\n", cn, bits, serial, until, certpath,
	    keypath, dir, dir);
	rv = 0;
 out:
	/* A fresh CA whose certificate could not be written is removed. */
	if (rv != 0 && key_written && !force)
		unlink(keypath);
	ca_close(&ca);
	return rv;
}

/* --- issue -------------------------------------------------------------- */

/* Default SAN of a server: its CN, as an IP or a DNS name. */
static const char *
default_san(const char *cn, char *buf, size_t buflen)
{
	unsigned char a[16];
	const char *p;

	if (inet_pton(AF_INET, cn, a) == 1 || inet_pton(AF_INET6, cn, a) == 1) {
		snprintf(buf, buflen, "IP:%s", cn);
		return buf;
	}
	for (p = cn; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return NULL;
	snprintf(buf, buflen, "DNS:%s", cn);
	return buf;
}

static int
index_add(struct ca *ca, const char *name, X509 *x, enum pki_purpose purpose)
{
	char serial[80], cn[128], fp[2 * PKI_SHA256_LEN + 1], nb[32], na[32];
	char issued[32];
	time_t tnb, tna;
	json_t *e;

	if (pki_serial_hex(X509_get0_serialNumber(x), serial,
	    sizeof(serial)) == -1 || pki_cert_cn(x, cn, sizeof(cn)) == -1 ||
	    pki_time_to_epoch(X509_get0_notBefore(x), &tnb) == -1 ||
	    pki_time_to_epoch(X509_get0_notAfter(x), &tna) == -1) {
		log_warnx("cannot read back the new certificate");
		return -1;
	}
	if (index_find(ca, serial) != NULL) {
		/* 2^-127 odds: more likely a broken RNG than bad luck. */
		log_warnx("serial %s is already in the index; not issuing",
		    serial);
		return -1;
	}
	fingerprint_hex(x, fp, sizeof(fp));
	iso_time(tnb, nb, sizeof(nb));
	iso_time(tna, na, sizeof(na));
	iso_time(time(NULL), issued, sizeof(issued));
	if ((e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "serial", serial, "name", name, "cn", cn, "purpose",
	    purpose == PKI_PURPOSE_SERVER ? "server" : "client",
	    "not_before", nb, "not_after", na, "sha256", fp,
	    "issued_at", issued, "status", "valid")) == NULL ||
	    json_array_append_new(json_object_get(ca->index, "certs"), e) == -1) {
		log_warnx("cannot add %s to the index (CN not UTF-8?)", serial);
		return -1;
	}
	return index_save(ca);
}

static int
pki_issue(int argc, char **argv)
{
	struct pki_cert_spec spec;
	struct ca ca;
	const char *dir = NULL, *name = NULL, *cn = NULL, *san = NULL;
	const char *keyin = NULL, *start = NULL, *end = NULL;
	char keypath[PATH_MAX], certpath[PATH_MAX], err[512], sanbuf[300];
	char serial[80], nb[64], na[64];
	enum pki_purpose purpose = PKI_PURPOSE_ANY;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	long long days = 0;		/* 0: not given */
	unsigned int bits = LEAF_BITS_DEFAULT;
	time_t now = time(NULL);
	int force = 0, selfsigned = 0, client = 0, server = 0, rv = 1;
	int key_written = 0;
	const struct pki_opt opts[] = {
		{ "client", OPT_FLAG, &client },
		{ "cn", OPT_STR, &cn },
		{ "days", OPT_DAYS, &days },
		{ "dir", OPT_STR, &dir },
		{ "end", OPT_STR, &end },
		{ "force", OPT_FLAG, &force },
		{ "key-bits", OPT_BITS, &bits },
		{ "key-in", OPT_STR, &keyin },
		{ "name", OPT_STR, &name },
		{ "not-after", OPT_STR, &end },
		{ "not-before", OPT_STR, &start },
		{ "san", OPT_STR, &san },
		{ "self-signed", OPT_FLAG, &selfsigned },
		{ "server", OPT_FLAG, &server },
		{ "start", OPT_STR, &start },
		{ "valid-from", OPT_STR, &start },
		{ NULL, OPT_STR, NULL }
	};

	memset(&ca, 0, sizeof(ca));
	ca.lockfd = -1;
	if ((rv = pki_getopt("issue", argc, argv, opts, 0, 0)) != 0)
		return rv;
	rv = 1;
	if (client + server > 1) {
		log_warnx("give one of --server, --client");
		return EXIT_USAGE;
	}
	purpose = server ? PKI_PURPOSE_SERVER : client ? PKI_PURPOSE_CLIENT :
	    PKI_PURPOSE_ANY;
	if (dir == NULL || name == NULL || purpose == PKI_PURPOSE_ANY)
		return usage("issue");
	if (end != NULL && days != 0) {
		log_warnx("give --days or --end, not both");
		return EXIT_USAGE;
	}
	if (days == 0)
		days = LEAF_DAYS_DEFAULT;
	if (!valid_name(name)) {
		log_warnx("bad --name \"%s\": 1..%d of [A-Za-z0-9._-], not "
		    "starting with '.' or '-', not ca/crl/index", name,
		    NAME_MAX_LEN);
		return EXIT_USAGE;
	}
	if (cn == NULL)
		cn = name;
	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.purpose = purpose;
	spec.san = san;
	if (san == NULL && purpose == PKI_PURPOSE_SERVER)
		spec.san = default_san(cn, sanbuf, sizeof(sanbuf));
	spec.not_before = now - BACKDATE;
	if (start != NULL && parse_when(start, now, &spec.not_before) == -1)
		return EXIT_USAGE;
	spec.not_after = spec.not_before + (time_t)days * 86400;
	if (end != NULL && parse_when(end, now, &spec.not_after) == -1)
		return EXIT_USAGE;
	if (spec.not_after <= spec.not_before) {
		log_warnx("the certificate would end before it starts");
		return EXIT_USAGE;
	}

	if (mkpath(keypath, dir, name, ".key") == -1 ||
	    mkpath(certpath, dir, name, ".pem") == -1)
		return 1;
	if (selfsigned) {
		if (strlcpy(ca.dir, dir, sizeof(ca.dir)) >= sizeof(ca.dir) ||
		    ca_lock(&ca) == -1)
			goto out;
	} else if (ca_open(&ca, dir) == -1)
		goto out;
	/* Refuse before generating anything; write_file_new re-checks. */
	if (!force && exists(certpath)) {
		log_warnx("%s already exists; refusing to overwrite it (use "
		    "--force to replace)", certpath);
		goto out;
	}
	if (!force && keyin == NULL && exists(keypath)) {
		log_warnx("%s already exists; refusing to overwrite a key (use "
		    "--force to replace)", keypath);
		goto out;
	}
	if (keyin != NULL)
		key = pki_load_key(keyin, err, sizeof(err));
	else
		key = pki_rsa_keygen(bits, err, sizeof(err));
	if (key == NULL) {
		log_warnx("%s", err);
		goto out;
	}
	if ((x = pki_make_cert(&spec, key, selfsigned ? NULL : ca.cert,
	    selfsigned ? NULL : ca.key, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		goto out;
	}
	if (keyin == NULL) {
		if (pki_write_key(keypath, key, force, err, sizeof(err)) == -1) {
			log_warnx("%s", err);
			goto out;
		}
		key_written = 1;
	}
	/* Index before certificate: an indexed serial can always be revoked. */
	if (!selfsigned && index_add(&ca, name, x, purpose) == -1)
		goto out;
	if (pki_write_cert(certpath, x, force, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		goto out;
	}
	(void)pki_serial_hex(X509_get0_serialNumber(x), serial, sizeof(serial));
	(void)pki_time_str(X509_get0_notBefore(x), nb, sizeof(nb));
	(void)pki_time_str(X509_get0_notAfter(x), na, sizeof(na));
	printf("issued %s certificate \"%s\"%s, serial %s\n  valid %s to %s\n"
	    "  %s\n  %s%s\n", purpose == PKI_PURPOSE_SERVER ? "server" :
	    "client", cn, selfsigned ? " (SELF-SIGNED, not by the CA)" : "",
	    serial, nb, na, certpath, keyin != NULL ? keyin : keypath,
	    keyin != NULL ? " (existing key)" : " (private key, mode 0600)");
	rv = 0;
 out:
	if (rv != 0 && key_written && !force)
		unlink(keypath);
	X509_free(x);
	EVP_PKEY_free(key);
	ca_close(&ca);
	return rv;
}

/* --- inspect ------------------------------------------------------------ */

static const struct {
	uint32_t	 bit;
	const char	*name;
} key_usages[] = {
	{ KU_DIGITAL_SIGNATURE, "digitalSignature" },
	{ KU_NON_REPUDIATION, "nonRepudiation" },
	{ KU_KEY_ENCIPHERMENT, "keyEncipherment" },
	{ KU_DATA_ENCIPHERMENT, "dataEncipherment" },
	{ KU_KEY_AGREEMENT, "keyAgreement" },
	{ KU_KEY_CERT_SIGN, "keyCertSign" },
	{ KU_CRL_SIGN, "cRLSign" },
	{ KU_ENCIPHER_ONLY, "encipherOnly" },
	{ KU_DECIPHER_ONLY, "decipherOnly" },
};

static json_t *
san_list(X509 *x)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *g;
	json_t *arr = json_array();
	char buf[300], addr[INET6_ADDRSTRLEN];
	const unsigned char *d;
	int i, len;

	if (arr == NULL)
		return NULL;
	if ((gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL)) == NULL) {
		ERR_clear_error();
		return arr;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
			snprintf(buf, sizeof(buf), "DNS:%.*s", len, d);
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			len = ASN1_STRING_length(g->d.iPAddress);
			if ((len == 4 && inet_ntop(AF_INET, d, addr,
			    sizeof(addr)) != NULL) || (len == 16 &&
			    inet_ntop(AF_INET6, d, addr, sizeof(addr)) != NULL))
				snprintf(buf, sizeof(buf), "IP:%s", addr);
			else
				strlcpy(buf, "IP:?", sizeof(buf));
		} else if (g->type == GEN_EMAIL) {
			d = ASN1_STRING_get0_data(g->d.rfc822Name);
			len = ASN1_STRING_length(g->d.rfc822Name);
			snprintf(buf, sizeof(buf), "email:%.*s", len, d);
		} else
			snprintf(buf, sizeof(buf), "other(type %d)", g->type);
		sanitize(buf);
		if (json_array_append_new(arr, json_string(buf)) == -1) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	GENERAL_NAMES_free(gens);
	return arr;
}

static json_t *
eku_list(X509 *x)
{
	EXTENDED_KEY_USAGE *eku;
	json_t *arr = json_array();
	char buf[128];
	int i, nid;

	if (arr == NULL)
		return NULL;
	if ((eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL)) == NULL) {
		ERR_clear_error();
		return arr;
	}
	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
		if (nid != NID_undef)
			strlcpy(buf, OBJ_nid2sn(nid), sizeof(buf));
		else if (OBJ_obj2txt(buf, sizeof(buf),
		    sk_ASN1_OBJECT_value(eku, i), 1) <= 0)
			strlcpy(buf, "?", sizeof(buf));
		if (json_array_append_new(arr, json_string(buf)) == -1) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	EXTENDED_KEY_USAGE_free(eku);
	return arr;
}

/* Collect the certificate's facts once; text and JSON print the same. */
static json_t *
cert_facts(X509 *x)
{
	char subject[512], issuer[512], serial[80], nb[64], na[64], fp[128];
	const char *status = "valid", *ktype;
	EVP_PKEY *pub = X509_get0_pubkey(x);
	json_t *o, *ku;
	uint32_t kubits = X509_get_key_usage(x);
	time_t now = time(NULL), tnb = 0, tna = 0;
	long pathlen;
	size_t i;
	int isca = X509_check_ca(x) == 1;

	name_str(X509_get_subject_name(x), subject, sizeof(subject));
	name_str(X509_get_issuer_name(x), issuer, sizeof(issuer));
	if (pki_serial_hex(X509_get0_serialNumber(x), serial,
	    sizeof(serial)) == -1)
		strlcpy(serial, "?", sizeof(serial));
	sanitize(serial);
	(void)pki_time_str(X509_get0_notBefore(x), nb, sizeof(nb));
	(void)pki_time_str(X509_get0_notAfter(x), na, sizeof(na));
	if (pki_time_to_epoch(X509_get0_notBefore(x), &tnb) == -1 ||
	    pki_time_to_epoch(X509_get0_notAfter(x), &tna) == -1)
		status = "invalid dates";
	else if (now < tnb)
		status = "not yet valid";
	else if (now > tna)
		status = "expired";
	fingerprint_hex(x, fp, sizeof(fp));
	ktype = pub != NULL ? EVP_PKEY_get0_type_name(pub) : NULL;
	if (ktype == NULL)
		ktype = "?";
	if ((ku = json_array()) == NULL)
		return NULL;
	if (kubits != UINT32_MAX)
		for (i = 0; i < sizeof(key_usages) / sizeof(key_usages[0]); i++)
			if ((kubits & key_usages[i].bit) &&
			    json_array_append_new(ku,
			    json_string(key_usages[i].name)) == -1) {
				json_decref(ku);
				return NULL;
			}
	pathlen = X509_get_pathlen(x);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:{s:s, s:i}, "
	    "s:o, s:o, s:b, s:o, s:b, s:s}",
	    "subject", subject, "issuer", issuer, "serial", serial,
	    "not_before", nb, "not_after", na, "status", status,
	    "san", san_list(x),
	    "key", "type", ktype, "bits", pub ? EVP_PKEY_get_bits(pub) : 0,
	    "key_usage", ku, "extended_key_usage", eku_list(x),
	    "ca", isca, "pathlen", isca && pathlen >= 0 ?
	    json_integer(pathlen) : json_null(),
	    "self_signed", X509_self_signed(x, 0) == 1,
	    "sha256", fp);
	ERR_clear_error();
	return o;
}

static void
print_list(const char *label, json_t *arr)
{
	json_t *v;
	size_t i;

	printf("%-16s", label);
	if (json_array_size(arr) == 0)
		printf("(none)");
	json_array_foreach(arr, i, v)
		printf("%s%s", i ? ", " : "", json_string_value(v));
	printf("\n");
}

static void
print_cert(json_t *o)
{
	json_t *key = json_object_get(o, "key");
	const char *status = json_string_value(json_object_get(o, "status"));
	const char *hex;
	size_t i;

	printf("%-16s%s\n", "Subject:",
	    json_string_value(json_object_get(o, "subject")));
	printf("%-16s%s\n", "Issuer:",
	    json_string_value(json_object_get(o, "issuer")));
	printf("%-16s%s\n", "Serial:",
	    json_string_value(json_object_get(o, "serial")));
	printf("%-16s%s\n", "Not before:",
	    json_string_value(json_object_get(o, "not_before")));
	printf("%-16s%s\n", "Not after:",
	    json_string_value(json_object_get(o, "not_after")));
	printf("%-16s%s\n", "Status:", strcmp(status, "valid") == 0 ?
	    "valid (dates only; use verify for the chain)" : status);
	print_list("SAN:", json_object_get(o, "san"));
	printf("%-16s%s %lld bits\n", "Key:",
	    json_string_value(json_object_get(key, "type")),
	    (long long)json_integer_value(json_object_get(key, "bits")));
	print_list("Key usage:", json_object_get(o, "key_usage"));
	print_list("Ext key usage:", json_object_get(o, "extended_key_usage"));
	if (json_is_true(json_object_get(o, "ca")))
		printf("%-16syes (pathlen %s)\n", "CA:",
		    json_is_integer(json_object_get(o, "pathlen")) ?
		    (json_integer_value(json_object_get(o, "pathlen")) == 0 ?
		    "0" : "> 0") : "unlimited");
	else
		printf("%-16sno\n", "CA:");
	printf("%-16s%s\n", "Self-signed:",
	    json_is_true(json_object_get(o, "self_signed")) ? "yes" : "no");
	hex = json_string_value(json_object_get(o, "sha256"));
	printf("%-16s", "SHA-256:");
	/* The colon form of `openssl x509 -fingerprint -sha256`. */
	for (i = 0; hex != NULL && hex[i] != '\0'; i++)
		printf("%s%c", i > 0 && i % 2 == 0 ? ":" : "",
		    hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 'a' + 'A' : hex[i]);
	printf("\n");
}

static json_t *
crl_facts(X509_CRL *crl)
{
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
	X509_REVOKED *r;
	ASN1_INTEGER *num;
	json_t *o, *arr;
	char issuer[512], last[64], next[64], serial[80], when[64];
	const char *status = "current";
	time_t now = time(NULL), tl, tn;
	long number = -1;
	int i;

	name_str(X509_CRL_get_issuer(crl), issuer, sizeof(issuer));
	(void)pki_time_str(X509_CRL_get0_lastUpdate(crl), last, sizeof(last));
	if (X509_CRL_get0_nextUpdate(crl) == NULL)
		strlcpy(next, "(none)", sizeof(next));
	else
		(void)pki_time_str(X509_CRL_get0_nextUpdate(crl), next, sizeof(next));
	if (pki_time_to_epoch(X509_CRL_get0_lastUpdate(crl), &tl) == -1 ||
	    X509_CRL_get0_nextUpdate(crl) == NULL ||
	    pki_time_to_epoch(X509_CRL_get0_nextUpdate(crl), &tn) == -1)
		status = "invalid dates";
	else if (now < tl)
		status = "not yet valid";
	else if (now > tn)
		status = "expired";
	if ((num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL,
	    NULL)) != NULL) {
		number = ASN1_INTEGER_get(num);
		ASN1_INTEGER_free(num);
	}
	ERR_clear_error();
	if ((arr = json_array()) == NULL)
		return NULL;
	for (i = 0; i < sk_X509_REVOKED_num(revs); i++) {
		r = sk_X509_REVOKED_value(revs, i);
		if (pki_serial_hex(X509_REVOKED_get0_serialNumber(r), serial,
		    sizeof(serial)) == -1)
			strlcpy(serial, "?", sizeof(serial));
		sanitize(serial);
		(void)pki_time_str(X509_REVOKED_get0_revocationDate(r), when,
		    sizeof(when));
		if (json_array_append_new(arr, json_pack("{s:s, s:s}", "serial",
		    serial, "revoked_at", when)) == -1) {
			json_decref(arr);
			return NULL;
		}
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "type", "crl",
	    "issuer", issuer, "last_update", last, "next_update", next,
	    "status", status, "crl_number", number >= 0 ?
	    json_integer(number) : json_null(), "revoked", arr);
	return o;
}

static void
print_crl(json_t *o)
{
	json_t *arr = json_object_get(o, "revoked"), *e;
	size_t i;

	printf("%-16s%s\n", "CRL issuer:",
	    json_string_value(json_object_get(o, "issuer")));
	printf("%-16s%s\n", "Last update:",
	    json_string_value(json_object_get(o, "last_update")));
	printf("%-16s%s\n", "Next update:",
	    json_string_value(json_object_get(o, "next_update")));
	printf("%-16s%s\n", "Status:",
	    json_string_value(json_object_get(o, "status")));
	if (json_is_integer(json_object_get(o, "crl_number")))
		printf("%-16s%lld\n", "CRL number:", (long long)
		    json_integer_value(json_object_get(o, "crl_number")));
	printf("%-16s%zu\n", "Revoked:", json_array_size(arr));
	json_array_foreach(arr, i, e)
		printf("  %s  revoked %s\n",
		    json_string_value(json_object_get(e, "serial")),
		    json_string_value(json_object_get(e, "revoked_at")));
}

static int
pki_inspect(int argc, char **argv)
{
	char err[512], *text;
	uint8_t *buf;
	size_t len;
	X509 *x = NULL;
	X509_CRL *crl = NULL;
	json_t *o = NULL;
	int json = 0, rv = 1;
	const struct pki_opt opts[] = {
		{ "json", OPT_FLAG, &json },
		{ NULL, OPT_STR, NULL }
	};

	if ((rv = pki_getopt("inspect", argc, argv, opts, 1, 1)) != 0)
		return rv;
	rv = 1;
	/* A CRL is recognised by its PEM label; everything else is a cert. */
	if ((buf = read_file_bounded(argv[optind], PKI_MAX_FILE, &len)) != NULL &&
	    memmem(buf, len, "-----BEGIN X509 CRL-----", 24) != NULL) {
		if ((crl = pki_load_crl(argv[optind], err, sizeof(err))) == NULL)
			goto fail;
		o = crl_facts(crl);
	} else {
		if ((x = pki_load_cert(argv[optind], err, sizeof(err))) == NULL)
			goto fail;
		o = cert_facts(x);
	}
	if (o == NULL) {
		log_warnx("%s: cannot describe it", argv[optind]);
		goto out;
	}
	if (json) {
		if ((text = json_dumps(o, JSON_INDENT(2))) == NULL) {
			log_warnx("cannot encode JSON");
			goto out;
		}
		printf("%s\n", text);
		free(text);
	} else {
		printf("%-16s%s\n", "File:", argv[optind]);
		if (crl != NULL)
			print_crl(o);
		else
			print_cert(o);
	}
	rv = 0;
	goto out;
 fail:
	log_warnx("%s", err);
 out:
	free(buf);
	json_decref(o);
	X509_free(x);
	X509_CRL_free(crl);
	return rv;
}

/* --- verify ------------------------------------------------------------- */

static int
pki_verify_cmd(int argc, char **argv)
{
	const char *capath = NULL, *crlpath = NULL, *keypath = NULL;
	const char *name = NULL, *purpose_arg = NULL, *file;
	enum pki_purpose purpose = PKI_PURPOSE_ANY;
	enum pki_verdict v;
	struct pki_trust *trust = NULL;
	char err[512], reason[512];
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int rv = 1;
	const struct pki_opt opts[] = {
		{ "ca", OPT_STR, &capath },
		{ "crl", OPT_STR, &crlpath },
		{ "key", OPT_STR, &keypath },
		{ "name", OPT_STR, &name },
		{ "purpose", OPT_STR, &purpose_arg },
		{ NULL, OPT_STR, NULL }
	};

	if ((rv = pki_getopt("verify", argc, argv, opts, 1, 1)) != 0)
		return rv;
	rv = 1;
	if (purpose_arg == NULL || strcmp(purpose_arg, "any") == 0)
		purpose = PKI_PURPOSE_ANY;
	else if (strcmp(purpose_arg, "server") == 0)
		purpose = PKI_PURPOSE_SERVER;
	else if (strcmp(purpose_arg, "client") == 0)
		purpose = PKI_PURPOSE_CLIENT;
	else
		return usage("verify");
	if (capath == NULL)
		return usage("verify");
	file = argv[optind];
	if ((trust = pki_trust_load(capath, crlpath, err, sizeof(err))) == NULL ||
	    (x = pki_load_cert(file, err, sizeof(err))) == NULL ||
	    (keypath != NULL && (key = pki_load_key(keypath, err,
	    sizeof(err))) == NULL)) {
		log_warnx("%s", err);
		goto out;
	}
	v = pki_verify(trust, x, purpose, name, 0, reason, sizeof(reason));
	if (v != PKI_OK) {
		printf("%s: verification failed: %s: %s\n", file,
		    pki_verdict_name(v), reason);
		goto out;
	}
	if (key != NULL && !pki_key_matches_cert(key, x)) {
		printf("%s: verification failed: key-mismatch: %s does not "
		    "match the certificate's public key\n", file, keypath);
		goto out;
	}
	printf("%s: OK\n", file);
	rv = 0;
 out:
	EVP_PKEY_free(key);
	X509_free(x);
	pki_trust_free(trust);
	return rv;
}

/* --- revoke, crl -------------------------------------------------------- */

static int
pki_revoke(int argc, char **argv)
{
	struct ca ca;
	const char *dir = NULL, *serial_arg = NULL;
	char serial[128], err[512], when[32];
	X509 *x = NULL;
	json_t *e;
	int rv = 1;
	const struct pki_opt opts[] = {
		{ "dir", OPT_STR, &dir },
		{ "serial", OPT_STR, &serial_arg },
		{ NULL, OPT_STR, NULL }
	};

	memset(&ca, 0, sizeof(ca));
	ca.lockfd = -1;
	if ((rv = pki_getopt("revoke", argc, argv, opts, 0, 1)) != 0)
		return rv;
	rv = 1;
	/* A serial or a certificate file, not both. */
	if (dir == NULL || (serial_arg == NULL) == (optind == argc))
		return usage("revoke");
	if (ca_open(&ca, dir) == -1)
		goto out;
	if (serial_arg != NULL) {
		if (normalize_serial(serial_arg, serial, sizeof(serial)) == -1) {
			log_warnx("bad serial \"%s\": give it in hex", serial_arg);
			goto out;
		}
	} else {
		if ((x = pki_load_cert(argv[optind], err, sizeof(err))) == NULL) {
			log_warnx("%s", err);
			goto out;
		}
		/* Only this CA's certificates: the serial alone could collide. */
		if (X509_verify(x, X509_get0_pubkey(ca.cert)) != 1) {
			ERR_clear_error();
			log_warnx("%s was not issued by the CA in %s",
			    argv[optind], dir);
			goto out;
		}
		if (pki_serial_hex(X509_get0_serialNumber(x), serial,
		    sizeof(serial)) == -1) {
			log_warnx("%s: bad serial", argv[optind]);
			goto out;
		}
	}
	if ((e = index_find(&ca, serial)) == NULL) {
		log_warnx("serial %s was not issued by the CA in %s (not in "
		    "index.json)", serial, dir);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(e, "status")) ?
	    json_string_value(json_object_get(e, "status")) : "",
	    "revoked") == 0) {
		printf("serial %s (%s) was already revoked at %s\n", serial,
		    json_string_value(json_object_get(e, "name")),
		    json_string_value(json_object_get(e, "revoked_at")));
	} else {
		iso_time(time(NULL), when, sizeof(when));
		if (json_object_set_new(e, "status", json_string("revoked")) ==
		    -1 || json_object_set_new(e, "revoked_at",
		    json_string(when)) == -1) {
			log_warnx("cannot update the index");
			goto out;
		}
		printf("revoked serial %s (%s)\n", serial,
		    json_string_value(json_object_get(e, "name")));
	}
	/* A revocation is only effective once it is in the published CRL. */
	if (ca_write_crl(&ca, CRL_DAYS_DEFAULT) == -1)
		goto out;
	rv = 0;
 out:
	X509_free(x);
	ca_close(&ca);
	return rv;
}

static int
pki_crl(int argc, char **argv)
{
	struct ca ca;
	const char *dir = NULL;
	long long days = CRL_DAYS_DEFAULT;
	int rv = 1;
	const struct pki_opt opts[] = {
		{ "days", OPT_DAYS, &days },
		{ "dir", OPT_STR, &dir },
		{ NULL, OPT_STR, NULL }
	};

	memset(&ca, 0, sizeof(ca));
	ca.lockfd = -1;
	if ((rv = pki_getopt("crl", argc, argv, opts, 0, 0)) != 0)
		return rv;
	rv = 1;
	if (dir == NULL)
		return usage("crl");
	if (ca_open(&ca, dir) == 0 && ca_write_crl(&ca, days) == 0)
		rv = 0;
	ca_close(&ca);
	return rv;
}
