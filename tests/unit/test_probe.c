/* test_probe.c - tests the strict probes of the MQTT, Modbus/TCP, CoAP and TLS parser descriptors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parsers/cursor.h"
#include "parsers/parser.h"
#include "tests/unit/guard.h"

extern const struct iw_parser iw_parser_mqtt, iw_parser_modbus, iw_parser_coap, iw_parser_tls, iw_parser_dns;

/* ---- MQTT (OASIS mqtt-v3.1.1 §3.1, mqtt-v5.0 §3.1) ---- */

static const uint8_t mqtt31_connect[] = {
    0x10,                           /* CONNECT, flags 0 */
    0x12,                           /* remaining length 18 */
    0x00, 0x06,                     /* protocol name length 6 */
    'M',  'Q',  'I', 's', 'd', 'p', /* protocol name "MQIsdp" */
    0x03,                           /* protocol level 3 (MQTT 3.1) */
    0x02,                           /* connect flags: clean session */
    0x00, 0x3c,                     /* keep alive 60 s */
    0x00, 0x04,                     /* client id length 4 */
    'd',  'e',  'v', '1',           /* client id */
};

static const uint8_t mqtt311_connect[] = {
    0x10,                 /* CONNECT, flags 0 */
    0x10,                 /* remaining length 16 */
    0x00, 0x04,           /* protocol name length 4 */
    'M',  'Q',  'T', 'T', /* protocol name */
    0x04,                 /* protocol level 4 (3.1.1) */
    0x02,                 /* connect flags: clean session */
    0x00, 0x3c,           /* keep alive 60 s */
    0x00, 0x04,           /* client id length 4 */
    'd',  'e',  'v', '1', /* client id */
};

static const uint8_t mqtt5_connect[] = {
    0x10,                   /* CONNECT, flags 0 */
    0x16,                   /* remaining length 22 */
    0x00, 0x04,             /* protocol name length 4 */
    'M',  'Q',  'T',  'T',  /* protocol name */
    0x05,                   /* protocol level 5 */
    0x02,                   /* connect flags: clean start */
    0x00, 0x3c,             /* keep alive 60 s */
    0x05,                   /* properties length 5 */
    0x11,                   /* session expiry interval */
    0x00, 0x00, 0x00, 0x3c, /* 60 s */
    0x00, 0x04,             /* client id length 4 */
    'd',  'e',  'v',  '1',  /* client id */
};

/* CONNECT with a two-byte remaining length (a 200-byte client id). Only the head is
 * spelled out; the probe decides on it. */
static const uint8_t mqtt311_connect_long[] = {
    0x10,                 /* CONNECT */
    0xd4, 0x01,           /* remaining length 212 = 0x54 + 1 * 128 */
    0x00, 0x04,           /* protocol name length 4 */
    'M',  'Q',  'T', 'T', /* protocol name */
    0x04,                 /* level 4 */
    0x00,                 /* connect flags */
    0x00, 0x0a,           /* keep alive 10 s */
    0x00, 0xc8,           /* client id length 200 (its bytes follow in later segments) */
};

static const uint8_t mqtt_connack[] = {
    0x20, /* CONNACK */
    0x02, /* remaining length 2 */
    0x00, /* session present 0 */
    0x00, /* return code: accepted */
};

static const uint8_t mqtt_connect_reserved_flag[] = {
    0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T',
    0x04, 0x03, /* connect flags: clean session and the reserved bit 0 */
    0x00, 0x3c, 0x00, 0x04, 'd', 'e', 'v', '1',
};

static const uint8_t mqtt_connect_wrong_level[] = {
    0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x03, /* level 3 belongs with "MQIsdp", not "MQTT" */
    0x02, 0x00, 0x3c, 0x00, 0x04, 'd', 'e', 'v', '1',
};

static const uint8_t mqtt_remaining_length_5_bytes[] = {
    0x10,                         /* CONNECT */
    0xff, 0xff, 0xff, 0xff, 0x01, /* remaining length with a fifth byte: not allowed */
    0x00, 0x04, 'M',  'Q',  'T',  'T', 0x04, 0x02, 0x00, 0x3c,
};

