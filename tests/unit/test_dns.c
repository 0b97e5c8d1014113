/* test_dns.c - the DNS decoder (parsers/dns.c) and its record (exporters/rec_dns.c):
 * questions and answers of every type with a text form, name compression, malformed
 * names and pointers, every truncated prefix flush against a guard page, TCP framing,
 * the answer and arena limits, escaping, and the exact JSON of the "dns" object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <netinet/in.h>

#include "exporters/json.h"
#include "exporters/record.h"
#include "guard.h"
#include "parsers/event.h"
#include "parsers/parser.h"

extern const struct iw_parser iw_parser_dns, iw_parser_dns_tcp;

/* ---- what the parser reported, copied out of each event ---- */

struct seen_rr {
	char rrname[1100], rdata[1100];
	bool has_rdata;
	uint16_t rrtype, rrclass;
	uint32_t ttl;
	uint8_t family, addr[16];
	const char *rrname_at, *rdata_at; /* where the strings were, to see sharing */
};

struct seen {
	struct iw_ev_dns e; /* pointers in it are stale after the emit */
	char rrname[1100];
	bool has_rrname;
	struct seen_rr rr[IW_DNS_MAX_ANSWERS];
	char json[24576]; /* the "dns" object as rec_dns.c writes it */
};

static struct seen evs[4];
static unsigned n_evs, n_anom;
static const char *last_anom;

