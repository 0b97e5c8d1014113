/* packet.h - the decoded packet and the flow key: the contract between packet decode
 * (parsers/packet.c) and everything after it.
 *
 * A decoded packet points into the capture buffer (or into the defragmenter's buffer
 * for a reassembled datagram); nothing is copied. Addresses are kept in 16 bytes, an
 * IPv4 address in the first 4 with the rest zero. */
#ifndef IW_PACKET_H
#define IW_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iw_addr {
	uint8_t b[16];
};

/* The flow key as seen on the wire; the flow table orders it client first. */
struct iw_flow_key {
	struct iw_addr src, dst;
	uint16_t sport, dport;
	uint16_t vlan;       /* outermost VLAN id, 0 when untagged */
	uint16_t vlan_inner; /* the inner id of QinQ, else 0 */
	uint8_t family;      /* 4 or 6 */
	uint8_t proto;       /* IPPROTO_TCP, IPPROTO_UDP, ... */
};

enum {
	IW_TCP_FIN = 0x01,
	IW_TCP_SYN = 0x02,
	IW_TCP_RST = 0x04,
	IW_TCP_PSH = 0x08,
	IW_TCP_ACK = 0x10,
	IW_TCP_URG = 0x20,
};

/* Why a packet was dropped by the decoder; names in iw_malformed_name(). */
enum iw_malformed {
	IW_MAL_NONE = 0,
	IW_MAL_LINKTYPE,     /* link type we do not decode */
	IW_MAL_L2_TRUNC,     /* link header cut short */
	IW_MAL_VLAN_DEPTH,   /* more VLAN tags than we follow */
	IW_MAL_ETHERTYPE,    /* not IPv4/IPv6 (ARP, LLDP, ...): counted, not an error */
	IW_MAL_IP_VERSION,   /* version nibble disagrees with the link's claim */
	IW_MAL_IP4_HDR,      /* IHL < 5 or header past the capture */
	IW_MAL_IP4_LEN,      /* total length < header or > captured bytes */
	IW_MAL_IP4_OPTIONS,  /* options that overrun the header */
	IW_MAL_IP6_HDR,      /* fixed header cut short, payload length past the capture */
	IW_MAL_IP6_EXT,      /* extension header chain cut short or too long */
	IW_MAL_FRAG_BAD,     /* fragment offsets or lengths that cannot be valid */
	IW_MAL_FRAG_BUDGET,  /* fragment dropped: reassembly budget exhausted */
	IW_MAL_FRAG_OVERLAP, /* overlapping fragments with different bytes */
	IW_MAL_TCP_HDR,      /* TCP header cut short or data offset < 5 */
	IW_MAL_TCP_FLAGS,    /* impossible flag combinations (SYN+FIN, SYN+RST) */
	IW_MAL_UDP_HDR,      /* UDP header cut short */
	IW_MAL_UDP_LEN,      /* UDP length < 8 or past the IP payload */
	IW_MAL_SNAPLEN,      /* payload cut by the snap length */
	IW_MAL__COUNT
};

const char *iw_malformed_name(enum iw_malformed m);

struct iw_packet {
	uint64_t ts_us;                   /* packet time, microseconds since the epoch */
	uint32_t wirelen;                 /* length on the wire */
	uint32_t caplen;                  /* bytes captured */
	const uint8_t *mac_src, *mac_dst; /* 6 bytes each, NULL without Ethernet */
	uint16_t vlan[2];
	uint8_t nvlan;
	bool reassembled;    /* an IP datagram rebuilt from fragments */
	uint32_t frames;     /* frames this packet was made of: 1, or the fragments */
	uint32_t frames_len; /* their length on the wire */
	bool truncated;      /* the L4 payload was cut by the snap length */
	struct iw_flow_key key;
	uint8_t ttl;
	uint8_t tcp_flags;
	uint16_t tcp_win;
	uint32_t tcp_seq, tcp_ack;
	const uint8_t *l3; /* the IP header (what nDPI reads) */
	uint32_t l3_len;
	const uint8_t *payload; /* L4 payload (after TCP/UDP header) */
	uint32_t payload_len;
};

/* DLT_ values we decode (numbers from pcap/dlt.h, kept here so parsers/ needs no libpcap). */
enum {
	IW_DLT_NULL = 0,
	IW_DLT_EN10MB = 1,
	IW_DLT_RAW = 12, /* OpenBSD's value; 14 on others, mapped by capture */
	IW_DLT_LOOP = 108,
	IW_DLT_LINUX_SLL = 113,
	IW_DLT_RAW_LINKTYPE = 101, /* LINKTYPE_RAW */
	IW_DLT_IPV4 = 228,
	IW_DLT_IPV6 = 229,
	IW_DLT_LINUX_SLL2 = 276,
};

struct iw_defrag;

/* Limits on what the defragmenter keeps; set from the configuration. */
struct iw_defrag_limits {
	uint32_t max_datagrams; /* datagrams being rebuilt at once */
	uint32_t max_bytes;     /* fragment bytes held in all */
	uint32_t max_frags;     /* fragments per datagram */
	uint64_t timeout_us;    /* a datagram not complete by then is dropped */
};

/* Creates a defragmenter. Aborts on allocation failure (as every allocation does);
 * the caller frees it with iw_defrag_free(). */
struct iw_defrag *iw_defrag_new(const struct iw_defrag_limits *lim);
void iw_defrag_free(struct iw_defrag *d);
/* Datagrams dropped because they timed out or were evicted before completion. */
uint64_t iw_defrag_expired(const struct iw_defrag *d);

/* Decodes one captured frame of link type dlt into *pkt.
 * Returns IW_OK when pkt holds a TCP/UDP (or other IP) packet, IW_NEED_MORE when the
 * frame was a fragment held for reassembly, IW_ERR with *why set when it was dropped.
 * With a defragmenter, a completed datagram's payload points into the defragmenter's
 * buffer, valid until the next call; with d NULL, fragments are dropped (IW_MAL_FRAG_BUDGET). */
int iw_decode(struct iw_defrag *d, int dlt, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
              uint64_t ts_us, struct iw_packet *pkt, enum iw_malformed *why);

/* Formats an address ("192.0.2.1" or "2001:db8::1") into buf; returns buf. */
char *iw_addr_str(const struct iw_addr *a, int family, char *buf, size_t len);

/* An IPv4 or IPv6 network: "10.0.0.0/8", "fd00::/8"; a bare address is a host. */
struct iw_cidr {
	struct iw_addr net;
	uint8_t family;
	uint8_t bits;
};

/* Parses s into *out. Returns IW_OK, or IW_ERR when s is not an address or network
 * (host bits set are masked off, as `ip route` does). */
int iw_cidr_parse(const char *s, struct iw_cidr *out);
bool iw_cidr_match(const struct iw_cidr *c, int family, const struct iw_addr *a);

#endif
