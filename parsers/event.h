/* event.h - decoded protocol events: the only thing rules and exporters see of a flow.
 *
 * Events are plain data. Strings and byte spans point into the packet or into a
 * per-packet scratch area that is reset after dispatch; a consumer that keeps one
 * copies it. A parser fills kind and its member of the union and hands the event to
 * iw_parse_ctx.emit; the sensor fills the common part (time, flow, device). */
#ifndef IW_EVENT_H
#define IW_EVENT_H

#include <stdint.h>

#include "ev_coap.h"
#include "ev_dns.h"
#include "ev_modbus.h"
#include "ev_mqtt.h"
#include "ev_ssh.h"
#include "ev_tls.h"
#include "ev_tunnel.h"
#include "packet.h"

enum iw_event_kind {
	IW_EV_FLOW,
	IW_EV_MQTT,
	IW_EV_COAP,
	IW_EV_MODBUS,
	IW_EV_TLS,
	IW_EV_SSH,
	IW_EV_DNS,
	IW_EV_TUNNEL,
	IW_EV__COUNT
};

/* "flow", "mqtt", ...: the record's event_type. */
const char *iw_event_kind_name(enum iw_event_kind k);

/* The device an event belongs to (DESIGN §2). Fields are NULL when unknown. */
struct iw_device {
	const char *id;
	const char *ip;
	const char *mac;
	const char *client_id;
	const char *cert_cn;
	const char *endpoint; /* LwM2M endpoint name */
};

enum iw_flow_end { IW_END_FIN, IW_END_RST, IW_END_TIMEOUT, IW_END_EVICTED, IW_END_SHUTDOWN, IW_END__COUNT };

const char *iw_flow_end_name(enum iw_flow_end e);

struct iw_ev_flow {
	uint64_t start_us, end_us;
	uint64_t pkts_toserver, pkts_toclient;
	uint64_t bytes_toserver, bytes_toclient;
	enum iw_flow_end reason;
	uint8_t tcp_flags_ts, tcp_flags_tc; /* union of flags seen each way */
	uint32_t gaps;                      /* reassembly gaps reported to the parser */
	const char *ndpi;                   /* nDPI's name for the flow, NULL when not asked */
};

/* The server side of a flow as the sensor knows it: the name the client used for it and
 * the region the region database gives (DESIGN §4 rules.region). Strings are static or
 * owned by the sensor; NULL when unknown. */
struct iw_endpoint {
	const char *name;          /* host name */
	const char *name_source;   /* "sni" (TLS server_name) or "dns" (an answer the device used) */
	const char *region;        /* "ap-south-1", "northeurope", ... */
	const char *provider;      /* "aws", "azure", "gcp", "emqx", "hivemq" */
	const char *region_source; /* "sni", "dns" or "ip_range" */
	const char *service;       /* from an ip-range file: "AMAZON", "AzureIoTHub", ... */
};

struct iw_event {
	enum iw_event_kind kind;
	/* common part, filled by the sensor */
	uint64_t ts_us;
	uint64_t flow_id;
	const struct iw_flow_key *key; /* src = client (initiator), dst = server */
	const char *app_proto;         /* NULL when the flow is unclassified */
	struct iw_device device;
	const struct iw_endpoint *endpoint; /* the server side, NULL when nothing is known */
	/* per kind; later protocols add their member here */
	union {
		struct iw_ev_flow flow;
		struct iw_ev_mqtt mqtt;
		struct iw_ev_coap coap;
		struct iw_ev_modbus modbus;
		struct iw_ev_tls tls;
		struct iw_ev_ssh ssh;
		struct iw_ev_dns dns;
		struct iw_ev_tunnel tunnel;
	} u;
};

#endif
