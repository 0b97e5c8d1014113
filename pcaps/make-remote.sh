#!/usr/bin/env bash
# Makes pcaps/remote-access.pcap and pcaps/remote-access.expected.tsv: remote-access
# sessions (RDP and VNC) from Debian 12's real clients against real servers, captured with
# tcpdump on lo. Nothing leaves 127.0.0.1 and nothing is hand-crafted. It is here so the
# sensor's nDPI path for tunnels (kinds rdp and vnc, docs/tunnels.md) meets real traffic.
#
# Servers, each with its own files in a temp dir (nothing of /etc/xrdp's config or
# certificate is used):
#   xrdp 0.9.21  on 127.0.0.1:3389 and 127.0.0.1:13389 (one process, fork=false), TLS with
#                a self-signed certificate made here; no xrdp-sesman, so a client gets
#                xrdp's login screen and nothing behind it
#   Xvnc (TigerVNC 1.12) display A on 127.0.0.1:5900, -SecurityTypes None, 320x240
#   Xvnc (TigerVNC 1.12) display B on 127.0.0.1:15900, -SecurityTypes VncAuth with a
#                password file made by vncpasswd -f
# The graphical clients draw on a private Xvfb display (no TCP listener). The sessions, in
# order, each a fresh TCP connection:
#   1. port 3389:  xfreerdp 2.11 (TLS): X.224 Connection Request with the cookie
#                  mstshash=iotwatch, TLS, MCS, the login screen; closed after 4 s (timeout)
#   2. port 13389: rdesktop 1.9 (TLS, trusts the certificate on stdin), the same; closed
#                  after 4 s (timeout). A port no one maps to RDP: nDPI finds it by content
#   3. port 3389:  xfreerdp /sec:nla: xrdp has no NLA, the client gives up by itself after
#                  the negotiation response
#   4. port 5900:  vncsnapshot 1.2a (RFB 3.3, no authentication, ZRLE): one framebuffer
#                  snapshot, then it exits by itself
#   5. port 15900: TigerVNC vncviewer (RFB 3.8, VncAuth with the password file), continuous
#                  updates; closed after 4 s (timeout). Not a VNC port for tshark either
#
# expected.tsv, from tshark (13389 decoded as TPKT and 15900 as VNC with -d in every call:
# without it tshark 4.0's VNC heuristic splits the 15900 stream in two), tab-separated:
#   packets, tcp_conversations, rdp_streams, vnc_streams, malformed  <TAB> count
#   stream <TAB> tcp.stream <TAB> client <TAB> server <TAB> kind <TAB> frames <TAB> bytes
#          <TAB> first <TAB> last <TAB> detail
# one stream line per TCP stream: client and server as addr:port; kind rdp (a TPKT/X.224
# Connection Request decoded as RDP), vnc (both RFB versions decoded) or -; frames and
# bytes (sums of frame lengths) as toserver/toclient, the frames checked against
# -z conv,tcp; first and last frame.time_epoch; detail the RDP cookie and requested
# protocols, or the server's and client's RFB versions.
#
# Usage: bash pcaps/make-remote.sh   (as root on Debian 12; installs what is missing)
# Safe to run again; the committed files are replaced only when the new capture passes its
# checks. Every process it starts is stopped by pid whatever way it exits.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name=remote-access
addr=127.0.0.1
rdp_ports=(3389 13389)
vnc_ports=(5900 15900)
ports=("${rdp_ports[@]}" "${vnc_ports[@]}")

tag=make-remote
# shellcheck source=pcaps/lib.sh
. "$(dirname "$0")/lib.sh"
busy() { ss -H -lnt "sport = :$1" | grep -q .; }
wait_for() { # PORT LOG
	local _
	for _ in $(seq 100); do
		ss -H -lnt "src $addr and sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on $addr:$1: $(tail -n 20 "$2")"
}
# free_display FROM: the first X display number from FROM on with no lock and no socket
free_display() {
	local n=$1
	while [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ]; do
		n=$((n + 1))
	done
	echo "$n"
}
wait_display() { # N LOG
	local _
	for _ in $(seq 100); do
		[ -S "/tmp/.X11-unix/X$1" ] && return 0
		sleep 0.1
	done
	die "X display :$1 did not come up: $(tail -n 20 "$2")"
}

# Installing xrdp starts its service only where no policy-rc.d stops it; the busy check
# below then finds port 3389 taken.
need_pkgs xrdp freerdp2-x11 rdesktop xvfb tigervnc-standalone-server tigervnc-tools \
	tigervnc-viewer vncsnapshot openssl tcpdump tshark iproute2
