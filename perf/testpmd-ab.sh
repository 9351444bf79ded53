#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# dpdk-testpmd io forwarding between two net_null vdevs, alternately with the elastic ops
# (drop-in, driver loaded with -d or LD_PRELOAD) and with ring_mp_mc: A B A B ... for <pairs>
# pairs of <seconds> each. Prints Mpps and pinned hugepages (MiB, this testpmd's own hugepage
# files) of every run, the Mpps ratio elastic/ring_mp_mc of each pair and the median ratio
# (target >= 0.97).
#   perf/testpmd-ab.sh [build dir] [pairs (3)] [seconds (10)]
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
pairs=${2:-3}
secs=${3:-10}
. "$here/../tests/dpdk/common.sh"
so=$build/drivers/librte_mempool_elastic.so
driver_load_args "$so"
TESTPMD_LOG=$(mktemp)
trap 'rm -f "$TESTPMD_LOG"' EXIT
mib=$(( $(hugepage_kib) / 1024 ))
ratios=()
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (the machine has $(nproc) cpus)"
printf '%-5s %-11s %10s %12s\n' pair ops Mpps/port "pinned MiB"
for p in $(seq 1 "$pairs"); do
    declare -A rx=()
    for ops in elastic ring_mp_mc; do
        read -r r pages _ < <(run_testpmd "$ops" "$secs")
        rx[$ops]=$r
        printf '%-5s %-11s %10s %12s\n' "$p" "$ops" \
            "$(awk -v p="$r" -v s="$secs" 'BEGIN { printf "%.2f", p / s / 2e6 }')" \
            $((pages * mib))
    done
    ratio=$(awk -v a="${rx[elastic]}" -v b="${rx[ring_mp_mc]}" \
        'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')
    ratios+=("$ratio")
    echo "pair $p: elastic/ring_mp_mc = $ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "Mpps ratio elastic/ring_mp_mc: pairs ${ratios[*]}, median $median (target >= 0.97)"
