/* test_x509.c - the X.509 decoder (parsers/x509.c): every field of RSA, EC and Ed25519
 * certificates made by openssl (tests/unit/mkx509.sh -> x509_certs.h), names with control
 * bytes and bytes that are not UTF-8, more SANs than kept, text that does not fit (cut
 * at a character boundary), bytes that are not a certificate, and every truncated prefix
 * of every certificate flush against a guard page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "parsers/x509.h"
#include "x509_certs.h"

/* Dates the script gives openssl ca (-startdate/-enddate), as date -u -d ... +%s says. */
#define T_20240101 1704067200 /* 2024-01-01 00:00:00 */
#define T_20340101 2019686400 /* 2034-01-01 00:00:00 */
#define T_20250101 1735689600 /* 2025-01-01 00:00:00 */
#define T_20270315 1805112000 /* 2027-03-15 12:00:00 */
#define T_20250601 1748736000 /* 2025-06-01 00:00:00 */
#define T_20991231 4102444799 /* 2099-12-31 23:59:59, a GeneralizedTime */
#define T_20260101 1767225600 /* 2026-01-01 00:00:00 */
#define T_20360101 2082758400 /* 2036-01-01 00:00:00 */

/* sha256sum of the bytes "not a certificate" */
#define GARBAGE_SHA256 "47209c9b7af839de69e9a9cd625e9182c1ad63dae79ed88a2dd680fe34218620"

static struct iw_x509 x; /* 3 KiB: not on the stack of every test */

/* ---- checks every result gets ---- */

/* Length of a well-formed UTF-8 character at s that is neither a C0/DEL nor a C1
 * control, or 0. */
