/* sensor.h - the pipeline: packet decode -> flow table -> TCP reassembly -> classify ->
 * app parsers -> events -> rules -> records -> exporters (DESIGN §1). One sensor per
 * thread; nothing in it is shared. */
#ifndef IW_SENSOR_H
#define IW_SENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../parsers/parser.h"
#include "../rules/rule.h"
#include "config.h"

struct iw_sensor;

struct iw_sensor_opts {
	const char *alerts_path;  /* -o: replaces exporters.jsonl.path; NULL: the configuration's */
	const char *events_path;  /* -e: every event as JSON lines; NULL: none */
	const char *devices_path; /* --devices: the device inventory as JSON lines; NULL: none */
	bool stats;               /* --stats: stats record at the end and a summary on stderr */
	bool no_ndpi;             /* classify by probes and ports only (benchmarks, tests) */
	const struct iw_parser *const *parsers; /* NULL-terminated; NULL: iw_parsers (tests) */
	const struct iw_rule *const *rules;     /* NULL-terminated; NULL: iw_rules (tests) */
};

/* Counters of one capture source, from pcap_stats(). */
struct iw_capture_stats {
	const char *name;
	uint64_t received, dropped, ifdropped;
};

/* Builds the pipeline. Returns NULL with one line in err when the configuration cannot
 * be used (bad CIDR) or an exporter cannot open; *code is then the exit status (1 for an
 * exporter, 2 for configuration). The sensor keeps pointers into cfg: cfg outlives it. */
struct iw_sensor *iw_sensor_new(const struct iw_config *cfg, const struct iw_sensor_opts *opts, char *err,
                                size_t errlen, int *code);

/* One captured frame of link type dlt (a DLT_ value), at packet time ts_us. */
void iw_sensor_packet(struct iw_sensor *s, int dlt, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                      uint64_t ts_us);

/* A frame decoded ahead of its turn (replay): the decode does not need the packets
 * before it, except a fragment's, which is decoded again at its turn. The caller fills
 * dlt, data, caplen, wirelen and ts_us (data stays valid until the frame is processed),
 * then, in this order and a few frames apart:
 *   iw_sensor_ahead        decodes it and starts loading its flow's hash bucket;
 *   iw_sensor_warm         starts loading the flow the bucket points to;
 *   iw_sensor_packet_ahead processes it, as iw_sensor_packet would have.
 * By the time a frame's turn comes, the memory its flow lookup reads is in the cache. */
struct iw_ahead {
	int dlt;
	const uint8_t *data;
	uint32_t caplen, wirelen;
	uint64_t ts_us;
	/* the sensor's */
	struct iw_packet pkt;
	int rc;
	enum iw_malformed why;
	bool redo;
	uint64_t hash;
};
void iw_sensor_ahead(struct iw_sensor *s, struct iw_ahead *a);
void iw_sensor_warm(struct iw_sensor *s, const struct iw_ahead *a);
void iw_sensor_packet_ahead(struct iw_sensor *s, struct iw_ahead *a);

/* Advances the clock without a packet (a quiet live link): expires flows, ticks rules. */
void iw_sensor_tick(struct iw_sensor *s, uint64_t now_us);

/* Reopens output files (SIGHUP). */
void iw_sensor_reopen(struct iw_sensor *s);

/* Writes the device inventory to opts.devices_path (replacing the file whole; "-" is
 * stdout): at the end of a run, and on SIGUSR1. Returns IW_ERR, with one line on stderr,
 * when the file cannot be written. */
int iw_sensor_write_devices(struct iw_sensor *s);

/* Records the counters of one capture source for the stats. */
void iw_sensor_capture_stats(struct iw_sensor *s, const struct iw_capture_stats *cs);

/* Counts a capture source that ended early on a read error (a damaged file). */
void iw_sensor_capture_error(struct iw_sensor *s);

/* Ends every flow, ends deliveries (bounded), writes the stats record and the summary
 * (with --stats), flushes and closes the exporters, frees s. elapsed_s is the wall time
 * of the run. Returns 0, or 1 (with one line on stderr) when an exporter lost records:
 * neither delivered nor kept in a spool. */
int iw_sensor_finish(struct iw_sensor *s, double elapsed_s);

uint64_t iw_sensor_packets(const struct iw_sensor *s);
uint64_t iw_sensor_bytes(const struct iw_sensor *s);

#endif
