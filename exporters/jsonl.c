/* jsonl.c - the JSON lines exporter: one record a line to a file or stdout (DESIGN §4 jsonl, §5).
 *
 * Records go through a 64 KiB buffer of our own and write(2), so stdio's buffering and
 * locking stay out of the hot path and a failed write is seen and counted. The file is
 * opened O_APPEND: a line from one write(2) never interleaves with another writer's.
 * reopen() (SIGHUP) lets logrotate rename the file away; later records go to a new one.
 *
 * Rotation by size (exporters.jsonl.rotate_size > 0, a regular file named by its own
 * path, not a symlink): when the next line would take the file past rotate_size and the
 * file is not empty, path.(keep-1) -> path.keep ... path.1 -> path.2, path -> path.1, and
 * a new path is opened. It happens only where lines leave the buffer (a flush, or a
 * record too big to buffer), always between two lines, so a file never exceeds
 * rotate_size unless its only line does. The size is fstat's at open and reopen, then
 * counted. A rename that fails is counted and the current file takes the lines; nothing
 * is lost for it.
 *
 * Failures at run time (disk full, I/O error) count the records lost as dropped and go
 * on. A write that stopped mid-line leaves a partial line in the file; the next write
 * starts with a newline, so the damage is confined to that one line. */
/* strdup, O_CLOEXEC, lstat: POSIX.1-2008 when the build does not ask for more. */
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
#define KEEP_MAX   1000 /* as exporters.jsonl.rotate_keep allows; ".1000" names the last */

