#!/usr/bin/env bash
# make-demo-rules.sh - the capture `make demo` replays to show every rule of docs/rules.md
# firing: the rule captures that make-rules-mqtt.sh and make-rules-tls.sh record from real
# clients, merged in time order with mergecap (they were recorded one after another on
# loopback, so their flows never share a 5-tuple), and demo-rules.yaml, the union of their
# configurations. Regenerate after either of those scripts: bash pcaps/make-demo-rules.sh
set -euo pipefail
tag=make-demo-rules
cd "$(dirname "$0")"
. ./lib.sh
need_pkgs wireshark-common
parts=(rules-mqtt.pcap rules-modbus.pcap rules-tls.pcap rules-tunnel-long.pcap)
for p in "${parts[@]}"; do
	[ -s "$p" ] || die "$p missing: run make-rules-mqtt.sh and make-rules-tls.sh first"
done
mergecap -F pcap -w demo-rules.pcap.tmp "${parts[@]}"
mv demo-rules.pcap.tmp demo-rules.pcap
cat >demo-rules.yaml <<'YAML'
# demo-rules.yaml - written by pcaps/make-demo-rules.sh: the rule captures' settings together
# (rules-mqtt.yaml, rules-modbus.yaml, rules-tls.yaml), for `make demo`.
rules:
  tunnel:
    max_duration: 12h
    renewal_max: 3
    renewal_window: 24h
  mqtt:
    trusted_clients: ["ops-*"]
    publish_namespaces: ["dt/{client_id}/#"]
    subscribe_namespaces: ["cmd/{client_id}/#"]
    shared_credentials_max: 5
  cert:
    expiry_lead: 90d
    storm_min_devices: 20
    storm_bucket: 1d
    flood_min_devices: 20
    flood_window: 60s
  region:
    allowed: [ap-south-1, ap-south-2]
  modbus:
    allowed_writers: [127.0.0.1]
YAML
log "demo-rules.pcap: $(capinfos -c -M demo-rules.pcap | awk -F': *' '/Number of packets/ { print $2 }') packets from ${parts[*]}"
