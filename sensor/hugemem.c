/* hugemem.c - the heap in transparent huge pages (hugemem.h). */
#include "hugemem.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE    ((uintptr_t)2 << 20) /* the x86-64 and arm64 (4 KiB base) THP size */
#define TOP_PAD (32 << 20)

static uintptr_t up(uintptr_t a)
{
	return (a + HUGE - 1) & ~(HUGE - 1);
}

static uintptr_t down(uintptr_t a)
{
	return a & ~(HUGE - 1);
}

/* The start of the heap, from /proc/self/maps; 0 when not found. */
static uintptr_t heap_start(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return 0;
	char line[512];
	uintptr_t start = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "[heap]")) {
			start = (uintptr_t)strtoull(line, NULL, 16);
			break;
		}
	}
	fclose(f);
	return start;
}

/* Advises [from, to) in whole huge pages; false when the kernel refuses the advice
 * itself (no THP), true otherwise (a range that is not all mapped is advised in part). */
static bool advise(uintptr_t from, uintptr_t to)
{
	from = up(from);
	to = down(to);
	if (to <= from)
		return true;
	return madvise((void *)from, to - from, MADV_HUGEPAGE) == 0 || errno != EINVAL;
}

void iw_hugemem_init(struct iw_hugemem *h)
{
	const char *env = getenv("IOTWATCH_HUGEPAGES");
	h->on = !(env && !strcmp(env, "0"));
	h->done = 0;
	if (!h->on)
		return;
	mallopt(M_TOP_PAD, TOP_PAD);
	uintptr_t start = heap_start(), top = (uintptr_t)sbrk(0);
	if (!start || top == (uintptr_t)-1 || top < start)
		start = top;
	if (!advise(start, top)) {
		h->on = false;
		return;
	}
	h->done = down(top) > start ? down(top) : start; /* never below the heap */
}

void iw_hugemem_tick(struct iw_hugemem *h)
{
	if (!h->on)
		return;
	uintptr_t top = (uintptr_t)sbrk(0);
	if (top == (uintptr_t)-1)
		return;
	if (down(top) < h->done) { /* the heap was trimmed: what grows again is advised anew */
		h->done = down(top);
		return;
	}
	if (down(top) > h->done) {
		advise(h->done, top);
		h->done = down(top);
	}
}
