/* json.c - the JSON writer behind every record: RFC 8259 output, RFC 3629 UTF-8 checks, RFC 3339 times.
 *
 * Hot path: one record per flow end and per decoded message. The buffer only grows, so
 * once it has reached the size of the largest record no call allocates. Strings are
 * escaped by hand (no snprintf) with a fast path that copies runs of plain ASCII.
 *
 * Invariants: j->buf, once allocated, is NUL-terminated at j->len, so a record can be
 * used as a C string too. depth counts open containers; first[depth - 1] says whether
 * the innermost one has no member yet. Containers nested deeper than
 * IW_JSON_MAX_DEPTH are written as null and everything inside them is skipped, so the
 * record stays valid JSON whatever a serialiser is fed. */
/* gmtime_r: POSIX.1-2008 when the build does not ask for more. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "../parsers/alloc.h"
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What the string escaper does with each byte: copy it as it is, escape it (RFC 8259
 * §7: quotation mark, reverse solidus, U+0000..U+001F) or check it as the start of a
 * UTF-8 sequence (RFC 3629 §4). */
enum { C_PLAIN = 0, C_ESC = 1, C_UTF8 = 2 };

/* By byte value, 16 a row: 1 at 0x00-0x1f, at 0x22 ('"') and at 0x5c ('\\'). */
/* clang-format off */
static const unsigned char byte_class[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xa0 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xb0 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xc0 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xd0 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xe0 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xf0 */
};
/* clang-format on */

static const char hex_digits[] = "0123456789abcdef";

/* The longest a byte can become: "\u00XX" for a control character, "\ufffd" for a byte
 * that is not valid UTF-8. */
#define MAX_ESCAPED 6

/* Makes room for extra more bytes and the terminating NUL. */
static void reserve(struct iw_json *j, size_t extra)
{
	if (j->buf != NULL && j->cap - j->len > extra)
		return;
	if (extra > SIZE_MAX / 2 - j->len - 1)
		iw_oom();
	size_t need = j->len + extra + 1;
	size_t cap = j->cap ? j->cap : 256;
	while (cap < need)
		cap *= 2;
	j->buf = iw_realloc(j->buf, cap);
	j->cap = cap;
}

static void put(struct iw_json *j, const char *s, size_t n)
{
	reserve(j, n);
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void put_c(struct iw_json *j, char c)
{
	reserve(j, 1);
	j->buf[j->len++] = c;
	j->buf[j->len] = '\0';
}

/* Length of the valid UTF-8 sequence at p (RFC 3629 §4: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 when the byte at p does not start one. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;

	if (c < 0xc2) /* continuation byte, or C0/C1: always overlong */
		return 0;
	if (c < 0xe0)
		return left >= 2 && p[1] >= 0x80 && p[1] <= 0xbf ? 2 : 0;
	if (c < 0xf0) {
		if (c == 0xe0)
			lo = 0xa0; /* below: overlong */
		else if (c == 0xed)
			hi = 0x9f; /* above: UTF-16 surrogates */
		if (left < 3 || p[1] < lo || p[1] > hi || p[2] < 0x80 || p[2] > 0xbf)
			return 0;
		return 3;
	}
	if (c < 0xf5) {
		if (c == 0xf0)
			lo = 0x90; /* below: overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above: past U+10FFFF */
		if (left < 4 || p[1] < lo || p[1] > hi || p[2] < 0x80 || p[2] > 0xbf || p[3] < 0x80 ||
		    p[3] > 0xbf)
			return 0;
		return 4;
	}
	return 0;
}

/* Writes s[0..n) as a JSON string, quotes included. */
static void put_string(struct iw_json *j, const char *s, size_t n)
{
	if (n > (SIZE_MAX - 3) / MAX_ESCAPED)
		iw_oom();
	reserve(j, n * MAX_ESCAPED + 2);

	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	char *o = j->buf + j->len;

	*o++ = '"';
	while (p < end) {
		const unsigned char *run = p;
		while (p < end && byte_class[*p] == C_PLAIN)
			p++;
		if (p != run) {
			memcpy(o, run, (size_t)(p - run));
			o += p - run;
		}
		if (p == end)
			break;
		unsigned char c = *p;
		if (byte_class[c] == C_ESC) {
			*o++ = '\\';
			switch (c) {
			case '"':
				*o++ = '"';
				break;
			case '\\':
				*o++ = '\\';
				break;
			case '\b':
				*o++ = 'b';
				break;
			case '\f':
				*o++ = 'f';
				break;
			case '\n':
				*o++ = 'n';
				break;
			case '\r':
				*o++ = 'r';
				break;
			case '\t':
				*o++ = 't';
				break;
			default:
				memcpy(o, "u00", 3);
				o[3] = hex_digits[c >> 4];
				o[4] = hex_digits[c & 0xf];
				o += 5;
				break;
			}
			p++;
			continue;
		}
		size_t k = utf8_seq(p, (size_t)(end - p));
		if (k) {
			memcpy(o, p, k);
			o += k;
			p += k;
		} else {
			/* One replacement per byte: a sequence cut short becomes as many
			 * U+FFFD as it has bytes, and the next valid character survives. */
			memcpy(o, "\\ufffd", 6);
			o += 6;
			p++;
		}
	}
	*o++ = '"';
	j->len = (size_t)(o - j->buf);
	j->buf[j->len] = '\0';
}

