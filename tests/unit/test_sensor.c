/* test_sensor.c - the pipeline end to end with crafted Ethernet/IPv4 frames, a line
 * parser and a rule that records flow events: classification by probe and by port,
 * replay of the bytes seen before classification, reassembly into the parser, gaps,
 * and the end reason of each flow (fin, rst, timeout, evicted, shutdown). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>

#include "sensor/config.h"
#include "sensor/sensor.h"

/* ---- a line protocol on tcp/4242: "HELLO" opens it, every message ends in '\n' ---- */

static char lines[64][64]; /* what the parser saw, in order: "c:<line>", "s:<line>", "gap", "end" */
static unsigned n_lines;

static void note(const char *s, size_t n)
{
	if (n_lines < 64) {
		snprintf(lines[n_lines], sizeof(lines[0]), "%.*s", (int)n, s);
		n_lines++;
	}
}

static int line_probe(const uint8_t *data, size_t len, int dir)
{
	if (dir != IW_DIR_TOSERVER)
		return IW_ERR;
	if (len < 5)
		return memcmp(data, "HELLO", len) ? IW_ERR : IW_NEED_MORE;
	return memcmp(data, "HELLO", 5) ? IW_ERR : IW_OK;
}

static int line_parse(void *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len)
{
	(void)st;
	const uint8_t *nl = memchr(data, '\n', len);
	if (!nl)
		return IW_NEED_MORE;
	char buf[64];
	size_t n = (size_t)(nl - data);
	if (n > 3 && !memcmp(data, "ID:", 3))
		ctx->identity(ctx, IW_ID_CLIENT_ID, (const char *)data + 3, n - 3);
	snprintf(buf, sizeof(buf), "%c:%.*s", dir == IW_DIR_TOSERVER ? 'c' : 's', (int)n, (const char *)data);
	note(buf, strlen(buf));
	return (int)(n + 1);
}

static void line_gap(void *st, struct iw_parse_ctx *ctx, int dir, uint32_t len)
{
	(void)st;
	(void)ctx;
	char buf[32];
	snprintf(buf, sizeof(buf), "gap%c%u", dir == IW_DIR_TOSERVER ? 'c' : 's', len);
	note(buf, strlen(buf));
}

static void *line_new(const struct iw_parser_cfg *cfg)
{
	(void)cfg;
	static int dummy;
	return &dummy;
}

static void line_free(void *st)
{
	(void)st;
}

static const struct iw_parser line_parser = {
    .name = "line",
    .ipproto = IPPROTO_TCP,
    .ports = {4242},
    .probe = line_probe,
    .state_new = line_new,
    .state_free = line_free,
    .parse = line_parse,
    .gap = line_gap,
};
static const struct iw_parser *const parsers[] = {&line_parser, NULL};

/* ---- a rule that keeps every flow event ---- */

struct flow_seen {
	uint16_t sport, dport;
	enum iw_flow_end reason;
	uint64_t pkts_ts, pkts_tc;
	char app[16];
	char device[32];
};
static struct flow_seen flows[32];
static unsigned n_flows;

static void keep_flow(void *st, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	(void)st;
	(void)ctx;
	if (n_flows >= 32)
		return;
	struct flow_seen *f = &flows[n_flows++];
	f->sport = ev->key->sport;
	f->dport = ev->key->dport;
	f->reason = ev->u.flow.reason;
	f->pkts_ts = ev->u.flow.pkts_toserver;
	f->pkts_tc = ev->u.flow.pkts_toclient;
	snprintf(f->app, sizeof(f->app), "%s", ev->app_proto ? ev->app_proto : "-");
	snprintf(f->device, sizeof(f->device), "%s", ev->device.id);
}

static const struct iw_rule flow_rule = {
    .id = "test.flows", .kinds = 1u << IW_EV_FLOW, .on_event = keep_flow};
static const struct iw_rule *const rules[] = {&flow_rule, NULL};

/* ---- frames ---- */

#define CLIENT 0x0a000001u /* 10.0.0.1 */
#define SERVER 0x0a000002u /* 10.0.0.2 */

