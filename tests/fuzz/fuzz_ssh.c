/* fuzz_ssh.c - fuzzes the SSH descriptor (parsers/ssh.c): probe both ways, parse once it has one. */
#define PARSER iw_parser_ssh
#include "parser_harness.h"
