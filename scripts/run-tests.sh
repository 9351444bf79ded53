#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds and runs every test suite of elasticpool (unit, eal, dpdk),
# one test at a time, then ends with the plain line "N passed, N failed" from meson's test log.
# Exits non-zero when the build fails or any test fails, times out or does not run to its end.
#
#   bash scripts/run-tests.sh [--sanitize=address|thread] [MESON_TEST_ARGS...]
#
#   --sanitize=address  build-asan, -Db_sanitize=address,undefined; suites unit and eal
#   --sanitize=thread   build-tsan, -Db_sanitize=thread; suite unit
#   MESON_TEST_ARGS     passed on to meson test (e.g. --suite unit, or test names)
#   ELASTIC_TEST_TIMEOUT  overall bound in seconds (default 1800)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/setup.sh
source "$here/setup.sh"

build=build
build_opts=()
test_args=()
for arg in "$@"; do
    case $arg in
    --sanitize=address)
        build="build-asan"
        # shellcheck disable=SC2054 # the comma is meson's list separator
        build_opts=(-Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
            -Dperf=false)
        test_args+=(--suite unit --suite eal)
        ;;
    --sanitize=thread)
        build="build-tsan"
        build_opts=(-Dbuildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false -Dperf=false)
        test_args+=(--suite unit)
        ;;
    --sanitize=*)
        echo "run-tests.sh: unknown sanitizer in $arg (address or thread)" >&2
        exit 2
        ;;
    -h | --help)
        sed -n '2,11s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    *)
        test_args+=("$arg")
        ;;
    esac
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:print_summary=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

if ! elastic_setup "$build" "${build_opts[@]}"; then
    echo "build failed: no test ran"
    echo "0 passed, 1 failed"
    exit 1
fi

# Removes what EAL test processes that died without cleaning up (killed at a timeout, crashed)
# left behind: runtime directories /var/run/dpdk/ept_* and hugepage files /dev/hugepages/ept_*
# (which hold hugepages until removed). A prefix is left alone while a process maps any of its
# files, or while the process named by its _<pid> suffix runs.
clean_dead_prefixes() {
    local leftovers path name prefix mapped
    shopt -s nullglob
    leftovers=(/var/run/dpdk/ept_* /dev/hugepages/ept_*)
    shopt -u nullglob
    (( ${#leftovers[@]} > 0 )) || return 0
    # Processes come and go while this reads their maps: cat goes on past the ones that left.
    mapped=$({ cat /proc/[0-9]*/maps 2>/dev/null || true; } |
        awk '$6 ~ "^/(var/run/dpdk|dev/hugepages)/ept_" { print $6 }' | sort -u)
    for path in "${leftovers[@]}"; do
        name=${path##*/}
        prefix=$name
        if [[ $path == /dev/hugepages/* ]]; then
            prefix=${name%map_*}
        fi
        if [[ $prefix =~ _([0-9]+)$ ]] && kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
            continue
        fi
        if grep -qF -e "/var/run/dpdk/$prefix/" -e "/dev/hugepages/${prefix}map_" <<<"$mapped"
        then
            continue
        fi
        echo "removing $path (left behind by a test that did not clean up)"
        rm -rf -- "$path"
    done
}

bound=${ELASTIC_TEST_TIMEOUT:-1800}
log=$elastic_top/$build/meson-logs/testlog.json
rm -f "$log"
expected=$(cd "$elastic_top" && { meson test -C "$build" --no-rebuild --list "${test_args[@]}" \
    2>/dev/null | grep -c ' / ' || true; })

status=0
(cd "$elastic_top" && timeout --foreground -k 30 "$bound" \
    meson test -C "$build" --num-processes 1 --print-errorlogs "${test_args[@]}") || status=$?
clean_dead_prefixes || echo "could not clean up after the tests"
if (( status == 124 || status == 137 )); then
    echo "meson test stopped by the overall bound of $bound s (ELASTIC_TEST_TIMEOUT)"
fi

counts=$(python3 - "$log" <<'EOF'
import collections, json, sys
results = collections.Counter()
try:
    with open(sys.argv[1]) as f:
        for line in f:
            try:
                results[json.loads(line)["result"]] += 1
            except (ValueError, KeyError, TypeError):
                pass  # a line cut short: that test counts as not run to its end
except OSError:
    pass
passed = results.pop("OK", 0) + results.pop("EXPECTEDFAIL", 0)
skipped = results.pop("SKIP", 0)
print(passed, sum(results.values()), skipped)
EOF
)
read -r passed failed skipped <<<"$counts"
ran=$((passed + failed + skipped))
if (( ran < expected )); then
    echo "$((expected - ran)) of $expected tests did not run to their end (counted as failed)"
    failed=$((failed + expected - ran))
fi
if (( skipped > 0 )); then
    echo "($skipped skipped, counted in neither number below)"
fi
echo "$passed passed, $failed failed"
if (( status != 0 || failed != 0 || passed == 0 )); then
    exit 1
fi
