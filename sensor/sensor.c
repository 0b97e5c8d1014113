/* sensor.c - wires the pipeline of DESIGN §1: decode, flows, reassembly, classification
 * (strict probes, then nDPI, then ports), app parsers, events to rules and exporters,
 * and the counters behind --stats. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "../parsers/alloc.h"
#include "../exporters/json.h"
#include "../exporters/record.h"
#include "../parsers/classify.h"
#include "../parsers/parser.h"
#include "../rules/region.h"
#include "../rules/rule.h"
#include "dnscache.h"
#include "flow.h"
#include "hugemem.h"
#include "sensor.h"
#include "store.h"
#include "tunnel.h"

#define MAX_PARSERS         32
#define MAX_NAMED           128         /* distinct anomaly reasons, rule ids, nDPI names counted */
#define PRECLASS_BUF        65536       /* stream bytes kept per direction until the parser is known */
#define PRECLASS_TOTAL      (64u << 20) /* ... and in all, so many new flows cannot exhaust memory */
#define CLASSIFY_PKTS       10          /* payload packets looked at before giving up */
#define DEFAULT_MAX_MESSAGE 65536
#define MAX_EXPORTERS       8
#define MAX_CAPTURES        16
#define X509_CACHE_SLOTS    256 /* decoded certificates kept (about 1 MB when full) */

/* The server side of a flow as far as it is known (struct iw_endpoint's storage). */
struct iw_flow_ep {
	struct iw_endpoint pub;
	char *name;  /* pub.name's storage, NULL when none */
	char *cname; /* DNS: the end of the CNAME chain the device was given (the name it
	                asked when there was no chain), NULL when DNS said nothing */
	char region[48];
};

/* A flow that is a tunnel, on the sensor's list of open tunnels. */
struct iw_flow_tunnel {
	struct iw_flow_tunnel *prev, *next;
	struct iw_flow *flow;
	const char *kind;
	uint64_t last_report_us;
	bool reported_max; /* the record at rules.tunnel.max_duration is out */
};

/* An alert waiting for Redis to say whether this sensor is the first of the fleet to
 * raise it: its record, ready to write. */
struct pending_alert {
	uint64_t token;
	char *rule, *device, *json;
	size_t len;
};

struct named_count {
	const char *name;
	uint64_t n;
};

struct exp_inst {
	const struct iw_exporter *desc;
	void *st;
	unsigned kinds;
};

struct iw_sensor {
	const struct iw_config *cfg;
	struct iw_hugemem heap;
	struct iw_sensor_opts opts;
	struct iw_defrag *defrag;
	struct iw_flow_table *flows;
	struct iw_ndpi *ndpi;
	struct iw_cidr *devnets;
	unsigned n_devnets;
	struct iw_dnscache *dns;        /* answers devices were given */
	struct iw_region_db *regions;   /* rules.region.ip_ranges */
	struct iw_flow_tunnel *tunnels; /* open now */
	uint64_t tunnels_open, tunnels_total;

	/* parser selection */
	const struct iw_parser *parsers[MAX_PARSERS];
	int parser_ndpi[MAX_PARSERS];
	unsigned n_parsers;
	uint8_t tcp_port[65536], udp_port[65536]; /* parser index + 1 by server port */
	uint8_t server_ports[65536 / 8];

	/* rules and exporters */
	const struct iw_rule *rules[64];
	void *rule_state[64];
	unsigned n_rules;
	struct iw_rule_ctx rctx;
	struct iw_store *store; /* device state, de-duplication; Redis behind it when configured */
	struct pending_alert *pending;
	size_t n_pending, cap_pending;
	uint64_t next_token, alerts_fleet_quiet; /* another sensor raised it first */
	uint32_t poll_countdown;
	struct iw_redis_cfg redis_cfg;
	struct iw_parser_cfg pcfg;
	struct exp_inst exp[MAX_EXPORTERS];
	unsigned n_exp;
	unsigned want_kinds; /* IW_REC_ bits some exporter takes */
	struct iw_json json;

	/* counters */
	uint64_t packets, bytes, now_us, first_us;
	uint64_t last_stats_us; /* when the last periodic stats record was written */
	uint64_t last_tick_s;   /* the packet-time second rules were last ticked in */
	uint64_t malformed[IW_MAL__COUNT];
	uint64_t events[IW_EV__COUNT];
	uint64_t capture_errors;
	uint64_t frag_held, reassembled;
	struct named_count anomalies[MAX_NAMED], alerts[MAX_NAMED], lowered[MAX_NAMED];
	unsigned n_anomalies, n_alerts, n_lowered;
	struct iw_stream_stats stream;
	uint64_t preclass_bytes; /* held by flows not yet classified */
	uint64_t by_probe, by_ndpi, by_port, unclassified, ndpi_flows, buffer_overflows;
	struct iw_capture_stats captures[MAX_CAPTURES];
	unsigned n_captures;
	char lower_buf[MAX_NAMED][32];
};

/* What a parser callback needs to find its way back. */
struct feed {
	struct iw_parse_ctx ctx;
	struct iw_sensor *s;
	struct iw_flow *f;
	int dir;
	bool ending; /* the parser's end(): what it says belongs to the flow's last packet */
};

static void count_named(struct named_count *t, unsigned *n, const char *name)
{
	for (unsigned i = 0; i < *n; i++) {
		if (t[i].name == name || !strcmp(t[i].name, name)) {
			t[i].n++;
			return;
		}
	}
	if (*n < MAX_NAMED)
		t[(*n)++] = (struct named_count){name, 1};
}

/* ---- records ---- */

static void write_record(struct iw_sensor *s, enum iw_rec_kind kind, const char *key)
{
	for (unsigned i = 0; i < s->n_exp; i++)
		if (s->exp[i].kinds & kind)
			s->exp[i].desc->write(s->exp[i].st, kind, key, s->json.buf, s->json.len);
}

/* The device side is the end inside sensor.device_networks, else the client. Worked out
 * once per flow, with the device's address as text (both are asked for every event). */
static bool device_is_server(const struct iw_sensor *s, struct iw_flow *f)
{
	if (!f->dev_side) {
		bool src_in = false, dst_in = false;
		for (unsigned i = 0; i < s->n_devnets; i++) {
			src_in |= iw_cidr_match(&s->devnets[i], f->key.family, &f->key.src);
			dst_in |= iw_cidr_match(&s->devnets[i], f->key.family, &f->key.dst);
		}
		f->dev_side = dst_in && !src_in ? 2 : 1;
		iw_addr_str(f->dev_side == 2 ? &f->key.dst : &f->key.src, f->key.family, f->dev_ip,
		            sizeof(f->dev_ip));
	}
	return f->dev_side == 2;
}

static void device_of(struct iw_sensor *s, struct iw_flow *f, struct iw_device *d)
{
	device_is_server(s, f);
	memset(d, 0, sizeof(*d));
	d->ip = f->dev_ip;
	d->client_id = f->ident[IW_ID_CLIENT_ID];
	d->cert_cn = f->ident[IW_ID_CERT_CN];
	d->endpoint = f->ident[IW_ID_ENDPOINT];
	/* DESIGN §2: the MQTT client id, the certificate's CN, (the LwM2M endpoint), the IP */
	d->id = d->client_id ? d->client_id : d->cert_cn ? d->cert_cn : d->endpoint ? d->endpoint : d->ip;
}

static char *dup_str(const char *v)
{
	size_t n = strlen(v) + 1;
	char *c = iw_malloc(n);
	memcpy(c, v, n);
	return c;
}

static void emit_alert(struct iw_sensor *s, const char *rule, const char *device, const char *json,
                       size_t len)
{
	count_named(s->alerts, &s->n_alerts, rule);
	for (unsigned i = 0; i < s->n_exp; i++)
		if (s->exp[i].kinds & IW_REC_ALERT)
			s->exp[i].desc->write(s->exp[i].st, IW_REC_ALERT, device, json, len);
}

/* The de-duplication of DESIGN §6 on (rule, device, subject), then the record. With Redis
 * the record waits, serialised, for the fleet's answer (claim_answered). */
static void raise_alert(struct iw_rule_ctx *ctx, const struct iw_alert *a, const char *subject)
{
	struct iw_sensor *s = ctx->arg;
	uint64_t token = ++s->next_token;
	enum iw_claim c = iw_store_claim(s->store, a->rule, a->device.id, subject, a->ts_us, token);
	if (c == IW_CLAIM_NO)
		return;
	iw_json_reset(&s->json);
	iw_record_alert(&s->json, s->cfg->sensor.name, a);
	const char *dev = a->device.id ? a->device.id : a->ev ? a->ev->device.id : NULL;
	if (c == IW_CLAIM_YES) {
		emit_alert(s, a->rule, dev, s->json.buf, s->json.len);
		return;
	}
	if (s->n_pending == s->cap_pending) {
		s->cap_pending = s->cap_pending ? s->cap_pending * 2 : 16;
		s->pending = iw_realloc(s->pending, s->cap_pending * sizeof(*s->pending));
	}
	struct pending_alert *p = &s->pending[s->n_pending++];
	p->token = token;
	p->rule = dup_str(a->rule);
	p->device = dev ? dup_str(dev) : NULL;
	p->json = iw_malloc(s->json.len);
	memcpy(p->json, s->json.buf, s->json.len);
	p->len = s->json.len;
}

