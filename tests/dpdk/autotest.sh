#!/bin/bash
# Run one of DPDK's own autotests (dpdk-test, unmodified) with the elastic driver loaded and
# --mbuf-pool-ops-name=elastic; pass when it prints "Test OK", an elastic pool was used and every
# growth asked for was seen.
#   tests/dpdk/autotest.sh <librte_mempool_elastic.so> <autotest> [--grown=POOL:N...] [VAR=val...]
# --grown=POOL:N: the pool POOL must have added exactly N chunks (the driver's DEBUG lines
# "elastic mempool: POOL: chunk I of M objects (...) added by ..."). VAR=val pairs go to the
# environment (e.g. ELASTIC_MEMPOOL_BASE_OBJS=32 to make pools grow).
# dpdk-test is $DPDK_TEST_BIN, or dpdk-test on the PATH (Debian package dpdk-dev); without it the
# test fails. Extra EAL args (e.g. --no-huge -m 512) come from $ELASTIC_EAL_ARGS.
set -u
here=$(dirname "$0")
. "$here/common.sh"
so=$1
test_name=$2
shift 2
grown_wanted=()
while [ $# -gt 0 ] && [ "${1#--grown=}" != "$1" ]; do
    grown_wanted+=("${1#--grown=}")
    shift
done
DPDK_TEST=$(require_program "${DPDK_TEST_BIN:-dpdk-test}") || exit 1
driver_load_args "$so"
prefix="mempool-at-$$"
log=$(mktemp)
trap 'dpdk_cleanup "$prefix"; rm -f "$log"' EXIT
# shellcheck disable=SC2086
echo "$test_name" | env "${LOAD_ENV[@]}" "$@" timeout -k 10 "${TEST_TIMEOUT:-240}" "$DPDK_TEST" \
    --no-pci --file-prefix="$prefix" -l 0-1 "${LOAD_ARGS[@]}" \
    --mbuf-pool-ops-name=elastic --log-level=mempool.elastic:debug ${ELASTIC_EAL_ARGS:-} \
    >"$log" 2>&1
rc=$?
used=$(grep -c "elastic mempool: .*: drop-in" "$log")
grown=$(grep -c "elastic mempool: .*added by" "$log")
tail -3 "$log"
echo "exit=$rc elastic_pools=$used chunks_grown=$grown"
if [ "$rc" -ne 0 ] || ! grep -q "^Test OK" "$log"; then
    echo "FAIL: $test_name with elastic ops"
    grep -iE "fail|error|panic" "$log" | head -20
    exit 1
fi
if [ "$used" -eq 0 ]; then
    echo "FAIL: no pool used the elastic ops"
    exit 1
fi
fail=0
for want in "${grown_wanted[@]}"; do
    pool=${want%:*}
    n=${want##*:}
    got_added=$(grep -F "elastic mempool: $pool: chunk " "$log" | grep -c " added by ")
    if [ "$got_added" -ne "$n" ]; then
        echo "FAIL: pool $pool added $got_added chunks, expected $n"
        fail=1
    else
        echo "pool $pool grew by $got_added chunks, as expected"
    fi
done
[ "$fail" -eq 0 ] || exit 1
echo "PASS: $test_name with elastic ops"
