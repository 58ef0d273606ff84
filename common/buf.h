/*
 * buf.h: bounded big-endian encoding and parsing.
 *
 * A struct wbuf grows up to a hard cap fixed at creation; a struct cursor
 * reads from a byte range and latches an error on the first short read, so
 * a parser can read every field and check cur_done() once at the end: it
 * fails unless every read succeeded and the cursor is exactly at the end.
 * Every message that crosses a process or network boundary uses these.
 */
#ifndef SC_BUF_H
#define SC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct wbuf {
	uint8_t	*data;
	size_t	 len;
	size_t	 cap;	/* allocated */
	size_t	 max;	/* hard limit */
	int	 err;	/* latched: allocation failure or limit exceeded */
};

struct cursor {
	const uint8_t	*p;
	size_t		 left;
	int		 err;
};

void	wbuf_init(struct wbuf *, size_t max);
/* Wipes the contents (they may be secret) and frees. */
void	wbuf_free(struct wbuf *);
void	wbuf_reset(struct wbuf *);
int	wbuf_put(struct wbuf *, const void *, size_t);
int	wbuf_put_u8(struct wbuf *, uint8_t);
int	wbuf_put_u16(struct wbuf *, uint16_t);
int	wbuf_put_u32(struct wbuf *, uint32_t);
int	wbuf_put_u64(struct wbuf *, uint64_t);
/* Length-prefixed byte strings: u16 or u32 length, then the bytes. */
int	wbuf_put_str16(struct wbuf *, const void *, size_t);
int	wbuf_put_str32(struct wbuf *, const void *, size_t);
/* Reserve n bytes and return a pointer to them (NULL on error). */
uint8_t	*wbuf_reserve(struct wbuf *, size_t n);

void	cur_init(struct cursor *, const void *, size_t);
uint8_t	 cur_u8(struct cursor *);
uint16_t cur_u16(struct cursor *);
uint32_t cur_u32(struct cursor *);
uint64_t cur_u64(struct cursor *);
/* Copy exactly n bytes out. */
void	 cur_bytes(struct cursor *, void *, size_t n);
/* Point at the next n bytes without copying. */
const uint8_t *cur_ptr(struct cursor *, size_t n);
/* u16/u32 length-prefixed string; fails if the length exceeds max. */
const uint8_t *cur_str16(struct cursor *, size_t *lenp, size_t max);
const uint8_t *cur_str32(struct cursor *, size_t *lenp, size_t max);
/* 0 if no read failed and no byte is left over, else -1. */
int	 cur_done(const struct cursor *);

#endif