static bool alerted(struct iw_rule_ctx *ctx, const char *rule, const char *device_id, const char *subject,
                    uint64_t ts_us)
{
	struct iw_sensor *s = ctx->arg;
	return iw_store_alerted(s->store, rule, device_id, subject, ts_us);
}

static void claim_answered(void *arg, uint64_t token, bool won)
{
	struct iw_sensor *s = arg;
	for (size_t i = 0; i < s->n_pending; i++) {
		struct pending_alert *p = &s->pending[i];
		if (p->token != token)
			continue;
		if (won)
			emit_alert(s, p->rule, p->device, p->json, p->len);
		else
			s->alerts_fleet_quiet++;
		free(p->rule);
		free(p->device);
		free(p->json);
		memmove(p, p + 1, (s->n_pending - i - 1) * sizeof(*p));
		s->n_pending--;
		return;
	}
}

/* Redis says the fleet has count members in a rule's set. */
static void fleet_count(void *arg, const char *name, uint64_t count, uint64_t now_us)
{
	struct iw_sensor *s = arg;
	for (unsigned i = 0; i < s->n_rules; i++)
		if (s->rules[i]->on_count)
			s->rules[i]->on_count(s->rule_state[i], &s->rctx, name, count, now_us);
}

/* What an event tells its device's record. A flow's events are many: the record hears
 * again from the same flow only when something is new (another device id, an event kind,
 * a certificate, a tunnel opening, the flow's end a second or more after the last word)
 * or DEVICE_SEEN_EVERY_US of packet time passed. last_seen is then right to the second
 * once a flow ends, and to the minute while it lasts. An event's device is the flow's
 * (device_of), which changes only with the flow's identities: ctx_identity then clears
 * dev_seen_us, so a flow's word on a new device id is always news. */
#define DEVICE_SEEN_EVERY_US (60ull * 1000000)
static void device_seen(struct iw_sensor *s, struct iw_flow *f, const struct iw_event *ev)
{
	if (!ev->device.id)
		return;
	uint32_t bit = 1u << ev->kind;
	bool news = (ev->kind == IW_EV_TUNNEL && ev->u.tunnel.type == IW_TUNNEL_OPEN) ||
	            (ev->kind == IW_EV_TLS && ev->u.tls.type == IW_TLS_CERTIFICATE);
	if (ev->kind == IW_EV_FLOW) /* only its last packet is new, and only after a second */
		news = !f || !f->dev_seen_us || ev->u.flow.end_us >= f->dev_seen_us + 1000000;
	if (f && !news) {
		if (ev->kind == IW_EV_FLOW) /* the flow's word came less than a second before */
			return;
		if (f->dev_seen_us && (f->dev_protos & bit) && ev->ts_us >= f->dev_seen_us &&
		    ev->ts_us - f->dev_seen_us < DEVICE_SEEN_EVERY_US)
			return;
		f->dev_protos = f->dev_seen_us ? f->dev_protos | bit : bit;
		f->dev_seen_us = ev->ts_us;
	}
	struct iw_dev_seen d = {.dev = &ev->device,
	                        .ts_us = ev->ts_us,
	                        .proto = 1u << ev->kind,
	                        .hint = f ? &f->dev_hint : NULL,
	                        .flow_id = f ? f->id : 0};
	if (ev->kind == IW_EV_FLOW) { /* the flow's last packet, not when the table let it go */
		d.ts_us = ev->u.flow.end_us ? ev->u.flow.end_us : ev->ts_us;
		d.proto = 0;
	}
	if (ev->endpoint)
		d.region = ev->endpoint->region;
	if (ev->kind == IW_EV_TLS && ev->u.tls.type == IW_TLS_CERTIFICATE &&
	    ev->u.tls.dir == IW_DIR_TOSERVER && ev->u.tls.n_certs && ev->u.tls.cert_ok[0]) {
		d.cert_fp = ev->u.tls.certs[0].sha256;
		int64_t na = ev->u.tls.certs[0].not_after;
		d.cert_not_after_us = na > 0 ? (uint64_t)na * 1000000 : 0;
	}
	if (ev->kind == IW_EV_TUNNEL && ev->u.tunnel.type == IW_TUNNEL_OPEN)
		d.tunnel_open = true;
	struct iw_state *st = iw_store_state(s->store);
	st->ops->seen(st, &d);
}

/* Hands an event whose common part is filled to the rules and the exporters. */
static void dispatch(struct iw_sensor *s, struct iw_flow *f, struct iw_event *ev)
{
	s->events[ev->kind]++;
	if (s->n_rules || s->opts.devices_path)
		device_seen(s, f, ev);
	for (unsigned i = 0; i < s->n_rules; i++)
		if (s->rules[i]->kinds & (1u << ev->kind) && s->rules[i]->on_event)
			s->rules[i]->on_event(s->rule_state[i], &s->rctx, ev);
	if (!(s->want_kinds & IW_REC_EVENT))
		return;
	iw_json_reset(&s->json);
	iw_record_event(&s->json, s->cfg->sensor.name, ev);
	write_record(s, IW_REC_EVENT, ev->device.id);
}

static const char *flow_app_name(const struct iw_flow *f)
{
	if (f->parser)
		return f->parser->name;
	return f->ndpi_name;
}

/* Nobody reads events: no rule and no events output. Then an event is only counted,
 * without the work of naming its device. */
static bool events_unread(const struct iw_sensor *s)
{
	return !s->n_rules && !s->opts.devices_path && !(s->want_kinds & IW_REC_EVENT);
}

/* ---- endpoints: the server side's name and region ---- */

/* The device's end of a flow and the other one, the endpoint. */
static void flow_sides(const struct iw_sensor *s, struct iw_flow *f, const struct iw_addr **dev,
                       const struct iw_addr **peer)
{
	bool srv = device_is_server(s, f);
	*dev = srv ? &f->key.dst : &f->key.src;
	*peer = srv ? &f->key.src : &f->key.dst;
}

static struct iw_flow_ep *flow_ep(struct iw_flow *f)
{
	if (!f->ep)
		f->ep = iw_calloc(1, sizeof(*f->ep));
	return f->ep;
}

static void ep_free(struct iw_flow *f)
{
	if (!f->ep)
		return;
	free(f->ep->name);
	free(f->ep->cname);
	free(f->ep);
	f->ep = NULL;
}

/* *slot becomes a copy of v, cut to a DNS name's 255 bytes. */
static void ep_str(char **slot, const char *v)
{
	size_t n = strnlen(v, 255);
	free(*slot);
	*slot = iw_malloc(n + 1);
	memcpy(*slot, v, n);
	(*slot)[n] = '\0';
}

static bool region_by_name(struct iw_flow_ep *ep, const char *name, const char *source)
{
	struct iw_region r;
	if (!name || !*name || !iw_region_from_name(name, &r, ep->region, sizeof(ep->region)))
		return false;
	ep->pub.region = ep->region;
	ep->pub.provider = r.provider;
	ep->pub.service = r.service;
	ep->pub.region_source = source;
	return true;
}

/* The region of ep: from its SNI, else from the names the device looked up (the name
 * asked, then the end of the CNAME chain), else from the ip-range files. */
static void ep_region(struct iw_sensor *s, struct iw_flow *f, struct iw_flow_ep *ep)
{
	ep->pub.region = ep->pub.provider = ep->pub.service = ep->pub.region_source = NULL;
	const char *src = ep->pub.name_source;
	if (region_by_name(ep, ep->pub.name, src && !strcmp(src, "sni") ? "sni" : "dns"))
		return;
	if (region_by_name(ep, ep->cname, "dns"))
		return;
	struct iw_region r;
	const struct iw_addr *dev, *peer;
	flow_sides(s, f, &dev, &peer);
	if (s->regions && iw_region_from_addr(s->regions, f->key.family, peer->b, &r)) {
		snprintf(ep->region, sizeof(ep->region), "%s", r.region);
		ep->pub.region = ep->region;
		ep->pub.provider = r.provider;
		ep->pub.service = r.service;
		ep->pub.region_source = "ip_range";
	}
}

/* Once per flow: what the DNS cache says of the endpoint (the name the device asked for
 * becomes the name unless the SNI gave one; the end of its CNAME chain counts for the
 * region too), then the region. The flow keeps an ep only when something is known. */
static void ep_resolve(struct iw_sensor *s, struct iw_flow *f)
{
	f->ep_done = true;
	const struct iw_addr *dev, *peer;
	flow_sides(s, f, &dev, &peer);
	const char *qname, *cname;
	bool dns = iw_dnscache_lookup(s->dns, f->key.family, dev->b, f->key.family, peer->b, s->now_us,
	                              &qname, &cname);
	struct iw_region r;
	if (!dns && !f->ep && !(s->regions && iw_region_from_addr(s->regions, f->key.family, peer->b, &r)))
		return; /* nothing names the endpoint: most flows, and no allocation for them */
	struct iw_flow_ep *ep = flow_ep(f);
	if (dns) {
		ep_str(&ep->cname, cname ? cname : qname);
		if (!ep->pub.name) {
			ep_str(&ep->name, qname);
			ep->pub.name = ep->name;
			ep->pub.name_source = "dns";
		}
	}
	ep_region(s, f, ep);
	if (!ep->pub.name && !ep->pub.region)
		ep_free(f);
}

static const struct iw_endpoint *flow_endpoint(struct iw_sensor *s, struct iw_flow *f)
{
	if (!f->ep_done)
		ep_resolve(s, f);
	return f->ep ? &f->ep->pub : NULL;
}

