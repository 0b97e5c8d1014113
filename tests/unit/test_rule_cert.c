/* test_rule_cert.c - the certificate rules (rules/cert.c, docs/rules.md "tls.*"):
 * tls.cert_expiring, tls.shared_certificate and both kinds of tls.cert_expiry_storm,
 * driven with hand-built events on packet time through the real memory store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parsers/parser.h"
#include "rule_harness.h"

extern const struct iw_rule iw_rule_cert;

#define S      1000000ull
#define HOUR_S 3600ll
#define DAY_S  86400ll
#define T0_S   1767225600ll /* 2026-01-01T00:00:00Z */
#define T0     ((uint64_t)T0_S * S)
#define MAR1_S 1772323200ll /* 2026-03-01T00:00:00Z */

/* ---- building events ---- */

/* A client certificate with a fingerprint made from n. */
struct cert {
	struct iw_x509 x;
	bool ok;
};

static void mk_cert(struct cert *c, unsigned n, int64_t not_after)
{
	memset(c, 0, sizeof(*c));
	c->x.subject = "CN=dev-1,O=Acme";
	c->x.subject_cn = "dev-1";
	c->x.issuer = "CN=Acme Device CA,O=Acme";
	c->x.issuer_cn = "Acme Device CA";
	c->x.serial = "0A1B2C";
	c->x.not_before = T0_S - 365 * DAY_S;
	c->x.not_after = not_after;
	snprintf(c->x.sha256, sizeof(c->x.sha256), "%064x", n);
	c->ok = true;
}

/* Storage for one event: its key and device strings live here. */
struct evb {
	struct iw_event ev;
	struct iw_flow_key key;
	char id[64], ip[32];
};

static struct iw_event *base(struct evb *b, enum iw_event_kind kind, uint64_t ts, unsigned dev)
{
	memset(b, 0, sizeof(*b));
	b->key.family = 4;
	b->key.proto = 6;
	b->key.src.b[0] = 10;
	b->key.src.b[2] = (uint8_t)(dev >> 8);
	b->key.src.b[3] = (uint8_t)dev;
	b->key.dst.b[0] = 203;
	b->key.dst.b[1] = 0;
	b->key.dst.b[2] = 113;
	b->key.dst.b[3] = 10;
	b->key.sport = 40000;
	b->key.dport = 8883;
	snprintf(b->id, sizeof(b->id), "dev-%u", dev);
	snprintf(b->ip, sizeof(b->ip), "10.0.%u.%u", dev >> 8 & 255, dev & 255);
	b->ev.kind = kind;
	b->ev.ts_us = ts;
	b->ev.flow_id = 1000 + dev;
	b->ev.key = &b->key;
	b->ev.device.id = b->id;
	b->ev.device.ip = b->ip;
	return &b->ev;
}

/* The client presents c (mutual TLS). */
static struct iw_event *cert_ev(struct evb *b, uint64_t ts, unsigned dev, const struct cert *c)
{
	struct iw_event *ev = base(b, IW_EV_TLS, ts, dev);
	ev->u.tls.type = IW_TLS_CERTIFICATE;
	ev->u.tls.dir = IW_DIR_TOSERVER;
	ev->u.tls.version = 0x0303;
	ev->u.tls.certs = &c->x;
	ev->u.tls.cert_ok = &c->ok;
	ev->u.tls.n_certs = 1;
	return ev;
}

static struct iw_event *alert_ev(struct evb *b, uint64_t ts, unsigned dev, uint8_t description, uint8_t dir)
{
	struct iw_event *ev = base(b, IW_EV_TLS, ts, dev);
	ev->u.tls.type = IW_TLS_ALERT;
	ev->u.tls.dir = dir;
	ev->u.tls.level = 2;
	ev->u.tls.description = description;
	return ev;
}

static struct iw_event *hsfail_ev(struct evb *b, uint64_t ts, unsigned dev, const char *failure)
{
	struct iw_event *ev = base(b, IW_EV_TLS, ts, dev);
	ev->u.tls.type = IW_TLS_HANDSHAKE_FAILED;
	ev->u.tls.failure = failure;
	return ev;
}

static struct iw_event *connack_ev(struct evb *b, uint64_t ts, unsigned dev, uint8_t version, uint8_t code,
                                   const char *reason)
{
	struct iw_event *ev = base(b, IW_EV_MQTT, ts, dev);
	ev->u.mqtt.type = "connack";
	ev->u.mqtt.msgtype = IW_MQTT_CONNACK;
	ev->u.mqtt.dir = IW_DIR_TOCLIENT;
	ev->u.mqtt.protocol_version = version;
	ev->u.mqtt.has_code = true;
	ev->u.mqtt.code = code;
	ev->u.mqtt.reason = reason;
	return ev;
}

/* Alert i of rule id, or fails. */
static const char *alert_of(struct rh *h, unsigned i, const char *rule)
{
	assert_true(i < rh_n(h));
	assert_string_equal(rh_rule(h, i), rule);
	return rh_json(h, i);
}

/* How many alerts of rule id were raised. */
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

