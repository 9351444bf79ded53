#!/bin/bash
# dpdk-testpmd (unmodified) forwarding between two net_null vdevs, io mode, ~10 s each with
# ring_mp_mc and with the elastic ops loaded in drop-in mode. Passes when packets flow in both
# runs and elastic pins at most a quarter of the hugepages ring_mp_mc pins for testpmd's
# 155,456-mbuf default pool. Pages are counted as this testpmd's hugepage files (immune to other
# processes); the drop of HugePages_Free during each run is printed too (equal when run alone).
#   tests/dpdk/testpmd.sh <librte_mempool_elastic.so> [seconds]
set -u
here=$(dirname "$0")
. "$here/common.sh"
TESTPMD_BIN=$(require_program "${TESTPMD_BIN:-dpdk-testpmd}") || exit 1
driver_load_args "$1"
secs=${2:-10}
TESTPMD_LOG=$(mktemp)
trap 'rm -f "$TESTPMD_LOG"' EXIT

read -r ring_rx ring_pages ring_free < <(run_testpmd ring_mp_mc "$secs")
grep -q "n=155456" "$TESTPMD_LOG" || echo "note: pool size differs from 155,456"
read -r el_rx el_pages el_free < <(run_testpmd elastic "$secs")
grep -m1 "elastic mempool: mb_pool" "$TESTPMD_LOG"
mib=$(( $(hugepage_kib) / 1024 ))
for r in "ring_mp_mc $ring_rx $ring_pages $ring_free" "elastic $el_rx $el_pages $el_free"; do
    set -- $r
    printf '%-10s rx=%s packets (%s Mpps/port), %s hugepages mapped (%s MiB), ' "$1" "$2" \
        "$(awk -v p="$2" -v s="$secs" 'BEGIN { printf "%.1f", p / s / 2e6 }')" "$3" $(($3 * mib))
    echo "HugePages_Free dropped by $4"
done
fail=0
if [ "$ring_rx" -le 0 ] || [ "$el_rx" -le 0 ]; then
    echo "FAIL: packets did not flow"; fail=1
fi
if ! grep -q "elastic mempool: mb_pool" "$TESTPMD_LOG"; then
    echo "FAIL: testpmd's pool did not use the elastic ops"; fail=1
fi
case " ${ELASTIC_EAL_ARGS:-} " in
*" --no-huge "*)
    [ $fail -eq 0 ] && echo "SKIP: packets flow, but no hugepages to count (--no-huge)"
    [ $fail -eq 0 ] && exit 77
    exit $fail ;;
esac
if [ "$ring_pages" -le 0 ] || [ $((el_pages * 4)) -gt "$ring_pages" ]; then
    echo "FAIL: elastic pinned more than a quarter of ring_mp_mc's hugepages"; fail=1
fi
[ $fail -eq 0 ] && echo "PASS: elastic pins $el_pages of ring_mp_mc's $ring_pages hugepages"
exit $fail
