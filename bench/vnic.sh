#!/usr/bin/env bash
# Virtual NIC benchmark: Sluice's vif ports against its TAP ports, side by side in one run.
#
#   t tap   : ns a ─ TAP ─ [ns sw: sluice daemon, bridge] ─ TAP ─ ns b
#   v vnic  : ns a ─ TAP ─ sluice-vnic ═ rings ═ [ns sw: sluice, bridge with vif1, vif2] ═ rings ═ sluice-vnic ─ TAP ─ ns b
#   r rings : sluice-vnic --blast ═ rings ═ [sluice, bridge] ═ rings ═ sluice-vnic --sink  (no kernel stack, no TAP)
# Measured: iperf3 TCP a→b (t, v; median of ROUNDS × SECONDS), 64-byte frames/s delivered
# (t: the reference generator `blast` on the TAP, counted at b's TAP; r: frontend to frontend
# through the rings, with the wakeups per frame on each side), and Gbit/s delivered with
# 1514-byte frames and with 64 KiB TCP super-frames that cross whole — r's (GSO negotiated on
# both vifs) against the same frames sent into t's TAP (bench/framegen.c: AF_PACKET with
# virtio-net headers, so the super-frames reach Sluice whole through the TAP's offloads).
# Last line: RESULT vnic_tcp_ratio=… rings_udp64_ratio=… rings_1514_ratio=… rings_gso_ratio=…
#   (v / t TCP; r / t at 64 bytes, 1514 bytes and 64 KiB GSO)
#
# Usage: sudo bench/vnic.sh   (env: SECONDS_PER_RUN=5 ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${SECONDS_PER_RUN:-5}
ROUNDS=${ROUNDS:-3}
TAG="bv$(printf %x $(( $$ % 65536 )))"
source bench/common.sh
swift build -c release --scratch-path .build-release --product sluice-vnic 2>&1 | tail -1
VNIC=$(dirname "$BIN")/sluice-vnic
BLAST=""
if [ -f ../shared/reference/blast.c ] && command -v cc >/dev/null; then
  cc -O2 -o "$WORK/blast" ../shared/reference/blast.c && BLAST="$WORK/blast"
fi
cc -O2 -o "$WORK/framegen" bench/framegen.c
start_daemon() {
  ip netns exec "$2" "$BIN" daemon --config "$WORK/$1.conf" --socket "$WORK/$1.sock" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  PIDS+=($!)
  for i in $(seq 100); do grep -q "sluice: ready" "$WORK/$1.err" && break; sleep 0.1; done
  grep -q "sluice: ready" "$WORK/$1.err" || { cat "$WORK/$1.err"; exit 1; }
}
addr() { ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up; }

# t: TAP ports
ns "$TAG-tsw"; ns "$TAG-ta"; ns "$TAG-tb"
printf '%s\n' "link add br0 type bridge" "link add ${TAG}ta type tap" "link add ${TAG}tb type tap" \
  "link set ${TAG}ta master br0 up" "link set ${TAG}tb master br0 up" "link set br0 up" > "$WORK/tap.conf"
start_daemon tap "$TAG-tsw"
ip -n "$TAG-tsw" link set "${TAG}ta" netns "$TAG-ta"; ip -n "$TAG-tsw" link set "${TAG}tb" netns "$TAG-tb"
addr "$TAG-ta" "${TAG}ta" 198.18.0.1/24; addr "$TAG-tb" "${TAG}tb" 198.18.0.2/24

# v: virtual NICs bridged to TAPs by sluice-vnic; r uses the same daemon's vif3 and vif4
ns "$TAG-vsw"; ns "$TAG-va"; ns "$TAG-vb"
printf '%s\n' "link add br0 type bridge" "link add vif1 type vif" "link add vif2 type vif" "link add br1 type bridge" \
  "link add vif3 type vif" "link add vif4 type vif" "link set vif1 master br0 up" "link set vif2 master br0 up" \
  "link set vif3 master br1 up" "link set vif4 master br1 up" "link set br0 up" "link set br1 up" > "$WORK/vnic.conf"
start_daemon vnic "$TAG-vsw"
for s in a b; do
  ip netns exec "$TAG-v$s" "$VNIC" --vif "vif$([ $s = a ] && echo 1 || echo 2)" --tap "${TAG}v$s" --socket "$WORK/vnic.sock" 2>"$WORK/vnic-$s.err" &
  PIDS+=($!)
  for i in $(seq 50); do grep -q connected "$WORK/vnic-$s.err" && break; sleep 0.1; done
done
addr "$TAG-va" "${TAG}va" 198.18.0.1/24; addr "$TAG-vb" "${TAG}vb" 198.18.0.2/24
for s in t v; do ip netns exec "$TAG-${s}a" ping -c 2 -W 2 -q 198.18.0.2 >/dev/null || { echo "no connectivity in setup $s" >&2; exit 1; }; done

