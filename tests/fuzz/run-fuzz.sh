#!/usr/bin/env bash
# Builds one libFuzzer target with clang (-fsanitize=fuzzer,address,undefined) and runs it for a
# bounded time over a copy of its seed corpus (tests/fuzz/corpus/<target>; the copy keeps what
# the run finds, the repository's seeds are not touched). Exits non-zero on any crash, leak,
# sanitizer report or timeout of one input; the reproducer is left in the work directory.
#
#   run-fuzz.sh <target: buddy|trace|api|env> <seconds> <work dir>
#
# Longer runs: perf/fuzz-long.sh.
set -euo pipefail
target=$1 seconds=$2 work=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
cxx=$(command -v clang++ || command -v clang++-14 || true)
if [[ -z $cxx ]]; then
    echo "run-fuzz.sh: clang++ not found (scripts/setup.sh installs clang and libclang-rt-14-dev)"
    exit 1
fi
mkdir -p "$work"
flags=(-std=c++20 -O1 -g -Wno-deprecated-volatile -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
    -I"$top/lib/elasticpool" -I"$top/perf")
libs=()
case $target in
buddy) srcs=("$here/fuzz_buddy.cpp" "$top/lib/elasticpool/buddy.cpp") ;;
trace)
    # The parser only: the evaluator's calls into the pool are never made (left unresolved).
    srcs=("$here/fuzz_trace.cpp" "$top/perf/trace_lib.cpp")
    flags+=(-Wl,--unresolved-symbols=ignore-all
        $(pkg-config --cflags libdpdk))
    ;;
api | env)
    # The whole core library, compiled here with the same instrumentation (the library's own
    # objects are built by gcc without coverage), linked against the system DPDK.
    srcs=("$here/fuzz_$target.cpp" "$top"/lib/elasticpool/*.cpp)
    flags+=(-DALLOW_INTERNAL_API -DALLOW_EXPERIMENTAL_API $(pkg-config --cflags libdpdk hwloc))
    libs=($(pkg-config --libs libdpdk hwloc) -lnuma -lpthread)
    ;;
*) echo "run-fuzz.sh: unknown target $target"; exit 2 ;;
esac
bin=$work/fuzz_$target
if [[ ! -x $bin || -n $(find "${srcs[@]}" "$top"/lib/elasticpool/*.h* "$here/run-fuzz.sh" \
    -newer "$bin" 2>/dev/null) ]]; then
    "$cxx" "${flags[@]}" -o "$bin" "${srcs[@]}" "${libs[@]}"
fi
corpus=$work/corpus_$target
mkdir -p "$corpus"
cp -n "$here/corpus/$target"/* "$corpus"/ 2>/dev/null || true
cd "$work"
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
    "$corpus" 2>&1 | tail -n 20
