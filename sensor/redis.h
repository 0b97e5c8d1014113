/* redis.h - the Redis mirror of device state (DESIGN §7), driven by sensor/state.c.
 *
 * hiredis in non-blocking mode on one connection: commands are appended to an output
 * buffer, which iw_redis_poll hands to the mirror's writer thread (it only sends), and
 * replies are read only in iw_redis_poll, which never blocks; the packet path only
 * appends. Replies come back through the callbacks, in the caller's thread, in the order
 * the commands were given. The writer thread runs from iw_redis_new to iw_redis_free.
 *
 * Keys (prefix from state.redis.key_prefix, each with state.redis.ttl unless said):
 *   <p>dev:<id>            hash: first_seen, last_seen (RFC 3339), ip, client_id,
 *                          cert_cn, cert_fp, cert_not_after, region, protocols
 *   <p><set name>          a set (SADD/SCARD), or for windowed sets a sorted set scored by
 *                          time in microseconds (ZADD, ZREMRANGEBYSCORE, ZCOUNT)
 *   <p>alerted:<rule>:<key> SET NX with a one-day expiry: the fleet's de-duplication
 *
 * When the connection fails the mirror says so once on stderr, drops what had no answer
 * yet, sent or not (memory keeps the truth), and reconnects with backoff (1 s doubling
 * to 30 s, on the wall clock); once connected again it calls resync so that the owner
 * pushes its whole state again. The password comes from the environment variable named by
 * state.redis.password_env, never from the configuration file. */
#ifndef IW_REDIS_H
#define IW_REDIS_H

#include <stdbool.h>
#include <stdint.h>

struct iw_redis;

struct iw_redis_cfg {
	const char *host;
	unsigned port;
	unsigned db;
	const char *password; /* NULL: no AUTH */
	const char *prefix;   /* "iw:" */
	uint64_t ttl_s;
};

/* Every callback may be NULL. They run only inside iw_redis_poll and iw_redis_drain; they
 * may append (resync does) but must not free the mirror. */
struct iw_redis_cb {
	/* the set's cardinality after an add of ours; name as given to iw_redis_set_add */
	void (*count)(void *arg, const char *name, uint64_t n);
	/* a claim's answer: won is true when this sensor is the first of the fleet */
	void (*claimed)(void *arg, uint64_t token, bool won);
	/* a claim that will never be answered (connection lost): the owner decides alone */
	void (*unanswered)(void *arg, uint64_t token);
	/* connected (again): the owner re-sends its state */
	void (*resync)(void *arg);
	void *arg;
};

/* commands appended (AUTH and SELECT included) and replies read; errors: error replies;
 * connects: connections that got to up; failures: attempts refused and connections lost;
 * dropped: commands refused while down or past the 64 MB of unsent output, and those
 * that were pending when a connection was lost. */
struct iw_redis_stats {
	uint64_t commands, replies, errors, connects, failures, dropped;
	bool up;
};

/* Starts connecting (non-blocking). Never NULL: allocation failure aborts (alloc.h); an
 * unreachable server is not an error here (the sensor runs on memory and retries). cfg's
 * strings and cb are copied. Give host as an address: a name is resolved by hiredis
 * (getaddrinfo, blocking) at every connection attempt, iw_redis_poll's included. */
struct iw_redis *iw_redis_new(const struct iw_redis_cfg *cfg, const struct iw_redis_cb *cb);
/* Pending claims get no callback. */
void iw_redis_free(struct iw_redis *r);

bool iw_redis_up(const struct iw_redis *r);

/* HSET of the device's hash, then (with expire) EXPIRE with the configured ttl (none when 0); fields
 * and values are n pairs, a pair with a NULL left out; no pair left sends nothing. */
void iw_redis_device(struct iw_redis *r, const char *id, const char *const *fields, const char *const *values,
                     unsigned n, bool expire);

/* Adds member to set name (window_us > 0: a sorted set scored ts_us); the cardinality
 * (of a window: the members within window_us either side of ts_us) comes back through
 * cb.count. With IW_REDIS_TRIM a window's members older than ts_us - window_us are
 * removed first; with IW_REDIS_EXPIRE the key's TTL is set to ttl_s (0: the configured
 * ttl; both 0, no expiry). Neither changes the count: the caller sends them when the
 * set's memory or its TTL needs it (store.c: not at every add). */
enum { IW_REDIS_TRIM = 1, IW_REDIS_EXPIRE = 2 };
/* Returns false, sending nothing, when not connected or the output is full. */
bool iw_redis_set_add(struct iw_redis *r, const char *name, const char *member, uint64_t ts_us,
                      uint64_t window_us, uint64_t ttl_s, unsigned upkeep);

/* SET <p>alerted:<rule>:<key> NX EX ttl_s (0: one day); the answer comes through
 * cb.claimed with token, or cb.unanswered if the connection is lost first. Returns false,
 * sending nothing, when not connected or the output is full: the caller decides alone. */
bool iw_redis_claim(struct iw_redis *r, const char *rule, const char *key, uint64_t ttl_s, uint64_t token);

/* Non-blocking I/O: connects or reconnects when due, writes what is buffered, reads and
 * dispatches the replies there are. */
void iw_redis_poll(struct iw_redis *r);

/* At the end: polls until every command is answered or timeout_ms pass. */
void iw_redis_drain(struct iw_redis *r, unsigned timeout_ms);

void iw_redis_stats(const struct iw_redis *r, struct iw_redis_stats *out);

#endif
