/* x509.c - the fields of an X.509 v1-v3 certificate (RFC 5280 §4.1) decoded by libcrypto;
 * names rendered in the one-line form of RFC 4514 (RFC 2253), SANs per RFC 5280 §4.2.1.6.
 *
 *   Certificate ::= SEQUENCE {
 *     tbsCertificate SEQUENCE {
 *       [0] version, serialNumber INTEGER, signature AlgorithmIdentifier,
 *       issuer Name, validity { notBefore, notAfter }, subject Name,
 *       subjectPublicKeyInfo { algorithm, subjectPublicKey BIT STRING },
 *       [1] issuerUniqueID, [2] subjectUniqueID, [3] extensions },
 *     signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
 *
 *   Name ::= SEQUENCE OF RDN; RDN ::= SET OF { type OID, value ANY (a string) }
 *
 * libcrypto does all the ASN.1; this file only turns its objects into text. Strings are
 * written straight into x->text (no BIO, no intermediate copies except for BMP, Universal
 * and T61 strings, which libcrypto converts to UTF-8). */
#include "x509.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "alloc.h"
#include "digest.h"
#include "cursor.h"

/* ---- text: a bump allocator over x->text ---- */

/* One string being written at the end of x->text. When a piece does not fit, the string
 * stops there (nothing after it is added, so what is kept is always a prefix) and
 * x->truncated is set. Once text is full, a string is the empty one made of the last
 * string's NUL, so a field that exists is never NULL. */
struct tb {
	struct iw_x509 *x;
	char *s;
	size_t n, cap; /* bytes written, bytes available (the NUL not counted) */
	bool cut;
};

static void tb_begin(struct tb *b, struct iw_x509 *x)
{
	b->x = x;
	b->n = 0;
	b->cut = false;
	if (x->text_used < IW_X509_TEXT) {
		b->s = x->text + x->text_used;
		b->cap = IW_X509_TEXT - 1 - x->text_used;
	} else {
		b->s = x->text + IW_X509_TEXT - 1; /* the last string's NUL */
		b->cap = 0;
	}
}

