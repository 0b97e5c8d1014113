/* test_rule_mqtt.c - the MQTT rules (rules/mqtt.c) driven through tests/unit/rule_harness.h
 * with hand-built events on packet time: wildcards and their severities, trusted globs,
 * shared subscriptions, namespaces with and without templates (filter-covers-filter,
 * '$' topics, hostile client ids), clear-text credentials, client id conflicts and their
 * session table's bounds, shared credentials counted here and by the fleet, de-duplication
 * within and after a day, and malformed or hostile events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/rule_harness.h"

extern const struct iw_rule iw_rule_mqtt;

#define SEC 1000000ull
#define DAY (86400ull * SEC)
#define T0  1767225600000000ull /* 2026-01-01T00:00:00Z */

enum { TOSERVER = 0, TOCLIENT = 1 };

/* ---- building events ---- */

static struct iw_mqtt_str ms(const char *s)
{
	struct iw_mqtt_str m = {s, s != NULL ? (uint32_t)strlen(s) : 0};
	return m;
}

static const char *const type_names[16] = {
    "reserved",  "connect", "connack",     "publish",  "puback",  "pubrec",   "pubrel",     "pubcomp",
    "subscribe", "suback",  "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"};

/* An MQTT event of type from the device at ip on flow_id; cid is the client id the
 * sensor knows for the flow (NULL: its CONNECT was not seen). */
static struct iw_event mk(uint8_t type, uint64_t ts_us, uint64_t flow_id, const char *ip, const char *cid)
{
	struct iw_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = IW_EV_MQTT;
	ev.ts_us = ts_us;
	ev.flow_id = flow_id;
	ev.app_proto = "mqtt";
	ev.device.ip = ip;
	ev.device.client_id = cid;
	ev.device.id = cid != NULL ? cid : ip;
	ev.u.mqtt.msgtype = type;
	ev.u.mqtt.type = type_names[type & 15];
	ev.u.mqtt.dir = TOSERVER;
	ev.u.mqtt.protocol_version = 4;
	return ev;
}

static void connect_ev(struct rh *h, uint64_t ts_us, uint64_t flow_id, const char *ip, const char *cid,
                       const char *user, bool password)
{
	struct iw_event ev = mk(IW_MQTT_CONNECT, ts_us, flow_id, ip, cid != NULL && *cid ? cid : NULL);
	ev.u.mqtt.client_id = ms(cid);
	ev.u.mqtt.has_username = user != NULL;
	ev.u.mqtt.username = ms(user);
	ev.u.mqtt.password_present = password;
	rh_event(h, &ev);
}

static void subscribe_ev(struct rh *h, uint64_t ts_us, const char *cid, const char *filter, uint8_t qos)
{
	struct iw_mqtt_topic t;
	memset(&t, 0, sizeof(t));
	t.filter = ms(filter);
	t.qos = qos;
	struct iw_event ev = mk(IW_MQTT_SUBSCRIBE, ts_us, 1, "10.0.0.1", cid);
	ev.u.mqtt.n_topics = 1;
	ev.u.mqtt.topics = &t;
	ev.u.mqtt.has_message_id = true;
	ev.u.mqtt.message_id = 7;
	rh_event(h, &ev);
}

static void publish_ev(struct rh *h, uint64_t ts_us, const char *cid, const char *topic)
{
	struct iw_event ev = mk(IW_MQTT_PUBLISH, ts_us, 1, "10.0.0.1", cid);
	ev.u.mqtt.topic = ms(topic);
	ev.u.mqtt.qos = 1;
	rh_event(h, &ev);
}

static void end_ev(struct rh *h, uint64_t ts_us, uint64_t flow_id, const char *ip, const char *cid)
{
	struct iw_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = IW_EV_FLOW;
	ev.ts_us = ts_us;
	ev.flow_id = flow_id;
	ev.device.ip = ip;
	ev.device.client_id = cid;
	ev.device.id = cid != NULL ? cid : ip;
	ev.u.flow.start_us = T0;
	ev.u.flow.end_us = ts_us;
	ev.u.flow.reason = IW_END_FIN;
	rh_event(h, &ev);
}

/* How many alerts of rule were raised. */
static unsigned n_rule(const struct rh *h, const char *rule)
{
	unsigned n = 0;
	for (unsigned i = 0; i < rh_n(h); i++)
		n += strcmp(rh_rule(h, i), rule) == 0;
	return n;
}

/* The index of the last alert of rule; fails the test when there is none. */
static unsigned last_of(const struct rh *h, const char *rule)
{
	for (unsigned i = rh_n(h); i-- > 0;)
		if (strcmp(rh_rule(h, i), rule) == 0)
			return i;
	fail_msg("no %s alert", rule);
	return 0;
}

static void expect_has(const struct rh *h, unsigned i, const char *needle)
{
	if (!rh_has(h, i, needle))
		fail_msg("alert %u lacks %s: %s", i, needle, rh_json(h, i));
}

static void expect_lacks(const struct rh *h, unsigned i, const char *needle)
{
	if (rh_has(h, i, needle))
		fail_msg("alert %u has %s: %s", i, needle, rh_json(h, i));
}

static char *trusted_ops[] = {"ops-*", "backup-?"};
static char *pub_dt[] = {"dt/{client_id}/#"};
static char *sub_cmd[] = {"cmd/{client_id}/#"};

static struct iw_rules_cfg cfg_namespaces(void)
{
	struct iw_rules_cfg c = rh_defaults();
	c.mqtt.trusted_clients = trusted_ops;
	c.mqtt.n_trusted_clients = 2;
	c.mqtt.publish_namespaces = pub_dt;
	c.mqtt.n_publish_namespaces = 1;
	c.mqtt.subscribe_namespaces = sub_cmd;
	c.mqtt.n_subscribe_namespaces = 1;
	return c;
}

/* ---- mqtt.wildcard_subscribe ---- */

