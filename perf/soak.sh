#!/usr/bin/env bash
# Longer soak than the test command's (eal_soak, 20 s): burst/idle cycles through both faces
# with content stamps for SECONDS (default 600), then the same end checks (nothing lost or
# duplicated, pools back at base, own hugepage files back, RSS flat). Builds build/ first.
#
#   bash perf/soak.sh [SECONDS]
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-600}
# shellcheck source=scripts/setup.sh disable=SC1091
source "$top/scripts/setup.sh"
elastic_setup build
# The binary itself: meson's test environment would set its 20 s.
ELASTIC_SOAK_SECONDS=$seconds timeout -k 10 $((seconds + 120)) "$top/build/tests/eal/test_soak"
