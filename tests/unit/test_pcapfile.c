/* test_pcapfile.c - the classic pcap reader (sensor/pcapfile.c) against libpcap. Every
 * file is built here in memory and read twice by pcapfile.c (once in whole reads, once
 * through a callback returning short reads of 1..7 bytes and more, and EINTR) and once by
 * libpcap (fmemopen, pcap_next_ex, microsecond precision): both must hand out the same
 * records (timestamp, caplen, len, bytes) and end the same way (end of file or error,
 * after the same record), and every record pcapfile.c hands out must still hold its bytes
 * while the next IW_PCAPFILE_KEEP are read. Cases: both byte orders, microsecond and
 * nanosecond magic, snapshot lengths (0, small, above 262144, negative), the 262144 limit,
 * a file cut at every offset, records of 200-260 KB crossing the reader's buffers, signed
 * timestamp fields, SocketCAN IDs in byte-swapped cooked captures, every accepted link
 * type, read errors, and iw_pcapfile_usable on what it must refuse. */
#include <errno.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <cmocka.h>

#include "sensor/pcapfile.h"

#define MAGIC_US 0xa1b2c3d4u
#define MAGIC_NS 0xa1b23c4du
#define MAX_CAP  IW_PCAPFILE_MAX_CAPLEN
#define KEEP     IW_PCAPFILE_KEEP
#define MAX_AT   64

static const uint32_t accepted[] = {0, 1, 101, 108, 113, 228, 229, 276};
#define N_ACCEPTED (sizeof(accepted) / sizeof(accepted[0]))

/* ---- building files ---- */

struct file {
	uint8_t *b;
	size_t n, cap;
	bool be;            /* fields written big-endian */
	size_t at[MAX_AT];  /* where the first records start */
	size_t end[MAX_AT]; /* and end */
	size_t nrec;
};

static void reserve(struct file *f, size_t more)
{
	if (f->n + more <= f->cap)
		return;
	f->cap = (f->n + more) * 2;
	f->b = realloc(f->b, f->cap);
	assert_non_null(f->b);
}

static void put(struct file *f, const void *p, size_t n)
{
	reserve(f, n);
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void put32(struct file *f, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(f->be ? v >> (24 - 8 * i) : v >> (8 * i));
	put(f, b, 4);
}

static void put16(struct file *f, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(f->be ? v >> 8 : v), (uint8_t)(f->be ? v : v >> 8)};
	put(f, b, 2);
}

/* Overwrites 4 bytes at off in the file's byte order. */
static void set32(struct file *f, size_t off, uint32_t v)
{
	size_t n = f->n;
	f->n = off;
	put32(f, v);
	f->n = n;
}

/* A file header: version 2.4 unless changed after, thiszone and sigfigs 0. */
static void header(struct file *f, bool be, uint32_t magic, uint32_t snap, uint32_t lt)
{
	memset(f, 0, sizeof(*f));
	f->be = be;
	put32(f, magic);
	put16(f, 2);
	put16(f, 4);
	put32(f, 0);
	put32(f, 0);
	put32(f, snap);
	put32(f, lt);
}

static void set_version(struct file *f, uint16_t major, uint16_t minor)
{
	size_t n = f->n;
	f->n = 4;
	put16(f, major);
	put16(f, minor);
	f->n = n;
}

/* Byte i of the packet made from seed. */
static uint8_t byte_at(uint32_t seed, size_t i)
{
	uint32_t x = seed * 2654435761u + (uint32_t)i * 40503u + 1;
	x ^= x >> 13;
	x *= 0x5bd1e995u;
	x ^= x >> 15;
	return (uint8_t)x;
}

/* A record header alone. */
static void record_header(struct file *f, uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t len)
{
	put32(f, sec);
	put32(f, frac);
	put32(f, caplen);
	put32(f, len);
}

/* A record of caplen bytes: data when given, else bytes made from seed. */
static void record_data(struct file *f, uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t len,
                        const uint8_t *data, uint32_t seed)
{
	size_t start = f->n;
	record_header(f, sec, frac, caplen, len);
	reserve(f, caplen);
	for (size_t i = 0; i < caplen; i++)
		f->b[f->n + i] = data ? data[i] : byte_at(seed, i);
	f->n += caplen;
	if (f->nrec < MAX_AT) {
		f->at[f->nrec] = start;
		f->end[f->nrec] = f->n;
	}
	f->nrec++;
}