static void test_wildcard_severities(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	static const struct {
		const char *filter;
		const char *severity;
	} cases[] = {
	    {"#", "high"},
	    {"$SYS/#", "high"},
	    {"+", "medium"},
	    {"a/#", "medium"},
	    {"dt/+/telemetry", "medium"},
	    {"$SYS/+/load", "medium"},
	    {"#/x", "medium"},
	    {"a+b", "medium"},
	};
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		unsigned before = n_rule(h, "mqtt.wildcard_subscribe");
		subscribe_ev(h, T0 + k * SEC, "dev-1", cases[k].filter, 1);
		assert_int_equal(n_rule(h, "mqtt.wildcard_subscribe"), before + 1);
		unsigned i = last_of(h, "mqtt.wildcard_subscribe");
		char want[128];
		snprintf(want, sizeof(want), "\"severity\":\"%s\"", cases[k].severity);
		expect_has(h, i, want);
		snprintf(want, sizeof(want), "\"filter\":\"%s\"", cases[k].filter);
		expect_has(h, i, want);
		expect_has(h, i, "\"category\":\"mqtt-abuse\"");
		expect_has(h, i, "\"client_id\":\"dev-1\",\"qos\":1");
		expect_lacks(h, i, "shared_group");
	}
	/* no wildcard, or '$' alone: none */
	unsigned before = n_rule(h, "mqtt.wildcard_subscribe");
	subscribe_ev(h, T0 + 100 * SEC, "dev-1", "cmd/dev-1/reboot", 0);
	subscribe_ev(h, T0 + 101 * SEC, "dev-1", "$SYS/broker/load", 0);
	assert_int_equal(n_rule(h, "mqtt.wildcard_subscribe"), before);
	rh_free(h);
}

static void test_wildcard_trusted_globs(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	subscribe_ev(h, T0, "ops-console", "#", 1);       /* ops-* */
	subscribe_ev(h, T0 + 1, "backup-7", "$SYS/#", 0); /* backup-? */
	publish_ev(h, T0 + 2, "ops-console", "anything/at/all");
	assert_int_equal(rh_n(h), 0);
	/* fnmatch without flags: case matters, '?' is one character */
	subscribe_ev(h, T0 + 3, "OPS-console", "#", 1);
	subscribe_ev(h, T0 + 4, "backup-77", "#", 1);
	subscribe_ev(h, T0 + 5, "xops-1", "#", 1);
	assert_int_equal(n_rule(h, "mqtt.wildcard_subscribe"), 3);
	rh_free(h);
}

static void test_wildcard_without_client_id(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	c.mqtt.n_trusted_clients = 0;
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	subscribe_ev(h, T0, NULL, "#", 2); /* picked up mid-stream: no CONNECT, no client id */
	assert_int_equal(rh_n(h), 1);      /* no topic_violation: no namespace to judge by */
	assert_string_equal(rh_rule(h, 0), "mqtt.wildcard_subscribe");
	expect_has(h, 0, "\"filter\":\"#\"");
	expect_has(h, 0, "\"qos\":2");
	expect_has(h, 0, "\"id\":\"10.0.0.1\"");
	expect_lacks(h, 0, "client_id");
	/* a trusted glob matching anything does not trust an unknown client */
	static char *any[] = {"*"};
	c.mqtt.trusted_clients = any;
	c.mqtt.n_trusted_clients = 1;
	struct rh *h2 = rh_new(&c, &iw_rule_mqtt);
	subscribe_ev(h2, T0, NULL, "a/+", 0);
	subscribe_ev(h2, T0, "dev-1", "a/+", 0);
	assert_int_equal(rh_n(h2), 1);
	expect_lacks(h2, 0, "client_id");
	rh_free(h2);
	rh_free(h);
}

static void test_shared_subscription(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);

	subscribe_ev(h, T0, "dev-9", "$share/grp/dt/#", 1);
	assert_int_equal(rh_n(h), 2);
	unsigned w = last_of(h, "mqtt.wildcard_subscribe"), t = last_of(h, "mqtt.topic_violation");
	expect_has(h, w, "\"severity\":\"medium\"");
	expect_has(h, w, "\"filter\":\"$share/grp/dt/#\"");
	expect_has(h, w, "\"shared_group\":\"grp\"");
	expect_has(h, t, "\"topic\":\"$share/grp/dt/#\"");
	expect_has(h, t, "\"shared_group\":\"grp\"");
	expect_has(h, t, "\"namespaces\":[\"cmd/dev-9/#\"]");

	/* judged on the filter after the group: inside the namespace, and "#" alone is high */
	subscribe_ev(h, T0 + SEC, "dev-9", "$share/grp/cmd/dev-9/#", 1);
	assert_int_equal(rh_n(h), 3);
	assert_string_equal(rh_rule(h, 2), "mqtt.wildcard_subscribe");
	subscribe_ev(h, T0 + 2 * SEC, "dev-9", "$share/g2/#", 1);
	w = last_of(h, "mqtt.wildcard_subscribe");
	expect_has(h, w, "\"severity\":\"high\"");
	expect_has(h, w, "\"shared_group\":\"g2\"");
	assert_int_equal(n_rule(h, "mqtt.topic_violation"), 2);
	subscribe_ev(h, T0 + 2 * SEC, "dev-9", "$share/g3/$SYS/#", 1);
	w = last_of(h, "mqtt.wildcard_subscribe");
	expect_has(h, w, "\"severity\":\"high\"");
	expect_has(h, w, "\"filter\":\"$share/g3/$SYS/#\"");
	assert_int_equal(n_rule(h, "mqtt.topic_violation"), 3);

	/* a shared subscription with no filter after its group is judged as sent */
	subscribe_ev(h, T0 + 3 * SEC, "dev-9", "$share/only", 1);
	t = last_of(h, "mqtt.topic_violation");
	expect_has(h, t, "\"topic\":\"$share/only\"");
	expect_lacks(h, t, "shared_group");
	assert_int_equal(n_rule(h, "mqtt.wildcard_subscribe"), 4);
	rh_free(h);
}

/* ---- mqtt.topic_violation ---- */

