/*
 * buf.c: bounded big-endian encoding and parsing (see buf.h).
 */
#include "buf.h"

#include <stdlib.h>
#include <string.h>


void
wbuf_init(struct wbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
wbuf_free(struct wbuf *b)
{
	if (b->data != NULL)
		freezero(b->data, b->cap);
	memset(b, 0, sizeof(*b));
}

void
wbuf_reset(struct wbuf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	b->len = 0;
	b->err = 0;
}

uint8_t *
wbuf_reserve(struct wbuf *b, size_t n)
{
	uint8_t *p;
	size_t ncap;

	if (b->err)
		return NULL;
	if (n > b->max || b->len > b->max - n) {
		b->err = 1;
		return NULL;
	}
	if (b->len + n > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n)
			ncap *= 2;
		if (ncap > b->max)
			ncap = b->max;
		/* recallocarray wipes the old copy: contents may be secret. */
		if ((p = recallocarray(b->data, b->cap, ncap, 1)) == NULL) {
			b->err = 1;
			return NULL;
		}
		b->data = p;
		b->cap = ncap;
	}
	p = b->data + b->len;
	b->len += n;
	return p;
}

int
wbuf_put(struct wbuf *b, const void *v, size_t n)
{
	uint8_t *p;

	if ((p = wbuf_reserve(b, n)) == NULL)
		return -1;
	if (n > 0)
		memcpy(p, v, n);
	return 0;
}

int
wbuf_put_u8(struct wbuf *b, uint8_t v)
{
	return wbuf_put(b, &v, 1);
}

int
wbuf_put_u16(struct wbuf *b, uint16_t v)
{
	uint8_t t[2] = { v >> 8, v };

	return wbuf_put(b, t, sizeof(t));
}

int
wbuf_put_u32(struct wbuf *b, uint32_t v)
{
	uint8_t t[4] = { v >> 24, v >> 16, v >> 8, v };

	return wbuf_put(b, t, sizeof(t));
}

int
wbuf_put_u64(struct wbuf *b, uint64_t v)
{
	if (wbuf_put_u32(b, (uint32_t)(v >> 32)) == -1)
		return -1;
	return wbuf_put_u32(b, (uint32_t)v);
}

int
wbuf_put_str16(struct wbuf *b, const void *v, size_t n)
{
	if (n > UINT16_MAX) {
		b->err = 1;
		return -1;
	}
	if (wbuf_put_u16(b, (uint16_t)n) == -1)
		return -1;
	return wbuf_put(b, v, n);
}

int
wbuf_put_str32(struct wbuf *b, const void *v, size_t n)
{
	if (n > UINT32_MAX) {
		b->err = 1;
		return -1;
	}
	if (wbuf_put_u32(b, (uint32_t)n) == -1)
		return -1;
	return wbuf_put(b, v, n);
}

void
cur_init(struct cursor *c, const void *p, size_t n)
{
	c->p = p;
	c->left = n;
	c->err = 0;
}

const uint8_t *
cur_ptr(struct cursor *c, size_t n)
{
	const uint8_t *p;

	if (c->err || n > c->left) {
		c->err = 1;
		return NULL;
	}
	p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

void
cur_bytes(struct cursor *c, void *out, size_t n)
{
	const uint8_t *p;

	if ((p = cur_ptr(c, n)) == NULL) {
		memset(out, 0, n);
		return;
	}
	memcpy(out, p, n);
}

uint8_t
cur_u8(struct cursor *c)
{
	const uint8_t *p = cur_ptr(c, 1);

	return p ? p[0] : 0;
}

uint16_t
cur_u16(struct cursor *c)
{
	const uint8_t *p = cur_ptr(c, 2);

	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t
cur_u32(struct cursor *c)
{
	const uint8_t *p = cur_ptr(c, 4);

	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3] : 0;
}

uint64_t
cur_u64(struct cursor *c)
{
	uint64_t hi = cur_u32(c);

	return hi << 32 | cur_u32(c);
}

const uint8_t *
cur_str16(struct cursor *c, size_t *lenp, size_t max)
{
	size_t n = cur_u16(c);

	if (c->err || n > max) {
		c->err = 1;
		*lenp = 0;
		return NULL;
	}
	*lenp = n;
	return cur_ptr(c, n);
}

const uint8_t *
cur_str32(struct cursor *c, size_t *lenp, size_t max)
{
	size_t n = cur_u32(c);

	if (c->err || n > max) {
		c->err = 1;
		*lenp = 0;
		return NULL;
	}
	*lenp = n;
	return cur_ptr(c, n);
}

int
cur_done(const struct cursor *c)
{
	return (c->err || c->left != 0) ? -1 : 0;
}
