#!/usr/bin/env bash
# shellcheck disable=SC2016 # $SYS and $share are MQTT topic names, not expansions
# Makes the captures that prove the MQTT and Modbus rules (docs/rules.md), with the alerts
# each one must raise, from real programs on loopback (nothing leaves 127.0.0.0/8):
#
#   pcaps/rules-mqtt.pcap    mosquitto 2.0 on 127.0.0.1:1883 (anonymous allowed, password
#                            file) and 127.0.0.1:1884 (password file only), with
#                            mosquitto_pub/_sub and python3-paho-mqtt (paho binds a source
#                            address where a device needs its own), in this order:
#     1. subscribers, each on its own connection, staying connected to the end:
#        scanner `#`, dev-7 `dt/+/telemetry`, dev-8 `$SYS/#`, dev-9 `$share/grp/dt/#`
#        (MQTT 5.0), ops-console `#` (trusted: ops-*); all QoS 1
#     2. dev-5 (paho, 127.0.0.5) subscribes `cmd/dev-5/reboot`, publishes
#        `dt/dev-5/telemetry`: inside its namespaces, no wildcard
#     3. dev-3 (paho, 127.0.0.3) publishes `dt/dev-4/telemetry` and subscribes `cmd/dev-4/#`
#     4. dev-2 logs in as dev-2 with a password over 1883 and publishes `dt/dev-2/telemetry`
#     5. dev-6 (paho) connects from 127.0.0.6 and stays; dev-6 connects from 127.0.0.7 while
#        the first is live; mosquitto takes the session over and closes the first
#     6. sensor-01 .. sensor-06 log in as `fleet` with one password over 1883, each
#        publishing `dt/sensor-0N/telemetry`
#     7. meter-01 .. meter-20 try 1884 with usernames meter-01 .. meter-20 and no
#        password, a few seconds in all: each refused with CONNACK 5 (not authorized)
#     8. the subscribers disconnect
#   pcaps/rules-modbus.pcap  pymodbus 3.0 server on 127.0.0.1:502 (100 coils and holding
#                            registers, register N holds 100+N):
#     1. client A from 127.0.0.1 (an allowed writer) reads registers 0-9, writes FC 6, 16,
#        5, 15 and reads back
#     2. client B bound to 127.0.0.9 (not allowed) reads registers 0-9, then writes
#        FC 6 (register 3: 103 -> 555), FC 16 (4-6), FC 5 (coil 7), FC 15 (coils 8-12)
#   pcaps/rules-clean.pcap   both servers, traffic that must raise nothing: dev-1 (paho,
#                            127.0.0.11) subscribes `cmd/dev-1/reboot` and publishes
#                            telemetry; ops-console (trusted) publishes `cmd/dev-1/reboot`,
#                            which the broker forwards to dev-1; dev-12 (5.0) and dev-13
#                            publish in their own `dt/` trees; no usernames, no wildcards;
#                            client A writes Modbus, 127.0.0.9 only reads
#
# Beside each capture: <name>.alerts.tsv, the alerts the scenario calls for (written
# here from the scenario, not from iotwatch: rule, device id or `-` for a fleet alert,
# severity, identifying evidence keys), and <name>.expected.tsv, tshark's counts. The
# configurations the test replays them with are rules-mqtt.yaml, rules-modbus.yaml and
# rules-clean.yaml (both sets of settings). tests/integration/test_rules_mqtt.sh compares.
#
# Usage: bash pcaps/make-rules-mqtt.sh   (as root on Debian 12; installs what is missing)
# Ports 1883, 1884 and 502 on 127.0.0.1, every run; fails when another program holds
# one. Stops every process it started, whatever way it exits; replaces the committed
# files only when all three captures pass their checks (a failed run leaves its
# captures and logs in /tmp/iotwatch-rules-mqtt.failed/).
set -euo pipefail
export LC_ALL=C # sort as python does

here=$(cd "$(dirname "$0")" && pwd)
addr=127.0.0.1
port=1883    # anonymous allowed, password file for those who log in
authport=1884 # password file only: the meters are refused here
mbport=502
py=/usr/bin/python3 # Debian's python, whatever python3 is first on PATH
names="rules-mqtt rules-modbus rules-clean"

# Test credentials, in the captures in clear text on purpose.
dev2_pass=dev2-secret
fleet_user=fleet
fleet_pass=fleet-firmware-key
shared_max=5   # rules.mqtt.shared_credentials_max
flood_min=20   # rules.cert.flood_min_devices
flood_window=60 # rules.cert.flood_window, seconds
writer_ok=127.0.0.1
writer_bad=127.0.0.9

