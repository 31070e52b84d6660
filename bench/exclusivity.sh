#!/usr/bin/env bash
# What Swift's dynamic exclusivity checks cost the datapath in a release build: the in-memory
# forwarding benchmark (package-benchmark) built twice, once as shipped (checks on) and once
# with SLUICE_EXCLUSIVITY=unchecked, run alternately, p50 per forwarded packet compared.
# Usage: bench/exclusivity.sh [ROUNDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
run() {  # $1: scratch path, $2: SLUICE_EXCLUSIVITY value ("" for default)
  SLUICE_BENCHMARKS=1 SLUICE_EXCLUSIVITY="$2" swift package --scratch-path "$1" benchmark \
    --target ForwardingBenchmark --filter "forward unicast.*" --no-progress --format markdown 2>/dev/null \
    | awk -F'|' '/Time \(wall clock\)/ { found=1 } found && /p50/ { next } found && NF > 4 { gsub(/ /, "", $3); print $3; exit }'
}
# Build both first (outside the timing).
SLUICE_BENCHMARKS=1 swift build -c release --scratch-path .build-bench --product ForwardingBenchmark >/dev/null
SLUICE_BENCHMARKS=1 SLUICE_EXCLUSIVITY=unchecked swift build -c release --scratch-path .build-bench-unchecked --product ForwardingBenchmark >/dev/null
checked=(); unchecked=()
for i in $(seq "$rounds"); do
  checked+=("$(run .build-bench "")")
  unchecked+=("$(run .build-bench-unchecked unchecked)")
done
echo "wall clock p50 per 1024 packets (us): checked ${checked[*]}  unchecked ${unchecked[*]}"
python3 - "${checked[*]}" "${unchecked[*]}" <<'PY'
import sys, statistics
c = [float(x) for x in sys.argv[1].split()]; u = [float(x) for x in sys.argv[2].split()]
mc, mu = statistics.median(c), statistics.median(u)
print(f"RESULT exclusivity_checked_ns_per_packet={mc*1000/1024:.1f} unchecked_ns_per_packet={mu*1000/1024:.1f} cost={(mc/mu-1)*100:.1f}%")
PY