static size_t utf8_ok(const unsigned char *s)
{
	unsigned c = s[0];
	if (c >= 0x20 && c < 0x7f)
		return 1;
	size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	if (n == 0)
		return 0;
	unsigned long cp = c & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const unsigned long min[5] = {0, 0, 0xa0, 0x800, 0x10000}; /* 0x80-0x9f: C1 */
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* s is NULL, or a string that starts and ends inside the used part of x.text and is
 * printable UTF-8. */
static void check_str(const struct iw_x509 *r, const char *s)
{
	if (s == NULL)
		return;
	assert_true(s >= r->text && s < r->text + r->text_used);
	size_t room = (size_t)(r->text + r->text_used - s);
	size_t n = strnlen(s, room);
	assert_true(n < room);
	for (size_t i = 0; i < n;) {
		size_t k = utf8_ok((const unsigned char *)s + i);
		assert_true(k > 0);
		i += k;
	}
}

static void check_all(const struct iw_x509 *r)
{
	assert_true(r->text_used <= IW_X509_TEXT);
	const char *const strs[] = {r->subject,  r->subject_cn, r->subject_o, r->issuer, r->issuer_cn,
	                            r->issuer_o, r->serial,     r->key_type,  r->sig_alg};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		check_str(r, strs[i]);
	assert_true(r->n_sans <= IW_X509_MAX_SAN);
	for (unsigned i = 0; i < IW_X509_MAX_SAN; i++) {
		if (i < r->n_sans) {
			assert_non_null(r->sans[i]);
			assert_true(r->san_type[i] <= IW_SAN_EMAIL);
			check_str(r, r->sans[i]);
		} else {
			assert_null(r->sans[i]);
		}
	}
}

/* Parses and checks what every result must satisfy; returns the result code. */
static int parse(const uint8_t *der, size_t len)
{
	memset(&x, 0xa5, sizeof(x)); /* whatever was there must not survive */
	int rc = iw_x509_parse(der, len, &x);
	assert_true(rc == 0 || rc == -1);
	if (rc == 0)
		check_all(&x);
	return rc;
}
#define PARSE(arr) parse(arr, sizeof(arr))

/* After -1: all zero except sha256. */
static void assert_failed(const char *sha256)
{
	static struct iw_x509 zero;
	assert_string_equal(x.sha256, sha256);
	assert_memory_equal(&x, &zero, offsetof(struct iw_x509, sha256));
	assert_memory_equal(x.text, zero.text, sizeof(x.text));
	assert_int_equal(x.text_used, 0);
}

/* ---- certificates ---- */

static void test_device(void **state)
{
	(void)state;
	assert_int_equal(PARSE(x509_device), 0);
	/* RFC 4514: RDNs last first, the comma inside the OU escaped */
	assert_string_equal(x.subject, "CN=dev-0001,OU=Line 1\\, Hall B,O=Acme Devices");
	assert_string_equal(x.subject_cn, "dev-0001");
	assert_string_equal(x.subject_o, "Acme Devices");
	assert_string_equal(x.issuer, "CN=Acme Device CA,O=Acme Devices,C=DE");
	assert_string_equal(x.issuer_cn, "Acme Device CA");
	assert_string_equal(x.issuer_o, "Acme Devices");
	assert_string_equal(x.serial, "0A1B2C3D4E5F"); /* upper case, the leading zero of the byte kept */
	assert_string_equal(x.key_type, "rsa");
	assert_int_equal(x.key_bits, 2048);
	assert_string_equal(x.sig_alg, "sha256WithRSAEncryption");
	assert_int_equal(x.not_before, T_20250101);
	assert_int_equal(x.not_after, T_20270315);
	assert_int_equal(x.version, 3);
	assert_false(x.is_ca); /* basicConstraints CA:FALSE */
	assert_false(x.self_signed);
	assert_false(x.truncated);

	assert_int_equal(x.n_sans, 5);
	assert_int_equal(x.sans_dropped, 0);
	assert_int_equal(x.san_type[0], IW_SAN_DNS);
	assert_string_equal(x.sans[0], "dev-0001.plant.example");
	assert_int_equal(x.san_type[1], IW_SAN_IP);
	assert_string_equal(x.sans[1], "10.1.2.3");
	assert_int_equal(x.san_type[2], IW_SAN_IP);
	assert_string_equal(x.sans[2], "2001:db8::7");
	assert_int_equal(x.san_type[3], IW_SAN_URI);
	assert_string_equal(x.sans[3], "spiffe://acme/dev-0001");
	assert_int_equal(x.san_type[4], IW_SAN_EMAIL);
	assert_string_equal(x.sans[4], "ops@acme.example");

	assert_string_equal(x.sha256, x509_device_sha256);
}

static void test_ca(void **state)
{
	(void)state;
	assert_int_equal(PARSE(x509_ca), 0);
	assert_string_equal(x.subject, "CN=Acme Device CA,O=Acme Devices,C=DE");
	assert_string_equal(x.issuer, x.subject);
	assert_string_equal(x.subject_cn, "Acme Device CA");
	assert_string_equal(x.subject_o, "Acme Devices");
	assert_string_equal(x.issuer_cn, "Acme Device CA");
	assert_string_equal(x.issuer_o, "Acme Devices");
	assert_string_equal(x.serial, "1000");
	assert_string_equal(x.key_type, "rsa");
	assert_int_equal(x.key_bits, 2048);
	assert_string_equal(x.sig_alg, "sha256WithRSAEncryption");
	assert_int_equal(x.not_before, T_20240101);
	assert_int_equal(x.not_after, T_20340101);
	assert_int_equal(x.version, 3);
	assert_true(x.is_ca);
	assert_true(x.self_signed);
	assert_int_equal(x.n_sans, 0);
	assert_null(x.sans[0]);
	assert_false(x.truncated);
	assert_string_equal(x.sha256, x509_ca_sha256);
}

static void test_ec_v1(void **state)
{
	(void)state;
	assert_int_equal(PARSE(x509_ec), 0);
	assert_string_equal(x.subject, "CN=ec-sensor,O=Acme Sensors");
	assert_string_equal(x.issuer, "CN=ec-sensor,O=Acme Sensors");
	assert_string_equal(x.subject_cn, "ec-sensor");
	assert_string_equal(x.subject_o, "Acme Sensors");
	assert_string_equal(x.issuer_cn, "ec-sensor");
	assert_string_equal(x.serial, "7F");
	assert_string_equal(x.key_type, "ec");
	assert_int_equal(x.key_bits, 256);
	assert_string_equal(x.sig_alg, "ecdsa-with-SHA256");
	assert_int_equal(x.not_before, T_20250601);
	assert_int_equal(x.not_after, T_20991231);
	assert_int_equal(x.version, 1); /* no extensions */
	assert_false(x.is_ca);
	assert_true(x.self_signed);
	assert_int_equal(x.n_sans, 0);
	assert_int_equal(x.sans_dropped, 0);
	assert_string_equal(x.sha256, x509_ec_sha256);
}

static void test_ed25519(void **state)
{
	(void)state;
	assert_int_equal(PARSE(x509_ed25519), 0);
	assert_string_equal(x.subject, "CN=ed-gw");
	assert_string_equal(x.subject_cn, "ed-gw");
	assert_null(x.subject_o);
	assert_null(x.issuer_o);
	assert_string_equal(x.issuer_cn, "ed-gw");
	assert_string_equal(x.serial, "01");
	assert_string_equal(x.key_type, "ed25519");
	assert_int_equal(x.key_bits, 256); /* what EVP_PKEY_get_bits says in OpenSSL 3.0 */
	assert_string_equal(x.sig_alg, "ED25519");
	assert_int_equal(x.not_before, T_20260101);
	assert_int_equal(x.not_after, T_20360101);
	assert_int_equal(x.version, 3);
	assert_false(x.is_ca);
	assert_true(x.self_signed);
	assert_int_equal(x.n_sans, 1);
	assert_int_equal(x.san_type[0], IW_SAN_DNS);
	assert_string_equal(x.sans[0], "gw.example");
	assert_string_equal(x.sha256, x509_ed25519_sha256);
}

/* CN bytes "ctl-" 01 7f c2 85 1b 00 "-é-end" (UTF8String): five controls, é kept.
 * DC bytes (IA5String) "x", then one '?' for each byte that does not start a character:
 *   ff, fe          never in UTF-8
 *   c3 28           a lead without its continuation; '(' stays
 *   c0 af           an overlong '/'
 *   ed a0 80        U+D800, a surrogate
 *   f4 90 80 80     U+110000, past the last code point
 *   e2 82           a three-byte lead, cut by the end of the value */
static void test_control_and_bad_utf8(void **state)
{
	(void)state;
	assert_int_equal(PARSE(x509_badcn), 0);
	/* (strings split so that no "??" meets a character that makes it a trigraph) */
	assert_string_equal(x.subject_cn, "ctl-?????"
	                                  "-\xc3\xa9-end");
	assert_string_equal(x.subject, "CN=ctl-?????"
	                               "-\xc3\xa9-end,O=Acme Devices,DC=x???"
	                               "(???????????"); /* 2 + 3 + 4 + 2 after the '(' */
	assert_string_equal(x.subject_o, "Acme Devices");
	assert_string_equal(x.issuer_cn, "Acme Device CA");
	assert_string_equal(x.serial, "0BAD");
	assert_int_equal(x.not_before, T_20250101);
	assert_int_equal(x.not_after, T_20260101);
	assert_false(x.truncated);
	assert_string_equal(x.sha256, x509_badcn_sha256);
}

/* Subject (RDNs in DER order):
 *   C=DE                            PrintableString
 *   1.3.6.1.4.1.99999.1=plain       an OID libcrypto does not name: dotted
 *   O=Zürich Tëst                   T61String (Latin-1), converted to UTF-8
 *   OU=#lead                        a leading '#' is escaped
 *   L=semi;colon <a>, trail_        ';' '<' '>' ',' and the trailing space are escaped
 *   CN=中文 + UID=u1                 BMPString; one RDN of two attributes, joined by '+'
 * Patched after signing: the serial byte from 7e to 81 (-127), the OID of an extension
 * to subjectAltName's. */
static void test_string_types_and_escapes(void **state)
{
	(void)state;
	assert_int_equal(PARSE(x509_odd), 0);
	assert_string_equal(x.subject, "UID=u1+CN=\xe4\xb8\xad\xe6\x96\x87,"
	                               "L=semi\\;colon \\<a\\>\\, trail\\ ,"
	                               "OU=\\#lead,"
	                               "O=Z\xc3\xbcrich T\xc3\xabst,"
	                               "1.3.6.1.4.1.99999.1=plain,"
	                               "C=DE");
	assert_string_equal(x.issuer, x.subject);
	assert_string_equal(x.subject_cn, "\xe4\xb8\xad\xe6\x96\x87"); /* no escaping here */
	assert_string_equal(x.subject_o, "Z\xc3\xbcrich T\xc3\xabst");
	assert_string_equal(x.serial, "-7F");
	assert_string_equal(x.key_type, "ed448");
	assert_int_equal(x.key_bits, 456);
	assert_string_equal(x.sig_alg, "ED448");
	assert_int_equal(x.version, 3);
	assert_true(x.self_signed);
	assert_false(x.is_ca); /* no basicConstraints */
	/* two subjectAltName extensions (RFC 5280 allows one: both are read). Not kept:
	 * otherName and dirName in the first, iPAddresses of 5 and 8 bytes in the second */
	assert_int_equal(x.n_sans, 2);
	assert_int_equal(x.sans_dropped, 4);
	assert_int_equal(x.san_type[0], IW_SAN_DNS);
	assert_string_equal(x.sans[0], "odd.example");
	assert_int_equal(x.san_type[1], IW_SAN_DNS);
	assert_string_equal(x.sans[1], "second.example");
	assert_false(x.truncated);
	assert_string_equal(x.sha256, x509_odd_sha256);
}

/* A registeredID (not kept), then 20 DNS names: 16 kept, 4 + 1 dropped. Serial 0. */
static void test_many_sans(void **state)
{
	(void)state;
	assert_int_equal(PARSE(x509_manysan), 0);
	assert_int_equal(x.n_sans, IW_X509_MAX_SAN);
	assert_int_equal(x.sans_dropped, 5);
	for (unsigned i = 0; i < IW_X509_MAX_SAN; i++) {
		char want[32];
		snprintf(want, sizeof(want), "san-%02u.example", i);
		assert_int_equal(x.san_type[i], IW_SAN_DNS);
		assert_string_equal(x.sans[i], want);
	}
	assert_string_equal(x.subject, "CN=many");
	assert_string_equal(x.serial, "0");
	assert_string_equal(x.key_type, "ec");
	assert_string_equal(x.sig_alg, "sha256WithRSAEncryption"); /* signed by the RSA CA */
	assert_false(x.truncated);
	assert_string_equal(x.sha256, x509_manysan_sha256);
}

/* 15 SANs of 250 characters do not fit in 3072 bytes: the short fields come first and
 * are whole, then the SANs until one is cut, then empty strings. */
static void test_text_full(void **state)
{
	(void)state;
	assert_int_equal(PARSE(x509_huge), 0);
	assert_true(x.truncated);
	assert_int_equal(x.text_used, IW_X509_TEXT);
	assert_string_equal(x.subject_cn, "huge");
	assert_string_equal(x.subject_o, "Acme Devices");
	assert_string_equal(x.issuer_cn, "Acme Device CA");
	assert_string_equal(x.serial, "FF"); /* DER 00 FF: the sign byte is not part of it */
	assert_string_equal(x.key_type, "ec");
	assert_int_equal(x.not_before, T_20250101);
	assert_int_equal(x.n_sans, 15);
	assert_int_equal(x.sans_dropped, 0);
	unsigned whole = 0, cut = 0, empty = 0;
	for (unsigned i = 0; i < 15; i++) {
		/* four labels of 61 letters and one of 2 */
		char want[251];
		char c = (char)('a' + i);
		memset(want, c, 250);
		want[61] = want[123] = want[185] = want[247] = '.';
		want[250] = '\0';
		size_t n = strlen(x.sans[i]);
		assert_memory_equal(x.sans[i], want, n); /* always a prefix */
		if (n == 250) {
			assert_int_equal(cut + empty, 0);
			whole++;
		} else if (n > 0) {
			assert_int_equal(empty, 0);
			cut++;
		} else {
			empty++;
		}
	}
	assert_int_equal(whole, 11);
	assert_int_equal(cut, 1);
	assert_int_equal(empty, 3);
	/* the whole names come last: present but empty */
	assert_non_null(x.subject);
	assert_string_equal(x.subject, "");
	assert_string_equal(x.issuer, "");
	assert_string_equal(x.sha256, x509_huge_sha256);
}

/* A subject of "GN=" and 1600 é (2 bytes each): the text left holds 1501 of them and
 * one byte more, so the cut falls inside a character and that character is left out. */
static void test_cut_at_character(void **state)
{
	(void)state;
	assert_int_equal(PARSE(x509_longname), 0);
	assert_true(x.truncated);
	assert_string_equal(x.subject_cn, "long");
	size_t n = strlen(x.subject);
	assert_int_equal(n, 3 + 2 * 1501);
	assert_memory_equal(x.subject, "GN=", 3);
	for (size_t i = 3; i < n; i += 2)
		assert_memory_equal(x.subject + i, "\xc3\xa9", 2);
	/* one byte was left unused, then the issuer found no room */
	assert_int_equal(x.subject + n + 1 - x.text, IW_X509_TEXT - 1);
	assert_string_equal(x.issuer, "");
	assert_int_equal(x.text_used, IW_X509_TEXT);
	assert_string_equal(x.sha256, x509_longname_sha256);
}

/* ---- what is not a certificate ---- */

static void test_garbage(void **state)
{
	(void)state;
	static const uint8_t junk[] = "not a certificate";
	assert_int_equal(parse(junk, sizeof(junk) - 1), -1);
	assert_failed(GARBAGE_SHA256);

	/* well-formed DER, a SEQUENCE holding an INTEGER, is not a certificate either */
	static const uint8_t integer[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	assert_int_equal(PARSE(integer), -1);
	assert_failed("417c7763c4e320a6b747b3cb0c6d22f93741b29a32b48594b8eb4c144fe6d729");

	/* the device certificate with the tag of its tbsCertificate SEQUENCE spoilt */
	static uint8_t broken[sizeof(x509_device)];
	memcpy(broken, x509_device, sizeof(broken));
	broken[4] = 0xff; /* 30 82 LL LL, then the tbsCertificate's 30 */
	assert_int_equal(PARSE(broken), -1);
	assert_int_equal(strlen(x.sha256), 64);
	assert_string_not_equal(x.sha256, x509_device_sha256);
}

static void test_empty(void **state)
{
	(void)state;
	static const uint8_t none[1] = {0x30};
	assert_int_equal(parse(none, 0), -1);
	assert_failed(""); /* nothing to hash */
	assert_int_equal(parse(NULL, 0), -1);
	assert_failed("");
}

/* Bytes after the certificate are not read as part of it, and sha256 covers them. */
static void test_trailing_bytes(void **state)
{
	(void)state;
	static uint8_t more[sizeof(x509_device) + 3];
	memcpy(more, x509_device, sizeof(x509_device));
	memcpy(more + sizeof(x509_device), "XYZ", 3);
	assert_int_equal(PARSE(more), 0);
	assert_string_equal(x.subject_cn, "dev-0001");
	assert_int_equal(x.n_sans, 5);
	assert_int_equal(strlen(x.sha256), 64);
	assert_string_not_equal(x.sha256, x509_device_sha256);
}

/* The same bytes give the same result however dirty the struct was. */
static void test_reuse(void **state)
{
	(void)state;
	static char text[IW_X509_TEXT];
	assert_int_equal(PARSE(x509_ed25519), 0);
	uint32_t used = x.text_used;
	ptrdiff_t subject = x.subject - x.text;
	memcpy(text, x.text, used);
	assert_int_equal(PARSE(x509_huge), 0);
	assert_int_equal(PARSE(x509_ed25519), 0);
	assert_int_equal(x.text_used, used);
	assert_memory_equal(x.text, text, used);
	assert_int_equal(x.subject - x.text, subject);
	assert_false(x.truncated);
}

/* Every prefix of every certificate, its last byte against an unreadable page: a read
 * past the end faults; only the whole certificate parses. */
static void test_prefixes_guard(void **state)
{
	(void)state;
	static const struct {
		const uint8_t *der;
		size_t len;
	} certs[] = {
	    {x509_ca, sizeof(x509_ca)},
	    {x509_device, sizeof(x509_device)},
	    {x509_ec, sizeof(x509_ec)},
	    {x509_ed25519, sizeof(x509_ed25519)},
	    {x509_badcn, sizeof(x509_badcn)},
	    {x509_odd, sizeof(x509_odd)},
	    {x509_manysan, sizeof(x509_manysan)},
	    {x509_huge, sizeof(x509_huge)},
	    {x509_longname, sizeof(x509_longname)},
	};
	size_t max = 0;
	for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++)
		if (certs[i].len > max)
			max = certs[i].len;
	struct guard g = guard_new(max);
	for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
		for (size_t n = 0; n <= certs[i].len; n++) {
			const uint8_t *at = guard_put(&g, certs[i].der, n);
			int rc = parse(at, n);
			if (n == certs[i].len) {
				assert_int_equal(rc, 0);
			} else {
				assert_int_equal(rc, -1);
				assert_null(x.subject);
				assert_int_equal(x.text_used, 0);
				assert_int_equal(strlen(x.sha256), n ? 64 : 0);
			}
		}
	}
	guard_free(&g);
}

