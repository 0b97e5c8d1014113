/* test_ssh.c - the SSH decoder (parsers/ssh.c) and its record (exporters/rec_ssh.c):
 * the probe, identification strings both ways (comments or not, CR LF or bare LF, text
 * before the server's), KEXINIT with HASSH / HASSHServer checked against MD5 values
 * computed outside this code (md5sum), a KEXINIT byte by byte, banner and KEXINIT in one
 * call, what follows the key exchange, malformed lengths and lists, SSH-1, gaps, every
 * truncated prefix flush against a guard page, and the records' exact JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/record.h"
#include "parsers/parser.h"
#include "tests/unit/guard.h"

extern const struct iw_parser iw_parser_ssh;
#define P iw_parser_ssh

/* ---- what the parser reported: each event's "ssh" object as JSON (a deep copy) ---- */

#define MAX_EV 16
static char evj[MAX_EV][8192];
static unsigned n_ev;
static char anomalies[16][48];
static unsigned n_anom;
static struct iw_json json;

static void on_emit(struct iw_parse_ctx *ctx, struct iw_event *ev)
{
	(void)ctx;
	assert_int_equal(ev->kind, IW_EV_SSH);
	assert_true(n_ev < MAX_EV);
	iw_record_event(&json, NULL, ev);
	const char *m = strstr(json.buf, "\"ssh\":{");
	assert_non_null(m);
	snprintf(evj[n_ev], sizeof(evj[0]), "{%.*s", (int)(json.len - (size_t)(m - json.buf)), m);
	n_ev++;
}

static void on_anomaly(struct iw_parse_ctx *ctx, const char *reason)
{
	(void)ctx;
	if (n_anom < 16)
		snprintf(anomalies[n_anom++], sizeof(anomalies[0]), "%s", reason);
}

static void on_identity(struct iw_parse_ctx *ctx, enum iw_identity kind, const char *s, size_t n)
{
	(void)ctx;
	(void)kind;
	(void)s;
	(void)n;
	fail_msg("ssh names no device");
}

static struct iw_parse_ctx ctx = {.emit = on_emit, .anomaly = on_anomaly, .identity = on_identity};

static void *fresh(uint32_t max_message)
{
	n_ev = n_anom = 0;
	struct iw_parser_cfg cfg = {.max_message = max_message, .max_items = 64, .payload_preview = 0};
	return P.state_new(&cfg);
}

/* Feeds bytes as the sensor does: what is not consumed is kept and offered again with the
 * next piece. Returns the last parse result: bytes, IW_NEED_MORE or IW_ERR. */
struct feeder {
	uint8_t buf[16384];
	size_t len;
	bool off;
};

static struct feeder fd[2];

static int feed(void *st, int dir, const uint8_t *b, size_t n)
{
	struct feeder *f = &fd[dir];
	if (f->off)
		return IW_ERR;
	assert_true(f->len + n <= sizeof(f->buf));
	memcpy(f->buf + f->len, b, n);
	f->len += n;
	size_t used = 0;
	int rc = IW_NEED_MORE;
	while (used < f->len) {
		rc = P.parse(st, &ctx, dir, f->buf + used, f->len - used);
		if (rc == IW_NEED_MORE)
			break;
		if (rc == IW_ERR || rc == IW_DONE) {
			f->off = true;
			break;
		}
		assert_true(rc > 0 && (size_t)rc <= f->len - used);
		used += (size_t)rc;
	}
	memmove(f->buf, f->buf + used, f->len - used);
	f->len -= used;
	return rc;
}

static void feed_reset(void)
{
	fd[0].len = fd[1].len = 0;
	fd[0].off = fd[1].off = false;
}

static int feed_str(void *st, int dir, const char *s)
{
	return feed(st, dir, (const uint8_t *)s, strlen(s));
}

#define ANOMALY(i, s) assert_string_equal(anomalies[i], s)

/* ---- building binary packets (RFC 4253 §6) ---- */

struct buf {
	uint8_t b[16384];
	size_t n;
};

static void put_u8(struct buf *o, uint8_t v)
{
	assert_true(o->n < sizeof(o->b));
	o->b[o->n++] = v;
}

static void put_be32(struct buf *o, uint32_t v)
{
	put_u8(o, (uint8_t)(v >> 24));
	put_u8(o, (uint8_t)(v >> 16));
	put_u8(o, (uint8_t)(v >> 8));
	put_u8(o, (uint8_t)v);
}

static void put_mem(struct buf *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof(o->b));
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

/* A name-list (RFC 4251 §5): uint32 length, then the names. */
static void put_list(struct buf *o, const char *s)
{
	put_be32(o, (uint32_t)strlen(s));
	put_mem(o, s, strlen(s));
}

/* Wraps a payload in a binary packet: packet_length, padding_length, payload, padding to
 * a multiple of 8 with at least 4 bytes (RFC 4253 §6), no MAC (before NEWKEYS). */
