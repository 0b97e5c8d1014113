/* fuzz_spool.c - fuzzes the Kafka spool's reader (exporters/spool.c) with segment files
 * of any content: a crash's leftovers, a damaged disk, a file someone edited.
 *
 * Input: | cursor offset 2 | op 1 | segment bytes ... |
 *   The bytes become iotwatch-0000000000000001.spool (and, when op bit 0 is set, the
 *   same bytes again as segment 2), with a cursor at the given offset when op bit 1 is
 *   set. The spool is opened (its tail trimmed), every record read (each must lie within
 *   the file and a failed one is handed out again), acknowledged or failed by op's other
 *   bits, a record appended, everything read again, then closed; it must end empty.
 *
 * One directory per process, emptied between inputs. */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../exporters/spool.h"
#include "../../parsers/cursor.h"

static char dir[64];

static void empty_dir(void)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char p[512];
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

static void put_file(const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

/* Reads every record; acknowledges it, or (when fail_some) fails every third once. */
static void read_all(struct iw_spool *sp, size_t file_bytes, int fail_some)
{
	struct iw_spool_rec r;
	unsigned n = 0;
	while (iw_spool_next(sp, &r) == IW_OK) {
		if (r.val_len > file_bytes + IW_SPOOL_MAX_RECORD || (r.key_len && !r.key))
			abort();
		volatile uint8_t sum = 0;
		for (size_t i = 0; i < r.key_len; i++)
			sum ^= (uint8_t)r.key[i];
		for (size_t i = 0; i < r.val_len; i++)
			sum ^= (uint8_t)r.val[i];
		if (fail_some && ++n % 3 == 0 && n < 64)
			iw_spool_fail(sp, r.id);
		else
			iw_spool_ack(sp, r.id);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/iw-fuzz-spool-%d", (int)getpid());
		mkdir(dir, 0700);
	}
	if (size < 3)
		return 0;
	unsigned off = (unsigned)data[0] | (unsigned)data[1] << 8;
	uint8_t op = data[2];
	data += 3;
	size -= 3;
	empty_dir();
	put_file("iotwatch-0000000000000001.spool", data, size);
	if (op & 1)
		put_file("iotwatch-0000000000000002.spool", data, size);
	if (op & 2) {
		char c[32];
		int n = snprintf(c, sizeof(c), "1 %u\n", off);
		put_file("cursor", (const uint8_t *)c, (size_t)n);
	}
	char err[256];
	struct iw_spool *sp = iw_spool_open(dir, 0, 1 + (op >> 4), err, sizeof(err));
	if (!sp)
		abort();
	read_all(sp, size, op & 4);
	read_all(sp, size, 0); /* the failed ones come back */
	if (iw_spool_append(sp, 1, "k", 1, "{}", 2) != IW_OK)
		abort();
	read_all(sp, size, 0);
	if (!iw_spool_empty(sp))
		abort();
	iw_spool_close(sp);
	return 0;
}
