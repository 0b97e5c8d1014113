/* cert.c - the certificate rules of docs/rules.md (family "tls"): client certificates
 * (mutual TLS, in clear in TLS 1.2: RFC 5246 §7.4.6) that expire soon or are presented
 * from several addresses, batches of devices whose certificates expire together, and the
 * reconnect flood when they do (alert codes of RFC 8446 §6.2 and RFC 5246 §7.2.2; CONNACK
 * codes of MQTT 3.1.1 §3.2.2.3 and 5.0 §3.2.2.2).
 *
 *   tls.cert_expiring         a client certificate within rules.cert.expiry_lead of its
 *                             notAfter, or past it; subject: its SHA-256
 *   tls.shared_certificate    one client certificate from two or more device addresses
 *                             within a day; set "cert:<fp>:addrs"
 *   tls.cert_expiry_storm     predicted: storm_min_devices devices whose certificates end in
 *                             one storm_bucket, set "certexp:<date>"; reactive:
 *                             flood_min_devices devices failing to connect within
 *                             flood_window, set "fail"
 *
 * The sets are counted across the fleet with Redis, so each is also judged in on_count;
 * what such an alert needs beyond the set (a certificate's CN, a bucket's issuers, the
 * failure reasons) is kept here in bounded tables. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../parsers/alloc.h"
#include "../parsers/parser.h" /* IW_DIR_TOSERVER, IW_DIR_TOCLIENT */
#include "lru.h"
#include "rule.h"

#define US          1000000ll
#define DAY_S       86400ll
#define TIME_LIMIT  1000000000000ll /* seconds (year 33658): any time in µs stays in int64 */
#define MAX_ISSUERS 8               /* issuer names kept per expiry bucket */
#define MAX_REASONS 16              /* distinct failure reasons kept */
#define MAX_SAMPLE  16              /* set members shown in evidence */
#define MAX_NAME    256             /* bytes kept of a name (CN, issuer) */
#define GRACE_S     60 /* a windowed set lives this long past its window: the edge still counts */
#define CATEGORY    "certificate"

/* A client certificate seen: its names, for the fleet's shared_certificate alert. Key:
 * the SHA-256 fingerprint. */
struct fp_ent {
	struct iw_lru_node n;
	char *subject, *cn;
	bool expiring_raised; /* tls.cert_expiring is once per certificate, not once a day */
};

/* An expiry bucket: the distinct issuers of the certificates in it. Key: its label. */
struct bucket_ent {
	struct iw_lru_node n;
	char *issuers[MAX_ISSUERS];
	unsigned n_issuers;
};

struct reason {
	char name[64];
	uint64_t last_us;
};

struct cert_state {
	struct iw_lru fps, buckets;
	struct reason reasons[MAX_REASONS]; /* failure reasons, any age: judged by last_us */
	unsigned n_reasons;
};

/* ---- small helpers ---- */

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static int64_t u2i(uint64_t v, int64_t hi)
{
	return v > (uint64_t)hi ? hi : (int64_t)v;
}

