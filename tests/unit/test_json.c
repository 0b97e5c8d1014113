/* test_json.c - unit tests of the JSON writer (RFC 8259, RFC 3629, RFC 3339) and of event and alert
 * records (DESIGN §5), checked by Python's json module where a real parser should judge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exporters/json.h"
#include "exporters/record.h"

/* ---- helpers ---------------------------------------------------------------------- */

/* One value written at the top level, as text. */
static char out[4096];

static const char *one_str(const char *s, size_t n)
{
	struct iw_json j;
	iw_json_init(&j);
	iw_json_strn(&j, NULL, s, n);
	assert_true(j.len < sizeof(out));
	memcpy(out, j.buf, j.len + 1);
	assert_int_equal(strlen(out), j.len); /* NUL-terminated, no NUL inside */
	iw_json_free(&j);
	return out;
}

static char *tmp_path(const char *suffix)
{
	char *p = malloc(64);
	assert_non_null(p);
	snprintf(p, 64, "/tmp/iw_test_json_XXXXXX%s", suffix);
	int fd = mkstemps(p, (int)strlen(suffix));
	assert_true(fd >= 0);
	close(fd);
	return p;
}

static void write_file(const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Runs script with python3 on datafile; returns its stdout (malloc'd) and exit status. */
static char *run_python(const char *script, const char *datafile, int *status)
{
	char *sp = tmp_path(".py");
	write_file(sp, script, strlen(script));
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "python3 %s %s 2>&1", sp, datafile);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	*status = pclose(p);
	unlink(sp);
	free(sp);
	return buf;
}

/* Parses a record with Python's json module (duplicate keys refused) and lists every
 * leaf in document order as path=json, e.g. device.id="d1", vlan[0]=100. */
static const char flatten_py[] = "import json, sys\n"
                                 "def pairs(ps):\n"
                                 "    keys = [k for k, _ in ps]\n"
                                 "    if len(keys) != len(set(keys)):\n"
                                 "        sys.exit('duplicate key in ' + repr(keys))\n"
                                 "    return dict(ps)\n"
                                 "raw = open(sys.argv[1], 'rb').read().decode('utf-8')\n"
                                 "r = json.loads(raw, object_pairs_hook=pairs)\n"
                                 "def walk(p, v):\n"
                                 "    if isinstance(v, dict):\n"
                                 "        if not v: print(p + '={}')\n"
                                 "        for k, x in v.items(): walk(p + '.' + k if p else k, x)\n"
                                 "    elif isinstance(v, list):\n"
                                 "        if not v: print(p + '=[]')\n"
                                 "        for i, x in enumerate(v): walk(p + '[' + str(i) + ']', x)\n"
                                 "    else:\n"
                                 "        print(p + '=' + json.dumps(v))\n"
                                 "walk('', r)\n";

static char *flatten(const struct iw_json *j)
{
	char *path = tmp_path(".json");
	write_file(path, j->buf, j->len);
	int status;
	char *res = run_python(flatten_py, path, &status);
	if (status != 0)
		fail_msg("python rejected %s: %s", j->buf, res);
	unlink(path);
	free(path);
	return res;
}

static uint64_t rng_next(uint64_t *s);

/* ---- strings ---------------------------------------------------------------------- */

static void test_control_chars(void **state)
{
	(void)state;
	static const char *const want[32] = {
	    "\"\\u0000\"", "\"\\u0001\"", "\"\\u0002\"", "\"\\u0003\"", "\"\\u0004\"", "\"\\u0005\"",
	    "\"\\u0006\"", "\"\\u0007\"", "\"\\b\"",     "\"\\t\"",     "\"\\n\"",     "\"\\u000b\"",
	    "\"\\f\"",     "\"\\r\"",     "\"\\u000e\"", "\"\\u000f\"", "\"\\u0010\"", "\"\\u0011\"",
	    "\"\\u0012\"", "\"\\u0013\"", "\"\\u0014\"", "\"\\u0015\"", "\"\\u0016\"", "\"\\u0017\"",
	    "\"\\u0018\"", "\"\\u0019\"", "\"\\u001a\"", "\"\\u001b\"", "\"\\u001c\"", "\"\\u001d\"",
	    "\"\\u001e\"", "\"\\u001f\"",
	};
	for (int c = 0; c < 32; c++) {
		char s[1] = {(char)c};
		assert_string_equal(one_str(s, 1), want[c]);
	}
	/* a control character in the middle of plain text */
	assert_string_equal(one_str("a\tb\001c", 5), "\"a\\tb\\u0001c\"");
}

static void test_quote_backslash_plain(void **state)
{
	(void)state;
	assert_string_equal(one_str("\"", 1), "\"\\\"\"");
	assert_string_equal(one_str("\\", 1), "\"\\\\\"");
	assert_string_equal(one_str("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	assert_string_equal(one_str("", 0), "\"\"");
	/* '/' and DEL need no escape (RFC 8259 §7) */
	assert_string_equal(one_str("a/b\x7f", 4), "\"a/b\x7f\"");
	/* every other printable ASCII byte is copied as it is */
	for (int c = 0x20; c < 0x80; c++) {
		if (c == '"' || c == '\\')
			continue;
		char s[1] = {(char)c}, w[4] = {'"', (char)c, '"', 0};
		assert_string_equal(one_str(s, 1), w);
	}
	/* NULL is null, strn stops at n even past a NUL */
	struct iw_json j;
	iw_json_init(&j);
	iw_json_str(&j, NULL, NULL);
	assert_string_equal(j.buf, "null");
	iw_json_free(&j);
	assert_string_equal(one_str("ab\0cd", 5), "\"ab\\u0000cd\"");
}

static void test_utf8_kept(void **state)
{
	(void)state;
	static const char *const ok[] = {
	    "\xc2\x80",         /* U+0080, the first two-byte */
	    "\xc3\xa9",         /* é */
	    "\xdf\xbf",         /* U+07FF */
	    "\xe0\xa0\x80",     /* U+0800, the first three-byte */
	    "\xe2\x82\xac",     /* € */
	    "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
	    "\xee\x80\x80",     /* U+E000, just above */
	    "\xef\xbf\xbd",     /* U+FFFD itself */
	    "\xef\xbf\xbf",     /* U+FFFF */
	    "\xf0\x90\x80\x80", /* U+10000, the first four-byte */
	    "\xf0\x9f\x98\x80", /* 😀 */
	    "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last */
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char w[16];
		snprintf(w, sizeof(w), "\"%s\"", ok[i]);
		assert_string_equal(one_str(ok[i], strlen(ok[i])), w);
	}
	const char *mixed = "caf\xc3\xa9 \342\202\2545 \xf0\x9f\x98\x80!"; /* "café €5 😀!" */
	char w[64];
	snprintf(w, sizeof(w), "\"%s\"", mixed);
	assert_string_equal(one_str(mixed, strlen(mixed)), w);
}

#define R "\\ufffd"

static void test_utf8_invalid(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t n;
		const char *want;
	} cases[] = {
	    {"\x80", 1, "\"" R "\""},                   /* lone continuation */
	    {"a\277b", 3, "\"a" R "b\""},               /* lone continuation inside */
	    {"\xc0\xaf", 2, "\"" R R "\""},             /* overlong '/' */
	    {"\xc1\xbf", 2, "\"" R R "\""},             /* overlong, C1 */
	    {"\xe0\x80\xaf", 3, "\"" R R R "\""},       /* overlong three-byte */
	    {"\xe0\x9f\xbf", 3, "\"" R R R "\""},       /* overlong U+07FF */
	    {"\xf0\x80\x80\xaf", 4, "\"" R R R R "\""}, /* overlong four-byte */
	    {"\xf0\x8f\xbf\xbf", 4, "\"" R R R R "\""}, /* overlong U+FFFF */
	    {"\xed\xa0\x80", 3, "\"" R R R "\""},       /* surrogate U+D800 */
	    {"\xed\xbf\xbf", 3, "\"" R R R "\""},       /* surrogate U+DFFF */
	    {"\xf4\x90\x80\x80", 4, "\"" R R R R "\""}, /* U+110000 */
	    {"\xf5\x80\x80\x80", 4, "\"" R R R R "\""}, /* lead byte F5 */
	    {"\xfe\xff", 2, "\"" R R "\""},             /* never in UTF-8 */
	    {"ab\xe2\x82", 4, "\"ab" R R "\""},         /* truncated at the end */
	    {"\xf0\x9f\x98", 3, "\"" R R R "\""},       /* truncated four-byte */
	    {"\xc3", 1, "\"" R "\""},                   /* truncated two-byte */
	    {"\342\202A", 3, "\"" R R "A\""},           /* cut by ASCII: A survives */
	    {"\xe2\xc3\xa9", 3, "\"" R "\xc3\xa9\""},   /* cut by a valid character */
	    {"\xc3\xa9\xa9", 3, "\"\xc3\xa9" R "\""},   /* one continuation too many */
	    {"\xe2\x82\"", 3, "\"" R R "\\\"\""},       /* cut by a quote */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = one_str(cases[i].in, cases[i].n);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got %s want %s", i, got, cases[i].want);
	}
}

static void test_keys_escaped(void **state)
{
	(void)state;
	struct iw_json j;
	iw_json_init(&j);
	iw_json_obj_begin(&j, NULL);
	iw_json_int(&j, "a\"b\n\xff", 1);
	iw_json_obj_end(&j);
	assert_string_equal(j.buf, "{\"a\\\"b\\n" R "\":1}");
	iw_json_free(&j);
}

/* ---- structure -------------------------------------------------------------------- */

static void test_nesting_commas(void **state)
{
	(void)state;
	struct iw_json j;
	iw_json_init(&j);
	iw_json_obj_begin(&j, NULL);
	iw_json_int(&j, "a", 1);
	iw_json_arr_begin(&j, "b");
	iw_json_int(&j, NULL, 1);
	iw_json_str(&j, NULL, "x");
	iw_json_obj_begin(&j, NULL);
	iw_json_null(&j, "c");
	iw_json_bool(&j, "t", true);
	iw_json_bool(&j, "f", false);
	iw_json_obj_end(&j);
	iw_json_arr_begin(&j, NULL);
	iw_json_arr_end(&j);
	iw_json_obj_begin(&j, NULL);
	iw_json_obj_end(&j);
	iw_json_arr_end(&j);
	iw_json_obj_begin(&j, "d");
	iw_json_obj_end(&j);
	iw_json_arr_begin(&j, "e");
	iw_json_arr_end(&j);
	iw_json_uint(&j, "z", 0);
	iw_json_obj_end(&j);
	assert_string_equal(
	    j.buf,
	    "{\"a\":1,\"b\":[1,\"x\",{\"c\":null,\"t\":true,\"f\":false},[],{}],\"d\":{},\"e\":[],\"z\":0}");
	assert_int_equal(j.depth, 0);
	assert_int_equal(j.len, strlen(j.buf));

	/* reset starts a new record with a clean comma state */
	iw_json_reset(&j);
	assert_string_equal(j.buf, "");
	iw_json_arr_begin(&j, NULL);
	iw_json_int(&j, NULL, -1);
	iw_json_int(&j, NULL, 2);
	iw_json_arr_end(&j);
	assert_string_equal(j.buf, "[-1,2]");

	/* an unbalanced end is ignored rather than written */
	iw_json_arr_end(&j);
	assert_string_equal(j.buf, "[-1,2]");
	assert_int_equal(j.depth, 0);
	iw_json_free(&j);
}

static void test_depth_cap(void **state)
{
	(void)state;
	struct iw_json j;
	iw_json_init(&j);
	for (int i = 0; i < IW_JSON_MAX_DEPTH + 8; i++) {
		iw_json_arr_begin(&j, NULL);
		iw_json_int(&j, NULL, i);
	}
	for (int i = 0; i < IW_JSON_MAX_DEPTH + 8; i++)
		iw_json_arr_end(&j);
	assert_int_equal(j.depth, 0);

	/* [0,[1,[2,...[31,null]...]]]: the 33rd array and all inside it become null */
	char want[512] = "", *w = want;
	for (int i = 0; i < IW_JSON_MAX_DEPTH; i++)
		w += snprintf(w, sizeof(want) - (size_t)(w - want), "[%d,", i);
	w += snprintf(w, sizeof(want) - (size_t)(w - want), "null");
	for (int i = 0; i < IW_JSON_MAX_DEPTH; i++)
		*w++ = ']';
	*w = '\0';
	assert_string_equal(j.buf, want);

	/* and a member after the too-deep object still gets its comma */
	iw_json_reset(&j);
	for (int i = 0; i < IW_JSON_MAX_DEPTH; i++)
		iw_json_obj_begin(&j, i ? "o" : NULL);
	iw_json_obj_begin(&j, "deep");
	iw_json_int(&j, "lost", 1);
	iw_json_obj_end(&j);
	iw_json_int(&j, "kept", 2);
	for (int i = 0; i < IW_JSON_MAX_DEPTH; i++)
		iw_json_obj_end(&j);
	assert_non_null(strstr(j.buf, "{\"deep\":null,\"kept\":2}"));
	assert_null(strstr(j.buf, "lost"));
	iw_json_free(&j);
}

/* ---- numbers ---------------------------------------------------------------------- */

static const char *num_i(int64_t v)
{
	struct iw_json j;
	iw_json_init(&j);
	iw_json_int(&j, NULL, v);
	memcpy(out, j.buf, j.len + 1);
	iw_json_free(&j);
	return out;
}

static const char *num_u(uint64_t v)
{
	struct iw_json j;
	iw_json_init(&j);
	iw_json_uint(&j, NULL, v);
	memcpy(out, j.buf, j.len + 1);
	iw_json_free(&j);
	return out;
}

static const char *num_d(double v)
{
	struct iw_json j;
	iw_json_init(&j);
	iw_json_double(&j, NULL, v);
	memcpy(out, j.buf, j.len + 1);
	iw_json_free(&j);
	return out;
}

static void test_integers(void **state)
{
	(void)state;
	assert_string_equal(num_i(0), "0");
	assert_string_equal(num_i(-1), "-1");
	assert_string_equal(num_i(42), "42");
	assert_string_equal(num_i(INT64_MAX), "9223372036854775807");
	assert_string_equal(num_i(INT64_MIN), "-9223372036854775808");
	assert_string_equal(num_u(0), "0");
	assert_string_equal(num_u(10), "10");
	assert_string_equal(num_u(UINT64_MAX), "18446744073709551615");
}

static void test_doubles(void **state)
{
	(void)state;
	assert_string_equal(num_d(0.0), "0");
	assert_string_equal(num_d(-0.0), "-0.0");
	assert_string_equal(num_d(3.0), "3");
	assert_string_equal(num_d(-2.5), "-2.5");
	assert_string_equal(num_d(0.1), "0.1");
	assert_string_equal(num_d(1e300), "1e+300");
	assert_string_equal(num_d(9007199254740992.0), "9007199254740992");
	assert_string_equal(num_d(1e20), "1e+20");
	assert_string_equal(num_d(NAN), "null");
	assert_string_equal(num_d(INFINITY), "null");
	assert_string_equal(num_d(-INFINITY), "null");

	/* whatever the form, it reads back as the same double */
	static const double vals[] = {0.1,
	                              1.0 / 3,
	                              2.0 / 3,
	                              1e-7,
	                              123456.789,
	                              -1e-300,
	                              5e-324,
	                              1.7976931348623157e308,
	                              0.30000000000000004,
	                              4503599627370497.5};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		const char *s = num_d(vals[i]);
		char *end;
		double back = strtod(s, &end);
		assert_int_equal(*end, '\0');
		if (back != vals[i])
			fail_msg("%.17g written as %s", vals[i], s);
	}
	assert_string_equal(num_d(1.0 / 3), "0.3333333333333333"); /* 16 digits suffice */
}

