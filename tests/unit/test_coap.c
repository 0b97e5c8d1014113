/* test_coap.c - the CoAP decoder (parsers/coap.c): header, token, options with their 13
 * and 14 extended forms, request/response matching (piggybacked and separate), Observe,
 * block-wise, LwM2M registration and Firmware Update, malformed messages, limits, and
 * every truncated prefix of every sample flush against a guard page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "parsers/event.h"
#include "parsers/parser.h"

extern const struct iw_parser iw_parser_coap;

/* ---- what the parser reported, copied out of each event ---- */

struct seen {
	char type[16], msg_type[4], method[8], status[32], malformed[32];
	uint8_t code;
	uint16_t mid;
	char token[17];
	char uri[128], location[64], req_method[8], req_uri[128], preview[32];
	bool matched, separate;
	uint64_t rtt_us;
	uint32_t payload_length;
	unsigned n_opts, dropped;
	uint32_t opt_num[8], opt_len[8], opt_uint[8];
	char opt_name[8][20];
	bool has_observe;
	uint32_t observe;
	char observe_action[16];
	struct iw_coap_block b1, b2;
	bool lwm2m;
	int32_t obj, inst, res;
	char obj_name[32], res_name[32], op[16];
	bool fw;
	char reg_action[12], ep[16], lt[8], version[8], binding[4];
	char bt_dir[12];
	uint32_t bt_blocks;
	uint64_t bt_total;
	int32_t content_format;
};

static struct seen evs[16];
static unsigned n_evs, n_anom;
static const char *last_anom;
static char ident[32];

