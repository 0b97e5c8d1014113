#!/usr/bin/env bash
# test_rules_tls.sh - the TLS, tunnel and region rules (docs/rules.md) on the captures of
# pcaps/make-rules-tls.sh, against the alerts that script wrote from the scenario it ran
# (pcaps/<name>.alerts.tsv), with pcaps/rules-tls.yaml:
#   - pcaps/rules-tls.pcap: tls.cert_expiring (one expiring soon, 21 expired),
#     tls.cert_expiry_storm predicted and reactive, tls.shared_certificate,
#     endpoint.off_region, tunnel.renewal_loop
#   - pcaps/rules-tls-clean.pcap: the same kinds of traffic, no alert at all
#   - pcaps/rules-tunnel-long.pcap: tunnel.orphaned for a 13 h SSH session, not for a short one
#   - pcaps/tls-tunnel-long.pcap (make-tls.sh's): tunnel.orphaned for a 13 h Secure Tunnel
# An expected line is `rule<TAB>device_id<TAB>severity<TAB>key=value;key=value`; it must
# match exactly one alert: alert.rule, device.id (any device when `-`, the fleet alerts),
# alert.severity, and every evidence key listed (lists compared comma-joined, numbers as
# numbers, booleans as true/false; keys not listed are not compared). The number of alerts
# must equal the number of expected lines. Each capture also runs through
# build/iotwatch-san (ASan+UBSan) when it exists: same alerts, no sanitizer report.
# Run from the repository root after building ./iotwatch (IOTWATCH=path to change it).
set -u
cd "$(dirname "$0")/../.." || exit 1

