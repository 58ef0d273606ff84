/*
 * mariadb.c: a private MariaDB server for the tests (see mariadb.h).
 */
#include "mariadb.h"

#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#include "testutil.h"

#define START_TIMEOUT_S	60
#define STOP_TIMEOUT_S	30

static const char *
find_prog(const char *const *names)
{
	static const char *const dirs[] = { "/usr/sbin", "/usr/bin",
	    "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin" };
	static char path[PATH_MAX];
	size_t i, k;

	for (k = 0; names[k] != NULL; k++)
		for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", dirs[i],
			    names[k]);
			if (access(path, X_OK) == 0)
				return path;
		}
	return NULL;
}

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int s, port = -1;

	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(s);
	return port;
}

static void
show_log(const struct tu_db *db)
{
	char *text;
	size_t len;

	if ((text = tu_read(db->log, &len)) == NULL)
		return;
	/* The end holds the reason; a long log is mostly start-up notes. */
	fprintf(stderr, "--- %s (last part) ---\n%s\n---\n", db->log,
	    len > 4000 ? text + len - 4000 : text);
	free(text);
}

static MYSQL *
root_connect(const struct tu_db *db, const char *database, int quiet)
{
	MYSQL *m;
	unsigned int timeout = 5, proto = MYSQL_PROTOCOL_SOCKET;

	if ((m = mysql_init(NULL)) == NULL)
		return NULL;
	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
	if (mysql_real_connect(m, NULL, "root", "", database, 0, db->sock,
	    0) == NULL) {
		if (!quiet)
			fprintf(stderr, "tu_db: connect as root: %s\n",
			    mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

/* Reap the server if it exited; returns 1 when it is gone. */
static int
server_gone(struct tu_db *db, int *status)
{
	pid_t r;

	if (db->pid <= 0)
		return 1;
	r = waitpid(db->pid, status, WNOHANG);
	if (r == db->pid || (r == -1 && errno == ECHILD)) {
		db->pid = -1;
		return 1;
	}
	return 0;
}

static int
launch(struct tu_db *db)
{
	static const char *const names[] = { "mariadbd", "mysqld", NULL };
	const char *prog;
	char a_datadir[PATH_MAX + 16], a_sock[160], a_port[32],
	    a_pid[PATH_MAX + 16], a_log[PATH_MAX + 16], a_tmp[PATH_MAX + 16];
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	time_t deadline;
	MYSQL *m;
	int st = 0, fd;
	pid_t pid;

	if ((prog = find_prog(names)) == NULL) {
		fprintf(stderr, "tu_db: mariadbd not found (make deps installs "
		    "mariadb-server)\n");
		return -1;
	}
	snprintf(a_datadir, sizeof(a_datadir), "--datadir=%s", db->datadir);
	snprintf(a_sock, sizeof(a_sock), "--socket=%s", db->sock);
	snprintf(a_port, sizeof(a_port), "--port=%d", db->port);
	snprintf(a_pid, sizeof(a_pid), "--pid-file=%s/mariadbd.pid", db->dir);
	snprintf(a_log, sizeof(a_log), "--log-error=%s", db->log);
	snprintf(a_tmp, sizeof(a_tmp), "--tmpdir=%s", db->dir);
	{
		const char *argv[] = { prog, "--no-defaults", a_datadir, a_sock,
		    a_port, "--bind-address=127.0.0.1", a_pid, a_log, a_tmp,
		    "--skip-name-resolve", "--skip-log-bin",
		    "--innodb-buffer-pool-size=32M",
		    "--innodb-flush-log-at-trx-commit=2",
		    /* io_uring/libaio may be refused inside containers. */
		    "--innodb-use-native-aio=0",
		    "--character-set-server=utf8mb4",
		    "--collation-server=utf8mb4_unicode_ci",
		    "--max-connections=64",
		    geteuid() == 0 ? "--user=root" : NULL, NULL };

		if ((pid = fork()) == -1) {
			fprintf(stderr, "tu_db: fork: %s\n", strerror(errno));
			return -1;
		}
		if (pid == 0) {
			/* Never outlive a crashed test. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if ((fd = open("/dev/null", O_RDWR)) != -1) {
				dup2(fd, 0);
				dup2(fd, 1);
			}
			/* What it says before opening its log goes there. */
			if ((fd = open(db->log, O_WRONLY | O_APPEND | O_CREAT,
			    0600)) != -1)
				dup2(fd, 2);
			closefrom(3);
			setpgid(0, 0);
			execv(prog, (char *const *)argv);
			fprintf(stderr, "tu_db: exec %s: %s\n", prog,
			    strerror(errno));
			_exit(127);
		}
	}
	db->pid = pid;
	deadline = time(NULL) + START_TIMEOUT_S;
	while (time(NULL) < deadline) {
		if (server_gone(db, &st)) {
			fprintf(stderr, "tu_db: mariadbd exited (status %d) "
			    "during start-up\n", st);
			show_log(db);
			return -1;
		}
		if ((m = root_connect(db, NULL, 1)) != NULL) {
			mysql_close(m);
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "tu_db: mariadbd not ready after %d s\n",
	    START_TIMEOUT_S);
	show_log(db);
	(void)tu_db_halt(db);
	return -1;
}

static int
root_exec(MYSQL *m, const char *sql)
{
	if (mysql_query(m, sql) != 0) {
		fprintf(stderr, "tu_db: %s: %s\n", sql, mysql_error(m));
		return -1;
	}
	return 0;
}

static int
provision(struct tu_db *db)
{
	MYSQL *m;
	char sql[512], conf[512];
	uint8_t rnd[16];
	int fd, n, rv = -1;
	static const char hosts[][16] = { "127.0.0.1", "localhost" };

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(db->password + 2 * i, 3, "%02x", rnd[i]);
	if ((m = root_connect(db, NULL, 0)) == NULL)
		return -1;
	if (root_exec(m, "CREATE DATABASE " TU_DB_NAME " CHARACTER SET utf8mb4 "
	    "COLLATE utf8mb4_unicode_ci") == -1)
		goto done;
	for (size_t i = 0; i < 2; i++) {
		snprintf(sql, sizeof(sql), "CREATE USER '" TU_DB_USER "'@'%s' "
		    "IDENTIFIED BY '%s'", hosts[i], db->password);
		if (root_exec(m, sql) == -1)
			goto done;
		snprintf(sql, sizeof(sql), "GRANT ALL PRIVILEGES ON "
		    TU_DB_NAME ".* TO '" TU_DB_USER "'@'%s'", hosts[i]);
		if (root_exec(m, sql) == -1)
			goto done;
	}
	n = snprintf(conf, sizeof(conf), "# written by tests/lib/mariadb.c\n"
	    "host = 127.0.0.1\nport = %d\nuser = " TU_DB_USER "\n"
	    "password = %s\ndatabase = " TU_DB_NAME "\n", db->port,
	    db->password);
	if ((fd = open(db->conf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1 || write(fd, conf, (size_t)n) != n || close(fd) != 0) {
		fprintf(stderr, "tu_db: %s: %s\n", db->conf, strerror(errno));
		goto done;
	}
	rv = 0;
 done:
	mysql_close(m);
	return rv;
}

int
tu_db_start(struct tu_db *db)
{
	static const char *const names[] = { "mariadb-install-db",
	    "mysql_install_db", NULL };
	const char *prog;
	char a_datadir[PATH_MAX + 16];
	struct tu_result r;
	int attempt;

	memset(db, 0, sizeof(*db));
	db->pid = -1;
	db->dir = tu_mkdtemp("mariadb");
	if (snprintf(db->sock, sizeof(db->sock), "%s/mysql.sock", db->dir) >=
	    (int)sizeof(db->sock)) {
		fprintf(stderr, "tu_db: %s: too long for a socket path; set "
		    "TMPDIR shorter\n", db->dir);
		return -1;
	}
	snprintf(db->datadir, sizeof(db->datadir), "%s/data", db->dir);
	snprintf(db->conf, sizeof(db->conf), "%s/db.conf", db->dir);
	snprintf(db->log, sizeof(db->log), "%s/mariadbd.log", db->dir);
	if ((prog = find_prog(names)) == NULL) {
		fprintf(stderr, "tu_db: mariadb-install-db not found "
		    "(make deps installs mariadb-server)\n");
		return -1;
	}
	snprintf(a_datadir, sizeof(a_datadir), "--datadir=%s", db->datadir);
	{
		const char *argv[] = { prog, "--no-defaults", a_datadir,
		    "--auth-root-authentication-method=normal",
		    "--skip-test-db", "--skip-name-resolve",
		    geteuid() == 0 ? "--user=root" : NULL, NULL };

		char *oldtmp = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) :
		    NULL;
		int rc;

		/*
		 * The bootstrap server's temporary tables go to TMPDIR: a
		 * private one, so that suites started together don't collide
		 * on /tmp/#sql-temptable-*.
		 */
		setenv("TMPDIR", db->dir, 1);
		rc = tu_run(&r, NULL, 120, argv);
		if (oldtmp != NULL)
			setenv("TMPDIR", oldtmp, 1);
		else
			unsetenv("TMPDIR");
		free(oldtmp);
		if (rc != 0) {
			fprintf(stderr, "tu_db: %s failed (status %d):\n"
			    "%s\n%s\n", prog, r.status, r.out, r.err);
			tu_result_free(&r);
			return -1;
		}
		tu_result_free(&r);
	}
	/* A port picked free may be taken before the server binds it. */
	for (attempt = 0; attempt < 3; attempt++) {
		if ((db->port = free_port()) == -1) {
			fprintf(stderr, "tu_db: no free port\n");
			return -1;
		}
		if (launch(db) == 0)
			return provision(db);
	}
	return -1;
}

int
tu_db_halt(struct tu_db *db)
{
	time_t deadline;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int st;

	if (db->pid <= 0)
		return 0;
	kill(db->pid, SIGTERM);
	deadline = time(NULL) + STOP_TIMEOUT_S;
	while (!server_gone(db, &st)) {
		if (time(NULL) >= deadline) {
			fprintf(stderr, "tu_db: mariadbd ignored SIGTERM; "
			    "killing it\n");
			kill(db->pid, SIGKILL);
			while (waitpid(db->pid, &st, 0) == -1 && errno == EINTR)
				;
			db->pid = -1;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

int
tu_db_resume(struct tu_db *db)
{
	if (db->pid > 0)
		return 0;
	return launch(db);
}

int
tu_db_restart(struct tu_db *db)
{
	if (tu_db_halt(db) == -1)
		return -1;
	return tu_db_resume(db);
}

void
tu_db_stop(struct tu_db *db)
{
	(void)tu_db_halt(db);
	if (db->dir != NULL) {
		tu_rmrf(db->dir);
		free(db->dir);
	}
	explicit_bzero(db->password, sizeof(db->password));
	db->dir = NULL;
}

int
tu_db_exec(struct tu_db *db, const char *fmt, ...)
{
	va_list ap;
	char *sql;
	MYSQL *m;
	int rv;

	va_start(ap, fmt);
	if (vasprintf(&sql, fmt, ap) == -1)
		abort();
	va_end(ap);
	if ((m = root_connect(db, TU_DB_NAME, 0)) == NULL) {
		free(sql);
		return -1;
	}
	rv = root_exec(m, sql);
	mysql_close(m);
	free(sql);
	return rv;
}

char *
tu_db_query(struct tu_db *db, const char *fmt, ...)
{
	va_list ap;
	char *sql, *out = NULL;
	MYSQL *m;
	MYSQL_RES *res;
	MYSQL_ROW row;

	va_start(ap, fmt);
	if (vasprintf(&sql, fmt, ap) == -1)
		abort();
	va_end(ap);
	if ((m = root_connect(db, TU_DB_NAME, 0)) == NULL) {
		free(sql);
		return NULL;
	}
	if (root_exec(m, sql) == 0) {
		if ((res = mysql_store_result(m)) == NULL)
			fprintf(stderr, "tu_db: %s: no result\n", sql);
		else {
			row = mysql_fetch_row(res);
			if (row == NULL)
				out = strdup("");
			else
				out = strdup(row[0] != NULL ? row[0] : "NULL");
			mysql_free_result(res);
		}
	}
	mysql_close(m);
	free(sql);
	return out;
}