/* Subscribes cid to each filter and checks which were outside. */
static void expect_subscriptions(struct rh *h, const char *cid, const char *const *inside, unsigned n_in,
                                 const char *const *outside, unsigned n_out)
{
	static uint64_t ts = T0;
	for (unsigned k = 0; k < n_in; k++) {
		unsigned before = n_rule(h, "mqtt.topic_violation");
		subscribe_ev(h, ts += SEC, cid, inside[k], 0);
		if (n_rule(h, "mqtt.topic_violation") != before)
			fail_msg("%s: %s was judged outside", cid, inside[k]);
	}
	for (unsigned k = 0; k < n_out; k++) {
		unsigned before = n_rule(h, "mqtt.topic_violation");
		subscribe_ev(h, ts += SEC, cid, outside[k], 0);
		if (n_rule(h, "mqtt.topic_violation") != before + 1)
			fail_msg("%s: %s was judged inside", cid, outside[k]);
	}
}

static void test_namespace_filter_covers_filter(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	static const char *const in1[] = {"cmd/dev-1/#",   "cmd/dev-1",   "cmd/dev-1/reboot",
	                                  "cmd/dev-1/+/x", "cmd/dev-1/+", "cmd/dev-1/a/#"};
	static const char *const out1[] = {"cmd/+/reboot", "cmd/#", "cmd/dev-2/x",   "#", "+/dev-1/x", "cmd",
	                                   "cmd/dev-1x",   "cmd/+", "$share/g/cmd/#"};
	expect_subscriptions(h, "dev-1", in1, 6, out1, 9);
	unsigned t = last_of(h, "mqtt.topic_violation");
	expect_has(h, t, "\"action\":\"subscribe\"");
	expect_has(h, t, "\"client_id\":\"dev-1\"");
	expect_has(h, t, "\"severity\":\"medium\"");
	rh_free(h);

	/* '+' in the namespace takes one level of anything but '#' */
	static char *plus[] = {"dt/+/{client_id}", "cfg/{client_id}/+/set"};
	c.mqtt.subscribe_namespaces = plus;
	c.mqtt.n_subscribe_namespaces = 2;
	h = rh_new(&c, &iw_rule_mqtt);
	static const char *const in2[] = {"dt/a/dev-1", "dt/+/dev-1", "cfg/dev-1/x/set", "cfg/dev-1/+/set"};
	static const char *const out2[] = {"dt/#",        "dt/a/dev-1/x",      "dt/a",  "cfg/dev-1/#/set",
	                                   "cfg/dev-1/x", "cfg/dev-1/x/set/y", "dt/a/+"};
	expect_subscriptions(h, "dev-1", in2, 4, out2, 7);
	t = last_of(h, "mqtt.topic_violation");
	expect_has(h, t, "\"namespaces\":[\"dt/+/dev-1\",\"cfg/dev-1/+/set\"]");
	rh_free(h);
}

/* Templates are filled in on the stack up to 256 bytes and on the heap past that; one
 * with more {client_id}s than the split form holds is expanded the slow way. All three
 * must judge alike. */
static void test_namespace_long_ids_and_repeats(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	static char *twice[] = {"{client_id}/x/{client_id}/#",
	                        "m/{client_id}/{client_id}/{client_id}/{client_id}/{client_id}/{client_id}/"
	                        "{client_id}/{client_id}/{client_id}"};
	c.mqtt.subscribe_namespaces = twice;
	c.mqtt.n_subscribe_namespaces = 2;
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	static const char *const in1[] = {"dev-1/x/dev-1/#", "dev-1/x/dev-1/a/b",
	                                  "m/dev-1/dev-1/dev-1/dev-1/dev-1/dev-1/dev-1/dev-1/dev-1"};
	static const char *const out1[] = {"dev-1/x/dev-2/#", "dev-2/x/dev-1/#",
	                                   "m/dev-1/dev-1/dev-1/dev-1/dev-1/dev-1/dev-1/dev-1/dev-2",
	                                   "m/dev-1/dev-1/dev-1/dev-1/dev-1/dev-1/dev-1/dev-1"};
	expect_subscriptions(h, "dev-1", in1, 3, out1, 4);
	rh_free(h);

	/* a 300-byte client id: the filled-in template is past the stack buffer */
	char cid[301], in_topic[320], out_topic[320];
	memset(cid, 'a', 300);
	cid[300] = '\0';
	snprintf(in_topic, sizeof(in_topic), "cmd/%s/reboot", cid);
	snprintf(out_topic, sizeof(out_topic), "cmd/%s/reboot", cid + 1);
	c = cfg_namespaces();
	h = rh_new(&c, &iw_rule_mqtt);
	const char *in2[] = {in_topic}, *out2[] = {out_topic};
	expect_subscriptions(h, cid, in2, 1, out2, 1);
	rh_free(h);
}

static void test_namespace_dollar_topics(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	static char *wide[] = {"#", "+/status"};
	c.mqtt.subscribe_namespaces = wide;
	c.mqtt.n_subscribe_namespaces = 2;
	c.mqtt.publish_namespaces = wide;
	c.mqtt.n_publish_namespaces = 2;
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	/* a namespace starting with a wildcard matches no '$' topic; "#" still covers "+/x" */
	static const char *const in[] = {"a/b", "+/x", "#", "+", "a/$x"};
	static const char *const out[] = {"$SYS/x", "$SYS/#", "$share/g/$SYS/status"};
	expect_subscriptions(h, "dev-1", in, 5, out, 3);
	publish_ev(h, T0 + DAY, "dev-1", "$SYS/status");
	publish_ev(h, T0 + DAY, "dev-1", "plain/status");
	unsigned t = last_of(h, "mqtt.topic_violation");
	expect_has(h, t, "\"action\":\"publish\"");
	expect_has(h, t, "\"topic\":\"$SYS/status\"");
	assert_int_equal(n_rule(h, "mqtt.topic_violation"), 4);
	rh_free(h);

	static char *sys[] = {"$SYS/#"};
	c.mqtt.subscribe_namespaces = sys;
	c.mqtt.n_subscribe_namespaces = 1;
	h = rh_new(&c, &iw_rule_mqtt);
	static const char *const in3[] = {"$SYS/#", "$SYS", "$SYS/+/load"};
	static const char *const out3[] = {"+/broker", "#"};
	expect_subscriptions(h, "dev-1", in3, 3, out3, 2);
	rh_free(h);
}

