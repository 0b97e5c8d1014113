/* test_modbus.c - tests the Modbus/TCP decoder (parsers/modbus.c): every public function
 * as request and response with exact fields, exceptions, pairing and round trip, several
 * ADUs in one call, one ADU in pieces, resynchronisation after a gap, write tracking,
 * device identification, the record it makes, every truncated prefix and a guard page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/json.h"
#include "exporters/record.h"
#include "parsers/cursor.h"
#include "parsers/parser.h"
#include "tests/unit/guard.h"

extern const struct iw_parser iw_parser_modbus;

/* ---- what the parser reported, copied out during emit ---- */

struct seen {
	struct iw_ev_modbus m;
	uint16_t values[IW_MODBUS_MAX_REGS];
	uint8_t coils[IW_MODBUS_MAX_COILS];
	struct iw_modbus_write writes[IW_MODBUS_MAX_WRITES];
	char vendor[64], product[64], revision[64];
	uint8_t object_ids[IW_MODBUS_MAX_OBJECTS];
	char record[2048]; /* the JSON record of the event */
};

static struct seen seen[16];
static unsigned n_seen;
static const char *anomalies[16];
static unsigned n_anomalies;
static struct iw_json json;

static void copy_str(char *dst, size_t cap, const char *s, size_t n)
{
	if (s == NULL)
		n = 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

static void on_emit(struct iw_parse_ctx *ctx, struct iw_event *ev)
{
	(void)ctx;
	assert_int_equal(ev->kind, IW_EV_MODBUS);
	struct seen *s = &seen[n_seen % 16];
	n_seen++;
	memset(s, 0, sizeof(*s));
	const struct iw_ev_modbus *m = &ev->u.modbus;
	s->m = *m;
	if (m->n_values)
		memcpy(s->values, m->values, m->n_values * sizeof(uint16_t));
	if (m->n_coils)
		memcpy(s->coils, m->coils, m->n_coils);
	if (m->n_writes)
		memcpy(s->writes, m->writes, m->n_writes * sizeof(m->writes[0]));
	copy_str(s->vendor, sizeof(s->vendor), m->devid.vendor_name, m->devid.vendor_name_len);
	copy_str(s->product, sizeof(s->product), m->devid.product_code, m->devid.product_code_len);
	copy_str(s->revision, sizeof(s->revision), m->devid.revision, m->devid.revision_len);
	for (unsigned i = 0; i < m->devid.n_objects; i++)
		s->object_ids[i] = m->devid.objects[i].id;
	iw_record_event(&json, NULL, ev);
	copy_str(s->record, sizeof(s->record), json.buf, json.len);
}

static void on_anomaly(struct iw_parse_ctx *ctx, const char *reason)
{
	(void)ctx;
	anomalies[n_anomalies % 16] = reason;
	n_anomalies++;
}

static void on_identity(struct iw_parse_ctx *ctx, enum iw_identity kind, const char *s, size_t n)
{
	(void)ctx;
	(void)kind;
	(void)s;
	(void)n;
}

static struct iw_parse_ctx ctx = {
    .ts_us = 1000000, .emit = on_emit, .anomaly = on_anomaly, .identity = on_identity};
static const struct iw_parser_cfg cfg = {.max_message = 65536, .max_items = 64, .payload_preview = 0};
static struct guard g;

static int setup(void **state)
{
	(void)state;
	g = guard_new(4096);
	iw_json_init(&json);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	guard_free(&g);
	iw_json_free(&json);
	return 0;
}

static void reset(void)
{
	n_seen = n_anomalies = 0;
	ctx.ts_us = 1000000;
}

/* Feeds bytes as the sensor does, each call's input flush against the guard page.
 * Returns the bytes consumed. */
static size_t feed(void *st, int dir, const uint8_t *b, size_t n)
{
	size_t used = 0;
	while (used < n) {
		const uint8_t *at = guard_put(&g, b + used, n - used);
		int rc = iw_parser_modbus.parse(st, &ctx, dir, at, n - used);
		if (rc == IW_NEED_MORE || rc == IW_ERR)
			break;
		assert_true(rc > 0 && (size_t)rc <= n - used);
		used += (size_t)rc;
	}
	return used;
}

static void *fresh(void)
{
	reset();
	return iw_parser_modbus.state_new(&cfg);
}

#define TS IW_DIR_TOSERVER
#define TC IW_DIR_TOCLIENT

/* ---- samples: MBAP (tid 2, proto 2, length 2, unit 1) then the PDU ---- */

static const uint8_t fc1_req[] = {
    0x00, 0x01, /* transaction id 1 */
    0x00, 0x00, /* protocol id 0 */
    0x00, 0x06, /* length 6 */
    0x11,       /* unit 17 */
    0x01,       /* read coils */
    0x00, 0x13, /* address 19 */
    0x00, 0x0a, /* quantity 10 */
};
static const uint8_t fc1_resp[] = {
    0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x11, /* MBAP: tid 1, length 5, unit 17 */
    0x01,                                     /* read coils */
    0x02,                                     /* byte count 2 */
    0xcd,                                     /* coils 19..26: 1 0 1 1 0 0 1 1 */
    0x01,                                     /* coils 27..28: 1 0 */
};
static const uint8_t fc2_req[] = {
    0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x01, /* MBAP: tid 2, length 6, unit 1 */
    0x02,                                     /* read discrete inputs */
    0x00, 0xc4,                               /* address 196 */
    0x00, 0x03,                               /* quantity 3 */
};
static const uint8_t fc2_resp[] = {
    0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x01, /* MBAP: tid 2, length 4 */
    0x02,                                     /* read discrete inputs */
    0x01,                                     /* byte count 1 */
    0x05,                                     /* inputs: 1 0 1 */
};
static const uint8_t fc3_req[] = {
    0x00, 0x03, 0x00, 0x00, 0x00, 0x06, 0x01, /* MBAP: tid 3, length 6 */
    0x03,                                     /* read holding registers */
    0x00, 0x6b,                               /* address 107 */
    0x00, 0x02,                               /* quantity 2 */
};
static const uint8_t fc3_resp[] = {
    0x00, 0x03, 0x00, 0x00, 0x00, 0x07, 0x01, /* MBAP: tid 3, length 7 */
    0x03,                                     /* read holding registers */
    0x04,                                     /* byte count 4 */
    0x02, 0x2b,                               /* register 107: 555 */
    0x00, 0x0c,                               /* register 108: 12 */
};
static const uint8_t fc4_req[] = {
    0x00, 0x04, 0x00, 0x00, 0x00, 0x06, 0x01, /* MBAP: tid 4, length 6 */
    0x04,                                     /* read input registers */
    0x00, 0x08,                               /* address 8 */
    0x00, 0x01,                               /* quantity 1 */
};
static const uint8_t fc4_resp[] = {
    0x00, 0x04, 0x00, 0x00, 0x00, 0x05, 0x01, /* MBAP: tid 4, length 5 */
    0x04,                                     /* read input registers */
    0x02,                                     /* byte count 2 */
    0x00, 0x0a,                               /* register 8: 10 */
};
static const uint8_t fc5_req[] = {
    0x00, 0x05, 0x00, 0x00, 0x00, 0x06, 0x11, /* MBAP: tid 5, length 6, unit 17 */
    0x05,                                     /* write single coil */
    0x00, 0x14,                               /* address 20 (read as 0 above) */
    0xff, 0x00,                               /* on */
};
static const uint8_t fc5_resp[] = {
    0x00, 0x05, 0x00, 0x00, 0x00, 0x06, 0x11, /* MBAP: the echo */
    0x05, 0x00, 0x14, 0xff, 0x00,
};
static const uint8_t fc5_bad[] = {
    0x00, 0x06, 0x00, 0x00, 0x00, 0x06, 0x11, /* MBAP: tid 6 */
    0x05,                                     /* write single coil */
    0x00, 0x14,                               /* address 20 */
    0x12, 0x34,                               /* neither 0xff00 nor 0x0000 */
};
static const uint8_t fc6_req[] = {
    0x00, 0x07, 0x00, 0x00, 0x00, 0x06, 0x01, /* MBAP: tid 7, length 6 */
    0x06,                                     /* write single register */
    0x00, 0x6b,                               /* address 107 (read as 555 above) */
    0x00, 0x03,                               /* value 3 */
};
static const uint8_t fc6_resp[] = {
    0x00, 0x07, 0x00, 0x00, 0x00, 0x06, 0x01, /* MBAP: the echo */
    0x06, 0x00, 0x6b, 0x00, 0x03,
};
static const uint8_t fc7_resp[] = {
    0x00, 0x08, 0x00, 0x00, 0x00, 0x03, 0x01, /* MBAP: tid 8, length 3 */
    0x07,                                     /* read exception status */
    0x6d,                                     /* output data */
};
static const uint8_t fc8_req[] = {
    0x00, 0x09, 0x00, 0x00, 0x00, 0x06, 0x01, /* MBAP: tid 9, length 6 */
    0x08,                                     /* diagnostics */
    0x00, 0x00,                               /* return query data */
    0xa5, 0x37,                               /* data */
};
static const uint8_t fc11_resp[] = {
    0x00, 0x0a, 0x00, 0x00, 0x00, 0x06, 0x01, /* MBAP: tid 10, length 6 */
    0x0b,                                     /* get comm event counter */
    0xff, 0xff,                               /* status: busy */
    0x01, 0x08,                               /* event count 264 */
};
static const uint8_t fc12_resp[] = {
    0x00, 0x0b, 0x00, 0x00, 0x00, 0x0b, 0x01, /* MBAP: tid 11, length 11 */
    0x0c,                                     /* get comm event log */
    0x08,                                     /* byte count 8 */
    0x00, 0x00,                               /* status */
    0x01, 0x08,                               /* event count 264 */
    0x01, 0x21,                               /* message count 289 */
    0x20, 0x00,                               /* events */
};
static const uint8_t fc15_req[] = {
    0x00, 0x0c, 0x00, 0x00, 0x00, 0x09, 0x11, /* MBAP: tid 12, length 9, unit 17 */
    0x0f,                                     /* write multiple coils */
    0x00, 0x13,                               /* address 19 */
    0x00, 0x0a,                               /* quantity 10 */
    0x02,                                     /* byte count 2 */
    0xcd, 0x01,                               /* 1 0 1 1 0 0 1 1, 1 0 */
};
static const uint8_t fc16_req[] = {
    0x00, 0x0d, 0x00, 0x00, 0x00, 0x0b, 0x01, /* MBAP: tid 13, length 11 */
    0x10,                                     /* write multiple registers */
    0x00, 0x01,                               /* address 1 */
    0x00, 0x02,                               /* quantity 2 */
    0x04,                                     /* byte count 4 */
    0x00, 0x0a,                               /* 10 */
    0x01, 0x02,                               /* 258 */
};
static const uint8_t fc16_bad[] = {
    0x00, 0x0e, 0x00, 0x00, 0x00, 0x0b, 0x01, /* MBAP: tid 14, length 11 */
    0x10,                                     /* write multiple registers */
    0x00, 0x01,                               /* address 1 */
    0x00, 0x03,                               /* quantity 3 ... */
    0x04,                                     /* ... but byte count 4 */
    0x00, 0x0a, 0x01, 0x02,
};
static const uint8_t fc17_resp[] = {
    0x00, 0x0f, 0x00, 0x00, 0x00, 0x08, 0x01, /* MBAP: tid 15, length 8 */
    0x11,                                     /* report server id */
    0x05,                                     /* byte count 5 */
    'P',  'L',  'C',  '1',                    /* server id */
    0xff,                                     /* run indicator: on */
};
static const uint8_t fc20_req[] = {
    0x00, 0x10, 0x00, 0x00, 0x00, 0x11, 0x01, /* MBAP: tid 16, length 17 */
    0x14,                                     /* read file record */
    0x0e,                                     /* byte count 14 */
    0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, /* type 6, file 4, record 1, length 2 */
    0x06, 0x00, 0x03, 0x00, 0x09, 0x00, 0x02, /* type 6, file 3, record 9, length 2 */
};
static const uint8_t fc22_req[] = {
    0x00, 0x11, 0x00, 0x00, 0x00, 0x08, 0x01, /* MBAP: tid 17, length 8 */
    0x16,                                     /* mask write register */
    0x00, 0x04,                               /* address 4 */
    0x00, 0xf2,                               /* and mask */
    0x00, 0x25,                               /* or mask */
};
static const uint8_t fc23_req[] = {
    0x00, 0x12, 0x00, 0x00, 0x00, 0x0f, 0x01, /* MBAP: tid 18, length 15 */
    0x17,                                     /* read/write multiple registers */
    0x00, 0x03,                               /* read address 3 */
    0x00, 0x02,                               /* read quantity 2 */
    0x00, 0x0e,                               /* write address 14 */
    0x00, 0x02,                               /* write quantity 2 */
    0x04,                                     /* byte count 4 */
    0x00, 0xff, 0x00, 0xfe,                   /* 255, 254 */
};
static const uint8_t fc23_resp[] = {
    0x00, 0x12, 0x00, 0x00, 0x00, 0x07, 0x01, /* MBAP: tid 18, length 7 */
    0x17,                                     /* read/write multiple registers */
    0x04,                                     /* byte count 4 */
    0x00, 0xfe, 0x0a, 0xcd,                   /* 254, 2765 */
};
static const uint8_t fc24_resp[] = {
    0x00, 0x13, 0x00, 0x00, 0x00, 0x0a, 0x01, /* MBAP: tid 19, length 10 */
    0x18,                                     /* read fifo queue */
    0x00, 0x06,                               /* byte count 6 */
    0x00, 0x02,                               /* fifo count 2 */
    0x01, 0xb8, 0x12, 0x84,                   /* 440, 4740 */
};
static const uint8_t fc43_req[] = {
    0x00, 0x14, 0x00, 0x00, 0x00, 0x05, 0x01, /* MBAP: tid 20, length 5 */
    0x2b,                                     /* encapsulated interface transport */
    0x0e,                                     /* MEI 14: read device identification */
    0x01,                                     /* read code 1: basic */
    0x00,                                     /* object id 0 */
};
static const uint8_t fc43_resp[] = {
    0x00, 0x14, 0x00, 0x00, 0x00, 0x19, 0x01, /* MBAP: tid 20, length 25 */
    0x2b, 0x0e,                               /* FC 43, MEI 14 */
    0x01,                                     /* read code 1 */
    0x81,                                     /* conformity level 0x81 */
    0x00,                                     /* more follows: no */
    0x00,                                     /* next object id */
    0x03,                                     /* 3 objects */
    0x00, 0x04, 'A',  'c',  'm',  'e',        /* VendorName "Acme" */
    0x01, 0x03, 'P',  '-',  '1',              /* ProductCode "P-1" */
    0x02, 0x04, 'v',  '2',  '.',  '1',        /* MajorMinorRevision "v2.1" */
};
static const uint8_t fc90_req[] = {
    0x00, 0x15, 0x00, 0x00, 0x00, 0x04, 0x01, /* MBAP: tid 21, length 4 */
    0x5a,                                     /* Schneider UMAS */
    0x00,                                     /* session */
    0x02,                                     /* UMAS function: read PLC id */
};
static const uint8_t exc_resp[] = {
    0x00, 0x03, 0x00, 0x00, 0x00, 0x03, 0x01, /* MBAP: tid 3, length 3 */
    0x83,                                     /* read holding registers | 0x80 */
    0x02,                                     /* illegal data address */
};

/* ---- tests ---- */

static void test_reads(void **state)
{
	(void)state;
	void *st = fresh();
	feed(st, TS, fc1_req, sizeof(fc1_req));
	assert_int_equal(n_seen, 1);
	struct iw_ev_modbus *m = &seen[0].m;
	assert_int_equal(m->type, IW_MODBUS_REQUEST);
	assert_int_equal(m->transaction_id, 1);
	assert_int_equal(m->unit_id, 17);
	assert_int_equal(m->function, 1);
	assert_string_equal(m->function_name, "read_coils");
	assert_true(m->has_address && m->has_quantity);
	assert_int_equal(m->address, 19);
	assert_int_equal(m->quantity, 10);
	assert_null(m->malformed);
	assert_non_null(strstr(
	    seen[0].record, "\"modbus\":{\"type\":\"request\",\"transaction_id\":1,"
	                    "\"unit_id\":17,\"function\":1,\"function_name\":\"read_coils\",\"address\":19,"
	                    "\"quantity\":10}}"));

	ctx.ts_us += 250;
	feed(st, TC, fc1_resp, sizeof(fc1_resp));
	assert_int_equal(n_seen, 2);
	m = &seen[1].m;
	assert_int_equal(m->type, IW_MODBUS_RESPONSE);
	assert_int_equal(m->byte_count, 2);
	assert_int_equal(m->n_coils, 10);
	static const uint8_t want[10] = {1, 0, 1, 1, 0, 0, 1, 1, 1, 0};
	assert_memory_equal(seen[1].coils, want, 10);
	assert_true(m->has_request);
	assert_int_equal(m->req_function, 1);
	assert_int_equal(m->req_address, 19);
	assert_int_equal(m->req_quantity, 10);
	assert_int_equal(m->rtt_us, 250);

	feed(st, TS, fc2_req, sizeof(fc2_req));
	feed(st, TC, fc2_resp, sizeof(fc2_resp));
	m = &seen[3].m;
	assert_string_equal(m->function_name, "read_discrete_inputs");
	assert_int_equal(m->n_coils, 3);
	assert_int_equal(seen[3].coils[0], 1);
	assert_int_equal(seen[3].coils[1], 0);
	assert_int_equal(seen[3].coils[2], 1);

	feed(st, TS, fc3_req, sizeof(fc3_req));
	feed(st, TC, fc3_resp, sizeof(fc3_resp));
	m = &seen[5].m;
	assert_string_equal(m->function_name, "read_holding_registers");
	assert_int_equal(m->n_values, 2);
	assert_int_equal(seen[5].values[0], 555);
	assert_int_equal(seen[5].values[1], 12);
	assert_non_null(strstr(seen[5].record,
	                       "\"values\":[555,12],\"request\":{\"function\":3,\"address\":107,"
	                       "\"quantity\":2},\"rtt_us\":0"));

	feed(st, TS, fc4_req, sizeof(fc4_req));
	feed(st, TC, fc4_resp, sizeof(fc4_resp));
	m = &seen[7].m;
	assert_string_equal(m->function_name, "read_input_registers");
	assert_int_equal(m->n_values, 1);
	assert_int_equal(seen[7].values[0], 10);
	assert_int_equal(n_anomalies, 0);
	iw_parser_modbus.state_free(st);
}

static void test_writes_and_tracking(void **state)
{
	(void)state;
	void *st = fresh();
	/* known values first: coils 19..28 and registers 107..108 */
	feed(st, TS, fc1_req, sizeof(fc1_req));
	feed(st, TC, fc1_resp, sizeof(fc1_resp));
	feed(st, TS, fc3_req, sizeof(fc3_req));
	feed(st, TC, fc3_resp, sizeof(fc3_resp));
	n_seen = 0;

	feed(st, TS, fc5_req, sizeof(fc5_req));
	struct iw_ev_modbus *m = &seen[0].m;
	assert_string_equal(m->function_name, "write_single_coil");
	assert_int_equal(m->address, 20);
	assert_int_equal(m->n_writes, 1);
	assert_int_equal(seen[0].writes[0].address, 20);
	assert_true(seen[0].writes[0].has_old);
	assert_int_equal(seen[0].writes[0].old_value, 0);
	assert_int_equal(seen[0].writes[0].new_value, 1);
	feed(st, TC, fc5_resp, sizeof(fc5_resp));
	assert_int_equal(seen[1].m.type, IW_MODBUS_RESPONSE);
	assert_int_equal(seen[1].m.n_coils, 1);
	assert_int_equal(seen[1].coils[0], 1);

	feed(st, TS, fc5_bad, sizeof(fc5_bad));
	assert_string_equal(seen[2].m.malformed, "coil_value");
	assert_int_equal(n_anomalies, 1);
	assert_string_equal(anomalies[0], "modbus.coil_value");

	feed(st, TS, fc6_req, sizeof(fc6_req));
	m = &seen[3].m;
	assert_string_equal(m->function_name, "write_single_register");
	assert_int_equal(m->n_writes, 1);
	assert_true(seen[3].writes[0].has_old);
	assert_int_equal(seen[3].writes[0].old_value, 555);
	assert_int_equal(seen[3].writes[0].new_value, 3);
	assert_non_null(strstr(seen[3].record, "\"writes\":[{\"address\":107,\"old\":555,\"new\":3}]"));
	feed(st, TC, fc6_resp, sizeof(fc6_resp));
	assert_int_equal(seen[4].m.values_total, 1);
	assert_int_equal(seen[4].values[0], 3);

	/* the same register again: old is what was just written */
	feed(st, TS, fc6_req, sizeof(fc6_req));
	assert_int_equal(seen[5].writes[0].old_value, 3);

	feed(st, TS, fc15_req, sizeof(fc15_req));
	m = &seen[6].m;
	assert_string_equal(m->function_name, "write_multiple_coils");
	assert_int_equal(m->address, 19);
	assert_int_equal(m->quantity, 10);
	assert_int_equal(m->byte_count, 2);
	assert_int_equal(m->n_writes, 10);
	assert_int_equal(seen[6].writes[1].address, 20);
	assert_int_equal(seen[6].writes[1].old_value, 1); /* set by FC 5 */
	assert_int_equal(seen[6].writes[1].new_value, 0);

	feed(st, TS, fc16_req, sizeof(fc16_req));
	m = &seen[7].m;
	assert_int_equal(m->n_writes, 2);
	assert_false(seen[7].writes[0].has_old);
	assert_int_equal(seen[7].writes[0].address, 1);
	assert_int_equal(seen[7].writes[0].new_value, 10);
	assert_int_equal(seen[7].writes[1].new_value, 258);
	assert_non_null(
	    strstr(seen[7].record, "\"writes\":[{\"address\":1,\"new\":10},{\"address\":2,\"new\":258}]"));

	feed(st, TS, fc16_bad, sizeof(fc16_bad));
	assert_string_equal(seen[8].m.malformed, "byte_count");
	assert_int_equal(seen[8].m.n_writes, 0);

	/* FC 22 on a register whose value is known: (0x0012 & 0xf2) | (0x25 & ~0xf2) = 0x17 */
	static const uint8_t set4[] = {0x00, 0x20, 0x00, 0x00, 0x00, 0x06,
	                               0x01, 0x06, 0x00, 0x04, 0x00, 0x12};
	feed(st, TS, set4, sizeof(set4));
	feed(st, TS, fc22_req, sizeof(fc22_req));
	m = &seen[10].m;
	assert_string_equal(m->function_name, "mask_write_register");
	assert_true(m->has_masks);
	assert_int_equal(m->and_mask, 0xf2);
	assert_int_equal(m->or_mask, 0x25);
	assert_int_equal(m->n_writes, 1);
	assert_int_equal(seen[10].writes[0].old_value, 0x12);
	assert_int_equal(seen[10].writes[0].new_value, 0x17);

	/* FC 23: writes 14, 15, then the read of 3, 4 */
	feed(st, TS, fc23_req, sizeof(fc23_req));
	m = &seen[11].m;
	assert_int_equal(m->address, 3);
	assert_int_equal(m->quantity, 2);
	assert_true(m->has_write_range);
	assert_int_equal(m->write_address, 14);
	assert_int_equal(m->write_quantity, 2);
	assert_int_equal(m->n_writes, 2);
	assert_int_equal(seen[11].writes[0].address, 14);
	assert_int_equal(seen[11].writes[0].new_value, 255);
	feed(st, TC, fc23_resp, sizeof(fc23_resp));
	assert_int_equal(seen[12].m.n_values, 2);
	assert_int_equal(seen[12].values[1], 2765);
	assert_int_equal(seen[12].m.req_address, 3);
	iw_parser_modbus.state_free(st);
}

static void test_other_functions(void **state)
{
	(void)state;
	void *st = fresh();
	feed(st, TC, fc7_resp, sizeof(fc7_resp));
	assert_string_equal(seen[0].m.function_name, "read_exception_status");
	assert_true(seen[0].m.has_status);
	assert_int_equal(seen[0].m.status, 0x6d);
	assert_false(seen[0].m.has_request);

	feed(st, TS, fc8_req, sizeof(fc8_req));
	assert_string_equal(seen[1].m.function_name, "diagnostics");
	assert_int_equal(seen[1].m.sub_function, 0);
	assert_string_equal(seen[1].m.sub_function_name, "return_query_data");
	assert_int_equal(seen[1].values[0], 0xa537);

	feed(st, TC, fc11_resp, sizeof(fc11_resp));
	assert_string_equal(seen[2].m.function_name, "get_comm_event_counter");
	assert_int_equal(seen[2].m.status, 0xffff);
	assert_int_equal(seen[2].m.event_count, 264);

	feed(st, TC, fc12_resp, sizeof(fc12_resp));
	assert_string_equal(seen[3].m.function_name, "get_comm_event_log");
	assert_int_equal(seen[3].m.event_count, 264);
	assert_int_equal(seen[3].m.message_count, 289);
	assert_null(seen[3].m.malformed);

	feed(st, TC, fc17_resp, sizeof(fc17_resp));
	assert_string_equal(seen[4].m.function_name, "report_server_id");
	assert_int_equal(seen[4].m.server_id_len, 4);
	assert_true(seen[4].m.has_run_indicator && seen[4].m.run_indicator);
	assert_non_null(strstr(seen[4].record, "\"server_id\":\"PLC1\",\"run_indicator\":true"));

	feed(st, TS, fc20_req, sizeof(fc20_req));
	assert_string_equal(seen[5].m.function_name, "read_file_record");
	assert_int_equal(seen[5].m.files_total, 2);
	assert_non_null(
	    strstr(seen[5].record, "{\"reference_type\":6,\"file\":3,\"record\":9,\"length\":2}"));

	feed(st, TC, fc24_resp, sizeof(fc24_resp));
	assert_string_equal(seen[6].m.function_name, "read_fifo_queue");
	assert_int_equal(seen[6].m.n_values, 2);
	assert_int_equal(seen[6].values[0], 440);
	assert_int_equal(seen[6].values[1], 4740);

	feed(st, TS, fc90_req, sizeof(fc90_req));
	assert_int_equal(seen[7].m.function, 90);
	assert_string_equal(seen[7].m.function_name, "umas");
	assert_true(seen[7].m.has_umas_session);
	assert_int_equal(seen[7].m.sub_function, 2);
	assert_non_null(strstr(seen[7].record, "\"umas_function\":2,\"umas_session\":0"));

	/* a user-defined function: by number, data left alone */
	static const uint8_t fc65[] = {0x00, 0x30, 0x00, 0x00, 0x00, 0x04, 0x01, 0x41, 0xde, 0xad};
	feed(st, TS, fc65, sizeof(fc65));
	assert_int_equal(seen[8].m.function, 65);
	assert_string_equal(seen[8].m.function_name, "user_defined");
	assert_null(seen[8].m.malformed);
	assert_int_equal(n_anomalies, 0);
	iw_parser_modbus.state_free(st);
}

static void test_exception(void **state)
{
	(void)state;
	void *st = fresh();
	feed(st, TS, fc3_req, sizeof(fc3_req));
	ctx.ts_us += 40;
	feed(st, TC, exc_resp, sizeof(exc_resp));
	struct iw_ev_modbus *m = &seen[1].m;
	assert_int_equal(m->type, IW_MODBUS_EXCEPTION);
	assert_int_equal(m->function, 3);
	assert_int_equal(m->exception_code, 2);
	assert_string_equal(m->exception, "illegal_data_address");
	assert_true(m->has_request);
	assert_int_equal(m->rtt_us, 40);
	assert_non_null(
	    strstr(seen[1].record,
	           "\"modbus\":{\"type\":\"exception\",\"transaction_id\":3,"
	           "\"unit_id\":1,\"function\":3,\"function_name\":\"read_holding_registers\","
	           "\"exception_code\":2,\"exception\":\"illegal_data_address\",\"request\":{\"function\":3,"
	           "\"address\":107,\"quantity\":2},\"rtt_us\":40}}"));
	/* a refused write leaves the register's value unknown */
	feed(st, TS, fc6_req, sizeof(fc6_req));
	static const uint8_t exc6[] = {0x00, 0x07, 0x00, 0x00, 0x00, 0x03, 0x01, 0x86, 0x04};
	feed(st, TC, exc6, sizeof(exc6));
	assert_string_equal(seen[3].m.exception, "server_device_failure");
	feed(st, TS, fc6_req, sizeof(fc6_req));
	assert_false(seen[4].writes[0].has_old);
	iw_parser_modbus.state_free(st);
}

static void test_device_identification(void **state)
{
	(void)state;
	void *st = fresh();
	feed(st, TS, fc43_req, sizeof(fc43_req));
	struct iw_ev_modbus *m = &seen[0].m;
	assert_string_equal(m->function_name, "encapsulated_interface_transport");
	assert_int_equal(m->sub_function, 14);
	assert_string_equal(m->sub_function_name, "read_device_identification");
	assert_true(m->has_devid);
	assert_int_equal(m->devid.read_code, 1);
	assert_int_equal(m->devid.object_id, 0);

	feed(st, TC, fc43_resp, sizeof(fc43_resp));
	m = &seen[1].m;
	assert_null(m->malformed);
	assert_int_equal(m->devid.conformity_level, 0x81);
	assert_false(m->devid.more_follows);
	assert_int_equal(m->devid.n_objects, 3);
	assert_string_equal(seen[1].vendor, "Acme");
	assert_string_equal(seen[1].product, "P-1");
	assert_string_equal(seen[1].revision, "v2.1");
	assert_int_equal(seen[1].object_ids[2], 2);
	assert_non_null(
	    strstr(seen[1].record,
	           "\"device_identification\":{\"read_code\":1,\"conformity_level\":129,\"more_follows\":"
	           "false,\"next_object_id\":0,\"vendor_name\":\"Acme\",\"product_code\":\"P-1\","
	           "\"revision\":\"v2.1\",\"objects\":[{\"id\":0,\"name\":\"VendorName\",\"value\":"
	           "\"Acme\"},{\"id\":1,\"name\":\"ProductCode\",\"value\":\"P-1\"},{\"id\":2,\"name\":"
	           "\"MajorMinorRevision\",\"value\":\"v2.1\"}]}"));
	iw_parser_modbus.state_free(st);
}

static void test_stream(void **state)
{
	(void)state;
	void *st = fresh();
	/* three ADUs in one call */
	uint8_t b[64];
	size_t n = 0;
	memcpy(b + n, fc1_req, sizeof(fc1_req));
	n += sizeof(fc1_req);
	memcpy(b + n, fc3_req, sizeof(fc3_req));
	n += sizeof(fc3_req);
	memcpy(b + n, fc16_req, sizeof(fc16_req));
	n += sizeof(fc16_req);
	assert_int_equal(feed(st, TS, b, n), n);
	assert_int_equal(n_seen, 3);
	assert_int_equal(seen[2].m.function, 16);

	/* one ADU in pieces: IW_NEED_MORE until it is whole */
	n_seen = 0;
	for (size_t i = 1; i < sizeof(fc3_resp); i++) {
		const uint8_t *at = guard_put(&g, fc3_resp, i);
		assert_int_equal(iw_parser_modbus.parse(st, &ctx, TC, at, i), IW_NEED_MORE);
	}
	assert_int_equal(n_seen, 0);
	assert_int_equal(feed(st, TC, fc3_resp, sizeof(fc3_resp)), sizeof(fc3_resp));
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].values[0], 555);
	iw_parser_modbus.state_free(st);
}

