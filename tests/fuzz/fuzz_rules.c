/* fuzz_rules.c - fuzzes every rule of iw_rules[] (rules/<family>.c) the way the sensor drives
 * them: events built from the input, each first told to the device store and then
 * handed to the rules that asked for its kind; packet-time ticks; fleet counts as Redis
 * would report them. Alerts go through the memory store's de-duplication
 * (sensor/store.c) and the real record writer, and each record must parse as JSON.
 *
 * Every string and array of an event is its own exact-size allocation, freed as soon as
 * the event has been dispatched (as the sensor's per-packet scratch is reset): a rule
 * that keeps a pointer into an event instead of a copy, or reads an MQTT string past its
 * length, is a heap use-after-free or overflow under ASan.
 *
 * Input:
 *   | configuration | operation | operation | ...
 *   configuration: six lists (tunnel.endpoints, mqtt.trusted_clients,
 *     mqtt.publish_namespaces, mqtt.subscribe_namespaces, region.allowed,
 *     modbus.allowed_writers), each | count 1 (mod 4) | strings |, then the numbers
 *     (small, so thresholds are crossed), then | start time 4 |
 *   operation: | op 1 | ... |; op mod 8: 0 and 7 mqtt (the kind most rules take), 1 tls,
 *     2 tunnel, 3 modbus, 4 flow: | time step 1 | flow | key | device | endpoint | kind's
 *     fields |; 5 a tick: | seconds 2 |; 6 a fleet count: | set name | count 4 |
 *   string: | length 1 | bytes |, cut at the input's end (the bytes may hold anything)
 * At most MAX_OPS operations per input.
 *
 * Build: the Makefile's fuzz-build compiles each tests/fuzz/fuzz_*.c with FUZZ_LIBSRC;
 * this target needs sensor/store.c and sensor/redis.c in it as well. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "exporters/json.h"
#include "exporters/record.h"
#include "parsers/event.h"
#include "parsers/parser.h"
#include "rules/rule.h"
#include "sensor/store.h"

#define MAX_OPS    400
#define MAX_LIST   3
#define MAX_RULES  32
#define MAX_ALLOCS 256 /* allocations of one event */
#define MAX_TOPICS 6
#define MAX_WRITES 24
#define MAX_VALUES 24
#define MAX_CERTS  2
#define LIMIT      64 /* limits.max_devices: small, so every table evicts */
#define T_BASE     1700000000000000ull

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* ---- reading the input ---- */

struct in {
	const uint8_t *p, *end;
};

