/* test_tls.c - the TLS handshake parser (parsers/tls.c) through its descriptor.
 *
 * Every record is built by hand below (RFC 5246 §6.2, §7.4; RFC 8446 §4): ClientHellos
 * for TLS 1.2 with GREASE (RFC 8701) and TLS 1.3, ServerHellos, a HelloRetryRequest,
 * Certificate, CertificateRequest, alerts and opaque encrypted records. The expected
 * JA3, JA3S and JA4 values were computed apart from the parser, with python3's hashlib
 * from the JA3 and FoxIO JA4 definitions (REFERENCE §6); the one-liners are next to each
 * literal. Also: records split byte by byte and at every point, a ClientHello across
 * records, several messages in one record, handshake_failed at the flow's end, bad
 * records, oversized messages, every prefix of each flight flush against a guard page,
 * and random and mutated bytes.
 *
 * Certificates are the DER files of tests/bench/certs.h. While parsers/x509.c cannot
 * decode them, the checks of decoded fields are skipped with a note. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parsers/parser.h"
#include "tests/bench/certs.h"
#include "tests/unit/guard.h"

extern const struct iw_parser iw_parser_tls;
#define P iw_parser_tls

#define NUL "(null)" /* how a NULL string is kept in struct got */

/* ---- what the parser reported: deep copies of the events ---- */

struct got_list {
	uint16_t v[IW_TLS_MAX_LIST];
	uint16_t n, dropped;
};

struct got {
	enum iw_tls_type type;
	uint8_t dir;
	uint16_t version, legacy_version;
	uint8_t session_id_len;
	char sni[300], alpn[80], ja3_hash[40], ja4[48];
	struct got_list ciphers, extensions, versions, groups, sig_algs;
	uint8_t pf[32];
	uint8_t n_pf;
	char alpns[IW_TLS_MAX_ALPN][80];
	uint8_t n_alpns;
	char ja3[8192], ja3s[2048], ja3s_hash[40];
	bool resumed;
	uint8_t n_certs;
	uint16_t certs_dropped;
	bool cert_ok[IW_TLS_MAX_CHAIN];
	char cert_sha[IW_TLS_MAX_CHAIN][65];
	char cert_cn[IW_TLS_MAX_CHAIN][128];
	uint8_t n_cert_types;
	uint16_t n_ca_names;
	bool encrypted;
	uint8_t level, description;
	char failure[40];
	uint32_t records[2];
	uint64_t start_us, end_us;
	bool alert_seen;
};

#define MAX_EV 40
static struct got evs[MAX_EV];
static unsigned n_ev;
static char anomalies[64][48];
static unsigned n_anom;
static char identity[256];
static unsigned n_identity;

static bool discard;      /* random input: check each event's strings, keep none */
static bool x509_decodes; /* iw_x509_parse accepts the bench certificates */
static bool x509_hashes;  /* ... or at least sets sha256 */

static void cp(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : NUL);
}

static void cp_list(struct got_list *d, const struct iw_tls_list *l)
{
	assert_true(l->n <= IW_TLS_MAX_LIST);
	d->n = l->n;
	d->dropped = l->dropped;
	if (l->n) {
		assert_non_null(l->v);
		memcpy(d->v, l->v, l->n * sizeof(l->v[0]));
	}
}

static void on_emit(struct iw_parse_ctx *c, struct iw_event *e)
{
	(void)c;
	assert_int_equal(e->kind, IW_EV_TLS);
	const struct iw_ev_tls *t = &e->u.tls;
	if (discard) { /* every string readable and terminated (ASan checks) */
		const char *strs[] = {t->sni, t->alpn, t->ja3_hash,  t->ja4,
		                      t->ja3, t->ja3s, t->ja3s_hash, t->failure};
		size_t sum = 0;
		for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
			sum += strs[i] ? strlen(strs[i]) : 0;
		for (unsigned i = 0; i < t->n_alpns; i++)
			sum += strlen(t->alpns[i]);
		for (unsigned i = 0; i < t->n_certs; i++)
			sum += t->cert_ok[i] + strlen(t->certs[i].sha256);
		assert_true(sum < (1u << 20));
		assert_true(t->type < IW_TLS__TYPES);
		n_ev++;
		return;
	}
	assert_true(n_ev < MAX_EV);
	struct got *g = &evs[n_ev++];
	memset(g, 0, sizeof(*g));
	g->type = t->type;
	g->dir = t->dir;
	g->version = t->version;
	g->legacy_version = t->legacy_version;
	g->session_id_len = t->session_id_len;
	cp(g->sni, sizeof(g->sni), t->sni);
	cp(g->alpn, sizeof(g->alpn), t->alpn);
	cp(g->ja3_hash, sizeof(g->ja3_hash), t->ja3_hash);
	cp(g->ja4, sizeof(g->ja4), t->ja4);
	cp_list(&g->ciphers, &t->ciphers);
	cp_list(&g->extensions, &t->extensions);
	cp_list(&g->versions, &t->versions);
	cp_list(&g->groups, &t->groups);
	cp_list(&g->sig_algs, &t->sig_algs);
	assert_true(t->n_point_formats <= sizeof(g->pf));
	g->n_pf = t->n_point_formats;
	if (g->n_pf) {
		assert_non_null(t->point_formats);
		memcpy(g->pf, t->point_formats, g->n_pf);
	}
	assert_true(t->n_alpns <= IW_TLS_MAX_ALPN);
	g->n_alpns = t->n_alpns;
	for (unsigned i = 0; i < t->n_alpns; i++)
		cp(g->alpns[i], sizeof(g->alpns[i]), t->alpns[i]);
	cp(g->ja3, sizeof(g->ja3), t->ja3);
	cp(g->ja3s, sizeof(g->ja3s), t->ja3s);
	cp(g->ja3s_hash, sizeof(g->ja3s_hash), t->ja3s_hash);
	g->resumed = t->resumed;
	assert_true(t->n_certs <= IW_TLS_MAX_CHAIN);
	g->n_certs = t->n_certs;
	g->certs_dropped = t->certs_dropped;
	if (t->n_certs) {
		assert_non_null(t->certs);
		assert_non_null(t->cert_ok);
	}
	for (unsigned i = 0; i < t->n_certs; i++) {
		g->cert_ok[i] = t->cert_ok[i];
		cp(g->cert_sha[i], sizeof(g->cert_sha[i]), t->certs[i].sha256);
		cp(g->cert_cn[i], sizeof(g->cert_cn[i]), t->cert_ok[i] ? t->certs[i].subject_cn : NULL);
	}
	g->n_cert_types = t->n_cert_types;
	g->n_ca_names = t->n_ca_names;
	g->encrypted = t->encrypted;
	g->level = t->level;
	g->description = t->description;
	cp(g->failure, sizeof(g->failure), t->failure);
	g->records[0] = t->records[0];
	g->records[1] = t->records[1];
	g->start_us = t->start_us;
	g->end_us = t->end_us;
	g->alert_seen = t->alert_seen;
}

static void on_anomaly(struct iw_parse_ctx *c, const char *reason)
{
	(void)c;
	if (n_anom < 64)
		snprintf(anomalies[n_anom++], sizeof(anomalies[0]), "%s", reason);
}

static void on_identity(struct iw_parse_ctx *c, enum iw_identity kind, const char *s, size_t n)
{
	(void)c;
	assert_int_equal(kind, IW_ID_CERT_CN);
	n_identity++;
	snprintf(identity, sizeof(identity), "%.*s", (int)n, s);
}

static struct iw_parse_ctx ctx = {.emit = on_emit, .anomaly = on_anomaly, .identity = on_identity};
static struct iw_parser_cfg cfg;