static void record(struct file *f, uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t len, uint32_t seed)
{
	record_data(f, sec, frac, caplen, len, NULL, seed);
}

static void file_free(struct file *f)
{
	free(f->b);
	f->b = NULL;
}

/* ---- pcapfile.c's source: memory, read in pieces ---- */

struct src {
	const uint8_t *d;
	size_t n, off;
	uint32_t rng;   /* 0: every read as large as asked */
	size_t fail_at; /* with fail_errno: reads fail from this offset on */
	int fail_errno;
};

static uint32_t next_rand(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static ssize_t mem_read(void *arg, void *buf, size_t n)
{
	struct src *s = arg;
	if (s->fail_errno && s->off >= s->fail_at) {
		errno = s->fail_errno;
		return -1;
	}
	size_t want = n;
	if (s->rng) {
		uint32_t r = next_rand(&s->rng);
		switch (r % 8) {
		case 0:
			errno = EINTR;
			return -1;
		case 1:
		case 2:
			want = 1 + r / 8 % 7;
			break;
		case 3:
			want = 1 + r / 8 % 5000;
			break;
		default:
			break;
		}
	}
	if (want > n)
		want = n;
	if (want > s->n - s->off)
		want = s->n - s->off;
	if (s->fail_errno && want > s->fail_at - s->off)
		want = s->fail_at - s->off;
	memcpy(buf, s->d + s->off, want);
	__atomic_store_n(&s->off, s->off + want, __ATOMIC_RELEASE); /* test_read_ahead watches it */
	return (ssize_t)want;
}

/* ---- libpcap's reading, the reference ---- */

struct rec {
	uint64_t ts_us;
	uint32_t caplen, len;
	uint8_t *data;
};

struct run {
	struct rec *r;
	size_t n, cap;
	int end; /* 0 at the end of the file, -1 on an error */
	char err[PCAP_ERRBUF_SIZE];
};

static void libpcap_read(const uint8_t *d, size_t n, struct run *out)
{
	memset(out, 0, sizeof(*out));
	FILE *fp = fmemopen((void *)d, n, "rb");
	assert_non_null(fp);
	pcap_t *p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, out->err);
	if (!p) {
		fclose(fp);
		fail_msg("libpcap did not open a file pcapfile.c takes: %s", out->err);
	}
	struct pcap_pkthdr *h;
	const u_char *pkt;
	int rc;
	while ((rc = pcap_next_ex(p, &h, &pkt)) == 1) {
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 16;
			out->r = realloc(out->r, out->cap * sizeof(*out->r));
			assert_non_null(out->r);
		}
		struct rec *r = &out->r[out->n++];
		r->ts_us = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
		r->caplen = h->caplen;
		r->len = h->len;
		r->data = malloc(h->caplen ? h->caplen : 1);
		assert_non_null(r->data);
		memcpy(r->data, pkt, h->caplen);
	}
	if (rc != PCAP_ERROR_BREAK && rc != PCAP_ERROR)
		fail_msg("pcap_next_ex returned %d", rc);
	out->end = rc == PCAP_ERROR_BREAK ? 0 : -1;
	if (rc == PCAP_ERROR)
		snprintf(out->err, sizeof(out->err), "%s", pcap_geterr(p));
	pcap_close(p);
}

static void run_free(struct run *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->r[i].data);
	free(w->r);
	w->r = NULL;
}

/* Reads d with pcapfile.c (reads shaped by rng; 0 for whole reads; with its read-ahead
 * thread when ahead) and checks every record and the end against libpcap's run, and after
 * each record that the KEEP before it are intact: with the thread, a buffer given back too
 * early is written over while the test reads. */
