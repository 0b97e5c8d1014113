/* kafka-mock.c - a Kafka cluster on loopback for the tests: librdkafka's mock cluster
 * (rdkafka_mock.h), which speaks the Kafka protocol to real clients, driven from stdin.
 *
 *   kafka-mock BROKERS TOPIC:PARTITIONS ...
 *
 * Prints "bootstrap HOST:PORT,..." once the brokers listen, then reads one command a
 * line and answers "ok" or "error <why>":
 *
 *   down ID                      broker ID (1..BROKERS) drops its connections and refuses new ones
 *   up ID                        broker ID takes connections again
 *   leader TOPIC PARTITION ID    broker ID becomes the partition's leader
 *   quit                         (or end of input) stops the cluster
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static int answer(rd_kafka_resp_err_t err)
{
	if (err)
		printf("error %s\n", rd_kafka_err2str(err));
	else
		printf("ok\n");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: kafka-mock BROKERS TOPIC:PARTITIONS ...\n");
		return 2;
	}
	int nb = atoi(argv[1]);
	if (nb < 1 || nb > 16) {
		fprintf(stderr, "kafka-mock: BROKERS must be 1..16\n");
		return 2;
	}
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "kafka-mock: %s\n", err);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nb);
	if (!mc) {
		fprintf(stderr, "kafka-mock: cannot start the mock cluster\n");
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		char topic[256];
		int parts;
		if (sscanf(argv[i], "%255[^:]:%d", topic, &parts) != 2 || parts < 1) {
			fprintf(stderr, "kafka-mock: \"%s\" is not TOPIC:PARTITIONS\n", argv[i]);
			return 2;
		}
		rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, parts, nb < 3 ? nb : 3);
		if (e) {
			fprintf(stderr, "kafka-mock: topic %s: %s\n", topic, rd_kafka_err2str(e));
			return 1;
		}
	}
	printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	char line[512];
	while (fgets(line, sizeof(line), stdin)) {
		char topic[256];
		int id, part;
		if (sscanf(line, "down %d", &id) == 1)
			answer(rd_kafka_mock_broker_set_down(mc, id));
		else if (sscanf(line, "up %d", &id) == 1)
			answer(rd_kafka_mock_broker_set_up(mc, id));
		else if (sscanf(line, "leader %255s %d %d", topic, &part, &id) == 3)
			answer(rd_kafka_mock_partition_set_leader(mc, topic, part, id));
		else if (strncmp(line, "quit", 4) == 0)
			break;
		else {
			printf("error unknown command\n");
			fflush(stdout);
		}
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
