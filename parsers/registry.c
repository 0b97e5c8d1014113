/* registry.c - the tables of parsers/: the application parsers in probe order (one line
 * per parser), and the names records use for event kinds and flow end reasons. */
#include "event.h"
#include "parser.h"

extern const struct iw_parser iw_parser_tls, iw_parser_mqtt, iw_parser_modbus, iw_parser_coap, iw_parser_ssh,
    iw_parser_dns, iw_parser_dns_tcp;

/* clang-format off */
const struct iw_parser *const iw_parsers[] = {
	&iw_parser_tls,
	&iw_parser_mqtt,
	&iw_parser_modbus,
	&iw_parser_coap,
	&iw_parser_ssh,
	&iw_parser_dns,
	&iw_parser_dns_tcp,
	NULL,
};
/* clang-format on */

static const char *const kind_names[IW_EV__COUNT] = {
    [IW_EV_FLOW] = "flow", [IW_EV_MQTT] = "mqtt", [IW_EV_COAP] = "coap", [IW_EV_MODBUS] = "modbus",
    [IW_EV_TLS] = "tls",   [IW_EV_SSH] = "ssh",   [IW_EV_DNS] = "dns",   [IW_EV_TUNNEL] = "tunnel",
};

static const char *const end_names[IW_END__COUNT] = {
    [IW_END_FIN] = "fin",         [IW_END_RST] = "rst",           [IW_END_TIMEOUT] = "timeout",
    [IW_END_EVICTED] = "evicted", [IW_END_SHUTDOWN] = "shutdown",
};

/* Returns a static string; "unknown" for a value outside the enum (never NULL). */
const char *iw_event_kind_name(enum iw_event_kind k)
{
	if ((unsigned)k >= IW_EV__COUNT || kind_names[k] == NULL)
		return "unknown";
	return kind_names[k];
}

/* Returns a static string; "unknown" for a value outside the enum (never NULL). */
const char *iw_flow_end_name(enum iw_flow_end e)
{
	if ((unsigned)e >= IW_END__COUNT || end_names[e] == NULL)
		return "unknown";
	return end_names[e];
}

static const char *const tunnel_types[IW_TUNNEL__TYPES] = {
    [IW_TUNNEL_OPEN] = "open", [IW_TUNNEL_ACTIVE] = "active", [IW_TUNNEL_CLOSE] = "close"};

/* Returns a static string; "unknown" for a value outside the enum (never NULL). */
const char *iw_tunnel_type_name(enum iw_tunnel_type t)
{
	if ((unsigned)t >= IW_TUNNEL__TYPES)
		return "unknown";
	return tunnel_types[t];
}
