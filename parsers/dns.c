/* dns.c - DNS messages over UDP and TCP (RFC 1035 §4.1, §4.2.2), with AAAA (RFC 3596), SRV
 * (RFC 2782), DNAME (RFC 6672), and mDNS/LLMNR on the same decoder (RFC 6762 §10.2, RFC 4795).
 *
 *   TCP only | length 2 | then one message of that many bytes                            |
 *   header   | id 2 | QR 1 opcode 4 AA TC RD RA Z AD CD rcode 4 | qd 2 | an 2 | ns 2 | ar 2 |
 *   question | name | qtype 2 | qclass 2 |                                  (qd of them)
 *   record   | name | type 2 | class 2 | ttl 4 | rdlength 2 | rdata ... |  (an, ns, ar of them)
 *   name     | length 1 (0-63) | label ... | ... | 0 |   or labels ending in a pointer:
 *            | 1 1 | offset 14 bits | (an earlier place in the message where the name goes on)
 *
 * One event per message. Every question is checked (the first one is reported), every
 * answer record is decoded (IW_DNS_MAX_ANSWERS kept, with their text per ev_dns.h), and
 * the authority and additional records are walked only to check that they hold together.
 * Compression pointers are followed strictly: each must point before the start of the
 * labels it ends (so a pointer cannot loop), at most MAX_HOPS of them per name, a name at
 * most 255 bytes in wire form and labels at most 63. A message broken in its header,
 * questions or answers is an anomaly and no event; one broken after its answers is still
 * reported, with the anomaly. The top bit of a class is mDNS's cache-flush or
 * unicast-response bit and is masked everywhere.
 *
 * TCP: one message per call, framed on its length prefix (bytes consumed or IW_NEED_MORE);
 * one over limits.max_message is skipped as it comes; after a gap, a bounded search for
 * the next message start (resync).
 *
 * Memory: the answer array and one arena for the text of one message (names and rdata)
 * are on the stack of the call that decodes it (struct scratch); the event points into
 * them. Only TCP keeps per-flow state, its framing. Text is built
 * in scratch on the parser's stack first and copied in when it fits; an answer whose text
 * does not fit any more is counted in answers_dropped. Nothing is allocated per message. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "parser.h"

#define MAX_HOPS      64   /* compression pointers followed per name */
#define NAME_TEXT     1024 /* a 255-byte name in presentation form: at most 1004 chars + NUL */
#define RDATA_TEXT    1088 /* SRV "65535 65535 65535 " + a name; TXT is cut to fit */
#define ARENA         8192 /* text of one message: the question and the kept answers */
#define HDR_LEN       12
#define RESYNC_WINDOW 1024 /* offsets looked at per call when looking for a message after a gap */
#define RESYNC_TRIALS 4    /* trial decodes per call when looking */

/* ---- names of numbers ---- */