tag=make-rules-mqtt
# shellcheck source=pcaps/lib.sh
. "$(dirname "$0")/lib.sh"

busy() { ss -H -lnt "sport = :$1" | grep -q .; }
wait_for() {
	local i
	for i in $(seq 100); do
		ss -H -lnt "src $addr and sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on $addr:$1"
}

need_pkgs mosquitto mosquitto-clients python3-paho-mqtt python3-pymodbus python3-serial \
	python3-serial-asyncio tcpdump tshark iproute2
[ "$(id -u)" = 0 ] || die "run as root (tcpdump needs it)"
$py -c 'import paho.mqtt.client, pymodbus.client' || die "paho or pymodbus is not importable by $py"
for p in $port $authport $mbport; do
	busy "$p" && die "port $p is in use; stop that first"
done
tmp=$(mktemp -d /tmp/iotwatch-rules-mqtt.XXXXXX)
chmod 755 "$tmp" # mosquitto drops to its own user and reads its files here

# ---- servers' files ---------------------------------------------------------------------
mosquitto_passwd -c -b "$tmp/passwd" dev-2 "$dev2_pass" >/dev/null 2>&1
mosquitto_passwd -b "$tmp/passwd" "$fleet_user" "$fleet_pass" >/dev/null 2>&1
chmod 644 "$tmp/passwd"
cat >"$tmp/mosquitto.conf" <<EOF
per_listener_settings true
persistence false
sys_interval 3600
log_dest stderr
log_type all
listener $port $addr
allow_anonymous true
password_file $tmp/passwd
listener $authport $addr
allow_anonymous false
password_file $tmp/passwd
EOF

cat >"$tmp/mbserver.py" <<'EOF'
# Modbus/TCP server: 100 coils (all 0) and holding registers (register N holds 100 + N).
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartTcpServer

logging.basicConfig(level=logging.INFO)
store = ModbusSlaveContext(
    di=ModbusSequentialDataBlock(0, [0] * 100),
    co=ModbusSequentialDataBlock(0, [0] * 100),
    hr=ModbusSequentialDataBlock(0, [100 + i for i in range(100)]),
    ir=ModbusSequentialDataBlock(0, [0] * 100),
    zero_mode=True,
)
StartTcpServer(context=ModbusServerContext(slaves=store, single=True),
               address=(sys.argv[1], int(sys.argv[2])), allow_reuse_address=True)
EOF

cat >"$tmp/mbclient.py" <<'EOF'
# mbclient.py HOST PORT BIND ROLE: one Modbus/TCP connection from address BIND.
#   writer   reads registers 0-9, writes FC 6 (1), FC 16 (10-12), FC 5 (coil 1), FC 15 (20-22)
#   intruder reads registers 0-9, writes FC 6 (3 = 555), FC 16 (4-6), FC 5 (coil 7),
#            FC 15 (coils 8-12)
#   reader   reads registers 0-9 and coils 0-9, nothing else
import sys
import time

from pymodbus.client import ModbusTcpClient

host, port, bind, role = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = ModbusTcpClient(host, port=port, source_address=(bind, 0))
if not c.connect():
    sys.exit("cannot connect from " + bind)


def ok(what, rr):
    if rr.isError():
        sys.exit("%s: %r" % (what, rr))
    print(what, rr, getattr(rr, "registers", ""))
    time.sleep(0.1)
    return rr


rr = ok("fc3 0-9", c.read_holding_registers(0, 10, slave=1))
if role == "writer":
    ok("fc6 1=1234", c.write_register(1, 1234, slave=1))
    ok("fc16 10-12", c.write_registers(10, [1, 2, 3], slave=1))
    ok("fc5 coil 1", c.write_coil(1, True, slave=1))
    ok("fc15 coils 20-22", c.write_coils(20, [True, False, True], slave=1))
    ok("fc3 back", c.read_holding_registers(0, 13, slave=1))
elif role == "intruder":
    if rr.registers[3] != 103:
        sys.exit("register 3 holds %d, expected 103" % rr.registers[3])
    ok("fc6 3=555", c.write_register(3, 555, slave=1))
    ok("fc16 4-6", c.write_registers(4, [11, 12, 13], slave=1))
    ok("fc5 coil 7", c.write_coil(7, True, slave=1))
    ok("fc15 coils 8-12", c.write_coils(8, [True, False, True, True, False], slave=1))
elif role == "reader":
    ok("fc1 0-9", c.read_coils(0, 10, slave=1))