/* One event as a line with every field: runs that must agree compare these. */
__attribute__((format(printf, 4, 5))) static void app(char *out, size_t cap, size_t *len, const char *fmt,
                                                      ...)
{
	if (*len >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

static void app_list(char *out, size_t cap, size_t *len, const char *name, const struct got_list *l)
{
	app(out, cap, len, " %s[%u+%u]", name, l->n, l->dropped);
	for (unsigned i = 0; i < l->n; i++)
		app(out, cap, len, "%s%04x", i ? "," : "", l->v[i]);
}

static void line(const struct got *g, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	app(out, cap, &len, "type=%d dir=%u v=%04x lv=%04x sid=%u sni=%s alpn=%s ja3h=%s ja4=%s",
	    (int)g->type, g->dir, g->version, g->legacy_version, g->session_id_len, g->sni, g->alpn,
	    g->ja3_hash, g->ja4);
	app_list(out, cap, &len, "c", &g->ciphers);
	app_list(out, cap, &len, "e", &g->extensions);
	app_list(out, cap, &len, "v", &g->versions);
	app_list(out, cap, &len, "g", &g->groups);
	app_list(out, cap, &len, "s", &g->sig_algs);
	app(out, cap, &len, " pf=");
	for (unsigned i = 0; i < g->n_pf; i++)
		app(out, cap, &len, "%u.", g->pf[i]);
	app(out, cap, &len, " alpns=");
	for (unsigned i = 0; i < g->n_alpns; i++)
		app(out, cap, &len, "%s|", g->alpns[i]);
	app(out, cap, &len, " ja3=%s ja3s=%s ja3sh=%s res=%d certs=%u+%u", g->ja3, g->ja3s, g->ja3s_hash,
	    g->resumed, g->n_certs, g->certs_dropped);
	for (unsigned i = 0; i < g->n_certs; i++)
		app(out, cap, &len, " [%d %s %s]", g->cert_ok[i], g->cert_sha[i], g->cert_cn[i]);
	app(out, cap, &len, " ct=%u ca=%u enc=%d lvl=%u desc=%u fail=%s rec=%u/%u t=%llu-%llu as=%d",
	    g->n_cert_types, g->n_ca_names, g->encrypted, g->level, g->description, g->failure, g->records[0],
	    g->records[1], (unsigned long long)g->start_us, (unsigned long long)g->end_us, g->alert_seen);
}

/* The events of a run as lines, to compare with another run. */
#define LINE 20000
static char saved[MAX_EV][LINE];
static unsigned n_saved;

static void save_events(void)
{
	for (unsigned i = 0; i < n_ev; i++)
		line(&evs[i], saved[i], LINE);
	n_saved = n_ev;
}

static void same_as_saved(const char *what)
{
	static char now[LINE];
	if (n_ev != n_saved)
		fail_msg("%s: %u events, expected %u", what, n_ev, n_saved);
	for (unsigned i = 0; i < n_ev; i++) {
		line(&evs[i], now, LINE);
		if (strcmp(now, saved[i]))
			fail_msg("%s: event %u differs:\n  got  %s\n  want %s", what, i, now, saved[i]);
	}
}

static bool has_anomaly(const char *reason)
{
	for (unsigned i = 0; i < n_anom; i++)
		if (!strcmp(anomalies[i], reason))
			return true;
	return false;
}

static void no_anomalies(void)
{
	if (n_anom)
		fail_msg("unexpected anomaly %s (%u in all)", anomalies[0], n_anom);
}

/* No anomaly but tls.bad_certificate, which each certificate gives while parsers/x509.c
 * cannot decode it. */
static void no_anomalies_but_certs(void)
{
	for (unsigned i = 0; i < n_anom; i++)
		if (x509_decodes || strcmp(anomalies[i], "tls.bad_certificate"))
			fail_msg("unexpected anomaly %s", anomalies[i]);
}

/* ---- feeding bytes as the sensor does ---- */

/* What is not consumed is kept and offered again with the next piece. */
struct feeder {
	uint8_t b[1 << 17];
	size_t n;
	bool off;
	bool done; /* the parser said IW_DONE: what follows is not read, as the sensor does */
};
static struct feeder fdr[2];

static void reset(void)
{
	n_ev = n_anom = n_identity = 0;
	identity[0] = '\0';
	for (int d = 0; d < 2; d++) {
		fdr[d].n = 0;
		fdr[d].off = false;
		fdr[d].done = false;
	}
	ctx.ts_us = 1000;
	ctx.end_reason = IW_END_FIN;
}

static void *fresh(uint32_t max_message)
{
	reset();
	cfg.max_message = max_message;
	cfg.max_items = 64;
	cfg.payload_preview = 0;
	return P.state_new(&cfg);
}

/* Appends n bytes of direction dir and parses what it can. Returns the bytes left
 * pending (0: all consumed, or the parser is done with the direction: IW_DONE), or -1
 * once the parser gave the direction up. */
static long feed(void *st, int dir, const uint8_t *b, size_t n)
{
	struct feeder *f = &fdr[dir];
	if (f->done)
		return 0;
	if (f->off)
		return -1;
	assert_true(f->n + n <= sizeof(f->b));
	memcpy(f->b + f->n, b, n);
	f->n += n;
	size_t used = 0;
	while (used < f->n) {
		int rc = P.parse(st, &ctx, dir, f->b + used, f->n - used);
		if (rc == IW_NEED_MORE)
			break;
		if (rc == IW_ERR) {
			f->off = true;
			f->n = 0;
			return -1;
		}
		if (rc == IW_DONE) {
			f->done = true;
			f->n = 0;
			return 0;
		}
		if (rc <= 0 || (size_t)rc > f->n - used)
			fail_msg("parse returned %d for %zu bytes", rc, f->n - used);
		used += (size_t)rc;
	}
	memmove(f->b, f->b + used, f->n - used);
	f->n -= used;
	return (long)f->n;
}

static void end_flow(void *st, enum iw_flow_end reason)
{
	ctx.end_reason = (uint8_t)reason;
	P.end(st, &ctx);
}

/* ---- building records ---- */

struct buf {
	uint8_t b[1 << 17];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	if (n)
		memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void u8(struct buf *b, unsigned v)
{
	uint8_t x = (uint8_t)v;
	put(b, &x, 1);
}

static void u16(struct buf *b, unsigned v)
{
	u8(b, (v >> 8) & 0xff);
	u8(b, v & 0xff);
}

static void u24(struct buf *b, uint32_t v)
{
	u8(b, (v >> 16) & 0xff);
	u16(b, v & 0xffff);
}

static void fill(struct buf *b, unsigned byte, size_t n)
{
	for (size_t i = 0; i < n; i++)
		u8(b, byte);
}

/* Reserves a big-endian length of width bytes; close_len writes what followed it. */
static size_t open_len(struct buf *b, unsigned width)
{
	size_t at = b->n;
	fill(b, 0, width);
	return at;
}

static void close_len(struct buf *b, size_t at, unsigned width)
{
	size_t n = b->n - at - width;
	assert_true(width == 3 || n < (1u << (8 * width)));
	for (unsigned i = 0; i < width; i++)
		b->b[at + i] = (uint8_t)(n >> (8 * (width - 1 - i)));
}

static void clear(struct buf *b)
{
	b->n = 0;
}

/* record: | type 1 | version 2 | length 2 | fragment | */
static void record(struct buf *out, unsigned type, unsigned ver, const uint8_t *body, size_t n)
{
	u8(out, type);
	u16(out, ver);
	u16(out, (unsigned)n);
	put(out, body, n);
}

/* Handshake messages as records of at most frag bytes each. */
static void hs_records(struct buf *out, unsigned ver, const struct buf *msgs, size_t frag)
{
	for (size_t at = 0; at < msgs->n; at += frag) {
		size_t n = msgs->n - at < frag ? msgs->n - at : frag;
		record(out, 22, ver, msgs->b + at, n);
	}
}

/* An opaque record of n bytes (encrypted handshake or application data). */
static void opaque(struct buf *out, unsigned type, size_t n)
{
	u8(out, type);
	u16(out, 0x0303);
	u16(out, (unsigned)n);
	for (size_t i = 0; i < n; i++)
		u8(out, (unsigned)(i * 37 + 11));
}

static void alert(struct buf *out, unsigned level, unsigned desc)
{
	const uint8_t a[2] = {(uint8_t)level, (uint8_t)desc};
	record(out, 21, 0x0303, a, 2);
}

static void ccs(struct buf *out)
{
	const uint8_t one = 1;
	record(out, 20, 0x0303, &one, 1);
}

/* ---- extensions: | type 2 | length 2 | body | ---- */

static void ext_raw(struct buf *e, unsigned type, const void *body, size_t n)
{
	u16(e, type);
	u16(e, (unsigned)n);
	put(e, body, n);
}

/* server_name: | list length 2 | name type 1 (0 host_name) | name length 2 | name | */
static void ext_sni(struct buf *e, const char *name)
{
	u16(e, 0x0000);
	size_t x = open_len(e, 2);
	size_t l = open_len(e, 2);
	u8(e, 0);
	u16(e, (unsigned)strlen(name));
	put(e, name, strlen(name));
	close_len(e, l, 2);
	close_len(e, x, 2);
}

/* supported_groups, signature_algorithms: | list length 2 | values 2 each | */
static void ext_u16s(struct buf *e, unsigned type, const uint16_t *v, size_t n)
{
	u16(e, type);
	size_t x = open_len(e, 2);
	size_t l = open_len(e, 2);
	for (size_t i = 0; i < n; i++)
		u16(e, v[i]);
	close_len(e, l, 2);
	close_len(e, x, 2);
}

/* supported_versions in a ClientHello: | list length 1 | versions 2 each | */
static void ext_versions(struct buf *e, const uint16_t *v, size_t n)
{
	u16(e, 0x002b);
	size_t x = open_len(e, 2);
	size_t l = open_len(e, 1);
	for (size_t i = 0; i < n; i++)
		u16(e, v[i]);
	close_len(e, l, 1);
	close_len(e, x, 2);
}

/* ec_point_formats: | list length 1 | formats 1 each | */
static void ext_pf(struct buf *e, const uint8_t *v, size_t n)
{
	u16(e, 0x000b);
	size_t x = open_len(e, 2);
	size_t l = open_len(e, 1);
	put(e, v, n);
	close_len(e, l, 1);
	close_len(e, x, 2);
}

/* ALPN: | list length 2 | (name length 1 | name)* |; names[i] has lens[i] bytes */
static void ext_alpn_n(struct buf *e, const char *const *names, const size_t *lens, size_t n)
{
	u16(e, 0x0010);
	size_t x = open_len(e, 2);
	size_t l = open_len(e, 2);
	for (size_t i = 0; i < n; i++) {
		u8(e, (unsigned)lens[i]);
		put(e, names[i], lens[i]);
	}
	close_len(e, l, 2);
	close_len(e, x, 2);
}

static void ext_alpn(struct buf *e, const char *const *names, size_t n)
{
	size_t lens[IW_TLS_MAX_ALPN + 4];
	assert_true(n <= IW_TLS_MAX_ALPN + 4);
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(names[i]);
	ext_alpn_n(e, names, lens, n);
}

/* ---- hellos ---- */

/* ClientHello: | 1 | length 3 | legacy_version 2 | random 32 | session id 1+n |
 * cipher suites 2+2n | compression methods 1+n | extensions 2+n (absent when exts is NULL) | */
static void client_hello(struct buf *out, unsigned legacy, uint8_t sid_len, const uint16_t *ciphers,
                         size_t nc, const struct buf *exts)
{
	u8(out, 1);
	size_t m = open_len(out, 3);
	u16(out, legacy);
	for (unsigned i = 0; i < 32; i++)
		u8(out, 0x10 + i);
	u8(out, sid_len);
	fill(out, 0x5a, sid_len);
	u16(out, (unsigned)(nc * 2));
	for (size_t i = 0; i < nc; i++)
		u16(out, ciphers[i]);
	u8(out, 1); /* one compression method: null */
	u8(out, 0);
	if (exts) {
		size_t x = open_len(out, 2);
		put(out, exts->b, exts->n);
		close_len(out, x, 2);
	}
	close_len(out, m, 3);
}

/* ServerHello: | 2 | length 3 | legacy_version 2 | random 32 | session id 1+n |
 * cipher suite 2 | compression 1 | extensions 2+n (absent when exts is NULL) | */
static void server_hello(struct buf *out, unsigned legacy, const uint8_t *random, uint8_t sid_len,
                         unsigned sid_byte, unsigned cipher, const struct buf *exts)
{
	u8(out, 2);
	size_t m = open_len(out, 3);
	u16(out, legacy);
	if (random)
		put(out, random, 32);
	else
		fill(out, 0x22, 32);
	u8(out, sid_len);
	fill(out, sid_byte, sid_len);
	u16(out, cipher);
	u8(out, 0);
	if (exts) {
		size_t x = open_len(out, 2);
		put(out, exts->b, exts->n);
		close_len(out, x, 2);
	}
	close_len(out, m, 3);
}

/* The TLS 1.2 ClientHello of a device, GREASE in ciphers, extensions and groups. */
static const uint16_t ch12_ciphers[] = {0x0a0a, /* GREASE */
                                        0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
                                        0xcca8, 0x009c, 0x002f, 0x0035};
static const uint16_t ch12_exts[] = {0x1a1a, 0x0000, 0x0017, 0xff01, 0x000a, 0x000b,
                                     0x0023, 0x0010, 0x000d, 0x0005, 0x0012, 0x3a3a};
static const uint16_t ch12_groups[] = {0x2a2a /* GREASE */, 0x001d, 0x0017, 0x0018};
static const uint16_t ch12_sigs[] = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
#define CH12_SNI "a1b2c3-ats.iot.ap-south-1.amazonaws.com"

static void msg_ch12(struct buf *out)
{
	static struct buf e;
	clear(&e);
	ext_raw(&e, 0x1a1a, NULL, 0);         /* GREASE, empty */
	ext_sni(&e, CH12_SNI);                /* server_name */
	ext_raw(&e, 0x0017, NULL, 0);         /* extended_master_secret */
	ext_raw(&e, 0xff01, "\0", 1);         /* renegotiation_info: empty */
	ext_u16s(&e, 0x000a, ch12_groups, 4); /* supported_groups */
	ext_pf(&e, (const uint8_t *)"\0", 1); /* ec_point_formats: uncompressed */
	ext_raw(&e, 0x0023, NULL, 0);         /* session_ticket */
	ext_alpn(&e, (const char *[]){"h2", "http/1.1"}, 2);
	ext_u16s(&e, 0x000d, ch12_sigs, 8);   /* signature_algorithms */
	ext_raw(&e, 0x0005, "\1\0\0\0\0", 5); /* status_request: OCSP, no ids, no extensions */
	ext_raw(&e, 0x0012, NULL, 0);         /* signed_certificate_timestamp */
	ext_raw(&e, 0x3a3a, "\0", 1);         /* GREASE, one byte */
	client_hello(out, 0x0303, 32, ch12_ciphers, 10, &e);
}

/* The TLS 1.3 ClientHello: supported_versions with GREASE, 1.3 and 1.2; no ALPN. */
static const uint16_t ch13_ciphers[] = {0x1301, 0x1302, 0x1303, 0xc02b};
static const uint16_t ch13_versions[] = {0x4a4a /* GREASE */, 0x0304, 0x0303};
#define CH13_SNI "data.tunneling.iot.ap-south-1.amazonaws.com"

static void msg_ch13(struct buf *out, unsigned group)
{
	static struct buf e;
	clear(&e);
	ext_sni(&e, CH13_SNI);
	ext_versions(&e, ch13_versions, 3);
	ext_u16s(&e, 0x000a, (const uint16_t[]){0x001d, 0x0017}, 2);
	/* key_share: | shares length 2 | group 2 | key length 2 | key | */
	u16(&e, 0x0033);
	size_t x = open_len(&e, 2);
	size_t l = open_len(&e, 2);
	u16(&e, group);
	u16(&e, 32);
	fill(&e, 0x44, 32);
	close_len(&e, l, 2);
	close_len(&e, x, 2);
	ext_u16s(&e, 0x000d, (const uint16_t[]){0x0403, 0x0804, 0x0401}, 3);
	ext_raw(&e, 0x002d, "\1\1", 2); /* psk_key_exchange_modes: psk_dhe_ke */
	client_hello(out, 0x0303, 32, ch13_ciphers, 4, &e);
}

/* TLS 1.2 ServerHello: a new session id of 0x77, ECDHE-RSA-AES128-GCM-SHA256, ALPN h2. */
static void msg_sh12(struct buf *out, uint8_t sid_len, unsigned sid_byte)
{
	static struct buf e;
	clear(&e);
	ext_raw(&e, 0xff01, "\0", 1);            /* renegotiation_info */
	ext_pf(&e, (const uint8_t *)"\0", 1);    /* ec_point_formats */
	ext_alpn(&e, (const char *[]){"h2"}, 1); /* the selected protocol */
	ext_raw(&e, 0x0017, NULL, 0);            /* extended_master_secret */
	server_hello(out, 0x0303, NULL, sid_len, sid_byte, 0xc02f, &e);
}

/* SHA-256("HelloRetryRequest"), RFC 8446 §4.1.3:
 * python3 -c 'import hashlib; print(hashlib.sha256(b"HelloRetryRequest").hexdigest())' */
static const uint8_t hrr_random[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                                       0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                                       0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

/* TLS 1.3 ServerHello (or, with hrr_random, a HelloRetryRequest asking for P-256):
 * TLS_AES_128_GCM_SHA256, the client's session id echoed, supported_versions 1.3. */
static void msg_sh13(struct buf *out, const uint8_t *random)
{
	static struct buf e;
	clear(&e);
	ext_raw(&e, 0x002b, "\x03\x04", 2); /* supported_versions: selected 1.3 */
	if (random == hrr_random) {
		ext_raw(&e, 0x0033, "\x00\x17", 2); /* key_share: selected group secp256r1 */
	} else {
		u16(&e, 0x0033); /* key_share: | group 2 | key length 2 | key | */
		u16(&e, 36);
		u16(&e, 0x001d);
		u16(&e, 32);
		fill(&e, 0x55, 32);
	}
	server_hello(out, 0x0303, random, 32, 0x5a, 0x1301, &e);
}

/* Certificate (TLS 1.2): | 11 | length 3 | list length 3 | (length 3 | DER)* | */
static void msg_cert(struct buf *out, const uint8_t *const *der, const size_t *len, size_t n)
{
	u8(out, 11);
	size_t m = open_len(out, 3);
	size_t l = open_len(out, 3);
	for (size_t i = 0; i < n; i++) {
		u24(out, (uint32_t)len[i]);
		put(out, der[i], len[i]);
	}
	close_len(out, l, 3);
	close_len(out, m, 3);
}

/* CertificateRequest: | 13 | length 3 | types 1+n | [sig algs 2+n, TLS 1.2] |
 * CA names 2+(length 2 | DN)* |: rsa_sign and ecdsa_sign, three CA names. */
static void msg_cert_request(struct buf *out, bool sig_algs)
{
	u8(out, 13);
	size_t m = open_len(out, 3);
	u8(out, 2);
	u8(out, 1);  /* rsa_sign */
	u8(out, 64); /* ecdsa_sign */
	if (sig_algs) {
		u16(out, 6);
		u16(out, 0x0403);
		u16(out, 0x0804);
		u16(out, 0x0401);
	}
	size_t l = open_len(out, 2);
	for (unsigned i = 0; i < 3; i++) {
		u16(out, 5 + i);
		fill(out, 0x30 + i, 5 + i); /* opaque DistinguishedName bytes */
	}
	close_len(out, l, 2);
	close_len(out, m, 3);
}

/* A handshake message of n opaque body bytes (ClientKeyExchange 16, CertificateVerify 15,
 * ServerHelloDone 14 with n = 0). */
static void msg_opaque(struct buf *out, unsigned type, size_t n)
{
	u8(out, type);
	u24(out, (uint32_t)n);
	fill(out, 0x66, n);
}

/* ---- the flights used by several tests ---- */

static const uint8_t *const srv_chain[] = {bench_cert_srv_aps1, bench_cert_srv_euw1};
static const size_t srv_chain_len[] = {sizeof(bench_cert_srv_aps1), sizeof(bench_cert_srv_euw1)};
static const uint8_t *const cli_chain[] = {bench_cert_cli_gw};
static const size_t cli_chain_len[] = {sizeof(bench_cert_cli_gw)};

/* The SHA-256 of each DER array:
 * python3 -c 'import re,hashlib; s=open("tests/bench/certs.h").read();
 *   [print(n,hashlib.sha256(bytes(int(x,16) for x in re.findall(r"0x(..)",b))).hexdigest())
 *    for n,b in re.findall(r"char (\w+)\[\] = \{(.*?)\};",s,re.S)]' */
#define SHA_SRV_APS1 "3df9dae5093aadb7ee4e39a4326e98f7465df5a17b66643ba00dd8abc132fecb"
#define SHA_SRV_EUW1 "ea00c73b91bfe93b765fe0ddf7c22bafd476535761a737e366df3fca69ccc22e"
#define SHA_CLI_GW   "b42e85e97c216e6f15ea4171b40b6fa529ff0c80b4b40a0f28f02ec463758227"

/* TLS 1.2 with mutual TLS:
 *   c1  ClientHello (record version 1.0)
 *   s1  ServerHello, Certificate (2), CertificateRequest, ServerHelloDone: one record
 *   c2  Certificate (gw-line-7), ClientKeyExchange, CertificateVerify; CCS; Finished (encrypted)
 *   s2  CCS; Finished (encrypted)
 *   c3  application data */
static struct buf c1, s1, c2, s2, c3, msgs;

static void flights12(bool mutual)
{
	clear(&c1);
	clear(&s1);
	clear(&c2);
	clear(&s2);
	clear(&c3);
	clear(&msgs);
	msg_ch12(&msgs);
	hs_records(&c1, 0x0301, &msgs, 16384);
	clear(&msgs);
	msg_sh12(&msgs, 32, 0x77);
	msg_cert(&msgs, srv_chain, srv_chain_len, 2);
	if (mutual)
		msg_cert_request(&msgs, true);
	msg_opaque(&msgs, 14, 0);
	hs_records(&s1, 0x0303, &msgs, 16384);
	clear(&msgs);
	if (mutual)
		msg_cert(&msgs, cli_chain, cli_chain_len, 1);
	msg_opaque(&msgs, 16, 33);
	if (mutual)
		msg_opaque(&msgs, 15, 72);
	hs_records(&c2, 0x0303, &msgs, 16384);
	ccs(&c2);
	opaque(&c2, 22, 40);
	ccs(&s2);
	opaque(&s2, 22, 40);
	opaque(&c3, 23, 120);
}

/* TLS 1.3:
 *   c1  ClientHello
 *   s1  ServerHello; CCS; encrypted flight in two records (1200 and 300 bytes)
 *   c2  CCS; the client's Finished (53 bytes) */
static void flights13(void)
{
	clear(&c1);
	clear(&s1);
	clear(&c2);
	clear(&msgs);
	msg_ch13(&msgs, 0x001d);
	hs_records(&c1, 0x0301, &msgs, 16384);
	clear(&msgs);
	msg_sh13(&msgs, NULL);
	hs_records(&s1, 0x0303, &msgs, 16384);
	ccs(&s1);
	opaque(&s1, 23, 1200);
	opaque(&s1, 23, 300);
	ccs(&c2);
	opaque(&c2, 23, 53);
}

static void feed_buf(void *st, int dir, const struct buf *b)
{
	assert_int_equal(feed(st, dir, b->b, b->n), 0);
}

/* ---- names ---- */

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(iw_tls_alert_name(45), "certificate_expired");
	assert_string_equal(iw_tls_alert_name(0), "close_notify");
	assert_string_equal(iw_tls_alert_name(40), "handshake_failure");
	assert_string_equal(iw_tls_alert_name(42), "bad_certificate");
	assert_string_equal(iw_tls_alert_name(48), "unknown_ca");
	assert_string_equal(iw_tls_alert_name(112), "unrecognized_name");
	assert_string_equal(iw_tls_alert_name(116), "certificate_required");
	assert_string_equal(iw_tls_alert_name(120), "no_application_protocol");
	assert_null(iw_tls_alert_name(1));
	assert_null(iw_tls_alert_name(255));
	assert_string_equal(iw_tls_version_name(0x0300), "SSL 3.0");
	assert_string_equal(iw_tls_version_name(0x0301), "TLS 1.0");
	assert_string_equal(iw_tls_version_name(0x0302), "TLS 1.1");
	assert_string_equal(iw_tls_version_name(0x0303), "TLS 1.2");
	assert_string_equal(iw_tls_version_name(0x0304), "TLS 1.3");
	assert_null(iw_tls_version_name(0x0305));
	assert_null(iw_tls_version_name(0x0002));
	assert_null(iw_tls_version_name(0x0a0a));
	assert_string_equal(iw_tls_type_name(IW_TLS_CLIENT_HELLO), "client_hello");
	assert_string_equal(iw_tls_type_name(IW_TLS_SERVER_HELLO), "server_hello");
	assert_string_equal(iw_tls_type_name(IW_TLS_CERTIFICATE), "certificate");
	assert_string_equal(iw_tls_type_name(IW_TLS_CERTIFICATE_REQUEST), "certificate_request");
	assert_string_equal(iw_tls_type_name(IW_TLS_ALERT), "alert");
	assert_string_equal(iw_tls_type_name(IW_TLS_HANDSHAKE_FAILED), "handshake_failed");
	assert_string_equal(iw_tls_type_name(IW_TLS__TYPES), "unknown");
	assert_string_equal(P.name, "tls");
	assert_string_equal(P.ndpi_name, "TLS");
	assert_non_null(P.gap);
	assert_non_null(P.end);
}

/* ---- probe ---- */

static void test_probe(void **state)
{
	(void)state;
	flights12(false);
	/* whole records, flush against a guard page */
	struct guard g = guard_new(1 << 16);
	const uint8_t *at = guard_put(&g, c1.b, c1.n);
	assert_int_equal(P.probe(at, c1.n, IW_DIR_TOSERVER), IW_OK);
	assert_int_equal(P.probe(at, c1.n, IW_DIR_TOCLIENT), IW_ERR); /* a ClientHello from the server */
	at = guard_put(&g, s1.b, s1.n);
	assert_int_equal(P.probe(at, s1.n, IW_DIR_TOCLIENT), IW_OK);
	assert_int_equal(P.probe(at, s1.n, IW_DIR_TOSERVER), IW_ERR);
	/* every prefix shorter than the 11 bytes looked at: need more, never a read past */
	for (size_t n = 0; n < 11; n++) {
		at = guard_put(&g, c1.b, n);
		assert_int_equal(P.probe(at, n, IW_DIR_TOSERVER), IW_NEED_MORE);
	}
	/* the first 11 bytes are enough */
	at = guard_put(&g, c1.b, 11);
	assert_int_equal(P.probe(at, 11, IW_DIR_TOSERVER), IW_OK);

	/* what rules it out early */
	static const uint8_t http[] = {'G', 'E', 'T', ' '};
	at = guard_put(&g, http, 1);
	assert_int_equal(P.probe(at, 1, IW_DIR_TOSERVER), IW_ERR);
	static const uint8_t appdata[] = {0x17, 0x03, 0x03};
	at = guard_put(&g, appdata, 1);
	assert_int_equal(P.probe(at, 1, IW_DIR_TOSERVER), IW_ERR);
	static const uint8_t major2[] = {0x16, 0x02};
	at = guard_put(&g, major2, 2);
	assert_int_equal(P.probe(at, 2, IW_DIR_TOSERVER), IW_ERR);
	static const uint8_t minor5[] = {0x16, 0x03, 0x05};
	at = guard_put(&g, minor5, 3);
	assert_int_equal(P.probe(at, 3, IW_DIR_TOSERVER), IW_ERR);

	/* one field wrong at a time in the first 11 bytes of a ClientHello record */
	struct {
		size_t off;
		uint8_t v;
	} bad[] = {
	    {0, 0x15},  /* alert record */
	    {1, 0x02},  /* major 2 */
	    {2, 0x05},  /* minor 5 */
	    {3, 0x00},  /* record length 0..3: below */
	    {3, 0x48},  /* record length 0x48xx > 18432 */
	    {5, 0x02},  /* ServerHello from the client */
	    {5, 0x0b},  /* Certificate first */
	    {6, 0x01},  /* handshake length >= 0x10000 */
	    {9, 0x02},  /* hello version major 2 */
	    {10, 0x05}, /* hello version minor 5 */
	};
	static uint8_t m[16];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(m, c1.b, 11);
		m[bad[i].off] = bad[i].v;
		if (bad[i].off == 3 && bad[i].v == 0)
			m[4] = 3;
		at = guard_put(&g, m, 11);
		if (P.probe(at, 11, IW_DIR_TOSERVER) != IW_ERR)
			fail_msg("byte %zu = %#x accepted", bad[i].off, bad[i].v);
	}
	/* a hello body shorter than any ServerHello can be (37 bytes) */
	memcpy(m, s1.b, 11);
	m[6] = 0;
	m[7] = 0;
	m[8] = 37;
	at = guard_put(&g, m, 11);
	assert_int_equal(P.probe(at, 11, IW_DIR_TOCLIENT), IW_ERR);
	m[8] = 38;
	at = guard_put(&g, m, 11);
	assert_int_equal(P.probe(at, 11, IW_DIR_TOCLIENT), IW_OK);
	/* SSL 3.0 and TLS 1.3's legacy record versions are fine */
	memcpy(m, c1.b, 11);
	m[2] = 0;
	at = guard_put(&g, m, 11);
	assert_int_equal(P.probe(at, 11, IW_DIR_TOSERVER), IW_OK);
	guard_free(&g);
}

/* ---- hellos and fingerprints ---- */

static void assert_list(const struct got_list *l, const uint16_t *v, size_t n)
{
	assert_int_equal(l->n, n);
	assert_int_equal(l->dropped, 0);
	for (size_t i = 0; i < n; i++)
		if (l->v[i] != v[i])
			fail_msg("list item %zu: %#06x, expected %#06x", i, l->v[i], v[i]);
}

/* A fresh state that has read the TLS 1.2 ClientHello and the server's first flight:
 * three events (client_hello, server_hello, certificate). no_fp: cfg.no_fingerprints. */
static void *handshake12(bool no_fp)
{
	flights12(false);
	cfg.no_fingerprints = no_fp;
	void *st = fresh(65536);
	cfg.no_fingerprints = false;
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	assert_int_equal(n_ev, 3);
	return st;
}

static void test_client_hello_12(void **state)
{
	(void)state;
	flights12(false);
	void *st = fresh(65536);
	assert_int_equal(P.probe(c1.b, c1.n, IW_DIR_TOSERVER), IW_OK);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	assert_int_equal(n_ev, 1);
	no_anomalies();
	const struct got *e = &evs[0];
	assert_int_equal(e->type, IW_TLS_CLIENT_HELLO);
	assert_int_equal(e->dir, IW_DIR_TOSERVER);
	assert_string_equal(e->sni, CH12_SNI);
	assert_string_equal(e->alpn, NUL); /* nothing selected yet */
	assert_int_equal(e->legacy_version, 0x0303);
	assert_int_equal(e->version, 0x0303);
	assert_int_equal(e->session_id_len, 32);
	/* GREASE is kept in the lists */
	assert_list(&e->ciphers, ch12_ciphers, 10);
	assert_list(&e->extensions, ch12_exts, 12);
	assert_list(&e->groups, ch12_groups, 4);
	assert_list(&e->sig_algs, ch12_sigs, 8);
	assert_int_equal(e->versions.n, 0);
	assert_int_equal(e->n_pf, 1);
	assert_int_equal(e->pf[0], 0);
	assert_int_equal(e->n_alpns, 2);
	assert_string_equal(e->alpns[0], "h2");
	assert_string_equal(e->alpns[1], "http/1.1");
	assert_string_equal(e->ja3s, NUL);
	/* JA3 = version,ciphers,extensions,groups,point formats; GREASE left out:
	 * python3 -c 'import hashlib; G=lambda v:(v&0x0f0f)==0x0a0a and v>>8==v&255;
	 *   d=lambda l:"-".join(str(v) for v in l if not G(v));
	 *   s="771,%s,%s,%s,0"%(d([0x0a0a,0xc02b,0xc02f,0xc02c,0xc030,0xcca9,0xcca8,0x9c,0x2f,0x35]),
	 *     d([0x1a1a,0,0x17,0xff01,10,11,0x23,0x10,13,5,0x12,0x3a3a]),d([0x2a2a,0x1d,0x17,0x18]));
	 *   print(s,hashlib.md5(s.encode()).hexdigest())' */
	assert_string_equal(
	    e->ja3,
	    "771,49195-49199-49196-49200-52393-52392-156-47-53,0-23-65281-10-11-35-16-13-5-18,29-23-24,0");
	assert_string_equal(e->ja3_hash, "920538f3962aa1e413b4021459c171fa");
	/* JA4 = t 12 d (SNI) 09 ciphers 10 extensions h2 _ sha256(sorted ciphers)[:12]
	 *   _ sha256(sorted extensions without 0000 and 0010 "_" signature algorithms in order)[:12]:
	 * python3 -c 'import hashlib; h=lambda s:hashlib.sha256(s.encode()).hexdigest()[:12];
	 *   print("t12d0910h2_"+h("002f,0035,009c,c02b,c02c,c02f,c030,cca8,cca9")+"_"
	 *   +h("0005,000a,000b,000d,0012,0017,0023,ff01_0403,0804,0401,0503,0805,0501,0806,0601"))' */
	assert_string_equal(e->ja4, "t12d0910h2_0238f23094f9_fae48490d0f6");

	/* the ServerHello: JA3S, the selected ALPN, the session so far on every event */
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	no_anomalies_but_certs();
	assert_int_equal(n_ev, 3);
	e = &evs[1];
	assert_int_equal(e->type, IW_TLS_SERVER_HELLO);
	assert_int_equal(e->dir, IW_DIR_TOCLIENT);
	assert_int_equal(e->legacy_version, 0x0303);
	assert_int_equal(e->version, 0x0303);
	assert_int_equal(e->session_id_len, 32);
	assert_false(e->resumed); /* a new session id */
	assert_list(&e->ciphers, (const uint16_t[]){0xc02f}, 1);
	assert_list(&e->extensions, (const uint16_t[]){0xff01, 0x000b, 0x0010, 0x0017}, 4);
	assert_int_equal(e->versions.n, 0);
	assert_string_equal(e->alpn, "h2");
	assert_string_equal(e->sni, CH12_SNI);
	assert_string_equal(e->ja3_hash, "920538f3962aa1e413b4021459c171fa");
	assert_string_equal(e->ja4, "t12d0910h2_0238f23094f9_fae48490d0f6");
	/* JA3S = version,cipher,extensions:
	 * python3 -c 'import hashlib; s="771,49199,65281-11-16-23";
	 * print(hashlib.md5(s.encode()).hexdigest())' */
	assert_string_equal(e->ja3s, "771,49199,65281-11-16-23");
	assert_string_equal(e->ja3s_hash, "27eabd2e03c903c0e38682b67d24b578");
	assert_string_equal(e->ja3, NUL);
	e = &evs[2];
	assert_int_equal(e->type, IW_TLS_CERTIFICATE);
	assert_string_equal(e->alpn, "h2");
	assert_int_equal(e->version, 0x0303);
	P.state_free(st);
}

/* With no event written (cfg.no_fingerprints) JA3, JA3S and JA4 are left out and
 * everything else of the events is as with them. */
static void test_no_fingerprints(void **state)
{
	(void)state;
	void *st = handshake12(false);
	struct got with[3];
	memcpy(with, evs, sizeof(with));
	P.state_free(st);

	void *bare = handshake12(true);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(evs[i].ja3, NUL);
		assert_string_equal(evs[i].ja3_hash, NUL);
		assert_string_equal(evs[i].ja4, NUL);
		assert_string_equal(evs[i].ja3s, NUL);
		assert_string_equal(evs[i].ja3s_hash, NUL);
		/* the rest is the same */
		const struct got *a = &with[i], *b = &evs[i];
		assert_int_equal(a->type, b->type);
		assert_int_equal(a->version, b->version);
		assert_string_equal(a->sni, b->sni);
		assert_string_equal(a->alpn, b->alpn);
		assert_int_equal(a->ciphers.n, b->ciphers.n);
		assert_int_equal(a->extensions.n, b->extensions.n);
		assert_int_equal(a->n_certs, b->n_certs);
		assert_memory_equal(a->cert_sha, b->cert_sha, sizeof(a->cert_sha));
	}
	assert_string_equal(with[0].ja4, "t12d0910h2_0238f23094f9_fae48490d0f6");
	P.state_free(bare);
}

static void test_client_hello_13(void **state)
{
	(void)state;
	flights13();
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	assert_int_equal(n_ev, 1);
	no_anomalies();
	const struct got *e = &evs[0];
	assert_int_equal(e->type, IW_TLS_CLIENT_HELLO);
	assert_int_equal(e->legacy_version, 0x0303);
	assert_int_equal(e->version, 0x0304); /* the best of supported_versions, GREASE aside */
	assert_list(&e->versions, ch13_versions, 3);
	assert_list(&e->ciphers, ch13_ciphers, 4);
	assert_list(&e->extensions, (const uint16_t[]){0x0000, 0x002b, 0x000a, 0x0033, 0x000d, 0x002d}, 6);
	assert_int_equal(e->n_alpns, 0);
	assert_int_equal(e->n_pf, 0);
	assert_string_equal(e->sni, CH13_SNI);
	/* python3 -c 'import hashlib; s="771,4865-4866-4867-49195,0-43-10-51-13-45,29-23,";
	 *   print(hashlib.md5(s.encode()).hexdigest())' */
	assert_string_equal(e->ja3, "771,4865-4866-4867-49195,0-43-10-51-13-45,29-23,");
	assert_string_equal(e->ja3_hash, "55574769f336b06888f7b35061b113ab");
	/* no ALPN: "00"; python3 -c 'import hashlib; h=lambda s:hashlib.sha256(s.encode()).hexdigest()[:12];
	 *   print("t13d040600_"+h("1301,1302,1303,c02b")+"_"+h("000a,000d,002b,002d,0033_0403,0804,0401"))'
	 */
	assert_string_equal(e->ja4, "t13d040600_39e807bd56df_f7aa34e29e82");

	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	no_anomalies();
	assert_int_equal(n_ev, 2);
	e = &evs[1];
	assert_int_equal(e->type, IW_TLS_SERVER_HELLO);
	assert_int_equal(e->version, 0x0304);
	assert_int_equal(e->legacy_version, 0x0303);
	assert_list(&e->versions, (const uint16_t[]){0x0304}, 1);
	assert_list(&e->ciphers, (const uint16_t[]){0x1301}, 1);
	assert_false(e->resumed); /* TLS 1.3 always echoes the session id */
	assert_string_equal(e->alpn, NUL);
	/* python3 -c 'import hashlib; print(hashlib.md5(b"771,4865,43-51").hexdigest())' */
	assert_string_equal(e->ja3s, "771,4865,43-51");
	assert_string_equal(e->ja3s_hash, "f4febc55ea12b31ae17cfb7e614afda8");

	/* after a TLS 1.3 ServerHello a Certificate or CertificateRequest in a plaintext
	 * handshake record is not taken for one */
	static struct buf r;
	clear(&r);
	clear(&msgs);
	msg_cert(&msgs, srv_chain, srv_chain_len, 1);
	msg_cert_request(&msgs, true);
	hs_records(&r, 0x0303, &msgs, 16384);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	assert_int_equal(n_ev, 2);
	P.state_free(st);
}

static void test_hello_retry_request(void **state)
{
	(void)state;
	static struct buf ch1, hrr, ch2, sh;
	clear(&ch1);
	clear(&hrr);
	clear(&ch2);
	clear(&sh);
	clear(&msgs);
	msg_ch13(&msgs, 0x001d);
	hs_records(&ch1, 0x0301, &msgs, 16384);
	clear(&msgs);
	msg_sh13(&msgs, hrr_random);
	hs_records(&hrr, 0x0303, &msgs, 16384);
	ccs(&hrr); /* middlebox compatibility */
	ccs(&ch2);
	clear(&msgs);
	msg_ch13(&msgs, 0x0017); /* the share the server asked for */
	hs_records(&ch2, 0x0303, &msgs, 16384);
	clear(&msgs);
	msg_sh13(&msgs, NULL);
	hs_records(&sh, 0x0303, &msgs, 16384);
	ccs(&sh);
	opaque(&sh, 23, 900);

	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &ch1);
	feed_buf(st, IW_DIR_TOCLIENT, &hrr);
	feed_buf(st, IW_DIR_TOSERVER, &ch2);
	assert_int_equal(n_ev, 3);
	assert_int_equal(evs[0].type, IW_TLS_CLIENT_HELLO);
	assert_int_equal(evs[1].type, IW_TLS_SERVER_HELLO); /* the retry request */
	assert_int_equal(evs[1].version, 0x0304);
	assert_int_equal(evs[2].type, IW_TLS_CLIENT_HELLO);
	assert_int_equal(evs[2].version, 0x0304);
	assert_string_equal(evs[2].sni, CH13_SNI);
	assert_string_equal(evs[2].ja4, "t13d040600_39e807bd56df_f7aa34e29e82");
	/* the retry request alone is no ServerHello: the flow ending here never got one */
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 4);
	assert_int_equal(evs[3].type, IW_TLS_HANDSHAKE_FAILED);
	assert_string_equal(evs[3].failure, "no_server_hello");
	assert_int_equal(evs[3].records[0], 3);
	assert_int_equal(evs[3].records[1], 2);
	P.state_free(st);

	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &ch1);
	feed_buf(st, IW_DIR_TOCLIENT, &hrr);
	feed_buf(st, IW_DIR_TOSERVER, &ch2);
	feed_buf(st, IW_DIR_TOCLIENT, &sh);
	no_anomalies();
	assert_int_equal(n_ev, 4);
	assert_int_equal(evs[3].type, IW_TLS_SERVER_HELLO);
	assert_int_equal(evs[3].version, 0x0304);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 5);
	assert_string_equal(evs[4].failure, "no_application_data");
	P.state_free(st);
}

