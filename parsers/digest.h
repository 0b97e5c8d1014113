/* digest.h - message digests as lower-case hex, through OpenSSL's libcrypto: JA3 and
 * JA3S (MD5), JA4's hash parts (SHA-256), HASSH (MD5), certificate fingerprints
 * (SHA-256). One place, so every fingerprint is formatted alike. */
#ifndef IW_DIGEST_H
#define IW_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum iw_digest { IW_MD5, IW_SHA256 };

#define IW_MD5_HEX    33 /* bytes of out: 32 hex digits and the NUL */
#define IW_SHA256_HEX 65

/* One piece of the digested input. */
struct iw_part {
	const void *p;
	size_t n;
};

/* The digest of the n parts, joined by sep when sep is not '\0', as lower-case hex in
 * out (IW_MD5_HEX or IW_SHA256_HEX bytes). Returns false, with out "", when libcrypto
 * refuses the algorithm (a FIPS-only build). Aborts on allocation failure. */
bool iw_digest_parts(enum iw_digest alg, const struct iw_part *parts, size_t n, char sep, char *out);

/* The same for one piece. */
bool iw_digest_hex(enum iw_digest alg, const void *data, size_t len, char *out);

#endif
