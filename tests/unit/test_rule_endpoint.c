/* test_rule_endpoint.c - tests endpoint.off_region (rules/endpoint.c, docs/rules.md): off
 * without allowed regions, case-insensitive exact matching, the evidence and subject,
 * the endpoint's address when the device is the server, the flow's end as the only
 * event, a region that changes within a flow, one raise per flow (the memo) and again
 * after an hour, de-duplication per (device, endpoint) per day, and hostile events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parsers/event.h"
#include "rules/rule.h"
#include "tests/unit/rule_harness.h"

extern const struct iw_rule iw_rule_endpoint;

#define T0   1700000000000000ull /* packet time, µs */
#define SEC  1000000ull
#define HOUR (3600 * SEC)
#define DAY  (24 * HOUR)

static char *allowed_india[] = {"ap-south-1", "ap-south-2", "centralindia", "southindia"};

static struct iw_rules_cfg cfg_india(void)
{
	struct iw_rules_cfg c = rh_defaults();
	c.region.allowed = allowed_india;
	c.region.n_allowed = 4;
	return c;
}

/* A flow 10.1.2.3:40000 -> 52.95.1.10:8883, v4, TCP, and an endpoint. */
struct fx {
	struct iw_flow_key key;
	struct iw_endpoint ep;
	struct iw_event ev;
};

static void fx_init(struct fx *f, uint64_t flow_id, const char *dev_id, const char *name, const char *region)
{
	memset(f, 0, sizeof(*f));
	f->key.family = 4;
	f->key.proto = 6;
	f->key.sport = 40000;
	f->key.dport = 8883;
	memcpy(f->key.src.b, (const uint8_t[]){10, 1, 2, 3}, 4);
	memcpy(f->key.dst.b, (const uint8_t[]){52, 95, 1, 10}, 4);
	f->ep.name = name;
	f->ep.name_source = "sni";
	f->ep.region = region;
	f->ep.provider = "aws";
	f->ep.region_source = "sni";
	f->ep.service = "iot";
	f->ev.kind = IW_EV_TLS;
	f->ev.ts_us = T0;
	f->ev.flow_id = flow_id;
	f->ev.key = &f->key;
	f->ev.app_proto = "tls";
	f->ev.device.id = dev_id;
	f->ev.device.ip = "10.1.2.3";
	f->ev.endpoint = &f->ep;
}

static void test_off_without_allowed(void **state)
{
	(void)state;
	struct iw_rules_cfg c = rh_defaults();
	assert_null(iw_rule_endpoint.state_new(&c));
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 1, "dev1", "a1b2c3-ats.iot.us-east-1.amazonaws.com", "us-east-1");
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 0);
	rh_free(h);

	/* a list of only NULL entries is no list */
	char *nulls[] = {NULL, NULL};
	c.region.allowed = nulls;
	c.region.n_allowed = 2;
	assert_null(iw_rule_endpoint.state_new(&c));
}

static void test_allowed_region_is_quiet(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 1, "dev1", "a1b2c3-ats.iot.ap-south-1.amazonaws.com", "ap-south-1");
	rh_event(h, &f.ev);
	f.ep.region = "AP-South-2"; /* case does not matter */
	f.ev.flow_id = 2;
	rh_event(h, &f.ev);
	f.ep.region = "CentralIndia";
	f.ev.flow_id = 3;
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 0);
	rh_free(h);
}

static void test_exact_match_only(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	const char *near[] = {"ap-south-10", "ap-south", "ap-south-1 ", "xap-south-1", "southindia2"};
	for (unsigned i = 0; i < 5; i++) {
		struct fx f;
		char name[64];
		snprintf(name, sizeof(name), "host%u.example", i);
		fx_init(&f, 10 + i, "dev1", name, near[i]);
		rh_event(h, &f.ev);
		assert_int_equal(rh_n(h), i + 1);
	}
	rh_free(h);
}

