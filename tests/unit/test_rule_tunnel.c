/* test_rule_tunnel.c - the remote-access rules (rules/tunnel.c, docs/rules.md
 * "tunnel.*"): tunnel.orphaned and tunnel.renewal_loop, driven with hand-built tunnel
 * events on packet time through the real memory store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rule_harness.h"

extern const struct iw_rule iw_rule_tunnel;

#define S      1000000ull
#define HOUR   (3600 * S)
#define DAY    (86400 * S)
#define T0     (1767225600ull * S) /* 2026-01-01T00:00:00Z */
#define ORPHAN "tunnel.orphaned"
#define LOOP   "tunnel.renewal_loop"

static const struct iw_endpoint aws_ep = {
    .name = "data.tunneling.iot.ap-south-1.amazonaws.com",
    .name_source = "sni",
    .region = "ap-south-1",
    .provider = "aws",
    .region_source = "sni",
};

/* Storage for one event. */
struct evb {
	struct iw_event ev;
	struct iw_flow_key key;
};

/* A tunnel event of device "cam-1" (10.0.0.7) on flow flow, which started at start. */
static struct iw_event *tun(struct evb *b, enum iw_tunnel_type type, uint64_t flow, uint64_t start,
                            uint64_t duration)
{
	memset(b, 0, sizeof(*b));
	b->key.family = 4;
	b->key.proto = 6;
	b->key.src.b[0] = 10;
	b->key.src.b[3] = 7;
	b->key.dst.b[0] = 52;
	b->key.dst.b[1] = 66;
	b->key.dst.b[2] = 1;
	b->key.dst.b[3] = 2;
	b->key.sport = 50000;
	b->key.dport = 443;
	struct iw_event *ev = &b->ev;
	ev->kind = IW_EV_TUNNEL;
	ev->ts_us = start + duration;
	ev->flow_id = flow;
	ev->key = &b->key;
	ev->app_proto = "tls";
	ev->device.id = "cam-1";
	ev->device.ip = "10.0.0.7";
	ev->endpoint = &aws_ep;
	ev->u.tunnel = (struct iw_ev_tunnel){.type = type,
	                                     .kind = "aws_secure_tunneling",
	                                     .start_us = start,
	                                     .duration_us = type == IW_TUNNEL_OPEN ? 0 : duration,
	                                     .pkts_toserver = 100,
	                                     .pkts_toclient = 90,
	                                     .bytes_toserver = 123456,
	                                     .bytes_toclient = 654321};
	return ev;
}

static unsigned n_of(struct rh *h, const char *rule)
{
	unsigned n = 0;
	for (unsigned i = 0; i < rh_n(h); i++)
		n += strcmp(rh_rule(h, i), rule) == 0;
	return n;
}

/* The k-th alert of rule id, or fails. */
static const char *nth(struct rh *h, const char *rule, unsigned k)
{
	for (unsigned i = 0; i < rh_n(h); i++)
		if (strcmp(rh_rule(h, i), rule) == 0 && k-- == 0)
			return rh_json(h, i);
	fail_msg("no alert %u of %s", k, rule);
	return "";
}

/* How many elements the JSON array named key holds (strings only). */
static unsigned arr_len(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":[", key);
	const char *p = strstr(json, pat);
	if (!p)
		return 0;
	p += strlen(pat);
	if (*p == ']')
		return 0;
	unsigned n = 1;
	bool in = false;
	for (; *p && (in || *p != ']'); p++) {
		if (*p == '"')
			in = !in;
		else if (*p == ',' && !in)
			n++;
	}
	return n;
}

static struct rh *harness(void)
{
	struct iw_rules_cfg cfg = rh_defaults();
	return rh_new(&cfg, &iw_rule_tunnel);
}

/* ---- tunnel.orphaned ---- */