static void cp(char *dst, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	assert_true(n < cap);
	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

static void dns_object(struct iw_event *ev, char *out, size_t cap)
{
	struct iw_json j;
	iw_json_init(&j);
	iw_json_obj_begin(&j, NULL);
	iw_rec_dns(&j, ev);
	iw_json_obj_end(&j);
	assert_true(j.len < cap);
	memcpy(out, j.buf, j.len);
	out[j.len] = '\0';
	iw_json_free(&j);
}

static void on_emit(struct iw_parse_ctx *ctx, struct iw_event *ev)
{
	(void)ctx;
	assert_int_equal(ev->kind, IW_EV_DNS);
	struct seen *s = &evs[n_evs % 4];
	n_evs++;
	const struct iw_ev_dns *e = &ev->u.dns;
	s->e = *e;
	s->has_rrname = e->rrname != NULL;
	cp(s->rrname, sizeof(s->rrname), e->rrname);
	assert_true(e->n_answers <= IW_DNS_MAX_ANSWERS);
	assert_true(e->n_answers == 0 || e->answers != NULL);
	for (unsigned i = 0; i < e->n_answers; i++) {
		const struct iw_dns_rr *a = &e->answers[i];
		struct seen_rr *r = &s->rr[i];
		assert_non_null(a->rrname);
		cp(r->rrname, sizeof(r->rrname), a->rrname);
		r->has_rdata = a->rdata != NULL;
		cp(r->rdata, sizeof(r->rdata), a->rdata);
		r->rrtype = a->rrtype;
		r->rrclass = a->rrclass;
		r->ttl = a->ttl;
		r->family = a->family;
		memcpy(r->addr, a->addr, 16);
		r->rrname_at = a->rrname;
		r->rdata_at = a->rdata;
	}
	dns_object(ev, s->json, sizeof(s->json));
}

static void on_anomaly(struct iw_parse_ctx *ctx, const char *reason)
{
	(void)ctx;
	n_anom++;
	last_anom = reason;
}

static void on_identity(struct iw_parse_ctx *ctx, enum iw_identity kind, const char *s, size_t n)
{
	(void)ctx;
	(void)kind;
	(void)s;
	(void)n;
	fail_msg("dns reports no identity");
}

static struct iw_flow_key udp_key = {.sport = 40000, .dport = 53, .family = 4, .proto = IPPROTO_UDP};
static struct iw_flow_key tcp_key = {.sport = 40000, .dport = 53, .family = 4, .proto = IPPROTO_TCP};

static struct iw_parse_ctx ctx = {
    .ts_us = 1000000, .flow_id = 1, .emit = on_emit, .anomaly = on_anomaly, .identity = on_identity};

static struct iw_parser_cfg cfg = {.max_message = 65536, .max_items = 64, .payload_preview = 0};

static void reset(void)
{
	n_evs = n_anom = 0;
	last_anom = NULL;
}

static void *fresh(const struct iw_parser *p)
{
	reset();
	ctx.key = p == &iw_parser_dns_tcp ? &tcp_key : &udp_key;
	return p->state_new ? p->state_new(&cfg) : NULL; /* the UDP descriptor keeps none */
}

/* One datagram through the UDP descriptor, from an exact-size heap copy. */
static int udp(const uint8_t *b, size_t n)
{
	void *st = fresh(&iw_parser_dns);
	uint8_t *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	if (n)
		memcpy(copy, b, n);
	int rc = iw_parser_dns.parse(st, &ctx, IW_DIR_TOCLIENT, copy, n);
	free(copy);
	if (iw_parser_dns.state_free)
		iw_parser_dns.state_free(st);
	return rc;
}
#define UDP(arr) udp(arr, sizeof(arr))

/* ---- samples ---- */

#define WWW_EXAMPLE_COM 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0
#define EXAMPLE_COM     7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0

/* dig www.example.com A */
static const uint8_t q_www[] = {
    0x12,
    0x34, /* id */
    0x01,
    0x00, /* RD */
    0x00,
    0x01, /* one question */
    0x00,
    0x00, /* no answer */
    0x00,
    0x00, /* no authority */
    0x00,
    0x00,            /* no additional */
    WWW_EXAMPLE_COM, /* 12: www.example.com, 17 bytes */
    0x00,
    0x01, /* A */
    0x00,
    0x01, /* IN */
};

/* Its answer: www.example.com CNAME edge.example.net CNAME x.cdn.example, two A records,
 * each owner a pointer to the name before it. */
static const uint8_t a_chain[] = {
    0x12,
    0x34, /* id */
    0x81,
    0x80, /* QR RD RA, NOERROR */
    0x00,
    0x01, /* one question */
    0x00,
    0x04, /* four answers */
    0x00,
    0x00,
    0x00,
    0x00,            /* no authority, no additional */
    WWW_EXAMPLE_COM, /* 12: www.example.com */
    0x00,
    0x01,
    0x00,
    0x01, /* A IN */
    0xc0,
    0x0c, /* 33: -> 12 www.example.com */
    0x00,
    0x05,
    0x00,
    0x01, /* CNAME IN */
    0x00,
    0x00,
    0x01,
    0x2c, /* ttl 300 */
    0x00,
    0x12, /* rdlength 18 */
    4,
    'e',
    'd',
    'g',
    'e', /* 45: edge */
    7,
    'e',
    'x',
    'a',
    'm',
    'p',
    'l',
    'e', /* example */
    3,
    'n',
    'e',
    't',
    0, /* net */
    0xc0,
    0x2d, /* 63: -> 45 edge.example.net */
    0x00,
    0x05,
    0x00,
    0x01, /* CNAME IN */
    0x00,
    0x00,
    0x00,
    0x3c, /* ttl 60 */
    0x00,
    0x0f, /* rdlength 15 */
    1,
    'x', /* 75: x */
    3,
    'c',
    'd',
    'n', /* cdn */
    7,
    'e',
    'x',
    'a',
    'm',
    'p',
    'l',
    'e',
    0, /* example */
    0xc0,
    0x4b, /* 90: -> 75 x.cdn.example */
    0x00,
    0x01,
    0x00,
    0x01, /* A IN */
    0x00,
    0x00,
    0x00,
    0x14, /* ttl 20 */
    0x00,
    0x04,
    192,
    0,
    2,
    1, /* 192.0.2.1 */
    0xc0,
    0x4b, /* 106: -> 75 */
    0x00,
    0x01,
    0x00,
    0x01, /* A IN */
    0x00,
    0x00,
    0x00,
    0x14, /* ttl 20 */
    0x00,
    0x04,
    192,
    0,
    2,
    2, /* 192.0.2.2 */
};

/* www.example.com AAAA 2001:db8::1 */
static const uint8_t a_aaaa[] = {
    0x00,
    0x07,
    0x81,
    0x80,
    0x00,
    0x01,
    0x00,
    0x01,
    0x00,
    0x00,
    0x00,
    0x00, /* header */
    WWW_EXAMPLE_COM,
    0x00,
    0x1c,
    0x00,
    0x01, /* AAAA IN */
    0xc0,
    0x0c, /* -> www.example.com */
    0x00,
    0x1c,
    0x00,
    0x01, /* AAAA IN */
    0x00,
    0x00,
    0x0e,
    0x10, /* ttl 3600 */
    0x00,
    0x10, /* rdlength 16 */
    0x20,
    0x01,
    0x0d,
    0xb8,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0x01, /* 2001:db8::1 */
};

/* example.com MX 10 mail.example.com, the exchange as a label and a pointer */
static const uint8_t a_mx[] = {
    0x00,        0x08, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* header */
    EXAMPLE_COM,                                                                   /* 12: example.com */
    0x00,        0x0f, 0x00, 0x01,                                                 /* MX IN */
    0xc0,        0x0c,                                                             /* -> example.com */
    0x00,        0x0f, 0x00, 0x01,                                                 /* MX IN */
    0x00,        0x00, 0x01, 0x2c,                                                 /* ttl 300 */
    0x00,        0x09,                                                             /* rdlength 9 */
    0x00,        0x0a,                                                             /* preference 10 */
    4,           'm',  'a',  'i',  'l',                                            /* mail */
    0xc0,        0x0c,                                                             /* -> example.com */
};

/* example.com TXT "v=spf1 -all" "hello" */
static const uint8_t a_txt[] = {
    0x00,        0x09, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* header */
    EXAMPLE_COM, 0x00, 0x10, 0x00, 0x01,                                           /* TXT IN */
    0xc0,        0x0c,                                                             /* -> example.com */
    0x00,        0x10, 0x00, 0x01,                                                 /* TXT IN */
    0x00,        0x00, 0x00, 0x3c,                                                 /* ttl 60 */
    0x00,        0x12,                                                             /* rdlength 18 */
    11,          'v',  '=',  's',  'p',  'f',  '1',  ' ',  '-',  'a',  'l',  'l',  /* first string */
    5,           'h',  'e',  'l',  'l',  'o',                                      /* second string */
};

/* _mqtt._tcp.example.com SRV 10 5 8883 broker.example.com */
static const uint8_t a_srv[] = {
    0x00,        0x0a, 0x84, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* header: QR AA */
    5,           '_',  'm',  'q',  't',  't',                                      /* 12: _mqtt */
    4,           '_',  't',  'c',  'p',                                            /* 18: _tcp */
    EXAMPLE_COM,                                                                   /* 23: example.com */
    0x00,        0x21, 0x00, 0x01,                                                 /* SRV IN */
    0xc0,        0x0c,                              /* -> _mqtt._tcp.example.com */
    0x00,        0x21, 0x80, 0x01,                  /* SRV, IN with the mDNS cache-flush bit */
    0x00,        0x00, 0x00, 0x78,                  /* ttl 120 */
    0x00,        0x0f,                              /* rdlength 15 */
    0x00,        0x0a, 0x00, 0x05, 0x22, 0xb3,      /* priority 10, weight 5, port 8883 */
    6,           'b',  'r',  'o',  'k',  'e',  'r', /* broker */
    0xc0,        0x17,                              /* -> 23 example.com */
};

/* 1.2.0.192.in-addr.arpa PTR host.example.com */
static const uint8_t a_ptr[] = {
    0x00, 0x0b, 0x81, 0x80, 0x00, 0x01,        0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* header */
    1,    '1',  1,    '2',  1,    '0',         3,    '1',  '9',  '2',              /* 1.2.0.192 */
    7,    'i',  'n',  '-',  'a',  'd',         'd',  'r',                          /* in-addr */
    4,    'a',  'r',  'p',  'a',  0,                                               /* arpa */
    0x00, 0x0c, 0x00, 0x01,                                                        /* PTR IN */
    0xc0, 0x0c,                                                                    /* -> the question */
    0x00, 0x0c, 0x00, 0x01,                                                        /* PTR IN */
    0x00, 0x01, 0x51, 0x80,                                                        /* ttl 86400 */
    0x00, 0x12,                                                                    /* rdlength 18 */
    4,    'h',  'o',  's',  't',  EXAMPLE_COM,                                     /* host.example.com */
};

/* nope.example.com A: NXDOMAIN with the zone's SOA in the authority section */
static const uint8_t a_nx[] = {
    0x00, 0x0c, 0x81, 0x83,                                /* QR RD RA, NXDOMAIN */
    0x00, 0x01, 0x00, 0x00,                                /* one question, no answer */
    0x00, 0x01, 0x00, 0x00,                                /* one authority */
    4,    'n',  'o',  'p',  'e',  EXAMPLE_COM,             /* 12: nope, 17: example.com */
    0x00, 0x01, 0x00, 0x01,                                /* A IN */
    0xc0, 0x11,                                            /* -> 17 example.com */
    0x00, 0x06, 0x00, 0x01,                                /* SOA IN */
    0x00, 0x00, 0x03, 0x84,                                /* ttl 900 */
    0x00, 0x20,                                            /* rdlength 32 */
    2,    'n',  's',  0xc0, 0x11,                          /* mname ns.example.com */
    4,    'h',  'o',  's',  't',  0xc0,        0x11,       /* rname host.example.com */
    0,    0,    0,    1,    0,    0,           0x0e, 0x10, /* serial, refresh */
    0,    0,    0x02, 0x58, 0,    0x09,        0x3a, 0x80, /* retry, expire */
    0,    0,    0x03, 0x84,                                /* minimum */
};

/* ---- the records ---- */

static void test_query(void **state)
{
	(void)state;
	assert_int_equal(UDP(q_www), IW_OK);
	assert_int_equal(n_evs, 1);
	assert_int_equal(n_anom, 0);
	const struct seen *s = &evs[0];
	assert_int_equal(s->e.type, IW_DNS_QUERY);
	assert_int_equal(s->e.id, 0x1234);
	assert_int_equal(s->e.flags, 0x0100);
	assert_false(s->e.tcp);
	assert_string_equal(s->rrname, "www.example.com");
	assert_int_equal(s->e.rrtype, 1);
	assert_int_equal(s->e.rrclass, 1);
	assert_int_equal(s->e.n_questions, 1);
	assert_int_equal(s->e.n_answers, 0);
	assert_string_equal(s->json, "{\"type\":\"query\",\"id\":4660,\"flags\":\"0100\",\"rd\":true,"
	                             "\"rrname\":\"www.example.com\",\"rrtype\":\"A\"}");
	/* the probes agree */
	assert_int_equal(iw_parser_dns.probe(q_www, sizeof(q_www), 0), IW_OK);
	assert_int_equal(iw_parser_dns.probe(a_chain, sizeof(a_chain), 1), IW_OK);
}

static void test_cname_chain(void **state)
{
	(void)state;
	assert_int_equal(UDP(a_chain), IW_OK);
	assert_int_equal(n_evs, 1);
	assert_int_equal(n_anom, 0);
	const struct seen *s = &evs[0];
	assert_int_equal(s->e.type, IW_DNS_ANSWER);
	assert_int_equal(s->e.rcode, 0);
	assert_int_equal(s->e.n_answers, 4);
	assert_int_equal(s->e.answers_dropped, 0);
	static const char *const names[] = {"www.example.com", "edge.example.net", "x.cdn.example",
	                                    "x.cdn.example"};
	static const char *const rdata[] = {"edge.example.net", "x.cdn.example", "192.0.2.1", "192.0.2.2"};
	static const uint16_t types[] = {5, 5, 1, 1};
	static const uint32_t ttls[] = {300, 60, 20, 20};
	for (unsigned i = 0; i < 4; i++) {
		assert_string_equal(s->rr[i].rrname, names[i]);
		assert_string_equal(s->rr[i].rdata, rdata[i]);
		assert_int_equal(s->rr[i].rrtype, types[i]);
		assert_int_equal(s->rr[i].ttl, ttls[i]);
		assert_int_equal(s->rr[i].rrclass, 1);
	}
	assert_int_equal(s->rr[2].family, 4);
	assert_memory_equal(s->rr[3].addr, ((const uint8_t[]){192, 0, 2, 2}), 4);
	/* a chain's names are stored once */
	assert_ptr_equal(s->rr[1].rrname_at, s->rr[0].rdata_at);
	assert_ptr_equal(s->rr[3].rrname_at, s->rr[2].rrname_at);
	assert_string_equal(
	    s->json,
	    "{\"type\":\"answer\",\"id\":4660,\"flags\":\"8180\",\"qr\":true,\"rd\":true,\"ra\":true,"
	    "\"rrname\":\"www.example.com\",\"rrtype\":\"A\",\"rcode\":\"NOERROR\",\"answers\":["
	    "{\"rrname\":\"www.example.com\",\"rrtype\":\"CNAME\",\"ttl\":300,\"rdata\":\"edge.example.net\"}"
	    ","
	    "{\"rrname\":\"edge.example.net\",\"rrtype\":\"CNAME\",\"ttl\":60,\"rdata\":\"x.cdn.example\"},"
	    "{\"rrname\":\"x.cdn.example\",\"rrtype\":\"A\",\"ttl\":20,\"rdata\":\"192.0.2.1\"},"
	    "{\"rrname\":\"x.cdn.example\",\"rrtype\":\"A\",\"ttl\":20,\"rdata\":\"192.0.2.2\"}],"
	    "\"grouped\":{\"CNAME\":[\"edge.example.net\",\"x.cdn.example\"],"
	    "\"A\":[\"192.0.2.1\",\"192.0.2.2\"]}}");
}

static void test_types(void **state)
{
	(void)state;
	assert_int_equal(UDP(a_aaaa), IW_OK);
	assert_int_equal(evs[0].rr[0].rrtype, 28);
	assert_string_equal(evs[0].rr[0].rdata, "2001:db8::1");
	assert_int_equal(evs[0].rr[0].family, 6);
	assert_int_equal(evs[0].rr[0].addr[15], 1);
	assert_int_equal(evs[0].rr[0].ttl, 3600);
	assert_non_null(strstr(evs[0].json, "\"grouped\":{\"AAAA\":[\"2001:db8::1\"]}"));

	assert_int_equal(UDP(a_mx), IW_OK);
	assert_string_equal(evs[0].rrname, "example.com");
	assert_string_equal(evs[0].rr[0].rrname, "example.com");
	assert_string_equal(evs[0].rr[0].rdata, "mail.example.com");
	assert_int_equal(evs[0].rr[0].family, 0);

	assert_int_equal(UDP(a_txt), IW_OK);
	assert_string_equal(evs[0].rr[0].rdata, "v=spf1 -all hello");

	assert_int_equal(UDP(a_srv), IW_OK);
	assert_string_equal(evs[0].rrname, "_mqtt._tcp.example.com");
	assert_string_equal(evs[0].rr[0].rdata, "10 5 8883 broker.example.com");
	assert_int_equal(evs[0].rr[0].rrclass, 1); /* cache-flush bit masked */
	assert_string_equal(
	    evs[0].json, "{\"type\":\"answer\",\"id\":10,\"flags\":\"8400\",\"qr\":true,\"aa\":true,"
	                 "\"rrname\":\"_mqtt._tcp.example.com\",\"rrtype\":\"SRV\",\"rcode\":\"NOERROR\","
	                 "\"answers\":[{\"rrname\":\"_mqtt._tcp.example.com\",\"rrtype\":\"SRV\",\"ttl\":120,"
	                 "\"rdata\":\"10 5 8883 broker.example.com\"}],"
	                 "\"grouped\":{\"SRV\":[\"10 5 8883 broker.example.com\"]}}");

	assert_int_equal(UDP(a_ptr), IW_OK);
	assert_string_equal(evs[0].rrname, "1.2.0.192.in-addr.arpa");
	assert_string_equal(evs[0].rr[0].rdata, "host.example.com");
	assert_int_equal(evs[0].rr[0].ttl, 86400);
	assert_int_equal(n_anom, 0);
}

static void test_nxdomain(void **state)
{
	(void)state;
	assert_int_equal(UDP(a_nx), IW_OK);
	assert_int_equal(n_anom, 0);
	const struct seen *s = &evs[0];
	assert_int_equal(s->e.rcode, 3);
	assert_int_equal(s->e.n_answers, 0);
	assert_int_equal(s->e.n_authorities, 1);
	assert_string_equal(s->rrname, "nope.example.com");
	assert_string_equal(s->json,
	                    "{\"type\":\"answer\",\"id\":12,\"flags\":\"8183\",\"qr\":true,\"rd\":true,"
	                    "\"ra\":true,\"rrname\":\"nope.example.com\",\"rrtype\":\"A\","
	                    "\"rcode\":\"NXDOMAIN\",\"authorities\":1}");
}

/* A record type without a text form keeps its type and ttl; a type without a mnemonic is
 * written as a number; opcode and an unnamed rcode too. */
static void test_other_types(void **state)
{
	(void)state;
	static const uint8_t m[] = {
	    0x00,        0x0d, 0xaa, 0x0b,                         /* QR, opcode 5 (UPDATE), TC, rcode 11 */
	    0x00,        0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, /* one question, two answers */
	    EXAMPLE_COM,                                           /* 12 */
	    0xff,        0x00, 0x00, 0x01,                         /* type 65280 (private use), IN */
	    0xc0,        0x0c, 0xff, 0x00, 0x00, 0x01,             /* type 65280 IN */
	    0x00,        0x00, 0x00, 0x05, 0x00, 0x02, 0xab, 0xcd, /* ttl 5, two bytes */
	    0xc0,        0x0c, 0x00, 0x06, 0x00, 0x01,             /* SOA IN */
	    0x00,        0x00, 0x00, 0x07, 0x00, 0x00,             /* ttl 7, empty rdata */
	};
	assert_int_equal(UDP(m), IW_OK);
	const struct seen *s = &evs[0];
	assert_int_equal(s->e.opcode, 5);
	assert_int_equal(s->e.n_answers, 2);
	assert_false(s->rr[0].has_rdata);
	assert_int_equal(s->rr[1].rrtype, 6);
	assert_int_equal(s->rr[1].ttl, 7);
	assert_string_equal(
	    s->json, "{\"type\":\"answer\",\"id\":13,\"flags\":\"aa0b\",\"qr\":true,\"tc\":true,"
	             "\"opcode\":5,\"rrname\":\"example.com\",\"rrtype\":65280,\"rcode\":\"DSOTYPENI\","
	             "\"answers\":[{\"rrname\":\"example.com\",\"rrtype\":65280,\"ttl\":5},"
	             "{\"rrname\":\"example.com\",\"rrtype\":\"SOA\",\"ttl\":7}]}");
	assert_null(iw_dns_rcode_name(12));
	assert_null(iw_dns_rrtype_name(65280));
	assert_string_equal(iw_dns_rrtype_name(65), "HTTPS");
	assert_string_equal(iw_dns_rcode_name(5), "REFUSED");
}

/* A message with no question (mDNS announcements) and the root name. */
static void test_no_question(void **state)
{
	(void)state;
	static const uint8_t m[] = {
	    0x00, 0x00, 0x84, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* QR AA, one answer */
	    0x00,                                                                   /* root */
	    0x00, 0x01, 0x80, 0x01,                                                 /* A, IN + cache flush */
	    0x00, 0x00, 0x00, 0x78, 0x00, 0x04, 10,   0,    0,    1,                /* 10.0.0.1 */
	};
	assert_int_equal(UDP(m), IW_OK);
	assert_false(evs[0].has_rrname);
	assert_string_equal(evs[0].rr[0].rrname, ".");
	assert_string_equal(evs[0].rr[0].rdata, "10.0.0.1");
	assert_null(strstr(evs[0].json, "\"rrname\":\"\""));
	assert_non_null(strstr(evs[0].json, "\"rcode\":\"NOERROR\",\"answers\":[{\"rrname\":\".\""));
}

/* ---- malformed ---- */

static void check_bad(const uint8_t *b, size_t n, const char *reason, unsigned events)
{
	assert_int_equal(udp(b, n), IW_ERR);
	assert_int_equal(n_anom, 1);
	assert_string_equal(last_anom, reason);
	assert_int_equal(n_evs, events);
}

static void test_pointer_loops(void **state)
{
	(void)state;
	/* the question name is a pointer to itself */
	static const uint8_t self[] = {0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00,
	                               0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x0c, /* 12: -> 12 */
	                               0x00, 0x01, 0x00, 0x01};
	check_bad(self, sizeof(self), "dns.bad_pointer", 0);
	/* a label, then a pointer back to that label: a ring */
	static const uint8_t ring[] = {0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00,
	                               0x00, 0x00, 0x00, 0x00, 1,    'a',  0xc0, 0x0c, /* 12: a, -> 12 */
	                               0x00, 0x01, 0x00, 0x01};
	check_bad(ring, sizeof(ring), "dns.bad_pointer", 0);
	/* two answers pointing at each other */
	static const uint8_t pair[] = {
	    0x00, 0x01, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 1, 'a', 0, /* 12: a */
	    0x00, 0x01, 0x00, 0x01,                                                            /* A IN */
	    0xc0, 0x23, /* 19: -> 35 (forward) */
	    0x00, 0x01, 0x00, 0x01, 0,    0,    0,    1,    0x00, 0x04, 1,    2,    3, 4, /* A 1.2.3.4 */
	    0xc0, 0x13,                                                                   /* 35: -> 19 */
	    0x00, 0x01, 0x00, 0x01, 0,    0,    0,    1,    0x00, 0x04, 1,    2,    3, 5, /* A 1.2.3.5 */
	};
	check_bad(pair, sizeof(pair), "dns.bad_pointer", 0);
}

/* suricata-verify's dns-forward-pointer: the first question points at the second. */
static void test_forward_pointer(void **state)
{
	(void)state;
	static const uint8_t m[] = {
	    0x8e, 0x04, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* two questions */
	    0xc0, 0x12,                                                             /* 12: -> 18 */
	    0x00, 0x01, 0x00, 0x01,                                                 /* A IN */
	    10,   'c',  'o',  'd',  'e',  'm',  'o',  'n',  'k',  'e',  'y',        /* 18 */
	    3,    'n',  'e',  't',  0,    0x00, 0x01, 0x00, 0x01,
	};
	check_bad(m, sizeof(m), "dns.bad_pointer", 0);
	assert_int_equal(iw_parser_dns.probe(m, sizeof(m), 0), IW_ERR);
}

/* Pointer chains: each answer's owner points at the one before it (zeek's
 * max-compression-depth), depth n for the n-th. 64 hops are followed, 65 are not. */
static size_t chain(uint8_t *b, unsigned n)
{
	static const uint8_t head[] = {0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	                               0x00, 0x00, 1,    'a',  0,    0x00, 0x01, 0x00, 0x01};
	memcpy(b, head, sizeof(head));
	b[7] = (uint8_t)n;
	size_t at = sizeof(head), prev = 12;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t rr[] = {(uint8_t)(0xc0 | prev >> 8),
		                      (uint8_t)prev,
		                      0,
		                      1,
		                      0,
		                      1,
		                      0,
		                      0,
		                      1,
		                      0x2c,
		                      0,
		                      4,
		                      127,
		                      0,
		                      0,
		                      (uint8_t)(i + 1)};
		memcpy(b + at, rr, sizeof(rr));
		prev = at;
		at += sizeof(rr);
	}
	return at;
}