/* ---- Modbus/TCP (Modbus Messaging on TCP/IP Implementation Guide v1.0b §3.1.3) ---- */

static const uint8_t modbus_fc3_request[] = {
    0x00, 0x01, /* transaction id 1 */
    0x00, 0x00, /* protocol id 0: Modbus */
    0x00, 0x06, /* length 6: unit id and 5 PDU bytes */
    0x11,       /* unit id 17 */
    0x03,       /* function 3: read holding registers */
    0x00, 0x6b, /* starting address 107 */
    0x00, 0x03, /* quantity 3 */
};

static const uint8_t modbus_fc3_response[] = {
    0x00, 0x01, /* transaction id 1 */
    0x00, 0x00, /* protocol id 0 */
    0x00, 0x09, /* length 9 */
    0x11,       /* unit id 17 */
    0x03,       /* function 3 */
    0x06,       /* byte count 6 */
    0x02, 0x2b, /* register 107 */
    0x00, 0x00, /* register 108 */
    0x00, 0x64, /* register 109 */
};

static const uint8_t modbus_exception[] = {
    0x00, 0x02, /* transaction id 2 */
    0x00, 0x00, /* protocol id 0 */
    0x00, 0x03, /* length 3 */
    0x11,       /* unit id 17 */
    0x83,       /* function 3 with the exception bit */
    0x02,       /* exception: illegal data address */
};

static const uint8_t modbus_two_adus[] = {
    0x00, 0x01, /* first ADU: transaction id 1 */
    0x00, 0x00, /* protocol id 0 */
    0x00, 0x06, /* length 6 */
    0x11,       /* unit id 17 */
    0x03,       /* function 3: read holding registers */
    0x00, 0x6b, /* starting address */
    0x00, 0x03, /* quantity */
    0x00, 0x02, /* second ADU: transaction id 2 */
    0x00, 0x00, /* protocol id 0 */
    0x00, 0x06, /* length 6 */
    0x11,       /* unit id 17 */
    0x06,       /* function 6: write single register */
    0x00, 0x01, /* register address 1 */
    0x00, 0x03, /* value 3 */
};

static const uint8_t modbus_bad_protocol[] = {
    0x00, 0x01, /* transaction id */
    0x00, 0x01, /* protocol id 1: not Modbus */
    0x00, 0x06, 0x11, 0x03, 0x00, 0x6b, 0x00, 0x03,
};

static const uint8_t modbus_length_300[] = {
    0x00, 0x01, /* transaction id */
    0x00, 0x00, /* protocol id 0 */
    0x01, 0x2c, /* length 300: more than an ADU can hold (254) */
    0x11, 0x03, 0x00, 0x6b, 0x00, 0x03,
};

static const uint8_t modbus_unknown_function[] = {
    0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x11, 0x30, /* function 48: not assigned */
    0x00, 0x6b, 0x00, 0x03,
};

static const uint8_t modbus_second_not_mbap[] = {
    0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x11, 0x03, 0x00, 0x6b, 0x00, 0x03, /* a good ADU */
    0x47, 0x45, 0x54, 0x20,                                                 /* then "GET " */
};

/* ---- CoAP (RFC 7252 §3) ---- */

/* DNS: dig's query for data.tunneling.iot.eu-west-1.amazonaws.com A, from pcaps/demo.pcap */
#define DNS_QNAME                                                                                            \
	4, 'd', 'a', 't', 'a', 9, 't', 'u', 'n', 'n', 'e', 'l', 'i', 'n', 'g', 3, 'i', 'o', 't', 9, 'e',     \
	    'u', '-', 'w', 'e', 's', 't', '-', '1', 9, 'a', 'm', 'a', 'z', 'o', 'n', 'a', 'w', 's', 3, 'c',  \
	    'o', 'm', 0
