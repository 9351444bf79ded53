#!/bin/bash
# Test docs-doxygen: render the API reference (docs/api.md) from the public headers and fail on
# any doxygen warning (an undocumented public symbol, a broken reference).
#   docs/check-doxygen.sh <doxygen> <Doxyfile> <warnings file>
set -u
doxygen=$1 doxyfile=$2 warnings=$3
if ! command -v "$doxygen" >/dev/null; then
    echo "FAIL: $doxygen not found (Debian package doxygen, installed by scripts/setup.sh)"
    exit 1
fi
rm -f "$warnings"
timeout 120 "$doxygen" "$doxyfile" || { echo "FAIL: doxygen exited with $?"; exit 1; }
if [ -s "$warnings" ]; then
    echo "FAIL: doxygen warnings:"
    cat "$warnings"
    exit 1
fi
echo "PASS: the API reference renders without warnings"
