/* jsonl.c - the JSON lines exporter: one record a line to a file or stdout (DESIGN §4 jsonl, §5).
 *
 * Records go through a 64 KiB buffer of our own and write(2), so stdio's buffering and
 * locking stay out of the hot path and a failed write is seen and counted. The file is
 * opened O_APPEND: a line from one write(2) never interleaves with another writer's.
 * reopen() (SIGHUP) lets logrotate rename the file away; later records go to a new one.
 *
 * Failures at run time (disk full, I/O error) count the records lost as dropped and go
 * on. A write that stopped mid-line leaves a partial line in the file; the next write
 * starts with a newline, so the damage is confined to that one line. */
/* strdup, O_CLOEXEC: POSIX.1-2008 when the build does not ask for more. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "../parsers/alloc.h"
#include "exporter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../parsers/cursor.h"
#include "json.h"

#define JSONL_BUF  (64 * 1024)
#define OPEN_FLAGS (O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC)
#define OPEN_MODE  0640

struct jsonl {
	char *path; /* NULL: stdout, which we flush but never close */
	int fd;
	unsigned kinds;      /* IW_REC_ bits taken; 0 takes every kind */
	bool partial;        /* the output ends in a partial line */
	size_t len, nrec;    /* bytes and records waiting in buf */
	uint64_t written;    /* records taken and not (yet) known to be lost */
	uint64_t dropped;    /* records lost to write errors */
	char buf[JSONL_BUF]; /* whole lines only */
};

/* Writes p[0..n), retrying short writes and EINTR. Returns how many bytes were written:
 * n on success, less on an error (errno says which). */
static size_t write_all(int fd, const char *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);
		if (w > 0) {
			done += (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else {
			if (w == 0)
				errno = EIO;
			break;
		}
	}
	return done;
}

/* Ends a partial line left by an earlier failure. Returns false when even that fails. */
static bool mend(struct jsonl *st)
{
	if (!st->partial)
		return true;
	if (write_all(st->fd, "\n", 1) != 1)
		return false;
	st->partial = false;
	return true;
}

static int flush_buf(struct jsonl *st)
{
	if (st->len == 0)
		return IW_OK;
	size_t done = 0;
	if (mend(st))
		done = write_all(st->fd, st->buf, st->len);
	int rc = IW_OK;
	if (done != st->len) {
		/* Records never hold a newline, so the lines that made it are the newlines. */
		size_t lines = 0;
		for (const char *p = st->buf, *end = st->buf + done; (p = memchr(p, '\n', (size_t)(end - p)));
		     p++)
			lines++;
		st->written -= st->nrec - lines;
		st->dropped += st->nrec - lines;
		if (done > 0)
			st->partial = st->buf[done - 1] != '\n';
		rc = IW_ERR;
	}
	st->len = st->nrec = 0;
	return rc;
}

/* A record too big for the buffer: written on its own (the buffer is empty by then). */
static int write_big(struct jsonl *st, const char *rec, size_t len)
{
	if (!mend(st)) {
		st->dropped++;
		return IW_ERR;
	}
	size_t done = write_all(st->fd, rec, len);
	if (done < len) {
		st->partial = st->partial || done > 0;
		st->dropped++;
		return IW_ERR;
	}
	/* The record is out; a lost newline is put back before the next line. */
	st->written++;
	if (write_all(st->fd, "\n", 1) != 1)
		st->partial = true;
	return IW_OK;
}

static const char *jsonl_configured(const struct iw_exporters_cfg *cfg)
{
	if (cfg == NULL || cfg->jsonl.path == NULL || cfg->jsonl.path[0] == '\0')
		return NULL;
	return cfg->jsonl.path;
}

static void *jsonl_open(const struct iw_exp_open *o, char *err, size_t errlen)
{
	const char *dest = o->dest != NULL ? o->dest : jsonl_configured(o->cfg);
	if (dest == NULL || dest[0] == '\0') {
		if (errlen > 0)
			snprintf(err, errlen, "no output path for jsonl");
		return NULL;
	}

	int fd = STDOUT_FILENO;
	char *path = NULL;
	if (strcmp(dest, "-") != 0) {
		fd = open(dest, OPEN_FLAGS, OPEN_MODE);
		if (fd < 0) {
			if (errlen > 0)
				snprintf(err, errlen, "cannot open %s: %s", dest, strerror(errno));
			return NULL;
		}
		path = strdup(dest);
		if (path == NULL)
			iw_oom();
	}

	struct jsonl *st = iw_malloc(sizeof(*st));
	st->path = path;
	st->fd = fd;
	st->kinds = o->kinds;
	st->partial = false;
	st->len = st->nrec = 0;
	st->written = st->dropped = 0;
	return st;
}

static int jsonl_write(void *vst, enum iw_rec_kind kind, const char *key, const char *rec, size_t len)
{
	struct jsonl *st = vst;
	(void)key;
	if (st->kinds != 0 && !(st->kinds & (unsigned)kind))
		return IW_OK; /* not a kind this instance was opened for */
	if (len >= JSONL_BUF - st->len)
		flush_buf(st); /* earlier records: a failure is counted, this one still goes */
	if (len >= JSONL_BUF)
		return write_big(st, rec, len);
	memcpy(st->buf + st->len, rec, len);
	st->buf[st->len + len] = '\n';
	st->len += len + 1;
	st->nrec++;
	st->written++;
	return IW_OK;
}

static int jsonl_flush(void *vst)
{
	return flush_buf(vst);
}

static int jsonl_reopen(void *vst)
{
	struct jsonl *st = vst;
	int rc = flush_buf(st); /* what came before the signal stays in the old file */
	if (st->path == NULL)
		return rc;
	int fd = open(st->path, OPEN_FLAGS, OPEN_MODE);
	if (fd < 0)
		return IW_ERR; /* keep writing to the old file rather than lose records */
	struct stat a, b;
	bool same =
	    fstat(fd, &a) == 0 && fstat(st->fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	close(st->fd);
	st->fd = fd;
	if (!same)
		st->partial = false; /* a new file starts clean */
	return rc;
}

static void jsonl_stats(void *vst, struct iw_json *j)
{
	struct jsonl *st = vst;
	iw_json_uint(j, "written", st->written);
	iw_json_uint(j, "dropped", st->dropped);
}

static void jsonl_close(void *vst)
{
	struct jsonl *st = vst;
	if (st == NULL)
		return;
	flush_buf(st);
	if (st->path != NULL)
		close(st->fd);
	free(st->path);
	free(st);
}

/* The jsonl exporter: on when exporters.jsonl.path is set ("-" is stdout). write()
 * buffers and returns IW_OK; records later lost to a failed write(2) move from stats
 * "written" to "dropped" (write returns IW_ERR only for a record it could not write at
 * once). open() copies the path; close() flushes and frees the instance. */
const struct iw_exporter iw_exp_jsonl = {
    .name = "jsonl",
    .configured = jsonl_configured,
    .open = jsonl_open,
    .write = jsonl_write,
    .flush = jsonl_flush,
    .reopen = jsonl_reopen,
    .stats = jsonl_stats,
    .close = jsonl_close,
};
