#!/usr/bin/env bash
# Installs what Sluice's demo, tests and benchmarks use on a Debian machine that has the Swift
# toolchain: iproute2 (ip, tc), ping, iperf3, tcpdump, tshark, ethtool, a C compiler for the
# reference programs in bench/, python3 (raw-frame senders in tests), traceroute, frr (zebra and
# ospfd feed routes over FPM in a test), libxdp/libbpf (AF_XDP
# ports: the headers at build time, the library at run time), xdp-tools and nftables (the
# benchmarks' SINK=drop). Safe to run again.
set -euo pipefail
need=(iproute2 iputils-ping iperf3 tcpdump tshark ethtool procps gcc python3 libxdp-dev libbpf-dev xdp-tools traceroute frr nftables)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# TAP devices need the tun module / device node.
[ -e /dev/net/tun ] || { mkdir -p /dev/net; mknod /dev/net/tun c 10 200; chmod 0666 /dev/net/tun; }
echo "install-deps: ok (${need[*]})"
