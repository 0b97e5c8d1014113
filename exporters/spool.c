/* spool.c - records kept on disk while Kafka cannot take them; see spool.h for the file
 * format and the guarantees. */
#include "../parsers/alloc.h"
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../parsers/cursor.h"

#define MAGIC       0x314b5749u /* "IWK1" read as little-endian */
#define HDR         12u
#define SEG_MAX     (64u << 20) /* a new segment starts past this size */
#define PATH_MAX_IW 4096

struct seg {
	uint64_t seq, size;
};

enum slot_state { SLOT_OUT, SLOT_DONE, SLOT_FAILED };

struct slot {
	uint64_t seq, start, end; /* the record is [start, end) of segment seq */
	enum slot_state state;
};

struct iw_spool {
	char *dir;
	int lockfd;
	struct seg *segs; /* on disk, ascending seq */
	size_t nsegs, capsegs;
	int wfd; /* appends go to the last segment when open */
	bool dirty, cursor_dirty, new_seg;
	int rfd;
	uint64_t rfd_seq;
	uint64_t rseq, roff; /* the next frame to hand out */
	uint64_t pseq, poff; /* where the last handed-out frame started (unread) */
	long replayed;       /* ring index of the last hand-out when it was a failed one; -1 */
	uint64_t cseq, coff; /* every record before this is acknowledged */
	struct slot *ring;
	unsigned cap, head, count; /* count: slots in the ring, in any state */
	unsigned nout, nfailed;    /* slots out, and slots failed waiting to go out again */
	uint64_t base_id;          /* the id of ring[head] */
	char *buf;
	size_t bufcap;
	uint64_t max_bytes;
	struct iw_spool_stats st;
};

/* ---- CRC-32C, reflected polynomial 0x82F63B78, one table built on first use ---- */

static uint32_t crc_table[256];
static bool crc_ready;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
	crc_ready = true;
}

uint32_t iw_crc32c(uint32_t crc, const void *p, size_t n)
{
	if (!crc_ready)
		crc_init();
	const uint8_t *b = p;
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- little helpers ---- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void seg_path(const struct iw_spool *sp, uint64_t seq, char *out, size_t n)
{
	snprintf(out, n, "%s/iotwatch-%016" PRIx64 ".spool", sp->dir, seq);
}

static void grow_buf(struct iw_spool *sp, size_t n)
{
	if (sp->bufcap >= n)
		return;
	size_t c = sp->bufcap ? sp->bufcap : 4096;
	while (c < n)
		c *= 2;
	sp->buf = iw_realloc(sp->buf, c);
	sp->bufcap = c;
}

static size_t seg_index(const struct iw_spool *sp, uint64_t seq)
{
	size_t i = 0;
	while (i < sp->nsegs && sp->segs[i].seq < seq)
		i++;
	return i; /* the first segment at or after seq; nsegs when none */
}

static bool pread_all(int fd, void *p, size_t n, uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(fd, (char *)p + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		done += (size_t)r;
	}
	return true;
}

static bool write_all(int fd, const void *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, (const char *)p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		done += (size_t)w;
	}
	return true;
}

/* ---- frames ---- */

/* Checks the frame at off of the segment open on fd (size bytes long). Returns its whole
 * length, or 0 when no valid frame starts there. The body is left in sp->buf. */
static uint64_t frame_at(struct iw_spool *sp, int fd, uint64_t off, uint64_t size)
{
	uint8_t h[HDR];
	if (size - off < HDR || !pread_all(fd, h, HDR, off) || get32(h) != MAGIC)
		return 0;
	uint32_t len = get32(h + 4);
	if (len < 4 || len > IW_SPOOL_MAX_RECORD || size - off - HDR < len)
		return 0;
	grow_buf(sp, len);
	if (!pread_all(fd, sp->buf, len, off + HDR) || iw_crc32c(0, sp->buf, len) != get32(h + 8))
		return 0;
	uint16_t klen = (uint16_t)((uint8_t)sp->buf[2] | (uint8_t)sp->buf[3] << 8);
	if ((uint32_t)klen > len - 4)
		return 0;
	return HDR + len;
}

