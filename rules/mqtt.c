/* mqtt.c - the MQTT rules of docs/rules.md: mqtt.wildcard_subscribe, mqtt.topic_violation,
 * mqtt.cleartext_credentials, mqtt.client_id_conflict and mqtt.shared_credentials. Topic
 * filters are matched as OASIS mqtt-v5.0 §4.7 (mqtt-v3.1.1 §4.7) says; shared
 * subscriptions are mqtt-v5.0 §4.8.2.
 *
 * What a client may touch is judged against its namespace: the configured templates with
 * {client_id} replaced by the id of the CONNECT the sensor saw on the flow (the event's
 * device.client_id), or, with no templates, every topic with that id as one of its levels.
 * A flow picked up mid-stream has no client id, so its PUBLISHes and SUBSCRIBEs are not
 * judged against a namespace (there is nothing to judge them against); wildcards still
 * are. A client id holding '/', '+' or '#' would widen a template ("dt/{client_id}/#"
 * with id "#" is everything), so such an id is inside no template that names it and has
 * no level of its own.
 *
 * State: the namespace templates split at their {client_id}s (made once per
 * configuration, so a check fills the id in on the stack), and a table of live
 * sessions per client id for client_id_conflict, bounded by ctx->max_entries ids (the
 * least recently connected leave first) and SESSIONS_PER_ID sessions per id. Distinct
 * client ids per username are a set in the state store ("user:<username>:clients"), so
 * that with Redis the whole fleet counts. */
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../parsers/alloc.h"
#include "rule.h"

#define SESSIONS_PER_ID 4       /* live sessions remembered per client id */
#define SAMPLE_MAX      16      /* client ids in a shared_credentials sample */
#define NS_EVIDENCE_MAX 16      /* namespaces listed in a topic_violation */
#define MSG_QUOTE_MAX   120     /* bytes of a topic or id quoted in a message */
#define ADDR_LEN        48      /* an IPv6 address in text and its NUL */
#define TABLE_MIN       64      /* first number of hash buckets */
#define DEFAULT_MAX_IDS 1000000 /* when ctx->max_entries is 0: limits.max_devices' default */
#define DIR_TOSERVER    0       /* IW_DIR_TOSERVER of parsers/parser.h, outside rules/' includes */

static const char cid_var[] = "{client_id}";
static const char share_prefix[] = "$share/";
static const char user_prefix[] = "user:";
static const char user_suffix[] = ":clients";

/* ---------------------------------------------------------------------------------- */
/* strings                                                                            */
/* ---------------------------------------------------------------------------------- */

/* A byte span, not NUL-terminated; s is never NULL. */
struct span {
	const char *s;
	size_t n;
};

static struct span span_mqtt(struct iw_mqtt_str m)
{
	struct span r = {m.s != NULL ? m.s : "", m.s != NULL ? m.n : 0};
	return r;
}

static struct span span_c(const char *s)
{
	struct span r = {s != NULL ? s : "", s != NULL ? strlen(s) : 0};
	return r;
}

static bool span_is(struct span a, const char *lit)
{
	size_t n = strlen(lit);
	return a.n == n && memcmp(a.s, lit, n) == 0;
}

static bool span_eq(struct span a, struct span b)
{
	return a.n == b.n && memcmp(a.s, b.s, a.n) == 0;
}

static bool span_has(struct span a, char c)
{
	return a.n != 0 && memchr(a.s, c, a.n) != NULL;
}

/* A NUL-terminated copy (cut at a NUL inside the span); the caller frees it. */
static char *span_dup(struct span a)
{
	size_t n = strnlen(a.s, a.n);
	char *o = iw_malloc(n + 1);
	memcpy(o, a.s, n);
	o[n] = '\0';
	return o;
}

/* prefix, a and suffix joined; the caller frees it. */
static char *join3(const char *prefix, const char *a, const char *suffix)
{
	size_t lp = strlen(prefix), la = strlen(a), ls = strlen(suffix);
	char *o = iw_malloc(lp + la + ls + 1);
	memcpy(o, prefix, lp);
	memcpy(o + lp, a, la);
	memcpy(o + lp + la, suffix, ls + 1);
	return o;
}

/* How many bytes of s to quote in a message: at most MSG_QUOTE_MAX, never half a
 * UTF-8 sequence. */
