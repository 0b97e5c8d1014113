/* test_mqtt.c - the MQTT decoder (parsers/mqtt.c) and its record (exporters/rec_mqtt.c):
 * annotated 3.1.1 and 5.0 packets of every type, properties, topic aliases, stream
 * splitting, oversized packets, resync after a gap, WebSocket, every truncated prefix and
 * inputs flush against a guard page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/record.h"
#include "parsers/parser.h"
#include "tests/unit/guard.h"

extern const struct iw_parser iw_parser_mqtt;
#define P iw_parser_mqtt

/* ---- what the parser reported: events as their JSON record (a deep copy) ---- */

#define MAX_EV 64
static char evj[MAX_EV][4096];
static uint8_t evtype[MAX_EV];
static unsigned n_ev;
static char anomalies[64][48];
static unsigned n_anom;
static char identity[128];
static struct iw_json json;

static void on_emit(struct iw_parse_ctx *ctx, struct iw_event *ev)
{
	(void)ctx;
	assert_int_equal(ev->kind, IW_EV_MQTT);
	assert_true(n_ev < MAX_EV);
	ev->key = NULL;
	ev->app_proto = NULL;
	memset(&ev->device, 0, sizeof(ev->device));
	ev->endpoint = NULL;
	iw_record_event(&json, NULL, ev);
	/* the "mqtt" object only: the common fields are the sensor's */
	const char *m = strstr(json.buf, "\"mqtt\":{");
	assert_non_null(m);
	snprintf(evj[n_ev], sizeof(evj[0]), "{%.*s", (int)(json.len - (size_t)(m - json.buf)), m);
	evtype[n_ev] = ev->u.mqtt.msgtype;
	n_ev++;
}

static void on_anomaly(struct iw_parse_ctx *ctx, const char *reason)
{
	(void)ctx;
	if (n_anom < 64)
		snprintf(anomalies[n_anom++], sizeof(anomalies[0]), "%s", reason);
}

static void on_identity(struct iw_parse_ctx *ctx, enum iw_identity kind, const char *s, size_t n)
{
	(void)ctx;
	assert_int_equal(kind, IW_ID_CLIENT_ID);
	snprintf(identity, sizeof(identity), "%.*s", (int)n, s);
}

static struct iw_parse_ctx ctx = {.emit = on_emit, .anomaly = on_anomaly, .identity = on_identity};
static struct iw_parser_cfg cfg;

static void reset(void)
{
	n_ev = n_anom = 0;
	identity[0] = '\0';
}

static void *fresh(uint32_t max_message, uint32_t max_items, uint32_t preview)
{
	reset();
	cfg.max_message = max_message;
	cfg.max_items = max_items;
	cfg.payload_preview = preview;
	return P.state_new(&cfg);
}

/* Feeds bytes as the sensor does: what is not consumed is kept and offered again with
 * the next piece. Returns false if the parser gave up. */
struct feeder {
	uint8_t buf[70000];
	size_t len;
	bool off;
};

static bool feed(void *st, struct feeder *f, int dir, const uint8_t *b, size_t n)
{
	if (f->off)
		return false;
	memcpy(f->buf + f->len, b, n);
	f->len += n;
	size_t used = 0;
	while (used < f->len) {
		int rc = P.parse(st, &ctx, dir, f->buf + used, f->len - used);
		if (rc == IW_NEED_MORE)
			break;
		if (rc == IW_ERR) {
			f->off = true;
			return false;
		}
		assert_true(rc > 0 && (size_t)rc <= f->len - used);
		used += (size_t)rc;
	}
	memmove(f->buf, f->buf + used, f->len - used);
	f->len -= used;
	return true;
}

static struct feeder fd_c, fd_s;

static void feed_all(void *st, int dir, const uint8_t *b, size_t n)
{
	struct feeder *f = dir == IW_DIR_TOSERVER ? &fd_c : &fd_s;
	memset(f, 0, offsetof(struct feeder, buf));
	f->len = 0;
	f->off = false;
	assert_true(feed(st, f, dir, b, n));
}

#define HAS(i, s)                                                                                            \
	do {                                                                                                 \
		if (!strstr(evj[i], s))                                                                      \
			fail_msg("event %u lacks %s: %s", (unsigned)(i), s, evj[i]);                         \
	} while (0)
#define LACKS(i, s)                                                                                          \
	do {                                                                                                 \
		if (strstr(evj[i], s))                                                                       \
			fail_msg("event %u has %s: %s", (unsigned)(i), s, evj[i]);                           \
	} while (0)

