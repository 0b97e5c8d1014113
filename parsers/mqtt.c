/* mqtt.c - MQTT 3.1, 3.1.1 (OASIS mqtt-v3.1.1 §2-3) and 5.0 (OASIS mqtt-v5.0 §2-3), also in WebSocket (RFC
 * 6455 §5).
 *
 *   fixed header  | type 4 bits | flags 4 bits | remaining length: 1-4 bytes, 7 bits each, LSB first |
 *   variable hdr  | per type: packet id 2 | 5.0: property length (varint) | properties ...         |
 *   CONNECT       | name len 2 | "MQTT"/"MQIsdp" | level 1 | flags 1 | keepalive 2 | [props] | client id |
 *                 | [will props] [will topic] [will payload] [username] [password]                   |
 *   PUBLISH       | topic len 2 | topic | [packet id 2 if QoS > 0] | [props] | payload ...              |
 *   WebSocket     | FIN RSV(3) opcode(4) | MASK len(7) | [len 16/64] | [mask key 4] | payload (xor key) |
 *
 * A stream parser: each call decodes at most one control packet (or one WebSocket
 * frame's worth of bytes) and returns the bytes consumed, IW_NEED_MORE or IW_ERR. A
 * packet larger than limits.max_message is skipped as its bytes come. After a gap, or
 * when a flow is picked up mid-stream, it scans for a plausible fixed header.
 *
 * Memory: a session that only CONNECTs, PUBLISHes and PINGs holds struct mqtt_state and
 * nothing else (under 100 bytes). What one packet needs - the SUBSCRIBE topics and
 * SUBACK codes, the payload preview - is scratch on packet()'s stack, with one heap
 * array of limits.max_items entries for a packet with more than MQTT_STACK_ITEMS items,
 * freed after the emit. Topic-alias tables come with a flow's first alias, WebSocket
 * framing state with its HTTP Upgrade. */
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "parser.h"

#define MQTT_ALIASES     64    /* topic aliases remembered per direction */
#define MQTT_ALIAS_TOPIC 256   /* longest topic remembered for an alias */
#define MQTT_MAX_ITEMS   1024  /* hard cap on topics/codes kept per packet, whatever the config */
#define WS_MAX_HTTP      16384 /* an HTTP Upgrade header block larger than this is not ours */
#define MQTT_STACK_ITEMS 16    /* topics/codes of a packet held on the stack; more go to the heap */
#define MQTT_MAX_PREVIEW 4096  /* sensor.payload_preview's ceiling (sensor/config.c) */

/* ---- per-flow state ---- */

enum dir_mode { M_START, M_MQTT, M_HTTP, M_WS, M_OFF };

struct mqtt_alias {
	uint16_t len; /* 0: unset */
	char topic[MQTT_ALIAS_TOPIC];
};

/* WebSocket framing of one direction (RFC 6455 §5.2): only for flows that upgraded. */
struct mqtt_ws {
	uint64_t frame_left;
	uint8_t mask[4];
	bool masked, in_frame, frame_data; /* frame payload is MQTT bytes */
	uint8_t msg_op;                    /* opcode of the data message in progress, 0 = none */
	uint32_t mask_off;
	uint8_t *wbuf;     /* MQTT bytes out of frames not yet decoded */
	size_t wlen, wcap; /* grows up to max_message + 5 */
};

struct mqtt_dir {
	uint64_t skip_left;       /* bytes of an oversized packet still to skip */
	struct mqtt_alias *alias; /* MQTT_ALIASES entries, allocated on the first alias */
	struct mqtt_ws *ws;       /* allocated when the direction's HTTP Upgrade ends */
	uint16_t alias_max;       /* what the peer allowed (its topic_alias_maximum), 0 = unknown */
	uint8_t mode;
	bool resync; /* look for a plausible fixed header before decoding */
	bool first;  /* resync at the start of the direction: a header at 0 needs no trial */
};

struct mqtt_state {
	struct iw_parser_cfg cfg; /* max_items clamped to 1..MQTT_MAX_ITEMS: topics/codes kept */
	uint8_t version;          /* 3, 4, 5; 0 = no CONNECT seen */
	bool version_fixed;       /* from a CONNECT, not guessed */
	bool ws;
	struct mqtt_dir d[2];
};

static void *mqtt_state_new(const struct iw_parser_cfg *cfg)
{
	struct mqtt_state *st = iw_calloc(1, sizeof(*st));
	st->cfg = *cfg;
	if (st->cfg.max_message < 16)
		st->cfg.max_message = 16;
	if (!st->cfg.max_items)
		st->cfg.max_items = 1;
	if (st->cfg.max_items > MQTT_MAX_ITEMS)
		st->cfg.max_items = MQTT_MAX_ITEMS;
	if (st->cfg.payload_preview > MQTT_MAX_PREVIEW)
		st->cfg.payload_preview = MQTT_MAX_PREVIEW;
	return st;
}

static void mqtt_state_free(void *p)
{
	struct mqtt_state *st = p;
	if (!st)
		return;
	for (int i = 0; i < 2; i++) {
		if (st->d[i].ws)
			free(st->d[i].ws->wbuf);
		free(st->d[i].ws);
		free(st->d[i].alias);
	}
	free(st);
}

/* ---- names ---- */

static const char *const type_names[16] = {
    "reserved",  "connect", "connack",     "publish",  "puback",  "pubrec",   "pubrel",     "pubcomp",
    "subscribe", "suback",  "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth",
};

/* MQTT 3.x CONNACK return codes (3.1.1 §3.2.2.3). */
static const char *connack3_name(uint8_t c)
{
	static const char *const n[] = {
	    "accepted",           "unacceptable_protocol_version", "identifier_rejected",
	    "server_unavailable", "bad_user_name_or_password",     "not_authorized"};
	return c < 6 ? n[c] : "unknown";
}

/* MQTT 5.0 reason codes (§2.4); code 0's name depends on the packet (zero). */
static const char *reason5_name(uint8_t c, const char *zero)
{
	static const char *const hi[] = {
	    "unspecified_error",
	    "malformed_packet",
	    "protocol_error",
	    "implementation_specific_error",
	    "unsupported_protocol_version",
	    "client_identifier_not_valid",
	    "bad_user_name_or_password",
	    "not_authorized",
	    "server_unavailable",
	    "server_busy",
	    "banned",
	    "server_shutting_down",
	    "bad_authentication_method",
	    "keep_alive_timeout",
	    "session_taken_over",
	    "topic_filter_invalid",
	    "topic_name_invalid",
	    "packet_identifier_in_use",
	    "packet_identifier_not_found",
	    "receive_maximum_exceeded",
	    "topic_alias_invalid",
	    "packet_too_large",
	    "message_rate_too_high",
	    "quota_exceeded",
	    "administrative_action",
	    "payload_format_invalid",
	    "retain_not_supported",
	    "qos_not_supported",
	    "use_another_server",
	    "server_moved",
	    "shared_subscriptions_not_supported",
	    "connection_rate_exceeded",
	    "maximum_connect_time",
	    "subscription_identifiers_not_supported",
	    "wildcard_subscriptions_not_supported",
	};
	switch (c) {
	case 0x00:
		return zero;
	case 0x01:
		return "granted_qos_1";
	case 0x02:
		return "granted_qos_2";
	case 0x04:
		return "disconnect_with_will_message";
	case 0x10:
		return "no_matching_subscribers";
	case 0x11:
		return "no_subscription_existed";
	case 0x18:
		return "continue_authentication";
	case 0x19:
		return "re_authenticate";
	}
	if (c >= 0x80 && c - 0x80u < sizeof(hi) / sizeof(hi[0]))
		return hi[c - 0x80];
	return "unknown";
}