static void iw_compare(const uint8_t *d, size_t n, const struct run *want, uint32_t rng, bool ahead)
{
	struct src s = {.d = d, .n = n, .rng = rng};
	char err[200];
	struct iw_pcapfile *p = iw_pcapfile_new(mem_read, &s, err, sizeof(err));
	if (!p)
		fail_msg("iw_pcapfile_new: %s", err);
	if (ahead)
		iw_pcapfile_read_ahead(p);
	const uint8_t *kept[KEEP + 1] = {0};
	struct iw_pcaprec r;
	size_t i = 0;
	int rc;
	while ((rc = iw_pcapfile_next(p, &r, err, sizeof(err))) == 1) {
		if (i >= want->n)
			fail_msg("record %zu: pcapfile.c hands it out, libpcap ended (%s)", i,
			         want->end ? want->err : "end of file");
		const struct rec *w = &want->r[i];
		if (r.ts_us != w->ts_us || r.caplen != w->caplen || r.len != w->len)
			fail_msg("record %zu: pcapfile.c ts %llu caplen %u len %u, libpcap ts %llu caplen %u "
			         "len %u",
			         i, (unsigned long long)r.ts_us, r.caplen, r.len,
			         (unsigned long long)w->ts_us, w->caplen, w->len);
		if (w->caplen && memcmp(r.data, w->data, w->caplen))
			fail_msg("record %zu: bytes differ from libpcap's", i);
		kept[i % (KEEP + 1)] = r.data;
		for (size_t k = i >= KEEP ? i - KEEP : 0; k < i; k++)
			if (want->r[k].caplen &&
			    memcmp(kept[k % (KEEP + 1)], want->r[k].data, want->r[k].caplen))
				fail_msg("record %zu was written over while record %zu was read", k, i);
		i++;
	}
	if (i != want->n)
		fail_msg("pcapfile.c ended after %zu records (%s), libpcap read %zu", i,
		         rc < 0 ? err : "end of file", want->n);
	if (rc != want->end)
		fail_msg("after %zu records pcapfile.c ended with %d (%s), libpcap with %s (%s)", i, rc,
		         rc < 0 ? err : "end of file", want->end ? "an error" : "the end", want->err);
	/* the end stays */
	assert_int_equal(iw_pcapfile_next(p, &r, err, sizeof(err)), rc);
	iw_pcapfile_free(p);
}

/* Both readers on d: libpcap's run, for more checks by the caller (run_free it). */
static struct run compare(const uint8_t *d, size_t n)
{
	assert_true(iw_pcapfile_usable(d, n));
	struct run w;
	libpcap_read(d, n, &w);
	iw_compare(d, n, &w, 0, false);
	iw_compare(d, n, &w, 0x9e3779b9u ^ (uint32_t)n, false);
	iw_compare(d, n, &w, 0, true);
	iw_compare(d, n, &w, 0x2545f491u + (uint32_t)n * 7u, true);
	return w;
}

/* compare() on the whole file, expecting nrec records and the given end. */
static void expect(struct file *f, size_t nrec, int end)
{
	struct run w = compare(f->b, f->n);
	if (w.n != nrec || w.end != end)
		fail_msg("expected %zu records and %s, libpcap read %zu and %s (%s)", nrec,
		         end ? "an error" : "the end", w.n, w.end ? "an error" : "the end", w.err);
	run_free(&w);
}

/* What libpcap 1.10 makes of a timestamp: both fields signed 32-bit values in a file in
 * this host's byte order, unsigned ones in the other (its SWAPLONG gives an unsigned int);
 * nanoseconds divided (truncated). */
static uint64_t ts_of(uint32_t sec, uint32_t frac, bool nsec, bool be)
{
	bool other = be != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
	int64_t s = other ? (int64_t)sec : (int32_t)sec, fr = other ? (int64_t)frac : (int32_t)frac;
	if (nsec)
		fr /= 1000;
	return (uint64_t)s * 1000000u + (uint64_t)fr;
}

/* ---- tests ---- */

