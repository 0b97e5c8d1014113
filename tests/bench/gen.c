/* gen.c — writes a deterministic pcap of mixed IoT traffic (MQTT, CoAP, Modbus/TCP, TLS, DNS, ICMP/NTP/HTTP).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs.h"

#define T0_US       (1793491200ULL * 1000000ULL) /* 2026-11-01T00:00:00Z */
#define SPAN_US     3600000000ULL                /* the packets spread over one hour */
#define NTP_EPOCH   2208988800ULL                /* seconds from 1900 to 1970 */
#define MSS         1460
#define SLOT_CAP    1536 /* one frame: 14 + 20 + 28 + MSS */
#define OBUF_CAP    (8u << 20)
#define FLIGHT_CAP  16384
#define MAX_MSGS    16
#define MAX_CUTS    64
#define CUT_GUARD   8     /* no segment boundary inside a message's first bytes (its length header) */
#define RETX_PPM    6000  /* data segments seen twice (retransmitted) */
#define REORDER_PPM 30000 /* multi-message flights sent one per segment, first two swapped */
#define SPLIT_PPM   50000 /* flights cut into 2-3 segments at random points */
#define RTO_US      200000
#define MAX_DEVICES 1000000
#define MAX_PACKETS 1000000000ULL

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

enum cat { CAT_MQTT, CAT_COAP, CAT_MODBUS, CAT_TLS, CAT_DNS, CAT_OTHER, CAT__N };
static const unsigned cat_share[CAT__N] = {400, 150, 150, 150, 100, 50}; /* per mille of packets */
static const char *const cat_name[CAT__N] = {"mqtt", "coap", "modbus", "tls", "dns", "other"};

enum { C2S = 0, S2C = 1 };

struct rng {
	uint64_t s;
};

/* Bytes being composed into a fixed buffer; overflowing it is a bug in this file and exits. */
struct wb {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* One direction's burst of application messages; ends[] are the message end offsets. */
struct flight {
	struct wb w;
	uint32_t ends[MAX_MSGS];
	uint32_t n;
};

/* A TCP connection: index 0 is the client (C2S), 1 the server. nxt[] is the next sequence number each sends.
 */
struct tcp {
	uint32_t ip[2];
	uint16_t port[2];
	uint32_t nxt[2];
	uint16_t ipid[2];
	uint8_t ttl[2];
	bool open;
	bool talked[2];  /* sent data already: the first flight each way is never reordered */
	uint32_t rtt;    /* round trip through the tap, microseconds */
	uint64_t t_free; /* the next exchange on this connection starts no earlier */
};

struct dev {
	struct tcp mq; /* MQTT session to the broker */
	uint16_t mq_pid;
	uint16_t port; /* last ephemeral port */
	uint16_t ipid; /* UDP and ICMP IP IDs */
	uint16_t coap_port;
	uint16_t coap_mid;
	uint16_t obs_mid; /* the server's message IDs for Observe notifications */
	uint32_t obs_seq;
	uint8_t obs_tok[4];
	bool obs_on;
	bool seen;
};

struct gw {
	struct tcp c; /* a master's connection to this Modbus gateway */
	uint16_t tid;
	uint8_t units;
};

struct host {
	uint32_t ip;
	uint16_t ipid;
	uint16_t port; /* last ephemeral port, for hosts that connect out */
};

struct pend {
	uint64_t ts;
	uint64_t seq;
	uint32_t slot;
};

struct gen {
	struct rng r;
	uint64_t want; /* packets to write */
	uint64_t made; /* packets generated so far */
	uint64_t written, bytes, flows, seq;
	uint64_t cat_pkts[CAT__N];
	int cat;
	/* frames generated, waiting in time order */
	uint8_t *slot_mem;
	uint16_t *slot_len;
	uint32_t *free_slots;
	uint32_t n_slots, n_free;
	struct pend *heap;
	uint32_t heap_n;
	/* output */
	FILE *out;
	uint8_t *obuf;
	size_t olen;
	bool werr;
	/* the world */
	uint32_t n_dev, n_seen, n_gw;
	struct dev *dev;
	struct gw *gw;
	uint32_t mq_open, mq_rr;
	struct host broker, coap, dns, ntp, web, router, master[4];
	uint8_t alnum[4096];
	struct flight fl;
	uint8_t flbuf[FLIGHT_CAP];
	uint8_t tmp[FLIGHT_CAP];
};

static void die(const char *msg)
{
	fprintf(stderr, "gen: %s\n", msg);
	exit(1);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		die("out of memory");
	return q;
}

/* ---- random numbers: splitmix64 ---- */

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1. */
static uint32_t rnd_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rnd(r) >> 32) * n) >> 32);
}

/* Uniform in [lo, hi]. */
static uint32_t rnd_range(struct rng *r, uint32_t lo, uint32_t hi)
{
	return lo + rnd_below(r, hi - lo + 1);
}

/* True with probability ppm / 1e6. */
static bool rnd_ppm(struct rng *r, uint32_t ppm)
{
	return rnd_below(r, 1000000) < ppm;
}

/* ---- byte writing ---- */

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	put16(p + 1, v);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static void putle32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void wb_need(struct wb *w, size_t n)
{
	if (w->cap - w->len < n)
		die("internal buffer too small");
}

static void wb_u8(struct wb *w, uint32_t v)
{
	wb_need(w, 1);
	w->p[w->len++] = (uint8_t)v;
}

static void wb_be16(struct wb *w, uint32_t v)
{
	wb_need(w, 2);
	put16(w->p + w->len, v);
	w->len += 2;
}

static void wb_be32(struct wb *w, uint32_t v)
{
	wb_need(w, 4);
	put32(w->p + w->len, v);
	w->len += 4;
}

static void wb_mem(struct wb *w, const void *s, size_t n)
{
	wb_need(w, n);
	if (n)
		memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void wb_str(struct wb *w, const char *s)
{
	wb_mem(w, s, strlen(s));
}

static void wb_dec(struct wb *w, uint64_t v)
{
	char d[20];
	int n = 0;
	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		wb_u8(w, (uint8_t)d[--n]);
}

static void wb_rand(struct rng *r, struct wb *w, size_t n)
{
	wb_need(w, n);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rnd(r);
		for (size_t k = 0; k < 8 && i + k < n; k++)
			w->p[w->len + i + k] = (uint8_t)(v >> (8 * k));
	}
	w->len += n;
}

/* n letters and digits (n < 4096) from the table, at a random place. */
static void wb_alnum(struct gen *g, struct wb *w, size_t n)
{
	wb_mem(w, g->alnum + rnd_below(&g->r, (uint32_t)(sizeof g->alnum - n)), n);
}

/* Length-prefixed fields: open writes a zero length, close patches in the bytes written since. */
static size_t wb_open16(struct wb *w)
{
	size_t o = w->len;
	wb_be16(w, 0);
	return o;
}

static void wb_close16(struct wb *w, size_t o)
{
	put16(w->p + o, (uint32_t)(w->len - o - 2));
}

static size_t wb_open24(struct wb *w)
{
	size_t o = w->len;
	wb_need(w, 3);
	put24(w->p + o, 0);
	w->len += 3;
	return o;
}

static void wb_close24(struct wb *w, size_t o)
{
	put24(w->p + o, (uint32_t)(w->len - o - 3));
}

static void wb_str16(struct wb *w, const char *s)
{
	wb_be16(w, (uint32_t)strlen(s));
	wb_str(w, s);
}

static struct wb tmp_wb(struct gen *g)
{
	struct wb w = {g->tmp, 0, sizeof g->tmp};
	return w;
}

static void fl_reset(struct gen *g)
{
	g->fl.w.len = 0;
	g->fl.n = 0;
}

/* Marks the end of one application message in the flight. */
static void fl_end(struct gen *g)
{
	if (g->fl.n == MAX_MSGS)
		die("too many messages in a flight");
	g->fl.ends[g->fl.n++] = (uint32_t)g->fl.w.len;
}

static void fl_raw(struct gen *g, const uint8_t *m, size_t n)
{
	wb_mem(&g->fl.w, m, n);
	fl_end(g);
}

/* ---- pcap output ---- */

static void out_drain(struct gen *g)
{
	if (g->olen && fwrite(g->obuf, 1, g->olen, g->out) != g->olen)
		g->werr = true;
	g->olen = 0;
}

static void out_mem(struct gen *g, const void *p, size_t n)
{
	if (OBUF_CAP - g->olen < n)
		out_drain(g);
	memcpy(g->obuf + g->olen, p, n);
	g->olen += n;
}

static void out_header(struct gen *g)
{
	uint8_t h[24];
	putle32(h, 0xa1b2c3d4);
	h[4] = 2; /* version 2.4, little-endian fields */
	h[5] = 0;
	h[6] = 4;
	h[7] = 0;
	putle32(h + 8, 0);
	putle32(h + 12, 0);
	putle32(h + 16, 65535);
	putle32(h + 20, 1); /* DLT_EN10MB */
	out_mem(g, h, sizeof h);
}