/* The offset of the next valid frame after off, or size when there is none. */
static uint64_t resync(struct iw_spool *sp, int fd, uint64_t off, uint64_t size)
{
	uint8_t chunk[4096];
	for (uint64_t at = off + 1; at + HDR <= size;) {
		size_t n = (size_t)(size - at < sizeof(chunk) ? size - at : sizeof(chunk));
		if (!pread_all(fd, chunk, n, at))
			return size;
		for (size_t i = 0; i + 4 <= n; i++)
			if (get32(chunk + i) == MAGIC && frame_at(sp, fd, at + i, size))
				return at + i;
		at += n > 3 ? n - 3 : n;
	}
	return size;
}

/* ---- segments ---- */

static void add_seg(struct iw_spool *sp, uint64_t seq, uint64_t size)
{
	if (sp->nsegs == sp->capsegs) {
		sp->capsegs = sp->capsegs ? sp->capsegs * 2 : 8;
		sp->segs = iw_realloc(sp->segs, sp->capsegs * sizeof(*sp->segs));
	}
	size_t i = seg_index(sp, seq);
	memmove(sp->segs + i + 1, sp->segs + i, (sp->nsegs - i) * sizeof(*sp->segs));
	sp->segs[i] = (struct seg){seq, size};
	sp->nsegs++;
	sp->st.bytes += size;
}

static void drop_seg(struct iw_spool *sp, size_t i)
{
	char p[PATH_MAX_IW];
	if (sp->rfd >= 0 && sp->rfd_seq == sp->segs[i].seq) {
		close(sp->rfd);
		sp->rfd = -1;
	}
	if (i == sp->nsegs - 1 && sp->wfd >= 0) {
		close(sp->wfd);
		sp->wfd = -1;
	}
	seg_path(sp, sp->segs[i].seq, p, sizeof(p));
	unlink(p);
	sp->st.bytes -= sp->segs[i].size;
	memmove(sp->segs + i, sp->segs + i + 1, (sp->nsegs - i - 1) * sizeof(*sp->segs));
	sp->nsegs--;
}

/* Cuts a partial or damaged tail off the newest segment (a crash while appending). */
static void trim_last(struct iw_spool *sp)
{
	if (!sp->nsegs)
		return;
	struct seg *s = &sp->segs[sp->nsegs - 1];
	char p[PATH_MAX_IW];
	seg_path(sp, s->seq, p, sizeof(p));
	int fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	uint64_t off = 0, good = 0;
	while (off < s->size) {
		uint64_t n = frame_at(sp, fd, off, s->size);
		if (n) {
			off += n;
			good = off;
		} else {
			sp->st.corrupt++;
			off = resync(sp, fd, off, s->size);
		}
	}
	if (good < s->size && ftruncate(fd, (off_t)good) == 0) {
		sp->st.bytes -= s->size - good;
		s->size = good;
	}
	close(fd);
}

static void load_cursor(struct iw_spool *sp)
{
	char p[PATH_MAX_IW];
	snprintf(p, sizeof(p), "%s/cursor", sp->dir);
	FILE *f = fopen(p, "r");
	uint64_t seq = 0, off = 0;
	if (f) {
		if (fscanf(f, "%" SCNu64 " %" SCNu64, &seq, &off) != 2)
			seq = off = 0;
		fclose(f);
	}
	/* segments before the cursor's were wholly acknowledged */
	while (sp->nsegs && sp->segs[0].seq < seq)
		drop_seg(sp, 0);
	if (sp->nsegs && sp->segs[0].seq == seq && off <= sp->segs[0].size) {
		sp->cseq = sp->rseq = seq;
		sp->coff = sp->roff = off;
	} else if (sp->nsegs) {
		sp->cseq = sp->rseq = sp->segs[0].seq;
		sp->coff = sp->roff = 0;
	}
}

static void save_cursor(struct iw_spool *sp)
{
	char p[PATH_MAX_IW], t[PATH_MAX_IW];
	snprintf(p, sizeof(p), "%s/cursor", sp->dir);
	if (!sp->nsegs) {
		unlink(p);
		sp->cursor_dirty = false;
		return;
	}
	snprintf(t, sizeof(t), "%s/cursor.tmp", sp->dir);
	FILE *f = fopen(t, "w");
	if (!f)
		return;
	fprintf(f, "%" PRIu64 " %" PRIu64 "\n", sp->cseq, sp->coff);
	if (fclose(f) == 0 && rename(t, p) == 0)
		sp->cursor_dirty = false;
}