static void packet(struct buf *o, const struct buf *payload)
{
	size_t pad = 8 - (4 + 1 + payload->n) % 8;
	if (pad < 4)
		pad += 8;
	put_be32(o, (uint32_t)(1 + payload->n + pad)); /* packet_length */
	put_u8(o, (uint8_t)pad);                       /* padding_length */
	put_mem(o, payload->b, payload->n);            /* payload */
	for (size_t i = 0; i < pad; i++)
		put_u8(o, 0x5a); /* padding */
}

/* The lists of the hand-made KEXINIT, in wire order. */
static const char *const lists[10] = {
    "curve25519-sha256,ext-info-c",      /* kex_algorithms */
    "ssh-ed25519,rsa-sha2-512",          /* server_host_key_algorithms */
    "aes128-ctr,aes256-gcm@openssh.com", /* encryption_algorithms_client_to_server */
    "aes256-ctr",                        /* encryption_algorithms_server_to_client */
    "hmac-sha2-256",                     /* mac_algorithms_client_to_server */
    "hmac-sha2-512",                     /* mac_algorithms_server_to_client */
    "none,zlib@openssh.com",             /* compression_algorithms_client_to_server */
    "none",                              /* compression_algorithms_server_to_client */
    "",                                  /* languages_client_to_server */
    "",                                  /* languages_server_to_client */
};

/* md5sum of the strings, computed outside this code:
 *   printf '%s'
 * 'curve25519-sha256,ext-info-c;aes128-ctr,aes256-gcm@openssh.com;hmac-sha2-256;none,zlib@openssh.com' |
 * md5sum printf '%s' 'curve25519-sha256,ext-info-c;aes256-ctr;hmac-sha2-512;none' | md5sum */
#define HASSH_C "48cededbf2ab7656df38d060cf3325e0"
#define HASSH_S "36f6f6d41331e5eae8c2ce5fa62891f5"

/* SSH_MSG_KEXINIT (RFC 4253 §7.1) as a whole binary packet. */
static void kexinit(struct buf *o, const char *const l[10])
{
	struct buf pl = {.n = 0};
	put_u8(&pl, 20); /* SSH_MSG_KEXINIT */
	for (int i = 0; i < 16; i++)
		put_u8(&pl, (uint8_t)(0xc0 + i)); /* cookie */
	for (int i = 0; i < 10; i++)
		put_list(&pl, l[i]); /* the ten name-lists */
	put_u8(&pl, 0);              /* first_kex_packet_follows */
	put_be32(&pl, 0);            /* reserved */
	packet(o, &pl);
}

static const char banner_c[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\n";
static const char banner_s[] = "SSH-1.99-Cisco-1.25\n"; /* bare LF, no comments */

static const char json_kex_c[] =
    "{\"ssh\":{\"type\":\"kexinit\",\"side\":\"client\",\"hassh\":{\"hash\":\"" HASSH_C "\","
    "\"string\":\"curve25519-sha256,ext-info-c;aes128-ctr,aes256-gcm@openssh.com;hmac-sha2-256;"
    "none,zlib@openssh.com\"},\"kex_algorithms\":\"curve25519-sha256,ext-info-c\","
    "\"host_key_algorithms\":\"ssh-ed25519,rsa-sha2-512\","
    "\"encryption_algorithms\":\"aes128-ctr,aes256-gcm@openssh.com\","
    "\"mac_algorithms\":\"hmac-sha2-256\",\"compression_algorithms\":\"none,zlib@openssh.com\"}}";

static const char json_kex_s[] =
    "{\"ssh\":{\"type\":\"kexinit\",\"side\":\"server\",\"hassh\":{\"hash\":\"" HASSH_S "\","
    "\"string\":\"curve25519-sha256,ext-info-c;aes256-ctr;hmac-sha2-512;none\"},"
    "\"kex_algorithms\":\"curve25519-sha256,ext-info-c\","
    "\"host_key_algorithms\":\"ssh-ed25519,rsa-sha2-512\",\"encryption_algorithms\":\"aes256-ctr\","
    "\"mac_algorithms\":\"hmac-sha2-512\",\"compression_algorithms\":\"none\"}}";

/* ---- the probe and the descriptor ---- */

static void test_probe(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int want;
	} cases[] = {
	    {"SSH-2.0-OpenSSH_9.2p1\r\n", IW_OK},
	    {"SSH-1.99-Cisco-1.25\r\n", IW_OK},
	    {"SSH-1.5-x", IW_OK},
	    {"SSH-2.0-", IW_OK},
	    {"", IW_NEED_MORE},
	    {"S", IW_NEED_MORE},
	    {"SSH-", IW_NEED_MORE},
	    {"SSH-2.0", IW_NEED_MORE},
	    {"SSH-1.99", IW_NEED_MORE}, /* 8 bytes, the '-' not yet seen */
	    {"SSH-2.0 OpenSSH", IW_ERR},
	    {"SSH-.0-x", IW_ERR},
	    {"SSH-2.-x", IW_ERR},
	    {"SSH-2-x", IW_ERR},
	    {"SSH-2000.0-x", IW_ERR}, /* at most 3 digits each */
	    {"ssh-2.0-x", IW_ERR},
	    {"SSX-2.0-x", IW_ERR},
	    {"Welcome\r\nSSH-2.0-x\r\n", IW_ERR}, /* text first: left to nDPI and the port */
	    {"GET / HTTP/1.1\r\n", IW_ERR},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int dir = 0; dir < 2; dir++) {
			int rc = P.probe((const uint8_t *)cases[i].s, strlen(cases[i].s), dir);
			if (rc != cases[i].want)
				fail_msg("\"%s\" dir %d: %d, want %d", cases[i].s, dir, rc, cases[i].want);
		}
	/* a binary first byte: no */
	static const uint8_t bin[] = {0x16, 0x03, 0x01};
	assert_int_equal(P.probe(bin, sizeof(bin), IW_DIR_TOSERVER), IW_ERR);

	assert_string_equal(P.name, "ssh");
	assert_string_equal(P.ndpi_name, "SSH");
	assert_int_equal(P.ipproto, 6);
	assert_int_equal(P.ports[0], 22);
	assert_int_equal(P.ports[1], 2222);
	bool listed = false;
	for (size_t j = 0; iw_parsers[j]; j++)
		listed |= iw_parsers[j] == &P;
	assert_true(listed);
	assert_string_equal(iw_ssh_type_name(IW_SSH_BANNER), "banner");
	assert_string_equal(iw_ssh_type_name(IW_SSH_KEXINIT), "kexinit");
	assert_string_equal(iw_ssh_type_name(IW_SSH__TYPES), "unknown");
}