/* ---- frames waiting for their timestamp: a slot pool and a min-heap on (ts, seq) ---- */

static uint8_t *slot_ptr(struct gen *g, uint32_t s)
{
	return g->slot_mem + (size_t)s * SLOT_CAP;
}

static uint32_t slot_get(struct gen *g)
{
	if (!g->n_free) {
		uint32_t old = g->n_slots, n = old ? old * 2 : 1024;
		g->slot_mem = xrealloc(g->slot_mem, (size_t)n * SLOT_CAP);
		g->slot_len = xrealloc(g->slot_len, (size_t)n * sizeof *g->slot_len);
		g->free_slots = xrealloc(g->free_slots, (size_t)n * sizeof *g->free_slots);
		g->heap = xrealloc(g->heap, (size_t)n * sizeof *g->heap);
		for (uint32_t s = n; s > old; s--)
			g->free_slots[g->n_free++] = s - 1;
		g->n_slots = n;
	}
	return g->free_slots[--g->n_free];
}

static bool pend_lt(const struct pend *a, const struct pend *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void heap_push(struct gen *g, struct pend p)
{
	uint32_t i = g->heap_n++;
	while (i) {
		uint32_t up = (i - 1) / 2;
		if (!pend_lt(&p, &g->heap[up]))
			break;
		g->heap[i] = g->heap[up];
		i = up;
	}
	g->heap[i] = p;
}

static struct pend heap_pop(struct gen *g)
{
	struct pend top = g->heap[0], last = g->heap[--g->heap_n];
	uint32_t i = 0, n = g->heap_n;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && pend_lt(&g->heap[c + 1], &g->heap[c]))
			c++;
		if (!pend_lt(&g->heap[c], &last))
			break;
		g->heap[i] = g->heap[c];
		i = c;
	}
	if (n)
		g->heap[i] = last;
	return top;
}

static void frame_push(struct gen *g, uint32_t slot, uint32_t len, uint64_t ts)
{
	struct pend p = {ts, g->seq++, slot};
	g->slot_len[slot] = (uint16_t)len;
	heap_push(g, p);
	g->made++;
	g->cat_pkts[g->cat]++;
}

/* Writes every waiting frame stamped before limit (the first want frames in time order; the rest are
 * dropped). */
static void flush_until(struct gen *g, uint64_t limit)
{
	while (g->heap_n && g->heap[0].ts < limit) {
		struct pend p = heap_pop(g);
		uint32_t len = g->slot_len[p.slot];
		if (g->written < g->want) {
			uint8_t h[16];
			putle32(h, (uint32_t)(p.ts / 1000000));
			putle32(h + 4, (uint32_t)(p.ts % 1000000));
			putle32(h + 8, len);
			putle32(h + 12, len);
			out_mem(g, h, sizeof h);
			out_mem(g, slot_ptr(g, p.slot), len);
			g->written++;
			g->bytes += len;
		}
		g->free_slots[g->n_free++] = p.slot;
	}
}

/* ---- Ethernet, IPv4, TCP, UDP, ICMP ---- */

