#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# meson test wrapper: run elastic-demo once with its own EAL file prefix, then clean up.
# Usage: run-demo-test.sh path/to/elastic-demo [demo options]
# ELASTIC_EAL_ARGS: extra EAL words (e.g. "--no-huge -m 512" on machines without hugepages).
set -u
demo=$1
shift
prefix=ept_demo
cleanup() {
    rm -rf /var/run/dpdk/${prefix}* 2>/dev/null
    rm -f /dev/hugepages/${prefix}* 2>/dev/null
}
trap cleanup EXIT
trap "exit 1" INT TERM
cleanup
# shellcheck disable=SC2086 # ELASTIC_EAL_ARGS is a list of words
timeout 80 "$demo" --no-pci --file-prefix=$prefix ${ELASTIC_EAL_ARGS:-} -- "$@"
