#!/usr/bin/env bash
# Makes pcaps/ssh-openssh.pcap and pcaps/ssh-openssh.expected.tsv: SSH from Debian 12's
# real OpenSSH client against a private OpenSSH server (its own config file, host key and
# client keys in a temp dir, nothing of /etc/ssh used), captured with tcpdump on lo.
# Nothing leaves 127.0.0.1 and nothing is hand-crafted.
#
# The server listens on 127.0.0.1 ports 22 (where tshark and Zeek expect SSH), 2222 and
# 8022 (a port no one maps to SSH: the sensor finds the parser by its probe there). The
# sessions, in order, each a fresh TCP connection:
#   1. port 22:   key login as root, runs 'echo hello; uname -a' (the client's defaults)
#   2. port 2222: the same with another kex/cipher/MAC/compression preference
#                 (-o KexAlgorithms=... -o Ciphers=... -o MACs=... -C), so its HASSH differs
#   3. port 22:   a refused login: a key the server does not know (Permission denied)
#   4. port 8022: key login, runs 'true'
#
# expected.tsv, from tshark (ports 2222 and 8022 decoded as SSH with -d), tab-separated:
#   packets, ssh_banners, ssh_kexinits, malformed  <TAB> count
#   banner     <TAB> frame <TAB> tcp.stream <TAB> side <TAB> ssh.protocol
#   kexinit    <TAB> frame <TAB> tcp.stream <TAB> side <TAB> hassh <TAB> hassh algorithms
# where side is client (to the server port) or server, hassh is ssh.kex.hassh for a
# client and ssh.kex.hasshserver for a server.
#
# Usage: bash pcaps/make-ssh.sh   (as root on Debian 12; installs what is missing)
# Safe to run again; the committed files are replaced only when the new capture passes its
# checks. Every process it starts is stopped by pid whatever way it exits.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name=ssh-openssh
addr=127.0.0.1
ports=(22 2222 8022)

tag=make-ssh
# shellcheck source=pcaps/lib.sh
. "$(dirname "$0")/lib.sh"
busy() { ss -H -lnt "sport = :$1" | grep -q .; }
wait_for() { # PORT
	local _
	for _ in $(seq 50); do
		ss -H -lnt "src $addr and sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on $addr:$1: $(cat "$tmp/sshd.log")"
}

need_pkgs openssh-server openssh-client tcpdump tshark iproute2
[ "$(id -u)" = 0 ] || die "run as root (tcpdump and a root login need it)"
for p in "${ports[@]}"; do
	busy "$p" && die "tcp port $p is in use; stop that first"
done
tmp=$(mktemp -d /tmp/iotwatch-ssh.XXXXXX)
chmod 700 "$tmp"

# sshd's privilege separation directory is compiled in; make it if no sshd ever ran here
made_privsep=""
if [ ! -d /run/sshd ]; then
	mkdir -m 755 /run/sshd
	made_privsep=yes
fi
drop_privsep() { [ -z "$made_privsep" ] || rmdir /run/sshd 2>/dev/null || true; }
trap 'cleanup; drop_privsep' EXIT

ssh-keygen -q -t ed25519 -N '' -C iotwatch-host -f "$tmp/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C iotwatch-client -f "$tmp/client"
ssh-keygen -q -t ed25519 -N '' -C iotwatch-stranger -f "$tmp/stranger"
cp "$tmp/client.pub" "$tmp/authorized_keys"
{
	for p in "${ports[@]}"; do
		echo "Port $p"
	done
	cat <<EOF
ListenAddress $addr
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
} >"$tmp/sshd_config"
/usr/sbin/sshd -t -f "$tmp/sshd_config" || die "sshd rejects its config"

start tcpdump tcpdump -i lo -U -n -s 0 -w "$tmp/$name.pcap" \
	"host $addr and (tcp port ${ports[0]} or tcp port ${ports[1]} or tcp port ${ports[2]})"
for _ in $(seq 50); do
	grep -q 'listening on' "$tmp/tcpdump.log" && break
	sleep 0.1
done
grep -q 'listening on' "$tmp/tcpdump.log" || die "tcpdump did not start: $(cat "$tmp/tcpdump.log")"

start sshd /usr/sbin/sshd -D -e -f "$tmp/sshd_config"
for p in "${ports[@]}"; do
	wait_for "$p"
done
sleep 0.5

# c PORT KEY ARGS...: one ssh session with nothing from ~/.ssh or /etc/ssh/ssh_config
c() {
	local port=$1 key=$2
	shift 2
	ssh -F /dev/null -p "$port" -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile="$tmp/known_hosts" \
		-o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 "$@"
}

log "session 1: port 22, client defaults"
c 22 "$tmp/client" root@"$addr" 'echo hello; uname -a' >"$tmp/s1.out" 2>&1 ||
	die "session 1 failed: $(cat "$tmp/s1.out")"
