/* modbus.c - modbus.unauthorized_write (docs/rules.md, DESIGN §6): a Modbus/TCP write
 * (function 5, 6, 15, 16, 22 or 23; Modbus Application Protocol v1.1b3 §6) from a client
 * whose address is in none of rules.modbus.allowed_writers. Off when that list is empty.
 *
 * Old values. The parser keeps the last value of each register and coil per flow, so a
 * write on the connection that read them carries them (iw_modbus_write.has_old). A rogue
 * writer usually opens a connection of its own, though, while the HMI polls the same
 * registers on another: so the rule keeps, per (server, unit, coil or register,
 * address), the last value any flow read (FC 1, 3 and 23 responses) or wrote, and prefers
 * it to the parser's. That table holds blocks of MB_BLOCK consecutive addresses (a read
 * response of 125 registers touches two or three), is set-associative, and is bounded by
 * limits.max_devices and MB_TRACK_CAP addresses; a full set loses its least recently set
 * block. A write the server refused (an exception answering it) leaves the value
 * unknown. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../parsers/alloc.h"
#include "../parsers/fmt.h"
#include "rule.h"

#define MB_SHOWN      16    /* writes listed in the evidence */
#define MB_TRACK_WAYS 4     /* blocks per set */
#define MB_BLOCK      64    /* consecutive addresses per block */
#define MB_TRACK_CAP  65536 /* addresses at most (about 180 KiB), whatever limits.max_devices says */
#define MB_COILS      1     /* address spaces of the table */
#define MB_REGS       0

/* MB_BLOCK addresses from base of one (server, unit, space): the values known. */
struct mb_val {
	struct iw_addr server;
	uint64_t stamp; /* when set (a counter); 0: free */
	uint64_t known; /* bit i: value[i] is known */
	uint16_t base;
	uint8_t family, unit, space;
	uint16_t value[MB_BLOCK];
};

struct mb_state {
	struct iw_cidr *writers;
	unsigned n_writers;
	struct mb_val *vals; /* n_sets * MB_TRACK_WAYS, allocated at the first value */
	uint32_t n_sets;     /* a power of two */
	uint64_t stamp;
	struct mb_val *last; /* the block of the last lookup: runs of addresses stay in it */
};

/* One write as judged: the old value from the table or the parser, the new one (FC 22:
 * computed from the old, so unknown with it). */
struct mb_judged {
	uint16_t address, old_value, new_value;
	bool has_old, has_new;
};

static bool is_write(uint8_t fc)
{
	return fc == 5 || fc == 6 || fc == 15 || fc == 16 || fc == 22 || fc == 23;
}

/* The entries, in order, with spaces trimmed (a --set list may have them). An entry that
 * is not an address or network is skipped: the rule stays on (a typo must not turn it
 * off; configuration checking is the place to reject it). NULL when the list is empty. */
static void *mb_state_new(const struct iw_rules_cfg *cfg)
{
	if (cfg->modbus.n_allowed_writers == 0 || cfg->modbus.allowed_writers == NULL)
		return NULL;
	struct mb_state *s = iw_calloc(1, sizeof(*s));
	s->writers = iw_calloc(cfg->modbus.n_allowed_writers, sizeof(*s->writers));
	for (unsigned i = 0; i < cfg->modbus.n_allowed_writers; i++) {
		const char *w = cfg->modbus.allowed_writers[i];
		if (w == NULL)
			continue;
		while (*w == ' ' || *w == '\t')
			w++;
		size_t n = strlen(w);
		while (n > 0 && (w[n - 1] == ' ' || w[n - 1] == '\t'))
			n--;
		char buf[64];
		if (n == 0 || n >= sizeof(buf))
			continue;
		memcpy(buf, w, n);
		buf[n] = '\0';
		if (iw_cidr_parse(buf, &s->writers[s->n_writers]) == 0) /* IW_OK */
			s->n_writers++;
	}
	return s;
}

static void mb_state_free(void *st)
{
	struct mb_state *s = st;
	if (s == NULL)
		return;
	free(s->writers);
	free(s->vals);
	free(s);
}

static bool allowed_writer(const struct mb_state *s, const struct iw_flow_key *k)
{
	for (unsigned i = 0; i < s->n_writers; i++)
		if (iw_cidr_match(&s->writers[i], k->family, &k->src))
			return true;
	return false;
}

/* ---- the table of last values ---- */