static void test_hop_limit(void **state)
{
	(void)state;
	uint8_t b[2048];
	size_t n = chain(b, 7); /* zeek's capture */
	assert_int_equal(udp(b, n), IW_OK);
	assert_int_equal(evs[0].e.n_answers, 7);
	assert_string_equal(evs[0].rr[6].rrname, "a");
	n = chain(b, 64);
	assert_int_equal(udp(b, n), IW_OK);
	assert_int_equal(evs[0].e.n_answers, IW_DNS_MAX_ANSWERS);
	assert_int_equal(evs[0].e.answers_dropped, 64 - IW_DNS_MAX_ANSWERS);
	n = chain(b, 65);
	check_bad(b, n, "dns.bad_pointer", 0);
}

/* Labels of 64 and more (length bytes 0x40-0xbf) and names over 255 bytes. */
static size_t long_name(uint8_t *b, const unsigned *labels, unsigned n_labels)
{
	static const uint8_t head[] = {0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(b, head, sizeof(head));
	size_t at = sizeof(head);
	for (unsigned i = 0; i < n_labels; i++) {
		b[at++] = (uint8_t)labels[i];
		memset(b + at, 'a' + (int)i, labels[i]);
		at += labels[i];
	}
	b[at++] = 0;
	const uint8_t tail[] = {0, 1, 0, 1};
	memcpy(b + at, tail, sizeof(tail));
	return at + sizeof(tail);
}

static void test_name_limits(void **state)
{
	(void)state;
	uint8_t b[1024];
	static const unsigned l64[] = {64};
	check_bad(b, long_name(b, l64, 1), "dns.bad_name", 0);
	static const unsigned l63[] = {63};
	assert_int_equal(udp(b, long_name(b, l63, 1)), IW_OK);
	assert_int_equal(strlen(evs[0].rrname), 63);
	/* 64 + 64 + 64 + 62 + 1 = 255 bytes: the longest name */
	static const unsigned max[] = {63, 63, 63, 61};
	assert_int_equal(udp(b, long_name(b, max, 4)), IW_OK);
	assert_int_equal(strlen(evs[0].rrname), 63 * 3 + 61 + 3);
	static const unsigned over[] = {63, 63, 63, 62};
	check_bad(b, long_name(b, over, 4), "dns.bad_name", 0);
	static const unsigned five[] = {63, 63, 63, 63, 63};
	check_bad(b, long_name(b, five, 5), "dns.bad_name", 0);
	/* over 255 only through a pointer: the answer's owner is 198 bytes + the question's 102 */
	uint8_t m[1024];
	static const unsigned q[] = {50, 49};
	size_t n = long_name(m, q, 2);
	m[5] = 1; /* qd 1 */
	m[7] = 1; /* an 1 */
	m[2] = 0x81;
	static const uint8_t owner[] = {63, 63, 63, 5}; /* 198 bytes, then the pointer */
	size_t at = n;
	for (unsigned i = 0; i < sizeof(owner); i++) {
		m[at++] = owner[i];
		memset(m + at, 'z', owner[i]);
		at += owner[i];
	}
	m[at++] = 0xc0;
	m[at++] = 12;
	const uint8_t rest[] = {0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4};
	memcpy(m + at, rest, sizeof(rest));
	at += sizeof(rest);
	check_bad(m, at, "dns.bad_name", 0);
	/* an extended label type (0x80) */
	static const uint8_t ext[] = {0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x81, 'a', 0, 0, 1, 0, 1};
	check_bad(ext, sizeof(ext), "dns.bad_name", 0);
}

/* rdata that does not match its type: no event. */
static void test_bad_rdata(void **state)
{
	(void)state;
	uint8_t m[sizeof(a_aaaa)];
	memcpy(m, a_aaaa, sizeof(m));
	m[sizeof(m) - 17] = 15; /* rdlength 15 for AAAA: the last byte is left over */
	check_bad(m, sizeof(m) - 1, "dns.bad_rdata", 0);
	uint8_t x[sizeof(a_mx)];
	memcpy(x, a_mx, sizeof(x));
	x[sizeof(x) - 10] = 8; /* rdlength 8: the exchange's pointer runs past it */
	check_bad(x, sizeof(x), "dns.bad_rdata", 0);
	static const uint8_t txt[] = {
	    0,    1,    0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, EXAMPLE_COM, 0,   16,  0, 1,
	    0xc0, 0x0c, 0,    16,   0, 1, 0, 0, 0, 1, 0, 3, 5,           'a', 'b', /* a string of 5 in 3 bytes
	                                                                            */
	};
	check_bad(txt, sizeof(txt), "dns.bad_rdata", 0);
}

/* A message broken after its answers is still reported, with the anomaly (the capture
 * suricata-verify dns-corrupt-additionals: an OPT record cut short). */
static void test_broken_authority(void **state)
{
	(void)state;
	uint8_t m[sizeof(a_nx) + 2];
	memcpy(m, a_nx, sizeof(a_nx));
	m[11] = 1; /* one additional, which is not there */
	check_bad(m, sizeof(a_nx), "dns.truncated", 1);
	assert_string_equal(evs[0].rrname, "nope.example.com");
	assert_int_equal(evs[0].e.n_additionals, 1);
	/* an authority owner that is a forward pointer */
	memcpy(m, a_nx, sizeof(a_nx));
	m[34] = 0xc0;
	m[35] = 0x30;
	check_bad(m, sizeof(a_nx), "dns.bad_pointer", 1);
	/* and in the answers: nothing */
	memcpy(m, a_chain, 64);
	check_bad(m, 50, "dns.truncated", 0);
	check_bad(m, 5, "dns.truncated", 0);
	check_bad(m, 0, "dns.truncated", 0);
}

/* Label bytes outside [0-9A-Za-z-_] as \DDD; TXT bytes outside printable ASCII too. */
static void test_escaping(void **state)
{
	(void)state;
	static const uint8_t m[] = {
	    0x00, 0x01, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	    9,    'a',  ' ',  '.',  0x00, 0xff, '\\', '"',  '_',  '-',              /* 12: an odd label */
	    2,    'Z',  '9',  0,                                                    /* Z9, root */
	    0x00, 0x10, 0x00, 0x01,                                                 /* TXT IN */
	    0xc0, 0x0c, 0x00, 0x10, 0x00, 0x01, 0,    0,    0,    1,    0x00, 0x08, /* TXT, rdlength 8 */
	    3,    'a',  '"',  '\\', 3,    0x00, 0x0a, 0xe9,                         /* two strings */
	};
	assert_int_equal(UDP(m), IW_OK);
	assert_string_equal(evs[0].rrname, "a\\032\\046\\000\\255\\092\\034_-.Z9");
	assert_string_equal(evs[0].rr[0].rdata, "a\"\\092 \\000\\010\\233");
	assert_non_null(
	    strstr(evs[0].json, "\"rrname\":\"a\\\\032\\\\046\\\\000\\\\255\\\\092\\\\034_-.Z9\""));
	assert_non_null(strstr(evs[0].json, "\"rdata\":\"a\\\"\\\\092 \\\\000\\\\010\\\\233\""));
}

/* More answers than IW_DNS_MAX_ANSWERS: the first ones are kept, the rest counted. */
static void test_answer_limit(void **state)
{
	(void)state;
	uint8_t b[2048];
	static const uint8_t head[] = {0x00, 0x02, 0x81, 0x80, 0x00, 0x01, 0x00, 40,   0x00, 0x00,
	                               0x00, 0x00, 1,    'a',  0,    0x00, 0x01, 0x00, 0x01};
	memcpy(b, head, sizeof(head));
	size_t at = sizeof(head);
	for (unsigned i = 0; i < 40; i++) {
		const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 9, 0, 4, 10, 0, 0, (uint8_t)i};
		memcpy(b + at, rr, sizeof(rr));
		at += sizeof(rr);
	}
	assert_int_equal(udp(b, at), IW_OK);
	assert_int_equal(evs[0].e.n_answers, IW_DNS_MAX_ANSWERS);
	assert_int_equal(evs[0].e.answers_dropped, 40 - IW_DNS_MAX_ANSWERS);
	assert_string_equal(evs[0].rr[31].rdata, "10.0.0.31");
	assert_non_null(strstr(evs[0].json, "\"10.0.0.31\"]},\"answers_dropped\":8}"));
}

