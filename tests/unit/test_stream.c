/* test_stream.c - TCP reassembly (sensor/stream.c) with crafted segments: handshake,
 * mid-stream pickup, out-of-order, retransmission, overlap (first copy wins), gaps from
 * acknowledgements, budget and flow end, FIN close, sequence wrap-around. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parsers/packet.h"
#include "sensor/stream.h"

/* What the stream delivered: bytes, with each gap written as '#' times its length. */
struct sink {
	char out[4096];
	size_t len;
	unsigned calls, gaps;
};

static void sink_fn(void *arg, const uint8_t *data, uint32_t len)
{
	struct sink *k = arg;
	k->calls++;
	if (!data)
		k->gaps++;
	for (uint32_t i = 0; i < len && k->len + 1 < sizeof(k->out); i++)
		k->out[k->len++] = data ? (char)data[i] : '#';
	k->out[k->len] = '\0';
}

struct fixture {
	struct iw_stream s;
	struct iw_stream_stats st;
	struct sink k;
};

static void seg(struct fixture *f, uint32_t seq, uint8_t flags, const char *data)
{
	iw_stream_segment(&f->s, 65536, seq, flags, (const uint8_t *)data, (uint32_t)strlen(data), sink_fn,
	                  &f->k, &f->st);
}

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	iw_stream_free(&f->s);
	return 0;
}

static void test_handshake_in_order(void **state)
{
	struct fixture *f = *state;
	seg(f, 1000, IW_TCP_SYN, "");
	seg(f, 1001, IW_TCP_ACK, "hello ");
	seg(f, 1007, IW_TCP_ACK | IW_TCP_PSH, "world");
	assert_string_equal(f->k.out, "hello world");
	assert_int_equal(f->st.midstream, 0);
	assert_int_equal(f->s.next_seq, 1012);
}

static void test_midstream_pickup(void **state)
{
	struct fixture *f = *state;
	seg(f, 777777, IW_TCP_ACK, "middle");
	seg(f, 777783, IW_TCP_ACK, " more");
	assert_string_equal(f->k.out, "middle more");
	assert_int_equal(f->st.midstream, 1);
	assert_true(f->s.midstream);
}

static void test_out_of_order_held(void **state)
{
	struct fixture *f = *state;
	seg(f, 0, IW_TCP_SYN, "");
	seg(f, 7, IW_TCP_ACK, "CCC"); /* bytes 7..9 */
	seg(f, 4, IW_TCP_ACK, "BBB"); /* 4..6 */
	assert_string_equal(f->k.out, "");
	assert_int_equal(f->s.held_bytes, 6);
	seg(f, 1, IW_TCP_ACK, "AAA"); /* 1..3 fills the hole */
	assert_string_equal(f->k.out, "AAABBBCCC");
	assert_int_equal(f->s.held_bytes, 0);
	assert_int_equal(f->st.held, 2);
	assert_int_equal(f->k.gaps, 0);
}

static void test_retransmission_dropped(void **state)
{
	struct fixture *f = *state;
	seg(f, 0, IW_TCP_SYN, "");
	seg(f, 1, IW_TCP_ACK, "abcd");
	seg(f, 1, IW_TCP_ACK, "abcd"); /* same segment again */
	seg(f, 3, IW_TCP_ACK, "cd");   /* a part of it */
	seg(f, 5, IW_TCP_ACK, "ef");
	assert_string_equal(f->k.out, "abcdef");
	assert_int_equal(f->st.retransmits, 2);
}

static void test_overlap_first_copy_wins(void **state)
{
	struct fixture *f = *state;
	seg(f, 0, IW_TCP_SYN, "");
	seg(f, 1, IW_TCP_ACK, "abcd");
	/* overlaps delivered bytes 3..4 with different content, brings 5..6 */
	seg(f, 3, IW_TCP_ACK, "XYef");
	assert_string_equal(f->k.out, "abcdef");
	assert_int_equal(f->st.overlaps, 1);
}

static void test_overlap_with_held_first_copy_wins(void **state)
{
	struct fixture *f = *state;
	seg(f, 0, IW_TCP_SYN, "");
	seg(f, 5, IW_TCP_ACK, "EF");     /* held: 5..6 */
	seg(f, 3, IW_TCP_ACK, "CDxyGH"); /* 3..8: 5..6 already held, must stay "EF" */
	seg(f, 1, IW_TCP_ACK, "AB");
	assert_string_equal(f->k.out, "ABCDEFGH");
	assert_int_equal(f->st.overlaps, 1);
	assert_int_equal(f->s.held_bytes, 0);
}

