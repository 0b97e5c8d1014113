/* defrag.c - IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5) within a byte, count
 * and time budget. Overlaps: the first copy of a byte wins; a later copy that differs is
 * dropped and counted (an evasion attempt, RFC 5722 forbids overlaps for IPv6).
 *
 * Each datagram keeps its payload in one buffer and a bitmap of the 8-octet blocks it
 * has; fragment offsets are in 8-octet units, so only the final fragment may end inside
 * a block, and that fragment fixes the total length. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cursor.h"
#include "defrag.h"

#define MAX_PAYLOAD 65535u
#define BLOCKS      ((MAX_PAYLOAD + 7) / 8 + 1)
#define BUCKETS     4096u

struct dg {
	struct dg *hnext;
	struct dg *older, *newer; /* creation order, for the timeout and eviction */
	struct iw_addr src, dst;
	uint32_t id;
	uint8_t family, proto;
	uint8_t hdr[60];
	uint8_t hdr_len;
	bool have_last;
	uint16_t nfrags;
	uint32_t total;   /* payload length, known once the final fragment came */
	uint32_t max_end; /* furthest byte any fragment reached */
	uint32_t blocks;  /* 8-octet blocks held */
	uint64_t first_us;
	uint32_t frames, wire; /* frames accepted and their wire length */
	uint8_t *buf;
	uint32_t cap;
	uint8_t have[BLOCKS / 8 + 1];
};

struct iw_defrag {
	struct iw_defrag_limits lim;
	struct dg *bucket[BUCKETS];
	struct dg *oldest, *newest;
	uint32_t n;
	uint64_t bytes;
	uint64_t expired;
	uint32_t done_frames, done_wire;
	uint8_t out[60 + MAX_PAYLOAD];
};

struct iw_defrag *iw_defrag_new(const struct iw_defrag_limits *lim)
{
	struct iw_defrag *d = iw_calloc(1, sizeof(*d));
	d->lim = *lim;
	return d;
}

static uint32_t dg_hash(const struct iw_frag *f)
{
	uint32_t h = f->id * 2654435761u ^ f->proto;
	size_t alen = f->family == 6 ? 16 : 4;
	for (size_t i = 0; i < alen; i++)
		h = (h ^ f->src->b[i] ^ (uint32_t)f->dst->b[i] << 8) * 16777619u;
	return h % BUCKETS;
}

static void dg_unlink(struct iw_defrag *d, struct dg *g)
{
	uint32_t b = 0;
	struct iw_frag key = {
	    .family = g->family, .src = &g->src, .dst = &g->dst, .id = g->id, .proto = g->proto};
	b = dg_hash(&key);
	for (struct dg **pp = &d->bucket[b]; *pp; pp = &(*pp)->hnext) {
		if (*pp == g) {
			*pp = g->hnext;
			break;
		}
	}
	if (g->older)
		g->older->newer = g->newer;
	else
		d->oldest = g->newer;
	if (g->newer)
		g->newer->older = g->older;
	else
		d->newest = g->older;
	d->n--;
	d->bytes -= g->cap;
	free(g->buf);
	free(g);
}

void iw_defrag_free(struct iw_defrag *d)
{
	if (!d)
		return;
	while (d->oldest)
		dg_unlink(d, d->oldest);
	free(d);
}

uint64_t iw_defrag_expired(const struct iw_defrag *d)
{
	return d->expired;
}

void iw_defrag_last(const struct iw_defrag *d, uint32_t *frames, uint32_t *wire_bytes)
{
	*frames = d->done_frames;
	*wire_bytes = d->done_wire;
}

static bool have_block(const struct dg *g, uint32_t b)
{
	return g->have[b / 8] & (1u << (b % 8));
}

static int drop(enum iw_malformed *why, enum iw_malformed m)
{
	*why = m;
	return IW_ERR;
}

/* Builds the datagram into d->out: the header with fragmentation cleared, then the
 * payload. Frees g. */
static void rebuild(struct iw_defrag *d, struct dg *g, const uint8_t **out, size_t *out_len)
{
	uint8_t *o = d->out;
	memcpy(o, g->hdr, g->hdr_len);
	if (g->family == 4) {
		uint32_t tot = g->hdr_len + g->total;
		o[2] = (uint8_t)(tot >> 8); /* total length */
		o[3] = (uint8_t)tot;
		o[6] = o[7] = 0; /* flags and fragment offset */
		o[10] = o[11] = 0;
	} else {
		o[4] = (uint8_t)(g->total >> 8); /* payload length */
		o[5] = (uint8_t)g->total;
		o[6] = g->proto; /* next header: what followed the fragment header */
	}
	if (g->total)
		memcpy(o + g->hdr_len, g->buf, g->total);
	*out = o;
	*out_len = g->hdr_len + g->total;
	d->done_frames = g->frames;
	d->done_wire = g->wire;
	dg_unlink(d, g);
}