/* ---- samples: MQTT 3.1.1 (OASIS mqtt-v3.1.1 §3) ---- */

static const uint8_t c311_connect[] = {
    0x10, 0x2d,                     /* CONNECT, remaining length 45 */
    0x00, 0x04, 'M', 'Q', 'T', 'T', /* protocol name */
    0x04,                           /* level 4 = 3.1.1 */
    0xee,                           /* flags: user, password, will retain, will QoS 1, will, clean */
    0x00, 0x3c,                     /* keepalive 60 */
    0x00, 0x04, 'd', 'e', 'v', '1', /* client id "dev1" */
    0x00, 0x06, 'l', 'w', 't', '/', 'd', '1', /* will topic "lwt/d1" */
    0x00, 0x04, 'g', 'o', 'n', 'e',           /* will payload "gone" */
    0x00, 0x05, 'a', 'l', 'i', 'c', 'e',      /* username "alice" */
    0x00, 0x06, 's', 'e', 'c', 'r', 'e', 't', /* password "secret" (never reported) */
};

static const uint8_t c311_connack_refused[] = {
    0x20, 0x02, /* CONNACK, remaining length 2 */
    0x00,       /* session present 0 */
    0x05,       /* return code 5: not authorized */
};

static const uint8_t c311_publish[] = {
    0x3b, 0x0f,                                 /* PUBLISH, DUP 1, QoS 1, RETAIN 1; remaining length 15 */
    0x00, 0x06, 'd',  't',  '/', 'a', '/', 't', /* topic "dt/a/t" */
    0x00, 0x07,                                 /* packet id 7 */
    'h',  'i',  0x01, 0xff, '!',                /* payload: "hi", two non-printables, "!" */
};

static const uint8_t c311_acks[] = {
    0x40, 0x02, 0x00, 0x07, /* PUBACK id 7 */
    0x50, 0x02, 0x00, 0x08, /* PUBREC id 8 */
    0x62, 0x02, 0x00, 0x08, /* PUBREL (flags 2) id 8 */
    0x70, 0x02, 0x00, 0x08, /* PUBCOMP id 8 */
};

static const uint8_t c311_subscribe[] = {
    0x82, 0x17, /* SUBSCRIBE (flags 2), remaining length 23 */
    0x00, 0x0a, /* packet id 10 */
    0x00, 0x0e, 'd', 't',  '/', '+', '/', 't', 'e', 'l', 'e', 'm', 'e', 't', 'r', 'y', /* filter */
    0x01,                                                                              /* QoS 1 */
    0x00, 0x01, '#', 0x02,                                                             /* filter "#", QoS 2 */
};

static const uint8_t c311_suback[] = {
    0x90, 0x04, /* SUBACK, remaining length 4 */
    0x00, 0x0a, /* packet id 10 */
    0x01,       /* granted QoS 1 */
    0x80,       /* failure */
};

static const uint8_t c311_misc[] = {
    0xa2, 0x07, 0x00, 0x0b, 0x00, 0x03, 'a', '/', 'b', /* UNSUBSCRIBE id 11 "a/b" */
    0xb0, 0x02, 0x00, 0x0b,                            /* UNSUBACK id 11 */
    0xc0, 0x00,                                        /* PINGREQ */
    0xd0, 0x00,                                        /* PINGRESP */
    0xe0, 0x00,                                        /* DISCONNECT */
};

/* ---- samples: MQTT 5.0 (OASIS mqtt-v5.0 §3) ---- */

static const uint8_t c5_connect[] = {
    0x10, 0x21,                                                        /* CONNECT, remaining length 33 */
    0x00, 0x04, 'M',  'Q',  'T',  'T',                                 /* protocol name */
    0x05,                                                              /* level 5 */
    0x02,                                                              /* flags: clean start */
    0x00, 0x1e,                                                        /* keepalive 30 */
    0x14,                                                              /* properties: 20 bytes */
    0x11, 0x00, 0x00, 0x00, 0x3c,                                      /* session expiry interval 60 */
    0x22, 0x00, 0x0a,                                                  /* topic alias maximum 10 */
    0x26, 0x00, 0x02, 'f',  'w',  0x00, 0x05, '1', '.', '2', '.', '3', /* user property fw=1.2.3 */
    0x00, 0x00, /* client id "" (the server assigns one) */
};

