# SPDX-License-Identifier: BSD-3-Clause
# Sourced by apps/elastic-fwd/fwd-test.sh and perf/fwd-compare.sh: one run of elastic-fwd-gen
# (net_vhost, the vhost-user server) against elastic-fwd (net_virtio_user, with
# --single-file-segments: its pool grows while the port runs, and every growth sends the whole
# memory table to the vhost side, which takes at most 8 regions, one per hugepage file;
# docs/mempool-driver.md, "PMDs and grown memory").
#
#   fwd_pair_run <fwd> <gen> <dir> <tag> <fwd options...> -- <gen options...>
#
# Writes <dir>/<tag>.{fwd,gen}.{log,csv}; returns 0 when both programs exited 0. The vhost-user
# socket lives in a private directory (mktemp -d, mode 0700). Every DPDK process gets --no-pci,
# its own --file-prefix ($FWD_PAIR_PREFIX, default "efwd", plus the role and the shell's pid)
# and a timeout; their runtime dirs and hugepage files are removed afterwards. The generator runs
# the whole schedule and drains; then the forwarder gets SIGTERM (through timeout(1), which
# passes it on) and must exit cleanly. ELASTIC_EAL_ARGS is appended to both EAL argument lists.
# FWD_PAIR_FWD_LCORES (default 0-1: main lcore 0 prints, worker lcore 1 forwards) and
# FWD_PAIR_GEN_LCORE (default 0) place the processes; FWD_PAIR_FWD_EAL adds EAL words to the
# forwarder only (e.g. a service lcore: "-S 2" with FWD_PAIR_FWD_LCORES="0,1,2@0").
# FWD_PAIR_INT_AFTER_S=N: send the forwarder SIGINT N seconds after it started instead (in the
# middle of the traffic), then stop the generator; the generator's exit status is then 1.

fwd_pair_cleanup_prefix() {
    local prefix=$1
    rm -rf "/var/run/dpdk/$prefix" "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk/$prefix"
    rm -f /dev/hugepages/"$prefix"map_* /dev/hugepages/"$prefix"-* 2>/dev/null || true
}

# Bound on one run beyond the schedule: start-up, link, drain and a clean exit.
FWD_PAIR_SLACK_S=${FWD_PAIR_SLACK_S:-40}

fwd_pair_run() {
    local fwd=$1 gen=$2 dir=$3 tag=$4
    shift 4
    local fwd_opts=() gen_opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do fwd_opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    gen_opts=("$@")
    local base=${FWD_PAIR_PREFIX:-efwd}-$$
    local gprefix=$base-g fprefix=$base-f
    local work sock gpid fpid grc frc i limit
    work=$(mktemp -d)
    sock=$work/vhost.sock
    # The schedule's length bounds the run (its seconds summed).
    limit=$(printf '%s\n' "${gen_opts[@]}" | awk -F'[=,]' '
        /^--schedule=/ { for (i = 2; i <= NF; i++) { split($i, p, ":"); s += p[2] } }
        END { printf "%d", (s > 0 ? s : 22) + 1 }')
    limit=$((limit + FWD_PAIR_SLACK_S))
    # shellcheck disable=SC2086 # ELASTIC_EAL_ARGS / FWD_PAIR_FWD_EAL are lists of words
    timeout -k 5 "$limit" "$gen" --no-pci --file-prefix="$gprefix" -l "${FWD_PAIR_GEN_LCORE:-0}" \
        --vdev="net_vhost0,iface=$sock,queues=1" --log-level=lib.vhost.config:warning \
        ${ELASTIC_EAL_ARGS:-} -- \
        --csv "$dir/$tag.gen.csv" "${gen_opts[@]}" >"$dir/$tag.gen.log" 2>&1 &
    gpid=$!
    for ((i = 0; i < 200; i++)); do
        [ -S "$sock" ] && break
        kill -0 "$gpid" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -S "$sock" ]; then
        echo "fwd_pair_run: the generator made no vhost-user socket" >&2
        kill "$gpid" 2>/dev/null
        wait "$gpid" 2>/dev/null
        rm -rf "$work"
        fwd_pair_cleanup_prefix "$gprefix"
        return 1
    fi
    # shellcheck disable=SC2086
    timeout -k 5 "$limit" "$fwd" --no-pci --file-prefix="$fprefix" \
        --lcores "${FWD_PAIR_FWD_LCORES:-0-1}" ${FWD_PAIR_FWD_EAL:-} --single-file-segments \
        --vdev="net_virtio_user0,path=$sock,queues=1,queue_size=1024" ${ELASTIC_EAL_ARGS:-} -- \
        --csv "$dir/$tag.fwd.csv" "${fwd_opts[@]}" >"$dir/$tag.fwd.log" 2>&1 &
    fpid=$!
    if [ -n "${FWD_PAIR_INT_AFTER_S:-}" ]; then
        # Interrupt the forwarder in the middle of the traffic (SIGINT, passed on by timeout),
        # then stop the generator (it then exits 1: stopped before the schedule ended).
        for ((i = 0; i < FWD_PAIR_INT_AFTER_S * 10; i++)); do
            kill -0 "$fpid" 2>/dev/null || break
            sleep 0.1
        done
        kill -INT "$fpid" 2>/dev/null
        wait "$fpid"
        frc=$?
        kill -TERM "$gpid" 2>/dev/null
        wait "$gpid"
        grc=$?
    else
        wait "$gpid"
        grc=$?
        # The forwarder has forwarded everything the generator waited for: stop it.
        kill -TERM "$fpid" 2>/dev/null
        wait "$fpid"
        frc=$?
    fi
    rm -rf "$work"
    fwd_pair_cleanup_prefix "$gprefix"
    fwd_pair_cleanup_prefix "$fprefix"
    echo "fwd_pair_run $tag: generator exit $grc, forwarder exit $frc"
    [ "$grc" -eq 0 ] && [ "$frc" -eq 0 ]
}

# fwd_pair_field <log> <line prefix> <key>: the value of key=value on the last line that starts
# with the prefix.
fwd_pair_field() {
    awk -v lead="$2" -v key="$3" 'index($0, lead) == 1 {
        for (i = 1; i <= NF; i++) if (index($i, key "=") == 1) v = substr($i, length(key) + 2)
    } END { print v }' "$1"
}
