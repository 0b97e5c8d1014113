/* test_packet.c - tests parsers/packet.c and parsers/defrag.c: link types, IP, TCP/UDP, fragments, CIDRs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parsers/cursor.h"
#include "parsers/packet.h"
#include "tests/unit/guard.h"

/* ---- building blocks: L3 packets and link headers, composed into frames below ---- */

/* IPv4 + TCP: 10.0.0.1:50000 -> 10.0.0.2:1883, PSH|ACK, an MQTT PINGREQ as payload. */
static const uint8_t ip4_tcp[] = {
    0x45,                   /* version 4, IHL 5 (20 bytes) */
    0x00,                   /* DSCP 0, ECN 0 */
    0x00, 0x2a,             /* total length 42 = 20 IP + 20 TCP + 2 payload */
    0x12, 0x34,             /* identification */
    0x40, 0x00,             /* flags DF, fragment offset 0 */
    0x40,                   /* TTL 64 */
    0x06,                   /* protocol TCP */
    0x14, 0x98,             /* header checksum */
    0x0a, 0x00, 0x00, 0x01, /* source 10.0.0.1 */
    0x0a, 0x00, 0x00, 0x02, /* destination 10.0.0.2 */
    0xc3, 0x50,             /* TCP source port 50000 */
    0x07, 0x5b,             /* destination port 1883 */
    0x01, 0x02, 0x03, 0x04, /* sequence number */
    0x0a, 0x0b, 0x0c, 0x0d, /* acknowledgment number */
    0x50,                   /* data offset 5 (20 bytes), reserved 0 */
    0x18,                   /* flags PSH|ACK */
    0x20, 0x00,             /* window 8192 */
    0xd6, 0xfd,             /* checksum */
    0x00, 0x00,             /* urgent pointer */
    0xc0, 0x00,             /* payload: MQTT PINGREQ (type 12, remaining length 0) */
};
#define IP4_TCP_OFF_TOTAL   2 /* offsets into ip4_tcp of the fields the tests change */
#define IP4_TCP_OFF_DATAOFF 32
#define IP4_TCP_OFF_FLAGS   33

/* IPv4 + UDP: 10.0.0.1:40000 -> 10.0.0.2:5683, a CoAP empty ACK as payload. */
static const uint8_t ip4_udp[] = {
    0x45,                   /* version 4, IHL 5 */
    0x00,                   /* DSCP 0, ECN 0 */
    0x00, 0x20,             /* total length 32 = 20 IP + 8 UDP + 4 payload */
    0x12, 0x35,             /* identification */
    0x40, 0x00,             /* flags DF, fragment offset 0 */
    0x40,                   /* TTL 64 */
    0x11,                   /* protocol UDP */
    0x14, 0x96,             /* header checksum */
    0x0a, 0x00, 0x00, 0x01, /* source 10.0.0.1 */
    0x0a, 0x00, 0x00, 0x02, /* destination 10.0.0.2 */
    0x9c, 0x40,             /* UDP source port 40000 */
    0x16, 0x33,             /* destination port 5683 */
    0x00, 0x0c,             /* length 12 = 8 header + 4 payload */
    0xc7, 0x2b,             /* checksum */
    0x60,                   /* CoAP: version 1, type ACK, token length 0 */
    0x00,                   /* code 0.00 (empty) */
    0x12, 0x34,             /* message id */
};
#define IP4_UDP_OFF_ULEN 24

/* IPv6 + TCP: [2001:db8::1]:50000 -> [2001:db8::2]:1883, PSH|ACK, an MQTT PINGREQ. */
static const uint8_t ip6_tcp[] = {
    0x60, 0x00, 0x00, 0x00,                         /* version 6, traffic class 0, flow label 0 */
    0x00, 0x16,                                     /* payload length 22 = 20 TCP + 2 */
    0x06,                                           /* next header TCP */
    0x40,                                           /* hop limit 64 */
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, /* source 2001:db8::1 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01,
    0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,                         /* destination 2001:db8::2 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc3, 0x50, /* TCP source port 50000 */
    0x07, 0x5b,                                                 /* destination port 1883 */
    0x01, 0x02, 0x03, 0x04,                                     /* sequence number */
    0x0a, 0x0b, 0x0c, 0x0d,                                     /* acknowledgment number */
    0x50,                                                       /* data offset 5 */
    0x18,                                                       /* flags PSH|ACK */
    0x20, 0x00,                                                 /* window 8192 */
    0x8f, 0x8b,                                                 /* checksum */
    0x00, 0x00,                                                 /* urgent pointer */
    0xc0, 0x00,                                                 /* payload: MQTT PINGREQ */
};

/* IPv6 with hop-by-hop options, destination options and a routing header, then TCP. */
static const uint8_t ip6_ext_tcp[] = {
    0x60, 0x00, 0x00, 0x00,                         /* version 6, traffic class 0, flow label 0 */
    0x00, 0x3e,                                     /* payload length 62 = 8 + 8 + 24 + 22 */
    0x00,                                           /* next header: hop-by-hop options */
    0x40,                                           /* hop limit 64 */
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, /* source 2001:db8::1 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01,
    0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,                   /* destination 2001:db8::2 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x3c, /* hop-by-hop: next header destination options (60)
                                                           */
    0x00,                                                 /* header extension length 0 (8 bytes in all) */
    0x05, 0x02, 0x00, 0x00,                         /* router alert option (type 5, length 2), value 0 */
    0x01, 0x00,                                     /* PadN option, no padding bytes */
    0x2b,                                           /* destination options: next header routing (43) */
    0x00,                                           /* header extension length 0 (8 bytes) */
    0x01, 0x04,                                     /* PadN option, 4 bytes of padding */
    0x00, 0x00, 0x00, 0x00,                         /* padding */
    0x06,                                           /* routing: next header TCP */
    0x02,                                           /* header extension length 2 (24 bytes) */
    0x02,                                           /* routing type 2 (RFC 6275) */
    0x01,                                           /* segments left 1 */
    0x00, 0x00, 0x00, 0x00,                         /* reserved */
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, /* home address 2001:db8::99 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x99, 0xc3, 0x50, /* TCP source port 50000 */
    0x07, 0x5b,                                                 /* destination port 1883 */
    0x01, 0x02, 0x03, 0x04,                                     /* sequence number */
    0x0a, 0x0b, 0x0c, 0x0d,                                     /* acknowledgment number */
    0x50,                                                       /* data offset 5 */
    0x18,                                                       /* flags PSH|ACK */
    0x20, 0x00,                                                 /* window 8192 */
    0x00, 0x00,                                                 /* checksum (not verified by the decoder) */
    0x00, 0x00,                                                 /* urgent pointer */
    0xc0, 0x00,                                                 /* payload: MQTT PINGREQ */
};

/* IPv4 with options (NOP, record route with one slot) + UDP: 10.0.0.1:40000 -> 10.0.0.2:5683. */
static const uint8_t ip4_opts_udp[] = {
    0x47,                   /* version 4, IHL 7 (28 bytes: 8 bytes of options) */
    0x00,                   /* DSCP 0, ECN 0 */
    0x00, 0x28,             /* total length 40 = 28 IP + 8 UDP + 4 payload */
    0x12, 0x36,             /* identification */
    0x40, 0x00,             /* flags DF, fragment offset 0 */
    0x40,                   /* TTL 64 */
    0x11,                   /* protocol UDP */
    0x0a, 0x82,             /* header checksum */
    0x0a, 0x00, 0x00, 0x01, /* source 10.0.0.1 */
    0x0a, 0x00, 0x00, 0x02, /* destination 10.0.0.2 */
    0x01,                   /* option NOP */
    0x07,                   /* option record route */
    0x07,                   /* its length 7: type, length, pointer, one 4-byte slot */
    0x04,                   /* pointer: first free slot */
    0x00, 0x00, 0x00, 0x00, /* the slot */
    0x9c, 0x40,             /* UDP source port 40000 */
    0x16, 0x33,             /* destination port 5683 */
    0x00, 0x0c,             /* length 12 */
    0x00, 0x00,             /* checksum: none */
    0x60, 0x00, 0x12, 0x34, /* CoAP empty ACK */
};
#define IP4_OPTS_OFF_RR_LEN 22

/* IPv4 + TCP SYN without payload: 40 bytes, which Ethernet pads to its 60-byte minimum. */
static const uint8_t ip4_tcp_syn[] = {
    0x45,                   /* version 4, IHL 5 */
    0x00,                   /* DSCP 0, ECN 0 */
    0x00, 0x28,             /* total length 40 */
    0x12, 0x37,             /* identification */
    0x40, 0x00,             /* flags DF, fragment offset 0 */
    0x40,                   /* TTL 64 */
    0x06,                   /* protocol TCP */
    0x14, 0x97,             /* header checksum */
    0x0a, 0x00, 0x00, 0x01, /* source 10.0.0.1 */
    0x0a, 0x00, 0x00, 0x02, /* destination 10.0.0.2 */
    0xc3, 0x50,             /* TCP source port 50000 */
    0x07, 0x5b,             /* destination port 1883 */
    0x01, 0x02, 0x03, 0x04, /* sequence number */
    0x00, 0x00, 0x00, 0x00, /* acknowledgment number */
    0x50,                   /* data offset 5 */
    0x02,                   /* flags SYN */
    0xfa, 0xf0,             /* window 64240 */
    0xd2, 0x3d,             /* checksum */
    0x00, 0x00,             /* urgent pointer */
};

/* IPv4 + TCP announcing 100 bytes of payload of which the capture kept 2 (snap length). */
static const uint8_t ip4_tcp_snapped[] = {
    0x45,                   /* version 4, IHL 5 */
    0x00,                   /* DSCP 0, ECN 0 */
    0x00, 0x8c,             /* total length 140 = 20 IP + 20 TCP + 100 payload */
    0x12, 0x38,             /* identification */
    0x40, 0x00,             /* flags DF, fragment offset 0 */
    0x40,                   /* TTL 64 */
    0x06,                   /* protocol TCP */
    0x00, 0x00,             /* header checksum (not verified by the decoder) */
    0x0a, 0x00, 0x00, 0x01, /* source 10.0.0.1 */
    0x0a, 0x00, 0x00, 0x02, /* destination 10.0.0.2 */
    0xc3, 0x50,             /* TCP source port 50000 */
    0x07, 0x5b,             /* destination port 1883 */
    0x01, 0x02, 0x03, 0x04, /* sequence number */
    0x0a, 0x0b, 0x0c, 0x0d, /* acknowledgment number */
    0x50,                   /* data offset 5 */
    0x18,                   /* flags PSH|ACK */
    0x20, 0x00,             /* window 8192 */
    0x00, 0x00,             /* checksum (not verified) */
    0x00, 0x00,             /* urgent pointer */
    0x30, 0x62,             /* the first 2 of 100 payload bytes (an MQTT PUBLISH) */
};