static void test_orphaned_at_max_duration(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 7, T0, 0));
	for (uint64_t hr = 1; hr < 12; hr++)
		rh_event(h, tun(&b, IW_TUNNEL_ACTIVE, 7, T0, hr * HOUR));
	rh_event(h, tun(&b, IW_TUNNEL_ACTIVE, 7, T0, 12 * HOUR - 1));
	assert_int_equal(rh_n(h), 0);
	rh_event(h, tun(&b, IW_TUNNEL_ACTIVE, 7, T0, 12 * HOUR));
	assert_int_equal(rh_n(h), 1);
	const char *j = nth(h, ORPHAN, 0);
	assert_non_null(strstr(j, "\"category\":\"remote-access\""));
	assert_non_null(strstr(j, "\"severity\":\"high\""));
	assert_non_null(strstr(j, "\"flow_id\":7"));
	assert_non_null(strstr(j, "\"device\":{\"id\":\"cam-1\""));
	assert_non_null(strstr(j, "\"kind\":\"aws_secure_tunneling\""));
	assert_non_null(strstr(j, "\"endpoint\":\"data.tunneling.iot.ap-south-1.amazonaws.com\""));
	assert_non_null(strstr(j, "\"address\":\"52.66.1.2\""));
	assert_non_null(strstr(j, "\"region\":\"ap-south-1\""));
	assert_non_null(strstr(j, "\"start\":\"2026-01-01T00:00:00.000000Z\""));
	assert_non_null(strstr(j, "\"duration_s\":43200"));
	assert_non_null(strstr(j, "\"max_duration_s\":43200"));
	assert_non_null(strstr(j, "\"bytes_toserver\":123456"));
	assert_non_null(strstr(j, "\"bytes_toclient\":654321"));
	assert_non_null(strstr(j, "\"open\":true"));
	assert_non_null(strstr(j, "\"message\":\"aws_secure_tunneling tunnel to "
	                          "data.tunneling.iot.ap-south-1.amazonaws.com open for 12h00m\""));
	rh_free(h);
}

static void test_orphaned_once_per_session(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 7, T0, 0));
	/* hourly reports for two days, past the day of de-duplication, then the close */
	for (uint64_t hr = 12; hr <= 48; hr++)
		rh_event(h, tun(&b, IW_TUNNEL_ACTIVE, 7, T0, hr * HOUR));
	rh_event(h, tun(&b, IW_TUNNEL_CLOSE, 7, T0, 49 * HOUR));
	assert_int_equal(n_of(h, ORPHAN), 1);
	/* another session of the same device is another subject */
	rh_event(h, tun(&b, IW_TUNNEL_ACTIVE, 8, T0 + HOUR, 12 * HOUR));
	assert_int_equal(n_of(h, ORPHAN), 2);
	assert_non_null(strstr(nth(h, ORPHAN, 1), "\"flow_id\":8"));
	rh_free(h);
}

static void test_orphaned_at_close(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	/* closed short of the limit */
	rh_event(h, tun(&b, IW_TUNNEL_CLOSE, 7, T0, 12 * HOUR - 1));
	assert_int_equal(rh_n(h), 0);
	/* got there only at its close (no report at the limit reached the rule) */
	rh_event(h, tun(&b, IW_TUNNEL_CLOSE, 8, T0, 13 * HOUR + 30 * 60 * S));
	assert_int_equal(rh_n(h), 1);
	const char *j = nth(h, ORPHAN, 0);
	assert_non_null(strstr(j, "\"open\":false"));
	assert_non_null(strstr(j, "\"duration_s\":48600"));
	assert_non_null(strstr(j, "closed after 13h30m"));
	/* a close repeated (the flow table letting go late) is the same subject that day */
	rh_event(h, tun(&b, IW_TUNNEL_CLOSE, 8, T0, 13 * HOUR + 31 * 60 * S));
	assert_int_equal(rh_n(h), 1);
	/* opens never alert */
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 9, T0 + 20 * HOUR, 0));
	assert_int_equal(n_of(h, ORPHAN), 1);
	rh_free(h);
}

