/* capture.c - packet sources: offline files (pcap and pcapng, microsecond timestamps)
 * and live interfaces (promiscuous, immediate mode, BPF), polled together, all through
 * libpcap but one case: a classic pcap file replayed without a filter is read by
 * pcapfile.c, whose records stay put while later ones are read, so that the sensor
 * decodes AHEAD frames ahead and their flows are in the cache at their turn, and whose
 * thread reads the file on another core when there is one (IOTWATCH_READER=libpcap in
 * the environment turns all that off, IOTWATCH_READER=inline only the thread: for
 * comparisons). */
#include <fcntl.h>
#include <errno.h>
#include <poll.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "../parsers/clock.h"
#include "pcapfile.h"

#define MAX_IFACES 16

static int set_filter(pcap_t *p, const char *name, const char *filter, char *err, size_t errlen)
{
	if (!filter || !*filter)
		return 0;
	struct bpf_program prog;
	if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(err, errlen, "filter \"%s\": %s", filter, pcap_geterr(p));
		return 2;
	}
	int rc = pcap_setfilter(p, &prog);
	pcap_freecode(&prog);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot set filter: %s", name, pcap_geterr(p));
		return 1;
	}
	return 0;
}

#define AHEAD 2 /* frames decoded ahead of the one processed */
_Static_assert(AHEAD + 1 <= IW_PCAPFILE_KEEP, "the ring holds records pcapfile.c keeps");

static ssize_t fd_read(void *arg, void *buf, size_t n)
{
	return read(*(int *)arg, buf, n);
}

/* An open descriptor on file when pcapfile.c can read it in libpcap's place, else -1. */
static int fast_path(const char *file, const struct iw_capture_opts *o)
{
	const char *env = getenv("IOTWATCH_READER");
	if ((o->filter && *o->filter) || !strcmp(file, "-") || (env && !strcmp(env, "libpcap")))
		return -1;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	uint8_t hdr[24];
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) || !iw_pcapfile_usable(hdr, sizeof(hdr))) {
		close(fd);
		return -1;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return fd;
}

static void after_packet(struct iw_sensor *s, const struct iw_capture_opts *o, const char *file, unsigned i,
                         unsigned n, uint64_t *k, double start, double *shown);

/* A file damaged part way: what was read is kept, it is said once, the next file read. */
static void damaged(struct iw_sensor *s, const char *file, const char *why)
{
	fprintf(stderr, "iotwatch: %s: %s (stopped reading this file)\n", file, why);
	iw_sensor_capture_error(s);
}

/* Replays one file through pcapfile.c with the look-ahead. */
static void replay_fast(struct iw_sensor *s, int fd, int dlt, const struct iw_capture_opts *o,
                        char *const *files, unsigned i, unsigned n, double start, double *shown)
{
	char perr[200];
	struct iw_pcapfile *pf = iw_pcapfile_new(fd_read, &fd, perr, sizeof(perr));
	if (!pf) {
		damaged(s, files[i], perr);
		return;
	}
	const char *env = getenv("IOTWATCH_READER");
	if (!(env && !strcmp(env, "inline")) && sysconf(_SC_NPROCESSORS_ONLN) > 1)
		iw_pcapfile_read_ahead(pf);
	struct iw_ahead ring[AHEAD + 1];
	unsigned head = 0, have = 0;
	uint64_t k = 0;
	int rc = 1;
	while (!*o->stop) {
		while (rc == 1 && have <= AHEAD) {
			struct iw_pcaprec r;
			rc = iw_pcapfile_next(pf, &r, perr, sizeof(perr));
			if (rc != 1)
				break;
			struct iw_ahead *a = &ring[(head + have++) % (AHEAD + 1)];
			a->dlt = dlt;
			a->data = r.data;
			a->caplen = r.caplen;
			a->wirelen = r.len;
			a->ts_us = r.ts_us;
			iw_sensor_ahead(s, a);
		}
		if (!have)
			break;
		if (have > 1)
			iw_sensor_warm(s, &ring[(head + 1) % (AHEAD + 1)]);
		iw_sensor_packet_ahead(s, &ring[head]);
		head = (head + 1) % (AHEAD + 1);
		have--;
		after_packet(s, o, files[i], i, n, &k, start, shown);
	}
	iw_pcapfile_free(pf);
	if (rc < 0 && !*o->stop)
		damaged(s, files[i], perr);
}