/* Ethernet II to IPv4. */
static const uint8_t eth_ip4[] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* destination MAC */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* source MAC */
    0x08, 0x00,                         /* EtherType IPv4 */
};

/* Ethernet II to IPv6. */
static const uint8_t eth_ip6[] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* destination MAC */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* source MAC */
    0x86, 0xdd,                         /* EtherType IPv6 */
};

/* Ethernet with one 802.1Q tag, VLAN 100. */
static const uint8_t eth_vlan_ip4[] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* destination MAC */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* source MAC */
    0x81, 0x00,                         /* TPID 802.1Q */
    0x00, 0x64,                         /* TCI: PCP 0, DEI 0, VLAN 100 */
    0x08, 0x00,                         /* EtherType IPv4 */
};

/* Ethernet with 802.1ad QinQ: service tag VLAN 200 outside, customer tag VLAN 100 inside. */
static const uint8_t eth_qinq_ip4[] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* destination MAC */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* source MAC */
    0x88, 0xa8,                         /* TPID 802.1ad (service tag) */
    0x00, 0xc8,                         /* TCI: PCP 0, VLAN 200 */
    0x81, 0x00,                         /* TPID 802.1Q (customer tag) */
    0x20, 0x64,                         /* TCI: PCP 1, VLAN 100 */
    0x08, 0x00,                         /* EtherType IPv4 */
};

/* Ethernet, one VLAN tag, PPPoE session stage (RFC 2516), PPP IPv4. */
static const uint8_t eth_vlan_pppoe_ip4[] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* destination MAC */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* source MAC */
    0x81, 0x00,                         /* TPID 802.1Q */
    0x00, 0x07,                         /* TCI: VLAN 7 */
    0x88, 0x64,                         /* EtherType PPPoE session */
    0x11, 0x00,                         /* version 1, type 1; code 0 (session data) */
    0x12, 0x34,                         /* session id */
    0x00, 0x00,                         /* length (not checked: the IP header bounds the packet) */
    0x00, 0x21,                         /* PPP protocol: IPv4 */
};

/* Linux cooked capture v1 (DLT_LINUX_SLL), to IPv4. */
static const uint8_t sll1_ip4[] = {
    0x00, 0x00,                                     /* packet type: to us */
    0x00, 0x01,                                     /* ARPHRD_ETHER */
    0x00, 0x06,                                     /* link-layer address length 6 */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, /* address, padded to 8 */
    0x08, 0x00,                                     /* protocol IPv4 */
};

/* Linux cooked capture v2 (DLT_LINUX_SLL2), to IPv6. */
static const uint8_t sll2_ip6[] = {
    0x86, 0xdd,                                     /* protocol IPv6 */
    0x00, 0x00,                                     /* reserved */
    0x00, 0x00, 0x00, 0x02,                         /* interface index 2 */
    0x00, 0x01,                                     /* ARPHRD_ETHER */
    0x04,                                           /* packet type: outgoing */
    0x06,                                           /* link-layer address length 6 */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, /* address, padded to 8 */
};

/* An ARP request: Ethernet, but not IP. */
static const uint8_t eth_arp[] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* destination MAC: broadcast */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* source MAC */
    0x08, 0x06,                         /* EtherType ARP */
    0x00, 0x01,                         /* hardware type Ethernet */
    0x08, 0x00,                         /* protocol type IPv4 */
    0x06,                               /* hardware address length */
    0x04,                               /* protocol address length */
    0x00, 0x01,                         /* operation: request */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* sender MAC */
    0x0a, 0x00, 0x00, 0x01,             /* sender IP 10.0.0.1 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* target MAC: unknown */
    0x0a, 0x00, 0x00, 0x02,             /* target IP 10.0.0.2 */
};

/* ---- frames and helpers ---- */

#define MAX_FRAME 256

struct frame {
	uint8_t b[MAX_FRAME];
	size_t len;
};

static void put(struct frame *f, const uint8_t *p, size_t n)
{
	assert_true(f->len + n <= sizeof(f->b));
	if (n)
		memcpy(f->b + f->len, p, n);
	f->len += n;
}

static struct frame cat(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	struct frame f = {.len = 0};
	put(&f, a, alen);
	put(&f, b, blen);
	return f;
}

#define CAT(a, b) cat(a, sizeof(a), b, sizeof(b))

static void put_be16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static struct iw_addr addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct iw_addr x = {{a, b, c, d}};
	return x;
}

static struct iw_addr addr6(const char *s)
{
	struct iw_cidr c;
	assert_int_equal(iw_cidr_parse(s, &c), IW_OK);
	return c.net;
}

/* Decodes with caplen == wirelen and no defragmenter. */
static int decode(int dlt, const uint8_t *p, size_t len, struct iw_packet *pkt, enum iw_malformed *why)
{
	return iw_decode(NULL, dlt, p, (uint32_t)len, (uint32_t)len, 1000000, pkt, why);
}

/* The frame is dropped for exactly this reason (names compared, for readable failures). */
static void expect_drop(int dlt, const uint8_t *p, size_t len, enum iw_malformed want)
{
	struct iw_packet pkt;
	enum iw_malformed why;
	int rc = decode(dlt, p, len, &pkt, &why);
	assert_string_equal(iw_malformed_name(why), iw_malformed_name(want));
	assert_int_equal(rc, IW_ERR);
}

static void expect_ok(int dlt, const uint8_t *p, size_t len, struct iw_packet *pkt)
{
	enum iw_malformed why;
	int rc = decode(dlt, p, len, pkt, &why);
	assert_string_equal(iw_malformed_name(why), "none");
	assert_int_equal(rc, IW_OK);
}

static void assert_addr(const struct iw_addr *got, struct iw_addr want)
{
	assert_memory_equal(got->b, want.b, sizeof(want.b));
}

/* The key of the MQTT PINGREQ samples over IPv4, as seen on the wire. */
static void assert_ip4_tcp_pingreq(const struct iw_packet *pkt)
{
	assert_int_equal(pkt->key.family, 4);
	assert_int_equal(pkt->key.proto, 6);
	assert_addr(&pkt->key.src, addr4(10, 0, 0, 1));
	assert_addr(&pkt->key.dst, addr4(10, 0, 0, 2));
	assert_int_equal(pkt->key.sport, 50000);
	assert_int_equal(pkt->key.dport, 1883);
	assert_int_equal(pkt->tcp_flags, IW_TCP_PSH | IW_TCP_ACK);
	assert_int_equal(pkt->payload_len, 2);
	assert_int_equal(pkt->payload[0], 0xc0);
	assert_int_equal(pkt->payload[1], 0x00);
}

static void assert_ip4_udp_coap(const struct iw_packet *pkt)
{
	assert_int_equal(pkt->key.family, 4);
	assert_int_equal(pkt->key.proto, 17);
	assert_addr(&pkt->key.src, addr4(10, 0, 0, 1));
	assert_addr(&pkt->key.dst, addr4(10, 0, 0, 2));
	assert_int_equal(pkt->key.sport, 40000);
	assert_int_equal(pkt->key.dport, 5683);
	assert_int_equal(pkt->payload_len, 4);
	assert_memory_equal(pkt->payload, "\x60\x00\x12\x34", 4);
}

static void assert_ip6_tcp_pingreq(const struct iw_packet *pkt)
{
	assert_int_equal(pkt->key.family, 6);
	assert_int_equal(pkt->key.proto, 6);
	assert_addr(&pkt->key.src, addr6("2001:db8::1"));
	assert_addr(&pkt->key.dst, addr6("2001:db8::2"));
	assert_int_equal(pkt->key.sport, 50000);
	assert_int_equal(pkt->key.dport, 1883);
	assert_int_equal(pkt->tcp_flags, IW_TCP_PSH | IW_TCP_ACK);
	assert_int_equal(pkt->payload_len, 2);
	assert_int_equal(pkt->payload[0], 0xc0);
}

/* ---- link layers ---- */

static void test_ethernet_ipv4_tcp(void **state)
{
	(void)state;
	struct frame f = CAT(eth_ip4, ip4_tcp);
	struct iw_packet pkt;
	enum iw_malformed why;
	assert_int_equal(
	    iw_decode(NULL, IW_DLT_EN10MB, f.b, (uint32_t)f.len, (uint32_t)f.len, 1234567, &pkt, &why),
	    IW_OK);
	assert_int_equal(why, IW_MAL_NONE);
	assert_ip4_tcp_pingreq(&pkt);
	assert_int_equal(pkt.key.vlan, 0);
	assert_int_equal(pkt.nvlan, 0);
	assert_int_equal(pkt.ts_us, 1234567);
	assert_int_equal(pkt.caplen, f.len);
	assert_int_equal(pkt.wirelen, f.len);
	assert_int_equal(pkt.ttl, 64);
	assert_int_equal(pkt.tcp_seq, 0x01020304);
	assert_int_equal(pkt.tcp_ack, 0x0a0b0c0d);
	assert_int_equal(pkt.tcp_win, 8192);
	assert_ptr_equal(pkt.mac_dst, f.b);
	assert_ptr_equal(pkt.mac_src, f.b + 6);
	assert_ptr_equal(pkt.l3, f.b + 14);
	assert_int_equal(pkt.l3_len, 42);
	assert_ptr_equal(pkt.payload, f.b + 14 + 40);
	assert_false(pkt.truncated);
	assert_false(pkt.reassembled);
	assert_int_equal(pkt.frames, 1);
	assert_int_equal(pkt.frames_len, f.len);
}

static void test_ethernet_8021q(void **state)
{
	(void)state;
	struct frame f = CAT(eth_vlan_ip4, ip4_udp);
	struct iw_packet pkt;
	expect_ok(IW_DLT_EN10MB, f.b, f.len, &pkt);
	assert_ip4_udp_coap(&pkt);
	assert_int_equal(pkt.nvlan, 1);
	assert_int_equal(pkt.vlan[0], 100);
	assert_int_equal(pkt.key.vlan, 100);
	assert_ptr_equal(pkt.l3, f.b + 18);
}

static void test_ethernet_qinq(void **state)
{
	(void)state;
	struct frame f = CAT(eth_qinq_ip4, ip4_tcp);
	struct iw_packet pkt;
	expect_ok(IW_DLT_EN10MB, f.b, f.len, &pkt);
	assert_ip4_tcp_pingreq(&pkt);
	assert_int_equal(pkt.nvlan, 2);
	assert_int_equal(pkt.vlan[0], 200); /* outer */
	assert_int_equal(pkt.vlan[1], 100); /* inner, priority bits masked off */
	assert_int_equal(pkt.key.vlan, 200);
	assert_ptr_equal(pkt.l3, f.b + 22);
}

/* IP inside a PPPoE session behind a VLAN tag; PPP control protocols, another PPPoE
 * version and a cut header are not IP. */