static void test_byte_orders_and_magics(void **state)
{
	(void)state;
	static const uint32_t sizes[] = {0, 1, 60, 1514, 9000, 65535};
	for (int be = 0; be < 2; be++)
		for (int ns = 0; ns < 2; ns++) {
			struct file f;
			header(&f, be, ns ? MAGIC_NS : MAGIC_US, 65535, 1);
			for (uint32_t i = 0; i < 6; i++)
				record(&f, 1700000000u + i, ns ? 123456789u + i : 123456u + i, sizes[i],
				       sizes[i] + i, i);
			struct run w = compare(f.b, f.n);
			assert_int_equal(w.n, 6);
			assert_int_equal(w.end, 0);
			for (uint32_t i = 0; i < 6; i++) {
				assert_int_equal(w.r[i].ts_us,
				                 (1700000000ull + i) * 1000000u + 123456u + (ns ? 0 : i));
				assert_int_equal(w.r[i].caplen, sizes[i]);
				assert_int_equal(w.r[i].len, sizes[i] + i);
			}
			run_free(&w);
			file_free(&f);
		}
}

/* thiszone and sigfigs are read by nobody */
static void test_thiszone_sigfigs_ignored(void **state)
{
	(void)state;
	for (int be = 0; be < 2; be++) {
		struct file f;
		header(&f, be, MAGIC_US, 0, 1);
		set32(&f, 8, (uint32_t)-3600);
		set32(&f, 12, 6);
		record(&f, 10, 20, 40, 40, 1);
		struct run w = compare(f.b, f.n);
		assert_int_equal(w.n, 1);
		assert_int_equal(w.r[0].ts_us, 10000020u);
		run_free(&w);
		file_free(&f);
	}
}

/* caplen above the snapshot length is cut to it (the rest skipped); 0 and anything above
 * 262144 (as an unsigned value) mean 262144 */
static void test_snaplens(void **state)
{
	(void)state;
	static const uint32_t snaps[] = {0,           1,          64,          65535,      MAX_CAP,
	                                 MAX_CAP + 1, 0x7fffffff, 0x80000000u, 0xffffffffu};
	static const uint32_t caps[] = {0, 1, 63, 64, 65, 1000, 70000, MAX_CAP - 1, MAX_CAP};
	for (size_t si = 0; si < sizeof(snaps) / sizeof(snaps[0]); si++)
		for (int be = 0; be < 2; be++) {
			uint32_t snap = snaps[si], eff = snap == 0 || snap > MAX_CAP ? MAX_CAP : snap;
			struct file f;
			header(&f, be, be ? MAGIC_NS : MAGIC_US, snap, 1);
			for (uint32_t i = 0; i < 9; i++)
				record(&f, i, i, caps[i], caps[i] + 5, (uint32_t)si * 16 + i);
			struct run w = compare(f.b, f.n);
			assert_int_equal(w.n, 9);
			assert_int_equal(w.end, 0);
			for (uint32_t i = 0; i < 9; i++) {
				assert_int_equal(w.r[i].caplen, caps[i] > eff ? eff : caps[i]);
				assert_int_equal(w.r[i].len, caps[i] + 5);
			}
			run_free(&w);
			file_free(&f);
		}
}

/* A caplen above 262144 is an error whatever the snapshot length, whether the file ends
 * after that record header or goes on with a small record or with more than 262144 bytes. */
static void test_caplen_over_max(void **state)
{
	(void)state;
	static const uint32_t snaps[] = {0, 64, MAX_CAP, 300000, 0xffffffffu};
	static const uint32_t bad[] = {MAX_CAP + 1, 300000, 0x7fffffff, 0x80000000u, 0xffffffffu};
	for (size_t si = 0; si < 5; si++)
		for (size_t bi = 0; bi < 5; bi++)
			for (int follows = 0; follows < 3; follows++) {
				struct file f;
				header(&f, (si + bi + (size_t)follows) % 2, MAGIC_US, snaps[si], 1);
				record(&f, 1, 1, 100, 100, 1);
				record(&f, 2, 2, MAX_CAP, MAX_CAP, 2);
				record_header(&f, 3, 3, bad[bi], bad[bi]);
				if (follows == 2) {
					reserve(&f, MAX_CAP + 10);
					memset(f.b + f.n, 0x5a, MAX_CAP + 10);
					f.n += MAX_CAP + 10;
				}
				if (follows)
					record(&f, 4, 4, 10, 10, 4);
				expect(&f, 2, -1);
				file_free(&f);
			}
}

