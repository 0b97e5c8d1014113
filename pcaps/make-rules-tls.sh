#!/usr/bin/env bash
# Makes the captures that prove the TLS, tunnel and region rules (docs/rules.md), each with
# the alerts the sensor must raise on it with pcaps/rules-tls.yaml, written from the
# scenario this script runs (never from the sensor's output):
#
#   pcaps/rules-tls.pcap          mutual TLS 1.2 devices, region and renewal-loop sessions
#   pcaps/rules-tls-clean.pcap    the same kinds of traffic, raising nothing
#   pcaps/rules-tunnel-long.pcap  two SSH sessions: one stretched to 13 h, one of minutes
#   pcaps/<name>.alerts.tsv       the expected alerts, one a line:
#                                 rule<TAB>device_id<TAB>severity<TAB>key=value;key=value
#                                 (device_id "-" for fleet alerts; lists comma-joined)
#   pcaps/<name>.expected.tsv     what tshark counts in each capture (key<TAB>value)
#   pcaps/tls-tunnel-long.alerts.tsv  the alert of make-tls.sh's 13 h tunnel (that capture
#                                 is only read and checked here, never rewritten)
# tests/integration/test_rules_tls.sh compares the sensor's alerts with the .alerts.tsv files.
#
# Usage: bash pcaps/make-rules-tls.sh   (as root on Debian 12; installs what is missing)
# Needs: openssl (s_server, s_client, ca), openssh-server and -client, tcpdump, tshark,
# iproute2 (ss), python3 (stdlib only). Loopback only: servers on 127.0.0.1 ports 8443
# (mutual TLS: -Verify 1 -verify_return_error), 9443 (TLS, no client certificate) and 2223
# (a private sshd); every client binds its own 127.0.0.x address (s_client -bind, ssh -b).
# Keys and certificates live in a temp dir and are thrown away. Stops every process it
# started however it exits; replaces the committed files only when every check passes.
#
# Certificates (EC P-256, made with `openssl ca -startdate/-enddate`), dates relative to
# the day the script runs (D = today 00:00 UTC, now = the script's start):
#   IoTWatch Rules Test CA   D-365d .. D+3650d, self-signed
#   iot-endpoints.test       the servers' certificate, SANs for every SNI below
#   cam-01                   expires now+30d+2h         -> tls.cert_expiring medium, days_left 30
#   cam-02                   expired D-10d+06:00        -> rejected, tls.cert_expiring high
#   pump-01 .. pump-20       all expire D+200d 12:00    -> tls.cert_expiry_storm predicted
#   old-01 .. old-20         expired D-(10+N)d 06:00 (one a day: no predicted storm of
#                            their own) -> rejected within seconds: tls.cert_expiry_storm
#                            reactive, and one tls.cert_expiring high each
#   shared-cert              D+500d 12:00, used from two addresses -> tls.shared_certificate
#   clean-01 .. clean-20     D+100d+7(N-1)d 12:00: one a week, all beyond the 90 d lead
# Device certificates have the subject CN=<name> only, so the device id is <name>.
#
# rules-tls.pcap, in this order (TLS 1.2 everywhere, so client certificates, alerts and
# application data are visible; every session that succeeds sends one line and gets it
# back reversed from s_server -rev):
#   1. 127.0.0.11 cam-01, 127.0.0.12 cam-02 -> :8443, SNI a1b2c3-ats.iot.ap-south-1...
#   2. 127.0.0.21, 127.0.0.22 shared-cert   -> :8443 (one certificate, two addresses)
#   3. 127.0.1.N pump-NN (N = 1..20)        -> :8443
#   4. 127.0.0.31 no cert, SNI a1b2c3-ats.iot.ap-south-1.amazonaws.com -> :9443 (allowed)
#      127.0.0.32 no cert, SNI a1b2c3-ats.iot.us-east-1.amazonaws.com  -> :9443 (off region)
#   5. 127.0.0.41 no cert, SNI data.tunneling.iot.ap-south-1.amazonaws.com -> :9443, five
#      sessions one after another (a Secure Tunneling renewal loop: alert at the 4th)
#   6. 127.0.2.N old-NN (N = 1..20)         -> :8443, each refused with certificate_expired
# Packet time: after the capture every packet after a phase boundary is moved later (the
# pcap record times only; TCP timestamp options stay as captured): 5 minutes between
# phases 1-4, 1 hour between the five tunnel opens of phase 5 (opens at about T, T+1h ..
# T+4h: within renewal_window 24h), 10 minutes before phase 6, so cam-02's refusal is far
# outside the 60 s flood window of the old-NN refusals.
#
# rules-tls-clean.pcap: clean-01..20 from 127.0.3.N -> :8443 (SNIs alternately
# a1b2c3-ats.iot.ap-south-1 and -2), 127.0.3.32 -> :9443 with SNI a1b2c3-ats.iot.ap-south-1,
# and three tunnel sessions (data.tunneling.iot.ap-south-2) from 127.0.3.31 an hour apart:
# renewal_max opens, not more. No failures, so nothing to alert on.
#
# rules-tunnel-long.pcap: OpenSSH client -> private sshd on 127.0.0.1:2223, key login as
# root. 127.0.0.51 runs a remote loop printing a line every 2 s for 30 s; 127.0.0.52 does the
# same for 10 s. Each is captured alone and retimed like make-tls.sh's tls-tunnel-long.pcap
# (every packet's offset from the first multiplied by one factor): the first to 13 h, the
# second to 5 minutes, starting 1 h after the first; then both are merged by time. With
# max_duration 12h the long one is orphaned while still open (duration_s 43200, open true).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srv=127.0.0.1
mtls_port=8443
tls_port=9443
ssh_port=2223
sni_ok=a1b2c3-ats.iot.ap-south-1.amazonaws.com
sni_ok2=a1b2c3-ats.iot.ap-south-2.amazonaws.com
sni_off=a1b2c3-ats.iot.us-east-1.amazonaws.com
sni_tunnel=data.tunneling.iot.ap-south-1.amazonaws.com
sni_tunnel2=data.tunneling.iot.ap-south-2.amazonaws.com
long_span=46800 # s: 13 h
short_span=300  # s: 5 min
short_at=3600   # s after the long session's first packet

