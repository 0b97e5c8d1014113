/* test_syslog.c - unit tests of the syslog exporter (DESIGN §8, docs/siem.md): CEF escaping,
 * severities, PRI, MSGID, HOSTNAME, whole RFC 5424 messages with CEF and JSON bodies,
 * addresses, and the exporter over real loopback sockets (UDP datagrams, TCP octet
 * counting, a receiver that never reads, a connection lost part-way through a frame). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "exporters/exporter.h"
#include "exporters/json.h"
#include "exporters/syslog.h"
#include "parsers/cursor.h"

extern const struct iw_exporter iw_exp_syslog;

#define EXP (&iw_exp_syslog)

/* An alert as exporters/record.c writes it (demo-rules.pcap's first). */
static const char WILDCARD[] =
    "{\"timestamp\":\"2026-11-22T07:45:50.091167Z\",\"flow_id\":1,\"sensor\":\"span-1\","
    "\"event_type\":\"alert\",\"src_ip\":\"127.0.0.1\",\"src_port\":43130,\"dest_ip\":\"127.0.0.1\","
    "\"dest_port\":1883,\"proto\":\"TCP\",\"app_proto\":\"mqtt\","
    "\"device\":{\"id\":\"scanner\",\"ip\":\"127.0.0.1\",\"client_id\":\"scanner\"},"
    "\"alert\":{\"rule\":\"mqtt.wildcard_subscribe\",\"category\":\"mqtt-abuse\",\"severity\":\"high\","
    "\"message\":\"client scanner subscribed to the wildcard filter #\"},"
    "\"evidence\":{\"filter\":\"#\",\"client_id\":\"scanner\",\"qos\":1}}";

static char *format(const struct iw_syslog_fmt *f, const char *rec)
{
	struct iw_sbuf b = {0};
	int rc = iw_syslog_format(&b, f, rec, strlen(rec));
	if (rc != IW_OK) {
		iw_sbuf_free(&b);
		return NULL;
	}
	return b.buf;
}

static char *cef(const char *rec)
{
	struct iw_sbuf b = {0};
	if (iw_syslog_cef(&b, rec, strlen(rec)) != IW_OK) {
		iw_sbuf_free(&b);
		return NULL;
	}
	return b.buf;
}

/* ---- pure parts ---- */

static void test_escape_header(void **state)
{
	(void)state;
	struct iw_sbuf b = {0};
	const char in[] = "a\\b|c=d\re\nf\tg\x7fh";
	iw_cef_escape_header(&b, in, sizeof(in) - 1);
	/* \ and | escaped; = left alone; CR, LF, TAB, DEL become spaces */
	assert_string_equal(b.buf, "a\\\\b\\|c=d e f g h");
	iw_sbuf_reset(&b);
	iw_cef_escape_header(&b, "plain text", 10);
	assert_string_equal(b.buf, "plain text");
	iw_sbuf_free(&b);
}

static void test_escape_value(void **state)
{
	(void)state;
	struct iw_sbuf b = {0};
	const char in[] = "a\\b=c\rd\ne|f\tg\0h";
	iw_cef_escape_value(&b, in, sizeof(in) - 1);
	/* \ and = escaped, CR and LF as \r and \n, | left alone, TAB and NUL become spaces */
	assert_string_equal(b.buf, "a\\\\b\\=c\\rd\\ne|f g h");
	assert_int_equal(b.len, strlen(b.buf));
	iw_sbuf_reset(&b);
	iw_cef_escape_value(&b, "\\\\==", 4);
	assert_string_equal(b.buf, "\\\\\\\\\\=\\=");
	iw_sbuf_free(&b);
}

static void test_severities(void **state)
{
	(void)state;
	assert_int_equal(iw_syslog_severity("critical"), 2);
	assert_int_equal(iw_syslog_severity("high"), 3);
	assert_int_equal(iw_syslog_severity("medium"), 4);
	assert_int_equal(iw_syslog_severity("low"), 5);
	assert_int_equal(iw_syslog_severity("urgent"), 4);
	assert_int_equal(iw_syslog_severity(NULL), 4);
	assert_int_equal(iw_cef_severity("critical"), 10);
	assert_int_equal(iw_cef_severity("high"), 8);
	assert_int_equal(iw_cef_severity("medium"), 5);
	assert_int_equal(iw_cef_severity("low"), 3);
	assert_int_equal(iw_cef_severity("HIGH"), 5);
	assert_int_equal(iw_cef_severity(NULL), 5);
}

