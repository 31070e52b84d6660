#!/usr/bin/env bash
# Forwarding benchmark: the Linux kernel bridge and Sluice side by side, in one run.
#
# Three two-namespace topologies stay up together, and the measurements are interleaved so
# they share the machine's mood (these VMs are noisy):
#   kernel : ns a ─ veth ─ [ns sw: Linux bridge] ─ veth ─ ns b
#   tap    : ns a ─ TAP ─ [ns sw: sluice daemon, bridge] ─ TAP ─ ns b
#   afpkt  : ns a ─ veth ─ [ns sw: sluice daemon, AF_PACKET ports] ─ veth ─ ns b
# For each: iperf3 TCP single stream (median of ROUNDS × SECONDS) and 64-byte UDP packets/s
# delivered (the reference generator `blast` from ../shared/reference when present, else
# iperf3 -u -l 18). Then Sluice's resident memory and the allocations per forwarded packet
# measured by the package-benchmark benchmark of the in-memory loop.
# Last line: RESULT tcp_ratio=X.XX udp64_ratio=Y.YY   (Sluice TAP ports / kernel bridge)
#
# Then ping RTT p50/p99 (µs), idle and while an iperf3 stream crosses the same path in the same
# direction, for each setup.
#
# Usage: sudo bench/forwarding.sh   (env: SECONDS_PER_RUN=5 ROUNDS=3 SKIP_ALLOC=1 SKIP_TCP=1
#        DEFAULT_QDISC=fq_codel|pfifo_fast for Sluice's daemons)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "forwarding.sh: needs root (namespaces, TAP)" >&2; exit 1; }
for t in ip iperf3 swift; do command -v $t >/dev/null || { echo "forwarding.sh: needs $t (scripts/install-deps.sh)" >&2; exit 1; }; done
DUR=${SECONDS_PER_RUN:-5}
ROUNDS=${ROUNDS:-3}
TAG="bf$(printf %x $(( $$ % 65536 )))"
source bench/common.sh

BLAST=""
if [ -f ../shared/reference/blast.c ] && command -v cc >/dev/null; then
  cc -O2 -o "$WORK/blast" ../shared/reference/blast.c && BLAST="$WORK/blast"
fi

# start_daemon NAME NS: runs sluice with $WORK/NAME.conf inside NS, waits until it is ready,
# and leaves its pid in DAEMON_PID.
start_daemon() {
  ip netns exec "$2" "$BIN" daemon --default-qdisc "${DEFAULT_QDISC:-fq_codel}" --config "$WORK/$1.conf" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  DAEMON_PID=$!; PIDS+=($DAEMON_PID)
  for i in $(seq 100); do grep -q "sluice: ready" "$WORK/$1.err" && break; sleep 0.1; done
  grep -q "sluice: ready" "$WORK/$1.err" || { cat "$WORK/$1.err"; exit 1; }
}
addr() { ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up; }

# --- kernel bridge
ns "$TAG-ksw"; ns "$TAG-ka"; ns "$TAG-kb"
ip -n "$TAG-ksw" link add br0 type bridge; ip -n "$TAG-ksw" link set br0 up
for s in a b; do
  ip -n "$TAG-ksw" link add "k$s" type veth peer name eth0 netns "$TAG-k$s"
  ip -n "$TAG-ksw" link set "k$s" master br0 up
done
addr "$TAG-ka" eth0 198.18.0.1/24; addr "$TAG-kb" eth0 198.18.0.2/24

# --- Sluice, TAP ports
ns "$TAG-tsw"; ns "$TAG-ta"; ns "$TAG-tb"
printf '%s\n' "link add br0 type bridge" "link add ${TAG}ta type tap" "link add ${TAG}tb type tap" \
  "link set ${TAG}ta master br0 up" "link set ${TAG}tb master br0 up" "link set br0 up" > "$WORK/tap.conf"
start_daemon tap "$TAG-tsw"; TAP_PID=$DAEMON_PID
ip -n "$TAG-tsw" link set "${TAG}ta" netns "$TAG-ta"; ip -n "$TAG-tsw" link set "${TAG}tb" netns "$TAG-tb"
addr "$TAG-ta" "${TAG}ta" 198.18.0.1/24; addr "$TAG-tb" "${TAG}tb" 198.18.0.2/24