/* ---- identification strings ---- */

static void test_banners_both_ways(void **state)
{
	(void)state;
	void *st = fresh(65536);
	feed_reset();
	/* the client: CR LF, comments after the first space */
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, (const uint8_t *)banner_c, strlen(banner_c)),
	                 (int)strlen(banner_c));
	assert_int_equal(n_ev, 1);
	assert_string_equal(evj[0],
	                    "{\"ssh\":{\"type\":\"banner\",\"side\":\"client\",\"proto_version\":\"2.0\","
	                    "\"software_version\":\"OpenSSH_9.2p1\",\"comments\":\"Debian-2+deb12u6\"}}");
	/* the server: bare LF, no comments, a '-' inside the software version */
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOCLIENT, (const uint8_t *)banner_s, strlen(banner_s)),
	                 (int)strlen(banner_s));
	assert_int_equal(n_ev, 2);
	assert_string_equal(evj[1],
	                    "{\"ssh\":{\"type\":\"banner\",\"side\":\"server\",\"proto_version\":\"1.99\","
	                    "\"software_version\":\"Cisco-1.25\"}}");
	assert_int_equal(n_anom, 0);
	P.state_free(st);

	/* odd but still an identification: no software version; a trailing space */
	st = fresh(65536);
	assert_int_equal(feed_str(st, IW_DIR_TOSERVER, "SSH-2.0\r\n"), 9);
	assert_string_equal(evj[0],
	                    "{\"ssh\":{\"type\":\"banner\",\"side\":\"client\",\"proto_version\":\"2.0\","
	                    "\"software_version\":\"\"}}");
	assert_int_equal(feed_str(st, IW_DIR_TOCLIENT, "SSH-2.0-srv \r\n"), 14);
	assert_string_equal(evj[1],
	                    "{\"ssh\":{\"type\":\"banner\",\"side\":\"server\",\"proto_version\":\"2.0\","
	                    "\"software_version\":\"srv\"}}");
	/* comments keep their spaces */
	P.state_free(st);
	st = fresh(65536);
	feed_reset();
	assert_int_equal(feed_str(st, IW_DIR_TOCLIENT, "SSH-2.0-dropbear_2022.83 a b  c\r\n"), 33);
	assert_string_equal(evj[0],
	                    "{\"ssh\":{\"type\":\"banner\",\"side\":\"server\",\"proto_version\":\"2.0\","
	                    "\"software_version\":\"dropbear_2022.83\",\"comments\":\"a b  c\"}}");
	P.state_free(st);
}

static void test_banner_in_pieces(void **state)
{
	(void)state;
	void *st = fresh(65536);
	feed_reset();
	for (size_t i = 0; i + 1 < strlen(banner_c); i++) {
		assert_int_equal(feed(st, IW_DIR_TOSERVER, (const uint8_t *)banner_c + i, 1), IW_NEED_MORE);
		assert_int_equal(n_ev, 0);
	}
	assert_int_equal(feed(st, IW_DIR_TOSERVER, (const uint8_t *)"\n", 1), (int)strlen(banner_c));
	assert_int_equal(n_ev, 1);
	assert_int_equal(fd[0].len, 0);
	P.state_free(st);
}

