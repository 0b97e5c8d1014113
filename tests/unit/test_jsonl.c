/* test_jsonl.c - unit tests of the JSON lines exporter (DESIGN §4 exporters.jsonl, §5): buffering,
 * append, reopen after logrotate, counters, errors, rotation by size (rotate_size, rotate_keep). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exporters/exporter.h"
#include "exporters/json.h"
#include "parsers/cursor.h"

extern const struct iw_exporter iw_exp_jsonl;

#define EXP (&iw_exp_jsonl)

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/iw_test_jsonl_XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/out.jsonl", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	int rc = system(cmd);
	free(fx);
	return rc == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1024, len = 0, n;
	char *buf = malloc(cap);
	assert_non_null(buf);
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void assert_file(const char *path, const char *want)
{
	char *got = slurp(path);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void *open_dest(const char *dest, unsigned kinds)
{
	struct iw_exp_open o = {.cfg = NULL, .dest = dest, .kinds = kinds};
	char err[256] = "";
	void *st = EXP->open(&o, err, sizeof(err));
	if (st == NULL)
		fail_msg("open %s: %s", dest, err);
	return st;
}

static int put(void *st, const char *rec)
{
	return EXP->write(st, IW_REC_EVENT, NULL, rec, strlen(rec));
}

static const char *stats(void *st)
{
	static char out[192];
	struct iw_json j;
	iw_json_init(&j);
	iw_json_obj_begin(&j, NULL);
	EXP->stats(st, &j);
	iw_json_obj_end(&j);
	snprintf(out, sizeof(out), "%s", j.buf);
	iw_json_free(&j);
	return out;
}

static void test_descriptor(void **state)
{
	(void)state;
	assert_string_equal(EXP->name, "jsonl");
	struct iw_exporters_cfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	assert_null(EXP->configured(&cfg));
	char empty[] = "", dash[] = "-", file[] = "/var/log/iotwatch/alerts.jsonl";
	cfg.jsonl.path = empty;
	assert_null(EXP->configured(&cfg));
	cfg.jsonl.path = dash;
	assert_string_equal(EXP->configured(&cfg), "-");
	cfg.jsonl.path = file;
	assert_string_equal(EXP->configured(&cfg), file);
	assert_non_null(EXP->open && EXP->write && EXP->flush && EXP->reopen && EXP->stats && EXP->close);
}

static void test_write_flush_close(void **state)
{
	struct fx *fx = *state;
	mode_t old = umask(022);
	void *st = open_dest(fx->path, 0);
	umask(old);
	struct stat sb;
	assert_int_equal(stat(fx->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);

	assert_int_equal(put(st, "{\"a\":1}"), IW_OK);
	assert_int_equal(put(st, "{\"b\":2}"), IW_OK);
	assert_file(fx->path, ""); /* buffered */
	assert_int_equal(EXP->flush(st), IW_OK);
	assert_file(fx->path, "{\"a\":1}\n{\"b\":2}\n");
	assert_int_equal(EXP->flush(st), IW_OK); /* nothing new */
	assert_int_equal(put(st, "{\"c\":3}"), IW_OK);
	assert_string_equal(stats(st),
	                    "{\"written\":3,\"dropped\":0,\"rotations\":0,\"rotation_failures\":0}");
	EXP->close(st); /* flushes */
	assert_file(fx->path, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
}

/* Opening appends: a restart never truncates what an earlier run wrote. */
static void test_append(void **state)
{
	struct fx *fx = *state;
	FILE *f = fopen(fx->path, "w");
	assert_non_null(f);
	fputs("{\"old\":true}\n", f);
	fclose(f);
	void *st = open_dest(fx->path, 0);
	put(st, "{\"new\":true}");
	EXP->close(st);
	assert_file(fx->path, "{\"old\":true}\n{\"new\":true}\n");
}