/* n bytes as one unit: all of them or none (a character or an escape pair is never split). */
static void tb_put(struct tb *b, const void *s, size_t n)
{
	if (b->cut)
		return;
	if (n > b->cap - b->n) {
		b->cut = true;
		b->x->truncated = true;
		return;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
}

static const char *tb_end(struct tb *b)
{
	b->s[b->n] = '\0';
	size_t end = (size_t)(b->s - b->x->text) + b->n + 1;
	if (end > b->x->text_used)
		b->x->text_used = (uint32_t)end;
	return b->s;
}

/* The next character of c. Returns its length and points *at to its bytes when it is a
 * printable UTF-8 character; otherwise *at is "?" (length 1) for a control character (C0,
 * DEL, C1) or for each byte that does not start a well-formed sequence (overlong forms,
 * surrogates and code points past U+10FFFF included), which is then skipped alone. */
static size_t next_char(struct iw_cur *c, const uint8_t **at)
{
	static const uint8_t qmark[1] = {'?'};
	const uint8_t *start = c->p;
	uint8_t b0 = iw_cur_u8(c);
	size_t more;
	uint32_t cp, min;

	*at = qmark;
	if (b0 < 0x80) {
		if (b0 >= 0x20 && b0 != 0x7f)
			*at = start;
		return 1;
	}
	if (b0 >= 0xc2 && b0 <= 0xdf) {
		more = 1, cp = b0 & 0x1fu, min = 0x80;
	} else if (b0 >= 0xe0 && b0 <= 0xef) {
		more = 2, cp = b0 & 0x0fu, min = 0x800;
	} else if (b0 >= 0xf0 && b0 <= 0xf4) {
		more = 3, cp = b0 & 0x07u, min = 0x10000;
	} else {
		return 1;
	}
	if (iw_cur_left(c) < more)
		return 1;
	for (size_t i = 0; i < more; i++) {
		uint8_t b = iw_cur_peek(c, i);
		if ((b & 0xc0) != 0x80)
			return 1;
		cp = cp << 6 | (b & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 1;
	iw_cur_skip(c, more);
	if (cp < 0xa0) /* C1 controls */
		return 1;
	*at = start;
	return more + 1;
}

/* RFC 4514 §2.4: what must be escaped in an attribute value. */
static bool dn_special(uint8_t ch, bool first, bool last)
{
	switch (ch) {
	case ',':
	case '+':
	case '"':
	case '\\':
	case '<':
	case '>':
	case ';':
		return true;
	case '#':
		return first;
	case ' ':
		return first || last;
	default:
		return false;
	}
}

/* Appends len bytes as printable UTF-8; escape: as an RFC 4514 attribute value. */
static void tb_text(struct tb *b, const uint8_t *s, size_t len, bool escape)
{
	if (len == 0)
		return;
	struct iw_cur c = iw_cur_make(s, len);
	bool first = true;
	while (!b->cut && iw_cur_left(&c) > 0) {
		const uint8_t *at;
		size_t n = next_char(&c, &at);
		if (escape && n == 1 && dn_special(*at, first, iw_cur_left(&c) == 0)) {
			uint8_t pair[2] = {'\\', *at};
			tb_put(b, pair, 2);
		} else {
			tb_put(b, at, n);
		}
		first = false;
	}
}

static void tb_cstr(struct tb *b, const char *s)
{
	tb_text(b, (const uint8_t *)s, strlen(s), false);
}

/* A directory string's value. UTF8String, PrintableString, IA5String and the other
 * one-byte types are taken as UTF-8 as they are (a Latin-1 or binary byte becomes '?');
 * BMPString, UniversalString and T61String (Latin-1 for libcrypto) are converted first. */
static void tb_asn1(struct tb *b, const ASN1_STRING *str, bool escape)
{
	if (str == NULL)
		return;
	int type = ASN1_STRING_type(str);
	if (type == V_ASN1_BMPSTRING || type == V_ASN1_UNIVERSALSTRING || type == V_ASN1_T61STRING) {
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, str);
		if (n >= 0) {
			tb_text(b, u, (size_t)n, escape);
			OPENSSL_free(u);
			return;
		}
		/* not convertible (an odd-length BMPString): the raw bytes, mostly '?' */
	}
	int len = ASN1_STRING_length(str);
	if (len > 0)
		tb_text(b, ASN1_STRING_get0_data(str), (size_t)len, escape);
}

static const char *put_cstr(struct iw_x509 *x, const char *s)
{
	struct tb b;
	tb_begin(&b, x);
	tb_cstr(&b, s);
	return tb_end(&b);
}

/* ---- fields ---- */

/* An OID's name: the long or short name libcrypto knows, else the dotted form in buf. */
static const char *oid_name(const ASN1_OBJECT *obj, bool long_name, char *buf, size_t cap)
{
	int nid = OBJ_obj2nid(obj);
	if (nid != NID_undef) {
		const char *s = long_name ? OBJ_nid2ln(nid) : NULL;
		if (s == NULL)
			s = OBJ_nid2sn(nid);
		if (s != NULL)
			return s;
	}
	buf[0] = '\0';
	if (obj == NULL || OBJ_obj2txt(buf, (int)cap, obj, 1) <= 0)
		buf[0] = '\0';
	return buf;
}

/* RFC 4514 one-line form: RDNs last first, ',' between RDNs and '+' inside one, short
 * attribute names (dotted OIDs for unknown ones, with the value as text rather than the
 * '#' hex form: a readable value is worth more to a record than a re-encodable one). */
static const char *put_name(struct iw_x509 *x, const X509_NAME *name)
{
	struct tb b;
	tb_begin(&b, x);
	int count = X509_NAME_entry_count(name);
	int prev_set = -1;
	for (int i = count - 1; i >= 0 && !b.cut; i--) {
		const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
		if (ne == NULL)
			continue;
		int set = X509_NAME_ENTRY_set(ne);
		if (i != count - 1)
			tb_put(&b, set == prev_set ? "+" : ",", 1);
		prev_set = set;
		char buf[96];
		tb_cstr(&b, oid_name(X509_NAME_ENTRY_get_object(ne), false, buf, sizeof(buf)));
		tb_put(&b, "=", 1);
		tb_asn1(&b, X509_NAME_ENTRY_get_data(ne), true);
	}
	return tb_end(&b);
}

/* The value of the last attribute of type nid (the most specific RDN), or NULL. */
static const char *put_attr(struct iw_x509 *x, const X509_NAME *name, int nid)
{
	int last = -1;
	for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
	     i = X509_NAME_get_index_by_NID(name, nid, i))
		last = i;
	if (last < 0)
		return NULL;
	struct tb b;
	tb_begin(&b, x);
	tb_asn1(&b, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last)), false);
	return tb_end(&b);
}

