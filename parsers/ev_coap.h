/* ev_coap.h - the coap event (DESIGN §5): what parsers/coap.c reports per message.
 *
 * One event per CoAP message (RFC 7252), plus one "block_transfer" event when a
 * block-wise transfer (RFC 7959) completes. Every pointer points into the datagram or
 * into the parser's per-flow state and is valid only while the event is being emitted;
 * a consumer that keeps something copies it. Arrays are bounded; what did not fit is
 * counted. docs/coap.md describes every field as it appears in records. */
#ifndef IW_EV_COAP_H
#define IW_EV_COAP_H

#include <stdbool.h>
#include <stdint.h>

#define IW_COAP_MAX_OPTS 24 /* options kept per event; limits.max_items may lower it */

/* How an option's value reads (RFC 7252 §3.2). */
enum iw_coap_fmt { IW_COAP_EMPTY, IW_COAP_OPAQUE, IW_COAP_UINT, IW_COAP_STRING };

struct iw_coap_opt {
	uint32_t number;
	const char *name;     /* registered name ("Uri-Path"), NULL when unknown */
	enum iw_coap_fmt fmt; /* IW_COAP_UINT only when the value fits 4 bytes */
	uint32_t uint_value;  /* fmt IW_COAP_UINT */
	const uint8_t *value; /* the raw value, len bytes, in the datagram */
	uint32_t len;
};

/* A Block1 or Block2 option (RFC 7959 §2.2). */
struct iw_coap_block {
	bool present;
	bool more;
	uint8_t szx;   /* 7 is reserved: size 0 */
	uint32_t num;  /* block number */
	uint32_t size; /* 16 << szx */
};

/* LwM2M meaning of a numeric Uri-Path (OMA LwM2M 1.1 core §6). -1: level absent. */
struct iw_coap_lwm2m {
	bool present;
	bool firmware_update; /* a write, execute or create under object 5 */
	int32_t object, instance, resource;
	const char *object_name;   /* NULL when not in our table */
	const char *resource_name; /* NULL when not in our table */
	const char *operation;     /* "read", "observe", "write", "execute", "create", "delete", ... */
};

/* A LwM2M registration interface message (LwM2M 1.1 core §6.2, /rd). */
struct iw_coap_reg {
	const char *action; /* "register", "update", "deregister"; NULL: none */
	const char *ep, *lifetime, *binding, *version, *id, *sms, *queue;
	uint16_t ep_len, lifetime_len, binding_len, version_len, id_len;
};

struct iw_ev_coap {
	/* "request", "response", "empty", "reset", "block_transfer" */
	const char *type;
	const char *msg_type; /* "CON", "NON", "ACK", "RST" */
	uint8_t code;         /* class << 5 | detail */
	const char *method;   /* requests: "GET", ...; NULL otherwise or when unknown */
	const char *status;   /* responses: "Content", ...; NULL when unknown */
	uint16_t message_id;
	uint8_t token_len;
	const uint8_t *token;
	const char *malformed; /* the anomaly reason when the message is malformed, else NULL */

	struct iw_coap_opt opts[IW_COAP_MAX_OPTS];
	uint16_t n_opts;       /* kept in opts */
	uint16_t opts_dropped; /* decoded past the limit: counted only */

	const char *uri; /* "/3/0/1?x=y" from Uri-Path and Uri-Query; NULL when no request */
	uint16_t uri_len;
	bool uri_truncated;
	const char *uri_host; /* Uri-Host, in the datagram; NULL when absent */
	uint16_t uri_host_len;
	int32_t uri_port;     /* Uri-Port, -1 when absent */
	const char *location; /* "/rd/5a3f" from Location-Path and -Query; NULL when absent */
	uint16_t location_len;

	int32_t content_format; /* -1 when absent */
	const char *content_format_name;
	int32_t accept; /* -1 when absent */

	bool has_payload;
	uint32_t payload_length;
	const char *preview; /* printable copy, non-printable bytes as '.'; NULL when off */
	uint32_t preview_len;

	/* responses (and empty ACK / RST) matched to a request of the flow */
	bool matched;
	bool separate;          /* a response after an empty ACK (RFC 7252 §5.2.2) */
	const char *req_method; /* the matched request's method */
	const char *req_uri;    /* its uri */
	uint16_t req_uri_len;
	uint64_t rtt_us; /* request to this message, packet time */

	/* Observe (RFC 7641) */
	bool has_observe;
	uint32_t observe;           /* the option's value */
	const char *observe_action; /* "register", "deregister", "notification", "cancel" */

	struct iw_coap_block block1, block2;
	struct iw_coap_lwm2m lwm2m;
	struct iw_coap_reg reg;

	/* type "block_transfer" only */
	const char *bt_direction; /* "upload" (Block1, request payloads), "download" (Block2) */
	uint32_t bt_blocks;
	uint64_t bt_total; /* payload bytes over all blocks */
	uint32_t bt_block_size;
};

#endif
