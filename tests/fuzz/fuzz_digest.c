/* fuzz_digest.c - fuzzes parsers/digest.c, the hex digests behind JA3, JA4, HASSH and
 * certificate fingerprints. Not a protocol parser: it takes byte ranges the parsers cut
 * from packets, so the input is cut the same way.
 *
 * Input: | alg and separator 1 | part count 1 | part lengths 1 each | bytes |
 *   bit 0 of the first byte picks SHA-256 over MD5, bit 1 a ',' separator; the parts are
 *   cut from the bytes in turn (the last ones short when the input ends). Checked: the
 *   output is exactly the algorithm's hex length of lower-case hex digits, and the one-part
 *   form gives what the many-part form gives for the same bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parsers/digest.h"

#define MAX_PARTS 64

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void check_hex(const char *out, size_t want)
{
	check(strlen(out) == want);
	for (size_t i = 0; i < want; i++)
		check((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	enum iw_digest alg = data[0] & 1 ? IW_SHA256 : IW_MD5;
	char sep = data[0] & 2 ? ',' : '\0';
	size_t n = data[1] % (MAX_PARTS + 1);
	data += 2;
	size -= 2;
	size_t nlen = n < size ? n : size;
	const uint8_t *lens = data, *bytes = data + nlen, *end = data + size;
	struct iw_part parts[MAX_PARTS];
	for (size_t i = 0; i < n; i++) {
		size_t want = i < nlen ? lens[i] : 0, left = (size_t)(end - bytes);
		parts[i].p = bytes;
		parts[i].n = want < left ? want : left;
		bytes += parts[i].n;
	}
	char out[IW_SHA256_HEX], one[IW_SHA256_HEX];
	size_t hexlen = alg == IW_SHA256 ? 64 : 32;
	if (!iw_digest_parts(alg, parts, n, sep, out))
		return 0; /* an algorithm this libcrypto refuses */
	check_hex(out, hexlen);
	if (sep == '\0') { /* the parts back to back are one piece */
		const uint8_t *start = data + nlen;
		check(iw_digest_hex(alg, start, (size_t)(bytes - start), one));
		check(strcmp(out, one) == 0);
	}
	return 0;
}
