#!/usr/bin/env bash
# Forwarding benchmark: the Linux kernel bridge, a simple C forwarder and Sluice side by side,
# in one run.
#
# Five two-namespace topologies stay up together, and the measurements are interleaved so
# they share the machine's mood (these VMs are noisy):
#   k kernel : ns a ─ veth ─ [ns sw: Linux bridge] ─ veth ─ ns b
#   c tapfwd : ns a ─ TAP ─ [../shared/reference/tapfwd.c, virtio + TSO] ─ TAP ─ ns b
#   t tap    : ns a ─ TAP ─ [ns sw: sluice daemon, bridge] ─ TAP ─ ns b (the daemon's default
#              busy-poll window, 50 µs)
#   w tap rw : the same with `rx read tx write` (one system call per frame, no io_uring)
#   b tap bp : TAP ports with `busy_poll 10000`: after traffic the worker keeps polling for
#              10 ms before it sleeps (a whole vCPU while pings come 5 ms apart; none idle);
#              not in the default set
#   s tap sl : TAP ports with `busy_poll 0`: the worker sleeps in epoll as soon as a poll finds
#              nothing; not in the default set
#   m tap mq : TAP ports with two queues each (IFF_MULTI_QUEUE, `queues 2`); not in the
#              default set
#   p afpkt  : ns a ─ veth ─ [ns sw: sluice daemon, AF_PACKET ports] ─ veth ─ ns b
#   x afxdp  : ns a ─ veth ─ [ns sw: sluice daemon, AF_XDP ports] ─ veth ─ ns b
#              (the hosts' veth transmit checksum offload off: XDP frames carry no checksum state)
#   y afxdp sb: the same with `multibuffer off` (libxdp's program, one descriptor per frame);
#              not in the default set
# For each: iperf3 TCP with 1 and 4 streams (median of ROUNDS × SECONDS), 64-byte UDP packets/s
# delivered (the reference generator `blast` when present, else iperf3 -u -l 18) with the
# forwarder's CPU seconds per million packets (process CPU time; the kernel bridge's is softirq
# time, not attributable), ping RTT p50/p99 (µs) idle and while one iperf3 stream crosses the
# same path the same way, and request/response (`ping -A`: each request leaves as soon as the
# reply came back) with the forwarder's CPU seconds per second meanwhile. Then Sluice's
# resident memory and, from the package-benchmark benchmark of the in-memory loop, allocations
# per forwarded packet.
# Last line: RESULT tcp_ratio=X.XX udp64_ratio=Y.YY ...   (Sluice TAP ports / kernel bridge, …)
#
# Usage: sudo bench/forwarding.sh   (env: SECONDS_PER_RUN=5 ROUNDS=3 SKIP_ALLOC=1 SKIP_TCP=1
#        SETUPS="k c t w p x" DEFAULT_QDISC=fq_codel|pfifo_fast for Sluice's daemons,
#        SINK=stack|drop for the 64-byte frames in b, below)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${SECONDS_PER_RUN:-5}
ROUNDS=${ROUNDS:-3}
TAG="bf$(printf %x $(( $$ % 65536 )))"
source bench/common.sh

SETUPS=${SETUPS:-k c t w p x}
BLAST="" TAPFWD=""
if [ -f ../shared/reference/blast.c ] && command -v cc >/dev/null; then
  cc -O2 -o "$WORK/blast" ../shared/reference/blast.c && BLAST="$WORK/blast"
fi
if [ -f ../shared/reference/tapfwd.c ] && command -v cc >/dev/null; then
  cc -O2 -o "$WORK/tapfwd" ../shared/reference/tapfwd.c && TAPFWD="$WORK/tapfwd"
