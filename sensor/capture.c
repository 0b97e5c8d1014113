/* capture.c - libpcap sources: offline files (pcap and pcapng, microsecond timestamps)
 * and live interfaces (promiscuous, immediate mode, BPF), polled together. */
#include <errno.h>
#include <poll.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "../parsers/clock.h"

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
		struct pcap_pkthdr *h;
		const u_char *data;
		uint64_t k = 0;
		while (!*o->stop && (rc = pcap_next_ex(p, &h, &data)) >= 0) {
			if (rc == 0)
				continue;
			iw_sensor_packet(s, dlt, data, h->caplen, h->len, ts_us(h));
			if (*o->hup) {
				*o->hup = 0;
				iw_sensor_reopen(s);
			}
			if (o->usr1 && *o->usr1) {
				*o->usr1 = 0;
				iw_sensor_write_devices(s);
			}
			if (o->progress && (++k & 0x3ff) == 0 && iw_mono_s() - shown >= 1.0) {
				shown = iw_mono_s();
				progress(s, files[i], i, n, start);
			}
		}
		if (rc == PCAP_ERROR && !*o->stop) {
			/* a damaged file: keep what was read, say so once, go on */
			fprintf(stderr, "iotwatch: %s: %s (stopped reading this file)\n", files[i],
			        pcap_geterr(p));
			iw_sensor_capture_error(s);
		}
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
