/*
 * log.c: stderr or syslog logging for every SecureChat process.
 *
 * A chrooted process keeps working: syslog's socket is opened by
 * log_init() before the chroot (openlog with LOG_NDELAY).
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

static int	 log_stderr = 1;
static int	 log_verbose;
static int	 log_facility = LOG_DAEMON;
static const char *log_procname = "securechat";

void
log_init(int to_stderr, int verbose, int facility)
{
	log_stderr = to_stderr;
	log_verbose = verbose;
	if (facility != 0)
		log_facility = facility;
	if (!log_stderr)
		openlog(log_procname, LOG_PID | LOG_NDELAY, log_facility);
	tzset();
}

void
log_procinit(const char *procname)
{
	if (procname != NULL)
		log_procname = procname;
	if (!log_stderr) {
		closelog();
		openlog(log_procname, LOG_PID | LOG_NDELAY, log_facility);
	}
}

void
log_rename(const char *procname)
{
	log_procname = procname;
	/*
	 * openlog() without closelog() only changes the tag: glibc keeps
	 * the socket connected before the chroot (there is no /dev/log to
	 * reconnect to inside the jail).
	 */
	if (!log_stderr)
		openlog(log_procname, LOG_PID | LOG_NDELAY, log_facility);
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

int
log_getverbose(void)
{
	return log_verbose;
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	int saved_errno = errno;
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Never let a peer's bytes forge log lines or terminal escapes. */
	for (char *p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (log_stderr)
		fprintf(stderr, "%s[%ld]: %s\n", log_procname, (long)getpid(), msg);
	else
		syslog(pri, "%s", msg);
	errno = saved_errno;
}

void
logit(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

static void
vlog_errno(int pri, int err, const char *fmt, va_list ap)
{
	char buf[1536];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	logit(pri, "%s: %s", buf, strerror(err));
}

void
log_warn(const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_ERR, saved_errno, fmt, ap);
	va_end(ap);
	errno = saved_errno;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
log_sslx(const char *fmt, ...)
{
	int saved_errno = errno;
	char buf[1024], ebuf[256];
	unsigned long e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e = ERR_peek_last_error();
	if (e != 0) {
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
		logit(LOG_ERR, "%s: %s", buf, ebuf);
	} else
		logit(LOG_ERR, "%s", buf);
	ERR_clear_error();
	errno = saved_errno;
}

void
fatal(const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, saved_errno, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