/* logrotate: rename, then SIGHUP; records before the reopen stay in the old file. */
static void test_reopen_after_rename(void **state)
{
	struct fx *fx = *state;
	char rotated[160];
	snprintf(rotated, sizeof(rotated), "%s.1", fx->path);
	void *st = open_dest(fx->path, 0);
	put(st, "{\"n\":1}");
	assert_int_equal(EXP->flush(st), IW_OK);
	put(st, "{\"n\":2}");
	assert_int_equal(rename(fx->path, rotated), 0);
	put(st, "{\"n\":3}");
	assert_int_equal(EXP->reopen(st), IW_OK);
	put(st, "{\"n\":4}");
	put(st, "{\"n\":5}");
	EXP->close(st);
	assert_file(rotated, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
	assert_file(fx->path, "{\"n\":4}\n{\"n\":5}\n");
}

/* A reopen with nothing rotated goes on in the same file; a reopen that cannot open
 * the path keeps writing to the old file rather than lose records. */
static void test_reopen_same_and_failing(void **state)
{
	struct fx *fx = *state;
	void *st = open_dest(fx->path, 0);
	put(st, "{\"n\":1}");
	assert_int_equal(EXP->reopen(st), IW_OK);
	put(st, "{\"n\":2}");
	assert_int_equal(EXP->flush(st), IW_OK);
	assert_file(fx->path, "{\"n\":1}\n{\"n\":2}\n");

	char moved[96];
	snprintf(moved, sizeof(moved), "%s.moved", fx->dir);
	assert_int_equal(rename(fx->dir, moved), 0); /* the path's directory is gone */
	put(st, "{\"n\":3}");
	assert_int_equal(EXP->reopen(st), IW_ERR);
	put(st, "{\"n\":4}");
	EXP->close(st);
	assert_int_equal(rename(moved, fx->dir), 0);
	assert_file(fx->path, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n");
}

static void test_open_errors(void **state)
{
	struct fx *fx = *state;
	char err[256];
	struct iw_exp_open o = {.dest = "/nonexistent-iw-dir/x/alerts.jsonl", .kinds = 0};
	assert_null(EXP->open(&o, err, sizeof(err)));
	assert_string_equal(err, "cannot open /nonexistent-iw-dir/x/alerts.jsonl: No such file or directory");

	o.dest = fx->dir;
	assert_null(EXP->open(&o, err, sizeof(err)));
	char want[160];
	snprintf(want, sizeof(want), "cannot open %s: Is a directory", fx->dir);
	assert_string_equal(err, want);

	/* no dest: the configured path; neither: an error */
	o.dest = NULL;
	assert_null(EXP->open(&o, err, sizeof(err)));
	assert_string_equal(err, "no output path for jsonl");
	struct iw_exporters_cfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.jsonl.path = fx->path;
	o.cfg = &cfg;
	void *st = EXP->open(&o, err, sizeof(err));
	assert_non_null(st);
	put(st, "{}");
	EXP->close(st);
	assert_file(fx->path, "{}\n");

	/* a short err buffer is cut, not overrun */
	char small[12];
	o.cfg = NULL;
	o.dest = "/nonexistent-iw-dir/x";
	assert_null(EXP->open(&o, small, sizeof(small)));
	assert_string_equal(small, "cannot open");
}

/* Disk full: records are counted as dropped, nothing aborts. */
static void test_disk_full(void **state)
{
	(void)state;
	if (access("/dev/full", W_OK) != 0)
		skip();
	void *st = open_dest("/dev/full", 0);
	assert_int_equal(put(st, "{\"n\":1}"), IW_OK); /* buffered: not known yet */
	assert_int_equal(put(st, "{\"n\":2}"), IW_OK);
	assert_int_equal(put(st, "{\"n\":3}"), IW_OK);
	assert_int_equal(EXP->flush(st), IW_ERR);
	assert_string_equal(stats(st),
	                    "{\"written\":0,\"dropped\":3,\"rotations\":0,\"rotation_failures\":0}");

	/* a record too big to buffer fails at once */
	size_t big = 100000;
	char *rec = malloc(big);
	assert_non_null(rec);
	memset(rec, 'x', big);
	assert_int_equal(EXP->write(st, IW_REC_ALERT, "dev", rec, big), IW_ERR);
	assert_string_equal(stats(st),
	                    "{\"written\":0,\"dropped\":4,\"rotations\":0,\"rotation_failures\":0}");
	free(rec);
	assert_int_equal(EXP->reopen(st), IW_OK);
	EXP->close(st);
}

/* Many records across the buffer boundary, and records bigger than the buffer, come
 * out whole and in order. */
static void test_big_and_many(void **state)
{
	struct fx *fx = *state;
	void *st = open_dest(fx->path, 0);
	enum { N = 5000 };
	size_t big = 200000;
	char *bigrec = malloc(big + 1);
	assert_non_null(bigrec);
	char rec[256];
	for (int i = 0; i < N; i++) {
		if (i % 1000 == 500) {
			int n = snprintf(bigrec, big + 1, "{\"n\":%d,\"pad\":\"", i);
			memset(bigrec + n, 'y', big - (size_t)n - 2);
			memcpy(bigrec + big - 2, "\"}", 2);
			assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, bigrec, big), IW_OK);
		} else {
			char pad[200];
			memset(pad, 'z', sizeof(pad));
			int n = snprintf(rec, sizeof(rec), "{\"n\":%d,\"pad\":\"%.*s\"}", i, i % 200, pad);
			assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, rec, (size_t)n), IW_OK);
		}
	}
	/* exactly one buffer's worth, newline included */
	size_t exact = 64 * 1024 - 1;
	char *ex = malloc(exact);
	assert_non_null(ex);
	memset(ex, 'e', exact);
	assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, ex, exact), IW_OK);
	EXP->close(st);

	char *got = slurp(fx->path);
	assert_non_null(got);
	char *line = got;
	for (int i = 0; i < N; i++) {
		char *nl = strchr(line, '\n');
		assert_non_null(nl);
		int n = -1;
		assert_int_equal(sscanf(line, "{\"n\":%d,", &n), 1);
		assert_int_equal(n, i);
		size_t want = i % 1000 == 500
		                  ? big
		                  : (size_t)snprintf(rec, sizeof(rec), "{\"n\":%d,\"pad\":\"\"}", i) +
		                        (size_t)(i % 200);
		assert_int_equal((size_t)(nl - line), want);
		line = nl + 1;
	}
	assert_int_equal(strlen(line), exact + 1);
	assert_int_equal(line[exact], '\n');
	free(got);
	free(bigrec);
	free(ex);
}

