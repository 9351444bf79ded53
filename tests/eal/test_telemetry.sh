#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Telemetry test: start test_telemetry_app (pools in a known state) with its own --file-prefix,
# query it with DPDK's dpdk-telemetry.py, check the answers, stop it and remove what the EAL
# left behind. Usage: test_telemetry.sh <test_telemetry_app> [dpdk-telemetry.py]
# Honours ELASTIC_EAL_ARGS (e.g. "--no-huge -m 512") like the other EAL tests.
set -u
app=${1:?usage: $0 <test_telemetry_app> [dpdk-telemetry.py]}
tel=${2:-dpdk-telemetry.py}
prefix=ops_tel_$$
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

printf '%s\n' /elastic/list /elastic/info,tel-a /elastic/info,tel-b /elastic/maintenance \
    /elastic/info,no-such-pool /elastic/info /elastic/info,tel-mp /elastic/info,tel-mp-auto | \
    timeout 20 python3 "$tel" -f "$prefix" >"$work/replies" 2>"$work/tel_err"
echo "--- replies"; cat "$work/replies"

# Once more for the family pools, whose names depend on the machine's first node.
first_pool() {
    python3 -c 'import json,sys
l=json.loads(open(sys.argv[1]).readline())["/elastic/list"]["pools"]
print(sorted((n for n in l if n.startswith(sys.argv[2] + "@")),
             key=lambda n: int(n.split("@")[1]))[0])' "$work/replies" "$1"
}
printf '%s\n' "/elastic/info,$(first_pool telfam)" "/elastic/info,$(first_pool telcap)" | \
    timeout 20 python3 "$tel" -f "$prefix" >"$work/fam" 2>>"$work/tel_err"
cat "$work/fam"
cap=$(sed -n 's/^READY [0-9]* cap=\([01]\)$/\1/p' "$work/out")
[ "$cap" = 1 ] || echo "note: this core cannot cap nodes yet: the node_cap checks are skipped"

python3 - "$work/replies" "$work/fam" "$cap" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
fams = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
fam = fams[0]
cap_on = sys.argv[3] == "1"
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
check(len(r) == 8, "eight replies, got %d" % len(r))
names = r[0]["/elastic/list"]["pools"]
mempools = r[0]["/elastic/list"]["mempools"]
check(sorted(mempools) == ["tel-mp", "tel-mp-auto"], "list has the two mempools: %s" % mempools)
check("tel-mp" not in names, "mempools are not in the pools list: %s" % names)
check("tel-a" in names and "tel-b" in names, "list has tel-a and tel-b: %s" % names)
fam_names = [n for n in names if n.startswith("telfam@")]
check(len(fam_names) >= 1, "list has the family's pools: %s" % names)
a = r[1]["/elastic/info"]
check(a["name"] == "tel-a" and a["kind"] == "pool", "name, kind")
check(a["nb_chunks"] == 3 and a["nb_grows"] == 2, "tel-a grew to 3 chunks: %s" % a)
check(a["pinned_bytes"] == 3 * 65536, "tel-a pinned 192 KiB")
check(a["in_use_bytes"] == 3 * 65536 and a["peak_in_use_bytes"] == 3 * 65536, "tel-a in use")
check(a["thread_cached_bytes"] == 0, "tel-a has no thread cache: %s" % a.get("thread_cached_bytes"))
check(a["chunk_sizes"] == [65536] * 3, "chunk sizes %s" % a.get("chunk_sizes"))
check(a["chunk_in_use"] == [1, 1, 1], "chunk in use %s" % a.get("chunk_in_use"))
check(a["chunk_free_bytes"] == [0, 0, 0], "chunk free %s" % a.get("chunk_free_bytes"))
check(len(a["chunk_idle_ms"]) == 3, "idle times")
check(a["wall_size"] == 320 * 1024 and a["limit_hit"] == "none", "tel-a limit none")
check(a["nb_allocs"] == 3 and a["nb_alloc_fail"] == 0, "tel-a counters")
check(a["provider"] == "memzone", "memzone provider")
for k in ("sizing_recommended_base", "sizing_recommended_wall", "sizing_socket_mem_mb",
          "sizing_hugepages_2m", "tick_ms", "sample_period_ms", "idle_period_ms"):
    check(k in a, "tel-a has " + k)