static bool nothing_unread(const struct iw_spool *sp)
{
	if (!sp->nsegs)
		return true;
	const struct seg *last = &sp->segs[sp->nsegs - 1];
	return sp->rseq >= last->seq && sp->roff >= last->size;
}

/* Deletes what is wholly acknowledged; an empty spool holds no segment. */
static void collect(struct iw_spool *sp)
{
	while (sp->nsegs > 1 && sp->segs[0].seq < sp->cseq)
		drop_seg(sp, 0);
	if (sp->count == 0 && nothing_unread(sp) && sp->nsegs) {
		while (sp->nsegs)
			drop_seg(sp, sp->nsegs - 1);
		sp->rseq = sp->roff = sp->cseq = sp->coff = 0;
		sp->cursor_dirty = true;
		sp->dirty = false;
	}
}

/* ---- the interface ---- */

struct iw_spool *iw_spool_open(const char *dir, uint64_t max_bytes, unsigned window, char *err, size_t errlen)
{
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "spool_dir %s: %s", dir, strerror(errno));
		return NULL;
	}
	char p[PATH_MAX_IW];
	snprintf(p, sizeof(p), "%s/lock", dir);
	int lfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (lfd < 0) {
		snprintf(err, errlen, "spool_dir %s: %s", dir, strerror(errno));
		return NULL;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "spool_dir %s is in use by another iotwatch", dir);
		close(lfd);
		return NULL;
	}
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "spool_dir %s: %s", dir, strerror(errno));
		close(lfd);
		return NULL;
	}
	struct iw_spool *sp = iw_calloc(1, sizeof(*sp));
	size_t dlen = strlen(dir) + 1;
	sp->dir = iw_malloc(dlen);
	memcpy(sp->dir, dir, dlen);
	sp->lockfd = lfd;
	sp->wfd = sp->rfd = -1;
	sp->replayed = -1;
	sp->max_bytes = max_bytes;
	sp->cap = window ? window : 1;
	sp->ring = iw_calloc(sp->cap, sizeof(*sp->ring));
	for (struct dirent *e; (e = readdir(d));) {
		uint64_t seq;
		char tail[8];
		if (sscanf(e->d_name, "iotwatch-%16" SCNx64 ".%7s", &seq, tail) != 2 ||
		    strcmp(tail, "spool") || strlen(e->d_name) != 31 || seq == 0)
			continue;
		struct stat stt;
		seg_path(sp, seq, p, sizeof(p));
		if (stat(p, &stt) == 0 && S_ISREG(stt.st_mode))
			add_seg(sp, seq, (uint64_t)stt.st_size);
	}
	closedir(d);
	trim_last(sp);
	load_cursor(sp);
	collect(sp);
	return sp;
}

int iw_spool_append(struct iw_spool *sp, uint8_t kind, const char *key, size_t key_len, const char *val,
                    size_t val_len)
{
	if (!key)
		key_len = 0;
	if (key_len > UINT16_MAX)
		key_len = UINT16_MAX; /* device ids are far shorter; a key is only a partition hint */
	size_t body = 4 + key_len + val_len;
	if (val_len > IW_SPOOL_MAX_RECORD || body > IW_SPOOL_MAX_RECORD ||
	    (sp->max_bytes && sp->st.bytes + HDR + body > sp->max_bytes)) {
		sp->st.append_failed++;
		return IW_ERR;
	}
	if (sp->wfd < 0 || sp->segs[sp->nsegs - 1].size >= SEG_MAX) {
		uint64_t seq = sp->nsegs ? sp->segs[sp->nsegs - 1].seq + 1 : (sp->cseq ? sp->cseq : 1);
		char p[PATH_MAX_IW];
		if (sp->wfd >= 0)
			close(sp->wfd);
		if (sp->nsegs && sp->segs[sp->nsegs - 1].size < SEG_MAX)
			seq = sp->segs[sp->nsegs - 1].seq; /* reopen the newest after open() */
		seg_path(sp, seq, p, sizeof(p));
		sp->wfd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (sp->wfd < 0) {
			sp->st.append_failed++;
			return IW_ERR;
		}
		if (!sp->nsegs || sp->segs[sp->nsegs - 1].seq != seq) {
			add_seg(sp, seq, 0);
			if (sp->nsegs == 1) {
				sp->rseq = sp->cseq = seq;
				sp->roff = sp->coff = 0;
			}
			sp->new_seg = true;
		}
	}
	grow_buf(sp, HDR + body);
	uint8_t *f = (uint8_t *)sp->buf;
	put32(f, MAGIC);
	put32(f + 4, (uint32_t)body);
	f[12] = kind;
	f[13] = 0;
	f[14] = (uint8_t)key_len;
	f[15] = (uint8_t)(key_len >> 8);
	if (key_len)
		memcpy(f + 16, key, key_len);
	if (val_len)
		memcpy(f + 16 + key_len, val, val_len);
	put32(f + 8, iw_crc32c(0, f + HDR, body));
	struct seg *last = &sp->segs[sp->nsegs - 1];
	if (!write_all(sp->wfd, f, HDR + body)) {
		/* keep the framing: cut what part of the frame got in */
		if (ftruncate(sp->wfd, (off_t)last->size) != 0) {
			close(sp->wfd);
			sp->wfd = -1; /* the next append starts a new segment; trim happens on reopen */
		}
		sp->st.append_failed++;
		return IW_ERR;
	}
	last->size += HDR + body;
	sp->st.bytes += HDR + body;
	sp->st.appended++;
	sp->st.records++;
	sp->dirty = true;
	return IW_OK;
}

