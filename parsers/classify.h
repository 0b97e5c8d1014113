/* classify.h - nDPI glue: one detection module per sensor (nDPI is not thread-safe, so
 * a future worker thread gets its own), per-flow state only until the flow is
 * classified. */
#ifndef IW_CLASSIFY_H
#define IW_CLASSIFY_H

#include <stdint.h>

struct iw_ndpi;

/* Creates the detection module with every protocol enabled. Returns NULL when nDPI
 * fails to initialise. */
struct iw_ndpi *iw_ndpi_new(void);
void iw_ndpi_free(struct iw_ndpi *n);

/* Per-flow state, freed with iw_ndpi_flow_free(). Aborts on allocation failure. */
void *iw_ndpi_flow_new(struct iw_ndpi *n);
void iw_ndpi_flow_free(void *flow);

/* nDPI's protocol id for a name ("MQTT"), or -1. */
int iw_ndpi_proto_id(struct iw_ndpi *n, const char *name);

struct iw_ndpi_result {
	uint16_t master, app; /* nDPI protocol ids; 0 = unknown */
	const char *name;     /* nDPI's name for the protocol: static, owned by nDPI */
};

/* Feeds one IP packet (l3 points at the IP header). Returns 1 with *r set when nDPI has
 * decided, 0 while it has not. */
int iw_ndpi_packet(struct iw_ndpi *n, void *flow, const uint8_t *l3, uint32_t len, uint64_t ts_us,
                   struct iw_ndpi_result *r);

/* Asks for nDPI's final answer (a guess from the ports when nothing matched). */
void iw_ndpi_giveup(struct iw_ndpi *n, void *flow, struct iw_ndpi_result *r);

#endif
