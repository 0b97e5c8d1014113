/* digest.c - digests as hex (digest.h).
 *
 * The algorithms are fetched from the provider once and the context is reused, per
 * thread: an implicit fetch (EVP_md5() handed to EVP_DigestInit_ex) and a new context
 * per call cost more than digesting a ClientHello. */
#include "digest.h"

#include <openssl/evp.h>

#include "alloc.h"
#include "cursor.h"

bool iw_digest_parts(enum iw_digest alg, const struct iw_part *parts, size_t n, char sep, char *out)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	unsigned int want = alg == IW_MD5 ? 16 : 32;
	static _Thread_local EVP_MD_CTX *m;
	static _Thread_local EVP_MD *mds[2];
	static _Thread_local bool refused[2];
	out[0] = '\0';
	unsigned a = alg == IW_MD5 ? 0 : 1;
	if (!m && !(m = EVP_MD_CTX_new()))
		iw_oom();
	if (!mds[a] && !refused[a]) {
		mds[a] = EVP_MD_fetch(NULL, a == 0 ? "MD5" : "SHA2-256", NULL);
		refused[a] = !mds[a];
	}
	if (!mds[a])
		return false;
	bool ok = EVP_DigestInit_ex2(m, mds[a], NULL) == 1;
	for (size_t i = 0; i < n && ok; i++) {
		if (i && sep)
			ok = EVP_DigestUpdate(m, &sep, 1) == 1;
		if (ok && parts[i].n)
			ok = EVP_DigestUpdate(m, parts[i].p, parts[i].n) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(m, md, &len) == 1 && len == want;
	if (!ok)
		return false;
	struct iw_cur c = iw_cur_make(md, len);
	for (unsigned int i = 0; i < len; i++) {
		uint8_t b = iw_cur_u8(&c);
		out[2 * i] = digits[b >> 4];
		out[2 * i + 1] = digits[b & 15];
	}
	out[2 * len] = '\0';
	return true;
}

bool iw_digest_hex(enum iw_digest alg, const void *data, size_t len, char *out)
{
	struct iw_part one = {data, len};
	return iw_digest_parts(alg, &one, 1, '\0', out);
}
