/* main.c - the iotwatch command line (DESIGN §3): options, configuration, signals, and
 * the capture loop. Exit status: 0 success, 1 runtime failure, 2 usage or configuration. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "config.h"
#include "sensor.h"
#include "../parsers/clock.h"

#ifndef IW_VERSION
#define IW_VERSION "0.1.0"
#endif

#define MAX_SOURCES 64
#define MAX_SETS    64

static volatile sig_atomic_t stop_flag, hup_flag, usr1_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	hup_flag = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1_flag = 1;
}

static void usage(FILE *o)
{
	fputs("usage: iotwatch -r FILE [-r FILE ...] | -i IFACE [-i IFACE ...] [options]\n"
	      "Passive IoT/OT network security sensor: MQTT, CoAP, Modbus/TCP, remote-access tunnels.\n"
	      "\n"
	      "  -r, --read FILE        replay a pcap or pcapng capture (\"-\" reads stdin); repeatable, in "
	      "order\n"
	      "  -i, --interface IFACE  capture live from a SPAN port or TAP; repeatable\n"
	      "  -c, --config FILE      YAML configuration (all keys optional; defaults are built in)\n"
	      "  -f, --filter EXPR      BPF capture filter (overrides capture.filter)\n"
	      "  -o, --alerts FILE      alerts as JSON lines (\"-\" = stdout); sets exporters.jsonl.path\n"
	      "  -e, --events FILE      also write every decoded event as JSON lines\n"
	      "      --devices FILE     write the device inventory as JSON lines at the end (and on\n"
	      "                         SIGUSR1 when live)\n"
	      "      --set KEY=VALUE    override one configuration key (lists comma-separated)\n"
	      "      --check-config     validate the configuration, print the effective one, exit\n"
	      "      --stats            summary on stderr and a stats record at the end of the events\n"
	      "      --no-ndpi          classify by our own probes and ports only\n"
	      "      --no-parser NAMES  do not decode these protocols (comma-separated: tls, mqtt,\n"
	      "                         modbus, coap, ssh, dns); their flows are still classified\n"
	      "  -q, --quiet            no progress line\n"
	      "  -v, --verbose          say what is being read and written\n"
	      "  -V, --version          print the version\n"
	      "  -h, --help             this help\n"
	      "\n"
	      "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.\n"
	      "See iotwatch(8) and config/iotwatch.yaml.\n",
	      o);
}

/* Replaces the parsers named in the comma-separated list (in out, a NULL-terminated copy
 * of iw_parsers; "dns" names both of its descriptors) by copies in strip[] that keep
 * their probe, ports and nDPI name but decode nothing: the flows are still classified
 * and named as before, only not parsed. Returns false with the first name no parser
 * has in bad. */
static bool strip_parsers(const struct iw_parser **out, struct iw_parser *strip, const char *list, char *bad,
                          size_t badlen)
{
	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		bool found = false;
		for (size_t i = 0; out[i]; i++) {
			if (strlen(out[i]->name) != n || strncmp(out[i]->name, p, n))
				continue;
			found = true;
			if (out[i] == &strip[i])
				continue; /* named twice */
			strip[i] = *out[i];
			strip[i].parse = NULL;
			strip[i].state_new = NULL;
			strip[i].state_free = NULL;
			strip[i].gap = NULL;
			strip[i].end = NULL;
			out[i] = &strip[i];
		}
		if (!found && n) {
			snprintf(bad, badlen, "%.*s", (int)n, p);
			return false;
		}
		p += n + (comma != NULL);
	}
	return true;
}

