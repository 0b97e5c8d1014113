/* pcapfile.c - classic pcap files read in large blocks (pcapfile.h).
 *
 * The file goes through a ring of RING chunks, each DATA bytes of the file behind a gap
 * of GAP bytes. Records are handed out where they lie; a record that runs past the end
 * of a chunk's data has its first part copied into the gap before the next chunk's data,
 * where it then lies whole. DATA and GAP each hold the largest record, so that one copy
 * is always enough. A chunk goes back to be filled again once the records have moved on
 * from it and KEEP more were handed out after its last one: the header's guarantee.
 *
 * The chunks are filled by the caller itself, the next one when a record needs it, or,
 * after iw_pcapfile_read_ahead(), by a thread of the reader's own that fills every free
 * chunk as soon as it is given back, so that read(2)'s copy runs on another core. Only
 * the counts of chunks filled and given back (and quit) are shared; a chunk's bytes and
 * its fields belong to the thread until it is counted filled, and to the caller from
 * then until it is given back. */
#include "pcapfile.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../parsers/alloc.h"

#define HDR_LEN    24
#define REC_HDR    16
#define MAX_RECORD (REC_HDR + IW_PCAPFILE_MAX_CAPLEN)
#define GAP        MAX_RECORD
#define DATA       (320u * 1024) /* one read(2); with the records parsed from it, it fits an L2 cache */
#define RING       8
#define WARM_AHEAD 4096 /* bytes of records ahead of the one handed out */

_Static_assert(DATA >= MAX_RECORD, "a record spans at most two chunks");
_Static_assert(RING >= IW_PCAPFILE_KEEP + 3, "the kept chunks, the current and the next fit the ring");

#define MAGIC_US 0xa1b2c3d4u
#define MAGIC_NS 0xa1b23c4du

struct chunk {
	uint8_t *mem;      /* GAP bytes, then DATA */
	size_t len;        /* bytes of the file read into its data */
	int err;           /* errno of the read that failed after those, 0 if none */
	bool last;         /* nothing follows it: the end of the file or err */
	uint64_t last_rec; /* 1 + the number of the last record handed out from it; 0: none */
};

struct iw_pcapfile {
	iw_pcapfile_read_fn rd;
	void *arg;
	struct chunk ring[RING]; /* chunk i (counted from the file's start) is ring[i % RING] */
	uint64_t filled, given;  /* chunks filled, chunks given back (the oldest still held) */
	uint64_t cur;            /* the chunk records come from */
	uint64_t recs;           /* records handed out */
	size_t pos;              /* the next record's offset in the current chunk's mem */
	size_t warm;             /* where prefetching of the current chunk got to */
	bool failed, swap, nsec;
	bool other; /* written in the other byte order than this host's: libpcap's "swapped" */
	uint32_t snap, linktype;
	char why[160]; /* the error, repeated by every call after a failure */
	/* the read-ahead thread: filled, given and quit are under mu once it runs */
	bool threaded, quit;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a chunk filled, a chunk given back, or quit */
};

static uint32_t u32(const uint8_t *b, bool swap)
{
	uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return swap ? __builtin_bswap32(v) : v;
}

static uint16_t u16(const uint8_t *b, bool swap)
{
	uint16_t v = (uint16_t)(b[0] | b[1] << 8);
	return swap ? __builtin_bswap16(v) : v;
}

/* The link types iw_decode takes, all with libpcap's default snapshot limit. */
static bool linktype_ok(uint32_t lt)
{
	switch (lt) {
	case 0:   /* NULL */
	case 1:   /* ETHERNET */
	case 101: /* RAW */
	case 108: /* LOOP */
	case 113: /* LINUX_SLL */
	case 228: /* IPV4 */
	case 229: /* IPV6 */
	case 276: /* LINUX_SLL2 */
		return true;
	default:
		return false;
	}
}

/* Magic (host order as read little-endian), and whether the file is the other way. */
static bool magic_of(const uint8_t *b, bool *swap, bool *nsec)
{
	uint32_t m = u32(b, false);
	*swap = m == __builtin_bswap32(MAGIC_US) || m == __builtin_bswap32(MAGIC_NS);
	if (*swap)
		m = __builtin_bswap32(m);
	*nsec = m == MAGIC_NS;
	return m == MAGIC_US || m == MAGIC_NS;
}

bool iw_pcapfile_usable(const uint8_t *hdr, size_t n)
{
	bool swap, nsec;
	if (n < HDR_LEN || !magic_of(hdr, &swap, &nsec))
		return false;
	/* 2.4 only: older minors may have caplen and len the other way round */
	return u16(hdr + 4, swap) == 2 && u16(hdr + 6, swap) == 4 && linktype_ok(u32(hdr + 20, swap));
}