/* Answers whose text no longer fits in the per-flow arena are counted as dropped. */
static void test_arena_full(void **state)
{
	(void)state;
	static uint8_t b[8192];
	static const uint8_t head[] = {0x00, 0x03, 0x81, 0x80, 0x00, 0x01, 0x00, 20,   0x00, 0x00,
	                               0x00, 0x00, 1,    't',  0,    0x00, 0x10, 0x00, 0x01};
	memcpy(b, head, sizeof(head));
	size_t at = sizeof(head);
	for (unsigned i = 0; i < 20; i++) {
		const uint8_t rr[] = {0xc0, 0x0c, 0, 16,   0,    1,   0,
		                      0,    0,    9, 0x01, 0x00, 0xff}; /* rdlength 256 */
		memcpy(b + at, rr, sizeof(rr));
		at += sizeof(rr);
		memset(b + at, 1 + (int)i, 255); /* 255 control bytes: 1020 characters escaped */
		at += 255;
	}
	assert_int_equal(udp(b, at), IW_OK);
	assert_int_equal(n_anom, 0);
	assert_true(evs[0].e.answers_dropped > 0);
	assert_int_equal(evs[0].e.n_answers + evs[0].e.answers_dropped, 20);
	assert_int_equal(strlen(evs[0].rr[0].rdata), 1020);
}