static void test_alert_and_evidence(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 7, "sensor-42", "a1b2c3-ats.iot.us-east-1.amazonaws.com", "us-east-1");
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	assert_string_equal(rh_rule(h, 0), "endpoint.off_region");
	assert_true(rh_has(h, 0, "\"rule\":\"endpoint.off_region\""));
	assert_true(rh_has(h, 0, "\"category\":\"data-residency\""));
	assert_true(rh_has(h, 0, "\"severity\":\"high\""));
	assert_true(rh_has(h, 0, "\"id\":\"sensor-42\""));
	assert_true(rh_has(h, 0, "\"flow_id\":7"));
	assert_true(rh_has(h, 0, "\"name\":\"a1b2c3-ats.iot.us-east-1.amazonaws.com\""));
	assert_true(rh_has(h, 0, "\"address\":\"52.95.1.10\""));
	assert_true(rh_has(h, 0, "\"region\":\"us-east-1\""));
	assert_true(rh_has(h, 0, "\"provider\":\"aws\""));
	assert_true(rh_has(h, 0, "\"service\":\"iot\""));
	assert_true(rh_has(h, 0, "\"source\":\"sni\""));
	assert_true(
	    rh_has(h, 0, "\"allowed\":[\"ap-south-1\",\"ap-south-2\",\"centralindia\",\"southindia\"]"));
	assert_true(rh_has(h, 0,
	                   "\"message\":\"sensor-42 talks to a1b2c3-ats.iot.us-east-1.amazonaws.com in "
	                   "region us-east-1, which is not allowed\""));
	rh_free(h);
}

/* No name: the subject and the message use the address; absent strings are left out. */
static void test_no_name_uses_address(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 1, "dev1", NULL, "westeurope");
	f.ep.provider = "azure";
	f.ep.service = NULL;
	f.ep.region_source = "ip_range";
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	assert_false(rh_has(h, 0, "\"name\":"));
	assert_false(rh_has(h, 0, "\"service\":"));
	assert_true(rh_has(h, 0, "\"address\":\"52.95.1.10\""));
	assert_true(rh_has(h, 0, "\"source\":\"ip_range\""));
	assert_true(rh_has(h, 0, "dev1 talks to 52.95.1.10 in region westeurope"));

	/* the same device and address on another flow: the same subject, de-duplicated */
	f.ev.flow_id = 2;
	f.ev.ts_us += 10 * SEC;
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	/* an empty name counts as none */
	f.ep.name = "";
	f.ev.flow_id = 3;
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
}

/* With the device inside sensor.device_networks as the server, the endpoint is the client. */
static void test_device_is_server(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 1, "plc-7", NULL, "us-west-2");
	f.ev.device.ip = "52.95.1.10"; /* the device is the flow's dst */
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	assert_true(rh_has(h, 0, "\"address\":\"10.1.2.3\""));
	rh_free(h);
}

static void test_ipv6(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 1, "dev6", NULL, "eu-central-1");
	f.key.family = 6;
	memset(f.key.src.b, 0, 16);
	memset(f.key.dst.b, 0, 16);
	memcpy(f.key.src.b, (const uint8_t[]){0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 16);
	memcpy(f.key.dst.b, (const uint8_t[]){0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10},
	       16);
	f.ev.device.ip = "fd00::1";
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	assert_true(rh_has(h, 0, "\"address\":\"2001:db8::10\""));
	rh_free(h);
}

/* A flow no parser decodes: its end is the only event, and it still counts. */
static void test_flow_end_only(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 99, "dev1", NULL, "us-east-2");
	f.ev.kind = IW_EV_FLOW;
	f.ev.u.flow.reason = IW_END_FIN;
	f.ev.u.flow.start_us = T0 - 5 * SEC;
	f.ev.u.flow.end_us = T0;
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	assert_true(rh_has(h, 0, "\"event_type\":\"alert\""));
	rh_free(h);
}

/* Every event kind is judged. */
static void test_every_kind(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	assert_int_equal(iw_rule_endpoint.kinds, (1u << IW_EV__COUNT) - 1);
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	for (unsigned k = 0; k < IW_EV__COUNT; k++) {
		struct fx f;
		char dev[16];
		snprintf(dev, sizeof(dev), "dev%u", k);
		fx_init(&f, 100 + k, dev, "x.example", "us-east-1");
		f.ev.kind = (enum iw_event_kind)k;
		rh_event(h, &f.ev);
		assert_int_equal(rh_n(h), k + 1);
	}
	rh_free(h);
}

