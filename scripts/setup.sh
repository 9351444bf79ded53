#!/usr/bin/env bash
# Shared set-up for scripts/run-demo.sh and scripts/run-tests.sh (Debian 12, as root).
#
#   source scripts/setup.sh; elastic_setup [BUILD_DIR [-Dname=value ...] [-- NINJA_TARGET ...]]
#   bash scripts/setup.sh [BUILD_DIR ...]   (the same, but the exports are lost)
#
# 1. installs the Debian packages that are missing (apt-get update only when one is missing);
# 2. reserves 2 MiB hugepages (raises vm.nr_hugepages so that ELASTIC_HUGEPAGES, default 1024,
#    are free; never lowers it) and mounts hugetlbfs at /dev/hugepages. When that is not possible
#    it says so loudly and exports ELASTIC_NO_HUGE=1 and ELASTIC_EAL_ARGS="--no-huge -m 512";
#    every EAL test and program of this project appends the words of ELASTIC_EAL_ARGS to its
#    EAL arguments;
# 3. configures BUILD_DIR (default: build) with --werror (-Dwerror=true), -Dbuildtype=release
#    (unless a -Dbuildtype= is given) and the given options (configures again only when an
#    option differs) and builds it (or the given targets) with ninja.
# Running it twice is fast: nothing is installed, reserved or configured again.

elastic_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# dpdk-dev also provides the programs the dpdk test suite runs: dpdk-test, dpdk-testpmd and
# dpdk-telemetry.py (a missing one fails those tests); doxygen renders docs/api.md's reference
# (test docs-doxygen); clang and libclang-rt-14-dev build the libFuzzer targets (tests/fuzz).
# curl is the client of the elastic-fileserve test.
elastic_packages=(
    dpdk dpdk-dev libdpdk-dev libnuma-dev libhwloc-dev hwloc meson ninja-build pkg-config g++
    libgtest-dev googletest libbenchmark-dev python3 python3-pyelftools gnuplot-nox iproute2
    doxygen clang libclang-rt-14-dev curl
)

elastic_say() {
    printf '[setup] %s\n' "$*" >&2
}

