# lib.sh - what the integration scripts share; sourced, after `cd` to the repository root.
#
#   check NAME STATUS [DETAIL]   counts and prints PASS/FAIL for one check
#   pass WHAT... / fail WHAT...  counts and prints one PASS / one FAIL
#   skip WHAT...                 counts and prints one SKIP
#   need_tools TEST TOOL...      exits 0 with "SKIP TEST: ..." when a tool is missing
#   need_files TEST FILE...      exits 1 with "FAIL TEST: ..." when a file is missing
#   free_port [tcp|udp]          a loopback port free now
#   summary TEST                 "TEST: n passed, n failed[, n skipped]"; the status to exit with
npass=0 nfail=0 nskip=0

check() {
	if [ "$2" -eq 0 ]; then pass "$1${3:+ ($3)}"; else fail "$1${3:+ ($3)}"; fi
}

pass() {
	npass=$((npass + 1))
	echo "PASS $*"
}

fail() {
	nfail=$((nfail + 1))
	echo "FAIL $*"
}

skip() {
	nskip=$((nskip + 1))
	echo "SKIP $*"
}

need_tools() {
	local name=$1 tool
	shift
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null; then
			echo "SKIP $name: $tool not installed (sh scripts/deps.sh test)"
			exit 0
		fi
	done
}

need_files() {
	local name=$1 f
	shift
	for f in "$@"; do
		[ -e "$f" ] || {
			echo "FAIL $name: $f missing"
			exit 1
		}
	done
}

free_port() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' "${1:-tcp}"
}

summary() {
	if [ "$nskip" -gt 0 ]; then
		echo "$1: $npass passed, $nfail failed, $nskip skipped"
	else
		echo "$1: $npass passed, $nfail failed"
	fi
	[ "$nfail" -eq 0 ]
}
