/* test_flow.c - tests the flow table (sensor/flow.c): direction, client side, timeouts, cap, eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parsers/packet.h"
#include "sensor/flow.h"

#define TCP 6
#define UDP 17

/* What on_end saw: the last few flows in order, and a count per flow id. */
struct ended {
	uint64_t id;
	struct iw_flow_key key;
	enum iw_flow_end reason;
};

struct recorder {
	struct ended last[16];
	size_t n; /* calls in all */
	uint64_t by_reason[IW_END__COUNT];
	uint8_t *per_id; /* times each id ended, when set */
	size_t per_id_len;
	bool twice; /* some id ended more than once */
};

static void on_end(void *arg, struct iw_flow *f, enum iw_flow_end reason)
{
	struct recorder *r = arg;
	assert_true((unsigned)reason < IW_END__COUNT);
	if (r->n < sizeof(r->last) / sizeof(r->last[0]))
		r->last[r->n] = (struct ended){f->id, f->key, reason};
	r->n++;
	r->by_reason[reason]++;
	if (r->per_id) {
		assert_true(f->id < r->per_id_len);
		if (r->per_id[f->id]++)
			r->twice = true;
	}
}

static const struct iw_flow_limits limits = {
    .max_flows = 1000,
    .timeout_us = {[IW_FC_TCP] = 100, [IW_FC_TCP_CLOSED] = 10, [IW_FC_UDP] = 50},
};

static struct iw_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct iw_addr x = {{a, b, c, d}};
	return x;
}

static struct iw_packet pkt(struct iw_addr src, uint16_t sport, struct iw_addr dst, uint16_t dport,
                            uint8_t proto, uint8_t flags, uint64_t ts)
{
	struct iw_packet p;
	memset(&p, 0, sizeof(p));
	p.ts_us = ts;
	p.key.src = src;
	p.key.dst = dst;
	p.key.sport = sport;
	p.key.dport = dport;
	p.key.family = 4;
	p.key.proto = proto;
	p.tcp_flags = flags;
	return p;
}

/* What the sensor does with each packet: look the flow up and advance its clock. */
static struct iw_flow *touch(struct iw_flow_table *t, const struct iw_packet *p, int *dir, bool *created)
{
	struct iw_flow *f = iw_flow_lookup(t, p, dir, created);
	assert_non_null(f);
	if (p->ts_us > f->last_us)
		f->last_us = p->ts_us;
	return f;
}

static void assert_addr(const struct iw_addr *a, struct iw_addr want)
{
	assert_memory_equal(a->b, want.b, sizeof(want.b));
}

static void test_both_directions_one_flow(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	struct iw_flow_table *t = iw_flow_table_new(&limits, NULL, on_end, &r);
	struct iw_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
	int dir;
	bool created;
	struct iw_packet p = pkt(a, 50000, b, 1883, TCP, IW_TCP_SYN, 1);
	struct iw_flow *f = touch(t, &p, &dir, &created);
	assert_true(created);
	assert_int_equal(dir, IW_DIR_TOSERVER);
	assert_addr(&f->key.src, a);
	assert_int_equal(f->key.sport, 50000);
	assert_int_equal(f->key.dport, 1883);
	assert_int_equal(f->first_us, 1);

	p = pkt(b, 1883, a, 50000, TCP, IW_TCP_SYN | IW_TCP_ACK, 2);
	assert_ptr_equal(touch(t, &p, &dir, &created), f);
	assert_false(created);
	assert_int_equal(dir, IW_DIR_TOCLIENT);
	p = pkt(a, 50000, b, 1883, TCP, IW_TCP_ACK, 3);
	assert_ptr_equal(touch(t, &p, &dir, &created), f);
	assert_false(created);
	assert_int_equal(dir, IW_DIR_TOSERVER);
	assert_int_equal(f->last_us, 3);
	assert_int_equal(iw_flow_count(t), 1);
	assert_int_equal(iw_flow_total(t), 1);

	/* another source port is another flow */
	p = pkt(a, 50001, b, 1883, TCP, IW_TCP_SYN, 4);
	assert_ptr_not_equal(touch(t, &p, &dir, &created), f);
	assert_true(created);
	assert_int_equal(iw_flow_count(t), 2);
	iw_flow_table_free(t);
	assert_int_equal(r.n, 2);
}