static void test_resync(void **state)
{
	(void)state;
	void *st = fresh();
	/* a gap: the stream picks up in the middle of an ADU, then a whole one */
	iw_parser_modbus.gap(st, &ctx, TS, 100);
	uint8_t b[64];
	size_t n = 0;
	memcpy(b, fc16_req + 5, sizeof(fc16_req) - 5); /* the tail of an ADU */
	n = sizeof(fc16_req) - 5;
	memcpy(b + n, fc3_req, sizeof(fc3_req));
	n += sizeof(fc3_req);
	assert_int_equal(feed(st, TS, b, n), n);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].m.function, 3);
	assert_int_equal(seen[0].m.address, 107);

	/* a broken header in sync: protocol id 1, counted, then the next ADU is found */
	n_seen = n_anomalies = 0;
	memcpy(b, fc1_req, sizeof(fc1_req));
	b[3] = 1; /* protocol id 1 (the test's own buffer) */
	memcpy(b + sizeof(fc1_req), fc4_req, sizeof(fc4_req));
	n = sizeof(fc1_req) + sizeof(fc4_req);
	assert_int_equal(feed(st, TS, b, n), n);
	assert_int_equal(n_anomalies, 1);
	assert_string_equal(anomalies[0], "modbus.protocol_id");
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].m.function, 4);

	/* a length of 255 is framed and flagged, 300 is lost sync */
	n_seen = n_anomalies = 0;
	uint8_t big[6 + 255] = {0x00, 0x40, 0x00, 0x00, 0x00, 0xff, 0x01, 0x5a, 0x00, 0xfe};
	assert_int_equal(feed(st, TC, big, sizeof(big)), sizeof(big));
	assert_int_equal(n_seen, 1);
	assert_string_equal(seen[0].m.malformed, "length");
	static const uint8_t huge[] = {0x00, 0x41, 0x00, 0x00, 0x01, 0x2c, 0x01, 0x03, 0x00};
	assert_int_equal(feed(st, TC, huge, sizeof(huge)), 2); /* then waits for 8 bytes */
	assert_string_equal(anomalies[1], "modbus.length");
	iw_parser_modbus.end(st, &ctx);
	iw_parser_modbus.state_free(st);
}