/* The read descriptor on segment seq, opened when it is on another; false when the file
 * cannot be opened (gone from under us). */
static bool read_fd(struct iw_spool *sp, uint64_t seq)
{
	if (sp->rfd >= 0 && sp->rfd_seq == seq)
		return true;
	char p[PATH_MAX_IW];
	if (sp->rfd >= 0)
		close(sp->rfd);
	seg_path(sp, seq, p, sizeof(p));
	sp->rfd = open(p, O_RDONLY | O_CLOEXEC);
	sp->rfd_seq = seq;
	return sp->rfd >= 0;
}

/* Fills r from the body frame_at left in sp->buf, for a frame n bytes long. */
static void fill_rec(const struct iw_spool *sp, uint64_t n, struct iw_spool_rec *r)
{
	const uint8_t *b = (const uint8_t *)sp->buf;
	size_t klen = (size_t)b[2] | (size_t)b[3] << 8;
	r->kind = b[0];
	r->key = klen ? sp->buf + 4 : NULL;
	r->key_len = klen;
	r->val = sp->buf + 4 + klen;
	r->val_len = (size_t)(n - HDR) - 4 - klen;
}

/* Fills r from the frame of segment seq at off; false when it cannot be read again. */
static bool reread(struct iw_spool *sp, uint64_t seq, uint64_t off, struct iw_spool_rec *r)
{
	size_t i = seg_index(sp, seq);
	if (i == sp->nsegs || sp->segs[i].seq != seq || !read_fd(sp, seq))
		return false;
	uint64_t n = frame_at(sp, sp->rfd, off, sp->segs[i].size);
	if (n)
		fill_rec(sp, n, r);
	return n != 0;
}

/* A failed record goes out again before anything newer. */
static int next_failed(struct iw_spool *sp, struct iw_spool_rec *r)
{
	for (unsigned i = 0; i < sp->count; i++) {
		struct slot *s = &sp->ring[(sp->head + i) % sp->cap];
		if (s->state != SLOT_FAILED)
			continue;
		if (!reread(sp, s->seq, s->start, r)) {
			/* damaged since it was first read: nothing to send again */
			sp->st.corrupt++;
			iw_spool_ack(sp, sp->base_id + i);
			return next_failed(sp, r);
		}
		sp->nfailed--;
		s->state = SLOT_OUT;
		sp->nout++;
		r->id = sp->base_id + i;
		sp->replayed = (long)i;
		sp->st.read++;
		return IW_OK;
	}
	return IW_DONE;
}

