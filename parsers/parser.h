/* parser.h - the application parser descriptor and its registry (STYLE.md "Adding things").
 *
 * A parser is a pure function of (bytes, its per-flow state) to events: no globals, no
 * I/O. Adding one is a file exporting a const struct iw_parser plus one line in
 * parsers/registry.c. The sensor picks a flow's parser from the strict probes here,
 * then from nDPI's answer (ndpi_name), then from the ports. */
#ifndef IW_PARSER_H
#define IW_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "cursor.h"
#include "event.h"

enum { IW_DIR_TOSERVER = 0, IW_DIR_TOCLIENT = 1 };

/* What identifies the device behind a flow, as a parser learns it (DESIGN §2). */
enum iw_identity { IW_ID_CLIENT_ID, IW_ID_CERT_CN, IW_ID_ENDPOINT };

/* Limits from the configuration that every parser honours. */
struct iw_parser_cfg {
	uint32_t max_message;             /* limits.max_message: largest message buffered per direction */
	uint32_t max_items;               /* limits.max_items: topics per SUBSCRIBE, options per message */
	uint32_t payload_preview;         /* sensor.payload_preview: payload bytes shown, 0 = none */
	struct iw_x509_cache *x509_cache; /* decoded certificates shared by flows; may be NULL */
	bool no_fingerprints;             /* no event is written: JA3, JA3S and JA4, which only
	                                   * event records carry, are not worked out */
};

/* What a parser sees of the flow and how it reports. Owned by the sensor. */
struct iw_parse_ctx {
	uint64_t ts_us;
	uint64_t flow_id;
	const struct iw_flow_key *key; /* client first */
	/* hands a decoded event on; the event may live on the parser's stack */
	void (*emit)(struct iw_parse_ctx *ctx, struct iw_event *ev);
	/* counts a malformed message; reason is a static string ("mqtt.remaining_length") */
	void (*anomaly)(struct iw_parse_ctx *ctx, const char *reason);
	/* the flow's device is known by this name from now on (an MQTT client id, the CN of
	 * a client certificate, a LwM2M endpoint); the sensor copies it */
	void (*identity)(struct iw_parse_ctx *ctx, enum iw_identity kind, const char *s, size_t n);
	uint8_t end_reason; /* enum iw_flow_end, set for the end callback */
	void *arg;          /* the sensor's */
};

struct iw_parser {
	const char *name;      /* app_proto in records */
	uint8_t ipproto;       /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t ports[4];     /* server ports that select it when nothing else does */
	const char *ndpi_name; /* nDPI protocol name that selects it ("MQTT"), or NULL */
	/* Strict look at the first payload of one direction: IW_OK when the bytes can only
	 * be this protocol, IW_NEED_MORE when too few bytes to tell, IW_ERR otherwise. */
	int (*probe)(const uint8_t *data, size_t len, int dir);
	/* Per-flow state under the configured limits (the parser keeps cfg's values, not the
	 * pointer); state_new aborts on allocation failure like every allocation. */
	void *(*state_new)(const struct iw_parser_cfg *cfg);
	void (*state_free)(void *st);
	/* TCP: bytes of one direction in order; returns bytes consumed (> 0), IW_NEED_MORE
	 * (call again with more bytes appended), IW_ERR (stop parsing this direction) or
	 * IW_DONE (the same, but not an error: what follows is encrypted, say); when both
	 * directions are stopped the sensor stops reassembling the flow.
	 * UDP: one datagram; a return < 0 counts the datagram as malformed. */
	int (*parse)(void *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len);
	/* TCP only, optional: len bytes of this direction were never seen. */
	void (*gap)(void *st, struct iw_parse_ctx *ctx, int dir, uint32_t len);
	/* Optional: the flow ended (ctx->end_reason says how); a last chance to emit. */
	void (*end)(void *st, struct iw_parse_ctx *ctx);
};

/* NULL-terminated, in probe order. */
extern const struct iw_parser *const iw_parsers[];

#endif
