#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# elastic-fwd under one phase schedule with three pools, one run each, one after the other:
#   elastic      the elastic family (base 3,200 mbufs, chunks of 800, wall 16,000)
#   static-base  an ordinary ring pktmbuf pool of 3,200 mbufs: the elastic pool's base
#   static-peak  an ordinary ring pktmbuf pool sized for the peak: as many mbufs as the elastic
#                pool had at its largest in the first run
# Each run: elastic-fwd-gen (net_vhost) -> elastic-fwd (net_virtio_user, hold stage 50 ms) and
# back (apps/elastic-fwd/pair.sh). Prints, per pool: frames offered and received, drops
# (offered - received: refused by the port because the forwarder had no mbuf to refill its Rx
# ring with, or dropped by the forwarder), peak pinned MiB and pinned MiB x s over the schedule;
# writes a PNG of pinned MiB and Mpps over time.
#
#   perf/fwd-compare.sh [--build DIR] [--out DIR] [--png FILE] [--schedule SPEC]
#
# Defaults: build/, a fresh temporary directory (kept, its path printed), docs/img/fwd-compare.png,
# low:4:10000,burst:6:100000,low:10:10000,idle:4:0. Needs gnuplot (Debian gnuplot-nox, installed
# by scripts/setup.sh) for the PNG; the table is printed without it. Run as root on a machine with
# hugepages (each process stays under 64 of them). Other load on the machine shows as frames
# refused in every run (the generator or the forwarder did not get the CPU in time).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
out=
png=$root/docs/img/fwd-compare.png
sched=low:4:10000,burst:6:100000,low:10:10000,idle:4:0
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --png) png=$2; shift 2 ;;
    --schedule) sched=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "fwd-compare: unknown option $1 (--help)" >&2; exit 2 ;;
    esac
done
fwd=$build/apps/elastic-fwd/elastic-fwd
gen=$build/apps/elastic-fwd/elastic-fwd-gen
for p in "$fwd" "$gen"; do
    [ -x "$p" ] || { echo "fwd-compare: $p not built (meson compile -C $build)" >&2; exit 1; }