static void cp(char *dst, size_t cap, const char *s, size_t n)
{
	if (s == NULL) {
		dst[0] = '\0';
		return;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}
#define CPS(dst, s) cp(dst, sizeof(dst), s, (s) ? strlen(s) : 0)

static void on_emit(struct iw_parse_ctx *ctx, struct iw_event *ev)
{
	(void)ctx;
	assert_int_equal(ev->kind, IW_EV_COAP);
	if (n_evs >= 16)
		return;
	const struct iw_ev_coap *c = &ev->u.coap;
	struct seen *s = &evs[n_evs++];
	memset(s, 0, sizeof(*s));
	CPS(s->type, c->type);
	CPS(s->msg_type, c->msg_type);
	CPS(s->method, c->method);
	CPS(s->status, c->status);
	CPS(s->malformed, c->malformed);
	s->code = c->code;
	s->mid = c->message_id;
	for (unsigned i = 0; i < c->token_len && i < 8; i++) {
		s->token[2 * i] = "0123456789abcdef"[c->token[i] >> 4];
		s->token[2 * i + 1] = "0123456789abcdef"[c->token[i] & 15];
	}
	cp(s->uri, sizeof(s->uri), c->uri, c->uri_len);
	cp(s->location, sizeof(s->location), c->location, c->location_len);
	CPS(s->req_method, c->req_method);
	cp(s->req_uri, sizeof(s->req_uri), c->req_uri, c->req_uri_len);
	cp(s->preview, sizeof(s->preview), c->preview, c->preview_len);
	s->matched = c->matched;
	s->separate = c->separate;
	s->rtt_us = c->rtt_us;
	s->payload_length = c->payload_length;
	s->n_opts = c->n_opts;
	s->dropped = c->opts_dropped;
	for (unsigned i = 0; i < c->n_opts && i < 8; i++) {
		s->opt_num[i] = c->opts[i].number;
		s->opt_len[i] = c->opts[i].len;
		s->opt_uint[i] = c->opts[i].uint_value;
		CPS(s->opt_name[i], c->opts[i].name);
	}
	s->has_observe = c->has_observe;
	s->observe = c->observe;
	CPS(s->observe_action, c->observe_action);
	s->b1 = c->block1;
	s->b2 = c->block2;
	s->lwm2m = c->lwm2m.present;
	s->obj = c->lwm2m.object;
	s->inst = c->lwm2m.instance;
	s->res = c->lwm2m.resource;
	CPS(s->obj_name, c->lwm2m.object_name);
	CPS(s->res_name, c->lwm2m.resource_name);
	CPS(s->op, c->lwm2m.operation);
	s->fw = c->lwm2m.firmware_update;
	CPS(s->reg_action, c->reg.action);
	cp(s->ep, sizeof(s->ep), c->reg.ep, c->reg.ep_len);
	cp(s->lt, sizeof(s->lt), c->reg.lifetime, c->reg.lifetime_len);
	cp(s->version, sizeof(s->version), c->reg.version, c->reg.version_len);
	cp(s->binding, sizeof(s->binding), c->reg.binding, c->reg.binding_len);
	CPS(s->bt_dir, c->bt_direction);
	s->bt_blocks = c->bt_blocks;
	s->bt_total = c->bt_total;
	s->content_format = c->content_format;
}

static void on_anomaly(struct iw_parse_ctx *ctx, const char *reason)
{
	(void)ctx;
	n_anom++;
	last_anom = reason;
}

static void on_identity(struct iw_parse_ctx *ctx, enum iw_identity kind, const char *s, size_t n)
{
	(void)ctx;
	assert_int_equal(kind, IW_ID_ENDPOINT);
	cp(ident, sizeof(ident), s, n);
}

static struct iw_parse_ctx ctx = {
    .ts_us = 1000000, .flow_id = 1, .emit = on_emit, .anomaly = on_anomaly, .identity = on_identity};

static struct iw_parser_cfg cfg = {.max_message = 65536, .max_items = 64, .payload_preview = 0};

static void *fresh(void)
{
	n_evs = n_anom = 0;
	last_anom = NULL;
	ident[0] = '\0';
	ctx.ts_us = 1000000;
	return iw_parser_coap.state_new(&cfg);
}

/* One datagram at time ts_us, in direction dir; returns the parser's result. */
static int feed(void *st, int dir, const uint8_t *b, size_t n, uint64_t ts_us)
{
	ctx.ts_us = ts_us;
	return iw_parser_coap.parse(st, &ctx, dir, b, n);
}
#define FEED(st, dir, arr, ts) feed(st, dir, arr, sizeof(arr), ts)

enum { C = IW_DIR_TOSERVER, S = IW_DIR_TOCLIENT };

/* ---- samples ---- */

/* CON GET /3/0/1?x=y, token abcd, message id 0x1234 */
static const uint8_t get_req[] = {
    0x42,                 /* ver 1, CON, TKL 2 */
    0x01,                 /* 0.01 GET */
    0x12, 0x34,           /* message id */
    0xab, 0xcd,           /* token */
    0xb1, '3',            /* delta 11 Uri-Path, len 1 */
    0x01, '0',            /* Uri-Path */
    0x01, '1',            /* Uri-Path */
    0x43, 'x',  '=', 'y', /* delta 4: 15 Uri-Query, len 3 */
};
/* ACK 2.05 piggybacked, Content-Format text/plain, payload "hi" */
static const uint8_t get_resp[] = {
    0x62,            /* ver 1, ACK, TKL 2 */
    0x45,            /* 2.05 */
    0x12, 0x34,      /* same message id */
    0xab, 0xcd,      /* same token */
    0xc0,            /* delta 12 Content-Format, len 0: value 0 */
    0xff, 'h',  'i', /* payload marker, payload */
};

static void test_get_piggybacked(void **state)
{
	(void)state;
	void *st = fresh();
	assert_int_equal(FEED(st, C, get_req, 1000000), IW_OK);
	assert_int_equal(FEED(st, S, get_resp, 1000250), IW_OK);
	assert_int_equal(n_evs, 2);
	assert_int_equal(n_anom, 0);
	struct seen *q = &evs[0], *r = &evs[1];
	assert_string_equal(q->type, "request");
	assert_string_equal(q->msg_type, "CON");
	assert_int_equal(q->code, 1);
	assert_string_equal(q->method, "GET");
	assert_int_equal(q->mid, 0x1234);
	assert_string_equal(q->token, "abcd");
	assert_string_equal(q->uri, "/3/0/1?x=y");
	assert_int_equal(q->n_opts, 4);
	assert_int_equal(q->opt_num[0], 11);
	assert_string_equal(q->opt_name[0], "Uri-Path");
	assert_int_equal(q->opt_num[3], 15);
	assert_string_equal(q->opt_name[3], "Uri-Query");
	assert_int_equal(q->payload_length, 0);
	assert_true(q->lwm2m);
	assert_int_equal(q->obj, 3);
	assert_string_equal(q->obj_name, "Device");
	assert_int_equal(q->res, 1);
	assert_string_equal(q->res_name, "Model Number");
	assert_string_equal(q->op, "read");

	assert_string_equal(r->type, "response");
	assert_string_equal(r->msg_type, "ACK");
	assert_int_equal(r->code, 0x45);
	assert_string_equal(r->status, "Content");
	assert_int_equal(r->content_format, 0);
	assert_int_equal(r->payload_length, 2);
	assert_true(r->matched);
	assert_false(r->separate);
	assert_string_equal(r->req_method, "GET");
	assert_string_equal(r->req_uri, "/3/0/1?x=y");
	assert_int_equal(r->rtt_us, 250);
	iw_parser_coap.state_free(st);
}

/* Extended option deltas and lengths: 13 (one byte, +13) and 14 (two bytes, +269). */
static uint8_t ext_msg[4 + 2 + 20 + 3 + 3 + 5 + 300 + 1];
static size_t ext_len;

static void build_ext(void)
{
	size_t n = 0;
	uint8_t *m = ext_msg;
	m[n++] = 0x40; /* ver 1, CON, TKL 0 */
	m[n++] = 0x02; /* POST */
	m[n++] = 0x00;
	m[n++] = 0x01; /* message id 1 */
	m[n++] = 0xbd; /* delta 11 Uri-Path, length 13: one more byte */
	m[n++] = 7;    /* length 13 + 7 = 20 */
	memcpy(m + n, "abcdefghijklmnopqrst", 20);
	n += 20;
	m[n++] = 0xd1; /* delta 13: one more byte, length 1 */
	m[n++] = 36;   /* delta 13 + 36 = 49: option 60 Size1 */
	m[n++] = 5;    /* Size1 = 5 */
	m[n++] = 0xe0; /* delta 14: two more bytes, length 0 */
	m[n++] = 0x06;
	m[n++] = 0xc3; /* delta 269 + 0x06c3 = 2000: option 2060, elective */
	m[n++] = 0x1e; /* delta 1 (option 2061, critical), length 14: two more bytes */
	m[n++] = 0x00;
	m[n++] = 0x1f; /* length 269 + 31 = 300 */
	memset(m + n, 'z', 300);
	n += 300;
	ext_len = n;
}

static void test_extended_options(void **state)
{
	(void)state;
	build_ext();
	void *st = fresh();
	assert_int_equal(feed(st, C, ext_msg, ext_len, 1), IW_OK);
	assert_int_equal(n_evs, 1);
	struct seen *e = &evs[0];
	assert_string_equal(e->method, "POST");
	assert_int_equal(e->n_opts, 4);
	assert_int_equal(e->opt_num[0], 11);
	assert_int_equal(e->opt_len[0], 20);
	assert_string_equal(e->uri, "/abcdefghijklmnopqrst");
	assert_int_equal(e->opt_num[1], 60);
	assert_string_equal(e->opt_name[1], "Size1");
	assert_int_equal(e->opt_uint[1], 5);
	assert_int_equal(e->opt_num[2], 2060);
	assert_int_equal(e->opt_len[2], 0);
	assert_string_equal(e->opt_name[2], "");
	assert_int_equal(e->opt_num[3], 2061);
	assert_int_equal(e->opt_len[3], 300);
	iw_parser_coap.state_free(st);
}

/* Separate response: empty ACK, then a CON response with the token, then its ACK. */
static const uint8_t sep_req[] = {
    0x41, 0x01, 0x00, 0x10, 0x5a,                     /* CON GET, mid 0x10, token 5a */
    0xb8, 's',  'e',  'p',  'a',  'r', 'a', 't', 'e', /* Uri-Path "separate" */
};
static const uint8_t sep_ack[] = {0x60, 0x00, 0x00, 0x10}; /* ACK, empty, mid 0x10 */
static const uint8_t sep_resp[] = {
    0x41, 0x45, 0x00, 0x20, 0x5a, /* CON 2.05, mid 0x20, token 5a */
    0xff, 'o',  'k',              /* payload */
};
static const uint8_t sep_ack2[] = {0x60, 0x00, 0x00, 0x20}; /* the client's ACK */

static void test_separate(void **state)
{
	(void)state;
	void *st = fresh();
	FEED(st, C, sep_req, 1000);
	FEED(st, S, sep_ack, 1100);
	FEED(st, S, sep_resp, 5000);
	FEED(st, C, sep_ack2, 5100);
	assert_int_equal(n_evs, 4);
	assert_string_equal(evs[1].type, "empty");
	assert_string_equal(evs[1].msg_type, "ACK");
	assert_true(evs[1].matched);
	assert_string_equal(evs[1].req_uri, "/separate");
	assert_string_equal(evs[2].type, "response");
	assert_true(evs[2].matched);
	assert_true(evs[2].separate);
	assert_int_equal(evs[2].rtt_us, 4000);
	assert_string_equal(evs[2].req_method, "GET");
	assert_string_equal(evs[3].type, "empty");
	iw_parser_coap.state_free(st);
}

/* Observe: registration, first response, NON and CON notifications, RST cancel. */
static const uint8_t obs_reg[] = {
    0x41, 0x01, 0x00, 0x30, 0x77, /* CON GET, mid 0x30, token 77 */
    0x60,                         /* delta 6 Observe, length 0: value 0 (register) */
    0x54, 't',  'e',  'm',  'p',  /* delta 5 Uri-Path "temp" */
};
static const uint8_t obs_first[] = {
    0x61, 0x45, 0x00, 0x30, 0x77, /* ACK 2.05 */
    0x61, 0x05,                   /* Observe 5 */
    0xff, '2',  '1',
};
static const uint8_t obs_non[] = {
    0x51, 0x45, 0x00, 0x31, 0x77, /* NON 2.05, mid 0x31 */
    0x61, 0x06,                   /* Observe 6 */
    0xff, '2',  '2',
};
static const uint8_t obs_con[] = {
    0x41, 0x45, 0x00, 0x32, 0x77, /* CON 2.05, mid 0x32 */
    0x61, 0x07,                   /* Observe 7 */
    0xff, '2',  '3',
};
static const uint8_t obs_rst[] = {0x70, 0x00, 0x00, 0x32}; /* RST to mid 0x32 */

static void test_observe(void **state)
{
	(void)state;
	void *st = fresh();
	FEED(st, C, obs_reg, 1000);
	FEED(st, S, obs_first, 2000);
	FEED(st, S, obs_non, 3000);
	FEED(st, S, obs_con, 4000);
	FEED(st, C, obs_rst, 4100);
	FEED(st, S, obs_non, 5000); /* after the cancel: no longer matched */
	assert_int_equal(n_evs, 6);
	assert_string_equal(evs[0].observe_action, "register");
	assert_true(evs[0].has_observe);
	assert_int_equal(evs[0].observe, 0);
	for (int i = 1; i <= 3; i++) {
		assert_string_equal(evs[i].observe_action, "notification");
		assert_string_equal(evs[i].req_uri, "/temp");
		assert_int_equal(evs[i].observe, 4 + i);
	}
	assert_string_equal(evs[2].msg_type, "NON");
	assert_string_equal(evs[4].type, "reset");
	assert_string_equal(evs[4].observe_action, "cancel");
	assert_string_equal(evs[4].req_uri, "/temp");
	assert_false(evs[5].matched);
	iw_parser_coap.state_free(st);
}

/* Block2: three blocks of 16, 16 and 5 bytes; the transfer is reported with 37 bytes. */
#define P16 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p'
static const uint8_t blk_req0[] = {0x41, 0x01, 0x00, 0x40, 0x01, 0xb3, 'b', 'i', 'g'};
static const uint8_t blk_resp0[] = {
    0x61, 0x45, 0x00, 0x40, 0x01, /* ACK 2.05, token 01 */
    0xd1, 10,   0x08,             /* delta 13+10 = 23 Block2: num 0, M 1, szx 0 (16) */
    0xff, P16,
};
static const uint8_t blk_req1[] = {
    0x41, 0x01, 0x00, 0x41, 0x02, 0xb3, 'b', 'i', 'g', /* GET /big, token 02 */
    0xc1, 0x10,                                        /* delta 12: 23 Block2 num 1 */
};
static const uint8_t blk_resp1[] = {0x61, 0x45, 0x00, 0x41, 0x02, 0xd1, 10, 0x18, 0xff, P16};
static const uint8_t blk_req2[] = {0x41, 0x01, 0x00, 0x42, 0x03, 0xb3, 'b', 'i', 'g', 0xc1, 0x20};
static const uint8_t blk_resp2[] = {
    0x61, 0x45, 0x00, 0x42, 0x03, 0xd1, 10, 0x20, /* Block2 num 2, M 0 */
    0xff, 'v',  'w',  'x',  'y',  'z',
};

static void test_block2(void **state)
{
	(void)state;
	void *st = fresh();
	FEED(st, C, blk_req0, 1);
	FEED(st, S, blk_resp0, 2);
	FEED(st, S, blk_resp0, 3); /* a duplicate is not counted twice */
	FEED(st, C, blk_req1, 4);
	FEED(st, S, blk_resp1, 5);
	FEED(st, C, blk_req2, 6);
	FEED(st, S, blk_resp2, 7);
	assert_int_equal(n_evs, 8);
	assert_true(evs[1].b2.present);
	assert_true(evs[1].b2.more);
	assert_int_equal(evs[1].b2.size, 16);
	assert_int_equal(evs[4].b2.num, 1);
	assert_int_equal(evs[6].b2.num, 2);
	assert_false(evs[6].b2.more);
	struct seen *t = &evs[7];
	assert_string_equal(t->type, "block_transfer");
	assert_string_equal(t->bt_dir, "download");
	assert_string_equal(t->uri, "/big");
	assert_int_equal(t->bt_blocks, 3);
	assert_int_equal(t->bt_total, 37);
	iw_parser_coap.state_free(st);
}

/* LwM2M: registration, its 2.01 with Location-Path, a Firmware Update write and execute. */
static const uint8_t reg_req[] = {
    0x42, 0x02, 0x00, 0x50, 0x01, 0x02,                     /* CON POST, token 0102 */
    0xb2, 'r',  'd',                                        /* Uri-Path "rd" */
    0x48, 'e',  'p',  '=',  'd',  'e',  'v', '4', '2',      /* delta 4: Uri-Query */
    0x06, 'l',  't',  '=',  '3',  '0',  '0',                /* Uri-Query */
    0x09, 'l',  'w',  'm',  '2',  'm',  '=', '1', '.', '1', /* Uri-Query */
    0x03, 'b',  '=',  'U',                                  /* Uri-Query */
};
static const uint8_t reg_resp[] = {
    0x62, 0x41, 0x00, 0x50, 0x01, 0x02, /* ACK 2.01 Created */
    0x82, 'r',  'd',                    /* delta 8 Location-Path */
    0x04, '4',  'a',  '7',  'f',        /* Location-Path */
};
static const uint8_t fw_write[] = {
    0x41, 0x03, 0x00, 0x51, 0x03,      /* CON PUT, token 03 */
    0xb1, '5',  0x01, '0',  0x01, '1', /* /5/0/1 */
    0xff, 'c',  'o',  'a',  'p',  ':', '/', '/', 'f', 'w', '/', 'v', '2',
};
static const uint8_t fw_exec[] = {0x41, 0x02, 0x00, 0x52, 0x04, 0xb1, '5', 0x01, '0', 0x01, '2'};
static const uint8_t dereg[] = {0x41, 0x04, 0x00, 0x53, 0x05, 0xb2, 'r', 'd', 0x04, '4', 'a', '7', 'f'};

static void test_lwm2m(void **state)
{
	(void)state;
	void *st = fresh();
	FEED(st, C, reg_req, 1);
	FEED(st, S, reg_resp, 2);
	FEED(st, S, fw_write, 3);
	FEED(st, S, fw_exec, 4);
	FEED(st, C, dereg, 5);
	assert_int_equal(n_evs, 5);
	assert_string_equal(ident, "dev42");
	assert_string_equal(evs[0].reg_action, "register");
	assert_string_equal(evs[0].ep, "dev42");
	assert_string_equal(evs[0].lt, "300");
	assert_string_equal(evs[0].version, "1.1");
	assert_string_equal(evs[0].binding, "U");
	assert_string_equal(evs[0].uri, "/rd?ep=dev42&lt=300&lwm2m=1.1&b=U");
	assert_false(evs[0].lwm2m);
	assert_string_equal(evs[1].location, "/rd/4a7f");
	assert_string_equal(evs[1].req_method, "POST");
	assert_true(evs[2].lwm2m);
	assert_int_equal(evs[2].obj, 5);
	assert_string_equal(evs[2].obj_name, "Firmware Update");
	assert_int_equal(evs[2].inst, 0);
	assert_int_equal(evs[2].res, 1);
	assert_string_equal(evs[2].res_name, "Package URI");
	assert_string_equal(evs[2].op, "write");
	assert_true(evs[2].fw);
	assert_string_equal(evs[3].op, "execute");
	assert_string_equal(evs[3].res_name, "Update");
	assert_true(evs[3].fw);
	assert_string_equal(evs[4].reg_action, "deregister");
	iw_parser_coap.state_free(st);
}

/* Malformed messages: an anomaly, IW_ERR, and an event with the reason when the code
 * could be read. */
static const uint8_t bad_version[] = {0x81, 0x01, 0x00, 0x01, 0x00};
static const uint8_t bad_tkl[] = {0x49, 0x01, 0x00, 0x01};
static const uint8_t bad_nibble[] = {0x40, 0x01, 0x00, 0x01, 0xf1, 0x00};
static const uint8_t bad_trunc[] = {0x40, 0x01, 0x00, 0x01, 0xb5, 'a', 'b'};
static const uint8_t bad_marker[] = {0x40, 0x01, 0x00, 0x01, 0xff};
static const uint8_t bad_short[] = {0x40};

static void check_bad(const uint8_t *b, size_t n, const char *reason, bool event)
{
	void *st = fresh();
	assert_int_equal(feed(st, C, b, n, 1), IW_ERR);
	assert_int_equal(n_anom, 1);
	assert_string_equal(last_anom, reason);
	assert_int_equal(n_evs, event ? 1 : 0);
	if (event) {
		assert_string_equal(evs[0].malformed, reason + 5);
		assert_int_equal(evs[0].code, 1);
	}
	iw_parser_coap.state_free(st);
}

static void test_malformed(void **state)
{
	(void)state;
	check_bad(bad_version, sizeof(bad_version), "coap.version", true);
	check_bad(bad_tkl, sizeof(bad_tkl), "coap.token_length", true);
	check_bad(bad_nibble, sizeof(bad_nibble), "coap.option_nibble", true);
	check_bad(bad_trunc, sizeof(bad_trunc), "coap.truncated_option", true);
	check_bad(bad_marker, sizeof(bad_marker), "coap.payload_marker", true);
	check_bad(bad_short, sizeof(bad_short), "coap.truncated_header", false);
}

/* limits.max_items caps the options kept; sensor.payload_preview the preview. */
static void test_limits(void **state)
{
	(void)state;
	struct iw_parser_cfg save = cfg;
	cfg.max_items = 2;
	cfg.payload_preview = 4;
	void *st = fresh();
	static const uint8_t m[] = {0x40, 0x02, 0x00, 0x07, 0xb1, 'a', 0x01, 'b',
	                            0x01, 'c',  0xff, 'x',  0x01, 'y', 'z',  'w'};
	FEED(st, C, m, 1);
	assert_int_equal(evs[0].n_opts, 2);
	assert_int_equal(evs[0].dropped, 1);
	assert_string_equal(evs[0].uri, "/a/b/c");
	assert_string_equal(evs[0].preview, "x.yz");
	assert_int_equal(evs[0].payload_length, 5);
	iw_parser_coap.state_free(st);
	cfg = save;
}

/* A full table: the oldest request is evicted, the rest still match. */
static void test_eviction(void **state)
{
	(void)state;
	void *st = fresh();
	uint8_t q[] = {0x42, 0x01, 0x00, 0x00, 0x00, 0x00};
	for (unsigned i = 0; i < 100; i++) {
		q[2] = q[4] = (uint8_t)(i >> 8);
		q[3] = q[5] = (uint8_t)i;
		feed(st, C, q, sizeof(q), i);
	}
	uint8_t r[] = {0x62, 0x45, 0x00, 0x00, 0x00, 0x00};
	n_evs = 0;
	feed(st, S, r, sizeof(r), 200); /* token 0000: evicted */
	assert_false(evs[0].matched);
	r[3] = r[5] = 99;
	n_evs = 0;
	feed(st, S, r, sizeof(r), 200);
	assert_true(evs[0].matched);
	iw_parser_coap.state_free(st);
}

/* Requests outstanding past the slots in the flow's state (four): the table moves to the
 * heap with every request, its uri and its token, and each response matches its own,
 * answered in the reverse order; then the slots are reused. */
static void test_table_moves(void **state)
{
	(void)state;
	void *st = fresh();
	for (int round = 0; round < 2; round++) {
		for (uint8_t i = 0; i < 9; i++) {
			uint8_t q[] = {
			    0x41, 0x01, 0x10, i, (uint8_t)(0x80 + i), 0xb2, 'p', (uint8_t)('0' + i)};
			assert_int_equal(FEED(st, C, q, 1000 + i), IW_OK);
		}
		for (int i = 8; i >= 0; i--) {
			uint8_t r[] = {0x61, 0x45, 0x10, (uint8_t)i, (uint8_t)(0x80 + i)};
			n_evs = 0;
			assert_int_equal(FEED(st, S, r, 2000), IW_OK);
			assert_int_equal(n_evs, 1);
			assert_true(evs[0].matched);
			char want[4] = {'/', 'p', (char)('0' + i), 0};
			assert_string_equal(evs[0].req_uri, want);
			assert_int_equal(evs[0].rtt_us, 2000 - (1000 + (uint64_t)i));
		}
		/* all answered: a response to any of them again matches nothing */
		uint8_t again[] = {0x61, 0x45, 0x10, 2, 0x82};
		n_evs = 0;
		FEED(st, S, again, 3000);
		assert_false(evs[0].matched);
	}
	iw_parser_coap.state_free(st);
}

/* Every prefix of every sample, flush against an unreadable page: no over-read. */
static void test_prefixes_guard(void **state)
{
	(void)state;
	build_ext();
	const struct {
		const uint8_t *b;
		size_t n;
	} all[] = {
	    {get_req, sizeof(get_req)},
	    {get_resp, sizeof(get_resp)},
	    {ext_msg, 0},
	    {sep_req, sizeof(sep_req)},
	    {sep_ack, sizeof(sep_ack)},
	    {sep_resp, sizeof(sep_resp)},
	    {obs_reg, sizeof(obs_reg)},
	    {obs_first, sizeof(obs_first)},
	    {obs_con, sizeof(obs_con)},
	    {blk_resp0, sizeof(blk_resp0)},
	    {blk_req1, sizeof(blk_req1)},
	    {reg_req, sizeof(reg_req)},
	    {reg_resp, sizeof(reg_resp)},
	    {fw_write, sizeof(fw_write)},
	    {dereg, sizeof(dereg)},
	    {bad_version, sizeof(bad_version)},
	    {bad_nibble, sizeof(bad_nibble)},
	    {bad_trunc, sizeof(bad_trunc)},
	};
	struct iw_parser_cfg save = cfg;
	cfg.payload_preview = 64;
	struct guard g = guard_new(sizeof(ext_msg));
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		size_t n = all[k].b == ext_msg ? ext_len : all[k].n;
		void *st = fresh();
		for (size_t len = 0; len <= n; len++) {
			const uint8_t *at = guard_put(&g, all[k].b, len);
			int rc = iw_parser_coap.parse(st, &ctx, (int)(len & 1), at, len);
			assert_true(rc == IW_OK || rc == IW_ERR);
			int pr = iw_parser_coap.probe(at, len, 0);
			assert_true(pr == IW_OK || pr == IW_ERR || pr == IW_NEED_MORE);
			if (len == n)
				assert_int_equal(rc, k >= 15 ? IW_ERR : IW_OK);
		}
		iw_parser_coap.end(st, &ctx);
		iw_parser_coap.state_free(st);
	}
	guard_free(&g);
	cfg = save;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_piggybacked), cmocka_unit_test(test_extended_options),
	    cmocka_unit_test(test_separate),        cmocka_unit_test(test_observe),
	    cmocka_unit_test(test_block2),          cmocka_unit_test(test_lwm2m),
	    cmocka_unit_test(test_malformed),       cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_eviction),        cmocka_unit_test(test_table_moves),
	    cmocka_unit_test(test_prefixes_guard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
