/* fuzz_pcap.c - the whole pipeline on a whole capture file: libpcap reads the input as
 * a pcap or pcapng file, every frame goes through decode, flows, reassembly, probes and
 * parsers, and every event is serialised (to /dev/null). Inputs of odd length go through
 * the replay look-ahead (iw_sensor_ahead, _warm, _packet_ahead) instead. nDPI is left out: its start-up
 * costs tens of milliseconds per input, which would leave the fuzzer at ~15 runs/s; the
 * capture regressions run it on every public capture under ASan instead. */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/config.h"
#include "sensor/sensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *fp = fmemopen((void *)data, size, "rb");
	if (!fp)
		return 0;
	char perr[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_fopen_offline(fp, perr); /* owns fp from here */
	if (!p) {
		fclose(fp);
		return 0;
	}
	struct iw_config cfg;
	iw_config_defaults(&cfg);
	cfg.limits.max_flows = 64; /* small, so eviction is exercised too */
	cfg.limits.stream_buffer = 4096;
	struct iw_sensor_opts o = {
	    .alerts_path = "/dev/null", .events_path = "/dev/null", .stats = true, .no_ndpi = true};
	char err[256];
	int code;
	struct iw_sensor *s = iw_sensor_new(&cfg, &o, err, sizeof(err), &code);
	if (!s)
		abort();
	int dlt = pcap_datalink(p);
	struct pcap_pkthdr *h;
	const u_char *pkt;
	if (size & 1) {
		/* the replay look-ahead of capture.c: frames decoded two ahead (copied, as
		 * libpcap reuses its buffer), warmed one ahead, then processed */
		struct iw_ahead ring[3];
		uint8_t *copy[3] = {NULL, NULL, NULL};
		unsigned head = 0, have = 0;
		bool more = true;
		for (;;) {
			while (more && have < 3) {
				if (pcap_next_ex(p, &h, &pkt) != 1) {
					more = false;
					break;
				}
				unsigned k = (head + have++) % 3;
				free(copy[k]);
				copy[k] = malloc(h->caplen ? h->caplen : 1);
				if (!copy[k])
					abort();
				memcpy(copy[k], pkt, h->caplen);
				ring[k] = (struct iw_ahead){.dlt = dlt,
				                            .data = copy[k],
				                            .caplen = h->caplen,
				                            .wirelen = h->len,
				                            .ts_us = (uint64_t)h->ts.tv_sec * 1000000u +
				                                     (uint64_t)h->ts.tv_usec};
				iw_sensor_ahead(s, &ring[k]);
			}
			if (!have)
				break;
			if (have > 1)
				iw_sensor_warm(s, &ring[(head + 1) % 3]);
			iw_sensor_packet_ahead(s, &ring[head]);
			head = (head + 1) % 3;
			have--;
		}
		for (unsigned k = 0; k < 3; k++)
			free(copy[k]);
	} else {
		while (pcap_next_ex(p, &h, &pkt) == 1)
			iw_sensor_packet(s, dlt, pkt, h->caplen, h->len,
			                 (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec);
	}
	pcap_close(p);
	/* the stats summary goes to stderr: keep the fuzzer's output readable */
	FILE *saved = stderr;
	stderr = fopen("/dev/null", "w");
	iw_sensor_finish(s, 0);
	fclose(stderr);
	stderr = saved;
	iw_config_free(&cfg);
	return 0;
}
