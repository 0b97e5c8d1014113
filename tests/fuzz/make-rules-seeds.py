#!/usr/bin/env python3
"""make-rules-seeds.py - writes the seeds of fuzz_rules.c into tests/fuzz/seeds/fuzz_rules/.

Each seed is a small scenario in fuzz_rules.c's input layout (described at the top of that
file) that takes one rule family past its threshold, so the fuzzer starts from inputs that
raise alerts instead of having to find the layout first. Run from anywhere:
    python3 tests/fuzz/make-rules-seeds.py
Keep this in step with fuzz_rules.c when its layout changes."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "seeds", "fuzz_rules")

# fuzz_rules.c's tables of repeated values: a length byte of 0xf0 + i picks entry i
CFG = ["*", "dev-*", "dt/{client_id}/#", "cmd/{client_id}/#", "ap-south-1", "127.0.0.1", "10.0.0.0/8",
       "fd00::/8", "{client_id}", "ops-*"]
IDS = ["dev-1", "dev-2", "scanner", "ops-1", "", "dev-1/x", "+", "#"]
TOPICS = ["#", "+/+", "$SYS/#", "dt/dev-1/t", "$share/g/dt/#", "cmd/dev-2/#", "a/#", "", "/", "dt/+/telemetry"]
REGIONS = ["ap-south-1", "AP-SOUTH-1", "eu-west-1", "us-east-1", "", "centralindia"]
NAMES = ["a1-ats.iot.eu-west-1.amazonaws.com", "hub.azure-devices.net",
         "data.tunneling.iot.us-east-1.amazonaws.com", "x.example", ""]
KINDS = ["aws_secure_tunneling", "azure_device_streams", "ssh", "rdp", "vnc", "configured"]
FPS = ["aa", "bb", "cc", "dd"]
USERS = ["fleet", "admin", "dev-2", ""]

NULL = b"\xff"


def u8(v):
    return struct.pack(">B", v & 0xff)


def u16(v):
    return struct.pack(">H", v & 0xffff)


def u32(v):
    return struct.pack(">I", v & 0xffffffff)


def s(v, table=None):
    """A string: an entry of table when it is one, else its bytes (at most 0xef)."""
    if v is None:
        return NULL
    if table is not None and v in table:
        return u8(0xf0 + table.index(v))
    b = v.encode()
    assert len(b) < 0xf0
    return u8(len(b)) + b


def config(endpoints=(), trusted=(), pub=(), sub=(), allowed=(), writers=(), max_duration=60, renewal_max=2,
           renewal_window=3600, report=0, shared_max=2, lead=90 * 86400, storm_min=3, bucket=86400, flood_min=3,
           flood_window=60, start=0):
    out = b""
    for lst in (endpoints, trusted, pub, sub, allowed, writers):
        out += u8(len(lst)) + b"".join(s(x, CFG) for x in lst)
    out += u16(max_duration) + u8(renewal_max) + u16(renewal_window) + u16(report) + u8(shared_max)
    out += u32(lead) + u8(storm_min) + u32(bucket) + u8(flood_min) + u16(flood_window)
    return out + u32(start)


def common(step=1, flow=1, src=0, dst=2, dev="dev-1", endpoint=None, sport=40000, dport=1883):
    """src, dst: indexes into fuzz_rules.c's addresses (0-3 IPv4)."""
    k = (src & 3) | (dst & 3) << 2
    out = u8(step) + u8(flow) + u8(k) + u16(sport) + u16(dport)
    # below 0xc0 an entry of IDS, else a string; 8: the id is the client id; 16 (not set):
    # a certificate CN follows
    dsel = (IDS.index(dev) if dev in IDS else 0xc0) | 8
    out += u8(dsel)
    if dsel >= 0xc0:
        out += s(dev)
    if endpoint is None:
        out += u8(0)
    else:
        name, region = endpoint
        out += u8(1) + s(name, NAMES) + s(region, REGIONS) + s("aws") + u8(0) + s("iot")
    return out


