/* ev_mqtt.h - the mqtt event (DESIGN §5): what parsers/mqtt.c reports per control packet.
 *
 * Strings are (pointer, length) spans into the bytes handed to the parser or into its
 * per-flow state: valid only while the event is emitted, never NUL-terminated. */
#ifndef IW_EV_MQTT_H
#define IW_EV_MQTT_H

#include <stdbool.h>
#include <stdint.h>

#define IW_MQTT_MAX_USER_PROPS 16 /* user properties kept per property block */
#define IW_MQTT_MAX_SUBIDS     4  /* subscription identifiers kept per PUBLISH */

struct iw_mqtt_str {
	const char *s; /* NULL when absent */
	uint32_t n;
};

/* One bit per property (OASIS mqtt-v5.0 §2.2.2.2) in iw_mqtt_props.present. */
enum iw_mqtt_prop_bit {
	IW_MQTT_P_PAYLOAD_FORMAT_INDICATOR,
	IW_MQTT_P_MESSAGE_EXPIRY_INTERVAL,
	IW_MQTT_P_CONTENT_TYPE,
	IW_MQTT_P_RESPONSE_TOPIC,
	IW_MQTT_P_CORRELATION_DATA,
	IW_MQTT_P_SUBSCRIPTION_IDENTIFIER,
	IW_MQTT_P_SESSION_EXPIRY_INTERVAL,
	IW_MQTT_P_ASSIGNED_CLIENT_IDENTIFIER,
	IW_MQTT_P_SERVER_KEEP_ALIVE,
	IW_MQTT_P_AUTHENTICATION_METHOD,
	IW_MQTT_P_AUTHENTICATION_DATA,
	IW_MQTT_P_REQUEST_PROBLEM_INFORMATION,
	IW_MQTT_P_WILL_DELAY_INTERVAL,
	IW_MQTT_P_REQUEST_RESPONSE_INFORMATION,
	IW_MQTT_P_RESPONSE_INFORMATION,
	IW_MQTT_P_SERVER_REFERENCE,
	IW_MQTT_P_REASON_STRING,
	IW_MQTT_P_RECEIVE_MAXIMUM,
	IW_MQTT_P_TOPIC_ALIAS_MAXIMUM,
	IW_MQTT_P_TOPIC_ALIAS,
	IW_MQTT_P_MAXIMUM_QOS,
	IW_MQTT_P_RETAIN_AVAILABLE,
	IW_MQTT_P_USER_PROPERTY,
	IW_MQTT_P_MAXIMUM_PACKET_SIZE,
	IW_MQTT_P_WILDCARD_SUBSCRIPTION_AVAILABLE,
	IW_MQTT_P_SUBSCRIPTION_IDENTIFIER_AVAILABLE,
	IW_MQTT_P_SHARED_SUBSCRIPTION_AVAILABLE,
};

/* An MQTT 5.0 property block; a member is meaningful when its bit is in present. */
struct iw_mqtt_props {
	uint32_t present; /* 1u << enum iw_mqtt_prop_bit */
	uint8_t payload_format_indicator, request_problem_information, request_response_information;
	uint8_t maximum_qos, retain_available, wildcard_subscription_available;
	uint8_t subscription_identifier_available, shared_subscription_available;
	uint16_t server_keep_alive, receive_maximum, topic_alias_maximum, topic_alias;
	uint32_t message_expiry_interval, session_expiry_interval, will_delay_interval;
	uint32_t maximum_packet_size;
	uint32_t correlation_data_len, authentication_data_len; /* lengths only, never the bytes */
	struct iw_mqtt_str content_type, response_topic, assigned_client_identifier;
	struct iw_mqtt_str authentication_method, response_information, server_reference, reason_string;
	uint8_t n_subids;
	uint32_t subids[IW_MQTT_MAX_SUBIDS];
	uint8_t n_user;          /* user properties kept */
	uint16_t user_truncated; /* user properties past IW_MQTT_MAX_USER_PROPS */
	struct {
		struct iw_mqtt_str name, value;
	} user[IW_MQTT_MAX_USER_PROPS];
};

/* A topic filter of SUBSCRIBE (with its options) or UNSUBSCRIBE (filter only). */
struct iw_mqtt_topic {
	struct iw_mqtt_str filter;
	uint8_t qos;              /* maximum QoS requested */
	bool no_local;            /* 5.0 */
	bool retain_as_published; /* 5.0 */
	uint8_t retain_handling;  /* 5.0 */
};

/* A return or reason code of SUBACK or UNSUBACK, with its name. */
struct iw_mqtt_code {
	uint8_t code;
	const char *reason; /* static, never NULL */
};

enum iw_mqtt_type {
	IW_MQTT_RESERVED,
	IW_MQTT_CONNECT,
	IW_MQTT_CONNACK,
	IW_MQTT_PUBLISH,
	IW_MQTT_PUBACK,
	IW_MQTT_PUBREC,
	IW_MQTT_PUBREL,
	IW_MQTT_PUBCOMP,
	IW_MQTT_SUBSCRIBE,
	IW_MQTT_SUBACK,
	IW_MQTT_UNSUBSCRIBE,
	IW_MQTT_UNSUBACK,
	IW_MQTT_PINGREQ,
	IW_MQTT_PINGRESP,
	IW_MQTT_DISCONNECT,
	IW_MQTT_AUTH,
};

struct iw_ev_mqtt {
	const char *type;         /* "connect", ..., "auth", "reserved" (type 0) */
	uint8_t msgtype;          /* the control packet type, 0-15 (enum iw_mqtt_type) */
	uint8_t flags;            /* the fixed header's low 4 bits */
	uint8_t protocol_version; /* 3 (3.1), 4 (3.1.1) or 5 */
	uint8_t dir;              /* IW_DIR_TOSERVER or IW_DIR_TOCLIENT */
	bool websocket;           /* carried in WebSocket frames */
	uint32_t remaining_length;
	const char *malformed; /* static reason ("mqtt.qos") when the packet breaks the spec */
	bool skipped;          /* larger than limits.max_message: only the fixed header read */

	/* CONNECT */
	struct iw_mqtt_str protocol_name, client_id, username, will_topic;
	uint8_t connect_flags;
	bool clean_session, has_username, password_present, has_will, will_retain;
	uint8_t will_qos;
	uint16_t keepalive;
	uint32_t will_payload_length;
	struct iw_mqtt_props will_props; /* 5.0 */

	/* CONNACK */
	bool session_present;

	/* reason or return code: CONNACK, PUBACK..PUBCOMP, DISCONNECT, AUTH (5.0 when present) */
	bool has_code;
	uint8_t code;
	const char *reason; /* static name of code */

	/* PUBLISH */
	struct iw_mqtt_str topic;
	bool topic_from_alias; /* topic resolved from a topic alias of an earlier PUBLISH */
	uint8_t qos;
	bool retain, dup;
	uint32_t payload_length;
	struct iw_mqtt_str payload_preview; /* printable copy (others as '.') or absent */

	/* packet identifier: PUBLISH QoS > 0, PUBACK..PUBCOMP, (UN)SUBSCRIBE, (UN)SUBACK */
	bool has_message_id;
	uint16_t message_id;

	/* SUBSCRIBE, UNSUBSCRIBE */
	uint32_t n_topics, topics_truncated;
	const struct iw_mqtt_topic *topics;
	/* SUBACK, UNSUBACK (5.0) */
	uint32_t n_codes, codes_truncated;
	const struct iw_mqtt_code *codes;

	bool has_props; /* 5.0 packet with a property block */
	struct iw_mqtt_props props;
};

#endif
