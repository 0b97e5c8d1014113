#!/usr/bin/env bash
# test_syslog.sh - the syslog exporter (DESIGN §8, docs/siem.md) against a real rsyslogd
# started here on loopback ports (imudp and imtcp only, its own work directory), whose
# omfile action writes the fields it PARSED from each message (PRI, TIMESTAMP, HOSTNAME,
# APP-NAME, PROCID, MSGID, SD, MSG) as JSON lines:
#   - pcaps/demo-rules.pcap (alerts of all 12 rules) over UDP and over TCP (octet
#     counting), body CEF: one message per alert of -o, each RFC 5424 with APP-NAME
#     iotwatch, MSGID the rule, PRI facility*8 + the mapped severity, and a MSG that a
#     strict CEF parser reads back into the alert's rule, severity, addresses, ports,
#     device id and evidence;
#   - the same with format json: MSG is the JSON record byte for byte;
#   - rsyslogd killed and restarted in the middle of a replay fed through -r -: the
#     sensor neither blocks nor crashes, exits 0, reconnects, and sent + dropped = alerts;
#   - a receiver that accepts and never reads: the replay still ends promptly, the drops
#     are counted (and make the exit status 1: records were lost);
#   - a bad address: exit 2 with one line; a host that does not resolve: exit 1, one line.
# Each run's messages are told apart by PROCID (the sensor's pid).
#
# Run from the repository root (make integration). IOTWATCH overrides the binary.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

IW=${IOTWATCH:-./iotwatch}
CAP=pcaps/demo-rules.pcap
CONF=pcaps/demo-rules.yaml
TIMEOUT=120
need_tools test_syslog rsyslogd python3
need_files test_syslog "$IW" "$CAP" "$CONF"

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-syslog.XXXXXX") || exit 1
RS_PID=""
BG_PIDS=""
cleanup() {
	local p
	for p in $RS_PID $BG_PIDS; do
		kill -CONT "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

UPORT=$(free_port udp)
TPORT=$(free_port tcp)
VERSION=$("$IW" --version | awk '{print $2}')

# ---- rsyslogd: imudp and imtcp on loopback, the parsed fields as JSON lines ----
mkdir -p "$T/rs-work"
cat >"$T/rsyslog.conf" <<EOF
global(workDirectory="$T/rs-work" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="$UPORT" rcvbufSize="4m")
input(type="imtcp" address="127.0.0.1" port="$TPORT")
template(name="parsed" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="input" name="inputname" format="jsonf")
}
action(type="omfile" file="$T/received.jsonl" template="parsed")
EOF
rs_start() {
	rm -f "$T/rsyslog.pid"
	rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslog.pid" >>"$T/rsyslog.log" 2>&1 &
	RS_PID=$!
	if python3 - "$TPORT" <<'EOF'; then return 0; fi
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
	echo "FAIL test_syslog: rsyslogd did not start: $(tail -n 3 "$T/rsyslog.log")"
	exit 1
}
rs_stop() { # rs_stop [SIGNAL]
	kill "-${1:-TERM}" "$RS_PID" 2>/dev/null
	wait "$RS_PID" 2>/dev/null
	RS_PID=""
}

# ---- the checker: the messages rsyslogd parsed against the alerts of -o ----
cat >"$T/check.py" <<'EOF'
"""check.py MODE ALERTS RECEIVED PID HOSTNAME FACILITY VERSION [WAIT_S]

MODE cef or json. Waits up to WAIT_S (default 10) for as many messages from PROCID PID as
there are alerts, then compares them. MODE cef-subset: fewer messages may have come, each
matching a distinct alert. Prints a summary; exits 1 naming the first problem."""
import collections, json, sys, time

SYSLOG_SEV = {"critical": 2, "high": 3, "medium": 4, "low": 5}
CEF_SEV = {"low": "3", "medium": "5", "high": "8", "critical": "10"}


