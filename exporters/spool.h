/* spool.h - records kept on disk while Kafka cannot take them (DESIGN §8 "spool_dir").
 *
 * A directory of append-only segment files, iotwatch-<seq>.spool, each a run of frames:
 *
 *   magic "IWK1" | u32 body length | u32 CRC-32C of the body | body
 *   body = u8 kind | u8 0 | u16 key length | key | value      (integers little-endian)
 *
 * A frame is appended with one write(2), so a process killed at any moment leaves at
 * most one partial frame, at the end of the newest segment; open() cuts it off. A frame
 * that fails its CRC anywhere else is skipped and counted (the reader looks for the next
 * magic). Appends are fsync'd in batches (iw_spool_sync, about once a second).
 *
 * Reading hands records out in order, each with a number; the caller acknowledges each
 * number once the record is delivered, in any order, or reports it failed, and then it
 * is handed out again before anything newer.
 * The position up to which every record is acknowledged is saved in the file "cursor"
 * (on sync and close), so a restart resends at most the records that were handed out but
 * not yet acknowledged at the last sync. Segments wholly acknowledged are deleted; the
 * spool is empty when every record is acknowledged, and then holds no segment at all.
 *
 * One process owns a directory at a time (flock on "lock"). Nothing here is thread-safe. */
#ifndef IW_SPOOL_H
#define IW_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IW_SPOOL_MAX_RECORD (64u << 20) /* a bigger body is refused (and is corruption on read) */

struct iw_spool;

struct iw_spool_rec {
	uint8_t kind;
	const char *key; /* NULL when the record had none */
	size_t key_len;
	const char *val;
	size_t val_len;
	uint64_t id; /* to acknowledge */
};

struct iw_spool_stats {
	uint64_t appended, append_failed, bytes; /* bytes: on disk now */
	uint64_t read, acked, corrupt, records;  /* records: appended and not yet acknowledged */
};

/* Opens (creating it when missing) and locks dir. max_bytes bounds the bytes on disk (0:
 * no bound). window is how many records may be handed out unacknowledged. Returns NULL
 * with one line in err when the directory cannot be used or is locked by another
 * process. */
struct iw_spool *iw_spool_open(const char *dir, uint64_t max_bytes, unsigned window, char *err,
                               size_t errlen);

/* Appends one record. IW_ERR when it would pass max_bytes or the write failed (counted
 * in append_failed; the record is not kept). */
int iw_spool_append(struct iw_spool *sp, uint8_t kind, const char *key, size_t key_len, const char *val,
                    size_t val_len);

/* The next record to hand out: one that failed (oldest first), else the next not yet
 * handed out. IW_OK and *r (valid until the next call on sp), or IW_DONE when there is
 * none or window records are out. */
int iw_spool_next(struct iw_spool *sp, struct iw_spool_rec *r);

/* Takes back the record the last iw_spool_next handed out (it could not be sent): the
 * next call hands it out again. */
void iw_spool_unread(struct iw_spool *sp);

/* The record numbered id is done with. Unknown or repeated ids are ignored. */
void iw_spool_ack(struct iw_spool *sp, uint64_t id);

/* The record numbered id could not be delivered: it stays in the spool and is handed out
 * again, before newer records. Unknown ids are ignored. */
void iw_spool_fail(struct iw_spool *sp, uint64_t id);

/* How many records are handed out and neither acknowledged nor failed. */
unsigned iw_spool_outstanding(const struct iw_spool *sp);

/* Nothing in the spool: every record appended has been acknowledged. */
bool iw_spool_empty(const struct iw_spool *sp);

/* fsyncs what was appended since the last call and saves the cursor. */
void iw_spool_sync(struct iw_spool *sp);

void iw_spool_stats(const struct iw_spool *sp, struct iw_spool_stats *st);

/* Syncs, unlocks and frees. NULL is fine. */
void iw_spool_close(struct iw_spool *sp);

/* CRC-32C (Castagnoli) of p[0..n), continuing from crc (0 to start). */
uint32_t iw_crc32c(uint32_t crc, const void *p, size_t n);

#endif