static uint64_t now_us = 1700000000000000ULL;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* One Ethernet/IPv4/TCP (or UDP when flags is 0xff) frame from a to b. */
static void send_frame(struct iw_sensor *s, uint32_t a, uint32_t b, uint16_t sp, uint16_t dp, uint32_t seq,
                       uint32_t ack, uint8_t flags, const char *payload)
{
	uint8_t f[1514] = {0};
	size_t plen = strlen(payload);
	bool udp = flags == 0xff;
	size_t l4 = udp ? 8 : 20;
	put16(f + 12, 0x0800);                     /* EtherType IPv4 */
	f[14] = 0x45;                              /* version 4, IHL 5 */
	put16(f + 16, (uint16_t)(20 + l4 + plen)); /* total length */
	f[22] = 64;                                /* TTL */
	f[23] = udp ? IPPROTO_UDP : IPPROTO_TCP;
	put32(f + 26, a);
	put32(f + 30, b);
	uint8_t *t = f + 34;
	put16(t, sp);
	put16(t + 2, dp);
	if (udp) {
		put16(t + 4, (uint16_t)(8 + plen));
	} else {
		put32(t + 4, seq);
		put32(t + 8, ack);
		t[12] = 0x50; /* data offset 5 */
		t[13] = flags;
		put16(t + 14, 65535);
	}
	memcpy(t + l4, payload, plen);
	uint32_t n = (uint32_t)(34 + l4 + plen);
	iw_sensor_packet(s, 1 /* DLT_EN10MB */, f, n, n, now_us);
	now_us += 1000;
}

#define SYN IW_TCP_SYN
#define ACK IW_TCP_ACK
#define FIN IW_TCP_FIN
#define RST IW_TCP_RST
#define PSH IW_TCP_PSH

static struct iw_config cfg;

static struct iw_sensor *start(uint64_t max_flows)
{
	n_lines = n_flows = 0;
	memset(lines, 0, sizeof(lines));
	iw_config_defaults(&cfg);
	cfg.limits.max_flows = max_flows;
	free(cfg.exporters.jsonl.path);
	cfg.exporters.jsonl.path = strdup("/dev/null");
	struct iw_sensor_opts o = {.no_ndpi = true, .parsers = parsers, .rules = rules};
	char err[256];
	int code;
	struct iw_sensor *s = iw_sensor_new(&cfg, &o, err, sizeof(err), &code);
	assert_non_null(s);
	return s;
}

static void stop(struct iw_sensor *s)
{
	iw_sensor_finish(s, 0);
	iw_config_free(&cfg);
}

static void handshake(struct iw_sensor *s, uint16_t sp)
{
	send_frame(s, CLIENT, SERVER, sp, 4242, 100, 0, SYN, "");
	send_frame(s, SERVER, CLIENT, 4242, sp, 900, 101, SYN | ACK, "");
	send_frame(s, CLIENT, SERVER, sp, 4242, 101, 901, ACK, "");
}

static void test_probe_then_reassembly(void **state)
{
	(void)state;
	struct iw_sensor *s = start(100);
	handshake(s, 40000);
	send_frame(s, CLIENT, SERVER, 40000, 4242, 101, 901, ACK | PSH, "HELLO\nfir");
	/* out of order: "third\n" (120..125) arrives before "st\nsecond\n" (110..119) */
	send_frame(s, CLIENT, SERVER, 40000, 4242, 120, 901, ACK | PSH, "third\n");
	send_frame(s, CLIENT, SERVER, 40000, 4242, 110, 901, ACK | PSH, "st\nsecond\n");
	send_frame(s, SERVER, CLIENT, 4242, 40000, 901, 126, ACK | PSH, "ok\n");
	/* a retransmission changes nothing */
	send_frame(s, CLIENT, SERVER, 40000, 4242, 110, 901, ACK | PSH, "st\nsecond\n");
	send_frame(s, CLIENT, SERVER, 40000, 4242, 126, 904, ACK | FIN, "");
	send_frame(s, SERVER, CLIENT, 4242, 40000, 904, 127, ACK | FIN, "");
	send_frame(s, CLIENT, SERVER, 40000, 4242, 127, 905, ACK, "");
	stop(s);
	assert_int_equal(n_lines, 5);
	assert_string_equal(lines[0], "c:HELLO");
	assert_string_equal(lines[1], "c:first");
	assert_string_equal(lines[2], "c:second");
	assert_string_equal(lines[3], "c:third");
	assert_string_equal(lines[4], "s:ok");
	assert_int_equal(n_flows, 1);
	assert_int_equal(flows[0].reason, IW_END_FIN);
	assert_int_equal(flows[0].sport, 40000);
	assert_int_equal(flows[0].dport, 4242);
	assert_int_equal(flows[0].pkts_ts, 8); /* SYN, ACK, 4 data (one a retransmission), FIN, ACK */
	assert_int_equal(flows[0].pkts_tc, 3);
	assert_string_equal(flows[0].app, "line");
	assert_string_equal(flows[0].device, "10.0.0.1"); /* no name from the parser: the address */
}

