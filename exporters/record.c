/* record.c - events and alerts into JSON records with Suricata EVE field names (DESIGN §5).
 *
 * Common fields come first and in one order for every record, so diffs of two runs
 * line up. Per-kind objects come from a table indexed by event kind: adding a protocol's
 * record is one static function and one line in `serialisers`. */
/* inet_ntop: POSIX.1-2008 when the build does not ask for more. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "record.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* Formats an address without anything from packet.c: IPv4 by hand (glibc's inet_ntop
 * formats it with sprintf, slow on this path), IPv6 with inet_ntop.
 * Returns NULL for a family that is neither 4 nor 6. */
static const char *addr_str(const struct iw_addr *a, int family, char *buf, size_t len)
{
	if (family == 6)
		return inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
	if (family != 4 || len < INET_ADDRSTRLEN)
		return NULL;
	char *o = buf;
	for (int i = 0; i < 4; i++) {
		unsigned v = a->b[i];
		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
		*o++ = i < 3 ? '.' : '\0';
	}
	return buf;
}

/* EVE's names for the protocols it names; any other number as a decimal string. */
static const char *proto_name(uint8_t proto, char buf[4])
{
	switch (proto) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_ICMP:
		return "ICMP";
	case IPPROTO_ICMPV6:
		return "ICMPv6";
	}
	char *p = buf + 3;
	*p = '\0';
	do {
		*--p = (char)('0' + proto % 10);
		proto /= 10;
	} while (proto);
	return p;
}

static void device(struct iw_json *j, const struct iw_device *d)
{
	if (d->id == NULL)
		return;
	iw_json_obj_begin(j, "device");
	iw_json_str(j, "id", d->id);
	if (d->ip != NULL)
		iw_json_str(j, "ip", d->ip);
	if (d->mac != NULL)
		iw_json_str(j, "mac", d->mac);
	if (d->client_id != NULL)
		iw_json_str(j, "client_id", d->client_id);
	if (d->cert_cn != NULL)
		iw_json_str(j, "cert_cn", d->cert_cn);
	if (d->endpoint != NULL)
		iw_json_str(j, "endpoint", d->endpoint);
	iw_json_obj_end(j);
}

/* The server side's name and region, when the sensor knows either. */
static void endpoint(struct iw_json *j, const struct iw_endpoint *e)
{
	if (e == NULL || (e->name == NULL && e->region == NULL))
		return;
	iw_json_obj_begin(j, "endpoint");
	if (e->name != NULL) {
		iw_json_str(j, "name", e->name);
		if (e->name_source != NULL)
			iw_json_str(j, "name_source", e->name_source);
	}
	if (e->region != NULL) {
		iw_json_str(j, "region", e->region);
		if (e->provider != NULL)
			iw_json_str(j, "provider", e->provider);
		if (e->service != NULL)
			iw_json_str(j, "service", e->service);
		if (e->region_source != NULL)
			iw_json_str(j, "region_source", e->region_source);
	}
	iw_json_obj_end(j);
}

/* timestamp, flow_id, sensor, event_type, src_ip, src_port, dest_ip, dest_port, proto,
 * app_proto, vlan, device, endpoint: the part every record shares. ev may be NULL (an alert
 * raised from a tick has no flow). */
static void common(struct iw_json *j, uint64_t ts_us, const char *sensor, const char *type,
                   const struct iw_event *ev, const struct iw_device *dev)
{
	iw_json_time(j, "timestamp", ts_us);
	if (ev != NULL)
		iw_json_uint(j, "flow_id", ev->flow_id);
	if (sensor != NULL)
		iw_json_str(j, "sensor", sensor);
	iw_json_str(j, "event_type", type);

	const struct iw_flow_key *k = ev != NULL ? ev->key : NULL;
	if (k != NULL) {
		char a[INET6_ADDRSTRLEN], p[4];
		const char *s = addr_str(&k->src, k->family, a, sizeof(a));
		if (s != NULL)
			iw_json_str(j, "src_ip", s);
		iw_json_uint(j, "src_port", k->sport);
		s = addr_str(&k->dst, k->family, a, sizeof(a));
		if (s != NULL)
			iw_json_str(j, "dest_ip", s);
		iw_json_uint(j, "dest_port", k->dport);
		iw_json_str(j, "proto", proto_name(k->proto, p));
	}
	if (ev != NULL && ev->app_proto != NULL)
		iw_json_str(j, "app_proto", ev->app_proto);
	if (k != NULL && k->vlan != 0) {
		iw_json_arr_begin(j, "vlan"); /* EVE: the list of VLAN ids, outermost first */
		iw_json_uint(j, NULL, k->vlan);
		if (k->vlan_inner != 0)
			iw_json_uint(j, NULL, k->vlan_inner);
		iw_json_arr_end(j);
	}
	device(j, dev);
	if (ev != NULL)
		endpoint(j, ev->endpoint);
}

/* EVE writes TCP flags as two lower-case hex digits ("1b"). */
static void tcp_flags(struct iw_json *j, const char *key, uint8_t f)
{
	static const char hex[] = "0123456789abcdef";
	char s[2] = {hex[f >> 4], hex[f & 0xf]};
	iw_json_strn(j, key, s, 2);
}