static void test_resumption(void **state)
{
	(void)state;
	static struct buf ch, sh;
	clear(&ch);
	clear(&msgs);
	msg_ch12(&msgs); /* session id: 32 bytes of 0x5a */
	hs_records(&ch, 0x0301, &msgs, 16384);
	struct {
		uint8_t sid_len, sid_byte;
		bool resumed;
	} cases[] = {{32, 0x5a, true}, {32, 0x77, false}, {0, 0, false}, {31, 0x5a, false}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		void *st = fresh(65536);
		clear(&sh);
		clear(&msgs);
		msg_sh12(&msgs, cases[i].sid_len, cases[i].sid_byte);
		hs_records(&sh, 0x0303, &msgs, 16384);
		feed_buf(st, IW_DIR_TOSERVER, &ch);
		feed_buf(st, IW_DIR_TOCLIENT, &sh);
		assert_int_equal(n_ev, 2);
		assert_int_equal(evs[1].session_id_len, cases[i].sid_len);
		if (evs[1].resumed != cases[i].resumed)
			fail_msg("case %zu: resumed %d", i, evs[1].resumed);
		P.state_free(st);
	}
}

/* A ClientHello of one ALPN name with len bytes, nothing else but extended_master_secret,
 * one cipher, no SNI; the JA4 it makes. */
