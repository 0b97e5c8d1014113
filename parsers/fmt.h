/* fmt.h - a number in decimal by hand, for the paths where snprintf's thousand
 * instructions a call show (RESP lengths, JA3 lists, a rule's subject for every write).
 * One definition for every directory. */
#ifndef IW_FMT_H
#define IW_FMT_H

#include <stddef.h>
#include <stdint.h>

#define IW_FMT_U64_MAX 20 /* digits of UINT64_MAX */

/* Writes v in decimal at out (at most IW_FMT_U64_MAX bytes, no NUL); returns how many. */
static inline size_t iw_fmt_u64(char *out, uint64_t v)
{
	char d[IW_FMT_U64_MAX];
	size_t k = 0;
	do {
		d[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < k; i++)
		out[i] = d[k - 1 - i];
	return k;
}

#endif
