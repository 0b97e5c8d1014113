#!/usr/bin/env bash
# test_redis.sh - device state in a real Redis (DESIGN §7, docs/state.md), started here on a
# loopback port:
#   - two sensors replaying two halves of a fleet at the same time together cross the
#     certificate-storm threshold that neither crosses alone: one storm alert between them;
#   - the keys of DESIGN §7 hold what the sensors saw (device hashes, the storm set);
#   - state is kept across restarts: a sensor started after another sees its devices;
#   - de-duplication across sensors: the same capture replayed again raises nothing new;
#   - Redis killed in the middle of a replay and restarted: no crash, the same alerts as
#     with memory state, and the sensor reconnected.
# Captures: pcaps/rules-tls.pcap (pcaps/make-rules-tls.sh) with pcaps/rules-tls.yaml.
#
# Run from the repository root (make integration). IOTWATCH overrides the binary.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

IW=${IOTWATCH:-./iotwatch}
CAP=pcaps/rules-tls.pcap
CONF=pcaps/rules-tls.yaml
need_tools test_redis redis-server redis-cli python3
need_files test_redis "$IW" "$CAP" "$CONF"

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-redis.XXXXXX") || exit 1
RPID=""
cleanup() {
	[ -n "$RPID" ] && kill -KILL "$RPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

PORT=$(free_port)
redis_start() {
	redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
		--dir "$T" >"$T/redis.log" 2>&1 &
	RPID=$!
	for _ in $(seq 50); do
		redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	echo "FAIL test_redis: redis-server did not start: $(tail -n 3 "$T/redis.log")"
	exit 1
}
redis_stop() {
	kill -KILL "$RPID" 2>/dev/null
	wait "$RPID" 2>/dev/null
	RPID=""
}
R() { redis-cli -p "$PORT" "$@"; }
REDIS=(-c "$CONF" --set state.backend=redis --set state.redis.port="$PORT" --set state.redis.host=127.0.0.1)

# alerts FILE: "rule device subject-ish" lines, sorted, for comparing two runs.
cat >"$T/alerts.py" <<'EOF'
import json, sys
KEYS = ("fingerprint", "filter", "topic", "username", "name", "date", "kind", "function_code")
out = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event_type") != "alert":
        continue
    ev = r.get("evidence", {})
    sub = ",".join("%s=%s" % (k, ev[k]) for k in KEYS if k in ev)
    dev = r.get("device", {}).get("id", "-") if r["alert"]["rule"] not in (
        "tls.cert_expiring", "tls.shared_certificate", "tls.cert_expiry_storm", "mqtt.shared_credentials") else "-"
    out.append("%s %s %s" % (r["alert"]["rule"], dev, sub))
for l in sorted(out):
    print(l)
EOF
count_rule() { grep -c "\"rule\":\"$1\"" "$2"; }

# ---- the fleet split in two: pump-01..10 and pump-11..20, by their flows' client ports ----
"$IW" -r "$CAP" -c "$CONF" -o "$T/mem.json" -e "$T/ev.json" -q || {
	echo "FAIL test_redis: memory replay failed"
	exit 1
}
python3 - "$T/ev.json" "$T" <<'EOF'
import json, sys
ports = {1: set(), 2: set()}
for line in open(sys.argv[1]):
    r = json.loads(line)
    d = r.get("device", {}).get("id", "")
    if d.startswith("pump-") and "src_port" in r:
        ports[1 if int(d[5:]) <= 10 else 2].add(r["src_port"])
for h, ps in ports.items():
    open("%s/half%d.bpf" % (sys.argv[2], h), "w").write(" or ".join("tcp port %d" % p for p in sorted(ps)))
EOF
tcpdump -r "$CAP" -w "$T/half1.pcap" "$(cat "$T/half1.bpf")" 2>/dev/null
tcpdump -r "$CAP" -w "$T/half2.pcap" "$(cat "$T/half2.bpf")" 2>/dev/null
n1=$("$IW" -r "$T/half1.pcap" -c "$CONF" -o - -q | grep -c '"kind":"predicted"')
n2=$("$IW" -r "$T/half2.pcap" -c "$CONF" -o - -q | grep -c '"kind":"predicted"')
nm=$(grep -c '"kind":"predicted"' "$T/mem.json")
[ "$n1" = 0 ] && [ "$n2" = 0 ] && [ "$nm" = 1 ]
check "memory state: neither half of the pump fleet is a storm alone, the whole capture is" $? \
	"half 1: $n1, half 2: $n2, whole: $nm"

# ---- two sensors, one Redis, at the same time ----
redis_start
"$IW" -r "$T/half1.pcap" "${REDIS[@]}" --set sensor.name=s1 -o "$T/s1.json" -q 2>"$T/s1.err" &
p1=$!
"$IW" -r "$T/half2.pcap" "${REDIS[@]}" --set sensor.name=s2 -o "$T/s2.json" -q 2>"$T/s2.err" &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
storms=$(cat "$T/s1.json" "$T/s2.json" | grep -c '"kind":"predicted"')
devs=$(cat "$T/s1.json" "$T/s2.json" | grep '"kind":"predicted"' | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["evidence"]["devices"])' 2>/dev/null)
[ "$r1" = 0 ] && [ "$r2" = 0 ] && [ "$storms" = 1 ] && [ "$devs" = 20 ]
check "two sensors with one Redis, each half of the fleet: one storm alert between them, 20 devices" $? \
	"exit $r1/$r2, storm alerts $storms, devices $devs; $(cat "$T/s1.err" "$T/s2.err" | head -n 2)"

date=$(grep -o '"date":"[0-9-]*"' "$T/mem.json" | head -n 1 | cut -d'"' -f4)
card=$(R scard "iw:certexp:$date")
fp=$(R hget iw:dev:pump-07 cert_fp)
ttl=$(R ttl iw:dev:pump-07)
[ "$card" = 20 ] && [ ${#fp} = 64 ] && [ "$ttl" -gt 2500000 ]
check "keys: iw:certexp:<date> holds the 20 devices, iw:dev:pump-07 its certificate, TTL 30 d" $? \
	"scard $card, cert_fp ${fp:0:16}..., ttl $ttl"

# ---- kept across restarts; de-duplicated across sensors ----
"$IW" -r "$CAP" "${REDIS[@]}" --set sensor.name=s3 -o "$T/s3.json" --stats -e "$T/s3.ev" -q 2>/dev/null
n3=$(grep -c '"event_type":"alert"' "$T/s3.json")
quiet=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["stats"]["state"]["alerts_raised_elsewhere"])' "$T/s3.ev")
nstorm=$(grep -c '"kind":"predicted"' "$T/s3.json")
[ "$nstorm" = 0 ]
check "a third sensor replaying the whole capture: the storm the fleet raised is not raised again" $? \
	"storm alerts $nstorm"
redis_stop
redis_start
"$IW" -r "$CAP" "${REDIS[@]}" --set sensor.name=s4 -o "$T/s4.json" -q 2>/dev/null
"$IW" -r "$CAP" "${REDIS[@]}" --set sensor.name=s5 -o "$T/s5.json" --stats -e "$T/s5.ev" -q 2>/dev/null
n4=$(grep -c '"event_type":"alert"' "$T/s4.json")
n5=$(grep -c '"event_type":"alert"' "$T/s5.json")
q5=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["stats"]["state"]["alerts_raised_elsewhere"])' "$T/s5.ev")
nmem=$(grep -c '"event_type":"alert"' "$T/mem.json")
[ "$n4" = "$nmem" ] && [ "$n5" = 0 ] && [ "$q5" = "$nmem" ]
check "de-duplication across sensors: the same capture again raises nothing, every alert counted as raised elsewhere" $? \
	"first $n4 (memory $nmem), again $n5, raised elsewhere $q5"
redis_stop

# ---- Redis killed in the middle of a replay, then restarted ----
redis_start
mkfifo "$T/feed"
cat >"$T/feeder.py" <<'EOF'
import os, sys, time
cap, fifo, tdir = sys.argv[1:4]
data = open(cap, "rb").read()
recs, off = [], 24
end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
import struct
while off + 16 <= len(data):
    incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
    recs.append(data[off:off + 16 + incl])
    off += 16 + incl
with open(fifo, "wb") as out:
    out.write(data[:24])
    half = len(recs) // 2
    out.write(b"".join(recs[:half]))
    out.flush()
    open(os.path.join(tdir, "half.done"), "w").close()
    while not os.path.exists(os.path.join(tdir, "go")):
        time.sleep(0.05)
    quarter = half + (len(recs) - half) // 2
    out.write(b"".join(recs[half:quarter]))
    out.flush()
    open(os.path.join(tdir, "quarter.done"), "w").close()
    while not os.path.exists(os.path.join(tdir, "go2")):
        time.sleep(0.05)
    out.write(b"".join(recs[quarter:]))
EOF
python3 "$T/feeder.py" "$CAP" "$T/feed" "$T" &
fpid=$!
"$IW" -r - "${REDIS[@]}" --set sensor.name=s6 -o "$T/s6.json" -e "$T/s6.ev" --stats -q <"$T/feed" 2>"$T/s6.err" &
ipid=$!
for _ in $(seq 100); do [ -e "$T/half.done" ] && break; sleep 0.1; done
sleep 1
redis_stop
touch "$T/go"
for _ in $(seq 100); do [ -e "$T/quarter.done" ] && break; sleep 0.1; done
sleep 1
redis_start
sleep 2.5 # the sensor's backoff: it retries after 1 s, then 2 s
touch "$T/go2"
wait $fpid
wait $ipid
r6=$?
python3 "$T/alerts.py" "$T/mem.json" >"$T/mem.txt"
python3 "$T/alerts.py" "$T/s6.json" >"$T/s6.txt"
st=$(python3 -c 'import json,sys; s = [json.loads(l) for l in open(sys.argv[1])][-1]["stats"]["state"]["redis"]; print(s["failures"], s["connects"], s["up"])' "$T/s6.ev" 2>&1)
set -- $st
downs=$(grep -c 'redis .*retrying' "$T/s6.err")
cmp -s "$T/mem.txt" "$T/s6.txt" && [ "$r6" = 0 ] && [ "${1:-0}" -ge 1 ] && [ "${2:-0}" -ge 2 ] && [ "${3:-}" = True ] &&
	[ "$downs" = 1 ]
check "Redis killed mid-replay and restarted: exit 0, the same alerts as memory state, said once, reconnected" $? \
	"exit $r6, $(wc -l <"$T/s6.txt") alerts vs $(wc -l <"$T/mem.txt"), failures/connects/up: $st, down lines $downs; $(diff "$T/mem.txt" "$T/s6.txt" | head -n 4 | tr '\n' ' ')"
devs=$(R keys 'iw:dev:pump-*' | wc -l)
[ "$devs" = 20 ]
check "after the restart the sensor pushed its state again: the 20 pump devices are back in Redis" $? "$devs keys"
redis_stop

summary test_redis
