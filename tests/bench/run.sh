#!/bin/sh
# run.sh — benchmark iotwatch against a bare libpcap read loop and ndpiReader on a generated IoT capture.
#
# Every rule is on (the default configuration); one more series runs with the device state in
# a Redis started here, and four more compare Kafka export (librdkafka's mock cluster,
# build/kafka-mock, in its own process) with the jsonl exporter, for alerts and for every
# event. Environment: IOTWATCH (./iotwatch), BENCH_PACKETS (2000000), BENCH_DIR (build/bench),
# KAFKA_MOCK (build/kafka-mock).
# Exits 0 whatever the figures are (a benchmark, not a test); 1 only when it cannot run at all.
set -eu

IOTWATCH=${IOTWATCH:-./iotwatch}
BENCH_PACKETS=${BENCH_PACKETS:-2000000}
BENCH_DIR=${BENCH_DIR:-build/bench}
SMALL_PACKETS=1000
here=$(cd "$(dirname "$0")" && pwd)

die() {
	echo "bench: $*" >&2
	exit 1
}

case $BENCH_PACKETS in
'' | *[!0-9]*) die "BENCH_PACKETS must be a number, not '$BENCH_PACKETS'" ;;
esac
[ -x "$IOTWATCH" ] || die "no iotwatch binary at $IOTWATCH (make iotwatch, or set IOTWATCH)"
command -v gcc >/dev/null || die "gcc missing (sh scripts/deps.sh bench)"
pcap_cflags=$(pkg-config --cflags libpcap) || die "libpcap development files missing (sh scripts/deps.sh bench)"
pcap_libs=$(pkg-config --libs libpcap)

mkdir -p "$BENCH_DIR"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

gcc -O2 -std=c11 -Wall -Wextra -Werror -o "$BENCH_DIR/gen" "$here/gen.c"
# shellcheck disable=SC2086 # the pkg-config flags are word lists
gcc -O2 -std=c11 -Wall -Wextra -Werror $pcap_cflags -o "$BENCH_DIR/bareloop" "$here/bareloop.c" $pcap_libs

# capture N: prints the path of the seed-1 capture of N packets, generating it the first time.
capture() {
	f=$BENCH_DIR/mixed-$1-s1.pcap
	if [ ! -s "$f" ]; then
		echo "bench: generating $f" >&2
		"$BENCH_DIR/gen" -o "$f.tmp" -n "$1" -s 1 >"$f.txt"
		mv "$f.tmp" "$f"
	fi
	echo "$f"
}

pcap=$(capture "$BENCH_PACKETS")
small=$(capture "$SMALL_PACKETS")
echo "capture: $pcap"
[ -s "$pcap.txt" ] && sed 's/^/  /' "$pcap.txt"
cat "$pcap" "$small" >/dev/null # page cache warm

# measure OUT ERR CMD...: runs CMD (stdout to OUT, stderr to ERR); sets wall (seconds) and rss (kB, peak).
now() {
	date +%s.%N
}
if [ -x /usr/bin/time ]; then
	measure() {
		out=$1 err=$2
		shift 2
		t0=$(now)
		/usr/bin/time -v -o "$tmp/time" "$@" >"$out" 2>"$err" || return 1
		wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.6f", b - a }')
		rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time")
		cpu=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.3f", u + s }' "$tmp/time")
	}
else
	echo "bench: /usr/bin/time missing: peak RSS polled from /proc/PID/status VmHWM" >&2
	measure() {
		out=$1 err=$2
		shift 2
		cpu=""
		t0=$(now)
		"$@" >"$out" 2>"$err" &
		pid=$!
		rss=0
		while kill -0 "$pid" 2>/dev/null; do
			v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
			[ -n "$v" ] && rss=$v
			sleep 0.01
		done
		wait "$pid" || return 1
		wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.6f", b - a }')
	}
fi

# kv KEY FILE: the value following KEY in a "key value key value" line.
kv() {
	awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$2"
}

# stat NAME FILE: a "  NAME VALUE" line of iotwatch's --stats summary.
stat() {
	awk -v k="$1" '/^iotwatch: stats$/ { on = 1; next }
		on && /^  [a-z_]+ [0-9.]+$/ && $1 == k { print $2; exit }' "$2"
}

# faster A B: true when A < B (B empty counts as infinitely slow).
faster() {
	[ -z "$2" ] || awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'
}

# bareloop: the cost of reading the file at all.
b_s="" b_cpu=""
for _ in 1 2; do
	measure "$tmp/b.out" "$tmp/b.err" "$BENCH_DIR/bareloop" "$pcap" || die "bareloop failed: $(cat "$tmp/b.err")"
	s=$(kv seconds "$tmp/b.out")
	if [ -n "$cpu" ] && faster "$cpu" "$b_cpu"; then
		b_cpu=$cpu
	fi
	if faster "$s" "$b_s"; then
		b_s=$s b_rss=$rss
		b_pps=$(kv pps "$tmp/b.out")
		b_pkts=$(kv packets "$tmp/b.out")
		b_bytes=$(kv bytes "$tmp/b.out")
	fi