static const uint8_t c5_connack[] = {
    0x20, 0x0f,                                     /* CONNACK, remaining length 15 */
    0x00,                                           /* session present 0 */
    0x00,                                           /* reason: success */
    0x0c,                                           /* properties: 12 bytes */
    0x12, 0x00, 0x06, 'a', 'u', 't', 'o', '-', '1', /* assigned client identifier "auto-1" */
    0x21, 0x00, 0x14,                               /* receive maximum 20 */
};

static const uint8_t c5_publish_alias[] = {
    0x32, 0x12,                                           /* PUBLISH QoS 1, remaining length 18 */
    0x00, 0x08, 'd',  't',  '/', 'c', '/', 't', 'e', 'l', /* topic "dt/c/tel" */
    0x00, 0x01,                                           /* packet id 1 */
    0x03, 0x23, 0x00, 0x01,                               /* properties: topic alias 1 */
    'o',  'n',                                            /* payload "on" */
    0x32, 0x0a,                                           /* PUBLISH QoS 1, remaining length 10 */
    0x00, 0x00,                                           /* topic "" (use the alias) */
    0x00, 0x02,                                           /* packet id 2 */
    0x03, 0x23, 0x00, 0x01,                               /* properties: topic alias 1 */
    'o',  'f',                                            /* payload "of" */
};

static const uint8_t c5_publish_props[] = {
    0x30, 0x2b,                              /* PUBLISH QoS 0, remaining length 43 */
    0x00, 0x03, 'a',  '/',  'b',             /* topic "a/b" */
    0x23,                                    /* properties: 35 bytes */
    0x01, 0x01,                              /* payload format indicator 1 */
    0x02, 0x00, 0x00, 0x01, 0x2c,            /* message expiry 300 */
    0x03, 0x00, 0x04, 'j',  's',  'o',  'n', /* content type "json" */
    0x08, 0x00, 0x03, 'r',  '/',  '1',       /* response topic "r/1" */
    0x09, 0x00, 0x02, 0xaa, 0xbb,            /* correlation data, 2 bytes */
    0x0b, 0x85, 0x01,                        /* subscription identifier 133 */
    0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v', /* user property k=v */
    '{',  '}',                               /* payload */
};

static const uint8_t c5_subscribe[] = {
    0x82, 0x0d,                           /* SUBSCRIBE, remaining length 13 */
    0x00, 0x05,                           /* packet id 5 */
    0x02, 0x0b, 0x07,                     /* properties: subscription identifier 7 */
    0x00, 0x05, 'c',  'm', 'd', '/', '#', /* filter "cmd/#" */
    0x2d,                                 /* options: retain handling 2, RAP, no local, QoS 1 */
};

static const uint8_t c5_suback[] = {
    0x90, 0x05, /* SUBACK, remaining length 5 */
    0x00, 0x05, /* packet id 5 */
    0x00,       /* no properties */
    0x01,       /* granted QoS 1 */
    0x87,       /* not authorized */
};

static const uint8_t c5_misc[] = {
    0x40, 0x04, 0x00, 0x03, 0x10, 0x00, /* PUBACK id 3, no matching subscribers, no props */
    0xb0, 0x04, 0x00, 0x06, 0x00, 0x11, /* UNSUBACK id 6, no props, no subscription existed */
    0xe0, 0x02, 0x04, 0x00,             /* DISCONNECT with will message, no props */
    0xf0, 0x08, 0x18, 0x06, 0x15, 0x00, 0x03, 'S', 'C', 'R', /* AUTH continue, method "SCR" */
};

/* ---- tests ---- */

static void test_311_connect_and_identity(void **state)
{
	(void)state;
	void *st = fresh(65536, 64, 0);
	feed_all(st, IW_DIR_TOSERVER, c311_connect, sizeof(c311_connect));
	assert_int_equal(n_ev, 1);
	assert_string_equal(evj[0],
	                    "{\"mqtt\":{\"type\":\"connect\",\"protocol_version\":4,\"dir\":\"toserver\","
	                    "\"protocol_name\":\"MQTT\",\"client_id\":\"dev1\",\"username\":\"alice\","
	                    "\"password_present\":true,\"clean_session\":true,\"keepalive\":60,"
	                    "\"will\":{\"topic\":\"lwt/d1\",\"qos\":1,\"retain\":true,"
	                    "\"payload_length\":4}}}");
	LACKS(0, "secret");
	assert_string_equal(identity, "dev1");
	assert_int_equal(n_anom, 0);
	feed_all(st, IW_DIR_TOCLIENT, c311_connack_refused, sizeof(c311_connack_refused));
	assert_int_equal(n_ev, 2);
	HAS(1, "\"type\":\"connack\",\"protocol_version\":4,\"dir\":\"toclient\",\"session_present\":false,"
	       "\"return_code\":5,\"reason\":\"not_authorized\"");
	P.state_free(st);
}

