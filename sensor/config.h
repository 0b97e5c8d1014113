/* config.h - the effective configuration (DESIGN §4): built-in defaults, then the YAML
 * file (libcyaml), then --set overrides in order. Durations are held in seconds. */
#ifndef IW_CONFIG_H
#define IW_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../exporters/exporter.h"
#include "../rules/rule.h"

struct iw_config {
	struct {
		char *name;
		char **device_networks;
		unsigned n_device_networks;
		uint64_t stats_interval;  /* live: a stats record this often; 0 = only at the end */
		uint64_t payload_preview; /* bytes of message payload shown in events; 0 = none */
	} sensor;
	struct {
		uint64_t snaplen;
		bool promisc;
		bool immediate;
		char *filter;
	} capture;
	struct {
		uint64_t max_flows;
		uint64_t max_devices;
		uint64_t stream_buffer;
		uint64_t max_fragments;  /* IP fragments held in all */
		uint64_t fragment_bytes; /* IP fragment bytes held in all */
		uint64_t max_message;    /* largest application message a parser buffers */
		uint64_t max_items;      /* topics per SUBSCRIBE, options per CoAP message, ... */
		uint64_t dns_cache;      /* DNS answers remembered (device, address) -> name */
		struct {
			uint64_t tcp, tcp_closed, udp;
		} flow_timeout;
	} limits;
	struct {
		char *backend; /* "memory" | "redis" */
		struct {
			char *host;
			uint64_t port;
			uint64_t db;
			char *password_env;
			char *key_prefix;
			uint64_t ttl;
		} redis;
	} state;
	struct iw_rules_cfg rules;
	struct iw_exporters_cfg exporters;
};

/* Fills c with the built-in defaults (every string allocated, so iw_config_free works). */
void iw_config_defaults(struct iw_config *c);

/* Loads path over c. On error returns IW_ERR with one line in err:
 * "<path>:<line>: <key>: <what is wrong>" (unknown key, wrong type, bad duration, ...). */
int iw_config_load(struct iw_config *c, const char *path, char *err, size_t errlen);

/* Applies one "KEY=VALUE" override (dotted key; lists comma-separated). On error returns
 * IW_ERR with one line in err: "--set <key>: <what is wrong>". */
int iw_config_set(struct iw_config *c, const char *assignment, char *err, size_t errlen);

/* Prints the effective configuration as YAML that iw_config_load reads back to the same
 * configuration. */
void iw_config_print(const struct iw_config *c, FILE *out);

void iw_config_free(struct iw_config *c);

/* "90s", "30m", "12h", "90d" (also "1w", and a bare number of seconds) into seconds.
 * Returns IW_OK or IW_ERR. */
int iw_parse_duration(const char *s, uint64_t *secs);

/* A size: digits, then at most one of k M G T (powers of 1024), in bytes. */
int iw_parse_size(const char *s, uint64_t *bytes);

#endif