static void fill_common(struct iw_sensor *s, struct iw_flow *f, struct iw_event *ev)
{
	ev->ts_us = s->now_us;
	ev->flow_id = f->id;
	ev->key = &f->key;
	ev->app_proto = flow_app_name(f);
	device_of(s, f, &ev->device);
	ev->endpoint = flow_endpoint(s, f);
}

/* ---- tunnels ---- */

/* at_us: for an active record, the packet time it stands for when that is earlier than
 * now (the moment a tunnel reached max_duration, which the packet clock jumped over). */
static void tunnel_event(struct iw_sensor *s, struct iw_flow *f, enum iw_tunnel_type type, uint8_t reason,
                         uint64_t at_us)
{
	struct iw_event ev = {.kind = IW_EV_TUNNEL};
	if (events_unread(s)) {
		s->events[IW_EV_TUNNEL]++;
		return;
	}
	fill_common(s, f, &ev);
	ev.u.tunnel = (struct iw_ev_tunnel){
	    .type = type,
	    .kind = f->tun->kind,
	    .start_us = f->first_us,
	    .duration_us = type == IW_TUNNEL_OPEN ? 0 : s->now_us - f->first_us,
	    .pkts_toserver = f->pkts[0],
	    .pkts_toclient = f->pkts[1],
	    .bytes_toserver = f->bytes[0],
	    .bytes_toclient = f->bytes[1],
	    .reason = reason,
	};
	if (type == IW_TUNNEL_ACTIVE && at_us && at_us < s->now_us) {
		ev.ts_us = at_us;
		ev.u.tunnel.duration_us = at_us - f->first_us;
	}
	if (type == IW_TUNNEL_CLOSE) { /* the session ended at its last packet, not when the table let go */
		ev.ts_us = f->last_us;
		ev.u.tunnel.duration_us = f->last_us > f->first_us ? f->last_us - f->first_us : 0;
	}
	dispatch(s, f, &ev);
}

static void tunnel_open(struct iw_sensor *s, struct iw_flow *f, const char *kind)
{
	if (f->tun || !kind)
		return;
	struct iw_flow_tunnel *t = iw_calloc(1, sizeof(*t));
	t->flow = f;
	t->kind = kind;
	t->last_report_us = s->now_us;
	t->next = s->tunnels;
	if (s->tunnels)
		s->tunnels->prev = t;
	s->tunnels = t;
	f->tun = t;
	s->tunnels_open++;
	s->tunnels_total++;
	tunnel_event(s, f, IW_TUNNEL_OPEN, 0, 0);
}

static void tunnel_close(struct iw_sensor *s, struct iw_flow *f, enum iw_flow_end reason)
{
	struct iw_flow_tunnel *t = f->tun;
	if (!t)
		return;
	tunnel_event(s, f, IW_TUNNEL_CLOSE, (uint8_t)reason, 0);
	if (t->prev)
		t->prev->next = t->next;
	else
		s->tunnels = t->next;
	if (t->next)
		t->next->prev = t->prev;
	s->tunnels_open--;
	free(t);
	f->tun = NULL;
}

/* Every open tunnel past rules.tunnel.report_interval since its last record, and every one
 * that has just reached rules.tunnel.max_duration (so that tunnel.orphaned fires while the
 * session is still open, at the moment it gets there). */
static void tunnel_tick(struct iw_sensor *s)
{
	uint64_t every = s->cfg->rules.tunnel.report_interval * 1000000;
	uint64_t max = s->cfg->rules.tunnel.max_duration * 1000000;
	for (struct iw_flow_tunnel *t = s->tunnels; t; t = t->next) {
		bool at_max = max && !t->reported_max && s->now_us - t->flow->first_us >= max;
		if (at_max || (every && s->now_us - t->last_report_us >= every)) {
			t->last_report_us = s->now_us;
			t->reported_max |= at_max;
			/* a replay's clock may have jumped past the moment: the record says when it was */
			tunnel_event(s, t->flow, IW_TUNNEL_ACTIVE, 0, at_max ? t->flow->first_us + max : 0);
		}
	}
}

/* What the sensor itself learns from an event before it is dispatched: a TLS server
 * name (the endpoint's name; maybe a tunnel), an SSH banner (a tunnel), DNS answers
 * (which device was told which address for which name). */
static void observe(struct iw_sensor *s, struct iw_flow *f, const struct iw_event *ev)
{
	switch (ev->kind) {
	case IW_EV_TLS:
		if (ev->u.tls.type == IW_TLS_CLIENT_HELLO && ev->u.tls.sni) {
			const struct iw_rules_cfg *rc = &s->cfg->rules;
			const char *kind =
			    iw_tunnel_kind_sni(ev->u.tls.sni, rc->tunnel.endpoints, rc->tunnel.n_endpoints);
			if (events_unread(s)) { /* nobody sees the endpoint: the tunnel is only counted */
				tunnel_open(s, f, kind);
				break;
			}
			struct iw_flow_ep *ep = flow_ep(f);
			ep_str(&ep->name, ev->u.tls.sni);
			ep->pub.name = ep->name;
			ep->pub.name_source = "sni";
			if (f->ep_done)
				ep_region(s, f, ep); /* the SNI's region before what DNS said */
			else
				ep_resolve(s, f);
			tunnel_open(s, f, kind);
		}
		break;
	case IW_EV_SSH:
		if (ev->u.ssh.type == IW_SSH_BANNER)
			tunnel_open(s, f, "ssh");
		break;
	case IW_EV_DNS: {
		const struct iw_ev_dns *d = &ev->u.dns;
		if (d->type != IW_DNS_ANSWER || !d->rrname || events_unread(s))
			break; /* the cache only names endpoints in events */
		const struct iw_addr *dev, *peer;
		flow_sides(s, f, &dev, &peer);
		for (unsigned i = 0; i < d->n_answers && d->answers; i++) {
			const struct iw_dns_rr *rr = &d->answers[i];
			if (rr->family == 4 || rr->family == 6)
				iw_dnscache_add(s->dns, f->key.family, dev->b, rr->family, rr->addr,
				                d->rrname, rr->rrname, rr->ttl, s->now_us);
		}
		break;
	}
	default:
		break;
	}
}

static void ctx_emit(struct iw_parse_ctx *ctx, struct iw_event *ev)
{
	struct feed *fd = (struct feed *)ctx;
	if (ev->kind == IW_EV_TLS || ev->kind == IW_EV_SSH || ev->kind == IW_EV_DNS)
		observe(fd->s, fd->f, ev);
	if (events_unread(fd->s)) {
		fd->s->events[ev->kind]++;
		return;
	}
	fill_common(fd->s, fd->f, ev);
	if (fd->ending && fd->f->last_us) /* not when the table let the flow go, maybe much later */
		ev->ts_us = fd->f->last_us;
	dispatch(fd->s, fd->f, ev);
}

static void ctx_anomaly(struct iw_parse_ctx *ctx, const char *reason)
{
	struct feed *fd = (struct feed *)ctx;
	count_named(fd->s->anomalies, &fd->s->n_anomalies, reason);
}

#define MAX_IDENTITY 256

static void ctx_identity(struct iw_parse_ctx *ctx, enum iw_identity kind, const char *str, size_t n)
{
	struct feed *fd = (struct feed *)ctx;
	if ((unsigned)kind > IW_ID_ENDPOINT)
		return;
	char **slot = &fd->f->ident[kind];
	if (n > MAX_IDENTITY)
		n = MAX_IDENTITY;
	if (*slot && strlen(*slot) == n && !memcmp(*slot, str, n))
		return;
	/* the flow's device id may be another now: its record is to be found again */
	fd->f->dev_seen_us = 0;
	fd->f->dev_hint.rec = NULL;
	free(*slot);
	*slot = iw_malloc(n + 1);
	memcpy(*slot, str, n);
	(*slot)[n] = '\0';
}

static void feed_init(struct feed *fd, struct iw_sensor *s, struct iw_flow *f, int dir)
{
	fd->ctx.ts_us = s->now_us;
	fd->ctx.flow_id = f->id;
	fd->ctx.key = &f->key;
	fd->ctx.emit = ctx_emit;
	fd->ctx.anomaly = ctx_anomaly;
	fd->ctx.identity = ctx_identity;
	fd->ctx.arg = s;
	fd->s = s;
	fd->f = f;
	fd->dir = dir;
	fd->ending = false;
}

/* ---- app parsers ---- */

static void buf_append(struct iw_flow_dir *d, const uint8_t *data, uint32_t len)
{
	if (d->buf_len + len > d->buf_cap) {
		uint32_t cap = d->buf_cap ? d->buf_cap : 1024;
		while (cap < d->buf_len + len)
			cap *= 2;
		uint8_t *nb = iw_realloc(d->buf, cap);
		d->buf = nb;
		d->buf_cap = cap;
	}
	memcpy(d->buf + d->buf_len, data, len);
	d->buf_len += len;
}

static void buf_drop(struct iw_flow_dir *d)
{
	free(d->buf);
	d->buf = NULL;
	d->buf_len = d->buf_cap = 0;
}