fi
[ -n "$TAPFWD" ] || SETUPS=${SETUPS//c/}
has() { [[ " $SETUPS " == *" $1 "* ]]; }

# start_daemon NAME NS: runs sluice with $WORK/NAME.conf inside NS, waits until it is ready,
# and leaves its pid in DAEMON_PID.
start_daemon() {
  ip netns exec "$2" "$BIN" daemon --default-qdisc "${DEFAULT_QDISC:-fq_codel}" --config "$WORK/$1.conf" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  DAEMON_PID=$!; PIDS+=($DAEMON_PID)
  for i in $(seq 100); do grep -q "sluice: ready" "$WORK/$1.err" && break; sleep 0.1; done
  grep -q "sluice: ready" "$WORK/$1.err" || { cat "$WORK/$1.err"; exit 1; }
}
addr() { ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up; }

declare -A PID_OF
# --- kernel bridge
if has k; then
ns "$TAG-ksw"; ns "$TAG-ka"; ns "$TAG-kb"
ip -n "$TAG-ksw" link add br0 type bridge; ip -n "$TAG-ksw" link set br0 up
for s in a b; do
  ip -n "$TAG-ksw" link add "k$s" type veth peer name eth0 netns "$TAG-k$s"
  ip -n "$TAG-ksw" link set "k$s" master br0 up
done
addr "$TAG-ka" eth0 198.18.0.1/24; addr "$TAG-kb" eth0 198.18.0.2/24
fi

# --- the C reference forwarder, TAP ports with virtio headers and TSO
if has c; then
ns "$TAG-csw"; ns "$TAG-ca"; ns "$TAG-cb"
ip netns exec "$TAG-csw" "$TAPFWD" "${TAG}ca" "${TAG}cb" 1 >"$WORK/tapfwd.out" 2>&1 &
PIDS+=($!); PID_OF[c]=$!
for i in $(seq 50); do ip -n "$TAG-csw" link show "${TAG}cb" >/dev/null 2>&1 && break; sleep 0.1; done
ip -n "$TAG-csw" link set "${TAG}ca" netns "$TAG-ca"; ip -n "$TAG-csw" link set "${TAG}cb" netns "$TAG-cb"
addr "$TAG-ca" "${TAG}ca" 198.18.0.1/24; addr "$TAG-cb" "${TAG}cb" 198.18.0.2/24
fi

# --- Sluice, TAP ports (t), the same read and written one frame per system call (w), and
# busy-polled (b)
# tap_setup LETTER CONF TAP_OPTIONS [PORT_SETTINGS]
tap_setup() {
  local s=$1
  ns "$TAG-${s}sw"; ns "$TAG-${s}a"; ns "$TAG-${s}b"
  printf '%s\n' "link add br0 type bridge" "link add ${TAG}${s}a type tap$3" "link add ${TAG}${s}b type tap$3" \
    "link set ${TAG}${s}a master br0 up${4:-}" "link set ${TAG}${s}b master br0 up${4:-}" "link set br0 up" > "$WORK/$2.conf"
  start_daemon "$2" "$TAG-${s}sw"; PID_OF[$s]=$DAEMON_PID
  ip -n "$TAG-${s}sw" link set "${TAG}${s}a" netns "$TAG-${s}a"; ip -n "$TAG-${s}sw" link set "${TAG}${s}b" netns "$TAG-${s}b"
  addr "$TAG-${s}a" "${TAG}${s}a" 198.18.0.1/24; addr "$TAG-${s}b" "${TAG}${s}b" 198.18.0.2/24
}
if has t; then tap_setup t tap ""; fi
if has w; then tap_setup w taprw " rx read tx write"; fi
if has b; then tap_setup b tapbp "" " busy_poll 10000"; fi
if has s; then tap_setup s tapsl "" " busy_poll 0"; fi
if has m; then tap_setup m tapmq " queues 2"; fi

# --- Sluice, AF_PACKET ports on veth
if has p; then
ns "$TAG-psw"; ns "$TAG-pa"; ns "$TAG-pb"
for s in a b; do ip -n "$TAG-psw" link add "p$s" type veth peer name eth0 netns "$TAG-p$s"; done
addr "$TAG-pa" eth0 198.18.0.1/24; addr "$TAG-pb" eth0 198.18.0.2/24
printf '%s\n' "link add br0 type bridge" "link add pa type afpacket dev pa" "link add pb type afpacket dev pb" \
  "link set pa master br0 up" "link set pb master br0 up" "link set br0 up" > "$WORK/afp.conf"
start_daemon afp "$TAG-psw"; PID_OF[p]=$DAEMON_PID
fi

# --- Sluice, AF_XDP ports on veth
# xdp_setup LETTER CONF MULTIBUFFER: two AF_XDP ports on veth, multi-buffer on or off.
xdp_setup() {
local x=$1
ns "$TAG-${x}sw"; ns "$TAG-${x}a"; ns "$TAG-${x}b"
for s in a b; do
  ip -n "$TAG-${x}sw" link add "$x$s" type veth peer name eth0 netns "$TAG-$x$s"
  ip netns exec "$TAG-$x$s" ethtool -K eth0 tx off >/dev/null
done
addr "$TAG-${x}a" eth0 198.18.0.1/24; addr "$TAG-${x}b" eth0 198.18.0.2/24
local opt="${XDP_RX_RING:+ rx_ring $XDP_RX_RING} multibuffer $3"
printf '%s\n' "link add br0 type bridge" "link add ${x}a type afxdp dev ${x}a$opt" "link add ${x}b type afxdp dev ${x}b$opt" \
  "link set ${x}a master br0 up" "link set ${x}b master br0 up" "link set br0 up" > "$WORK/$2.conf"
start_daemon "$2" "$TAG-${x}sw"; PID_OF[$x]=$DAEMON_PID
grep -h "falling back" "$WORK/$2.err" | sed 's/^/  /' || true
}
has x && xdp_setup x xdp on
has y && xdp_setup y xdpsb off

declare -A IFB=( [k]=eth0 [c]="${TAG}cb" [t]="${TAG}tb" [w]="${TAG}wb" [b]="${TAG}bb" [s]="${TAG}sb" [m]="${TAG}mb" [p]=eth0 [x]=eth0 [y]=eth0 )
# The 64-byte frames' sink in b. stack: they go up b's stack to UDP port 9, where no socket
# listens; the kernel then looks up a route for an ICMP port unreachable for every frame before
# its rate limit refuses to send one, and that work runs in whatever context delivered the
# frame — the forwarder's write or sendto for TAP, AF_PACKET and AF_XDP (perf: 35 % of an AF_XDP
# port's CPU, 72 % with the rest of b's receive path). drop: an nftables netdev ingress rule in
# b drops UDP to port 9 on arrival (after the device counted it), the same for every setup, so
# the figure is the forwarder's and the generator's, not b's stack's.
SINK=${SINK:-stack}
if [ "$SINK" = drop ]; then
  command -v nft >/dev/null || { echo "$BENCH: SINK=drop needs nft (apt-get install -y nftables)" >&2; exit 1; }
  for s in $SETUPS; do
    printf 'table netdev sink {\n chain in {\n  type filter hook ingress device "%s" priority 0; policy accept;\n  udp dport 9 drop\n }\n}\n' "${IFB[$s]}" \
      | ip netns exec "$TAG-${s}b" nft -f -
  done
fi
for s in $SETUPS; do ip netns exec "$TAG-${s}a" ping -c 2 -W 2 -q 198.18.0.2 >/dev/null || { echo "no connectivity in setup $s" >&2; exit 1; }; done

cpu_ticks() { [ -n "${1:-}" ] && awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
udp_once() {  # setup -> "delivered-64-byte-packets/s cpu-seconds-per-million-packets"
  local s=$1 dev=${IFB[$1]}
  local rx="/sys/class/net/$dev/statistics/rx_packets"
  local before after mac c0 c1 gen="-"
  before=$(ip netns exec "$TAG-${s}b" cat "$rx")
  c0=$(cpu_ticks "${PID_OF[$s]:-}")
  if [ -n "$BLAST" ]; then
    mac=$(ip netns exec "$TAG-${s}b" cat "/sys/class/net/$dev/address")
    gen=$(ip netns exec "$TAG-${s}a" "$BLAST" "$(ip netns exec "$TAG-${s}a" ls /sys/class/net | grep -v lo | head -1)" "$mac" "$DUR" \
      | awk '{for (i = 1; i < NF; i++) if ($(i+1) == "pps") print $i}')
  else
    udp64_iperf "$s"
  fi
  sleep 0.5
  after=$(ip netns exec "$TAG-${s}b" cat "$rx")
  c1=$(cpu_ticks "${PID_OF[$s]:-}")
  local pk=$(( after - before ))
  local cpu="n/a"
  [ -n "${PID_OF[$s]:-}" ] && [ "$pk" -gt 0 ] && cpu=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$pk" 'BEGIN {printf "%.2f", t / hz / (n / 1e6)}')
  echo "$(( pk / DUR )) $cpu $gen"
}


# ping RTTs in µs, p50 and p99, of N pings 5 ms apart from a to b.
ping_pct() {  # setup count -> "p50 p99"
  ip netns exec "$TAG-${1}a" ping -c "$2" -i 0.005 -W 1 198.18.0.2 2>/dev/null \
    | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g \
    | awk '{a[NR]=$1*1000} END {if (NR == 0) {print "- -"; exit} p50=a[int(NR*0.5+0.5)]; p99=a[int(NR*0.99+0.5)]; if (p99 == "") p99=a[NR]; printf "%.0f %.0f\n", p50, p99}'
}
# The forwarder's CPU seconds per second while COMMAND runs; COMMAND's output goes to $WORK/cpu.out.
cpu_during() {  # setup command... -> "cpu_s_per_s" ("-" for the kernel bridge)
  local s=$1 c0 c1 t0 t1; shift
  c0=$(cpu_ticks "${PID_OF[$s]:-}"); t0=$(date +%s.%N)
  "$@" > "$WORK/cpu.out"
  c1=$(cpu_ticks "${PID_OF[$s]:-}"); t1=$(date +%s.%N)
  if [ -n "${PID_OF[$s]:-}" ]; then
    awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", t / hz / (b - a)}'
  else echo "-"; fi
}
# Request/response: ping -A sends the next request when the reply is in; RTT p50 p99 in µs.
ping_rr() {  # setup count -> "p50 p99"
  ip netns exec "$TAG-${1}a" ping -A -c "$2" -W 1 198.18.0.2 2>/dev/null \
    | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g \
    | awk '{a[NR]=$1*1000} END {if (NR == 0) {print "- -"; exit} printf "%.0f %.0f\n", a[int(NR*0.5+0.5)], a[int(NR*0.99+0.5)]}'
}
lat_once() {  # setup -> "idle_p50 idle_p99 load_p50 load_p99 idle_cpu_s_per_s rr_p50 rr_p99 rr_cpu_s_per_s"
  local s=$1 idle load cpu rr rcpu
  cpu=$(cpu_during $s ping_pct $s 400); idle=$(cat "$WORK/cpu.out")
  rcpu=$(cpu_during $s ping_rr $s 5000); rr=$(cat "$WORK/cpu.out")
  ip netns exec "$TAG-${s}b" timeout $((DUR + 25)) iperf3 -s -1 -B 198.18.0.2 >/dev/null 2>&1 &
  local srv=$!; sleep 0.3
  ip netns exec "$TAG-${s}a" timeout $((DUR + 20)) iperf3 -c 198.18.0.2 -t $((DUR + 1)) >/dev/null 2>&1 &
  local cli=$!; sleep 1
  load=$(ping_pct $s $((DUR * 150)))
  wait $cli 2>/dev/null || true; wait $srv 2>/dev/null || true
  echo "$idle $load $cpu $rr $rcpu"
}

declare -A TCP TCP4 UDP CPU LAT GEN
if [ -z "${SKIP_TCP:-}" ]; then
echo "== TCP, 1 and 4 streams, $ROUNDS x ${DUR}s, interleaved (Gbit/s)"
for r in $(seq "$ROUNDS"); do
  for s in $SETUPS; do
    v=$(tcp_once $s 1); TCP[$s]="${TCP[$s]:-} $v"
    w=$(tcp_once $s 4); TCP4[$s]="${TCP4[$s]:-} $w"; echo "  round $r $s: $v / $w"
  done
done
fi
echo "== 64-byte UDP delivered (packets/s) and forwarder CPU s per million packets, ${DUR}s, generator: ${BLAST:+blast (AF_PACKET sendmmsg)}${BLAST:-iperf3 -u -l 18}, sink: $SINK"
for s in $SETUPS; do set -- $(udp_once $s); UDP[$s]=$1; CPU[$s]=$2; GEN[$s]=$3; echo "  $s: $1 pps (generator sent $3 pps), $2 CPU s/Mpkt"; done
echo "== ping RTT (µs) p50/p99: idle (5 ms apart), under one iperf3 stream a→b (Sluice's default qdisc: ${DEFAULT_QDISC:-fq_codel}), request/response (ping -A); forwarder CPU s/s idle and during request/response"
for s in $SETUPS; do v=$(lat_once $s); LAT[$s]=$v; echo "  $s: $v"; done

rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }
declare -A CONF=( [t]=tap [w]=taprw [b]=tapbp [s]=tapsl [m]=tapmq [p]=afp [x]=xdp [y]=xdpsb )
for s in t w b s m p x y; do has $s || continue
  echo "== Sluice resident memory, ${CONF[$s]} daemon: $(rss ${PID_OF[$s]})"
  kill -TERM ${PID_OF[$s]}; wait ${PID_OF[$s]} 2>/dev/null || true
  grep -h "shutdown: pool" "$WORK/${CONF[$s]}.out" | sed 's/^/  /'
  grep "drops:" "$WORK/${CONF[$s]}.out" | sort | uniq -c | sed "s/^/  ${CONF[$s]} /"
done

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

med() { local v=${1:-}; [ -n "$v" ] && median $v || echo 0; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a/b : 0)}'; }
K=$(med "${TCP[k]:-}"); K4=$(med "${TCP4[k]:-}")
declare -A NAME=( [k]="kernel bridge (veth)" [c]="C tapfwd (virtio+TSO)" [t]="sluice, TAP ports" [w]="sluice, TAP, read/write" [b]="sluice, TAP, busy_poll 10ms" [s]="sluice, TAP, busy_poll 0" [m]="sluice, TAP, 2 queues" [p]="sluice, AF_PACKET ports" [x]="sluice, AF_XDP ports" [y]="sluice, AF_XDP, 1 desc/frame" )
echo "== summary (ratios: TCP vs the kernel bridge, 64 B vs the C forwarder)"
printf '  %-28s %13s %13s %10s %8s %9s %12s %12s %10s %10s %8s\n' setup "TCP 1 Gbit/s" "TCP 4 Gbit/s" "64B pps" "vs C" "CPU s/Mp" "ping idle" "ping loaded" "idle CPU/s" "ping RR" "RR CPU/s"
for s in $SETUPS; do
  t1=$(med "${TCP[$s]:-}"); t4=$(med "${TCP4[$s]:-}")
  set -- ${LAT[$s]:-- - - - - - - -}
  printf '  %-28s %13s %13s %10s %8s %9s %12s %12s %10s %10s %8s\n' "${NAME[$s]}" "$t1 ($(ratio $t1 $K))" "$t4 ($(ratio $t4 $K4))" "${UDP[$s]:-}" \
    "$(ratio "${UDP[$s]:-0}" "${UDP[c]:-0}")" "${CPU[$s]:-}" "$1/$2" "$3/$4" "$5" "$6/$7" "$8"
done
# Latency ratios, Sluice TAP ports over the kernel bridge (the issue's goals: ≤ 2).
lat() { local a=(${LAT[$1]:-0 0 0 0 0 0 0 0}); echo "${a[$(( $2 - 1 ))]}"; }
LATR=""
has k && has t && LATR=" idle_p50_ratio=$(ratio "$(lat t 1)" "$(lat k 1)") loaded_p99_ratio=$(ratio "$(lat t 4)" "$(lat k 4)") rr_p50_ratio=$(ratio "$(lat t 6)" "$(lat k 6)")"
echo "  allocations per forwarded packet: $ALLOC"
T=$(med "${TCP[t]:-}")
echo "RESULT tcp_ratio=$(ratio $T $K) udp64_ratio=$(ratio "${UDP[t]:-0}" "${UDP[k]:-0}") udp64_vs_c_best=$(for s in t w b s m p x y; do ratio "${UDP[$s]:-0}" "${UDP[c]:-0}"; echo; done | sort -g | tail -1)$LATR"
