/* registry.c - the table of rules: one line per rule family (docs/rules.md). */
#include "rule.h"

extern const struct iw_rule iw_rule_mqtt, iw_rule_cert, iw_rule_tunnel, iw_rule_endpoint, iw_rule_modbus;

const struct iw_rule *const iw_rules[] = {
    &iw_rule_mqtt,     /* mqtt.wildcard_subscribe, topic_violation, cleartext_credentials, ... */
    &iw_rule_cert,     /* tls.cert_expiring, tls.shared_certificate, tls.cert_expiry_storm */
    &iw_rule_tunnel,   /* tunnel.orphaned, tunnel.renewal_loop */
    &iw_rule_endpoint, /* endpoint.off_region */
    &iw_rule_modbus,   /* modbus.unauthorized_write */
    NULL,
};
