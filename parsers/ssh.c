/* ssh.c - the clear part of SSH: identification strings (RFC 4253 §4.2) and the first
 * KEXINIT of each direction (RFC 4253 §6, §7.1), with its HASSH fingerprint.
 *
 *   identification | [other lines, server only by the RFC] "SSH-" protoversion "-" softwareversion |
 *                  | [SP comments] CR LF  (at most 255 bytes with the CR LF)                       |
 *   binary packet  | packet_length 4 | padding_length 1 | payload | padding | [MAC, after NEWKEYS] |
 *   KEXINIT        | 20 | cookie 16 | kex | server_host_key | enc c2s | enc s2c | mac c2s | mac s2c  |
 *                  | comp c2s | comp s2c | lang c2s | lang s2c | first_kex_packet_follows 1 | 0 4   |
 *   name-list      | length 4 | comma-separated US-ASCII names                                      |
 *
 * A stream parser, each direction on its own: text lines until the identification (emits
 * a banner event), then whole binary packets until the first KEXINIT (emits a kexinit
 * event) or NEWKEYS. Everything after that is the key exchange and the encrypted session:
 * not read (IW_DONE, so the sensor stops reassembling it). An SSH-1 session (a "1.x" version other than 1.99
 * on either side) is not followed past the identification.
 *
 * HASSH (salesforce/hassh): MD5 of "kex;enc;mac;comp" with the client's c2s lists
 * (HASSH) or the server's s2c lists (HASSHServer), lower-case hex.
 *
 * Memory: struct ssh_state (under 300 bytes) for the flow's life. The strings of a
 * kexinit event (five name-lists of at most SSH_LIST_MAX bytes and the HASSH string, about
 * 18 KB) come with the flow's first KEXINIT and go once both directions are past theirs. */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "digest.h"
#include "parser.h"

#define SSH_MAX_IDENT   255   /* identification line with its CR LF (RFC 4253 §4.2) */
#define SSH_PRE_BYTES   4096  /* text accepted before the identification ... */
#define SSH_PRE_LINES   64    /* ... and in at most this many lines */
#define SSH_MAX_PACKET  35000 /* packet_length a peer must accept (RFC 4253 §6.1); we take no more */
#define SSH_LIST_MAX    2048  /* bytes of a name-list kept for the event; the HASSH uses all of it */
#define SSH_MSG_KEXINIT 20
#define SSH_MSG_NEWKEYS 21

/* ---- per-flow state ---- */

enum ssh_phase {
	P_IDENT,   /* text lines until "SSH-" */
	P_PACKETS, /* binary packets until KEXINIT or NEWKEYS */
	P_DONE,    /* key exchange and encrypted: not read (IW_DONE) */
};

struct ssh_dir {
	uint32_t pre_bytes; /* text seen before the identification */
	uint16_t pre_lines;
	uint8_t phase;
};

/* What a kexinit event points at: valid while the event is emitted. */
struct ssh_kexstr {
	char list[5][SSH_LIST_MAX + 1]; /* kex, host key, enc, mac, comp of the sender's way */
	char hassh_string[4 * (SSH_LIST_MAX + 1)];
	char hassh[IW_MD5_HEX];
};

struct ssh_state {
	uint32_t max_packet; /* packet_length accepted: SSH_MAX_PACKET within limits.max_message */
	bool v1;             /* a side spoke SSH-1: no SSH-2 packets to read */
	struct ssh_dir d[2];
	char ident[SSH_MAX_IDENT + 1]; /* the banner event's strings, NUL-separated */
	struct ssh_kexstr *kex;        /* from the first KEXINIT until both directions are done */
};

static void *ssh_state_new(const struct iw_parser_cfg *cfg)
{
	struct ssh_state *st = iw_calloc(1, sizeof(*st));
	/* the whole packet (4 + packet_length) must fit what the sensor buffers */
	uint32_t room = cfg->max_message > 4 ? cfg->max_message - 4 : 0;
	st->max_packet = room < SSH_MAX_PACKET ? room : SSH_MAX_PACKET;
	return st;
}

static void ssh_state_free(void *p)
{
	struct ssh_state *st = p;
	if (!st)
		return;
	free(st->kex);
	free(st);
}

