/*
 * log.h: logging in the OpenBSD daemons' shape.
 *
 * log_init() chooses stderr (foreground/debug) or syslog; log_procinit()
 * names the process in every line.  log_warn() appends strerror(errno);
 * every function keeps errno.  fatal()/fatalx() log and exit(1).
 */
#ifndef SC_LOG_H
#define SC_LOG_H

#include <stdarg.h>

void	log_init(int to_stderr, int verbose, int facility);
void	log_procinit(const char *procname);
/* As log_procinit, keeping the syslog connection (after a chroot). */
void	log_rename(const char *procname);
void	log_setverbose(int verbose);
int	log_getverbose(void);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	logit(int pri, const char *, ...) __attribute__((format(printf, 2, 3)));
void	vlog(int pri, const char *, va_list) __attribute__((format(printf, 2, 0)));
/* Log the OpenSSL error queue (then clear it) after a message. */
void	log_sslx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
