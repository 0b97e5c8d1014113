/* flow.h - the flow table: bidirectional flows keyed by 5-tuple and VLAN, the initiator
 * as client, timeouts on packet time, and a hard cap with eviction of the oldest idle
 * flow. Memory is bounded whatever the traffic. */
#ifndef IW_FLOW_H
#define IW_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "../parsers/event.h"
#include "../parsers/packet.h"
#include "../parsers/parser.h"
#include "../rules/state.h"
#include "stream.h"

/* Which timeout a flow is under; one idle list per class, oldest first. */
enum iw_flow_class { IW_FC_TCP, IW_FC_TCP_CLOSED, IW_FC_UDP, IW_FC__COUNT };

struct iw_flow_dir {
	struct iw_stream stream;
	uint8_t *buf; /* bytes the parser asked to see again with more (IW_NEED_MORE) */
	uint32_t buf_len, buf_cap;
	bool parse_off;   /* the parser gave up on this direction */
	uint32_t pre_gap; /* bytes lost before the parser was known (budget or a hole) */
};

struct iw_flow {
	struct iw_flow *hnext;
	struct iw_flow *older, *newer; /* idle list of its class */
	struct iw_flow_key key;        /* src = client */
	uint64_t id;
	uint64_t first_us, last_us;
	uint64_t pkts[2], bytes[2]; /* [IW_DIR_TOSERVER], [IW_DIR_TOCLIENT] */
	uint8_t flags_seen[2];
	uint8_t fclass;
	uint8_t close_reason; /* enum iw_flow_end once FIN both ways or RST closed it */
	bool closed;
	bool classified;
	uint8_t probe_pkts; /* payload packets looked at for classification */
	const struct iw_parser *parser;
	void *pstate;
	void *ndpi;            /* nDPI's per-flow state until classified */
	const char *ndpi_name; /* what nDPI said, when asked */
	uint32_t gaps;
	char *ident[3];             /* by enum iw_identity, as the parser reported it; owned */
	struct iw_flow_ep *ep;      /* the server side's name and region (sensor.c); owned */
	struct iw_flow_tunnel *tun; /* set while the flow is a tunnel (sensor.c); owned */
	bool ep_done;               /* ep looked up from DNS answers and ip ranges */
	/* what the device record last heard from this flow (sensor.c): the event kinds told,
	 * when (0: not yet, or the flow's device id changed since) */
	uint32_t dev_protos;
	uint64_t dev_seen_us;
	struct iw_dev_hint dev_hint; /* the device record last told (rules/state.h) */
	uint8_t dev_side;            /* 0: not worked out yet, 1: the client, 2: the server */
	char dev_ip[46];             /* the device's address as text, once dev_side is set */
	struct iw_flow_dir dir[2];
};

struct iw_flow_table;

/* Called for every flow that ends, before it is freed; the callback frees what it hung
 * on the flow (parser state, nDPI state, buffers). */
typedef void (*iw_flow_end_fn)(void *arg, struct iw_flow *f, enum iw_flow_end reason);

struct iw_flow_limits {
	uint64_t max_flows;
	uint64_t timeout_us[IW_FC__COUNT];
};

/* Creates a table. server_ports is a 65536-bit map of ports that mark the server side of
 * a flow picked up without its handshake (may be NULL). Aborts on allocation failure. */
struct iw_flow_table *iw_flow_table_new(const struct iw_flow_limits *lim, const uint8_t *server_ports,
                                        iw_flow_end_fn on_end, void *arg);

/* Finds or creates the flow of pkt and sets *dir (IW_DIR_TOSERVER or IW_DIR_TOCLIENT).
 * Creating at the cap first evicts the oldest idle flow. Moves the flow to the newest
 * end of its idle list; counters are the caller's to update. Never NULL. */
struct iw_flow *iw_flow_lookup(struct iw_flow_table *t, const struct iw_packet *pkt, int *dir, bool *created);

/* The same with the hash of pkt->key already worked out (iw_flow_prefetch_bucket's). */
struct iw_flow *iw_flow_lookup_hashed(struct iw_flow_table *t, const struct iw_packet *pkt, uint64_t hash,
                                      int *dir, bool *created);

/* Cache warming for a lookup to come (sensor.c's look-ahead): the first starts loading
 * the hash bucket of key k and returns its hash, the second (later, when the bucket is
 * in the cache) starts loading the first flow of the bucket. Neither changes anything. */
uint64_t iw_flow_prefetch_bucket(struct iw_flow_table *t, const struct iw_flow_key *k);
void iw_flow_prefetch_chain(struct iw_flow_table *t, uint64_t hash);

/* Moves f under another timeout class (a TCP flow that closed). */
void iw_flow_set_class(struct iw_flow_table *t, struct iw_flow *f, enum iw_flow_class c);

/* Ends f now with the given reason. */
void iw_flow_end(struct iw_flow_table *t, struct iw_flow *f, enum iw_flow_end reason);

/* Ends every flow idle past its timeout at packet time now_us. */
void iw_flow_expire(struct iw_flow_table *t, uint64_t now_us);

/* Ends every flow (reason shutdown, or fin/rst for a flow already closed) and frees
 * the table. */
void iw_flow_table_free(struct iw_flow_table *t);

uint64_t iw_flow_count(const struct iw_flow_table *t); /* flows tracked now */
uint64_t iw_flow_peak(const struct iw_flow_table *t);  /* most tracked at once */
uint64_t iw_flow_total(const struct iw_flow_table *t); /* flows created */
uint64_t iw_flow_evicted(const struct iw_flow_table *t);

#endif
