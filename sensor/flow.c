/* flow.c - the flow table: chained hash on a direction-independent hash of the 5-tuple
 * and VLAN, one idle list per timeout class (so the oldest idle flow of each class is
 * at its head and expiry is O(1) per flow), a hard cap with eviction. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../parsers/alloc.h"
#include "flow.h"
#include "seed.h"

#define MIN_BUCKETS 4096u

struct iw_flow_table {
	struct iw_flow **bucket;
	uint64_t nbuckets; /* power of two */
	struct iw_flow *oldest[IW_FC__COUNT], *newest[IW_FC__COUNT];
	struct iw_flow_limits lim;
	const uint8_t *server_ports;
	iw_flow_end_fn on_end;
	void *arg;
	uint64_t n, peak, total, evicted, next_id;
	uint64_t hkey; /* the hash key (seed.h): which 5-tuples share a bucket is not known outside */
};

struct iw_flow_table *iw_flow_table_new(const struct iw_flow_limits *lim, const uint8_t *server_ports,
                                        iw_flow_end_fn on_end, void *arg)
{
	struct iw_flow_table *t = iw_calloc(1, sizeof(*t));
	t->lim = *lim;
	if (t->lim.max_flows < 1)
		t->lim.max_flows = 1;
	t->nbuckets = MIN_BUCKETS;
	t->bucket = iw_calloc(t->nbuckets, sizeof(*t->bucket));
	t->server_ports = server_ports;
	t->on_end = on_end;
	t->arg = arg;
	t->next_id = 1;
	t->hkey = iw_seed();
	return t;
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static uint64_t addr_hash(uint64_t key, const struct iw_addr *a)
{
	uint64_t x, y;
	memcpy(&x, a->b, 8);
	memcpy(&y, a->b + 8, 8);
	return mix(x ^ mix(y ^ key));
}

/* The same value whichever side sent the packet. */
static uint64_t key_hash(const struct iw_flow_table *t, const struct iw_flow_key *k)
{
	uint64_t a = addr_hash(t->hkey, &k->src) + k->sport;
	uint64_t b = addr_hash(t->hkey, &k->dst) + k->dport;
	return mix(
	    (a ^ b) + (a & b) * 3 +
	    ((uint64_t)k->proto << 48 | (uint64_t)k->vlan << 32 | (uint64_t)k->vlan_inner << 16 | k->family));
}

/* 1: same direction as f->key, -1: reversed, 0: another flow. */
static int key_match(const struct iw_flow_key *fk, const struct iw_flow_key *k)
{
	if (fk->proto != k->proto || fk->vlan != k->vlan || fk->vlan_inner != k->vlan_inner ||
	    fk->family != k->family)
		return 0;
	if (fk->sport == k->sport && fk->dport == k->dport && !memcmp(&fk->src, &k->src, sizeof(k->src)) &&
	    !memcmp(&fk->dst, &k->dst, sizeof(k->dst)))
		return 1;
	if (fk->sport == k->dport && fk->dport == k->sport && !memcmp(&fk->src, &k->dst, sizeof(k->src)) &&
	    !memcmp(&fk->dst, &k->src, sizeof(k->dst)))
		return -1;
	return 0;
}

static void list_unlink(struct iw_flow_table *t, struct iw_flow *f)
{
	if (f->older)
		f->older->newer = f->newer;
	else
		t->oldest[f->fclass] = f->newer;
	if (f->newer)
		f->newer->older = f->older;
	else
		t->newest[f->fclass] = f->older;
	f->older = f->newer = NULL;
}

static void list_append(struct iw_flow_table *t, struct iw_flow *f)
{
	f->newer = NULL;
	f->older = t->newest[f->fclass];
	if (f->older)
		f->older->newer = f;
	else
		t->oldest[f->fclass] = f;
	t->newest[f->fclass] = f;
}

static void grow(struct iw_flow_table *t)
{
	uint64_t nb = t->nbuckets * 2;
	struct iw_flow **b = iw_calloc(nb, sizeof(*b));
	for (uint64_t i = 0; i < t->nbuckets; i++) {
		struct iw_flow *f = t->bucket[i];
		while (f) {
			struct iw_flow *next = f->hnext;
			uint64_t h = key_hash(t, &f->key) & (nb - 1);
			f->hnext = b[h];
			b[h] = f;
			f = next;
		}
	}
	free(t->bucket);
	t->bucket = b;
	t->nbuckets = nb;
}

void iw_flow_end(struct iw_flow_table *t, struct iw_flow *f, enum iw_flow_end reason)
{
	uint64_t h = key_hash(t, &f->key) & (t->nbuckets - 1);
	for (struct iw_flow **pp = &t->bucket[h]; *pp; pp = &(*pp)->hnext) {
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	}
	list_unlink(t, f);
	t->n--;
	t->on_end(t->arg, f, reason);
	free(f);
}

static bool is_server_port(const struct iw_flow_table *t, uint16_t port)
{
	if (port < 1024)
		return true;
	return t->server_ports && (t->server_ports[port / 8] & (1u << (port % 8)));
}

/* Which side of a flow's first packet is the client. */
static bool sender_is_client(const struct iw_flow_table *t, const struct iw_packet *pkt)
{
	if (pkt->key.proto == IPPROTO_TCP && (pkt->tcp_flags & IW_TCP_SYN))
		return !(pkt->tcp_flags & IW_TCP_ACK);
	/* picked up without a handshake: the side on a service port is the server ... */
	bool s = is_server_port(t, pkt->key.sport), d = is_server_port(t, pkt->key.dport);
	if (s != d)
		return d;
	/* ... else the side in the ephemeral range (32768 and up on Linux, 49152 on
	 * Windows) is the client; else the sender is */
	bool se = pkt->key.sport >= 32768, de = pkt->key.dport >= 32768;
	if (se != de)
		return se;
	return true;
}

uint64_t iw_flow_prefetch_bucket(struct iw_flow_table *t, const struct iw_flow_key *k)
{
	uint64_t h = key_hash(t, k);
	__builtin_prefetch(&t->bucket[h & (t->nbuckets - 1)]);
	return h;
}

void iw_flow_prefetch_chain(struct iw_flow_table *t, uint64_t hash)
{
	const struct iw_flow *f = t->bucket[hash & (t->nbuckets - 1)];
	if (f) {
		/* the key ends in the second line; the counters, the parser and its state are
		 * in the third, which every packet of the flow reads next */
		__builtin_prefetch(f);
		__builtin_prefetch((const char *)f + 64);
		__builtin_prefetch((const char *)f + 128);
	}
}

static struct iw_flow *oldest_idle(struct iw_flow_table *t)
{
	struct iw_flow *best = NULL;
	for (int c = 0; c < IW_FC__COUNT; c++) {
		struct iw_flow *f = t->oldest[c];
		if (f && (!best || f->last_us < best->last_us))
			best = f;
	}
	return best;
}

struct iw_flow *iw_flow_lookup(struct iw_flow_table *t, const struct iw_packet *pkt, int *dir, bool *created)
{
	return iw_flow_lookup_hashed(t, pkt, key_hash(t, &pkt->key), dir, created);
}

struct iw_flow *iw_flow_lookup_hashed(struct iw_flow_table *t, const struct iw_packet *pkt, uint64_t hash,
                                      int *dir, bool *created)
{
	uint64_t h = hash & (t->nbuckets - 1);
	for (struct iw_flow *f = t->bucket[h]; f; f = f->hnext) {
		int m = key_match(&f->key, &pkt->key);
		if (m) {
			*dir = m > 0 ? IW_DIR_TOSERVER : IW_DIR_TOCLIENT;
			*created = false;
			if (f->newer) {
				list_unlink(t, f);
				list_append(t, f);
			}
			return f;
		}
	}
	if (t->n >= t->lim.max_flows) {
		t->evicted++;
		iw_flow_end(t, oldest_idle(t), IW_END_EVICTED);
	}
	if (t->n >= t->nbuckets && t->nbuckets < (1ULL << 40)) {
		grow(t);
		h = hash & (t->nbuckets - 1);
	}
	struct iw_flow *f = iw_calloc(1, sizeof(*f));
	f->key = pkt->key;
	if (!sender_is_client(t, pkt)) {
		f->key.src = pkt->key.dst;
		f->key.dst = pkt->key.src;
		f->key.sport = pkt->key.dport;
		f->key.dport = pkt->key.sport;
		*dir = IW_DIR_TOCLIENT;
	} else {
		*dir = IW_DIR_TOSERVER;
	}
	f->id = t->next_id++;
	f->first_us = f->last_us = pkt->ts_us;
	f->fclass = pkt->key.proto == IPPROTO_TCP ? IW_FC_TCP : IW_FC_UDP;
	f->hnext = t->bucket[h];
	t->bucket[h] = f;
	list_append(t, f);
	t->n++;
	t->total++;
	if (t->n > t->peak)
		t->peak = t->n;
	*created = true;
	return f;
}

void iw_flow_set_class(struct iw_flow_table *t, struct iw_flow *f, enum iw_flow_class c)
{
	if (f->fclass == c)
		return;
	list_unlink(t, f);
	f->fclass = (uint8_t)c;
	list_append(t, f);
}

void iw_flow_expire(struct iw_flow_table *t, uint64_t now_us)
{
	for (int c = 0; c < IW_FC__COUNT; c++) {
		struct iw_flow *f;
		while ((f = t->oldest[c]) && f->last_us + t->lim.timeout_us[c] <= now_us)
			iw_flow_end(t, f, f->closed ? (enum iw_flow_end)f->close_reason : IW_END_TIMEOUT);
	}
}

void iw_flow_table_free(struct iw_flow_table *t)
{
	if (!t)
		return;
	for (int c = 0; c < IW_FC__COUNT; c++) {
		struct iw_flow *f;
		while ((f = t->oldest[c]))
			iw_flow_end(t, f, f->closed ? (enum iw_flow_end)f->close_reason : IW_END_SHUTDOWN);
	}
	free(t->bucket);
	free(t);
}

uint64_t iw_flow_count(const struct iw_flow_table *t)
{
	return t->n;
}

uint64_t iw_flow_peak(const struct iw_flow_table *t)
{
	return t->peak;
}

uint64_t iw_flow_total(const struct iw_flow_table *t)
{
	return t->total;
}

uint64_t iw_flow_evicted(const struct iw_flow_table *t)
{
	return t->evicted;
}
