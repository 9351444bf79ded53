#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds and runs the elasticpool demo: a bursty workload through one
# pool, printed as a timeline (grow -> wall -> queue -> drain -> shrink).
#
#   bash scripts/run-demo.sh [DEMO_OPTIONS...]
#
# The demo gets the EAL arguments --no-pci --file-prefix=elastic_demo_<pid> plus the words of
# ELASTIC_EAL_ARGS, then "--" and DEMO_OPTIONS. It is stopped after ELASTIC_DEMO_TIMEOUT seconds
# (default 120); its DPDK runtime directory and hugepage files are removed afterwards.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/setup.sh
source "$here/setup.sh"

demo=$elastic_top/build/apps/elastic-demo/elastic-demo
if ! elastic_setup build -- apps/elastic-demo/elastic-demo; then
    echo "run-demo.sh: set-up or build failed" >&2
    exit 1
fi

if [[ ! -x $demo ]]; then
    echo "run-demo.sh: the demo program $demo was not built" >&2
    exit 1
fi

prefix=elastic_demo_$$
cleanup() {
    rm -rf -- "/var/run/dpdk/$prefix"
    rm -f -- /dev/hugepages/"$prefix"map_*
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck disable=SC2086 # ELASTIC_EAL_ARGS is a list of words
timeout --foreground -k 10 "${ELASTIC_DEMO_TIMEOUT:-120}" \
    "$demo" --no-pci --file-prefix="$prefix" $ELASTIC_EAL_ARGS -- "$@"
