#!/usr/bin/env bash
# test_live.sh - live capture (-i) on a veth pair: a capture replayed into one end with
# tcpreplay from a network namespace must come out of iotwatch on the other end exactly
# as when the file is read with -r: same packets and bytes, same flows and app_proto,
# no kernel drops, and a stats record written on SIGTERM.
#
# Needs root, `ip netns` and tcpreplay; skips (exit 0) without them. The replayed file is
# ../shared/pcaps-public/zeek/modbusBig.pcap, else pcaps/demo.pcap, else the test skips.
# Nothing gets an address and IPv6 is off on both ends, so nothing is routed anywhere and
# the kernel sends nothing of its own on the pair (no router solicitations, MLD or DAD).
# That is why no -f filter is used: every packet the sensor sees is a replayed one. If
# that ever stops being true, the flow comparison below lists the extra flows.
#
# Run from the repository root (make integration). IOTWATCH overrides the binary
# (default ./iotwatch). Exit 0 when every check passes or the test skips, 1 otherwise.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

IW=${IOTWATCH:-./iotwatch}
RATE=--mbps=10 # modbusBig.pcap (13622 packets, 0.97 MB) takes 0.8 s

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP test_live: needs root (network namespace and veth pair)"
	exit 0
fi
if ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
	echo "SKIP test_live: 'ip netns' is not available"
	exit 0
fi
if ! command -v tcpreplay >/dev/null 2>&1; then
	echo "SKIP test_live: tcpreplay is not installed (Debian package tcpreplay)"
	exit 0
fi
CAP=""
for c in ../shared/pcaps-public/zeek/modbusBig.pcap pcaps/demo.pcap; do
	if [ -f "$c" ]; then
		CAP=$c
		break
	fi
done
if [ -z "$CAP" ]; then
	echo "SKIP test_live: neither ../shared/pcaps-public/zeek/modbusBig.pcap nor pcaps/demo.pcap exists"
	exit 0
fi
if [ ! -x "$IW" ]; then
	echo "FAIL test_live: $IW does not exist (make iotwatch)"
	exit 1
fi

NS=iwtest-$$
HOST_IF=iwh$$ # stays here; iotwatch captures on it
NS_IF=iwn$$   # in $NS; tcpreplay sends on it
T=$(mktemp -d "${TMPDIR:-/tmp}/iw-live.XXXXXX") || exit 1
IW_PID=""
cleanup() {
	if [ -n "$IW_PID" ] && kill -0 "$IW_PID" 2>/dev/null; then
		kill -KILL "$IW_PID" 2>/dev/null
		wait "$IW_PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null # takes the veth pair with it
	ip link del "$HOST_IF" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
	summary test_live
	exit
}

echo "test_live: $IW, $CAP replayed at $RATE on $NS_IF (netns $NS) -> $HOST_IF"

# ---- the veth pair ----
if ! ip netns add "$NS" || ! ip link add "$HOST_IF" type veth peer name "$NS_IF" netns "$NS"; then
	fail "create netns $NS and veth pair $HOST_IF/$NS_IF"
	finish
fi
if [ -d /proc/sys/net/ipv6 ]; then
	sysctl -q -w "net.ipv6.conf.$HOST_IF.disable_ipv6=1" &&
		ip netns exec "$NS" sysctl -q -w "net.ipv6.conf.$NS_IF.disable_ipv6=1" ||
		fail "disable IPv6 on $HOST_IF and $NS_IF"
fi
if ! ip link set "$HOST_IF" up || ! ip netns exec "$NS" ip link set "$NS_IF" up; then
	fail "bring $HOST_IF and $NS_IF up"
	finish
fi

# ---- the reference: the same file read with -r ----
timeout 60 "$IW" -r "$CAP" -o /dev/null -e "$T/offline.jsonl" --devices "$T/offline.devices" --stats -q >/dev/null \
	2>"$T/offline.err"
rc=$?
check "offline reference run (-r) exits 0" "$rc" "exit $rc$(grep -m 1 -v '^ \|stats$' "$T/offline.err" | sed 's/^/: /')"

