#!/usr/bin/env bash
# Makes the TLS decoder's captures from the openssl command-line tools (OpenSSL 3.0 of
# Debian 12: s_server, s_client, req, ca) on loopback addresses only:
#
#   pcaps/tls-openssl.pcap     15 TCP connections, sessions a-h below
#   pcaps/tls-tunnel-long.pcap one TLS 1.3 tunnel-style session, time-stretched to 13 h
#   pcaps/tls-certs.tsv        the certificates it made: CN, serial, dates, sha256 of the DER
#                              (all but Rogue Test CA are sent in clear in tls-openssl.pcap)
# with pcaps/tls-openssl.expected.tsv and pcaps/tls-tunnel-long.expected.tsv, what tshark
# finds in them (formats in pcaps/README.md).
#
# Usage: bash pcaps/make-tls.sh   (as root on Debian 12; installs what is missing)
# Needs: openssl, tcpdump, tshark, iproute2 (ss), python3 (stdlib only). Ports 443 on
# 127.0.0.1 and 127.0.0.2 and 8883 on 127.0.0.1 must be free. Keys and certificates live
# in a temp dir and are thrown away: only their table (tls-certs.tsv) is kept. Stops
# every process it started, whatever way it exits; replaces the committed files only
# when both captures pass their checks.
#
# Certificates (all dates chosen, via `openssl ca -startdate/-enddate`: OpenSSL 3.0's
# x509 has no -not_before/-not_after). The captures were made on 2026-11-22:
#   Acme Fleet CA       RSA 2048, self-signed, 2024-01-01 .. 2054-01-01 (GeneralizedTime)
#   dev-0001, dev-0002  RSA 2048, O=Acme Devices, 2025-01-01 .. 2030-01-01
#   dev-0003, dev-0004  2025-12-15 .. 2026-12-15: expire 23 days after the capture
#   dev-0005            2025-01-01 .. 2026-01-01: expired when captured
#   dev-0006            2026-06-01 .. 2051-06-30 (notAfter a GeneralizedTime)
#   iot-endpoints.test  the servers' certificate, EC P-256, issued by Acme Fleet CA, SANs
#                       for every SNI name below, 2026-01-01 .. 2028-01-01, UTF8String names
#   Rogue Test CA, rogue-endpoint.test   a second CA (EC P-256) and the server certificate
#                       (RSA 2048) it issued, for session g
# The CA's and the devices' names are PrintableStrings, the servers' UTF8Strings. The
# script refuses to run once dev-0003/dev-0004 have expired (or before dev-0006 is valid):
# move the dates at the top to make new captures later.
#
# Addresses: servers on 127.0.0.1:443 (tunnel and cloud endpoints), 127.0.0.1:8883 (mutual
# TLS: -Verify 1 -CAfile ca.pem -verify_return_error), both sending leaf + Acme Fleet CA,
# and 127.0.0.2:443 (the unknown-CA server, leaf only). Devices send their leaf only, but
# dev-0006 sends leaf + CA. Each client binds its own loopback address (s_client -bind),
# so each device has an IP of its own:
#   a) 127.0.0.10 -> :443   TLS 1.3, SNI data.tunneling.iot.ap-south-1.amazonaws.com, three
#                           lines each way, close_notify and FIN
#   b) 127.0.0.20 -> :443   TLS 1.2, SNI a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com, ALPN
#                           x-amzn-mqtt-ca, server chain (2 certificates) in clear
#   c) 127.0.0.11-14,16 -> :8883  mutual TLS 1.2, one connection each for dev-0001..0004 and
#                           dev-0006, SNI myhub.azure-devices.net, two lines each way
#   d) 127.0.0.15 -> :8883  mutual TLS 1.2 with the expired dev-0005: the server sends a
#                           fatal certificate_expired alert in clear
#   e) 127.0.0.15 -> :8883  mutual TLS 1.3 with dev-0005, 4 connections 0.3 s apart (the
#                           first and 3 reconnects): the server's alert is encrypted
#   f) 127.0.0.10 -> :443   TLS 1.3, SNI hub1.northeurope-001.streams.azure-devices.net, a
#                           line each way every 3 s for 15 s
#   g) 127.0.0.30 -> 127.0.0.2:443  TLS 1.2, SNI a1b2c3d4e5f6g7-ats.iot.ap-south-2.amazonaws.com
#                           (a region without AWS IoT Core); the server's certificate is from
#                           Rogue Test CA, the client verifies against Acme Fleet CA and
#                           sends a fatal unknown_ca alert in clear
#   h) 127.0.0.40 -> :443   TLS 1.3, SNI mqtt.plant.example (a custom domain), ALPN mqtt
# tls-tunnel-long: 127.0.0.10 -> :443, TLS 1.3, SNI data.tunneling.iot.ap-south-1.amazonaws.com,
# a line each way every 2 s for 30 s, then FIN.
#
# Time: tls-openssl.pcap keeps the real capture times. tls-tunnel-long.pcap is rewritten
# after the capture: every packet's offset from the first packet is multiplied by one
# constant, so the session spans 13 hours (longer than a Secure Tunnel's 12 h maximum
# lifetime) and the 2 s keepalive becomes about 52 minutes (under the sensor's default
# 1 h TCP idle timeout; the script checks the largest gap). Only the pcap record
# timestamps change: TCP timestamp options and everything else stay as captured.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srv=127.0.0.1
rogue=127.0.0.2
tun_port=443
mtls_port=8883
sni_tunnel=data.tunneling.iot.ap-south-1.amazonaws.com
sni_ats=a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com
sni_hub=myhub.azure-devices.net
sni_stream=hub1.northeurope-001.streams.azure-devices.net
sni_custom=mqtt.plant.example
sni_rogue=a1b2c3d4e5f6g7-ats.iot.ap-south-2.amazonaws.com
# validity, YYYYMMDDHHMMSSZ (openssl ca -startdate/-enddate)
ca_start=20240101000000Z ca_end=20540101000000Z
long_start=20250101000000Z long_end=20300101000000Z # dev-0001, dev-0002
soon_start=20251215000000Z soon_end=20261215000000Z # dev-0003, dev-0004
exp_start=20250101000000Z exp_end=20260101000000Z   # dev-0005
d6_start=20260601000000Z d6_end=20510630000000Z     # dev-0006
srv_start=20260101000000Z srv_end=20280101000000Z
rca_start=20261101000000Z rca_end=20361101000000Z
rsrv_start=20261120000000Z rsrv_end=20271120000000Z
stretch_to=46800 # seconds: 13 h

