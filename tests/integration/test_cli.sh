#!/usr/bin/env bash
# test_cli.sh - iotwatch's command line, exit statuses, error messages, --check-config,
# reading from stdin and several files, BPF filters, signals during a replay, and the
# flow and stats records it writes (DESIGN §3-§5).
#
# A small capture made here (3 flows: MQTT on tcp/1883, Modbus/TCP on tcp/502, CoAP on
# udp/5683; 18 packets) serves the checks that need no particular file; the checks that
# name a public capture are skipped when ../shared/pcaps-public is absent, and those that
# compare with tshark are skipped when tshark is missing.
#
# Run from the repository root (make integration). IOTWATCH overrides the binary
# (default ./iotwatch). Exit 0 when every check passes or is skipped, 1 otherwise.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

IW=${IOTWATCH:-./iotwatch}
PCAPS=../shared/pcaps-public
TIMEOUT=60

if [ ! -x "$IW" ]; then
	echo "FAIL test_cli: $IW does not exist (make iotwatch)"
	exit 1
fi
HAVE_SHARED=0
[ -d "$PCAPS" ] && HAVE_SHARED=1
HAVE_TSHARK=0
command -v tshark >/dev/null 2>&1 && HAVE_TSHARK=1

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-cli.XXXXXX") || exit 1
BG_PIDS=""
cleanup() {
	local p
	for p in $BG_PIDS; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT


# run CMD...: status in RC, stdout in $T/out, stderr in $T/err
run() {
	timeout "$TIMEOUT" "$@" >"$T/out" 2>"$T/err" </dev/null
	RC=$?
}
errline() { head -n 1 "$T/err"; }
nlines() { wc -l <"$1" | tr -d ' '; }

# ---- JSON, YAML and pcap helpers (python3) ----
cat >"$T/j.py" <<'EOF'
import json
import re
import shutil
import struct
import subprocess
import sys

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def records(path):
    """Every line as a JSON object; exits 1 naming the first line that is not one."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                r = json.loads(line)
            except ValueError as e:
                sys.exit("line %d is not JSON (%s): %.80s" % (n, e, line))
            if not isinstance(r, dict):
                sys.exit("line %d is not a JSON object" % n)
            out.append(r)
    return out


def stats(path):
    rs = records(path)
    if not rs or rs[-1].get("event_type") != "stats":
        sys.exit("the last record is not a stats record")
    return rs[-1]["stats"]


def flows(path):
    return [r for r in records(path) if r.get("event_type") == "flow"]


def cmd_lines(path):
    print(len(records(path)))


def cmd_stat(path, key):
    v = stats(path)
    for k in key.split("."):
        if not isinstance(v, dict) or k not in v:
            sys.exit("stats has no %s" % key)
        v = v[k]
    print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))


def cmd_flows(path):
    for r in sorted(json.dumps(r, sort_keys=True) for r in flows(path)):
        print(r)


def cmd_flow_count(path):
    print(len(flows(path)))


def cmd_app_counts(path):
    c = {}
    for r in flows(path):
        c[r.get("app_proto")] = c.get(r.get("app_proto"), 0) + 1
    print(json.dumps(c, sort_keys=True))


def cmd_flow_ids_unique(path):
    ids = [r.get("flow_id") for r in flows(path)]
    if len(ids) != len(set(ids)) or None in ids:
        sys.exit("flow_id missing or repeated: %s" % ids)
    print(len(ids))


def cmd_timestamps(path):
    n = 0
    for i, r in enumerate(records(path), 1):
        vals = [("timestamp", r.get("timestamp"))]
        if r.get("event_type") == "flow":
            vals += [("flow.start", r["flow"].get("start")), ("flow.end", r["flow"].get("end"))]
        for name, v in vals:
            if not isinstance(v, str) or not TS.match(v):
                sys.exit("record %d: %s is %r" % (i, name, v))
            n += 1
    print(n)


def cmd_app_of_port(path, port):
    apps = sorted({str(r.get("app_proto")) for r in flows(path) if r.get("dest_port") == int(port)})
    print(",".join(apps) if apps else "none")


def tshark_tcp_conv(pcap):
    """{frozenset(endpoints): {(src, dst): (frames, bytes)}} from tshark -z conv,tcp."""
    r = subprocess.run(["tshark", "-n", "-r", pcap, "-q", "-z", "conv,tcp"], capture_output=True, text=True)
    conv = {}
    line_re = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+")
    for line in r.stdout.splitlines():
        m = line_re.match(line)
        if not m:
            continue
        a, b = m.group(1), m.group(2)
        if m.group(5) != "bytes" or m.group(8) != "bytes":
            sys.exit("tshark printed sizes in %s/%s, not exact bytes: %s" % (m.group(5), m.group(8), line))
        # columns: "<-" is frames and bytes from B to A, "->" from A to B
        conv[frozenset((a, b))] = {(b, a): (int(m.group(3)), int(m.group(4))),
                                   (a, b): (int(m.group(6)), int(m.group(7)))}
    return conv


def endpoint(ip, port):
    return ("[%s]:%d" % (ip, port)) if ":" in ip else ("%s:%d" % (ip, port))


def cmd_conv(path, pcap):
    conv = tshark_tcp_conv(pcap)
    fl = [r for r in flows(path) if r.get("proto") == "TCP"]
    bad = []
    for r in fl:
        c, s = endpoint(r["src_ip"], r["src_port"]), endpoint(r["dest_ip"], r["dest_port"])
        t = conv.get(frozenset((c, s)))
        f = r["flow"]
        ours = ((f["pkts_toserver"], f["bytes_toserver"]), (f["pkts_toclient"], f["bytes_toclient"]))
        if t is None:
            bad.append("%s -> %s: no tshark conversation" % (c, s))
        elif ours != (t[(c, s)], t[(s, c)]):
            bad.append("%s -> %s: ours toserver %s toclient %s, tshark %s / %s"
                       % (c, s, ours[0], ours[1], t[(c, s)], t[(s, c)]))
        else:
            print("  %s -> %s: toserver %d pkts %d bytes, toclient %d pkts %d bytes (same as tshark)"
                  % (c, s, ours[0][0], ours[0][1], ours[1][0], ours[1][1]))
    if len(fl) != len(conv):
        bad.append("%d TCP flow events, tshark %d conversations" % (len(fl), len(conv)))
    if bad:
        sys.exit("; ".join(bad))


def cmd_yaml_get(path, key):
    text = open(path, encoding="utf-8").read()
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        v = yaml.safe_load(text)
        for k in key.split("."):
            v = v[k]
        print(json.dumps(v))
        return
    # without PyYAML: follow the indentation of "key:" lines and print the value as written
    want, depth = key.split("."), 0
    for line in text.splitlines():
        m = re.match(r"^( *)([^:#]+):\s*(.*)$", line)
        if m and len(m.group(1)) == 2 * depth and m.group(2).strip().strip('"') == want[depth]:
            if depth == len(want) - 1:
                print(m.group(3))
                return
            depth += 1
    sys.exit("no %s" % key)


# ---- a small capture: MQTT, Modbus/TCP and CoAP, one exchange each ----
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def ip_frame(src, dst, proto, l4):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0x1234, 0x4000, 64, proto, 0, ip4(src), ip4(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + h + l4


def pseudo(src, dst, proto, seg):
    return ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, len(seg))


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b""):
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    c = csum(pseudo(src, dst, 6, seg) + seg)
    return ip_frame(src, dst, 6, seg[:16] + struct.pack("!H", c) + seg[18:])


def udp(src, dst, sport, dport, payload):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = csum(pseudo(src, dst, 17, seg) + seg) or 0xFFFF
    return ip_frame(src, dst, 17, seg[:6] + struct.pack("!H", c) + seg[8:])


def tcp_session(c, s, cport, sport, req, resp):
    SYN, FIN, PSH, ACK = 2, 1, 8, 16
    ci, si = 1000, 5000
    return [
        tcp(c, s, cport, sport, ci, 0, SYN),
        tcp(s, c, sport, cport, si, ci + 1, SYN | ACK),
        tcp(c, s, cport, sport, ci + 1, si + 1, ACK),
        tcp(c, s, cport, sport, ci + 1, si + 1, PSH | ACK, req),
        tcp(s, c, sport, cport, si + 1, ci + 1 + len(req), PSH | ACK, resp),
        tcp(c, s, cport, sport, ci + 1 + len(req), si + 1 + len(resp), FIN | ACK),
        tcp(s, c, sport, cport, si + 1 + len(resp), ci + 2 + len(req), FIN | ACK),
        tcp(c, s, cport, sport, ci + 2 + len(req), si + 2 + len(resp), ACK),
    ]


def cmd_mkpcap(out, variant):
    v = int(variant)  # another variant: other addresses, an hour later
    net = "10.%d.0." % v
    mqtt_connect = bytes([0x10, 16, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 4]) + b"dev1"
    mqtt_connack = bytes([0x20, 2, 0, 0])
    mb_req = bytes.fromhex("000100000006010300000002")
    mb_resp = bytes.fromhex("000100000007010304000a000b")
    coap_get = bytes([0x40, 0x01, 0x12, 0x34, 0xB4]) + b"temp"
    coap_205 = bytes([0x60, 0x45, 0x12, 0x34, 0xFF]) + b"21.5"
    frames = (tcp_session(net + "1", net + "2", 40001, 1883, mqtt_connect, mqtt_connack)
              + tcp_session(net + "1", net + "3", 40002, 502, mb_req, mb_resp)
              + [udp(net + "1", net + "4", 40003, 5683, coap_get), udp(net + "4", net + "1", 5683, 40003, coap_205)])
    t = (1700000000 + 3600 * v) * 1000000 + 1
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            f.write(struct.pack("<IIII", t // 1000000, t % 1000000, len(fr), len(fr)))
            f.write(fr)
            t += 10007


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1].replace("-", "_")](*sys.argv[2:])
EOF
J() { python3 "$T/j.py" "$@"; }

SYN_A=$T/synthetic-a.pcap
SYN_B=$T/synthetic-b.pcap
J mkpcap "$SYN_A" 0 && J mkpcap "$SYN_B" 1 || {
	echo "FAIL test_cli: cannot write the synthetic captures"
	exit 1
}
SYN_PACKETS=18
SYN_FLOWS=3

# events (and stats) of one replay into a new file: events FILE-OUT iotwatch-args...
events() {
	local out=$1
	shift
	rm -f "$out"
	run "$IW" "$@" -o /dev/null -e "$out" --stats -q
}

echo "test_cli: $IW"

# ---- help and version ----
run "$IW" --help
grep -q -- '-r' "$T/out" && grep -q -- '-i' "$T/out"
check "--help exits 0 and mentions -r and -i" $(((RC != 0) + $?)) "exit $RC"

run "$IW" --version
grep -qE '^iotwatch [0-9]+\.[0-9]+' "$T/out" && [ "$(nlines "$T/out")" -eq 1 ]
check "--version exits 0 and prints one line 'iotwatch <version>'" $(((RC != 0) + $?)) "exit $RC: $(head -n 1 "$T/out")"

# ---- usage and configuration errors: exit 2, one line on stderr, nothing on stdout ----
# usage_error NAME WANT_PREFIX CMD...
usage_error() {
	local name=$1 prefix=$2
	shift 2
	run "$@"
	local ok=0
	[ "$RC" -eq 2 ] || ok=1
	[ "$(nlines "$T/err")" -eq 1 ] || ok=1
	[ -s "$T/out" ] && ok=1
	case "$(errline)" in "$prefix"*) ;; *) ok=1 ;; esac
	check "$name → exit 2, one line on stderr" $ok "exit $RC, $(nlines "$T/err") line(s): $(errline)"
}
usage_error "unknown long option --no-such-option" "iotwatch: " "$IW" --no-such-option -r "$SYN_A"
usage_error "unknown short option -Z" "iotwatch: " "$IW" -Z -r "$SYN_A"
usage_error "neither -r nor -i" "iotwatch: " "$IW" -o /dev/null
usage_error "-r and -i together" "iotwatch: " "$IW" -r "$SYN_A" -i lo -o /dev/null
usage_error "--set nosuch.key=1" "iotwatch: " "$IW" --set nosuch.key=1 -r "$SYN_A" -o /dev/null
grep -q 'nosuch.key' "$T/err"
check "--set nosuch.key=1 names the key" $? "$(errline)"

printf 'sensor:\n  name: test\n  no_such_key: 1\n' >"$T/unknown-key.yaml"
usage_error "config with an unknown key on line 3" "iotwatch: $T/unknown-key.yaml:3:" \
	"$IW" -c "$T/unknown-key.yaml" -r "$SYN_A" -o /dev/null
grep -q 'no_such_key' "$T/err"
check "unknown config key is named" $? "$(errline)"

printf 'rules:\n  cert:\n    expiry_lead: 9x\n' >"$T/bad-duration.yaml"
usage_error "config with a bad duration on line 3" "iotwatch: $T/bad-duration.yaml:3:" \
	"$IW" -c "$T/bad-duration.yaml" --check-config
grep -q 'expiry_lead' "$T/err"
check "bad duration names the key" $? "$(errline)"
usage_error "--set with a bad duration (rules.cert.flood_window=9x)" "iotwatch: " \
	"$IW" --set rules.cert.flood_window=9x --check-config
usage_error "bad BPF filter" "iotwatch: " "$IW" -f "tcp port" -r "$SYN_A" -o /dev/null
usage_error "--no-parser with an unknown name" "iotwatch: --no-parser: no parser named: smtp" \
	"$IW" --no-parser tls,smtp -r "$SYN_A" -o /dev/null
printf '{"syncToken":"1","prefixes":[{"ip_prefix":"10.0.0.0/33","region":"x","service":"AMAZON"}]}' >"$T/bad-ranges.json"
usage_error "bad ip-range file" "iotwatch: rules.region.ip_ranges: $T/bad-ranges.json: prefixes[0].ip_prefix" \
	"$IW" --set rules.region.ip_ranges="$T/bad-ranges.json" -r "$SYN_A" -o /dev/null

usage_error "a Modbus writer that is not an address" \
	'iotwatch: rules.modbus.allowed_writers: "10.0.0.300" is not an address or CIDR' \
	"$IW" --set rules.modbus.allowed_writers=10.0.0.1,10.0.0.300 -r "$SYN_A" -o /dev/null
usage_error "a device network that is not a CIDR" 'iotwatch: sensor.device_networks: "10.0.0.0/40" is not a CIDR' \
	"$IW" --set sensor.device_networks=10.0.0.0/40 -r "$SYN_A" -o /dev/null

# ---- runtime failures: exit 1, the path in the message ----
run "$IW" -r "$T/no-such-file.pcap" -o /dev/null -q
grep -qF "$T/no-such-file.pcap" "$T/err"
check "missing capture → exit 1, path in the message" $(((RC != 1) + $?)) "exit $RC: $(errline)"
printf 'this is not a capture file\n' >"$T/not-a-capture.pcap"
run "$IW" -r "$T/not-a-capture.pcap" -o /dev/null -q
grep -qF "$T/not-a-capture.pcap" "$T/err"
check "unreadable (not a capture) file → exit 1, path in the message" $(((RC != 1) + $?)) "exit $RC: $(errline)"
run "$IW" -r "$SYN_A" -o "$T/no-such-dir/alerts.json" -q
grep -qF "$T/no-such-dir/alerts.json" "$T/err"
check "alerts file that cannot be opened → exit 1, path in the message" $(((RC != 1) + $?)) "exit $RC: $(errline)"

# ---- --check-config ----
run "$IW" --check-config
cp "$T/out" "$T/effective-default.yaml"
if [ "$RC" -eq 0 ] && [ -s "$T/effective-default.yaml" ]; then
	run "$IW" -c "$T/effective-default.yaml" --check-config
	cmp -s "$T/out" "$T/effective-default.yaml"
	check "--check-config output loads back with -c and prints the same text" $(((RC != 0) + $?)) "exit $RC"
else
	fail "--check-config exits 0 and prints the configuration (exit $RC: $(errline))"
fi

run "$IW" --set 'sensor.name=span "7": east # rack\ 3' --set 'rules.mqtt.trusted_clients=gw-*,*' \
	--set rules.tunnel.max_duration=90s --set rules.cert.expiry_lead=3600 \
	--set rules.modbus.allowed_writers=10.0.0.0/8,192.168.1.5 --check-config
cp "$T/out" "$T/effective-set.yaml"
if [ "$RC" -eq 0 ] && ! cmp -s "$T/effective-set.yaml" "$T/effective-default.yaml"; then
	run "$IW" -c "$T/effective-set.yaml" --check-config
	cmp -s "$T/out" "$T/effective-set.yaml"
	check "--check-config with --set values (quotes, #, globs, lists) round-trips through -c" \
		$(((RC != 0) + $?)) "exit $RC"
	[ "$(J yaml-get "$T/effective-set.yaml" sensor.name 2>&1)" = '"span \"7\": east # rack\\ 3"' ]
	check "sensor.name with quotes and # survives --check-config" $? "$(J yaml-get "$T/effective-set.yaml" sensor.name 2>&1)"
else
	fail "--check-config with --set values exits 0 and differs from the defaults (exit $RC: $(errline))"
fi

if [ -f config/iotwatch.yaml ]; then
	run "$IW" -c config/iotwatch.yaml --check-config
	cmp -s "$T/out" "$T/effective-default.yaml"
	check "config/iotwatch.yaml loads and equals the built-in defaults" $(((RC != 0) + $?)) \
		"exit $RC: $(errline)$(diff "$T/effective-default.yaml" "$T/out" | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
else
	skip "config/iotwatch.yaml is not there yet"
fi

run "$IW" --set rules.region.allowed=ap-south-1,ap-south-2 --check-config
allowed=$(J yaml-get "$T/out" rules.region.allowed 2>&1)
[ "$RC" -eq 0 ] && [ "$allowed" = '["ap-south-1", "ap-south-2"]' ]
check "--set rules.region.allowed=ap-south-1,ap-south-2 --check-config shows both" $? "exit $RC, allowed: $allowed"

# ---- the synthetic capture ----
events "$T/syn.jsonl" -r "$SYN_A"
n=$(J lines "$T/syn.jsonl" 2>&1)
check "synthetic capture: exit 0, every events line is JSON" $(((RC != 0) + ($? != 0))) "exit $RC, $n lines"
p=$(J stat "$T/syn.jsonl" packets 2>&1)
f=$(J flow-count "$T/syn.jsonl" 2>&1)
[ "$p" = "$SYN_PACKETS" ] && [ "$f" = "$SYN_FLOWS" ]
check "synthetic capture: $SYN_PACKETS packets, $SYN_FLOWS flow events" $? "packets $p, flow events $f"
apps=$(J app-counts "$T/syn.jsonl" 2>&1)
[ "$apps" = '{"coap": 1, "modbus": 1, "mqtt": 1}' ]
check "synthetic capture: app_proto mqtt, modbus and coap" $? "$apps"
ts=$(J timestamps "$T/syn.jsonl" 2>&1)
check "synthetic capture: timestamps are RFC 3339 UTC with microseconds" $? "$ts"

# ---- stdin ----
if [ "$HAVE_SHARED" -eq 1 ]; then STDIN_CAP=$PCAPS/zeek/modbusSmall.pcap; else STDIN_CAP=$SYN_A; fi
events "$T/file.jsonl" -r "$STDIN_CAP"
rc_file=$RC
rm -f "$T/stdin.jsonl"
timeout "$TIMEOUT" "$IW" -r - -o /dev/null -e "$T/stdin.jsonl" --stats -q <"$STDIN_CAP" >/dev/null 2>"$T/err"
rc_stdin=$?
pf=$(J stat "$T/file.jsonl" packets 2>&1)
ps=$(J stat "$T/stdin.jsonl" packets 2>&1)
ff=$(J stat "$T/file.jsonl" flows 2>&1)
fs=$(J stat "$T/stdin.jsonl" flows 2>&1)
[ "$rc_file" -eq 0 ] && [ "$rc_stdin" -eq 0 ] && [ "$pf" = "$ps" ] && [ "$ff" = "$fs" ]
check "-r - (stdin) gives the same stats packets and flows as -r FILE ($(basename "$STDIN_CAP"))" $? \
	"exit $rc_file/$rc_stdin, packets $pf/$ps, flows $ff/$fs"
cmp -s <(J flows "$T/file.jsonl" 2>&1) <(J flows "$T/stdin.jsonl" 2>&1)
check "-r - (stdin) gives the same flow records as -r FILE" $?

# ---- two files ----
# sum_of_two A B: packets, bytes and flows of A and B read one by one and together
sum_of_two() {
	local a=$1 b=$2 k ok=0 detail=""
	events "$T/a.jsonl" -r "$a"
	events "$T/b.jsonl" -r "$b"
	events "$T/ab.jsonl" -r "$a" -r "$b"
	for k in packets bytes flows; do
		local va vb vab
		va=$(J stat "$T/a.jsonl" $k 2>&1)
		vb=$(J stat "$T/b.jsonl" $k 2>&1)
		vab=$(J stat "$T/ab.jsonl" $k 2>&1)
		detail="$detail $k $va+$vb=$vab"
		[ "$((va + vb))" = "$vab" ] 2>/dev/null || ok=1
	done
	check "two -r files: packets, bytes and flows are the sums ($(basename "$a") + $(basename "$b"))" \
		$(((RC != 0) + ok)) "exit $RC,$detail"
}
sum_of_two "$SYN_A" "$SYN_B"
if [ "$HAVE_SHARED" -eq 1 ]; then
	sum_of_two "$PCAPS/ndpi/mqtt.pcap" "$PCAPS/zeek/modbusSmall.pcap"
else
	skip "two -r public files: $PCAPS absent"
fi

# ---- BPF filter ----
if [ "$HAVE_SHARED" -eq 1 ]; then
	MQTT=$PCAPS/ndpi/mqtt.pcap
	events "$T/unfiltered.jsonl" -r "$MQTT"
	all=$(J stat "$T/unfiltered.jsonl" packets 2>&1)
	events "$T/filtered.jsonl" -r "$MQTT" -f "tcp port 1883"
	rc=$RC
	got=$(J stat "$T/filtered.jsonl" packets 2>&1)
	# The expected count is what libpcap's filter passes. "tcp port 1883" without the
	# "vlan" keyword does not look inside 802.1Q tags, so the VLAN-tagged CONNECT (frame 9)
	# does not match; tshark's display filter decodes the tag, so it must exclude vlan
	# frames to count the same packets.
	want=""
	if command -v tcpdump >/dev/null 2>&1; then
		want=$(tcpdump -n -r "$MQTT" 'tcp port 1883' 2>/dev/null | wc -l)
		how="tcpdump 'tcp port 1883'"
	elif [ "$HAVE_TSHARK" -eq 1 ]; then
		want=$(tshark -n -r "$MQTT" -Y 'tcp.port==1883 && !vlan' 2>/dev/null | wc -l)
		how="tshark -Y 'tcp.port==1883 && !vlan'"
	fi
	if [ -n "$want" ]; then
		[ "$rc" -eq 0 ] && [ "$got" = "$want" ] && [ "$got" -lt "$all" ]
		check "-f 'tcp port 1883' on mqtt.pcap: stats.packets is what the filter passes, fewer than without" $? \
			"exit $rc, $got packets, $how: $want, unfiltered $all"
	else
		skip "-f 'tcp port 1883' count: neither tcpdump nor tshark is installed"
	fi
else
	skip "-f 'tcp port 1883' on mqtt.pcap: $PCAPS absent"
fi

# ---- events of mqtt.pcap and modbusBig.pcap ----
if [ "$HAVE_SHARED" -eq 1 ]; then
	events "$T/mqtt.jsonl" -r "$PCAPS/ndpi/mqtt.pcap"
	n=$(J lines "$T/mqtt.jsonl" 2>&1)
	check "mqtt.pcap: exit 0, every events line is JSON" $(((RC != 0) + ($? != 0))) "exit $RC, $n lines"
	ts=$(J timestamps "$T/mqtt.jsonl" 2>&1)
	check "mqtt.pcap: timestamps match ^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z\$" $? "$ts"
	apps=$(J app-counts "$T/mqtt.jsonl" 2>&1)
	[ "$apps" = '{"mqtt": 2}' ]
	check "mqtt.pcap: exactly 2 flow events, both app_proto mqtt" $? "$apps"
	if [ "$HAVE_TSHARK" -eq 1 ]; then
		if J conv "$T/mqtt.jsonl" "$PCAPS/ndpi/mqtt.pcap" >"$T/conv.out" 2>&1; then
			pass "mqtt.pcap: packets and bytes each way equal tshark -z conv,tcp ($(grep -c '^  ' "$T/conv.out") conversations)"
			grep '^  ' "$T/conv.out"
		else
			fail "mqtt.pcap: packets and bytes each way equal tshark -z conv,tcp ($(tail -n 1 "$T/conv.out"))"
		fi
	else
		skip "mqtt.pcap against tshark -z conv,tcp: tshark is not installed"
	fi
	events "$T/modbus.jsonl" -r "$PCAPS/zeek/modbusBig.pcap"
	app=$(J app-of-port "$T/modbus.jsonl" 502 2>&1)
	[ "$RC" -eq 0 ] && [ "$app" = "modbus" ]
	check "modbusBig.pcap: the tcp/502 flow has app_proto modbus" $? "exit $RC, app_proto $app"
else
	skip "events of mqtt.pcap and modbusBig.pcap: $PCAPS absent"
fi
app=$(J app-of-port "$T/syn.jsonl" 502 2>&1)
[ "$app" = "modbus" ]
check "synthetic Modbus/TCP flow (tcp/502) has app_proto modbus" $? "app_proto $app"

# ---- signals during a replay from a pipe that stalls ----
# The whole capture goes into a FIFO, then the writer sleeps and keeps it open, so the
# sensor has read every packet and blocks reading the next record header.
mkfifo "$T/feed" || exit 1
rm -f "$T/term.jsonl"
"$IW" -r - -o /dev/null -e "$T/term.jsonl" --stats -q <"$T/feed" >/dev/null 2>"$T/term.err" &
iw=$!
{
	cat "$SYN_A"
	exec sleep 30
} >"$T/feed" &
feeder=$!
BG_PIDS="$iw $feeder"
sleep 1
kill -TERM "$iw"
for _ in $(seq 1 100); do kill -0 "$iw" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$iw" 2>/dev/null; then
	fail "SIGTERM during a stalled replay: iotwatch still running 10 s later"
	kill -KILL "$iw"
fi
wait "$iw"
rc=$?
kill "$feeder" 2>/dev/null
wait "$feeder" 2>/dev/null
last=$(tail -n 1 "$T/term.jsonl" 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.read()).get("event_type"))' 2>&1)
n=$(J lines "$T/term.jsonl" 2>&1)
[ "$rc" -eq 0 ] && [ "$last" = "stats" ]
check "SIGTERM during a stalled replay (-r - from a pipe): exit 0, stats record is the last line" $? \
	"exit $rc, $n lines, last event_type $last"
p=$(J stat "$T/term.jsonl" packets 2>&1)
[ "$p" = "$SYN_PACKETS" ]
check "SIGTERM during a stalled replay: every packet written before the stall counted" $? \
	"packets $p, want $SYN_PACKETS"
ce=$(J stat "$T/term.jsonl" capture_errors 2>&1)
[ "$ce" = "0" ] && ! grep -q 'error reading' "$T/term.err"
check "SIGTERM during a stalled replay is a clean stop, not a capture error" $? \
	"capture_errors $ce; stderr: $(grep -m 1 '^iotwatch: -' "$T/term.err")"

# SIGHUP (reopen output files) in the middle of the same kind of replay must not end it
rm -f "$T/hup.jsonl"
half=$(($(stat -c %s "$SYN_A") / 2))
"$IW" -r - -o /dev/null -e "$T/hup.jsonl" --stats -q <"$T/feed" >/dev/null 2>"$T/hup.err" &
iw=$!
{
	head -c "$half" "$SYN_A"
	sleep 2
	tail -c +"$((half + 1))" "$SYN_A"
} >"$T/feed" 2>/dev/null &
feeder=$!
BG_PIDS="$iw $feeder"
sleep 1
kill -HUP "$iw"
for _ in $(seq 1 150); do kill -0 "$iw" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$iw" 2>/dev/null; then
	fail "SIGHUP during a stalled replay: iotwatch still running 15 s later"
	kill -KILL "$iw"
fi
wait "$iw"
rc=$?
wait "$feeder" 2>/dev/null
p=$(J stat "$T/hup.jsonl" packets 2>&1)
ce=$(J stat "$T/hup.jsonl" capture_errors 2>&1)
[ "$rc" -eq 0 ] && [ "$p" = "$SYN_PACKETS" ] && [ "$ce" = "0" ]
check "SIGHUP during a stalled replay (-r -) does not stop reading" $? \
	"exit $rc, packets $p of $SYN_PACKETS, capture_errors $ce; stderr: $(grep -m 1 '^iotwatch: -' "$T/hup.err")"
BG_PIDS=""

# ---- alerts and events both on stdout ----
timeout "$TIMEOUT" "$IW" -r "$SYN_A" -o - -e - --stats -q >"$T/stdout.jsonl" 2>"$T/err" </dev/null
rc=$?
n=$(J lines "$T/stdout.jsonl" 2>&1)
ok=$?
nf=$(J flow-ids-unique "$T/stdout.jsonl" 2>&1)
ok=$((ok + $?))
sf=$(J stat "$T/stdout.jsonl" flows 2>&1)
ok=$((ok + $?))
[ "$rc" -eq 0 ] && [ "$ok" -eq 0 ] && [ "$nf" = "$sf" ] && [ "$nf" = "$SYN_FLOWS" ]
check "-o - -e -: stdout is JSON lines, one flow event per flow, stats last" $? \
	"exit $rc, $n lines, flow events $nf, stats.flows $sf"

# ---- progress line: on a terminal only ----
if command -v script >/dev/null && command -v gcc >/dev/null; then
	gen="$T/gen"
	if gcc -O2 -std=c11 -o "$gen" tests/bench/gen.c $(pkg-config --cflags --libs libpcap) 2>"$T/err" &&
		"$gen" -o "$T/big.pcap" -n 1500000 >/dev/null 2>&1; then
		# four files, half a second each: the line appears at least once, naming the file
		script -qec "$IW -r $T/big.pcap -r $T/big.pcap -r $T/big.pcap -r $T/big.pcap -o /dev/null" /dev/null >"$T/tty.out" 2>&1
		rc=$?
		grep -q "packets/s" "$T/tty.out" && grep -q "big.pcap (" "$T/tty.out"
		check "progress line on a terminal" $? "exit $rc, $(tr '\r' '\n' <"$T/tty.out" | grep -c packets/s) updates"
		"$IW" -r "$T/big.pcap" -o /dev/null 2>"$T/err"
		rc=$?
		[ "$rc" -eq 0 ] && ! grep -q "packets/s" "$T/err"
		check "no progress line when stderr is not a terminal" $? "exit $rc"
	else
		skip "progress line" "cannot build the traffic generator"
	fi
else
	skip "progress line" "script(1) or gcc missing"
fi

# ---- the device inventory (--devices) and the state configuration ----
run "$IW" -r pcaps/demo.pcap -o /dev/null -e "$T/dev-events.jsonl" --devices "$T/devices.jsonl" -q
python3 - "$T/dev-events.jsonl" "$T/devices.jsonl" >"$T/dev.out" 2>&1 <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
inv = [json.loads(l) for l in open(sys.argv[2])]
want = {}
for r in ev:
    d = r.get("device", {}).get("id")
    if d:
        want.setdefault(d, set())
        if r["event_type"] not in ("flow", "stats"):
            want[d].add(r["event_type"])
got = {r["device"]: set(r["protocols"]) for r in inv}
ids = [r["device"] for r in inv]
assert ids == sorted(ids), "not ordered by id: %s" % ids
assert got == want, "inventory %s, events say %s" % (got, want)
for r in inv:
    assert r["first_seen"] <= r["last_seen"], r
print("%d devices" % len(inv))
PY
check "--devices: one line per device id of the events, ordered, with the protocols they used" \
	$((RC + $?)) "exit $RC, $(tail -n 1 "$T/dev.out")"
run "$IW" -r pcaps/demo.pcap -o /dev/null --devices /nonexistent/dir/devices.jsonl -q
[ "$RC" -eq 1 ] && grep -q '^iotwatch: --devices /nonexistent/dir/devices.jsonl: No such file' "$T/err"
check "--devices to a directory that does not exist: exit 1 before reading, one line" $? "exit $RC: $(errline)"
run env -u IW_NO_SUCH_VAR "$IW" -r pcaps/demo.pcap --set state.backend=redis --set state.redis.password_env=IW_NO_SUCH_VAR
[ "$RC" -eq 2 ] && [ "$(errline)" = "iotwatch: state.redis.password_env: environment variable IW_NO_SUCH_VAR is not set" ]
check "state.redis.password_env naming an unset variable: exit 2, one line" $? "exit $RC: $(errline)"

summary test_cli
