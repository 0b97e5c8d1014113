#!/usr/bin/env bash
# test_rules_mqtt.sh - the MQTT and Modbus rules against the captures made for them by
# pcaps/make-rules-mqtt.sh: rules-mqtt, rules-modbus and rules-clean. Each capture is
# replayed with its own configuration (pcaps/<name>.yaml) and its alerts compared with
# pcaps/<name>.alerts.tsv, written by the script from the scenario it ran:
#
#   rule <TAB> device id (`-`: a fleet alert, any device) <TAB> severity <TAB> key=value;...
#
# Every expected line must match exactly one alert, and each alert at most one line:
# same rule and severity, the same device.id (unless `-`), and every listed evidence key
# equal (a list is compared with the value as comma-separated items, in any order; a
# number as a number; a boolean as true/false). The number of alerts must equal the
# number of lines: the clean capture raises none. On failure the expected lines nobody
# matched and the alerts no line accounted for are printed.
#
# Runs ${IOTWATCH:-./iotwatch}, and build/iotwatch-san (ASan+UBSan) when it exists.
# Run from the repository root (make integration) after building ./iotwatch.
set -u
cd "$(dirname "$0")/../.." || exit 1

BIN=${IOTWATCH:-./iotwatch}
SAN=build/iotwatch-san
NAMES="rules-mqtt rules-modbus rules-clean"
[ -x "$BIN" ] || { echo "FAIL test_rules_mqtt: $BIN is missing (make iotwatch)"; exit 1; }
for n in $NAMES; do
	for x in pcap yaml alerts.tsv; do
		[ -f "pcaps/$n.$x" ] || { echo "FAIL test_rules_mqtt: pcaps/$n.$x is missing (bash pcaps/make-rules-mqtt.sh)"; exit 1; }
	done
done
bins=("$BIN")
if [ -x "$SAN" ]; then
	bins+=("$SAN")
else
	echo "NOTE: $SAN is missing (make iotwatch-san); running $BIN only, WITHOUT sanitizers"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-rules-mqtt.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

i=0
: >"$T/index.tsv"
for bin in "${bins[@]}"; do
	for n in $NAMES; do
		i=$((i + 1))
		# a new file per run: the alerts file is opened for appending
		"$bin" -r "pcaps/$n.pcap" -c "pcaps/$n.yaml" -o "$T/$i.json" -q </dev/null >"$T/$i.out" 2>"$T/$i.err"
		printf '%s\t%s\t%s\t%s\n' "$i" "$bin" "$n" "$?" >>"$T/index.tsv"
	done
done

python3 - "$T" <<'EOF'
import json
import os
import sys

tmp = sys.argv[1]
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def load_expected(path):
    rows = []
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 4:
            sys.exit(f"{path}:{no}: not 4 tab-separated columns: {line!r}")
        rule, dev, sev, ev = parts
        keys = {}
        for kv in filter(None, ev.split(";")):
            k, sep, v = kv.partition("=")
            if not sep:
                sys.exit(f"{path}:{no}: evidence {kv!r} is not key=value")
            keys[k] = v
        rows.append({"line": no, "text": line, "rule": rule, "device": dev, "severity": sev, "evidence": keys})
    return rows


def num(s):
    try:
        return float(s)
    except ValueError:
        return None


def same(actual, want):
    """An evidence value from the record equal to the expected text?"""
    if isinstance(actual, list):
        return sorted(str(x).lower() if isinstance(x, bool) else str(x) for x in actual) == \
            sorted(x for x in want.split(",") if x != "")
    if isinstance(actual, bool):
        return want.lower() == ("true" if actual else "false")
    if isinstance(actual, (int, float)):
        return num(want) is not None and float(actual) == num(want)
    if actual is None:
        return False
    return str(actual) == want


def why_not(alert, exp):
    """None when the alert matches the expected line, else the first difference."""
    a = alert.get("alert") or {}
    if a.get("rule") != exp["rule"]:
        return "rule"
    if a.get("severity") != exp["severity"]:
        return f"severity {a.get('severity')}"
    if exp["device"] != "-" and (alert.get("device") or {}).get("id") != exp["device"]:
        return f"device {(alert.get('device') or {}).get('id')}"
    ev = alert.get("evidence") or {}
    for k, v in exp["evidence"].items():
        if k not in ev:
            return f"no evidence {k}"
        if not same(ev[k], v):
            return f"{k}={json.dumps(ev[k])}"
    return None


