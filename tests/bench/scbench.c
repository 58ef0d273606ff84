/*
 * scbench.c: `make bench`.  Measures a whole, real SecureChat installation
 * (tests/lib/scenv.c: CA and certificates from sc-admin, a private
 * MariaDB, securechatd with its keyd, authd and session workers,
 * privilege separation as root) on loopback, and in the same run the
 * machine's own ceilings for the same work, and prints one table with the
 * ratios (docs/PERFORMANCE.md explains each line).
 *
 *   handshake rate    csession_open() (CLIENT_HELLO..CLIENT_FINISH, close)
 *                     from N concurrent clients, vs TLS 1.3 with mutual
 *                     certificates against `openssl s_server -Verify 1`
 *                     with the very same CA, certificates and keys, driven
 *                     by a libssl client in this program (libssl is used
 *                     by the benchmark only, never by the product).
 *   login rate        handshake + LOGIN under the configured scrypt
 *                     (N=2^17, r=8, p=1), vs raw EVP_PBE_scrypt with the
 *                     same parameters on every core.
 *   echo              CHAT round trips in 1 and in 16 sessions, vs the
 *                     RSA-2048 ceiling from `openssl speed`.
 *   relay             100 users online, 50 pairs exchanging end-to-end
 *                     envelopes through worker, authd (MariaDB), router:
 *                     messages delivered/s at a fixed load and saturated,
 *                     p50/p99 from send to envelope opened, vs the RSA
 *                     cost of a message from `openssl speed`.
 *   sessions held     1,000 logged-in sessions; Private_Dirty per worker
 *                     from /proc/PID/smaps_rollup.
 *   start-up          exec to listening, to first handshake, to first echo.
 *
 * Every timed run also records the CPU time each part used (load
 * generators, workers, master, keyd, authd, MariaDB, s_server) from
 * /proc and getrusage: per operation, that says which process limits a
 * figure, and it stays meaningful when the machine is shared and busy.
 * `scbench -C cadir`, run in a fresh process, times the first use of
 * what a session worker needs (the cold-start cost of each session).
 *
 * A benchmark, not a test: it exits 0 whenever it could measure, whatever
 * the figures; it exits 1 only when the installation could not be set up.
 * Usage: scbench [-q] [-o results.md] [-n sessions] [-P phases] [-T secs]
 *   -q  short runs, 100 sessions held (checks the harness in a minute)
 *   -P  only these phases: cold,startup,kdf,hs,speed,echo,relay,held
 *   -T  every timed run this long (for profiling with perf)
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>

#include "csession.h"
#include "envelope.h"
#include "pki.h"
#include "proto.h"
#include "sandbox.h"
#include "sccrypto.h"
#include "scenv.h"
#include "testutil.h"
#include "util.h"

#define MAX_CHILDREN	32
#define LAT_CAP		200000		/* latencies kept per child */
#define READY_TIMEOUT_S	600		/* 1,000 logins on a busy machine */
#define BENCH_USER_KDF	"kdfbench"
#define BENCH_USER_FAST	"fastbench"
#define BENCH_PASSWORD	"bench-password-0123"
#define ECHO_TEXT	"benchmark message 0123456789abcdef"
#define KDF_LOG2N	17		/* the shipped default (conf.c) */
#define KDF_R		8
#define KDF_P		1
#define FAST_LOG2N	10		/* the lowest conf.c accepts */
#define STARTS		3		/* start-up samples (median shown) */
#define COLD_RUNS	7		/* cold-start probes (median shown) */

/* What a fresh worker pays the first time (scbench -C), in this order. */
static const char *const cold_names[] = {
	"OpenSSL init (no openssl.cnf)", "CA load (pki_trust_load)",
	"certificate load", "first X25519 keygen", "next X25519 keygen",
	"first chain check (pki_verify)", "first RSA verify",
	"first HKDF + AES", "seccomp filter (sandbox_apply)",
};
#define COLD_N	(sizeof(cold_names) / sizeof(cold_names[0]))

struct slot {
	uint64_t	 ok;
	uint64_t	 fail;
	uint64_t	 aux;		/* held sessions: echoes answered;
					   relay: deliveries in all */
	uint64_t	 sent;		/* relay: SEND accepted (SENT 0) */
	uint64_t	 status;	/* relay: STATUS delivered received */
	uint64_t	 late;		/* relay: sends behind the schedule */
	double		 sent_lat;	/* relay: sum of send to SENT, s */
	double		 t_end;		/* last completion (monotonic s) */
	double		 cpu;		/* CPU s from the start to the end */
	int		 setup_failed;
	int		 err_code;
	char		 err[256];
	uint32_t	 nlat;
};

struct shared {
	double		 start;
	double		 deadline;
	struct slot	 slot[MAX_CHILDREN];
};

struct bench;
struct child;
typedef int (*setup_fn)(struct bench *, struct child *);
typedef int (*step_fn)(struct bench *, struct child *);
typedef void (*teardown_fn)(struct bench *, struct child *);
typedef void (*between_fn)(struct bench *, void *);

/* One forked load generator: its shared slot and private state. */
struct child {
	int		 idx;
	struct slot	*slot;
	float		*lat;		/* LAT_CAP microsecond latencies */
	void		*arg;
	SSL_CTX		*tls;
	struct csession	**cs;
	size_t		 ncs;
	void		*priv;		/* the phase's own state */
};

/* CPU seconds used so far, per part of the installation. */
struct cpu {
	double		 workers;	/* reaped by the master */
	double		 master, keyd, authd, router, db, tls;
	double		 gens;		/* the load generators (their own) */
	double		 wall;
};

struct run {
	struct cpu	 cpu;		/* used during the run */
	unsigned int	 n;
	double		 secs;
	uint64_t	 ok, fail, aux;
	uint64_t	 sent, status, late;	/* relay */
	double		 sent_lat_ms;		/* relay: mean send to SENT */
	double		 stmts;			/* relay: SQL executed */
	double		 elapsed;
	double		 rate;
	double		 ready_at;	/* when every child was ready */
	char		 err[320];
	unsigned int	 setup_failed;
	double		 p50_ms, p99_ms, mean_ms;
};

struct startup {
	double		 listen_ms, hs_ms, echo_ms;
	int		 ok;
};

struct memsum {
	unsigned int	 n, n_keyd, n_authd;
	double		 pd_mean_kb, pd_max_kb, pss_mean_kb, rss_mean_kb;
	double		 pd_total_kb;
	long		 keyd_pd, authd_pd, master_pd, zygote_pd;
	long		 keyd_rss, authd_rss, master_rss;
	double		 sd_mean_kb;	/* Shared_Dirty (pages shared by fork) */
};

struct bench {
	struct scenv	 e;
	int		 quick;
	double		 secs;		/* -T: every timed run this long */
	const char	*phases;	/* -P: comma-separated, NULL = all */
	int		 ncpu;
	unsigned int	 held_target;
	struct shared	*sh;
	float		*lat;		/* MAX_CHILDREN * LAT_CAP */
	const char	*user;		/* account the load generators use */
	int		 tls_port;
	pid_t		 tls_pid;

