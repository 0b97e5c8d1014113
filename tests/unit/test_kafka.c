/* test_kafka.c - the Kafka exporter's configuration (exporters/kafka.c): when it is on,
 * what it takes, and what check() refuses; and, against librdkafka's mock cluster in this
 * process, that finish() keeps in the spool what the brokers did not take. The delivery
 * itself is tested end to end in tests/integration/test_kafka.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>

#include "../../exporters/exporter.h"
#include "../../exporters/spool.h"
#include "../../parsers/cursor.h"

extern const struct iw_exporter iw_exp_kafka;

static struct iw_exporters_cfg cfg(const char *brokers, const char *events_topic)
{
	struct iw_exporters_cfg c;
	memset(&c, 0, sizeof(c));
	c.kafka.brokers = (char *)brokers;
	c.kafka.topic = (char *)"iotwatch.alerts";
	c.kafka.events_topic = (char *)events_topic;
	c.kafka.spool_dir = (char *)"";
	c.kafka.flush_timeout = 1;
	return c;
}

static const char *check(struct iw_exporters_cfg *c)
{
	static char err[512];
	err[0] = '\0';
	return iw_exp_kafka.check(c, err, sizeof(err)) == IW_OK ? NULL : err;
}

static void test_on_and_kinds(void **state)
{
	(void)state;
	struct iw_exporters_cfg c = cfg("", "");
	assert_null(iw_exp_kafka.configured(&c));
	c = cfg("k1:9092", "");
	assert_string_equal(iw_exp_kafka.configured(&c), "k1:9092");
	assert_int_equal(iw_exp_kafka.kinds(&c), IW_REC_ALERT);
	c = cfg("k1:9092", "iotwatch.events");
	assert_int_equal(iw_exp_kafka.kinds(&c), IW_REC_ALERT | IW_REC_EVENT);
}

static void test_brokers(void **state)
{
	(void)state;
	const char *good[] = {"k1:9092", "k1:9092,k2:9093", "SSL://k1:9093", "[::1]:9092", "10.0.0.1:1"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct iw_exporters_cfg c = cfg(good[i], "");
		const char *e = check(&c);
		if (e)
			fail_msg("%s: %s", good[i], e);
	}
	struct {
		const char *b, *err;
	} bad[] = {
	    {"k1", "brokers \"k1\": \"k1\" is not host:port"},
	    {"k1:", "brokers \"k1:\": \"k1:\" is not host:port"},
	    {":9092", "brokers \":9092\": \":9092\" is not host:port"},
	    {"k1:0", "brokers \"k1:0\": \"k1:0\" is not host:port"},
	    {"k1:65536", "brokers \"k1:65536\": \"k1:65536\" is not host:port"},
	    {"k1:9092,,k2:9092", "brokers \"k1:9092,,k2:9092\": an empty or too long entry"},
	    {"k1:90x2", "brokers \"k1:90x2\": \"k1:90x2\" is not host:port"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct iw_exporters_cfg c = cfg(bad[i].b, "");
		const char *e = check(&c);
		assert_non_null(e);
		assert_string_equal(e, bad[i].err);
	}
	struct iw_exporters_cfg c = cfg("k1:9092", "");
	c.kafka.topic = (char *)"";
	assert_string_equal(check(&c), "topic is empty");
}

static void test_properties(void **state)
{
	(void)state;
	char *keys[2], *vals[2];
	struct iw_exporters_cfg c = cfg("k1:9092", "");
	c.kafka.property_keys = keys;
	c.kafka.property_values = vals;
	c.kafka.n_properties = 1;

	keys[0] = (char *)"compression.type";
	vals[0] = (char *)"zstd";
	assert_null(check(&c));
	vals[0] = (char *)"nonsense";
	assert_non_null(strstr(check(&c), "properties.compression.type: "));
	keys[0] = (char *)"no.such.property";
	assert_string_equal(check(&c), "properties.no.such.property: No such configuration property: "
	                               "\"no.such.property\"");
	/* secrets from the environment */
	keys[0] = (char *)"sasl.password";
	vals[0] = (char *)"${IW_TEST_KAFKA_SECRET}";
	unsetenv("IW_TEST_KAFKA_SECRET");
	assert_string_equal(check(&c),
	                    "properties.sasl.password: environment variable IW_TEST_KAFKA_SECRET is not set");
	setenv("IW_TEST_KAFKA_SECRET", "s3cret", 1);
	assert_null(check(&c));
	/* "${" without the closing brace is a plain value */
	vals[0] = (char *)"${NOT_A_REFERENCE";
	assert_null(check(&c));
	/* acks: only all while idempotent */
	keys[0] = (char *)"acks";
	vals[0] = (char *)"1";
	assert_string_equal(check(&c), "properties.acks: must be all while enable.idempotence is true");
	vals[0] = (char *)"-1";
	assert_null(check(&c));
	c.kafka.n_properties = 2;
	vals[0] = (char *)"1";
	keys[1] = (char *)"enable.idempotence";
	vals[1] = (char *)"false";
	assert_null(check(&c));
}

/* Brokers that never answer: what write() took is in the spool after finish(). */
static void test_finish_keeps_in_spool(void **state)
{
	(void)state;
	char dir[] = "/tmp/iw-kafka-unit.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct iw_exporters_cfg c = cfg("127.0.0.1:1", "iotwatch.events");
	c.kafka.spool_dir = dir;
	struct iw_exp_open o = {.cfg = &c, .dest = c.kafka.brokers, .kinds = IW_REC_ALERT | IW_REC_EVENT};
	char err[256] = "";
	void *k = iw_exp_kafka.open(&o, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(iw_exp_kafka.write(k, IW_REC_ALERT, "dev-1", "{\"a\":1}", 7), IW_OK);
	assert_int_equal(iw_exp_kafka.write(k, IW_REC_EVENT, NULL, "{\"e\":2}", 7), IW_OK);
	assert_int_equal(iw_exp_kafka.write(k, IW_REC_STATS, NULL, "{\"s\":3}", 7), IW_OK); /* not taken */
	assert_int_equal(iw_exp_kafka.finish(k), 0);                                        /* none lost */
	iw_exp_kafka.close(k);

	struct iw_spool *sp = iw_spool_open(dir, 0, 10, err, sizeof(err));
	assert_non_null(sp);
	struct iw_spool_rec r;
	int seen = 0;
	while (iw_spool_next(sp, &r) == IW_OK) {
		if (r.kind == IW_REC_ALERT) {
			assert_int_equal(r.key_len, 5);
			assert_memory_equal(r.key, "dev-1", 5);
			assert_memory_equal(r.val, "{\"a\":1}", 7);
		} else {
			assert_int_equal(r.kind, IW_REC_EVENT);
			assert_null(r.key);
			assert_memory_equal(r.val, "{\"e\":2}", 7);
		}
		seen |= r.kind;
		iw_spool_ack(sp, r.id);
	}
	assert_int_equal(seen, IW_REC_ALERT | IW_REC_EVENT);
	assert_true(iw_spool_empty(sp));
	iw_spool_close(sp);
	char p[128];
	snprintf(p, sizeof(p), "%s/lock", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/cursor", dir);
	unlink(p);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_on_and_kinds),
	    cmocka_unit_test(test_brokers),
	    cmocka_unit_test(test_properties),
	    cmocka_unit_test(test_finish_keeps_in_spool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