def mqtt(msgtype, client="dev-1", user=None, topic=None, password=False, code=None, topics=(), **kw):
    f = 0
    if user is not None:
        f |= 16
    if password:
        f |= 32
    out = u8(0) + common(**kw) + u8(msgtype) + u8(f)
    out += s(client, IDS) + s(user, USERS) + s(topic, TOPICS) + u8(1)
    out += u8(1 if code is not None else 0) + u8(code or 0) + u16(7)
    out += u8(len(topics)) + b"".join(s(t, TOPICS) + u8(1) for t in topics)
    if topics:
        out += u8(0)
    return out + u8(0)


def tls(typ, certs=(), sni=None, alert=0, failure=0, **kw):
    out = u8(1) + common(dport=8883, **kw) + u8(typ) + u8(0) + s(sni, NAMES) + u8(2) + u8(alert) + u8(failure)
    out += u8(1) + u8(0) + u8(len(certs))
    for fp, subject, days in certs:
        out += u8(0) + s(fp, FPS) + s(subject, IDS) + s("CN=Acme CA") + u8(0x80) + u16(days)
    return out


def tunnel(typ, kind="ssh", dur_ms=0, **kw):
    out = u8(2) + common(dport=22, **kw) + u8(typ) + s(kind, KINDS) + u32(dur_ms)
    return out + u32(1000) + u32(2000) + u16(10) + u16(12) + u8(0)


def modbus(typ, fc, unit=1, address=0, quantity=1, writes=(), values=(), request=None, **kw):
    f = 32 | (16 | 64 if request is not None else 0)  # the request's function is fc
    f |= next(low for low in range(4) if (f | low) % 3 == typ)  # the type is f mod 3
    out = u8(3) + common(dport=502, **kw) + u8(f) + u8(unit) + u8([1, 3, 5, 6, 15, 16, 22, 23].index(fc))
    out += u16(address) + u16(quantity) + u16(address) + u16(quantity) + u16(0xf2) + u16(0x25)
    rq = request or (0, 0)
    out += u16(rq[0]) + u16(rq[1]) + u8(0)
    out += u8(len(writes)) + b"".join(u16(new) + u16(old) for new, old in writes)
    return out + u8(len(values)) + b"".join(u16(v) for v in values)


def flow(reason=0, age_ms=1000, **kw):
    return u8(4) + common(**kw) + u8(reason) + u32(age_ms) + u32(100) + u32(200) + u16(3) + u16(4) + u8(0x1b) + u8(0x1b)


def tick(seconds):
    out = b""
    while seconds > 0:
        out += u8(5) + u16(min(seconds, 0xffff))
        seconds -= min(seconds, 0xffff)
    return out


def fleet(form, value, count):
    return u8(6) + u8(form) + s(value, USERS) + u32(count)


