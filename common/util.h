/*
 * util.h: small helpers shared by every program.
 */
#ifndef SC_UTIL_H
#define SC_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void	hex_encode(const uint8_t *, size_t n, char *out);
/* Exactly 2n hex digits into n bytes; -1 on any other input. */
int	hex_decode(const char *, uint8_t *out, size_t n);
/*
 * Read a whole regular file of at most max bytes into a fresh buffer
 * (NUL-terminated for convenience; *lenp excludes it).  Fails with EFBIG
 * before allocating when the file is larger.  Free with freezero().
 */
uint8_t	*read_file_bounded(const char *path, size_t max, size_t *lenp);
/*
 * Write a file created with O_EXCL (or replaced atomically via a temporary
 * and rename when force is set) with the given mode; fsync before rename.
 */
int	write_file_new(const char *path, const void *, size_t, int mode, int force);
/* Milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t now_ms(void);
/*
 * A helper daemon's signals: SIGTERM and SIGINT call on_term (installed
 * without SA_RESTART, so that a blocking poll returns), SIGPIPE and
 * SIGHUP are ignored (the master reloads, not its helpers).  Fatal on
 * failure.
 */
void	daemon_signals(void (*on_term)(int));

#endif