static const uint8_t dns_query[] = {
    0x29,      0x10, /* id */
    0x01,      0x20, /* QR 0, opcode 0, RD, AD */
    0x00,      0x01, /* one question */
    0x00,      0x00, /* no answers */
    0x00,      0x00, /* no authority */
    0x00,      0x01, /* one additional (EDNS OPT) */
    DNS_QNAME,       /* labels, then the root */
    0x00,      0x01, /* qtype A */
    0x00,      0x01, /* qclass IN */
};

static const uint8_t dns_response[] = {
    0x29,      0x10,                   /* id */
    0x85,      0x80,                   /* QR 1, AA, RD, RA */
    0x00,      0x01,                   /* one question */
    0x00,      0x01,                   /* one answer */
    0x00,      0x00,                   /* no authority */
    0x00,      0x00,                   /* no additional */
    DNS_QNAME,                         /* the question */
    0x00,      0x01,                   /* qtype A */
    0x00,      0x01,                   /* qclass IN */
    0xc0,      0x0c,                   /* answer: pointer to the question name */
    0x00,      0x01, 0x00, 0x01,       /* A, IN */
    0x00,      0x00, 0x00, 0x00,       /* TTL 0 */
    0x00,      0x04, 127,  0,    0, 3, /* 127.0.0.3 */
};

static const uint8_t dns_two_questions[] = {
    0x00, 0x01, 0x01, 0x00, /* id, RD */
    0x00, 0x02,             /* two questions: not what a resolver sends */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 1, 'a', 0, 0x00, 0x01, 0x00, 0x01,
};

static const uint8_t dns_pointer_in_question[] = {
    0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* header */
    0xc0, 0x0c,                                                             /* a pointer */
    0x00, 0x01, 0x00, 0x01,
};

static const uint8_t dns_query_with_answer[] = {
    0x00, 0x01, 0x01, 0x00, /* QR 0 ... */
    0x00, 0x01, 0x00, 0x01, /* ... but one answer */
    0x00, 0x00, 0x00, 0x00, 1, 'a', 0, 0x00, 0x01, 0x00, 0x01,
};

static const uint8_t dns_bad_class[] = {
    0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 1,    'a',  0,    0x00, 0x01, /* qtype A */
    0x00, 0x07,                                     /* qclass 7: unassigned */
};

static const uint8_t coap_get[] = {
    0x42,                                /* version 1, type CON, token length 2 */
    0x01,                                /* code 0.01 GET */
    0x12, 0x34,                          /* message id */
    0xab, 0xcd,                          /* token */
    0xb7,                                /* option delta 11 (Uri-Path), length 7 */
    's',  'e',  'n', 's', 'o', 'r', 's', /* "sensors" */
    0x04,                                /* option delta 0 (Uri-Path again), length 4 */
    't',  'e',  'm', 'p',                /* "temp" */
};

static const uint8_t coap_empty_ack[] = {
    0x60,       /* version 1, type ACK, token length 0 */
    0x00,       /* code 0.00: empty */
    0x12, 0x34, /* message id */
};

static const uint8_t coap_post_payload[] = {
    0x51,             /* version 1, type NON, token length 1 */
    0x02,             /* code 0.02 POST */
    0x00, 0x07,       /* message id */
    0x42,             /* token */
    0xb1, 'a',        /* option 11 Uri-Path, length 1: "a" */
    0x11, 0x32,       /* delta 1 (12 Content-Format), length 1: 50 (JSON) */
    0xd1, 0x23, 0x05, /* delta 13 + 35 = 48 (60 Size1), length 1: 5 */
    0xff,             /* payload marker */
    '{',  '"',  'x',  '"', ':', '1', '}',
};

static const uint8_t coap_content_response[] = {
    0x61,                 /* version 1, type ACK, token length 1 */
    0x45,                 /* code 2.05 Content */
    0x12, 0x35,           /* message id */
    0x42,                 /* token */
    0xc1, 0x00,           /* option 12 Content-Format, length 1: 0 (text/plain) */
    0xff,                 /* payload marker */
    '2',  '2',  '.', '5', /* payload */
};