def parse_cef(s):
    """A strict CEF reader: 7 header fields split on unescaped '|' (\\\\ and \\| the only
    escapes), then key=value pairs: a key is letters and digits after a space (or the
    header), a value runs to the space before the next key; in values only \\\\, \\=, \\r,
    \\n are escapes. Returns (header, {key: value})."""
    fields, cur, i = [], [], 0
    while len(fields) < 7:
        if i >= len(s):
            raise ValueError("header has %d fields" % len(fields))
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s) or s[i + 1] not in "\\|":
                raise ValueError("bad header escape at %d" % i)
            cur.append(s[i + 1])
            i += 2
        elif c == "|":
            fields.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(c)
            i += 1
    ext = s[i:]
    # unescaped '=' positions, each ending a key
    eqs, j = [], 0
    while j < len(ext):
        if ext[j] == "\\":
            if j + 1 >= len(ext) or ext[j + 1] not in "\\=rn":
                raise ValueError("bad extension escape at %d" % j)
            j += 2
            continue
        if ext[j] == "=":
            k = j
            while k > 0 and ext[k - 1].isascii() and ext[k - 1].isalnum():
                k -= 1
            if k == j or (k > 0 and ext[k - 1] != " "):
                raise ValueError("'=' at %d ends no key" % j)
            eqs.append((k, j))
        j += 1
    if ext and not eqs:
        raise ValueError("extension without pairs")
    if eqs and eqs[0][0] != 0:
        raise ValueError("extension starts with no key")
    out = {}
    for n, (k, e) in enumerate(eqs):
        end = eqs[n + 1][0] - 1 if n + 1 < len(eqs) else len(ext)
        raw = ext[e + 1:end]
        val, q = [], 0
        while q < len(raw):
            if raw[q] == "\\":
                val.append({"\\": "\\", "=": "=", "r": "\r", "n": "\n"}[raw[q + 1]])
                q += 2
            else:
                val.append(raw[q])
                q += 1
        key = ext[k:e]
        if key in out:
            raise ValueError("key %s twice" % key)
        out[key] = "".join(val)
    return fields, out


def ms(ts):
    import datetime
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1000 + d.microsecond // 1000


def main():
    mode, alerts_path, recv_path, pid, host, fac, version = sys.argv[1:8]
    subset = mode.endswith("-subset")
    mode = mode.split("-")[0]
    wait = float(sys.argv[8]) if len(sys.argv) > 8 else 10
    lines = [l.rstrip("\n") for l in open(alerts_path)]
    alerts = [json.loads(l) for l in lines]
    msgs = []
    end = time.time() + wait
    while True:
        try:
            rs = [json.loads(l) for l in open(recv_path)]
        except (FileNotFoundError, ValueError):
            rs = []
        msgs = [r for r in rs if r.get("procid") == pid]
        if len(msgs) >= len(alerts) or time.time() > end:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # anything more would be an extra message
    msgs = [r for r in (json.loads(l) for l in open(recv_path)) if r.get("procid") == pid]
    if len(msgs) != len(alerts) and not (subset and 0 < len(msgs) < len(alerts)):
        sys.exit("%d messages from pid %s, %d alerts" % (len(msgs), pid, len(alerts)))
    if not alerts:
        sys.exit("no alerts")

    def key_of_alert(a):
        return (a["alert"]["rule"], a["timestamp"], a.get("flow_id"), json.dumps(a["evidence"], sort_keys=True))

    by_key = collections.defaultdict(list)
    for a, line in zip(alerts, lines):
        by_key[key_of_alert(a)].append((a, line))
    rules = set()
    for m in msgs:
        if m["version"] != "1" or m["app_name"] != "iotwatch" or m["sd"] != "-":
            sys.exit("header: %s" % m)
        if m["hostname"] != host:
            sys.exit("hostname %r, want %r" % (m["hostname"], host))
        if mode == "json":
            a = json.loads(m["msg"])
            k = key_of_alert(a)
        else:
            head, ext = parse_cef(m["msg"])
            ev = json.loads(ext["cs6"])
            fid = int(ext["externalId"]) if "externalId" in ext else None
            k = (head[4], None, fid, json.dumps(ev, sort_keys=True))
            # the timestamp is in the syslog header
            k = (k[0], m["timestamp"], k[2], k[3])
        if not by_key.get(k):
            sys.exit("message matches no alert (or one twice): %s" % m["msg"][:300])
        a, line = by_key[k].pop()
        rule, sev = a["alert"]["rule"], a["alert"]["severity"]
        rules.add(rule)
        if m["msgid"] != rule:
            sys.exit("MSGID %r, rule %r" % (m["msgid"], rule))
        if int(m["pri"]) != int(fac) * 8 + SYSLOG_SEV[sev]:
            sys.exit("PRI %s for %s severity %s" % (m["pri"], rule, sev))
        if m["timestamp"] != a["timestamp"]:
            sys.exit("TIMESTAMP %s, record %s" % (m["timestamp"], a["timestamp"]))
        if mode == "json":
            if m["msg"] != line:
                sys.exit("MSG is not the record:\n%s\n%s" % (m["msg"], line))
            continue
        want_head = ["CEF:0", "iotwatch", "iotwatch", version, rule, a["alert"]["message"], CEF_SEV[sev]]
        if head != want_head:
            sys.exit("CEF header %s, want %s" % (head, want_head))
        want = {"src": a.get("src_ip"), "dst": a.get("dest_ip"), "spt": str(a.get("src_port")),
                "dpt": str(a.get("dest_port")), "cs1Label": "deviceId", "cs1": a["device"]["id"],
                "cs6Label": "evidence", "rt": str(ms(a["timestamp"])), "cat": a["alert"]["category"],
                "msg": a["alert"]["message"], "dvchost": a["sensor"], "proto": a["proto"]}
        for key, v in want.items():
            if ext.get(key) != v:
                sys.exit("%s: %s=%r, want %r" % (rule, key, ext.get(key), v))
        if json.loads(ext["cs6"]) != a["evidence"]:
            sys.exit("%s: cs6 is not the evidence" % rule)
    print("%d messages, %d rules, each as its alert" % (len(msgs), len(rules)))