# ---- live ----
"$IW" -i "$HOST_IF" -o /dev/null -e "$T/live.jsonl" --devices "$T/live.devices" --stats -q >/dev/null \
	2>"$T/live.err" &
IW_PID=$!

# capturing: a packet socket of that process is bound to the host end
capturing() {
	local idx inodes
	idx=$(cat "/sys/class/net/$HOST_IF/ifindex" 2>/dev/null) || return 1
	inodes=$(ls -l "/proc/$IW_PID/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')
	[ -n "$inodes" ] || return 1
	awk -v idx="$idx" -v inodes=" $inodes" 'NR > 1 && $5 == idx && index(inodes, " " $9 " ") { f = 1 }
		END { exit !f }' /proc/net/packet
}
ready=1
for _ in $(seq 1 100); do
	kill -0 "$IW_PID" 2>/dev/null || break
	if capturing; then
		ready=0
		break
	fi
	sleep 0.05
done
sleep 0.3 # the filter and the poll loop follow the socket
kill -0 "$IW_PID" 2>/dev/null
check "iotwatch -i $HOST_IF is running and capturing" $((ready + $?)) "$(head -n 1 "$T/live.err")"
if [ "$ready" -ne 0 ]; then
	finish
fi

ip netns exec "$NS" tcpreplay -i "$NS_IF" "$RATE" "$CAP" >"$T/replay.out" 2>&1
rc=$?
sent=$(sed -n 's/^Actual: \([0-9]*\) packets.*/\1/p' "$T/replay.out")
failed=$(sed -n 's/^[[:space:]]*Failed packets:[[:space:]]*\([0-9]*\).*/\1/p' "$T/replay.out")
[ "$rc" -eq 0 ] && [ -n "$sent" ] && [ "${failed:-0}" -eq 0 ]
check "tcpreplay sent the capture" $? "exit $rc, ${sent:-?} packets sent, ${failed:-?} failed"

sleep 0.5 # immediate mode delivers at once; iotwatch also drains the ring when it stops

# SIGUSR1: the device inventory now, while still capturing: devices of the offline run
# (those whose flows gave events so far; a device seen only in a flow still open comes
# with its flow's end); at the end, all of them
kill -USR1 "$IW_PID"
for _ in $(seq 1 50); do
	[ -s "$T/live.devices" ] && break
	sleep 0.1
done
ids() { python3 -c 'import json, sys; print(" ".join(json.loads(l)["device"] for l in open(sys.argv[1])))' "$1" 2>&1; }
live_ids=$(ids "$T/live.devices")
off_ids=$(ids "$T/offline.devices")
sub=1
[ -n "$live_ids" ] && [ -n "$off_ids" ] && python3 -c 'import sys; sys.exit(not set(sys.argv[1].split()) <= set(sys.argv[2].split()))' \
	"$live_ids" "$off_ids" && sub=0
kill -0 "$IW_PID" 2>/dev/null
check "SIGUSR1 writes the device inventory while capturing (devices of the offline run)" $((sub + $?)) \
	"live: ${live_ids:0:80}; offline: ${off_ids:0:80}"

kill -TERM "$IW_PID"
for _ in $(seq 1 100); do
	kill -0 "$IW_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$IW_PID" 2>/dev/null; then
	fail "iotwatch still running 10 s after SIGTERM"
	kill -KILL "$IW_PID"
fi
wait "$IW_PID"
rc=$?
IW_PID=""
check "iotwatch exits 0 after SIGTERM" "$rc" "exit $rc$(grep -m 1 -v '^ \|stats$' "$T/live.err" | sed 's/^/: /')"
end_ids=$(ids "$T/live.devices")
[ -n "$off_ids" ] && [ "$end_ids" = "$off_ids" ]
check "at the end the live inventory holds the offline run's devices" $? "live: ${end_ids:0:80}; offline: ${off_ids:0:80}"

python3 - "$T/live.jsonl" "$T/offline.jsonl" "${sent:-}" "$HOST_IF" >"$T/checks.out" 2>&1 <<'EOF'
import json
import sys

live_path, offline_path, sent, iface = sys.argv[1:5]
npass = nfail = 0


def report(ok, what):
    global npass, nfail
    if ok:
        npass += 1
    else:
        nfail += 1
    print(("PASS " if ok else "FAIL ") + what)


def load(path):
    """(records, stats or None, error or None)"""
    recs = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                r = json.loads(line)
                if not isinstance(r, dict):
                    return recs, None, "line %d is not a JSON object" % n
                recs.append(r)
    except FileNotFoundError:
        return recs, None, "no events file"
    except ValueError as e:
        return recs, None, "line %d is not JSON: %s" % (len(recs) + 1, e)
    if not recs or recs[-1].get("event_type") != "stats":
        return recs, None, "%d records, the last is not a stats record" % len(recs)
    return recs, recs[-1]["stats"], None


def flow_key(r):
    f = r["flow"]
    return (r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"], r["proto"], r.get("app_proto"),
            f["pkts_toserver"], f["pkts_toclient"], f["bytes_toserver"], f["bytes_toclient"])


def app_counts(recs):
    c = {}
    for r in recs:
        if r.get("event_type") == "flow":
            c[r.get("app_proto")] = c.get(r.get("app_proto"), 0) + 1
    return c


live, ls, lerr = load(live_path)
offline, os_, oerr = load(offline_path)
report(lerr is None, "live events: every line JSON, stats record last (SIGTERM flushed it)"
       + ("" if lerr is None else ": " + lerr))
report(oerr is None, "offline events: every line JSON, stats record last" + ("" if oerr is None else ": " + oerr))
if ls is None or os_ is None:
    sys.exit(1)

report(str(ls.get("packets")) == sent, "live stats.packets %s = packets replayed %s" % (ls.get("packets"), sent))
report(ls.get("packets") == os_.get("packets") and ls.get("bytes") == os_.get("bytes"),
       "live packets/bytes %s/%s = offline %s/%s" % (ls.get("packets"), ls.get("bytes"),
                                                     os_.get("packets"), os_.get("bytes")))
lf = [r for r in live if r.get("event_type") == "flow"]
of = [r for r in offline if r.get("event_type") == "flow"]
report(len(lf) == len(of), "live flow events %d = offline %d" % (len(lf), len(of)))
la, oa = app_counts(live), app_counts(offline)
report(la == oa, "flows per app_proto, live %s = offline %s" % (json.dumps(la, sort_keys=True),
                                                                  json.dumps(oa, sort_keys=True)))
report(ls.get("events") == os_.get("events"), "events per kind, live %s = offline %s"
       % (json.dumps(ls.get("events"), sort_keys=True), json.dumps(os_.get("events"), sort_keys=True)))
lk, ok_ = sorted(map(flow_key, lf)), sorted(map(flow_key, of))
extra = [k for k in lk if k not in ok_]
missing = [k for k in ok_ if k not in lk]
report(lk == ok_, "every flow has the same endpoints, app_proto, packets and bytes each way live and offline"
       + ("" if lk == ok_ else "; only live: %s; only offline: %s" % (extra[:3], missing[:3])))

caps = [c for c in ls.get("capture") or [] if c.get("source") == iface]
if len(caps) != 1:
    report(False, "stats.capture has one entry for %s: %s" % (iface, ls.get("capture")))
else:
    c = caps[0]
    report(c.get("kernel_drops") == 0, "kernel_drops %s on %s (received %s, interface_drops %s)"
           % (c.get("kernel_drops"), iface, c.get("received"), c.get("interface_drops")))
report(ls.get("capture_errors") == 0, "live capture_errors %s" % ls.get("capture_errors"))
print("COUNTS %d %d" % (npass, nfail))
EOF
grep -v '^COUNTS ' "$T/checks.out"
read -r _ p f < <(grep '^COUNTS ' "$T/checks.out")
if [ -z "${p:-}" ]; then
	fail "comparing the live and offline records (see above)"
else
	npass=$((npass + p))
	nfail=$((nfail + f))
fi
finish