/* RFC 4253 §4.2: a server may send lines of text before its identification. */
static void test_server_pre_banner_lines(void **state)
{
	(void)state;
	static const char line1[] = "Welcome to \x1b[1mplc-7\x1b[0m\r\n"; /* terminal colours */
	static const char pre[] = "Welcome to \x1b[1mplc-7\x1b[0m\r\n"
	                          "\r\n"                    /* an empty line */
	                          "\tauthorised use only\n" /* a TAB, bare LF */
	                          "SSH-2.0-OpenSSH_9.2p1\r\n";
	void *st = fresh(65536);
	feed_reset();
	/* one line per call: the first one alone */
	size_t n1 = strlen(line1);
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOCLIENT, (const uint8_t *)pre, strlen(pre)), (int)n1);
	assert_int_equal(n_ev, 0);
	feed_str(st, IW_DIR_TOCLIENT, pre + n1);
	assert_int_equal(n_ev, 1);
	assert_string_equal(evj[0],
	                    "{\"ssh\":{\"type\":\"banner\",\"side\":\"server\",\"proto_version\":\"2.0\","
	                    "\"software_version\":\"OpenSSH_9.2p1\"}}");
	assert_int_equal(n_anom, 0);
	assert_int_equal(fd[1].len, 0);
	P.state_free(st);

	/* 64 lines are taken, the 65th is not */
	st = fresh(65536);
	feed_reset();
	for (int i = 0; i < 64; i++)
		assert_int_equal(feed_str(st, IW_DIR_TOCLIENT, "moo\r\n"), 5);
	assert_int_equal(n_anom, 0);
	assert_int_equal(feed_str(st, IW_DIR_TOCLIENT, "moo\r\n"), IW_ERR);
	assert_int_equal(n_anom, 1);
	ANOMALY(0, "ssh.banner_too_long");
	assert_int_equal(n_ev, 0);
	P.state_free(st);

	/* 4 KiB of text without the identification: given up */
	st = fresh(65536);
	feed_reset();
	static char big[5000];
	memset(big, 'x', sizeof(big));
	assert_int_equal(feed(st, IW_DIR_TOCLIENT, (const uint8_t *)big, 4000), IW_NEED_MORE);
	assert_int_equal(n_anom, 0);
	assert_int_equal(feed(st, IW_DIR_TOCLIENT, (const uint8_t *)big, 1000), IW_ERR);
	ANOMALY(0, "ssh.banner_too_long");
	assert_int_equal(n_ev, 0);
	P.state_free(st);

	/* the budget counts every line: 3 KiB lines, then one that would pass 4 KiB */
	st = fresh(65536);
	feed_reset();
	big[3000] = '\n';
	assert_int_equal(feed(st, IW_DIR_TOCLIENT, (const uint8_t *)big, 3001), 3001);
	big[3000] = 'x';
	big[1200] = '\n';
	assert_int_equal(feed(st, IW_DIR_TOCLIENT, (const uint8_t *)big, 1201), IW_ERR);
	big[1200] = 'x';
	ANOMALY(0, "ssh.banner_too_long");
	P.state_free(st);
}

/* Binary bytes where text should be: a capture that began mid-session, or not SSH. */
static void test_no_banner(void **state)
{
	(void)state;
	static const uint8_t mid[] = {0x00, 0x00, 0x01, 0x0c, 0x0a, 0x14, 0x33}; /* a packet header */
	void *st = fresh(65536);
	feed_reset();
	assert_int_equal(feed(st, IW_DIR_TOSERVER, mid, sizeof(mid)), IW_ERR);
	assert_int_equal(n_anom, 1);
	ANOMALY(0, "ssh.no_banner");
	assert_int_equal(n_ev, 0);
	P.state_free(st);
}

static void test_banner_too_long(void **state)
{
	(void)state;
	static char line[400];
	/* 255 bytes with the CR LF: the longest allowed */
	memset(line, 'a', sizeof(line));
	memcpy(line, "SSH-2.0-", 8);
	memcpy(line + 253, "\r\n", 2);
	void *st = fresh(65536);
	feed_reset();
	assert_int_equal(feed(st, IW_DIR_TOSERVER, (const uint8_t *)line, 255), 255);
	assert_int_equal(n_ev, 1);
	assert_int_equal(n_anom, 0);
	assert_int_equal(strlen(evj[0]),
	                 strlen("{\"ssh\":{\"type\":\"banner\",\"side\":\"client\",\"proto_version\":"
	                        "\"2.0\",\"software_version\":\"\"}}") +
	                     245);
	P.state_free(st);
	/* 256: too long */
	memset(line, 'a', sizeof(line));
	memcpy(line, "SSH-2.0-", 8);
	memcpy(line + 254, "\r\n", 2);
	st = fresh(65536);
	feed_reset();
	assert_int_equal(feed(st, IW_DIR_TOSERVER, (const uint8_t *)line, 256), IW_ERR);
	assert_int_equal(n_ev, 0);
	ANOMALY(0, "ssh.banner_too_long");
	P.state_free(st);
	/* 300 bytes, arriving in two pieces */
	memset(line, 'b', sizeof(line));
	memcpy(line, "SSH-2.0-", 8);
	memcpy(line + 298, "\r\n", 2);
	st = fresh(65536);
	feed_reset();
	assert_int_equal(feed(st, IW_DIR_TOCLIENT, (const uint8_t *)line, 200), IW_NEED_MORE);
	assert_int_equal(feed(st, IW_DIR_TOCLIENT, (const uint8_t *)line + 200, 100), IW_ERR);
	assert_int_equal(n_ev, 0);
	assert_int_equal(n_anom, 1);
	ANOMALY(0, "ssh.banner_too_long");
	/* the direction is given up; the other one is not */
	assert_int_equal(feed_str(st, IW_DIR_TOSERVER, banner_c), (int)strlen(banner_c));
	assert_int_equal(n_ev, 1);
	P.state_free(st);
}

