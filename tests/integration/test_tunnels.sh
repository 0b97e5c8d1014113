#!/usr/bin/env bash
# test_tunnels.sh - tunnel events and endpoint names/regions (docs/tunnels.md) on our own
# captures, against what tshark sees in them, computed live:
#   - pcaps/tls-openssl.pcap: one tunnel per TCP stream whose SNI names an AWS Secure
#     Tunneling data endpoint or an Azure device-streams endpoint, with that kind; an
#     open and a close each; the close's duration and bytes equal the stream's; the
#     endpoint region is the region token of the SNI; with rules.tunnel.endpoints a
#     configured name becomes a tunnel too.
#   - pcaps/tls-tunnel-long.pcap (13 h stretched): one "active" record each time a packet
#     arrives at least rules.tunnel.report_interval after the last report (the sensor
#     ticks on packet time), simulated here over tshark's frame times; none with 0s.
#   - pcaps/ssh-openssh.pcap: one ssh tunnel per TCP stream with an SSH banner.
#   - pcaps/dns-dnsmasq.pcap: a TCP connection to an address a DNS answer gave carries
#     the name asked (tshark: dns.qry.name of the answer holding dns.a) and the region
#     from that name or the end of its CNAME chain; with an Azure Service Tags file that
#     covers an address, the region comes from it (region_source ip_range).
# Run from the repository root after building ./iotwatch (IOTWATCH=path to change it).
set -u
cd "$(dirname "$0")/../.." || exit 1

BIN=${IOTWATCH:-./iotwatch}
command -v tshark >/dev/null || { echo "FAIL test_tunnels: tshark is a test dependency"; exit 1; }
command -v jq >/dev/null || { echo "FAIL test_tunnels: jq is a test dependency"; exit 1; }
[ -x "$BIN" ] || { echo "FAIL test_tunnels: $BIN is missing (make iotwatch)"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-tunnels.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
pass=0 failed=0

check() { # NAME WANT GOT
	if [ "$2" == "$3" ]; then
		echo "PASS $1"
		pass=$((pass + 1))
	else
		echo "FAIL $1"
		echo "  want: $2"
		echo "  got:  $3"
		failed=$((failed + 1))
	fi
}

ts() { tshark -r "$@" 2>/dev/null; }
events() { # FILE ARGS...: our events
	local f=$1
	shift
	"$BIN" -r "$f" -e - -q "$@"
}

# ---- TLS tunnels ----
TLS=pcaps/tls-openssl.pcap
# tshark: stream, SNI, first and last frame time, bytes (frame lengths) of every TLS stream with a SNI
ts "$TLS" -Y 'tls.handshake.type == 1' -T fields -e tcp.stream -e tls.handshake.extensions_server_name >"$T/sni"
want_kinds=$(awk -F'\t' '
	tolower($2) ~ /^data\.tunneling\.iot\.[^.]+\.amazonaws\.com(\.cn)?$/ { print $1 "\taws_secure_tunneling\t" $2; next }
	tolower($2) ~ /\.streams\.azure-devices\.net$/ { print $1 "\tazure_device_streams\t" $2 }' "$T/sni" | sort)
ts "$TLS" -T fields -e tcp.stream -e frame.time_epoch -e frame.len >"$T/frames"
events "$TLS" >"$T/tls.json"
# ours: flow_id -> the stream is found by the client port; tshark's stream by tcp.srcport of the hello
ts "$TLS" -Y 'tls.handshake.type == 1' -T fields -e tcp.stream -e tcp.srcport >"$T/stream_port"
got_kinds=$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="open") | "\(.src_port)\t\(.tunnel.kind)\t\(.endpoint.name)"' "$T/tls.json" |
	awk -F'\t' 'NR == FNR { s[$2] = $1; next } { print s[$1] "\t" $2 "\t" $3 }' "$T/stream_port" - | sort)
check "tls-openssl: tunnel opens (stream, kind, endpoint) equal the tunnel SNIs" "$want_kinds" "$got_kinds"
check "tls-openssl: as many closes as opens" \
	"$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="open") | .flow_id' "$T/tls.json" | sort -n)" \
	"$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="close") | .flow_id' "$T/tls.json" | sort -n)"
