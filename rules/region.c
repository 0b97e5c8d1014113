/* region.c - the region database: the cloud provider and region of an endpoint from its
 * host name (REFERENCE §2 and §3 name patterns) or its address (longest-prefix match over
 * AWS ip-ranges.json and Azure Service Tags files, REFERENCE §3). docs/regions.md is the
 * user's view of the same.
 *
 * Address lookups do not walk the prefixes. After each load the prefixes of a family are
 * flattened into the sorted start points of disjoint ranges, each with the owner its
 * longest covering prefix gives (or none):
 *
 *   prefixes   10.0.0.0/8 A    10.1.0.0/16 B     (B inside A)
 *   ranges     |10.0.0.0 A |10.1.0.0 B |10.2.0.0 A |11.0.0.0 none
 *
 * so a lookup is one binary search over at most 2n+1 start points, whatever the mix of
 * prefix lengths (for IPv4 only over those inside the address's /16, which a table of the
 * 65,536 /16 blocks gives). Prefixes nest or are disjoint, never cross, which is what
 * makes one sweep with a stack of the enclosing prefixes enough to build this. Equal
 * prefixes: the one loaded first wins. */
#include "region.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../parsers/alloc.h"

/* ---------------------------------------------------------------------------------- */
/* names                                                                              */
/* ---------------------------------------------------------------------------------- */

#define NAME_MAX_LEN  253 /* RFC 1035 §2.3.4, without the trailing dot */
#define LABEL_MAX_LEN 63
#define MAX_LABELS    127

/* A host name lower-cased and cut into labels, counted from the right: lab[0] is the
 * top-level domain. */
struct name {
	char low[NAME_MAX_LEN + 1];
	const char *lab[MAX_LABELS];
	size_t len[MAX_LABELS];
	int n;
};

static bool ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Every label non-empty, at most 63 bytes of letters, digits, '-' or '_'; ASCII letters
 * lower-cased; one trailing dot dropped. */
static bool name_split(const char *host, struct name *nm)
{
	size_t len = strnlen(host, NAME_MAX_LEN + 2);
	if (len > 0 && host[len - 1] == '.')
		len--;
	if (len == 0 || len > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = host[i];
		nm->low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	nm->low[len] = '\0';

	/* collect labels left to right, then reverse the order */
	const char *start = nm->low;
	int n = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && nm->low[i] != '.') {
			if (!ldh(nm->low[i]))
				return false;
			continue;
		}
		size_t l = (size_t)(nm->low + i - start);
		if (l == 0 || l > LABEL_MAX_LEN || n == MAX_LABELS)
			return false;
		nm->lab[n] = start;
		nm->len[n] = l;
		n++;
		start = nm->low + i + 1;
	}
	for (int i = 0; i < n / 2; i++) {
		const char *t = nm->lab[i];
		size_t tl = nm->len[i];
		nm->lab[i] = nm->lab[n - 1 - i];
		nm->len[i] = nm->len[n - 1 - i];
		nm->lab[n - 1 - i] = t;
		nm->len[n - 1 - i] = tl;
	}
	nm->n = n;
	return true;
}

/* Label k from the right is exactly s. */
static bool lab_is(const struct name *nm, int k, const char *s)
{
	return k >= 0 && k < nm->n && nm->len[k] == strlen(s) && memcmp(nm->lab[k], s, nm->len[k]) == 0;
}

static bool all_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_lower(s[i]))
			return false;
	return n > 0;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return n > 0;
}

/* The shape of an AWS region, [a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+: us-east-1,
 * us-gov-west-1, us-isob-east-1, ap-south-2. Whether AWS offers a service there is the
 * rules' business, not this file's. */
static bool aws_region_shape(const char *s, size_t n)
{
	const char *part[5];
	size_t plen[5];
	int np = 0;
	const char *start = s;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '-')
			continue;
		if (np == 4)
			return false;
		part[np] = start;
		plen[np] = (size_t)(s + i - start);
		np++;
		start = s + i + 1;
	}
	if (np < 3 || plen[0] != 2 || !all_lower(part[0], 2))
		return false;
	if (np == 4) {
		bool gov = plen[1] == 3 && memcmp(part[1], "gov", 3) == 0;
		bool iso = (plen[1] == 3 || plen[1] == 4) && memcmp(part[1], "iso", 3) == 0 &&
		           all_lower(part[1], plen[1]);
		if (!gov && !iso)
			return false;
	}
	return all_lower(part[np - 2], plen[np - 2]) && all_digits(part[np - 1], plen[np - 1]);
}

/* GCP: [a-z]+-[a-z]+[0-9]+ (europe-west1, asia-south1, northamerica-northeast2). */
static bool gcp_region_shape(const char *s, size_t n)
{
	const char *dash = memchr(s, '-', n);
	if (!dash || !all_lower(s, (size_t)(dash - s)))
		return false;
	const char *p = dash + 1, *end = s + n;
	const char *q = p;
	while (q < end && is_lower(*q))
		q++;
	return q > p && all_digits(q, (size_t)(end - q));
}