static void test_ethernet_pppoe(void **state)
{
	(void)state;
	struct frame f = CAT(eth_vlan_pppoe_ip4, ip4_tcp);
	struct iw_packet pkt;
	expect_ok(IW_DLT_EN10MB, f.b, f.len, &pkt);
	assert_ip4_tcp_pingreq(&pkt);
	assert_int_equal(pkt.key.vlan, 7);
	assert_ptr_equal(pkt.l3, f.b + sizeof(eth_vlan_pppoe_ip4));

	struct frame lcp = f;
	put_be16(lcp.b + 24, 0xc021); /* PPP LCP */
	expect_drop(IW_DLT_EN10MB, lcp.b, lcp.len, IW_MAL_ETHERTYPE);
	struct frame v2 = f;
	v2.b[18] = 0x21; /* version 2 */
	expect_drop(IW_DLT_EN10MB, v2.b, v2.len, IW_MAL_ETHERTYPE);
	struct frame disc = f;
	disc.b[19] = 0x09; /* PADI: discovery, not session data */
	expect_drop(IW_DLT_EN10MB, disc.b, disc.len, IW_MAL_ETHERTYPE);
	for (size_t len = 18; len < sizeof(eth_vlan_pppoe_ip4); len++)
		expect_drop(IW_DLT_EN10MB, f.b, len, IW_MAL_L2_TRUNC);
}

static void test_ethernet_vlan_depth(void **state)
{
	(void)state;
	static const uint8_t tag[] = {
	    0x81, 0x00, /* TPID 802.1Q */
	    0x00, 0x0a, /* TCI: VLAN 10 */
	};
	/* four tags are followed (the first two kept), five are too many */
	for (int ntags = 4; ntags <= 5; ntags++) {
		struct frame f = {.len = 0};
		put(&f, eth_ip4, 12); /* MACs */
		for (int i = 0; i < ntags; i++)
			put(&f, tag, sizeof(tag));
		put(&f, eth_ip4 + 12, 2); /* EtherType IPv4 */
		put(&f, ip4_tcp, sizeof(ip4_tcp));
		if (ntags == 4) {
			struct iw_packet pkt;
			expect_ok(IW_DLT_EN10MB, f.b, f.len, &pkt);
			assert_int_equal(pkt.nvlan, 2);
			assert_int_equal(pkt.key.vlan, 10);
			assert_ip4_tcp_pingreq(&pkt);
		} else {
			expect_drop(IW_DLT_EN10MB, f.b, f.len, IW_MAL_VLAN_DEPTH);
		}
	}
}

static void test_linux_sll_v1(void **state)
{
	(void)state;
	struct frame f = CAT(sll1_ip4, ip4_udp);
	struct iw_packet pkt;
	expect_ok(IW_DLT_LINUX_SLL, f.b, f.len, &pkt);
	assert_ip4_udp_coap(&pkt);
	assert_null(pkt.mac_src);
	assert_null(pkt.mac_dst);
	assert_ptr_equal(pkt.l3, f.b + 16);
}

static void test_linux_sll_v2(void **state)
{
	(void)state;
	struct frame f = CAT(sll2_ip6, ip6_tcp);
	struct iw_packet pkt;
	expect_ok(IW_DLT_LINUX_SLL2, f.b, f.len, &pkt);
	assert_ip6_tcp_pingreq(&pkt);
	assert_ptr_equal(pkt.l3, f.b + 20);
	assert_int_equal(pkt.l3_len, 62);
	assert_null(pkt.mac_src);
}

static void test_linux_sll_not_ip(void **state)
{
	(void)state;
	struct frame f = CAT(sll1_ip4, ip4_udp);
	f.b[14] = 0x08; /* protocol 0x0806: ARP */
	f.b[15] = 0x06;
	expect_drop(IW_DLT_LINUX_SLL, f.b, f.len, IW_MAL_ETHERTYPE);
}

/* BSD loopback: the family in host order, either order accepted. */
static void test_null_loopback(void **state)
{
	(void)state;
	static const uint8_t af_inet_le[] = {0x02, 0x00, 0x00, 0x00}; /* AF_INET, little-endian host */
	static const uint8_t af_inet_be[] = {0x00, 0x00, 0x00, 0x02}; /* AF_INET, big-endian host */
	struct iw_packet pkt;
	struct frame f = CAT(af_inet_le, ip4_tcp);
	expect_ok(IW_DLT_NULL, f.b, f.len, &pkt);
	assert_ip4_tcp_pingreq(&pkt);
	assert_ptr_equal(pkt.l3, f.b + 4);
	f = CAT(af_inet_be, ip4_tcp);
	expect_ok(IW_DLT_NULL, f.b, f.len, &pkt);
	assert_ip4_tcp_pingreq(&pkt);

	/* AF_INET6: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS; both byte orders */
	static const uint8_t af_inet6[] = {10, 24, 28, 30};
	for (size_t i = 0; i < sizeof(af_inet6); i++) {
		uint8_t le[4] = {af_inet6[i], 0x00, 0x00, 0x00}; /* family, little-endian */
		uint8_t be[4] = {0x00, 0x00, 0x00, af_inet6[i]}; /* family, big-endian */
		f = CAT(le, ip6_tcp);
		expect_ok(IW_DLT_NULL, f.b, f.len, &pkt);
		assert_ip6_tcp_pingreq(&pkt);
		f = CAT(be, ip6_tcp);
		expect_ok(IW_DLT_NULL, f.b, f.len, &pkt);
		assert_ip6_tcp_pingreq(&pkt);
	}

	static const uint8_t af_unknown[] = {0x07, 0x00, 0x00, 0x00}; /* family 7: not IP */
	f = CAT(af_unknown, ip4_tcp);
	expect_drop(IW_DLT_NULL, f.b, f.len, IW_MAL_ETHERTYPE);
	static const uint8_t af_inet_v6body[] = {0x02, 0x00, 0x00, 0x00}; /* AF_INET over an IPv6 packet */
	f = CAT(af_inet_v6body, ip6_tcp);
	expect_drop(IW_DLT_NULL, f.b, f.len, IW_MAL_IP_VERSION);
}

/* OpenBSD loopback: the family in network order. */
static void test_loop(void **state)
{
	(void)state;
	static const uint8_t af_inet[] = {0x00, 0x00, 0x00, 0x02};    /* AF_INET */
	static const uint8_t af_inet6[] = {0x00, 0x00, 0x00, 0x18};   /* AF_INET6 (24) */
	static const uint8_t af_inet_le[] = {0x02, 0x00, 0x00, 0x00}; /* host order: wrong for LOOP */
	struct iw_packet pkt;
	struct frame f = CAT(af_inet, ip4_tcp);
	expect_ok(IW_DLT_LOOP, f.b, f.len, &pkt);
	assert_ip4_tcp_pingreq(&pkt);
	f = CAT(af_inet6, ip6_tcp);
	expect_ok(IW_DLT_LOOP, f.b, f.len, &pkt);
	assert_ip6_tcp_pingreq(&pkt);
	f = CAT(af_inet_le, ip4_tcp);
	expect_drop(IW_DLT_LOOP, f.b, f.len, IW_MAL_ETHERTYPE);
}

static void test_raw_ip(void **state)
{
	(void)state;
	struct iw_packet pkt;
	static const int raw4[] = {IW_DLT_RAW, 14, IW_DLT_RAW_LINKTYPE, IW_DLT_IPV4};
	for (size_t i = 0; i < sizeof(raw4) / sizeof(raw4[0]); i++) {
		expect_ok(raw4[i], ip4_tcp, sizeof(ip4_tcp), &pkt);
		assert_ip4_tcp_pingreq(&pkt);
		assert_ptr_equal(pkt.l3, ip4_tcp);
		assert_null(pkt.mac_src);
	}
	static const int raw6[] = {IW_DLT_RAW, 14, IW_DLT_RAW_LINKTYPE, IW_DLT_IPV6};
	for (size_t i = 0; i < sizeof(raw6) / sizeof(raw6[0]); i++) {
		expect_ok(raw6[i], ip6_tcp, sizeof(ip6_tcp), &pkt);
		assert_ip6_tcp_pingreq(&pkt);
	}
	/* the IPv4 and IPv6 link types insist on their version */
	expect_drop(IW_DLT_IPV4, ip6_tcp, sizeof(ip6_tcp), IW_MAL_IP_VERSION);
	expect_drop(IW_DLT_IPV6, ip4_tcp, sizeof(ip4_tcp), IW_MAL_IP_VERSION);
	uint8_t v5[sizeof(ip4_tcp)];
	memcpy(v5, ip4_tcp, sizeof(v5));
	v5[0] = 0x55; /* version 5 */
	expect_drop(IW_DLT_RAW, v5, sizeof(v5), IW_MAL_IP_VERSION);
	/* an empty frame has no version at all */
	expect_drop(IW_DLT_RAW, ip4_tcp, 0, IW_MAL_IP4_HDR);
}

static void test_unknown_linktype(void **state)
{
	(void)state;
	expect_drop(147 /* DLT_USER0 */, ip4_tcp, sizeof(ip4_tcp), IW_MAL_LINKTYPE);
	expect_drop(-1, ip4_tcp, sizeof(ip4_tcp), IW_MAL_LINKTYPE);
	expect_drop(105 /* IEEE 802.11 */, ip4_tcp, sizeof(ip4_tcp), IW_MAL_LINKTYPE);
}

static void test_arp_not_ip(void **state)
{
	(void)state;
	expect_drop(IW_DLT_EN10MB, eth_arp, sizeof(eth_arp), IW_MAL_ETHERTYPE);
	/* EtherType IPv4 with an IPv6 packet behind it */
	struct frame f = CAT(eth_ip4, ip6_tcp);
	expect_drop(IW_DLT_EN10MB, f.b, f.len, IW_MAL_IP_VERSION);
}

static void test_link_header_truncated(void **state)
{
	(void)state;
	expect_drop(IW_DLT_EN10MB, eth_ip4, 13, IW_MAL_L2_TRUNC);
	expect_drop(IW_DLT_EN10MB, eth_vlan_ip4, 16, IW_MAL_L2_TRUNC); /* inside the tag */
	expect_drop(IW_DLT_LINUX_SLL, sll1_ip4, 15, IW_MAL_L2_TRUNC);
	expect_drop(IW_DLT_LINUX_SLL2, sll2_ip6, 19, IW_MAL_L2_TRUNC);
	expect_drop(IW_DLT_NULL, (const uint8_t *)"\x02\x00\x00", 3, IW_MAL_L2_TRUNC);
	expect_drop(IW_DLT_LOOP, (const uint8_t *)"\x00\x00", 2, IW_MAL_L2_TRUNC);
	/* a complete Ethernet header with nothing behind it */
	expect_drop(IW_DLT_EN10MB, eth_ip4, sizeof(eth_ip4), IW_MAL_IP4_HDR);
	expect_drop(IW_DLT_EN10MB, eth_ip6, sizeof(eth_ip6), IW_MAL_IP6_HDR);
}