static void ja4_of_alpn(const char *name, size_t len, char *out, size_t cap)
{
	static struct buf e, m, r;
	clear(&e);
	clear(&m);
	clear(&r);
	if (name)
		ext_alpn_n(&e, &name, &len, 1);
	ext_raw(&e, 0x0017, NULL, 0);
	client_hello(&m, 0x0303, 0, (const uint16_t[]){0x002f}, 1, &e);
	hs_records(&r, 0x0303, &m, 16384);
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	assert_int_equal(n_ev, 1);
	snprintf(out, cap, "%s", evs[0].ja4);
	P.state_free(st);
}

static void test_ja4_alpn(void **state)
{
	(void)state;
	char j[64];
	/* python3 -c 'import hashlib; h=lambda s:hashlib.sha256(s.encode()).hexdigest()[:12];
	 *   print(h("002f"), h("0017"))' -> ba72b8082249 1ca028f07214 */
	ja4_of_alpn("http/1.1", 8, j, sizeof(j));
	assert_string_equal(j, "t12i0102h1_ba72b8082249_1ca028f07214");
	ja4_of_alpn("x", 1, j, sizeof(j)); /* one character: first and last */
	assert_string_equal(j, "t12i0102xx_ba72b8082249_1ca028f07214");
	/* not alphanumeric at one end: the first and last hex digits of the value,
	 * 'x' 0x78 ... '-' 0x2d -> "7d"; 0xab 0xcd -> "ad" */
	ja4_of_alpn("x-", 2, j, sizeof(j));
	assert_string_equal(j, "t12i01027d_ba72b8082249_1ca028f07214");
	ja4_of_alpn("\xab\xcd", 2, j, sizeof(j));
	assert_string_equal(j, "t12i0102ad_ba72b8082249_1ca028f07214");
	ja4_of_alpn("", 0, j, sizeof(j)); /* an empty first value */
	assert_string_equal(j, "t12i010200_ba72b8082249_1ca028f07214");
	ja4_of_alpn(NULL, 0, j, sizeof(j)); /* no ALPN: one extension fewer */
	assert_string_equal(j, "t12i010100_ba72b8082249_1ca028f07214");
}

/* Regression (found by these tests, fixed in parsers/tls.c): JA4 took the ALPN characters
 * from the copy made for display, where control bytes become '?' and the value is cut at
 * 64 bytes, not from the bytes on the wire. FoxIO JA4 "ALPN Extension Value": if the first
 * or last byte of the first ALPN value is not alphanumeric, print the high nibble of the
 * first byte and the low nibble of the last byte in hex; else the first and last byte.
 *   first ALPN 0x01 'x'        -> "08" (the bug gave "38", from '?' 0x3f)
 *   first ALPN 'a' x 69 + 'z'  -> "az" (the bug gave "aa", cut at 64) */