/* Runs the parser over data; returns how many bytes it consumed. */
static uint32_t run_parser(struct feed *fd, const uint8_t *data, uint32_t len)
{
	struct iw_flow *f = fd->f;
	struct iw_flow_dir *d = &f->dir[fd->dir];
	uint32_t off = 0;
	while (off < len && !d->parse_off) {
		int rc = f->parser->parse(f->pstate, &fd->ctx, fd->dir, data + off, len - off);
		if (rc == IW_NEED_MORE)
			break;
		if (rc <= 0 || (uint32_t)rc > len - off) {
			d->parse_off = true;
			if (rc != IW_ERR && rc != IW_DONE)
				ctx_anomaly(&fd->ctx, "parser_no_progress");
			break;
		}
		off += (uint32_t)rc;
	}
	return d->parse_off ? len : off;
}

/* Stream bytes (or a gap when data is NULL) of one direction for the flow's parser. */
static void parser_bytes(struct feed *fd, const uint8_t *data, uint32_t len)
{
	struct iw_flow *f = fd->f;
	struct iw_flow_dir *d = &f->dir[fd->dir];
	if (d->parse_off)
		return;
	if (!data) {
		buf_drop(d);
		f->gaps++;
		if (f->parser->gap)
			f->parser->gap(f->pstate, &fd->ctx, fd->dir, len);
		return;
	}
	if (!d->buf_len) {
		uint32_t used = run_parser(fd, data, len);
		if (used < len && !d->parse_off)
			buf_append(d, data + used, len - used);
	} else {
		buf_append(d, data, len);
		uint32_t used = run_parser(fd, d->buf, d->buf_len);
		memmove(d->buf, d->buf + used, d->buf_len - used);
		d->buf_len -= used;
	}
	uint32_t max = fd->s->pcfg.max_message;
	if (d->buf_len > max) {
		/* a message larger than the parser accepts: skip what is buffered */
		fd->s->buffer_overflows++;
		uint32_t n = d->buf_len;
		buf_drop(d);
		f->gaps++;
		if (f->parser->gap)
			f->parser->gap(f->pstate, &fd->ctx, fd->dir, n);
	}
	if (d->buf_len == 0 && d->buf_cap)
		buf_drop(d); /* most flows wait between messages: hold nothing then */
}

static bool wants_bytes(const struct iw_flow *f)
{
	return !f->classified || (f->parser && f->parser->parse);
}

/* Stream callback: in-order bytes before classification are kept to replay later. */
static void stream_out(void *arg, const uint8_t *data, uint32_t len)
{
	struct feed *fd = arg;
	struct iw_flow *f = fd->f;
	if (f->classified) {
		if (f->parser && f->parser->parse)
			parser_bytes(fd, data, len);
		return;
	}
	/* keep it for the parser to come; past a budget, or at a hole, what is kept becomes
	 * a gap the parser hears about first */
	struct iw_flow_dir *d = &f->dir[fd->dir];
	struct iw_sensor *s = fd->s;
	if (!data || d->buf_len + len > PRECLASS_BUF || s->preclass_bytes + len > PRECLASS_TOTAL) {
		d->pre_gap += d->buf_len + len;
		s->preclass_bytes -= d->buf_len;
		buf_drop(d);
		return;
	}
	buf_append(d, data, len);
	s->preclass_bytes += len;
}

/* ---- classification ---- */

static const char *lowered_name(struct iw_sensor *s, const char *name)
{
	if (!name)
		return NULL;
	for (unsigned i = 0; i < s->n_lowered; i++)
		if (s->lowered[i].name == name)
			return s->lower_buf[i];
	if (s->n_lowered >= MAX_NAMED)
		return "other";
	unsigned i = s->n_lowered++;
	s->lowered[i].name = name;
	size_t k = 0;
	for (; name[k] && k + 1 < sizeof(s->lower_buf[i]); k++)
		s->lower_buf[i][k] = (char)tolower((unsigned char)name[k]);
	s->lower_buf[i][k] = '\0';
	return s->lower_buf[i];
}

/* UDP: datagrams seen before the flow was classified wait in dir[0].buf, each as
 * | direction 1 | length 2 | bytes |, within the same budgets as TCP bytes. */
static void udp_hold(struct iw_sensor *s, struct iw_flow *f, int dir, const uint8_t *data, uint32_t len)
{
	struct iw_flow_dir *d = &f->dir[0];
	uint32_t need = 3 + len;
	if (len > 0xffff || d->buf_len + need > PRECLASS_BUF || s->preclass_bytes + need > PRECLASS_TOTAL) {
		d->pre_gap += len; /* lost to the parser */
		return;
	}
	uint8_t head[3] = {(uint8_t)dir, (uint8_t)(len >> 8), (uint8_t)len};
	buf_append(d, head, 3);
	buf_append(d, data, len);
	s->preclass_bytes += need;
}

static void udp_replay(struct iw_sensor *s, struct iw_flow *f)
{
	struct iw_flow_dir *d = &f->dir[0];
	uint8_t *b = d->buf;
	uint32_t n = d->buf_len;
	s->preclass_bytes -= n;
	d->buf = NULL;
	d->buf_len = d->buf_cap = 0;
	for (uint32_t off = 0; off + 3 <= n;) {
		int dir = b[off] ? IW_DIR_TOCLIENT : IW_DIR_TOSERVER;
		uint32_t len = (uint32_t)b[off + 1] << 8 | b[off + 2];
		struct feed fd;
		feed_init(&fd, s, f, dir);
		if (f->parser->parse(f->pstate, &fd.ctx, dir, b + off + 3, len) < 0)
			ctx_anomaly(&fd.ctx, "datagram_malformed");
		off += 3 + len;
	}
	free(b);
}

static void set_parser(struct iw_sensor *s, struct iw_flow *f, const struct iw_parser *p)
{
	f->classified = true;
	/* name the endpoint now, near the DNS answer that named it: a long flow outlives
	 * the answer's TTL before its first event */
	if (!f->ep_done && !events_unread(s))
		ep_resolve(s, f);
	if (f->ndpi) {
		iw_ndpi_flow_free(f->ndpi);
		f->ndpi = NULL;
	}
	f->parser = p;
	if (p && p->parse) {
		if (p->state_new)
			f->pstate = p->state_new(&s->pcfg);
		if (f->key.proto != IPPROTO_TCP) {
			udp_replay(s, f);
			return;
		}
		/* replay what reassembly delivered while we did not know */
		for (int dir = 0; dir < 2; dir++) {
			struct iw_flow_dir *d = &f->dir[dir];
			uint8_t *b = d->buf;
			uint32_t n = d->buf_len;
			s->preclass_bytes -= n;
			d->buf = NULL;
			d->buf_len = d->buf_cap = 0;
			struct feed fd;
			feed_init(&fd, s, f, dir);
			if (d->pre_gap)
				parser_bytes(&fd, NULL, d->pre_gap);
			if (n)
				parser_bytes(&fd, b, n);
			free(b);
		}
	} else {
		for (int dir = 0; dir < 2; dir++) {
			s->preclass_bytes -= f->dir[dir].buf_len;
			buf_drop(&f->dir[dir]);
			iw_stream_free(&f->dir[dir].stream);
		}
	}
}

/* The parser of nDPI's protocol for the flow's transport (DNS has one for UDP and one
 * for TCP). */
static const struct iw_parser *parser_by_ndpi(struct iw_sensor *s, const struct iw_flow *f,
                                              const struct iw_ndpi_result *r)
{
	for (unsigned i = 0; i < s->n_parsers; i++)
		if (s->parser_ndpi[i] > 0 && s->parsers[i]->ipproto == f->key.proto &&
		    (s->parser_ndpi[i] == r->master || s->parser_ndpi[i] == r->app))
			return s->parsers[i];
	return NULL;
}

static const struct iw_parser *parser_by_port(struct iw_sensor *s, const struct iw_flow *f)
{
	const uint8_t *t = f->key.proto == IPPROTO_TCP   ? s->tcp_port
	                   : f->key.proto == IPPROTO_UDP ? s->udp_port
	                                                 : NULL;
	if (!t)
		return NULL;
	unsigned i = t[f->key.dport] ? t[f->key.dport] : t[f->key.sport];
	return i ? s->parsers[i - 1] : NULL;
}

static void classify(struct iw_sensor *s, struct iw_flow *f, const struct iw_packet *pkt, int dir)
{
	if (pkt->payload_len) {
		f->probe_pkts++;
		for (unsigned i = 0; i < s->n_parsers; i++) {
			const struct iw_parser *p = s->parsers[i];
			if (p->probe && p->ipproto == f->key.proto &&
			    p->probe(pkt->payload, pkt->payload_len, dir) == IW_OK) {
				s->by_probe++;
				set_parser(s, f, p);
				return;
			}
		}
	}
	if (s->ndpi && pkt->payload_len && !f->ndpi) {
		f->ndpi = iw_ndpi_flow_new(s->ndpi);
		s->ndpi_flows++;
	}
	struct iw_ndpi_result r;
	if (f->ndpi && iw_ndpi_packet(s->ndpi, f->ndpi, pkt->l3, pkt->l3_len, pkt->ts_us, &r)) {
		s->by_ndpi++;
		f->ndpi_name = lowered_name(s, r.name);
		set_parser(s, f, parser_by_ndpi(s, f, &r));
		tunnel_open(s, f, iw_tunnel_kind_ndpi(f->ndpi_name));
		return;
	}
	if (f->probe_pkts < CLASSIFY_PKTS)
		return;
	/* nothing decided: nDPI's guess, then the port */
	const struct iw_parser *p = NULL;
	if (f->ndpi) {
		iw_ndpi_giveup(s->ndpi, f->ndpi, &r);
		if (r.master || r.app) {
			f->ndpi_name = lowered_name(s, r.name);
			p = parser_by_ndpi(s, f, &r);
		}
	}
	if (!p)
		p = parser_by_port(s, f);
	if (p)
		s->by_port++;
	else if (!f->ndpi_name)
		s->unclassified++;
	set_parser(s, f, p);
}

