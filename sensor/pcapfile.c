/* pcapfile.c - classic pcap files read in large blocks (pcapfile.h).
 *
 * Two buffers of BUF_SIZE alternate: records are handed out where they lie in the
 * current one; when the next record does not fit in what is left of it, the part of
 * that record already read moves to the start of the other buffer and reading goes on
 * there. A buffer is written over only after every record of the other one was handed
 * out, and a buffer holds more than IW_PCAPFILE_KEEP of the largest records, hence the
 * guarantee in the header. */
#include "pcapfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../parsers/alloc.h"

#define HDR_LEN    24
#define REC_HDR    16
#define MAX_RECORD (REC_HDR + IW_PCAPFILE_MAX_CAPLEN)
#define BUF_SIZE   ((IW_PCAPFILE_KEEP + 2) * MAX_RECORD)
#define READ_CHUNK (256u * 1024) /* per read(2): what was read is still in the L2 cache when parsed */

#define MAGIC_US 0xa1b2c3d4u
#define MAGIC_NS 0xa1b23c4du

struct iw_pcapfile {
	iw_pcapfile_read_fn rd;
	void *arg;
	uint8_t *buf[2];
	unsigned cur;    /* the buffer records come from */
	size_t pos, end; /* the next record's offset in it, and the end of what was read */
	bool eof, failed, swap, nsec;
	bool other; /* written in the other byte order than this host's: libpcap's "swapped" */
	uint32_t snap, linktype;
	char why[160]; /* the error, repeated by every call after a failure */
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

/* Reads until at least need bytes from pos are there or the source ends. */
static bool fill(struct iw_pcapfile *p, size_t need)
{
	if (p->end - p->pos >= need)
		return true;
	if (p->pos + need > BUF_SIZE) {
		/* the record does not fit in what is left: move its start to the other buffer */
		unsigned o = p->cur ^ 1u;
		size_t have = p->end - p->pos;
		memcpy(p->buf[o], p->buf[p->cur] + p->pos, have);
		p->cur = o;
		p->pos = 0;
		p->end = have;
	}
	while (p->end - p->pos < need && !p->eof) {
		size_t room = BUF_SIZE - p->end;
		ssize_t r = p->rd(p->arg, p->buf[p->cur] + p->end, room < READ_CHUNK ? room : READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(p->why, sizeof(p->why), "error reading dump file: %s", strerror(errno));
			p->failed = true;
			return false;
		}
		if (r == 0)
			p->eof = true;
		p->end += (size_t)r;
	}
	return p->end - p->pos >= need;
}

struct iw_pcapfile *iw_pcapfile_new(iw_pcapfile_read_fn rd, void *arg, char *err, size_t errlen)
{
	struct iw_pcapfile *p = iw_calloc(1, sizeof(*p));
	p->rd = rd;
	p->arg = arg;
	p->buf[0] = iw_malloc(BUF_SIZE);
	p->buf[1] = iw_malloc(BUF_SIZE);
	if (!fill(p, HDR_LEN) || !iw_pcapfile_usable(p->buf[0], p->end)) {
		snprintf(err, errlen, "%s", p->failed ? p->why : "not a classic pcap file this reader takes");
		iw_pcapfile_free(p);
		return NULL;
	}
	const uint8_t *h = p->buf[0];
	magic_of(h, &p->swap, &p->nsec);
	p->other = p->swap != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
	int32_t snap = (int32_t)u32(h + 16, p->swap);
	p->snap =
	    snap <= 0 || (uint32_t)snap > IW_PCAPFILE_MAX_CAPLEN ? IW_PCAPFILE_MAX_CAPLEN : (uint32_t)snap;
	p->linktype = u32(h + 20, p->swap);
	p->pos = HDR_LEN;
	return p;
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
	if (!fill(p, REC_HDR)) {
		if (p->failed)
			return fail(p, err, errlen);
		size_t got = p->end - p->pos;
		if (got == 0)
			return 0;
		snprintf(p->why, sizeof(p->why),
		         "truncated dump file; tried to read %d header bytes, only got %zu", REC_HDR, got);
		return fail(p, err, errlen);
	}
	const uint8_t *h = p->buf[p->cur] + p->pos;
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
	if (!fill(p, REC_HDR + (size_t)caplen)) {
		if (p->failed)
			return fail(p, err, errlen);
		/* libpcap's words: the kept part first, then the whole record while skipping */
		size_t got = p->end - p->pos - REC_HDR;
		uint32_t want = caplen > p->snap && got < p->snap ? p->snap : caplen;
		snprintf(p->why, sizeof(p->why),
		         "truncated dump file; tried to read %u captured bytes, only got %zu", want, got);
		return fail(p, err, errlen);
	}
	h = p->buf[p->cur] + p->pos; /* fill may have moved the record */
	if (p->nsec)
		frac /= 1000;
	r->data = h + REC_HDR;
	r->caplen = caplen > p->snap ? p->snap : caplen; /* the rest is skipped */
	r->len = len;
	r->ts_us = (uint64_t)sec * 1000000u + (uint64_t)frac;
	if (p->other)
		swap_can_id(p->linktype, p->buf[p->cur] + p->pos + REC_HDR, r->caplen, len);
	p->pos += REC_HDR + (size_t)caplen;
	return 1;
}

void iw_pcapfile_free(struct iw_pcapfile *p)
{
	if (!p)
		return;
	free(p->buf[0]);
	free(p->buf[1]);
	free(p);
}