static void test_ja4_alpn_control_byte(void **state)
{
	(void)state;
	char j[64];
	ja4_of_alpn("\x01x", 2, j, sizeof(j));
	assert_string_equal(j, "t12i010208_ba72b8082249_1ca028f07214");
}

static void test_ja4_alpn_longer_than_64(void **state)
{
	(void)state;
	char j[64];
	char longname[70];
	memset(longname, 'a', sizeof(longname));
	longname[69] = 'z';
	ja4_of_alpn(longname, sizeof(longname), j, sizeof(j));
	assert_string_equal(j, "t12i0102az_ba72b8082249_1ca028f07214");
}

static void test_hello_variants(void **state)
{
	(void)state;
	static struct buf e, m, r;
	/* TLS 1.0 without extensions: empty JA3 fields, JA4 "i", no extension hash
	 * python3 -c 'import hashlib; print(hashlib.md5(b"769,47-53,,,").hexdigest(),
	 *   hashlib.sha256(b"002f,0035").hexdigest()[:12])' */
	clear(&m);
	clear(&r);
	client_hello(&m, 0x0301, 0, (const uint16_t[]){0x002f, 0x0035}, 2, NULL);
	hs_records(&r, 0x0301, &m, 16384);
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	no_anomalies();
	assert_int_equal(n_ev, 1);
	assert_int_equal(evs[0].version, 0x0301);
	assert_string_equal(evs[0].sni, NUL);
	assert_string_equal(evs[0].ja3, "769,47-53,,,");
	assert_string_equal(evs[0].ja3_hash, "dac4920d4335e769327dbf4e1b759e15");
	assert_string_equal(evs[0].ja4, "t10i020000_f54dd463d39b_000000000000");
	/* a ServerHello without extensions */
	clear(&m);
	clear(&r);
	server_hello(&m, 0x0301, NULL, 0, 0, 0x002f, NULL);
	hs_records(&r, 0x0301, &m, 16384);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	no_anomalies();
	assert_int_equal(n_ev, 2);
	assert_string_equal(evs[1].ja3s, "769,47,");
	assert_int_equal(evs[1].version, 0x0301);
	P.state_free(st);

	/* an empty server name: counted, not reported, still "d" */
	clear(&e);
	clear(&m);
	clear(&r);
	ext_sni(&e, "");
	client_hello(&m, 0x0303, 0, (const uint16_t[]){0x002f}, 1, &e);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	assert_int_equal(n_ev, 1);
	assert_true(has_anomaly("tls.empty_sni"));
	assert_string_equal(evs[0].sni, NUL);
	assert_memory_equal(evs[0].ja4, "t12d0101", 8);
	P.state_free(st);

	/* control bytes in a server name are replaced */
	clear(&e);
	clear(&m);
	clear(&r);
	ext_sni(&e, "a\tb\x7f.example");
	client_hello(&m, 0x0303, 0, (const uint16_t[]){0x002f}, 1, &e);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	assert_int_equal(n_ev, 1);
	assert_string_equal(evs[0].sni, "a?b?.example");
	P.state_free(st);

	/* more than IW_TLS_MAX_LIST ciphers: the rest counted as dropped; JA4 counts stop at 99 */
	static uint16_t many[300];
	for (unsigned i = 0; i < 300; i++)
		many[i] = (uint16_t)(0x0100 + i);
	clear(&m);
	clear(&r);
	client_hello(&m, 0x0303, 0, many, 300, NULL);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	no_anomalies();
	assert_int_equal(n_ev, 1);
	assert_int_equal(evs[0].ciphers.n, IW_TLS_MAX_LIST);
	assert_int_equal(evs[0].ciphers.dropped, 300 - IW_TLS_MAX_LIST);
	assert_memory_equal(evs[0].ja4, "t12i990000_", 11);
	P.state_free(st);

	/* GREASE is exactly 0x?a?a with both bytes equal: 0x1a2a is a cipher like any other */
	clear(&m);
	clear(&r);
	client_hello(&m, 0x0303, 0, (const uint16_t[]){0x1a2a, 0x2a2a, 0xfafa}, 3, NULL);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	assert_int_equal(n_ev, 1);
	assert_string_equal(evs[0].ja3, "771,6698,,,");
	assert_memory_equal(evs[0].ja4, "t12i010000_", 11);
	P.state_free(st);

	/* more than IW_TLS_MAX_ALPN names: the first kept */
	clear(&e);
	clear(&m);
	clear(&r);
	ext_alpn(&e, (const char *[]){"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "b0"}, 10);
	client_hello(&m, 0x0303, 0, (const uint16_t[]){0x002f}, 1, &e);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	assert_int_equal(n_ev, 1);
	assert_int_equal(evs[0].n_alpns, IW_TLS_MAX_ALPN);
	assert_string_equal(evs[0].alpns[7], "a8");
	P.state_free(st);
}

static void test_bad_hellos(void **state)
{
	(void)state;
	static struct buf e, m, r;
	/* an odd cipher suites length */
	clear(&m);
	clear(&r);
	client_hello(&m, 0x0303, 0, (const uint16_t[]){0x002f, 0x0035}, 2, NULL);
	m.b[4 + 2 + 32 + 1 + 1] = 3; /* low byte of the cipher suites length */
	hs_records(&r, 0x0303, &m, 16384);
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	assert_int_equal(n_ev, 0);
	assert_true(has_anomaly("tls.bad_client_hello"));
	end_flow(st, IW_END_FIN); /* no ClientHello was taken: nothing to report */
	assert_int_equal(n_ev, 0);
	P.state_free(st);

	/* a server_name list longer than its extension */
	clear(&e);
	clear(&m);
	clear(&r);
	ext_raw(&e, 0x0000,
	        "\x00\x09\x00\x00\x03"
	        "abc",
	        8);
	client_hello(&m, 0x0303, 0, (const uint16_t[]){0x002f}, 1, &e);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	assert_int_equal(n_ev, 0);
	assert_true(has_anomaly("tls.bad_client_hello"));
	P.state_free(st);

	/* a session id longer than 32 */
	clear(&m);
	clear(&r);
	client_hello(&m, 0x0303, 33, (const uint16_t[]){0x002f}, 1, NULL);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	assert_int_equal(n_ev, 0);
	assert_true(has_anomaly("tls.bad_client_hello"));
	P.state_free(st);

	/* a ServerHello whose extension runs past the extensions block */
	clear(&e);
	clear(&m);
	clear(&r);
	ext_raw(&e, 0x002b, "\x03\x04", 2);
	e.b[3] = 9; /* extension length 9, 2 there */
	server_hello(&m, 0x0303, NULL, 0, 0, 0x1301, &e);
	hs_records(&r, 0x0303, &m, 16384);
	flights12(false);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	assert_int_equal(n_ev, 1);
	assert_true(has_anomaly("tls.bad_server_hello"));
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 2);
	assert_string_equal(evs[1].failure, "no_server_hello");
	P.state_free(st);

	/* hellos in the wrong direction are passed over */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOCLIENT, &c1);
	feed_buf(st, IW_DIR_TOSERVER, &s1);
	assert_int_equal(n_ev, 1); /* only the Certificate, which either side may send */
	assert_int_equal(evs[0].type, IW_TLS_CERTIFICATE);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 1);
	P.state_free(st);
}

/* A hello is read into storage that is not cleared between hellos: a second ClientHello
 * and a second ServerHello on the same flow, each with fewer fields than the first, show
 * only their own. The second ClientHello is TLS 1.0 without extensions, one cipher:
 *   python3 -c 'import hashlib; print(hashlib.md5(b"769,47,,,").hexdigest(),
 *     hashlib.sha256(b"002f").hexdigest()[:12])'
 * the second ServerHello selects TLS_RSA_WITH_AES_128_GCM_SHA256 (156) with ALPN only:
 *   python3 -c 'import hashlib; print(hashlib.md5(b"771,156,16").hexdigest())' */
static void test_second_hello_no_leftovers(void **state)
{
	(void)state;
	static struct buf e, m, ch1, ch2, sh1, sh2;
	clear(&e);
	clear(&m);
	clear(&ch1);
	ext_sni(&e, "first.example");
	ext_versions(&e, (const uint16_t[]){0x0304, 0x0303}, 2);
	ext_u16s(&e, 0x000a, (const uint16_t[]){0x001d, 0x0017}, 2);
	ext_u16s(&e, 0x000d, (const uint16_t[]){0x0403, 0x0804}, 2);
	ext_pf(&e, (const uint8_t *)"\0", 1);
	ext_alpn(&e, (const char *[]){"h2", "http/1.1"}, 2);
	client_hello(&m, 0x0303, 32, (const uint16_t[]){0x1301, 0xc02b, 0x002f}, 3, &e);
	hs_records(&ch1, 0x0301, &m, 16384);
	clear(&m);
	clear(&ch2);
	client_hello(&m, 0x0301, 0, (const uint16_t[]){0x002f}, 1, NULL);
	hs_records(&ch2, 0x0301, &m, 16384);
	clear(&e);
	clear(&m);
	clear(&sh1);
	ext_raw(&e, 0xff01, "\0", 1);
	ext_alpn(&e, (const char *[]){"h2"}, 1);
	ext_pf(&e, (const uint8_t *)"\0", 1);
	server_hello(&m, 0x0303, NULL, 0, 0, 0xc02f, &e);
	hs_records(&sh1, 0x0303, &m, 16384);
	clear(&e);
	clear(&m);
	clear(&sh2);
	ext_alpn(&e, (const char *[]){"mqtt"}, 1);
	server_hello(&m, 0x0303, NULL, 0, 0, 0x009c, &e);
	hs_records(&sh2, 0x0303, &m, 16384);

	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &ch1);
	feed_buf(st, IW_DIR_TOSERVER, &ch2);
	feed_buf(st, IW_DIR_TOCLIENT, &sh1);
	feed_buf(st, IW_DIR_TOCLIENT, &sh2);
	no_anomalies();
	assert_int_equal(n_ev, 4);
	assert_string_equal(evs[0].sni, "first.example");
	assert_int_equal(evs[0].n_alpns, 2);
	assert_int_equal(evs[0].version, 0x0304);

	const struct got *c = &evs[1];
	assert_int_equal(c->type, IW_TLS_CLIENT_HELLO);
	assert_int_equal(c->legacy_version, 0x0301);
	assert_int_equal(c->version, 0x0301); /* no supported_versions: the legacy one */
	assert_int_equal(c->session_id_len, 0);
	assert_string_equal(c->sni, NUL);
	assert_list(&c->ciphers, (const uint16_t[]){0x002f}, 1);
	assert_list(&c->extensions, NULL, 0);
	assert_list(&c->versions, NULL, 0);
	assert_list(&c->groups, NULL, 0);
	assert_list(&c->sig_algs, NULL, 0);
	assert_int_equal(c->n_pf, 0);
	assert_int_equal(c->n_alpns, 0);
	assert_string_equal(c->ja3, "769,47,,,");
	assert_string_equal(c->ja3_hash, "b02be259814e870a469a20ce9b2a7900");
	assert_string_equal(c->ja4, "t10i010000_ba72b8082249_000000000000");

	assert_string_equal(evs[2].alpn, "h2");
	const struct got *s = &evs[3];
	assert_int_equal(s->type, IW_TLS_SERVER_HELLO);
	assert_int_equal(s->version, 0x0303);
	assert_list(&s->ciphers, (const uint16_t[]){0x009c}, 1);
	assert_list(&s->extensions, (const uint16_t[]){0x0010}, 1);
	assert_list(&s->versions, NULL, 0);
	assert_string_equal(s->alpn, "mqtt");
	assert_string_equal(s->ja3s, "771,156,16");
	assert_string_equal(s->ja3s_hash, "2981049aa28c045a550c73180a9bfcaf");
	P.state_free(st);
}

/* ---- certificates ---- */

static void check_cert(const struct got *e, unsigned i, const uint8_t *der, size_t len, const char *sha,
                       const char *cn)
{
	struct iw_x509 *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	bool ok = iw_x509_parse(der, len, x) == 0;
	assert_int_equal(e->cert_ok[i], ok);
	if (x509_hashes)
		assert_string_equal(e->cert_sha[i], sha);
	if (x509_decodes) {
		assert_true(ok);
		assert_string_equal(e->cert_cn[i], cn);
	}
	free(x);
}

static void test_certificates(void **state)
{
	(void)state;
	void *st = handshake12(false);
	const struct got *e = &evs[2];
	assert_int_equal(e->type, IW_TLS_CERTIFICATE);
	assert_int_equal(e->dir, IW_DIR_TOCLIENT);
	assert_int_equal(e->n_certs, 2);
	assert_int_equal(e->certs_dropped, 0);
	assert_string_equal(e->sni, CH12_SNI);
	check_cert(e, 0, bench_cert_srv_aps1, sizeof(bench_cert_srv_aps1), SHA_SRV_APS1,
	           "*.iot.ap-south-1.amazonaws.com");
	check_cert(e, 1, bench_cert_srv_euw1, sizeof(bench_cert_srv_euw1), SHA_SRV_EUW1,
	           "*.iot.eu-west-1.amazonaws.com");
	if (x509_decodes)
		no_anomalies();
	else
		assert_int_equal(n_anom, 2); /* tls.bad_certificate each */
	assert_int_equal(n_identity, 0);     /* a server certificate names no device */
	P.state_free(st);
}