/* "-" writes to stdout and never closes it. */
static void test_stdout(void **state)
{
	struct fx *fx = *state;
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	int fd = open(fx->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);

	void *st = open_dest("-", 0);
	put(st, "{\"to\":\"stdout\"}");
	assert_int_equal(EXP->reopen(st), IW_OK); /* flushes, nothing to reopen */
	put(st, "{\"n\":2}");
	EXP->close(st);
	int still_open = fcntl(STDOUT_FILENO, F_GETFD);

	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	assert_true(still_open != -1);
	assert_file(fx->path, "{\"to\":\"stdout\"}\n{\"n\":2}\n");
}

/* An instance opened for some kinds of record ignores the others. */
static void test_kinds(void **state)
{
	struct fx *fx = *state;
	void *st = open_dest(fx->path, IW_REC_ALERT | IW_REC_STATS);
	assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, "{\"e\":1}", 7), IW_OK);
	assert_int_equal(EXP->write(st, IW_REC_ALERT, "d", "{\"a\":1}", 7), IW_OK);
	assert_int_equal(EXP->write(st, IW_REC_STATS, NULL, "{\"s\":1}", 7), IW_OK);
	assert_string_equal(stats(st),
	                    "{\"written\":2,\"dropped\":0,\"rotations\":0,\"rotation_failures\":0}");
	EXP->close(st);
	assert_file(fx->path, "{\"a\":1}\n{\"s\":1}\n");
}

