/* modbus.c - Modbus/TCP (Modbus Messaging on TCP/IP Implementation Guide v1.0b §3.1; Modbus Application
 * Protocol v1.1b3 §6-7).
 *
 *   MBAP | transaction id 2 | protocol id 2 (= 0) | length 2 | unit id 1 | PDU: function 1 | data |
 *                                                  '- unit id + PDU, 2..254 -'
 *   exception PDU: | function | 0x80 | exception code 1 |
 *
 * One event per ADU. Requests (client to server) wait in a small table keyed by
 * (transaction id, unit id) until their response, which then carries the request's
 * function, address and quantity and the round trip. The last value seen of each
 * (unit, register) and (unit, coil) is kept per flow, so writes report old and new.
 *
 * Read responses carry runs of consecutive addresses, so values are kept in pages of
 * MB_PAGE consecutive addresses: a 100-register read costs 7 lookups, not 100. The page
 * table and the request table are allocated at first use and grow to their bounds, so
 * a flow that never carries a value costs only its small mb_state. */
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "parser.h"

#define MB_PENDING     64 /* outstanding requests per flow; the oldest is evicted */
#define MB_PENDING_MIN 4  /* request slots at first use, doubling up to MB_PENDING */
#define MB_PAGE_SHIFT  4
#define MB_PAGE        (1u << MB_PAGE_SHIFT) /* consecutive addresses per tracking page */
#define MB_TRACK_WAYS  4                     /* pages per set; a full set loses its least recently set page */
#define MB_TRACK_MIN   2                     /* log2 sets at first use (8 pages) ... */
#define MB_TRACK_MAX   6                     /* ... doubling up to 64 sets: 256 pages, 4096 values per flow */
#define MB_SPACE_COIL  0x1000u               /* in a page key: unit << 13 | space | address >> 4 */
#define MB_SPACE_REG   0x0000u
#define MB_KEY_USED    0x80000000u
/* Length fields of 255..MB_LONGEST are framed and decoded but flagged: Schneider UMAS
 * devices send 255, and tshark shows those ADUs. Anything longer is lost sync. */
#define MB_LONGEST 260

static bool known_function(uint8_t fc)
{
	fc &= 0x7f; /* exception responses set the high bit */
	return (fc >= 1 && fc <= 24) || fc == 43 || (fc >= 65 && fc <= 72) || fc == 90 ||
	       (fc >= 100 && fc <= 110);
}

/* An MBAP header with protocol id 0, a length of 2..254 that the segment holds exactly,
 * or holds and is followed by another MBAP header, and a known function code. */
static int modbus_probe(const uint8_t *data, size_t len, int dir)
{
	(void)dir;
	struct iw_cur c = iw_cur_make(data, len);
	iw_cur_skip(&c, 2);
	uint16_t proto = iw_cur_be16(&c);
	uint16_t mlen = iw_cur_be16(&c);
	iw_cur_skip(&c, 1);
	uint8_t fc = iw_cur_u8(&c);
	if (c.err)
		return IW_NEED_MORE;
	if (proto != 0 || mlen < 2 || mlen > 254 || !known_function(fc))
		return IW_ERR;
	if (!iw_cur_skip(&c, (size_t)mlen - 2))
		return IW_NEED_MORE;
	if (iw_cur_left(&c) < 4)
		return IW_OK; /* one whole ADU, perhaps the start of the next */
	iw_cur_skip(&c, 2);
	return iw_cur_be16(&c) == 0 ? IW_OK : IW_ERR;
}

/* ---- names ---- */

static const char *function_name(uint8_t fc)
{
	static const char *const names[] = {
	    [1] = "read_coils",
	    [2] = "read_discrete_inputs",
	    [3] = "read_holding_registers",
	    [4] = "read_input_registers",
	    [5] = "write_single_coil",
	    [6] = "write_single_register",
	    [7] = "read_exception_status",
	    [8] = "diagnostics",
	    [11] = "get_comm_event_counter",
	    [12] = "get_comm_event_log",
	    [15] = "write_multiple_coils",
	    [16] = "write_multiple_registers",
	    [17] = "report_server_id",
	    [20] = "read_file_record",
	    [21] = "write_file_record",
	    [22] = "mask_write_register",
	    [23] = "read_write_multiple_registers",
	    [24] = "read_fifo_queue",
	    [43] = "encapsulated_interface_transport",
	};
	if (fc < sizeof(names) / sizeof(names[0]) && names[fc] != NULL)
		return names[fc];
	if ((fc >= 65 && fc <= 72) || (fc >= 100 && fc <= 110))
		return "user_defined";
	if (fc == 90)
		return "umas";
	return NULL;
}

static const char *exception_name(uint8_t code)
{
	static const char *const names[] = {
	    [1] = "illegal_function",
	    [2] = "illegal_data_address",
	    [3] = "illegal_data_value",
	    [4] = "server_device_failure",
	    [5] = "acknowledge",
	    [6] = "server_device_busy",
	    [8] = "memory_parity_error",
	    [10] = "gateway_path_unavailable",
	    [11] = "gateway_target_device_failed_to_respond",
	};
	return code < sizeof(names) / sizeof(names[0]) ? names[code] : NULL;
}