static int quote_len(const char *s)
{
	size_t n = strlen(s);
	if (n <= MSG_QUOTE_MAX)
		return (int)n;
	n = MSG_QUOTE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

/* NULL for NULL or "": an empty client id is one the broker assigns, not the client's. */
static const char *nonempty(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

/* A client id that may stand for a topic level: one that would not add a level or a
 * wildcard to the filter it is put in. */
static bool cid_is_level(const char *cid)
{
	return cid != NULL && *cid != '\0' && strpbrk(cid, "/+#") == NULL;
}

/* ---------------------------------------------------------------------------------- */
/* topic filters (mqtt-v5.0 §4.7)                                                     */
/* ---------------------------------------------------------------------------------- */

/* Walks the '/'-separated levels of a topic or filter; "" is one empty level, "a/" two. */
struct levels {
	const char *p, *end;
	bool done;
};

static void levels_init(struct levels *it, struct span s)
{
	it->p = s.s;
	it->end = s.s + s.n;
	it->done = false;
}

static bool levels_next(struct levels *it, struct span *out)
{
	if (it->done)
		return false;
	const char *slash = it->p < it->end ? memchr(it->p, '/', (size_t)(it->end - it->p)) : NULL;
	out->s = it->p;
	if (slash == NULL) {
		out->n = (size_t)(it->end - it->p);
		it->done = true;
	} else {
		out->n = (size_t)(slash - it->p);
		it->p = slash + 1;
	}
	return true;
}

static bool is_dollar(struct span level)
{
	return level.n != 0 && level.s[0] == '$';
}

/* Whether every topic filter f can match is matched by namespace filter ns, level by
 * level: ns's '#' takes the rest (and the parent: "a/#" matches "a"), ns's '+' takes one
 * level of anything but f's '#' (which may also stand for no level at all), a literal
 * only the same literal. A filter whose first level is a wildcard matches no topic that
 * starts with '$' (§4.7.2), so ns "#" does not cover "$SYS/x". A topic name is a filter
 * without wildcards, so this also says whether ns matches a topic. */
static bool covers(struct span ns, struct span f)
{
	struct levels a, b;
	struct span x = {"", 0}, y = {"", 0};
	levels_init(&a, ns);
	levels_init(&b, f);
	for (bool first = true;; first = false) {
		bool has_x = levels_next(&a, &x), has_y = levels_next(&b, &y);
		if (!has_x)
			return !has_y;
		if (span_is(x, "#"))
			return !(first && has_y && is_dollar(y));
		if (!has_y)
			return false;
		if (span_is(x, "+")) {
			if (span_is(y, "#") || (first && is_dollar(y)))
				return false;
			continue;
		}
		if (span_is(y, "+") || span_is(y, "#") || !span_eq(x, y))
			return false;
	}
}

/* Whether one level of f is the client id itself (the namespace without templates). */
static bool has_level(struct span f, const char *cid)
{
	if (!cid_is_level(cid))
		return false;
	struct span want = span_c(cid), y;
	struct levels it;
	levels_init(&it, f);
	while (levels_next(&it, &y))
		if (span_eq(y, want))
			return true;
	return false;
}

/* A SUBSCRIBE filter as sent and the filter it asks for: "$share/<group>/<filter>" asks
 * for <filter> on behalf of <group> (§4.8.2). */
struct sub_filter {
	struct span sent, filter, group;
	bool shared;
};

static struct sub_filter sub_filter_of(struct span sent)
{
	struct sub_filter sf = {.sent = sent, .filter = sent};
	size_t lp = sizeof(share_prefix) - 1;
	if (sent.n <= lp || memcmp(sent.s, share_prefix, lp) != 0)
		return sf;
	const char *g = sent.s + lp;
	const char *slash = memchr(g, '/', sent.n - lp);
	if (slash == NULL)
		return sf; /* no filter after the group: not a shared subscription */
	sf.shared = true;
	sf.group.s = g;
	sf.group.n = (size_t)(slash - g);
	sf.filter.s = slash + 1;
	sf.filter.n = sent.n - lp - sf.group.n - 1;
	return sf;
}

/* ---------------------------------------------------------------------------------- */
/* namespaces                                                                         */
/* ---------------------------------------------------------------------------------- */

/* tmpl with every {client_id} replaced by cid; NULL when tmpl names the client id and
 * cid cannot stand for a level. The caller frees it. */
static char *expand(const char *tmpl, const char *cid)
{
	size_t lv = sizeof(cid_var) - 1, lt = strlen(tmpl), k = 0;
	for (const char *p = tmpl; (p = strstr(p, cid_var)) != NULL; p += lv)
		k++;
	if (k != 0 && !cid_is_level(cid))
		return NULL;
	size_t lc = k != 0 ? strlen(cid) : 0;
	char *out = iw_malloc(lt - k * lv + k * lc + 1), *o = out;
	for (const char *p = tmpl;;) {
		const char *v = strstr(p, cid_var);
		size_t run = v != NULL ? (size_t)(v - p) : strlen(p);
		memcpy(o, p, run);
		o += run;
		if (v == NULL)
			break;
		memcpy(o, cid, lc);
		o += lc;
		p = v + lv;
	}
	*o = '\0';
	return out;
}

/* A namespace template split at its {client_id}s, made once per configuration: the
 * packet path fills the id in on the stack, with no allocation and no search. */
#define NS_VARS_MAX 8 /* {client_id}s a template may hold; past that the slow way */
struct ns_tmpl {
	const char *s; /* the template as configured (NULL: none) */
	size_t n;
	size_t var[NS_VARS_MAX]; /* where each {client_id} starts */
	unsigned n_var;          /* NS_VARS_MAX + 1: more than var holds */
};

struct ns_set {
	const struct iw_rules_cfg *cfg; /* what pub and sub were made from */
	struct ns_tmpl *pub, *sub;
	unsigned n_pub, n_sub;
};

static struct ns_tmpl *ns_compile(char *const *tmpl, unsigned n)
{
	struct ns_tmpl *v = iw_calloc(n ? n : 1, sizeof(*v));
	size_t lv = sizeof(cid_var) - 1;
	for (unsigned i = 0; i < n; i++) {
		struct ns_tmpl *t = &v[i];
		if (tmpl[i] == NULL)
			continue;
		t->s = tmpl[i];
		t->n = strlen(tmpl[i]);
		for (const char *p = t->s; (p = strstr(p, cid_var)) != NULL; p += lv) {
			if (t->n_var == NS_VARS_MAX) {
				t->n_var++;
				break;
			}
			t->var[t->n_var++] = (size_t)(p - t->s);
		}
	}
	return v;
}

static void ns_set_clear(struct ns_set *c)
{
	free(c->pub);
	free(c->sub);
	memset(c, 0, sizeof(*c));
}

static void ns_set_for(struct ns_set *c, const struct iw_rules_cfg *cfg)
{
	if (c->cfg == cfg && c->pub != NULL)
		return;
	ns_set_clear(c);
	c->cfg = cfg;
	c->n_pub = cfg->mqtt.n_publish_namespaces;
	c->n_sub = cfg->mqtt.n_subscribe_namespaces;
	c->pub = ns_compile(cfg->mqtt.publish_namespaces, c->n_pub);
	c->sub = ns_compile(cfg->mqtt.subscribe_namespaces, c->n_sub);
}

/* Whether template t, with cid (cid_ok: it may stand for a level) in place of each
 * {client_id}, covers topic. */
static bool ns_covers(const struct ns_tmpl *t, struct span cid, bool cid_ok, struct span topic)
{
	if (t->s == NULL || (t->n_var != 0 && !cid_ok))
		return false;
	if (t->n_var == 0)
		return covers((struct span){t->s, t->n}, topic);
	if (t->n_var > NS_VARS_MAX) {
		char *e = expand(t->s, cid.s);
		bool ok = e != NULL && covers(span_c(e), topic);
		free(e);
		return ok;
	}
	size_t lv = sizeof(cid_var) - 1, need = t->n - t->n_var * lv + t->n_var * cid.n;
	char stack[256], *buf = need <= sizeof(stack) ? stack : iw_malloc(need), *o = buf;
	size_t from = 0;
	for (unsigned k = 0; k < t->n_var; k++) {
		memcpy(o, t->s + from, t->var[k] - from);
		o += t->var[k] - from;
		memcpy(o, cid.s, cid.n);
		o += cid.n;
		from = t->var[k] + lv;
	}
	memcpy(o, t->s + from, t->n - from);
	bool ok = covers((struct span){buf, need}, topic);
	if (buf != stack)
		free(buf);
	return ok;
}

/* ---------------------------------------------------------------------------------- */
/* live sessions per client id                                                        */
/* ---------------------------------------------------------------------------------- */

struct session {
	uint64_t flow_id, ts_us;
	char addr[ADDR_LEN]; /* "" when unknown: conflicts with nothing */
};

struct id_entry {
	struct id_entry *next;          /* hash chain */
	struct id_entry *older, *newer; /* by last CONNECT */
	uint64_t hash;
	unsigned n;
	struct session s[SESSIONS_PER_ID];
	char id[]; /* the client id */
};

struct id_table {
	struct id_entry **b;
	size_t n_b, n;
	struct id_entry *oldest, *newest;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct id_entry *table_find(const struct id_table *t, const char *id)
{
	if (t->n_b == 0)
		return NULL;
	uint64_t h = hash_str(id);
	for (struct id_entry *e = t->b[h & (t->n_b - 1)]; e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static void lru_unlink(struct id_table *t, struct id_entry *e)
{
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_append(struct id_table *t, struct id_entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest != NULL)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static void table_remove(struct id_table *t, struct id_entry *e)
{
	struct id_entry **pp = &t->b[e->hash & (t->n_b - 1)];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	lru_unlink(t, e);
	t->n--;
	free(e);
}

static void table_grow(struct id_table *t)
{
	size_t nb = t->n_b != 0 ? t->n_b * 2 : TABLE_MIN;
	struct id_entry **b = iw_calloc(nb, sizeof(*b));
	for (size_t i = 0; i < t->n_b; i++) {
		struct id_entry *e = t->b[i], *next;
		for (; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(t->b);
	t->b = b;
	t->n_b = nb;
}

/* A new entry for id, making room by dropping the least recently connected ids. */
static struct id_entry *table_add(struct id_table *t, const char *id, uint64_t max)
{
	while (t->n >= max && t->oldest != NULL)
		table_remove(t, t->oldest);
	if (t->n >= t->n_b)
		table_grow(t);
	size_t len = strlen(id);
	struct id_entry *e = iw_calloc(1, sizeof(*e) + len + 1);
	memcpy(e->id, id, len + 1);
	e->hash = hash_str(id);
	e->next = t->b[e->hash & (t->n_b - 1)];
	t->b[e->hash & (t->n_b - 1)] = e;
	lru_append(t, e);
	t->n++;
	return e;
}

static void table_free(struct id_table *t)
{
	while (t->oldest != NULL) {
		struct id_entry *e = t->oldest;
		t->oldest = e->newer;
		free(e);
	}
	free(t->b);
	memset(t, 0, sizeof(*t));
}

/* The address of the event's device: device.ip, else the client side of the flow, else "". */
static void device_addr(const struct iw_event *ev, char out[ADDR_LEN])
{
	out[0] = '\0';
	if (ev->device.ip != NULL)
		snprintf(out, ADDR_LEN, "%s", ev->device.ip);
	else if (ev->key != NULL && iw_addr_str(&ev->key->src, ev->key->family, out, ADDR_LEN) == NULL)
		out[0] = '\0';
}

/* ---------------------------------------------------------------------------------- */
/* alerts                                                                             */
/* ---------------------------------------------------------------------------------- */

struct mqtt_rules {
	struct ns_set ns;
	struct id_table ids;
};

/* An alert about ev's device (ev NULL: about no device, at ts_us). */
static void alert_init(struct iw_alert *a, const struct iw_event *ev, uint64_t ts_us, const char *rule,
                       const char *category, enum iw_severity sev, const char *message)
{
	memset(a, 0, sizeof(*a));
	a->rule = rule;
	a->category = category;
	a->severity = sev;
	a->message = message;
	a->ts_us = ts_us;
	a->ev = ev;
	if (ev != NULL)
		a->device = ev->device;
}

static struct iw_kv *kv_add(struct iw_alert *a, const char *key, enum iw_kv_type type)
{
	if (a->n_evidence >= IW_ALERT_MAX_EVIDENCE)
		return NULL;
	struct iw_kv *kv = &a->evidence[a->n_evidence++];
	kv->key = key;
	kv->type = type;
	return kv;
}

static void kv_str(struct iw_alert *a, const char *key, const char *v)
{
	struct iw_kv *kv = kv_add(a, key, IW_KV_STR);
	if (kv != NULL)
		kv->v.s = v;
}

static void kv_int(struct iw_alert *a, const char *key, uint64_t v)
{
	struct iw_kv *kv = kv_add(a, key, IW_KV_INT);
	if (kv != NULL)
		kv->v.i = v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void kv_bool(struct iw_alert *a, const char *key, bool v)
{
	struct iw_kv *kv = kv_add(a, key, IW_KV_BOOL);
	if (kv != NULL)
		kv->v.b = v;
}

static void kv_time(struct iw_alert *a, const char *key, uint64_t v)
{
	struct iw_kv *kv = kv_add(a, key, IW_KV_TIME);
	if (kv != NULL)
		kv->v.t = v;
}

static void kv_strs(struct iw_alert *a, const char *key, const char *const *v, unsigned n)
{
	struct iw_kv *kv = kv_add(a, key, IW_KV_STRS);
	if (kv != NULL) {
		kv->v.list.p = v;
		kv->v.list.n = n;
	}
}

/* Who a message names: the client id, else the device's id. */
static const char *who(const struct iw_event *ev, const char *cid)
{
	if (cid != NULL)
		return cid;
	return ev->device.id != NULL ? ev->device.id : "?";
}

static bool trusted(const struct iw_rules_cfg *cfg, const char *cid)
{
	if (cid == NULL)
		return false;
	for (unsigned i = 0; i < cfg->mqtt.n_trusted_clients; i++) {
		const char *glob = cfg->mqtt.trusted_clients[i];
		if (glob != NULL && fnmatch(glob, cid, 0) == 0)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------------------------- */
/* mqtt.wildcard_subscribe, mqtt.topic_violation                                      */
/* ---------------------------------------------------------------------------------- */

static void wildcard_subscribe(struct iw_rule_ctx *ctx, const struct iw_event *ev, const char *cid,
                               const struct sub_filter *sf, uint8_t qos)
{
	if (!span_has(sf->filter, '#') && !span_has(sf->filter, '+'))
		return;
	bool high = span_is(sf->filter, "#") || span_is(sf->filter, "$SYS/#");
	char *sent = span_dup(sf->sent);
	if (ctx->alerted != NULL &&
	    ctx->alerted(ctx, "mqtt.wildcard_subscribe", ev->device.id, sent, ev->ts_us)) {
		free(sent); /* said today: the rest is formatting for nothing */
		return;
	}
	char *group = sf->shared ? span_dup(sf->group) : NULL;
	const char *c = who(ev, cid);
	char msg[320];
	snprintf(msg, sizeof(msg), "client %.*s subscribed to the wildcard filter %.*s", quote_len(c), c,
	         quote_len(sent), sent);

	struct iw_alert a;
	alert_init(&a, ev, ev->ts_us, "mqtt.wildcard_subscribe", "mqtt-abuse",
	           high ? IW_SEV_HIGH : IW_SEV_MEDIUM, msg);
	kv_str(&a, "filter", sent);
	if (cid != NULL)
		kv_str(&a, "client_id", cid);
	kv_int(&a, "qos", qos);
	if (group != NULL)
		kv_str(&a, "shared_group", group);
	ctx->raise(ctx, &a, sent);
	free(sent);
	free(group);
}

/* Judges topic (the PUBLISH topic, or the filter a SUBSCRIBE asks for) against the
 * client's namespace for action; sent is what the client sent, group the shared
 * subscription's group (s NULL when none). */
static void topic_violation(struct mqtt_rules *r, struct iw_rule_ctx *ctx, const struct iw_event *ev,
                            const char *cid, bool publish, struct span topic, struct span sent,
                            struct span group, bool shared)
{
	const struct iw_rules_cfg *cfg = ctx->cfg;
	unsigned n_tmpl = publish ? cfg->mqtt.n_publish_namespaces : cfg->mqtt.n_subscribe_namespaces;
	char *const *tmpl = publish ? cfg->mqtt.publish_namespaces : cfg->mqtt.subscribe_namespaces;
	if (n_tmpl == 0) {
		if (has_level(topic, cid))
			return;
	} else {
		ns_set_for(&r->ns, cfg);
		const struct ns_tmpl *ns = publish ? r->ns.pub : r->ns.sub;
		struct span c = span_c(cid);
		bool cid_ok = cid_is_level(cid);
		for (unsigned i = 0; i < n_tmpl; i++)
			if (ns_covers(&ns[i], c, cid_ok, topic))
				return;
	}

	const char *action = publish ? "publish" : "subscribe";
	char *what = span_dup(sent), *grp = shared ? span_dup(group) : NULL;
	char *subject = join3(action, ":", what);
	char msg[320];
	snprintf(msg, sizeof(msg), "client %.*s %s %.*s outside its namespace", quote_len(cid), cid,
	         publish ? "published to" : "subscribed to", quote_len(what), what);
	char *ns_text[NS_EVIDENCE_MAX];
	const char *list[NS_EVIDENCE_MAX];
	unsigned n_list = 0;
	for (unsigned i = 0; i < n_tmpl && n_list < NS_EVIDENCE_MAX; i++)
		if (tmpl[i] != NULL && (ns_text[n_list] = expand(tmpl[i], cid)) != NULL) {
			list[n_list] = ns_text[n_list];
			n_list++;
		}

	struct iw_alert a;
	alert_init(&a, ev, ev->ts_us, "mqtt.topic_violation", "mqtt-abuse", IW_SEV_MEDIUM, msg);
	kv_str(&a, "action", action);
	kv_str(&a, "topic", what);
	kv_str(&a, "client_id", cid);
	if (n_tmpl != 0)
		kv_strs(&a, "namespaces", list, n_list);
	if (grp != NULL)
		kv_str(&a, "shared_group", grp);
	ctx->raise(ctx, &a, subject);
	for (unsigned i = 0; i < n_list; i++)
		free(ns_text[i]);
	free(subject);
	free(grp);
	free(what);
}

static void on_subscribe(struct mqtt_rules *r, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	const struct iw_ev_mqtt *m = &ev->u.mqtt;
	const char *cid = nonempty(ev->device.client_id);
	if (m->topics == NULL || trusted(ctx->cfg, cid))
		return;
	for (uint32_t i = 0; i < m->n_topics; i++) {
		const struct iw_mqtt_topic *t = &m->topics[i];
		if (t->filter.s == NULL || t->filter.n == 0)
			continue; /* an empty filter asks for nothing (and breaks §4.7.3) */
		struct sub_filter sf = sub_filter_of(span_mqtt(t->filter));
		wildcard_subscribe(ctx, ev, cid, &sf, t->qos);
		if (cid != NULL)
			topic_violation(r, ctx, ev, cid, false, sf.filter, sf.sent, sf.group, sf.shared);
	}
}

static void on_publish(struct mqtt_rules *r, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	const struct iw_ev_mqtt *m = &ev->u.mqtt;
	const char *cid = nonempty(ev->device.client_id);
	if (cid == NULL || m->topic.s == NULL || m->topic.n == 0 || trusted(ctx->cfg, cid))
		return; /* an empty topic is an alias the sensor never saw set */
	struct span topic = span_mqtt(m->topic), none = {"", 0};
	topic_violation(r, ctx, ev, cid, true, topic, topic, none, false);
}

/* ---------------------------------------------------------------------------------- */
/* mqtt.cleartext_credentials, mqtt.client_id_conflict, mqtt.shared_credentials       */
/* ---------------------------------------------------------------------------------- */

/* Our parser only ever sees MQTT in clear (an MQTT session inside TLS is never
 * decoded), so a CONNECT with a password is a password on the wire. */
static void cleartext_credentials(struct iw_rule_ctx *ctx, const struct iw_event *ev, const char *user,
                                  const char *cid)
{
	const char *c = who(ev, cid);
	char msg[320];
	snprintf(msg, sizeof(msg), "client %.*s sent the password of user %.*s in clear%s", quote_len(c), c,
	         quote_len(user), user, ev->u.mqtt.websocket ? " (MQTT over WebSocket)" : "");
	struct iw_alert a;
	alert_init(&a, ev, ev->ts_us, "mqtt.cleartext_credentials", "credential-exposure", IW_SEV_HIGH, msg);
	kv_str(&a, "username", user);
	if (cid != NULL)
		kv_str(&a, "client_id", cid);
	kv_bool(&a, "password_present", true);
	kv_bool(&a, "websocket", ev->u.mqtt.websocket);
	ctx->raise(ctx, &a, user);
}

/* Records the session of this CONNECT, first raising a conflict when the same client
 * id is live from another address. */
static void client_id_conflict(struct mqtt_rules *r, struct iw_rule_ctx *ctx, const struct iw_event *ev,
                               const char *cid)
{
	char addr[ADDR_LEN];
	device_addr(ev, addr);
	struct id_entry *e = table_find(&r->ids, cid);
	const struct session *other = NULL;
	for (unsigned i = 0; e != NULL && addr[0] != '\0' && i < e->n; i++) {
		const struct session *s = &e->s[i];
		if (s->flow_id != ev->flow_id && s->addr[0] != '\0' && strcmp(s->addr, addr) != 0 &&
		    (other == NULL || s->ts_us < other->ts_us))
			other = s;
	}
	if (other != NULL) {
		const char *addrs[2] = {other->addr, addr};
		char msg[320];
		snprintf(msg, sizeof(msg), "client id %.*s is connected from %s and %s at once",
		         quote_len(cid), cid, other->addr, addr);
		struct iw_alert a;
		alert_init(&a, ev, ev->ts_us, "mqtt.client_id_conflict", "mqtt-abuse", IW_SEV_MEDIUM, msg);
		kv_str(&a, "client_id", cid);
		kv_strs(&a, "addresses", addrs, 2);
		kv_time(&a, "first_seen", other->ts_us);
		ctx->raise(ctx, &a, NULL);
	}

	if (e == NULL)
		e = table_add(&r->ids, cid, ctx->max_entries != 0 ? ctx->max_entries : DEFAULT_MAX_IDS);
	else {
		lru_unlink(&r->ids, e);
		lru_append(&r->ids, e);
	}
	struct session *slot = NULL;
	for (unsigned i = 0; i < e->n && slot == NULL; i++)
		if (e->s[i].flow_id == ev->flow_id)
			slot = &e->s[i]; /* a second CONNECT on one flow starts its session anew */
	if (slot == NULL && e->n < SESSIONS_PER_ID)
		slot = &e->s[e->n++];
	if (slot == NULL) { /* full: the oldest session leaves */
		unsigned old = 0;
		for (unsigned i = 1; i < e->n; i++)
			if (e->s[i].ts_us < e->s[old].ts_us)
				old = i;
		slot = &e->s[old];
	}
	slot->flow_id = ev->flow_id;
	slot->ts_us = ev->ts_us;
	memcpy(slot->addr, addr, sizeof(slot->addr));
}

/* The session of flow_id under client id cid ended (DISCONNECT or the flow's end). */
static void session_end(struct mqtt_rules *r, const char *cid, uint64_t flow_id)
{
	if (cid == NULL)
		return;
	struct id_entry *e = table_find(&r->ids, cid);
	if (e == NULL)
		return;
	for (unsigned i = 0; i < e->n; i++)
		if (e->s[i].flow_id == flow_id) {
			e->s[i] = e->s[--e->n];
			break;
		}
	if (e->n == 0)
		table_remove(&r->ids, e);
}

/* Raises shared_credentials for set name (user's client ids), count members in all;
 * ev is NULL when the count came from the fleet (on_count). */
static void raise_shared(struct iw_rule_ctx *ctx, const struct iw_event *ev, uint64_t ts_us, const char *name,
                         const char *user, uint64_t count)
{
	if (ctx->alerted != NULL && ctx->alerted(ctx, "mqtt.shared_credentials", NULL, user, ts_us))
		return; /* said today: no evidence to build */
	uint64_t max = ctx->cfg->mqtt.shared_credentials_max;
	struct iw_set_member mem[SAMPLE_MAX];
	unsigned n = ctx->state->ops->set_members(ctx->state, name, mem, SAMPLE_MAX);
	/* copies: the members live only until the next state call, and raise may make one */
	char *sample[SAMPLE_MAX];
	for (unsigned i = 0; i < n && i < SAMPLE_MAX; i++)
		sample[i] = span_dup(span_c(mem[i].member));
	char msg[320];
	snprintf(msg, sizeof(msg), "MQTT user %.*s is used by %llu client ids (more than %llu)",
	         quote_len(user), user, (unsigned long long)count, (unsigned long long)max);

	struct iw_alert a;
	alert_init(&a, ev, ts_us, "mqtt.shared_credentials", "credential-exposure", IW_SEV_HIGH, msg);
	memset(&a.device, 0, sizeof(a.device)); /* a fleet alert: the record shows ev's device */
	kv_str(&a, "username", user);
	kv_int(&a, "client_ids", count);
	kv_int(&a, "shared_credentials_max", max);
	kv_strs(&a, "sample", (const char *const *)sample, n);
	ctx->raise(ctx, &a, user);
	for (unsigned i = 0; i < n; i++)
		free(sample[i]);
}

static void shared_credentials(struct iw_rule_ctx *ctx, const struct iw_event *ev, const char *user,
                               const char *cid)
{
	char *name = join3(user_prefix, user, user_suffix);
	uint64_t count = ctx->state->ops->set_add(ctx->state, name, cid, ev->ts_us, 0, 0);
	if (count > ctx->cfg->mqtt.shared_credentials_max)
		raise_shared(ctx, ev, ev->ts_us, name, user, count);
	free(name);
}

static void on_connect(struct mqtt_rules *r, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	const struct iw_ev_mqtt *m = &ev->u.mqtt;
	char *cid = m->client_id.n != 0 ? span_dup(span_mqtt(m->client_id)) : NULL;
	char *user = m->has_username ? span_dup(span_mqtt(m->username)) : NULL;
	if (cid != NULL && cid[0] == '\0') {
		free(cid);
		cid = NULL;
	}
	if (user != NULL && m->password_present)
		cleartext_credentials(ctx, ev, user, cid);
	if (cid != NULL)
		client_id_conflict(r, ctx, ev, cid);
	if (cid != NULL && user != NULL)
		shared_credentials(ctx, ev, user, cid);
	free(user);
	free(cid);
}

/* ---------------------------------------------------------------------------------- */
/* the descriptor                                                                     */
/* ---------------------------------------------------------------------------------- */

static void *mqtt_state_new(const struct iw_rules_cfg *cfg)
{
	(void)cfg;
	return iw_calloc(1, sizeof(struct mqtt_rules));
}

static void mqtt_state_free(void *st)
{
	struct mqtt_rules *r = st;
	if (r == NULL)
		return;
	ns_set_clear(&r->ns);
	table_free(&r->ids);
	free(r);
}

static void mqtt_on_event(void *st, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	struct mqtt_rules *r = st;
	if (ev->kind == IW_EV_FLOW) {
		session_end(r, nonempty(ev->device.client_id), ev->flow_id);
		return;
	}
	if (ev->kind != IW_EV_MQTT)
		return;
	const struct iw_ev_mqtt *m = &ev->u.mqtt;
	if (m->malformed != NULL || m->skipped)
		return; /* nothing in it can be trusted, or nothing was read */
	switch (m->msgtype) {
	case IW_MQTT_CONNECT:
		if (m->dir == DIR_TOSERVER)
			on_connect(r, ctx, ev);
		break;
	case IW_MQTT_DISCONNECT: /* either way: 5.0 servers send one too */
		session_end(r, nonempty(ev->device.client_id), ev->flow_id);
		break;
	case IW_MQTT_SUBSCRIBE:
		if (m->dir == DIR_TOSERVER)
			on_subscribe(r, ctx, ev);
		break;
	case IW_MQTT_PUBLISH: /* to the client it is a delivery, not the client's doing */
		if (m->dir == DIR_TOSERVER)
			on_publish(r, ctx, ev);
		break;
	default:
		break;
	}
}

/* Redis says the fleet has count client ids for a username: "user:<username>:clients". */
static void mqtt_on_count(void *st, struct iw_rule_ctx *ctx, const char *name, uint64_t count,
                          uint64_t now_us)
{
	(void)st;
	size_t lp = sizeof(user_prefix) - 1, ls = sizeof(user_suffix) - 1,
	       n = name != NULL ? strlen(name) : 0;
	if (n < lp + ls || memcmp(name, user_prefix, lp) != 0 || memcmp(name + n - ls, user_suffix, ls) != 0)
		return;
	if (count <= ctx->cfg->mqtt.shared_credentials_max)
		return;
	struct span u = {name + lp, n - lp - ls};
	char *user = span_dup(u);
	raise_shared(ctx, NULL, now_us, name, user, count);
	free(user);
}

const struct iw_rule iw_rule_mqtt = {
    .id = "mqtt",
    .kinds = (1u << IW_EV_MQTT) | (1u << IW_EV_FLOW),
    .state_new = mqtt_state_new,
    .state_free = mqtt_state_free,
    .on_event = mqtt_on_event,
    .on_tick = NULL,
    .on_count = mqtt_on_count,
};
