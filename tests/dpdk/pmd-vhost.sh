#!/bin/bash
# NICs DMA into grown chunks, with virtual devices only: an unmodified dpdk-testpmd writes
# (txonly) through vhost-user into our reader (tests/dpdk/pmd_reader.cpp), whose elastic mbuf
# pool grows while the port runs, releases chunks and grows again. The reader checks every
# packet and attributes every mbuf to a chunk (pmd_reader.cpp says how); this script adds the
# count: writer's TX-packets - reader's received <= the ring (1024), both taken at the end,
# the writer stopped first.
#   tests/dpdk/pmd-vhost.sh <pmd_reader> forward|reverse|forward-no-sfs
# forward: writer on net_vhost (the vhost-user server), reader on net_virtio_user. Every chunk
#   the reader's pool grows is a memory event in the reader, which virtio-user turns into a
#   SET_MEM_TABLE to the backend (the writer's vhost maps the reader's hugepage files): the
#   reader needs --single-file-segments (vhost-user accepts 8 memory regions, one per file; with
#   a file per page the first growth fails the update and the queues stay disabled).
#   The reader holds 8,000 mbufs twice: its pool grows to ~12 hugepages, more than 8 files.
# forward-no-sfs: the same without --single-file-segments, to show why it is needed: the test
#   passes when the reader's virtio-user reports "Too many memory regions" and reception stops
#   (the reader fails its phases).
# reverse: writer on net_virtio_user (its ordinary pool, --single-file-segments as any
#   virtio-user), reader on net_vhost: vhost copies each guest packet into an mbuf of the
#   reader's elastic pool with the CPU, so grown chunks need nothing from anybody.
set -u
here=$(dirname "$0")
. "$here/common.sh"
TESTPMD_BIN=$(require_program "${TESTPMD_BIN:-dpdk-testpmd}") || exit 1
reader=$1
mode=${2:-forward}
work=$(mktemp -d) # private (0700): the vhost-user socket lives here
sock="$work/vhost.sock"
wprefix="ep-vh-w-$$"
rprefix="ep-vh-r-$$"
wpid= rpid=
# signal_reader (common.sh): signals go to the reader's pid in $work/status, not to timeout(1).
cleanup() {
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
    [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
    signal_reader TERM
    wait 2>/dev/null
    dpdk_cleanup "$wprefix"
    dpdk_cleanup "$rprefix"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_for <seconds> <command...>: polls every 0.1 s.
wait_for() {
    local i n=$(($1 * 10))
    shift
    for ((i = 0; i < n; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
phases_done() { grep -q phases_done "$work/status" 2>/dev/null; }
# The reader did its phases, or has ended (by the pid it wrote: in forward mode the writer
# starts first and cannot know it).
reader_finished() {
    local pid
    phases_done && return 0
    pid=$(sed -n 's/^pid //p' "$work/status" 2>/dev/null | head -n 1)
    [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null
}

case $mode in
forward|forward-no-sfs)
    wvdev="--vdev=net_vhost0,iface=$sock,queues=1"
    wextra=()
    rvdev="--vdev=net_virtio_user0,path=$sock,queues=1,queue_size=1024"
    rextra=(--single-file-segments)
    [ "$mode" = forward-no-sfs ] && rextra=() ;;
reverse)
    wvdev="--vdev=net_virtio_user0,path=$sock,queues=1,queue_size=1024"
    wextra=(--single-file-segments)
    rvdev="--vdev=net_vhost0,iface=$sock,queues=1"
    rextra=() ;;
*) echo "mode forward|reverse|forward-no-sfs"; exit 1 ;;
esac

start_writer() {
    # Non-interactive testpmd stops forwarding and prints its statistics when stdin ends:
    # stdin ends when the reader has done its phases or ended (or after 70 s at most).
    # shellcheck disable=SC2086
    ( (wait_for 70 reader_finished; echo) |
        timeout -k 5 90 "$TESTPMD_BIN" --no-pci --file-prefix="$wprefix" -l 0-1 \
        "${wextra[@]}" "$wvdev" ${ELASTIC_EAL_ARGS:-} -- \
        --forward-mode=txonly --auto-start --total-num-mbufs=8192 --txd=1024 --rxd=1024 \
        >"$work/writer.log" 2>&1 ) &
    wpid=$!
}
start_reader() {
    # shellcheck disable=SC2086
    timeout -k 5 90 "$reader" --no-pci --file-prefix="$rprefix" -l 0 "${rextra[@]}" "$rvdev" \
        ${ELASTIC_EAL_ARGS:-} -- --expect=txonly --hold=8000 --seconds=75 \
        --status="$work/status" --min-rx=100000 >"$work/reader.log" 2>&1 &
    rpid=$!
}

if [ "$mode" != reverse ]; then
    start_writer
    wait_for 20 test -S "$sock" || { echo "FAIL: the writer made no socket"; cat "$work/writer.log"; exit 1; }
    start_reader
else
    start_reader
    wait_for 20 test -S "$sock" || { echo "FAIL: the reader made no socket"; cat "$work/reader.log"; exit 1; }
    start_writer
fi
# Writer first: it quits once the reader is done (or gone); then the reader drains and ends.
wait "$wpid"
wrc=$?
wpid=
signal_reader USR1
wait "$rpid"
rrc=$?
rpid=

echo "--- writer (testpmd $mode) exit $wrc"
grep -E "vhost|virtio|VHOST|Too many|memory|forward statistics|TX-packets|TX-dropped|RX-packets" \
    "$work/writer.log" | grep -v "^ *$" | head -30
echo "--- reader exit $rrc"
cat "$work/reader.log"
tx=$(awk '/Accumulated forward statistics for all ports/ { f = 1 }
          f && /TX-packets:/ { print $2; exit }' "$work/writer.log")
rx=$(sed -n 's/^rx=\([0-9]*\) .*/\1/p' "$work/reader.log" | tail -1)
echo "--- writer TX-packets ${tx:-?}, reader received ${rx:-?}"
# Forward: the writer's vhost gets a memory table per growth and release of the reader's pool.
[ "$mode" != reverse ] && echo "--- SET_MEM_TABLE messages to the writer:" \
    "$(grep -c "read message VHOST_USER_SET_MEM_TABLE" "$work/writer.log")"
if [ "$mode" = forward-no-sfs ]; then
    if [ "$rrc" -ne 0 ] && grep -q "Too many memory regions" "$work/reader.log" &&
        [ "${rx:-0}" -lt 100000 ]; then
        echo "PASS: without --single-file-segments the memory table update fails at a growth" \
            "(Too many memory regions) and reception stops after ${rx:-0} packets"
        exit 0
    fi
    echo "FAIL: without --single-file-segments the reader was expected to lose its queues"
    exit 1
fi
[ "$rrc" -eq 0 ] || { echo "FAIL: the reader failed"; exit 1; }
[ -n "$tx" ] && [ -n "$rx" ] || { echo "FAIL: no counters"; exit 1; }
if [ $((tx - rx)) -gt 1024 ] || [ $((rx - tx)) -gt 0 ]; then
    echo "FAIL: writer sent $tx, reader received $rx: more than a ring (1024) apart"
    exit 1
fi
echo "PASS: $mode: $rx of $tx packets received (difference $((tx - rx)) <= 1024)"
