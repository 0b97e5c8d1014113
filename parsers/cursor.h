/* cursor.h - bounds-checked reader over untrusted bytes (STYLE.md "Reading bytes").
 *
 * Every read of packet bytes in parsers/ goes through an iw_cur. A read past the end
 * returns 0 (or an empty span) and sets err; callers check err once per unit. Lengths
 * are compared as (size_t)(end - p) < n, never by forming p + n first. */
#ifndef IW_CURSOR_H
#define IW_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IW_OK        0
#define IW_ERR       (-1)
#define IW_NEED_MORE (-2)
#define IW_DONE      (-3) /* a TCP parser has nothing more to read in this direction */

struct iw_cur {
	const uint8_t *p, *end;
	bool err;
};

static inline struct iw_cur iw_cur_make(const uint8_t *p, size_t n)
{
	struct iw_cur c = {p, p + n, false};
	return c;
}

static inline size_t iw_cur_left(const struct iw_cur *c)
{
	return c->err ? 0 : (size_t)(c->end - c->p);
}

static inline bool iw_cur_has(const struct iw_cur *c, size_t n)
{
	return !c->err && (size_t)(c->end - c->p) >= n;
}

static inline uint8_t iw_cur_u8(struct iw_cur *c)
{
	if (!iw_cur_has(c, 1)) {
		c->err = true;
		return 0;
	}
	return *c->p++;
}

static inline uint16_t iw_cur_be16(struct iw_cur *c)
{
	if (!iw_cur_has(c, 2)) {
		c->err = true;
		return 0;
	}
	uint16_t v = (uint16_t)((unsigned)c->p[0] << 8 | c->p[1]);
	c->p += 2;
	return v;
}

static inline uint16_t iw_cur_le16(struct iw_cur *c)
{
	if (!iw_cur_has(c, 2)) {
		c->err = true;
		return 0;
	}
	uint16_t v = (uint16_t)((unsigned)c->p[1] << 8 | c->p[0]);
	c->p += 2;
	return v;
}

static inline uint32_t iw_cur_be32(struct iw_cur *c)
{
	if (!iw_cur_has(c, 4)) {
		c->err = true;
		return 0;
	}
	uint32_t v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	return v;
}

static inline uint32_t iw_cur_le32(struct iw_cur *c)
{
	if (!iw_cur_has(c, 4)) {
		c->err = true;
		return 0;
	}
	uint32_t v = (uint32_t)c->p[3] << 24 | (uint32_t)c->p[2] << 16 | (uint32_t)c->p[1] << 8 | c->p[0];
	c->p += 4;
	return v;
}

/* Reads the byte at offset off from the current position without consuming it.
 * Past the end: returns 0 and sets err. */
static inline uint8_t iw_cur_peek(struct iw_cur *c, size_t off)
{
	if (c->err || (size_t)(c->end - c->p) <= off) {
		c->err = true;
		return 0;
	}
	return c->p[off];
}

static inline bool iw_cur_skip(struct iw_cur *c, size_t n)
{
	if (!iw_cur_has(c, n)) {
		c->err = true;
		return false;
	}
	c->p += n;
	return true;
}

/* Points *out at the next n bytes and consumes them. Returns false (err set, *out = NULL)
 * when fewer than n bytes are left. */
static inline bool iw_cur_bytes(struct iw_cur *c, size_t n, const uint8_t **out)
{
	if (!iw_cur_has(c, n)) {
		c->err = true;
		*out = NULL;
		return false;
	}
	*out = c->p;
	c->p += n;
	return true;
}

/* A child cursor over the next n bytes, which the parent skips. If fewer than n are
 * left, both the child and the parent have err set. */
static inline struct iw_cur iw_cur_sub(struct iw_cur *c, size_t n)
{
	struct iw_cur s = {c->p, c->p, true};
	if (!iw_cur_has(c, n)) {
		c->err = true;
		return s;
	}
	s.end = c->p + n;
	s.err = false;
	c->p += n;
	return s;
}

/* Everything left, consumed. */
static inline struct iw_cur iw_cur_rest(struct iw_cur *c)
{
	return iw_cur_sub(c, iw_cur_left(c));
}

#endif