static void test_publish_namespace(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	publish_ev(h, T0, "dev-3", "dt/dev-3/telemetry");
	publish_ev(h, T0, "dev-3", "dt/dev-3"); /* "a/#" also matches "a" */
	publish_ev(h, T0, "dev-3", "dt/dev-3/a/b/c");
	assert_int_equal(rh_n(h), 0);

	publish_ev(h, T0 + SEC, "dev-3", "dt/dev-4/telemetry");
	assert_int_equal(rh_n(h), 1);
	assert_string_equal(rh_rule(h, 0), "mqtt.topic_violation");
	expect_has(
	    h, 0,
	    "\"evidence\":{\"action\":\"publish\",\"topic\":\"dt/dev-4/telemetry\",\"client_id\":\"dev-3\","
	    "\"namespaces\":[\"dt/dev-3/#\"]}");
	expect_has(h, 0, "\"device\":{\"id\":\"dev-3\"");
	expect_has(h, 0,
	           "\"message\":\"client dev-3 published to dt/dev-4/telemetry outside its namespace\"");

	/* the same topic again within a day: quiet; another topic: a new subject */
	publish_ev(h, T0 + 2 * SEC, "dev-3", "dt/dev-4/telemetry");
	publish_ev(h, T0 + 3 * SEC, "dev-3", "dt");
	publish_ev(h, T0 + 4 * SEC, "dev-3", "dt/dev-3x/t");
	assert_int_equal(rh_n(h), 3);
	/* publishing and subscribing to one string are two subjects */
	static char *pub_any[] = {"x/#"};
	c.mqtt.publish_namespaces = pub_any;
	struct rh *h2 = rh_new(&c, &iw_rule_mqtt);
	publish_ev(h2, T0, "dev-3", "cmd/dev-4");
	subscribe_ev(h2, T0, "dev-3", "cmd/dev-4", 0);
	assert_int_equal(rh_n(h2), 2);
	expect_has(h2, 0, "\"action\":\"publish\"");
	expect_has(h2, 1, "\"action\":\"subscribe\"");
	rh_free(h2);

	/* a PUBLISH to the client is a delivery; an empty topic (an unknown alias) is nothing */
	struct iw_event ev = mk(IW_MQTT_PUBLISH, T0 + 5 * SEC, 1, "10.0.0.1", "dev-3");
	ev.u.mqtt.dir = TOCLIENT;
	ev.u.mqtt.topic = ms("elsewhere/x");
	rh_event(h, &ev);
	publish_ev(h, T0 + 6 * SEC, "dev-3", "");
	publish_ev(h, T0 + 7 * SEC, "dev-3", NULL);
	assert_int_equal(rh_n(h), 3);
	rh_free(h);
}

static void test_namespace_without_templates(void **state)
{
	(void)state;
	struct iw_rules_cfg c = rh_defaults();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	publish_ev(h, T0, "dev-1", "x/dev-1/y");
	publish_ev(h, T0, "dev-1", "dev-1");
	publish_ev(h, T0, "dev-1", "a/b/dev-1");
	subscribe_ev(h, T0, "dev-1", "cmd/dev-1/#", 0); /* a level is the id: inside (wildcard still) */
	assert_int_equal(n_rule(h, "mqtt.topic_violation"), 0);
	assert_int_equal(n_rule(h, "mqtt.wildcard_subscribe"), 1);

	publish_ev(h, T0 + SEC, "dev-1", "x/dev-12");
	publish_ev(h, T0 + SEC, "dev-1", "x/dev-1-y");
	subscribe_ev(h, T0 + SEC, "dev-1", "cmd/+/#", 0);
	assert_int_equal(n_rule(h, "mqtt.topic_violation"), 3);
	unsigned t = last_of(h, "mqtt.topic_violation");
	expect_has(h, t, "\"topic\":\"cmd/+/#\"");
	expect_lacks(h, t, "namespaces");

	/* only the publish list is set: subscriptions still use the client-id level */
	c.mqtt.publish_namespaces = pub_dt;
	c.mqtt.n_publish_namespaces = 1;
	struct rh *h2 = rh_new(&c, &iw_rule_mqtt);
	subscribe_ev(h2, T0, "dev-1", "any/dev-1", 0);
	publish_ev(h2, T0, "dev-1", "any/dev-1");
	assert_int_equal(rh_n(h2), 1);
	expect_has(h2, 0, "\"action\":\"publish\"");
	rh_free(h2);
	rh_free(h);
}

static void test_hostile_client_ids(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	static char *pub2[] = {"dt/{client_id}/#", "public/#", "x/{client_id}{client_id}"};
	c.mqtt.publish_namespaces = pub2;
	c.mqtt.n_publish_namespaces = 3;
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	/* "#" would make dt/#/# of the template: it stands for no level */
	publish_ev(h, T0, "#", "dt/anything/x");
	publish_ev(h, T0, "+", "dt/x/t");
	publish_ev(h, T0, "a/b", "dt/a/b/t");
	assert_int_equal(rh_n(h), 3);
	expect_has(h, 0, "\"namespaces\":[\"public/#\"]");
	/* templates that do not name the client still apply */
	publish_ev(h, T0, "#", "public/x");
	assert_int_equal(rh_n(h), 3);
	/* an id twice in one level, and the cache following the client id */
	publish_ev(h, T0, "ab", "x/abab");
	publish_ev(h, T0, "cd", "x/cdcd");
	publish_ev(h, T0, "ab", "x/cdcd");
	assert_int_equal(rh_n(h), 4);
	expect_has(h, 3, "\"namespaces\":[\"dt/ab/#\",\"public/#\",\"x/abab\"]");
	rh_free(h);

	/* without templates such ids have no level of their own */
	struct iw_rules_cfg d = rh_defaults();
	h = rh_new(&d, &iw_rule_mqtt);
	publish_ev(h, T0, "+", "a/+/b");
	publish_ev(h, T0, "#", "#");
	publish_ev(h, T0, "a/b", "a/b");
	subscribe_ev(h, T0, "+", "x/+", 0);
	assert_int_equal(n_rule(h, "mqtt.topic_violation"), 4);
	rh_free(h);

	/* a very long id (65535 bytes, MQTT's most) in a template, a message cut short */
	h = rh_new(&c, &iw_rule_mqtt);
	size_t n = 65535;
	char *big = malloc(n + 1), *topic = malloc(n + 16);
	assert_non_null(big);
	assert_non_null(topic);
	memset(big, 'z', n);
	big[n] = '\0';
	snprintf(topic, n + 16, "dt/%s/t", big);
	publish_ev(h, T0, big, topic);
	assert_int_equal(rh_n(h), 0);
	topic[1] = 'x';
	publish_ev(h, T0, big, topic);
	assert_int_equal(rh_n(h), 1);
	free(big);
	free(topic);
	rh_free(h);
}