# durations (whole seconds) and bytes of each tunnel equal its stream's
want_dur=$(for s in $(echo "$want_kinds" | cut -f1); do
	awk -F'\t' -v s="$s" '$1 == s { if (!n++) a = $2; b = $2; by += $3 }
		END { printf "%d\t%d\n", int(b - a), by }' "$T/frames"
done | sort)
got_dur=$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="close") |
	"\(.tunnel.duration_s)\t\(.tunnel.bytes_toserver + .tunnel.bytes_toclient)"' "$T/tls.json" | sort)
check "tls-openssl: close duration_s and bytes equal the stream's" "$want_dur" "$got_dur"
# the region of each tunnel endpoint is the region token of its SNI
want_reg=$(echo "$want_kinds" | cut -f3 | sed -E 's/^data\.tunneling\.iot\.([^.]+)\..*/\1 aws sni/;
	s/^[^.]+\.([a-z0-9]+)-[0-9]{3}\.streams\.azure-devices\.net$/\1 azure sni/' | sort)
got_reg=$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="open") |
	"\(.endpoint.region) \(.endpoint.provider) \(.endpoint.region_source)"' "$T/tls.json" | sort)
check "tls-openssl: tunnel endpoint region from the SNI" "$want_reg" "$got_reg"
# every tls event of a stream with SNI names it as the endpoint
check "tls-openssl: every tls event with a sni has endpoint.name = sni, name_source sni" "0" \
	"$(jq -r 'select(.event_type=="tls" and .tls.sni != null and (.endpoint.name != .tls.sni or .endpoint.name_source != "sni")) | .flow_id' "$T/tls.json" | wc -l)"
# a configured glob
conf=$(events "$TLS" --set 'rules.tunnel.endpoints=*.PLANT.example' |
	jq -r 'select(.event_type=="tunnel" and .tunnel.type=="open" and .tunnel.kind=="configured") | .endpoint.name')
check "tls-openssl: rules.tunnel.endpoints=*.PLANT.example makes mqtt.plant.example a tunnel" \
	"$(awk -F'\t' 'tolower($2) ~ /\.plant\.example$/ { print $2 }' "$T/sni")" "$conf"

# ---- the 13 h tunnel: active records on packet time ----
LONG=pcaps/tls-tunnel-long.pcap
ts "$LONG" -T fields -e frame.time_epoch -e tls.handshake.type >"$T/long"
for every in 3600 7200; do
	# the tunnel opens at the ClientHello; then at each later packet in a new second of
	# packet time, a report when at least `every` seconds passed since the last one
	want=$(awk -F'\t' -v e="$every" '
		!open && $2 ~ /(^|,)1(,|$)/ { open = 1; last = $1; sec = int($1); next }
		open && int($1) != sec { sec = int($1); if ($1 - last >= e) { n++; last = $1 } }
		END { print n + 0 }' "$T/long")
	got=$(events "$LONG" --set rules.tunnel.report_interval=${every}s --set rules.tunnel.max_duration=365d |
		jq -r 'select(.event_type=="tunnel" and .tunnel.type=="active") | .flow_id' | wc -l)
	check "tls-tunnel-long: active records with report_interval ${every}s" "$want" "$got"
done
check "tls-tunnel-long: no active records with report_interval 0s and max_duration 0s" "0" \
	"$(events "$LONG" --set rules.tunnel.report_interval=0s --set rules.tunnel.max_duration=365d |
		jq -r 'select(.tunnel.type=="active") | 1' | wc -l)"