static void test_syn_sender_is_client(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	uint8_t ports[8192] = {0};
	ports[1883 / 8] |= 1u << (1883 % 8);
	struct iw_flow_table *t = iw_flow_table_new(&limits, ports, on_end, &r);
	struct iw_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
	int dir;
	bool created;
	/* a SYN decides even against the port hint: here the sender uses 1883 as its port */
	struct iw_packet p = pkt(b, 1883, a, 50000, TCP, IW_TCP_SYN, 1);
	struct iw_flow *f = touch(t, &p, &dir, &created);
	assert_true(created);
	assert_int_equal(dir, IW_DIR_TOSERVER);
	assert_addr(&f->key.src, b);
	assert_int_equal(f->key.sport, 1883);
	assert_int_equal(f->key.dport, 50000);
	iw_flow_table_free(t);
}

static void test_synack_first_receiver_is_client(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	struct iw_flow_table *t = iw_flow_table_new(&limits, NULL, on_end, &r);
	struct iw_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
	int dir;
	bool created;
	struct iw_packet p = pkt(b, 1883, a, 50000, TCP, IW_TCP_SYN | IW_TCP_ACK, 1);
	struct iw_flow *f = touch(t, &p, &dir, &created);
	assert_true(created);
	assert_int_equal(dir, IW_DIR_TOCLIENT);
	assert_addr(&f->key.src, a);
	assert_addr(&f->key.dst, b);
	assert_int_equal(f->key.sport, 50000);
	assert_int_equal(f->key.dport, 1883);
	p = pkt(a, 50000, b, 1883, TCP, IW_TCP_ACK, 2);
	assert_ptr_equal(touch(t, &p, &dir, &created), f);
	assert_int_equal(dir, IW_DIR_TOSERVER);
	iw_flow_table_free(t);
}

static void test_midstream_server_port(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	uint8_t ports[8192] = {0};
	ports[1883 / 8] |= 1u << (1883 % 8);
	ports[5683 / 8] |= 1u << (5683 % 8);
	struct iw_flow_table *t = iw_flow_table_new(&limits, ports, on_end, &r);
	struct iw_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
	int dir;
	bool created;

	/* picked up mid-stream, the broker (1883) talking: 50000 is the client */
	struct iw_packet p = pkt(b, 1883, a, 50000, TCP, IW_TCP_ACK | IW_TCP_PSH, 1);
	struct iw_flow *f = touch(t, &p, &dir, &created);
	assert_true(created);
	assert_int_equal(dir, IW_DIR_TOCLIENT);
	assert_addr(&f->key.src, a);
	assert_int_equal(f->key.sport, 50000);
	assert_int_equal(f->key.dport, 1883);

	/* the same for UDP */
	p = pkt(b, 5683, a, 40000, UDP, 0, 2);
	f = touch(t, &p, &dir, &created);
	assert_int_equal(dir, IW_DIR_TOCLIENT);
	assert_int_equal(f->key.sport, 40000);
	assert_int_equal(f->key.dport, 5683);

	/* ports below 1024 are service ports without being listed */
	p = pkt(b, 502, a, 50002, TCP, IW_TCP_ACK, 3);
	f = touch(t, &p, &dir, &created);
	assert_int_equal(dir, IW_DIR_TOCLIENT);
	assert_int_equal(f->key.dport, 502);

	iw_flow_table_free(t);

	/* without the map, an unlisted port against one in the ephemeral range: the
	 * ephemeral side is the client */
	t = iw_flow_table_new(&limits, NULL, on_end, &r);
	p = pkt(b, 8080, a, 50000, TCP, IW_TCP_ACK, 1);
	f = touch(t, &p, &dir, &created);
	assert_int_equal(dir, IW_DIR_TOCLIENT);
	assert_int_equal(f->key.sport, 50000);
	assert_int_equal(f->key.dport, 8080);
	iw_flow_table_free(t);
}

