#!/usr/bin/env bash
# test_kafka.sh - alerts and events to Kafka with nothing lost (DESIGN §8, docs/siem.md).
# The cluster is librdkafka's mock cluster (tests/integration/kafka-mock.c: a Kafka-protocol
# broker set on loopback that this script starts and drives); what was produced is read
# back with kcat, a real Kafka client. Checked:
#   - every alert and event of a replay arrives exactly once, byte for byte the jsonl
#     record, keyed by the device id, in the device's order;
#   - every broker down for 30 s in the middle of a replay: records wait in librdkafka's
#     queue (no spool), or go to the spool and come back from it (spool_dir): the count
#     consumed equals the count produced, nothing twice;
#   - partition leaders moved between brokers during a replay: exactly once;
#   - a sensor killed with SIGKILL while the brokers are down: its restart sends what the
#     spool held (read here with our own frame reader, CRC-32C checked), exactly once;
#   - a wrong or unresolvable broker address: one clear line, a bounded wait, exit 1
#     (records lost) or exit 0 (kept in the spool); bad settings exit 2 with one line;
#     a spool_dir in use by another sensor exits 1.
#
# Run from the repository root (make integration). IOTWATCH overrides the binary.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

IW=${IOTWATCH:-./iotwatch}
MOCK=${KAFKA_MOCK:-build/kafka-mock}
CAP=pcaps/demo-rules.pcap
CONF=pcaps/demo-rules.yaml
need_tools test_kafka kcat python3
[ -x "$MOCK" ] || make -s "$MOCK" >/dev/null || {
	echo "FAIL test_kafka: cannot build $MOCK"
	exit 1
}
need_files test_kafka "$IW" "$CAP" "$CONF"

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-kafka.XXXXXX") || exit 1
PIDS=""
cleanup() {
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# ---- helpers ----

# mock_start NAME: a 3-broker cluster; its commands go through the fifo $T/NAME.cmd (see
# mock_cmd); its bootstrap list is left in BOOT.
mock_start() {
	mkfifo "$T/$1.cmd"
	"$MOCK" 3 iotwatch.alerts:4 iotwatch.events:4 <"$T/$1.cmd" >"$T/$1.out" 2>&1 &
	PIDS="$PIDS $!"
	disown $!
	exec {fd}>"$T/$1.cmd"
	eval "MOCKFD_$1=$fd"
	for _ in $(seq 50); do
		grep -q '^bootstrap' "$T/$1.out" 2>/dev/null && break
		sleep 0.1
	done
	BOOT=$(awk '/^bootstrap/ {print $2}' "$T/$1.out")
}
# mock_cmd NAME COMMAND...
mock_cmd() {
	local fd
	eval "fd=\$MOCKFD_$1"
	shift
	echo "$*" >&"$fd"
}

# mock_wait NAME N: until the cluster has answered N commands (it applies them on its own
# thread: a sensor started before it did would race it)
mock_wait() {
	for _ in $(seq 100); do
		[ "$(grep -c '^ok' "$T/$1.out")" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "FAIL test_kafka: the mock cluster $1 did not answer $2 commands"
	return 1
}

# feed SECONDS: the capture on stdout, its packets spread over SECONDS of wall time
cat >"$T/feed.py" <<'EOF'
import struct, sys, time
data = open(sys.argv[1], "rb").read()
secs = float(sys.argv[2])
out = sys.stdout.buffer
out.write(data[:24])
recs, off = [], 24
le = data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
while off + 16 <= len(data):
    incl = struct.unpack_from("<I" if le else ">I", data, off + 8)[0]
    recs.append(data[off:off + 16 + incl])
    off += 16 + incl
step = secs / max(1, len(recs))
for r in recs:
    out.write(r)
    out.flush()
    time.sleep(step)
EOF

# consume BOOT TOPIC OUT: every message of the topic as JSON lines {key, payload, partition, offset}
consume() {
	timeout 60 kcat -C -b "$1" -t "$2" -o beginning -e -q -J >"$3" 2>"$3.err"
}

# compare JSONL CONSUMED: exit 0 when the consumed messages are the jsonl records exactly
# once each, keyed by device id, and each key's records in jsonl order; prints a summary
cat >"$T/compare.py" <<'EOF'
import collections, json, sys
want = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
want = [w for w in want if json.loads(w).get("event_type") != "stats"]
got = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
problems = []
cw, cg = collections.Counter(want), collections.Counter(m["payload"] for m in got)
if cw != cg:
    problems.append("missing %d, extra %d" % (sum((cw - cg).values()), sum((cg - cw).values())))
for m in got:
    rec = json.loads(m["payload"])
    dev = (rec.get("device") or {}).get("id")
    if m["key"] != dev:
        problems.append("key %r for device %r" % (m["key"], dev))
        break
order = collections.defaultdict(list)
for m in sorted(got, key=lambda m: (m["partition"], m["offset"])):
    order[m["key"]].append(m["payload"])
wanted = collections.defaultdict(list)
for w in want:
    wanted[(json.loads(w).get("device") or {}).get("id")].append(w)
if len(sys.argv) < 4 or sys.argv[3] != "any-order":
    bad = [k for k in wanted if wanted[k] != order.get(k)]
    if bad and not problems:
        problems.append("%d devices out of order, e.g. %r" % (len(bad), bad[0]))
print("produced %d, consumed %d%s" % (len(want), len(got), "; " + "; ".join(problems) if problems else ""))
sys.exit(1 if problems or not want else 0)
EOF

# stat FILE KEY: a counter of the kafka exporter in the stats record of FILE
cat >"$T/stat.py" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("event_type") == "stats":
        for name, e in r["stats"]["exporters"].items():
            if name.startswith("kafka"):
                v = e
                for k in sys.argv[2].split("."):
                    v = v[k]
                print(v)
EOF
kstat() { python3 "$T/stat.py" "$1" "$2" 2>/dev/null; }

# spool_frames DIR OUT: the records a spool holds past its cursor, one JSON line each
cat >"$T/spool.py" <<'EOF'
import glob, json, os, struct, sys
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1
    return c ^ 0xffffffff
d = sys.argv[1]
cur = (0, 0)
if os.path.exists(d + "/cursor"):
    a, b = open(d + "/cursor").read().split()
    cur = (int(a), int(b))
out = open(sys.argv[2], "w")
for f in sorted(glob.glob(d + "/iotwatch-*.spool")):
    seq = int(f[-22:-6], 16)
    if seq < cur[0]:
        continue
    data = open(f, "rb").read()
    off = cur[1] if seq == cur[0] else 0
    while off + 12 <= len(data):
        magic, n, crc = struct.unpack_from("<III", data, off)
        body = data[off + 12:off + 12 + n]
        if magic != 0x314b5749 or len(body) != n or crc32c(body) != crc:
            print("bad frame at %s:%d" % (f, off), file=sys.stderr)
            sys.exit(1)
        klen = body[2] | body[3] << 8
        out.write(json.dumps({"kind": body[0], "key": body[4:4 + klen].decode() if klen else None,
                              "payload": body[4 + klen:].decode()}) + "\n")
        off += 12 + n
EOF

run_iw() { "$IW" -c "$CONF" -q --stats "$@"; }

# ---- 1. exactly once, keyed by device, in order ----
mock_start m1
B=$BOOT
run_iw -r "$CAP" -o "$T/a1.jsonl" -e "$T/e1.jsonl" --set exporters.kafka.brokers="$B" \
	--set exporters.kafka.events_topic=iotwatch.events 2>"$T/r1.err"
rc=$?
consume "$B" iotwatch.alerts "$T/c1a.json"
consume "$B" iotwatch.events "$T/c1e.json"
sa=$(python3 "$T/compare.py" "$T/a1.jsonl" "$T/c1a.json")
ra=$?
se=$(python3 "$T/compare.py" "$T/e1.jsonl" "$T/c1e.json")
re=$?
na=$(wc -l <"$T/a1.jsonl")
[ $rc -eq 0 ] && [ $ra -eq 0 ] && [ $re -eq 0 ] && [ "$na" -ge 50 ]
check "every alert and event arrives once, the jsonl record byte for byte, keyed by device id, in device order" $? \
	"exit $rc; alerts: $sa; events: $se"
d=$(kstat "$T/e1.jsonl" delivered)
p=$(kstat "$T/e1.jsonl" produced)
l=$(kstat "$T/e1.jsonl" lost)
n=$(($(wc -l <"$T/a1.jsonl") + $(grep -vc '"event_type":"stats"' "$T/e1.jsonl")))
[ "$d" = "$n" ] && [ "$p" = "$n" ] && [ "$l" = "0" ] && grep -q 'exporter kafka0 produced' "$T/r1.err"
check "delivery reports counted in --stats: delivered = produced = records, none lost" $? \
	"delivered $d, produced $p, lost $l, records $n"
mock_cmd m1 quit

# ---- 2 and 3. every broker down 30 s mid-replay: in memory, and through the spool ----
outage() { # NAME SPOOLDIR(or "")
	local name=$1 spool=$2 b
	mock_start "$name"
	b=$BOOT
	local extra=()
	[ -n "$spool" ] && extra=(--set exporters.kafka.spool_dir="$spool")
	python3 "$T/feed.py" "$CAP" 44 | run_iw -r - -o "$T/$name.a.jsonl" -e "$T/$name.e.jsonl" \
		--set exporters.kafka.brokers="$b" --set exporters.kafka.events_topic=iotwatch.events \
		--set exporters.kafka.flush_timeout=60s "${extra[@]}" 2>"$T/$name.err" &
	local iw=$!
	sleep 6
	for i in 1 2 3; do mock_cmd "$name" down $i; done
	sleep 30
	for i in 1 2 3; do mock_cmd "$name" up $i; done
	wait $iw
	echo $? >"$T/$name.rc"
	consume "$b" iotwatch.alerts "$T/$name.ca.json"
	consume "$b" iotwatch.events "$T/$name.ce.json"
	mock_cmd "$name" quit
}
outage mem "" &
o1=$!
outage spl "$T/spool-spl" &
o2=$!
wait $o1 $o2
for name in mem spl; do
	sa=$(python3 "$T/compare.py" "$T/$name.a.jsonl" "$T/$name.ca.json" any-order)
	ra=$?
	se=$(python3 "$T/compare.py" "$T/$name.e.jsonl" "$T/$name.ce.json" any-order)
	re=$?
	rc=$(cat "$T/$name.rc")
	sp=$(kstat "$T/$name.e.jsonl" spooled)
	down=$(grep -c 'brokers unreachable' "$T/$name.err")
	back=$(grep -c 'brokers are back' "$T/$name.err")
	if [ $name = mem ]; then
		[ "$rc" = 0 ] && [ $ra -eq 0 ] && [ $re -eq 0 ] && [ "$sp" = 0 ]
		check "every broker down 30 s mid-replay, no spool: records wait in librdkafka, consumed = produced, none twice" $? \
			"exit $rc; alerts: $sa; events: $se; spooled $sp"
	else
		segs=$(find "$T/spool-spl" -name '*.spool' | wc -l)
		[ "$rc" = 0 ] && [ $ra -eq 0 ] && [ $re -eq 0 ] && [ "${sp:-0}" -gt 0 ] && [ "$segs" = 0 ] &&
			[ "$down" = 1 ] && [ "$back" -ge 1 ]
		check "every broker down 30 s mid-replay with spool_dir: records spooled and sent back, consumed = produced, none twice, spool emptied" $? \
			"exit $rc; alerts: $sa; events: $se; spooled $sp; segments left $segs; said down $down, back $back"
	fi
done

# ---- 4. partition leaders moving during a replay ----
mock_start m4
B=$BOOT
python3 "$T/feed.py" "$CAP" 10 | run_iw -r - -o "$T/a4.jsonl" -e "$T/e4.jsonl" \
	--set exporters.kafka.brokers="$B" --set exporters.kafka.events_topic=iotwatch.events 2>"$T/r4.err" &
iw=$!
for round in 1 2 3 4; do
	sleep 2
	for part in 0 1 2 3; do
		mock_cmd m4 leader iotwatch.alerts $part $(((part + round) % 3 + 1))
		mock_cmd m4 leader iotwatch.events $part $(((part + round + 1) % 3 + 1))
	done
done
wait $iw
rc=$?
consume "$B" iotwatch.alerts "$T/c4a.json"
consume "$B" iotwatch.events "$T/c4e.json"
sa=$(python3 "$T/compare.py" "$T/a4.jsonl" "$T/c4a.json")
ra=$?
se=$(python3 "$T/compare.py" "$T/e4.jsonl" "$T/c4e.json")
re=$?
moved=$(grep -c '^ok' "$T/m4.out")
[ $rc -eq 0 ] && [ $ra -eq 0 ] && [ $re -eq 0 ] && [ "$moved" = 32 ]
check "partition leaders moved 4 times during a replay: exactly once, in device order" $? \
	"exit $rc; alerts: $sa; events: $se; leader changes $moved"
mock_cmd m4 quit

# ---- 5. SIGKILL while the brokers are down; the restart sends the spool ----
mock_start m5
B=$BOOT
for i in 1 2 3; do mock_cmd m5 down $i; done
mock_wait m5 3
python3 "$T/feed.py" "$CAP" 12 | run_iw -r - -o "$T/a5.jsonl" -e "$T/e5.jsonl" --set exporters.kafka.brokers="$B" \
	--set exporters.kafka.events_topic=iotwatch.events --set exporters.kafka.spool_dir="$T/spool5" 2>"$T/r5.err" &
iw=$!
sleep 8
# the sensor itself (run_iw is a function: $! is the subshell running it)
pkill -KILL -f "spool_dir=$T/spool5"
wait $iw 2>/dev/null
pgrep -f "spool_dir=$T/spool5" >/dev/null && echo "FAIL test_kafka: the killed sensor is still running"
python3 "$T/spool.py" "$T/spool5" "$T/held.json"
rs=$?
held=$(wc -l <"$T/held.json")
for i in 1 2 3; do mock_cmd m5 up $i; done
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))' >"$T/empty.pcap"
run_iw -r "$T/empty.pcap" -o /dev/null -e "$T/e5b.jsonl" --set exporters.kafka.brokers="$B" \
	--set exporters.kafka.events_topic=iotwatch.events --set exporters.kafka.spool_dir="$T/spool5" 2>"$T/r5b.err"
