/* test_dnscache.c - the DNS answer cache (sensor/dnscache.c): IPv4 and IPv6 on either
 * side, expiry at TTL plus the grace exactly, replacement, CNAME handling, LRU eviction
 * at the cap (a lookup refreshes), cut names, counters and families it ignores; then
 * what its open-addressing table could get wrong: deletions inside probe runs, reuse
 * of freed entries, names too long to keep inline, a cap of 1, growth, and a long
 * random run against a model of the header's promises. */
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

/* Many entries at the cap: evictions from anywhere in the table. */
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

/* Each kind of deletion inside probe runs: at most half the slots are used, so 3000
 * entries make many runs, and a deleted entry's run must stay reachable behind it. */
static void test_delete_in_runs(void **state)
{
	(void)state;
	const unsigned n = 3000;
	struct iw_dnscache *c = iw_dnscache_new(n);
	uint64_t t = 10 * S, later = t + (IW_DNSCACHE_GRACE_S + 1) * S;
	uint8_t a[16];
	char name[40];
	const char *q, *cn;
	for (unsigned i = 0; i < n; i++) {
		addr_n(a, i);
		snprintf(name, sizeof(name), "host%u.example", i);
		iw_dnscache_add(c, 4, dev4, 4, a, name, NULL, i % 3 ? 3600 : 0, t);
	}
	assert_int_equal(iw_dnscache_size(c), n);
	/* every third (0, 3, ... 2997) has expired by then: its lookup drops it */
	for (unsigned i = 0; i < n; i += 3) {
		addr_n(a, i);
		assert_false(has(c, 4, dev4, 4, a, later, NULL, NULL));
	}
	assert_int_equal(iw_dnscache_size(c), 2000);
	/* a new answer for 1, 11, 31, 41, ... (those of 1, 11, 21, ... still held): new names
	 * in place, no eviction */
	for (unsigned i = 1; i < n; i += 10) {
		if (i % 3 == 0)
			continue;
		addr_n(a, i);
		snprintf(name, sizeof(name), "new%u.example", i);
		iw_dnscache_add(c, 4, dev4, 4, a, name, "edge.example", 3600, later);
	}
	assert_int_equal(iw_dnscache_size(c), 2000);
	/* the dropped ones come back, in the entries they freed */
	for (unsigned i = 0; i < n; i += 3) {
		addr_n(a, i);
		snprintf(name, sizeof(name), "back%u.example", i);
		iw_dnscache_add(c, 4, dev4, 4, a, name, NULL, 3600, later);
	}
	assert_int_equal(iw_dnscache_size(c), n);
	assert_int_equal(iw_dnscache_evicted(c), 0);
	for (unsigned i = 0; i < n; i++) {
		addr_n(a, i);
		snprintf(name, sizeof(name),
		         i % 3 == 0    ? "back%u.example"
		         : i % 10 == 1 ? "new%u.example"
		                       : "host%u.example",
		         i);
		assert_true(has(c, 4, dev4, 4, a, later, &q, &cn));
		assert_string_equal(q, name);
		if (i % 3 && i % 10 == 1)
			assert_string_equal(cn, "edge.example");
		else
			assert_null(cn);
	}
	/* at the cap the least recently used goes: 0, as the loop above looked up 0, 1, 2, ...
	 * in that order */
	addr_n(a, n);
	iw_dnscache_add(c, 4, dev4, 4, a, "one-more.example", NULL, 3600, later);
	assert_int_equal(iw_dnscache_evicted(c), 1);
	addr_n(a, 0);
	assert_false(has(c, 4, dev4, 4, a, later, NULL, NULL));
	for (unsigned i = 1; i <= n; i++) {
		addr_n(a, i);
		assert_true(has(c, 4, dev4, 4, a, later, NULL, NULL));
	}
	iw_dnscache_free(c);
}

/* Name i of length n: letters that shift with the position, so a name read from the
 * wrong place or cut short does not pass for the right one. */
static void pattern(char *out, unsigned n, unsigned i, char base)
{
	for (unsigned k = 0; k < n; k++)
		out[k] = (char)(base + (k * 7 + i) % 26);
	out[n] = '\0';
}

