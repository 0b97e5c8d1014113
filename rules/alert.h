/* alert.h - what a rule raises (DESIGN §5 "Alert"): rule id, severity, message and the
 * evidence that made it fire. Exporters turn it into a record. */
#ifndef IW_ALERT_H
#define IW_ALERT_H

#include <stdbool.h>
#include <stdint.h>

#include "../parsers/event.h"

enum iw_severity { IW_SEV_LOW, IW_SEV_MEDIUM, IW_SEV_HIGH, IW_SEV_CRITICAL };

const char *iw_severity_name(enum iw_severity s);

enum iw_kv_type { IW_KV_STR, IW_KV_INT, IW_KV_BOOL, IW_KV_TIME, IW_KV_STRS, IW_KV_TIMES };

/* One evidence fact. IW_KV_TIME is microseconds since the epoch, written RFC 3339.
 * IW_KV_STRS and IW_KV_TIMES are arrays (list.p: const char *const * or const uint64_t
 * *, list.n elements). */
struct iw_kv {
	const char *key;
	enum iw_kv_type type;
	union {
		const char *s;
		int64_t i;
		bool b;
		uint64_t t;
		struct {
			const void *p;
			unsigned n;
		} list;
	} v;
};

#define IW_ALERT_MAX_EVIDENCE 16

struct iw_alert {
	const char *rule;     /* stable id from DESIGN §6, e.g. "mqtt.wildcard_subscribe" */
	const char *category; /* e.g. "remote-access", "mqtt-abuse" */
	enum iw_severity severity;
	const char *message;
	uint64_t ts_us;
	const struct iw_event *ev; /* the event that raised it (flow, addresses, device), or NULL */
	struct iw_device device;   /* the device it is about */
	struct iw_kv evidence[IW_ALERT_MAX_EVIDENCE];
	unsigned n_evidence;
};

#endif