#define STORM    "tls.cert_expiry_storm"
#define EXPIRING "tls.cert_expiring"

/* How many strings the JSON array named key holds. */
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
		if (*p == '\\' && in && p[1])
			p++;
		else if (*p == '"')
			in = !in;
		else if (*p == ',' && !in)
			n++;
	}
	return n;
}

static struct rh *harness(void)
{
	struct iw_rules_cfg cfg = rh_defaults();
	return rh_new(&cfg, &iw_rule_cert);
}

/* ---- tls.cert_expiring ---- */

static void test_expiring_within_lead(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct cert c;
	struct evb b;
	mk_cert(&c, 1, T0_S + 89 * DAY_S + 10);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	assert_int_equal(rh_n(h), 1);
	const char *j = alert_of(h, 0, "tls.cert_expiring");
	assert_non_null(strstr(j, "\"severity\":\"medium\""));
	assert_non_null(strstr(j, "\"category\":\"certificate\""));
	assert_non_null(strstr(j, "\"days_left\":89"));
	assert_non_null(strstr(j, "\"expired\":false"));
	assert_non_null(strstr(
	    j, "\"fingerprint\":\"0000000000000000000000000000000000000000000000000000000000000001\""));
	assert_non_null(strstr(j, "\"subject\":\"CN=dev-1,O=Acme\""));
	assert_non_null(strstr(j, "\"issuer\":\"CN=Acme Device CA,O=Acme\""));
	assert_non_null(strstr(j, "\"serial\":\"0A1B2C\""));
	assert_non_null(strstr(j, "\"not_after\":\"2026-03-31T00:00:10.000000Z\""));
	assert_non_null(
	    strstr(j, "\"message\":\"client certificate dev-1 expires on 2026-03-31, in 89 days\""));
	/* a fleet alert: the record's device is the event's */
	assert_non_null(strstr(j, "\"id\":\"dev-1\""));
	assert_non_null(strstr(j, "\"src_ip\":\"10.0.0.1\""));
	rh_free(h);
}

static void test_expiring_lead_boundary(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct cert at, past;
	struct evb b;
	mk_cert(&at, 1, T0_S + 90 * DAY_S);       /* exactly expiry_lead away: in */
	mk_cert(&past, 2, T0_S + 90 * DAY_S + 1); /* a second more: out */
	rh_event(h, cert_ev(&b, T0, 1, &past));
	assert_int_equal(rh_n(h), 0);
	rh_event(h, cert_ev(&b, T0, 1, &at));
	assert_int_equal(rh_n(h), 1);
	assert_true(rh_has(h, 0, "\"days_left\":90"));
	rh_free(h);
}

static void test_expiring_expired(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct cert c;
	struct evb b;
	/* an hour past notAfter is day -1, not 0 */
	mk_cert(&c, 1, T0_S - HOUR_S);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	const char *j = alert_of(h, 0, "tls.cert_expiring");
	assert_non_null(strstr(j, "\"severity\":\"high\""));
	assert_non_null(strstr(j, "\"days_left\":-1"));
	assert_non_null(strstr(j, "\"expired\":true"));
	assert_non_null(strstr(j, "expired on 2025-12-31"));

	/* at notAfter to the microsecond it is still valid: 0 days left, medium */
	mk_cert(&c, 2, T0_S);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	j = alert_of(h, 1, "tls.cert_expiring");
	assert_non_null(strstr(j, "\"severity\":\"medium\""));
	assert_non_null(strstr(j, "\"days_left\":0"));
	assert_non_null(strstr(j, "\"expired\":false"));

	/* a microsecond later it has expired */
	mk_cert(&c, 3, T0_S);
	rh_event(h, cert_ev(&b, T0 + 1, 1, &c));
	j = alert_of(h, 2, "tls.cert_expiring");
	assert_non_null(strstr(j, "\"days_left\":-1"));
	assert_non_null(strstr(j, "\"expired\":true"));

	/* exactly 2 days past: -2 */
	mk_cert(&c, 4, T0_S - 2 * DAY_S);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	assert_true(rh_has(h, 3, "\"days_left\":-2"));
	rh_free(h);
}

static void test_expiring_not_a_client_certificate(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct cert c;
	struct evb b;
	mk_cert(&c, 1, T0_S + DAY_S);
	/* the server's certificate */
	struct iw_event *ev = cert_ev(&b, T0, 1, &c);
	ev->u.tls.dir = IW_DIR_TOCLIENT;
	rh_event(h, ev);
	/* not decoded: no notAfter to judge */
	c.ok = false;
	rh_event(h, cert_ev(&b, T0, 1, &c));
	c.ok = true;
	/* an empty chain, a chain without its arrays */
	ev = cert_ev(&b, T0, 1, &c);
	ev->u.tls.n_certs = 0;
	rh_event(h, ev);
	ev = cert_ev(&b, T0, 1, &c);
	ev->u.tls.certs = NULL;
	rh_event(h, ev);
	ev = cert_ev(&b, T0, 1, &c);
	ev->u.tls.cert_ok = NULL;
	rh_event(h, ev);
	/* other TLS messages */
	ev = cert_ev(&b, T0, 1, &c);
	ev->u.tls.type = IW_TLS_CLIENT_HELLO;
	rh_event(h, ev);
	assert_int_equal(rh_n(h), 0);
	rh_free(h);
}