static const char *diag_name(uint16_t sub)
{
	static const char *const names[] = {
	    [0] = "return_query_data",
	    [1] = "restart_communications_option",
	    [2] = "return_diagnostic_register",
	    [3] = "change_ascii_input_delimiter",
	    [4] = "force_listen_only_mode",
	    [10] = "clear_counters_and_diagnostic_register",
	    [11] = "return_bus_message_count",
	    [12] = "return_bus_communication_error_count",
	    [13] = "return_bus_exception_error_count",
	    [14] = "return_server_message_count",
	    [15] = "return_server_no_response_count",
	    [16] = "return_server_nak_count",
	    [17] = "return_server_busy_count",
	    [18] = "return_bus_character_overrun_count",
	    [20] = "clear_overrun_counter_and_flag",
	};
	return sub < sizeof(names) / sizeof(names[0]) ? names[sub] : NULL;
}

static const char *object_name(uint8_t id)
{
	static const char *const names[] = {"VendorName",  "ProductCode", "MajorMinorRevision", "VendorUrl",
	                                    "ProductName", "ModelName",   "UserApplicationName"};
	return id < sizeof(names) / sizeof(names[0]) ? names[id] : NULL;
}

/* ---- malformed reasons: the event's and the anomaly counter's spelling ---- */

enum mb_bad { MB_OK, MB_TRUNCATED, MB_LENGTH, MB_BYTE_COUNT, MB_COIL_VALUE };

static const char *const bad_event[] = {NULL, "truncated", "length", "byte_count", "coil_value"};
static const char *const bad_anomaly[] = {NULL, "modbus.truncated", "modbus.length", "modbus.byte_count",
                                          "modbus.coil_value"};

/* ---- per-flow state ---- */

struct mb_pending {
	uint32_t seq; /* 0: free */
	uint16_t tid;
	uint8_t unit, function;
	bool has_address, has_quantity, has_write;
	uint16_t address, quantity, write_address, write_quantity;
	uint64_t ts_us;
};

/* The known values of MB_PAGE consecutive addresses of one unit and space. */
struct mb_page {
	uint32_t key;   /* MB_KEY_USED | unit << 13 | space | address >> MB_PAGE_SHIFT; 0: free */
	uint32_t stamp; /* when a value was last set, for eviction */
	uint16_t valid; /* bit i: vals[i] is known */
	uint16_t vals[MB_PAGE];
};

/* The arrays the event being built points into; on decode_adu's stack. */
struct mb_scratch {
	uint16_t regs[IW_MODBUS_MAX_REGS];
	uint8_t coils[IW_MODBUS_MAX_COILS];
	struct iw_modbus_write writes[IW_MODBUS_MAX_WRITES];
	struct iw_modbus_object objects[IW_MODBUS_MAX_OBJECTS];
	struct iw_modbus_file_ref files[IW_MODBUS_MAX_FILES];
};

struct mb_state {
	uint32_t max_items;
	bool resync[2];
	uint8_t track_bits; /* log2 of the sets in track; 0 before the first value */
	uint32_t seq;
	uint32_t n_pending;
	struct mb_pending *pending; /* n_pending slots, allocated at the first request */
	struct mb_page *track;      /* (1 << track_bits) * MB_TRACK_WAYS pages */
	uint32_t stamp;
	struct mb_scratch *x; /* valid only inside decode_adu */
};

static void *modbus_state_new(const struct iw_parser_cfg *cfg)
{
	struct mb_state *s = iw_calloc(1, sizeof(*s));
	s->max_items = cfg != NULL && cfg->max_items != 0 ? cfg->max_items : 256;
	return s;
}

static void modbus_state_free(void *st)
{
	struct mb_state *s = st;
	if (s == NULL)
		return;
	free(s->pending);
	free(s->track);
	free(s);
}

static uint32_t cap_items(const struct mb_state *s, uint32_t n, uint32_t hard)
{
	if (n > s->max_items)
		n = s->max_items;
	return n > hard ? hard : n;
}

/* ---- write tracking ---- */

static uint32_t page_key(uint8_t unit, uint32_t space, uint16_t addr)
{
	return MB_KEY_USED | (uint32_t)unit << 13 | space | (uint32_t)addr >> MB_PAGE_SHIFT;
}

/* The MB_TRACK_WAYS pages key may live in. Multiplicative hashing (Knuth) taking the
 * top bits, so doubling the sets splits each set in two and a rehash never overflows. */
static struct mb_page *track_set(const struct mb_page *t, unsigned bits, uint32_t key)
{
	return (struct mb_page *)t + (size_t)((key * 2654435761u) >> (32 - bits)) * MB_TRACK_WAYS;
}

static struct mb_page *track_find(const struct mb_state *s, uint32_t key)
{
	if (s->track == NULL)
		return NULL;
	struct mb_page *b = track_set(s->track, s->track_bits, key);
	for (int i = 0; i < MB_TRACK_WAYS; i++)
		if (b[i].key == key)
			return &b[i];
	return NULL;
}