/* Rounds toward minus infinity (b > 0): -1 h in days is -1, not 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Copies at most max - 1 bytes of s into out, cut at a UTF-8 character boundary. */
static void copy_cut(char *out, size_t max, const char *s)
{
	size_t n = strnlen(s, max);
	if (n == max) {
		n = max - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

/* A copy of s cut as copy_cut does to MAX_NAME; the caller frees it. */
static char *dup_name(const char *s)
{
	char cut[MAX_NAME];
	copy_cut(cut, sizeof(cut), s);
	size_t n = strlen(cut) + 1;
	char *d = iw_malloc(n);
	memcpy(d, cut, n);
	return d;
}

/* "2026-12-15" for a bucket starting at midnight UTC, else "2026-12-15T06:00:00Z" (a
 * bucket shorter than a day, or not a multiple of one). Returns false for a time gmtime
 * cannot express. */
static bool bucket_label(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm))
		return false;
	if (floor_div(t, DAY_S) * DAY_S == t)
		snprintf(out, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	else
		snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return true;
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

static void kv_strs(struct iw_alert *a, const char *k, const char *const *v, unsigned n)
{
	if (a->n_evidence < IW_ALERT_MAX_EVIDENCE)
		a->evidence[a->n_evidence++] =
		    (struct iw_kv){.key = k, .type = IW_KV_STRS, .v.list = {.p = v, .n = n}};
}

/* Up to MAX_SAMPLE members of set name added within window_us of now_us (0: any),
 * oldest first; the strings live until the next state call. */
static unsigned sample(struct iw_rule_ctx *ctx, const char *name, uint64_t window_us, uint64_t now_us,
                       const char **out)
{
	struct iw_set_member m[MAX_SAMPLE * 4];
	unsigned n = ctx->state->ops->set_members(ctx->state, name, m, MAX_SAMPLE * 4), k = 0;
	for (unsigned i = 0; i < n && k < MAX_SAMPLE; i++)
		if (!window_us || m[i].ts_us + window_us >= now_us)
			out[k++] = m[i].member;
	return k;
}

/* The device as a set member: its id, else its address; NULL when neither is known. */
static const char *member_of(const struct iw_event *ev)
{
	if (ev->device.id && *ev->device.id)
		return ev->device.id;
	if (ev->device.ip && *ev->device.ip)
		return ev->device.ip;
	return NULL;
}

/* The leaf of a Certificate message the client sent, or NULL. */
static const struct iw_x509 *client_cert(const struct iw_event *ev, bool *decoded)
{
	const struct iw_ev_tls *t = &ev->u.tls;
	if (ev->kind != IW_EV_TLS || t->type != IW_TLS_CERTIFICATE || t->dir != IW_DIR_TOSERVER ||
	    t->n_certs == 0 || !t->certs)
		return NULL;
	*decoded = t->cert_ok && t->cert_ok[0];
	return &t->certs[0];
}

/* ---- state ---- */

static void fp_drop(void *e)
{
	struct fp_ent *f = e;
	free(f->subject);
	free(f->cn);
}

static void bucket_drop(void *e)
{
	struct bucket_ent *b = e;
	for (unsigned i = 0; i < b->n_issuers; i++)
		free(b->issuers[i]);
}

static void *cert_new(const struct iw_rules_cfg *cfg)
{
	(void)cfg;
	struct cert_state *st = iw_calloc(1, sizeof(*st));
	iw_lru_init(&st->fps, sizeof(struct fp_ent), fp_drop);
	iw_lru_init(&st->buckets, sizeof(struct bucket_ent), bucket_drop);
	return st;
}

static void cert_free(void *p)
{
	struct cert_state *st = p;
	if (!st)
		return;
	iw_lru_free(&st->fps);
	iw_lru_free(&st->buckets);
	free(st);
}

/* ---- tls.cert_expiring ---- */

static void expiring(struct cert_state *st, struct iw_rule_ctx *ctx, const struct iw_event *ev,
                     const struct iw_x509 *x)
{
	const struct iw_rules_cfg *cfg = ctx->cfg;
	if (!x->sha256[0])
		return;
	const struct fp_ent *seen = iw_lru_find(&st->fps, x->sha256);
	if (seen && seen->expiring_raised)
		return;
	int64_t now_us = u2i(ev->ts_us, TIME_LIMIT * US);
	int64_t na_s = clamp64(x->not_after, -TIME_LIMIT, TIME_LIMIT);
	int64_t left_us = na_s * US - now_us;
	if (left_us > u2i(cfg->cert.expiry_lead, 4 * TIME_LIMIT) * US)
		return;
	bool expired = left_us < 0;
	int64_t days = floor_div(left_us, DAY_S * US);

	char day[40] = "?", msg[384];
	bucket_label(floor_div(na_s, DAY_S) * DAY_S, day, sizeof(day));
	char who[128];
	copy_cut(who, sizeof(who), x->subject_cn ? x->subject_cn : x->subject ? x->subject : x->sha256);
	if (expired)
		snprintf(msg, sizeof(msg), "client certificate %s expired on %s", who, day);
	else
		snprintf(msg, sizeof(msg), "client certificate %s expires on %s, in %" PRId64 " days", who,
		         day, days);

	struct iw_alert a = {.rule = "tls.cert_expiring",
	                     .category = CATEGORY,
	                     .severity = expired ? IW_SEV_HIGH : IW_SEV_MEDIUM,
	                     .message = msg,
	                     .ts_us = ev->ts_us,
	                     .ev = ev};
	kv_str(&a, "fingerprint", x->sha256);
	kv_str(&a, "subject", x->subject);
	kv_str(&a, "issuer", x->issuer);
	kv_str(&a, "serial", x->serial);
	kv_time(&a, "not_after", na_s > 0 ? (uint64_t)(na_s * US) : 0);
	kv_int(&a, "days_left", days);
	kv_bool(&a, "expired", expired);
	ctx->raise(ctx, &a, x->sha256);
	struct fp_ent *f = iw_lru_put(&st->fps, x->sha256, ctx->max_entries, NULL);
	f->expiring_raised = true;
}

/* ---- tls.shared_certificate ---- */

static void raise_shared(struct cert_state *st, struct iw_rule_ctx *ctx, const struct iw_event *ev,
                         const char *set, const char *fp, uint64_t count, uint64_t now_us)
{
	if (ctx->alerted != NULL && ctx->alerted(ctx, "tls.shared_certificate", NULL, fp, now_us))
		return; /* said today: no evidence to build */
	const struct fp_ent *f = iw_lru_find(&st->fps, fp);
	const char *addrs[MAX_SAMPLE];
	unsigned n = sample(ctx, set, DAY_S * US, now_us, addrs);
	char who[128], msg[256];
	copy_cut(who, sizeof(who), f && f->cn ? f->cn : f && f->subject ? f->subject : fp);
	snprintf(msg, sizeof(msg), "client certificate %s presented from %" PRIu64 " addresses", who, count);
	struct iw_alert a = {.rule = "tls.shared_certificate",
	                     .category = CATEGORY,
	                     .severity = IW_SEV_HIGH,
	                     .message = msg,
	                     .ts_us = now_us,
	                     .ev = ev};
	kv_str(&a, "fingerprint", fp);
	kv_str(&a, "subject", f ? f->subject : NULL);
	kv_strs(&a, "addresses", addrs, n);
	kv_int(&a, "devices", u2i(count, INT64_MAX));
	ctx->raise(ctx, &a, fp);
}

/* Replaces *slot by a copy of s (cut to MAX_NAME) unless it already holds that. */
static void keep_name(char **slot, const char *s)
{
	char cut[MAX_NAME];
	if (!s)
		return;
	copy_cut(cut, sizeof(cut), s);
	if (*slot && strcmp(*slot, cut) == 0)
		return;
	free(*slot);
	*slot = dup_name(cut);
}

static void shared(struct cert_state *st, struct iw_rule_ctx *ctx, const struct iw_event *ev,
                   const struct iw_x509 *x, bool decoded)
{
	if (!x->sha256[0])
		return;
	char addr[64];
	const char *ip = ev->device.ip && *ev->device.ip ? ev->device.ip : NULL;
	if (!ip && ev->key) /* the client sent it */
		ip = iw_addr_str(&ev->key->src, ev->key->family, addr, sizeof(addr));
	if (!ip)
		return;

	struct fp_ent *f = iw_lru_put(&st->fps, x->sha256, ctx->max_entries, NULL);
	if (decoded) {
		keep_name(&f->subject, x->subject ? x->subject : x->subject_cn);
		keep_name(&f->cn, x->subject_cn);
	}

	char set[96];
	snprintf(set, sizeof(set), "cert:%s:addrs", x->sha256);
	uint64_t n = ctx->state->ops->set_add(ctx->state, set, ip, ev->ts_us, DAY_S * US, DAY_S + GRACE_S);
	if (n >= 2)
		raise_shared(st, ctx, ev, set, x->sha256, n, ev->ts_us);
}

/* ---- tls.cert_expiry_storm, predicted ---- */

static void raise_predicted(struct cert_state *st, struct iw_rule_ctx *ctx, const struct iw_event *ev,
                            const char *set, const char *label, uint64_t count, uint64_t now_us)
{
	char msg[160], subject[64];
	snprintf(subject, sizeof(subject), "predicted:%s", label);
	if (ctx->alerted != NULL && ctx->alerted(ctx, "tls.cert_expiry_storm", NULL, subject, now_us))
		return;
	const struct bucket_ent *b = iw_lru_find(&st->buckets, label);
	const char *devs[MAX_SAMPLE];
	unsigned n = sample(ctx, set, 0, now_us, devs);
	snprintf(msg, sizeof(msg), "%" PRIu64 " devices hold client certificates expiring on %s", count,
	         label);
	struct iw_alert a = {.rule = "tls.cert_expiry_storm",
	                     .category = CATEGORY,
	                     .severity = IW_SEV_HIGH,
	                     .message = msg,
	                     .ts_us = now_us,
	                     .ev = ev};
	kv_str(&a, "kind", "predicted");
	kv_str(&a, "date", label);
	kv_int(&a, "devices", u2i(count, INT64_MAX));
	kv_strs(&a, "issuers", b ? (const char *const *)b->issuers : NULL, b ? b->n_issuers : 0);
	kv_strs(&a, "sample", devs, n);
	kv_int(&a, "storm_min_devices", u2i(ctx->cfg->cert.storm_min_devices, INT64_MAX));
	ctx->raise(ctx, &a, subject);
}

static void predicted(struct cert_state *st, struct iw_rule_ctx *ctx, const struct iw_event *ev,
                      const struct iw_x509 *x)
{
	const char *dev = member_of(ev);
	if (!dev || x->not_after < -TIME_LIMIT || x->not_after > TIME_LIMIT)
		return;
	int64_t bs = ctx->cfg->cert.storm_bucket ? u2i(ctx->cfg->cert.storm_bucket, TIME_LIMIT) : DAY_S;
	int64_t start = floor_div(x->not_after, bs) * bs;
	char label[40];
	if (!bucket_label(start, label, sizeof(label)))
		return;
	/* the set outlives its bucket by a day, so the fleet still sees the whole batch */
	int64_t now_s = u2i(ev->ts_us / US, TIME_LIMIT);
	int64_t ttl = start + bs - now_s + DAY_S;
	if (ttl < DAY_S)
		ttl = DAY_S;

	struct bucket_ent *b = iw_lru_put(&st->buckets, label, ctx->max_entries, NULL);
	const char *issuer = x->issuer_cn ? x->issuer_cn : x->issuer;
	if (issuer && b->n_issuers < MAX_ISSUERS) {
		char cut[MAX_NAME]; /* as kept, so that a long name matches its copy */
		copy_cut(cut, sizeof(cut), issuer);
		bool known = false;
		for (unsigned i = 0; i < b->n_issuers && !known; i++)
			known = strcmp(b->issuers[i], cut) == 0;
		if (!known)
			b->issuers[b->n_issuers++] = dup_name(cut);
	}

	char set[64];
	snprintf(set, sizeof(set), "certexp:%s", label);
	uint64_t n = ctx->state->ops->set_add(ctx->state, set, dev, ev->ts_us, 0, (uint64_t)ttl);
	if (n >= ctx->cfg->cert.storm_min_devices)
		raise_predicted(st, ctx, ev, set, label, n, ev->ts_us);
}

/* ---- tls.cert_expiry_storm, reactive ---- */

static uint64_t flood_window_us(const struct iw_rules_cfg *cfg)
{
	return (uint64_t)u2i(cfg->cert.flood_window ? cfg->cert.flood_window : 1, TIME_LIMIT) * US;
}

/* Whether ev is a failure to connect; *reason names it ("tls:certificate_expired"). */
static bool failure(const struct iw_event *ev, char *reason, size_t len)
{
	if (ev->kind == IW_EV_TLS) {
		const struct iw_ev_tls *t = &ev->u.tls;
		if (t->type == IW_TLS_HANDSHAKE_FAILED) {
			/* an alert in clear ended it: that alert is the reason, and the flow's
			 * certificate_expired and its end read as one */
			const char *name =
			    t->alert_seen && !t->encrypted ? iw_tls_alert_name(t->description) : NULL;
			snprintf(reason, len, "tls:%s",
			         name         ? name
			         : t->failure ? t->failure
			                      : "handshake_failed");
			return true;
		}
		if (t->type != IW_TLS_ALERT || t->encrypted)
			return false;
		switch (t->description) {
		case 42:  /* bad_certificate */
		case 43:  /* unsupported_certificate */
		case 44:  /* certificate_revoked */
		case 45:  /* certificate_expired */
		case 46:  /* certificate_unknown */
		case 48:  /* unknown_ca */
		case 49:  /* access_denied */
		case 116: /* certificate_required */
			break;
		default:
			return false;
		}
		const char *name = iw_tls_alert_name(t->description);
		snprintf(reason, len, "tls:%s", name ? name : "alert");
		return true;
	}
	if (ev->kind == IW_EV_MQTT) {
		const struct iw_ev_mqtt *m = &ev->u.mqtt;
		if (m->msgtype != IW_MQTT_CONNACK || m->dir != IW_DIR_TOCLIENT || !m->has_code)
			return false;
		if (m->protocol_version == 5 ? m->code < 0x80 : m->code == 0)
			return false;
		if (m->reason)
			snprintf(reason, len, "mqtt:%s", m->reason);
		else
			snprintf(reason, len, "mqtt:code_%u", m->code);
		return true;
	}
	return false;
}

static void note_reason(struct cert_state *st, const char *name, uint64_t ts_us)
{
	struct reason *r = NULL;
	for (unsigned i = 0; i < st->n_reasons && !r; i++)
		if (strcmp(st->reasons[i].name, name) == 0)
			r = &st->reasons[i];
	if (r) {
		if (ts_us > r->last_us)
			r->last_us = ts_us;
		return;
	}
	if (st->n_reasons < MAX_REASONS) {
		r = &st->reasons[st->n_reasons++];
	} else { /* full: the one seen least lately makes room */
		r = &st->reasons[0];
		for (unsigned i = 1; i < MAX_REASONS; i++)
			if (st->reasons[i].last_us < r->last_us)
				r = &st->reasons[i];
	}
	copy_cut(r->name, sizeof(r->name), name);
	r->last_us = ts_us;
}

static void raise_reactive(struct cert_state *st, struct iw_rule_ctx *ctx, const struct iw_event *ev,
                           uint64_t count, uint64_t now_us)
{
	/* one flood an hour at most: a second flood hours later (another endpoint, another
	 * batch) is news, a flood that goes on is said again each hour */
	char subject[32];
	snprintf(subject, sizeof(subject), "reactive:%" PRIu64, (uint64_t)(now_us / (3600 * US)));
	if (ctx->alerted != NULL && ctx->alerted(ctx, "tls.cert_expiry_storm", NULL, subject, now_us))
		return;
	uint64_t win = flood_window_us(ctx->cfg);
	const char *devs[MAX_SAMPLE], *reasons[MAX_REASONS];
	unsigned n = sample(ctx, "fail", win, now_us, devs), nr = 0;
	for (unsigned i = 0; i < st->n_reasons; i++)
		if (st->reasons[i].last_us + win >= now_us)
			reasons[nr++] = st->reasons[i].name;
	uint64_t win_s = win / US;
	char msg[160];
	snprintf(msg, sizeof(msg), "%" PRIu64 " devices failed to connect within %" PRIu64 " s", count,
	         win_s);
	struct iw_alert a = {.rule = "tls.cert_expiry_storm",
	                     .category = CATEGORY,
	                     .severity = IW_SEV_CRITICAL,
	                     .message = msg,
	                     .ts_us = now_us,
	                     .ev = ev};
	kv_str(&a, "kind", "reactive");
	kv_int(&a, "devices", u2i(count, INT64_MAX));
	kv_int(&a, "window_s", (int64_t)win_s);
	kv_strs(&a, "sample", devs, n);
	kv_strs(&a, "reasons", reasons, nr);
	kv_int(&a, "flood_min_devices", u2i(ctx->cfg->cert.flood_min_devices, INT64_MAX));
	ctx->raise(ctx, &a, subject);
}

static void reactive(struct cert_state *st, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	char reason[96];
	const char *dev = member_of(ev);
	if (!dev || !failure(ev, reason, sizeof(reason)))
		return;
	uint64_t win = flood_window_us(ctx->cfg);
	note_reason(st, reason, ev->ts_us);
	uint64_t n = ctx->state->ops->set_add(ctx->state, "fail", dev, ev->ts_us, win, win / US + GRACE_S);
	if (n >= ctx->cfg->cert.flood_min_devices)
		raise_reactive(st, ctx, ev, n, ev->ts_us);
}

/* ---- the descriptor ---- */

static void cert_event(void *p, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	struct cert_state *st = p;
	bool decoded = false;
	const struct iw_x509 *x = client_cert(ev, &decoded);
	if (x) {
		if (decoded)
			expiring(st, ctx, ev, x);
		shared(st, ctx, ev, x, decoded);
		if (decoded)
			predicted(st, ctx, ev, x);
		return;
	}
	reactive(st, ctx, ev);
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static void cert_count(void *p, struct iw_rule_ctx *ctx, const char *name, uint64_t count, uint64_t now_us)
{
	struct cert_state *st = p;
	const struct iw_rules_cfg *cfg = ctx->cfg;
	size_t len = strlen(name);
	if (strcmp(name, "fail") == 0) {
		if (count >= cfg->cert.flood_min_devices)
			raise_reactive(st, ctx, NULL, count, now_us);
	} else if (has_prefix(name, "certexp:")) {
		const char *label = name + strlen("certexp:");
		if (*label && count >= cfg->cert.storm_min_devices)
			raise_predicted(st, ctx, NULL, name, label, count, now_us);
	} else if (has_prefix(name, "cert:") && len > strlen("cert::addrs") &&
	           strcmp(name + len - strlen(":addrs"), ":addrs") == 0) {
		char fp[80];
		size_t n = len - strlen("cert:") - strlen(":addrs");
		if (n >= sizeof(fp))
			return;
		memcpy(fp, name + strlen("cert:"), n);
		fp[n] = '\0';
		if (count >= 2)
			raise_shared(st, ctx, NULL, name, fp, count, now_us);
	}
}

const struct iw_rule iw_rule_cert = {
    .id = "tls",
    .kinds = (1u << IW_EV_TLS) | (1u << IW_EV_MQTT),
    .state_new = cert_new,
    .state_free = cert_free,
    .on_event = cert_event,
    .on_count = cert_count,
};
