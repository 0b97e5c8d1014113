/* dnscache.c - (device, address) -> names, a chained hash table with one LRU list.
 *
 * Entries are few compared with flows (one per distinct answer address a device used),
 * so a plain design: a power-of-two bucket array sized for the cap, each entry owning
 * its two names in one allocation. Expired entries are dropped when found. */
#include "dnscache.h"

#include <stdlib.h>
#include <string.h>

#include "../parsers/alloc.h"

#define NAME_MAX_LEN 255

struct entry {
	struct entry *hnext, **hprev; /* hprev: the pointer to it, so it leaves without a search */
	struct entry *older, *newer;
	uint8_t dfam, afam;
	uint8_t dev[16], addr[16];
	uint64_t expires_us;
	char *cname; /* points into qname's allocation, or NULL */
	char qname[];
};

struct iw_dnscache {
	struct entry **buckets;
	uint64_t mask;
	uint64_t n, max, evicted;
	struct entry *oldest, *newest;
};

static uint64_t hash(int dfam, const uint8_t *dev, int afam, const uint8_t *addr)
{
	/* FNV-1a over the two addresses: only the bytes of each family */
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)(dfam * 31 + afam);
	size_t dn = dfam == 6 ? 16 : 4, an = afam == 6 ? 16 : 4;
	for (size_t i = 0; i < dn; i++)
		h = (h ^ dev[i]) * 1099511628211ULL;
	for (size_t i = 0; i < an; i++)
		h = (h ^ addr[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

struct iw_dnscache *iw_dnscache_new(uint64_t max)
{
	struct iw_dnscache *c = iw_calloc(1, sizeof(*c));
	c->max = max ? max : 1;
	uint64_t nb = 64;
	while (nb < c->max && nb < (1ULL << 24))
		nb <<= 1;
	c->buckets = iw_calloc(nb, sizeof(*c->buckets));
	c->mask = nb - 1;
	return c;
}

void iw_dnscache_free(struct iw_dnscache *c)
{
	if (!c)
		return;
	for (struct entry *e = c->oldest, *next; e; e = next) {
		next = e->newer;
		free(e);
	}
	free(c->buckets);
	free(c);
}

static void lru_unlink(struct iw_dnscache *c, struct entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_push(struct iw_dnscache *c, struct entry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
}

static struct entry *find(struct iw_dnscache *c, uint64_t h, int dfam, const uint8_t *dev, int afam,
                          const uint8_t *addr)
{
	size_t dn = dfam == 6 ? 16 : 4, an = afam == 6 ? 16 : 4;
	for (struct entry *e = c->buckets[h & c->mask]; e; e = e->hnext)
		if (e->dfam == dfam && e->afam == afam && !memcmp(e->dev, dev, dn) &&
		    !memcmp(e->addr, addr, an))
			return e;
	return NULL;
}

static void drop(struct iw_dnscache *c, struct entry *e)
{
	*e->hprev = e->hnext;
	if (e->hnext)
		e->hnext->hprev = e->hprev;
	lru_unlink(c, e);
	free(e);
	c->n--;
}

static size_t cut(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > NAME_MAX_LEN ? NAME_MAX_LEN : n;
}

void iw_dnscache_add(struct iw_dnscache *c, int dfam, const uint8_t *dev, int afam, const uint8_t *addr,
                     const char *qname, const char *cname, uint32_t ttl, uint64_t now_us)
{
	if ((dfam != 4 && dfam != 6) || (afam != 4 && afam != 6) || !qname)
		return;
	uint64_t h = hash(dfam, dev, afam, addr);
	struct entry *old = find(c, h, dfam, dev, afam, addr);
	if (old) {
		drop(c, old);
	} else if (c->n >= c->max) {
		drop(c, c->oldest);
		c->evicted++;
	}
	size_t qn = cut(qname), cn = cname && strcmp(cname, qname) ? cut(cname) : 0;
	struct entry *e = iw_calloc(1, sizeof(*e) + qn + 1 + (cn ? cn + 1 : 0));
	e->dfam = (uint8_t)dfam;
	e->afam = (uint8_t)afam;
	memcpy(e->dev, dev, dfam == 6 ? 16 : 4);
	memcpy(e->addr, addr, afam == 6 ? 16 : 4);
	e->expires_us = now_us + ((uint64_t)ttl + IW_DNSCACHE_GRACE_S) * 1000000;
	memcpy(e->qname, qname, qn);
	e->qname[qn] = '\0';
	if (cn) {
		e->cname = e->qname + qn + 1;
		memcpy(e->cname, cname, cn);
		e->cname[cn] = '\0';
	}
	struct entry **head = &c->buckets[h & c->mask];
	e->hnext = *head;
	e->hprev = head;
	if (*head)
		(*head)->hprev = &e->hnext;
	*head = e;
	lru_push(c, e);
	c->n++;
}

bool iw_dnscache_lookup(struct iw_dnscache *c, int dfam, const uint8_t *dev, int afam, const uint8_t *addr,
                        uint64_t now_us, const char **qname, const char **cname)
{
	if ((dfam != 4 && dfam != 6) || (afam != 4 && afam != 6))
		return false;
	struct entry *e = find(c, hash(dfam, dev, afam, addr), dfam, dev, afam, addr);
	if (!e)
		return false;
	if (now_us > e->expires_us) {
		drop(c, e);
		return false;
	}
	lru_unlink(c, e);
	lru_push(c, e);
	*qname = e->qname;
	*cname = e->cname;
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