done

# iotwatch: speed and flows from its own summary, peak RSS from outside.
# iw FILE PREFIX [ARGS...]: runs iotwatch (once per word of $runs) on FILE (with ARGS), keeps the
# fastest run so far in PREFIX_s, _pps, _rss, _flows, _peak, _pkts, and the least CPU time (user +
# system, less disturbed than wall time by other work on the machine) in PREFIX_cpu; called
# again with the same PREFIX, it goes on from there.
runs="1 2 3 4 5"
iw() {
	f=$1 p=$2
	shift 2
	eval "best=\${${p}_s:-} bcpu=\${${p}_cpu:-}"
	for _ in $runs; do
		if ! measure "$tmp/i.out" "$tmp/i.err" "$IOTWATCH" -r "$f" -c "$here/rules.yaml" -o /dev/null --stats -q "$@"; then
			echo "bench: iotwatch failed on $1:" >&2
			tail -n 5 "$tmp/i.err" >&2
			return 1
		fi
		s=$(stat elapsed_s "$tmp/i.err")
		[ -n "$s" ] || s=$wall
		if [ -n "$cpu" ] && faster "$cpu" "$bcpu"; then
			bcpu=$cpu
			eval "${p}_cpu=\$cpu"
		fi
		if faster "$s" "$best"; then
			best=$s
			eval "${p}_s=\$s ${p}_rss=\$rss"
			eval "${p}_pps=\$(stat pps \"\$tmp/i.err\") ${p}_pkts=\$(stat packets \"\$tmp/i.err\")"
			eval "${p}_flows=\$(stat flows \"\$tmp/i.err\") ${p}_peak=\$(stat flows_peak \"\$tmp/i.err\")"
		fi
	done
}

# A redis-server started here on a loopback port, for the series with the device state in Redis.
have_redis=no
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 6391)
	redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
	rpid=$!
	trap 'kill "$rpid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
	for _ in $(seq 50); do
		redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && have_redis=yes && break
		sleep 0.1
	done
else
	echo "bench: redis-server missing (apt-get install redis-server): no Redis figures" >&2
fi
# redis-server's own CPU so far (user + system): on a small machine it shares the cores
# iotwatch runs on
srv_cpu() {
	redis-cli -p "$rport" info cpu 2>/dev/null | tr -d '\r' |
		awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.3f", s }'
}

# The three series the targets compare, interleaved run by run so that a slow spell of the
# machine falls on all of them: iotwatch with every rule on (memory state), the same with the
# device state in Redis (emptied before each run: every run is the fleet's first sensor, and the
# packet path must not wait on Redis), and ndpiReader (-q prints nothing but runs the full
# detection; its speed is our packet count over its wall time). The fastest run of each is kept.
i_ok=yes r_ok=$have_redis n_ok=no n_s="" r_srv=0
command -v ndpiReader >/dev/null || echo "bench: ndpiReader missing (apt-get install libndpi-bin): no comparison" >&2
all_runs=$runs
runs=1
for _ in $all_runs; do
	iw "$pcap" i || i_ok=no
	if [ "$r_ok" = yes ]; then
		redis-cli -p "$rport" flushall >/dev/null 2>&1
		c0=$(srv_cpu) r_was=${r_s:-}
		if iw "$pcap" r --set state.backend=redis --set state.redis.port="$rport"; then
			r_srv=$(awk -v t="$r_srv" -v a="$c0" -v b="$(srv_cpu)" 'BEGIN { printf "%.3f", t + b - a }')
			if [ "${r_s:-}" != "$r_was" ]; then # the fastest so far: its figures
				r_cmds=$(awk '/^  redis /{ for (i = 1; i < NF; i++) if ($i == "commands") print $(i + 1) }' "$tmp/i.err")
				r_keys=$(redis-cli -p "$rport" dbsize 2>/dev/null)
			fi
		else
			r_ok=no
		fi
	fi
	if command -v ndpiReader >/dev/null; then
		if measure "$tmp/n.out" "$tmp/n.err" ndpiReader -i "$pcap" -q; then
			n_ok=yes
			if faster "$wall" "$n_s"; then
				n_s=$wall n_rss=$rss
			fi
		else
			echo "bench: ndpiReader failed: $(tail -n 3 "$tmp/n.err")" >&2
		fi
	fi