static void test_expiring_once_per_certificate(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct cert c, other;
	struct evb b;
	mk_cert(&c, 1, T0_S + 30 * DAY_S);
	mk_cert(&other, 2, T0_S + 30 * DAY_S);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	rh_event(h, cert_ev(&b, T0 + HOUR_S * S, 1, &c));
	/* another device, the same certificate: still one (and a shared certificate) */
	rh_event(h, cert_ev(&b, T0 + 2 * HOUR_S * S, 7, &c));
	assert_int_equal(n_of(h, EXPIRING), 1);
	assert_int_equal(n_of(h, "tls.shared_certificate"), 1);
	rh_event(h, cert_ev(&b, T0 + 2 * HOUR_S * S, 1, &other));
	assert_int_equal(n_of(h, EXPIRING), 2);
	/* days later, still the one alert per certificate (the daily de-duplication alone
	 * would raise it again every day until the certificate is replaced) */
	rh_event(h, cert_ev(&b, T0 + DAY_S * S, 1, &c));
	rh_event(h, cert_ev(&b, T0 + 20 * DAY_S * S, 1, &c));
	assert_int_equal(n_of(h, EXPIRING), 2);
	assert_non_null(strstr(nth(h, EXPIRING, 1), "\"days_left\":29")); /* 30 d less 2 h */
	rh_free(h);
}

/* ---- tls.shared_certificate ---- */

static void test_shared_two_addresses(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct cert c;
	struct evb b;
	mk_cert(&c, 5, T0_S + 400 * DAY_S);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	rh_event(h, cert_ev(&b, T0 + S, 1, &c)); /* the same address again */
	assert_int_equal(rh_n(h), 0);
	rh_event(h, cert_ev(&b, T0 + 2 * S, 2, &c));
	assert_int_equal(rh_n(h), 1);
	const char *j = alert_of(h, 0, "tls.shared_certificate");
	assert_non_null(strstr(j, "\"severity\":\"high\""));
	assert_non_null(strstr(j, "\"addresses\":[\"10.0.0.1\",\"10.0.0.2\"]"));
	assert_non_null(strstr(j, "\"devices\":2"));
	assert_non_null(strstr(j, "\"subject\":\"CN=dev-1,O=Acme\""));
	assert_non_null(strstr(
	    j, "\"fingerprint\":\"0000000000000000000000000000000000000000000000000000000000000005\""));
	/* a third address the same day: de-duplicated */
	rh_event(h, cert_ev(&b, T0 + 3 * S, 3, &c));
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
}

static void test_shared_window(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct cert c, d;
	struct evb b;
	mk_cert(&c, 5, T0_S + 400 * DAY_S);
	mk_cert(&d, 6, T0_S + 400 * DAY_S);
	/* a day and a microsecond apart: the first address has left the window */
	rh_event(h, cert_ev(&b, T0, 1, &c));
	rh_event(h, cert_ev(&b, T0 + DAY_S * S + 1, 2, &c));
	assert_int_equal(rh_n(h), 0);
	/* exactly a day apart: both in it */
	rh_event(h, cert_ev(&b, T0 + 2 * DAY_S * S, 1, &d));
	rh_event(h, cert_ev(&b, T0 + 3 * DAY_S * S, 2, &d));
	assert_int_equal(rh_n(h), 1);
	assert_string_equal(rh_rule(h, 0), "tls.shared_certificate");
	rh_free(h);
}

static void test_shared_without_device_ip(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct cert c;
	struct evb b;
	mk_cert(&c, 5, T0_S + 400 * DAY_S);
	c.ok = false; /* libcrypto refused it: still recognised by its fingerprint */
	c.x.subject = c.x.subject_cn = NULL;
	struct iw_event *ev = cert_ev(&b, T0, 1, &c);
	ev->device.ip = NULL; /* the client address of the flow stands in */
	rh_event(h, ev);
	ev = cert_ev(&b, T0 + S, 2, &c);
	ev->device.ip = NULL;
	rh_event(h, ev);
	const char *j = alert_of(h, 0, "tls.shared_certificate");
	assert_non_null(strstr(j, "\"addresses\":[\"10.0.0.1\",\"10.0.0.2\"]"));
	assert_null(strstr(j, "\"subject\""));
	/* no address at all: nothing to count */
	mk_cert(&c, 9, T0_S + 400 * DAY_S);
	for (unsigned i = 1; i <= 3; i++) {
		ev = cert_ev(&b, T0 + 2 * S, i, &c);
		ev->device.ip = NULL;
		ev->key = NULL;
		rh_event(h, ev);
	}
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
}

