/* redis.c - placeholder until the Redis mirror lands (redis.h): never connects, so the
 * store runs on memory alone. */
#include "redis.h"

#include <stddef.h>
#include <string.h>

struct iw_redis *iw_redis_new(const struct iw_redis_cfg *cfg, const struct iw_redis_cb *cb)
{
	(void)cfg;
	(void)cb;
	return NULL;
}
void iw_redis_free(struct iw_redis *r)
{
	(void)r;
}
bool iw_redis_up(const struct iw_redis *r)
{
	(void)r;
	return false;
}
void iw_redis_device(struct iw_redis *r, const char *id, const char *const *f, const char *const *v,
                     unsigned n)
{
	(void)r, (void)id, (void)f, (void)v, (void)n;
}
void iw_redis_set_add(struct iw_redis *r, const char *name, const char *m, uint64_t ts, uint64_t w,
                      uint64_t ttl)
{
	(void)r, (void)name, (void)m, (void)ts, (void)w, (void)ttl;
}
bool iw_redis_claim(struct iw_redis *r, const char *rule, const char *key, uint64_t ttl, uint64_t token)
{
	(void)r, (void)rule, (void)key, (void)ttl, (void)token;
	return false;
}
void iw_redis_poll(struct iw_redis *r)
{
	(void)r;
}
void iw_redis_drain(struct iw_redis *r, unsigned ms)
{
	(void)r, (void)ms;
}
void iw_redis_stats(const struct iw_redis *r, struct iw_redis_stats *out)
{
	(void)r;
	memset(out, 0, sizeof(*out));
}
