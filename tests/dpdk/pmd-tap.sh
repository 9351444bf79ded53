#!/bin/bash
# The reader of pmd-vhost.sh (tests/dpdk/pmd_reader.cpp) on net_tap, inside a network namespace
# this test makes: the kernel of that namespace sends frames into the tap interface (a raw
# socket, from inside the namespace: nothing leaves it), the tap PMD copies each into an mbuf of
# the reader's elastic pool, which grows, releases and grows again while they flow. Frames carry
# a sequence number and a pattern derived from it (checked by the reader, with no duplicate and
# no going back); the sender stops when the reader has done its phases, then the reader drains.
#   tests/dpdk/pmd-tap.sh <pmd_reader>
set -u
here=$(dirname "$0")
. "$here/common.sh"
reader=$1
prefix="ep-tap-$$"
ns="ep-tap-$$"
iface=eptap0
work=$(mktemp -d)
rpid=
trap netns_reader_cleanup EXIT
trap 'exit 1' INT TERM
skip() {
    echo "SKIP: $*"
    exit 77
}
[ -c /dev/net/tun ] || skip "no /dev/net/tun: the kernel offers no tap devices"
ip netns add "$ns" || skip "cannot create a network namespace"
# No IPv6 on the tap: the kernel would send its own router solicitations (the reader counts
# foreign frames apart anyway).
ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv6.conf.all.disable_ipv6=1 2>/dev/null

# shellcheck disable=SC2086
ip netns exec "$ns" timeout -k 5 70 "$reader" --no-pci --file-prefix="$prefix" -l 0 \
    --vdev=net_tap0,iface=$iface ${ELASTIC_EAL_ARGS:-} -- --expect=seq --hold=4000 \
    --seconds=60 --status="$work/status" --min-rx=20000 >"$work/reader.log" 2>&1 &
rpid=$!

# The sender: from inside the namespace, once the tap is up; at most 4 M frames or 50 s, and it
# stops when the reader writes phases_done (or is gone).
ip netns exec "$ns" timeout -k 5 60 python3 "$here/seq_sender.py" "$iface" "$work/status" "$rpid" --wait-up \
    >"$work/sender.log" 2>&1
src=$?
# The kernel's drops on the tap's queue (it sends faster than the PMD reads), while it exists.
tx_dropped=$(ip -n "$ns" -s link show "$iface" 2>/dev/null | awk '/TX:/ { getline; print $4 }')
signal_reader USR1
wait "$rpid"
rrc=$?
rpid=
echo "--- sender exit $src: $(cat "$work/sender.log")"
echo "--- reader exit $rrc"
cat "$work/reader.log"
sent=$(sed -n 's/^sent \([0-9]*\).*/\1/p' "$work/sender.log")
rx=$(sed -n 's/^good=\([0-9]*\) .*/\1/p' "$work/reader.log" | tail -1)
echo "--- sent ${sent:-?}, received intact ${rx:-?}, the tap's kernel tx drops ${tx_dropped:-?}"
[ "$rrc" -eq 0 ] || { echo "FAIL: the reader failed"; exit 1; }
[ -n "$sent" ] && [ -n "$rx" ] && [ "$rx" -le "$sent" ] ||
    { echo "FAIL: received more than sent, or no counters"; exit 1; }
# Every frame sent is received or counted as dropped by the kernel (a ring's worth of slack).
lost=$((sent - rx - ${tx_dropped:-0}))
if [ -n "$tx_dropped" ] && { [ "$lost" -lt 0 ] || [ "$lost" -gt 1024 ]; }; then
    echo "FAIL: sent $sent = received $rx + dropped $tx_dropped + $lost unaccounted"
    exit 1
fi
echo "PASS: net_tap in a namespace: $rx of $sent frames intact (${tx_dropped:-?} dropped by the kernel, $lost unaccounted)"