done
[ -n "$out" ] || out=$(mktemp -d /tmp/fwd-compare.XXXXXX)
mkdir -p "$out"
. "$root/apps/elastic-fwd/pair.sh"
cleanup() {
    local j
    for j in $(jobs -p); do kill "$j" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM

base_objs=3200
chunk_objs=800
n_max=16000
delay_us=50000
sched_s=$(awk -F, '{ for (i = 1; i <= NF; i++) { split($i, p, ":"); s += p[2] } } END { print s }' \
    <<<"$sched")
common=(--delay-us "$delay_us" --idle-sleep-us 100 --quiet)
elastic_opts=(--base-objs "$base_objs" --chunk-objs "$chunk_objs" --n-max "$n_max"
    --tick-ms 100 --sample-ms 500 --idle-ms 2000 --headroom 1)

echo "schedule $sched ($sched_s s), hold stage $delay_us us; results in $out"
fwd_pair_run "$fwd" "$gen" "$out" elastic "${common[@]}" "${elastic_opts[@]}" -- \
    --schedule="$sched" --quiet || echo "fwd-compare: the elastic run failed (see $out)"
# The peak: the most chunks the elastic pool held (CSV column 7), as mbufs.
peak_chunks=$(awk -F, 'NR > 1 && $7 > m { m = $7 } END { print m + 0 }' "$out/elastic.fwd.csv")
peak_objs=$((base_objs + (peak_chunks - 1) * chunk_objs))
[ "$peak_chunks" -ge 1 ] || peak_objs=$n_max
fwd_pair_run "$fwd" "$gen" "$out" static-base "${common[@]}" --pool static --n-max "$base_objs" \
    -- --schedule="$sched" --quiet || echo "fwd-compare: the static-base run failed (see $out)"
fwd_pair_run "$fwd" "$gen" "$out" static-peak "${common[@]}" --pool static --n-max "$peak_objs" \
    -- --schedule="$sched" --quiet || echo "fwd-compare: the static-peak run failed (see $out)"

# Per run: the forwarder's rows from its first row with traffic in, for the schedule's length,
# with the time shifted to start at 0 (time, pinned MiB, Mpps in) -> <run>.series; the pinned
# MiB x s over those rows (pinned of each row x the time since the row before).
printf '\n%-12s %8s %10s %10s %9s %7s %10s %11s %10s %10s\n' pool mbufs offered received drops \
    "drop %" nombuf "peak MiB" "MiB x s" "avg MiB"
for run in elastic static-base static-peak; do
    csv=$out/$run.fwd.csv
    [ -f "$csv" ] || continue
    awk -F, -v len="$sched_s" -v series="$out/$run.series" '
        NR == 1 { next }
        t0 == "" && $2 > 0 { t0 = prev_t; if (t0 == "") t0 = $1 - 1 }
        { if (t0 != "" && $1 - t0 <= len + 0.5) {
              dt = $1 - (last == "" ? t0 : last); mibs += $6 * dt; span += dt
              if ($6 > peak) peak = $6
              printf "%.3f %.3f %.6f\n", $1 - t0, $6, $2 > series
              last = $1 }
          prev_t = $1 }
        END { printf "%.1f %.1f %.1f\n", peak, mibs, (span > 0 ? mibs / span : 0) }' "$csv" \
        >"$out/$run.mem"
    read -r peak mibs avg <"$out/$run.mem"
    log=$out/$run.gen.log
    offered=$(fwd_pair_field "$log" "gen " offered)
    received=$(fwd_pair_field "$log" "gen " received)
    nombuf=$(fwd_pair_field "$out/$run.fwd.log" "summary " rx_nombuf)
    case $run in
    elastic) mbufs="$base_objs-$peak_objs" ;;
    static-base) mbufs=$base_objs ;;
    *) mbufs=$peak_objs ;;
    esac
    drops=$(( ${offered:-0} - ${received:-0} ))
    printf '%-12s %8s %10s %10s %9s %7s %10s %11s %10s %10s\n' "$run" "$mbufs" "${offered:-?}" \
        "${received:-?}" "$drops" \
        "$(awk -v d="$drops" -v o="${offered:-0}" 'BEGIN { printf "%.2f", o ? 100 * d / o : 0 }')" \
        "${nombuf:-?}" "$peak" "$mibs" "$avg"
done | tee "$out/table.txt"

if ! command -v gnuplot >/dev/null; then
    echo "fwd-compare: gnuplot not installed: no PNG (Debian package gnuplot-nox)"
    exit 0
fi
mkdir -p "$(dirname "$png")"
gnuplot <<EOF
set terminal pngcairo size 1000,700 font ",10"
set output "$png"
set multiplot layout 2,1 \
    title "elastic-fwd, schedule $sched, hold $((delay_us / 1000)) ms per packet"
set grid
set key top right
set ylabel "pinned MiB"
set xrange [0:$sched_s]
set yrange [0:*]
plot "$out/elastic.series" using 1:2 with steps lw 2 title "elastic", \
     "$out/static-base.series" using 1:2 with steps lw 2 \
         title "static, elastic's base ($base_objs mbufs)", \
     "$out/static-peak.series" using 1:2 with steps lw 2 dt 2 \
         title "static, sized for the peak ($peak_objs mbufs)"
set ylabel "Mpps forwarded in"
set xlabel "seconds since traffic started"
plot "$out/elastic.series" using 1:3 with fsteps lw 2 title "elastic", \
     "$out/static-base.series" using 1:3 with fsteps lw 2 title "static, base", \
     "$out/static-peak.series" using 1:3 with fsteps lw 2 dt 2 title "static, peak"
unset multiplot
EOF
echo "plot: $png"
