/* dnscache.c - (device, address) -> names: open addressing over compact slots, entries in
 * a pool numbered by uint32, one LRU list through the pool.
 *
 * What costs here is memory traffic: at the cap every add evicts, and the lookup made
 * once per flow mostly misses. So the table is an array of 8-byte slots (the key's
 * 32-bit hash and an entry number; linear probing, at most half full) and a miss reads
 * slots only: an entry is read when its hash matches. A deletion shifts the rest of its
 * probe run back, so there are no tombstones and runs stay short.
 *
 * An entry is 128 bytes, two cache lines: its use-order links, expiry and key in the
 * first, then its names (102 bytes with their NULs for an IPv4 device and answer, 78
 * for IPv6 ones); a name that does not fit gets an allocation of its own. Entries live
 * in chunks that never move; a dropped entry goes on a free list and the evicted
 * one is reused in place, so an add allocates nothing in the usual case. Slots and
 * chunks grow with the entries held, not with the cap. */
#include "dnscache.h"

#include <stdlib.h>
#include <string.h>

#include "../parsers/alloc.h"
#include "seed.h"

#define NAME_MAX_LEN 255
#define ENTRY_SIZE   128
#define CHUNK_SHIFT  12 /* 4096 entries, 512 KiB: few chunk pointers, so they stay in cache */
#define CHUNK        (1u << CHUNK_SHIFT)
#define MIN_SLOTS    64
#define MAX_ENTRIES  (1ULL << 31) /* twice that many slots still fit 32-bit hashes */
#define NONE         UINT32_MAX
#define NOT_FOUND    UINT64_MAX

enum { F_DEV6 = 1, F_ADDR6 = 2, F_CNAME = 4, F_QHEAP = 8, F_CHEAP = 16 };

struct entry {
	uint64_t expires_us;
	uint32_t older, newer; /* use order, NONE at either end; newer also links the free list */
	uint8_t flags;
	uint8_t qlen; /* the cname, when there is one, follows the qname's NUL */
	/* the device address then the answer address (4 or 16 bytes each), then the qname
	 * and the cname, each its bytes and NUL or, with F_QHEAP or F_CHEAP, a pointer */
	char buf[ENTRY_SIZE - 18];
};

_Static_assert(sizeof(struct entry) == ENTRY_SIZE, "an entry is two cache lines");

struct slot {
	uint32_t hash; /* of the entry's key; its home slot is hash & mask */
	uint32_t ref;  /* the entry's number plus one; 0: empty */
};

struct iw_dnscache {
	/* what every call reads, in the first cache line */
	struct slot *slots;
	uint64_t mask; /* slots - 1, a power of two */
	uint64_t hkey; /* the hash key (seed.h) */
	struct entry **chunks;
	uint32_t oldest, newest;
	uint32_t free; /* dropped entries, reused before a new number */
	uint64_t n, max;
	uint32_t used; /* entry numbers handed out so far */
	uint32_t nchunks, chunks_cap;
	uint64_t evicted;
	uint64_t heap; /* names in allocations of their own */
};

static struct entry *ent(const struct iw_dnscache *c, uint32_t i)
{
	return &c->chunks[i >> CHUNK_SHIFT][i & (CHUNK - 1)];
}

static size_t dev_len(unsigned fam)
{
	return fam & F_DEV6 ? 16 : 4;
}