tag=make-rules-tls
# shellcheck source=pcaps/lib.sh
. "$(dirname "$0")/lib.sh"

busy() { ss -H -lnt "sport = :$1" | grep -q .; }
wait_for() { # PORT
	local _
	for _ in $(seq 50); do
		ss -H -lnt "src $srv and sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on $srv:$1"
}

need_pkgs openssl openssh-server openssh-client tcpdump tshark iproute2 python3
[ "$(id -u)" = 0 ] || die "run as root (tcpdump and a root login need it)"
for p in $mtls_port $tls_port $ssh_port; do
	busy "$p" && die "tcp port $p is in use; stop that first"
done
[ -s "$here/tls-tunnel-long.pcap" ] || die "pcaps/tls-tunnel-long.pcap is missing (make-tls.sh makes it)"
tmp=$(mktemp -d /tmp/iotwatch-rules-tls.XXXXXX)
chmod 755 "$tmp" # tcpdump may write as its own user
pki=$tmp/pki
mkdir -m 700 "$pki"

# sshd's privilege separation directory is compiled in; make it if no sshd ever ran here
made_privsep=""
if [ ! -d /run/sshd ]; then
	mkdir -m 755 /run/sshd
	made_privsep=yes
fi
drop_privsep() { [ -z "$made_privsep" ] || rmdir /run/sshd 2>/dev/null || true; }
trap 'cleanup; drop_privsep' EXIT