/* SUBACK codes: 3.1.1 §3.9.3 (0-2 granted, 0x80 failure) or 5.0 reason codes. */
static const char *suback_name(uint8_t c, int version)
{
	if (c == 0)
		return "granted_qos_0";
	if (version != 5 && c == 0x80)
		return "failure";
	if (version != 5 && c > 2)
		return "unknown";
	return reason5_name(c, "granted_qos_0");
}

/* ---- primitive reads (§1.5) ---- */

/* Variable byte integer (§1.5.5 / 2.2.3): at most 4 bytes. Sets err past the end or on
 * a fifth byte. */
static uint32_t read_varint(struct iw_cur *c)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t b = iw_cur_u8(c);
		v |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80) || c->err)
			return v;
	}
	c->err = true;
	return 0;
}

/* Well-formed UTF-8 per RFC 3629 without U+0000 (§1.5.4). */
static bool utf8_ok(const uint8_t *s, size_t n)
{
	struct iw_cur c = iw_cur_make(s, n);
	while (iw_cur_left(&c)) {
		uint8_t b = iw_cur_u8(&c);
		uint32_t cp;
		int more;
		if (b == 0)
			return false;
		if (b < 0x80)
			continue;
		if (b >= 0xc2 && b <= 0xdf) {
			cp = b & 0x1f;
			more = 1;
		} else if (b >= 0xe0 && b <= 0xef) {
			cp = b & 0x0f;
			more = 2;
		} else if (b >= 0xf0 && b <= 0xf4) {
			cp = b & 0x07;
			more = 3;
		} else {
			return false;
		}
		for (int i = 0; i < more; i++) {
			uint8_t x = iw_cur_u8(&c);
			if (c.err || (x & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (x & 0x3f);
		}
		if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

/* A 2-byte-length string or binary field. Sets err when it does not fit. */
static struct iw_mqtt_str read_str(struct iw_cur *c)
{
	struct iw_mqtt_str s = {NULL, 0};
	uint16_t n = iw_cur_be16(c);
	const uint8_t *b;
	if (!c->err && iw_cur_bytes(c, n, &b)) {
		s.s = (const char *)b;
		s.n = n;
	}
	return s;
}

/* ---- properties (5.0 §2.2.2) ---- */

/* Zeroes a property block but for user[], which is meaningful only below n_user: the
 * 512-byte array stays out of every packet's path. */
static void props_clear(struct iw_mqtt_props *pr)
{
	memset(pr, 0, offsetof(struct iw_mqtt_props, user));
}

/* Decodes a property block into pr. Returns NULL or the malformed reason. */
static const char *read_props(struct iw_cur *c, struct iw_mqtt_props *pr)
{
	props_clear(pr);
	uint32_t len = read_varint(c);
	if (c->err)
		return "mqtt.property_length";
	if (iw_cur_left(c) < len)
		return "mqtt.property_length";
	struct iw_cur p = iw_cur_sub(c, len);
	while (iw_cur_left(&p)) {
		uint32_t id = read_varint(&p);
		struct iw_mqtt_str s;
		switch (id) {
		case 0x01:
			pr->payload_format_indicator = iw_cur_u8(&p);
			pr->present |= 1u << IW_MQTT_P_PAYLOAD_FORMAT_INDICATOR;
			break;
		case 0x02:
			pr->message_expiry_interval = iw_cur_be32(&p);
			pr->present |= 1u << IW_MQTT_P_MESSAGE_EXPIRY_INTERVAL;
			break;
		case 0x03:
			pr->content_type = read_str(&p);
			pr->present |= 1u << IW_MQTT_P_CONTENT_TYPE;
			break;
		case 0x08:
			pr->response_topic = read_str(&p);
			pr->present |= 1u << IW_MQTT_P_RESPONSE_TOPIC;
			break;
		case 0x09:
			pr->correlation_data_len = read_str(&p).n;
			pr->present |= 1u << IW_MQTT_P_CORRELATION_DATA;
			break;
		case 0x0b: {
			uint32_t v = read_varint(&p);
			if (pr->n_subids < IW_MQTT_MAX_SUBIDS)
				pr->subids[pr->n_subids++] = v;
			pr->present |= 1u << IW_MQTT_P_SUBSCRIPTION_IDENTIFIER;
			break;
		}
		case 0x11:
			pr->session_expiry_interval = iw_cur_be32(&p);
			pr->present |= 1u << IW_MQTT_P_SESSION_EXPIRY_INTERVAL;
			break;
		case 0x12:
			pr->assigned_client_identifier = read_str(&p);
			pr->present |= 1u << IW_MQTT_P_ASSIGNED_CLIENT_IDENTIFIER;
			break;
		case 0x13:
			pr->server_keep_alive = iw_cur_be16(&p);
			pr->present |= 1u << IW_MQTT_P_SERVER_KEEP_ALIVE;
			break;
		case 0x15:
			pr->authentication_method = read_str(&p);
			pr->present |= 1u << IW_MQTT_P_AUTHENTICATION_METHOD;
			break;
		case 0x16:
			pr->authentication_data_len = read_str(&p).n;
			pr->present |= 1u << IW_MQTT_P_AUTHENTICATION_DATA;
			break;
		case 0x17:
			pr->request_problem_information = iw_cur_u8(&p);
			pr->present |= 1u << IW_MQTT_P_REQUEST_PROBLEM_INFORMATION;
			break;
		case 0x18:
			pr->will_delay_interval = iw_cur_be32(&p);
			pr->present |= 1u << IW_MQTT_P_WILL_DELAY_INTERVAL;
			break;
		case 0x19:
			pr->request_response_information = iw_cur_u8(&p);
			pr->present |= 1u << IW_MQTT_P_REQUEST_RESPONSE_INFORMATION;
			break;
		case 0x1a:
			pr->response_information = read_str(&p);
			pr->present |= 1u << IW_MQTT_P_RESPONSE_INFORMATION;
			break;
		case 0x1c:
			pr->server_reference = read_str(&p);
			pr->present |= 1u << IW_MQTT_P_SERVER_REFERENCE;
			break;
		case 0x1f:
			pr->reason_string = read_str(&p);
			pr->present |= 1u << IW_MQTT_P_REASON_STRING;
			break;
		case 0x21:
			pr->receive_maximum = iw_cur_be16(&p);
			pr->present |= 1u << IW_MQTT_P_RECEIVE_MAXIMUM;
			break;
		case 0x22:
			pr->topic_alias_maximum = iw_cur_be16(&p);
			pr->present |= 1u << IW_MQTT_P_TOPIC_ALIAS_MAXIMUM;
			break;
		case 0x23:
			pr->topic_alias = iw_cur_be16(&p);
			pr->present |= 1u << IW_MQTT_P_TOPIC_ALIAS;
			break;
		case 0x24:
			pr->maximum_qos = iw_cur_u8(&p);
			pr->present |= 1u << IW_MQTT_P_MAXIMUM_QOS;
			break;
		case 0x25:
			pr->retain_available = iw_cur_u8(&p);
			pr->present |= 1u << IW_MQTT_P_RETAIN_AVAILABLE;
			break;
		case 0x26: {
			struct iw_mqtt_str n = read_str(&p);
			s = read_str(&p);
			if (pr->n_user < IW_MQTT_MAX_USER_PROPS) {
				pr->user[pr->n_user].name = n;
				pr->user[pr->n_user].value = s;
				pr->n_user++;
			} else {
				pr->user_truncated++;
			}
			pr->present |= 1u << IW_MQTT_P_USER_PROPERTY;
			break;
		}
		case 0x27:
			pr->maximum_packet_size = iw_cur_be32(&p);
			pr->present |= 1u << IW_MQTT_P_MAXIMUM_PACKET_SIZE;
			break;
		case 0x28:
			pr->wildcard_subscription_available = iw_cur_u8(&p);
			pr->present |= 1u << IW_MQTT_P_WILDCARD_SUBSCRIPTION_AVAILABLE;
			break;
		case 0x29:
			pr->subscription_identifier_available = iw_cur_u8(&p);
			pr->present |= 1u << IW_MQTT_P_SUBSCRIPTION_IDENTIFIER_AVAILABLE;
			break;
		case 0x2a:
			pr->shared_subscription_available = iw_cur_u8(&p);
			pr->present |= 1u << IW_MQTT_P_SHARED_SUBSCRIPTION_AVAILABLE;
			break;
		default:
			return p.err ? "mqtt.property_length" : "mqtt.property_id";
		}
		if (p.err)
			return "mqtt.property_length";
	}
	return NULL;
}

/* ---- one control packet ---- */

/* What one packet's decode needs beyond the event: on packet()'s stack, valid until the
 * emit returns. */
struct scratch {
	union {
		struct iw_mqtt_topic topic[MQTT_STACK_ITEMS];
		struct iw_mqtt_code code[MQTT_STACK_ITEMS];
	} small;
	void *heap; /* max_items entries once a packet has more than MQTT_STACK_ITEMS; packet() frees */
	char preview[MQTT_MAX_PREVIEW];
};

struct pkt {
	struct mqtt_state *st;
	struct iw_parse_ctx *ctx;
	int dir;
	int version;
	bool level_ok; /* CONNECT: a protocol level we know set version */
	bool dry;      /* a trial decode while resynchronising: no side effects */
	uint8_t type, flags;
	struct iw_cur c; /* the packet's body (remaining length bytes) */
	struct iw_ev_mqtt *m;
	struct scratch *sc; /* NULL in a trial decode: no topics, codes or preview kept */
};

/* Where topic or code i (< max_items) of the packet goes, entries of size bytes: the
 * stack array, then - from the first item past it, for every later decode of the same
 * packet too - one heap array of max_items entries holding the earlier ones. NULL in a
 * trial decode. */
static void *item_slot(struct pkt *k, uint32_t i, size_t size)
{
	struct scratch *s = k->sc;
	if (!s)
		return NULL;
	if (!s->heap && i >= MQTT_STACK_ITEMS) {
		s->heap = iw_calloc(1, (size_t)k->st->cfg.max_items * size);
		memcpy(s->heap, &s->small, (size_t)i * size);
	}
	return (char *)(s->heap ? s->heap : (void *)&s->small) + (size_t)i * size;
}

/* The array item_slot filled (NULL in a trial decode). */
static void *items_base(struct pkt *k)
{
	if (!k->sc)
		return NULL;
	return k->sc->heap ? k->sc->heap : (void *)&k->sc->small;
}

/* A topic name or filter: a string that must be well-formed UTF-8. */
static const char *read_topic(struct iw_cur *c, struct iw_mqtt_str *out)
{
	*out = read_str(c);
	if (c->err)
		return "mqtt.truncated";
	if (!utf8_ok((const uint8_t *)out->s, out->n))
		return "mqtt.utf8";
	return NULL;
}

static const char *body_connect(struct pkt *k)
{
	struct iw_ev_mqtt *m = k->m;
	struct iw_cur *c = &k->c;
	const char *bad = NULL;
	m->protocol_name = read_str(c);
	uint8_t level = iw_cur_u8(c);
	uint8_t fl = iw_cur_u8(c);
	m->keepalive = iw_cur_be16(c);
	if (c->err)
		return "mqtt.truncated";
	m->connect_flags = fl;
	if (level == 3 || level == 4 || level == 5) {
		k->version = level;
		k->level_ok = true;
	} else {
		bad = "mqtt.protocol_level";
	}
	m->clean_session = fl & 0x02;
	m->has_will = fl & 0x04;
	m->will_qos = (fl >> 3) & 3;
	m->will_retain = fl & 0x20;
	m->password_present = fl & 0x40;
	m->has_username = fl & 0x80;
	if (fl & 0x01)
		bad = "mqtt.connect_flags";
	if (m->will_qos == 3 || (!m->has_will && (m->will_qos || m->will_retain)))
		bad = "mqtt.will_flags";
	if (k->version == 5) {
		m->has_props = true;
		const char *r = read_props(c, &m->props);
		if (r)
			return r;
	}
	m->client_id = read_str(c);
	if (c->err)
		return "mqtt.truncated";
	if (m->has_will) {
		if (k->version == 5) {
			const char *r = read_props(c, &m->will_props);
			if (r)
				return r;
		}
		const char *r = read_topic(c, &m->will_topic);
		if (r)
			return r;
		m->will_payload_length = read_str(c).n;
	}
	if (m->has_username)
		m->username = read_str(c);
	if (m->password_present)
		(void)read_str(c); /* never kept */
	if (c->err)
		return "mqtt.truncated";
	if (iw_cur_left(c))
		return bad ? bad : "mqtt.trailing_bytes";
	return bad;
}

static const char *body_connack(struct pkt *k)
{
	struct iw_ev_mqtt *m = k->m;
	uint8_t f = iw_cur_u8(&k->c);
	m->code = iw_cur_u8(&k->c);
	if (k->c.err)
		return "mqtt.truncated";
	m->has_code = true;
	m->session_present = f & 1;
	if (k->version == 5) {
		m->reason = reason5_name(m->code, "success");
		m->has_props = true;
		const char *r = read_props(&k->c, &m->props);
		if (r)
			return r;
	} else {
		m->reason = connack3_name(m->code);
	}
	if (iw_cur_left(&k->c))
		return "mqtt.trailing_bytes";
	return f & 0xfe ? "mqtt.connack_flags" : NULL;
}

/* The topic an alias stands for, remembered per direction (5.0 §3.3.2.3.4). */
static void alias_use(struct pkt *k)
{
	struct iw_ev_mqtt *m = k->m;
	struct mqtt_dir *d = &k->st->d[k->dir];
	uint16_t a = m->props.topic_alias;
	uint16_t max = d->alias_max && d->alias_max < MQTT_ALIASES ? d->alias_max : MQTT_ALIASES;
	if (a == 0 || a > max) {
		k->ctx->anomaly(k->ctx, "mqtt.topic_alias_invalid");
		return;
	}
	if (m->topic.n) {
		if (m->topic.n > MQTT_ALIAS_TOPIC)
			return;
		if (!d->alias)
			d->alias = iw_calloc(1, MQTT_ALIASES * sizeof(*d->alias));
		struct mqtt_alias *e = &d->alias[a - 1];
		memcpy(e->topic, m->topic.s, m->topic.n);
		e->len = (uint16_t)m->topic.n;
		return;
	}
	if (!d->alias || !d->alias[a - 1].len) {
		k->ctx->anomaly(k->ctx, "mqtt.topic_alias_unknown");
		return;
	}
	m->topic.s = d->alias[a - 1].topic;
	m->topic.n = d->alias[a - 1].len;
	m->topic_from_alias = true;
}

static const char *body_publish(struct pkt *k)
{
	struct iw_ev_mqtt *m = k->m;
	struct iw_cur *c = &k->c;
	const char *bad = NULL;
	m->qos = (k->flags >> 1) & 3;
	m->retain = k->flags & 1;
	m->dup = k->flags & 8;
	if (m->qos == 3)
		bad = "mqtt.qos";
	const char *r = read_topic(c, &m->topic);
	if (r)
		return r;
	if (m->qos) {
		m->message_id = iw_cur_be16(c);
		m->has_message_id = true;
		if (c->err)
			return "mqtt.truncated";
	}
	if (k->version == 5) {
		m->has_props = true;
		r = read_props(c, &m->props);
		if (r)
			return r;
	}
	size_t n = iw_cur_left(c);
	m->payload_length = (uint32_t)n;
	uint32_t pv = k->st->cfg.payload_preview; /* <= MQTT_MAX_PREVIEW */
	if (pv && n && k->sc) {
		size_t take = n < pv ? n : pv;
		struct iw_cur pc = iw_cur_sub(c, take);
		char *o = k->sc->preview;
		for (size_t i = 0; i < take; i++) {
			uint8_t b = iw_cur_u8(&pc);
			o[i] = b >= 0x20 && b < 0x7f ? (char)b : '.';
		}
		m->payload_preview.s = o;
		m->payload_preview.n = (uint32_t)take;
	}
	if (k->version == 5 && (m->props.present & (1u << IW_MQTT_P_TOPIC_ALIAS))) {
		if (!k->dry)
			alias_use(k);
	} else if (k->dry && m->topic.n) {
		struct iw_cur tc = iw_cur_make((const uint8_t *)m->topic.s, m->topic.n);
		while (iw_cur_left(&tc)) /* a resync candidate's topic is text */
			if (iw_cur_u8(&tc) < 0x20)
				return "mqtt.topic_control";
	} else if (!m->topic.n)
		bad = "mqtt.empty_topic";
	return bad;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4-3.7); DISCONNECT and AUTH (5.0 §3.14-3.15) share
 * the optional reason code and properties. */
static const char *body_ack(struct pkt *k, bool has_id)
{
	struct iw_ev_mqtt *m = k->m;
	struct iw_cur *c = &k->c;
	if (has_id) {
		m->message_id = iw_cur_be16(c);
		m->has_message_id = true;
		if (c->err)
			return "mqtt.truncated";
	}
	if (k->version != 5)
		return iw_cur_left(c) ? "mqtt.length" : NULL;
	if (!iw_cur_left(c))
		return NULL;
	m->code = iw_cur_u8(c);
	m->has_code = true;
	m->reason = reason5_name(m->code, k->type == IW_MQTT_DISCONNECT ? "normal_disconnection" : "success");
	if (!iw_cur_left(c))
		return NULL;
	m->has_props = true;
	const char *r = read_props(c, &m->props);
	if (r)
		return r;
	return iw_cur_left(c) ? "mqtt.trailing_bytes" : NULL;
}

static const char *body_subscribe(struct pkt *k, bool unsub)
{
	struct iw_ev_mqtt *m = k->m;
	struct iw_cur *c = &k->c;
	const char *bad = NULL;
	m->message_id = iw_cur_be16(c);
	m->has_message_id = true;
	if (c->err)
		return "mqtt.truncated";
	if (k->version == 5) {
		m->has_props = true;
		const char *r = read_props(c, &m->props);
		if (r)
			return r;
	}
	if (!iw_cur_left(c))
		return "mqtt.no_topics";
	while (iw_cur_left(c)) {
		struct iw_mqtt_topic one;
		memset(&one, 0, sizeof(one));
		const char *r = read_topic(c, &one.filter);
		if (r)
			return r;
		if (!unsub) {
			uint8_t o = iw_cur_u8(c);
			if (c->err)
				return "mqtt.truncated";
			one.qos = o & 3;
			if (one.qos == 3)
				bad = "mqtt.qos";
			if (k->version == 5) {
				one.no_local = o & 0x04;
				one.retain_as_published = o & 0x08;
				one.retain_handling = (o >> 4) & 3;
				if ((o & 0xc0) || one.retain_handling == 3)
					bad = "mqtt.subscribe_options";
			} else if (o & 0xfc) {
				bad = "mqtt.subscribe_options";
			}
		}
		if (m->n_topics < k->st->cfg.max_items) {
			struct iw_mqtt_topic *t = item_slot(k, m->n_topics, sizeof(*t));
			if (t)
				*t = one;
			m->n_topics++;
		} else {
			m->topics_truncated++;
		}
	}
	m->topics = items_base(k);
	return bad;
}

static const char *body_suback(struct pkt *k, bool unsub)
{
	struct iw_ev_mqtt *m = k->m;
	struct iw_cur *c = &k->c;
	m->message_id = iw_cur_be16(c);
	m->has_message_id = true;
	if (c->err)
		return "mqtt.truncated";
	if (k->version == 5) {
		m->has_props = true;
		const char *r = read_props(c, &m->props);
		if (r)
			return r;
	} else if (unsub) {
		return iw_cur_left(c) ? "mqtt.length" : NULL;
	}
	const char *bad = NULL;
	while (iw_cur_left(c)) {
		uint8_t v = iw_cur_u8(c);
		const char *name = unsub ? reason5_name(v, "success") : suback_name(v, k->version);
		if (!strcmp(name, "unknown"))
			bad = "mqtt.reason_code";
		if (m->n_codes < k->st->cfg.max_items) {
			struct iw_mqtt_code *o = item_slot(k, m->n_codes, sizeof(*o));
			if (o) {
				o->code = v;
				o->reason = name;
			}
			m->n_codes++;
		} else {
			m->codes_truncated++;
		}
	}
	m->codes = items_base(k);
	if (!m->n_codes && !m->codes_truncated)
		bad = "mqtt.no_codes";
	return bad;
}

/* The right flags for each type (§2.1.3); PUBLISH is checked by its own rules. */
static bool flags_ok(uint8_t type, uint8_t flags)
{
	if (type == IW_MQTT_PUBLISH)
		return true;
	if (type == IW_MQTT_PUBREL || type == IW_MQTT_SUBSCRIBE || type == IW_MQTT_UNSUBSCRIBE)
		return flags == 2;
	return flags == 0;
}

/* Decodes one packet body as protocol version v into m. Returns NULL or the reason. */
static const char *decode_body(struct pkt *k)
{
	switch (k->type) {
	case IW_MQTT_CONNECT:
		return body_connect(k);
	case IW_MQTT_CONNACK:
		return body_connack(k);
	case IW_MQTT_PUBLISH:
		return body_publish(k);
	case IW_MQTT_PUBACK:
	case IW_MQTT_PUBREC:
	case IW_MQTT_PUBREL:
	case IW_MQTT_PUBCOMP:
		return body_ack(k, true);
	case IW_MQTT_SUBSCRIBE:
		return body_subscribe(k, false);
	case IW_MQTT_UNSUBSCRIBE:
		return body_subscribe(k, true);
	case IW_MQTT_SUBACK:
		return body_suback(k, false);
	case IW_MQTT_UNSUBACK:
		return body_suback(k, true);
	case IW_MQTT_PINGREQ:
	case IW_MQTT_PINGRESP:
		return iw_cur_left(&k->c) ? "mqtt.length" : NULL;
	case IW_MQTT_DISCONNECT:
		return body_ack(k, false);
	case IW_MQTT_AUTH:
		if (k->version != 5)
			return "mqtt.reserved_type";
		if (!iw_cur_left(&k->c)) { /* 5.0 §3.15.2.1: no reason code means success */
			k->m->has_code = true;
			k->m->reason = "success";
			return NULL;
		}
		return body_ack(k, false);
	default:
		return "mqtt.reserved_type";
	}
}

/* Zeroes the mqtt event but for the property blocks' user[] arrays (props_clear), so a
 * PINGREQ or PUBLISH does not clear 1.5 KB. */
static void ev_init(struct iw_event *ev, struct pkt *k, uint32_t rl)
{
	struct iw_ev_mqtt *m = &ev->u.mqtt;
	size_t will = offsetof(struct iw_ev_mqtt, will_props);
	size_t after = will + sizeof(m->will_props);
	memset(m, 0, will);
	props_clear(&m->will_props);
	memset((char *)m + after, 0, offsetof(struct iw_ev_mqtt, props) - after);
	props_clear(&m->props);
	ev->kind = IW_EV_MQTT;
	m->type = type_names[k->type & 15];
	m->msgtype = k->type;
	m->flags = k->flags;
	m->dir = (uint8_t)k->dir;
	m->websocket = k->st->ws;
	m->remaining_length = rl;
	m->protocol_version = (uint8_t)k->version;
	k->m = m;
}

/* Decodes and emits one whole packet: body is its remaining length bytes. */
static void packet(struct mqtt_state *st, struct iw_parse_ctx *ctx, int dir, uint8_t b0, const uint8_t *body,
                   uint32_t rl)
{
	struct iw_event ev;
	struct scratch sc;
	sc.heap = NULL;
	struct pkt k = {.st = st, .ctx = ctx, .dir = dir, .type = b0 >> 4, .flags = b0 & 15, .sc = &sc};
	k.version = st->version ? st->version : 4;
	ev_init(&ev, &k, rl);
	k.c = iw_cur_make(body, rl);
	const char *bad = decode_body(&k);
	if (bad && !st->version_fixed && k.type != IW_MQTT_CONNECT) {
		/* mid-stream: a guess of 3.1.1 that fails may be a 5.0 packet (or back) */
		struct pkt k2 = k;
		k2.version = k.version == 5 ? 4 : 5;
		ev_init(&ev, &k2, rl);
		k2.c = iw_cur_make(body, rl);
		const char *bad2 = decode_body(&k2);
		if (!bad2) {
			st->version = (uint8_t)k2.version;
			k = k2;
			bad = NULL;
		} else {
			ev_init(&ev, &k, rl);
			k.c = iw_cur_make(body, rl);
			bad = decode_body(&k);
		}
	}
	struct iw_ev_mqtt *m = &ev.u.mqtt;
	if (!bad && !flags_ok(k.type, k.flags))
		bad = "mqtt.header_flags";
	if (k.type == IW_MQTT_CONNECT && k.level_ok) {
		st->version = (uint8_t)k.version;
		st->version_fixed = true;
		m->protocol_version = (uint8_t)k.version;
	}
	if (k.type == IW_MQTT_CONNECT && m->props.present & (1u << IW_MQTT_P_TOPIC_ALIAS_MAXIMUM))
		st->d[IW_DIR_TOCLIENT].alias_max = m->props.topic_alias_maximum;
	if (k.type == IW_MQTT_CONNACK && m->props.present & (1u << IW_MQTT_P_TOPIC_ALIAS_MAXIMUM))
		st->d[IW_DIR_TOSERVER].alias_max = m->props.topic_alias_maximum;
	if (bad) {
		m->malformed = bad;
		ctx->anomaly(ctx, bad);
	}
	if (k.type == IW_MQTT_CONNECT && m->client_id.n)
		ctx->identity(ctx, IW_ID_CLIENT_ID, m->client_id.s, m->client_id.n);
	if (k.type == IW_MQTT_CONNACK && m->props.present & (1u << IW_MQTT_P_ASSIGNED_CLIENT_IDENTIFIER) &&
	    m->props.assigned_client_identifier.n)
		ctx->identity(ctx, IW_ID_CLIENT_ID, m->props.assigned_client_identifier.s,
		              m->props.assigned_client_identifier.n);
	ctx->emit(ctx, &ev);
	free(sc.heap);
}

/* ---- fixed headers and resynchronisation ---- */

enum { H_BAD = 0, H_OK = 1, H_MORE = 2 };

/* Reads a fixed header: *b0, *rl, *hlen (1 + length bytes). H_MORE when incomplete,
 * H_BAD on a fifth length byte. */
static int fixed_header(struct iw_cur c, uint8_t *b0, uint32_t *rl, uint32_t *hlen)
{
	*b0 = iw_cur_u8(&c);
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t b = iw_cur_u8(&c);
		if (c.err)
			return H_MORE;
		v |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*rl = v;
			*hlen = (uint32_t)i + 2;
			return H_OK;
		}
	}
	return H_BAD;
}

/* Could a packet start here? Type/flags valid and a length that suits the type. */
static bool header_strict(const struct mqtt_state *st, uint8_t b0, uint32_t rl)
{
	uint8_t t = b0 >> 4, f = b0 & 15;
	bool v3 = st->version_fixed && st->version != 5;
	if (t == 0 || (t == IW_MQTT_AUTH && v3))
		return false;
	if (t == IW_MQTT_PUBLISH ? ((f >> 1) & 3) == 3 : !flags_ok(t, f))
		return false;
	switch (t) {
	case IW_MQTT_CONNECT:
		return rl >= 10;
	case IW_MQTT_CONNACK:
		return v3 ? rl == 2 : rl >= 2;
	case IW_MQTT_PUBLISH:
		return rl >= 2;
	case IW_MQTT_PUBACK:
	case IW_MQTT_PUBREC:
	case IW_MQTT_PUBREL:
	case IW_MQTT_PUBCOMP:
	case IW_MQTT_UNSUBACK:
		return v3 ? rl == 2 : rl >= 2;
	case IW_MQTT_SUBSCRIBE:
		return rl >= 5;
	case IW_MQTT_SUBACK:
		return rl >= 3;
	case IW_MQTT_UNSUBSCRIBE:
		return rl >= 4;
	case IW_MQTT_PINGREQ:
	case IW_MQTT_PINGRESP:
		return rl == 0;
	case IW_MQTT_DISCONNECT:
		return v3 ? rl == 0 : true;
	default:
		return true;
	}
}

/* A candidate whose end is not visible yet: do its first body bytes look right?
 * H_OK yes, H_BAD no, H_MORE too few bytes to tell. */
static int body_plausible(uint8_t b0, struct iw_cur c)
{
	uint8_t t = b0 >> 4;
	if (t == IW_MQTT_CONNECT) {
		uint16_t n = iw_cur_be16(&c);
		if (c.err)
			return H_MORE;
		if (n != 4 && n != 6)
			return H_BAD;
		const uint8_t *name;
		if (!iw_cur_bytes(&c, n, &name))
			return H_MORE;
		return (n == 4 && !memcmp(name, "MQTT", 4)) || (n == 6 && !memcmp(name, "MQIsdp", 6)) ? H_OK
		                                                                                      : H_BAD;
	}
	if (t == IW_MQTT_PUBLISH) {
		uint16_t n = iw_cur_be16(&c);
		if (c.err)
			return H_MORE;
		if (n == 0)
			return H_BAD;
		size_t see = iw_cur_left(&c) < n ? iw_cur_left(&c) : n;
		const uint8_t *s;
		if (!see || !iw_cur_bytes(&c, see, &s))
			return H_MORE;
		struct iw_cur tc = iw_cur_make(s, see);
		while (iw_cur_left(&tc)) /* topics are text: no control characters */
			if (iw_cur_u8(&tc) < 0x20)
				return H_BAD;
		if (see < n)
			return H_MORE;
		return utf8_ok(s, see) ? H_OK : H_BAD;
	}
	return H_BAD; /* other types are small: judged when whole */
}

/* Does the whole packet at c decode without a fault (both versions if unknown)? */
static bool trial(struct mqtt_state *st, uint8_t b0, struct iw_cur c, uint32_t hl, uint32_t rl)
{
	const uint8_t *body;
	iw_cur_skip(&c, hl);
	if (!iw_cur_bytes(&c, rl, &body))
		return false;
	struct iw_event ev;
	for (int v = 4; v <= 5; v++) {
		if (st->version_fixed && v != (st->version == 5 ? 5 : 4))
			continue;
		struct pkt k = {.st = st, .dir = 0, .type = b0 >> 4, .flags = b0 & 15, .dry = true};
		k.version = st->version_fixed ? st->version : v;
		ev_init(&ev, &k, rl);
		k.c = iw_cur_make(body, rl);
		if (!decode_body(&k))
			return true;
	}
	return false;
}

/* Where in data the next packet plausibly starts. Returns its offset, with *wait set
 * when the bytes there cannot be judged yet; len when nothing is found. A candidate is
 * a strict header whose packet decodes without fault and is followed by the end of the
 * bytes or by another strict header; one whose end is not visible yet waits if its
 * first body bytes look right. At the very start of a direction (first), a header at
 * offset 0 needs no trial decode, so a malformed first packet is still reported. */
static size_t resync_scan(struct mqtt_state *st, const uint8_t *data, size_t len, bool first, bool *wait)
{
	*wait = false;
	uint32_t max = st->cfg.max_message;
	for (size_t off = 0; off < len; off++) {
		struct iw_cur c = iw_cur_make(data, len);
		iw_cur_skip(&c, off);
		uint8_t b0;
		uint32_t rl, hl;
		int h = fixed_header(c, &b0, &rl, &hl);
		if (h == H_MORE) {
			*wait = true;
			return off;
		}
		if (h != H_OK || !header_strict(st, b0, rl) || rl > max)
			continue;
		size_t left = len - off;
		if ((size_t)hl + rl > left) {
			struct iw_cur body = c;
			iw_cur_skip(&body, hl);
			int b = body_plausible(b0, body);
			if (b == H_BAD)
				continue;
			*wait = true;
			return off;
		}
		if (!(first && off == 0) && !trial(st, b0, c, hl, rl))
			continue;
		if ((size_t)hl + rl == left)
			return off; /* ends with the bytes seen */
		/* the next header is visible: it must be plausible too */
		struct iw_cur n = c;
		iw_cur_skip(&n, (size_t)hl + rl);
		uint8_t b1;
		uint32_t rl1, hl1;
		int h1 = fixed_header(n, &b1, &rl1, &hl1);
		if (h1 == H_MORE || (h1 == H_OK && header_strict(st, b1, rl1)))
			return off;
	}
	return len;
}

static int clamp(uint64_t n)
{
	return n > 0x7fffffff ? 0x7fffffff : (int)n;
}

/* The MQTT byte stream of one direction (from TCP or out of WebSocket frames). */
static int mqtt_stream(struct mqtt_state *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *data,
                       size_t len)
{
	struct mqtt_dir *d = &st->d[dir];
	if (!len)
		return IW_NEED_MORE;
	if (d->skip_left) {
		uint64_t n = len < d->skip_left ? len : d->skip_left;
		int r = clamp(n);
		d->skip_left -= (uint64_t)r;
		return r;
	}
	if (d->resync) {
		bool wait;
		size_t off = resync_scan(st, data, len, d->first, &wait);
		if (off == 0 && wait)
			return IW_NEED_MORE; /* judged when more bytes come */
		if (off == len && len <= 5)
			return IW_NEED_MORE;
		d->first = false;
		if (off == len) /* keep a few bytes: a header may straddle the next segment */
			return clamp(len - 5);
		if (off > 0) {
			ctx->anomaly(ctx, "mqtt.resync_skipped");
			return clamp(off);
		}
		d->resync = false;
	}
	struct iw_cur c = iw_cur_make(data, len);
	uint8_t b0;
	uint32_t rl, hl;
	int h = fixed_header(c, &b0, &rl, &hl);
	if (h == H_MORE)
		return IW_NEED_MORE;
	if (h == H_BAD) {
		ctx->anomaly(ctx, "mqtt.remaining_length");
		return IW_ERR;
	}
	uint64_t total = (uint64_t)hl + rl;
	if (total > st->cfg.max_message) {
		/* too large to buffer: report what the header says, then skip it as it comes */
		struct iw_event ev;
		struct pkt k = {.st = st, .ctx = ctx, .dir = dir, .type = b0 >> 4, .flags = b0 & 15};
		k.version = st->version ? st->version : 4;
		ev_init(&ev, &k, rl);
		ev.u.mqtt.skipped = true;
		if (k.type == IW_MQTT_PUBLISH) {
			ev.u.mqtt.qos = (k.flags >> 1) & 3;
			ev.u.mqtt.retain = k.flags & 1;
			ev.u.mqtt.dup = k.flags & 8;
			ev.u.mqtt.payload_length = rl;
		}
		ctx->anomaly(ctx, "mqtt.message_too_large");
		ctx->emit(ctx, &ev);
		d->skip_left = total;
		uint64_t n = len < total ? len : total;
		int r = clamp(n);
		d->skip_left -= (uint64_t)r;
		return r;
	}
	if (len < total)
		return IW_NEED_MORE;
	struct iw_cur body = c;
	const uint8_t *bp;
	iw_cur_skip(&body, hl);
	if (!iw_cur_bytes(&body, rl, &bp))
		return IW_NEED_MORE;
	packet(st, ctx, dir, b0, bp, rl);
	return clamp(total);
}

/* ---- WebSocket (RFC 6455) ---- */

/* Case-insensitive match of the span's start against lit (lower-case): 1 it matches,
 * 2 the span ended while matching so far, 0 it differs. */
static int ci_match(struct iw_cur c, const char *lit)
{
	for (; *lit; lit++) {
		uint8_t b = iw_cur_u8(&c);
		if (c.err)
			return 2;
		if (b >= 'A' && b <= 'Z')
			b = (uint8_t)(b + 32);
		if (b != (uint8_t)*lit)
			return 0;
	}
	return 1;
}

static bool ci_prefix(struct iw_cur c, const char *lit)
{
	return ci_match(c, lit) == 1;
}

/* Case-insensitive: does the span contain lit (lower-case)? */
static bool ci_contains(struct iw_cur c, const char *lit)
{
	while (iw_cur_left(&c)) {
		if (ci_prefix(c, lit))
			return true;
		iw_cur_skip(&c, 1);
	}
	return false;
}

/* The next line of an HTTP header block, without its CR LF. False at the end of the
 * bytes (no LF yet). */
static bool next_line(struct iw_cur *c, struct iw_cur *line)
{
	size_t n = iw_cur_left(c);
	const uint8_t *nl = n ? memchr(c->p, '\n', n) : NULL; /* bounded by the cursor */
	if (!nl)
		return false;
	size_t k = (size_t)(nl - c->p);
	*line = iw_cur_sub(c, k);
	iw_cur_skip(c, 1);
	if (k && iw_cur_peek(line, k - 1) == '\r')
		line->end--;
	return true;
}

/* An HTTP request upgrading to WebSocket with an "mqtt" subprotocol (RFC 6455 §4.1,
 * MQTT 5.0 §6). IW_NEED_MORE while the header block is incomplete. */
static int ws_probe(const uint8_t *data, size_t len)
{
	struct iw_cur c = iw_cur_make(data, len);
	struct iw_cur line;
	int g = ci_match(c, "get ");
	if (g != 1)
		return g == 2 ? IW_NEED_MORE : IW_ERR;
	bool upgrade = false, proto = false;
	if (!next_line(&c, &line))
		return IW_NEED_MORE;
	while (next_line(&c, &line)) {
		if (!iw_cur_left(&line))
			return upgrade && proto ? IW_OK : IW_ERR;
		if (ci_prefix(line, "upgrade:") && ci_contains(line, "websocket"))
			upgrade = true;
		if (ci_prefix(line, "sec-websocket-protocol:") && ci_contains(line, "mqtt"))
			proto = true;
	}
	return upgrade && proto ? IW_OK : IW_NEED_MORE;
}

/* Skips one direction's HTTP header block, then sets up its WebSocket framing. Returns
 * bytes consumed or IW_NEED_MORE. */
static int ws_http(struct mqtt_dir *d, const uint8_t *data, size_t len)
{
	struct iw_cur c = iw_cur_make(data, len);
	struct iw_cur line;
	while (next_line(&c, &line)) {
		if (!iw_cur_left(&line)) {
			if (!d->ws)
				d->ws = iw_calloc(1, sizeof(*d->ws));
			d->mode = M_WS;
			return clamp(len - iw_cur_left(&c));
		}
	}
	return len > WS_MAX_HTTP ? IW_ERR : IW_NEED_MORE;
}

/* Appends n payload bytes (unmasked) to the direction's MQTT buffer. */
static void ws_append(struct mqtt_state *st, struct mqtt_ws *d, struct iw_cur *src, size_t n)
{
	if (d->wlen + n > d->wcap) {
		size_t cap = d->wcap ? d->wcap : 1024;
		while (cap < d->wlen + n)
			cap *= 2;
		uint8_t *nb = iw_realloc(d->wbuf, cap);
		d->wbuf = nb;
		d->wcap = cap;
	}
	uint8_t *o = d->wbuf + d->wlen;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = iw_cur_u8(src);
		o[i] = d->masked ? (uint8_t)(b ^ d->mask[d->mask_off++ & 3]) : b;
	}
	d->wlen += n;
	(void)st;
}

/* Decodes what the MQTT buffer holds; keeps an incomplete packet. IW_ERR when the MQTT
 * stream cannot go on. */
static int ws_drain(struct mqtt_state *st, struct iw_parse_ctx *ctx, int dir)
{
	struct mqtt_dir *dd = &st->d[dir];
	struct mqtt_ws *d = dd->ws;
	size_t used = 0;
	if (!d->wlen)
		return IW_OK; /* also: no buffer allocated yet */
	while (used < d->wlen) {
		int r = mqtt_stream(st, ctx, dir, d->wbuf + used, d->wlen - used);
		if (r == IW_NEED_MORE)
			break;
		if (r < 0)
			return IW_ERR;
		used += (size_t)r;
	}
	if (used && used < d->wlen)
		memmove(d->wbuf, d->wbuf + used, d->wlen - used);
	d->wlen -= used;
	if (d->wlen > (size_t)st->cfg.max_message + 5) {
		d->wlen = 0; /* cannot happen: mqtt_stream skips larger packets */
		dd->resync = true;
	}
	return IW_OK;
}

static int ws_frames(struct mqtt_state *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *data,
                     size_t len)
{
	struct mqtt_dir *dd = &st->d[dir];
	struct mqtt_ws *d = dd->ws; /* set with M_WS */
	struct iw_cur c = iw_cur_make(data, len);
	if (!d->in_frame) {
		uint8_t b0 = iw_cur_u8(&c), b1 = iw_cur_u8(&c);
		uint64_t n = b1 & 0x7f;
		if (n == 126)
			n = iw_cur_be16(&c);
		else if (n == 127)
			n = (uint64_t)iw_cur_be32(&c) << 32 | iw_cur_be32(&c);
		const uint8_t *mk = NULL;
		if (b1 & 0x80)
			iw_cur_bytes(&c, 4, &mk);
		if (c.err)
			return IW_NEED_MORE;
		uint8_t op = b0 & 15;
		bool fin = b0 & 0x80;
		if (b0 & 0x70) {
			ctx->anomaly(ctx,
			             "mqtt.websocket_rsv"); /* an extension (compression) we do not know */
			dd->mode = M_OFF;
			return IW_ERR;
		}
		d->frame_left = n;
		d->masked = mk != NULL;
		if (mk)
			memcpy(d->mask, mk, 4);
		d->mask_off = 0;
		if (op == 0x0) { /* continuation of the message in progress */
			d->frame_data = d->msg_op == 0x2;
		} else if (op == 0x1 || op == 0x2) {
			d->msg_op = op;
			d->frame_data = op == 0x2; /* MQTT is carried in binary messages only (5.0 §6) */
		} else {
			d->frame_data = false;
			if (op < 0x8 || n > 125 || !fin)
				ctx->anomaly(ctx, "mqtt.websocket_frame");
		}
		if (op < 0x8 && fin)
			d->msg_op = 0;
		d->in_frame = true;
	}
	if (d->frame_left) {
		size_t n = iw_cur_left(&c) < d->frame_left ? iw_cur_left(&c) : (size_t)d->frame_left;
		if (n) {
			if (d->frame_data) {
				ws_append(st, d, &c, n);
			} else {
				iw_cur_skip(&c, n);
			}
			d->frame_left -= n;
		}
	}
	if (!d->frame_left)
		d->in_frame = false;
	size_t used = len - iw_cur_left(&c);
	if (d->frame_data && ws_drain(st, ctx, dir) != IW_OK) {
		dd->mode = M_OFF;
		return IW_ERR;
	}
	return used ? clamp(used) : IW_NEED_MORE;
}

/* ---- the descriptor's callbacks ---- */

static int mqtt_parse(void *p, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len)
{
	struct mqtt_state *st = p;
	if (!st || dir < 0 || dir > 1)
		return IW_ERR;
	struct mqtt_dir *d = &st->d[dir];
	if (!len)
		return IW_NEED_MORE;
	if (d->mode == M_START) {
		int http = ci_match(iw_cur_make(data, len), dir == IW_DIR_TOSERVER ? "get " : "http/");
		if (http == 2)
			return IW_NEED_MORE;
		if (http == 1 && (dir == IW_DIR_TOSERVER || st->ws)) {
			st->ws = true;
			d->mode = M_HTTP;
		} else {
			/* a mid-stream pickup unless it starts with a header that holds up */
			d->mode = M_MQTT;
			d->resync = true;
			d->first = true;
		}
	}
	switch (d->mode) {
	case M_HTTP:
		return ws_http(d, data, len);
	case M_WS:
		return ws_frames(st, ctx, dir, data, len);
	case M_MQTT:
		return mqtt_stream(st, ctx, dir, data, len);
	default:
		return IW_ERR;
	}
}

/* Bytes were lost: skip them inside a packet or frame being skipped, else resync. */
static void mqtt_gap(void *p, struct iw_parse_ctx *ctx, int dir, uint32_t len)
{
	struct mqtt_state *st = p;
	(void)ctx;
	if (!st || dir < 0 || dir > 1)
		return;
	struct mqtt_dir *d = &st->d[dir];
	if (d->mode == M_WS) {
		struct mqtt_ws *w = d->ws; /* set with M_WS */
		if (w->in_frame && len < w->frame_left) {
			w->frame_left -= len;
			w->mask_off += len;
			if (w->frame_data) {
				w->wlen = 0;
				d->resync = true;
				d->skip_left = 0;
			}
		} else {
			d->mode = M_OFF; /* frame boundaries are lost */
		}
		return;
	}
	if (d->mode == M_HTTP) {
		d->mode = M_OFF;
		return;
	}
	if (d->skip_left > len) {
		d->skip_left -= len;
		return;
	}
	d->skip_left = 0;
	if (d->mode == M_START)
		d->mode = M_MQTT;
	d->resync = true;
}

/* A client's first bytes must be a well-formed CONNECT: type 1 with flags 0, a valid
 * remaining length, protocol name "MQTT" (level 4 or 5) or "MQIsdp" (level 3), and
 * reserved connect flag 0 - or an HTTP Upgrade to WebSocket with subprotocol mqtt. */
static int mqtt_probe(const uint8_t *data, size_t len, int dir)
{
	if (dir != IW_DIR_TOSERVER)
		return IW_ERR;
	struct iw_cur c = iw_cur_make(data, len);
	uint8_t first = iw_cur_u8(&c);
	if (c.err)
		return IW_NEED_MORE;
	if (first == 'G' || first == 'g')
		return ws_probe(data, len);
	if (first != 0x10)
		return IW_ERR;
	uint32_t rem = 0;
	for (int i = 0;; i++) {
		uint8_t b = iw_cur_u8(&c);
		if (c.err)
			return IW_NEED_MORE;
		rem |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			break;
		if (i == 3)
			return IW_ERR;
	}
	uint16_t nlen = iw_cur_be16(&c);
	const uint8_t *name;
	if (c.err || !iw_cur_bytes(&c, nlen < 8 ? nlen : 8, &name))
		return IW_NEED_MORE;
	uint8_t level = iw_cur_u8(&c);
	uint8_t flags = iw_cur_u8(&c);
	if (c.err)
		return IW_NEED_MORE;
	if (rem < 10u + nlen - 4u || (flags & 1))
		return IW_ERR;
	if (nlen == 4 && !memcmp(name, "MQTT", 4) && (level == 4 || level == 5))
		return IW_OK;
	if (nlen == 6 && !memcmp(name, "MQIsdp", 6) && level == 3)
		return IW_OK;
	return IW_ERR;
}

const struct iw_parser iw_parser_mqtt = {
    .name = "mqtt",
    .ipproto = IPPROTO_TCP,
    .ports = {1883},
    .ndpi_name = "MQTT",
    .probe = mqtt_probe,
    .state_new = mqtt_state_new,
    .state_free = mqtt_state_free,
    .parse = mqtt_parse,
    .gap = mqtt_gap,
};