static void track_grow(struct mb_state *s)
{
	struct mb_page *old = s->track;
	unsigned old_bits = s->track_bits;
	s->track_bits = old == NULL ? MB_TRACK_MIN : (uint8_t)(old_bits + 1);
	s->track = iw_calloc((size_t)MB_TRACK_WAYS << s->track_bits, sizeof(*s->track));
	for (size_t i = 0; old != NULL && i < (size_t)MB_TRACK_WAYS << old_bits; i++) {
		if (old[i].key == 0)
			continue;
		struct mb_page *b = track_set(s->track, s->track_bits, old[i].key);
		for (int w = 0; w < MB_TRACK_WAYS; w++)
			if (b[w].key == 0) {
				b[w] = old[i];
				break;
			}
	}
	free(old);
}

/* The page for key, made (empty) if missing: in a free way, else after growing the
 * table, else in place of the set's least recently set page. Never NULL; stamped. */
static struct mb_page *track_page(struct mb_state *s, uint32_t key)
{
	if (s->track == NULL)
		track_grow(s);
	uint32_t stamp = ++s->stamp;
	for (;;) {
		struct mb_page *b = track_set(s->track, s->track_bits, key);
		struct mb_page *victim = NULL;
		for (int i = 0; i < MB_TRACK_WAYS; i++) {
			if (b[i].key == key) {
				b[i].stamp = stamp;
				return &b[i];
			}
			if (b[i].key == 0) {
				if (victim == NULL || victim->key != 0)
					victim = &b[i];
			} else if (victim == NULL ||
			           (victim->key != 0 && b[i].stamp - victim->stamp > 0x80000000u)) {
				victim = &b[i]; /* older (wrap-safe) */
			}
		}
		if (victim->key != 0 && s->track_bits < MB_TRACK_MAX) {
			track_grow(s);
			continue;
		}
		victim->key = key;
		victim->valid = 0;
		victim->stamp = stamp;
		return victim;
	}
}

static bool track_get(const struct mb_state *s, uint8_t unit, uint32_t space, uint16_t addr, uint16_t *value)
{
	const struct mb_page *pg = track_find(s, page_key(unit, space, addr));
	unsigned i = addr & (MB_PAGE - 1);
	if (pg == NULL || !(pg->valid >> i & 1))
		return false;
	*value = pg->vals[i];
	return true;
}

/* Records n values at addr.. (wrapping at 65535), read from d: big-endian registers, or
 * with bits, coils packed LSB first. One page lookup per MB_PAGE addresses. */
static void track_put_run(struct mb_state *s, uint8_t unit, uint32_t space, uint16_t addr, uint32_t n,
                          struct iw_cur *d, bool bits)
{
	/* the table is cold when a flow's next ADU comes: start every set's miss at once */
	if (s->track != NULL)
		for (uint32_t i = 0; i < n + (addr & (MB_PAGE - 1)); i += MB_PAGE)
			__builtin_prefetch(
			    track_set(s->track, s->track_bits,
			              page_key(unit, space, (uint16_t)((addr & ~(MB_PAGE - 1)) + i))));
	uint8_t byte = 0;
	uint32_t i = 0;
	while (i < n && !d->err) {
		uint16_t a = (uint16_t)(addr + i);
		struct mb_page *pg = track_page(s, page_key(unit, space, a));
		unsigned off = a & (MB_PAGE - 1);
		uint32_t k = MB_PAGE - off < n - i ? MB_PAGE - off : n - i;
		for (uint32_t j = 0; j < k; j++, i++) {
			if (bits) {
				if (i % 8 == 0)
					byte = iw_cur_u8(d);
				pg->vals[off + j] = byte >> (i % 8) & 1;
			} else {
				pg->vals[off + j] = iw_cur_be16(d);
			}
		}
		pg->valid |= (uint16_t)(((1u << k) - 1) << off);
	}
}

static void track_forget(struct mb_state *s, uint8_t unit, uint32_t space, uint16_t addr)
{
	struct mb_page *pg = track_find(s, page_key(unit, space, addr));
	if (pg == NULL)
		return;
	pg->valid &= (uint16_t) ~(1u << (addr & (MB_PAGE - 1)));
	if (pg->valid == 0)
		pg->key = 0;
}

/* ---- outstanding requests ---- */

static struct mb_pending *pending_find(struct mb_state *s, uint16_t tid, uint8_t unit)
{
	if (s->pending == NULL)
		return NULL;
	struct mb_pending *p = &s->pending[tid & (s->n_pending - 1)];
	if (p->seq != 0 && p->tid == tid && p->unit == unit)
		return p;
	for (uint32_t i = 0; i < s->n_pending; i++) {
		p = &s->pending[i];
		if (p->seq != 0 && p->tid == tid && p->unit == unit)
			return p;
	}
	return NULL;
}

/* A slot for a new request: the one with the same key (a retry replaces it), the home
 * slot, any free one, a new one (the table doubles up to MB_PENDING), or the oldest. */
