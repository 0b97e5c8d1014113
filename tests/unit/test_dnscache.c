/* test_dnscache.c - the DNS answer cache (sensor/dnscache.c): IPv4 and IPv6 on either
 * side, expiry at TTL plus the grace exactly, replacement, CNAME handling, LRU eviction
 * at the cap (a lookup refreshes), cut names, counters and families it ignores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sensor/dnscache.h"

#define S 1000000ULL /* microseconds per second */

static const uint8_t dev4[16] = {192, 168, 1, 20};
static const uint8_t dev4b[16] = {192, 168, 1, 21};
static const uint8_t dev6[16] = {0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20};
static const uint8_t srv4[16] = {13, 234, 1, 10};
static const uint8_t srv6[16] = {0x24, 0x06, 0xda, 0x1a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a};

/* An IPv4 answer address numbered i. */
static void addr_n(uint8_t out[16], unsigned i)
{
	memset(out, 0, 16);
	out[0] = 10;
	out[1] = (uint8_t)(i >> 16);
	out[2] = (uint8_t)(i >> 8);
	out[3] = (uint8_t)i;
}

static bool has(struct iw_dnscache *c, int dfam, const uint8_t *dev, int afam, const uint8_t *addr,
                uint64_t now, const char **q, const char **cn)
{
	const char *dq = NULL, *dc = NULL;
	return iw_dnscache_lookup(c, dfam, dev, afam, addr, now, q ? q : &dq, cn ? cn : &dc);
}

static void test_ipv4_ipv6(void **state)
{
	(void)state;
	struct iw_dnscache *c = iw_dnscache_new(16);
	uint64_t t = 1000 * S;
	const char *q, *cn;
	assert_false(has(c, 4, dev4, 4, srv4, t, &q, &cn));
	iw_dnscache_add(c, 4, dev4, 4, srv4, "a1-ats.iot.ap-south-1.amazonaws.com", NULL, 60, t);
	iw_dnscache_add(c, 4, dev4, 6, srv6, "six.example", NULL, 60, t);
	iw_dnscache_add(c, 6, dev6, 4, srv4, "v6dev-v4answer.example", NULL, 60, t);
	iw_dnscache_add(c, 6, dev6, 6, srv6, "v6dev-v6answer.example", "edge.example", 60, t);
	assert_int_equal(iw_dnscache_size(c), 4);

	assert_true(has(c, 4, dev4, 4, srv4, t + S, &q, &cn));
	assert_string_equal(q, "a1-ats.iot.ap-south-1.amazonaws.com");
	assert_null(cn);
	assert_true(has(c, 4, dev4, 6, srv6, t + S, &q, &cn));
	assert_string_equal(q, "six.example");
	assert_true(has(c, 6, dev6, 4, srv4, t + S, &q, &cn));
	assert_string_equal(q, "v6dev-v4answer.example");
	assert_true(has(c, 6, dev6, 6, srv6, t + S, &q, &cn));
	assert_string_equal(q, "v6dev-v6answer.example");
	assert_string_equal(cn, "edge.example");

	/* another device was told nothing */
	assert_false(has(c, 4, dev4b, 4, srv4, t + S, NULL, NULL));
	/* the families are part of the key: the IPv6 address whose first four bytes are an
	 * IPv4 address is another key, and so is the IPv4 one */
	uint8_t v6like[16] = {192, 168, 1, 20, 1};
	assert_false(has(c, 6, v6like, 4, srv4, t + S, NULL, NULL));
	uint8_t srv4_as6[16] = {13, 234, 1, 10};
	assert_false(has(c, 4, dev4, 6, srv4_as6, t + S, NULL, NULL));
	/* IPv4 keys use only four bytes: what follows them does not matter */
	uint8_t dev4_tail[16] = {192, 168, 1, 20, 0xff, 0xff, 0xff, 0xff};
	uint8_t srv4_tail[16] = {13, 234, 1, 10, 0xee, 0xee};
	assert_true(has(c, 4, dev4_tail, 4, srv4_tail, t + S, &q, &cn));
	assert_string_equal(q, "a1-ats.iot.ap-south-1.amazonaws.com");
	assert_int_equal(iw_dnscache_evicted(c), 0);
	iw_dnscache_free(c);
}

