#!/bin/bash
# The reader of pmd-vhost.sh (tests/dpdk/pmd_reader.cpp) on net_af_packet, bound to one end of a
# veth pair inside a network namespace this test makes; a raw socket on the other end, in the
# same namespace, sends frames (nothing leaves it). The kernel copies each frame into the
# PMD's PACKET_MMAP ring, the PMD copies it into an mbuf of the reader's elastic pool, which
# grows, releases and grows again while they flow. Frames carry a sequence number and a pattern
# derived from it (checked by the reader, with no duplicate and no going back); the sender stops
# when the reader has done its phases, then the reader drains. Every frame sent is received or
# counted as dropped by the kernel: by the PMD's packet socket (its ring was full: tp_drops,
# read through pidfd_getfd) or by the veth pair (`ip -s link`).
#   tests/dpdk/pmd-af_packet.sh <pmd_reader>
set -u
here=$(dirname "$0")
. "$here/common.sh"
reader=$1
prefix="ep-afp-$$"
ns="ep-afp-$$"
rx_if=epap0 # the PMD's end
tx_if=epap1 # the sender's end
work=$(mktemp -d)
rpid=
trap netns_reader_cleanup EXIT
trap 'exit 1' INT TERM
skip() {
    echo "SKIP: $*"
    exit 77
}
ls /usr/lib/*/dpdk/pmds-*/librte_net_af_packet.so >/dev/null 2>&1 ||
    skip "DPDK has no net_af_packet PMD"
ip netns add "$ns" || skip "cannot create a network namespace"
ip -n "$ns" link add "$rx_if" type veth peer name "$tx_if" || skip "no veth in this kernel"
# No IPv6: the kernel would send its own router solicitations (the reader counts foreign frames
# apart anyway).
ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv6.conf.all.disable_ipv6=1 2>/dev/null
ip -n "$ns" link set "$rx_if" up && ip -n "$ns" link set "$tx_if" up || exit 1
ip netns exec "$ns" python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)' \
    2>/dev/null || skip "the kernel offers no AF_PACKET sockets"

# shellcheck disable=SC2086
ip netns exec "$ns" timeout -k 5 70 "$reader" --no-pci --file-prefix="$prefix" -l 0 \
    --vdev=net_af_packet0,iface=$rx_if,qpairs=1 ${ELASTIC_EAL_ARGS:-} -- --expect=seq \
    --hold=4000 --seconds=60 --status="$work/status" --min-rx=10000 >"$work/reader.log" 2>&1 &
rpid=$!

# The sender: from inside the namespace, once the reader's port is started; at most 4 M frames
# or 50 s, and it stops when the reader writes phases_done (or is gone).
ip netns exec "$ns" timeout -k 5 60 python3 "$here/seq_sender.py" "$tx_if" "$work/status" "$rpid" \
    >"$work/sender.log" 2>&1
src=$?
sleep 0.5 # the last frames reach the PMD's ring (or are dropped)
# The kernel's drops, while the reader's socket and the veth pair exist. A PACKET_MMAP ring
# that is full drops in tpacket_rcv and counts it only in the socket's tp_drops, which only the
# socket's owner can read (PACKET_STATISTICS) and DPDK 22.11's af_packet PMD never does: the
# test borrows the reader's socket (pidfd_getfd, the fd that ss shows) and reads them, once.
ip netns exec "$ns" ss -0 -m -a -p >"$work/ss" 2>&1
sock_fd=$(sed -n "s/.*\"pmd_reader\",pid=$(reader_pid),fd=\([0-9]*\).*/\1/p" "$work/ss" | head -n 1)
read -r sock_packets sock_drops < <(python3 - "$(reader_pid)" "${sock_fd:-x}" <<'PY' 2>"$work/stats_err"
import ctypes, os, socket, struct, sys
SYS_pidfd_getfd, SOL_PACKET, PACKET_STATISTICS = 438, 263, 6
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(int(sys.argv[1]))
fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(sys.argv[2]), 0)
if fd < 0:
    raise OSError(ctypes.get_errno(), "pidfd_getfd")
s = socket.socket(fileno=fd)
packets, drops = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
print(packets, drops)  # tp_packets counts the dropped ones too
PY
)
veth_drops=0
for i in "$rx_if" "$tx_if"; do
    d=$(ip -n "$ns" -s link show "$i" 2>/dev/null |
        awk '/RX:/ { getline; r = $4 } /TX:/ { getline; t = $4 } END { print r + t }')
    veth_drops=$((veth_drops + ${d:-0}))
done
signal_reader USR1
wait "$rpid"
rrc=$?
rpid=
echo "--- sender exit $src: $(cat "$work/sender.log")"
echo "--- reader exit $rrc"
echo "--- packet sockets (ss -0 -m -p) before the drain:"; cat "$work/ss"
echo "--- the reader's packet socket: ${sock_packets:-?} frames, ${sock_drops:-?} dropped (ring full)"
[ -s "$work/stats_err" ] && cat "$work/stats_err"
cat "$work/reader.log"
sent=$(sed -n 's/^sent \([0-9]*\).*/\1/p' "$work/sender.log")
rx=$(sed -n 's/^good=\([0-9]*\) .*/\1/p' "$work/reader.log" | tail -1)
gaps=$(sed -n 's/^good=.* seq_gaps=\([0-9]*\) .*/\1/p' "$work/reader.log" | tail -1)
echo "--- sent ${sent:-?}, received intact ${rx:-?}; kernel drops: packet socket $sock_drops," \
    "veth $veth_drops; the reader's sequence gaps ${gaps:-?}"
[ "$rrc" -eq 0 ] || { echo "FAIL: the reader failed"; exit 1; }
[ -n "${sock_drops:-}" ] || { echo "FAIL: cannot read the packet socket's drops"; exit 1; }
[ -n "$sent" ] && [ -n "$rx" ] && [ "$rx" -le "$sent" ] ||
    { echo "FAIL: received more than sent, or no counters"; exit 1; }
# Every frame sent is received or counted as dropped by the kernel. The frames after the
# reader's last one (sent after its final drain started) are neither: allow a ring's worth.
lost=$((sent - rx - sock_drops - veth_drops))
if [ "$lost" -lt 0 ] || [ "$lost" -gt 1024 ]; then
    echo "FAIL: sent $sent = received $rx + dropped $sock_drops + $veth_drops + $lost unaccounted"
    exit 1
fi
# The frames the reader found missing are the ones the kernel dropped: those before its first
# sequence number, the gaps, and those after its last (sent while the ring was full at the end).
first=$(sed -n 's/^seq_first=\([0-9]*\) .*/\1/p' "$work/reader.log" | tail -1)
next=$(sed -n 's/^seq_first=.* seq_next=\([0-9]*\)$/\1/p' "$work/reader.log" | tail -1)
drops=$((sock_drops + veth_drops))
missing=$(( ${first:-0} + ${gaps:-0} + sent - ${next:-0} ))
if [ -z "$gaps" ] || [ -z "$first" ] || [ -z "$next" ] || [ "$missing" -ne "$drops" ]; then
    echo "FAIL: the reader misses $missing frames (first ${first:-?}, gaps ${gaps:-?}," \
        "last $(( ${next:-1} - 1 ))), the kernel dropped $drops"
    exit 1
fi
echo "PASS: net_af_packet on a veth pair in a namespace: $rx of $sent frames intact" \
    "($sock_drops dropped by the packet socket, $veth_drops by the veth pair, $lost unaccounted)"