/* EMQX Cloud names its regions after the underlying cloud's (us-east-1, asia-south1):
 * a letter first, letters, digits and single hyphens, a letter or digit last. */
static bool emqx_region_shape(const char *s, size_t n)
{
	if (n == 0 || !is_lower(s[0]) || s[n - 1] == '-')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(is_lower(s[i]) || is_digit(s[i]) || (s[i] == '-' && s[i - 1] != '-')))
			return false;
	return true;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return n > 0;
}

struct name_hit {
	const char *provider, *service;
	const char *region;
	size_t region_len;
};

static bool hit(struct name_hit *h, const char *provider, const char *service, const char *region, size_t len)
{
	h->provider = provider;
	h->service = service;
	h->region = region;
	h->region_len = len;
	return true;
}

/* AWS: [labels].<service label>.<region>.(amazonaws.com | amazonaws.com.cn | api.aws)
 *
 *   <prefix>.iot | <prefix>-ats.iot | data.iot-fips | data-ats.iot-fips   iot
 *   <prefix>.ats.iot (China)                                              iot
 *   (data|api).tunneling.iot[-fips]                                       tunneling
 *   <prefix>.credentials.iot[-fips], <prefix>.jobs.iot[-fips]             credentials, jobs
 *   greengrass-ats.iot, greengrass.iot (v1), greengrass                   greengrass
 *   api.iot-tunneling[-fips] (api.aws only)                               tunneling
 *
 * The bare control-plane names (iot.<region>.amazonaws.com) are not devices' endpoints
 * and are left to the IP ranges. */
static bool match_aws(const struct name *nm, struct name_hit *h)
{
	int k;
	bool api_aws = false;
	if (lab_is(nm, 0, "com") && lab_is(nm, 1, "amazonaws")) {
		k = 2;
	} else if (lab_is(nm, 0, "cn") && lab_is(nm, 1, "com") && lab_is(nm, 2, "amazonaws")) {
		k = 3;
	} else if (lab_is(nm, 0, "aws") && lab_is(nm, 1, "api")) {
		k = 2;
		api_aws = true;
	} else {
		return false;
	}
	if (nm->n < k + 2 || !aws_region_shape(nm->lab[k], nm->len[k]))
		return false;
	const char *region = nm->lab[k];
	size_t rlen = nm->len[k];
	int svc = k + 1;              /* the service label */
	int before = nm->n - svc - 1; /* labels left of it */

	if (lab_is(nm, svc, "iot") || lab_is(nm, svc, "iot-fips")) {
		if (before == 1) {
			if (lab_is(nm, svc + 1, "greengrass-ats") || lab_is(nm, svc + 1, "greengrass"))
				return hit(h, "aws", "greengrass", region, rlen);
			/* the structure labels below are not endpoint prefixes: such a name is cut short */
			if (lab_is(nm, svc + 1, "tunneling") || lab_is(nm, svc + 1, "credentials") ||
			    lab_is(nm, svc + 1, "jobs") || lab_is(nm, svc + 1, "ats"))
				return false;
			return hit(h, "aws", "iot", region, rlen);
		}
		if (before == 2) {
			if (lab_is(nm, svc + 1, "tunneling") &&
			    (lab_is(nm, svc + 2, "data") || lab_is(nm, svc + 2, "api")))
				return hit(h, "aws", "tunneling", region, rlen);
			if (lab_is(nm, svc + 1, "credentials"))
				return hit(h, "aws", "credentials", region, rlen);
			if (lab_is(nm, svc + 1, "jobs"))
				return hit(h, "aws", "jobs", region, rlen);
			if (lab_is(nm, svc + 1, "ats"))
				return hit(h, "aws", "iot", region, rlen);
		}
		return false;
	}
	if (lab_is(nm, svc, "greengrass") && before == 0 && !api_aws)
		return hit(h, "aws", "greengrass", region, rlen);
	if ((lab_is(nm, svc, "iot-tunneling") || lab_is(nm, svc, "iot-tunneling-fips")) && before == 1 &&
	    lab_is(nm, svc + 1, "api") && api_aws)
		return hit(h, "aws", "tunneling", region, rlen);
	return false;
}

/* Azure IoT Hub device streams: <hub>.<region>-NNN.streams.azure-devices.net. */
static bool match_azure(const struct name *nm, struct name_hit *h)
{
	if (nm->n != 5 || !lab_is(nm, 0, "net") || !lab_is(nm, 1, "azure-devices") ||
	    !lab_is(nm, 2, "streams"))
		return false;
	const char *s = nm->lab[3];
	size_t n = nm->len[3];
	if (n < 6 || s[n - 4] != '-' || !all_digits(s + n - 3, 3))
		return false;
	size_t rlen = n - 4;
	if (!is_lower(s[0]))
		return false;
	for (size_t i = 1; i < rlen; i++)
		if (!is_lower(s[i]) && !is_digit(s[i]))
			return false;
	return hit(h, "azure", "streams", s, rlen);
}

