/* coap.c - CoAP over UDP (RFC 7252 §3), Observe (RFC 7641), block-wise (RFC 7959), LwM2M.
 *
 *    0                   1                   2                   3
 *   |Ver| T |  TKL  |      Code     |          Message ID           |
 *   |   Token (TKL bytes, 0-8)  ...  | Options ... | 0xFF | Payload ... |
 *   option: | delta 4 | length 4 | ext delta 0-2 | ext length 0-2 | value |
 *           (13: one more byte, value + 13; 14: two more bytes, value + 269; 15: reserved)
 *
 * One event per message; requests and responses of a flow are matched by token (and
 * message id for piggybacked ACKs) in a bounded table; Observe registrations keep their
 * entry so notifications find their uri; block-wise transfers are summed in a bounded
 * table and reported once complete. A flow starts with a header and REQS_INIT request
 * slots in one allocation; a table of more is allocated when those are not enough
 * (doubling up to MAX_REQS), a request's uri lives in a buffer its slot keeps for reuse,
 * and the block-wise table is allocated on the first block of a transfer (XFERS_INIT,
 * doubling up to MAX_XFERS).
 * Per-message scratch (uri, location, preview) lives on coap_parse's stack. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "parser.h"

#define MAX_REQS    64  /* outstanding requests (and observations) per flow */
#define REQS_INIT   4   /* request slots in the flow's state itself */
#define MAX_XFERS   8   /* block-wise transfers in progress per flow */
#define XFERS_INIT  2   /* transfer slots allocated on a flow's first block */
#define REQ_URI     96  /* uri bytes kept per outstanding request */
#define URI_MAX     256 /* uri bytes assembled per message */
#define LOC_MAX     128
#define PREVIEW_MAX 256
#define MAX_SEGS    4 /* Uri-Path segments kept for the LwM2M meaning */
#define MAX_QUERIES 8

/* Reads an option's extended delta or length (RFC 7252 §3.1); 15 is reserved. */
static bool ext_nibble(struct iw_cur *c, unsigned v)
{
	if (v == 13)
		iw_cur_skip(c, 1);
	else if (v == 14)
		iw_cur_skip(c, 2);
	else if (v == 15)
		return false;
	return !c->err;
}

/* A datagram that parses completely as CoAP: version 1, token length <= 8, a code of a
 * registered class, options well formed, a payload marker followed by a payload. */
static int coap_probe(const uint8_t *data, size_t len, int dir)
{
	(void)dir;
	struct iw_cur c = iw_cur_make(data, len);
	uint8_t b0 = iw_cur_u8(&c);
	uint8_t code = iw_cur_u8(&c);
	iw_cur_skip(&c, 2);
	if (c.err || (b0 >> 6) != 1 || (b0 & 0x0f) > 8)
		return IW_ERR;
	unsigned cls = code >> 5;
	if (cls != 0 && cls != 2 && cls != 4 && cls != 5)
		return IW_ERR;
	if (code == 0) /* empty message: nothing may follow */
		return (b0 & 0x0f) == 0 && iw_cur_left(&c) == 0 && ((b0 >> 4) & 3) != 1 ? IW_OK : IW_ERR;
	if (cls == 0 && code > 7)
		return IW_ERR;
	if (!iw_cur_skip(&c, b0 & 0x0f))
		return IW_ERR;
	while (iw_cur_left(&c)) {
		uint8_t ob = iw_cur_u8(&c);
		if (ob == 0xff)
			return iw_cur_left(&c) ? IW_OK : IW_ERR;
		unsigned olen = ob & 0x0f;
		if (!ext_nibble(&c, ob >> 4))
			return IW_ERR;
		if (olen == 13)
			olen = 13u + iw_cur_u8(&c);
		else if (olen == 14)
			olen = 269u + iw_cur_be16(&c);
		else if (olen == 15)
			return IW_ERR;
		if (c.err || !iw_cur_skip(&c, olen))
			return IW_ERR;
	}
	return IW_OK;
}

/* ---- names ---- */

static const char *const msg_types[4] = {"CON", "NON", "ACK", "RST"};
enum { T_CON, T_NON, T_ACK, T_RST };

static const char *const methods[8] = {NULL, "GET", "POST", "PUT", "DELETE", "FETCH", "PATCH", "iPATCH"};

#define CODE(c, d) ((c) << 5 | (d))

static const char *status_name(uint8_t code)
{
	switch (code) {
	case CODE(2, 1):
		return "Created";
	case CODE(2, 2):
		return "Deleted";
	case CODE(2, 3):
		return "Valid";
	case CODE(2, 4):
		return "Changed";
	case CODE(2, 5):
		return "Content";
	case CODE(2, 31):
		return "Continue";
	case CODE(4, 0):
		return "Bad Request";
	case CODE(4, 1):
		return "Unauthorized";
	case CODE(4, 2):
		return "Bad Option";
	case CODE(4, 3):
		return "Forbidden";
	case CODE(4, 4):
		return "Not Found";
	case CODE(4, 5):
		return "Method Not Allowed";
	case CODE(4, 6):
		return "Not Acceptable";
	case CODE(4, 8):
		return "Request Entity Incomplete";
	case CODE(4, 9):
		return "Conflict";
	case CODE(4, 12):
		return "Precondition Failed";
	case CODE(4, 13):
		return "Request Entity Too Large";
	case CODE(4, 15):
		return "Unsupported Content-Format";
	case CODE(4, 22):
		return "Unprocessable Entity";
	case CODE(4, 29):
		return "Too Many Requests";
	case CODE(5, 0):
		return "Internal Server Error";
	case CODE(5, 1):
		return "Not Implemented";
	case CODE(5, 2):
		return "Bad Gateway";
	case CODE(5, 3):
		return "Service Unavailable";
	case CODE(5, 4):
		return "Gateway Timeout";
	case CODE(5, 5):
		return "Proxying Not Supported";
	}
	return NULL;
}

