#!/bin/bash
# elastic-fileserve against nginx, one run (not a test): wrk, 1 KiB / 64 KiB / 1 MiB files,
# 10 -> 100 -> 1000 connections, FS_PERF_SECONDS (default 5) per point. Three servers:
#   elastic  elastic-fileserve, elastic pool (base 2 MiB, chunks 2 MiB, wall 64 MiB, idle 3 s)
#   static   the same app with a static pool (base = wall = the elastic run's peak pinned)
#   nginx    Debian's nginx (sendfile on, one worker) in its own namespace behind a veth pair
# elastic-fileserve runs on net_tap in a namespace this script makes, wrk in that namespace;
# nginx in a second namespace, wrk in a third, joined by a veth pair. wrk runs on CPU 0, the
# servers on CPU 1. Every address is inside those namespaces.
#   perf/fileserve-compare.sh [build dir] [output dir]
# Prints a table (req/s, MB/s, p50, p99, errors, memory) and writes it with the raw wrk output,
# the pinned-bytes timeline (CSV) and a plot (PNG, when gnuplot is there) into the output dir.
# Installs wrk and nginx when missing (apt-get; services are not started: policy-rc.d).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
out=${2:-$build/fileserve-compare}
bin=$build/apps/elastic-fileserve/elastic-fileserve
secs=${FS_PERF_SECONDS:-5}
conns_list=${FS_PERF_CONNS:-"10 100 1000"}
tag=${FS_PERF_TAG:-epfp}
prefix="$tag-$$"
ns_fs="$tag-fs-$$"
ns_ng="$tag-ng-$$"
ns_cl="$tag-cl-$$"
tap="${tag}t$$"; tap=${tap:0:15}
veth_a="${tag}a$$"; veth_a=${veth_a:0:15}
veth_b="${tag}b$$"; veth_b=${veth_b:0:15}
fs_addr=10.214.0.2
ng_addr=10.215.0.2
work=$(mktemp -d)
spid=
ngpid=

