/* tls.c - TLS handshake records (RFC 5246 §6.2, §7.4; RFC 8446 §4-5; RFC 8701 GREASE).
 *
 *   record    | type 1 | version 2 | length 2 | fragment |        types: 20 ChangeCipherSpec,
 *   handshake | msg type 1 | length 3 | body |                      21 alert, 22 handshake,
 *   alert     | level 1 | description 1 |                           23 application data
 *
 * Per direction: handshake messages are gathered across records (a certificate chain
 * spans several) up to a bound; alert records are read when in clear; application
 * data and everything after ChangeCipherSpec is only counted, its bytes passed over
 * without buffering. Once the handshake is done (TLS 1.2: both sides sent
 * ChangeCipherSpec, or application data flowed), the parser consumes the rest of the
 * flow without looking.
 *
 * What is reported: the ClientHello (SNI, ALPN, versions, suites, extensions, JA3, JA4),
 * the ServerHello (JA3S), Certificate messages in clear either way (TLS 1.2 mutual TLS
 * shows the client's), CertificateRequest, alerts, and at the flow's end a handshake
 * that never reached application data. TLS 1.3 encrypts everything after the
 * ServerHello; there the handshake counts as done when the server sends two records, or
 * one too large to be a lone alert, after the client's first encrypted flight, or the
 * client sends again after the server answered it (an expired device rejected under TLS
 * 1.3 shows its flight, one small record back, and a close). */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "digest.h"
#include "fmt.h"
#include "parser.h"

#define REC_MAX     (16384 + 2048) /* largest record body RFC 5246 allows (ciphertext) */
#define HS_MAX      (256u << 10)   /* largest handshake message gathered */
#define SNI_MAX     255
#define ALPN_MAX    64
#define ALERT_SMALL 32 /* a TLS 1.3 record shorter than this may be a lone encrypted alert */

enum { CT_CCS = 20, CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPDATA = 23, CT_HEARTBEAT = 24 };
enum { HS_CLIENT_HELLO = 1, HS_SERVER_HELLO = 2, HS_CERTIFICATE = 11, HS_CERT_REQUEST = 13 };
enum {
	EXT_SNI = 0,
	EXT_GROUPS = 10,
	EXT_POINT_FORMATS = 11,
	EXT_SIG_ALGS = 13,
	EXT_ALPN = 16,
	EXT_VERSIONS = 43
};

struct tls_dir {
	uint32_t skip;             /* body bytes of the current record still to pass over */
	uint8_t *hs;               /* handshake bytes gathered across records */
	uint32_t hs_len, hs_cap;   /* ... held only while a message is incomplete */
	uint32_t records, appdata; /* records seen, of them application data */
	bool ccs;                  /* sent ChangeCipherSpec (TLS 1.2): encrypted from now */
	bool lost;                 /* a gap: this direction is not followed any more */
};

struct tls_state {
	struct tls_dir d[2];
	struct iw_x509_cache *x509_cache; /* the sensor's, or NULL */
	uint32_t max_hs;
	uint16_t version; /* offered (ClientHello) then selected (ServerHello) */
	bool ch_seen, sh_seen, tls13, complete;
	bool client_enc;      /* TLS 1.3: the client sent its first encrypted record */
	uint8_t server_after; /* TLS 1.3: server records since then */
	bool alert_seen, alert_enc;
	uint8_t alert_level, alert_desc;
	uint64_t start_us, last_us;
	char sni[SNI_MAX + 1];
	char alpn[ALPN_MAX + 1];
	char ja3_hash[IW_MD5_HEX];
	char ja4[40];
	bool no_fingerprints; /* iw_parser_cfg's */
	uint8_t ch_sid[32];   /* the ClientHello's session id, to tell a resumption */
	uint8_t ch_sid_len;
};

/* A list of 16-bit values from a hello; the fingerprints use what is kept (the first
 * IW_TLS_MAX_LIST values: no real hello offers more). */
struct list {
	uint16_t v[IW_TLS_MAX_LIST];
	uint16_t n, dropped;
};

/* A hello being read, on the stack of client_hello() or server_hello(): 3.5 KB, of which
 * hello_init() sets only what is read before it is written (the counts, has_sni, the
 * first byte of sni and alpn_selected). hello_parse() writes legacy, random, sid_len and
 * sid before it can succeed; each array is written up to its count before it is read. */
struct hello {
	uint16_t legacy;
	uint8_t sid_len;
	struct list ciphers, exts, groups, sig_algs, versions;
	uint8_t pf[16];
	uint8_t n_pf;
	char alpns[IW_TLS_MAX_ALPN][ALPN_MAX + 1];
	uint8_t n_alpns;
	/* raw first and last bytes of the first ALPN value (JA4); written with alpns[0]
	 * when that value is not empty, and read only then (alpns[0][0] != '\0') */
	uint8_t alpn_first, alpn_last;
	bool has_sni;
	char sni[SNI_MAX + 1];
	char alpn_selected[ALPN_MAX + 1];
	uint8_t random[32];
	uint8_t sid[32];
};

