/* fuzz_mqtt.c - fuzzes the MQTT descriptor (parsers/mqtt.c): probe both ways, parse once it has one. */
#define PARSER iw_parser_mqtt
#include "parser_harness.h"