static uint64_t ts_us(const struct pcap_pkthdr *h)
{
	return (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
}

static void progress(struct iw_sensor *s, const char *file, unsigned i, unsigned n, double start)
{
	double el = iw_mono_s() - start;
	fprintf(stderr, "\r  %s (%u/%u): %llu packets, %.1f MB, %.0f packets/s   ", file, i + 1, n,
	        (unsigned long long)iw_sensor_packets(s), (double)iw_sensor_bytes(s) / 1e6,
	        el > 0 ? (double)iw_sensor_packets(s) / el : 0.0);
}

/* Between frames of a replay: the signals' requests, and the progress line. */
static void after_packet(struct iw_sensor *s, const struct iw_capture_opts *o, const char *file, unsigned i,
                         unsigned n, uint64_t *k, double start, double *shown)
{
	if (*o->hup) {
		*o->hup = 0;
		iw_sensor_reopen(s);
	}
	if (o->usr1 && *o->usr1) {
		*o->usr1 = 0;
		iw_sensor_write_devices(s);
	}
	if (o->progress && (++*k & 0x3ff) == 0 && iw_mono_s() - *shown >= 1.0) {
		*shown = iw_mono_s();
		progress(s, file, i, n, start);
	}
}

int iw_capture_replay(struct iw_sensor *s, char *const *files, unsigned n, const struct iw_capture_opts *o,
                      char *err, size_t errlen)
{
	double start = iw_mono_s(), shown = start;
	for (unsigned i = 0; i < n && !*o->stop; i++) {
		char perr[PCAP_ERRBUF_SIZE] = "";
		pcap_t *p =
		    pcap_open_offline_with_tstamp_precision(files[i], PCAP_TSTAMP_PRECISION_MICRO, perr);
		if (!p) {
			if (strstr(perr, files[i])) /* libpcap sometimes names the file itself */
				snprintf(err, errlen, "%s", perr);
			else
				snprintf(err, errlen, "%s: %s", files[i], perr);
			return 1;
		}
		int rc = set_filter(p, files[i], o->filter, err, errlen);
		if (rc) {
			pcap_close(p);
			return rc;
		}
		int dlt = pcap_datalink(p);
		int fd = fast_path(files[i], o);
		if (fd >= 0) {
			pcap_close(p); /* it read the header: the file opens, and dlt is libpcap's */
			replay_fast(s, fd, dlt, o, files, i, n, start, &shown);
			close(fd);
			continue;
		}
		struct pcap_pkthdr *h;
		const u_char *data;
		uint64_t k = 0;
		while (!*o->stop && (rc = pcap_next_ex(p, &h, &data)) >= 0) {
			if (rc == 0)
				continue;
			iw_sensor_packet(s, dlt, data, h->caplen, h->len, ts_us(h));
			after_packet(s, o, files[i], i, n, &k, start, &shown);
		}
		if (rc == PCAP_ERROR && !*o->stop)
			damaged(s, files[i], pcap_geterr(p));
		pcap_close(p);
	}
	if (o->progress)
		fprintf(stderr, "\r\033[K");
	return 0;
}

struct live {
	pcap_t *p;
	const char *name;
	int dlt;
	struct iw_sensor *s;
};

static void live_packet(u_char *arg, const struct pcap_pkthdr *h, const u_char *data)
{
	struct live *l = (struct live *)arg;
	iw_sensor_packet(l->s, l->dlt, data, h->caplen, h->len, ts_us(h));
}

static void live_stats(struct live *l)
{
	struct pcap_stat ps;
	if (pcap_stats(l->p, &ps) != 0)
		return;
	struct iw_capture_stats cs = {l->name, ps.ps_recv, ps.ps_drop, ps.ps_ifdrop};
	iw_sensor_capture_stats(l->s, &cs);
}

int iw_capture_live(struct iw_sensor *s, char *const *ifaces, unsigned n, const struct iw_capture_opts *o,
                    char *err, size_t errlen)
{
	struct live lv[MAX_IFACES];
	struct pollfd pfd[MAX_IFACES];
	unsigned nl = 0;
	int rc = 0;
	if (n > MAX_IFACES) {
		snprintf(err, errlen, "at most %d interfaces", MAX_IFACES);
		return 2;
	}
	for (unsigned i = 0; i < n; i++) {
		char perr[PCAP_ERRBUF_SIZE] = "";
		pcap_t *p = pcap_create(ifaces[i], perr);
		if (!p) {
			snprintf(err, errlen, "%s: %s", ifaces[i], perr);
			rc = 1;
			goto out;
		}
		pcap_set_snaplen(p, o->snaplen);
		pcap_set_promisc(p, o->promisc);
		pcap_set_immediate_mode(p, o->immediate);
		pcap_set_timeout(p, 100);
		pcap_set_buffer_size(p, 32 << 20);
		int a = pcap_activate(p);
		if (a < 0) {
			snprintf(err, errlen, "%s: %s", ifaces[i],
			         a == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(a));
			pcap_close(p);
			rc = 1;
			goto out;
		}
		lv[nl] = (struct live){p, ifaces[i], pcap_datalink(p), s};
		nl++;
		if ((rc = set_filter(p, ifaces[i], o->filter, err, errlen)))
			goto out;
		if (pcap_setnonblock(p, 1, perr) != 0 || (pfd[nl - 1].fd = pcap_get_selectable_fd(p)) < 0) {
			snprintf(err, errlen, "%s: cannot poll this interface", ifaces[i]);
			rc = 1;
			goto out;
		}
		pfd[nl - 1].events = POLLIN;
	}
	time_t last_tick = time(NULL);
	while (!*o->stop) {
		int pr = poll(pfd, nl, 200);
		if (pr < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			rc = 1;
			break;
		}
		for (unsigned i = 0; i < nl && pr > 0; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (pcap_dispatch(lv[i].p, -1, live_packet, (u_char *)&lv[i]) == PCAP_ERROR) {
				snprintf(err, errlen, "%s: %s", lv[i].name, pcap_geterr(lv[i].p));
				rc = 1;
				goto out;
			}
		}
		if (*o->hup) {
			*o->hup = 0;
			iw_sensor_reopen(s);
		}
		if (o->usr1 && *o->usr1) {
			*o->usr1 = 0;
			iw_sensor_write_devices(s);
		}
		/* a quiet link still moves the packet clock on, once a second */
		time_t t = time(NULL);
		if (t != last_tick) {
			last_tick = t;
			for (unsigned i = 0; i < nl; i++)
				live_stats(&lv[i]);
			iw_sensor_tick(s, (uint64_t)t * 1000000u);
		}
	}
out:
	for (unsigned i = 0; i < nl; i++) {
		/* drain what the kernel still holds, then read the drop counters */
		while (pcap_dispatch(lv[i].p, -1, live_packet, (u_char *)&lv[i]) > 0)
			;
		live_stats(&lv[i]);
		pcap_close(lv[i].p);
	}
	return rc;
}