/* ---- IPv4 ---- */

static void test_ipv4_options(void **state)
{
	(void)state;
	struct iw_packet pkt;
	expect_ok(IW_DLT_RAW, ip4_opts_udp, sizeof(ip4_opts_udp), &pkt);
	assert_ip4_udp_coap(&pkt);
	assert_int_equal(pkt.l3_len, 40);
	assert_ptr_equal(pkt.payload, ip4_opts_udp + 28 + 8);

	uint8_t p[sizeof(ip4_opts_udp)];
	memcpy(p, ip4_opts_udp, sizeof(p));
	p[IP4_OPTS_OFF_RR_LEN] = 9; /* record route claims 9 bytes, 7 are left in the header */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_IP4_OPTIONS);
	p[IP4_OPTS_OFF_RR_LEN] = 1; /* a length below 2 cannot cover type and length */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_IP4_OPTIONS);
	p[IP4_OPTS_OFF_RR_LEN] = 0;
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_IP4_OPTIONS);

	memcpy(p, ip4_opts_udp, sizeof(p));
	memset(p + 20, 0x01, 7); /* seven NOPs */
	p[27] = 0x44;            /* then a timestamp option in the last byte: no room for its length */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_IP4_OPTIONS);

	memcpy(p, ip4_opts_udp, sizeof(p));
	p[20] = 0x00; /* end of option list: what follows is padding, even if it looks bad */
	p[21] = 0x07;
	p[22] = 0xff;
	expect_ok(IW_DLT_RAW, p, sizeof(p), &pkt);
	assert_ip4_udp_coap(&pkt);
}

static void test_ipv4_ihl_below_5(void **state)
{
	(void)state;
	uint8_t p[sizeof(ip4_tcp)];
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		memcpy(p, ip4_tcp, sizeof(p));
		p[0] = (uint8_t)(0x40 | ihl); /* version 4, IHL below 5 */
		expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_IP4_HDR);
	}
	memcpy(p, ip4_tcp, sizeof(p));
	p[0] = 0x4f; /* IHL 15: a 60-byte header in a 42-byte packet */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_IP4_HDR);
	expect_drop(IW_DLT_RAW, ip4_tcp, 19, IW_MAL_IP4_HDR); /* fixed header cut */
}

static void test_ipv4_total_length(void **state)
{
	(void)state;
	uint8_t p[sizeof(ip4_tcp)];
	memcpy(p, ip4_tcp, sizeof(p));
	put_be16(p + IP4_TCP_OFF_TOTAL, 43); /* one byte more than the frame holds, nothing snapped */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_IP4_LEN);
	put_be16(p + IP4_TCP_OFF_TOTAL, 19); /* shorter than the header */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_IP4_LEN);
	put_be16(p + IP4_TCP_OFF_TOTAL, 0xffff);
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_IP4_LEN);
	/* a total length cutting into the TCP header leaves too little for it */
	put_be16(p + IP4_TCP_OFF_TOTAL, 30);
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_TCP_HDR);
}

static void test_ipv4_snaplen(void **state)
{
	(void)state;
	struct iw_packet pkt;
	enum iw_malformed why;
	/* 42 bytes captured of a 140-byte packet */
	uint32_t cap = sizeof(ip4_tcp_snapped), wire = 140;
	assert_int_equal(iw_decode(NULL, IW_DLT_RAW, ip4_tcp_snapped, cap, wire, 1, &pkt, &why), IW_OK);
	assert_int_equal(why, IW_MAL_NONE);
	assert_true(pkt.truncated);
	assert_int_equal(pkt.key.sport, 50000);
	assert_int_equal(pkt.key.dport, 1883);
	assert_int_equal(pkt.l3_len, 42);
	assert_int_equal(pkt.payload_len, 2);
	assert_ptr_equal(pkt.payload, ip4_tcp_snapped + 40);

	/* the same bytes without a snap length are a lie about the length */
	expect_drop(IW_DLT_RAW, ip4_tcp_snapped, sizeof(ip4_tcp_snapped), IW_MAL_IP4_LEN);

	/* snapped inside the TCP header: the transport cannot be decoded */
	assert_int_equal(iw_decode(NULL, IW_DLT_RAW, ip4_tcp_snapped, 30, wire, 1, &pkt, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "snaplen_truncated");

	/* UDP snapped in its payload: decoded, truncated */
	struct frame f = CAT(eth_ip4, ip4_udp);
	assert_int_equal(
	    iw_decode(NULL, IW_DLT_EN10MB, f.b, (uint32_t)f.len - 2, (uint32_t)f.len, 1, &pkt, &why), IW_OK);
	assert_true(pkt.truncated);
	assert_int_equal(pkt.key.dport, 5683);
	assert_int_equal(pkt.payload_len, 2);
}

static void test_ethernet_padding_trimmed(void **state)
{
	(void)state;
	static const uint8_t pad[6] = {0}; /* Ethernet padding to the 60-byte minimum */
	struct iw_packet pkt;
	struct frame f = CAT(eth_ip4, ip4_tcp_syn);
	put(&f, pad, sizeof(pad));
	assert_int_equal(f.len, 60);
	expect_ok(IW_DLT_EN10MB, f.b, f.len, &pkt);
	assert_int_equal(pkt.tcp_flags, IW_TCP_SYN);
	assert_int_equal(pkt.l3_len, 40);
	assert_int_equal(pkt.payload_len, 0);

	static const uint8_t pad14[14] = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, /* padding, not zero */
	                                  0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee};
	f = CAT(eth_ip4, ip4_udp);
	put(&f, pad14, sizeof(pad14));
	assert_int_equal(f.len, 60);
	expect_ok(IW_DLT_EN10MB, f.b, f.len, &pkt);
	assert_ip4_udp_coap(&pkt);
	assert_int_equal(pkt.l3_len, 32);
}

/* ---- IPv6 ---- */

static void test_ipv6_extension_headers(void **state)
{
	(void)state;
	struct iw_packet pkt;
	struct frame f = CAT(eth_ip6, ip6_ext_tcp);
	expect_ok(IW_DLT_EN10MB, f.b, f.len, &pkt);
	assert_ip6_tcp_pingreq(&pkt);
	assert_int_equal(pkt.l3_len, 40 + 62);
	assert_ptr_equal(pkt.payload, f.b + 14 + 40 + 40 + 20);
	assert_int_equal(pkt.tcp_seq, 0x01020304);
}

/* IPv6 + n destination options headers (8 bytes each) + the TCP segment of ip6_tcp. */
static size_t ip6_dstopts_chain(uint8_t *out, int n)
{
	memcpy(out, ip6_tcp, 40);
	out[6] = n ? 60 : 6; /* next header: destination options, or TCP */
	size_t at = 40;
	for (int i = 0; i < n; i++) {
		const uint8_t opt[8] = {
		    i + 1 < n ? 60 : 6, /* next header: another destination options, then TCP */
		    0x00,               /* header extension length 0 (8 bytes) */
		    0x01,
		    0x04, /* PadN option, 4 bytes of padding */
		    0x00,
		    0x00,
		    0x00,
		    0x00,
		};
		memcpy(out + at, opt, sizeof(opt));
		at += sizeof(opt);
	}
	memcpy(out + at, ip6_tcp + 40, sizeof(ip6_tcp) - 40);
	at += sizeof(ip6_tcp) - 40;
	put_be16(out + 4, (unsigned)(at - 40)); /* payload length */
	return at;
}

static void test_ipv6_too_many_extension_headers(void **state)
{
	(void)state;
	uint8_t p[40 + 16 * 8 + 22];
	struct iw_packet pkt;
	size_t n = ip6_dstopts_chain(p, 8); /* eight are followed */
	expect_ok(IW_DLT_RAW, p, n, &pkt);
	assert_ip6_tcp_pingreq(&pkt);
	n = ip6_dstopts_chain(p, 9);
	expect_drop(IW_DLT_RAW, p, n, IW_MAL_IP6_EXT);
	n = ip6_dstopts_chain(p, 16);
	expect_drop(IW_DLT_RAW, p, n, IW_MAL_IP6_EXT);
}

static void test_ipv6_bad_lengths(void **state)
{
	(void)state;
	uint8_t p[sizeof(ip6_ext_tcp)];
	memcpy(p, ip6_ext_tcp, sizeof(p));
	p[40 + 16 + 1] = 0x05; /* routing header claims 48 bytes, past the payload */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_IP6_EXT);

	memcpy(p, ip6_tcp, sizeof(ip6_tcp));
	put_be16(p + 4, 23); /* payload length one more than captured */
	expect_drop(IW_DLT_RAW, p, sizeof(ip6_tcp), IW_MAL_IP6_HDR);
	expect_drop(IW_DLT_RAW, ip6_tcp, 39, IW_MAL_IP6_HDR); /* fixed header cut */

	/* the payload length may be shorter than the frame: trailing bytes are not payload */
	struct iw_packet pkt;
	memcpy(p, ip6_tcp, sizeof(ip6_tcp));
	put_be16(p + 4, 21); /* one payload byte */
	expect_ok(IW_DLT_RAW, p, sizeof(ip6_tcp), &pkt);
	assert_int_equal(pkt.payload_len, 1);
	assert_int_equal(pkt.l3_len, 61);
}

/* ---- transport ---- */

static void test_udp_length(void **state)
{
	(void)state;
	uint8_t p[sizeof(ip4_udp)];
	memcpy(p, ip4_udp, sizeof(p));
	put_be16(p + IP4_UDP_OFF_ULEN, 4); /* below the 8-byte header */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_UDP_LEN);
	put_be16(p + IP4_UDP_OFF_ULEN, 13); /* one byte past the IP payload */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_UDP_LEN);
	put_be16(p + IP4_UDP_OFF_ULEN, 10); /* shorter than the IP payload: the rest is not UDP's */
	struct iw_packet pkt;
	expect_ok(IW_DLT_RAW, p, sizeof(p), &pkt);
	assert_int_equal(pkt.payload_len, 2);
	put_be16(p + IP4_UDP_OFF_ULEN, 8); /* empty datagram */
	expect_ok(IW_DLT_RAW, p, sizeof(p), &pkt);
	assert_int_equal(pkt.payload_len, 0);

	memcpy(p, ip4_udp, sizeof(p));
	put_be16(p + 2, 24); /* IP total length leaves 4 bytes: no room for the UDP header */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_UDP_HDR);
}

