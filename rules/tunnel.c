/* tunnel.c - the remote-access rules of docs/rules.md (family "tunnel"; what makes a
 * flow a tunnel is docs/tunnels.md and sensor/tunnel.c):
 *
 *   tunnel.orphaned      a tunnel open rules.tunnel.max_duration: at the "active" event
 *                        the sensor emits when it gets there, or at its close; once per
 *                        session (subject: the flow id)
 *   tunnel.renewal_loop  one device opened more than renewal_max tunnels within
 *                        renewal_window; set "dev:<id>:tunnels" scored by time, counted
 *                        across the fleet with Redis (so also judged in on_count)
 *
 * Kept here, bounded by ctx->max_entries: the sessions already reported (until they
 * close), and each device's last open (its kind and endpoint, for a fleet alert that has
 * no event). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../parsers/alloc.h"
#include "lru.h"
#include "rule.h"

#define US         1000000ull
#define TIME_LIMIT 1000000000000ull /* seconds (year 33658) any duration is held to */
#define MAX_SAMPLE 16               /* open times shown in evidence */
#define MAX_NAME   256              /* bytes kept of a kind or an endpoint name */
#define GRACE_S    60               /* the set lives this long past its window: the edge still counts */
#define CATEGORY   "remote-access"

/* A session alerted as orphaned; key: its flow id. */
struct session_ent {
	struct iw_lru_node n;
};

/* A device's last tunnel open; key: the device id. */
struct dev_ent {
	struct iw_lru_node n;
	char *kind, *endpoint;
};

struct tunnel_state {
	struct iw_lru sessions, devs;
};

/* ---- small helpers ---- */

