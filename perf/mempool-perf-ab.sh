#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# DPDK's own mempool_perf_autotest with the elastic ops: dpdk-test loads the driver (-d, or
# LD_PRELOAD from a world-writable place) and --mbuf-pool-ops-name=elastic, so its "default_pool"
# groups run our ops without a cache beside the ring_mp_mc "without cache" groups of the same run
# (22.11 order: ring 1/2/max lcores, then default_pool 1/2/max, then the cache groups, which use
# ring_mp_mc only). For each lcore count the script pairs the configurations (get bulk, put bulk,
# keep, constant_n) and prints elastic / ring_mp_mc per configuration, then the median per group.
#
#   perf/mempool-perf-ab.sh [--build DIR] [--runs N] [--scale S] [--all] [--lcores LIST]
#     --runs N    independent dpdk-test runs (3); the table is per run, then the median of the
#                 runs' medians per group
#     --scale S   shorten every configuration S times (10: 0.5 s instead of 5 s) with the
#                 LD_PRELOAD shim build/perf/libelastic_time_scale.so; rates print S times low,
#                 alike for both pools (ratios hold); 1 runs DPDK's own 5 s
#     --all       let the test run to its end (cache groups too) instead of stopping once the
#                 default_pool groups are done
#     --lcores    EAL -l list (0,1)
#     --keep DIR  keep dpdk-test's output of every run there (run<N>.txt) and print every
#                 configuration's ratio
# Bounded: each run is killed after (configurations x time) + 120 s. Every run has its own
# --file-prefix, cleaned afterwards.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
runs=3
scale=10
all=0
lcores=0,1
keep=
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift ;;
    --runs) runs=$2; shift ;;
    --scale) scale=$2; shift ;;
    --all) all=1 ;;
    --lcores) lcores=$2; shift ;;
    --keep) keep=$2; shift ;;
    -h | --help) sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "mempool-perf-ab.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
. "$here/../tests/dpdk/common.sh"
require_program dpdk-test
so=$build/drivers/librte_mempool_elastic.so
shim=$build/perf/libelastic_time_scale.so
driver_load_args "$so"
preload=("${LOAD_ENV[@]}")
if [ "$scale" != 1 ]; then
    [ -f "$shim" ] || { echo "shim not found: $shim (build perf/)" >&2; exit 1; }
    if [ ${#preload[@]} -gt 0 ]; then
        preload=("${preload[0]}:$shim")
    else
        preload=(LD_PRELOAD="$shim")
    fi
fi
# 12 groups of 60 configurations at most, 5 s / scale each, plus set-up.
bound=$(( 12 * 60 * 5 / scale + 120 ))
[ "$all" = 1 ] || bound=$(( 6 * 60 * 5 / scale + 120 ))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cpus); lcores $lcores;" \
    "scale $scale; runs $runs; bound ${bound}s per run"
for r in $(seq 1 "$runs"); do
    prefix=elastic_mpp_$$_$r
    out=$tmp/run$r.txt
    # dpdk-test reads commands from stdin: the test, then quit. stdbuf: lines reach the file
    # as they come, so that a stopped run keeps what it measured.
    (
        echo mempool_perf_autotest
        if [ "$all" = 1 ]; then
            sleep "$bound"
        else
            # Stop once the default_pool groups are over: the first cache group has begun.
            for _ in $(seq 1 "$bound"); do
                grep -q "start performance test (with cache)" "$out" 2>/dev/null && break
                sleep 1
            done
        fi
        echo quit
    ) | env "${preload[@]}" ELASTIC_TIME_SCALE="$scale" timeout -k 5 "$bound" \
        stdbuf -oL dpdk-test --no-pci --file-prefix="$prefix" -l "$lcores" "${LOAD_ARGS[@]}" \
        --mbuf-pool-ops-name=elastic --log-level=lib.eal:error >"$out" 2>&1
    dpdk_cleanup "$prefix"
    if ! grep -q "start performance test for elastic" "$out"; then
        echo "run $r: the default_pool groups did not run with elastic:" >&2
        tail -5 "$out" >&2
        exit 1
    fi
done

if [ -n "$keep" ]; then
    mkdir -p "$keep" && cp "$tmp"/run*.txt "$keep"/
fi
python3 - "$tmp" "$runs" "$scale" "$keep" <<'PY'
import re, statistics, sys
tmp, runs, scale, verbose = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] != ""
pat = re.compile(r"mempool_autotest cache=(\d+) cores=(\d+) n_get_bulk=(\d+) n_put_bulk=(\d+) "
                 r"n_keep=(\d+) constant_n=(\d+) rate_persec=(\d+)")
per_group = {}   # group label -> list of per-run medians
for r in range(1, runs + 1):
    section, groups = None, {}
    seen = {}
    for line in open("%s/run%d.txt" % (tmp, r)):
        if line.startswith("start performance test"):
            section = ("elastic" if "for elastic" in line else
                       "ring" if "(without cache)" in line else "cache")
            seen = {}
            continue
        m = pat.search(line)
        if not m or section not in ("ring", "elastic"):
            continue
        cache, cores, g, p, keep, const, rate = map(int, m.groups())
        key = (g, p, keep, const)
        # 1, 2 and max lcores run one after another: the n-th time a configuration comes back
        # within a section it belongs to the n-th group.
        gi = seen.get(key, 0)
        seen[key] = gi + 1
        groups.setdefault((gi, cores), {}).setdefault(section, {})[key] = rate * scale
    print("run %d:" % r)
    print("  %-14s %7s %12s %12s %8s %8s %8s" % ("group", "configs", "ring Mobj/s",
                                                "elastic", "median", "min", "max"))
    for (gi, cores), d in sorted(groups.items()):
        ring, el = d.get("ring", {}), d.get("elastic", {})
        keys = sorted(set(ring) & set(el))
        if not keys:
            continue
        ratios = [el[k] / ring[k] for k in keys if ring[k] > 0]
        label = "%d lcore%s%s" % (cores, "s" if cores > 1 else "", " (max)" if gi == 2 else "")
        med = statistics.median(ratios)
        if verbose:
            for k in keys:
                print("    %-14s get %3d put %3d keep %3d const %d: ring %8.1f elastic %8.1f -> %.3f"
                      % (label, k[0], k[1], k[2], k[3], ring[k] / 1e6, el[k] / 1e6,
                         el[k] / ring[k]))
        per_group.setdefault(label, []).append(med)
        print("  %-14s %7d %12.1f %12.1f %8.3f %8.3f %8.3f" % (
            label, len(keys), statistics.median(ring[k] for k in keys) / 1e6,
            statistics.median(el[k] for k in keys) / 1e6, med, min(ratios), max(ratios)))
print()
print("elastic / ring_mp_mc without cache, median over configurations, per run; then the median "
      "of the runs (target >= 1.0):")
for label, meds in per_group.items():
    print("  %-14s runs %s -> %.3f" % (label, " ".join("%.3f" % m for m in meds),
                                      statistics.median(meds)))
PY