main()
EOF

# xstat EVENTS NAME: a counter of the syslog exporter in the stats record (drops.X for one reason)
xstat() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
st = [json.loads(l) for l in open(sys.argv[1])][-1]["stats"]["exporters"]
s = next(v for k, v in st.items() if k.startswith("syslog"))
for part in sys.argv[2].split("."):
    s = s[part]
print(int(s) if not isinstance(s, bool) else str(s).lower())
EOF
}
# msgs FILE: the sensor's own lines of stderr, without the --stats summary, on one line
msgs() { grep '^iotwatch: ' "$1" | grep -v '^iotwatch: stats$' | tr '\n' '|'; }
nalerts() { grep -c '"event_type":"alert"' "$1"; }
# reap PID: waits for a background sensor (killed after TIMEOUT s); its status in RC
reap() {
	local i
	for i in $(seq $((TIMEOUT * 10))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1"
	RC=$?
}

rs_start

# ---- one replay, its messages as rsyslogd parsed them ----
# replay NAME MODE ADDRESS FACILITY: runs the sensor, then the checker
replay() {
	local name=$1 mode=$2 address=$3 fac=$4 facname
	facname=$(python3 -c 'import sys; print(["local%d" % i for i in range(8)][int(sys.argv[1]) - 16])' "$fac")
	"$IW" -r "$CAP" -c "$CONF" -o "$T/$name.jsonl" -e "$T/$name.ev" --stats -q \
		--set exporters.syslog.address="$address" --set exporters.syslog.format="$mode" \
		--set exporters.syslog.facility="$facname" --set exporters.syslog.hostname=iw-test \
		2>"$T/$name.err" </dev/null &
	local pid=$! # the sensor's own pid: its messages' PROCID
	reap "$pid"
	local rc=$RC
	local out
	out=$(python3 "$T/check.py" "$mode" "$T/$name.jsonl" "$T/received.jsonl" "$pid" iw-test "$fac" "$VERSION" 2>&1)
	local ok=$?
	local n sent
	n=$(nalerts "$T/$name.jsonl")
	sent=$(xstat "$T/$name.ev" sent 2>&1)
	[ "$rc" -eq 0 ] && [ "$ok" -eq 0 ] && [ "$sent" = "$n" ]
	check "$name: $mode over $address, facility $facname: every alert parsed by rsyslogd as RFC 5424 and matching" $? \
		"exit $rc, $n alerts, stats sent $sent; $out $(msgs "$T/$name.err")"
}
replay udp-cef cef "udp://127.0.0.1:$UPORT" 16
replay tcp-cef cef "tcp://127.0.0.1:$TPORT" 19
replay tcp-json json "tcp://127.0.0.1:$TPORT" 16
replay udp-json json "udp://127.0.0.1:$UPORT" 23

rules=$(python3 -c 'import json,sys; print(len({json.loads(l)["alert"]["rule"] for l in open(sys.argv[1])}))' "$T/udp-cef.jsonl")
[ "$rules" = 12 ]
check "demo-rules.pcap raises alerts of all 12 rules" $? "$rules rules"

# ---- rsyslogd killed and restarted in the middle of a TCP replay ----
mkfifo "$T/feed"
cat >"$T/feeder.py" <<'EOF'
import os, struct, sys, time
cap, fifo, tdir = sys.argv[1:4]
data = open(cap, "rb").read()
end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
recs, off = [], 24
while off + 16 <= len(data):
    incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
    recs.append(data[off:off + 16 + incl])
    off += 16 + incl


def wait_for(name):
    while not os.path.exists(os.path.join(tdir, name)):
        time.sleep(0.05)


with open(fifo, "wb") as out:
    out.write(data[:24])
    a, b = len(recs) // 3, 2 * len(recs) // 3
    out.write(b"".join(recs[:a]))
    out.flush()
    open(os.path.join(tdir, "part1.done"), "w").close()
    wait_for("go2")
    out.write(b"".join(recs[a:b]))
    out.flush()
    open(os.path.join(tdir, "part2.done"), "w").close()
    wait_for("go3")
    for r in recs[b:]:  # the last third slowly: ticks while the sensor reconnects
        out.write(r)
        out.flush()
        time.sleep(2.0 / (len(recs) - b))
EOF
waitfile() { for _ in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.05; done; return 1; }
python3 "$T/feeder.py" "$CAP" "$T/feed" "$T" &
fpid=$!
t0=$(date +%s)
"$IW" -r - -c "$CONF" -o "$T/loss.jsonl" -e "$T/loss.ev" --stats -q \
	--set exporters.syslog.address="tcp://127.0.0.1:$TPORT" --set exporters.syslog.hostname=iw-test \
	<"$T/feed" 2>"$T/loss.err" &
ipid=$!
BG_PIDS="$fpid $ipid"
waitfile "$T/part1.done"
sleep 1
rs_stop KILL # mid-replay: the sensor holds a connection
touch "$T/go2"
waitfile "$T/part2.done"
sleep 1.5 # alerts of the second third wait in the sensor's buffer; reconnects fail
rs_start
touch "$T/go3"
reap "$ipid"
rc=$RC
t1=$(date +%s)
wait "$fpid" 2>/dev/null
BG_PIDS=""
n=$(nalerts "$T/loss.jsonl")
sent=$(xstat "$T/loss.ev" sent 2>&1)
dropped=$(xstat "$T/loss.ev" dropped 2>&1)
rec=$(xstat "$T/loss.ev" reconnects 2>&1)
[ "$rc" -eq 0 ] && [ "$rec" -ge 1 ] 2>/dev/null && [ $((sent + dropped)) -eq "$n" ] 2>/dev/null &&
	grep -q "^iotwatch: syslog tcp://127.0.0.1:$TPORT: connection lost (.*); reconnecting$" "$T/loss.err" &&
	grep -q "^iotwatch: syslog tcp://127.0.0.1:$TPORT: reconnected$" "$T/loss.err"
check "rsyslogd killed and restarted mid-replay (-r -): exit 0, a reconnect, sent + dropped = alerts" $? \
	"exit $rc after $((t1 - t0)) s, $n alerts, sent $sent, dropped $dropped, reconnects $rec; stderr: $(msgs "$T/loss.err")"
out=$(python3 "$T/check.py" cef-subset "$T/loss.jsonl" "$T/received.jsonl" "$ipid" iw-test 16 "$VERSION" 2 2>&1)
check "rsyslogd killed and restarted: what it got are whole messages, each a distinct alert" $? \
	"$out of $n alerts (frames the kernel held when rsyslogd died are lost with it)"
rs_stop

# ---- a receiver that accepts and never reads ----
cat >"$T/deaf.py" <<'EOF'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", 0))
s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held, end = [], time.time() + 120
s.settimeout(0.5)
while time.time() < end:
    try:
        held.append(s.accept()[0])  # kept open, never read
    except socket.timeout:
        pass
EOF
# many copies of the capture, each two days later than the last, so alerts repeat: more
# than the 4 MiB the sensor buffers and the socket buffers together
cat >"$T/copies.py" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[2])
end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
out = sys.stdout.buffer
out.write(data[:24])
recs, off = [], 24
while off + 16 <= len(data):
    incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
    recs.append((struct.unpack(end + "I", data[off:off + 4])[0], data[off + 4:off + 16 + incl]))
    off += 16 + incl
