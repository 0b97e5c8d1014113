/* rec_coap.c - the "coap" object of a coap event record (DESIGN §5, docs/coap.md).
 *
 * Formats by hand (codes "2.05", tokens and opaque values in hex): no snprintf per field. */
#include "json.h"
#include "record.h"

#define HEX_MAX 64 /* opaque option bytes shown; "value_length" tells the rest */

static const char hexd[] = "0123456789abcdef";

static void hex(struct iw_json *j, const char *key, const uint8_t *b, uint32_t n)
{
	char buf[2 * HEX_MAX];
	if (n > HEX_MAX)
		n = HEX_MAX;
	for (uint32_t i = 0; i < n; i++) {
		buf[2 * i] = hexd[b[i] >> 4];
		buf[2 * i + 1] = hexd[b[i] & 15];
	}
	iw_json_strn(j, key, buf, 2 * (size_t)n);
}

static void code(struct iw_json *j, const char *key, uint8_t c)
{
	unsigned d = c & 31;
	char s[4] = {(char)('0' + (c >> 5)), '.', (char)('0' + d / 10), (char)('0' + d % 10)};
	iw_json_strn(j, key, s, 4);
}

static void block(struct iw_json *j, const char *key, const struct iw_coap_block *b)
{
	if (!b->present)
		return;
	iw_json_obj_begin(j, key);
	iw_json_uint(j, "num", b->num);
	iw_json_bool(j, "more", b->more);
	iw_json_uint(j, "szx", b->szx);
	iw_json_uint(j, "size", b->size);
	iw_json_obj_end(j);
}

static void options(struct iw_json *j, const struct iw_ev_coap *c)
{
	if (c->n_opts == 0)
		return;
	iw_json_arr_begin(j, "options");
	for (unsigned i = 0; i < c->n_opts && i < IW_COAP_MAX_OPTS; i++) {
		const struct iw_coap_opt *o = &c->opts[i];
		iw_json_obj_begin(j, NULL);
		iw_json_uint(j, "number", o->number);
		if (o->name != NULL)
			iw_json_str(j, "name", o->name);
		else
			iw_json_bool(j, "critical", o->number & 1);
		switch (o->fmt) {
		case IW_COAP_EMPTY:
			break;
		case IW_COAP_UINT:
			iw_json_uint(j, "value", o->uint_value);
			break;
		case IW_COAP_STRING:
			iw_json_strn(j, "value", (const char *)o->value, o->len);
			break;
		case IW_COAP_OPAQUE:
			hex(j, "value", o->value, o->len);
			if (o->len > HEX_MAX)
				iw_json_uint(j, "value_length", o->len);
			break;
		}
		iw_json_obj_end(j);
	}
	iw_json_arr_end(j);
	if (c->opts_dropped)
		iw_json_uint(j, "options_dropped", c->opts_dropped);
}

static void lwm2m(struct iw_json *j, const struct iw_coap_lwm2m *l)
{
	if (!l->present)
		return;
	iw_json_obj_begin(j, "lwm2m");
	iw_json_int(j, "object", l->object);
	if (l->object_name != NULL)
		iw_json_str(j, "object_name", l->object_name);
	if (l->instance >= 0)
		iw_json_int(j, "instance", l->instance);
	if (l->resource >= 0)
		iw_json_int(j, "resource", l->resource);
	if (l->resource_name != NULL)
		iw_json_str(j, "resource_name", l->resource_name);
	if (l->operation != NULL)
		iw_json_str(j, "operation", l->operation);
	if (l->firmware_update)
		iw_json_bool(j, "firmware_update", true);
	iw_json_obj_end(j);
}

static void registration(struct iw_json *j, const struct iw_coap_reg *r)
{
	if (r->action == NULL)
		return;
	iw_json_obj_begin(j, "registration");
	iw_json_str(j, "action", r->action);
	if (r->ep != NULL)
		iw_json_strn(j, "endpoint", r->ep, r->ep_len);
	if (r->lifetime != NULL)
		iw_json_strn(j, "lifetime", r->lifetime, r->lifetime_len);
	if (r->binding != NULL)
		iw_json_strn(j, "binding", r->binding, r->binding_len);
	if (r->version != NULL)
		iw_json_strn(j, "lwm2m_version", r->version, r->version_len);
	if (r->queue != NULL)
		iw_json_bool(j, "queue_mode", true);
	if (r->id != NULL)
		iw_json_strn(j, "id", r->id, r->id_len);
	iw_json_obj_end(j);
}

void iw_rec_coap(struct iw_json *j, const struct iw_event *ev)
{
	const struct iw_ev_coap *c = &ev->u.coap;
	iw_json_str(j, "type", c->type);
	if (c->msg_type != NULL)
		iw_json_str(j, "msg_type", c->msg_type);
	code(j, "code", c->code);
	if (c->method != NULL)
		iw_json_str(j, "method", c->method);
	if (c->status != NULL)
		iw_json_str(j, "status", c->status);
	iw_json_uint(j, "message_id", c->message_id);
	if (c->token_len && c->token != NULL)
		hex(j, "token", c->token, c->token_len);
	if (c->malformed != NULL)
		iw_json_str(j, "malformed", c->malformed);
	if (c->uri != NULL) {
		iw_json_strn(j, "uri", c->uri, c->uri_len);
		if (c->uri_truncated)
			iw_json_bool(j, "uri_truncated", true);
	}
	if (c->bt_direction != NULL) { /* the summary of a block-wise transfer */
		iw_json_str(j, "direction", c->bt_direction);
		iw_json_uint(j, "blocks", c->bt_blocks);
		iw_json_uint(j, "block_size", c->bt_block_size);
		iw_json_uint(j, "total_size", c->bt_total);
		return;
	}
	if (c->uri_host != NULL)
		iw_json_strn(j, "uri_host", c->uri_host, c->uri_host_len);
	if (c->uri_port >= 0)
		iw_json_int(j, "uri_port", c->uri_port);
	if (c->location != NULL)
		iw_json_strn(j, "location", c->location, c->location_len);
	options(j, c);
	if (c->content_format >= 0) {
		iw_json_int(j, "content_format", c->content_format);
		if (c->content_format_name != NULL)
			iw_json_str(j, "content_format_name", c->content_format_name);
	}
	if (c->accept >= 0)
		iw_json_int(j, "accept", c->accept);
	iw_json_uint(j, "payload_length", c->payload_length);
	if (c->preview != NULL)
		iw_json_strn(j, "payload_preview", c->preview, c->preview_len);
	if (c->matched) {
		iw_json_obj_begin(j, "request");
		if (c->req_method != NULL)
			iw_json_str(j, "method", c->req_method);
		if (c->req_uri != NULL)
			iw_json_strn(j, "uri", c->req_uri, c->req_uri_len);
		iw_json_obj_end(j);
		iw_json_uint(j, "rtt_us", c->rtt_us);
		if (c->separate)
			iw_json_bool(j, "separate", true);
	}
	if (c->has_observe || c->observe_action != NULL) {
		iw_json_obj_begin(j, "observe");
		if (c->has_observe)
			iw_json_uint(j, "sequence", c->observe);
		if (c->observe_action != NULL)
			iw_json_str(j, "action", c->observe_action);
		if (c->req_uri != NULL && c->code >= 32)
			iw_json_strn(j, "uri", c->req_uri, c->req_uri_len);
		iw_json_obj_end(j);
	}
	block(j, "block1", &c->block1);
	block(j, "block2", &c->block2);
	lwm2m(j, &c->lwm2m);
	registration(j, &c->reg);
}
