/* fuzz_stream.c - fuzzes TCP reassembly (sensor/stream.c): segments, acks, flush, small budgets. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parsers/packet.h"
#include "sensor/stream.h"

/* Input layout:
 *
 *   | mode 1 | initial sequence 4 | op | op | ... (at most 256 operations)
 *   op: | kind and flags 1 | sequence offset 2 | length 2 | [data, in raw mode] |
 *
 * mode bit 0: raw mode, segment bytes come from the input; otherwise the byte at
 * sequence number n is always pattern(n), so whatever is delivered can be checked
 * against its position in the stream. mode bits 1-3 pick the budget.
 * kind (bits 0-1): 0 and 1 a segment, 2 an acknowledgement up to the sequence, 3 a
 * segment far away (the offset shifted left by 16). Flags (bits 2-5): SYN, FIN, RST, ACK.
 * The sequence offset is signed, from the initial sequence; the length is its low 10 bits. */

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static uint8_t pattern(uint32_t seq)
{
	return (uint8_t)((seq * 2654435761u) >> 24);
}

/* What the stream handed out, and where in sequence space it should be. */
struct sink {
	bool raw;
	bool started;      /* pos is known: the stream has been initialised */
	uint32_t pos;      /* sequence number of the next byte the sink expects */
	uint64_t given;    /* segment bytes fed in */
	uint64_t received; /* data bytes handed out */
	uint64_t gaps, gap_bytes;
};

static void sink_fn(void *arg, const uint8_t *data, uint32_t len)
{
	struct sink *k = arg;
	check(k->started);
	if (!data) {
		k->gaps++;
		k->gap_bytes += len;
		k->pos += len;
		return;
	}
	check(len > 0);
	k->received += len;
	check(k->received <= k->given);
	volatile uint8_t x = 0;
	for (uint32_t i = 0; i < len; i++) {
		x ^= data[i]; /* every byte read, so ASan checks the whole span */
		if (!k->raw)
			check(data[i] == pattern(k->pos + i));
	}
	(void)x;
	k->pos += len;
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
	if (size < 5)
		return 0;
	static const uint32_t budgets[8] = {0, 1, 7, 64, 512, 4096, 65536, 1u << 20};
	uint32_t budget = budgets[data[0] >> 1 & 7];
	struct sink k = {.raw = data[0] & 1};
	uint32_t isn = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4];
	struct iw_stream s;
	memset(&s, 0, sizeof(s));
	struct iw_stream_stats st;
	memset(&st, 0, sizeof(st));
	uint8_t *gen = malloc(65536);
	if (!gen)
		abort();
	size_t off = 5;
	for (int nop = 0; nop < 256 && size - off >= 5; nop++) { /* 256 operations keep it fast */
		const uint8_t *h = data + off;
		off += 5;
		unsigned kind = h[0] & 3;
		uint8_t flags = 0;
		if (h[0] & 0x04)
			flags |= IW_TCP_SYN;
		if (h[0] & 0x08)
			flags |= IW_TCP_FIN;
		if (h[0] & 0x10)
			flags |= IW_TCP_RST;
		if (h[0] & 0x20)
			flags |= IW_TCP_ACK;
		int32_t rel = (int16_t)be16(h + 1);
		uint32_t seq = isn + (kind == 3 ? (uint32_t)rel << 16 : (uint32_t)rel);
		uint32_t len = be16(h + 3) & 0x3ff; /* up to 1023 bytes a segment */
		if (kind == 2) {
			iw_stream_acked(&s, seq, sink_fn, &k, &st);
		} else {
			const uint8_t *payload;
			uint8_t *copy = NULL;
			/* data on a SYN starts one past its sequence number */
			uint32_t first = flags & IW_TCP_SYN ? seq + 1 : seq;
			if (k.raw) {
				if (len > size - off)
					len = (uint32_t)(size - off);
				copy = malloc(len ? len : 1);
				if (!copy)
					abort();
				memcpy(copy, data + off, len);
				off += len;
				payload = copy;
			} else {
				for (uint32_t i = 0; i < len; i++)
					gen[i] = pattern(first + i);
				payload = gen;
			}
			if (!s.init) {
				k.started = true;
				k.pos = first;
			}
			k.given += len;
			iw_stream_segment(&s, budget, seq, flags, payload, len, sink_fn, &k, &st);
			free(copy);
		}
		check(s.held_bytes <= budget);
		check(!s.init || k.pos == s.next_seq);
		check(!s.held == !s.held_bytes);
		check(st.gaps == k.gaps && st.gap_bytes == k.gap_bytes);
	}
	iw_stream_flush(&s, sink_fn, &k, &st);
	check(s.held == NULL && s.held_bytes == 0);
	check(!s.init || k.pos == s.next_seq);
	check(st.gaps == k.gaps && st.gap_bytes == k.gap_bytes);
	check(k.received <= k.given);
	iw_stream_free(&s);
	free(gen);
	return 0;
}