else:
    sys.exit("unknown role " + role)
c.close()
EOF

cat >"$tmp/pclient.py" <<'EOF'
# pclient.py HOST PORT CLIENT_ID BIND [-5] [-s FILTER]... [-p TOPIC]... [-w SECONDS] [-e TOPIC]
# One paho session from address BIND: subscribes (QoS 1, waits for the SUBACK), publishes
# (QoS 1, waits for the PUBACK), stays WAIT seconds, disconnects. -e: fail unless a
# message on TOPIC arrived by then.
import argparse
import threading
import time

import paho.mqtt.client as mqtt

a = argparse.ArgumentParser()
a.add_argument("host")
a.add_argument("port", type=int)
a.add_argument("cid")
a.add_argument("bind")
a.add_argument("-5", dest="v5", action="store_true")
a.add_argument("-s", dest="subs", action="append", default=[])
a.add_argument("-p", dest="pubs", action="append", default=[])
a.add_argument("-w", dest="wait", type=float, default=0.3)
a.add_argument("-e", dest="expect")
o = a.parse_args()

connected, subscribed, got = threading.Event(), threading.Event(), []
c = mqtt.Client(client_id=o.cid, protocol=mqtt.MQTTv5 if o.v5 else mqtt.MQTTv311)
c.on_connect = lambda *x: connected.set()
c.on_subscribe = lambda *x: subscribed.set()
c.on_message = lambda cl, u, m: (got.append(m.topic), print("got", m.topic, m.payload))
c.connect(o.host, o.port, keepalive=30, bind_address=o.bind)
c.loop_start()
if not connected.wait(5):
    raise SystemExit(o.cid + ": no CONNACK")
for f in o.subs:
    subscribed.clear()
    c.subscribe(f, qos=1)
    if not subscribed.wait(5):
        raise SystemExit(o.cid + ": no SUBACK for " + f)
    time.sleep(0.2)
for t in o.pubs:
    c.publish(t, b'{"t":21.5}', qos=1).wait_for_publish()
    time.sleep(0.2)
time.sleep(o.wait)
c.disconnect()
c.loop_stop()
if o.expect and o.expect not in got:
    raise SystemExit(o.cid + ": nothing arrived on " + o.expect)
EOF

cat >"$tmp/conflict.py" <<'EOF'
# conflict.py HOST PORT CLIENT_ID BIND1 BIND2: the same client id from two addresses at once.
# The first session is driven by hand (loop(), never loop_forever/loop_start), so paho
# does not reconnect when the broker closes it on the takeover.
import sys
import time

import paho.mqtt.client as mqtt

host, port, cid, bind1, bind2 = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
state = {}


def session(name, bind):
    c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv311)
    c.on_connect = lambda cl, u, f, rc: state.__setitem__(name, "up" if rc == 0 else "refused")
    c.on_disconnect = lambda cl, u, rc: state.__setitem__(name, "down")
    c.connect(host, port, keepalive=30, bind_address=bind)
    for _ in range(50):
        c.loop(timeout=0.1)
        if state.get(name) == "up":
            return c
    sys.exit(name + ": no CONNACK")


def pump(c, seconds):
    end = time.time() + seconds
    while time.time() < end:
        c.loop(timeout=0.05)


first = session("first", bind1)
first.publish("dt/%s/telemetry" % cid, b'{"t":1}', qos=1)
pump(first, 1.0)
second = session("second", bind2)  # the broker closes the first session now
pump(first, 0.5)
pump(second, 0.2)
second.publish("dt/%s/telemetry" % cid, b'{"t":2}', qos=1)
pump(second, 0.5)
second.disconnect()
pump(second, 0.2)
print("first:", state.get("first"), "second:", state.get("second"))
if state.get("first") != "down":
    sys.exit("the broker did not close the first session")
EOF