def seeds():
    out = {}
    out["mqtt"] = dict(trusted=["ops-*"], pub=["dt/{client_id}/#"], sub=["cmd/{client_id}/#"]), b"".join([
        mqtt(1, client="dev-1", user="fleet", password=True, flow=1, src=0),
        mqtt(1, client="dev-2", user="fleet", password=True, flow=2, src=1),
        mqtt(1, client="scanner", user="fleet", password=True, flow=3, src=3, dev="scanner"),
        mqtt(8, client="scanner", topics=["#", "$SYS/#", "$share/g/dt/#"], flow=3, src=3, dev="scanner"),
        mqtt(3, client="dev-1", topic="cmd/dev-2/#", flow=1, src=0),
        mqtt(1, client="dev-1", flow=4, src=1),  # the same client id from another address
        mqtt(2, code=5, flow=5, src=2, dev="dev-2"),
        fleet(0, "fleet", 40),
        tick(3600),
        mqtt(14, client="dev-1", flow=1, src=0),
        flow(flow=4, src=1),
    ])
    out["tls"] = dict(lead=90 * 86400, storm_min=2, flood_min=2), b"".join([
        tls(2, certs=[("aa", "dev-1", 10)], flow=1, src=0, dev="dev-1"),
        tls(2, certs=[("aa", "dev-1", 10)], flow=2, src=1, dev="dev-2"),
        tls(2, certs=[("bb", "dev-2", 10)], flow=3, src=3, dev="dev-2"),
        tls(2, certs=[("cc", "scanner", 0)], flow=4, src=3, dev="scanner"),
        tls(4, alert=45, flow=5, src=0, dev="dev-1"),
        tls(5, failure=2, flow=6, src=1, dev="dev-2"),
        tls(5, failure=0, flow=7, src=3, dev="scanner"),
        fleet(1, "2023-11-24", 50),
        tick(86400),
    ])
    out["tunnel"] = dict(endpoints=["*"], max_duration=60, renewal_max=2, renewal_window=3600), b"".join([
        tunnel(0, "ssh", flow=1),
        tunnel(0, "aws_secure_tunneling", flow=2),
        tunnel(0, "rdp", flow=3),
        tick(30),
        tunnel(1, "ssh", dur_ms=70000, flow=1, step=0xc0),
        tunnel(2, "aws_secure_tunneling", dur_ms=90000, flow=2),
        fleet(2, "dev-1", 9),
        tick(120),
    ])
    out["modbus"] = dict(writers=["127.0.0.1"]), b"".join([
        modbus(1, 3, address=100, quantity=3, values=[500, 501, 502], request=(100, 3), src=2, dev="dev-2"),
        modbus(0, 6, address=101, writes=[(7, 0)], src=0),
        modbus(0, 16, address=100, quantity=3, writes=[(1, 1), (2, 0), (3, 1)], src=0),
        modbus(0, 22, address=102, src=0),
        modbus(0, 23, address=100, quantity=2, writes=[(9, 0), (8, 0)], src=1),
        modbus(0, 5, address=1, writes=[(1, 0)], src=1, unit=2),
        modbus(0, 15, address=1, quantity=2, writes=[(1, 0), (0, 0)], src=1, unit=2),
        modbus(2, 16, request=(100, 3), src=2, dev="dev-2"),
        tick(90000),
        modbus(0, 6, address=101, writes=[(8, 0)], src=0),
    ])
    out["endpoint"] = dict(allowed=["ap-south-1"]), b"".join([
        mqtt(1, client="dev-1", endpoint=("a1-ats.iot.eu-west-1.amazonaws.com", "eu-west-1"), flow=1),
        mqtt(3, client="dev-1", topic="dt/dev-1/t", endpoint=("a1-ats.iot.eu-west-1.amazonaws.com", "eu-west-1"),
             flow=1),
        mqtt(1, client="dev-2", endpoint=("x.example", "AP-SOUTH-1"), flow=2, src=1, dev="dev-2"),
        flow(endpoint=(None, "us-east-1"), flow=3, src=3, dev="scanner"),
        tls(0, sni="data.tunneling.iot.us-east-1.amazonaws.com",
            endpoint=("data.tunneling.iot.us-east-1.amazonaws.com", "us-east-1"), flow=4),
        tick(86400),
        mqtt(3, client="dev-1", topic="dt/dev-1/t", endpoint=("a1-ats.iot.eu-west-1.amazonaws.com", "eu-west-1"),
             flow=1, step=0x81),
    ])
    out["all"] = (dict(endpoints=["*"], trusted=["ops-*"], pub=["dt/{client_id}/#"], sub=["cmd/{client_id}/#"],
                       allowed=["ap-south-1"], writers=["127.0.0.1"], renewal_max=2, storm_min=2, flood_min=2),
                  b"".join(ops for _, ops in out.values()))
    return {name: config(**cfg) + ops for name, (cfg, ops) in out.items()}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if not name.startswith("regression-"):
            os.remove(os.path.join(OUT, name))
    for name, data in seeds().items():
        with open(os.path.join(OUT, name), "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