# --- Sluice, AF_PACKET ports on veth
ns "$TAG-psw"; ns "$TAG-pa"; ns "$TAG-pb"
for s in a b; do ip -n "$TAG-psw" link add "p$s" type veth peer name eth0 netns "$TAG-p$s"; done
addr "$TAG-pa" eth0 198.18.0.1/24; addr "$TAG-pb" eth0 198.18.0.2/24
printf '%s\n' "link add br0 type bridge" "link add pa type afpacket dev pa" "link add pb type afpacket dev pb" \
  "link set pa master br0 up" "link set pb master br0 up" "link set br0 up" > "$WORK/afp.conf"
start_daemon afp "$TAG-psw"; AFP_PID=$DAEMON_PID

declare -A IFB=( [k]=eth0 [t]="${TAG}tb" [p]=eth0 )
for s in k t p; do ip netns exec "$TAG-${s}a" ping -c 2 -W 2 -q 198.18.0.2 >/dev/null || { echo "no connectivity in setup $s" >&2; exit 1; }; done

tcp_once() {  # setup -> Gbit/s
  local s=$1
  ip netns exec "$TAG-${s}b" timeout $((DUR + 20)) iperf3 -s -1 -B 198.18.0.2 >/dev/null 2>&1 &
  local srv=$!
  local out=""
  for i in $(seq 20); do
    sleep 0.2
    out=$(ip netns exec "$TAG-${s}a" timeout $((DUR + 15)) iperf3 -c 198.18.0.2 -t "$DUR" -f g 2>&1) && break
  done
  wait $srv 2>/dev/null || true
  echo "$out" | awk '/receiver/ {for (i=1;i<=NF;i++) if ($i ~ /bits\/sec/) print $(i-1)}' | tail -1
}

udp_once() {  # setup -> delivered 64-byte packets/s
  local s=$1 dev=${IFB[$1]}
  local rx="/sys/class/net/$dev/statistics/rx_packets"
  local before after mac
  before=$(ip netns exec "$TAG-${s}b" cat "$rx")
  if [ -n "$BLAST" ]; then
    mac=$(ip netns exec "$TAG-${s}b" cat "/sys/class/net/$dev/address")
    ip netns exec "$TAG-${s}a" "$BLAST" "$(ip netns exec "$TAG-${s}a" ls /sys/class/net | grep -v lo | head -1)" "$mac" "$DUR" >/dev/null
  else
    ip netns exec "$TAG-${s}b" timeout $((DUR + 20)) iperf3 -s -1 -B 198.18.0.2 >/dev/null 2>&1 &
    local srv=$!; sleep 0.3
    ip netns exec "$TAG-${s}a" timeout $((DUR + 15)) iperf3 -c 198.18.0.2 -u -l 18 -b 0 -t "$DUR" >/dev/null 2>&1 || true
    wait $srv 2>/dev/null || true
  fi
  sleep 0.5
  after=$(ip netns exec "$TAG-${s}b" cat "$rx")
  echo $(( (after - before) / DUR ))
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ping RTTs in µs, p50 and p99, of N pings 5 ms apart from a to b.
ping_pct() {  # setup count -> "p50 p99"
  ip netns exec "$TAG-${1}a" ping -c "$2" -i 0.005 -W 1 198.18.0.2 2>/dev/null \
    | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g \
    | awk '{a[NR]=$1*1000} END {if (NR == 0) {print "- -"; exit} p50=a[int(NR*0.5+0.5)]; p99=a[int(NR*0.99+0.5)]; if (p99 == "") p99=a[NR]; printf "%.0f %.0f\n", p50, p99}'
}
lat_once() {  # setup -> "idle_p50 idle_p99 load_p50 load_p99"
  local s=$1 idle load
  idle=$(ping_pct $s 400)
  ip netns exec "$TAG-${s}b" timeout $((DUR + 25)) iperf3 -s -1 -B 198.18.0.2 >/dev/null 2>&1 &
  local srv=$!; sleep 0.3
  ip netns exec "$TAG-${s}a" timeout $((DUR + 20)) iperf3 -c 198.18.0.2 -t $((DUR + 1)) >/dev/null 2>&1 &
  local cli=$!; sleep 1
  load=$(ping_pct $s $((DUR * 150)))
  wait $cli 2>/dev/null || true; wait $srv 2>/dev/null || true
  echo "$idle $load"
}

declare -A TCP UDP LAT
if [ -z "${SKIP_TCP:-}" ]; then
echo "== TCP single stream, $ROUNDS x ${DUR}s, interleaved (Gbit/s)"
for r in $(seq "$ROUNDS"); do
  for s in k t p; do
    v=$(tcp_once $s); TCP[$s]="${TCP[$s]:-} $v"; echo "  round $r $s: $v"
  done
done
echo "== 64-byte UDP delivered (packets/s), ${DUR}s, generator: ${BLAST:+blast (AF_PACKET sendmmsg)}${BLAST:-iperf3 -u -l 18}"
for s in k t p; do v=$(udp_once $s); UDP[$s]=$v; echo "  $s: $v"; done
fi
echo "== ping RTT (µs) p50/p99, idle and under one iperf3 stream a→b (Sluice's default qdisc: ${DEFAULT_QDISC:-fq_codel})"
for s in k t p; do v=$(lat_once $s); LAT[$s]=$v; echo "  $s: $v"; done

rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }
echo "== Sluice resident memory: tap daemon $(rss $TAP_PID), afpacket daemon $(rss $AFP_PID)"
kill -TERM $TAP_PID $AFP_PID; wait $TAP_PID $AFP_PID 2>/dev/null || true
grep -h "shutdown: pool" "$WORK/tap.out" "$WORK/afp.out" | sed 's/^/  /'
for f in tap afp; do grep -A3 "napi_time_squeeze\|drops:" "$WORK/$f.out" | grep "drops:" | sort | uniq -c | sed "s/^/  $f /"; done

