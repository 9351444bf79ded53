#!/bin/bash
# The guard for PMDs that snapshot pool memory, with AF_XDP on a veth pair in a network
# namespace this test makes: dpdk-testpmd (unmodified, drop-in elastic pool, rxonly) owns
# net_af_xdp on one end; frames are sent into the other end from inside the namespace. AF_XDP
# builds its umem once, from the pool's first memory chunk, at Rx queue set-up (DPDK 22.11
# drivers/net/af_xdp/rte_eth_af_xdp.c, xdp_umem_configure/get_base_addr): mbufs of a chunk grown
# later lie outside it and reception would stop without an error. The maintenance is asked to
# grow ahead at once (low watermark above the base): the guard must refuse, log its line, flag
# the pool (telemetry 'guarded') and keep it at its base, and reception must go on.
#   tests/dpdk/af_xdp-guard.sh <librte_mempool_elastic.so> [dpdk-telemetry.py]
set -u
here=$(dirname "$0")
. "$here/common.sh"
TESTPMD_BIN=$(require_program "${TESTPMD_BIN:-dpdk-testpmd}") || exit 1
tel=$(require_program "${2:-dpdk-telemetry.py}") || exit 1
driver_load_args "$1"
prefix="ep-afxdp-$$"
ns="ep-afxdp-$$"
work=$(mktemp -d)
cleanup() {
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    dpdk_cleanup "$prefix"
    rm -rf "$work"
}
trap cleanup EXIT

skip() {
    echo "SKIP: $*"
    exit 77
}
ip netns add "$ns" || skip "cannot create a network namespace"
ip -n "$ns" link add epx0 type veth peer name epx1 || skip "no veth in this kernel"
ip -n "$ns" link set epx0 up && ip -n "$ns" link set epx1 up || exit 1
[ -e /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/librte_net_af_xdp.so ] ||
    ls /usr/lib/*/dpdk/pmds-*/librte_net_af_xdp.so >/dev/null 2>&1 ||
    skip "DPDK has no net_af_xdp PMD"

query() {
    printf '%s\n' /elastic/info,mb_pool_0 /ethdev/stats,0 |
        timeout 20 ip netns exec "$ns" python3 "$tel" -f "$prefix" 2>>"$work/tel_err"
}

# Frames into epx1 -> epx0 (AF_XDP) for 12 s, from inside the namespace; bounded by time and
# count. Each carries a sequence number (the test checks reception, not content).
sender() {
    ip netns exec "$ns" timeout 16 python3 - <<'PY'
import socket, struct, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("epx1", 0))
dst, src = b"\xff" * 6, b"\x02\x00\x00\x00\x00\x01"
end, n = time.time() + 12, 0
refused = 0
while time.time() < end and n < 3_000_000:
    try:
        s.send(dst + src + b"\x88\xb5" + struct.pack("!Q", n) + b"\0" * 50)
        n += 1
    except OSError:  # ENOBUFS: the veth's queue is full; try again
        refused += 1
        time.sleep(0.0005)
print("sent", n, "refused", refused)
PY
}

# shellcheck disable=SC2086
( (sleep 4; sender >"$work/sent" & sleep 3; query >"$work/q1"; sleep 3; query >"$work/q2";
   wait; sleep 1; echo) |
    ip netns exec "$ns" env "${LOAD_ENV[@]}" ELASTIC_MEMPOOL_BASE_OBJS=8192 \
    ELASTIC_MEMPOOL_CHUNK_OBJS=2048 ELASTIC_MEMPOOL_LOW_WATERMARK=16384 \
    ELASTIC_MEMPOOL_TICK_MS=10 \
    timeout -k 10 60 "$TESTPMD_BIN" \
    --no-pci --file-prefix="$prefix" -l 0-1 "${LOAD_ARGS[@]}" \
    --vdev=net_af_xdp0,iface=epx0,start_queue=0,queue_count=1 --mbuf-pool-ops-name=elastic \
    ${ELASTIC_EAL_ARGS:-} \
    -- --forward-mode=rxonly --auto-start --total-num-mbufs=32768 >"$work/log" 2>&1 )
echo "--- testpmd (elastic and af_xdp lines)"
grep -iE "elastic|af_xdp|xsk|umem|RX-packets|rx_nombuf" "$work/log" | head -30
echo "--- sender: $(cat "$work/sent" 2>/dev/null)"
echo "--- queries"; cut -c1-600 "$work/q1"; cut -c1-600 "$work/q2"
[ -s "$work/tel_err" ] && { echo "--- dpdk-telemetry.py stderr"; cat "$work/tel_err"; }
if grep -qiE "Failed to (create|configure) (umem|xsk)|xsk_socket__create failed|Failed to create xsk" \
    "$work/log"; then
    skip "the kernel refused an AF_XDP socket on a veth (see the testpmd lines above)"
fi

python3 - "$work/q1" "$work/q2" "$work/log" <<'PY'
import json, re, sys
def load(f):
    r = {}
    for line in open(f):
        if line.strip():
            r.update(json.loads(line))
    return r
a, b = load(sys.argv[1]), load(sys.argv[2])
log = open(sys.argv[3]).read()
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
check("(af_xdp) takes mbufs from elastic pools and that PMD learns pool memory only once" in log,
      "the guard's log line")
check(len(a) == 2 and len(b) == 2, "two replies each: %s / %s" % (list(a), list(b)))
if len(a) == 2 and len(b) == 2:
    i1, i2 = a["/elastic/info"], b["/elastic/info"]
    check(i1["guarded"] == 1 and i2["guarded"] == 1, "guarded: %s" % i2.get("guarded"))
    check(i2["guard_port"] == 0, "port 0 set it")
    check(i2["nb_chunks"] == 1 and i2["populated"] == 8192,
          "the pool stays at its base: %d chunks, %d objects" % (i2["nb_chunks"],
                                                                 i2["populated"]))
    check(i2["nb_grows"] == 0, "no growth: %d" % i2["nb_grows"])
    check(i2["nb_guard_refusals"] > 0, "growth ahead was asked for and refused by the guard")
    check(i2["nb_wall_hits"] == 0 and i2["nb_grow_fail"] == 0,
          "a guard refusal is neither a wall hit nor a provider failure: %d, %d" %
          (i2["nb_wall_hits"], i2["nb_grow_fail"]))
    check(i2["limit_hit"] == "guard", "limit_hit: %s" % i2["limit_hit"])
    s1, s2 = a["/ethdev/stats"], b["/ethdev/stats"]
    check(s1["ipackets"] > 1000, "reception started: %d" % s1["ipackets"])
    check(s2["ipackets"] > s1["ipackets"] + 1000,
          "reception goes on: %d -> %d" % (s1["ipackets"], s2["ipackets"]))
    print("received %d packets by the first query, %d by the second; guarded, %d objects" %
          (s1["ipackets"], s2["ipackets"], i2["populated"]))
if bad:
    print("FAIL:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("PASS: the AF_XDP port's pool stays at its base (guarded) and reception goes on")
PY