/* ---- time ------------------------------------------------------------------------- */

static const char *fmt_time(uint64_t us)
{
	iw_json_fmt_time(us, out, 28);
	return out;
}

static void test_time(void **state)
{
	(void)state;
	assert_string_equal(fmt_time(0), "1970-01-01T00:00:00.000000Z");
	assert_string_equal(fmt_time(1), "1970-01-01T00:00:00.000001Z");
	assert_string_equal(fmt_time(1795312573000123ULL), "2026-11-22T01:56:13.000123Z");
	/* leap day */
	assert_string_equal(fmt_time(1709210096789012ULL), "2024-02-29T12:34:56.789012Z");
	assert_string_equal(fmt_time(978307199999999ULL), "2000-12-31T23:59:59.999999Z");
	/* 2100 is not a leap year: 1 March follows 28 February */
	assert_string_equal(fmt_time(4107542400000000ULL - 1), "2100-02-28T23:59:59.999999Z");
	assert_string_equal(fmt_time(4107542400000000ULL), "2100-03-01T00:00:00.000000Z");
	/* past year 9999 RFC 3339 has no form: clamped */
	assert_string_equal(fmt_time(253402300799999999ULL), "9999-12-31T23:59:59.999999Z");
	assert_string_equal(fmt_time(UINT64_MAX), "9999-12-31T23:59:59.999999Z");
	assert_int_equal(strlen(fmt_time(UINT64_MAX)), 27);

	/* a short buffer is cut, still terminated */
	char small[11];
	iw_json_fmt_time(1709210096789012ULL, small, sizeof(small));
	assert_string_equal(small, "2024-02-29");

	struct iw_json j;
	iw_json_init(&j);
	iw_json_obj_begin(&j, NULL);
	iw_json_time(&j, "t", 1709210096789012ULL);
	iw_json_time(&j, "u", 0);
	iw_json_obj_end(&j);
	assert_string_equal(j.buf,
	                    "{\"t\":\"2024-02-29T12:34:56.789012Z\",\"u\":\"1970-01-01T00:00:00.000000Z\"}");
	iw_json_free(&j);
}