/* GCP regional Pub/Sub: <region>-pubsub.googleapis.com. */
static bool match_gcp(const struct name *nm, struct name_hit *h)
{
	static const char suffix[] = "-pubsub";
	const size_t sl = sizeof suffix - 1;
	if (nm->n != 3 || !lab_is(nm, 0, "com") || !lab_is(nm, 1, "googleapis"))
		return false;
	const char *s = nm->lab[2];
	size_t n = nm->len[2];
	if (n <= sl || memcmp(s + n - sl, suffix, sl) != 0 || !gcp_region_shape(s, n - sl))
		return false;
	return hit(h, "gcp", "pubsub", s, n - sl);
}

/* EMQX Cloud serverless: <id>.ala.<cloud-region>.emqxsl.com. */
static bool match_emqx(const struct name *nm, struct name_hit *h)
{
	if (nm->n != 5 || !lab_is(nm, 0, "com") || !lab_is(nm, 1, "emqxsl") || !lab_is(nm, 3, "ala") ||
	    !emqx_region_shape(nm->lab[2], nm->len[2]))
		return false;
	return hit(h, "emqx", "mqtt", nm->lab[2], nm->len[2]);
}

/* HiveMQ Cloud: <hex>.s<N>.<area>.hivemq.cloud. The token is coarse ("eu") and only
 * "eu" is confirmed (REFERENCE §2 [UNCONFIRMED]): other letters are passed on as they
 * are, for the allow list to decide. */
static bool match_hivemq(const struct name *nm, struct name_hit *h)
{
	if (nm->n != 5 || !lab_is(nm, 0, "cloud") || !lab_is(nm, 1, "hivemq") ||
	    !all_lower(nm->lab[2], nm->len[2]))
		return false;
	if (nm->len[3] < 2 || nm->lab[3][0] != 's' || !all_digits(nm->lab[3] + 1, nm->len[3] - 1) ||
	    !all_hex(nm->lab[4], nm->len[4]))
		return false;
	return hit(h, "hivemq", "mqtt", nm->lab[2], nm->len[2]);
}

bool iw_region_from_name(const char *host, struct iw_region *r, char *buf, size_t buflen)
{
	struct name nm;
	struct name_hit h;
	if (!host || !r || !buf || !name_split(host, &nm))
		return false;
	if (!match_aws(&nm, &h) && !match_azure(&nm, &h) && !match_gcp(&nm, &h) && !match_emqx(&nm, &h) &&
	    !match_hivemq(&nm, &h))
		return false;
	if (h.region_len >= buflen)
		return false;
	memcpy(buf, h.region, h.region_len);
	buf[h.region_len] = '\0';
	r->provider = h.provider;
	r->region = buf;
	r->service = h.service;
	return true;
}

/* ---------------------------------------------------------------------------------- */
/* the database                                                                       */
/* ---------------------------------------------------------------------------------- */

#define NO_OWNER    UINT32_MAX
#define MAX_ENTRIES (1u << 26) /* far above any real file; keeps indexes in 32 bits */
#define MAX_FILE    (256u << 20)

/* What a prefix maps to; each distinct triple is stored once. */
struct owner {
	const char *provider; /* static */
	const char *region;   /* interned */
	const char *service;  /* interned */
};

struct pfx4 {
	uint32_t net;
	uint32_t owner;
	uint32_t seq; /* load order: the first of two equal prefixes wins */
	uint8_t len;
};

struct pfx6 {
	uint64_t hi, lo;
	uint32_t owner;
	uint32_t seq;
	uint8_t len;
};

/* From start up to the next start point, addresses belong to owner (or NO_OWNER). */
struct start4 {
	uint32_t at;
	uint32_t owner;
};

struct start6 {
	uint64_t hi, lo;
	uint32_t owner;
};

