/* syslog_msg.c - one alert record as an RFC 5424 syslog message (RFC 5424 §6) whose MSG is a
 * CEF line (ArcSight Common Event Format, revision 25) or the JSON record itself.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
 *   <131>1 2026-11-22T07:45:50.091167Z span-host iotwatch 4242 mqtt.wildcard_subscribe - CEF:0|...
 *
 *   CEF:0|iotwatch|iotwatch|<version>|<rule>|<message>|<severity 0-10>|key=value key=value ...
 *
 * The record is parsed with json-c (alerts are rare, so this costs nothing that matters).
 * Which record member goes to which CEF key is the table `rules` below and docs/siem.md;
 * whatever has no CEF key of its own is still in cs6, the evidence as compact JSON. */
#include "syslog.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "../parsers/alloc.h"
#include "../parsers/cursor.h"

#ifndef IW_VERSION
#define IW_VERSION "0.0.0" /* the Makefile defines it; a fuzz build may not */
#endif

/* Records nest 3 deep (record, evidence, a list); anything deeper is not ours. */
#define PARSE_DEPTH 16

/* ---- the buffer ---- */

void iw_sbuf_free(struct iw_sbuf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
}

void iw_sbuf_reset(struct iw_sbuf *b)
{
	b->len = 0;
	if (b->buf != NULL)
		b->buf[0] = '\0';
}

static void sbuf_room(struct iw_sbuf *b, size_t n)
{
	if (b->cap - b->len > n)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len <= n) {
		if (cap > SIZE_MAX / 2)
			iw_oom();
		cap *= 2;
	}
	b->buf = iw_realloc(b->buf, cap);
	b->cap = cap;
}

void iw_sbuf_add(struct iw_sbuf *b, const char *s, size_t n)
{
	sbuf_room(b, n);
	if (n > 0)
		memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void sbuf_str(struct iw_sbuf *b, const char *s)
{
	iw_sbuf_add(b, s, strlen(s));
}

static void sbuf_char(struct iw_sbuf *b, char c)
{
	iw_sbuf_add(b, &c, 1);
}

static void sbuf_int(struct iw_sbuf *b, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	iw_sbuf_add(b, tmp, (size_t)n);
}

/* ---- names and numbers of RFC 5424 ---- */

static const char *const facilities[24] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog",   "lpr",     "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "security", "console", "solaris-cron",
    "local0", "local1", "local2",   "local3", "local4", "local5",   "local6",  "local7",
};

int iw_syslog_facility(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < 24; i++)
		if (strcmp(name, facilities[i]) == 0)
			return i;
	return -1;
}