grep -qx hello "$tmp/s1.out" || die "session 1 did not run its command: $(cat "$tmp/s1.out")"
sleep 0.5

log "session 2: port 2222, other kex/cipher/mac/compression"
c 2222 "$tmp/client" -o KexAlgorithms=curve25519-sha256,diffie-hellman-group14-sha256 \
	-o Ciphers=aes256-ctr,aes128-gcm@openssh.com -o MACs=hmac-sha2-512,hmac-sha2-256 -C \
	root@"$addr" 'echo hello; uname -a' >"$tmp/s2.out" 2>&1 ||
	die "session 2 failed: $(cat "$tmp/s2.out")"
grep -qx hello "$tmp/s2.out" || die "session 2 did not run its command: $(cat "$tmp/s2.out")"
sleep 0.5

log "session 3: port 22, a key the server does not know"
if c 22 "$tmp/stranger" root@"$addr" true >"$tmp/s3.out" 2>&1; then
	die "the server accepted an unknown key"
fi
grep -q 'Permission denied' "$tmp/s3.out" || die "session 3 failed otherwise: $(cat "$tmp/s3.out")"
sleep 0.5

log "session 4: port 8022"
c 8022 "$tmp/client" root@"$addr" true >"$tmp/s4.out" 2>&1 || die "session 4 failed: $(cat "$tmp/s4.out")"
sleep 1

stop sshd
sleep 0.5
stop tcpdump

# ---- check and describe ----
f=$tmp/$name.pcap
da=(-d "tcp.port==${ports[1]},ssh" -d "tcp.port==${ports[2]},ssh")
size=$(stat -c %s "$f")
[ "$size" -lt 100000 ] || die "the capture is $size bytes, over the 100 KB budget"
malformed=$(tshark -r "$f" "${da[@]}" -Y _ws.malformed 2>/dev/null | wc -l)
[ "$malformed" = 0 ] || die "$malformed malformed frames"
# tshark puts one SSH message per tree item; a frame holds at most one banner or KEXINIT
tshark -r "$f" "${da[@]}" -Y 'ssh.protocol' -T fields -E separator=/t \
	-e frame.number -e tcp.stream -e tcp.dstport -e ssh.protocol 2>/dev/null >"$tmp/banners"
tshark -r "$f" "${da[@]}" -Y 'ssh.message_code == 20' -T fields -E separator=/t \
	-e frame.number -e tcp.stream -e tcp.dstport -e ssh.kex.hassh -e ssh.kex.hassh_algorithms \
	-e ssh.kex.hasshserver -e ssh.kex.hasshserver_algorithms 2>/dev/null >"$tmp/kexinits"
{
	printf 'packets\t%s\n' "$(tshark -r "$f" 2>/dev/null | wc -l)"
	printf 'ssh_banners\t%s\n' "$(wc -l <"$tmp/banners")"
	printf 'ssh_kexinits\t%s\n' "$(wc -l <"$tmp/kexinits")"
	printf 'malformed\t%s\n' "$malformed"
	# what was sent to a server port came from the client (awk, not read: empty fields
	# must stay fields)
	awk -F'\t' -v OFS='\t' -v ports=" ${ports[*]} " '
		function side(dp) { return index(ports, " " dp " ") ? "client" : "server" }
		FILENAME ~ /banners$/ { print "banner", $1, $2, side($3), $4; next }
		side($3) == "client" { print "kexinit", $1, $2, "client", $4, $5; next }
		{ print "kexinit", $1, $2, "server", $6, $7 }
	' "$tmp/banners" "$tmp/kexinits"
} >"$tmp/$name.expected.tsv"

# what the sessions did: 4 connections with 2 banners and 2 KEXINITs each; two client
# HASSHs (the second session's differs), every KEXINIT with its HASSH or HASSHServer
grep -q '^ssh_banners	8$' "$tmp/$name.expected.tsv" || die "tshark does not find 8 banners"
grep -q '^ssh_kexinits	8$' "$tmp/$name.expected.tsv" || die "tshark does not find 8 KEXINITs"
[ "$(awk -F'\t' '$1 == "kexinit" && $4 == "client" { print $5 }' "$tmp/$name.expected.tsv" | sort -u | wc -l)" = 2 ] ||
	die "expected two client HASSHs"
awk -F'\t' '$1 == "kexinit" && $5 == "" { bad = 1 } END { exit bad }' "$tmp/$name.expected.tsv" ||
	die "tshark gave a KEXINIT without HASSH"

for x in pcap expected.tsv; do
	mv "$tmp/$name.$x" "$here/$name.$x"
	chown "$(stat -c %u:%g "$here")" "$here/$name.$x"
	chmod 644 "$here/$name.$x"
done
log "wrote $name.pcap ($size bytes) and $name.expected.tsv:"
cat "$here/$name.expected.tsv" >&2