static uint64_t csum_add(uint64_t s, const uint8_t *p, size_t n)
{
	while (n >= 4) {
		s += (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		s += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		n -= 2;
	}
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t csum_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint16_t l4_csum(const uint8_t *ip, const uint8_t *l4, uint32_t len, uint8_t proto)
{
	uint64_t s = csum_add(0, ip + 12, 8);
	s += proto;
	s += len;
	return csum_fold(csum_add(s, l4, len));
}

static uint32_t dev_ip(uint32_t i)
{
	uint32_t b = i / 254;
	return IP4(10, 1 + b / 256, b % 256, i % 254 + 1);
}

/* Hosts off the 10/8 network are reached through the router's MAC. */
static void put_mac(uint8_t *p, uint32_t ip)
{
	if (ip >> 24 != 10)
		ip = IP4(10, 255, 0, 1);
	p[0] = 0x02;
	p[1] = 0x00;
	put32(p + 2, ip);
}

/* Starts a frame in a fresh slot: Ethernet and IPv4 header for l4len bytes of payload. Returns the L4 start.
 */
static uint8_t *ip_frame(struct gen *g, uint32_t *slot, uint32_t src, uint32_t dst, uint8_t proto,
                         uint32_t l4len, uint16_t id, uint8_t ttl)
{
	if (l4len > SLOT_CAP - 34)
		die("frame too large");
	*slot = slot_get(g);
	uint8_t *f = slot_ptr(g, *slot), *h = f + 14;
	put_mac(f, dst);
	put_mac(f + 6, src);
	put16(f + 12, 0x0800);
	h[0] = 0x45;
	h[1] = 0;
	put16(h + 2, 20 + l4len);
	put16(h + 4, id);
	put16(h + 6, 0x4000); /* DF */
	h[8] = ttl;
	h[9] = proto;
	put16(h + 10, 0);
	put32(h + 12, src);
	put32(h + 16, dst);
	put16(h + 10, csum_fold(csum_add(0, h, 20)));
	return f + 34;
}

static void udp_emit(struct gen *g, uint32_t sip, uint16_t sport, uint32_t dip, uint16_t dport,
                     uint16_t *ipid, uint8_t ttl, const uint8_t *data, uint32_t len, uint64_t ts)
{
	uint32_t slot;
	uint8_t *u = ip_frame(g, &slot, sip, dip, 17, 8 + len, (*ipid)++, ttl);
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, 8 + len);
	put16(u + 6, 0);
	memcpy(u + 8, data, len);
	uint16_t cs = l4_csum(u - 20, u, 8 + len, 17);
	put16(u + 6, cs ? cs : 0xffff);
	frame_push(g, slot, 42 + len, ts);
}

static void icmp_emit(struct gen *g, uint32_t sip, uint32_t dip, uint16_t *ipid, uint8_t ttl, uint8_t type,
                      uint16_t id, uint16_t seq, const uint8_t *data, uint32_t len, uint64_t ts)
{
	uint32_t slot;
	uint8_t *m = ip_frame(g, &slot, sip, dip, 1, 8 + len, (*ipid)++, ttl);
	m[0] = type;
	m[1] = 0;
	put16(m + 2, 0);
	put16(m + 4, id);
	put16(m + 6, seq);
	memcpy(m + 8, data, len);
	put16(m + 2, csum_fold(csum_add(0, m, 8 + len)));
	frame_push(g, slot, 42 + len, ts);
}

static void tcp_new(struct gen *g, struct tcp *c, uint32_t cip, uint16_t cport, uint32_t sip, uint16_t sport,
                    uint32_t rtt, uint8_t cttl, uint8_t sttl)
{
	uint64_t v = rnd(&g->r);
	c->ip[C2S] = cip;
	c->ip[S2C] = sip;
	c->port[C2S] = cport;
	c->port[S2C] = sport;
	c->nxt[C2S] = (uint32_t)v;
	c->nxt[S2C] = (uint32_t)(v >> 32);
	v = rnd(&g->r);
	c->ipid[C2S] = (uint16_t)v;
	c->ipid[S2C] = (uint16_t)(v >> 16);
	c->ttl[C2S] = cttl;
	c->ttl[S2C] = sttl;
	c->rtt = rtt;
	c->open = true;
	c->talked[C2S] = c->talked[S2C] = false;
	g->flows++;
}

/* One TCP segment from dir with an explicit sequence number; the ACK field acknowledges all the peer sent. */
static void tcp_seg_at(struct gen *g, struct tcp *c, int dir, uint8_t flags, uint32_t seq,
                       const uint8_t *data, uint32_t len, uint64_t ts)
{
	static const uint8_t syn_opt[8] = {2, 4, 0x05, 0xb4,
	                                   1, 1, 4,    2}; /* MSS 1460, NOP, NOP, SACK permitted */
	uint32_t slot, thl = (flags & TH_SYN) ? 28 : 20;
	uint8_t *th = ip_frame(g, &slot, c->ip[dir], c->ip[!dir], 6, thl + len, c->ipid[dir]++, c->ttl[dir]);
	put16(th, c->port[dir]);
	put16(th + 2, c->port[!dir]);
	put32(th + 4, seq);
	put32(th + 8, (flags & TH_ACK) ? c->nxt[!dir] : 0);
	th[12] = (uint8_t)(thl / 4 << 4);
	th[13] = flags;
	put16(th + 14, dir == C2S ? 64240 : 65160);
	put16(th + 16, 0);
	put16(th + 18, 0);
	if (flags & TH_SYN)
		memcpy(th + 20, syn_opt, sizeof syn_opt);
	if (len)
		memcpy(th + thl, data, len);
	put16(th + 16, l4_csum(th - 20, th, thl + len, 6));
	frame_push(g, slot, 34 + thl + len, ts);
}

static void tcp_seg(struct gen *g, struct tcp *c, int dir, uint8_t flags, uint64_t ts)
{
	tcp_seg_at(g, c, dir, flags, c->nxt[dir], NULL, 0, ts);
	if (flags & (TH_SYN | TH_FIN))
		c->nxt[dir]++;
}

/* Time for the other side to answer. */
static void turn(struct gen *g, const struct tcp *c, uint64_t *t)
{
	*t += c->rtt / 2 + rnd_below(&g->r, c->rtt / 4 + 50) + 10;
}

static void tcp_ack(struct gen *g, struct tcp *c, int dir, uint64_t *t)
{
	tcp_seg(g, c, dir, TH_ACK, *t);
}

static void tcp_connect(struct gen *g, struct tcp *c, uint64_t *t)
{
	tcp_seg(g, c, C2S, TH_SYN, *t);
	turn(g, c, t);
	tcp_seg(g, c, S2C, TH_SYN | TH_ACK, *t);
	turn(g, c, t);
	tcp_seg(g, c, C2S, TH_ACK, *t);
	*t += rnd_range(&g->r, 50, 800);
}

/* FIN from who, FIN from the peer, last ACK from who. */
static void tcp_close(struct gen *g, struct tcp *c, int who, uint64_t *t)
{
	tcp_seg(g, c, who, TH_FIN | TH_ACK, *t);
	turn(g, c, t);
	tcp_seg(g, c, !who, TH_FIN | TH_ACK, *t);
	turn(g, c, t);
	tcp_seg(g, c, who, TH_ACK, *t);
	c->open = false;
}

static void tcp_reset(struct gen *g, struct tcp *c, int who, uint64_t *t)
{
	tcp_seg(g, c, who, TH_RST | TH_ACK, *t);
	c->open = false;
}

/* Moves a segment boundary out of a message's first bytes, where a dissector needs its length header whole.
 */
static uint32_t fix_cut(const struct flight *f, uint32_t pos, uint32_t cut)
{
	uint32_t s = 0;
	for (uint32_t i = 0; i < f->n; i++) {
		uint32_t e = f->ends[i], guard = e - s < CUT_GUARD ? e - s : CUT_GUARD;
		if (cut > s && cut < s + guard)
			return s > pos ? s : s + guard;
		s = e;
	}
	return cut;
}

/*
 * Sends the flight from dir as TCP segments: cut at the MSS, now and then at 2-3 random points, now and then
 * one message per segment with the first two out of order; a few segments are retransmitted. Advances *t.
 */
static void tcp_data(struct gen *g, struct tcp *c, int dir, uint64_t *t)
{
	const struct flight *f = &g->fl;
	const uint8_t *buf = f->w.p;
	uint32_t len = (uint32_t)f->w.len, cuts[MAX_CUTS], nc = 0, pref[2], np = 0, biggest = 0;
	bool swap = false;

	if (!f->n || f->ends[f->n - 1] != len)
		die("flight without message ends");
	for (uint32_t i = 0, s = 0; i < f->n; s = f->ends[i++])
		biggest = f->ends[i] - s > biggest ? f->ends[i] - s : biggest;
	if (f->n >= 2 && biggest <= MSS && c->talked[dir] && rnd_ppm(&g->r, REORDER_PPM)) {
		for (uint32_t i = 0; i < f->n; i++)
			cuts[nc++] = f->ends[i];
		swap = true;
	} else {
		if (len >= 2 * CUT_GUARD && rnd_ppm(&g->r, SPLIT_PPM)) {
			pref[np++] = rnd_range(&g->r, 1, len - 1);
			if (rnd_below(&g->r, 2))
				pref[np++] = rnd_range(&g->r, 1, len - 1);
			if (np == 2 && pref[1] < pref[0]) {
				uint32_t x = pref[0];
				pref[0] = pref[1];
				pref[1] = x;
			}
		}
		for (uint32_t pos = 0, k = 0; pos < len;) {
			uint32_t cut = len - pos > MSS ? pos + MSS : len;
			while (k < np && pref[k] <= pos)
				k++;
			if (k < np && pref[k] < cut)
				cut = pref[k];
			if (cut < len)
				cut = fix_cut(f, pos, cut);
			if (nc == MAX_CUTS)
				die("too many segments");
			cuts[nc++] = cut;
			pos = cut;
		}
	}

	uint32_t seq0 = c->nxt[dir];
	for (uint32_t j = 0; j < nc; j++) {
		uint32_t s = j;
		if (swap && j < 2)
			s = 1 - j;
		uint32_t start = s ? cuts[s - 1] : 0, end = cuts[s];
		uint8_t flags = s == nc - 1 ? TH_PSH | TH_ACK : TH_ACK;
		if (j)
			*t += rnd_range(&g->r, 10, 120);
		tcp_seg_at(g, c, dir, flags, seq0 + start, buf + start, end - start, *t);
		if (rnd_ppm(&g->r, RETX_PPM)) {
			*t += RTO_US + c->rtt;
			tcp_seg_at(g, c, dir, flags, seq0 + start, buf + start, end - start, *t);
		}
	}
	c->nxt[dir] = seq0 + len;
	c->talked[dir] = true;
}

/* ---- devices ---- */

static void dev_seen(struct gen *g, uint32_t i)
{
	if (!g->dev[i].seen) {
		g->dev[i].seen = true;
		g->n_seen++;
	}
}

static uint16_t next_port(struct gen *g, uint16_t *port)
{
	if (!*port)
		*port = (uint16_t)rnd_range(&g->r, 32768, 60999);
	else
		*port = *port >= 60999 ? 32768 : *port + 1;
	return *port;
}

/* Device k of the subset i % mod == rem (device 0 when the subset is empty). */
static uint32_t pick_subset(struct gen *g, uint32_t mod, uint32_t rem)
{
	uint32_t n = g->n_dev > rem ? (g->n_dev - rem - 1) / mod + 1 : 0;
	return n ? rnd_below(&g->r, n) * mod + rem : 0;
}

/* A small JSON document of about size bytes (at least ~40). */
static void json_doc(struct gen *g, struct wb *w, uint32_t i, uint32_t size)
{
	size_t start = w->len;
	wb_str(w, "{\"dev\":\"dev-");
	wb_dec(w, i);
	wb_str(w, "\",\"seq\":");
	wb_dec(w, rnd_below(&g->r, 100000));
	wb_str(w, ",\"temp\":");
	wb_dec(w, rnd_range(&g->r, 15, 45));
	wb_u8(w, '.');
	wb_dec(w, rnd_range(&g->r, 10, 99));
	size_t used = w->len - start;
	if (size > used + 12) {
		wb_str(w, ",\"raw\":\"");
		wb_alnum(g, w, size - used - 10);
		wb_u8(w, '"');
	}
	wb_u8(w, '}');
}

/* ---- MQTT 3.1.1 ---- */

static void mq_put(struct gen *g, uint8_t hdr, const struct wb *body)
{
	struct wb *w = &g->fl.w;
	size_t n = body->len;
	wb_u8(w, hdr);
	do {
		uint8_t b = n % 128;
		n /= 128;
		wb_u8(w, n ? b | 0x80 : b);
	} while (n);
	wb_mem(w, body->p, body->len);
	fl_end(g);
}

static uint16_t mq_next_pid(struct dev *d)
{
	if (++d->mq_pid == 0)
		d->mq_pid = 1;
	return d->mq_pid;
}

static void mq_topic(struct wb *w, const char *pre, uint32_t i, const char *post)
{
	size_t o = wb_open16(w);
	wb_str(w, pre);
	wb_dec(w, i);
	wb_str(w, post);
	wb_close16(w, o);
}

static void mq_connect(struct gen *g, uint32_t i)
{
	static const uint16_t keepalive[4] = {300, 600, 900, 1200};
	struct wb b = tmp_wb(g);
	bool auth = i % 5 != 0;
	wb_str16(&b, "MQTT");
	wb_u8(&b, 4);
	wb_u8(&b, (auth ? 0xc0 : 0) | 0x02); /* username, password, clean session */
	wb_be16(&b, keepalive[i % 4]);
	mq_topic(&b, "dev-", i, "");
	if (auth) {
		size_t o = wb_open16(&b);
		wb_str(&b, "fleet-");
		wb_u8(&b, 'a' + i % 4);
		wb_close16(&b, o);
		wb_be16(&b, 24);
		wb_mem(&b, g->alnum + (i * 37u) % (sizeof g->alnum - 24), 24);
	}
	mq_put(g, 0x10, &b);
}

/* SUBSCRIBE of the device's topic filters; fills codes[] with the SUBACK return codes, returns their count.
 */
static uint32_t mq_subscribe(struct gen *g, uint32_t i, uint16_t pid, uint8_t *codes)
{
	struct wb b = tmp_wb(g);
	uint32_t n = 0;
	wb_be16(&b, pid);
	mq_topic(&b, "cmd/dev-", i, "/#");
	wb_u8(&b, 1);
	codes[n++] = 1;
	if (i % 3 == 0) {
		mq_topic(&b, "$aws/things/dev-", i, "/shadow/update/delta");
		wb_u8(&b, 1);
		codes[n++] = 1;
	}
	if (i % 7 == 0) {
		mq_topic(&b, "config/dev-", i, "/+/set");
		wb_u8(&b, 0);
		codes[n++] = 0;
	}
	if (i % 211 == 13) { /* a few over-broad subscriptions, some refused */
		wb_str16(&b, i % 2 ? "dt/#" : "dt/+/telemetry");
		wb_u8(&b, 0);
		codes[n++] = i % 2 ? 0x80 : 0;
	}
	mq_put(g, 0x82, &b);
	return n;
}

static void mq_suback(struct gen *g, uint16_t pid, const uint8_t *codes, uint32_t n)
{
	struct wb b = tmp_wb(g);
	wb_be16(&b, pid);
	wb_mem(&b, codes, n);
	mq_put(g, 0x90, &b);
}

static void mq_publish(struct gen *g, uint32_t i, unsigned qos, uint16_t pid)
{
	struct wb b = tmp_wb(g);
	uint32_t size = rnd_below(&g->r, 10) < 7 ? rnd_range(&g->r, 20, 300) : rnd_range(&g->r, 300, 2000);
	bool retain = rnd_below(&g->r, 100) == 0;
	mq_topic(&b, "dt/dev-", i, "/telemetry");
	if (qos)
		wb_be16(&b, pid);
	json_doc(g, &b, i, size);
	mq_put(g, (uint8_t)(0x30 | qos << 1 | (retain ? 1 : 0)), &b);
}

static void mq_short(struct gen *g, uint8_t hdr, int pid)
{
	uint8_t m[4] = {hdr, 0, 0, 0};
	if (pid >= 0) {
		m[1] = 2;
		put16(m + 2, (uint32_t)pid);
	}
	fl_raw(g, m, pid >= 0 ? 4 : 2);
}

static void mq_session(struct gen *g, uint32_t i, uint64_t t)
{
	static const uint8_t connack[4] = {0x20, 2, 0, 0};
	struct dev *d = &g->dev[i];
	struct tcp *c = &d->mq;
	uint8_t codes[4];
	if (t < c->t_free)
		t = c->t_free;
	tcp_new(g, c, dev_ip(i), next_port(g, &d->port), g->broker.ip, 1883, rnd_range(&g->r, 300, 2500), 64,
	        64);
	tcp_connect(g, c, &t);
	fl_reset(g);
	mq_connect(g, i);
	uint16_t pid = mq_next_pid(d);
	if (rnd_below(&g->r, 10) == 0) { /* pipelined: CONNECT and SUBSCRIBE in one segment */
		uint32_t n = mq_subscribe(g, i, pid, codes);
		tcp_data(g, c, C2S, &t);
		turn(g, c, &t);
		fl_reset(g);
		fl_raw(g, connack, sizeof connack);
		mq_suback(g, pid, codes, n);
		tcp_data(g, c, S2C, &t);
	} else {
		tcp_data(g, c, C2S, &t);
		turn(g, c, &t);
		fl_reset(g);
		fl_raw(g, connack, sizeof connack);
		tcp_data(g, c, S2C, &t);
		turn(g, c, &t);
		fl_reset(g);
		uint32_t n = mq_subscribe(g, i, pid, codes);
		tcp_data(g, c, C2S, &t);
		turn(g, c, &t);
		fl_reset(g);
		mq_suback(g, pid, codes, n);
		tcp_data(g, c, S2C, &t);
	}
	turn(g, c, &t);
	tcp_ack(g, c, C2S, &t);
	c->t_free = t + 1;
	dev_seen(g, i);
}

static void step_mqtt(struct gen *g, uint64_t t)
{
	uint32_t i;
	if (g->mq_open < g->n_dev && (g->mq_open == 0 || rnd_below(&g->r, 2))) {
		i = g->mq_open++; /* ramp-up: the next device connects */
	} else {
		if (g->mq_rr >= g->mq_open)
			g->mq_rr = 0;
		i = g->mq_rr++;
	}
	struct dev *d = &g->dev[i];
	struct tcp *c = &d->mq;
	if (!c->open) {
		mq_session(g, i, t);
		return;
	}
	if (t < c->t_free)
		t = c->t_free;
	fl_reset(g);
	uint32_t r = rnd_below(&g->r, 1000);
	if (r < 400) {
		mq_publish(g, i, 0, 0);
		tcp_data(g, c, C2S, &t);
		turn(g, c, &t);
		tcp_ack(g, c, S2C, &t);
	} else if (r < 680) {
		uint16_t pid = mq_next_pid(d);
		mq_publish(g, i, 1, pid);
		tcp_data(g, c, C2S, &t);
		turn(g, c, &t);
		fl_reset(g);
		mq_short(g, 0x40, pid);
		tcp_data(g, c, S2C, &t);
		if (rnd_below(&g->r, 2)) {
			turn(g, c, &t);
			tcp_ack(g, c, C2S, &t);
		}
	} else if (r < 760) { /* 2-3 PUBLISHes in one flight */
		uint32_t k = rnd_range(&g->r, 2, 3), np = 0;
		uint16_t pids[3];
		for (uint32_t j = 0; j < k; j++) {
			unsigned qos = rnd_below(&g->r, 2);
			uint16_t pid = qos ? mq_next_pid(d) : 0;
			if (qos)
				pids[np++] = pid;
			mq_publish(g, i, qos, pid);
		}
		tcp_data(g, c, C2S, &t);
		turn(g, c, &t);
		fl_reset(g);
		for (uint32_t j = 0; j < np; j++)
			mq_short(g, 0x40, pids[j]);
		if (np)
			tcp_data(g, c, S2C, &t);
		else
			tcp_ack(g, c, S2C, &t);
	} else if (r < 880) {
		mq_short(g, 0xc0, -1);
		tcp_data(g, c, C2S, &t);
		turn(g, c, &t);
		fl_reset(g);
		mq_short(g, 0xd0, -1);
		tcp_data(g, c, S2C, &t);
	} else if (r < 950) { /* a command from the broker */
		struct wb b = tmp_wb(g);
		uint16_t pid = (uint16_t)rnd_range(&g->r, 1, 65535);
		mq_topic(&b, "cmd/dev-", i, rnd_below(&g->r, 2) ? "/ota" : "/reboot");
		wb_be16(&b, pid);
		json_doc(g, &b, i, rnd_range(&g->r, 40, 400));
		mq_put(g, 0x32, &b);
		tcp_data(g, c, S2C, &t);
		turn(g, c, &t);
		fl_reset(g);
		mq_short(g, 0x40, pid);
		tcp_data(g, c, C2S, &t);
		turn(g, c, &t);
		tcp_ack(g, c, S2C, &t);
	} else if (r < 960) {
		uint8_t codes[4];
		uint16_t pid = mq_next_pid(d);
		uint32_t n = mq_subscribe(g, i, pid, codes);
		tcp_data(g, c, C2S, &t);
		turn(g, c, &t);
		fl_reset(g);
		mq_suback(g, pid, codes, n);
		tcp_data(g, c, S2C, &t);
	} else if (r < 975) {
		mq_short(g, 0xe0, -1);
		tcp_data(g, c, C2S, &t);
		t += rnd_range(&g->r, 100, 2000);
		tcp_close(g, c, C2S, &t);
	} else if (r < 995) { /* rebooted: the old connection is left dangling */
		mq_session(g, i, t);
		return;
	} else {
		tcp_reset(g, c, S2C, &t);
	}
	c->t_free = t + 1;
}

/* ---- CoAP (RFC 7252) ---- */

static void coap_head(struct wb *w, unsigned type, uint8_t code, uint16_t mid, const uint8_t *tok,
                      unsigned tkl)
{
	wb_u8(w, 0x40 | type << 4 | tkl);
	wb_u8(w, code);
	wb_be16(w, mid);
	wb_mem(w, tok, tkl);
}

static unsigned coap_nib(unsigned v)
{
	return v < 13 ? v : v < 269 ? 13 : 14;
}

static void coap_ext(struct wb *w, unsigned nib, unsigned v)
{
	if (nib == 13)
		wb_u8(w, v - 13);
	else if (nib == 14)
		wb_be16(w, v - 269);
}

static void coap_opt(struct wb *w, unsigned *last, unsigned num, const void *val, unsigned len)
{
	unsigned delta = num - *last, dn = coap_nib(delta), ln = coap_nib(len);
	*last = num;
	wb_u8(w, dn << 4 | ln);
	coap_ext(w, dn, delta);
	coap_ext(w, ln, len);
	wb_mem(w, val, len);
}

static void coap_opt_uint(struct wb *w, unsigned *last, unsigned num, uint32_t v)
{
	uint8_t b[4];
	unsigned n = v > 0xffffff ? 4 : v > 0xffff ? 3 : v > 0xff ? 2 : v ? 1 : 0;
	put32(b, v);
	coap_opt(w, last, num, b + 4 - n, n);
}

static void coap_opt_str(struct wb *w, unsigned *last, unsigned num, const char *s)
{
	coap_opt(w, last, num, s, (unsigned)strlen(s));
}

static void step_coap(struct gen *g, uint64_t t)
{
	static const char *const sensors[4] = {"temp", "humidity", "battery", "pressure"};
	static const char *const params[3] = {"interval", "threshold", "mode"};
	uint32_t i = pick_subset(g, 3, 1), rtt = rnd_range(&g->r, 1000, 15000);
	struct dev *d = &g->dev[i];
	uint32_t dip = dev_ip(i);
	uint8_t tok[8];
	unsigned last = 0, tkl = rnd_range(&g->r, 4, 8);
	struct wb w = tmp_wb(g);

	if (!d->coap_port) {
		d->coap_port = (uint16_t)rnd_range(&g->r, 49152, 65535);
		d->coap_mid = (uint16_t)rnd(&g->r);
		d->obs_mid = (uint16_t)rnd(&g->r);
		g->flows++;
	}
	dev_seen(g, i);
	for (unsigned k = 0; k < sizeof tok; k++)
		tok[k] = (uint8_t)rnd(&g->r);
	uint32_t r = rnd_below(&g->r, 100);

	if (d->obs_on && r < 20) { /* a notification, CON or NON */
		bool con = rnd_below(&g->r, 2);
		uint16_t mid = d->obs_mid++;
		coap_head(&w, con ? 0 : 1, 0x45, mid, d->obs_tok, 4);
		coap_opt_uint(&w, &last, 6, ++d->obs_seq);
		coap_opt_uint(&w, &last, 12, 50);
		wb_u8(&w, 0xff);
		json_doc(g, &w, i, rnd_range(&g->r, 40, 160));
		udp_emit(g, g->coap.ip, 5683, dip, d->coap_port, &g->coap.ipid, 64, w.p, (uint32_t)w.len, t);
		if (con) {
			uint8_t ack[4] = {0x60, 0, 0, 0};
			put16(ack + 2, mid);
			t += rtt / 2 + rnd_below(&g->r, 500);
			udp_emit(g, dip, d->coap_port, g->coap.ip, 5683, &d->ipid, 64, ack, 4, t);
		}
		return;
	}

	uint16_t mid = d->coap_mid++;
	uint8_t rcode = 0x44; /* 2.04 Changed */
	bool observe = !d->obs_on && r < 25, cancel = d->obs_on && r < 23;
	const uint8_t *rtok = tok;
	if (observe)
		memcpy(d->obs_tok, tok, 4);
	if (observe || cancel) { /* Observe registrations use the device's 4-byte token */
		tkl = 4;
		rtok = d->obs_tok;
	}
	if (observe || cancel || r < 60) {
		rcode = 0x45; /* 2.05 Content */
		coap_head(&w, 0, 0x01, mid, rtok, tkl);
		if (observe || cancel)
			coap_opt_uint(&w, &last, 6, cancel ? 1 : 0);
		coap_opt_str(&w, &last, 11, "sensors");
		coap_opt_str(&w, &last, 11, observe || cancel ? "temp" : sensors[rnd_below(&g->r, 4)]);
		coap_opt_uint(&w, &last, 17, 50);
	} else if (r < 80) {
		coap_head(&w, 0, 0x03, mid, rtok, tkl); /* PUT */
		coap_opt_str(&w, &last, 11, "config");
		coap_opt_str(&w, &last, 11, params[rnd_below(&g->r, 3)]);
		coap_opt_uint(&w, &last, 12, 0);
		wb_u8(&w, 0xff);
		wb_dec(&w, rnd_range(&g->r, 1, 3600));
	} else {
		uint8_t qb[32];
		struct wb q = {qb, 0, sizeof qb};
		wb_str(&q, "dev=dev-");
		wb_dec(&q, i);
		coap_head(&w, 0, 0x02, mid, rtok, tkl); /* POST */
		coap_opt_str(&w, &last, 11, "readings");
		coap_opt_uint(&w, &last, 12, 50);
		coap_opt(&w, &last, 15, qb, (unsigned)q.len);
		wb_u8(&w, 0xff);
		json_doc(g, &w, i, rnd_range(&g->r, 40, 600));
	}
	udp_emit(g, dip, d->coap_port, g->coap.ip, 5683, &d->ipid, 64, w.p, (uint32_t)w.len, t);
	if (rnd_below(&g->r, 50) == 0) { /* no answer in time: the same CON again */
		t += rnd_range(&g->r, 2000000, 3000000);
		udp_emit(g, dip, d->coap_port, g->coap.ip, 5683, &d->ipid, 64, w.p, (uint32_t)w.len, t);
	}

	struct wb a = tmp_wb(g);
	last = 0;
	coap_head(&a, 2, rcode, mid, rtok, tkl);
	if (observe) {
		d->obs_on = true;
		d->obs_seq = rnd_range(&g->r, 2, 1000);
		coap_opt_uint(&a, &last, 6, d->obs_seq);
	}
	if (cancel)
		d->obs_on = false;
	if (rcode == 0x45) {
		coap_opt_uint(&a, &last, 12, 50);
		wb_u8(&a, 0xff);
		json_doc(g, &a, i, rnd_range(&g->r, 40, 200));
	}
	t += rtt / 2 + rnd_below(&g->r, rtt / 2 + 1);
	udp_emit(g, g->coap.ip, 5683, dip, d->coap_port, &g->coap.ipid, 64, a.p, (uint32_t)a.len, t);
}

/* ---- Modbus/TCP ---- */

static size_t mb_head(struct wb *w, uint16_t tid, uint8_t unit)
{
	wb_be16(w, tid);
	wb_be16(w, 0);
	size_t o = wb_open16(w);
	wb_u8(w, unit);
	return o;
}

static void step_modbus(struct gen *g, uint64_t t)
{
	uint32_t k = rnd_below(&g->r, g->n_gw), i = g->n_dev > 7 ? k * 20 + 7 : 0;
	struct gw *m = &g->gw[k];
	struct tcp *c = &m->c;
	struct host *ms = &g->master[k % 4];
	struct wb *w = &g->fl.w;

	if (t < c->t_free)
		t = c->t_free;
	if (!c->open) {
		tcp_new(g, c, ms->ip, next_port(g, &ms->port), dev_ip(i), 502, rnd_range(&g->r, 200, 1500),
		        128, 64);
		tcp_connect(g, c, &t);
	}
	dev_seen(g, i);
	for (uint32_t j = 0, n = rnd_range(&g->r, 1, 3); j < n; j++) {
		uint16_t tid = m->tid++;
		uint8_t unit = (uint8_t)rnd_range(&g->r, 1, m->units);
		uint32_t r = rnd_below(&g->r, 100), qty = 1, val = rnd_below(&g->r, 65536);
		uint8_t fc = r < 80 ? 3 : r < 90 ? 6 : 16;
		bool exc = rnd_below(&g->r, 50) == 0;
		uint32_t addr = exc ? rnd_range(&g->r, 9000, 9999) : rnd_below(&g->r, 50) * 10;
		size_t o;

		fl_reset(g);
		o = mb_head(w, tid, unit);
		wb_u8(w, fc);
		wb_be16(w, addr);
		if (fc == 3) {
			qty = rnd_range(&g->r, 1, 64);
			wb_be16(w, qty);
		} else if (fc == 6) {
			wb_be16(w, val);
		} else {
			qty = rnd_range(&g->r, 1, 16);
			wb_be16(w, qty);
			wb_u8(w, qty * 2);
			wb_rand(&g->r, w, qty * 2);
		}
		wb_close16(w, o);
		fl_end(g);
		tcp_data(g, c, C2S, &t);
		turn(g, c, &t);

		fl_reset(g);
		o = mb_head(w, tid, unit);
		if (exc) {
			wb_u8(w, fc | 0x80);
			wb_u8(w, 2); /* illegal data address */
		} else if (fc == 3) {
			wb_u8(w, 3);
			wb_u8(w, qty * 2);
			wb_rand(&g->r, w, qty * 2);
		} else {
			wb_u8(w, fc);
			wb_be16(w, addr);
			wb_be16(w, fc == 6 ? val : qty);
		}
		wb_close16(w, o);
		fl_end(g);
		tcp_data(g, c, S2C, &t);
		t += rnd_range(&g->r, 200, 5000);
	}
	tcp_ack(g, c, C2S, &t);
	if (rnd_ppm(&g->r, 3000)) {
		t += rnd_range(&g->r, 1000, 50000);
		tcp_close(g, c, C2S, &t);
	}
	c->t_free = t + 1;
}

/* ---- TLS 1.2: RSA key exchange, AES-128-GCM; mutual authentication to the IoT endpoints ---- */

static size_t tls_rec(struct wb *w, uint8_t type, uint32_t ver)
{
	wb_u8(w, type);
	wb_be16(w, ver);
	return wb_open16(w);
}

static void tls_rec_end(struct gen *g, size_t o)
{
	wb_close16(&g->fl.w, o);
	fl_end(g);
}

/* An encrypted record: 8-byte explicit nonce, the ciphertext, a 16-byte tag. */
static void tls_sealed(struct gen *g, uint8_t type, uint32_t plain)
{
	size_t r = tls_rec(&g->fl.w, type, 0x0303);
	wb_rand(&g->r, &g->fl.w, 8 + plain + 16);
	tls_rec_end(g, r);
}

static void tls_client_hello(struct gen *g, const uint8_t *sni, size_t sni_len, const char *alpn)
{
	static const uint16_t suites[9] = {0xc02b, 0xc02f, 0xc02c, 0xc030, 0x009c,
	                                   0x009d, 0x002f, 0x0035, 0x00ff};
	static const uint16_t sigalgs[10] = {0x0403, 0x0503, 0x0603, 0x0804, 0x0805,
	                                     0x0806, 0x0401, 0x0501, 0x0601, 0x0201};
	struct wb *w = &g->fl.w;
	size_t r = tls_rec(w, 22, 0x0301), h, e, x, l, nm;

	wb_u8(w, 1);
	h = wb_open24(w);
	wb_be16(w, 0x0303);
	wb_rand(&g->r, w, 32);
	wb_u8(w, 0);
	wb_be16(w, 2 * 9);
	for (unsigned k = 0; k < 9; k++)
		wb_be16(w, suites[k]);
	wb_u8(w, 1);
	wb_u8(w, 0);
	e = wb_open16(w);
	wb_be16(w, 0x0000); /* server_name */
	x = wb_open16(w);
	l = wb_open16(w);
	wb_u8(w, 0);
	nm = wb_open16(w);
	wb_mem(w, sni, sni_len);
	wb_close16(w, nm);
	wb_close16(w, l);
	wb_close16(w, x);
	wb_be16(w, 0x000a); /* supported_groups: x25519, secp256r1, secp384r1 */
	wb_be16(w, 8);
	wb_be16(w, 6);
	wb_be16(w, 0x001d);
	wb_be16(w, 0x0017);
	wb_be16(w, 0x0018);
	wb_be16(w, 0x000b); /* ec_point_formats: uncompressed */
	wb_be16(w, 2);
	wb_u8(w, 1);
	wb_u8(w, 0);
	wb_be16(w, 0x000d); /* signature_algorithms */
	x = wb_open16(w);
	l = wb_open16(w);
	for (unsigned k = 0; k < 10; k++)
		wb_be16(w, sigalgs[k]);
	wb_close16(w, l);
	wb_close16(w, x);
	if (alpn) {
		wb_be16(w, 0x0010);
		x = wb_open16(w);
		l = wb_open16(w);
		wb_u8(w, (uint32_t)strlen(alpn));
		wb_str(w, alpn);
		wb_close16(w, l);
		wb_close16(w, x);
	}
	wb_be16(w, 0x0017); /* extended_master_secret */
	wb_be16(w, 0);
	wb_be16(w, 0x0023); /* session_ticket */
	wb_be16(w, 0);
	wb_close16(w, e);
	wb_close24(w, h);
	tls_rec_end(g, r);
}

static void tls_server_hello(struct gen *g)
{
	struct wb *w = &g->fl.w;
	size_t r = tls_rec(w, 22, 0x0303), h, e;
	wb_u8(w, 2);
	h = wb_open24(w);
	wb_be16(w, 0x0303);
	wb_rand(&g->r, w, 32);
	wb_u8(w, 32);
	wb_rand(&g->r, w, 32);
	wb_be16(w, 0x009c); /* TLS_RSA_WITH_AES_128_GCM_SHA256 */
	wb_u8(w, 0);
	e = wb_open16(w);
	wb_be16(w, 0xff01); /* renegotiation_info, empty */
	wb_be16(w, 1);
	wb_u8(w, 0);
	wb_be16(w, 0x0017);
	wb_be16(w, 0);
	wb_close16(w, e);
	wb_close24(w, h);
	tls_rec_end(g, r);
}

static void tls_certificate(struct gen *g, const uint8_t *der, size_t n)
{
	struct wb *w = &g->fl.w;
	size_t r = tls_rec(w, 22, 0x0303), h, l, c;
	wb_u8(w, 11);
	h = wb_open24(w);
	l = wb_open24(w);
	c = wb_open24(w);
	wb_mem(w, der, n);
	wb_close24(w, c);
	wb_close24(w, l);
	wb_close24(w, h);
	tls_rec_end(g, r);
}

static void tls_cert_request(struct gen *g)
{
	struct wb *w = &g->fl.w;
	size_t r = tls_rec(w, 22, 0x0303), h;
	wb_u8(w, 13);
	h = wb_open24(w);
	wb_u8(w, 2); /* rsa_sign, ecdsa_sign */
	wb_u8(w, 1);
	wb_u8(w, 64);
	wb_be16(w, 6);
	wb_be16(w, 0x0403);
	wb_be16(w, 0x0804);
	wb_be16(w, 0x0401);
	wb_be16(w, 0); /* no certificate authorities listed */
	wb_close24(w, h);
	tls_rec_end(g, r);
}

/* A handshake message of type with an empty (ServerHelloDone) or random-filled body behind a 2-byte length.
 */
static void tls_simple(struct gen *g, uint8_t type, uint32_t body)
{
	struct wb *w = &g->fl.w;
	size_t r = tls_rec(w, 22, 0x0303), h;
	wb_u8(w, type);
	h = wb_open24(w);
	if (body) {
		wb_be16(w, body);
		wb_rand(&g->r, w, body);
	}
	wb_close24(w, h);
	tls_rec_end(g, r);
}

/* CertificateVerify with a DER ECDSA P-256 signature (r and s 32 bytes, high bit clear). */
static void tls_cert_verify(struct gen *g)
{
	struct wb *w = &g->fl.w;
	size_t r = tls_rec(w, 22, 0x0303), h;
	wb_u8(w, 15);
	h = wb_open24(w);
	wb_be16(w, 0x0403);
	wb_be16(w, 70);
	wb_u8(w, 0x30);
	wb_u8(w, 68);
	for (unsigned k = 0; k < 2; k++) {
		wb_u8(w, 2);
		wb_u8(w, 32);
		wb_u8(w, rnd_range(&g->r, 0x10, 0x7f));
		wb_rand(&g->r, w, 31);
	}
	wb_close24(w, h);
	tls_rec_end(g, r);
}

static void tls_ccs(struct gen *g)
{
	size_t r = tls_rec(&g->fl.w, 20, 0x0303);
	wb_u8(&g->fl.w, 1);
	tls_rec_end(g, r);
}

struct cert {
	const unsigned char *der;
	size_t len;
};

static void step_tls(struct gen *g, uint64_t t)
{
	static const char *const accts[3] = {"a1b2c3", "a2k9xq4hvt7e1w", "b3m8zp0ldq2r6y"};
	static const struct cert clients[5] = {
	    {bench_cert_cli_fleet_a, sizeof bench_cert_cli_fleet_a},
	    {bench_cert_cli_fleet_b, sizeof bench_cert_cli_fleet_b},
	    {bench_cert_cli_fleet_c, sizeof bench_cert_cli_fleet_c},
	    {bench_cert_cli_fleet_d, sizeof bench_cert_cli_fleet_d},
	    {bench_cert_cli_gw, sizeof bench_cert_cli_gw},
	};
	static const struct cert aps1 = {bench_cert_srv_aps1, sizeof bench_cert_srv_aps1};
	static const struct cert euw1 = {bench_cert_srv_euw1, sizeof bench_cert_srv_euw1};
	static const struct cert tunnel = {bench_cert_srv_tunnel, sizeof bench_cert_srv_tunnel};
	uint32_t i = rnd_below(&g->r, g->n_dev), r = rnd_below(&g->r, 100), a = rnd_below(&g->r, 10);
	struct dev *d = &g->dev[i];
	uint8_t sni[80];
	struct wb s = {sni, 0, sizeof sni};
	uint16_t port = 8883;
	const char *alpn = NULL;
	const struct cert *srv = &aps1;
	uint32_t sip;
	bool mutual = r < 85;
	struct tcp c;

	if (mutual) {
		bool euw = r >= 55 && r < 75;
		wb_str(&s, accts[a < 7 ? 0 : a - 7 < 2 ? 1 : 2]);
		wb_str(&s, euw ? "-ats.iot.eu-west-1.amazonaws.com" : "-ats.iot.ap-south-1.amazonaws.com");
		if (r >= 75) {
			port = 443;
			alpn = "x-amzn-mqtt-ca";
		}
		srv = euw ? &euw1 : &aps1;
		sip = euw ? (a & 1 ? IP4(52, 208, 40, 11) : IP4(34, 248, 9, 80))
		          : (a & 1 ? IP4(13, 234, 17, 2) : IP4(3, 108, 70, 5));
	} else {
		wb_str(&s, "data.tunneling.iot.eu-west-1.amazonaws.com");
		port = 443;
		alpn = "http/1.1";
		srv = &tunnel;
		sip = IP4(34, 251, 12, 7);
	}
	dev_seen(g, i);
	tcp_new(g, &c, dev_ip(i), next_port(g, &d->port), sip, port, rnd_range(&g->r, 40000, 160000), 64,
	        232);
	tcp_connect(g, &c, &t);

	fl_reset(g);
	tls_client_hello(g, sni, s.len, alpn);
	tcp_data(g, &c, C2S, &t);
	turn(g, &c, &t);
	fl_reset(g);
	tls_server_hello(g);
	tls_certificate(g, srv->der, srv->len);
	if (mutual)
		tls_cert_request(g);
	tls_simple(g, 14, 0);
	tcp_data(g, &c, S2C, &t);
	t += rnd_range(&g->r, 500, 5000);
	fl_reset(g);
	if (mutual)
		tls_certificate(g, clients[i % 5].der, clients[i % 5].len);
	tls_simple(g, 16, 256); /* ClientKeyExchange: RSA-encrypted premaster secret */
	if (mutual)
		tls_cert_verify(g);
	tls_ccs(g);
	tls_sealed(g, 22, 16); /* Finished */
	tcp_data(g, &c, C2S, &t);
	turn(g, &c, &t);
	fl_reset(g);
	tls_ccs(g);
	tls_sealed(g, 22, 16);
	tcp_data(g, &c, S2C, &t);

	for (uint32_t k = 0, n = rnd_range(&g->r, 1, 4); k < n; k++) {
		t += rnd_range(&g->r, 200, 20000);
		fl_reset(g);
		tls_sealed(g, 23, mutual ? rnd_range(&g->r, 20, 400) : rnd_range(&g->r, 100, 1400));
		tcp_data(g, &c, C2S, &t);
		turn(g, &c, &t);
		if (rnd_below(&g->r, 3)) {
			fl_reset(g);
			tls_sealed(g, 23, mutual ? rnd_range(&g->r, 4, 120) : rnd_range(&g->r, 100, 2400));
			tcp_data(g, &c, S2C, &t);
		} else {
			tcp_ack(g, &c, S2C, &t);
		}
	}
	t += rnd_range(&g->r, 1000, 100000);
	fl_reset(g);
	tls_sealed(g, 21, 2); /* close_notify */
	tcp_data(g, &c, C2S, &t);
	t += rnd_range(&g->r, 100, 1000);
	if (rnd_below(&g->r, 10) == 0)
		tcp_reset(g, &c, C2S, &t);
	else
		tcp_close(g, &c, C2S, &t);
}

/* ---- DNS ---- */

/* Writes name as labels; off[] gets each label's offset in the message. Returns the label count. */
static unsigned dns_name(struct wb *w, const char *name, uint16_t *off, unsigned max)
{
	unsigned n = 0;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		if (n == max || l == 0 || l > 63)
			die("bad DNS name");
		off[n++] = (uint16_t)w->len;
		wb_u8(w, (uint32_t)l);
		wb_mem(w, name, l);
		name += l;
		if (*name)
			name++;
	}
	wb_u8(w, 0);
	return n;
}