/* ---- KEXINIT ---- */

static void test_kexinit_hassh(void **state)
{
	(void)state;
	struct buf k = {.n = 0};
	kexinit(&k, lists);
	void *st = fresh(65536);
	feed_reset();
	feed_str(st, IW_DIR_TOSERVER, banner_c);
	feed_str(st, IW_DIR_TOCLIENT, banner_s);
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, k.b, k.n), (int)k.n);
	assert_int_equal(n_ev, 3);
	assert_string_equal(evj[2], json_kex_c);
	/* the same lists from the server: its s2c lists and HASSHServer */
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOCLIENT, k.b, k.n), (int)k.n);
	assert_int_equal(n_ev, 4);
	assert_string_equal(evj[3], json_kex_s);
	assert_int_equal(n_anom, 0);

	/* after KEXINIT: the key exchange and the encrypted session, not read (IW_DONE: the
	 * sensor stops reassembling) */
	static const uint8_t enc[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02, 0x03, 0x0a, 0x14};
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, enc, sizeof(enc)), IW_DONE);
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOCLIENT, enc, 1), IW_DONE);
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, k.b, k.n), IW_DONE); /* a second KEXINIT */
	assert_int_equal(n_ev, 4);
	assert_int_equal(n_anom, 0);
	P.state_free(st);
}

static void test_kexinit_byte_by_byte(void **state)
{
	(void)state;
	struct buf k = {.n = 0};
	kexinit(&k, lists);
	void *st = fresh(65536);
	feed_reset();
	feed_str(st, IW_DIR_TOSERVER, banner_c);
	assert_int_equal(n_ev, 1);
	for (size_t i = 0; i + 1 < k.n; i++) {
		assert_int_equal(feed(st, IW_DIR_TOSERVER, k.b + i, 1), IW_NEED_MORE);
		assert_int_equal(n_ev, 1);
	}
	assert_int_equal(feed(st, IW_DIR_TOSERVER, k.b + k.n - 1, 1), (int)k.n);
	assert_int_equal(n_ev, 2);
	assert_string_equal(evj[1], json_kex_c);
	assert_int_equal(fd[0].len, 0);
	/* and a direct call on a part: IW_NEED_MORE */
	void *st2 = fresh(65536);
	feed_str(st2, IW_DIR_TOCLIENT, banner_s);
	assert_int_equal(P.parse(st2, &ctx, IW_DIR_TOCLIENT, k.b, 3), IW_NEED_MORE);
	assert_int_equal(P.parse(st2, &ctx, IW_DIR_TOCLIENT, k.b, k.n - 1), IW_NEED_MORE);
	assert_int_equal(P.parse(st2, &ctx, IW_DIR_TOCLIENT, k.b, k.n), (int)k.n);
	assert_string_equal(evj[1], json_kex_s);
	P.state_free(st2);
	P.state_free(st);
}

/* The way OpenSSH sends it when the peer spoke first: identification and KEXINIT in one
 * segment, and more after it. */
static void test_banner_and_kexinit_in_one_call(void **state)
{
	(void)state;
	struct buf all = {.n = 0};
	put_mem(&all, banner_c, strlen(banner_c));
	kexinit(&all, lists);
	put_mem(&all, "\x00\x00\x00\x2c\x06\x1e", 6); /* the start of KEX_ECDH_INIT */
	void *st = fresh(65536);
	feed_reset();
	feed(st, IW_DIR_TOSERVER, all.b, all.n);
	assert_int_equal(n_ev, 2);
	assert_string_equal(evj[1], json_kex_c);
	assert_true(fd[0].off); /* the rest: IW_DONE, the direction is not read any more */
	assert_int_equal(fd[0].len, 6);
	assert_int_equal(n_anom, 0);
	/* the parser itself takes one unit per call */
	void *st2 = fresh(65536);
	assert_int_equal(P.parse(st2, &ctx, IW_DIR_TOSERVER, all.b, all.n), (int)strlen(banner_c));
	P.state_free(st2);
	P.state_free(st);
}