rc=$?
consume "$B" iotwatch.alerts "$T/c5a.json"
consume "$B" iotwatch.events "$T/c5e.json"
sk=$(python3 - "$T/held.json" "$T/c5a.json" "$T/c5e.json" <<'EOF'
import collections, json, sys
held = collections.Counter((m["key"], m["payload"]) for m in map(json.loads, open(sys.argv[1])))
got = collections.Counter()
for f in sys.argv[2:]:
    for m in map(json.loads, open(f)):
        got[(m["key"], m["payload"])] += 1
print("held %d, consumed %d, missing %d, extra %d" % (sum(held.values()), sum(got.values()),
      sum((held - got).values()), sum((got - held).values())))
sys.exit(0 if held == got and held else 1)
EOF
)
rk=$?
segs=$(find "$T/spool5" -name '*.spool' | wc -l)
[ $rs -eq 0 ] && [ "$held" -gt 0 ] && [ $rc -eq 0 ] && [ $rk -eq 0 ] && [ "$segs" = 0 ]
check "SIGKILL while brokers are down: the restarted sensor sends exactly what the spool held (CRC-checked frames) and empties it" $? \
	"$sk; restart exit $rc; segments left $segs; $(grep -v "^  " "$T/r5b.err" | head -c 600) $(grep "exporter kafka" "$T/r5b.err")"
