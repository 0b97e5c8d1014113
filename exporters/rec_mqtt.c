/* rec_mqtt.c - the "mqtt" object of a mqtt event record (DESIGN §5; fields in docs/mqtt.md). */
#include "json.h"
#include "record.h"

static void str(struct iw_json *j, const char *key, struct iw_mqtt_str s)
{
	iw_json_strn(j, key, s.s ? s.s : "", s.n);
}

#define HAS(pr, bit) ((pr)->present & (1u << IW_MQTT_P_##bit))

/* The 5.0 property block as an object, one member per property present. */
static void props(struct iw_json *j, const char *key, const struct iw_mqtt_props *p)
{
	iw_json_obj_begin(j, key);
	if (HAS(p, PAYLOAD_FORMAT_INDICATOR))
		iw_json_uint(j, "payload_format_indicator", p->payload_format_indicator);
	if (HAS(p, MESSAGE_EXPIRY_INTERVAL))
		iw_json_uint(j, "message_expiry_interval", p->message_expiry_interval);
	if (HAS(p, CONTENT_TYPE))
		str(j, "content_type", p->content_type);
	if (HAS(p, RESPONSE_TOPIC))
		str(j, "response_topic", p->response_topic);
	if (HAS(p, CORRELATION_DATA))
		iw_json_uint(j, "correlation_data_length", p->correlation_data_len);
	if (HAS(p, SUBSCRIPTION_IDENTIFIER)) {
		iw_json_arr_begin(j, "subscription_identifier");
		for (unsigned i = 0; i < p->n_subids && i < IW_MQTT_MAX_SUBIDS; i++)
			iw_json_uint(j, NULL, p->subids[i]);
		iw_json_arr_end(j);
	}
	if (HAS(p, SESSION_EXPIRY_INTERVAL))
		iw_json_uint(j, "session_expiry_interval", p->session_expiry_interval);
	if (HAS(p, ASSIGNED_CLIENT_IDENTIFIER))
		str(j, "assigned_client_identifier", p->assigned_client_identifier);
	if (HAS(p, SERVER_KEEP_ALIVE))
		iw_json_uint(j, "server_keep_alive", p->server_keep_alive);
	if (HAS(p, AUTHENTICATION_METHOD))
		str(j, "authentication_method", p->authentication_method);
	if (HAS(p, AUTHENTICATION_DATA))
		iw_json_uint(j, "authentication_data_length", p->authentication_data_len);
	if (HAS(p, REQUEST_PROBLEM_INFORMATION))
		iw_json_uint(j, "request_problem_information", p->request_problem_information);
	if (HAS(p, WILL_DELAY_INTERVAL))
		iw_json_uint(j, "will_delay_interval", p->will_delay_interval);
	if (HAS(p, REQUEST_RESPONSE_INFORMATION))
		iw_json_uint(j, "request_response_information", p->request_response_information);
	if (HAS(p, RESPONSE_INFORMATION))
		str(j, "response_information", p->response_information);
	if (HAS(p, SERVER_REFERENCE))
		str(j, "server_reference", p->server_reference);
	if (HAS(p, REASON_STRING))
		str(j, "reason_string", p->reason_string);
	if (HAS(p, RECEIVE_MAXIMUM))
		iw_json_uint(j, "receive_maximum", p->receive_maximum);
	if (HAS(p, TOPIC_ALIAS_MAXIMUM))
		iw_json_uint(j, "topic_alias_maximum", p->topic_alias_maximum);
	if (HAS(p, TOPIC_ALIAS))
		iw_json_uint(j, "topic_alias", p->topic_alias);
	if (HAS(p, MAXIMUM_QOS))
		iw_json_uint(j, "maximum_qos", p->maximum_qos);
	if (HAS(p, RETAIN_AVAILABLE))
		iw_json_uint(j, "retain_available", p->retain_available);
	if (HAS(p, USER_PROPERTY)) {
		iw_json_arr_begin(j, "user_property");
		for (unsigned i = 0; i < p->n_user && i < IW_MQTT_MAX_USER_PROPS; i++) {
			iw_json_obj_begin(j, NULL);
			str(j, "name", p->user[i].name);
			str(j, "value", p->user[i].value);
			iw_json_obj_end(j);
		}
		iw_json_arr_end(j);
		if (p->user_truncated)
			iw_json_uint(j, "user_property_truncated", p->user_truncated);
	}
	if (HAS(p, MAXIMUM_PACKET_SIZE))
		iw_json_uint(j, "maximum_packet_size", p->maximum_packet_size);
	if (HAS(p, WILDCARD_SUBSCRIPTION_AVAILABLE))
		iw_json_uint(j, "wildcard_subscription_available", p->wildcard_subscription_available);
	if (HAS(p, SUBSCRIPTION_IDENTIFIER_AVAILABLE))
		iw_json_uint(j, "subscription_identifier_available", p->subscription_identifier_available);
	if (HAS(p, SHARED_SUBSCRIPTION_AVAILABLE))
		iw_json_uint(j, "shared_subscription_available", p->shared_subscription_available);
	iw_json_obj_end(j);
}