/* ---- records ---------------------------------------------------------------------- */

static struct iw_flow_key key4(void)
{
	struct iw_flow_key k;
	memset(&k, 0, sizeof(k));
	k.family = 4;
	k.proto = IPPROTO_TCP;
	memcpy(k.src.b, "\xc0\x00\x02\x0a", 4); /* 192.0.2.10 */
	memcpy(k.dst.b, "\xc6\x33\x64\x07", 4); /* 198.51.100.7 */
	k.sport = 51234;
	k.dport = 8883;
	k.vlan = 100;
	return k;
}

static struct iw_flow_key key6(void)
{
	struct iw_flow_key k;
	memset(&k, 0, sizeof(k));
	k.family = 6;
	k.proto = IPPROTO_UDP;
	memcpy(k.src.b, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16); /* 2001:db8::1 */
	memcpy(k.dst.b, "\xfe\x80\0\0\0\0\0\0\x02\x11\x22\xff\xfe\x33\x44\x55", 16);
	k.sport = 5683;
	k.dport = 5683;
	return k;
}

static struct iw_event flow_event(const struct iw_flow_key *k)
{
	struct iw_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = IW_EV_FLOW;
	ev.ts_us = 1795312573000123ULL;
	ev.flow_id = 1234567890123456789ULL; /* above 2^53: must stay exact */
	ev.key = k;
	ev.app_proto = "mqtt";
	ev.device.id = "dev/42";
	ev.device.ip = "192.0.2.10";
	ev.device.mac = "00:11:22:33:44:55";
	ev.device.client_id = "dev/42";
	ev.u.flow.start_us = 1795312500250000ULL;
	ev.u.flow.end_us = 1795312573000123ULL;
	ev.u.flow.pkts_toserver = 10;
	ev.u.flow.pkts_toclient = 8;
	ev.u.flow.bytes_toserver = 1500;
	ev.u.flow.bytes_toclient = 18446744073709551615ULL;
	ev.u.flow.reason = IW_END_TIMEOUT;
	ev.u.flow.tcp_flags_ts = 0x1b;
	ev.u.flow.tcp_flags_tc = 0x0a;
	ev.u.flow.gaps = 2;
	ev.u.flow.ndpi = "MQTT";
	return ev;
}

