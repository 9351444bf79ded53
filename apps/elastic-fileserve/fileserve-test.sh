#!/bin/bash
# elastic-fileserve end to end (suite dpdk): the server on net_tap inside a network namespace this
# test makes, curl (and a few raw requests from python3) inside the same namespace, talking only
# to the server's address there.
#   fileserve-test.sh <elastic-fileserve binary>
# Checks: --help / bad options; 200 (small, multi-MiB, byte-exact), HEAD, 206 single ranges
# (exact slices), 400, 403 (.., %2e%2e, %00, a symlink leaving the root), 404, 405, 416, 431,
# keep-alive (one connection, several requests, pipelined too); the connection bound; a burst of
# concurrent downloads against a wall small enough that buffers queue: every body exact, the pool
# grew, requests queued, and it went back to base + headroom once idle; clean exit on SIGTERM
# with every buffer back and most payload bytes sent zero-copy.
# FS_TEST_TAG (default epfs) names the namespace, tap and EAL file prefix (with the pid).
set -u
bin=$1
tag=${FS_TEST_TAG:-epfs}
ns="$tag-fs-$$"
prefix="$tag-fs-$$"
iface="${tag}t$$"
iface=${iface:0:15}
addr=10.213.0.2
peer=10.213.0.1
url="http://$addr:8080"
work=$(mktemp -d)
spid=
fails=0
skip() {
    echo "SKIP: $*"
    exit 77
}
cleanup() {
    [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
    wait 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    rm -rf "/var/run/dpdk/$prefix" 2>/dev/null
    rm -f /dev/hugepages/"$prefix"map_* 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
check() { # <what> <got> <want>
    if [ "$2" = "$3" ]; then
        echo "ok   $1"
    else
        echo "FAIL $1: got '$2', want '$3'"
        fails=$((fails + 1))
    fi
}
inns() {
    ip netns exec "$ns" "$@"
}
# curl inside the namespace, bounded; prints the status code (the body goes to /dev/null).
code() {
    inns timeout 20 curl -s -o /dev/null -w '%{http_code}' "$@"
}
# get <file> <curl args>: the body into <file>, prints the status code.
get() {
    local out=$1
    shift
    inns timeout 30 curl -s -o "$out" -w '%{http_code}' "$@"
}

# --- options (no EAL needed) ---
"$bin" --help | grep -q '^usage: elastic-fileserve' && echo "ok   --help" ||
    { echo "FAIL --help"; fails=$((fails + 1)); }
"$bin" -- --root / --no-such-option >/dev/null 2>"$work/err"
check "bad option exits 2" "$?" 2
grep -q -- "--no-such-option" "$work/err" && echo "ok   the bad option is named" ||
    { echo "FAIL the bad option is not named: $(cat "$work/err")"; fails=$((fails + 1)); }
"$bin" -- --root / --port 0 >/dev/null 2>&1
check "--port 0 exits 2" "$?" 2

[ -c /dev/net/tun ] || skip "no /dev/net/tun: the kernel offers no tap devices"
command -v curl >/dev/null || { echo "FAIL: curl not installed (scripts/setup.sh)"; exit 1; }
ip netns add "$ns" 2>/dev/null || skip "cannot create a network namespace"
inns ip link set lo up
inns sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1 2>/dev/null

# --- the served tree ---
root=$work/root
mkdir -p "$root/sub" "$root/emptydir" "$work/outside"
head -c 1000 /dev/urandom >"$root/small.bin"
echo "<html>index</html>" >"$root/index.html"
head -c $((5 * 1024 * 1024 + 12345)) /dev/urandom >"$root/big.bin"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$root/burst.bin"
echo "secret" >"$work/outside/secret.txt"
echo "inside" >"$root/sub/inside.txt"
ln -s ../outside/secret.txt "$root/escape"
ln -s "$work/outside" "$root/escapedir"
ln -s sub/inside.txt "$root/link-inside"

# A wall of 1 MiB (16 buffers of 64 KiB) for 32 downloads that each want up to 4: they queue.
base_kib=256
chunk_kib=256
# --huge-unlink: the hugepage files go at once, so the pages return to the kernel at exit.
unlink=--huge-unlink
[[ " ${ELASTIC_EAL_ARGS:-} " == *" --no-huge "* ]] && unlink=
inns timeout -k 5 150 "$bin" --no-pci --file-prefix="$prefix" -l 0 $unlink \
    --vdev=net_tap0,iface="$iface" ${ELASTIC_EAL_ARGS:-} -- \
    --root "$root" --addr "$addr" --max-conns 40 --pool-base-kib $base_kib \
    --pool-chunk-kib $chunk_kib --pool-wall-kib 1024 --read-size 64 --conn-bufs 4 \
    --tick-ms 50 --sample-ms 200 --idle-ms 1000 --headroom 1 --stats-ms 200 \
    --keepalive-ms 20000 >"$work/server.log" 2>&1 &
spid=$!
for _ in $(seq 1 150); do
    grep -q '^listening' "$work/server.log" && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.2
done
if ! grep -q '^listening' "$work/server.log"; then
    cat "$work/server.log"
    if grep -qi 'tun\|tap' "$work/server.log"; then
        skip "net_tap could not create its interface here"
    fi
    echo "FAIL: the server did not start"
    exit 1
fi
inns ip addr add "$peer/24" dev "$iface"
# A longer kernel queue towards the PMD (default 1000 frames overflows in the burst).
inns ip link set "$iface" txqueuelen 10000 up

# --- statuses and bodies ---
check "GET /small.bin status" "$(get "$work/small" "$url/small.bin")" 200
cmp -s "$work/small" "$root/small.bin" && echo "ok   small body exact" ||
    { echo "FAIL small body differs"; fails=$((fails + 1)); }
check "GET / (index.html)" "$(inns timeout 10 curl -s "$url/")" "<html>index</html>"
check "GET /big.bin status" "$(get "$work/big" "$url/big.bin")" 200
cmp -s "$work/big" "$root/big.bin" && echo "ok   5 MiB body exact" ||
    { echo "FAIL big body differs"; fails=$((fails + 1)); }
hl=$(inns timeout 10 curl -sI "$url/big.bin" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-length" { print $2 }')
check "HEAD Content-Length" "$hl" "$(stat -c %s "$root/big.bin")"
check "HEAD sends no body" "$(inns timeout 10 curl -s --head "$url/small.bin" | tr -d '\r' | sed '1,/^$/d' | wc -c)" 0
check "Range 100-199 status" "$(get "$work/r1" -r 100-199 "$url/big.bin")" 206
cmp -s "$work/r1" <(tail -c +101 "$root/big.bin" | head -c 100) && echo "ok   range 100-199 exact" ||
    { echo "FAIL range 100-199 differs"; fails=$((fails + 1)); }
check "Range -500 status" "$(get "$work/r2" -r -500 "$url/big.bin")" 206
cmp -s "$work/r2" <(tail -c 500 "$root/big.bin") && echo "ok   suffix range exact" ||
    { echo "FAIL suffix range differs"; fails=$((fails + 1)); }
check "Range 1000000- status" "$(get "$work/r3" -r 1000000- "$url/big.bin")" 206
cmp -s "$work/r3" <(tail -c +1000001 "$root/big.bin") && echo "ok   open range exact (4 MiB)" ||
    { echo "FAIL open range differs"; fails=$((fails + 1)); }
check "Range past the end" "$(code -r 99999999- "$url/big.bin")" 416
check "missing file" "$(code "$url/nope.txt")" 404
check "directory without index" "$(code "$url/emptydir/")" 404
check "symlink inside the root" "$(inns timeout 10 curl -s "$url/link-inside")" "inside"
check "traversal /../" "$(code --path-as-is "$url/../outside/secret.txt")" 403
check "traversal /sub/../../" "$(code --path-as-is "$url/sub/../../outside/secret.txt")" 403
check "traversal %2e%2e" "$(code "$url/%2e%2e/outside/secret.txt")" 403
check "NUL byte %00" "$(code "$url/small.bin%00.txt")" 403
check "control byte %0a" "$(code "$url/small%0a.bin")" 403
check "symlink leaving the root" "$(code "$url/escape")" 403
check "directory symlink leaving the root" "$(code "$url/escapedir/secret.txt")" 403
check "POST" "$(code -X POST -d x "$url/small.bin")" 405
check "DELETE" "$(code -X DELETE "$url/small.bin")" 405
big_header="X-Big: $(head -c 10000 /dev/zero | tr '\0' a)"
check "10 KB header" "$(code -H "$big_header" "$url/small.bin")" 431

# Raw requests: malformed, a raw control byte, 1.1 without Host, pipelined keep-alive.
inns timeout 30 python3 - "$addr" "$root" >"$work/raw.log" 2>&1 <<'PY'
import socket, sys, time
addr, root = sys.argv[1], sys.argv[2]
def talk(data, want_responses=1, timeout=5):
    s = socket.create_connection((addr, 8080), timeout=timeout)
    s.sendall(data)
    buf = b""
    end = time.time() + timeout
    while time.time() < end and buf.count(b"HTTP/1.1 ") < want_responses:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        buf += d
    s.close()
    return buf
def status(b):
    return b.split(b"\r\n", 1)[0].decode(errors="replace")
print("garbage", status(talk(b"GARBAGE\r\n\r\n")))
print("ctl", status(talk(b"GET /sm\x01all.bin HTTP/1.1\r\nHost: x\r\n\r\n")))
print("nul", status(talk(b"GET /small.bin\x00 HTTP/1.1\r\nHost: x\r\n\r\n")))
print("nohost", status(talk(b"GET /small.bin HTTP/1.1\r\n\r\n")))
print("version", status(talk(b"GET /small.bin HTTP/2.0\r\nHost: x\r\n\r\n")))
small = open(root + "/small.bin", "rb").read()
two = talk(b"GET /small.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /small.bin HTTP/1.1\r\nHost: x\r\n\r\n", 2)
parts = two.split(b"HTTP/1.1 200 OK")
print("pipelined", len(parts) - 1, "bodies", sum(1 for p in parts[1:] if small in p))
# The connection bound: 45 idle connections; the server (--max-conns 40) resets the rest.
socks, reset = [], 0
for i in range(45):
    try:
        socks.append(socket.create_connection((addr, 8080), timeout=5))
    except OSError:  # reset during or right after the handshake
        reset += 1
time.sleep(1.0)
for s in socks:
    s.settimeout(0.3)
    try:
        if s.recv(1) == b"":
            reset += 1
    except socket.timeout:
        pass
    except OSError:
        reset += 1
for s in socks:
    s.close()
print("refused", reset)
PY
echo "--- raw requests:"; cat "$work/raw.log"
check "malformed request line" "$(sed -n 's/^garbage //p' "$work/raw.log")" "HTTP/1.1 400 Bad Request"
check "raw control byte in target" "$(sed -n 's/^ctl //p' "$work/raw.log")" "HTTP/1.1 400 Bad Request"
check "raw NUL in target" "$(sed -n 's/^nul //p' "$work/raw.log")" "HTTP/1.1 400 Bad Request"
check "HTTP/1.1 without Host" "$(sed -n 's/^nohost //p' "$work/raw.log")" "HTTP/1.1 400 Bad Request"
check "unknown version" "$(sed -n 's/^version //p' "$work/raw.log")" "HTTP/1.1 400 Bad Request"
check "pipelined keep-alive" "$(sed -n 's/^pipelined //p' "$work/raw.log")" "2 bodies 2"
check "connections above --max-conns reset" "$(sed -n 's/^refused //p' "$work/raw.log")" 5
reuse=$(inns timeout 20 curl -sv -o /dev/null -o /dev/null "$url/small.bin" "$url/big.bin" 2>&1 |
    grep -c 'Re-using existing connection')
check "curl keep-alive reuses the connection" "$reuse" 1

# --- the burst: 32 (+8 cut short) concurrent 3 MiB downloads through a 1 MiB wall ---
sleep 2.5 # earlier buffers idle: the pool is back near its base before the burst
for i in $(seq 1 32); do
    inns timeout 60 curl -s -o "$work/burst.$i" -w '%{http_code}\n' "$url/burst.bin" \
        >"$work/burst.$i.code" 2>&1 &
done
# 8 more give up after 0.5 s, mid-download (5 MiB): with 16 buffers for up to 160 wanted, a
# connection spends most of its time waiting in the FIFO, so closing it cancels its waiter.
for i in $(seq 1 8); do
    inns timeout 30 curl -s -o /dev/null --max-time 0.5 "$url/big.bin" >/dev/null 2>&1 &
done
wait $(jobs -p | grep -v "^$spid\$") 2>/dev/null
bad=0
for i in $(seq 1 32); do
    [ "$(cat "$work/burst.$i.code")" = 200 ] && cmp -s "$work/burst.$i" "$root/burst.bin" ||
        bad=$((bad + 1))
done
check "burst: bodies wrong (of 32)" "$bad" 0
last=$(grep '^stats:' "$work/server.log" | tail -1)
val() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }
grows=$(val grows "$last")
queued=$(val queued "$last")
peak=$(val peak_pinned "$last")
echo "--- after the burst: $last"
[ "${grows:-0}" -gt 0 ] && echo "ok   the pool grew ($grows chunks)" ||
    { echo "FAIL the pool did not grow"; fails=$((fails + 1)); }
[ "${queued:-0}" -gt 0 ] && echo "ok   requests queued at the wall ($queued)" ||
    { echo "FAIL nothing queued"; fails=$((fails + 1)); }
[ "${peak:-0}" -le $((1024 * 1024)) ] && echo "ok   peak pinned $peak <= wall" ||
    { echo "FAIL peak pinned $peak above the wall"; fails=$((fails + 1)); }
# Back to base + one headroom chunk once idle (idle 1 s, samples every 0.2 s): up to 15 s.
want=$(((base_kib + chunk_kib) * 1024))
pinned=
for _ in $(seq 1 75); do
    sleep 0.2
    last=$(grep '^stats:' "$work/server.log" | tail -1)
    pinned=$(val pinned "$last")
    [ "$(val in_use "$last")" = 0 ] && [ "${pinned:-999999999}" -le "$want" ] && break
done
echo "--- idle: $last"
[ "${pinned:-999999999}" -le "$want" ] && echo "ok   released back to $pinned <= base + headroom ($want)" ||
    { echo "FAIL pinned $pinned after idle, want <= $want"; fails=$((fails + 1)); }
[ "$(val shrinks "$last")" -gt 0 ] 2>/dev/null && echo "ok   chunks released ($(val shrinks "$last"))" ||
    { echo "FAIL no chunk released"; fails=$((fails + 1)); }

# --- clean exit, in the middle of 16 downloads (connections waiting in the FIFO, buffers in
# flight): every connection is reset and every buffer must still come back ---
# Slow readers (500 KB/s: 10 s per file) keep their connections open: 4 of them hold the 16
# buffers (256 KiB unacknowledged each), the others wait in the FIFO.
for i in $(seq 1 16); do
    inns timeout 30 curl -s -o /dev/null --limit-rate 500k "$url/big.bin" >/dev/null 2>&1 &
done
busy=
for _ in $(seq 1 50); do
    sleep 0.2
    busy=$(grep '^stats:' "$work/server.log" | tail -1)
    [ "$(val conns "$busy")" = 16 ] && [ "$(val waiters "$busy")" -gt 0 ] && break
done
echo "--- at SIGTERM: $busy"
[ "$(val in_use "$busy")" -gt 0 ] && [ "$(val waiters "$busy")" -gt 0 ] &&
    echo "ok   buffers out and connections waiting at SIGTERM" ||
    { echo "FAIL nothing in flight at SIGTERM"; fails=$((fails + 1)); }
# The server's own pid (spid is timeout(1)'s, which would answer a signal with 143).
kill -TERM "$(sed -n 's/^listening .* pid \([0-9]*\)$/\1/p' "$work/server.log")"
wait "$spid"
src=$?
spid=
echo "--- server log (tail):"
grep -v '^stats:' "$work/server.log" | tail -8
check "exit status on SIGTERM" "$src" 0
cancels=$(sed -n 's/.*cancelled waits \([0-9]*\),.*/\1/p' "$work/server.log")
[ "${cancels:-0}" -gt 0 ] && echo "ok   closed connections cancelled their waiters ($cancels)" ||
    { echo "FAIL no waiter cancelled"; fails=$((fails + 1)); }
grep -q '^buffers out at exit: 0$' "$work/server.log" && echo "ok   every buffer back" ||
    { echo "FAIL buffers out at exit"; fails=$((fails + 1)); }
zc=$(sed -n 's/^payload bytes: zero-copy \([0-9]*\), copied \([0-9]*\).*/\1/p' "$work/server.log")
cp=$(sed -n 's/^payload bytes: zero-copy \([0-9]*\), copied \([0-9]*\).*/\2/p' "$work/server.log")
# File bodies sent: > 100 MiB; copies are HTTP heads and lwIP's re-segmentation, far below 1%.
[ "${zc:-0}" -gt $((100 * 1024 * 1024)) ] && [ "${cp:-1}" -lt $((zc / 100)) ] &&
    echo "ok   zero-copy $zc bytes, copied $cp" ||
    { echo "FAIL zero-copy ${zc:-?} copied ${cp:-?}"; fails=$((fails + 1)); }
if [ "$fails" -ne 0 ]; then
    echo "FAILED: $fails checks"
    exit 1
fi
echo "all checks passed"