enum {
	O_IF_MATCH = 1,
	O_URI_HOST = 3,
	O_ETAG = 4,
	O_IF_NONE_MATCH = 5,
	O_OBSERVE = 6,
	O_URI_PORT = 7,
	O_LOCATION_PATH = 8,
	O_OSCORE = 9,
	O_URI_PATH = 11,
	O_CONTENT_FORMAT = 12,
	O_MAX_AGE = 14,
	O_URI_QUERY = 15,
	O_HOP_LIMIT = 16,
	O_ACCEPT = 17,
	O_Q_BLOCK1 = 19,
	O_LOCATION_QUERY = 20,
	O_BLOCK2 = 23,
	O_BLOCK1 = 27,
	O_SIZE2 = 28,
	O_Q_BLOCK2 = 31,
	O_PROXY_URI = 35,
	O_PROXY_SCHEME = 39,
	O_SIZE1 = 60,
	O_ECHO = 252,
	O_NO_RESPONSE = 258,
	O_REQUEST_TAG = 292,
};

/* The registered name and value format of an option number (RFC 7252 §5.10 and the
 * IANA CoAP Option Numbers registry); NULL for an unknown one. */
static const char *opt_name(uint32_t n, enum iw_coap_fmt *fmt)
{
	*fmt = IW_COAP_OPAQUE;
	switch (n) {
	case O_IF_MATCH:
		return "If-Match";
	case O_URI_HOST:
		*fmt = IW_COAP_STRING;
		return "Uri-Host";
	case O_ETAG:
		return "ETag";
	case O_IF_NONE_MATCH:
		*fmt = IW_COAP_EMPTY;
		return "If-None-Match";
	case O_OBSERVE:
		*fmt = IW_COAP_UINT;
		return "Observe";
	case O_URI_PORT:
		*fmt = IW_COAP_UINT;
		return "Uri-Port";
	case O_LOCATION_PATH:
		*fmt = IW_COAP_STRING;
		return "Location-Path";
	case O_OSCORE:
		return "OSCORE";
	case O_URI_PATH:
		*fmt = IW_COAP_STRING;
		return "Uri-Path";
	case O_CONTENT_FORMAT:
		*fmt = IW_COAP_UINT;
		return "Content-Format";
	case O_MAX_AGE:
		*fmt = IW_COAP_UINT;
		return "Max-Age";
	case O_URI_QUERY:
		*fmt = IW_COAP_STRING;
		return "Uri-Query";
	case O_HOP_LIMIT:
		*fmt = IW_COAP_UINT;
		return "Hop-Limit";
	case O_ACCEPT:
		*fmt = IW_COAP_UINT;
		return "Accept";
	case O_Q_BLOCK1:
		*fmt = IW_COAP_UINT;
		return "Q-Block1";
	case O_LOCATION_QUERY:
		*fmt = IW_COAP_STRING;
		return "Location-Query";
	case O_BLOCK2:
		*fmt = IW_COAP_UINT;
		return "Block2";
	case O_BLOCK1:
		*fmt = IW_COAP_UINT;
		return "Block1";
	case O_SIZE2:
		*fmt = IW_COAP_UINT;
		return "Size2";
	case O_Q_BLOCK2:
		*fmt = IW_COAP_UINT;
		return "Q-Block2";
	case O_PROXY_URI:
		*fmt = IW_COAP_STRING;
		return "Proxy-Uri";
	case O_PROXY_SCHEME:
		*fmt = IW_COAP_STRING;
		return "Proxy-Scheme";
	case O_SIZE1:
		*fmt = IW_COAP_UINT;
		return "Size1";
	case O_ECHO:
		return "Echo";
	case O_NO_RESPONSE:
		*fmt = IW_COAP_UINT;
		return "No-Response";
	case O_REQUEST_TAG:
		return "Request-Tag";
	}
	return NULL;
}

/* IANA CoAP Content-Formats registry, the entries an IoT network shows. */
static const char *content_format_name(uint32_t cf)
{
	switch (cf) {
	case 0:
		return "text/plain";
	case 16:
		return "application/cose; cose-type=\"cose-encrypt0\"";
	case 40:
		return "application/link-format";
	case 41:
		return "application/xml";
	case 42:
		return "application/octet-stream";
	case 47:
		return "application/exi";
	case 50:
		return "application/json";
	case 51:
		return "application/json-patch+json";
	case 52:
		return "application/merge-patch+json";
	case 60:
		return "application/cbor";
	case 61:
		return "application/cwt";
	case 62:
		return "application/multipart-core";
	case 63:
		return "application/cbor-seq";
	case 110:
		return "application/senml+json";
	case 111:
		return "application/sensml+json";
	case 112:
		return "application/senml+cbor";
	case 113:
		return "application/sensml+cbor";
	case 1541:
		return "application/vnd.oma.lwm2m+tlv (draft)";
	case 1542:
		return "application/vnd.oma.lwm2m+json (draft)";
	case 11542:
		return "application/vnd.oma.lwm2m+tlv";
	case 11543:
		return "application/vnd.oma.lwm2m+json";
	case 11544:
		return "application/vnd.oma.lwm2m+cbor";
	}
	return NULL;
}