static void test_shared_fleet_count(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct cert c;
	struct evb b;
	char set[96];
	mk_cert(&c, 5, T0_S + 400 * DAY_S);
	snprintf(set, sizeof(set), "cert:%s:addrs", c.x.sha256);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	rh_fleet_count(h, set, 1);
	assert_int_equal(rh_n(h), 0);
	/* another sensor saw it from two more addresses */
	rh_fleet_count(h, set, 3);
	assert_int_equal(rh_n(h), 1);
	const char *j = alert_of(h, 0, "tls.shared_certificate");
	assert_non_null(strstr(j, "\"devices\":3"));
	assert_non_null(strstr(j, "\"addresses\":[\"10.0.0.1\"]"));
	assert_non_null(strstr(j, "\"subject\":\"CN=dev-1,O=Acme\""));
	assert_null(strstr(j, "\"flow_id\"")); /* no event behind it */
	/* and once a day */
	rh_fleet_count(h, set, 4);
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
}

static void test_shared_cn_table_bounded(void **state)
{
	(void)state;
	struct rh *h = harness();
	h->ctx.max_entries = 2;
	struct cert c[3];
	struct evb b;
	for (unsigned i = 0; i < 3; i++) {
		mk_cert(&c[i], 20 + i, T0_S + 400 * DAY_S);
		rh_event(h, cert_ev(&b, T0 + i, 1, &c[i]));
	}
	/* the oldest certificate's CN made room: the fleet alert has no subject */
	char set[96];
	snprintf(set, sizeof(set), "cert:%s:addrs", c[0].x.sha256);
	rh_fleet_count(h, set, 2);
	snprintf(set, sizeof(set), "cert:%s:addrs", c[2].x.sha256);
	rh_fleet_count(h, set, 2);
	assert_int_equal(rh_n(h), 2);
	assert_false(rh_has(h, 0, "\"subject\""));
	assert_true(rh_has(h, 1, "\"subject\":\"CN=dev-1,O=Acme\""));
	rh_free(h);
}

/* ---- tls.cert_expiry_storm, predicted ---- */

/* Device dev presents a certificate of its own expiring at not_after. */
static void present(struct rh *h, uint64_t ts, unsigned dev, int64_t not_after, const char *issuer_cn)
{
	struct cert c;
	struct evb b;
	mk_cert(&c, 100 + dev, not_after);
	if (issuer_cn)
		c.x.issuer_cn = issuer_cn;
	rh_event(h, cert_ev(&b, ts, dev, &c));
}

static void test_predicted_threshold(void **state)
{
	(void)state;
	struct rh *h = harness();
	/* 19 devices across 2026-03-01, one of them twice */
	for (unsigned d = 1; d <= 19; d++)
		present(h, T0 + d * S, d, MAR1_S + d * HOUR_S, NULL);
	present(h, T0 + 20 * S, 5, MAR1_S + 5 * HOUR_S, NULL);
	/* others on the days around it do not count */
	present(h, T0 + 21 * S, 30, MAR1_S - 1, NULL);
	present(h, T0 + 22 * S, 31, MAR1_S + DAY_S, NULL);
	assert_int_equal(n_of(h, STORM), 0);
	/* the 20th device */
	present(h, T0 + 23 * S, 20, MAR1_S + DAY_S - 1, NULL);
	assert_int_equal(n_of(h, STORM), 1);
	const char *j = nth(h, STORM, 0);
	assert_non_null(strstr(j, "\"severity\":\"high\""));
	assert_non_null(strstr(j, "\"kind\":\"predicted\""));
	assert_non_null(strstr(j, "\"date\":\"2026-03-01\""));
	assert_non_null(strstr(j, "\"devices\":20"));
	assert_non_null(strstr(j, "\"issuers\":[\"Acme Device CA\"]"));
	assert_non_null(strstr(j, "\"storm_min_devices\":20"));
	assert_non_null(strstr(j, "\"sample\":[\"dev-1\","));
	assert_int_equal(arr_len(j, "sample"), 16);
	assert_non_null(
	    strstr(j, "\"message\":\"20 devices hold client certificates expiring on 2026-03-01\""));
	/* the 21st: once per bucket a day */
	present(h, T0 + 24 * S, 21, MAR1_S, NULL);
	assert_int_equal(n_of(h, STORM), 1);
	rh_free(h);
}

static void test_predicted_issuers_bounded(void **state)
{
	(void)state;
	struct iw_rules_cfg cfg = rh_defaults();
	cfg.cert.storm_min_devices = 12;
	struct rh *h = rh_new(&cfg, &iw_rule_cert);
	char names[12][32];
	for (unsigned d = 1; d <= 12; d++) {
		snprintf(names[d - 1], sizeof(names[0]), "CA %u", (d - 1) / 1 % 10); /* 10 distinct */
		present(h, T0 + d * S, d, MAR1_S, names[d - 1]);
	}
	const char *j = nth(h, STORM, 0);
	assert_int_equal(arr_len(j, "issuers"), 8);
	assert_non_null(strstr(j, "\"issuers\":[\"CA 0\",\"CA 1\""));
	assert_int_equal(arr_len(j, "sample"), 12);
	rh_free(h);
}