struct jsonl {
	char *path; /* NULL: stdout, which we flush but never close */
	int fd;
	unsigned kinds;       /* IW_REC_ bits taken; 0 takes every kind */
	bool partial;         /* the output ends in a partial line */
	bool rotatable;       /* path names the regular file we write, itself */
	uint64_t rotate_size; /* bytes; 0: no rotation (always so for stdout) */
	unsigned rotate_keep; /* path.1 .. path.keep are kept */
	uint64_t size;        /* bytes in the current file: fstat at open, then counted */
	char *from, *to;      /* room for "path.N" names, namelen bytes each */
	size_t namelen;
	size_t len, nrec;           /* bytes and records waiting in buf */
	uint64_t written;           /* records taken and not (yet) known to be lost */
	uint64_t dropped;           /* records lost to write errors */
	uint64_t rotations;         /* new files begun for rotate_size */
	uint64_t rotation_failures; /* rotations that could not be done: the file grew on */
	char buf[JSONL_BUF];        /* whole lines only */
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
	st->size++;
	st->partial = false;
	return true;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Takes what the current file is from fstat: its size, and whether it may rotate (a
 * regular file that path itself names: renaming a symlink or a device would be wrong). */
static void measure(struct jsonl *st)
{
	struct stat f, p;
	st->rotatable = false;
	st->size = 0;
	if (st->path == NULL || fstat(st->fd, &f) != 0 || !S_ISREG(f.st_mode))
		return;
	st->size = (uint64_t)f.st_size;
	st->rotatable = lstat(st->path, &p) == 0 && same_file(&p, &f);
}

/* Opens path again and goes on there. IW_ERR (open failed) keeps the current file. */
static int reopen_path(struct jsonl *st)
{
	int fd = open(st->path, OPEN_FLAGS, OPEN_MODE);
	if (fd < 0)
		return IW_ERR;
	struct stat a, b;
	bool same = fstat(fd, &a) == 0 && fstat(st->fd, &b) == 0 && same_file(&a, &b);
	close(st->fd);
	st->fd = fd;
	if (!same)
		st->partial = false; /* a new file starts clean */
	measure(st);
	return IW_OK;
}

static void name_of(const struct jsonl *st, char *out, unsigned n)
{
	snprintf(out, st->namelen, "%s.%u", st->path, n);
}

/* Moves the current file to path.1 (the older ones up by one, the oldest beyond
 * rotate_keep replaced) and opens a new path. Returns IW_OK when writing goes on in the
 * new file; IW_ERR, counted, when it goes on in the current one. */
static int rotate(struct jsonl *st)
{
	struct stat a, b;
	if (lstat(st->path, &a) != 0 || fstat(st->fd, &b) != 0 || !same_file(&a, &b)) {
		/* Someone moved our file away (logrotate, its SIGHUP not yet here): what is at
		 * path is not ours to rename. Go on at path, as that SIGHUP would. */
		if (reopen_path(st) == IW_OK)
			return IW_OK;
		goto fail;
	}
	for (unsigned i = st->rotate_keep; i > 1; i--) {
		name_of(st, st->from, i - 1);
		name_of(st, st->to, i);
		/* a gap in the numbers is no failure; anything else stops before path.1 is
		 * overwritten */
		if (rename(st->from, st->to) != 0 && errno != ENOENT)
			goto fail;
	}
	name_of(st, st->to, 1);
	if (rename(st->path, st->to) != 0)
		goto fail;
	int fd = open(st->path, OPEN_FLAGS, OPEN_MODE);
	if (fd < 0) {
		/* No new file: put ours back where the next attempt looks for it. If even that
		 * fails, the next attempt finds path gone and opens it afresh. */
		(void)rename(st->to, st->path);
		goto fail;
	}
	close(st->fd);
	st->fd = fd;
	st->partial = false;
	measure(st);
	st->rotations++;
	return IW_OK;
fail:
	st->rotation_failures++;
	return IW_ERR;
}

/* Bytes of buf[off..len), whole lines, that the current file takes, rotating first when
 * the next line does not fit in what rotate_size leaves and the file is not empty. One
 * attempt: after a failure the current file takes them all. */
static size_t chunk(struct jsonl *st, size_t off)
{
	const char *p = st->buf + off;
	size_t n = st->len - off;
	uint64_t used = st->size + st->partial; /* a partial line gets its newline first */
	if (!st->rotatable || st->rotate_size == 0 || used + n <= st->rotate_size)
		return n;
	const char *nl = memchr(p, '\n', n);
	size_t first = nl != NULL ? (size_t)(nl - p) + 1 : n;
	if (used > 0 && used + first > st->rotate_size) {
		if (rotate(st) != IW_OK)
			return n;
		used = st->size + st->partial;
		if (!st->rotatable || used + n <= st->rotate_size)
			return n;
	}
	/* the first line goes in any case: it fits, or the file is new (or not ours to
	 * rotate again in this attempt) */
	size_t take = first;
	while (take < n && (nl = memchr(p + take, '\n', n - take)) != NULL) {
		size_t next = (size_t)(nl - p) + 1;
		if (used + next > st->rotate_size)
			break;
		take = next;
	}
	return take;
}

static int flush_buf(struct jsonl *st)
{
	int rc = IW_OK;
	size_t off = 0;
	while (off < st->len) {
		size_t n = chunk(st, off), done = 0;
		if (mend(st))
			done = write_all(st->fd, st->buf + off, n);
		st->size += done;
		off += done;
		if (done == n)
			continue;
		if (done > 0)
			st->partial = st->buf[off - 1] != '\n';
		/* Records never hold a newline, so the lines that made it are the newlines. */
		size_t lines = 0;
		for (const char *q = st->buf, *end = st->buf + off; (q = memchr(q, '\n', (size_t)(end - q)));
		     q++)
			lines++;
		st->written -= st->nrec - lines;
		st->dropped += st->nrec - lines;
		rc = IW_ERR;
		break;
	}
	st->len = st->nrec = 0;
	return rc;
}

/* A record too big for the buffer: written on its own (the buffer is empty by then). */
static int write_big(struct jsonl *st, const char *rec, size_t len)
{
	uint64_t used = st->size + st->partial;
	if (st->rotatable && st->rotate_size != 0 && used > 0 && used + len + 1 > st->rotate_size)
		rotate(st); /* a failure is counted; the record still goes */
	if (!mend(st)) {
		st->dropped++;
		return IW_ERR;
	}
	size_t done = write_all(st->fd, rec, len);
	st->size += done;
	if (done < len) {
		st->partial = st->partial || done > 0;
		st->dropped++;
		return IW_ERR;
	}
	/* The record is out; a lost newline is put back before the next line. */
	st->written++;
	if (write_all(st->fd, "\n", 1) == 1)
		st->size++;
	else
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
	st->rotate_size = 0;
	st->rotate_keep = 1;
	st->from = st->to = NULL;
	st->namelen = 0;
	if (path != NULL && o->cfg != NULL && o->cfg->jsonl.rotate_size > 0) {
		uint64_t keep = o->cfg->jsonl.rotate_keep;
		st->rotate_size = o->cfg->jsonl.rotate_size;
		st->rotate_keep = keep < 1 ? 1 : keep > KEEP_MAX ? KEEP_MAX : (unsigned)keep;
		st->namelen = strlen(path) + sizeof(".1000");
		st->from = iw_malloc(2 * st->namelen);
		st->to = st->from + st->namelen;
	}
	measure(st);
	st->len = st->nrec = 0;
	st->written = st->dropped = 0;
	st->rotations = st->rotation_failures = 0;
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
	if (reopen_path(st) != IW_OK)
		return IW_ERR; /* keep writing to the old file rather than lose records */
	return rc;
}

static void jsonl_stats(void *vst, struct iw_json *j)
{
	struct jsonl *st = vst;
	iw_json_uint(j, "written", st->written);
	iw_json_uint(j, "dropped", st->dropped);
	iw_json_uint(j, "rotations", st->rotations);
	iw_json_uint(j, "rotation_failures", st->rotation_failures);
}

static void jsonl_close(void *vst)
{
	struct jsonl *st = vst;
	if (st == NULL)
		return;
	flush_buf(st);
	if (st->path != NULL)
		close(st->fd);
	free(st->from);
	free(st->path);
	free(st);
}

/* The jsonl exporter: on when exporters.jsonl.path is set ("-" is stdout). write()
 * buffers and returns IW_OK; records later lost to a failed write(2) move from stats
 * "written" to "dropped" (write returns IW_ERR only for a record it could not write at
 * once). With exporters.jsonl.rotate_size, files rotate by size (stats "rotations",
 * "rotation_failures"). open() copies the path; close() flushes and frees the instance. */
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