struct iw_region_db {
	/* interned strings: open addressing, power-of-two slots, at most half full */
	char **str;
	size_t n_str, cap_str;
	/* owners, and a set of their indexes + 1 (0: empty slot) to find them by value */
	struct owner *own;
	size_t n_own, cap_own;
	uint32_t *own_slot;
	size_t cap_own_slot;
	/* prefixes as loaded (kept so a second file can be merged in) */
	struct pfx4 *p4;
	size_t n4, cap4;
	struct pfx6 *p6;
	size_t n6, cap6;
	uint32_t seq;
	/* what lookups search */
	struct start4 *s4;
	size_t ns4;
	uint32_t *by16; /* 65537: the start points below k << 16 number by16[k] */
	struct start6 *s6;
	size_t ns6;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t hash_owner(const struct owner *o)
{
	uint64_t h = (uint64_t)(uintptr_t)o->provider * 0x9e3779b97f4a7c15ull;
	h ^= (uint64_t)(uintptr_t)o->region + 0x7f4a7c159e3779b9ull + (h << 6) + (h >> 2);
	h ^= (uint64_t)(uintptr_t)o->service + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h ^ (h >> 29);
}

/* The one stored copy of s[0..n) (no NUL inside), made on first sight. */
static const char *intern(struct iw_region_db *db, const char *s, size_t n)
{
	if (2 * (db->n_str + 1) > db->cap_str) {
		size_t cap = db->cap_str ? 2 * db->cap_str : 64;
		char **t = iw_calloc(cap, sizeof *t);
		for (size_t i = 0; i < db->cap_str; i++) {
			char *old = db->str[i];
			if (!old)
				continue;
			size_t j = hash_bytes(old, strlen(old)) & (cap - 1);
			while (t[j])
				j = (j + 1) & (cap - 1);
			t[j] = old;
		}
		free(db->str);
		db->str = t;
		db->cap_str = cap;
	}
	size_t j = hash_bytes(s, n) & (db->cap_str - 1);
	for (; db->str[j]; j = (j + 1) & (db->cap_str - 1))
		if (strncmp(db->str[j], s, n) == 0 && db->str[j][n] == '\0')
			return db->str[j];
	char *copy = iw_malloc(n + 1);
	memcpy(copy, s, n);
	copy[n] = '\0';
	db->str[j] = copy;
	db->n_str++;
	return copy;
}

static uint32_t owner_of(struct iw_region_db *db, const char *provider, const char *region,
                         const char *service)
{
	struct owner o = {provider, region, service};
	if (2 * (db->n_own + 1) > db->cap_own_slot) {
		size_t cap = db->cap_own_slot ? 2 * db->cap_own_slot : 64;
		uint32_t *t = iw_calloc(cap, sizeof *t);
		for (size_t i = 0; i < db->n_own; i++) {
			size_t j = hash_owner(&db->own[i]) & (cap - 1);
			while (t[j])
				j = (j + 1) & (cap - 1);
			t[j] = (uint32_t)i + 1;
		}
		free(db->own_slot);
		db->own_slot = t;
		db->cap_own_slot = cap;
	}
	size_t j = hash_owner(&o) & (db->cap_own_slot - 1);
	for (; db->own_slot[j]; j = (j + 1) & (db->cap_own_slot - 1)) {
		const struct owner *e = &db->own[db->own_slot[j] - 1];
		if (e->provider == provider && e->region == region && e->service == service)
			return db->own_slot[j] - 1;
	}
	if (db->n_own == db->cap_own) {
		db->cap_own = db->cap_own ? 2 * db->cap_own : 64;
		db->own = iw_realloc(db->own, db->cap_own * sizeof *db->own);
	}
	db->own[db->n_own] = o;
	db->own_slot[j] = (uint32_t)db->n_own + 1;
	return (uint32_t)db->n_own++;
}

struct iw_region_db *iw_region_db_new(void)
{
	return iw_calloc(1, sizeof(struct iw_region_db));
}

void iw_region_db_free(struct iw_region_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->cap_str; i++)
		free(db->str[i]);
	free(db->str);
	free(db->own);
	free(db->own_slot);
	free(db->p4);
	free(db->p6);
	free(db->s4);
	free(db->by16);
	free(db->s6);
	free(db);
}

uint64_t iw_region_db_size(const struct iw_region_db *db)
{
	return db ? (uint64_t)db->n4 + db->n6 : 0;
}

/* ---- prefixes ---- */

/* Digits of a prefix length: "0" or no leading zero, at most max, then the end. */
static bool parse_len(const char *s, unsigned max, uint8_t *out)
{
	unsigned v = 0;
	size_t n = 0;
	if (s[0] == '0' && s[1] != '\0')
		return false;
	for (; is_digit(s[n]); n++) {
		if (n == 3)
			return false;
		v = v * 10 + (unsigned)(s[n] - '0');
	}
	if (n == 0 || s[n] != '\0' || v > max)
		return false;
	*out = (uint8_t)v;
	return true;
}

/* a.b.c.d/n, decimal octets without leading zeros, n <= 32; host bits cleared. */
static bool parse_v4(const char *s, uint32_t *net, uint8_t *len)
{
	uint32_t a = 0;
	for (int i = 0; i < 4; i++) {
		unsigned v = 0;
		size_t n = 0;
		if (s[0] == '0' && is_digit(s[1]))
			return false;
		for (; is_digit(s[n]); n++) {
			if (n == 3)
				return false;
			v = v * 10 + (unsigned)(s[n] - '0');
		}
		if (n == 0 || v > 255 || s[n] != (i < 3 ? '.' : '/'))
			return false;
		a = a << 8 | v;
		s += n + 1;
	}
	if (!parse_len(s, 32, len))
		return false;
	*net = *len == 0 ? 0 : a & (UINT32_MAX << (32 - *len));
	return true;
}

