#!/usr/bin/env bash
# test_conformance_ssh.sh - our ssh events against tshark's SSH dissector, computed live,
# for every capture in pcaps/ and every capture in ../shared/pcaps-public/ in which tshark
# finds SSH (MANIFEST.tsv's ssh_banners column; its tshark_decode_as column gives the
# decode-as options). Per TCP connection, compared as multisets:
#   banners   (side, proto_version, software_version, comments), from tshark's
#             ssh.protocol split the way RFC 4253 §4.2 reads it, side from ssh.direction
#   kexinits  (side, HASSH or HASSHServer, the string hashed): ssh.kex.hassh and
#             ssh.kex.hassh_algorithms for the client, ssh.kex.hasshserver(_algorithms)
#             for the server
# A capture without SSH must give no ssh event. Fails on any difference and prints both
# sides. EXCEPT below lists what tshark cannot see, with the reason and the independent
# way the expected values are found instead.
#
# Run from the repository root (make integration) after building ./iotwatch
# (IOTWATCH=path/to/iotwatch for another binary).
set -u
cd "$(dirname "$0")/../.." || exit 1

BIN=${IOTWATCH:-./iotwatch}
PUBLIC=../shared/pcaps-public
command -v tshark >/dev/null || { echo "FAIL test_conformance_ssh: tshark is a test dependency"; exit 1; }
[ -x "$BIN" ] || { echo "FAIL test_conformance_ssh: $BIN is missing (make iotwatch)"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-sshconf.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

# Extra tshark options per file, beyond MANIFEST.tsv's, with why:
#   pcaps/ssh-openssh.pcap  pcaps/make-ssh.sh runs sessions on tcp/2222 and tcp/8022 too
#   pcaps/rules-tunnel-long.pcap (and demo-rules.pcap, which holds it): sshd on tcp/2223
#   ndpi/ssh.pcap           its second connection is SSH on tcp/8000 (Apache MINA SSHD);
#                           the manifest counted tcp/22 only
extra_da() {
	case "$1" in
	pcaps/ssh-openssh.pcap) echo "-d tcp.port==2222,ssh -d tcp.port==8022,ssh" ;;
	pcaps/rules-tunnel-long.pcap | pcaps/demo-rules.pcap) echo "-d tcp.port==2223,ssh" ;;
	*/ndpi/ssh.pcap) echo "-d tcp.port==8000,ssh" ;;
	esac
}

