/* config.c - the effective configuration (DESIGN §4): defaults, YAML file, --set, print.
 *
 * The libcyaml schema below is the schema of record: every key, its type and where it
 * lives in struct iw_config. What libcyaml cannot express about a key (it is a duration,
 * one of a few words, or within a range) sits in key_rules[]. A file is read in two
 * passes:
 *
 *   1. libyaml composes the document; we walk it against the schema, check every key
 *      and value and report the first problem with its line, and emit a normalized copy
 *      (durations in seconds, decimal numbers, true/false, quoted strings);
 *   2. libcyaml loads that copy into a fresh struct iw_config, and the keys the file
 *      sets are moved over the caller's configuration, which is untouched on error.
 *
 * Pass 1 exists because libcyaml alone is too lenient for hand-written files ("010" is
 * 8, "-1" is UINT64_MAX, every word but a few is true) and names no line per key.
 * exporters.kafka.properties has free-form keys, which a libcyaml mapping cannot
 * describe: the schema lists it as CYAML_IGNORE and pass 1 collects it. */
#include "../parsers/alloc.h"
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "../parsers/cursor.h"

#define KEY_MAX 256 /* a dotted key, as reported in messages */
#define WHY_MAX 256 /* the "<what is wrong>" part of a message */

/* ---- allocation: a failure aborts, here and in libcyaml (through cy_mem) ---- */