	/* Results. */
	char		 cpu[128], kernel[256], ossl[128];
	char		 load_begin[64], load_end[64];	/* /proc/loadavg */
	double		 rsa_sign1, rsa_verify1, rsa_signN, rsa_verifyN;
	double		 scrypt1, scryptN;
	struct startup	 st_kdf[STARTS], st_fast;
	struct run	 login[2];
	unsigned int	 hs_conc[3];
	struct run	 hs_ours[3], hs_tls[3];
	struct run	 echo1, echo16;
	struct run	 scrypt_run1;		/* raw KDF, one process */
	unsigned int	 held;
	char		 held_err[320];
	double		 held_open_s;
	uint64_t	 held_echoed;
	struct memsum	 mem;
	struct run	 relay_fixed, relay_sat;
	double		 relay_certs_s;		/* issuing 100 certificates */
	double		 relay_setup_s;		/* registering 100 users */
	char		 relay_err[320];
	int		 relay_ran;
	char		 fsinfo[128];
	double		 exec_true_ms, exec_sc_ms;	/* fork+exec+exit */
	double		 cold[COLD_N];		/* -C medians, ms */
	int		 have_cold;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Progress on stderr, so that a long run shows where it is. */
static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static double
dur(const struct bench *b, double full, double quick)
{
	if (b->secs > 0)
		return b->secs;
	return b->quick ? quick : full;
}

/* Is phase selected by -P (all are by default)? */
static int
want(const struct bench *b, const char *phase)
{
	const char *p = b->phases;
	size_t n = strlen(phase);

	if (p == NULL)
		return 1;
	while ((p = strstr(p, phase)) != NULL) {
		if ((p == b->phases || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ','))
			return 1;
		p += n;
	}
	return 0;
}

/* ---- machine ---- */

static void
machine_info(struct bench *b)
{
	struct utsname u;
	FILE *f;
	char line[512], *p;

	strlcpy(b->cpu, "?", sizeof(b->cpu));
	if ((f = fopen("/proc/cpuinfo", "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "model name", 10) == 0 &&
			    (p = strchr(line, ':')) != NULL) {
				p += 1 + strspn(p + 1, " \t");
				p[strcspn(p, "\n")] = '\0';
				strlcpy(b->cpu, p, sizeof(b->cpu));
				break;
			}
		fclose(f);
	}
	if (uname(&u) == 0)
		snprintf(b->kernel, sizeof(b->kernel), "%s %s %s", u.sysname,
		    u.release, u.machine);
	strlcpy(b->ossl, OpenSSL_version(OPENSSL_VERSION), sizeof(b->ossl));
	b->ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (b->ncpu < 1)
		b->ncpu = 1;
	if (b->ncpu > 16)
		b->ncpu = 16;
}

/*
 * `openssl speed [-multi n] -seconds s rsa2048`: the last "rsa 2048 bits"
 * line holds sign/s and verify/s (summed over the processes with -multi).
 */
static int
openssl_speed(int multi, int secs, double *sign, double *verify)
{
	struct tu_result r;
	char *line, *save = NULL;
	int rc, found = 0;

	*sign = *verify = 0;
	if (multi > 1)
		rc = tu_sh(&r, NULL, "openssl speed -multi %d -seconds %d "
		    "rsa2048 2>&1", multi, secs);
	else
		rc = tu_sh(&r, NULL, "openssl speed -seconds %d rsa2048 2>&1",
		    secs);
	for (line = strtok_r(r.out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		double ts, tv, s, v;

		if (sscanf(line, "rsa 2048 bits %lfs %lfs %lf %lf", &ts, &tv,
		    &s, &v) == 4) {
			*sign = s;
			*verify = v;
			found = 1;
		}
	}
	if (rc != 0 || !found)
		say("openssl speed failed (%d): %s", rc, r.out);
	tu_result_free(&r);
	return found ? 0 : -1;
}

/* The 1, 5 and 15 minute load averages: was the machine shared? */
static void
loadavg(char *buf, size_t len)
{
	FILE *f;
	double a = 0, b = 0, c = 0;

	snprintf(buf, len, "?");
	if ((f = fopen("/proc/loadavg", "r")) == NULL)
		return;
	if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
		snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
	fclose(f);
}

/* Filesystem of the transcript directory: fdatasync cost depends on it. */
static void
fs_info(struct bench *b)
{
	struct tu_result r;

	strlcpy(b->fsinfo, "?", sizeof(b->fsinfo));
	if (tu_sh(&r, NULL, "df -PT '%s' | awk 'NR==2 {print $2 \" on \" "
	    "$1}'", b->e.transcripts) == 0) {
		r.out[strcspn(r.out, "\n")] = '\0';
		if (r.out[0] != '\0')
			strlcpy(b->fsinfo, r.out, sizeof(b->fsinfo));
	}
	tu_result_free(&r);
}

/* ---- forked load generators ---- */

static int
write_byte(int fd)
{
	char c = 'r';

	for (;;) {
		ssize_t n = write(fd, &c, 1);

		if (n == 1)
			return 0;
		if (n == -1 && errno == EINTR)
			continue;
		return -1;
	}
}

static void
slot_error(struct slot *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keep the first error a child saw: it explains the rest. */
static void
slot_error(struct slot *s, int code, const char *fmt, ...)
{
	va_list ap;

	if (s->err[0] != '\0')
		return;
	s->err_code = code;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

static int
cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static double
pct(const float *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(p / 100.0 * (double)n);
	if (k < 1)
		k = 1;
	return v[k - 1];
}

/* utime + stime (and with children, cutime + cstime) of pid, seconds. */
static double
proc_cpu(pid_t pid, int children)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0, cut = 0, cst = 0;
	FILE *f;
	int ok = 0;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	/* Fields 14-17 follow the parenthesised command name. */
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
	    "%llu %llu %llu", &ut, &st, &cut, &cst) == 4)
		ok = 1;
	fclose(f);
	if (!ok)
		return 0;
	return (double)(children ? cut + cst : ut + st) /
	    (double)sysconf(_SC_CLK_TCK);
}

static pid_t parent_of(pid_t);
static const char *exe_name(pid_t, char *, size_t);

static double
self_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/*
 * The daemon's side: the master itself, the workers it has reaped plus
 * those still running (so that a run counts only what its own sessions
 * used in it), keyd, authd, MariaDB, s_server.  The load generators
 * account for themselves (slot.cpu).
 */
static void
cpu_snap(struct bench *b, struct cpu *c)
{
	DIR *d;
	struct dirent *de;
	char exe[64];

	memset(c, 0, sizeof(*c));
	c->wall = now_s();
	c->db = b->e.have_db ? proc_cpu(b->e.db.pid, 0) : 0;
	c->tls = proc_cpu(b->tls_pid, 0);
	if (b->e.pid <= 0)
		return;
	c->master = proc_cpu(b->e.pid, 0);
	c->workers = proc_cpu(b->e.pid, 1);
	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(de->d_name);

		if (pid <= 0 || parent_of(pid) != b->e.pid)
			continue;
		exe_name(pid, exe, sizeof(exe));
		if (strcmp(exe, "keyd") == 0)
			c->keyd += proc_cpu(pid, 0);
		else if (strcmp(exe, "authd") == 0)
			c->authd += proc_cpu(pid, 0);
		else if (strcmp(exe, "router") == 0)
			c->router += proc_cpu(pid, 0);
		else
			c->workers += proc_cpu(pid, 0);
	}
	closedir(d);
}

static void
cpu_delta(struct cpu *d, const struct cpu *a, const struct cpu *z)
{
	d->workers = z->workers - a->workers;
	d->master = z->master - a->master;
	d->keyd = z->keyd - a->keyd;
	d->authd = z->authd - a->authd;
	d->router = z->router - a->router;
	d->db = z->db - a->db;
	d->tls = z->tls - a->tls;
	d->wall = z->wall - a->wall;
}

/*
 * Fork n children.  Each runs setup (open its sessions, load its keys),
 * says it is ready, waits for everybody, then repeats step until the
 * common deadline (secs after the common start), then teardown.  The
 * parent calls between() once all are ready and before the start.  The
 * rate is completions over the time from the start to the last one.
 */
static void
run_children(struct bench *b, struct run *r, unsigned int n, double secs,
    setup_fn setup, step_fn step, teardown_fn teardown, between_fn between,
    void *arg, void *barg)
{
	int ready[2], go[2], st;
	pid_t pids[MAX_CHILDREN];
	unsigned int i, nready = 0, nlat = 0;
	double t_end = 0, sum = 0, wait_until;
	float *all;
	struct cpu c0, c1;
	char c;

	memset(r, 0, sizeof(*r));
	r->n = n;
	r->secs = secs;
	if (n > MAX_CHILDREN)
		n = r->n = MAX_CHILDREN;
	memset(b->sh, 0, sizeof(*b->sh));
	if (pipe2(ready, O_CLOEXEC) == -1 || pipe2(go, O_CLOEXEC) == -1) {
		snprintf(r->err, sizeof(r->err), "pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	for (i = 0; i < n; i++) {
		if ((pids[i] = fork()) == -1) {
			snprintf(r->err, sizeof(r->err), "fork: %s",
			    strerror(errno));
			n = i;
			break;
		}
		if (pids[i] == 0) {
			struct child ch;
			ssize_t k;

			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(ready[0]);
			close(go[1]);
			memset(&ch, 0, sizeof(ch));
			ch.idx = (int)i;
			ch.slot = &b->sh->slot[i];
			ch.lat = b->lat + (size_t)i * LAT_CAP;
			ch.arg = arg;
			if (setup != NULL && setup(b, &ch) == -1)
				ch.slot->setup_failed = 1;
			if (write_byte(ready[1]) == -1)
				_exit(2);
			/* EOF on go: the parent has set start and deadline. */
			while ((k = read(go[0], &c, 1)) == -1 && errno == EINTR)
				;
			ch.slot->cpu = self_cpu();
			if (!ch.slot->setup_failed && step != NULL)
				while (now_s() < b->sh->deadline)
					if (step(b, &ch) == -1)
						break;
			ch.slot->cpu = self_cpu() - ch.slot->cpu;
			if (teardown != NULL)
				teardown(b, &ch);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	wait_until = now_s() + READY_TIMEOUT_S;
	while (nready < n && now_s() < wait_until) {
		struct pollfd pfd = { ready[0], POLLIN, 0 };
		ssize_t k;

		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if ((k = read(ready[0], &c, 1)) == 1)
			nready++;
		else if (k == 0)
			break;		/* every child died */
	}
	r->ready_at = now_s();
	if (nready < n)
		snprintf(r->err, sizeof(r->err), "only %u of %u load "
		    "generators got ready", nready, n);
	if (between != NULL)
		between(b, barg);
	cpu_snap(b, &c0);
	b->sh->start = now_s();
	b->sh->deadline = b->sh->start + secs;
	close(go[1]);
	for (i = 0; i < n; i++) {
		double limit = b->sh->deadline + 120;

		while (waitpid(pids[i], &st, WNOHANG) == 0) {
			if (now_s() > limit) {
				kill(pids[i], SIGKILL);
				(void)waitpid(pids[i], &st, 0);
				break;
			}
			usleep(20000);
		}
	}
	close(ready[0]);
	/* Let the last workers exit and be reaped before counting. */
	usleep(200000);
	cpu_snap(b, &c1);
	cpu_delta(&r->cpu, &c0, &c1);

	for (i = 0; i < n; i++) {
		struct slot *s = &b->sh->slot[i];

		r->ok += s->ok;
		r->fail += s->fail;
		r->aux += s->aux;
		r->sent += s->sent;
		r->status += s->status;
		r->late += s->late;
		r->sent_lat_ms += s->sent_lat;
		r->setup_failed += (unsigned int)s->setup_failed;
		r->cpu.gens += s->cpu;
		if (s->t_end > t_end)
			t_end = s->t_end;
		if (s->err[0] != '\0' && r->err[0] == '\0')
			snprintf(r->err, sizeof(r->err), "%s", s->err);
		nlat += s->nlat;
	}
	if (r->sent > 0)
		r->sent_lat_ms = r->sent_lat_ms * 1000 / (double)r->sent;
	r->elapsed = t_end > b->sh->start ? t_end - b->sh->start : 0;
	r->rate = r->elapsed > 0 ? (double)r->ok / r->elapsed : 0;
	if (nlat == 0)
		return;
	if ((all = malloc(nlat * sizeof(*all))) == NULL)
		return;
	nlat = 0;
	for (i = 0; i < n; i++) {
		memcpy(all + nlat, b->lat + (size_t)i * LAT_CAP,
		    b->sh->slot[i].nlat * sizeof(*all));
		nlat += b->sh->slot[i].nlat;
	}
	qsort(all, nlat, sizeof(*all), cmp_float);
	for (i = 0; i < nlat; i++)
		sum += all[i];
	r->mean_ms = sum / nlat / 1000.0;
	r->p50_ms = pct(all, nlat, 50) / 1000.0;
	r->p99_ms = pct(all, nlat, 99) / 1000.0;
	free(all);
}

static void
lat_add(struct child *ch, double t0, double t1)
{
	if (ch->slot->nlat < LAT_CAP)
		ch->lat[ch->slot->nlat++] = (float)((t1 - t0) * 1e6);
}

/* ---- SecureChat clients ---- */

/*
 * Options for a session with the certificate and key named who (the CA
 * directory's who.pem and who.key): an account is bound to certificates
 * whose CN is its name (bind_certificates, the default), so each bench
 * account has its own; a bare handshake uses alice's.
 */
/*
 * Each process loads an identity once (csession_ident) and reuses it for
 * every session, as the TLS reference client reuses its SSL_CTX: both
 * sides then pay per handshake only the handshake.  A few names are
 * cached per process; the relay's hundred users load theirs each time.
 */
#define IDENT_CACHE	8
static struct {
	char			 who[32];
	struct csession_ident	*id;
} ident_cache[IDENT_CACHE];

static void
client_opts(struct bench *b, struct csession_opts *o, char *port,
    size_t portlen, const char *who)
{
	struct csession_err err;
	char file[64];
	size_t i;

	snprintf(port, portlen, "%d", b->e.port);
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = port;
	o->ca = scenv_ca_file(&b->e, "ca.pem");
	snprintf(file, sizeof(file), "%s.pem", who);
	o->cert = scenv_ca_file(&b->e, file);
	snprintf(file, sizeof(file), "%s.key", who);
	o->key = scenv_ca_file(&b->e, file);
	o->server_name = "localhost";
	o->timeout_ms = 60000;
	for (i = 0; i < IDENT_CACHE; i++) {
		if (ident_cache[i].id != NULL &&
		    strcmp(ident_cache[i].who, who) == 0) {
			o->ident = ident_cache[i].id;
			return;
		}
		if (ident_cache[i].id == NULL &&
		    strlen(who) < sizeof(ident_cache[i].who)) {
			/* On failure csession_open() reports it. */
			if ((ident_cache[i].id = csession_ident_load(o,
			    &err)) == NULL)
				return;
			strlcpy(ident_cache[i].who, who,
			    sizeof(ident_cache[i].who));
			o->ident = ident_cache[i].id;
			return;
		}
	}
}

/* A handshake as who (alice when NULL); NULL on failure. */
static struct csession *
session_handshake(struct bench *b, const char *who, struct csession_err *err)
{
	struct csession_opts o;
	char port[16];

	client_opts(b, &o, port, sizeof(port), who != NULL ? who : "alice");
	return csession_open(&o, err);
}

/* A handshake, and a login when user is not NULL; NULL on failure. */
static struct csession *
session_open(struct bench *b, const char *user, struct csession_err *err)
{
	struct csession *cs;

	if ((cs = session_handshake(b, user, err)) == NULL)
		return NULL;
	if (user != NULL && csession_login(cs, user, BENCH_PASSWORD) == -1) {
		*err = cs->err;
		csession_free(cs);
		return NULL;
	}
	return cs;
}

static int
echo_once(struct csession *cs)
{
	char buf[SC_MAX_TEXT + 1];
	size_t len;

	if (csession_send_chat(cs, ECHO_TEXT, strlen(ECHO_TEXT)) == -1 ||
	    csession_recv_chat(cs, 60000, buf, sizeof(buf), &len) != 1)
		return -1;
	return 0;
}

static void
note_cs_error(struct child *ch, const struct csession_err *err)
{
	ch->slot->fail++;
	slot_error(ch->slot, err->code, "%s%s: %s", err->remote ?
	    "server said " : "", sc_err_name(err->code), err->reason);
}

/* Handshake rate: open (signed handshake, both certificates), close. */
static int
step_handshake(struct bench *b, struct child *ch)
{
	struct csession_err err;
	struct csession *cs;

	if ((cs = session_open(b, NULL, &err)) == NULL) {
		note_cs_error(ch, &err);
		usleep(2000);
		return 0;
	}
	csession_free(cs);
	ch->slot->ok++;
	ch->slot->t_end = now_s();
	return 0;
}

/* Login rate: handshake, LOGIN (one scrypt in authd), close. */
static int
step_login(struct bench *b, struct child *ch)
{
	struct csession_err err;
	struct csession *cs;
	double t0 = now_s();

	if ((cs = session_open(b, b->user, &err)) == NULL) {
		note_cs_error(ch, &err);
		usleep(20000);
		return 0;
	}
	csession_free(cs);
	ch->slot->ok++;
	ch->slot->t_end = now_s();
	lat_add(ch, t0, ch->slot->t_end);
	return 0;
}

/* Echo: one logged-in session per child, CHAT round trips. */
static int
setup_echo(struct bench *b, struct child *ch)
{
	struct csession_err err;

	if ((ch->cs = calloc(1, sizeof(*ch->cs))) == NULL)
		return -1;
	if ((ch->cs[0] = session_open(b, b->user, &err)) == NULL) {
		note_cs_error(ch, &err);
		return -1;
	}
	ch->ncs = 1;
	/* One warm-up round trip: first-use costs are not throughput. */
	if (echo_once(ch->cs[0]) == -1) {
		note_cs_error(ch, &ch->cs[0]->err);
		return -1;
	}
	return 0;
}

static int
step_echo(struct bench *b, struct child *ch)
{
	double t0 = now_s(), t1;

	(void)b;
	if (echo_once(ch->cs[0]) == -1) {
		note_cs_error(ch, &ch->cs[0]->err);
		return -1;
	}
	t1 = now_s();
	ch->slot->ok++;
	ch->slot->t_end = t1;
	lat_add(ch, t0, t1);
	return 0;
}

static void
teardown_sessions(struct bench *b, struct child *ch)
{
	size_t i;

	(void)b;
	for (i = 0; i < ch->ncs; i++)
		csession_free(ch->cs[i]);
	free(ch->cs);
	ch->cs = NULL;
	ch->ncs = 0;
}

/* Sessions held: this child's share, each logged in and echoed once. */
static int
setup_held(struct bench *b, struct child *ch)
{
	struct csession_err err;
	size_t want = *(const size_t *)ch->arg;

	if ((ch->cs = calloc(want, sizeof(*ch->cs))) == NULL)
		return -1;
	while (ch->ncs < want) {
		struct csession *cs;

		if ((cs = session_open(b, b->user, &err)) == NULL) {
			note_cs_error(ch, &err);
			break;
		}
		ch->cs[ch->ncs++] = cs;
		ch->slot->ok++;
		if (echo_once(cs) == 0)
			ch->slot->aux++;
		else
			note_cs_error(ch, &cs->err);
	}
	ch->slot->t_end = now_s();
	return 0;
}

/*
 * ---- relay: 100 users online, direct messages from user i to i + 50 ----
 *
 * Each load generator process drives its share of the pairs (sender and
 * recipient in the same process) over poll(2), as sc-client does for its
 * one session: the sender fetched the recipient's certificate once (a
 * REQUEST CERTS at setup, then cached as sc-client caches it for a direct
 * conversation), seals each message (envelope_seal: RSA-OAEP to the
 * recipient's certificate, signed by the sender) and sends it; the
 * recipient opens each DELIVER (envelope_open, replay table in memory)
 * and acknowledges it as delivered, which the server reports to the
 * sender in a STATUS.  The send time travels inside the encrypted text
 * (CLOCK_MONOTONIC is one clock for every process of the machine), so the
 * latency is from the sender's send time to the envelope opened.
 */

#define RELAY_USERS	100
#define RELAY_PAIRS	(RELAY_USERS / 2)
#define RELAY_GENS	4	/* generator processes, each with poll(2) */
#define RELAY_TEXT	100	/* bytes of text in each message */
#define RELAY_RATE	100	/* fixed offered load, messages/s in all */
/*
 * Saturated: unacknowledged messages per sender.  One (50 in flight)
 * already saturates two CPUs; more only lengthens the queues.
 */
#define RELAY_WINDOW	2
#define RELAY_DRAIN_S	20	/* after the end, to finish what is in flight */
#define RELAY_STALL_S	10	/* no SENT or STATUS for that long: give up */
#define RELAY_LATE_S	0.050	/* a fixed-load send this late is counted */
#define RELAY_BURST	4	/* events taken from one session in a row */
#define RELAY_REFS	256	/* send times kept per sender, by ref */

/*
 * Private operations (RSA-2048 sign, or OAEP decryption: the same CRT
 * exponentiation) and public ones (verify, OAEP encryption) per message:
 * sender: chain checks of its own and the recipient's certificate (2
 * public), key wrap (1 public), envelope signature, SEND record (2
 * private), SENT and STATUS records (2 public); sender's worker: SEND
 * record, sender chain, envelope signature (3 public); keyd: SENT,
 * DELIVER, STATUS records (3 private); recipient: DELIVER record, sender
 * chain, envelope signature (3 public), unwrap, ACK record (2 private);
 * recipient's worker: ACK record (1 public).  On the path from the send
 * to the envelope opened: 4 private (envelope, SEND, DELIVER, unwrap) and
 * 9 public operations.  The server's share: 3 private, 4 public.
 */
#define RELAY_PRIV	7
#define RELAY_PUB	12
#define RELAY_PATH_PRIV	4
#define RELAY_PATH_PUB	9
/* Of which in the server (keyd, workers): what a deployment pays. */
#define RELAY_SRV_PRIV	3
#define RELAY_SRV_PUB	4

struct relay_cfg {
	int		 reg;		/* register the users (the first run) */
	double		 rate;		/* messages/s per sender; 0: window */
	unsigned int	 window;
};

struct relay_sess {
	unsigned int	 user;
	char		 name[16];
	struct csession	*cs;
	struct env_replay replay;
	int		 dead;
	/* A sender's: its recipient, whose certificate came from CERTS. */
	char		 peer[16];
	X509		*peer_cert;
	uint32_t	 ref;
	unsigned int	 inflight;	/* sent, no STATUS delivered yet */
	double		 next;		/* fixed load: the next send */
	double		 progress;	/* the last SENT or STATUS */
	uint64_t	 seq;
	/* Send times by ref, for send to SENT (refs are consecutive). */
	double		 t_ref[RELAY_REFS];
};

/* One generator: senders in s[0..npairs), their recipients after. */
struct relay_gen {
	struct relay_sess *s;
	size_t		 n, npairs;
	struct pollfd	*pfd;
	struct env_opened *o;
	uint64_t	 attempts, refused, delivered, bad, stale, stalls;
};

static void
relay_name(char *buf, size_t len, unsigned int user)
{
	snprintf(buf, len, "relay%02u", user);
}

/* Handshake with the user's own certificate, then REGISTER or LOGIN. */
static int
relay_open(struct bench *b, struct child *ch, struct relay_sess *s, int reg)
{
	struct csession_opts o;
	struct csession_err err;
	char port[16], email[64];

	client_opts(b, &o, port, sizeof(port), s->name);
	if ((s->cs = csession_open(&o, &err)) == NULL) {
		note_cs_error(ch, &err);
		return -1;
	}
	snprintf(email, sizeof(email), "%s@example.org", s->name);
	if ((reg ? csession_register(s->cs, s->name, email, BENCH_PASSWORD) :
	    csession_login(s->cs, s->name, BENCH_PASSWORD)) == -1) {
		note_cs_error(ch, &s->cs->err);
		return -1;
	}
	return 0;
}

/* REQUEST CERTS for the sender's recipient: exactly one certificate. */
static int
relay_certs_of(struct child *ch, struct relay_sess *s)
{
	struct cs_event ev;
	char err[128], nm[ENV_MAX_NAME + 1];
	double limit = now_s() + 60;
	size_t i;
	int r;

	if (csession_request(s->cs, ++s->ref, SC_OP_CERTS, s->peer) == -1) {
		note_cs_error(ch, &s->cs->err);
		return -1;
	}
	while (now_s() < limit) {
		if ((r = csession_next_event(s->cs, 1000, &ev)) == -1) {
			note_cs_error(ch, &s->cs->err);
			return -1;
		}
		if (r == 0)
			continue;
		if (ev.type != SC_T_REPLY || ev.u.reply.ref != s->ref) {
			csession_event_clear(&ev);
			continue;
		}
		for (i = 0; ev.u.reply.code == 0 && i < ev.u.reply.n; i++) {
			if (ev.u.reply.item[i].namelen >= sizeof(nm))
				continue;
			memcpy(nm, ev.u.reply.item[i].name,
			    ev.u.reply.item[i].namelen);
			nm[ev.u.reply.item[i].namelen] = '\0';
			if (strcmp(nm, s->peer) == 0 && s->peer_cert == NULL)
				s->peer_cert = pki_cert_from_der(
				    ev.u.reply.item[i].data,
				    ev.u.reply.item[i].datalen, err,
				    sizeof(err));
		}
		if (s->peer_cert == NULL)
			slot_error(ch->slot, ev.u.reply.code, "CERTS %s: "
			    "code %s, %u items", s->peer,
			    sc_err_name(ev.u.reply.code), ev.u.reply.n);
		csession_event_clear(&ev);
		return s->peer_cert != NULL ? 0 : -1;
	}
	slot_error(ch->slot, SC_E_TIMEOUT, "CERTS %s: no REPLY", s->peer);
	return -1;
}

static int
setup_relay(struct bench *b, struct child *ch)
{
	const struct relay_cfg *cfg = ch->arg;
	struct relay_gen *g;
	unsigned int p;
	size_t k;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	ch->priv = g;
	for (p = (unsigned int)ch->idx; p < RELAY_PAIRS; p += RELAY_GENS)
		g->npairs++;
	g->n = 2 * g->npairs;
	if ((g->s = calloc(g->n, sizeof(*g->s))) == NULL ||
	    (g->pfd = calloc(g->n, sizeof(*g->pfd))) == NULL ||
	    (g->o = calloc(1, sizeof(*g->o))) == NULL)
		return -1;
	for (k = 0, p = (unsigned int)ch->idx; k < g->npairs;
	    k++, p += RELAY_GENS) {
		g->s[k].user = p;
		g->s[g->npairs + k].user = p + RELAY_PAIRS;
	}
	for (k = 0; k < g->n; k++) {
		struct relay_sess *s = &g->s[k];

		relay_name(s->name, sizeof(s->name), s->user);
		envelope_replay_init(&s->replay);
		g->pfd[k].fd = -1;
	}
	/* Recipients first: a sender asks for a registered user's cert. */
	for (k = g->n; k-- > 0;) {
		if (relay_open(b, ch, &g->s[k], cfg->reg) == -1)
			return -1;
		g->pfd[k].fd = csession_fd(g->s[k].cs);
		g->pfd[k].events = POLLIN;
	}
	for (k = 0; k < g->npairs; k++) {
		relay_name(g->s[k].peer, sizeof(g->s[k].peer),
		    g->s[k].user + RELAY_PAIRS);
		if (relay_certs_of(ch, &g->s[k]) == -1)
			return -1;
	}
	return 0;
}

static void
relay_dead(struct child *ch, struct relay_gen *g, size_t k)
{
	struct relay_sess *s = &g->s[k];

	if (s->dead)
		return;
	note_cs_error(ch, &s->cs->err);
	s->dead = 1;
	g->pfd[k].fd = -1;
}

/*
 * Seal one message for the sender's recipient and send it; t_send is the
 * time the latency counts from (the schedule under a fixed load, else
 * now, before sealing).
 */
static void
relay_send(struct child *ch, struct relay_gen *g, size_t k, double t_send)
{
	struct relay_sess *s = &g->s[k];
	struct env_identity me = { s->name, s->cs->cert, s->cs->key };
	struct env_rcpt_in rc = { s->peer, s->peer_cert };
	char text[RELAY_TEXT + 1], reason[256];
	struct wbuf out;
	uint64_t counter;
	int n, code;

	/* The send time travels inside: the recipient checks nothing else. */
	n = snprintf(text, sizeof(text), "bench %s to %s #%llu t=%.6f ",
	    s->name, s->peer, (unsigned long long)++s->seq, t_send);
	if (n < 0 || n >= RELAY_TEXT)
		n = 0;
	memset(text + n, 'x', (size_t)(RELAY_TEXT - n));
	text[RELAY_TEXT] = '\0';
	if (envelope_replay_next(&s->replay, s->name, s->peer, now_ms(),
	    &counter) == -1) {
		ch->slot->fail++;
		slot_error(ch->slot, 0, "%s: counter exhausted", s->name);
		return;
	}
	wbuf_init(&out, ENV_MAX_LEN);
	code = envelope_seal(&out, &me, &rc, 1, "", now_ms(), counter,
	    (const uint8_t *)text, RELAY_TEXT, s->cs->trust, 0, reason,
	    sizeof(reason));
	if (code != 0) {
		ch->slot->fail++;
		slot_error(ch->slot, code, "seal %s: %s: %s", s->name,
		    envelope_err_name(code), reason);
		wbuf_free(&out);
		return;
	}
	(void)envelope_replay_update(&s->replay, s->name, s->peer, counter);
	s->t_ref[(s->ref + 1) % RELAY_REFS] = t_send;
	if (csession_send_envelope(s->cs, ++s->ref, out.data, out.len) == -1)
		relay_dead(ch, g, k);
	else {
		g->attempts++;
		s->inflight++;
	}
	wbuf_free(&out);
}

/* A DELIVER: open it as the recipient would, take the latency, ACK. */
static void
relay_deliver(struct bench *b, struct child *ch, struct relay_gen *g,
    size_t k, const struct sc_deliver *d)
{
	struct relay_sess *s = &g->s[k];
	struct env_identity me = { s->name, s->cs->cert, s->cs->key };
	char reason[256];
	const char *p;
	double t0 = 0, t1;
	int code;

	code = envelope_open(d->env, d->envlen, &me, s->cs->trust, 0,
	    &s->replay, g->o, reason, sizeof(reason));
	t1 = now_s();
	if (code == 0) {
		if ((p = strstr((const char *)g->o->body, " t=")) != NULL)
			t0 = strtod(p + 3, NULL);
		envelope_opened_clear(g->o);
		/*
		 * Left over from an earlier run (seconds before this one
		 * started; the first send is at the start, printed to the
		 * microsecond): acknowledged, not counted.
		 */
		if (t0 < b->sh->start - 0.5)
			g->stale++;
		else {
			g->delivered++;
			if (t1 <= b->sh->deadline)
				ch->slot->ok++;
			lat_add(ch, t0, t1);
		}
	} else {
		g->bad++;
		ch->slot->fail++;
		slot_error(ch->slot, code, "%s cannot open message %llu: %s: "
		    "%s", s->name, (unsigned long long)d->msg_id,
		    envelope_err_name(code), reason);
	}
	if (csession_ack(s->cs, d->msg_id, SC_ST_DELIVERED) == -1)
		relay_dead(ch, g, k);
}

static void
relay_event(struct bench *b, struct child *ch, struct relay_gen *g,
    size_t k, struct cs_event *ev)
{
	struct relay_sess *s = &g->s[k];

	switch (ev->type) {
	case SC_T_SENT:
		s->progress = now_s();
		if (ev->u.sent.code == 0) {
			ch->slot->sent++;
			if (s->ref - ev->u.sent.ref < RELAY_REFS)
				ch->slot->sent_lat += s->progress -
				    s->t_ref[ev->u.sent.ref % RELAY_REFS];
			break;
		}
		g->refused++;
		ch->slot->fail++;
		if (s->inflight > 0)
			s->inflight--;
		slot_error(ch->slot, ev->u.sent.code, "SENT refused: %s: %.*s",
		    sc_err_name(ev->u.sent.code), (int)ev->u.sent.reasonlen,
		    (const char *)ev->u.sent.reason);
		break;
	case SC_T_STATUS:
		if (ev->u.status.state != SC_ST_DELIVERED)
			break;
		s->progress = now_s();
		ch->slot->status++;
		if (s->inflight > 0)
			s->inflight--;
		break;
	case SC_T_DELIVER:
		relay_deliver(b, ch, g, k, &ev->u.deliver);
		break;
	default:
		break;
	}
}

/* Everything this generator sent has been answered, delivered, reported. */
static int
relay_drained(const struct child *ch, const struct relay_gen *g)
{
	const struct slot *sl = ch->slot;

	return g->attempts == sl->sent + g->refused &&
	    g->delivered + g->bad >= sl->sent && sl->status >= sl->sent;
}

/*
 * The whole run in one call: send (on the schedule, or keeping the
 * window full) until the deadline, then finish what is in flight.
 */
static int
step_relay(struct bench *b, struct child *ch)
{
	const struct relay_cfg *cfg = ch->arg;
	struct relay_gen *g = ch->priv;
	struct cs_event ev;
	double start = b->sh->start, deadline = b->sh->deadline, now;
	size_t k;
	int timeout, nready, r, i;

	/* Fixed load: the senders' schedules interleave evenly. */
	for (k = 0; k < g->npairs; k++) {
		g->s[k].progress = start;
		if (cfg->rate > 0)
			g->s[k].next = start + (double)g->s[k].user /
			    (cfg->rate * RELAY_PAIRS);
	}
	for (;;) {
		now = now_s();
		if (now >= deadline && relay_drained(ch, g))
			break;
		if (now > deadline + RELAY_DRAIN_S) {
			slot_error(ch->slot, SC_E_TIMEOUT, "%llu sent, %llu "
			    "delivered, %llu STATUS %d s after the end",
			    (unsigned long long)ch->slot->sent,
			    (unsigned long long)g->delivered,
			    (unsigned long long)ch->slot->status,
			    RELAY_DRAIN_S);
			break;
		}
		timeout = 50;
		for (k = 0; k < g->npairs && now < deadline; k++) {
			struct relay_sess *s = &g->s[k];

			if (s->dead)
				continue;
			if (cfg->rate > 0) {
				while (s->next <= now && s->next < deadline &&
				    !s->dead) {
					if (now - s->next > RELAY_LATE_S)
						ch->slot->late++;
					relay_send(ch, g, k, s->next);
					s->next += 1 / cfg->rate;
				}
				if ((s->next - now) * 1000 < timeout)
					timeout = (int)((s->next - now) * 1000);
				continue;
			}
			if (s->inflight > 0 &&
			    now - s->progress > RELAY_STALL_S) {
				g->stalls += s->inflight;
				s->inflight = 0;
			}
			while (s->inflight < cfg->window && !s->dead)
				relay_send(ch, g, k, now_s());
		}
		if (timeout < 0)
			timeout = 0;
		if ((nready = poll(g->pfd, (nfds_t)g->n, timeout)) == -1 &&
		    errno != EINTR) {
			slot_error(ch->slot, 0, "poll: %s", strerror(errno));
			break;
		}
		for (k = 0; nready > 0 && k < g->n; k++) {
			if (g->pfd[k].fd == -1 || g->pfd[k].revents == 0)
				continue;
			for (i = 0; i < RELAY_BURST && !g->s[k].dead; i++) {
				r = csession_next_event(g->s[k].cs, 0, &ev);
				if (r == -1)
					relay_dead(ch, g, k);
				if (r != 1)
					break;
				relay_event(b, ch, g, k, &ev);
				csession_event_clear(&ev);
			}
		}
	}
	ch->slot->aux = g->delivered;
	if (g->stalls > 0)
		slot_error(ch->slot, SC_E_TIMEOUT, "%llu messages without a "
		    "STATUS for %d s", (unsigned long long)g->stalls,
		    RELAY_STALL_S);
	if (g->stale > 0)
		say("relay generator %d: %llu messages of an earlier run "
		    "acknowledged", ch->idx, (unsigned long long)g->stale);
	/* The rate counts what was delivered by the deadline. */
	ch->slot->t_end = deadline;
	return -1;
}

static void
teardown_relay(struct bench *b, struct child *ch)
{
	struct relay_gen *g = ch->priv;
	size_t k;

	(void)b;
	if (g == NULL)
		return;
	for (k = 0; g->s != NULL && k < g->n; k++) {
		csession_free(g->s[k].cs);
		X509_free(g->s[k].peer_cert);
		envelope_replay_free(&g->s[k].replay);
	}
	if (g->o != NULL)
		envelope_opened_clear(g->o);
	free(g->o);
	free(g->pfd);
	free(g->s);
	free(g);
	ch->priv = NULL;
}

/*
 * One certificate per user, CN = username (an envelope names its
 * recipients by CN).  The RSA keys are generated on every core (sc-admin
 * makes its key under the CA lock, one at a time), then sc-admin pki
 * issue signs each with --key-in.
 */
static int
relay_issue_certs(struct bench *b)
{
	struct tu_result r;
	pid_t pids[16];
	int i, st, bad = 0, rc;

	for (i = 0; i < b->ncpu; i++) {
		if ((pids[i] = fork()) == -1)
			return -1;
		if (pids[i] == 0) {
			unsigned int u;

			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (u = (unsigned int)i; u < RELAY_USERS;
			    u += (unsigned int)b->ncpu) {
				char name[16], path[PATH_MAX + 32], err[256];
				EVP_PKEY *key;

				relay_name(name, sizeof(name), u);
				snprintf(path, sizeof(path), "%s/%s.key",
				    b->e.ca, name);
				if ((key = pki_rsa_keygen(2048, err,
				    sizeof(err))) == NULL ||
				    pki_write_key(path, key, 0, err,
				    sizeof(err)) == -1) {
					say("%s: %s", path, err);
					_exit(1);
				}
				EVP_PKEY_free(key);
			}
			_exit(0);
		}
	}
	for (i = 0; i < b->ncpu; i++)
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad++;
	if (bad)
		return -1;
	rc = tu_sh(&r, NULL, "i=0; while [ $i -lt %d ]; do "
	    "n=$(printf 'relay%%02d' $i); "
	    "'%s' pki issue --dir '%s' --name $n --cn $n "
	    "--key-in '%s'/$n.key --client >/dev/null || exit 1; "
	    "i=$((i + 1)); done", RELAY_USERS, tu_bin("sc-admin"), b->e.ca,
	    b->e.ca);
	if (rc != 0)
		say("sc-admin pki issue failed: %s%s", r.out, r.err);
	tu_result_free(&r);
	return rc == 0 ? 0 : -1;
}

/* ---- TLS 1.3 reference ---- */

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
tcp_to(int port)
{
	struct sockaddr_in sin;
	int fd, on = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	/* As csession does: each flight is one write anyway. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	return fd;
}

/* Wait until something accepts on port (or pid died); seconds or -1. */
static double
wait_listen(int port, pid_t pid, double t0, double limit_s)
{
	int fd, st;

	for (;;) {
		if ((fd = tcp_to(port)) != -1) {
			double t = now_s() - t0;

			close(fd);
			return t;
		}
		if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid)
			return -1;
		if (now_s() - t0 > limit_s)
			return -1;
		usleep(1000);
	}
}

static void
tls_error(struct child *ch, const char *what)
{
	char e[160];
	unsigned long code = ERR_get_error();

	ERR_error_string_n(code, e, sizeof(e));
	ERR_clear_error();
	ch->slot->fail++;
	slot_error(ch->slot, 0, "TLS %s: %s", what, code ? e : "failed");
}

/*
 * The reference client: TLS 1.3 only, verifies the server chain and name
 * as csession does, presents alice's certificate, no session resumption.
 */
static int
setup_tls(struct bench *b, struct child *ch)
{
	SSL_CTX *c;

	if ((c = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_error(ch, "context");
		return -1;
	}
	if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_use_certificate_file(c, scenv_ca_file(&b->e, "alice.pem"),
	    SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c, scenv_ca_file(&b->e, "alice.key"),
	    SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(c, scenv_ca_file(&b->e, "ca.pem"),
	    NULL) != 1) {
		tls_error(ch, "context setup");
		SSL_CTX_free(c);
		return -1;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	ch->tls = c;
	return 0;
}

static int
step_tls(struct bench *b, struct child *ch)
{
	SSL *s;
	int fd, ok;

	if ((fd = tcp_to(b->tls_port)) == -1) {
		ch->slot->fail++;
		slot_error(ch->slot, 0, "connect: %s", strerror(errno));
		usleep(2000);
		return 0;
	}
	if ((s = SSL_new(ch->tls)) == NULL || SSL_set1_host(s, "localhost") !=
	    1 || SSL_set_fd(s, fd) != 1) {
		tls_error(ch, "SSL_new");
		SSL_free(s);
		close(fd);
		return 0;
	}
	ok = SSL_connect(s) == 1;
	if (ok) {
		ch->slot->ok++;
		ch->slot->t_end = now_s();
	} else
		tls_error(ch, "handshake");
	SSL_free(s);
	close(fd);
	return 0;
}

static void
teardown_tls(struct bench *b, struct child *ch)
{
	(void)b;
	SSL_CTX_free(ch->tls);
	ch->tls = NULL;
}

static int
tls_server_start(struct bench *b)
{
	char log[PATH_MAX];
	int fd;

	if ((b->tls_port = free_port()) == -1)
		return -1;
	snprintf(log, sizeof(log), "%s/s_server.log", b->e.dir);
	if ((b->tls_pid = fork()) == -1)
		return -1;
	if (b->tls_pid == 0) {
		char accept[32];

		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(accept, sizeof(accept), "127.0.0.1:%d", b->tls_port);
		if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) ==
		    -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(127);
		if ((fd = open("/dev/null", O_RDONLY)) == -1 ||
		    dup2(fd, 0) == -1)
			_exit(127);
		/* No tickets: SecureChat has no resumption either. */
		execlp("openssl", "openssl", "s_server", "-quiet",
		    "-accept", accept, "-tls1_3", "-num_tickets", "0",
		    "-cert", scenv_ca_file(&b->e, "server.pem"),
		    "-key", scenv_ca_file(&b->e, "server.key"),
		    "-CAfile", scenv_ca_file(&b->e, "ca.pem"),
		    "-Verify", "1", "-verify_return_error", (char *)NULL);
		_exit(127);
	}
	if (wait_listen(b->tls_port, b->tls_pid, now_s(), 30) < 0) {
		say("openssl s_server did not start (see %s)", log);
		return -1;
	}
	return 0;
}

static void
tls_server_stop(struct bench *b)
{
	int st;

	if (b->tls_pid <= 0)
		return;
	kill(b->tls_pid, SIGTERM);
	(void)waitpid(b->tls_pid, &st, 0);
	b->tls_pid = -1;
}

/* ---- raw scrypt ---- */

static int
step_scrypt(struct bench *b, struct child *ch)
{
	static const char pass[] = BENCH_PASSWORD;
	uint8_t salt[16] = { 1, 2, 3 }, out[32];
	uint64_t maxmem;
	double t0 = now_s();

	(void)b;
	salt[15] = (uint8_t)ch->slot->ok;
	/* As authd/password.c: B and V plus slack. */
	maxmem = 128ULL * KDF_R * ((1ULL << KDF_LOG2N) + 2) +
	    128ULL * KDF_R * KDF_P + 65536;
	if (EVP_PBE_scrypt(pass, sizeof(pass) - 1, salt, sizeof(salt),
	    1ULL << KDF_LOG2N, KDF_R, KDF_P, maxmem, out, sizeof(out)) != 1) {
		ch->slot->fail++;
		slot_error(ch->slot, 0, "EVP_PBE_scrypt failed");
		return -1;
	}
	ch->slot->ok++;
	ch->slot->t_end = now_s();
	lat_add(ch, t0, ch->slot->t_end);
	return 0;
}

/* ---- the daemon ---- */

static int
daemon_conf(struct bench *b, unsigned int nlog2)
{
	char *text = NULL;
	int rc;

	/*
	 * Limits raised for the load (every client is 127.0.0.1); keyd and
	 * authd cap max_sessions at 1024 (conf.c SESSIONS_MAX).  The router
	 * runs, as in production.  The per-user message rate is raised
	 * from 5/s, burst 20 (the defaults) to 1000/s, burst 10000: the
	 * relay phase measures the relay, not that limit; no other phase
	 * sends messages.  (conf.c accepts a rate up to 10000, but authd's
	 * -M only up to 1000: above, authd exits at every start.)
	 */
	if (asprintf(&text,
	    "# written by tests/bench/scbench.c\n"
	    "listen 127.0.0.1:%d\n"
	    "ca %s/ca.pem\n"
	    "cert %s/server.pem\n"
	    "key %s/server.key\n"
	    "server_name localhost\n"
	    "db_config %s\n"
	    "jail %s\n"
	    "keyd_path %s\n"
	    "authd_path %s\n"
	    "router_path %s\n"
	    "transcript_dir %s\n"
	    "receipt_dir %s\n"
	    "audit_log %s\n"
	    "scrypt_n_log2 %u\n"
	    "scrypt_r %d\n"
	    "scrypt_p %d\n"
	    "max_sessions 1024\n"
	    "max_per_source 1024\n"
	    "max_startups 1024:100:1024\n"
	    "handshake_timeout 60\n"
	    "idle_timeout 0\n"
	    "message_rate 1000\n"
	    "message_burst 10000\n",
	    b->e.port, b->e.ca, b->e.ca, b->e.ca, b->e.db.conf, b->e.jail,
	    tu_bin("keyd"), tu_bin("authd"), tu_bin("router"),
	    b->e.transcripts, b->e.receipts, b->e.audit, nlog2, KDF_R,
	    KDF_P) == -1)
		return -1;
	rc = tu_write(b->e.conf, text, strlen(text));
	free(text);
	return rc;
}

/*
 * exec securechatd -d and time it: to the first TCP connection accepted,
 * to the first completed handshake, to the first echo (with a login, or
 * the registration of user when reg is set).
 */
static int
daemon_start(struct bench *b, unsigned int nlog2, const char *user, int reg,
    struct startup *st)
{
	struct csession_err err;
	struct csession *cs = NULL;
	char email[64];
	double t0, limit;
	int logfd;

	memset(st, 0, sizeof(*st));
	if ((b->e.port = free_port()) == -1 || daemon_conf(b, nlog2) == -1)
		return -1;
	if ((logfd = open(b->e.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	fflush(NULL);
	t0 = now_s();
	if ((b->e.pid = fork()) == -1)
		return -1;
	if (b->e.pid == 0) {
		const char *d = tu_bin("securechatd");

		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (dup2(logfd, 1) == -1 || dup2(logfd, 2) == -1)
			_exit(127);
		execl(d, d, "-d", "-f", b->e.conf, (char *)NULL);
		_exit(127);
	}
	close(logfd);
	if ((st->listen_ms = wait_listen(b->e.port, b->e.pid, t0, 30)) < 0) {
		char *log = tu_read(b->e.log, NULL);

		say("securechatd did not start:\n%s", log ? log : "");
		free(log);
		return -1;
	}
	st->listen_ms *= 1000;
	limit = t0 + 60;
	while ((cs = session_handshake(b, user, &err)) == NULL &&
	    now_s() < limit)
		usleep(1000);
	if (cs == NULL) {
		say("no handshake after start: %s", err.reason);
		return -1;
	}
	st->hs_ms = (now_s() - t0) * 1000;
	snprintf(email, sizeof(email), "%s@example.org", user);
	if ((reg ? csession_register(cs, user, email, BENCH_PASSWORD) :
	    csession_login(cs, user, BENCH_PASSWORD)) == -1 ||
	    echo_once(cs) == -1) {
		say("first session as %s: %s: %s", user,
		    sc_err_name(cs->err.code), cs->err.reason);
		csession_free(cs);
		return -1;
	}
	st->echo_ms = (now_s() - t0) * 1000;
	st->ok = 1;
	csession_free(cs);
	return 0;
}

/* ---- memory of the sessions held ---- */

static long
rollup_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	int pp = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL)
		(void)sscanf(p + 2, "%*c %d", &pp);
	fclose(f);
	return (pid_t)pp;
}

/* Which program a process runs: the last component of /proc/PID/exe. */
static const char *
exe_name(pid_t pid, char *buf, size_t len)
{
	char path[64], target[PATH_MAX];
	ssize_t n;
	const char *s;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if ((n = readlink(path, target, sizeof(target) - 1)) <= 0)
		return "";
	target[n] = '\0';
	s = strrchr(target, '/');
	strlcpy(buf, s != NULL ? s + 1 : target, len);
	return buf;
}

/* Does pid's command line contain needle (setproctitle's title)? */
static int
cmdline_has(pid_t pid, const char *needle)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* One more instance of a pool: its memory added to the pool's sums. */
static void
pool_mem_add(pid_t pid, long pd, long *pdsum, long *rss, unsigned int *n)
{
	if (*pdsum < 0)
		*pdsum = 0;
	if (pd > 0)
		*pdsum += pd;
	*rss += rollup_kb(pid, "Rss");
	(*n)++;
}

static void
measure_memory(struct bench *b, void *arg)
{
	struct memsum *m = &b->mem;
	DIR *d;
	struct dirent *de;
	char name[64];
	double pss = 0, rss = 0, sd = 0;

	(void)arg;
	memset(m, 0, sizeof(*m));
	m->keyd_pd = m->authd_pd = m->zygote_pd = -1;
	m->master_pd = rollup_kb(b->e.pid, "Private_Dirty");
	m->master_rss = rollup_kb(b->e.pid, "Rss");
	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(de->d_name);
		long pd;

		if (pid <= 0 || parent_of(pid) != b->e.pid)
			continue;
		exe_name(pid, name, sizeof(name));
		pd = rollup_kb(pid, "Private_Dirty");
		/* keyd_processes and authd_processes instances: sums. */
		if (strcmp(name, "keyd") == 0)
			pool_mem_add(pid, pd, &m->keyd_pd, &m->keyd_rss,
			    &m->n_keyd);
		else if (strcmp(name, "authd") == 0)
			pool_mem_add(pid, pd, &m->authd_pd, &m->authd_rss,
			    &m->n_authd);
		else if (strcmp(name, "session") == 0 &&
		    cmdline_has(pid, "zygote")) {
			/* Not a worker: the process they are forked from. */
			m->zygote_pd = pd;
		} else if (strcmp(name, "session") == 0 && pd >= 0) {
			m->n++;
			sd += (double)rollup_kb(pid, "Shared_Dirty");
			m->pd_total_kb += (double)pd;
			if ((double)pd > m->pd_max_kb)
				m->pd_max_kb = (double)pd;
			pss += (double)rollup_kb(pid, "Pss");
			rss += (double)rollup_kb(pid, "Rss");
		}
	}
	closedir(d);
	if (m->n > 0) {
		m->pd_mean_kb = m->pd_total_kb / m->n;
		m->pss_mean_kb = pss / m->n;
		m->rss_mean_kb = rss / m->n;
		m->sd_mean_kb = sd / m->n;
	}
	say("memory: %u workers, Private_Dirty mean %.0f kB max %.0f kB; "
	    "keyd (%u) %ld kB, authd (%u) %ld kB, master %ld kB", m->n,
	    m->pd_mean_kb, m->pd_max_kb, m->n_keyd, m->keyd_pd, m->n_authd,
	    m->authd_pd,
	    m->master_pd);
}

/* ---- the phases ---- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ---- cold start: what one worker pays before its first byte ---- */

static double
ms_since(double *t)
{
	double n = now_s(), d = (n - *t) * 1000;

	*t = n;
	return d;
}

/*
 * scbench -C cadir: in this fresh process (as a new session worker is),
 * time the first use of what a worker's handshake uses, the way the
 * worker calls it, and print one line of milliseconds.  The sandbox goes
 * last: after it only write(2) and exit are needed.
 */
static int
cold_probe(const char *cadir)
{
	double v[COLD_N], t;
	char path[PATH_MAX], err[256], line[512];
	struct pki_trust *tr;
	struct sc_dirkeys keys;
	EVP_PKEY *a = NULL, *b2 = NULL, *pub;
	X509 *c;
	uint8_t pa[32], pb[32], ss[32], h2[32] = { 0 }, iv[16] = { 0 };
	uint8_t ct[64], sig[SC_MAX_SIG];
	size_t n = 0, ctlen = sizeof(ct), siglen = sizeof(sig), k;
	int len;

	t = now_s();
	/* As session/session.c starts OpenSSL. */
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG |
	    OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL) != 1)
		return 1;
	v[n++] = ms_since(&t);
	snprintf(path, sizeof(path), "%s/ca.pem", cadir);
	if ((tr = pki_trust_load(path, NULL, err, sizeof(err))) == NULL)
		return 1;
	v[n++] = ms_since(&t);
	snprintf(path, sizeof(path), "%s/server.pem", cadir);
	if ((c = pki_load_cert(path, err, sizeof(err))) == NULL)
		return 1;
	v[n++] = ms_since(&t);
	if (sc_x25519_keygen(&a, pa) == -1)
		return 1;
	v[n++] = ms_since(&t);
	if (sc_x25519_keygen(&b2, pb) == -1)
		return 1;
	v[n++] = ms_since(&t);
	/* The server certificate stands in for a client's: same work. */
	(void)pki_verify(tr, c, PKI_PURPOSE_SERVER, NULL, 0, err, sizeof(err));
	v[n++] = ms_since(&t);
	memset(sig, 0, sizeof(sig));
	if ((pub = X509_get_pubkey(c)) == NULL)
		return 1;
	siglen = 256;
	(void)sc_rsa_verify(pub, (const uint8_t *)"x", 1, sig, siglen);
	v[n++] = ms_since(&t);
	if (sc_x25519_derive(a, pb, sizeof(pb), ss) == -1 ||
	    sc_derive_temp_keys(ss, h2, &keys) == -1 ||
	    sc_aes_cbc_encrypt(keys.c2s, iv, ss, sizeof(ss), ct, &ctlen) == -1)
		return 1;
	v[n++] = ms_since(&t);
	/* Format first: after the filter, no allocation is needed. */
	len = 0;
	for (k = 0; k < n; k++)
		len += snprintf(line + len, sizeof(line) - (size_t)len, "%.3f ",
		    v[k]);
	fflush(stdout);
	/* Untimed, and keeps LeakSanitizer quiet in SANITIZE=1 builds. */
	EVP_PKEY_free(a);
	EVP_PKEY_free(b2);
	EVP_PKEY_free(pub);
	X509_free(c);
	pki_trust_free(tr);
	OPENSSL_cleanse(ss, sizeof(ss));
	OPENSSL_cleanse(&keys, sizeof(keys));
	t = now_s();
	if (sandbox_apply(SANDBOX_WORKER) == -1)
		return 1;
	v[n++] = ms_since(&t);
	len += snprintf(line + len, sizeof(line) - (size_t)len, "%.3f\n",
	    v[n - 1]);
	if (write(STDOUT_FILENO, line, (size_t)len) != len)
		_exit(1);
	_exit(0);
}

/* Median wall time of `argv` run to completion, in ms. */
static double
spawn_ms(const char *const argv[], int runs)
{
	double v[16], t;
	int i, st, fd;
	pid_t pid;

	if (runs > 16)
		runs = 16;
	for (i = 0; i < runs; i++) {
		t = now_s();
		if ((pid = fork()) == -1)
			return 0;
		if (pid == 0) {
			if ((fd = open("/dev/null", O_WRONLY)) != -1) {
				(void)dup2(fd, 1);
				(void)dup2(fd, 2);
			}
			execv(argv[0], (char *const *)(uintptr_t)argv);
			_exit(127);
		}
		if (waitpid(pid, &st, 0) != pid)
			return 0;
		v[i] = (now_s() - t) * 1000;
	}
	qsort(v, (size_t)runs, sizeof(v[0]), cmp_double);
	return v[runs / 2];
}

static void
phase_cold(struct bench *b)
{
	double v[COLD_N][COLD_RUNS];
	const char *self = "/proc/self/exe";
	char exe[PATH_MAX];
	ssize_t n;
	int i, ok = 0;
	size_t k;

	say("cold start of a process: fork+exec, OpenSSL first use");
	{
		const char *t[] = { "/bin/true", NULL };
		const char *sc[] = { tu_bin("session"), "-?", NULL };

		b->exec_true_ms = spawn_ms(t, 15);
		b->exec_sc_ms = spawn_ms(sc, 15);
	}
	if ((n = readlink(self, exe, sizeof(exe) - 1)) <= 0)
		return;
	exe[n] = '\0';
	for (i = 0; i < COLD_RUNS; i++) {
		struct tu_result r;
		const char *argv[] = { exe, "-C", b->e.ca, NULL };
		double x[COLD_N];

		if (tu_run(&r, NULL, 30, argv) == 0 &&
		    sscanf(r.out, "%lf %lf %lf %lf %lf %lf %lf %lf %lf", &x[0],
		    &x[1], &x[2], &x[3], &x[4], &x[5], &x[6], &x[7], &x[8]) ==
		    (int)COLD_N) {
			for (k = 0; k < COLD_N; k++)
				v[k][ok] = x[k];
			ok++;
		} else
			say("cold probe failed: %s%s", r.out, r.err);
		tu_result_free(&r);
	}
	if (ok == 0)
		return;
	for (k = 0; k < COLD_N; k++) {
		qsort(v[k], (size_t)ok, sizeof(double), cmp_double);
		b->cold[k] = v[k][ok / 2];
	}
	b->have_cold = 1;
}

static double
median_of(const struct startup *st, size_t n, size_t field)
{
	double v[STARTS];
	size_t i, k = 0;

	for (i = 0; i < n && i < STARTS; i++)
		if (st[i].ok)
			v[k++] = field == 0 ? st[i].listen_ms : field == 1 ?
			    st[i].hs_ms : st[i].echo_ms;
	if (k == 0)
		return 0;
	qsort(v, k, sizeof(v[0]), cmp_double);
	return v[k / 2];
}

static void
phase_baselines(struct bench *b)
{
	int secs = b->quick ? 1 : 3;

	say("openssl speed rsa2048 (1 process, then -multi %d)", b->ncpu);
	(void)openssl_speed(1, secs, &b->rsa_sign1, &b->rsa_verify1);
	(void)openssl_speed(b->ncpu, secs, &b->rsa_signN, &b->rsa_verifyN);
	say("RSA-2048 sign/s: %.0f (1 process), %.0f (%d processes)",
	    b->rsa_sign1, b->rsa_signN, b->ncpu);
}

static void
phase_kdf(struct bench *b)
{
	struct run r;
	unsigned int c[2];
	int i;

	say("raw scrypt N=2^%d r=%d p=%d, 1 process", KDF_LOG2N, KDF_R,
	    KDF_P);
	run_children(b, &r, 1, dur(b, 8, 2), NULL, step_scrypt, NULL, NULL,
	    NULL, NULL);
	b->scrypt1 = r.rate;
	b->scrypt_run1 = r;
	say("raw scrypt, %d processes", b->ncpu);
	run_children(b, &r, (unsigned int)b->ncpu, dur(b, 10, 3), NULL,
	    step_scrypt, NULL, NULL, NULL, NULL);
	b->scryptN = r.rate;
	say("raw scrypt/s: %.2f (1), %.2f (%d)", b->scrypt1, b->scryptN,
	    b->ncpu);

	c[0] = (unsigned int)b->ncpu;
	c[1] = 2 * (unsigned int)b->ncpu;
	b->user = BENCH_USER_KDF;
	for (i = 0; i < 2; i++) {
		say("logins, %u concurrent clients", c[i]);
		run_children(b, &b->login[i], c[i], dur(b, 15, 3), NULL,
		    step_login, NULL, NULL, NULL, NULL);
		say("logins/s: %.2f (%llu ok, %llu failed%s%s)",
		    b->login[i].rate, (unsigned long long)b->login[i].ok,
		    (unsigned long long)b->login[i].fail,
		    b->login[i].err[0] ? ": " : "", b->login[i].err);
	}
}

static void
phase_handshakes(struct bench *b)
{
	static const unsigned int conc[3] = { 1, 2, 8 };
	int i, have_tls;

	have_tls = tls_server_start(b) == 0;
	for (i = 0; i < 3; i++) {
		b->hs_conc[i] = conc[i];
		say("handshakes, %u concurrent clients: SecureChat", conc[i]);
		run_children(b, &b->hs_ours[i], conc[i], dur(b, 6, 1.5), NULL,
		    step_handshake, NULL, NULL, NULL, NULL);
		if (have_tls) {
			say("handshakes, %u concurrent clients: TLS 1.3",
			    conc[i]);
			run_children(b, &b->hs_tls[i], conc[i], dur(b, 6, 1.5),
			    setup_tls, step_tls, teardown_tls, NULL, NULL,
			    NULL);
		}
		say("handshakes/s: SecureChat %.1f (%llu failed%s%s), TLS %.1f "
		    "(%llu failed%s%s)", b->hs_ours[i].rate,
		    (unsigned long long)b->hs_ours[i].fail,
		    b->hs_ours[i].err[0] ? ": " : "", b->hs_ours[i].err,
		    b->hs_tls[i].rate, (unsigned long long)b->hs_tls[i].fail,
		    b->hs_tls[i].err[0] ? ": " : "", b->hs_tls[i].err);
	}
	tls_server_stop(b);
}

static void
phase_echo(struct bench *b)
{
	b->user = BENCH_USER_FAST;
	say("echo, 1 session");
	run_children(b, &b->echo1, 1, dur(b, 8, 2), setup_echo, step_echo,
	    teardown_sessions, NULL, NULL, NULL);
	say("echo/s %.1f p50 %.2f ms p99 %.2f ms%s%s", b->echo1.rate,
	    b->echo1.p50_ms, b->echo1.p99_ms, b->echo1.err[0] ? ": " : "",
	    b->echo1.err);
	say("echo, 16 sessions");
	run_children(b, &b->echo16, 16, dur(b, 10, 2), setup_echo, step_echo,
	    teardown_sessions, NULL, NULL, NULL);
	say("echo/s %.1f p50 %.2f ms p99 %.2f ms%s%s", b->echo16.rate,
	    b->echo16.p50_ms, b->echo16.p99_ms, b->echo16.err[0] ? ": " : "",
	    b->echo16.err);
}

static void
phase_held(struct bench *b)
{
	struct run r;
	unsigned int k = 4;
	size_t share = (b->held_target + k - 1) / k;
	double t0;

	b->user = BENCH_USER_FAST;
	say("holding %u sessions (%u openers of %zu)", b->held_target, k,
	    share);
	t0 = now_s();
	run_children(b, &r, k, 0, setup_held, NULL, teardown_sessions,
	    measure_memory, &share, NULL);
	b->held = (unsigned int)r.ok;
	b->held_echoed = r.aux;
	b->held_open_s = r.ready_at - t0;
	strlcpy(b->held_err, r.err, sizeof(b->held_err));
	say("held %u sessions (%llu answered an echo) in %.1f s%s%s", b->held,
	    (unsigned long long)b->held_echoed, b->held_open_s,
	    r.err[0] ? "; first error: " : "", r.err);
}

/* Prepared statements MariaDB has executed so far (-1: unknown). */
static double
db_stmts(struct bench *b)
{
	char *v;
	double n = -1;

	if (!b->e.have_db)
		return -1;
	v = tu_db_query(&b->e.db, "SELECT VARIABLE_VALUE FROM "
	    "information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = "
	    "'COM_STMT_EXECUTE'");
	if (v != NULL && v[0] >= '0' && v[0] <= '9')
		n = strtod(v, NULL);
	free(v);
	return n;
}

/* Just before the start of a relay run (the logins are set-up). */
static void
relay_between(struct bench *b, void *arg)
{
	*(double *)arg = db_stmts(b);
}

static void
relay_say(const char *what, const struct run *r)
{
	say("relay, %s: %.1f delivered/s (%llu sent, %llu delivered in all), "
	    "p50 %.2f ms p99 %.2f ms, send to SENT %.2f ms, %.1f SQL "
	    "statements per message, %llu late sends%s%s", what, r->rate,
	    (unsigned long long)r->sent, (unsigned long long)r->aux,
	    r->p50_ms, r->p99_ms, r->sent_lat_ms, r->aux ? r->stmts /
	    (double)r->aux : 0, (unsigned long long)r->late,
	    r->err[0] ? "; first error: " : "", r->err);
}

/*
 * 100 users online (scrypt 2^10 daemon, as for the handshake, echo and
 * held phases: registering 100 users is set-up here), 50 pairs: a fixed
 * offered load, then as fast as a window of unacknowledged messages per
 * sender allows.
 */
static void
phase_relay(struct bench *b)
{
	struct relay_cfg cfg;
	double t0, stmts0 = -1, stmts1;

	/* The ceiling comes from the same run. */
	if (b->rsa_sign1 <= 0)
		phase_baselines(b);
	b->relay_ran = 1;
	say("relay: issuing %d user certificates", RELAY_USERS);
	t0 = now_s();
	if (relay_issue_certs(b) == -1) {
		strlcpy(b->relay_err, "could not issue the users' certificates",
		    sizeof(b->relay_err));
		say("relay: %s", b->relay_err);
		return;
	}
	b->relay_certs_s = now_s() - t0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.reg = 1;
	cfg.rate = (double)RELAY_RATE / RELAY_PAIRS;
	say("relay: %d users (registering), fixed load of %d messages/s",
	    RELAY_USERS, RELAY_RATE);
	t0 = now_s();
	run_children(b, &b->relay_fixed, RELAY_GENS, dur(b, 20, 4),
	    setup_relay, step_relay, teardown_relay, relay_between, &cfg,
	    &stmts0);
	if (stmts0 >= 0 && (stmts1 = db_stmts(b)) >= stmts0)
		b->relay_fixed.stmts = stmts1 - stmts0;
	b->relay_setup_s = b->relay_fixed.ready_at - t0;
	relay_say("fixed load", &b->relay_fixed);
	if (b->relay_fixed.setup_failed) {
		strlcpy(b->relay_err, "set-up failed (see the first error)",
		    sizeof(b->relay_err));
		return;
	}
	cfg.reg = 0;
	cfg.rate = 0;
	cfg.window = RELAY_WINDOW;
	say("relay: %d users (logging in), saturation: %d unacknowledged "
	    "per sender", RELAY_USERS, RELAY_WINDOW);
	stmts0 = -1;
	run_children(b, &b->relay_sat, RELAY_GENS, dur(b, 20, 4),
	    setup_relay, step_relay, teardown_relay, relay_between, &cfg,
	    &stmts0);
	if (stmts0 >= 0 && (stmts1 = db_stmts(b)) >= stmts0)
		b->relay_sat.stmts = stmts1 - stmts0;
	relay_say("saturation", &b->relay_sat);
}

/* ---- the report ---- */

static void
ratio(char *buf, size_t len, double a, double b)
{
	if (a > 0 && b > 0 && isfinite(a) && isfinite(b))
		snprintf(buf, len, "%.2f", a / b);
	else
		snprintf(buf, len, "n/a");
}

static double
cpu_all(const struct cpu *c)
{
	return c->workers + c->master + c->keyd + c->authd + c->router +
	    c->db + c->tls + c->gens;
}

/* CPU seconds of every process we measure, per completed operation. */
static double
cpu_per_op(const struct run *r)
{
	if (r->ok == 0)
		return 0;
	return cpu_all(&r->cpu) / (double)r->ok;
}

/*
 * Where the CPU went, per operation (ops of them), in milliseconds: this
 * is what says which process limits a figure.
 */
static void
cpu_line_n(FILE *f, const char *label, const struct run *r, uint64_t nops,
    int ncpu)
{
	const struct cpu *c = &r->cpu;
	double ops = (double)nops;

	if (nops == 0 || c->wall <= 0)
		return;
	fprintf(f, "- CPU per %s, ms: clients %.2f, workers %.2f, keyd %.2f, "
	    "master %.2f, authd %.2f, router %.2f, mariadb %.2f; these "
	    "processes kept %.0f%% of the %d CPUs busy.\n", label,
	    c->gens * 1000 / ops, c->workers * 1000 / ops,
	    c->keyd * 1000 / ops, c->master * 1000 / ops,
	    c->authd * 1000 / ops, c->router * 1000 / ops,
	    c->db * 1000 / ops, 100 * cpu_all(c) / c->wall / ncpu, ncpu);
	if (c->tls > 0)
		fprintf(f, "  (openssl s_server: %.2f ms per handshake)\n",
		    c->tls * 1000 / ops);
}

static void
cpu_line(FILE *f, const char *label, const struct run *r, int ncpu)
{
	cpu_line_n(f, label, r, r->ok, ncpu);
}

/* Machine CPU seconds per relayed message if it were RSA only. */
static double
relay_rsa_s(double sign, double verify, int npriv, int npub)
{
	if (sign <= 0 || verify <= 0)
		return 0;
	return npriv / sign + npub / verify;
}

static double
relay_cpu_per_msg(const struct run *r)
{
	return r->aux > 0 ? cpu_all(&r->cpu) / (double)r->aux : 0;
}

/* The same without the load generators: the server's CPU per message. */
static double
relay_srv_per_msg(const struct run *r)
{
	return r->aux > 0 ? (cpu_all(&r->cpu) - r->cpu.gens) /
	    (double)r->aux : 0;
}

static void
report_relay_rows(const struct bench *b, FILE *f)
{
	double ceilN, cpu1, path1, srv, srv1;
	char r[32];

	ceilN = relay_rsa_s(b->rsa_signN, b->rsa_verifyN, RELAY_PRIV,
	    RELAY_PUB);
	ceilN = ceilN > 0 ? 1 / ceilN : 0;
	cpu1 = relay_rsa_s(b->rsa_sign1, b->rsa_verify1, RELAY_PRIV,
	    RELAY_PUB);
	path1 = relay_rsa_s(b->rsa_sign1, b->rsa_verify1, RELAY_PATH_PRIV,
	    RELAY_PATH_PUB);
	srv1 = relay_rsa_s(b->rsa_sign1, b->rsa_verify1, RELAY_SRV_PRIV,
	    RELAY_SRV_PUB);
	ratio(r, sizeof(r), b->relay_fixed.rate, RELAY_RATE);
	fprintf(f, "| relay: messages delivered/s, %d users, offered %d/s | "
	    "%.1f | %d/s offered | %s | |\n", RELAY_USERS, RELAY_RATE,
	    b->relay_fixed.rate, RELAY_RATE, r);
	ratio(r, sizeof(r), b->relay_sat.rate, ceilN);
	fprintf(f, "| relay: messages delivered/s, %d users, saturated "
	    "(window %d) | %.1f | %.1f (RSA ceiling, -multi %d) | %s | |\n",
	    RELAY_USERS, RELAY_WINDOW, b->relay_sat.rate, ceilN, b->ncpu, r);
	fprintf(f, "| relay: delivery latency p50 / p99, offered %d/s | "
	    "%.2f / %.2f ms | %.2f ms (%d + %d RSA ops in a row) | | |\n",
	    RELAY_RATE, b->relay_fixed.p50_ms, b->relay_fixed.p99_ms,
	    path1 * 1000, RELAY_PATH_PRIV, RELAY_PATH_PUB);
	fprintf(f, "| relay: delivery latency p50 / p99, saturated | "
	    "%.2f / %.2f ms | | | |\n", b->relay_sat.p50_ms,
	    b->relay_sat.p99_ms);
	ratio(r, sizeof(r), 1 / relay_cpu_per_msg(&b->relay_sat), 1 / cpu1);
	fprintf(f, "| CPU per relayed message, all processes (saturated) | "
	    "%.2f ms | %.2f ms (%d private + %d public RSA ops) | %s | |\n",
	    relay_cpu_per_msg(&b->relay_sat) * 1000, cpu1 * 1000, RELAY_PRIV,
	    RELAY_PUB, r);
	srv = relay_srv_per_msg(&b->relay_sat);
	ratio(r, sizeof(r), 1 / srv, 1 / srv1);
	fprintf(f, "| CPU per relayed message, server only (saturated) | "
	    "%.2f ms | %.2f ms (%d private + %d public RSA ops) | %s | |\n",
	    srv * 1000, srv1 * 1000, RELAY_SRV_PRIV, RELAY_SRV_PUB, r);
}

static void
relay_detail(FILE *f, const char *label, const struct run *r, int ncpu)
{
	char cl[96];

	fprintf(f, "- relay, %s: %llu sent, %llu accepted (SENT 0), %llu "
	    "delivered and opened (%llu by the end of the %.0f s run), %llu "
	    "STATUS delivered, %llu failed or refused, %llu sends late by "
	    "over %.0f ms; latency mean %.2f ms (send to SENT %.2f ms); "
	    "MariaDB executed %.1f prepared statements per message%s%s.\n",
	    label, (unsigned long long)(r->sent + r->fail),
	    (unsigned long long)r->sent, (unsigned long long)r->aux,
	    (unsigned long long)r->ok, r->secs, (unsigned long long)r->status,
	    (unsigned long long)r->fail, (unsigned long long)r->late,
	    RELAY_LATE_S * 1000, r->mean_ms, r->sent_lat_ms, r->aux ?
	    r->stmts / (double)r->aux : 0, r->err[0] ? "; first error: " :
	    "", r->err);
	snprintf(cl, sizeof(cl), "relayed message (%s)", label);
	cpu_line_n(f, cl, r, r->aux, ncpu);
}

static void
report_relay_details(const struct bench *b, FILE *f)
{
	fprintf(f, "- relay set-up: %d certificates issued in %.1f s; %d "
	    "users registered (scrypt 2^%d) and logged in, %d generator "
	    "processes, in %.1f s%s%s. Ceiling = 1 / (%d/sign + %d/verify) "
	    "(-multi rates); latency floor = %d/sign + %d/verify (1 process)."
	    "\n", RELAY_USERS, b->relay_certs_s, RELAY_USERS, FAST_LOG2N,
	    RELAY_GENS, b->relay_setup_s, b->relay_err[0] ? "; " : "",
	    b->relay_err, RELAY_PRIV, RELAY_PUB, RELAY_PATH_PRIV,
	    RELAY_PATH_PUB);
	relay_detail(f, "offered load", &b->relay_fixed, b->ncpu);
	relay_detail(f, "saturated", &b->relay_sat, b->ncpu);
}

static void
report(struct bench *b, FILE *f)
{
	char r[32];
	double echo_cpu, ceil1, ceilN;
	int i;

	/*
	 * Each echo costs two RSA-2048 signatures (the client's CHAT, keyd's
	 * echo) and two verifications (the worker's, the client's).  Many
	 * sessions: machine-wide CPU seconds per echo from the -multi rates;
	 * one session: the four operations run one after the other.
	 */
	echo_cpu = b->rsa_signN > 0 && b->rsa_verifyN > 0 ?
	    2 / b->rsa_signN + 2 / b->rsa_verifyN : 0;
	ceilN = echo_cpu > 0 ? 1 / echo_cpu : 0;
	ceil1 = b->rsa_sign1 > 0 && b->rsa_verify1 > 0 ?
	    1 / (2 / b->rsa_sign1 + 2 / b->rsa_verify1) : 0;

	fprintf(f, "Machine: %d CPU, %s; %s; %s; transcripts on %s.\n",
	    b->ncpu, b->cpu, b->kernel, b->ossl, b->fsinfo);
	fprintf(f, "Load average (1, 5, 15 min) at the start: %s; at the end: "
	    "%s.\n\n", b->load_begin, b->load_end);
	fprintf(f, "| benchmark | SecureChat | reference (same run) | ratio "
	    "| target |\n|---|---:|---:|---:|---|\n");
	for (i = 0; i < 3; i++) {
		ratio(r, sizeof(r), b->hs_ours[i].rate, b->hs_tls[i].rate);
		fprintf(f, "| handshakes/s, %u client%s | %.1f | %.1f (TLS 1.3 "
		    "s_server -Verify) | %s | >= 1 |\n", b->hs_conc[i],
		    b->hs_conc[i] == 1 ? "" : "s", b->hs_ours[i].rate,
		    b->hs_tls[i].rate, r);
	}
	for (i = 0; i < 2; i++) {
		ratio(r, sizeof(r), b->login[i].rate, b->scryptN);
		fprintf(f, "| logins/s (scrypt 2^%d,%d,%d), %u clients | %.2f | "
		    "%.2f (raw scrypt, %d processes) | %s | >= 0.9 |\n",
		    KDF_LOG2N, KDF_R, KDF_P, b->login[i].n, b->login[i].rate,
		    b->scryptN, b->ncpu, r);
	}
	ratio(r, sizeof(r), 1 / cpu_per_op(&b->hs_ours[2]),
	    1 / cpu_per_op(&b->hs_tls[2]));
	fprintf(f, "| CPU per handshake, all processes (8 clients) | %.2f ms | "
	    "%.2f ms (TLS: s_server + client) | %s | |\n",
	    cpu_per_op(&b->hs_ours[2]) * 1000,
	    cpu_per_op(&b->hs_tls[2]) * 1000, r);
	ratio(r, sizeof(r), 1 / (b->login[0].ok ? b->login[0].cpu.authd /
	    (double)b->login[0].ok : 0), 1 / (b->scrypt_run1.ok ?
	    b->scrypt_run1.cpu.gens / (double)b->scrypt_run1.ok : 0));
	fprintf(f, "| authd CPU per login (%u clients) | %.0f ms | %.0f ms (raw "
	    "scrypt, CPU per hash) | %s | |\n", b->login[0].n,
	    b->login[0].ok ? b->login[0].cpu.authd * 1000 /
	    (double)b->login[0].ok : 0, b->scrypt_run1.ok ?
	    b->scrypt_run1.cpu.gens * 1000 / (double)b->scrypt_run1.ok : 0, r);
	ratio(r, sizeof(r), b->echo1.rate, ceil1);
	fprintf(f, "| echo round trips/s, 1 session | %.1f | %.1f (RSA "
	    "ceiling, 1 process) | %s | >= 0.7 |\n", b->echo1.rate, ceil1, r);
	ratio(r, sizeof(r), b->echo16.rate, ceilN);
	fprintf(f, "| echo round trips/s, 16 sessions | %.1f | %.1f (RSA "
	    "ceiling, -multi %d) | %s | >= 0.7 |\n", b->echo16.rate, ceilN,
	    b->ncpu, r);
	ratio(r, sizeof(r), 1 / cpu_per_op(&b->echo16), ceil1);
	fprintf(f, "| CPU per echo, all processes (16 sessions) | %.2f ms | %.2f "
	    "ms (2 RSA signs + 2 verifies) | %s | |\n",
	    cpu_per_op(&b->echo16) * 1000, ceil1 > 0 ? 1000 / ceil1 : 0, r);
	fprintf(f, "| echo latency p50 / p99, 1 session | %.2f / %.2f ms | "
	    "%.2f ms (4 RSA ops) | | |\n", b->echo1.p50_ms, b->echo1.p99_ms,
	    ceil1 > 0 ? 1000 / ceil1 : 0);
	fprintf(f, "| echo latency p50 / p99, 16 sessions | %.2f / %.2f ms | "
	    "| | |\n", b->echo16.p50_ms, b->echo16.p99_ms);
	if (b->relay_ran)
		report_relay_rows(b, f);
	fprintf(f, "| sessions held (logged in, echoed) | %u (%llu) | %u "
	    "wanted | %.2f | >= 1000 |\n", b->held,
	    (unsigned long long)b->held_echoed, b->held_target,
	    b->held_target ? (double)b->held / b->held_target : 0);
	fprintf(f, "| Private_Dirty per worker, mean / max | %.0f / %.0f KiB "
	    "| 1024 KiB | %.2f | < 1 MiB |\n", b->mem.pd_mean_kb,
	    b->mem.pd_max_kb, b->mem.pd_mean_kb / 1024);
	fprintf(f, "| Pss / Shared_Dirty per worker, mean | %.0f / %.0f KiB "
	    "| | | |\n", b->mem.pss_mean_kb, b->mem.sd_mean_kb);
	fprintf(f, "| Private_Dirty total: workers / zygote / keyd / authd / "
	    "master | %.1f MiB / %ld / %ld / %ld / %ld KiB | | | |\n",
	    b->mem.pd_total_kb / 1024, b->mem.zygote_pd, b->mem.keyd_pd,
	    b->mem.authd_pd, b->mem.master_pd);
	fprintf(f, "| start-up: exec to listening (median of %d) | %.1f ms | "
	    "| | |\n", STARTS, median_of(b->st_kdf, STARTS, 0));
	fprintf(f, "| start-up: exec to first handshake | %.1f ms | | | |\n",
	    median_of(b->st_kdf, STARTS, 1));
	fprintf(f, "| start-up: exec to first echo (login, scrypt 2^%d) | "
	    "%.1f ms | | | |\n", KDF_LOG2N, median_of(b->st_kdf, STARTS, 2));
	fprintf(f, "| start-up: exec to first echo (login, scrypt 2^%d) | "
	    "%.1f ms | | | |\n", FAST_LOG2N, b->st_fast.echo_ms);

	fprintf(f, "\nDetails:\n\n");
	fprintf(f, "- openssl speed rsa2048: %.0f sign/s, %.0f verify/s (1 "
	    "process); %.0f sign/s, %.0f verify/s (-multi %d). Echo ceiling "
	    "= 1 / (2/sign + 2/verify).\n", b->rsa_sign1, b->rsa_verify1,
	    b->rsa_signN, b->rsa_verifyN, b->ncpu);
	fprintf(f, "- raw scrypt N=2^%d r=%d p=%d: %.2f/s in 1 process, %.2f/s "
	    "in %d.\n", KDF_LOG2N, KDF_R, KDF_P, b->scrypt1, b->scryptN,
	    b->ncpu);
	for (i = 0; i < 3; i++)
		fprintf(f, "- handshakes, %u client%s: SecureChat %llu in %.2f s"
		    " (%llu failed%s%s); TLS %llu in %.2f s (%llu failed%s%s)."
		    "\n", b->hs_conc[i], b->hs_conc[i] == 1 ? "" : "s",
		    (unsigned long long)b->hs_ours[i].ok, b->hs_ours[i].elapsed,
		    (unsigned long long)b->hs_ours[i].fail,
		    b->hs_ours[i].err[0] ? ", first: " : "", b->hs_ours[i].err,
		    (unsigned long long)b->hs_tls[i].ok, b->hs_tls[i].elapsed,
		    (unsigned long long)b->hs_tls[i].fail,
		    b->hs_tls[i].err[0] ? ", first: " : "", b->hs_tls[i].err);
	for (i = 0; i < 3; i++) {
		char label[64];

		snprintf(label, sizeof(label), "SecureChat handshake (%u "
		    "client%s)", b->hs_conc[i], b->hs_conc[i] == 1 ? "" : "s");
		cpu_line(f, label, &b->hs_ours[i], b->ncpu);
		snprintf(label, sizeof(label), "TLS handshake (%u client%s)",
		    b->hs_conc[i], b->hs_conc[i] == 1 ? "" : "s");
		cpu_line(f, label, &b->hs_tls[i], b->ncpu);
	}
	for (i = 0; i < 2; i++) {
		char label[64];

		fprintf(f, "- logins, %u clients: %llu in %.2f s, mean %.0f ms "
		    "per login (%llu failed%s%s).\n", b->login[i].n,
		    (unsigned long long)b->login[i].ok, b->login[i].elapsed,
		    b->login[i].mean_ms, (unsigned long long)b->login[i].fail,
		    b->login[i].err[0] ? ", first: " : "", b->login[i].err);
		snprintf(label, sizeof(label), "login (%u clients)",
		    b->login[i].n);
		cpu_line(f, label, &b->login[i], b->ncpu);
	}
	fprintf(f, "- echo, 1 session: %llu in %.2f s, mean %.2f ms%s%s; 16 "
	    "sessions: %llu in %.2f s, mean %.2f ms%s%s.\n",
	    (unsigned long long)b->echo1.ok, b->echo1.elapsed,
	    b->echo1.mean_ms, b->echo1.err[0] ? ", error: " : "",
	    b->echo1.err, (unsigned long long)b->echo16.ok,
	    b->echo16.elapsed, b->echo16.mean_ms,
	    b->echo16.err[0] ? ", error: " : "", b->echo16.err);
	cpu_line(f, "echo (1 session)", &b->echo1, b->ncpu);
	cpu_line(f, "echo (16 sessions)", &b->echo16, b->ncpu);
	if (b->relay_ran)
		report_relay_details(b, f);
	fprintf(f, "- sessions held: %u opened (handshake + login + one echo "
	    "each, 4 clients in parallel) in %.1f s%s%s; per worker Pss "
	    "mean %.0f KiB, Rss mean %.0f KiB; Rss keyd (%u) %ld, authd (%u) "
	    "%ld, master %ld KiB.\n", b->held, b->held_open_s,
	    b->held_err[0] ? "; first error: " : "", b->held_err,
	    b->mem.pss_mean_kb, b->mem.rss_mean_kb, b->mem.n_keyd,
	    b->mem.keyd_rss, b->mem.n_authd, b->mem.authd_rss,
	    b->mem.master_rss);
	fprintf(f, "- process start and exit (fork, exec, dynamic linking, "
	    "exit; median of 15): /bin/true %.2f ms, the worker program "
	    "(session) %.2f ms.\n", b->exec_true_ms, b->exec_sc_ms);
	if (b->have_cold) {
		double sum = 0;
		size_t k;

		fprintf(f, "- first use in a fresh process (median of %d), ms:",
		    COLD_RUNS);
		for (k = 0; k < COLD_N; k++) {
			fprintf(f, "%s %s %.2f", k ? ";" : "", cold_names[k],
			    b->cold[k]);
			if (k != 4)	/* the warm keygen is for comparison */
				sum += b->cold[k];
		}
		fprintf(f, "; total %.2f.\n", sum);
	}
	for (i = 0; i < STARTS; i++)
		fprintf(f, "- start %d (scrypt 2^%d%s): listening %.1f ms, "
		    "handshake %.1f ms, echo %.1f ms.\n", i + 1, KDF_LOG2N,
		    i == 0 ? ", registration" : "", b->st_kdf[i].listen_ms,
		    b->st_kdf[i].hs_ms, b->st_kdf[i].echo_ms);
	fprintf(f, "- start (scrypt 2^%d, registration): listening %.1f ms, "
	    "handshake %.1f ms, echo %.1f ms.\n", FAST_LOG2N,
	    b->st_fast.listen_ms, b->st_fast.hs_ms, b->st_fast.echo_ms);
}

static void
usage(void)
{
	fprintf(stderr, "usage: scbench [-q] [-n sessions] [-o results.md] "
	    "[-P phases] [-T seconds]\n"
	    "  phases: speed,cold,startup,kdf,hs,echo,relay,held "
	    "(comma-separated)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct bench b;
	const char *outpath = NULL;
	struct rlimit rl;
	double t_begin = now_s();
	int ch, i, rc = 0;

	/* A fresh process for the cold-start probe: nothing before it. */
	if (argc == 3 && strcmp(argv[1], "-C") == 0)
		return cold_probe(argv[2]);
	memset(&b, 0, sizeof(b));
	b.held_target = 1000;
	b.tls_pid = -1;
	while ((ch = getopt(argc, argv, "qn:o:P:T:")) != -1) {
		switch (ch) {
		case 'q':
			b.quick = 1;
			b.held_target = 100;
			break;
		case 'n':
			b.held_target = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'P':
			b.phases = optarg;
			break;
		case 'T':
			b.secs = strtod(optarg, NULL);
			break;
		default:
			usage();
		}
	}
	if (b.held_target < 4 || b.held_target > 1024)
		usage();
	signal(SIGPIPE, SIG_IGN);
	/* Held sessions: one socket each on our side. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	machine_info(&b);
	loadavg(b.load_begin, sizeof(b.load_begin));
	b.sh = mmap(NULL, sizeof(*b.sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	b.lat = mmap(NULL, sizeof(float) * MAX_CHILDREN * LAT_CAP,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b.sh == MAP_FAILED || b.lat == MAP_FAILED) {
		say("mmap: %s", strerror(errno));
		return 1;
	}
	say("%d CPU %s, %s, %s%s", b.ncpu, b.cpu, b.kernel, b.ossl,
	    b.quick ? " (quick run)" : "");

	say("setting up: CA, certificates, MariaDB");
	if (scenv_setup(&b.e, "bench") == -1) {
		say("setup failed");
		scenv_teardown(&b.e);
		return 1;
	}
	/* The accounts' own certificates (CN = username). */
	if (scenv_issue(&b.e, BENCH_USER_KDF, "--client") == -1 ||
	    scenv_issue(&b.e, BENCH_USER_FAST, "--client") == -1) {
		say("setup failed");
		scenv_teardown(&b.e);
		return 1;
	}
	fs_info(&b);
	if (want(&b, "cold"))
		phase_cold(&b);

	/* The configured KDF: start-up samples, then the login rate. */
	for (i = 0; i < STARTS && (want(&b, "startup") || want(&b, "kdf"));
	    i++) {
		say("start %d of securechatd (scrypt 2^%d)", i + 1, KDF_LOG2N);
		if (daemon_start(&b, KDF_LOG2N, BENCH_USER_KDF, i == 0,
		    &b.st_kdf[i]) == -1) {
			rc = 1;
			goto out;
		}
		say("listening %.1f ms, handshake %.1f ms, echo %.1f ms",
		    b.st_kdf[i].listen_ms, b.st_kdf[i].hs_ms,
		    b.st_kdf[i].echo_ms);
		if (i + 1 < STARTS)
			(void)scenv_stop_daemon(&b.e);
	}
	if (want(&b, "kdf"))
		phase_kdf(&b);
	(void)scenv_stop_daemon(&b.e);

	/*
	 * The rest is about handshakes, records and memory: the cheapest
	 * KDF keeps 1,000 logins from taking minutes in a single authd.
	 */
	if (want(&b, "hs") || want(&b, "echo") || want(&b, "relay") ||
	    want(&b, "held")) {
		say("start of securechatd (scrypt 2^%d)", FAST_LOG2N);
		if (daemon_start(&b, FAST_LOG2N, BENCH_USER_FAST, 1,
		    &b.st_fast) == -1) {
			rc = 1;
			goto out;
		}
		say("listening %.1f ms, handshake %.1f ms, echo %.1f ms",
		    b.st_fast.listen_ms, b.st_fast.hs_ms, b.st_fast.echo_ms);
	}
	if (want(&b, "hs"))
		phase_handshakes(&b);
	/* Next to the echo runs: the machine may be shared and busy. */
	if (want(&b, "speed"))
		phase_baselines(&b);
	if (want(&b, "echo"))
		phase_echo(&b);
	if (want(&b, "relay"))
		phase_relay(&b);
	if (want(&b, "held"))
		phase_held(&b);

	loadavg(b.load_end, sizeof(b.load_end));
	fprintf(stdout, "\n");
	report(&b, stdout);
	fprintf(stdout, "\nTotal bench time: %.0f s.\n", now_s() - t_begin);
	if (outpath != NULL) {
		FILE *f = fopen(outpath, "w");

		if (f == NULL)
			say("%s: %s", outpath, strerror(errno));
		else {
			report(&b, f);
			if (fclose(f) == EOF)
				say("%s: %s", outpath, strerror(errno));
			else
				say("table written to %s", outpath);
		}
	}
 out:
	tls_server_stop(&b);
	scenv_teardown(&b.e);
	return rc;
}
