#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# eval-all.sh: every trace family x seeds x policies through elastic-trace-eval; prints a markdown
# table and checks the targets of issue 5.
#
# Usage: perf/eval-all.sh [BUILD_DIR]          (default: build, next to this script's parent)
# Environment:
#   SEEDS="1 2 3"        seeds per family
#   DURATION_S=3600      trace length (an hour replays in ~0.1 s per policy)
#   EVAL_ARGS=""         extra elastic-trace-eval options (e.g. "--chunk 8M --wall 128M")
#   KEEP_DIR=DIR         keep the traces and the JSON results in DIR (a temporary dir otherwise)
# Every program run is bounded by `timeout 120`. Exit status: 0 when every run worked (whether
# or not the targets hold), 1 when a run failed. "adaptive: not available" when the pool refuses
# ELASTIC_POOL_F_ADAPTIVE (elastic-trace-eval exit status 3).
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
gen=$build/perf/elastic-trace-gen
eval=$build/perf/elastic-trace-eval
seeds=${SEEDS:-1 2 3}
duration=${DURATION_S:-3600}
families="burst diurnal step sawtooth poisson flash-crowd"
policies="static patent adaptive"

for exe in "$gen" "$eval"; do
    if [ ! -x "$exe" ]; then
        echo "eval-all: $exe not built (ninja -C $build)" >&2
        exit 1
    fi
done
if [ -n "${KEEP_DIR:-}" ]; then
    dir=$KEEP_DIR
    mkdir -p "$dir"
else
    dir=$(mktemp -d /tmp/elastic-eval.XXXXXX)
    trap 'rm -rf "$dir"' EXIT
fi

# Base and chunk as the evaluator will use them (defaults or EVAL_ARGS), for the ideal column.
size_of() {
    local v=$1 m=1
    case $v in *[kK]*) m=1024 ;; *[mM]*) m=1048576 ;; *[gG]*) m=1073741824 ;; esac
    echo $(( ${v%%[!0-9]*} * m ))
}
base_b=$(size_of 16M)
chunk_b=$(size_of 16M)
set -- ${EVAL_ARGS:-}
while [ $# -gt 1 ]; do
    case $1 in --base) base_b=$(size_of "$2") ;; --chunk) chunk_b=$(size_of "$2") ;; esac
    shift
done