/* ---- mqtt.cleartext_credentials ---- */

static void test_cleartext_credentials(void **state)
{
	(void)state;
	struct iw_rules_cfg c = rh_defaults();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	connect_ev(h, T0, 1, "10.0.0.2", "dev-2", "dev-2", true);
	assert_int_equal(rh_n(h), 1);
	assert_string_equal(rh_rule(h, 0), "mqtt.cleartext_credentials");
	expect_has(h, 0, "\"category\":\"credential-exposure\",\"severity\":\"high\"");
	expect_has(h, 0,
	           "\"evidence\":{\"username\":\"dev-2\",\"client_id\":\"dev-2\",\"password_present\":true,"
	           "\"websocket\":false}");
	expect_lacks(h, 0, "\"password\":");

	/* the same user again that day: quiet; over WebSocket from another client: again */
	connect_ev(h, T0 + 60 * SEC, 2, "10.0.0.2", "dev-2", "dev-2", true);
	assert_int_equal(rh_n(h), 1);
	struct iw_event ev = mk(IW_MQTT_CONNECT, T0 + 61 * SEC, 3, "10.0.0.3", "dev-3");
	ev.u.mqtt.client_id = ms("dev-3");
	ev.u.mqtt.has_username = true;
	ev.u.mqtt.username = ms("dev-2");
	ev.u.mqtt.password_present = true;
	ev.u.mqtt.websocket = true;
	rh_event(h, &ev);
	assert_int_equal(rh_n(h), 2);
	expect_has(h, 1, "\"websocket\":true");
	expect_has(h, 1, "\"device\":{\"id\":\"dev-3\"");

	/* no password, a password with no username (5.0), the server's direction: none */
	connect_ev(h, T0 + 62 * SEC, 4, "10.0.0.4", "dev-4", "dev-4", false);
	connect_ev(h, T0 + 63 * SEC, 5, "10.0.0.5", "dev-5", NULL, true);
	ev = mk(IW_MQTT_CONNECT, T0 + 64 * SEC, 6, "10.0.0.6", "dev-6");
	ev.u.mqtt.client_id = ms("dev-6");
	ev.u.mqtt.has_username = true;
	ev.u.mqtt.username = ms("dev-6");
	ev.u.mqtt.password_present = true;
	ev.u.mqtt.dir = TOCLIENT;
	rh_event(h, &ev);
	assert_int_equal(rh_n(h), 2);

	/* an empty client id (the broker assigns one) and an empty username still count */
	connect_ev(h, T0 + 65 * SEC, 7, "10.0.0.7", "", "", true);
	assert_int_equal(rh_n(h), 3);
	expect_has(h, 2, "\"evidence\":{\"username\":\"\",\"password_present\":true");
	expect_has(h, 2, "\"device\":{\"id\":\"10.0.0.7\"");

	/* a day later the first one is raised again */
	connect_ev(h, T0 + DAY + SEC, 8, "10.0.0.2", "dev-2", "dev-2", true);
	assert_int_equal(rh_n(h), 4);
	assert_string_equal(rh_rule(h, 3), "mqtt.cleartext_credentials");
	rh_free(h);
}

/* ---- mqtt.client_id_conflict ---- */

static void test_client_id_conflict(void **state)
{
	(void)state;
	struct iw_rules_cfg c = rh_defaults();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	connect_ev(h, T0, 1, "10.0.0.6", "dev-6", NULL, false);
	connect_ev(h, T0 + 10 * SEC, 2, "10.0.0.6", "dev-6", NULL, false); /* same address: a reconnect */
	assert_int_equal(rh_n(h), 0);
	connect_ev(h, T0 + 20 * SEC, 3, "10.0.0.7", "dev-6", NULL, false);
	assert_int_equal(rh_n(h), 1);
	assert_string_equal(rh_rule(h, 0), "mqtt.client_id_conflict");
	expect_has(h, 0, "\"severity\":\"medium\"");
	expect_has(h, 0,
	           "\"evidence\":{\"client_id\":\"dev-6\",\"addresses\":[\"10.0.0.6\",\"10.0.0.7\"],"
	           "\"first_seen\":\"2026-01-01T00:00:00");
	expect_has(h, 0, "\"device\":{\"id\":\"dev-6\",\"ip\":\"10.0.0.7\"");
	/* one alert per client id per day */
	connect_ev(h, T0 + 30 * SEC, 4, "10.0.0.8", "dev-6", NULL, false);
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
}