static uint8_t u8(struct in *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

static uint16_t u16(struct in *in)
{
	uint16_t hi = u8(in);
	return (uint16_t)(hi << 8 | u8(in));
}

static uint32_t u32(struct in *in)
{
	uint32_t hi = u16(in);
	return hi << 16 | u16(in);
}

static uint64_t u64(struct in *in)
{
	uint64_t hi = u32(in);
	return hi << 32 | u32(in);
}

/* ---- an event's allocations, freed after dispatch ---- */

struct arena {
	void *p[MAX_ALLOCS];
	unsigned n;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	if (a->n == MAX_ALLOCS)
		return NULL;
	void *p = calloc(1, n ? n : 1);
	check(p != NULL);
	a->p[a->n++] = p;
	return p;
}

static void arena_reset(struct arena *a)
{
	for (unsigned i = 0; i < a->n; i++)
		free(a->p[i]);
	a->n = 0;
}

/* A NUL-terminated string of exactly its length plus one byte. Often one of a few
 * fixed values, so that repeats (same client id, same region, same fingerprint) happen. */
static const char *str(struct in *in, struct arena *a, const char *const *common, unsigned n_common)
{
	uint8_t len = u8(in);
	if (len == 0xff)
		return NULL;
	if (len >= 0xf0 && n_common > 0) {
		const char *c = common[(len - 0xf0u) % n_common];
		size_t n = strlen(c);
		char *s = arena_alloc(a, n + 1);
		if (s != NULL)
			memcpy(s, c, n + 1);
		return s;
	}
	size_t avail = (size_t)(in->end - in->p);
	size_t n = len < avail ? len : avail;
	char *s = arena_alloc(a, n + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, in->p, n);
	s[n] = '\0'; /* an embedded NUL just makes it shorter */
	in->p += n;
	return s;
}

/* An MQTT string: pointer and length, no NUL, exactly its length allocated. */
static struct iw_mqtt_str mstr(struct in *in, struct arena *a, const char *const *common, unsigned n_common)
{
	struct iw_mqtt_str m = {NULL, 0};
	const char *s = str(in, a, common, n_common);
	if (s == NULL)
		return m;
	size_t n = strlen(s);
	char *exact = arena_alloc(a, n);
	if (exact == NULL)
		return m;
	memcpy(exact, s, n);
	m.s = exact;
	m.n = (uint32_t)n;
	return m;
}

/* ---- what repeats ---- */

static const char *const ids[] = {"dev-1", "dev-2", "scanner", "ops-1", "", "dev-1/x", "+", "#"};
static const char *const topics[] = {"#",           "+/+", "$SYS/#", "dt/dev-1/t", "$share/g/dt/#",
                                     "cmd/dev-2/#", "a/#", "",       "/",          "dt/+/telemetry"};
static const char *const regions[] = {"ap-south-1", "AP-SOUTH-1", "eu-west-1",
                                      "us-east-1",  "",           "centralindia"};
static const char *const names[] = {"a1-ats.iot.eu-west-1.amazonaws.com", "hub.azure-devices.net",
                                    "data.tunneling.iot.us-east-1.amazonaws.com", "x.example", ""};
static const char *const kinds[] = {
    "aws_secure_tunneling", "azure_device_streams", "ssh", "rdp", "vnc", "configured"};
static const char *const fps[] = {"aa", "bb", "cc", "dd"};
static const char *const users[] = {"fleet", "admin", "dev-2", ""};

static const char *const cfg_common[] = {"*",           "dev-*",     "dt/{client_id}/#", "cmd/{client_id}/#",
                                         "ap-south-1",  "127.0.0.1", "10.0.0.0/8",       "fd00::/8",
                                         "{client_id}", "ops-*"};

/* ---- the engine around the rules ---- */

struct engine {
	const struct iw_rule *rules[MAX_RULES];
	void *st[MAX_RULES];
	unsigned n;
	struct iw_rule_ctx ctx;
	struct iw_store *store;
	struct iw_json json;
	uint64_t now_us;
};

static void check_alert(const struct iw_alert *a)
{
	check(a->rule != NULL && a->rule[0] != '\0');
	check((unsigned)a->severity <= IW_SEV_CRITICAL);
	check(a->n_evidence <= IW_ALERT_MAX_EVIDENCE);
	for (unsigned i = 0; i < a->n_evidence; i++) {
		const struct iw_kv *kv = &a->evidence[i];
		check(kv->key != NULL);
		check((unsigned)kv->type <= IW_KV_TIMES);
		if ((kv->type == IW_KV_STRS || kv->type == IW_KV_TIMES) && kv->v.list.n > 0)
			check(kv->v.list.p != NULL);
	}
}

static bool eng_alerted(struct iw_rule_ctx *ctx, const char *rule, const char *device, const char *subject,
                        uint64_t ts_us)
{
	struct engine *e = ctx->arg;
	return iw_store_alerted(e->store, rule, device, subject, ts_us);
}

static void eng_raise(struct iw_rule_ctx *ctx, const struct iw_alert *a, const char *subject)
{
	struct engine *e = ctx->arg;
	check_alert(a);
	if (iw_store_claim(e->store, a->rule, a->device.id, subject, a->ts_us, 0) == IW_CLAIM_NO)
		return;
	iw_record_alert(&e->json, "fuzz", a);
	struct json_tokener *tok = json_tokener_new();
	check(tok != NULL);
	json_object *o = json_tokener_parse_ex(tok, e->json.buf, (int)e->json.len);
	check(o != NULL &&
	      json_tokener_get_error(tok) == json_tokener_success); /* a record that does not parse */
	json_object_put(o);
	json_tokener_free(tok);
}

static void eng_notify(void *arg, const char *name, uint64_t count, uint64_t now_us)
{
	struct engine *e = arg;
	for (unsigned i = 0; i < e->n; i++)
		if (e->rules[i]->on_count)
			e->rules[i]->on_count(e->st[i], &e->ctx, name, count, now_us);
}

/* As the sensor's dispatch: the device record first, then the rules that want the kind. */
static void eng_dispatch(struct engine *e, const struct iw_event *ev)
{
	if (ev->device.id != NULL) {
		struct iw_dev_seen d = {.dev = &ev->device, .ts_us = ev->ts_us, .proto = 1u << ev->kind};
		if (ev->endpoint)
			d.region = ev->endpoint->region;
		if (ev->kind == IW_EV_TLS && ev->u.tls.type == IW_TLS_CERTIFICATE && ev->u.tls.n_certs &&
		    ev->u.tls.cert_ok[0]) {
			d.cert_fp = ev->u.tls.certs[0].sha256;
			d.cert_not_after_us = ev->u.tls.certs[0].not_after > 0
			                          ? (uint64_t)ev->u.tls.certs[0].not_after * 1000000
			                          : 0;
		}
		d.tunnel_open = ev->kind == IW_EV_TUNNEL && ev->u.tunnel.type == IW_TUNNEL_OPEN;
		struct iw_state *st = iw_store_state(e->store);
		st->ops->seen(st, &d);
	}
	for (unsigned i = 0; i < e->n; i++)
		if (e->rules[i]->on_event && (e->rules[i]->kinds & (1u << ev->kind)))
			e->rules[i]->on_event(e->st[i], &e->ctx, ev);
}

static void eng_tick(struct engine *e)
{
	iw_store_tick(e->store, e->now_us);
	for (unsigned i = 0; i < e->n; i++)
		if (e->rules[i]->on_tick)
			e->rules[i]->on_tick(e->st[i], &e->ctx, e->now_us);
}

/* ---- the configuration ---- */

struct cfg_store {
	struct iw_rules_cfg c;
	char *lists[6][MAX_LIST];
};

static unsigned read_list(struct in *in, char **out)
{
	unsigned n = u8(in) % (MAX_LIST + 1);
	for (unsigned i = 0; i < n; i++) {
		struct arena tmp = {.n = 0};
		const char *s = str(in, &tmp, cfg_common, sizeof(cfg_common) / sizeof(cfg_common[0]));
		out[i] = strdup(s ? s : "");
		check(out[i] != NULL);
		arena_reset(&tmp);
	}
	return n;
}

static void read_cfg(struct in *in, struct cfg_store *cs)
{
	memset(cs, 0, sizeof(*cs));
	struct iw_rules_cfg *c = &cs->c;
	c->tunnel.endpoints = cs->lists[0];
	c->tunnel.n_endpoints = read_list(in, cs->lists[0]);
	c->mqtt.trusted_clients = cs->lists[1];
	c->mqtt.n_trusted_clients = read_list(in, cs->lists[1]);
	c->mqtt.publish_namespaces = cs->lists[2];
	c->mqtt.n_publish_namespaces = read_list(in, cs->lists[2]);
	c->mqtt.subscribe_namespaces = cs->lists[3];
	c->mqtt.n_subscribe_namespaces = read_list(in, cs->lists[3]);
	c->region.allowed = cs->lists[4];
	c->region.n_allowed = read_list(in, cs->lists[4]);
	c->modbus.allowed_writers = cs->lists[5];
	c->modbus.n_allowed_writers = read_list(in, cs->lists[5]);
	/* seconds and counts; 0 is a value a configuration may hold too */
	c->tunnel.max_duration = u16(in);
	c->tunnel.renewal_max = u8(in) % 8;
	c->tunnel.renewal_window = u16(in);
	c->tunnel.report_interval = u16(in);
	c->mqtt.shared_credentials_max = u8(in) % 8;
	c->cert.expiry_lead = u32(in) % (400 * 86400u);
	c->cert.storm_min_devices = u8(in) % 8;
	c->cert.storm_bucket = u32(in) % (30 * 86400u);
	c->cert.flood_min_devices = u8(in) % 8;
	c->cert.flood_window = u16(in);
}

static void free_cfg(struct cfg_store *cs)
{
	for (unsigned l = 0; l < 6; l++)
		for (unsigned i = 0; i < MAX_LIST; i++)
			free(cs->lists[l][i]);
}

/* ---- events ---- */

static const uint8_t addrs[6][16] = {
    {10, 0, 0, 1}, {10, 0, 0, 2}, {127, 0, 0, 1}, {192, 168, 1, 9}, {0xfd, 0, [15] = 1}, {0xfd, 0, [15] = 2},
};
static const char *const addr_strs[6] = {"10.0.0.1",    "10.0.0.2", "127.0.0.1",
                                         "192.168.1.9", "fd00::1",  "fd00::2"};

/* The common part: time, flow, key, device, endpoint. */
static void common(struct in *in, struct arena *a, struct engine *e, struct iw_event *ev)
{
	uint8_t step = u8(in);
	if (step < 0x80)
		e->now_us += step; /* microseconds */
	else if (step < 0xf0)
		e->now_us += (uint64_t)(step - 0x80) * (step < 0xc0 ? 1000000ull : 3600000000ull);
	else if (step < 0xf8)
		e->now_us -=
		    e->now_us > 1000000 ? (step - 0xef) * 1000000ull : 0; /* a capture out of order */
	else
		e->now_us = u64(in); /* anywhere */
	ev->ts_us = e->now_us;
	ev->flow_id = u8(in) % 16;

	uint8_t k = u8(in);
	struct iw_flow_key *key = arena_alloc(a, sizeof(*key));
	if (key != NULL && k != 0xff) {
		bool v6 = k & 0x80;
		unsigned s = v6 ? 4 + (k & 1) : k % 4, d = v6 ? 4 + ((k >> 1) & 1) : (k >> 2) % 4;
		memcpy(key->src.b, addrs[s], 16);
		memcpy(key->dst.b, addrs[d], 16);
		key->family = v6 ? 6 : 4;
		key->proto = k & 0x40 ? 17 : 6;
		key->sport = u16(in);
		key->dport = u16(in);
		ev->key = key;
		const char *ip = addr_strs[k & 0x20 ? d : s];
		char *copy = arena_alloc(a, strlen(ip) + 1);
		if (copy != NULL)
			memcpy(copy, ip, strlen(ip) + 1);
		ev->device.ip = copy;
	}
	ev->app_proto = k & 0x10 ? "mqtt" : NULL;

	uint8_t dsel = u8(in);
	if (dsel < 0xc0) {
		const char *id = ids[dsel % 8];
		char *copy = arena_alloc(a, strlen(id) + 1);
		if (copy != NULL)
			memcpy(copy, id, strlen(id) + 1);
		ev->device.id = copy;
	} else if (dsel < 0xfe) {
		ev->device.id = str(in, a, NULL, 0);
	} else {
		ev->device.id = ev->device.ip; /* an IP as the id, or NULL */
	}
	ev->device.client_id = dsel & 8 ? ev->device.id : NULL;
	ev->device.cert_cn = dsel & 16 ? str(in, a, ids, 8) : NULL;

	if (u8(in) & 1) {
		struct iw_endpoint *ep = arena_alloc(a, sizeof(*ep));
		if (ep != NULL) {
			ep->name = str(in, a, names, 5);
			ep->name_source = "sni";
			ep->region = str(in, a, regions, 6);
			ep->provider = str(in, a, NULL, 0);
			ep->region_source = u8(in) & 1 ? "dns" : "ip_range";
			ep->service = str(in, a, NULL, 0);
			ev->endpoint = ep;
		}
	}
}

static void ev_mqtt(struct in *in, struct arena *a, struct iw_event *ev)
{
	struct iw_ev_mqtt *m = &ev->u.mqtt;
	ev->kind = IW_EV_MQTT;
	m->msgtype = u8(in) % 16;
	static const char *const types[16] = {
	    "reserved",  "connect", "connack",     "publish",  "puback",  "pubrec",   "pubrel",     "pubcomp",
	    "subscribe", "suback",  "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"};
	m->type = types[m->msgtype];
	uint8_t f = u8(in);
	m->dir = f & 1;
	m->websocket = f & 2;
	m->protocol_version = f & 4 ? 5 : 4;
	m->malformed = f & 8 ? "mqtt.fuzz" : NULL;
	m->has_username = f & 16;
	m->password_present = f & 32;
	m->clean_session = f & 64;
	m->client_id = mstr(in, a, ids, 8);
	m->username = mstr(in, a, users, 4);
	m->topic = mstr(in, a, topics, 10);
	m->qos = u8(in) % 4;
	m->retain = f & 128;
	m->has_code = u8(in) & 1;
	m->code = u8(in);
	m->reason = m->has_code ? "fuzz" : NULL;
	m->session_present = m->code & 1;
	m->has_message_id = true;
	m->message_id = u16(in);
	uint32_t n = u8(in) % (MAX_TOPICS + 1);
	struct iw_mqtt_topic *t = n ? arena_alloc(a, n * sizeof(*t)) : NULL;
	if (t != NULL) {
		for (uint32_t i = 0; i < n; i++) {
			t[i].filter = mstr(in, a, topics, 10);
			t[i].qos = u8(in) % 4;
		}
		m->topics = t;
		m->n_topics = n;
		m->topics_truncated = u8(in) % 2;
	}
	n = u8(in) % (MAX_TOPICS + 1);
	struct iw_mqtt_code *c = n ? arena_alloc(a, n * sizeof(*c)) : NULL;
	if (c != NULL) {
		for (uint32_t i = 0; i < n; i++) {
			c[i].code = u8(in);
			c[i].reason = "fuzz";
		}
		m->codes = c;
		m->n_codes = n;
	}
}

static void ev_tls(struct in *in, struct arena *a, struct iw_event *ev)
{
	struct iw_ev_tls *t = &ev->u.tls;
	ev->kind = IW_EV_TLS;
	t->type = (enum iw_tls_type)(u8(in) % IW_TLS__TYPES);
	uint8_t f = u8(in);
	t->dir = f & 1;
	t->version = f & 2 ? 0x0304 : 0x0303;
	t->sni = str(in, a, names, 5);
	t->alpn = f & 4 ? "mqtt" : NULL;
	t->ja3_hash = f & 8 ? "0123456789abcdef0123456789abcdef" : NULL;
	t->encrypted = f & 16;
	t->level = u8(in) % 3;
	t->description = u8(in);
	t->alert_seen = f & 32;
	static const char *const failures[] = {"no_server_hello", "alert", "no_application_data"};
	t->failure = failures[u8(in) % 3];
	t->records[0] = u8(in);
	t->records[1] = u8(in);
	t->start_us = ev->ts_us - (ev->ts_us > 1000000 ? 1000000 : 0);
	t->end_us = ev->ts_us;
	uint8_t n = u8(in) % (MAX_CERTS + 1);
	struct iw_x509 *certs = n ? arena_alloc(a, n * sizeof(*certs)) : NULL;
	bool *ok = n ? arena_alloc(a, n * sizeof(*ok)) : NULL;
	if (certs == NULL || ok == NULL)
		return;
	for (uint8_t i = 0; i < n; i++) {
		struct iw_x509 *x = &certs[i];
		ok[i] = !(u8(in) & 0x80);
		const char *fp = str(in, a, fps, 4);
		snprintf(x->sha256, sizeof(x->sha256), "%s", fp ? fp : "");
		x->subject = str(in, a, ids, 8);
		x->subject_cn = x->subject;
		x->issuer = str(in, a, NULL, 0);
		x->issuer_cn = x->issuer;
		x->serial = f & 64 ? "0A1B" : NULL;
		/* around the start time, either side, or anywhere */
		uint8_t sel = u8(in);
		int64_t base = (int64_t)(T_BASE / 1000000);
		x->not_after = sel < 0x80   ? base + (int64_t)(u32(in) % (800 * 86400u)) - 400 * 86400
		               : sel < 0xf0 ? base + (int64_t)u16(in) * 86400
		                            : (int64_t)u64(in);
		x->not_before = x->not_after - 365 * 86400;
	}
	t->certs = certs;
	t->cert_ok = ok;
	t->n_certs = n;
}

static void ev_tunnel(struct in *in, struct arena *a, struct iw_event *ev)
{
	struct iw_ev_tunnel *t = &ev->u.tunnel;
	ev->kind = IW_EV_TUNNEL;
	t->type = (enum iw_tunnel_type)(u8(in) % IW_TUNNEL__TYPES);
	t->kind = str(in, a, kinds, 6);
	t->duration_us = (uint64_t)u32(in) * 1000;
	t->start_us = ev->ts_us > t->duration_us ? ev->ts_us - t->duration_us : 0;
	t->bytes_toserver = u32(in);
	t->bytes_toclient = u32(in);
	t->pkts_toserver = u16(in);
	t->pkts_toclient = u16(in);
	t->reason = u8(in) % IW_END__COUNT;
}

static void ev_flow(struct in *in, struct iw_event *ev)
{
	struct iw_ev_flow *f = &ev->u.flow;
	ev->kind = IW_EV_FLOW;
	f->reason = (enum iw_flow_end)(u8(in) % IW_END__COUNT);
	f->end_us = ev->ts_us;
	uint64_t age = (uint64_t)u32(in) * 1000;
	f->start_us = f->end_us > age ? f->end_us - age : 0;
	f->bytes_toserver = u32(in);
	f->bytes_toclient = u32(in);
	f->pkts_toserver = u16(in);
	f->pkts_toclient = u16(in);
	f->tcp_flags_ts = u8(in);
	f->tcp_flags_tc = u8(in);
}

static void ev_modbus(struct in *in, struct arena *a, struct iw_event *ev)
{
	struct iw_ev_modbus *m = &ev->u.modbus;
	ev->kind = IW_EV_MODBUS;
	uint8_t f = u8(in);
	m->type = (enum iw_modbus_type)(f % 3);
	m->malformed = f & 4 ? "length" : NULL;
	m->unit_id = u8(in);
	static const uint8_t fcs[] = {1, 3, 5, 6, 15, 16, 22, 23, 2, 4, 8, 43};
	uint8_t fs = u8(in);
	m->function = fs < 0xc0 ? fcs[fs % sizeof(fcs)] : (uint8_t)(fs & 0x7f);
	m->function_name = f & 8 ? NULL : "fuzz_function";
	m->has_address = m->has_quantity = true;
	m->address = u16(in);
	m->quantity = u16(in);
	m->has_write_range = m->function == 23;
	m->write_address = u16(in);
	m->write_quantity = u16(in);
	m->has_masks = m->function == 22;
	m->and_mask = u16(in);
	m->or_mask = u16(in);
	m->has_request = f & 16;
	m->req_function = f & 32 ? m->function : u8(in);
	m->req_has_address = m->req_has_quantity = f & 64;
	m->req_address = u16(in);
	m->req_quantity = u16(in);
	m->exception_code = u8(in);
	uint16_t n = u8(in) % (MAX_WRITES + 1);
	struct iw_modbus_write *w = n ? arena_alloc(a, n * sizeof(*w)) : NULL;
	if (w != NULL) {
		for (uint16_t i = 0; i < n; i++) {
			w[i].address = (uint16_t)(m->address + i);
			w[i].new_value = u16(in);
			w[i].old_value = u16(in);
			w[i].has_old = w[i].old_value & 1;
		}
		m->writes = w;
		m->n_writes = n;
		m->writes_total = (uint16_t)(n + (f & 128 ? 1000 : 0));
	}
	n = u8(in) % (MAX_VALUES + 1);
	uint16_t *v = n ? arena_alloc(a, n * sizeof(*v)) : NULL;
	uint8_t *c = n ? arena_alloc(a, n) : NULL;
	if (v != NULL && c != NULL) {
		for (uint16_t i = 0; i < n; i++) {
			v[i] = u16(in);
			c[i] = v[i] & 1;
		}
		m->values = v;
		m->n_values = m->values_total = n;
		m->coils = c;
		m->n_coils = m->coils_total = n;
	}
}

static void fleet_count(struct in *in, struct arena *a, struct engine *e)
{
	static const char *const forms[] = {"user:%s:clients", "certexp:%s", "dev:%s:tunnels", "%s"};
	const char *form = forms[u8(in) % 4];
	const char *v = str(in, a, users, 4);
	char name[300];
	snprintf(name, sizeof(name), form, v ? v : "");
	uint32_t count = u32(in);
	struct iw_state *st = iw_store_state(e->store);
	if (st->notify)
		st->notify(st->notify_arg, name, count, e->now_us);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, data + size};
	struct cfg_store cs;
	read_cfg(&in, &cs);

	struct engine e;
	memset(&e, 0, sizeof(e));
	struct iw_store_cfg sc = {.max_devices = LIMIT, .ttl_s = 7 * 86400};
	e.store = iw_store_new(&sc);
	struct iw_state *state = iw_store_state(e.store);
	state->notify = eng_notify;
	state->notify_arg = &e;
	e.ctx = (struct iw_rule_ctx){.cfg = &cs.c,
	                             .state = state,
	                             .max_entries = LIMIT,
	                             .raise = eng_raise,
	                             .alerted = eng_alerted,
	                             .arg = &e};
	iw_json_init(&e.json);
	for (const struct iw_rule *const *r = iw_rules; *r != NULL && e.n < MAX_RULES; r++) {
		e.rules[e.n] = *r;
		e.st[e.n] = (*r)->state_new ? (*r)->state_new(&cs.c) : NULL;
		e.n++;
	}
	e.now_us = T_BASE + (uint64_t)u32(&in) * 1000;

	struct arena a = {.n = 0};
	for (unsigned ops = 0; in.p < in.end && ops < MAX_OPS; ops++) {
		uint8_t op = u8(&in) % 8;
		if (op == 5) {
			e.now_us += (uint64_t)u16(&in) * 1000000;
			eng_tick(&e);
			continue;
		}
		if (op == 6) {
			fleet_count(&in, &a, &e);
			arena_reset(&a);
			continue;
		}
		struct iw_event ev;
		memset(&ev, 0, sizeof(ev));
		common(&in, &a, &e, &ev);
		switch (op) {
		case 0:
		case 7:
			ev_mqtt(&in, &a, &ev);
			break;
		case 1:
			ev_tls(&in, &a, &ev);
			break;
		case 2:
			ev_tunnel(&in, &a, &ev);
			break;
		case 3:
			ev_modbus(&in, &a, &ev);
			break;
		default:
			ev_flow(&in, &ev);
			break;
		}
		eng_dispatch(&e, &ev);
		arena_reset(&a); /* the event's strings die with it */
	}

	/* the end: a last tick a day on, then everything freed */
	e.now_us += 86400000000ull;
	eng_tick(&e);
	for (unsigned i = 0; i < e.n; i++)
		if (e.rules[i]->state_free)
			e.rules[i]->state_free(e.st[i]);
	iw_json_free(&e.json);
	iw_store_free(e.store);
	free_cfg(&cs);
	return 0;
}
