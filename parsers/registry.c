/* registry.c - the table of application parsers, in probe order; one line per parser. */
#include "parser.h"

extern const struct iw_parser iw_parser_tls, iw_parser_mqtt, iw_parser_modbus, iw_parser_coap, iw_parser_dns;

/* clang-format off */
const struct iw_parser *const iw_parsers[] = {
	&iw_parser_tls,
	&iw_parser_mqtt,
	&iw_parser_modbus,
	&iw_parser_coap,
	&iw_parser_dns,
	NULL,
};
/* clang-format on */
