/* registry.c - the table of rules; one line per rule family (issue 5 fills it). */
#include "rule.h"

const struct iw_rule *const iw_rules[] = {
    NULL,
};