# ---- the configurations the test replays with ------------------------------------------
mqtt_rules="  mqtt:
    trusted_clients: [\"ops-*\"]
    publish_namespaces: [\"dt/{client_id}/#\"]
    subscribe_namespaces: [\"cmd/{client_id}/#\"]
    shared_credentials_max: $shared_max
  cert:
    flood_min_devices: $flood_min
    flood_window: ${flood_window}s"
modbus_rules="  modbus:
    allowed_writers: [$writer_ok]"
yaml_head="# Written by pcaps/make-rules-mqtt.sh; tests/integration/test_rules_mqtt.sh replays"
{
	echo "$yaml_head rules-mqtt.pcap with it."
	printf 'rules:\n%s\n' "$mqtt_rules"
} >"$tmp/rules-mqtt.yaml"
{
	echo "$yaml_head rules-modbus.pcap with it."
	printf 'rules:\n%s\n' "$modbus_rules"
} >"$tmp/rules-modbus.yaml"
{
	echo "$yaml_head rules-clean.pcap with it: the settings of rules-mqtt.yaml and rules-modbus.yaml."
	printf 'rules:\n%s\n%s\n' "$mqtt_rules" "$modbus_rules"
} >"$tmp/rules-clean.yaml"
if [ -x "$here/../iotwatch" ]; then
	for n in $names; do
		"$here/../iotwatch" --check-config -c "$tmp/$n.yaml" >"$tmp/$n.check" 2>&1 ||
			die "$n.yaml: $(cat "$tmp/$n.check")"
	done
fi

# ---- expected alerts: written as the scenario runs ---------------------------------------
# expect NAME RULE DEVICE SEVERITY EVIDENCE
for n in $names; do : >"$tmp/$n.alerts.tsv"; done
expect() { printf '%s\t%s\t%s\t%s\n' "$2" "$3" "$4" "$5" >>"$tmp/$1.alerts.tsv"; }

# ---- capture helpers ----------------------------------------------------------------------
filter="host $addr and (tcp port $port or tcp port $authport or tcp port $mbport)"
capture() {
	start "tcpdump-$1" tcpdump -i lo -U -n -s 0 -w "$tmp/$1.pcap" "$filter"
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
# msub NAME MOSQUITTO_SUB-ARGS...: a subscriber in the background, on 1883
msub() {
	local n=$1
	shift
	start "sub-$n" mosquitto_sub -h "$addr" -p "$port" -i "$n" -q 1 "$@" -v
	sleep 0.5
	kill -0 "${pid_of[sub-$n]}" 2>/dev/null || die "subscriber $n exited: $(cat "$tmp/sub-$n.log")"
}
pclient() { # LOG ARGS...: pclient.py in the foreground
	local n=$1
	shift
	$py "$tmp/pclient.py" "$@" >"$tmp/$n.log" 2>&1 || die "paho client $n failed: $(tail -3 "$tmp/$n.log")"
	sleep 0.3
}
mpub() { mosquitto_pub -h "$addr" "$@"; }

start mosquitto mosquitto -c "$tmp/mosquitto.conf"
start mbserver "$py" "$tmp/mbserver.py" "$addr" "$mbport"
wait_for "$port"
wait_for "$authport"
wait_for "$mbport"
sleep 0.5

# ==== rules-mqtt.pcap =========================================================================
n=rules-mqtt
log "$n: subscribers"
capture $n
# 1. wildcard subscribers; each filter is also outside cmd/<id>/#: a topic violation too
msub scanner -t '#'
expect $n mqtt.wildcard_subscribe scanner high "filter=#;client_id=scanner;qos=1"
expect $n mqtt.topic_violation scanner medium "action=subscribe;topic=#;client_id=scanner;namespaces=cmd/scanner/#"
msub dev-7 -t 'dt/+/telemetry'
expect $n mqtt.wildcard_subscribe dev-7 medium "filter=dt/+/telemetry;client_id=dev-7;qos=1"
expect $n mqtt.topic_violation dev-7 medium "action=subscribe;topic=dt/+/telemetry;client_id=dev-7;namespaces=cmd/dev-7/#"
msub dev-8 -t '$SYS/#'
expect $n mqtt.wildcard_subscribe dev-8 high "filter=\$SYS/#;client_id=dev-8;qos=1"
expect $n mqtt.topic_violation dev-8 medium "action=subscribe;topic=\$SYS/#;client_id=dev-8;namespaces=cmd/dev-8/#"
msub dev-9 -V mqttv5 -t '$share/grp/dt/#'
# judged on dt/#: medium. Whether the violation's `topic` is the filter as sent or the
# filter without $share/grp/ is not in the contract, so it is not compared.
expect $n mqtt.wildcard_subscribe dev-9 medium "filter=\$share/grp/dt/#;client_id=dev-9;qos=1;shared_group=grp"
expect $n mqtt.topic_violation dev-9 medium "action=subscribe;client_id=dev-9;namespaces=cmd/dev-9/#"
msub ops-console -t '#' # trusted (ops-*): nothing
# 2. dev-5 stays inside dt/dev-5/# and cmd/dev-5/#, without a wildcard: nothing
log "$n: namespaces"
pclient dev-5 "$addr" "$port" dev-5 127.0.0.5 -s cmd/dev-5/reboot -p dt/dev-5/telemetry
# 3. dev-3 publishes into dev-4's tree and subscribes to dev-4's commands
pclient dev-3 "$addr" "$port" dev-3 127.0.0.3 -p dt/dev-4/telemetry -s 'cmd/dev-4/#'
expect $n mqtt.topic_violation dev-3 medium "action=publish;topic=dt/dev-4/telemetry;client_id=dev-3;namespaces=dt/dev-3/#"
expect $n mqtt.topic_violation dev-3 medium "action=subscribe;topic=cmd/dev-4/#;client_id=dev-3;namespaces=cmd/dev-3/#"
expect $n mqtt.wildcard_subscribe dev-3 medium "filter=cmd/dev-4/#;client_id=dev-3;qos=1"
# 4. a password in clear text
log "$n: credentials"
mpub -p "$port" -i dev-2 -u dev-2 -P "$dev2_pass" -q 1 -t dt/dev-2/telemetry -m '{"t":20.1}' ||
	die "dev-2 was refused"
expect $n mqtt.cleartext_credentials dev-2 high "username=dev-2;client_id=dev-2;password_present=true;websocket=false"
sleep 0.3
# 5. one client id from two addresses at once
log "$n: client id conflict"
$py "$tmp/conflict.py" "$addr" "$port" dev-6 127.0.0.6 127.0.0.7 >"$tmp/conflict.log" 2>&1 ||
	die "conflict.py failed: $(tail -3 "$tmp/conflict.log")"
expect $n mqtt.client_id_conflict dev-6 medium "client_id=dev-6;addresses=127.0.0.6,127.0.0.7"
sleep 0.3
# 6. one username, shared_max + 1 client ids, each with the password in clear text
log "$n: shared credentials"
for i in $(seq -f %02g 1 $((shared_max + 1))); do
	mpub -p "$port" -i "sensor-$i" -u "$fleet_user" -P "$fleet_pass" -q 1 \
		-t "dt/sensor-$i/telemetry" -m '{"t":18.0}' || die "sensor-$i was refused"
	expect $n mqtt.cleartext_credentials "sensor-$i" high \
		"username=$fleet_user;client_id=sensor-$i;password_present=true;websocket=false"
	sleep 0.2
done
expect $n mqtt.shared_credentials - high \
	"username=$fleet_user;client_ids=$((shared_max + 1));shared_credentials_max=$shared_max"
# 7. flood_min devices refused within a few seconds: a reactive expiry storm. Each meter
# has its own username (so `meter` is not a shared credential) and sends no password (so
# it is not a cleartext credential); the broker refuses with CONNACK 5, not authorized.
log "$n: $flood_min refused logins on $authport"
for i in $(seq -f %02g 1 "$flood_min"); do
	if mpub -p "$authport" -i "meter-$i" -u "meter-$i" -q 1 -t "dt/meter-$i/telemetry" -m x \
		>"$tmp/meter-$i.log" 2>&1; then
		die "meter-$i was accepted on $authport"
	fi
	grep -qi 'not authori' "$tmp/meter-$i.log" || die "meter-$i: $(cat "$tmp/meter-$i.log")"
	sleep 0.1
done
expect $n tls.cert_expiry_storm - critical \
	"kind=reactive;devices=$flood_min;flood_min_devices=$flood_min;window_s=$flood_window;reasons=mqtt:not_authorized"
sleep 0.3
# 8. the subscribers leave
for s in scanner dev-7 dev-8 dev-9 ops-console; do stop "sub-$s"; done
grep -q '^dt/dev-4/telemetry' "$tmp/sub-scanner.log" || die "scanner did not get dev-3's message"
uncapture $n

# ==== rules-modbus.pcap =======================================================================
n=rules-modbus
log "$n"
capture $n
$py "$tmp/mbclient.py" "$addr" "$mbport" "$writer_ok" writer >"$tmp/mb-a.log" 2>&1 ||
	die "modbus client A failed: $(tail -3 "$tmp/mb-a.log")"
sleep 0.5
$py "$tmp/mbclient.py" "$addr" "$mbport" "$writer_bad" intruder >"$tmp/mb-b.log" 2>&1 ||
	die "modbus client B failed: $(tail -3 "$tmp/mb-b.log")"
w="writer=$writer_bad;server=$addr;unit=1"
expect $n modbus.unauthorized_write "$writer_bad" high "$w;function_code=6;address=3;old_value=103;new_value=555"
expect $n modbus.unauthorized_write "$writer_bad" high "$w;function_code=16;address=4;quantity=3"
expect $n modbus.unauthorized_write "$writer_bad" high "$w;function_code=5;address=7"
expect $n modbus.unauthorized_write "$writer_bad" high "$w;function_code=15;address=8;quantity=5"
uncapture $n

# ==== rules-clean.pcap ========================================================================
n=rules-clean
log "$n"
capture $n
start dev-1 "$py" "$tmp/pclient.py" "$addr" "$port" dev-1 127.0.0.11 -s cmd/dev-1/reboot \
	-p dt/dev-1/telemetry -w 2 -e cmd/dev-1/reboot
sleep 1
mpub -p "$port" -i ops-console -q 1 -t cmd/dev-1/reboot -m now || die "ops-console was refused"
wait "${pid_of[dev-1]}" || die "dev-1 failed: $(tail -3 "$tmp/dev-1.log")"
sleep 0.3
mpub -p "$port" -V mqttv5 -i dev-12 -q 2 -t dt/dev-12/telemetry -m '{"t":17.2}' || die "dev-12 was refused"
sleep 0.3
mpub -p "$port" -i dev-13 -q 0 -t dt/dev-13/status -m online || die "dev-13 was refused"
sleep 0.3
$py "$tmp/mbclient.py" "$addr" "$mbport" "$writer_ok" writer >"$tmp/mb-c.log" 2>&1 ||
	die "modbus client A failed: $(tail -3 "$tmp/mb-c.log")"
sleep 0.3
$py "$tmp/mbclient.py" "$addr" "$mbport" "$writer_bad" reader >"$tmp/mb-d.log" 2>&1 ||
	die "modbus reader failed: $(tail -3 "$tmp/mb-d.log")"
uncapture $n

stop mbserver
stop mosquitto
sleep 0.5

# ---- check and count ----------------------------------------------------------------------
# rows.py PCAP: one `key<TAB>value` per line, read from tshark's JSON (several MQTT
# messages in one frame are each counted). Lists are sorted and comma-joined.
cat >"$tmp/rows.py" <<'EOF'
import collections
import json
import subprocess
import sys

pcap, ports, mbport = sys.argv[1], {int(p) for p in sys.argv[2].split(",")}, int(sys.argv[3])
# tshark knows MQTT on 1883 only: the password-only listener needs a decode-as
da = sum((["-d", "tcp.port==%d,mqtt" % p] for p in sorted(ports) if p != 1883), [])
out = subprocess.run(["tshark", "-r", pcap] + da + ["-T", "json", "--no-duplicate-keys",
                      "-J", "frame ip tcp mqtt mbtcp modbus"],
                     check=True, capture_output=True, text=True).stdout
frames = json.loads(out) if out.strip() else []


def many(x):
    return x if isinstance(x, list) else ([] if x is None else [x])


def regs(m):  # {register: value} from a modbus layer's "Register N" subtrees
    r = {}
    for k, v in m.items():
        if k.startswith("Register ") and isinstance(v, dict):
            for n, val in zip(many(v.get("modbus.regnum16")), many(v.get("modbus.regval_uint16"))):
                r[int(n)] = int(val)
    return r


c = collections.Counter()
cid_of, addrs_of = {}, collections.defaultdict(set)
refused, refused_t, refused_codes = [], [], set()
password_users, subs, pubs, v5 = [], [], set(), []
mb_writes, mb_reads, fc6 = [], [], []
streams = set()
for f in frames:
    l = f["_source"]["layers"]
    tcp = l.get("tcp", {})
    stream, t = tcp.get("tcp.stream"), float(l["frame"]["frame.time_epoch"])
    src = l.get("ip", {}).get("ip.src")
    sport, dport = int(tcp.get("tcp.srcport", 0)), int(tcp.get("tcp.dstport", 0))
    streams.add(stream)
    c["packets"] += 1
    up = dport in ports
    for m in many(l.get("mqtt")):
        if not isinstance(m, dict) or "mqtt.hdrflags" not in m:
            continue
        typ = int(m["mqtt.hdrflags"], 16) >> 4
        c["mqtt_messages"] += 1
        name = {1: "connect", 2: "connack", 3: "publish", 8: "subscribe", 9: "suback",
                14: "disconnect"}.get(typ)
        if name:
            c["mqtt_" + name] += 1
        cid = cid_of.get(stream, "?")
        if typ == 1:
            cid = cid_of[stream] = m.get("mqtt.clientid", "")
            addrs_of[cid].add(src)
            flags = int(m.get("mqtt.conflags", "0"), 16)
            if m.get("mqtt.ver") == "5":
                v5.append(cid)
            if flags & 0x40:
                c["mqtt_connect_password"] += 1
                password_users.append("%s:%s@%d" % (m.get("mqtt.username", ""), cid, dport))
        elif typ == 2:
            code = m.get("mqtt.conack.val", m.get("mqtt.connack.reason_code", "0"))
            if int(code) != 0:
                c["mqtt_connack_refused"] += 1
                refused.append("%s@%d" % (cid, sport))
                refused_t.append(t)
                refused_codes.add(code)
        elif typ == 8 and up:
            for topic in many(m.get("mqtt.topic")):
                subs.append("%s:%s" % (cid, topic))
        elif typ == 3 and up:
            pubs.add("%s:%s" % (cid, m.get("mqtt.topic")))
    mb = many(l.get("modbus"))
    units = many(l.get("mbtcp", {}).get("mbtcp.unit_id")) if isinstance(l.get("mbtcp"), dict) else []
    for m in mb:
        fc = int(m.get("modbus.func_code", "0"))
        c["modbus_adus"] += 1
        if dport == mbport:
            c["modbus_requests"] += 1
            if fc in (5, 6, 15, 16, 22, 23):
                c["modbus_writes_fc_%d" % fc] += 1
                ref = m.get("modbus.reference_num")
                qty = m.get("modbus.word_cnt") or m.get("modbus.bit_cnt") or "1"
                mb_writes.append("%s:fc%d@%s*%s" % (src, fc, ref, qty))
                if fc == 6:
                    data = m.get("modbus.data", "").replace(":", "")
                    fc6.append("%s:%s=%d" % (src, ref, int(data, 16)))
        elif fc == 3 and "modbus.exception_code" not in m:
            r = regs(m)
            if 3 in r:
                mb_reads.append("%s:3=%d" % (l["ip"]["ip.dst"], r[3]))

c["tcp_streams"] = len(streams)
c["malformed"] = int(subprocess.run(["tshark", "-r", pcap] + da + ["-Y", "_ws.malformed"],
                                    capture_output=True, text=True).stdout.count("\n"))
keys = ["packets", "tcp_streams", "mqtt_messages", "mqtt_connect", "mqtt_connack",
        "mqtt_connack_refused", "mqtt_connect_password", "mqtt_publish", "mqtt_subscribe",
        "mqtt_suback", "mqtt_disconnect", "modbus_adus", "modbus_requests",
        "modbus_writes_fc_5", "modbus_writes_fc_6", "modbus_writes_fc_15", "modbus_writes_fc_16",
        "modbus_writes_fc_22", "modbus_writes_fc_23", "malformed"]
for k in keys:
    print("%s\t%d" % (k, c[k]))
j = lambda xs: ",".join(sorted(xs)) or "-"
print("mqtt_refused_codes\t" + j(refused_codes))
print("mqtt_refused_span_s\t%.1f" % ((max(refused_t) - min(refused_t)) if refused_t else 0))
print("mqtt_refused\t" + j(refused))
print("mqtt_password_logins\t" + j(password_users))
print("mqtt_v5_clients\t" + j(v5))
print("mqtt_subscriptions\t" + j(subs))
print("mqtt_client_publishes\t" + j(pubs))
print("mqtt_multi_address_ids\t" + j("%s=%s" % (k, "+".join(sorted(v))) for k, v in addrs_of.items() if len(v) > 1))
print("modbus_writes\t" + j(mb_writes))
print("modbus_fc6_values\t" + j(fc6))
print("modbus_fc3_register3\t" + j(mb_reads))
EOF

got() { awk -F'\t' -v k="$2" '$1 == k {print $2}' "$tmp/$1.expected.tsv"; }
want() { # NAME KEY VALUE
	local v
	v=$(got "$1" "$2")
	[ "$v" = "$3" ] || die "$1: $2 is '$v', expected '$3' (stray traffic on the ports?)"
}

total=0
for n in $names; do
	f=$tmp/$n.pcap
	size=$(stat -c %s "$f")
	total=$((total + size))
	$py "$tmp/rows.py" "$f" "$port,$authport" "$mbport" >"$tmp/$n.expected.tsv" ||
		die "$n: tshark's rows failed"
	want "$n" malformed 0
done
[ "$total" -lt 200000 ] || die "captures are $total bytes, over the 200 KB budget"

# rules-mqtt: 5 subscribers + dev-5 + dev-3 + dev-2 + dev-6 twice + 6 sensors + 20 meters
n=rules-mqtt
want $n mqtt_connect $((5 + 1 + 1 + 1 + 2 + shared_max + 1 + flood_min))
want $n mqtt_connack_refused "$flood_min"
want $n mqtt_refused_codes 5
want $n mqtt_refused "$(for i in $(seq -f %02g 1 "$flood_min"); do echo "meter-$i@$authport"; done | sort | paste -sd,)"
awk -v s="$(got $n mqtt_refused_span_s)" -v w="$flood_window" 'BEGIN { exit !(s < w) }' ||
	die "$n: the refusals span $(got $n mqtt_refused_span_s) s, not within ${flood_window} s"
want $n mqtt_connect_password $((1 + shared_max + 1))
want $n mqtt_password_logins "$({
	echo "dev-2:dev-2@$port"
	for i in $(seq -f %02g 1 $((shared_max + 1))); do echo "$fleet_user:sensor-$i@$port"; done
} | sort | paste -sd,)"
want $n mqtt_v5_clients dev-9
want $n mqtt_subscriptions "$(printf '%s\n' 'scanner:#' 'dev-7:dt/+/telemetry' 'dev-8:$SYS/#' \
	'dev-9:$share/grp/dt/#' 'ops-console:#' 'dev-5:cmd/dev-5/reboot' 'dev-3:cmd/dev-4/#' | sort | paste -sd,)"
want $n mqtt_client_publishes "$({
	printf '%s\n' dev-5:dt/dev-5/telemetry dev-3:dt/dev-4/telemetry dev-2:dt/dev-2/telemetry dev-6:dt/dev-6/telemetry
	for i in $(seq -f %02g 1 $((shared_max + 1))); do echo "sensor-$i:dt/sensor-$i/telemetry"; done
} | sort | paste -sd,)"
want $n mqtt_multi_address_ids "dev-6=127.0.0.6+127.0.0.7"
want $n modbus_adus 0

