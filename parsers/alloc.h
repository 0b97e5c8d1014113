/* alloc.h - allocation, decided once (STYLE.md "Names, errors, comments"): a failure
 * prints one line and aborts, in every directory; nothing checks for NULL after these. */
#ifndef IW_ALLOC_H
#define IW_ALLOC_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static inline void iw_oom(void)
{
	fputs("iotwatch: out of memory\n", stderr);
	abort();
}

/* Zeroed memory for n objects of size bytes; at least one byte. */
static inline void *iw_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		iw_oom();
	return p;
}

static inline void *iw_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		iw_oom();
	return p;
}

static inline void *iw_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		iw_oom();
	return q;
}

#endif