/* OMA LwM2M registry: the core objects. */
static const char *lwm2m_object_name(int32_t o)
{
	static const char *const names[] = {
	    "Security",
	    "Server",
	    "Access Control",
	    "Device",
	    "Connectivity Monitoring",
	    "Firmware Update",
	    "Location",
	    "Connectivity Statistics",
	    "Lock and Wipe",
	    "Software Management",
	    "Cellular Connectivity",
	    "APN Connection Profile",
	    "WLAN Connectivity",
	    "Bearer Selection",
	    "DevCapMgmt",
	    "",
	    "",
	    "",
	    "",
	    "LwM2M APPDATA",
	    "Event Log",
	    "LwM2M OSCORE",
	};
	if (o >= 0 && (size_t)o < sizeof(names) / sizeof(names[0]) && names[o][0] != '\0')
		return names[o];
	if (o == 3303)
		return "Temperature";
	if (o == 3308)
		return "Set Point";
	return NULL;
}

static const char *lwm2m_resource_name(int32_t o, int32_t r)
{
	static const char *const device[] = {
	    "Manufacturer",
	    "Model Number",
	    "Serial Number",
	    "Firmware Version",
	    "Reboot",
	    "Factory Reset",
	    "Available Power Sources",
	    "Power Source Voltage",
	    "Power Source Current",
	    "Battery Level",
	    "Memory Free",
	    "Error Code",
	    "Reset Error Code",
	    "Current Time",
	    "UTC Offset",
	    "Timezone",
	    "Supported Binding and Modes",
	    "Device Type",
	    "Hardware Version",
	    "Software Version",
	    "Battery Status",
	    "Memory Total",
	    "ExtDevInfo",
	};
	static const char *const firmware[] = {
	    "Package",
	    "Package URI",
	    "Update",
	    "State",
	    "",
	    "Update Result",
	    "PkgName",
	    "PkgVersion",
	    "Firmware Update Protocol Support",
	    "Firmware Update Delivery Method",
	};
	static const char *const server[] = {
	    "Short Server ID",        "Lifetime", "Default Minimum Period",
	    "Default Maximum Period", "Disable",  "Disable Timeout",
	    "Notification Storing",   "Binding",  "Registration Update Trigger",
	};
	static const char *const security[] = {
	    "LwM2M Server URI",
	    "Bootstrap-Server",
	    "Security Mode",
	    "Public Key or Identity",
	    "Server Public Key",
	    "Secret Key",
	    "SMS Security Mode",
	    "SMS Binding Key Parameters",
	    "SMS Binding Secret Key(s)",
	    "LwM2M Server SMS Number",
	    "Short Server ID",
	    "Client Hold Off Time",
	};
	const char *const *t = NULL;
	size_t n = 0;
	switch (o) {
	case 0:
		t = security, n = sizeof(security) / sizeof(security[0]);
		break;
	case 1:
		t = server, n = sizeof(server) / sizeof(server[0]);
		break;
	case 3:
		t = device, n = sizeof(device) / sizeof(device[0]);
		break;
	case 5:
		t = firmware, n = sizeof(firmware) / sizeof(firmware[0]);
		break;
	}
	if (t == NULL || r < 0 || (size_t)r >= n || t[r][0] == '\0')
		return NULL;
	return t[r];
}

/* ---- per-flow state ---- */

struct req {
	uint64_t ts_us;
	uint64_t seq; /* age: the smallest is evicted first */
	char *uri;    /* uri_cap bytes, kept by the slot across requests; NULL: none yet */
	uint8_t token[8];
	uint16_t mid;
	uint16_t notif_mid; /* last notification's message id (a RST to it cancels) */
	uint8_t tkl, code;
	uint8_t uri_len, uri_cap; /* <= REQ_URI */
	uint8_t used : 1, dir : 1;
	uint8_t observing : 1; /* a GET with Observe 0 */
	uint8_t acked : 1;     /* an empty ACK came: the response will be separate */
	uint8_t has_notif : 1;
};

struct xfer {
	uint64_t seq;
	uint64_t total;
	uint32_t next, blocks, size;
	uint8_t used, which; /* 1: Block1, 2: Block2 */
	uint16_t uri_len;
	char uri[REQ_URI];
};

struct coap_state {
	uint64_t seq;
	struct req *reqs;   /* n_reqs slots: none until the first request, then inl, then the heap */
	struct xfer *xfers; /* n_xfers slots, NULL until the first block */
	uint32_t max_items, payload_preview;
	uint8_t n_reqs, n_xfers;
	/* the first REQS_INIT request slots, on the lines after the header's: a flow's
	 * request is matched without another allocation's cache miss */
	struct req inl[REQS_INIT];
};

static void *coap_state_new(const struct iw_parser_cfg *cfg)
{
	struct coap_state *s = iw_calloc(1, sizeof(*s));
	s->max_items = cfg->max_items;
	s->payload_preview = cfg->payload_preview;
	return s;
}

