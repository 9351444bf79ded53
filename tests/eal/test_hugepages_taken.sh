#!/usr/bin/env bash
# Hugepages taken by another process during growth (issue 13). Mounts a private hugetlbfs of
# PAGES 2 MiB pages (its size= option is a quota: the EAL's pages and any other process's files
# in it count against it), runs the test binary's EAL on it (--huge-dir), and lets the binary's
# child process take every page left in it. The pools' growth must fail cleanly, and grow again
# when the child's pages return. Bounded by the mount: the machine's other hugepages are never
# touched. Skips (77) without hugepages or when a hugetlbfs cannot be mounted (not root).
#
#   test_hugepages_taken.sh <test binary>
set -euo pipefail
bin=$1
pages=32 # the mount's quota: 64 MiB
if [[ ${ELASTIC_NO_HUGE:-0} != 0 ]]; then
    echo "SKIP: no hugepages (ELASTIC_NO_HUGE)"
    exit 77
fi
free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
size_kb=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
if [[ -z $free || $size_kb != 2048 ]] || (( free < pages + 8 )); then
    echo "SKIP: needs $((pages + 8)) free 2 MiB hugepages (free: ${free:-?}, size ${size_kb:-?} kB)"
    exit 77
fi
mnt=$(mktemp -d /tmp/ept_hugetaken.XXXXXX)
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    rm -f -- "$mnt"/* 2>/dev/null || true
    umount "$mnt" 2>/dev/null || true
    rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM # through the EXIT trap: never leave the mount behind
if ! mount -t hugetlbfs -o "pagesize=2M,size=$((pages * 2))M" nodev "$mnt" 2>/dev/null; then
    echo "SKIP: cannot mount a private hugetlbfs (needs root / CAP_SYS_ADMIN)"
    exit 77
fi
status=0
ELASTIC_HUGE_DIR=$mnt timeout -k 5 100 "$bin" || status=$?
exit "$status"