/* De-duplication: once per (device, endpoint) per day of packet time. */
static void test_dedup_per_device_endpoint_day(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 1, "dev1", "x.iot.us-east-1.amazonaws.com", "us-east-1");
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	/* a new flow to the same endpoint, hours later: quiet */
	f.ev.flow_id = 2;
	f.ev.ts_us = T0 + 5 * HOUR;
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	/* another endpoint of the same device: a new alert */
	f.ev.flow_id = 3;
	f.ep.name = "y.iot.us-east-1.amazonaws.com";
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 2);
	/* another device, the first endpoint: a new alert */
	f.ev.flow_id = 4;
	f.ev.device.id = "dev2";
	f.ep.name = "x.iot.us-east-1.amazonaws.com";
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 3);
	/* just short of a day after the first alert: still quiet */
	f.ev.flow_id = 5;
	f.ev.device.id = "dev1";
	f.ev.ts_us = T0 + DAY - 1;
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 3);
	/* a day later: again */
	f.ev.flow_id = 6;
	f.ev.ts_us = T0 + DAY;
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 4);
	rh_free(h);
}

/* A long-lived flow (MQTT lives for days) alerts again a day later, on its own events. */
static void test_long_flow_realerts_daily(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 1, "dev1", "broker.example", "eu-west-1");
	f.ev.kind = IW_EV_MQTT;
	for (uint64_t t = 0; t <= 3 * DAY; t += 10 * 60 * SEC) {
		f.ev.ts_us = T0 + t;
		rh_event(h, &f.ev);
	}
	assert_int_equal(rh_n(h), 4); /* days 0, 1, 2 and 3 */
	rh_free(h);
}

/* The region of a flow changes (SNI after the ip-range files): judged again. */
static void test_region_change_in_flow(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 1, "dev1", NULL, "ap-south-1");
	f.ep.region_source = "ip_range";
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 0);
	f.ep.name = "a.iot.eu-north-1.amazonaws.com";
	f.ep.region = "eu-north-1";
	f.ep.region_source = "sni";
	f.ev.ts_us += SEC;
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	assert_true(rh_has(h, 0, "\"source\":\"sni\""));
	/* and back to allowed: no alert, and the region buffer reused in place does not confuse it */
	char region[16] = "ap-south-1";
	f.ep.region = region;
	rh_event(h, &f.ev);
	memcpy(region, "us-east-1", 10);
	f.ep.name = "b.example"; /* another subject, or the de-duplication would hide it */
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 2);
	rh_free(h);
}

/* ---- the memo: counted on a context of our own, below the de-duplication ---- */

static unsigned raised;

static void count_raise(struct iw_rule_ctx *ctx, const struct iw_alert *a, const char *subject)
{
	(void)ctx;
	(void)subject;
	assert_non_null(a->rule);
	assert_true(a->n_evidence <= IW_ALERT_MAX_EVIDENCE);
	raised++;
}

static void test_memo_one_raise_per_flow(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	void *st = iw_rule_endpoint.state_new(&c);
	struct iw_rule_ctx ctx = {.cfg = &c, .max_entries = 1000, .raise = count_raise};
	raised = 0;
	struct fx f;
	fx_init(&f, 5, "dev1", "x.example", "us-east-1");
	for (unsigned i = 0; i < 1000; i++) {
		f.ev.ts_us = T0 + i * SEC;
		iw_rule_endpoint.on_event(st, &ctx, &f.ev);
	}
	assert_int_equal(raised, 1);
	/* its end: already judged, quiet, and its slot is freed (an id seen again is judged) */
	f.ev.kind = IW_EV_FLOW;
	iw_rule_endpoint.on_event(st, &ctx, &f.ev);
	assert_int_equal(raised, 1);
	f.ev.kind = IW_EV_TLS;
	iw_rule_endpoint.on_event(st, &ctx, &f.ev);
	assert_int_equal(raised, 2);
	/* an hour later, the same flow is judged again, once */
	uint64_t t = f.ev.ts_us;
	f.ev.ts_us = t + HOUR - 1;
	iw_rule_endpoint.on_event(st, &ctx, &f.ev);
	assert_int_equal(raised, 2);
	f.ev.ts_us = t + HOUR;
	iw_rule_endpoint.on_event(st, &ctx, &f.ev);
	iw_rule_endpoint.on_event(st, &ctx, &f.ev);
	assert_int_equal(raised, 3);
	/* packet time going back: still judged */
	f.ev.ts_us = T0;
	iw_rule_endpoint.on_event(st, &ctx, &f.ev);
	assert_int_equal(raised, 3);

	/* many flows at once, more than the memo holds: each judged, nothing crashes, and
	 * a flow seen twice in a row is not raised twice */
	raised = 0;
	for (uint64_t id = 1000; id < 1000 + 50000; id++) {
		f.ev.flow_id = id;
		iw_rule_endpoint.on_event(st, &ctx, &f.ev);
		iw_rule_endpoint.on_event(st, &ctx, &f.ev);
	}
	assert_int_equal(raised, 50000);
	/* allowed regions are remembered too, and never raised */
	raised = 0;
	f.ep.region = "southindia";
	for (uint64_t id = 1; id < 5000; id++) {
		f.ev.flow_id = id;
		iw_rule_endpoint.on_event(st, &ctx, &f.ev);
	}
	assert_int_equal(raised, 0);
	iw_rule_endpoint.state_free(st);
	iw_rule_endpoint.state_free(NULL);
}