/* Upper-case hex of the magnitude without leading zero bytes, "-" first when negative
 * (as BN_bn2hex prints it, without the BIGNUM). */
static const char *put_serial(struct iw_x509 *x, const ASN1_INTEGER *sn)
{
	static const char hex[] = "0123456789ABCDEF";
	if (sn == NULL)
		return NULL;
	struct tb b;
	tb_begin(&b, x);
	int len = ASN1_STRING_length(sn);
	const uint8_t *d = ASN1_STRING_get0_data(sn);
	if (len <= 0 || d == NULL) { /* zero */
		tb_put(&b, "0", 1);
		return tb_end(&b);
	}
	struct iw_cur c = iw_cur_make(d, (size_t)len);
	while (iw_cur_left(&c) > 0 && iw_cur_peek(&c, 0) == 0)
		iw_cur_skip(&c, 1);
	if (iw_cur_left(&c) == 0) {
		tb_put(&b, "0", 1);
		return tb_end(&b);
	}
	if (ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER)
		tb_put(&b, "-", 1);
	while (!b.cut && iw_cur_left(&c) > 0) {
		uint8_t v = iw_cur_u8(&c);
		char two[2] = {hex[v >> 4], hex[v & 15]};
		tb_put(&b, two, 2);
	}
	return tb_end(&b);
}

/* Unix seconds, or 0 when libcrypto cannot read the time. */
static int64_t unix_time(const ASN1_TIME *t)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) /* a NULL time would mean "now" */
		return 0;
	time_t s = timegm(&tm);
	return s == (time_t)-1 ? 0 : (int64_t)s;
}

static void put_key(struct iw_x509 *x, const X509 *cert)
{
	/* the type from the certificate's algorithm OID, so that a key libcrypto cannot
	 * load (an unknown curve, a broken point) still has one */
	ASN1_OBJECT *alg = NULL;
	X509_PUBKEY *pub = X509_get_X509_PUBKEY(cert);
	if (pub != NULL && X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, pub) && alg != NULL) {
		const char *name;
		char buf[96];
		switch (OBJ_obj2nid(alg)) {
		case NID_rsaEncryption:
			name = "rsa";
			break;
		case NID_X9_62_id_ecPublicKey:
			name = "ec";
			break;
		case NID_ED25519:
			name = "ed25519";
			break;
		case NID_ED448:
			name = "ed448";
			break;
		case NID_dsa:
			name = "dsa";
			break;
		default:
			name = oid_name(alg, false, buf, sizeof(buf));
			break;
		}
		x->key_type = put_cstr(x, name);
	}
	EVP_PKEY *key = X509_get0_pubkey(cert); /* owned by cert */
	if (key != NULL) {
		int bits = EVP_PKEY_get_bits(key);
		x->key_bits = bits > 0 ? (uint32_t)bits : 0;
	}
}

static void drop_san(struct iw_x509 *x)
{
	if (x->sans_dropped < UINT16_MAX)
		x->sans_dropped++;
}

static void put_san(struct iw_x509 *x, const GENERAL_NAME *gen)
{
	int type;
	const ASN1_STRING *v = GENERAL_NAME_get0_value(gen, &type);
	enum iw_san_type t;
	switch (type) {
	case GEN_DNS:
		t = IW_SAN_DNS;
		break;
	case GEN_IPADD:
		t = IW_SAN_IP;
		break;
	case GEN_URI:
		t = IW_SAN_URI;
		break;
	case GEN_EMAIL:
		t = IW_SAN_EMAIL;
		break;
	default: /* otherName, directoryName, registeredID, ... */
		drop_san(x);
		return;
	}
	if (x->n_sans >= IW_X509_MAX_SAN || v == NULL) {
		drop_san(x);
		return;
	}
	const char *s;
	if (t == IW_SAN_IP) {
		/* 4 or 16 bytes; 8 and 32 are name-constraint ranges, not addresses */
		uint8_t a[16];
		char ip[INET6_ADDRSTRLEN];
		int len = ASN1_STRING_length(v);
		if (len != 4 && len != 16) {
			drop_san(x);
			return;
		}
		memcpy(a, ASN1_STRING_get0_data(v), (size_t)len);
		if (inet_ntop(len == 4 ? AF_INET : AF_INET6, a, ip, sizeof(ip)) == NULL) {
			drop_san(x);
			return;
		}
		s = put_cstr(x, ip);
	} else {
		struct tb b;
		tb_begin(&b, x);
		tb_asn1(&b, v, false);
		s = tb_end(&b);
	}
	x->sans[x->n_sans] = s;
	x->san_type[x->n_sans] = (uint8_t)t;
	x->n_sans++;
}