static void test_truncated(void **state)
{
	(void)state;
	void *st = fresh();
	/* the MBAP length cuts the PDU short: an event, flagged */
	static const uint8_t short3[] = {0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x01, 0x03, 0x00, 0x6b};
	feed(st, TS, short3, sizeof(short3));
	assert_int_equal(n_seen, 1);
	assert_string_equal(seen[0].m.malformed, "truncated");
	assert_string_equal(anomalies[0], "modbus.truncated");
	/* byte count disagreeing with the request's quantity */
	feed(st, TS, fc3_req, sizeof(fc3_req));
	static const uint8_t resp1[] = {0x00, 0x03, 0x00, 0x00, 0x00, 0x05, 0x01, 0x03, 0x02, 0x00, 0x01};
	feed(st, TC, resp1, sizeof(resp1));
	assert_string_equal(seen[2].m.malformed, "byte_count");
	iw_parser_modbus.state_free(st);
}

static const struct sample {
	const uint8_t *b;
	size_t n;
	int dir;
} samples[] = {
#define S(a, d)                                                                                              \
	{                                                                                                    \
		a, sizeof(a), d                                                                              \
	}
    S(fc1_req, TS),   S(fc1_resp, TC),  S(fc2_req, TS),   S(fc2_resp, TC),  S(fc3_req, TS),   S(fc3_resp, TC),
    S(fc4_req, TS),   S(fc4_resp, TC),  S(fc5_req, TS),   S(fc5_resp, TC),  S(fc5_bad, TS),   S(fc6_req, TS),
    S(fc6_resp, TC),  S(fc7_resp, TC),  S(fc8_req, TS),   S(fc11_resp, TC), S(fc12_resp, TC), S(fc15_req, TS),
    S(fc16_req, TS),  S(fc16_bad, TS),  S(fc17_resp, TC), S(fc20_req, TS),  S(fc22_req, TS),  S(fc23_req, TS),
    S(fc23_resp, TC), S(fc24_resp, TC), S(fc43_req, TS),  S(fc43_resp, TC), S(fc90_req, TS),  S(exc_resp, TC),
#undef S
};

