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
