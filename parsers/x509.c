/* x509.c - STUB: being written. */
#include "x509.h"

#include <string.h>

int iw_x509_parse(const uint8_t *der, size_t len, struct iw_x509 *x)
{
	(void)der;
	(void)len;
	memset(x, 0, sizeof(*x));
	return -1;
}

const char *iw_san_type_name(enum iw_san_type t)
{
	static const char *const n[] = {"dns", "ip", "uri", "email"};
	return (unsigned)t < 4 ? n[t] : "unknown";
}
