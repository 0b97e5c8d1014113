#!/bin/sh
# make-seeds.sh - extracts fuzzing seeds from captures into tests/fuzz/seeds/<target>/.
#
# Usage: sh tests/fuzz/make-seeds.sh [DIR_OR_PCAP ...]
#   default: ../shared/pcaps-public (next to the repository) and pcaps/, when present.
#
# What each target gets (the input layouts are described at the top of each fuzz_*.c):
#   fuzz_packet   a link-type byte, then frames as | flags 1 | length 2 | bytes |: single
#                 frames, the first frames of each capture, every IP fragment of a
#                 capture in order, and each IP packet re-wrapped in every link type
#   fuzz_mqtt, fuzz_modbus, fuzz_coap, fuzz_tls, fuzz_dns, fuzz_dns_tcp, fuzz_ssh
#                 TCP/UDP payloads to or from the protocol's ports (plus the ports the
#                 capture's MANIFEST.tsv row decodes as that protocol), one packet each,
#                 and for TCP the first bytes of each direction's stream
#   fuzz_stream   one direction of TCP flows as segment and acknowledgement operations
#   fuzz_defrag   the IP fragments found, as fragment records
# Seeds are named by the SHA-1 of their content (files named regression-* are inputs that
# once crashed a target: they are kept across runs); each target keeps at most 150 files
# and 900 KB, so they can be committed. Re-running replaces the seed directories.
# Needs only python3 (a small pcap/pcapng reader is built in).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ "$#" -eq 0 ]; then
	for d in "$repo/../shared/pcaps-public" "$repo/pcaps"; do
		[ -d "$d" ] && set -- "$@" "$d"
	done
fi
if [ "$#" -eq 0 ]; then
	echo "make-seeds: no captures found (give directories or files)" >&2
	exit 1
fi
command -v python3 >/dev/null || { echo "make-seeds: python3 is needed" >&2; exit 1; }

exec python3 - "$here/seeds" "$@" <<'PY'
import hashlib, os, shutil, struct, sys

out_root, inputs = sys.argv[1], sys.argv[2:]
MAX_FILES, MAX_BYTES, MAX_SEED = 150, 900 * 1024, 16 * 1024

# fuzz_packet.c's dlts[] order: the link-type byte is an index into it
DLT_INDEX = {1: 0, 0: 1, 12: 2, 14: 3, 108: 4, 113: 5, 101: 6, 228: 7, 229: 8, 276: 9}
PORTS = {  # target: (IP protocol, default server ports)
    "mqtt": (6, {1883}),
    "modbus": (6, {502}),
    "coap": (17, {5683, 5684}),
    "tls": (6, {443, 8443, 8883, 4433, 5671}),
    "dns": (17, {53, 5353, 5355}),
    "dns_tcp": (6, {53}),
    "ssh": (6, {22, 2222}),
}
DECODE_AS = {"mqtt": "mqtt", "mbtcp": "modbus", "modbus": "modbus", "coap": "coap", "tls": "tls", "dns": "dns",
             "ssh": "ssh"}


def read_pcap(path):
    """Yields (linktype, frame bytes) from a pcap or pcapng file; ignores what it cannot read."""
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
        off = 24
        while off + 16 <= len(data):
            incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
            off += 16
            if incl > len(data) - off:
                break
            yield linktype, data[off:off + incl]
            off += incl
    elif magic == b"\x0a\x0d\x0d\x0a":
        off, e, links = 0, "<", []
        while off + 12 <= len(data):
            if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
                e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                links = []
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if blen < 12 or blen > len(data) - off:
                break
            body = data[off + 8:off + blen - 4]
            if btype == 1 and len(body) >= 2:  # interface description
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6 and len(body) >= 20:  # enhanced packet
                iface, _, _, cap, _ = struct.unpack(e + "IIIII", body[:20])
                if iface < len(links):
                    yield links[iface], body[20:20 + cap]
            elif btype == 3 and len(body) >= 4 and links:  # simple packet
                yield links[0], body[4:]
            off += blen