/*
 * A query, or its answer: for the AWS names a CNAME into the question's name (compressed) and A records
 * pointing at the CNAME's target; for the others A or AAAA records pointing at the question.
 */
static void dns_msg(struct gen *g, struct wb *w, uint16_t id, const char *name, uint16_t qtype, bool resp,
                    bool nx)
{
	uint16_t off[16], target = 12;
	bool aws = strstr(name, "amazonaws") != NULL;
	uint32_t an = 0, k;
	size_t anpos;

	wb_be16(w, id);
	wb_be16(w, resp ? (nx ? 0x8183 : 0x8180) : 0x0100);
	wb_be16(w, 1);
	anpos = w->len;
	wb_be16(w, 0);
	wb_be16(w, 0);
	wb_be16(w, 0);
	unsigned nl = dns_name(w, name, off, 16);
	wb_be16(w, qtype);
	wb_be16(w, 1);
	if (!resp || nx)
		return;
	if (aws && nl > 1) {
		size_t o;
		wb_be16(w, 0xc00c);
		wb_be16(w, 5);
		wb_be16(w, 1);
		wb_be32(w, 300);
		o = wb_open16(w);
		target = (uint16_t)w->len;
		wb_u8(w, 9);
		wb_str(w, "edge-lb-");
		wb_u8(w, '0' + rnd_below(&g->r, 10));
		wb_be16(w, 0xc000 | off[1]);
		wb_close16(w, o);
		an++;
	}
	if (qtype == 1)
		k = rnd_range(&g->r, 1, aws ? 3 : 4);
	else
		k = aws || rnd_below(&g->r, 3) == 0 ? 0 : rnd_range(&g->r, 1, 2);
	for (uint32_t j = 0; j < k; j++, an++) {
		wb_be16(w, 0xc000 | target);
		wb_be16(w, qtype);
		wb_be16(w, 1);
		wb_be32(w, aws ? 60 : 300);
		if (qtype == 1) {
			wb_be16(w, 4);
			wb_be32(w, aws ? IP4(13, 234, rnd_below(&g->r, 256), rnd_range(&g->r, 1, 254))
			               : IP4(rnd_range(&g->r, 1, 223), rnd_below(&g->r, 256),
			                     rnd_below(&g->r, 256), rnd_range(&g->r, 1, 254)));
		} else {
			wb_be16(w, 16);
			wb_be32(w, 0x26064700);
			wb_rand(&g->r, w, 12);
		}
	}
	put16(w->p + anpos, an);
}

