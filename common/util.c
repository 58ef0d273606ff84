/*
 * util.c: small helpers shared by every program.
 */
#include "util.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

void
hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(const char *s, uint8_t *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		if ((hi = hexval(s[2 * i])) < 0 || (lo = hexval(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

uint8_t *
read_file_bounded(const char *path, size_t max, size_t *lenp)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t off = 0;
	ssize_t r;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if ((uintmax_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	if ((buf = calloc(1, (size_t)st.st_size + 1)) == NULL)
		goto fail;
	while (off < (size_t)st.st_size) {
		r = read(fd, buf + off, (size_t)st.st_size - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	*lenp = off;
	return buf;
 fail:
	saved = errno;
	if (buf != NULL)
		freezero(buf, (size_t)st.st_size + 1);
	close(fd);
	errno = saved;
	return NULL;
}

static int
write_all(int fd, const void *v, size_t n)
{
	const uint8_t *p = v;
	ssize_t r;

	while (n > 0) {
		r = write(fd, p, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
write_file_new(const char *path, const void *data, size_t n, int mode, int force)
{
	char tmp[PATH_MAX];
	const char *target = path;
	int fd, saved;

	if (force) {
		if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >=
		    (int)sizeof(tmp)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
			return -1;
		target = tmp;
		if (fchmod(fd, (mode_t)mode) == -1)
			goto fail;
	} else if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, mode)) == -1)
		return -1;
	if (write_all(fd, data, n) == -1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (force && rename(tmp, path) == -1)
		goto fail;
	return 0;
 fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(target);
	errno = saved;
	return -1;
}

uint64_t
now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
daemon_signals(void (*on_term)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		fatal("sigaction");
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1)
		fatal("sigaction");
}
