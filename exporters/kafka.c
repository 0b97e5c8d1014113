/* kafka.c - alerts (and events) to Kafka with librdkafka, losing nothing (DESIGN §8).
 *
 * One idempotent producer (enable.idempotence=true, acks=all): alerts go to
 * exporters.kafka.topic, events to events_topic when it is set; the message key is the
 * device id, so a device's records stay in order in one partition; the value is the JSON
 * record the jsonl exporter writes. Any librdkafka property can be given in
 * exporters.kafka.properties; a value "${NAME}" is read from the environment variable
 * NAME, so secrets stay out of the file.
 *
 * Where records wait, in order of preference:
 *   1. librdkafka's queue. Short outages (a broker restarting, a leader moving) are
 *      ridden out there, with librdkafka's retries.
 *   2. The spool (spool.h), when exporters.kafka.spool_dir is set. A record goes there
 *      when librdkafka's queue is full, when its delivery failed (message.timeout.ms
 *      passed), and, when every broker is down, the whole queue is moved there (purged
 *      from librdkafka: those messages were never sent, so nothing is duplicated) and
 *      new records follow it. While the spool holds anything, new records are appended
 *      to it, so order is kept; it is sent first, oldest record first, and deleted as
 *      Kafka acknowledges it. A sensor killed with SIGKILL finds its spool on restart.
 * At the end of a run the producer is flushed for up to flush_timeout; what is still
 * undelivered is purged into the spool. Without a spool_dir such records are lost, and
 * counted, and the sensor exits 1.
 *
 * Everything here runs on the packet thread: delivery reports and errors arrive through
 * rd_kafka_poll(rk, 0), called every POLL_EVERY records and from tick(). */
#include "../parsers/alloc.h"
#include "exporter.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <librdkafka/rdkafka.h>

#include "../parsers/cursor.h"
#include "json.h"
#include "spool.h"
#include "../parsers/clock.h"

#define POLL_EVERY   256  /* records between rd_kafka_poll calls */
#define DRAIN_WINDOW 8192 /* spooled records in flight at once while brokers are up */
#define DRAIN_BATCH  2048 /* spooled records handed to librdkafka per call */
#define REASON_MAX   256

struct kafka {
	rd_kafka_t *rk;
	rd_kafka_topic_t *alerts, *events; /* events NULL: events not taken */
	struct iw_spool *sp;               /* NULL: no spool_dir */
	char *brokers;
	uint64_t flush_ms;
	unsigned since_poll;
	bool down;         /* every broker is unreachable (or a fatal error) */
	bool purge_wanted; /* move librdkafka's queue into the spool at the next chance */
	bool fatal;
	bool said_down;
	char reason[REASON_MAX]; /* the last error librdkafka gave */
	/* counters */
	uint64_t produced;        /* records handed to librdkafka */
	uint64_t delivered;       /* acknowledged by Kafka */
	uint64_t failed;          /* delivery reports with an error (other than a purge) */
	uint64_t retried;         /* spooled records sent again */
	uint64_t spooled;         /* records written to the spool */
	uint64_t lost;            /* neither delivered nor kept */
	uint64_t queue_full;      /* times librdkafka's queue refused a record */
	uint64_t request_retries; /* produce requests librdkafka retried (its statistics) */
};

/* ---- configuration ---- */

static const char *kafka_configured(const struct iw_exporters_cfg *cfg)
{
	if (!cfg || !cfg->kafka.brokers || !cfg->kafka.brokers[0])
		return NULL;
	return cfg->kafka.brokers;
}

static unsigned kafka_kinds(const struct iw_exporters_cfg *cfg)
{
	bool ev = cfg->kafka.events_topic && cfg->kafka.events_topic[0];
	return IW_REC_ALERT | (ev ? IW_REC_EVENT : 0u);
}

/* A property value: "${NAME}" is the environment variable NAME. NULL when it is unset
 * (why says so). */
static const char *prop_value(const char *v, char *why, size_t whylen)
{
	size_t n = strlen(v);
	if (n < 4 || v[0] != '$' || v[1] != '{' || v[n - 1] != '}')
		return v;
	char name[128];
	if (n - 3 >= sizeof(name)) {
		snprintf(why, whylen, "environment variable name in \"%s\" is too long", v);
		return NULL;
	}
	memcpy(name, v + 2, n - 3);
	name[n - 3] = '\0';
	const char *e = getenv(name);
	if (!e)
		snprintf(why, whylen, "environment variable %s is not set", name);
	return e;
}

/* The producer's configuration: our settings, then the user's properties over them.
 * NULL with one line in err when a property is unknown or has a bad value. */