static void test_tcp_data_offset(void **state)
{
	(void)state;
	uint8_t p[sizeof(ip4_tcp)];
	for (uint8_t off = 0; off < 5; off++) {
		memcpy(p, ip4_tcp, sizeof(p));
		p[IP4_TCP_OFF_DATAOFF] = (uint8_t)(off << 4); /* data offset below 5 */
		expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_TCP_HDR);
	}
	memcpy(p, ip4_tcp, sizeof(p));
	p[IP4_TCP_OFF_DATAOFF] = 0x60; /* data offset 6: 24 bytes, only 22 in the segment */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_TCP_HDR);
	p[IP4_TCP_OFF_DATAOFF] = 0xf0; /* data offset 15 */
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_TCP_HDR);

	/* a segment that is only a header */
	memcpy(p, ip4_tcp, sizeof(p));
	put_be16(p + IP4_TCP_OFF_TOTAL, 40); /* IP total length: no payload */
	struct iw_packet pkt;
	expect_ok(IW_DLT_RAW, p, 40, &pkt);
	assert_int_equal(pkt.payload_len, 0);
}

static void test_tcp_impossible_flags(void **state)
{
	(void)state;
	uint8_t p[sizeof(ip4_tcp)];
	memcpy(p, ip4_tcp, sizeof(p));
	p[IP4_TCP_OFF_FLAGS] = IW_TCP_SYN | IW_TCP_FIN;
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_TCP_FLAGS);
	p[IP4_TCP_OFF_FLAGS] = IW_TCP_SYN | IW_TCP_RST | IW_TCP_ACK;
	expect_drop(IW_DLT_RAW, p, sizeof(p), IW_MAL_TCP_FLAGS);
	p[IP4_TCP_OFF_FLAGS] = IW_TCP_SYN | IW_TCP_ACK;
	struct iw_packet pkt;
	expect_ok(IW_DLT_RAW, p, sizeof(p), &pkt);
	assert_int_equal(pkt.tcp_flags, IW_TCP_SYN | IW_TCP_ACK);
	p[IP4_TCP_OFF_FLAGS] = 0xc0 | IW_TCP_ACK; /* ECE and CWR are not reported */
	expect_ok(IW_DLT_RAW, p, sizeof(p), &pkt);
	assert_int_equal(pkt.tcp_flags, IW_TCP_ACK);
}

/* ---- fragments ---- */

/* The UDP datagram (IP payload, 48 bytes) that the fragment tests cut up. */
static const uint8_t frag_udp_hdr[] = {
    0x9c, 0x40, /* UDP source port 40000 */
    0x16, 0x33, /* destination port 5683 */
    0x00, 0x30, /* length 48 = 8 + 40 */
    0x00, 0x00, /* checksum: none */
};
static const char frag_udp_body[] = "0123456789abcdefghijklmnopqrstuvwxyzABCD"; /* 40 bytes */

static void frag_dgram(uint8_t out[48])
{
	memcpy(out, frag_udp_hdr, 8);
	memcpy(out + 8, frag_udp_body, 40);
}

/* A raw IPv4 fragment 192.0.2.1 -> 192.0.2.2 carrying len bytes at byte offset off, with
 * a header of ihl 32-bit words (options beyond 5 words are NOPs). */
static size_t ip4_frag_ihl(uint8_t *out, unsigned ihl, unsigned id, uint32_t off, bool more,
                           const uint8_t *data, size_t len)
{
	static const uint8_t hdr[20] = {
	    0x45,                   /* version 4, IHL 5 (raised below for options) */
	    0x00,                   /* DSCP 0, ECN 0 */
	    0x00, 0x00,             /* total length: set below */
	    0x00, 0x00,             /* identification: set below */
	    0x00, 0x00,             /* flags and fragment offset: set below */
	    0x40,                   /* TTL 64 */
	    0x11,                   /* protocol UDP */
	    0x00, 0x00,             /* header checksum (not verified) */
	    0xc0, 0x00, 0x02, 0x01, /* source 192.0.2.1 */
	    0xc0, 0x00, 0x02, 0x02, /* destination 192.0.2.2 */
	};
	size_t hl = (size_t)ihl * 4;
	memcpy(out, hdr, sizeof(hdr));
	out[0] = (uint8_t)(0x40 | ihl);
	memset(out + 20, 0x01, hl - 20); /* NOP options */
	put_be16(out + 2, (unsigned)(hl + len));
	put_be16(out + 4, id);
	put_be16(out + 6, (more ? 0x2000u : 0) | off / 8); /* MF, offset in 8-byte units */
	memcpy(out + hl, data, len);
	return hl + len;
}

static size_t ip4_frag(uint8_t *out, unsigned id, uint32_t off, bool more, const uint8_t *data, size_t len)
{
	return ip4_frag_ihl(out, 5, id, off, more, data, len);
}

/* A raw IPv6 fragment 2001:db8::1 -> 2001:db8::2 (fragment header, then UDP's bytes). */
static size_t ip6_frag(uint8_t *out, uint32_t id, uint32_t off, bool more, const uint8_t *data, size_t len)
{
	static const uint8_t hdr[48] = {
	    0x60, 0x00, 0x00, 0x00,                         /* version 6 */
	    0x00, 0x00,                                     /* payload length: set below */
	    0x2c,                                           /* next header: fragment (44) */
	    0x40,                                           /* hop limit 64 */
	    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, /* source 2001:db8::1 */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20,
	    0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,             /* destination 2001:db8::2 */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x11, /* fragment header: next header UDP */
	    0x00,                                                 /* reserved */
	    0x00, 0x00,                                           /* fragment offset, M: set below */
	    0x00, 0x00, 0x00, 0x00,                               /* identification: set below */
	};
	memcpy(out, hdr, sizeof(hdr));
	put_be16(out + 4, (unsigned)(8 + len));
	put_be16(out + 42, off | (more ? 1u : 0)); /* offset in 8-byte units, shifted by 3 */
	out[44] = (uint8_t)(id >> 24);
	out[45] = (uint8_t)(id >> 16);
	out[46] = (uint8_t)(id >> 8);
	out[47] = (uint8_t)id;
	memcpy(out + 48, data, len);
	return 48 + len;
}

static const struct iw_defrag_limits roomy = {
    .max_datagrams = 16,
    .max_bytes = 1u << 20,
    .max_frags = 64,
    .timeout_us = 30000000,
};

static int feed(struct iw_defrag *d, const uint8_t *p, size_t len, uint64_t ts, struct iw_packet *pkt,
                enum iw_malformed *why)
{
	return iw_decode(d, IW_DLT_RAW, p, (uint32_t)len, (uint32_t)len, ts, pkt, why);
}

static void assert_reassembled_udp(const struct iw_packet *pkt, int family)
{
	assert_true(pkt->reassembled);
	assert_int_equal(pkt->key.family, family);
	assert_int_equal(pkt->key.proto, 17);
	assert_int_equal(pkt->key.sport, 40000);
	assert_int_equal(pkt->key.dport, 5683);
	assert_int_equal(pkt->payload_len, 40);
	assert_memory_equal(pkt->payload, frag_udp_body, 40);
}

static void test_ipv4_fragments_out_of_order(void **state)
{
	(void)state;
	uint8_t dg[48], f1[68], f2[68], f3[68];
	frag_dgram(dg);
	size_t n1 = ip4_frag(f1, 7, 0, true, dg, 16);
	size_t n2 = ip4_frag(f2, 7, 16, true, dg + 16, 16);
	size_t n3 = ip4_frag(f3, 7, 32, false, dg + 32, 16);
	struct iw_defrag *d = iw_defrag_new(&roomy);
	struct iw_packet pkt;
	enum iw_malformed why;
	assert_int_equal(feed(d, f3, n3, 1, &pkt, &why), IW_NEED_MORE);
	assert_int_equal(feed(d, f1, n1, 2, &pkt, &why), IW_NEED_MORE);
	assert_int_equal(feed(d, f2, n2, 3, &pkt, &why), IW_OK);
	assert_int_equal(why, IW_MAL_NONE);
	assert_reassembled_udp(&pkt, 4);
	assert_addr(&pkt.key.src, addr4(192, 0, 2, 1));
	assert_addr(&pkt.key.dst, addr4(192, 0, 2, 2));
	assert_int_equal(pkt.l3_len, 20 + 48);
	assert_int_equal(pkt.l3[6] & 0x3f, 0); /* the rebuilt header has no fragmentation */
	assert_int_equal(pkt.l3[7], 0);
	assert_int_equal(pkt.frames, 3);
	assert_int_equal(pkt.frames_len, n1 + n2 + n3);
	assert_int_equal(iw_defrag_expired(d), 0);
	iw_defrag_free(d);
}

static void test_ipv4_fragment_overlap_identical(void **state)
{
	(void)state;
	uint8_t dg[48], f[68];
	frag_dgram(dg);
	struct iw_defrag *d = iw_defrag_new(&roomy);
	struct iw_packet pkt;
	enum iw_malformed why;
	size_t n = ip4_frag(f, 8, 0, true, dg, 16);
	assert_int_equal(feed(d, f, n, 1, &pkt, &why), IW_NEED_MORE);
	n = ip4_frag(f, 8, 8, true, dg + 8, 16); /* bytes 8..24, the first 8 already held, the same */
	assert_int_equal(feed(d, f, n, 2, &pkt, &why), IW_NEED_MORE);
	n = ip4_frag(f, 8, 0, true, dg, 16); /* a plain retransmission */
	assert_int_equal(feed(d, f, n, 3, &pkt, &why), IW_NEED_MORE);
	n = ip4_frag(f, 8, 16, false, dg + 16, 32);
	assert_int_equal(feed(d, f, n, 4, &pkt, &why), IW_OK);
	assert_reassembled_udp(&pkt, 4);
	iw_defrag_free(d);
}