static void test_predicted_long_issuer(void **state)
{
	(void)state;
	struct iw_rules_cfg cfg = rh_defaults();
	cfg.cert.storm_min_devices = 3;
	struct rh *h = rh_new(&cfg, &iw_rule_cert);
	/* 300 two-byte characters: kept cut to whole characters, and known again as one */
	static char issuer[601];
	for (unsigned i = 0; i < 300; i++)
		memcpy(issuer + 2 * i, "\xc3\xa9", 2);
	for (unsigned d = 1; d <= 3; d++)
		present(h, T0 + d * S, d, MAR1_S, issuer);
	const char *j = nth(h, STORM, 0);
	assert_int_equal(arr_len(j, "issuers"), 1);
	char kept[300];
	memcpy(kept, issuer, 254); /* 127 characters: 255 bytes would split the 128th */
	kept[254] = '\0';
	char want[320];
	snprintf(want, sizeof(want), "\"issuers\":[\"%s\"]", kept);
	assert_non_null(strstr(j, want));
	rh_free(h);
}

static void test_predicted_buckets(void **state)
{
	(void)state;
	struct iw_rules_cfg cfg = rh_defaults();
	cfg.cert.storm_min_devices = 2;
	/* a week: buckets start on the epoch's weekday, Thursday */
	cfg.cert.storm_bucket = 7 * DAY_S;
	struct rh *h = rh_new(&cfg, &iw_rule_cert);
	present(h, T0, 1, MAR1_S, NULL);                 /* Sunday 2026-03-01: week from Thu 02-26 */
	present(h, T0 + S, 2, MAR1_S + 4 * DAY_S, NULL); /* Thursday 03-05: the next week */
	assert_int_equal(n_of(h, STORM), 0);
	present(h, T0 + 2 * S, 3, MAR1_S - 3 * DAY_S, NULL); /* Thursday 02-26 */
	assert_int_equal(n_of(h, STORM), 1);
	assert_true(strstr(nth(h, STORM, 0), "\"date\":\"2026-02-26\"") != NULL);
	rh_free(h);

	/* six hours: the label says when in the day */
	cfg.cert.storm_bucket = 6 * HOUR_S;
	h = rh_new(&cfg, &iw_rule_cert);
	present(h, T0, 1, MAR1_S + 7 * HOUR_S, NULL);
	present(h, T0 + S, 2, MAR1_S + 11 * HOUR_S, NULL);
	assert_true(strstr(nth(h, STORM, 0), "\"date\":\"2026-03-01T06:00:00Z\"") != NULL);
	present(h, T0, 3, MAR1_S + 1, NULL);
	present(h, T0 + S, 4, MAR1_S + 2, NULL);
	assert_true(strstr(nth(h, STORM, 1), "\"date\":\"2026-03-01\"") != NULL);
	rh_free(h);

	/* before the epoch, floor not truncation: -1 s is 1969-12-31 */
	cfg.cert.storm_bucket = DAY_S;
	h = rh_new(&cfg, &iw_rule_cert);
	present(h, T0, 1, -1, NULL);
	present(h, T0 + S, 2, -DAY_S, NULL);
	assert_true(strstr(nth(h, STORM, 0), "\"date\":\"1969-12-31\"") != NULL);
	rh_free(h);
}

static void test_predicted_fleet_count(void **state)
{
	(void)state;
	struct rh *h = harness();
	present(h, T0, 1, MAR1_S, "Batch CA");
	rh_fleet_count(h, "certexp:2026-03-01", 19);
	assert_int_equal(n_of(h, STORM), 0);
	rh_fleet_count(h, "certexp:2026-03-01", 25);
	const char *j = nth(h, STORM, 0);
	assert_non_null(strstr(j, "\"devices\":25"));
	assert_non_null(strstr(j, "\"issuers\":[\"Batch CA\"]"));
	assert_non_null(strstr(j, "\"sample\":[\"dev-1\"]"));
	/* a bucket this sensor never saw: still raised, nothing of its own to show */
	rh_fleet_count(h, "certexp:2026-04-01", 30);
	assert_int_equal(n_of(h, STORM), 2);
	assert_true(strstr(nth(h, STORM, 1), "\"issuers\":[]") != NULL);
	assert_true(strstr(nth(h, STORM, 1), "\"sample\":[]") != NULL);
	rh_free(h);
}

/* ---- tls.cert_expiry_storm, reactive ---- */