int iw_spool_next(struct iw_spool *sp, struct iw_spool_rec *r)
{
	if (sp->nout >= sp->cap)
		return IW_DONE;
	if (sp->nfailed)
		return next_failed(sp, r);
	if (sp->count == sp->cap)
		return IW_DONE;
	sp->replayed = -1;
	for (;;) {
		size_t i = seg_index(sp, sp->rseq);
		if (i == sp->nsegs)
			return IW_DONE;
		if (sp->segs[i].seq != sp->rseq) {
			sp->rseq = sp->segs[i].seq;
			sp->roff = 0;
		}
		struct seg *s = &sp->segs[i];
		if (sp->roff >= s->size) {
			if (i + 1 == sp->nsegs)
				return IW_DONE;
			sp->rseq = sp->segs[i + 1].seq;
			sp->roff = 0;
			continue;
		}
		if (!read_fd(sp, s->seq)) { /* gone from under us: nothing in it can be read */
			sp->st.corrupt++;
			sp->roff = s->size;
			continue;
		}
		uint64_t n = frame_at(sp, sp->rfd, sp->roff, s->size);
		if (!n) {
			sp->st.corrupt++;
			sp->roff = resync(sp, sp->rfd, sp->roff, s->size);
			continue;
		}
		fill_rec(sp, n, r);
		r->id = sp->base_id + sp->count;
		sp->pseq = sp->rseq;
		sp->poff = sp->roff;
		sp->roff += n;
		sp->ring[(sp->head + sp->count) % sp->cap] =
		    (struct slot){s->seq, sp->poff, sp->roff, SLOT_OUT};
		sp->count++;
		sp->nout++;
		sp->st.read++;
		return IW_OK;
	}
}

void iw_spool_unread(struct iw_spool *sp)
{
	if (!sp->nout)
		return;
	sp->st.read--;
	sp->nout--;
	if (sp->replayed >= 0) {
		sp->ring[(sp->head + (unsigned)sp->replayed) % sp->cap].state = SLOT_FAILED;
		sp->nfailed++;
		sp->replayed = -1;
		return;
	}
	sp->count--;
	sp->rseq = sp->pseq;
	sp->roff = sp->poff;
}

void iw_spool_ack(struct iw_spool *sp, uint64_t id)
{
	if (id < sp->base_id || id - sp->base_id >= sp->count)
		return;
	struct slot *s = &sp->ring[(sp->head + (id - sp->base_id)) % sp->cap];
	if (s->state == SLOT_DONE)
		return;
	if (s->state == SLOT_OUT)
		sp->nout--;
	else
		sp->nfailed--;
	s->state = SLOT_DONE;
	sp->replayed = -1;
	sp->st.acked++;
	if (sp->st.records)
		sp->st.records--;
	while (sp->count && sp->ring[sp->head].state == SLOT_DONE) {
		sp->cseq = sp->ring[sp->head].seq;
		sp->coff = sp->ring[sp->head].end;
		sp->head = (sp->head + 1) % sp->cap;
		sp->base_id++;
		sp->count--;
		sp->cursor_dirty = true;
	}
	collect(sp);
}

void iw_spool_fail(struct iw_spool *sp, uint64_t id)
{
	if (id < sp->base_id || id - sp->base_id >= sp->count)
		return;
	struct slot *s = &sp->ring[(sp->head + (id - sp->base_id)) % sp->cap];
	if (s->state != SLOT_OUT)
		return;
	s->state = SLOT_FAILED;
	sp->nout--;
	sp->nfailed++;
	sp->replayed = -1;
}

unsigned iw_spool_outstanding(const struct iw_spool *sp)
{
	return sp->nout;
}

bool iw_spool_empty(const struct iw_spool *sp)
{
	return sp->count == 0 && nothing_unread(sp);
}

void iw_spool_sync(struct iw_spool *sp)
{
	if (sp->dirty && sp->wfd >= 0)
		fdatasync(sp->wfd);
	sp->dirty = false;
	if (sp->new_seg) {
		int dfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		sp->new_seg = false;
	}
	if (sp->cursor_dirty)
		save_cursor(sp);
}

void iw_spool_stats(const struct iw_spool *sp, struct iw_spool_stats *st)
{
	*st = sp->st;
}

void iw_spool_close(struct iw_spool *sp)
{
	if (!sp)
		return;
	sp->cursor_dirty = true;
	iw_spool_sync(sp);
	if (sp->wfd >= 0)
		close(sp->wfd);
	if (sp->rfd >= 0)
		close(sp->rfd);
	close(sp->lockfd); /* releases the flock */
	free(sp->segs);
	free(sp->ring);
	free(sp->buf);
	free(sp->dir);
	free(sp);
}