/* A file cut at every offset past its header: exactly at a record boundary (or right after
 * the header) is the end, inside a record header or its data an error. With snapshot 64,
 * the cut records' discarded bytes are cut too. */
static void test_truncated_anywhere(void **state)
{
	(void)state;
	static const uint32_t caps[] = {0, 10, 64, 65, 200, 16, 1};
	for (int variant = 0; variant < 4; variant++) {
		bool be = variant & 1;
		uint32_t snap = variant & 2 ? 64 : 0;
		struct file f;
		header(&f, be, variant == 3 ? MAGIC_NS : MAGIC_US, snap, 101);
		for (uint32_t i = 0; i < 7; i++)
			record(&f, 100 + i, 1000 * i, caps[i], caps[i] + 3, i);
		for (size_t cut = 24; cut <= f.n; cut++) {
			size_t whole = 0;
			bool boundary = cut == 24;
			for (size_t i = 0; i < f.nrec; i++) {
				if (f.end[i] <= cut)
					whole = i + 1;
				if (f.end[i] == cut)
					boundary = true;
			}
			uint8_t *cp = malloc(cut);
			assert_non_null(cp);
			memcpy(cp, f.b, cut);
			struct run w = compare(cp, cut);
			if (w.n != whole || w.end != (boundary ? 0 : -1))
				fail_msg("cut at %zu: libpcap read %zu records and %s", cut, w.n,
				         w.end ? "an error" : "the end");
			run_free(&w);
			free(cp);
		}
		file_free(&f);
	}
}

/* A header-only file is an empty capture. */
static void test_header_only(void **state)
{
	(void)state;
	for (int be = 0; be < 2; be++) {
		struct file f;
		header(&f, be, MAGIC_NS, 0, 1);
		expect(&f, 0, 0);
		file_free(&f);
	}
}

/* Records of 200-262144 bytes, a few small ones between, over several of the reader's
 * buffers: the records that do not fit at the end of a buffer move to the other one, and
 * compare() checks the KEEP guarantee after every record. Then the same with a snapshot
 * length that cuts some, with a run of records of exactly the maximum, and cut short. */
static void test_large_records_cross_buffers(void **state)
{
	(void)state;
	for (int variant = 0; variant < 4; variant++) {
		uint32_t rng = 0x1234567u + (uint32_t)variant;
		uint32_t snap = variant == 1 ? 230000 : 0;
		struct file f;
		header(&f, variant & 1, variant == 2 ? MAGIC_NS : MAGIC_US, snap, 1);
		size_t n = 48;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t r = next_rand(&rng), cap;
			if (variant == 2 && i < 14)
				cap = MAX_CAP;
			else if (i % 5 == 4)
				cap = r % 2000;
			else
				cap = 200000 + r % (MAX_CAP - 200000 + 1);
			record(&f, 1000 + i, i * 1000u, cap, cap + (r >> 20), i + 77u * (uint32_t)variant);
		}
		assert_true(f.n > 8u * 1024 * 1024);
		if (variant == 3) {
			f.n -= 1000; /* inside the last record's data */
			expect(&f, n - 1, -1);
		} else {
			expect(&f, n, 0);
		}
		file_free(&f);
	}
}

/* Seconds and fraction fields with the top bit set: before 1970 and negative fractions in a
 * file in this host's byte order, after 2038 and large fractions in the other, in 64-bit
 * arithmetic that wraps like libpcap's. */