static void test_vlan_separates_flows(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	struct iw_flow_table *t = iw_flow_table_new(&limits, NULL, on_end, &r);
	struct iw_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
	int dir;
	bool created;
	struct iw_packet p = pkt(a, 50000, b, 1883, TCP, IW_TCP_SYN, 1);
	p.key.vlan = 10;
	struct iw_flow *f10 = touch(t, &p, &dir, &created);
	assert_true(created);
	p.key.vlan = 20;
	struct iw_flow *f20 = touch(t, &p, &dir, &created);
	assert_true(created);
	assert_ptr_not_equal(f10, f20);
	assert_int_equal(f20->key.vlan, 20);
	p = pkt(b, 1883, a, 50000, TCP, IW_TCP_SYN | IW_TCP_ACK, 2);
	p.key.vlan = 20;
	assert_ptr_equal(touch(t, &p, &dir, &created), f20);
	assert_int_equal(dir, IW_DIR_TOCLIENT);
	p.key.vlan = 0; /* untagged: a third flow */
	touch(t, &p, &dir, &created);
	assert_true(created);
	assert_int_equal(iw_flow_count(t), 3);
	iw_flow_table_free(t);
}

static void test_family_and_proto_separate_flows(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	struct iw_flow_table *t = iw_flow_table_new(&limits, NULL, on_end, &r);
	struct iw_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
	int dir;
	bool created;
	struct iw_packet p4 = pkt(a, 50000, b, 1883, TCP, IW_TCP_SYN, 1);
	struct iw_flow *f4 = touch(t, &p4, &dir, &created);
	/* the same 16 address bytes (a00:1:: and a00:2::) as IPv6 */
	struct iw_packet p6 = p4;
	p6.key.family = 6;
	struct iw_flow *f6 = touch(t, &p6, &dir, &created);
	assert_true(created);
	assert_ptr_not_equal(f4, f6);
	assert_int_equal(f6->key.family, 6);
	/* the same tuple over UDP */
	struct iw_packet pu = p4;
	pu.key.proto = UDP;
	pu.tcp_flags = 0;
	struct iw_flow *fu = touch(t, &pu, &dir, &created);
	assert_true(created);
	assert_ptr_not_equal(fu, f4);
	assert_int_equal(fu->fclass, IW_FC_UDP);
	assert_int_equal(f4->fclass, IW_FC_TCP);
	/* each is found again */
	assert_ptr_equal(touch(t, &p4, &dir, &created), f4);
	assert_ptr_equal(touch(t, &p6, &dir, &created), f6);
	assert_ptr_equal(touch(t, &pu, &dir, &created), fu);
	assert_int_equal(iw_flow_count(t), 3);
	iw_flow_table_free(t);
}

static void test_timeouts_per_class(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	struct iw_flow_table *t = iw_flow_table_new(&limits, NULL, on_end, &r);
	struct iw_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
	int dir;
	bool created;
	struct iw_packet p = pkt(a, 50000, b, 1883, TCP, IW_TCP_SYN, 1000);
	struct iw_flow *tcp = touch(t, &p, &dir, &created);
	uint64_t tcp_id = tcp->id;
	p = pkt(a, 40000, b, 5683, UDP, 0, 1000);
	uint64_t udp_id = touch(t, &p, &dir, &created)->id;
	p = pkt(a, 50001, b, 1883, TCP, IW_TCP_SYN, 1000);
	struct iw_flow *fin = touch(t, &p, &dir, &created);
	uint64_t fin_id = fin->id;
	fin->closed = true; /* as the sensor does after FIN both ways */
	fin->close_reason = IW_END_FIN;
	iw_flow_set_class(t, fin, IW_FC_TCP_CLOSED);
	p = pkt(a, 50002, b, 1883, TCP, IW_TCP_SYN, 1000);
	struct iw_flow *rst = touch(t, &p, &dir, &created);
	uint64_t rst_id = rst->id;
	rst->closed = true;
	rst->close_reason = IW_END_RST;
	iw_flow_set_class(t, rst, IW_FC_TCP_CLOSED);

	iw_flow_expire(t, 1009);
	assert_int_equal(r.n, 0);
	iw_flow_expire(t, 1010); /* idle exactly the closed timeout */
	assert_int_equal(r.n, 2);
	assert_int_equal(r.last[0].id, fin_id);
	assert_int_equal(r.last[0].reason, IW_END_FIN);
	assert_int_equal(r.last[1].id, rst_id);
	assert_int_equal(r.last[1].reason, IW_END_RST);

	iw_flow_expire(t, 1049);
	assert_int_equal(r.n, 2);
	iw_flow_expire(t, 1050);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.last[2].id, udp_id);
	assert_int_equal(r.last[2].reason, IW_END_TIMEOUT);

	/* activity pushes the TCP flow's end out */
	p = pkt(b, 1883, a, 50000, TCP, IW_TCP_ACK, 1080);
	assert_ptr_equal(touch(t, &p, &dir, &created), tcp);
	iw_flow_expire(t, 1100);
	assert_int_equal(r.n, 3);
	iw_flow_expire(t, 1179);
	assert_int_equal(r.n, 3);
	iw_flow_expire(t, 1180);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.last[3].id, tcp_id);
	assert_int_equal(r.last[3].reason, IW_END_TIMEOUT);
	assert_int_equal(iw_flow_count(t), 0);
	iw_flow_table_free(t);
	assert_int_equal(r.n, 4);
}