# ---- certificates ---------------------------------------------------------------------------
now=$(date -u +%s)
day=$((now / 86400 * 86400))
stamp() { date -u -d "@$1" +%Y%m%d%H%M%SZ; } # EPOCH -> openssl ca's date form
mkdir -p "$pki/ca/newcerts"
: >"$pki/ca/index.txt"
echo 1A2B3C4D00000001 >"$pki/ca/serial"
cat >"$pki/ca.cnf" <<EOF
[ca]
default_ca = this
[this]
dir = $pki/ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir/newcerts
default_md = sha256
policy = anything
preserve = yes
unique_subject = no
[anything]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[device]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:iot-endpoints.test,DNS:$sni_ok,DNS:$sni_ok2,DNS:$sni_off,DNS:$sni_tunnel,DNS:$sni_tunnel2
EOF
# issue NAME CN NOT_BEFORE NOT_AFTER EXTENSIONS [selfsign] (epoch seconds): $pki/NAME.{key,pem},
# and a line "name cn not_after sha256" in $pki/certs
: >"$pki/certs"
issue() {
	local n=$1 signer=(-cert "$pki/ca.pem" -keyfile "$pki/ca.key") fp
	[ "${6:-}" = selfsign ] && signer=(-selfsign -keyfile "$pki/$n.key")
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$n.key" 2>/dev/null
	openssl req -new -config "$pki/ca.cnf" -key "$pki/$n.key" -subj "/CN=$2" -out "$pki/$n.csr"
	openssl ca -batch -notext -config "$pki/ca.cnf" -in "$pki/$n.csr" "${signer[@]}" \
		-startdate "$(stamp "$3")" -enddate "$(stamp "$4")" -extensions "$5" -out "$pki/$n.pem" \
		>"$pki/$n.log" 2>&1 || die "openssl ca $n: $(cat "$pki/$n.log")"
	fp=$(openssl x509 -in "$pki/$n.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)
	printf '%s\t%s\t%s\t%s\n' "$n" "$2" "$4" "$fp" >>"$pki/certs"
}
D=86400
log "certificates"
issue ca "IoTWatch Rules Test CA" $((day - 365 * D)) $((day + 3650 * D)) v3_ca selfsign
issue server iot-endpoints.test $((day - 30 * D)) $((day + 730 * D)) server
issue cam-01 cam-01 $((day - 335 * D)) $((now + 30 * D + 7200)) device
issue cam-02 cam-02 $((day - 400 * D)) $((day - 10 * D + 21600)) device
issue shared-cert shared-cert $((day - 30 * D)) $((day + 500 * D + 43200)) device
pump_day=$((day + 200 * D))
for i in $(seq -w 1 20); do
	issue "pump-$i" "pump-$i" $((day - 165 * D)) $((pump_day + 43200)) device
	issue "old-$i" "old-$i" $((day - (375 + 10#$i) * D)) $((day - (10 + 10#$i) * D + 21600)) device
	issue "clean-$i" "clean-$i" $((day - 30 * D)) $((day + (100 + 7 * (10#$i - 1)) * D + 43200)) device
done

# ---- servers, clients, capture -------------------------------------------------------------
capture() { # NAME FILTER
	start "tcpdump-$1" tcpdump -i lo -U -n -s 0 -w "$tmp/$1.pcap" "$2"
	local _
	for _ in $(seq 50); do
		grep -q 'listening on' "$tmp/tcpdump-$1.log" && return 0
		sleep 0.1
	done
	die "tcpdump did not start: $(cat "$tmp/tcpdump-$1.log")"
}
uncapture() {
	sleep 1
	stop "tcpdump-$1"
}
# servers NAME MTLS_CONNECTIONS TLS_CONNECTIONS: the two s_servers, each exiting after its
# last connection (-naccept). -rev: every line comes back reversed.
servers() {
	start "$1-mtls" openssl s_server -accept "$srv:$mtls_port" -cert "$pki/server.pem" -key "$pki/server.key" \
		-Verify 1 -CAfile "$pki/ca.pem" -verify_return_error -no_ticket -rev -naccept "$2"
	start "$1-tls" openssl s_server -accept "$srv:$tls_port" -cert "$pki/server.pem" -key "$pki/server.key" \
		-no_ticket -rev -naccept "$3"
	wait_for $mtls_port
	wait_for $tls_port
}
servers_done() { # NAME: both servers had all their connections and exited by themselves
	local s
	for s in "$1-mtls" "$1-tls"; do
		wait "${pid_of[$s]}" || die "$s failed (or had fewer connections than planned): $(tail -5 "$tmp/$s.log")"
	done
}
# Every connection is one line of $tmp/<capture>.plan: label addr port sni cert outcome
# (cert "-" for none; outcome ok or expired), in the order made, for the checks below.
plan=""
# conn LABEL ADDR PORT SNI CERT OUTCOME: one s_client connection, TLS 1.2. ok: sends a line
# (and gets it back reversed); expired: must be refused with certificate_expired.
conn() {
	local label=$1 addr=$2 port=$3 sni=$4 cert=$5 outcome=$6 out=$tmp/client-$1.log input
	local opts=(-tls1_2 -verifyCAfile "$pki/ca.pem" -verify_return_error -verify_hostname "$sni")
	[ "$cert" = - ] || opts+=(-cert "$pki/$cert.pem" -key "$pki/$cert.key")
	input="echo 'hello from $label'; sleep 0.4"
	[ "$outcome" = ok ] || input="sleep 0.3"
	bash -c "$input" | timeout 20 openssl s_client -connect "$srv:$port" -bind "$addr" -servername "$sni" \
		-no_ign_eof -nocommands "${opts[@]}" >"$out" 2>&1 || true
	if [ "$outcome" = ok ]; then
		# the echo itself is checked in the capture (application data both ways): s_client
		# has been seen to leave a reply that reached it out of its output
		grep -q '^Verification: OK' "$out" || die "$label: no handshake: $(tail -5 "$out")"
		grep -q "$(echo "hello from $label" | rev)" "$out" || log "$label: the echo is not in s_client's output"
	else
		grep -q 'alert certificate expired' "$out" || die "$label: not refused with certificate_expired: $(tail -5 "$out")"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$addr" "$port" "$sni" "$cert" "$outcome" >>"$plan"
	sleep 0.2
}
# mark SECONDS: a phase boundary; every later packet is moved SECONDS later after the capture
marks=""
mark() {
	sleep 0.5
	printf '%s %s\n' "$(date +%s.%N)" "$1" >>"$marks"
	sleep 0.5
}
filter="tcp and host $srv and (port $mtls_port or port $tls_port)"

log "rules-tls: 44 mutual TLS and 7 TLS connections"
plan=$tmp/rules-tls.plan marks=$tmp/rules-tls.marks
: >"$plan"
: >"$marks"
servers rules-tls 44 7
capture rules-tls "$filter"
sleep 0.5
conn cam-01 127.0.0.11 $mtls_port $sni_ok cam-01 ok
conn cam-02 127.0.0.12 $mtls_port $sni_ok cam-02 expired
mark 300
conn shared-a 127.0.0.21 $mtls_port $sni_ok shared-cert ok
conn shared-b 127.0.0.22 $mtls_port $sni_ok shared-cert ok
mark 300
for i in $(seq -w 1 20); do
	conn "pump-$i" "127.0.1.$((10#$i))" $mtls_port $sni_ok "pump-$i" ok
done
mark 300
conn region-ok 127.0.0.31 $tls_port $sni_ok - ok
conn region-off 127.0.0.32 $tls_port $sni_off - ok
mark 300
for k in 1 2 3 4 5; do
	conn "tunnel-$k" 127.0.0.41 $tls_port $sni_tunnel - ok
	[ "$k" = 5 ] || mark 3600
done
mark 600
for i in $(seq -w 1 20); do
	conn "old-$i" "127.0.2.$((10#$i))" $mtls_port $sni_ok "old-$i" expired
done
uncapture rules-tls
servers_done rules-tls

log "rules-tls-clean: 20 mutual TLS and 4 TLS connections"
plan=$tmp/rules-tls-clean.plan marks=$tmp/rules-tls-clean.marks
: >"$plan"
: >"$marks"
servers clean 20 4
capture rules-tls-clean "$filter"
sleep 0.5
for i in $(seq -w 1 20); do
	s=$sni_ok
	[ $((10#$i % 2)) = 0 ] && s=$sni_ok2
	conn "clean-$i" "127.0.3.$((10#$i))" $mtls_port $s "clean-$i" ok
done
mark 300
conn region-ok 127.0.3.32 $tls_port $sni_ok - ok
mark 300
for k in 1 2 3; do
	conn "tunnel-$k" 127.0.3.31 $tls_port $sni_tunnel2 - ok
	[ "$k" = 3 ] || mark 3600
done
uncapture rules-tls-clean
servers_done clean

log "rules-tunnel-long: two SSH sessions"
ssh-keygen -q -t ed25519 -N '' -C iotwatch-rules-host -f "$tmp/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C iotwatch-rules-client -f "$tmp/client"
cp "$tmp/client.pub" "$tmp/authorized_keys"
cat >"$tmp/sshd_config" <<EOF
Port $ssh_port
ListenAddress $srv
HostKey $tmp/host_ed25519
PidFile $tmp/sshd.pid
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
LogLevel VERBOSE
EOF
/usr/sbin/sshd -t -f "$tmp/sshd_config" || die "sshd rejects its config"
start sshd /usr/sbin/sshd -D -e -f "$tmp/sshd_config"
wait_for $ssh_port
# sshs NAME FROM SECONDS: one session from FROM printing a line every 2 s for SECONDS,
# nothing from ~/.ssh or /etc/ssh/ssh_config used, captured alone in $tmp/NAME.pcap
sshs() {
	capture "$1" "tcp and host $srv and port $ssh_port"
	sleep 0.5
	ssh -F /dev/null -p $ssh_port -b "$2" -i "$tmp/client" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile="$tmp/known_hosts" \
		-o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 root@$srv \
		"for i in \$(seq $(($3 / 2))); do echo keepalive \$i; sleep 2; done" >"$tmp/$1.out" 2>&1 ||
		die "ssh $1 failed: $(tail -5 "$tmp/$1.out")"
	grep -qx "keepalive $(($3 / 2))" "$tmp/$1.out" || die "ssh $1 did not run its loop: $(tail -5 "$tmp/$1.out")"
	uncapture "$1"
}
sshs ssh-long 127.0.0.51 30
sshs ssh-short 127.0.0.52 10
stop sshd

# ---- packet times -------------------------------------------------------------------------
# Classic pcap only (what tcpdump -w writes). Only the record times change.
#   shift IN OUT MARKS          every packet after a mark "EPOCH SECONDS" moves SECONDS later
#   stretch IN OUT SPAN [AT]    t -> AT + (t - t0) * SPAN / (t1 - t0) (AT defaults to t0);
#                               prints the first and last new times and the largest gap
#   merge OUT IN...             the records of all, by time (same header)
cat >"$tmp/retime.py" <<'EOF'
import struct, sys
from decimal import Decimal

def load(path):
    data = open(path, "rb").read()
    for e in "<>":
        magic = struct.unpack(e + "I", data[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            break
    else:
        sys.exit(path + ": not a classic pcap file")
    res = 10**9 if magic == 0xA1B23C4D else 10**6
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack_from(e + "IIII", data, off)
        recs.append([sec * res + frac, data[off + 8:off + 16 + incl]])
        off += 16 + incl
    if off != len(data) or not recs:
        sys.exit(path + ": truncated or empty")
    return data[:24], e, res, recs

def save(path, head, e, res, recs):
    with open(path, "wb") as f:
        f.write(head)
        for t, rest in recs:
            f.write(struct.pack(e + "II", t // res, t % res) + rest)

mode = sys.argv[1]
if mode == "shift":
    head, e, res, recs = load(sys.argv[2])
    marks = [(int(Decimal(a) * res), int(b) * res) for a, b in (l.split() for l in open(sys.argv[4]) if l.strip())]
    for r in recs:
        r[0] += sum(g for m, g in marks if m < r[0])
    save(sys.argv[3], head, e, res, recs)
elif mode == "stretch":
    head, e, res, recs = load(sys.argv[2])
    span = int(sys.argv[4]) * res
    t0, t1 = recs[0][0], recs[-1][0]
    at = int(Decimal(sys.argv[5]) * res) if len(sys.argv) > 5 else t0
    prev, gap = at, 0
    for r in recs:
        r[0] = at + (r[0] - t0) * span // (t1 - t0)
        gap, prev = max(gap, r[0] - prev), r[0]
    save(sys.argv[3], head, e, res, recs)
    print("%d.%0*d %d.%0*d %d" % (recs[0][0] // res, len(str(res)) - 1, recs[0][0] % res,
                                  recs[-1][0] // res, len(str(res)) - 1, recs[-1][0] % res, gap // res))
elif mode == "merge":
    files = [load(p) for p in sys.argv[3:]]
    if len({(f[0], f[1]) for f in files}) != 1:
        sys.exit("merge: the captures' headers differ")
    recs = sorted((r for f in files for r in f[3]), key=lambda r: r[0])
    save(sys.argv[2], files[0][0], files[0][1], files[0][2], recs)
EOF
for n in rules-tls rules-tls-clean; do
	python3 "$tmp/retime.py" shift "$tmp/$n.pcap" "$tmp/$n.shifted" "$tmp/$n.marks"
	mv "$tmp/$n.shifted" "$tmp/$n.pcap"
done
read -r long_t0 _ long_gap < <(python3 "$tmp/retime.py" stretch "$tmp/ssh-long.pcap" "$tmp/ssh-long.s" $long_span)
[ "$long_gap" -lt 3300 ] || die "the stretched long session has a gap of $long_gap s, over 55 minutes"
short_at_epoch=$(python3 -c "from decimal import Decimal as D; print(D('$long_t0') + $short_at)")
python3 "$tmp/retime.py" stretch "$tmp/ssh-short.pcap" "$tmp/ssh-short.s" $short_span "$short_at_epoch" >/dev/null
python3 "$tmp/retime.py" merge "$tmp/rules-tunnel-long.pcap" "$tmp/ssh-long.s" "$tmp/ssh-short.s"

# ---- what tshark finds, and the expected alerts ------------------------------------------------
ts() { tshark -n -r "$@" 2>/dev/null; }
da=(-d "tcp.port==$mtls_port,tls" -d "tcp.port==$tls_port,tls")
for n in rules-tls rules-tls-clean; do
	f=$tmp/$n.pcap
	m=$(ts "$f" "${da[@]}" -Y _ws.malformed | wc -l)
	[ "$m" = 0 ] || die "$n: $m malformed frames"
	# one row per TLS handshake message and alert (pcaps/tlsrows.py), with frame times;
	# application data records per stream and direction
	ts "$f" "${da[@]}" -o tcp.reassemble_out_of_order:TRUE -Y 'tls.handshake.type or tls.alert_message' -T pdml |
		python3 "$here/tlsrows.py" >"$tmp/$n.rows"
	ts "$f" "${da[@]}" -T fields -e frame.number -e frame.time_epoch >"$tmp/$n.times"
	ts "$f" "${da[@]}" -Y 'tls.record.content_type == 23' -T fields -e tcp.stream -e tcp.srcport \
		-e tls.record.content_type -E occurrence=a >"$tmp/$n.appdata"
	ts "$f" -q -z conv,tcp | grep -c '<->' >"$tmp/$n.conv" || true
	{
		printf 'packets\t%s\n' "$(ts "$f" | wc -l)"
		printf 'tcp_conversations\t%s\n' "$(cat "$tmp/$n.conv")"
		printf 'duration_s\t%s\n' "$(ts "$f" -T fields -e frame.time_relative | tail -1 | cut -d. -f1)"
		for k in client_hello server_hello certificate; do
			printf 'tls_%s\t%s\n' "$k" "$(awk -F'\t' -v k="$k" 'NR > 1 && $5 == k' "$tmp/$n.rows" | wc -l)"
		done
		printf 'tls_client_certificates\t%s\n' "$(awk -F'\t' -v p=":$mtls_port" 'NR > 1 && $5 == "certificate" && $4 ~ p "$"' "$tmp/$n.rows" | wc -l)"
		printf 'tls_alert_certificate_expired\t%s\n' "$(awk -F'\t' 'NR > 1 && $14 ~ /certificate_expired/' "$tmp/$n.rows" | wc -l)"
		printf 'tls_app_data_records\t%s\n' "$(cut -f3 "$tmp/$n.appdata" | tr ',' '\n' | grep -c . || true)"
		printf 'malformed\t0\n'
	} >"$tmp/$n.expected.tsv"
done

# The checks: each planned connection is one TCP stream, in order, with the client address,
# server port, SNI, client certificate (CN, notAfter, sha256 as openssl gives it) and outcome
# planned: ok = application data both ways and no alert in clear; expired = the server's
# fatal certificate_expired and no application data. Then the scenario's own timing claims.
# The expected alerts are written from the plan and the certificates' dates; "now" for
# days_left is the packet time of the device's Certificate message.
cat >"$tmp/scenario.py" <<'EOF'
import sys, time
from collections import defaultdict

tmp, name, certs_file, mtls_port, lead_days = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
DAY = 86400
errors = []
def check(ok, what):
    if not ok:
        errors.append(what)

certs = {}
for line in open(certs_file):
    n, cn, na, fp = line.rstrip("\n").split("\t")
    certs[n] = {"cn": cn, "na": int(na), "fp": fp}
def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
def iso_us(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t))

plan = [l.rstrip("\n").split("\t") for l in open("%s/%s.plan" % (tmp, name))]
times = dict(l.split() for l in open("%s/%s.times" % (tmp, name)))
streams = defaultdict(lambda: {"hello": None, "certs": [], "alerts": [], "app": set()})
rows = [l.rstrip("\n").split("\t") for l in open("%s/%s.rows" % (tmp, name))][1:]
for frame, stream, src, dst, msg, ver, sni, alpn, ja3, ja3s, ja4, cs, fps, alert in rows:
    s = streams[int(stream)]
    t = float(times[frame])
    if msg == "client_hello":
        check(s["hello"] is None, "stream %s: two ClientHellos" % stream)
        s["hello"] = (t, src.rsplit(":", 1)[0], dst.rsplit(":", 1)[1], sni, ver)
    elif msg == "certificate" and dst.endswith(":" + mtls_port):
        s["certs"].append((t, cs, fps))
    elif msg == "alert":
        s["alerts"].append((t, src.rsplit(":", 1)[0], alert))
for line in open("%s/%s.appdata" % (tmp, name)):
    stream, sport, _ = line.rstrip("\n").split("\t")
    streams[int(stream)]["app"].add("toclient" if sport in ("8443", "9443") else "toserver")
nconv = int(open("%s/%s.conv" % (tmp, name)).read())

check(nconv == len(plan), "%d TCP conversations, %d planned" % (nconv, len(plan)))
order = sorted((s for s in streams.values() if s["hello"]), key=lambda s: s["hello"][0])
check(len(order) == len(plan), "%d streams with a ClientHello, %d planned" % (len(order), len(plan)))
seen = {}  # label -> stream facts
for (label, addr, port, sni, cert, outcome), s in zip(plan, order):
    t, src, dport, hsni, ver = s["hello"]
    check((src, dport, hsni, ver) == (addr, port, sni, "TLS 1.2"),
          "%s: ClientHello %s -> :%s SNI %s (%s), planned %s -> :%s SNI %s" % (label, src, dport, hsni, ver, addr, port, sni))
    if cert == "-":
        check(not s["certs"], "%s: a client certificate, none planned" % label)
    else:
        c = certs[cert]
        want = ("%s %s" % (c["cn"], iso(c["na"])), c["fp"])
        got = [(cs, fps) for _, cs, fps in s["certs"]]
        check(got == [want], "%s: client certificates %s, planned %s" % (label, got, [want]))
    clear = [a for a in s["alerts"] if a[2] != "encrypted"]
    if outcome == "ok":
        check(not clear and s["app"] == {"toserver", "toclient"},
              "%s: alerts %s, application data %s; planned a session with data both ways" % (label, clear, sorted(s["app"])))
    else:
        check([(a[1], a[2]) for a in clear] == [("127.0.0.1", "fatal certificate_expired (45)")] and not s["app"],
              "%s: alerts %s, application data %s; planned the server's certificate_expired only" % (label, clear, sorted(s["app"])))
    seen[label] = {"hello": t, "cert_time": s["certs"][0][0] if s["certs"] else None,
                   "alert_time": clear[0][0] if clear else None, "addr": addr, "sni": sni, "cert": cert}
if errors:
    sys.exit("\n".join(errors))

out = []
def alert(rule, device, severity, **ev):
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return ",".join(v) if isinstance(v, list) else str(v)
    out.append("%s\t%s\t%s\t%s" % (rule, device, severity, ";".join("%s=%s" % (k, val(v)) for k, v in ev.items())))

# certificates presented: cert -> (first packet time, addresses, devices)
presented = {}
for label, f in seen.items():
    if f["cert"] != "-":
        p = presented.setdefault(f["cert"], {"t": f["cert_time"], "addrs": []})
        if f["addr"] not in p["addrs"]:
            p["addrs"].append(f["addr"])
# tls.cert_expiring: once per certificate, expired or within the lead of the packet time
for cert, p in presented.items():
    c = certs[cert]
    left = (c["na"] - p["t"]) / DAY
    if left > lead_days:
        continue
    if left < 0:
        alert("tls.cert_expiring", "-", "high", fingerprint=c["fp"], subject="CN=" + c["cn"],
              not_after=iso_us(c["na"]), expired=True)
    else:
        # whole days: floor, truncation and rounding must agree (the script's 2 h margin)
        check(int(left) == round(left), "%s: days_left %.3f is ambiguous" % (cert, left))
        alert("tls.cert_expiring", "-", "medium", fingerprint=c["fp"], subject="CN=" + c["cn"],
              not_after=iso_us(c["na"]), days_left=int(left), expired=False)
# tls.shared_certificate: a certificate from two or more addresses
for cert, p in presented.items():
    if len(p["addrs"]) > 1:
        alert("tls.shared_certificate", "-", "high", fingerprint=certs[cert]["fp"],
              subject="CN=" + certs[cert]["cn"], addresses=p["addrs"], devices=len(p["addrs"]))
# tls.cert_expiry_storm predicted: 20 devices (CNs) with certificates expiring the same UTC day
byday = defaultdict(set)
for cert in presented:
    byday[time.strftime("%Y-%m-%d", time.gmtime(certs[cert]["na"]))].add(certs[cert]["cn"])
for d, devs in sorted(byday.items()):
    if len(devs) >= 20:
        alert("tls.cert_expiry_storm", "-", "high", kind="predicted", date=d, devices=20, storm_min_devices=20)
# tls.cert_expiry_storm reactive: 20 devices refused within 60 s (each refusal is its own
# device: the plan gives every refused certificate its own CN and address)
fails = sorted((f["alert_time"], f["cert"]) for f in seen.values() if f["alert_time"] is not None)
if any(len({c for t, c in fails if t0 <= t < t0 + 60}) >= 20 for t0, _ in fails):
    alert("tls.cert_expiry_storm", "-", "critical", kind="reactive", devices=20, window_s=60,
          flood_min_devices=20, reasons=["tls:certificate_expired"])
# endpoint.off_region: SNI regions, allowed ap-south-1 and ap-south-2
done = set()
for f in sorted(seen.values(), key=lambda f: f["hello"]):
    labels = f["sni"].split(".")
    region = labels[-3]
    dev = certs[f["cert"]]["cn"] if f["cert"] != "-" else f["addr"]
    if region not in ("ap-south-1", "ap-south-2") and (dev, f["sni"]) not in done:
        done.add((dev, f["sni"]))
        alert("endpoint.off_region", dev, "high", name=f["sni"], address="127.0.0.1", region=region,
              provider="aws", service="iot", source="sni", allowed=["ap-south-1", "ap-south-2"])
# tunnel.renewal_loop: more than 3 Secure Tunneling opens by one device within 24 h
opens = defaultdict(list)
for f in seen.values():
    if f["sni"].startswith("data.tunneling.iot."):
        opens[f["addr"]].append((f["hello"], f["sni"]))
for dev, o in sorted(opens.items()):
    o.sort()
    for i in range(len(o)):
        if len([t for t, _ in o[:i + 1] if t > o[i][0] - DAY]) > 3:
            alert("tunnel.renewal_loop", dev, "high", opens=4, renewal_max=3, window_s=DAY,
                  kind="aws_secure_tunneling", endpoint=o[i][1])
            break
if errors:
    sys.exit("\n".join(errors))
for line in out:
    print(line)
EOF
for n in rules-tls rules-tls-clean; do
	python3 "$tmp/scenario.py" "$tmp" "$n" "$pki/certs" $mtls_port 90 >"$tmp/$n.alerts" ||
		die "$n: the capture does not hold what the script did"
done

# What rules-tls.pcap must hold beyond the per-connection checks, from tshark directly:
f=$tmp/rules-tls.pcap
want() { [ "$2" = "$3" ] || die "$1 is $2, expected $3"; }
want "rules-tls: certificate_expired alerts (to)" \
	"$(ts "$f" "${da[@]}" -Y 'tls.alert_message.desc == 45 and tcp.srcport == 8443' -T fields -e ip.dst | sort -V | paste -sd' ')" \
	"127.0.0.12 $(seq -f '127.0.2.%g' 1 20 | paste -sd' ')"
# the flood: 20 refusals within the 60 s window, cam-02's more than 60 s before them
read -r first last <<<"$(ts "$f" "${da[@]}" -Y 'tls.alert_message.desc == 45 and ip.dst != 127.0.0.12' -T fields -e frame.time_epoch |
	awk 'NR == 1 { a = $1 } { b = $1 } END { print a, b }')"
cam2=$(ts "$f" "${da[@]}" -Y 'tls.alert_message.desc == 45 and ip.dst == 127.0.0.12' -T fields -e frame.time_epoch)
awk -v a="$first" -v b="$last" -v c="$cam2" 'BEGIN { exit !(b - a < 60 && a - c > 60) }' ||
	die "rules-tls: the 20 refusals span $first..$last, cam-02's at $cam2"
# 20 client certificates CN pump-NN, all with the same notAfter, 200 days on
want "rules-tls: pump certificates' notAfter" \
	"$(awk -F'\t' -v p=":$mtls_port" 'NR > 1 && $5 == "certificate" && $4 ~ p "$" && $12 ~ /^pump-/ { split($12, a, " "); print a[2] }' "$tmp/rules-tls.rows" | sort | uniq -c | xargs)" \
	"20 $(date -u -d "@$((pump_day + 43200))" +%Y-%m-%dT%H:%M:%SZ)"
# 5 ClientHellos with the tunnel SNI, all from 127.0.0.41, within 24 h
read -r nt span <<<"$(ts "$f" "${da[@]}" -Y "tls.handshake.type == 1 and tls.handshake.extensions_server_name == \"$sni_tunnel\"" \
	-T fields -e ip.src -e frame.time_epoch | awk '$1 != "127.0.0.41" { bad = 1 } NR == 1 { a = $2 } { b = $2; n++ }
	END { print (bad ? -1 : n), int(b - a) }')"
want "rules-tls: tunnel ClientHellos from 127.0.0.41" "$nt" 5
[ "$span" -lt 86400 ] || die "rules-tls: the tunnel opens span $span s, over 24 h"
want "rules-tls: the shared certificate's addresses" \
	"$(awk -F'\t' -v fp="$(awk -F'\t' '$1 == "shared-cert" { print $4 }' "$pki/certs")" 'NR > 1 && $5 == "certificate" && $13 == fp { split($3, a, ":"); print a[1] }' "$tmp/rules-tls.rows" | paste -sd' ')" \
	"127.0.0.21 127.0.0.22"
want "rules-tls: region ClientHellos" \
	"$(ts "$f" "${da[@]}" -Y 'tls.handshake.type == 1 and (ip.src == 127.0.0.31 or ip.src == 127.0.0.32)' -T fields -E separator=/s -e ip.src -e tls.handshake.extensions_server_name | paste -sd' ')" \
	"127.0.0.31 $sni_ok 127.0.0.32 $sni_off"
want "rules-tls: expected alerts" "$(wc -l <"$tmp/rules-tls.alerts")" 27
# the clean capture: 20 client certificates with 20 different notAfter dates, all beyond the
# 90 d lead, each from one address; no alert in clear; 3 tunnel opens
g=$tmp/rules-tls-clean.pcap
cleancerts=$(awk -F'\t' -v p=":$mtls_port" 'NR > 1 && $5 == "certificate" && $4 ~ p "$" { split($3, s, ":"); split($12, c, " "); print c[1], substr(c[2], 1, 10), s[1] }' "$tmp/rules-tls-clean.rows")
want "rules-tls-clean: client certificates" "$(echo "$cleancerts" | wc -l)" 20
want "rules-tls-clean: distinct expiry days" "$(echo "$cleancerts" | cut -d' ' -f2 | sort -u | wc -l)" 20
want "rules-tls-clean: certificates from one address each" "$(echo "$cleancerts" | cut -d' ' -f1,3 | sort -u | cut -d' ' -f1 | uniq -d | wc -l)" 0
want "rules-tls-clean: expiry days within 90 d" \
	"$(echo "$cleancerts" | awk -v lim="$(date -u -d "@$((now + 90 * D))" +%Y-%m-%d)" '$2 <= lim' | wc -l)" 0
want "rules-tls-clean: alerts in clear" "$(ts "$g" "${da[@]}" -Y 'tls.alert_message.desc' | wc -l)" 0
want "rules-tls-clean: expected alerts" "$(wc -l <"$tmp/rules-tls-clean.alerts")" 0

# rules-tunnel-long: two SSH streams (tshark decodes SSH on 22 only: the banner test is on
# the payload), the long one from 127.0.0.51 spanning 13 h with a packet other than FIN/RST
# more than 12 h after its last banner and before its first FIN, the short one from
# 127.0.0.52 spanning minutes.
h=$tmp/rules-tunnel-long.pcap
want "rules-tunnel-long: malformed frames" "$(ts "$h" -d tcp.port==$ssh_port,ssh -Y _ws.malformed | wc -l)" 0
ts "$h" -T fields -e tcp.stream -e ip.src -e tcp.srcport -e frame.time_epoch -e tcp.flags.fin -e tcp.flags.reset \
	-e tcp.len >"$tmp/ssh.frames"
ts "$h" -Y 'tcp.payload[0:4] == "SSH-"' -T fields -e tcp.stream -e frame.time_epoch >"$tmp/ssh.banners"
# stream client first last span banners orphaned-while-open
awk -F'\t' -v port=$ssh_port '
	FILENAME ~ /banners$/ { nb[$1]++; lb[$1] = $2; next }
	{ s = $1; if (!(s in first)) first[s] = $4; last[s] = $4
	  if ($3 != port) cl[s] = $2
	  if (($5 == "1" || $6 == "1") && !(s in fin)) fin[s] = $4
	  if ($5 != "1" && $6 != "1" && !(s in fin)) body[s] = $4 }
	END { for (s in first) printf "%s %s %d %d %s\n", s, cl[s], int(last[s] - first[s]), nb[s],
	      (body[s] - lb[s] >= 43200) ? "open-after-12h" : "short" }' "$tmp/ssh.banners" "$tmp/ssh.frames" |
	sort >"$tmp/ssh.streams"
want "rules-tunnel-long: streams (stream client span banners)" \
	"$(awk '{ print $1, $2, ($3 >= '$((long_span - 1))' ? "13h" : ($3 < 3600 ? "minutes" : $3)), $4, $5 }' "$tmp/ssh.streams" | paste -sd'|')" \
	"0 127.0.0.51 13h 2 open-after-12h|1 127.0.0.52 minutes 2 short"
want "rules-tunnel-long: the long stream's largest gap under 55 min" \
	"$(awk -F'\t' '$1 == 0 { if (n++ && $4 - p > g) g = $4 - p; p = $4 } END { print (g < 3300) ? "yes" : int(g) }' "$tmp/ssh.frames")" yes
{
	printf 'packets\t%s\n' "$(wc -l <"$tmp/ssh.frames")"
	printf 'tcp_conversations\t%s\n' "$(ts "$h" -q -z conv,tcp | grep -c '<->')"
	printf 'ssh_banners\t%s\n' "$(wc -l <"$tmp/ssh.banners")"
	awk '{ printf "stream_%s\t%s %d s\n", $1, $2, $3 }' "$tmp/ssh.streams"
	printf 'long_max_gap_s\t%s\n' "$long_gap"
	printf 'malformed\t0\n'
} >"$tmp/rules-tunnel-long.expected.tsv"
printf 'tunnel.orphaned\t127.0.0.51\thigh\tkind=ssh;endpoint=%s;duration_s=43200;max_duration_s=43200;open=true\n' \
	"$srv" >"$tmp/rules-tunnel-long.alerts"

# tls-tunnel-long.pcap (make-tls.sh's, only read): one TLS session from 127.0.0.10 with the
# Secure Tunneling SNI, still sending data more than 12 h after its ClientHello
t=$here/tls-tunnel-long.pcap
read -r tsrc tsni thello <<<"$(ts "$t" -Y 'tls.handshake.type == 1' -T fields -e ip.src -e tls.handshake.extensions_server_name -e frame.time_epoch | paste -sd' ')"
want "tls-tunnel-long: ClientHello" "$tsrc $tsni" "127.0.0.10 $sni_tunnel"
want "tls-tunnel-long: data after 12 h, before the FIN" \
	"$(ts "$t" -T fields -e frame.time_epoch -e tcp.flags.fin -e tcp.len |
		awk -v h="$thello" '$2 == "1" { exit } $3 > 0 && $1 - h >= 43200 { print "yes"; exit }')" yes
printf 'tunnel.orphaned\t127.0.0.10\thigh\tkind=aws_secure_tunneling;endpoint=%s;region=ap-south-1;duration_s=43200;max_duration_s=43200;open=true\n' \
	"$sni_tunnel" >"$tmp/tls-tunnel-long.alerts"

for n in rules-tls rules-tls-clean rules-tunnel-long; do
	size=$(stat -c %s "$tmp/$n.pcap")
	[ "$size" -lt 300000 ] || die "$n.pcap is $size bytes, over the 300 KB budget"
done
for n in rules-tls rules-tls-clean rules-tunnel-long tls-tunnel-long; do
	mv "$tmp/$n.alerts" "$tmp/$n.alerts.tsv"
done
for name in rules-tls.pcap rules-tls.expected.tsv rules-tls.alerts.tsv \
	rules-tls-clean.pcap rules-tls-clean.expected.tsv rules-tls-clean.alerts.tsv \
	rules-tunnel-long.pcap rules-tunnel-long.expected.tsv rules-tunnel-long.alerts.tsv tls-tunnel-long.alerts.tsv; do
	mv "$tmp/$name" "$here/$name"
	chown "$(stat -c %u:%g "$here")" "$here/$name"
	chmod 644 "$here/$name"
done
for n in rules-tls rules-tls-clean rules-tunnel-long; do
	log "wrote $n.pcap ($(stat -c %s "$here/$n.pcap") bytes, $(ts "$here/$n.pcap" | wc -l) packets) and" \
		"$n.alerts.tsv ($(wc -l <"$here/$n.alerts.tsv") alerts)"
done
log "wrote tls-tunnel-long.alerts.tsv"
