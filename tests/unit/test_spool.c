/* test_spool.c - the Kafka spool (exporters/spool.h): order, acknowledgement in any order,
 * failures handed out again first, the cursor across restarts, a crash's partial frame,
 * corruption skipped, the size bound, the lock, segments deleted once acknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../exporters/spool.h"
#include "../../parsers/cursor.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/iw-spool-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	DIR *d = opendir(dir);
	if (d) {
		char p[512];
		for (struct dirent *e; (e = readdir(d));) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
	return 0;
}

static unsigned segments(void)
{
	unsigned n = 0;
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		n += strstr(e->d_name, ".spool") != NULL;
	if (d)
		closedir(d);
	return n;
}

static struct iw_spool *open_spool(uint64_t max, unsigned window)
{
	char err[256] = "";
	struct iw_spool *sp = iw_spool_open(dir, max, window, err, sizeof(err));
	if (!sp)
		fail_msg("open: %s", err);
	return sp;
}

static void put(struct iw_spool *sp, int i)
{
	char key[32], val[64];
	snprintf(key, sizeof(key), "dev-%d", i % 7);
	snprintf(val, sizeof(val), "{\"n\":%d}", i);
	assert_int_equal(iw_spool_append(sp, (uint8_t)(i % 2 ? 1 : 2), key, strlen(key), val, strlen(val)),
	                 IW_OK);
}

/* The number in the next record, or -1 when there is none. */
static int take(struct iw_spool *sp, uint64_t *id)
{
	struct iw_spool_rec r;
	if (iw_spool_next(sp, &r) != IW_OK)
		return -1;
	int n;
	char val[64];
	assert_true(r.val_len < sizeof(val));
	memcpy(val, r.val, r.val_len);
	val[r.val_len] = '\0';
	assert_int_equal(sscanf(val, "{\"n\":%d}", &n), 1);
	char key[32];
	snprintf(key, sizeof(key), "dev-%d", n % 7);
	assert_int_equal(r.key_len, strlen(key));
	assert_memory_equal(r.key, key, r.key_len);
	assert_int_equal(r.kind, n % 2 ? 1 : 2);
	*id = r.id;
	return n;
}

static void test_crc32c(void **state)
{
	(void)state;
	/* the check value of CRC-32C (RFC 3720 B.4) */
	assert_int_equal(iw_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(iw_crc32c(iw_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

static void test_order_and_empty(void **state)
{
	(void)state;
	struct iw_spool *sp = open_spool(0, 100);
	assert_true(iw_spool_empty(sp));
	for (int i = 0; i < 10; i++)
		put(sp, i);
	assert_false(iw_spool_empty(sp));
	assert_int_equal(segments(), 1);
	uint64_t ids[10];
	for (int i = 0; i < 10; i++)
		assert_int_equal(take(sp, &ids[i]), i);
	uint64_t x;
	assert_int_equal(take(sp, &x), -1);
	assert_int_equal(iw_spool_outstanding(sp), 10);
	/* acknowledged in any order; empty, and deleted, only when all are */
	for (int i = 9; i >= 1; i--)
		iw_spool_ack(sp, ids[i]);
	assert_false(iw_spool_empty(sp));
	iw_spool_ack(sp, ids[3]); /* again: ignored */
	iw_spool_ack(sp, 12345);  /* unknown: ignored */
	iw_spool_ack(sp, ids[0]);
	assert_true(iw_spool_empty(sp));
	assert_int_equal(segments(), 0);
	struct iw_spool_stats st;
	iw_spool_stats(sp, &st);
	assert_int_equal(st.appended, 10);
	assert_int_equal(st.acked, 10);
	assert_int_equal(st.bytes, 0);
	/* appends after it emptied start a new segment */
	put(sp, 42);
	assert_int_equal(take(sp, &x), 42);
	iw_spool_ack(sp, x);
	assert_true(iw_spool_empty(sp));
	iw_spool_close(sp);
}

static void test_window_unread_and_fail(void **state)
{
	(void)state;
	struct iw_spool *sp = open_spool(0, 3);
	for (int i = 0; i < 6; i++)
		put(sp, i);
	uint64_t a, b, c, d;
	assert_int_equal(take(sp, &a), 0);
	assert_int_equal(take(sp, &b), 1);
	assert_int_equal(take(sp, &c), 2);
	assert_int_equal(take(sp, &d), -1); /* window of 3 */
	/* record 1 failed: it goes out again before 3 */
	iw_spool_fail(sp, b);
	assert_int_equal(iw_spool_outstanding(sp), 2);
	assert_int_equal(take(sp, &d), 1);
	assert_int_equal(d, b);
	/* it could not be handed to Kafka: taken back, handed out again */
	iw_spool_unread(sp);
	assert_int_equal(take(sp, &d), 1);
	iw_spool_ack(sp, a);
	assert_int_equal(take(sp, &d), 3);
	iw_spool_unread(sp); /* a fresh record taken back */
	assert_int_equal(take(sp, &d), 3);
	iw_spool_ack(sp, b);
	iw_spool_ack(sp, c);
	iw_spool_ack(sp, d);
	assert_int_equal(take(sp, &a), 4);
	assert_int_equal(take(sp, &b), 5);
	iw_spool_ack(sp, a);
	iw_spool_ack(sp, b);
	assert_true(iw_spool_empty(sp));
	iw_spool_close(sp);
}

static void test_restart_resumes_at_cursor(void **state)
{
	(void)state;
	struct iw_spool *sp = open_spool(0, 100);
	for (int i = 0; i < 8; i++)
		put(sp, i);
	uint64_t ids[8];
	for (int i = 0; i < 5; i++)
		take(sp, &ids[i]);
	iw_spool_ack(sp, ids[0]);
	iw_spool_ack(sp, ids[1]);
	iw_spool_ack(sp, ids[3]); /* past the acknowledged prefix: sent again after a restart */
	iw_spool_close(sp);

	sp = open_spool(0, 100);
	uint64_t id;
	int want[] = {2, 3, 4, 5, 6, 7};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(take(sp, &id), want[i]);
		iw_spool_ack(sp, id);
	}
	assert_int_equal(take(sp, &id), -1);
	assert_true(iw_spool_empty(sp));
	iw_spool_close(sp);
	assert_int_equal(segments(), 0);
}

static char *seg_name(char *buf, size_t n)
{
	snprintf(buf, n, "%s/iotwatch-0000000000000001.spool", dir);
	return buf;
}

static void test_partial_frame_cut(void **state)
{
	(void)state;
	struct iw_spool *sp = open_spool(0, 100);
	for (int i = 0; i < 3; i++)
		put(sp, i);
	iw_spool_close(sp);
	/* a crash in the middle of an append: half a frame at the end */
	char p[256];
	struct stat st0;
	assert_int_equal(stat(seg_name(p, sizeof(p)), &st0), 0);
	int fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "IWK1\x40\0\0\0\1\2", 10), 10);
	close(fd);
	sp = open_spool(0, 100);
	struct stat st1;
	assert_int_equal(stat(p, &st1), 0);
	assert_int_equal(st1.st_size, st0.st_size); /* cut off */
	put(sp, 3);                                 /* and appends go on cleanly */
	uint64_t id;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(take(sp, &id), i);
		iw_spool_ack(sp, id);
	}
	assert_true(iw_spool_empty(sp));
	iw_spool_close(sp);
}