static char *xstrndup(const char *s, size_t n)
{
	char *d = iw_realloc(NULL, n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

/* ---- the schema ---- */

/* Nested members of struct iw_config are anonymous structs, so offsets are taken from
 * the top and made relative to the enclosing member, as libcyaml wants them. */
#define MEMBER(path)   (((struct iw_config *)NULL)->path)
#define REL(parent, m) (offsetof(struct iw_config, parent.m) - offsetof(struct iw_config, parent))
#define OPT            CYAML_FLAG_OPTIONAL

#define F_SECTION(k, m, fields)                                                                              \
	{                                                                                                    \
		.key = k, .data_offset = offsetof(struct iw_config, m),                                      \
		.value = {CYAML_VALUE_MAPPING(OPT, MEMBER(m), fields)},                                      \
	}
#define F_MAP(k, parent, m, fields)                                                                          \
	{                                                                                                    \
		.key = k, .data_offset = REL(parent, m),                                                     \
		.value = {CYAML_VALUE_MAPPING(OPT, MEMBER(parent.m), fields)},                               \
	}
#define F_STR(k, parent, m)                                                                                  \
	{                                                                                                    \
		.key = k, .data_offset = REL(parent, m),                                                     \
		.value = {CYAML_VALUE_STRING(OPT | CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED)},           \
	}
#define F_LIST(k, parent, m, n)                                                                              \
	{                                                                                                    \
		.key = k, .data_offset = REL(parent, m), .count_offset = REL(parent, n),                     \
		.count_size = sizeof(MEMBER(parent.n)),                                                      \
		.value = {                                                                                   \
		    CYAML_VALUE_SEQUENCE(OPT | CYAML_FLAG_POINTER, char *, &str_entry, 0, CYAML_UNLIMITED)}, \
	}
#define F_UINT(k, parent, m)                                                                                 \
	{                                                                                                    \
		.key = k, .data_offset = REL(parent, m), .value = {CYAML_VALUE_UINT(OPT, MEMBER(parent.m))}, \
	}
#define F_BOOL(k, parent, m)                                                                                 \
	{                                                                                                    \
		.key = k, .data_offset = REL(parent, m), .value = {CYAML_VALUE_BOOL(OPT, MEMBER(parent.m))}, \
	}
#define F_FREEFORM(k)                                                                                        \
	{                                                                                                    \
		.key = k, .value = {.type = CYAML_IGNORE, .flags = OPT},                                     \
	}

static const cyaml_schema_value_t str_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t sensor_fields[] = {
    F_STR("name", sensor, name),
    F_LIST("device_networks", sensor, device_networks, n_device_networks),
    F_UINT("stats_interval", sensor, stats_interval),
    F_UINT("payload_preview", sensor, payload_preview),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t capture_fields[] = {
    F_UINT("snaplen", capture, snaplen),
    F_BOOL("promisc", capture, promisc),
    F_BOOL("immediate", capture, immediate),
    F_STR("filter", capture, filter),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t flow_timeout_fields[] = {
    F_UINT("tcp", limits.flow_timeout, tcp),
    F_UINT("tcp_closed", limits.flow_timeout, tcp_closed),
    F_UINT("udp", limits.flow_timeout, udp),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t limits_fields[] = {
    F_UINT("max_flows", limits, max_flows),
    F_UINT("max_devices", limits, max_devices),
    F_UINT("stream_buffer", limits, stream_buffer),
    F_UINT("max_fragments", limits, max_fragments),
    F_UINT("fragment_bytes", limits, fragment_bytes),
    F_UINT("max_message", limits, max_message),
    F_UINT("max_items", limits, max_items),
    F_UINT("dns_cache", limits, dns_cache),
    F_MAP("flow_timeout", limits, flow_timeout, flow_timeout_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t redis_fields[] = {
    F_STR("host", state.redis, host),
    F_UINT("port", state.redis, port),
    F_UINT("db", state.redis, db),
    F_STR("password_env", state.redis, password_env),
    F_STR("key_prefix", state.redis, key_prefix),
    F_UINT("ttl", state.redis, ttl),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t state_fields[] = {
    F_STR("backend", state, backend),
    F_MAP("redis", state, redis, redis_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t tunnel_fields[] = {
    F_UINT("max_duration", rules.tunnel, max_duration),
    F_UINT("renewal_max", rules.tunnel, renewal_max),
    F_UINT("renewal_window", rules.tunnel, renewal_window),
    F_UINT("report_interval", rules.tunnel, report_interval),
    F_LIST("endpoints", rules.tunnel, endpoints, n_endpoints),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t mqtt_fields[] = {
    F_LIST("trusted_clients", rules.mqtt, trusted_clients, n_trusted_clients),
    F_LIST("publish_namespaces", rules.mqtt, publish_namespaces, n_publish_namespaces),
    F_LIST("subscribe_namespaces", rules.mqtt, subscribe_namespaces, n_subscribe_namespaces),
    F_UINT("shared_credentials_max", rules.mqtt, shared_credentials_max),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t cert_fields[] = {
    F_UINT("expiry_lead", rules.cert, expiry_lead),
    F_UINT("storm_min_devices", rules.cert, storm_min_devices),
    F_UINT("storm_bucket", rules.cert, storm_bucket),
    F_UINT("flood_min_devices", rules.cert, flood_min_devices),
    F_UINT("flood_window", rules.cert, flood_window),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t region_fields[] = {
    F_LIST("allowed", rules.region, allowed, n_allowed),
    F_LIST("ip_ranges", rules.region, ip_ranges, n_ip_ranges),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t modbus_fields[] = {
    F_LIST("allowed_writers", rules.modbus, allowed_writers, n_allowed_writers),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t rules_fields[] = {
    F_MAP("tunnel", rules, tunnel, tunnel_fields), F_MAP("mqtt", rules, mqtt, mqtt_fields),
    F_MAP("cert", rules, cert, cert_fields),       F_MAP("region", rules, region, region_fields),
    F_MAP("modbus", rules, modbus, modbus_fields), CYAML_FIELD_END,
};

static const cyaml_schema_field_t jsonl_fields[] = {
    F_STR("path", exporters.jsonl, path),
    F_UINT("rotate_size", exporters.jsonl, rotate_size),
    F_UINT("rotate_keep", exporters.jsonl, rotate_keep),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t kafka_fields[] = {
    F_STR("brokers", exporters.kafka, brokers),
    F_STR("topic", exporters.kafka, topic),
    F_STR("events_topic", exporters.kafka, events_topic),
    F_STR("spool_dir", exporters.kafka, spool_dir),
    F_UINT("spool_max", exporters.kafka, spool_max),
    F_UINT("flush_timeout", exporters.kafka, flush_timeout),
    F_FREEFORM("properties"), /* string -> string, held in property_keys/values */
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t syslog_fields[] = {
    F_STR("address", exporters.syslog, address),
    F_STR("format", exporters.syslog, format),
    F_STR("facility", exporters.syslog, facility),
    F_STR("hostname", exporters.syslog, hostname),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t exporters_fields[] = {
    F_MAP("jsonl", exporters, jsonl, jsonl_fields),
    F_MAP("kafka", exporters, kafka, kafka_fields),
    F_MAP("syslog", exporters, syslog, syslog_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t top_fields[] = {
    F_SECTION("sensor", sensor, sensor_fields),
    F_SECTION("capture", capture, capture_fields),
    F_SECTION("limits", limits, limits_fields),
    F_SECTION("state", state, state_fields),
    F_SECTION("rules", rules, rules_fields),
    F_SECTION("exporters", exporters, exporters_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t config_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct iw_config, top_fields),
};

/* What the schema cannot say about a key. */
struct key_rule {
	const char *key;
	bool duration;              /* a CYAML_UINT written as "90s", "12h", ... */
	bool size;                  /* a CYAML_UINT written as "64k", "100M", "1G" (bytes) */
	uint64_t min, max;          /* max 0: no upper bound */
	const char *const *choices; /* strings: NULL-terminated list of allowed values */
};

static const char *const backends[] = {"memory", "redis", NULL};
static const char *const syslog_formats[] = {"cef", "json", NULL};
static const char *const syslog_facilities[] = {"kern",   "user",   "mail",   "daemon", "auth",     "syslog",
                                                "lpr",    "news",   "uucp",   "cron",   "authpriv", "ftp",
                                                "local0", "local1", "local2", "local3", "local4",   "local5",
                                                "local6", "local7", NULL};

static const struct key_rule key_rules[] = {
    {"sensor.stats_interval", .duration = true},
    {"capture.snaplen", .min = 1, .max = 262144},
    {"limits.max_flows", .min = 1},
    {"limits.max_devices", .min = 1},
    {"limits.max_message", .min = 16, .max = 268435460}, /* MQTT's largest packet */
    {"limits.max_items", .min = 1, .max = 65535},
    {"limits.dns_cache", .min = 1},
    {"sensor.payload_preview", .max = 4096},
    {"limits.flow_timeout.tcp", .duration = true, .min = 1},
    {"limits.flow_timeout.tcp_closed", .duration = true, .min = 1},
    {"limits.flow_timeout.udp", .duration = true, .min = 1},
    {"state.backend", .choices = backends},
    {"state.redis.port", .min = 1, .max = 65535},
    {"state.redis.db", .max = INT_MAX}, /* SELECT takes an int */
    {"state.redis.ttl", .duration = true},
    {"rules.tunnel.max_duration", .duration = true, .min = 1},
    {"rules.tunnel.renewal_window", .duration = true, .min = 1},
    {"rules.tunnel.report_interval", .duration = true},
    {"rules.mqtt.shared_credentials_max", .min = 1},
    {"rules.cert.expiry_lead", .duration = true},
    {"rules.cert.storm_min_devices", .min = 1},
    {"rules.cert.storm_bucket", .duration = true, .min = 1},
    {"rules.cert.flood_min_devices", .min = 1},
    {"rules.cert.flood_window", .duration = true, .min = 1},
    {"exporters.jsonl.rotate_size", .size = true},
    {"exporters.jsonl.rotate_keep", .min = 1, .max = 1000},
    {"exporters.kafka.spool_max", .size = true},
    {"exporters.kafka.flush_timeout", .duration = true, .max = 3600},
    {"exporters.syslog.format", .choices = syslog_formats},
    {"exporters.syslog.facility", .choices = syslog_facilities},
};

/* ---- leaves: one configurable value, found by walking the schema ---- */

enum leaf_kind { LEAF_STR, LEAF_LIST, LEAF_UINT, LEAF_DURATION, LEAF_SIZE, LEAF_BOOL, LEAF_PROPS };

struct leaf {
	enum leaf_kind kind;
	size_t off;                  /* of the value in struct iw_config */
	size_t count_off;            /* lists: of the count */
	const struct key_rule *rule; /* NULL when there is none */
};

static void schema_bug(const char *key)
{
	fprintf(stderr, "iotwatch: config.c schema does not match struct iw_config at %s\n", key);
	abort();
}

static void leaf_make(const cyaml_schema_field_t *f, size_t base, const char *dotted, struct leaf *lf)
{
	memset(lf, 0, sizeof *lf);
	lf->off = base + f->data_offset;
	for (size_t i = 0; i < sizeof key_rules / sizeof key_rules[0]; i++)
		if (strcmp(key_rules[i].key, dotted) == 0)
			lf->rule = &key_rules[i];
	switch (f->value.type) {
	case CYAML_STRING:
		lf->kind = LEAF_STR;
		break;
	case CYAML_SEQUENCE:
		if (f->count_size != sizeof(unsigned))
			schema_bug(dotted);
		lf->kind = LEAF_LIST;
		lf->count_off = base + f->count_offset;
		break;
	case CYAML_UINT:
		if (f->value.data_size != sizeof(uint64_t))
			schema_bug(dotted);
		lf->kind = !lf->rule            ? LEAF_UINT
		           : lf->rule->duration ? LEAF_DURATION
		           : lf->rule->size     ? LEAF_SIZE
		                                : LEAF_UINT;
		break;
	case CYAML_BOOL:
		if (f->value.data_size != sizeof(bool))
			schema_bug(dotted);
		lf->kind = LEAF_BOOL;
		break;
	case CYAML_IGNORE:
		lf->kind = LEAF_PROPS;
		break;
	default:
		schema_bug(dotted);
	}
}

static char **str_at(struct iw_config *c, size_t off)
{
	return (char **)(void *)((char *)c + off);
}

static char ***list_at(struct iw_config *c, size_t off)
{
	return (char ***)(void *)((char *)c + off);
}

static unsigned *count_at(struct iw_config *c, size_t off)
{
	return (unsigned *)(void *)((char *)c + off);
}

static uint64_t *u64_at(struct iw_config *c, size_t off)
{
	return (uint64_t *)(void *)((char *)c + off);
}

static bool *bool_at(struct iw_config *c, size_t off)
{
	return (bool *)(void *)((char *)c + off);
}

static const void *cat(const struct iw_config *c, size_t off)
{
	return (const char *)c + off;
}

/* A dotted key under construction. Keys too long for it are cut, which only shortens
 * messages: lookups compare against the schema, never against this buffer. */
struct path {
	char s[KEY_MAX];
	size_t len;
};

static size_t path_push(struct path *p, const char *name, size_t n)
{
	size_t old = p->len;
	if (p->len && p->len + 1 < sizeof p->s)
		p->s[p->len++] = '.';
	size_t room = sizeof p->s - 1 - p->len;
	if (n > room)
		n = room;
	memcpy(p->s + p->len, name, n);
	p->len += n;
	p->s[p->len] = '\0';
	return old;
}

static void path_pop(struct path *p, size_t old)
{
	p->len = old;
	p->s[old] = '\0';
}

static const cyaml_schema_field_t *field_named(const cyaml_schema_field_t *fields, const char *name, size_t n)
{
	for (const cyaml_schema_field_t *f = fields; f->key; f++)
		if (strlen(f->key) == n && memcmp(f->key, name, n) == 0)
			return f;
	return NULL;
}

/* Calls enter/leave around each mapping and leaf for each value, in schema order;
 * stops at the first callback returning false. */
struct visitor {
	bool (*enter)(void *arg, const char *name);
	bool (*leave)(void *arg);
	bool (*leaf)(void *arg, const char *name, const struct leaf *lf);
	void *arg;
};

static bool walk(const cyaml_schema_field_t *fields, size_t base, struct path *p, const struct visitor *v)
{
	for (const cyaml_schema_field_t *f = fields; f->key; f++) {
		size_t old = path_push(p, f->key, strlen(f->key));
		bool ok;
		if (f->value.type == CYAML_MAPPING) {
			ok = (!v->enter || v->enter(v->arg, f->key)) &&
			     walk(f->value.mapping.fields, base + f->data_offset, p, v) &&
			     (!v->leave || v->leave(v->arg));
		} else {
			struct leaf lf;
			leaf_make(f, base, p->s, &lf);
			ok = v->leaf(v->arg, f->key, &lf);
		}
		path_pop(p, old);
		if (!ok)
			return false;
	}
	return true;
}

/* ---- freeing ---- */

static void strv_free(char **v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool free_leaf(void *arg, const char *name, const struct leaf *lf)
{
	struct iw_config *c = arg;
	(void)name;
	switch (lf->kind) {
	case LEAF_STR:
		free(*str_at(c, lf->off));
		*str_at(c, lf->off) = NULL;
		break;
	case LEAF_LIST:
		strv_free(*list_at(c, lf->off), *count_at(c, lf->count_off));
		*list_at(c, lf->off) = NULL;
		*count_at(c, lf->count_off) = 0;
		break;
	case LEAF_PROPS:
		strv_free(c->exporters.kafka.property_keys, c->exporters.kafka.n_properties);
		strv_free(c->exporters.kafka.property_values, c->exporters.kafka.n_properties);
		c->exporters.kafka.property_keys = NULL;
		c->exporters.kafka.property_values = NULL;
		c->exporters.kafka.n_properties = 0;
		break;
	default:
		break;
	}
	return true;
}

/* Frees every string and list c owns and zeroes it; NULL and a second call are fine. */
void iw_config_free(struct iw_config *c)
{
	if (!c)
		return;
	struct path p = {.len = 0};
	struct visitor v = {.leaf = free_leaf, .arg = c};
	walk(top_fields, 0, &p, &v);
	memset(c, 0, sizeof *c);
}

/* ---- defaults ---- */

/* Overwrites c without freeing what it held; every string is allocated and owned by c. */
void iw_config_defaults(struct iw_config *c)
{
	memset(c, 0, sizeof *c);
	c->sensor.name = xstrdup("span-1");
	c->sensor.stats_interval = 0;
	c->capture.snaplen = 65535;
	c->capture.promisc = true;
	c->capture.immediate = false;
	c->capture.filter = xstrdup("");
	c->limits.max_flows = 1000000;
	c->limits.max_devices = 1000000;
	c->limits.stream_buffer = 65536;
	c->limits.max_fragments = 4096;
	c->limits.fragment_bytes = 4194304;
	c->limits.max_message = 1048576;
	c->limits.max_items = 256;
	c->limits.dns_cache = 100000;
	c->sensor.payload_preview = 0;
	c->limits.flow_timeout.tcp = 3600;
	c->limits.flow_timeout.tcp_closed = 30;
	c->limits.flow_timeout.udp = 120;
	c->state.backend = xstrdup("memory");
	c->state.redis.host = xstrdup("127.0.0.1");
	c->state.redis.port = 6379;
	c->state.redis.db = 0;
	c->state.redis.password_env = xstrdup("");
	c->state.redis.key_prefix = xstrdup("iw:");
	c->state.redis.ttl = 30 * 86400;
	c->rules.tunnel.max_duration = 12 * 3600;
	c->rules.tunnel.renewal_max = 3;
	c->rules.tunnel.renewal_window = 24 * 3600;
	c->rules.tunnel.report_interval = 3600;
	c->rules.mqtt.shared_credentials_max = 5;
	c->rules.cert.expiry_lead = 90 * 86400;
	c->rules.cert.storm_min_devices = 20;
	c->rules.cert.storm_bucket = 86400;
	c->rules.cert.flood_min_devices = 20;
	c->rules.cert.flood_window = 60;
	c->exporters.jsonl.path = xstrdup("-");
	c->exporters.kafka.brokers = xstrdup("");
	c->exporters.kafka.topic = xstrdup("iotwatch.alerts");
	c->exporters.kafka.events_topic = xstrdup("");
	c->exporters.kafka.spool_dir = xstrdup("");
	c->exporters.syslog.address = xstrdup("");
	c->exporters.syslog.format = xstrdup("cef");
	c->exporters.syslog.facility = xstrdup("local0");
	c->exporters.syslog.hostname = xstrdup("");
	c->exporters.jsonl.rotate_keep = 5;
	c->exporters.kafka.spool_max = 1ull << 30;
	c->exporters.kafka.flush_timeout = 10;
}

/* ---- scalar values ---- */

/* A number with at most one unit suffix; tables end with {0, 0}, largest unit first. */
struct unit {
	char suffix;
	uint64_t mult;
};

static const struct unit time_units[] = {{'w', 604800}, {'d', 86400}, {'h', 3600},
                                         {'m', 60},     {'s', 1},     {0, 0}};
static const struct unit size_units[] = {
    {'T', 1ull << 40}, {'G', 1ull << 30}, {'M', 1ull << 20}, {'k', 1ull << 10}, {0, 0}};

/* Digits, then at most one suffix of the table u. IW_ERR (and *out untouched) for
 * anything else, for NULL arguments, and when the result does not fit in 64 bits. */
static int parse_scaled(const char *s, const struct unit *u, uint64_t *out)
{
	if (!s || !out || *s < '0' || *s > '9')
		return IW_ERR;
	uint64_t n = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (n > (UINT64_MAX - d) / 10)
			return IW_ERR;
		n = n * 10 + d;
	}
	uint64_t mult = 1;
	if (*s) {
		while (u->suffix && u->suffix != *s)
			u++;
		if (!u->suffix || s[1])
			return IW_ERR;
		mult = u->mult;
	}
	if (n > UINT64_MAX / mult)
		return IW_ERR;
	*out = n * mult;
	return IW_OK;
}

/* Writes v in the largest unit of u that divides it exactly ("12h", "100M"); 0 in the
 * table's unit of 1 when it has one ("0s"), else as a plain number ("0", "1100"). */
static void format_scaled(uint64_t v, const struct unit *u, char *buf, size_t n)
{
	for (; u->suffix; u++)
		if ((v && v % u->mult == 0) || u->mult == 1) {
			snprintf(buf, n, "%" PRIu64 "%c", v / u->mult, u->suffix);
			return;
		}
	snprintf(buf, n, "%" PRIu64, v);
}

/* Digits, then at most one of s m h d w. */
int iw_parse_duration(const char *s, uint64_t *secs)
{
	return parse_scaled(s, time_units, secs);
}

/* Digits, then at most one of k M G T (powers of 1024). */
int iw_parse_size(const char *s, uint64_t *bytes)
{
	return parse_scaled(s, size_units, bytes);
}

/* Decimal digits only: YAML's 0x10 and 010 are not worth their surprises here. */
static int parse_u64(const char *s, uint64_t *v, bool *overflow)
{
	*overflow = false;
	if (*s < '0' || *s > '9')
		return IW_ERR;
	uint64_t n = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (n > (UINT64_MAX - d) / 10)
			*overflow = true;
		n = n * 10 + d;
	}
	if (*s || *overflow)
		return IW_ERR;
	*v = n;
	return IW_OK;
}

static int parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = true;
			return IW_OK;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = false;
			return IW_OK;
		}
	}
	return IW_ERR;
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t c = *p++, min;
		int more;
		if (c < 0x80)
			continue;
		if ((c & 0xe0) == 0xc0) {
			more = 1, min = 0x80, c &= 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			more = 2, min = 0x800, c &= 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			more = 3, min = 0x10000, c &= 0x07;
		} else {
			return false;
		}
		for (; more > 0; more--, p++) {
			if ((*p & 0xc0) != 0x80) /* also stops at the terminating NUL */
				return false;
			c = c << 6 | (*p & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
	}
	return true;
}

/* Appends to buf (size n) at *o, never past the end. */
static void put(char *buf, size_t n, size_t *o, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t n, size_t *o, const char *fmt, ...)
{
	va_list ap;
	if (*o >= n - 1)
		return;
	va_start(ap, fmt);
	int w = vsnprintf(buf + *o, n - *o, fmt, ap);
	va_end(ap);
	*o = w < 0 || (size_t)w >= n - *o ? n - 1 : *o + (size_t)w;
}

/* s in double quotes, escaped and cut so that a message stays one readable line. */
static const char *quoted(const char *s, char *buf, size_t n)
{
	const size_t show = 60;
	size_t o = 0, i = 0;
	buf[0] = '\0';
	put(buf, n, &o, "\"");
	for (; s[i] && i < show && o + 10 < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			put(buf, n, &o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			put(buf, n, &o, "\\x%02x", ch);
		else
			put(buf, n, &o, "%c", ch);
	}
	put(buf, n, &o, "%s\"", s[i] ? "..." : "");
	return buf;
}

/* Replaces line breaks and other control characters so err is exactly one line. */
static void one_line(char *err, size_t errlen)
{
	if (!err || !errlen)
		return;
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static const char *kind_name(enum leaf_kind k)
{
	switch (k) {
	case LEAF_STR:
		return "a string";
	case LEAF_LIST:
		return "a list";
	case LEAF_UINT:
		return "a number";
	case LEAF_DURATION:
		return "a duration";
	case LEAF_SIZE:
		return "a size";
	case LEAF_BOOL:
		return "true or false";
	case LEAF_PROPS:
		return "a mapping";
	}
	return "?";
}

static void format_value(const struct leaf *lf, uint64_t v, char *buf, size_t n)
{
	if (lf->kind == LEAF_DURATION)
		format_scaled(v, time_units, buf, n);
	else if (lf->kind == LEAF_SIZE)
		format_scaled(v, size_units, buf, n);
	else
		snprintf(buf, n, "%" PRIu64, v);
}

/* Checks text as a value of the scalar leaf lf (string, number, duration, boolean) and
 * converts it into *num (booleans as 0/1; strings leave *num alone). On failure writes
 * what is wrong into why and returns IW_ERR. */
static int scalar_check(const struct leaf *lf, const char *text, uint64_t *num, char *why, size_t whylen)
{
	char q[96], a[32], b[32];
	bool overflow, t;
	switch (lf->kind) {
	case LEAF_STR:
		if (!lf->rule || !lf->rule->choices)
			return IW_OK;
		for (const char *const *ch = lf->rule->choices; *ch; ch++)
			if (strcmp(*ch, text) == 0)
				return IW_OK;
		{
			size_t o =
			    (size_t)snprintf(why, whylen, "%s is not one of", quoted(text, q, sizeof q));
			for (const char *const *ch = lf->rule->choices; *ch && o < whylen; ch++)
				o += (size_t)snprintf(why + o, whylen - o, "%s %s",
				                      ch == lf->rule->choices ? ":" : ",", *ch);
		}
		return IW_ERR;
	case LEAF_BOOL:
		if (parse_bool(text, &t) != IW_OK) {
			snprintf(why, whylen, "%s is not a boolean (true or false)",
			         quoted(text, q, sizeof q));
			return IW_ERR;
		}
		*num = t;
		return IW_OK;
	case LEAF_UINT:
		if (parse_u64(text, num, &overflow) != IW_OK) {
			snprintf(why, whylen, "%s %s", quoted(text, q, sizeof q),
			         overflow ? "is too large" : "is not a number");
			return IW_ERR;
		}
		break;
	case LEAF_DURATION:
		if (iw_parse_duration(text, num) != IW_OK) {
			snprintf(why, whylen, "%s is not a duration", quoted(text, q, sizeof q));
			return IW_ERR;
		}
		break;
	case LEAF_SIZE:
		if (iw_parse_size(text, num) != IW_OK) {
			snprintf(why, whylen, "%s is not a size (bytes, or with k, M, G, T)",
			         quoted(text, q, sizeof q));
			return IW_ERR;
		}
		break;
	default:
		snprintf(why, whylen, "expected %s", kind_name(lf->kind));
		return IW_ERR;
	}
	const struct key_rule *r = lf->rule;
	if (r && (*num < r->min || (r->max && *num > r->max))) {
		format_value(lf, *num, q, sizeof q);
		format_value(lf, r->min, a, sizeof a);
		format_value(lf, r->max, b, sizeof b);
		if (r->max)
			snprintf(why, whylen, "%s is out of range (%s..%s)", q, a, b);
		else
			snprintf(why, whylen, "%s is out of range (at least %s)", q, a);
		return IW_ERR;
	}
	return IW_OK;
}

/* ---- emitting YAML (print, and the normalized copy for libcyaml) ---- */

static bool emit(yaml_emitter_t *em, yaml_event_t *ev, int made)
{
	return made && yaml_emitter_emit(em, ev);
}

static bool emit_scalar(yaml_emitter_t *em, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	size_t n = strlen(s);
	if (n > INT_MAX)
		return false;
	return emit(
	    em, &ev,
	    yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, (int)n, 1, 1, style));
}

static bool emit_map_start(yaml_emitter_t *em, yaml_mapping_style_t style)
{
	yaml_event_t ev;
	return emit(em, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, style));
}

static bool emit_map_end(yaml_emitter_t *em)
{
	yaml_event_t ev;
	return emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
}

static bool emit_seq_start(yaml_emitter_t *em)
{
	yaml_event_t ev;
	return emit(em, &ev,
	            yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE));
}

static bool emit_seq_end(yaml_emitter_t *em)
{
	yaml_event_t ev;
	return emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
}

/* Stream and document start, then the top-level mapping. */
static bool emit_open(yaml_emitter_t *em)
{
	yaml_event_t ev;
	yaml_emitter_set_width(em, -1);
	yaml_emitter_set_unicode(em, 1);
	yaml_emitter_set_indent(em, 2);
	return emit(em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)) &&
	       emit(em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1)) &&
	       emit_map_start(em, YAML_BLOCK_MAPPING_STYLE);
}

static bool emit_close(yaml_emitter_t *em)
{
	yaml_event_t ev;
	return emit_map_end(em) && emit(em, &ev, yaml_document_end_event_initialize(&ev, 1)) &&
	       emit(em, &ev, yaml_stream_end_event_initialize(&ev)) && yaml_emitter_flush(em);
}

static bool emit_strv(yaml_emitter_t *em, char *const *v, unsigned n)
{
	if (!emit_seq_start(em))
		return false;
	for (unsigned i = 0; i < n; i++)
		if (!emit_scalar(em, v[i], YAML_DOUBLE_QUOTED_SCALAR_STYLE))
			return false;
	return emit_seq_end(em);
}

/* ---- printing ---- */

struct printer {
	yaml_emitter_t em;
	const struct iw_config *c;
};

static bool print_enter(void *arg, const char *name)
{
	struct printer *pr = arg;
	return emit_scalar(&pr->em, name, YAML_PLAIN_SCALAR_STYLE) &&
	       emit_map_start(&pr->em, YAML_BLOCK_MAPPING_STYLE);
}

static bool print_leave(void *arg)
{
	struct printer *pr = arg;
	return emit_map_end(&pr->em);
}

static bool print_leaf(void *arg, const char *name, const struct leaf *lf)
{
	struct printer *pr = arg;
	const struct iw_config *c = pr->c;
	char num[32];
	if (!emit_scalar(&pr->em, name, YAML_PLAIN_SCALAR_STYLE))
		return false;
	switch (lf->kind) {
	case LEAF_STR: {
		const char *s = *(char *const *)cat(c, lf->off);
		return emit_scalar(&pr->em, s ? s : "", YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	}
	case LEAF_LIST:
		return emit_strv(&pr->em, *(char **const *)cat(c, lf->off),
		                 *(const unsigned *)cat(c, lf->count_off));
	case LEAF_UINT:
	case LEAF_DURATION:
	case LEAF_SIZE:
		format_value(lf, *(const uint64_t *)cat(c, lf->off), num, sizeof num);
		return emit_scalar(&pr->em, num, YAML_PLAIN_SCALAR_STYLE);
	case LEAF_BOOL:
		return emit_scalar(&pr->em, *(const bool *)cat(c, lf->off) ? "true" : "false",
		                   YAML_PLAIN_SCALAR_STYLE);
	case LEAF_PROPS:
		if (!emit_map_start(&pr->em, YAML_BLOCK_MAPPING_STYLE))
			return false;
		for (unsigned i = 0; i < c->exporters.kafka.n_properties; i++)
			if (!emit_scalar(&pr->em, c->exporters.kafka.property_keys[i],
			                 YAML_DOUBLE_QUOTED_SCALAR_STYLE) ||
			    !emit_scalar(&pr->em, c->exporters.kafka.property_values[i],
			                 YAML_DOUBLE_QUOTED_SCALAR_STYLE))
				return false;
		return emit_map_end(&pr->em);
	}
	return false;
}

/* Every key, in schema order: strings double-quoted (escaped by libyaml), lists in flow
 * style, durations in their largest exact unit. A write error is reported once on
 * stderr; the caller learns of it from ferror(out). */
void iw_config_print(const struct iw_config *c, FILE *out)
{
	struct printer pr = {.c = c};
	struct path p = {.len = 0};
	struct visitor v = {.enter = print_enter, .leave = print_leave, .leaf = print_leaf, .arg = &pr};
	if (!yaml_emitter_initialize(&pr.em)) {
		fputs("iotwatch: cannot initialise the YAML emitter\n", stderr);
		abort();
	}
	yaml_emitter_set_output_file(&pr.em, out);
	if (!emit_open(&pr.em) || !walk(top_fields, 0, &p, &v) || !emit_close(&pr.em))
		fprintf(stderr, "iotwatch: printing the configuration: %s\n",
		        pr.em.problem ? pr.em.problem : "YAML emitter error");
	yaml_emitter_delete(&pr.em);
}

/* ---- loading: pass 1 (libyaml) ---- */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static int buf_write(void *data, unsigned char *bytes, size_t n)
{
	struct buf *b = data;
	if (b->cap - b->len < n) {
		while (b->cap - b->len < n)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = iw_realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, bytes, n);
	b->len += n;
	return 1;
}

struct loader {
	const char *path;
	char *err;
	size_t errlen;
	yaml_document_t doc;
	yaml_emitter_t em; /* writes the normalized copy into norm */
	struct buf norm;
	struct leaf *set; /* the leaves the file sets, each once */
	size_t n_set;
	bool props_set;
	char **pkeys, **pvals;
	unsigned n_props;
};

static int ld_fail(struct loader *ld, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int ld_fail(struct loader *ld, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char why[WHY_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (ld->err && ld->errlen) {
		snprintf(ld->err, ld->errlen, "%s:%zu: %s: %s", ld->path, n->start_mark.line + 1, key, why);
		one_line(ld->err, ld->errlen);
	}
	return IW_ERR;
}

static int ld_emit_fail(struct loader *ld)
{
	if (ld->err && ld->errlen) {
		snprintf(ld->err, ld->errlen, "%s: normalizing the YAML: %s", ld->path,
		         ld->em.problem ? ld->em.problem : "emitter error");
		one_line(ld->err, ld->errlen);
	}
	return IW_ERR;
}

static yaml_node_t *node(struct loader *ld, int index)
{
	return yaml_document_get_node(&ld->doc, index);
}

/* An empty plain scalar, "~" or "null": a section or list left empty. */
static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = (const char *)n->data.scalar.value;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* "a mapping", "a list" or the scalar in quotes, for "expected X, got Y". */
static const char *node_desc(const yaml_node_t *n, char *buf, size_t len)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	return quoted((const char *)n->data.scalar.value, buf, len);
}

/* The text of a scalar node, with null read as "". NULL when it holds a NUL byte. */
static const char *scalar_text(const yaml_node_t *n)
{
	if (is_null(n))
		return "";
	const char *s = (const char *)n->data.scalar.value;
	return strlen(s) == n->data.scalar.length ? s : NULL;
}

static int ld_props(struct loader *ld, const yaml_node_t *v, struct path *p)
{
	char d[96];
	strv_free(ld->pkeys, ld->n_props);
	strv_free(ld->pvals, ld->n_props);
	ld->pkeys = ld->pvals = NULL;
	ld->n_props = 0;
	ld->props_set = true;
	if (is_null(v))
		return IW_OK;
	if (v->type != YAML_MAPPING_NODE)
		return ld_fail(ld, v, p->s, "expected a mapping of librdkafka properties, got %s",
		               node_desc(v, d, sizeof d));
	for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(ld, pr->key), *val = node(ld, pr->value);
		if (k->type != YAML_SCALAR_NODE)
			return ld_fail(ld, k, p->s, "a property name must be a string, got %s",
			               node_desc(k, d, sizeof d));
		const char *name = scalar_text(k);
		if (!name || !*name)
			return ld_fail(ld, k, p->s, "%s is not a property name",
			               quoted(name ? name : "", d, sizeof d));
		size_t old = path_push(p, name, strlen(name));
		for (unsigned i = 0; i < ld->n_props; i++)
			if (strcmp(ld->pkeys[i], name) == 0)
				return ld_fail(ld, k, p->s, "duplicate key");
		const char *text = val->type == YAML_SCALAR_NODE ? scalar_text(val) : NULL;
		if (!text)
			return ld_fail(ld, val, p->s, "expected a string, got %s",
			               val->type == YAML_SCALAR_NODE ? "a NUL byte"
			                                             : node_desc(val, d, sizeof d));
		path_pop(p, old);
		ld->pkeys = iw_realloc(ld->pkeys, (ld->n_props + 1) * sizeof *ld->pkeys);
		ld->pvals = iw_realloc(ld->pvals, (ld->n_props + 1) * sizeof *ld->pvals);
		ld->pkeys[ld->n_props] = xstrdup(name);
		ld->pvals[ld->n_props] = xstrdup(text);
		ld->n_props++;
	}
	return IW_OK;
}

/* Checks one leaf's value node and emits its normalized form (the key is out already). */
static int ld_leaf_value(struct loader *ld, const struct leaf *lf, const yaml_node_t *v, const char *key)
{
	char d[96], why[WHY_MAX], num[32];
	uint64_t n = 0;
	if (lf->kind == LEAF_LIST) {
		if (is_null(v))
			return emit_strv(&ld->em, NULL, 0) ? IW_OK : ld_emit_fail(ld);
		if (v->type != YAML_SEQUENCE_NODE)
			return ld_fail(ld, v, key, "expected a list, got %s", node_desc(v, d, sizeof d));
		if (!emit_seq_start(&ld->em))
			return ld_emit_fail(ld);
		for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
		     it++) {
			yaml_node_t *item = node(ld, *it);
			if (item->type != YAML_SCALAR_NODE)
				return ld_fail(ld, item, key, "expected a list of strings, got %s in it",
				               node_desc(item, d, sizeof d));
			const char *text = scalar_text(item);
			if (!text)
				return ld_fail(ld, item, key, "a string holds a NUL byte");
			if (!emit_scalar(&ld->em, text, YAML_DOUBLE_QUOTED_SCALAR_STYLE))
				return ld_emit_fail(ld);
		}
		return emit_seq_end(&ld->em) ? IW_OK : ld_emit_fail(ld);
	}
	if (v->type != YAML_SCALAR_NODE)
		return ld_fail(ld, v, key, "expected %s, got %s", kind_name(lf->kind),
		               node_desc(v, d, sizeof d));
	const char *text = scalar_text(v);
	if (!text)
		return ld_fail(ld, v, key, "a string holds a NUL byte");
	if (lf->kind != LEAF_STR && !*text)
		return ld_fail(ld, v, key, "expected %s, got an empty value", kind_name(lf->kind));
	if (scalar_check(lf, text, &n, why, sizeof why) != IW_OK)
		return ld_fail(ld, v, key, "%s", why);
	bool ok;
	if (lf->kind == LEAF_STR) {
		ok = emit_scalar(&ld->em, text, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	} else if (lf->kind == LEAF_BOOL) {
		ok = emit_scalar(&ld->em, n ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
	} else {
		snprintf(num, sizeof num, "%" PRIu64, n);
		ok = emit_scalar(&ld->em, num, YAML_PLAIN_SCALAR_STYLE);
	}
	return ok ? IW_OK : ld_emit_fail(ld);
}

static int ld_mapping(struct loader *ld, const yaml_node_t *map, const cyaml_schema_field_t *fields,
                      size_t base, struct path *p);

static int ld_pair(struct loader *ld, const yaml_node_pair_t *pr, const yaml_node_pair_t *first,
                   const cyaml_schema_field_t *fields, size_t base, struct path *p)
{
	yaml_node_t *k = node(ld, pr->key), *v = node(ld, pr->value);
	char d[96];
	if (k->type != YAML_SCALAR_NODE)
		return ld_fail(ld, k, p->len ? p->s : "(top level)", "a key must be a string, got %s",
		               node_desc(k, d, sizeof d));
	const char *name = (const char *)k->data.scalar.value;
	size_t len = k->data.scalar.length;
	path_push(p, name, len);
	for (const yaml_node_pair_t *q = first; q < pr; q++) {
		yaml_node_t *qk = node(ld, q->key);
		if (qk->type == YAML_SCALAR_NODE && qk->data.scalar.length == len &&
		    memcmp(qk->data.scalar.value, name, len) == 0)
			return ld_fail(ld, k, p->s, "duplicate key");
	}
	const cyaml_schema_field_t *f = field_named(fields, name, len);
	if (!f)
		return ld_fail(ld, k, p->s, "unknown key");
	if (f->value.type == CYAML_MAPPING) {
		if (is_null(v))
			return IW_OK;
		if (v->type != YAML_MAPPING_NODE)
			return ld_fail(ld, v, p->s, "expected a mapping, got %s", node_desc(v, d, sizeof d));
		if (!emit_scalar(&ld->em, f->key, YAML_PLAIN_SCALAR_STYLE) ||
		    !emit_map_start(&ld->em, YAML_BLOCK_MAPPING_STYLE))
			return ld_emit_fail(ld);
		int rc = ld_mapping(ld, v, f->value.mapping.fields, base + f->data_offset, p);
		if (rc != IW_OK)
			return rc;
		return emit_map_end(&ld->em) ? IW_OK : ld_emit_fail(ld);
	}
	struct leaf lf;
	leaf_make(f, base, p->s, &lf);
	if (lf.kind == LEAF_PROPS) /* libcyaml ignores it; not in the copy */
		return ld_props(ld, v, p);
	if (!emit_scalar(&ld->em, f->key, YAML_PLAIN_SCALAR_STYLE))
		return ld_emit_fail(ld);
	int rc = ld_leaf_value(ld, &lf, v, p->s);
	if (rc != IW_OK)
		return rc;
	ld->set = iw_realloc(ld->set, (ld->n_set + 1) * sizeof *ld->set);
	ld->set[ld->n_set++] = lf;
	return IW_OK;
}

static int ld_mapping(struct loader *ld, const yaml_node_t *map, const cyaml_schema_field_t *fields,
                      size_t base, struct path *p)
{
	const yaml_node_pair_t *first = map->data.mapping.pairs.start;
	for (const yaml_node_pair_t *pr = first; pr < map->data.mapping.pairs.top; pr++) {
		size_t old = p->len;
		int rc = ld_pair(ld, pr, first, fields, base, p);
		path_pop(p, old);
		if (rc != IW_OK)
			return rc;
	}
	return IW_OK;
}

/* ---- loading: pass 2 (libcyaml) and the merge ---- */

struct cy_log {
	char msg[WHY_MAX];
};

static void cy_log_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
    __attribute__((format(printf, 3, 0)));

static void cy_log_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct cy_log *l = ctx;
	if (level < CYAML_LOG_ERROR || l->msg[0]) /* keep the first line, not the backtrace */
		return;
	vsnprintf(l->msg, sizeof l->msg, fmt, args);
	l->msg[strcspn(l->msg, "\n")] = '\0';
}

static void *cy_mem(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	if (!size) {
		free(ptr);
		return NULL;
	}
	return iw_realloc(ptr, size);
}

/* Moves the value of leaf lf from src to dst; dst's old value goes to src. */
static void swap_leaf(struct iw_config *dst, struct iw_config *src, const struct leaf *lf)
{
	switch (lf->kind) {
	case LEAF_STR: {
		char *t = *str_at(dst, lf->off);
		*str_at(dst, lf->off) = *str_at(src, lf->off);
		*str_at(src, lf->off) = t;
		break;
	}
	case LEAF_LIST: {
		char **t = *list_at(dst, lf->off);
		unsigned n = *count_at(dst, lf->count_off);
		*list_at(dst, lf->off) = *list_at(src, lf->off);
		*count_at(dst, lf->count_off) = *count_at(src, lf->count_off);
		*list_at(src, lf->off) = t;
		*count_at(src, lf->count_off) = n;
		break;
	}
	case LEAF_UINT:
	case LEAF_DURATION:
	case LEAF_SIZE:
		*u64_at(dst, lf->off) = *u64_at(src, lf->off);
		break;
	case LEAF_BOOL:
		*bool_at(dst, lf->off) = *bool_at(src, lf->off);
		break;
	case LEAF_PROPS:
		break;
	}
}

static int read_file(const char *path, struct buf *b, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return IW_ERR;
	}
	unsigned char chunk[8192];
	size_t n;
	errno = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_write(b, chunk, n);
	int e = errno;
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(e ? e : EIO));
		fclose(f);
		return IW_ERR;
	}
	fclose(f);
	return IW_OK;
}

static int syntax_error(const char *path, const yaml_parser_t *ps, const struct buf *text, char *err,
                        size_t errlen)
{
	size_t line = ps->problem_mark.line + 1;
	if (ps->error == YAML_READER_ERROR) { /* the reader reports a byte offset only */
		line = 1;
		for (size_t i = 0; i < ps->problem_offset && i < text->len; i++)
			line += text->p[i] == '\n';
	}
	snprintf(err, errlen, "%s:%zu: %s", path, line, ps->problem ? ps->problem : "YAML syntax error");
	return IW_ERR;
}

/* IW_OK, or IW_ERR with c untouched and one line in err (err may be NULL when errlen is
 * 0). Strings and lists taken from the file become c's; the old values are freed. */
int iw_config_load(struct iw_config *c, const char *path, char *err, size_t errlen)
{
	struct loader ld = {.path = path, .err = err, .errlen = errlen};
	struct buf text = {0};
	struct path p = {.len = 0};
	struct cy_log log = {.msg = ""};
	struct iw_config *loaded = NULL;
	yaml_parser_t ps;
	bool have_parser = false, have_doc = false, have_emitter = false;
	int rc = IW_ERR;

	if (err && errlen)
		err[0] = '\0';
	if (read_file(path, &text, err, errlen) != IW_OK)
		goto out;
	if (!yaml_parser_initialize(&ps) || !yaml_emitter_initialize(&ld.em)) {
		fputs("iotwatch: cannot initialise libyaml\n", stderr);
		abort();
	}
	have_parser = have_emitter = true;
	yaml_parser_set_input_string(&ps, text.p ? text.p : (const unsigned char *)"", text.len);
	if (!yaml_parser_load(&ps, &ld.doc)) {
		syntax_error(path, &ps, &text, err, errlen);
		goto out;
	}
	have_doc = true;
	yaml_document_t next;
	if (!yaml_parser_load(&ps, &next)) {
		syntax_error(path, &ps, &text, err, errlen);
		goto out;
	}
	yaml_node_t *next_root = yaml_document_get_root_node(&next);
	bool second = next_root != NULL;
	size_t next_line = second ? next_root->start_mark.line + 1 : 0;
	yaml_document_delete(&next);
	if (second) {
		snprintf(err, errlen, "%s:%zu: a second YAML document; the configuration is one document",
		         path, next_line);
		goto out;
	}

	yaml_emitter_set_output(&ld.em, buf_write, &ld.norm);
	if (!emit_open(&ld.em)) {
		ld_emit_fail(&ld);
		goto out;
	}
	yaml_node_t *root = yaml_document_get_root_node(&ld.doc);
	if (root && !is_null(root)) {
		char d[96];
		if (root->type != YAML_MAPPING_NODE) {
			snprintf(err, errlen, "%s:%zu: expected a mapping at the top level, got %s", path,
			         root->start_mark.line + 1, node_desc(root, d, sizeof d));
			goto out;
		}
		if (ld_mapping(&ld, root, top_fields, 0, &p) != IW_OK)
			goto out;
	}
	if (!emit_close(&ld.em)) {
		ld_emit_fail(&ld);
		goto out;
	}

	cyaml_config_t cy = {
	    .log_fn = cy_log_fn,
	    .log_ctx = &log,
	    .mem_fn = cy_mem,
	    .log_level = CYAML_LOG_ERROR,
	    .flags = CYAML_CFG_NO_ALIAS,
	};
	cyaml_err_t ce =
	    cyaml_load_data(ld.norm.p, ld.norm.len, &cy, &config_schema, (cyaml_data_t **)&loaded, NULL);
	if (ce != CYAML_OK || (!loaded && ld.n_set)) {
		snprintf(err, errlen, "%s: libcyaml: %s", path, log.msg[0] ? log.msg : cyaml_strerror(ce));
		goto out;
	}
	for (size_t i = 0; i < ld.n_set; i++)
		swap_leaf(c, loaded, &ld.set[i]);
	if (ld.props_set) {
		char **k = c->exporters.kafka.property_keys, **v = c->exporters.kafka.property_values;
		unsigned n = c->exporters.kafka.n_properties;
		c->exporters.kafka.property_keys = ld.pkeys;
		c->exporters.kafka.property_values = ld.pvals;
		c->exporters.kafka.n_properties = ld.n_props;
		ld.pkeys = k, ld.pvals = v, ld.n_props = n;
	}
	rc = IW_OK;
out:
	if (loaded) {
		iw_config_free(loaded);
		free(loaded);
	}
	strv_free(ld.pkeys, ld.n_props);
	strv_free(ld.pvals, ld.n_props);
	free(ld.set);
	free(ld.norm.p);
	free(text.p);
	if (have_emitter)
		yaml_emitter_delete(&ld.em);
	if (have_doc)
		yaml_document_delete(&ld.doc);
	if (have_parser)
		yaml_parser_delete(&ps);
	one_line(err, errlen);
	return rc;
}

/* ---- --set ---- */

static int set_fail(char *err, size_t errlen, const char *key, size_t klen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int set_fail(char *err, size_t errlen, const char *key, size_t klen, const char *fmt, ...)
{
	char why[WHY_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (err && errlen) {
		snprintf(err, errlen, "--set %.*s: %s", klen > INT_MAX ? INT_MAX : (int)klen, key, why);
		one_line(err, errlen);
	}
	return IW_ERR;
}

enum lookup { LK_NONE, LK_SECTION, LK_LEAF, LK_PROP };

/* Finds the dotted key (key, klen) in the schema. For a property of a free-form mapping
 * (exporters.kafka.properties.<name>) *prop points at <name>, which may hold dots. */
static enum lookup lookup(const char *key, size_t klen, struct leaf *lf, const char **prop, size_t *proplen)
{
	const cyaml_schema_field_t *fields = top_fields;
	struct path p = {.len = 0};
	size_t base = 0;
	const char *s = key, *end = key + klen;
	for (;;) {
		const char *dot = memchr(s, '.', (size_t)(end - s));
		size_t n = (size_t)((dot ? dot : end) - s);
		const cyaml_schema_field_t *f = field_named(fields, s, n);
		if (!f)
			return LK_NONE;
		path_push(&p, s, n);
		if (f->value.type == CYAML_MAPPING) {
			if (!dot)
				return LK_SECTION;
			fields = f->value.mapping.fields;
			base += f->data_offset;
			s = dot + 1;
			continue;
		}
		leaf_make(f, base, p.s, lf);
		if (!dot)
			return LK_LEAF;
		if (lf->kind != LEAF_PROPS)
			return LK_NONE;
		*prop = dot + 1;
		*proplen = (size_t)(end - *prop);
		return LK_PROP;
	}
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Splits a comma-separated list into *out (items trimmed of blanks). An all-blank value
 * is the empty list; an empty item is an error (IW_ERR, nothing allocated). */
static int split_list(const char *s, char ***out, unsigned *n)
{
	*out = NULL;
	*n = 0;
	const char *end = s + strlen(s);
	while (s < end && is_blank(*s))
		s++;
	if (s == end)
		return IW_OK;
	for (const char *item = s;;) {
		const char *comma = memchr(item, ',', (size_t)(end - item));
		const char *a = item, *b = comma ? comma : end;
		while (a < b && is_blank(*a))
			a++;
		while (b > a && is_blank(b[-1]))
			b--;
		if (a == b) {
			strv_free(*out, *n);
			*out = NULL;
			*n = 0;
			return IW_ERR;
		}
		*out = iw_realloc(*out, (*n + 1) * sizeof **out);
		(*out)[(*n)++] = xstrndup(a, (size_t)(b - a));
		if (!comma)
			return IW_OK;
		item = comma + 1;
	}
}

static int set_prop(struct iw_config *c, const char *name, size_t nlen, const char *value)
{
	char ***keys = &c->exporters.kafka.property_keys, ***vals = &c->exporters.kafka.property_values;
	unsigned *n = &c->exporters.kafka.n_properties;
	for (unsigned i = 0; i < *n; i++) {
		if (strlen((*keys)[i]) == nlen && memcmp((*keys)[i], name, nlen) == 0) {
			free((*vals)[i]);
			(*vals)[i] = xstrdup(value);
			return IW_OK;
		}
	}
	*keys = iw_realloc(*keys, (*n + 1) * sizeof **keys);
	*vals = iw_realloc(*vals, (*n + 1) * sizeof **vals);
	(*keys)[*n] = xstrndup(name, nlen);
	(*vals)[*n] = xstrdup(value);
	(*n)++;
	return IW_OK;
}

/* IW_OK, or IW_ERR with c untouched and one line in err. The value is copied; lists
 * and properties replace what c held, which is freed. */
int iw_config_set(struct iw_config *c, const char *assignment, char *err, size_t errlen)
{
	const char *eq = strchr(assignment, '=');
	if (!eq)
		return set_fail(err, errlen, assignment, strlen(assignment),
		                "missing '=' (expected KEY=VALUE)");
	const char *key = assignment, *value = eq + 1;
	size_t klen = (size_t)(eq - assignment);
	if (!klen)
		return set_fail(err, errlen, assignment, strlen(assignment), "missing the key before '='");
	if (!utf8_valid(value))
		return set_fail(err, errlen, key, klen, "the value is not valid UTF-8");

	struct leaf lf;
	const char *prop = NULL;
	size_t proplen = 0;
	char why[WHY_MAX];
	uint64_t num = 0;
	switch (lookup(key, klen, &lf, &prop, &proplen)) {
	case LK_NONE:
		return set_fail(err, errlen, key, klen, "unknown key");
	case LK_SECTION:
		return set_fail(err, errlen, key, klen, "is a section; set one of its keys");
	case LK_PROP: {
		char *name = xstrndup(prop, proplen);
		bool ok = *name && utf8_valid(name);
		free(name);
		if (!ok)
			return set_fail(err, errlen, key, klen,
			                "expected exporters.kafka.properties.NAME=VALUE");
		return set_prop(c, prop, proplen, value);
	}
	case LK_LEAF:
		break;
	}
	switch (lf.kind) {
	case LEAF_PROPS:
		if (*value)
			return set_fail(
			    err, errlen, key, klen,
			    "set one property as %.*s.NAME=VALUE, or clear them all with an empty value",
			    (int)klen, key);
		free_leaf(c, NULL, &lf);
		return IW_OK;
	case LEAF_LIST: {
		char **v;
		unsigned n;
		if (split_list(value, &v, &n) != IW_OK)
			return set_fail(err, errlen, key, klen, "an empty item in the list %s",
			                quoted(value, why, sizeof why));
		strv_free(*list_at(c, lf.off), *count_at(c, lf.count_off));
		*list_at(c, lf.off) = v;
		*count_at(c, lf.count_off) = n;
		return IW_OK;
	}
	default:
		break;
	}
	if (lf.kind != LEAF_STR && !*value)
		return set_fail(err, errlen, key, klen, "expected %s, got an empty value",
		                kind_name(lf.kind));
	if (scalar_check(&lf, value, &num, why, sizeof why) != IW_OK)
		return set_fail(err, errlen, key, klen, "%s", why);
	switch (lf.kind) {
	case LEAF_STR:
		free(*str_at(c, lf.off));
		*str_at(c, lf.off) = xstrdup(value);
		break;
	case LEAF_BOOL:
		*bool_at(c, lf.off) = num != 0;
		break;
	default:
		*u64_at(c, lf.off) = num;
		break;
	}
	return IW_OK;
}