static void test_expiry_exact(void **state)
{
	(void)state;
	struct iw_dnscache *c = iw_dnscache_new(8);
	uint64_t t = 5000 * S + 123;
	uint64_t until = t + (60 + IW_DNSCACHE_GRACE_S) * S; /* TTL 60 plus the grace */
	iw_dnscache_add(c, 4, dev4, 4, srv4, "ttl60.example", NULL, 60, t);
	assert_true(has(c, 4, dev4, 4, srv4, t + 60 * S, NULL, NULL)); /* TTL itself */
	assert_true(has(c, 4, dev4, 4, srv4, t + 61 * S, NULL, NULL)); /* in the grace */
	assert_true(has(c, 4, dev4, 4, srv4, until, NULL, NULL));      /* the last valid microsecond */
	assert_int_equal(iw_dnscache_size(c), 1);
	assert_false(has(c, 4, dev4, 4, srv4, until + 1, NULL, NULL)); /* just past */
	assert_int_equal(iw_dnscache_size(c), 0);                      /* dropped when found */
	assert_false(has(c, 4, dev4, 4, srv4, t, NULL, NULL));         /* and gone for good */

	/* TTL 0: valid for the grace only */
	iw_dnscache_add(c, 6, dev6, 6, srv6, "ttl0.example", NULL, 0, t);
	assert_true(has(c, 6, dev6, 6, srv6, t + IW_DNSCACHE_GRACE_S * S, NULL, NULL));
	assert_false(has(c, 6, dev6, 6, srv6, t + IW_DNSCACHE_GRACE_S * S + 1, NULL, NULL));

	/* the largest TTL does not wrap */
	iw_dnscache_add(c, 4, dev4, 4, srv4, "forever.example", NULL, UINT32_MAX, t);
	assert_true(has(c, 4, dev4, 4, srv4, t + (uint64_t)UINT32_MAX * S, NULL, NULL));
	assert_int_equal(iw_dnscache_evicted(c), 0);
	iw_dnscache_free(c);
}

static void test_replace(void **state)
{
	(void)state;
	struct iw_dnscache *c = iw_dnscache_new(8);
	uint64_t t = 100 * S;
	const char *q, *cn;
	iw_dnscache_add(c, 4, dev4, 4, srv4, "old.example", "old-edge.example", 10, t);
	iw_dnscache_add(c, 4, dev4, 4, srv4, "new.example", NULL, 3600, t + 5 * S);
	assert_int_equal(iw_dnscache_size(c), 1);
	assert_true(has(c, 4, dev4, 4, srv4, t + 6 * S, &q, &cn));
	assert_string_equal(q, "new.example");
	assert_null(cn);
	/* the new expiry holds: past the old one, before the new one */
	assert_true(has(c, 4, dev4, 4, srv4, t + (10 + IW_DNSCACHE_GRACE_S + 1) * S, NULL, NULL));
	assert_true(has(c, 4, dev4, 4, srv4, t + 5 * S + (3600 + IW_DNSCACHE_GRACE_S) * S, NULL, NULL));
	assert_false(has(c, 4, dev4, 4, srv4, t + 5 * S + (3600 + IW_DNSCACHE_GRACE_S) * S + 1, NULL, NULL));

	/* a shorter TTL replaces a longer one too */
	iw_dnscache_add(c, 4, dev4, 4, srv4, "long.example", NULL, 3600, t);
	iw_dnscache_add(c, 4, dev4, 4, srv4, "short.example", "edge.example", 0, t);
	assert_true(has(c, 4, dev4, 4, srv4, t + IW_DNSCACHE_GRACE_S * S, &q, &cn));
	assert_string_equal(q, "short.example");
	assert_string_equal(cn, "edge.example");
	assert_false(has(c, 4, dev4, 4, srv4, t + IW_DNSCACHE_GRACE_S * S + 1, NULL, NULL));
	assert_int_equal(iw_dnscache_evicted(c), 0);
	iw_dnscache_free(c);
}

static void test_cname(void **state)
{
	(void)state;
	struct iw_dnscache *c = iw_dnscache_new(8);
	uint64_t t = S;
	const char *q, *cn;
	uint8_t a1[16], a2[16], a3[16], a4[16];
	addr_n(a1, 1);
	addr_n(a2, 2);
	addr_n(a3, 3);
	addr_n(a4, 4);
	iw_dnscache_add(c, 4, dev4, 4, a1, "nochain.example", NULL, 60, t);
	iw_dnscache_add(c, 4, dev4, 4, a2, "same.example", "same.example", 60, t);
	iw_dnscache_add(c, 4, dev4, 4, a3, "iot.custom.example", "a1-ats.iot.eu-west-1.amazonaws.com", 60, t);
	iw_dnscache_add(c, 4, dev4, 4, a4, "empty.example", "", 60, t);
	assert_true(has(c, 4, dev4, 4, a1, t, &q, &cn));
	assert_string_equal(q, "nochain.example");
	assert_null(cn);
	assert_true(has(c, 4, dev4, 4, a2, t, &q, &cn));
	assert_string_equal(q, "same.example");
	assert_null(cn); /* the same as the name asked: no chain */
	assert_true(has(c, 4, dev4, 4, a3, t, &q, &cn));
	assert_string_equal(q, "iot.custom.example");
	assert_string_equal(cn, "a1-ats.iot.eu-west-1.amazonaws.com");
	assert_true(has(c, 4, dev4, 4, a4, t, &q, &cn));
	assert_string_equal(q, "empty.example");
	assert_true(cn == NULL || cn[0] == '\0');
	/* no qname: nothing to keep */
	iw_dnscache_add(c, 4, dev4b, 4, a1, NULL, "x.example", 60, t);
	assert_false(has(c, 4, dev4b, 4, a1, t, NULL, NULL));
	assert_int_equal(iw_dnscache_size(c), 4);
	iw_dnscache_free(c);
}