/* Around and past what fits inline, for both key sizes, a name alone or with a chain:
 * each comes back whole, cut at 255. Replacing them with other lengths frees and takes
 * storage again (the sanitizer build and valgrind see leaks and double frees). */
static void test_name_lengths(void **state)
{
	(void)state;
	static const unsigned qlens[] = {0,   1,   30,  70,  76,  77,  78,  79,  90,
	                                 100, 101, 102, 103, 110, 200, 255, 256, 300};
	static const unsigned clens[] = {0,  1,  8,  20,  24,  25,  26,  60,  86,
	                                 93, 94, 95, 100, 101, 102, 200, 255, 300};
	enum { NQ = sizeof(qlens) / sizeof(qlens[0]), NC = sizeof(clens) / sizeof(clens[0]) };
	struct iw_dnscache *c = iw_dnscache_new(4 * NQ * NC);
	char q[301], cn[301];
	const char *gq, *gc;
	for (unsigned round = 0; round < 2; round++) {
		for (unsigned k = 0; k < 2 * NQ * NC; k++) {
			unsigned fam = k < NQ * NC ? 4 : 6, qi = k % (NQ * NC) / NC, ci = k % NC;
			/* the second round swaps the lengths: long names become short and back */
			unsigned ql = round ? qlens[NQ - 1 - qi] : qlens[qi],
			         cl = round ? clens[NC - 1 - ci] : clens[ci];
			uint8_t a[16];
			addr_n(a, k);
			pattern(q, ql, k + round, 'a');
			pattern(cn, cl, k + round, 'A');
			iw_dnscache_add(c, fam, fam == 6 ? dev6 : dev4, fam, a, q, cl ? cn : NULL, 60, S);
		}
		assert_int_equal(iw_dnscache_size(c), 2 * NQ * NC);
		for (unsigned k = 0; k < 2 * NQ * NC; k++) {
			unsigned fam = k < NQ * NC ? 4 : 6, qi = k % (NQ * NC) / NC, ci = k % NC;
			unsigned ql = round ? qlens[NQ - 1 - qi] : qlens[qi],
			         cl = round ? clens[NC - 1 - ci] : clens[ci];
			uint8_t a[16];
			addr_n(a, k);
			pattern(q, ql > 255 ? 255 : ql, k + round, 'a');
			pattern(cn, cl > 255 ? 255 : cl, k + round, 'A');
			assert_true(has(c, fam, fam == 6 ? dev6 : dev4, fam, a, S, &gq, &gc));
			assert_string_equal(gq, q);
			if (cl)
				assert_string_equal(gc, cn);
			else
				assert_null(gc);
		}
	}
	/* the strings of a lookup stay put while other lookups run */
	uint8_t a0[16], a1[16];
	addr_n(a0, 0);
	addr_n(a1, 1);
	assert_true(has(c, 4, dev4, 4, a0, S, &gq, &gc));
	assert_true(has(c, 4, dev4, 4, a1, S, NULL, NULL));
	pattern(q, 255, 1, 'a'); /* entry 0 of the second round: the longest qname, cut */
	assert_string_equal(gq, q);
	iw_dnscache_free(c);
}

/* A cap of 1: each new pair evicts the one entry, a replacement does not, and an
 * expired entry dropped by its lookup leaves the place free. */