static size_t addr_len(unsigned fam)
{
	return fam & F_ADDR6 ? 16 : 4;
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* An address as one word: only the bytes of its family count. */
static uint64_t fold(bool v6, const char *a)
{
	uint32_t w;
	uint64_t x, y;
	if (!v6) {
		memcpy(&w, a, 4);
		return w;
	}
	memcpy(&x, a, 8);
	memcpy(&y, a + 8, 8);
	return x ^ mix(y);
}

/* Keyed (seed.h): the answers, and so which pairs share a probe run, come off the wire. */
static uint32_t hash(const struct iw_dnscache *c, unsigned fam, const void *dev, const void *addr)
{
	uint64_t h = mix((fold(fam & F_DEV6, dev) ^ c->hkey) + ((uint64_t)fam << 32));
	return (uint32_t)mix(h ^ fold(fam & F_ADDR6, addr));
}

static uint32_t entry_hash(const struct iw_dnscache *c, const struct entry *e)
{
	unsigned fam = e->flags & (F_DEV6 | F_ADDR6);
	return hash(c, fam, e->buf, e->buf + dev_len(fam));
}

static bool same_key(const struct entry *e, unsigned fam, const uint8_t *dev, const uint8_t *addr)
{
	size_t dn = dev_len(fam);
	return (e->flags & (F_DEV6 | F_ADDR6)) == fam && !memcmp(e->buf, dev, dn) &&
	       !memcmp(e->buf + dn, addr, addr_len(fam));
}

/* The slot holding the key, or NOT_FOUND. Ends: at most half the slots are used. */
static uint64_t find(const struct iw_dnscache *c, uint32_t h, unsigned fam, const uint8_t *dev,
                     const uint8_t *addr)
{
	for (uint64_t i = h & c->mask;; i = (i + 1) & c->mask) {
		const struct slot *s = &c->slots[i];
		if (!s->ref)
			return NOT_FOUND;
		if (s->hash == h && same_key(ent(c, s->ref - 1), fam, dev, addr))
			return i;
	}
}

static uint64_t slot_of(const struct iw_dnscache *c, uint32_t i)
{
	uint64_t at = entry_hash(c, ent(c, i)) & c->mask;
	while (c->slots[at].ref != i + 1)
		at = (at + 1) & c->mask;
	return at;
}

static void slot_put(struct iw_dnscache *c, uint32_t h, uint32_t i)
{
	uint64_t at = h & c->mask;
	while (c->slots[at].ref)
		at = (at + 1) & c->mask;
	c->slots[at] = (struct slot){.hash = h, .ref = i + 1};
}

/* Empties slot at and moves later slots of the run back into the hole, so that every
 * key stays reachable from its home without crossing an empty slot. */
static void slot_remove(struct iw_dnscache *c, uint64_t at)
{
	for (uint64_t j = (at + 1) & c->mask; c->slots[j].ref; j = (j + 1) & c->mask) {
		uint64_t home = c->slots[j].hash & c->mask;
		/* j may move back to the hole unless its home lies after the hole */
		if (((j - home) & c->mask) >= ((j - at) & c->mask)) {
			c->slots[at] = c->slots[j];
			at = j;
		}
	}
	c->slots[at] = (struct slot){0};
}

/* Twice the slots; the hashes in them are all it needs, no entry is read. */
static void slots_grow(struct iw_dnscache *c)
{
	struct slot *old = c->slots;
	uint64_t n = c->mask + 1;
	c->slots = iw_calloc(2 * n, sizeof(*c->slots));
	c->mask = 2 * n - 1;
	for (uint64_t i = 0; i < n; i++)
		if (old[i].ref)
			slot_put(c, old[i].hash, old[i].ref - 1);
	free(old);
}

static void lru_unlink(struct iw_dnscache *c, uint32_t i)
{
	struct entry *e = ent(c, i);
	if (e->older != NONE)
		ent(c, e->older)->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer != NONE)
		ent(c, e->newer)->older = e->older;
	else
		c->newest = e->older;
}

static void lru_push(struct iw_dnscache *c, uint32_t i)
{
	struct entry *e = ent(c, i);
	e->older = c->newest;
	e->newer = NONE;
	if (c->newest != NONE)
		ent(c, c->newest)->newer = i;
	else
		c->oldest = i;
	c->newest = i;
}