static void step_dns(struct gen *g, uint64_t t)
{
	static const char *const names[10] = {
	    "a1b2c3-ats.iot.ap-south-1.amazonaws.com",
	    "a1b2c3-ats.iot.eu-west-1.amazonaws.com",
	    "data.tunneling.iot.eu-west-1.amazonaws.com",
	    "a2k9xq4hvt7e1w-ats.iot.ap-south-1.amazonaws.com",
	    "pool.ntp.org",
	    "time.cloudflare.com",
	    "fw.vendor-x.com",
	    "broker.plant3.example.net",
	    "api.sensorcloud.io",
	    "fw-old.vendor-x.com",
	};
	uint32_t i = rnd_below(&g->r, g->n_dev), x = rnd_below(&g->r, 100),
	         rtt = rnd_range(&g->r, 500, 30000);
	unsigned ni = x < 50 ? x % 4 : x < 97 ? 4 + x % 5 : 9;
	struct dev *d = &g->dev[i];
	uint16_t sport = next_port(g, &d->port), ids[2];
	uint16_t types[2] = {rnd_below(&g->r, 5) ? 1 : 28, 28};
	uint32_t nq = rnd_below(&g->r, 10) < 3 ? 2 : 1;

	if (nq == 2)
		types[0] = 1;
	dev_seen(g, i);
	g->flows++;
	for (uint32_t q = 0; q < nq; q++) {
		struct wb w = tmp_wb(g);
		ids[q] = (uint16_t)rnd(&g->r);
		dns_msg(g, &w, ids[q], names[ni], types[q], false, false);
		if (q)
			t += rnd_range(&g->r, 30, 300);
		udp_emit(g, dev_ip(i), sport, g->dns.ip, 53, &d->ipid, 64, w.p, (uint32_t)w.len, t);
	}
	t += rtt;
	for (uint32_t q = 0; q < nq; q++) {
		struct wb w = tmp_wb(g);
		dns_msg(g, &w, ids[q], names[ni], types[q], true, ni == 9);
		if (q)
			t += rnd_range(&g->r, 20, 2000);
		udp_emit(g, g->dns.ip, 53, dev_ip(i), sport, &g->dns.ipid, 64, w.p, (uint32_t)w.len, t);
	}
}

