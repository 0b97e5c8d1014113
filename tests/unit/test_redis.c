/* test_redis.c - the Redis mirror (sensor/redis.c) against real redis-servers the tests
 * start on free loopback ports: device hashes and their TTL, set counts (also a fleet of
 * two mirrors on one set), windowed sets, fleet claims, AUTH and SELECT, error replies,
 * the server killed and restarted on its port, an unreachable server, and the bound on
 * unsent commands. Everything is checked by reading Redis back on a separate blocking
 * connection. Each test skips when redis-server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "sensor/redis.h"
#include "sensor/store.h"

#define S     1000000ULL          /* microseconds per second */
#define T0    (1767225600ULL * S) /* 2026-01-01T00:00:00Z */
#define TTL_S 3600

/* ---- servers ---- */

struct srv {
	pid_t pid;
	unsigned port;
	const char *pass;
};

struct fx {
	struct srv a, b;
	int saved_stderr; /* >= 0 while a test has stderr redirected */
};

static bool have_redis(void)
{
	const char *path = getenv("PATH");
	if (!path)
		return false;
	char dir[4096];
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		char exe[4200];
		snprintf(dir, sizeof(dir), "%.*s", (int)n, p);
		snprintf(exe, sizeof(exe), "%s/redis-server", n ? dir : ".");
		if (access(exe, X_OK) == 0)
			return true;
		p += n;
		if (*p == ':')
			p++;
	}
	return false;
}

/* A port nothing listens on right now: the kernel's pick for port 0. */
static unsigned free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A blocking connection for checking, authenticated and on db; NULL when not answering. */
static redisContext *vconn(const struct srv *s, unsigned db)
{
	struct timeval tv = {0, 200000};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", (int)s->port, tv);
	if (!c || c->err)
		goto bad;
	redisReply *rep;
	if (s->pass) {
		rep = redisCommand(c, "AUTH %s", s->pass);
		bool ok = rep && rep->type == REDIS_REPLY_STATUS;
		freeReplyObject(rep);
		if (!ok)
			goto bad;
	}
	rep = redisCommand(c, "SELECT %u", db);
	bool ok = rep && rep->type == REDIS_REPLY_STATUS;
	freeReplyObject(rep);
	if (!ok)
		goto bad;
	return c;
bad:
	if (c)
		redisFree(c);
	return NULL;
}

/* Starts redis-server on s->port (a fresh one when 0) and waits until it answers. */
static void srv_start(struct srv *s)
{
	if (!s->port)
		s->port = free_port();
	char port[16];
	snprintf(port, sizeof(port), "%u", s->port);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the server must not outlive a test binary that dies */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		if (s->pass)
			execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
			       "--save", "", "--appendonly", "no", "--daemonize", "no", "--requirepass",
			       s->pass, (char *)NULL);
		else
			execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
			       "--save", "", "--appendonly", "no", "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	s->pid = pid;
	for (int i = 0; i < 250; i++) {
		redisContext *c = vconn(s, 0);
		if (c) {
			redisReply *rep = redisCommand(c, "PING");
			bool ok = rep && rep->type == REDIS_REPLY_STATUS;
			freeReplyObject(rep);
			redisFree(c);
			if (ok)
				return;
		}
		int status;
		assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* the server died */
		sleep_ms(20);
	}
	fail_msg("redis-server on port %u does not answer", s->port);
}

static void srv_stop(struct srv *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGCONT); /* in case a test stopped it */
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->saved_stderr = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->saved_stderr >= 0) {
		fflush(stderr);
		dup2(f->saved_stderr, 2);
		close(f->saved_stderr);
	}
	srv_stop(&f->a);
	srv_stop(&f->b);
	free(f);
	return 0;
}

/* ---- what the mirror reports ---- */

struct rec {
	unsigned ncount;
	char count_name[32][64];
	uint64_t count_n[32];
	unsigned nclaim;
	uint64_t claim_token[16];
	bool claim_won[16];
	unsigned nunans;
	uint64_t unans[16];
	unsigned resyncs;
};

static void on_count(void *arg, const char *name, uint64_t n)
{
	struct rec *r = arg;
	assert_true(r->ncount < 32);
	snprintf(r->count_name[r->ncount], sizeof(r->count_name[0]), "%s", name);
	r->count_n[r->ncount++] = n;
}

static void on_claimed(void *arg, uint64_t token, bool won)
{
	struct rec *r = arg;
	assert_true(r->nclaim < 16);
	r->claim_token[r->nclaim] = token;
	r->claim_won[r->nclaim++] = won;
}

static void on_unanswered(void *arg, uint64_t token)
{
	struct rec *r = arg;
	assert_true(r->nunans < 16);
	r->unans[r->nunans++] = token;
}

static void on_resync(void *arg)
{
	struct rec *r = arg;
	r->resyncs++;
}

