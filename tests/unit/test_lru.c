/* test_lru.c - the rules' bounded table (rules/lru.c): lookups, use order, the bound,
 * deletion, growth past the first slots, and the drop hook freeing what entries own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules/lru.h"

struct ent {
	struct iw_lru_node n;
	char *owned;
	int v;
};

static unsigned dropped;

static void drop(void *e)
{
	free(((struct ent *)e)->owned);
	dropped++;
}

static struct ent *put(struct iw_lru *t, const char *key, uint64_t max, int v)
{
	bool created;
	struct ent *e = iw_lru_put(t, key, max, &created);
	if (created) {
		e->owned = strdup(key);
		e->v = v;
	}
	return e;
}

static void test_find_and_put(void **state)
{
	(void)state;
	struct iw_lru t;
	iw_lru_init(&t, sizeof(struct ent), drop);
	dropped = 0;
	assert_null(iw_lru_find(&t, "a"));
	assert_null(iw_lru_find(&t, NULL));
	bool created = false;
	struct ent *a = iw_lru_put(&t, "a", 10, &created);
	assert_true(created);
	assert_null(a->owned); /* zeroed */
	a->v = 1;
	assert_ptr_equal(iw_lru_put(&t, "a", 10, &created), a);
	assert_false(created);
	assert_ptr_equal(iw_lru_find(&t, "a"), a);
	assert_string_equal(a->n.key, "a");
	assert_int_equal(t.n, 1);
	/* the empty key is a key */
	struct ent *e = put(&t, "", 10, 2);
	assert_ptr_equal(iw_lru_find(&t, ""), e);
	iw_lru_free(&t);
	assert_int_equal(dropped, 2); /* a owned nothing, but drop runs on every entry */
}

static void test_bound_drops_least_recently_used(void **state)
{
	(void)state;
	struct iw_lru t;
	iw_lru_init(&t, sizeof(struct ent), drop);
	dropped = 0;
	put(&t, "a", 3, 1);
	put(&t, "b", 3, 2);
	put(&t, "c", 3, 3);
	put(&t, "a", 3, 0);   /* used again: b is now the oldest */
	iw_lru_find(&t, "b"); /* a find does not count as use */
	put(&t, "d", 3, 4);
	assert_int_equal(t.n, 3);
	assert_null(iw_lru_find(&t, "b"));
	assert_non_null(iw_lru_find(&t, "a"));
	assert_non_null(iw_lru_find(&t, "c"));
	assert_non_null(iw_lru_find(&t, "d"));
	assert_int_equal(dropped, 1);
	/* max 0 is 1 */
	put(&t, "e", 0, 5);
	assert_int_equal(t.n, 1);
	assert_non_null(iw_lru_find(&t, "e"));
	/* a smaller bound later drops down to it */
	iw_lru_free(&t);
	iw_lru_init(&t, sizeof(struct ent), drop);
	for (int i = 0; i < 10; i++) {
		char k[8];
		snprintf(k, sizeof(k), "k%d", i);
		put(&t, k, 100, i);
	}
	put(&t, "new", 4, 99);
	assert_int_equal(t.n, 4);
	assert_non_null(iw_lru_find(&t, "k9"));
	assert_null(iw_lru_find(&t, "k6"));
	iw_lru_free(&t);
}

static void test_delete_and_grow(void **state)
{
	(void)state;
	struct iw_lru t;
	iw_lru_init(&t, sizeof(struct ent), drop);
	dropped = 0;
	char k[16];
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		put(&t, k, 1000000, i);
	}
	assert_int_equal(t.n, 5000);
	for (int i = 0; i < 5000; i += 2) {
		snprintf(k, sizeof(k), "key-%d", i);
		struct ent *e = iw_lru_find(&t, k);
		assert_non_null(e);
		assert_int_equal(e->v, i);
		iw_lru_del(&t, e);
	}
	assert_int_equal(t.n, 2500);
	assert_int_equal(dropped, 2500);
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		struct ent *e = iw_lru_find(&t, k);
		if (i % 2)
			assert_int_equal(e->v, i);
		else
			assert_null(e);
	}
	/* deleting the oldest and the newest keeps the order right */
	iw_lru_del(&t, iw_lru_find(&t, "key-1"));
	iw_lru_del(&t, iw_lru_find(&t, "key-4999"));
	iw_lru_del(&t, NULL);
	put(&t, "last", 2498, 0);
	assert_null(iw_lru_find(&t, "key-3"));
	assert_non_null(iw_lru_find(&t, "key-5"));
	iw_lru_free(&t);
	assert_int_equal(dropped, 5000 + 1);
}

static void test_tiny_entries(void **state)
{
	(void)state;
	struct iw_lru t;
	iw_lru_init(&t, 1, NULL); /* smaller than a node: a node is allocated */
	void *e = iw_lru_put(&t, "x", 2, NULL);
	assert_non_null(e);
	assert_ptr_equal(iw_lru_find(&t, "x"), e);
	iw_lru_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_find_and_put),
	    cmocka_unit_test(test_bound_drops_least_recently_used),
	    cmocka_unit_test(test_delete_and_grow),
	    cmocka_unit_test(test_tiny_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