/* ---- other: ICMP echo, NTP, HTTP ---- */

static void step_icmp(struct gen *g, uint64_t t)
{
	uint32_t i = rnd_below(&g->r, g->n_dev);
	struct dev *d = &g->dev[i];
	uint16_t id = (uint16_t)rnd(&g->r);
	uint8_t pl[56];

	dev_seen(g, i);
	g->flows++;
	for (uint32_t s = 1, n = rnd_range(&g->r, 1, 4); s <= n; s++) {
		putle32(pl, (uint32_t)(t / 1000000));
		putle32(pl + 4, 0);
		putle32(pl + 8, (uint32_t)(t % 1000000));
		putle32(pl + 12, 0);
		for (unsigned b = 16; b < sizeof pl; b++)
			pl[b] = (uint8_t)b;
		icmp_emit(g, dev_ip(i), g->router.ip, &d->ipid, 64, 8, id, (uint16_t)s, pl, sizeof pl, t);
		icmp_emit(g, g->router.ip, dev_ip(i), &g->router.ipid, 64, 0, id, (uint16_t)s, pl, sizeof pl,
		          t + rnd_range(&g->r, 200, 3000));
		t += 1000000 + rnd_below(&g->r, 5000);
	}
}

static void ntp_ts(uint8_t *p, uint64_t us)
{
	put32(p, (uint32_t)(us / 1000000 + NTP_EPOCH));
	put32(p + 4, (uint32_t)(((us % 1000000) << 32) / 1000000));
}