elastic_install_packages() {
    local missing
    # dpkg-query prints one line per known package; "ii" means installed.
    missing=$(comm -23 <(printf '%s\n' "${elastic_packages[@]}" | sort) \
        <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${elastic_packages[@]}" \
            2>/dev/null | awk '$1 == "ii" { print $2 }' | sort))
    if [[ -z $missing ]]; then
        return 0
    fi
    missing=${missing//$'\n'/ }
    if (( EUID != 0 )); then
        elastic_say "missing Debian packages: $missing; run this as root to install them"
        return 1
    fi
    elastic_say "installing: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || return 1
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing || return 1
}

elastic_no_huge() {
    local banner='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
    {
        echo "$banner"
        echo "!! NO HUGEPAGES: $1"
        echo "!! Running DPDK with --no-huge -m 512 (ELASTIC_EAL_ARGS, ELASTIC_NO_HUGE=1)."
        echo "!! Tests that count HugePages_Free skip themselves."
        echo "$banner"
    } >&2
    export ELASTIC_NO_HUGE=1
    if [[ " ${ELASTIC_EAL_ARGS:-} " != *" --no-huge "* ]]; then
        ELASTIC_EAL_ARGS="${ELASTIC_EAL_ARGS:+$ELASTIC_EAL_ARGS }--no-huge -m 512"
    fi
    export ELASTIC_EAL_ARGS
}

elastic_hugetlbfs_mounted() {
    awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" && $4 ~ /pagesize=2M/ { found = 1 }
        END { exit !found }' /proc/mounts
}

elastic_setup_hugepages() {
    local want=${ELASTIC_HUGEPAGES:-1024} least=${ELASTIC_HUGEPAGES_MIN:-256}
    local dir=/sys/kernel/mm/hugepages/hugepages-2048kB
    local free total

    export ELASTIC_EAL_ARGS=${ELASTIC_EAL_ARGS:-}
    if [[ ${ELASTIC_NO_HUGE:-0} != 0 || " $ELASTIC_EAL_ARGS " == *" --no-huge "* ]]; then
        elastic_no_huge "asked for (ELASTIC_NO_HUGE or --no-huge in ELASTIC_EAL_ARGS)"
        return 0
    fi
    unset ELASTIC_NO_HUGE
    if [[ ! -r $dir/free_hugepages ]]; then
        elastic_no_huge "this kernel offers no 2 MiB hugepages"
        return 0
    fi
    free=$(<"$dir/free_hugepages")
    total=$(<"$dir/nr_hugepages")
    if (( free < want )); then
        if (( EUID != 0 )); then
            elastic_say "only $free free 2 MiB hugepages and not root: cannot reserve more"
        elif ! echo $((total + want - free)) 2>/dev/null >"$dir/nr_hugepages"; then
            elastic_say "the kernel refused to raise nr_hugepages above $total"
        fi
        free=$(<"$dir/free_hugepages")
        total=$(<"$dir/nr_hugepages")
    fi
    if ! elastic_hugetlbfs_mounted; then
        if (( EUID == 0 )); then
            mkdir -p /dev/hugepages 2>/dev/null &&
                mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages 2>/dev/null || true
        fi
        if ! elastic_hugetlbfs_mounted; then
            elastic_no_huge "cannot mount hugetlbfs (pagesize=2M) at /dev/hugepages"
            return 0
        fi
    fi
    if (( free < least )); then
        elastic_no_huge "only $free free 2 MiB hugepages (need at least $least)"
        return 0
    fi
    elastic_say "hugepages: $free of $total 2 MiB pages free, hugetlbfs at /dev/hugepages"
}

# Prints the names of the options in "$@" (-Dname=value) whose configured value differs.
elastic_changed_options() {
    python3 - "$1/meson-info/intro-buildoptions.json" "${@:2}" <<'EOF'
import json, sys
try:
    with open(sys.argv[1]) as f:
        have = {o["name"]: o["value"] for o in json.load(f)}
except (OSError, ValueError):
    have = {}
def text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v)
for arg in sys.argv[2:]:
    name, _, value = arg[2:].partition("=")
    if name not in have or text(have[name]) != value:
        print(name)
EOF
}

elastic_build() (
    local dir=$1
    local opts=(-Dwerror=true) targets=()
    local changed

    shift
    while (( $# > 0 )); do
        if [[ $1 == -- ]]; then
            targets=("${@:2}")
            break
        fi
        opts+=("$1")
        shift
    done

    if [[ " ${opts[*]} " != *" -Dbuildtype="* ]]; then
        opts+=(-Dbuildtype=release)
    fi

    cd "$elastic_top" || return 1
    if [[ ! -f $dir/build.ninja || ! -f $dir/meson-private/coredata.dat ]]; then
        if [[ -d $dir/meson-private ]]; then
            elastic_say "configuring $dir again from scratch (a previous set-up did not finish)"
            meson setup --wipe "$dir" "${opts[@]}" || return 1
        else
            meson setup "$dir" "${opts[@]}" || return 1
        fi
    else
        changed=$(elastic_changed_options "$dir" "${opts[@]}")
        if [[ -n $changed ]]; then
            elastic_say "reconfiguring $dir: ${changed//$'\n'/ }"
            meson configure "$dir" "${opts[@]}" || return 1
        fi
    fi
    ninja -C "$dir" "${targets[@]}" || return 1
)

# elastic_setup [BUILD_DIR [-Dname=value ...] [-- NINJA_TARGET ...]]
elastic_setup() {
    elastic_install_packages || { elastic_say "package installation failed"; return 1; }
    elastic_setup_hugepages
    # lwIP's source for apps/elastic-fileserve (Debian source package, pinned and hashed); a
    # build dir configured before it was there is configured again to pick it up.
    bash "$elastic_top/scripts/fetch-lwip.sh" ||
        elastic_say "fetching lwIP failed: elastic-fileserve is not built (its tests fail)"
    if [[ -f $elastic_top/${1:-build}/build.ninja && -d $elastic_top/third_party/lwip-2.1.3 ]] &&
        ! grep -q lwip-fileserve "$elastic_top/${1:-build}/build.ninja"; then
        meson setup --reconfigure "$elastic_top/${1:-build}" >/dev/null || true
    fi
    elastic_build "${1:-build}" "${@:2}" || { elastic_say "build failed"; return 1; }
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -uo pipefail
    elastic_setup "$@"
fi