mock_cmd m5 quit

# ---- 6. wrong broker addresses: a clear line and a bounded wait, not a hang ----
PORT=$(free_port)
start=$(date +%s)
timeout 60 "$IW" -r "$CAP" -c "$CONF" -o /dev/null -q --set exporters.kafka.brokers=127.0.0.1:$PORT \
	--set exporters.kafka.flush_timeout=2s 2>"$T/r6.err"
rc=$?
took=$(($(date +%s) - start))
[ $rc -eq 1 ] && [ $took -lt 20 ] && grep -q "kafka 127.0.0.1:$PORT: brokers unreachable (.*Connection refused" "$T/r6.err" &&
	grep -q 'records could not be delivered and were not kept' "$T/r6.err" && [ "$(wc -l <"$T/r6.err")" = 2 ]
check "a broker address nobody listens on: one line naming it and the refusal, done in ${took}s, exit 1 for the lost records" $? \
	"exit $rc; $(head -c 300 "$T/r6.err")"
timeout 60 "$IW" -r "$CAP" -c "$CONF" -o /dev/null -q --set exporters.kafka.brokers=no-such-broker.invalid:9092 \
	--set exporters.kafka.flush_timeout=2s --set exporters.kafka.spool_dir="$T/spool6" 2>"$T/r6b.err"
