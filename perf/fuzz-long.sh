#!/usr/bin/env bash
# Longer libFuzzer runs than the test command's (tests/fuzz/run-fuzz.sh): each target for
# SECONDS (default 600), its corpus kept in build-fuzz/ between runs.
#
#   bash perf/fuzz-long.sh [SECONDS]
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for t in buddy trace api env; do
    bash "$top/tests/fuzz/run-fuzz.sh" "$t" "${1:-600}" "$top/build-fuzz"
done