static void coap_state_free(void *st)
{
	struct coap_state *s = st;
	for (unsigned i = 0; i < s->n_reqs; i++)
		free(s->reqs[i].uri);
	if (s->reqs != s->inl)
		free(s->reqs);
	free(s->xfers);
	free(s);
}

/* Grows a table of n slots of size sz to twice as many (init when empty), at most max;
 * the new slots are zeroed. A table with inl starts there (init zeroed slots) and moves
 * to the heap when it grows beyond. Returns the old count (the first new slot), or n
 * when full. */
static unsigned table_grow(void **t, uint8_t *n, size_t sz, unsigned init, unsigned max, void *inl)
{
	unsigned old = *n;
	if (old >= max)
		return old;
	unsigned cap = old ? old * 2 : init;
	if (cap > max)
		cap = max;
	if (!old && inl) {
		*t = inl;
		*n = (uint8_t)cap;
		return 0;
	}
	void *nt;
	if (inl && *t == inl) {
		nt = iw_malloc(cap * sz);
		memcpy(nt, inl, old * sz);
	} else {
		nt = iw_realloc(*t, cap * sz);
	}
	memset((char *)nt + old * sz, 0, (cap - old) * sz);
	*t = nt;
	*n = (uint8_t)cap;
	return old;
}

/* ---- decoding one message ---- */

/* Per-message scratch: the strings an event points to while it is emitted. */
struct scratch {
	char uri[URI_MAX];
	char loc[LOC_MAX];
	char preview[PREVIEW_MAX];
};

/* Bounded string builder over a scratch buffer. */
struct sbuf {
	char *b;
	size_t len, cap;
	bool trunc;
};

static void sb_putc(struct sbuf *s, char ch)
{
	if (s->len < s->cap)
		s->b[s->len++] = ch;
	else
		s->trunc = true;
}

/* Appends an option value, percent-encoding what would change the uri's structure. */
static void sb_seg(struct sbuf *s, const uint8_t *v, uint32_t n, bool query)
{
	static const char hex[] = "0123456789ABCDEF";
	struct iw_cur c = iw_cur_make(v, n);
	while (iw_cur_left(&c) && !s->trunc) {
		uint8_t ch = iw_cur_u8(&c);
		bool enc = ch <= 0x20 || ch >= 0x7f || ch == '%' || ch == '?' || ch == '#' ||
		           (!query && ch == '/') || (query && ch == '&');
		if (!enc) {
			sb_putc(s, (char)ch);
			continue;
		}
		if (s->cap - s->len < 3) {
			s->trunc = true;
			break;
		}
		sb_putc(s, '%');
		sb_putc(s, hex[ch >> 4]);
		sb_putc(s, hex[ch & 15]);
	}
}

struct span {
	const uint8_t *p;
	uint32_t n;
};

/* What the option walk collects beyond the event's own fields. */
struct walk {
	struct span segs[MAX_SEGS];
	unsigned n_segs, n_segs_all;
	struct span queries[MAX_QUERIES];
	unsigned n_queries;
	bool has_observe;
};

static uint32_t uint_of(const uint8_t *v, uint32_t n)
{
	struct iw_cur c = iw_cur_make(v, n);
	uint32_t x = 0;
	while (iw_cur_left(&c))
		x = x << 8 | iw_cur_u8(&c);
	return x;
}

static void block_of(struct iw_coap_block *b, uint32_t v)
{
	b->present = true;
	b->num = v >> 4;
	b->more = (v >> 3) & 1;
	b->szx = (uint8_t)(v & 7);
	b->size = b->szx == 7 ? 0 : 16u << b->szx;
}

static bool span_is(const struct span *s, const char *lit)
{
	size_t n = strlen(lit);
	return s->n == n && memcmp(s->p, lit, n) == 0;
}

/* A decimal path segment 0..65535, or -1. */
static int32_t seg_num(const struct span *s)
{
	if (s->n == 0 || s->n > 5)
		return -1;
	struct iw_cur c = iw_cur_make(s->p, s->n);
	int32_t v = 0;
	while (iw_cur_left(&c)) {
		uint8_t d = iw_cur_u8(&c);
		if (d < '0' || d > '9')
			return -1;
		v = v * 10 + (d - '0');
	}
	return v <= 65535 ? v : -1;
}

/* Uri-Query "key=value": the value when the key matches. */
static bool query_val(const struct span *q, const char *key, const char **v, uint16_t *n)
{
	size_t k = strlen(key);
	struct iw_cur c = iw_cur_make(q->p, q->n);
	const uint8_t *name;
	if (q->n <= k || !iw_cur_bytes(&c, k, &name) || memcmp(name, key, k) != 0 || iw_cur_u8(&c) != '=')
		return false;
	*v = (const char *)c.p;
	*n = (uint16_t)(q->n - k - 1 > 0xffff ? 0xffff : q->n - k - 1);
	return true;
}