[ "$(id -u)" = 0 ] || die "run as root (tcpdump needs it)"
for p in "${ports[@]}"; do
	busy "$p" && die "tcp port $p is in use; stop that first (a packaged xrdp service?)"
done
tmp=$(mktemp -d /tmp/iotwatch-remote.XXXXXX)
chmod 700 "$tmp"
mkdir -m 700 "$tmp/home"

# ---- the servers' files ----
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=rdp.iotwatch.example \
	-keyout "$tmp/rdp-key.pem" -out "$tmp/rdp-cert.pem" 2>"$tmp/openssl.log" ||
	die "openssl: $(cat "$tmp/openssl.log")"
cat >"$tmp/xrdp.ini" <<EOF
[Globals]
ini_version=1
fork=false
port=tcp://.:${rdp_ports[0]} tcp://.:${rdp_ports[1]}
tcp_nodelay=true
tcp_keepalive=false
security_layer=negotiate
crypt_level=high
certificate=$tmp/rdp-cert.pem
key_file=$tmp/rdp-key.pem
ssl_protocols=TLSv1.2, TLSv1.3
autorun=
allow_channels=true
allow_multimon=false
bitmap_cache=true
bitmap_compression=true
bulk_compression=true
max_bpp=16
new_cursors=true
use_fastpath=both
ls_title=iotwatch remote-access capture

[Logging]
LogFile=$tmp/xrdp.log
LogLevel=INFO
EnableSyslog=false
EnableConsole=false

[Channels]
rdpdr=true
rdpsnd=true
drdynvc=true
cliprdr=true
rail=false
xrdpvr=false
tcutils=false

[Xorg]
name=Xorg
lib=libxup.so
username=ask
password=ask
ip=127.0.0.1
port=-1
code=20
EOF
echo iotwatch | vncpasswd -f >"$tmp/vncpasswd" 2>"$tmp/vncpasswd.log" ||
	die "vncpasswd: $(cat "$tmp/vncpasswd.log")"
chmod 600 "$tmp/vncpasswd"
[ -s "$tmp/vncpasswd" ] || die "vncpasswd wrote nothing"

# ---- capture and servers ----
start tcpdump tcpdump -i lo -U -n -s 0 -w "$tmp/$name.pcap" \
	"host $addr and (tcp port ${ports[0]} or tcp port ${ports[1]} or tcp port ${ports[2]} or tcp port ${ports[3]})"
for _ in $(seq 50); do
	grep -q 'listening on' "$tmp/tcpdump.log" && break
	sleep 0.1
done
grep -q 'listening on' "$tmp/tcpdump.log" || die "tcpdump did not start: $(cat "$tmp/tcpdump.log")"

start xrdp /usr/sbin/xrdp --nodaemon --config "$tmp/xrdp.ini"
for p in "${rdp_ports[@]}"; do
	wait_for "$p" "$tmp/xrdp.log"
done
d_none=$(free_display 40)
start xvnc_none Xvnc ":$d_none" -rfbport "${vnc_ports[0]}" -interface "$addr" -nolisten tcp \
	-SecurityTypes None -geometry 320x240 -depth 16 -desktop iotwatch-none
wait_for "${vnc_ports[0]}" "$tmp/xvnc_none.log"
d_auth=$(free_display $((d_none + 1)))
start xvnc_auth Xvnc ":$d_auth" -rfbport "${vnc_ports[1]}" -interface "$addr" -nolisten tcp \
	-SecurityTypes VncAuth -PasswordFile "$tmp/vncpasswd" -geometry 320x240 -depth 16 \
	-desktop iotwatch-auth
wait_for "${vnc_ports[1]}" "$tmp/xvnc_auth.log"
# the clients' own screen: no TCP listener, stopped with the rest
d_clients=$(free_display $((d_auth + 1)))
start xvfb Xvfb ":$d_clients" -nolisten tcp -screen 0 800x600x24
wait_display "$d_clients" "$tmp/xvfb.log"
sleep 0.5

# run LOG SECONDS CMD...: a client with its own HOME on the private display, stopped with
# SIGTERM after SECONDS if it is still running; returns the client's status (124 if it
# was stopped)
run() {
	local out=$1 secs=$2
	shift 2
	HOME=$tmp/home DISPLAY=:$d_clients timeout -s TERM "$secs" "$@" >"$tmp/$out.log" 2>&1
}

log "session 1: xfreerdp -> $addr:${rdp_ports[0]}, login screen for 4 s"
rc=0
run s1 4 xfreerdp /v:"$addr":"${rdp_ports[0]}" /u:iotwatch /cert:ignore /size:640x480 /bpp:16 \
	/client-hostname:iotwatch-rdp1 /log-level:WARN || rc=$?