rc=$?
python3 "$T/spool.py" "$T/spool6" "$T/held6.json"
held=$(wc -l <"$T/held6.json")
[ $rc -eq 0 ] && grep -q 'brokers unreachable (.*resolve' "$T/r6b.err" && [ "$held" = "$(wc -l <"$T/a1.jsonl")" ]
check "an unresolvable broker with spool_dir: said once, every alert kept in the spool, exit 0" $? \
	"exit $rc; held $held; $(head -c 300 "$T/r6b.err")"

# ---- 7. bad settings: exit 2, one line ----
bad() { # WHAT PATTERN ARGS...
	local what=$1 pat=$2
	shift 2
	"$IW" -r "$CAP" -o /dev/null -q "$@" 2>"$T/bad.err" >/dev/null
	local rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$T/bad.err")" = 1 ] && grep -q "$pat" "$T/bad.err"
	check "$what: exit 2, one line" $? "exit $rc: $(cat "$T/bad.err")"
}
bad "brokers not host:port" 'kafka exporter: brokers "localhost": "localhost" is not host:port' --set exporters.kafka.brokers=localhost
bad "an unknown librdkafka property" 'properties.no.such.thing: No such configuration property' \
	--set exporters.kafka.brokers=127.0.0.1:9 --set exporters.kafka.properties.no.such.thing=1
