#!/usr/bin/env bash
# Makes pcaps/demo.pcap, the capture `make demo` replays, and pcaps/demo.expected.tsv,
# the counts tshark finds in it. Every packet comes from a real program talking to a
# real server on the loopback interface: mosquitto + mosquitto_pub/_sub (MQTT 3.1.1 and
# 5.0), openssl s_server + s_client (TLS 1.2 and 1.3 with a tunnel-style SNI), dnsmasq +
# dig (DNS). Nothing is hand-crafted and nothing leaves 127.0.0.0/8.
#
# Usage: bash pcaps/make-demo.sh        (as root on Debian 12; installs what is missing)
# Safe to run again: it rebuilds both files from scratch, and it stops every process it
# started, whatever way it exits. The old files are replaced only if the new capture
# passes its checks.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out_pcap=$here/demo.pcap
out_tsv=$here/demo.expected.tsv

mqtt_addr=127.0.0.1
mqtt_port=1883
tls_addr=127.0.0.1
tls_port=8883
dns_port=53
sni=data.tunneling.iot.eu-west-1.amazonaws.com
dns_answer=127.0.0.3
# The one account in the broker's password file. A demo credential, sent in clear
# text on purpose: the sensor should see it.
mqtt_user=dev-2
mqtt_pass=demo-pass-2
# The server certificate expires on this day (the time of day is when the script ran:
# OpenSSL 3.0's `req` has -days but not -not_after).
cert_not_after=2035-01-01

tag=make-demo
# shellcheck source=pcaps/lib.sh
. "$(dirname "$0")/lib.sh"

# wait_for PROTO ADDR PORT: until a socket listens there. Uses ss, never a connection,
# so the check itself puts nothing on the wire.
wait_for() {
	local flag=-lnt i
	[ "$1" = udp ] && flag=-lnu
	for i in $(seq 50); do
		ss -H "$flag" "src $2 and sport = :$3" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on $1 $2:$3 (see the logs above)"
}

busy() { ss -H -lntu "sport = :$2" | awk '{print $5}' | grep -qE "^($1|0\.0\.0\.0|\*|\[::\]):$2\$"; }

# ---- setup ------------------------------------------------------------------------------
need_pkgs mosquitto mosquitto-clients openssl tcpdump dnsmasq dnsutils tshark iproute2
[ "$(id -u)" = 0 ] || die "run as root (tcpdump and dnsmasq on port 53 need it)"
tmp=$(mktemp -d /tmp/iotwatch-demo.XXXXXX)
# The broker and dnsmasq drop to their own users; they must be able to read their files.
chmod 755 "$tmp"

busy "$mqtt_addr" "$mqtt_port" && die "$mqtt_addr:$mqtt_port is in use; stop that first"
busy "$tls_addr" "$tls_port" && die "$tls_addr:$tls_port is in use; stop that first"
dns_addr=""
for a in 127.0.0.2 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9; do
	busy "$a" "$dns_port" || { dns_addr=$a; break; }
done
[ -n "$dns_addr" ] || die "port $dns_port is busy on every loopback address tried"

# Broker: anonymous clients are welcome, and so is $mqtt_user with the right password.
mosquitto_passwd -c -b "$tmp/passwd" "$mqtt_user" "$mqtt_pass" >/dev/null 2>&1
chmod 644 "$tmp/passwd"
cat >"$tmp/mosquitto.conf" <<EOF
listener $mqtt_port $mqtt_addr
allow_anonymous true
password_file $tmp/passwd
persistence false
log_dest stderr
log_type all
EOF

# TLS server certificate: self-signed, EC P-256 (keeps the capture small).
days=$((($(date -u -d "$cert_not_after" +%s) - $(date -u +%s)) / 86400 + 1))
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$tmp/server.key" -out "$tmp/server.crt" -days "$days" \
	-subj "/CN=broker.example" -addext "subjectAltName=DNS:broker.example" 2>/dev/null

# ---- capture ----------------------------------------------------------------------------
# Only the ports and addresses this script uses, so other traffic on lo stays out.
filter="(host $mqtt_addr and tcp port $mqtt_port) or (host $tls_addr and tcp port $tls_port)"
filter="$filter or (host $dns_addr and port $dns_port)"
start tcpdump tcpdump -i lo -U -n -w "$tmp/demo.pcap" "$filter"
for i in $(seq 50); do
	grep -q 'listening on' "$tmp/tcpdump.log" && break
	sleep 0.1