/* Finds our instance's descriptor for path among the open fds. */
static int fd_of(const char *path)
{
	struct stat want, sb;
	assert_int_equal(stat(path, &want), 0);
	for (int fd = 3; fd < 1024; fd++)
		if (fstat(fd, &sb) == 0 && sb.st_dev == want.st_dev && sb.st_ino == want.st_ino &&
		    (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY)
			return fd;
	fail_msg("no fd for %s", path);
	return -1;
}

/* A write cut short (a full pipe here) leaves a partial line; the next line starts on
 * a line of its own, and written + dropped accounts for every record. */
static void test_partial_write(void **state)
{
	struct fx *fx = *state;
	char fifo[160];
	snprintf(fifo, sizeof(fifo), "%s/fifo", fx->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	int rd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	void *st = open_dest(fifo, 0);
	int wfd = fd_of(fifo);
	assert_int_equal(fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK), 0);
	/* Leave one page free in the pipe: the first flush gets 4096 bytes through, which
	 * cannot end on a line boundary (records are 89 or 90 bytes long). */
	int cap_pipe = fcntl(wfd, F_GETPIPE_SZ);
	assert_true(cap_pipe >= 8192);
	char *fill = malloc((size_t)cap_pipe);
	assert_non_null(fill);
	memset(fill, '#', (size_t)cap_pipe - 4096);
	fill[cap_pipe - 4096 - 1] = '\n';
	assert_int_equal(write(wfd, fill, (size_t)cap_pipe - 4096), cap_pipe - 4096);
	free(fill);

	enum { N = 2000 };
	char rec[128];
	for (int i = 0; i < N; i++) {
		int n = snprintf(rec, sizeof(rec), "{\"n\":%d,\"pad\":\"%s\"}", i,
		                 "0123456789012345678901234567890123456789012345678901234567890123456789");
		EXP->write(st, IW_REC_EVENT, NULL, rec, (size_t)n);
	}
	EXP->flush(st);

	/* drain what got through, then one more record */
	size_t cap = 1 << 20, len = 0;
	char *got = malloc(cap);
	assert_non_null(got);
	ssize_t r;
	while ((r = read(rd, got + len, cap - len - 1)) > 0)
		len += (size_t)r;
	put(st, "{\"last\":true}");
	assert_int_equal(EXP->flush(st), IW_OK);
	while ((r = read(rd, got + len, cap - len - 1)) > 0)
		len += (size_t)r;
	got[len] = '\0';

	unsigned long written = 0, dropped = 0;
	assert_int_equal(sscanf(stats(st), "{\"written\":%lu,\"dropped\":%lu,", &written, &dropped), 2);
	assert_int_equal(written + dropped, N + 1);
	assert_true(dropped > 0);

	/* every whole line is a record in order, one line is cut, "last" ends it */
	unsigned long whole = 0, cut = 0;
	int next = 0;
	for (char *line = got, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		int n;
		if (line[0] == '#')
			continue; /* the filler */
		if (strcmp(line, "{\"last\":true}\n") == 0) {
			assert_int_equal(nl[1], '\0');
			break;
		}
		if (nl[-1] == '}' && sscanf(line, "{\"n\":%d,", &n) == 1) {
			assert_true(n >= next);
			next = n + 1;
			whole++;
		} else {
			cut++;
		}
	}
	assert_int_equal(whole, written - 1);
	assert_int_equal(cut, 1);
	assert_non_null(strstr(got, "\n{\"last\":true}\n"));
	free(got);
	EXP->close(st);
	close(rd);
}

/* ---- rotation by size (exporters.jsonl.rotate_size, rotate_keep) ---- */

static void *open_rot(const char *dest, uint64_t size, uint64_t keep)
{
	struct iw_exporters_cfg cfg; /* read at open only */
	memset(&cfg, 0, sizeof(cfg));
	cfg.jsonl.rotate_size = size;
	cfg.jsonl.rotate_keep = keep;
	struct iw_exp_open o = {.cfg = &cfg, .dest = dest, .kinds = 0};
	char err[256] = "";
	void *st = EXP->open(&o, err, sizeof(err));
	if (st == NULL)
		fail_msg("open %s: %s", dest, err);
	return st;
}

/* Record i as a line of exactly 20 bytes: 19 characters and the newline. */
static const char *r20(int i)
{
	static char rec[32];
	int n = snprintf(rec, sizeof(rec), "{\"n\":%05d,\"p\":\"x\"}", i);
	assert_int_equal(n, 19);
	return rec;
}

/* What a file holds when it holds records from .. to-1 of r20(). */
static void assert_r20(const char *path, int from, int to)
{
	char want[2048] = "";
	size_t o = 0;
	for (int i = from; i < to; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o, "%s\n", r20(i));
	assert_file(path, want);
}

static const char *name_n(const struct fx *fx, unsigned n)
{
	static char names[4][160];
	static unsigned next;
	char *out = names[next++ % 4];
	snprintf(out, sizeof(names[0]), "%s.%u", fx->path, n);
	return out;
}

static bool exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

static const char *want_stats(unsigned long written, unsigned long rotations, unsigned long failures)
{
	static char out[192];
	snprintf(out, sizeof(out),
	         "{\"written\":%lu,\"dropped\":0,\"rotations\":%lu,\"rotation_failures\":%lu}", written,
	         rotations, failures);
	return out;
}

/* 23 lines of 20 bytes, 100 (or 110) bytes a file: five lines a file, the first five
 * beyond rotate_keep 3 and gone. Where the lines split does not depend on when the
 * buffer is flushed. */
static void rotate_23(struct fx *fx, uint64_t size, int flush_every)
{
	void *st = open_rot(fx->path, size, 3);
	for (int i = 0; i < 23; i++) {
		assert_int_equal(put(st, r20(i)), IW_OK);
		if (flush_every && (i + 1) % flush_every == 0)
			assert_int_equal(EXP->flush(st), IW_OK);
	}
	EXP->flush(st);
	assert_string_equal(stats(st), want_stats(23, 4, 0));
	EXP->close(st);
	assert_r20(name_n(fx, 3), 5, 10);
	assert_r20(name_n(fx, 2), 10, 15);
	assert_r20(name_n(fx, 1), 15, 20);
	assert_r20(fx->path, 20, 23);
	assert_false(exists(name_n(fx, 4)));
}

static void test_rotate_keep_flush_each(void **state)
{
	rotate_23(*state, 110, 1);
}

static void test_rotate_keep_flush_by_4(void **state)
{
	rotate_23(*state, 100, 4); /* the fifth line fills the file exactly */
}

static void test_rotate_keep_one_flush(void **state)
{
	rotate_23(*state, 100, 0); /* one flush: split inside the buffer */
}

/* A line longer than rotate_size goes alone into a file, whether it was buffered or
 * written on its own (bigger than the buffer); a line of exactly rotate_size fills one. */
static void test_rotate_oversized(void **state)
{
	struct fx *fx = *state;
	void *st = open_rot(fx->path, 50, 10);
	char big[80], exact[50];
	memset(big, 'b', sizeof(big));
	memset(exact, 'e', sizeof(exact));
	size_t huge = 70000;
	char *h = malloc(huge);
	assert_non_null(h);
	memset(h, 'h', huge);

	put(st, r20(0));
	assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, big, sizeof(big) - 1), IW_OK);
	put(st, r20(2));
	put(st, r20(3));
	assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, h, huge), IW_OK);
	put(st, r20(5));
	assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, exact, sizeof(exact) - 1), IW_OK);
	put(st, r20(7));
	EXP->close(st);

	assert_r20(name_n(fx, 6), 0, 1);
	char *got = slurp(name_n(fx, 5));
	assert_non_null(got);
	assert_int_equal(strlen(got), sizeof(big));
	assert_int_equal(strspn(got, "b"), sizeof(big) - 1);
	free(got);
	assert_r20(name_n(fx, 4), 2, 4);
	got = slurp(name_n(fx, 3));
	assert_non_null(got);
	assert_int_equal(strlen(got), huge + 1);
	assert_int_equal(strspn(got, "h"), huge);
	free(got);
	assert_r20(name_n(fx, 2), 5, 6);
	got = slurp(name_n(fx, 1));
	assert_non_null(got);
	assert_int_equal(strlen(got), sizeof(exact));
	assert_int_equal(strspn(got, "e"), sizeof(exact) - 1);
	free(got);
	assert_r20(fx->path, 7, 8);
	assert_false(exists(name_n(fx, 7)));

	/* a line bigger than the buffer, with room after it for one line of 20 bytes */
	char other[160], other1[168];
	snprintf(other, sizeof(other), "%s/other.jsonl", fx->dir);
	snprintf(other1, sizeof(other1), "%s.1", other);
	st = open_rot(other, huge + 1 + 39, 10);
	assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, h, huge), IW_OK);
	put(st, r20(0));
	put(st, r20(1));
	EXP->close(st);
	got = slurp(other1);
	assert_non_null(got);
	assert_int_equal(strlen(got), huge + 1 + 20);
	assert_int_equal(strspn(got, "h"), huge);
	assert_string_equal(got + huge, "\n{\"n\":00000,\"p\":\"x\"}\n");
	free(got);
	assert_r20(other, 1, 2);

	/* a line bigger than the buffer that would fill the file one byte past the size */
	assert_int_equal(unlink(other1), 0);
	assert_int_equal(unlink(other), 0);
	st = open_rot(other, huge + 20, 10);
	put(st, r20(0));
	assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, h, huge), IW_OK);
	EXP->close(st);
	assert_r20(other1, 0, 1);
	got = slurp(other);
	assert_non_null(got);
	assert_int_equal(strlen(got), huge + 1);
	free(got);
	free(h);
}