static struct mb_pending *pending_slot(struct mb_state *s, uint16_t tid, uint8_t unit)
{
	if (s->pending == NULL) {
		s->n_pending = MB_PENDING_MIN;
		s->pending = iw_calloc(s->n_pending, sizeof(*s->pending));
	}
	struct mb_pending *p = pending_find(s, tid, unit);
	if (p != NULL)
		return p;
	p = &s->pending[tid & (s->n_pending - 1)];
	if (p->seq == 0)
		return p;
	struct mb_pending *oldest = p;
	for (uint32_t i = 0; i < s->n_pending; i++) {
		p = &s->pending[i];
		if (p->seq == 0)
			return p;
		if (p->seq - oldest->seq > 0x80000000u)
			oldest = p;
	}
	if (s->n_pending < MB_PENDING) {
		struct mb_pending *grown = iw_calloc((size_t)s->n_pending * 2, sizeof(*grown));
		memcpy(grown, s->pending, s->n_pending * sizeof(*grown));
		free(s->pending);
		s->pending = grown;
		s->n_pending *= 2;
		return &s->pending[s->n_pending / 2];
	}
	return oldest;
}

/* ---- PDU decoders: c is past the function code, limited to the PDU ---- */

/* Reads n big-endian registers into the scratch array (at most max_items of them). */
static void read_regs(struct mb_state *s, struct iw_ev_modbus *m, struct iw_cur *c, uint32_t n)
{
	uint32_t keep = cap_items(s, n, IW_MODBUS_MAX_REGS);
	for (uint32_t i = 0; i < n && !c->err; i++) {
		uint16_t v = iw_cur_be16(c);
		if (i < keep)
			s->x->regs[i] = v;
	}
	m->values = s->x->regs;
	m->n_values = (uint16_t)keep;
	m->values_total = (uint16_t)n;
}

/* Unpacks n coils (LSB first) from the next bytes of c (at most max_items of them). */
static void read_bits(struct mb_state *s, struct iw_ev_modbus *m, struct iw_cur *c, uint32_t n)
{
	uint32_t keep = cap_items(s, n, IW_MODBUS_MAX_COILS);
	uint8_t byte = 0;
	for (uint32_t i = 0; i < n && !c->err; i++) {
		if (i % 8 == 0)
			byte = iw_cur_u8(c);
		if (i < keep)
			s->x->coils[i] = (uint8_t)(byte >> (i % 8) & 1);
	}
	m->coils = s->x->coils;
	m->n_coils = (uint16_t)keep;
	m->coils_total = (uint16_t)n;
}

/* Records a write of value at addr: old from the tracking table, then the table set. */
static void add_write(struct mb_state *s, struct iw_ev_modbus *m, uint32_t space, uint16_t addr,
                      uint16_t value, uint32_t index)
{
	struct mb_page *pg = track_page(s, page_key(m->unit_id, space, addr));
	unsigned i = addr & (MB_PAGE - 1);
	if (index < cap_items(s, IW_MODBUS_MAX_WRITES, IW_MODBUS_MAX_WRITES)) {
		struct iw_modbus_write *w = &s->x->writes[index];
		w->address = addr;
		w->new_value = value;
		w->has_old = pg->valid >> i & 1;
		w->old_value = w->has_old ? pg->vals[i] : 0;
		m->n_writes = (uint16_t)(index + 1);
	}
	m->writes = s->x->writes;
	m->writes_total = (uint16_t)(index + 1);
	pg->vals[i] = value;
	pg->valid |= (uint16_t)(1u << i);
}

static enum mb_bad req_coil_value(uint16_t v, uint8_t *bit)
{
	if (v == 0xff00) {
		*bit = 1;
		return MB_OK;
	}
	*bit = 0;
	return v == 0 ? MB_OK : MB_COIL_VALUE;
}

static void read_files(struct mb_state *s, struct iw_ev_modbus *m, struct iw_cur *c, bool with_data)
{
	uint32_t n = 0;
	while (iw_cur_left(c) >= 7) {
		struct iw_modbus_file_ref f;
		f.ref_type = iw_cur_u8(c);
		f.file = iw_cur_be16(c);
		f.record = iw_cur_be16(c);
		f.length = iw_cur_be16(c);
		if (with_data)
			iw_cur_skip(c, (size_t)f.length * 2);
		if (c->err)
			break;
		if (n < cap_items(s, IW_MODBUS_MAX_FILES, IW_MODBUS_MAX_FILES)) {
			s->x->files[n] = f;
			m->n_files = (uint16_t)(n + 1);
		}
		n++;
	}
	m->files = s->x->files;
	m->files_total = (uint16_t)n;
}

static void umas(struct iw_ev_modbus *m, struct iw_cur *c)
{
	m->has_umas_session = true;
	m->umas_session = iw_cur_u8(c);
	m->has_sub_function = true;
	m->sub_function = iw_cur_u8(c);
	iw_cur_rest(c); /* UMAS payloads are Schneider's own */
}

static void mei(struct iw_ev_modbus *m, struct iw_cur *c)
{
	m->has_sub_function = true;
	m->sub_function = iw_cur_u8(c);
	m->sub_function_name = m->sub_function == 14   ? "read_device_identification"
	                       : m->sub_function == 13 ? "canopen_general_reference"
	                                               : NULL;
}

