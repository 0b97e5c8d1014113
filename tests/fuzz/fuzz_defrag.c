/* fuzz_defrag.c - fuzzes fragment reassembly (parsers/defrag.c) through iw_defrag_add. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parsers/cursor.h"
#include "parsers/defrag.h"
#include "parsers/packet.h"

/* Input layout:
 *
 *   | mode 1 | fragment | fragment | ... (at most 64 fragments)
 *   fragment: | shape 1 | offset 2 | length 2 | time step 1 | [data, in raw mode] |
 *
 * mode bit 0: raw mode, fragment bytes come from the input; otherwise every byte is a
 * function of its datagram and offset, so overlaps always agree and a rebuilt payload
 * can be checked byte for byte. mode bits 1-3 pick the limits.
 * shape: bit 0 IPv6, bits 1-2 datagram id, bit 3 protocol, bit 4 more fragments,
 * bits 5-7 IPv4 header length (20 + 4 * n), bit 5 also the source address for IPv6.
 * offset: the 13-bit fragment offset, in 8-byte units, as on the wire; length: its low
 * 11 bits. */

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static uint8_t pattern(uint32_t id, uint32_t off)
{
	return (uint8_t)((off * 2654435761u + id * 40503u) >> 13);
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
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
	bool raw = data[0] & 1;
	static const struct iw_defrag_limits limits[8] = {
	    {8, 1u << 20, 64, 1000000}, {1, 1u << 20, 64, 1000000},
	    {8, 2048, 64, 1000000},     {8, 1u << 20, 2, 1000000},
	    {8, 1u << 20, 64, 0},       {4, 200000, 16, 500000},
	    {0, 1u << 20, 64, 1000000}, {64, 1u << 22, 1024, UINT64_MAX / 2},
	};
	const struct iw_defrag_limits *lim = &limits[data[0] >> 1 & 7];
	struct iw_defrag *d = iw_defrag_new(lim);
	uint8_t *gen = malloc(65536);
	if (!gen)
		abort();
	struct iw_addr a[2] = {{{192, 0, 2, 1}}, {{0x20, 0x01, 0x0d, 0xb8, [15] = 1}}};
	struct iw_addr b = {{192, 0, 2, 2}};
	struct iw_addr b6 = {{0x20, 0x01, 0x0d, 0xb8, [15] = 2}};
	uint64_t ts = 1000000;
	size_t off = 1;
	for (int nfrag = 0; nfrag < 64 && size - off >= 6; nfrag++) { /* 64 fragments keep it fast */
		const uint8_t *h = data + off;
		off += 6;
		uint8_t shape = h[0];
		struct iw_frag f;
		memset(&f, 0, sizeof(f));
		f.family = shape & 1 ? 6 : 4;
		f.id = shape >> 1 & 3;
		f.proto = shape & 8 ? 6 : 17;
		f.more = shape & 16;
		f.offset = (uint32_t)(be16(h + 1) & 0x1fff) * 8;
		f.len = be16(h + 3) & 0x7ff; /* up to 2047 bytes: offsets still reach past 64 KiB */
		if (!f.offset && !f.more)
			f.more =
			    true; /* offset 0 without MF is no fragment: the decoder never hands one in */
		ts += (uint64_t)h[5] * 50000;
		if (f.family == 4) {
			f.src = &a[0];
			f.dst = &b;
			f.hdr_len = 20 + 4 * (size_t)(shape >> 5);
		} else {
			f.src = &a[1];
			f.dst = &b6;
			f.hdr_len = 40;
			if (shape & 32)
				f.src = &b6; /* another pair of addresses */
		}
		uint8_t hdr[60];
		memset(hdr, 0, sizeof(hdr));
		hdr[0] = f.family == 4 ? (uint8_t)(0x40 | f.hdr_len / 4) : 0x60;
		f.hdr = hdr;
		uint8_t *copy = NULL;
		if (raw) {
			if (f.len > size - off)
				f.len = size - off;
			/* an exact-size copy so that ASan sees a read past the fragment */
			copy = malloc(f.len ? f.len : 1);
			if (!copy)
				abort();
			memcpy(copy, data + off, f.len);
			off += f.len;
			f.data = copy;
		} else {
			for (size_t i = 0; i < f.len; i++)
				gen[i] = pattern(f.id * 2 + f.family, f.offset + (uint32_t)i);
			f.data = gen;
		}
		const uint8_t *out = NULL;
		size_t out_len = 0;
		enum iw_malformed why = IW_MAL_NONE;
		int rc = iw_defrag_add(d, &f, ts, &out, &out_len, &why);
		check(rc == IW_OK || rc == IW_ERR || rc == IW_NEED_MORE);
		if (rc == IW_ERR) {
			check(why == IW_MAL_FRAG_BAD || why == IW_MAL_FRAG_BUDGET ||
			      why == IW_MAL_FRAG_OVERLAP);
			check(raw ||
			      why != IW_MAL_FRAG_OVERLAP); /* bytes that always agree cannot conflict */
		}
		if (rc == IW_OK) {
			/* the header is the offset-0 fragment's, its length in its first byte */
			check(out != NULL && out_len >= 20);
			size_t hl = (out[0] >> 4) == 4 ? (size_t)(out[0] & 0x0f) * 4 : 40;
			check((out[0] >> 4) == (f.family == 4 ? 4 : 6) && out_len >= hl);
			size_t payload = out_len - hl;
			check(payload <= 65535);
			if (f.family == 4) {
				check((out[6] & 0x3f) == 0 && out[7] == 0);
				/* the total length field holds the whole datagram: it must fit in 16 bits */
				check(out_len <= 65535 && be16(out + 2) == out_len);
			} else {
				check(be16(out + 4) == payload && out[6] == f.proto);
			}
			if (!raw) {
				for (size_t i = hl; i < out_len; i++)
					check(out[i] == pattern(f.id * 2 + f.family, (uint32_t)(i - hl)));
			} else {
				volatile uint8_t x = 0;
				for (size_t i = 0; i < out_len; i++)
					x ^= out[i];
				(void)x;
			}
		}
		free(copy);
	}
	free(gen);
	iw_defrag_free(d);
	return 0;
}