/* The LwM2M registration interface (/rd) and the meaning of numeric paths. */
static void lwm2m_meaning(struct iw_parse_ctx *ctx, struct iw_ev_coap *e, const struct walk *w)
{
	if (e->method == NULL || w->n_segs_all == 0)
		return;
	uint8_t m = e->code;
	if (span_is(&w->segs[0], "rd")) {
		struct iw_coap_reg *r = &e->reg;
		if (m == 2 && w->n_segs_all == 1)
			r->action = "register";
		else if (m == 2 && w->n_segs_all == 2)
			r->action = "update";
		else if (m == 4 && w->n_segs_all == 2)
			r->action = "deregister";
		else
			return;
		if (w->n_segs_all == 2) {
			r->id = (const char *)w->segs[1].p;
			r->id_len = (uint16_t)(w->segs[1].n > 0xffff ? 0xffff : w->segs[1].n);
		}
		for (unsigned i = 0; i < w->n_queries; i++) {
			const struct span *q = &w->queries[i];
			if (query_val(q, "ep", &r->ep, &r->ep_len))
				continue;
			if (query_val(q, "lt", &r->lifetime, &r->lifetime_len))
				continue;
			if (query_val(q, "b", &r->binding, &r->binding_len))
				continue;
			if (query_val(q, "lwm2m", &r->version, &r->version_len))
				continue;
			if (span_is(q, "Q"))
				r->queue = "Q";
		}
		if (r->ep != NULL && r->ep_len > 0)
			ctx->identity(ctx, IW_ID_ENDPOINT, r->ep, r->ep_len);
		return;
	}
	int32_t o = seg_num(&w->segs[0]);
	if (o < 0 || w->n_segs_all > 4)
		return;
	int32_t in = w->n_segs_all > 1 ? seg_num(&w->segs[1]) : -1;
	int32_t rs = w->n_segs_all > 2 ? seg_num(&w->segs[2]) : -1;
	if ((w->n_segs_all > 1 && in < 0) || (w->n_segs_all > 2 && rs < 0))
		return;
	struct iw_coap_lwm2m *l = &e->lwm2m;
	l->present = true;
	l->object = o;
	l->instance = in;
	l->resource = rs;
	l->object_name = lwm2m_object_name(o);
	l->resource_name = rs >= 0 ? lwm2m_resource_name(o, rs) : NULL;
	switch (m) {
	case 1:
		l->operation = "read";
		if (w->has_observe && e->observe == 0)
			l->operation = "observe";
		else if (w->has_observe && e->observe == 1)
			l->operation = "cancel_observe";
		if (e->accept == 40)
			l->operation = "discover";
		break;
	case 2:
		l->operation = rs >= 0 ? "execute" : in >= 0 ? "write" : "create";
		break;
	case 3:
		l->operation = "write";
		break;
	case 4:
		l->operation = "delete";
		break;
	case 5:
		l->operation = "read";
		break;
	case 6:
	case 7:
		l->operation = "write";
		break;
	}
	l->firmware_update = o == 5 && (m == 2 || m == 3 || m >= 6);
}

/* ---- matching ---- */

static bool same_token(const struct req *r, const struct iw_ev_coap *e)
{
	return r->tkl == e->token_len && (e->token_len == 0 || memcmp(r->token, e->token, e->token_len) == 0);
}

static struct req *req_find_token(struct coap_state *s, int dir, const struct iw_ev_coap *e)
{
	for (unsigned i = 0; i < s->n_reqs; i++) {
		struct req *r = &s->reqs[i];
		if (r->used && r->dir != dir && same_token(r, e))
			return r;
	}
	return NULL;
}

static struct req *req_find_mid(struct coap_state *s, int dir, uint16_t mid)
{
	for (unsigned i = 0; i < s->n_reqs; i++) {
		struct req *r = &s->reqs[i];
		if (r->used && r->dir != dir && r->mid == mid)
			return r;
	}
	return NULL;
}

static struct req *req_find_notif(struct coap_state *s, int dir, uint16_t mid)
{
	for (unsigned i = 0; i < s->n_reqs; i++) {
		struct req *r = &s->reqs[i];
		/* the notification went the other way than this message: same dir as the request */
		if (r->used && r->observing && r->has_notif && r->dir == dir && r->notif_mid == mid)
			return r;
	}
	return NULL;
}

/* A slot for a new request: the same token from the same side replaces its entry, else the
 * first free slot, else a new one while the table may grow, else the oldest is evicted. */
static struct req *req_slot(struct coap_state *s, int dir, const struct iw_ev_coap *e)
{
	struct req *old = NULL, *fr = NULL;
	for (unsigned i = 0; i < s->n_reqs; i++) {
		struct req *r = &s->reqs[i];
		if (!r->used) {
			if (fr == NULL)
				fr = r;
			continue;
		}
		if (r->dir == dir && same_token(r, e))
			return r;
		if (old == NULL || r->seq < old->seq)
			old = r;
	}
	if (fr != NULL)
		return fr;
	unsigned i = table_grow((void **)&s->reqs, &s->n_reqs, sizeof(*s->reqs), REQS_INIT, MAX_REQS, s->inl);
	return i < s->n_reqs ? &s->reqs[i] : old;
}

/* Keeps a copy of the request's uri (at most REQ_URI bytes) in the slot's buffer. */
static void req_set_uri(struct req *r, const char *uri, uint16_t n)
{
	if (n > REQ_URI)
		n = REQ_URI;
	if (n > r->uri_cap) {
		unsigned cap = (n + 15u) & ~15u; /* fewer reallocations as uris vary */
		if (cap > REQ_URI)
			cap = REQ_URI;
		char *b = iw_realloc(r->uri, cap);
		r->uri = b;
		r->uri_cap = (uint8_t)cap;
	}
	if (n)
		memcpy(r->uri, uri, n);
	r->uri_len = (uint8_t)n;
}

