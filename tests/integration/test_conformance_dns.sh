#!/usr/bin/env bash
# test_conformance_dns.sh - our dns events against tshark's DNS messages, per capture.
#
# For pcaps/dns-dnsmasq.pcap, every other capture in pcaps/ where tshark finds DNS, and
# every capture of ../shared/pcaps-public/ whose MANIFEST.tsv row counts DNS messages
# (skipped with a note when that directory is absent): runs $IOTWATCH (default
# ./iotwatch) -r FILE -e and reads its dns events, runs tshark live on the same file (-Y
# dns -T json, with the row's tshark_decode_as options) and compares
#   - the number of queries and of responses;
#   - per response, the multiset of (id, rrname, rrtype, rdata, ttl) over its A, AAAA and
#     CNAME answers (the first IW_DNS_MAX_ANSWERS answers: what an event keeps), with
#     responses matched as a multiset (TCP messages are decoded when their bytes are
#     acknowledged, so our order is not always the frame order).
# tshark's "dns" filter does not match mDNS or LLMNR (separate dissectors), so our
# events on ports 5353 and 5355 are counted apart and not compared. Files where we
# knowingly differ are listed in EXCEPTIONS below with the reason and our exact counts,
# which are asserted instead (answers are still compared on the responses both have).
# Ends with a table: queries and responses, ours and tshark's, per file.
#
# Run from anywhere (make integration runs it from the root); needs tshark and python3.
set -u
cd "$(dirname "$0")/../.." || exit 1

BIN=${IOTWATCH:-./iotwatch}
PUBLIC=../shared/pcaps-public
if [ ! -x "$BIN" ]; then
	echo "FAIL test_conformance_dns: $BIN is missing (make iotwatch)"
	exit 1
fi
if ! command -v tshark >/dev/null; then
	echo "FAIL test_conformance_dns: tshark is missing (apt-get install tshark)"
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/iw-dnsconf.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

