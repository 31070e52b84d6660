#!/usr/bin/env bash
# Busy polling: what it buys in latency and what it costs in CPU. Sluice with TAP ports (and,
# with PORTS=afpacket, AF_PACKET ports on veth) between two namespaces; for each busy_poll
# window: ping RTT p50/p99 (µs, 1000 pings 5 ms apart) idle and under one iperf3 stream, and the
# daemon's CPU time during the idle pings (CPU s per s of wall clock). The kernel bridge's
# figures come from bench/forwarding.sh.
# Usage: sudo bench/busypoll.sh   (env: WINDOWS="0 20 100 1000" PORTS=tap|afpacket)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="bp$(printf %x $(( $$ % 65536 )))"
source bench/common.sh
WINDOWS=${WINDOWS:-0 20 100 1000}
PORTS=${PORTS:-tap}
pct() { sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g | awk '{a[NR]=$1*1000} END {printf "%.0f/%.0f", a[int(NR*0.5+0.5)], a[int(NR*0.99+0.5)]}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
printf '%-12s %16s %14s %18s\n' busy_poll "idle p50/p99 µs" "idle CPU s/s" "loaded p50/p99 µs"
for w in $WINDOWS; do
  ns "$TAG-sw$w"; ns "$TAG-a$w"; ns "$TAG-b$w"
  A="${TAG}a$w" B="${TAG}b$w"
  if [ "$PORTS" = tap ]; then
    printf '%s\n' "link add br0 type bridge" "link add $A type tap" "link add $B type tap" \
      "link set $A master br0 up busy_poll $w" "link set $B master br0 up busy_poll $w" "link set br0 up" > "$WORK/$w.conf"
  else
    for s in a b; do ip -n "$TAG-sw$w" link add "${TAG}$s$w" type veth peer name eth0 netns "$TAG-$s$w"; done
    printf '%s\n' "link add br0 type bridge" "link add $A type afpacket dev $A" "link add $B type afpacket dev $B" \
      "link set $A master br0 up busy_poll $w" "link set $B master br0 up busy_poll $w" "link set br0 up" > "$WORK/$w.conf"
  fi
  ip netns exec "$TAG-sw$w" "$BIN" daemon --socket none --config "$WORK/$w.conf" >"$WORK/$w.out" 2>"$WORK/$w.err" &
  D=$!; PIDS+=($D)
  for i in $(seq 100); do grep -q "sluice: ready" "$WORK/$w.err" && break; sleep 0.1; done
  if [ "$PORTS" = tap ]; then
    ip -n "$TAG-sw$w" link set "$A" netns "$TAG-a$w"; ip -n "$TAG-sw$w" link set "$B" netns "$TAG-b$w"
    DA=$A DB=$B
  else
    DA=eth0 DB=eth0
  fi
  ip -n "$TAG-a$w" addr add 198.18.0.1/24 dev $DA; ip -n "$TAG-a$w" link set $DA up
  ip -n "$TAG-b$w" addr add 198.18.0.2/24 dev $DB; ip -n "$TAG-b$w" link set $DB up
  ip netns exec "$TAG-a$w" ping -c 3 -W 2 -q 198.18.0.2 >/dev/null
  t0=$(ticks $D); s0=$(date +%s.%N)
  idle=$(ip netns exec "$TAG-a$w" ping -c 1000 -i 0.005 -W 1 198.18.0.2 | pct)
  t1=$(ticks $D); s1=$(date +%s.%N)
  cpu=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v a="$s0" -v b="$s1" 'BEGIN {printf "%.2f", t / hz / (b - a)}')
  ip netns exec "$TAG-b$w" timeout 30 iperf3 -s -1 -B 198.18.0.2 >/dev/null 2>&1 & S=$!
  sleep 0.3
  ip netns exec "$TAG-a$w" timeout 30 iperf3 -c 198.18.0.2 -t 6 >/dev/null 2>&1 & C=$!
  sleep 1
  loaded=$(ip netns exec "$TAG-a$w" ping -c 800 -i 0.005 -W 1 198.18.0.2 | pct)
  wait $C || true; wait $S || true
  printf '%-12s %16s %14s %18s\n' "${w}us" "$idle" "$cpu" "$loaded"
  kill -TERM $D; wait $D || true
done
