/* fuzz_pcapfile.c - the replay path's pcap reader (sensor/pcapfile.c) against libpcap on
 * any file: when iw_pcapfile_usable() takes the input, libpcap (fmemopen, pcap_next_ex,
 * microsecond precision) and pcapfile.c (through a read callback handing out pieces of
 * 1..7 bytes, a few KB or all that is asked, and EINTR now and then, in an order taken
 * from the input) read it side by side. They must hand out the same records (timestamp,
 * caplen, len, bytes), the same number of them, and end the same way (end of file or an
 * error); each record pcapfile.c hands out must keep its bytes while the next
 * IW_PCAPFILE_KEEP are read. Any difference aborts, with a line on stderr saying which.
 *
 * Inputs are whole pcap files. The seeds (seeds/fuzz_pcapfile/, made by hand, named for
 * what they hold) cover both byte orders, both magics, cut records, truncation, the
 * 262144 limit, timestamps with the top bits set and SocketCAN frames in cooked captures.
 * Records crossing the reader's 320 KB blocks, and its read-ahead thread (asked for here
 * on half the inputs, but a file the first block holds whole needs none), need larger
 * files than the fuzzer makes: tests/unit/test_pcapfile.c covers those. */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sensor/pcapfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */

#define KEEP IW_PCAPFILE_KEEP

struct src {
	const uint8_t *d;
	size_t n, off;
	uint32_t rng;
};

static ssize_t mem_read(void *arg, void *buf, size_t n)
{
	struct src *s = arg;
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 17;
	s->rng ^= s->rng << 5;
	size_t want = n;
	switch (s->rng % 8) {
	case 0:
		errno = EINTR;
		return -1;
	case 1:
	case 2:
		want = 1 + s->rng / 8 % 7;
		break;
	case 3:
		want = 1 + s->rng / 8 % 5000;
		break;
	default:
		break;
	}
	if (want > n)
		want = n;
	if (want > s->n - s->off)
		want = s->n - s->off;
	memcpy(buf, s->d + s->off, want);
	s->off += want;
	return (ssize_t)want;
}

static void differ(size_t i, const char *what)
{
	fprintf(stderr, "fuzz_pcapfile: record %zu: %s\n", i, what);
	abort();
}

/* libpcap's last KEEP + 1 records, to check pcapfile.c's are still intact */
struct copy {
	uint8_t *data;
	uint32_t caplen;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!iw_pcapfile_usable(data, size))
		return 0;
	FILE *fp = fmemopen((void *)data, size, "rb");
	if (!fp)
		return 0;
	char perr[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, perr);
	if (!p) {
		fprintf(stderr, "fuzz_pcapfile: libpcap refuses a file pcapfile.c takes: %s\n", perr);
		abort();
	}
	uint32_t seed = 2166136261u ^ (uint32_t)size;
	for (size_t i = 0; i < size && i < 64; i++)
		seed = (seed ^ data[i]) * 16777619u;
	struct src s = {.d = data, .n = size, .rng = seed | 1};
	char err[200];
	struct iw_pcapfile *f = iw_pcapfile_new(mem_read, &s, err, sizeof(err));
	if (!f) {
		fprintf(stderr, "fuzz_pcapfile: pcapfile.c refuses a file it calls usable: %s\n", err);
		abort();
	}
	if (seed & 2)
		iw_pcapfile_read_ahead(f);
	struct copy copies[KEEP + 1] = {{0}};
	const uint8_t *kept[KEEP + 1] = {0};
	size_t i = 0;
	for (;; i++) {
		struct pcap_pkthdr *h;
		const u_char *pkt;
		struct iw_pcaprec r;
		int a = pcap_next_ex(p, &h, &pkt);
		int b = iw_pcapfile_next(f, &r, err, sizeof(err));
		if (a != 1 || b != 1) {
			if (a == 1)
				differ(i, "libpcap hands it out, pcapfile.c ended");
			if (b == 1)
				differ(i, "pcapfile.c hands it out, libpcap ended");
			if ((a == PCAP_ERROR_BREAK) != (b == 0))
				differ(i, b == 0 ? "libpcap: an error, pcapfile.c: the end"
				                 : "libpcap: the end, pcapfile.c: an error");
			break;
		}
		uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
		if (r.ts_us != ts)
			differ(i, "timestamps differ");
		if (r.caplen != h->caplen || r.len != h->len)
			differ(i, "caplen or len differ");
		if (h->caplen && memcmp(r.data, pkt, h->caplen))
			differ(i, "bytes differ");
		struct copy *c = &copies[i % (KEEP + 1)];
		free(c->data);
		c->data = malloc(h->caplen ? h->caplen : 1);
		if (!c->data)
			abort();
		memcpy(c->data, pkt, h->caplen);
		c->caplen = h->caplen;
		kept[i % (KEEP + 1)] = r.data;
		for (size_t k = i >= KEEP ? i - KEEP : 0; k < i; k++) {
			const struct copy *o = &copies[k % (KEEP + 1)];
			if (o->caplen && memcmp(kept[k % (KEEP + 1)], o->data, o->caplen))
				differ(k, "written over within the next IW_PCAPFILE_KEEP records");
		}
	}
	for (size_t k = 0; k <= KEEP; k++)
		free(copies[k].data);
	iw_pcapfile_free(f);
	pcap_close(p);
	return 0;
}