[ "$rc" = 124 ] || die "session 1: xfreerdp ended early ($rc): $(tail -n 20 "$tmp/s1.log")"
sleep 1

log "session 2: rdesktop -> $addr:${rdp_ports[1]}, login screen for 4 s"
rc=0
echo yes | run s2 4 rdesktop -u iotwatch -n iotwatch-rdp2 -g 640x480 -a 16 \
	"$addr:${rdp_ports[1]}" || rc=$?
[ "$rc" = 124 ] || die "session 2: rdesktop ended early ($rc): $(tail -n 20 "$tmp/s2.log")"
grep -q 'Connection established using SSL' "$tmp/s2.log" ||
	die "session 2: rdesktop did not get TLS: $(tail -n 20 "$tmp/s2.log")"
sleep 1

log "session 3: xfreerdp /sec:nla -> $addr:${rdp_ports[0]}, refused by the client"
rc=0
run s3 10 xfreerdp /v:"$addr":"${rdp_ports[0]}" /u:iotwatch /sec:nla /cert:ignore \
	/client-hostname:iotwatch-rdp3 /log-level:WARN || rc=$?
case $rc in 0 | 124) die "session 3: xfreerdp status $rc, want a failure by itself" ;; esac
grep -q 'ERRCONNECT_SECURITY_NEGO_CONNECT_FAILED' "$tmp/s3.log" ||
	die "session 3 failed otherwise: $(tail -n 20 "$tmp/s3.log")"
sleep 1

log "session 4: vncsnapshot -> $addr:${vnc_ports[0]}, one snapshot"
run s4 10 vncsnapshot -allowblank -encodings zrle "$addr::${vnc_ports[0]}" "$tmp/snapshot.jpg" ||
	die "session 4: vncsnapshot failed: $(tail -n 20 "$tmp/s4.log")"
[ -s "$tmp/snapshot.jpg" ] || die "session 4: no snapshot"
sleep 1

log "session 5: vncviewer (VncAuth) -> $addr:${vnc_ports[1]}, 4 s"
rc=0
run s5 4 vncviewer -passwd "$tmp/vncpasswd" "$addr::${vnc_ports[1]}" || rc=$?
[ "$rc" = 124 ] || die "session 5: vncviewer ended early ($rc): $(tail -n 20 "$tmp/s5.log")"
for m in 'Choosing security type VncAuth' 'Enabling continuous updates'; do
	grep -q "$m" "$tmp/s5.log" || die "session 5: vncviewer did not get in: $(tail -n 20 "$tmp/s5.log")"
done
sleep 1

stop xvfb
stop xvnc_auth
stop xvnc_none
stop xrdp
sleep 0.5
stop tcpdump
# xrdp saw TLS from both full sessions
[ "$(grep -c 'TLS connection established' "$tmp/xrdp.log")" = 2 ] ||
	die "xrdp did not log two TLS connections: $(tail -n 30 "$tmp/xrdp.log")"

# ---- check and describe ----
f=$tmp/$name.pcap
# Every tshark call has the decode-as: without it, tshark 4.0's VNC heuristic (tcp "vnc")
# takes the stream on 15900 at the server's banner and the frames after it get another
# tcp.stream number (and conv,tcp another conversation).
da=(-d "tcp.port==${rdp_ports[1]},tpkt" -d "tcp.port==${vnc_ports[1]},vnc")
size=$(stat -c %s "$f")
[ "$size" -lt 200000 ] || die "the capture is $size bytes, over the 200 KB budget"
malformed=$(tshark -r "$f" "${da[@]}" -Y _ws.malformed 2>/dev/null | wc -l)
[ "$malformed" = 0 ] || die "$malformed malformed frames"
# every frame: stream, direction, time, length
tshark -r "$f" "${da[@]}" -T fields -E separator=/t -e tcp.stream -e ip.src -e tcp.srcport -e ip.dst \
	-e tcp.dstport -e frame.time_epoch -e frame.len 2>/dev/null >"$tmp/frames"
# RDP: the client's X.224 Connection Request decoded as RDP (cookie, requested protocols)
tshark -r "$f" "${da[@]}" -Y 'tpkt && cotp.type == 0x0e && rdp' -T fields -E separator=/t \
	-e tcp.stream -e rdp.rt_cookie -e rdp.negReq.requestedProtocols 2>/dev/null >"$tmp/rdp"
# VNC: both protocol versions decoded
tshark -r "$f" "${da[@]}" -Y 'vnc.server_proto_ver || vnc.client_proto_ver' -T fields \
	-E separator=/t -e tcp.stream -e vnc.server_proto_ver -e vnc.client_proto_ver 2>/dev/null >"$tmp/vnc"
