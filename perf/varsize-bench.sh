#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Run bench-varsize (perf/bench_varsize.cpp) bounded in time, with its own EAL file prefix
# (cleaned up), and print ns per alloc+free pair of the variable-size pool without and with its
# per-thread cache (elastic, elastic_tc), rte_malloc, glibc malloc and an rte_mempool per size
# class, the ratios of their rates (all measured in the same run), the two-thread scaling, and
# the targets of issue 10 with met/missed.
#
# Usage: perf/varsize-bench.sh [build dir] [benchmark flags...]
#   build dir defaults to ./build next to perf/; flags go to Google Benchmark.
#   BENCH_REPETITIONS (5; every figure is the median), BENCH_MIN_TIME (0.1 s per repetition),
#   BENCH_TIMEOUT (600 s), BENCH_JSON (keep the raw results in this file); ELASTIC_EAL_ARGS adds
#   EAL words. EAL memory is preallocated with -m 256 (128 hugepages) unless ELASTIC_EAL_ARGS
#   has -m, --socket-mem or --legacy-mem.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
if [ $# -gt 0 ] && [ -d "$1" ]; then
    build=$1
    shift
fi
# shellcheck source=perf/gbench.sh
. "$here/gbench.sh"
gbench_run varsize-bench.sh "$build" bench-varsize "elastic_varsize_$$" 256 \
    "${BENCH_MIN_TIME:-0.1}" "${BENCH_REPETITIONS:-5}" "${BENCH_TIMEOUT:-600}" "$@"

python3 - "$json" <<'PY'
import json, sys

data = json.load(open(sys.argv[1]))
ctx = data["context"]
real, cpu = {}, {}
for b in data["benchmarks"]:
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    if "items_per_second" not in b:
        continue
    _, api, size = b["run_name"].split("/")[:3]
    key = (size, b["threads"])
    real.setdefault(key, {})[api] = 1e9 / b["items_per_second"]
    # cpu_time: CPU time per iteration of one thread (Google Benchmark averages the threads)
    cpu.setdefault(key, {})[api] = b["cpu_time"] * {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]]

print("bench-varsize: %s, %d CPUs @ %s MHz, date %s"
      % (ctx.get("host_name", "?"), ctx.get("num_cpus", 0), ctx.get("mhz_per_cpu", "?"),
         ctx.get("date", "?")))
print("ns per alloc+free pair, wall time / all pairs, median of repetitions; tc = elastic with")
print("its per-thread cache; ratio columns = elastic_tc's rate / the other's rate; el cpu, tc cpu:")
print("CPU ns per pair of one thread (what the machine's load does not inflate)")
print()
apis = ["elastic", "elastic_tc", "rte_malloc", "malloc", "mempool"]
hdr = "%-6s %3s %8s %8s %9s %8s %8s | %7s %8s %8s %8s | %6s %6s" % (
    "size", "thr", "elastic", "tc", "rte_mall", "malloc", "mempool",
    "tc/el", "tc/rte_m", "tc/mall", "tc/mpool", "el cpu", "tc cpu")
print(hdr)
print("-" * len(hdr))
order = {"4KiB": 0, "16KiB": 1, "64KiB": 2, "256KiB": 3, "1MiB": 4, "mixed": 5}
f = lambda v: "%8.1f" % v if v else "%8s" % "-"
x = lambda a, b: "%7.1fx" % (b / a) if a and b else "%8s" % "-"
for key in sorted(real, key=lambda k: (order.get(k[0], 9), k[1])):
    r = real[key]
    t = r.get("elastic_tc")
    c = cpu.get(key, {}).get("elastic_tc")
    ce = cpu.get(key, {}).get("elastic")
    print("%-6s %3d %s %s  %s %s %s | %s %s %s %s | %6.1f %6.1f"
          % (key[0], key[1], f(r.get("elastic")), f(t), f(r.get("rte_malloc")),
             f(r.get("malloc")), f(r.get("mempool")), x(t, r.get("elastic")),
             x(t, r.get("rte_malloc")), x(t, r.get("malloc")), x(t, r.get("mempool")),
             ce or 0, c or 0))
print()
print("two threads on one pool: pairs/s of 2 threads / pairs/s of 1 thread")
for size in sorted({k[0] for k in real}, key=lambda s: order.get(s, 9)):
    one, two = real.get((size, 1), {}), real.get((size, 2), {})
    cells = []
    for api in apis:
        if one.get(api) and two.get(api):
            cells.append("%s %.2fx" % (api, one[api] / two[api]))
    print("  %-6s %s" % (size, ", ".join(cells)))
print()

def ns(size, thr, api="elastic_tc"):
    return real.get((size, thr), {}).get(api)

checks = []
v = ns("4KiB", 1)
if v:
    checks.append(("<= 30 ns per 4 KiB pair, one thread", v <= 30, "%.1f ns" % v))
one, two = ns("4KiB", 1), ns("4KiB", 2)
if one and two:
    checks.append((">= 1.6x pairs/s with two threads on one pool (4 KiB)", one / two >= 1.6,
                   "%.2fx" % (one / two)))
rm = ns("4KiB", 1, "rte_malloc")
if v and rm:
    checks.append((">= 3x rte_malloc at 4 KiB", rm / v >= 3, "%.1fx" % (rm / v)))
for size in ("64KiB", "256KiB", "1MiB"):
    a, b = ns(size, 1), ns(size, 1, "rte_malloc")
    if a and b:
        checks.append((">= 10x rte_malloc at %s" % size, b / a >= 10, "%.1fx" % (b / a)))
print("targets of issue 10 (elastic_tc, one thread unless said):")
for what, ok, val in checks:
    print("  %-55s %-7s %s" % (what, "met" if ok else "MISSED", val))
c1, c2 = cpu.get(("4KiB", 1), {}).get("elastic_tc"), cpu.get(("4KiB", 2), {}).get("elastic_tc")
if c1 and c2:
    print("  (CPU ns per 4 KiB pair and thread, 2 threads / 1 thread: %.2f; about 1 means the"
          % (c2 / c1))
    print("   threads did not slow each other: a scaling miss is then the CPUs the run got)")
PY
grep -h "elastic pool" "$tmp/console.txt" 2>/dev/null || true
echo "load average before/after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