static void test_cap_one(void **state)
{
	(void)state;
	struct iw_dnscache *c = iw_dnscache_new(1);
	uint64_t t = S;
	uint8_t a[4][16];
	char longname[300];
	const char *q, *cn;
	for (unsigned i = 0; i < 4; i++)
		addr_n(a[i], i);
	iw_dnscache_add(c, 4, dev4, 4, a[0], "zero.example", NULL, 60, t);
	iw_dnscache_add(c, 4, dev4, 4, a[1], "one.example", NULL, 60, t);
	assert_int_equal(iw_dnscache_size(c), 1);
	assert_int_equal(iw_dnscache_evicted(c), 1);
	assert_false(has(c, 4, dev4, 4, a[0], t, NULL, NULL));
	iw_dnscache_add(c, 4, dev4, 4, a[1], "uno.example", "edge.example", 60, t);
	assert_int_equal(iw_dnscache_evicted(c), 1);
	assert_true(has(c, 4, dev4, 4, a[1], t, &q, &cn));
	assert_string_equal(q, "uno.example");
	assert_string_equal(cn, "edge.example");
	assert_false(has(c, 4, dev4, 4, a[1], t + (60 + IW_DNSCACHE_GRACE_S) * S + 1, NULL, NULL));
	assert_int_equal(iw_dnscache_size(c), 0);
	iw_dnscache_add(c, 6, dev6, 6, srv6, "two.example", NULL, 60, t);
	assert_int_equal(iw_dnscache_size(c), 1);
	assert_int_equal(iw_dnscache_evicted(c), 1);
	memset(longname, 'l', sizeof(longname));
	longname[299] = '\0';
	iw_dnscache_add(c, 4, dev4, 4, a[3], longname, longname + 10, 60, t);
	assert_int_equal(iw_dnscache_evicted(c), 2);
	assert_false(has(c, 6, dev6, 6, srv6, t, NULL, NULL));
	assert_true(has(c, 4, dev4, 4, a[3], t, &q, &cn));
	assert_int_equal(strlen(q), 255);
	assert_int_equal(strlen(cn), 255);
	iw_dnscache_add(c, 4, dev4, 4, a[0], "zero.example", NULL, 60, t);
	assert_int_equal(iw_dnscache_evicted(c), 3);
	assert_false(has(c, 4, dev4, 4, a[3], t, NULL, NULL));
	assert_true(has(c, 4, dev4, 4, a[0], t, &q, &cn));
	assert_string_equal(q, "zero.example");
	assert_int_equal(iw_dnscache_size(c), 1);
	iw_dnscache_free(c);
}

/* The largest cap: nothing is sized for it up front, the table grows many times as
 * entries come, and entries made before each growth (some dropped and their places
 * reused) are all found after it. */
static void test_growth(void **state)
{
	(void)state;
	const unsigned n = 20000;
	struct iw_dnscache *c = iw_dnscache_new(UINT64_MAX);
	uint64_t t = S, later = t + (IW_DNSCACHE_GRACE_S + 1) * S;
	uint8_t a[16];
	char name[40];
	const char *q, *cn;
	/* the first 100, a quarter of them (0, 4, ... 96) valid for the grace only */
	for (unsigned i = 0; i < 100; i++) {
		addr_n(a, i);
		snprintf(name, sizeof(name), "g%u.example", i);
		iw_dnscache_add(c, i % 2 ? 4 : 6, i % 2 ? dev4 : dev6, 4, a, name, NULL, i % 4 ? 3600 : 0, t);
	}
	for (unsigned i = 0; i < 100; i += 4) {
		addr_n(a, i);
		assert_false(has(c, 6, dev6, 4, a, later, NULL, NULL));
	}
	assert_int_equal(iw_dnscache_size(c), 75);
	for (unsigned i = 100; i < n; i++) {
		addr_n(a, i);
		snprintf(name, sizeof(name), "g%u.example", i);
		iw_dnscache_add(c, i % 2 ? 4 : 6, i % 2 ? dev4 : dev6, 4, a, name, NULL, 3600, later);
	}
	assert_int_equal(iw_dnscache_size(c), n - 25);
	assert_int_equal(iw_dnscache_evicted(c), 0);
	for (unsigned i = 0; i < n; i++) {
		addr_n(a, i);
		bool found = has(c, i % 2 ? 4 : 6, i % 2 ? dev4 : dev6, 4, a, later, &q, &cn);
		if (i < 100 && i % 4 == 0) {
			assert_false(found);
		} else {
			snprintf(name, sizeof(name), "g%u.example", i);
			assert_true(found);
			assert_string_equal(q, name);
		}
	}
	iw_dnscache_free(c);
}

/* What dnscache.h promises, kept the plainest way: an array in no order, each entry
 * stamped with its last use; the least recently used is the smallest stamp. */
struct model_entry {
	unsigned key;
	char q[24], cn[24]; /* cn empty: no chain */
	uint64_t expires, stamp;
};

struct model {
	struct model_entry e[8];
	unsigned n, cap;
	uint64_t stamp, evicted;
};

static struct model_entry *model_find(struct model *m, unsigned key)
{
	for (unsigned i = 0; i < m->n; i++)
		if (m->e[i].key == key)
			return &m->e[i];
	return NULL;
}