/* ---- names ---- */

const char *iw_tls_type_name(enum iw_tls_type t)
{
	static const char *const n[IW_TLS__TYPES] = {
	    [IW_TLS_CLIENT_HELLO] = "client_hello",
	    [IW_TLS_SERVER_HELLO] = "server_hello",
	    [IW_TLS_CERTIFICATE] = "certificate",
	    [IW_TLS_CERTIFICATE_REQUEST] = "certificate_request",
	    [IW_TLS_ALERT] = "alert",
	    [IW_TLS_HANDSHAKE_FAILED] = "handshake_failed",
	};
	return (unsigned)t < IW_TLS__TYPES ? n[t] : "unknown";
}

const char *iw_tls_alert_name(uint8_t d)
{
	switch (d) {
	case 0:
		return "close_notify";
	case 10:
		return "unexpected_message";
	case 20:
		return "bad_record_mac";
	case 21:
		return "decryption_failed";
	case 22:
		return "record_overflow";
	case 30:
		return "decompression_failure";
	case 40:
		return "handshake_failure";
	case 41:
		return "no_certificate";
	case 42:
		return "bad_certificate";
	case 43:
		return "unsupported_certificate";
	case 44:
		return "certificate_revoked";
	case 45:
		return "certificate_expired";
	case 46:
		return "certificate_unknown";
	case 47:
		return "illegal_parameter";
	case 48:
		return "unknown_ca";
	case 49:
		return "access_denied";
	case 50:
		return "decode_error";
	case 51:
		return "decrypt_error";
	case 60:
		return "export_restriction";
	case 70:
		return "protocol_version";
	case 71:
		return "insufficient_security";
	case 80:
		return "internal_error";
	case 86:
		return "inappropriate_fallback";
	case 90:
		return "user_canceled";
	case 100:
		return "no_renegotiation";
	case 109:
		return "missing_extension";
	case 110:
		return "unsupported_extension";
	case 111:
		return "certificate_unobtainable";
	case 112:
		return "unrecognized_name";
	case 113:
		return "bad_certificate_status_response";
	case 114:
		return "bad_certificate_hash_value";
	case 115:
		return "unknown_psk_identity";
	case 116:
		return "certificate_required";
	case 120:
		return "no_application_protocol";
	}
	return NULL;
}

const char *iw_tls_version_name(uint16_t v)
{
	switch (v) {
	case 0x0300:
		return "SSL 3.0";
	case 0x0301:
		return "TLS 1.0";
	case 0x0302:
		return "TLS 1.1";
	case 0x0303:
		return "TLS 1.2";
	case 0x0304:
		return "TLS 1.3";
	}
	return NULL;
}

/* ---- helpers ---- */

static bool grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static void list_init(struct list *l)
{
	l->n = l->dropped = 0;
}

static void list_add(struct list *l, uint16_t v)
{
	if (l->n < IW_TLS_MAX_LIST)
		l->v[l->n++] = v;
	else if (l->dropped < UINT16_MAX)
		l->dropped++;
}

static struct iw_tls_list list_view(const struct list *l)
{
	return (struct iw_tls_list){.v = l->v, .n = l->n, .dropped = l->dropped};
}

/* Copies n bytes as a printable string: control bytes and NUL become '?'. */
static void copy_text(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	struct iw_cur c = iw_cur_make(src, n);
	size_t i = 0;
	while (iw_cur_left(&c)) {
		uint8_t b = iw_cur_u8(&c);
		dst[i++] = b < 0x20 || b == 0x7f ? '?' : (char)b;
	}
	dst[i] = '\0';
}

/* The first 12 hex digits of SHA-256 (JA4's hash parts); "000000000000" for nothing. */
static void sha256_12(const char *s, size_t n, char out[13])
{
	char full[IW_SHA256_HEX];
	if (n == 0 || !iw_digest_hex(IW_SHA256, s, n, full)) {
		memcpy(out, "000000000000", 13);
		return;
	}
	memcpy(out, full, 12);
	out[12] = '\0';
}

/* A growing string in a caller's buffer; stops at the end without overflowing. */
struct sbuf {
	char *b;
	size_t cap, len;
};

static void sb_put(struct sbuf *s, const char *t)
{
	size_t n = strlen(t);
	if (s->len + n >= s->cap)
		n = s->cap - 1 - s->len;
	memcpy(s->b + s->len, t, n);
	s->len += n;
	s->b[s->len] = '\0';
}

/* Decimal by hand: a ClientHello's JA3 string has a hundred numbers. */
static void sb_uint(struct sbuf *s, unsigned v)
{
	char t[IW_FMT_U64_MAX + 1];
	t[iw_fmt_u64(t, v)] = '\0';
	sb_put(s, t);
}

