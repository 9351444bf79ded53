# shellcheck shell=sh
# Shared by perf/run-bench.sh and perf/varsize-bench.sh (sourced): run one Google Benchmark
# program of build/perf under the EAL, bounded in time, with its own file prefix (its runtime
# dir, hugepage files and the temporary dir removed on exit), and keep its JSON results.
#
# gbench_run <script> <build dir> <program> <prefix> <-m MiB> <min time> <repetitions> <timeout>
#            [benchmark flags...]
# Sets json (BENCH_JSON or a temporary file), tmp (console.txt holds the program's output)
# and load0 (the load average before the run); exits 1 when the program is missing or fails.
# The EAL memory is preallocated with -m unless ELASTIC_EAL_ARGS sizes it: with dynamic memory
# rte_free hands whole hugepages back to the kernel and the next rte_malloc maps them again,
# which would measure the kernel rather than rte_malloc.
gbench_run() {
    # POSIX sh has no local variables: these are gbench_* globals.
    gbench_script=$1 gbench_bin=$2/perf/$3 gbench_name=$3 gbench_prefix=$4 gbench_mem="-m $5"
    gbench_min_time=$6 gbench_reps=$7 gbench_limit=$8
    if [ ! -x "$gbench_bin" ]; then
        echo "$gbench_script: $gbench_bin not found; build first (ninja -C $2)" >&2
        exit 1
    fi
    shift 8
    tmp=$(mktemp -d)
    trap 'rm -rf "/var/run/dpdk/$gbench_prefix" "$tmp"; rm -f /dev/hugepages/"$gbench_prefix"* 2>/dev/null || true' EXIT
    trap 'exit 1' INT TERM
    json=${BENCH_JSON:-$tmp/$gbench_name.json}
    case " ${ELASTIC_EAL_ARGS:-} " in
    *" -m "* | *--socket-mem* | *--legacy-mem*) gbench_mem= ;;
    esac
    # shellcheck disable=SC2034 # load0, json and tmp are read by the calling script
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    # shellcheck disable=SC2086
    if ! timeout "$gbench_limit" "$gbench_bin" --no-pci --file-prefix="$gbench_prefix" \
        $gbench_mem --log-level=lib.eal:warning -- \
        --benchmark_min_time="$gbench_min_time" \
        --benchmark_repetitions="$gbench_reps" \
        --benchmark_report_aggregates_only=true \
        --benchmark_out="$json" --benchmark_out_format=json "$@" >"$tmp/console.txt" 2>&1; then
        cat "$tmp/console.txt" >&2
        echo "$gbench_script: $gbench_name failed" >&2
        exit 1
    fi
}
