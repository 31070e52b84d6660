#!/usr/bin/env bash
# Routing benchmark: the Linux kernel's IPv4 (or IPv6: FAMILY=6) forwarding and Sluice's, side
# by side in one run.
#
#   k kernel : ns a ─ veth ─ [ns sw: kernel, ip_forward=1] ─ veth ─ ns b
#   p afpkt  : ns a ─ veth ─ [ns sw: sluice daemon routing between AF_PACKET ports] ─ veth ─ ns b
#   t tap    : ns a ─ TAP ─ [ns sw: sluice daemon routing between TAP ports] ─ TAP ─ ns b
# Addressing: two /31 links (RFC 3021) so that the reference generator's fixed 198.18.0.1 →
# 198.18.0.2 frames are routed: a = 198.18.0.1 via router 198.18.0.0, b = 198.18.0.2 via
# router 198.18.0.3. Measured, interleaved: iperf3 TCP a→b (median of ROUNDS × SECONDS) and
# 64-byte UDP packets/s delivered to b (the reference generator `blast`, addressed to the
# router's MAC as a's neighbour table has it, else iperf3 -u -l 18).
# FAMILY=6: a = 2001:db8:a::2 via 2001:db8:a::1, b = 2001:db8:b::2 via 2001:db8:b::1 (/64s);
# the 64-byte run is iperf3's (the reference generator sends IPv4 only), 18-byte payloads.
# Last line: RESULT route_tcp_ratio=X.XX route_udp64_ratio=Y.YY   (Sluice AF_PACKET / kernel)
#
# Usage: sudo bench/routing.sh   (env: SECONDS_PER_RUN=5 ROUNDS=3 SETUPS="k p t" FAMILY=4|6)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${SECONDS_PER_RUN:-5}
ROUNDS=${ROUNDS:-3}
TAG="br$(printf %x $(( $$ % 65536 )))"
source bench/common.sh
SETUPS=${SETUPS:-k p t}
FAMILY=${FAMILY:-4}
if [ "$FAMILY" = 6 ]; then
  A_ADDR=2001:db8:a::2/64; B_ADDR=2001:db8:b::2/64; RA=2001:db8:a::1/64; RB=2001:db8:b::1/64
  A_GW=2001:db8:a::1; B_GW=2001:db8:b::1; export DST=2001:db8:b::2; NODAD=nodad
else
  A_ADDR=198.18.0.1/31; B_ADDR=198.18.0.2/31; RA=198.18.0.0/31; RB=198.18.0.3/31
  A_GW=198.18.0.0; B_GW=198.18.0.3; DST=198.18.0.2; NODAD=
fi
has() { [[ " $SETUPS " == *" $1 "* ]]; }
BLAST=""
if [ -f ../shared/reference/blast.c ] && command -v cc >/dev/null; then
  cc -O2 -o "$WORK/blast" ../shared/reference/blast.c && BLAST="$WORK/blast"
fi
[ "$FAMILY" = 6 ] && BLAST=""

start_daemon() {
  ip netns exec "$2" "$BIN" daemon --config "$WORK/$1.conf" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  DAEMON_PID=$!; PIDS+=($DAEMON_PID)
  for i in $(seq 100); do grep -q "sluice: ready" "$WORK/$1.err" && break; sleep 0.1; done
  grep -q "sluice: ready" "$WORK/$1.err" || { cat "$WORK/$1.err"; exit 1; }
}
hosts() {  # setup devA devB: addresses and default routes of the two hosts
  ip -n "$TAG-${1}a" addr add $A_ADDR dev "$2" $NODAD; ip -n "$TAG-${1}a" link set "$2" up
  ip -n "$TAG-${1}b" addr add $B_ADDR dev "$3" $NODAD; ip -n "$TAG-${1}b" link set "$3" up
  ip -n "$TAG-${1}a" route add default via $A_GW
  ip -n "$TAG-${1}b" route add default via $B_GW
}
declare -A PID_OF IFA IFB
if has k; then
  ns "$TAG-ksw"; ns "$TAG-ka"; ns "$TAG-kb"
  for s in a b; do ip -n "$TAG-ksw" link add "k$s" type veth peer name eth0 netns "$TAG-k$s"; done
  ip -n "$TAG-ksw" addr add $RA dev ka $NODAD; ip -n "$TAG-ksw" addr add $RB dev kb $NODAD
  ip -n "$TAG-ksw" link set ka up; ip -n "$TAG-ksw" link set kb up
  ip netns exec "$TAG-ksw" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  hosts k eth0 eth0; IFA[k]=eth0; IFB[k]=eth0
