#!/usr/bin/env bash
# test_pcaps_public.sh - every capture in ../shared/pcaps-public/MANIFEST.tsv through the
# sensor under ASan+UBSan (build/iotwatch-san; ./iotwatch when that is missing).
#
# Per file: exit status 0, no sanitizer report, every events line is JSON and the last
# one is the stats record, stats.packets equals MANIFEST's `packets` column (tshark's
# count), capture_errors is 0 (1, with a warning, for the damaged
# suricata-verify/tls_DER-incomplete-header.pcap), one flow event per counted flow, and
# every packet is accounted for: the packets of all flow events plus the malformed
# packets (non-IP frames are malformed "not_ip") equal stats.packets. IP fragments held
# for reassembly are the one allowed exception, and only when the stats record shows
# fragments. Ends with a table: file, packets (ours/manifest), flows, malformed.
#
# Run from the repository root (make integration). Exit 0 when every check passes or
# when ../shared/pcaps-public is absent; 1 otherwise.
set -u
cd "$(dirname "$0")/../.." || exit 1

PCAPS=../shared/pcaps-public
MANIFEST=$PCAPS/MANIFEST.tsv
DAMAGED=suricata-verify/tls_DER-incomplete-header.pcap
PER_FILE_TIMEOUT=60

if [ ! -d "$PCAPS" ] || [ ! -f "$MANIFEST" ]; then
	echo "SKIP test_pcaps_public: $PCAPS (with MANIFEST.tsv) is absent; nothing to check"
	exit 0
fi

BIN=build/iotwatch-san
if [ ! -x "$BIN" ]; then
	if [ -x ./iotwatch ]; then
		echo "NOTE: $BIN is missing (make iotwatch-san); falling back to ./iotwatch, WITHOUT sanitizers"
		BIN=./iotwatch
	else
		echo "FAIL test_pcaps_public: neither build/iotwatch-san nor ./iotwatch exists (make iotwatch iotwatch-san)"
		exit 1
	fi
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-pcaps.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# path and packets columns, found by header name
awk -F'\t' '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	NF > 1 { print $col["path"] "\t" $col["packets"] }
' "$MANIFEST" >"$T/manifest.tsv"
nfiles=$(wc -l <"$T/manifest.tsv")
if [ "$nfiles" -eq 0 ]; then
	echo "FAIL test_pcaps_public: no rows with path and packets in $MANIFEST"
	exit 1
fi
echo "test_pcaps_public: $nfiles captures through $BIN"

start=$(date +%s)
i=0
: >"$T/index.tsv"
while IFS=$'\t' read -r path packets; do
	i=$((i + 1))
	# events are appended to an existing file (O_APPEND), so each run gets a new one
	timeout "$PER_FILE_TIMEOUT" "$BIN" -r "$PCAPS/$path" -o /dev/null -e "$T/$i.jsonl" --stats -q \
		</dev/null >"$T/$i.out" 2>"$T/$i.err"
	printf '%s\t%s\t%s\t%s\n' "$i" "$path" "$packets" "$?" >>"$T/index.tsv"
done <"$T/manifest.tsv"
echo "test_pcaps_public: $i runs took $(($(date +%s) - start)) s"

python3 - "$T" "$PCAPS" "$DAMAGED" "$PER_FILE_TIMEOUT" <<'EOF'
import json
import os
import shutil
import subprocess
import sys

tmp, pcaps, damaged, per_file_timeout = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

npass = nfail = 0
table = []
differ = []


def report(ok, path, what):
    global npass, nfail
    if ok:
        npass += 1
    else:
        nfail += 1
    print(("PASS " if ok else "FAIL ") + path + ": " + what)


def fragment_counters(obj, prefix=""):
    """Every number in the stats record under a key that mentions fragments."""
    found = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            name = prefix + k
            if isinstance(v, (dict, list)):
                sub = fragment_counters(v, name + ".")
                if "frag" in k.lower() and isinstance(v, dict):
                    sub.update({name + "." + kk: vv for kk, vv in v.items()
                                if isinstance(vv, (int, float)) and not isinstance(vv, bool)})
                found.update(sub)
            elif "frag" in name.lower() and isinstance(v, (int, float)) and not isinstance(v, bool):
                found[name] = v
    return found