/* Packets before KEXINIT are passed over; NEWKEYS first ends the clear part. */
static void test_other_packets(void **state)
{
	(void)state;
	struct buf ign = {.n = 0}, pkts = {.n = 0};
	put_u8(&ign, 2);                  /* SSH_MSG_IGNORE */
	put_list(&ign, "nothing to see"); /* data */
	packet(&pkts, &ign);
	kexinit(&pkts, lists);
	void *st = fresh(65536);
	feed_reset();
	feed_str(st, IW_DIR_TOCLIENT, banner_s);
	feed(st, IW_DIR_TOCLIENT, pkts.b, pkts.n);
	assert_int_equal(n_ev, 2);
	assert_string_equal(evj[1], json_kex_s);
	P.state_free(st);

	struct buf nk = {.n = 0}, p2 = {.n = 0};
	put_u8(&nk, 21); /* SSH_MSG_NEWKEYS */
	packet(&p2, &nk);
	kexinit(&p2, lists);
	st = fresh(65536);
	feed_reset();
	feed_str(st, IW_DIR_TOCLIENT, banner_s);
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOCLIENT, p2.b, p2.n), 16);
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOCLIENT, p2.b + 16, p2.n - 16), IW_DONE);
	assert_int_equal(n_ev, 1);
	assert_int_equal(n_anom, 0);
	P.state_free(st);
}

/* A name-list longer than 2 KiB: the event shows 2048 bytes, the HASSH covers it all.
 *   K=$(printf 'k%.0s' $(seq 3000)); printf '%s' "$K;aes128-ctr;hmac-sha2-256;none" | md5sum */
static void test_long_list(void **state)
{
	(void)state;
	static char kex[3001];
	memset(kex, 'k', 3000);
	const char *const l[10] = {kex,
	                           "ssh-ed25519",
	                           "aes128-ctr",
	                           "aes128-ctr",
	                           "hmac-sha2-256",
	                           "hmac-sha2-256",
	                           "none",
	                           "none",
	                           "",
	                           ""};
	struct buf k = {.n = 0};
	kexinit(&k, l);
	void *st = fresh(65536);
	feed_reset();
	feed_str(st, IW_DIR_TOSERVER, banner_c);
	feed(st, IW_DIR_TOSERVER, k.b, k.n);
	assert_int_equal(n_ev, 2);
	assert_non_null(strstr(evj[1], "\"hash\":\"17cb74e7b01afca11556592df0866214\""));
	char want[2200];
	snprintf(want, sizeof(want), "\"kex_algorithms\":\"%.2048s\",", kex);
	assert_non_null(strstr(evj[1], want));
	snprintf(want, sizeof(want), "\"string\":\"%.2048s;aes128-ctr;hmac-sha2-256;none\"", kex);
	assert_non_null(strstr(evj[1], want));
	assert_int_equal(n_anom, 0);
	P.state_free(st);
}

/* ---- malformed ---- */

static void expect_bad(uint32_t max_message, const uint8_t *b, size_t n, int rc, const char *reason)
{
	void *st = fresh(max_message);
	feed_reset();
	feed_str(st, IW_DIR_TOSERVER, banner_c);
	if (P.parse(st, &ctx, IW_DIR_TOSERVER, b, n) != rc)
		fail_msg("%zu bytes: want rc %d", n, rc);
	assert_int_equal(n_ev, 1); /* the banner only */
	assert_int_equal(n_anom, 1);
	ANOMALY(0, reason);
	P.state_free(st);
}

static void test_bad_packet_length(void **state)
{
	(void)state;
	static const uint8_t big[] = {0x00, 0x00, 0x88, 0xb9, 0x04, 20}; /* packet_length 35001 */
	expect_bad(65536, big, sizeof(big), IW_ERR, "ssh.bad_packet_length");
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xf0, 0x04}; /* 4 GiB */
	expect_bad(65536, huge, sizeof(huge), IW_ERR, "ssh.bad_packet_length");
	/* 35000 is taken (and waited for) ... */
	static const uint8_t max[] = {0x00, 0x00, 0x88, 0xb8, 0x04, 20};
	void *st = fresh(65536);
	feed_str(st, IW_DIR_TOSERVER, banner_c);
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, max, sizeof(max)), IW_NEED_MORE);
	assert_int_equal(n_anom, 0);
	P.state_free(st);
	/* ... unless limits.max_message is smaller */
	expect_bad(1024, max, sizeof(max), IW_ERR, "ssh.bad_packet_length");
	static const uint8_t over[] = {0x00, 0x00, 0x03, 0xfd, 0x04, 20}; /* 4 + 1021 > 1024 */
	expect_bad(1024, over, sizeof(over), IW_ERR, "ssh.bad_packet_length");
	/* padding leaves no room for a message number */
	static const uint8_t pad[] = {0x00, 0x00, 0x00, 0x0c, 0x0b, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	expect_bad(65536, pad, sizeof(pad), IW_ERR, "ssh.bad_packet_length");
	static const uint8_t zero[] = {0x00, 0x00, 0x00, 0x00, 0x00};
	expect_bad(65536, zero, sizeof(zero), IW_ERR, "ssh.bad_packet_length");
	/* what the client sends after the banner when it is not SSH-2 at all */
	expect_bad(65536, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, IW_ERR, "ssh.bad_packet_length");
}

