/* store.c - device state in memory, mirrored to Redis when configured (store.h).
 *
 * Three tables, each a hash on a string key with an intrusive list in age order:
 * devices (least recently seen first, bounded by max_devices), set members (per set,
 * oldest score first, so a sliding window drops from the front), and alert keys (oldest
 * first, each expiring a day after it was claimed). Every bound evicts from the front of
 * its list, so memory stays within a fixed multiple of limits.max_devices. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "../parsers/alloc.h"
#include "seed.h"

#define DAY_US        (86400ull * 1000000)
#define SYNC_EVERY_US (900ull * 1000000) /* a device's last_seen reaches Redis this often */
#define DEV_ADDRS     4                  /* addresses kept per device */
#define DEV_ID_INLINE 32                 /* device ids shorter than this live in the record */

/* ---- a hash of named nodes ---- */

/* Open addressing with linear probing over (hash, node) slots, at most half full: a
 * lookup reads one line of slots and then only the node whose full hash matches. A
 * chained table read every node of the chain first, each a cache miss in a record
 * hundreds of bytes away (a device's lookup was most of op_seen's time). Deleting
 * shifts the run after the slot back (no tombstones), so every probe stops at the
 * first empty slot. */

struct node {
	uint64_t hash;
	char *key;
};

struct slot {
	uint64_t hash;
	struct node *n; /* NULL: empty */
};

struct table {
	struct slot *s;
	size_t mask, n;
};

/* FNV-1a from a keyed basis, then a full mix (murmur3's finaliser): the slot bits
 * depend on every byte and on the key (seed.h). */
static uint64_t hash_str(uint64_t key, const char *s)
{
	uint64_t h = 1469598103934665603ull ^ key;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static void table_init(struct table *t)
{
	t->mask = 255;
	t->n = 0;
	t->s = iw_calloc(t->mask + 1, sizeof(*t->s));
}

static struct node *table_find(const struct table *t, const char *key, uint64_t h)
{
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		const struct slot *sl = &t->s[i];
		if (!sl->n)
			return NULL;
		if (sl->hash == h && !strcmp(sl->n->key, key))
			return sl->n;
	}
}

static void slot_put(struct slot *s, size_t mask, struct node *n)
{
	size_t i = n->hash & mask;
	while (s[i].n)
		i = (i + 1) & mask;
	s[i] = (struct slot){n->hash, n};
}

static void table_grow(struct table *t)
{
	size_t cap = (t->mask + 1) * 2;
	struct slot *s = iw_calloc(cap, sizeof(*s));
	for (size_t i = 0; i <= t->mask; i++)
		if (t->s[i].n)
			slot_put(s, cap - 1, t->s[i].n);
	free(t->s);
	t->s = s;
	t->mask = cap - 1;
}

/* n->key and n->hash set by the caller. */
static void table_add(struct table *t, struct node *n)
{
	if (2 * (t->n + 1) > t->mask + 1)
		table_grow(t);
	slot_put(t->s, t->mask, n);
	t->n++;
}

static void table_del(struct table *t, struct node *n)
{
	size_t i = n->hash & t->mask;
	while (t->s[i].n != n) {
		if (!t->s[i].n)
			return; /* not in the table */
		i = (i + 1) & t->mask;
	}
	/* move back every later slot of the run whose home is not between the hole and it */
	for (size_t j = (i + 1) & t->mask; t->s[j].n; j = (j + 1) & t->mask) {
		size_t home = t->s[j].hash & t->mask;
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->s[i] = t->s[j];
			i = j;
		}
	}
	t->s[i] = (struct slot){0, NULL};
	t->n--;
}

/* ---- the records ---- */

/* What op_seen reads on every call comes first, in the record's first two cache lines
 * (the sensor prefetches those); the strings and addresses follow. */
/* The fields of a device's Redis hash that changed since the last push: only those
 * travel (with last_seen), but for a new hash, the daily TTL refresh and a resync. */
enum {
	D_IP = 1 << 0,
	D_CLIENT_ID = 1 << 1,
	D_CERT_CN = 1 << 2,
	D_CERT_FP = 1 << 3,
	D_NOT_AFTER = 1 << 4,
	D_REGION = 1 << 5,
	D_PROTOS = 1 << 6,
	D_OPENS = 1 << 7,
	D_ALL = (1 << 8) - 1,
};

