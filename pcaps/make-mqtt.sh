#!/usr/bin/env bash
# Makes the MQTT decoder's captures from real clients against a real broker on 127.0.0.1:
#   pcaps/mqtt-v311.pcap  mosquitto_pub/_sub, MQTT 3.1.1: QoS 0/1/2, retained, wildcards
#                         (+, #, $SYS/#), unsubscribe, a refused login (CONNACK 5)
#   pcaps/mqtt-v5.pcap    the same in MQTT 5.0, plus user properties, a topic alias, a
#                         message expiry, and a refused login (CONNACK reason 0x86)
#   pcaps/mqtt-ws.pcap    python3-paho-mqtt over a mosquitto WebSocket listener (port 9001):
#                         HTTP Upgrade, masked client frames, 3.1.1 and 5.0
# and for each pcaps/mqtt-<name>.expected.tsv: tshark's count per MQTT message type.
#
# Usage: bash pcaps/make-mqtt.sh   (as root on Debian 12; installs what is missing)
# Stops every process it started, whatever way it exits; replaces the committed files
# only when every capture passes its checks.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
addr=127.0.0.1
port=1883
wsport=9001
user=sensor-test
pass=sensor-pass

tag=make-mqtt
# shellcheck source=pcaps/lib.sh
. "$(dirname "$0")/lib.sh"
wait_for() { # ADDR PORT (the WebSocket listener binds every address)
	local i
	for i in $(seq 50); do
		ss -H -lnt "sport = :$2" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on $1:$2"
}
busy() { ss -H -lnt "sport = :$1" | grep -q .; }

need_pkgs mosquitto mosquitto-clients python3-paho-mqtt tcpdump tshark iproute2
[ "$(id -u)" = 0 ] || die "run as root (tcpdump needs it)"
# paho must come from Debian's python3, not a virtualenv or pyenv first on PATH
py=/usr/bin/python3
$py -c 'import paho.mqtt.client' || die "python3-paho-mqtt is not importable by $py"
tmp=$(mktemp -d /tmp/iotwatch-mqtt.XXXXXX)
chmod 755 "$tmp"
busy "$port" && die "port $port is in use; stop that first"
busy "$wsport" && die "port $wsport is in use; stop that first"

mosquitto_passwd -c -b "$tmp/passwd" "$user" "$pass" >/dev/null 2>&1
chmod 644 "$tmp/passwd"
cat >"$tmp/mosquitto.conf" <<EOF
per_listener_settings false
allow_anonymous true
password_file $tmp/passwd
persistence false
log_dest stderr
log_type all
listener $port $addr
listener $wsport $addr
protocol websockets
EOF

# capture NAME: starts tcpdump for both ports into $tmp/NAME.pcap
capture() {
	start "tcpdump-$1" tcpdump -i lo -U -n -s 0 -w "$tmp/$1.pcap" \
		"host $addr and (tcp port $port or tcp port $wsport)"
	local i
	for i in $(seq 50); do
		grep -q 'listening on' "$tmp/tcpdump-$1.log" && return 0
		sleep 0.1
	done
	die "tcpdump did not start: $(cat "$tmp/tcpdump-$1.log")"
}
uncapture() {
	sleep 1
	stop "tcpdump-$1"
}

start mosquitto mosquitto -c "$tmp/mosquitto.conf"
wait_for "$addr" "$port"
wait_for "$addr" "$wsport"
sleep 0.5

pub() { mosquitto_pub -h "$addr" -p "$port" "$@"; }

# session V: one protocol version through the command-line clients
session() {
	local v=$1 ver=$2 extra_pub=()
	start "sub-all-$v" mosquitto_sub -h "$addr" -p "$port" -V "$ver" -i "mon-$v" -q 2 -t '#' -v
	sleep 0.5
	start "sub-plus-$v" mosquitto_sub -h "$addr" -p "$port" -V "$ver" -i "fleet-$v" -q 1 \
		-t 'dt/+/telemetry' -t '$SYS/broker/uptime' -v
	sleep 0.5
	pub -V "$ver" -i "dev-a-$v" -q 0 -t dt/dev-a/telemetry -m '{"t":21.5}'
	sleep 0.3
	pub -V "$ver" -i "dev-a-$v" -q 1 -t dt/dev-a/telemetry -m '{"t":21.6}'
	sleep 0.3
	pub -V "$ver" -i "dev-a-$v" -q 2 -r -t dt/dev-a/status -m online
	sleep 0.3
	if [ "$ver" = mqttv5 ]; then
		# properties on the wire: user properties, expiry, content type, and a topic
		# alias (mosquitto_pub -l sends the topic once, then the alias alone)
		pub -V "$ver" -i dev-b-5 -u "$user" -P "$pass" -q 1 -t dt/dev-b/telemetry \
			-D publish user-property site plant-7 -D publish message-expiry-interval 300 \
			-D publish content-type application/json -D connect session-expiry-interval 60 \
			-D connect user-property fw 1.2.3 -m '{"t":19.0}'
		sleep 0.3
		printf 'one\ntwo\nthree\n' | pub -V "$ver" -i dev-c-5 -q 1 -t dt/dev-c/telemetry \
			-D publish topic-alias 1 -l
		sleep 0.3
	else
		pub -V "$ver" -i dev-b-311 -u "$user" -P "$pass" -q 1 -t dt/dev-b/telemetry -m '{"t":19.0}'
		sleep 0.3
	fi
	# a refused login: wrong password
	if pub -V "$ver" -i "dev-b-$v" -u "$user" -P wrong -q 1 -t dt/dev-b/telemetry -m x 2>/dev/null; then
		die "the broker accepted a wrong password"
	fi
	sleep 0.3
	# a late subscriber gets the retained status, then unsubscribes on the way out
	mosquitto_sub -h "$addr" -p "$port" -V "$ver" -i "dash-$v" -q 1 -t dt/dev-a/status \
		-U dt/dev-a/status -C 1 -W 5 -v >"$tmp/late-$v.log" || true
	grep -q online "$tmp/late-$v.log" || die "the late subscriber ($ver) did not get the retained message"
	sleep 0.3
	stop "sub-plus-$v"
	stop "sub-all-$v"
	sleep 0.3
}

