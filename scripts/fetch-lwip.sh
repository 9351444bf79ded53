#!/usr/bin/env bash
# Fetches lwIP's source for apps/elastic-fileserve from the Debian source package, pinned to one
# version and checked by SHA-256, and unpacks the upstream tarball (no Debian patches: those are
# for the Hurd's socket layer, which we do not build) into third_party/lwip-<upstream version>/
# (ignored by git). Meson builds lwIP's core from there with our own lwipopts.h.
#
#   bash scripts/fetch-lwip.sh          (as root the first time when no deb-src line lists lwip)
#
# When apt knows no source package lwip of the pinned version it adds a deb-src entry for the
# same mirror that serves bookworm/main binaries (/etc/apt/sources.list.d/elasticpool-src.sources)
# and runs apt-get update once. Running it again does nothing once the tree is unpacked.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The pinned source package (Debian 12 "bookworm"): upstream STABLE-2_1_3, repacked +dfsg1.
lwip_version=2.1.3+dfsg1-2
lwip_orig=lwip_2.1.3+dfsg1.orig.tar.xz
lwip_orig_sha256=0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24
lwip_dsc=lwip_2.1.3+dfsg1-2.dsc
lwip_dsc_sha256=8d8f944db8e6d542fc2d6f01559078fb1b5dda71651c67ee5fa3571ed1342c50
lwip_dir_name=lwip-2.1.3

dest=$top/third_party/$lwip_dir_name
cache=$top/third_party/packagecache
stamp=$dest/.elasticpool-fetched

say() {
    printf '[fetch-lwip] %s\n' "$*" >&2
}

if [[ -f $stamp && $(<"$stamp") == "$lwip_version $lwip_orig_sha256" ]]; then
    exit 0
fi

sha_ok() { # <file> <sha256>
    [[ -f $1 ]] && echo "$2  $1" | sha256sum --quiet -c - 2>/dev/null
}

mkdir -p "$cache"
cd "$cache"
if ! sha_ok "$lwip_orig" "$lwip_orig_sha256" || ! sha_ok "$lwip_dsc" "$lwip_dsc_sha256"; then
    known=$(apt-cache showsrc lwip 2>/dev/null || true)
    if ! grep -qx "Version: $lwip_version" <<<"$known"; then
        if (( EUID != 0 )); then
            say "apt knows no source package lwip=$lwip_version and this is not root:"
            say "add a deb-src line for bookworm main and run apt-get update"
            exit 1
        fi
        # The mirror apt already uses for bookworm/main (CI may use its own), else Debian's.
        uri=$(apt-cache policy 2>/dev/null |
            awk '$3 == "bookworm/main" && $5 == "Packages" { print $2; exit }')
        uri=${uri:-http://deb.debian.org/debian}
        say "adding deb-src $uri bookworm main (elasticpool-src.sources) and updating apt"
        cat >/etc/apt/sources.list.d/elasticpool-src.sources <<SRC
# Added by elasticpool's scripts/fetch-lwip.sh: lwIP's source package for elastic-fileserve.
Types: deb-src
URIs: $uri/
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        timeout 300 apt-get update -q >&2
    fi
    rm -f "$lwip_orig" "$lwip_dsc" lwip_*.debian.tar.xz
    say "apt-get source --download-only lwip=$lwip_version"
    # apt checks the files against the signed Sources index; we check our pinned hashes too.
    timeout 300 apt-get source -q --download-only "lwip=$lwip_version" >&2
    chmod a+r ./* 2>/dev/null || true
fi
for pair in "$lwip_orig:$lwip_orig_sha256" "$lwip_dsc:$lwip_dsc_sha256"; do
    if ! sha_ok "${pair%%:*}" "${pair#*:}"; then
        say "SHA-256 mismatch for ${pair%%:*} (want ${pair#*:}): refusing to unpack"
        exit 1
    fi
done
# The .dsc names the tarball's hash too: both must agree.
grep -q " $lwip_orig_sha256 [0-9]* $lwip_orig\$" "$lwip_dsc" ||
    { say "$lwip_dsc does not list $lwip_orig with the pinned hash"; exit 1; }

tmp=$(mktemp -d "$top/third_party/.lwip-unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xJf "$lwip_orig" -C "$tmp"
[[ -f $tmp/$lwip_dir_name/src/core/tcp.c ]] ||
    { say "$lwip_orig has no $lwip_dir_name/src/core/tcp.c"; exit 1; }
echo "$lwip_version $lwip_orig_sha256" >"$tmp/$lwip_dir_name/.elasticpool-fetched"
rm -rf "$dest"
mv "$tmp/$lwip_dir_name" "$dest"
say "lwIP $lwip_version unpacked in ${dest#"$top"/}"