static void test_client_certificate(void **state)
{
	(void)state;
	flights12(true);
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	assert_int_equal(n_ev, 4);
	assert_int_equal(evs[3].type, IW_TLS_CERTIFICATE_REQUEST);
	assert_int_equal(evs[3].dir, IW_DIR_TOCLIENT);
	assert_int_equal(evs[3].n_cert_types, 2);
	assert_int_equal(evs[3].n_ca_names, 3);
	unsigned before = n_anom;
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	assert_int_equal(n_ev, 5);
	const struct got *e = &evs[4];
	assert_int_equal(e->type, IW_TLS_CERTIFICATE);
	assert_int_equal(e->dir, IW_DIR_TOSERVER);
	assert_int_equal(e->n_certs, 1);
	check_cert(e, 0, bench_cert_cli_gw, sizeof(bench_cert_cli_gw), SHA_CLI_GW, "gw-line-7");
	if (x509_decodes) {
		assert_int_equal(n_identity, 1);
		assert_string_equal(identity, "gw-line-7");
	} else {
		assert_int_equal(n_identity, 0); /* nothing decoded, no name */
		assert_int_equal(n_anom, before + 1);
		assert_string_equal(anomalies[before], "tls.bad_certificate");
	}
	/* the server's CCS completes the TLS 1.2 handshake */
	feed_buf(st, IW_DIR_TOCLIENT, &s2);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 5);
	P.state_free(st);
}

/* Certificates are decoded into storage that is not cleared: a Certificate message of
 * one empty certificate after one of two shows one certificate, undecodable, with the
 * empty fingerprint of no bytes, not what was in that storage before. With the cache, the
 * chain sent again is copied out of it (only the text its strings take) and reads as
 * when decoded. glibc fills what malloc returns (M_PERTURB) so that a field shown
 * unwritten cannot read as right; under ASan its own fill does that. */
static void test_certificate_fewer_after_more(void **state)
{
	(void)state;
	static struct buf m, chain, empty;
	static const uint8_t none[1];
#ifdef M_PERTURB
	mallopt(M_PERTURB, 0x5a);
#endif
	clear(&m);
	clear(&chain);
	msg_cert(&m, srv_chain, srv_chain_len, 2);
	hs_records(&chain, 0x0303, &m, 16384);
	clear(&m);
	clear(&empty);
	msg_cert(&m, (const uint8_t *const[]){none}, (const size_t[]){0}, 1);
	hs_records(&empty, 0x0303, &m, 16384);
	for (int cached = 0; cached < 2; cached++) {
		/* 256 slots: with 16 the two certificates share one and never hit */
		cfg.x509_cache = cached ? iw_x509_cache_new(256) : NULL;
		void *st = handshake12(false); /* its Certificate: srv_chain */
		feed_buf(st, IW_DIR_TOCLIENT, &chain);
		unsigned before = n_anom;
		feed_buf(st, IW_DIR_TOCLIENT, &empty);
		assert_int_equal(n_ev, 5);
		for (unsigned k = 2; k < 4; k++) {
			const struct got *e = &evs[k];
			assert_int_equal(e->type, IW_TLS_CERTIFICATE);
			assert_int_equal(e->n_certs, 2);
			check_cert(e, 0, bench_cert_srv_aps1, sizeof(bench_cert_srv_aps1), SHA_SRV_APS1,
			           "*.iot.ap-south-1.amazonaws.com");
			check_cert(e, 1, bench_cert_srv_euw1, sizeof(bench_cert_srv_euw1), SHA_SRV_EUW1,
			           "*.iot.eu-west-1.amazonaws.com");
		}
		const struct got *e = &evs[4];
		assert_int_equal(e->type, IW_TLS_CERTIFICATE);
		assert_int_equal(e->n_certs, 1);
		assert_int_equal(e->certs_dropped, 0);
		assert_false(e->cert_ok[0]);
		assert_string_equal(e->cert_sha[0], "");
		assert_string_equal(e->cert_cn[0], NUL);
		assert_int_equal(n_anom, before + 1);
		assert_string_equal(anomalies[before], "tls.bad_certificate");
		P.state_free(st);
		if (cached) {
			assert_int_equal(iw_x509_cache_hits(cfg.x509_cache), 2);
			assert_int_equal(iw_x509_cache_misses(cfg.x509_cache), 2);
		}
		iw_x509_cache_free(cfg.x509_cache);
		cfg.x509_cache = NULL;
	}
#ifdef M_PERTURB
	mallopt(M_PERTURB, 0);
#endif
}

static void test_certificate_request_tls11(void **state)
{
	(void)state;
	static struct buf m, r;
	flights12(false);
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	/* TLS 1.1: no signature algorithms in the CertificateRequest */
	clear(&m);
	clear(&r);
	server_hello(&m, 0x0302, NULL, 0, 0, 0x002f, NULL);
	msg_cert_request(&m, false);
	msg_opaque(&m, 14, 0);
	hs_records(&r, 0x0302, &m, 16384);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	no_anomalies();
	assert_int_equal(n_ev, 3);
	assert_int_equal(evs[1].version, 0x0302);
	assert_int_equal(evs[2].type, IW_TLS_CERTIFICATE_REQUEST);
	assert_int_equal(evs[2].n_cert_types, 2);
	assert_int_equal(evs[2].n_ca_names, 3);
	P.state_free(st);

	/* a CA name list longer than the message: counted, reported with what was read */
	clear(&m);
	clear(&r);
	msg_sh12(&m, 0, 0);
	u8(&m, 13);
	u24(&m, 1 + 1 + 2 + 2 + 2 + 3);
	u8(&m, 1);   /* one type */
	u8(&m, 64);  /* ecdsa_sign */
	u16(&m, 0);  /* no signature algorithms */
	u16(&m, 40); /* CA names: 40 bytes claimed, 5 there */
	u16(&m, 3);
	fill(&m, 0x31, 3);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	assert_int_equal(n_ev, 3);
	assert_int_equal(evs[2].type, IW_TLS_CERTIFICATE_REQUEST);
	assert_int_equal(evs[2].n_cert_types, 1);
	assert_true(has_anomaly("tls.bad_certificate_request"));
	P.state_free(st);
}

static void test_certificate_limits(void **state)
{
	(void)state;
	static struct buf m, r;
	static const uint8_t junk[5] = {0x30, 0x03, 0x02, 0x01, 0x00}; /* not a certificate */
	const uint8_t *ders[10];
	size_t lens[10];
	for (unsigned i = 0; i < 10; i++) {
		ders[i] = junk;
		lens[i] = sizeof(junk);
	}
	flights12(false);
	/* ten in the chain: eight kept, none decodable */
	clear(&m);
	clear(&r);
	msg_cert(&m, ders, lens, 10);
	hs_records(&r, 0x0303, &m, 16384);
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	assert_int_equal(n_ev, 2);
	assert_int_equal(evs[1].n_certs, IW_TLS_MAX_CHAIN);
	assert_int_equal(evs[1].certs_dropped, 10 - IW_TLS_MAX_CHAIN);
	for (unsigned i = 0; i < IW_TLS_MAX_CHAIN; i++)
		assert_false(evs[1].cert_ok[i]);
	assert_int_equal(n_anom, IW_TLS_MAX_CHAIN);
	assert_string_equal(anomalies[0], "tls.bad_certificate");
	P.state_free(st);

	/* an empty chain (a client without a certificate) */
	clear(&m);
	clear(&r);
	msg_cert(&m, NULL, NULL, 0);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	no_anomalies();
	assert_int_equal(n_ev, 2);
	assert_int_equal(evs[1].type, IW_TLS_CERTIFICATE);
	assert_int_equal(evs[1].dir, IW_DIR_TOSERVER);
	assert_int_equal(evs[1].n_certs, 0);
	assert_int_equal(n_identity, 0);
	P.state_free(st);

	/* a certificate longer than its list: the whole ones reported, the message counted */
	clear(&m);
	clear(&r);
	u8(&m, 11);
	u24(&m, 3 + 3 + 5 + 3 + 5);
	u24(&m, 3 + 5 + 3 + 5);
	u24(&m, 5);
	put(&m, junk, 5);
	u24(&m, 9); /* 9 claimed, 5 there */
	put(&m, junk, 5);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	assert_int_equal(n_ev, 2);
	assert_int_equal(evs[1].n_certs, 1);
	assert_true(has_anomaly("tls.bad_certificate_message"));
	P.state_free(st);

	/* a list longer than the message: no event */
	clear(&m);
	clear(&r);
	u8(&m, 11);
	u24(&m, 3 + 3 + 5);
	u24(&m, 100);
	u24(&m, 5);
	put(&m, junk, 5);
	hs_records(&r, 0x0303, &m, 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	assert_int_equal(n_ev, 1);
	assert_true(has_anomaly("tls.bad_certificate_message"));
	P.state_free(st);
}

/* ---- alerts ---- */

static void test_alert_clear(void **state)
{
	(void)state;
	static struct buf a;
	void *st = handshake12(false);
	clear(&a);
	alert(&a, 2, 45); /* fatal certificate_expired */
	feed_buf(st, IW_DIR_TOCLIENT, &a);
	assert_int_equal(n_ev, 4);
	const struct got *e = &evs[3];
	assert_int_equal(e->type, IW_TLS_ALERT);
	assert_int_equal(e->dir, IW_DIR_TOCLIENT);
	assert_int_equal(e->level, 2);
	assert_int_equal(e->description, 45);
	assert_false(e->encrypted);
	assert_string_equal(iw_tls_alert_name(e->description), "certificate_expired");
	assert_int_equal(e->version, 0x0303);
	assert_string_equal(e->sni, CH12_SNI);
	P.state_free(st);

	/* two alerts in one record */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	clear(&a);
	record(&a, 21, 0x0303, (const uint8_t[]){1, 0, 2, 40}, 4);
	feed_buf(st, IW_DIR_TOCLIENT, &a);
	assert_int_equal(n_ev, 3);
	assert_int_equal(evs[1].level, 1);
	assert_int_equal(evs[1].description, 0);
	assert_int_equal(evs[2].level, 2);
	assert_int_equal(evs[2].description, 40);
	assert_false(evs[2].encrypted);
	P.state_free(st);
}

static void test_alert_encrypted(void **state)
{
	(void)state;
	static struct buf a;
	flights12(false);
	/* after the sender's ChangeCipherSpec: encrypted, content not read */
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	clear(&a);
	ccs(&a);
	u8(&a, 21); /* alert: explicit nonce 8, alert 2, tag 16 */
	u16(&a, 0x0303);
	u16(&a, 26);
	fill(&a, 0x9c, 26);
	feed_buf(st, IW_DIR_TOSERVER, &a);
	assert_int_equal(n_ev, 4);
	const struct got *e = &evs[3];
	assert_int_equal(e->type, IW_TLS_ALERT);
	assert_int_equal(e->dir, IW_DIR_TOSERVER);
	assert_true(e->encrypted);
	assert_int_equal(e->level, 0);
	assert_int_equal(e->description, 0);
	/* even two bytes are encrypted after ChangeCipherSpec */
	clear(&a);
	alert(&a, 2, 45);
	feed_buf(st, IW_DIR_TOSERVER, &a);
	assert_int_equal(n_ev, 5);
	assert_true(evs[4].encrypted);
	assert_int_equal(evs[4].level, 0);
	/* ... but the other direction has not switched */
	feed_buf(st, IW_DIR_TOCLIENT, &a);
	assert_int_equal(n_ev, 6);
	assert_false(evs[5].encrypted);
	assert_int_equal(evs[5].level, 2);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 7);
	assert_string_equal(evs[6].failure, "alert");
	assert_false(evs[6].encrypted); /* the last alert */
	assert_int_equal(evs[6].description, 45);
	P.state_free(st);

	/* an odd length or an empty alert record cannot be clear */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	clear(&a);
	record(&a, 21, 0x0303, (const uint8_t[]){2, 45, 0}, 3);
	record(&a, 21, 0x0303, NULL, 0);
	feed_buf(st, IW_DIR_TOCLIENT, &a);
	assert_int_equal(n_ev, 3);
	assert_true(evs[1].encrypted);
	assert_true(evs[2].encrypted);
	P.state_free(st);
}

/* ---- handshake_failed at the end ---- */

static void test_end_no_server_hello(void **state)
{
	(void)state;
	flights12(false);
	void *st = fresh(65536);
	ctx.ts_us = 5000;
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	ctx.ts_us = 9000;
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 2);
	const struct got *e = &evs[1];
	assert_int_equal(e->type, IW_TLS_HANDSHAKE_FAILED);
	assert_int_equal(e->dir, IW_DIR_TOSERVER);
	assert_string_equal(e->failure, "no_server_hello");
	assert_int_equal(e->records[0], 1);
	assert_int_equal(e->records[1], 0);
	assert_int_equal(e->start_us, 5000);
	assert_int_equal(e->end_us, 5000);
	assert_false(e->alert_seen);
	assert_string_equal(e->sni, CH12_SNI);
	assert_string_equal(e->ja4, "t12d0910h2_0238f23094f9_fae48490d0f6");
	assert_string_equal(e->ja3_hash, "920538f3962aa1e413b4021459c171fa");
	P.state_free(st);
}

