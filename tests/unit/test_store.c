/* test_store.c - the memory state store: device records and their bound, sets and
 * sliding windows, de-duplication by day of packet time, the inventory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../sensor/store.h"

#define S  1000000ull
#define T0 (1795000000ull * S) /* 2026-11-18 */

static struct iw_store *mem(uint64_t max_devices)
{
	struct iw_store_cfg c = {.max_devices = max_devices, .ttl_s = 3600};
	return iw_store_new(&c);
}

static void seen(struct iw_store *st, const char *id, const char *ip, uint64_t ts, uint32_t proto)
{
	struct iw_device d = {.id = id, .ip = ip};
	struct iw_dev_seen s = {.dev = &d, .ts_us = ts, .proto = proto};
	iw_store_state(st)->ops->seen(iw_store_state(st), &s);
}

/* The inventory as one string. */
static char *inventory(struct iw_store *st, uint64_t *n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct iw_json j;
	iw_json_init(&j);
	*n = iw_store_devices(st, &j, f);
	iw_json_free(&j);
	fclose(f);
	return buf;
}

static void test_devices(void **state)
{
	(void)state;
	struct iw_store *st = mem(2);
	seen(st, "dev-b", "10.0.0.2", T0, 1u << IW_EV_MQTT);
	seen(st, "dev-a", "10.0.0.1", T0 + S, 1u << IW_EV_TLS);
	seen(st, "dev-b", "10.0.0.9", T0 + 2 * S, 1u << IW_EV_TLS);
	uint64_t n;
	char *inv = inventory(st, &n);
	assert_int_equal(n, 2);
	/* ordered by id; dev-b moved address and gathered two protocols */
	const char *a = strstr(inv, "\"device\":\"dev-a\""), *b = strstr(inv, "\"device\":\"dev-b\"");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	assert_non_null(strstr(b, "\"ip\":\"10.0.0.9\""));
	assert_non_null(strstr(b, "\"addresses\":[\"10.0.0.9\",\"10.0.0.2\"]"));
	assert_non_null(strstr(b, "\"protocols\":[\"mqtt\",\"tls\"]"));
	assert_non_null(strstr(b, "\"first_seen\":\"2026-11-18T"));
	free(inv);

	/* a third device evicts the least recently seen (dev-a) */
	seen(st, "dev-c", "10.0.0.3", T0 + 3 * S, 1u << IW_EV_MQTT);
	inv = inventory(st, &n);
	assert_int_equal(n, 2);
	assert_null(strstr(inv, "dev-a"));
	assert_non_null(strstr(inv, "dev-c"));
	free(inv);
	struct iw_store_stats ss;
	iw_store_stats(st, &ss);
	assert_int_equal(ss.devices, 2);
	assert_int_equal(ss.devices_evicted, 1);
	assert_false(ss.redis);

	/* addresses: most recent first, four at most, a known one moves to the front */
	for (int k = 0; k < 6; k++) {
		char ip[16];
		snprintf(ip, sizeof(ip), "10.0.1.%d", k);
		seen(st, "dev-c", ip, T0 + (4 + (uint64_t)k) * S, 0);
	}
	seen(st, "dev-c", "10.0.1.3", T0 + 10 * S, 0);
	inv = inventory(st, &n);
	assert_non_null(strstr(inv, "\"addresses\":[\"10.0.1.3\",\"10.0.1.5\",\"10.0.1.4\",\"10.0.1.2\"]"));
	free(inv);

	/* an event without an id changes nothing */
	seen(st, NULL, "10.0.0.4", T0, 0);
	seen(st, "", "10.0.0.4", T0, 0);
	iw_store_stats(st, &ss);
	assert_int_equal(ss.devices, 2);
	iw_store_free(st);
}

/* A device id for i whose hash lands anywhere, so that probe runs form and deletions have
 * entries to move back. */
static void churn_id(char *out, size_t n, unsigned i)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
	x ^= x >> 31;
	snprintf(out, n, "sensor-%016llx", (unsigned long long)x);
}

/* The tables under churn: 5000 devices through a bound of 500, each new one evicting the
 * least recently seen, with lookups of the survivors in between. Every deletion moves
 * entries of a probe run; one left where a lookup cannot reach it would be created again
 * (a 501st record and one eviction too many). */