/* Every subjectAltName extension, in order (RFC 5280 allows one; a second is kept too,
 * since hiding names in it is the point of sending it). */
static void put_sans(struct iw_x509 *x, const X509 *cert)
{
	int idx = -1;
	for (;;) {
		int prev = idx;
		GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, &idx);
		if (gens != NULL) {
			for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++)
				put_san(x, sk_GENERAL_NAME_value(gens, i));
			GENERAL_NAMES_free(gens);
		}
		if (idx <= prev) /* no more (idx is -1), never loop on the same one */
			break;
	}
}

static bool basic_ca(const X509 *cert)
{
	/* decoded here rather than through X509_check_ca, which caches every extension and
	 * hashes the certificate with SHA-1 first; NULL when absent, broken or repeated */
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
	if (bc == NULL)
		return false;
	bool ca = bc->ca != 0;
	BASIC_CONSTRAINTS_free(bc);
	return ca;
}

static void put_sha256(struct iw_x509 *x, const uint8_t *der, size_t len)
{
	iw_digest_hex(IW_SHA256, der, len, x->sha256);
}

/* Fields are written in the order of their worth when text runs out: the short
 * identifying ones first, then the SANs, then the whole names (whose CN and O are
 * already kept). */
int iw_x509_parse(const uint8_t *der, size_t len, struct iw_x509 *x)
{
	memset(x, 0, sizeof(*x));
	if (len == 0)
		return IW_ERR;
	/* libcrypto reports through the thread's error queue; leave it as it was found */
	ERR_set_mark();
	put_sha256(x, der, len);
	X509 *cert = NULL;
	const unsigned char *in = der;
	int rc = IW_ERR;
	if (len > LONG_MAX)
		goto out;
	/* d2i reads at most len bytes; bytes after the certificate are left alone (and are
	 * still in sha256, which is over everything given) */
	cert = d2i_X509(NULL, &in, (long)len);
	if (cert == NULL)
		goto out;

	const X509_NAME *subject = X509_get_subject_name(cert);
	const X509_NAME *issuer = X509_get_issuer_name(cert);
	const X509_ALGOR *sig = NULL;
	X509_get0_signature(NULL, &sig, cert);

	put_key(x, cert);
	if (sig != NULL) {
		const ASN1_OBJECT *obj = NULL;
		char buf[96];
		X509_ALGOR_get0(&obj, NULL, NULL, sig);
		if (obj != NULL) /* the name openssl x509 -text prints, "sha256WithRSAEncryption" */
			x->sig_alg = put_cstr(x, oid_name(obj, true, buf, sizeof(buf)));
	}
	if (subject != NULL) {
		x->subject_cn = put_attr(x, subject, NID_commonName);
		x->subject_o = put_attr(x, subject, NID_organizationName);
	}
	if (issuer != NULL) {
		x->issuer_cn = put_attr(x, issuer, NID_commonName);
		x->issuer_o = put_attr(x, issuer, NID_organizationName);
	}
	x->serial = put_serial(x, X509_get0_serialNumber(cert));
	put_sans(x, cert);
	if (subject != NULL)
		x->subject = put_name(x, subject);
	if (issuer != NULL)
		x->issuer = put_name(x, issuer);

	x->not_before = unix_time(X509_get0_notBefore(cert));
	x->not_after = unix_time(X509_get0_notAfter(cert));
	long v = X509_get_version(cert);
	x->version = v >= 0 && v <= 2 ? (uint32_t)v + 1 : 0;
	x->is_ca = basic_ca(cert);
	x->self_signed = subject != NULL && issuer != NULL && X509_NAME_cmp(subject, issuer) == 0;
	rc = IW_OK;
out:
	X509_free(cert);
	ERR_pop_to_mark();
	return rc;
}

