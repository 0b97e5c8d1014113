#!/usr/bin/env bash
# test_jsonl_rotate.sh - the JSON lines files over a long run (DESIGN §3 SIGHUP, §4
# exporters.jsonl, docs/records.md "Files and rotation"):
#   - rotation by size (--set exporters.jsonl.rotate_size=64k, rotate_keep=3) during a
#     replay of about 3000 events (pcaps/demo-rules.pcap four times): exactly three rotated
#     files and the current one, each holding the lines that packing the events in order
#     gives (a new file when the next line would pass 64 KiB), so none is bigger than
#     64 KiB, and end to end they are the newest events of a run into one file, in order,
#     none lost, none doubled; the stats record counts the rotations, no failures;
#   - the real logrotate (a private state file, postrotate kill -HUP, no copytruncate)
#     run twice while a replay is fed slowly through a pipe: the two rotated files and the
#     current one, end to end, hold exactly the events of an unrotated run; exit 0;
#   - config/logrotate.iotwatch, the shipped sample, is a valid logrotate configuration.
#
# Run from the repository root (make integration). IOTWATCH overrides the binary (default
# ./iotwatch). The logrotate checks are skipped when logrotate is missing (scripts/deps.sh
# test installs it). Exit 0 when every check passes or is skipped, 1 otherwise.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

IW=${IOTWATCH:-./iotwatch}
CAP=pcaps/demo-rules.pcap
TIMEOUT=120


for f in "$IW" "$CAP"; do
	[ -e "$f" ] || {
		echo "FAIL test_jsonl_rotate: $f missing (make iotwatch)"
		exit 1
	}
