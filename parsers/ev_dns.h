/* ev_dns.h - the dns event (DESIGN §5): what parsers/dns.c reports per DNS message, over
 * UDP or TCP (RFC 1035 §4, RFC 3596 AAAA).
 *
 * Names are in presentation form ("a.example.com", no trailing dot, "." for the root;
 * bytes outside [0-9A-Za-z-_] escaped as \DDD per RFC 4343). Strings and arrays are owned
 * by the parser's per-flow state: valid only while the event is emitted. */
#ifndef IW_EV_DNS_H
#define IW_EV_DNS_H

#include <stdbool.h>
#include <stdint.h>

#define IW_DNS_MAX_ANSWERS 32 /* answer records kept per message */

enum iw_dns_type { IW_DNS_QUERY, IW_DNS_ANSWER, IW_DNS__TYPES };

struct iw_dns_rr {
	const char *rrname;
	uint16_t rrtype, rrclass;
	uint32_t ttl;
	/* text for A, AAAA (the address), CNAME, NS, PTR, DNAME (the name), MX (the
	 * exchange), TXT (the strings, joined by a space), SRV ("prio weight port target");
	 * NULL for other types */
	const char *rdata;
	uint8_t family; /* 4 or 6 for A and AAAA, else 0 */
	uint8_t addr[16];
};

struct iw_ev_dns {
	enum iw_dns_type type; /* query (QR 0) or answer (QR 1) */
	uint16_t id;
	uint16_t flags; /* the 16 flag bits of the header, QR..RCODE */
	uint8_t opcode, rcode;
	bool tcp;
	/* the first question */
	const char *rrname; /* NULL when the message has no question */
	uint16_t rrtype, rrclass;
	uint16_t n_questions;
	/* answer section (answers only) */
	const struct iw_dns_rr *answers;
	uint16_t n_answers;                    /* kept in answers */
	uint16_t answers_dropped;              /* past IW_DNS_MAX_ANSWERS or not decodable */
	uint16_t n_authorities, n_additionals; /* counts from the header */
};

/* "A", "AAAA", "CNAME", ...; NULL for a type without a mnemonic here */
const char *iw_dns_rrtype_name(uint16_t t);
/* "NOERROR", "NXDOMAIN", ...; NULL for an unnamed code */
const char *iw_dns_rcode_name(uint8_t rcode);

#endif