def tshark_fragments(path):
    """How many frames tshark sees as IPv4/IPv6 fragments with more to come (diagnostic)."""
    if not shutil.which("tshark"):
        return None
    try:
        r = subprocess.run(["tshark", "-n", "-r", path, "-Y", "ip.flags.mf==1 or ipv6.fraghdr.more==1",
                            "-T", "fields", "-e", "frame.number"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return len([l for l in r.stdout.splitlines() if l.strip()])


with open(os.path.join(tmp, "index.tsv")) as idx:
    rows = [l.rstrip("\n").split("\t") for l in idx if l.strip()]

for n, path, want_packets, rc in rows:
    rc = int(rc)
    want_packets = int(want_packets)
    with open(os.path.join(tmp, n + ".err"), errors="replace") as f:
        err = f.read()
    full = os.path.join(pcaps, path)

    # 1. exit status
    if rc == 124:
        report(False, path, "timed out after %s s" % per_file_timeout)
    else:
        report(rc == 0, path, "exit status %d%s" % (rc, "" if rc == 0 else " (want 0); stderr: " +
                                                    " | ".join(err.strip().splitlines()[:5])))

    # 2. sanitizers
    marks = [l for l in err.splitlines() if any(m in l for m in SANITIZER_MARKS)]
    report(not marks, path, "no sanitizer report" if not marks else "sanitizer report: " + marks[0].strip())

    # 3. every line of the events output is a JSON object; the last one is stats
    records, bad = [], None
    out = os.path.join(tmp, n + ".jsonl")
    if os.path.exists(out):
        with open(out, encoding="utf-8", errors="strict") as f:
            for lineno, line in enumerate(f, 1):
                try:
                    r = json.loads(line)
                    if not isinstance(r, dict):
                        raise ValueError("not an object")
                    records.append(r)
                except ValueError as e:
                    bad = "line %d is not a JSON object (%s): %.80s" % (lineno, e, line)
                    break
    stats = records[-1].get("stats") if records and records[-1].get("event_type") == "stats" else None
    if bad:
        report(False, path, "events output: " + bad)
    elif stats is None or not isinstance(stats, dict):
        report(False, path, "events output: %d records, last is not a stats record" % len(records))
    else:
        report(True, path, "%d JSON lines, stats record last" % len(records))
    if stats is None:
        table.append((path, "-", want_packets, "-", "-"))
        continue

    # 4. packets against the manifest (tshark's count)
    got = stats.get("packets")
    report(got == want_packets, path, "stats.packets %s, manifest %d" % (got, want_packets))

    # 5. capture errors: only the damaged file has one, and the sensor says so
    cerr = stats.get("capture_errors")
    if path == damaged:
        warned = any(full in l or os.path.basename(path) in l for l in err.splitlines()
                     if l.startswith("iotwatch:"))
        report(cerr == 1 and warned, path,
               "damaged file: capture_errors %s (want 1), warning on stderr: %s" % (cerr, "yes" if warned else "NO"))
    else:
        report(cerr == 0, path, "capture_errors %s (want 0)" % cerr)

    # 6. one flow event per flow, and every packet in a flow or counted as malformed
    flows = [r for r in records if r.get("event_type") == "flow"]
    report(len(flows) == stats.get("flows"), path,
           "%d flow events, stats.flows %s" % (len(flows), stats.get("flows")))
    in_flows = sum(int(r["flow"]["pkts_toserver"]) + int(r["flow"]["pkts_toclient"]) for r in flows)
    malformed = stats.get("malformed") or {}
    mal_total = sum(v for v in malformed.values() if isinstance(v, int))
    diff = (got or 0) - in_flows - mal_total
    frags = fragment_counters(stats)
    shown = {k: v for k, v in frags.items() if v > 0}
    if diff == 0:
        report(True, path, "accounting: %d in flows + %d malformed = %s packets" % (in_flows, mal_total, got))
    else:
        why = ""
        if diff > 0:
            tf = tshark_fragments(full)
            if tf is not None:
                why = "; tshark sees %d IP fragments with more to come" % tf
        if diff > 0 and shown:
            differ.append("%s: %d packets in no flow; fragments held for reassembly (stats %s)%s"
                          % (path, diff, shown, why))
            report(True, path, "accounting: %d in flows + %d malformed = %s packets less %d fragments held "
                               "for reassembly (stats %s)" % (in_flows, mal_total, got, diff, shown))
        else:
            differ.append("%s: %d in flows + %d malformed != %s packets (difference %d); stats fragment "
                          "counters %s%s" % (path, in_flows, mal_total, got, diff, frags or "none", why))
            report(False, path, "accounting: %d in flows + %d malformed != %s packets (difference %d); "
                                "the stats record shows no fragments %s%s"
                   % (in_flows, mal_total, got, diff, frags or "(no fragment counter)", why))

    mal_text = str(mal_total)
    if malformed:
        mal_text += " (" + ",".join("%s:%s" % kv for kv in sorted(malformed.items())) + ")"
    table.append((path, got, want_packets, len(flows), mal_text))

print()
w = max(len(r[0]) for r in table)
print("%-*s  %15s  %6s  %s" % (w, "file", "packets ours/man", "flows", "malformed"))
for path, got, want, nflows, mal in table:
    print("%-*s  %15s  %6s  %s" % (w, path, "%s/%s" % (got, want), nflows, mal))
print()
if differ:
    print("files where flow packets + malformed differ from stats.packets:")
    for d in differ:
        print("  " + d)
else:
    print("every packet of every file is in a flow or counted as malformed")
print("test_pcaps_public: %d files, %d checks passed, %d failed" % (len(rows), npass, nfail))
sys.exit(1 if nfail else 0)
EOF