static rd_kafka_conf_t *make_conf(const struct iw_exporters_cfg *cfg, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char why[512];
	static const char *const ours[][2] = {
	    {"enable.idempotence", "true"},     {"acks", "all"},           {"linger.ms", "20"},
	    {"statistics.interval.ms", "5000"}, {"client.id", "iotwatch"},
	};
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (rd_kafka_conf_set(conf, ours[i][0], ours[i][1], why, sizeof(why)) != RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "%s", why);
			goto fail;
		}
	if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.brokers, why, sizeof(why)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "brokers: %s", why);
		goto fail;
	}
	bool idem = true;
	const char *acks = "all";
	for (unsigned i = 0; i < cfg->kafka.n_properties; i++) {
		if (!strcmp(cfg->kafka.property_keys[i], "enable.idempotence"))
			idem = !strcmp(cfg->kafka.property_values[i], "true");
		if (!strcmp(cfg->kafka.property_keys[i], "acks"))
			acks = cfg->kafka.property_values[i];
	}
	if (idem && strcmp(acks, "all") && strcmp(acks, "-1")) {
		snprintf(err, errlen, "properties.acks: must be all while enable.idempotence is true");
		goto fail;
	}
	for (unsigned i = 0; i < cfg->kafka.n_properties; i++) {
		const char *k = cfg->kafka.property_keys[i];
		const char *v = prop_value(cfg->kafka.property_values[i], why, sizeof(why));
		if (!v || rd_kafka_conf_set(conf, k, v, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "properties.%s: %s", k, why);
			goto fail;
		}
	}
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* host:port[,host:port...], each port 1..65535 (a scheme like SSL:// is allowed). */
static bool brokers_ok(const char *b, char *why, size_t whylen)
{
	const char *p = b;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char one[512];
		if (n == 0 || n >= sizeof(one)) {
			snprintf(why, whylen, "brokers \"%s\": an empty or too long entry", b);
			return false;
		}
		memcpy(one, p, n);
		one[n] = '\0';
		char *colon = strrchr(one, ':');
		char *rest = NULL;
		long port = colon ? strtol(colon + 1, &rest, 10) : 0;
		if (!colon || colon == one || !rest || *rest || port < 1 || port > 65535 ||
		    colon[1] == '\0') {
			snprintf(why, whylen, "brokers \"%s\": \"%s\" is not host:port", b, one);
			return false;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return true;
}

static int kafka_check(const struct iw_exporters_cfg *cfg, char *err, size_t errlen)
{
	if (!brokers_ok(cfg->kafka.brokers, err, errlen))
		return IW_ERR;
	if (!cfg->kafka.topic || !cfg->kafka.topic[0]) {
		snprintf(err, errlen, "topic is empty");
		return IW_ERR;
	}
	rd_kafka_conf_t *conf = make_conf(cfg, err, errlen);
	if (!conf)
		return IW_ERR;
	rd_kafka_conf_destroy(conf);
	return IW_OK;
}

/* ---- callbacks (served by rd_kafka_poll on our thread) ---- */

static void say_down(struct kafka *k)
{
	if (k->said_down)
		return;
	k->said_down = true;
	fprintf(stderr, "iotwatch: kafka %s: brokers unreachable (%s); %s\n", k->brokers,
	        k->reason[0] ? k->reason : "no reason given",
	        k->sp ? "records go to the spool until they return"
	              : "records wait in memory (no spool_dir)");
}

/* A record that could not be delivered now: into the spool, or lost. */
static void keep(struct kafka *k, int kind, const void *key, size_t klen, const void *val, size_t vlen)
{
	if (k->sp && iw_spool_append(k->sp, (uint8_t)kind, key, klen, val, vlen) == IW_OK) {
		k->spooled++;
		return;
	}
	k->lost++;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka *k = opaque;
	(void)rk;
	uint64_t id1 = (uint64_t)(uintptr_t)m->_private; /* spool id + 1; 0: sent directly */
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		k->delivered++;
		if (k->down && !k->fatal) {
			k->down = false;
			if (k->said_down)
				fprintf(stderr, "iotwatch: kafka %s: brokers are back\n", k->brokers);
			k->said_down = false;
		}
		if (id1 && k->sp)
			iw_spool_ack(k->sp, id1 - 1);
		return;
	}
	bool purged = m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
	if (!purged) {
		k->failed++;
		snprintf(k->reason, sizeof(k->reason), "%s", rd_kafka_err2str(m->err));
	}
	if (id1 && k->sp) {
		iw_spool_fail(k->sp, id1 - 1); /* it stays in the spool and goes out again first */
		return;
	}
	keep(k, m->rkt == k->alerts ? IW_REC_ALERT : IW_REC_EVENT, m->key, m->key_len, m->payload, m->len);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka *k = opaque;
	/* "1/1 brokers are down" says less than the connection error before it */
	if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || !k->reason[0])
		snprintf(k->reason, sizeof(k->reason), "%s", reason);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[REASON_MAX];
		rd_kafka_fatal_error(rk, why, sizeof(why));
		snprintf(k->reason, sizeof(k->reason), "%s", why);
		k->fatal = k->down = true;
		k->purge_wanted = true;
		fprintf(stderr, "iotwatch: kafka %s: fatal error: %s\n", k->brokers, why);
		k->said_down = true;
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		k->down = true;
		k->purge_wanted = k->sp != NULL;
		say_down(k);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL ||
	    err == RD_KAFKA_RESP_ERR__RESOLVE || err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
		k->down = true;
		say_down(k);
	}
}