const char *iw_ssh_type_name(enum iw_ssh_type t)
{
	return t == IW_SSH_BANNER ? "banner" : t == IW_SSH_KEXINIT ? "kexinit" : "unknown";
}

static int clamp(size_t n)
{
	return n > 0x7fffffff ? 0x7fffffff : (int)n;
}

/* Marks a direction done; the KEXINIT strings go when neither direction can need them. */
static void dir_done(struct ssh_state *st, int dir)
{
	st->d[dir].phase = P_DONE;
	if (st->d[0].phase == P_DONE && st->d[1].phase == P_DONE) {
		free(st->kex);
		st->kex = NULL;
	}
}

/* ---- identification (RFC 4253 §4.2) ---- */

/* "SSH-" then digits '.' digits '-' (each number 1-3 digits): IW_OK, IW_ERR, or
 * IW_NEED_MORE when the bytes end while they still match. */
static int ident_prefix(struct iw_cur c)
{
	static const char lit[] = "SSH-";
	for (size_t i = 0; i < 4; i++) {
		uint8_t b = iw_cur_u8(&c);
		if (c.err)
			return IW_NEED_MORE;
		if (b != (uint8_t)lit[i])
			return IW_ERR;
	}
	for (int part = 0; part < 2; part++) {
		int digits = 0;
		for (;;) {
			uint8_t b = iw_cur_u8(&c);
			if (c.err)
				return IW_NEED_MORE;
			if (b >= '0' && b <= '9' && digits < 3) {
				digits++;
				continue;
			}
			if (digits == 0 || b != (part == 0 ? '.' : '-'))
				return IW_ERR;
			break;
		}
	}
	return IW_OK;
}

/* Can this byte be part of a text line before the identification? Control characters
 * other than TAB, CR and ESC (terminal colours) say the bytes are not text: a capture
 * that started mid-session, or not SSH at all. */
static bool text_byte(uint8_t b)
{
	return b >= 0x20 || b == '\t' || b == '\r' || b == 0x1b;
}

/* Copies the span into the ident buffer at *off as a NUL-terminated string. */
static const char *ident_put(struct ssh_state *st, size_t *off, struct iw_cur s)
{
	size_t n = iw_cur_left(&s);
	char *o = st->ident + *off;
	if (n)
		memcpy(o, s.p, n);
	o[n] = '\0';
	*off += n + 1;
	return o;
}

/* Splits "SSH-proto-software SP comments" (line without CR LF, at most 254 bytes) into
 * the banner event and emits it. */
static void emit_banner(struct ssh_state *st, struct iw_parse_ctx *ctx, int dir, struct iw_cur line)
{
	struct iw_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = IW_EV_SSH;
	struct iw_ev_ssh *s = &ev.u.ssh;
	s->type = IW_SSH_BANNER;
	s->dir = (uint8_t)dir;
	iw_cur_skip(&line, 4); /* "SSH-" */
	size_t n = iw_cur_left(&line);
	const uint8_t *sp = n ? memchr(line.p, ' ', n) : NULL; /* bounded by the cursor */
	struct iw_cur id = iw_cur_sub(&line, sp ? (size_t)(sp - line.p) : n);
	struct iw_cur comments = line;
	if (sp)
		iw_cur_skip(&comments, 1);
	size_t in = iw_cur_left(&id);
	const uint8_t *dash = in ? memchr(id.p, '-', in) : NULL;
	struct iw_cur ver = iw_cur_sub(&id, dash ? (size_t)(dash - id.p) : in);
	if (dash)
		iw_cur_skip(&id, 1);
	size_t off = 0; /* 4 bytes fewer than the line, plus 3 NULs: fits SSH_MAX_IDENT + 1 */
	s->proto_version = ident_put(st, &off, ver);
	s->software = ident_put(st, &off, id);
	s->comments = sp && iw_cur_left(&comments) ? ident_put(st, &off, comments) : NULL;
	/* "1.99" is a server that also speaks SSH-2; any other 1.x means SSH-1 packets follow */
	if (s->proto_version[0] == '1' && strcmp(s->proto_version, "1.99") != 0)
		st->v1 = true;
	ctx->emit(ctx, &ev);
}

