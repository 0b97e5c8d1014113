/* syslog.h - the syslog exporter's pure parts: RFC 5424 messages with a CEF or JSON body
 * built from one alert record, and the address syntax (DESIGN §8, docs/siem.md).
 *
 * Nothing here does I/O, so unit tests and tests/fuzz/fuzz_syslog.c call it directly; the
 * sockets, the send buffer and reconnection live in syslog.c. Whatever bytes a record
 * holds, what these functions write holds no raw CR or LF. */
#ifndef IW_SYSLOG_H
#define IW_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>

/* A growable byte buffer; buf is NUL-terminated after every append (not counted in
 * len). Allocation failure aborts (parsers/alloc.h). Zero-initialised is empty. */
struct iw_sbuf {
	char *buf;
	size_t len, cap;
};

void iw_sbuf_free(struct iw_sbuf *b);
void iw_sbuf_reset(struct iw_sbuf *b);
void iw_sbuf_add(struct iw_sbuf *b, const char *s, size_t n);

/* What every message of one exporter shares. hostname is written as given, so it must
 * already be 1..255 printable US-ASCII (iw_syslog_hostname makes one), or NULL / "" for
 * "-". */
struct iw_syslog_fmt {
	unsigned facility; /* 0..23 */
	const char *hostname;
	unsigned long procid;
	bool json; /* MSG is the record itself; false: a CEF line */
};

/* A parsed exporters.syslog.address. */
struct iw_syslog_addr {
	bool tcp;
	char host[256]; /* without the brackets of an IPv6 literal */
	char port[6];   /* decimal, 1..65535 */
};

/* Parses "udp://HOST:PORT" or "tcp://HOST:PORT" (HOST a name, an IPv4 address or an IPv6
 * address in brackets; PORT 1..65535). Returns IW_OK, or IW_ERR with one line in err. */
int iw_syslog_parse_address(const char *s, struct iw_syslog_addr *out, char *err, size_t errlen);

/* The code of a facility name ("kern" 0 ... "local7" 23), or -1 for an unknown name. */
int iw_syslog_facility(const char *name);

/* Syslog severity (RFC 5424 §6.2.1) of an alert severity: critical 2, high 3, medium 4,
 * low 5; NULL or anything else is taken as medium (4). */
unsigned iw_syslog_severity(const char *alert_severity);

/* CEF severity (0-10) of an alert severity: low 3, medium 5, high 8, critical 10; NULL
 * or anything else is taken as medium (5). */
unsigned iw_cef_severity(const char *alert_severity);

/* PRI = facility * 8 + severity (RFC 5424 §6.2.1). */
unsigned iw_syslog_pri(unsigned facility, unsigned severity);

/* Writes the MSGID for a rule id into out: the id when it is 1..32 printable US-ASCII
 * characters, else "-". Returns out. */
const char *iw_syslog_msgid(const char *rule, char out[33]);

/* Writes into out (at least 256 bytes) a HOSTNAME from name: cut at 255 bytes, every byte
 * outside printable US-ASCII replaced by '_'; "-" when name is NULL or empty. Returns
 * out. */
const char *iw_syslog_hostname(const char *name, char *out, size_t outlen);

/* true when name is 1..255 printable US-ASCII characters (a HOSTNAME as configured). */
bool iw_syslog_hostname_ok(const char *name);

/* Appends s[0..n) to b escaped for a CEF header field: \ as \\, | as \|; CR, LF and
 * other control characters become a space (a header field holds one line). */
void iw_cef_escape_header(struct iw_sbuf *b, const char *s, size_t n);

/* Appends s[0..n) to b escaped for a CEF extension value: \ as \\, = as \=, CR as \r,
 * LF as \n; other control characters become a space. */
void iw_cef_escape_value(struct iw_sbuf *b, const char *s, size_t n);

/* Appends to b the CEF line (no syslog header) for the alert record rec[0..len) (one
 * JSON object, as exporters/record.c writes it). Returns IW_OK, or IW_ERR when rec is
 * not a JSON object (b is then as it was). */
int iw_syslog_cef(struct iw_sbuf *b, const char *rec, size_t len);

/* Appends to b the RFC 5424 message for the record: "<PRI>1 TIMESTAMP HOSTNAME iotwatch
 * PROCID MSGID - MSG", MSG the CEF line or (f->json) the record itself. No transport
 * framing. Returns IW_OK, or IW_ERR when rec is not a JSON object (b is then as it was). */
int iw_syslog_format(struct iw_sbuf *b, const struct iw_syslog_fmt *f, const char *rec, size_t len);

#endif