/* IANA "Resource Record (RR) TYPEs" registry, the assigned data and query types. */
const char *iw_dns_rrtype_name(uint16_t t)
{
	switch (t) {
	case 1:
		return "A";
	case 2:
		return "NS";
	case 3:
		return "MD";
	case 4:
		return "MF";
	case 5:
		return "CNAME";
	case 6:
		return "SOA";
	case 7:
		return "MB";
	case 8:
		return "MG";
	case 9:
		return "MR";
	case 10:
		return "NULL";
	case 11:
		return "WKS";
	case 12:
		return "PTR";
	case 13:
		return "HINFO";
	case 14:
		return "MINFO";
	case 15:
		return "MX";
	case 16:
		return "TXT";
	case 17:
		return "RP";
	case 18:
		return "AFSDB";
	case 19:
		return "X25";
	case 20:
		return "ISDN";
	case 21:
		return "RT";
	case 22:
		return "NSAP";
	case 23:
		return "NSAP-PTR";
	case 24:
		return "SIG";
	case 25:
		return "KEY";
	case 26:
		return "PX";
	case 27:
		return "GPOS";
	case 28:
		return "AAAA";
	case 29:
		return "LOC";
	case 30:
		return "NXT";
	case 31:
		return "EID";
	case 32:
		return "NIMLOC";
	case 33:
		return "SRV";
	case 34:
		return "ATMA";
	case 35:
		return "NAPTR";
	case 36:
		return "KX";
	case 37:
		return "CERT";
	case 38:
		return "A6";
	case 39:
		return "DNAME";
	case 40:
		return "SINK";
	case 41:
		return "OPT";
	case 42:
		return "APL";
	case 43:
		return "DS";
	case 44:
		return "SSHFP";
	case 45:
		return "IPSECKEY";
	case 46:
		return "RRSIG";
	case 47:
		return "NSEC";
	case 48:
		return "DNSKEY";
	case 49:
		return "DHCID";
	case 50:
		return "NSEC3";
	case 51:
		return "NSEC3PARAM";
	case 52:
		return "TLSA";
	case 53:
		return "SMIMEA";
	case 55:
		return "HIP";
	case 56:
		return "NINFO";
	case 57:
		return "RKEY";
	case 58:
		return "TALINK";
	case 59:
		return "CDS";
	case 60:
		return "CDNSKEY";
	case 61:
		return "OPENPGPKEY";
	case 62:
		return "CSYNC";
	case 63:
		return "ZONEMD";
	case 64:
		return "SVCB";
	case 65:
		return "HTTPS";
	case 99:
		return "SPF";
	case 104:
		return "NID";
	case 105:
		return "L32";
	case 106:
		return "L64";
	case 107:
		return "LP";
	case 108:
		return "EUI48";
	case 109:
		return "EUI64";
	case 249:
		return "TKEY";
	case 250:
		return "TSIG";
	case 251:
		return "IXFR";
	case 252:
		return "AXFR";
	case 253:
		return "MAILB";
	case 254:
		return "MAILA";
	case 255:
		return "ANY";
	case 256:
		return "URI";
	case 257:
		return "CAA";
	case 32768:
		return "TA";
	case 32769:
		return "DLV";
	}
	return NULL;
}

/* IANA "DNS RCODEs" registry, the codes that fit the header's 4 bits. */
const char *iw_dns_rcode_name(uint8_t rcode)
{
	static const char *const names[] = {
	    "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
	    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "DSOTYPENI",
	};
	return rcode < sizeof(names) / sizeof(names[0]) ? names[rcode] : NULL;
}

/* ---- probes ---- */

/* The header and first question of a message as the probes accept them: one question, a
 * plausible opcode and counts, and a question name that is a valid uncompressed sequence
 * of labels followed by a known class. c ends where the bytes seen end; when they end
 * early, the answer is IW_NEED_MORE if more can follow (more), else IW_ERR. */
static int probe_msg(struct iw_cur c, bool more)
{
	const int shortfall = more ? IW_NEED_MORE : IW_ERR;
	iw_cur_skip(&c, 2);
	uint16_t flags = iw_cur_be16(&c);
	uint16_t qd = iw_cur_be16(&c), an = iw_cur_be16(&c), ns = iw_cur_be16(&c), ar = iw_cur_be16(&c);
	if (c.err)
		return shortfall;
	unsigned opcode = (flags >> 11) & 0x0f;
	bool response = flags & 0x8000;
	if (qd != 1 || (opcode != 0 && opcode != 4 && opcode != 5) || (flags & 0x0040) || an > 256 ||
	    ns > 256 || ar > 256 || (!response && an))
		return IW_ERR;
	size_t name = 0;
	for (;;) {
		uint8_t l = iw_cur_u8(&c);
		if (c.err)
			return shortfall;
		if (l > 63)
			return IW_ERR; /* a compression pointer in a question */
		if (l == 0)
			break;
		name += (size_t)l + 1;
		if (name > 255)
			return IW_ERR;
		if (!iw_cur_skip(&c, l))
			return shortfall;
	}
	iw_cur_skip(&c, 2);                         /* qtype */
	uint16_t qclass = iw_cur_be16(&c) & 0x7fff; /* mDNS puts the unicast-response bit on top */
	if (c.err)
		return shortfall;
	if (qclass != 1 && qclass != 3 && qclass != 4 && qclass != 255)
		return IW_ERR;
	return IW_OK;
}

/* A datagram whose header and first question pass probe_msg. */
static int dns_probe(const uint8_t *data, size_t len, int dir)
{
	(void)dir;
	return probe_msg(iw_cur_make(data, len), false);
}

/* TCP: a length prefix of at least a header and a question, then a message that passes
 * probe_msg within that length; IW_NEED_MORE while the bytes end before it can tell. */