static void test_timestamps_signed(void **state)
{
	(void)state;
	static const uint32_t t[][2] = {
	    {0, 0},
	    {1, 999999},
	    {0x7fffffff, 0x7fffffff},
	    {0x80000000u, 0},
	    {0xffffffffu, 0xffffffffu},
	    {0x80000000u, 0x80000000u},
	    {12345, 1000000},
	    {0, 0xc4653601u},
	    {0xffffffffu, 999},
	    {0xfffffffeu, 0xfffff830u},
	    {0x7fffffff, 0x80000001u},
	};
	size_t nt = sizeof(t) / sizeof(t[0]);
	for (int be = 0; be < 2; be++)
		for (int ns = 0; ns < 2; ns++) {
			struct file f;
			header(&f, be, ns ? MAGIC_NS : MAGIC_US, 0, 1);
			for (size_t i = 0; i < nt; i++)
				record(&f, t[i][0], t[i][1], 20, 20, (uint32_t)i);
			struct run w = compare(f.b, f.n);
			assert_int_equal(w.n, nt);
			for (size_t i = 0; i < nt; i++)
				assert_int_equal(w.r[i].ts_us, ts_of(t[i][0], t[i][1], ns, be));
			run_free(&w);
			file_free(&f);
		}
	/* by hand: one second and one microsecond before 1970 in this host's order, 2^32 - 1
	 * seconds and as many microseconds (or nanoseconds) in the other */
	bool host_be = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
	assert_int_equal(ts_of(0xffffffffu, 0xffffffffu, false, host_be), (uint64_t)-1000001);
	assert_int_equal(ts_of(0xffffffffu, (uint32_t)-1999, true, host_be), (uint64_t)-1000001);
	assert_int_equal(ts_of(0xffffffffu, 0xffffffffu, false, !host_be), 4294967295000000ull + 4294967295u);
	assert_int_equal(ts_of(0xffffffffu, 0xffffffffu, true, !host_be), 4294967295000000ull + 4294967u);
}

/* libpcap byte-swaps the CAN ID after a Linux cooked header (SLL, SLL2) whose protocol is
 * CAN or CAN FD when the file was written in the other byte order than this host's. Every
 * length around the header and the ID, and a snapshot length that cuts into the ID. */
static void test_can_ids_in_cooked_captures(void **state)
{
	(void)state;
	static const uint16_t protos[] = {0x000c, 0x000d, 0x000e, 0x0800, 0x0001, 0x0c00};
	static const uint32_t snaps[] = {0, 18, 19, 20, 23, 24};
	for (int lti = 0; lti < 2; lti++) {
		uint32_t lt = lti ? 276 : 113, hl = lti ? 20 : 16;
		for (int be = 0; be < 2; be++)
			for (size_t si = 0; si < 6; si++) {
				struct file f;
				header(&f, be, MAGIC_US, snaps[si], lt);
				size_t nrec = 0;
				for (size_t pi = 0; pi < 6; pi++)
					for (uint32_t cap = hl - 2; cap <= hl + 6; cap++)
						for (uint32_t len = hl + 2; len <= hl + 5; len++) {
							uint8_t d[64];
							for (size_t k = 0; k < sizeof(d); k++)
								d[k] = byte_at((uint32_t)(pi * 100 + cap), k);
							size_t at = lti ? 0 : 14;
							d[at] = (uint8_t)(protos[pi] >> 8);
							d[at + 1] = (uint8_t)protos[pi];
							record_data(&f, 1, 2, cap, len, d, 0);
							nrec++;
						}
				expect(&f, nrec, 0);
				file_free(&f);
			}
	}
}

/* Every accepted link type opens, keeps its value, and reads like libpcap. */
static void test_accepted_linktypes(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ACCEPTED; i++)
		for (int be = 0; be < 2; be++)
			for (int ns = 0; ns < 2; ns++) {
				struct file f;
				header(&f, be, ns ? MAGIC_NS : MAGIC_US, 1500, accepted[i]);
				for (uint32_t k = 0; k < 5; k++)
					record(&f, k, k, 40 + 300 * k, 40 + 300 * k, k + (uint32_t)i);
				assert_true(iw_pcapfile_usable(f.b, f.n));
				assert_true(iw_pcapfile_usable(f.b, 24));
				struct src s = {.d = f.b, .n = f.n};
				char err[200];
				struct iw_pcapfile *p = iw_pcapfile_new(mem_read, &s, err, sizeof(err));
				assert_non_null(p);
				assert_int_equal(iw_pcapfile_linktype(p), accepted[i]);
				iw_pcapfile_free(p);
				expect(&f, 5, 0);
				file_free(&f);
			}
}

/* What goes to libpcap instead: pcapng, other versions, other magics, other link types,
 * fewer than 24 bytes. iw_pcapfile_new refuses them too. */