/* Fields equal, each string pointing into b's own text. */
static void assert_same_cert(const struct iw_x509 *a, const struct iw_x509 *b)
{
	const char *const *fa[] = {&a->subject,  &a->subject_cn, &a->subject_o, &a->issuer, &a->issuer_cn,
	                           &a->issuer_o, &a->serial,     &a->key_type,  &a->sig_alg};
	const char *const *fb[] = {&b->subject,  &b->subject_cn, &b->subject_o, &b->issuer, &b->issuer_cn,
	                           &b->issuer_o, &b->serial,     &b->key_type,  &b->sig_alg};
	for (size_t i = 0; i < sizeof(fa) / sizeof(fa[0]); i++) {
		if (!*fa[i]) {
			assert_null(*fb[i]);
			continue;
		}
		assert_string_equal(*fa[i], *fb[i]);
		assert_true(*fb[i] >= b->text && *fb[i] < b->text + IW_X509_TEXT);
	}
	assert_int_equal(a->n_sans, b->n_sans);
	for (unsigned i = 0; i < a->n_sans; i++) {
		assert_string_equal(a->sans[i], b->sans[i]);
		assert_true(b->sans[i] >= b->text && b->sans[i] < b->text + IW_X509_TEXT);
		assert_int_equal(a->san_type[i], b->san_type[i]);
	}
	assert_int_equal(a->not_before, b->not_before);
	assert_int_equal(a->not_after, b->not_after);
	assert_string_equal(a->sha256, b->sha256);
}

