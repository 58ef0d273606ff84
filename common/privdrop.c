/*
 * privdrop.c: drop root in one place, always in the same order (see
 * privdrop.h).  The order matters: the jail is checked before chroot so a
 * writable jail cannot be swapped under us; /dev/null is opened before
 * chroot because the jail is empty; groups go before the uid because only
 * root may change them; the proof that root is gone comes before anything
 * that assumes it; no_new_privs comes last so the caller's seccomp filter
 * can be installed without CAP_SYS_ADMIN.
 */
#include "privdrop.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/*
 * LeakSanitizer stops the world with a helper thread (clone) at exit;
 * RLIMIT_NPROC 0 would make every sanitized run end in an LSan error.
 */
#if defined(__SANITIZE_ADDRESS__)
#define PRIVDROP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRIVDROP_SANITIZED 1
#endif
#endif
#ifndef PRIVDROP_SANITIZED
#define PRIVDROP_SANITIZED 0
#endif

#if PRIVDROP_SANITIZED
#include <sanitizer/lsan_interface.h>
#endif

/*
 * LeakSanitizer needs /proc and ptrace, which the jail and the sandbox
 * take away: in sanitized builds the leak check runs now, while it can
 * (this also cancels the check at exit, which would fail and hang).
 */
static void
leak_check_now(void)
{
#if PRIVDROP_SANITIZED
	__lsan_do_leak_check();
#endif
}

static int
jail_component_ok(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		log_warn("jail: %s", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("jail: %s is not a directory", path);
		errno = ENOTDIR;
		return -1;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		log_warnx("jail: %s must be owned by root and not writable by "
		    "group or others", path);
		errno = EPERM;
		return -1;
	}
	return 0;
}

int
privdrop_jail_dir(const char *path)
{
	char comp[PATH_MAX];
	size_t len, i;
	DIR *d;
	struct dirent *de;
	int saved;

	if (path == NULL || path[0] != '/') {
		log_warnx("jail: %s: not an absolute path",
		    path == NULL ? "(none)" : path);
		errno = EINVAL;
		return -1;
	}
	len = strlen(path);
	if (len >= sizeof(comp)) {
		log_warnx("jail: path too long");
		errno = ENAMETOOLONG;
		return -1;
	}
	/*
	 * Every ancestor too: a writable parent would let its owner
	 * rename the jail away and put a populated one in its place.
	 */
	if (jail_component_ok("/") == -1)
		return -1;
	for (i = 1; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		memcpy(comp, path, i);
		comp[i] = '\0';
		if (i > 1 && comp[i - 1] == '/')
			continue;	/* "//" or a trailing slash */
		if (jail_component_ok(comp) == -1)
			return -1;
	}
	/* An empty jail gives a compromised child nothing to read. */
	if ((d = opendir(path)) == NULL) {
		log_warn("jail: %s", path);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		log_warnx("jail: %s is not empty (it holds \"%s\")", path,
		    de->d_name);
		closedir(d);
		errno = ENOTEMPTY;
		return -1;
	}
	saved = errno;
	closedir(d);
	if (saved != 0) {
		errno = saved;
		log_warn("jail: readdir %s", path);
		return -1;
	}
	return 0;
}

static int
set_limit(int resource, const char *name, rlim_t value)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) == -1) {
		log_warn("privdrop: getrlimit %s", name);
		return -1;
	}
	/* Only ever lower: an unprivileged process cannot raise the hard limit. */
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < value)
		value = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = value;
	if (setrlimit(resource, &rl) == -1) {
		log_warn("privdrop: setrlimit %s", name);
		return -1;
	}
	return 0;
}

int
privdrop_nofork(void)
{
	if (PRIVDROP_SANITIZED)
		return 0;
	return set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", 0);
}

static int
stdio_to_devnull(int devnull, int keep_stderr)
{
	if (dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(devnull, STDOUT_FILENO) == -1 ||
	    (!keep_stderr && dup2(devnull, STDERR_FILENO) == -1)) {
		log_warn("privdrop: dup2 /dev/null");
		return -1;
	}
	return 0;
}