# path <TAB> decode-as options
: >"$T/list.tsv"
for f in pcaps/*.pcap; do
	[ -e "$f" ] && printf '%s\t%s\n' "$f" "$(extra_da "$f")" >>"$T/list.tsv"
done
if [ -f "$PUBLIC/MANIFEST.tsv" ]; then
	awk -F'\t' -v dir="$PUBLIC" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		NF > 1 && $col["ssh_banners"] > 0 { print dir "/" $col["path"] "\t" $col["tshark_decode_as"] }
	' "$PUBLIC/MANIFEST.tsv" | while IFS=$'\t' read -r path da; do
		printf '%s\t%s %s\n' "$path" "$da" "$(extra_da "$path")"
	done >>"$T/list.tsv"
else
	echo "NOTE: $PUBLIC/MANIFEST.tsv is absent; checking pcaps/ only"
fi

i=0
while IFS=$'\t' read -r path da; do
	i=$((i + 1))
	# one row per frame with a banner or a KEXINIT; -E occurrence=f: the first of each
	# shellcheck disable=SC2086 # the decode-as column is a list of options
	tshark -r "$path" $da -Y 'ssh.protocol or ssh.message_code == 20' -T fields -E separator=/t \
		-E occurrence=f -e tcp.stream -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport \
		-e ssh.direction -e ssh.protocol -e ssh.kex.hassh -e ssh.kex.hassh_algorithms \
		-e ssh.kex.hasshserver -e ssh.kex.hasshserver_algorithms >"$T/$i.tshark" 2>/dev/null || true
	"$BIN" -r "$path" -o /dev/null -e "$T/$i.jsonl" -q 2>"$T/$i.err" </dev/null
	printf '%s\t%s\t%s\t%s\n' "$i" "$path" "$?" "$da" >>"$T/index.tsv"
done <"$T/list.tsv"

python3 - "$T" <<'EOF'
import collections, hashlib, json, os, re, struct, subprocess, sys

tmp = sys.argv[1]

# file (as listed, pcaps-public/ prefix removed) -> reason. The expected values of the
# side tshark misses come from tshark's own reassembled byte stream of the connection
# (follow,tcp,raw), read by peer_from_stream() below: an SSH reader independent of ours.
EXCEPT = {
    "zeek/server-pre-banner-data.pcap":
        "the server sends 1.7 KB of text lines before its identification (RFC 4253 §4.2 allows "
        "it); tshark 4.0 then never finds the server's banner nor its KEXINIT",
}


def split_banner(line):
    """'SSH-2.0-OpenSSH_9.2p1 Debian-2' -> ('2.0', 'OpenSSH_9.2p1', 'Debian-2' or None)."""
    rest = line[4:] if line.startswith("SSH-") else line
    ident, sp, comments = rest.partition(" ")
    version, _, software = ident.partition("-")
    return version, software, (comments if sp and comments else None)


def endpoint(ip4, ip6, port):
    return (ip4 or ip6, int(port))


def tshark_rows(path):
    """conn -> Counter of ('banner', side, v, sw, comments) and ('kexinit', side, hash, string);
    and tcp.stream -> conn."""
    out, conns = collections.defaultdict(collections.Counter), {}
    for line in open(path, encoding="utf-8", errors="replace"):
        f = line.rstrip("\n").split("\t")
        if len(f) < 13:
            continue
        stream, s4, s6, sp, d4, d6, dp, direction, proto, h, hs, hsrv, hsrvs = f[:13]
        conn = frozenset([endpoint(s4, s6, sp), endpoint(d4, d6, dp)])
        conns[stream] = conn
        side = "server" if direction == "1" else "client"
        if proto:
            out[conn][("banner", side) + split_banner(proto)] += 1
        if h:
            out[conn][("kexinit", "client", h, hs)] += 1
        if hsrv:
            out[conn][("kexinit", "server", hsrv, hsrvs)] += 1
    return out, conns


def our_rows(path):
    out = collections.defaultdict(collections.Counter)
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        if r.get("event_type") != "ssh":
            continue
        s = r["ssh"]
        conn = frozenset([(r["src_ip"], r["src_port"]), (r["dest_ip"], r["dest_port"])])
        if s["type"] == "banner":
            out[conn][("banner", s["side"], s.get("proto_version"), s.get("software_version"),
                       s.get("comments"))] += 1
        elif s["type"] == "kexinit":
            hs = s.get("hassh", {})
            out[conn][("kexinit", s["side"], hs.get("hash"), hs.get("string"))] += 1
    return out


def follow_raw(path, da, stream):
    """The two byte streams of a TCP connection as tshark reassembles them: (from the
    initiator, from the other side); tshark indents the second side's lines with a TAB."""
    out = subprocess.run(["tshark", "-r", path] + da.split() + ["-q", "-z", f"follow,tcp,raw,{stream}"],
                         capture_output=True, text=True).stdout
    a, b = bytearray(), bytearray()
    for line in out.splitlines():
        if re.fullmatch(r"\t?[0-9a-f]+", line):
            (b if line.startswith("\t") else a).extend(bytes.fromhex(line.strip()))
    return bytes(a), bytes(b)


def peer_from_stream(data, side):
    """An SSH byte stream read by hand: its identification line, then the first binary packet
    if it is a KEXINIT. Returns the rows tshark would have given."""
    rows = collections.Counter()
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            return rows
        line = data[pos:nl].rstrip(b"\r").decode("utf-8", "replace")
        pos = nl + 1
        if line.startswith("SSH-"):
            rows[("banner", side) + split_banner(line)] += 1
            break
    if pos + 5 > len(data):
        return rows
    plen, pad = struct.unpack("!IB", data[pos:pos + 5])
    payload = data[pos + 5:pos + 4 + plen - pad]
    if not payload or payload[0] != 20:
        return rows
    lists, off = [], 17
    for _ in range(10):
        (n,) = struct.unpack("!I", payload[off:off + 4])
        lists.append(payload[off + 4:off + 4 + n].decode())
        off += 4 + n
    w = 0 if side == "client" else 1
    s = ";".join([lists[0], lists[2 + w], lists[4 + w], lists[6 + w]])
    rows[("kexinit", side, hashlib.md5(s.encode()).hexdigest(), s)] += 1
    return rows


def show(c):
    return "\n".join("      " + " | ".join("-" if x is None else str(x)[:90] for x in k) + (f"  x{n}" if n > 1 else "")
                     for k, n in sorted(c.items(), key=repr)) or "      (none)"


bad = 0
results = []
for line in open(os.path.join(tmp, "index.tsv")):
    i, path, rc, da = line.rstrip("\n").split("\t")
    name = path.split("pcaps-public/")[-1]
    theirs, stream_conn = tshark_rows(os.path.join(tmp, i + ".tshark"))
    ok = rc == "0"
    try:
        ours = our_rows(os.path.join(tmp, i + ".jsonl"))
    except (OSError, ValueError, KeyError) as e:
        print(f"FAIL {name}: cannot read our events: {e}")
        ours, ok = {}, False
    note = ""
    if name in EXCEPT:
        note = "exception: " + EXCEPT[name]
        # each connection tshark knows, its missing side read from the reassembled stream
        for st, conn in sorted(stream_conn.items()):
            client, server = follow_raw(path, da, st)
            have = {k[1] for k in theirs[conn]}
            for side, data in (("client", client), ("server", server)):
                if side not in have:
                    theirs[conn].update(peer_from_stream(data, side))
    exp = os.path.splitext(path)[0] + ".expected.tsv"
    if path.startswith("pcaps/") and os.path.isfile(exp):
        # the committed tshark rows (pcaps/make-<name>.sh) must be what tshark says now
        committed = collections.Counter()
        for row in open(exp, encoding="utf-8"):
            f = row.rstrip("\n").split("\t")
            if f[0] == "banner" and len(f) >= 5:
                committed[("banner", f[3]) + split_banner(f[4])] += 1
            elif f[0] == "kexinit" and len(f) >= 6:
                committed[("kexinit", f[3], f[4], f[5])] += 1
        live = sum(theirs.values(), collections.Counter())
        # only files that list SSH rows (make-ssh.sh); the rule captures' files hold counts
        if committed and committed != live:
            ok = False
            print(f"FAIL {name}: {exp} differs from tshark now\n  file:\n{show(committed)}\n  tshark:\n{show(live)}")
    conns = set(theirs) | set(ours)
    n_ours = sum(sum(c.values()) for c in ours.values())
    n_theirs = sum(sum(c.values()) for c in theirs.values())
    for conn in sorted(conns, key=repr):
        if ours.get(conn, collections.Counter()) != theirs.get(conn, collections.Counter()):
            ok = False
            ends = " <-> ".join(f"{a}:{p}" for a, p in sorted(conn))
            print(f"FAIL {name} {ends}\n  ours:\n{show(ours.get(conn, {}))}\n  tshark:\n{show(theirs.get(conn, {}))}")
    banners = sum(n for c in theirs.values() for k, n in c.items() if k[0] == "banner")
    hassh = sum(n for c in theirs.values() for k, n in c.items() if k[0] == "kexinit")
    bad += not ok
    results.append(("PASS" if ok else "FAIL", name, n_ours, n_theirs, banners, hassh, note))

w = max(len(r[1]) for r in results) if results else 10
print(f"{'':4}  {'capture':{w}}  {'ours':>4}  {'tshark':>6}  {'banners':>7}  {'hassh':>5}")
for st, name, o, t, b, h, note in results:
    print(f"{st}  {name:{w}}  {o:4d}  {t:6d}  {b:7d}  {h:5d}  {note}")
with_ssh = [r for r in results if r[3]]
print(f"test_conformance_ssh: {len(results) - bad}/{len(results)} captures match "
      f"({len(with_ssh)} with SSH: {sum(r[4] for r in with_ssh)} banners, {sum(r[5] for r in with_ssh)} HASSH values)")
sys.exit(1 if bad else 0)
EOF
