/* registry.c - the table of exporters (DESIGN §1 "exporters"); one line per exporter. */
#include "exporter.h"

extern const struct iw_exporter iw_exp_jsonl;

const struct iw_exporter *const iw_exporters[] = {
    &iw_exp_jsonl,
    NULL,
};