/* The host part of a /len IPv6 prefix as two 64-bit masks. */
static void host6(unsigned len, uint64_t *hi, uint64_t *lo)
{
	if (len <= 64) {
		*hi = len == 0 ? UINT64_MAX : len == 64 ? 0 : UINT64_MAX >> len;
		*lo = UINT64_MAX;
	} else {
		*hi = 0;
		*lo = len == 128 ? 0 : UINT64_MAX >> (len - 64);
	}
}

static void split6(const uint8_t *b, uint64_t *hi, uint64_t *lo)
{
	*hi = *lo = 0;
	for (int i = 0; i < 8; i++) {
		*hi = *hi << 8 | b[i];
		*lo = *lo << 8 | b[8 + i];
	}
}

/* An inet_pton(AF_INET6) address, '/', n <= 128; host bits cleared. */
static bool parse_v6(const char *s, uint64_t *hi, uint64_t *lo, uint8_t *len)
{
	char addr[INET6_ADDRSTRLEN];
	uint8_t b[16];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof addr || !parse_len(slash + 1, 128, len))
		return false;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET6, addr, b) != 1)
		return false;
	uint64_t mh, ml;
	split6(b, hi, lo);
	host6(*len, &mh, &ml);
	*hi &= ~mh;
	*lo &= ~ml;
	return true;
}

/* ---- building the start points ---- */

