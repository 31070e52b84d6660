#!/usr/bin/env bash
# NAPI's deferred re-arm (napi_defer_hard_irqs, gro_flush_timeout) against busy polling and
# plain interrupts: what each costs in CPU and buys in latency. Sluice with TAP ports between
# two namespaces, one daemon per busy-poll window (BUSY, µs); each deferral setting (DEFERS,
# "count:timeout_ns") is applied while that daemon runs, through the files the kernel offers
# (`sluice exec tee /sys/class/net/PORT/…`), ROUNDS times interleaved; medians per row:
#   idle ping RTT p50/p99 (µs, 400 pings 5 ms apart) and the daemon's CPU s/s meanwhile;
#   request/response (`ping -A`, 3000): RTT p50/p99 and CPU s/s;
#   64-byte UDP at a fixed rate (iperf3 -u, RATE_PPS, default 50 000/s, paced every PACING_US):
#     frames delivered/s, the daemon's CPU s per million frames and its sleeps (voluntary
#     context switches: each is a wait in epoll that ended) per s;
#   one TCP stream (iperf3, DUR s): Gbit/s, and ping p50/p99 (µs) meanwhile.
# Usage: sudo bench/napidefer.sh   (env: BUSY="0 50" DEFERS="0:0 2:20000 …" ROUNDS RATE_PPS DUR)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="nd$(printf %x $(( $$ % 65536 )))"
source bench/common.sh
swift build -c release --scratch-path .build-release --product SluicePreload 2>&1 | tail -1   # for `sluice exec`
BUSY=${BUSY:-0 50}
DEFERS=${DEFERS:-0:0 2:20000 2:100000 10:50000}
ROUNDS=${ROUNDS:-3}
RATE_PPS=${RATE_PPS:-50000}
DUR=${DUR:-4}
HZ=$(getconf CLK_TCK)
pct() { sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g | awk '{a[NR]=$1*1000} END {if (NR == 0) {print "- -"; exit} printf "%.0f %.0f\n", a[int(NR*0.5+0.5)], a[int(NR*0.99+0.5)]}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleeps() { cat /proc/$1/task/*/status | awk '/^voluntary_ctxt_switches/ {s += $2} END {print s}'; }
# measure PID COMMAND…: runs the command; CPU_S (CPU s/s), CPU_T (CPU s) and SLEEPS_S after.
measure() {
  local d=$1; shift
  local t0 v0 s0 t1 v1 s1
  t0=$(ticks $d); v0=$(sleeps $d); s0=$(date +%s.%N)
  "$@"
  t1=$(ticks $d); v1=$(sleeps $d); s1=$(date +%s.%N)
  CPU_S=$(awk -v t=$((t1 - t0)) -v hz=$HZ -v a=$s0 -v b=$s1 'BEGIN {printf "%.3f", t / hz / (b - a)}')
  SLEEPS_S=$(awk -v v=$((v1 - v0)) -v a=$s0 -v b=$s1 'BEGIN {printf "%.0f", v / (b - a)}')
  CPU_T=$(awk -v t=$((t1 - t0)) -v hz=$HZ 'BEGIN {printf "%.3f", t / hz}')
}

# One daemon per busy-poll window: setup s (namespaces $TAG-${s}sw, a, b; TAPs ${TAG}${s}a, b).
declare -A DPID
for w in $BUSY; do
  s="w$w"; sw="$TAG-${s}sw"; a="$TAG-${s}a"; b="$TAG-${s}b"; A="${TAG}${s}a"; B="${TAG}${s}b"
  ns "$sw"; ns "$a"; ns "$b"
  printf '%s\n' "link add br0 type bridge" "link add $A type tap" "link add $B type tap" \
    "link set $A master br0 up busy_poll $w" "link set $B master br0 up busy_poll $w" "link set br0 up" > "$WORK/$s.conf"
  ip netns exec "$sw" "$BIN" daemon --socket "$WORK/$s.sock" --config "$WORK/$s.conf" >"$WORK/$s.out" 2>"$WORK/$s.err" &
  DPID[$w]=$!; PIDS+=(${DPID[$w]})
  for i in $(seq 100); do grep -q "sluice: ready" "$WORK/$s.err" && break; sleep 0.1; done
  ip -n "$sw" link set "$A" netns "$a"; ip -n "$sw" link set "$B" netns "$b"
  for x in "$a:$A:198.18.0.1" "$b:$B:198.18.0.2"; do
    IFS=: read -r nn dev addr <<<"$x"
    ip netns exec "$nn" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
    ip -n "$nn" addr add "$addr/24" dev "$dev"; ip -n "$nn" link set "$dev" up
  done
  ip netns exec "$a" ping -c 3 -W 2 -q 198.18.0.2 >/dev/null
done

set_defer() {  # busy count timeout
  local s="w$1"
  for p in "${TAG}${s}a" "${TAG}${s}b"; do
    echo "$2" | "$BIN" exec --socket "$WORK/$s.sock" tee "/sys/class/net/$p/napi_defer_hard_irqs" >/dev/null
    echo "$3" | "$BIN" exec --socket "$WORK/$s.sock" tee "/sys/class/net/$p/gro_flush_timeout" >/dev/null
  done
}

once() {  # busy count timeout -> "idle50 idle99 idlecpu rr50 rr99 rrcpu pps cpu_mp sleeps tcp load50 load99"
  local w=$1 D=${DPID[$1]} s="w$1"; local a="$TAG-${s}a" b="$TAG-${s}b"
  set_defer "$w" "$2" "$3"
  measure $D sh -c "ip netns exec $a ping -c 400 -i 0.005 -W 1 198.18.0.2 > $WORK/idle"
  local idle idle_cpu rr rr_cpu pps cpu_mp tcp load
  idle=$(pct < "$WORK/idle"); idle_cpu=$CPU_S
  measure $D sh -c "ip netns exec $a ping -A -c 3000 -W 1 198.18.0.2 > $WORK/rr"
  rr=$(pct < "$WORK/rr"); rr_cpu=$CPU_S
  ip netns exec "$b" timeout $((DUR + 20)) iperf3 -s -1 -B 198.18.0.2 -J >"$WORK/udp.json" 2>/dev/null & local srv=$!
  sleep 0.3
  measure $D sh -c "ip netns exec $a timeout $((DUR + 15)) iperf3 -c 198.18.0.2 -u -l 18 -b $((RATE_PPS * 18 * 8)) --pacing-timer ${PACING_US:-20} -t $DUR >/dev/null 2>&1 || true"
  wait $srv || true
  pps=$(python3 -c "import json; s=json.load(open('$WORK/udp.json'))['end']['sum']; print(int(s['packets'] - s['lost_packets']) // $DUR)" 2>/dev/null || echo 0)
  cpu_mp=$(awk -v c=$CPU_T -v p=$pps -v d=$DUR 'BEGIN {if (p > 0) printf "%.2f", c / (p * d / 1e6); else print "-"}')
  local sl=$SLEEPS_S
  ip netns exec "$b" timeout $((DUR + 20)) iperf3 -s -1 -B 198.18.0.2 -J >"$WORK/tcp.json" 2>/dev/null & srv=$!
  sleep 0.3
  ip netns exec "$a" timeout $((DUR + 15)) iperf3 -c 198.18.0.2 -t $((DUR + 1)) >/dev/null 2>&1 & local cli=$!
  sleep 1
  load=$(ip netns exec "$a" ping -c $((DUR * 150)) -i 0.005 -W 1 198.18.0.2 | pct)
  wait $cli || true; wait $srv || true
  tcp=$(python3 -c "import json; print('%.2f' % (json.load(open('$WORK/tcp.json'))['end']['sum_received']['bits_per_second'] / 1e9))" 2>/dev/null || echo 0)
  echo "$idle $idle_cpu $rr $rr_cpu $pps $cpu_mp $sl $tcp $load"
}

declare -A R
for r in $(seq "$ROUNDS"); do
  for w in $BUSY; do
    for dt in $DEFERS; do
      IFS=: read -r c t <<<"$dt"
      v=$(once "$w" "$c" "$t"); R["$w:$dt"]="${R["$w:$dt"]:-}|$v"
      echo "  round $r busy ${w}us defer $c timeout ${t}ns: $v"
    done
  done
done
col() { echo "$1" | tr '|' '\n' | awk -v c=$2 'NF {print $c}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "== medians of $ROUNDS rounds; UDP: 64-byte frames at $RATE_PPS/s"
printf '%-8s %-14s %12s %8s %12s %8s %9s %9s %9s %8s %12s\n' busy "defer/timeout" "idle p50/99" "CPU s/s" "RR p50/99" "CPU s/s" "UDP pps" "CPU s/Mp" "sleeps/s" "TCP Gb/s" "loaded p50/99"
for w in $BUSY; do
  for dt in $DEFERS; do
    v=${R["$w:$dt"]}
    printf '%-8s %-14s %12s %8s %12s %8s %9s %9s %9s %8s %12s\n' "${w}us" "${dt/:/ \/ }ns" "$(col "$v" 1)/$(col "$v" 2)" "$(col "$v" 3)" \
      "$(col "$v" 4)/$(col "$v" 5)" "$(col "$v" 6)" "$(col "$v" 7)" "$(col "$v" 8)" "$(col "$v" 9)" "$(col "$v" 10)" "$(col "$v" 11)/$(col "$v" 12)"
  done
done
