/* state.h - the state interface rules need (DESIGN §2, §7). Backends live in sensor/:
 * memory (the default, and the cache of the other) and redis (shared by a fleet of
 * sensors and kept across restarts).
 *
 * Every operation answers at once from memory; the packet path never waits. A redis
 * backend mirrors each change to Redis in the background, and when Redis tells it that
 * other sensors have added to a set, it calls the engine's notify hook with the fleet's
 * count, so a rule can fire on a threshold the fleet crossed together (see on_count in
 * rule.h).
 *
 * Sets are named by the rule, "<what>:<subject>" ("certexp:2026-12-15",
 * "user:alice:clients", "dev:<id>:tunnels"); the redis key is the configured prefix
 * plus that name. Names and members are copied. Times are packet time in microseconds. */
#ifndef IW_STATE_H
#define IW_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "../parsers/event.h"

struct iw_state;

/* Where a caller (the sensor, per flow) keeps the record seen() last found, so that the
 * next call skips the device table. The caller clears rec when the device id it passes
 * may have changed; the backend looks the record up again when it was evicted since
 * (epoch). Zero-initialised: empty. */
struct iw_dev_hint {
	void *rec;
	uint64_t epoch;
};

/* What an event tells the device record (DESIGN §2): the sensor fills it for every event
 * it dispatches. NULL or 0 members leave the record's value alone. */
struct iw_dev_seen {
	const struct iw_device *dev; /* id (required), ip, client_id, cert_cn */
	uint64_t ts_us;
	uint32_t proto;             /* bit (1u << IW_EV_...) of the event */
	const char *cert_fp;        /* SHA-256 of a client certificate the device presented */
	uint64_t cert_not_after_us; /* ... and its notAfter */
	const char *region;         /* the region of the endpoint it talked to */
	bool tunnel_open;           /* the event opened a tunnel */
	struct iw_dev_hint *hint;   /* may be NULL; read and updated */
	uint64_t flow_id;           /* the flow that told it (0: none); with a valid hint, its
	                             * identity strings are those it passed last time */
};

/* A set member with its score (the time it was last added). */
struct iw_set_member {
	const char *member;
	uint64_t ts_us;
};

struct iw_state_ops {
	/* Updates (creating when new) the record of a device. */
	void (*seen)(struct iw_state *st, const struct iw_dev_seen *s);

	/* Adds member to set name with score ts_us (a member already there gets the new
	 * score). With window_us > 0 the set is a sliding window: members whose score is
	 * older than ts_us - window_us leave it first. The set lives ttl_s seconds of packet
	 * time after its last add (0: the configured state TTL). Returns the number of
	 * members: of this sensor, or of the fleet as last heard from Redis when that is
	 * more. */
	uint64_t (*set_add)(struct iw_state *st, const char *name, const char *member, uint64_t ts_us,
	                    uint64_t window_us, uint64_t ttl_s);

	/* Up to max members of set name this sensor added, oldest score first; returns how
	 * many were written to out (pointers valid until the next state call). */
	unsigned (*set_members)(struct iw_state *st, const char *name, struct iw_set_member *out,
	                        unsigned max);
};

struct iw_state {
	const struct iw_state_ops *ops;
	/* Set by the engine: Redis reported count members in set name (a fleet count larger
	 * than this sensor's), at packet time now_us. */
	void (*notify)(void *arg, const char *name, uint64_t count, uint64_t now_us);
	void *notify_arg;
};

#endif