/* ---- flows ---- */

static void flow_ended(void *arg, struct iw_flow *f, enum iw_flow_end reason)
{
	struct iw_sensor *s = arg;
	if (!f->classified) {
		/* short flows: let nDPI guess and the ports speak before the record */
		const struct iw_parser *p = NULL;
		if (f->ndpi) {
			struct iw_ndpi_result r;
			iw_ndpi_giveup(s->ndpi, f->ndpi, &r);
			if (r.master || r.app) {
				f->ndpi_name = lowered_name(s, r.name);
				p = parser_by_ndpi(s, f, &r);
			}
		}
		if (!p)
			p = parser_by_port(s, f);
		set_parser(s, f, p);
	}
	for (int dir = 0; dir < 2; dir++) {
		struct feed fd;
		feed_init(&fd, s, f, dir);
		if (f->parser && f->parser->parse && !f->dir[dir].parse_off)
			iw_stream_flush(&f->dir[dir].stream, stream_out, &fd, &s->stream);
		iw_stream_free(&f->dir[dir].stream);
		buf_drop(&f->dir[dir]);
	}
	struct feed fd;
	feed_init(&fd, s, f, IW_DIR_TOSERVER);
	fd.ctx.end_reason = (uint8_t)reason;
	fd.ending = true;
	if (f->parser && f->parser->end)
		f->parser->end(f->pstate, &fd.ctx);
	if (f->pstate && f->parser->state_free)
		f->parser->state_free(f->pstate);
	f->pstate = NULL;

	tunnel_close(s, f, reason);
	if (events_unread(s)) {
		s->events[IW_EV_FLOW]++;
		goto out;
	}
	struct iw_event ev = {.kind = IW_EV_FLOW};
	fill_common(s, f, &ev);
	ev.u.flow = (struct iw_ev_flow){
	    .start_us = f->first_us,
	    .end_us = f->last_us,
	    .pkts_toserver = f->pkts[0],
	    .pkts_toclient = f->pkts[1],
	    .bytes_toserver = f->bytes[0],
	    .bytes_toclient = f->bytes[1],
	    .reason = reason,
	    .tcp_flags_ts = f->flags_seen[0],
	    .tcp_flags_tc = f->flags_seen[1],
	    .gaps = f->gaps,
	    .ndpi = f->ndpi_name,
	};
	dispatch(s, f, &ev);
out:
	for (int i = 0; i < 3; i++)
		free(f->ident[i]);
	ep_free(f);
}

/* TCP: flags, close, reassembly. */
static void tcp_packet(struct iw_sensor *s, struct iw_flow *f, const struct iw_packet *pkt, int dir)
{
	uint8_t fl = pkt->tcp_flags;
	if (fl & IW_TCP_RST) {
		if (!f->closed) {
			f->closed = true;
			f->close_reason = IW_END_RST;
			iw_flow_set_class(s->flows, f, IW_FC_TCP_CLOSED);
		}
	}
	if (!wants_bytes(f) || f->closed)
		goto flags;
	if (f->dir[0].parse_off && f->dir[1].parse_off) {
		/* the parser is done both ways: no more reassembly for this flow */
		for (int i = 0; i < 2; i++) {
			iw_stream_free(&f->dir[i].stream);
			buf_drop(&f->dir[i]);
		}
		goto flags;
	}
	struct feed fd;
	feed_init(&fd, s, f, dir);
	struct iw_flow_dir *d = &f->dir[dir];
	if (pkt->payload_len || (fl & (IW_TCP_SYN | IW_TCP_FIN)))
		iw_stream_segment(&d->stream, (uint32_t)s->cfg->limits.stream_buffer, pkt->tcp_seq, fl,
		                  pkt->payload, pkt->payload_len, stream_out, &fd, &s->stream);
	if (fl & IW_TCP_ACK) {
		struct feed fo;
		feed_init(&fo, s, f, !dir);
		iw_stream_acked(&f->dir[!dir].stream, pkt->tcp_ack, stream_out, &fo, &s->stream);
	}
flags:
	if ((fl & IW_TCP_FIN) && !f->closed) { /* flags_seen already holds this packet's */
		if ((f->flags_seen[0] & IW_TCP_FIN) && (f->flags_seen[1] & IW_TCP_FIN)) {
			f->closed = true;
			f->close_reason = IW_END_FIN;
			iw_flow_set_class(s->flows, f, IW_FC_TCP_CLOSED);
		}
	}
}

/* What every frame does before its decode: counters, the packet clock, expiry, ticks. */
static void packet_clock(struct iw_sensor *s, uint32_t wirelen, uint64_t ts_us)
{
	s->packets++;
	s->bytes += wirelen;
	if (ts_us > s->now_us) {
		if (!s->first_us)
			s->first_us = ts_us;
		s->now_us = ts_us;
		iw_flow_expire(s->flows, ts_us);
		if (ts_us / 1000000 != s->last_tick_s) {
			/* once a second of packet time: rules' clocks and periodic stats */
			s->last_tick_s = ts_us / 1000000;
			iw_sensor_tick(s, ts_us);
		}
	}
	if (++s->poll_countdown >= 2048) { /* Redis I/O, never waiting: batches of a few ms */
		s->poll_countdown = 0;
		iw_store_poll(s->store);
	}
}

static void packet_decoded(struct iw_sensor *s, int rc, enum iw_malformed why, const struct iw_packet *pkt,
                           const uint64_t *hash);

void iw_sensor_packet(struct iw_sensor *s, int dlt, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                      uint64_t ts_us)
{
	packet_clock(s, wirelen, ts_us);
	struct iw_packet pkt;
	enum iw_malformed why;
	int rc = iw_decode(s->defrag, dlt, data, caplen, wirelen, ts_us, &pkt, &why);
	packet_decoded(s, rc, why, &pkt, NULL);
}

/* A decode without the defragmenter changes nothing and only fails a fragment with
 * IW_MAL_FRAG_BUDGET: such a frame is decoded again at its turn. */
void iw_sensor_ahead(struct iw_sensor *s, struct iw_ahead *a)
{
	a->rc = iw_decode(NULL, a->dlt, a->data, a->caplen, a->wirelen, a->ts_us, &a->pkt, &a->why);
	a->redo = a->rc == IW_ERR && a->why == IW_MAL_FRAG_BUDGET;
	if (a->rc == IW_OK)
		a->hash = iw_flow_prefetch_bucket(s->flows, &a->pkt.key);
}

void iw_sensor_warm(struct iw_sensor *s, const struct iw_ahead *a)
{
	if (a->rc == IW_OK)
		iw_flow_prefetch_chain(s->flows, a->hash);
}

void iw_sensor_packet_ahead(struct iw_sensor *s, struct iw_ahead *a)
{
	if (a->redo) {
		iw_sensor_packet(s, a->dlt, a->data, a->caplen, a->wirelen, a->ts_us);
		return;
	}
	packet_clock(s, a->wirelen, a->ts_us);
	packet_decoded(s, a->rc, a->why, &a->pkt, &a->hash);
}

/* hash: the flow key's, when the look-ahead worked it out (else NULL). */
static void packet_decoded(struct iw_sensor *s, int rc, enum iw_malformed why, const struct iw_packet *pkt,
                           const uint64_t *hash)
{
	uint64_t ts_us = pkt->ts_us;
	if (rc != IW_OK) {
		if (rc == IW_ERR)
			s->malformed[why]++;
		else
			s->frag_held++;
		return;
	}
	if (pkt->reassembled)
		s->reassembled++;
	int dir;
	bool created;
	struct iw_flow *f = hash ? iw_flow_lookup_hashed(s->flows, pkt, *hash, &dir, &created)
	                         : iw_flow_lookup(s->flows, pkt, &dir, &created);
	if (!created && f->closed && pkt->key.proto == IPPROTO_TCP && (pkt->tcp_flags & IW_TCP_SYN) &&
	    !(pkt->tcp_flags & IW_TCP_ACK)) {
		/* the 5-tuple is reused by a new connection */
		iw_flow_end(s->flows, f, (enum iw_flow_end)f->close_reason);
		f = iw_flow_lookup(s->flows, pkt, &dir, &created);
	}
	/* the device's record will likely hear from this packet: the two lines op_seen reads */
	if (f->dev_hint.rec && ts_us >= f->dev_seen_us + DEVICE_SEEN_EVERY_US) {
		__builtin_prefetch(f->dev_hint.rec);
		__builtin_prefetch((const char *)f->dev_hint.rec + 64);
	}
	f->last_us = ts_us > f->last_us ? ts_us : f->last_us;
	f->pkts[dir] += pkt->frames; /* a reassembled datagram counts all its fragments */
	f->bytes[dir] += pkt->frames_len;
	f->flags_seen[dir] |= pkt->tcp_flags;
	if (!f->classified && pkt->key.proto != IPPROTO_TCP && pkt->key.proto != IPPROTO_UDP)
		set_parser(s, f, NULL); /* ICMP and other IP protocols: flows without parsers */
	if (!f->classified)
		classify(s, f, pkt, dir);
	if (pkt->key.proto == IPPROTO_TCP) {
		tcp_packet(s, f, pkt, dir);
	} else if (!f->classified && pkt->payload_len) {
		udp_hold(s, f, dir, pkt->payload, pkt->payload_len);
	} else if (f->parser && f->parser->parse && pkt->payload_len) {
		struct feed fd;
		feed_init(&fd, s, f, dir);
		if (f->parser->parse(f->pstate, &fd.ctx, dir, pkt->payload, pkt->payload_len) < 0)
			ctx_anomaly(&fd.ctx, "datagram_malformed");
	}
}

