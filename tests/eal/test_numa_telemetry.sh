#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# NUMA telemetry test: start test_numa_telemetry_app (pools of both faces on the first node, the
# node capped) with its own --file-prefix, query /elastic/nodes and /elastic/node,<n> with DPDK's
# dpdk-telemetry.py, check the answers, stop it and remove what the EAL left behind.
# Usage: test_numa_telemetry.sh <test_numa_telemetry_app> [dpdk-telemetry.py]
# Honours ELASTIC_EAL_ARGS (e.g. "--no-huge -m 512") like the other EAL tests.
set -u
app=${1:?usage: $0 <test_numa_telemetry_app> [dpdk-telemetry.py]}
tel=${2:-dpdk-telemetry.py}
prefix=numa_tel_$$
work=$(mktemp -d)
pid=
cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')

cleanup() {
    exec 3>&- 2>/dev/null
    if [ -n "$pid" ]; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "/var/run/dpdk/$prefix" "${XDG_RUNTIME_DIR:-/tmp}/dpdk/$prefix" "$work"
    rm -f /dev/hugepages/"${prefix}"map_*
}
trap cleanup EXIT

mkfifo "$work/in"
# shellcheck disable=SC2086 # ELASTIC_EAL_ARGS is a list of words
"$app" --no-pci --file-prefix="$prefix" -l "$cpu" --log-level=lib.eal:error \
    ${ELASTIC_EAL_ARGS:-} <"$work/in" >"$work/out" 2>"$work/err" &
pid=$!
exec 3>"$work/in"

for _ in $(seq 200); do
    grep -q READY "$work/out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q READY "$work/out"; then
    echo "FAIL: the program did not get ready"; cat "$work/out" "$work/err"; exit 1
fi
ready=$(grep READY "$work/out")
echo "$ready"
node=$(sed -n 's/.* node=\([0-9]*\) .*/\1/p' <<<"$ready")

printf '%s\n' /elastic/nodes "/elastic/node,$node" /elastic/node,999 /elastic/node,x \
    /elastic/node | timeout 20 python3 "$tel" -f "$prefix" >"$work/replies" 2>"$work/tel_err"
echo "--- replies"; cat "$work/replies"

python3 - "$work/replies" "$ready" <<'PY'
import json, re, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ready = dict(kv.split("=") for kv in sys.argv[2].split()[2:])
node, cap, refusals = int(ready["node"]), int(ready["cap"]), int(ready["refusals"])
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
check(len(r) == 5, "five replies, got %d" % len(r))
ns = r[0]["/elastic/nodes"]
check(ns["topology"] == "eal", "topology from the EAL: %s" % ns)
check(ns["budgets"] == "shared", "budgets in the shared memzone: %s" % ns)
check(node in ns["nodes"], "first node listed: %s" % ns)
i = ns["nodes"].index(node)
for k in ("cap_bytes", "pinned_bytes", "cap_refusals", "local_memory", "nb_pools"):
    check(len(ns[k]) == len(ns["nodes"]), "one %s per node" % k)
check(ns["cap_bytes"][i] == cap, "cap of node %d: %s" % (node, ns))
check(ns["cap_refusals"][i] == refusals and refusals >= 1, "refusals: %s" % ns)
check(ns["pinned_bytes"][i] + 64 * 1024 == cap, "pinned = cap - 64 KiB: %s" % ns)
check(ns["nb_pools"][i] >= 2, "both faces counted: %s" % ns)
n = r[1]["/elastic/node"]
check(n["node"] == node and n["cap_bytes"] == cap, "node reply: %s" % n)
check(n["pinned_bytes"] == ns["pinned_bytes"][i], "same pinned figure")
check("ntel-v" in n["pools"], "variable-size pool listed: %s" % n)
check("ntel-big" not in n["pools"], "the refused pool is not: %s" % n)
check(len(n["pools"]) == len(n["pools_pinned_bytes"]), "one pinned figure per pool")
check(n["pools_pinned_bytes"][n["pools"].index("ntel-v")] == 64 * 1024, "ntel-v pins 64 KiB")
mname = "ntelm@%d" % node
check(mname in n["mempools"], "family mempool listed: %s" % n)
check(len(n["mempools"]) == len(n["mempools_pinned_bytes"]), "one figure per mempool")
if mname in n["mempools"]:
    check(n["mempools_pinned_bytes"][n["mempools"].index(mname)] > 0, "mempool pins its base")
check(sum(n["pools_pinned_bytes"]) + sum(n["mempools_pinned_bytes"]) == n["pinned_bytes"],
      "the node's pinned bytes are its pools': %s" % n)
for k in (2, 3, 4):
    check(r[k]["/elastic/node"] is None, "bad parameter %d gives null" % k)
if bad:
    print("FAIL:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("numa telemetry: all checks passed")
PY
status=$?
[ -s "$work/tel_err" ] && { echo "--- dpdk-telemetry.py stderr"; cat "$work/tel_err"; }
echo quit >&3
exit $status
