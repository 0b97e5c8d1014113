/* fuzz_dns.c - fuzzes the DNS descriptor (parsers/dns.c): probe both ways, parse once it has one. */
#define PARSER iw_parser_dns
#include "parser_harness.h"