/* Decimal values without GREASE, dash-joined (JA3). */
static void sb_dec_list(struct sbuf *s, const uint16_t *v, unsigned n)
{
	bool first = true;
	for (unsigned i = 0; i < n; i++) {
		if (grease(v[i]))
			continue;
		if (!first)
			sb_put(s, "-");
		sb_uint(s, v[i]);
		first = false;
	}
}

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
	return (x > y) - (x < y);
}

/* Four-digit lower-case hex values, comma-joined; sorted when asked; skip drops SNI and
 * ALPN (JA4's extension part). Returns how many were written. */
static unsigned sb_hex_list(struct sbuf *s, const uint16_t *v, unsigned n, bool sorted, bool skip)
{
	uint16_t tmp[IW_TLS_MAX_LIST];
	unsigned k = 0;
	for (unsigned i = 0; i < n && k < IW_TLS_MAX_LIST; i++) {
		if (grease(v[i]) || (skip && (v[i] == EXT_SNI || v[i] == EXT_ALPN)))
			continue;
		tmp[k++] = v[i];
	}
	if (sorted)
		qsort(tmp, k, sizeof(tmp[0]), cmp_u16);
	static const char digits[] = "0123456789abcdef";
	for (unsigned i = 0; i < k; i++) {
		char t[6] = {',',
		             digits[tmp[i] >> 12],
		             digits[(tmp[i] >> 8) & 15],
		             digits[(tmp[i] >> 4) & 15],
		             digits[tmp[i] & 15],
		             '\0'};
		sb_put(s, i ? t : t + 1);
	}
	return k;
}

static unsigned count_nongrease(const struct list *l)
{
	unsigned k = 0;
	for (unsigned i = 0; i < l->n; i++)
		k += !grease(l->v[i]);
	return k;
}