static int cmp4(const void *a, const void *b)
{
	const struct pfx4 *x = a, *y = b;
	if (x->net != y->net)
		return x->net < y->net ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1; /* the enclosing prefix first */
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp6(const void *a, const void *b)
{
	const struct pfx6 *x = a, *y = b;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Appends a start point. One at the same address replaces the last (a nested prefix
 * starting where its parent does, or two prefixes ending together); one that changes
 * nothing is dropped. */
static void put4(struct iw_region_db *db, uint32_t at, uint32_t owner)
{
	if (db->ns4 && db->s4[db->ns4 - 1].at == at)
		db->ns4--;
	if (db->ns4 ? db->s4[db->ns4 - 1].owner == owner : owner == NO_OWNER)
		return;
	db->s4[db->ns4].at = at;
	db->s4[db->ns4].owner = owner;
	db->ns4++;
}

static void put6(struct iw_region_db *db, uint64_t hi, uint64_t lo, uint32_t owner)
{
	if (db->ns6 && db->s6[db->ns6 - 1].hi == hi && db->s6[db->ns6 - 1].lo == lo)
		db->ns6--;
	if (db->ns6 ? db->s6[db->ns6 - 1].owner == owner : owner == NO_OWNER)
		return;
	db->s6[db->ns6].hi = hi;
	db->s6[db->ns6].lo = lo;
	db->s6[db->ns6].owner = owner;
	db->ns6++;
}

static void build4(struct iw_region_db *db)
{
	/* the enclosing prefixes of the current one, outermost first: at most one per length */
	struct {
		uint32_t net, last, owner;
		uint8_t len;
	} st[33];
	int depth = 0;

	if (db->n4)
		qsort(db->p4, db->n4, sizeof *db->p4, cmp4);
	free(db->s4);
	db->s4 = iw_calloc(2 * db->n4 + 1, sizeof *db->s4);
	db->ns4 = 0;
	for (size_t i = 0; i <= db->n4; i++) {
		const struct pfx4 *p = i < db->n4 ? &db->p4[i] : NULL;
		if (p && depth && st[depth - 1].net == p->net && st[depth - 1].len == p->len)
			continue; /* the same prefix again: the one loaded first stays */
		/* close what ends before p starts (everything, after the last one) */
		while (depth && (!p || st[depth - 1].last < p->net)) {
			uint32_t last = st[--depth].last;
			if (last != UINT32_MAX)
				put4(db, last + 1, depth ? st[depth - 1].owner : NO_OWNER);
		}
		if (!p)
			break;
		uint32_t host = p->len == 0 ? UINT32_MAX : p->len == 32 ? 0 : UINT32_MAX >> p->len;
		put4(db, p->net, p->owner);
		st[depth].net = p->net;
		st[depth].last = p->net | host;
		st[depth].owner = p->owner;
		st[depth].len = p->len;
		depth++;
	}

	/* which start points each /16 spans: a lookup searches only those, in a few steps */
	if (!db->by16)
		db->by16 = iw_malloc(65537 * sizeof *db->by16);
	size_t j = 0;
	for (uint32_t k = 0; k <= 65536; k++) {
		while (j < db->ns4 && db->s4[j].at < ((uint64_t)k << 16))
			j++;
		db->by16[k] = (uint32_t)j;
	}
}

static bool le6(uint64_t ah, uint64_t al, uint64_t bh, uint64_t bl)
{
	return ah < bh || (ah == bh && al <= bl);
}

static void build6(struct iw_region_db *db)
{
	struct {
		uint64_t hi, lo, last_hi, last_lo;
		uint32_t owner;
		uint8_t len;
	} *st = iw_malloc(129 * sizeof *st);
	int depth = 0;

	if (db->n6)
		qsort(db->p6, db->n6, sizeof *db->p6, cmp6);
	free(db->s6);
	db->s6 = iw_calloc(2 * db->n6 + 1, sizeof *db->s6);
	db->ns6 = 0;
	for (size_t i = 0; i <= db->n6; i++) {
		const struct pfx6 *p = i < db->n6 ? &db->p6[i] : NULL;
		if (p && depth && st[depth - 1].hi == p->hi && st[depth - 1].lo == p->lo &&
		    st[depth - 1].len == p->len)
			continue;
		while (depth && (!p || !le6(p->hi, p->lo, st[depth - 1].last_hi, st[depth - 1].last_lo))) {
			depth--;
			uint64_t lh = st[depth].last_hi, ll = st[depth].last_lo;
			if (lh == UINT64_MAX && ll == UINT64_MAX)
				continue;
			ll++;
			if (ll == 0)
				lh++;
			put6(db, lh, ll, depth ? st[depth - 1].owner : NO_OWNER);
		}
		if (!p)
			break;
		uint64_t mh, ml;
		host6(p->len, &mh, &ml);
		put6(db, p->hi, p->lo, p->owner);
		st[depth].hi = p->hi;
		st[depth].lo = p->lo;
		st[depth].last_hi = p->hi | mh;
		st[depth].last_lo = p->lo | ml;
		st[depth].owner = p->owner;
		st[depth].len = p->len;
		depth++;
	}
	free(st);
}

/* ---- loading ---- */

struct loader {
	struct iw_region_db *db;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct loader *ld, const char *fmt, ...)
{
	if (ld->err && ld->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ld->err, ld->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* s for an error line: at most 60 bytes, anything unprintable as '?'. */
static const char *shown(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	for (; s[n] && n + 4 < outlen && n < 60; n++)
		out[n] = (s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?';
	if (s[n]) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

/* Member key of object o as a string without NUL bytes. Returns 1 found, 0 absent
 * (when optional), -1 with the error set. */
static int get_str(struct loader *ld, struct json_object *o, const char *path, const char *key, bool optional,
                   const char **out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v)) {
		if (optional)
			return 0;
		return fail(ld, "%s.%s: missing", path, key);
	}
	if (!json_object_is_type(v, json_type_string))
		return fail(ld, "%s.%s: not a string", path, key);
	const char *s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return fail(ld, "%s.%s: contains a NUL byte", path, key);
	*out = s;
	return 1;
}

static int room(struct loader *ld)
{
	if (ld->db->n4 + ld->db->n6 >= MAX_ENTRIES)
		return fail(ld, "more than %u prefixes", MAX_ENTRIES);
	return 0;
}

static void add4(struct iw_region_db *db, uint32_t net, uint8_t len, uint32_t owner)
{
	if (db->n4 == db->cap4) {
		db->cap4 = db->cap4 ? 2 * db->cap4 : 256;
		db->p4 = iw_realloc(db->p4, db->cap4 * sizeof *db->p4);
	}
	db->p4[db->n4++] = (struct pfx4){.net = net, .owner = owner, .seq = db->seq++, .len = len};
}

static void add6(struct iw_region_db *db, uint64_t hi, uint64_t lo, uint8_t len, uint32_t owner)
{
	if (db->n6 == db->cap6) {
		db->cap6 = db->cap6 ? 2 * db->cap6 : 256;
		db->p6 = iw_realloc(db->p6, db->cap6 * sizeof *db->p6);
	}
	db->p6[db->n6++] = (struct pfx6){.hi = hi, .lo = lo, .owner = owner, .seq = db->seq++, .len = len};
}

/* One prefix string of family 4 or 6 (0: either, by the presence of ':'); the owner is
 * made only when add is set, so entries that are skipped are still checked. */
static int prefix(struct loader *ld, const char *path, const char *s, int family, bool add,
                  const char *provider, const char *region, const char *service, size_t service_len)
{
	char q[72];
	int fam = family ? family : strchr(s, ':') ? 6 : 4;
	uint32_t net = 0;
	uint64_t hi = 0, lo = 0;
	uint8_t len = 0;
	bool ok = fam == 4 ? parse_v4(s, &net, &len) : parse_v6(s, &hi, &lo, &len);
	if (!ok)
		return fail(ld, "%s: \"%s\" is not an %s prefix", path, shown(s, q, sizeof q),
		            family == 4   ? "IPv4"
		            : family == 6 ? "IPv6"
		                          : "IPv4 or IPv6");
	if (!add)
		return 0;
	if (room(ld) < 0)
		return -1;
	uint32_t owner = owner_of(ld->db, provider, intern(ld->db, region, strlen(region)),
	                          intern(ld->db, service, service_len));
	if (fam == 4)
		add4(ld->db, net, len, owner);
	else
		add6(ld->db, hi, lo, len, owner);
	return 0;
}

/* AWS ip-ranges.json: prefixes[] {ip_prefix, region, service, ...} and ipv6_prefixes[]
 * {ipv6_prefix, ...}. Region "GLOBAL" (and an empty one) names no region: skipped. */
static int load_aws(struct loader *ld, struct json_object *root)
{
	static const struct {
		const char *array, *member;
		int family;
	} kinds[] = {{"prefixes", "ip_prefix", 4}, {"ipv6_prefixes", "ipv6_prefix", 6}};

	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		struct json_object *arr;
		if (!json_object_object_get_ex(root, kinds[k].array, &arr))
			continue;
		if (!json_object_is_type(arr, json_type_array))
			return fail(ld, "%s: not an array", kinds[k].array);
		size_t n = json_object_array_length(arr);
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(arr, i);
			char path[64], mpath[96];
			const char *pfx, *region, *service;
			snprintf(path, sizeof path, "%s[%zu]", kinds[k].array, i);
			if (!json_object_is_type(e, json_type_object))
				return fail(ld, "%s: not an object", path);
			if (get_str(ld, e, path, kinds[k].member, false, &pfx) < 0 ||
			    get_str(ld, e, path, "region", false, &region) < 0 ||
			    get_str(ld, e, path, "service", false, &service) < 0)
				return -1;
			snprintf(mpath, sizeof mpath, "%s.%s", path, kinds[k].member);
			bool add = region[0] != '\0' && strcmp(region, "GLOBAL") != 0;
			if (prefix(ld, mpath, pfx, kinds[k].family, add, "aws", region, service,
			           strlen(service)) < 0)
				return -1;
		}
	}
	return 0;
}

/* Azure Service Tags: values[] {name, id, properties: {region, systemService,
 * addressPrefixes[], ...}}. The service is systemService, or the tag name before its
 * '.' when that is empty (AzureCloud.southindia -> AzureCloud). Tags with an empty or
 * absent region are global: skipped. */
static int load_azure(struct loader *ld, struct json_object *values)
{
	if (!json_object_is_type(values, json_type_array))
		return fail(ld, "values: not an array");
	size_t n = json_object_array_length(values);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(values, i), *props, *list;
		char path[48], ppath[80], apath[128];
		const char *name, *region = "", *service = "";
		snprintf(path, sizeof path, "values[%zu]", i);
		if (!json_object_is_type(e, json_type_object))
			return fail(ld, "%s: not an object", path);
		if (get_str(ld, e, path, "name", false, &name) < 0)
			return -1;
		if (!json_object_object_get_ex(e, "properties", &props))
			return fail(ld, "%s.properties: missing", path);
		if (!json_object_is_type(props, json_type_object))
			return fail(ld, "%s.properties: not an object", path);
		snprintf(ppath, sizeof ppath, "%s.properties", path);
		if (get_str(ld, props, ppath, "region", true, &region) < 0 ||
		    get_str(ld, props, ppath, "systemService", true, &service) < 0)
			return -1;
		if (!json_object_object_get_ex(props, "addressPrefixes", &list))
			return fail(ld, "%s.addressPrefixes: missing", ppath);
		if (!json_object_is_type(list, json_type_array))
			return fail(ld, "%s.addressPrefixes: not an array", ppath);
		size_t service_len = strlen(service);
		if (service_len == 0) {
			const char *dot = strchr(name, '.');
			service = name;
			service_len = dot ? (size_t)(dot - name) : strlen(name);
		}
		size_t m = json_object_array_length(list);
		for (size_t j = 0; j < m; j++) {
			struct json_object *v = json_object_array_get_idx(list, j);
			snprintf(apath, sizeof apath, "%s.addressPrefixes[%zu]", ppath, j);
			if (!json_object_is_type(v, json_type_string))
				return fail(ld, "%s: not a string", apath);
			const char *s = json_object_get_string(v);
			if (strlen(s) != (size_t)json_object_get_string_len(v))
				return fail(ld, "%s: contains a NUL byte", apath);
			if (prefix(ld, apath, s, 0, region[0] != '\0', "azure", region, service,
			           service_len) < 0)
				return -1;
		}
	}
	return 0;
}

/* json-c's parse of the whole buffer, or NULL with "not JSON at line L, column C: ...". */
static struct json_object *parse_json(struct loader *ld, const char *data, size_t len)
{
	if (len > MAX_FILE || len > INT_MAX) {
		fail(ld, "larger than %u MB", MAX_FILE >> 20);
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		iw_oom();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	struct json_object *root = json_tokener_parse_ex(tok, data, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (!root && je == json_tokener_continue && end == len) {
		/* a bare number needs a character after it to end */
		root = json_tokener_parse_ex(tok, " ", 1);
		je = json_tokener_get_error(tok);
	}
	if (root) {
		json_tokener_free(tok);
		return root;
	}
	if (end > len)
		end = len;
	unsigned line = 1, col = 1;
	for (size_t i = 0; i < end; i++) {
		if (data[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	fail(ld, "not JSON at line %u, column %u: %s", line, col,
	     je == json_tokener_continue ? "unexpected end of input" : json_tokener_error_desc(je));
	json_tokener_free(tok);
	return NULL;
}

int iw_region_db_load_buf(struct iw_region_db *db, const char *data, size_t len, char *err, size_t errlen)
{
	struct loader ld = {db, err, errlen};
	size_t n4 = db->n4, n6 = db->n6;
	int rc = -1;

	/* a UTF-8 byte order mark, which some tools write before the document */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		len -= 3;
	}
	struct json_object *root = parse_json(&ld, data, len), *values;
	if (!root)
		return -1;
	if (!json_object_is_type(root, json_type_object)) {
		fail(&ld, "neither AWS ip-ranges nor Azure Service Tags (the top level is not an object)");
		goto out;
	}
	bool aws = json_object_object_get_ex(root, "prefixes", NULL) ||
	           json_object_object_get_ex(root, "ipv6_prefixes", NULL);
	bool azure = json_object_object_get_ex(root, "values", &values);
	if (aws && azure) {
		fail(&ld, "both AWS ip-ranges and Azure Service Tags members (prefixes and values)");
		goto out;
	}
	if (!aws && !azure) {
		fail(&ld, "neither AWS ip-ranges nor Azure Service Tags (no prefixes or values)");
		goto out;
	}
	rc = aws ? load_aws(&ld, root) : load_azure(&ld, values);
out:
	json_object_put(root);
	if (rc < 0) {
		db->n4 = n4; /* what this call added goes; interned strings stay until free */
		db->n6 = n6;
		return -1;
	}
	if (db->n4 != n4 || !db->s4)
		build4(db);
	if (db->n6 != n6 || !db->s6)
		build6(db);
	return 0;
}

int iw_region_db_load(struct iw_region_db *db, const char *path, char *err, size_t errlen)
{
	struct loader ld = {db, err, errlen};
	FILE *f = fopen(path, "rb");
	if (!f)
		return fail(&ld, "cannot open: %s", strerror(errno));
	size_t len = 0, cap = 1 << 16;
	char *data = iw_malloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap >= MAX_FILE) {
				free(data);
				fclose(f);
				return fail(&ld, "larger than %u MB", MAX_FILE >> 20);
			}
			cap *= 2;
			data = iw_realloc(data, cap);
		}
		size_t got = fread(data + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	int rd_err = ferror(f) ? errno : 0;
	fclose(f);
	int rc = rd_err ? fail(&ld, "cannot read: %s", strerror(rd_err))
	                : iw_region_db_load_buf(db, data, len, err, errlen);
	free(data);
	return rc;
}

/* ---- lookups ---- */

static uint32_t find4(const struct iw_region_db *db, uint32_t a)
{
	if (!db->by16)
		return NO_OWNER;
	/* the answer is the last start point <= a: in a's /16, or the one before it */
	size_t lo = db->by16[a >> 16], hi = db->by16[(a >> 16) + 1];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (db->s4[mid].at <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? db->s4[lo - 1].owner : NO_OWNER;
}

static uint32_t find6(const struct iw_region_db *db, uint64_t ah, uint64_t al)
{
	size_t lo = 0, hi = db->ns6;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (le6(db->s6[mid].hi, db->s6[mid].lo, ah, al))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? db->s6[lo - 1].owner : NO_OWNER;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) that no IPv6 prefix covers is looked up
 * as the IPv4 address it carries. */
bool iw_region_from_addr(const struct iw_region_db *db, int family, const uint8_t *addr, struct iw_region *r)
{
	uint32_t owner = NO_OWNER;
	if (!db || !addr || !r)
		return false;
	if (family == 4) {
		owner = find4(db, (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 | (uint32_t)addr[2] << 8 |
		                      addr[3]);
	} else if (family == 6) {
		uint64_t hi, lo;
		split6(addr, &hi, &lo);
		owner = find6(db, hi, lo);
		if (owner == NO_OWNER && hi == 0 && (lo >> 32) == 0xffff)
			owner = find4(db, (uint32_t)lo);
	}
	if (owner == NO_OWNER)
		return false;
	r->provider = db->own[owner].provider;
	r->region = db->own[owner].region;
	r->service = db->own[owner].service;
	return true;
}
