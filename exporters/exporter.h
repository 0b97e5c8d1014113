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
	} jsonl;
	struct {
		char *brokers, *topic, *events_topic, *spool_dir;
		char **property_keys, **property_values; /* librdkafka properties, as given */
		unsigned n_properties;
	} kafka;
	struct {
		char *address, *format;
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
	/* Returns the instance, or NULL with a one-line reason in err. */
	void *(*open)(const struct iw_exp_open *o, char *err, size_t errlen);
	/* One record (no newline); key is the device id or NULL. IW_OK, or IW_ERR when the
	 * record was dropped (counted by the exporter). */
	int (*write)(void *st, enum iw_rec_kind kind, const char *key, const char *rec, size_t len);
	int (*flush)(void *st);
	/* Optional: reopen output files (SIGHUP). */
	int (*reopen)(void *st);
	/* Optional: the exporter's counters as members of the current JSON object. */
	void (*stats)(void *st, struct iw_json *j);
	void (*close)(void *st);
};

/* NULL-terminated. */
extern const struct iw_exporter *const iw_exporters[];

#endif
