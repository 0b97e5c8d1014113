/* x509.h - the fields of an X.509 certificate that rules and records use, taken from
 * DER with OpenSSL's libcrypto (no ASN.1 of our own).
 *
 * A struct iw_x509 is self-contained: every string points into its own text[] area, so
 * it can be kept in an array or freed as one block; iw_x509_copy() copies one (a plain
 * struct copy would still point into the original's text).
 *
 * libcrypto takes 100-200 us to decode one certificate, and a fleet shows the same few
 * server certificates (and each device its own) again and again: the cache keeps
 * decoded certificates by their DER bytes so a repeated one costs a hash and a copy. */
#ifndef IW_X509_H
#define IW_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IW_X509_MAX_SAN 16   /* subject alternative names kept per certificate */
#define IW_X509_TEXT    3072 /* bytes of text (names, serial, SANs) kept per certificate */

enum iw_san_type { IW_SAN_DNS, IW_SAN_IP, IW_SAN_URI, IW_SAN_EMAIL };

struct iw_x509 {
	/* NUL-terminated strings in text[]; NULL when the certificate has no such field.
	 * A string that does not fit is cut at a character boundary and truncated is set. */
	const char *subject;    /* RFC 2253 one-line form, "CN=dev-1,O=Acme" */
	const char *subject_cn; /* the last CN of the subject */
	const char *subject_o;
	const char *issuer;
	const char *issuer_cn;
	const char *issuer_o;
	const char *serial;   /* upper-case hex without separators, "0A1B..." */
	const char *key_type; /* "rsa", "ec", "ed25519", "ed448", "dsa" or the OID's short name */
	const char *sig_alg;  /* short name, "sha256WithRSAEncryption" */
	const char *sans[IW_X509_MAX_SAN];
	uint8_t san_type[IW_X509_MAX_SAN]; /* enum iw_san_type of sans[i] */
	uint8_t n_sans;
	uint16_t sans_dropped;         /* SANs past IW_X509_MAX_SAN, or of other types */
	int64_t not_before, not_after; /* Unix seconds (UTC) */
	uint32_t key_bits;             /* 0 when unknown */
	uint32_t version;              /* 1, 2 or 3 */
	bool is_ca;                    /* basicConstraints CA:TRUE */
	bool self_signed;              /* subject == issuer */
	bool truncated;                /* some text did not fit */
	char sha256[65];               /* lower-case hex SHA-256 of the DER bytes */
	char text[IW_X509_TEXT];
	uint32_t text_used;
};

/* Fills *x from one DER certificate. Returns 0, or -1 when the bytes are not a
 * certificate libcrypto accepts (x is then zeroed except sha256, which is always set
 * for len > 0 so that even a broken certificate can be recognised again). Never reads
 * past der + len; text is printable UTF-8 (control bytes become '?'). */
int iw_x509_parse(const uint8_t *der, size_t len, struct iw_x509 *x);

/* Copies src into dst, its strings pointing into dst's text. */
void iw_x509_copy(struct iw_x509 *dst, const struct iw_x509 *src);

/* A direct-mapped cache of decoded certificates (slots rounded up to a power of two).
 * Not thread-safe: one per sensor. Aborts on allocation failure. */
struct iw_x509_cache;
struct iw_x509_cache *iw_x509_cache_new(uint32_t slots);
void iw_x509_cache_free(struct iw_x509_cache *c);

/* iw_x509_parse through the cache: a certificate with the same DER bytes as one decoded
 * before is copied out of the cache; otherwise it is decoded and kept (replacing what
 * held its slot). c NULL: plain iw_x509_parse. Either way every field of *x is written
 * but the bytes of text past text_used, which nothing reads: x need not be zeroed. */
int iw_x509_parse_cached(struct iw_x509_cache *c, const uint8_t *der, size_t len, struct iw_x509 *x);

/* Lookups that found the certificate, and that did not. */
uint64_t iw_x509_cache_hits(const struct iw_x509_cache *c);
uint64_t iw_x509_cache_misses(const struct iw_x509_cache *c);

/* "dns", "ip", "uri", "email". */
const char *iw_san_type_name(enum iw_san_type t);

#endif
