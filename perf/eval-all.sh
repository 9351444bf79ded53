#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# eval-all.sh: trace families x seeds x policies through elastic-trace-eval; prints one markdown
# table per set of traces and checks the targets of issue 12 for every candidate policy.
#
# The split (decided in issue 12 before any constant of the breakeven policy was chosen, and
# never to be changed by looking at the held-out results):
#   tuning    burst diurnal step sawtooth poisson flash-crowd step-down on-off, seeds 1 2 3
#             (the six families issue 5's adaptive constants were fitted on, and two new ones
#             that may be looked at while choosing constants)
#   held-out  periodic heavy-tail random-walk packets large-bufs mixture, seeds 1 2 3, and
#             `random` seeds 1..30 (a new family mix per seed). No constant is chosen on these.
# The targets count only held-out and random traces; the tuning table is shown for reference.
# Second held-out draw: breakeven v1 was evaluated once on the held-out set above and missed two
# targets. Any later version is judged on fresh draws of the same held-out families, declared
# before that version was written: SEEDS="4 5 6" RANDOM_SEEDS=31..60 SETS="heldout random"
# (held-out B); its figures on the first draw (held-out A) are shown too, but A is no longer
# unseen.
#
# Usage: perf/eval-all.sh [BUILD_DIR]          (default: build, next to this script's parent)
# Environment:
#   SETS="tuning heldout random"   which sets to run
#   SEEDS="1 2 3"        seeds per family (tuning and held-out sets)
#   RANDOM_SEEDS="1..30" seeds of the `random` set (a list, or A..B)
#   DURATION_S=3600      trace length (an hour replays in ~0.1-0.5 s per policy)
#   POLICIES="static patent adaptive breakeven optimum"
#   CANDIDATES="adaptive breakeven"   policies checked against the targets (vs patent)
#   EVAL_ARGS=""         extra elastic-trace-eval options for every family (after the family's
#                        own pool, elastic-trace-gen --pool-args, so they override it)
#   KEEP_DIR=DIR         keep the traces and the JSON results in DIR (a temporary dir otherwise)
#   JOBS=2               traces evaluated in parallel (the machine is shared: keep it small)
#   FACE=pool            `mempool`: replay against elastic mempools of 1984-byte objects (2 KiB
#                        with the header)
#                        (elastic-trace-eval --face mempool; no queue there, a refused get is a
#                        failed request). The optimum is the mempool's: requests in whole
#                        objects, chunks of whole objects.
# Every program run is bounded by `timeout 300`. Exit status: 0 when every run worked (whether
# or not the targets hold), 1 when a run failed. A policy the pool refuses (exit status 3) shows
# as n/a.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
gen=$build/perf/elastic-trace-gen
eval=$build/perf/elastic-trace-eval
seeds=${SEEDS:-1 2 3}
random_seeds=${RANDOM_SEEDS:-1..30}
duration=${DURATION_S:-3600}
sets=${SETS:-tuning heldout random}
policies=${POLICIES:-static patent adaptive breakeven optimum}
candidates=${CANDIDATES:-adaptive breakeven}
jobs=${JOBS:-2}
tuning_families="burst diurnal step sawtooth poisson flash-crowd step-down on-off"
heldout_families="periodic heavy-tail random-walk packets large-bufs mixture"

case $random_seeds in
*..*) random_seeds=$(seq "${random_seeds%%..*}" "${random_seeds##*..}" | tr '\n' ' ') ;;
esac

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