static void step_ntp(struct gen *g, uint64_t t)
{
	uint32_t i = rnd_below(&g->r, g->n_dev), rtt = rnd_range(&g->r, 300, 5000);
	struct dev *d = &g->dev[i];
	uint16_t sport = rnd_below(&g->r, 2) ? 123 : next_port(g, &d->port);
	uint8_t q[48] = {0x23}, a[48] = {0x24, 2, 6, 0xe9};

	dev_seen(g, i);
	g->flows++;
	q[2] = 6;
	q[3] = 0xe9;
	ntp_ts(q + 40, t);
	udp_emit(g, dev_ip(i), sport, g->ntp.ip, 123, &d->ipid, 64, q, sizeof q, t);
	put32(a + 4, rnd_range(&g->r, 0x100, 0x800));
	put32(a + 8, rnd_range(&g->r, 0x100, 0x1000));
	put32(a + 12, IP4(194, 58, 202, 20));
	ntp_ts(a + 16, t - rnd_range(&g->r, 10000000, 900000000));
	memcpy(a + 24, q + 40, 8);
	ntp_ts(a + 32, t + rtt / 2);
	ntp_ts(a + 40, t + rtt / 2 + 40);
	udp_emit(g, g->ntp.ip, 123, dev_ip(i), sport, &g->ntp.ipid, 64, a, sizeof a, t + rtt);
}