results=$dir/results.txt
: > "$results"
status=0
adaptive_ok=1
for fam in $families; do
    for seed in $seeds; do
        tr=$dir/$fam-$seed.csv
        if ! timeout 120 "$gen" --shape "$fam" --seed "$seed" --duration-s "$duration" \
                --out "$tr"; then
            echo "eval-all: generating $fam seed $seed failed" >&2
            status=1
            continue
        fi
        for pol in $policies; do
            tl=()
            [ "$pol" = patent ] && tl=(--timeline "$dir/$fam-$seed.tl")
            # shellcheck disable=SC2086
            out=$(timeout 120 "$eval" --trace "$tr" --policy "$pol" "${tl[@]}" ${EVAL_ARGS:-} \
                2>"$dir/err")
            rc=$?
            if [ $rc -eq 0 ]; then
                echo "$fam $seed $out" >> "$results"
                if [ "$pol" = patent ]; then
                    # Lower bound: whole chunks just covering the bytes in use at every row of
                    # the timeline (fragmentation ignored), base and chunk from the pool.
                    st=$(awk -v base="$base_b" -v chunk="$chunk_b" '
                        /^#/ { next }
                        { if (n++) s += need * ($1 - t); t = $1
                          need = base
                          if ($3 > base) need += int(($3 - base + chunk - 1) / chunk) * chunk }
                        END { printf "%.3f", s }' "$dir/$fam-$seed.tl")
                    echo "$fam $seed {\"policy\":\"ideal\",\"pinned_byte_seconds\":$st}" \
                        >> "$results"
                fi
            elif [ $rc -eq 3 ]; then
                adaptive_ok=0
            else
                echo "eval-all: $fam seed $seed $pol: exit $rc: $(cat "$dir/err")" >&2
                status=1
            fi
        done
    done
done

defaults="defaults (base 16M, chunk 16M, wall 256M, tick 500 ms, sample 60 s, idle 300 s,"
defaults="$defaults headroom 1)"
echo "Traces: $families; seeds $seeds; $duration s each; pool: ${EVAL_ARGS:-$defaults}."
[ $adaptive_ok -eq 1 ] || echo "adaptive: not available (the pool refuses ELASTIC_POOL_F_ADAPTIVE)"
echo

awk -v adaptive_ok=$adaptive_ok -v families="$families" -v duration="$duration" '
function get(line, key,    m) {
    if (match(line, "\"" key "\":[0-9.]+")) {
        m = substr(line, RSTART, RLENGTH)
        sub(/^[^:]*:/, "", m)
        return m + 0
    }
    return -1
}
{
    fam = $1; seed = $2; json = $3
    match(json, /"policy":"[a-z]+"/)
    pol = substr(json, RSTART + 10, RLENGTH - 11)
    k = fam SUBSEP seed SUBSEP pol
    have[k] = 1
    bs[k] = get(json, "pinned_byte_seconds")
    n = split("grows shrinks stalls regrows_within_idle failed queued queue_wait_ms_total " \
              "max_queue_wait_ms", names, " ")
    for (i = 1; i <= n; i++)
        v[k, names[i]] = get(json, names[i])
    if (!(fam SUBSEP seed in seen)) { seen[fam, seed] = 1; seeds[fam] = seeds[fam] " " seed }
}
function sum(fam, pol, key,    s, i, m, list, kk) {
    s = 0; m = split(seeds[fam], list, " ")
    for (i = 1; i <= m; i++) {
        kk = fam SUBSEP list[i] SUBSEP pol
        if (!(kk in have)) return "n/a"
        s += v[kk, key]
    }
    return s
}
# Mean over the seeds of the per-trace ratio of pinned byte-seconds pol/patent.
function ratio(fam, pol,    s, i, m, list, kp, kk) {
    s = 0; m = split(seeds[fam], list, " ")
    for (i = 1; i <= m; i++) {
        kk = fam SUBSEP list[i] SUBSEP pol; kp = fam SUBSEP list[i] SUBSEP "patent"
        if (!(kk in have) || !(kp in have) || bs[kp] <= 0) return "n/a"
        s += bs[kk] / bs[kp]
    }
    return sprintf("%.3f", s / m)
}
function mib_h(fam, pol,    s, i, m, list, kk) {
    s = 0; m = split(seeds[fam], list, " ")
    for (i = 1; i <= m; i++) {
        kk = fam SUBSEP list[i] SUBSEP pol
        if (!(kk in have)) return "n/a"
        s += bs[kk]
    }
    return sprintf("%.0f", s / m / 1048576 / duration)
}
function verdict(list) { return list == "" ? "holds" : "FAILS on" list }
function three(fam, key) {
    return sum(fam, "static", key) " / " sum(fam, "patent", key) " / " sum(fam, "adaptive", key)
}
END {
    nf = split(families, fams, " ")
    print "| family | mean pinned MiB (s / p / a) | B·s static/patent | B·s adaptive/patent " \
          "| B·s ideal/patent | stalls s/p/a | grows s/p/a | shrinks s/p/a " \
          "| regrows<idle s/p/a | queued s/p/a | queue wait ms s/p/a | failed s/p/a |"
    print "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for (f = 1; f <= nf; f++) {
        fam = fams[f]
        if (seeds[fam] == "") continue
        printf "| %s | %s / %s / %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", fam,
            mib_h(fam, "static"), mib_h(fam, "patent"), mib_h(fam, "adaptive"),
            ratio(fam, "static"), ratio(fam, "adaptive"), ratio(fam, "ideal"), three(fam, "stalls"),
            three(fam, "grows"), three(fam, "shrinks"), three(fam, "regrows_within_idle"),
            three(fam, "queued"), three(fam, "queue_wait_ms_total"), three(fam, "failed")
    }
    print ""
    print "(s / p / a = static / patent / adaptive; counts are sums over the seeds; B·s ratios " \
          "are means over the seeds of the per-trace ratio of pinned byte-seconds; ideal = " \
          "whole chunks just covering the bytes in use at every tick of the patent run, " \
          "fragmentation ignored: a lower bound no policy reaches)"
    print ""
    if (!adaptive_ok) {
        print "Targets: not checked (adaptive: not available)."
        exit 0
    }
    # Per trace: adaptive vs patent.
    t_fail = t_queue = t_stall = t_bs = t_grow = ""
    ntr = 0; rsum = 0; sp = 0; sa = 0
    for (f = 1; f <= nf; f++) {
        fam = fams[f]
        m = split(seeds[fam], list, " ")
        for (i = 1; i <= m; i++) {
            ka = fam SUBSEP list[i] SUBSEP "adaptive"; kp = fam SUBSEP list[i] SUBSEP "patent"
            if (!(ka in have) || !(kp in have)) continue
            name = fam "/" list[i]
            if (v[ka, "failed"] > v[kp, "failed"]) t_fail = t_fail " " name
            if (v[ka, "queued"] > v[kp, "queued"]) t_queue = t_queue " " name
            if (v[ka, "stalls"] > v[kp, "stalls"]) t_stall = t_stall " " name
            if (bs[ka] > 1.05 * bs[kp]) t_bs = t_bs " " name sprintf("(%.3f)", bs[ka] / bs[kp])
            if (v[ka, "grows"] > 3 * v[kp, "grows"]) t_grow = t_grow " " name
            ntr++; rsum += bs[ka] / bs[kp]; sp += v[kp, "stalls"]; sa += v[ka, "stalls"]
        }
    }
    print "Targets of issue 5 (adaptive vs patent, " ntr " traces):"
    printf "- no more failed requests, every trace: %s\n", verdict(t_fail)
    printf "- no more queued requests, every trace: %s\n", verdict(t_queue)
    printf "- no more stalls, every trace: %s\n", verdict(t_stall)
    printf "- pinned byte-seconds <= patent + 5 %%, every trace: %s\n", verdict(t_bs)
    printf "- grows <= 3 x patent, every trace: %s\n", verdict(t_grow)
    printf "- all traces: stalls <= half of patent (%d vs %d): %s\n", sa, sp,
        (2 * sa <= sp) ? "holds" : "FAILS"
    mean = ntr ? rsum / ntr : 0
    printf "- all traces: mean pinned byte-seconds ratio <= 0.9 (%.3f): %s\n", mean,
        (ntr && mean <= 0.9) ? "holds" : "FAILS"
}' "$results"
exit $status