static void test_usable_refuses(void **state)
{
	(void)state;
	struct file f;
	char err[200];
	/* a pcapng section header block, both byte orders */
	static const uint8_t ng[2][28] = {
	    {0x0a, 0x0d, 0x0d, 0x0a, 28,   0,    0,    0,    0x4d, 0x3c, 0x2b, 0x1a, 1, 0,
	     0,    0,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28,   0,    0, 0},
	    {0x0a, 0x0d, 0x0d, 0x0a, 0,    0,    0,    28,   0x1a, 0x2b, 0x3c, 0x4d, 0, 1,
	     0,    0,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,    0,    0, 28},
	};
	for (int i = 0; i < 2; i++) {
		assert_false(iw_pcapfile_usable(ng[i], sizeof(ng[i])));
		struct src s = {.d = ng[i], .n = sizeof(ng[i])};
		assert_null(iw_pcapfile_new(mem_read, &s, err, sizeof(err)));
		assert_non_null(strstr(err, "not a classic pcap file"));
	}
	static const uint16_t versions[][2] = {{2, 3}, {2, 2}, {2, 0},   {2, 5},
	                                       {1, 4}, {3, 4}, {543, 0}, {0, 0}};
	for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++)
		for (int be = 0; be < 2; be++) {
			header(&f, be, MAGIC_US, 0, 1);
			set_version(&f, versions[v][0], versions[v][1]);
			record(&f, 1, 1, 10, 10, 1);
			assert_false(iw_pcapfile_usable(f.b, f.n));
			struct src s = {.d = f.b, .n = f.n};
			assert_null(iw_pcapfile_new(mem_read, &s, err, sizeof(err)));
			file_free(&f);
		}
	static const uint32_t lts[] = {147, 2, 12, 14, 105, 127, 192, 231, 249, 277, 0xffffffffu};
	for (size_t i = 0; i < sizeof(lts) / sizeof(lts[0]); i++)
		for (int be = 0; be < 2; be++) {
			header(&f, be, be ? MAGIC_NS : MAGIC_US, 0, lts[i]);
			assert_false(iw_pcapfile_usable(f.b, f.n));
			file_free(&f);
		}
	static const uint32_t magics[] = {0xa1b2cd34u, 0xa12b3c4du, 0xa1b234cdu, 0, 0xd4c3b2a1u};
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		for (int be = 0; be < 2; be++) {
			header(&f, be, magics[i], 0, 1);
			assert_false(iw_pcapfile_usable(f.b, f.n));
			file_free(&f);
		}
	/* a good header, cut */
	header(&f, false, MAGIC_US, 0, 1);
	for (size_t n = 0; n < 24; n++) {
		assert_false(iw_pcapfile_usable(f.b, n));
		struct src s = {.d = f.b, .n = n, .rng = 7};
		assert_null(iw_pcapfile_new(mem_read, &s, err, sizeof(err)));
	}
	assert_true(iw_pcapfile_usable(f.b, 24));
	file_free(&f);
}

/* A failing read: the error, every later call too. */
static void test_read_errors(void **state)
{
	(void)state;
	struct file f;
	header(&f, false, MAGIC_US, 0, 1);
	record(&f, 1, 1, 100, 100, 1);
	record(&f, 2, 2, 100, 100, 2);
	char err[200];
	struct iw_pcaprec r;
	/* inside the header */
	struct src s = {.d = f.b, .n = f.n, .fail_at = 10, .fail_errno = EIO};
	assert_null(iw_pcapfile_new(mem_read, &s, err, sizeof(err)));
	assert_non_null(strstr(err, "error reading dump file"));
	/* inside the second record, with short reads */
	for (size_t at = f.at[1]; at < f.n; at += 13) {
		struct src s2 = {.d = f.b, .n = f.n, .rng = 99, .fail_at = at, .fail_errno = EIO};
		struct iw_pcapfile *p = iw_pcapfile_new(mem_read, &s2, err, sizeof(err));
		assert_non_null(p);
		if ((at - f.at[1]) % 2) /* the same with the thread, which finds the error first */
			iw_pcapfile_read_ahead(p);
		/* the first record may already be read in whole */
		int rc = iw_pcapfile_next(p, &r, err, sizeof(err));
		if (rc == 1) {
			assert_int_equal(r.caplen, 100);
			rc = iw_pcapfile_next(p, &r, err, sizeof(err));
		}
		assert_int_equal(rc, -1);
		assert_non_null(strstr(err, "error reading dump file"));
		err[0] = 0;
		assert_int_equal(iw_pcapfile_next(p, &r, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "error reading dump file"));
		iw_pcapfile_free(p);
	}
	file_free(&f);
}

