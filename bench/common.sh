# Shared by the benchmarks (sourced): the checks every run needs (root; ip, iperf3, swift), a
# work directory, the PIDs and namespaces a run made (killed, waited for and deleted on exit,
# even on failure), and the release build they measure.
# Expects TAG (a per-run name prefix) to be set by the caller.
BENCH=$(basename "$0")
[ "$(id -u)" = 0 ] || { echo "$BENCH: needs root (namespaces, TAP)" >&2; exit 1; }
for t in ip iperf3 swift; do command -v $t >/dev/null || { echo "$BENCH: needs $t (scripts/install-deps.sh)" >&2; exit 1; }; done
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
PIDS=()
NSS=()

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  for n in "${NSS[@]:-}"; do [ -n "$n" ] && ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ns() { ip netns add "$1"; NSS+=("$1"); ip -n "$1" link set lo up; }

# The datapath is measured as it serves traffic: a release build without Swift's dynamic
# exclusivity checks (the test suite runs with them; bench/exclusivity.sh measures the cost).
echo "== building release (SLUICE_EXCLUSIVITY=unchecked)"
export SLUICE_EXCLUSIVITY=unchecked
swift build -c release --scratch-path .build-release --product sluice 2>&1 | tail -1
BIN=$(swift build -c release --scratch-path .build-release --show-bin-path)/sluice

# The measurements the benchmarks share; setups are namespaces $TAG-<s>a and $TAG-<s>b with
# 198.18.0.1 and 198.18.0.2 (b's address is $DST when set: an IPv6 run).
tcp_once() {  # setup [streams] -> Gbit/s
  local s=$1 par=${2:-1}
  ip netns exec "$TAG-${s}b" timeout $((DUR + 20)) iperf3 -s -1 -B "${DST:-198.18.0.2}" >/dev/null 2>&1 &
  local srv=$!
  local out=""
  for i in $(seq 20); do
    sleep 0.2
    out=$(ip netns exec "$TAG-${s}a" timeout $((DUR + 15)) iperf3 -c "${DST:-198.18.0.2}" -t "$DUR" -P "$par" -f g 2>&1) && break
  done
  wait $srv 2>/dev/null || true
  echo "$out" | awk '/receiver/ {for (i=1;i<=NF;i++) if ($i ~ /bits\/sec/) print $(i-1)}' | tail -1
}

# 64-byte UDP a→b by iperf3 (when the reference generator is not there).
udp64_iperf() {
  local s=$1
  ip netns exec "$TAG-${s}b" timeout $((DUR + 20)) iperf3 -s -1 -B "${DST:-198.18.0.2}" >/dev/null 2>&1 &
  local srv=$!; sleep 0.3
  ip netns exec "$TAG-${s}a" timeout $((DUR + 15)) iperf3 -c "${DST:-198.18.0.2}" -u -l 18 -b 0 -t "$DUR" >/dev/null 2>&1 || true
  wait $srv 2>/dev/null || true
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