static void step_http(struct gen *g, uint64_t t)
{
	static const char *const models[3] = {"tx200", "gw-line", "sensor-v3"};
	uint32_t i = rnd_below(&g->r, g->n_dev);
	struct dev *d = &g->dev[i];
	struct wb *w = &g->fl.w, b = tmp_wb(g);
	struct tcp c;

	dev_seen(g, i);
	tcp_new(g, &c, dev_ip(i), next_port(g, &d->port), g->web.ip, 80, rnd_range(&g->r, 500, 3000), 64, 64);
	tcp_connect(g, &c, &t);
	fl_reset(g);
	wb_str(w, "GET /fw/");
	wb_str(w, models[i % 3]);
	wb_str(w, "/manifest.json HTTP/1.1\r\nHost: fw.plant3.local\r\nUser-Agent: iot-agent/2.4.1\r\n"
	          "Accept: application/json\r\nConnection: close\r\n\r\n");
	fl_end(g);
	tcp_data(g, &c, C2S, &t);
	turn(g, &c, &t);
	fl_reset(g);
	json_doc(g, &b, i, rnd_range(&g->r, 200, 3000));
	wb_str(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ");
	wb_dec(w, b.len);
	wb_str(w, "\r\nConnection: close\r\n\r\n");
	wb_mem(w, b.p, b.len);
	fl_end(g);
	tcp_data(g, &c, S2C, &t);
	turn(g, &c, &t);
	tcp_ack(g, &c, C2S, &t);
	t += rnd_range(&g->r, 100, 2000);
	tcp_close(g, &c, S2C, &t);
}

static void step_other(struct gen *g, uint64_t t)
{
	uint32_t r = rnd_below(&g->r, 100);
	if (r < 40)
		step_icmp(g, t);
	else if (r < 85)
		step_ntp(g, t);
	else
		step_http(g, t);
}

/* ---- driver ---- */

/* A category behind its share of packets, drawn by share; the one furthest behind when none is. */
static int pick_cat(struct gen *g)
{
	double behind[CAT__N];
	uint32_t total = 0;
	int best = 0;
	for (int c = 0; c < CAT__N; c++) {
		behind[c] = cat_share[c] * (double)g->made / 1000.0 - (double)g->cat_pkts[c];
		if (behind[c] > 0)
			total += cat_share[c];
		if (behind[c] > behind[best])
			best = c;
	}
	if (!total)
		return best;
	uint32_t x = rnd_below(&g->r, total);
	for (int c = 0; c < CAT__N; c++) {
		if (behind[c] <= 0)
			continue;
		if (x < cat_share[c])
			return c;
		x -= cat_share[c];
	}
	return best;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return false;
	*v = x;
	return true;
}

static void usage(void)
{
	fprintf(stderr, "usage: gen -o FILE [-n PACKETS] [-d DEVICES] [-s SEED]\n"
	                "  defaults: 2000000 packets, 10000 devices, seed 1\n");
}

static void host_init(struct gen *g, struct host *h, uint32_t ip)
{
	h->ip = ip;
	h->ipid = (uint16_t)rnd(&g->r);
	h->port = 0;
}

int main(int argc, char **argv)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	const char *path = NULL;
	uint64_t n = 2000000, nd = 10000, seed = 1;
	int opt;

	while ((opt = getopt(argc, argv, "o:n:d:s:h")) != -1) {
		switch (opt) {
		case 'o':
			path = optarg;
			break;
		case 'n':
			if (!parse_u64(optarg, &n) || n < 1 || n > MAX_PACKETS) {
				fprintf(stderr, "gen: -n wants 1..%llu packets\n", MAX_PACKETS);
				return 2;
			}
			break;
		case 'd':
			if (!parse_u64(optarg, &nd) || nd < 1 || nd > MAX_DEVICES) {
				fprintf(stderr, "gen: -d wants 1..%u devices\n", MAX_DEVICES);
				return 2;
			}
			break;
		case 's':
			if (!parse_u64(optarg, &seed)) {
				fprintf(stderr, "gen: -s wants an unsigned number\n");
				return 2;
			}
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (!path || optind != argc) {
		usage();
		return 2;
	}

	struct gen *g = calloc(1, sizeof *g);
	if (!g)
		die("out of memory");
	g->r.s = seed;
	g->want = n;
	g->n_dev = (uint32_t)nd;
	g->n_gw = g->n_dev > 7 ? (g->n_dev - 8) / 20 + 1 : 1;
	g->dev = calloc(g->n_dev, sizeof *g->dev);
	g->gw = calloc(g->n_gw, sizeof *g->gw);
	g->obuf = malloc(OBUF_CAP);
	if (!g->dev || !g->gw || !g->obuf)
		die("out of memory");
	for (uint32_t k = 0; k < g->n_gw; k++)
		g->gw[k].units = (uint8_t)rnd_range(&g->r, 1, 8);
	for (size_t k = 0; k < sizeof g->alnum; k++)
		g->alnum[k] = (uint8_t)abc[rnd_below(&g->r, sizeof abc - 1)];
	host_init(g, &g->router, IP4(10, 255, 0, 1));
	host_init(g, &g->broker, IP4(10, 255, 0, 10));
	host_init(g, &g->coap, IP4(10, 255, 0, 20));
	host_init(g, &g->dns, IP4(10, 255, 0, 53));
	host_init(g, &g->web, IP4(10, 255, 0, 80));
	host_init(g, &g->ntp, IP4(10, 255, 0, 123));
	for (unsigned k = 0; k < 4; k++)
		host_init(g, &g->master[k], IP4(10, 255, 1, 1 + k));
	g->fl.w.p = g->flbuf;
	g->fl.w.cap = sizeof g->flbuf;

	g->out = fopen(path, "wb");
	if (!g->out) {
		fprintf(stderr, "gen: %s: %s\n", path, strerror(errno));
		return 1;
	}
	out_header(g);
	while (g->made < g->want) {
		uint64_t target = T0_US + g->made * SPAN_US / g->want;
		flush_until(g, target);
		g->cat = pick_cat(g);
		uint64_t t = target + rnd_below(&g->r, 1000);
		switch (g->cat) {
		case CAT_MQTT:
			step_mqtt(g, t);
			break;
		case CAT_COAP:
			step_coap(g, t);
			break;
		case CAT_MODBUS:
			step_modbus(g, t);
			break;
		case CAT_TLS:
			step_tls(g, t);
			break;
		case CAT_DNS:
			step_dns(g, t);
			break;
		default:
			step_other(g, t);
			break;
		}
	}
	flush_until(g, UINT64_MAX);
	out_drain(g);
	if (fclose(g->out) != 0 || g->werr) {
		fprintf(stderr, "gen: %s: write failed\n", path);
		return 1;
	}

	printf("packets %llu bytes %llu flows %llu devices %u\n", (unsigned long long)g->written,
	       (unsigned long long)g->bytes, (unsigned long long)g->flows, g->n_seen);
	printf("mix");
	for (int c = 0; c < CAT__N; c++)
		printf(" %s %.1f%%", cat_name[c],
		       g->made ? 100.0 * (double)g->cat_pkts[c] / (double)g->made : 0.0);
	printf("\n");
	free(g->slot_mem);
	free(g->slot_len);
	free(g->free_slots);
	free(g->heap);
	free(g->obuf);
	free(g->gw);
	free(g->dev);
	free(g);
	return 0;
}
