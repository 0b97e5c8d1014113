# lib.sh - what every pcaps/make-*.sh shares: messages, installing missing packages,
# background processes that are always stopped, and keeping a failed run for a look.
# Sourced after `set -euo pipefail` with $tag set to the script's name (make-<x>).

failed=/tmp/iotwatch-${tag#make-}.failed

log() { printf '%s: %s\n' "$tag" "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# need_pkgs PKG...: installs the Debian packages that are missing (as root).
need_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]} (run as root)"
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer no without a prompt.
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		debconf-set-selections 2>/dev/null || true
	apt-get update -qq >/dev/null
	# policy-rc.d (if present) keeps packaged services (mosquitto, dnsmasq) from starting;
	# the scripts start their own with their own settings.
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Every process started is recorded and stopped on exit, however the script ends. A
# failed run that got as far as a capture keeps $tmp (capture and logs) in $failed.
pids=()
declare -A pid_of
tmp=""
cleanup() {
	local status=$? pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$tmp" ]; then
		if [ "$status" != 0 ] && compgen -G "$tmp/*.pcap" >/dev/null; then
			rm -rf "$failed"
			mv "$tmp" "$failed"
			log "capture and logs of the failed run: $failed/"
		fi
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: runs CMD in the background, output to $tmp/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$tmp/$name.log" 2>&1 &
	pids+=("$!")
	pid_of[$name]=$!
}

# stop NAME: graceful stop (SIGTERM), then wait for the process to be gone.
stop() {
	kill -TERM "${pid_of[$1]}" 2>/dev/null || true
	wait "${pid_of[$1]}" 2>/dev/null || true
}