def brief(alert):
    a = alert.get("alert") or {}
    dev = (alert.get("device") or {}).get("id", "-")
    ev = ";".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else json.dumps(v) if isinstance(v, bool) else v}"
                  for k, v in (alert.get("evidence") or {}).items())
    return f"{a.get('rule')}\t{dev}\t{a.get('severity')}\t{ev}"


bad = 0
results = []
for line in open(os.path.join(tmp, "index.tsv")):
    i, binary, name, rc = line.rstrip("\n").split("\t")
    label = f"{name} ({binary})"
    problems = []
    if rc != "0":
        problems.append(f"exit status {rc}")
    err = open(os.path.join(tmp, i + ".err"), errors="replace").read()
    if any(m in err for m in SANITIZER_MARKS):
        problems.append("sanitizer report:\n" + err[-3000:])
    elif rc != "0" and err:
        problems.append("stderr: " + err.strip()[-1000:])
    alerts = []
    path = os.path.join(tmp, i + ".json")
    if os.path.exists(path):
        for no, l in enumerate(open(path, encoding="utf-8"), 1):
            if not l.strip():
                continue
            try:
                r = json.loads(l)
            except ValueError as e:
                problems.append(f"alerts line {no} is not JSON: {e}")
                continue
            if r.get("event_type") == "alert":
                alerts.append(r)
    expected = load_expected(os.path.join("pcaps", name + ".alerts.tsv"))

    # each line: the alerts it matches; then a matching where every line gets its own
    # alert (augmenting paths: a line with few keys must not take another line's alert)
    cands = [[k for k, a in enumerate(alerts) if why_not(a, e) is None] for e in expected]
    owner = {}

    def assign(li, seen):
        for k in cands[li]:
            if k in seen:
                continue
            seen.add(k)
            if k not in owner or assign(owner[k], seen):
                owner[k] = li
                return True
        return False

    unmatched = [e for li, e in enumerate(expected) if not assign(li, set())]
    ambiguous = [(e, len(cands[li])) for li, e in enumerate(expected) if len(cands[li]) > 1]
    extra = [a for k, a in enumerate(alerts) if k not in owner]
    if unmatched:
        lines = []
        for e in unmatched:
            near = [(why_not(a, e), a) for a in alerts if (a.get("alert") or {}).get("rule") == e["rule"]]
            hint = "; nearest: " + "; ".join(sorted({w for w, _ in near}))[:300] if near else "; no alert of that rule"
            lines.append(f"  - line {e['line']}: {e['text']}{hint}")
        problems.append("expected, not raised:\n" + "\n".join(lines))
    if ambiguous:
        problems.append("expected lines that match more than one alert (a duplicate?):\n" +
                        "\n".join(f"  ? line {e['line']} matches {c}: {e['text']}" for e, c in ambiguous))
    if extra:
        problems.append("raised, not expected:\n" + "\n".join("  + " + brief(a) for a in extra))
    if len(alerts) != len(expected) and not extra and not unmatched:
        problems.append(f"{len(alerts)} alerts, {len(expected)} expected")
    ok = not problems
    bad += not ok
    results.append((ok, label, len(alerts), len(expected)))
    if not ok:
        print(f"FAIL {label}: {len(alerts)} alerts, {len(expected)} expected")
        for p in problems:
            print("  " + p.replace("\n", "\n  "))

w = max(len(r[1]) for r in results)
print(f"{'':4}  {'capture':{w}}  {'alerts':>6}  {'expected':>8}")
for ok, label, got, want in results:
    print(f"{'PASS' if ok else 'FAIL'}  {label:{w}}  {got:6d}  {want:8d}")
print(f"test_rules_mqtt: {len(results) - bad}/{len(results)} runs match")
sys.exit(1 if bad else 0)
EOF