tag=make-tls
# shellcheck source=pcaps/lib.sh
. "$(dirname "$0")/lib.sh"

# ss only, so the checks put nothing on the wire
wait_for() { # ADDR PORT
	local i
	for i in $(seq 50); do
		ss -H -lnt "src $1 and sport = :$2" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on $1:$2"
}
busy() { ss -H -lnt "sport = :$2" | awk '{print $4}' | grep -qE "^($1|0\.0\.0\.0|\*|\[::\]):$2\$"; }

need_pkgs openssl tcpdump tshark iproute2 python3
[ "$(id -u)" = 0 ] || die "run as root (tcpdump needs it)"
now=$(date -u +%Y%m%d%H%M%SZ)
[[ "$now" < "$soon_end" ]] || die "dev-0003/dev-0004 ($soon_end) have expired: move the dates at the top"
[[ "$now" > "$d6_start" && "$now" > "$rsrv_start" ]] || die "some certificates are not valid yet: move the dates"
for a in "$srv $tun_port" "$srv $mtls_port" "$rogue $tun_port"; do
	# shellcheck disable=SC2086
	busy $a && die "${a/ /:} is in use; stop that first"
done
tmp=$(mktemp -d /tmp/iotwatch-tls.XXXXXX)
chmod 755 "$tmp" # tcpdump may write as its own user
pki=$tmp/pki
mkdir -m 700 "$pki"