static void test_reactive_threshold(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	for (unsigned d = 1; d <= 18; d++) {
		rh_event(h, alert_ev(&b, T0 + d * S, d, 45, IW_DIR_TOCLIENT));
		/* the same flow ends without application data: the same device, and the alert
		 * in clear is its reason */
		struct iw_event *ev = hsfail_ev(&b, T0 + d * S + 1, d, "alert");
		ev->u.tls.alert_seen = true;
		ev->u.tls.level = 2;
		ev->u.tls.description = 45;
		rh_event(h, ev);
	}
	/* TLS 1.3: the alert was encrypted, only the failure is known */
	struct iw_event *ev = hsfail_ev(&b, T0 + 19 * S, 19, "alert");
	ev->u.tls.alert_seen = true;
	ev->u.tls.encrypted = true;
	rh_event(h, ev);
	assert_int_equal(rh_n(h), 0);
	rh_event(h, connack_ev(&b, T0 + 30 * S, 20, 4, 5, "not_authorized"));
	assert_int_equal(rh_n(h), 1);
	const char *j = alert_of(h, 0, "tls.cert_expiry_storm");
	assert_non_null(strstr(j, "\"severity\":\"critical\""));
	assert_non_null(strstr(j, "\"kind\":\"reactive\""));
	assert_non_null(strstr(j, "\"devices\":20"));
	assert_non_null(strstr(j, "\"window_s\":60"));
	assert_non_null(strstr(j, "\"flood_min_devices\":20"));
	assert_non_null(
	    strstr(j, "\"reasons\":[\"tls:certificate_expired\",\"tls:alert\",\"mqtt:not_authorized\"]"));
	assert_int_equal(arr_len(j, "sample"), 16);
	/* more failures the same day: de-duplicated */
	rh_event(h, hsfail_ev(&b, T0 + 31 * S, 21, "no_server_hello"));
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
}

static void test_reactive_window(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	/* 19 at T0, the 20th 60 s and a microsecond later: the first have left the window */
	for (unsigned d = 1; d <= 19; d++)
		rh_event(h, alert_ev(&b, T0, d, 48, IW_DIR_TOCLIENT));
	rh_event(h, alert_ev(&b, T0 + 60 * S + 1, 20, 48, IW_DIR_TOCLIENT));
	assert_int_equal(rh_n(h), 0);
	/* 19 more at T1, the 20th exactly 60 s later: in */
	uint64_t t1 = T0 + 3600 * S;
	for (unsigned d = 101; d <= 119; d++)
		rh_event(h, hsfail_ev(&b, t1, d, "no_application_data"));
	rh_event(h, hsfail_ev(&b, t1 + 60 * S, 120, "no_application_data"));
	assert_int_equal(rh_n(h), 1);
	/* the unknown_ca reasons an hour ago are out of the window */
	assert_true(rh_has(h, 0, "\"reasons\":[\"tls:no_application_data\"]"));
	rh_free(h);
}

static void test_reactive_what_counts(void **state)
{
	(void)state;
	struct iw_rules_cfg cfg = rh_defaults();
	cfg.cert.flood_min_devices = 1;
	struct rh *h;
	struct evb b;
	struct iw_event *ev;
	/* every certificate alert, either direction */
	static const uint8_t certs[] = {42, 43, 44, 45, 46, 48, 49, 116};
	for (unsigned i = 0; i < sizeof(certs); i++) {
		h = rh_new(&cfg, &iw_rule_cert);
		rh_event(h, alert_ev(&b, T0, 1, certs[i], i % 2 ? IW_DIR_TOSERVER : IW_DIR_TOCLIENT));
		assert_int_equal(rh_n(h), 1);
		rh_free(h);
	}
	h = rh_new(&cfg, &iw_rule_cert);
	rh_event(h, alert_ev(&b, T0, 1, 116, IW_DIR_TOSERVER));
	assert_true(rh_has(h, 0, "\"reasons\":[\"tls:certificate_required\"]"));
	rh_free(h);

	/* not failures to connect */
	h = rh_new(&cfg, &iw_rule_cert);
	rh_event(h, alert_ev(&b, T0, 1, 40, IW_DIR_TOCLIENT)); /* handshake_failure */
	rh_event(h, alert_ev(&b, T0, 1, 0, IW_DIR_TOCLIENT));  /* close_notify */
	rh_event(h, alert_ev(&b, T0, 1, 41, IW_DIR_TOCLIENT)); /* no_certificate (SSL 3.0) */
	ev = alert_ev(&b, T0, 1, 45, IW_DIR_TOCLIENT);
	ev->u.tls.encrypted = true; /* its content is not known */
	rh_event(h, ev);
	rh_event(h, connack_ev(&b, T0, 1, 4, 0, "accepted"));
	rh_event(h, connack_ev(&b, T0, 1, 5, 0, "success"));
	rh_event(h, connack_ev(&b, T0, 1, 5, 0x10, "no_matching_subscribers"));
	ev = connack_ev(&b, T0, 1, 4, 5, "not_authorized");
	ev->u.mqtt.dir = IW_DIR_TOSERVER;
	rh_event(h, ev);
	ev = connack_ev(&b, T0, 1, 4, 5, "not_authorized");
	ev->u.mqtt.has_code = false; /* skipped: only the fixed header */
	rh_event(h, ev);
	ev = connack_ev(&b, T0, 1, 4, 5, "not_authorized");
	ev->u.mqtt.msgtype = IW_MQTT_SUBACK;
	rh_event(h, ev);
	assert_int_equal(rh_n(h), 0);
	rh_free(h);

	/* refused CONNACKs: 3.1.1 any code but 0, 5.0 from 0x80 */
	h = rh_new(&cfg, &iw_rule_cert);
	rh_event(h, connack_ev(&b, T0, 1, 5, 0x87, "not_authorized"));
	assert_true(rh_has(h, 0, "\"reasons\":[\"mqtt:not_authorized\"]"));
	rh_free(h);
	h = rh_new(&cfg, &iw_rule_cert);
	rh_event(h, connack_ev(&b, T0, 1, 3, 1, "unacceptable_protocol_version"));
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
	h = rh_new(&cfg, &iw_rule_cert);
	rh_event(h, connack_ev(&b, T0, 1, 4, 9, NULL));
	assert_true(rh_has(h, 0, "\"reasons\":[\"mqtt:code_9\"]"));
	rh_free(h);
	h = rh_new(&cfg, &iw_rule_cert);
	rh_event(h, hsfail_ev(&b, T0, 1, NULL));
	assert_true(rh_has(h, 0, "\"reasons\":[\"tls:handshake_failed\"]"));
	rh_free(h);
	/* a handshake that a clear alert of another kind ended still failed: named by it */
	h = rh_new(&cfg, &iw_rule_cert);
	ev = hsfail_ev(&b, T0, 1, "alert");
	ev->u.tls.alert_seen = true;
	ev->u.tls.description = 40;
	rh_event(h, ev);
	assert_true(rh_has(h, 0, "\"reasons\":[\"tls:handshake_failure\"]"));
	rh_free(h);
	/* an alert code nobody named: the failure names it */
	h = rh_new(&cfg, &iw_rule_cert);
	ev = hsfail_ev(&b, T0, 1, "alert");
	ev->u.tls.alert_seen = true;
	ev->u.tls.description = 200;
	rh_event(h, ev);
	assert_true(rh_has(h, 0, "\"reasons\":[\"tls:alert\"]"));
	rh_free(h);
	h = rh_new(&cfg, &iw_rule_cert);
	rh_event(h, hsfail_ev(&b, T0, 1, "no_server_hello"));
	assert_true(rh_has(h, 0, "\"reasons\":[\"tls:no_server_hello\"]"));
	rh_free(h);
}