static void test_record_flow(void **state)
{
	(void)state;
	struct iw_flow_key k = key4();
	struct iw_event ev = flow_event(&k);
	struct iw_json j;
	iw_json_init(&j);
	iw_json_str(&j, NULL, "left over"); /* the record function starts afresh */
	iw_record_event(&j, "span-1", &ev);
	char *got = flatten(&j);
	assert_string_equal(got, "timestamp=\"2026-11-22T01:56:13.000123Z\"\n"
	                         "flow_id=1234567890123456789\n"
	                         "sensor=\"span-1\"\n"
	                         "event_type=\"flow\"\n"
	                         "src_ip=\"192.0.2.10\"\n"
	                         "src_port=51234\n"
	                         "dest_ip=\"198.51.100.7\"\n"
	                         "dest_port=8883\n"
	                         "proto=\"TCP\"\n"
	                         "app_proto=\"mqtt\"\n"
	                         "vlan[0]=100\n"
	                         "device.id=\"dev/42\"\n"
	                         "device.ip=\"192.0.2.10\"\n"
	                         "device.mac=\"00:11:22:33:44:55\"\n"
	                         "device.client_id=\"dev/42\"\n"
	                         "flow.pkts_toserver=10\n"
	                         "flow.pkts_toclient=8\n"
	                         "flow.bytes_toserver=1500\n"
	                         "flow.bytes_toclient=18446744073709551615\n"
	                         "flow.start=\"2026-11-22T01:55:00.250000Z\"\n"
	                         "flow.end=\"2026-11-22T01:56:13.000123Z\"\n"
	                         "flow.age=73\n"
	                         "flow.reason=\"timeout\"\n"
	                         "flow.tcp_flags_ts=\"1b\"\n"
	                         "flow.tcp_flags_tc=\"0a\"\n"
	                         "flow.gaps=2\n"
	                         "flow.ndpi=\"MQTT\"\n");
	free(got);
	assert_int_equal(j.depth, 0);
	assert_null(memchr(j.buf, '\n', j.len));
	iw_json_free(&j);
}