say() { printf '[fileserve-compare] %s\n' "$*" >&2; }
cleanup() {
    [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null
    for n in "$ns_fs" "$ns_ng" "$ns_cl"; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
    done
    wait 2>/dev/null
    for n in "$ns_fs" "$ns_ng" "$ns_cl"; do ip netns del "$n" 2>/dev/null; done
    rm -rf "/var/run/dpdk/$prefix"* /dev/hugepages/"$prefix"*map_* "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ -x "$bin" ] || { say "no $bin: build first (scripts/setup.sh)"; exit 1; }
missing=
command -v wrk >/dev/null || missing="$missing wrk"
[ -x /usr/sbin/nginx ] || missing="$missing nginx"
if [ -n "$missing" ]; then
    say "installing$missing (services not started)"
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q --no-install-recommends \
        $missing >&2 || { say "apt-get install failed"; exit 1; }
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
fi
mkdir -p "$out"
ulimit -n 65536 2>/dev/null || ulimit -n 8192

# --- files ---
docs=$work/docs
mkdir -p "$docs"
head -c 1024 /dev/urandom >"$docs/1k.bin"
head -c $((64 * 1024)) /dev/urandom >"$docs/64k.bin"
head -c $((1024 * 1024)) /dev/urandom >"$docs/1m.bin"
chmod -R a+rX "$work"

# --- namespaces ---
ip netns add "$ns_fs" && ip netns add "$ns_ng" && ip netns add "$ns_cl" ||
    { say "cannot create network namespaces"; exit 1; }
for n in "$ns_fs" "$ns_ng" "$ns_cl"; do ip -n "$n" link set lo up; done
ip link add "$veth_a" type veth peer name "$veth_b" || { say "cannot create a veth pair"; exit 1; }
ip link set "$veth_a" netns "$ns_ng"
ip link set "$veth_b" netns "$ns_cl"
ip -n "$ns_ng" addr add "$ng_addr/24" dev "$veth_a"
ip -n "$ns_cl" addr add 10.215.0.1/24 dev "$veth_b"
ip -n "$ns_ng" link set "$veth_a" up
ip -n "$ns_cl" link set "$veth_b" up

# wrk_run <ns> <url> <conns> <label>: one wrk run, CPU 0, into $out/wrk-<label>.txt. 1000
# connections on the 1 MiB file run 4x longer: over TAP one round of them takes ~30 s. wrk's
# request timeout (60 s) is above that: a slow response is counted in the latency, not as an
# error.
wrk_run() {
    local ns=$1 url=$2 c=$3 label=$4 f d=$secs
    local threads=2
    f="$out/wrk-$label.txt"
    [[ $label == *-1m-1000 ]] && d=$((secs * 4))
    ip netns exec "$ns" timeout $((d + 90)) taskset -c 0 wrk -t$threads -c"$c" -d"${d}s" \
        --timeout 60s --latency "$url" >"$f" 2>&1
}

# Parse wrk output: "req_s MB_s p50_ms p99_ms errors"
wrk_parse() {
    python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def num(pat, default=0.0):
    m = re.search(pat, t)
    return m.group(1) if m else None
def ms(v):
    if v is None: return float("nan")
    m = re.match(r"([\d.]+)(us|ms|s|m)", v)
    x, u = float(m.group(1)), m.group(2)
    return x / 1000 if u == "us" else x if u == "ms" else x * 1000 if u == "s" else x * 60000
def size(v):
    if v is None: return float("nan")
    m = re.match(r"([\d.]+)(B|KB|MB|GB)", v)
    x, u = float(m.group(1)), m.group(2)
    return x * {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[u] / 1e6
rps = float(num(r"Requests/sec:\s+([\d.]+)") or 0)
mbs = size(num(r"Transfer/sec:\s+([\d.]+\w+)"))
p50 = ms(num(r"\n\s+50%\s+(\S+)"))
p99 = ms(num(r"\n\s+99%\s+(\S+)"))
err = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
if m: err += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if m: err += int(m.group(1))
print("%.0f %.1f %.2f %.2f %d" % (rps, mbs, p50, p99, err))
PY
}

# --- elastic-fileserve runs (elastic pool, then static pool for the peak) ---
# --huge-unlink: hugepage files go at once, the pages return to the kernel at exit.
unlink=--huge-unlink
[[ " ${ELASTIC_EAL_ARGS:-} " == *" --no-huge "* ]] && unlink=
run_fileserve() { # <label> <extra options...>
    local label=$1
    shift
    : >"$work/fs.log"
    ip netns exec "$ns_fs" timeout -k 5 $((secs * 20 + 400)) "$bin" --no-pci \
        --file-prefix="$prefix-$label" -l 1 $unlink --vdev=net_tap0,iface="$tap" \
        ${ELASTIC_EAL_ARGS:-} \
        -- --root "$docs" --addr "$fs_addr" --port 80 --max-conns 1200 --stats-ms 500 \
        --keepalive-ms 120000 "$@" >"$work/fs.log" 2>&1 &
    spid=$!
    for _ in $(seq 1 150); do
        grep -q '^listening' "$work/fs.log" && break
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.2
    done
    grep -q '^listening' "$work/fs.log" || { cat "$work/fs.log"; say "server did not start"; exit 1; }
    ip -n "$ns_fs" addr add 10.214.0.1/24 dev "$tap" 2>/dev/null
    # The kernel's queue of frames towards the PMD: at the default 1000 it overflows under
    # hundreds of connections (SYNs, requests and ACKs lost: client RTOs of 1 s and more).
    ip -n "$ns_fs" link set "$tap" txqueuelen "${FS_PERF_TXQUEUELEN:-10000}" up
    sleep 0.5
    local f c
    for f in 1k 64k 1m; do
        for c in $conns_list; do
            wrk_run "$ns_fs" "http://$fs_addr/$f.bin" "$c" "$label-$f-$c"
            local last
            last=$(grep '^stats:' "$work/fs.log" | tail -1)
            echo "$label $f $c $(wrk_parse "$out/wrk-$label-$f-$c.txt") $last" >>"$work/rows"
        done
    done
    # Idle: the elastic pool gives its chunks back (idle 3 s, then one chunk per 1 s sample).
    sleep "${FS_PERF_IDLE_SECONDS:-40}"
    grep '^stats:' "$work/fs.log" | tail -1 | sed "s/^/$label after-idle /" >>"$work/idle"
    # Frames the kernel dropped on the tap (its backlog is full: lwIP then retransmits).
    ip -n "$ns_fs" -s link show "$tap" | awk -v l="$label" \
        '/RX:/ { getline; r = $2; rd = $4 } /TX:/ { getline; t = $2; td = $4 }
         END { print l " tap: frames from the PMD " r " (kernel dropped " rd "), to the PMD " \
               t " (kernel dropped " td ")" }' >>"$work/tapdrops"
    kill -TERM "$(sed -n 's/^listening .* pid \([0-9]*\)$/\1/p' "$work/fs.log")"
    wait "$spid"
    spid=
    cp "$work/fs.log" "$out/server-$label.log"
    sed -n 's/^stats: t=\([0-9]*\) conns=\([0-9]*\) pinned=\([0-9]*\).*/\1,\2,\3/p' \
        "$work/fs.log" >"$out/pinned-$label.csv"
}

say "elastic-fileserve, elastic pool"
run_fileserve elastic --pool-base-kib 2048 --pool-chunk-kib 2048 --pool-wall-kib 65536 \
    --idle-ms 3000 --sample-ms 1000 --tick-ms 100
peak=$(sed -n 's/^exit: .* peak_pinned=\([0-9]*\).*/\1/p' "$out/server-elastic.log")
peak_kib=$(( (${peak:-67108864} + 2097151) / 2097152 * 2048 ))
say "elastic-fileserve, static pool of $peak_kib KiB (the elastic run's peak)"
run_fileserve static --static --pool-wall-kib "$peak_kib" --pool-chunk-kib "$peak_kib"

# --- nginx ---
say "nginx (sendfile on, one worker)"
ngdir=$work/nginx
mkdir -p "$ngdir/logs" "$ngdir/tmp"
cat >"$ngdir/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 10;
worker_rlimit_nofile 8192;
daemon off;
pid $ngdir/nginx.pid;
error_log $ngdir/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path $ngdir/tmp;
    proxy_temp_path $ngdir/tmp;
    fastcgi_temp_path $ngdir/tmp;
    uwsgi_temp_path $ngdir/tmp;
    scgi_temp_path $ngdir/tmp;
    server {
        listen $ng_addr:80 reuseport;
        root $docs;
    }
}
CONF
ip netns exec "$ns_ng" timeout -k 5 $((secs * 20 + 400)) /usr/sbin/nginx -c "$ngdir/nginx.conf" \
    -p "$ngdir" >"$ngdir/logs/stdout" 2>&1 &
ngpid=$!
sleep 1
kill -0 "$ngpid" 2>/dev/null || { cat "$ngdir/logs/"*; say "nginx did not start"; exit 1; }
for f in 1k 64k 1m; do
    for c in $conns_list; do
        # Memory sampled in the middle of the run: RSS of nginx's processes, and the socket
        # memory of its namespace (ss: receive + send queue memory of every socket).
        ( sleep $((secs / 2 + 1))
          rss=$(ps -o rss= --ppid "$(cat "$ngdir/nginx.pid" 2>/dev/null || echo 1)" 2>/dev/null |
              awk '{ s += $1 } END { print s + 0 }')
          rss_m=$(ps -o rss= -p "$(cat "$ngdir/nginx.pid" 2>/dev/null || echo 1)" | awk '{ print $1 + 0 }')
          sk=$(ip netns exec "$ns_ng" ss -tmn 2>/dev/null | python3 -c '
import re, sys
t = sys.stdin.read()
print(sum(int(a) + int(b) + int(c) for a, b, c in
          re.findall(r"skmem:\(r(\d+),rb\d+,t(\d+),tb\d+,f\d+,w(\d+)", t)))')
          echo "$(( (rss + rss_m) * 1024 )) $sk" >"$work/ngmem" ) &
        wrk_run "$ns_cl" "http://$ng_addr/$f.bin" "$c" "nginx-$f-$c"
        wait $! 2>/dev/null
        echo "nginx $f $c $(wrk_parse "$out/wrk-nginx-$f-$c.txt") mem $(cat "$work/ngmem")" >>"$work/rows"
    done
done
kill -TERM "$ngpid" 2>/dev/null
wait "$ngpid" 2>/dev/null
ngpid=

# --- report ---
python3 - "$work/rows" "$work/idle" "$out" <<'PY' | tee "$out/report.txt"
import re, sys
rows, idle, out = sys.argv[1], sys.argv[2], sys.argv[3]
def kv(s, k):
    m = re.search(r"\b%s=(\d+)" % k, s)
    return int(m.group(1)) if m else None
print("%-8s %-4s %5s %9s %8s %8s %8s %6s  %s" % ("server", "file", "conns", "req/s", "MB/s",
      "p50 ms", "p99 ms", "errors", "memory"))
for line in open(rows):
    f = line.split()
    server, fil, c, rps, mbs, p50, p99, err = f[:8]
    rest = " ".join(f[8:])
    if server == "nginx":
        m = rest.split()
        mem = "RSS %.1f MiB, socket mem %.1f MiB" % (int(m[1]) / 2**20, int(m[2] or 0) / 2**20)
    else:
        mem = "pinned %.1f MiB (peak %.1f), queued %d, grows %d" % (
            kv(rest, "pinned") / 2**20, kv(rest, "peak_pinned") / 2**20, kv(rest, "queued"),
            kv(rest, "grows"))
    print("%-8s %-4s %5s %9s %8s %8s %8s %6s  %s" % (server, fil, c, rps, mbs, p50, p99, err, mem))
for line in open(idle):
    print("%s after idle: pinned %.1f MiB (peak %.1f MiB), shrinks %d" % (line.split()[0],
          kv(line, "pinned") / 2**20, kv(line, "peak_pinned") / 2**20, kv(line, "shrinks")))
PY
{ grep -h '^fixed mbuf pools\|^payload bytes' "$out/server-elastic.log" | sed 's/^/elastic: /'
  cat "$work/tapdrops"
  for l in elastic static; do
      grep -h '^requests' "$out/server-$l.log" | sed "s/^/$l: /"
  done
} | tee -a "$out/report.txt"
if command -v gnuplot >/dev/null; then
    gnuplot <<GP 2>/dev/null && say "plot: $out/pinned.png"
set terminal png size 900,500
set output "$out/pinned.png"
set datafile separator ","
set xlabel "time (s)"
set ylabel "MiB"
set y2label "connections"
set y2tics
set key top left
plot "$out/pinned-elastic.csv" using (\$1/1000):(\$3/1048576) with lines title "elastic: pinned MiB", \
     "$out/pinned-static.csv" using (\$1/1000):(\$3/1048576) with lines title "static: pinned MiB", \
     "$out/pinned-elastic.csv" using (\$1/1000):2 axes x1y2 with lines title "elastic: connections"
GP
fi
say "report: $out/report.txt"