# path <TAB> decode-as options, for every capture to check
: >"$T/list.tsv"
for f in pcaps/*.pcap; do
	[ -e "$f" ] || continue
	if [ "$f" = pcaps/dns-dnsmasq.pcap ] || [ -n "$(tshark -n -r "$f" -Y dns -c 1 2>/dev/null)" ]; then
		printf '%s\t\n' "$f" >>"$T/list.tsv"
	fi
done
if [ -f "$PUBLIC/MANIFEST.tsv" ]; then
	awk -F'\t' -v dir="$PUBLIC" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		NF > 1 && $col["dns_msgs"] > 0 { print dir "/" $col["path"] "\t" $col["tshark_decode_as"] }
	' "$PUBLIC/MANIFEST.tsv" >>"$T/list.tsv"
else
	echo "NOTE test_conformance_dns: $PUBLIC absent; checking pcaps/ only"
fi

i=0
while IFS=$'\t' read -r path da; do
	i=$((i + 1))
	# shellcheck disable=SC2086 # the decode-as options are words
	tshark -n -r "$path" $da -Y dns -T json --no-duplicate-keys >"$T/$i.tshark.json" 2>/dev/null ||
		echo '[]' >"$T/$i.tshark.json"
	"$BIN" -r "$path" -o /dev/null -e "$T/$i.jsonl" -q </dev/null >/dev/null 2>"$T/$i.err"
	printf '%s\t%s\t%s\n' "$i" "$path" "$?" >>"$T/index.tsv"
done <"$T/list.tsv"

python3 - "$T" "$PUBLIC" <<'PY'
import collections, json, os, re, sys

tmp, public = sys.argv[1], sys.argv[2]
MAX_ANSWERS = 32  # IW_DNS_MAX_ANSWERS (parsers/ev_dns.h)
TYPES = {1: "A", 5: "CNAME", 28: "AAAA"}

# Files where our counts are not tshark's, why, and the counts we must produce instead.
EXCEPTIONS = {
    "ndpi/malformed_dns.pcap": (
        "each response's second question is a label of 34 then one of 63 running past 255 bytes; "
        "tshark shows <Name too long>, we refuse the message (dns.bad_name)",
        {"queries": 2, "responses": 0}),
    "suricata-verify/dns-forward-pointer__input.pcap": (
        "the query's first question is a compression pointer forward to the second; tshark follows "
        "it, we refuse it (dns.bad_pointer)",
        {"queries": 0, "responses": 1}),
    "suricata-verify/poc2.pcap": (
        "DNS only by decode-as on tcp/1053 (not a DNS port), 129 questions of names over 255 "
        "bytes: the strict probe refuses it, so the flow is not DNS to us",
        {"queries": 0, "responses": 0}),
}


def many(v):
    return v if isinstance(v, list) else ([] if v is None else [v])


def name(n):
    return "." if n in ("<Root>", "") else n


def unescape(s):
    """Our presentation form back to tshark's: \\DDD for bytes outside [0-9A-Za-z-_]."""
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1))), s)


def tshark_messages(path):
    """(queries, [response descriptor ...]) from tshark's JSON."""
    queries, responses = 0, []
    for pkt in json.load(open(path)):
        for d in many(pkt["_source"]["layers"].get("dns")):
            fl = d.get("dns.flags_tree", {})
            if fl.get("dns.flags.response") != "1":
                queries += 1
                continue
            recs = []
            for sec in many(d.get("Answers")):
                for v in sec.values():
                    recs.extend(many(v))
            answers = []
            for r in recs[:MAX_ANSWERS]:
                t = int(r.get("dns.resp.type", "0"))
                if t not in TYPES:
                    continue
                data = r.get("dns.a") or r.get("dns.aaaa") or r.get("dns.cname") or ""
                ttl = int(r.get("dns.resp.ttl", "0")) & 0xFFFFFFFF
                answers.append((name(r.get("dns.resp.name", "")), TYPES[t], name(data), ttl))
            responses.append((int(d.get("dns.id", "0x0"), 16), tuple(sorted(answers))))
    return queries, responses


def our_messages(path):
    queries, responses, mdns = 0, [], 0
    if not os.path.exists(path):
        return queries, responses, mdns
    for line in open(path, errors="replace"):
        r = json.loads(line)
        if r.get("event_type") != "dns":
            continue
        if {r.get("src_port"), r.get("dest_port")} & {5353, 5355}:
            mdns += 1
            continue
        d = r["dns"]
        if d["type"] == "query":
            queries += 1
            continue
        answers = [(unescape(a["rrname"]), a["rrtype"], unescape(a.get("rdata", "")), a["ttl"])
                   for a in d.get("answers", []) if a["rrtype"] in TYPES.values()]
        responses.append((d["id"], tuple(sorted(answers))))
    return queries, responses, mdns


npass = nfail = 0
table = []
for line in open(os.path.join(tmp, "index.tsv")):
    n, path, rc = line.rstrip("\n").split("\t")
    tq, tr = tshark_messages(os.path.join(tmp, n + ".tshark.json"))
    oq, orr, mdns = our_messages(os.path.join(tmp, n + ".jsonl"))
    fname = path[len(public) + 1:] if path.startswith(public + "/") else path
    want = {"queries": tq, "responses": len(tr)}
    note = ""
    if fname in EXCEPTIONS:
        reason, want = EXCEPTIONS[fname]
        note = " (exception: %s)" % reason
    got = {"queries": oq, "responses": len(orr)}
    problems = []
    if rc != "0":
        problems.append("iotwatch exited %s: %s" % (rc, open(os.path.join(tmp, n + ".err")).read().strip()[:200]))
    for k in ("queries", "responses"):
        if got[k] != want[k]:
            problems.append("%s: ours %d, want %d (tshark %d)" % (k, got[k], want[k],
                                                                  tq if k == "queries" else len(tr)))
    # answers: every response of ours must be one of tshark's; without an exception, all of them
    theirs, ours = collections.Counter(tr), collections.Counter(orr)
    extra = ours - theirs
    missing = theirs - ours if fname not in EXCEPTIONS else collections.Counter()
    for (rid, ans), c in list(extra.items())[:5]:
        problems.append("response id %d ours only: %s" % (rid, list(ans)))
    for (rid, ans), c in list(missing.items())[:5]:
        problems.append("response id %d tshark only: %s" % (rid, list(ans)))
    n_ans = sum(len(a) for _, a in orr)
    if problems:
        nfail += 1
        print("FAIL %s%s" % (fname, note))
        for p in problems:
            print("   " + p)
    else:
        npass += 1
        print("PASS %s: %d queries, %d responses, %d A/AAAA/CNAME answers%s%s" % (
            fname, oq, len(orr), n_ans, " (+%d mDNS/LLMNR events)" % mdns if mdns else "", note))
    table.append((fname, oq, tq, len(orr), len(tr), n_ans, "ok" if not problems else "DIFF"))

print()
w = max([len(t[0]) for t in table] + [4])
print("%-*s  %7s %7s  %7s %7s  %7s" % (w, "file", "q ours", "q tsh", "r ours", "r tsh", "answers"))
for t in table:
    print("%-*s  %7d %7d  %7d %7d  %7d  %s" % (w, t[0], t[1], t[2], t[3], t[4], t[5], t[6]))
print("test_conformance_dns: %d files, %d passed, %d failed" % (len(table), npass, nfail))
sys.exit(1 if nfail else 0)
PY