# One job: generate a trace and replay it under every policy; appends "set fam seed json" lines
# to its own result file.
run_one() {
    local set=$1 fam=$2 seed=$3 tr out rc pool pol
    tr=$dir/$fam-$seed.csv
    if ! timeout 300 "$gen" --shape "$fam" --seed "$seed" --duration-s "$duration" --out "$tr"
    then
        echo "eval-all: generating $fam seed $seed failed" >&2
        return 1
    fi
    pool=$("$gen" --pool-args "$fam")
    [ "${FACE:-pool}" = mempool ] && pool="$pool --face mempool"
    : > "$dir/$set-$fam-$seed.res"
    for pol in $policies; do
        # shellcheck disable=SC2086
        out=$(timeout 300 "$eval" --trace "$tr" --policy "$pol" $pool ${EVAL_ARGS:-} \
            2>"$dir/$fam-$seed-$pol.err")
        rc=$?
        if [ $rc -eq 0 ]; then
            echo "$set $fam $seed $out" >> "$dir/$set-$fam-$seed.res"
        elif [ $rc -ne 3 ]; then
            echo "eval-all: $fam seed $seed $pol: exit $rc: $(cat "$dir/$fam-$seed-$pol.err")" >&2
            rm -f "$tr"
            return 1
        fi
    done
    [ -n "${KEEP_DIR:-}" ] || rm -f "$tr"
    return 0
}
export -f run_one
export dir gen eval duration policies EVAL_ARGS KEEP_DIR FACE

jobs_list=$dir/jobs.txt
: > "$jobs_list"
for set in $sets; do
    case $set in
    tuning) for f in $tuning_families; do for s in $seeds; do echo "$set $f $s"; done; done ;;
    heldout) for f in $heldout_families; do for s in $seeds; do echo "$set $f $s"; done; done ;;
    random) for s in $random_seeds; do echo "$set random $s"; done ;;
    *) echo "eval-all: unknown set '$set'" >&2; exit 2 ;;
    esac