n=rules-modbus
want $n tcp_streams 2
want $n mqtt_messages 0
want $n modbus_writes "$(printf '%s\n' "$writer_ok:fc6@1*1" "$writer_ok:fc16@10*3" "$writer_ok:fc5@1*1" \
	"$writer_ok:fc15@20*3" "$writer_bad:fc6@3*1" "$writer_bad:fc16@4*3" "$writer_bad:fc5@7*1" \
	"$writer_bad:fc15@8*5" | sort | paste -sd,)"
want $n modbus_fc6_values "$writer_ok:1=1234,$writer_bad:3=555"
# the old value of register 3 as B read it before writing (A's reads see it too)
want $n modbus_fc3_register3 "$writer_ok:3=103,$writer_ok:3=103,$writer_bad:3=103"

n=rules-clean
want $n mqtt_connect 4
want $n mqtt_connack_refused 0
want $n mqtt_connect_password 0
want $n mqtt_subscriptions dev-1:cmd/dev-1/reboot
want $n mqtt_client_publishes "$(printf '%s\n' dev-1:dt/dev-1/telemetry dev-12:dt/dev-12/telemetry \
	dev-13:dt/dev-13/status ops-console:cmd/dev-1/reboot | sort | paste -sd,)"
want $n modbus_writes "$(printf '%s\n' "$writer_ok:fc6@1*1" "$writer_ok:fc16@10*3" "$writer_ok:fc5@1*1" \
	"$writer_ok:fc15@20*3" | sort | paste -sd,)"
[ -s "$tmp/$n.alerts.tsv" ] && die "$n: the clean capture expects alerts"

# the alert lists agree with the scenario's counts
[ "$(wc -l <"$tmp/rules-mqtt.alerts.tsv")" = 21 ] || die "rules-mqtt: $(wc -l <"$tmp/rules-mqtt.alerts.tsv") expected alerts, the scenario has 21"
[ "$(wc -l <"$tmp/rules-modbus.alerts.tsv")" = 4 ] || die "rules-modbus: expected alerts are not 4"

for n in $names; do
	for x in pcap expected.tsv alerts.tsv yaml; do
		mv "$tmp/$n.$x" "$here/$n.$x"
		chown "$(stat -c %u:%g "$here")" "$here/$n.$x"
		chmod 644 "$here/$n.$x"
	done
	log "wrote $n.pcap ($(stat -c %s "$here/$n.pcap") bytes), .expected.tsv, .alerts.tsv ($(wc -l <"$here/$n.alerts.tsv") alerts), .yaml"
done