/* One line of text of the direction: the identification (emitted, then binary packets)
 * or a line before it (counted against the budget). Returns bytes consumed, IW_NEED_MORE
 * or IW_ERR. */
static int ident_line(struct ssh_state *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *data,
                      size_t len)
{
	struct ssh_dir *d = &st->d[dir];
	struct iw_cur c = iw_cur_make(data, len);
	/* a line starting "SSH-" is the identification, whatever its version looks like */
	static const char lit[] = "SSH-";
	bool ident = true;
	for (size_t i = 0; i < 4 && ident; i++) {
		uint8_t b = iw_cur_peek(&c, i);
		if (c.err)
			return IW_NEED_MORE;
		ident = b == (uint8_t)lit[i];
	}
	size_t limit = ident ? SSH_MAX_IDENT : SSH_PRE_BYTES - d->pre_bytes;
	struct iw_cur scan = iw_cur_make(data, len < limit ? len : limit);
	size_t k = 0;
	bool nl = false;
	while (iw_cur_left(&scan)) {
		uint8_t b = iw_cur_u8(&scan);
		if (b == '\n') {
			nl = true;
			break;
		}
		if (!ident && !text_byte(b)) {
			ctx->anomaly(ctx, "ssh.no_banner");
			dir_done(st, dir);
			return IW_ERR;
		}
		k++;
	}
	if (!nl) {
		if (len < limit)
			return IW_NEED_MORE;
		ctx->anomaly(ctx, "ssh.banner_too_long");
		dir_done(st, dir);
		return IW_ERR;
	}
	struct iw_cur line = iw_cur_sub(&c, k);
	if (k && iw_cur_peek(&line, k - 1) == '\r')
		line.end--;
	if (ident) {
		emit_banner(st, ctx, dir, line);
		if (st->v1)
			dir_done(st, dir);
		else
			d->phase = P_PACKETS;
		return clamp(k + 1);
	}
	d->pre_bytes += (uint32_t)(k + 1);
	if (++d->pre_lines > SSH_PRE_LINES) {
		ctx->anomaly(ctx, "ssh.banner_too_long");
		dir_done(st, dir);
		return IW_ERR;
	}
	return clamp(k + 1);
}

/* ---- KEXINIT (RFC 4253 §7.1) ---- */

/* Copies at most SSH_LIST_MAX bytes of a name-list as a string; returns the length kept. */
static size_t list_put(char *o, struct iw_part s)
{
	size_t n = s.n < SSH_LIST_MAX ? s.n : SSH_LIST_MAX;
	if (n)
		memcpy(o, s.p, n);
	o[n] = '\0';
	return n;
}

/* Decodes a KEXINIT payload (from its message number on) and emits the sender's lists.
 * Returns false when a field does not fit the payload or a name-list holds a NUL. */
static bool kexinit(struct ssh_state *st, struct iw_parse_ctx *ctx, int dir, struct iw_cur c)
{
	struct iw_part l[10];
	iw_cur_skip(&c, 1 + 16); /* message number, cookie */
	for (size_t i = 0; i < 10; i++) {
		uint32_t n = iw_cur_be32(&c);
		const uint8_t *list;
		if (c.err || !iw_cur_bytes(&c, n, &list))
			return false;
		l[i] = (struct iw_part){list, n};
		if (n && memchr(l[i].p, '\0', n)) /* bounded by the span just read */
			return false;
	}
	(void)iw_cur_u8(&c);   /* first_kex_packet_follows */
	(void)iw_cur_be32(&c); /* reserved */
	if (c.err)
		return false;

	/* the sender's own way: c2s lists from the client, s2c lists from the server */
	int w = dir == IW_DIR_TOSERVER ? 0 : 1;
	const struct iw_part mine[5] = {l[0], l[1], l[2 + w], l[4 + w], l[6 + w]};
	const struct iw_part hassh[4] = {mine[0], mine[2], mine[3], mine[4]};
	if (!st->kex)
		st->kex = iw_malloc(sizeof(*st->kex));
	struct ssh_kexstr *k = st->kex;
	for (size_t i = 0; i < 5; i++)
		list_put(k->list[i], mine[i]);
	size_t off = 0;
	for (size_t i = 0; i < 4; i++) {
		if (i)
			k->hassh_string[off++] = ';';
		off += list_put(k->hassh_string + off, hassh[i]);
	}

	struct iw_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = IW_EV_SSH;
	struct iw_ev_ssh *s = &ev.u.ssh;
	s->type = IW_SSH_KEXINIT;
	s->dir = (uint8_t)dir;
	s->kex_algs = k->list[0];
	s->host_key_algs = k->list[1];
	s->ciphers = k->list[2];
	s->macs = k->list[3];
	s->compression = k->list[4];
	s->hassh_string = k->hassh_string;
	/* the HASSH of the full name-lists, however much of them the event shows */
	s->hassh = iw_digest_parts(IW_MD5, hassh, 4, ';', k->hassh) ? k->hassh : NULL;
	ctx->emit(ctx, &ev);
	return true;
}

