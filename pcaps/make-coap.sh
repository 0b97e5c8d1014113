#!/usr/bin/env bash
# Makes pcaps/coap-libcoap.pcap and pcaps/coap-libcoap.expected.tsv: CoAP from libcoap's
# real coap-client talking to its real coap-server and coap-rd (Debian 12 libcoap3-bin,
# the no-TLS builds) on 127.0.0.1:5683, captured with tcpdump on lo. Nothing is
# hand-crafted and nothing leaves 127.0.0.1.
#
# What the capture holds, in order (every exchange is CON unless said):
#   GET /.well-known/core; PUT /example_data "hello"; GET /example_data;
#   PUT /dyn1 (created, coap-server -d) and DELETE /dyn1; POST /example_data (4.05);
#   GET /nothing (4.04); Observe GET /time for 4 s (coap-client -s 4: registration,
#   notifications, deregistration); block-wise PUT of 1.5 KB in 64-byte Block1 blocks and
#   GET of it back in Block2 blocks (coap-client -b 64); then coap-rd replaces the server
#   and a LwM2M-style registration POST /rd?ep=thermo-1&lt=300&lwm2m=1.1&b=U is made.
#
# Usage: bash pcaps/make-coap.sh   (as root on Debian 12; installs what is missing)
# Safe to run again; the old files are replaced only when the new capture passes its
# checks. Every process it starts is stopped by pid whatever way it exits.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name=coap-libcoap
out_pcap=$here/$name.pcap
out_tsv=$here/$name.expected.tsv
addr=127.0.0.1
port=5683
server=coap-server-notls
client=coap-client-notls
rd=coap-rd-notls

tag=make-coap
# shellcheck source=pcaps/lib.sh
. "$(dirname "$0")/lib.sh"
wait_udp() {
	local i
	for i in $(seq 50); do
		ss -H -lnu "src $addr and sport = :$port" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on udp $addr:$port"
}
# c ARGS...: one coap-client exchange (3 s at most), its output in $tmp/client.log
c() {
	"$client" -B 3 "$@" >>"$tmp/client.log" 2>&1 || true
	echo >>"$tmp/client.log"
	sleep 0.3
}

need_pkgs libcoap3-bin tcpdump tshark iproute2
[ "$(id -u)" = 0 ] || die "run as root (tcpdump needs it)"
ss -H -lnu "sport = :$port" | grep -q . && die "udp port $port is in use; stop that first"
tmp=$(mktemp -d /tmp/iotwatch-coap.XXXXXX)

start tcpdump tcpdump -i lo -U -n -w "$tmp/$name.pcap" "host $addr and udp port $port"
for i in $(seq 50); do
	grep -q 'listening on' "$tmp/tcpdump.log" && break
	sleep 0.1
done
grep -q 'listening on' "$tmp/tcpdump.log" || die "tcpdump did not start: $(cat "$tmp/tcpdump.log")"

start server "$server" -A "$addr" -p "$port" -d 10
wait_udp
sleep 0.3
u=coap://$addr

log "requests"
c "$u/.well-known/core"
c -m put -e hello "$u/example_data"
c "$u/example_data"
c -m put -e created "$u/dyn1"
c -m delete "$u/dyn1"
c -m post -e nope "$u/example_data"
c "$u/nothing"
grep -q '4.04' "$tmp/client.log" || die "no 4.04 for /nothing: $(cat "$tmp/client.log")"

log "observe"
"$client" -s 4 "$u/time" >"$tmp/observe.log" 2>&1 || true
sleep 0.5

log "block-wise"
# 1.5 KB of text: 25 Block1 blocks up, 25 Block2 blocks down
head -c 1536 /dev/zero | tr '\0' 'a' | fold -w 63 >"$tmp/big.txt"
c -b 64 -m put -f "$tmp/big.txt" "$u/example_data"
"$client" -B 3 -b 64 "$u/example_data" >"$tmp/big.back" 2>&1 || true
sleep 0.3
cmp -s -n "$(stat -c %s "$tmp/big.txt")" "$tmp/big.txt" "$tmp/big.back" || die "block-wise GET did not return what was PUT"
stop server
sleep 0.3

log "registration (coap-rd)"
start rd "$rd" -A "$addr" -p "$port"
wait_udp
sleep 0.3
c -m post -e '</3/0>,</5/0>' -t 40 "$u/rd?ep=thermo-1&lt=300&lwm2m=1.1&b=U"
stop rd
sleep 1
stop tcpdump

f=$tmp/$name.pcap
size=$(stat -c %s "$f")
[ "$size" -lt 100000 ] || die "capture is $size bytes, over the 100 KB budget"
# tshark 4.0 does not know Request-Tag (option 292, RFC 9175), which libcoap puts on
# every Block1 request, and marks those frames malformed; any other reason fails.
malformed=$(tshark -r "$f" -Y _ws.malformed 2>/dev/null | wc -l)
other=$(tshark -r "$f" -Y '_ws.malformed and not _ws.expert.message == "Invalid Option Number 292"' \
	2>/dev/null | wc -l)
[ "$other" = 0 ] || die "$other malformed frames (besides Request-Tag)"
tshark -r "$f" -Y coap -T fields -e coap.code -E occurrence=a -E aggregator=, 2>/dev/null |
	tr ',' '\n' | grep -v '^$' >"$tmp/codes" || true
{
	printf 'packets\t%s\n' "$(tshark -r "$f" 2>/dev/null | wc -l)"
	printf 'coap_messages\t%s\n' "$(wc -l <"$tmp/codes")"
	sort -n "$tmp/codes" | uniq -c | while read -r n code; do
		printf 'coap_code_%d.%02d\t%s\n' $((code >> 5)) $((code & 31)) "$n"
	done
	printf 'malformed_request_tag\t%s\n' "$malformed"
} >"$tmp/$name.expected.tsv"

want_min() {
	local got
	got=$(awk -F'\t' -v k="$1" '$1 == k {print $2}' "$tmp/$name.expected.tsv")
	[ "${got:-0}" -ge "$2" ] || die "$1 is ${got:-0}, expected at least $2"
}
want_min coap_code_0.01 25 # GETs, with the 25 Block2 ones
want_min coap_code_0.02 2
want_min coap_code_0.03 25 # PUTs, with the 25 Block1 ones
want_min coap_code_2.31 24 # Continue, one per Block1 block but the last
want_min coap_code_0.04 1
want_min coap_code_2.01 2
want_min coap_code_2.05 4
want_min coap_code_4.04 1
want_min coap_code_4.05 1

mv "$f" "$out_pcap"
mv "$tmp/$name.expected.tsv" "$out_tsv"
chown "$(stat -c %u:%g "$here")" "$out_pcap" "$out_tsv"
chmod 644 "$out_pcap" "$out_tsv"
log "wrote $out_pcap ($size bytes) and $out_tsv:"
cat "$out_tsv" >&2
