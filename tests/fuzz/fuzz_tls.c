/* fuzz_tls.c - fuzzes the TLS descriptor (parsers/tls.c): probe both ways, parse once it has one. */
#define PARSER iw_parser_tls
#include "parser_harness.h"