static void stats_record(struct iw_sensor *s, double elapsed_s, uint64_t flows_total, uint64_t flows_peak,
                         uint64_t evicted);

void iw_sensor_tick(struct iw_sensor *s, uint64_t now_us)
{
	iw_hugemem_tick(&s->heap);
	if (now_us > s->now_us) {
		s->now_us = now_us;
		iw_flow_expire(s->flows, now_us);
	}
	uint64_t every = s->cfg->sensor.stats_interval * 1000000;
	if (every && s->flows) {
		if (!s->last_stats_us)
			s->last_stats_us = s->now_us;
		else if (s->now_us - s->last_stats_us >= every) {
			/* a running sensor's record: counters so far, elapsed on the packet clock */
			double el = s->first_us ? (double)(s->now_us - s->first_us) / 1e6 : 0;
			stats_record(s, el, iw_flow_total(s->flows), iw_flow_peak(s->flows),
			             iw_flow_evicted(s->flows));
			for (unsigned i = 0; i < s->n_exp; i++)
				s->exp[i].desc->flush(s->exp[i].st);
			s->last_stats_us = s->now_us;
		}
	}
	for (unsigned i = 0; i < s->n_exp; i++)
		if (s->exp[i].desc->tick)
			s->exp[i].desc->tick(s->exp[i].st);
	tunnel_tick(s);
	iw_store_tick(s->store, s->now_us);
	iw_store_poll(s->store);
	for (unsigned i = 0; i < s->n_rules; i++)
		if (s->rules[i]->on_tick)
			s->rules[i]->on_tick(s->rule_state[i], &s->rctx, s->now_us);
}

/* ---- set-up ---- */

static int open_exporter(struct iw_sensor *s, const struct iw_exporter *e, const char *dest, unsigned kinds,
                         char *err, size_t errlen)
{
	if (s->n_exp >= MAX_EXPORTERS) {
		snprintf(err, errlen, "too many exporters");
		return IW_ERR;
	}
	struct iw_exp_open o = {.cfg = &s->cfg->exporters, .dest = dest, .kinds = kinds};
	char why[256] = "";
	void *st = e->open(&o, why, sizeof(why));
	if (!st) {
		snprintf(err, errlen, "%s exporter: %s", e->name, why);
		return IW_ERR;
	}
	s->exp[s->n_exp++] = (struct exp_inst){e, st, kinds};
	s->want_kinds |= kinds;
	return IW_OK;
}

static int open_exporters(struct iw_sensor *s, char *err, size_t errlen)
{
	const struct iw_exporter *jsonl = NULL;
	for (const struct iw_exporter *const *e = iw_exporters; *e; e++) {
		if (!strcmp((*e)->name, "jsonl")) {
			jsonl = *e;
			continue;
		}
		const char *dest = (*e)->configured(&s->cfg->exporters);
		unsigned kinds = (*e)->kinds ? (*e)->kinds(&s->cfg->exporters) : IW_REC_ALERT | IW_REC_EVENT;
		if (dest && *dest && open_exporter(s, *e, dest, kinds, err, errlen))
			return IW_ERR;
	}
	if (!jsonl)
		return IW_OK;
	const char *alerts = s->opts.alerts_path;
	if (!alerts) {
		const char *c = jsonl->configured(&s->cfg->exporters);
		alerts = c && *c ? c : NULL;
	}
	if (!alerts && s->n_exp == 0)
		alerts = "-"; /* stdout when no output is on */
	const char *events = s->opts.events_path;
	unsigned ek = IW_REC_EVENT | (s->opts.stats || s->cfg->sensor.stats_interval ? IW_REC_STATS : 0);
	if (alerts && events && !strcmp(alerts, events))
		return open_exporter(s, jsonl, alerts, IW_REC_ALERT | ek, err, errlen);
	if (alerts && open_exporter(s, jsonl, alerts, IW_REC_ALERT, err, errlen))
		return IW_ERR;
	if (events && open_exporter(s, jsonl, events, ek, err, errlen))
		return IW_ERR;
	return IW_OK;
}

/* An entry of rules.modbus.allowed_writers as rules/modbus.c reads it: an address or a
 * CIDR, blanks around it ignored. */
static bool writer_ok(const char *w)
{
	char buf[64];
	while (*w == ' ' || *w == '\t')
		w++;
	size_t n = strlen(w);
	while (n > 0 && (w[n - 1] == ' ' || w[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, w, n);
	buf[n] = '\0';
	struct iw_cidr c;
	return iw_cidr_parse(buf, &c) == IW_OK;
}

struct iw_sensor *iw_sensor_new(const struct iw_config *cfg, const struct iw_sensor_opts *opts, char *err,
                                size_t errlen, int *code)
{
	struct iw_sensor *s = iw_calloc(1, sizeof(*s));
	iw_hugemem_init(&s->heap);
	s->cfg = cfg;
	s->opts = *opts;
	s->pcfg = (struct iw_parser_cfg){
	    .max_message =
	        (uint32_t)(cfg->limits.max_message ? cfg->limits.max_message : DEFAULT_MAX_MESSAGE),
	    .max_items = (uint32_t)cfg->limits.max_items,
	    .payload_preview = (uint32_t)cfg->sensor.payload_preview,
	    .x509_cache = iw_x509_cache_new(X509_CACHE_SLOTS),
	};
	*code = 2;
	s->devnets = iw_calloc(cfg->sensor.n_device_networks + 1, sizeof(*s->devnets));
	for (unsigned i = 0; i < cfg->sensor.n_device_networks; i++) {
		if (iw_cidr_parse(cfg->sensor.device_networks[i], &s->devnets[i]) != IW_OK) {
			snprintf(err, errlen, "sensor.device_networks: \"%s\" is not a CIDR",
			         cfg->sensor.device_networks[i]);
			goto fail;
		}
	}
	s->n_devnets = cfg->sensor.n_device_networks;
	for (unsigned i = 0; i < cfg->rules.modbus.n_allowed_writers; i++) {
		/* the rule reads the list itself; a typo must not leave a writer unchecked */
		if (!writer_ok(cfg->rules.modbus.allowed_writers[i])) {
			snprintf(err, errlen,
			         "rules.modbus.allowed_writers: \"%s\" is not an address or CIDR",
			         cfg->rules.modbus.allowed_writers[i]);
			goto fail;
		}
	}
	s->regions = iw_region_db_new();
	for (unsigned i = 0; i < cfg->rules.region.n_ip_ranges; i++) {
		char why[256] = "";
		if (iw_region_db_load(s->regions, cfg->rules.region.ip_ranges[i], why, sizeof(why))) {
			snprintf(err, errlen, "rules.region.ip_ranges: %s: %s",
			         cfg->rules.region.ip_ranges[i], why);
			goto fail;
		}
	}
	s->dns = iw_dnscache_new(cfg->limits.dns_cache ? cfg->limits.dns_cache : 1);

	if (!opts->no_ndpi) {
		s->ndpi = iw_ndpi_new();
		if (!s->ndpi) {
			snprintf(err, errlen, "nDPI failed to initialise");
			*code = 1;
			goto fail;
		}
	}
	for (const struct iw_parser *const *p = opts->parsers ? opts->parsers : iw_parsers;
	     *p && s->n_parsers < MAX_PARSERS; p++) {
		unsigned i = s->n_parsers++;
		s->parsers[i] = *p;
		s->parser_ndpi[i] =
		    s->ndpi && (*p)->ndpi_name ? iw_ndpi_proto_id(s->ndpi, (*p)->ndpi_name) : -1;
		for (unsigned k = 0; k < 4 && (*p)->ports[k]; k++) {
			uint16_t port = (*p)->ports[k];
			uint8_t *t = (*p)->ipproto == IPPROTO_TCP ? s->tcp_port : s->udp_port;
			if (!t[port])
				t[port] = (uint8_t)(i + 1);
			s->server_ports[port / 8] |= (uint8_t)(1u << (port % 8));
		}
	}
	struct iw_defrag_limits dl = {
	    .max_datagrams = (uint32_t)(cfg->limits.max_fragments ? cfg->limits.max_fragments : 1),
	    .max_bytes = (uint32_t)cfg->limits.fragment_bytes,
	    .max_frags = 256,
	    .timeout_us = 30ULL * 1000000,
	};
	s->defrag = iw_defrag_new(&dl);
	struct iw_flow_limits fl = {
	    .max_flows = cfg->limits.max_flows,
	    .timeout_us = {cfg->limits.flow_timeout.tcp * 1000000,
	                   cfg->limits.flow_timeout.tcp_closed * 1000000,
	                   cfg->limits.flow_timeout.udp * 1000000},
	};
	s->flows = iw_flow_table_new(&fl, s->server_ports, flow_ended, s);
	struct iw_store_cfg sc = {.max_devices = cfg->limits.max_devices, .ttl_s = cfg->state.redis.ttl};
	if (cfg->state.backend && !strcmp(cfg->state.backend, "redis")) {
		const char *pw = NULL, *env = cfg->state.redis.password_env;
		if (env && *env && !(pw = getenv(env))) {
			snprintf(err, errlen, "state.redis.password_env: environment variable %s is not set",
			         env);
			goto fail;
		}
		s->redis_cfg = (struct iw_redis_cfg){
		    .host = cfg->state.redis.host,
		    .port = (unsigned)cfg->state.redis.port,
		    .db = (unsigned)cfg->state.redis.db,
		    .password = pw,
		    .prefix = cfg->state.redis.key_prefix,
		    .ttl_s = cfg->state.redis.ttl,
		};
		sc.redis = &s->redis_cfg;
	}
	s->store = iw_store_new(&sc);
	iw_store_on_claim(s->store, claim_answered, s);
	iw_store_state(s->store)->notify = fleet_count;
	iw_store_state(s->store)->notify_arg = s;
	s->rctx = (struct iw_rule_ctx){
	    .cfg = &cfg->rules,
	    .state = iw_store_state(s->store),
	    .max_entries = cfg->limits.max_devices ? cfg->limits.max_devices : 1,
	    .raise = raise_alert,
	    .alerted = alerted,
	    .arg = s,
	};
	for (const struct iw_rule *const *r = opts->rules ? opts->rules : iw_rules; *r && s->n_rules < 64;
	     r++) {
		s->rules[s->n_rules] = *r;
		s->rule_state[s->n_rules] = (*r)->state_new ? (*r)->state_new(&cfg->rules) : NULL;
		s->n_rules++;
	}
	iw_json_init(&s->json);
	*code = 2;
	if (iw_exporters_check(&cfg->exporters, err, errlen))
		goto fail;
	*code = 1;
	if (open_exporters(s, err, errlen))
		goto fail;
	/* fingerprints are read by no rule: only event records carry them */
	s->pcfg.no_fingerprints = !(s->want_kinds & IW_REC_EVENT);
	iw_hugemem_tick(&s->heap); /* what nDPI's tables and the exporters grew it by */
	return s;
fail:
	for (unsigned i = 0; i < s->n_exp; i++)
		s->exp[i].desc->close(s->exp[i].st);
	for (unsigned i = 0; i < s->n_rules; i++)
		if (s->rules[i]->state_free)
			s->rules[i]->state_free(s->rule_state[i]);
	iw_json_free(&s->json);
	iw_flow_table_free(s->flows);
	iw_store_free(s->store);
	iw_defrag_free(s->defrag);
	iw_ndpi_free(s->ndpi);
	iw_dnscache_free(s->dns);
	iw_region_db_free(s->regions);
	iw_x509_cache_free(s->pcfg.x509_cache);
	free(s->devnets);
	free(s);
	return NULL;
}

void iw_sensor_reopen(struct iw_sensor *s)
{
	for (unsigned i = 0; i < s->n_exp; i++)
		if (s->exp[i].desc->reopen)
			s->exp[i].desc->reopen(s->exp[i].st);
}

void iw_sensor_capture_stats(struct iw_sensor *s, const struct iw_capture_stats *cs)
{
	for (unsigned i = 0; i < s->n_captures; i++) {
		if (!strcmp(s->captures[i].name, cs->name)) {
			s->captures[i] = *cs;
			return;
		}
	}
	if (s->n_captures < MAX_CAPTURES)
		s->captures[s->n_captures++] = *cs;
}

int iw_sensor_write_devices(struct iw_sensor *s)
{
	const char *path = s->opts.devices_path;
	if (!path)
		return IW_OK;
	bool out = !strcmp(path, "-");
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = out ? stdout : fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "iotwatch: --devices %s: %s\n", path, strerror(errno));
		return IW_ERR;
	}
	struct iw_json j;
	iw_json_init(&j);
	iw_store_devices(s->store, &j, f);
	iw_json_free(&j);
	if (out) {
		fflush(f);
		return IW_OK;
	}
	/* written whole, then renamed: a reader never sees half an inventory */
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "iotwatch: --devices %s: %s\n", path, strerror(errno));
		return IW_ERR;
	}
	return IW_OK;
}