bad "a secret from an unset environment variable" 'environment variable IW_NO_SUCH_SECRET is not set' \
	--set exporters.kafka.brokers=127.0.0.1:9 --set 'exporters.kafka.properties.sasl.password=${IW_NO_SUCH_SECRET}'
bad "acks other than all with the idempotent producer" 'properties.acks: must be all' \
	--set exporters.kafka.brokers=127.0.0.1:9 --set exporters.kafka.properties.acks=1
IW_TEST_CLIENT=from-env "$IW" --check-config --set exporters.kafka.brokers=127.0.0.1:9 \
	--set 'exporters.kafka.properties.client.id=${IW_TEST_CLIENT}' >"$T/chk.yaml" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q 'client.id": "${IW_TEST_CLIENT}"' "$T/chk.yaml"
check "a secret from a set environment variable is accepted and never printed by --check-config" $? \
	"exit $rc; $(grep client.id "$T/chk.yaml")"

# ---- 8. one spool_dir, one sensor ----
mock_start m8
B=$BOOT
python3 "$T/feed.py" "$CAP" 6 | "$IW" -r - -c "$CONF" -o /dev/null -q --set exporters.kafka.brokers="$B" \
	--set exporters.kafka.spool_dir="$T/spool8" 2>/dev/null &
iw=$!
sleep 2
"$IW" -r "$CAP" -c "$CONF" -o /dev/null -q --set exporters.kafka.brokers="$B" \
	--set exporters.kafka.spool_dir="$T/spool8" 2>"$T/r8.err"
rc=$?
wait $iw
[ $rc -eq 1 ] && grep -q "spool_dir $T/spool8 is in use by another iotwatch" "$T/r8.err"
check "a spool_dir in use by another sensor: exit 1, said so" $? "exit $rc: $(cat "$T/r8.err")"
mock_cmd m8 quit

summary test_kafka
