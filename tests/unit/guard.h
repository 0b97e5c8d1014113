/* guard.h - test helper: places input flush against an unreadable page (mmap + mprotect)
 * so that a parser reading one byte past the end faults at once (STYLE.md "Tests next to
 * the code they test"). Shared by test_packet.c and test_probe.c. */
#ifndef IW_TEST_GUARD_H
#define IW_TEST_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Readable pages followed by one PROT_NONE page. */
struct guard {
	uint8_t *base;  /* start of the mapping */
	uint8_t *fence; /* first byte of the unreadable page */
	size_t size;    /* whole mapping */
};

/* Maps enough readable pages for max_len bytes, then the guard page. Aborts on failure:
 * a test that cannot set up its guard must not pass silently. */
static inline struct guard guard_new(size_t max_len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t readable = (max_len + page - 1) / page * page;
	if (readable == 0)
		readable = page;
	struct guard g;
	g.size = readable + page;
	void *m = mmap(NULL, g.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("guard: mmap");
		abort();
	}
	g.base = m;
	g.fence = g.base + readable;
	if (mprotect(g.fence, page, PROT_NONE) != 0) {
		perror("guard: mprotect");
		abort();
	}
	return g;
}

/* Copies len bytes so that the last one sits just before the unreadable page; returns
 * where they start. The copy stays valid until the next guard_put or guard_free. */
static inline const uint8_t *guard_put(struct guard *g, const uint8_t *data, size_t len)
{
	if (len > (size_t)(g->fence - g->base)) {
		fputs("guard: input larger than the guard's readable pages\n", stderr);
		abort();
	}
	uint8_t *at = g->fence - len;
	if (len)
		memcpy(at, data, len);
	return at;
}

static inline void guard_free(struct guard *g)
{
	munmap(g->base, g->size);
	g->base = g->fence = NULL;
	g->size = 0;
}

#endif