/* Index 0..3 of an alert severity name: low, medium, high, critical; -1 otherwise. */
static int severity_index(const char *s)
{
	static const char *const names[] = {"low", "medium", "high", "critical"};
	for (int i = 0; s != NULL && i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

unsigned iw_syslog_severity(const char *alert_severity)
{
	static const unsigned sev[] = {5, 4, 3, 2}; /* notice, warning, error, critical */
	int i = severity_index(alert_severity);
	return sev[i < 0 ? 1 : i];
}

unsigned iw_cef_severity(const char *alert_severity)
{
	static const unsigned sev[] = {3, 5, 8, 10};
	int i = severity_index(alert_severity);
	return sev[i < 0 ? 1 : i];
}

unsigned iw_syslog_pri(unsigned facility, unsigned severity)
{
	return facility * 8 + severity;
}

static bool printusascii(unsigned char c)
{
	return c >= 33 && c <= 126;
}

const char *iw_syslog_msgid(const char *rule, char out[33])
{
	size_t n = rule != NULL ? strlen(rule) : 0;
	bool ok = n >= 1 && n <= 32;
	for (size_t i = 0; ok && i < n; i++)
		ok = printusascii((unsigned char)rule[i]);
	if (ok)
		memcpy(out, rule, n + 1);
	else
		memcpy(out, "-", 2);
	return out;
}

const char *iw_syslog_hostname(const char *name, char *out, size_t outlen)
{
	if (outlen < 2)
		return "-";
	size_t n = name != NULL ? strlen(name) : 0;
	if (n == 0) {
		memcpy(out, "-", 2);
		return out;
	}
	if (n > 255)
		n = 255;
	if (n > outlen - 1)
		n = outlen - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = printusascii((unsigned char)name[i]) ? name[i] : '_';
	out[n] = '\0';
	return out;
}

bool iw_syslog_hostname_ok(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;
	if (n < 1 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!printusascii((unsigned char)name[i]))
			return false;
	return true;
}

/* ---- the address ---- */

/* The address for a message: at most 200 bytes, control characters as '?', so the
 * message stays one line. */
static const char *shown(const char *s, char out[204])
{
	size_t n = 0;
	for (; s[n] != '\0' && n < 200; n++)
		out[n] = ((unsigned char)s[n] < 0x20 || s[n] == 0x7f) ? '?' : s[n];
	if (s[n] != '\0') {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static int bad_address(const char *s, char *err, size_t errlen)
{
	char tmp[204];
	if (errlen > 0)
		snprintf(err, errlen, "address \"%s\" is not udp://host:port or tcp://host:port",
		         shown(s, tmp));
	return IW_ERR;
}

int iw_syslog_parse_address(const char *s, struct iw_syslog_addr *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return bad_address("", err, errlen);
	const char *p;
	if (strncmp(s, "udp://", 6) == 0) {
		p = s + 6;
	} else if (strncmp(s, "tcp://", 6) == 0) {
		p = s + 6;
		out->tcp = true;
	} else {
		return bad_address(s, err, errlen);
	}

	const char *host = p, *host_end, *colon;
	if (*p == '[') { /* an IPv6 literal: [addr]:port */
		host = p + 1;
		host_end = strchr(host, ']');
		if (host_end == NULL || host_end[1] != ':')
			return bad_address(s, err, errlen);
		colon = host_end + 1;
		char a6[INET6_ADDRSTRLEN];
		struct in6_addr tmp;
		size_t n = (size_t)(host_end - host);
		if (n == 0 || n >= sizeof(a6))
			return bad_address(s, err, errlen);
		memcpy(a6, host, n);
		a6[n] = '\0';
		if (inet_pton(AF_INET6, a6, &tmp) != 1) {
			char t1[204], t2[204];
			if (errlen > 0)
				snprintf(err, errlen, "address \"%s\": [%s] is not an IPv6 address",
				         shown(s, t1), shown(a6, t2));
			return IW_ERR;
		}
	} else {
		colon = strrchr(p, ':');
		if (colon == NULL)
			return bad_address(s, err, errlen);
		host_end = colon;
		/* a name or an IPv4 address: letters, digits, '-', '.', '_' */
		for (const char *q = host; q < host_end; q++) {
			char c = *q;
			bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
			if (!ok)
				return bad_address(s, err, errlen);
		}
	}
	size_t hn = (size_t)(host_end - host);
	if (hn == 0 || hn >= sizeof(out->host))
		return bad_address(s, err, errlen);

	const char *port = colon + 1;
	size_t pn = strlen(port);
	if (pn == 0)
		return bad_address(s, err, errlen);
	unsigned long v = 0;
	for (size_t i = 0; i < pn; i++) {
		if (port[i] < '0' || port[i] > '9')
			return bad_address(s, err, errlen);
		if (v <= 65535)
			v = v * 10 + (unsigned long)(port[i] - '0');
	}
	if (v < 1 || v > 65535) {
		char tmp[204];
		if (errlen > 0)
			snprintf(err, errlen, "address \"%s\": the port is not 1..65535", shown(s, tmp));
		return IW_ERR;
	}
	memcpy(out->host, host, hn);
	out->host[hn] = '\0';
	snprintf(out->port, sizeof(out->port), "%lu", v);
	return IW_OK;
}

/* ---- CEF escaping ---- */

void iw_cef_escape_header(struct iw_sbuf *b, const char *s, size_t n)
{
	sbuf_room(b, 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\' || c == '|') {
			b->buf[b->len++] = '\\';
			b->buf[b->len++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			b->buf[b->len++] = ' ';
		} else {
			b->buf[b->len++] = (char)c;
		}
	}
	b->buf[b->len] = '\0';
}

void iw_cef_escape_value(struct iw_sbuf *b, const char *s, size_t n)
{
	sbuf_room(b, 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc = 0;
		if (c == '\\' || c == '=')
			esc = (char)c;
		else if (c == '\r')
			esc = 'r';
		else if (c == '\n')
			esc = 'n';
		if (esc) {
			b->buf[b->len++] = '\\';
			b->buf[b->len++] = esc;
		} else {
			b->buf[b->len++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
		}
	}
	b->buf[b->len] = '\0';
}

/* ---- reading the record ---- */

/* The record as a json-c object, or NULL when rec is not exactly one JSON object. The
 * caller puts it. */
static json_object *parse_record(const char *rec, size_t len)
{
	if (rec == NULL || len == 0 || len > INT_MAX)
		return NULL;
	json_tokener *tok = json_tokener_new_ex(PARSE_DEPTH);
	if (tok == NULL)
		iw_oom();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *o = json_tokener_parse_ex(tok, rec, (int)len);
	if (o != NULL &&
	    (json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v;
	if (o == NULL || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* A member that is a non-empty string, with its length; NULL otherwise. */
static const char *str_member(json_object *o, const char *key, size_t *n)
{
	json_object *v = member(o, key);
	if (v == NULL || !json_object_is_type(v, json_type_string))
		return NULL;
	int l = json_object_get_string_len(v);
	if (l <= 0)
		return NULL;
	if (n != NULL)
		*n = (size_t)l;
	return json_object_get_string(v);
}

/* true with *out when the member is an integer. */
static bool int_member(json_object *o, const char *key, int64_t *out)
{
	json_object *v = member(o, key);
	if (v == NULL || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

static bool digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar: the year is
 * counted from March, so the leap day ends it, and 400-year eras have 146097 days. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Parses an RFC 3339 date-time ("2026-11-22T07:45:50.091167Z", an offset instead of Z,
 * 1 to 9 fraction digits) or, with date_ok, a bare date ("2027-06-10", midnight UTC).
 * full (may be NULL) is set when s is a complete RFC 5424 TIMESTAMP: a date-time with at
 * most 6 fraction digits and no leap second. Returns true with *ms since the epoch. */
static bool parse_time(const char *s, size_t n, bool date_ok, int64_t *ms, bool *full)
{
	int y, mo, d, h = 0, mi = 0, se = 0, frac_ms = 0, off_min = 0;
	size_t fdigits = 0;
	if (full != NULL)
		*full = false;
	if (n < 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31)
		return false;
	size_t i = 10;
	if (n == 10) {
		if (!date_ok)
			return false;
	} else {
		if (n < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || !digits(s + 11, 2, &h) ||
		    !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
			return false;
		if (h > 23 || mi > 59 || se > 60)
			return false;
		i = 19;
		if (s[i] == '.') {
			i++;
			while (i < n && s[i] >= '0' && s[i] <= '9') {
				if (fdigits < 3)
					frac_ms = frac_ms * 10 + (s[i] - '0');
				fdigits++;
				i++;
			}
			if (fdigits == 0 || fdigits > 9)
				return false;
			for (size_t k = fdigits; k < 3; k++)
				frac_ms *= 10;
		}
		if (i + 1 == n && s[i] == 'Z') {
			i++;
		} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
			int oh, om;
			if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
				return false;
			off_min = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
			i += 6;
		} else {
			return false;
		}
		if (full != NULL)
			*full = fdigits <= 6 && se <= 59;
	}
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - (int64_t)off_min * 60;
	*ms = secs * 1000 + frac_ms;
	return true;
}

/* ---- the CEF extension ---- */

#define MAX_KEYS 64

struct cef {
	struct iw_sbuf *b;
	const char *keys[MAX_KEYS]; /* keys written, so none is written twice */
	unsigned n_keys;
	bool started; /* a pair is written: the next one needs a space */
};

static bool cef_claim(struct cef *c, const char *key)
{
	for (unsigned i = 0; i < c->n_keys; i++)
		if (strcmp(c->keys[i], key) == 0)
			return false;
	if (c->n_keys == MAX_KEYS)
		return false;
	c->keys[c->n_keys++] = key;
	return true;
}

/* " key=" before a value (no space before the first pair). */
static void cef_key(struct cef *c, const char *key)
{
	if (c->started)
		sbuf_char(c->b, ' ');
	c->started = true;
	sbuf_str(c->b, key);
	sbuf_char(c->b, '=');
}

static void cef_str(struct cef *c, const char *key, const char *v, size_t n)
{
	if (v == NULL || n == 0 || !cef_claim(c, key))
		return;
	cef_key(c, key);
	iw_cef_escape_value(c->b, v, n);
}

static void cef_int(struct cef *c, const char *key, int64_t v)
{
	if (!cef_claim(c, key))
		return;
	cef_key(c, key);
	sbuf_int(c->b, v);
}

/* A custom field and its label ("cs2Label=clientId cs2=..."), when the field is free. */
static void cef_label(struct cef *c, const char *key, const char *label)
{
	char lk[32];
	snprintf(lk, sizeof(lk), "%sLabel", key);
	cef_key(c, lk);
	iw_cef_escape_value(c->b, label, strlen(label));
}

static void cef_custom_str(struct cef *c, const char *key, const char *label, const char *v, size_t n)
{
	if (v == NULL || n == 0 || !cef_claim(c, key))
		return;
	cef_label(c, key, label);
	cef_key(c, key);
	iw_cef_escape_value(c->b, v, n);
}

static void cef_custom_int(struct cef *c, const char *key, const char *label, int64_t v)
{
	if (!cef_claim(c, key))
		return;
	cef_label(c, key, label);
	cef_key(c, key);
	sbuf_int(c->b, v);
}

/* A scalar as text into t: strings as they are, numbers and booleans as JSON writes them.
 * Objects and arrays as compact JSON. false for null. */
static bool as_text(json_object *v, struct iw_sbuf *t)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return false;
	case json_type_string:
		iw_sbuf_add(t, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		return true;
	default:
		sbuf_str(t, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
		                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
		return true;
	}
}

/* Text of a member: a list's items joined by ',', a scalar as as_text. */
static bool member_text(json_object *v, struct iw_sbuf *t)
{
	iw_sbuf_reset(t);
	if (v == NULL)
		return false;
	if (!json_object_is_type(v, json_type_array))
		return as_text(v, t);
	size_t n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			sbuf_char(t, ',');
		as_text(json_object_array_get_idx(v, i), t);
	}
	return t->len > 0;
}

enum conv {
	C_STR,        /* text (a list joined by ',') */
	C_INT,        /* an integer */
	C_TIME,       /* an RFC 3339 time or a date, as ms since the epoch */
	C_FIRST_TIME, /* the first of a list of times */
	C_LAST_TIME,  /* the last of a list of times */
	C_NAME,       /* text, unless it equals evidence.address (no name was known) */
};

struct ext_map {
	const char *member; /* of evidence */
	const char *key;    /* CEF key */
	const char *label;  /* for custom keys (cs*, cn*, flexString*, deviceCustomDate*); NULL otherwise */
	enum conv conv;
};

#define MAP_MAX 12

/* Evidence members with a CEF key of their own, per rule (docs/siem.md has the table).
 * cs1 (deviceId), cs2 (clientId), cs3 (region) and cs6 (the whole evidence) are the same
 * for every rule and are not used here. */
static const struct {
	const char *rule;
	struct ext_map map[MAP_MAX];
} rules[] = {
    {"tunnel.orphaned",
     {
         {"kind", "cs4", "tunnelKind", C_STR},
         {"endpoint", "dhost", NULL, C_NAME},
         {"start", "start", NULL, C_TIME},
         {"duration_s", "cn1", "durationSeconds", C_INT},
         {"max_duration_s", "cn2", "maxDurationSeconds", C_INT},
         {"bytes_toserver", "in", NULL, C_INT}, /* CEF: in is source to destination */
         {"bytes_toclient", "out", NULL, C_INT},
     }},
    {"tunnel.renewal_loop",
     {
         {"kind", "cs4", "tunnelKind", C_STR},
         {"endpoint", "dhost", NULL, C_NAME},
         {"opens", "cn1", "opens", C_INT},
         {"renewal_max", "cn2", "renewalMax", C_INT},
         {"window_s", "cn3", "windowSeconds", C_INT},
         {"open_times", "start", NULL, C_FIRST_TIME},
         {"open_times", "end", NULL, C_LAST_TIME},
     }},
    {"mqtt.wildcard_subscribe",
     {
         {"shared_group", "cs4", "sharedGroup", C_STR},
         {"filter", "cs5", "topicFilter", C_STR},
         {"qos", "cn1", "qos", C_INT},
     }},
    {"mqtt.topic_violation",
     {
         {"action", "act", NULL, C_STR},
         {"namespaces", "cs4", "namespaces", C_STR},
         {"topic", "cs5", "topic", C_STR},
         {"shared_group", "flexString1", "sharedGroup", C_STR},
     }},
    {"mqtt.cleartext_credentials",
     {
         {"username", "suser", NULL, C_STR},
     }},
    {"mqtt.client_id_conflict",
     {
         {"addresses", "flexString1", "addresses", C_STR},
         {"first_seen", "start", NULL, C_TIME},
     }},
    {"mqtt.shared_credentials",
     {
         {"username", "suser", NULL, C_STR},
         {"client_ids", "cn1", "clientIds", C_INT},
         {"shared_credentials_max", "cn2", "sharedCredentialsMax", C_INT},
         {"sample", "cs5", "sampleClientIds", C_STR},
     }},
    {"tls.cert_expiring",
     {
         {"fingerprint", "cs4", "certificateFingerprint", C_STR},
         {"subject", "cs5", "certificateSubject", C_STR},
         {"issuer", "flexString1", "certificateIssuer", C_STR},
         {"serial", "flexString2", "certificateSerial", C_STR},
         {"not_after", "deviceCustomDate1", "certificateNotAfter", C_TIME},
         {"days_left", "cn1", "daysLeft", C_INT},
     }},
    {"tls.shared_certificate",
     {
         {"fingerprint", "cs4", "certificateFingerprint", C_STR},
         {"subject", "cs5", "certificateSubject", C_STR},
         {"addresses", "flexString1", "addresses", C_STR},
         {"devices", "cn1", "devices", C_INT},
     }},
    {"tls.cert_expiry_storm",
     {
         {"kind", "cs4", "stormKind", C_STR},
         {"sample", "cs5", "sampleDevices", C_STR},
         {"devices", "cn1", "devices", C_INT},
         {"storm_min_devices", "cn2", "minDevices", C_INT},
         {"flood_min_devices", "cn2", "minDevices", C_INT},
         {"window_s", "cn3", "windowSeconds", C_INT},
         {"date", "deviceCustomDate1", "expiryDate", C_TIME},
         {"issuers", "flexString1", "issuers", C_STR},
         {"reasons", "flexString2", "reasons", C_STR},
     }},
    {"endpoint.off_region",
     {
         {"name", "dhost", NULL, C_STR},
         {"provider", "cs4", "provider", C_STR},
         {"service", "cs5", "service", C_STR},
         {"source", "flexString1", "regionSource", C_STR},
         {"allowed", "flexString2", "allowedRegions", C_STR},
     }},
    {"modbus.unauthorized_write",
     {
         {"function", "cs4", "modbusFunction", C_STR},
         {"writes", "cs5", "writes", C_STR},
         {"unit", "cn1", "unitId", C_INT},
         {"address", "cn2", "registerAddress", C_INT},
         {"new_value", "cn3", "newValue", C_INT},
         {"old_value", "flexString1", "oldValue", C_STR},
     }},
};

static void map_member(struct cef *c, json_object *ev, const struct ext_map *m, struct iw_sbuf *t)
{
	json_object *v = member(ev, m->member);
	if (v == NULL)
		return;
	int64_t n;
	switch (m->conv) {
	case C_INT:
		if (!json_object_is_type(v, json_type_int))
			return;
		n = json_object_get_int64(v);
		if (m->label != NULL)
			cef_custom_int(c, m->key, m->label, n);
		else
			cef_int(c, m->key, n);
		return;
	case C_FIRST_TIME:
	case C_LAST_TIME: {
		size_t len = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
		if (len == 0)
			return;
		v = json_object_array_get_idx(v, m->conv == C_FIRST_TIME ? 0 : len - 1);
	}
		/* fall through */
	case C_TIME:
		if (!json_object_is_type(v, json_type_string) ||
		    !parse_time(json_object_get_string(v), (size_t)json_object_get_string_len(v), true, &n,
		                NULL))
			return;
		if (m->label != NULL)
			cef_custom_int(c, m->key, m->label, n);
		else
			cef_int(c, m->key, n);
		return;
	case C_NAME: {
		size_t an;
		const char *addr = str_member(ev, "address", &an);
		if (!member_text(v, t) || (addr != NULL && an == t->len && memcmp(addr, t->buf, an) == 0))
			return;
		break;
	}
	case C_STR:
		if (!member_text(v, t))
			return;
		break;
	}
	if (m->label != NULL)
		cef_custom_str(c, m->key, m->label, t->buf, t->len);
	else
		cef_str(c, m->key, t->buf, t->len);
}

/* src/dst for IPv4, c6a2/c6a3 for IPv6 (CEF's src and dst are IPv4 only), nothing for
 * anything else. */
static void cef_addr(struct cef *c, json_object *rec, const char *member_name, const char *v4key,
                     const char *v6key, const char *v6label)
{
	size_t n;
	const char *s = str_member(rec, member_name, &n);
	if (s == NULL || n != strlen(s) || n >= INET6_ADDRSTRLEN)
		return;
	unsigned char tmp[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, s, tmp) == 1)
		cef_str(c, v4key, s, n);
	else if (inet_pton(AF_INET6, s, tmp) == 1)
		cef_custom_str(c, v6key, v6label, s, n);
}

static void cef_port(struct cef *c, json_object *rec, const char *member_name, const char *key)
{
	int64_t p;
	if (int_member(rec, member_name, &p) && p >= 0 && p <= 65535)
		cef_int(c, key, p);
}

/* Appends the CEF line of the parsed record to b. */
static void cef_line(struct iw_sbuf *b, json_object *rec)
{
	json_object *alert = member(rec, "alert"), *dev = member(rec, "device"),
	            *ep = member(rec, "endpoint"), *ev = member(rec, "evidence");
	size_t rn = 0, mn = 0, n;
	const char *rule = str_member(alert, "rule", &rn), *message = str_member(alert, "message", &mn);
	const char *sev = str_member(alert, "severity", NULL);
	if (rule == NULL) {
		rule = "-";
		rn = 1;
	}
	if (message == NULL) {
		message = rule;
		mn = rn;
	}

	sbuf_str(b, "CEF:0|iotwatch|iotwatch|");
	iw_cef_escape_header(b, IW_VERSION, strlen(IW_VERSION));
	sbuf_char(b, '|');
	iw_cef_escape_header(b, rule, rn);
	sbuf_char(b, '|');
	iw_cef_escape_header(b, message, mn);
	sbuf_char(b, '|');
	sbuf_int(b, iw_cef_severity(sev));
	sbuf_char(b, '|');

	struct cef c = {.b = b};
	struct iw_sbuf t = {0};
	const char *s;
	int64_t v;
	if ((s = str_member(rec, "timestamp", &n)) != NULL && parse_time(s, n, false, &v, NULL))
		cef_int(&c, "rt", v);
	s = str_member(rec, "sensor", &n);
	cef_str(&c, "dvchost", s, n);
	cef_addr(&c, rec, "src_ip", "src", "c6a2", "sourceIPv6Address");
	cef_port(&c, rec, "src_port", "spt");
	cef_addr(&c, rec, "dest_ip", "dst", "c6a3", "destinationIPv6Address");
	cef_port(&c, rec, "dest_port", "dpt");
	s = str_member(rec, "proto", &n);
	cef_str(&c, "proto", s, n);
	s = str_member(rec, "app_proto", &n);
	cef_str(&c, "app", s, n);
	if (int_member(rec, "flow_id", &v))
		cef_int(&c, "externalId", v);
	s = str_member(alert, "category", &n);
	cef_str(&c, "cat", s, n);
	s = str_member(alert, "message", &n);
	cef_str(&c, "msg", s, n);

	/* the device's MAC on the side the device is */
	size_t mac_n, ip_n, src_n, dst_n;
	const char *mac = str_member(dev, "mac", &mac_n), *ip = str_member(dev, "ip", &ip_n);
	const char *src = str_member(rec, "src_ip", &src_n), *dst = str_member(rec, "dest_ip", &dst_n);
	if (mac != NULL && ip != NULL) {
		if (src != NULL && src_n == ip_n && memcmp(src, ip, ip_n) == 0)
			cef_str(&c, "smac", mac, mac_n);
		else if (dst != NULL && dst_n == ip_n && memcmp(dst, ip, ip_n) == 0)
			cef_str(&c, "dmac", mac, mac_n);
	}
	s = str_member(ep, "name", &n);
	cef_str(&c, "dhost", s, n);

	s = str_member(dev, "id", &n);
	cef_custom_str(&c, "cs1", "deviceId", s, n);
	if ((s = str_member(ev, "client_id", &n)) == NULL)
		s = str_member(dev, "client_id", &n);
	cef_custom_str(&c, "cs2", "clientId", s, n);
	if ((s = str_member(ev, "region", &n)) == NULL)
		s = str_member(ep, "region", &n);
	cef_custom_str(&c, "cs3", "region", s, n);

	for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
		if (strcmp(rules[r].rule, rule) != 0)
			continue;
		for (const struct ext_map *m = rules[r].map; m < rules[r].map + MAP_MAX && m->member; m++)
			map_member(&c, ev, m, &t);
		break;
	}

	/* everything the rule said, so nothing is lost to the mapping */
	const char *evjson = "{}";
	if (ev != NULL && json_object_is_type(ev, json_type_object))
		evjson = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
		                                                JSON_C_TO_STRING_NOSLASHESCAPE);
	cef_custom_str(&c, "cs6", "evidence", evjson, strlen(evjson));
	iw_sbuf_free(&t);
}

int iw_syslog_cef(struct iw_sbuf *b, const char *rec, size_t len)
{
	json_object *o = parse_record(rec, len);
	if (o == NULL)
		return IW_ERR;
	cef_line(b, o);
	json_object_put(o);
	return IW_OK;
}

int iw_syslog_format(struct iw_sbuf *b, const struct iw_syslog_fmt *f, const char *rec, size_t len)
{
	json_object *o = parse_record(rec, len);
	if (o == NULL)
		return IW_ERR;
	json_object *alert = member(o, "alert");
	const char *sev = str_member(alert, "severity", NULL);

	char head[64];
	int hn =
	    snprintf(head, sizeof(head), "<%u>1 ", iw_syslog_pri(f->facility % 24, iw_syslog_severity(sev)));
	iw_sbuf_add(b, head, (size_t)hn);

	size_t tn;
	int64_t ms;
	bool full = false;
	const char *ts = str_member(o, "timestamp", &tn);
	if (ts != NULL && parse_time(ts, tn, false, &ms, &full) && full)
		iw_sbuf_add(b, ts, tn);
	else
		sbuf_char(b, '-');
	sbuf_char(b, ' ');
	sbuf_str(b, f->hostname != NULL && f->hostname[0] != '\0' ? f->hostname : "-");

	char msgid[33];
	hn = snprintf(head, sizeof(head), " iotwatch %lu ", f->procid);
	iw_sbuf_add(b, head, (size_t)hn);
	sbuf_str(b, iw_syslog_msgid(str_member(alert, "rule", NULL), msgid));
	sbuf_str(b, " - ");

	if (f->json) {
		/* valid JSON holds CR and LF only as whitespace between tokens */
		size_t at = b->len;
		iw_sbuf_add(b, rec, len);
		for (size_t i = at; i < b->len; i++)
			if (b->buf[i] == '\r' || b->buf[i] == '\n')
				b->buf[i] = ' ';
	} else {
		cef_line(b, o);
	}
	json_object_put(o);
	return IW_OK;
}