static void test_client_id_conflict_session_ends(void **state)
{
	(void)state;
	struct iw_rules_cfg c = rh_defaults();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);

	/* DISCONNECT from the client ends a session */
	connect_ev(h, T0, 1, "10.0.0.1", "a", NULL, false);
	struct iw_event ev = mk(IW_MQTT_DISCONNECT, T0 + SEC, 1, "10.0.0.1", "a");
	rh_event(h, &ev);
	connect_ev(h, T0 + 2 * SEC, 2, "10.0.0.2", "a", NULL, false);
	assert_int_equal(rh_n(h), 0);

	/* ... as does one from a 5.0 server */
	ev = mk(IW_MQTT_DISCONNECT, T0 + 3 * SEC, 2, "10.0.0.2", "a");
	ev.u.mqtt.dir = TOCLIENT;
	rh_event(h, &ev);
	connect_ev(h, T0 + 4 * SEC, 3, "10.0.0.3", "a", NULL, false);
	assert_int_equal(rh_n(h), 0);

	/* ... and the end of the flow */
	end_ev(h, T0 + 5 * SEC, 3, "10.0.0.3", "a");
	connect_ev(h, T0 + 6 * SEC, 4, "10.0.0.4", "a", NULL, false);
	assert_int_equal(rh_n(h), 0);

	/* the end of another flow, or of the same flow id under another client, does not */
	end_ev(h, T0 + 7 * SEC, 99, "10.0.0.4", "a");
	end_ev(h, T0 + 7 * SEC, 4, "10.0.0.9", "b");
	end_ev(h, T0 + 7 * SEC, 4, "10.0.0.9", NULL);
	connect_ev(h, T0 + 8 * SEC, 5, "10.0.0.5", "a", NULL, false);
	assert_int_equal(rh_n(h), 1);
	expect_has(h, 0, "\"addresses\":[\"10.0.0.4\",\"10.0.0.5\"]");

	/* a malformed DISCONNECT is ignored: the session stays live until its flow ends */
	connect_ev(h, T0 + 9 * SEC, 6, "10.0.1.1", "m", NULL, false);
	ev = mk(IW_MQTT_DISCONNECT, T0 + 10 * SEC, 6, "10.0.1.1", "m");
	ev.u.mqtt.malformed = "mqtt.length";
	rh_event(h, &ev);
	connect_ev(h, T0 + 11 * SEC, 7, "10.0.1.2", "m", NULL, false);
	assert_int_equal(rh_n(h), 2);
	rh_free(h);
}

static void test_client_id_conflict_bounds(void **state)
{
	(void)state;
	struct iw_rules_cfg c = rh_defaults();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	h->ctx.max_entries = 2;
	/* three ids in a table of two: the least recently connected (a) leaves */
	connect_ev(h, T0, 1, "10.0.0.1", "a", NULL, false);
	connect_ev(h, T0 + 1, 2, "10.0.0.2", "b", NULL, false);
	connect_ev(h, T0 + 2, 3, "10.0.0.3", "c", NULL, false);
	connect_ev(h, T0 + 3, 4, "10.9.9.9", "a", NULL, false);
	assert_int_equal(rh_n(h), 0);
	/* b was pushed out by a's return; c is still there */
	connect_ev(h, T0 + 4, 5, "10.9.9.9", "c", NULL, false);
	assert_int_equal(rh_n(h), 1);
	expect_has(h, 0, "\"client_id\":\"c\"");
	rh_free(h);

	/* a reconnect makes an id recent again: b leaves instead of a */
	h = rh_new(&c, &iw_rule_mqtt);
	h->ctx.max_entries = 2;
	connect_ev(h, T0, 1, "10.0.0.1", "a", NULL, false);
	connect_ev(h, T0 + 1, 2, "10.0.0.2", "b", NULL, false);
	connect_ev(h, T0 + 2, 3, "10.0.0.1", "a", NULL, false);
	connect_ev(h, T0 + 3, 4, "10.0.0.3", "c", NULL, false);
	connect_ev(h, T0 + 4, 5, "10.9.9.9", "b", NULL, false);
	assert_int_equal(rh_n(h), 0);
	connect_ev(h, T0 + 5, 6, "10.9.9.9", "c", NULL, false); /* a left for b; c stays */
	assert_int_equal(rh_n(h), 1);
	rh_free(h);

	/* five sessions of one id from one address: the oldest leaves, the conflict names the
	 * oldest still live */
	h = rh_new(&c, &iw_rule_mqtt);
	for (unsigned i = 0; i < 5; i++)
		connect_ev(h, T0 + i * SEC, 10 + i, "10.0.0.1", "d", NULL, false);
	connect_ev(h, T0 + 10 * SEC, 20, "10.0.0.2", "d", NULL, false);
	assert_int_equal(rh_n(h), 1);
	expect_has(h, 0, "\"first_seen\":\"2026-01-01T00:00:01");
	rh_free(h);

	/* many ids through a table of 1000: bounded, and still right */
	h = rh_new(&c, &iw_rule_mqtt);
	char id[32];
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "dev-%u", i);
		connect_ev(h, T0 + i, 100 + i, "10.0.0.1", id, NULL, false);
		if (i % 3 == 0)
			end_ev(h, T0 + i, 100 + i, "10.0.0.1", id);
	}
	connect_ev(h, T0 + DAY, 1, "10.0.0.2", "dev-4999", NULL, false); /* live, in the table */
	connect_ev(h, T0 + DAY, 2, "10.0.0.2", "dev-1", NULL, false);    /* evicted long ago */
	connect_ev(h, T0 + DAY, 3, "10.0.0.2", "dev-4998", NULL, false); /* ended */
	assert_int_equal(rh_n(h), 1);
	expect_has(h, 0, "\"client_id\":\"dev-4999\"");
	rh_free(h);
}

static void test_client_id_conflict_addresses(void **state)
{
	(void)state;
	struct iw_rules_cfg c = rh_defaults();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	/* no device ip: the client side of the flow key */
	struct iw_flow_key k1, k2;
	memset(&k1, 0, sizeof(k1));
	k1.family = 4;
	k1.proto = 6;
	k1.src.b[0] = 192;
	k1.src.b[1] = 0;
	k1.src.b[2] = 2;
	k1.src.b[3] = 1;
	k2 = k1;
	k2.src.b[3] = 2;
	struct iw_event ev = mk(IW_MQTT_CONNECT, T0, 1, NULL, "k");
	ev.u.mqtt.client_id = ms("k");
	ev.key = &k1;
	rh_event(h, &ev);
	ev.flow_id = 2;
	ev.key = &k2;
	rh_event(h, &ev);
	assert_int_equal(rh_n(h), 1);
	expect_has(h, 0, "\"addresses\":[\"192.0.2.1\",\"192.0.2.2\"]");
	/* no address at all: nothing to compare */
	ev = mk(IW_MQTT_CONNECT, T0, 3, NULL, "n");
	ev.u.mqtt.client_id = ms("n");
	rh_event(h, &ev);
	ev.flow_id = 4;
	ev.device.ip = "10.0.0.1";
	rh_event(h, &ev);
	ev.flow_id = 5;
	ev.device.ip = NULL;
	rh_event(h, &ev);
	assert_int_equal(rh_n(h), 1);
	/* an empty client id is the broker's to assign: no session kept */
	connect_ev(h, T0, 6, "10.0.0.1", "", NULL, false);
	connect_ev(h, T0, 7, "10.0.0.2", "", NULL, false);
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
}