/* What is unknown is left out: no app_proto, vlan, device, gaps, ndpi, sensor. */
static void test_record_flow_sparse(void **state)
{
	(void)state;
	struct iw_flow_key k = key6();
	struct iw_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = IW_EV_FLOW;
	ev.ts_us = 1000000;
	ev.flow_id = 7;
	ev.key = &k;
	ev.device.ip = "2001:db8::1"; /* no id: no device object */
	ev.u.flow.start_us = 1000000;
	ev.u.flow.end_us = 999999; /* a clock step back: age 0, not a wrap */
	ev.u.flow.reason = IW_END_SHUTDOWN;
	struct iw_json j;
	iw_json_init(&j);
	iw_record_event(&j, NULL, &ev);
	char *got = flatten(&j);
	assert_string_equal(got, "timestamp=\"1970-01-01T00:00:01.000000Z\"\n"
	                         "flow_id=7\n"
	                         "event_type=\"flow\"\n"
	                         "src_ip=\"2001:db8::1\"\n"
	                         "src_port=5683\n"
	                         "dest_ip=\"fe80::211:22ff:fe33:4455\"\n"
	                         "dest_port=5683\n"
	                         "proto=\"UDP\"\n"
	                         "flow.pkts_toserver=0\n"
	                         "flow.pkts_toclient=0\n"
	                         "flow.bytes_toserver=0\n"
	                         "flow.bytes_toclient=0\n"
	                         "flow.start=\"1970-01-01T00:00:01.000000Z\"\n"
	                         "flow.end=\"1970-01-01T00:00:00.999999Z\"\n"
	                         "flow.age=0\n"
	                         "flow.reason=\"shutdown\"\n"); /* UDP: no TCP flags */
	free(got);

	/* other protocols by name or number */
	static const struct {
		uint8_t proto;
		const char *want;
	} protos[] = {{IPPROTO_ICMP, "\"proto\":\"ICMP\""},
	              {IPPROTO_ICMPV6, "\"proto\":\"ICMPv6\""},
	              {47, "\"proto\":\"47\""},
	              {0, "\"proto\":\"0\""},
	              {255, "\"proto\":\"255\""}};
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		k.proto = protos[i].proto;
		iw_record_event(&j, NULL, &ev);
		assert_non_null(strstr(j.buf, protos[i].want));
	}
	iw_json_free(&j);
}

/* A kind outside the enum writes "unknown": {}; no key: no address fields. */
static void test_record_kind_without_serialiser(void **state)
{
	(void)state;
	struct iw_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.ts_us = 0;
	ev.flow_id = 1;
	struct iw_json j;
	iw_json_init(&j);
	ev.kind = IW_EV__COUNT;
	iw_record_event(&j, "s", &ev);
	assert_string_equal(j.buf,
	                    "{\"timestamp\":\"1970-01-01T00:00:00.000000Z\",\"flow_id\":1,\"sensor\":\"s\","
	                    "\"event_type\":\"unknown\",\"unknown\":{}}");
	iw_record_event(&j, "s", NULL);
	assert_int_equal(j.len, 0);
	iw_json_free(&j);
}