/* librdkafka's statistics: the produce requests it retried, summed over brokers. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct kafka *k = opaque;
	(void)rk;
	(void)len;
	json_object *root = json_tokener_parse(json), *brokers;
	if (root && json_object_object_get_ex(root, "brokers", &brokers)) {
		uint64_t sum = 0;
		json_object_object_foreach(brokers, name, b)
		{
			json_object *r;
			(void)name;
			if (json_object_object_get_ex(b, "txretries", &r))
				sum += (uint64_t)json_object_get_int64(r);
		}
		if (sum > k->request_retries)
			k->request_retries = sum;
	}
	json_object_put(root);
	return 0; /* librdkafka frees json */
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* errors reach on_error, which says what matters once; the log repeats them */
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

/* ---- sending ---- */

static int produce(struct kafka *k, rd_kafka_topic_t *t, const void *key, size_t klen, const void *val,
                   size_t vlen, void *opaque)
{
	if (rd_kafka_produce(t, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)(uintptr_t)val, vlen, key,
	                     klen, opaque) == 0) {
		k->produced++;
		return IW_OK;
	}
	if (rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		k->queue_full++;
	return IW_ERR;
}

/* Hands spooled records to librdkafka: many while brokers are up, one (a probe that
 * waits in librdkafka until a broker answers) while they are down. */
static void drain(struct kafka *k)
{
	if (!k->sp || k->fatal)
		return;
	unsigned window = k->down ? 1 : DRAIN_WINDOW;
	struct iw_spool_rec r;
	for (unsigned n = 0; n < DRAIN_BATCH && iw_spool_outstanding(k->sp) < window; n++) {
		if (iw_spool_next(k->sp, &r) != IW_OK)
			break;
		rd_kafka_topic_t *t = r.kind == IW_REC_EVENT && k->events ? k->events : k->alerts;
		if (produce(k, t, r.key, r.key_len, r.val, r.val_len, (void *)(uintptr_t)(r.id + 1)) !=
		    IW_OK) {
			iw_spool_unread(k->sp);
			break;
		}
		k->retried++;
	}
}

static void serve(struct kafka *k, int timeout_ms)
{
	rd_kafka_poll(k->rk, timeout_ms);
	if (k->purge_wanted) {
		k->purge_wanted = false;
		/* never sent: safe to take back; their delivery reports put them in the spool */
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_NON_BLOCKING);
		rd_kafka_poll(k->rk, 0);
	}
	drain(k);
}

static int kafka_write(void *vst, enum iw_rec_kind kind, const char *key, const char *rec, size_t len)
{
	struct kafka *k = vst;
	rd_kafka_topic_t *t = kind == IW_REC_ALERT ? k->alerts : kind == IW_REC_EVENT ? k->events : NULL;
	if (!t)
		return IW_OK; /* a kind this exporter does not take */
	size_t klen = key ? strlen(key) : 0;
	if (++k->since_poll >= POLL_EVERY) {
		k->since_poll = 0;
		serve(k, 0);
	}
	/* while the spool holds records, new ones queue behind them */
	bool to_spool = k->sp && (k->down || !iw_spool_empty(k->sp));
	if (!to_spool && produce(k, t, key, klen, rec, len, NULL) == IW_OK)
		return IW_OK;
	uint64_t lost = k->lost;
	keep(k, kind, key, klen, rec, len);
	if (to_spool)
		drain(k);
	return k->lost == lost ? IW_OK : IW_ERR;
}

static int kafka_flush(void *vst)
{
	serve(vst, 0);
	return IW_OK;
}

static void kafka_tick(void *vst)
{
	struct kafka *k = vst;
	serve(k, 0);
	if (k->sp)
		iw_spool_sync(k->sp);
}