# ---- certificates -------------------------------------------------------------------------
# ca_conf DIR SERIAL STRING_MASK: a minimal `openssl ca` setup in DIR
ca_conf() {
	mkdir -p "$1/newcerts"
	: >"$1/index.txt"
	echo "$2" >"$1/serial"
	cat >"$1/ca.cnf" <<EOF
[ca]
default_ca = this
[this]
dir = $1
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir/newcerts
default_md = sha256
policy = anything
preserve = yes
unique_subject = no
[anything]
organizationName = optional
commonName = supplied
[req]
distinguished_name = dn
prompt = no
string_mask = $3
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[device]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \$ENV::SANS
EOF
}
newkey() { # FILE rsa|ec
	if [ "$2" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
	else
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
	fi
}
# issue CADIR NAME KEYTYPE SUBJECT START END EXTENSIONS [selfsign]: $pki/NAME.key and
# NAME.pem, signed by CADIR's CA (or by itself); subjectAltName from $sans
sans=DNS:unused
issue() {
	local d=$1 n=$2 signer
	newkey "$pki/$n.key" "$3"
	SANS=$sans openssl req -new -config "$d/ca.cnf" -key "$pki/$n.key" -subj "$4" -out "$pki/$n.csr"
	signer=(-cert "$d/ca.pem" -keyfile "$d/ca.key")
	[ "${8:-}" = selfsign ] && signer=(-selfsign -keyfile "$pki/$n.key")
	SANS=$sans openssl ca -batch -notext -config "$d/ca.cnf" -in "$pki/$n.csr" "${signer[@]}" \
		-startdate "$5" -enddate "$6" -extensions "$7" -out "$pki/$n.pem" \
		>"$pki/$n.log" 2>&1 || die "openssl ca $n: $(cat "$pki/$n.log")"
}
log "certificates"
acme=$pki/acme
rca=$pki/rogue-ca
ca_conf "$acme" 5A17C0DE00000001 default
ca_conf "$rca" 7F00DEAD00000001 utf8only
issue "$acme" ca rsa "/CN=Acme Fleet CA" "$ca_start" "$ca_end" v3_ca selfsign
cp "$pki/ca.pem" "$acme/ca.pem"
cp "$pki/ca.key" "$acme/ca.key"
for n in 1 2 3 4 5 6; do
	case $n in
	1 | 2) s=$long_start e=$long_end ;;
	3 | 4) s=$soon_start e=$soon_end ;;
	5) s=$exp_start e=$exp_end ;;
	6) s=$d6_start e=$d6_end ;;
	esac
	issue "$acme" "dev-000$n" rsa "/O=Acme Devices/CN=dev-000$n" "$s" "$e" device
done
# the endpoints' certificate: UTF8String names (its own string mask)
sed -i 's/^string_mask = default/string_mask = utf8only/' "$acme/ca.cnf"
sans="DNS:$sni_tunnel,DNS:$sni_ats,DNS:$sni_hub,DNS:$sni_stream,DNS:$sni_custom"
issue "$acme" server ec "/O=Acme Test Endpoints/CN=iot-endpoints.test" "$srv_start" "$srv_end" server
issue "$rca" rogue-ca ec "/CN=Rogue Test CA" "$rca_start" "$rca_end" v3_ca selfsign
cp "$pki/rogue-ca.pem" "$rca/ca.pem"
cp "$pki/rogue-ca.key" "$rca/ca.key"
sans="DNS:$sni_rogue"
issue "$rca" rogue rsa "/CN=rogue-endpoint.test" "$rsrv_start" "$rsrv_end" server

# the table: from `openssl x509 -noout -serial -dates -fingerprint -sha256`
{
	printf 'cn\tserial\tnot_before\tnot_after\tsha256\tissuer_cn\n'
	for n in ca server dev-0001 dev-0002 dev-0003 dev-0004 dev-0005 dev-0006 rogue-ca rogue; do
		openssl x509 -in "$pki/$n.pem" -noout -nameopt RFC2253 -subject -issuer -serial \
			-dateopt iso_8601 -dates -fingerprint -sha256 | awk -F= '
			function cn(dn,   k, n, a) {
				n = split(dn, a, ",")
				for (k = 1; k <= n; k++) if (a[k] ~ /^CN=/) return substr(a[k], 4)
				return ""
			}
			function iso(d) { sub(/ /, "T", d); return d }
			/^subject=/ { s = cn(substr($0, 9)) }
			/^issuer=/ { i = cn(substr($0, 8)) }
			$1 == "serial" { ser = $2 }
			$1 == "notBefore" { nb = iso($2) }
			$1 == "notAfter" { na = iso($2) }
			/Fingerprint=/ { fp = tolower($2); gsub(/:/, "", fp) }
			END { printf "%s\t%s\t%s\t%s\t%s\t%s\n", s, ser, nb, na, fp, i }'
	done
} >"$tmp/tls-certs.tsv"