static enum mb_bad decode_request(struct mb_state *s, struct iw_ev_modbus *m, struct iw_cur *c)
{
	uint8_t fc = m->function;
	uint8_t bit;
	enum mb_bad bad = MB_OK;
	switch (fc) {
	case 1:
	case 2:
	case 3:
	case 4:
		m->address = iw_cur_be16(c);
		m->quantity = iw_cur_be16(c);
		m->has_address = m->has_quantity = true;
		break;
	case 5: {
		m->address = iw_cur_be16(c);
		m->has_address = true;
		uint16_t v = iw_cur_be16(c);
		if (c->err)
			break;
		bad = req_coil_value(v, &bit);
		s->x->coils[0] = bit;
		m->coils = s->x->coils;
		m->n_coils = m->coils_total = 1;
		if (bad == MB_OK)
			add_write(s, m, MB_SPACE_COIL, m->address, bit, 0);
		break;
	}
	case 6: {
		m->address = iw_cur_be16(c);
		m->has_address = true;
		uint16_t v = iw_cur_be16(c);
		if (!c->err)
			add_write(s, m, MB_SPACE_REG, m->address, v, 0);
		break;
	}
	case 8:
		m->has_sub_function = true;
		m->sub_function = iw_cur_be16(c);
		m->sub_function_name = diag_name(m->sub_function);
		read_regs(s, m, c, (uint32_t)iw_cur_left(c) / 2);
		break;
	case 15:
	case 16: {
		m->address = iw_cur_be16(c);
		m->quantity = iw_cur_be16(c);
		m->has_address = m->has_quantity = true;
		m->has_byte_count = true;
		m->byte_count = iw_cur_u8(c);
		if (c->err)
			break;
		uint32_t want = fc == 15 ? ((uint32_t)m->quantity + 7) / 8 : (uint32_t)m->quantity * 2;
		if (m->byte_count != want || iw_cur_left(c) != m->byte_count) {
			if (iw_cur_left(c) < m->byte_count)
				return MB_TRUNCATED;
			bad = MB_BYTE_COUNT;
			break; /* which of quantity and byte count to believe is unknown: neither */
		}
		struct iw_cur d = iw_cur_sub(c, m->byte_count);
		if (fc == 15) {
			struct iw_cur b = d;
			read_bits(s, m, &d, m->quantity);
			uint8_t byte = 0;
			for (uint32_t i = 0; i < m->quantity; i++) {
				if (i % 8 == 0)
					byte = iw_cur_u8(&b);
				add_write(s, m, MB_SPACE_COIL, (uint16_t)(m->address + i),
				          byte >> (i % 8) & 1, i);
			}
		} else {
			for (uint32_t i = 0; i < m->quantity; i++)
				add_write(s, m, MB_SPACE_REG, (uint16_t)(m->address + i), iw_cur_be16(&d), i);
		}
		break;
	}
	case 20:
	case 21:
		m->has_byte_count = true;
		m->byte_count = iw_cur_u8(c);
		if (c->err)
			break;
		if (iw_cur_left(c) != m->byte_count)
			bad = iw_cur_left(c) < m->byte_count ? MB_TRUNCATED : MB_BYTE_COUNT;
		read_files(s, m, c, fc == 21);
		break;
	case 22: {
		m->address = iw_cur_be16(c);
		m->has_address = true;
		m->has_masks = true;
		m->and_mask = iw_cur_be16(c);
		m->or_mask = iw_cur_be16(c);
		if (c->err)
			break;
		/* the result depends on the register's current value */
		uint16_t old;
		if (track_get(s, m->unit_id, MB_SPACE_REG, m->address, &old))
			add_write(s, m, MB_SPACE_REG, m->address,
			          (uint16_t)((old & m->and_mask) | (m->or_mask & ~m->and_mask)), 0);
		break;
	}
	case 23: {
		m->address = iw_cur_be16(c);
		m->quantity = iw_cur_be16(c);
		m->has_address = m->has_quantity = true;
		m->write_address = iw_cur_be16(c);
		m->write_quantity = iw_cur_be16(c);
		m->has_write_range = true;
		m->has_byte_count = true;
		m->byte_count = iw_cur_u8(c);
		if (c->err)
			break;
		if (m->byte_count != (uint32_t)m->write_quantity * 2 || iw_cur_left(c) != m->byte_count) {
			if (iw_cur_left(c) < m->byte_count)
				return MB_TRUNCATED;
			bad = MB_BYTE_COUNT;
			break;
		}
		for (uint32_t i = 0; i < m->write_quantity; i++)
			add_write(s, m, MB_SPACE_REG, (uint16_t)(m->write_address + i), iw_cur_be16(c), i);
		break;
	}
	case 24:
		m->address = iw_cur_be16(c);
		m->has_address = true;
		break;
	case 43:
		mei(m, c);
		if (!c->err && m->sub_function == 14) {
			m->has_devid = true;
			m->devid.read_code = iw_cur_u8(c);
			m->devid.object_id = iw_cur_u8(c);
		} else {
			iw_cur_rest(c);
		}
		break;
	case 90:
		umas(m, c);
		break;
	case 7:
	case 11:
	case 12:
	case 17:
		break;
	default:
		iw_cur_rest(c); /* not a public function: its data is the vendor's */
		break;
	}
	if (c->err)
		return MB_TRUNCATED;
	if (bad == MB_OK && iw_cur_left(c) != 0)
		bad = MB_LENGTH;
	return bad;
}

