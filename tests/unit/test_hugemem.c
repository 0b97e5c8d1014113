/* test_hugemem.c - the heap advised for transparent huge pages (sensor/hugemem.c): what
 * the heap holds at start and what it grows by are advised (the kernel's VmFlags for the
 * mapping say "hg"), a heap trimmed and grown again is advised again, and
 * IOTWATCH_HUGEPAGES=0 advises nothing. Each test skips when the heap is not malloc's brk
 * heap (a sanitizer's allocator) or the kernel has no transparent huge pages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sensor/hugemem.h"

#define CHUNK 1024

/* Whether the mapping that holds p is advised for huge pages ("hg" in its VmFlags); -1
 * when no mapping holds p. */
static int advised(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	assert_non_null(f);
	char line[1024];
	uintptr_t a = (uintptr_t)p;
	bool in = false;
	int found = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			found = strstr(line, " hg") != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Small blocks (kept in b, at most MAX_BLOCKS) until one lies at limit or above; returns
 * it, NULL when none does (blocks come from elsewhere than the brk heap: a sanitizer's
 * allocator). */
#define MAX_BLOCKS (512 * 1024) /* 512 MiB */
static void *grow_past(void **b, uintptr_t limit)
{
	for (size_t i = 0; i < MAX_BLOCKS; i++) {
		if (b[i])
			continue;
		b[i] = malloc(CHUNK);
		assert_non_null(b[i]);
		memset(b[i], (int)i, CHUNK);
		if ((uintptr_t)b[i] >= (uintptr_t)sbrk(0))
			return NULL; /* above the brk heap: mmap'd, another allocator's */
		if ((uintptr_t)b[i] >= limit)
			return b[i];
	}
	return NULL;
}

static void release(void **b)
{
	for (size_t i = 0; i < MAX_BLOCKS; i++) {
		free(b[i]);
		b[i] = NULL;
	}
}

static void test_growth_advised(void **state)
{
	(void)state;
	unsetenv("IOTWATCH_HUGEPAGES");
	struct iw_hugemem h;
	iw_hugemem_init(&h);
	if (!h.on)
		skip(); /* no transparent huge pages in this kernel */
	void **b = calloc(MAX_BLOCKS, sizeof(*b));
	assert_non_null(b);
	/* a block a whole huge page past what init advised: not advised until the tick */
	void *p = grow_past(b, h.done + (4u << 20));
	if (!p) {
		release(b);
		free(b);
		skip();
	}
	assert_int_equal(advised(p), 0);
	iw_hugemem_tick(&h);
	assert_int_equal(advised(p), 1);
	assert_true(h.done > (uintptr_t)p);
	assert_int_equal(h.done % (2u << 20), 0);

	/* trimmed, then grown again: what it grows by is advised again */
	release(b);
	malloc_trim(0);
	iw_hugemem_tick(&h);
	assert_true(h.done <= (uintptr_t)sbrk(0));
	p = grow_past(b, h.done + (4u << 20));
	assert_non_null(p);
	assert_int_equal(advised(p), 0);
	iw_hugemem_tick(&h);
	assert_int_equal(advised(p), 1);
	release(b);
	free(b);
	malloc_trim(0);
}

static void test_turned_off(void **state)
{
	(void)state;
	setenv("IOTWATCH_HUGEPAGES", "0", 1);
	struct iw_hugemem h;
	iw_hugemem_init(&h);
	unsetenv("IOTWATCH_HUGEPAGES");
	assert_false(h.on);
	void **b = calloc(MAX_BLOCKS, sizeof(*b));
	assert_non_null(b);
	void *p = grow_past(b, (uintptr_t)sbrk(0) + (4u << 20));
	if (!p) {
		release(b);
		free(b);
		skip();
	}
	iw_hugemem_tick(&h);
	assert_int_equal(advised(p), 0);
	release(b);
	free(b);
	malloc_trim(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_turned_off),
	    cmocka_unit_test(test_growth_advised),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
