#!/usr/bin/env bash
# test_reader.sh - the replay reader of classic pcap files (sensor/pcapfile.c, with the
# sensor decoding frames ahead of their turn, and its thread reading the file ahead)
# against libpcap's (IOTWATCH_READER=libpcap) and against itself without the thread
# (IOTWATCH_READER=inline):
#   - every capture of pcaps/ and of ../shared/pcaps-public/ (when there) replayed both
#     ways gives the same events, alerts, device inventory and counters, byte for byte
#     (the stats record's timing fields aside); at least one classic pcap file took the
#     new reader and, when public captures are there, at least one pcapng file did not;
#   - the bench generator's capture (10000 devices, 20000 packets, 3 MB: many of the
#     reader's blocks) all three ways, with every rule on: the same alerts and events; and
#     the same capture cut inside a record far into the file: read up to the damage the
#     same three ways, said once;
#   - damaged files: one cut inside a record's data and one inside a record's header are
#     read up to the damage both ways (the same events), and both readers say so once on
#     stderr with libpcap's words;
#   - SIGINT part way through a replay of many blocks: exit 0, stopped early, stats said;
#   - a capture read from stdin (-r -) still goes through libpcap and gives the same events.
#
# Run from the repository root (make integration). IOTWATCH overrides the binary (default
# ./iotwatch). Exit 0 when every check passes, 1 otherwise.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

IW=${IOTWATCH:-./iotwatch}
need_files test_reader "$IW" pcaps/demo.pcap tests/bench/gen.c tests/bench/rules.yaml
need_tools test_reader python3 gcc

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-reader.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

# kind FILE: "classic" for a pcap file the new reader takes (version 2.4, a link type the
# sensor decodes), "pcapng", or "other"
kind() {
	python3 - "$1" <<'EOF'
import struct, sys
b = open(sys.argv[1], 'rb').read(24)
if len(b) >= 4 and b[:4] == b'\x0a\x0d\x0d\x0a':
    print('pcapng'); sys.exit()
for e in '<>':
    if len(b) == 24:
        m, ma, mi, _, _, _, lt = struct.unpack(e + 'IHHiIII', b)
        if m in (0xa1b2c3d4, 0xa1b23c4d):
            ok = (ma, mi) == (2, 4) and lt in (0, 1, 101, 108, 113, 228, 229, 276)
            print('classic' if ok else 'other'); sys.exit()
print('other')
EOF
}

# run OUT READER ARGS...: events, alerts, devices and stderr of one replay into new OUT.*
# files, the stats record's timing fields blanked
run() {
	local out=$1 reader=$2
	shift 2
	rm -f "$out".* # the exporter appends
	IOTWATCH_READER=$reader "$IW" -q --stats -e "$out.ev" -o "$out.al" --devices "$out.dev" "$@" \
		>/dev/null 2>"$out.err"
	echo $? >"$out.rc"
	sed -i -E '/"event_type":"stats"/ s/"(timestamp|elapsed_s|pps|mbps)":("[^"]*"|[0-9.e+-]+)/"\1":0/g' "$out.ev"
	grep -vE '^  (elapsed_s|pps|mbps) ' "$out.err" >"$out.err2"
}

# same A B: the two runs' outputs are identical
same() {
	local x
	for x in rc ev al dev err2; do
		cmp -s "$1.$x" "$2.$x" || return 1
	done
}

nclassic=0 npcapng=0 nfiles=0 bad=""
while IFS= read -r f; do
	nfiles=$((nfiles + 1))
	case $(kind "$f") in
	classic) nclassic=$((nclassic + 1)) ;;
	pcapng) npcapng=$((npcapng + 1)) ;;
	esac
	run "$T/a" "" -r "$f"
	run "$T/b" libpcap -r "$f"
	same "$T/a" "$T/b" || bad="$bad $f"
done < <(find pcaps ../shared/pcaps-public -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) 2>/dev/null | sort)
check "every capture ($nfiles: $nclassic classic pcap, $npcapng pcapng) gives the same events, alerts, devices and counters with both readers" \
	"$([ -z "$bad" ] && [ "$nclassic" -gt 0 ] && echo 0 || echo 1)" "${bad:+differ:$bad}"
if [ -d ../shared/pcaps-public ]; then
	check "public captures include pcapng files, which stay with libpcap" "$([ "$npcapng" -gt 0 ] && echo 0 || echo 1)" "$npcapng"
else
	skip "public captures: ../shared/pcaps-public absent"
fi

