# Shared by the tests/dpdk scripts (sourced). Every DPDK process gets --no-pci, its own
# --file-prefix, a timeout, and its runtime dir and hugepage files are removed afterwards.

# require_program <name or path>: prints its path; when it is missing, says so and returns 1 (the
# test then fails: a DPDK program that is not there is a broken set-up, not a skip).
require_program() {
    local path
    if path=$(command -v "$1"); then
        echo "$path"
        return 0
    fi
    echo "FAIL: $1 not found (Debian package dpdk-dev, installed by scripts/setup.sh)" >&2
    return 1
}

# Is any directory from $1 up to / world-writable (EAL -d refuses those)?
world_writable_path() {
    local d
    d=$(cd "$(dirname "$1")" && pwd -P)
    while [ -n "$d" ]; do
        if [ -n "$(find "$d" -maxdepth 0 -perm -0002 2>/dev/null)" ]; then
            return 0
        fi
        [ "$d" = / ] && break
        d=$(dirname "$d")
    done
    return 1
}

# Sets LOAD_ARGS (EAL args) and LOAD_ENV (env assignments) to load the driver $1.
driver_load_args() {
    local so
    so=$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")
    if [ ! -f "$so" ]; then
        echo "driver not found: $1" >&2
        exit 1
    fi
    if world_writable_path "$so"; then
        LOAD_ARGS=()
        LOAD_ENV=(LD_PRELOAD="$so")
    else
        LOAD_ARGS=(-d "$so")
        LOAD_ENV=()
    fi
}

dpdk_cleanup() {
    local prefix=$1
    rm -rf "/var/run/dpdk/$prefix" "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk/$prefix"
    rm -f /dev/hugepages/"$prefix"map_* /dev/hugepages/"$prefix"-* 2>/dev/null || true
}

hugepages_free() {
    awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo
}

hugepage_kib() {
    awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo
}

# run_testpmd <ops> <seconds> [VAR=val...]: io forwarding between two net_null vdevs on lcore 1
# for <seconds>; prints "<rx_packets> <pages_mapped> <hugepages_free_drop>", both read two
# seconds before the end: the hugepage files of this testpmd's --file-prefix (its own pages,
# whatever else runs on the machine) and HugePages_Free before the start minus during the run.
# Needs LOAD_ARGS/LOAD_ENV (driver_load_args) and $TESTPMD_LOG (file for the output).
run_testpmd() {
    local ops=$1 secs=$2 prefix="mempool-tp-$$-$1" before mid_file rx
    shift 2
    mid_file=$(mktemp)
    before=$(hugepages_free)
    # shellcheck disable=SC2086
    ( (sleep "$((secs - 2))"; hugepages_free >"$mid_file"
       find /dev/hugepages -maxdepth 1 -name "${prefix}map_*" | wc -l >>"$mid_file"
       sleep 2; echo) |
        env "${LOAD_ENV[@]}" "$@" timeout -k 10 "$((secs + 40))" "${TESTPMD_BIN:-dpdk-testpmd}" \
        --no-pci --file-prefix="$prefix" -l 0-1 "${LOAD_ARGS[@]}" \
        --vdev=net_null0 --vdev=net_null1 --mbuf-pool-ops-name="$ops" \
        --log-level=mempool.elastic:info \
        ${ELASTIC_EAL_ARGS:-} \
        -- --forward-mode=io --auto-start >"$TESTPMD_LOG" 2>&1 )
    dpdk_cleanup "$prefix"
    rx=$(awk '/Accumulated forward statistics for all ports/ { f = 1 }
              f && /RX-packets:/ { print $2; exit }' "$TESTPMD_LOG")
    local mid files
    mid=$(sed -n 1p "$mid_file")
    files=$(sed -n 2p "$mid_file")
    echo "${rx:-0} ${files:-0} $((before - ${mid:-$before}))"
    rm -f "$mid_file"
}

# The namespace PMD proofs (pmd-tap.sh, pmd-af_packet.sh) with their globals $work, $rpid, $ns
# and $prefix. The reader writes its pid to $work/status: signals go to it, not to timeout(1).
reader_pid() { sed -n 's/^pid //p' "$work/status" 2>/dev/null | head -n 1; }
signal_reader() {
    local pid
    pid=$(reader_pid)
    [ -n "$pid" ] && kill -"$1" "$pid" 2>/dev/null
}
# On exit: the reader and everything in the namespace stopped, the namespace deleted, the
# reader's DPDK files and the work dir removed.
netns_reader_cleanup() {
    [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
    signal_reader TERM
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
    wait 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    dpdk_cleanup "$prefix"
    rm -rf "$work"
}