void iw_sensor_capture_error(struct iw_sensor *s)
{
	s->capture_errors++;
}

uint64_t iw_sensor_packets(const struct iw_sensor *s)
{
	return s->packets;
}

uint64_t iw_sensor_bytes(const struct iw_sensor *s)
{
	return s->bytes;
}

/* ---- the end ---- */

static uint64_t malformed_total(const struct iw_sensor *s)
{
	uint64_t n = 0;
	for (int i = 1; i < IW_MAL__COUNT; i++)
		n += s->malformed[i];
	return n;
}

static void stats_record(struct iw_sensor *s, double elapsed_s, uint64_t flows_total, uint64_t flows_peak,
                         uint64_t evicted)
{
	struct iw_json *j = &s->json;
	iw_json_reset(j);
	iw_json_obj_begin(j, NULL);
	iw_json_time(j, "timestamp", s->now_us);
	iw_json_str(j, "sensor", s->cfg->sensor.name);
	iw_json_str(j, "event_type", "stats");
	iw_json_obj_begin(j, "stats");
	iw_json_uint(j, "packets", s->packets);
	iw_json_uint(j, "bytes", s->bytes);
	iw_json_uint(j, "flows", flows_total);
	iw_json_uint(j, "flows_peak", flows_peak);
	iw_json_uint(j, "flows_evicted", evicted);
	iw_json_obj_begin(j, "malformed");
	for (int i = 1; i < IW_MAL__COUNT; i++)
		if (s->malformed[i])
			iw_json_uint(j, iw_malformed_name(i), s->malformed[i]);
	iw_json_obj_end(j);
	iw_json_obj_begin(j, "anomalies"); /* malformed messages inside flows, by parser reason */
	for (unsigned i = 0; i < s->n_anomalies; i++)
		iw_json_uint(j, s->anomalies[i].name, s->anomalies[i].n);
	iw_json_obj_end(j);
	iw_json_obj_begin(j, "events");
	for (int k = 0; k < IW_EV__COUNT; k++)
		if (s->events[k])
			iw_json_uint(j, iw_event_kind_name(k), s->events[k]);
	iw_json_obj_end(j);
	iw_json_obj_begin(j, "alerts");
	for (unsigned i = 0; i < s->n_alerts; i++)
		iw_json_uint(j, s->alerts[i].name, s->alerts[i].n);
	iw_json_obj_end(j);
	iw_json_obj_begin(j, "classified");
	iw_json_uint(j, "probe", s->by_probe);
	iw_json_uint(j, "ndpi", s->by_ndpi);
	iw_json_uint(j, "port", s->by_port);
	iw_json_uint(j, "unknown", s->unclassified);
	iw_json_uint(j, "ndpi_flows", s->ndpi_flows);
	iw_json_obj_end(j);
	iw_json_obj_begin(j, "tcp");
	iw_json_uint(j, "midstream", s->stream.midstream);
	iw_json_uint(j, "retransmits", s->stream.retransmits);
	iw_json_uint(j, "overlaps", s->stream.overlaps);
	iw_json_uint(j, "out_of_order", s->stream.held);
	iw_json_uint(j, "gaps", s->stream.gaps);
	iw_json_uint(j, "gap_bytes", s->stream.gap_bytes);
	iw_json_uint(j, "parser_buffer_overflows", s->buffer_overflows);
	iw_json_obj_end(j);
	iw_json_obj_begin(j, "tunnels");
	iw_json_uint(j, "opened", s->tunnels_total);
	iw_json_uint(j, "open", s->tunnels_open);
	iw_json_obj_end(j);
	iw_json_obj_begin(j, "dns_cache");
	iw_json_uint(j, "entries", s->dns ? iw_dnscache_size(s->dns) : 0);
	iw_json_uint(j, "evicted", s->dns ? iw_dnscache_evicted(s->dns) : 0);
	iw_json_obj_end(j);
	iw_json_uint(j, "region_prefixes", s->regions ? iw_region_db_size(s->regions) : 0);
	struct iw_store_stats ss;
	iw_store_stats(s->store, &ss);
	iw_json_obj_begin(j, "state");
	iw_json_str(j, "backend", ss.redis ? "redis" : "memory");
	iw_json_uint(j, "devices", ss.devices);
	iw_json_uint(j, "devices_evicted", ss.devices_evicted);
	iw_json_uint(j, "sets", ss.sets);
	iw_json_uint(j, "set_members", ss.members);
	iw_json_uint(j, "set_members_dropped", ss.members_dropped);
	iw_json_uint(j, "alert_keys", ss.alert_keys);
	iw_json_uint(j, "alerts_raised_elsewhere", s->alerts_fleet_quiet);
	if (ss.redis) {
		iw_json_obj_begin(j, "redis");
		iw_json_bool(j, "up", ss.r.up);
		iw_json_uint(j, "commands", ss.r.commands);
		iw_json_uint(j, "replies", ss.r.replies);
		iw_json_uint(j, "errors", ss.r.errors);
		iw_json_uint(j, "connects", ss.r.connects);
		iw_json_uint(j, "failures", ss.r.failures);
		iw_json_uint(j, "dropped", ss.r.dropped);
		iw_json_uint(j, "claims_decided_alone", ss.claims_lost);
		iw_json_obj_end(j);
	}
	iw_json_obj_end(j);
	iw_json_obj_begin(j, "x509_cache");
	iw_json_uint(j, "hits", iw_x509_cache_hits(s->pcfg.x509_cache));
	iw_json_uint(j, "misses", iw_x509_cache_misses(s->pcfg.x509_cache));
	iw_json_obj_end(j);
	iw_json_obj_begin(j, "fragments");
	iw_json_uint(j, "held", s->frag_held);
	iw_json_uint(j, "reassembled", s->reassembled);
	iw_json_uint(j, "expired", iw_defrag_expired(s->defrag));
	iw_json_obj_end(j);
	iw_json_arr_begin(j, "capture");
	for (unsigned i = 0; i < s->n_captures; i++) {
		iw_json_obj_begin(j, NULL);
		iw_json_str(j, "source", s->captures[i].name);
		iw_json_uint(j, "received", s->captures[i].received);
		iw_json_uint(j, "kernel_drops", s->captures[i].dropped);
		iw_json_uint(j, "interface_drops", s->captures[i].ifdropped);
		iw_json_obj_end(j);
	}
	iw_json_arr_end(j);
	iw_json_uint(j, "capture_errors", s->capture_errors);
	iw_json_obj_begin(j, "exporters");
	for (unsigned i = 0; i < s->n_exp; i++) {
		if (!s->exp[i].desc->stats)
			continue;
		char name[64];
		snprintf(name, sizeof(name), "%s%u", s->exp[i].desc->name, i);
		iw_json_obj_begin(j, name);
		s->exp[i].desc->stats(s->exp[i].st, j);
		iw_json_obj_end(j);
	}
	iw_json_obj_end(j);
	iw_json_double(j, "elapsed_s", elapsed_s);
	iw_json_double(j, "pps", elapsed_s > 0 ? (double)s->packets / elapsed_s : 0);
	iw_json_obj_end(j);
	iw_json_obj_end(j);
	write_record(s, IW_REC_STATS, NULL);
}