static bool track_ready(struct mb_state *s, const struct iw_rule_ctx *ctx)
{
	if (s->vals != NULL)
		return true;
	uint64_t cap =
	    ctx->max_entries != 0 && ctx->max_entries < MB_TRACK_CAP ? ctx->max_entries : MB_TRACK_CAP;
	if (cap < MB_TRACK_WAYS * MB_BLOCK)
		return false; /* too small a limit for a table worth having */
	uint32_t sets = 1;
	while ((uint64_t)sets * 2 * MB_TRACK_WAYS * MB_BLOCK <= cap)
		sets *= 2;
	s->n_sets = sets;
	s->vals = iw_calloc((size_t)sets * MB_TRACK_WAYS, sizeof(*s->vals));
	return true;
}

static struct mb_val *track_set_of(const struct mb_state *s, const struct iw_flow_key *k, uint8_t unit,
                                   uint8_t space, uint16_t base)
{
	uint32_t h = 2166136261u;
	unsigned n = k->family == 6 ? 16 : 4;
	for (unsigned i = 0; i < n; i++)
		h = (h ^ k->dst.b[i]) * 16777619u;
	h = (h ^ unit) * 16777619u;
	h = (h ^ space) * 16777619u;
	h = (h ^ (base & 0xff)) * 16777619u;
	h = (h ^ (base >> 8)) * 16777619u;
	return &s->vals[(size_t)(h & (s->n_sets - 1)) * MB_TRACK_WAYS];
}

static bool same(const struct mb_val *v, const struct iw_flow_key *k, uint8_t unit, uint8_t space,
                 uint16_t base)
{
	return v->stamp != 0 && v->base == base && v->unit == unit && v->space == space &&
	       v->family == k->family && memcmp(v->server.b, k->dst.b, sizeof(v->server.b)) == 0;
}

/* The block holding address, or NULL; with make, a new one (a free way, else the least
 * recently set) when there is none. */
static struct mb_val *track_block(struct mb_state *s, const struct iw_flow_key *k, uint8_t unit,
                                  uint8_t space, uint16_t address, bool make)
{
	if (s->vals == NULL)
		return NULL;
	uint16_t base = (uint16_t)(address & ~(MB_BLOCK - 1));
	if (s->last != NULL && same(s->last, k, unit, space, base))
		return s->last;
	struct mb_val *set = track_set_of(s, k, unit, space, base);
	struct mb_val *slot = &set[0];
	for (unsigned i = 0; i < MB_TRACK_WAYS; i++) {
		if (same(&set[i], k, unit, space, base))
			return s->last = &set[i];
		if (set[i].stamp < slot->stamp)
			slot = &set[i];
	}
	if (!make)
		return NULL;
	memset(slot, 0, sizeof(*slot));
	slot->server = k->dst;
	slot->family = k->family;
	slot->unit = unit;
	slot->space = space;
	slot->base = base;
	slot->stamp = ++s->stamp;
	return s->last = slot;
}

static bool track_get(struct mb_state *s, const struct iw_flow_key *k, uint8_t unit, uint8_t space,
                      uint16_t address, uint16_t *value)
{
	struct mb_val *b = track_block(s, k, unit, space, address, false);
	unsigned i = address & (MB_BLOCK - 1);
	if (b == NULL || !(b->known >> i & 1))
		return false;
	*value = b->value[i];
	return true;
}

static void track_put(struct mb_state *s, const struct iw_flow_key *k, uint8_t unit, uint8_t space,
                      uint16_t address, uint16_t value)
{
	struct mb_val *b = track_block(s, k, unit, space, address, true);
	unsigned i = address & (MB_BLOCK - 1);
	b->value[i] = value;
	b->known |= 1ull << i;
	if (b->stamp != s->stamp)
		b->stamp = ++s->stamp;
}

static void track_forget(struct mb_state *s, const struct iw_flow_key *k, uint8_t unit, uint8_t space,
                         uint16_t address)
{
	struct mb_val *b = track_block(s, k, unit, space, address, false);
	if (b != NULL)
		b->known &= ~(1ull << (address & (MB_BLOCK - 1)));
}

/* The bits of offsets off..off+n-1 of a block (n >= 1, off + n <= MB_BLOCK). */
static uint64_t run_bits(unsigned off, uint32_t n)
{
	return (n >= 64 ? ~0ull : (1ull << n) - 1) << off;
}