static void devid_response(struct mb_state *s, struct iw_ev_modbus *m, struct iw_cur *c)
{
	struct iw_modbus_devid *d = &m->devid;
	m->has_devid = true;
	d->read_code = iw_cur_u8(c);
	d->conformity_level = iw_cur_u8(c);
	d->more_follows = iw_cur_u8(c) != 0;
	d->next_object_id = iw_cur_u8(c);
	d->n_objects_total = iw_cur_u8(c);
	d->objects = s->x->objects;
	for (uint32_t i = 0; i < d->n_objects_total && !c->err; i++) {
		uint8_t id = iw_cur_u8(c);
		uint8_t len = iw_cur_u8(c);
		const uint8_t *v;
		if (!iw_cur_bytes(c, len, &v))
			break;
		if (i < cap_items(s, IW_MODBUS_MAX_OBJECTS, IW_MODBUS_MAX_OBJECTS)) {
			struct iw_modbus_object *o = &s->x->objects[i];
			o->id = id;
			o->name = object_name(id);
			o->value = (const char *)v;
			o->len = len;
			d->n_objects = (uint16_t)(i + 1);
		}
		if (id == 0) {
			d->vendor_name = (const char *)v;
			d->vendor_name_len = len;
		} else if (id == 1) {
			d->product_code = (const char *)v;
			d->product_code_len = len;
		} else if (id == 2) {
			d->revision = (const char *)v;
			d->revision_len = len;
		}
	}
}

/* Reads the values of a read response (FC 1-4, 23) and keeps those of holding
 * registers and coils for write tracking. */
static enum mb_bad read_response(struct mb_state *s, struct iw_ev_modbus *m, struct iw_cur *c,
                                 const struct mb_pending *req)
{
	uint8_t fc = m->function;
	bool bits = fc == 1 || fc == 2;
	m->has_byte_count = true;
	m->byte_count = iw_cur_u8(c);
	if (c->err)
		return MB_TRUNCATED;
	if (iw_cur_left(c) < m->byte_count)
		return MB_TRUNCATED;
	enum mb_bad bad = iw_cur_left(c) > m->byte_count ? MB_LENGTH : MB_OK;
	bool known = req != NULL && req->function == fc && req->has_quantity;
	uint32_t n = bits ? (uint32_t)m->byte_count * 8 : (uint32_t)m->byte_count / 2;
	if (known) {
		uint32_t want = bits ? ((uint32_t)req->quantity + 7) / 8 : (uint32_t)req->quantity * 2;
		if (want != m->byte_count)
			bad = MB_BYTE_COUNT;
		else
			n = req->quantity;
	} else if (!bits && m->byte_count % 2) {
		bad = MB_BYTE_COUNT;
	}
	struct iw_cur d = iw_cur_sub(c, m->byte_count);
	struct iw_cur r = d;
	if (bits)
		read_bits(s, m, &d, n);
	else
		read_regs(s, m, &d, n);
	if (bad != MB_OK || !known || !req->has_address || fc == 2 || fc == 4)
		return bad;
	/* values seen at known addresses become the "old" of later writes */
	track_put_run(s, m->unit_id, bits ? MB_SPACE_COIL : MB_SPACE_REG, req->address, n, &r, bits);
	return bad;
}