static void test_311_publish_preview_and_acks(void **state)
{
	(void)state;
	void *st = fresh(65536, 64, 4);
	feed_all(st, IW_DIR_TOSERVER, c311_connect, sizeof(c311_connect));
	feed_all(st, IW_DIR_TOSERVER, c311_publish, sizeof(c311_publish));
	assert_int_equal(n_ev, 2);
	HAS(1, "\"type\":\"publish\",\"protocol_version\":4,\"dir\":\"toserver\",\"message_id\":7,"
	       "\"topic\":\"dt/a/t\",\"qos\":1,\"retain\":true,\"dup\":true,\"payload_length\":5,"
	       "\"payload_preview\":\"hi..\"");
	/* four packets in one call */
	feed_all(st, IW_DIR_TOCLIENT, c311_acks, sizeof(c311_acks));
	assert_int_equal(n_ev, 6);
	HAS(2, "{\"type\":\"puback\",\"protocol_version\":4,\"dir\":\"toclient\",\"message_id\":7}");
	HAS(3, "\"type\":\"pubrec\"");
	HAS(4, "\"type\":\"pubrel\"");
	HAS(5, "\"type\":\"pubcomp\",\"protocol_version\":4,\"dir\":\"toclient\",\"message_id\":8");
	assert_int_equal(n_anom, 0);
	P.state_free(st);
}

static void test_311_subscribe_suback_misc(void **state)
{
	(void)state;
	void *st = fresh(65536, 64, 0);
	feed_all(st, IW_DIR_TOSERVER, c311_connect, sizeof(c311_connect));
	feed_all(st, IW_DIR_TOSERVER, c311_subscribe, sizeof(c311_subscribe));
	feed_all(st, IW_DIR_TOCLIENT, c311_suback, sizeof(c311_suback));
	assert_int_equal(n_ev, 3);
	HAS(1, "{\"type\":\"subscribe\",\"protocol_version\":4,\"dir\":\"toserver\",\"message_id\":10,"
	       "\"topics\":[{\"filter\":\"dt/+/telemetry\",\"qos\":1},{\"filter\":\"#\",\"qos\":2}]}");
	HAS(2, "\"message_id\":10,\"codes\":[{\"code\":1,\"reason\":\"granted_qos_1\"},"
	       "{\"code\":128,\"reason\":\"failure\"}]");
	feed_all(st, IW_DIR_TOSERVER, c311_misc, sizeof(c311_misc));
	assert_int_equal(n_ev, 8);
	HAS(3, "\"type\":\"unsubscribe\",\"protocol_version\":4,\"dir\":\"toserver\",\"message_id\":11,"
	       "\"topics\":[{\"filter\":\"a/b\"}]");
	HAS(4, "\"type\":\"unsuback\"");
	HAS(5, "\"type\":\"pingreq\"");
	HAS(6, "\"type\":\"pingresp\"");
	HAS(7, "\"type\":\"disconnect\"");
	assert_int_equal(n_anom, 0);
	P.state_free(st);
}

static void test_max_items(void **state)
{
	(void)state;
	void *st = fresh(65536, 1, 0);
	feed_all(st, IW_DIR_TOSERVER, c311_connect, sizeof(c311_connect));
	feed_all(st, IW_DIR_TOSERVER, c311_subscribe, sizeof(c311_subscribe));
	HAS(1, "\"topics\":[{\"filter\":\"dt/+/telemetry\",\"qos\":1}],\"topics_truncated\":1");
	P.state_free(st);
}