static void code(struct iw_json *j, const struct iw_ev_mqtt *m, const char *key)
{
	if (!m->has_code)
		return;
	iw_json_uint(j, key, m->code);
	if (m->reason)
		iw_json_str(j, "reason", m->reason);
}

static void connect(struct iw_json *j, const struct iw_ev_mqtt *m)
{
	if (m->protocol_name.s)
		str(j, "protocol_name", m->protocol_name);
	str(j, "client_id", m->client_id);
	if (m->has_username)
		str(j, "username", m->username);
	iw_json_bool(j, "password_present", m->password_present); /* the password itself, never */
	iw_json_bool(j, m->protocol_version == 5 ? "clean_start" : "clean_session", m->clean_session);
	iw_json_uint(j, "keepalive", m->keepalive);
	if (m->has_will) {
		iw_json_obj_begin(j, "will");
		str(j, "topic", m->will_topic);
		iw_json_uint(j, "qos", m->will_qos);
		iw_json_bool(j, "retain", m->will_retain);
		iw_json_uint(j, "payload_length", m->will_payload_length);
		if (m->protocol_version == 5 && m->will_props.present)
			props(j, "properties", &m->will_props);
		iw_json_obj_end(j);
	}
}

static void topics(struct iw_json *j, const struct iw_ev_mqtt *m, bool options)
{
	iw_json_arr_begin(j, "topics");
	for (uint32_t i = 0; m->topics && i < m->n_topics; i++) {
		const struct iw_mqtt_topic *t = &m->topics[i];
		iw_json_obj_begin(j, NULL);
		str(j, "filter", t->filter);
		if (options) {
			iw_json_uint(j, "qos", t->qos);
			if (m->protocol_version == 5) {
				iw_json_bool(j, "no_local", t->no_local);
				iw_json_bool(j, "retain_as_published", t->retain_as_published);
				iw_json_uint(j, "retain_handling", t->retain_handling);
			}
		}
		iw_json_obj_end(j);
	}
	iw_json_arr_end(j);
	if (m->topics_truncated)
		iw_json_uint(j, "topics_truncated", m->topics_truncated);
}

static void codes(struct iw_json *j, const struct iw_ev_mqtt *m)
{
	if (!m->n_codes && !m->codes_truncated)
		return;
	iw_json_arr_begin(j, "codes");
	for (uint32_t i = 0; m->codes && i < m->n_codes; i++) {
		iw_json_obj_begin(j, NULL);
		iw_json_uint(j, "code", m->codes[i].code);
		iw_json_str(j, "reason", m->codes[i].reason);
		iw_json_obj_end(j);
	}
	iw_json_arr_end(j);
	if (m->codes_truncated)
		iw_json_uint(j, "codes_truncated", m->codes_truncated);
}

void iw_rec_mqtt(struct iw_json *j, const struct iw_event *ev)
{
	const struct iw_ev_mqtt *m = &ev->u.mqtt;
	iw_json_str(j, "type", m->type ? m->type : "reserved");
	iw_json_uint(j, "protocol_version", m->protocol_version);
	iw_json_str(j, "dir", m->dir ? "toclient" : "toserver");
	if (m->websocket)
		iw_json_str(j, "transport", "websocket");
	if (m->malformed)
		iw_json_str(j, "malformed", m->malformed);
	if (m->skipped) {
		iw_json_bool(j, "skipped", true);
		iw_json_uint(j, "remaining_length", m->remaining_length);
	}
	if (m->has_message_id)
		iw_json_uint(j, "message_id", m->message_id);
	switch (m->msgtype) {
	case IW_MQTT_CONNECT:
		connect(j, m);
		break;
	case IW_MQTT_CONNACK:
		iw_json_bool(j, "session_present", m->session_present);
		code(j, m, "return_code");
		break;
	case IW_MQTT_PUBLISH:
		if (m->topic.s || !m->skipped)
			str(j, "topic", m->topic);
		if (m->topic_from_alias)
			iw_json_bool(j, "topic_from_alias", true);
		iw_json_uint(j, "qos", m->qos);
		iw_json_bool(j, "retain", m->retain);
		iw_json_bool(j, "dup", m->dup);
		iw_json_uint(j, "payload_length", m->payload_length);
		if (m->payload_preview.s)
			str(j, "payload_preview", m->payload_preview);
		break;
	case IW_MQTT_SUBSCRIBE:
		if (!m->skipped)
			topics(j, m, true);
		break;
	case IW_MQTT_UNSUBSCRIBE:
		if (!m->skipped)
			topics(j, m, false);
		break;
	case IW_MQTT_SUBACK:
	case IW_MQTT_UNSUBACK:
		codes(j, m);
		break;
	default:
		code(j, m, "reason_code");
		break;
	}
	if (m->has_props)
		props(j, "properties", &m->props);
}
