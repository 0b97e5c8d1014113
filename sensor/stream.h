/* stream.h - TCP reassembly (RFC 9293 sequence space) of one direction of a flow into
 * ordered bytes for the flow's parser.
 *
 * Handshake and mid-stream pickup; out-of-order segments held within a byte budget;
 * retransmissions and overlaps resolved first copy wins; a hole that can never fill
 * (the peer acknowledged past it, the budget ran out, or the flow ended) is reported as
 * a gap; FIN and RST close. */
#ifndef IW_STREAM_H
#define IW_STREAM_H

#include <stdbool.h>
#include <stdint.h>

struct iw_seg;

struct iw_stream {
	uint32_t next_seq;   /* next byte to deliver */
	uint32_t fin_seq;    /* sequence number of the FIN, when seen */
	uint32_t held_bytes; /* bytes in held */
	uint8_t init : 1, midstream : 1, fin : 1, closed : 1;
	struct iw_seg *held; /* out-of-order data, ascending, no two overlapping */
};

struct iw_stream_stats {
	uint64_t retransmits; /* segments entirely before next_seq */
	uint64_t overlaps;    /* segments partly covering bytes already delivered or held */
	uint64_t held;        /* segments held out of order */
	uint64_t gaps;        /* holes reported */
	uint64_t gap_bytes;
	uint64_t midstream; /* directions picked up without a SYN */
};

/* Receives the stream: len bytes at data, or when data is NULL a gap of len bytes that
 * will never be seen. */
typedef void (*iw_stream_fn)(void *arg, const uint8_t *data, uint32_t len);

/* Feeds one segment (its sequence number, TCP flags, payload). in-order bytes reach fn
 * before it returns; out-of-order bytes are copied and held while held_bytes stays
 * within budget. Aborts on allocation failure. */
void iw_stream_segment(struct iw_stream *s, uint32_t budget, uint32_t seq, uint8_t flags, const uint8_t *data,
                       uint32_t len, iw_stream_fn fn, void *arg, struct iw_stream_stats *st);

/* The other direction acknowledged up to ack: a hole below ack can no longer fill, so
 * it is reported as a gap and what follows it is delivered. */
void iw_stream_acked(struct iw_stream *s, uint32_t ack, iw_stream_fn fn, void *arg,
                     struct iw_stream_stats *st);

/* End of the flow: delivers whatever is held, reporting the holes as gaps. */
void iw_stream_flush(struct iw_stream *s, iw_stream_fn fn, void *arg, struct iw_stream_stats *st);

/* Frees held segments without delivering them. */
void iw_stream_free(struct iw_stream *s);

#endif