/* The read-ahead thread: it reads ahead of the records handed out, at most a bounded
 * stretch, and stops cleanly when the reader is freed with the stretch full or part way;
 * a file read whole by the first block gets no thread. */
static void test_read_ahead(void **state)
{
	(void)state;
	struct file f;
	header(&f, false, MAGIC_US, 0, 1);
	record(&f, 1, 1, 100, 100, 1);
	char err[200];
	struct src s = {.d = f.b, .n = f.n};
	struct iw_pcapfile *p = iw_pcapfile_new(mem_read, &s, err, sizeof(err));
	assert_non_null(p);
	assert_false(iw_pcapfile_read_ahead(p));
	iw_pcapfile_free(p);
	file_free(&f);

	header(&f, false, MAGIC_US, 0, 1);
	uint32_t nrec = 20000;
	for (uint32_t i = 0; i < nrec; i++)
		record(&f, i, i, 1000, 1000, i);
	size_t sizes[3] = {0, 0, 0};
	for (int round = 0; round < 3; round++) {
		struct src s2 = {.d = f.b, .n = f.n};
		p = iw_pcapfile_new(mem_read, &s2, err, sizeof(err));
		assert_non_null(p);
		size_t first = __atomic_load_n(&s2.off, __ATOMIC_ACQUIRE);
		assert_true(first < f.n);
		assert_true(iw_pcapfile_read_ahead(p));
		/* no record taken yet: the thread reads on until its buffers are full, then waits */
		size_t off = first, was;
		int still = 0;
		for (int ms = 0; ms < 5000 && still < 20; ms++) {
			struct timespec t = {0, 1000000};
			nanosleep(&t, NULL);
			was = off;
			off = __atomic_load_n(&s2.off, __ATOMIC_ACQUIRE);
			still = off == was && off > first ? still + 1 : 0;
		}
		assert_true(off > first);
		assert_true(off < f.n);
		sizes[round] = off;
		struct iw_pcaprec r;
		uint32_t take = round == 0 ? 0 : round == 1 ? 3000 : nrec;
		for (uint32_t i = 0; i < take; i++) {
			assert_int_equal(iw_pcapfile_next(p, &r, err, sizeof(err)), 1);
			assert_int_equal(r.ts_us, (uint64_t)i * 1000000u + i);
		}
		if (take == nrec) {
			assert_int_equal(iw_pcapfile_next(p, &r, err, sizeof(err)), 0);
			assert_int_equal(__atomic_load_n(&s2.off, __ATOMIC_ACQUIRE), f.n);
		}
		iw_pcapfile_free(p); /* joins the thread, waiting or reading */
	}
	/* the stretch read ahead is the same bounded size each time */
	assert_int_equal(sizes[0], sizes[1]);
	assert_int_equal(sizes[1], sizes[2]);
	file_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_byte_orders_and_magics),
	    cmocka_unit_test(test_thiszone_sigfigs_ignored),
	    cmocka_unit_test(test_snaplens),
	    cmocka_unit_test(test_caplen_over_max),
	    cmocka_unit_test(test_truncated_anywhere),
	    cmocka_unit_test(test_header_only),
	    cmocka_unit_test(test_large_records_cross_buffers),
	    cmocka_unit_test(test_timestamps_signed),
	    cmocka_unit_test(test_can_ids_in_cooked_captures),
	    cmocka_unit_test(test_accepted_linktypes),
	    cmocka_unit_test(test_usable_refuses),
	    cmocka_unit_test(test_read_errors),
	    cmocka_unit_test(test_read_ahead),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