/* One binary packet (RFC 4253 §6) before the key exchange is done. Returns bytes
 * consumed, IW_NEED_MORE or IW_ERR. */
static int packet(struct ssh_state *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len)
{
	struct iw_cur c = iw_cur_make(data, len);
	uint32_t plen = iw_cur_be32(&c);
	uint8_t padlen = iw_cur_u8(&c);
	if (c.err)
		return IW_NEED_MORE;
	/* a payload of at least the message number, and a packet we would buffer */
	if (plen > st->max_packet || plen < (uint32_t)padlen + 2) {
		ctx->anomaly(ctx, "ssh.bad_packet_length");
		dir_done(st, dir);
		return IW_ERR;
	}
	struct iw_cur payload = iw_cur_sub(&c, plen - padlen - 1u);
	iw_cur_skip(&c, padlen);
	if (c.err)
		return IW_NEED_MORE;
	uint8_t type = iw_cur_peek(&payload, 0);
	if (type == SSH_MSG_KEXINIT) {
		if (!kexinit(st, ctx, dir, payload))
			ctx->anomaly(ctx, "ssh.bad_kexinit");
		dir_done(st, dir);
	} else if (type == SSH_MSG_NEWKEYS) {
		dir_done(st, dir);
	}
	/* anything else before KEXINIT (IGNORE, DEBUG, DISCONNECT ...) is passed over */
	return clamp(4 + (size_t)plen);
}

/* ---- the descriptor's callbacks ---- */

static int ssh_parse(void *p, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len)
{
	struct ssh_state *st = p;
	if (!st || dir < 0 || dir > 1)
		return IW_ERR;
	if (!len)
		return IW_NEED_MORE;
	struct ssh_dir *d = &st->d[dir];
	if (d->phase == P_PACKETS && st->v1)
		dir_done(st, dir); /* the other side's identification said SSH-1 */
	switch (d->phase) {
	case P_IDENT:
		return ident_line(st, ctx, dir, data, len);
	case P_PACKETS:
		return packet(st, ctx, dir, data, len);
	default:
		return IW_DONE; /* encrypted: nothing to read, the sensor stops reassembling */
	}
}

/* Lost bytes: the line or packet framing is gone, and what follows would be the key
 * exchange or encrypted anyway. */
static void ssh_gap(void *p, struct iw_parse_ctx *ctx, int dir, uint32_t len)
{
	struct ssh_state *st = p;
	(void)ctx;
	(void)len;
	if (st && dir >= 0 && dir <= 1)
		dir_done(st, dir);
}

/* Either direction's first bytes: "SSH-" protoversion "-" with the version digits '.'
 * digits ("2.0", "1.99", "1.5"). Text lines a server sends before its identification
 * are not accepted here (nDPI or the port classify such a flow; the parser skips them). */
static int ssh_probe(const uint8_t *data, size_t len, int dir)
{
	(void)dir;
	return ident_prefix(iw_cur_make(data, len));
}

const struct iw_parser iw_parser_ssh = {
    .name = "ssh",
    .ipproto = IPPROTO_TCP,
    .ports = {22, 2222},
    .ndpi_name = "SSH",
    .probe = ssh_probe,
    .state_new = ssh_state_new,
    .state_free = ssh_state_free,
    .parse = ssh_parse,
    .gap = ssh_gap,
};
