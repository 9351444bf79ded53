#!/bin/bash
# `meson install` of the build into a scratch DESTDIR, then check what a user of the installed
# tree gets:
#   - the files' places: library and headers under the prefix, the driver in DPDK's plugin
#     subdirectory of the libdir, a pkg-config file for each;
#   - readelf -d: the driver NEEDs libelasticpool.so.0 and a few librte_* (not hwloc, libnuma,
#     ethdev), its runpath is $ORIGIN-relative and finds the installed library; no build path;
#   - nm -D: no C++ symbol in either library; the library exports exactly the functions of its
#     public headers, the driver nothing;
#   - unmodified dpdk-testpmd forwards with the installed driver, loaded by EAL -d and by
#     LD_PRELOAD (--mbuf-pool-ops-name=elastic);
#   - a C program built with `pkg-config libelasticpool-mempool` gets the ops registered (the
#     driver linked under --no-as-needed) and creates an elastic pktmbuf pool.
#   tests/dpdk/install.sh <build dir> <source dir> <prefix> <libdir> <pmd_subdir>
set -u
here=$(dirname "$0")
. "$here/common.sh"
build=$1 src=$2 prefix=$3 libdir=$4 pmd_subdir=$5
TESTPMD_BIN=$(require_program "${TESTPMD_BIN:-dpdk-testpmd}") || exit 1
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
# meson test points LD_LIBRARY_PATH at the build tree: the installed files must stand alone.
unset LD_LIBRARY_PATH

# EAL -d refuses a file below a world-writable directory: under the build dir, unless that is
# below one (a clone in /tmp, as CI's may be); then under a directory that is not (/run or the
# home directory, both root-owned and not world-writable on Debian).
dest_parent=
for d in "$build" /run "${HOME:-/root}"; do
    if [ -d "$d" ] && [ -w "$d" ] && ! world_writable_path "$d/probe"; then
        dest_parent=$d
        break
    fi
done
if [ -z "$dest_parent" ]; then
    echo "FAIL: no directory outside world-writable ones to install into (tried $build, /run, ~)"
    exit 1
fi
dest=$(mktemp -d -p "$dest_parent" elasticpool-install-test.XXXXXX) || exit 1
prefix_tp="elastic-inst-$$"
trap 'dpdk_cleanup "$prefix_tp"; dpdk_cleanup "$prefix_tp-pre"; dpdk_cleanup "$prefix_tp-c";
      rm -rf "$dest"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

if ! meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$dest/install.log" 2>&1
then
    cat "$dest/install.log"
    echo "FAIL: meson install"
    exit 1
fi

lib=$dest$libdir/libelasticpool.so.0
drv=$dest$libdir/$pmd_subdir/librte_mempool_elastic.so
pc=$dest$libdir/pkgconfig
inc=$dest$prefix/include
echo "installed under $dest: library $libdir, driver $libdir/$pmd_subdir"
for f in "$lib" "$dest$libdir/libelasticpool.so" "$drv" "$pc/libelasticpool.pc" \
         "$pc/libelasticpool-mempool.pc" "$inc/elasticpool.h" "$inc/elastic_numa.h" \
         "$inc/elastic_mempool.h"; do
    [ -e "$f" ] || bad "missing ${f#"$dest"}"
done
[ $fail -eq 0 ] || exit 1

# ---- readelf -d ----
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' '; }
runpath() { readelf -d "$1" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p'; }
drv_needed=$(needed "$drv")
echo "driver NEEDED: $drv_needed"
echo "driver RUNPATH: $(runpath "$drv")"
echo "library NEEDED: $(needed "$lib")"
echo "library RUNPATH: $(runpath "$lib")"
case " $drv_needed " in
*" libelasticpool.so.0 "*) ;;
*) bad "driver does not need libelasticpool" ;;
esac
for n in $drv_needed; do
    case $n in
    libelasticpool.so.0 | librte_eal.so.* | librte_mempool.so.* | librte_mbuf.so.* | \
    librte_ring.so.* | libc.so.* | libstdc++.so.* | libgcc_s.so.* | libm.so.*) ;;
    *) bad "driver needs $n" ;;
    esac
done
case $(runpath "$drv") in
'$ORIGIN'*) ;;
*) bad "driver runpath is not \$ORIGIN-relative" ;;
esac
for f in "$lib" "$drv"; do
    case $(runpath "$f") in *"$build"* | *"$dest"*) bad "${f#"$dest"} has a build runpath";; esac
done
# The dynamic loader, as it would load the installed driver: libelasticpool from the install.
resolved=$(ldd "$drv" | awk '$1 == "libelasticpool.so.0" { print $3 }')
echo "driver's libelasticpool.so.0 resolves to: $resolved"
[ "$(readlink -f "$resolved")" = "$(readlink -f "$lib")" ] ||
    bad "the driver's runpath does not find the installed library"

# ---- nm -D ----
for f in "$lib" "$drv"; do
    n=$(nm -D --defined-only "$f" | grep -c ' _Z')
    echo "${f#"$dest"}: $n C++ symbols, $(nm -D --defined-only "$f" | grep -c ' [TtWi] ') functions"
    [ "$n" -eq 0 ] || bad "${f#"$dest"} exports C++ symbols"
done
drv_funcs=$(nm -D --defined-only "$drv" | awk '$2 ~ /^[TtWi]$/ { print $3 }')
[ -z "$drv_funcs" ] || bad "the driver exports functions: $(echo $drv_funcs)"
# The library's functions against the ones declared in the installed headers, both ways.
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TtWi]$/ { print $3 }' | sed 's/@.*//' |
           sort -u)