static void test_orphaned_without_endpoint(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	struct iw_event *ev = tun(&b, IW_TUNNEL_ACTIVE, 7, T0, 12 * HOUR);
	ev->endpoint = NULL;
	ev->u.tunnel.kind = "ssh";
	rh_event(h, ev);
	const char *j = nth(h, ORPHAN, 0);
	assert_non_null(strstr(j, "\"endpoint\":\"52.66.1.2\""));
	assert_non_null(strstr(j, "\"address\":\"52.66.1.2\""));
	assert_null(strstr(j, "\"region\""));
	assert_non_null(strstr(j, "ssh tunnel to 52.66.1.2 open for 12h00m"));

	/* no flow key, no endpoint, no kind: what is known, and no crash */
	ev = tun(&b, IW_TUNNEL_ACTIVE, 8, T0, 12 * HOUR);
	ev->endpoint = NULL;
	ev->key = NULL;
	ev->u.tunnel.kind = NULL;
	rh_event(h, ev);
	j = nth(h, ORPHAN, 1);
	assert_null(strstr(j, "\"endpoint\""));
	assert_null(strstr(j, "\"address\""));
	assert_null(strstr(j, "\"kind\""));
	assert_non_null(strstr(j, "\"duration_s\":43200"));

	/* an endpoint known by region alone */
	static const struct iw_endpoint ranged = {.region = "centralindia", .region_source = "ip_range"};
	ev = tun(&b, IW_TUNNEL_CLOSE, 9, T0, 20 * HOUR);
	ev->endpoint = &ranged;
	rh_event(h, ev);
	j = nth(h, ORPHAN, 2);
	assert_non_null(strstr(j, "\"endpoint\":\"52.66.1.2\""));
	assert_non_null(strstr(j, "\"region\":\"centralindia\""));
	rh_free(h);
}

static void test_orphaned_configured_limit(void **state)
{
	(void)state;
	struct iw_rules_cfg cfg = rh_defaults();
	cfg.tunnel.max_duration = 30 * 60;
	struct rh *h = rh_new(&cfg, &iw_rule_tunnel);
	struct evb b;
	rh_event(h, tun(&b, IW_TUNNEL_ACTIVE, 7, T0, 30 * 60 * S));
	assert_true(rh_has(h, 0, "\"max_duration_s\":1800"));
	rh_free(h);

	/* a limit no duration reaches */
	cfg.tunnel.max_duration = UINT64_MAX;
	h = rh_new(&cfg, &iw_rule_tunnel);
	rh_event(h, tun(&b, IW_TUNNEL_CLOSE, 7, 0, UINT64_MAX));
	assert_int_equal(rh_n(h), 0);
	rh_free(h);
}

static void test_orphaned_table_bounded(void **state)
{
	(void)state;
	struct rh *h = harness();
	h->ctx.max_entries = 2;
	struct evb b;
	/* three sessions reported; the table keeps the last two */
	for (uint64_t f = 1; f <= 3; f++)
		rh_event(h, tun(&b, IW_TUNNEL_ACTIVE, f, T0, 12 * HOUR + f));
	assert_int_equal(n_of(h, ORPHAN), 3);
	/* past the day of de-duplication: sessions 2 and 3 are remembered, 1 was forgotten */
	rh_event(h, tun(&b, IW_TUNNEL_ACTIVE, 3, T0, 40 * HOUR));
	rh_event(h, tun(&b, IW_TUNNEL_ACTIVE, 2, T0, 40 * HOUR));
	assert_int_equal(n_of(h, ORPHAN), 3);
	rh_event(h, tun(&b, IW_TUNNEL_ACTIVE, 1, T0, 40 * HOUR));
	assert_int_equal(n_of(h, ORPHAN), 4);
	assert_non_null(strstr(nth(h, ORPHAN, 3), "\"flow_id\":1,"));
	rh_free(h);
}