/* A run of n addresses from address, a block at a time: a read response of 125 registers
 * is two or three lookups, not 125. Addresses wrap at 65536 like the protocol's, and a
 * block never straddles the wrap (65536 is a multiple of MB_BLOCK). The values are
 * v16[i], or v8[i] != 0 (coils); both NULL: forgotten. */
static void track_run(struct mb_state *s, const struct iw_flow_key *k, uint8_t unit, uint8_t space,
                      uint16_t address, uint32_t n, const uint16_t *v16, const uint8_t *v8)
{
	bool put = v16 != NULL || v8 != NULL;
	for (uint32_t i = 0; i < n;) {
		uint16_t a = (uint16_t)(address + i);
		unsigned off = a & (MB_BLOCK - 1);
		uint32_t take = MB_BLOCK - off < n - i ? MB_BLOCK - off : n - i;
		struct mb_val *b = track_block(s, k, unit, space, a, put);
		if (b != NULL && put) {
			for (uint32_t j = 0; j < take; j++)
				b->value[off + j] = v16 != NULL ? v16[i + j] : v8[i + j] != 0;
			b->known |= run_bits(off, take);
			if (b->stamp != s->stamp)
				b->stamp = ++s->stamp;
		} else if (b != NULL) {
			b->known &= ~run_bits(off, take);
		}
		i += take;
	}
}

static void forget_run(struct mb_state *s, const struct iw_flow_key *k, uint8_t unit, uint8_t space,
                       uint16_t address, uint32_t n)
{
	track_run(s, k, unit, space, address, n, NULL, NULL);
}

/* A read response (FC 1 coils, FC 3 holding registers, FC 23's read part) whose request
 * was seen: its values at the request's addresses. Discrete inputs and input registers
 * (FC 2, 4) cannot be written, so they are not kept. */
static void track_response(struct mb_state *s, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	const struct iw_ev_modbus *m = &ev->u.modbus;
	if (!m->has_request || !m->req_has_address || m->req_function != m->function)
		return;
	if (m->function == 1 && m->coils != NULL) {
		if (!track_ready(s, ctx))
			return;
		track_run(s, ev->key, m->unit_id, MB_COILS, m->req_address, m->n_coils, NULL, m->coils);
	} else if ((m->function == 3 || m->function == 23) && m->values != NULL) {
		if (!track_ready(s, ctx))
			return;
		track_run(s, ev->key, m->unit_id, MB_REGS, m->req_address, m->n_values, m->values, NULL);
	}
}

/* The server refused a write: what it would have set is unknown. FC 23's write range is
 * not in the response, so only its read range's values stand (they were not changed by
 * the refused request either). */
static void track_refused(struct mb_state *s, const struct iw_event *ev)
{
	const struct iw_ev_modbus *m = &ev->u.modbus;
	if (!m->has_request || !m->req_has_address)
		return;
	uint8_t fc = m->req_function;
	uint32_t n = m->req_has_quantity ? m->req_quantity : 1;
	if (fc == 5 || fc == 15)
		forget_run(s, ev->key, m->unit_id, MB_COILS, m->req_address, n);
	else if (fc == 6 || fc == 16 || fc == 22)
		forget_run(s, ev->key, m->unit_id, MB_REGS, m->req_address, n);
}

/* ---- writes ---- */

static uint8_t space_of(uint8_t fc)
{
	return fc == 5 || fc == 15 ? MB_COILS : MB_REGS;
}

/* Fills out (at most MB_SHOWN) with the writes of request m; returns how many. */
static unsigned judge_writes(struct mb_state *s, const struct iw_event *ev, struct mb_judged *out)
{
	const struct iw_ev_modbus *m = &ev->u.modbus;
	uint8_t space = space_of(m->function);
	if (m->function == 22) {
		/* the parser lists it only when it knew the old value; the table may know more */
		struct mb_judged *j = &out[0];
		memset(j, 0, sizeof(*j));
		j->address = m->address;
		j->has_old = track_get(s, ev->key, m->unit_id, MB_REGS, m->address, &j->old_value);
		if (!j->has_old && m->writes != NULL && m->n_writes > 0 && m->writes[0].has_old) {
			j->has_old = true;
			j->old_value = m->writes[0].old_value;
		}
		if (j->has_old) {
			j->has_new = true;
			j->new_value = (uint16_t)((j->old_value & m->and_mask) | (m->or_mask & ~m->and_mask));
		}
		return 1;
	}
	unsigned n = m->writes != NULL ? m->n_writes : 0;
	if (n > MB_SHOWN)
		n = MB_SHOWN;
	for (unsigned i = 0; i < n; i++) {
		const struct iw_modbus_write *w = &m->writes[i];
		struct mb_judged *j = &out[i];
		memset(j, 0, sizeof(*j));
		j->address = w->address;
		j->new_value = w->new_value;
		j->has_new = true;
		j->has_old = track_get(s, ev->key, m->unit_id, space, w->address, &j->old_value);
		if (!j->has_old && w->has_old) {
			j->has_old = true;
			j->old_value = w->old_value;
		}
	}
	return n;
}