/* Writes r20(0), r20(1), then r20(2) and r20(3) under a file size limit of 50 bytes:
 * ten bytes of r20(2) get through, a partial line; both are dropped. */
static void *cut_short(const char *path, uint64_t size)
{
	void *st = open_rot(path, size, 2);
	put(st, r20(0));
	put(st, r20(1));
	assert_int_equal(EXP->flush(st), IW_OK);
	void (*was_sig)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rlimit was, low;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
	low = was;
	low.rlim_cur = 50;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
	put(st, r20(2));
	put(st, r20(3));
	int rc = EXP->flush(st);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
	signal(SIGXFSZ, was_sig);
	assert_int_equal(rc, IW_ERR);
	assert_string_equal(stats(st),
	                    "{\"written\":2,\"dropped\":2,\"rotations\":0,\"rotation_failures\":0}");
	return st;
}

/* A write cut short leaves a partial line. Its newline, put before the next line,
 * counts towards the size like any byte; a rotation leaves the partial line at the end
 * of the file rotated away and the new file starts clean. */
static void test_rotate_after_partial_line(void **state)
{
	struct fx *fx = *state;
	char want[256]; /* r20() returns one buffer: a call at a time */
	size_t o = (size_t)snprintf(want, sizeof(want), "%s\n", r20(0));
	o += (size_t)snprintf(want + o, sizeof(want) - o, "%s\n", r20(1));
	snprintf(want + o, sizeof(want) - o, "%.10s", r20(2));

	/* 50 + 1 + 20 = 71 bytes fit in 90, 91 do not */
	void *st = cut_short(fx->path, 90);
	put(st, r20(4));
	put(st, r20(5));
	assert_int_equal(EXP->flush(st), IW_OK);
	put(st, r20(6));
	assert_int_equal(EXP->flush(st), IW_OK);
	assert_string_equal(stats(st),
	                    "{\"written\":5,\"dropped\":2,\"rotations\":1,\"rotation_failures\":0}");
	EXP->close(st);
	char with4[300];
	snprintf(with4, sizeof(with4), "%s\n%s\n", want, r20(4));
	assert_file(name_n(fx, 1), with4);
	assert_r20(fx->path, 5, 7);

	/* 50 + 1 + 20 do not fit in 60: the rotation comes before the newline */
	char other[160], other1[168];
	snprintf(other, sizeof(other), "%s/other.jsonl", fx->dir);
	snprintf(other1, sizeof(other1), "%s.1", other);
	st = cut_short(other, 60);
	put(st, r20(4));
	assert_int_equal(EXP->flush(st), IW_OK);
	assert_string_equal(stats(st),
	                    "{\"written\":3,\"dropped\":2,\"rotations\":1,\"rotation_failures\":0}");
	EXP->close(st);
	assert_file(other1, want);
	assert_r20(other, 4, 5);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The size of a file there before is taken from fstat: 70 bytes leave room for one
 * line of 20; a file already past rotate_size rotates before the first line. */
static void test_rotate_existing_file(void **state)
{
	struct fx *fx = *state;
	const char *old =
	    "{\"old\":1}\n{\"old\":2}\n{\"old\":3}\n{\"old\":4}\n{\"old\":5}\n{\"old\":6}\n{\"old\":7}\n";
	write_text(fx->path, old);
	void *st = open_rot(fx->path, 100, 2);
	for (int i = 0; i < 7; i++) {
		put(st, r20(i));
		EXP->flush(st);
	}
	assert_string_equal(stats(st), want_stats(7, 2, 0));
	EXP->close(st);
	char want[256];
	snprintf(want, sizeof(want), "%s%s\n", old, r20(0));
	assert_file(name_n(fx, 2), want);
	assert_r20(name_n(fx, 1), 1, 6);
	assert_r20(fx->path, 6, 7);

	char past[160];
	snprintf(past, sizeof(past), "%s/past.jsonl", fx->dir);
	write_text(past, "{\"a\":\"0123456789012345678901234567890123456789\"}\n"
	                 "{\"b\":\"0123456789012345678901234567890123456789\"}\n"
	                 "{\"c\":\"0123456789012345678901234567890123456789\"}\n");
	st = open_rot(past, 100, 2);
	put(st, r20(0));
	assert_string_equal(stats(st), want_stats(1, 0, 0));
	EXP->close(st);
	assert_r20(past, 0, 1);
	char past1[168];
	snprintf(past1, sizeof(past1), "%s.1", past);
	char *got = slurp(past1);
	assert_non_null(got);
	assert_int_equal(strlen(got), 3 * 49);
	free(got);
}

/* Only a regular file that its path names itself rotates: not stdout (whatever it is),
 * not a FIFO, not a file behind a symlink. */
static void test_rotate_never_stdout_fifo_symlink(void **state)
{
	struct fx *fx = *state;
	/* stdout redirected to a regular file */
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	int fd = open(fx->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);
	void *st = open_rot("-", 30, 2);
	for (int i = 0; i < 10; i++) {
		put(st, r20(i));
		EXP->flush(st);
	}
	const char *got_stats = stats(st);
	EXP->close(st);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	assert_string_equal(got_stats, want_stats(10, 0, 0));
	assert_r20(fx->path, 0, 10);
	assert_false(exists("-.1"));

	/* a FIFO */
	char fifo[160], fifo1[168];
	snprintf(fifo, sizeof(fifo), "%s/fifo", fx->dir);
	snprintf(fifo1, sizeof(fifo1), "%s.1", fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	int rd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	st = open_rot(fifo, 30, 2);
	for (int i = 0; i < 10; i++) {
		put(st, r20(i));
		EXP->flush(st);
	}
	assert_string_equal(stats(st), want_stats(10, 0, 0));
	EXP->close(st);
	char got[512];
	ssize_t n = read(rd, got, sizeof(got) - 1);
	close(rd);
	assert_int_equal(n, 200);
	struct stat sb;
	assert_int_equal(lstat(fifo, &sb), 0);
	assert_true(S_ISFIFO(sb.st_mode));
	assert_false(exists(fifo1));

	/* a symlink to a regular file */
	char target[160], link[160], link1[168];
	snprintf(target, sizeof(target), "%s/target.jsonl", fx->dir);
	snprintf(link, sizeof(link), "%s/link.jsonl", fx->dir);
	snprintf(link1, sizeof(link1), "%s.1", link);
	assert_int_equal(symlink(target, link), 0);
	st = open_rot(link, 30, 2);
	for (int i = 0; i < 10; i++) {
		put(st, r20(i));
		EXP->flush(st);
	}
	assert_string_equal(stats(st), want_stats(10, 0, 0));
	EXP->close(st);
	assert_r20(target, 0, 10);
	assert_int_equal(lstat(link, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	assert_false(exists(link1));
}

/* A directory where path.1 goes: every rotation fails, is counted, and the lines stay
 * in the current file; once the way is clear the next rotation works. */
static void test_rotate_rename_fails(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(mkdir(name_n(fx, 1), 0700), 0);
	void *st = open_rot(fx->path, 100, 1);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(put(st, r20(i)), IW_OK);
		assert_int_equal(EXP->flush(st), IW_OK);
	}
	assert_string_equal(stats(st), want_stats(12, 0, 7)); /* lines 5 .. 11 */
	assert_r20(fx->path, 0, 12);
	assert_int_equal(rmdir(name_n(fx, 1)), 0);
	put(st, r20(12));
	EXP->close(st);
	assert_r20(name_n(fx, 1), 0, 12);
	assert_r20(fx->path, 12, 13);
}

/* A directory at the end of the chain: path.2 cannot move onto it, so the rotation
 * stops before anything is overwritten. */
static void test_rotate_chain_blocked(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(mkdir(name_n(fx, 3), 0700), 0);
	void *st = open_rot(fx->path, 20, 3); /* one line a file */
	for (int i = 0; i < 5; i++) {
		put(st, r20(i));
		EXP->flush(st);
	}
	assert_string_equal(stats(st), want_stats(5, 2, 2));
	EXP->close(st);
	assert_r20(name_n(fx, 2), 0, 1);
	assert_r20(name_n(fx, 1), 1, 2);
	assert_r20(fx->path, 2, 5);
	struct stat sb;
	assert_int_equal(lstat(name_n(fx, 3), &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
}

/* The new file cannot be opened (no descriptor left): the old one is put back under
 * path and goes on; the next rotation works. */
static void test_rotate_open_fails(void **state)
{
	struct fx *fx = *state;
	void *st = open_rot(fx->path, 40, 2);
	put(st, r20(0));
	put(st, r20(1));
	EXP->flush(st);

	struct rlimit was, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
	int lowest = open("/dev/null", O_RDONLY);
	assert_true(lowest >= 0);
	close(lowest);
	low = was;
	low.rlim_cur = (rlim_t)lowest; /* every descriptor below is taken */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	put(st, r20(2));
	int rc = EXP->flush(st);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
	assert_int_equal(rc, IW_OK);
	assert_string_equal(stats(st), want_stats(3, 0, 1));
	assert_false(exists(name_n(fx, 1)));
	assert_r20(fx->path, 0, 3);

	put(st, r20(3));
	EXP->flush(st);
	assert_string_equal(stats(st), want_stats(4, 1, 1));
	EXP->close(st);
	assert_r20(name_n(fx, 1), 0, 3);
	assert_r20(fx->path, 3, 4);
	assert_false(exists(name_n(fx, 2)));
}

/* logrotate renames the file and sends SIGHUP: the new file starts at size 0. If a
 * rotation comes due before the signal, what is at path is not ours: nothing is
 * renamed, the lines go to a new file at path. */
static void test_rotate_with_logrotate(void **state)
{
	struct fx *fx = *state;
	char moved[160];
	snprintf(moved, sizeof(moved), "%s.lr", fx->path);
	void *st = open_rot(fx->path, 100, 3);
	for (int i = 0; i < 3; i++)
		put(st, r20(i));
	EXP->flush(st);
	assert_int_equal(rename(fx->path, moved), 0);
	assert_int_equal(EXP->reopen(st), IW_OK);
	for (int i = 3; i < 8; i++) /* 100 bytes: they fit in the new file */
		put(st, r20(i));
	EXP->flush(st);
	assert_string_equal(stats(st), want_stats(8, 0, 0));
	assert_r20(moved, 0, 3);
	assert_r20(fx->path, 3, 8);
	assert_false(exists(name_n(fx, 1)));
	put(st, r20(8));
	EXP->flush(st);
	assert_string_equal(stats(st), want_stats(9, 1, 0));
	assert_r20(name_n(fx, 1), 3, 8);
	assert_r20(fx->path, 8, 9);

	/* moved away, signal late */
	for (int i = 9; i < 13; i++)
		put(st, r20(i));
	EXP->flush(st); /* path: 8 .. 12, full */
	assert_int_equal(unlink(moved), 0);
	assert_int_equal(rename(fx->path, moved), 0);
	put(st, r20(13));
	EXP->flush(st);
	assert_r20(moved, 8, 13);
	assert_r20(fx->path, 13, 14);
	assert_int_equal(EXP->reopen(st), IW_OK); /* same file now: goes on there */
	put(st, r20(14));
	assert_string_equal(stats(st), want_stats(15, 1, 0));
	EXP->close(st);
	assert_r20(fx->path, 13, 15);
	assert_r20(name_n(fx, 1), 3, 8);
	assert_false(exists(name_n(fx, 2)));
}

/* Record i of the many-records test, in out (room for 70001 bytes); returns its length. */
static size_t many_rec(int i, char *out)
{
	size_t len = i % 500 == 250 ? 70000 : i % 97 == 3 ? 5000 : 19 + (size_t)((i * 7919) % 280);
	int n = snprintf(out, 32, "{\"n\":%d,\"p\":\"", i);
	memset(out + n, 'a' + i % 26, len - (size_t)n - 2);
	memcpy(out + len - 2, "\"}", 2);
	return len;
}

/* Thousands of lines of many sizes (some longer than rotate_size, some longer than the
 * buffer), flushed at odd moments: the files are exactly those of packing the lines in
 * order, a new file when the next does not fit; none is past rotate_size unless it
 * holds one line; what is kept is the newest, each line once, in order. */
static void many(struct fx *fx, unsigned keep)
{
	enum { N = 3000, LIMIT = 4096 };
	static unsigned file_of[N];
	char *rec = malloc(70001);
	assert_non_null(rec);
	unsigned files = 0;
	uint64_t used = 0;
	for (int i = 0; i < N; i++) {
		uint64_t line = many_rec(i, rec) + 1;
		if (used > 0 && used + line > LIMIT) {
			files++;
			used = 0;
		}
		used += line;
		file_of[i] = files;
	}
	files++;

	void *st = open_rot(fx->path, LIMIT, keep);
	unsigned seed = 12345;
	for (int i = 0; i < N; i++) {
		assert_int_equal(EXP->write(st, IW_REC_EVENT, NULL, rec, many_rec(i, rec)), IW_OK);
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 7 == 0)
			EXP->flush(st);
	}
	assert_int_equal(EXP->flush(st), IW_OK);
	assert_string_equal(stats(st), want_stats(N, files - 1, 0));
	EXP->close(st);

	unsigned kept = files - 1 < keep ? files - 1 : keep;
	assert_false(exists(name_n(fx, kept + 1)));
	int i = 0;
	while (file_of[i] < files - 1 - kept)
		i++;
	for (unsigned k = kept + 1; k-- > 0;) {
		const char *path = k ? name_n(fx, k) : fx->path;
		char *got = slurp(path);
		assert_non_null(got);
		size_t off = 0, lines = 0, glen = strlen(got);
		for (; i < N && file_of[i] == files - 1 - k; i++, lines++) {
			size_t len = many_rec(i, rec);
			assert_true(off + len < glen);
			assert_memory_equal(got + off, rec, len);
			assert_int_equal(got[off + len], '\n');
			off += len + 1;
		}
		assert_int_equal(glen, off);
		assert_true(off <= LIMIT || lines == 1);
		free(got);
	}
	assert_int_equal(i, N);
	free(rec);
}

static void test_rotate_many(void **state)
{
	many(*state, 400);
}

static void test_rotate_many_keep_7(void **state)
{
	many(*state, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptor),
	    cmocka_unit_test_setup_teardown(test_write_flush_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_same_and_failing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test(test_disk_full),
	    cmocka_unit_test_setup_teardown(test_big_and_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stdout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kinds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_keep_flush_each, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_keep_flush_by_4, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_keep_one_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_oversized, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_after_partial_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_existing_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_never_stdout_fifo_symlink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_rename_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_chain_blocked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_open_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_with_logrotate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_many_keep_7, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