/* Prints a JSON value for people: numbers and words as they are, objects as
 * "name value" pairs (nested ones prefixed "name."). */
static void print_flat(FILE *o, const char *prefix, json_object *v)
{
	json_object_object_foreach(v, name, m)
	{
		if (json_object_is_type(m, json_type_object)) {
			char p[128];
			snprintf(p, sizeof(p), "%s%s.", prefix, name);
			print_flat(o, p, m);
		} else {
			fprintf(o, " %s%s %s", prefix, name, json_object_get_string(m));
		}
	}
}

/* One line per exporter with its counters (the "exporters" of the stats record). */
static void exporters_summary(struct iw_sensor *s, FILE *o)
{
	struct iw_json j;
	iw_json_init(&j);
	for (unsigned i = 0; i < s->n_exp; i++) {
		if (!s->exp[i].desc->stats)
			continue;
		iw_json_reset(&j);
		iw_json_obj_begin(&j, NULL);
		s->exp[i].desc->stats(s->exp[i].st, &j);
		iw_json_obj_end(&j);
		json_object *v = json_tokener_parse(j.buf);
		if (!v)
			continue;
		fprintf(o, "  exporter %s%u", s->exp[i].desc->name, i);
		print_flat(o, "", v);
		fputc('\n', o);
		json_object_put(v);
	}
	iw_json_free(&j);
}

static void stats_summary(struct iw_sensor *s, double elapsed_s, uint64_t flows_total, uint64_t flows_peak,
                          uint64_t evicted)
{
	FILE *o = stderr;
	fprintf(o, "iotwatch: stats\n");
	fprintf(o, "  packets %llu\n", (unsigned long long)s->packets);
	fprintf(o, "  bytes %llu\n", (unsigned long long)s->bytes);
	fprintf(o, "  flows %llu\n", (unsigned long long)flows_total);
	fprintf(o, "  flows_peak %llu\n", (unsigned long long)flows_peak);
	fprintf(o, "  flows_evicted %llu\n", (unsigned long long)evicted);
	fprintf(o, "  malformed %llu\n", (unsigned long long)malformed_total(s));
	for (int i = 1; i < IW_MAL__COUNT; i++)
		if (s->malformed[i])
			fprintf(o, "    %s %llu\n", iw_malformed_name(i),
			        (unsigned long long)s->malformed[i]);
	fprintf(o, "  anomalies\n");
	for (unsigned i = 0; i < s->n_anomalies; i++)
		fprintf(o, "    %s %llu\n", s->anomalies[i].name, (unsigned long long)s->anomalies[i].n);
	fprintf(o, "  events\n");
	for (int k = 0; k < IW_EV__COUNT; k++)
		if (s->events[k])
			fprintf(o, "    %s %llu\n", iw_event_kind_name(k), (unsigned long long)s->events[k]);
	fprintf(o, "  alerts\n");
	for (unsigned i = 0; i < s->n_alerts; i++)
		fprintf(o, "    %s %llu\n", s->alerts[i].name, (unsigned long long)s->alerts[i].n);
	fprintf(o, "  classified probe %llu ndpi %llu port %llu unknown %llu\n",
	        (unsigned long long)s->by_probe, (unsigned long long)s->by_ndpi,
	        (unsigned long long)s->by_port, (unsigned long long)s->unclassified);
	fprintf(o, "  tcp midstream %llu retransmits %llu overlaps %llu out_of_order %llu gaps %llu\n",
	        (unsigned long long)s->stream.midstream, (unsigned long long)s->stream.retransmits,
	        (unsigned long long)s->stream.overlaps, (unsigned long long)s->stream.held,
	        (unsigned long long)s->stream.gaps);
	if (s->frag_held)
		fprintf(o, "  fragments held %llu reassembled %llu expired %llu\n",
		        (unsigned long long)s->frag_held, (unsigned long long)s->reassembled,
		        (unsigned long long)iw_defrag_expired(s->defrag));
	for (unsigned i = 0; i < s->n_captures; i++)
		fprintf(o, "  capture %s received %llu kernel_drops %llu interface_drops %llu\n",
		        s->captures[i].name, (unsigned long long)s->captures[i].received,
		        (unsigned long long)s->captures[i].dropped,
		        (unsigned long long)s->captures[i].ifdropped);
	if (s->capture_errors)
		fprintf(o, "  capture_errors %llu\n", (unsigned long long)s->capture_errors);
	struct iw_store_stats ss;
	iw_store_stats(s->store, &ss);
	fprintf(o, "  state %s devices %llu evicted %llu sets %llu alert_keys %llu\n",
	        ss.redis ? "redis" : "memory", (unsigned long long)ss.devices,
	        (unsigned long long)ss.devices_evicted, (unsigned long long)ss.sets,
	        (unsigned long long)ss.alert_keys);
	if (ss.redis)
		fprintf(o, "  redis %s commands %llu replies %llu errors %llu failures %llu dropped %llu\n",
		        ss.r.up ? "up" : "down", (unsigned long long)ss.r.commands,
		        (unsigned long long)ss.r.replies, (unsigned long long)ss.r.errors,
		        (unsigned long long)ss.r.failures, (unsigned long long)ss.r.dropped);
	exporters_summary(s, o);
	fprintf(o, "  elapsed_s %.3f\n", elapsed_s);
	fprintf(o, "  pps %.0f\n", elapsed_s > 0 ? (double)s->packets / elapsed_s : 0.0);
	fprintf(o, "  mbps %.1f\n", elapsed_s > 0 ? (double)s->bytes / elapsed_s / 1e6 : 0.0);
}

int iw_sensor_finish(struct iw_sensor *s, double elapsed_s)
{
	iw_sensor_tick(s, s->now_us);
	uint64_t total = iw_flow_total(s->flows), peak = iw_flow_peak(s->flows),
	         ev = iw_flow_evicted(s->flows);
	iw_flow_table_free(s->flows);
	s->flows = NULL;
	/* Redis answers what is pending (a fleet count may raise more, which waits in turn) */
	for (int round = 0; round < 3; round++) {
		iw_store_drain(s->store, 3000);
		if (!s->n_pending && !iw_store_pending(s->store))
			break;
	}
	for (size_t i = s->n_pending; i > 0; i--) /* unanswered: decided alone */
		claim_answered(s, s->pending[i - 1].token, true);
	free(s->pending);
	if (s->opts.devices_path)
		iw_sensor_write_devices(s);
	/* deliveries end first, so the stats tell what was delivered, kept or lost */
	uint64_t lost = 0;
	for (unsigned i = 0; i < s->n_exp; i++)
		if (s->exp[i].desc->finish)
			lost += s->exp[i].desc->finish(s->exp[i].st);
	if (s->opts.stats || s->cfg->sensor.stats_interval)
		stats_record(s, elapsed_s, total, peak, ev);
	if (s->opts.stats)
		stats_summary(s, elapsed_s, total, peak, ev);
	for (unsigned i = 0; i < s->n_exp; i++) {
		s->exp[i].desc->flush(s->exp[i].st);
		s->exp[i].desc->close(s->exp[i].st);
	}
	for (unsigned i = 0; i < s->n_rules; i++)
		if (s->rules[i]->state_free)
			s->rules[i]->state_free(s->rule_state[i]);
	iw_store_free(s->store);
	iw_json_free(&s->json);
	iw_defrag_free(s->defrag);
	iw_ndpi_free(s->ndpi);
	iw_dnscache_free(s->dns);
	iw_region_db_free(s->regions);
	iw_x509_cache_free(s->pcfg.x509_cache);
	free(s->devnets);
	free(s);
	if (lost)
		fprintf(stderr, "iotwatch: %" PRIu64 " records could not be delivered and were not kept\n",
		        lost);
	return lost ? 1 : 0;
}