static struct iw_redis *mirror(const struct srv *s, unsigned port, const char *pass, unsigned db,
                               struct rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	struct iw_redis_cfg cfg = {.host = "127.0.0.1",
	                           .port = s ? s->port : port,
	                           .db = db,
	                           .password = pass,
	                           .prefix = "iw:",
	                           .ttl_s = TTL_S};
	struct iw_redis_cb cb = {.count = on_count,
	                         .claimed = on_claimed,
	                         .unanswered = on_unanswered,
	                         .resync = on_resync,
	                         .arg = rec};
	struct iw_redis *r = iw_redis_new(&cfg, &cb);
	assert_non_null(r);
	return r;
}

/* Polls (1 ms apart) until the mirror's up state is want or ms pass; returns the state. */
static bool pump_up(struct iw_redis *r, bool want, unsigned ms)
{
	uint64_t end = mono_ms() + ms;
	while (iw_redis_up(r) != want && mono_ms() < end) {
		iw_redis_poll(r);
		sleep_ms(1);
	}
	return iw_redis_up(r);
}

/* pump_up for a store on Redis: polls it until its mirror's up state is want or ms pass. */
static bool store_up(struct iw_store *st, bool want, unsigned ms)
{
	uint64_t end = mono_ms() + ms;
	struct iw_store_stats ss;
	iw_store_stats(st, &ss);
	while (ss.r.up != want && mono_ms() < end) {
		iw_store_poll(st);
		sleep_ms(1);
		iw_store_stats(st, &ss);
	}
	return ss.r.up;
}

static void pump_for(struct iw_redis *r, unsigned ms)
{
	uint64_t end = mono_ms() + ms;
	while (mono_ms() < end) {
		iw_redis_poll(r);
		sleep_ms(1);
	}
}

static struct iw_redis_stats stats(const struct iw_redis *r)
{
	struct iw_redis_stats s;
	iw_redis_stats(r, &s);
	return s;
}

static long long int_cmd(redisContext *c, const char *fmt, const char *key)
{
	redisReply *rep = redisCommand(c, fmt, key);
	assert_non_null(rep);
	assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
	long long v = rep->integer;
	freeReplyObject(rep);
	return v;
}

/* The key's TTL is in (above, upto]: set, and not long before the check. */
static void assert_ttl(redisContext *c, const char *key, long long above, long long upto)
{
	long long ttl = int_cmd(c, "TTL %s", key);
	if (ttl <= above || ttl > upto)
		fail_msg("TTL of %s is %lld, not in (%lld, %lld]", key, ttl, above, upto);
}

static void assert_hget(redisContext *c, const char *key, const char *field, const char *want)
{
	redisReply *rep = redisCommand(c, "HGET %s %s", key, field);
	assert_non_null(rep);
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	assert_int_equal(rep->len, strlen(want));
	assert_memory_equal(rep->str, want, rep->len);
	freeReplyObject(rep);
}

/* Sends stderr to a temporary file until stderr_take, which returns its lines. */
static FILE *stderr_capture(struct fx *f)
{
	fflush(stderr);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	f->saved_stderr = dup(2);
	assert_true(f->saved_stderr >= 0);
	dup2(fileno(tmp), 2);
	return tmp;
}

static unsigned stderr_take(struct fx *f, FILE *tmp, char lines[][256], unsigned max)
{
	fflush(stderr);
	dup2(f->saved_stderr, 2);
	close(f->saved_stderr);
	f->saved_stderr = -1;
	rewind(tmp);
	unsigned n = 0;
	char line[256];
	while (fgets(line, sizeof(line), tmp)) {
		if (n < max)
			snprintf(lines[n], 256, "%s", line);
		n++;
	}
	fclose(tmp);
	return n;
}

/* ---- tests ---- */

static void test_device(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	srv_start(&f->a);
	struct rec rec;
	struct iw_redis *r = mirror(&f->a, 0, NULL, 0, &rec);
	assert_true(pump_up(r, true, 2000));
	assert_int_equal(rec.resyncs, 1);

	/* the id and a value carry spaces and CR LF: lengths are explicit on the wire */
	const char *fields[] = {"first_seen", "ip", "client_id", "cert_fp", "region"};
	const char *values[] = {"2026-01-01T00:00:00.000000Z", "10.0.0.7", "client 7\r\n*1", NULL,
	                        "eu-west-1"};
	iw_redis_device(r, "cam 7\r\nb", fields, values, 5, true);
	iw_redis_device(r, "no-fields", fields, values, 0, true); /* nothing to send */
	iw_redis_drain(r, 2000);

	struct iw_redis_stats st = stats(r);
	assert_true(st.up);
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.commands, 2); /* HSET, EXPIRE */
	assert_int_equal(st.replies, 2);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.dropped, 0);

	redisContext *c = vconn(&f->a, 0);
	assert_non_null(c);
	const char *key = "iw:dev:cam 7\r\nb";
	redisReply *rep = redisCommand(c, "HLEN %s", key);
	assert_int_equal(rep->integer, 4); /* the NULL value was left out */
	freeReplyObject(rep);
	assert_hget(c, key, "first_seen", "2026-01-01T00:00:00.000000Z");
	assert_hget(c, key, "ip", "10.0.0.7");
	assert_hget(c, key, "client_id", "client 7\r\n*1");
	assert_hget(c, key, "region", "eu-west-1");
	assert_ttl(c, key, TTL_S - 10, TTL_S);
	assert_int_equal(int_cmd(c, "EXISTS %s", "iw:dev:no-fields"), 0);

	/* an update overwrites one field and keeps the others */
	const char *f2[] = {"ip"};
	const char *v2[] = {"10.0.0.8"};
	uint64_t cmds = stats(r).commands;
	iw_redis_device(r, "cam 7\r\nb", f2, v2, 1, false); /* no EXPIRE: the TTL stands */
	iw_redis_drain(r, 2000);
	assert_int_equal(stats(r).commands, cmds + 1);
	assert_hget(c, key, "ip", "10.0.0.8");
	assert_hget(c, key, "region", "eu-west-1");
	assert_ttl(c, key, TTL_S - 10, TTL_S);
	redisFree(c);
	iw_redis_free(r);
}

