/* rule_harness.h - drives one rule as the sensor does, for the rules' unit tests: the
 * real memory store (sensor/store.c) and its de-duplication, alerts serialised by the
 * real record writer, packet time given by the test. */
#ifndef IW_RULE_HARNESS_H
#define IW_RULE_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../exporters/json.h"
#include "../../exporters/record.h"
#include "../../rules/rule.h"
#include "../../sensor/store.h"

#define RH_MAX_ALERTS 512

struct rh {
	struct iw_rule_ctx ctx; /* first: raise gets it back */
	struct iw_rules_cfg cfg;
	const struct iw_rule *rule;
	void *st;
	struct iw_store *store;
	struct iw_json json;
	char *alerts[RH_MAX_ALERTS];
	char *rules[RH_MAX_ALERTS];
	unsigned n;
	uint64_t now_us;
};

static void rh_raise(struct iw_rule_ctx *ctx, const struct iw_alert *a, const char *subject)
{
	struct rh *h = (struct rh *)ctx;
	if (iw_store_claim(h->store, a->rule, a->device.id, subject, a->ts_us, 0) != IW_CLAIM_YES ||
	    h->n >= RH_MAX_ALERTS)
		return;
	iw_record_alert(&h->json, "test", a);
	h->alerts[h->n] = strndup(h->json.buf, h->json.len);
	h->rules[h->n] = strdup(a->rule);
	h->n++;
}

static bool rh_alerted(struct iw_rule_ctx *ctx, const char *rule, const char *device_id, const char *subject,
                       uint64_t ts_us)
{
	struct rh *h = (struct rh *)ctx;
	return iw_store_alerted(h->store, rule, device_id, subject, ts_us);
}

static void rh_notify(void *arg, const char *name, uint64_t count, uint64_t now_us)
{
	struct rh *h = arg;
	if (h->rule->on_count)
		h->rule->on_count(h->st, &h->ctx, name, count, now_us);
}

/* DESIGN §4's rules defaults, every list empty. */
static inline struct iw_rules_cfg rh_defaults(void)
{
	struct iw_rules_cfg c;
	memset(&c, 0, sizeof(c));
	c.tunnel.max_duration = 12 * 3600;
	c.tunnel.renewal_max = 3;
	c.tunnel.renewal_window = 24 * 3600;
	c.tunnel.report_interval = 3600;
	c.mqtt.shared_credentials_max = 5;
	c.cert.expiry_lead = 90 * 86400;
	c.cert.storm_min_devices = 20;
	c.cert.storm_bucket = 86400;
	c.cert.flood_min_devices = 20;
	c.cert.flood_window = 60;
	return c;
}

/* cfg is copied (its lists are not: they must outlive the harness). */
static inline struct rh *rh_new(const struct iw_rules_cfg *cfg, const struct iw_rule *rule)
{
	struct rh *h = calloc(1, sizeof(*h));
	if (!h)
		abort();
	h->cfg = *cfg;
	h->rule = rule;
	struct iw_store_cfg sc = {.max_devices = 1000, .ttl_s = 30 * 86400};
	h->store = iw_store_new(&sc);
	struct iw_state *state = iw_store_state(h->store);
	state->notify = rh_notify;
	state->notify_arg = h;
	h->ctx = (struct iw_rule_ctx){.cfg = &h->cfg,
	                              .state = state,
	                              .max_entries = 1000,
	                              .raise = rh_raise,
	                              .alerted = rh_alerted,
	                              .arg = h};
	iw_json_init(&h->json);
	h->st = rule->state_new ? rule->state_new(&h->cfg) : NULL;
	return h;
}

static inline void rh_free(struct rh *h)
{
	if (h->rule->state_free)
		h->rule->state_free(h->st);
	for (unsigned i = 0; i < h->n; i++) {
		free(h->alerts[i]);
		free(h->rules[i]);
	}
	iw_json_free(&h->json);
	iw_store_free(h->store);
	free(h);
}

/* ev is built completely by the test; the rule sees it only if it asked for its kind. */
static inline void rh_event(struct rh *h, struct iw_event *ev)
{
	if (ev->ts_us > h->now_us) {
		h->now_us = ev->ts_us;
		iw_store_tick(h->store, h->now_us);
	}
	if (h->rule->on_event && (h->rule->kinds & (1u << ev->kind)))
		h->rule->on_event(h->st, &h->ctx, ev);
}

static inline void rh_tick(struct rh *h, uint64_t now_us)
{
	h->now_us = now_us;
	iw_store_tick(h->store, now_us);
	if (h->rule->on_tick)
		h->rule->on_tick(h->st, &h->ctx, now_us);
}

/* Tells the rule, as Redis would, that the fleet has count members in set name. */
static inline void rh_fleet_count(struct rh *h, const char *name, uint64_t count)
{
	rh_notify(h, name, count, h->now_us);
}

static inline unsigned rh_n(const struct rh *h)
{
	return h->n;
}

static inline const char *rh_json(const struct rh *h, unsigned i)
{
	return i < h->n ? h->alerts[i] : "";
}

static inline const char *rh_rule(const struct rh *h, unsigned i)
{
	return i < h->n ? h->rules[i] : "";
}

static inline bool rh_has(const struct rh *h, unsigned i, const char *needle)
{
	return i < h->n && strstr(h->alerts[i], needle) != NULL;
}

#endif
