/* endpoint.c - endpoint.off_region (docs/rules.md, DESIGN §6): a device talks to an
 * endpoint whose region (from the SNI, the DNS answer the device used, or the ip-range
 * files) is not in rules.region.allowed. Off when that list is empty.
 *
 * Every event of a flow carries its endpoint, so the rule sees the same verdict over and
 * over. A small cache remembers, per flow id, the region last judged (a hash of it): an
 * event of a flow already judged for that region costs one lookup, and raise is called
 * once per flow and region, not once per packet. The cache is direct-mapped: two flows
 * that share a slot only cost a second judgement (the engine's daily de-duplication
 * keeps that from becoming a second alert). The region of a flow can change once (an SNI
 * that names another region than the ip-range files did): a different hash judges again.
 * So does an hour of packet time: an MQTT connection lives for days, and the alert is
 * due once per (device, endpoint) per day, not once per flow. An hour rather than a day:
 * a flow judged while another flow's alert held the de-duplication then alerts at most
 * an hour after that day is over, not a day after.
 *
 * All event kinds are taken, the flow's end included: a flow to a cloud address that no
 * parser decodes yields only that end event, and it is still the device talking to the
 * endpoint. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../parsers/alloc.h"
#include "rule.h"

#define EP_MEMO_BITS 13 /* 8192 flows remembered as judged (192 KiB) */
#define EP_MEMO      (1u << EP_MEMO_BITS)

/* A flow judged is judged again after this much packet time (see the top of the file). */
#define EP_REJUDGE_US 3600000000ull

struct ep_memo {
	uint64_t flow_id;
	uint64_t judged_us; /* packet time of the judgement */
	uint32_t region_hash;
	bool used;
};

struct ep_state {
	char **allowed; /* copies of rules.region.allowed, as configured (for the evidence) */
	unsigned n_allowed;
	struct ep_memo memo[EP_MEMO];
};

/* FNV-1a over the lower-cased region: regions compare without regard to case. */
static uint32_t region_hash(const char *r)
{
	uint32_t h = 2166136261u;
	for (; *r; r++) {
		unsigned char c = (unsigned char)*r;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 16777619u;
	}
	return h;
}

static struct ep_memo *memo_slot(struct ep_state *s, uint64_t flow_id)
{
	/* Fibonacci hashing: flow ids are sequential, the top bits of the product spread them */
	return &s->memo[(flow_id * 0x9e3779b97f4a7c15ull) >> (64 - EP_MEMO_BITS)];
}

static bool region_allowed(const struct ep_state *s, const char *region)
{
	for (unsigned i = 0; i < s->n_allowed; i++)
		if (strcasecmp(s->allowed[i], region) == 0)
			return true;
	return false;
}

/* NULL (the rule is off) when rules.region.allowed is empty; the state owns its copies. */
static void *ep_state_new(const struct iw_rules_cfg *cfg)
{
	unsigned n = 0;
	for (unsigned i = 0; i < cfg->region.n_allowed; i++)
		n += cfg->region.allowed != NULL && cfg->region.allowed[i] != NULL;
	if (n == 0)
		return NULL;
	struct ep_state *s = iw_calloc(1, sizeof(*s));
	s->allowed = iw_calloc(n, sizeof(*s->allowed));
	for (unsigned i = 0; i < cfg->region.n_allowed; i++) {
		const char *a = cfg->region.allowed[i];
		if (a == NULL)
			continue;
		size_t len = strlen(a);
		s->allowed[s->n_allowed] = iw_malloc(len + 1);
		memcpy(s->allowed[s->n_allowed], a, len + 1);
		s->n_allowed++;
	}
	return s;
}

static void ep_state_free(void *st)
{
	struct ep_state *s = st;
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->n_allowed; i++)
		free(s->allowed[i]);
	free(s->allowed);
	free(s);
}