static void ser_flow(struct iw_json *j, const struct iw_event *ev)
{
	const struct iw_ev_flow *f = &ev->u.flow;
	iw_json_uint(j, "pkts_toserver", f->pkts_toserver);
	iw_json_uint(j, "pkts_toclient", f->pkts_toclient);
	iw_json_uint(j, "bytes_toserver", f->bytes_toserver);
	iw_json_uint(j, "bytes_toclient", f->bytes_toclient);
	iw_json_time(j, "start", f->start_us);
	iw_json_time(j, "end", f->end_us);
	/* Like EVE: whole seconds between the start and end seconds. */
	uint64_t s = f->start_us / 1000000, e = f->end_us / 1000000;
	iw_json_uint(j, "age", e > s ? e - s : 0);
	iw_json_str(j, "reason", iw_flow_end_name(f->reason));
	if (ev->key != NULL && ev->key->proto == 6) { /* TCP only, as EVE */
		tcp_flags(j, "tcp_flags_ts", f->tcp_flags_ts);
		tcp_flags(j, "tcp_flags_tc", f->tcp_flags_tc);
	}
	if (f->gaps != 0)
		iw_json_uint(j, "gaps", f->gaps);
	if (f->ndpi != NULL)
		iw_json_str(j, "ndpi", f->ndpi);
}

/* Writes the members of the object named after ev->kind; the caller opens and closes it. */
typedef void (*kind_serialiser)(struct iw_json *j, const struct iw_event *ev);

/* One line per event kind with a serialiser; a kind missing here is written as {}. */
static const kind_serialiser serialisers[IW_EV__COUNT] = {
    [IW_EV_FLOW] = ser_flow,        [IW_EV_MQTT] = iw_rec_mqtt,     [IW_EV_COAP] = iw_rec_coap,
    [IW_EV_MODBUS] = iw_rec_modbus, [IW_EV_TLS] = iw_rec_tls,       [IW_EV_SSH] = iw_rec_ssh,
    [IW_EV_DNS] = iw_rec_dns,       [IW_EV_TUNNEL] = iw_rec_tunnel,
};

void iw_record_event(struct iw_json *j, const char *sensor, const struct iw_event *ev)
{
	iw_json_reset(j);
	if (ev == NULL)
		return;
	const char *kind = iw_event_kind_name(ev->kind);
	iw_json_obj_begin(j, NULL);
	common(j, ev->ts_us, sensor, kind, ev, &ev->device);
	iw_json_obj_begin(j, kind);
	if ((unsigned)ev->kind < IW_EV__COUNT && serialisers[ev->kind] != NULL)
		serialisers[ev->kind](j, ev);
	iw_json_obj_end(j);
	iw_json_obj_end(j);
}

static void evidence(struct iw_json *j, const struct iw_alert *a)
{
	unsigned n = a->n_evidence < IW_ALERT_MAX_EVIDENCE ? a->n_evidence : IW_ALERT_MAX_EVIDENCE;
	iw_json_obj_begin(j, "evidence");
	for (unsigned i = 0; i < n; i++) {
		const struct iw_kv *kv = &a->evidence[i];
		if (kv->key == NULL)
			continue; /* a member needs a name */
		switch (kv->type) {
		case IW_KV_STR:
			iw_json_str(j, kv->key, kv->v.s);
			break;
		case IW_KV_INT:
			iw_json_int(j, kv->key, kv->v.i);
			break;
		case IW_KV_BOOL:
			iw_json_bool(j, kv->key, kv->v.b);
			break;
		case IW_KV_TIME:
			iw_json_time(j, kv->key, kv->v.t);
			break;
		case IW_KV_STRS:
			iw_json_arr_begin(j, kv->key);
			for (unsigned k = 0; k < kv->v.list.n; k++)
				iw_json_str(j, NULL, ((const char *const *)kv->v.list.p)[k]);
			iw_json_arr_end(j);
			break;
		case IW_KV_TIMES:
			iw_json_arr_begin(j, kv->key);
			for (unsigned k = 0; k < kv->v.list.n; k++)
				iw_json_time(j, NULL, ((const uint64_t *)kv->v.list.p)[k]);
			iw_json_arr_end(j);
			break;
		default:
			iw_json_null(j, kv->key);
			break;
		}
	}
	iw_json_obj_end(j);
}

void iw_record_alert(struct iw_json *j, const char *sensor, const struct iw_alert *a)
{
	iw_json_reset(j);
	if (a == NULL)
		return;
	const struct iw_device *dev = &a->device;
	if (dev->id == NULL && a->ev != NULL)
		dev = &a->ev->device;
	iw_json_obj_begin(j, NULL);
	common(j, a->ts_us, sensor, "alert", a->ev, dev);
	iw_json_obj_begin(j, "alert");
	iw_json_str(j, "rule", a->rule);
	if (a->category != NULL)
		iw_json_str(j, "category", a->category);
	iw_json_str(j, "severity", iw_severity_name(a->severity));
	if (a->message != NULL)
		iw_json_str(j, "message", a->message);
	iw_json_obj_end(j);
	evidence(j, a);
	iw_json_obj_end(j);
}