static void test_end_alert(void **state)
{
	(void)state;
	static struct buf a;
	flights12(false);
	void *st = fresh(65536);
	ctx.ts_us = 1000;
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	ctx.ts_us = 2000;
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	clear(&a);
	alert(&a, 2, 48); /* the device does not trust the server: unknown_ca */
	ctx.ts_us = 3000;
	feed_buf(st, IW_DIR_TOSERVER, &a);
	ctx.ts_us = 4000;
	end_flow(st, IW_END_RST);
	assert_int_equal(n_ev, 5);
	const struct got *e = &evs[4];
	assert_int_equal(e->type, IW_TLS_HANDSHAKE_FAILED);
	assert_string_equal(e->failure, "alert");
	assert_true(e->alert_seen);
	assert_int_equal(e->level, 2);
	assert_int_equal(e->description, 48);
	assert_false(e->encrypted);
	assert_int_equal(e->records[0], 2);
	assert_int_equal(e->records[1], 1);
	assert_int_equal(e->start_us, 1000);
	assert_int_equal(e->end_us, 3000);
	assert_int_equal(e->version, 0x0303);
	assert_string_equal(e->alpn, "h2");
	P.state_free(st);
}

static void test_end_tls12_complete(void **state)
{
	(void)state;
	flights12(true);
	/* ChangeCipherSpec both ways */
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	feed_buf(st, IW_DIR_TOCLIENT, &s2);
	unsigned n = n_ev;
	/* from here on nothing is looked at, not even what is not TLS: IW_DONE both ways, and
	 * the sensor stops reassembling the flow */
	static const uint8_t junk[] = "\x00\x01\x02 not a record at all";
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, junk, sizeof(junk)), IW_DONE);
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOCLIENT, junk, 3), IW_DONE);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, n);
	no_anomalies_but_certs();
	P.state_free(st);

	/* application data after the hellos (False Start: before the server's CCS) */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	feed_buf(st, IW_DIR_TOSERVER, &c3);
	n = n_ev;
	end_flow(st, IW_END_RST);
	assert_int_equal(n_ev, n);
	P.state_free(st);

	/* the client finished, the server never answered */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	n = n_ev;
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, n + 1);
	assert_string_equal(evs[n].failure, "no_application_data");
	assert_int_equal(evs[n].records[0], 4);
	assert_int_equal(evs[n].records[1], 1);
	assert_false(evs[n].alert_seen);
	P.state_free(st);
}

static void test_end_tls13(void **state)
{
	(void)state;
	static struct buf r;
	flights13();
	/* (d) the server answers the client's flight with one small record (an encrypted
	 * alert is 19 bytes: 2 + content type 1 + tag 16), then RST */
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	clear(&r);
	opaque(&r, 23, 19);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	assert_int_equal(n_ev, 2);
	end_flow(st, IW_END_RST);
	assert_int_equal(n_ev, 3);
	const struct got *e = &evs[2];
	assert_int_equal(e->type, IW_TLS_HANDSHAKE_FAILED);
	assert_string_equal(e->failure, "no_application_data");
	assert_false(e->alert_seen);
	assert_int_equal(e->version, 0x0304);
	assert_int_equal(e->records[0], 3); /* ClientHello, CCS, Finished */
	assert_int_equal(e->records[1], 5); /* ServerHello, CCS, two encrypted, the small one */
	no_anomalies();
	P.state_free(st);

	/* (e) two records after the client's flight: done, nothing at the end */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	clear(&r);
	opaque(&r, 23, 19);
	opaque(&r, 23, 19);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	end_flow(st, IW_END_RST);
	assert_int_equal(n_ev, 2);
	P.state_free(st);

	/* one record too large to be a lone alert (a session ticket) */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	clear(&r);
	opaque(&r, 23, 250);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 2);
	P.state_free(st);

	/* the client sends again after the server answered */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	clear(&r);
	opaque(&r, 23, 19);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	clear(&r);
	opaque(&r, 23, 100);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 2);
	P.state_free(st);

	/* the client sends twice but the server never answers: not done */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	clear(&r);
	opaque(&r, 23, 100);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 3);
	assert_string_equal(evs[2].failure, "no_application_data");
	P.state_free(st);

	/* the encrypted records arrive in pieces: passed over without buffering, counted once */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	for (size_t at = 0; at < s1.n; at += 97) {
		size_t n = s1.n - at < 97 ? s1.n - at : 97;
		assert_true(feed(st, IW_DIR_TOCLIENT, s1.b + at, n) >= 0);
	}
	assert_int_equal(fdr[IW_DIR_TOCLIENT].n, 0);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 3);
	assert_int_equal(evs[2].records[1], 4);
	P.state_free(st);
}

/* Regression (found by these tests, fixed in parsers/tls.c): a TLS 1.3 client offering 0-RTT sends
 * ClientHello, a ChangeCipherSpec right after it (RFC 8446 D.4, middlebox compatibility)
 * and early data, all before the ServerHello. The parser does not know TLS 1.3 yet, takes
 * the CCS for TLS 1.2's (d->ccs = true); the bug then took the early application data
 * record for proof of a finished TLS 1.2 handshake and ignored the rest of the flow. Now
 * only records after a ServerHello complete a handshake, and a TLS 1.3 ServerHello
 * forgets an early CCS.
 *   input: client CH(1.3) + CCS + appdata(60); server SH(1.3) + CCS + appdata(1200, 300)
 *   expected: a server_hello event (version 0x0304). */
static void test_tls13_early_data_after_ccs(void **state)
{
	(void)state;
	static struct buf c, s;
	flights13();
	clear(&c);
	put(&c, c1.b, c1.n);
	ccs(&c);
	opaque(&c, 23, 60); /* early data */
	clear(&s);
	put(&s, s1.b, s1.n);
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c);
	assert_int_equal(n_ev, 1);
	feed_buf(st, IW_DIR_TOCLIENT, &s);
	P.state_free(st); /* before failing: no leak to report */
	if (n_ev != 2)
		fail_msg("the TLS 1.3 ServerHello after 0-RTT early data was not reported (%u events)", n_ev);
	assert_int_equal(evs[1].type, IW_TLS_SERVER_HELLO);
	assert_int_equal(evs[1].version, 0x0304);
}

static void test_end_reasons_and_gaps(void **state)
{
	(void)state;
	flights12(false);
	/* (f) a flow still open at shutdown or evicted may yet complete */
	enum iw_flow_end quiet[] = {IW_END_SHUTDOWN, IW_END_EVICTED};
	for (size_t i = 0; i < 2; i++) {
		void *st = fresh(65536);
		feed_buf(st, IW_DIR_TOSERVER, &c1);
		end_flow(st, quiet[i]);
		assert_int_equal(n_ev, 1);
		P.state_free(st);
	}
	enum iw_flow_end loud[] = {IW_END_FIN, IW_END_RST, IW_END_TIMEOUT};
	for (size_t i = 0; i < 3; i++) {
		void *st = fresh(65536);
		feed_buf(st, IW_DIR_TOSERVER, &c1);
		end_flow(st, loud[i]);
		assert_int_equal(n_ev, 2);
		assert_string_equal(evs[1].failure, "no_server_hello");
		P.state_free(st);
	}
	/* (g) a gap in either direction: not followed, not judged */
	for (int dir = 0; dir < 2; dir++) {
		void *st = fresh(65536);
		feed_buf(st, IW_DIR_TOSERVER, &c1);
		P.gap(st, &ctx, dir, 1400);
		/* the lost direction's bytes are consumed unread */
		assert_int_equal(P.parse(st, &ctx, dir, s1.b, 7), 7);
		end_flow(st, IW_END_FIN);
		assert_int_equal(n_ev, 1);
		P.state_free(st);
	}
	/* a gap while a message is buffered frees it */
	void *st = fresh(65536);
	static struct buf half;
	clear(&half);
	clear(&msgs);
	msg_sh12(&msgs, 32, 0x77);
	msg_cert(&msgs, srv_chain, srv_chain_len, 2);
	hs_records(&half, 0x0303, &msgs, 500);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	assert_int_equal(feed(st, IW_DIR_TOCLIENT, half.b, 505 + 505), 0);
	P.gap(st, &ctx, IW_DIR_TOCLIENT, 10);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 2);
	P.state_free(st);
	/* nothing at all, or only a server */
	st = fresh(65536);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 0);
	P.state_free(st);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 2);
	P.state_free(st);
}

/* ---- framing ---- */

static void test_byte_by_byte(void **state)
{
	(void)state;
	flights12(true);
	/* one record, as the sensor offers it: the whole prefix again each time */
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	save_events();
	P.state_free(st);
	st = fresh(65536);
	for (size_t n = 1; n < c1.n; n++) {
		int rc = P.parse(st, &ctx, IW_DIR_TOSERVER, c1.b, n);
		if (rc != IW_NEED_MORE)
			fail_msg("prefix %zu of %zu: %d", n, c1.n, rc);
		assert_int_equal(n_ev, 0);
	}
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, c1.b, c1.n), (int)c1.n);
	same_as_saved("ClientHello byte by byte");
	P.state_free(st);

	/* the whole mutual TLS 1.2 handshake, every flight one byte per call */
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	feed_buf(st, IW_DIR_TOCLIENT, &s2);
	save_events();
	P.state_free(st);
	st = fresh(65536);
	const struct buf *fl[] = {&c1, &s1, &c2, &s2};
	const int dirs[] = {IW_DIR_TOSERVER, IW_DIR_TOCLIENT, IW_DIR_TOSERVER, IW_DIR_TOCLIENT};
	for (size_t f = 0; f < 4; f++)
		for (size_t i = 0; i < fl[f]->n; i++)
			assert_true(feed(st, dirs[f], fl[f]->b + i, 1) >= 0);
	assert_int_equal(fdr[0].n, 0);
	assert_int_equal(fdr[1].n, 0);
	same_as_saved("TLS 1.2 byte by byte");
	P.state_free(st);

	/* TLS 1.3 the same way, then the end */
	static struct buf r;
	flights13();
	clear(&r);
	opaque(&r, 23, 19);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	end_flow(st, IW_END_RST);
	save_events();
	P.state_free(st);
	st = fresh(65536);
	const struct buf *fl13[] = {&c1, &s1, &c2, &r};
	for (size_t f = 0; f < 4; f++)
		for (size_t i = 0; i < fl13[f]->n; i++)
			assert_true(feed(st, dirs[f], fl13[f]->b + i, 1) >= 0);
	end_flow(st, IW_END_RST);
	same_as_saved("TLS 1.3 byte by byte");
	P.state_free(st);
}

static void test_split_everywhere(void **state)
{
	(void)state;
	flights12(true);
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	feed_buf(st, IW_DIR_TOSERVER, &c2);
	save_events();
	P.state_free(st);
	/* the server flight in two calls, cut at every byte */
	for (size_t k = 1; k < s1.n; k++) {
		st = fresh(65536);
		feed_buf(st, IW_DIR_TOSERVER, &c1);
		assert_true(feed(st, IW_DIR_TOCLIENT, s1.b, k) >= 0);
		assert_int_equal(feed(st, IW_DIR_TOCLIENT, s1.b + k, s1.n - k), 0);
		feed_buf(st, IW_DIR_TOSERVER, &c2);
		same_as_saved("server flight split");
		P.state_free(st);
	}
	/* the client's second flight the same way */
	for (size_t k = 1; k < c2.n; k++) {
		st = fresh(65536);
		feed_buf(st, IW_DIR_TOSERVER, &c1);
		feed_buf(st, IW_DIR_TOCLIENT, &s1);
		assert_true(feed(st, IW_DIR_TOSERVER, c2.b, k) >= 0);
		assert_int_equal(feed(st, IW_DIR_TOSERVER, c2.b + k, c2.n - k), 0);
		same_as_saved("client flight split");
		P.state_free(st);
	}
}

static void test_messages_across_records(void **state)
{
	(void)state;
	static struct buf ch, r;
	clear(&msgs);
	msg_ch12(&msgs);
	clear(&ch);
	hs_records(&ch, 0x0301, &msgs, 16384);
	void *st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &ch);
	save_events();
	P.state_free(st);
	/* one ClientHello in two records, cut anywhere (in its header too) */
	for (size_t k = 1; k < msgs.n; k++) {
		clear(&r);
		record(&r, 22, 0x0301, msgs.b, k);
		record(&r, 22, 0x0301, msgs.b + k, msgs.n - k);
		st = fresh(65536);
		feed_buf(st, IW_DIR_TOSERVER, &r);
		same_as_saved("ClientHello in two records");
		no_anomalies();
		P.state_free(st);
	}
	/* in records of 1, 3 and 50 bytes */
	const size_t frags[] = {1, 3, 50};
	for (size_t i = 0; i < 3; i++) {
		clear(&r);
		hs_records(&r, 0x0301, &msgs, frags[i]);
		st = fresh(65536);
		feed_buf(st, IW_DIR_TOSERVER, &r);
		same_as_saved("ClientHello in many records");
		P.state_free(st);
	}

	/* the server's four messages in one record, in one record each, and across records */
	flights12(true);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &s1);
	save_events();
	assert_int_equal(n_ev, 4); /* CH, SH, Certificate, CertificateRequest; ServerHelloDone says nothing */
	P.state_free(st);
	static struct buf one[4];
	for (unsigned i = 0; i < 4; i++)
		clear(&one[i]);
	msg_sh12(&one[0], 32, 0x77);
	msg_cert(&one[1], srv_chain, srv_chain_len, 2);
	msg_cert_request(&one[2], true);
	msg_opaque(&one[3], 14, 0);
	clear(&r);
	for (unsigned i = 0; i < 4; i++)
		hs_records(&r, 0x0303, &one[i], 16384);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	same_as_saved("one message per record");
	P.state_free(st);
	/* SH + part of the Certificate | rest of it + CR + SHD */
	clear(&msgs);
	for (unsigned i = 0; i < 4; i++)
		put(&msgs, one[i].b, one[i].n);
	clear(&r);
	size_t cut = one[0].n + 700;
	record(&r, 22, 0x0303, msgs.b, cut);
	record(&r, 22, 0x0303, msgs.b + cut, msgs.n - cut);
	st = fresh(65536);
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	same_as_saved("messages across records");
	P.state_free(st);

	/* a message larger than a record (a long chain) gathered over two records */
	static uint8_t big[20000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	const uint8_t *d1[] = {big};
	size_t l1[] = {sizeof(big)};
	clear(&msgs);
	msg_cert(&msgs, d1, l1, 1);
	clear(&r);
	hs_records(&r, 0x0303, &msgs, 16384);
	st = fresh(0); /* 0: the parser's own bound */
	feed_buf(st, IW_DIR_TOSERVER, &c1);
	feed_buf(st, IW_DIR_TOCLIENT, &r);
	assert_int_equal(n_ev, 2);
	assert_int_equal(evs[1].type, IW_TLS_CERTIFICATE);
	assert_int_equal(evs[1].n_certs, 1);
	assert_false(evs[1].cert_ok[0]);
	P.state_free(st);
}