for k in range(n):
    shift = k * 2 * 86400
    out.write(b"".join(struct.pack(end + "I", sec + shift) + rest for sec, rest in recs))
EOF
python3 "$T/deaf.py" "$T/deaf.port" &
dpid=$!
BG_PIDS="$dpid"
waitfile "$T/deaf.port"
DPORT=$(cat "$T/deaf.port")
t0=$(date +%s)
python3 "$T/copies.py" "$CAP" 200 | timeout "$TIMEOUT" "$IW" -r - -c "$CONF" -o "$T/deaf.jsonl" -e "$T/deaf.ev" \
	--stats -q --set exporters.syslog.address="tcp://127.0.0.1:$DPORT" 2>"$T/deaf.err"
rc=$?
t1=$(date +%s)
n=$(nalerts "$T/deaf.jsonl")
sent=$(xstat "$T/deaf.ev" sent 2>&1)
dropped=$(xstat "$T/deaf.ev" dropped 2>&1)
full=$(xstat "$T/deaf.ev" drops.buffer_full 2>&1)
unsent=$(xstat "$T/deaf.ev" drops.unsent 2>&1)
[ "$rc" -eq 1 ] && [ $((t1 - t0)) -le 60 ] && [ "$dropped" -gt 0 ] 2>/dev/null && [ "$full" -gt 0 ] 2>/dev/null &&
	[ $((sent + dropped)) -eq "$n" ] 2>/dev/null &&
	grep -q "^iotwatch: $dropped records could not be delivered and were not kept$" "$T/deaf.err"
