#!/usr/bin/env bash
# Filter tables at scale: how long `tc -b` takes to add N filters, the kernel's and Sluice's
# side by side in one run, and Sluice's dump of them.
#   u32:    N knodes `u32 ht 1:B: match ip dst A/32 flowid 1:1` spread over a 256-bucket
#           table (a bucket holds at most 2048 nodes) on an ingress qdisc — the kernel (a veth
#           in a namespace) and the daemon (a dummy device, through `sluice exec tc`).
#   flower: N filters as tc-testing's tdc_batch.py writes them for d052 (explicit handles,
#           src_mac/dst_mac keys, one shared gact drop at index 1) — Sluice only: this kernel
#           has no cls_flower; then all N deleted one by one, in handle order.
# Then the u32 knodes are deleted one by one, by both.
# Prints per N: seconds and filters/s for each, the Sluice/kernel time ratio for u32.
# Usage: sudo bench/filters.sh   (env: SIZES="1000 10000 50000")
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-1000 10000 50000}
TAG="bf$(printf %x $(( $$ % 65536 )))"
source bench/common.sh
swift build -c release --scratch-path .build-release --product SluicePreload 2>&1 | tail -1   # for `sluice exec`
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
printf '%-8s %12s %12s %8s %14s %14s %14s %12s %12s\n' N "kernel u32 s" "sluice u32 s" ratio "sluice flower s" "flower dump s" "flower del s" "k u32 del s" "s u32 del s"
for n in $SIZES; do
  python3 - "$n" "$WORK" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
with open(f"{work}/u32", "w") as f, open(f"{work}/u32del", "w") as g:
    f.write("filter add dev d0 ingress protocol ip prio 1 handle 1: u32 divisor 256\n")
    for i in range(n):
        f.write(f"filter add dev d0 ingress protocol ip prio 1 u32 ht 1:{i & 255:x}: match ip dst 198.{18 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}/32 flowid 1:1\n")
        g.write(f"filter del dev d0 ingress protocol ip prio 1 handle 1:{i & 255:x}:{0x800 + (i >> 8):x} u32\n")
with open(f"{work}/flower", "w") as f, open(f"{work}/del", "w") as g:
    for i in range(n):
        mac = f"{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"
        f.write(f"filter add dev d0 prio 1 protocol ip parent ffff: handle {i + 1}  flower skip_hw src_mac e4:11:00:{mac} dst_mac e4:12:00:{mac} action drop index 1\n")
        g.write(f"filter del dev d0 prio 1 protocol ip parent ffff: handle {i + 1} flower\n")
PY
  ns "$TAG-k$n"
  ip -n "$TAG-k$n" link add d0 type veth peer name d1
  tc -n "$TAG-k$n" qdisc add dev d0 ingress
  ku=$(secs tc -n "$TAG-k$n" -b "$WORK/u32")
  ns "$TAG-s$n"
  ip netns exec "$TAG-s$n" "$BIN" daemon --socket "$WORK/s$n.sock" --config /dev/null >"$WORK/s$n.out" 2>"$WORK/s$n.err" &
  PIDS+=($!)
  for i in $(seq 100); do grep -q "sluice: ready" "$WORK/s$n.err" && break; sleep 0.1; done
  X="$BIN exec --socket $WORK/s$n.sock"
  $X ip link add d0 type dummy
  $X tc qdisc add dev d0 ingress
  su=$(secs $X tc -b "$WORK/u32")
  for who in kernel sluice; do
    if [ $who = kernel ]; then shown=$(tc -n "$TAG-k$n" filter show dev d0 ingress); else shown=$($X tc filter show dev d0 ingress); fi
    got=$(echo "$shown" | grep -c '^filter .* fh 1:[0-9a-f]*:8.. order ' || true)
    [ "$got" = "$n" ] || { echo "filters.sh: the $who shows $got u32 knodes, not $n" >&2; exit 1; }
  done
  kud=$(secs tc -n "$TAG-k$n" -b "$WORK/u32del")
  sud=$(secs $X tc -b "$WORK/u32del")
  for who in kernel sluice; do
    if [ $who = kernel ]; then shown=$(tc -n "$TAG-k$n" filter show dev d0 ingress); else shown=$($X tc filter show dev d0 ingress); fi
    got=$(echo "$shown" | grep -c '^filter .* fh 1:[0-9a-f]*:8.. order ' || true)
    [ "$got" = 0 ] || { echo "filters.sh: the $who still shows $got u32 knodes after the deletes" >&2; exit 1; }
  done
  $X tc qdisc del dev d0 ingress
  $X tc qdisc add dev d0 ingress
  sf=$(secs $X tc -b "$WORK/flower")
  got=$($X tc filter show dev d0 ingress | grep -c ' flower chain 0 handle ' || true)
  [ "$got" = "$n" ] || { echo "filters.sh: the daemon shows $got flower filters, not $n" >&2; exit 1; }
  sd=$(secs $X tc filter show dev d0 ingress)
  sx=$(secs $X tc -b "$WORK/del")
  got=$($X tc filter show dev d0 ingress | grep -c ' flower chain 0 handle ' || true)
  [ "$got" = 0 ] || { echo "filters.sh: the daemon still shows $got flower filters after the deletes" >&2; exit 1; }
  printf '%-8s %12.2f %12.2f %8.1f %14.2f %14.2f %14.2f %12.2f %12.2f\n' "$n" "$ku" "$su" "$(awk -v a="$su" -v b="$ku" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" "$sf" "$sd" "$sx" "$kud" "$sud"
  echo "  (u32: kernel $(rate "$n" "$ku")/s, sluice $(rate "$n" "$su")/s; flower: sluice $(rate "$n" "$sf")/s, deletes $(rate "$n" "$sx")/s; u32 deletes: kernel $(rate "$n" "$kud")/s, sluice $(rate "$n" "$sud")/s)"
  ip netns del "$TAG-k$n"
done