fi
if has p; then
  ns "$TAG-psw"; ns "$TAG-pa"; ns "$TAG-pb"
  for s in a b; do ip -n "$TAG-psw" link add "p$s" type veth peer name eth0 netns "$TAG-p$s"; done
  printf '%s\n' "link add pa type afpacket dev pa" "link add pb type afpacket dev pb" "link set pa up" "link set pb up" \
    "addr add $RA dev pa" "addr add $RB dev pb" > "$WORK/afp.conf"
  start_daemon afp "$TAG-psw"; PID_OF[p]=$DAEMON_PID
  hosts p eth0 eth0; IFA[p]=eth0; IFB[p]=eth0
fi
if has t; then
  ns "$TAG-tsw"; ns "$TAG-ta"; ns "$TAG-tb"
  printf '%s\n' "link add ${TAG}ta type tap" "link add ${TAG}tb type tap" "link set ${TAG}ta up" "link set ${TAG}tb up" \
    "addr add $RA dev ${TAG}ta" "addr add $RB dev ${TAG}tb" > "$WORK/tap.conf"
  start_daemon tap "$TAG-tsw"; PID_OF[t]=$DAEMON_PID
  ip -n "$TAG-tsw" link set "${TAG}ta" netns "$TAG-ta"; ip -n "$TAG-tsw" link set "${TAG}tb" netns "$TAG-tb"
  hosts t "${TAG}ta" "${TAG}tb"; IFA[t]="${TAG}ta"; IFB[t]="${TAG}tb"
fi
for s in $SETUPS; do ip netns exec "$TAG-${s}a" ping -c 2 -W 2 -q $DST >/dev/null || { echo "no connectivity in setup $s" >&2; exit 1; }; done

udp_once() {
  local s=$1 rx="/sys/class/net/${IFB[$1]}/statistics/rx_packets" before after
  before=$(ip netns exec "$TAG-${s}b" cat "$rx")
  if [ -n "$BLAST" ]; then
    local mac; mac=$(ip -n "$TAG-${s}a" neigh show 198.18.0.0 | awk '{for (i=1;i<NF;i++) if ($i == "lladdr") print $(i+1)}')
    ip netns exec "$TAG-${s}a" "$BLAST" "${IFA[$s]}" "$mac" "$DUR" >/dev/null
  else
    udp64_iperf "$s"
  fi
  sleep 0.5
  after=$(ip netns exec "$TAG-${s}b" cat "$rx")
  echo $(( (after - before) / DUR ))
}
declare -A TCP UDP
echo "== TCP a→b through the router, $ROUNDS x ${DUR}s, interleaved (Gbit/s)"
for r in $(seq "$ROUNDS"); do
  for s in $SETUPS; do v=$(tcp_once $s); TCP[$s]="${TCP[$s]:-} $v"; echo "  round $r $s: $v"; done
done
echo "== 64-byte UDP routed and delivered (packets/s), ${DUR}s, generator: ${BLAST:+blast}${BLAST:-iperf3 -u -l 18}"
for s in $SETUPS; do UDP[$s]=$(udp_once $s); echo "  $s: ${UDP[$s]} pps"; done
for s in p t; do has $s || continue
  kill -USR1 ${PID_OF[$s]}; sleep 0.5
  grep -h "^ipv4:\|^icmp:\|^arp:\|^ipv6:\|^icmp6:\|^ndisc:" "$WORK/$([ $s = p ] && echo afp || echo tap).out" | tail -6 | sed "s/^/  $s /"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a/b : 0)}'; }
K=$(median ${TCP[k]:-0}); P=$(median ${TCP[p]:-0}); T=$(median ${TCP[t]:-0})
echo "== summary"
printf '  %-28s %14s %12s\n' setup "TCP Gbit/s" "64B pps"
printf '  %-28s %14s %12s\n' "kernel router (veth)" "$K" "${UDP[k]:-}"
has p && printf '  %-28s %14s %12s\n' "sluice, AF_PACKET ports" "$P ($(ratio $P $K))" "${UDP[p]:-} ($(ratio "${UDP[p]:-0}" "${UDP[k]:-0}"))"
has t && printf '  %-28s %14s %12s\n' "sluice, TAP ports" "$T ($(ratio $T $K))" "${UDP[t]:-} ($(ratio "${UDP[t]:-0}" "${UDP[k]:-0}"))"
echo "RESULT family=$FAMILY route_tcp_ratio=$(ratio $P $K) route_udp64_ratio=$(ratio "${UDP[p]:-0}" "${UDP[k]:-0}")"
