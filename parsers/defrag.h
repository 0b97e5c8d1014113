/* defrag.h - IPv4 (RFC 791) and IPv6 (RFC 8200 §4.5) fragment reassembly, internal to
 * packet decode. Public creation and limits are in packet.h. */
#ifndef IW_DEFRAG_H
#define IW_DEFRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet.h"

/* One fragment as the decoder found it. hdr/hdr_len is the IP header to rebuild the
 * datagram with (IPv4: the whole header with options; IPv6: the 40-byte fixed header). */
struct iw_frag {
	uint8_t family;
	const struct iw_addr *src, *dst;
	uint32_t id;
	uint8_t proto;   /* IPv4 protocol, IPv6 next header after the fragment header */
	uint32_t offset; /* in bytes */
	bool more;
	const uint8_t *hdr;
	size_t hdr_len;
	const uint8_t *data;
	size_t len;
	uint32_t wirelen; /* the frame's length on the wire, summed for the datagram */
};

/* Adds a fragment. Returns IW_OK with *out and *out_len set to the rebuilt IP datagram (a
 * header without fragmentation followed by the payload, in d's buffer, valid until the
 * next call), IW_NEED_MORE when the datagram is still incomplete, IW_ERR with *why set
 * when the fragment was dropped. */
int iw_defrag_add(struct iw_defrag *d, const struct iw_frag *f, uint64_t ts_us, const uint8_t **out,
                  size_t *out_len, enum iw_malformed *why);

/* After iw_defrag_add returned IW_OK: how many frames the datagram was rebuilt from
 * and their wire length. */
void iw_defrag_last(const struct iw_defrag *d, uint32_t *frames, uint32_t *wire_bytes);

#endif