static void test_record_alert(void **state)
{
	(void)state;
	struct iw_flow_key k = key6();
	k.proto = IPPROTO_TCP;
	k.sport = 40000;
	k.dport = 22;
	k.vlan = 7;
	struct iw_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = IW_EV_SSH;
	ev.flow_id = 99;
	ev.key = &k;
	ev.app_proto = "ssh";
	ev.device.id = "ignored-when-alert-names-one";

	struct iw_alert a;
	memset(&a, 0, sizeof(a));
	a.rule = "tunnel.orphaned";
	a.category = "remote-access";
	a.severity = IW_SEV_HIGH;
	a.message = "SSH session open for 12h \"still\" going\n";
	a.ts_us = 1709210096789012ULL;
	a.ev = &ev;
	a.device.id = "plc-7";
	a.device.ip = "2001:db8::1";
	a.device.cert_cn = "plc-7.example\xc3\xa9";
	a.evidence[0] = (struct iw_kv){.key = "kind", .type = IW_KV_STR, .v.s = "ssh"};
	a.evidence[1] = (struct iw_kv){.key = "start", .type = IW_KV_TIME, .v.t = 1709166896000000ULL};
	a.evidence[2] = (struct iw_kv){.key = "duration", .type = IW_KV_INT, .v.i = -43200};
	a.evidence[3] = (struct iw_kv){.key = "renewed", .type = IW_KV_BOOL, .v.b = true};
	a.evidence[4] = (struct iw_kv){.key = "banner", .type = IW_KV_STR, .v.s = "SSH-2.0-\xff\x01"};
	a.evidence[5] = (struct iw_kv){.key = NULL, .type = IW_KV_INT, .v.i = 5}; /* skipped */
	a.evidence[6] = (struct iw_kv){.key = "none", .type = IW_KV_STR, .v.s = NULL};
	a.n_evidence = 7;

	struct iw_json j;
	iw_json_init(&j);
	iw_record_alert(&j, "span-\"1\"", &a);
	char *got = flatten(&j);
	assert_string_equal(got, "timestamp=\"2024-02-29T12:34:56.789012Z\"\n"
	                         "flow_id=99\n"
	                         "sensor=\"span-\\\"1\\\"\"\n"
	                         "event_type=\"alert\"\n"
	                         "src_ip=\"2001:db8::1\"\n"
	                         "src_port=40000\n"
	                         "dest_ip=\"fe80::211:22ff:fe33:4455\"\n"
	                         "dest_port=22\n"
	                         "proto=\"TCP\"\n"
	                         "app_proto=\"ssh\"\n"
	                         "vlan[0]=7\n"
	                         "device.id=\"plc-7\"\n"
	                         "device.ip=\"2001:db8::1\"\n"
	                         "device.cert_cn=\"plc-7.example\\u00e9\"\n"
	                         "alert.rule=\"tunnel.orphaned\"\n"
	                         "alert.category=\"remote-access\"\n"
	                         "alert.severity=\"high\"\n"
	                         "alert.message=\"SSH session open for 12h \\\"still\\\" going\\n\"\n"
	                         "evidence.kind=\"ssh\"\n"
	                         "evidence.start=\"2024-02-29T00:34:56.000000Z\"\n"
	                         "evidence.duration=-43200\n"
	                         "evidence.renewed=true\n"
	                         "evidence.banner=\"SSH-2.0-\\ufffd\\u0001\"\n"
	                         "evidence.none=null\n");
	free(got);
	iw_json_free(&j);
}

/* Raised from a tick: no event, so no flow or addresses; evidence capped at its array. */
static void test_record_alert_without_event(void **state)
{
	(void)state;
	struct iw_alert a;
	memset(&a, 0, sizeof(a));
	a.rule = "tls.cert_expiry_storm";
	a.severity = IW_SEV_CRITICAL;
	a.ts_us = 0;
	for (unsigned i = 0; i < IW_ALERT_MAX_EVIDENCE; i++)
		a.evidence[i] = (struct iw_kv){.key = "n", .type = IW_KV_INT, .v.i = i};
	a.evidence[0].key = "devices";
	a.n_evidence = 1000; /* corrupt count: only the array is read */
	struct iw_json j;
	iw_json_init(&j);
	iw_record_alert(&j, "s", &a);
	/* the repeated "n" is the rule's bug, but the writer must not crash on it */
	assert_non_null(strstr(j.buf,
	                       "{\"timestamp\":\"1970-01-01T00:00:00.000000Z\",\"sensor\":\"s\","
	                       "\"event_type\":\"alert\",\"alert\":{\"rule\":\"tls.cert_expiry_storm\","
	                       "\"severity\":\"critical\"},\"evidence\":{\"devices\":0,\"n\":1,"));
	assert_non_null(strstr(j.buf, "\"n\":15}}"));
	iw_record_alert(&j, "s", NULL);
	assert_int_equal(j.len, 0);

	/* the device comes from the event when the alert names none */
	struct iw_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.device.id = "from-event";
	a.ev = &ev;
	a.n_evidence = 0;
	iw_record_alert(&j, NULL, &a);
	assert_string_equal(j.buf,
	                    "{\"timestamp\":\"1970-01-01T00:00:00.000000Z\",\"flow_id\":0,\"event_type\":"
	                    "\"alert\",\"device\":{\"id\":\"from-event\"},\"alert\":{\"rule\":"
	                    "\"tls.cert_expiry_storm\",\"severity\":\"critical\"},\"evidence\":{}}");
	iw_json_free(&j);
}