static void test_lru(void **state)
{
	(void)state;
	struct iw_dnscache *c = iw_dnscache_new(3);
	uint64_t t = S;
	uint8_t a[8][16];
	char name[8][16];
	for (unsigned i = 0; i < 8; i++) {
		addr_n(a[i], i);
		snprintf(name[i], sizeof(name[i]), "n%u.example", i);
	}
	iw_dnscache_add(c, 4, dev4, 4, a[0], name[0], NULL, 60, t);
	iw_dnscache_add(c, 4, dev4, 4, a[1], name[1], NULL, 60, t);
	iw_dnscache_add(c, 4, dev4, 4, a[2], name[2], NULL, 60, t);
	assert_int_equal(iw_dnscache_size(c), 3);
	assert_int_equal(iw_dnscache_evicted(c), 0);
	/* order, oldest first: 0 1 2; a lookup of 0 refreshes it: 1 2 0 */
	assert_true(has(c, 4, dev4, 4, a[0], t, NULL, NULL));
	iw_dnscache_add(c, 4, dev4, 4, a[3], name[3], NULL, 60, t); /* evicts 1: 2 0 3 */
	assert_int_equal(iw_dnscache_size(c), 3);
	assert_int_equal(iw_dnscache_evicted(c), 1);
	assert_false(has(c, 4, dev4, 4, a[1], t, NULL, NULL));
	/* a failed lookup changes nothing; now look up 2 then 0: 3 2 0 */
	assert_true(has(c, 4, dev4, 4, a[2], t, NULL, NULL));
	assert_true(has(c, 4, dev4, 4, a[0], t, NULL, NULL));
	iw_dnscache_add(c, 4, dev4, 4, a[4], name[4], NULL, 60, t); /* evicts 3: 2 0 4 */
	assert_int_equal(iw_dnscache_evicted(c), 2);
	assert_false(has(c, 4, dev4, 4, a[3], t, NULL, NULL));
	/* replacing an entry at the cap evicts nothing and makes it the newest: 0 4 2 */
	iw_dnscache_add(c, 4, dev4, 4, a[2], "renamed.example", NULL, 60, t);
	assert_int_equal(iw_dnscache_size(c), 3);
	assert_int_equal(iw_dnscache_evicted(c), 2);
	iw_dnscache_add(c, 4, dev4, 4, a[5], name[5], NULL, 60, t); /* evicts 0: 4 2 5 */
	assert_int_equal(iw_dnscache_evicted(c), 3);
	const char *q, *cn;
	assert_true(has(c, 4, dev4, 4, a[4], t, &q, &cn));
	assert_string_equal(q, name[4]);
	assert_true(has(c, 4, dev4, 4, a[2], t, &q, &cn));
	assert_string_equal(q, "renamed.example");
	assert_true(has(c, 4, dev4, 4, a[5], t, &q, &cn));
	assert_string_equal(q, name[5]);
	assert_false(has(c, 4, dev4, 4, a[0], t, NULL, NULL));
	/* an expired entry dropped by its lookup frees a place: no eviction for the next */
	iw_dnscache_add(c, 4, dev4, 4, a[6], name[6], NULL, 0, t); /* evicts 4: 2 5 6 */
	assert_int_equal(iw_dnscache_evicted(c), 4);
	assert_false(has(c, 4, dev4, 4, a[6], t + (IW_DNSCACHE_GRACE_S + 1) * S, NULL, NULL));
	assert_int_equal(iw_dnscache_size(c), 2);
	iw_dnscache_add(c, 4, dev4, 4, a[7], name[7], NULL, 60, t);
	assert_int_equal(iw_dnscache_size(c), 3);
	assert_int_equal(iw_dnscache_evicted(c), 4);
	iw_dnscache_free(c);

	/* a cap of 0 keeps one */
	c = iw_dnscache_new(0);
	iw_dnscache_add(c, 4, dev4, 4, a[0], name[0], NULL, 60, t);
	iw_dnscache_add(c, 4, dev4, 4, a[1], name[1], NULL, 60, t);
	assert_int_equal(iw_dnscache_size(c), 1);
	assert_int_equal(iw_dnscache_evicted(c), 1);
	assert_true(has(c, 4, dev4, 4, a[1], t, NULL, NULL));
	assert_false(has(c, 4, dev4, 4, a[0], t, NULL, NULL));
	iw_dnscache_free(c);
}