static void test_pri(void **state)
{
	(void)state;
	assert_int_equal(iw_syslog_facility("kern"), 0);
	assert_int_equal(iw_syslog_facility("user"), 1);
	assert_int_equal(iw_syslog_facility("auth"), 4);
	assert_int_equal(iw_syslog_facility("authpriv"), 10);
	assert_int_equal(iw_syslog_facility("local0"), 16);
	assert_int_equal(iw_syslog_facility("local7"), 23);
	assert_int_equal(iw_syslog_facility("local8"), -1);
	assert_int_equal(iw_syslog_facility(""), -1);
	assert_int_equal(iw_syslog_facility(NULL), -1);
	assert_int_equal(iw_syslog_pri(16, iw_syslog_severity("critical")), 130);
	assert_int_equal(iw_syslog_pri(16, iw_syslog_severity("high")), 131);
	assert_int_equal(iw_syslog_pri(16, iw_syslog_severity("medium")), 132);
	assert_int_equal(iw_syslog_pri(16, iw_syslog_severity("low")), 133);
	assert_int_equal(iw_syslog_pri(0, 0), 0);
	assert_int_equal(iw_syslog_pri(23, 7), 191);
	assert_int_equal(iw_syslog_pri(4, 2), 34); /* RFC 5424 §6.5 example 1 */
}

static void test_msgid(void **state)
{
	(void)state;
	char out[33];
	assert_string_equal(iw_syslog_msgid("mqtt.wildcard_subscribe", out), "mqtt.wildcard_subscribe");
	assert_string_equal(iw_syslog_msgid("modbus.unauthorized_write", out), "modbus.unauthorized_write");
	const char *n32 = "abcdefghijklmnopqrstuvwxyz012345";
	assert_string_equal(iw_syslog_msgid(n32, out), n32);
	assert_string_equal(iw_syslog_msgid("abcdefghijklmnopqrstuvwxyz0123456", out), "-"); /* 33 */
	assert_string_equal(iw_syslog_msgid("", out), "-");
	assert_string_equal(iw_syslog_msgid(NULL, out), "-");
	assert_string_equal(iw_syslog_msgid("two words", out), "-");
	assert_string_equal(iw_syslog_msgid("r\xc3\xa8gle", out), "-");
	assert_string_equal(iw_syslog_msgid("del\x7f", out), "-");
	assert_string_equal(iw_syslog_msgid("!~", out), "!~");
}