int iw_defrag_add(struct iw_defrag *d, const struct iw_frag *f, uint64_t ts_us, const uint8_t **out,
                  size_t *out_len, enum iw_malformed *why)
{
	while (d->oldest && d->oldest->first_us + d->lim.timeout_us < ts_us) {
		d->expired++;
		dg_unlink(d, d->oldest);
	}
	uint64_t end = (uint64_t)f->offset + f->len;
	/* IPv4 counts its header in the 16-bit total length, IPv6 does not */
	uint64_t max = f->family == 4 ? MAX_PAYLOAD - f->hdr_len : MAX_PAYLOAD;
	if (end > max || f->hdr_len > sizeof(((struct dg *)0)->hdr) || (f->more && f->len % 8) ||
	    (f->more && f->len == 0))
		return drop(why, IW_MAL_FRAG_BAD);

	uint32_t h = dg_hash(f);
	size_t alen = f->family == 6 ? 16 : 4;
	struct dg *g = d->bucket[h];
	while (g && !(g->id == f->id && g->family == f->family && g->proto == f->proto &&
	              !memcmp(g->src.b, f->src->b, alen) && !memcmp(g->dst.b, f->dst->b, alen)))
		g = g->hnext;
	if (!g) {
		if (d->n >= d->lim.max_datagrams) {
			if (!d->oldest)
				return drop(why, IW_MAL_FRAG_BUDGET);
			d->expired++;
			dg_unlink(d, d->oldest);
		}
		g = iw_calloc(1, sizeof(*g));
		g->src = *f->src;
		g->dst = *f->dst;
		g->id = f->id;
		g->family = f->family;
		g->proto = f->proto;
		g->first_us = ts_us;
		g->hnext = d->bucket[h];
		d->bucket[h] = g;
		g->older = d->newest;
		if (d->newest)
			d->newest->newer = g;
		else
			d->oldest = g;
		d->newest = g;
		d->n++;
	}
	if (g->nfrags >= d->lim.max_frags)
		return drop(why, IW_MAL_FRAG_BUDGET);
	if (!f->more) {
		if ((g->have_last && g->total != end) || end < g->max_end)
			return drop(why, IW_MAL_FRAG_BAD);
		g->have_last = true;
		g->total = (uint32_t)end;
	} else if (g->have_last && end > g->total) {
		return drop(why, IW_MAL_FRAG_BAD);
	}
	if (end > g->cap) {
		uint32_t cap = g->cap ? g->cap : 1024;
		while (cap < end)
			cap *= 2;
		if (cap > MAX_PAYLOAD + 1)
			cap = MAX_PAYLOAD + 1;
		if (d->bytes - g->cap + cap > d->lim.max_bytes)
			return drop(why, IW_MAL_FRAG_BUDGET);
		uint8_t *nb = iw_realloc(g->buf, cap);
		d->bytes += cap - g->cap;
		g->buf = nb;
		g->cap = cap;
	}
	/* first copy wins: compare what we have, copy what we lack, block by block */
	for (uint32_t off = f->offset; off < end; off += 8) {
		uint32_t b = off / 8;
		uint32_t n = end - off < 8 ? end - off : 8;
		if (have_block(g, b)) {
			if (memcmp(g->buf + off, f->data + (off - f->offset), n))
				return drop(why, IW_MAL_FRAG_OVERLAP);
		}
	}
	for (uint32_t off = f->offset; off < end; off += 8) {
		uint32_t b = off / 8;
		uint32_t n = end - off < 8 ? end - off : 8;
		if (!have_block(g, b)) {
			memcpy(g->buf + off, f->data + (off - f->offset), n);
			g->have[b / 8] |= (uint8_t)(1u << (b % 8));
			g->blocks++;
		}
	}
	g->nfrags++;
	g->frames++;
	g->wire += f->wirelen;
	if (end > g->max_end)
		g->max_end = (uint32_t)end;
	if (f->offset == 0) {
		memcpy(g->hdr, f->hdr, f->hdr_len);
		g->hdr_len = (uint8_t)f->hdr_len;
	}
	if (g->family == 4 && g->hdr_len && (uint32_t)g->hdr_len + g->max_end > MAX_PAYLOAD) {
		/* the first fragment's options and the last fragment's end cannot both be */
		dg_unlink(d, g);
		return drop(why, IW_MAL_FRAG_BAD);
	}
	if (g->have_last && g->hdr_len && g->blocks == (g->total + 7) / 8) {
		rebuild(d, g, out, out_len);
		return IW_OK;
	}
	return IW_NEED_MORE;
}
