/* bareloop.c — reads a pcap with libpcap and nothing more: the floor under every pcap-reading tool's speed.
 */
#define _DEFAULT_SOURCE

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct timespec t0, t1;
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t packets = 0, bytes = 0;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: bareloop FILE\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pcap_t *p = pcap_open_offline(argv[1], err);
	if (!p) {
		fprintf(stderr, "bareloop: %s\n", err);
		return 1;
	}
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		packets++;
		bytes += h->caplen;
	}
	if (rc == PCAP_ERROR) {
		fprintf(stderr, "bareloop: %s: %s\n", argv[1], pcap_geterr(p));
		pcap_close(p);
		return 1;
	}
	pcap_close(p);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("packets %llu bytes %llu seconds %.6f pps %.0f mbps %.1f\n", (unsigned long long)packets,
	       (unsigned long long)bytes, s, s > 0 ? (double)packets / s : 0.0,
	       s > 0 ? (double)bytes / s / 1e6 : 0.0);
	return 0;
}