/* Many entries through few buckets: chains, evictions from the middle of chains. */
static void test_many(void **state)
{
	(void)state;
	const unsigned cap = 1000, total = 5000;
	struct iw_dnscache *c = iw_dnscache_new(cap);
	uint64_t t = S;
	for (unsigned i = 0; i < total; i++) {
		uint8_t a[16];
		char name[32];
		addr_n(a, i);
		snprintf(name, sizeof(name), "host%u.example", i);
		iw_dnscache_add(c, i % 3 ? 4 : 6, i % 2 ? dev4 : dev6, 4, a, name, NULL, 60, t);
	}
	assert_int_equal(iw_dnscache_size(c), cap);
	assert_int_equal(iw_dnscache_evicted(c), total - cap);
	for (unsigned i = 0; i < total; i++) {
		uint8_t a[16];
		char name[32];
		const char *q, *cn;
		addr_n(a, i);
		snprintf(name, sizeof(name), "host%u.example", i);
		bool found = has(c, i % 3 ? 4 : 6, i % 2 ? dev4 : dev6, 4, a, t, &q, &cn);
		if (i < total - cap) {
			assert_false(found);
		} else {
			assert_true(found);
			assert_string_equal(q, name);
		}
	}
	iw_dnscache_free(c);
	iw_dnscache_free(NULL);
}

static void test_long_names(void **state)
{
	(void)state;
	struct iw_dnscache *c = iw_dnscache_new(4);
	char q[400], cn[400];
	memset(q, 'q', sizeof(q));
	q[299] = '\0';
	memset(cn, 'c', sizeof(cn));
	cn[399] = '\0';
	const char *gq, *gc;
	iw_dnscache_add(c, 4, dev4, 4, srv4, q, cn, 60, S);
	assert_true(has(c, 4, dev4, 4, srv4, S, &gq, &gc));
	assert_int_equal(strlen(gq), 255);
	assert_int_equal(strlen(gc), 255);
	assert_memory_equal(gq, q, 255);
	assert_memory_equal(gc, cn, 255);
	/* exactly 255 is kept whole */
	q[255] = '\0';
	iw_dnscache_add(c, 6, dev6, 4, srv4, q, NULL, 60, S);
	assert_true(has(c, 6, dev6, 4, srv4, S, &gq, &gc));
	assert_string_equal(gq, q);
	assert_null(gc);
	iw_dnscache_free(c);
}

static void test_wrong_families(void **state)
{
	(void)state;
	struct iw_dnscache *c = iw_dnscache_new(4);
	const char *q = NULL, *cn = NULL;
	iw_dnscache_add(c, 0, dev4, 4, srv4, "x.example", NULL, 60, S);
	iw_dnscache_add(c, 4, dev4, 5, srv4, "x.example", NULL, 60, S);
	iw_dnscache_add(c, 2, dev4, 4, srv4, "x.example", NULL, 60, S);  /* AF_INET is not 4 */
	iw_dnscache_add(c, 4, dev4, 10, srv6, "x.example", NULL, 60, S); /* nor AF_INET6 6 */
	assert_int_equal(iw_dnscache_size(c), 0);
	iw_dnscache_add(c, 4, dev4, 4, srv4, "x.example", NULL, 60, S);
	assert_int_equal(iw_dnscache_size(c), 1);
	assert_false(iw_dnscache_lookup(c, 0, dev4, 4, srv4, S, &q, &cn));
	assert_false(iw_dnscache_lookup(c, 4, dev4, 7, srv4, S, &q, &cn));
	assert_null(q);
	assert_null(cn);
	assert_true(iw_dnscache_lookup(c, 4, dev4, 4, srv4, S, &q, &cn));
	assert_string_equal(q, "x.example");
	assert_int_equal(iw_dnscache_evicted(c), 0);
	iw_dnscache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4_ipv6),  cmocka_unit_test(test_expiry_exact),
	    cmocka_unit_test(test_replace),    cmocka_unit_test(test_cname),
	    cmocka_unit_test(test_lru),        cmocka_unit_test(test_many),
	    cmocka_unit_test(test_long_names), cmocka_unit_test(test_wrong_families),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
