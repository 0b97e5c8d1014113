/* store.h - device state (DESIGN §2, §7): the backend behind rules/state.h.
 *
 * Memory holds the truth for this sensor: one record per device (bounded by
 * limits.max_devices, the least recently seen evicted), the rules' sets, and the
 * de-duplication of alerts. With a Redis configuration the store also mirrors every
 * change to Redis (sensor/redis.c) without waiting for it, learns the fleet's counts from
 * its replies, and asks Redis before an alert goes out whether another sensor raised it
 * first. Redis down: the store runs on memory alone and pushes its state again when
 * Redis is back. */
#ifndef IW_STORE_H
#define IW_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../exporters/json.h"
#include "../rules/state.h"
#include "redis.h"

struct iw_store;

struct iw_store_cfg {
	uint64_t max_devices;             /* limits.max_devices; also bounds sets and alert keys */
	uint64_t ttl_s;                   /* state.redis.ttl: how long idle state lives */
	const struct iw_redis_cfg *redis; /* NULL: memory only */
};

struct iw_store_stats {
	uint64_t devices, devices_evicted;
	uint64_t sets, members, members_dropped;
	uint64_t alert_keys, claims_pending, claims_lost; /* lost: decided alone, Redis gone */
	bool redis;                                       /* a Redis mirror is configured */
	struct iw_redis_stats r;
};

/* Aborts on allocation failure. */
struct iw_store *iw_store_new(const struct iw_store_cfg *cfg);
void iw_store_free(struct iw_store *st);

/* What rules see; its notify hook is for the engine to set. */
struct iw_state *iw_store_state(struct iw_store *st);

enum iw_claim {
	IW_CLAIM_NO,   /* alerted within a day: stay quiet */
	IW_CLAIM_YES,  /* raise it now */
	IW_CLAIM_LATER /* Redis decides: the answer comes through the claim hook with token */
};

/* The de-duplication of DESIGN §6 for (rule, device id, subject) at packet time ts_us;
 * device and subject may be NULL. The key is "<device>|<subject>" (in Redis,
 * alerted:<rule>:<device>|<subject>). */
enum iw_claim iw_store_claim(struct iw_store *st, const char *rule, const char *device, const char *subject,
                             uint64_t ts_us, uint64_t token);

/* True when that was claimed within a day of ts_us: what iw_store_claim would answer
 * IW_CLAIM_NO to, without claiming. */
bool iw_store_alerted(const struct iw_store *st, const char *rule, const char *device, const char *subject,
                      uint64_t ts_us);

/* Where answers to IW_CLAIM_LATER go: won false means another sensor raised it. */
void iw_store_on_claim(struct iw_store *st, void (*fn)(void *arg, uint64_t token, bool won), void *arg);

/* Packet time advanced (once a second of it): expires idle sets and alert keys. */
void iw_store_tick(struct iw_store *st, uint64_t now_us);

/* Redis I/O that is ready, never blocking; call often (every few hundred packets). */
void iw_store_poll(struct iw_store *st);

/* Claims and counts Redis has not answered yet. */
uint64_t iw_store_pending(const struct iw_store *st);

/* At the end: waits up to timeout_ms for Redis to answer what is pending. */
void iw_store_drain(struct iw_store *st, unsigned timeout_ms);

/* The device inventory, one JSON object per line, ordered by device id. Returns the
 * number of devices written. */
uint64_t iw_store_devices(struct iw_store *st, struct iw_json *j, FILE *out);

void iw_store_stats(const struct iw_store *st, struct iw_store_stats *out);

#endif
