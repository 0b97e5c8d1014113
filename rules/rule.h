/* rule.h - the rule descriptor and its registry (DESIGN §1 "rules").
 *
 * A rule is one file exporting a const struct iw_rule plus one line in rules/registry.c.
 * It says which event kinds it wants, gets them in on_event, and gets the packet clock
 * in on_tick; it raises alerts through the context. No globals: its state comes from
 * state_new. */
#ifndef IW_RULE_H
#define IW_RULE_H

#include <stdint.h>

#include "../parsers/event.h"
#include "alert.h"
#include "state.h"

/* rules.* of the configuration (DESIGN §4); durations in seconds. Lists are arrays of
 * strings with their count. Owned by the configuration. */
struct iw_rules_cfg {
	struct {
		uint64_t max_duration, renewal_max, renewal_window;
		uint64_t report_interval; /* an "active" record per open tunnel this often; 0 = none */
		char **endpoints;         /* host-name globs that make a TLS flow a tunnel */
		unsigned n_endpoints;
	} tunnel;
	struct {
		char **trusted_clients;
		unsigned n_trusted_clients;
		char **publish_namespaces;
		unsigned n_publish_namespaces;
		char **subscribe_namespaces;
		unsigned n_subscribe_namespaces;
		uint64_t shared_credentials_max;
	} mqtt;
	struct {
		uint64_t expiry_lead, storm_min_devices, storm_bucket, flood_min_devices, flood_window;
	} cert;
	struct {
		char **allowed;
		unsigned n_allowed;
		char **ip_ranges;
		unsigned n_ip_ranges;
	} region;
	struct {
		char **allowed_writers;
		unsigned n_allowed_writers;
	} modbus;
};

struct iw_rule_ctx {
	const struct iw_rules_cfg *cfg;
	struct iw_state *state;
	uint64_t max_entries; /* limits.max_devices: the most entries a rule's own table may hold */
	/* Raises a (with its rule, device and evidence filled) unless the same (rule,
	 * device id, subject) alerted within a day of a->ts_us, here or, with Redis, on any
	 * sensor of the fleet (DESIGN §6). subject names what the alert is about beyond the
	 * device (a topic filter, a certificate fingerprint, an endpoint, a bucket date); NULL
	 * when the device alone is the subject. The alert is serialised before raise returns:
	 * its strings need only live that long. */
	void (*raise)(struct iw_rule_ctx *ctx, const struct iw_alert *a, const char *subject);
	/* True when raise would drop this alert as a repeat here (same rule, device id or
	 * NULL, subject, within a day of ts_us): lets a rule whose threshold stays crossed skip
	 * building evidence for it. */
	bool (*alerted)(struct iw_rule_ctx *ctx, const char *rule, const char *device_id, const char *subject,
	                uint64_t ts_us);
	void *arg; /* the sensor's */
};

struct iw_rule {
	const char *id; /* family prefix; each alert carries its own full rule id */
	uint32_t kinds; /* bit (1u << IW_EV_...) per event kind it wants */
	void *(*state_new)(const struct iw_rules_cfg *cfg);
	void (*state_free)(void *st);
	void (*on_event)(void *st, struct iw_rule_ctx *ctx, const struct iw_event *ev);
	/* Packet time advanced to now_us (once a second of it); may be NULL. */
	void (*on_tick)(void *st, struct iw_rule_ctx *ctx, uint64_t now_us);
	/* Redis says set name (a set this rule adds to through ctx->state) has count members
	 * across the fleet, more than this sensor alone added; may be NULL. */
	void (*on_count)(void *st, struct iw_rule_ctx *ctx, const char *name, uint64_t count,
	                 uint64_t now_us);
};

/* NULL-terminated. */
extern const struct iw_rule *const iw_rules[];

#endif