static enum mb_bad decode_response(struct mb_state *s, struct iw_ev_modbus *m, struct iw_cur *c,
                                   const struct mb_pending *req)
{
	uint8_t fc = m->function;
	enum mb_bad bad = MB_OK;
	switch (fc) {
	case 1:
	case 2:
	case 3:
	case 4:
	case 23:
		bad = read_response(s, m, c, req);
		if (bad == MB_TRUNCATED)
			return bad;
		iw_cur_rest(c);
		return bad;
	case 5:
	case 6: {
		m->address = iw_cur_be16(c);
		m->has_address = true;
		uint16_t v = iw_cur_be16(c);
		if (c->err)
			break;
		if (fc == 5) {
			uint8_t bit;
			bad = req_coil_value(v, &bit);
			s->x->coils[0] = bit;
			m->coils = s->x->coils;
			m->n_coils = m->coils_total = 1;
		} else {
			s->x->regs[0] = v;
			m->values = s->x->regs;
			m->n_values = m->values_total = 1;
		}
		break;
	}
	case 7:
		m->has_status = true;
		m->status = iw_cur_u8(c);
		break;
	case 8:
		m->has_sub_function = true;
		m->sub_function = iw_cur_be16(c);
		m->sub_function_name = diag_name(m->sub_function);
		read_regs(s, m, c, (uint32_t)iw_cur_left(c) / 2);
		break;
	case 11:
		m->has_status = m->has_event_count = true;
		m->status = iw_cur_be16(c);
		m->event_count = iw_cur_be16(c);
		break;
	case 12:
		m->has_byte_count = true;
		m->byte_count = iw_cur_u8(c);
		m->has_status = m->has_event_count = true;
		m->status = iw_cur_be16(c);
		m->event_count = iw_cur_be16(c);
		m->message_count = iw_cur_be16(c);
		if (c->err)
			break;
		if (m->byte_count < 6 || iw_cur_left(c) != (size_t)m->byte_count - 6)
			bad = iw_cur_left(c) + 6 < m->byte_count ? MB_TRUNCATED : MB_BYTE_COUNT;
		iw_cur_rest(c); /* the event bytes */
		break;
	case 15:
	case 16:
		m->address = iw_cur_be16(c);
		m->quantity = iw_cur_be16(c);
		m->has_address = m->has_quantity = true;
		break;
	case 17: {
		m->has_byte_count = true;
		m->byte_count = iw_cur_u8(c);
		if (c->err)
			break;
		if (iw_cur_left(c) < m->byte_count)
			return MB_TRUNCATED;
		if (iw_cur_left(c) > m->byte_count)
			bad = MB_LENGTH;
		if (m->byte_count == 0)
			break;
		const uint8_t *id;
		iw_cur_bytes(c, (size_t)m->byte_count - 1, &id);
		m->server_id = (const char *)id;
		m->server_id_len = (uint8_t)(m->byte_count - 1);
		m->has_run_indicator = true;
		m->run_indicator = iw_cur_u8(c) != 0;
		iw_cur_rest(c);
		return bad;
	}
	case 20:
		m->has_byte_count = true;
		m->byte_count = iw_cur_u8(c);
		if (c->err)
			break;
		if (iw_cur_left(c) != m->byte_count)
			bad = iw_cur_left(c) < m->byte_count ? MB_TRUNCATED : MB_BYTE_COUNT;
		iw_cur_rest(c); /* sub-responses: length, reference type, registers */
		return bad;
	case 21:
		m->has_byte_count = true;
		m->byte_count = iw_cur_u8(c);
		if (c->err)
			break;
		if (iw_cur_left(c) != m->byte_count)
			bad = iw_cur_left(c) < m->byte_count ? MB_TRUNCATED : MB_BYTE_COUNT;
		read_files(s, m, c, true);
		iw_cur_rest(c);
		return bad;
	case 22:
		m->address = iw_cur_be16(c);
		m->has_address = true;
		m->has_masks = true;
		m->and_mask = iw_cur_be16(c);
		m->or_mask = iw_cur_be16(c);
		break;
	case 24: {
		m->has_byte_count = true;
		m->byte_count = iw_cur_be16(c);
		uint16_t n = iw_cur_be16(c);
		if (c->err)
			break;
		if ((uint32_t)n * 2 + 2 != m->byte_count)
			bad = MB_BYTE_COUNT;
		if (iw_cur_left(c) < (size_t)n * 2)
			return MB_TRUNCATED;
		read_regs(s, m, c, n);
		break;
	}
	case 43:
		mei(m, c);
		if (!c->err && m->sub_function == 14)
			devid_response(s, m, c);
		else
			iw_cur_rest(c);
		break;
	case 90:
		umas(m, c);
		break;
	default:
		iw_cur_rest(c);
		break;
	}
	if (c->err)
		return MB_TRUNCATED;
	if (bad == MB_OK && iw_cur_left(c) != 0)
		bad = MB_LENGTH;
	return bad;
}

static bool is_write(uint8_t fc)
{
	return fc == 5 || fc == 6 || fc == 15 || fc == 16 || fc == 22 || fc == 23;
}

/* A write the server refused changed nothing: what was recorded for it is unknown now. */
static void forget_writes(struct mb_state *s, const struct mb_pending *req)
{
	uint32_t space = req->function == 5 || req->function == 15 ? MB_SPACE_COIL : MB_SPACE_REG;
	uint16_t addr = req->function == 23 ? req->write_address : req->address;
	uint32_t n = req->function == 15 || req->function == 16 ? req->quantity
	             : req->function == 23                      ? req->write_quantity
	                                                        : 1;
	for (uint32_t i = 0; i < n; i++)
		track_forget(s, req->unit, space, (uint16_t)(addr + i));
}

/* One ADU: tid and mlen from the MBAP header, c over the unit id and the PDU. */
static void decode_adu(struct mb_state *s, struct iw_parse_ctx *ctx, int dir, uint16_t tid, uint16_t mlen,
                       struct iw_cur *c)
{
	struct mb_scratch x; /* not cleared: only the first n_* of each array are read */
	s->x = &x;
	struct iw_event ev; /* 1.7 kB for every kind's member: clear only the common part and ours */
	memset(&ev, 0, offsetof(struct iw_event, u) + sizeof(ev.u.modbus));
	ev.kind = IW_EV_MODBUS;
	struct iw_ev_modbus *m = &ev.u.modbus;
	m->transaction_id = tid;
	m->length = mlen;
	m->unit_id = iw_cur_u8(c);
	uint8_t fc = iw_cur_u8(c);
	m->function = fc & 0x7f;
	m->function_name = function_name(m->function);
	enum mb_bad bad = MB_OK;
	if (fc & 0x80) {
		m->type = IW_MODBUS_EXCEPTION;
		m->exception_code = iw_cur_u8(c);
		m->exception = exception_name(m->exception_code);
		bad = c->err ? MB_TRUNCATED : iw_cur_left(c) ? MB_LENGTH : MB_OK;
	} else {
		m->type = dir == IW_DIR_TOSERVER ? IW_MODBUS_REQUEST : IW_MODBUS_RESPONSE;
	}

	struct mb_pending *req = NULL;
	if (dir == IW_DIR_TOCLIENT) {
		req = pending_find(s, tid, m->unit_id);
		if (req != NULL) {
			m->has_request = true;
			m->req_function = req->function;
			m->req_has_address = req->has_address;
			m->req_has_quantity = req->has_quantity;
			m->req_address = req->address;
			m->req_quantity = req->quantity;
			m->rtt_us = ctx->ts_us > req->ts_us ? ctx->ts_us - req->ts_us : 0;
		}
	}

