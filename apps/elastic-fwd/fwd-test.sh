#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# meson tests of elastic-fwd (suite dpdk):
#   fwd-test.sh schedule <elastic-fwd> <elastic-fwd-gen>
#     a short schedule (low -> burst -> low -> idle) through the vhost-user/virtio-user pair
#     (pair.sh); passes when the pool grew during the burst and shrank after it, no returned
#     frame was bad, every frame the forwarder received came back or is counted in its drops
#     (exactly), the generator's sent - the forwarder's received is at most a ring (vhost-user
#     lost 1 and 3 frames in 2 of 14 runs, the 1 in the first phase: accepted by net_vhost's Tx,
#     never seen by virtio-user's Rx; cause not found), and the forwarder exited cleanly (every
#     mbuf back, its pools' hugepages returned: it checks both itself and exits 1 otherwise).
#   fwd-test.sh interrupt <elastic-fwd> <elastic-fwd-gen>
#     SIGINT to the forwarder in the middle of a burst: it exits 0 all the same (every mbuf back,
#     hugepages returned), no frame was bad, and the counts differ by at most a ring.
#   fwd-test.sh options <elastic-fwd> <elastic-fwd-gen>
#     bad options: exit 2 with a message naming the option, before any EAL start; --help exits 0.
set -u
mode=$1
fwd=$2
gen=$3
here=$(dirname "$0")
fail=0
check() { # check <description> <condition command...>
    local what=$1
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAIL: $what"
        fail=1
    fi
}

if [ "$mode" = options ]; then
    # expect_usage <program> <word that must be in the message> <args...>
    expect_usage() {
        local prog=$1 word=$2 out rc
        shift 2
        out=$(timeout 10 "$prog" "$@" 2>&1)
        rc=$?
        if [ $rc -eq 2 ] && grep -qF -- "$word" <<<"$out"; then
            echo "ok: $(basename "$prog") $* -> exit 2: $out"
        else
            echo "FAIL: $(basename "$prog") $* -> exit $rc (want 2 naming $word): $out"
            fail=1
        fi
    }
    expect_usage "$fwd" --bogus -- --bogus
    expect_usage "$fwd" --delay-us -- --delay-us=abc
    expect_usage "$fwd" --delay-us -- --delay-us 99999999
    expect_usage "$fwd" --pool -- --pool=ring
    expect_usage "$fwd" --n-max -- --n-max
    expect_usage "$fwd" --burst -- --burst 0
    expect_usage "$fwd" --base-objs -- --base-objs 5000 --n-max 4000
    expect_usage "$fwd" --prefix -- --prefix a@b
    expect_usage "$gen" --schedule -- --schedule low:2
    expect_usage "$gen" --schedule -- --schedule low:-1:100
    expect_usage "$gen" --schedule -- --schedule low:1:fast
    expect_usage "$gen" --size -- --size 20
    expect_usage "$gen" --frobnicate -- --frobnicate
    for p in "$fwd" "$gen"; do
        out=$(timeout 10 "$p" --help 2>&1)
        rc=$?
        check "$(basename "$p") --help exits 0 with a usage text" \
            test $rc -eq 0 -a -n "$(grep Usage: <<<"$out")"
    done
    # No EAL ran: no runtime directory was made by these.
    [ $fail -eq 0 ] && echo "PASS: bad options exit 2 and name the option"
    exit $fail
fi

case $mode in
schedule|interrupt) ;;
*) echo "usage: fwd-test.sh schedule|interrupt|options <fwd> <gen>"; exit 1 ;;
esac
case " ${ELASTIC_EAL_ARGS:-} " in
*" --no-huge "*)
    echo "SKIP: vhost-user maps the forwarder's hugepage files; --no-huge memory cannot be shared"
    exit 77 ;;
esac
if [ "$(nproc)" -lt 2 ]; then
    echo "SKIP: the forwarder needs two lcores (main and worker) on two CPUs"
    exit 77
fi