static void test_hostname(void **state)
{
	(void)state;
	char out[256], long_name[400];
	assert_string_equal(iw_syslog_hostname("sensor-1.plant.example", out, sizeof(out)),
	                    "sensor-1.plant.example");
	assert_string_equal(iw_syslog_hostname("my host\x01\xc3\xa9", out, sizeof(out)), "my_host___");
	assert_string_equal(iw_syslog_hostname("", out, sizeof(out)), "-");
	assert_string_equal(iw_syslog_hostname(NULL, out, sizeof(out)), "-");
	memset(long_name, 'h', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(strlen(iw_syslog_hostname(long_name, out, sizeof(out))), 255);
	assert_true(iw_syslog_hostname_ok("sensor-1"));
	assert_false(iw_syslog_hostname_ok("sensor 1"));
	assert_false(iw_syslog_hostname_ok(""));
	assert_false(iw_syslog_hostname_ok(long_name));
	long_name[255] = '\0';
	assert_true(iw_syslog_hostname_ok(long_name));
}

/* ---- whole messages ---- */

static const struct iw_syslog_fmt FMT = {.facility = 16, .hostname = "sensor-a", .procid = 4242};

static void test_frame_cef(void **state)
{
	(void)state;
	char *got = format(&FMT, WILDCARD);
	assert_non_null(got);
	assert_string_equal(
	    got, "<131>1 2026-11-22T07:45:50.091167Z sensor-a iotwatch 4242 mqtt.wildcard_subscribe - "
	         "CEF:0|iotwatch|iotwatch|" IW_VERSION "|mqtt.wildcard_subscribe|"
	         "client scanner subscribed to the wildcard filter #|8|"
	         "rt=1795333550091 dvchost=span-1 src=127.0.0.1 spt=43130 dst=127.0.0.1 dpt=1883 "
	         "proto=TCP app=mqtt externalId=1 cat=mqtt-abuse "
	         "msg=client scanner subscribed to the wildcard filter # "
	         "cs1Label=deviceId cs1=scanner cs2Label=clientId cs2=scanner "
	         "cs5Label=topicFilter cs5=# cn1Label=qos cn1=1 "
	         "cs6Label=evidence cs6={\"filter\":\"#\",\"client_id\":\"scanner\",\"qos\":1}");
	free(got);
}

static void test_frame_json(void **state)
{
	(void)state;
	struct iw_syslog_fmt f = FMT;
	f.json = true;
	f.facility = 4; /* auth */
	char *got = format(&f, WILDCARD);
	assert_non_null(got);
	assert_string_equal(
	    got, "<35>1 2026-11-22T07:45:50.091167Z sensor-a iotwatch 4242 mqtt.wildcard_subscribe - "
	         "{\"timestamp\":\"2026-11-22T07:45:50.091167Z\",\"flow_id\":1,\"sensor\":\"span-1\","
	         "\"event_type\":\"alert\",\"src_ip\":\"127.0.0.1\",\"src_port\":43130,"
	         "\"dest_ip\":\"127.0.0.1\",\"dest_port\":1883,\"proto\":\"TCP\",\"app_proto\":\"mqtt\","
	         "\"device\":{\"id\":\"scanner\",\"ip\":\"127.0.0.1\",\"client_id\":\"scanner\"},"
	         "\"alert\":{\"rule\":\"mqtt.wildcard_subscribe\",\"category\":\"mqtt-abuse\","
	         "\"severity\":\"high\",\"message\":\"client scanner subscribed to the wildcard "
	         "filter #\"},\"evidence\":{\"filter\":\"#\",\"client_id\":\"scanner\",\"qos\":1}}");
	free(got);

	/* a JSON record whose whitespace holds CR/LF: the MSG never does */
	got = format(&f, "{\"alert\":\r\n{\"rule\":\"r\",\"severity\":\"low\"}}");
	assert_non_null(got);
	assert_string_equal(
	    got, "<37>1 - sensor-a iotwatch 4242 r - {\"alert\":  {\"rule\":\"r\",\"severity\":\"low\"}}");
	free(got);
}

/* Every special character in header fields and extension values, from JSON escapes. */
static void test_cef_escaping(void **state)
{
	(void)state;
	const char *rec = "{\"timestamp\":\"2026-11-22T08:00:00.000001Z\",\"sensor\":\"s=1\","
	                  "\"device\":{\"id\":\"dev\\\\1\"},"
	                  "\"alert\":{\"rule\":\"x|y\",\"category\":\"a=b\",\"severity\":\"low\","
	                  "\"message\":\"pipe | back \\\\ eq = cr \\r lf \\n tab \\t end\"},"
	                  "\"evidence\":{\"k\":\"v=|\\\\\\n\"}}";
	char *got = cef(rec);
	assert_non_null(got);
	assert_string_equal(got, "CEF:0|iotwatch|iotwatch|" IW_VERSION "|x\\|y|"
	                         "pipe \\| back \\\\ eq = cr   lf   tab   end|3|"
	                         "rt=1795334400000 dvchost=s\\=1 cat=a\\=b "
	                         "msg=pipe | back \\\\ eq \\= cr \\r lf \\n tab   end "
	                         "cs1Label=deviceId cs1=dev\\\\1 "
	                         "cs6Label=evidence cs6={\"k\":\"v\\=|\\\\\\\\\\\\n\"}");
	free(got);

	/* '|' is printable US-ASCII: the rule id is the MSGID as it is */
	got = format(&FMT, rec);
	assert_non_null(got);
	assert_non_null(
	    strstr(got, "<133>1 2026-11-22T08:00:00.000001Z sensor-a iotwatch 4242 x|y - CEF:0|"));
	free(got);
}

/* IPv6 addresses go to c6a2 / c6a3 (CEF's src and dst are IPv4); the device's MAC to the
 * side it is on. */
static void test_cef_ipv6(void **state)
{
	(void)state;
	const char *rec =
	    "{\"timestamp\":\"2026-11-22T08:00:00.5Z\",\"flow_id\":7,\"src_ip\":\"fd00::10\","
	    "\"src_port\":5000,\"dest_ip\":\"2001:db8::1\",\"dest_port\":8883,\"proto\":\"TCP\","
	    "\"device\":{\"id\":\"d\",\"ip\":\"fd00::10\",\"mac\":\"02:00:00:00:00:01\"},"
	    "\"alert\":{\"rule\":\"r\",\"severity\":\"critical\",\"message\":\"m\"},\"evidence\":{}}";
	char *got = cef(rec);
	assert_non_null(got);
	assert_string_equal(got, "CEF:0|iotwatch|iotwatch|" IW_VERSION "|r|m|10|"
	                         "rt=1795334400500 c6a2Label=sourceIPv6Address c6a2=fd00::10 spt=5000 "
	                         "c6a3Label=destinationIPv6Address c6a3=2001:db8::1 dpt=8883 proto=TCP "
	                         "externalId=7 msg=m smac=02:00:00:00:00:01 cs1Label=deviceId cs1=d "
	                         "cs6Label=evidence cs6={}");
	free(got);
}

/* The per-rule mapping: times to ms, lists joined, a tunnel endpoint that is only an
 * address is no host name. */
static void test_cef_rules(void **state)
{
	(void)state;
	char *got =
	    cef("{\"alert\":{\"rule\":\"tunnel.renewal_loop\",\"severity\":\"high\",\"message\":\"m\"},"
	        "\"evidence\":{\"opens\":4,\"renewal_max\":3,\"window_s\":86400,\"open_times\":"
	        "[\"2026-11-22T08:13:49.225892Z\",\"2026-11-22T11:13:54.297997Z\"],"
	        "\"kind\":\"aws_secure_tunneling\",\"endpoint\":\"data.tunneling.example\"}}");
	assert_non_null(got);
	assert_non_null(
	    strstr(got, "|8|msg=m cs4Label=tunnelKind cs4=aws_secure_tunneling "
	                "dhost=data.tunneling.example cn1Label=opens cn1=4 cn2Label=renewalMax cn2=3 "
	                "cn3Label=windowSeconds cn3=86400 start=1795335229225 end=1795346034297 cs6Label="));
	free(got);

	got = cef("{\"alert\":{\"rule\":\"tunnel.orphaned\"},\"evidence\":{\"kind\":\"ssh\","
	          "\"endpoint\":\"127.0.0.1\",\"address\":\"127.0.0.1\",\"duration_s\":43200,"
	          "\"bytes_toserver\":5745,\"bytes_toclient\":6119}}");
	assert_non_null(got);
	assert_null(strstr(got, "dhost="));
	/* in: bytes from source to destination (CEF's bytesIn), out: the other way */
	assert_non_null(strstr(got, "|tunnel.orphaned|tunnel.orphaned|5|cs4Label=tunnelKind cs4=ssh "
	                            "cn1Label=durationSeconds cn1=43200 in=5745 out=6119 cs6Label="));
	free(got);

	got = cef(
	    "{\"alert\":{\"rule\":\"tls.cert_expiry_storm\",\"severity\":\"high\"},\"evidence\":{"
	    "\"kind\":\"predicted\",\"date\":\"2027-06-10\",\"devices\":20,\"issuers\":[\"CA 1\",\"CA 2\"],"
	    "\"sample\":[\"p-1\",\"p-2\"],\"storm_min_devices\":20}}");
	assert_non_null(got);
	assert_non_null(strstr(got, "cs4Label=stormKind cs4=predicted cs5Label=sampleDevices cs5=p-1,p-2 "
	                            "cn1Label=devices cn1=20 cn2Label=minDevices cn2=20 "
	                            "deviceCustomDate1Label=expiryDate deviceCustomDate1=1812585600000 "
	                            "flexString1Label=issuers flexString1=CA 1,CA 2 cs6Label="));
	free(got);

	/* a member of the wrong type is left to cs6 */
	got = cef("{\"alert\":{\"rule\":\"mqtt.shared_credentials\"},\"evidence\":{\"username\":7,"
	          "\"client_ids\":\"6\"}}");
	assert_non_null(got);
	assert_non_null(
	    strstr(got, "|5|suser=7 cs6Label=evidence cs6={\"username\":7,\"client_ids\":\"6\"}"));
	free(got);
}

static void test_invalid_records(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "", "not json", "[1,2]", "\"str\"", "{\"a\":1", "{\"a\":1}x", "{\"a\":1}{}", "{\"a\":\"\xff\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct iw_sbuf b = {0};
		iw_sbuf_add(&b, "keep", 4);
		assert_int_equal(iw_syslog_format(&b, &FMT, bad[i], strlen(bad[i])), IW_ERR);
		assert_int_equal(iw_syslog_cef(&b, bad[i], strlen(bad[i])), IW_ERR);
		assert_string_equal(b.buf, "keep");
		iw_sbuf_free(&b);
	}
	/* an empty object is a record with nothing known: every header field "-" */
	char *got = format(&FMT, "{}");
	assert_non_null(got);
	assert_string_equal(got, "<132>1 - sensor-a iotwatch 4242 - - CEF:0|iotwatch|iotwatch|" IW_VERSION
	                         "|-|-|5|cs6Label=evidence cs6={}");
	free(got);
	/* json-c takes whitespace after the object: a trailing newline never reaches MSG */
	struct iw_syslog_fmt fj = FMT;
	fj.json = true;
	got = format(&fj, "{\"a\":1}\r\n");
	assert_non_null(got);
	assert_string_equal(got, "<132>1 - sensor-a iotwatch 4242 - - {\"a\":1}  ");
	free(got);
	/* no hostname: "-" */
	struct iw_syslog_fmt f = FMT;
	f.hostname = "";
	got = format(&f, "{}");
	assert_non_null(got);
	assert_non_null(strstr(got, "<132>1 - - iotwatch 4242 - - CEF:"));
	free(got);
}