/* The name stored at p, or, for one on the heap, the pointer to it stored there. */
static char *name_at(char *p, bool heap)
{
	if (!heap)
		return p;
	char *h;
	memcpy(&h, p, sizeof(h));
	return h;
}

static char *qname_of(struct entry *e)
{
	return name_at(e->buf + dev_len(e->flags) + addr_len(e->flags), e->flags & F_QHEAP);
}

static char *cname_of(struct entry *e)
{
	if (!(e->flags & F_CNAME))
		return NULL;
	char *p = e->buf + dev_len(e->flags) + addr_len(e->flags);
	p += e->flags & F_QHEAP ? sizeof(char *) : e->qlen + 1u;
	return name_at(p, e->flags & F_CHEAP);
}

static void names_free(struct iw_dnscache *c, struct entry *e)
{
	if (e->flags & F_QHEAP) {
		free(qname_of(e));
		c->heap--;
	}
	if (e->flags & F_CHEAP) {
		free(cname_of(e));
		c->heap--;
	}
}

/* n bytes starting on a cache line. */
static void *lines_alloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) / 64 * 64);
	if (!p)
		iw_oom();
	return p;
}

/* A number for a new entry; only called below the cap, so one is left. */
static uint32_t entry_new(struct iw_dnscache *c)
{
	uint32_t i = c->free;
	if (i != NONE) {
		c->free = ent(c, i)->newer;
		return i;
	}
	i = c->used++;
	if (!(i & (CHUNK - 1))) {
		if (c->nchunks == c->chunks_cap) {
			c->chunks_cap = c->chunks_cap ? 2 * c->chunks_cap : 8;
			c->chunks = iw_realloc(c->chunks, c->chunks_cap * sizeof(*c->chunks));
		}
		/* the last chunk holds only what the cap leaves: a small cap takes little */
		uint64_t k = c->max - i < CHUNK ? c->max - i : CHUNK;
		c->chunks[c->nchunks++] = lines_alloc(k * sizeof(struct entry));
	}
	return i;
}

static size_t cut(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > NAME_MAX_LEN ? NAME_MAX_LEN : n;
}

/* The n bytes of s and a NUL at p, or at p a pointer to them; returns the bytes used at p. */
static size_t name_put(struct iw_dnscache *c, char *p, const char *s, size_t n, bool heap)
{
	char *d = p;
	if (heap) {
		d = iw_malloc(n + 1);
		memcpy(p, &d, sizeof(d));
		c->heap++;
	}
	memcpy(d, s, n);
	d[n] = '\0';
	return heap ? sizeof(d) : n + 1;
}

static void entry_fill(struct iw_dnscache *c, struct entry *e, unsigned fam, const uint8_t *dev,
                       const uint8_t *addr, const char *qname, const char *cname, uint64_t expires_us)
{
	size_t dn = dev_len(fam), an = addr_len(fam), room = sizeof(e->buf) - dn - an;
	size_t qn = cut(qname), cn = cname && strcmp(cname, qname) ? cut(cname) : 0;
	size_t qs = qn + 1, cs = cn ? cn + 1 : 0, ptr = sizeof(char *);
	bool qheap = false, cheap = false;
	if (qs + cs > room) {
		/* keep inline what fits, so one long name does not take the other along */
		if (cs && qs + ptr <= room)
			cheap = true;
		else if (cs + ptr <= room)
			qheap = true;
		else
			qheap = cheap = true;
	}
	e->expires_us = expires_us;
	e->flags = (uint8_t)(fam | (cn ? F_CNAME : 0) | (qheap ? F_QHEAP : 0) | (cheap ? F_CHEAP : 0));
	e->qlen = (uint8_t)qn;
	memcpy(e->buf, dev, dn);
	memcpy(e->buf + dn, addr, an);
	char *p = e->buf + dn + an;
	p += name_put(c, p, qname, qn, qheap);
	if (cn)
		name_put(c, p, cname, cn, cheap);
}