static const uint8_t coap_bad_version[] = {
    0x82, /* version 2 */
    0x01, 0x12, 0x34, 0xab, 0xcd,
};

static const uint8_t coap_tkl_9[] = {
    0x49, /* version 1, CON, token length 9: reserved */
    0x01, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8, 9,
};

static const uint8_t coap_option_delta_15[] = {
    0x40, 0x01, 0x12, 0x34, /* version 1, CON, no token, GET */
    0xf1,                   /* option delta 15 without a payload marker: reserved */
    0x00,
};

static const uint8_t coap_option_length_15[] = {
    0x40, 0x01, 0x12, 0x34, /* version 1, CON, no token, GET */
    0xbf,                   /* Uri-Path with length nibble 15: reserved */
    'a',
};

static const uint8_t coap_marker_no_payload[] = {
    0x40, 0x01, 0x12, 0x34, /* version 1, CON, no token, GET */
    0xb1, 'a',              /* Uri-Path "a" */
    0xff,                   /* payload marker with nothing after it */
};

static const uint8_t coap_option_past_end[] = {
    0x40, 0x01, 0x12, 0x34, /* version 1, CON, no token, GET */
    0xb5, 'a',  'b',        /* Uri-Path claiming 5 bytes, 2 present */
};

static const uint8_t coap_empty_with_token[] = {
    0x61, /* version 1, ACK, token length 1 */
    0x00, /* code 0.00: an empty message may carry nothing */
    0x12, 0x34, 0x42,
};

static const uint8_t coap_class_3[] = {
    0x40,
    0x61, /* code 3.01: class 3 is reserved */
    0x12,
    0x34,
};

/* ---- TLS (RFC 5246 §6.2.1, §7.4.1.2; RFC 8446 §4.1.2) ---- */

static const uint8_t tls_client_hello[] = {
    0x16,                                           /* record: handshake */
    0x03, 0x01,                                     /* record version TLS 1.0 (as clients send) */
    0x00, 0x4c,                                     /* record length 76 */
    0x01,                                           /* handshake: ClientHello */
    0x00, 0x00, 0x48,                               /* length 72 */
    0x03, 0x03,                                     /* client version TLS 1.2 */
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, /* random */
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
    0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x00, /* session id length 0 */
    0x00, 0x04,                                                             /* cipher suites length 4 */
    0x13, 0x01,                                                             /* TLS_AES_128_GCM_SHA256 */
    0xc0, 0x2f,                                    /* TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 */
    0x01, 0x00,                                    /* one compression method: null */
    0x00, 0x1b,                                    /* extensions length 27 */
    0x00, 0x00,                                    /* server_name */
    0x00, 0x10,                                    /* extension length 16 */
    0x00, 0x0e,                                    /* server name list length 14 */
    0x00,                                          /* name type host_name */
    0x00, 0x0b,                                    /* name length 11 */
    'i',  'o',  't',  '.',  'e',  'x',  'a',  'm', /* "iot.example" */
    'p',  'l',  'e',  0x00, 0x2b,                  /* supported_versions */
    0x00, 0x03,                                    /* extension length 3 */
    0x02,                                          /* list length 2 */
    0x03, 0x04,                                    /* TLS 1.3 */
};

static const uint8_t tls_server_hello[] = {
    0x16,                                           /* record: handshake */
    0x03, 0x03,                                     /* record version TLS 1.2 */
    0x00, 0x32,                                     /* record length 50 */
    0x02,                                           /* handshake: ServerHello */
    0x00, 0x00, 0x2e,                               /* length 46 */
    0x03, 0x03,                                     /* server version TLS 1.2 (legacy) */
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, /* random */
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
    0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x00, /* session id length 0 */
    0x13, 0x01, /* cipher TLS_AES_128_GCM_SHA256 */
    0x00,       /* compression null */
    0x00, 0x06, /* extensions length 6 */
    0x00, 0x2b, /* supported_versions */
    0x00, 0x02, /* extension length 2 */
    0x03, 0x04, /* TLS 1.3 */
};

