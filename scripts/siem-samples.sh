#!/bin/sh
# siem-samples.sh - regenerates the per-rule samples of docs/siem.md: for each of the 12
# rules, the CEF line and the RFC 5424 frame (format json) that the syslog exporter sends
# for the first alert of that rule in pcaps/demo-rules.pcap. They are taken off the wire:
# a UDP socket on a loopback port receives what the sensor sends.
#
# Usage: sh scripts/siem-samples.sh            prints the markdown
#        sh scripts/siem-samples.sh --update   replaces what docs/siem.md holds between its
#                                              "siem-samples" markers
# Needs ./iotwatch (make iotwatch; IOTWATCH names another binary) and python3.
set -eu
cd "$(dirname "$0")/.."
IW=${IOTWATCH:-./iotwatch}
[ -x "$IW" ] || {
	echo "siem-samples: $IW does not exist (make iotwatch)" >&2
	exit 1
}
exec python3 - "$IW" "${1:-}" <<'PY'
import socket, subprocess, sys

iw, mode = sys.argv[1], sys.argv[2]
DOC = "docs/siem.md"
BEGIN, END = "<!-- siem-samples:begin -->", "<!-- siem-samples:end -->"
RULES = ["tunnel.orphaned", "tunnel.renewal_loop", "mqtt.wildcard_subscribe", "mqtt.topic_violation",
         "mqtt.cleartext_credentials", "mqtt.client_id_conflict", "mqtt.shared_credentials",
         "tls.cert_expiring", "tls.cert_expiry_storm", "tls.shared_certificate", "endpoint.off_region",
         "modbus.unauthorized_write"]


def messages(fmt):
    """The datagrams one replay of the demo capture sends, in order."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    subprocess.run([iw, "-r", "pcaps/demo-rules.pcap", "-c", "pcaps/demo-rules.yaml", "-o", "/dev/null", "-q",
                    "--set", "exporters.syslog.address=udp://127.0.0.1:%d" % port,
                    "--set", "exporters.syslog.format=" + fmt,
                    "--set", "exporters.syslog.hostname=sensor-1"], check=True)
    s.settimeout(1)
    out = []
    try:
        while True:
            out.append(s.recv(70000).decode("utf-8"))
    except socket.timeout:
        pass
    return out


def first_per_rule(msgs):
    first = {}
    for m in msgs:
        msgid = m.split(" ", 7)[5]  # <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
        first.setdefault(msgid, m)
    return first


cef, js = first_per_rule(messages("cef")), first_per_rule(messages("json"))
missing = [r for r in RULES if r not in cef or r not in js]
if missing:
    sys.exit("siem-samples: no alert of %s in pcaps/demo-rules.pcap" % ", ".join(missing))
parts = [BEGIN, "",
         "Made by `sh scripts/siem-samples.sh --update` from `pcaps/demo-rules.pcap` with",
         "`pcaps/demo-rules.yaml` and `exporters.syslog.hostname: sensor-1` (PROCID is the pid of",
         "that run). Each rule's first alert: its CEF line (the MSG of the frame with `format: cef`),",
         "then the whole RFC 5424 frame with `format: json` (a UDP datagram holds exactly that; over",
         "TCP it is preceded by its length and a space).", ""]
for r in RULES:
    parts += ["### `%s`" % r, "", "```text", cef[r].split(" ", 7)[7], "```", "", "```text", js[r], "```", ""]
parts.append(END)
text = "\n".join(parts) + "\n"
if mode != "--update":
    sys.stdout.write(text)
    sys.exit(0)
doc = open(DOC, encoding="utf-8").read()
a, b = doc.find(BEGIN), doc.find(END)
if a < 0 or b < a:
    sys.exit("siem-samples: %s has no %s ... %s" % (DOC, BEGIN, END))
open(DOC, "w", encoding="utf-8").write(doc[:a] + text + doc[b + len(END) + 1:])
print("siem-samples: %s updated (%d rules)" % (DOC, len(RULES)))
PY