static int dns_tcp_probe(const uint8_t *data, size_t len, int dir)
{
	(void)dir;
	struct iw_cur c = iw_cur_make(data, len);
	uint16_t mlen = iw_cur_be16(&c);
	if (c.err)
		return IW_NEED_MORE;
	if (mlen < HDR_LEN + 5)
		return IW_ERR;
	size_t have = iw_cur_left(&c);
	bool more = have < mlen;
	return probe_msg(iw_cur_sub(&c, more ? have : mlen), more);
}

/* ---- per-flow state ---- */

/* TCP framing of one direction. */
struct dns_dir {
	uint32_t skip; /* bytes of an oversized message still to skip */
	bool resync;   /* after a gap: look for a message start before decoding */
	bool trial;    /* the message resync picked is judged when complete */
};

struct dns_state {
	uint32_t max_message; /* limits.max_message: larger TCP messages are skipped */
	struct dns_dir d[2];
};

/* What one message's event points at: on the stack of the call that decodes it, so a
 * flow holds only its framing state between messages (DNS flows are many). Needs no
 * clearing: each message writes before it reads. */
struct scratch {
	size_t used; /* of arena */
	struct iw_dns_rr rr[IW_DNS_MAX_ANSWERS];
	char arena[ARENA];
};

static void *dns_state_new(const struct iw_parser_cfg *cfg)
{
	struct dns_state *s = iw_calloc(1, sizeof(*s));
	s->max_message = cfg->max_message;
	return s;
}

static void dns_state_free(void *st)
{
	free(st);
}

/* ---- text ---- */

/* Bounded builder over a scratch buffer; always leaves room for the NUL. */
struct sbuf {
	char *b;
	size_t len, cap;
	bool full;
};

static void sb_putc(struct sbuf *s, char ch)
{
	if (s->len + 1 < s->cap)
		s->b[s->len++] = ch;
	else
		s->full = true;
}

static void sb_puts(struct sbuf *s, const char *str)
{
	for (; *str; str++)
		sb_putc(s, *str);
}

static void sb_uint(struct sbuf *s, unsigned v)
{
	char d[10];
	unsigned n = 0;
	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < sizeof(d));
	while (n)
		sb_putc(s, d[--n]);
}

/* \DDD (RFC 1035 §5.1), whole or not at all. */
static void sb_esc(struct sbuf *s, uint8_t ch)
{
	if (s->cap - s->len < 5) {
		s->full = true;
		return;
	}
	sb_putc(s, '\\');
	sb_putc(s, (char)('0' + ch / 100));
	sb_putc(s, (char)('0' + ch / 10 % 10));
	sb_putc(s, (char)('0' + ch % 10));
}