/* Not a binary protocol at all. */
#define HTTP_GET "GET / HTTP/1.1\r\nHost: iot.example\r\n\r\n"

static const uint8_t tls_alert[] = {
    0x15,       /* record: alert */
    0x03, 0x03, /* TLS 1.2 */
    0x00, 0x02, /* length 2 */
    0x02, 0x28, /* fatal, handshake_failure */
};

static const uint8_t tls_ssl3_record_v2[] = {
    0x16, 0x02, 0x00, /* record version 2.0: not a TLS record */
    0x00, 0x4c, 0x01, 0x00, 0x00, 0x48, 0x03, 0x03,
};

/* ---- the sample table ---- */

struct sample {
	const char *name;
	const struct iw_parser *p;
	const uint8_t *b;
	size_t len;
	int want[2];   /* [IW_DIR_TOSERVER], [IW_DIR_TOCLIENT] */
	size_t min_ok; /* a valid sample: shorter prefixes are NEED_MORE (TCP); 0: not checked */
};

#define S(n, parser, arr, ts, tc, min)                                                                       \
	{                                                                                                    \
		n, &parser, arr, sizeof(arr), {ts, tc}, min                                                  \
	}
#define S_HTTP(n, parser)                                                                                    \
	{                                                                                                    \
		n, &parser, (const uint8_t *)HTTP_GET, sizeof(HTTP_GET) - 1, {IW_ERR, IW_ERR}, 0             \
	}

static const struct sample samples[] = {
    S("mqtt 3.1 connect", iw_parser_mqtt, mqtt31_connect, IW_OK, IW_ERR, 12),
    S("mqtt 3.1.1 connect", iw_parser_mqtt, mqtt311_connect, IW_OK, IW_ERR, 10),
    S("mqtt 5.0 connect", iw_parser_mqtt, mqtt5_connect, IW_OK, IW_ERR, 10),
    S("mqtt long connect", iw_parser_mqtt, mqtt311_connect_long, IW_OK, IW_ERR, 11),
    S("mqtt connack", iw_parser_mqtt, mqtt_connack, IW_ERR, IW_ERR, 0),
    S("mqtt reserved flag", iw_parser_mqtt, mqtt_connect_reserved_flag, IW_ERR, IW_ERR, 0),
    S("mqtt wrong level", iw_parser_mqtt, mqtt_connect_wrong_level, IW_ERR, IW_ERR, 0),
    S("mqtt 5-byte length", iw_parser_mqtt, mqtt_remaining_length_5_bytes, IW_ERR, IW_ERR, 0),
    S_HTTP("mqtt on http", iw_parser_mqtt),
    S("modbus fc3 request", iw_parser_modbus, modbus_fc3_request, IW_OK, IW_OK, sizeof(modbus_fc3_request)),
    S("modbus fc3 response", iw_parser_modbus, modbus_fc3_response, IW_OK, IW_OK,
      sizeof(modbus_fc3_response)),
    S("modbus exception", iw_parser_modbus, modbus_exception, IW_OK, IW_OK, sizeof(modbus_exception)),
    S("modbus two adus", iw_parser_modbus, modbus_two_adus, IW_OK, IW_OK, 12),
    S("modbus protocol 1", iw_parser_modbus, modbus_bad_protocol, IW_ERR, IW_ERR, 0),
    S("modbus length 300", iw_parser_modbus, modbus_length_300, IW_ERR, IW_ERR, 0),
    S("modbus unknown fc", iw_parser_modbus, modbus_unknown_function, IW_ERR, IW_ERR, 0),
    S("modbus then http", iw_parser_modbus, modbus_second_not_mbap, IW_ERR, IW_ERR, 0),
    S_HTTP("modbus on http", iw_parser_modbus),
    S("coap get", iw_parser_coap, coap_get, IW_OK, IW_OK, 0),
    S("coap empty ack", iw_parser_coap, coap_empty_ack, IW_OK, IW_OK, 0),
    S("coap post payload", iw_parser_coap, coap_post_payload, IW_OK, IW_OK, 0),
    S("coap content", iw_parser_coap, coap_content_response, IW_OK, IW_OK, 0),
    S("coap version 2", iw_parser_coap, coap_bad_version, IW_ERR, IW_ERR, 0),
    S("coap tkl 9", iw_parser_coap, coap_tkl_9, IW_ERR, IW_ERR, 0),
    S("coap delta 15", iw_parser_coap, coap_option_delta_15, IW_ERR, IW_ERR, 0),
    S("coap length 15", iw_parser_coap, coap_option_length_15, IW_ERR, IW_ERR, 0),
    S("coap marker alone", iw_parser_coap, coap_marker_no_payload, IW_ERR, IW_ERR, 0),
    S("coap option past end", iw_parser_coap, coap_option_past_end, IW_ERR, IW_ERR, 0),
    S("coap empty with token", iw_parser_coap, coap_empty_with_token, IW_ERR, IW_ERR, 0),
    S("coap class 3", iw_parser_coap, coap_class_3, IW_ERR, IW_ERR, 0),
    S("dns query", iw_parser_dns, dns_query, IW_OK, IW_OK, 0),
    S("dns response", iw_parser_dns, dns_response, IW_OK, IW_OK, 0),
    S("dns two questions", iw_parser_dns, dns_two_questions, IW_ERR, IW_ERR, 0),
    S("dns pointer in question", iw_parser_dns, dns_pointer_in_question, IW_ERR, IW_ERR, 0),
    S("dns query with answer", iw_parser_dns, dns_query_with_answer, IW_ERR, IW_ERR, 0),
    S("dns bad class", iw_parser_dns, dns_bad_class, IW_ERR, IW_ERR, 0),
    S_HTTP("dns on http", iw_parser_dns),
    S("tls client hello", iw_parser_tls, tls_client_hello, IW_OK, IW_ERR, 11),
    S("tls server hello", iw_parser_tls, tls_server_hello, IW_ERR, IW_OK, 11),
    S_HTTP("tls on http", iw_parser_tls),
    S("tls alert", iw_parser_tls, tls_alert, IW_ERR, IW_ERR, 0),
    S("tls record v2", iw_parser_tls, tls_ssl3_record_v2, IW_ERR, IW_ERR, 0),
};