declared=$(cat "$inc/elasticpool.h" "$inc/elastic_numa.h" "$inc/elastic_mempool.h" |
           sed 's,/\*.*\*/,,; s,//.*,,' | tr '\n' ' ' | tr ';' '\n' | grep -v typedef |
           grep -oE '\belastic_[a-z0-9_]+ *\(' | sed 's/ *(//' | sort -u)
extra=$(comm -23 <(echo "$exported") <(echo "$declared"))
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
echo "library exports $(echo "$exported" | wc -l) functions, headers declare $(echo "$declared" |
     wc -l)"
[ -z "$extra" ] || bad "exported but not in the public headers: $(echo $extra)"
[ -z "$missing" ] || bad "declared but not exported: $(echo $missing)"
other=$(nm -D --defined-only "$lib" | awk '$2 !~ /^[TtWiA]$/ { print $3 }')
[ -z "$other" ] || bad "the library exports data: $(echo $other)"

# ---- unmodified dpdk-testpmd with the installed driver ----
TESTPMD_LOG=$dest/testpmd.log
check_testpmd() { # <how> <rx>
    if [ "$2" -gt 0 ] && grep -q "elastic mempool: mb_pool" "$TESTPMD_LOG"; then
        echo "testpmd with the installed driver ($1): rx=$2 packets, elastic pool"
    else
        echo "--- testpmd log ($1)"; tail -20 "$TESTPMD_LOG"
        bad "testpmd with the installed driver ($1) did not forward on an elastic pool"
    fi
}
driver_load_args "$drv"
if [ ${#LOAD_ARGS[@]} -eq 0 ]; then
    bad "the install dir sits below a world-writable directory: EAL -d cannot be tested"
else
    read -r rx _ _ < <(run_testpmd elastic 6)
    check_testpmd "-d $pmd_subdir/librte_mempool_elastic.so" "${rx:-0}"
fi
LOAD_ARGS=()
LOAD_ENV=(LD_PRELOAD="$drv")
read -r rx _ _ < <(run_testpmd elastic 6)
check_testpmd "LD_PRELOAD" "${rx:-0}"

# ---- a program built against the installed pkg-config files ----
cat >"$dest/consumer.c" <<'EOF'
#include <stdio.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <elastic_mempool.h>

int main(int argc, char **argv)
{
	if (rte_eal_init(argc, argv) < 0)
		return 2;
	struct rte_mempool *mp = elastic_pktmbuf_pool_create("inst_pool", 4096, 0, 0,
			RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY, NULL);
	if (mp == NULL) {
		printf("elastic_pktmbuf_pool_create: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	printf("created %s, elastic=%d\n", mp->name, elastic_mempool_is_elastic(mp));
	rte_mempool_free(mp);
	rte_eal_cleanup();
	return 0;
}
EOF
# Our .pc files with the prefix moved into DESTDIR (--define-variable would move libdpdk's too).
mkdir "$dest/pc"
for f in "$pc"/libelasticpool*.pc; do
    sed "s|^prefix=.*|prefix=$dest$prefix|" "$f" >"$dest/pc/$(basename "$f")"
done
pcflags() {
    PKG_CONFIG_PATH=$dest/pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH} \
        pkg-config "$@" libelasticpool-mempool
}
echo "pkg-config --libs libelasticpool-mempool: $(pcflags --libs)"
# shellcheck disable=SC2046
if cc -o "$dest/consumer" "$dest/consumer.c" $(pcflags --cflags) $(pcflags --libs) \
        >"$dest/cc.log" 2>&1; then
    case " $(needed "$dest/consumer") " in
    *" librte_mempool_elastic.so "*) ;;
    *) bad "the pkg-config program does not need the driver" ;;
    esac
    # shellcheck disable=SC2086
    out=$(LD_LIBRARY_PATH=$dest$libdir timeout -k 5 60 "$dest/consumer" --no-pci \
          --file-prefix="$prefix_tp-c" -l 0 --log-level=lib.eal:error ${ELASTIC_EAL_ARGS:-} 2>&1)
    echo "pkg-config program: $out"
    grep -q "elastic=1" <<<"$out" || bad "the pkg-config program got no elastic pool"
else
    cat "$dest/cc.log"
    bad "a program does not build with pkg-config libelasticpool-mempool"
fi
# The same program with the library only: the ops are not registered, creation says so.
# shellcheck disable=SC2046
if cc -o "$dest/consumer-nodrv" "$dest/consumer.c" $(pcflags --cflags) \
        $(PKG_CONFIG_PATH=$dest/pc pkg-config --libs libelasticpool) >"$dest/cc.log" 2>&1; then
    # shellcheck disable=SC2086
    out=$(LD_LIBRARY_PATH=$dest$libdir timeout -k 5 60 "$dest/consumer-nodrv" --no-pci \
          --file-prefix="$prefix_tp-c" -l 0 --log-level=lib.eal:error ${ELASTIC_EAL_ARGS:-} 2>&1)
    echo "without the driver: $(grep -v TELEMETRY <<<"$out" | tr '\n' ' ')"
    grep -q "load librte_mempool_elastic.so" <<<"$out" && grep -q "not supported" <<<"$out" ||
        bad "creation without the driver did not fail with ENOTSUP and say what to load"
else
    cat "$dest/cc.log"
    bad "a program does not build with pkg-config libelasticpool"
fi

[ $fail -eq 0 ] && echo "PASS: installed tree"
exit $fail
