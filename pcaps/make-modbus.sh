#!/usr/bin/env bash
# Makes pcaps/modbus-pymodbus.pcap and pcaps/modbus-pymodbus.expected.tsv: a real Modbus/TCP
# client and server (pymodbus 3.0 from Debian 12, python3-pymodbus) on 127.0.0.1, recorded
# with tcpdump on lo. The server holds a datastore of 100 coils, discrete inputs, holding
# and input registers, and answers Read Device Identification with a vendor, product
# code and revision. The client reads (FC 1-4), writes (5, 6, 15, 16, 22, 23), reads a
# register back and writes it again (write tracking sees old and new), reads outside
# the datastore (exception 2, illegal data address), runs diagnostics (FC 8) and the
# serial-line functions pymodbus serves (7, 11, 12, 17), and asks for the device
# identification (FC 43 / MEI 14). Nothing is hand-crafted and nothing leaves 127.0.0.1.
#
# Usage: bash pcaps/make-modbus.sh   (as root on Debian 12; installs what is missing)
# Port 502 when free, else 5020 (the `port` key of the .expected.tsv says which; the
# conformance test gives tshark -d tcp.port==N,mbtcp for a port other than 502).
# Safe to run again: it rebuilds both files from scratch and stops every process it
# started, however it exits. The old files are replaced only if the new capture passes
# its checks; a failed run leaves its capture and logs in /tmp/iotwatch-modbus.failed/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name=modbus-pymodbus
out_pcap=$here/$name.pcap
out_tsv=$here/$name.expected.tsv
addr=127.0.0.1
py=/usr/bin/python3 # Debian's python, whatever python3 is first on PATH

tag=make-modbus
# shellcheck source=pcaps/lib.sh
. "$(dirname "$0")/lib.sh"

busy() { ss -H -lnt "sport = :$1" | grep -q .; }

wait_for() {
	local i
	for _ in $(seq 100); do
		ss -H -lnt "src $addr and sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on $addr:$1 (server log: $(tail -5 "$tmp/server.log"))"
}

need_pkgs python3-pymodbus python3-serial python3-serial-asyncio tcpdump tshark iproute2
[ "$(id -u)" = 0 ] || die "run as root (tcpdump needs it)"
tmp=$(mktemp -d /tmp/iotwatch-modbus.XXXXXX)

port=502
busy $port && port=5020
busy $port && die "ports 502 and 5020 are both in use; stop one first"

cat >"$tmp/server.py" <<'EOF'
# A Modbus/TCP server with a 100-entry datastore of each kind and a device identity.
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.device import ModbusDeviceIdentification
from pymodbus.server import StartTcpServer

logging.basicConfig(level=logging.INFO)
store = ModbusSlaveContext(
    di=ModbusSequentialDataBlock(0, [i % 2 for i in range(100)]),
    co=ModbusSequentialDataBlock(0, [0] * 100),
    hr=ModbusSequentialDataBlock(0, [100 + i for i in range(100)]),
    ir=ModbusSequentialDataBlock(0, [200 + i for i in range(100)]),
    zero_mode=True,
)
identity = ModbusDeviceIdentification(
    info_name={
        "VendorName": "iotwatch-test",
        "ProductCode": "IW-PLC-1",
        "MajorMinorRevision": "3.0.0",
        "VendorUrl": "https://example.invalid/",
        "ProductName": "iotwatch pymodbus server",
        "ModelName": "pymodbus",
    }
)
StartTcpServer(
    context=ModbusServerContext(slaves=store, single=True),
    identity=identity,
    address=(sys.argv[1], int(sys.argv[2])),
    allow_reuse_address=True,
)
EOF

cat >"$tmp/client.py" <<'EOF'
# Every function the script promises, one after the other, on one connection.
import sys
import time

from pymodbus.client import ModbusTcpClient
from pymodbus.diag_message import ReturnQueryDataRequest
from pymodbus.mei_message import ReadDeviceInformationRequest
from pymodbus.other_message import (
    GetCommEventCounterRequest,
    GetCommEventLogRequest,
    ReadExceptionStatusRequest,
    ReportSlaveIdRequest,
)

c = ModbusTcpClient(sys.argv[1], port=int(sys.argv[2]))
if not c.connect():
    sys.exit("cannot connect")


def check(what, rr, error=False):
    if rr.isError() != error:
        sys.exit("%s: unexpected %r" % (what, rr))
    print(what, rr)
    time.sleep(0.05)


check("fc1", c.read_coils(0, 10, slave=1))
check("fc2", c.read_discrete_inputs(0, 12, slave=1))
check("fc3", c.read_holding_registers(0, 10, slave=1))
check("fc4", c.read_input_registers(0, 5, slave=1))
check("fc5", c.write_coil(1, True, slave=1))
check("fc6", c.write_register(1, 1234, slave=1))
check("fc15", c.write_coils(0, [True, False, True, True, False, False, True, False, True], slave=1))
check("fc16", c.write_registers(10, [1, 2, 3], slave=1))
check("fc23", c.readwrite_registers(read_address=0, read_count=5, write_address=2,
                                    write_registers=[7, 8], slave=1))