/* IPv4 is formatted by hand: it must agree with inet_ntop everywhere. */
static void test_ipv4_format(void **state)
{
	(void)state;
	struct iw_flow_key k = key4();
	struct iw_event ev = flow_event(&k);
	struct iw_json j;
	iw_json_init(&j);
	uint64_t rs = 12345;
	for (int i = 0; i < 20000; i++) {
		uint32_t v = (uint32_t)rng_next(&rs);
		if (i < 256) /* every value of one byte, with edges in the others */
			v = (uint32_t)i << 24 | (uint32_t)(255 - i) << 16 | (uint32_t)(i % 10) << 8 |
			    (uint32_t)(i % 100);
		memcpy(k.src.b, &v, 4);
		iw_record_event(&j, NULL, &ev);
		char want[64], a[INET_ADDRSTRLEN];
		assert_non_null(inet_ntop(AF_INET, k.src.b, a, sizeof(a)));
		snprintf(want, sizeof(want), "\"src_ip\":\"%s\",", a);
		if (strstr(j.buf, want) == NULL)
			fail_msg("%s not in %s", want, j.buf);
	}
	/* an unknown family: no addresses, ports still */
	k.family = 0;
	iw_record_event(&j, NULL, &ev);
	assert_null(strstr(j.buf, "_ip\""));
	assert_non_null(strstr(j.buf, "\"src_port\":51234,\"dest_port\":8883,"));
	iw_json_free(&j);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(iw_event_kind_name(IW_EV_FLOW), "flow");
	assert_string_equal(iw_event_kind_name(IW_EV_MQTT), "mqtt");
	assert_string_equal(iw_event_kind_name(IW_EV_COAP), "coap");
	assert_string_equal(iw_event_kind_name(IW_EV_MODBUS), "modbus");
	assert_string_equal(iw_event_kind_name(IW_EV_TLS), "tls");
	assert_string_equal(iw_event_kind_name(IW_EV_SSH), "ssh");
	assert_string_equal(iw_event_kind_name(IW_EV_DNS), "dns");
	assert_string_equal(iw_event_kind_name(IW_EV_TUNNEL), "tunnel");
	assert_string_equal(iw_event_kind_name(IW_EV__COUNT), "unknown");
	assert_string_equal(iw_event_kind_name((enum iw_event_kind) - 1), "unknown");
	assert_string_equal(iw_flow_end_name(IW_END_FIN), "fin");
	assert_string_equal(iw_flow_end_name(IW_END_RST), "rst");
	assert_string_equal(iw_flow_end_name(IW_END_TIMEOUT), "timeout");
	assert_string_equal(iw_flow_end_name(IW_END_EVICTED), "evicted");
	assert_string_equal(iw_flow_end_name(IW_END_SHUTDOWN), "shutdown");
	assert_string_equal(iw_flow_end_name(IW_END__COUNT), "unknown");
	assert_string_equal(iw_severity_name(IW_SEV_LOW), "low");
	assert_string_equal(iw_severity_name(IW_SEV_MEDIUM), "medium");
	assert_string_equal(iw_severity_name(IW_SEV_HIGH), "high");
	assert_string_equal(iw_severity_name(IW_SEV_CRITICAL), "critical");
	assert_string_equal(iw_severity_name((enum iw_severity)4), "unknown");
}

/* Once grown, the buffer is reused: no allocation per record. */
static void test_buffer_reused(void **state)
{
	(void)state;
	struct iw_flow_key k = key4();
	struct iw_event ev = flow_event(&k);
	struct iw_json j;
	iw_json_init(&j);
	iw_record_event(&j, "span-1", &ev);
	char *buf = j.buf;
	size_t cap = j.cap, len = j.len;
	for (int i = 0; i < 1000; i++) {
		iw_record_event(&j, "span-1", &ev);
		assert_ptr_equal(j.buf, buf);
		assert_int_equal(j.cap, cap);
		assert_int_equal(j.len, len);
	}
	/* a string far bigger than the buffer grows it once */
	size_t big = 1 << 20;
	char *s = malloc(big);
	assert_non_null(s);
	memset(s, '\x01', big);
	iw_json_reset(&j);
	iw_json_strn(&j, NULL, s, big);
	assert_int_equal(j.len, big * 6 + 2);
	free(s);
	iw_json_free(&j);
	assert_null(j.buf);
	iw_json_free(&j); /* twice is harmless */
}

/* ---- fuzz-ish: random strings, judged by Python ----------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: deterministic, so a failure reproduces */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static size_t put_cp(uint8_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | cp >> 12);
		o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (uint8_t)(0xf0 | cp >> 18);
	o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* One piece of a test string; valid_only keeps the string valid UTF-8. */
