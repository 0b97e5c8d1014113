/* registry.c - the table of exporters (DESIGN §1 "exporters"); one line per exporter. */
#include "exporter.h"

#include <stdio.h>

#include "../parsers/cursor.h"

extern const struct iw_exporter iw_exp_jsonl;
extern const struct iw_exporter iw_exp_kafka;
extern const struct iw_exporter iw_exp_syslog;

const struct iw_exporter *const iw_exporters[] = {
    &iw_exp_jsonl,
    &iw_exp_kafka,
    &iw_exp_syslog,
    NULL,
};

int iw_exporters_check(const struct iw_exporters_cfg *cfg, char *err, size_t errlen)
{
	for (const struct iw_exporter *const *e = iw_exporters; *e; e++) {
		if (!(*e)->check)
			continue;
		const char *dest = (*e)->configured ? (*e)->configured(cfg) : NULL;
		if (!dest || !*dest)
			continue;
		char why[256] = "";
		if ((*e)->check(cfg, why, sizeof(why)) != IW_OK) {
			snprintf(err, errlen, "%s exporter: %s", (*e)->name, why);
			return IW_ERR;
		}
	}
	return IW_OK;
}