/* ---- tunnel.renewal_loop ---- */

static void test_renewal_threshold(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	/* three opens (renewal_max) are allowed */
	for (uint64_t i = 0; i < 3; i++)
		rh_event(h, tun(&b, IW_TUNNEL_OPEN, 10 + i, T0 + i * 6 * HOUR, 0));
	assert_int_equal(rh_n(h), 0);
	/* the fourth within 24 h is a loop */
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 13, T0 + 18 * HOUR, 0));
	assert_int_equal(rh_n(h), 1);
	const char *j = nth(h, LOOP, 0);
	assert_non_null(strstr(j, "\"severity\":\"high\""));
	assert_non_null(strstr(j, "\"category\":\"remote-access\""));
	assert_non_null(strstr(j, "\"device\":{\"id\":\"cam-1\""));
	assert_non_null(strstr(j, "\"opens\":4"));
	assert_non_null(strstr(j, "\"renewal_max\":3"));
	assert_non_null(strstr(j, "\"window_s\":86400"));
	assert_non_null(
	    strstr(j, "\"open_times\":[\"2026-01-01T00:00:00.000000Z\",\"2026-01-01T06:00:00.000000Z\","
	              "\"2026-01-01T12:00:00.000000Z\",\"2026-01-01T18:00:00.000000Z\"]"));
	assert_non_null(strstr(j, "\"kind\":\"aws_secure_tunneling\""));
	assert_non_null(strstr(j, "\"endpoint\":\"data.tunneling.iot.ap-south-1.amazonaws.com\""));
	assert_non_null(strstr(j, "\"message\":\"cam-1 opened 4 tunnels within 24 h (more than 3)\""));
	/* the fifth the same day: de-duplicated per device */
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 14, T0 + 19 * HOUR, 0));
	assert_int_equal(rh_n(h), 1);
	/* still looping a day after the alert: raised again */
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 20, T0 + 30 * HOUR, 0));
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 21, T0 + 36 * HOUR, 0));
	assert_int_equal(n_of(h, LOOP), 1);
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 22, T0 + 42 * HOUR, 0));
	assert_true(strstr(nth(h, LOOP, 1), "\"opens\":5") != NULL);
	assert_int_equal(n_of(h, LOOP), 2);
	rh_free(h);
}

static void test_renewal_window(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	/* the fourth a day and a microsecond after the first: only three in the window */
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 1, T0, 0));
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 2, T0 + 8 * HOUR, 0));
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 3, T0 + 16 * HOUR, 0));
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 4, T0 + DAY + 1, 0));
	assert_int_equal(rh_n(h), 0);
	/* exactly a day after the second: four */
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 5, T0 + 8 * HOUR + DAY, 0));
	assert_int_equal(rh_n(h), 1);
	const char *j = nth(h, LOOP, 0);
	assert_non_null(strstr(j, "\"opens\":4"));
	assert_int_equal(arr_len(j, "open_times"), 4);
	assert_non_null(strstr(j, "\"open_times\":[\"2026-01-01T08:00:00.000000Z\","));
	rh_free(h);
}

static void test_renewal_devices_apart(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	static const char *const ids[] = {"cam-1", "cam-2"};
	/* two devices with three opens each: neither loops */
	for (uint64_t i = 0; i < 6; i++) {
		struct iw_event *ev = tun(&b, IW_TUNNEL_OPEN, i, T0 + i * HOUR, 0);
		ev->device.id = ids[i % 2];
		rh_event(h, ev);
	}
	assert_int_equal(rh_n(h), 0);
	/* cam-1's fourth */
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 77, T0 + 7 * HOUR, 0));
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
}