static void model_remove(struct model *m, struct model_entry *e)
{
	*e = m->e[--m->n];
}

static void model_add(struct model *m, unsigned key, const char *q, const char *cn, uint32_t ttl,
                      uint64_t now)
{
	struct model_entry *e = model_find(m, key);
	if (!e && m->n == m->cap) {
		struct model_entry *lru = &m->e[0];
		for (unsigned i = 1; i < m->n; i++)
			if (m->e[i].stamp < lru->stamp)
				lru = &m->e[i];
		model_remove(m, lru);
		m->evicted++;
	}
	if (!e)
		e = &m->e[m->n++];
	e->key = key;
	snprintf(e->q, sizeof(e->q), "%s", q);
	snprintf(e->cn, sizeof(e->cn), "%s", cn && strcmp(cn, q) ? cn : "");
	e->expires = now + ((uint64_t)ttl + IW_DNSCACHE_GRACE_S) * S;
	e->stamp = ++m->stamp;
}

static struct model_entry *model_lookup(struct model *m, unsigned key, uint64_t now)
{
	struct model_entry *e = model_find(m, key);
	if (e && now > e->expires) {
		model_remove(m, e);
		return NULL;
	}
	if (e)
		e->stamp = ++m->stamp;
	return e;
}

/* Key k: both families on both sides, a few devices, addresses that share their first
 * bytes. */
static void model_key(unsigned k, int *dfam, uint8_t dev[16], int *afam, uint8_t addr[16])
{
	*dfam = k & 1 ? 6 : 4;
	*afam = k & 2 ? 6 : 4;
	memcpy(dev, *dfam == 6 ? dev6 : dev4, 16);
	dev[3] ^= (uint8_t)(k >> 2 & 1);
	addr_n(addr, k >> 3);
}

/* A long random run of adds and lookups (names with and without chains, TTL 0 to an
 * hour, time jumps past expiry) at small caps, checked call by call against the model:
 * eviction order, expiry, replacement and the counters, with entries freed and reused
 * all the time. */
static void test_against_model(void **state)
{
	(void)state;
	uint64_t rnd = 42;
	for (unsigned cap = 1; cap <= 8; cap++) {
		struct model m = {.cap = cap};
		struct iw_dnscache *c = iw_dnscache_new(cap);
		uint64_t now = 1000 * S;
		for (unsigned op = 0; op < 20000; op++) {
			rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
			unsigned r = (unsigned)(rnd >> 33), key = r % 40;
			int dfam, afam;
			uint8_t dev[16], addr[16];
			model_key(key, &dfam, dev, &afam, addr);
			if (r >> 8 & 1)
				now += (uint64_t)(r >> 9 & 127) * S;
			if (r >> 16 & 1) {
				char q[24], cn[24];
				snprintf(q, sizeof(q), "q%u-%u.example", key, op);
				snprintf(cn, sizeof(cn), "c%u.example", op);
				uint32_t ttl = r >> 17 & 1 ? 0 : (r >> 18 & 1023) * 4;
				const char *chain = r >> 28 & 1 ? cn : r >> 29 & 1 ? q : NULL;
				model_add(&m, key, q, chain, ttl, now);
				iw_dnscache_add(c, dfam, dev, afam, addr, q, chain, ttl, now);
			} else {
				const char *q, *cn;
				struct model_entry *e = model_lookup(&m, key, now);
				bool found = has(c, dfam, dev, afam, addr, now, &q, &cn);
				assert_int_equal(found, e != NULL);
				if (e) {
					assert_string_equal(q, e->q);
					if (e->cn[0])
						assert_string_equal(cn, e->cn);
					else
						assert_null(cn);
				}
			}
			assert_int_equal(iw_dnscache_size(c), m.n);
			assert_int_equal(iw_dnscache_evicted(c), m.evicted);
		}
		iw_dnscache_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4_ipv6),
	    cmocka_unit_test(test_expiry_exact),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_cname),
	    cmocka_unit_test(test_lru),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_long_names),
	    cmocka_unit_test(test_wrong_families),
	    cmocka_unit_test(test_delete_in_runs),
	    cmocka_unit_test(test_name_lengths),
	    cmocka_unit_test(test_cap_one),
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
