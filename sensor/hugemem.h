/* hugemem.h - the heap in transparent huge pages.
 *
 * The sensor's state is tens of megabytes of small objects (flows, parser states, device
 * records, DNS answers) read in no particular order: with 4 KiB pages most of those reads
 * also miss the TLB. On Linux with transparent huge pages in "madvise" mode (Debian's
 * default), a range advised MADV_HUGEPAGE is backed by 2 MiB pages as it is touched. This
 * advises malloc's heap: what there is at start, and each time the heap has grown (checked
 * on every tick: sbrk(0) costs no system call). The heap grows 32 MiB at a time
 * (M_TOP_PAD), so that a new part is advised before most of it is touched. Glibc's own
 * tunable (glibc.malloc.hugetlb=1) does the same but can only be set in the environment
 * before the process starts. IOTWATCH_HUGEPAGES=0 in the environment turns it off. */
#ifndef IW_HUGEMEM_H
#define IW_HUGEMEM_H

#include <stdbool.h>
#include <stdint.h>

struct iw_hugemem {
	bool on;
	uintptr_t done; /* the heap is advised up to here */
};

/* Advises the heap there is and makes it grow in large steps; h->on false when turned
 * off or when the kernel has no transparent huge pages. */
void iw_hugemem_init(struct iw_hugemem *h);

/* Advises what the heap grew by since the last call. */
void iw_hugemem_tick(struct iw_hugemem *h);

#endif
