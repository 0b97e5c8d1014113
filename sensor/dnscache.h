/* dnscache.h - what each device looked up: (device address, answer address) -> the name
 * it asked for and the name the answer was for (the end of a CNAME chain), on packet
 * time, bounded, least recently used evicted first. The sensor names the server side
 * of a later flow from it (DESIGN §4 rules.region: "a DNS answer it looked up"). */
#ifndef IW_DNSCACHE_H
#define IW_DNSCACHE_H

#include <stdbool.h>
#include <stdint.h>

#define IW_DNSCACHE_GRACE_S 300 /* an answer is used this long past its TTL */

struct iw_dnscache;

/* A cache of at most max entries (0 is taken as 1, more than 2^31 as 2^31); its memory
 * grows with the entries it holds. Aborts on allocation failure. */
struct iw_dnscache *iw_dnscache_new(uint64_t max);
void iw_dnscache_free(struct iw_dnscache *c);

/* Device (dfam, dev) was told that qname (through the chain, cname; NULL or qname when
 * there was none) has address (afam, addr), valid for ttl seconds from now_us. A later
 * answer for the same pair replaces the names and the expiry. Names longer than 255
 * bytes are cut. */
void iw_dnscache_add(struct iw_dnscache *c, int dfam, const uint8_t *dev, int afam, const uint8_t *addr,
                     const char *qname, const char *cname, uint32_t ttl, uint64_t now_us);

/* The names device dev was last told for addr, if that answer is still valid at now_us
 * (TTL plus IW_DNSCACHE_GRACE_S); an expired answer is dropped. The strings stay valid
 * until the next add, a lookup that drops this answer, or free. */
bool iw_dnscache_lookup(struct iw_dnscache *c, int dfam, const uint8_t *dev, int afam, const uint8_t *addr,
                        uint64_t now_us, const char **qname, const char **cname);

uint64_t iw_dnscache_size(const struct iw_dnscache *c);
uint64_t iw_dnscache_evicted(const struct iw_dnscache *c);

#endif