static void test_ipv4_fragment_overlap_different(void **state)
{
	(void)state;
	uint8_t dg[48], f[68];
	frag_dgram(dg);
	struct iw_defrag *d = iw_defrag_new(&roomy);
	struct iw_packet pkt;
	enum iw_malformed why;
	size_t n = ip4_frag(f, 9, 0, true, dg, 16);
	assert_int_equal(feed(d, f, n, 1, &pkt, &why), IW_NEED_MORE);
	uint8_t evil[16];
	memcpy(evil, dg + 8, 16);
	evil[7] ^= 0xff; /* differs in a byte already held (offset 15) */
	n = ip4_frag(f, 9, 8, true, evil, 16);
	assert_int_equal(feed(d, f, n, 2, &pkt, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_overlap");
	/* the first copy stays: the datagram still completes with the original bytes */
	n = ip4_frag(f, 9, 16, false, dg + 16, 32);
	assert_int_equal(feed(d, f, n, 3, &pkt, &why), IW_OK);
	assert_reassembled_udp(&pkt, 4);
	assert_int_equal(pkt.frames, 2); /* the dropped fragment is not part of it */
	iw_defrag_free(d);
}

static void test_ipv4_fragment_invalid(void **state)
{
	(void)state;
	uint8_t dg[48], f[68];
	frag_dgram(dg);
	struct iw_defrag *d = iw_defrag_new(&roomy);
	struct iw_packet pkt;
	enum iw_malformed why;
	size_t n = ip4_frag(f, 10, 65528, false, dg, 16); /* offset 8191*8 + 16 > 65535 */
	assert_int_equal(feed(d, f, n, 1, &pkt, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_invalid");
	n = ip4_frag(f, 10, 0, true, dg, 12); /* a non-final fragment must be a multiple of 8 */
	assert_int_equal(feed(d, f, n, 2, &pkt, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_invalid");
	n = ip4_frag(f, 10, 8, true, dg, 0); /* an empty non-final fragment */
	assert_int_equal(feed(d, f, n, 3, &pkt, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_invalid");

	/* two final fragments that disagree on the end */
	n = ip4_frag(f, 11, 32, false, dg + 32, 16);
	assert_int_equal(feed(d, f, n, 4, &pkt, &why), IW_NEED_MORE);
	n = ip4_frag(f, 11, 16, false, dg + 16, 8);
	assert_int_equal(feed(d, f, n, 5, &pkt, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_invalid");
	/* a non-final fragment past the known end */
	n = ip4_frag(f, 11, 40, true, dg + 32, 16);
	assert_int_equal(feed(d, f, n, 6, &pkt, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_invalid");
	iw_defrag_free(d);
}

/* Sends body as 1480-byte fragments, offset 0 with a header of ihl0 words, the others
 * with 5 words, in order or from the last; returns the last result. */
static int send_train(struct iw_defrag *d, unsigned id, const uint8_t *body, uint32_t len, unsigned ihl0,
                      bool reverse, enum iw_malformed *why)
{
	static uint8_t f[60 + 1480];
	struct iw_packet pkt;
	uint32_t nfrag = (len + 1479) / 1480;
	int rc = IW_NEED_MORE;
	for (uint32_t i = 0; i < nfrag && rc == IW_NEED_MORE; i++) {
		uint32_t off = (reverse ? nfrag - 1 - i : i) * 1480;
		uint32_t n = len - off < 1480 ? len - off : 1480;
		size_t fl = ip4_frag_ihl(f, off ? 5 : ihl0, id, off, off + n < len, body + off, n);
		rc = feed(d, f, fl, 1, &pkt, why);
	}
	return rc;
}

/* A datagram longer than 65535 bytes, header included, cannot exist (RFC 791: total
 * length is 16 bits), though each fragment on its own fits. Reassembled, its total
 * length field would wrap. */
static void test_ipv4_reassembled_over_65535(void **state)
{
	(void)state;
	static uint8_t body[65528];
	memset(body, 'x', sizeof(body));
	struct iw_defrag_limits lim = roomy;
	lim.max_frags = 100;
	struct iw_defrag *d = iw_defrag_new(&lim);
	enum iw_malformed why = IW_MAL_NONE;
	/* 20 + 65528 bytes */
	assert_int_equal(send_train(d, 12, body, 65528, 5, false, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_invalid");
	/* 60 + 65512 bytes: only the first fragment has the long header, and the others
	 * alone would fit with their 20-byte one; in either order */
	why = IW_MAL_NONE;
	assert_int_equal(send_train(d, 13, body, 65512, 15, false, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_invalid");
	why = IW_MAL_NONE;
	assert_int_equal(send_train(d, 14, body, 65512, 15, true, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_invalid");
	/* the largest that fits, 20 + 65512 bytes (the payload ends on an 8-byte unit), is
	 * rebuilt; here with a real UDP header in front */
	static const uint8_t udp[8] = {
	    0x9c, 0x40, /* source port 40000 */
	    0x16, 0x33, /* destination port 5683 */
	    0xff, 0xe8, /* length 65512 */
	    0x00, 0x00, /* checksum: none */
	};
	memcpy(body, udp, sizeof(udp));
	struct iw_packet pkt;
	uint8_t f[20 + 1480];
	int rc = IW_NEED_MORE;
	for (uint32_t off = 0; off < 65512 && rc == IW_NEED_MORE; off += 1480) {
		uint32_t n = 65512 - off < 1480 ? 65512 - off : 1480;
		rc = feed(d, f, ip4_frag(f, 15, off, off + n < 65512, body + off, n), 1, &pkt, &why);
	}
	assert_int_equal(rc, IW_OK);
	assert_true(pkt.reassembled);
	assert_int_equal(pkt.l3_len, 65532);
	assert_int_equal(pkt.key.dport, 5683);
	assert_int_equal(pkt.payload_len, 65504);
	iw_defrag_free(d);
}

static void test_ipv4_fragment_budget(void **state)
{
	(void)state;
	uint8_t dg[48], f[68];
	frag_dgram(dg);
	struct iw_defrag_limits lim = roomy;
	lim.max_bytes = 512;
	struct iw_defrag *d = iw_defrag_new(&lim);
	struct iw_packet pkt;
	enum iw_malformed why;
	size_t n = ip4_frag(f, 13, 0, true, dg, 16);
	assert_int_equal(feed(d, f, n, 1, &pkt, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_budget");
	iw_defrag_free(d);

	/* fragments per datagram */
	lim = roomy;
	lim.max_frags = 2;
	d = iw_defrag_new(&lim);
	n = ip4_frag(f, 14, 0, true, dg, 8);
	assert_int_equal(feed(d, f, n, 1, &pkt, &why), IW_NEED_MORE);
	n = ip4_frag(f, 14, 8, true, dg + 8, 8);
	assert_int_equal(feed(d, f, n, 2, &pkt, &why), IW_NEED_MORE);
	n = ip4_frag(f, 14, 16, false, dg + 16, 32);
	assert_int_equal(feed(d, f, n, 3, &pkt, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "fragment_budget");
	iw_defrag_free(d);

	/* datagrams at once: a new one pushes out the oldest, which counts as expired */
	lim = roomy;
	lim.max_datagrams = 1;
	d = iw_defrag_new(&lim);
	n = ip4_frag(f, 15, 0, true, dg, 16);
	assert_int_equal(feed(d, f, n, 1, &pkt, &why), IW_NEED_MORE);
	n = ip4_frag(f, 16, 0, true, dg, 16);
	assert_int_equal(feed(d, f, n, 2, &pkt, &why), IW_NEED_MORE);
	assert_int_equal(iw_defrag_expired(d), 1);
	n = ip4_frag(f, 15, 16, false, dg + 16, 32); /* datagram 15 is gone: this starts it anew */
	assert_int_equal(feed(d, f, n, 3, &pkt, &why), IW_NEED_MORE);
	assert_int_equal(iw_defrag_expired(d), 2);
	iw_defrag_free(d);
}

static void test_ipv4_fragment_timeout(void **state)
{
	(void)state;
	uint8_t dg[48], f[68];
	frag_dgram(dg);
	struct iw_defrag_limits lim = roomy;
	lim.timeout_us = 1000000;
	struct iw_defrag *d = iw_defrag_new(&lim);
	struct iw_packet pkt;
	enum iw_malformed why;
	size_t n;

	/* completed within the timeout */
	n = ip4_frag(f, 17, 0, true, dg, 16);
	assert_int_equal(feed(d, f, n, 5000000, &pkt, &why), IW_NEED_MORE);
	n = ip4_frag(f, 17, 16, false, dg + 16, 32);
	assert_int_equal(feed(d, f, n, 5000000 + 999999, &pkt, &why), IW_OK);
	assert_reassembled_udp(&pkt, 4);

	/* not completed within the timeout: dropped when the next fragment comes */
	n = ip4_frag(f, 18, 0, true, dg, 16);
	assert_int_equal(feed(d, f, n, 10000000, &pkt, &why), IW_NEED_MORE);
	n = ip4_frag(f, 19, 0, true, dg, 16); /* another datagram, much later */
	assert_int_equal(feed(d, f, n, 11000001, &pkt, &why), IW_NEED_MORE);
	assert_int_equal(iw_defrag_expired(d), 1);
	n = ip4_frag(f, 18, 16, false, dg + 16, 32); /* the rest of the expired one */
	assert_int_equal(feed(d, f, n, 11000002, &pkt, &why), IW_NEED_MORE);
	assert_int_equal(iw_defrag_expired(d), 1);
	iw_defrag_free(d);
}

static void test_ipv4_fragment_snapped(void **state)
{
	(void)state;
	uint8_t dg[48], f[68];
	frag_dgram(dg);
	struct iw_defrag *d = iw_defrag_new(&roomy);
	struct iw_packet pkt;
	enum iw_malformed why;
	size_t n = ip4_frag(f, 20, 0, true, dg, 16);
	assert_int_equal(iw_decode(d, IW_DLT_RAW, f, (uint32_t)n - 4, (uint32_t)n, 1, &pkt, &why), IW_ERR);
	assert_string_equal(iw_malformed_name(why), "snaplen_truncated");
	iw_defrag_free(d);
}

static void test_fragment_without_defragmenter(void **state)
{
	(void)state;
	uint8_t dg[48], f[68];
	frag_dgram(dg);
	size_t n = ip4_frag(f, 21, 0, true, dg, 16);
	expect_drop(IW_DLT_RAW, f, n, IW_MAL_FRAG_BUDGET);
	n = ip4_frag(f, 21, 16, false, dg + 16, 32);
	expect_drop(IW_DLT_RAW, f, n, IW_MAL_FRAG_BUDGET);
	n = ip6_frag(f, 21, 0, true, dg, 16);
	expect_drop(IW_DLT_RAW, f, n, IW_MAL_FRAG_BUDGET);
}

static void test_ipv6_fragments(void **state)
{
	(void)state;
	uint8_t dg[48], f1[96], f2[96];
	frag_dgram(dg);
	size_t n1 = ip6_frag(f1, 0xdeadbeef, 0, true, dg, 24);
	size_t n2 = ip6_frag(f2, 0xdeadbeef, 24, false, dg + 24, 24);
	struct iw_defrag *d = iw_defrag_new(&roomy);
	struct iw_packet pkt;
	enum iw_malformed why;
	assert_int_equal(feed(d, f2, n2, 1, &pkt, &why), IW_NEED_MORE);
	assert_int_equal(feed(d, f1, n1, 2, &pkt, &why), IW_OK);
	assert_reassembled_udp(&pkt, 6);
	assert_addr(&pkt.key.src, addr6("2001:db8::1"));
	assert_addr(&pkt.key.dst, addr6("2001:db8::2"));
	assert_int_equal(pkt.l3_len, 40 + 48);
	assert_int_equal(pkt.l3[6], 17); /* next header: what followed the fragment header */
	assert_int_equal(pkt.frames, 2);
	assert_int_equal(pkt.frames_len, n1 + n2);

	/* an atomic fragment (offset 0, M clear) is no fragment at all */
	size_t n = ip6_frag(f1, 5, 0, false, dg, 48);
	expect_ok(IW_DLT_RAW, f1, n, &pkt);
	assert_false(pkt.reassembled);
	assert_int_equal(pkt.key.dport, 5683);
	assert_int_equal(pkt.payload_len, 40);

	/* a fragment header cut short */
	n = ip6_frag(f1, 5, 0, true, dg, 0);
	f1[5] = 4; /* payload length 4: half a fragment header */
	expect_drop(IW_DLT_RAW, f1, n - 4, IW_MAL_IP6_EXT);
	iw_defrag_free(d);
}

/* ---- CIDRs and addresses ---- */

static void test_cidr_parse(void **state)
{
	(void)state;
	struct iw_cidr c;
	assert_int_equal(iw_cidr_parse("10.0.0.0/8", &c), IW_OK);
	assert_int_equal(c.family, 4);
	assert_int_equal(c.bits, 8);
	assert_addr(&c.net, addr4(10, 0, 0, 0));
	assert_int_equal(iw_cidr_parse("10.1.2.3/8", &c), IW_OK); /* host bits masked off */
	assert_addr(&c.net, addr4(10, 0, 0, 0));
	assert_int_equal(iw_cidr_parse("192.0.2.7", &c), IW_OK); /* a host */
	assert_int_equal(c.bits, 32);
	assert_addr(&c.net, addr4(192, 0, 2, 7));
	assert_int_equal(iw_cidr_parse("0.0.0.0/0", &c), IW_OK);
	assert_int_equal(c.bits, 0);
	assert_int_equal(iw_cidr_parse("172.16.5.4/12", &c), IW_OK);
	assert_addr(&c.net, addr4(172, 16, 0, 0));
	assert_int_equal(iw_cidr_parse("fd00::/8", &c), IW_OK);
	assert_int_equal(c.family, 6);
	assert_int_equal(c.bits, 8);
	assert_int_equal(iw_cidr_parse("2001:db8::1", &c), IW_OK);
	assert_int_equal(c.bits, 128);
	assert_int_equal(iw_cidr_parse("2001:db8:ffff::/33", &c), IW_OK);
	assert_addr(&c.net, addr6("2001:db8:8000::"));
	assert_int_equal(iw_cidr_parse("::/0", &c), IW_OK);

	static const char *const bad[] = {
	    "",
	    "/8",
	    "10.0.0.0/",
	    "10.0.0.0/33",
	    "10.0.0.0/8x",
	    "10.0.0.0/-1",
	    "10.0.0/8",
	    "10.0.0.256",
	    "fd00::/129",
	    "fd00::/0128",
	    "not-an-address",
	    "10.0.0.0/8/8",
	    "10.0.0.0 ",
	    " 10.0.0.0",
	    "1.2.3.4/ 8",
	    "::g",
	    "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff/64",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (iw_cidr_parse(bad[i], &c) != IW_ERR)
			fail_msg("iw_cidr_parse accepted \"%s\"", bad[i]);
	}
}

static void test_cidr_match(void **state)
{
	(void)state;
	struct iw_cidr c;
	struct iw_addr a;
	assert_int_equal(iw_cidr_parse("10.0.0.0/8", &c), IW_OK);
	a = addr4(10, 255, 1, 2);
	assert_true(iw_cidr_match(&c, 4, &a));
	a = addr4(11, 0, 0, 0);
	assert_false(iw_cidr_match(&c, 4, &a));
	a = addr6("a00::"); /* same first byte, other family */
	assert_false(iw_cidr_match(&c, 6, &a));

	assert_int_equal(iw_cidr_parse("172.16.0.0/12", &c), IW_OK);
	a = addr4(172, 31, 255, 255);
	assert_true(iw_cidr_match(&c, 4, &a));
	a = addr4(172, 32, 0, 0);
	assert_false(iw_cidr_match(&c, 4, &a));

	assert_int_equal(iw_cidr_parse("0.0.0.0/0", &c), IW_OK);
	a = addr4(203, 0, 113, 9);
	assert_true(iw_cidr_match(&c, 4, &a));
	a = addr6("2001:db8::1");
	assert_false(iw_cidr_match(&c, 6, &a));

	assert_int_equal(iw_cidr_parse("192.0.2.7", &c), IW_OK);
	a = addr4(192, 0, 2, 7);
	assert_true(iw_cidr_match(&c, 4, &a));
	a = addr4(192, 0, 2, 6);
	assert_false(iw_cidr_match(&c, 4, &a));

	assert_int_equal(iw_cidr_parse("fd00::/8", &c), IW_OK);
	a = addr6("fdff:1::2");
	assert_true(iw_cidr_match(&c, 6, &a));
	a = addr6("fe80::1");
	assert_false(iw_cidr_match(&c, 6, &a));

	assert_int_equal(iw_cidr_parse("2001:db8::1", &c), IW_OK);
	a = addr6("2001:db8::1");
	assert_true(iw_cidr_match(&c, 6, &a));
	a = addr6("2001:db8::2");
	assert_false(iw_cidr_match(&c, 6, &a));

	assert_int_equal(iw_cidr_parse("::/0", &c), IW_OK);
	a = addr6("ffff::ffff");
	assert_true(iw_cidr_match(&c, 6, &a));
	a = addr4(1, 2, 3, 4);
	assert_false(iw_cidr_match(&c, 4, &a));
}

static void test_addr_str(void **state)
{
	(void)state;
	char buf[64];
	struct iw_addr a = addr4(192, 0, 2, 1);
	assert_string_equal(iw_addr_str(&a, 4, buf, sizeof(buf)), "192.0.2.1");
	assert_ptr_equal(iw_addr_str(&a, 4, buf, sizeof(buf)), buf);
	/* IPv4 is formatted by hand: every digit count of an octet */
	a = addr4(0, 9, 10, 99);
	assert_string_equal(iw_addr_str(&a, 4, buf, sizeof(buf)), "0.9.10.99");
	a = addr4(100, 199, 200, 255);
	char fits[16]; /* "255.255.255.255" and its NUL, exactly */
	assert_string_equal(iw_addr_str(&a, 4, fits, sizeof(fits)), "100.199.200.255");
	a = addr4(255, 255, 255, 255);
	assert_string_equal(iw_addr_str(&a, 4, fits, sizeof(fits)), "255.255.255.255");
	a = addr6("2001:db8::1");
	assert_string_equal(iw_addr_str(&a, 6, buf, sizeof(buf)), "2001:db8::1");
	a = addr6("::");
	assert_string_equal(iw_addr_str(&a, 6, buf, sizeof(buf)), "::");
	a = addr4(255, 255, 255, 255);
	char small[8];
	memset(small, 'z', sizeof(small));
	assert_string_equal(iw_addr_str(&a, 4, small, sizeof(small)), ""); /* does not fit */
	char none[1] = {'z'};
	iw_addr_str(&a, 4, none, 0); /* no room at all: nothing written */
	assert_int_equal(none[0], 'z');
}

static void test_malformed_names(void **state)
{
	(void)state;
	for (int i = 0; i < IW_MAL__COUNT; i++) {
		const char *n = iw_malformed_name((enum iw_malformed)i);
		assert_non_null(n);
		assert_true(strlen(n) > 0);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, iw_malformed_name((enum iw_malformed)j));
	}
	assert_string_equal(iw_malformed_name(IW_MAL__COUNT), "unknown");
	assert_string_equal(iw_malformed_name((enum iw_malformed) - 1), "unknown");
}

/* ---- every sample, truncated at every length and against a guard page ---- */

struct sample {
	const char *name;
	int dlt;
	struct frame f;
};

#define MAX_SAMPLES 40

static size_t samples(struct sample *s)
{
	size_t n = 0;
	uint8_t tmp[MAX_FRAME];
	s[n++] = (struct sample){"eth ipv4 tcp", IW_DLT_EN10MB, CAT(eth_ip4, ip4_tcp)};
	s[n++] = (struct sample){"eth ipv6 tcp", IW_DLT_EN10MB, CAT(eth_ip6, ip6_tcp)};
	s[n++] = (struct sample){"802.1q udp", IW_DLT_EN10MB, CAT(eth_vlan_ip4, ip4_udp)};
	s[n++] = (struct sample){"qinq tcp", IW_DLT_EN10MB, CAT(eth_qinq_ip4, ip4_tcp)};
	s[n++] = (struct sample){"sll v1 udp", IW_DLT_LINUX_SLL, CAT(sll1_ip4, ip4_udp)};
	s[n++] = (struct sample){"sll v2 ipv6", IW_DLT_LINUX_SLL2, CAT(sll2_ip6, ip6_tcp)};
	static const uint8_t null_inet[] = {0x02, 0x00, 0x00, 0x00};  /* AF_INET, host order */
	static const uint8_t null_inet6[] = {0x00, 0x00, 0x00, 0x1e}; /* AF_INET6 (macOS), big-endian */
	static const uint8_t loop_inet[] = {0x00, 0x00, 0x00, 0x02};  /* AF_INET, network order */
	s[n++] = (struct sample){"null ipv4", IW_DLT_NULL, CAT(null_inet, ip4_tcp)};
	s[n++] = (struct sample){"null ipv6", IW_DLT_NULL, CAT(null_inet6, ip6_tcp)};
	s[n++] = (struct sample){"loop ipv4", IW_DLT_LOOP, CAT(loop_inet, ip4_tcp)};
	s[n++] = (struct sample){"raw ipv4", IW_DLT_RAW, cat(ip4_tcp, sizeof(ip4_tcp), NULL, 0)};
	s[n++] = (struct sample){"ipv4 dlt", IW_DLT_IPV4, cat(ip4_udp, sizeof(ip4_udp), NULL, 0)};
	s[n++] = (struct sample){"ipv6 dlt", IW_DLT_IPV6, cat(ip6_tcp, sizeof(ip6_tcp), NULL, 0)};
	s[n++] = (struct sample){"ipv4 options", IW_DLT_RAW_LINKTYPE,
	                         cat(ip4_opts_udp, sizeof(ip4_opts_udp), NULL, 0)};
	s[n++] = (struct sample){"ipv6 ext", IW_DLT_EN10MB, CAT(eth_ip6, ip6_ext_tcp)};
	s[n++] = (struct sample){"arp", IW_DLT_EN10MB, cat(eth_arp, sizeof(eth_arp), NULL, 0)};
	s[n++] = (struct sample){"unknown dlt", 147, cat(ip4_tcp, sizeof(ip4_tcp), NULL, 0)};
	s[n++] =
	    (struct sample){"snapped", IW_DLT_RAW, cat(ip4_tcp_snapped, sizeof(ip4_tcp_snapped), NULL, 0)};
	struct frame padded = CAT(eth_ip4, ip4_tcp_syn);
	static const uint8_t pad[6] = {0};
	put(&padded, pad, sizeof(pad));
	s[n++] = (struct sample){"padded syn", IW_DLT_EN10MB, padded};
	size_t len = ip6_dstopts_chain(tmp, 9);
	s[n++] = (struct sample){"ipv6 9 ext", IW_DLT_RAW, cat(tmp, len, NULL, 0)};
	uint8_t dg[48];
	frag_dgram(dg);
	len = ip4_frag(tmp, 1, 16, true, dg + 16, 16);
	s[n++] = (struct sample){"ipv4 fragment", IW_DLT_RAW, cat(tmp, len, NULL, 0)};
	len = ip6_frag(tmp, 1, 0, true, dg, 16);
	s[n++] = (struct sample){"ipv6 fragment", IW_DLT_IPV6, cat(tmp, len, NULL, 0)};
	len = ip6_frag(tmp, 1, 0, false, dg, 48);
	s[n++] = (struct sample){"ipv6 atomic fragment", IW_DLT_RAW, cat(tmp, len, NULL, 0)};
	memcpy(tmp, ip4_tcp, sizeof(ip4_tcp));
	tmp[IP4_TCP_OFF_FLAGS] = IW_TCP_SYN | IW_TCP_FIN;
	s[n++] = (struct sample){"syn+fin", IW_DLT_RAW, cat(tmp, sizeof(ip4_tcp), NULL, 0)};
	memcpy(tmp, ip4_udp, sizeof(ip4_udp));
	put_be16(tmp + IP4_UDP_OFF_ULEN, 40);
	s[n++] = (struct sample){"udp too long", IW_DLT_RAW, cat(tmp, sizeof(ip4_udp), NULL, 0)};
	assert_true(n <= MAX_SAMPLES);
	return n;
}

/* What one decode returned, comparable across placements. */
struct outcome {
	int rc;
	enum iw_malformed why;
	struct iw_flow_key key;
	size_t l3_off, l3_len, payload_off, payload_len;
	bool truncated;
};

static struct outcome run(int dlt, const uint8_t *p, size_t caplen, size_t wirelen)
{
	struct iw_packet pkt;
	struct outcome o;
	memset(&o, 0, sizeof(o));
	o.rc = iw_decode(NULL, dlt, p, (uint32_t)caplen, (uint32_t)wirelen, 42, &pkt, &o.why);
	if (o.rc != IW_OK && o.rc != IW_ERR)
		fail_msg("iw_decode returned %d without a defragmenter", o.rc);
	if ((o.rc == IW_OK) != (o.why == IW_MAL_NONE))
		fail_msg("rc %d with reason %s", o.rc, iw_malformed_name(o.why));
	if (o.rc == IW_OK) {
		/* everything the packet points at lies within the captured bytes */
		assert_true(pkt.l3 >= p && pkt.l3_len <= caplen &&
		            (size_t)(pkt.l3 - p) <= caplen - pkt.l3_len);
		assert_true(pkt.payload >= p && pkt.payload_len <= caplen &&
		            (size_t)(pkt.payload - p) <= caplen - pkt.payload_len);
		o.key = pkt.key;
		o.l3_off = (size_t)(pkt.l3 - p);
		o.l3_len = pkt.l3_len;
		o.payload_off = (size_t)(pkt.payload - p);
		o.payload_len = pkt.payload_len;
		o.truncated = pkt.truncated;
	}
	return o;
}

static void assert_same(const struct outcome *a, const struct outcome *b, const char *what, size_t len)
{
	if (a->rc != b->rc || a->why != b->why || memcmp(&a->key, &b->key, sizeof(a->key)) ||
	    a->l3_off != b->l3_off || a->l3_len != b->l3_len || a->payload_off != b->payload_off ||
	    a->payload_len != b->payload_len || a->truncated != b->truncated)
		fail_msg("%s, %zu bytes: rc %d/%d, reason %s/%s", what, len, a->rc, b->rc,
		         iw_malformed_name(a->why), iw_malformed_name(b->why));
}

/* With caplen == wirelen, a prefix that cuts the IP datagram is dropped; one that keeps
 * it whole (only link padding cut) decodes exactly as the whole frame does. */
static void test_every_prefix(void **state)
{
	(void)state;
	struct sample s[MAX_SAMPLES];
	size_t ns = samples(s);
	for (size_t i = 0; i < ns; i++) {
		const struct frame *f = &s[i].f;
		struct outcome full = run(s[i].dlt, f->b, f->len, f->len);
		size_t needed = full.rc == IW_OK ? full.l3_off + full.l3_len : f->len + 1;
		for (size_t len = 0; len < f->len; len++) {
			/* an exact-size heap copy, so ASan sees any read past the prefix */
			uint8_t *p = malloc(len ? len : 1);
			assert_non_null(p);
			memcpy(p, f->b, len);
			struct outcome o = run(s[i].dlt, p, len, len);
			if (len < needed && o.rc != IW_ERR)
				fail_msg("%s: a %zu-byte prefix decoded", s[i].name, len);
			if (len >= needed)
				assert_same(&full, &o, s[i].name, len);
			free(p);
		}
	}
}

/* The same prefixes, now marked as snapped (wirelen > caplen): decoded or dropped, and
 * a decoded one that lost part of its datagram says it is truncated. */
static void test_every_prefix_snapped(void **state)
{
	(void)state;
	struct sample s[MAX_SAMPLES];
	size_t ns = samples(s);
	for (size_t i = 0; i < ns; i++) {
		const struct frame *f = &s[i].f;
		struct outcome full = run(s[i].dlt, f->b, f->len, f->len);
		size_t needed = full.rc == IW_OK ? full.l3_off + full.l3_len : 0;
		for (size_t len = 0; len < f->len; len++) {
			uint8_t *p = malloc(len ? len : 1);
			assert_non_null(p);
			memcpy(p, f->b, len);
			struct outcome o = run(s[i].dlt, p, len, f->len);
			if (o.rc == IW_OK && full.rc == IW_OK && len < needed && !o.truncated)
				fail_msg("%s: a %zu-byte snapped prefix is not marked truncated", s[i].name,
				         len);
			free(p);
		}
	}
}

/* Each sample and each prefix ends flush against an unreadable page. */
static void test_guard_page(void **state)
{
	(void)state;
	struct sample s[MAX_SAMPLES];
	size_t ns = samples(s);
	struct guard g = guard_new(MAX_FRAME);
	for (size_t i = 0; i < ns; i++) {
		const struct frame *f = &s[i].f;
		for (size_t len = 0; len <= f->len; len++) {
			struct outcome ref = run(s[i].dlt, f->b, len, len);
			const uint8_t *p = guard_put(&g, f->b, len);
			struct outcome o = run(s[i].dlt, p, len, len);
			assert_same(&ref, &o, s[i].name, len);
			p = guard_put(&g, f->b, len);
			run(s[i].dlt, p, len, f->len); /* snapped: must not fault either */
		}
	}
	guard_free(&g);
}

/* Fragments through a defragmenter, each one placed against the guard page. */
static void test_guard_page_fragments(void **state)
{
	(void)state;
	uint8_t dg[48], f[96];
	frag_dgram(dg);
	struct guard g = guard_new(MAX_FRAME);
	struct iw_defrag *d = iw_defrag_new(&roomy);
	struct iw_packet pkt;
	enum iw_malformed why;
	size_t n = ip4_frag(f, 30, 32, false, dg + 32, 16);
	assert_int_equal(feed(d, guard_put(&g, f, n), n, 1, &pkt, &why), IW_NEED_MORE);
	n = ip4_frag(f, 30, 0, true, dg, 32);
	assert_int_equal(feed(d, guard_put(&g, f, n), n, 2, &pkt, &why), IW_OK);
	assert_reassembled_udp(&pkt, 4);
	n = ip6_frag(f, 30, 24, false, dg + 24, 24);
	assert_int_equal(feed(d, guard_put(&g, f, n), n, 3, &pkt, &why), IW_NEED_MORE);
	n = ip6_frag(f, 30, 0, true, dg, 24);
	assert_int_equal(feed(d, guard_put(&g, f, n), n, 4, &pkt, &why), IW_OK);
	assert_reassembled_udp(&pkt, 6);
	iw_defrag_free(d);
	guard_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ethernet_ipv4_tcp),
	    cmocka_unit_test(test_ethernet_8021q),
	    cmocka_unit_test(test_ethernet_qinq),
	    cmocka_unit_test(test_ethernet_pppoe),
	    cmocka_unit_test(test_ethernet_vlan_depth),
	    cmocka_unit_test(test_linux_sll_v1),
	    cmocka_unit_test(test_linux_sll_v2),
	    cmocka_unit_test(test_linux_sll_not_ip),
	    cmocka_unit_test(test_null_loopback),
	    cmocka_unit_test(test_loop),
	    cmocka_unit_test(test_raw_ip),
	    cmocka_unit_test(test_unknown_linktype),
	    cmocka_unit_test(test_arp_not_ip),
	    cmocka_unit_test(test_link_header_truncated),
	    cmocka_unit_test(test_ipv4_options),
	    cmocka_unit_test(test_ipv4_ihl_below_5),
	    cmocka_unit_test(test_ipv4_total_length),
	    cmocka_unit_test(test_ipv4_snaplen),
	    cmocka_unit_test(test_ethernet_padding_trimmed),
	    cmocka_unit_test(test_ipv6_extension_headers),
	    cmocka_unit_test(test_ipv6_too_many_extension_headers),
	    cmocka_unit_test(test_ipv6_bad_lengths),
	    cmocka_unit_test(test_udp_length),
	    cmocka_unit_test(test_tcp_data_offset),
	    cmocka_unit_test(test_tcp_impossible_flags),
	    cmocka_unit_test(test_ipv4_fragments_out_of_order),
	    cmocka_unit_test(test_ipv4_fragment_overlap_identical),
	    cmocka_unit_test(test_ipv4_fragment_overlap_different),
	    cmocka_unit_test(test_ipv4_fragment_invalid),
	    cmocka_unit_test(test_ipv4_reassembled_over_65535),
	    cmocka_unit_test(test_ipv4_fragment_budget),
	    cmocka_unit_test(test_ipv4_fragment_timeout),
	    cmocka_unit_test(test_ipv4_fragment_snapped),
	    cmocka_unit_test(test_fragment_without_defragmenter),
	    cmocka_unit_test(test_ipv6_fragments),
	    cmocka_unit_test(test_cidr_parse),
	    cmocka_unit_test(test_cidr_match),
	    cmocka_unit_test(test_addr_str),
	    cmocka_unit_test(test_malformed_names),
	    cmocka_unit_test(test_every_prefix),
	    cmocka_unit_test(test_every_prefix_snapped),
	    cmocka_unit_test(test_guard_page),
	    cmocka_unit_test(test_guard_page_fragments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