static void test_bad_kexinit(void **state)
{
	(void)state;
	struct buf pl = {.n = 0}, k = {.n = 0};
	/* a name-list that runs past the payload */
	put_u8(&pl, 20);
	put_mem(&pl, "0123456789abcdef", 16);
	put_list(&pl, "curve25519-sha256");
	put_be32(&pl, 4000); /* server_host_key_algorithms: 4000 bytes claimed */
	put_mem(&pl, "ssh-ed25519", 11);
	packet(&k, &pl);
	expect_bad(65536, k.b, k.n, (int)k.n, "ssh.bad_kexinit");

	/* every list there, reserved missing */
	pl.n = k.n = 0;
	put_u8(&pl, 20);
	put_mem(&pl, "0123456789abcdef", 16);
	for (int i = 0; i < 10; i++)
		put_list(&pl, lists[i]);
	put_u8(&pl, 0); /* first_kex_packet_follows; no reserved */
	packet(&k, &pl);
	expect_bad(65536, k.b, k.n, (int)k.n, "ssh.bad_kexinit");

	/* a NUL inside a name-list */
	pl.n = k.n = 0;
	put_u8(&pl, 20);
	put_mem(&pl, "0123456789abcdef", 16);
	put_be32(&pl, 5);
	put_mem(&pl, "ab\0cd", 5);
	for (int i = 1; i < 10; i++)
		put_list(&pl, lists[i]);
	put_u8(&pl, 0);
	put_be32(&pl, 0);
	packet(&k, &pl);
	expect_bad(65536, k.b, k.n, (int)k.n, "ssh.bad_kexinit");

	/* the direction is done after it: nothing more is read */
	void *st = fresh(65536);
	feed_reset();
	feed_str(st, IW_DIR_TOSERVER, banner_c);
	feed(st, IW_DIR_TOSERVER, k.b, k.n);
	struct buf good = {.n = 0};
	kexinit(&good, lists);
	feed(st, IW_DIR_TOSERVER, good.b, good.n);
	assert_int_equal(n_ev, 1);
	assert_int_equal(n_anom, 1);
	P.state_free(st);
}

/* SSH-1 (RFC-less 1.5 protocol): nothing after the identifications is SSH-2. */
static void test_ssh1(void **state)
{
	(void)state;
	static const uint8_t v1pkt[] = {0x00, 0x00, 0x01, 0x04, 0x11, 0x22, 0x33, 0x44, 0x02};
	void *st = fresh(65536);
	feed_reset();
	feed_str(st, IW_DIR_TOCLIENT, "SSH-1.99-OpenSSH_3.9\n"); /* server: both */
	feed_str(st, IW_DIR_TOSERVER, "SSH-1.5-PuTTY-Release-0.58\n");
	assert_int_equal(n_ev, 2);
	assert_non_null(
	    strstr(evj[1], "\"proto_version\":\"1.5\",\"software_version\":\"PuTTY-Release-0.58\""));
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOCLIENT, v1pkt, sizeof(v1pkt)), IW_DONE);
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, v1pkt, sizeof(v1pkt)), IW_DONE);
	assert_int_equal(n_ev, 2);
	assert_int_equal(n_anom, 0);
	P.state_free(st);
}

static void test_gap(void **state)
{
	(void)state;
	struct buf k = {.n = 0};
	kexinit(&k, lists);
	void *st = fresh(65536);
	feed_reset();
	feed_str(st, IW_DIR_TOSERVER, banner_c);
	P.gap(st, &ctx, IW_DIR_TOSERVER, 100);
	assert_int_equal(P.parse(st, &ctx, IW_DIR_TOSERVER, k.b + 7, k.n - 7), IW_DONE);
	assert_int_equal(n_ev, 1);
	/* the other direction goes on */
	feed_str(st, IW_DIR_TOCLIENT, banner_s);
	feed(st, IW_DIR_TOCLIENT, k.b, k.n);
	assert_int_equal(n_ev, 3);
	assert_int_equal(n_anom, 0);
	P.gap(st, &ctx, 2, 1); /* no such direction: ignored */
	P.state_free(st);
	assert_int_equal(P.parse(NULL, &ctx, 0, k.b, k.n), IW_ERR);
	P.state_free(NULL);
}

/* ---- every truncated prefix, flush against a guard page ---- */

static void test_prefixes_guarded(void **state)
{
	(void)state;
	struct buf all = {.n = 0};
	static const char pre[] = "hello\r\n";
	put_mem(&all, pre, strlen(pre));
	put_mem(&all, banner_c, strlen(banner_c));
	kexinit(&all, lists);
	size_t units[] = {strlen(pre), strlen(pre) + strlen(banner_c), all.n}; /* where each ends */
	unsigned events_at[] = {0, 1, 2};
	struct guard g = guard_new(all.n);
	for (int dir = 0; dir < 2; dir++) {
		for (size_t len = 0; len <= all.n; len++) {
			void *st = fresh(65536);
			const uint8_t *at = guard_put(&g, all.b, len);
			size_t used = 0;
			int rc = IW_NEED_MORE;
			while (used < len) {
				rc = P.parse(st, &ctx, dir, at + used, len - used);
				if (rc <= 0)
					break;
				used += (size_t)rc;
			}
			unsigned want = 0;
			size_t want_used = 0;
			for (size_t u = 0; u < 3; u++)
				if (len >= units[u]) {
					want = events_at[u];
					want_used = units[u];
				}
			if (n_ev != want || used != want_used || (used < len && rc != IW_NEED_MORE))
				fail_msg("dir %d prefix %zu: %u events, %zu used, rc %d", dir, len, n_ev,
				         used, rc);
			assert_int_equal(n_anom, 0);
			P.state_free(st);
		}
	}
	/* the probe too */
	for (size_t len = 0; len <= strlen(banner_c); len++) {
		const uint8_t *at = guard_put(&g, (const uint8_t *)banner_c, len);
		int rc = P.probe(at, len, IW_DIR_TOSERVER);
		assert_int_equal(rc, len < 8 ? IW_NEED_MORE : IW_OK);
	}
	guard_free(&g);
}