static void test_5_connect_connack_props(void **state)
{
	(void)state;
	void *st = fresh(65536, 64, 0);
	feed_all(st, IW_DIR_TOSERVER, c5_connect, sizeof(c5_connect));
	assert_int_equal(n_ev, 1);
	assert_string_equal(evj[0],
	                    "{\"mqtt\":{\"type\":\"connect\",\"protocol_version\":5,\"dir\":\"toserver\","
	                    "\"protocol_name\":\"MQTT\",\"client_id\":\"\",\"password_present\":false,"
	                    "\"clean_start\":true,\"keepalive\":30,\"properties\":{"
	                    "\"session_expiry_interval\":60,\"topic_alias_maximum\":10,"
	                    "\"user_property\":[{\"name\":\"fw\",\"value\":\"1.2.3\"}]}}}");
	assert_string_equal(identity, ""); /* an empty client id names nothing */
	feed_all(st, IW_DIR_TOCLIENT, c5_connack, sizeof(c5_connack));
	HAS(1, "\"type\":\"connack\",\"protocol_version\":5,\"dir\":\"toclient\",\"session_present\":false,"
	       "\"return_code\":0,\"reason\":\"success\",\"properties\":{\"assigned_client_identifier\":"
	       "\"auto-1\",\"receive_maximum\":20}");
	assert_string_equal(identity, "auto-1");
	assert_int_equal(n_anom, 0);
	P.state_free(st);
}

static void test_5_publish_alias_and_props(void **state)
{
	(void)state;
	void *st = fresh(65536, 64, 0);
	feed_all(st, IW_DIR_TOSERVER, c5_connect, sizeof(c5_connect));
	feed_all(st, IW_DIR_TOSERVER, c5_publish_alias, sizeof(c5_publish_alias));
	assert_int_equal(n_ev, 3);
	HAS(1, "\"message_id\":1,\"topic\":\"dt/c/tel\",\"qos\":1");
	LACKS(1, "topic_from_alias");
	HAS(2, "\"message_id\":2,\"topic\":\"dt/c/tel\",\"topic_from_alias\":true,\"qos\":1,\"retain\":false,"
	       "\"dup\":false,\"payload_length\":2,\"properties\":{\"topic_alias\":1}");
	/* an alias only means something in its own direction */
	feed_all(st, IW_DIR_TOCLIENT, c5_publish_alias + 20, sizeof(c5_publish_alias) - 20);
	assert_int_equal(n_ev, 4);
	HAS(3, "\"topic\":\"\",\"qos\":1");
	assert_string_equal(anomalies[n_anom - 1], "mqtt.topic_alias_unknown");
	feed_all(st, IW_DIR_TOSERVER, c5_publish_props, sizeof(c5_publish_props));
	HAS(4, "\"topic\":\"a/b\",\"qos\":0,\"retain\":false,\"dup\":false,\"payload_length\":2,"
	       "\"properties\":{\"payload_format_indicator\":1,\"message_expiry_interval\":300,"
	       "\"content_type\":\"json\",\"response_topic\":\"r/1\",\"correlation_data_length\":2,"
	       "\"subscription_identifier\":[133],\"user_property\":[{\"name\":\"k\",\"value\":\"v\"}]}");
	P.state_free(st);
}

static void test_5_subscribe_suback_misc(void **state)
{
	(void)state;
	void *st = fresh(65536, 64, 0);
	feed_all(st, IW_DIR_TOSERVER, c5_connect, sizeof(c5_connect));
	feed_all(st, IW_DIR_TOSERVER, c5_subscribe, sizeof(c5_subscribe));
	feed_all(st, IW_DIR_TOCLIENT, c5_suback, sizeof(c5_suback));
	HAS(1, "\"message_id\":5,\"topics\":[{\"filter\":\"cmd/#\",\"qos\":1,\"no_local\":true,"
	       "\"retain_as_published\":true,\"retain_handling\":2}],\"properties\":"
	       "{\"subscription_identifier\":[7]}");
	HAS(2, "\"codes\":[{\"code\":1,\"reason\":\"granted_qos_1\"},{\"code\":135,\"reason\":\"not_"
	       "authorized\"}]");
	feed_all(st, IW_DIR_TOCLIENT, c5_misc, sizeof(c5_misc));
	assert_int_equal(n_ev, 7);
	HAS(3, "\"type\":\"puback\",\"protocol_version\":5,\"dir\":\"toclient\",\"message_id\":3,"
	       "\"reason_code\":16,\"reason\":\"no_matching_subscribers\",\"properties\":{}");
	HAS(4, "\"type\":\"unsuback\",\"protocol_version\":5,\"dir\":\"toclient\",\"message_id\":6,"
	       "\"codes\":[{\"code\":17,\"reason\":\"no_subscription_existed\"}],\"properties\":{}");
	HAS(5, "\"type\":\"disconnect\",\"protocol_version\":5,\"dir\":\"toclient\",\"reason_code\":4,"
	       "\"reason\":\"disconnect_with_will_message\"");
	HAS(6, "\"type\":\"auth\",\"protocol_version\":5,\"dir\":\"toclient\",\"reason_code\":24,"
	       "\"reason\":\"continue_authentication\",\"properties\":{\"authentication_method\":\"SCR\"}");
	assert_int_equal(n_anom, 0);
	P.state_free(st);
}