struct dev {
	struct node n;          /* key: the device id, in id[] when it fits, else after the record */
	char id[DEV_ID_INLINE]; /* in the line the lookup reads anyway: its strcmp costs no miss */
	struct dev *prev, *next;
	uint64_t last_us;
	uint64_t writer_flow; /* the flow whose identity strings the record took last */
	uint32_t protos;
	uint16_t dirty;                                       /* D_ fields changed since the last push */
	bool queued;                                          /* in st->push */
	uint32_t h_client_id, h_cert_cn, h_cert_fp, h_region; /* their hashes: compared first */
	uint64_t first_us, synced_us, cert_not_after_us, tunnel_opens;
	uint64_t expired_us;         /* when its Redis TTL was last set (packet time), 0: never */
	struct dev *q_prev, *q_next; /* in st->push while queued for Redis */
	char *client_id, *cert_cn, *cert_fp, *region;
	char ip[48];               /* the address it was seen at last */
	char addrs[DEV_ADDRS][48]; /* the distinct addresses it used, most recent first */
	unsigned n_addrs;
};

struct set;

struct member {
	struct node n; /* key: "<set name>\x1f<member>" */
	struct member *prev, *next;
	struct set *set;
	const char *name; /* the member part of the key */
	uint64_t ts_us;
};

struct set {
	struct node n; /* key: the set name */
	struct set *prev, *next;
	struct member *head, *tail;
	uint64_t count, fleet, window_us, ttl_us, last_us;
	uint64_t trimmed_us, expired_us; /* packet time of the last trim and TTL sent to Redis */
};

struct akey {
	struct node n; /* key: "<rule>:<key>" */
	struct akey *prev, *next;
	uint64_t until_us;
};

/* A doubly linked list in age order with head and tail, through the links p and n of
 * its elements (LIST_UNLINK and LIST_APPEND: prev and next). */
#define LIST_UNLINK_BY(l, x, p, n)                                                                           \
	do {                                                                                                 \
		if ((x)->p)                                                                                  \
			(x)->p->n = (x)->n;                                                                  \
		else                                                                                         \
			(l)->head = (x)->n;                                                                  \
		if ((x)->n)                                                                                  \
			(x)->n->p = (x)->p;                                                                  \
		else                                                                                         \
			(l)->tail = (x)->p;                                                                  \
		(x)->p = (x)->n = NULL;                                                                      \
	} while (0)
#define LIST_APPEND_BY(l, x, p, n)                                                                           \
	do {                                                                                                 \
		(x)->n = NULL;                                                                               \
		(x)->p = (l)->tail;                                                                          \
		if ((l)->tail)                                                                               \
			(l)->tail->n = (x);                                                                  \
		else                                                                                         \
			(l)->head = (x);                                                                     \
		(l)->tail = (x);                                                                             \
	} while (0)
#define LIST_UNLINK(l, x) LIST_UNLINK_BY(l, x, prev, next)
#define LIST_APPEND(l, x) LIST_APPEND_BY(l, x, prev, next)

struct dev_list {
	struct dev *head, *tail;
};

struct set_list {
	struct set *head, *tail;
};
struct akey_list {
	struct akey *head, *tail;
};

struct iw_store {
	struct iw_state pub; /* first: the rules' view */
	struct iw_store_cfg cfg;
	uint64_t hkey; /* the tables' hash key (seed.h) */
	struct table devs, sets, members, akeys;
	struct dev_list dev_lru; /* least recently seen first */
	/* devices with something for Redis, pushed together at the next tick: the events
	 * of one visit (often several kinds at once) make one HSET, not one each */
	struct dev_list push;
	struct set_list set_lru;   /* least recently added to first */
	struct akey_list akey_age; /* oldest claim first */
	uint64_t max_members, max_akeys, now_us;
	uint64_t devices_evicted, members_dropped, claims_pending, claims_lost;
	uint64_t dev_epoch; /* one more each time a record is freed: older hints are void */
	struct iw_redis *redis;
	void (*claim_fn)(void *arg, uint64_t token, bool won);
	void *claim_arg;
};

