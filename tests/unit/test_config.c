/* test_config.c - unit tests for sensor/config.c (DESIGN §4): defaults, the shipped
 * config/iotwatch.yaml, overrides, every error with its message and line, --set, the
 * print -> load round trip, durations. Run from the repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../parsers/cursor.h"
#include "../../sensor/config.h"

#define SHIPPED "config/iotwatch.yaml"

/* ---- fixture: a temporary directory the YAML test files are written into ---- */

struct fixture {
	char dir[64];
	char path[128];  /* dir/config.yaml */
	char print[128]; /* dir/print.yaml */
	char sub[128];   /* dir/sub, a directory */
	char err[512];
};

static int group_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "/tmp/iw_test_config.XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof fx->path, "%s/config.yaml", fx->dir);
	snprintf(fx->print, sizeof fx->print, "%s/print.yaml", fx->dir);
	snprintf(fx->sub, sizeof fx->sub, "%s/sub", fx->dir);
	*state = fx;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *fx = *state;
	unlink(fx->path);
	unlink(fx->print);
	rmdir(fx->sub);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* ---- comparing configurations: one list of every field, two uses ---- */

#define CONFIG_FIELDS(S, U, B, L)                                                                            \
	S(sensor.name)                                                                                       \
	L(sensor.device_networks, sensor.n_device_networks)                                                  \
	U(sensor.stats_interval)                                                                             \
	U(sensor.payload_preview)                                                                            \
	U(capture.snaplen)                                                                                   \
	B(capture.promisc)                                                                                   \
	B(capture.immediate)                                                                                 \
	S(capture.filter)                                                                                    \
	U(limits.max_flows)                                                                                  \
	U(limits.max_devices)                                                                                \
	U(limits.stream_buffer)                                                                              \
	U(limits.max_fragments)                                                                              \
	U(limits.fragment_bytes)                                                                             \
	U(limits.max_message)                                                                                \
	U(limits.max_items)                                                                                  \
	U(limits.dns_cache)                                                                                  \
	U(limits.flow_timeout.tcp)                                                                           \
	U(limits.flow_timeout.tcp_closed)                                                                    \
	U(limits.flow_timeout.udp)                                                                           \
	S(state.backend)                                                                                     \
	S(state.redis.host)                                                                                  \
	U(state.redis.port)                                                                                  \
	U(state.redis.db)                                                                                    \
	S(state.redis.password_env)                                                                          \
	S(state.redis.key_prefix)                                                                            \
	U(state.redis.ttl)                                                                                   \
	U(rules.tunnel.max_duration)                                                                         \
	U(rules.tunnel.renewal_max)                                                                          \
	U(rules.tunnel.renewal_window)                                                                       \
	U(rules.tunnel.report_interval)                                                                      \
	L(rules.tunnel.endpoints, rules.tunnel.n_endpoints)                                                  \
	L(rules.mqtt.trusted_clients, rules.mqtt.n_trusted_clients)                                          \
	L(rules.mqtt.publish_namespaces, rules.mqtt.n_publish_namespaces)                                    \
	L(rules.mqtt.subscribe_namespaces, rules.mqtt.n_subscribe_namespaces)                                \
	U(rules.mqtt.shared_credentials_max)                                                                 \
	U(rules.cert.expiry_lead)                                                                            \
	U(rules.cert.storm_min_devices)                                                                      \
	U(rules.cert.storm_bucket)                                                                           \
	U(rules.cert.flood_min_devices)                                                                      \
	U(rules.cert.flood_window)                                                                           \
	L(rules.region.allowed, rules.region.n_allowed)                                                      \
	L(rules.region.ip_ranges, rules.region.n_ip_ranges)                                                  \
	L(rules.modbus.allowed_writers, rules.modbus.n_allowed_writers)                                      \
	S(exporters.jsonl.path)                                                                              \
	U(exporters.jsonl.rotate_size)                                                                       \
	U(exporters.jsonl.rotate_keep)                                                                       \
	S(exporters.kafka.brokers)                                                                           \
	S(exporters.kafka.topic)                                                                             \
	S(exporters.kafka.events_topic)                                                                      \
	S(exporters.kafka.spool_dir)                                                                         \
	U(exporters.kafka.spool_max)                                                                         \
	U(exporters.kafka.flush_timeout)                                                                     \
	L(exporters.kafka.property_keys, exporters.kafka.n_properties)                                       \
	L(exporters.kafka.property_values, exporters.kafka.n_properties)                                     \
	S(exporters.syslog.address)                                                                          \
	S(exporters.syslog.format)

