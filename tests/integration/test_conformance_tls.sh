#!/usr/bin/env bash
# test_conformance_tls.sh - our tls events against tshark's TLS dissector, computed live,
# for every capture in pcaps/ where tshark finds a TLS handshake message and every capture
# in ../shared/pcaps-public/ whose MANIFEST.tsv row has TLS (ClientHellos, Certificate
# messages, or TLS in its note; tshark_decode_as gives tshark its decode-as options).
# Per capture it compares:
#   - the number of ClientHellos and of ServerHellos (a HelloRetryRequest is a ServerHello)
#   - the SNI values, as a sorted multiset
#   - every Certificate message in clear: its sender (client/server) and, in order, each
#     certificate's subject CN, notAfter and sha256 of the DER
#   - alerts in clear: sender, level, description
#   - JA3 and JA3S hashes (and JA4 when this tshark has it: 4.0 does not)
# tshark's side comes from its PDML (-T fields cannot tell a subject's CN from the
# issuer's); a Certificate's sender is known from the ClientHello or ServerHello of the
# same TCP stream, "?" when tshark saw neither (then senders are not compared there).
# tshark runs with tcp.reassemble_out_of_order on (off by default in 4.0), as the sensor
# reassembles: zeek/hrr.pcap has its second ServerHello in an out-of-order segment.
#
# For pcaps/tls-openssl.pcap it also asserts what pcaps/make-tls.sh did when it made the
# capture (our expectations from its design, not from our output): exactly one alert in
# clear certificate_expired from the server (session d, TLS 1.2, expired dev-0005), one
# unknown_ca from the client (session g), and at least one handshake_failed on the TLS 1.3
# connections to myhub.azure-devices.net (session e: dev-0005 refused four times, the
# alert encrypted); and that our certificate records agree with pcaps/tls-certs.tsv
# (serial, notAfter, sha256) for every certificate of that table sent in clear.
#
# A capture where tshark is not the ground truth for one of the comparisons is listed in
# EXCEPT with the reason and what we must give instead (checked by hand), which is then
# asserted. Fails on any other difference and prints what differs.
#
# Run from the repository root (make integration) after building ./iotwatch; the binary
# can be changed with IOTWATCH=path. Needs tshark and python3.
set -u
cd "$(dirname "$0")/../.." || exit 1