#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

/* The shortest input any TCP probe may accept: MQTT fixed header + name length + "MQTT"
 * + level + flags; MBAP + function; TLS record header + handshake header + version. */
static size_t header_min(const struct iw_parser *p)
{
	if (p == &iw_parser_mqtt)
		return 10;
	if (p == &iw_parser_modbus)
		return 8;
	if (p == &iw_parser_tls)
		return 11;
	return 4; /* CoAP's fixed header */
}

static const char *rc_name(int rc)
{
	switch (rc) {
	case IW_OK:
		return "OK";
	case IW_ERR:
		return "ERR";
	case IW_NEED_MORE:
		return "NEED_MORE";
	default:
		return "???";
	}
}

static int probe(const struct sample *s, const uint8_t *b, size_t len, int dir)
{
	int rc = s->p->probe(b, len, dir);
	if (rc != IW_OK && rc != IW_ERR && rc != IW_NEED_MORE)
		fail_msg("%s: probe returned %d", s->name, rc);
	return rc;
}

static void check_sample(const struct sample *s)
{
	for (int dir = 0; dir < 2; dir++) {
		int rc = probe(s, s->b, s->len, dir);
		if (rc != s->want[dir])
			fail_msg("%s, %s: %s, want %s", s->name, dir ? "toclient" : "toserver", rc_name(rc),
			         rc_name(s->want[dir]));
	}
}

