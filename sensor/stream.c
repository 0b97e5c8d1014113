/* stream.c - TCP stream reassembly per direction (RFC 9293 §3.4 sequence arithmetic).
 * Sequence numbers compare modulo 2^32 through signed differences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../parsers/alloc.h"
#include "../parsers/packet.h"
#include "stream.h"

struct iw_seg {
	struct iw_seg *next;
	uint32_t seq, len;
	uint8_t data[];
};

static int32_t seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

static void check_fin(struct iw_stream *s)
{
	if (s->fin && s->next_seq == s->fin_seq)
		s->closed = 1;
}

/* Delivers held segments that the stream has reached. */
static void drain(struct iw_stream *s, iw_stream_fn fn, void *arg)
{
	while (s->held && seq_diff(s->held->seq, s->next_seq) <= 0) {
		struct iw_seg *g = s->held;
		s->held = g->next;
		s->held_bytes -= g->len;
		uint32_t skip = (uint32_t)seq_diff(s->next_seq, g->seq);
		if (skip < g->len) {
			fn(arg, g->data + skip, g->len - skip);
			s->next_seq = g->seq + g->len;
		}
		free(g);
	}
	check_fin(s);
}

/* Declares the hole before the first held segment lost and delivers from there. */
static void skip_hole(struct iw_stream *s, iw_stream_fn fn, void *arg, struct iw_stream_stats *st)
{
	uint32_t gap = (uint32_t)seq_diff(s->held->seq, s->next_seq);
	st->gaps++;
	st->gap_bytes += gap;
	fn(arg, NULL, gap);
	s->next_seq = s->held->seq;
	drain(s, fn, arg);
}

static struct iw_seg *seg_new(uint32_t seq, const uint8_t *data, uint32_t len)
{
	struct iw_seg *g = iw_malloc(sizeof(*g) + len);
	g->next = NULL;
	g->seq = seq;
	g->len = len;
	memcpy(g->data, data, len);
	return g;
}

/* Inserts [seq, seq+len) minus what is already held. Returns false, holding nothing,
 * when the new bytes do not fit the budget. */
static bool hold(struct iw_stream *s, uint32_t budget, uint32_t seq, const uint8_t *data, uint32_t len,
                 struct iw_stream_stats *st)
{
	uint32_t end = seq + len;
	/* first count the bytes not yet held, to refuse before changing anything */
	uint32_t fresh = 0, cur = seq;
	for (struct iw_seg *g = s->held; g && seq_diff(g->seq, end) < 0; g = g->next) {
		uint32_t gend = g->seq + g->len;
		if (seq_diff(gend, cur) <= 0)
			continue;
		if (seq_diff(g->seq, cur) > 0)
			fresh += g->seq - cur;
		cur = gend;
	}
	if (seq_diff(end, cur) > 0)
		fresh += end - cur;
	if (fresh < len)
		st->overlaps++;
	if (fresh == 0)
		return true;
	if ((uint64_t)s->held_bytes + fresh > budget)
		return false;
	st->held++;
	struct iw_seg **pp = &s->held;
	cur = seq;
	while (seq_diff(cur, end) < 0) {
		struct iw_seg *g = *pp;
		if (g && seq_diff(g->seq + g->len, cur) <= 0) {
			pp = &g->next;
			continue;
		}
		uint32_t stop = g && seq_diff(g->seq, end) < 0 ? g->seq : end;
		if (seq_diff(stop, cur) > 0) {
			struct iw_seg *n = seg_new(cur, data + (cur - seq), stop - cur);
			n->next = g;
			*pp = n;
			pp = &n->next;
			s->held_bytes += n->len;
		}
		if (!g || seq_diff(g->seq, end) >= 0)
			break;
		cur = g->seq + g->len;
		pp = &g->next;
	}
	return true;
}

void iw_stream_segment(struct iw_stream *s, uint32_t budget, uint32_t seq, uint8_t flags, const uint8_t *data,
                       uint32_t len, iw_stream_fn fn, void *arg, struct iw_stream_stats *st)
{
	if (s->closed)
		return;
	if (flags & IW_TCP_SYN) {
		if (!s->init) {
			s->init = 1;
			s->next_seq = seq + 1;
		}
		seq++; /* data on a SYN (TCP Fast Open) starts after it */
	} else if (!s->init) {
		s->init = 1;
		s->midstream = 1;
		s->next_seq = seq;
		st->midstream++;
	}
	if (flags & IW_TCP_FIN && !s->fin) {
		s->fin = 1;
		s->fin_seq = seq + len;
	}
	while (len) {
		int32_t rel = seq_diff(seq, s->next_seq);
		if (rel < 0) {
			uint32_t old = s->next_seq - seq; /* not -rel: rel may be INT32_MIN */
			if (old >= len) {
				st->retransmits++;
				break;
			}
			st->overlaps++;
			data += old;
			len -= old;
			seq = s->next_seq;
			continue;
		}
		if (rel == 0) {
			fn(arg, data, len);
			s->next_seq = seq + len;
			drain(s, fn, arg);
			break;
		}
		if (hold(s, budget, seq, data, len, st))
			break;
		/* over budget: give up on the first hole and try again */
		if (s->held && seq_diff(s->held->seq, seq) < 0) {
			skip_hole(s, fn, arg, st);
			continue;
		}
		st->gaps++;
		st->gap_bytes += (uint32_t)rel;
		fn(arg, NULL, (uint32_t)rel);
		s->next_seq = seq;
	}
	check_fin(s);
}

void iw_stream_acked(struct iw_stream *s, uint32_t ack, iw_stream_fn fn, void *arg,
                     struct iw_stream_stats *st)
{
	while (s->held && seq_diff(ack, s->held->seq) >= 0)
		skip_hole(s, fn, arg, st);
}

void iw_stream_flush(struct iw_stream *s, iw_stream_fn fn, void *arg, struct iw_stream_stats *st)
{
	while (s->held)
		skip_hole(s, fn, arg, st);
}

void iw_stream_free(struct iw_stream *s)
{
	while (s->held) {
		struct iw_seg *g = s->held;
		s->held = g->next;
		free(g);
	}
	s->held_bytes = 0;
}