ALLOC="n/a"
if [ -z "${SKIP_ALLOC:-}" ]; then
  echo "== allocations per forwarded packet (package-benchmark, in-memory loop, release)"
  out=$(SLUICE_BENCHMARKS=1 swift package --scratch-path .build-bench-unchecked benchmark --target ForwardingBenchmark --no-progress 2>&1 || true)
  echo "$out" | grep -E "^(baseline|forward|flood)|Malloc \(total\)|Time \(wall clock\)" | sed 's/^/  /'
  base=$(echo "$out" | awk '/^baseline/ {f=1} f && /Malloc \(total\)/ {print $10; exit}')
  fwd=$(echo "$out" | awk '/^forward unicast/ {f=1} f && /Malloc \(total\)/ {print $10; exit}')
  ns=$(echo "$out" | awk '/^forward unicast/ {f=1} f && /Time \(wall clock\)/ {print $12; exit}')
  if [ -n "$base" ] && [ -n "$fwd" ]; then
    ALLOC=$(awk -v b="$base" -v f="$fwd" 'BEGIN {printf "%.4f", (f - b) / 1024}')
    echo "  allocations per packet (p50, minus harness baseline): $ALLOC; ns per packet (p50): $(awk -v t="$ns" 'BEGIN {printf "%.1f", t * 1000 / 1024}')"
  fi
fi

K=$(median ${TCP[k]:-0}); T=$(median ${TCP[t]:-0}); P=$(median ${TCP[p]:-0})
echo "== summary"
printf '  %-26s %10s %14s %12s %22s %22s\n' setup "TCP Gbit/s" "64B pps" "vs kernel" "ping idle p50/p99 µs" "ping loaded p50/p99 µs"
lat() { set -- ${LAT[$1]}; echo "$1/$2 $3/$4"; }
printf '  %-26s %10s %14s %12s %22s %22s\n' "kernel bridge (veth)" "$K" "${UDP[k]:-}" "1.00" $(lat k)
printf '  %-26s %10s %14s %12s %22s %22s\n' "sluice, TAP ports" "$T" "${UDP[t]:-}" "$(awk -v a="$T" -v b="$K" 'BEGIN {printf "%.2f", (b > 0 ? a/b : 0)}')" $(lat t)
printf '  %-26s %10s %14s %12s %22s %22s\n' "sluice, AF_PACKET ports" "$P" "${UDP[p]:-}" "$(awk -v a="$P" -v b="$K" 'BEGIN {printf "%.2f", (b > 0 ? a/b : 0)}')" $(lat p)
echo "  allocations per forwarded packet: $ALLOC"
echo "RESULT tcp_ratio=$(awk -v a="$T" -v b="$K" 'BEGIN {printf "%.2f", (b > 0 ? a/b : 0)}') udp64_ratio=$(awk -v a="${UDP[t]}" -v b="${UDP[k]}" 'BEGIN {printf "%.2f", (b > 0 ? a/b : 0)}')"