done
grep -q 'listening on' "$tmp/tcpdump.log" || die "tcpdump did not start: $(cat "$tmp/tcpdump.log")"

start mosquitto mosquitto -c "$tmp/mosquitto.conf"
# TLS 1.2 and up: the first client insists on 1.2, the second on 1.3.
start s_server openssl s_server -accept "$tls_addr:$tls_port" -cert "$tmp/server.crt" \
	-key "$tmp/server.key" -min_protocol TLSv1.2 -rev -naccept 2
start dnsmasq dnsmasq --no-daemon --conf-file=/dev/null --no-hosts --no-resolv \
	--port="$dns_port" --listen-address="$dns_addr" --bind-interfaces --pid-file \
	--log-facility=- --log-queries --address="/$sni/$dns_answer"
wait_for tcp "$mqtt_addr" "$mqtt_port"
wait_for tcp "$tls_addr" "$tls_port"
wait_for udp "$dns_addr" "$dns_port"
sleep 0.5

pub() { mosquitto_pub -h "$mqtt_addr" -p "$mqtt_port" "$@"; }

# 1. A device looks up its tunnel endpoint.
log "dns"
dig @"$dns_addr" -p "$dns_port" +tries=1 +time=3 "$sni" A >"$tmp/dig.log"
grep -q "$dns_answer" "$tmp/dig.log" || die "dig did not get $dns_answer: $(cat "$tmp/dig.log")"
sleep 0.5

# 2. Two long-lived subscribers: dev-1 listens for its commands (3.1.1), a monitor
#    listens to everything (5.0, QoS 2).
log "mqtt subscribers"
start sub_cmd mosquitto_sub -h "$mqtt_addr" -p "$mqtt_port" -V mqttv311 -i dev-1-cmd \
	-q 1 -t 'cmd/dev-1/#' -v
sleep 0.5
start sub_all mosquitto_sub -h "$mqtt_addr" -p "$mqtt_port" -V mqttv5 -i monitor \
	-q 2 -t '#' -v
sleep 0.5

# 3. Telemetry and status, QoS 0, 1 and 2, both protocol versions, one retained.
log "mqtt publishers"
pub -V mqttv311 -i dev-1 -q 0 -t dt/dev-1/telemetry -m '{"temp":21.5,"hum":40}'
sleep 0.5
pub -V mqttv311 -i dev-1 -q 1 -t dt/dev-1/telemetry -m '{"temp":21.6,"hum":41}'
sleep 0.5
pub -V mqttv5 -i dev-1 -q 2 -t dt/dev-1/status -r -m online
sleep 0.5
# dev-2 logs in with username and password (in clear text, as the sensor should see).
pub -V mqttv5 -i dev-2 -u "$mqtt_user" -P "$mqtt_pass" -q 2 -t dt/dev-2/telemetry \
	-m '{"temp":19.0,"hum":55}'
sleep 0.5
# ...and once with a wrong password, which the broker refuses.
if pub -V mqttv311 -i dev-2 -u "$mqtt_user" -P wrong-password -q 1 -t dt/dev-2/telemetry \
	-m '{"temp":19.1}' 2>/dev/null; then
	die "the broker accepted a wrong password"
fi
sleep 0.5
# An operator sends dev-1 a command; both subscribers get it.
pub -V mqttv311 -i operator -q 1 -t cmd/dev-1/reboot -m '{"delay":5}'
sleep 0.5
# A late subscriber receives the retained status (retain flag set) and leaves.
mosquitto_sub -h "$mqtt_addr" -p "$mqtt_port" -V mqttv311 -i dashboard -q 1 \
	-t dt/dev-1/status -C 1 -W 5 -v >"$tmp/sub_late.log"
grep -q online "$tmp/sub_late.log" || die "the late subscriber did not get the retained message"
sleep 0.5
# The subscribers disconnect (mosquitto_sub sends DISCONNECT on SIGTERM).
stop sub_cmd
stop sub_all
sleep 0.5
grep -q 'cmd/dev-1/reboot' "$tmp/sub_cmd.log" || die "dev-1 did not get its command"