static void test_eviction_at_cap(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	struct iw_flow_limits lim = limits;
	lim.max_flows = 3;
	struct iw_flow_table *t = iw_flow_table_new(&lim, NULL, on_end, &r);
	struct iw_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
	int dir;
	bool created;
	struct iw_packet pa = pkt(a, 50001, b, 1883, TCP, IW_TCP_SYN, 1);
	struct iw_packet pb = pkt(a, 50002, b, 1883, TCP, IW_TCP_SYN, 2);
	struct iw_packet pc = pkt(a, 50003, b, 1883, TCP, IW_TCP_SYN, 3);
	struct iw_packet pd = pkt(a, 50004, b, 1883, TCP, IW_TCP_SYN, 5);
	struct iw_flow *fa = touch(t, &pa, &dir, &created);
	uint64_t b_id = touch(t, &pb, &dir, &created)->id;
	struct iw_flow *fc = touch(t, &pc, &dir, &created);
	pa.ts_us = 4; /* A is active again: B is now the oldest idle */
	touch(t, &pa, &dir, &created);
	struct iw_flow *fd = touch(t, &pd, &dir, &created);
	assert_true(created);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.last[0].reason, IW_END_EVICTED);
	assert_int_equal(r.last[0].id, b_id);
	assert_int_equal(r.last[0].key.sport, 50002);
	assert_int_equal(iw_flow_evicted(t), 1);
	assert_int_equal(iw_flow_count(t), 3);
	assert_ptr_equal(touch(t, &pa, &dir, &created), fa);
	assert_false(created);
	assert_ptr_equal(touch(t, &pc, &dir, &created), fc);
	assert_false(created);
	assert_ptr_equal(touch(t, &pd, &dir, &created), fd);
	assert_false(created);
	assert_int_equal(r.n, 1);
	iw_flow_table_free(t);

	/* the oldest idle across classes: a UDP flow idle longer than every TCP flow */
	memset(&r, 0, sizeof(r));
	lim.max_flows = 2;
	t = iw_flow_table_new(&lim, NULL, on_end, &r);
	struct iw_packet pu = pkt(a, 40000, b, 5683, UDP, 0, 1);
	struct iw_packet px = pkt(a, 50001, b, 1883, TCP, IW_TCP_SYN, 2);
	struct iw_packet py = pkt(a, 50002, b, 1883, TCP, IW_TCP_SYN, 3);
	uint64_t u_id = touch(t, &pu, &dir, &created)->id;
	touch(t, &px, &dir, &created);
	touch(t, &py, &dir, &created);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.last[0].id, u_id);
	assert_int_equal(r.last[0].reason, IW_END_EVICTED);
	iw_flow_table_free(t);
}

static void test_free_ends_the_rest(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	struct iw_flow_table *t = iw_flow_table_new(&limits, NULL, on_end, &r);
	struct iw_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
	int dir;
	bool created;
	struct iw_packet p = pkt(a, 50001, b, 1883, TCP, IW_TCP_SYN, 1);
	touch(t, &p, &dir, &created);
	p = pkt(a, 40000, b, 5683, UDP, 0, 2);
	touch(t, &p, &dir, &created);
	p = pkt(a, 50002, b, 1883, TCP, IW_TCP_SYN, 3);
	struct iw_flow *f = touch(t, &p, &dir, &created);
	f->closed = true;
	f->close_reason = IW_END_RST;
	iw_flow_set_class(t, f, IW_FC_TCP_CLOSED);
	iw_flow_table_free(t);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.by_reason[IW_END_SHUTDOWN], 2);
	assert_int_equal(r.by_reason[IW_END_RST], 1);
	iw_flow_table_free(NULL); /* nothing to do */
}