static void add_str(struct iw_alert *a, const char *key, const char *v)
{
	if (v == NULL)
		return;
	struct iw_kv *kv = &a->evidence[a->n_evidence++];
	kv->key = key;
	kv->type = IW_KV_STR;
	kv->v.s = v;
}

/* The endpoint's address: the end of the flow that is not the device. The sensor makes
 * the server the device when only it is inside sensor.device_networks; then the endpoint
 * is the client. */
static const char *peer_address(const struct iw_event *ev, char *buf, size_t len)
{
	if (ev->key == NULL)
		return NULL;
	char dst[64];
	iw_addr_str(&ev->key->dst, ev->key->family, dst, sizeof(dst));
	if (ev->device.ip != NULL && strcmp(ev->device.ip, dst) == 0)
		return iw_addr_str(&ev->key->src, ev->key->family, buf, len);
	snprintf(buf, len, "%s", dst);
	return buf;
}

static void off_region(struct ep_state *s, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	const struct iw_endpoint *ep = ev->endpoint;
	char addr[64];
	const char *address = peer_address(ev, addr, sizeof(addr));
	const char *name = ep->name != NULL && ep->name[0] != '\0' ? ep->name : NULL;
	const char *subject = name != NULL ? name : address;

	char msg[384];
	snprintf(msg, sizeof(msg), "%s talks to %s in region %s, which is not allowed",
	         ev->device.id != NULL ? ev->device.id : "a device",
	         subject != NULL ? subject : "an endpoint", ep->region);

	struct iw_alert a;
	memset(&a, 0, sizeof(a));
	a.rule = "endpoint.off_region";
	a.category = "data-residency";
	a.severity = IW_SEV_HIGH;
	a.message = msg;
	a.ts_us = ev->ts_us;
	a.ev = ev;
	a.device = ev->device;
	add_str(&a, "name", name);
	add_str(&a, "address", address);
	add_str(&a, "region", ep->region);
	add_str(&a, "provider", ep->provider);
	add_str(&a, "service", ep->service);
	add_str(&a, "source", ep->region_source);
	struct iw_kv *kv = &a.evidence[a.n_evidence++];
	kv->key = "allowed";
	kv->type = IW_KV_STRS;
	kv->v.list.p = (const void *)s->allowed;
	kv->v.list.n = s->n_allowed;
	ctx->raise(ctx, &a, subject);
}

static void ep_on_event(void *st, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	struct ep_state *s = st;
	if (s == NULL)
		return;
	const struct iw_endpoint *ep = ev->endpoint;
	bool end = ev->kind == IW_EV_FLOW;
	if (ep == NULL || ep->region == NULL || ep->region[0] == '\0') {
		/* nothing to judge: the memo (a cache miss) only matters to free a flow's slot */
		struct ep_memo *m = end ? memo_slot(s, ev->flow_id) : NULL;
		if (m && m->used && m->flow_id == ev->flow_id)
			m->used = false;
		return;
	}
	struct ep_memo *m = memo_slot(s, ev->flow_id);
	uint32_t h = region_hash(ep->region);
	/* packet time going back (captures replayed out of order) leaves it judged */
	bool judged = m->used && m->flow_id == ev->flow_id && m->region_hash == h &&
	              (ev->ts_us < m->judged_us || ev->ts_us - m->judged_us < EP_REJUDGE_US);
	if (end) {
		m->used = m->used && m->flow_id != ev->flow_id; /* the flow is over: free its slot */
	} else if (!judged) {
		m->used = true;
		m->flow_id = ev->flow_id;
		m->region_hash = h;
		m->judged_us = ev->ts_us;
	}
	if (judged || region_allowed(s, ep->region))
		return;
	off_region(s, ctx, ev);
}

const struct iw_rule iw_rule_endpoint = {
    .id = "endpoint",
    .kinds = (1u << IW_EV__COUNT) - 1, /* every kind: see the top of the file */
    .state_new = ep_state_new,
    .state_free = ep_state_free,
    .on_event = ep_on_event,
};