. "$here/pair.sh"
out=$(mktemp -d)
cleanup() {
    local j
    for j in $(jobs -p); do kill "$j" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

g() { fwd_pair_field "$out/t.gen.log" "gen " "$1"; }
f() { fwd_pair_field "$out/t.fwd.log" "summary " "$1"; }
show_logs() {
    echo "--- generator"
    grep -v "^EAL:\|^TELEMETRY:" "$out/t.gen.log"
    echo "--- forwarder"
    grep -v "^EAL:\|^TELEMETRY:" "$out/t.fwd.log"
    echo "---"
}

if [ "$mode" = interrupt ]; then
    # SIGINT in the middle of a burst: the hold stage holds ~5,000 mbufs, the rings more, the
    # pool has grown. The forwarder must still exit 0: every mbuf back (it counts them), its
    # pools' hugepages returned (its own hugepage files shrink back).
    FWD_PAIR_INT_AFTER_S=8 fwd_pair_run "$fwd" "$gen" "$out" t \
        --delay-us 50000 --idle-sleep-us 100 --tick-ms 100 --sample-ms 500 --idle-ms 2000 -- \
        --schedule=low:3:10000,burst:30:100000
    show_logs
    ring=1024
    sent=$(g sent) received=$(g received) bad=$(g bad)
    frx=$(f rx) ftx=$(f tx) fheld=$(f held_at_exit) grows=$(f grows)
    if [ -z "$sent" ] || [ -z "$frx" ]; then
        echo "FAIL: no summary line (generator sent='$sent', forwarder rx='$frx')"
        exit 1
    fi
    check "the forwarder exited cleanly after SIGINT" grep -q "^clean exit" "$out/t.fwd.log"
    check "interrupted while holding packets (held at exit $fheld) in a grown pool" \
        test "$fheld" -gt 0 -a "$grows" -ge 1
    check "no bad frame (bad=$bad)" test "$bad" -eq 0
    check "generator sent $sent - forwarder received $frx in [0, $ring] (its Rx ring)" \
        test $((sent - frx)) -ge 0 -a $((sent - frx)) -le $ring
    check "forwarder sent $ftx - generator received $received in [0, $ring]" \
        test $((ftx - received)) -ge 0 -a $((ftx - received)) -le $ring
    [ $fail -eq 0 ] && echo "PASS: SIGINT during a burst: $fheld held mbufs and the rings went" \
        "back, the grown pool's hugepages were returned"
    exit $fail
fi

# 17 s of schedule. In flight during the burst: 100 kpps x 50 ms = 5,000 mbufs, more than the
# 3,200-mbuf base holds with the rings; at 10 kpps, 500. Short maintenance periods (sample
# 0.5 s, idle 2 s) let the burst's chunks go back during the second low phase.
sched=low:3:10000,burst:5:100000,low:6:10000,idle:3:0
burst_pps=100000
# Telemetry, as for every pool: 6 s in (the burst), from the forwarder's file prefix (pair.sh).
tel=$(command -v "${FWD_TELEMETRY:-dpdk-telemetry.py}") ||
    { echo "FAIL: dpdk-telemetry.py not found (Debian package dpdk)"; exit 1; }
( sleep 6
  printf '%s\n' /elastic/list /elastic/maintenance /elastic/info,fwd@0 |
      timeout 20 python3 "$tel" -f "${FWD_PAIR_PREFIX:-efwd}-$$-f" >"$out/tel.txt" 2>&1 ) &
fwd_pair_run "$fwd" "$gen" "$out" t \
    --delay-us 50000 --idle-sleep-us 100 --base-objs 3200 --chunk-objs 800 --n-max 16000 \
    --tick-ms 100 --sample-ms 500 --idle-ms 2000 --headroom 1 -- \
    --schedule="$sched"
pair_ok=$?
show_logs
echo "--- telemetry during the burst"
cut -c1-400 "$out/tel.txt"
check "both programs exited 0" test $pair_ok -eq 0
check "telemetry lists the family's pool fwd@0" grep -q '"mempools": \["fwd@0"\]' "$out/tel.txt"
check "telemetry describes fwd@0 (an elastic mempool)" \
    grep -q '"kind": "mempool", "name": "fwd@0"' "$out/tel.txt"
check "telemetry names the maintenance driver (the EAL alarm here)" \
    grep -q '"driver": "alarm"' "$out/tel.txt"
sent=$(g sent) received=$(g received) bad=$(g bad)
frx=$(f rx) fdrops=$(f drops) fheld=$(f held_at_exit) grows=$(f grows) shrinks=$(f shrinks)
if [ -z "$sent" ] || [ -z "$frx" ]; then
    echo "FAIL: no summary line (generator sent='$sent', forwarder rx='$frx')"
    exit 1
fi
check "no bad frame (bad=$bad)" test "$bad" -eq 0
ring=1024
check "generator sent $sent - forwarder received $frx in [0, $ring] (vhost-user, see the top)" \
    test $((sent - frx)) -ge 0 -a $((sent - frx)) -le $ring
check "forwarder received $frx - generator received $received = drops $fdrops + held $fheld" \
    test $((frx - received)) -eq $((fdrops + fheld))
check "the forwarder's pool grew ($grows chunks) and shrank ($shrinks chunks)" \
    test "$grows" -ge 1 -a "$shrinks" -ge 1

# The timeline (forwarder's CSV: time_s,mpps_in,...,pinned_mib,...): the burst rows are those
# with at least half the burst rate in; pinned must be above the first row's during them, and
# below that peak in the last row (after the burst).
read -r base peak_burst last burst_rows < <(awk -F, -v half=$((burst_pps / 2)) '
    NR == 2 { base = $6 }
    NR > 1 && $2 * 1e6 >= half { n++; if ($6 > pb) pb = $6 }
    NR > 1 { last = $6 }
    END { printf "%s %s %s %d\n", base, (pb == "" ? 0 : pb), last, n }' "$out/t.fwd.csv")
echo "pinned MiB: first row $base, peak during the burst $peak_burst, last row $last" \
    "($burst_rows burst rows)"
check "burst seen by the forwarder" test "$burst_rows" -ge 1
check "pinned rose during the burst" awk -v a="$peak_burst" -v b="$base" 'BEGIN { exit !(a > b) }'
check "pinned fell after the burst" awk -v a="$last" -v b="$peak_burst" 'BEGIN { exit !(a < b) }'
check "the forwarder's clean-exit checks passed" grep -q "^clean exit" "$out/t.fwd.log"
if grep -q "^hugepages of this process: [0-9]" "$out/t.fwd.log"; then
    echo "ok: $(grep "^hugepages of this process" "$out/t.fwd.log")"
fi
[ $fail -eq 0 ] && echo "PASS: the pool grew with the burst and shrank after it; $received of" \
    "$sent frames back intact, $((frx - received)) dropped by the forwarder, $((sent - frx)) lost before it"
exit $fail