static void test_table_churn(void **state)
{
	(void)state;
	struct iw_store *st = mem(500);
	char id[32], ip[32];
	for (unsigned i = 0; i < 5000; i++) {
		churn_id(id, sizeof(id), i);
		snprintf(ip, sizeof(ip), "10.0.%u.%u", i / 250, i % 250);
		seen(st, id, ip, T0 + i * S, 1u << IW_EV_MQTT);
		if (i >= 500 && i % 7 == 0) {
			/* a survivor again, at its own last time (not moved in the age order): found,
			 * not created */
			churn_id(id, sizeof(id), i - 400);
			seen(st, id, "10.9.9.9", T0 + (i - 400) * S, 1u << IW_EV_MQTT);
		}
	}
	struct iw_store_stats ss;
	iw_store_stats(st, &ss);
	assert_int_equal(ss.devices, 500);
	/* 5000 created, 500 kept: none created twice */
	assert_int_equal(ss.devices_evicted, 4500);
	/* the newest 500 are all there: seen again they are found, nothing evicted */
	for (unsigned i = 4500; i < 5000; i++) {
		churn_id(id, sizeof(id), i);
		seen(st, id, "10.8.8.8", T0 + 6000 * S, 1u << IW_EV_TLS);
	}
	iw_store_stats(st, &ss);
	assert_int_equal(ss.devices, 500);
	assert_int_equal(ss.devices_evicted, 4500);
	iw_store_free(st);
}

/* A device's client id changing to one with the same 32-bit FNV-1a hash
 * ("dev-ml109vlk" and "dev-xnosy049" both hash to 0x67cf7c5d) is still a change. */
static void test_identity_hash_collision(void **state)
{
	(void)state;
	struct iw_store *st = mem(10);
	const char *ids[] = {"dev-ml109vlk", "dev-xnosy049"};
	for (unsigned i = 0; i < 2; i++) {
		struct iw_device d = {.id = "gw-1", .ip = "10.0.0.1", .client_id = ids[i]};
		struct iw_dev_seen s = {.dev = &d, .ts_us = T0 + i * S, .proto = 1u << IW_EV_MQTT};
		iw_store_state(st)->ops->seen(iw_store_state(st), &s);
	}
	uint64_t n;
	char *inv = inventory(st, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(inv, "\"client_id\":\"dev-xnosy049\""));
	free(inv);
	iw_store_free(st);
}

/* Ids of 31, 32 and 200 bytes (held in the record, and after it): each found again, not
 * made twice, and written whole. */
static void test_id_lengths(void **state)
{
	(void)state;
	struct iw_store *st = mem(10);
	char ids[3][201];
	size_t lens[3] = {31, 32, 200};
	for (unsigned i = 0; i < 3; i++) {
		memset(ids[i], 'a' + i, lens[i]);
		ids[i][lens[i]] = '\0';
	}
	for (unsigned round = 0; round < 2; round++)
		for (unsigned i = 0; i < 3; i++)
			seen(st, ids[i], "10.0.0.1", T0 + (round * 3 + i) * S, 1u << IW_EV_MQTT);
	struct iw_store_stats ss;
	iw_store_stats(st, &ss);
	assert_int_equal(ss.devices, 3);
	uint64_t n;
	char *inv = inventory(st, &n);
	assert_int_equal(n, 3);
	for (unsigned i = 0; i < 3; i++) {
		char want[640];
		snprintf(want, sizeof(want), "\"device\":\"%s\"", ids[i]);
		assert_non_null(strstr(inv, want));
	}
	free(inv);
	iw_store_free(st);
}

static void test_sets(void **state)
{
	(void)state;
	struct iw_store *st = mem(100);
	struct iw_state *s = iw_store_state(st);
	assert_int_equal(s->ops->set_add(s, "user:u:clients", "c1", T0, 0, 0), 1);
	assert_int_equal(s->ops->set_add(s, "user:u:clients", "c2", T0 + S, 0, 0), 2);
	assert_int_equal(s->ops->set_add(s, "user:u:clients", "c1", T0 + 2 * S, 0, 0), 2); /* again */
	assert_int_equal(s->ops->set_add(s, "user:v:clients", "c1", T0, 0, 0), 1);
	struct iw_set_member m[4];
	assert_int_equal(s->ops->set_members(s, "user:u:clients", m, 4), 2);
	assert_string_equal(m[0].member, "c2"); /* c1 was re-added later: oldest first */
	assert_string_equal(m[1].member, "c1");
	assert_int_equal(m[1].ts_us, T0 + 2 * S);
	assert_int_equal(s->ops->set_members(s, "nothing", m, 4), 0);
	assert_int_equal(s->ops->set_members(s, "user:u:clients", m, 1), 1);

	/* a 60 s window: members older than a minute leave before the count */
	assert_int_equal(s->ops->set_add(s, "fail", "d1", T0, 60 * S, 0), 1);
	assert_int_equal(s->ops->set_add(s, "fail", "d2", T0 + 30 * S, 60 * S, 0), 2);
	assert_int_equal(s->ops->set_add(s, "fail", "d3", T0 + 60 * S, 60 * S, 0), 3);  /* d1 exactly 60 s */
	assert_int_equal(s->ops->set_add(s, "fail", "d4", T0 + 61 * S, 60 * S, 0), 3);  /* d1 gone */
	assert_int_equal(s->ops->set_add(s, "fail", "d2", T0 + 100 * S, 60 * S, 0), 3); /* d2 refreshed */
	assert_int_equal(s->ops->set_add(s, "fail", "d5", T0 + 125 * S, 60 * S, 0), 2); /* d3 d4 gone */

	/* idle sets expire after their TTL of packet time */
	iw_store_tick(st, T0 + 3600 * S + 3 * S);
	assert_int_equal(s->ops->set_members(s, "user:u:clients", m, 4), 0);
	assert_int_equal(s->ops->set_members(s, "fail", m, 4), 2);
	assert_int_equal(s->ops->set_add(s, "user:u:clients", "c9", T0 + 3700 * S, 0, 0), 1);
	iw_store_free(st);
}