BIN=${IOTWATCH:-./iotwatch}
SAN=build/iotwatch-san
CONF=pcaps/rules-tls.yaml
CAPTURES=(rules-tls rules-tls-clean rules-tunnel-long tls-tunnel-long)
command -v python3 >/dev/null || { echo "FAIL test_rules_tls: python3 is a test dependency"; exit 1; }
[ -x "$BIN" ] || { echo "FAIL test_rules_tls: $BIN is missing (make iotwatch)"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-rules-tls.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
pass=0 failed=0

bins=("$BIN")
if [ -x "$SAN" ]; then
	bins+=("$SAN")
else
	echo "NOTE: $SAN is missing (make iotwatch-san): the captures run without sanitizers only"
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# compare EXPECTED.tsv ALERTS.json: prints the differences, exit 0 when none
cat >"$T/compare.py" <<'EOF'
import json, sys

exp_path, got_path = sys.argv[1], sys.argv[2]
problems = []

expected = []
for n, line in enumerate(open(exp_path), 1):
    line = line.rstrip("\n")
    if not line.strip() or line.startswith("#"):
        continue
    f = line.split("\t")
    if len(f) != 4:
        sys.exit("%s:%d: not rule<TAB>device_id<TAB>severity<TAB>evidence: %r" % (exp_path, n, line))
    ev = {}
    for kv in filter(None, f[3].split(";")):
        k, eq, v = kv.partition("=")
        if not eq:
            sys.exit("%s:%d: evidence %r is not key=value" % (exp_path, n, kv))
        ev[k] = v
    expected.append({"line": line, "rule": f[0], "device": f[1], "severity": f[2], "ev": ev})

alerts = []
try:
    lines = open(got_path).read().splitlines()
except FileNotFoundError:
    lines = []  # no alert at all: the exporter may not have made the file
for n, line in enumerate(lines, 1):
    try:
        r = json.loads(line)
    except ValueError as e:
        problems.append("alerts line %d is not JSON (%s): %.200s" % (n, e, line))
        continue
    if r.get("event_type") == "alert":
        alerts.append(r)

def text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, list):
        return ",".join(text(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)

def same(want, got):
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        try:
            return float(want) == got
        except ValueError:
            return False
    return want == text(got)

def field(a, *path):
    for p in path:
        a = a.get(p) if isinstance(a, dict) else None
    return a

def differences(e, a):
    d = []
    if field(a, "alert", "rule") != e["rule"]:
        d.append("rule: want %s, got %s" % (e["rule"], field(a, "alert", "rule")))
    if e["device"] != "-" and field(a, "device", "id") != e["device"]:
        d.append("device.id: want %s, got %s" % (e["device"], field(a, "device", "id")))
    if field(a, "alert", "severity") != e["severity"]:
        d.append("severity: want %s, got %s" % (e["severity"], field(a, "alert", "severity")))
    ev = a.get("evidence") if isinstance(a.get("evidence"), dict) else {}
    for k, v in e["ev"].items():
        if k not in ev:
            d.append("evidence.%s: want %s, missing" % (k, v))
        elif not same(v, ev[k]):
            d.append("evidence.%s: want %s, got %s" % (k, v, text(ev[k])))
    return d

def show(a):
    return "%s\t%s\t%s\t%s" % (field(a, "alert", "rule"), field(a, "device", "id"), field(a, "alert", "severity"),
                               json.dumps(a.get("evidence"), separators=(",", ":")))

used = {}
for e in expected:
    hits = [i for i, a in enumerate(alerts) if not differences(e, a)]
    if len(hits) == 1 and hits[0] in used:
        problems.append("expected: %s\n  matches the same alert as: %s" % (e["line"], used[hits[0]]))
    elif len(hits) == 1:
        used[hits[0]] = e["line"]
    elif hits:
        problems.append("expected: %s\n  matches %d alerts:\n%s" % (e["line"], len(hits),
                        "\n".join("    " + show(alerts[i]) for i in hits)))
    else:
        near = sorted((len(differences(e, a)), i) for i, a in enumerate(alerts)
                      if field(a, "alert", "rule") == e["rule"])[:2]
        msg = "expected: %s\n  no alert matches" % e["line"]
        for _, i in near:
            msg += "\n  nearest: %s\n    %s" % (show(alerts[i]), "\n    ".join(differences(e, alerts[i])))
        if not near:
            msg += " (no %s alert at all)" % e["rule"]
        problems.append(msg)
if len(alerts) != len(expected):
    problems.append("the number of alerts is %d, of expected lines %d" % (len(alerts), len(expected)))
for i, a in enumerate(alerts):
    if i not in used and not any(not differences(e, a) for e in expected):
        problems.append("unexpected alert: %s" % show(a))
for p in problems:
    print("  " + p.replace("\n", "\n  "))
print("  %d alerts, %d expected, %d matched" % (len(alerts), len(expected), len(used)))
sys.exit(1 if problems else 0)
EOF

for bin in "${bins[@]}"; do
	for c in "${CAPTURES[@]}"; do
		name="$c ($bin)"
		pcap=pcaps/$c.pcap exp=pcaps/$c.alerts.tsv
		if [ ! -s "$pcap" ] || [ ! -f "$exp" ]; then
			echo "FAIL $name: $pcap or $exp is missing (bash pcaps/make-rules-tls.sh)"
			failed=$((failed + 1))
			continue
		fi
		# the exporter appends: every run gets a new file
		rm -f "$T/alerts.json"
		"$bin" -r "$pcap" -c "$CONF" -o "$T/alerts.json" -q </dev/null >"$T/out" 2>"$T/err"
		rc=$?
		if [ "$rc" != 0 ] || grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/err"; then
			echo "FAIL $name: exit status $rc"
			tail -20 "$T/err" | sed 's/^/  /'
			failed=$((failed + 1))
			continue
		fi
		if python3 "$T/compare.py" "$exp" "$T/alerts.json" >"$T/diff"; then
			echo "PASS $name: $(tail -1 "$T/diff" | sed 's/^ *//')"
			pass=$((pass + 1))
		else
			echo "FAIL $name: alerts differ from $exp"
			cat "$T/diff"
			failed=$((failed + 1))
		fi
	done
done

echo "test_rules_tls: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