/* Every prefix of every sample, flush against the guard page, both as a stream
 * (NEED_MORE or whole) and with the MBAP length cut to the prefix (a truncated PDU). */
static void test_every_prefix(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(samples) / sizeof(samples[0]); k++) {
		const struct sample *s = &samples[k];
		for (size_t i = 0; i <= s->n; i++) {
			void *st = fresh();
			const uint8_t *at = guard_put(&g, s->b, i);
			int rc = iw_parser_modbus.parse(st, &ctx, s->dir, at, i);
			if (i < s->n)
				assert_int_equal(rc, IW_NEED_MORE);
			else
				assert_int_equal(rc, (int)s->n);
			if (i >= 8) {
				uint8_t cut[300];
				memcpy(cut, s->b, i);
				cut[4] = 0;
				cut[5] = (uint8_t)(i - 6); /* the length says the PDU ends here */
				at = guard_put(&g, cut, i);
				assert_int_equal(iw_parser_modbus.parse(st, &ctx, s->dir, at, i), (int)i);
				/* and the other way round: a response parsed as a request */
				at = guard_put(&g, cut, i);
				assert_int_equal(iw_parser_modbus.parse(st, &ctx, !s->dir, at, i), (int)i);
			}
			iw_parser_modbus.end(st, &ctx);
			iw_parser_modbus.state_free(st);
		}
	}
}