/* No CONNECT: 3.1.1 is the guess, a packet that only parses as 5.0 switches. */
static void test_midstream_version_fallback(void **state)
{
	(void)state;
	void *st = fresh(65536, 64, 0);
	feed_all(st, IW_DIR_TOCLIENT, c5_misc, sizeof(c5_misc));
	assert_int_equal(n_ev, 4);
	HAS(0, "\"type\":\"puback\",\"protocol_version\":5");
	HAS(3, "\"type\":\"auth\",\"protocol_version\":5");
	assert_int_equal(n_anom, 0);
	P.state_free(st);
}

static void test_byte_by_byte(void **state)
{
	(void)state;
	void *st = fresh(65536, 64, 0);
	struct feeder *f = &fd_c;
	f->len = 0;
	f->off = false;
	for (size_t i = 0; i < sizeof(c311_connect); i++) {
		assert_int_equal(n_ev, 0);
		assert_true(feed(st, f, IW_DIR_TOSERVER, c311_connect + i, 1));
	}
	assert_int_equal(n_ev, 1);
	HAS(0, "\"client_id\":\"dev1\"");
	assert_int_equal(f->len, 0);
	/* and a direct call on a part: IW_NEED_MORE */
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, c311_publish, 5), IW_NEED_MORE);
	P.state_free(st);
}

static void test_remaining_length_5_bytes(void **state)
{
	(void)state;
	static const uint8_t bad[] = {0xc0, 0xff, 0xff, 0xff, 0xff, 0x01}; /* 5th continuation */
	void *st = fresh(65536, 64, 0);
	feed_all(st, IW_DIR_TOSERVER, c311_connect, sizeof(c311_connect));
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, bad, sizeof(bad)), IW_ERR);
	assert_string_equal(anomalies[n_anom - 1], "mqtt.remaining_length");
	P.state_free(st);
}

static void test_oversized_skipped(void **state)
{
	(void)state;
	uint8_t big[300];
	memset(big, 'x', sizeof(big));
	big[0] = 0x30; /* PUBLISH QoS 0 */
	big[1] = 0xa9; /* remaining length 0x29 + 0x02 * 128 = 297 */
	big[2] = 0x02;
	big[3] = 0x00;
	big[4] = 0x01; /* topic "x" */
	void *st = fresh(64, 64, 0);
	feed_all(st, IW_DIR_TOSERVER, c311_connect, sizeof(c311_connect));
	struct feeder *f = &fd_c;
	for (size_t off = 0; off < sizeof(big); off += 50)
		assert_true(
		    feed(st, f, IW_DIR_TOSERVER, big + off, 50 < sizeof(big) - off ? 50 : sizeof(big) - off));
	assert_int_equal(f->len, 0); /* consumed as it came, never buffered */
	assert_true(feed(st, f, IW_DIR_TOSERVER, c311_misc + 13, 2)); /* PINGREQ after it */
	assert_int_equal(n_ev, 3);
	HAS(1, "\"type\":\"publish\",\"protocol_version\":4,\"dir\":\"toserver\",\"skipped\":true,"
	       "\"remaining_length\":297");
	HAS(2, "\"type\":\"pingreq\"");
	assert_string_equal(anomalies[0], "mqtt.message_too_large");
	P.state_free(st);
}

static void test_resync_after_gap(void **state)
{
	(void)state;
	void *st = fresh(65536, 64, 0);
	feed_all(st, IW_DIR_TOSERVER, c311_connect, sizeof(c311_connect));
	/* the sensor lost the start of a PUBLISH: what follows is its tail, then packets */
	P.gap(st, &ctx, IW_DIR_TOSERVER, 100);
	uint8_t b[64];
	size_t n = 0;
	static const uint8_t tail[] = {0x7a, 0x10, 0x03, 0x41, 0x99, 0xe0, 0x31, 0x00, 0x02};
	memcpy(b, tail, sizeof(tail));
	n += sizeof(tail);
	memcpy(b + n, c311_subscribe, sizeof(c311_subscribe));
	n += sizeof(c311_subscribe);
	memcpy(b + n, c311_misc + 13, 4); /* PINGREQ, PINGRESP */
	n += 4;
	feed_all(st, IW_DIR_TOSERVER, b, n);
	assert_int_equal(n_ev, 4);
	HAS(1, "\"type\":\"subscribe\"");
	HAS(2, "\"type\":\"pingreq\"");
	HAS(3, "\"type\":\"pingresp\"");
	P.state_free(st);
}

