/* packet.c - link, IP and transport decode: Ethernet (802.1Q/802.1ad), Linux cooked
 * v1/v2, raw IP, BSD loopback; IPv4 (RFC 791) with options, IPv6 (RFC 8200) with
 * extension headers, fragments of both; TCP (RFC 9293) and UDP (RFC 768).
 *
 *   Ethernet  | dst 6 | src 6 | [0x8100|0x88a8 TCI 2]* | type 2 | IP ...
 *   PPPoE     | ... type 0x8864 | ver/type 1 (0x11) | code 1 (0) | session 2 | length 2 |
 *             | PPP protocol 2 (0x0021 IPv4, 0x0057 IPv6) | IP ...     (RFC 2516 §5)
 *   SLL v1    | pkttype 2 | hatype 2 | halen 2 | addr 8 | proto 2 | IP ...
 *   SLL v2    | proto 2 | rsvd 2 | ifindex 4 | hatype 2 | pkttype 1 | halen 1 | addr 8 | IP ...
 *   NULL/LOOP | family 4 (host order / network order) | IP ...
 *
 * Every byte is read through the cursor; the packet struct points into the frame. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "cursor.h"
#include "defrag.h"
#include "packet.h"

#define ETH_P_IPV4     0x0800
#define ETH_P_IPV6     0x86dd
#define ETH_P_8021Q    0x8100
#define ETH_P_8021AD   0x88a8
#define ETH_P_QINQ_OLD 0x9100
#define ETH_P_PPPOE    0x8864 /* PPPoE session stage */
#define PPP_IPV4       0x0021
#define PPP_IPV6       0x0057
#define MAX_VLAN_TAGS  4
#define MAX_IP6_EXT    8

static const char *const malformed_names[IW_MAL__COUNT] = {
    [IW_MAL_NONE] = "none",
    [IW_MAL_LINKTYPE] = "unknown_linktype",
    [IW_MAL_L2_TRUNC] = "l2_truncated",
    [IW_MAL_VLAN_DEPTH] = "vlan_too_deep",
    [IW_MAL_ETHERTYPE] = "not_ip",
    [IW_MAL_IP_VERSION] = "ip_version",
    [IW_MAL_IP4_HDR] = "ipv4_header",
    [IW_MAL_IP4_LEN] = "ipv4_length",
    [IW_MAL_IP4_OPTIONS] = "ipv4_options",
    [IW_MAL_IP6_HDR] = "ipv6_header",
    [IW_MAL_IP6_EXT] = "ipv6_ext_header",
    [IW_MAL_FRAG_BAD] = "fragment_invalid",
    [IW_MAL_FRAG_BUDGET] = "fragment_budget",
    [IW_MAL_FRAG_OVERLAP] = "fragment_overlap",
    [IW_MAL_TCP_HDR] = "tcp_header",
    [IW_MAL_TCP_FLAGS] = "tcp_flags",
    [IW_MAL_UDP_HDR] = "udp_header",
    [IW_MAL_UDP_LEN] = "udp_length",
    [IW_MAL_SNAPLEN] = "snaplen_truncated",
};

const char *iw_malformed_name(enum iw_malformed m)
{
	return (unsigned)m < IW_MAL__COUNT ? malformed_names[m] : "unknown";
}

char *iw_addr_str(const struct iw_addr *a, int family, char *buf, size_t len)
{
	if (family != 6 && len >= 16) { /* by hand: glibc formats IPv4 with sprintf */
		struct iw_cur c = iw_cur_make(a->b, 4);
		char *o = buf;
		for (int i = 0; i < 4; i++) {
			unsigned v = iw_cur_u8(&c);
			if (v >= 100)
				*o++ = (char)('0' + v / 100);
			if (v >= 10)
				*o++ = (char)('0' + v / 10 % 10);
			*o++ = (char)('0' + v % 10);
			*o++ = i < 3 ? '.' : '\0';
		}
		return buf;
	}
	if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, a->b, buf, (socklen_t)len) && len)
		buf[0] = '\0';
	return buf;
}