/* Pairing table and tracking table under pressure: bounded, no crash, oldest out. */
static void test_bounds(void **state)
{
	(void)state;
	void *st = fresh();
	uint8_t req[12];
	memcpy(req, fc6_req, sizeof(req));
	for (unsigned i = 0; i < 10000; i++) {
		req[0] = (uint8_t)(i >> 8); /* transaction id i */
		req[1] = (uint8_t)i;
		req[8] = (uint8_t)(i >> 8); /* address i */
		req[9] = (uint8_t)i;
		feed(st, TS, req, sizeof(req));
	}
	assert_int_equal(n_seen, 10000);
	/* the last request is still pending, the first long gone */
	uint8_t resp[12];
	memcpy(resp, fc6_resp, sizeof(resp));
	resp[0] = (uint8_t)(9999 >> 8);
	resp[1] = (uint8_t)9999;
	feed(st, TC, resp, sizeof(resp));
	assert_true(seen[10000 % 16].m.has_request);
	resp[0] = resp[1] = 0;
	feed(st, TC, resp, sizeof(resp));
	assert_false(seen[10001 % 16].m.has_request);
	/* register 9999 was written last and is remembered */
	req[8] = (uint8_t)(9999 >> 8);
	req[9] = (uint8_t)9999;
	feed(st, TS, req, sizeof(req));
	assert_true(seen[10002 % 16].writes[0].has_old);
	assert_int_equal(seen[10002 % 16].writes[0].old_value, 3);
	iw_parser_modbus.state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads),
	    cmocka_unit_test(test_writes_and_tracking),
	    cmocka_unit_test(test_other_functions),
	    cmocka_unit_test(test_exception),
	    cmocka_unit_test(test_device_identification),
	    cmocka_unit_test(test_stream),
	    cmocka_unit_test(test_resync),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_every_prefix),
	    cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