static void test_set_count_fleet(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	srv_start(&f->a);
	struct rec ra, rb;
	struct iw_redis *a = mirror(&f->a, 0, NULL, 0, &ra);
	struct iw_redis *b = mirror(&f->a, 0, NULL, 0, &rb);
	assert_true(pump_up(a, true, 2000));
	assert_true(pump_up(b, true, 2000));

	const char *name = "certexp:2026-12-15";
	iw_redis_set_add(a, name, "dev-1", T0, 0, 0, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_set_add(a, name, "dev-2", T0, 0, 0, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_drain(a, 2000);
	assert_int_equal(ra.ncount, 2);
	assert_string_equal(ra.count_name[0], name);
	assert_int_equal(ra.count_n[0], 1);
	assert_int_equal(ra.count_n[1], 2);

	/* the other sensor's count is the fleet's */
	iw_redis_set_add(b, name, "dev 3", T0 + S, 0, 0, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_drain(b, 2000);
	assert_int_equal(rb.ncount, 1);
	assert_string_equal(rb.count_name[0], name);
	assert_int_equal(rb.count_n[0], 3);

	/* a member already there does not count twice */
	iw_redis_set_add(a, name, "dev-1", T0 + 2 * S, 0, 0, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_drain(a, 2000);
	assert_int_equal(ra.ncount, 3);
	assert_int_equal(ra.count_n[2], 3);

	/* an explicit TTL wins over the configured one */
	iw_redis_set_add(a, "user:alice:clients", "c1", T0, 0, 120, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_drain(a, 2000);
	assert_int_equal(ra.ncount, 4);
	assert_string_equal(ra.count_name[3], "user:alice:clients");
	assert_int_equal(ra.count_n[3], 1);

	redisContext *c = vconn(&f->a, 0);
	assert_non_null(c);
	assert_int_equal(int_cmd(c, "SCARD %s", "iw:certexp:2026-12-15"), 3);
	assert_int_equal(int_cmd(c, "SISMEMBER iw:certexp:2026-12-15 %s", "dev 3"), 1);
	assert_ttl(c, "iw:certexp:2026-12-15", TTL_S - 10, TTL_S);
	assert_ttl(c, "iw:user:alice:clients", 110, 120);
	redisFree(c);

	struct iw_redis_stats st = stats(a);
	assert_int_equal(st.commands, 12); /* 4 x SADD, EXPIRE, SCARD */
	assert_int_equal(st.replies, 12);
	assert_int_equal(st.errors, 0);
	iw_redis_free(a);
	iw_redis_free(b);
}

static void test_window(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	srv_start(&f->a);
	struct rec rec;
	struct iw_redis *r = mirror(&f->a, 0, NULL, 0, &rec);
	assert_true(pump_up(r, true, 2000));

	const char *name = "dev:cam-1:tunnels";
	uint64_t w = 10 * S;
	iw_redis_set_add(r, name, "m1", T0, w, 60, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_set_add(r, name, "m2", T0 + 5 * S, w, 60, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_set_add(r, name, "m3", T0 + 12 * S, w, 60,
	                 IW_REDIS_TRIM | IW_REDIS_EXPIRE); /* m1 is older than T0 + 2 s */
	iw_redis_set_add(r, name, "m4", T0 + 15 * S, w, 60,
	                 IW_REDIS_TRIM | IW_REDIS_EXPIRE); /* m2 is exactly 10 s old: stays */
	iw_redis_drain(r, 2000);
	assert_int_equal(rec.ncount, 4);
	assert_int_equal(rec.count_n[0], 1);
	assert_int_equal(rec.count_n[1], 2);
	assert_int_equal(rec.count_n[2], 2);
	assert_int_equal(rec.count_n[3], 3);
	assert_string_equal(rec.count_name[3], name);

	redisContext *c = vconn(&f->a, 0);
	assert_non_null(c);
	redisReply *rep = redisCommand(c, "ZRANGE %s 0 -1 WITHSCORES", "iw:dev:cam-1:tunnels");
	assert_non_null(rep);
	assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
	assert_int_equal(rep->elements, 6);
	assert_string_equal(rep->element[0]->str, "m2");
	assert_int_equal(strtoull(rep->element[1]->str, NULL, 10), T0 + 5 * S);
	assert_string_equal(rep->element[2]->str, "m3");
	assert_string_equal(rep->element[4]->str, "m4");
	assert_int_equal(strtoull(rep->element[5]->str, NULL, 10), T0 + 15 * S);
	freeReplyObject(rep);
	assert_ttl(c, "iw:dev:cam-1:tunnels", 50, 60);

	/* a re-added member takes the new score; a jump past the window empties the rest */
	iw_redis_set_add(r, name, "m3", T0 + 40 * S, w, 60, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_drain(r, 2000);
	assert_int_equal(rec.count_n[4], 1);
	assert_int_equal(int_cmd(c, "ZCARD %s", "iw:dev:cam-1:tunnels"), 1);

	/* a replay of older traffic: m3 (scored T0 + 40 s) is ahead of its clock by more than
	 * the window, so it stays in the set but is not counted */
	iw_redis_set_add(r, name, "old", T0 + 20 * S, w, 60, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_set_add(r, name, "old2", T0 + 31 * S, w, 60, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_drain(r, 2000);
	assert_int_equal(rec.count_n[5], 1);
	assert_int_equal(rec.count_n[6], 2); /* old2 and m3 (9 s ahead); old left the window */
	redisFree(c);
	assert_int_equal(stats(r).errors, 0);
	iw_redis_free(r);
}

/* The calls of one command since the last CONFIG RESETSTAT, from INFO commandstats. */
static long long calls(redisContext *c, const char *cmd)
{
	redisReply *rep = redisCommand(c, "INFO commandstats");
	assert_non_null(rep);
	assert_non_null(rep->str);
	char want[64];
	snprintf(want, sizeof(want), "cmdstat_%s:calls=", cmd);
	const char *at = strstr(rep->str, want);
	long long n = at ? strtoll(at + strlen(want), NULL, 10) : 0;
	freeReplyObject(rep);
	return n;
}

static void reset_stats(redisContext *c)
{
	redisReply *rep = redisCommand(c, "CONFIG RESETSTAT");
	assert_non_null(rep);
	freeReplyObject(rep);
}

/* A store (sensor/store.c) on a server started for it, up; stderr captured until
 * store_done. */
static struct iw_store *store_started(struct fx *f, FILE **err)
{
	srv_start(&f->a);
	*err = stderr_capture(f);
	struct iw_redis_cfg rcfg = {.host = "127.0.0.1", .port = f->a.port, .prefix = "iw:", .ttl_s = TTL_S};
	struct iw_store_cfg cfg = {.max_devices = 1000, .ttl_s = TTL_S, .redis = &rcfg};
	struct iw_store *st = iw_store_new(&cfg);
	assert_true(store_up(st, true, 2000));
	return st;
}

/* Redis restarted empty under the store: down seen, up again, the store's resync drained.
 * Returns a connection to look at what it pushed. */
static redisContext *store_restarted(struct fx *f, struct iw_store *st)
{
	srv_stop(&f->a);
	assert_false(store_up(st, false, 2000));
	srv_start(&f->a);
	assert_true(store_up(st, true, 5000));
	iw_store_drain(st, 2000);
	redisContext *c = vconn(&f->a, 0);
	assert_non_null(c);
	return c;
}

/* Frees the store; it said on stderr that Redis went down once and came back once. */
static void store_done(struct fx *f, struct iw_store *st, FILE *err)
{
	iw_store_free(st);
	char lines[8][256];
	assert_int_equal(stderr_take(f, err, lines, 8), 2);
}

/* A store on Redis (sensor/store.c) sends a set's upkeep only when due: a window's trim a
 * quarter window after the last one, the TTL an eighth of it after the last one; the
 * counts stay exact; after Redis restarts, every key gets its TTL again. */
static void test_store_upkeep(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	FILE *err;
	struct iw_store *st = store_started(f, &err);
	struct iw_state *pub = iw_store_state(st);
	redisContext *c = vconn(&f->a, 0);
	assert_non_null(c);
	reset_stats(c);

	/* a 60 s window, one add a second for 100 s: trims at 0, 15, ..., 90 s, one TTL */
	char m[16];
	for (unsigned i = 0; i < 100; i++) {
		snprintf(m, sizeof(m), "d%u", i);
		assert_int_equal(pub->ops->set_add(pub, "fail", m, T0 + i * S, 60 * S, 0),
		                 i < 60 ? i + 1 : 61);
	}
	/* a plain set: its TTL once, again 450 s (an eighth of 3600) later */
	for (unsigned i = 0; i < 10; i++) {
		snprintf(m, sizeof(m), "p%u", i);
		pub->ops->set_add(pub, "certexp:2026-12-15", m, T0 + i * S, 0, 0);
	}
	pub->ops->set_add(pub, "certexp:2026-12-15", "late", T0 + 450 * S, 0, 0);
	iw_store_drain(st, 2000);

	assert_int_equal(calls(c, "zadd"), 100);
	assert_int_equal(calls(c, "zcount"), 100);
	assert_int_equal(calls(c, "zremrangebyscore"), 7);
	assert_int_equal(calls(c, "sadd"), 11);
	assert_int_equal(calls(c, "expire"), 1 + 2);
	/* trimmed at 90 s: the members before 30 s are gone, 30..99 left (61 counted) */
	assert_int_equal(int_cmd(c, "ZCARD %s", "iw:fail"), 70);
	redisReply *rep = redisCommand(c, "ZCOUNT iw:fail %llu %llu", (unsigned long long)(T0 + 39 * S),
	                               (unsigned long long)(T0 + 159 * S));
	assert_non_null(rep);
	assert_int_equal(rep->integer, 61);
	freeReplyObject(rep);
	assert_ttl(c, "iw:fail", TTL_S - 60, TTL_S);
	assert_int_equal(int_cmd(c, "SCARD %s", "iw:certexp:2026-12-15"), 11);
	redisFree(c);

	/* Redis restarted empty: the store pushes its state again, every key with its TTL */
	c = store_restarted(f, st);
	assert_int_equal(int_cmd(c, "ZCARD %s", "iw:fail"), 61); /* what memory keeps of the window */
	assert_ttl(c, "iw:fail", TTL_S - 60, TTL_S);
	assert_ttl(c, "iw:certexp:2026-12-15", TTL_S - 60, TTL_S);
	redisFree(c);
	store_done(f, st, err);
}

static long long hexists(redisContext *c, const char *key, const char *field)
{
	redisReply *rep = redisCommand(c, "HEXISTS %s %s", key, field);
	assert_non_null(rep);
	assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
	long long v = rep->integer;
	freeReplyObject(rep);
	return v;
}

/* A device's hash gets what changed: a new hash every field; then a new region travels
 * with last_seen alone (fields deleted behind the store's back stay deleted: they were not
 * sent again), a new address with its ip; after Redis restarts empty, every field. */
static void test_store_device_fields(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	FILE *err;
	struct iw_store *st = store_started(f, &err);
	struct iw_state *pub = iw_store_state(st);
	redisContext *c = vconn(&f->a, 0);
	assert_non_null(c);
	const char *key = "iw:dev:cam-1";

	struct iw_device dev = {.id = "cam-1", .ip = "10.0.0.1", .client_id = "cam-1"};
	struct iw_dev_seen s = {.dev = &dev, .ts_us = T0, .proto = 1u << IW_EV_MQTT, .region = "eu-west-1"};
	pub->ops->seen(pub, &s);
	iw_store_drain(st, 2000);
	assert_hget(c, key, "first_seen", "2026-01-01T00:00:00.000000Z");
	assert_hget(c, key, "last_seen", "2026-01-01T00:00:00.000000Z");
	assert_hget(c, key, "ip", "10.0.0.1");
	assert_hget(c, key, "client_id", "cam-1");
	assert_hget(c, key, "region", "eu-west-1");
	assert_hget(c, key, "protocols", "mqtt");
	assert_hget(c, key, "tunnel_opens", "0");
	redisReply *rep = redisCommand(c, "HDEL %s first_seen ip client_id protocols tunnel_opens", key);
	assert_non_null(rep);
	assert_int_equal(rep->integer, 5);
	freeReplyObject(rep);

	s.ts_us = T0 + S;
	s.region = "us-east-1";
	pub->ops->seen(pub, &s);
	iw_store_drain(st, 2000);
	assert_hget(c, key, "region", "us-east-1");
	assert_hget(c, key, "last_seen", "2026-01-01T00:00:01.000000Z");
	const char *gone[] = {"first_seen", "ip", "client_id", "protocols", "tunnel_opens"};
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(hexists(c, key, gone[i]), 0);

	dev.ip = "10.0.0.2";
	s.ts_us = T0 + 2 * S;
	s.proto = 1u << IW_EV_TLS;
	pub->ops->seen(pub, &s);
	iw_store_drain(st, 2000);
	assert_hget(c, key, "ip", "10.0.0.2");
	assert_hget(c, key, "protocols", "mqtt,tls");
	assert_int_equal(hexists(c, key, "client_id"), 0);
	assert_int_equal(hexists(c, key, "first_seen"), 0);
	redisFree(c);

	c = store_restarted(f, st);
	assert_hget(c, key, "first_seen", "2026-01-01T00:00:00.000000Z");
	assert_hget(c, key, "last_seen", "2026-01-01T00:00:02.000000Z");
	assert_hget(c, key, "ip", "10.0.0.2");
	assert_hget(c, key, "client_id", "cam-1");
	assert_hget(c, key, "region", "us-east-1");
	assert_hget(c, key, "protocols", "mqtt,tls");
	assert_hget(c, key, "tunnel_opens", "0");
	assert_ttl(c, key, TTL_S - 60, TTL_S);
	redisFree(c);
	store_done(f, st, err);
}

static bool claim_of(const struct rec *rec, uint64_t token, bool *won)
{
	for (unsigned i = 0; i < rec->nclaim; i++)
		if (rec->claim_token[i] == token) {
			*won = rec->claim_won[i];
			return true;
		}
	return false;
}

static void test_claim(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	srv_start(&f->a);
	struct rec ra, rb;
	struct iw_redis *a = mirror(&f->a, 0, NULL, 0, &ra);
	struct iw_redis *b = mirror(&f->a, 0, NULL, 0, &rb);
	assert_true(pump_up(a, true, 2000));
	assert_true(pump_up(b, true, 2000));

	assert_true(iw_redis_claim(a, "tls.cert_expiring", "ab:cd ef", 0, 1));
	iw_redis_drain(a, 2000);
	assert_true(iw_redis_claim(b, "tls.cert_expiring", "ab:cd ef", 0, 2));
	assert_true(iw_redis_claim(a, "tls.cert_expiring", "other", 600, 3));
	assert_true(iw_redis_claim(a, "tls.cert_expiring", "ab:cd ef", 0, 4)); /* its own, again */
	iw_redis_drain(a, 2000);
	iw_redis_drain(b, 2000);

	bool won;
	assert_int_equal(ra.nclaim, 3);
	assert_true(claim_of(&ra, 1, &won));
	assert_true(won);
	assert_true(claim_of(&ra, 3, &won));
	assert_true(won);
	assert_true(claim_of(&ra, 4, &won));
	assert_false(won);
	assert_int_equal(rb.nclaim, 1);
	assert_true(claim_of(&rb, 2, &won));
	assert_false(won);
	assert_int_equal(ra.nunans + rb.nunans, 0);

	redisContext *c = vconn(&f->a, 0);
	assert_non_null(c);
	const char *key = "iw:alerted:tls.cert_expiring:ab:cd ef";
	redisReply *rep = redisCommand(c, "GET %s", key);
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	assert_string_equal(rep->str, "1");
	freeReplyObject(rep);
	assert_ttl(c, key, 86400 - 10, 86400); /* no TTL given: one day */
	assert_ttl(c, "iw:alerted:tls.cert_expiring:other", 590, 600);
	redisFree(c);
	iw_redis_free(a);
	iw_redis_free(b);
}

static void test_error_replies(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	srv_start(&f->a);
	struct rec rec;
	struct iw_redis *r = mirror(&f->a, 0, NULL, 0, &rec);
	assert_true(pump_up(r, true, 2000));

	/* a set named like a device hash: SADD and SCARD answer WRONGTYPE, EXPIRE works */
	const char *fields[] = {"ip"};
	const char *values[] = {"10.0.0.9"};
	iw_redis_device(r, "x", fields, values, 1, true);
	iw_redis_set_add(r, "dev:x", "m", T0, 0, 0, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_set_add(r, "fine", "m", T0, 0, 0, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	iw_redis_drain(r, 2000);
	struct iw_redis_stats st = stats(r);
	assert_int_equal(st.commands, 8);
	assert_int_equal(st.replies, 8);
	assert_int_equal(st.errors, 2);
	assert_true(st.up);
	/* no count from the failed SCARD, and the replies after it still match */
	assert_int_equal(rec.ncount, 1);
	assert_string_equal(rec.count_name[0], "fine");
	assert_int_equal(rec.count_n[0], 1);
	iw_redis_free(r);
}

static void test_auth(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	f->a.pass = "s3cret pass";
	srv_start(&f->a);
	const char *fields[] = {"ip"};
	const char *values[] = {"10.0.0.1"};

	/* the right password, and db 2 */
	struct rec rec;
	struct iw_redis *r = mirror(&f->a, 0, "s3cret pass", 2, &rec);
	assert_true(pump_up(r, true, 2000));
	assert_int_equal(rec.resyncs, 1);
	iw_redis_device(r, "d1", fields, values, 1, true);
	iw_redis_drain(r, 2000);
	struct iw_redis_stats st = stats(r);
	assert_int_equal(st.commands, 4); /* AUTH, SELECT, HSET, EXPIRE */
	assert_int_equal(st.replies, 4);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.connects, 1);
	iw_redis_free(r);
	redisContext *c = vconn(&f->a, 2);
	assert_non_null(c);
	assert_hget(c, "iw:dev:d1", "ip", "10.0.0.1");
	redisFree(c);
	c = vconn(&f->a, 0);
	assert_non_null(c);
	assert_int_equal(int_cmd(c, "EXISTS %s", "iw:dev:d1"), 0);
	redisFree(c);

	/* a wrong password is a failed connection, not a crash, and not up */
	FILE *err = stderr_capture(f);
	r = mirror(&f->a, 0, "wrong", 0, &rec);
	pump_for(r, 300);
	/* the server's words vary with its version (WRONGPASS since 6, ERR before) */
	char lines[4][256], want[64];
	assert_int_equal(stderr_take(f, err, lines, 4), 1);
	snprintf(want, sizeof(want), "iotwatch: redis 127.0.0.1:%u: AUTH refused: ", f->a.port);
	assert_memory_equal(lines[0], want, strlen(want));
	assert_non_null(strstr(lines[0], "; state kept in memory, retrying\n"));
	st = stats(r);
	assert_false(st.up);
	assert_true(st.failures >= 1);
	assert_int_equal(st.connects, 0);
	assert_int_equal(rec.resyncs, 0);
	assert_false(iw_redis_claim(r, "mqtt.cleartext_credentials", "alice", 0, 9));
	iw_redis_device(r, "d2", fields, values, 1, true);
	assert_true(stats(r).dropped >= 3);
	assert_int_equal(rec.nclaim + rec.nunans, 0);
	iw_redis_free(r);

	/* no password where one is needed: connected, every command an error; a claim
	 * answered with an error counts as won (two alerts rather than none) */
	r = mirror(&f->a, 0, NULL, 0, &rec);
	assert_true(pump_up(r, true, 2000));
	iw_redis_device(r, "d3", fields, values, 1, true);
	iw_redis_set_add(r, "certexp:2026-12-15", "d3", T0, 0, 0, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	assert_true(iw_redis_claim(r, "mqtt.cleartext_credentials", "alice", 0, 10));
	iw_redis_drain(r, 2000);
	st = stats(r);
	assert_int_equal(st.replies, 6);
	assert_int_equal(st.errors, 6);
	assert_int_equal(rec.ncount, 0);
	assert_int_equal(rec.nclaim, 1);
	assert_int_equal(rec.claim_token[0], 10);
	assert_true(rec.claim_won[0]);
	iw_redis_free(r);
}

static bool has_token(const struct rec *rec, uint64_t token)
{
	for (unsigned i = 0; i < rec->nunans; i++)
		if (rec->unans[i] == token)
			return true;
	return false;
}

static void test_server_killed(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	srv_start(&f->a);
	FILE *err = stderr_capture(f);
	struct rec rec;
	struct iw_redis *r = mirror(&f->a, 0, NULL, 0, &rec);
	assert_true(pump_up(r, true, 2000));
	const char *fields[] = {"ip"};
	const char *values[] = {"10.0.0.1"};
	iw_redis_device(r, "before", fields, values, 1, true);
	iw_redis_drain(r, 2000);

	/* the mirror finds out at its next poll; what it had pending is lost */
	srv_stop(&f->a);
	assert_true(iw_redis_claim(r, "mqtt.client_id_conflict", "c1", 0, 11));
	assert_true(iw_redis_claim(r, "mqtt.client_id_conflict", "c2", 0, 12));
	iw_redis_set_add(r, "certexp:2026-12-15", "d", T0, 0, 0, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	assert_false(pump_up(r, false, 2000));
	struct iw_redis_stats st = stats(r);
	assert_false(st.up);
	assert_int_equal(st.failures, 1);
	assert_int_equal(rec.nunans, 2);
	assert_true(has_token(&rec, 11));
	assert_true(has_token(&rec, 12));
	assert_int_equal(rec.nclaim, 0);
	assert_int_equal(st.dropped, 5); /* two claims, SADD, EXPIRE, SCARD */

	/* down: appends are dropped, claims refused */
	assert_false(iw_redis_claim(r, "mqtt.client_id_conflict", "c3", 0, 13));
	iw_redis_device(r, "while-down", fields, values, 1, true);
	assert_int_equal(stats(r).dropped, 5 + 1 + 2);

	/* one retry fails (after 1 s) before the server is back; the next (after 2 s more)
	 * connects */
	pump_for(r, 1500);
	assert_true(stats(r).failures >= 2);
	srv_start(&f->a);
	uint64_t t = mono_ms();
	assert_true(pump_up(r, true, 5000));
	assert_true(mono_ms() - t < 4000);
	assert_int_equal(rec.resyncs, 2);
	st = stats(r);
	assert_int_equal(st.connects, 2);
	iw_redis_device(r, "after", fields, values, 1, true);
	iw_redis_drain(r, 2000);
	redisContext *c = vconn(&f->a, 0);
	assert_non_null(c);
	assert_hget(c, "iw:dev:after", "ip", "10.0.0.1");
	redisFree(c);
	iw_redis_free(r);

	/* one line when it went down, however many retries failed, one when it came back */
	char lines[8][256], want[64];
	unsigned n = stderr_take(f, err, lines, 8);
	assert_int_equal(n, 2);
	snprintf(want, sizeof(want), "iotwatch: redis 127.0.0.1:%u: ", f->a.port);
	assert_memory_equal(lines[0], want, strlen(want));
	assert_non_null(strstr(lines[0], "; state kept in memory, retrying\n"));
	assert_memory_equal(lines[1], want, strlen(want));
	assert_string_equal(lines[1] + strlen(want), "connected again, re-synchronising\n");
}

/* A server gone (it closed, we have not read the FIN yet) while the mirror still has
 * megabytes to write: the first write is taken, the peer answers RST, the next write
 * fails with EPIPE, and the SIGPIPE that raises must not end the process. */
static void test_killed_while_writing(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	srv_start(&f->a);
	FILE *err = stderr_capture(f);
	struct rec rec;
	struct iw_redis *r = mirror(&f->a, 0, NULL, 0, &rec);
	assert_true(pump_up(r, true, 2000));
	srv_stop(&f->a);
	size_t big = 1u << 20;
	char *v = malloc(big + 1);
	assert_non_null(v);
	memset(v, 'w', big);
	v[big] = '\0';
	const char *fields[] = {"blob"};
	const char *values[] = {v};
	assert_true(iw_redis_claim(r, "tunnel.renewal_loop", "cam", 0, 21));
	for (int i = 0; i < 16; i++)
		iw_redis_device(r, "big", fields, values, 1, true);
	iw_redis_poll(r);
	assert_false(pump_up(r, false, 2000));
	struct iw_redis_stats st = stats(r);
	assert_int_equal(st.failures, 1);
	assert_int_equal(rec.nunans, 1);
	assert_int_equal(rec.unans[0], 21);
	assert_int_equal(st.dropped, 1 + 32);
	free(v);
	iw_redis_free(r);
	char lines[4][256];
	assert_int_equal(stderr_take(f, err, lines, 4), 1);
}

static void test_unreachable(void **state)
{
	FILE *err = stderr_capture(*state);
	unsigned port = free_port(); /* nothing listens there */
	struct rec rec;
	uint64_t t = mono_ms();
	struct iw_redis *r = mirror(NULL, port, NULL, 0, &rec);
	assert_true(mono_ms() - t < 50);

	/* polls stay short across the first attempt and the retry after 1 s */
	uint64_t worst = 0, end = mono_ms() + 2200;
	while (mono_ms() < end) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		iw_redis_poll(r);
		clock_gettime(CLOCK_MONOTONIC, &b);
		uint64_t us = (uint64_t)(b.tv_sec - a.tv_sec) * S + (uint64_t)(b.tv_nsec - a.tv_nsec) / 1000;
		if (us > worst)
			worst = us;
		sleep_ms(1);
	}
	assert_true(worst < 50000);
	struct iw_redis_stats st = stats(r);
	assert_false(st.up);
	assert_int_equal(st.connects, 0);
	assert_int_equal(st.failures, 2); /* at 0 s and 1 s; the next is due at 3 s */
	assert_int_equal(rec.resyncs, 0);
	assert_false(iw_redis_claim(r, "tls.cert_expiring", "k", 0, 1));
	iw_redis_set_add(r, "certexp:2026-12-15", "d", T0, 0, 0, IW_REDIS_TRIM | IW_REDIS_EXPIRE);
	assert_int_equal(stats(r).dropped, 4);
	assert_int_equal(stats(r).commands, 0);
	t = mono_ms();
	iw_redis_drain(r, 1000); /* nothing pending: returns at once */
	assert_true(mono_ms() - t < 50);
	iw_redis_free(r);

	char lines[4][256], want[96];
	assert_int_equal(stderr_take(*state, err, lines, 4), 1);
	snprintf(want, sizeof(want),
	         "iotwatch: redis 127.0.0.1:%u: connection refused; state kept in memory, retrying\n", port);
	assert_string_equal(lines[0], want);
}

static void test_output_bound(void **state)
{
	struct fx *f = *state;
	if (!have_redis())
		skip();
	srv_start(&f->a);
	struct rec rec;
	struct iw_redis *r = mirror(&f->a, 0, NULL, 0, &rec);
	assert_true(pump_up(r, true, 2000));

	/* a stopped server reads nothing: past the socket buffers, commands pile up in the
	 * mirror until 64 MB, and then new ones are dropped */
	kill(f->a.pid, SIGSTOP);
	size_t big = 1u << 20;
	char *v = malloc(big + 1);
	assert_non_null(v);
	memset(v, 'v', big);
	v[big] = '\0';
	const char *fields[] = {"blob"};
	const char *values[] = {v};
	unsigned calls = 0;
	while (stats(r).dropped == 0 && calls < 300) {
		iw_redis_device(r, "big", fields, values, 1, true);
		iw_redis_poll(r);
		calls++;
	}
	struct iw_redis_stats st = stats(r);
	assert_int_equal(st.dropped, 2); /* the HSET and EXPIRE of the first call refused */
	/* 64 MB unsent plus what the kernel took: far fewer than the calls allowed */
	assert_true(st.commands / 2 >= 64);
	assert_true(st.commands / 2 < 200);
	iw_redis_device(r, "big", fields, values, 1, true);
	assert_int_equal(stats(r).dropped, 4);
	assert_true(stats(r).up);

	/* once the server reads again, all that was kept is answered */
	kill(f->a.pid, SIGCONT);
	iw_redis_drain(r, 30000);
	st = stats(r);
	assert_int_equal(st.replies, st.commands);
	assert_int_equal(st.errors, 0);
	assert_true(st.up);
	iw_redis_device(r, "big", fields, values, 1, true);
	assert_int_equal(stats(r).dropped, 4);
	iw_redis_drain(r, 5000);
	redisContext *c = vconn(&f->a, 0);
	assert_non_null(c);
	assert_int_equal(int_cmd(c, "HSTRLEN iw:dev:big %s", "blob"), (long long)big);
	redisFree(c);
	free(v);
	iw_redis_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_device, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_count_fleet, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_upkeep, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_device_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_replies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_killed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_killed_while_writing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_bound, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