static bool alnum(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* JA4 (FoxIO): t<ver><d|i><nn ciphers><nn extensions><alpn>_<ciphers>_<extensions>. */
static void ja4(const struct hello *h, char out[40])
{
	uint16_t best = 0;
	for (unsigned i = 0; i < h->versions.n; i++)
		if (!grease(h->versions.v[i]) && h->versions.v[i] > best)
			best = h->versions.v[i];
	if (!best)
		best = h->legacy;
	const char *ver = "00";
	switch (best) {
	case 0x0304:
		ver = "13";
		break;
	case 0x0303:
		ver = "12";
		break;
	case 0x0302:
		ver = "11";
		break;
	case 0x0301:
		ver = "10";
		break;
	case 0x0300:
		ver = "s3";
		break;
	case 0x0002:
		ver = "s2";
		break;
	}
	unsigned nc = count_nongrease(&h->ciphers), ne = count_nongrease(&h->exts);
	char alpn[3] = "00";
	if (h->n_alpns && h->alpns[0][0]) {
		char f = (char)h->alpn_first, l = (char)h->alpn_last;
		if (alnum(f) && alnum(l)) {
			alpn[0] = f;
			alpn[1] = l;
		} else { /* first and last hex digits of the value */
			static const char d[] = "0123456789abcdef";
			alpn[0] = d[h->alpn_first >> 4];
			alpn[1] = d[h->alpn_last & 15];
		}
	}
	char buf[IW_TLS_MAX_LIST * 5 * 2 + 8];
	struct sbuf s = {buf, sizeof(buf), 0};
	buf[0] = '\0';
	char part_b[13], part_c[13];
	sb_hex_list(&s, h->ciphers.v, h->ciphers.n, true, false);
	sha256_12(buf, s.len, part_b);
	s.len = 0;
	buf[0] = '\0';
	unsigned k = sb_hex_list(&s, h->exts.v, h->exts.n, true, true);
	if (h->sig_algs.n) {
		sb_put(&s, "_");
		sb_hex_list(&s, h->sig_algs.v, h->sig_algs.n, false, false);
	}
	if (k == 0)
		memcpy(part_c, "000000000000", 13);
	else
		sha256_12(buf, s.len, part_c);
	snprintf(out, 40, "t%s%c%02u%02u%c%c_%s_%s", ver, h->has_sni ? 'd' : 'i', nc > 99 ? 99 : nc,
	         ne > 99 ? 99 : ne, alpn[0], alpn[1], part_b, part_c);
}

/* ---- events ---- */

static void emit(struct tls_state *st, struct iw_parse_ctx *ctx, struct iw_event *ev)
{
	struct iw_ev_tls *t = &ev->u.tls;
	ev->kind = IW_EV_TLS;
	t->version = st->version;
	t->sni = st->sni[0] ? st->sni : NULL;
	t->alpn = st->alpn[0] ? st->alpn : NULL;
	t->ja3_hash = st->ja3_hash[0] ? st->ja3_hash : NULL;
	t->ja4 = st->ja4[0] ? st->ja4 : NULL;
	ctx->emit(ctx, ev);
}

/* ---- hellos ---- */

static void parse_u16_list(struct iw_cur *c, size_t lenbytes, struct list *l)
{
	size_t n = lenbytes == 1 ? iw_cur_u8(c) : iw_cur_be16(c);
	struct iw_cur s = iw_cur_sub(c, n);
	while (iw_cur_has(&s, 2))
		list_add(l, iw_cur_be16(&s));
}

/* One extension's body into h; false when it is malformed. */
static bool hello_ext(struct hello *h, uint16_t type, struct iw_cur *e, bool client)
{
	switch (type) {
	case EXT_SNI: {
		if (!client)
			return true; /* the server's is empty */
		struct iw_cur l = iw_cur_sub(e, iw_cur_be16(e));
		while (iw_cur_left(&l)) {
			uint8_t nt = iw_cur_u8(&l);
			uint16_t nl = iw_cur_be16(&l);
			const uint8_t *name;
			if (!iw_cur_bytes(&l, nl, &name))
				return false;
			if (nt == 0 && !h->has_sni) {
				h->has_sni = true;
				copy_text(h->sni, sizeof(h->sni), name, nl);
			}
		}
		return !l.err;
	}
	case EXT_GROUPS:
		parse_u16_list(e, 2, &h->groups);
		return !e->err;
	case EXT_POINT_FORMATS: {
		struct iw_cur l = iw_cur_sub(e, iw_cur_u8(e));
		while (iw_cur_left(&l)) {
			uint8_t v = iw_cur_u8(&l);
			if (h->n_pf < sizeof(h->pf))
				h->pf[h->n_pf++] = v;
		}
		return !e->err;
	}
	case EXT_SIG_ALGS:
		parse_u16_list(e, 2, &h->sig_algs);
		return !e->err;
	case EXT_ALPN: {
		struct iw_cur l = iw_cur_sub(e, iw_cur_be16(e));
		while (iw_cur_left(&l)) {
			uint8_t n = iw_cur_u8(&l);
			const uint8_t *name;
			if (!iw_cur_bytes(&l, n, &name))
				return false;
			if (client && h->n_alpns == 0 && n) {
				struct iw_cur v = iw_cur_make(name, n);
				h->alpn_first = iw_cur_u8(&v);
				iw_cur_skip(&v, n - 2u + (n == 1));
				h->alpn_last = n == 1 ? h->alpn_first : iw_cur_u8(&v);
			}
			if (client && h->n_alpns < IW_TLS_MAX_ALPN)
				copy_text(h->alpns[h->n_alpns++], ALPN_MAX + 1, name, n);
			else if (!client && !h->alpn_selected[0])
				copy_text(h->alpn_selected, sizeof(h->alpn_selected), name, n);
		}
		return !l.err;
	}
	case EXT_VERSIONS:
		if (client) {
			parse_u16_list(e, 1, &h->versions);
		} else {
			list_add(&h->versions, iw_cur_be16(e));
		}
		return !e->err;
	}
	return true;
}

static void hello_init(struct hello *h)
{
	list_init(&h->ciphers);
	list_init(&h->exts);
	list_init(&h->groups);
	list_init(&h->sig_algs);
	list_init(&h->versions);
	h->n_pf = 0;
	h->n_alpns = 0;
	h->has_sni = false;
	h->sni[0] = '\0';
	h->alpn_selected[0] = '\0';
}

/* The fields both hellos share up to the extensions, then the extensions. */
static bool hello_parse(struct iw_cur *c, struct hello *h, bool client)
{
	h->legacy = iw_cur_be16(c);
	const uint8_t *rnd;
	if (!iw_cur_bytes(c, 32, &rnd))
		return false;
	memcpy(h->random, rnd, 32);
	h->sid_len = iw_cur_u8(c);
	const uint8_t *sid;
	if (h->sid_len > 32 || !iw_cur_bytes(c, h->sid_len, &sid))
		return false;
	memcpy(h->sid, sid, h->sid_len);
	if (client) {
		uint16_t n = iw_cur_be16(c);
		if (n & 1)
			return false;
		struct iw_cur s = iw_cur_sub(c, n);
		while (iw_cur_has(&s, 2))
			list_add(&h->ciphers, iw_cur_be16(&s));
		uint8_t comp = iw_cur_u8(c);
		iw_cur_skip(c, comp);
	} else {
		list_add(&h->ciphers, iw_cur_be16(c));
		iw_cur_skip(c, 1); /* compression */
	}
	if (c->err)
		return false;
	if (!iw_cur_left(c))
		return true; /* no extensions (SSL 3.0, old TLS) */
	struct iw_cur exts = iw_cur_sub(c, iw_cur_be16(c));
	if (c->err)
		return false;
	while (iw_cur_left(&exts)) {
		uint16_t type = iw_cur_be16(&exts);
		struct iw_cur e = iw_cur_sub(&exts, iw_cur_be16(&exts));
		if (exts.err)
			return false;
		list_add(&h->exts, type);
		if (!hello_ext(h, type, &e, client))
			return false;
	}
	return true;
}

static void client_hello(struct tls_state *st, struct iw_parse_ctx *ctx, struct iw_cur *c)
{
	struct hello hello;
	struct hello *h = &hello;
	hello_init(h);
	if (!hello_parse(c, h, true)) {
		ctx->anomaly(ctx, "tls.bad_client_hello");
		return;
	}
	st->ch_seen = true;
	st->ch_sid_len = h->sid_len;
	memcpy(st->ch_sid, h->sid, h->sid_len);
	uint16_t best = 0;
	for (unsigned i = 0; i < h->versions.n; i++)
		if (!grease(h->versions.v[i]) && h->versions.v[i] > best)
			best = h->versions.v[i];
	st->version = best ? best : h->legacy;
	memcpy(st->sni, h->sni, strlen(h->sni) + 1);
	if (h->has_sni && !h->sni[0])
		ctx->anomaly(ctx, "tls.empty_sni");

	/* JA3: version,ciphers,extensions,groups,point formats (only records carry it) */
	char buf[IW_TLS_MAX_LIST * 6 * 4 + 64];
	struct sbuf s = {buf, sizeof(buf), 0};
	buf[0] = '\0';
	if (!st->no_fingerprints) {
		sb_uint(&s, h->legacy);
		sb_put(&s, ",");
		sb_dec_list(&s, h->ciphers.v, h->ciphers.n);
		sb_put(&s, ",");
		sb_dec_list(&s, h->exts.v, h->exts.n);
		sb_put(&s, ",");
		sb_dec_list(&s, h->groups.v, h->groups.n);
		sb_put(&s, ",");
		for (unsigned i = 0; i < h->n_pf; i++) {
			if (i)
				sb_put(&s, "-");
			sb_uint(&s, h->pf[i]);
		}
		iw_digest_hex(IW_MD5, buf, s.len, st->ja3_hash);
		ja4(h, st->ja4);
	}

	struct iw_event ev = {.kind = IW_EV_TLS};
	struct iw_ev_tls *t = &ev.u.tls;
	t->type = IW_TLS_CLIENT_HELLO;
	t->dir = IW_DIR_TOSERVER;
	t->legacy_version = h->legacy;
	t->session_id_len = h->sid_len;
	t->ciphers = list_view(&h->ciphers);
	t->extensions = list_view(&h->exts);
	t->versions = list_view(&h->versions);
	t->groups = list_view(&h->groups);
	t->sig_algs = list_view(&h->sig_algs);
	t->point_formats = h->pf;
	t->n_point_formats = h->n_pf;
	for (unsigned i = 0; i < h->n_alpns; i++)
		t->alpns[i] = h->alpns[i];
	t->n_alpns = h->n_alpns;
	t->ja3 = st->no_fingerprints ? NULL : buf;
	emit(st, ctx, &ev);
}

/* SHA-256("HelloRetryRequest"): the random of a ServerHello that is a retry request. */
static const uint8_t hrr_random[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                                       0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                                       0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

static void server_hello(struct tls_state *st, struct iw_parse_ctx *ctx, struct iw_cur *c)
{
	struct hello hello;
	struct hello *h = &hello;
	hello_init(h);
	if (!hello_parse(c, h, false)) {
		ctx->anomaly(ctx, "tls.bad_server_hello");
		return;
	}
	bool retry = !memcmp(h->random, hrr_random, 32);
	uint16_t selected = h->versions.n ? h->versions.v[0] : h->legacy;
	st->version = selected;
	st->tls13 = selected == 0x0304; /* a retry request selects it too */
	if (st->tls13)                  /* a client's early ChangeCipherSpec (0-RTT) meant nothing */
		st->d[IW_DIR_TOSERVER].ccs = st->d[IW_DIR_TOCLIENT].ccs = false;
	if (!retry)
		st->sh_seen = true;
	if (h->alpn_selected[0])
		memcpy(st->alpn, h->alpn_selected, strlen(h->alpn_selected) + 1);

	char buf[IW_TLS_MAX_LIST * 6 + 32];
	struct sbuf s = {buf, sizeof(buf), 0};
	buf[0] = '\0';
	char ja3s[IW_MD5_HEX] = "";
	if (!st->no_fingerprints) {
		sb_uint(&s, h->legacy);
		sb_put(&s, ",");
		sb_uint(&s, h->ciphers.n ? h->ciphers.v[0] : 0);
		sb_put(&s, ",");
		sb_dec_list(&s, h->exts.v, h->exts.n);
		iw_digest_hex(IW_MD5, buf, s.len, ja3s);
	}

	struct iw_event ev = {.kind = IW_EV_TLS};
	struct iw_ev_tls *t = &ev.u.tls;
	t->type = IW_TLS_SERVER_HELLO;
	t->dir = IW_DIR_TOCLIENT;
	t->legacy_version = h->legacy;
	t->session_id_len = h->sid_len;
	t->ciphers = list_view(&h->ciphers);
	t->extensions = list_view(&h->exts);
	t->versions = list_view(&h->versions);
	t->ja3s = st->no_fingerprints ? NULL : buf;
	t->ja3s_hash = st->no_fingerprints ? NULL : ja3s;
	/* TLS 1.2 resumption: the server takes the session id back (TLS 1.3 always echoes) */
	t->resumed = selected < 0x0304 && h->sid_len && h->sid_len == st->ch_sid_len &&
	             !memcmp(h->sid, st->ch_sid, h->sid_len);
	emit(st, ctx, &ev);
}

/* Certificate (TLS 1.2 and earlier): | total 3 | (length 3 | DER)* |. */
static void certificate(struct tls_state *st, struct iw_parse_ctx *ctx, int dir, struct iw_cur *c)
{
	uint32_t total = (uint32_t)iw_cur_u8(c) << 16;
	total |= iw_cur_be16(c);
	struct iw_cur l = iw_cur_sub(c, total);
	if (c->err) {
		ctx->anomaly(ctx, "tls.bad_certificate_message");
		return;
	}
	/* count first, so that only what is there is allocated */
	struct iw_cur k = l;
	unsigned n = 0, dropped = 0;
	while (iw_cur_left(&k)) {
		uint32_t len = (uint32_t)iw_cur_u8(&k) << 16;
		len |= iw_cur_be16(&k);
		if (!iw_cur_skip(&k, len))
			break;
		if (n < IW_TLS_MAX_CHAIN)
			n++;
		else
			dropped++;
	}
	if (k.err)
		ctx->anomaly(ctx, "tls.bad_certificate_message");
	/* Not zeroed (3.4 KB each): iw_x509_parse_cached() writes all of certs[i] but the
	 * text past text_used, which nothing reads, and the event shows certs[0..n) only.
	 * Not on the stack either: 27 KB there would put the rules and exporters the event
	 * goes through on cold cache lines (cachegrind: more D1 misses than calloc had). */
	struct iw_x509 *certs = n ? iw_malloc(n * sizeof(*certs)) : NULL;
	bool ok[IW_TLS_MAX_CHAIN] = {false};
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = (uint32_t)iw_cur_u8(&l) << 16;
		len |= iw_cur_be16(&l);
		const uint8_t *der;
		/* cannot fail (the count read these bytes); if it did, n would still cover
		 * only certificates written */
		if (!iw_cur_bytes(&l, len, &der)) {
			n = i;
			break;
		}
		ok[i] = iw_x509_parse_cached(st->x509_cache, der, len, &certs[i]) == 0;
		if (!ok[i])
			ctx->anomaly(ctx, "tls.bad_certificate");
	}
	if (dir == IW_DIR_TOSERVER && n && ok[0] && certs[0].subject_cn)
		ctx->identity(ctx, IW_ID_CERT_CN, certs[0].subject_cn, strlen(certs[0].subject_cn));
	struct iw_event ev = {.kind = IW_EV_TLS};
	struct iw_ev_tls *t = &ev.u.tls;
	t->type = IW_TLS_CERTIFICATE;
	t->dir = (uint8_t)dir;
	t->certs = certs;
	t->cert_ok = ok;
	t->n_certs = (uint8_t)n;
	t->certs_dropped = (uint16_t)(dropped > UINT16_MAX ? UINT16_MAX : dropped);
	emit(st, ctx, &ev);
	free(certs);
}

/* CertificateRequest (TLS 1.2): | types 1+n | [sig algs 2+n] | CA names 2+(2+n)* |. */
static void cert_request(struct tls_state *st, struct iw_parse_ctx *ctx, struct iw_cur *c)
{
	uint8_t nt = iw_cur_u8(c);
	iw_cur_skip(c, nt);
	if (st->version >= 0x0303)
		iw_cur_skip(c, iw_cur_be16(c));
	struct iw_cur names = iw_cur_sub(c, iw_cur_be16(c));
	unsigned n = 0;
	while (iw_cur_left(&names) && iw_cur_skip(&names, iw_cur_be16(&names)))
		n++;
	if (c->err || names.err)
		ctx->anomaly(ctx, "tls.bad_certificate_request");
	struct iw_event ev = {.kind = IW_EV_TLS};
	struct iw_ev_tls *t = &ev.u.tls;
	t->type = IW_TLS_CERTIFICATE_REQUEST;
	t->dir = IW_DIR_TOCLIENT;
	t->n_cert_types = nt;
	t->n_ca_names = (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n);
	emit(st, ctx, &ev);
}

static void hs_message(struct tls_state *st, struct iw_parse_ctx *ctx, int dir, uint8_t type,
                       struct iw_cur *c)
{
	switch (type) {
	case HS_CLIENT_HELLO:
		if (dir == IW_DIR_TOSERVER)
			client_hello(st, ctx, c);
		break;
	case HS_SERVER_HELLO:
		if (dir == IW_DIR_TOCLIENT)
			server_hello(st, ctx, c);
		break;
	case HS_CERTIFICATE:
		if (!st->tls13)
			certificate(st, ctx, dir, c);
		break;
	case HS_CERT_REQUEST:
		if (dir == IW_DIR_TOCLIENT && !st->tls13)
			cert_request(st, ctx, c);
		break;
	}
}

/* Handshake bytes of one record: whole messages straight from the record, a partial
 * one kept until the next record completes it. */
static bool hs_feed(struct tls_state *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *b, uint32_t n)
{
	struct tls_dir *d = &st->d[dir];
	if (d->hs_len) {
		if (d->hs_len + n > d->hs_cap) {
			uint32_t cap = d->hs_cap ? d->hs_cap : 4096;
			while (cap < d->hs_len + n)
				cap *= 2;
			d->hs = iw_realloc(d->hs, cap);
			d->hs_cap = cap;
		}
		memcpy(d->hs + d->hs_len, b, n);
		d->hs_len += n;
		b = d->hs;
		n = d->hs_len;
	}
	struct iw_cur c = iw_cur_make(b, n);
	for (;;) {
		struct iw_cur m = c;
		uint8_t type = iw_cur_u8(&m);
		uint32_t len = (uint32_t)iw_cur_u8(&m) << 16;
		len |= iw_cur_be16(&m);
		if (m.err)
			break;
		if (len > st->max_hs) {
			ctx->anomaly(ctx, "tls.handshake_too_large");
			return false;
		}
		struct iw_cur body = iw_cur_sub(&m, len);
		if (m.err)
			break;
		hs_message(st, ctx, dir, type, &body);
		c = m;
	}
	uint32_t left = (uint32_t)iw_cur_left(&c);
	if (!left) {
		free(d->hs);
		d->hs = NULL;
		d->hs_len = d->hs_cap = 0;
		return true;
	}
	if (d->hs_len) { /* keep the tail of the buffer */
		memmove(d->hs, c.p, left);
		d->hs_len = left;
		return true;
	}
	d->hs_cap = left > 4096 ? left : 4096;
	d->hs = iw_malloc(d->hs_cap);
	memcpy(d->hs, c.p, left);
	d->hs_len = left;
	return true;
}

static void alert_record(struct tls_state *st, struct iw_parse_ctx *ctx, int dir, struct iw_cur *c,
                         uint16_t rlen)
{
	struct tls_dir *d = &st->d[dir];
	bool enc = d->ccs || rlen % 2 != 0 || rlen == 0;
	while (iw_cur_left(c) || enc) {
		struct iw_event ev = {.kind = IW_EV_TLS};
		struct iw_ev_tls *t = &ev.u.tls;
		t->type = IW_TLS_ALERT;
		t->dir = (uint8_t)dir;
		t->encrypted = enc;
		if (!enc) {
			t->level = iw_cur_u8(c);
			t->description = iw_cur_u8(c);
		}
		st->alert_seen = true;
		st->alert_enc = enc;
		st->alert_level = t->level;
		st->alert_desc = t->description;
		emit(st, ctx, &ev);
		if (enc)
			break;
	}
}

/* Application data: in TLS 1.2 it proves the handshake done; TLS 1.3 see the top. */
static void appdata_record(struct tls_state *st, int dir, uint16_t rlen)
{
	st->d[dir].appdata++;
	if (!st->tls13) {
		if (st->sh_seen) /* before it: TLS 1.3 early data of a hello not yet answered */
			st->complete = true;
		return;
	}
	if (!st->sh_seen)
		return; /* 0-RTT early data */
	if (dir == IW_DIR_TOSERVER) {
		if (!st->client_enc)
			st->client_enc = true;
		else if (st->server_after)
			st->complete = true;
	} else if (st->client_enc) {
		if (st->server_after < UINT8_MAX)
			st->server_after++;
		if (st->server_after >= 2 || rlen >= ALERT_SMALL)
			st->complete = true;
	}
}

/* ---- the parser ---- */

static int tls_probe(const uint8_t *data, size_t len, int dir)
{
	struct iw_cur c = iw_cur_make(data, len);
	uint8_t type = iw_cur_u8(&c);
	uint8_t major = iw_cur_u8(&c);
	uint8_t minor = iw_cur_u8(&c);
	uint16_t rlen = iw_cur_be16(&c);
	uint8_t hs = iw_cur_u8(&c);
	uint32_t hlen = (uint32_t)iw_cur_u8(&c) << 16;
	hlen |= iw_cur_be16(&c);
	uint8_t vmajor = iw_cur_u8(&c);
	uint8_t vminor = iw_cur_u8(&c);
	if (c.err) { /* too short to tell, unless what is there already rules it out */
		size_t n = len;
		if ((n >= 1 && type != 22) || (n >= 2 && major != 3) || (n >= 3 && minor > 4))
			return IW_ERR;
		return IW_NEED_MORE;
	}
	if (type != 22 || major != 3 || minor > 4 || rlen < 4 || rlen > 16384 + 2048)
		return IW_ERR;
	if (hs != (dir == IW_DIR_TOSERVER ? 1 : 2) || hlen < 38 || hlen > 0xffff || vmajor != 3 || vminor > 4)
		return IW_ERR;
	return IW_OK;
}

static void *tls_new(const struct iw_parser_cfg *cfg)
{
	struct tls_state *st = iw_calloc(1, sizeof(*st));
	st->max_hs = cfg->max_message && cfg->max_message < HS_MAX ? cfg->max_message : HS_MAX;
	st->x509_cache = cfg->x509_cache;
	st->no_fingerprints = cfg->no_fingerprints;
	return st;
}

static void tls_free(void *sv)
{
	struct tls_state *st = sv;
	for (int i = 0; i < 2; i++)
		free(st->d[i].hs);
	free(st);
}

static int consumed(size_t n)
{
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

static int tls_parse(void *sv, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len)
{
	struct tls_state *st = sv;
	struct tls_dir *d = &st->d[dir];
	if (st->complete)
		return IW_DONE; /* application data: the sensor stops reassembling the flow */
	if (d->lost)
		return consumed(len);
	if (d->skip) {
		uint32_t n = d->skip < len ? d->skip : (uint32_t)len;
		d->skip -= n;
		return (int)n;
	}
	struct iw_cur c = iw_cur_make(data, len);
	uint8_t type = iw_cur_u8(&c);
	uint8_t major = iw_cur_u8(&c);
	uint8_t minor = iw_cur_u8(&c);
	uint16_t rlen = iw_cur_be16(&c);
	if (c.err)
		return IW_NEED_MORE;
	if (type < CT_CCS || type > CT_HEARTBEAT || major != 3 || minor > 4 || rlen > REC_MAX) {
		ctx->anomaly(ctx, "tls.bad_record");
		d->lost = true;
		return IW_ERR;
	}
	if (type == CT_ALERT || (type == CT_HANDSHAKE && !d->ccs)) {
		struct iw_cur body = iw_cur_sub(&c, rlen);
		if (c.err)
			return IW_NEED_MORE; /* the sensor keeps the bytes and calls again */
		d->records++;
		if (!st->start_us)
			st->start_us = ctx->ts_us;
		st->last_us = ctx->ts_us;
		if (type == CT_ALERT) {
			alert_record(st, ctx, dir, &body, rlen);
		} else if (!hs_feed(st, ctx, dir, body.p, rlen)) {
			d->lost = true;
			return IW_ERR;
		}
		return 5 + rlen;
	}
	/* ChangeCipherSpec, application data, heartbeat, encrypted handshake: count and pass */
	d->records++;
	if (!st->start_us)
		st->start_us = ctx->ts_us;
	st->last_us = ctx->ts_us;
	if (type == CT_CCS && !st->tls13) {
		d->ccs = true; /* TLS 1.3 sends it only for middleboxes: nothing changes */
		if (st->d[!dir].ccs && st->sh_seen)
			st->complete = true; /* TLS 1.2: both sides switched, so both were content */
	} else if (type == CT_APPDATA)
		appdata_record(st, dir, rlen);
	size_t have = len - 5;
	if (have >= rlen)
		return 5 + rlen;
	d->skip = rlen - (uint32_t)have;
	return consumed(len);
}

static void tls_gap(void *sv, struct iw_parse_ctx *ctx, int dir, uint32_t len)
{
	(void)ctx;
	(void)len;
	struct tls_state *st = sv;
	struct tls_dir *d = &st->d[dir];
	d->lost = true;
	free(d->hs);
	d->hs = NULL;
	d->hs_len = d->hs_cap = 0;
}

/* A handshake that began here and never carried application data. A flow still open at
 * shutdown or evicted may yet complete: not reported. */
static void tls_end(void *sv, struct iw_parse_ctx *ctx)
{
	struct tls_state *st = sv;
	if (!st->ch_seen || st->complete || st->d[0].lost || st->d[1].lost)
		return;
	if (ctx->end_reason == IW_END_SHUTDOWN || ctx->end_reason == IW_END_EVICTED)
		return;
	struct iw_event ev = {.kind = IW_EV_TLS};
	struct iw_ev_tls *t = &ev.u.tls;
	t->type = IW_TLS_HANDSHAKE_FAILED;
	t->dir = IW_DIR_TOSERVER;
	t->failure = st->alert_seen ? "alert" : !st->sh_seen ? "no_server_hello" : "no_application_data";
	t->records[0] = st->d[0].records;
	t->records[1] = st->d[1].records;
	t->start_us = st->start_us;
	t->end_us = st->last_us;
	t->alert_seen = st->alert_seen;
	t->encrypted = st->alert_enc;
	t->level = st->alert_level;
	t->description = st->alert_desc;
	emit(st, ctx, &ev);
}

const struct iw_parser iw_parser_tls = {
    .name = "tls",
    .ipproto = IPPROTO_TCP,
    .ports = {443, 8883, 8443, 5671},
    .ndpi_name = "TLS",
    .probe = tls_probe,
    .state_new = tls_new,
    .state_free = tls_free,
    .parse = tls_parse,
    .gap = tls_gap,
    .end = tls_end,
};