static void test_renewal_open_times_bounded(void **state)
{
	(void)state;
	struct iw_rules_cfg cfg = rh_defaults();
	cfg.tunnel.renewal_max = 20;
	struct rh *h = rh_new(&cfg, &iw_rule_tunnel);
	struct evb b;
	for (uint64_t i = 0; i < 21; i++)
		rh_event(h, tun(&b, IW_TUNNEL_OPEN, i, T0 + i * 60 * S, 0));
	const char *j = nth(h, LOOP, 0);
	assert_non_null(strstr(j, "\"opens\":21"));
	assert_int_equal(arr_len(j, "open_times"), 16);
	assert_non_null(strstr(j, "\"open_times\":[\"2026-01-01T00:00:00.000000Z\","));
	rh_free(h);

	/* renewal_max 0: the first open is already one too many */
	cfg.tunnel.renewal_max = 0;
	h = rh_new(&cfg, &iw_rule_tunnel);
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 1, T0, 0));
	assert_int_equal(n_of(h, LOOP), 1);
	rh_free(h);
}

static void test_renewal_fleet_count(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 1, T0, 0));
	rh_fleet_count(h, "dev:cam-1:tunnels", 3);
	assert_int_equal(rh_n(h), 0);
	/* other sensors saw three more */
	rh_fleet_count(h, "dev:cam-1:tunnels", 4);
	assert_int_equal(rh_n(h), 1);
	const char *j = nth(h, LOOP, 0);
	assert_non_null(strstr(j, "\"device\":{\"id\":\"cam-1\"}"));
	assert_null(strstr(j, "\"flow_id\""));
	assert_non_null(strstr(j, "\"opens\":4"));
	assert_non_null(strstr(j, "\"open_times\":[\"2026-01-01T00:00:00.000000Z\"]"));
	assert_non_null(strstr(j, "\"kind\":\"aws_secure_tunneling\""));
	assert_non_null(strstr(j, "\"endpoint\":\"data.tunneling.iot.ap-south-1.amazonaws.com\""));
	/* then this sensor's own fourth: the same device the same day */
	for (uint64_t i = 2; i <= 4; i++)
		rh_event(h, tun(&b, IW_TUNNEL_OPEN, i, T0 + i * HOUR, 0));
	assert_int_equal(rh_n(h), 1);
	/* a device this sensor never saw, and an id with colons */
	rh_fleet_count(h, "dev:plc:7:tunnels", 9);
	assert_int_equal(rh_n(h), 2);
	j = nth(h, LOOP, 1);
	assert_non_null(strstr(j, "\"device\":{\"id\":\"plc:7\"}"));
	assert_non_null(strstr(j, "\"open_times\":[]"));
	assert_null(strstr(j, "\"kind\""));
	/* names of other rules */
	rh_fleet_count(h, "dev::tunnels", 9);
	rh_fleet_count(h, "dev:tunnels", 9);
	rh_fleet_count(h, "dev:x:tunnel", 9);
	rh_fleet_count(h, "certexp:2026-03-01", 9);
	rh_fleet_count(h, "user:cam-1:clients", 9);
	rh_fleet_count(h, "", 9);
	assert_int_equal(rh_n(h), 2);
	rh_free(h);
}

static void test_renewal_device_identity(void **state)
{
	(void)state;
	struct iw_rules_cfg cfg = rh_defaults();
	cfg.tunnel.renewal_max = 0;
	struct rh *h = rh_new(&cfg, &iw_rule_tunnel);
	struct evb b;
	/* no id: the address stands in */
	struct iw_event *ev = tun(&b, IW_TUNNEL_OPEN, 1, T0, 0);
	ev->device.id = NULL;
	rh_event(h, ev);
	assert_int_equal(rh_n(h), 1);
	assert_true(rh_has(h, 0, "\"device\":{\"id\":\"10.0.0.7\",\"ip\":\"10.0.0.7\"}"));
	/* neither: nothing to count */
	ev = tun(&b, IW_TUNNEL_OPEN, 2, T0, 0);
	ev->device.id = NULL;
	ev->device.ip = NULL;
	rh_event(h, ev);
	ev = tun(&b, IW_TUNNEL_OPEN, 3, T0, 0);
	ev->device.id = "";
	ev->device.ip = "";
	rh_event(h, ev);
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
}

