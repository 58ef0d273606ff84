/*
 * fuzz_dbconf.c: the database credentials file parser, dbconf_load()
 * (common/dbconf.c), which authd runs as root before anything else.
 *
 * dbconf_load() takes a path (it checks the file's owner and mode before
 * reading), so each input is written to a 0600 file in a private
 * temporary directory made at set-up and removed at exit.
 *
 * Properties: a success has a user, a database, exactly one of host and
 * socket (an absolute path), a port within 0..65535, every string
 * terminated within its field; a failure leaves the struct wiped (it may
 * have held part of the password); the same file gives the same result.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbconf.h"
#include "fuzz.h"

static char dbconf_fz_dir[512], dbconf_fz_path[600];

static void
dbconf_fz_cleanup(void)
{
	if (dbconf_fz_path[0] != '\0')
		unlink(dbconf_fz_path);
	if (dbconf_fz_dir[0] != '\0')
		rmdir(dbconf_fz_dir);
}

static int
dbconf_fz_init(void)
{
	const char *tmp = getenv("TMPDIR");

	if (dbconf_fz_dir[0] != '\0')
		return 0;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(dbconf_fz_dir, sizeof(dbconf_fz_dir), "%s/sc-fuzz-db.XXXXXX",
	    tmp);
	if (mkdtemp(dbconf_fz_dir) == NULL) {
		dbconf_fz_dir[0] = '\0';
		return -1;
	}
	snprintf(dbconf_fz_path, sizeof(dbconf_fz_path), "%s/db.conf",
	    dbconf_fz_dir);
	return atexit(dbconf_fz_cleanup) == 0 ? 0 : -1;
}

static int
dbconf_fz_write(const uint8_t *data, size_t size)
{
	int fd, rc = -1;

	if ((fd = open(dbconf_fz_path, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600)) == -1)
		return -1;
	if (size == 0 || write(fd, data, size) == (ssize_t)size)
		rc = 0;
	close(fd);
	return rc;
}

static int
dbconf_fz_zero(const struct dbconf *c)
{
	const uint8_t *p = (const uint8_t *)c;
	size_t i;

	for (i = 0; i < sizeof(*c); i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static void
dbconf_fz_valid(const struct dbconf *c)
{
	FUZZ_CHECK(memchr(c->host, '\0', sizeof(c->host)) != NULL &&
	    memchr(c->socket, '\0', sizeof(c->socket)) != NULL &&
	    memchr(c->user, '\0', sizeof(c->user)) != NULL &&
	    memchr(c->password, '\0', sizeof(c->password)) != NULL &&
	    memchr(c->database, '\0', sizeof(c->database)) != NULL);
	FUZZ_CHECK(c->user[0] != '\0' && c->database[0] != '\0');
	FUZZ_CHECK((c->host[0] != '\0') != (c->socket[0] != '\0'));
	FUZZ_CHECK(c->socket[0] == '\0' || c->socket[0] == '/');
	FUZZ_CHECK(c->port <= 65535);
}

static int
dbconf_fz_one(const uint8_t *data, size_t size)
{
	static struct dbconf a, b;
	int rc, rc2;

	if (size > DBCONF_MAX_FILE + 16 || dbconf_fz_write(data, size) == -1)
		return 0;
	rc = dbconf_load(dbconf_fz_path, &a);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0)
		dbconf_fz_valid(&a);
	else
		FUZZ_CHECK(dbconf_fz_zero(&a));
	rc2 = dbconf_load(dbconf_fz_path, &b);
	FUZZ_CHECK(rc2 == rc && memcmp(&a, &b, sizeof(a)) == 0);
	dbconf_clear(&a);
	dbconf_clear(&b);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(dbconf_fz_init, dbconf_fz_one)
#endif
