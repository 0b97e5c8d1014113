/* fuzz_region.c - fuzzes the region database (rules/region.c): host-name matching and the
 * loading of AWS ip-ranges / Azure Service Tags files, then lookups.
 *
 * Input: | selector 1 | rest |
 *   selector even: rest is a host name (cut at its first NUL), looked up with a region
 *                  buffer of selector / 2 bytes (0..127), so too-small buffers are hit too;
 *   selector odd:  rest is a file given to iw_region_db_load_buf, twice into the same db,
 *                  then addresses at the edges and from the input's last bytes are looked up.
 * Seeds: tests/fuzz/seeds/fuzz_region/ (the config/ samples and some names). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/region.h"

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static bool same(const char *a, const char *b)
{
	return (a == NULL) == (b == NULL) && (!a || strcmp(a, b) == 0);
}

static void names(const uint8_t *data, size_t size, size_t buflen)
{
	char *host = malloc(size + 2), *upper = malloc(size + 2);
	char buf[128], buf2[128];
	check(host && upper);
	memcpy(host, data, size);
	host[size] = '\0';
	size_t n = strlen(host);

	struct iw_region r = {"p", "r", "s"}, r2 = {NULL, NULL, NULL};
	bool ok = iw_region_from_name(host, &r, buf, buflen);
	if (!ok) {
		check(!strcmp(r.provider, "p") && !strcmp(r.region, "r") && !strcmp(r.service, "s"));
	} else {
		check(r.provider && r.service && r.region == buf);
		check(strlen(buf) < buflen && buf[0] != '\0');
	}

	/* case does not matter */
	for (size_t i = 0; i <= n; i++)
		upper[i] = (host[i] >= 'a' && host[i] <= 'z') ? (char)(host[i] - 'a' + 'A') : host[i];
	bool ok2 = iw_region_from_name(upper, &r2, buf2, buflen);
	check(ok == ok2);
	if (ok)
		check(same(r.provider, r2.provider) && same(r.service, r2.service) && !strcmp(buf, buf2));

	/* nor does one trailing dot */
	if (n > 0 && host[n - 1] != '.') {
		host[n] = '.';
		host[n + 1] = '\0';
		ok2 = iw_region_from_name(host, &r2, buf2, buflen);
		check(ok == ok2);
		if (ok)
			check(same(r.provider, r2.provider) && same(r.service, r2.service) &&
			      !strcmp(buf, buf2));
	}
	free(host);
	free(upper);
}

/* Looks up an address both ways (4: its first four bytes); out[0..1] get the regions. */
static void lookup(const struct iw_region_db *db, const uint8_t *addr, const char **out)
{
	for (int k = 0; k < 2; k++) {
		struct iw_region r = {NULL, NULL, NULL};
		out[k] = NULL;
		if (iw_region_from_addr(db, k ? 6 : 4, addr, &r)) {
			check(r.provider && r.region && r.service && r.region[0] != '\0');
			check(!strcmp(r.provider, "aws") || !strcmp(r.provider, "azure"));
			out[k] = r.region;
		}
	}
}

#define N_ADDR 6

static void lookups(const struct iw_region_db *db, const uint8_t *data, size_t size, const char **out)
{
	static const uint8_t edges[N_ADDR - 1][16] = {
	    {0},
	    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	    {0x20, 0x01, 0x0d, 0xb8, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
	    {198, 51, 100, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 130},
	};
	for (size_t i = 0; i < N_ADDR - 1; i++)
		lookup(db, edges[i], out + 2 * i);
	uint8_t tail[16] = {0}; /* the input's last bytes */
	memcpy(tail, data + (size > 16 ? size - 16 : 0), size > 16 ? 16 : size);
	lookup(db, tail, out + 2 * (N_ADDR - 1));
}

static void files(const uint8_t *data, size_t size)
{
	char err[256];
	const char *first[2 * N_ADDR], *again[2 * N_ADDR];
	struct iw_region_db *db = iw_region_db_new();
	err[0] = '\0';
	int rc = iw_region_db_load_buf(db, (const char *)data, size, err, sizeof err);
	uint64_t n = iw_region_db_size(db);
	lookups(db, data, size, first);
	if (rc != 0) {
		check(rc == -1 && n == 0 && err[0] != '\0' && !strchr(err, '\n'));
		for (size_t i = 0; i < 2 * N_ADDR; i++)
			check(first[i] == NULL);
	} else {
		/* the same file again: every prefix twice, the first copies win, so nothing changes */
		check(iw_region_db_load_buf(db, (const char *)data, size, err, sizeof err) == 0);
		check(iw_region_db_size(db) == 2 * n);
		lookups(db, data, size, again);
		for (size_t i = 0; i < 2 * N_ADDR; i++)
			check(first[i] == again[i]);
	}
	iw_region_db_free(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		files(data + 1, size - 1);
	else
		names(data + 1, size - 1, data[0] >> 1);
	return 0;
}