tshark -r "$f" "${da[@]}" -q -z conv,tcp 2>/dev/null | grep '<->' >"$tmp/conv" || true
{
	printf 'packets\t%s\n' "$(wc -l <"$tmp/frames")"
	printf 'tcp_conversations\t%s\n' "$(wc -l <"$tmp/conv")"
	printf 'rdp_streams\t%s\n' "$(cut -f1 "$tmp/rdp" | sort -u | wc -l)"
	printf 'vnc_streams\t%s\n' "$(awk -F'\t' '$2 != "" { s[$1] = s[$1] "s" } $3 != "" { s[$1] = s[$1] "c" }
		END { for (k in s) if (s[k] ~ /s/ && s[k] ~ /c/) n++; print n + 0 }' "$tmp/vnc")"
	printf 'malformed\t%s\n' "$malformed"
	# the server of a stream is the side of its first frame's destination (the SYN)
	awk -F'\t' -v OFS='\t' '
		FILENAME ~ /rdp$/ { kind[$1] = "rdp"; detail[$1] = "cookie=" $2 " requested=" $3; next }
		FILENAME ~ /vnc$/ {
			if ($2 != "") sv[$1] = $2
			if ($3 != "") cv[$1] = $3
			next
		}
		!($1 in cli) {
			order[++n] = $1; cli[$1] = $2 ":" $3; srv[$1] = $4 ":" $5; first[$1] = $6
		}
		{
			d = ($2 ":" $3 == cli[$1]) ? 0 : 1
			fr[$1, d]++; by[$1, d] += $7; last[$1] = $6
		}
		END {
			for (i = 1; i <= n; i++) {
				s = order[i]
				k = (s in kind) ? kind[s] : "-"; det = (s in kind) ? detail[s] : "-"
				if (k == "-" && (s in sv) && (s in cv)) { k = "vnc"; det = "server=" sv[s] " client=" cv[s] }
				print "stream", s, cli[s], srv[s], k, (fr[s, 0] + 0) "/" (fr[s, 1] + 0),
					(by[s, 0] + 0) "/" (by[s, 1] + 0), first[s], last[s], det
			}
		}' "$tmp/rdp" "$tmp/vnc" "$tmp/frames"
} >"$tmp/$name.expected.tsv"
e=$tmp/$name.expected.tsv

# what the sessions did: 5 TCP connections, in the order of the sessions
want=$(printf '%s\n' "rdp ${rdp_ports[0]}" "rdp ${rdp_ports[1]}" "rdp ${rdp_ports[0]}" \
	"vnc ${vnc_ports[0]}" "vnc ${vnc_ports[1]}")
got=$(awk -F'\t' '$1 == "stream" { sub(/.*:/, "", $4); print $5, $4 }' "$e")
[ "$got" = "$want" ] || die "tshark's streams (kind port) are
$got
want
$want"
grep -q '^tcp_conversations	5$' "$e" || die "tshark's conv,tcp does not find 5 conversations"
grep -q '^rdp_streams	3$' "$e" || die "tshark does not decode 3 RDP streams"
grep -q '^vnc_streams	2$' "$e" || die "tshark does not decode 2 VNC streams"
# conv,tcp's frame count (column 10, exact; its byte columns have units) is the stream's
# (endpoints in sorted order: conv,tcp does not promise which side it names first)
awk -F'\t' '$1 == "stream" { split($6, a, "/"); print ($3 < $4 ? $3 "\t" $4 : $4 "\t" $3) "\t" a[1] + a[2] }' "$e" |
	sort >"$tmp/ours"
awk '{ print ($1 < $3 ? $1 "\t" $3 : $3 "\t" $1) "\t" $10 }' "$tmp/conv" | sort >"$tmp/theirs"
cmp -s "$tmp/ours" "$tmp/theirs" || die "frame counts differ from conv,tcp: $(diff "$tmp/ours" "$tmp/theirs")"
# the full RDP sessions went past TLS to the login screen (server sent over 10 KB)
for b in $(awk -F'\t' '$1 == "stream" && $5 == "rdp" { split($7, b, "/"); print b[2] }' "$e" | head -n 2); do
	[ "$b" -gt 10000 ] || die "an RDP session has only $b bytes from the server"
done

for x in pcap expected.tsv; do
	mv "$tmp/$name.$x" "$here/$name.$x"
	chown "$(stat -c %u:%g "$here")" "$here/$name.$x"
	chmod 644 "$here/$name.$x"
done
log "wrote $name.pcap ($size bytes) and $name.expected.tsv:"
cat "$here/$name.expected.tsv" >&2