static bool strv_equal(char **a, unsigned na, char **b, unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* Fails naming the first field that differs. */
static void assert_config_equal(const struct iw_config *a, const struct iw_config *b)
{
#define EQ_S(f)                                                                                              \
	if (!a->f || !b->f || strcmp(a->f, b->f) != 0)                                                       \
		fail_msg("%s differs: \"%s\" vs \"%s\"", #f, a->f ? a->f : "(null)", b->f ? b->f : "(null)");
#define EQ_U(f)                                                                                              \
	if (a->f != b->f)                                                                                    \
		fail_msg("%s differs: %llu vs %llu", #f, (unsigned long long)a->f, (unsigned long long)b->f);
#define EQ_B(f)                                                                                              \
	if (a->f != b->f)                                                                                    \
		fail_msg("%s differs", #f);
#define EQ_L(f, n)                                                                                           \
	if (!strv_equal(a->f, a->n, b->f, b->n))                                                             \
		fail_msg("%s differs", #f);
	CONFIG_FIELDS(EQ_S, EQ_U, EQ_B, EQ_L)
}

/* Fails naming the first field that is the same: checks a test table sets every key. */
static void assert_config_all_differ(const struct iw_config *a, const struct iw_config *b)
{
#define NE_S(f)                                                                                              \
	if (strcmp(a->f, b->f) == 0)                                                                         \
		fail_msg("%s is the same", #f);
#define NE_U(f)                                                                                              \
	if (a->f == b->f)                                                                                    \
		fail_msg("%s is the same", #f);
#define NE_B(f) NE_U(f)
#define NE_L(f, n)                                                                                           \
	if (strv_equal(a->f, a->n, b->f, b->n))                                                              \
		fail_msg("%s is the same", #f);
	CONFIG_FIELDS(NE_S, NE_U, NE_B, NE_L)
}

/* Every key, each set away from its default, through --set. */
static const char *const odd_sets[] = {
    "sensor.name=odd",
    "sensor.device_networks=10.0.0.0/8,192.168.0.0/16",
    "sensor.stats_interval=60s",
    "sensor.payload_preview=32",
    "capture.snaplen=1500",
    "capture.promisc=no",
    "capture.immediate=1",
    "capture.filter=tcp port 1883",
    "limits.max_flows=10",
    "limits.max_devices=11",
    "limits.stream_buffer=12",
    "limits.max_fragments=13",
    "limits.fragment_bytes=14",
    "limits.max_message=4096",
    "limits.max_items=16",
    "limits.dns_cache=17",
    "limits.flow_timeout.tcp=2h",
    "limits.flow_timeout.tcp_closed=31",
    "limits.flow_timeout.udp=3m",
    "state.backend=redis",
    "state.redis.host=redis.local",
    "state.redis.port=6380",
    "state.redis.db=2",
    "state.redis.password_env=REDIS_PW",
    "state.redis.key_prefix=x:",
    "state.redis.ttl=1w",
    "rules.tunnel.max_duration=13h",
    "rules.tunnel.renewal_max=4",
    "rules.tunnel.renewal_window=2d",
    "rules.tunnel.report_interval=10m",
    "rules.tunnel.endpoints=*.tunnel.example.com,relay-?.example.net",
    "rules.mqtt.trusted_clients=admin-*",
    "rules.mqtt.publish_namespaces=dt/{client_id}/#",
    "rules.mqtt.subscribe_namespaces=cmd/{client_id}/#,cfg/{client_id}/#",
    "rules.mqtt.shared_credentials_max=6",
    "rules.cert.expiry_lead=30d",
    "rules.cert.storm_min_devices=21",
    "rules.cert.storm_bucket=12h",
    "rules.cert.flood_min_devices=22",
    "rules.cert.flood_window=5m",
    "rules.region.allowed=ap-south-1,ap-south-2",
    "rules.region.ip_ranges=config/aws.json",
    "rules.modbus.allowed_writers=10.1.1.1,10.2.0.0/16",
    "exporters.jsonl.path=/var/log/iotwatch/alerts.jsonl",
    "exporters.jsonl.rotate_size=100M",
    "exporters.jsonl.rotate_keep=10",
    "exporters.kafka.brokers=k1:9092,k2:9092",
    "exporters.kafka.topic=alerts",
    "exporters.kafka.events_topic=events",
    "exporters.kafka.spool_dir=/var/spool/iotwatch",
    "exporters.kafka.spool_max=3G",
    "exporters.kafka.flush_timeout=30s",
    "exporters.kafka.properties.security.protocol=SASL_SSL",
    "exporters.kafka.properties.acks=all",
    "exporters.syslog.address=udp://siem:514",
    "exporters.syslog.format=json",
};

static void make_odd(struct iw_config *c)
{
	char err[256];
	iw_config_defaults(c);
	for (size_t i = 0; i < sizeof odd_sets / sizeof odd_sets[0]; i++)
		if (iw_config_set(c, odd_sets[i], err, sizeof err) != IW_OK)
			fail_msg("%s: %s", odd_sets[i], err);
}

/* ---- defaults and the shipped file ---- */

static void test_defaults(void **state)
{
	(void)state;
	struct iw_config c;
	iw_config_defaults(&c);
	assert_string_equal(c.sensor.name, "span-1");
	assert_int_equal(c.sensor.n_device_networks, 0);
	assert_int_equal(c.sensor.stats_interval, 0);
	assert_int_equal(c.capture.snaplen, 65535);
	assert_true(c.capture.promisc);
	assert_false(c.capture.immediate);
	assert_string_equal(c.capture.filter, "");
	assert_int_equal(c.limits.max_flows, 1000000);
	assert_int_equal(c.limits.max_devices, 1000000);
	assert_int_equal(c.limits.stream_buffer, 65536);
	assert_int_equal(c.limits.max_fragments, 4096);
	assert_int_equal(c.limits.fragment_bytes, 4194304);
	assert_int_equal(c.limits.flow_timeout.tcp, 3600);
	assert_int_equal(c.limits.flow_timeout.tcp_closed, 30);
	assert_int_equal(c.limits.flow_timeout.udp, 120);
	assert_string_equal(c.state.backend, "memory");
	assert_string_equal(c.state.redis.host, "127.0.0.1");
	assert_int_equal(c.state.redis.port, 6379);
	assert_int_equal(c.state.redis.db, 0);
	assert_string_equal(c.state.redis.password_env, "");
	assert_string_equal(c.state.redis.key_prefix, "iw:");
	assert_int_equal(c.state.redis.ttl, 30 * 86400);
	assert_int_equal(c.rules.tunnel.max_duration, 12 * 3600);
	assert_int_equal(c.rules.tunnel.renewal_max, 3);
	assert_int_equal(c.rules.tunnel.renewal_window, 24 * 3600);
	assert_int_equal(c.rules.mqtt.n_trusted_clients, 0);
	assert_int_equal(c.rules.mqtt.n_publish_namespaces, 0);
	assert_int_equal(c.rules.mqtt.n_subscribe_namespaces, 0);
	assert_int_equal(c.rules.mqtt.shared_credentials_max, 5);
	assert_int_equal(c.rules.cert.expiry_lead, 90 * 86400);
	assert_int_equal(c.rules.cert.storm_min_devices, 20);
	assert_int_equal(c.rules.cert.storm_bucket, 86400);
	assert_int_equal(c.rules.cert.flood_min_devices, 20);
	assert_int_equal(c.rules.cert.flood_window, 60);
	assert_int_equal(c.rules.region.n_allowed, 0);
	assert_int_equal(c.rules.region.n_ip_ranges, 0);
	assert_int_equal(c.rules.modbus.n_allowed_writers, 0);
	assert_string_equal(c.exporters.jsonl.path, "-");
	assert_int_equal(c.exporters.jsonl.rotate_size, 0);
	assert_int_equal(c.exporters.jsonl.rotate_keep, 5);
	assert_string_equal(c.exporters.kafka.brokers, "");
	assert_string_equal(c.exporters.kafka.topic, "iotwatch.alerts");
	assert_string_equal(c.exporters.kafka.events_topic, "");
	assert_string_equal(c.exporters.kafka.spool_dir, "");
	assert_int_equal(c.exporters.kafka.spool_max, 1ull << 30);
	assert_int_equal(c.exporters.kafka.flush_timeout, 10);
	assert_int_equal(c.exporters.kafka.n_properties, 0);
	assert_string_equal(c.exporters.syslog.address, "");
	assert_string_equal(c.exporters.syslog.format, "cef");
	iw_config_free(&c);
	iw_config_free(&c); /* freeing twice is harmless: free zeroes */
}

/* Loading the shipped file over a configuration that differs in every key gives exactly
 * the defaults: the file names every key, and with its default. */
static void test_shipped_file_is_defaults(void **state)
{
	struct fixture *fx = *state;
	struct iw_config def, c;
	iw_config_defaults(&def);
	make_odd(&c);
	assert_config_all_differ(&c, &def);
	if (iw_config_load(&c, SHIPPED, fx->err, sizeof fx->err) != IW_OK)
		fail_msg("%s", fx->err);
	assert_string_equal(fx->err, "");
	assert_config_equal(&c, &def);
	iw_config_free(&c);

	iw_config_defaults(&c);
	assert_int_equal(iw_config_load(&c, SHIPPED, fx->err, sizeof fx->err), IW_OK);
	assert_config_equal(&c, &def);
	iw_config_free(&c);
	iw_config_free(&def);
}

/* ---- loading ---- */

static void test_override_depths(void **state)
{
	struct fixture *fx = *state;
	struct iw_config def, c;
	iw_config_defaults(&def);
	iw_config_defaults(&c);
	write_text(fx->path, "# a site file\n"
	                     "sensor:\n"
	                     "  name: plant-7\n"
	                     "  device_networks:\n"
	                     "    - 10.20.0.0/16\n"
	                     "    - \"fd00::/8\"\n"
	                     "capture: {promisc: off}\n"
	                     "limits:\n"
	                     "  flow_timeout:\n"
	                     "    udp: 90s\n"
	                     "state:\n"
	                     "  backend: redis\n"
	                     "  redis: {port: 6380, ttl: 1w}\n"
	                     "rules:\n"
	                     "  cert:\n"
	                     "    expiry_lead: 30d\n"
	                     "  region:\n"
	                     "    allowed: [ap-south-1, ap-south-2]\n"
	                     "exporters:\n"
	                     "  kafka:\n"
	                     "    brokers: k1:9092\n"
	                     "    properties:\n"
	                     "      security.protocol: SASL_SSL\n"
	                     "      acks: all\n"
	                     "      linger.ms: 5\n");
	if (iw_config_load(&c, fx->path, fx->err, sizeof fx->err) != IW_OK)
		fail_msg("%s", fx->err);

	assert_string_equal(c.sensor.name, "plant-7");
	assert_int_equal(c.sensor.n_device_networks, 2);
	assert_string_equal(c.sensor.device_networks[0], "10.20.0.0/16");
	assert_string_equal(c.sensor.device_networks[1], "fd00::/8");
	assert_false(c.capture.promisc);
	assert_int_equal(c.limits.flow_timeout.udp, 90);
	assert_string_equal(c.state.backend, "redis");
	assert_int_equal(c.state.redis.port, 6380);
	assert_int_equal(c.state.redis.ttl, 7 * 86400);
	assert_int_equal(c.rules.cert.expiry_lead, 30 * 86400);
	assert_int_equal(c.rules.region.n_allowed, 2);
	assert_string_equal(c.rules.region.allowed[0], "ap-south-1");
	assert_string_equal(c.rules.region.allowed[1], "ap-south-2");
	assert_string_equal(c.exporters.kafka.brokers, "k1:9092");
	assert_int_equal(c.exporters.kafka.n_properties, 3);
	assert_string_equal(c.exporters.kafka.property_keys[0], "security.protocol");
	assert_string_equal(c.exporters.kafka.property_values[0], "SASL_SSL");
	assert_string_equal(c.exporters.kafka.property_keys[2], "linger.ms");
	assert_string_equal(c.exporters.kafka.property_values[2], "5");

	/* Everything else keeps its default: put the changed keys back and compare. */
	const char *back[] = {
	    "sensor.name=span-1",         "sensor.device_networks=",     "capture.promisc=true",
	    "limits.flow_timeout.udp=2m", "state.backend=memory",        "state.redis.port=6379",
	    "state.redis.ttl=30d",        "rules.cert.expiry_lead=90d",  "rules.region.allowed=",
	    "exporters.kafka.brokers=",   "exporters.kafka.properties=",
	};
	for (size_t i = 0; i < sizeof back / sizeof back[0]; i++)
		assert_int_equal(iw_config_set(&c, back[i], fx->err, sizeof fx->err), IW_OK);
	assert_config_equal(&c, &def);

	/* A second file only changes what it sets; lists and properties are replaced. */
	write_text(fx->path, "rules:\n  region:\n    allowed: [eu-west-1]\n");
	assert_int_equal(iw_config_set(&c, "rules.region.allowed=a,b,c", fx->err, sizeof fx->err), IW_OK);
	assert_int_equal(iw_config_load(&c, fx->path, fx->err, sizeof fx->err), IW_OK);
	assert_int_equal(c.rules.region.n_allowed, 1);
	assert_string_equal(c.rules.region.allowed[0], "eu-west-1");
	iw_config_free(&c);
	iw_config_free(&def);
}

/* Empty files, empty sections and empty lists are allowed and change nothing but the
 * lists and strings they name. */
static void test_empty_and_null(void **state)
{
	struct fixture *fx = *state;
	struct iw_config def, c;
	iw_config_defaults(&def);
	static const char *const nothing[] = {
	    "",
	    "# only a comment\n",
	    "---\n",
	    "~\n",
	    "sensor:\nrules:\n  # tunnel:\n  #   max_duration: 1h\nexporters: {}\n",
	};
	for (size_t i = 0; i < sizeof nothing / sizeof nothing[0]; i++) {
		iw_config_defaults(&c);
		write_text(fx->path, nothing[i]);
		if (iw_config_load(&c, fx->path, fx->err, sizeof fx->err) != IW_OK)
			fail_msg("case %zu: %s", i, fx->err);
		assert_config_equal(&c, &def);
		iw_config_free(&c);
	}

	make_odd(&c);
	write_text(fx->path, "sensor:\n  device_networks:\n  name:\n"
	                     "rules:\n  region: {allowed: [], ip_ranges: ~}\n"
	                     "exporters:\n  kafka:\n    properties:\n");
	assert_int_equal(iw_config_load(&c, fx->path, fx->err, sizeof fx->err), IW_OK);
	assert_int_equal(c.sensor.n_device_networks, 0);
	assert_null(c.sensor.device_networks);
	assert_string_equal(c.sensor.name, "");
	assert_int_equal(c.rules.region.n_allowed, 0);
	assert_int_equal(c.rules.region.n_ip_ranges, 0);
	assert_int_equal(c.exporters.kafka.n_properties, 0);
	assert_string_equal(c.capture.filter, "tcp port 1883"); /* untouched */
	iw_config_free(&c);
	iw_config_free(&def);
}

struct file_error {
	const char *yaml;
	const char *want; /* after "<path>:" */
};

static const struct file_error file_errors[] = {
    /* unknown keys, at the top and deeper */
    {"sensr: {}\n", "1: sensr: unknown key"},
    {"sensor:\n  name: x\n  nmae: y\n", "3: sensor.nmae: unknown key"},
    {"rules:\n  tunnel:\n    max_duration: 1h\n    max_durration: 2h\n",
     "4: rules.tunnel.max_durration: unknown key"},
    {"exporters:\n  kafka:\n    properties: {}\n    property: {}\n",
     "4: exporters.kafka.property: unknown key"},
    {"limits:\n  max_flows:\n    a: 1\n", "3: limits.max_flows: expected a number, got a mapping"},
    /* wrong types */
    {"capture:\n  snaplen: abc\n", "2: capture.snaplen: \"abc\" is not a number"},
    {"limits:\n  stream_buffer: 0x10\n", "2: limits.stream_buffer: \"0x10\" is not a number"},
    {"limits:\n  stream_buffer: -1\n", "2: limits.stream_buffer: \"-1\" is not a number"},
    {"limits:\n  stream_buffer: 1.5\n", "2: limits.stream_buffer: \"1.5\" is not a number"},
    {"limits:\n  max_flows: 99999999999999999999\n",
     "2: limits.max_flows: \"99999999999999999999\" is too large"},
    {"limits:\n  max_flows:\n", "2: limits.max_flows: expected a number, got an empty value"},
    {"sensor:\n  name: [a, b]\n", "2: sensor.name: expected a string, got a list"},
    {"sensor:\n  name: {a: b}\n", "2: sensor.name: expected a string, got a mapping"},
    {"rules:\n  region:\n    allowed: ap-south-1\n",
     "3: rules.region.allowed: expected a list, got \"ap-south-1\""},
    {"sensor:\n  device_networks:\n    - 10.0.0.0/8\n    - {a: 1}\n",
     "4: sensor.device_networks: expected a list of strings, got a mapping in it"},
    {"limits: 5\n", "1: limits: expected a mapping, got \"5\""},
    {"limits: [1]\n", "1: limits: expected a mapping, got a list"},
    {"capture:\n  promisc: maybe\n", "2: capture.promisc: \"maybe\" is not a boolean (true or false)"},
    {"capture:\n  promisc: \"\"\n", "2: capture.promisc: expected true or false, got an empty value"},
    {"? {a: 1}\n: 2\n", "1: (top level): a key must be a string, got a mapping"},
    {"exporters:\n  kafka:\n    properties:\n      acks: [1]\n",
     "4: exporters.kafka.properties.acks: expected a string, got a list"},
    {"exporters:\n  kafka:\n    properties: [acks]\n",
     "3: exporters.kafka.properties: expected a mapping of librdkafka properties, got a list"},
    /* durations */
    {"rules:\n  tunnel:\n    max_duration: 12 h\n",
     "3: rules.tunnel.max_duration: \"12 h\" is not a duration"},
    {"rules:\n  tunnel:\n    max_duration: -5\n", "3: rules.tunnel.max_duration: \"-5\" is not a duration"},
    {"rules:\n  tunnel:\n    max_duration: 1h30m\n",
     "3: rules.tunnel.max_duration: \"1h30m\" is not a duration"},
    {"limits:\n  flow_timeout:\n    udp: 0s\n",
     "3: limits.flow_timeout.udp: 0s is out of range (at least 1s)"},
    /* enums */
    {"state:\n  backend: mysql\n", "2: state.backend: \"mysql\" is not one of: memory, redis"},
    {"state:\n  backend: Redis\n", "2: state.backend: \"Redis\" is not one of: memory, redis"},
    {"exporters:\n  syslog:\n    format: xml\n",
     "3: exporters.syslog.format: \"xml\" is not one of: cef, json"},
    /* ranges */
    {"state:\n  redis:\n    port: 70000\n", "3: state.redis.port: 70000 is out of range (1..65535)"},
    {"state:\n  redis:\n    port: 0\n", "3: state.redis.port: 0 is out of range (1..65535)"},
    {"capture:\n  snaplen: 0\n", "2: capture.snaplen: 0 is out of range (1..262144)"},
    {"capture:\n  snaplen: 262145\n", "2: capture.snaplen: 262145 is out of range (1..262144)"},
    {"limits:\n  max_flows: 0\n", "2: limits.max_flows: 0 is out of range (at least 1)"},
    /* structure */
    {"limits:\n  max_flows: 1\n  max_flows: 2\n", "3: limits.max_flows: duplicate key"},
    {"limits: {}\nlimits: {}\n", "2: limits: duplicate key"},
    {"exporters:\n  kafka:\n    properties:\n      acks: all\n      acks: 1\n",
     "5: exporters.kafka.properties.acks: duplicate key"},
    {"- a\n- b\n", "1: expected a mapping at the top level, got a list"},
    {"sensor: {}\n---\nlimits: {}\n", "3: a second YAML document; the configuration is one document"},
    /* YAML syntax, as libyaml words it */
    {"sensor:\n  name: x\n bad: 1\n", "3: did not find expected key"},
    {"sensor:\n  name: [a\n", "3: did not find expected ',' or ']'"},
    {"sensor:\n  name: \xff\n", "2: invalid leading UTF-8 octet"},
    {"sensor:\n  name: *nowhere\n", "2: found undefined alias"},
};

static void test_file_errors(void **state)
{
	struct fixture *fx = *state;
	char want[512];
	for (size_t i = 0; i < sizeof file_errors / sizeof file_errors[0]; i++) {
		struct iw_config c;
		iw_config_defaults(&c);
		write_text(fx->path, file_errors[i].yaml);
		fx->err[0] = '\0';
		int rc = iw_config_load(&c, fx->path, fx->err, sizeof fx->err);
		snprintf(want, sizeof want, "%s:%s", fx->path, file_errors[i].want);
		if (rc != IW_ERR || strcmp(fx->err, want) != 0)
			fail_msg("case %zu: rc %d\n got: %s\nwant: %s", i, rc, fx->err, want);
		assert_null(strchr(fx->err, '\n'));
		iw_config_free(&c);
	}
}

/* The example of DESIGN §3, with a relative path as the user typed it. */
static void test_file_error_relative_path(void **state)
{
	struct fixture *fx = *state;
	char cwd[PATH_MAX];
	struct iw_config c;
	assert_non_null(getcwd(cwd, sizeof cwd));
	write_text(fx->path, "# site configuration\n"
	                     "sensor:\n"
	                     "  name: plant-7\n"
	                     "capture:\n"
	                     "  snaplen: 1500\n"
	                     "limits:\n"
	                     "  max_flows: 10\n"
	                     "state:\n"
	                     "  backend: memory\n"
	                     "rules:\n"
	                     "  cert:\n"
	                     "    expiry_lead: 9x\n");
	assert_int_equal(chdir(fx->dir), 0);
	iw_config_defaults(&c);
	int rc = iw_config_load(&c, "config.yaml", fx->err, sizeof fx->err);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, IW_ERR);
	assert_string_equal(fx->err, "config.yaml:12: rules.cert.expiry_lead: \"9x\" is not a duration");
	iw_config_free(&c);
}

/* A file with an error changes nothing, even keys before the error. */
static void test_file_error_changes_nothing(void **state)
{
	struct fixture *fx = *state;
	struct iw_config def, c;
	iw_config_defaults(&def);
	iw_config_defaults(&c);
	write_text(fx->path, "sensor:\n  name: changed\n  device_networks: [10.0.0.0/8]\n"
	                     "exporters:\n  kafka:\n    properties: {acks: all}\n"
	                     "capture:\n  snaplen: 0\n");
	assert_int_equal(iw_config_load(&c, fx->path, fx->err, sizeof fx->err), IW_ERR);
	assert_config_equal(&c, &def);
	iw_config_free(&c);
	iw_config_free(&def);
}

static void test_file_unreadable(void **state)
{
	struct fixture *fx = *state;
	char want[512];
	struct iw_config c;
	iw_config_defaults(&c);

	snprintf(want, sizeof want, "%s/absent.yaml", fx->dir);
	assert_int_equal(iw_config_load(&c, want, fx->err, sizeof fx->err), IW_ERR);
	snprintf(want, sizeof want, "%s/absent.yaml: No such file or directory", fx->dir);
	assert_string_equal(fx->err, want);

	assert_int_equal(mkdir(fx->sub, 0700) == 0 || access(fx->sub, F_OK) == 0, 1);
	assert_int_equal(iw_config_load(&c, fx->sub, fx->err, sizeof fx->err), IW_ERR);
	snprintf(want, sizeof want, "%s: Is a directory", fx->sub);
	assert_string_equal(fx->err, want);

	/* A short buffer still gets a terminated prefix of the message. */
	char small[12];
	assert_int_equal(iw_config_load(&c, fx->sub, small, sizeof small), IW_ERR);
	assert_int_equal(strlen(small), sizeof small - 1);
	iw_config_free(&c);
}

/* ---- --set ---- */

static void set_ok(struct iw_config *c, const char *a)
{
	char err[256] = "";
	if (iw_config_set(c, a, err, sizeof err) != IW_OK)
		fail_msg("%s: %s", a, err);
}

static void test_set_values(void **state)
{
	(void)state;
	struct iw_config c;
	iw_config_defaults(&c);

	/* strings, taken as they are: commas and '=' included */
	set_ok(&c, "sensor.name=line 3=ok, really");
	assert_string_equal(c.sensor.name, "line 3=ok, really");
	set_ok(&c, "capture.filter=");
	assert_string_equal(c.capture.filter, "");
	set_ok(&c, "state.backend=redis");
	assert_string_equal(c.state.backend, "redis");
	set_ok(&c, "exporters.syslog.format=json");
	assert_string_equal(c.exporters.syslog.format, "json");

	/* lists: comma-separated, trimmed, empty value = empty list */
	set_ok(&c, "rules.region.allowed=ap-south-1,ap-south-2");
	assert_int_equal(c.rules.region.n_allowed, 2);
	assert_string_equal(c.rules.region.allowed[0], "ap-south-1");
	assert_string_equal(c.rules.region.allowed[1], "ap-south-2");
	set_ok(&c, "rules.region.allowed= centralindia ,\tsouthindia ");
	assert_int_equal(c.rules.region.n_allowed, 2);
	assert_string_equal(c.rules.region.allowed[0], "centralindia");
	assert_string_equal(c.rules.region.allowed[1], "southindia");
	set_ok(&c, "rules.region.allowed=single");
	assert_int_equal(c.rules.region.n_allowed, 1);
	assert_string_equal(c.rules.region.allowed[0], "single");
	set_ok(&c, "rules.region.allowed=");
	assert_int_equal(c.rules.region.n_allowed, 0);
	assert_null(c.rules.region.allowed);

	/* booleans */
	static const struct {
		const char *text;
		bool v;
	} bools[] = {{"false", false}, {"true", true}, {"no", false}, {"yes", true},    {"0", false},
	             {"1", true},      {"off", false}, {"on", true},  {"FALSE", false}, {"Yes", true}};
	char a[64];
	for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
		snprintf(a, sizeof a, "capture.immediate=%s", bools[i].text);
		set_ok(&c, a);
		assert_int_equal(c.capture.immediate, bools[i].v);
	}

	/* numbers and durations */
	set_ok(&c, "limits.max_flows=42");
	assert_int_equal(c.limits.max_flows, 42);
	set_ok(&c, "limits.stream_buffer=0");
	assert_int_equal(c.limits.stream_buffer, 0);
	set_ok(&c, "limits.fragment_bytes=18446744073709551615");
	assert_true(c.limits.fragment_bytes == UINT64_MAX);
	set_ok(&c, "state.redis.port=65535");
	assert_int_equal(c.state.redis.port, 65535);
	set_ok(&c, "capture.snaplen=262144");
	assert_int_equal(c.capture.snaplen, 262144);
	set_ok(&c, "rules.tunnel.max_duration=90m");
	assert_int_equal(c.rules.tunnel.max_duration, 5400);
	set_ok(&c, "rules.cert.expiry_lead=0");
	assert_int_equal(c.rules.cert.expiry_lead, 0);
	set_ok(&c, "sensor.stats_interval=60");
	assert_int_equal(c.sensor.stats_interval, 60);
	iw_config_free(&c);
}

static void test_set_properties(void **state)
{
	(void)state;
	struct iw_config c;
	char err[256];
	iw_config_defaults(&c);
	set_ok(&c, "exporters.kafka.properties.security.protocol=SASL_SSL");
	set_ok(&c, "exporters.kafka.properties.sasl.mechanism=PLAIN");
	set_ok(&c, "exporters.kafka.properties.security.protocol=SSL"); /* replaces */
	set_ok(&c, "exporters.kafka.properties.client.id=a=b");
	assert_int_equal(c.exporters.kafka.n_properties, 3);
	assert_string_equal(c.exporters.kafka.property_keys[0], "security.protocol");
	assert_string_equal(c.exporters.kafka.property_values[0], "SSL");
	assert_string_equal(c.exporters.kafka.property_keys[1], "sasl.mechanism");
	assert_string_equal(c.exporters.kafka.property_values[1], "PLAIN");
	assert_string_equal(c.exporters.kafka.property_keys[2], "client.id");
	assert_string_equal(c.exporters.kafka.property_values[2], "a=b");

	assert_int_equal(iw_config_set(&c, "exporters.kafka.properties.=x", err, sizeof err), IW_ERR);
	assert_string_equal(
	    err, "--set exporters.kafka.properties.: expected exporters.kafka.properties.NAME=VALUE");
	assert_int_equal(iw_config_set(&c, "exporters.kafka.properties=acks=all", err, sizeof err), IW_ERR);
	assert_string_equal(err,
	                    "--set exporters.kafka.properties: set one property as "
	                    "exporters.kafka.properties.NAME=VALUE, or clear them all with an empty value");
	assert_int_equal(c.exporters.kafka.n_properties, 3);

	set_ok(&c, "exporters.kafka.properties="); /* clears */
	assert_int_equal(c.exporters.kafka.n_properties, 0);
	assert_null(c.exporters.kafka.property_keys);
	iw_config_free(&c);
}

struct set_error {
	const char *assignment;
	const char *want;
};

static const struct set_error set_errors[] = {
    {"nope=1", "--set nope: unknown key"},
    {"sensor.nmae=x", "--set sensor.nmae: unknown key"},
    {"sensor.name.first=x", "--set sensor.name.first: unknown key"},
    {"sensor..name=x", "--set sensor..name: unknown key"},
    {"limits=1", "--set limits: is a section; set one of its keys"},
    {"limits.flow_timeout=1h", "--set limits.flow_timeout: is a section; set one of its keys"},
    {"rules.region.allowed", "--set rules.region.allowed: missing '=' (expected KEY=VALUE)"},
    {"=x", "--set =x: missing the key before '='"},
    {"limits.max_flows=abc", "--set limits.max_flows: \"abc\" is not a number"},
    {"limits.max_flows=", "--set limits.max_flows: expected a number, got an empty value"},
    {"limits.max_flows=0", "--set limits.max_flows: 0 is out of range (at least 1)"},
    {"limits.max_flows= 5", "--set limits.max_flows: \" 5\" is not a number"},
    {"limits.max_flows=18446744073709551616",
     "--set limits.max_flows: \"18446744073709551616\" is too large"},
    {"state.redis.port=65536", "--set state.redis.port: 65536 is out of range (1..65535)"},
    {"capture.snaplen=0", "--set capture.snaplen: 0 is out of range (1..262144)"},
    {"capture.promisc=maybe", "--set capture.promisc: \"maybe\" is not a boolean (true or false)"},
    {"capture.promisc=", "--set capture.promisc: expected true or false, got an empty value"},
    {"rules.cert.expiry_lead=9x", "--set rules.cert.expiry_lead: \"9x\" is not a duration"},
    {"rules.cert.storm_bucket=0d", "--set rules.cert.storm_bucket: 0s is out of range (at least 1s)"},
    {"state.backend=mysql", "--set state.backend: \"mysql\" is not one of: memory, redis"},
    {"exporters.syslog.format=", "--set exporters.syslog.format: \"\" is not one of: cef, json"},
    {"rules.region.allowed=a,,b", "--set rules.region.allowed: an empty item in the list \"a,,b\""},
    {"rules.region.allowed=a,", "--set rules.region.allowed: an empty item in the list \"a,\""},
    {"sensor.name=\xc3(", "--set sensor.name: the value is not valid UTF-8"},
    {"sensor.name=x\ny=z\n", NULL}, /* fine: strings take any text */
};

static void test_set_errors(void **state)
{
	(void)state;
	struct iw_config def, c;
	char err[512];
	iw_config_defaults(&def);
	for (size_t i = 0; i < sizeof set_errors / sizeof set_errors[0]; i++) {
		iw_config_defaults(&c);
		err[0] = '\0';
		int rc = iw_config_set(&c, set_errors[i].assignment, err, sizeof err);
		if (!set_errors[i].want) {
			assert_int_equal(rc, IW_OK);
		} else {
			if (rc != IW_ERR || strcmp(err, set_errors[i].want) != 0)
				fail_msg("case %zu: rc %d\n got: %s\nwant: %s", i, rc, err,
				         set_errors[i].want);
			assert_config_equal(&c, &def); /* a failed --set changes nothing */
		}
		iw_config_free(&c);
	}
	iw_config_free(&def);
}

/* ---- printing ---- */

static char *print_to_string(const struct iw_config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	iw_config_print(c, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* print -> load gives the same configuration, for the defaults, for a configuration that
 * differs in every key, and for strings YAML would otherwise misread. */
static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct iw_config src[3], back;
	iw_config_defaults(&src[0]);
	make_odd(&src[1]);
	make_odd(&src[2]);
	static const char *const tricky[] = {
	    "sensor.name=yes",
	    "capture.filter=tcp port 1883 and not host 10.0.0.1 # comment?",
	    "state.redis.host=~",
	    "state.redis.password_env=null",
	    "state.redis.key_prefix=: {x} [y] 'z' \"w\" \\ & * ! | > % @ `",
	    "exporters.jsonl.path=- ",
	    "exporters.kafka.brokers= leading and trailing space ",
	    "exporters.kafka.topic=line\nbreak\ttab\001ctl",
	    "exporters.kafka.events_topic=ünïcødé ✓",
	    "exporters.kafka.spool_dir=012",
	    "exporters.syslog.address=true",
	    "rules.region.allowed=- a,b: c,#d,[e],'f',\"g\"",
	    "rules.region.ip_ranges=",
	    "exporters.kafka.properties.weird: key #=value: with # hash",
	    "exporters.kafka.properties.empty=",
	    "limits.fragment_bytes=18446744073709551615",
	    "rules.cert.expiry_lead=86399",
	};
	for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
		set_ok(&src[2], tricky[i]);

	for (size_t k = 0; k < 3; k++) {
		char *text = print_to_string(&src[k]);
		write_text(fx->print, text);
		if (k == 0) /* load over a configuration unlike the one printed */
			make_odd(&back);
		else
			iw_config_defaults(&back);
		if (iw_config_load(&back, fx->print, fx->err, sizeof fx->err) != IW_OK)
			fail_msg("case %zu: %s\n%s", k, fx->err, text);
		assert_config_equal(&back, &src[k]);
		char *again = print_to_string(&back);
		assert_string_equal(again, text);
		free(again);
		free(text);
		iw_config_free(&back);
		iw_config_free(&src[k]);
	}
}

static void test_print_format(void **state)
{
	(void)state;
	struct iw_config c;
	iw_config_defaults(&c);
	set_ok(&c, "exporters.kafka.properties.acks=all");
	set_ok(&c, "rules.region.allowed=ap-south-1,ap-south-2");
	set_ok(&c, "sensor.stats_interval=3600");
	set_ok(&c, "limits.flow_timeout.udp=1209600");
	char *text = print_to_string(&c);
	static const char *const want[] = {
	    "sensor:\n  name: \"span-1\"\n  device_networks: []\n  stats_interval: 1h\n",
	    "capture:\n  snaplen: 65535\n  promisc: true\n  immediate: false\n  filter: \"\"\n",
	    "  flow_timeout:\n    tcp: 1h\n    tcp_closed: 30s\n    udp: 2w\n",
	    "    ttl: 30d\n",
	    "rules:\n  tunnel:\n    max_duration: 12h\n    renewal_max: 3\n    renewal_window: 1d\n",
	    "    expiry_lead: 90d\n",
	    "    flood_window: 1m\n",
	    "    allowed: [\"ap-south-1\", \"ap-south-2\"]\n",
	    "    properties:\n      \"acks\": \"all\"\n",
	    "  syslog:\n    address: \"\"\n    format: \"cef\"\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(text, want[i]))
			fail_msg("missing:\n%s\nin:\n%s", want[i], text);
	assert_null(strstr(text, "---")); /* a bare document, like the shipped file */
	free(text);
	iw_config_free(&c);
}

/* ---- durations ---- */

static void test_sizes(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int rc;
		uint64_t bytes;
	} cases[] = {
	    {"0", IW_OK, 0},
	    {"1000", IW_OK, 1000},
	    {"64k", IW_OK, 65536},
	    {"100M", IW_OK, 100ull << 20},
	    {"1G", IW_OK, 1ull << 30},
	    {"2T", IW_OK, 2ull << 40},
	    {"16777215T", IW_OK, 16777215ull << 40},
	    {"16777216T", IW_ERR, 0}, /* overflows */
	    {"18446744073709551616", IW_ERR, 0},
	    {"", IW_ERR, 0},
	    {"k", IW_ERR, 0},
	    {"64K", IW_ERR, 0},
	    {"100m", IW_ERR, 0},
	    {"1GB", IW_ERR, 0},
	    {"1.5G", IW_ERR, 0},
	    {"-1", IW_ERR, 0},
	    {" 1k", IW_ERR, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t b = 12345;
		int rc = iw_parse_size(cases[i].text, &b);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == IW_OK && b != cases[i].bytes)
			fail_msg("\"%s\": %llu, want %llu", cases[i].text, (unsigned long long)b,
			         (unsigned long long)cases[i].bytes);
		if (rc != IW_OK && b != 12345)
			fail_msg("\"%s\": output written on error", cases[i].text);
	}
	uint64_t b;
	assert_int_equal(iw_parse_size(NULL, &b), IW_ERR);
	/* printed in the largest exact unit, and read back */
	struct iw_config c;
	iw_config_defaults(&c);
	char err[256];
	assert_int_equal(iw_config_set(&c, "exporters.kafka.spool_max=1536k", err, sizeof err), IW_OK);
	char *text = print_to_string(&c);
	assert_non_null(strstr(text, "spool_max: 1536k\n"));
	free(text);
	assert_int_equal(iw_config_set(&c, "exporters.kafka.spool_max=1100", err, sizeof err), IW_OK);
	text = print_to_string(&c);
	assert_non_null(strstr(text, "spool_max: 1100\n"));
	free(text);
	assert_int_equal(iw_config_set(&c, "exporters.jsonl.rotate_size=5x", err, sizeof err), IW_ERR);
	assert_string_equal(
	    err, "--set exporters.jsonl.rotate_size: \"5x\" is not a size (bytes, or with k, M, G, T)");
	assert_int_equal(iw_config_set(&c, "exporters.kafka.flush_timeout=2h", err, sizeof err), IW_ERR);
	assert_string_equal(err, "--set exporters.kafka.flush_timeout: 2h is out of range (0s..1h)");
	iw_config_free(&c);
}

static void test_durations(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int rc;
		uint64_t secs;
	} cases[] = {
	    {"0", IW_OK, 0},
	    {"90", IW_OK, 90},
	    {"90s", IW_OK, 90},
	    {"30m", IW_OK, 1800},
	    {"12h", IW_OK, 43200},
	    {"90d", IW_OK, 7776000},
	    {"1w", IW_OK, 604800},
	    {"0s", IW_OK, 0},
	    {"007m", IW_OK, 420},
	    {"18446744073709551615", IW_OK, UINT64_MAX},
	    {"18446744073709551615s", IW_OK, UINT64_MAX},
	    {"30500568904943w", IW_OK, 30500568904943ull * 604800},
	    {"30500568904944w", IW_ERR, 0}, /* overflows */
	    {"18446744073709551616", IW_ERR, 0},
	    {"", IW_ERR, 0},
	    {"s", IW_ERR, 0},
	    {"9x", IW_ERR, 0},
	    {"12H", IW_ERR, 0},
	    {"1h30m", IW_ERR, 0},
	    {"12 h", IW_ERR, 0},
	    {" 12h", IW_ERR, 0},
	    {"12h ", IW_ERR, 0},
	    {"-5s", IW_ERR, 0},
	    {"+5s", IW_ERR, 0},
	    {"1.5h", IW_ERR, 0},
	    {"12hh", IW_ERR, 0},
	    {"1y", IW_ERR, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t secs = 12345;
		int rc = iw_parse_duration(cases[i].text, &secs);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == IW_OK && secs != cases[i].secs)
			fail_msg("\"%s\": %llu, want %llu", cases[i].text, (unsigned long long)secs,
			         (unsigned long long)cases[i].secs);
		if (rc != IW_OK && secs != 12345)
			fail_msg("\"%s\": output written on error", cases[i].text);
	}
	uint64_t secs;
	assert_int_equal(iw_parse_duration(NULL, &secs), IW_ERR);
	assert_int_equal(iw_parse_duration("1h", NULL), IW_ERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_shipped_file_is_defaults),
	    cmocka_unit_test(test_override_depths),
	    cmocka_unit_test(test_empty_and_null),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_file_error_relative_path),
	    cmocka_unit_test(test_file_error_changes_nothing),
	    cmocka_unit_test(test_file_unreadable),
	    cmocka_unit_test(test_set_values),
	    cmocka_unit_test(test_set_properties),
	    cmocka_unit_test(test_set_errors),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_print_format),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_sizes),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
