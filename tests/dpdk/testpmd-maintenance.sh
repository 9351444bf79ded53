#!/bin/bash
# dpdk-testpmd (unmodified) with the elastic ops in drop-in mode and no service lcore: its
# pktmbuf pool must be a member of the one maintenance service, driven by the EAL alarm, and be
# ticked by it (release decisions counted). Read through DPDK telemetry with dpdk-telemetry.py.
#   tests/dpdk/testpmd-maintenance.sh <librte_mempool_elastic.so> [dpdk-telemetry.py]
set -u
here=$(dirname "$0")
. "$here/common.sh"
TESTPMD_BIN=$(require_program "${TESTPMD_BIN:-dpdk-testpmd}") || exit 1
tel=$(require_program "${2:-dpdk-telemetry.py}") || exit 1
driver_load_args "$1"
prefix="unify-tpm-$$"
work=$(mktemp -d)
trap 'dpdk_cleanup "$prefix"; rm -rf "$work"' EXIT

query() {
    printf '%s\n' /elastic/list /elastic/maintenance /elastic/info,mb_pool_0 |
        timeout 20 python3 "$tel" -f "$prefix" 2>>"$work/tel_err"
}

# shellcheck disable=SC2086
( (sleep 3; query >"$work/q1"; sleep 1; query >"$work/q2"; sleep 1; echo) |
    env "${LOAD_ENV[@]}" ELASTIC_MEMPOOL_TICK_MS=10 ELASTIC_MEMPOOL_SAMPLE_MS=20 \
    timeout -k 10 60 "${TESTPMD_BIN:-dpdk-testpmd}" \
    --no-pci --file-prefix="$prefix" -l 0-1 "${LOAD_ARGS[@]}" \
    --vdev=net_null0 --vdev=net_null1 --mbuf-pool-ops-name=elastic \
    ${ELASTIC_EAL_ARGS:-} \
    -- --forward-mode=io --auto-start >"$work/log" 2>&1 )
echo "--- first query"; cat "$work/q1"; echo "--- second query"; cut -c1-400 "$work/q2"
[ -s "$work/tel_err" ] && { echo "--- dpdk-telemetry.py stderr"; cat "$work/tel_err"; }

python3 - "$work/q1" "$work/q2" <<'PY'
import json, sys
def load(f):
    r = {}
    for line in open(f):
        if line.strip():
            r.update(json.loads(line))
    return r
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
check(len(a) == 3 and len(b) == 3, "three replies each: %s / %s" % (list(a), list(b)))
if len(a) == 3 and len(b) == 3:
    check(a["/elastic/list"]["mempools"] == ["mb_pool_0"], "the pool: %s" % a["/elastic/list"])
    m1, m2 = a["/elastic/maintenance"], b["/elastic/maintenance"]
    check(m1["driver"] == "alarm" and m1["pools"] == 1, "one member, alarm: %s" % m1)
    check(m1["period_us"] == 10000, "the pool's tick drives the passes: %s" % m1)
    check(m2["passes"] > m1["passes"] + 20, "passes run: %s -> %s" % (m1, m2))
    check(m2["last_lcore"] == -1, "the alarm runs them (no lcore): %s" % m2)
    i1, i2 = a["/elastic/info"], b["/elastic/info"]
    check(i1["kind"] == "mempool" and i1["mode"] == "drop-in lazy", "drop-in pool: %s" % i1)
    check(i1["maintained"] == 1 and i1["tick_ms"] == 10, "ticked by the maintenance: %s" % i1)
    check(i2["nb_samples"] > i1["nb_samples"] > 0,
          "the maintenance ticks the pool (samples %d -> %d)" % (i1["nb_samples"],
                                                                  i2["nb_samples"]))
if bad:
    print("FAIL:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("PASS: testpmd's elastic pool is ticked by the shared maintenance from the EAL alarm")
PY