static int die2(const char *msg, const char *arg)
{
	fprintf(stderr, "iotwatch: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	return 2;
}

int main(int argc, char **argv)
{
	enum { OPT_SET = 256, OPT_CHECK, OPT_STATS, OPT_NO_NDPI, OPT_NO_PARSER, OPT_DEVICES };
	static const struct option longopts[] = {
	    {"read", required_argument, NULL, 'r'},
	    {"interface", required_argument, NULL, 'i'},
	    {"config", required_argument, NULL, 'c'},
	    {"filter", required_argument, NULL, 'f'},
	    {"alerts", required_argument, NULL, 'o'},
	    {"events", required_argument, NULL, 'e'},
	    {"set", required_argument, NULL, OPT_SET},
	    {"devices", required_argument, NULL, OPT_DEVICES},
	    {"check-config", no_argument, NULL, OPT_CHECK},
	    {"stats", no_argument, NULL, OPT_STATS},
	    {"no-ndpi", no_argument, NULL, OPT_NO_NDPI},
	    {"no-parser", required_argument, NULL, OPT_NO_PARSER},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *files[MAX_SOURCES], *ifaces[MAX_SOURCES], *sets[MAX_SETS];
	unsigned nfiles = 0, nifaces = 0, nsets = 0;
	const char *config_path = NULL, *filter = NULL;
	struct iw_sensor_opts so = {0};
	const struct iw_parser *parsers[64];
	static struct iw_parser stripped[64];
	size_t nparsers = 0;
	for (; iw_parsers[nparsers] && nparsers + 1 < sizeof(parsers) / sizeof(parsers[0]); nparsers++)
		parsers[nparsers] = iw_parsers[nparsers];
	parsers[nparsers] = NULL;
	bool check = false, quiet = false, verbose = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":r:i:c:f:o:e:qvVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (nfiles == MAX_SOURCES)
				return die2("too many -r", NULL);
			files[nfiles++] = optarg;
			break;
		case 'i':
			if (nifaces == MAX_SOURCES)
				return die2("too many -i", NULL);
			ifaces[nifaces++] = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'f':
			filter = optarg;
			break;
		case 'o':
			so.alerts_path = optarg;
			break;
		case 'e':
			so.events_path = optarg;
			break;
		case OPT_DEVICES:
			so.devices_path = optarg;
			break;
		case OPT_SET:
			if (nsets == MAX_SETS)
				return die2("too many --set", NULL);
			sets[nsets++] = optarg;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_STATS:
			so.stats = true;
			break;
		case OPT_NO_NDPI:
			so.no_ndpi = true;
			break;
		case OPT_NO_PARSER: {
			char bad[64];
			if (!strip_parsers(parsers, stripped, optarg, bad, sizeof(bad)))
				return die2("--no-parser: no parser named", bad);
			so.parsers = parsers;
			break;
		}
		case 'q':
			quiet = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'V':
			printf("iotwatch %s\n", IW_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "iotwatch: option %s needs a value (try --help)\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "iotwatch: unknown option %s (try --help)\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "iotwatch: unexpected argument \"%s\" (try --help)\n", argv[optind]);
		return 2;
	}

	struct iw_config cfg;
	char err[512];
	iw_config_defaults(&cfg);
	int rc = 2;
	if (config_path && iw_config_load(&cfg, config_path, err, sizeof(err)) != 0)
		goto cfg_error;
	for (unsigned i = 0; i < nsets; i++)
		if (iw_config_set(&cfg, sets[i], err, sizeof(err)) != 0)
			goto cfg_error;
	if (filter) {
		free(cfg.capture.filter);
		cfg.capture.filter = strdup(filter);
		if (!cfg.capture.filter)
			abort();
	}
	if (iw_exporters_check(&cfg.exporters, err, sizeof(err)) != 0)
		goto cfg_error;
	if (check) {
		iw_config_print(&cfg, stdout);
		iw_config_free(&cfg);
		return 0;
	}
	if (!nfiles && !nifaces) {
		iw_config_free(&cfg);
		return die2("nothing to read: give -r FILE or -i IFACE (try --help)", NULL);
	}
	if (nfiles && nifaces) {
		iw_config_free(&cfg);
		return die2("-r and -i cannot be mixed", NULL);
	}

	if (so.devices_path && strcmp(so.devices_path, "-")) {
		/* the inventory is written at the end: find out now that it cannot be */
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", so.devices_path);
		FILE *f = fopen(tmp, "w");
		if (!f) {
			fprintf(stderr, "iotwatch: --devices %s: %s\n", so.devices_path, strerror(errno));
			iw_config_free(&cfg);
			return 1;
		}
		fclose(f);
		unlink(tmp);
	}

	/* SIGINT/SIGTERM interrupt a blocked read (a stalled pipe) so the run can end;
	 * SIGHUP must not, or the read would be taken for a damaged file */
	struct sigaction sa = {0};
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int code;
	struct iw_sensor *s = iw_sensor_new(&cfg, &so, err, sizeof(err), &code);
	if (!s) {
		fprintf(stderr, "iotwatch: %s\n", err);
		iw_config_free(&cfg);
		return code;
	}
	struct iw_capture_opts co = {
	    .filter = cfg.capture.filter,
	    .snaplen = (int)cfg.capture.snaplen,
	    .promisc = cfg.capture.promisc,
	    .immediate = cfg.capture.immediate,
	    .progress = !quiet && nfiles && isatty(STDERR_FILENO),
	    .stop = &stop_flag,
	    .hup = &hup_flag,
	    .usr1 = &usr1_flag,
	};
	if (verbose)
		fprintf(stderr, "iotwatch %s: %s %u %s\n", IW_VERSION, nfiles ? "replaying" : "capturing on",
		        nfiles ? nfiles : nifaces, nfiles ? "file(s)" : "interface(s)");
	double t0 = iw_mono_s();
	err[0] = '\0';
	rc = nfiles ? iw_capture_replay(s, files, nfiles, &co, err, sizeof(err))
	            : iw_capture_live(s, ifaces, nifaces, &co, err, sizeof(err));
	if (rc)
		fprintf(stderr, "iotwatch: %s\n", err);
	int lost = iw_sensor_finish(s, iw_mono_s() - t0);
	iw_config_free(&cfg);
	return rc ? rc : lost;

cfg_error:
	fprintf(stderr, "iotwatch: %s\n", err);
	iw_config_free(&cfg);
	return rc;
}
