/* lru.c - a bounded string-keyed table in use order (lru.h). */
#include "lru.h"

#include <stdlib.h>
#include <string.h>

#include "../parsers/alloc.h"

#define FIRST_SLOTS 16

static uint64_t hash_key(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h ^ (h >> 31);
}

void iw_lru_init(struct iw_lru *t, size_t size, void (*drop)(void *entry))
{
	memset(t, 0, sizeof(*t));
	t->size = size < sizeof(struct iw_lru_node) ? sizeof(struct iw_lru_node) : size;
	t->drop = drop;
	t->mask = FIRST_SLOTS - 1;
	t->slot = iw_calloc(FIRST_SLOTS, sizeof(*t->slot));
}

static void unlink_use(struct iw_lru *t, struct iw_lru_node *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void append_use(struct iw_lru *t, struct iw_lru_node *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static void release(struct iw_lru *t, struct iw_lru_node *e)
{
	if (t->drop)
		t->drop(e);
	free(e->key);
	free(e);
}

void iw_lru_free(struct iw_lru *t)
{
	for (struct iw_lru_node *e = t->oldest, *next; e; e = next) {
		next = e->newer;
		release(t, e);
	}
	free(t->slot);
	t->slot = NULL;
	t->oldest = t->newest = NULL;
	t->n = 0;
}

static struct iw_lru_node *lookup(const struct iw_lru *t, const char *key, uint64_t h)
{
	for (struct iw_lru_node *e = t->slot[h & t->mask]; e; e = e->hnext)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

void *iw_lru_find(const struct iw_lru *t, const char *key)
{
	if (!key || !t->slot)
		return NULL;
	return lookup(t, key, hash_key(key));
}

static void grow(struct iw_lru *t)
{
	size_t cap = (t->mask + 1) * 2;
	struct iw_lru_node **s = iw_calloc(cap, sizeof(*s));
	for (struct iw_lru_node *e = t->oldest; e; e = e->newer) {
		e->hnext = s[e->hash & (cap - 1)];
		s[e->hash & (cap - 1)] = e;
	}
	free(t->slot);
	t->slot = s;
	t->mask = cap - 1;
}

void iw_lru_del(struct iw_lru *t, void *entry)
{
	struct iw_lru_node *e = entry;
	if (!e)
		return;
	for (struct iw_lru_node **p = &t->slot[e->hash & t->mask]; *p; p = &(*p)->hnext) {
		if (*p == e) {
			*p = e->hnext;
			break;
		}
	}
	unlink_use(t, e);
	t->n--;
	release(t, e);
}

void *iw_lru_put(struct iw_lru *t, const char *key, uint64_t max, bool *created)
{
	uint64_t h = hash_key(key);
	struct iw_lru_node *e = lookup(t, key, h);
	if (created)
		*created = e == NULL;
	if (e) {
		unlink_use(t, e);
		append_use(t, e);
		return e;
	}
	if (max == 0)
		max = 1;
	while (t->n >= max && t->oldest)
		iw_lru_del(t, t->oldest);
	if (t->n >= t->mask + 1)
		grow(t);
	e = iw_calloc(1, t->size);
	size_t kl = strlen(key);
	e->key = iw_malloc(kl + 1);
	memcpy(e->key, key, kl + 1);
	e->hash = h;
	e->hnext = t->slot[h & t->mask];
	t->slot[h & t->mask] = e;
	append_use(t, e);
	t->n++;
	return e;
}
