/* fuzz_coap.c - fuzzes the CoAP descriptor (parsers/coap.c): probe both ways, parse once it has one. */
#define PARSER iw_parser_coap
#include "parser_harness.h"