static void test_reactive_fleet_count(void **state)
{
	(void)state;
	struct rh *h = harness();
	struct evb b;
	rh_event(h, alert_ev(&b, T0, 1, 45, IW_DIR_TOCLIENT));
	rh_fleet_count(h, "fail", 19);
	assert_int_equal(rh_n(h), 0);
	rh_fleet_count(h, "fail", 40);
	const char *j = alert_of(h, 0, "tls.cert_expiry_storm");
	assert_non_null(strstr(j, "\"devices\":40"));
	assert_non_null(strstr(j, "\"sample\":[\"dev-1\"]"));
	assert_non_null(strstr(j, "\"reasons\":[\"tls:certificate_expired\"]"));
	/* later, the fleet count again: this sensor's failures are out of the window */
	rh_tick(h, T0 + DAY_S * S + 120 * S);
	rh_fleet_count(h, "fail", 40);
	assert_int_equal(rh_n(h), 2);
	assert_true(rh_has(h, 1, "\"sample\":[]"));
	assert_true(rh_has(h, 1, "\"reasons\":[]"));
	rh_free(h);
}

static void test_reactive_reasons_bounded(void **state)
{
	(void)state;
	struct iw_rules_cfg cfg = rh_defaults();
	cfg.cert.flood_min_devices = 40;
	struct rh *h = rh_new(&cfg, &iw_rule_cert);
	struct evb b;
	char reasons[40][32];
	for (unsigned d = 1; d <= 40; d++) {
		snprintf(reasons[d - 1], sizeof(reasons[0]), "reason_%u", d);
		rh_event(h, connack_ev(&b, T0 + d, d, 4, 5, reasons[d - 1]));
	}
	const char *j = alert_of(h, 0, "tls.cert_expiry_storm");
	assert_int_equal(arr_len(j, "reasons"), 16);
	assert_non_null(strstr(j, "\"mqtt:reason_40\""));
	assert_null(strstr(j, "\"mqtt:reason_1\""));
	rh_free(h);
}

/* ---- hostile and odd inputs ---- */

