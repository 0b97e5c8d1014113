#!/usr/bin/env python3
# tlsrows.py - tshark's view of TLS, one row per handshake message and per alert, read
# from `tshark -T pdml` on stdin (-T fields cannot tell a subject's CN from its issuer's,
# nor one certificate's fields from the next). Used by pcaps/make-tls.sh to write
# tls-openssl.expected.tsv and by tests/integration/test_conformance_tls.sh as the ground
# truth, so both read tshark the same way.
#   frame stream src dst message version sni alpn ja3 ja3s ja4 certificates sha256 alert
import hashlib, sys, xml.etree.ElementTree as ET

VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
TYPES = {1: "client_hello", 2: "server_hello", 4: "new_session_ticket", 8: "encrypted_extensions",
         11: "certificate", 12: "server_key_exchange", 13: "certificate_request",
         14: "server_hello_done", 15: "certificate_verify", 16: "client_key_exchange", 20: "finished"}
LEVELS = {1: "warning", 2: "fatal"}
ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
          22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure",
          41: "no_certificate", 42: "bad_certificate", 43: "unsupported_certificate",
          44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
          47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
          51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
          71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
          90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
          110: "unsupported_extension", 111: "certificate_unobtainable", 112: "unrecognized_name",
          113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
          115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol"}

def first(el, name):
    return next((x for x in el.iter("field") if x.get("name") == name), None)

def show(el, name):
    x = first(el, name)
    return x.get("show", "") if x is not None else ""

def alls(el, name):
    return [x.get("show", "") for x in el.iter("field") if x.get("name") == name]

def version(v):
    n = int(v, 16) if v.startswith("0x") else int(v)
    return VERSIONS.get(n, "0x%04x" % n)

def when(t):  # the raw DER string: YYMMDDHHMMSSZ or YYYYMMDDHHMMSS[.f]Z
    s = bytes.fromhex(t.get("value", "")).decode("ascii", "replace")
    if t.get("name") == "x509af.utcTime":
        s = ("19" if int(s[:2]) >= 50 else "20") + s
    return "%s-%s-%sT%s:%s:%sZ" % (s[0:4], s[4:6], s[6:8], s[8:10], s[10:12], s[12:14])

def cn(name):  # the last commonName in the name's DER order (as parsers/x509.h)
    found = ""
    for rdn in name.iter("field"):
        if rdn.get("name") == "x509if.RelativeDistinguishedName_item_element" and \
                show(rdn, "x509if.oid") == "2.5.4.3":
            ds = first(rdn, "x509sat.DirectoryString")
            leaf = [x for x in ds.iter("field") if x is not ds] if ds is not None else []
            found = leaf[0].get("show", "") if leaf else ""
    return found

def cert(c):
    subject, na = first(c, "x509af.subject"), first(c, "x509af.notAfter")
    t = [x for x in na.iter("field") if x.get("name") in ("x509af.utcTime", "x509af.generalizedTime")] \
        if na is not None else []
    return "%s %s" % (cn(subject) if subject is not None else "", when(t[0]) if t else "")

print("frame\tstream\tsrc\tdst\tmessage\tversion\tsni\talpn\tja3\tja3s\tja4\tcertificates\tsha256\talert")
for pkt in ET.parse(sys.stdin).getroot():
    where = [show(pkt, "frame.number"), show(pkt, "tcp.stream"),
             "%s:%s" % (show(pkt, "ip.src") or show(pkt, "ipv6.src"), show(pkt, "tcp.srcport")),
             "%s:%s" % (show(pkt, "ip.dst") or show(pkt, "ipv6.dst"), show(pkt, "tcp.dstport"))]
    for proto in pkt.findall("proto"):
        if proto.get("name") != "tls":
            continue
        for el in proto.iter("field"):
            n = el.get("name")
            if n == "tls.handshake" and first(el, "tls.handshake.type") is not None:
                t = int(show(el, "tls.handshake.type"))
                sv = alls(el, "tls.handshake.extensions.supported_version")
                ver = ""
                if t in (1, 2):
                    ver = ",".join(version(v) for v in sv) if sv else version(show(el, "tls.handshake.version"))
                cs = [c for c in el.iter("field") if c.get("name") == "tls.handshake.certificate"]
                print("\t".join(where + [TYPES.get(t, str(t)), ver, show(el, "tls.handshake.extensions_server_name"),
                                         ",".join(alls(el, "tls.handshake.extensions_alpn_str")),
                                         show(el, "tls.handshake.ja3"), show(el, "tls.handshake.ja3s"),
                                         show(el, "tls.handshake.ja4"), "; ".join(cert(c) for c in cs),
                                         ";".join(hashlib.sha256(bytes.fromhex(c.get("value", ""))).hexdigest()
                                                  for c in cs), ""]))
            elif n == "tls.alert_message":
                lv, ds = show(el, "tls.alert_message.level"), show(el, "tls.alert_message.desc")
                a = "%s %s (%s)" % (LEVELS.get(int(lv), lv), ALERTS.get(int(ds), "unknown"), ds) if lv and ds else "encrypted"
                print("\t".join(where + ["alert"] + [""] * 8 + [a]))