static void test_descriptors(void **state)
{
	(void)state;
	const struct iw_parser *all[] = {&iw_parser_mqtt, &iw_parser_modbus, &iw_parser_coap, &iw_parser_tls,
	                                 &iw_parser_dns};
	static const char *const names[] = {"mqtt", "modbus", "coap", "tls", "dns"};
	static const uint8_t protos[] = {6, 6, 17, 6, 17};
	static const uint16_t port[] = {1883, 502, 5683, 443, 53};
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(all[i]->name, names[i]);
		assert_int_equal(all[i]->ipproto, protos[i]);
		assert_non_null(all[i]->probe);
		bool found = false;
		for (size_t j = 0; j < 4; j++)
			found |= all[i]->ports[j] == port[i];
		assert_true(found);
		/* state_new and state_free come together */
		assert_true(!all[i]->state_new == !all[i]->state_free);
		bool listed = false;
		for (size_t j = 0; iw_parsers[j]; j++)
			listed |= iw_parsers[j] == all[i];
		assert_true(listed);
	}
}

static void test_mqtt(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSAMPLES; i++)
		if (samples[i].p == &iw_parser_mqtt)
			check_sample(&samples[i]);
}

static void test_modbus(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSAMPLES; i++)
		if (samples[i].p == &iw_parser_modbus)
			check_sample(&samples[i]);
}

static void test_coap(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSAMPLES; i++)
		if (samples[i].p == &iw_parser_coap)
			check_sample(&samples[i]);
}

static void test_dns(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSAMPLES; i++)
		if (samples[i].p == &iw_parser_dns)
			check_sample(&samples[i]);
}

static void test_tls(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSAMPLES; i++)
		if (samples[i].p == &iw_parser_tls)
			check_sample(&samples[i]);
	/* a ClientHello cut after a few bytes: too early to tell */
	assert_int_equal(iw_parser_tls.probe(tls_client_hello, 6, IW_DIR_TOSERVER), IW_NEED_MORE);
	assert_int_equal(iw_parser_tls.probe(tls_client_hello, 0, IW_DIR_TOSERVER), IW_NEED_MORE);
	assert_int_equal(iw_parser_tls.probe((const uint8_t *)"GET /", 5, IW_DIR_TOSERVER), IW_ERR);
}

/* Every prefix of every sample, in both directions, from an exact-size heap copy: no
 * crash; a TCP probe never accepts less than a header; a prefix of a valid TCP sample
 * shorter than what the probe needs is "need more", never a rejection. */
static void test_every_prefix(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];
		bool tcp = s->p->ipproto == 6;
		for (size_t len = 0; len < s->len; len++) {
			uint8_t *b = malloc(len ? len : 1);
			assert_non_null(b);
			memcpy(b, s->b, len);
			for (int dir = 0; dir < 2; dir++) {
				int rc = probe(s, b, len, dir);
				if (len < header_min(s->p) && rc == IW_OK)
					fail_msg("%s: accepted a %zu-byte prefix", s->name, len);
				if (tcp && s->want[dir] == IW_OK && len < s->min_ok && rc != IW_NEED_MORE)
					fail_msg("%s, %s: a %zu-byte prefix gave %s, want NEED_MORE", s->name,
					         dir ? "toclient" : "toserver", len, rc_name(rc));
			}
			free(b);
		}
	}
}

/* Every sample and every prefix ends flush against an unreadable page, and gets the same
 * answer as from ordinary memory. */
static void test_guard_page(void **state)
{
	(void)state;
	size_t max = 0;
	for (size_t i = 0; i < NSAMPLES; i++)
		max = samples[i].len > max ? samples[i].len : max;
	struct guard g = guard_new(max);
	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];
		for (size_t len = 0; len <= s->len; len++) {
			for (int dir = 0; dir < 2; dir++) {
				int ref = probe(s, s->b, len, dir);
				const uint8_t *b = guard_put(&g, s->b, len);
				int rc = probe(s, b, len, dir);
				if (rc != ref)
					fail_msg("%s, %zu bytes: %s against the guard page, %s otherwise",
					         s->name, len, rc_name(rc), rc_name(ref));
			}
		}
	}
	guard_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptors),  cmocka_unit_test(test_mqtt),
	    cmocka_unit_test(test_modbus),       cmocka_unit_test(test_coap),
	    cmocka_unit_test(test_tls),          cmocka_unit_test(test_dns),
	    cmocka_unit_test(test_every_prefix), cmocka_unit_test(test_guard_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