int iw_cidr_parse(const char *s, struct iw_cidr *out)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(buf))
		return IW_ERR;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->net.b) == 1)
		out->family = 4;
	else if (inet_pton(AF_INET6, buf, out->net.b) == 1)
		out->family = 6;
	else
		return IW_ERR;
	unsigned max = out->family == 4 ? 32 : 128, bits = max;
	if (slash) {
		const char *p = slash + 1;
		if (!*p || strlen(p) > 3)
			return IW_ERR;
		bits = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return IW_ERR;
			bits = bits * 10 + (unsigned)(*p - '0');
		}
		if (bits > max)
			return IW_ERR;
	}
	out->bits = (uint8_t)bits;
	for (unsigned i = 0; i < 16; i++) {
		unsigned have = bits > i * 8 ? bits - i * 8 : 0;
		if (have < 8)
			out->net.b[i] &= (uint8_t)(0xff00u >> have);
	}
	return IW_OK;
}

bool iw_cidr_match(const struct iw_cidr *c, int family, const struct iw_addr *a)
{
	if (c->family != family)
		return false;
	unsigned full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->net.b, a->b, full))
		return false;
	return !rest || ((c->net.b[full] ^ a->b[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

static int fail(enum iw_malformed *why, enum iw_malformed m)
{
	*why = m;
	return IW_ERR;
}

/* Transport header. c covers the IP payload (already cut to the datagram's length). */
static int decode_l4(struct iw_cur c, struct iw_packet *pkt, enum iw_malformed *why)
{
	pkt->key.sport = pkt->key.dport = 0;
	pkt->tcp_flags = 0;
	switch (pkt->key.proto) {
	case IPPROTO_TCP: {
		if (pkt->truncated && !iw_cur_has(&c, 20))
			return fail(why, IW_MAL_SNAPLEN);
		pkt->key.sport = iw_cur_be16(&c);
		pkt->key.dport = iw_cur_be16(&c);
		pkt->tcp_seq = iw_cur_be32(&c);
		pkt->tcp_ack = iw_cur_be32(&c);
		uint8_t off = iw_cur_u8(&c) >> 4;
		pkt->tcp_flags = iw_cur_u8(&c) & 0x3f;
		pkt->tcp_win = iw_cur_be16(&c);
		iw_cur_skip(&c, 4); /* checksum, urgent pointer */
		if (c.err || off < 5)
			return fail(why, IW_MAL_TCP_HDR);
		if (!iw_cur_skip(&c, (size_t)(off - 5) * 4))
			return fail(why, pkt->truncated ? IW_MAL_SNAPLEN : IW_MAL_TCP_HDR);
		uint8_t fl = pkt->tcp_flags;
		if ((fl & IW_TCP_SYN) && (fl & (IW_TCP_FIN | IW_TCP_RST)))
			return fail(why, IW_MAL_TCP_FLAGS);
		break;
	}
	case IPPROTO_UDP: {
		if (pkt->truncated && !iw_cur_has(&c, 8))
			return fail(why, IW_MAL_SNAPLEN);
		pkt->key.sport = iw_cur_be16(&c);
		pkt->key.dport = iw_cur_be16(&c);
		uint16_t ulen = iw_cur_be16(&c);
		iw_cur_skip(&c, 2);
		if (c.err)
			return fail(why, IW_MAL_UDP_HDR);
		if (ulen < 8)
			return fail(why, IW_MAL_UDP_LEN);
		size_t body = (size_t)ulen - 8;
		if (body > iw_cur_left(&c)) {
			if (!pkt->truncated)
				return fail(why, IW_MAL_UDP_LEN);
		} else {
			c = iw_cur_sub(&c, body); /* the IP payload may carry padding */
		}
		break;
	}
	default:
		break;
	}
	pkt->payload = c.p;
	pkt->payload_len = (uint32_t)iw_cur_left(&c);
	return IW_OK;
}

static int decode_ip(struct iw_defrag *d, struct iw_cur c, struct iw_packet *pkt, enum iw_malformed *why);

/* Hands a fragment to the defragmenter and decodes the datagram it completes. */
static int reassemble(struct iw_defrag *d, const struct iw_frag *f, struct iw_packet *pkt,
                      enum iw_malformed *why)
{
	if (!d)
		return fail(why, IW_MAL_FRAG_BUDGET);
	if (pkt->truncated)
		return fail(why, IW_MAL_SNAPLEN);
	const uint8_t *dg;
	size_t dg_len;
	int rc = iw_defrag_add(d, f, pkt->ts_us, &dg, &dg_len, why);
	if (rc != IW_OK)
		return rc;
	pkt->reassembled = true;
	iw_defrag_last(d, &pkt->frames, &pkt->frames_len);
	/* The rebuilt datagram carries no fragmentation, so this does not recurse again. */
	return decode_ip(NULL, iw_cur_make(dg, dg_len), pkt, why);
}

static int decode_ipv4(struct iw_defrag *d, struct iw_cur c, struct iw_packet *pkt, enum iw_malformed *why)
{
	const uint8_t *l3 = c.p;
	size_t avail = iw_cur_left(&c);
	uint8_t vihl = iw_cur_u8(&c);
	size_t hlen = (size_t)(vihl & 0x0f) * 4;
	iw_cur_skip(&c, 1); /* DSCP/ECN */
	size_t total = iw_cur_be16(&c);
	uint32_t id = iw_cur_be16(&c);
	uint16_t frag = iw_cur_be16(&c);
	pkt->ttl = iw_cur_u8(&c);
	pkt->key.proto = iw_cur_u8(&c);
	iw_cur_skip(&c, 2); /* checksum: not verified, offloading makes it unreliable */
	const uint8_t *a;
	if (iw_cur_bytes(&c, 4, &a))
		memcpy(pkt->key.src.b, a, 4);
	if (iw_cur_bytes(&c, 4, &a))
		memcpy(pkt->key.dst.b, a, 4);
	if (c.err || hlen < 20)
		return fail(why, IW_MAL_IP4_HDR);
	struct iw_cur opt = iw_cur_sub(&c, hlen - 20);
	if (opt.err)
		return fail(why, IW_MAL_IP4_HDR);
	while (iw_cur_left(&opt)) {
		uint8_t type = iw_cur_u8(&opt);
		if (type == 0)
			break; /* end of option list; the rest is padding */
		if (type == 1)
			continue;
		uint8_t olen = iw_cur_u8(&opt);
		if (opt.err || olen < 2 || !iw_cur_skip(&opt, (size_t)olen - 2))
			return fail(why, IW_MAL_IP4_OPTIONS);
	}
	if (total < hlen)
		return fail(why, IW_MAL_IP4_LEN);
	if (total > avail) {
		/* cut by the snap length, or lying about its length */
		if ((uint64_t)pkt->wirelen <= pkt->caplen)
			return fail(why, IW_MAL_IP4_LEN);
		pkt->truncated = true;
		total = avail;
	}
	pkt->key.family = 4;
	pkt->l3 = l3;
	pkt->l3_len = (uint32_t)total;
	struct iw_cur body = iw_cur_make(c.p, total - hlen);
	uint32_t offset = (uint32_t)(frag & 0x1fff) * 8;
	bool more = frag & 0x2000;
	if (offset || more) {
		struct iw_frag f = {
		    .family = 4,
		    .src = &pkt->key.src,
		    .dst = &pkt->key.dst,
		    .id = id,
		    .proto = pkt->key.proto,
		    .offset = offset,
		    .more = more,
		    .hdr = l3,
		    .hdr_len = hlen,
		    .data = body.p,
		    .len = iw_cur_left(&body),
		    .wirelen = pkt->wirelen,
		};
		return reassemble(d, &f, pkt, why);
	}
	return decode_l4(body, pkt, why);
}

static int decode_ipv6(struct iw_defrag *d, struct iw_cur c, struct iw_packet *pkt, enum iw_malformed *why)
{
	const uint8_t *l3 = c.p;
	size_t avail = iw_cur_left(&c);
	iw_cur_skip(&c, 4); /* version, traffic class, flow label */
	size_t plen = iw_cur_be16(&c);
	uint8_t nh = iw_cur_u8(&c);
	pkt->ttl = iw_cur_u8(&c);
	const uint8_t *a;
	if (iw_cur_bytes(&c, 16, &a))
		memcpy(pkt->key.src.b, a, 16);
	if (iw_cur_bytes(&c, 16, &a))
		memcpy(pkt->key.dst.b, a, 16);
	if (c.err)
		return fail(why, IW_MAL_IP6_HDR);
	if (plen > avail - 40) {
		if ((uint64_t)pkt->wirelen <= pkt->caplen)
			return fail(why, IW_MAL_IP6_HDR);
		pkt->truncated = true;
		plen = avail - 40;
	}
	pkt->key.family = 6;
	pkt->l3 = l3;
	pkt->l3_len = (uint32_t)(40 + plen);
	struct iw_cur body = iw_cur_make(c.p, plen);
	for (int n = 0;; n++) {
		if (n > MAX_IP6_EXT)
			return fail(why, IW_MAL_IP6_EXT);
		switch (nh) {
		case 0:   /* hop-by-hop options */
		case 43:  /* routing */
		case 60:  /* destination options */
		case 135: /* mobility */
		case 139: /* HIP */
		case 140: /* shim6 */ {
			uint8_t next = iw_cur_u8(&body);
			uint8_t len = iw_cur_u8(&body);
			if (body.err || !iw_cur_skip(&body, (size_t)len * 8 + 6))
				return fail(why, pkt->truncated ? IW_MAL_SNAPLEN : IW_MAL_IP6_EXT);
			nh = next;
			continue;
		}
		case 51: { /* authentication header: length in 4-octet units, minus 2 */
			uint8_t next = iw_cur_u8(&body);
			uint8_t len = iw_cur_u8(&body);
			if (body.err || !iw_cur_skip(&body, (size_t)len * 4 + 6))
				return fail(why, pkt->truncated ? IW_MAL_SNAPLEN : IW_MAL_IP6_EXT);
			nh = next;
			continue;
		}
		case 44: { /* fragment */
			uint8_t next = iw_cur_u8(&body);
			iw_cur_skip(&body, 1);
			uint16_t off = iw_cur_be16(&body);
			uint32_t id = iw_cur_be32(&body);
			if (body.err)
				return fail(why, IW_MAL_IP6_EXT);
			pkt->key.proto = next;
			uint32_t offset = (uint32_t)(off >> 3) * 8;
			bool more = off & 1;
			if (!offset && !more) { /* atomic fragment (RFC 6946): just go on */
				nh = next;
				continue;
			}
			struct iw_frag f = {
			    .family = 6,
			    .src = &pkt->key.src,
			    .dst = &pkt->key.dst,
			    .id = id,
			    .proto = next,
			    .offset = offset,
			    .more = more,
			    .hdr = l3,
			    .hdr_len = 40,
			    .data = body.p,
			    .len = iw_cur_left(&body),
			    .wirelen = pkt->wirelen,
			};
			return reassemble(d, &f, pkt, why);
		}
		default:
			pkt->key.proto = nh;
			return decode_l4(body, pkt, why);
		}
	}
}

static int decode_ip(struct iw_defrag *d, struct iw_cur c, struct iw_packet *pkt, enum iw_malformed *why)
{
	uint8_t v = iw_cur_peek(&c, 0) >> 4;
	if (c.err)
		return fail(why, IW_MAL_IP4_HDR);
	if (v == 4)
		return decode_ipv4(d, c, pkt, why);
	if (v == 6)
		return decode_ipv6(d, c, pkt, why);
	return fail(why, IW_MAL_IP_VERSION);
}

/* Dispatches on an EtherType-style protocol number. */
static int decode_ethertype(struct iw_defrag *d, uint16_t type, struct iw_cur c, struct iw_packet *pkt,
                            enum iw_malformed *why)
{
	if (type != ETH_P_IPV4 && type != ETH_P_IPV6)
		return fail(why, IW_MAL_ETHERTYPE);
	uint8_t v = iw_cur_peek(&c, 0) >> 4;
	if (c.err)
		return fail(why, type == ETH_P_IPV4 ? IW_MAL_IP4_HDR : IW_MAL_IP6_HDR);
	if (v != (type == ETH_P_IPV4 ? 4 : 6))
		return fail(why, IW_MAL_IP_VERSION);
	return decode_ip(d, c, pkt, why);
}

static int decode_ethernet(struct iw_defrag *d, struct iw_cur c, struct iw_packet *pkt,
                           enum iw_malformed *why)
{
	const uint8_t *dst, *src;
	iw_cur_bytes(&c, 6, &dst);
	iw_cur_bytes(&c, 6, &src);
	uint16_t type = iw_cur_be16(&c);
	if (c.err)
		return fail(why, IW_MAL_L2_TRUNC);
	pkt->mac_dst = dst;
	pkt->mac_src = src;
	int tags = 0;
	while (type == ETH_P_8021Q || type == ETH_P_8021AD || type == ETH_P_QINQ_OLD) {
		if (++tags > MAX_VLAN_TAGS)
			return fail(why, IW_MAL_VLAN_DEPTH);
		uint16_t tci = iw_cur_be16(&c);
		type = iw_cur_be16(&c);
		if (c.err)
			return fail(why, IW_MAL_L2_TRUNC);
		if (pkt->nvlan < 2)
			pkt->vlan[pkt->nvlan++] = tci & 0x0fff;
	}
	pkt->key.vlan = pkt->nvlan ? pkt->vlan[0] : 0;
	pkt->key.vlan_inner = pkt->nvlan > 1 ? pkt->vlan[1] : 0;
	if (type == ETH_P_PPPOE) { /* DSL and some carrier uplinks: IP inside a PPP session */
		uint8_t vt = iw_cur_u8(&c), code = iw_cur_u8(&c);
		iw_cur_skip(&c, 4); /* session id, payload length */
		uint16_t proto = iw_cur_be16(&c);
		if (c.err)
			return fail(why, IW_MAL_L2_TRUNC);
		if (vt != 0x11 || code != 0)
			return fail(why, IW_MAL_ETHERTYPE);
		type = proto == PPP_IPV4 ? ETH_P_IPV4 : proto == PPP_IPV6 ? ETH_P_IPV6 : 0;
	}
	return decode_ethertype(d, type, c, pkt, why);
}

/* BSD loopback: the address family of the sender's OS, in its byte order (NULL) or in
 * network order (LOOP). AF_INET is 2 everywhere; AF_INET6 differs: 10 Linux, 24 NetBSD
 * and OpenBSD, 28 FreeBSD, 30 macOS. */
static int decode_loopback(struct iw_defrag *d, struct iw_cur c, struct iw_packet *pkt,
                           enum iw_malformed *why, bool network_order)
{
	uint32_t fam = network_order ? iw_cur_be32(&c) : iw_cur_le32(&c);
	if (c.err)
		return fail(why, IW_MAL_L2_TRUNC);
	if (!network_order && fam > 0xffff)
		fam = __builtin_bswap32(fam); /* written by a big-endian host */
	switch (fam) {
	case 2:
		return decode_ethertype(d, ETH_P_IPV4, c, pkt, why);
	case 10:
	case 24:
	case 28:
	case 30:
		return decode_ethertype(d, ETH_P_IPV6, c, pkt, why);
	default:
		return fail(why, IW_MAL_ETHERTYPE);
	}
}

int iw_decode(struct iw_defrag *d, int dlt, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
              uint64_t ts_us, struct iw_packet *pkt, enum iw_malformed *why)
{
	memset(pkt, 0, sizeof(*pkt));
	pkt->ts_us = ts_us;
	pkt->caplen = caplen;
	pkt->wirelen = wirelen;
	pkt->frames = 1;
	pkt->frames_len = wirelen;
	*why = IW_MAL_NONE;
	struct iw_cur c = iw_cur_make(data, caplen);
	switch (dlt) {
	case IW_DLT_EN10MB:
		return decode_ethernet(d, c, pkt, why);
	case IW_DLT_LINUX_SLL: {
		iw_cur_skip(&c, 14);
		uint16_t proto = iw_cur_be16(&c);
		if (c.err)
			return fail(why, IW_MAL_L2_TRUNC);
		return decode_ethertype(d, proto, c, pkt, why);
	}
	case IW_DLT_LINUX_SLL2: {
		uint16_t proto = iw_cur_be16(&c);
		iw_cur_skip(&c, 18);
		if (c.err)
			return fail(why, IW_MAL_L2_TRUNC);
		return decode_ethertype(d, proto, c, pkt, why);
	}
	case IW_DLT_NULL:
		return decode_loopback(d, c, pkt, why, false);
	case IW_DLT_LOOP:
		return decode_loopback(d, c, pkt, why, true);
	case IW_DLT_RAW:
	case 14: /* DLT_RAW on OpenBSD */
	case IW_DLT_RAW_LINKTYPE:
		return decode_ip(d, c, pkt, why);
	case IW_DLT_IPV4:
		return decode_ethertype(d, ETH_P_IPV4, c, pkt, why);
	case IW_DLT_IPV6:
		return decode_ethertype(d, ETH_P_IPV6, c, pkt, why);
	default:
		return fail(why, IW_MAL_LINKTYPE);
	}
}