/* The parser names the device: the flow's records carry that name as the device id. */
static void test_identity(void **state)
{
	(void)state;
	struct iw_sensor *s = start(100);
	handshake(s, 40003);
	send_frame(s, CLIENT, SERVER, 40003, 4242, 101, 901, ACK, "HELLO\nID:pump-7\n");
	stop(s);
	assert_int_equal(n_lines, 2);
	assert_string_equal(lines[1], "c:ID:pump-7");
	assert_int_equal(n_flows, 1);
	assert_string_equal(flows[0].device, "pump-7");
}

/* The probe cannot tell ("HEL", then not "HELLO"): the port decides when the flow ends,
 * and what reassembly delivered meanwhile reaches the parser then. */
static void test_port_classification_replays_bytes(void **state)
{
	(void)state;
	struct iw_sensor *s = start(100);
	handshake(s, 40001);
	send_frame(s, CLIENT, SERVER, 40001, 4242, 101, 901, ACK, "HEL");
	send_frame(s, CLIENT, SERVER, 40001, 4242, 104, 901, ACK, "LO a\nb");
	send_frame(s, CLIENT, SERVER, 40001, 4242, 110, 901, ACK, "\n");
	send_frame(s, CLIENT, SERVER, 40001, 4242, 111, 901, RST, "");
	stop(s);
	assert_int_equal(n_lines, 2);
	assert_string_equal(lines[0], "c:HELLO a");
	assert_string_equal(lines[1], "c:b");
	assert_int_equal(n_flows, 1);
	assert_int_equal(flows[0].reason, IW_END_RST);
	assert_string_equal(flows[0].app, "line");
}

/* Bytes the sensor never saw but the peer acknowledged: a gap, then the parser goes on. */
static void test_gap_reaches_parser(void **state)
{
	(void)state;
	struct iw_sensor *s = start(100);
	handshake(s, 40002);
	send_frame(s, CLIENT, SERVER, 40002, 4242, 101, 901, ACK, "HELLO\n");
	/* bytes 107..116 lost by the capture */
	send_frame(s, CLIENT, SERVER, 40002, 4242, 117, 901, ACK, "after\n");
	send_frame(s, SERVER, CLIENT, 4242, 40002, 901, 123, ACK, "");
	stop(s);
	assert_int_equal(n_lines, 3);
	assert_string_equal(lines[0], "c:HELLO");
	assert_string_equal(lines[1], "gapc10");
	assert_string_equal(lines[2], "c:after");
	assert_int_equal(flows[0].reason, IW_END_SHUTDOWN);
}

static void test_timeout_and_eviction(void **state)
{
	(void)state;
	struct iw_sensor *s = start(2);
	send_frame(s, CLIENT, SERVER, 5000, 7000, 0, 0, 0xff, "one");
	send_frame(s, CLIENT, SERVER, 5001, 7000, 0, 0, 0xff, "two");
	/* a third flow at the cap evicts the oldest idle one (5000) */
	send_frame(s, CLIENT, SERVER, 5002, 7000, 0, 0, 0xff, "three");
	assert_int_equal(n_flows, 1);
	assert_int_equal(flows[0].sport, 5000);
	assert_int_equal(flows[0].reason, IW_END_EVICTED);
	/* three minutes of packet time later the UDP timeout (2m) has passed for both */
	now_us += 3ULL * 60 * 1000000;
	send_frame(s, CLIENT, SERVER, 5003, 7000, 0, 0, 0xff, "four");
	assert_int_equal(n_flows, 3);
	assert_int_equal(flows[1].reason, IW_END_TIMEOUT);
	assert_int_equal(flows[2].reason, IW_END_TIMEOUT);
	stop(s);
	assert_int_equal(n_flows, 4);
	assert_int_equal(flows[3].sport, 5003);
	assert_int_equal(flows[3].reason, IW_END_SHUTDOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_probe_then_reassembly),
	    cmocka_unit_test(test_port_classification_replays_bytes),
	    cmocka_unit_test(test_gap_reaches_parser),
	    cmocka_unit_test(test_identity),
	    cmocka_unit_test(test_timeout_and_eviction),
	};
	return cmocka_run_group_tests_name("sensor", tests, NULL, NULL);
}
