#!/bin/sh
# demo.sh - what `make demo` shows: iotwatch replays pcaps/demo-rules.pcap (captures of
# real MQTT, Modbus, TLS and SSH clients; pcaps/README.md) with pcaps/demo-rules.yaml, and
# the alerts are printed as a table, then counted by rule. The alerts as JSON lines stay in
# build/demo-alerts.jsonl and the device inventory in build/demo-devices.jsonl.
set -eu
IOTWATCH=${IOTWATCH:-./iotwatch}
mkdir -p build
alerts=build/demo-alerts.jsonl devices=build/demo-devices.jsonl
rm -f "$alerts" # the jsonl output appends, like a log; the demo starts afresh
echo "== $IOTWATCH -r pcaps/demo-rules.pcap -c pcaps/demo-rules.yaml -o $alerts --devices $devices"
"$IOTWATCH" -r pcaps/demo-rules.pcap -c pcaps/demo-rules.yaml -o "$alerts" --devices "$devices" -q
echo
jq -r 'select(.event_type == "alert") |
	[.timestamp[0:19], .alert.severity, .alert.rule, (.device.id // "(fleet)"), .alert.message] | @tsv' "$alerts" |
	awk -F'\t' 'BEGIN { printf "%-19s  %-8s  %-26s  %-14s  %s\n", "packet time (UTC)", "severity", "rule", "device", "what"
		printf "%-19s  %-8s  %-26s  %-14s  %s\n", "-------------------", "--------", "--------------------------", "--------------", "----" }
		{ printf "%-19s  %-8s  %-26s  %-14s  %s\n", $1, $2, $3, $4, $5 }'
echo
echo "alerts by rule:"
jq -r 'select(.event_type == "alert") | .alert.rule' "$alerts" | sort | uniq -c | awk '{ printf "  %4d  %s\n", $1, $2 }'
echo
echo "$(wc -l <"$devices") devices in the inventory ($devices); evidence of each alert in $alerts, e.g.:"
jq -c 'select(.alert.rule == "tls.cert_expiry_storm") | .evidence' "$alerts" | head -n 1