log "mqtt 3.1.1"
capture mqtt-v311
session 311 mqttv311
uncapture mqtt-v311

log "mqtt 5.0"
capture mqtt-v5
session 5 mqttv5
uncapture mqtt-v5

log "mqtt over websocket (paho)"
capture mqtt-ws
cat >"$tmp/ws.py" <<'EOF'
import sys, time
import paho.mqtt.client as mqtt

host, port = sys.argv[1], int(sys.argv[2])
got = []

def run(proto, cid):
    c = mqtt.Client(client_id=cid, transport="websockets", protocol=proto)
    c.on_message = lambda cl, u, m: got.append(m.topic)
    c.connect(host, port, keepalive=30)
    c.loop_start()
    time.sleep(0.3)
    c.subscribe("ws/" + cid + "/#", qos=1)
    time.sleep(0.3)
    c.publish("ws/" + cid + "/hello", b"x" * 300, qos=1).wait_for_publish()
    c.publish("ws/" + cid + "/big", bytes(range(256)) * 80, qos=2).wait_for_publish()
    time.sleep(0.5)
    c.unsubscribe("ws/" + cid + "/#")
    time.sleep(0.3)
    c.disconnect()
    c.loop_stop()

run(mqtt.MQTTv311, "ws-dev-311")
run(mqtt.MQTTv5, "ws-dev-5")
if len(got) < 4:
    sys.exit("websocket clients got %d messages, expected 4" % len(got))
EOF
$py "$tmp/ws.py" "$addr" "$wsport" >"$tmp/ws.log" 2>&1 || die "paho websocket session failed: $(cat "$tmp/ws.log")"
uncapture mqtt-ws

stop mosquitto
sleep 0.5

# ---- check and count ----
types="connect connack publish puback pubrec pubrel pubcomp subscribe suback unsubscribe unsuback pingreq pingresp disconnect auth"
total=0
for name in mqtt-v311 mqtt-v5 mqtt-ws; do
	f=$tmp/$name.pcap
	size=$(stat -c %s "$f")
	total=$((total + size))
	malformed=$(tshark -r "$f" -Y _ws.malformed 2>/dev/null | wc -l)
	[ "$malformed" = 0 ] || die "$name: $malformed malformed frames"
	tshark -r "$f" -Y mqtt -T fields -e mqtt.msgtype -E occurrence=a 2>/dev/null |
		tr ',' '\n' | grep -v '^$' >"$tmp/$name.types" || true
	{
		printf 'packets\t%s\n' "$(tshark -r "$f" 2>/dev/null | wc -l)"
		printf 'mqtt_messages\t%s\n' "$(wc -l <"$tmp/$name.types")"
		i=1
		for t in $types; do
			printf 'mqtt_%s\t%s\n' "$t" "$(grep -cx "$i" "$tmp/$name.types" || true)"
			i=$((i + 1))
		done
		printf 'malformed\t%s\n' "$malformed"
	} >"$tmp/$name.expected.tsv"
	if [ "$name" = mqtt-ws ]; then
		# tshark 4.0 follows the Upgrade and decodes the WebSocket frames, but does not hand
		# their payload to its MQTT dissector: it finds no MQTT here. What the two paho
		# sessions sent is known instead (per session: CONNECT/CONNACK, SUBSCRIBE/SUBACK,
		# PUBLISH QoS 1 and QoS 2 each echoed back at QoS 1 = 4 PUBLISH, 3 PUBACK, one
		# PUBREC/PUBREL/PUBCOMP, UNSUBSCRIBE/UNSUBACK, DISCONNECT); check the frames.
		frames=$(tshark -r "$f" -Y websocket 2>/dev/null | wc -l)
		[ "$frames" -ge 34 ] || die "$name: only $frames WebSocket frames"
		printf 'websocket_frames\t%s\n' "$frames" >>"$tmp/$name.expected.tsv"
	else
		grep -q "^mqtt_connect	0" "$tmp/$name.expected.tsv" && die "$name: tshark finds no CONNECT"
	fi
done
[ "$total" -lt 200000 ] || die "captures are $total bytes, over the 200 KB budget"

for name in mqtt-v311 mqtt-v5 mqtt-ws; do
	mv "$tmp/$name.pcap" "$here/$name.pcap"
	mv "$tmp/$name.expected.tsv" "$here/$name.expected.tsv"
	chown "$(stat -c %u:%g "$here")" "$here/$name.pcap" "$here/$name.expected.tsv"
	chmod 644 "$here/$name.pcap" "$here/$name.expected.tsv"
	log "wrote $name.pcap and $name.expected.tsv:"
	paste -sd' ' "$here/$name.expected.tsv" >&2
done
