#!/usr/bin/env bash
# Makes pcaps/dns-dnsmasq.pcap and pcaps/dns-dnsmasq.expected.tsv: DNS from dig (Debian 12
# bind9-dnsutils) asking dnsmasq over UDP and TCP on port 53 of a loopback address that
# is not the system's resolver (127.0.0.53, or the next free 127.0.x.53), then short TCP
# connections to the addresses the answers gave, so that a sensor can tie a connection
# to the name looked up. Captured with tcpdump on lo. Nothing is hand-crafted and
# nothing leaves 127.0.0.0/8. dnsmasq runs with --no-resolv: every answer is local.
#
# dnsmasq's local data:
#   data.tunneling.iot.ap-south-1.amazonaws.com  A 127.0.1.10   (AWS IoT Secure Tunneling)
#   mqtt.plant.example  CNAME a1b2c3d4e5-ats.iot.eu-west-1.amazonaws.com  A 127.0.1.11
#                       (a custom domain in front of an AWS IoT Core ATS endpoint)
#   myhub.azure-devices.net  A 127.0.1.12, AAAA fd00::12    (Azure IoT Hub)
#   plant.example  MX 10 mail.plant.example (A 127.0.1.20), TXT "v=spf1 -all" "iot fleet eu"
#   _mqtt._tcp.plant.example  SRV 10 5 8883 mqtt.plant.example
#   plant.example is --local: any other name in it is NXDOMAIN (nope.plant.example)
#
# What the capture holds, in order:
#   UDP: A for each of the three endpoint names, each answer followed by one TCP
#        connection from 127.0.0.1 to the address it gave, port 8883, where a small
#        python3 listener sends a fake banner and closes; AAAA myhub, MX, TXT, SRV,
#        A nope.plant.example (NXDOMAIN), PTR 10.1.0.127.in-addr.arpa;
#   TCP: one connection per dig (+tcp): A mqtt.plant.example (then its TCP connection),
#        AAAA myhub, TXT, SRV; then one connection carrying two queries (+keepopen: A
#        data.tunneling..., then A myhub..., each followed by its TCP connection).
# dig sends EDNS with a cookie (its default), so queries and answers carry an OPT record.
#
# Usage: bash pcaps/make-dns.sh   (as root on Debian 12; installs what is missing)
# Safe to run again; the old files are replaced only when the new capture passes its
# checks. Every process it starts is stopped by pid whatever way it exits.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name=dns-dnsmasq
out_pcap=$here/$name.pcap
out_tsv=$here/$name.expected.tsv
dns_port=53
app_port=8883
tunnel=data.tunneling.iot.ap-south-1.amazonaws.com
custom=mqtt.plant.example
ats=a1b2c3d4e5-ats.iot.eu-west-1.amazonaws.com
hub=myhub.azure-devices.net
declare -A addr_of=([$tunnel]=127.0.1.10 [$custom]=127.0.1.11 [$hub]=127.0.1.12)

tag=make-dns
# shellcheck source=pcaps/lib.sh
. "$(dirname "$0")/lib.sh"

# wait_for PROTO ADDR PORT: until a socket listens there (ss, so nothing goes on the wire).
wait_for() {
	local flag=-lnt i
	[ "$1" = udp ] && flag=-lnu
	for i in $(seq 50); do
		ss -H "$flag" "src $2 and sport = :$3" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on $1 $2:$3"
}

busy() { ss -H -lntu "sport = :$2" | awk '{print $5}' | grep -qE "^($1|0\.0\.0\.0|\*|\[::\]):$2\$"; }

need_pkgs dnsmasq bind9-dnsutils tcpdump tshark iproute2 python3
[ "$(id -u)" = 0 ] || die "run as root (tcpdump and dnsmasq on port 53 need it)"
tmp=$(mktemp -d /tmp/iotwatch-dns.XXXXXX)
chmod 755 "$tmp"

dns_addr=""
for a in 127.0.0.53 127.0.1.53 127.0.2.53 127.0.3.53; do
	grep -q "^nameserver $a\$" /etc/resolv.conf && continue # never the system's resolver
	busy "$a" "$dns_port" || {
		dns_addr=$a
		break
	}
done
[ -n "$dns_addr" ] || die "port $dns_port is busy on every loopback address tried"
for a in "${addr_of[@]}"; do
	busy "$a" "$app_port" && die "$a:$app_port is in use; stop that first"
done