/* A mid-stream pickup whose first bytes are the tail of a packet. */
static void test_midstream_start(void **state)
{
	(void)state;
	void *st = fresh(65536, 64, 0);
	uint8_t b[64];
	static const uint8_t tail[] = {'t', 'a', 'i', 'l', 0x00};
	memcpy(b, tail, sizeof(tail));
	memcpy(b + sizeof(tail), c311_publish, sizeof(c311_publish));
	feed_all(st, IW_DIR_TOSERVER, b, sizeof(tail) + sizeof(c311_publish));
	assert_int_equal(n_ev, 1);
	HAS(0, "\"topic\":\"dt/a/t\"");
	P.state_free(st);
}

/* ---- WebSocket (RFC 6455) ---- */

static const char ws_req[] = "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Version: 13\r\n\r\n";
static const char ws_resp[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                              "Sec-WebSocket-Protocol: mqtt\r\n\r\n";

/* One frame: FIN/opcode byte, then the payload masked with key when masked. */
static size_t ws_frame(uint8_t *o, uint8_t b0, const uint8_t *pl, size_t n, bool masked)
{
	static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	size_t k = 0;
	o[k++] = b0;
	if (n < 126) {
		o[k++] = (uint8_t)((masked ? 0x80 : 0) | n);
	} else {
		o[k++] = (uint8_t)((masked ? 0x80 : 0) | 126);
		o[k++] = (uint8_t)(n >> 8);
		o[k++] = (uint8_t)n;
	}
	if (masked) {
		memcpy(o + k, key, 4);
		k += 4;
	}
	for (size_t i = 0; i < n; i++)
		o[k + i] = masked ? (uint8_t)(pl[i] ^ key[i & 3]) : pl[i];
	return k + n;
}

static void test_websocket(void **state)
{
	(void)state;
	assert_int_equal(P.probe((const uint8_t *)ws_req, sizeof(ws_req) - 1, IW_DIR_TOSERVER), IW_OK);
	assert_int_equal(P.probe((const uint8_t *)ws_req, 40, IW_DIR_TOSERVER), IW_NEED_MORE);
	static const char plain[] = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";
	assert_int_equal(P.probe((const uint8_t *)plain, sizeof(plain) - 1, IW_DIR_TOSERVER), IW_ERR);

	void *st = fresh(65536, 64, 0);
	static uint8_t c[4096], s[4096];
	size_t nc = 0, ns = 0;
	memcpy(c, ws_req, sizeof(ws_req) - 1);
	nc += sizeof(ws_req) - 1;
	nc += ws_frame(c + nc, 0x82, c311_connect, sizeof(c311_connect), true); /* binary, FIN */
	nc += ws_frame(c + nc, 0x89, (const uint8_t *)"hi", 2, true);           /* ping: ignored */
	/* SUBSCRIBE in a message of two frames: binary without FIN, continuation with FIN */
	nc += ws_frame(c + nc, 0x02, c311_subscribe, 9, true);
	nc += ws_frame(c + nc, 0x80, c311_subscribe + 9, sizeof(c311_subscribe) - 9, true);
	/* a frame holding two packets */
	nc += ws_frame(c + nc, 0x82, c311_misc + 13, 4, true);
	memcpy(s, ws_resp, sizeof(ws_resp) - 1);
	ns += sizeof(ws_resp) - 1;
	ns += ws_frame(s + ns, 0x82, c311_suback, sizeof(c311_suback), false);

	/* the client's bytes in pieces of 7 across calls, the server's whole */
	struct feeder *f = &fd_c;
	f->len = 0;
	f->off = false;
	for (size_t off = 0; off < nc; off += 7)
		assert_true(feed(st, f, IW_DIR_TOSERVER, c + off, nc - off < 7 ? nc - off : 7));
	feed_all(st, IW_DIR_TOCLIENT, s, ns);
	assert_int_equal(n_ev, 5);
	HAS(0,
	    "\"type\":\"connect\",\"protocol_version\":4,\"dir\":\"toserver\",\"transport\":\"websocket\"");
	HAS(0, "\"client_id\":\"dev1\"");
	assert_string_equal(identity, "dev1");
	HAS(1, "\"topics\":[{\"filter\":\"dt/+/telemetry\",\"qos\":1},{\"filter\":\"#\",\"qos\":2}]");
	HAS(2, "\"type\":\"pingreq\"");
	HAS(3, "\"type\":\"pingresp\"");
	HAS(4, "\"type\":\"suback\",\"protocol_version\":4,\"dir\":\"toclient\",\"transport\":\"websocket\"");
	assert_int_equal(n_anom, 0);
	P.state_free(st);
}

/* ---- every truncated prefix, and the whole, flush against a guard page ---- */

struct sample {
	const uint8_t *b;
	size_t n;
	bool v5;
	unsigned events;
};

static const struct sample samples[] = {
    {c311_connect, sizeof(c311_connect), false, 1},
    {c311_connack_refused, sizeof(c311_connack_refused), false, 1},
    {c311_publish, sizeof(c311_publish), false, 1},
    {c311_acks, 4, false, 1},
    {c311_subscribe, sizeof(c311_subscribe), false, 1},
    {c311_suback, sizeof(c311_suback), false, 1},
    {c311_misc, 9, false, 1},
    {c5_connect, sizeof(c5_connect), true, 1},
    {c5_connack, sizeof(c5_connack), true, 1},
    {c5_publish_alias, 20, true, 1},
    {c5_publish_props, sizeof(c5_publish_props), true, 1},
    {c5_subscribe, sizeof(c5_subscribe), true, 1},
    {c5_suback, sizeof(c5_suback), true, 1},
    {c5_misc + 16, 10, true, 1},
};

static void test_prefixes_guarded(void **state)
{
	(void)state;
	struct guard g = guard_new(4096);
	for (size_t s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
		const struct sample *sm = &samples[s];
		const uint8_t *conn = sm->v5 ? c5_connect : c311_connect;
		size_t nconn = sm->v5 ? sizeof(c5_connect) : sizeof(c311_connect);
		for (size_t len = 0; len <= sm->n; len++) {
			void *st = fresh(65536, 64, 16);
			const uint8_t *at = guard_put(&g, conn, nconn);
			assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, at, nconn), (int)nconn);
			unsigned before = n_ev;
			at = guard_put(&g, sm->b, len);
			int rc = P.parse(st, &ctx, IW_DIR_TOSERVER, at, len);
			if (len < sm->n) {
				if (rc != IW_NEED_MORE)
					fail_msg("sample %zu prefix %zu: rc %d", s, len, rc);
				assert_int_equal(n_ev, before);
			} else {
				assert_int_equal(rc, (int)sm->n);
				assert_int_equal(n_ev, before + sm->events);
			}
			P.state_free(st);
		}
	}
	/* the WebSocket handshake and a frame, every prefix, from a fresh flow */
	static uint8_t w[1024];
	size_t nw = sizeof(ws_req) - 1;
	memcpy(w, ws_req, nw);
	nw += ws_frame(w + nw, 0x82, c311_connect, sizeof(c311_connect), true);
	for (size_t len = 1; len <= nw; len++) {
		void *st = fresh(65536, 64, 0);
		struct feeder *f = &fd_c;
		f->len = 0;
		f->off = false;
		const uint8_t *at = guard_put(&g, w, len);
		size_t used = 0;
		while (used < len) {
			int rc = P.parse(st, &ctx, IW_DIR_TOSERVER, at + used, len - used);
			if (rc <= 0)
				break;
			used += (size_t)rc;
		}
		assert_int_equal(n_ev, len == nw ? 1 : 0);
		P.state_free(st);
	}
	guard_free(&g);
}

int main(void)
{
	iw_json_init(&json);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_311_connect_and_identity),
	    cmocka_unit_test(test_311_publish_preview_and_acks),
	    cmocka_unit_test(test_311_subscribe_suback_misc),
	    cmocka_unit_test(test_max_items),
	    cmocka_unit_test(test_5_connect_connack_props),
	    cmocka_unit_test(test_5_publish_alias_and_props),
	    cmocka_unit_test(test_5_subscribe_suback_misc),
	    cmocka_unit_test(test_midstream_version_fallback),
	    cmocka_unit_test(test_byte_by_byte),
	    cmocka_unit_test(test_remaining_length_5_bytes),
	    cmocka_unit_test(test_oversized_skipped),
	    cmocka_unit_test(test_resync_after_gap),
	    cmocka_unit_test(test_midstream_start),
	    cmocka_unit_test(test_websocket),
	    cmocka_unit_test(test_prefixes_guarded),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	iw_json_free(&json);
	return rc;
}
