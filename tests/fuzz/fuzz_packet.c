/* fuzz_packet.c - fuzzes iw_decode (parsers/packet.c, defrag.c) on all link types, defragmenting. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parsers/cursor.h"
#include "parsers/packet.h"

/* Input layout (tests/fuzz/make-seeds.sh writes seeds in it):
 *
 *   | link type 1 | record | record | ...
 *   record: | flags 1 | length 2 (big-endian) | frame bytes |
 *
 * The link type byte indexes dlts[] (modulo its size). Record flags: bit 0 marks the
 * frame as cut by the snap length (wirelen > caplen); bits 1-7 advance packet time by
 * that many 100 ms steps, so fragments time out. A record whose length runs past the
 * input takes what is left. */
static const int dlts[] = {
    IW_DLT_EN10MB,
    IW_DLT_NULL,
    IW_DLT_RAW,
    14 /* DLT_RAW, OpenBSD */,
    IW_DLT_LOOP,
    IW_DLT_LINUX_SLL,
    IW_DLT_RAW_LINKTYPE,
    IW_DLT_IPV4,
    IW_DLT_IPV6,
    IW_DLT_LINUX_SLL2,
    147 /* not decoded */,
};

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* Reads every byte of a span so that ASan checks all of it. */
static uint8_t touch(const uint8_t *p, size_t n)
{
	uint8_t x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= p[i];
	return x;
}

static bool within(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
	return p >= buf && (size_t)(p - buf) <= len && n <= len - (size_t)(p - buf);
}

static void decode_one(struct iw_defrag *d, int dlt, const uint8_t *frame, size_t len, bool snapped,
                       uint64_t ts)
{
	/* an exact-size copy: a read past the frame is a heap overflow, not the next record */
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		abort();
	if (len)
		memcpy(buf, frame, len);
	struct iw_packet pkt;
	enum iw_malformed why = IW_MAL__COUNT;
	uint32_t wire = (uint32_t)len + (snapped ? 1500 : 0);
	int rc = iw_decode(d, dlt, buf, (uint32_t)len, wire, ts, &pkt, &why);
	check(rc == IW_OK || rc == IW_ERR || rc == IW_NEED_MORE);
	check((unsigned)why < IW_MAL__COUNT);
	check((rc == IW_ERR) == (why != IW_MAL_NONE));
	check(iw_malformed_name(why) != NULL);
	if (rc == IW_OK) {
		check(pkt.key.family == 4 || pkt.key.family == 6);
		check(pkt.nvlan <= 2);
		check(pkt.caplen == len && pkt.wirelen == wire);
		check(pkt.frames >= 1 && (pkt.reassembled || (pkt.frames == 1 && pkt.frames_len == wire)));
		if (pkt.reassembled) {
			check(!pkt.truncated);
			check(pkt.payload_len <= pkt.l3_len && pkt.l3_len <= 60 + 65535);
			volatile uint8_t sink =
			    touch(pkt.l3, pkt.l3_len) ^ touch(pkt.payload, pkt.payload_len);
			(void)sink;
		} else {
			check(within(pkt.l3, pkt.l3_len, buf, len));
			check(within(pkt.payload, pkt.payload_len, buf, len));
			check(!pkt.mac_src || within(pkt.mac_src, 6, buf, len));
			check(!pkt.mac_dst || within(pkt.mac_dst, 6, buf, len));
			check(snapped || !pkt.truncated);
		}
	}
	free(buf);
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
	if (size < 1)
		return 0;
	int dlt = dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))];
	const struct iw_defrag_limits lim = {
	    .max_datagrams = 8,
	    .max_bytes = 256 * 1024,
	    .max_frags = 32,
	    .timeout_us = 1000000,
	};
	struct iw_defrag *d = iw_defrag_new(&lim);
	uint64_t ts = 1700000000000000ULL;
	size_t off = 1;
	while (off < size) {
		uint8_t flags = data[off++];
		size_t len = 0;
		if (size - off >= 2) {
			len = (size_t)data[off] << 8 | data[off + 1];
			off += 2;
		} else {
			off = size;
		}
		if (len > size - off)
			len = size - off;
		ts += (uint64_t)(flags >> 1) * 100000;
		decode_one(d, dlt, data + off, len, flags & 1, ts);
		/* the same frame without a defragmenter must be dropped or decoded, never held */
		struct iw_packet pkt;
		enum iw_malformed why;
		uint8_t *copy = malloc(len ? len : 1);
		if (!copy)
			abort();
		if (len)
			memcpy(copy, data + off, len);
		int rc = iw_decode(NULL, dlt, copy, (uint32_t)len, (uint32_t)len, ts, &pkt, &why);
		check(rc == IW_OK || rc == IW_ERR);
		free(copy);
		off += len;
	}
	check(iw_defrag_expired(d) < (uint64_t)size);
	iw_defrag_free(d);
	return 0;
}