/* After judging: the values the request sets become the last known ones. */
static void track_writes(struct mb_state *s, struct iw_rule_ctx *ctx, const struct iw_event *ev,
                         const struct mb_judged *j, unsigned n_judged)
{
	const struct iw_ev_modbus *m = &ev->u.modbus;
	uint8_t space = space_of(m->function);
	if (m->function == 22) {
		if (n_judged == 1 && j[0].has_new && track_ready(s, ctx))
			track_put(s, ev->key, m->unit_id, MB_REGS, j[0].address, j[0].new_value);
		else
			track_forget(s, ev->key, m->unit_id, MB_REGS, m->address);
		return;
	}
	uint32_t n = m->writes != NULL ? m->n_writes : 0;
	if (n > 0 && track_ready(s, ctx))
		for (uint32_t i = 0; i < n; i++)
			track_put(s, ev->key, m->unit_id, space, m->writes[i].address,
			          m->writes[i].new_value);
	/* past limits.max_items the parser did not list them: their values are unknown now */
	uint16_t first = m->function == 23 ? m->write_address : m->address;
	uint32_t total = m->function == 23                      ? m->write_quantity
	                 : m->function == 5 || m->function == 6 ? 1
	                                                        : m->quantity;
	if (total > n)
		forget_run(s, ev->key, m->unit_id, space, (uint16_t)(first + n), total - n);
}

static void add_int(struct iw_alert *a, const char *key, int64_t v)
{
	struct iw_kv *kv = &a->evidence[a->n_evidence++];
	kv->key = key;
	kv->type = IW_KV_INT;
	kv->v.i = v;
}

static void add_str(struct iw_alert *a, const char *key, const char *v)
{
	struct iw_kv *kv = &a->evidence[a->n_evidence++];
	kv->key = key;
	kv->type = IW_KV_STR;
	kv->v.s = v;
}

static const char *fc_name(const struct iw_ev_modbus *m)
{
	if (m->function_name != NULL)
		return m->function_name;
	switch (m->function) {
	case 5:
		return "write_single_coil";
	case 6:
		return "write_single_register";
	case 15:
		return "write_multiple_coils";
	case 16:
		return "write_multiple_registers";
	case 22:
		return "mask_write_register";
	default:
		return "read_write_multiple_registers";
	}
}

/* A bounded string built by hand: an alert of this rule comes with most rogue writes, and
 * snprintf's thousand instructions a call were a tenth of the rule's time. */
struct out {
	char *b;
	size_t n, cap; /* cap counts the NUL; what does not fit is cut */
};

static void out_mem(struct out *o, const char *s, size_t k)
{
	if (k > o->cap - 1 - o->n)
		k = o->cap - 1 - o->n;
	memcpy(o->b + o->n, s, k);
	o->n += k;
	o->b[o->n] = '\0';
}