static void matched(struct iw_ev_coap *e, const struct req *r, uint64_t now)
{
	e->matched = true;
	e->req_method = methods[r->code & 7];
	e->req_uri = r->uri;
	e->req_uri_len = r->uri_len;
	e->rtt_us = now >= r->ts_us ? now - r->ts_us : 0;
}

/* ---- block-wise ---- */

static struct xfer *xfer_find(struct coap_state *s, unsigned which, const char *uri, uint16_t n)
{
	for (unsigned i = 0; i < s->n_xfers; i++) {
		struct xfer *x = &s->xfers[i];
		if (x->used && x->which == which && x->uri_len == n && memcmp(x->uri, uri, n) == 0)
			return x;
	}
	return NULL;
}

/* One data-carrying block; returns the transfer when this block completes it. */
static struct xfer *xfer_block(struct coap_state *s, unsigned which, const char *uri, uint16_t n,
                               const struct iw_coap_block *b, uint32_t payload)
{
	if (n > REQ_URI)
		n = REQ_URI;
	struct xfer *x = xfer_find(s, which, uri, n);
	if (b->num == 0) {
		if (x == NULL) {
			struct xfer *old = NULL;
			for (unsigned i = 0; i < s->n_xfers && x == NULL; i++) {
				if (!s->xfers[i].used)
					x = &s->xfers[i];
				else if (old == NULL || s->xfers[i].seq < old->seq)
					old = &s->xfers[i];
			}
			if (x == NULL) {
				unsigned i = table_grow((void **)&s->xfers, &s->n_xfers, sizeof(*s->xfers),
				                        XFERS_INIT, MAX_XFERS, NULL);
				x = i < s->n_xfers ? &s->xfers[i] : old;
			}
		}
		x->used = 1;
		x->which = (uint8_t)which;
		x->uri_len = n;
		memcpy(x->uri, uri, n);
		x->next = 0;
		x->blocks = 0;
		x->total = 0;
		x->size = b->size;
	}
	if (x == NULL || b->num != x->next)
		return NULL; /* a retransmission, or a transfer we did not see start */
	x->seq = ++s->seq;
	x->next++;
	x->blocks++;
	x->total += payload;
	if (b->more)
		return NULL;
	x->used = 0;
	return x->blocks >= 2 ? x : NULL; /* one block alone is no transfer */
}

/* ---- the parser ---- */

static void emit(struct iw_parse_ctx *ctx, struct iw_event *ev)
{
	ctx->emit(ctx, ev);
}

/* Decodes one datagram into ev; returns NULL when well formed, else the anomaly reason.
 * *show says whether tshark would show the message (a code byte was read). */
static const char *decode(const struct coap_state *s, struct scratch *sc, struct iw_cur *c,
                          struct iw_ev_coap *e, struct walk *w, bool *show)
{
	uint8_t b0 = iw_cur_u8(c);
	e->code = iw_cur_u8(c);
	if (c->err)
		return "coap.truncated_header";
	*show = true; /* tshark shows a message once it has its code */
	e->msg_type = msg_types[(b0 >> 4) & 3];
	e->message_id = iw_cur_be16(c);
	if (c->err)
		return "coap.truncated_header";
	if ((b0 >> 6) != 1)
		return "coap.version";
	e->token_len = b0 & 0x0f;
	if (e->token_len > 8) {
		e->token_len = 0;
		return "coap.token_length";
	}
	if (!iw_cur_bytes(c, e->token_len, &e->token)) {
		e->token_len = 0;
		return "coap.truncated_token";
	}

