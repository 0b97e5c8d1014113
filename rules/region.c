/* region.c - STUB: being written. */
#include "region.h"

#include <stdio.h>
#include <stdlib.h>

#include "../parsers/alloc.h"

struct iw_region_db {
	int unused;
};

bool iw_region_from_name(const char *host, struct iw_region *r, char *buf, size_t buflen)
{
	(void)host;
	(void)r;
	(void)buf;
	(void)buflen;
	return false;
}

struct iw_region_db *iw_region_db_new(void)
{
	return iw_calloc(1, sizeof(struct iw_region_db));
}

void iw_region_db_free(struct iw_region_db *db)
{
	free(db);
}

int iw_region_db_load(struct iw_region_db *db, const char *path, char *err, size_t errlen)
{
	(void)db;
	snprintf(err, errlen, "%s: not implemented", path);
	return -1;
}

bool iw_region_from_addr(const struct iw_region_db *db, int family, const uint8_t *addr, struct iw_region *r)
{
	(void)db;
	(void)family;
	(void)addr;
	(void)r;
	return false;
}

uint64_t iw_region_db_size(const struct iw_region_db *db)
{
	(void)db;
	return 0;
}