const char *iw_san_type_name(enum iw_san_type t)
{
	switch (t) {
	case IW_SAN_DNS:
		return "dns";
	case IW_SAN_IP:
		return "ip";
	case IW_SAN_URI:
		return "uri";
	case IW_SAN_EMAIL:
		return "email";
	}
	return "unknown";
}

/* ---- copies and the cache ---- */

void iw_x509_copy(struct iw_x509 *dst, const struct iw_x509 *src)
{
	if (dst == src)
		return;
	memcpy(dst, src, offsetof(struct iw_x509, text));
	memcpy(dst->text, src->text, src->text_used < IW_X509_TEXT ? src->text_used : IW_X509_TEXT);
	dst->text_used = src->text_used;
	/* every string pointer moves by the same offset from src->text to dst->text */
	const char **fields[] = {&dst->subject, &dst->subject_cn, &dst->subject_o,
	                         &dst->issuer,  &dst->issuer_cn,  &dst->issuer_o,
	                         &dst->serial,  &dst->key_type,   &dst->sig_alg};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (*fields[i])
			*fields[i] = dst->text + (*fields[i] - src->text);
	for (unsigned i = 0; i < dst->n_sans && i < IW_X509_MAX_SAN; i++)
		if (dst->sans[i])
			dst->sans[i] = dst->text + (dst->sans[i] - src->text);
}

struct slot {
	uint64_t hash;
	uint8_t *der; /* NULL: empty */
	size_t len;
	int rc;
	struct iw_x509 x;
};

struct iw_x509_cache {
	struct slot **slots;
	uint32_t mask;
	uint64_t hits, misses;
};

struct iw_x509_cache *iw_x509_cache_new(uint32_t n)
{
	struct iw_x509_cache *c = iw_calloc(1, sizeof(*c));
	uint32_t size = 1;
	while (size < n && size < (1u << 20))
		size <<= 1;
	c->slots = iw_calloc(size, sizeof(*c->slots));
	c->mask = size - 1;
	return c;
}

void iw_x509_cache_free(struct iw_x509_cache *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i <= c->mask; i++) {
		if (c->slots[i])
			free(c->slots[i]->der);
		free(c->slots[i]);
	}
	free(c->slots);
	free(c);
}

/* 64-bit FNV-1a over 8-byte words (then the tail bytes): DER is read once, cheaply. */
static uint64_t der_hash(const uint8_t *der, size_t len)
{
	uint64_t h = 1469598103934665603ULL ^ len;
	struct iw_cur c = iw_cur_make(der, len);
	while (iw_cur_has(&c, 8)) {
		const uint8_t *w;
		iw_cur_bytes(&c, 8, &w);
		uint64_t v;
		memcpy(&v, w, 8);
		h = (h ^ v) * 1099511628211ULL;
		h ^= h >> 32;
	}
	while (iw_cur_left(&c))
		h = (h ^ iw_cur_u8(&c)) * 1099511628211ULL;
	return h;
}

int iw_x509_parse_cached(struct iw_x509_cache *c, const uint8_t *der, size_t len, struct iw_x509 *x)
{
	if (!c || len == 0)
		return iw_x509_parse(der, len, x);
	uint64_t h = der_hash(der, len);
	struct slot **sp = &c->slots[h & c->mask];
	struct slot *s = *sp;
	if (s && s->der && s->hash == h && s->len == len && !memcmp(s->der, der, len)) {
		c->hits++;
		iw_x509_copy(x, &s->x);
		return s->rc;
	}
	c->misses++;
	int rc = iw_x509_parse(der, len, x);
	if (!s)
		s = *sp = iw_calloc(1, sizeof(*s));
	free(s->der);
	s->der = iw_malloc(len);
	memcpy(s->der, der, len);
	s->len = len;
	s->hash = h;
	s->rc = rc;
	iw_x509_copy(&s->x, x);
	return rc;
}

uint64_t iw_x509_cache_hits(const struct iw_x509_cache *c)
{
	return c ? c->hits : 0;
}

uint64_t iw_x509_cache_misses(const struct iw_x509_cache *c)
{
	return c ? c->misses : 0;
}