def link_to_ip(lt, f):
    """Returns (IP packet bytes, ethertype-like family) or None."""
    if lt == 1:
        off = 12
        if len(f) < 14:
            return None
        et = struct.unpack("!H", f[12:14])[0]
        off = 14
        while et in (0x8100, 0x88A8, 0x9100) and len(f) >= off + 4:
            et = struct.unpack("!H", f[off + 2:off + 4])[0]
            off += 4
        return f[off:] if et in (0x0800, 0x86DD) else None
    if lt == 113:
        return f[16:] if len(f) >= 16 and f[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if lt == 276:
        return f[20:] if len(f) >= 20 and f[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    if lt in (0, 108):
        return f[4:] if len(f) > 4 else None
    if lt in (12, 14, 101, 228, 229):
        return f
    return None


def parse_ip(p):
    """Returns a dict for an IPv4/IPv6 packet: proto, src, dst, l4 (bytes), frag info."""
    if not p:
        return None
    v = p[0] >> 4
    if v == 4 and len(p) >= 20:
        ihl = (p[0] & 15) * 4
        total = struct.unpack("!H", p[2:4])[0]
        if ihl < 20 or total < ihl or len(p) < ihl:
            return None
        fl = struct.unpack("!H", p[6:8])[0]
        r = {"v": 4, "proto": p[9], "src": p[12:16], "dst": p[16:20], "hdr": p[:ihl],
             "id": struct.unpack("!H", p[4:6])[0], "off": (fl & 0x1FFF) * 8, "more": bool(fl & 0x2000),
             "l4": p[ihl:min(total, len(p))]}
        r["frag"] = r["off"] != 0 or r["more"]
        return r
    if v == 6 and len(p) >= 40:
        nh, off, plen = p[6], 40, struct.unpack("!H", p[4:6])[0]
        body_end = min(40 + plen, len(p))
        r = {"v": 6, "src": p[8:24], "dst": p[24:40], "hdr": p[:40], "frag": False}
        for _ in range(8):
            if nh in (0, 43, 60) and off + 2 <= body_end:
                nh, off = p[off], off + (p[off + 1] + 1) * 8
            elif nh == 44 and off + 8 <= body_end:
                fo = struct.unpack("!H", p[off + 2:off + 4])[0]
                r.update(frag=bool(fo & 0xFFF9), off=fo & 0xFFF8, more=bool(fo & 1),
                         id=struct.unpack("!I", p[off + 4:off + 8])[0])
                nh, off = p[off], off + 8
            else:
                break
        r["proto"], r["l4"] = nh, p[off:body_end]
        return r
    return None


def l4(ip):
    """(sport, dport, payload, seq, ack, flags) for TCP/UDP, else None."""
    s = ip["l4"]
    if ip["frag"] and ip.get("off", 0):
        return None
    if ip["proto"] == 6 and len(s) >= 20:
        doff = (s[12] >> 4) * 4
        sp, dp, seq, ack = struct.unpack("!HHII", s[:12])
        return sp, dp, s[doff:], seq, ack, s[13]
    if ip["proto"] == 17 and len(s) >= 8:
        sp, dp, ulen = struct.unpack("!HHH", s[:6])
        return sp, dp, s[8:max(8, min(ulen, len(s)))], 0, 0, 0
    return None


def decode_as(paths):
    """Extra ports per capture file name from MANIFEST.tsv rows (tshark -d tcp.port==N,proto)."""
    extra = {}
    for root in paths:
        man = os.path.join(root, "MANIFEST.tsv")
        if not os.path.isfile(man):
            continue
        with open(man, encoding="utf-8", errors="replace") as fh:
            head = fh.readline().rstrip("\n").split("\t")
            col = head.index("tshark_decode_as") if "tshark_decode_as" in head else -1
            for line in fh:
                row = line.rstrip("\n").split("\t")
                if col < 0 or col >= len(row):
                    continue
                for arg in row[col].split("-d"):
                    arg = arg.strip()
                    if "==" in arg and "," in arg:
                        port, proto = arg.split("==", 1)[1].split(",", 1)
                        target = DECODE_AS.get(proto.strip())
                        if target == "dns" and arg.startswith("tcp."):
                            target = "dns_tcp"  # DNS over TCP is its own target
                        if target and port.strip().isdigit():
                            extra.setdefault(os.path.join(root, row[0]), {}).setdefault(target, set()).add(
                                int(port))
    return extra


def files(args):
    for a in args:
        if os.path.isdir(a):
            for dp, _, fns in sorted(os.walk(a)):
                for fn in sorted(fns):
                    if fn.endswith((".pcap", ".pcapng", ".cap")):
                        yield os.path.join(dp, fn)
        elif os.path.isfile(a):
            yield a


class Seeds:
    """Candidates per target, round-robin over captures so that no capture crowds out the rest."""

    def __init__(self):
        self.by = {}

    def add(self, target, src, blob, first=False):
        if blob:
            q = self.by.setdefault(target, {}).setdefault(src, [])
            q.insert(0, bytes(blob[:MAX_SEED])) if first else q.append(bytes(blob[:MAX_SEED]))

    def write(self, root):
        for target, per_src in sorted(self.by.items()):
            d = os.path.join(root, "fuzz_" + target)
            keep = {}
            if os.path.isdir(d):  # regression-* inputs survive a re-run
                for n in os.listdir(d):
                    if n.startswith("regression-"):
                        with open(os.path.join(d, n), "rb") as fh:
                            keep[n] = fh.read()
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            for n, blob in keep.items():
                with open(os.path.join(d, n), "wb") as fh:
                    fh.write(blob)
            # hand-made queues ("#...") first: they are few and cover what captures lack
            seen, total, queues = set(), 0, [list(v) for k, v in sorted(per_src.items()) if k.startswith("#")]
            queues = [[b] for q in queues for b in q] + [list(v) for k, v in sorted(per_src.items())
                                                         if not k.startswith("#")]
            while queues and len(seen) < MAX_FILES:
                nxt = []
                for q in queues:
                    while q:
                        b = q.pop(0)
                        h = hashlib.sha1(b).hexdigest()
                        if h in seen or total + len(b) > MAX_BYTES:
                            continue
                        with open(os.path.join(d, h), "wb") as fh:
                            fh.write(b)
                        seen.add(h)
                        total += len(b)
                        break
                    if q:
                        nxt.append(q)
                    if len(seen) >= MAX_FILES:
                        break
                queues = nxt
            print("make-seeds: fuzz_%-7s %3d files %7d bytes" % (target, len(seen), total))


def record(frame, flags=0):
    frame = frame[:0xFFFF]
    return bytes([flags]) + struct.pack("!H", len(frame)) + frame


def wrap(ip):
    """The IP packet in every link type fuzz_packet decodes: (linktype, frame)."""
    v6 = ip[0] >> 4 == 6
    et = b"\x86\xdd" if v6 else b"\x08\x00"
    mac = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
    yield 1, mac + b"\x81\x00\x00\x64" + et + ip  # 802.1Q
    yield 1, mac + b"\x88\xa8\x00\xc8\x81\x00\x00\x64" + et + ip  # QinQ
    yield 113, b"\x00\x00\x00\x01\x00\x06" + mac[:6] + b"\x00\x00" + et + ip
    yield 276, et + b"\x00\x00\x00\x00\x00\x02\x00\x01\x04\x06" + mac[:6] + b"\x00\x00" + ip
    yield 0, (struct.pack("<I", 30 if v6 else 2)) + ip
    yield 108, (struct.pack(">I", 24 if v6 else 2)) + ip
    yield 101, ip
    yield (229 if v6 else 228), ip


def synthetic_fragments():
    """IPv4 and IPv6 fragment trains (out of order, overlapping) as raw IP frames."""
    udp = struct.pack("!HHHH", 40000, 5683, 48, 0) + b"0123456789abcdefghijklmnopqrstuvwxyzABCD"
    def v4(ident, off, more, data):
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident, (0x2000 if more else 0) | off // 8, 64,
                        17, 0, bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
        return h + data
    def v6(ident, off, more, data):
        h = struct.pack("!IHBB16s16s", 0x60000000, 8 + len(data), 44, 64, bytes(range(16)), bytes(range(16, 32)))
        return h + struct.pack("!BBHI", 17, 0, off | int(more), ident) + data
    yield [v4(7, 32, False, udp[32:]), v4(7, 0, True, udp[:16]), v4(7, 16, True, udp[16:32])]
    yield [v4(8, 0, True, udp[:16]), v4(8, 8, True, udp[8:24]), v4(8, 16, False, udp[16:])]
    yield [v4(9, 0, True, udp[:16]), v4(9, 8, True, b"X" * 16), v4(9, 16, False, udp[16:])]
    yield [v6(5, 24, False, udp[24:]), v6(5, 0, True, udp[:24])]


def main():
    seeds, extra = Seeds(), decode_as(inputs)
    for path in files(inputs):
        src = os.path.relpath(path)
        ports = {t: set(p) | extra.get(path, {}).get(t, set()) for t, (_, p) in PORTS.items()}
        frames, frag_frames, streams, flows = [], [], {}, {}
        for n, (lt, f) in enumerate(read_pcap(path)):
            if lt not in DLT_INDEX:
                continue
            frames.append((lt, f))
            ipb = link_to_ip(lt, f)
            ip = parse_ip(ipb) if ipb else None
            if not ip:
                continue
            if ip["frag"]:
                frag_frames.append((lt, f, ip))
            if n < 400 and len(seeds.by.get("packet", {}).get(src, [])) < 6 and n % 7 == 0:
                seeds.add("packet", src, bytes([DLT_INDEX[lt]]) + record(f))
            if n % 25 == 3 and len(seeds.by.get("packet", {}).get("#wrap", [])) < 48:
                for wlt, wf in wrap(bytes(ipb)):
                    seeds.add("packet", "#wrap", bytes([DLT_INDEX[wlt]]) + record(wf))
            t = l4(ip)
            if not t:
                continue
            sp, dp, payload, seq, ack, flags = t
            for target, (proto, _) in PORTS.items():
                if ip["proto"] == proto and (sp in ports[target] or dp in ports[target]):
                    seeds.add(target, src, payload)
                    if proto == 6:
                        k = (ip["src"], sp, ip["dst"], dp)
                        streams.setdefault((target, k), []).append((seq, payload))
                        flows.setdefault(k, []).append((n, seq, ack, flags, payload))
                        rk = (ip["dst"], dp, ip["src"], sp)
                        flows.setdefault(rk, [])
                        flows[rk].append((n, None, ack, flags, b""))  # the other side's ack
        # the first frames in one input, so fragments and flows meet the defragmenter
        if frames:
            lt0 = frames[0][0]
            first = [f for lt, f in frames[:16] if lt == lt0]
            seeds.add("packet", src, bytes([DLT_INDEX[lt0]]) + b"".join(record(f, 2) for f in first), True)
        if frag_frames:
            lt0 = frag_frames[0][0]
            blob = bytes([DLT_INDEX[lt0]]) + b"".join(record(f) for lt, f, _ in frag_frames[:24] if lt == lt0)
            seeds.add("packet", src, blob, True)
            recs = b"\x01"  # raw mode
            for _, _, ip in frag_frames[:24]:
                shape = (1 if ip["v"] == 6 else 0) | (ip["id"] & 3) << 1 | (8 if ip["proto"] == 6 else 0) | \
                        (16 if ip["more"] else 0)
                if ip["v"] == 4:
                    shape |= min(7, (len(ip["hdr"]) - 20) // 4) << 5
                data = ip["l4"][:0x7FF]
                recs += struct.pack("!BHHB", shape, ip["off"] // 8, len(data), 1) + data
            seeds.add("defrag", src, recs)
        # TCP: each direction's first bytes in sequence order
        for (target, _), segs in sorted(streams.items(), key=lambda kv: repr(kv[0])):
            got, isn, buf = set(), None, b""
            for seq, payload in sorted(segs, key=lambda s: s[0]):
                if payload and seq not in got:
                    got.add(seq)
                    buf += payload
            if len(buf) > 0:
                seeds.add(target, src, buf[:4096], True)
        # fuzz_stream: one direction's segments, with the other direction's acks
        for k, ops in sorted(flows.items(), key=lambda kv: repr(kv[0]))[:6]:
            data_ops = [o for o in ops if o[1] is not None]
            if not any(o[4] for o in data_ops):
                continue
            syn = [o for o in data_ops if o[3] & 2]
            isn = (syn[0] if syn else data_ops[0])[1]
            blob = b"\x0b" + struct.pack("!I", isn)  # raw mode, budget 4096
            for n, seq, ack, flags, payload in sorted(ops, key=lambda o: o[0])[:64]:
                if seq is None:
                    rel = (ack - isn) & 0xFFFFFFFF
                    if rel < 0x8000:
                        blob += struct.pack("!BhH", 2, rel, 0)
                    continue
                rel = (seq - isn) & 0xFFFFFFFF
                if rel >= 0x8000:
                    continue
                f = (4 if flags & 2 else 0) | (8 if flags & 1 else 0) | (16 if flags & 4 else 0) | \
                    (32 if flags & 16 else 0)
                payload = payload[:0x3FF]
                blob += struct.pack("!BhH", f, rel, len(payload)) + payload
            seeds.add("stream", src, blob)
    for train in synthetic_fragments():
        for i in range(8):  # the same train in each link type
            wrapped = [list(wrap(f))[i] for f in train]
            blob = bytes([DLT_INDEX[wrapped[0][0]]]) + b"".join(record(f) for _, f in wrapped)
            seeds.add("packet", "#synthetic", blob)
        raw, gen = b"\x01", b"\x00"  # fuzz_defrag: bytes from the input, or generated
        for f in train:
            ip = parse_ip(f)
            shape = (1 if ip["v"] == 6 else 0) | (ip["id"] & 3) << 1 | (16 if ip["more"] else 0)
            head = struct.pack("!BHHB", shape, ip["off"] // 8, len(ip["l4"]), 0)
            raw += head + ip["l4"]
            gen += head
        seeds.add("defrag", "#synthetic", raw)
        seeds.add("defrag", "#synthetic", gen)
    # fuzz_stream, generated bytes: sequence numbers across the 2^32 wrap, and a segment
    # half the sequence space away (2^31, where signed differences change sign)
    op = lambda kind, rel, n: struct.pack("!BhH", kind, rel, n)
    seeds.add("stream", "#synthetic", b"\x08" + struct.pack("!I", 0xFFFFFFF0) + op(0x04, 0, 0) + op(0x20, 9, 40) +
              op(0x20, 1, 8) + op(0x22, 60, 0) + op(0x28, 49, 4))
    seeds.add("stream", "#synthetic", b"\x00" + struct.pack("!I", 0) + op(0, 0, 0) + op(3, -0x8000, 1) +
              op(0, 1, 1))
    seeds.write(out_root)


main()
PY