/* The bucket hash is keyed per table (sensor/seed.h): the same 5-tuples hash apart in two
 * tables, so collisions worked out against one run do not carry to another; within a
 * table both directions of a flow hash alike, and lookups still find their flows. */
static void test_keyed_hash(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	struct iw_flow_table *t1 = iw_flow_table_new(&limits, NULL, on_end, &r);
	struct iw_flow_table *t2 = iw_flow_table_new(&limits, NULL, on_end, &r);
	unsigned differ = 0;
	for (uint16_t port = 1000; port < 1100; port++) {
		struct iw_packet p = pkt(v4(10, 0, 0, 1), port, v4(10, 0, 0, 2), 1883, TCP, IW_TCP_SYN, 1);
		struct iw_packet q = pkt(v4(10, 0, 0, 2), 1883, v4(10, 0, 0, 1), port, TCP, IW_TCP_ACK, 2);
		uint64_t h1 = iw_flow_prefetch_bucket(t1, &p.key), h2 = iw_flow_prefetch_bucket(t2, &p.key);
		assert_int_equal(iw_flow_prefetch_bucket(t1, &q.key), h1);
		differ += h1 != h2;
		int dir;
		bool created;
		struct iw_flow *f = touch(t1, &p, &dir, &created);
		assert_true(created);
		assert_ptr_equal(touch(t1, &q, &dir, &created), f);
		assert_false(created);
		assert_int_equal(dir, IW_DIR_TOCLIENT);
	}
	assert_int_equal(differ, 100);
	iw_flow_table_free(t1);
	iw_flow_table_free(t2);
}

static void test_counters(void **state)
{
	(void)state;
	struct recorder r = {.n = 0};
	struct iw_flow_table *t = iw_flow_table_new(&limits, NULL, on_end, &r);
	struct iw_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
	int dir;
	bool created;
	struct iw_flow *f[5];
	for (int i = 0; i < 5; i++) {
		struct iw_packet p = pkt(a, (uint16_t)(50000 + i), b, 1883, TCP, IW_TCP_SYN, (uint64_t)i);
		f[i] = touch(t, &p, &dir, &created);
		assert_int_equal(f[i]->id, i + 1); /* ids count from 1 */
	}
	assert_int_equal(iw_flow_count(t), 5);
	assert_int_equal(iw_flow_peak(t), 5);
	assert_int_equal(iw_flow_total(t), 5);
	iw_flow_end(t, f[1], IW_END_FIN);
	iw_flow_end(t, f[3], IW_END_RST);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.last[0].reason, IW_END_FIN);
	assert_int_equal(iw_flow_count(t), 3);
	assert_int_equal(iw_flow_peak(t), 5);
	assert_int_equal(iw_flow_total(t), 5);
	/* an ended flow comes back as a new one */
	struct iw_packet p = pkt(a, 50001, b, 1883, TCP, IW_TCP_SYN, 9);
	struct iw_flow *again = touch(t, &p, &dir, &created);
	assert_true(created);
	assert_int_equal(again->id, 6);
	assert_int_equal(iw_flow_count(t), 4);
	assert_int_equal(iw_flow_peak(t), 5);
	assert_int_equal(iw_flow_total(t), 6);
	assert_int_equal(iw_flow_evicted(t), 0);
	iw_flow_table_free(t);
	assert_int_equal(r.n, 6);
}