static void test_bad_record(void **state)
{
	(void)state;
	static const uint8_t bad[][5] = {
	    {0x16, 0x03, 0x03, 0x48, 0x01}, /* 18433 bytes: more than a record may hold */
	    {0x13, 0x03, 0x03, 0x00, 0x02}, /* content type 19 */
	    {0x19, 0x03, 0x03, 0x00, 0x02}, /* content type 25 */
	    {0x16, 0x02, 0x00, 0x00, 0x02}, /* major 2 */
	    {0x16, 0x03, 0x05, 0x00, 0x02}, /* minor 5 */
	    {'G', 'E', 'T', ' ', '/'},
	};
	flights12(false);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *st = fresh(65536);
		assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, bad[i], 4), IW_NEED_MORE);
		assert_int_equal(n_anom, 0);
		assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, bad[i], 5), IW_ERR);
		assert_int_equal(n_anom, 1);
		assert_string_equal(anomalies[0], "tls.bad_record");
		/* that direction is not followed any more; the other one is */
		assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, c1.b, c1.n), (int)c1.n);
		assert_int_equal(n_ev, 0);
		feed_buf(st, IW_DIR_TOCLIENT, &s1);
		assert_int_equal(n_ev, 2);
		end_flow(st, IW_END_FIN);
		assert_int_equal(n_ev, 2);
		P.state_free(st);
	}
	/* the largest record allowed is fine */
	void *st = fresh(65536);
	static struct buf r;
	clear(&r);
	opaque(&r, 23, 16384 + 2048);
	feed_buf(st, IW_DIR_TOSERVER, &r);
	no_anomalies();
	P.state_free(st);
}

static void test_handshake_too_large(void **state)
{
	(void)state;
	flights12(false);
	/* limits.max_message below the ClientHello */
	void *st = fresh(64);
	assert_int_equal(feed(st, IW_DIR_TOSERVER, c1.b, c1.n), -1);
	assert_int_equal(n_ev, 0);
	assert_int_equal(n_anom, 1);
	assert_string_equal(anomalies[0], "tls.handshake_too_large");
	end_flow(st, IW_END_FIN);
	assert_int_equal(n_ev, 0);
	P.state_free(st);
	/* the limit is the message's length, not the record's */
	st = fresh((uint32_t)(c1.n - 9));
	feed_buf(st, IW_DIR_TOSERVER, &c1); /* body = record - 5 - 4 */
	assert_int_equal(n_ev, 1);
	no_anomalies();
	P.state_free(st);
	st = fresh((uint32_t)(c1.n - 10));
	assert_int_equal(feed(st, IW_DIR_TOSERVER, c1.b, c1.n), -1);
	assert_true(has_anomaly("tls.handshake_too_large"));
	P.state_free(st);

	/* without a limit the parser's own: 256 KiB; the header alone tells */
	static struct buf r;
	clear(&r);
	record(&r, 22, 0x0303, (const uint8_t[]){11, 0x04, 0x00, 0x01}, 4);
	st = fresh(0);
	assert_int_equal(feed(st, IW_DIR_TOCLIENT, r.b, r.n), -1);
	assert_true(has_anomaly("tls.handshake_too_large"));
	P.state_free(st);
	clear(&r);
	record(&r, 22, 0x0303, (const uint8_t[]){11, 0x04, 0x00, 0x00}, 4);
	st = fresh(0);
	assert_int_equal(feed(st, IW_DIR_TOCLIENT, r.b, r.n), 0); /* waits for the rest */
	no_anomalies();
	P.state_free(st);
	/* a limit above the parser's own is the parser's own */
	clear(&r);
	record(&r, 22, 0x0303, (const uint8_t[]){11, 0x04, 0x00, 0x01}, 4);
	st = fresh(1u << 30);
	assert_int_equal(feed(st, IW_DIR_TOCLIENT, r.b, r.n), -1);
	P.state_free(st);
}

/* ---- robustness ---- */

/* Parses len bytes in place flush against the guard page, as far as they go. */
static void parse_guarded(void *st, struct guard *g, int dir, const uint8_t *b, size_t len, size_t *used)
{
	const uint8_t *at = guard_put(g, b, len);
	size_t u = 0;
	while (u < len) {
		int rc = P.parse(st, &ctx, dir, at + u, len - u);
		if (rc <= 0) {
			if (rc != IW_NEED_MORE && rc != IW_ERR && rc != IW_DONE)
				fail_msg("parse returned %d", rc);
			break;
		}
		if ((size_t)rc > len - u)
			fail_msg("parse consumed %d of %zu", rc, len - u);
		u += (size_t)rc;
	}
	if (used)
		*used = u;
}

static void test_prefixes_guarded(void **state)
{
	(void)state;
	struct guard g = guard_new(1 << 16);
	static struct buf cf, sf;
	for (int v = 0; v < 2; v++) {
		if (v == 0)
			flights12(true);
		else
			flights13();
		clear(&cf);
		put(&cf, c1.b, c1.n);
		put(&cf, c2.b, c2.n);
		clear(&sf);
		put(&sf, s1.b, s1.n);
		if (v == 0)
			put(&sf, s2.b, s2.n);
		/* the whole client flight alone: how many events */
		void *st = fresh(65536);
		feed_buf(st, IW_DIR_TOSERVER, &cf);
		unsigned client_events = n_ev;
		P.state_free(st);
		for (size_t len = 0; len <= cf.n; len++) {
			st = fresh(65536);
			size_t used = 0;
			parse_guarded(st, &g, IW_DIR_TOSERVER, cf.b, len, &used);
			assert_true(n_ev <= client_events);
			if (len == cf.n)
				assert_int_equal(used, cf.n);
			no_anomalies_but_certs();
			end_flow(st, IW_END_FIN);
			P.state_free(st);
		}
		/* the server flight after the client's first */
		st = fresh(65536);
		feed_buf(st, IW_DIR_TOSERVER, &c1);
		unsigned base = n_ev;
		feed_buf(st, IW_DIR_TOCLIENT, &sf);
		unsigned server_events = n_ev - base;
		P.state_free(st);
		for (size_t len = 0; len <= sf.n; len++) {
			st = fresh(65536);
			feed_buf(st, IW_DIR_TOSERVER, &c1);
			size_t used = 0;
			parse_guarded(st, &g, IW_DIR_TOCLIENT, sf.b, len, &used);
			assert_true(n_ev - base <= server_events);
			if (len == sf.n)
				assert_int_equal(used, sf.n);
			no_anomalies_but_certs();
			end_flow(st, IW_END_FIN);
			P.state_free(st);
		}
		/* the probe on every prefix of both */
		for (size_t len = 0; len <= cf.n; len++) {
			const uint8_t *at = guard_put(&g, cf.b, len);
			int rc = P.probe(at, len, IW_DIR_TOSERVER);
			assert_int_equal(rc, len < 11 ? IW_NEED_MORE : IW_OK);
		}
		for (size_t len = 0; len <= sf.n; len++) {
			const uint8_t *at = guard_put(&g, sf.b, len);
			int rc = P.probe(at, len, IW_DIR_TOCLIENT);
			assert_int_equal(rc, len < 11 ? IW_NEED_MORE : IW_OK);
		}
	}
	guard_free(&g);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

static void test_random_bytes(void **state)
{
	(void)state;
	struct guard g = guard_new(1 << 16);
	static uint8_t b[8192];
	discard = true;
	for (unsigned iter = 0; iter < 3000; iter++) {
		size_t len = rnd() % 700;
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)rnd();
		if (iter % 3 == 1 && len >= 5) { /* a plausible record header first */
			b[0] = (uint8_t)(20 + rnd() % 5);
			b[1] = 3;
			b[2] = (uint8_t)(rnd() % 5);
			b[3] = (uint8_t)((len - 5) >> 8);
			b[4] = (uint8_t)(len - 5);
			if (b[0] == 22 && len >= 9) { /* and a handshake header that fits */
				b[5] = (uint8_t)(1 + rnd() % 14);
				b[6] = 0;
				b[7] = (uint8_t)((len - 9) >> 8);
				b[8] = (uint8_t)(len - 9);
			}
		}
		int dir = (int)(rnd() & 1);
		const uint8_t *at = guard_put(&g, b, len);
		int rc = P.probe(at, len, dir);
		assert_true(rc == IW_OK || rc == IW_ERR || rc == IW_NEED_MORE);
		void *st = fresh(rnd() % 2 ? 65536 : 300);
		parse_guarded(st, &g, dir, b, len, NULL);
		if (rnd() % 4 == 0)
			P.gap(st, &ctx, dir, 100);
		parse_guarded(st, &g, !dir, b, len, NULL);
		end_flow(st, (enum iw_flow_end)(rnd() % IW_END__COUNT));
		P.state_free(st);
	}
	/* mutated handshakes: a few bytes of real flights changed */
	static struct buf fl[8];
	flights12(true);
	const struct buf *src12[] = {&c1, &s1, &c2, &s2};
	for (unsigned i = 0; i < 4; i++) {
		clear(&fl[i]);
		put(&fl[i], src12[i]->b, src12[i]->n);
	}
	flights13();
	const struct buf *src13[] = {&c1, &s1, &c2};
	for (unsigned i = 0; i < 3; i++) {
		clear(&fl[4 + i]);
		put(&fl[4 + i], src13[i]->b, src13[i]->n);
	}
	static const int fdir[] = {0, 1, 0, 1, 0, 1, 0};
	for (unsigned iter = 0; iter < 1500; iter++) {
		bool v13 = iter % 2;
		unsigned first = v13 ? 4 : 0, count = v13 ? 3 : 4;
		void *st = fresh(65536);
		for (unsigned f = first; f < first + count; f++) {
			size_t len = fl[f].n;
			memcpy(b, fl[f].b, len);
			unsigned flips = 1 + rnd() % 4;
			for (unsigned k = 0; k < flips; k++) {
				size_t at = rnd() % len;
				b[at] = rnd() % 3 ? (uint8_t)rnd() : (uint8_t)(b[at] ^ (1u << (rnd() % 8)));
			}
			if (rnd() % 8 == 0)
				len = rnd() % len; /* cut short too */
			parse_guarded(st, &g, fdir[f], b, len, NULL);
		}
		end_flow(st, IW_END_FIN);
		P.state_free(st);
	}
	discard = false;
	guard_free(&g);
}

/* Each test starts keeping its events, whatever the one before it left. */
static int setup(void **state)
{
	(void)state;
	discard = false;
	return 0;
}

int main(void)
{
	struct iw_x509 *x = calloc(1, sizeof(*x));
	if (!x)
		return 1;
	x509_decodes = iw_x509_parse(bench_cert_cli_gw, sizeof(bench_cert_cli_gw), x) == 0;
	x509_hashes = x->sha256[0] != '\0';
	free(x);
	if (!x509_decodes)
		printf("note: iw_x509_parse cannot decode the test certificates (parsers/x509.c a stub?): "
		       "subject and%s sha256 checks of certificate events skipped\n",
		       x509_hashes ? " not" : "");

#define T(f) cmocka_unit_test_setup(f, setup)
	const struct CMUnitTest tests[] = {
	    T(test_names),
	    T(test_probe),
	    T(test_client_hello_12),
	    T(test_no_fingerprints),
	    T(test_client_hello_13),
	    T(test_hello_retry_request),
	    T(test_resumption),
	    T(test_ja4_alpn),
	    T(test_hello_variants),
	    T(test_bad_hellos),
	    T(test_second_hello_no_leftovers),
	    T(test_certificates),
	    T(test_client_certificate),
	    T(test_certificate_fewer_after_more),
	    T(test_certificate_request_tls11),
	    T(test_certificate_limits),
	    T(test_alert_clear),
	    T(test_alert_encrypted),
	    T(test_end_no_server_hello),
	    T(test_end_alert),
	    T(test_end_tls12_complete),
	    T(test_end_tls13),
	    T(test_end_reasons_and_gaps),
	    T(test_byte_by_byte),
	    T(test_split_everywhere),
	    T(test_messages_across_records),
	    T(test_bad_record),
	    T(test_handshake_too_large),
	    T(test_prefixes_guarded),
	    T(test_random_bytes),
	    /* known bugs in parsers/tls.c: these fail until it is fixed */
	    T(test_ja4_alpn_control_byte),
	    T(test_ja4_alpn_longer_than_64),
	    T(test_tls13_early_data_after_ccs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