/* ---- TCP ---- */

/* a_chain with its length prefix, then q_www with its own */
static uint8_t two[2 + sizeof(a_chain) + 2 + sizeof(q_www)];

static size_t build_two(void)
{
	size_t at = 0;
	two[at++] = 0;
	two[at++] = sizeof(a_chain);
	memcpy(two + at, a_chain, sizeof(a_chain));
	at += sizeof(a_chain);
	two[at++] = 0;
	two[at++] = sizeof(q_www);
	memcpy(two + at, q_www, sizeof(q_www));
	return at + sizeof(q_www);
}

static void test_tcp_two_in_one(void **state)
{
	(void)state;
	size_t n = build_two();
	void *st = fresh(&iw_parser_dns_tcp);
	int rc = iw_parser_dns_tcp.parse(st, &ctx, IW_DIR_TOCLIENT, two, n);
	assert_int_equal(rc, 2 + sizeof(a_chain));
	rc = iw_parser_dns_tcp.parse(st, &ctx, IW_DIR_TOCLIENT, two + rc, n - (size_t)rc);
	assert_int_equal(rc, 2 + sizeof(q_www));
	assert_int_equal(n_evs, 2);
	assert_int_equal(n_anom, 0);
	assert_true(evs[0].e.tcp);
	assert_int_equal(evs[0].e.n_answers, 4);
	assert_string_equal(evs[1].rrname, "www.example.com");
	assert_non_null(strstr(evs[1].json, "\"rrtype\":\"A\",\"tcp\":true}"));
	iw_parser_dns_tcp.state_free(st);
	/* the probe: a whole message, then every prefix needs more */
	assert_int_equal(iw_parser_dns_tcp.probe(two, n, 1), IW_OK);
	for (size_t k = 0; k < 2 + 12 + 17 + 4; k++)
		assert_int_equal(iw_parser_dns_tcp.probe(two, k, 1), IW_NEED_MORE);
	static const uint8_t tiny[] = {0x00, 0x0c, 0, 1, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	assert_int_equal(iw_parser_dns_tcp.probe(tiny, sizeof(tiny), 0), IW_ERR);
	static const uint8_t http[] = "GET / HTTP/1.1\r\n";
	assert_int_equal(iw_parser_dns_tcp.probe(http, sizeof(http) - 1, 0), IW_ERR);
}

/* The sensor's way: what the parser leaves is kept and the next bytes appended. */
static void stream(void *st, int dir, uint8_t *buf, size_t *have, const uint8_t *b, size_t n, int *last)
{
	memcpy(buf + *have, b, n);
	*have += n;
	for (;;) {
		int rc = iw_parser_dns_tcp.parse(st, &ctx, dir, buf, *have);
		*last = rc;
		if (rc < 0)
			return;
		assert_true((size_t)rc <= *have);
		memmove(buf, buf + rc, *have - (size_t)rc);
		*have -= (size_t)rc;
		if (*have == 0)
			return;
	}
}

static void test_tcp_byte_by_byte(void **state)
{
	(void)state;
	size_t n = build_two();
	void *st = fresh(&iw_parser_dns_tcp);
	uint8_t buf[sizeof(two)];
	size_t have = 0;
	int last = 0;
	for (size_t i = 0; i < n; i++) {
		stream(st, IW_DIR_TOCLIENT, buf, &have, two + i, 1, &last);
		if (i + 1 == 2 + sizeof(a_chain)) {
			assert_int_equal(n_evs, 1);
			assert_int_equal(have, 0);
		} else if (i + 1 < 2 + sizeof(a_chain)) {
			assert_int_equal(last, IW_NEED_MORE);
			assert_int_equal(n_evs, 0);
		}
	}
	assert_int_equal(n_evs, 2);
	assert_int_equal(have, 0);
	assert_int_equal(n_anom, 0);
	iw_parser_dns_tcp.state_free(st);
}

static void test_tcp_odd_lengths(void **state)
{
	(void)state;
	void *st = fresh(&iw_parser_dns_tcp);
	/* length 0: the two bytes are consumed, an anomaly, no event */
	static const uint8_t zero[] = {0x00, 0x00, 0x00, 0x21};
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 0, zero, sizeof(zero)), 2);
	assert_int_equal(n_anom, 1);
	assert_string_equal(last_anom, "dns.truncated");
	assert_int_equal(n_evs, 0);
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 0, zero, 1), IW_NEED_MORE);
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 0, zero, 0), IW_NEED_MORE);
	iw_parser_dns_tcp.state_free(st);

	/* larger than limits.max_message: skipped as it comes, then framing goes on */
	struct iw_parser_cfg save = cfg;
	cfg.max_message = 32;
	st = fresh(&iw_parser_dns_tcp);
	size_t n = build_two();
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 1, two, 50), 50);
	assert_string_equal(last_anom, "dns.message_too_large");
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 1, two + 50, n - 50), 2 + sizeof(a_chain) - 50);
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 1, two + 2 + sizeof(a_chain), 2 + sizeof(q_www)),
	                 2 + sizeof(q_www)); /* 35 bytes: over 32 too */
	cfg = save;
	iw_parser_dns_tcp.state_free(st);

	/* a gap: bytes up to the next message that passes the probe are skipped */
	st = fresh(&iw_parser_dns_tcp);
	iw_parser_dns_tcp.gap(st, &ctx, 1, 10);
	int rc = iw_parser_dns_tcp.parse(st, &ctx, 1, two + 7, n - 7);
	assert_int_equal(rc, 2 + sizeof(a_chain) - 7);
	assert_string_equal(last_anom, "dns.resync_skipped");
	rc = iw_parser_dns_tcp.parse(st, &ctx, 1, two + 2 + sizeof(a_chain), 2 + sizeof(q_www));
	assert_int_equal(rc, 2 + sizeof(q_www));
	assert_int_equal(n_evs, 1);
	iw_parser_dns_tcp.state_free(st);

	/* a gap, then a place that passes the probe but whose message is not all there yet:
	 * taken on trial; once complete it does not decode, and the search goes on */
	st = fresh(&iw_parser_dns_tcp);
	uint8_t fake[42 + 2 + sizeof(q_www)] = {
	    0x00, 0x28,                                     /* length 40 */
	    0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, /* id, RD, one question */
	    0x00, 0x00, 0x00, 0x01,                         /* one additional... */
	    1,    'a',  0,    0x00, 0x01, 0x00, 0x01,       /* a A IN */
	};
	memset(fake + 21, 0xff, 21); /* ...which is a forward pointer */
	fake[42] = 0;
	fake[43] = sizeof(q_www);
	memcpy(fake + 44, q_www, sizeof(q_www));
	iw_parser_dns_tcp.gap(st, &ctx, 0, 100);
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 0, fake, 30), IW_NEED_MORE);
	assert_int_equal(n_anom, 0);
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 0, fake, sizeof(fake)), 1);
	assert_int_equal(n_anom, 1);
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 0, fake + 1, sizeof(fake) - 1), 41);
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 0, fake + 42, sizeof(fake) - 42),
	                 2 + sizeof(q_www));
	assert_int_equal(n_evs, 1);
	assert_string_equal(evs[0].rrname, "www.example.com");
	assert_int_equal(n_anom, 2);
	iw_parser_dns_tcp.state_free(st);

	/* a malformed message inside good framing: counted, and the next one decodes */
	st = fresh(&iw_parser_dns_tcp);
	uint8_t bad[2 + 17] = {0, 17};
	memcpy(bad + 2, q_www, 17);
	bad[2 + 12] = 0xc0; /* the question name a pointer to itself */
	bad[2 + 13] = 0x0c;
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 0, bad, sizeof(bad)), sizeof(bad));
	assert_string_equal(last_anom, "dns.bad_pointer");
	assert_int_equal(iw_parser_dns_tcp.parse(st, &ctx, 0, two + 2 + sizeof(a_chain), 2 + sizeof(q_www)),
	                 2 + sizeof(q_www));
	assert_int_equal(n_evs, 1);
	iw_parser_dns_tcp.state_free(st);

	/* datagrams need no per-flow state: a DNS flow holds nothing between messages */
	assert_null(iw_parser_dns.state_new);
	(void)n;
}