done >> "$jobs_list"
status=0
xargs -P "$jobs" -L 1 bash -c 'run_one "$@"' _ < "$jobs_list" || status=1
results=$dir/results.txt
cat "$dir"/*.res > "$results" 2>/dev/null

case " $sets " in *" random "*) rs="; random seeds $random_seeds" ;; *) rs= ;; esac
echo "Sets: $sets; family seeds $seeds${rs% }; $duration s each;" \
     "pool: per family (default base 16M, chunk 16M, wall 256M; packets 256K/256K/4M;" \
     "large-bufs 2M/2M/64M), tick 500 ms, sample 60 s, idle 300 s, headroom 1;" \
     "face: ${FACE:-pool}" \
     "${EVAL_ARGS:+; extra: $EVAL_ARGS}."
echo

awk -v policies="$policies" -v candidates="$candidates" -v sets="$sets" \
    -v fam_order="$tuning_families $heldout_families random" '
function get(line, key,    m) {
    if (match(line, "\"" key "\":[0-9.]+")) {
        m = substr(line, RSTART, RLENGTH)
        sub(/^[^:]*:/, "", m)
        return m + 0
    }
    return -1
}
function short(p) { return p == "static" ? "s" : p == "patent" ? "p" : p == "adaptive" ? "a" : \
                    p == "breakeven" ? "b" : p == "optimum" ? "o" : p }
{
    set = $1; fam = $2; seed = $3; json = $4
    match(json, /"policy":"[a-z]+"/)
    pol = substr(json, RSTART + 10, RLENGTH - 11)
    k = set SUBSEP fam SUBSEP seed
    if (!(k in seen)) { seen[k] = 1; tr[set, ++ntr[set]] = k; trfam[k] = fam; trseed[k] = seed }
    have[k, pol] = 1
    n = split("pinned_byte_seconds mean_pinned_bytes grows shrinks stalls failed queued", \
              names, " ")
    for (i = 1; i <= n; i++)
        v[k, pol, names[i]] = get(json, names[i])
}
function cell(set, fam, key, list,    out, i, np, pl, j, s, kk, ok) {
    out = ""; np = split(list, pl, " ")
    for (i = 1; i <= np; i++) {
        s = 0; ok = 1
        for (j = 1; j <= ntr[set]; j++) {
            kk = tr[set, j]
            if (trfam[kk] != fam) continue
            if (!((kk, pl[i]) in have)) { ok = 0; break }
            s += v[kk, pl[i], key]
        }
        out = out (i > 1 ? " / " : "") (ok ? s : "n/a")
    }
    return out
}
function mean_mib(set, fam, pol,    j, kk, s, m) {
    s = 0; m = 0
    for (j = 1; j <= ntr[set]; j++) {
        kk = tr[set, j]
        if (trfam[kk] != fam) continue
        if (!((kk, pol) in have)) return "n/a"
        s += v[kk, pol, "mean_pinned_bytes"]; m++
    }
    return m ? sprintf("%.0f", s / m / 1048576) : "n/a"
}
# Mean over the traces of the family of the per-trace ratio pol/ref of pinned byte-seconds.
function ratio(set, fam, pol, ref,    j, kk, s, m) {
    s = 0; m = 0
    for (j = 1; j <= ntr[set]; j++) {
        kk = tr[set, j]
        if (trfam[kk] != fam) continue
        if (!((kk, pol) in have) || !((kk, ref) in have) || v[kk, ref, "pinned_byte_seconds"] <= 0)
            return "n/a"
        s += v[kk, pol, "pinned_byte_seconds"] / v[kk, ref, "pinned_byte_seconds"]; m++
    }
    return m ? sprintf("%.3f", s / m) : "n/a"
}
function table(set,    nf, fl, f, fam, np, pl, i, hdr, sep, row, pinned, counts, j, any) {
    nf = split(fam_order, fl, " "); np = split(policies, pl, " ")
    pinned = ""; counts = ""
    for (i = 1; i <= np; i++) pinned = pinned (i > 1 ? " / " : "") short(pl[i])
    for (i = 1; i <= np; i++)
        if (pl[i] != "static" && pl[i] != "optimum") counts = counts (counts != "" ? " " : "") pl[i]
    hdr = "| family | traces | mean pinned MiB (" pinned ") |"
    sep = "|---|---|---|"
    for (i = 1; i <= np; i++) {
        if (pl[i] == "patent") continue
        hdr = hdr " B·s " short(pl[i]) "/p |"; sep = sep "---|"
    }
    for (i = 1; i <= np; i++) {
        if (pl[i] == "optimum" || pl[i] == "static") continue
        hdr = hdr " B·s " short(pl[i]) "/o |"; sep = sep "---|"
    }
    ncl = split(counts, cl, " "); cs = ""
    for (i = 1; i <= ncl; i++) cs = cs (i > 1 ? "/" : "") short(cl[i])
    hdr = hdr " stalls " cs " | grows " cs " | shrinks " cs " | queued " cs " | failed " cs " |"
    sep = sep "---|---|---|---|---|"
    print hdr; print sep
    for (f = 1; f <= nf; f++) {
        fam = fl[f]; m = 0
        for (j = 1; j <= ntr[set]; j++) if (trfam[tr[set, j]] == fam) m++
        if (m == 0) continue
        row = "| " fam " | " m " | "
        for (i = 1; i <= np; i++) row = row (i > 1 ? " / " : "") mean_mib(set, fam, pl[i])
        row = row " |"
        for (i = 1; i <= np; i++)
            if (pl[i] != "patent") row = row " " ratio(set, fam, pl[i], "patent") " |"
        for (i = 1; i <= np; i++)
            if (pl[i] != "optimum" && pl[i] != "static")
                row = row " " ratio(set, fam, pl[i], "optimum") " |"
        row = row " " cell(set, fam, "stalls", counts) " | " cell(set, fam, "grows", counts) " | "
        row = row cell(set, fam, "shrinks", counts) " | " cell(set, fam, "queued", counts) " | "
        row = row cell(set, fam, "failed", counts) " |"
        print row
    }
    print ""
}
function median(arr, n,    i, j, t) {
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && arr[j - 1] > arr[j]; j--) { t = arr[j]; arr[j] = arr[j - 1]; arr[j - 1] = t }
    return n == 0 ? 0 : (n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2)
}
# Targets of issue 12 for policy c against patent over the traces of the given sets.
function targets(c, which,    ns, sl, s, j, kk, fam, n, rsum, sp, sc, miss, mfam, nopt, ropt, \
                 bs_c, bs_p, key, line, what, nm, k2) {
    ns = split(which, sl, " ")
    n = 0; rsum = 0; sp = 0; sc = 0; nopt = 0
    delete miss; delete ropt
    for (s = 1; s <= ns; s++)
        for (j = 1; j <= ntr[sl[s]]; j++) {
            kk = tr[sl[s], j]; fam = trfam[kk]
            if (!((kk, c) in have) || !((kk, "patent") in have)) continue
            bs_c = v[kk, c, "pinned_byte_seconds"]; bs_p = v[kk, "patent", "pinned_byte_seconds"]
            nm = fam "/" trseed[kk]
            if (v[kk, c, "failed"] > v[kk, "patent", "failed"]) miss["failed", fam] = miss["failed", fam] " " nm
            if (v[kk, c, "queued"] > v[kk, "patent", "queued"]) miss["queued", fam] = miss["queued", fam] " " nm
            if (v[kk, c, "stalls"] > v[kk, "patent", "stalls"])
                miss["stalls", fam] = miss["stalls", fam] " " nm "(" v[kk, c, "stalls"] ">" v[kk, "patent", "stalls"] ")"
            if (bs_c > 1.05 * bs_p) miss["bs", fam] = miss["bs", fam] " " nm sprintf("(%.3f)", bs_c / bs_p)
            n++; rsum += bs_c / bs_p; sp += v[kk, "patent", "stalls"]; sc += v[kk, c, "stalls"]
            if ((kk, "optimum") in have && v[kk, "optimum", "pinned_byte_seconds"] > 0)
                ropt[++nopt] = bs_c / v[kk, "optimum", "pinned_byte_seconds"]
        }
    if (n == 0) return
    print "Targets of issue 12 for `" c "` vs `patent` on " which " (" n " traces):"
    split("failed queued stalls bs", keys, " ")
    split("no more failed requests|no more queued requests|no more stalls|" \
          "pinned byte-seconds <= 1.05 x patent", whats, "|")
    for (key = 1; key <= 4; key++) {
        line = ""
        for (k2 in miss) {
            split(k2, parts, SUBSEP)
            if (parts[1] == keys[key]) line = line "\n    - " parts[2] ":" miss[k2]
        }
        printf "- per trace, %s: %s\n", whats[key], line == "" ? "holds" : "MISSES on" line
    }
    printf "- overall, stalls <= half of patent (%d vs %d): %s\n", sc, sp, (2 * sc <= sp) ? "holds" : "MISSES"
    printf "- overall, mean pinned byte-seconds ratio <= 0.85 (%.3f): %s\n", rsum / n, \
        (rsum / n <= 0.85) ? "holds" : "MISSES"
    if (nopt) {
        med = median(ropt, nopt)
        printf "- median trace within 2 x the offline optimum (%.3f x): %s\n", med, \
            med <= 2 ? "holds" : "MISSES"
    }
    print ""
}
END {
    ns = split(sets, sl, " ")
    for (s = 1; s <= ns; s++) {
        if (ntr[sl[s]] == 0) continue
        print "### Set: " sl[s] (sl[s] == "tuning" ? " (constants may be chosen here)" : \
              " (never used to choose constants)")
        print ""
        table(sl[s])
    }
    print "(s / p / a / b / o = static / patent / adaptive / breakeven / optimum; counts are " \
          "sums over the traces; B·s x/p and x/o are means over the traces of the per-trace " \
          "ratio of pinned byte-seconds; optimum = the offline optimum of the same chunking " \
          "with no stall, fragmentation ignored: a lower bound)"
    print ""
    nc = split(candidates, cl, " ")
    held = ""
    for (s = 1; s <= ns; s++) if (sl[s] != "tuning") held = held (held ? " " : "") sl[s]
    for (c = 1; c <= nc; c++) {
        if (held != "") targets(cl[c], held)
        for (s = 1; s <= ns; s++) if (sl[s] == "tuning") targets(cl[c], "tuning")
    }
}' "$results"
exit $status