done
if ! command -v python3 >/dev/null; then
	echo "SKIP test_jsonl_rotate: python3 not installed (sh scripts/deps.sh test)"
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-jsonlrot.XXXXXX") || exit 1
BG_PIDS=""
cleanup() {
	local p
	for p in $BG_PIDS; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

# ---- helpers (python3) ----
cat >"$T/files.py" <<'EOF'
import json
import os
import sys


def lines(path):
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        sys.exit("%s does not end with a newline" % path)
    out = data.split(b"\n")[:-1]
    for n, line in enumerate(out, 1):
        try:
            r = json.loads(line)
        except ValueError as e:
            sys.exit("%s:%d is not JSON (%s)" % (path, n, e))
        if not isinstance(r, dict):
            sys.exit("%s:%d is not a JSON object" % (path, n))
    return out


def events(path):
    return [l for l in lines(path) if json.loads(l).get("event_type") != "stats"]


def cmd_sizes(ref, limit, keep, base, with_stats):
    """The files at base (base.keep .. base.1, base) are the newest of packing ref's
    lines (and the stats record last, with_stats=1) in order, a new file when the next
    line would pass limit; prints what was found."""
    limit, keep = int(limit), int(keep)
    want = events(ref)
    cur = lines(base)
    if with_stats == "1":
        if not cur or json.loads(cur[-1]).get("event_type") != "stats":
            sys.exit("the last line of %s is not the stats record" % base)
        want.append(cur[-1])
    groups, used = [[]], 0
    for l in want:
        if used > 0 and used + len(l) + 1 > limit:
            groups.append([])
            used = 0
        groups[-1].append(l)
        used += len(l) + 1
    if len(groups) <= keep + 1:
        sys.exit("only %d files: the capture is too small for this test" % len(groups))
    if os.path.exists("%s.%d" % (base, keep + 1)):
        sys.exit("%s.%d exists: more than rotate_keep=%d files kept" % (base, keep + 1, keep))
    names = ["%s.%d" % (base, k) for k in range(keep, 0, -1)] + [base]
    for name, g in zip(names, groups[-(keep + 1):]):
        got = lines(name)
        size = os.path.getsize(name)
        if size > limit and len(got) != 1:
            sys.exit("%s: %d bytes in %d lines, more than %d" % (name, size, len(got), limit))
        if got != g:
            first = got[0][:60] if got else b""
            sys.exit("%s: %d lines, want %d (first %r)" % (name, len(got), len(g), first))
    n = "-"
    if with_stats == "1":
        exp = json.loads(cur[-1])["stats"]["exporters"]
        rot = [v for v in exp.values() if v.get("rotations")]
        if len(rot) != 1 or rot[0]["rotation_failures"] != 0:
            sys.exit("stats exporters: %s" % json.dumps(exp))
        # the stats record is made before the last flush: rotations in that flush are
        # not in it
        n = rot[0]["rotations"]
        if not len(groups) - 1 - 2 <= n <= len(groups) - 1:
            sys.exit("stats says %d rotations, the files %d" % (n, len(groups) - 1))
    nrec = len(want) - (with_stats == "1")
    kept = sum(len(g) for g in groups[-(keep + 1):]) - (with_stats == "1")
    print("%d files made, %d kept with the newest %d of %d records, largest %d bytes, "
          "stats rotations %s" % (len(groups), keep + 1, kept, nrec,
                                  max(os.path.getsize(x) for x in names), n))


def cmd_union(ref, *parts):
    """parts end to end hold exactly ref's lines; each part holds some."""
    want = lines(ref)
    got, counts = [], []
    for p in parts:
        ls = lines(p)
        counts.append(len(ls))
        got += ls
    if got != want:
        i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        sys.exit("%d lines end to end, want %d; first difference at line %d" % (len(got), len(want), i + 1))
    if 0 in counts:
        sys.exit("a file is empty: %s lines" % counts)
    print("%s lines = %d" % (" + ".join(map(str, counts)), len(want)))


globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
EOF
P() { python3 "$T/files.py" "$@"; }

# ---- rotation by size ----
four=(-r "$CAP" -r "$CAP" -r "$CAP" -r "$CAP")
timeout "$TIMEOUT" "$IW" "${four[@]}" -o "$T/ref-alerts.jsonl" -e "$T/ref.jsonl" -q </dev/null >/dev/null 2>"$T/err"
rc=$?
err=$(head -n 1 "$T/err")
[ "$rc" -eq 0 ]
check "reference replay into one file" $? "exit $rc${err:+: $err}"

mkdir "$T/rot"
timeout "$TIMEOUT" "$IW" "${four[@]}" -o /dev/null -e "$T/rot/events.jsonl" --stats -q \
	--set exporters.jsonl.rotate_size=64k --set exporters.jsonl.rotate_keep=3 </dev/null >/dev/null 2>"$T/err"
rc=$?
out=$(P sizes "$T/ref.jsonl" 65536 3 "$T/rot/events.jsonl" 1 2>&1)
ok=$?
[ "$rc" -eq 0 ] && [ "$ok" -eq 0 ]
check "rotate_size=64k rotate_keep=3: three rotated files and the current one, none past 64 KiB, the newest events in order, each once" \
	$? "exit $rc; $out"
extra=$(cd "$T/rot" && ls | grep -v -x -e events.jsonl -e 'events.jsonl.[123]' | tr '\n' ' ')
[ -z "$extra" ]
check "rotation leaves no other file beside them" $? "${extra:-none}"

# the alerts file (-o) rotates by the same keys, each file on its own
mkdir "$T/al"
timeout "$TIMEOUT" "$IW" "${four[@]}" -o "$T/al/alerts.jsonl" -e "$T/al/events.jsonl" -q \
	--set exporters.jsonl.rotate_size=8k --set exporters.jsonl.rotate_keep=2 </dev/null >/dev/null 2>"$T/err"
rc=$?
out=$(P sizes "$T/ref-alerts.jsonl" 8192 2 "$T/al/alerts.jsonl" 0 2>&1)
ok=$?
out2=$(P sizes "$T/ref.jsonl" 8192 2 "$T/al/events.jsonl" 0 2>&1)
ok=$((ok + $?))
[ "$rc" -eq 0 ] && [ "$ok" -eq 0 ]
check "rotate_size=8k rotate_keep=2: the alerts file (-o) and the events file (-e) rotate each on its own" \
	$? "exit $rc; alerts: $out; events: $out2"

# stdout never rotates
timeout "$TIMEOUT" "$IW" "${four[@]}" -o - -e - -q --set exporters.jsonl.rotate_size=1k \
	</dev/null >"$T/stdout.jsonl" 2>"$T/err"
rc=$?
timeout "$TIMEOUT" "$IW" "${four[@]}" -o "$T/both.jsonl" -e "$T/both.jsonl" -q </dev/null >/dev/null 2>&1
[ "$rc" -eq 0 ] && cmp -s "$T/stdout.jsonl" "$T/both.jsonl" && [ ! -e ./-.1 ]
check "rotate_size with -o - -e -: stdout takes every record as without rotation" $? \
	"exit $rc, $(wc -l <"$T/stdout.jsonl") lines, $(wc -l <"$T/both.jsonl") without rotate_size"

# ---- logrotate during a slowly fed replay ----
if ! command -v logrotate >/dev/null 2>&1; then
	skip "logrotate during a replay: logrotate not installed (sh scripts/deps.sh test)"
	skip "config/logrotate.iotwatch is valid: logrotate not installed"
else
	timeout "$TIMEOUT" "$IW" -r "$CAP" -o /dev/null -e "$T/one.jsonl" -q </dev/null >/dev/null 2>&1
	mkdir "$T/lr"
	E="$T/lr/events.jsonl"
	cat >"$T/logrotate.conf" <<EOF
$E {
	rotate 5
	nocompress
	missingok
	postrotate
		kill -HUP "\$(cat $T/iw.pid)"
	endscript
}
EOF
	mkfifo "$T/feed" || exit 1
	"$IW" -r - -o /dev/null -e "$E" -q <"$T/feed" >/dev/null 2>"$T/lr.err" &
	iw=$!
	BG_PIDS="$iw"
	echo "$iw" >"$T/iw.pid"
	exec 3>"$T/feed" # the sensor reads until this closes
	size=$(stat -c %s "$CAP")
	third=$((size / 3))
	# waits (up to 10 s) until the sensor has written something to a new events file
	written() {
		for _ in $(seq 1 100); do
			[ -s "$E" ] && return 0
			sleep 0.1
		done
		return 1
	}
	lr_rc=0
	head -c "$third" "$CAP" >&3
	written
	logrotate -f -s "$T/lr.state" "$T/logrotate.conf" >>"$T/lr.out" 2>&1 || lr_rc=$?
	tail -c +"$((third + 1))" "$CAP" | head -c "$third" >&3
	written
	logrotate -f -s "$T/lr.state" "$T/logrotate.conf" >>"$T/lr.out" 2>&1 || lr_rc=$?
	tail -c +"$((2 * third + 1))" "$CAP" >&3
	exec 3>&-
	for _ in $(seq 1 300); do kill -0 "$iw" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$iw" 2>/dev/null; then
		check "logrotate during a replay: iotwatch ends at the end of its input" 1 "still running 30 s later"
		kill -KILL "$iw"
	fi
	wait "$iw"
	rc=$?
	BG_PIDS=""
	err=$(head -n 2 "$T/lr.out" | tr '\n' ' ')
	[ "$lr_rc" -eq 0 ]
	check "logrotate -f, twice, with postrotate kill -HUP" $? "exit $lr_rc${err:+: $err}"
	out=$(P union "$T/one.jsonl" "$E.2" "$E.1" "$E" 2>&1)
	ok=$?
	[ "$rc" -eq 0 ] && [ "$ok" -eq 0 ] && [ ! -e "$E.3" ]
	check "logrotate twice during a replay from a pipe: events.jsonl.2, .1 and the current file end to end are the events of an unrotated run, none lost or doubled; exit 0" \
		$? "exit $rc; $out$(head -n 1 "$T/lr.err" | sed 's/^/; stderr: /')"

	# the shipped sample: logrotate -d reads it and does nothing
	logrotate -d -s "$T/sample.state" config/logrotate.iotwatch >"$T/sample.out" 2>&1
	rc=$?
	err=$(grep -i -m 1 error "$T/sample.out")
	[ "$rc" -eq 0 ] && [ -z "$err" ]
	check "config/logrotate.iotwatch is a valid logrotate configuration" $? "exit $rc${err:+: $err}"
fi

summary test_jsonl_rotate