# 4. Two TLS sessions to the same server with a tunnel endpoint's SNI: TLS 1.2 (the
#    certificate is visible) and TLS 1.3. Each sends one line, reads the echo, closes.
log "tls"
for v in -tls1_2 -tls1_3; do
	{ echo "hello from dev-1 over ${v#-}"; sleep 1; } |
		openssl s_client -connect "$tls_addr:$tls_port" -servername "$sni" "$v" \
			-CAfile "$tmp/server.crt" >"$tmp/s_client$v.log" 2>&1 ||
		die "s_client $v failed: $(tail -5 "$tmp/s_client$v.log")"
	sleep 0.5
done
# s_server exits by itself after its two connections (-naccept 2).
wait "${pid_of[s_server]}" || die "s_server failed: $(tail -5 "$tmp/s_server.log")"

# 5. Servers stop; tcpdump gets time to write the last packets, then stops.
stop mosquitto
stop dnsmasq
sleep 1
stop tcpdump

# ---- check and count --------------------------------------------------------------------
f=$tmp/demo.pcap
size=$(stat -c %s "$f")
[ "$size" -lt 100000 ] || die "capture is $size bytes, over the 100 KB budget"
malformed=$(tshark -r "$f" -Y _ws.malformed 2>/dev/null | wc -l)
[ "$malformed" = 0 ] || die "$malformed malformed frames"

count() { tshark -r "$f" -Y "$1" 2>/dev/null | wc -l; }
conv() { tshark -r "$f" -q -z "conv,$1" 2>/dev/null | grep -c '<->' || true; }
# Every MQTT message, one per line, as its type number (a frame may hold several).
tshark -r "$f" -Y mqtt -T fields -e mqtt.msgtype -E occurrence=a 2>/dev/null |
	tr ',' '\n' | grep -v '^$' >"$tmp/mqtt.types" || true
mqtt() { grep -cx "$1" "$tmp/mqtt.types" || true; }

{
	printf 'packets\t%s\n' "$(tshark -r "$f" 2>/dev/null | wc -l)"
	printf 'tcp_conversations\t%s\n' "$(conv tcp)"
	printf 'udp_conversations\t%s\n' "$(conv udp)"
	printf 'mqtt_messages\t%s\n' "$(wc -l <"$tmp/mqtt.types")"
	i=1
	for t in connect connack publish puback pubrec pubrel pubcomp subscribe suback \
		unsubscribe unsuback pingreq pingresp disconnect auth; do
		printf 'mqtt_%s\t%s\n' "$t" "$(mqtt $i)"
		i=$((i + 1))
	done
	printf 'tls_client_hello\t%s\n' "$(count 'tls.handshake.type == 1')"
	printf 'tls_server_hello\t%s\n' "$(count 'tls.handshake.type == 2')"
	printf 'tls_certificate\t%s\n' "$(count 'tls.handshake.type == 11')"
	printf 'dns_messages\t%s\n' "$(count dns)"
	printf 'dns_queries\t%s\n' "$(count 'dns.flags.response == 0')"
	printf 'dns_responses\t%s\n' "$(count 'dns.flags.response == 1')"
	printf 'malformed\t%s\n' "$malformed"
} >"$tmp/demo.expected.tsv"

# What the script did must be what the capture holds: 9 MQTT connections (2 long
# subscribers, 6 publishers, 1 late subscriber) + 2 TLS sessions = 11 TCP conversations,
# and 1 DNS exchange. Anything else means another program used these ports meanwhile.
want() {
	local got
	got=$(awk -F'\t' -v k="$1" '$1 == k {print $2}' "$tmp/demo.expected.tsv")
	[ "$got" = "$2" ] || die "$1 is $got, expected $2 (stray traffic on these ports?)"
}
want tcp_conversations 11
want udp_conversations 1
want mqtt_connect 9
want tls_client_hello 2
want dns_messages 2

mv "$tmp/demo.pcap" "$out_pcap"
mv "$tmp/demo.expected.tsv" "$out_tsv"
# tcpdump hands its file to its own user; give both files the owner of pcaps/.
chown "$(stat -c %u:%g "$here")" "$out_pcap" "$out_tsv"
chmod 644 "$out_pcap" "$out_tsv"
log "wrote $out_pcap ($size bytes) and $out_tsv:"
cat "$out_tsv" >&2