/* More flows than the initial buckets: the table grows and finds every flow again. */
static void test_grow_keeps_flows(void **state)
{
	(void)state;
	enum { N = 12000 };
	struct recorder r = {.n = 0};
	struct iw_flow_limits lim = limits;
	lim.max_flows = 2 * N;
	struct iw_flow_table *t = iw_flow_table_new(&lim, NULL, on_end, &r);
	uint64_t *ids = calloc(N, sizeof(*ids));
	assert_non_null(ids);
	int dir;
	bool created;
	for (int i = 0; i < N; i++) {
		struct iw_packet p = pkt(v4(10, 1, (uint8_t)(i >> 8), (uint8_t)i), 50000, v4(10, 0, 0, 2),
		                         1883, TCP, IW_TCP_SYN, (uint64_t)i);
		ids[i] = touch(t, &p, &dir, &created)->id;
		assert_true(created);
	}
	for (int i = 0; i < N; i++) {
		struct iw_packet p = pkt(v4(10, 0, 0, 2), 1883, v4(10, 1, (uint8_t)(i >> 8), (uint8_t)i),
		                         50000, TCP, IW_TCP_ACK, (uint64_t)(N + i));
		struct iw_flow *f = touch(t, &p, &dir, &created);
		assert_false(created);
		assert_int_equal(dir, IW_DIR_TOCLIENT);
		assert_int_equal(f->id, ids[i]);
	}
	assert_int_equal(iw_flow_count(t), N);
	iw_flow_table_free(t);
	assert_int_equal(r.n, N);
	free(ids);
}

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: the same sequence on every run */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static struct iw_packet random_packet(uint64_t *s, uint64_t ts)
{
	struct iw_packet p;
	memset(&p, 0, sizeof(p));
	p.ts_us = ts;
	uint64_t x = rnd(s);
	p.key.family = x & 1 ? 6 : 4;
	p.key.proto = x & 2 ? TCP : UDP;
	p.key.vlan = x & 4 ? (uint16_t)(x >> 8 & 0xfff) : 0;
	size_t alen = p.key.family == 6 ? 16 : 4;
	uint64_t y = rnd(s), z = rnd(s);
	memcpy(p.key.src.b, &y, alen < 8 ? alen : 8);
	memcpy(p.key.dst.b, &z, alen < 8 ? alen : 8);
	if (alen == 16) {
		p.key.src.b[15] = (uint8_t)(x >> 24);
		p.key.dst.b[15] = (uint8_t)(x >> 32);
	}
	p.key.sport = (uint16_t)(x >> 40);
	p.key.dport = (uint16_t)(x >> 56 | 1);
	static const uint8_t flags[] = {IW_TCP_SYN, IW_TCP_SYN | IW_TCP_ACK, IW_TCP_ACK,
	                                IW_TCP_ACK | IW_TCP_PSH};
	p.tcp_flags = p.key.proto == TCP ? flags[x >> 20 & 3] : 0;
	return p;
}

/* 100000 random flows through a table capped at 1000, with traffic back on recent flows,
 * closes, explicit ends and expiry: the cap always holds and every flow ends once. */
static void test_random_flows_bounded(void **state)
{
	(void)state;
	enum { FLOWS = 100000, CAP = 1000, RECENT = 64 };
	struct recorder r = {.n = 0};
	r.per_id_len = 4 * FLOWS;
	r.per_id = calloc(r.per_id_len, 1);
	assert_non_null(r.per_id);
	struct iw_flow_limits lim = {
	    .max_flows = CAP,
	    .timeout_us = {[IW_FC_TCP] = 2000000, [IW_FC_TCP_CLOSED] = 100000, [IW_FC_UDP] = 500000},
	};
	uint8_t ports[8192] = {0};
	ports[1883 / 8] |= 1u << (1883 % 8);
	struct iw_flow_table *t = iw_flow_table_new(&lim, ports, on_end, &r);
	struct iw_packet recent[RECENT];
	size_t nrecent = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ULL, now = 1000000;
	int dir;
	bool created;
	for (int i = 0; i < FLOWS; i++) {
		now += rnd(&seed) % 200;
		struct iw_packet p = random_packet(&seed, now);
		touch(t, &p, &dir, &created);
		assert_true(iw_flow_count(t) <= CAP);
		recent[nrecent++ % RECENT] = p;

		uint64_t x = rnd(&seed);
		if (x % 4 == 0 && nrecent) {
			/* the other side answers on a recent flow (found, or recreated if ended) */
			struct iw_packet q = recent[x / 4 % (nrecent < RECENT ? nrecent : RECENT)];
			struct iw_packet back = q;
			back.key.src = q.key.dst;
			back.key.dst = q.key.src;
			back.key.sport = q.key.dport;
			back.key.dport = q.key.sport;
			back.tcp_flags = q.key.proto == TCP ? IW_TCP_ACK : 0;
			back.ts_us = now;
			struct iw_flow *f = touch(t, &back, &dir, &created);
			assert_true(iw_flow_count(t) <= CAP);
			if (x % 16 == 4 && f->key.proto == TCP && !f->closed) {
				f->closed = true;
				f->close_reason = x % 32 == 4 ? IW_END_FIN : IW_END_RST;
				iw_flow_set_class(t, f, IW_FC_TCP_CLOSED);
			} else if (x % 64 == 8) {
				iw_flow_end(t, f, IW_END_RST);
			}
		}
		if (i % 997 == 0)
			iw_flow_expire(t, now);
	}
	uint64_t total = iw_flow_total(t);
	assert_true(total >= FLOWS);
	assert_true(total < r.per_id_len);
	assert_int_equal(iw_flow_peak(t), CAP);
	assert_int_equal(iw_flow_evicted(t), r.by_reason[IW_END_EVICTED]);
	assert_true(iw_flow_evicted(t) > 0);
	iw_flow_table_free(t);
	assert_int_equal(r.n, total);
	assert_false(r.twice);
	for (uint64_t id = 1; id <= total; id++) {
		if (r.per_id[id] != 1)
			fail_msg("flow %llu ended %u times", (unsigned long long)id, r.per_id[id]);
	}
	assert_int_equal(r.per_id[0], 0);
	free(r.per_id);
}