static int
switch_user(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (setgroups(1, &gid) == -1) {
		log_warn("privdrop: setgroups");
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		log_warn("privdrop: setresgid %u", (unsigned)gid);
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		log_warn("privdrop: setresuid %u", (unsigned)uid);
		return -1;
	}
	/* Trust, but verify: all three ids, and that root cannot come back. */
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1) {
		log_warn("privdrop: getresuid");
		return -1;
	}
	if (ru != uid || eu != uid || su != uid ||
	    rg != gid || eg != gid || sg != gid) {
		log_warnx("privdrop: ids did not change as asked");
		return -1;
	}
	if (setgid(0) != -1 || setegid(0) != -1) {
		log_warnx("privdrop: could regain gid 0");
		return -1;
	}
	if (setuid(0) != -1 || seteuid(0) != -1) {
		log_warnx("privdrop: could regain uid 0");
		return -1;
	}
	return 0;
}

int
privdrop(const struct privdrop_spec *spec)
{
	static int dev_logged;
	struct passwd *pw;
	uid_t uid = 0;
	gid_t gid = 0;
	int root = geteuid() == 0 || getuid() == 0;
	int devnull;
	unsigned int nofile;

	if (spec == NULL) {
		errno = EINVAL;
		return -1;
	}
	leak_check_now();
	if (root) {
		if (spec->user == NULL || spec->jail == NULL) {
			log_warnx("privdrop: running as root needs a user "
			    "and a jail");
			errno = EINVAL;
			return -1;
		}
		errno = 0;
		if ((pw = getpwnam(spec->user)) == NULL) {
			if (errno != 0)
				log_warn("privdrop: getpwnam %s", spec->user);
			else
				log_warnx("privdrop: no such user %s",
				    spec->user);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		endpwent();
		if (uid == 0 || gid == 0) {
			log_warnx("privdrop: user %s has uid or gid 0",
			    spec->user);
			errno = EPERM;
			return -1;
		}
		if (privdrop_jail_dir(spec->jail) == -1)
			return -1;
	} else if (!dev_logged) {
		dev_logged = 1;
		log_info("not started as root (uid %u): development mode, "
		    "no user switch and no chroot", (unsigned)getuid());
	}

	/* The jail is empty, so /dev/null must be opened before entering it. */
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
		log_warn("privdrop: /dev/null");
		return -1;
	}
	if (root) {
		if (chroot(spec->jail) == -1) {
			log_warn("privdrop: chroot %s", spec->jail);
			close(devnull);
			return -1;
		}
		if (chdir("/") == -1) {
			log_warn("privdrop: chdir /");
			close(devnull);
			return -1;
		}
	}
	if (stdio_to_devnull(devnull, spec->keep_stderr) == -1) {
		close(devnull);
		return -1;
	}
	if (devnull > STDERR_FILENO)
		close(devnull);

	if (root && switch_user(uid, gid) == -1)
		return -1;

	/* No core files and no ptrace by the same user: memory holds keys. */
	if (set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0) == -1)
		return -1;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		log_warn("privdrop: PR_SET_DUMPABLE");
		return -1;
	}
	nofile = spec->max_files != 0 ? spec->max_files :
	    PRIVDROP_NOFILE_DEFAULT;
	if (set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", nofile) == -1)
		return -1;
	/*
	 * No child but the zygote forks or starts threads; a zero process
	 * limit makes fork fail even before seccomp would kill it.  The
	 * limit counts the real uid, so it is set only after the switch.
	 */
	if (!PRIVDROP_SANITIZED &&
	    set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", spec->max_procs) == -1)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_warn("privdrop: PR_SET_NO_NEW_PRIVS");
		return -1;
	}
	if (root)
		log_debug("privdrop: now %s in %s", spec->user, spec->jail);
	else
		log_debug("privdrop: done (development mode)");
	return 0;
}