static void test_corrupt_frame_skipped(void **state)
{
	(void)state;
	struct iw_spool *sp = open_spool(0, 100);
	for (int i = 0; i < 4; i++)
		put(sp, i);
	for (int i = 4; i < 4 + 1; i++)
		put(sp, i);
	iw_spool_close(sp);
	/* flip a byte in the body of the second frame: its CRC fails */
	char p[256];
	int fd = open(seg_name(p, sizeof(p)), O_RDWR);
	assert_true(fd >= 0);
	uint8_t h[12];
	assert_int_equal(pread(fd, h, 12, 0), 12);
	off_t second = 12 + (h[4] | h[5] << 8);
	char byte;
	assert_int_equal(pread(fd, &byte, 1, second + 20), 1);
	byte ^= 0x20;
	assert_int_equal(pwrite(fd, &byte, 1, second + 20), 1);
	close(fd);
	sp = open_spool(0, 100);
	uint64_t id;
	int want[] = {0, 2, 3, 4};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(take(sp, &id), want[i]);
		iw_spool_ack(sp, id);
	}
	assert_int_equal(take(sp, &id), -1);
	struct iw_spool_stats st;
	iw_spool_stats(sp, &st);
	assert_true(st.corrupt >= 1);
	assert_true(iw_spool_empty(sp));
	iw_spool_close(sp);
}

static void test_bound_and_lock(void **state)
{
	(void)state;
	struct iw_spool *sp = open_spool(200, 100);
	int n = 0;
	char val[40] = "{\"n\":0,\"pad\":\"xxxxxxxxxxxxxxxxxxx\"}";
	while (iw_spool_append(sp, 1, "k", 1, val, strlen(val)) == IW_OK)
		n++;
	struct iw_spool_stats st;
	iw_spool_stats(sp, &st);
	assert_int_equal(n, 200 / (12 + 4 + 1 + (int)strlen(val)));
	assert_int_equal(st.append_failed, 1);
	assert_true(st.bytes <= 200);
	/* a second owner is refused */
	char err[256] = "";
	assert_null(iw_spool_open(dir, 0, 10, err, sizeof(err)));
	assert_non_null(strstr(err, "in use by another iotwatch"));
	iw_spool_close(sp);
	/* once closed it can be opened, and holds what was appended */
	sp = open_spool(0, 100);
	for (int i = 0; i < n; i++) {
		struct iw_spool_rec r;
		assert_int_equal(iw_spool_next(sp, &r), IW_OK);
		assert_int_equal(r.val_len, strlen(val));
		iw_spool_ack(sp, r.id);
	}
	assert_true(iw_spool_empty(sp));
	iw_spool_close(sp);
}

static void test_no_key_and_bad_dir(void **state)
{
	(void)state;
	struct iw_spool *sp = open_spool(0, 10);
	assert_int_equal(iw_spool_append(sp, 2, NULL, 5, "{}", 2), IW_OK);
	struct iw_spool_rec r;
	assert_int_equal(iw_spool_next(sp, &r), IW_OK);
	assert_null(r.key);
	assert_int_equal(r.key_len, 0);
	assert_int_equal(r.val_len, 2);
	assert_memory_equal(r.val, "{}", 2);
	iw_spool_ack(sp, r.id);
	iw_spool_close(sp);
	char err[256] = "";
	assert_null(iw_spool_open("/proc/iw-no-such/spool", 0, 10, err, sizeof(err)));
	assert_non_null(strstr(err, "spool_dir /proc/iw-no-such/spool: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c),
	    cmocka_unit_test_setup_teardown(test_order_and_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_window_unread_and_fail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_resumes_at_cursor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_frame_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_frame_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bound_and_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_key_and_bad_dir, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
