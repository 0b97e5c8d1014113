/* registry.c - the table of rules: one line per rule family (docs/rules.md). */
#include "rule.h"

extern const struct iw_rule iw_rule_mqtt, iw_rule_cert, iw_rule_tunnel;

const struct iw_rule *const iw_rules[] = {
    &iw_rule_mqtt,
    &iw_rule_cert,
    &iw_rule_tunnel,
    NULL,
};
