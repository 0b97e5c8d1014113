/* dns.c - DNS messages over UDP (RFC 1035 §4.1).
 *
 *   header   | id 2 | QR 1 opcode 4 AA TC RD RA Z AD CD rcode 4 | qd 2 | an 2 | ns 2 | ar 2 |
 *   question | name: labels (length 1, 1..63 bytes), 0 | qtype 2 | qclass 2 |
 *
 * For now: the strict probe on the header and the first question, so that DNS flows
 * skip nDPI; the decoder of answers and the name cache are issue 4. */
#include <netinet/in.h>

#include "parser.h"

/* A header with one question, a plausible opcode and counts, and a question name that
 * is a valid uncompressed sequence of labels followed by a known class. */
static int dns_probe(const uint8_t *data, size_t len, int dir)
{
	(void)dir;
	struct iw_cur c = iw_cur_make(data, len);
	iw_cur_skip(&c, 2);
	uint16_t flags = iw_cur_be16(&c);
	uint16_t qd = iw_cur_be16(&c), an = iw_cur_be16(&c), ns = iw_cur_be16(&c), ar = iw_cur_be16(&c);
	if (c.err)
		return IW_ERR;
	unsigned opcode = (flags >> 11) & 0x0f;
	bool response = flags & 0x8000;
	if (qd != 1 || (opcode != 0 && opcode != 4 && opcode != 5) || (flags & 0x0040) || an > 256 ||
	    ns > 256 || ar > 256 || (!response && an))
		return IW_ERR;
	size_t name = 0;
	for (;;) {
		uint8_t l = iw_cur_u8(&c);
		if (c.err || l > 63)
			return IW_ERR; /* truncated, or a compression pointer in a question */
		if (l == 0)
			break;
		name += (size_t)l + 1;
		if (name > 255 || !iw_cur_skip(&c, l))
			return IW_ERR;
	}
	iw_cur_skip(&c, 2);                         /* qtype */
	uint16_t qclass = iw_cur_be16(&c) & 0x7fff; /* mDNS puts the unicast-response bit on top */
	if (c.err || (qclass != 1 && qclass != 3 && qclass != 4 && qclass != 255))
		return IW_ERR;
	return IW_OK;
}

const struct iw_parser iw_parser_dns = {
    .name = "dns",
    .ipproto = IPPROTO_UDP,
    .ports = {53, 5353, 5355},
    .ndpi_name = "DNS",
    .probe = dns_probe,
};

/* STUB until the TCP decoder lands. */
const struct iw_parser iw_parser_dns_tcp = {
    .name = "dns",
    .ipproto = IPPROTO_TCP,
    .ports = {53},
    .ndpi_name = "DNS",
};