/* The separator and key before a value. Returns false when the value falls inside a
 * container that was too deep and must be skipped. */
static bool value_begin(struct iw_json *j, const char *key)
{
	if (j->depth > IW_JSON_MAX_DEPTH)
		return false;
	if (j->depth == 0)
		return true; /* the record itself: no separator, no key */
	if (!j->first[j->depth - 1])
		put_c(j, ',');
	j->first[j->depth - 1] = false;
	if (key != NULL) {
		put_string(j, key, strlen(key));
		put_c(j, ':');
	}
	return true;
}

static void container_begin(struct iw_json *j, const char *key, char open)
{
	if (value_begin(j, key)) {
		if (j->depth == IW_JSON_MAX_DEPTH)
			put(j, "null", 4);
		else
			put_c(j, open);
	}
	j->depth++;
	if (j->depth <= IW_JSON_MAX_DEPTH)
		j->first[j->depth - 1] = true;
}

static void container_end(struct iw_json *j, char close)
{
	if (j->depth == 0)
		return; /* unbalanced end: a caller bug, but never write past the record */
	if (j->depth <= IW_JSON_MAX_DEPTH)
		put_c(j, close);
	j->depth--;
}

/* Writes v in decimal ending just before end; returns where it starts. */
static char *fmt_u64(uint64_t v, char *end)
{
	char *p = end;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

static void put_u64(struct iw_json *j, uint64_t v, bool neg)
{
	char tmp[24];
	char *p = fmt_u64(v, tmp + sizeof(tmp));
	if (neg)
		*--p = '-';
	put(j, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void put_i64(struct iw_json *j, int64_t v)
{
	if (v < 0)
		put_u64(j, (uint64_t)0 - (uint64_t)v, true); /* exact for INT64_MIN too */
	else
		put_u64(j, (uint64_t)v, false);
}

/* An empty writer; nothing is allocated until the first value. */
void iw_json_init(struct iw_json *j)
{
	memset(j, 0, sizeof(*j));
}

/* Frees the buffer and leaves j empty (freeing twice is harmless). */
void iw_json_free(struct iw_json *j)
{
	free(j->buf);
	memset(j, 0, sizeof(*j));
}

/* Keeps the buffer: the next record reuses its memory. */
void iw_json_reset(struct iw_json *j)
{
	j->len = 0;
	j->depth = 0;
	if (j->buf != NULL)
		j->buf[0] = '\0';
}

/* The value functions below never fail: they abort when memory runs out, and key is
 * NULL at the top level and inside arrays, a member name (escaped like any string)
 * inside objects. Nothing they are given is kept after they return. */
void iw_json_obj_begin(struct iw_json *j, const char *key)
{
	container_begin(j, key, '{');
}

void iw_json_obj_end(struct iw_json *j)
{
	container_end(j, '}');
}

void iw_json_arr_begin(struct iw_json *j, const char *key)
{
	container_begin(j, key, '[');
}

void iw_json_arr_end(struct iw_json *j)
{
	container_end(j, ']');
}

void iw_json_str(struct iw_json *j, const char *key, const char *s)
{
	if (s == NULL)
		iw_json_null(j, key);
	else
		iw_json_strn(j, key, s, strlen(s));
}

void iw_json_strn(struct iw_json *j, const char *key, const char *s, size_t n)
{
	if (s == NULL) {
		iw_json_null(j, key);
		return;
	}
	if (value_begin(j, key))
		put_string(j, s, n);
}

void iw_json_int(struct iw_json *j, const char *key, int64_t v)
{
	if (value_begin(j, key))
		put_i64(j, v);
}

void iw_json_uint(struct iw_json *j, const char *key, uint64_t v)
{
	if (value_begin(j, key))
		put_u64(j, v, false);
}

/* Integral values below 2^53 as integers, others in the shortest %g form that reads
 * back to the same double; NaN and infinities as null. */
void iw_json_double(struct iw_json *j, const char *key, double v)
{
	if (!value_begin(j, key))
		return;
	if (!isfinite(v)) {
		put(j, "null", 4); /* RFC 8259 §6 has no Infinity or NaN */
		return;
	}
	if (v == 0) {
		if (signbit(v))
			put(j, "-0.0", 4);
		else
			put_c(j, '0');
		return;
	}
	/* Whole numbers below 2^53 are exact as integers: "3", not "3.0000000000000000". */
	if (v >= -9007199254740992.0 && v <= 9007199254740992.0 && v == (double)(int64_t)v) {
		put_i64(j, (int64_t)v);
		return;
	}
	/* The shortest of %.15g .. %.17g that reads back as v; %.17g always does. */
	char tmp[40];
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (prec == 17 || strtod(tmp, NULL) == v)
			break;
	}
	if (n <= 0 || (size_t)n >= sizeof(tmp)) {
		put(j, "null", 4);
		return;
	}
	for (int i = 0; i < n; i++)
		if (tmp[i] == ',')
			tmp[i] = '.'; /* a locale with a decimal comma */
	put(j, tmp, (size_t)n);
}

void iw_json_bool(struct iw_json *j, const char *key, bool v)
{
	if (value_begin(j, key))
		put(j, v ? "true" : "false", v ? 4 : 5);
}

void iw_json_null(struct iw_json *j, const char *key)
{
	if (value_begin(j, key))
		put(j, "null", 4);
}

/* RFC 3339 with microseconds is always 27 bytes: "YYYY-MM-DDThh:mm:ss.uuuuuuZ". */
#define TIME_LEN 27

void iw_json_time(struct iw_json *j, const char *key, uint64_t ts_us)
{
	if (!value_begin(j, key))
		return;
	reserve(j, TIME_LEN + 2);
	j->buf[j->len++] = '"';
	iw_json_fmt_time(ts_us, j->buf + j->len, TIME_LEN + 1);
	j->len += TIME_LEN;
	j->buf[j->len++] = '"';
	j->buf[j->len] = '\0';
}

static char *put2(char *o, unsigned v)
{
	o[0] = (char)('0' + v / 10 % 10);
	o[1] = (char)('0' + v % 10);
	return o + 2;
}

/* RFC 3339 §5.6 date-time: four-digit years only, so later instants are clamped to the
 * last microsecond of 9999. */
#define LAST_SECOND 253402300799ULL /* 9999-12-31T23:59:59Z */

/* Always UTC (gmtime_r, whatever TZ says). A buf shorter than 28 bytes gets the start
 * of the text, still NUL-terminated. */
void iw_json_fmt_time(uint64_t ts_us, char *buf, size_t len)
{
	uint64_t secs = ts_us / 1000000;
	unsigned usec = (unsigned)(ts_us % 1000000);
	if (secs > LAST_SECOND) {
		secs = LAST_SECOND;
		usec = 999999;
	}

	struct tm tm;
	time_t t = (time_t)secs;
	if ((uint64_t)t != secs || gmtime_r(&t, &tm) == NULL) {
		memset(&tm, 0, sizeof(tm)); /* a time_t too narrow for the date: the epoch */
		tm.tm_year = 70;
		tm.tm_mday = 1;
		usec = 0;
	}

	char s[TIME_LEN + 1], *o = s;
	unsigned year = (unsigned)tm.tm_year + 1900;
	o = put2(o, year / 100);
	o = put2(o, year % 100);
	*o++ = '-';
	o = put2(o, (unsigned)tm.tm_mon + 1);
	*o++ = '-';
	o = put2(o, (unsigned)tm.tm_mday);
	*o++ = 'T';
	o = put2(o, (unsigned)tm.tm_hour);
	*o++ = ':';
	o = put2(o, (unsigned)tm.tm_min);
	*o++ = ':';
	o = put2(o, (unsigned)tm.tm_sec);
	*o++ = '.';
	o = put2(o, usec / 10000);
	o = put2(o, usec / 100 % 100);
	o = put2(o, usec % 100);
	*o++ = 'Z';
	*o = '\0';

	if (len == 0)
		return;
	size_t n = (size_t)(o - s);
	if (n > len - 1)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}