static void test_gap_when_acked_past_hole(void **state)
{
	struct fixture *f = *state;
	seg(f, 0, IW_TCP_SYN, "");
	seg(f, 1, IW_TCP_ACK, "abc");
	seg(f, 8, IW_TCP_ACK, "hij"); /* 4..7 never captured */
	assert_string_equal(f->k.out, "abc");
	/* the receiver acknowledged byte 11: the hole will never fill */
	iw_stream_acked(&f->s, 11, sink_fn, &f->k, &f->st);
	assert_string_equal(f->k.out, "abc####hij");
	assert_int_equal(f->st.gaps, 1);
	assert_int_equal(f->st.gap_bytes, 4);
	seg(f, 11, IW_TCP_ACK, "k");
	assert_string_equal(f->k.out, "abc####hijk");
}

static void test_gap_on_budget(void **state)
{
	struct fixture *f = *state;
	seg(f, 0, IW_TCP_SYN, "");
	/* a budget of 4 bytes: the second held segment does not fit */
	iw_stream_segment(&f->s, 4, 10, IW_TCP_ACK, (const uint8_t *)"JKL", 3, sink_fn, &f->k, &f->st);
	iw_stream_segment(&f->s, 4, 20, IW_TCP_ACK, (const uint8_t *)"TUV", 3, sink_fn, &f->k, &f->st);
	/* the first hole (1..9) was given up to make room: JKL delivered, TUV now held */
	assert_string_equal(f->k.out, "#########JKL");
	assert_int_equal(f->st.gaps, 1);
	assert_int_equal(f->s.held_bytes, 3);
	/* a segment larger than the whole budget: the hole before it is given up at once */
	iw_stream_segment(&f->s, 4, 30, IW_TCP_ACK, (const uint8_t *)"abcdefgh", 8, sink_fn, &f->k, &f->st);
	assert_string_equal(f->k.out, "#########JKL#######TUV#######abcdefgh");
	assert_int_equal(f->st.gaps, 3);
	assert_int_equal(f->s.held_bytes, 0);
}

static void test_flush_reports_gaps(void **state)
{
	struct fixture *f = *state;
	seg(f, 0, IW_TCP_SYN, "");
	seg(f, 1, IW_TCP_ACK, "ab");
	seg(f, 6, IW_TCP_ACK, "fg");
	iw_stream_flush(&f->s, sink_fn, &f->k, &f->st);
	assert_string_equal(f->k.out, "ab###fg");
	assert_int_equal(f->st.gaps, 1);
}

static void test_fin_closes(void **state)
{
	struct fixture *f = *state;
	seg(f, 0, IW_TCP_SYN, "");
	seg(f, 4, IW_TCP_ACK | IW_TCP_FIN, "def"); /* FIN arrives before the data before it */
	assert_false(f->s.closed);
	seg(f, 1, IW_TCP_ACK, "abc");
	assert_string_equal(f->k.out, "abcdef");
	assert_true(f->s.closed);
	seg(f, 7, IW_TCP_ACK, "zzz"); /* nothing after FIN */
	assert_string_equal(f->k.out, "abcdef");
}

static void test_sequence_wraps(void **state)
{
	struct fixture *f = *state;
	seg(f, 0xfffffffd, IW_TCP_SYN, "");
	seg(f, 0x00000001, IW_TCP_ACK, "CD"); /* after the wrap: held */
	seg(f, 0xfffffffe, IW_TCP_ACK, "xAB");
	assert_string_equal(f->k.out, "xABCD");
	assert_int_equal(f->s.next_seq, 3);
}

static void test_data_on_syn(void **state)
{
	struct fixture *f = *state;
	seg(f, 50, IW_TCP_SYN, "fast"); /* TCP Fast Open */
	seg(f, 55, IW_TCP_ACK, "open");
	assert_string_equal(f->k.out, "fastopen");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_handshake_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_midstream_pickup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_order_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retransmission_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overlap_first_copy_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overlap_with_held_first_copy_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gap_when_acked_past_hole, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gap_on_budget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_reports_gaps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fin_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sequence_wraps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_on_syn, setup, teardown),
	};
	return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