	uint32_t limit = s->max_items < IW_COAP_MAX_OPTS ? s->max_items : IW_COAP_MAX_OPTS;
	struct sbuf uri = {sc->uri, 0, URI_MAX, false};
	struct sbuf loc = {sc->loc, 0, LOC_MAX, false};
	bool any_loc = false, first_q = true, first_lq = true;
	uint32_t num = 0;
	while (iw_cur_left(c)) {
		uint8_t ob = iw_cur_u8(c);
		if (ob == 0xff) {
			if (iw_cur_left(c) == 0)
				return "coap.payload_marker";
			e->has_payload = true;
			e->payload_length = (uint32_t)iw_cur_left(c);
			break;
		}
		uint32_t delta = ob >> 4, len = ob & 0x0f;
		if (delta == 15 || len == 15)
			return "coap.option_nibble";
		if (delta == 13)
			delta = 13u + iw_cur_u8(c);
		else if (delta == 14)
			delta = 269u + iw_cur_be16(c);
		if (len == 13)
			len = 13u + iw_cur_u8(c);
		else if (len == 14)
			len = 269u + iw_cur_be16(c);
		const uint8_t *v;
		if (c->err || !iw_cur_bytes(c, len, &v))
			return "coap.truncated_option";
		num += delta;

		enum iw_coap_fmt fmt;
		const char *name = opt_name(num, &fmt);
		uint32_t uv = 0;
		if (fmt == IW_COAP_UINT) {
			if (len <= 4)
				uv = uint_of(v, len);
			else
				fmt = IW_COAP_OPAQUE;
		}
		if (e->n_opts < limit) {
			struct iw_coap_opt *o = &e->opts[e->n_opts++];
			o->number = num;
			o->name = name;
			o->fmt = fmt;
			o->uint_value = uv;
			o->value = v;
			o->len = len;
		} else if (e->opts_dropped < 0xffff) {
			e->opts_dropped++;
		}

		switch (num) {
		case O_URI_HOST:
			e->uri_host = (const char *)v;
			e->uri_host_len = (uint16_t)(len > 0xffff ? 0xffff : len);
			break;
		case O_URI_PORT:
			if (fmt == IW_COAP_UINT)
				e->uri_port = (int32_t)uv;
			break;
		case O_URI_PATH:
			sb_putc(&uri, '/');
			sb_seg(&uri, v, len, false);
			if (w->n_segs < MAX_SEGS)
				w->segs[w->n_segs++] = (struct span){v, len};
			w->n_segs_all++;
			break;
		case O_URI_QUERY:
			if (first_q && uri.len == 0)
				sb_putc(&uri, '/');
			sb_putc(&uri, first_q ? '?' : '&');
			first_q = false;
			sb_seg(&uri, v, len, true);
			if (w->n_queries < MAX_QUERIES)
				w->queries[w->n_queries++] = (struct span){v, len};
			break;
		case O_LOCATION_PATH:
			any_loc = true;
			sb_putc(&loc, '/');
			sb_seg(&loc, v, len, false);
			break;
		case O_LOCATION_QUERY:
			any_loc = true;
			sb_putc(&loc, first_lq ? '?' : '&');
			first_lq = false;
			sb_seg(&loc, v, len, true);
			break;
		case O_CONTENT_FORMAT:
			if (fmt == IW_COAP_UINT) {
				e->content_format = (int32_t)uv;
				e->content_format_name = content_format_name(uv);
			}
			break;
		case O_ACCEPT:
			if (fmt == IW_COAP_UINT)
				e->accept = (int32_t)uv;
			break;
		case O_OBSERVE:
			if (fmt == IW_COAP_UINT) {
				e->has_observe = true;
				e->observe = uv;
				w->has_observe = true;
			}
			break;
		case O_BLOCK1:
			if (fmt == IW_COAP_UINT)
				block_of(&e->block1, uv);
			break;
		case O_BLOCK2:
			if (fmt == IW_COAP_UINT)
				block_of(&e->block2, uv);
			break;
		}
	}
	if (e->code >= 1 && e->code <= 31) {
		if (uri.len == 0)
			sb_putc(&uri, '/');
		e->uri = sc->uri;
		e->uri_len = (uint16_t)uri.len;
		e->uri_truncated = uri.trunc;
	}
	if (any_loc) {
		e->location = sc->loc;
		e->location_len = (uint16_t)loc.len;
	}
	if (e->has_payload && s->payload_preview) {
		uint32_t n = e->payload_length;
		if (n > s->payload_preview)
			n = s->payload_preview;
		if (n > PREVIEW_MAX)
			n = PREVIEW_MAX;
		struct iw_cur pc = *c;
		for (uint32_t i = 0; i < n; i++) {
			uint8_t ch = iw_cur_u8(&pc);
			sc->preview[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '.';
		}
		e->preview = sc->preview;
		e->preview_len = n;
	}
	return NULL;
}

/* A block-wise transfer that a message completed. */
struct done {
	const struct xfer *x;
	const char *direction; /* "upload" (Block1), "download" (Block2) */
};

/* The request/response bookkeeping of one well-formed message. */
static void track(struct coap_state *s, struct iw_parse_ctx *ctx, int dir, struct iw_ev_coap *e,
                  struct done *bt)
{
	unsigned cls = e->code >> 5;
	bool is_ack = e->msg_type == msg_types[T_ACK];
	if (e->code == 0) {
		if (e->msg_type == msg_types[T_RST]) {
			struct req *r = req_find_notif(s, dir, e->message_id);
			if (r != NULL) {
				matched(e, r, ctx->ts_us);
				e->observe_action = "cancel";
				r->used = 0;
				return;
			}
			r = req_find_mid(s, dir, e->message_id);
			if (r != NULL) {
				matched(e, r, ctx->ts_us);
				r->used = 0;
			}
		} else if (is_ack) {
			struct req *r = req_find_mid(s, dir, e->message_id);
			if (r != NULL && !r->acked) {
				matched(e, r, ctx->ts_us);
				r->acked = 1;
			} else if ((r = req_find_notif(s, dir, e->message_id)) != NULL) {
				matched(e, r, ctx->ts_us);
			}
		}
		return;
	}
	if (cls == 0) {
		struct req *r = req_slot(s, dir, e);
		r->used = 1;
		r->dir = (uint8_t)dir & 1;
		r->tkl = e->token_len;
		if (e->token_len)
			memcpy(r->token, e->token, e->token_len);
		r->mid = e->message_id;
		r->code = e->code;
		r->ts_us = ctx->ts_us;
		r->seq = ++s->seq;
		r->acked = 0;
		r->has_notif = 0;
		r->observing = e->code == 1 && e->has_observe && e->observe == 0;
		req_set_uri(r, e->uri, e->uri_len);
		if (e->has_observe && e->code == 1)
			e->observe_action = e->observe == 0   ? "register"
			                    : e->observe == 1 ? "deregister"
			                                      : NULL;
		if (e->has_observe && e->code == 1 && e->observe == 1) {
			/* a deregistration ends the observation it names (same token) */
			for (unsigned i = 0; i < s->n_reqs; i++) {
				struct req *o = &s->reqs[i];
				if (o != r && o->used && o->observing && o->dir == r->dir &&
				    o->tkl == r->tkl && memcmp(o->token, r->token, r->tkl) == 0)
					o->used = 0;
			}
		}
		if (e->block1.present && e->has_payload) {
			bt->x = xfer_block(s, 1, e->uri, e->uri_len, &e->block1, e->payload_length);
			bt->direction = "upload";
		}
		return;
	}
	/* a response */
	struct req *r = NULL;
	if (is_ack) {
		r = req_find_mid(s, dir, e->message_id);
		if (r != NULL && (r->tkl != e->token_len || memcmp(r->token, e->token, r->tkl) != 0))
			r = NULL;
	}
	if (r == NULL)
		r = req_find_token(s, dir, e);
	if (r == NULL) {
		/* RFC 7641 §3.2: a 2.xx with Observe is a notification, registration seen or not
		 * (a capture that starts after it) */
		if (e->has_observe && cls == 2)
			e->observe_action = "notification";
		return;
	}
	matched(e, r, ctx->ts_us);
	e->separate = r->acked && !is_ack;
	if (r->observing && e->has_observe) {
		e->observe_action = "notification";
		r->has_notif = 1;
		r->notif_mid = e->message_id;
		r->acked = 0;
	} else {
		r->used = 0; /* answered; an observation stays until cancelled */
	}
	if (e->block2.present && e->has_payload) {
		bt->x = xfer_block(s, 2, r->uri, r->uri_len, &e->block2, e->payload_length);
		bt->direction = "download";
	}
}

/* Zeroes the common part and the coap member but for the option array: n_opts says how
 * much of it is valid, and clearing its 24 entries (and the union's larger members) per
 * message cost more than decoding most messages. */
static void ev_init(struct iw_event *ev)
{
	struct iw_ev_coap *e = &ev->u.coap;
	memset(ev, 0, (size_t)((char *)e->opts - (char *)ev));
	memset(&e->n_opts, 0, sizeof(*e) - (size_t)((char *)&e->n_opts - (char *)e));
	ev->kind = IW_EV_COAP;
	e->uri_port = -1;
	e->content_format = -1;
	e->accept = -1;
	e->lwm2m.object = e->lwm2m.instance = e->lwm2m.resource = -1;
}

/* One datagram. Returns IW_OK, or IW_ERR for a malformed message (counted by the sensor
 * as a malformed datagram after the anomaly with its reason). The event of a malformed
 * message still goes out, with its reason in "malformed", when its code could be read. */
static int coap_parse(void *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len)
{
	struct coap_state *s = st;
	struct scratch sc; /* written before read: nothing to clear */
	struct iw_event ev;
	ev_init(&ev);
	struct iw_ev_coap *e = &ev.u.coap;
	struct walk w;
	w.n_segs = w.n_segs_all = w.n_queries = 0;
	w.has_observe = false;
	struct iw_cur c = iw_cur_make(data, len);
	bool show = false;
	const char *bad = decode(s, &sc, &c, e, &w, &show);
	unsigned cls = e->code >> 5;
	if (e->code == 0)
		e->type = e->msg_type == msg_types[T_RST] ? "reset" : "empty";
	else if (cls == 0)
		e->type = "request";
	else
		e->type = "response";
	if (cls == 0)
		e->method = methods[e->code & 7];
	else
		e->status = status_name(e->code);
	if (bad != NULL) {
		ctx->anomaly(ctx, bad);
		if (show) {
			e->malformed = bad + 5; /* without "coap." */
			if (e->msg_type == NULL)
				e->msg_type = msg_types[T_CON];
			if (cls == 0 && e->uri == NULL && e->code != 0) {
				sc.uri[0] = '/';
				e->uri = sc.uri;
				e->uri_len = 1;
			}
			emit(ctx, &ev);
		}
		return IW_ERR;
	}
	struct done done = {NULL, NULL};
	lwm2m_meaning(ctx, e, &w);
	track(s, ctx, dir, e, &done);
	emit(ctx, &ev);
	if (done.x != NULL) {
		/* rare: the second event is built only when a transfer completes */
		struct iw_event bt;
		ev_init(&bt);
		struct iw_ev_coap *b = &bt.u.coap;
		b->type = "block_transfer";
		b->msg_type = e->msg_type;
		b->code = e->code;
		b->method = e->method;
		b->status = e->status;
		b->message_id = e->message_id;
		b->token = e->token;
		b->token_len = e->token_len;
		b->bt_direction = done.direction;
		b->bt_blocks = done.x->blocks;
		b->bt_total = done.x->total;
		b->bt_block_size = done.x->size;
		b->uri = done.x->uri;
		b->uri_len = done.x->uri_len;
		emit(ctx, &bt);
	}
	return IW_OK;
}

/* The flow ended: outstanding state goes with it; nothing is reported for requests that
 * were never answered (the request events said everything known). */
static void coap_end(void *st, struct iw_parse_ctx *ctx)
{
	(void)st;
	(void)ctx;
}

const struct iw_parser iw_parser_coap = {
    .name = "coap",
    .ipproto = IPPROTO_UDP,
    .ports = {5683},
    .ndpi_name = "CoAP",
    .probe = coap_probe,
    .parse = coap_parse,
    .state_new = coap_state_new,
    .state_free = coap_state_free,
    .end = coap_end,
};