check(a["tick_ms"] == 500 and a["sample_period_ms"] == 60000, "default periods")
b = r[2]["/elastic/info"]
check(b["nb_alloc_fail"] == 1 and b["limit_hit"] == "wall", "tel-b hit the wall: %s" % b)
check(b["nb_wall_hits"] == 1 and b["nb_cap_hits"] == 0, "tel-b counted a wall hit: %s" % b)
check(b["nb_chunks"] == 1 and b["in_use_bytes"] == 65536, "tel-b state")
m = r[3]["/elastic/maintenance"]
check(m["driver"] == "alarm", "maintenance from the alarm (no service lcore): %s" % m)
auto_pools = [n for n in names if n.startswith("telfam@") or n.startswith("telcap@")]
# the families' pools and tel-mp-auto have automatic ticks (tel-a, tel-b, tel-mp: manual)
check(m["pools"] == len(auto_pools) + 1, "one maintenance for pools and mempools: %s" % m)
check(r[4]["/elastic/info"] is None, "unknown pool gives null")
check(r[5]["/elastic/info"] is None, "no parameter gives null")
f = fam["/elastic/info"]
check(f["numa_family"] == "telfam" and f["provider"] == "heap", "family pool: %s" % f)
check(f["numa_node"] == f["socket_id"], "family pool on its node")
c = fams[1]["/elastic/info"]
check(c["numa_family"] == "telcap", "second family: %s" % c)
check(cap_on, "the node cap is in force (elastic_numa_node_cap_set worked)")
check(c["limit_hit"] == "node_cap" and c["node_cap_refusals"] == 1, "node cap hit: %s" % c)
check(c["nb_cap_hits"] == 1 and c["nb_wall_hits"] == 0, "counted as a cap hit: %s" % c)
check(c["node_cap_bytes"] > 0 and c["node_pinned_bytes"] == c["node_cap_bytes"],
      "node figures: the cap is what the node's pools pinned: %s" % c)
check(f["node_cap_bytes"] == c["node_cap_bytes"] and f["limit_hit"] == "none",
      "telfam shares the cap")
mp = r[6]["/elastic/info"]
check(mp is not None and mp["kind"] == "mempool" and mp["name"] == "tel-mp", "tel-mp: %s" % mp)
if mp is not None:
    check(mp["mode"] == "explicit" and mp["size"] == 1024 and mp["maintained"] == 0,
          "tel-mp explicit, manual ticks: %s" % mp)
    check(mp["nb_chunks"] == 3 and mp["chunk_objs"] == [256] * 3, "tel-mp chunks: %s" % mp)
    check(mp["chunk_in_use"] == [256, 194, 0] and mp["in_use_objs"] == 450,
          "tel-mp in use: %s" % mp)
    check(mp["chunk_state"] == ["active"] * 3 and mp["retiring"] == 0, "tel-mp states")
    check(mp["nb_grows"] == 2 and mp["nb_grow_datapath"] == 1 and
          mp["nb_grow_maintenance"] == 1, "tel-mp grew once each way: %s" % mp)
    check(mp["in_use_bytes"] == 450 * mp["obj_bytes"], "tel-mp in-use bytes")
    check(mp["peak_in_use_objs"] == 450 and mp["populated"] == 768, "tel-mp peak, populated")
    check(mp["pinned_bytes"] == sum(mp["chunk_sizes"]) and mp["pinned_bytes"] > 0,
          "tel-mp pinned = its chunks")
    check(len(mp["chunk_idle_ms"]) == 3, "tel-mp idle times")
    check(mp["nb_alloc_fail"] == 0 and mp["limit_hit"] == "none", "tel-mp no failure")
    check(mp["low_watermark"] == 100 and mp["tick_ms"] == 500, "tel-mp periods")
ma = r[7]["/elastic/info"]
check(ma is not None and ma["kind"] == "mempool", "tel-mp-auto: %s" % ma)
if ma is not None:
    check(ma["maintained"] == 1, "tel-mp-auto ticked by the maintenance service: %s" % ma)
    check(ma["nb_chunks"] == 2 and ma["chunk_in_use"] == [128, 72], "tel-mp-auto chunks")
    check(ma["chunk_state"] == ["active", "retiring"] and ma["retiring"] == 1 and
          ma["nb_retire"] == 1 and ma["parked_objs"] == 56, "tel-mp-auto retiring: %s" % ma)
    check(ma["chunk_idle_ms"] == [2000, 2000], "fake-clock idle times: %s" % ma)
    check(ma["nb_alloc_fail"] == 1 and ma["limit_hit"] == "wall" and ma["nb_wall_hits"] == 1,
          "tel-mp-auto hit the wall: %s" % ma)
    check(ma["nb_grows"] == 1 and ma["nb_grow_datapath"] == 1 and ma["nb_shrinks"] == 0,
          "tel-mp-auto counters: %s" % ma)
    check(ma["idle_period_ms"] == 1000 and ma["headroom_chunks"] == 0, "tel-mp-auto periods")
if bad:
    print("FAIL:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("telemetry: all checks passed")
PY
status=$?
[ -s "$work/tel_err" ] && { echo "--- dpdk-telemetry.py stderr"; cat "$work/tel_err"; }
echo quit >&3
exit $status