static void test_timestamps(void **state)
{
	(void)state;
	static const struct {
		const char *ts, *header; /* header NULL: "-" */
		const char *rt;          /* NULL: no rt */
	} cases[] = {
	    {"2026-11-22T07:45:50.091167Z", "2026-11-22T07:45:50.091167Z", "rt=1795333550091"},
	    {"2026-11-22T07:45:50Z", "2026-11-22T07:45:50Z", "rt=1795333550000"},
	    {"2026-11-22T09:45:50.5+02:00", "2026-11-22T09:45:50.5+02:00", "rt=1795333550500"},
	    {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "rt=0"},
	    {"2026-11-22T07:45:50.091167123Z", NULL, "rt=1795333550091"}, /* 9 digits: not 5424 */
	    {"2026-11-22T07:45:60Z", NULL, "rt=1795333560000"},           /* leap second */
	    {"2026-11-22t07:45:50Z", NULL, NULL},
	    {"2026-11-22T07:45:50", NULL, NULL},
	    {"2026-13-22T07:45:50Z", NULL, NULL},
	    {"2026-11-22", NULL, NULL},
	    {"yesterday", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char rec[256], want[128];
		snprintf(rec, sizeof(rec), "{\"timestamp\":\"%s\"}", cases[i].ts);
		char *got = format(&FMT, rec);
		assert_non_null(got);
		snprintf(want, sizeof(want), "<132>1 %s sensor-a ", cases[i].header ? cases[i].header : "-");
		assert_memory_equal(got, want, strlen(want));
		if (cases[i].rt)
			assert_non_null(strstr(got, cases[i].rt));
		else
			assert_null(strstr(got, "rt="));
		free(got);
	}
}

/* ---- check(): addresses and the other keys ---- */

static struct iw_exporters_cfg cfg_of(const char *address, const char *format, const char *facility,
                                      const char *hostname)
{
	struct iw_exporters_cfg c;
	memset(&c, 0, sizeof(c));
	c.syslog.address = (char *)address;
	c.syslog.format = (char *)format;
	c.syslog.facility = (char *)facility;
	c.syslog.hostname = (char *)hostname;
	return c;
}

static int check(const char *address, char *err, size_t errlen)
{
	struct iw_exporters_cfg c = cfg_of(address, "cef", "local0", "");
	err[0] = '\0';
	return EXP->check(&c, err, errlen);
}

static void test_check(void **state)
{
	(void)state;
	char err[256];
	static const char *const good[] = {
	    "udp://127.0.0.1:514", "tcp://127.0.0.1:601",          "tcp://[::1]:6514",
	    "udp://collector:1",   "tcp://siem.example.com:65535", "udp://my_host-1.local:514",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(check(good[i], err, sizeof(err)), IW_OK);
	static const char *const bad[] = {
	    "tcp:/x",
	    "udp://host",
	    "udp://host:",
	    "udp://:514",
	    "http://h:80",
	    "UDP://h:514",
	    "udp://[::1:514",
	    "udp://::1:514",
	    "udp://h:51a",
	    "udp://h:+514",
	    "udp://h:514/x",
	    "udp://h h:514",
	    "udp:// h:514",
	    "tcp://[::1]514",
	    "udp://user@h:514",
	    "udp://h:-1",
	    "",
	    "udp://[]:514",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(check(bad[i], err, sizeof(err)), IW_ERR);
		char want[128];
		snprintf(want, sizeof(want), "address \"%s\" is not udp://host:port or tcp://host:port",
		         bad[i]);
		assert_string_equal(err, want);
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(check("udp://h:0", err, sizeof(err)), IW_ERR);
	assert_string_equal(err, "address \"udp://h:0\": the port is not 1..65535");
	assert_int_equal(check("tcp://h:65536", err, sizeof(err)), IW_ERR);
	assert_string_equal(err, "address \"tcp://h:65536\": the port is not 1..65535");
	assert_int_equal(check("tcp://h:99999999999999999999", err, sizeof(err)), IW_ERR);
	assert_string_equal(err, "address \"tcp://h:99999999999999999999\": the port is not 1..65535");
	assert_int_equal(check("udp://[zz::1]:514", err, sizeof(err)), IW_ERR);
	assert_string_equal(err, "address \"udp://[zz::1]:514\": [zz::1] is not an IPv6 address");
	/* a zone id is not part of an IPv6 literal */
	assert_int_equal(check("udp://[fe80::1%eth0]:514", err, sizeof(err)), IW_ERR);
	assert_string_equal(err,
	                    "address \"udp://[fe80::1%eth0]:514\": [fe80::1%eth0] is not an IPv6 address");

	struct iw_syslog_addr a;
	assert_int_equal(iw_syslog_parse_address("tcp://[2001:db8::5]:601", &a, err, sizeof(err)), IW_OK);
	assert_true(a.tcp);
	assert_string_equal(a.host, "2001:db8::5");
	assert_string_equal(a.port, "601");
	assert_int_equal(iw_syslog_parse_address("udp://10.0.0.1:00514", &a, err, sizeof(err)), IW_OK);
	assert_false(a.tcp);
	assert_string_equal(a.port, "514");

	struct iw_exporters_cfg c = cfg_of("udp://h:514", "xml", "local0", "");
	assert_int_equal(EXP->check(&c, err, sizeof(err)), IW_ERR);
	assert_string_equal(err, "format \"xml\" is not cef or json");
	c = cfg_of("udp://h:514", "json", "local9", "");
	assert_int_equal(EXP->check(&c, err, sizeof(err)), IW_ERR);
	assert_string_equal(err, "facility \"local9\" is not a syslog facility (kern ... local7)");
	c = cfg_of("udp://h:514", "cef", "local3", "my sensor");
	assert_int_equal(EXP->check(&c, err, sizeof(err)), IW_ERR);
	assert_string_equal(err, "hostname \"my sensor\" is not 1..255 printable US-ASCII characters");
	c = cfg_of("udp://h:514", "json", "daemon", "sensor-7");
	assert_int_equal(EXP->check(&c, err, sizeof(err)), IW_OK);

	assert_string_equal(EXP->name, "syslog");
	assert_int_equal(EXP->kinds(&c), IW_REC_ALERT);
	assert_string_equal(EXP->configured(&c), "udp://h:514");
	c.syslog.address = (char *)"";
	assert_null(EXP->configured(&c));
	assert_null(EXP->configured(NULL));
}

/* ---- over loopback sockets ---- */

static int bound_socket(int type, int rcvbuf, unsigned short *port)
{
	int fd = socket(AF_INET, type, 0);
	assert_true(fd >= 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t sl = sizeof(sin);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static void *open_exp(const char *scheme, unsigned short port, const char *format)
{
	char addr[64], err[256] = "";
	snprintf(addr, sizeof(addr), "%s://127.0.0.1:%u", scheme, port);
	struct iw_exporters_cfg c = cfg_of(addr, format, "local0", "sensor-a");
	assert_int_equal(EXP->check(&c, err, sizeof(err)), IW_OK);
	struct iw_exp_open o = {.cfg = &c, .dest = addr, .kinds = IW_REC_ALERT};
	void *st = EXP->open(&o, err, sizeof(err));
	assert_non_null(st);
	return st;
}

/* One counter of the stats (a member of "drops" with drops.NAME). */
static int64_t stat(void *st, const char *name)
{
	struct iw_json j;
	iw_json_init(&j);
	iw_json_obj_begin(&j, NULL);
	EXP->stats(st, &j);
	iw_json_obj_end(&j);
	json_object *o = json_tokener_parse(j.buf), *v = NULL;
	assert_non_null(o);
	const char *dot = strchr(name, '.');
	if (dot != NULL) {
		char outer[32];
		snprintf(outer, sizeof(outer), "%.*s", (int)(dot - name), name);
		assert_true(json_object_object_get_ex(o, outer, &v));
		assert_true(json_object_object_get_ex(v, dot + 1, &v));
	} else {
		assert_true(json_object_object_get_ex(o, name, &v));
	}
	int64_t n = json_object_get_int64(v);
	json_object_put(o);
	iw_json_free(&j);
	return n;
}

static void test_udp(void **state)
{
	(void)state;
	unsigned short port;
	int rx = bound_socket(SOCK_DGRAM, 0, &port);
	void *st = open_exp("udp", port, "cef");
	assert_int_equal(EXP->write(st, IW_REC_ALERT, "scanner", WILDCARD, strlen(WILDCARD)), IW_OK);
	/* not an alert: not sent, not counted */
	assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, WILDCARD, strlen(WILDCARD)), IW_OK);
	assert_int_equal(EXP->write(st, IW_REC_ALERT, NULL, "{oops", 5), IW_ERR);

	char buf[70000];
	ssize_t n = recv(rx, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	struct iw_syslog_fmt f = {.facility = 16, .hostname = "sensor-a", .procid = (unsigned long)getpid()};
	char *want = format(&f, WILDCARD);
	assert_string_equal(buf, want); /* one message, no framing, no trailer */
	free(want);

	/* a datagram over 65507 bytes is dropped as oversize */
	size_t big = 70000;
	char *rec = malloc(big + 64);
	assert_non_null(rec);
	int h = snprintf(rec, big + 64, "{\"alert\":{\"message\":\"");
	memset(rec + h, 'x', big);
	memcpy(rec + h + big, "\"}}", 4);
	assert_int_equal(EXP->write(st, IW_REC_ALERT, NULL, rec, strlen(rec)), IW_ERR);
	free(rec);

	assert_int_equal(stat(st, "sent"), 1);
	assert_int_equal(stat(st, "dropped"), 2);
	assert_int_equal(stat(st, "drops.oversize"), 1);
	assert_int_equal(stat(st, "drops.invalid"), 1);
	assert_int_equal(EXP->finish(st), 2);
	EXP->close(st);
	close(rx);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int accept_within(int lfd, double seconds, void *st)
{
	double end = now_s() + seconds;
	while (now_s() < end) {
		if (st != NULL)
			EXP->tick(st);
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		if (poll(&p, 1, 20) == 1)
			return accept(lfd, NULL, NULL);
	}
	return -1;
}

/* Reads from fd while ticking the exporter, until `frames` octet-counted frames arrived
 * (or 5 s). Checks each frame is whole and a syslog message; returns how many came, and
 * the first message in *first_msg (the caller frees it). */
static unsigned read_frames(int fd, void *st, unsigned frames, char **first_msg)
{
	size_t cap = 1 << 20, len = 0, at = 0; /* buf[0..at) holds whole frames */
	char *buf = malloc(cap);
	assert_non_null(buf);
	unsigned got = 0;
	double end = now_s() + 5;
	while (got < frames && now_s() < end) {
		EXP->tick(st);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 20) != 1)
			continue;
		if (cap - len < 65536) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		assert_true(n > 0);
		len += (size_t)n;
		while (at < len) {
			size_t i = at, msglen = 0;
			while (i < len && buf[i] >= '0' && buf[i] <= '9')
				msglen = msglen * 10 + (size_t)(buf[i++] - '0');
			if (i == len)
				break;
			assert_true(i > at); /* a frame starts with its length */
			assert_int_equal(buf[i], ' ');
			if (len - i - 1 < msglen)
				break;
			assert_memory_equal(buf + i + 1, "<13", 3); /* PRI 13x: local0 */
			assert_null(memchr(buf + i + 1, '\n', msglen));
			if (got == 0 && first_msg != NULL) {
				*first_msg = malloc(msglen + 1);
				assert_non_null(*first_msg);
				memcpy(*first_msg, buf + i + 1, msglen);
				(*first_msg)[msglen] = '\0';
			}
			got++;
			at = i + 1 + msglen;
		}
	}
	free(buf);
	return got;
}

static void test_tcp_octet_counting(void **state)
{
	(void)state;
	unsigned short port;
	int lfd = bound_socket(SOCK_STREAM, 0, &port);
	void *st = open_exp("tcp", port, "json");
	int c = accept_within(lfd, 2, st);
	assert_true(c >= 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(EXP->write(st, IW_REC_ALERT, NULL, WILDCARD, strlen(WILDCARD)), IW_OK);
	char *first = NULL;
	assert_int_equal(read_frames(c, st, 3, &first), 3);
	struct iw_syslog_fmt f = {
	    .facility = 16, .hostname = "sensor-a", .procid = (unsigned long)getpid(), .json = true};
	char *want = format(&f, WILDCARD);
	assert_string_equal(first, want);
	free(want);
	free(first);
	assert_int_equal(stat(st, "sent"), 3);
	assert_int_equal(stat(st, "connected"), 1);
	assert_int_equal(EXP->finish(st), 0);
	EXP->close(st);
	close(c);
	close(lfd);
}

/* A record of about 1.3 KB, different each time. */
static size_t big_record(char *out, size_t outlen, unsigned i)
{
	char pad[1100];
	memset(pad, 'a' + (int)(i % 26), sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	return (size_t)snprintf(out, outlen,
	                        "{\"timestamp\":\"2026-11-22T07:45:50.091167Z\",\"flow_id\":%u,"
	                        "\"alert\":{\"rule\":\"mqtt.topic_violation\",\"severity\":\"medium\","
	                        "\"message\":\"m%u\"},\"evidence\":{\"topic\":\"%s\"}}",
	                        i, i, pad);
}

/* A receiver that accepts and never reads: write() never waits, what does not fit is
 * dropped and counted, and every record is sent, queued or dropped. */
static void test_tcp_receiver_never_reads(void **state)
{
	(void)state;
	unsigned short port;
	int lfd = bound_socket(SOCK_STREAM, 4096, &port);
	void *st = open_exp("tcp", port, "cef");
	int c = accept_within(lfd, 2, st);
	assert_true(c >= 0);
	char rec[2048];
	unsigned n = 8000; /* about 10 MB of frames: more than 4 MiB and the socket buffers */
	double t0 = now_s();
	unsigned ok = 0;
	for (unsigned i = 0; i < n; i++)
		ok += EXP->write(st, IW_REC_ALERT, NULL, rec, big_record(rec, sizeof(rec), i)) == IW_OK;
	double took = now_s() - t0;
	assert_true(took < 10.0); /* never blocked (ASan makes formatting slow, not blocking) */
	int64_t sent = stat(st, "sent"), queued = stat(st, "queued"), full = stat(st, "drops.buffer_full");
	assert_true(full > 0);
	assert_true(queued > 0);
	assert_int_equal(stat(st, "dropped"), full);
	assert_int_equal((int64_t)ok, sent + queued);
	assert_int_equal(sent + queued + full, (int64_t)n);
	EXP->close(st);
	close(c);
	close(lfd);
}

/* The connection is reset while frames wait: one reconnect, and the new connection
 * starts with a whole frame (the one cut short is sent again from its start). */
static void test_tcp_reconnect_whole_frames(void **state)
{
	(void)state;
	unsigned short port;
	int lfd = bound_socket(SOCK_STREAM, 4096, &port);
	void *st = open_exp("tcp", port, "cef");
	int c1 = accept_within(lfd, 2, st);
	assert_true(c1 >= 0);
	char rec[2048];
	unsigned n = 600; /* about 800 KB: more than the first connection takes unread */
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(EXP->write(st, IW_REC_ALERT, NULL, rec, big_record(rec, sizeof(rec), i)),
		                 IW_OK);
	int64_t sent1 = stat(st, "sent"), queued1 = stat(st, "queued");
	assert_true(queued1 > 0);
	assert_int_equal(sent1 + queued1, n);

	/* closed with unread data: a reset */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(c1, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c1);
	int c2 = accept_within(lfd, 5, st); /* the backoff's first second, then a connect */
	assert_true(c2 >= 0);
	char *first = NULL;
	unsigned got = read_frames(c2, st, (unsigned)queued1, &first);
	assert_int_equal(got, (unsigned)queued1);
	assert_non_null(first);
	assert_memory_equal(first, "<132>1 2026-11-22T07:45:50.091167Z sensor-a iotwatch ", 53);
	free(first);
	assert_int_equal(stat(st, "reconnects"), 1);
	assert_int_equal(stat(st, "sent"), n);
	assert_int_equal(stat(st, "dropped"), 0);
	assert_int_equal(EXP->finish(st), 0);
	EXP->close(st);
	close(c2);
	close(lfd);
}

/* Nobody listening: open() still succeeds (it reconnects later), records wait, and at
 * finish() those still waiting are dropped as unsent. */
static void test_tcp_nobody_listening(void **state)
{
	(void)state;
	unsigned short port;
	int lfd = bound_socket(SOCK_STREAM, 0, &port);
	close(lfd); /* the port is free now */
	void *st = open_exp("tcp", port, "cef");
	assert_int_equal(EXP->write(st, IW_REC_ALERT, NULL, WILDCARD, strlen(WILDCARD)), IW_OK);
	assert_int_equal(stat(st, "queued"), 1);
	assert_int_equal(stat(st, "connected"), 0);
	double t0 = now_s();
	assert_int_equal(EXP->finish(st), 1);
	assert_true(now_s() - t0 < 8.0);
	assert_int_equal(stat(st, "drops.unsent"), 1);
	assert_int_equal(stat(st, "sent"), 0);
	EXP->close(st);
}

static void test_open_errors(void **state)
{
	(void)state;
	char err[256] = "";
	struct iw_exporters_cfg c = cfg_of("udp://no-such-host.invalid:514", "cef", "local0", "");
	struct iw_exp_open o = {.cfg = &c, .dest = c.syslog.address, .kinds = IW_REC_ALERT};
	assert_null(EXP->open(&o, err, sizeof(err)));
	assert_memory_equal(err, "udp://no-such-host.invalid:514: cannot resolve no-such-host.invalid: ", 68);
	assert_null(strchr(err, '\n'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_header),
	    cmocka_unit_test(test_escape_value),
	    cmocka_unit_test(test_severities),
	    cmocka_unit_test(test_pri),
	    cmocka_unit_test(test_msgid),
	    cmocka_unit_test(test_hostname),
	    cmocka_unit_test(test_frame_cef),
	    cmocka_unit_test(test_frame_json),
	    cmocka_unit_test(test_cef_escaping),
	    cmocka_unit_test(test_cef_ipv6),
	    cmocka_unit_test(test_cef_rules),
	    cmocka_unit_test(test_invalid_records),
	    cmocka_unit_test(test_timestamps),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_udp),
	    cmocka_unit_test(test_tcp_octet_counting),
	    cmocka_unit_test(test_tcp_receiver_never_reads),
	    cmocka_unit_test(test_tcp_reconnect_whole_frames),
	    cmocka_unit_test(test_tcp_nobody_listening),
	    cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
