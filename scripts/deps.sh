#!/bin/sh
# Installs the Debian 12 packages iotwatch needs to build, test and benchmark.
# Called by the Makefile; installs only what is missing. Usage: deps.sh build|demo|test|bench|fuzz
set -eu
build="gcc make pkg-config libpcap-dev libndpi-dev libhiredis-dev libcyaml-dev librdkafka-dev libssl-dev libjson-c-dev"
demo="$build jq"
test="$build libcmocka-dev clang libclang-rt-14-dev jq python3 tshark tcpdump tcpreplay redis-server iproute2 kcat logrotate rsyslog"
bench="$build libndpi-bin time redis-server"
fuzz="$build clang libclang-rt-14-dev"
case "${1:-build}" in
build) want=$build ;;
demo) want=$demo ;;
test) want=$test ;;
bench) want=$bench ;;
fuzz) want=$fuzz ;;
*) echo "deps.sh: unknown set '$1' (build|demo|test|bench|fuzz)" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing (run as root or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends $missing >/dev/null
