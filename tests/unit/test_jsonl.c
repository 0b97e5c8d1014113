/* test_jsonl.c - unit tests of the JSON lines exporter (DESIGN §4 exporters.jsonl, §5): buffering,
 * append, reopen after logrotate, counters, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	static char out[128];
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
	assert_string_equal(stats(st), "{\"written\":3,\"dropped\":0}");
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
	assert_string_equal(stats(st), "{\"written\":0,\"dropped\":3}");

	/* a record too big to buffer fails at once */
	size_t big = 100000;
	char *rec = malloc(big);
	assert_non_null(rec);
	memset(rec, 'x', big);
	assert_int_equal(EXP->write(st, IW_REC_ALERT, "dev", rec, big), IW_ERR);
	assert_string_equal(stats(st), "{\"written\":0,\"dropped\":4}");
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
	assert_string_equal(stats(st), "{\"written\":2,\"dropped\":0}");
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
	assert_int_equal(sscanf(stats(st), "{\"written\":%lu,\"dropped\":%lu}", &written, &dropped), 2);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