/* Every flow ends at the first iw_flow_expire at or after last_us + timeout: never
 * before, never at a later call. */
struct timed {
	uint64_t now, prev; /* this iw_flow_expire call's time, and the one before */
	const struct iw_flow_limits *lim;
	uint64_t ended;
	bool early, too_late;
};

static void on_end_timed(void *arg, struct iw_flow *f, enum iw_flow_end reason)
{
	struct timed *tm = arg;
	if (reason != IW_END_TIMEOUT)
		return;
	uint64_t due = f->last_us + tm->lim->timeout_us[f->fclass];
	tm->ended++;
	if (tm->now < due)
		tm->early = true;
	else if (due <= tm->prev) /* the call before should have ended it */
		tm->too_late = true;
}

static void test_expiry_on_time(void **state)
{
	(void)state;
	enum { PACKETS = 200000, POOL = 300 };
	struct iw_flow_limits lim = {
	    .max_flows = 100000,
	    .timeout_us = {[IW_FC_TCP] = 32000000, [IW_FC_TCP_CLOSED] = 4000000, [IW_FC_UDP] = 8000000},
	};
	struct timed tm = {.lim = &lim};
	struct iw_flow_table *t = iw_flow_table_new(&lim, NULL, on_end_timed, &tm);
	struct iw_packet pool[POOL];
	uint64_t seed = 42, now = 1000000;
	for (int i = 0; i < POOL; i++)
		pool[i] = random_packet(&seed, now);
	int dir;
	bool created;
	for (int i = 0; i < PACKETS; i++) {
		uint64_t x = rnd(&seed);
		now += x % 1000 < 3 ? x % 40000000 : rnd(&seed) % 3000; /* now and then a quiet spell */
		tm.prev = tm.now;
		tm.now = now;
		iw_flow_expire(t, now);
		x = rnd(&seed);
		struct iw_packet p = pool[x / 8 % (x % 8 ? 30 : POOL)]; /* 30 busy keys, the rest rare */
		p.ts_us = now;
		touch(t, &p, &dir, &created);
	}
	assert_false(tm.early);
	assert_false(tm.too_late);
	assert_true(tm.ended > 1000);
	iw_flow_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_both_directions_one_flow),
	    cmocka_unit_test(test_syn_sender_is_client),
	    cmocka_unit_test(test_synack_first_receiver_is_client),
	    cmocka_unit_test(test_midstream_server_port),
	    cmocka_unit_test(test_vlan_separates_flows),
	    cmocka_unit_test(test_family_and_proto_separate_flows),
	    cmocka_unit_test(test_timeouts_per_class),
	    cmocka_unit_test(test_eviction_at_cap),
	    cmocka_unit_test(test_expiry_on_time),
	    cmocka_unit_test(test_free_ends_the_rest),
	    cmocka_unit_test(test_keyed_hash),
	    cmocka_unit_test(test_counters),
	    cmocka_unit_test(test_grow_keeps_flows),
	    cmocka_unit_test(test_random_flows_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