	if (m->type == IW_MODBUS_EXCEPTION) {
		if (req != NULL && is_write(req->function))
			forget_writes(s, req);
	} else if (m->type == IW_MODBUS_REQUEST) {
		bad = decode_request(s, m, c);
		struct mb_pending *p = pending_slot(s, tid, m->unit_id);
		if (++s->seq == 0)
			s->seq = 1; /* 0 marks a free slot */
		p->seq = s->seq;
		p->tid = tid;
		p->unit = m->unit_id;
		p->function = m->function;
		p->has_address = m->has_address;
		p->has_quantity = m->has_quantity;
		p->address = m->address;
		p->quantity = m->quantity;
		p->has_write = m->has_write_range;
		p->write_address = m->write_address;
		p->write_quantity = m->write_quantity;
		p->ts_us = ctx->ts_us;
	} else {
		bad = decode_response(s, m, c, req);
	}
	if (req != NULL)
		req->seq = 0;
	if (mlen > 254)
		bad = MB_LENGTH; /* framed (MB_LONGEST), but longer than any PDU may be */
	if (bad != MB_OK) {
		m->malformed = bad_event[bad];
		ctx->anomaly(ctx, bad_anomaly[bad]);
	}
	ctx->emit(ctx, &ev);
	s->x = NULL;
}

/* A plausible MBAP header at c's position: protocol id 0, length 2..254, a known
 * function. Needs 8 bytes. */
static bool plausible(struct iw_cur *c)
{
	struct iw_cur h = *c;
	iw_cur_skip(&h, 2);
	uint16_t proto = iw_cur_be16(&h);
	uint16_t mlen = iw_cur_be16(&h);
	iw_cur_skip(&h, 1);
	uint8_t fc = iw_cur_u8(&h);
	return !h.err && proto == 0 && mlen >= 2 && mlen <= 254 && known_function(fc);
}

/* Scans from offset from for a plausible header. Returns the bytes before it (> 0),
 * 0 when it is at the start (resync over), or IW_NEED_MORE. */
static int resync(struct mb_state *s, int dir, const uint8_t *data, size_t len, size_t from)
{
	struct iw_cur c = iw_cur_make(data, len);
	iw_cur_skip(&c, from);
	while (iw_cur_left(&c) >= 8) {
		if (plausible(&c))
			break;
		iw_cur_skip(&c, 1);
	}
	size_t off = (size_t)(c.p - data);
	if (iw_cur_left(&c) < 8 && off == 0)
		return IW_NEED_MORE;
	if (off == 0)
		s->resync[dir] = false;
	return off > (size_t)INT32_MAX ? INT32_MAX : (int)off;
}

static int modbus_parse(void *st, struct iw_parse_ctx *ctx, int dir, const uint8_t *data, size_t len)
{
	struct mb_state *s = st;
	dir = dir == IW_DIR_TOSERVER ? IW_DIR_TOSERVER : IW_DIR_TOCLIENT;
	if (s->resync[dir]) {
		int rc = resync(s, dir, data, len, 0);
		if (rc != 0)
			return rc;
	}
	struct iw_cur c = iw_cur_make(data, len);
	uint16_t tid = iw_cur_be16(&c);
	uint16_t proto = iw_cur_be16(&c);
	uint16_t mlen = iw_cur_be16(&c);
	if (c.err)
		return IW_NEED_MORE;
	if (proto != 0 || mlen < 2 || mlen > MB_LONGEST) {
		ctx->anomaly(ctx, proto != 0 ? "modbus.protocol_id" : "modbus.length");
		s->resync[dir] = true;
		int rc = resync(s, dir, data, len, 1);
		return rc == 0 ? 1 : rc; /* 0 cannot happen from offset 1; be safe */
	}
	if (!iw_cur_has(&c, mlen))
		return IW_NEED_MORE;
	struct iw_cur adu = iw_cur_sub(&c, mlen);
	decode_adu(s, ctx, dir, tid, mlen, &adu);
	return 6 + (int)mlen;
}

static void modbus_gap(void *st, struct iw_parse_ctx *ctx, int dir, uint32_t len)
{
	(void)ctx;
	(void)len;
	struct mb_state *s = st;
	s->resync[dir == IW_DIR_TOSERVER ? IW_DIR_TOSERVER : IW_DIR_TOCLIENT] = true;
}

static void modbus_end(void *st, struct iw_parse_ctx *ctx)
{
	(void)ctx;
	struct mb_state *s = st;
	/* requests never answered are dropped; nothing else is pending */
	for (uint32_t i = 0; i < s->n_pending; i++)
		s->pending[i].seq = 0;
}

const struct iw_parser iw_parser_modbus = {
    .name = "modbus",
    .ipproto = IPPROTO_TCP,
    .ports = {502},
    .ndpi_name = "Modbus",
    .probe = modbus_probe,
    .parse = modbus_parse,
    .state_new = modbus_state_new,
    .state_free = modbus_state_free,
    .gap = modbus_gap,
    .end = modbus_end,
};
