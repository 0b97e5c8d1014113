/* fuzz_syslog.c - fuzzes the syslog exporter's messages (exporters/syslog_msg.c): arbitrary
 * bytes as an alert record, formatted as RFC 5424 with a CEF or JSON body, and as a bare
 * CEF line; also the address parser.
 *
 * Input: | selector 1 | rest |
 *   selector bit 0:    JSON body instead of CEF
 *   selector bits 1-5: the facility (mod 24)
 *   selector bit 6:    no hostname ("-")
 *   selector bit 7:    rest is an exporters.syslog.address (cut at its first NUL)
 *   otherwise rest is the record.
 * Checked: nothing crashes; a record that is taken yields a message with no CR, LF or
 * NUL; the CEF header has its 7 fields with the vendor's names and a severity 0-10; every
 * backslash is a defined escape; every unescaped '=' of the extension ends a key of
 * letters and digits. Seeds: tests/fuzz/seeds/fuzz_syslog/ (demo-rules.pcap's alerts). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/syslog.h"
#include "parsers/cursor.h"

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A CEF line (s[0..n), the message from "CEF:" on) as a strict receiver reads it. */
static void check_cef(const char *s, size_t n)
{
	size_t field = 0, start = 0, i = 0;
	const char *f[7] = {0};
	size_t flen[7] = {0};
	for (; i < n && field < 7; i++) {
		if (s[i] == '\\') {
			check(i + 1 < n && (s[i + 1] == '\\' || s[i + 1] == '|'));
			i++;
		} else if (s[i] == '|') {
			f[field] = s + start;
			flen[field] = i - start;
			field++;
			start = i + 1;
		}
	}
	check(field == 7);
	check(flen[0] == 5 && memcmp(f[0], "CEF:0", 5) == 0);
	check(flen[1] == 8 && memcmp(f[1], "iotwatch", 8) == 0);
	check(flen[2] == 8 && memcmp(f[2], "iotwatch", 8) == 0);
	check(flen[4] > 0 && flen[5] > 0);
	check((flen[6] == 1 && f[6][0] >= '0' && f[6][0] <= '9') ||
	      (flen[6] == 2 && memcmp(f[6], "10", 2) == 0));

	/* the extension: key=value pairs, values escaped */
	size_t ext = i;
	for (; i < n; i++) {
		if (s[i] == '\\') {
			check(i + 1 < n &&
			      (s[i + 1] == '\\' || s[i + 1] == '=' || s[i + 1] == 'r' || s[i + 1] == 'n'));
			i++;
		} else if (s[i] == '=') {
			size_t k = i;
			while (k > ext && alnum(s[k - 1]))
				k--;
			check(k < i && (k == ext || s[k - 1] == ' '));
		}
	}
}

static void no_line_breaks(const struct iw_sbuf *b)
{
	check(b->buf != NULL && strlen(b->buf) == b->len);
	check(memchr(b->buf, '\r', b->len) == NULL && memchr(b->buf, '\n', b->len) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t sel = data[0];
	const char *rec = (const char *)data + 1;
	size_t len = size - 1;

	if (sel & 0x80) {
		char *addr = malloc(len + 1);
		check(addr != NULL);
		memcpy(addr, rec, len);
		addr[len] = '\0';
		struct iw_syslog_addr a;
		char err[256];
		if (iw_syslog_parse_address(addr, &a, err, sizeof(err)) == IW_OK)
			check(a.host[0] != '\0' && a.port[0] >= '1' && a.port[0] <= '9' &&
			      strlen(a.port) <= 5);
		else
			check(strchr(err, '\n') == NULL && strchr(err, '\r') == NULL);
		free(addr);
		return 0;
	}

	struct iw_syslog_fmt f = {
	    .facility = (unsigned)((sel >> 1) & 0x1f) % 24,
	    .hostname = (sel & 0x40) ? "" : "sensor-1.example",
	    .procid = 4242,
	    .json = sel & 1,
	};
	struct iw_sbuf b = {0};
	int rc = iw_syslog_format(&b, &f, rec, len);
	if (rc == IW_OK) {
		no_line_breaks(&b);
		check(b.buf[0] == '<');
		if (!f.json) {
			const char *c = strstr(b.buf, " - CEF:0|");
			check(c != NULL);
			c += 3;
			check_cef(c, b.len - (size_t)(c - b.buf));
		}
	} else {
		check(b.len == 0);
	}

	iw_sbuf_reset(&b);
	int rc2 = iw_syslog_cef(&b, rec, len);
	check(rc2 == rc);
	if (rc2 == IW_OK) {
		no_line_breaks(&b);
		check_cef(b.buf, b.len);
	}
	iw_sbuf_free(&b);
	return 0;
}
