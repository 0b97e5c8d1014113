#!/usr/bin/env bash
# test_conformance_mqtt.sh - our MQTT events per control packet type against tshark's
# mqtt.msgtype counts, computed live, for every capture in pcaps/ and in
# ../shared/pcaps-public/ (MANIFEST.tsv's tshark_decode_as column gives tshark the
# decode-as options for MQTT on other ports). Fails on any difference and prints both
# count tables. A file where tshark counts differently by design is listed in EXCEPT
# with the reason and our exact counts, which are asserted instead.
#
# Run from the repository root (make integration) after building ./iotwatch.
set -u
cd "$(dirname "$0")/../.." || exit 1

BIN=${IOTWATCH:-./iotwatch}
PUBLIC=../shared/pcaps-public
command -v tshark >/dev/null || { echo "FAIL test_conformance_mqtt: tshark is a test dependency"; exit 1; }
[ -x "$BIN" ] || { echo "FAIL test_conformance_mqtt: $BIN is missing (make iotwatch)"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-mqttconf.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

# path <TAB> decode-as options
: >"$T/list.tsv"
# our captures: the rule captures' second broker listens on 1884 (pcaps/make-rules-mqtt.sh)
for f in pcaps/*.pcap; do
	[ -e "$f" ] && printf '%s\t%s\n' "$f" "-d tcp.port==1884,mqtt" >>"$T/list.tsv"
done
if [ -f "$PUBLIC/MANIFEST.tsv" ]; then
	awk -F'\t' -v dir="$PUBLIC" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		NF > 1 && $col["mqtt_msgs"] > 0 { print dir "/" $col["path"] "\t" $col["tshark_decode_as"] }
	' "$PUBLIC/MANIFEST.tsv" >>"$T/list.tsv"
else
	echo "NOTE: $PUBLIC/MANIFEST.tsv is absent; checking pcaps/ only"
fi

i=0
while IFS=$'\t' read -r path da; do
	i=$((i + 1))
	# shellcheck disable=SC2086 # the decode-as column is a list of options
	tshark -r "$path" $da -Y mqtt -T fields -e mqtt.msgtype -E occurrence=a 2>/dev/null |
		tr ',' '\n' | grep -v '^$' >"$T/$i.tshark" || true
	"$BIN" -r "$path" -o /dev/null -e "$T/$i.jsonl" -q 2>"$T/$i.err" </dev/null
	printf '%s\t%s\t%s\n' "$i" "$path" "$?" >>"$T/index.tsv"
done <"$T/list.tsv"

python3 - "$T" <<'EOF'
import collections, json, os, sys

tmp = sys.argv[1]
TYPES = ["reserved", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp",
         "subscribe", "suback", "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"]

# file (as listed) -> (reason, our exact counts by type name)
EXCEPT = {
    # MQTT in WebSocket (paho, pcaps/make-mqtt.sh): tshark 4.0 decodes the frames but never
    # hands their payload to its MQTT dissector, so it counts 0. The counts are what the
    # script's two paho sessions sent (see make-mqtt.sh).
    "pcaps/mqtt-ws.pcap": (
        "tshark 4.0 does not decode MQTT inside WebSocket",
        {"connect": 2, "connack": 2, "subscribe": 2, "suback": 2, "publish": 8, "puback": 6,
         "pubrec": 2, "pubrel": 2, "pubcomp": 2, "unsubscribe": 2, "unsuback": 2, "disconnect": 2}),
}

def table(c):
    return ",".join(f"{TYPES[k]}:{c[k]}" for k in sorted(c)) or "-"

bad = 0
rows = []
for line in open(os.path.join(tmp, "index.tsv")):
    i, path, rc = line.rstrip("\n").split("\t")
    theirs = collections.Counter(int(x) for x in open(os.path.join(tmp, i + ".tshark")) if x.strip())
    ours = collections.Counter()
    ok = rc == "0"
    try:
        for l in open(os.path.join(tmp, i + ".jsonl")):
            r = json.loads(l)
            if r.get("event_type") == "mqtt":
                ours[TYPES.index(r["mqtt"]["type"])] += 1
    except (OSError, ValueError) as e:
        print(f"FAIL {path}: cannot read our events: {e}")
        ok = False
    name = path.split("pcaps-public/")[-1]
    if name in EXCEPT:
        why, want = EXCEPT[name]
        want = collections.Counter({TYPES.index(k): v for k, v in want.items()})
        match = ours == want
        note = f"exception ({why})"
    else:
        match = ours == theirs
        note = ""
    ok = ok and match
    bad += not ok
    rows.append((("PASS" if ok else "FAIL"), name, sum(ours.values()), sum(theirs.values()), note))
    if not ok:
        print(f"FAIL {name} (exit {rc})\n  ours:   {table(ours)}\n  tshark: {table(theirs)}")
        if name in EXCEPT:
            print(f"  expected (exception): {table(want)}")

w = max(len(r[1]) for r in rows) if rows else 10
print(f"{'':4}  {'capture':{w}}  {'ours':>5}  {'tshark':>6}")
for st, name, o, t, note in rows:
    print(f"{st}  {name:{w}}  {o:5d}  {t:6d}  {note}")
print(f"test_conformance_mqtt: {len(rows) - bad}/{len(rows)} captures match")
sys.exit(1 if bad else 0)
EOF
