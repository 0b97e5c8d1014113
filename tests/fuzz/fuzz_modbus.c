/* fuzz_modbus.c - fuzzes the Modbus/TCP descriptor (parsers/modbus.c): probe both ways, parse once it has
 * one. */
#define PARSER iw_parser_modbus
#include "parser_harness.h"
