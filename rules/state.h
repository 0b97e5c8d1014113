/* state.h - the device-state interface rules need (DESIGN §2, §7). Backends (memory,
 * redis) live in sensor/ and implement these operations; the rules of issue 5 call them. */
#ifndef IW_STATE_H
#define IW_STATE_H

#include <stdbool.h>
#include <stdint.h>

struct iw_state;

struct iw_state_ops {
	/* Records that device id was seen at ts_us; creates it when new. */
	void (*touch)(struct iw_state *st, const char *id, uint64_t ts_us);
	/* True the first time (rule, key) is asked within a day of ts_us, false after:
	 * the de-duplication of DESIGN §6. */
	bool (*first_alert)(struct iw_state *st, const char *rule, const char *key, uint64_t ts_us);
};

struct iw_state {
	const struct iw_state_ops *ops;
};

#endif
