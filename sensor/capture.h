/* capture.h - packets in: pcap/pcapng files in order ("-" is stdin) or live interfaces
 * through libpcap, handed to the sensor one frame at a time. */
#ifndef IW_CAPTURE_H
#define IW_CAPTURE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "sensor.h"

struct iw_capture_opts {
	const char *filter; /* BPF, "" for none */
	int snaplen;
	bool promisc, immediate;
	bool progress;               /* a progress line on stderr while replaying */
	volatile sig_atomic_t *stop; /* set by SIGINT/SIGTERM */
	volatile sig_atomic_t *hup;  /* set by SIGHUP: reopen outputs */
	volatile sig_atomic_t *usr1; /* set by SIGUSR1: write the device inventory; may be NULL */
};

/* Replays files in order. Returns 0; 1 when a file cannot be opened (err says which);
 * 2 when the filter does not compile. A file that turns out damaged part-way is warned
 * about once on stderr, counted, and the next file read. */
int iw_capture_replay(struct iw_sensor *s, char *const *files, unsigned n, const struct iw_capture_opts *o,
                      char *err, size_t errlen);

/* Captures from interfaces until stopped. Returns 0 on a clean stop, 1 when an
 * interface cannot be opened or fails, 2 on a bad filter; err says why. */
int iw_capture_live(struct iw_sensor *s, char *const *ifaces, unsigned n, const struct iw_capture_opts *o,
                    char *err, size_t errlen);

#endif
