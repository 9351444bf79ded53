#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Run bench-buf once (bounded in time, own EAL file prefix, cleaned up) and print ns per
# alloc+free pair for elastic / rte_malloc / malloc and the ratios of their rates.
#
# Usage: perf/run-bench.sh [build dir] [benchmark flags...]
#   build dir defaults to ./build next to perf/; flags go to Google Benchmark, e.g.
#   --benchmark_filter=pair/ ; ELASTIC_EAL_ARGS adds EAL words (e.g. "--no-huge -m 512").
#   BENCH_REPETITIONS (3; the table shows the median), BENCH_MIN_TIME (0.2 s per run),
#   BENCH_TIMEOUT (900 s), BENCH_JSON (keep the raw results in this file). EAL memory is
#   preallocated with -m 512 unless ELASTIC_EAL_ARGS has -m, --socket-mem or --legacy-mem.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
if [ $# -gt 0 ] && [ -d "$1" ]; then
    build=$1
    shift
fi
# shellcheck source=perf/gbench.sh
. "$here/gbench.sh"
gbench_run run-bench.sh "$build" bench-buf "elastic_bench_$$" 512 \
    "${BENCH_MIN_TIME:-0.2}" "${BENCH_REPETITIONS:-3}" "${BENCH_TIMEOUT:-900}" "$@"

python3 - "$json" <<'PY'
import json, sys

data = json.load(open(sys.argv[1]))
ctx = data["context"]
rows = {}
for b in data["benchmarks"]:
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    if "items_per_second" not in b:
        continue
    kind, api, size = b["run_name"].split("/")[:3]
    ns = 1e9 / b["items_per_second"]
    rows.setdefault((kind, size, b["threads"]), {})[api] = ns

print("bench-buf: %s, %d CPUs @ %s MHz, %s build of benchmark, date %s"
      % (ctx.get("host_name", "?"), ctx.get("num_cpus", 0), ctx.get("mhz_per_cpu", "?"),
         ctx.get("library_build_type", "?"), ctx.get("date", "?")))
print("ns per alloc+free pair (median of repetitions; with 2 threads: wall time / all pairs);")
print("ratio = elastic's rate / the other's rate")
print()
hdr = "%-8s %-6s %3s %10s %12s %10s %13s %11s" % (
    "bench", "size", "thr", "elastic", "rte_malloc", "malloc", "x rte_malloc", "x malloc")
print(hdr)
print("-" * len(hdr))
order = {"4KiB": 0, "64KiB": 1, "256KiB": 2, "1MiB": 3, "mixed": 4}
misses = []
checked = 0
for key in sorted(rows, key=lambda k: (k[0] != "pair", order.get(k[1], 9), k[2])):
    kind, size, thr = key
    r = rows[key]
    e, rm, m = r.get("elastic"), r.get("rte_malloc"), r.get("malloc")
    f = lambda v: "%10.1f" % v if v else "%10s" % "-"
    x = lambda a, b: "%11.1fx" % (b / a) if a and b else "%12s" % "-"
    print("%-8s %-6s %3d %s   %s %s  %s %s"
          % (kind, size, thr, f(e), f(rm), f(m), x(e, rm), x(e, m)))
    if kind == "pair" and thr == 1 and size in ("4KiB", "64KiB", "256KiB", "mixed") and e:
        checked += 1 if rm else 0
        if e > 100:
            misses.append("%s %s: %.1f ns > 100 ns" % (kind, size, e))
        if rm and rm / e < 10:
            misses.append("%s %s: %.1fx rte_malloc < 10x" % (kind, size, rm / e))
print()
if misses:
    print("targets (single thread, 4 KiB-256 KiB: <= 100 ns/pair, >= 10x rte_malloc) missed:")
    for s in misses:
        print("  " + s)
elif checked == 4:
    print("targets (single thread, 4 KiB-256 KiB: <= 100 ns/pair, >= 10x rte_malloc): met")
else:
    print("targets not checked: the single-thread pair cases of 4 KiB-256 KiB did not all run")
PY
grep -h "elastic pool:" "$tmp/console.txt" 2>/dev/null || true
echo "load average before/after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