/* A label's bytes: [0-9A-Za-z-_] as they are, anything else as \DDD (ev_dns.h). */
static void sb_label(struct sbuf *s, const uint8_t *lab, size_t n)
{
	struct iw_cur c = iw_cur_make(lab, n);
	if (s->cap - s->len > 4 * n + 1) {
		/* room for the worst case (every byte escaped): no bound checks per byte, the
		 * same text (every name of every answer goes through here) */
		char *o = s->b + s->len;
		while (iw_cur_left(&c)) {
			uint8_t ch = iw_cur_u8(&c);
			if ((uint8_t)((ch | 0x20) - 'a') < 26 || (uint8_t)(ch - '0') < 10 || ch == '-' ||
			    ch == '_') {
				*o++ = (char)ch;
			} else {
				o[0] = '\\';
				o[1] = (char)('0' + ch / 100);
				o[2] = (char)('0' + ch / 10 % 10);
				o[3] = (char)('0' + ch % 10);
				o += 4;
			}
		}
		s->len = (size_t)(o - s->b);
		return;
	}
	while (iw_cur_left(&c)) {
		uint8_t ch = iw_cur_u8(&c);
		if ((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    ch == '-' || ch == '_')
			sb_putc(s, (char)ch);
		else
			sb_esc(s, ch);
	}
}

/* One TXT character-string: printable ASCII as it is but for the backslash, the rest
 * as \DDD. Stops (full set) when the buffer is full. */
static void sb_txt(struct sbuf *s, const uint8_t *str, size_t n)
{
	struct iw_cur c = iw_cur_make(str, n);
	while (iw_cur_left(&c) && !s->full) {
		uint8_t ch = iw_cur_u8(&c);
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			sb_putc(s, (char)ch);
		else
			sb_esc(s, ch);
	}
}

/* ---- names ---- */

/* The message being decoded: pointers are offsets into it. */
struct msg {
	const uint8_t *base;
	size_t len;
};

/* Reads the name at c, a cursor into m (or into one record's rdata within m), and moves
 * c past the name as it is stored there. Pointers must point before the start of the
 * labels they end (RFC 1035 §4.1.4 says "a prior occurrence"), so each one goes strictly
 * backwards and no loop is possible; MAX_HOPS bounds the work anyway. The wire form may
 * not pass 255 bytes (lengths, labels and the final 0, RFC 1035 §3.1), and a length
 * byte whose top bits are 01 or 10 (extended labels, 64-191) is refused. Writes the
 * presentation form to out unless it is NULL. Returns NULL, or the anomaly. */
static const char *read_name(const struct msg *m, struct iw_cur *c, struct sbuf *out)
{
	struct iw_cur r = *c;
	size_t seg = (size_t)(r.p - m->base); /* where the labels being read start */
	size_t wire = 1;                      /* the final 0 */
	unsigned hops = 0;
	bool jumped = false, first = true;
	for (;;) {
		uint8_t l = iw_cur_u8(&r);
		if (r.err)
			return "dns.truncated";
		if ((l & 0xc0) == 0xc0) {
			uint8_t lo = iw_cur_u8(&r);
			if (r.err)
				return "dns.truncated";
			size_t to = (size_t)(l & 0x3f) << 8 | lo;
			if (!jumped) {
				*c = r; /* the name ends here where it is stored */
				jumped = true;
			}
			if (to >= seg || ++hops > MAX_HOPS)
				return "dns.bad_pointer";
			r = iw_cur_make(m->base, m->len);
			iw_cur_skip(&r, to);
			seg = to;
			continue;
		}
		if (l & 0xc0)
			return "dns.bad_name";
		if (l == 0)
			break;
		wire += (size_t)l + 1;
		if (wire > 255)
			return "dns.bad_name";
		const uint8_t *lab;
		if (!iw_cur_bytes(&r, l, &lab))
			return "dns.truncated";
		if (out != NULL) {
			if (!first)
				sb_putc(out, '.');
			sb_label(out, lab, l);
		}
		first = false;
	}
	if (!jumped)
		*c = r;
	if (out != NULL && first)
		sb_putc(out, '.');
	return NULL;
}

/* ---- records ---- */

enum {
	T_A = 1,
	T_NS = 2,
	T_CNAME = 5,
	T_PTR = 12,
	T_MX = 15,
	T_TXT = 16,
	T_AAAA = 28,
	T_SRV = 33,
	T_DNAME = 39,
};

/* A name that must fill the rest of the rdata. */
static const char *rdata_name(const struct msg *m, struct iw_cur *rd, struct sbuf *out)
{
	const char *bad = read_name(m, rd, out);
	if (bad != NULL)
		return strcmp(bad, "dns.truncated") == 0 ? "dns.bad_rdata" : bad; /* ran past rdlength */
	return iw_cur_left(rd) ? "dns.bad_rdata" : NULL;
}

/* Checks one record's rdata (rd is exactly rdlength bytes) and, when out is not NULL,
 * writes its text per ev_dns.h and fills rr's address. *text says whether the type has a
 * text form. Returns NULL, or the anomaly. */
static const char *read_rdata(const struct msg *m, uint16_t type, struct iw_cur rd, struct sbuf *out,
                              struct iw_dns_rr *rr, bool *text)
{
	*text = true;
	switch (type) {
	case T_A:
	case T_AAAA: {
		size_t n = type == T_A ? 4 : 16;
		const uint8_t *a;
		if (iw_cur_left(&rd) != n || !iw_cur_bytes(&rd, n, &a))
			return "dns.bad_rdata";
		if (out != NULL) {
			char buf[INET6_ADDRSTRLEN];
			memcpy(rr->addr, a, n);
			rr->family = type == T_A ? 4 : 6;
			struct iw_addr ad = {{0}};
			memcpy(ad.b, a, n);
			iw_addr_str(&ad, rr->family, buf, sizeof(buf));
			sb_puts(out, buf);
		}
		return NULL;
	}
	case T_NS:
	case T_CNAME:
	case T_PTR:
	case T_DNAME:
		return rdata_name(m, &rd, out);
	case T_MX:
		iw_cur_skip(&rd, 2); /* preference */
		if (rd.err)
			return "dns.bad_rdata";
		return rdata_name(m, &rd, out);
	case T_SRV: {
		uint16_t prio = iw_cur_be16(&rd), weight = iw_cur_be16(&rd), port = iw_cur_be16(&rd);
		if (rd.err)
			return "dns.bad_rdata";
		if (out != NULL) {
			sb_uint(out, prio);
			sb_putc(out, ' ');
			sb_uint(out, weight);
			sb_putc(out, ' ');
			sb_uint(out, port);
			sb_putc(out, ' ');
		}
		return rdata_name(m, &rd, out);
	}
	case T_TXT: {
		bool first = true;
		while (iw_cur_left(&rd)) {
			uint8_t n = iw_cur_u8(&rd);
			const uint8_t *str;
			if (!iw_cur_bytes(&rd, n, &str))
				return "dns.bad_rdata";
			if (out != NULL) {
				if (!first)
					sb_putc(out, ' ');
				sb_txt(out, str, n);
			}
			first = false;
		}
		return NULL;
	}
	}
	*text = false;
	return NULL;
}

/* Copies the text of sb into the arena, or finds it among the strings already there that
 * it most likely repeats (a CNAME chain names each target twice). NULL when it does not
 * fit. */
static const char *intern(struct scratch *s, struct sbuf *sb, const char *const *recent, unsigned n_recent)
{
	for (unsigned i = 0; i < n_recent; i++)
		if (recent[i] != NULL && strlen(recent[i]) == sb->len &&
		    memcmp(recent[i], sb->b, sb->len) == 0)
			return recent[i];
	if (ARENA - s->used < sb->len + 1)
		return NULL;
	char *at = s->arena + s->used;
	memcpy(at, sb->b, sb->len);
	at[sb->len] = '\0';
	s->used += sb->len + 1;
	return at;
}

/* ---- one message ---- */

/* Decodes one message of n bytes at b into ev (its common part and dns member zeroed
 * by the caller). Returns NULL when it is well formed, else the anomaly; *show says
 * whether the event is worth emitting all the same (everything up to the answers held
 * together). */
static const char *decode(struct scratch *s, const uint8_t *b, size_t n, struct iw_event *ev, bool *show)
{
	struct msg m = {b, n};
	struct iw_cur c = iw_cur_make(b, n);
	struct iw_ev_dns *e = &ev->u.dns;
	*show = false;
	e->id = iw_cur_be16(&c);
	e->flags = iw_cur_be16(&c);
	uint16_t qd = iw_cur_be16(&c), an = iw_cur_be16(&c);
	e->n_authorities = iw_cur_be16(&c);
	e->n_additionals = iw_cur_be16(&c);
	if (c.err)
		return "dns.truncated";
	e->type = e->flags & 0x8000 ? IW_DNS_ANSWER : IW_DNS_QUERY;
	e->opcode = (e->flags >> 11) & 0x0f;
	e->rcode = e->flags & 0x0f;
	e->n_questions = qd;
	s->used = 0;

	char name[NAME_TEXT], text[RDATA_TEXT]; /* scratch: written before read */
	const char *bad = NULL;
	for (unsigned i = 0; i < qd && bad == NULL; i++) {
		struct sbuf sb = {name, 0, sizeof(name), false};
		bad = read_name(&m, &c, i == 0 ? &sb : NULL);
		uint16_t qtype = iw_cur_be16(&c), qclass = iw_cur_be16(&c);
		if (bad == NULL && c.err)
			bad = "dns.truncated";
		if (bad == NULL && i == 0) {
			e->rrname = intern(s, &sb, NULL, 0); /* the arena is empty: it fits */
			e->rrtype = qtype;
			e->rrclass = qclass & 0x7fff;
		}
	}

	/* a query's answer records (mDNS known answers) are only checked */
	bool keep = e->type == IW_DNS_ANSWER;
	for (unsigned i = 0; i < an && bad == NULL; i++) {
		bool store = keep && e->n_answers < IW_DNS_MAX_ANSWERS;
		struct sbuf nb = {name, 0, sizeof(name), false};
		struct sbuf tb = {text, 0, sizeof(text), false};
		struct iw_dns_rr rr;
		memset(&rr, 0, sizeof(rr));
		bad = read_name(&m, &c, store ? &nb : NULL);
		if (bad != NULL)
			break;
		rr.rrtype = iw_cur_be16(&c);
		rr.rrclass = iw_cur_be16(&c) & 0x7fff;
		rr.ttl = iw_cur_be32(&c);
		uint16_t rdlen = iw_cur_be16(&c);
		struct iw_cur rd = iw_cur_sub(&c, rdlen);
		if (c.err) {
			bad = "dns.truncated";
			break;
		}
		bool has_text;
		bad = read_rdata(&m, rr.rrtype, rd, store ? &tb : NULL, &rr, &has_text);
		if (bad != NULL || !keep)
			continue;
		if (!store) {
			e->answers_dropped++;
			continue;
		}
		const struct iw_dns_rr *prev = e->n_answers ? &s->rr[e->n_answers - 1] : NULL;
		const char *recent[3] = {e->rrname, prev ? prev->rrname : NULL, prev ? prev->rdata : NULL};
		rr.rrname = intern(s, &nb, recent, 3);
		if (has_text && rr.rrname != NULL)
			rr.rdata = intern(s, &tb, recent, 3);
		if (rr.rrname == NULL || (has_text && rr.rdata == NULL)) {
			e->answers_dropped++; /* its text does not fit in the arena any more */
			continue;
		}
		s->rr[e->n_answers++] = rr;
	}
	if (bad != NULL)
		return bad;
	e->answers = e->n_answers ? s->rr : NULL;
	*show = true;

	/* authority and additional records: only their shape */
	unsigned rest = (unsigned)e->n_authorities + e->n_additionals;
	for (unsigned i = 0; i < rest && bad == NULL; i++) {
		bad = read_name(&m, &c, NULL);
		iw_cur_skip(&c, 8); /* type, class, ttl */
		uint16_t rdlen = iw_cur_be16(&c);
		iw_cur_skip(&c, rdlen);
		if (bad == NULL && c.err)
			bad = "dns.truncated";
	}
	return bad;
}

static void ev_init(struct iw_event *ev, bool tcp)
{
	memset(ev, 0, offsetof(struct iw_event, u));
	memset(&ev->u.dns, 0, sizeof(ev->u.dns));
	ev->kind = IW_EV_DNS;
	ev->u.dns.tcp = tcp;
}

/* Decodes one message and emits its event. Returns IW_OK, or IW_ERR after the anomaly
 * for a malformed message (which is still emitted when everything up to its answers
 * held together). */
static int dns_message(struct iw_parse_ctx *ctx, const uint8_t *b, size_t n, bool tcp)
{
	struct iw_event ev;
	struct scratch sc;
	ev_init(&ev, tcp);
	bool show;
	const char *bad = decode(&sc, b, n, &ev, &show);
	if (show)
		ctx->emit(ctx, &ev);
	if (bad != NULL) {
		ctx->anomaly(ctx, bad);
		return IW_ERR;
	}
	return IW_OK;
}

/* Whether a message decodes without fault (nothing emitted, nothing counted). */
static bool clean(const uint8_t *b, size_t n)
{
	struct iw_event ev;
	struct scratch sc;
	ev_init(&ev, true);
	bool show;
	return decode(&sc, b, n, &ev, &show) == NULL;
}

/* ---- the descriptors' callbacks ---- */

static int clamp(size_t n)
{
	return n > 0x7fffffff ? 0x7fffffff : (int)n;
}

/* After a gap: where the next message starts, looking at the first RESYNC_WINDOW
 * offsets. A candidate passes the strict probe; the first one whose whole message is in
 * view and decodes without fault wins (at most RESYNC_TRIALS trial decodes). Failing
 * that, the first place that may still be one once more bytes come is taken: when the
 * probe needs more bytes it is waited for, when the message goes on past the bytes seen
 * it is taken on trial (*trial), to be judged once complete. Nothing in the window: the
 * window is skipped. Returns IW_OK when the message starts at 0, else the bytes to skip
 * or IW_NEED_MORE. The work per call is bounded, so a flow that never resynchronises
 * costs linear time. */
static int resync(struct dns_state *s, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len,
                  bool *trial)
{
	struct iw_cur all = iw_cur_make(data, len);
	size_t lim = len < RESYNC_WINDOW ? len : RESYNC_WINDOW;
	size_t pick = lim, pending = lim;
	bool wait = false; /* pending is a probe that needs more bytes */
	unsigned trials = 0;
	for (size_t off = 0; off < lim && pick == lim; off++) {
		struct iw_cur at = all;
		iw_cur_skip(&at, off);
		int r = dns_tcp_probe(at.p, iw_cur_left(&at), dir);
		if (r == IW_ERR)
			continue;
		uint16_t mlen = iw_cur_be16(&at);
		const uint8_t *body;
		if (r == IW_OK && 2 + (size_t)mlen > s->max_message)
			continue;
		if (r == IW_NEED_MORE || !iw_cur_bytes(&at, mlen, &body)) {
			if (pending == lim) {
				pending = off;
				wait = r == IW_NEED_MORE;
			}
			continue;
		}
		if (trials < RESYNC_TRIALS && clean(body, mlen))
			pick = off;
		trials++;
	}
	*trial = false;
	if (pick == lim && pending < lim) {
		pick = pending;
		*trial = !wait;
	}
	if (pick == 0)
		return wait && !*trial && pending == 0 ? IW_NEED_MORE : IW_OK;
	ctx->anomaly(ctx, "dns.resync_skipped");
	*trial = false; /* judged again from where the skip lands */
	return clamp(pick);
}

/* Bytes of one direction of a TCP flow: one length-prefixed message per call (RFC 1035
 * §4.2.2). Returns the bytes consumed, or IW_NEED_MORE while the message is incomplete. A
 * message longer than limits.max_message is skipped as its bytes come; a malformed one
 * is an anomaly and framing goes on. After a gap, bytes are skipped up to where a message
 * plausibly starts (resync). */
static int dns_tcp_parse(void *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len)
{
	struct dns_state *s = st;
	if (s == NULL || dir < 0 || dir > 1)
		return IW_ERR;
	struct dns_dir *d = &s->d[dir];
	if (len == 0)
		return IW_NEED_MORE;
	if (d->skip) {
		size_t k = len < d->skip ? len : d->skip;
		d->skip -= (uint32_t)k;
		return clamp(k);
	}
	if (d->resync) {
		int r = resync(s, ctx, dir, data, len, &d->trial);
		if (r != IW_OK)
			return r;
		d->resync = false;
	}
	struct iw_cur c = iw_cur_make(data, len);
	uint16_t mlen = iw_cur_be16(&c);
	if (c.err)
		return IW_NEED_MORE;
	size_t total = 2 + (size_t)mlen;
	if (total > s->max_message) {
		ctx->anomaly(ctx, "dns.message_too_large");
		size_t k = len < total ? len : total;
		d->skip = (uint32_t)(total - k);
		return clamp(k);
	}
	const uint8_t *body;
	if (!iw_cur_bytes(&c, mlen, &body))
		return IW_NEED_MORE;
	if (d->trial) {
		d->trial = false;
		if (!clean(body, mlen)) {
			/* the place resync took was no message: look again from the next byte */
			ctx->anomaly(ctx, "dns.resync_skipped");
			d->resync = true;
			return 1;
		}
	}
	dns_message(ctx, body, mlen, true);
	return clamp(total);
}

/* Bytes were lost: inside a message being skipped they are part of it; otherwise the
 * message boundaries are lost and the direction resynchronises. */
static void dns_tcp_gap(void *st, struct iw_parse_ctx *ctx, int dir, uint32_t len)
{
	struct dns_state *s = st;
	(void)ctx;
	if (s == NULL || dir < 0 || dir > 1)
		return;
	struct dns_dir *d = &s->d[dir];
	if (d->skip >= len) {
		d->skip -= len;
		return;
	}
	d->skip = 0;
	d->resync = true;
	d->trial = false;
}

/* One datagram: no per-flow state (the sensor gives a TCP flow the TCP descriptor).
 * Returns IW_OK, or IW_ERR for a malformed message (after its anomaly). */
static int dns_parse(void *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len)
{
	(void)st;
	(void)dir;
	return dns_message(ctx, data, len, false);
}

const struct iw_parser iw_parser_dns = {
    .name = "dns",
    .ipproto = IPPROTO_UDP,
    .ports = {53, 5353, 5355},
    .ndpi_name = "DNS",
    .probe = dns_probe,
    .parse = dns_parse,
};

const struct iw_parser iw_parser_dns_tcp = {
    .name = "dns",
    .ipproto = IPPROTO_TCP,
    .ports = {53},
    .ndpi_name = "DNS",
    .probe = dns_tcp_probe,
    .parse = dns_tcp_parse,
    .state_new = dns_state_new,
    .state_free = dns_state_free,
    .gap = dns_tcp_gap,
};