# the bench generator's traffic, every rule on
gcc -O2 -std=c11 -o "$T/gen" tests/bench/gen.c && "$T/gen" -o "$T/gen.pcap" -n 20000 -s 7 >/dev/null
run "$T/a" "" -r "$T/gen.pcap" -c tests/bench/rules.yaml
run "$T/b" libpcap -r "$T/gen.pcap" -c tests/bench/rules.yaml
run "$T/c" inline -r "$T/gen.pcap" -c tests/bench/rules.yaml
na=$(wc -l <"$T/a.al")
check "generated fleet (20000 packets, every rule on): the same alerts and events all three ways" \
	"$(same "$T/a" "$T/b" && same "$T/a" "$T/c" && [ "$na" -gt 0 ] && echo 0 || echo 1)" "$na alerts, $(wc -l <"$T/a.ev") events"

# damaged files: cut inside the data of a record, and inside a record header
size=$(stat -c %s pcaps/demo.pcap)
# cut IN N DATA HDR: IN cut inside the data of its record N (into DATA) and inside that
# record's header (into HDR)
cut() {
	python3 - "$@" <<'EOF'
import struct, sys
b = open(sys.argv[1], 'rb').read()
e = '<' if struct.unpack('<I', b[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d) else '>'
off, n, cuts = 24, 0, []
while off + 16 <= len(b):
    caplen = struct.unpack(e + 'I', b[off + 8:off + 12])[0]
    n += 1
    if n == int(sys.argv[2]):
        cuts = [off + 16 + caplen // 2, off + 7]
        break
    off += 16 + caplen
open(sys.argv[3], 'wb').write(b[:cuts[0]])
open(sys.argv[4], 'wb').write(b[:cuts[1]])
EOF
}
cut pcaps/demo.pcap 100 "$T/cut-data.pcap" "$T/cut-hdr.pcap"
for c in data hdr; do
	run "$T/a" "" -r "$T/cut-$c.pcap"
	run "$T/b" libpcap -r "$T/cut-$c.pcap"
	said=$(grep -c 'stopped reading this file' "$T/a.err")
	check "a file cut inside a record's $c: read up to the damage the same both ways, said once" \
		"$(same "$T/a" "$T/b" && [ "$said" -eq 1 ] && echo 0 || echo 1)" "$(grep 'stopped reading' "$T/a.err" | head -n 1)"
done

cut "$T/gen.pcap" 15000 "$T/gcut-data.pcap" "$T/gcut-hdr.pcap"
for c in data hdr; do
	run "$T/a" "" -r "$T/gcut-$c.pcap"
	run "$T/b" libpcap -r "$T/gcut-$c.pcap"
	run "$T/c" inline -r "$T/gcut-$c.pcap"
	said=$(grep -c 'stopped reading this file' "$T/a.err")
	check "the generated capture cut inside record 15000's $c: the same all three ways, said once" \
		"$(same "$T/a" "$T/b" && same "$T/a" "$T/c" && [ "$said" -eq 1 ] && echo 0 || echo 1)" "$(grep 'stopped reading' "$T/a.err" | head -n 1)"
done

# interrupted: SIGINT part way through a replay of many blocks stops it (the reader's
# thread stopped and joined: -k kills a sensor that hangs instead), exit 0, with the stats
"$T/gen" -o "$T/big.pcap" -n 1000000 -s 7 >/dev/null
# (the file three times over: 3 M packets, more than a fast machine replays in 0.8 s)
timeout --preserve-status -k 10 -s INT 0.8 "$IW" -q --stats -r "$T/big.pcap" -r "$T/big.pcap" \
	-r "$T/big.pcap" -o /dev/null >/dev/null 2>"$T/int.err"
rc=$?
n=$(awk '/^  packets /{print $2}' "$T/int.err")
check "SIGINT part way through a replay of 3000000 packets: exit 0, stopped early, its stats said" \
	"$([ "$rc" -eq 0 ] && [ -n "$n" ] && [ "$n" -lt 3000000 ] && echo 0 || echo 1)" "exit $rc, ${n:-no} packets read"
rm -f "$T/big.pcap"

# stdin: libpcap reads it, whatever the environment says
run "$T/a" "" -r pcaps/demo.pcap
rm -f "$T/s.ev"
"$IW" -q -e "$T/s.ev" -r - <pcaps/demo.pcap >/dev/null 2>&1
grep -v '"event_type":"stats"' "$T/a.ev" >"$T/a.ev2"
grep -v '"event_type":"stats"' "$T/s.ev" >"$T/s.ev2"
check "stdin (-r -) gives the events of the file (of $size bytes)" "$(cmp -s "$T/a.ev2" "$T/s.ev2" && echo 0 || echo 1)"

summary test_reader