BIN=${IOTWATCH:-./iotwatch}
PUBLIC=../shared/pcaps-public
command -v tshark >/dev/null || { echo "FAIL test_conformance_tls: tshark is a test dependency"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL test_conformance_tls: python3 is a test dependency"; exit 1; }
[ -x "$BIN" ] || { echo "FAIL test_conformance_tls: $BIN is missing (make iotwatch)"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-tlsconf.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

# tshark's view, one row per TLS handshake message and per alert, comes from
# pcaps/tlsrows.py: the reader pcaps/make-tls.sh wrote pcaps/tls-openssl.expected.tsv with.

# path <TAB> decode-as options, for every capture to check
: >"$T/list.tsv"
for f in pcaps/*.pcap; do
	[ -e "$f" ] || continue
	[ -n "$(tshark -n -r "$f" -Y tls.handshake.type -T fields -e frame.number 2>/dev/null)" ] &&
		printf '%s\t\n' "$f" >>"$T/list.tsv"
done
if [ -f "$PUBLIC/MANIFEST.tsv" ]; then
	awk -F'\t' -v dir="$PUBLIC" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		NF > 1 && ($col["tls_client_hellos"] > 0 || $col["tls_certs"] > 0 || $col["note"] ~ /TLS|SSL/) {
			print dir "/" $col["path"] "\t" $col["tshark_decode_as"]
		}
	' "$PUBLIC/MANIFEST.tsv" >>"$T/list.tsv"
else
	echo "NOTE: $PUBLIC/MANIFEST.tsv is absent; checking pcaps/ only"
fi

tshark -G fields 2>/dev/null | awk -F'\t' '$3 ~ /^tls\.handshake\.ja[34]s?$/ {print $3}' >"$T/fp-fields"

i=0
while IFS=$'\t' read -r path da; do
	i=$((i + 1))
	# shellcheck disable=SC2086 # the decode-as column is a list of options
	tshark -n -r "$path" $da -o tcp.reassemble_out_of_order:TRUE \
		-Y 'tls.handshake.type or tls.alert_message' -T pdml 2>/dev/null |
		python3 "pcaps/tlsrows.py" >"$T/$i.tshark" 2>"$T/$i.tshark.err"
	"$BIN" -r "$path" -o /dev/null -e "$T/$i.jsonl" -q 2>"$T/$i.err" </dev/null
	printf '%s\t%s\t%s\n' "$i" "$path" "$?" >>"$T/index.tsv"
done <"$T/list.tsv"

python3 - "$T" <<'EOF'
import collections, csv, json, os, re, sys

tmp = sys.argv[1]
fields = set(open(os.path.join(tmp, "fp-fields")).read().split())
FP = [k for k, f in (("ja3", "tls.handshake.ja3"), ("ja3s", "tls.handshake.ja3s"), ("ja4", "tls.handshake.ja4"))
      if f in fields]
ASPECTS = ["client_hello", "server_hello", "sni", "certificates", "alerts"] + FP

# capture (as listed) -> {aspect: (reason, what we must give instead, or None to leave the
# comparison out)}: where tshark is not the ground truth.
EXCEPT = {
    # The Certificate message declares one 9-byte certificate, 30 05 30 84 ff ff ff fa 04
    # (a DER header whose length does not fit). tshark's tls.handshake.certificate field
    # ends where its BER decoder threw, after 7 bytes, so its sha256 is of those 7 bytes.
    # Ours must be the sha256 of all 9 bytes (checked by hand from the frame), with no
    # CN or notAfter since the certificate does not decode.
    # RDP (xrdp) upgrades its stream to TLS after the X.224 negotiation; tshark follows
    # into it. To us the flow is RDP (nDPI), a remote-access tunnel, and the TLS inside an
    # RDP stream is not decoded: no hellos, so no JA3/JA3S.
    "pcaps/remote-access.pcap": {
        a: ("TLS inside RDP after X.224: the flow is RDP to us, its TLS not decoded", [])
        for a in ("client_hello", "server_hello", "ja3", "ja3s")
    },
    "suricata-verify/tls_DER-incomplete-header.pcap": {
        "certificates": ("tshark's certificate field stops where its BER decoder failed (7 of 9 bytes)",
                         [("server", (("", "", "a8b66060986b36dd65e1ea9f3849e4adf8f95af8e02ac555f2bdb1354636e097"),))]),
    },
}

def short(path):
    return path.split("pcaps-public/")[-1]

def notafter(s):  # ours "2030-01-01T00:00:00.000000Z", tshark's "2030-01-01T00:00:00Z"
    return re.sub(r"\.\d+Z$", "Z", s or "")

def tshark_side(path):
    rows = list(csv.DictReader(open(path), delimiter="\t", quoting=csv.QUOTE_NONE))
    client, server = {}, {}
    for r in rows:
        if r["message"] == "client_hello":
            client.setdefault(r["stream"], r["src"])
        elif r["message"] == "server_hello":
            server.setdefault(r["stream"], r["src"])

    def sender(r):
        s = r["stream"]
        if client.get(s) == r["src"] or server.get(s) == r["dst"]:
            return "client"
        if server.get(s) == r["src"] or client.get(s) == r["dst"]:
            return "server"
        return "?"

    v = collections.defaultdict(list)
    for r in rows:
        m = r["message"]
        if m in ("client_hello", "server_hello"):
            v[m].append(1)
        if m == "client_hello" and r["sni"]:
            v["sni"].append(r["sni"])
        if m == "client_hello" and r["ja3"]:
            v["ja3"].append(r["ja3"])
        if m == "client_hello" and r["ja4"]:
            v["ja4"].append(r["ja4"])
        if m == "server_hello" and r["ja3s"]:
            v["ja3s"].append(r["ja3s"])
        if m == "certificate":
            names = r["certificates"].split("; ") if r["certificates"] else []
            fps = r["sha256"].split(";") if r["sha256"] else []
            chain = tuple((n.rsplit(" ", 1)[0], n.rsplit(" ", 1)[-1], fp) for n, fp in zip(names, fps))
            v["certificates"].append((sender(r), chain))
        if m == "alert" and r["alert"] != "encrypted":
            lvl, code = re.match(r"(\S+) .*\((\d+)\)$", r["alert"]).groups()
            v["alerts"].append((sender(r), lvl, int(code)))
    return v

def our_side(path):
    v = collections.defaultdict(list)
    recs = []
    for line in open(path):
        r = json.loads(line)
        if r.get("event_type") != "tls":
            continue
        t = r.get("tls", {})
        recs.append(t)
        ty = t.get("type")
        if ty in ("client_hello", "server_hello"):
            v[ty].append(1)
        if ty == "client_hello":
            if t.get("sni"):
                v["sni"].append(t["sni"])
            if (t.get("ja3") or {}).get("hash"):
                v["ja3"].append(t["ja3"]["hash"])
            if t.get("ja4"):
                v["ja4"].append(t["ja4"])
        if ty == "server_hello" and (t.get("ja3s") or {}).get("hash"):
            v["ja3s"].append(t["ja3s"]["hash"])
        if ty == "certificate":
            chain = tuple((c.get("subject_cn", ""), notafter(c.get("notafter")), c.get("fingerprint_sha256", ""))
                          for c in t.get("certificates", []))
            v["certificates"].append((t.get("side", "?"), chain))
        if ty == "alert" and t.get("encrypted") is False:
            v["alerts"].append((t.get("side", "?"), t.get("level", ""), t.get("description_code")))
    return v, recs

def norm(aspect, ours, theirs):
    """sorted multisets; senders left out when tshark could not tell one"""
    if aspect in ("certificates", "alerts") and any(x[0] == "?" for x in theirs):
        ours = [("?",) + tuple(x[1:]) for x in ours]
        theirs = [("?",) + tuple(x[1:]) for x in theirs]
    return sorted(ours, key=repr), sorted(theirs, key=repr)

def design_checks(recs):
    """pcaps/tls-openssl.pcap: what pcaps/make-tls.sh did (see the header of this script)"""
    bad = []
    alerts = [t for t in recs if t.get("type") == "alert" and t.get("encrypted") is False]
    for side, desc in (("server", "certificate_expired"), ("client", "unknown_ca")):
        n = sum(1 for t in alerts if t.get("side") == side and t.get("description") == desc
                and t.get("level") == "fatal")
        if n != 1:
            bad.append(f"{n} fatal {desc} alerts in clear from the {side}, expected 1")
    hf = [t for t in recs if t.get("type") == "handshake_failed" and t.get("version") == "TLS 1.3"
          and t.get("sni") == "myhub.azure-devices.net"]
    if not hf:
        bad.append("no handshake_failed on the TLS 1.3 dev-0005 connections (session e), expected at least 1")
    table = {r["sha256"]: r for r in csv.DictReader(open("pcaps/tls-certs.tsv"), delimiter="\t")}
    seen = {}
    for t in recs:
        if t.get("type") == "certificate":
            for c in t.get("certificates", []):
                seen.setdefault(c.get("fingerprint_sha256"), c)
    # every certificate of the table but Rogue Test CA is sent in clear at least once
    for fp, row in table.items():
        c = seen.get(fp)
        if c is None:
            if row["cn"] != "Rogue Test CA":
                bad.append(f"no certificate record for {row['cn']} (sha256 {fp[:16]}...)")
            continue
        try:
            same_serial = int(c.get("serial", ""), 16) == int(row["serial"], 16)
        except ValueError:
            same_serial = False
        if not same_serial:
            bad.append(f"{row['cn']}: serial {c.get('serial')!r}, the table has {row['serial']}")
        if notafter(c.get("notafter")) != row["not_after"]:
            bad.append(f"{row['cn']}: notafter {c.get('notafter')!r}, the table has {row['not_after']}")
    for fp in seen:
        if fp not in table:
            bad.append(f"a certificate not in pcaps/tls-certs.tsv: sha256 {fp}")
    return bad, len(hf)

bad = 0
rows = []
for line in open(os.path.join(tmp, "index.tsv")):
    i, path, rc = line.rstrip("\n").split("\t")
    name = short(path)
    problems = [] if rc == "0" else [f"iotwatch exited {rc}: " + open(os.path.join(tmp, i + ".err")).read().strip()[-300:]]
    err = open(os.path.join(tmp, i + ".tshark.err")).read().strip()
    if err:
        problems.append("reading tshark's PDML failed: " + err[-300:])
    try:
        theirs = tshark_side(os.path.join(tmp, i + ".tshark"))
    except (OSError, ValueError, KeyError) as e:
        theirs = collections.defaultdict(list)
        problems.append(f"cannot read tshark's rows: {e}")
    try:
        ours, recs = our_side(os.path.join(tmp, i + ".jsonl"))
    except (OSError, ValueError) as e:
        ours, recs = collections.defaultdict(list), []
        problems.append(f"cannot read our events: {e}")
    exc = EXCEPT.get(name, {})
    cells = []
    for a in ASPECTS:
        o, t = norm(a, ours[a], theirs[a])
        cells.append(f"{a} {len(o)}/{len(t)}" + ("*" if a in exc else ""))
        if a in exc:
            if exc[a][1] is None:
                continue
            o, t = norm(a, ours[a], exc[a][1])
        if o == t:
            continue
        co, ct = collections.Counter(o), collections.Counter(t)
        only_o, only_t = sorted((co - ct).elements(), key=repr), sorted((ct - co).elements(), key=repr)
        more = lambda xs: "".join(f"\n      {x}" for x in xs[:6]) + (f"\n      ... {len(xs) - 6} more" if len(xs) > 6 else "")
        problems.append(f"{a} differ (ours {len(o)}, {'EXCEPT' if a in exc else 'tshark'} {len(t)})"
                        f"\n    only ours ({len(only_o)}):{more(only_o)}\n    only theirs ({len(only_t)}):{more(only_t)}")
    note = "; ".join(f"{a}: {why}, " + ("not compared" if want is None else "ours checked against EXCEPT")
                     for a, (why, want) in exc.items())
    if path == "pcaps/tls-openssl.pcap":
        dbad, nhf = design_checks(recs)
        problems += [f"design: {b}" for b in dbad]
        note = (note + "; " if note else "") + f"design checks: {len(dbad)} failed, handshake_failed (e) {nhf}"
    ok = not problems
    bad += not ok
    rows.append(("PASS" if ok else "FAIL", name, "  ".join(cells), note))
    if not ok:
        print(f"FAIL {name}")
        for p in problems:
            print("  " + p)

w = max(len(r[1]) for r in rows) if rows else 10
print(f"(counts are ours/tshark; * = an exception, see EXCEPT){'' if 'ja4' in FP else '  ja4: this tshark has no JA4 field, not compared'}")
for st, name, cells, note in rows:
    print(f"{st}  {name:{w}}  {cells}" + (f"  ({note})" if note else ""))
print(f"test_conformance_tls: {len(rows) - bad}/{len(rows)} captures match")
sys.exit(1 if bad else 0)
EOF