/* Reads a chunk's data: DATA bytes, fewer only at the end of the file or an error. */
static void read_chunk(struct iw_pcapfile *p, struct chunk *c)
{
	c->len = 0;
	c->err = 0;
	c->last = false;
	c->last_rec = 0;
	while (c->len < DATA) {
		ssize_t r = p->rd(p->arg, c->mem + GAP + c->len, DATA - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			c->err = r < 0 ? errno : 0;
			c->last = true;
			return;
		}
		c->len += (size_t)r;
	}
}

/* The read-ahead thread: fills every free chunk until the last one or quit. */
static void *producer(void *arg)
{
	struct iw_pcapfile *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->quit) {
		if (p->filled - p->given == RING) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		struct chunk *c = &p->ring[p->filled % RING];
		pthread_mutex_unlock(&p->mu);
		read_chunk(p, c);
		pthread_mutex_lock(&p->mu);
		p->filled++;
		pthread_cond_signal(&p->cv);
		if (c->last)
			break;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Chunk i, filled: waited for from the thread, or read now without it. */
static struct chunk *chunk_filled(struct iw_pcapfile *p, uint64_t i)
{
	struct chunk *c = &p->ring[i % RING];
	if (!p->threaded) {
		if (p->filled == i) {
			read_chunk(p, c);
			p->filled++;
		}
		return c;
	}
	pthread_mutex_lock(&p->mu);
	while (p->filled <= i)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	return c;
}

/* Gives back the chunks behind the current one that hold no record still kept. */
static void give_back(struct iw_pcapfile *p)
{
	uint64_t g = p->given;
	while (g < p->cur) {
		uint64_t last = p->ring[g % RING].last_rec;
		if (last && last + IW_PCAPFILE_KEEP > p->recs)
			break;
		g++;
	}
	if (g == p->given)
		return;
	if (!p->threaded) {
		p->given = g;
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->given = g;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Whether need bytes from pos are there; when they run past the current chunk's data,
 * what is left of it moves into the next chunk's gap and reading goes on there. */
static bool have(struct iw_pcapfile *p, size_t need)
{
	struct chunk *c = &p->ring[p->cur % RING];
	size_t left = GAP + c->len - p->pos;
	if (left < need && !c->last) {
		struct chunk *n = chunk_filled(p, p->cur + 1);
		memcpy(n->mem + GAP - left, c->mem + p->pos, left); /* left < need <= GAP */
		p->cur++;
		p->pos = GAP - left;
		p->warm = p->pos;
		c = n;
		left += c->len; /* DATA >= need unless the chunk is the last */
	}
	if (left >= need)
		return true;
	if (c->err) {
		snprintf(p->why, sizeof(p->why), "error reading dump file: %s", strerror(c->err));
		p->failed = true;
	}
	return false;
}

static void chunks_free(struct iw_pcapfile *p)
{
	for (unsigned i = 0; i < RING; i++)
		free(p->ring[i].mem);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

struct iw_pcapfile *iw_pcapfile_new(iw_pcapfile_read_fn rd, void *arg, char *err, size_t errlen)
{
	struct iw_pcapfile *p = iw_calloc(1, sizeof(*p));
	p->rd = rd;
	p->arg = arg;
	for (unsigned i = 0; i < RING; i++)
		p->ring[i].mem = iw_malloc(GAP + DATA);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	chunk_filled(p, 0);
	p->pos = GAP;
	if (!have(p, HDR_LEN) || !iw_pcapfile_usable(p->ring[0].mem + GAP, p->ring[0].len)) {
		snprintf(err, errlen, "%s", p->failed ? p->why : "not a classic pcap file this reader takes");
		chunks_free(p);
		return NULL;
	}
	const uint8_t *h = p->ring[0].mem + GAP;
	magic_of(h, &p->swap, &p->nsec);
	p->other = p->swap != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
	int32_t snap = (int32_t)u32(h + 16, p->swap);
	p->snap =
	    snap <= 0 || (uint32_t)snap > IW_PCAPFILE_MAX_CAPLEN ? IW_PCAPFILE_MAX_CAPLEN : (uint32_t)snap;
	p->linktype = u32(h + 20, p->swap);
	p->pos = GAP + HDR_LEN;
	p->warm = p->pos;
	return p;
}

bool iw_pcapfile_read_ahead(struct iw_pcapfile *p)
{
	if (p->threaded || p->ring[(p->filled - 1) % RING].last)
		return p->threaded;
	/* signals stay with the threads the program made: this one only reads */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p->threaded = pthread_create(&p->thread, NULL, producer, p) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return p->threaded;
}

unsigned iw_pcapfile_linktype(const struct iw_pcapfile *p)
{
	return p->linktype;
}

/* libpcap turns the CAN ID after a Linux cooked header (SLL, SLL2) with protocol CAN or
 * CAN FD to this host's byte order when the file is in the other one (1.10: not CAN XL),
 * provided caplen (after the cut) and len both cover it. */
static void swap_can_id(uint32_t linktype, uint8_t *d, uint32_t caplen, uint32_t len)
{
	uint32_t hl = linktype == 113 ? 16 : linktype == 276 ? 20 : 0;
	if (!hl || caplen < hl + 4 || len < hl + 4)
		return;
	const uint8_t *proto = linktype == 113 ? d + 14 : d;
	if (proto[0] != 0 || (proto[1] != 0x0c && proto[1] != 0x0d))
		return;
	uint32_t id;
	memcpy(&id, d + hl, 4);
	id = __builtin_bswap32(id);
	memcpy(d + hl, &id, 4);
}

static int fail(struct iw_pcapfile *p, char *err, size_t errlen)
{
	p->failed = true;
	snprintf(err, errlen, "%s", p->why);
	return -1;
}

int iw_pcapfile_next(struct iw_pcapfile *p, struct iw_pcaprec *r, char *err, size_t errlen)
{
	if (p->failed)
		return fail(p, err, errlen);
	if (p->given < p->cur)
		give_back(p);
	if (!have(p, REC_HDR)) {
		if (p->failed)
			return fail(p, err, errlen);
		size_t got = GAP + p->ring[p->cur % RING].len - p->pos;
		if (got == 0)
			return 0;
		snprintf(p->why, sizeof(p->why),
		         "truncated dump file; tried to read %d header bytes, only got %zu", REC_HDR, got);
		return fail(p, err, errlen);
	}
	const uint8_t *h = p->ring[p->cur % RING].mem + p->pos;
	/* libpcap 1.10 reads the seconds and the fraction as signed 32-bit fields, but from a
	 * file in the other byte order as unsigned ones (its SWAPLONG yields an unsigned int) */
	uint32_t sec32 = u32(h, p->swap), frac32 = u32(h + 4, p->swap);
	int64_t sec = p->other ? (int64_t)sec32 : (int32_t)sec32;
	int64_t frac = p->other ? (int64_t)frac32 : (int32_t)frac32;
	uint32_t caplen = u32(h + 8, p->swap), len = u32(h + 12, p->swap);
	if (caplen > IW_PCAPFILE_MAX_CAPLEN) {
		snprintf(p->why, sizeof(p->why),
		         "invalid packet capture length %u, bigger than snaplen of %u", caplen, p->snap);
		return fail(p, err, errlen);
	}
	if (!have(p, REC_HDR + (size_t)caplen)) {
		if (p->failed)
			return fail(p, err, errlen);
		/* libpcap's words: the kept part first, then the whole record while skipping */
		size_t got = GAP + p->ring[p->cur % RING].len - p->pos - REC_HDR;
		uint32_t want = caplen > p->snap && got < p->snap ? p->snap : caplen;
		snprintf(p->why, sizeof(p->why),
		         "truncated dump file; tried to read %u captured bytes, only got %zu", want, got);
		return fail(p, err, errlen);
	}
	struct chunk *c = &p->ring[p->cur % RING]; /* have() may have moved the record */
	uint8_t *d = c->mem + p->pos + REC_HDR;
	if (p->nsec)
		frac /= 1000;
	r->data = d;
	r->caplen = caplen > p->snap ? p->snap : caplen; /* the rest is skipped */
	r->len = len;
	r->ts_us = (uint64_t)sec * 1000000u + (uint64_t)frac;
	if (p->other)
		swap_can_id(p->linktype, d, r->caplen, len);
	c->last_rec = ++p->recs;
	p->pos += REC_HDR + (size_t)caplen;
	/* a block the thread read comes from the other core's cache or L3: ask for the next
	 * records' lines before the sensor decodes them (in the caller's L2 already without) */
	size_t to = p->pos + WARM_AHEAD, end = GAP + c->len;
	if (to > end)
		to = end;
	for (; p->warm < to; p->warm += 64)
		__builtin_prefetch(c->mem + p->warm);
	return 1;
}

void iw_pcapfile_free(struct iw_pcapfile *p)
{
	if (!p)
		return;
	if (p->threaded) {
		pthread_mutex_lock(&p->mu);
		p->quit = true;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	chunks_free(p);
}