/* Events with pieces missing or odd never crash, and say nothing when there is no region. */
static void test_hostile_events(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_india();
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	struct fx f;
	fx_init(&f, 1, "dev1", "x.example", NULL);
	rh_event(h, &f.ev); /* no region */
	f.ep.region = "";
	rh_event(h, &f.ev); /* empty region */
	f.ev.endpoint = NULL;
	rh_event(h, &f.ev); /* no endpoint */
	f.ev.kind = IW_EV_FLOW;
	rh_event(h, &f.ev); /* the end of a flow without one */
	assert_int_equal(rh_n(h), 0);

	/* no key, no device, no name, provider or source: an alert with what is known */
	fx_init(&f, 2, NULL, NULL, "us-east-1");
	f.ev.key = NULL;
	f.ev.device.ip = NULL;
	f.ep.provider = f.ep.service = f.ep.region_source = NULL;
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	assert_true(rh_has(h, 0, "\"region\":\"us-east-1\""));
	assert_true(rh_has(h, 0, "a device talks to an endpoint in region us-east-1"));

	/* a long name and region, and odd bytes in them */
	char longname[1024], longregion[512];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(longregion, 'r', sizeof(longregion) - 1);
	longregion[sizeof(longregion) - 1] = '\0';
	longregion[3] = '\x01';
	longregion[4] = '"';
	fx_init(&f, 3, "dev\"1", longname, longregion);
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 2);
	/* flow ids at the extremes */
	fx_init(&f, 0, "dev1", "z.example", "us-east-1");
	rh_event(h, &f.ev);
	fx_init(&f, UINT64_MAX, "dev1", "w.example", "us-east-1");
	f.ev.ts_us = UINT64_MAX - 1;
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 4);
	rh_free(h);
}

/* The evidence points at the state's copies: the configuration's strings may go. */
static void test_allowed_copied(void **state)
{
	(void)state;
	char a0[] = "eu-west-1";
	char *list[] = {a0, NULL};
	struct iw_rules_cfg c = rh_defaults();
	c.region.allowed = list;
	c.region.n_allowed = 2; /* a NULL entry is skipped */
	struct rh *h = rh_new(&c, &iw_rule_endpoint);
	memcpy(a0, "XXXXXXXXX", 9);
	struct fx f;
	fx_init(&f, 1, "dev1", "h.example", "eu-west-1");
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 0);
	f.ep.region = "eu-west-2";
	rh_event(h, &f.ev);
	assert_int_equal(rh_n(h), 1);
	assert_true(rh_has(h, 0, "\"allowed\":[\"eu-west-1\"]"));
	rh_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_off_without_allowed),
	    cmocka_unit_test(test_allowed_region_is_quiet),
	    cmocka_unit_test(test_exact_match_only),
	    cmocka_unit_test(test_alert_and_evidence),
	    cmocka_unit_test(test_no_name_uses_address),
	    cmocka_unit_test(test_device_is_server),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_flow_end_only),
	    cmocka_unit_test(test_every_kind),
	    cmocka_unit_test(test_dedup_per_device_endpoint_day),
	    cmocka_unit_test(test_long_flow_realerts_daily),
	    cmocka_unit_test(test_region_change_in_flow),
	    cmocka_unit_test(test_memo_one_raise_per_flow),
	    cmocka_unit_test(test_hostile_events),
	    cmocka_unit_test(test_allowed_copied),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