static void out_str(struct out *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

static void out_uint(struct out *o, uint64_t v)
{
	char d[IW_FMT_U64_MAX];
	out_mem(o, d, iw_fmt_u64(d, v));
}

static void unauthorized(struct iw_rule_ctx *ctx, const struct iw_event *ev, const struct mb_judged *j,
                         unsigned n_judged)
{
	const struct iw_ev_modbus *m = &ev->u.modbus;
	char writer[64], server[64], subject[96], msg[256];
	iw_addr_str(&ev->key->src, ev->key->family, writer, sizeof(writer));
	iw_addr_str(&ev->key->dst, ev->key->family, server, sizeof(server));
	/* "<server>/<unit>/<function>", by hand: this runs for every write, alerted or not */
	size_t n = strlen(server);
	memcpy(subject, server, n);
	subject[n++] = '/';
	n += iw_fmt_u64(subject + n, m->unit_id);
	subject[n++] = '/';
	n += iw_fmt_u64(subject + n, m->function);
	subject[n] = '\0';
	if (ctx->alerted != NULL &&
	    ctx->alerted(ctx, "modbus.unauthorized_write", ev->device.id, subject, ev->ts_us))
		return; /* said today: the rest is formatting for nothing */
	const char *fname = fc_name(m);
	uint16_t address = m->function == 23 ? m->write_address : m->address;
	uint32_t quantity = m->function == 23                        ? m->write_quantity
	                    : m->function == 15 || m->function == 16 ? m->quantity
	                                                             : 1;
	/* "<writer>, not an allowed writer, sent <function> at <address> to <server> unit <unit>" */
	struct out o = {msg, 0, sizeof(msg)};
	out_str(&o, writer);
	out_str(&o, ", not an allowed writer, sent ");
	out_str(&o, fname);
	out_str(&o, " at ");
	out_uint(&o, address);
	out_str(&o, " to ");
	out_str(&o, server);
	out_str(&o, " unit ");
	out_uint(&o, m->unit_id);

	/* "<address>: <old> -> <new>", "?" for a value not known */
	char lines[MB_SHOWN][24];
	const char *writes[MB_SHOWN];
	for (unsigned i = 0; i < n_judged; i++) {
		struct out l = {lines[i], 0, sizeof(lines[i])};
		out_uint(&l, j[i].address);
		out_str(&l, ": ");
		if (j[i].has_old)
			out_uint(&l, j[i].old_value);
		else
			out_str(&l, "?");
		out_str(&l, " -> ");
		if (j[i].has_new)
			out_uint(&l, j[i].new_value);
		else
			out_str(&l, "?");
		writes[i] = lines[i];
	}

	struct iw_alert a;
	memset(&a, 0, sizeof(a));
	a.rule = "modbus.unauthorized_write";
	a.category = "ot-integrity";
	a.severity = IW_SEV_HIGH;
	a.message = msg;
	a.ts_us = ev->ts_us;
	a.ev = ev;
	a.device = ev->device;
	add_str(&a, "writer", writer);
	add_str(&a, "server", server);
	add_int(&a, "unit", m->unit_id);
	add_str(&a, "function", fname);
	add_int(&a, "function_code", m->function);
	add_int(&a, "address", address);
	add_int(&a, "quantity", quantity);
	if (n_judged > 0 && j[0].has_new)
		add_int(&a, "new_value", j[0].new_value);
	if (n_judged > 0 && j[0].has_old)
		add_int(&a, "old_value", j[0].old_value);
	if (m->function == 22 && m->has_masks) {
		add_int(&a, "and_mask", m->and_mask);
		add_int(&a, "or_mask", m->or_mask);
	}
	struct iw_kv *kv = &a.evidence[a.n_evidence++];
	kv->key = "writes";
	kv->type = IW_KV_STRS;
	kv->v.list.p = writes;
	kv->v.list.n = n_judged;
	ctx->raise(ctx, &a, subject);
}

static void mb_on_event(void *st, struct iw_rule_ctx *ctx, const struct iw_event *ev)
{
	struct mb_state *s = st;
	const struct iw_ev_modbus *m = &ev->u.modbus;
	if (s == NULL || ev->kind != IW_EV_MODBUS || ev->key == NULL || m->malformed != NULL)
		return;
	if (m->type == IW_MODBUS_RESPONSE) {
		track_response(s, ctx, ev);
		return;
	}
	if (m->type == IW_MODBUS_EXCEPTION) {
		if (m->has_request && is_write(m->req_function))
			track_refused(s, ev);
		return;
	}
	if (m->type != IW_MODBUS_REQUEST || !is_write(m->function))
		return;
	/* requests travel client to server: the writer is the flow's client */
	struct mb_judged j[MB_SHOWN];
	unsigned n = judge_writes(s, ev, j);
	if (!allowed_writer(s, ev->key))
		unauthorized(ctx, ev, j, n);
	track_writes(s, ctx, ev, j, n);
}

const struct iw_rule iw_rule_modbus = {
    .id = "modbus",
    .kinds = 1u << IW_EV_MODBUS,
    .state_new = mb_state_new,
    .state_free = mb_state_free,
    .on_event = mb_on_event,
};
