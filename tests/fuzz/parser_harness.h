/* parser_harness.h - the libFuzzer body shared by every protocol parser target: the
 * file that includes it defines PARSER as the descriptor to drive (fuzz_<proto>.c). */
#ifndef PARSER
#error "define PARSER (e.g. iw_parser_mqtt) before including parser_harness.h"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "parsers/cursor.h"
#include "parsers/event.h"
#include "parsers/parser.h"

extern const struct iw_parser PARSER;

/* The input is one direction's payload bytes (seeds: TCP or UDP payloads from captures).
 * The probe sees all of it both ways. A parser, when the descriptor has one, sees it as
 * one whole stream or datagram each way, then as a stream cut into small pieces with a
 * gap in the middle (TCP), or as datagrams cut by one-byte length prefixes (UDP). */

struct counts {
	uint64_t events, anomalies;
};

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void count_event(struct iw_parse_ctx *ctx, struct iw_event *ev)
{
	struct counts *c = ctx->arg;
	check(ev != NULL && (unsigned)ev->kind < IW_EV__COUNT);
	c->events++;
}

static void check_identity(struct iw_parse_ctx *ctx, enum iw_identity kind, const char *s, size_t n)
{
	(void)ctx;
	check((unsigned)kind <= IW_ID_ENDPOINT && (s != NULL || n == 0));
	for (size_t i = 0; i < n; i++) /* every byte must be readable */
		(void)*(volatile const char *)&s[i];
}

static void count_anomaly(struct iw_parse_ctx *ctx, const char *reason)
{
	struct counts *c = ctx->arg;
	check(reason != NULL && reason[0] != '\0');
	c->anomalies++;
}

/* A stream direction as the sensor keeps it: what the parser left (IW_NEED_MORE) is
 * kept and the next piece appended; past max_message the buffer is dropped as a gap. */
struct dir_buf {
	uint8_t *b;
	size_t len;
	bool off; /* the parser gave up (IW_ERR) */
};

static void stream_feed(const struct iw_parser *p, void *st, struct iw_parse_ctx *ctx, int dir,
                        struct dir_buf *d, const uint8_t *data, size_t len)
{
	size_t max = 65536; /* as a sensor run with limits.max_message 64 KiB */
	if (d->off || !len)
		return;
	uint8_t *nb = realloc(d->b, d->len + len);
	if (!nb)
		abort();
	d->b = nb;
	memcpy(d->b + d->len, data, len);
	d->len += len;
	size_t used = 0;
	while (used < d->len) {
		/* an exact-size copy of what is left, so a read past it is a heap overflow */
		size_t n = d->len - used;
		uint8_t *view = malloc(n);
		if (!view)
			abort();
		memcpy(view, d->b + used, n);
		int rc = p->parse(st, ctx, dir, view, n);
		free(view);
		if (rc == IW_NEED_MORE)
			break;
		if (rc == IW_ERR || rc == IW_DONE) { /* the direction is not read any more */
			d->off = true;
			break;
		}
		check(rc > 0 && (size_t)rc <= n); /* bytes consumed, or one of the codes */
		used += (size_t)rc;
	}
	memmove(d->b, d->b + used, d->len - used);
	d->len -= used;
	if (d->len > max) {
		d->len = 0;
		if (p->gap)
			p->gap(st, ctx, dir, (uint32_t)max);
	}
}

static void datagram(const struct iw_parser *p, void *st, struct iw_parse_ctx *ctx, int dir,
                     const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	if (len)
		memcpy(copy, data, len);
	p->parse(st, ctx, dir, copy, len);
	free(copy);
}

static void session(const struct iw_parser *p, const uint8_t *data, size_t size, int pass)
{
	struct counts c = {0, 0};
	struct iw_flow_key key;
	memset(&key, 0, sizeof(key));
	key.family = 4;
	key.proto = p->ipproto;
	key.dport = p->ports[0];
	key.sport = 50000;
	struct iw_parse_ctx ctx = {
	    .ts_us = 1700000000000000ULL,
	    .flow_id = 1,
	    .key = &key,
	    .emit = count_event,
	    .anomaly = count_anomaly,
	    .identity = check_identity,
	    .arg = &c,
	};
	static const struct iw_parser_cfg cfg = {
	    .max_message = 65536, .max_items = 64, .payload_preview = 16};
	void *st = p->state_new ? p->state_new(&cfg) : NULL;
	if (p->ipproto == IPPROTO_TCP) {
		struct dir_buf d[2] = {{NULL, 0, false}, {NULL, 0, false}};
		if (pass < 2) {
			stream_feed(p, st, &ctx, pass, &d[pass], data, size);
		} else {
			/* small pieces, both directions taking turns, a gap halfway */
			size_t off = 0, piece = 1 + size % 7;
			for (int i = 0; off < size; i++) {
				size_t n = size - off < piece ? size - off : piece;
				if (i == 8 && p->gap) {
					d[0].len = 0;
					p->gap(st, &ctx, IW_DIR_TOSERVER, 100);
				}
				stream_feed(p, st, &ctx, i % 3 == 2 ? IW_DIR_TOCLIENT : IW_DIR_TOSERVER,
				            &d[i % 3 == 2], data + off, n);
				ctx.ts_us += 1000;
				off += n;
			}
		}
		free(d[0].b);
		free(d[1].b);
	} else {
		if (pass < 2) {
			datagram(p, st, &ctx, pass, data, size);
		} else {
			size_t off = 0;
			for (int i = 0; off < size; i++) {
				size_t n = data[off++];
				if (n > size - off)
					n = size - off;
				datagram(p, st, &ctx, i & 1, data + off, n);
				off += n;
			}
		}
	}
	if (p->end)
		p->end(st, &ctx);
	if (p->state_free)
		p->state_free(st);
}

/* make fuzz builds UBSan in recover mode: stop at the first finding instead, so that
 * libFuzzer keeps the input that caused it. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct iw_parser *p = &PARSER;
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	if (size)
		memcpy(copy, data, size);
	for (int dir = IW_DIR_TOSERVER; dir <= IW_DIR_TOCLIENT; dir++) {
		int rc = p->probe(copy, size, dir);
		check(rc == IW_OK || rc == IW_ERR || rc == IW_NEED_MORE);
	}
	free(copy);
	if (p->parse)
		for (int pass = 0; pass < 3; pass++)
			session(p, data, size, pass);
	return 0;
}