done
runs=$all_runs
r_srv=$(awk -v t="$r_srv" -v n="$(echo $runs | wc -w)" 'BEGIN { printf "%.3f", t / n }')
[ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null || true
iw "$small" z || i_ok=no
# the cost of one protocol's decoding, and of the rule and device-state work its events
# cause: the same capture with its parser off (its flows still classified)
iw "$pcap" t --no-parser tls || i_ok=no
iw "$pcap" d --no-parser dns || i_ok=no

# Kafka export against jsonl, alerts alone and every event: CPU seconds (user + system, so
# librdkafka's threads count), least of three runs each; the brokers are librdkafka's mock
# cluster on loopback, one broker, in a process of its own.
k_ok=no
mock=${KAFKA_MOCK:-build/kafka-mock}
if [ -x "$mock" ]; then
	mkfifo "$tmp/kcmd"
	"$mock" 1 iotwatch.alerts:4 iotwatch.events:4 <"$tmp/kcmd" >"$tmp/kmock.out" 2>&1 &
	kpid=$!
	exec 8>"$tmp/kcmd"
	for _ in $(seq 50); do
		grep -q '^bootstrap' "$tmp/kmock.out" 2>/dev/null && break
		sleep 0.1
	done
	kb=$(awk '/^bootstrap/ { print $2 }' "$tmp/kmock.out")
	# delivered N: the kafka exporter's delivered count in the last run's summary
	delivered() {
		awk '/^  exporter kafka/ { for (i = 1; i < NF; i++) if ($i == "delivered") print $(i + 1) }' "$tmp/i.err"
	}
	runs="1 2 3"
	if [ -n "$kb" ] &&
		iw "$pcap" ja &&
		iw "$pcap" ka --set exporters.kafka.brokers="$kb" && ka_n=$(delivered) &&
		iw "$pcap" je -e /dev/null &&
		iw "$pcap" ke --set exporters.kafka.brokers="$kb" --set exporters.kafka.events_topic=iotwatch.events &&
		ke_n=$(delivered); then
		k_ok=yes
	else
		echo "bench: the Kafka series failed$( [ -n "$kb" ] || echo ': the mock cluster did not start')" >&2
	fi
	runs="1 2 3 4 5"
	echo quit >&8
	exec 8>&-
	kill "$kpid" 2>/dev/null || true
else
	echo "bench: $mock missing (make $mock): no Kafka figures" >&2
fi

echo
awk -v pkts="$b_pkts" -v bytes="$b_bytes" \
	-v b_s="$b_s" -v b_pps="$b_pps" -v b_rss="$b_rss" \
	-v i_ok="$i_ok" -v i_s="${i_s:-0}" -v i_pps="${i_pps:-0}" -v i_pkts="${i_pkts:-0}" -v i_rss="${i_rss:-0}" \
	-v i_flows="${i_flows:-0}" -v i_peak="${i_peak:-0}" -v z_rss="${z_rss:-0}" \
	-v n_ok="$n_ok" -v n_s="${n_s:-0}" -v n_rss="${n_rss:-0}" -v small="$SMALL_PACKETS" \
	-v t_s="${t_cpu:-${t_s:-0}}" -v d_s="${d_cpu:-${d_s:-0}}" -v i_cpu="${i_cpu:-${i_s:-0}}" -v b_cpu="${b_cpu:-0}" -v tls_pct="$(kv tls "$pcap.txt" 2>/dev/null)" \
	-v dns_pct="$(kv dns "$pcap.txt" 2>/dev/null)" \
	-v r_ok="$r_ok" -v r_s="${r_s:-0}" -v r_pps="${r_pps:-0}" -v r_pkts="${r_pkts:-0}" -v r_rss="${r_rss:-0}" \
	-v r_cmds="${r_cmds:-0}" -v r_keys="${r_keys:-0}" -v r_srv="${r_srv:-0}" -v r_cpu="${r_cpu:-0}" \
	-v k_ok="$k_ok" -v ja="${ja_cpu:-0}" -v ka="${ka_cpu:-0}" -v je="${je_cpu:-0}" -v ke="${ke_cpu:-0}" \
	-v ja_s="${ja_s:-0}" -v ka_s="${ka_s:-0}" -v je_s="${je_s:-0}" -v ke_s="${ke_s:-0}" \
	-v ka_n="${ka_n:-0}" -v ke_n="${ke_n:-0}" '
function row(tool, p, s, pps, rss) {
	printf "%-12s %10d %9.3f %12.0f %9.1f %9.3f %9.1f\n", tool, p, s, pps,
		(pkts > 0 ? pps * bytes / pkts / 1e6 : 0), (b_pps > 0 ? pps / b_pps : 0), rss * 1024 / 1e6
}
# cost(NAME, SECONDS_WITHOUT, PACKETS): what decoding one protocol, with the work its
# events cause downstream, adds to the run, in CPU seconds (least of five runs each way)
function cost(name, without, n,    d) {
	if (without <= 0)
		return
	d = i_cpu - without
	printf "iotwatch: %s decoding and the rules on its events %.3f s of %.3f s CPU (%.1f%%)", name, d, i_cpu,
	       (i_cpu > 0 ? 100 * d / i_cpu : 0)
	if (n + 0 > 0)
		printf ", %.2f us per %s packet", (d > 0 ? d * 1e6 / n : 0), name
	printf "\n"
}
function target(ok, what, got) {
	printf "  %-4s  %-44s %s\n", (ok ? "PASS" : "MISS"), what, got
}
BEGIN {
	n_pps = n_s > 0 ? pkts / n_s : 0
	printf "%-12s %10s %9s %12s %9s %9s %9s\n", "tool", "packets", "seconds", "packets/s", "MB/s", "/bareloop", "RSS MB"
	row("bareloop", pkts, b_s, b_pps, b_rss)
	if (i_ok == "yes")
		row("iotwatch", i_pkts, i_s, i_pps, i_rss)
	if (r_ok == "yes")
		row("+redis", r_pkts, r_s, r_pps, r_rss)
	if (n_ok == "yes")
		row("ndpiReader", pkts, n_s, n_pps, n_rss)
	print ""
	if (i_ok != "yes") {
		print "iotwatch: no figures (it failed; see above)"
		exit
	}
	per_flow = i_peak > 0 ? (i_rss - z_rss) * 1024 / i_peak : -1
	printf "iotwatch: flows %d, flows_peak %d; peak RSS %.1f MB here, %.1f MB on %d packets\n",
		i_flows, i_peak, i_rss * 1024 / 1e6, z_rss * 1024 / 1e6, small
	if (per_flow >= 0)
		printf "iotwatch: %.0f bytes per tracked flow\n", per_flow
	if (n_ok == "yes")
		printf "iotwatch: %.2fx ndpiReader packets/s\n", (n_pps > 0 ? i_pps / n_pps : 0)
	# CPU time (user + system, least of the runs) moves less than wall time when other
	# work shares the machine: a steadier view, for comparing builds; not a target
	if (b_cpu > 0 && i_cpu > 0)
		printf "iotwatch: CPU %.2f s (least of 5 runs), bareloop %.2f s: %.1f%% of its rate in CPU time\n",
			i_cpu, b_cpu, 100 * b_cpu / i_cpu
	if (r_ok == "yes") {
		printf "iotwatch with Redis state: %.1f%% of its rate with memory state; %d commands in the best run, %d keys in Redis\n",
			(i_pps > 0 ? 100 * r_pps / i_pps : 0), r_cmds, r_keys
		printf "iotwatch with Redis state: CPU %.2f s (least of 5 runs, %.2f s with memory state); redis-server %.2f s CPU a run on the same machine\n",
			r_cpu, i_cpu, r_srv
	}
	cost("TLS", t_s, pkts * tls_pct / 100)
	cost("DNS", d_s, pkts * dns_pct / 100)
	if (k_ok == "yes") {
		printf "kafka export, CPU s (wall s), least of 3:  alerts jsonl %.3f (%.3f)  kafka %.3f (%.3f): %+.1f%%, %d delivered\n",
			ja, ja_s, ka, ka_s, (ja > 0 ? 100 * (ka - ja) / ja : 0), ka_n
		printf "                                      all events jsonl %.3f (%.3f)  kafka %.3f (%.3f): %+.1f%%, %d delivered, %.2f us each\n",
			je, je_s, ke, ke_s, (je > 0 ? 100 * (ke - je) / je : 0), ke_n, (ke_n > 0 ? (ke - je) * 1e6 / ke_n : 0)
	}
	print ""
	print "targets:"
	target(b_pps > 0 && i_pps >= 0.15 * b_pps, "iotwatch, all rules, >= 15% of bareloop packets/s",
		sprintf("(%.1f%%)", b_pps > 0 ? 100 * i_pps / b_pps : 0))
	if (n_ok == "yes")
		target(i_pps >= 3 * n_pps, "iotwatch, all rules, >= 3x ndpiReader packets/s", sprintf("(%.2fx)", n_pps > 0 ? i_pps / n_pps : 0))
	else
		printf "  %-4s  %-44s %s\n", "n/a", "iotwatch >= 3x ndpiReader packets/s", "(no ndpiReader)"
	if (r_ok == "yes")
		target(r_pps >= 0.8 * i_pps, "with Redis state >= 80% of memory state", sprintf("(%.1f%%)", i_pps > 0 ? 100 * r_pps / i_pps : 0))
	else
		printf "  %-4s  %-44s %s\n", "n/a", "with Redis state >= 80% of memory state", "(no redis-server)"
	target(per_flow >= 0 && per_flow <= 1024, "<= 1024 bytes per tracked flow",
		per_flow >= 0 ? sprintf("(%.0f)", per_flow) : "(no flows)")
}'
exit 0
