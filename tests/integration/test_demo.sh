#!/usr/bin/env bash
# test_demo.sh - the bundled capture against tshark's ground truth (pcaps/demo.expected.tsv):
# packets, TCP and UDP conversations as flows, and the flows per protocol.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${IOTWATCH:-./iotwatch}
exp=pcaps/demo.expected.tsv
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bin" -r pcaps/demo.pcap -o /dev/null -e "$out" --stats -q 2>/dev/null
python3 - "$out" "$exp" <<'PY'
import json, sys, collections
recs = [json.loads(l) for l in open(sys.argv[1])]
exp = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip())
stats = recs[-1]
assert stats["event_type"] == "stats", "last record is not the stats record"
flows = [r for r in recs if r["event_type"] == "flow"]
by_proto = collections.Counter(r["proto"] for r in flows)
by_app = collections.Counter(r.get("app_proto") for r in flows)
checks = [
    ("packets", stats["stats"]["packets"], int(exp["packets"])),
    ("tcp flows = tshark tcp conversations", by_proto["TCP"], int(exp["tcp_conversations"])),
    ("udp flows = tshark udp conversations", by_proto["UDP"], int(exp["udp_conversations"])),
    ("mqtt flows = tshark CONNECTs", by_app["mqtt"], int(exp["mqtt_connect"])),
    ("tls flows = tshark ClientHellos", by_app["tls"], int(exp["tls_client_hello"])),
    ("dns flows = tshark DNS queries", by_app["dns"], int(exp["dns_queries"])),
    ("every packet in a flow", sum(r["flow"]["pkts_toserver"] + r["flow"]["pkts_toclient"] for r in flows),
     int(exp["packets"])),
    ("malformed", sum(stats["stats"]["malformed"].values()), int(exp["malformed"])),
    ("tcp flows closed by fin", sum(1 for r in flows if r["proto"] == "TCP" and r["flow"]["reason"] == "fin"),
     int(exp["tcp_conversations"])),
]
bad = 0
for name, got, want in checks:
    ok = got == want
    bad += not ok
    print(("PASS" if ok else "FAIL") + f"  {name}: {got} (expected {want})")
sys.exit(1 if bad else 0)
PY

# periodic stats on packet time: records at least 2 s apart, counters growing, the last
# one the final total; the capture spans about 8 s, so at least 2 come before the end
: >"$out" # outputs append
"$bin" -r pcaps/demo.pcap -o /dev/null -e "$out" --set sensor.stats_interval=2s -q 2>/dev/null
python3 - "$out" "$exp" <<'PY'
import json, sys
from datetime import datetime
exp = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip())
st = [json.loads(l) for l in open(sys.argv[1])]
st = [r for r in st if r["event_type"] == "stats"]
ts = [datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ") for r in st]
gaps_ok = all((b - a).total_seconds() >= 2 for a, b in zip(ts[:-2], ts[1:-1]))
grow = all(a["stats"]["packets"] <= b["stats"]["packets"] for a, b in zip(st, st[1:]))
ok = len(st) >= 3 and gaps_ok and grow and st[-1]["stats"]["packets"] == int(exp["packets"])
print(("PASS" if ok else "FAIL") + f"  periodic stats: {len(st)} records, packets {[r['stats']['packets'] for r in st]}")
sys.exit(0 if ok else 1)
PY

# make demo's replay (scripts/demo.sh): every rule of docs/rules.md fires on the bundled
# rule capture, and the summary names each of them
ids="tunnel.orphaned tunnel.renewal_loop mqtt.wildcard_subscribe mqtt.topic_violation mqtt.cleartext_credentials
mqtt.client_id_conflict mqtt.shared_credentials tls.cert_expiring tls.cert_expiry_storm tls.shared_certificate
endpoint.off_region modbus.unauthorized_write"
sumfile=$(mktemp)
trap 'rm -f "$out" "$sumfile"' EXIT
IOTWATCH="$bin" sh scripts/demo.sh >"$sumfile"
missing=""
for id in $ids; do
	grep -Eq "^ +[0-9]+  $id\$" "$sumfile" || missing="$missing $id"
done
if [ -z "$missing" ]; then
	echo "PASS  make demo: all 12 rules fire and are summarised ($(grep -c '"event_type":"alert"' build/demo-alerts.jsonl) alerts)"
else
	echo "FAIL  make demo: rules missing from the summary:$missing"
	exit 1
fi