static void test_hostile(void **state)
{
	(void)state;
	struct iw_rules_cfg cfg = rh_defaults();
	struct rh *h = rh_new(&cfg, &iw_rule_cert);
	struct cert c;
	struct evb b;
	struct iw_event *ev;

	/* every string of the certificate missing */
	mk_cert(&c, 1, T0_S + DAY_S);
	c.x.subject = c.x.subject_cn = c.x.issuer = c.x.issuer_cn = c.x.serial = NULL;
	rh_event(h, cert_ev(&b, T0, 1, &c));
	assert_int_equal(rh_n(h), 1);
	assert_true(rh_has(
	    h, 0, "client certificate 0000000000000000000000000000000000000000000000000000000000000001"));

	/* no fingerprint: nothing to name it by */
	mk_cert(&c, 2, T0_S + DAY_S);
	c.x.sha256[0] = '\0';
	rh_event(h, cert_ev(&b, T0, 1, &c));
	assert_int_equal(rh_n(h), 1);

	/* notAfter at the ends of int64 */
	mk_cert(&c, 3, INT64_MIN);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	assert_int_equal(rh_n(h), 2);
	assert_true(rh_has(h, 1, "\"expired\":true"));
	assert_true(rh_has(h, 1, "\"not_after\":\"1970-01-01T00:00:00.000000Z\""));
	mk_cert(&c, 4, INT64_MAX);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	assert_int_equal(rh_n(h), 2);

	/* a subject CN far longer than anything kept */
	static char huge[20000];
	memset(huge, 'A', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	mk_cert(&c, 5, T0_S + 400 * DAY_S);
	c.x.subject_cn = huge;
	c.x.issuer_cn = huge;
	rh_event(h, cert_ev(&b, T0, 1, &c));
	rh_event(h, cert_ev(&b, T0, 2, &c));
	assert_int_equal(rh_n(h), 3);
	assert_string_equal(rh_rule(h, 2), "tls.shared_certificate");

	/* a device with neither id nor address */
	ev = alert_ev(&b, T0, 1, 45, IW_DIR_TOCLIENT);
	ev->device.id = NULL;
	ev->device.ip = NULL;
	rh_event(h, ev);
	ev = alert_ev(&b, T0, 1, 45, IW_DIR_TOCLIENT);
	ev->device.id = "";
	ev->device.ip = "";
	rh_event(h, ev);

	/* names the rule never made */
	rh_fleet_count(h, "", 1000);
	rh_fleet_count(h, "cert:", 1000);
	rh_fleet_count(h, "cert::addrs", 1000);
	rh_fleet_count(h, "cert:addrs", 1000);
	rh_fleet_count(h, "certexp:", 1000);
	rh_fleet_count(h, "dev:x:tunnels", 1000);
	static char longname[4096];
	memset(longname, 'f', sizeof(longname) - 1);
	memcpy(longname, "cert:", 5);
	memcpy(longname + sizeof(longname) - 7, ":addrs", 7);
	rh_fleet_count(h, longname, 1000);
	assert_int_equal(rh_n(h), 3);
	rh_fleet_count(h, "fail", 0);
	assert_int_equal(rh_n(h), 3);
	rh_free(h);

	/* huge configuration values */
	cfg.cert.expiry_lead = UINT64_MAX;
	cfg.cert.storm_bucket = UINT64_MAX;
	cfg.cert.flood_window = UINT64_MAX;
	cfg.cert.storm_min_devices = UINT64_MAX;
	cfg.cert.flood_min_devices = UINT64_MAX;
	h = rh_new(&cfg, &iw_rule_cert);
	mk_cert(&c, 1, T0_S + 5000 * DAY_S);
	rh_event(h, cert_ev(&b, UINT64_MAX, 1, &c));
	rh_event(h, alert_ev(&b, UINT64_MAX, 1, 45, IW_DIR_TOCLIENT));
	rh_fleet_count(h, "fail", UINT64_MAX - 1);
	assert_int_equal(rh_n(h), 1);
	assert_string_equal(rh_rule(h, 0), "tls.cert_expiring");
	rh_free(h);

	/* zero configuration values */
	cfg = rh_defaults();
	cfg.cert.expiry_lead = 0;
	cfg.cert.storm_bucket = 0;
	cfg.cert.flood_window = 0;
	h = rh_new(&cfg, &iw_rule_cert);
	mk_cert(&c, 1, T0_S + 1);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	assert_int_equal(rh_n(h), 0);
	mk_cert(&c, 1, T0_S);
	rh_event(h, cert_ev(&b, T0, 1, &c));
	assert_int_equal(rh_n(h), 1);
	rh_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expiring_within_lead),
	    cmocka_unit_test(test_expiring_lead_boundary),
	    cmocka_unit_test(test_expiring_expired),
	    cmocka_unit_test(test_expiring_not_a_client_certificate),
	    cmocka_unit_test(test_expiring_once_per_certificate),
	    cmocka_unit_test(test_shared_two_addresses),
	    cmocka_unit_test(test_shared_window),
	    cmocka_unit_test(test_shared_without_device_ip),
	    cmocka_unit_test(test_shared_fleet_count),
	    cmocka_unit_test(test_shared_cn_table_bounded),
	    cmocka_unit_test(test_predicted_threshold),
	    cmocka_unit_test(test_predicted_issuers_bounded),
	    cmocka_unit_test(test_predicted_long_issuer),
	    cmocka_unit_test(test_predicted_buckets),
	    cmocka_unit_test(test_predicted_fleet_count),
	    cmocka_unit_test(test_reactive_threshold),
	    cmocka_unit_test(test_reactive_window),
	    cmocka_unit_test(test_reactive_what_counts),
	    cmocka_unit_test(test_reactive_fleet_count),
	    cmocka_unit_test(test_reactive_reasons_bounded),
	    cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