static int64_t u2i(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* A copy of s of at most MAX_NAME - 1 bytes, cut at a UTF-8 character boundary; NULL for
 * NULL. The caller frees it. */
static char *dup_name(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strnlen(s, MAX_NAME);
	if (n == MAX_NAME) {
		n = MAX_NAME - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	char *d = iw_malloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void kv_str(struct iw_alert *a, const char *k, const char *v)
{
	if (v && a->n_evidence < IW_ALERT_MAX_EVIDENCE)
		a->evidence[a->n_evidence++] = (struct iw_kv){.key = k, .type = IW_KV_STR, .v.s = v};
}

static void kv_int(struct iw_alert *a, const char *k, int64_t v)
{
	if (a->n_evidence < IW_ALERT_MAX_EVIDENCE)
		a->evidence[a->n_evidence++] = (struct iw_kv){.key = k, .type = IW_KV_INT, .v.i = v};
}

static void kv_bool(struct iw_alert *a, const char *k, bool v)
{
	if (a->n_evidence < IW_ALERT_MAX_EVIDENCE)
		a->evidence[a->n_evidence++] = (struct iw_kv){.key = k, .type = IW_KV_BOOL, .v.b = v};
}

static void kv_time(struct iw_alert *a, const char *k, uint64_t t_us)
{
	if (a->n_evidence < IW_ALERT_MAX_EVIDENCE)
		a->evidence[a->n_evidence++] = (struct iw_kv){.key = k, .type = IW_KV_TIME, .v.t = t_us};
}

static void kv_times(struct iw_alert *a, const char *k, const uint64_t *v, unsigned n)
{
	if (a->n_evidence < IW_ALERT_MAX_EVIDENCE)
		a->evidence[a->n_evidence++] =
		    (struct iw_kv){.key = k, .type = IW_KV_TIMES, .v.list = {.p = v, .n = n}};
}

/* The server's address ("192.0.2.1") into buf, or NULL without a flow key. */
static const char *server_addr(const struct iw_event *ev, char *buf, size_t len)
{
	return ev->key ? iw_addr_str(&ev->key->dst, ev->key->family, buf, len) : NULL;
}

/* The device as the set knows it: its id, else its address; NULL when neither. */
static const char *device_of(const struct iw_event *ev)
{
	if (ev->device.id && *ev->device.id)
		return ev->device.id;
	if (ev->device.ip && *ev->device.ip)
		return ev->device.ip;
	return NULL;
}

/* rules.tunnel.renewal_window in seconds, held to [1, TIME_LIMIT]. */
static uint64_t renewal_window_s(const struct iw_rules_cfg *cfg)
{
	uint64_t w = cfg->tunnel.renewal_window;
	return w < 1 ? 1 : w > TIME_LIMIT ? TIME_LIMIT : w;
}

/* "dev:<id>:tunnels" in buf when it fits, else in memory the caller frees (*heap). */
static char *set_name(const char *dev, char *buf, size_t len, char **heap)
{
	size_t n = strlen("dev:") + strlen(dev) + strlen(":tunnels") + 1;
	char *s = buf;
	*heap = NULL;
	if (n > len)
		s = *heap = iw_malloc(n);
	snprintf(s, n, "dev:%s:tunnels", dev);
	return s;
}

/* ---- state ---- */

static void dev_drop(void *e)
{
	struct dev_ent *d = e;
	free(d->kind);
	free(d->endpoint);
}

static void *tunnel_new(const struct iw_rules_cfg *cfg)
{
	(void)cfg;
	struct tunnel_state *st = iw_calloc(1, sizeof(*st));
	iw_lru_init(&st->sessions, sizeof(struct session_ent), NULL);
	iw_lru_init(&st->devs, sizeof(struct dev_ent), dev_drop);
	return st;
}

static void tunnel_free(void *p)
{
	struct tunnel_state *st = p;
	if (!st)
		return;
	iw_lru_free(&st->sessions);
	iw_lru_free(&st->devs);
	free(st);
}

/* ---- tunnel.orphaned ---- */

static void raise_orphaned(struct iw_rule_ctx *ctx, const struct iw_event *ev, const char *subject)
{
	const struct iw_ev_tunnel *t = &ev->u.tunnel;
	const struct iw_endpoint *ep = ev->endpoint;
	bool open = t->type == IW_TUNNEL_ACTIVE;
	uint64_t dur_s = t->duration_us / US;
	char addr[64];
	const char *server = server_addr(ev, addr, sizeof(addr));
	const char *endpoint = ep && ep->name ? ep->name : server;
	const char *kind = t->kind ? t->kind : "tunnel";

	char msg[384];
	snprintf(msg, sizeof(msg), "%s tunnel to %.200s %s %" PRIu64 "h%02" PRIu64 "m", kind,
	         endpoint ? endpoint : "?", open ? "open for" : "closed after", dur_s / 3600,
	         dur_s / 60 % 60);
	struct iw_alert a = {.rule = "tunnel.orphaned",
	                     .category = CATEGORY,
	                     .severity = IW_SEV_HIGH,
	                     .message = msg,
	                     .ts_us = ev->ts_us,
	                     .ev = ev,
	                     .device = ev->device};
	kv_str(&a, "kind", t->kind);
	kv_str(&a, "endpoint", endpoint);
	kv_str(&a, "address", server);
	kv_str(&a, "region", ep ? ep->region : NULL);
	kv_time(&a, "start", t->start_us);
	kv_int(&a, "duration_s", u2i(dur_s));
	kv_int(&a, "max_duration_s", u2i(ctx->cfg->tunnel.max_duration));
	kv_int(&a, "bytes_toserver", u2i(t->bytes_toserver));
	kv_int(&a, "bytes_toclient", u2i(t->bytes_toclient));
	kv_bool(&a, "open", open);
	ctx->raise(ctx, &a, subject);
}

static void orphaned(struct tunnel_state *st, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	const struct iw_ev_tunnel *t = &ev->u.tunnel;
	if (t->type != IW_TUNNEL_ACTIVE && t->type != IW_TUNNEL_CLOSE)
		return;
	char id[24];
	snprintf(id, sizeof(id), "%" PRIu64, ev->flow_id);
	struct session_ent *s = iw_lru_find(&st->sessions, id);
	uint64_t max_s = ctx->cfg->tunnel.max_duration;
	if (!s && max_s <= UINT64_MAX / US && t->duration_us >= max_s * US) {
		if (t->type == IW_TUNNEL_ACTIVE) /* a close needs no memory of itself */
			iw_lru_put(&st->sessions, id, ctx->max_entries, NULL);
		raise_orphaned(ctx, ev, id);
	}
	if (s && t->type == IW_TUNNEL_CLOSE)
		iw_lru_del(&st->sessions, s);
}

/* ---- tunnel.renewal_loop ---- */

/* ev is NULL for a count the fleet reached (the device is then dev alone). */
static void raise_renewal(struct tunnel_state *st, struct iw_rule_ctx *ctx, const struct iw_event *ev,
                          const char *dev, const char *set, uint64_t count, uint64_t now_us)
{
	if (ctx->alerted != NULL && ctx->alerted(ctx, "tunnel.renewal_loop", dev, NULL, now_us))
		return; /* said today: no evidence to build */
	const struct iw_rules_cfg *cfg = ctx->cfg;
	uint64_t win_s = renewal_window_s(cfg), win = win_s * US;
	struct iw_set_member m[MAX_SAMPLE * 4];
	uint64_t times[MAX_SAMPLE];
	unsigned n = ctx->state->ops->set_members(ctx->state, set, m, MAX_SAMPLE * 4), k = 0;
	for (unsigned i = 0; i < n && k < MAX_SAMPLE; i++)
		if (m[i].ts_us >= now_us || now_us - m[i].ts_us <= win)
			times[k++] = m[i].ts_us;

	const struct dev_ent *d = iw_lru_find(&st->devs, dev);
	char msg[384];
	bool hours = win_s % 3600 == 0;
	snprintf(msg, sizeof(msg),
	         "%.200s opened %" PRIu64 " tunnels within %" PRIu64 " %s (more than %" PRIu64 ")", dev,
	         count, hours ? win_s / 3600 : win_s, hours ? "h" : "s", cfg->tunnel.renewal_max);
	struct iw_alert a = {.rule = "tunnel.renewal_loop",
	                     .category = CATEGORY,
	                     .severity = IW_SEV_HIGH,
	                     .message = msg,
	                     .ts_us = now_us,
	                     .ev = ev};
	if (ev)
		a.device = ev->device;
	if (!a.device.id)
		a.device.id = dev;
	kv_int(&a, "opens", u2i(count));
	kv_int(&a, "renewal_max", u2i(cfg->tunnel.renewal_max));
	kv_int(&a, "window_s", (int64_t)win_s);
	kv_times(&a, "open_times", times, k);
	kv_str(&a, "kind", d ? d->kind : NULL);
	kv_str(&a, "endpoint", d ? d->endpoint : NULL);
	ctx->raise(ctx, &a, NULL);
}

static void renewal(struct tunnel_state *st, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	const struct iw_rules_cfg *cfg = ctx->cfg;
	const char *dev = device_of(ev);
	if (ev->u.tunnel.type != IW_TUNNEL_OPEN || !dev)
		return;

	char addr[64];
	const char *server = server_addr(ev, addr, sizeof(addr));
	struct dev_ent *d = iw_lru_put(&st->devs, dev, ctx->max_entries, NULL);
	free(d->kind);
	free(d->endpoint);
	d->kind = dup_name(ev->u.tunnel.kind);
	d->endpoint = dup_name(ev->endpoint && ev->endpoint->name ? ev->endpoint->name : server);

	char buf[320], *heap, member[48];
	const char *set = set_name(dev, buf, sizeof(buf), &heap);
	snprintf(member, sizeof(member), "%" PRIu64 ":%" PRIu64, ev->ts_us, ev->flow_id);
	uint64_t win_s = renewal_window_s(cfg);
	uint64_t n =
	    ctx->state->ops->set_add(ctx->state, set, member, ev->ts_us, win_s * US, win_s + GRACE_S);
	if (n > cfg->tunnel.renewal_max)
		raise_renewal(st, ctx, ev, dev, set, n, ev->ts_us);
	free(heap);
}

/* ---- the descriptor ---- */

static void tunnel_event(void *p, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	struct tunnel_state *st = p;
	if (ev->kind != IW_EV_TUNNEL)
		return;
	orphaned(st, ctx, ev);
	renewal(st, ctx, ev);
}

static void tunnel_count(void *p, struct iw_rule_ctx *ctx, const char *name, uint64_t count, uint64_t now_us)
{
	struct tunnel_state *st = p;
	size_t len = strlen(name), pre = strlen("dev:"), suf = strlen(":tunnels");
	if (len <= pre + suf || strncmp(name, "dev:", pre) != 0 || strcmp(name + len - suf, ":tunnels") != 0)
		return;
	if (count <= ctx->cfg->tunnel.renewal_max)
		return;
	char *dev = iw_malloc(len - pre - suf + 1);
	memcpy(dev, name + pre, len - pre - suf);
	dev[len - pre - suf] = '\0';
	raise_renewal(st, ctx, NULL, dev, name, count, now_us);
	free(dev);
}

const struct iw_rule iw_rule_tunnel = {
    .id = "tunnel",
    .kinds = 1u << IW_EV_TUNNEL,
    .state_new = tunnel_new,
    .state_free = tunnel_free,
    .on_event = tunnel_event,
    .on_count = tunnel_count,
};
