#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# plot-policies.sh: one trace, every policy (static, patent, adaptive, breakeven) and the offline
# optimum; pinned bytes of each and the bytes in use over time as one PNG (gnuplot),
# docs/img/policies-<shape>.png by default. The family's own pool (elastic-trace-gen --pool-args)
# is used unless eval args after -- say otherwise.
#
# Usage: perf/plot-policies.sh [--shape S (burst)] [--seed N (1)] [--duration-s N (3600)]
#                              [--build DIR (build)] [--out FILE] [-- extra elastic-trace-eval args]
# Every program run is bounded by `timeout 120`. A policy the pool refuses (adaptive not
# available) is left out of the plot and said so on stderr.
set -eu -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
shape=burst
seed=1
duration=3600
build=$here/../build
out=
while [ $# -gt 0 ]; do
    case $1 in
    --shape) shape=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --duration-s) duration=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--shape S] [--seed N] [--duration-s N] [--build DIR] [--out FILE]" \
            "[-- eval args]" >&2
       exit 2 ;;
    esac
done
[ -n "$out" ] || out=$here/../docs/img/policies-$shape.png
mkdir -p "$(dirname "$out")"
command -v gnuplot >/dev/null || { echo "plot-policies: gnuplot not installed" >&2; exit 1; }

dir=$(mktemp -d /tmp/elastic-plot.XXXXXX)
trap 'rm -rf "$dir"' EXIT
timeout 120 "$build/perf/elastic-trace-gen" --shape "$shape" --seed "$seed" \
    --duration-s "$duration" --out "$dir/trace.csv"

plot=""
pool=$("$build/perf/elastic-trace-gen" --pool-args "$shape")
for pol in static patent adaptive breakeven optimum; do
    rc=0
    # shellcheck disable=SC2086
    json=$(timeout 120 "$build/perf/elastic-trace-eval" --trace "$dir/trace.csv" --policy "$pol" \
        --timeline "$dir/$pol.tl" $pool "$@") || rc=$?
    if [ $rc -eq 3 ]; then
        echo "plot-policies: $pol: not available, left out" >&2
        continue
    elif [ $rc -ne 0 ]; then
        echo "plot-policies: $pol: elastic-trace-eval failed (exit $rc)" >&2
        exit 1
    fi
    echo "$json"
    num() { echo "$json" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
    mean=$(( $(num mean_pinned_bytes) / 1048576 ))
    label="$pol: mean $mean MiB pinned, $(num grows) grows, $(num stalls) stalls"
    label="$label, $(num queued) queued"
    case $pol in
    static) style="lw 2 dt 2 lc rgb '#404040'" ;;
    patent) style="lw 2 lc rgb '#d62728'" ;;
    adaptive) style="lw 2 lc rgb '#1f77b4'" ;;
    breakeven) style="lw 2 lc rgb '#ff7f0e'" ;;
    optimum) style="lw 1 dt 3 lc rgb '#2ca02c'"
             label="offline optimum (lower bound): mean $mean MiB" ;;
    esac
    plot="$plot, '$dir/$pol.tl' using (\$1/60):(\$2/1048576) with steps $style title '$label'"
    [ -n "${inuse:-}" ] || [ "$pol" = optimum ] || inuse=$dir/$pol.tl
done
[ -n "$plot" ] || { echo "plot-policies: nothing to plot" >&2; exit 1; }

gnuplot <<EOF
set terminal pngcairo size 1400,640 font 'DejaVu Sans,11'
set output '$out'
set title "Trace '$shape' (seed $seed, $duration s): pinned bytes per policy and bytes in use"
set xlabel 'time (minutes)'
set ylabel 'MiB'
set grid
set key top left box opaque
set yrange [0:*]
set offsets 0, 0, graph 0.25, 0
plot '$inuse' using (\$1/60):(\$3/1048576) with filledcurves y1=0 lc rgb '#b0d8b0' \\
    title 'in use (buffers handed out)' $plot
EOF
echo "plot-policies: wrote $out"
