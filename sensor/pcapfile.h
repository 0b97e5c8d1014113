/* pcapfile.h - a reader of classic pcap files (pcap-savefile(5): microsecond and
 * nanosecond, either byte order) for the replay path. libpcap copies every record twice
 * (kernel to stdio, stdio to its buffer) and hands out one record at a time; this reads
 * large blocks into a ring of buffers, so a record stays where it is while the next ones
 * are read, and the sensor can decode and look up a few packets ahead. A thread of its
 * own can read the blocks ahead (iw_pcapfile_read_ahead), off the caller's core.
 *
 * It reads records as libpcap 1.10 does: a caplen above 262144 is an error, a caplen
 * above the file's snapshot length is cut to it (the rest skipped), a record cut short
 * by the end of the file is an error, nanoseconds become microseconds (truncated); from a
 * file in the other byte order than the host's, the timestamp fields are unsigned and the
 * CAN ID of SocketCAN frames behind a cooked (SLL, SLL2) header is swapped, as libpcap does.
 * Anything else (pcapng, a link type with its own snapshot limit, stdin) stays with
 * libpcap: capture.c asks iw_pcapfile_usable() first. */
#ifndef IW_PCAPFILE_H
#define IW_PCAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IW_PCAPFILE_MAX_CAPLEN 262144u /* libpcap's MAXIMUM_SNAPLEN */

/* Where the bytes come from: read(2) on a file, or memory in the fuzz target. Returns
 * bytes read (0 at the end) or -1 with errno set. After iw_pcapfile_read_ahead() it is
 * called from the reader's thread, one call at a time. */
typedef ssize_t (*iw_pcapfile_read_fn)(void *arg, void *buf, size_t n);

struct iw_pcaprec {
	const uint8_t *data; /* valid while the next IW_PCAPFILE_KEEP records are read */
	uint32_t caplen, len;
	uint64_t ts_us;
};

struct iw_pcapfile;

/* Reads the 24-byte file header. Returns the reader, or NULL with err set when the
 * bytes are not a classic pcap file this reader takes. */
struct iw_pcapfile *iw_pcapfile_new(iw_pcapfile_read_fn rd, void *arg, char *err, size_t errlen);

/* The link type of the file's header (LINKTYPE_ values, which equal the DLT_ values
 * iw_decode takes). */
unsigned iw_pcapfile_linktype(const struct iw_pcapfile *p);

/* The next record: 1, 0 at the end of the file, -1 on a damaged file (err says what;
 * every later call returns -1 too). A record handed out stays valid while the next
 * IW_PCAPFILE_KEEP records are read. */
#define IW_PCAPFILE_KEEP 4
int iw_pcapfile_next(struct iw_pcapfile *p, struct iw_pcaprec *r, char *err, size_t errlen);

/* Starts a thread that reads the file ahead into the free buffers while the caller
 * parses, with every signal blocked. The records and errors handed out are the same.
 * False when it cannot start (the reader goes on reading in the caller's thread) or
 * when the whole file is already read. */
bool iw_pcapfile_read_ahead(struct iw_pcapfile *p);

/* Stops the thread, if one runs, and frees the reader. */
void iw_pcapfile_free(struct iw_pcapfile *p);

/* Whether a file's first bytes (at least 24) are a classic pcap header whose link type
 * the reader takes like libpcap; false sends the file to libpcap. */
bool iw_pcapfile_usable(const uint8_t *hdr, size_t n);

#endif