/* A copy stands alone: its strings live in its own text, the original can go. */
static void test_copy(void **state)
{
	(void)state;
	struct iw_x509 *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(iw_x509_parse(x509_device, sizeof(x509_device), a), 0);
	iw_x509_copy(b, a);
	assert_same_cert(a, b);
	memset(a, 0x5a, sizeof(*a)); /* the original overwritten: b unchanged */
	assert_string_equal(b->subject_cn, "dev-0001");
	assert_string_equal(b->sans[4], "ops@acme.example");
	free(a);
	free(b);
}

/* The cache: a repeat is a hit with the same fields (into storage not zeroed, as
 * parsers/tls.c gives it), a failure is cached as a failure (with its sha256), two
 * certificates in one slot replace each other. */
static void test_cache(void **state)
{
	(void)state;
	struct iw_x509 *want = malloc(sizeof(*want)), *got = malloc(sizeof(*got));
	assert_non_null(want);
	assert_non_null(got);
	struct iw_x509_cache *c = iw_x509_cache_new(8);
	assert_int_equal(iw_x509_parse(x509_device, sizeof(x509_device), want), 0);
	for (int i = 0; i < 3; i++) {
		memset(got, 0xa5, sizeof(*got)); /* not zeroed: a hit writes all that is read */
		assert_int_equal(iw_x509_parse_cached(c, x509_device, sizeof(x509_device), got), 0);
		assert_same_cert(want, got);
	}
	assert_int_equal(iw_x509_cache_misses(c), 1);
	assert_int_equal(iw_x509_cache_hits(c), 2);
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x07};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(iw_x509_parse_cached(c, junk, sizeof(junk), got), -1);
		assert_int_equal(strlen(got->sha256), 64);
		assert_null(got->subject);
	}
	assert_int_equal(iw_x509_cache_hits(c), 3);
	/* the same bytes but one shorter are another certificate */
	assert_int_equal(iw_x509_parse_cached(c, x509_device, sizeof(x509_device) - 1, got),
	                 iw_x509_parse(x509_device, sizeof(x509_device) - 1, want));
	assert_int_equal(iw_x509_cache_misses(c), 3);
	iw_x509_cache_free(c);

	/* one slot: two certificates alternate, every lookup misses, every answer right */
	c = iw_x509_cache_new(1);
	for (int i = 0; i < 4; i++) {
		const uint8_t *der = i % 2 ? x509_ca : x509_device;
		size_t len = i % 2 ? sizeof(x509_ca) : sizeof(x509_device);
		assert_int_equal(iw_x509_parse_cached(c, der, len, got), 0);
		assert_string_equal(got->subject_cn, i % 2 ? "Acme Device CA" : "dev-0001");
	}
	assert_int_equal(iw_x509_cache_hits(c), 0);
	assert_int_equal(iw_x509_cache_misses(c), 4);
	iw_x509_cache_free(c);
	/* no cache: a plain parse */
	assert_int_equal(iw_x509_parse_cached(NULL, x509_ca, sizeof(x509_ca), got), 0);
	assert_string_equal(got->subject_cn, "Acme Device CA");
	assert_int_equal(iw_x509_cache_hits(NULL), 0);
	free(want);
	free(got);
}

static void test_san_type_name(void **state)
{
	(void)state;
	assert_string_equal(iw_san_type_name(IW_SAN_DNS), "dns");
	assert_string_equal(iw_san_type_name(IW_SAN_IP), "ip");
	assert_string_equal(iw_san_type_name(IW_SAN_URI), "uri");
	assert_string_equal(iw_san_type_name(IW_SAN_EMAIL), "email");
	assert_string_equal(iw_san_type_name((enum iw_san_type)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_device),
	    cmocka_unit_test(test_ca),
	    cmocka_unit_test(test_ec_v1),
	    cmocka_unit_test(test_ed25519),
	    cmocka_unit_test(test_control_and_bad_utf8),
	    cmocka_unit_test(test_string_types_and_escapes),
	    cmocka_unit_test(test_many_sans),
	    cmocka_unit_test(test_text_full),
	    cmocka_unit_test(test_cut_at_character),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_trailing_bytes),
	    cmocka_unit_test(test_copy),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_reuse),
	    cmocka_unit_test(test_prefixes_guard),
	    cmocka_unit_test(test_san_type_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