check("fc22", c.mask_write_register(address=3, and_mask=0xF0F0, or_mask=0x0505, slave=1))
# a value read back, then overwritten: the sensor reports old 1234, new 4321
check("fc3 again", c.read_holding_registers(1, 1, slave=1))
check("fc6 again", c.write_register(1, 4321, slave=1))
# outside the 100-entry datastore: exception 2, illegal data address
check("exception", c.read_holding_registers(5000, 1, slave=1), error=True)
check("fc8 query", c.execute(ReturnQueryDataRequest(0x1234, unit=1)))
check("fc8 bus msgs", c.diag_read_bus_message_count(slave=1))
check("fc7", c.execute(ReadExceptionStatusRequest(unit=1)))
check("fc11", c.execute(GetCommEventCounterRequest(unit=1)))
check("fc12", c.execute(GetCommEventLogRequest(unit=1)))
check("fc17", c.execute(ReportSlaveIdRequest(unit=1)))
check("fc43/14 basic", c.execute(ReadDeviceInformationRequest(read_code=1, object_id=0, unit=1)))
check("fc43/14 regular", c.execute(ReadDeviceInformationRequest(read_code=2, object_id=0, unit=1)))
c.close()
EOF

filter="host $addr and tcp port $port"
start tcpdump tcpdump -i lo -U -n -w "$tmp/$name.pcap" "$filter"
for _ in $(seq 50); do
	grep -q 'listening on' "$tmp/tcpdump.log" && break
	sleep 0.1
done
grep -q 'listening on' "$tmp/tcpdump.log" || die "tcpdump did not start: $(cat "$tmp/tcpdump.log")"

start server "$py" "$tmp/server.py" "$addr" "$port"
wait_for "$port"
sleep 0.5
log "client on $addr:$port"
"$py" "$tmp/client.py" "$addr" "$port" >"$tmp/client.log" 2>&1 ||
	die "client failed: $(tail -5 "$tmp/client.log")"
sleep 0.5
stop server
sleep 1
stop tcpdump

# ---- check and count --------------------------------------------------------------------
f=$tmp/$name.pcap
size=$(stat -c %s "$f")
[ "$size" -lt 200000 ] || die "capture is $size bytes, over the 200 KB budget"
da=()
[ "$port" = 502 ] || da=(-d "tcp.port==$port,mbtcp")
malformed=$(tshark -r "$f" "${da[@]}" -Y _ws.malformed 2>/dev/null | wc -l)
[ "$malformed" = 0 ] || die "$malformed malformed frames"
# one line per ADU: function code, exception code (empty when none)
tshark -r "$f" "${da[@]}" -Y mbtcp -T fields -e mbtcp.trans_id -e modbus.func_code \
	-e modbus.exception_code -E occurrence=a 2>/dev/null |
	awk -F'\t' '{ n = split($1, t, ","); split($2, fc, ","); m = split($3, e, ",")
		for (k = 1; k <= n; k++) print fc[k] "\t" (k <= m ? e[k] : "") }' >"$tmp/adus"
{
	printf 'packets\t%s\n' "$(tshark -r "$f" 2>/dev/null | wc -l)"
	printf 'tcp_conversations\t%s\n' "$(tshark -r "$f" -q -z conv,tcp 2>/dev/null | grep -c '<->' || true)"
	printf 'port\t%s\n' "$port"
	printf 'modbus_adus\t%s\n' "$(wc -l <"$tmp/adus")"
	for fc in 1 2 3 4 5 6 7 8 11 12 15 16 17 22 23 43; do
		printf 'modbus_fc_%s\t%s\n' "$fc" "$(awk -F'\t' -v f="$fc" '$1 == f' "$tmp/adus" | wc -l)"
	done
	for e in 1 2 3 4 5 6 8 10 11; do
		printf 'modbus_exception_%s\t%s\n' "$e" "$(awk -F'\t' -v x="$e" '$2 == x' "$tmp/adus" | wc -l)"
	done
	printf 'malformed\t%s\n' "$malformed"
} >"$tmp/$name.expected.tsv"

want() {
	local got
	got=$(awk -F'\t' -v k="$1" '$1 == k {print $2}' "$tmp/$name.expected.tsv")
	[ "$got" = "$2" ] || die "$1 is $got, expected $2 (stray traffic on port $port?)"
}
# 21 requests and their 21 responses on one connection; FC 3 three times (one refused)
want tcp_conversations 1
want modbus_adus 42
want modbus_fc_3 6
want modbus_fc_43 4
want modbus_exception_2 1

mv "$tmp/$name.pcap" "$out_pcap"
mv "$tmp/$name.expected.tsv" "$out_tsv"
chown "$(stat -c %u:%g "$here")" "$out_pcap" "$out_tsv"
chmod 644 "$out_pcap" "$out_tsv"
log "wrote $out_pcap ($size bytes) and $out_tsv:"
cat "$out_tsv" >&2
