#!/usr/bin/env bash
# Prepares a machine for msrpd's DPDK backend (cargo feature `dpdk`).
#
#   scripts/setup-dpdk.sh packages              Debian packages to build and run the backend
#   scripts/setup-dpdk.sh hugepages [N]         reserve N 2 MiB hugepages (default 1024) and mount hugetlbfs
#   scripts/setup-dpdk.sh bind PCI_ADDR         bind a NIC to vfio-pci (dpdk-devbind.py)
#   scripts/setup-dpdk.sh unbind PCI_ADDR DRV   give it back to its kernel driver (e.g. ixgbe, i40e, mlx5_core)
#   scripts/setup-dpdk.sh status                NICs and their drivers, hugepages
#   scripts/setup-dpdk.sh veth [SRV CLI A B]    test topology: two namespaces and a veth pair
#   scripts/setup-dpdk.sh veth-down [SRV CLI]   remove it
#
# Bare metal (a real NIC):   packages, hugepages, bind; then run msrpd with
#   eal_args = ["-l", "2-3", "-a", "0000:01:00.0"], port = "0000:01:00.0", cores = [2, 3]
# Test machine (no NIC, no hugepages):   packages, veth; then run msrpd in the namespace with
#   eal_args = ["-l", "0", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
#               "--vdev=net_af_packet0,iface=vd0"], port = "net_af_packet0"
# (see dataplane/src/net/dpdk/README.md). Mellanox NICs (mlx5) stay on their kernel driver: do
# not bind them.
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-dpdk.sh: $1 needs root" >&2
    exit 1
  fi
}

devbind() {
  for c in dpdk-devbind.py dpdk-devbind; do
    if command -v "$c" >/dev/null 2>&1; then
      "$c" "$@"
      return
    fi
  done
  echo "setup-dpdk.sh: dpdk-devbind.py not found (apt-get install dpdk)" >&2
  exit 1
}

cmd="${1:-}"
case "$cmd" in
  packages)
    need_root "installing packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
      dpdk dpdk-dev libdpdk-dev pkg-config clang libclang-dev iproute2 ethtool kmod pciutils
    pkg-config --modversion libdpdk
    ;;
  hugepages)
    need_root "reserving hugepages"
    n="${2:-1024}"
    echo "$n" > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
    mkdir -p /dev/hugepages
    mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages
    grep -i huge /proc/meminfo
    echo "persist with: vm.nr_hugepages=$n in /etc/sysctl.d/ and a hugetlbfs line in /etc/fstab"
    ;;
  bind)
    need_root "binding a NIC"
    pci="${2:?PCI address, e.g. 0000:01:00.0 (see: $0 status)}"
    modprobe vfio-pci
    # Without an IOMMU (some VMs) vfio needs its unsafe no-IOMMU mode.
    if [ ! -d /sys/kernel/iommu_groups ] || [ -z "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]; then
      echo "no IOMMU: enabling vfio no-IOMMU mode"
      echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode
    fi
    ifname="$(ls "/sys/bus/pci/devices/$pci/net" 2>/dev/null || true)"
    if [ -n "$ifname" ]; then
      ip link set dev "$ifname" down
    fi
    devbind --bind=vfio-pci "$pci"
    devbind --status-dev net
    ;;
  unbind)
    need_root "unbinding a NIC"
    pci="${2:?PCI address}"
    drv="${3:?kernel driver, e.g. ixgbe}"
    devbind --bind="$drv" "$pci"
    ;;
  status)
    devbind --status-dev net || true
    grep -i huge /proc/meminfo || true
    ;;
  veth)
    need_root "creating namespaces"
    srv="${2:-dp_srv}" cli="${3:-dp_cli}" a="${4:-vd0}" b="${5:-vd1}"
    ip netns add "$srv"
    ip netns add "$cli"
    ip link add "$a" netns "$srv" type veth peer name "$b" netns "$cli"
    ip -n "$srv" link set lo up
    ip -n "$cli" link set lo up
    # The DPDK process owns $a: no kernel IPv6 on it (no DAD, no NDP answers of its own).
    ip netns exec "$srv" sysctl -qw "net.ipv6.conf.$a.disable_ipv6=1"
    ip -n "$srv" link set "$a" up
    ip -n "$cli" addr add 198.18.0.1/24 dev "$b"
    ip -n "$cli" addr add 2001:db8:9::1/64 dev "$b" nodad
    ip -n "$cli" link set "$b" up
    # smoltcp verifies checksums and cannot take TSO/GSO super-frames.
    ip netns exec "$cli" ethtool -K "$b" tx off tso off gso off gro off >/dev/null
    ip netns exec "$srv" ethtool -K "$a" tx off tso off gso off gro off rx off >/dev/null
    cat <<EOF
namespaces $srv (DPDK side, $a) and $cli (kernel side, $b = 198.18.0.1/24, 2001:db8:9::1/64)
run:   ip netns exec $srv target/release/examples/dpdk_echo --iface $a --ip 198.18.0.2/24
drive: ip netns exec $cli <client> 198.18.0.2
down:  $0 veth-down $srv $cli
EOF
    ;;
  veth-down)
    need_root "deleting namespaces"
    srv="${2:-dp_srv}" cli="${3:-dp_cli}"
    # Deleting a namespace deletes its veth end (and any XDP program af_xdp left on it).
    ip netns del "$srv" 2>/dev/null || true
    ip netns del "$cli" 2>/dev/null || true
    ;;
  -h|--help|help|"")
    usage
    ;;
  *)
    echo "setup-dpdk.sh: unknown command $cmd" >&2
    usage >&2
    exit 2
    ;;
esac