static void test_hostile(void **state)
{
	(void)state;
	struct iw_rules_cfg cfg = rh_defaults();
	cfg.tunnel.renewal_max = 1;
	struct rh *h = rh_new(&cfg, &iw_rule_tunnel);
	struct evb b;
	/* a device id far past any buffer */
	static char id[10000];
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	static char name[20000];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	struct iw_endpoint ep = {.name = name};
	for (uint64_t i = 0; i < 2; i++) {
		struct iw_event *ev = tun(&b, IW_TUNNEL_OPEN, i, T0 + i, 0);
		ev->device.id = id;
		ev->endpoint = &ep;
		ev->u.tunnel.kind = NULL;
		rh_event(h, ev);
	}
	assert_int_equal(n_of(h, LOOP), 1);
	char set[10020];
	snprintf(set, sizeof(set), "dev:%s:tunnels", id);
	rh_fleet_count(h, set, UINT64_MAX);
	assert_int_equal(n_of(h, LOOP), 1); /* the same device that day */

	/* extreme numbers */
	struct iw_event *ev = tun(&b, IW_TUNNEL_CLOSE, UINT64_MAX, 0, UINT64_MAX);
	ev->u.tunnel.bytes_toserver = UINT64_MAX;
	ev->u.tunnel.bytes_toclient = UINT64_MAX;
	rh_event(h, ev);
	const char *j = nth(h, ORPHAN, 0);
	assert_non_null(strstr(j, "\"bytes_toserver\":9223372036854775807"));
	assert_non_null(strstr(j, "\"duration_s\":18446744073709"));
	/* a type out of range */
	ev = tun(&b, IW_TUNNEL_OPEN, 5, T0, 0);
	ev->u.tunnel.type = IW_TUNNEL__TYPES;
	ev->u.tunnel.duration_us = 100 * HOUR;
	rh_event(h, ev);
	assert_int_equal(n_of(h, ORPHAN), 1);
	rh_free(h);

	/* a window of zero is a second; one of forever holds opens 300 days apart */
	cfg.tunnel.renewal_window = 0;
	h = rh_new(&cfg, &iw_rule_tunnel);
	for (uint64_t i = 0; i < 3; i++)
		rh_event(h, tun(&b, IW_TUNNEL_OPEN, i, T0 + i * 2 * S, 0));
	assert_int_equal(n_of(h, LOOP), 0);
	rh_event(h, tun(&b, IW_TUNNEL_OPEN, 9, T0 + 5 * S, 0));
	assert_int_equal(n_of(h, LOOP), 1);
	assert_true(rh_has(h, 0, "within 1 s (more than 1)"));
	rh_free(h);
	cfg.tunnel.renewal_window = UINT64_MAX;
	h = rh_new(&cfg, &iw_rule_tunnel);
	for (uint64_t i = 0; i < 3; i++)
		rh_event(h, tun(&b, IW_TUNNEL_OPEN, i, T0 + i * DAY * 300, 0));
	assert_int_equal(n_of(h, LOOP), 2); /* the second open, and the third (a new day) */
	rh_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_orphaned_at_max_duration),
	    cmocka_unit_test(test_orphaned_once_per_session),
	    cmocka_unit_test(test_orphaned_at_close),
	    cmocka_unit_test(test_orphaned_without_endpoint),
	    cmocka_unit_test(test_orphaned_configured_limit),
	    cmocka_unit_test(test_orphaned_table_bounded),
	    cmocka_unit_test(test_renewal_threshold),
	    cmocka_unit_test(test_renewal_window),
	    cmocka_unit_test(test_renewal_devices_apart),
	    cmocka_unit_test(test_renewal_open_times_bounded),
	    cmocka_unit_test(test_renewal_fleet_count),
	    cmocka_unit_test(test_renewal_device_identity),
	    cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
