#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds and runs every test suite of elasticpool (unit, eal, dpdk),
# one test at a time, then ends with the plain line "N passed, N failed, N skipped" from meson's
# test log. A skip (exit 77: meson SKIP) is allowed only when tests/skips.txt lists it; every skip
# is printed with its reason. Exits non-zero when the build fails or any test fails, times out,
# does not run to its end, or skips without being listed (those count as failed).
#
#   bash scripts/run-tests.sh [--sanitize=address|thread] [MESON_TEST_ARGS...]
#
#   --sanitize=address  build-asan, -Db_sanitize=address,undefined; suites unit and eal
#   --sanitize=thread   build-tsan, -Db_sanitize=thread; suite unit
#   MESON_TEST_ARGS     passed on to meson test (e.g. --suite unit, or test names)
#   ELASTIC_TEST_TIMEOUT  overall bound in seconds (default 1800)
#
# Without any argument (the README's command, and CI's) it then runs itself again with
# --sanitize=address and --sanitize=thread: any sanitizer report fails a test (halt_on_error), and
# the last line counts all three runs. ELASTIC_SANITIZER_RUNS=0 leaves them out (quick local runs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/setup.sh
source "$here/setup.sh"

build=build
build_opts=()
test_args=()
sanitizer_runs=${ELASTIC_SANITIZER_RUNS:-1}
(( $# == 0 )) || sanitizer_runs=0
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
        sed -n '2,13s/^# \{0,1\}//p' "$0"
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
    echo "0 passed, 1 failed, 0 skipped"
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

# Counts the results of meson's test log and checks every skip against tests/skips.txt. Prints
# one line per skip (test, GoogleTest name, message, and whether the list allows it), then the
# counts "passed failed skipped" as its last line. Counted as failed, besides FAIL/TIMEOUT/ERROR:
# a skip that tests/skips.txt does not allow (here), and a test that reports a skip but exited 0
# (meson would show it OK).
counts=$(python3 - "$log" "$elastic_top/tests/skips.txt" <<'EOF'
import collections, fnmatch, json, os, re, sys

def conditions():
    """The conditions a tests/skips.txt line may name, and whether they hold on this run."""
    eal_args = os.environ.get("ELASTIC_EAL_ARGS", "").split()
    no_huge = os.environ.get("ELASTIC_NO_HUGE", "0") not in ("", "0") or "--no-huge" in eal_args
    return {"always": True, "no-huge": no_huge, "one-cpu": len(os.sched_getaffinity(0)) < 2}

def read_allowed(path):
    """Lines '<test>[:<GoogleTest name or pattern>] <condition> <reason...>'; # comments."""
    allowed, bad = [], []
    known = conditions()
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                words = line.split(None, 2)
                if len(words) < 3 or words[1] not in known:
                    bad.append("%s:%d: want '<test>[:<case>] <%s> <reason>': %s"
                               % (path, n, "|".join(known), line))
                    continue
                test, _, case = words[0].partition(":")
                allowed.append((test, case or None, words[1], known[words[1]], words[2]))
    except OSError as e:
        bad.append("cannot read %s: %s" % (path, e))
    return allowed, bad

skip_line = re.compile(r"^SKIP(?: (\S+))?: (.*)$", re.M)
gtest_skipped = re.compile(r"^\[  SKIPPED \] ", re.M)
allowed, bad = read_allowed(sys.argv[2])
for b in bad:
    print("FAIL: " + b)
results = collections.Counter()
try:
    with open(sys.argv[1]) as f:
        for line in f:
            try:
                r = json.loads(line)
                name, result = r["name"].split(" / ", 1)[-1], r["result"]
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a line cut short: that test counts as not run to its end
            out = r.get("stdout", "") + "\n" + r.get("stderr", "")
            if result == "OK" and (skip_line.search(out) or gtest_skipped.search(out)):
                print("FAIL: %s reports a skip but exited 0: a skip must exit 77" % name)
                result = "FAIL"
            elif result == "SKIP":
                skips = [(m.group(1), m.group(2)) for m in skip_line.finditer(out)] or \
                        [(None, "(the test printed no 'SKIP: <reason>' line)")]
                unlisted = False
                for case, msg in skips:
                    what = name + (" " + case if case else "")
                    why = [a for a in allowed if a[0] == name and (a[1] is None or (
                        case is not None and fnmatch.fnmatchcase(case, a[1])))]
                    ok = [a for a in why if a[3]]
                    if ok:
                        print("skipped: %s: %s (allowed: %s)" % (what, msg, ok[0][4]))
                    else:
                        unlisted = True
                        print("FAIL: skip not allowed by tests/skips.txt: %s: %s%s" % (
                            what, msg, " (listed for '%s' only)" % why[0][2] if why else ""))
                if unlisted:
                    result = "FAIL"
            results[result] += 1
except OSError:
    pass
passed = results.pop("OK", 0) + results.pop("EXPECTEDFAIL", 0)
skipped = results.pop("SKIP", 0)
print(passed, sum(results.values()) + (1 if bad else 0), skipped)
EOF
)
sed '$d' <<<"$counts"
read -r passed failed skipped < <(tail -n 1 <<<"$counts")
ran=$((passed + failed + skipped))
if (( ran < expected )); then
    echo "$((expected - ran)) of $expected tests did not run to their end (counted as failed)"
    failed=$((failed + expected - ran))
fi
if [[ $sanitizer_runs != 0 ]]; then
    # The same tests under the sanitizers, each in its own build directory; their output goes
    # by as it comes (tee -a: when stderr is a file, a plain tee would reopen it truncated and
    # wipe what this run wrote before), and their last lines add to this run's.
    echo "$passed passed, $failed failed, $skipped skipped (build: without sanitizers)"
    for san in address thread; do
        echo "== run-tests.sh --sanitize=$san"
        t0=$SECONDS
        last=$( { bash "$here/run-tests.sh" "--sanitize=$san" || true; } 2>&1 |
            tee -a /dev/stderr | tail -n 1)
        echo "== --sanitize=$san: $last ($((SECONDS - t0)) s)"
        if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
            passed=$((passed + BASH_REMATCH[1]))
            failed=$((failed + BASH_REMATCH[2]))
            skipped=$((skipped + BASH_REMATCH[3]))
        else
            echo "FAIL: the --sanitize=$san run did not end with its counts"
            failed=$((failed + 1))
        fi
    done
fi
echo "$passed passed, $failed failed, $skipped skipped"
if (( status != 0 || failed != 0 || passed == 0 )); then
    exit 1
fi