/* ---- the record ---- */

static void test_record(void **state)
{
	(void)state;
	struct iw_flow_key key;
	memset(&key, 0, sizeof(key));
	key.family = 4;
	key.proto = 6;
	key.src.b[0] = 10;
	key.src.b[3] = 7;
	key.dst.b[0] = 10;
	key.dst.b[3] = 1;
	key.sport = 50022;
	key.dport = 22;
	struct iw_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = IW_EV_SSH;
	ev.ts_us = 1700000000000001ULL;
	ev.flow_id = 3;
	ev.key = &key;
	ev.app_proto = "ssh";
	ev.u.ssh.type = IW_SSH_BANNER;
	ev.u.ssh.dir = 1;
	ev.u.ssh.proto_version = "2.0";
	ev.u.ssh.software = "OpenSSH_9.2p1";
	ev.u.ssh.comments = "Debian \"2\"";
	iw_record_event(&json, "s1", &ev);
	assert_string_equal(json.buf,
	                    "{\"timestamp\":\"2023-11-14T22:13:20.000001Z\",\"flow_id\":3,\"sensor\":\"s1\","
	                    "\"event_type\":\"ssh\",\"src_ip\":\"10.0.0.7\",\"src_port\":50022,"
	                    "\"dest_ip\":\"10.0.0.1\",\"dest_port\":22,\"proto\":\"TCP\","
	                    "\"app_proto\":\"ssh\",\"ssh\":{\"type\":\"banner\",\"side\":\"server\","
	                    "\"proto_version\":\"2.0\",\"software_version\":\"OpenSSH_9.2p1\","
	                    "\"comments\":\"Debian \\\"2\\\"\"}}");
	/* a kexinit whose MD5 was refused: the string without the hash */
	memset(&ev.u.ssh, 0, sizeof(ev.u.ssh));
	ev.u.ssh.type = IW_SSH_KEXINIT;
	ev.u.ssh.dir = 0;
	ev.u.ssh.kex_algs = "k";
	ev.u.ssh.host_key_algs = "h";
	ev.u.ssh.ciphers = "c";
	ev.u.ssh.macs = "m";
	ev.u.ssh.compression = "none";
	ev.u.ssh.hassh_string = "k;c;m;none";
	iw_record_event(&json, NULL, &ev);
	assert_non_null(strstr(json.buf,
	                       "\"ssh\":{\"type\":\"kexinit\",\"side\":\"client\",\"hassh\":{\"string\":"
	                       "\"k;c;m;none\"},\"kex_algorithms\":\"k\",\"host_key_algorithms\":\"h\","
	                       "\"encryption_algorithms\":\"c\",\"mac_algorithms\":\"m\","
	                       "\"compression_algorithms\":\"none\"}}"));
	/* an unknown type: the type and side only */
	memset(&ev.u.ssh, 0, sizeof(ev.u.ssh));
	ev.u.ssh.type = IW_SSH__TYPES;
	iw_record_event(&json, NULL, &ev);
	assert_non_null(strstr(json.buf, "\"ssh\":{\"type\":\"unknown\",\"side\":\"client\"}}"));
}

int main(void)
{
	iw_json_init(&json);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_probe),
	    cmocka_unit_test(test_banners_both_ways),
	    cmocka_unit_test(test_banner_in_pieces),
	    cmocka_unit_test(test_server_pre_banner_lines),
	    cmocka_unit_test(test_no_banner),
	    cmocka_unit_test(test_banner_too_long),
	    cmocka_unit_test(test_kexinit_hassh),
	    cmocka_unit_test(test_kexinit_byte_by_byte),
	    cmocka_unit_test(test_banner_and_kexinit_in_one_call),
	    cmocka_unit_test(test_other_packets),
	    cmocka_unit_test(test_long_list),
	    cmocka_unit_test(test_bad_packet_length),
	    cmocka_unit_test(test_bad_kexinit),
	    cmocka_unit_test(test_ssh1),
	    cmocka_unit_test(test_gap),
	    cmocka_unit_test(test_prefixes_guarded),
	    cmocka_unit_test(test_record),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	iw_json_free(&json);
	return rc;
}