# ---- servers and capture -----------------------------------------------------------------
# capture NAME FILTER
capture() {
	start "tcpdump-$1" tcpdump -i lo -U -n -s 0 -w "$tmp/$1.pcap" "$2"
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

# -rev: each line comes back reversed, one record each way. -naccept: every connection
# the script makes, failed handshakes included; each server exits after the last one.
start srv-tun openssl s_server -accept "$srv:$tun_port" -cert "$pki/server.pem" \
	-key "$pki/server.key" -cert_chain "$pki/ca.pem" -alpn x-amzn-mqtt-ca,mqtt -rev -naccept 5
start srv-mtls openssl s_server -accept "$srv:$mtls_port" -cert "$pki/server.pem" \
	-key "$pki/server.key" -Verify 1 -CAfile "$pki/ca.pem" -verify_return_error -rev -naccept 10
start srv-rogue openssl s_server -accept "$rogue:$tun_port" -cert "$pki/rogue.pem" \
	-key "$pki/rogue.key" -rev -naccept 1
wait_for "$srv" "$tun_port"
wait_for "$srv" "$mtls_port"
wait_for "$rogue" "$tun_port"

# client LOG FROM ADDR:PORT SNI INPUT-SCRIPT OPTION...: one s_client connection fed by
# INPUT-SCRIPT (lines with sleeps between; the client closes at its end). -nocommands:
# without it a line starting with k, K, R or Q is a command to s_client, not data
client() {
	local out=$tmp/client-$1.log from=$2 to=$3 sni=$4 input=$5
	shift 5
	bash -c "$input" | openssl s_client -connect "$to" -bind "$from" -servername "$sni" \
		-no_ign_eof -nocommands "$@" >"$out" 2>&1 || true
}
# expect LOG PATTERN WHAT: the client's log must show PATTERN
expect() { grep -q -- "$2" "$tmp/client-$1.log" || die "$1: $3: $(tail -5 "$tmp/client-$1.log")"; }
# The clients trust Acme Fleet CA through -verifyCAfile, not -CAfile: OpenSSL builds a
# client's chain from its -CAfile store, and devices other than dev-0006 send their leaf only.
verify=(-verifyCAfile "$pki/ca.pem" -verify_return_error)

capture tls-openssl "tcp and ((host $srv and (port $tun_port or port $mtls_port)) or (host $rogue and port $tun_port))"
sleep 0.5

log "a) TLS 1.3 tunnel endpoint"
client a 127.0.0.10 "$srv:$tun_port" "$sni_tunnel" \
	'for l in "CONNECTION_START 1" "DATA stream-1" "DATA stream-2"; do echo "$l"; sleep 0.5; done; sleep 0.5' \
	-tls1_3 "${verify[@]}" -verify_hostname "$sni_tunnel"
expect a '1-maerts ATAD' 'no echo'
expect a 'Protocol  *: TLSv1.3' 'not TLS 1.3'
sleep 0.5

log "b) TLS 1.2 AWS IoT ATS endpoint, ALPN x-amzn-mqtt-ca"
client b 127.0.0.20 "$srv:$tun_port" "$sni_ats" 'echo "mqtt connect"; sleep 0.5; echo "mqtt publish"; sleep 1' \
	-tls1_2 -alpn x-amzn-mqtt-ca "${verify[@]}" -verify_hostname "$sni_ats"
expect b 'ALPN protocol: x-amzn-mqtt-ca' 'no ALPN'
expect b 'tcennoc ttqm' 'no echo'
sleep 0.5

log "c) mutual TLS 1.2, dev-0001..0004 and dev-0006"
for n in 1 2 3 4 6; do
	cert=(-cert "$pki/dev-000$n.pem" -key "$pki/dev-000$n.key")
	[ "$n" = 6 ] && cert+=(-cert_chain "$pki/ca.pem")
	client "c$n" "127.0.0.1$n" "$srv:$mtls_port" "$sni_hub" \
		"echo 'devices/dev-000$n/messages/events/'; sleep 0.5; echo 'ping'; sleep 0.8" \
		-tls1_2 "${cert[@]}" "${verify[@]}" -verify_hostname "$sni_hub"
	expect "c$n" 'gnip' 'no echo (the server refused the certificate?)'
	sleep 0.4
done

log "d) mutual TLS 1.2, expired dev-0005: certificate_expired in clear"
cert5=(-cert "$pki/dev-0005.pem" -key "$pki/dev-0005.key")
client d 127.0.0.15 "$srv:$mtls_port" "$sni_hub" 'sleep 1' -tls1_2 "${cert5[@]}" "${verify[@]}"
expect d 'alert certificate expired' 'no certificate_expired alert'
sleep 0.5

log "e) mutual TLS 1.3, expired dev-0005, 4 attempts: encrypted alert"
for k in 1 2 3 4; do
	client "e$k" 127.0.0.15 "$srv:$mtls_port" "$sni_hub" 'sleep 0.5' -tls1_3 "${cert5[@]}" "${verify[@]}"
	expect "e$k" 'alert certificate expired' 'no certificate_expired alert'
	sleep 0.3
done
sleep 0.5

log "f) TLS 1.3 device stream, keepalive every 3 s for 15 s"
client f 127.0.0.10 "$srv:$tun_port" "$sni_stream" \
	'for i in 1 2 3 4 5; do echo "ka $i"; sleep 3; done' -tls1_3 "${verify[@]}" -verify_hostname "$sni_stream"
expect f '5 ak' 'no echo of the last keepalive'
sleep 0.5

log "g) TLS 1.2 to an unknown CA: unknown_ca from the client"
client g 127.0.0.30 "$rogue:$tun_port" "$sni_rogue" 'sleep 1' -tls1_2 "${verify[@]}"
expect g 'unable to get local issuer certificate' 'the client did not reject the server'
sleep 0.5

log "h) TLS 1.3 custom domain, ALPN mqtt"
client h 127.0.0.40 "$srv:$tun_port" "$sni_custom" 'echo "mqtt connect"; sleep 0.5; echo "mqtt publish"; sleep 1' \
	-tls1_3 -alpn mqtt "${verify[@]}" -verify_hostname "$sni_custom"
expect h 'ALPN protocol: mqtt' 'no ALPN'
expect h 'hsilbup ttqm' 'no echo'
uncapture tls-openssl

log "tunnel-long: 30 s of 2 s keepalives (stretched to 13 h afterwards)"
capture tls-tunnel-long "tcp and host $srv and port $tun_port"
sleep 0.5
client long 127.0.0.10 "$srv:$tun_port" "$sni_tunnel" \
	'for i in $(seq -w 1 15); do echo "ka $i"; sleep 2; done' -tls1_3 "${verify[@]}" -verify_hostname "$sni_tunnel"
expect long '51 ak' 'no echo of the last keepalive'
uncapture tls-tunnel-long

# every server has had all its connections and exits by itself
for s in srv-tun srv-mtls srv-rogue; do
	wait "${pid_of[$s]}" || die "$s failed: $(tail -5 "$tmp/$s.log")"
done

# ---- stretch tls-tunnel-long to 13 hours -------------------------------------------------
# Classic pcap only (what tcpdump -w writes; pcapng is refused): the global header is
# kept, each record's ts_sec/ts_usec (or ts_nsec) becomes t0 + (t - t0) * k, with k such
# that the last packet lands $stretch_to seconds after the first. editcap can only shift
# times (-t) and tcprewrite does not touch them. Prints k and the largest new gap.
python3 - "$tmp/tls-tunnel-long.pcap" "$tmp/stretched.pcap" "$stretch_to" >"$tmp/stretch.log" <<'EOF'
import struct, sys
src, dst, span = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, "rb").read()
for e in "<>":
    magic = struct.unpack(e + "I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        break
else:
    sys.exit("not a classic pcap file (pcapng is not handled)")
res = 10**9 if magic == 0xA1B23C4D else 10**6
recs, off = [], 24
while off + 16 <= len(data):
    sec, frac, incl, orig = struct.unpack_from(e + "IIII", data, off)
    recs.append((sec * res + frac, off))
    off += 16 + incl
t0, t1 = recs[0][0], recs[-1][0]
out = bytearray(data)
prev, gap = t0, 0
for t, off in recs:
    n = t0 + (t - t0) * span * res // (t1 - t0)
    struct.pack_into(e + "II", out, off, n // res, n % res)
    gap, prev = max(gap, n - prev), n
open(dst, "wb").write(out)
print("%.1f %d" % (span * res / (t1 - t0), gap // res))
EOF
read -r factor maxgap <"$tmp/stretch.log"
[ "$maxgap" -lt 3300 ] || die "stretched keepalive gap is $maxgap s, over 55 minutes"
mv "$tmp/stretched.pcap" "$tmp/tls-tunnel-long.pcap"
log "tunnel-long: time scaled by $factor, largest gap ${maxgap} s"

# ---- what tshark finds --------------------------------------------------------------------
# One row per TLS handshake message and per alert, from tshark's PDML (-T fields cannot
# tell a subject's CN from its issuer's, nor one certificate's fields from the next):
#   frame stream src dst message version sni alpn ja3 ja3s ja4 certificates sha256 alert
# version: a ClientHello's supported_versions (else its version field), a ServerHello's
# selected version; certificates: "CN notAfter" per certificate, leaf first, separated by
# "; ", the last CN of the subject and notAfter (x509af.notAfter, utcTime or generalizedTime)
# as RFC 3339; sha256: each certificate's DER fingerprint; alert: "fatal
# certificate_expired (45)", or "encrypted". ja4 stays empty: tshark 4.0 has no JA4 (4.2 has).
tls_rows() { # PCAP
	tshark -n -r "$1" -o tcp.reassemble_out_of_order:TRUE -Y 'tls.handshake.type or tls.alert_message' \
		-T pdml 2>/dev/null | python3 "$here/tlsrows.py"
}

f=$tmp/tls-openssl.pcap
g=$tmp/tls-tunnel-long.pcap
for p in "$f" "$g"; do
	m=$(tshark -n -r "$p" -Y _ws.malformed 2>/dev/null | wc -l)
	[ "$m" = 0 ] || die "$(basename "$p"): $m malformed frames"
done
tls_rows "$f" >"$tmp/tls-openssl.expected.tsv"
size=$(stat -c %s "$f")
[ "$size" -lt 300000 ] || die "tls-openssl.pcap is $size bytes, over the 300 KB budget"

# The capture must hold what the script did, and nothing else on these ports:
# 15 connections, each with a ClientHello and a ServerHello; Certificate messages in clear
# only in TLS 1.2: b (server, 2 certs), c (server 2 + client 1 each, dev-0006 2), d (server
# 2 + client 1), g (server 1); exactly two alerts in clear: d's from the server, g's from
# the client.
rows=$tmp/tls-openssl.expected.tsv
n() { awk -F'\t' -v m="$1" 'NR > 1 && $5 == m' "$rows" | wc -l; }
want() { [ "$2" = "$3" ] || die "tls-openssl: $1 is $2, expected $3 (stray traffic on these ports?)"; }
want "TCP conversations" "$(tshark -n -r "$f" -q -z conv,tcp 2>/dev/null | grep -c '<->')" 15
want ClientHellos "$(n client_hello)" 15
want ServerHellos "$(n server_hello)" 15
want "Certificate messages" "$(n certificate)" 14
want "certificates in them" "$(awk -F'\t' 'NR > 1 && $5 == "certificate" {print $12}' "$rows" | tr ';' '\n' | wc -l)" 22
want "alerts in clear (sender, alert)" "$(awk -F'\t' 'NR > 1 && $5 == "alert" && $14 != "encrypted" {
	split($3, a, ":"); print a[1] " " $14 }' "$rows" | sort | paste -sd'|')" \
	"$srv fatal certificate_expired (45)|127.0.0.30 fatal unknown_ca (48)"
want "SNI values" "$(awk -F'\t' 'NR > 1 && $7 != ""' "$rows" | wc -l)" 15
# every certificate but Rogue Test CA is sent in clear at least once, and tshark's DER
# fingerprints are those of the table
want "certificates seen (sha256)" "$(awk -F'\t' 'NR > 1 && $13 != "" {print $13}' "$rows" | tr ';' '\n' | sort -u)" \
	"$(awk -F'\t' 'NR > 1 && $1 != "Rogue Test CA" {print $5}' "$tmp/tls-certs.tsv" | sort)"

tls_rows "$g" >"$tmp/tunnel.rows"
{
	printf 'packets\t%s\n' "$(tshark -n -r "$g" 2>/dev/null | wc -l)"
	printf 'duration_s\t%s\n' "$(tshark -n -r "$g" -T fields -e frame.time_relative 2>/dev/null | tail -1 | cut -d. -f1)"
	printf 'tls_client_hello\t%s\n' "$(awk -F'\t' '$5 == "client_hello"' "$tmp/tunnel.rows" | wc -l)"
	printf 'tls_server_hello\t%s\n' "$(awk -F'\t' '$5 == "server_hello"' "$tmp/tunnel.rows" | wc -l)"
	printf 'sni\t%s\n' "$(awk -F'\t' '$5 == "client_hello" {print $7}' "$tmp/tunnel.rows")"
	printf 'version\t%s\n' "$(awk -F'\t' '$5 == "server_hello" {print $6}' "$tmp/tunnel.rows")"
	printf 'ja3\t%s\n' "$(awk -F'\t' '$5 == "client_hello" {print $9}' "$tmp/tunnel.rows")"
	printf 'ja3s\t%s\n' "$(awk -F'\t' '$5 == "server_hello" {print $10}' "$tmp/tunnel.rows")"
	printf 'app_records_toserver\t%s\n' "$(tshark -n -r "$g" -Y "tls.record.opaque_type == 23 and tcp.dstport == $tun_port" \
		-T fields -e tls.record.opaque_type -E occurrence=a 2>/dev/null | tr ',' '\n' | grep -c . || true)"
	printf 'app_records_toclient\t%s\n' "$(tshark -n -r "$g" -Y "tls.record.opaque_type == 23 and tcp.srcport == $tun_port" \
		-T fields -e tls.record.opaque_type -E occurrence=a 2>/dev/null | tr ',' '\n' | grep -c . || true)"
	printf 'max_gap_s\t%s\n' "$maxgap"
	printf 'time_factor\t%s\n' "$factor"
	printf 'malformed\t0\n'
} >"$tmp/tls-tunnel-long.expected.tsv"
grep -qx 'tls_client_hello	1' "$tmp/tls-tunnel-long.expected.tsv" || die "tls-tunnel-long: not one ClientHello"
d=$(awk -F'\t' '$1 == "duration_s" {print $2}' "$tmp/tls-tunnel-long.expected.tsv")
[ "$d" -ge $((stretch_to - 1)) ] || die "tls-tunnel-long spans $d s, not $stretch_to"

for name in tls-openssl.pcap tls-openssl.expected.tsv tls-tunnel-long.pcap tls-tunnel-long.expected.tsv tls-certs.tsv; do
	mv "$tmp/$name" "$here/$name"
	chown "$(stat -c %u:%g "$here")" "$here/$name"
	chmod 644 "$here/$name"
done
log "wrote tls-openssl.pcap ($size bytes, $(tshark -n -r "$here/tls-openssl.pcap" 2>/dev/null | wc -l) packets)," \
	"tls-tunnel-long.pcap ($(stat -c %s "$here/tls-tunnel-long.pcap") bytes), tls-certs.tsv and the expected files"