static size_t gen_piece(uint64_t *rs, uint8_t *o, bool valid_only)
{
	static const char *const nasty[] = {
	    "\xc0",
	    "\xc1\xbf",
	    "\xf5",
	    "\xff",
	    "\x80",
	    "\xbf",
	    "\xed\xa0\x80",
	    "\xe0\x80\x80",
	    "\xf0\x80\x80\x80",
	    "\xf4\x90\x80\x80",
	    "\xe2\x82",
	    "\xf0\x9f\x98",
	    "\xc3",
	    "\xed\xbf\xbf",
	    "\xf5\x80\x80\x80",
	    "\xf8\x88\x80\x80\x80",
	    "\xc0\x80",
	};
	static const uint32_t edges[] = {0x7f,   0x80,   0x7ff,  0x800,   0xd7ff,
	                                 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff};
	uint64_t r = rng_next(rs);
	unsigned kind = (unsigned)(r % (valid_only ? 5 : 7));
	r >>= 8;
	switch (kind) {
	case 0:
	case 1: /* printable ASCII, quotes and backslashes likely */
		o[0] = r % 8 == 0 ? '"' : r % 8 == 1 ? '\\' : (uint8_t)(0x20 + (r >> 3) % 95);
		return 1;
	case 2: /* control character, NUL included */
		o[0] = (uint8_t)(r % 32);
		return 1;
	case 3: { /* any scalar value */
		uint32_t cp;
		do
			cp = (uint32_t)(r % 0x110000), r = rng_next(rs);
		while (cp >= 0xd800 && cp <= 0xdfff);
		return put_cp(o, cp);
	}
	case 4:
		return put_cp(o, edges[r % (sizeof(edges) / sizeof(edges[0]))]);
	case 5: { /* known-bad sequence */
		const char *s = nasty[r % (sizeof(nasty) / sizeof(nasty[0]))];
		size_t n = strlen(s);
		memcpy(o, s, n);
		return n;
	}
	default: /* any byte */
		o[0] = (uint8_t)r;
		return 1;
	}
}

static const char fuzz_py[] =
    "import codecs, json, sys\n"
    "codecs.register_error('perbyte', lambda e: ('\\ufffd' * (e.end - e.start), e.end))\n"
    "n = valid = 0\n"
    "for line in open(sys.argv[1], 'rb'):\n"
    "    h, rec = line.rstrip(b'\\n').split(b'\\t', 1)\n"
    "    b = bytes.fromhex(h.decode())\n"
    "    want = b.decode('utf-8', 'perbyte')\n"
    "    got = json.loads(rec.decode('utf-8'))\n"
    "    if list(got) != ['s'] or got['s'] != want:\n"
    "        print('mismatch', h.decode(), rec)\n"
    "        sys.exit(1)\n"
    "    try:\n"
    "        b.decode('utf-8')\n"
    "        valid += 1\n"
    "    except UnicodeDecodeError:\n"
    "        pass\n"
    "    n += 1\n"
    "print(n, valid)\n";

static void test_fuzz_strings(void **state)
{
	(void)state;
	enum { N = 10000 };
	uint64_t rs = 0x9e3779b97f4a7c15ULL;
	const char *seed = getenv("IW_TEST_SEED");
	if (seed != NULL)
		rs = strtoull(seed, NULL, 0) | 1;
	char *path = tmp_path(".txt");
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	struct iw_json j;
	iw_json_init(&j);
	uint8_t s[40 * 4];
	for (int i = 0; i < N; i++) {
		bool valid_only = rng_next(&rs) % 2 == 0;
		size_t pieces = (size_t)(rng_next(&rs) % 41), n = 0;
		for (size_t p = 0; p < pieces; p++)
			n += gen_piece(&rs, s + n, valid_only);
		for (size_t b = 0; b < n; b++)
			fprintf(f, "%02x", s[b]);
		fputc('\t', f);
		iw_json_reset(&j);
		iw_json_obj_begin(&j, NULL);
		iw_json_strn(&j, "s", (const char *)s, n);
		iw_json_obj_end(&j);
		assert_null(memchr(j.buf, '\n', j.len));
		assert_int_equal(fwrite(j.buf, 1, j.len, f), j.len);
		fputc('\n', f);
	}
	iw_json_free(&j);
	assert_int_equal(fclose(f), 0);

	int status;
	char *res = run_python(fuzz_py, path, &status);
	if (status != 0)
		fail_msg("python: %s (seed %s)", res, seed ? seed : "default");
	unsigned long n = 0, valid = 0;
	assert_int_equal(sscanf(res, "%lu %lu", &n, &valid), 2);
	assert_int_equal(n, N);
	assert_true(valid > N / 3);      /* enough valid UTF-8 to test the pass-through */
	assert_true(valid < N * 9 / 10); /* and enough invalid to test the replacement */
	free(res);
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_control_chars),
	    cmocka_unit_test(test_quote_backslash_plain),
	    cmocka_unit_test(test_utf8_kept),
	    cmocka_unit_test(test_utf8_invalid),
	    cmocka_unit_test(test_keys_escaped),
	    cmocka_unit_test(test_nesting_commas),
	    cmocka_unit_test(test_depth_cap),
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_doubles),
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_record_flow),
	    cmocka_unit_test(test_record_flow_sparse),
	    cmocka_unit_test(test_record_kind_without_serialiser),
	    cmocka_unit_test(test_record_alert),
	    cmocka_unit_test(test_record_alert_without_event),
	    cmocka_unit_test(test_ipv4_format),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_buffer_reused),
	    cmocka_unit_test(test_fuzz_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
