#!/usr/bin/env bash
# Control-plane benchmark: a running daemon (TAP ports, bridge) driven over its rtnetlink
# socket while it forwards.
#   1. `link set` round trip (RTM_SETLINK mtu, acknowledged): p50/p99 over LAT_N requests.
#   2. FDB_N static FDB entries added (bridge fdb add … master static, 64 per datagram), then
#      one AF_BRIDGE dump of them with a 32 KiB reader buffer: entries/s, daemon RSS.
#   3. The storm: ping RTT p99 and iperf3 TCP throughput between the two namespaces, first
#      alone, then while a client applies STORM_N changes (tbf rate 40/50 mbit on an idle
#      port, a u32 filter added and deleted on the traffic port's ingress, an FDB entry added
#      and deleted) and dumps the whole FDB once. Goal (issue 8): p99 grows < 1 ms,
#      throughput drops < 5 %.
# Last line: RESULT link_set_p99_us=… fdb_dump_entries_per_s=… storm_p99_delta_ms=… storm_tput_ratio=…
#
#    Alone and storm runs alternate, ROUNDS times; the medians are compared.
#
# Usage: sudo bench/control.sh   (env: LAT_N=2000 FDB_N=100000 STORM_N=10000 SECONDS_PER_RUN=10 ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
for t in ping python3; do command -v $t >/dev/null || { echo "control.sh: needs $t (scripts/install-deps.sh)" >&2; exit 1; }; done
LAT_N=${LAT_N:-2000}
FDB_N=${FDB_N:-100000}
STORM_N=${STORM_N:-10000}
DUR=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-3}
TAG="bc$(printf %x $(( $$ % 65536 )))"
source bench/common.sh
CLIENT="python3 bench/rtnl_client.py $WORK/ctl.sock"

ns "$TAG-sw"; ns "$TAG-a"; ns "$TAG-b"
A="${TAG}a"; B="${TAG}b"; IDLE="${TAG}i"
printf '%s\n' "link add br0 type bridge" "link add $A type tap" "link add $B type tap" "link add $IDLE type tap" \
  "link set $A master br0 up" "link set $B master br0 up" "link set $IDLE master br0" "link set br0 up" \
  "qdisc add dev $IDLE root handle 1: tbf rate 50mbit burst 32kb latency 50ms" "qdisc add dev $A ingress" > "$WORK/sw.conf"
ip netns exec "$TAG-sw" "$BIN" daemon --config "$WORK/sw.conf" --socket "$WORK/ctl.sock" >"$WORK/sw.out" 2>"$WORK/sw.err" &
DPID=$!; PIDS+=($DPID)
for i in $(seq 100); do grep -q "sluice: ready" "$WORK/sw.err" && break; sleep 0.1; done
grep -q "sluice: ready" "$WORK/sw.err" || { cat "$WORK/sw.err"; exit 1; }
ip -n "$TAG-sw" link set "$A" netns "$TAG-a"; ip -n "$TAG-sw" link set "$B" netns "$TAG-b"
ip -n "$TAG-a" addr add 198.18.0.1/24 dev "$A"; ip -n "$TAG-a" link set "$A" up
ip -n "$TAG-b" addr add 198.18.0.2/24 dev "$B"; ip -n "$TAG-b" link set "$B" up
ip netns exec "$TAG-a" ping -c 2 -W 2 -q 198.18.0.2 >/dev/null || { echo "control.sh: no connectivity" >&2; exit 1; }

echo "== link set round trip ($LAT_N requests)"
LAT=$($CLIENT latency "$IDLE" "$LAT_N"); echo "  $LAT"
echo "== FDB: $FDB_N static entries, then one dump"
echo "  $($CLIENT fill "$IDLE" "$FDB_N")"
DUMP=$($CLIENT dump "$DPID"); echo "  $DUMP"

# load [storm]: ping every 5 ms and iperf3 for DUR seconds, optionally with the storm.
load() {
  ip netns exec "$TAG-b" timeout $((DUR + 20)) iperf3 -s -1 -B 198.18.0.2 >/dev/null 2>&1 &
  local srv=$!; sleep 0.5
  ip netns exec "$TAG-a" timeout $((DUR + 15)) iperf3 -c 198.18.0.2 -t "$DUR" -f m >"$WORK/iperf.txt" 2>&1 &
  local cli=$!
  ip netns exec "$TAG-a" ping -i 0.005 -c $((DUR * 180)) -W 1 198.18.0.2 >"$WORK/ping.txt" 2>&1 &
  local png=$!
  local st=""
  if [ "${1:-}" = storm ]; then sleep 1; $CLIENT storm "$IDLE" "$A" "$STORM_N" "$DPID" >"$WORK/storm.txt" & st=$!; fi
  wait $cli || true; wait $png || true; wait $srv 2>/dev/null || true
  [ -n "$st" ] && { wait $st; echo "  $(cat "$WORK/storm.txt")"; }
  local tput p99
  tput=$(awk '/receiver/ {for (i=1;i<=NF;i++) if ($i ~ /bits\/sec/) print $(i-1)}' "$WORK/iperf.txt" | tail -1)
  p99=$(grep -o 'time=[0-9.]*' "$WORK/ping.txt" | cut -d= -f2 | sort -g | awk '{a[NR]=$1} END {print a[int(NR*0.99)]}')
  echo "$tput $p99"
}
TS0=(); PS0=(); TS1=(); PS1=()
for r in $(seq "$ROUNDS"); do
  echo "== round $r: forwarding alone (${DUR}s: iperf3 TCP + ping every 5 ms)"
  R0=$(load); read -r t p <<< "$R0"; TS0+=("$t"); PS0+=("$p")
  echo "  throughput $t Mbit/s, ping p99 $p ms"
  echo "== round $r: forwarding during the storm ($STORM_N changes + one FDB dump)"
  OUT=$(load storm); echo "$OUT" | head -n -1
  read -r t p <<< "$(echo "$OUT" | tail -1)"; TS1+=("$t"); PS1+=("$p")
  echo "  throughput $t Mbit/s, ping p99 $p ms"
done
T0=$(median "${TS0[@]}"); P0=$(median "${PS0[@]}"); T1=$(median "${TS1[@]}"); P1=$(median "${PS1[@]}")
echo "== medians of $ROUNDS: alone ${T0} Mbit/s, p99 ${P0} ms; storm ${T1} Mbit/s, p99 ${P1} ms"

kill -TERM $DPID; wait $DPID 2>/dev/null || true
grep -h "shutdown: pool" "$WORK/sw.out" | sed 's/^/  /' || true
P99=$(echo "$LAT" | sed -n 's/.*p99=\([0-9.]*\).*/\1/p')
EPS=$(echo "$DUMP" | sed -n 's/.*entries_per_s=\([0-9]*\).*/\1/p')
echo "RESULT link_set_p99_us=$P99 fdb_dump_entries_per_s=$EPS storm_p99_delta_ms=$(awk -v a="$P1" -v b="$P0" 'BEGIN {printf "%.3f", a-b}') storm_tput_ratio=$(awk -v a="$T1" -v b="$T0" 'BEGIN {printf "%.3f", (b > 0 ? a/b : 0)}')"