# The "brokers": one listener per resolved address; each connection gets a banner.
cat >"$tmp/listen.py" <<'EOF'
import selectors, socket, sys
port, addrs = int(sys.argv[1]), sys.argv[2:]
sel = selectors.DefaultSelector()
for a in addrs:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a, port))
    s.listen(8)
    sel.register(s, selectors.EVENT_READ)
print("listening", flush=True)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        c.sendall(b"FAKE-BROKER 1.0 ready\r\n")
        c.settimeout(2)
        try:
            c.recv(64)  # the client's line, or its FIN
        except OSError:
            pass
        c.close()
EOF
# connect ADDR: one short TCP session from 127.0.0.1: read the banner, say hello, close.
connect() {
	python3 - "$1" "$app_port" >>"$tmp/connect.log" 2>&1 <<'EOF' || die "connection to $1:$app_port failed: $(tail -3 "$tmp/connect.log")"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3, source_address=("127.0.0.1", 0))
banner = s.recv(64)
assert banner.startswith(b"FAKE-BROKER"), banner
s.sendall(b"HELLO\r\n")
s.shutdown(socket.SHUT_WR)
s.recv(64)
s.close()
EOF
	sleep 0.3
}
q() {
	dig @"$dns_addr" -p "$dns_port" +tries=1 +time=3 "$@" >>"$tmp/dig.log" 2>&1 ||
		die "dig $* failed: $(tail -5 "$tmp/dig.log")"
	sleep 0.3
}
# a NAME [DIG ARGS]: an A query, then the check of its answer and a connection to it.
a() {
	local n=$1 want=${addr_of[$1]}
	shift
	local got
	got=$(dig @"$dns_addr" -p "$dns_port" +tries=1 +time=3 +short "$@" "$n" A | tail -1)
	[ "$got" = "$want" ] || die "$n A: got '$got', expected $want"
	sleep 0.2
	connect "$want"
}

# ---- capture ----------------------------------------------------------------------------
filter="(host $dns_addr and port $dns_port)"
filter="$filter or (tcp port $app_port and (host ${addr_of[$tunnel]} or host ${addr_of[$custom]} or host ${addr_of[$hub]}))"
start tcpdump tcpdump -i lo -U -n -w "$tmp/$name.pcap" "$filter"
for i in $(seq 50); do
	grep -q 'listening on' "$tmp/tcpdump.log" && break
	sleep 0.1
done
grep -q 'listening on' "$tmp/tcpdump.log" || die "tcpdump did not start: $(cat "$tmp/tcpdump.log")"

start listen python3 "$tmp/listen.py" "$app_port" "${addr_of[@]}"
# The records go in a configuration file: there dnsmasq takes the quotes of TXT strings
# as quoting (on its command line they would be part of the text).
cat >"$tmp/dnsmasq.conf" <<EOF
no-hosts
no-resolv
port=$dns_port
listen-address=$dns_addr
bind-interfaces
log-facility=-
log-queries
local-ttl=300
local=/plant.example/
host-record=$tunnel,${addr_of[$tunnel]}
host-record=$ats,${addr_of[$custom]}
cname=$custom,$ats,600
host-record=$hub,${addr_of[$hub]},fd00::12
host-record=mail.plant.example,127.0.1.20
mx-host=plant.example,mail.plant.example,10
txt-record=plant.example,"v=spf1 -all","iot fleet eu"
srv-host=_mqtt._tcp.plant.example,$custom,8883,10,5
EOF
chmod 644 "$tmp/dnsmasq.conf"
start dnsmasq dnsmasq --no-daemon --conf-file="$tmp/dnsmasq.conf" --pid-file
wait_for udp "$dns_addr" "$dns_port"
wait_for tcp "$dns_addr" "$dns_port"
for a in "${addr_of[@]}"; do wait_for tcp "$a" "$app_port"; done
sleep 0.5

log "udp"
a "$tunnel"
a "$custom"
a "$hub"
q "$hub" AAAA
q plant.example MX
q plant.example TXT
q _mqtt._tcp.plant.example SRV
q nope.plant.example A
q -x "${addr_of[$tunnel]}"

log "tcp"
a "$custom" +tcp
q +tcp "$hub" AAAA
q +tcp plant.example TXT
q +tcp _mqtt._tcp.plant.example SRV
# two queries on one connection
dig @"$dns_addr" -p "$dns_port" +tries=1 +time=3 +tcp +keepopen +short "$tunnel" A "$hub" A >"$tmp/keepopen.log" 2>&1 ||
	die "dig +keepopen failed: $(cat "$tmp/keepopen.log")"
[ "$(tr '\n' ' ' <"$tmp/keepopen.log")" = "${addr_of[$tunnel]} ${addr_of[$hub]} " ] ||
	die "dig +keepopen: $(cat "$tmp/keepopen.log")"