struct iw_dnscache *iw_dnscache_new(uint64_t max)
{
	struct iw_dnscache *c = lines_alloc(sizeof(*c));
	memset(c, 0, sizeof(*c));
	c->max = max < 1 ? 1 : max > MAX_ENTRIES ? MAX_ENTRIES : max;
	c->slots = iw_calloc(MIN_SLOTS, sizeof(*c->slots));
	c->mask = MIN_SLOTS - 1;
	c->free = c->oldest = c->newest = NONE;
	c->hkey = iw_seed();
	return c;
}

void iw_dnscache_free(struct iw_dnscache *c)
{
	if (!c)
		return;
	/* only long names need a walk over every entry */
	for (uint32_t i = c->oldest; i != NONE && c->heap; i = ent(c, i)->newer)
		names_free(c, ent(c, i));
	for (uint32_t k = 0; k < c->nchunks; k++)
		free(c->chunks[k]);
	free(c->chunks);
	free(c->slots);
	free(c);
}

static unsigned families(int dfam, int afam)
{
	return (dfam == 6 ? F_DEV6 : 0) | (afam == 6 ? F_ADDR6 : 0);
}

/* Entry i, in slot at, leaves the table and the use order; its names are freed. */
static void unhook(struct iw_dnscache *c, uint64_t at, uint32_t i)
{
	slot_remove(c, at);
	lru_unlink(c, i);
	names_free(c, ent(c, i));
}

void iw_dnscache_add(struct iw_dnscache *c, int dfam, const uint8_t *dev, int afam, const uint8_t *addr,
                     const char *qname, const char *cname, uint32_t ttl, uint64_t now_us)
{
	if ((dfam != 4 && dfam != 6) || (afam != 4 && afam != 6) || !qname)
		return;
	unsigned fam = families(dfam, afam);
	uint32_t h = hash(c, fam, dev, addr);
	uint64_t at = find(c, h, fam, dev, addr);
	uint32_t i;
	if (at != NOT_FOUND) {
		/* a new answer for the pair: its slot stays, the rest is as for a new entry */
		i = c->slots[at].ref - 1;
		lru_unlink(c, i);
		names_free(c, ent(c, i));
	} else {
		if (c->n >= c->max) {
			i = c->oldest; /* reused in place: its cache lines are the ones written next */
			unhook(c, slot_of(c, i), i);
			c->evicted++;
		} else {
			i = entry_new(c);
			if (2 * (c->n + 1) > c->mask + 1)
				slots_grow(c);
			c->n++;
		}
		slot_put(c, h, i);
	}
	entry_fill(c, ent(c, i), fam, dev, addr, qname, cname,
	           now_us + ((uint64_t)ttl + IW_DNSCACHE_GRACE_S) * 1000000);
	lru_push(c, i);
}

bool iw_dnscache_lookup(struct iw_dnscache *c, int dfam, const uint8_t *dev, int afam, const uint8_t *addr,
                        uint64_t now_us, const char **qname, const char **cname)
{
	if ((dfam != 4 && dfam != 6) || (afam != 4 && afam != 6))
		return false;
	unsigned fam = families(dfam, afam);
	uint64_t at = find(c, hash(c, fam, dev, addr), fam, dev, addr);
	if (at == NOT_FOUND)
		return false;
	uint32_t i = c->slots[at].ref - 1;
	struct entry *e = ent(c, i);
	if (now_us > e->expires_us) {
		unhook(c, at, i);
		e->newer = c->free;
		c->free = i;
		c->n--;
		return false;
	}
	if (c->newest != i) {
		lru_unlink(c, i);
		lru_push(c, i);
	}
	*qname = qname_of(e);
	*cname = cname_of(e);
	return true;
}

uint64_t iw_dnscache_size(const struct iw_dnscache *c)
{
	return c->n;
}

uint64_t iw_dnscache_evicted(const struct iw_dnscache *c)
{
	return c->evicted;
}