/* ---- mqtt.shared_credentials ---- */

static void test_shared_credentials(void **state)
{
	(void)state;
	struct iw_rules_cfg c = rh_defaults();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	char id[32], ip[32];
	for (unsigned i = 1; i <= 5; i++) {
		snprintf(id, sizeof(id), "sensor-0%u", i);
		snprintf(ip, sizeof(ip), "10.0.0.%u", i);
		connect_ev(h, T0 + i * SEC, i, ip, id, "fleet", false);
		connect_ev(h, T0 + i * SEC + 1, 100 + i, ip, id, "fleet", false); /* the same id again */
	}
	assert_int_equal(rh_n(h), 0); /* 5 is the most allowed */
	connect_ev(h, T0 + 10 * SEC, 6, "10.0.0.6", "sensor-06", "fleet", false);
	assert_int_equal(rh_n(h), 1);
	assert_string_equal(rh_rule(h, 0), "mqtt.shared_credentials");
	expect_has(h, 0, "\"category\":\"credential-exposure\",\"severity\":\"high\"");
	expect_has(h, 0,
	           "\"evidence\":{\"username\":\"fleet\",\"client_ids\":6,\"shared_credentials_max\":5,"
	           "\"sample\":[\"sensor-01\",\"sensor-02\",\"sensor-03\",\"sensor-04\",\"sensor-05\","
	           "\"sensor-06\"]}");
	expect_has(h, 0, "\"device\":{\"id\":\"sensor-06\""); /* a fleet alert shows the event's device */
	/* one alert per username per day, whichever device crosses it */
	connect_ev(h, T0 + 11 * SEC, 7, "10.0.0.7", "sensor-07", "fleet", false);
	assert_int_equal(rh_n(h), 1);
	connect_ev(h, T0 + DAY + 11 * SEC, 8, "10.0.0.8", "sensor-08", "fleet", false);
	assert_int_equal(rh_n(h), 2);
	expect_has(h, 1, "\"client_ids\":8");
	/* another username counts apart; a CONNECT without a client id adds nothing */
	for (unsigned i = 0; i < 10; i++)
		connect_ev(h, T0 + DAY + 20 * SEC, 200 + i, "10.0.1.1", "", "other", false);
	assert_int_equal(rh_n(h), 2);
	rh_free(h);
}

static void test_shared_credentials_sample_bound(void **state)
{
	(void)state;
	struct iw_rules_cfg c = rh_defaults();
	c.mqtt.shared_credentials_max = 20;
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	char id[32];
	for (unsigned i = 0; i < 21; i++) {
		snprintf(id, sizeof(id), "s%02u", i);
		connect_ev(h, T0 + i * SEC, i + 1, "10.0.0.1", id, "u:x", false);
	}
	assert_int_equal(rh_n(h), 1);
	expect_has(h, 0, "\"client_ids\":21");
	expect_has(h, 0, "\"username\":\"u:x\"");
	expect_has(h, 0, "\"s00\"");
	expect_has(h, 0, "\"s15\"]");
	expect_lacks(h, 0, "\"s16\"");
	rh_free(h);

	/* a limit of 0: the first client id is already one too many */
	c.mqtt.shared_credentials_max = 0;
	h = rh_new(&c, &iw_rule_mqtt);
	connect_ev(h, T0, 1, "10.0.0.1", "only", "solo", false);
	assert_int_equal(rh_n(h), 1);
	expect_has(h, 0, "\"client_ids\":1");
	rh_free(h);
}

static void test_shared_credentials_fleet_count(void **state)
{
	(void)state;
	struct iw_rules_cfg c = rh_defaults();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	connect_ev(h, T0, 1, "10.0.0.1", "s-1", "fleet", false);
	connect_ev(h, T0 + SEC, 2, "10.0.0.2", "s-2", "fleet", false);
	rh_fleet_count(h, "user:fleet:clients", 5); /* at the limit: no */
	rh_fleet_count(h, "certexp:2026-12-15", 500);
	rh_fleet_count(h, "user:", 500);
	rh_fleet_count(h, "user:clients", 500);
	rh_fleet_count(h, ":clients", 500);
	assert_int_equal(rh_n(h), 0);
	rh_fleet_count(h, "user:fleet:clients", 9);
	assert_int_equal(rh_n(h), 1);
	assert_string_equal(rh_rule(h, 0), "mqtt.shared_credentials");
	expect_has(h, 0,
	           "\"evidence\":{\"username\":\"fleet\",\"client_ids\":9,\"shared_credentials_max\":5,"
	           "\"sample\":[\"s-1\",\"s-2\"]}");
	expect_lacks(h, 0, "\"device\"");
	expect_lacks(h, 0, "flow_id");
	/* de-duplicated with the local count's alert */
	connect_ev(h, T0 + 2 * SEC, 3, "10.0.0.3", "s-3", "fleet", false);
	rh_fleet_count(h, "user:fleet:clients", 10);
	assert_int_equal(rh_n(h), 1);
	/* a username made of the suffix itself, a huge count */
	rh_fleet_count(h, "user::clients:clients", UINT64_MAX);
	assert_int_equal(rh_n(h), 2);
	expect_has(h, 1, "\"username\":\":clients\"");
	expect_has(h, 1, "\"client_ids\":9223372036854775807");
	expect_has(h, 1, "\"sample\":[]");
	rh_free(h);
}

/* ---- malformed and hostile events ---- */