sleep 0.2
connect "${addr_of[$tunnel]}"
connect "${addr_of[$hub]}"

stop dnsmasq
stop listen
sleep 1
stop tcpdump

# ---- check and describe -----------------------------------------------------------------
f=$tmp/$name.pcap
size=$(stat -c %s "$f")
[ "$size" -lt 50000 ] || die "capture is $size bytes, over the 50 KB budget"
malformed=$(tshark -r "$f" -Y _ws.malformed 2>/dev/null | wc -l)
[ "$malformed" = 0 ] || die "$malformed malformed frames"
grep -q 'NXDOMAIN' "$tmp/dig.log" || die "no NXDOMAIN for nope.plant.example"

# One line per DNS message (a TCP segment may carry more than one), from tshark's JSON:
# only the answer section is listed, as name/type/ttl/data separated by spaces (data:
# the address, the name, "pref exchange" for MX, "prio weight port target" for SRV, the
# strings joined by commas for TXT).
tshark -r "$f" -Y dns -T json --no-duplicate-keys 2>/dev/null | python3 -c '
import json, sys
def many(v):
    return v if isinstance(v, list) else [v]
print("\t".join(["frame", "transport", "id", "response", "rcode", "qname", "qtype", "answers",
                 "answer_records"]))
for pkt in json.load(sys.stdin):
    layers = pkt["_source"]["layers"]
    frame = layers["frame"]["frame.number"]
    transport = "tcp" if "tcp" in layers else "udp"
    for d in many(layers["dns"]):
        fl = d.get("dns.flags_tree", {})
        q = [v for qs in many(d.get("Queries", {})) for k, v in qs.items()]
        q = [x for v in q for x in many(v)]
        recs = []
        for a in many(d.get("Answers", {})):
            for v in a.values():
                for r in many(v):
                    name = r.get("dns.resp.name")
                    if name is None and "dns.srv.service" in r:  # tshark splits an SRV owner
                        name = "%s.%s.%s" % (r["dns.srv.service"], r["dns.srv.proto"], r["dns.srv.name"])
                    if "dns.srv.target" in r:
                        data = "%s %s %s %s" % (r["dns.srv.priority"], r["dns.srv.weight"], r["dns.srv.port"],
                                                r["dns.srv.target"])
                    elif "dns.mx.mail_exchange" in r:
                        data = "%s %s" % (r["dns.mx.preference"], r["dns.mx.mail_exchange"])
                    elif "dns.txt" in r:
                        data = ",".join(many(r["dns.txt"]))
                    else:
                        data = r.get("dns.a") or r.get("dns.aaaa") or r.get("dns.cname") or r.get("dns.ptr.domain_name") \
                            or r.get("dns.ns") or ""
                    recs.append("%s/%s/%s/%s" % (name, r["dns.resp.type"], r["dns.resp.ttl"], data))
        print("\t".join([frame, transport, str(int(d["dns.id"], 16)), fl.get("dns.flags.response", ""),
                         fl.get("dns.flags.rcode", ""), q[0]["dns.qry.name"] if q else "",
                         q[0]["dns.qry.type"] if q else "", d.get("dns.count.answers", ""), " ".join(recs)]))
' >"$tmp/$name.expected.tsv"

# What the script did must be what the capture holds: 15 queries (9 UDP, 6 TCP on 5
# connections), each answered; 6 TCP connections to the three addresses on port 8883.
col() { awk -F'\t' -v c="$1" -v v="$2" 'NR > 1 && $c == v' "$tmp/$name.expected.tsv" | wc -l; }
want() { [ "$2" = "$3" ] || die "$1 is $2, expected $3 (stray traffic on these ports?)"; }
want "queries" "$(col 4 0)" 15
want "responses" "$(col 4 1)" 15
want "tcp dns messages" "$(col 2 tcp)" 12
want "nxdomain" "$(col 5 3)" 1
want "connections to port $app_port" \
	"$(tshark -r "$f" -Y "tcp.flags.syn == 1 and tcp.flags.ack == 0 and tcp.dstport == $app_port" 2>/dev/null | wc -l)" 6

mv "$f" "$out_pcap"
mv "$tmp/$name.expected.tsv" "$out_tsv"
chown "$(stat -c %u:%g "$here")" "$out_pcap" "$out_tsv"
chmod 644 "$out_pcap" "$out_tsv"
log "wrote $out_pcap ($size bytes) and $out_tsv:"
cat "$out_tsv" >&2
