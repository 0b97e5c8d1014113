/* fuzz_dns_tcp.c - fuzzes the DNS-over-TCP descriptor (parsers/dns.c): probe both ways, then parse. */
#define PARSER iw_parser_dns_tcp
#include "parser_harness.h"