/* ---- devices ---- */

static void dev_free(struct dev *d)
{
	/* the key is in the same allocation */
	free(d->client_id);
	free(d->cert_cn);
	free(d->cert_fp);
	free(d->region);
	free(d);
}

/* Replaces *slot with a copy of v when they differ; true when it changed. The hashes are
 * compared, not the strings: the record's copy is cold in the cache, the event's hot. */
static bool set_str(char **slot, uint32_t *hslot, const char *v)
{
	if (!v)
		return false;
	uint32_t h = 2166136261u;
	for (const char *p = v; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	/* the hash spares reading the string when it changed; an equal hash is only a hint
	 * (FNV is easy to collide: a client id chosen to match would keep the old one) */
	if (*slot && h == *hslot && !strcmp(*slot, v))
		return false;
	*hslot = h;
	free(*slot);
	*slot = strdup(v);
	if (!*slot)
		iw_oom();
	return true;
}

/* The record to Redis: last_seen and the fields that changed since the last push; every
 * field for a new hash, when its TTL is refreshed (once a day of packet time) or when
 * force says Redis may have lost it. */
static void dev_push(struct iw_store *st, struct dev *d, bool force)
{
	if (!st->redis)
		return;
	const char *f[12], *v[12];
	char first[32], last[32], notafter[32], protos[160], opens[24];
	unsigned n = 0;
	iw_json_fmt_time(d->last_us, last, sizeof(last));
	bool expire = force || !d->expired_us || d->last_us >= d->expired_us + DAY_US;
	if (!d->dirty && !expire) {
		f[0] = "last_seen", v[0] = last;
		iw_redis_device(st->redis, d->n.key, f, v, 1, false);
		d->synced_us = d->last_us;
		return;
	}
	if (expire) { /* it never changes: in the hash from the first push */
		iw_json_fmt_time(d->first_us, first, sizeof(first));
		f[n] = "first_seen", v[n++] = first;
	}
	f[n] = "last_seen", v[n++] = last;
	unsigned m = expire ? D_ALL : d->dirty;
	if ((m & D_IP) && d->ip[0])
		f[n] = "ip", v[n++] = d->ip;
	if ((m & D_CLIENT_ID) && d->client_id)
		f[n] = "client_id", v[n++] = d->client_id;
	if ((m & D_CERT_CN) && d->cert_cn)
		f[n] = "cert_cn", v[n++] = d->cert_cn;
	if ((m & D_CERT_FP) && d->cert_fp)
		f[n] = "cert_fp", v[n++] = d->cert_fp;
	if ((m & D_NOT_AFTER) && d->cert_not_after_us) {
		iw_json_fmt_time(d->cert_not_after_us, notafter, sizeof(notafter));
		f[n] = "cert_not_after", v[n++] = notafter;
	}
	if ((m & D_REGION) && d->region)
		f[n] = "region", v[n++] = d->region;
	if (m & D_PROTOS) {
		size_t off = 0;
		protos[0] = '\0';
		for (int k = 0; k < IW_EV__COUNT; k++)
			if (d->protos & (1u << k))
				off += (size_t)snprintf(protos + off, sizeof(protos) - off, "%s%s",
				                        off ? "," : "",
				                        iw_event_kind_name((enum iw_event_kind)k));
		f[n] = "protocols", v[n++] = protos;
	}
	if (m & D_OPENS) {
		snprintf(opens, sizeof(opens), "%llu", (unsigned long long)d->tunnel_opens);
		f[n] = "tunnel_opens", v[n++] = opens;
	}
	iw_redis_device(st->redis, d->n.key, f, v, n, expire);
	if (expire)
		d->expired_us = d->last_us ? d->last_us : 1;
	d->dirty = 0;
	d->synced_us = d->last_us;
}

static void push_unqueue(struct iw_store *st, struct dev *d)
{
	if (!d->queued)
		return;
	LIST_UNLINK_BY(&st->push, d, q_prev, q_next);
	d->queued = false;
}

static void push_queue(struct iw_store *st, struct dev *d)
{
	if (d->queued)
		return;
	d->queued = true;
	LIST_APPEND_BY(&st->push, d, q_prev, q_next);
}

/* Pushes what is queued (at a tick, before an eviction, at the end). */
static void push_flush(struct iw_store *st)
{
	while (st->push.head) {
		struct dev *d = st->push.head;
		push_unqueue(st, d);
		dev_push(st, d, false);
	}
}

static void op_seen(struct iw_state *pub, const struct iw_dev_seen *s)
{
	struct iw_store *st = (struct iw_store *)pub;
	struct dev *d = NULL;
	/* told the same identity by the same flow last time: its strings are as they were */
	bool same = false;
	if (s->dev && s->hint && s->hint->rec && s->hint->epoch == st->dev_epoch) {
		d = s->hint->rec; /* the caller vouches that it is still this device's */
		same = s->flow_id && d->writer_flow == s->flow_id;
	}
	if (!d && (!s->dev || !s->dev->id || !*s->dev->id))
		return;
	uint64_t h = d ? d->n.hash : hash_str(st->hkey, s->dev->id);
	if (!d)
		d = (struct dev *)table_find(&st->devs, s->dev->id, h);
	if (!d) {
		if (st->devs.n >= st->cfg.max_devices && st->dev_lru.head) {
			struct dev *old = st->dev_lru.head;
			if (old->queued) { /* its news goes before it does */
				push_unqueue(st, old);
				dev_push(st, old, false);
			}
			LIST_UNLINK(&st->dev_lru, old);
			table_del(&st->devs, &old->n);
			dev_free(old);
			st->dev_epoch++;
			st->devices_evicted++;
		}
		size_t idlen = strlen(s->dev->id);
		bool inl = idlen < DEV_ID_INLINE;
		d = iw_calloc(1, sizeof(*d) + (inl ? 0 : idlen + 1));
		d->n.key = inl ? d->id : (char *)(d + 1);
		memcpy(d->n.key, s->dev->id, idlen + 1);
		d->n.hash = h;
		d->first_us = s->ts_us;
		d->dirty = D_ALL;
		table_add(&st->devs, &d->n);
		LIST_APPEND(&st->dev_lru, d);
	} else if (s->ts_us >= d->last_us + 1000000 || s->ts_us < d->last_us) {
		/* to the young end at most once a second: the order is right to the second */
		LIST_UNLINK(&st->dev_lru, d);
		LIST_APPEND(&st->dev_lru, d);
	}
	if (s->ts_us > d->last_us)
		d->last_us = s->ts_us;
	if (!same && s->dev->ip && strcmp(d->ip, s->dev->ip)) {
		size_t n = strnlen(s->dev->ip, sizeof(d->ip) - 1);
		memcpy(d->ip, s->dev->ip, n);
		d->ip[n] = '\0';
		d->dirty |= D_IP;
		/* to the front of the list of addresses, the oldest dropped when it is full */
		unsigned k = 0;
		while (k < d->n_addrs && strcmp(d->addrs[k], d->ip))
			k++;
		if (k == d->n_addrs && d->n_addrs < DEV_ADDRS)
			d->n_addrs++;
		if (k == DEV_ADDRS)
			k--;
		memmove(d->addrs[1], d->addrs[0], k * sizeof(d->addrs[0]));
		memcpy(d->addrs[0], d->ip, sizeof(d->ip));
	}
	if (!same) {
		if (set_str(&d->client_id, &d->h_client_id, s->dev->client_id))
			d->dirty |= D_CLIENT_ID;
		if (set_str(&d->cert_cn, &d->h_cert_cn, s->dev->cert_cn))
			d->dirty |= D_CERT_CN;
		d->writer_flow = s->flow_id;
	}
	if (set_str(&d->cert_fp, &d->h_cert_fp, s->cert_fp))
		d->dirty |= D_CERT_FP;
	if (set_str(&d->region, &d->h_region, s->region))
		d->dirty |= D_REGION;
	if (s->cert_not_after_us && s->cert_not_after_us != d->cert_not_after_us) {
		d->cert_not_after_us = s->cert_not_after_us;
		d->dirty |= D_NOT_AFTER;
	}
	if ((d->protos | s->proto) != d->protos) {
		d->protos |= s->proto;
		d->dirty |= D_PROTOS;
	}
	if (s->tunnel_open) {
		d->tunnel_opens++;
		d->dirty |= D_OPENS;
	}
	if (st->redis && (d->dirty || d->last_us - d->synced_us >= SYNC_EVERY_US))
		push_queue(st, d);
	if (s->hint) {
		s->hint->rec = d;
		s->hint->epoch = st->dev_epoch;
	}
}

/* ---- sets ---- */

static void member_free(struct iw_store *st, struct member *m)
{
	struct set *s = m->set;
	LIST_UNLINK(s, m);
	table_del(&st->members, &m->n);
	s->count--;
	free(m->n.key);
	free(m);
}

static void set_free(struct iw_store *st, struct set *s)
{
	while (s->head)
		member_free(st, s->head);
	LIST_UNLINK(&st->set_lru, s);
	table_del(&st->sets, &s->n);
	free(s->n.key);
	free(s);
}

/* What a set's key needs besides the add: a window is trimmed (its members older than
 * the window removed: memory only, the count reads the window either side of the add) a
 * quarter window after the last trim, and the TTL set again an eighth of it after the
 * last time (so an idle key lives at least 7/8 of its TTL after its last add), both on
 * packet time; a clock that went back does both. Not at every add: on a busy set they
 * were two of its four commands. */
static unsigned upkeep_due(const struct set *s, uint64_t ts_us)
{
	unsigned u = 0;
	if (s->window_us &&
	    (!s->trimmed_us || ts_us < s->trimmed_us || ts_us - s->trimmed_us >= s->window_us / 4))
		u |= IW_REDIS_TRIM;
	if (!s->expired_us || ts_us < s->expired_us || ts_us - s->expired_us >= s->ttl_us / 8)
		u |= IW_REDIS_EXPIRE;
	return u;
}

/* One member to Redis; what it sent of the upkeep is remembered (nothing when the
 * command could not be queued: the next add tries again). */
static void set_send(struct iw_store *st, struct set *s, const char *member, uint64_t ts_us, unsigned upkeep)
{
	if (!iw_redis_set_add(st->redis, s->n.key, member, ts_us, s->window_us, s->ttl_us / 1000000, upkeep))
		return;
	if (upkeep & IW_REDIS_TRIM)
		s->trimmed_us = ts_us ? ts_us : 1;
	if (upkeep & IW_REDIS_EXPIRE)
		s->expired_us = ts_us ? ts_us : 1;
}

static uint64_t op_set_add(struct iw_state *pub, const char *name, const char *member, uint64_t ts_us,
                           uint64_t window_us, uint64_t ttl_s)
{
	struct iw_store *st = (struct iw_store *)pub;
	if (!name || !member)
		return 0;
	uint64_t h = hash_str(st->hkey, name);
	struct set *s = (struct set *)table_find(&st->sets, name, h);
	if (!s) {
		s = iw_calloc(1, sizeof(*s));
		s->n.key = strdup(name);
		if (!s->n.key)
			iw_oom();
		s->n.hash = h;
		table_add(&st->sets, &s->n);
	} else {
		LIST_UNLINK(&st->set_lru, s);
	}
	LIST_APPEND(&st->set_lru, s);
	s->window_us = window_us;
	s->ttl_us = (ttl_s ? ttl_s : st->cfg.ttl_s) * 1000000;
	if (ts_us > s->last_us)
		s->last_us = ts_us;
	if (window_us) /* the sliding window: members too old leave first */
		while (s->head && s->head->ts_us + window_us < ts_us)
			member_free(st, s->head);

	size_t nl = strlen(name), ml = strlen(member);
	char stackkey[256];
	char *key = nl + ml + 2 <= sizeof(stackkey) ? stackkey : iw_malloc(nl + ml + 2);
	memcpy(key, name, nl);
	key[nl] = '\x1f';
	memcpy(key + nl + 1, member, ml + 1);
	uint64_t mh = hash_str(st->hkey, key);
	struct member *m = (struct member *)table_find(&st->members, key, mh);
	bool again = m != NULL;
	if (m) {
		m->ts_us = ts_us;
		LIST_UNLINK(s, m);
		LIST_APPEND(s, m);
	} else if (st->members.n < st->max_members) {
		m = iw_calloc(1, sizeof(*m));
		m->n.key = strdup(key);
		if (!m->n.key)
			iw_oom();
		m->n.hash = mh;
		m->name = m->n.key + nl + 1;
		m->set = s;
		m->ts_us = ts_us;
		table_add(&st->members, &m->n);
		LIST_APPEND(s, m);
		s->count++;
	} else {
		st->members_dropped++;
	}
	if (key != stackkey)
		free(key);
	/* a plain set's member Redis already has (sent when it was new here, or at the last
	 * resync) is not sent again; a window's is, for its new score */
	if (st->redis && !(again && !window_us))
		set_send(st, s, member, ts_us, upkeep_due(s, ts_us));
	return s->fleet > s->count ? s->fleet : s->count;
}

static unsigned op_set_members(struct iw_state *pub, const char *name, struct iw_set_member *out,
                               unsigned max)
{
	struct iw_store *st = (struct iw_store *)pub;
	if (!name)
		return 0;
	struct set *s = (struct set *)table_find(&st->sets, name, hash_str(st->hkey, name));
	unsigned n = 0;
	for (struct member *m = s ? s->head : NULL; m && n < max; m = m->next)
		out[n++] = (struct iw_set_member){m->name, m->ts_us};
	return n;
}

static const struct iw_state_ops store_ops = {
    .seen = op_seen,
    .set_add = op_set_add,
    .set_members = op_set_members,
};

/* ---- alert keys ---- */

static void akey_free(struct iw_store *st, struct akey *a)
{
	LIST_UNLINK(&st->akey_age, a);
	table_del(&st->akeys, &a->n);
	free(a->n.key);
	free(a);
}

/* "<rule>:<device>|<subject>", an alert's key (DESIGN §6): in buf when it fits in cap
 * bytes (lookups allocate nothing), else allocated; the caller frees it when it is not
 * buf. */
static char *akey_make(char *buf, size_t cap, const char *rule, const char *device, const char *subject)
{
	device = device ? device : "";
	subject = subject ? subject : "";
	size_t rl = strlen(rule), dl = strlen(device), sl = strlen(subject);
	char *k = rl + dl + sl + 3 <= cap ? buf : iw_malloc(rl + dl + sl + 3);
	memcpy(k, rule, rl);
	k[rl] = ':';
	memcpy(k + rl + 1, device, dl);
	k[rl + 1 + dl] = '|';
	memcpy(k + rl + dl + 2, subject, sl + 1);
	return k;
}

#define AKEY_BUF 256

bool iw_store_alerted(const struct iw_store *st, const char *rule, const char *device, const char *subject,
                      uint64_t ts_us)
{
	char buf[AKEY_BUF];
	char *k = akey_make(buf, sizeof(buf), rule, device, subject);
	const struct akey *a = (const struct akey *)table_find(&st->akeys, k, hash_str(st->hkey, k));
	if (k != buf)
		free(k);
	return a && ts_us < a->until_us;
}

enum iw_claim iw_store_claim(struct iw_store *st, const char *rule, const char *device, const char *subject,
                             uint64_t ts_us, uint64_t token)
{
	char buf[AKEY_BUF];
	char *k = akey_make(buf, sizeof(buf), rule, device, subject);
	uint64_t h = hash_str(st->hkey, k);
	struct akey *a = (struct akey *)table_find(&st->akeys, k, h);
	if (a && ts_us < a->until_us) {
		if (k != buf)
			free(k);
		return IW_CLAIM_NO;
	}
	if (a) { /* a day has passed: the key starts again */
		if (k != buf)
			free(k);
		k = a->n.key;
		LIST_UNLINK(&st->akey_age, a);
	} else {
		if (st->akeys.n >= st->max_akeys && st->akey_age.head)
			akey_free(st, st->akey_age.head);
		if (k == buf) {
			size_t n = strlen(buf) + 1;
			k = iw_malloc(n);
			memcpy(k, buf, n);
		}
		a = iw_calloc(1, sizeof(*a));
		a->n.key = k;
		a->n.hash = h;
		table_add(&st->akeys, &a->n);
	}
	a->until_us = ts_us + DAY_US;
	LIST_APPEND(&st->akey_age, a);
	const char *key = a->n.key + strlen(rule) + 1;
	if (st->redis && token && iw_redis_claim(st->redis, rule, key, 86400, token)) {
		st->claims_pending++;
		return IW_CLAIM_LATER;
	}
	return IW_CLAIM_YES;
}

void iw_store_on_claim(struct iw_store *st, void (*fn)(void *arg, uint64_t token, bool won), void *arg)
{
	st->claim_fn = fn;
	st->claim_arg = arg;
}

/* ---- Redis callbacks ---- */

static void cb_count(void *arg, const char *name, uint64_t n)
{
	struct iw_store *st = arg;
	struct set *s = (struct set *)table_find(&st->sets, name, hash_str(st->hkey, name));
	if (!s || n <= s->count || n <= s->fleet)
		return;
	s->fleet = n;
	if (st->pub.notify)
		st->pub.notify(st->pub.notify_arg, name, n, st->now_us);
}

static void cb_claimed(void *arg, uint64_t token, bool won)
{
	struct iw_store *st = arg;
	if (!token)
		return; /* a re-sent key after a reconnection: nobody waits for it */
	if (st->claims_pending)
		st->claims_pending--;
	if (st->claim_fn)
		st->claim_fn(st->claim_arg, token, won);
}

static void cb_unanswered(void *arg, uint64_t token)
{
	struct iw_store *st = arg;
	if (!token)
		return;
	st->claims_lost++;
	cb_claimed(arg, token, true); /* decided alone: better twice than never */
}

/* Connected (again): everything memory knows goes to Redis. */
static void cb_resync(void *arg)
{
	struct iw_store *st = arg;
	for (struct dev *d = st->dev_lru.head; d; d = d->next) {
		push_unqueue(st, d);
		dev_push(st, d, true);
	}
	for (struct set *s = st->set_lru.head; s; s = s->next) {
		s->trimmed_us = s->expired_us = 0; /* Redis may have lost the key: all of it again */
		for (struct member *m = s->head; m; m = m->next)
			set_send(st, s, m->name, m->ts_us, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	}
	for (struct akey *a = st->akey_age.head; a; a = a->next) {
		char *colon = strchr(a->n.key, ':');
		if (!colon)
			continue;
		*colon = '\0'; /* rule ids have no ':' */
		iw_redis_claim(st->redis, a->n.key, colon + 1, 86400, 0);
		*colon = ':';
	}
}

/* ---- life ---- */

struct iw_store *iw_store_new(const struct iw_store_cfg *cfg)
{
	struct iw_store *st = iw_calloc(1, sizeof(*st));
	st->pub.ops = &store_ops;
	st->cfg = *cfg;
	st->hkey = iw_seed();
	if (!st->cfg.max_devices)
		st->cfg.max_devices = 1;
	if (!st->cfg.ttl_s)
		st->cfg.ttl_s = 30 * 86400;
	st->max_members = st->cfg.max_devices * 4 + 1024;
	st->max_akeys = st->cfg.max_devices * 4 + 1024;
	table_init(&st->devs);
	table_init(&st->sets);
	table_init(&st->members);
	table_init(&st->akeys);
	if (cfg->redis) {
		struct iw_redis_cb cb = {
		    .count = cb_count,
		    .claimed = cb_claimed,
		    .unanswered = cb_unanswered,
		    .resync = cb_resync,
		    .arg = st,
		};
		st->redis = iw_redis_new(cfg->redis, &cb);
	}
	return st;
}

void iw_store_free(struct iw_store *st)
{
	if (!st)
		return;
	if (st->redis)
		iw_redis_free(st->redis);
	while (st->set_lru.head)
		set_free(st, st->set_lru.head);
	while (st->dev_lru.head) {
		struct dev *d = st->dev_lru.head;
		LIST_UNLINK(&st->dev_lru, d);
		dev_free(d);
	}
	while (st->akey_age.head)
		akey_free(st, st->akey_age.head);
	free(st->devs.s);
	free(st->sets.s);
	free(st->members.s);
	free(st->akeys.s);
	free(st);
}

struct iw_state *iw_store_state(struct iw_store *st)
{
	return &st->pub;
}

void iw_store_tick(struct iw_store *st, uint64_t now_us)
{
	st->now_us = now_us;
	push_flush(st);
	while (st->akey_age.head && st->akey_age.head->until_us <= now_us)
		akey_free(st, st->akey_age.head);
	/* sets idle past their TTL; the list is in order of last add, so stop at a live one
	 * (TTLs differ, so a set with a long TTL can shelter older ones for a while) */
	while (st->set_lru.head && st->set_lru.head->last_us + st->set_lru.head->ttl_us <= now_us)
		set_free(st, st->set_lru.head);
}

void iw_store_poll(struct iw_store *st)
{
	if (st->redis)
		iw_redis_poll(st->redis);
}

uint64_t iw_store_pending(const struct iw_store *st)
{
	return st->claims_pending;
}

void iw_store_drain(struct iw_store *st, unsigned timeout_ms)
{
	if (!st->redis)
		return;
	/* last_seen reaches Redis every few minutes on the way; at the end, all of it */
	push_flush(st);
	for (struct dev *d = st->dev_lru.head; d; d = d->next)
		if (d->dirty || d->last_us != d->synced_us)
			dev_push(st, d, false);
	iw_redis_drain(st->redis, timeout_ms);
}

static int dev_cmp(const void *a, const void *b)
{
	return strcmp((*(struct dev *const *)a)->n.key, (*(struct dev *const *)b)->n.key);
}

uint64_t iw_store_devices(struct iw_store *st, struct iw_json *j, FILE *out)
{
	size_t n = st->devs.n, i = 0;
	struct dev **v = iw_calloc(n, sizeof(*v));
	for (struct dev *d = st->dev_lru.head; d && i < n; d = d->next)
		v[i++] = d;
	qsort(v, i, sizeof(*v), dev_cmp);
	for (size_t k = 0; k < i; k++) {
		struct dev *d = v[k];
		iw_json_reset(j);
		iw_json_obj_begin(j, NULL);
		iw_json_str(j, "device", d->n.key);
		iw_json_time(j, "first_seen", d->first_us);
		iw_json_time(j, "last_seen", d->last_us);
		if (d->ip[0])
			iw_json_str(j, "ip", d->ip);
		iw_json_arr_begin(j, "addresses");
		for (unsigned a = 0; a < d->n_addrs; a++)
			iw_json_str(j, NULL, d->addrs[a]);
		iw_json_arr_end(j);
		if (d->client_id)
			iw_json_str(j, "client_id", d->client_id);
		if (d->cert_cn)
			iw_json_str(j, "cert_cn", d->cert_cn);
		if (d->cert_fp)
			iw_json_str(j, "cert_fingerprint", d->cert_fp);
		if (d->cert_not_after_us)
			iw_json_time(j, "cert_not_after", d->cert_not_after_us);
		if (d->region)
			iw_json_str(j, "region", d->region);
		iw_json_arr_begin(j, "protocols");
		for (int b = 0; b < IW_EV__COUNT; b++)
			if (d->protos & (1u << b))
				iw_json_str(j, NULL, iw_event_kind_name((enum iw_event_kind)b));
		iw_json_arr_end(j);
		iw_json_uint(j, "tunnel_opens", d->tunnel_opens);
		iw_json_obj_end(j);
		fwrite(j->buf, 1, j->len, out);
		fputc('\n', out);
	}
	free(v);
	return i;
}

void iw_store_stats(const struct iw_store *st, struct iw_store_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->devices = st->devs.n;
	out->devices_evicted = st->devices_evicted;
	out->sets = st->sets.n;
	out->members = st->members.n;
	out->members_dropped = st->members_dropped;
	out->alert_keys = st->akeys.n;
	out->claims_pending = st->claims_pending;
	out->claims_lost = st->claims_lost;
	out->redis = st->redis != NULL;
	if (st->redis)
		iw_redis_stats(st->redis, &out->r);
}
