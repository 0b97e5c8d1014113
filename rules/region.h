/* region.h - the region database: which cloud provider and region an endpoint belongs
 * to, from its host name (REFERENCE §3 patterns) or from its address (longest-prefix
 * match over AWS ip-ranges.json and Azure Service Tags files, rules.region.ip_ranges).
 *
 * Built once at start-up, then read-only: lookups take no lock and allocate nothing. */
#ifndef IW_REGION_H
#define IW_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iw_region_db;

struct iw_region {
	const char *provider; /* "aws", "azure", "gcp", "emqx", "hivemq": static */
	const char *region;   /* "ap-south-1", "northeurope", ...: in buf, or owned by the db */
	const char *service;  /* ip ranges: "AMAZON", "AzureIoTHub", ...; names: the endpoint
	                         kind ("iot", "tunneling", "streams", "pubsub", ...) */
};

/* Which provider and region a host name names, from the name alone: AWS IoT, Secure
 * Tunneling, credentials, jobs (also FIPS, China and api.aws forms), Azure device
 * streams, GCP regional Pub/Sub, EMQX Cloud serverless, HiveMQ Cloud. Case-insensitive,
 * a trailing dot ignored. The region is copied into buf (NUL-terminated); returns
 * false, with *r untouched, for a name that carries no region (Azure hubs, DPS, custom
 * domains, global endpoints). */
bool iw_region_from_name(const char *host, struct iw_region *r, char *buf, size_t buflen);

/* An empty database (no ranges): lookups by address find nothing. Aborts on allocation
 * failure. */
struct iw_region_db *iw_region_db_new(void);
void iw_region_db_free(struct iw_region_db *db);

/* Adds the prefixes of one file in AWS ip-ranges.json or Azure Service Tags format (told
 * apart by their members). Entries without a region (AWS "GLOBAL", Azure tags with an
 * empty region) are skipped. Returns 0, or -1 with a one-line reason in err that the
 * caller prefixes with the path ("not JSON at line 3, column 7: ...", "neither AWS
 * ip-ranges nor Azure Service Tags (no prefixes or values)", "prefixes[12].ip_prefix:
 * \"10.0.0.0/33\" is not an IPv4 prefix"). */
int iw_region_db_load(struct iw_region_db *db, const char *path, char *err, size_t errlen);

/* The same from len bytes in memory (need not be NUL-terminated): what
 * iw_region_db_load does after reading the file, and what the fuzz target drives. err
 * never names the file: the caller prefixes the path. On error the db keeps the
 * prefixes it had before the call. */
int iw_region_db_load_buf(struct iw_region_db *db, const char *data, size_t len, char *err, size_t errlen);

/* Longest-prefix match of an address (family 4 or 6, bytes in network order); on a tie
 * the entry loaded first wins. Returns false when no prefix covers it. */
bool iw_region_from_addr(const struct iw_region_db *db, int family, const uint8_t *addr, struct iw_region *r);

/* Prefixes loaded, IPv4 and IPv6 together. */
uint64_t iw_region_db_size(const struct iw_region_db *db);

#endif