/* Delivers what it can within flush_timeout, then keeps the rest in the spool. */
static uint64_t kafka_finish(void *vst)
{
	struct kafka *k = vst;
	uint64_t until = iw_mono_ms() + k->flush_ms;
	for (;;) {
		serve(k, 50);
		bool spool_done = !k->sp || iw_spool_empty(k->sp) || k->down;
		if ((rd_kafka_outq_len(k->rk) == 0 && spool_done) || iw_mono_ms() >= until)
			break;
	}
	if (rd_kafka_outq_len(k->rk) > 0) {
		/* whatever is left: back into the spool (in-flight ones may arrive twice) */
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		uint64_t stop = iw_mono_ms() + 2000;
		while (rd_kafka_outq_len(k->rk) > 0 && iw_mono_ms() < stop)
			rd_kafka_poll(k->rk, 50);
		rd_kafka_poll(k->rk, 0);
	}
	if (k->sp) {
		iw_spool_sync(k->sp);
		struct iw_spool_stats ss;
		iw_spool_stats(k->sp, &ss);
		if (!iw_spool_empty(k->sp))
			fprintf(stderr,
			        "iotwatch: kafka %s: undelivered records kept in the spool (%" PRIu64
			        " bytes); they are sent first on the next start\n",
			        k->brokers, ss.bytes);
	}
	return k->lost;
}

/* ---- life cycle ---- */

static void *kafka_open(const struct iw_exp_open *o, char *err, size_t errlen)
{
	const struct iw_exporters_cfg *cfg = o->cfg;
	rd_kafka_conf_t *conf = make_conf(cfg, err, errlen);
	if (!conf)
		return NULL;
	struct kafka *k = iw_calloc(1, sizeof(*k));
	size_t blen = strlen(cfg->kafka.brokers) + 1;
	k->brokers = iw_malloc(blen);
	memcpy(k->brokers, cfg->kafka.brokers, blen);
	k->flush_ms = cfg->kafka.flush_timeout * 1000;
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	rd_kafka_conf_set_log_cb(conf, on_log);
	char why[512];
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!k->rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "%s", why);
		free(k->brokers);
		free(k);
		return NULL;
	}
	k->alerts = rd_kafka_topic_new(k->rk, cfg->kafka.topic, NULL);
	if ((o->kinds & IW_REC_EVENT) && cfg->kafka.events_topic && cfg->kafka.events_topic[0])
		k->events = rd_kafka_topic_new(k->rk, cfg->kafka.events_topic, NULL);
	if (cfg->kafka.spool_dir && cfg->kafka.spool_dir[0]) {
		k->sp = iw_spool_open(cfg->kafka.spool_dir, cfg->kafka.spool_max, DRAIN_WINDOW, err, errlen);
		if (!k->sp) {
			if (k->events)
				rd_kafka_topic_destroy(k->events);
			rd_kafka_topic_destroy(k->alerts);
			rd_kafka_destroy(k->rk);
			free(k->brokers);
			free(k);
			return NULL;
		}
		drain(k); /* what an earlier run left is sent first */
	}
	return k;
}

static void kafka_stats(void *vst, struct iw_json *j)
{
	struct kafka *k = vst;
	rd_kafka_poll(k->rk, 0);
	iw_json_uint(j, "produced", k->produced);
	iw_json_uint(j, "delivered", k->delivered);
	iw_json_uint(j, "failed", k->failed);
	iw_json_uint(j, "retried", k->retried);
	iw_json_uint(j, "request_retries", k->request_retries);
	iw_json_uint(j, "queue_full", k->queue_full);
	iw_json_uint(j, "in_queue", (uint64_t)rd_kafka_outq_len(k->rk));
	iw_json_uint(j, "spooled", k->spooled);
	iw_json_uint(j, "lost", k->lost);
	iw_json_bool(j, "brokers_down", k->down);
	if (k->sp) {
		struct iw_spool_stats ss;
		iw_spool_stats(k->sp, &ss);
		iw_json_obj_begin(j, "spool");
		iw_json_uint(j, "bytes", ss.bytes);
		iw_json_uint(j, "appended", ss.appended);
		iw_json_uint(j, "append_failed", ss.append_failed);
		iw_json_uint(j, "sent", ss.read);
		iw_json_uint(j, "acknowledged", ss.acked);
		iw_json_uint(j, "corrupt", ss.corrupt);
		iw_json_obj_end(j);
	}
}

static void kafka_close(void *vst)
{
	struct kafka *k = vst;
	if (!k)
		return;
	if (k->events)
		rd_kafka_topic_destroy(k->events);
	rd_kafka_topic_destroy(k->alerts);
	/* finish() left nothing in the queue; a close without it must not block long */
	rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(k->rk, 0);
	rd_kafka_destroy(k->rk);
	iw_spool_close(k->sp);
	free(k->brokers);
	free(k);
}

/* The Kafka exporter: on when exporters.kafka.brokers is set. */
const struct iw_exporter iw_exp_kafka = {
    .name = "kafka",
    .configured = kafka_configured,
    .kinds = kafka_kinds,
    .check = kafka_check,
    .open = kafka_open,
    .write = kafka_write,
    .flush = kafka_flush,
    .tick = kafka_tick,
    .finish = kafka_finish,
    .stats = kafka_stats,
    .close = kafka_close,
};