declare -A TCP
echo "== TCP a→b, $ROUNDS x ${DUR}s, interleaved (Gbit/s)"
for r in $(seq "$ROUNDS"); do
  for s in t v; do v=$(tcp_once $s); TCP[$s]="${TCP[$s]:-} $v"; echo "  round $r $s: $v"; done
done

echo "== 64-byte frames delivered (frames/s), ${DUR}s"
rx="/sys/class/net/${TAG}tb/statistics/rx_packets"
before=$(ip netns exec "$TAG-tb" cat "$rx")
if [ -n "$BLAST" ]; then
  mac=$(ip -n "$TAG-tb" link show "${TAG}tb" | awk '/link\/ether/ {print $2}')
  ip netns exec "$TAG-ta" "$BLAST" "${TAG}ta" "$mac" "$DUR" >/dev/null
else
  udp64_iperf t
fi
sleep 0.5
T64=$(( ($(ip netns exec "$TAG-tb" cat "$rx") - before) / DUR ))
echo "  t (TAP ports, generator $([ -n "$BLAST" ] && echo blast || echo iperf3)): $T64 pps"
rings() {  # blast options…: frontend → rings → Sluice → rings → frontend
  "$VNIC" --vif vif4 --sink $((DUR + 2)) --mac 02:00:00:00:be:ef --socket "$WORK/vnic.sock" > "$WORK/sink.out" &
  local sink=$!; PIDS+=($sink)
  sleep 0.5
  "$VNIC" --vif vif3 --blast "$DUR" --dst 02:00:00:00:be:ef --socket "$WORK/vnic.sock" "$@" > "$WORK/blast.out"
  wait $sink || true
  sed 's/^/    /' "$WORK/blast.out" "$WORK/sink.out"
}
# The rings' larger frames, sent the same way into TAP a's kernel side (AF_PACKET with virtio
# headers: the GSO frames reach Sluice whole through the TAP's offloads), counted at b's TAP.
tapgbps() {  # framegen options… → Gbit/s delivered at b
  local bytes="/sys/class/net/${TAG}tb/statistics/rx_bytes" b0 b1
  b0=$(ip netns exec "$TAG-tb" cat "$bytes")
  ip netns exec "$TAG-ta" "$WORK/framegen" "${TAG}ta" "$tbmac" "$DUR" "$@" | sed 's/^/    t: /' >&2
  sleep 0.5
  b1=$(ip netns exec "$TAG-tb" cat "$bytes")
  awk -v d=$((b1 - b0)) -v s="$DUR" 'BEGIN {printf "%.2f", d * 8 / s / 1e9}'
}
tbmac=$(ip -n "$TAG-tb" link show "${TAG}tb" | awk '/link\/ether/ {print $2}')
T1500=$(tapgbps --size 1514); echo "  t (TAP ports), 1514-byte frames: $T1500 Gbit/s delivered"
TGSO=$(tapgbps --gso 65000); echo "  t (TAP ports), 64 KiB TCP super-frames: $TGSO Gbit/s delivered"
echo "  r (frontend → rings → Sluice → rings → frontend), 64 bytes:"
rings
R64=$(awk '/^sink:/ {for (i=1;i<=NF;i++) if ($(i+1) == "pps,") print $i}' "$WORK/sink.out")
echo "== the same rings, 1514-byte frames and 64 KiB TCP super-frames (GSO end to end)"
rings --size 1514
R1500=$(awk '/^sink:/ {for (i=1;i<=NF;i++) if ($(i+1) == "Gbit/s") print $i}' "$WORK/sink.out")
rings --gso 65000
RGSO=$(awk '/^sink:/ {for (i=1;i<=NF;i++) if ($(i+1) == "Gbit/s") print $i}' "$WORK/sink.out")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a/b : 0)}'; }
T=$(median ${TCP[t]}); V=$(median ${TCP[v]})
echo "== summary"
printf '  %-44s %12s %14s\n' setup "TCP Gbit/s" "64B frames/s"
printf '  %-44s %12s %14s\n' "sluice, TAP ports" "$T" "$T64"
printf '  %-44s %12s %14s\n' "sluice, vif ports via sluice-vnic TAPs" "$V ($(ratio $V $T))" "-"
printf '  %-44s %12s %14s\n' "sluice, vif ports, frontends on the rings" "-" "${R64:-0} ($(ratio "${R64:-0}" "$T64"))"
printf '  %-44s %12s %14s\n' "" "1514 B Gbit/s" "64 KiB GSO Gbit/s"
printf '  %-44s %12s %14s\n' "sluice, TAP ports" "$T1500" "$TGSO"
printf '  %-44s %12s %14s\n' "sluice, vif ports, frontends on the rings" "${R1500:-0} ($(ratio "${R1500:-0}" "$T1500"))" "${RGSO:-0} ($(ratio "${RGSO:-0}" "$TGSO"))"
echo "RESULT vnic_tcp_ratio=$(ratio $V $T) rings_udp64_ratio=$(ratio "${R64:-0}" "$T64") rings_1514_ratio=$(ratio "${R1500:-0}" "$T1500") rings_gso_ratio=$(ratio "${RGSO:-0}" "$TGSO")"
