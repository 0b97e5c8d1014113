/* exporter.h - the exporter descriptor and registry (DESIGN §1 "exporters", §8).
 *
 * An exporter takes finished records (one JSON object, no newline) and puts them on a
 * file, Kafka or syslog. Adding one is a file exporting a const struct iw_exporter plus
 * one line in exporters/registry.c. */
#ifndef IW_EXPORTER_H
#define IW_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iw_json;

/* exporters.* of the configuration (DESIGN §4). Owned by the configuration. */
struct iw_exporters_cfg {
	struct {
		char *path;
		uint64_t rotate_size; /* bytes; 0: no rotation by size */
		uint64_t rotate_keep; /* rotated files kept: path.1 .. path.N */
	} jsonl;
	struct {
		char *brokers, *topic, *events_topic, *spool_dir;
		uint64_t spool_max;                      /* bytes on disk; 0: no bound */
		uint64_t flush_timeout;                  /* seconds waited for deliveries at the end */
		char **property_keys, **property_values; /* librdkafka properties, as given */
		unsigned n_properties;
	} kafka;
	struct {
		char *address, *format, *facility, *hostname;
	} syslog;
};

enum iw_rec_kind { IW_REC_ALERT = 1, IW_REC_EVENT = 2, IW_REC_STATS = 4 };

/* What one exporter instance is opened for: dest is its destination (a path for jsonl),
 * kinds the IW_REC_ bits it receives. */
struct iw_exp_open {
	const struct iw_exporters_cfg *cfg;
	const char *dest;
	unsigned kinds;
};

struct iw_exporter {
	const char *name;
	/* The destination configured for it, or NULL when it is off. */
	const char *(*configured)(const struct iw_exporters_cfg *cfg);
	/* Optional: the IW_REC_ bits it takes when it is on (default: alerts and events). */
	unsigned (*kinds)(const struct iw_exporters_cfg *cfg);
	/* Optional: checks its configuration without opening anything. IW_ERR with one line
	 * in err is a configuration error (exit status 2, and --check-config fails). */
	int (*check)(const struct iw_exporters_cfg *cfg, char *err, size_t errlen);
	/* Returns the instance, or NULL with a one-line reason in err. */
	void *(*open)(const struct iw_exp_open *o, char *err, size_t errlen);
	/* One record (no newline); key is the device id or NULL. IW_OK, or IW_ERR when the
	 * record was dropped (counted by the exporter). */
	int (*write)(void *st, enum iw_rec_kind kind, const char *key, const char *rec, size_t len);
	int (*flush)(void *st);
	/* Optional: reopen output files (SIGHUP). */
	int (*reopen)(void *st);
	/* Optional: called about once a second (of packet time in a replay, of wall time
	 * live): timers, reconnection, delivery reports. Never blocks. */
	void (*tick)(void *st);
	/* Optional: ends delivery before close (bounded wait). Returns how many records were
	 * neither delivered nor kept for later (a spool): the sensor exits 1 when any were. */
	uint64_t (*finish)(void *st);
	/* Optional: the exporter's counters as members of the current JSON object. */
	void (*stats)(void *st, struct iw_json *j);
	void (*close)(void *st);
};

/* NULL-terminated. */
extern const struct iw_exporter *const iw_exporters[];

/* Runs the check() of every exporter that is on. IW_ERR with one line in err
 * ("<name> exporter: <what is wrong>") for the first that fails. */
int iw_exporters_check(const struct iw_exporters_cfg *cfg, char *err, size_t errlen);

#endif