# with max_duration 12h, one active record stamped the moment the tunnel turned 12 h old
# (the session's first packet + 43200 s, though the packet clock jumps past it), duration 43200
want=$(awk -F'\t' 'NR == 1 { printf "%.6f 43200", $1 + 43200; exit }' "$T/long")
got=$(events "$LONG" --set rules.tunnel.report_interval=0s |
	jq -r 'select(.tunnel.type=="active") | "\(.timestamp) \(.tunnel.duration_s)"' |
	python3 -c 'import sys, datetime
for l in sys.stdin:
    t, d = l.split()
    e = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    print("%.6f %s" % (e, d))')
check "tls-tunnel-long: report_interval 0s, max_duration 12h: one active record at 12 h of packet time" "$want" "$got"
want=$(awk -F'\t' 'NR == 1 { a = $1 } { b = $1 } END { printf "%d", int(b - a) }' "$T/long")
check "tls-tunnel-long: close duration_s is the capture's span (13 h)" "$want" \
	"$(events "$LONG" | jq -r 'select(.tunnel.type=="close") | .tunnel.duration_s')"
check "tls-tunnel-long: active durations grow" "yes" \
	"$(events "$LONG" | jq -rs '[.[] | select(.tunnel.type=="active") | .tunnel.duration_s] | if (. == sort and length > 0) then "yes" else "no" end')"

# ---- SSH tunnels ----
SSH=pcaps/ssh-openssh.pcap
if [ -s "$SSH" ]; then
	# streams where a side's payload starts with an identification string, on any port
	# (tshark decodes SSH on port 22 only; the capture also has sessions on 2222 and 8022)
	want=$(ts "$SSH" -Y 'tcp.payload[0:4] == "SSH-"' -T fields -e tcp.stream | sort -u | wc -l)
	events "$SSH" >"$T/ssh.json"
	check "ssh-openssh: one ssh tunnel open per stream with a banner" "$want" \
		"$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="open" and .tunnel.kind=="ssh") | .flow_id' "$T/ssh.json" | wc -l)"
	check "ssh-openssh: as many closes" "$want" \
		"$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="close" and .tunnel.kind=="ssh") | .flow_id' "$T/ssh.json" | wc -l)"
fi

# ---- endpoints from DNS answers ----
DNS=pcaps/dns-dnsmasq.pcap
# tshark: address -> name asked, and the owner of the answer section's last record (the
# end of the CNAME chain); resp.name lists the answers first, then authority, additional
ts "$DNS" -Y 'dns.flags.response == 1 && dns.a' -T fields -e dns.qry.name -e dns.count.answers -e dns.a \
	-e dns.resp.name -E occurrence=a -E aggregator=, |
	awk -F'\t' '$2 > 0 { n = split($3, a, ","); split($4, r, ","); for (i = 1; i <= n; i++) print a[i] "\t" $1 "\t" r[$2] }' |
	sort -u >"$T/answers"
events "$DNS" >"$T/dns.json"
want=$(ts "$DNS" -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport != 53' -T fields -e ip.dst |
	sort -u | while read -r a; do awk -F'\t' -v a="$a" '$1 == a { print a "\t" $2; exit }' "$T/answers"; done | sort)
got=$(jq -r 'select(.event_type=="flow" and .proto=="TCP" and .dest_port != 53 and .endpoint != null) |
	"\(.dest_ip)\t\(.endpoint.name)"' "$T/dns.json" | sort -u)
check "dns-dnsmasq: connections after a lookup carry the name asked (name_source dns)" "$want" "$got"
# regions: from the name asked, else from the end of the CNAME chain (same patterns as docs/regions.md)
region_of() { echo "$1" | sed -nE 's/.*\.(iot|tunneling\.iot)\.([a-z]{2}-[a-z]+-[0-9]+)\.amazonaws\.com$/\2/p'; }
want=$(while IFS=$'\t' read -r a q r; do
	g=$(region_of "$q")
	[ -n "$g" ] || g=$(region_of "$r")
	[ -n "$g" ] && printf '%s\t%s\tdns\n' "$a" "$g"
done <"$T/answers" | sort -u)
got=$(jq -r 'select(.event_type=="flow" and .proto=="TCP" and .endpoint.region != null) |
	"\(.dest_ip)\t\(.endpoint.region)\t\(.endpoint.region_source)"' "$T/dns.json" | sort -u)
check "dns-dnsmasq: endpoint regions from the names (and CNAME chains) looked up" "$want" "$got"
# an address whose name has no region gets it from an ip-range file
noreg=$(jq -r 'select(.event_type=="flow" and .proto=="TCP" and .dest_port != 53 and .endpoint.name != null and .endpoint.region == null) | .dest_ip' "$T/dns.json" | sort -u | head -n 1)
if [ -n "$noreg" ]; then
	cat >"$T/tags.json" <<EOF
{"changeNumber": 1, "cloud": "Public", "values": [
 {"name": "AzureIoTHub.CentralIndia", "id": "AzureIoTHub.CentralIndia",
  "properties": {"changeNumber": 1, "region": "centralindia", "regionId": 1, "platform": "Azure",
                 "systemService": "AzureIoTHub", "addressPrefixes": ["$noreg/32"], "networkFeatures": []}}]}
EOF
	got=$(events "$DNS" --set rules.region.ip_ranges="$T/tags.json" |
		jq -r --arg a "$noreg" 'select(.event_type=="flow" and .dest_ip==$a) | "\(.endpoint.region) \(.endpoint.provider) \(.endpoint.service) \(.endpoint.region_source)"' | sort -u)
	check "dns-dnsmasq: $noreg gets its region from a Service Tags file" "centralindia azure AzureIoTHub ip_range" "$got"
else
	echo "FAIL dns-dnsmasq: no connection to a name without a region in the capture"
	failed=$((failed + 1))
fi

# ---- RDP and VNC tunnels: nDPI on real clients and servers ----
RA=pcaps/remote-access.pcap
if [ -s "$RA" ]; then
	# tshark maps RDP to 3389 and VNC to 5900 only; the capture (pcaps/make-remote.sh) also has
	# RDP on 13389 and VNC on 15900. Every call has the decode-as: without it tshark 4.0's VNC
	# heuristic gives the 15900 stream a second tcp.stream number after the server's banner.
	rda=(-d 'tcp.port==13389,tpkt' -d 'tcp.port==15900,vnc')
	# RDP: the client's X.224 Connection Request decoded as RDP; VNC: both RFB versions decoded
	ts "$RA" "${rda[@]}" -Y 'tpkt && cotp.type == 0x0e && rdp' -T fields -e tcp.stream -e tcp.srcport -e tcp.dstport |
		awk -F'\t' -v OFS='\t' '{ print $1, $2, $3, "rdp" }' >"$T/ra_streams"
	ts "$RA" "${rda[@]}" -Y 'vnc.server_proto_ver || vnc.client_proto_ver' -T fields -e tcp.stream \
		-e vnc.client_proto_ver -e tcp.srcport -e tcp.dstport |
		awk -F'\t' -v OFS='\t' '$2 != "" { c[$1] = $3 "\t" $4; next } { srv[$1] = 1 }
			END { for (s in c) if (s in srv) print s, c[s], "vnc" }' >>"$T/ra_streams"
	ts "$RA" "${rda[@]}" -T fields -e tcp.stream -e frame.time_epoch -e frame.len >"$T/ra_frames"
	events "$RA" >"$T/ra.json"
	check "remote-access: tunnel opens (dest_port, kind) equal tshark's RDP and VNC streams (server port)" \
		"$(cut -f3,4 "$T/ra_streams" | sort)" \
		"$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="open") | "\(.dest_port)\t\(.tunnel.kind)"' "$T/ra.json" | sort)"
	check "remote-access: as many closes as opens" \
		"$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="open") | .flow_id' "$T/ra.json" | sort -n)" \
		"$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="close") | .flow_id' "$T/ra.json" | sort -n)"
	# each close (by its client port): duration_s is int(last - first) of the stream, bytes its frames'
	want=$(while IFS=$'\t' read -r s cport _ kind; do
		awk -F'\t' -v s="$s" -v p="$cport" -v k="$kind" '$1 == s { if (!n++) a = $2; b = $2; by += $3 }
			END { printf "%s\t%s\t%d\t%d\n", p, k, int(b - a), by }' "$T/ra_frames"
	done <"$T/ra_streams" | sort)
	got=$(jq -r 'select(.event_type=="tunnel" and .tunnel.type=="close") |
		"\(.src_port)\t\(.tunnel.kind)\t\(.tunnel.duration_s)\t\(.tunnel.bytes_toserver + .tunnel.bytes_toclient)"' "$T/ra.json" | sort)
	check "remote-access: close duration_s and bytes equal the stream's" "$want" "$got"
	check "remote-access: the capture has RDP and VNC off their usual ports (13389, 15900)" "13389 15900" \
		"$(cut -f3 "$T/ra_streams" | grep -xE '13389|15900' | sort -n | xargs)"
fi

echo "test_tunnels: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
