/* lru.h - a bounded table keyed by strings, least recently used first: the tables a rule
 * keeps of its own (rules/README.md: bounded by limits.max_devices, strings copied).
 *
 * An entry is a caller's struct whose first member is a struct iw_lru_node; the table
 * allocates it zeroed, owns its key, and frees it. A chained hash finds entries, a list
 * in use order says which one to drop when the table is full. */
#ifndef IW_LRU_H
#define IW_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iw_lru_node {
	struct iw_lru_node *hnext;         /* hash chain */
	struct iw_lru_node *older, *newer; /* use order */
	uint64_t hash;
	char *key; /* the table's copy */
};

struct iw_lru {
	struct iw_lru_node **slot;
	size_t mask, n;                      /* slots - 1 (a power of two), entries */
	struct iw_lru_node *oldest, *newest; /* use order */
	size_t size;                         /* bytes of an entry, the node first */
	void (*drop)(void *entry);           /* frees what an entry owns; may be NULL */
};

/* An empty table of entries of size bytes (at least a node); drop is called on each
 * entry the table frees, before its memory goes. Aborts on allocation failure. */
void iw_lru_init(struct iw_lru *t, size_t size, void (*drop)(void *entry));

/* Frees every entry and the slots; the table may be initialised again. */
void iw_lru_free(struct iw_lru *t);

/* The entry of key, or NULL; its place in the use order is left alone. */
void *iw_lru_find(const struct iw_lru *t, const char *key);

/* The entry of key, made (zeroed but for its node) when absent, after dropping the
 * least recently used entries so that at most max (at least 1) remain with it; marked
 * most recently used either way. *created (may be NULL) says whether it is new. Aborts on
 * allocation failure. */
void *iw_lru_put(struct iw_lru *t, const char *key, uint64_t max, bool *created);

/* Drops one entry of t (from find or put). */
void iw_lru_del(struct iw_lru *t, void *entry);

#endif