/* ---- every prefix, flush against a guard page ---- */

static void test_prefixes_guard(void **state)
{
	(void)state;
	const struct {
		const uint8_t *b;
		size_t n;
	} all[] = {
	    {q_www, sizeof(q_www)}, {a_chain, sizeof(a_chain)}, {a_aaaa, sizeof(a_aaaa)},
	    {a_mx, sizeof(a_mx)},   {a_txt, sizeof(a_txt)},     {a_srv, sizeof(a_srv)},
	    {a_ptr, sizeof(a_ptr)}, {a_nx, sizeof(a_nx)},
	};
	struct guard g = guard_new(4096);
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		void *st = fresh(&iw_parser_dns);
		size_t n = all[k].n;
		for (size_t len = 0; len <= n; len++) {
			reset();
			const uint8_t *at = guard_put(&g, all[k].b, len);
			int rc = iw_parser_dns.parse(st, &ctx, (int)(len & 1), at, len);
			if (len == n) {
				assert_int_equal(rc, IW_OK);
				assert_int_equal(n_evs, 1);
			} else {
				assert_int_equal(rc, IW_ERR); /* every section's counts promise more */
				assert_int_equal(n_anom, 1);
				assert_true(n_evs <= 1);
			}
			int pr = iw_parser_dns.probe(at, len, 0);
			assert_true(pr == IW_OK || pr == IW_ERR);
		}
		if (iw_parser_dns.state_free)
			iw_parser_dns.state_free(st);
	}
	/* TCP: every prefix of two framed messages needs more or decodes the first */
	size_t n = build_two();
	for (size_t len = 0; len <= n; len++) {
		void *st = fresh(&iw_parser_dns_tcp);
		const uint8_t *at = guard_put(&g, two, len);
		int rc = iw_parser_dns_tcp.parse(st, &ctx, 1, at, len);
		if (len < 2 + sizeof(a_chain))
			assert_int_equal(rc, IW_NEED_MORE);
		else
			assert_int_equal(rc, 2 + sizeof(a_chain));
		int pr = iw_parser_dns_tcp.probe(at, len, 1);
		assert_int_equal(pr, len < 2 + 12 + 17 + 4 ? IW_NEED_MORE : IW_OK);
		iw_parser_dns_tcp.state_free(st);
	}
	guard_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_cname_chain),
	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_nxdomain),
	    cmocka_unit_test(test_other_types),
	    cmocka_unit_test(test_no_question),
	    cmocka_unit_test(test_pointer_loops),
	    cmocka_unit_test(test_forward_pointer),
	    cmocka_unit_test(test_hop_limit),
	    cmocka_unit_test(test_name_limits),
	    cmocka_unit_test(test_bad_rdata),
	    cmocka_unit_test(test_broken_authority),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_answer_limit),
	    cmocka_unit_test(test_arena_full),
	    cmocka_unit_test(test_tcp_two_in_one),
	    cmocka_unit_test(test_tcp_byte_by_byte),
	    cmocka_unit_test(test_tcp_odd_lengths),
	    cmocka_unit_test(test_prefixes_guard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
