/* fuzz_x509.c - fuzzes the X.509 decoder (parsers/x509.c): the input is one DER
 * certificate (seeds: the certificates tests/unit/mkx509.sh makes). Not a protocol
 * parser, so not parser_harness.h: it checks the struct iw_x509 contract directly. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parsers/x509.h"

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* Length of the well-formed UTF-8 character at s (n bytes left), not a C0, DEL or C1
 * control; 0 when it is not one. */
static size_t printable_char(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return c >= 0x20 && c != 0x7f;
	size_t k = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	if (k == 0 || k > n)
		return 0;
	unsigned long cp = c & (k == 2 ? 0x1fu : k == 3 ? 0x0fu : 0x07u);
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	unsigned long min = k == 2 ? 0xa0 : k == 3 ? 0x800 : 0x10000;
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

/* NULL, or a NUL-terminated string that starts and ends in the used part of text[] and
 * is printable UTF-8. */
static void check_str(const struct iw_x509 *x, const char *s)
{
	if (s == NULL)
		return;
	check(s >= x->text && s < x->text + x->text_used);
	size_t room = (size_t)(x->text + x->text_used - s);
	size_t n = strnlen(s, room);
	check(n < room);
	for (size_t i = 0; i < n;) {
		size_t k = printable_char((const unsigned char *)s + i, n - i);
		check(k > 0);
		i += k;
	}
}

/* make fuzz builds UBSan in recover mode: stop at the first finding instead, so that
 * libFuzzer keeps the input that caused it. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iw_x509 x;
	/* an exact-size copy, so a read past the end is a heap overflow */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	if (size)
		memcpy(copy, data, size);
	memset(&x, 0x5a, sizeof(x));
	int rc = iw_x509_parse(copy, size, &x);
	free(copy);

	check(rc == 0 || rc == -1);
	check(x.sha256[64] == '\0' && strlen(x.sha256) == (size ? 64u : 0u));
	if (rc == -1) {
		check(x.text_used == 0 && x.subject == NULL && x.n_sans == 0 && !x.truncated);
		return 0;
	}
	check(x.text_used <= IW_X509_TEXT);
	const char *const strs[] = {x.subject,  x.subject_cn, x.subject_o, x.issuer, x.issuer_cn,
	                            x.issuer_o, x.serial,     x.key_type,  x.sig_alg};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		check_str(&x, strs[i]);
	check(x.n_sans <= IW_X509_MAX_SAN);
	for (unsigned i = 0; i < IW_X509_MAX_SAN; i++) {
		if (i < x.n_sans) {
			check(x.sans[i] != NULL && x.san_type[i] <= IW_SAN_EMAIL);
			check_str(&x, x.sans[i]);
		} else {
			check(x.sans[i] == NULL);
		}
	}
	check(x.version <= 3);
	check(x.text_used == 0 || x.text[x.text_used - 1] == '\0');
	return 0;
}