check "a receiver that never reads: the replay ends promptly, drops counted (exit 1: records lost)" $? \
	"exit $rc after $((t1 - t0)) s, $n alerts, sent $sent, dropped $dropped (buffer_full $full, unsent $unsent); stderr: $(msgs "$T/deaf.err")"
kill "$dpid" 2>/dev/null
wait "$dpid" 2>/dev/null
BG_PIDS=""

# ---- configuration errors ----
timeout "$TIMEOUT" "$IW" -r "$CAP" -q --set exporters.syslog.address=tcp:/x >"$T/out" 2>"$T/err" </dev/null
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
	[ "$(cat "$T/err")" = 'iotwatch: syslog exporter: address "tcp:/x" is not udp://host:port or tcp://host:port' ]
check "a bad address: exit 2, one line" $? "exit $rc: $(tr '\n' '|' <"$T/err")"
timeout "$TIMEOUT" "$IW" --check-config -q --set exporters.syslog.address=udp://host:0 >"$T/out" 2>"$T/err" </dev/null
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
	[ "$(cat "$T/err")" = 'iotwatch: syslog exporter: address "udp://host:0": the port is not 1..65535' ]
check "--check-config with port 0: exit 2, one line" $? "exit $rc: $(tr '\n' '|' <"$T/err")"
timeout "$TIMEOUT" "$IW" -r "$CAP" -q --set exporters.syslog.address=udp://no-such-host.invalid:514 \
	>"$T/out" 2>"$T/err" </dev/null
rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
	grep -q '^iotwatch: syslog exporter: udp://no-such-host.invalid:514: cannot resolve no-such-host.invalid: ' "$T/err"
check "a host that does not resolve: exit 1, one line" $? "exit $rc: $(tr '\n' '|' <"$T/err")"

summary test_syslog