static void test_set_bound(void **state)
{
	(void)state;
	struct iw_store *st = mem(1); /* members bounded by 4 x 1 + 1024 */
	struct iw_state *s = iw_store_state(st);
	char m[16];
	uint64_t n = 0;
	for (int i = 0; i < 2000; i++) {
		snprintf(m, sizeof(m), "m%d", i);
		n = s->ops->set_add(s, "big", m, T0, 0, 0);
	}
	assert_int_equal(n, 1028);
	struct iw_store_stats ss;
	iw_store_stats(st, &ss);
	assert_int_equal(ss.members, 1028);
	assert_int_equal(ss.members_dropped, 2000 - 1028);
	/* long names and members */
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(s->ops->set_add(s, big, big, T0, 0, 0), 0); /* full: dropped */
	iw_store_free(st);
}

static void test_claims(void **state)
{
	(void)state;
	struct iw_store *st = mem(100);
	assert_int_equal(iw_store_claim(st, "mqtt.wildcard_subscribe", "dev-1", "#", T0, 0), IW_CLAIM_YES);
	assert_int_equal(iw_store_claim(st, "mqtt.wildcard_subscribe", "dev-1", "#", T0 + 3600 * S, 0),
	                 IW_CLAIM_NO);
	assert_int_equal(iw_store_claim(st, "mqtt.wildcard_subscribe", "dev-1", "+", T0, 0), IW_CLAIM_YES);
	assert_int_equal(iw_store_claim(st, "mqtt.topic_violation", "dev-1", "#", T0, 0), IW_CLAIM_YES);
	/* a day later: again, then quiet for another day */
	assert_int_equal(iw_store_claim(st, "mqtt.wildcard_subscribe", "dev-1", "#", T0 + 86400 * S, 0),
	                 IW_CLAIM_YES);
	assert_int_equal(iw_store_claim(st, "mqtt.wildcard_subscribe", "dev-1", "#", T0 + 86401 * S, 0),
	                 IW_CLAIM_NO);
	/* ticks forget keys older than a day */
	iw_store_tick(st, T0 + 86400 * S + 1);
	struct iw_store_stats ss;
	iw_store_stats(st, &ss);
	assert_int_equal(ss.alert_keys, 1);
	assert_int_equal(iw_store_claim(st, "r", NULL, NULL, T0, 0), IW_CLAIM_YES);
	/* alerted asks without claiming */
	assert_true(iw_store_alerted(st, "r", NULL, NULL, T0 + 1));
	assert_false(iw_store_alerted(st, "r", "dev-1", NULL, T0 + 1));
	assert_false(iw_store_alerted(st, "r", "dev-1", NULL, T0 + 1));
	assert_false(iw_store_alerted(st, "r", NULL, NULL, T0 + 86400 * S));

	/* keys longer than the lookup buffer on the stack (256 bytes): allocated, same answers */
	char subject[600];
	memset(subject, 's', sizeof(subject) - 1);
	subject[sizeof(subject) - 1] = '\0';
	assert_false(iw_store_alerted(st, "r", "dev-2", subject, T0));
	assert_int_equal(iw_store_claim(st, "r", "dev-2", subject, T0, 0), IW_CLAIM_YES);
	assert_true(iw_store_alerted(st, "r", "dev-2", subject, T0 + S));
	subject[300] = 't'; /* another subject past the buffer: another key */
	assert_false(iw_store_alerted(st, "r", "dev-2", subject, T0 + S));
	subject[300] = 's';
	assert_int_equal(iw_store_claim(st, "r", "dev-2", subject, T0 + S, 0), IW_CLAIM_NO);
	assert_int_equal(iw_store_claim(st, "r", "dev-2", subject, T0 + 86400 * S, 0), IW_CLAIM_YES);
	assert_int_equal(iw_store_claim(st, "r", "dev-2", subject, T0 + 86401 * S, 0), IW_CLAIM_NO);
	iw_store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_devices),
	    cmocka_unit_test(test_table_churn),
	    cmocka_unit_test(test_identity_hash_collision),
	    cmocka_unit_test(test_id_lengths),
	    cmocka_unit_test(test_sets),
	    cmocka_unit_test(test_set_bound),
	    cmocka_unit_test(test_claims),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