static void test_malformed_and_skipped_ignored(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	struct rh *h = rh_new(&c, &iw_rule_mqtt);
	struct iw_mqtt_topic t;
	memset(&t, 0, sizeof(t));
	t.filter = ms("#");
	struct iw_event ev = mk(IW_MQTT_SUBSCRIBE, T0, 1, "10.0.0.1", "dev-1");
	ev.u.mqtt.n_topics = 1;
	ev.u.mqtt.topics = &t;
	ev.u.mqtt.malformed = "mqtt.header_flags";
	rh_event(h, &ev);
	ev.u.mqtt.malformed = NULL;
	ev.u.mqtt.skipped = true;
	rh_event(h, &ev);
	ev = mk(IW_MQTT_CONNECT, T0, 2, "10.0.0.1", "dev-1");
	ev.u.mqtt.client_id = ms("dev-1");
	ev.u.mqtt.has_username = true;
	ev.u.mqtt.username = ms("u");
	ev.u.mqtt.password_present = true;
	ev.u.mqtt.malformed = "mqtt.utf8";
	rh_event(h, &ev);
	ev = mk(IW_MQTT_PUBLISH, T0, 1, "10.0.0.1", "dev-1");
	ev.u.mqtt.topic = ms("elsewhere");
	ev.u.mqtt.malformed = "mqtt.qos";
	rh_event(h, &ev);
	/* a SUBSCRIBE from the server, an UNSUBSCRIBE of "#", other types: nothing */
	ev = mk(IW_MQTT_SUBSCRIBE, T0, 1, "10.0.0.1", "dev-1");
	ev.u.mqtt.n_topics = 1;
	ev.u.mqtt.topics = &t;
	ev.u.mqtt.dir = TOCLIENT;
	rh_event(h, &ev);
	ev.u.mqtt.dir = TOSERVER;
	ev.u.mqtt.msgtype = IW_MQTT_UNSUBSCRIBE;
	rh_event(h, &ev);
	for (uint8_t ty = 0; ty < 16; ty++) {
		if (ty == IW_MQTT_SUBSCRIBE || ty == IW_MQTT_PUBLISH || ty == IW_MQTT_CONNECT)
			continue;
		ev = mk(ty, T0, 1, "10.0.0.1", "dev-1");
		rh_event(h, &ev);
	}
	assert_int_equal(rh_n(h), 0);
	rh_free(h);
}

static void test_hostile_events(void **state)
{
	(void)state;
	struct iw_rules_cfg c = cfg_namespaces();
	static char *holes[] = {NULL, "dt/{client_id}/#", "", "{client_id}"};
	static char *trust_holes[] = {NULL, ""};
	c.mqtt.publish_namespaces = holes;
	c.mqtt.n_publish_namespaces = 4;
	c.mqtt.trusted_clients = trust_holes;
	c.mqtt.n_trusted_clients = 2;
	struct rh *h = rh_new(&c, &iw_rule_mqtt);

	/* a SUBSCRIBE claiming topics but carrying none; filters absent or empty */
	struct iw_event ev = mk(IW_MQTT_SUBSCRIBE, T0, 1, "10.0.0.1", "dev-1");
	ev.u.mqtt.n_topics = 1000;
	rh_event(h, &ev);
	struct iw_mqtt_topic t[3];
	memset(t, 0, sizeof(t));
	t[1].filter.s = "";
	t[2].filter = ms("cmd/dev-1/x");
	ev.u.mqtt.n_topics = 3;
	ev.u.mqtt.topics = t;
	rh_event(h, &ev);
	assert_int_equal(rh_n(h), 0);

	/* a NUL inside a span: cut there */
	struct iw_mqtt_str nul = {"cmd/x\0#", 7};
	t[0].filter = nul;
	ev.u.mqtt.n_topics = 1;
	rh_event(h, &ev);
	assert_int_equal(rh_n(h), 2); /* '#' after the NUL is still a wildcard; the evidence stops at NUL */
	expect_has(h, 0, "\"filter\":\"cmd/x\"");

	/* templates "" and "{client_id}": a topic equal to the id is inside */
	publish_ev(h, T0, "dev-1", "dev-1");
	publish_ev(h, T0, "dev-1", "dt/dev-1/a");
	assert_int_equal(rh_n(h), 2);
	publish_ev(h, T0, "dev-1", "other");
	assert_int_equal(rh_n(h), 3);
	expect_has(h, 2, "\"namespaces\":[\"dt/dev-1/#\",\"\",\"dev-1\"]");

	/* levels of nothing */
	publish_ev(h, T0, "dev-1", "/");
	publish_ev(h, T0, "dev-1", "dt//");
	publish_ev(h, T0, "dev-1", "dt/dev-1/");
	assert_int_equal(rh_n(h), 5);

	/* a CONNECT with a client id span but no bytes, a username span with none */
	ev = mk(IW_MQTT_CONNECT, T0, 9, "10.0.0.9", NULL);
	ev.u.mqtt.client_id.n = 5;
	ev.u.mqtt.has_username = true;
	ev.u.mqtt.password_present = true;
	rh_event(h, &ev);
	assert_int_equal(rh_n(h), 6);
	expect_has(h, 5, "\"username\":\"\"");

	/* flow ends and events of kinds the rule does not judge */
	end_ev(h, T0, 9, NULL, NULL);
	end_ev(h, T0, 9, NULL, "");
	ev.kind = IW_EV_TLS;
	rh_event(h, &ev);
	assert_int_equal(rh_n(h), 6);
	rh_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wildcard_severities),
	    cmocka_unit_test(test_wildcard_trusted_globs),
	    cmocka_unit_test(test_wildcard_without_client_id),
	    cmocka_unit_test(test_shared_subscription),
	    cmocka_unit_test(test_namespace_filter_covers_filter),
	    cmocka_unit_test(test_namespace_dollar_topics),
	    cmocka_unit_test(test_namespace_long_ids_and_repeats),
	    cmocka_unit_test(test_publish_namespace),
	    cmocka_unit_test(test_namespace_without_templates),
	    cmocka_unit_test(test_hostile_client_ids),
	    cmocka_unit_test(test_cleartext_credentials),
	    cmocka_unit_test(test_client_id_conflict),
	    cmocka_unit_test(test_client_id_conflict_session_ends),
	    cmocka_unit_test(test_client_id_conflict_bounds),
	    cmocka_unit_test(test_client_id_conflict_addresses),
	    cmocka_unit_test(test_shared_credentials),
	    cmocka_unit_test(test_shared_credentials_sample_bound),
	    cmocka_unit_test(test_shared_credentials_fleet_count),
	    cmocka_unit_test(test_malformed_and_skipped_ignored),
	    cmocka_unit_test(test_hostile_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
