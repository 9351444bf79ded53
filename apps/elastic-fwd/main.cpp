// SPDX-License-Identifier: BSD-3-Clause
// elastic-fwd: an l2fwd-style run-to-completion forwarder on elastic mbuf pools.
//
//   elastic-fwd <EAL args> -- [options]          (--help lists them)
//
// Every ethdev port is configured with --queues Rx/Tx queue pairs; port p forwards to port p^1
// (to itself when it has no partner: one port bounces its traffic back). Each (port, queue) is
// polled by one worker lcore (every EAL lcore but the main one and the service lcores), which
// swaps the Ethernet addresses and sends the packet on the partner port's queue of the same
// number. The main lcore prints a line of statistics once a second.
//
// Buffers: one elastic mbuf pool per NUMA node, from the per-node manager (elastic_numa.h: a
// mempool family, pools "<prefix>@<node>"); each port's Rx queues take the pool of the port's
// node (elastic_numa_mempool_for_port). Maintenance (ticks, growth ahead of need, releases)
// runs in the library's one maintenance service: on a service lcore when the EAL has one (-s /
// -S), from an EAL alarm otherwise (docs/operations.md). --pool static replaces the family by
// one ordinary (ring) pktmbuf pool per node of --n-max mbufs, for comparison.
//
// Hold stage: with --delay-us D each packet is held D microseconds between Rx and Tx (a FIFO per
// queue; think of a pipeline stage, a reassembly or a shaper); what the Tx ring cannot take
// stays queued for the next round (without the stage it is dropped, as in l2fwd). A forwarder
// that sends at once holds little more than its rings; with the stage the mbufs in flight
// follow the offered rate: in flight = rate x D (Little's law), so the pool's demand follows
// the traffic.
//
// Exit: SIGINT or SIGTERM (or --duration-s). The workers free what they hold, the ports are
// stopped and closed, and the program checks that every mbuf is back in its pool and that the
// pools' hugepages went back (its own hugepage files shrink), then prints the totals and each
// elastic pool's sizing report. Exit 0 when clean, 1 on a failure, 2 on bad usage.

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <dirent.h>
#include <mntent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_service.h>

#include "cli.hpp"
#include "elastic_mempool.h"
#include "elastic_numa.h"

namespace {

constexpr const char *prog = "elastic-fwd";
constexpr uint64_t mib = 1024 * 1024;
constexpr unsigned max_burst = 256;
constexpr unsigned max_queues = 16;
constexpr unsigned stats_poll_ms = 50;   // how often the main lcore checks for a signal
constexpr unsigned stats_period_ms = 1000;
constexpr unsigned max_delay_us = 10 * 1000 * 1000;
// The FIFO of the hold stage has room for every mbuf the pool can have plus the rings.
constexpr unsigned fifo_slack = 8192;

struct options {
    bool elastic = true;
    std::string prefix = "fwd";
    unsigned base_objs = 3200;  // 4 hugepages of 800 mbufs: rings and the low rate
    unsigned chunk_objs = 800;  // one 2 MiB hugepage of mbufs each
    unsigned n_max = 16000;     // the wall
    unsigned cache = 0;         // 0: the driver's per-lcore magazines instead of a DPDK cache
    uint32_t tick_ms = 100;
    uint32_t sample_ms = 500;
    uint32_t idle_ms = 2000;
    uint32_t headroom = 1;
    unsigned low_watermark = 0; // 0: the library's default (chunk / 2)
    bool adaptive = false;
    bool no_pregrow = false;
    unsigned queues = 1;
    unsigned rxd = 1024, txd = 1024;
    unsigned burst = 32;
    unsigned delay_us = 0;
    unsigned idle_sleep_us = 0;
    unsigned duration_s = 0;
    std::string csv;
    bool quiet = false;
};

void usage(FILE *f)
{
    fprintf(f,
"Usage: %s <EAL args> -- [options]\n"
"An l2fwd-style forwarder (port p -> port p^1, or back out of p when it has no partner;\n"
"Ethernet addresses swapped) whose mbufs come from one elastic pool per NUMA node.\n"
"Worker lcores poll the ports; the main lcore prints a line a second. Maintenance runs on a\n"
"service lcore when the EAL has one (-s MASK / -S LIST), from an EAL alarm otherwise.\n"
"\n"
"Pool:\n"
"  --pool elastic|static  elastic family <prefix>@<node> (default), or an ordinary ring\n"
"                         pktmbuf pool of --n-max mbufs per node (for comparison)\n"
"  --prefix NAME          family prefix (default fwd)\n"
"  --base-objs N          mbufs of each pool's base chunk (default 3200)\n"
"  --chunk-objs N         mbufs per added chunk (default 800: one 2 MiB hugepage)\n"
"  --n-max N              the wall: most mbufs a pool may have (default 16000)\n"
"  --cache N              DPDK per-lcore cache (default 0: the driver's magazines)\n"
"  --tick-ms N --sample-ms N --idle-ms N --headroom N\n"
"                         maintenance tick, sample period, idle period, chunks kept idle\n"
"                         (defaults 100, 500, 2000, 1: a burst's chunks go back in seconds)\n"
"  --low-watermark N      grow ahead when fewer mbufs are free (default chunk-objs / 2)\n"
"  --adaptive             the adaptive release rule (docs/self-tuning.md)\n"
"  --no-pregrow           no growth ahead of need: only the datapath grows\n"
"Datapath:\n"
"  --queues N             Rx/Tx queue pairs per port (default 1)\n"
"  --rxd N --txd N        ring sizes (default 1024)\n"
"  --burst N              packets per rx/tx burst (default 32, at most %u)\n"
"  --delay-us N           hold each packet N us before sending it (default 0): mbufs in\n"
"                         flight = rate x delay (Little's law)\n"
"  --idle-sleep-us N      sleep up to N us when a poll round finds nothing (default 0: poll)\n"
"Output:\n"
"  --duration-s N         stop after N seconds (default 0: at SIGINT/SIGTERM)\n"
"  --csv FILE             also write the per-second lines to FILE (comma-separated)\n"
"  --quiet                no per-second lines on stdout\n"
"  --help                 this text\n"
"Exit status: 0 clean exit (every mbuf back, pool hugepages returned), 1 failure, 2 usage.\n",
            prog, max_burst);
}

// Parses the words after "--". Returns -1 to go on, otherwise the exit status.
int parse(int argc, char **argv, options &o)
{
    fwd_cli::args a(prog, argc, argv);
    std::string s;
    while (!a.done() && !a.failed()) {
        if (a.flag("--help") || a.flag("-h")) {
            usage(stdout);
            return 0;
        }
        if (a.value("--pool", s)) {
            if (s == "elastic")
                o.elastic = true;
            else if (s == "static")
                o.elastic = false;
            else if (!a.failed())
                a.error("--pool", "'" + s + "' is neither elastic nor static");
        } else if (a.value("--prefix", s)) {
            if (s.empty() || s.size() > ELASTIC_NUMA_PREFIXSIZE || s.find('@') != s.npos)
                a.error("--prefix", "'" + s + "': 1 to " +
                                        std::to_string(ELASTIC_NUMA_PREFIXSIZE) +
                                        " characters, no '@'");
            o.prefix = s;
        } else if (a.number_as("--base-objs", o.base_objs, 1, 1u << 24) ||
                   a.number_as("--chunk-objs", o.chunk_objs, 1, 1u << 24) ||
                   a.number_as("--n-max", o.n_max, 1, 1u << 24) ||
                   a.number_as("--cache", o.cache, 0, RTE_MEMPOOL_CACHE_MAX_SIZE) ||
                   a.number_as("--tick-ms", o.tick_ms, 1, 60000) ||
                   a.number_as("--sample-ms", o.sample_ms, 1, 3600000) ||
                   a.number_as("--idle-ms", o.idle_ms, 1, 3600000) ||
                   a.number_as("--headroom", o.headroom, 0, 1024) ||
                   a.number_as("--low-watermark", o.low_watermark, 0, 1u << 24) ||
                   a.number_as("--queues", o.queues, 1, max_queues) ||
                   a.number_as("--rxd", o.rxd, 32, 32768) ||
                   a.number_as("--txd", o.txd, 32, 32768) ||
                   a.number_as("--burst", o.burst, 1, max_burst) ||
                   a.number_as("--delay-us", o.delay_us, 0, max_delay_us) ||
                   a.number_as("--idle-sleep-us", o.idle_sleep_us, 0, 1000000) ||
                   a.number_as("--duration-s", o.duration_s, 0, 86400)) {
        } else if (a.value("--csv", s)) {
            if (s.empty() && !a.failed())
                a.error("--csv", "empty file name");
            o.csv = s;
        } else if (a.flag("--adaptive")) {
            o.adaptive = true;
        } else if (a.flag("--no-pregrow")) {
            o.no_pregrow = true;
        } else if (a.flag("--quiet")) {
            o.quiet = true;
        } else {
            a.unknown();
        }
    }
    if (!a.failed() && o.elastic && o.base_objs > o.n_max)
        a.error("--base-objs", std::to_string(o.base_objs) + " is above --n-max " +
                                   std::to_string(o.n_max));
    return a.failed() ? fwd_cli::exit_usage : -1;
}

// Set by SIGINT/SIGTERM (or --duration-s), read by every lcore: a lock-free atomic is safe to
// store from a signal handler and to read from other threads.
std::atomic<bool> quit{false};
static_assert(std::atomic<bool>::is_always_lock_free);
void on_signal(int) { quit.store(true, std::memory_order_relaxed); }

// Counters of one worker: written by it alone, read by the main lcore.
struct alignas(RTE_CACHE_LINE_SIZE) worker_counters {
    std::atomic<uint64_t> rx{0}, tx{0}, drops{0}, held_at_exit{0};
    void add(std::atomic<uint64_t> &c, uint64_t n)
    {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

struct held_pkt {
    rte_mbuf *m;
    uint64_t due; // TSC when it may go
};

// One (port, queue) a worker polls, with its hold FIFO.
struct queue_ctx {
    uint16_t rx_port, tx_port, queue;
    std::vector<held_pkt> fifo; // power-of-two ring
    uint64_t head = 0, tail = 0;
    bool push(rte_mbuf *m, uint64_t due)
    {
        if (tail - head == fifo.size())
            return false;
        fifo[tail++ & (fifo.size() - 1)] = {m, due};
        return true;
    }
    bool empty() const { return head == tail; }
    const held_pkt &front() const { return fifo[head & (fifo.size() - 1)]; }
    void pop() { head++; }
};

struct worker {
    unsigned lcore = 0;
    std::vector<queue_ctx> queues;
    worker_counters cnt;
};

struct app {
    options o;
    uint64_t delay_tsc = 0;
    std::vector<std::unique_ptr<worker>> workers;
    // The pools: with --pool elastic the family's, else one static pool per node.
    elastic_numa_mempool_family *fam = nullptr;
    std::map<int, rte_mempool *> static_pools;
    std::vector<rte_mempool *> pools; // distinct pools in use (for statistics)
    std::vector<uint16_t> ports;
    bool ports_closed = false;
};

void macswap(rte_mbuf *m)
{
    auto *eh = rte_pktmbuf_mtod(m, rte_ether_hdr *);
    const rte_ether_addr t = eh->dst_addr;
    eh->dst_addr = eh->src_addr;
    eh->src_addr = t;
}

// Without the hold stage: what the Tx ring does not take is dropped, as l2fwd does.
void send_or_drop(queue_ctx &q, rte_mbuf **pkts, uint16_t n, worker_counters &c)
{
    const uint16_t sent = rte_eth_tx_burst(q.tx_port, q.queue, pkts, n);
    if (sent < n) {
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
        c.add(c.drops, n - sent);
    }
    c.add(c.tx, sent);
}

// With the hold stage: everything due goes, a burst at a time; what the Tx ring does not take
// stays at the head of the FIFO for the next round (the stage holds it a little longer: the
// pool's demand rises instead of packets being lost). Returns true when the ring was full.
bool send_due(queue_ctx &q, uint64_t now, unsigned burst, worker_counters &c)
{
    rte_mbuf *out[max_burst];
    for (;;) {
        uint16_t k = 0;
        for (uint64_t i = q.head; k < burst && i != q.tail; i++) {
            const held_pkt &h = q.fifo[i & (q.fifo.size() - 1)];
            if (h.due > now)
                break;
            out[k++] = h.m;
        }
        if (k == 0)
            return false;
        const uint16_t sent = rte_eth_tx_burst(q.tx_port, q.queue, out, k);
        q.head += sent;
        c.add(c.tx, sent);
        if (sent < k)
            return true;
    }
}

struct worker_arg {
    app *a;
    worker *w;
};

int worker_loop(void *p)
{
    auto *wa = static_cast<worker_arg *>(p);
    app &a = *wa->a;
    worker &w = *wa->w;
    worker_counters &c = w.cnt;
    const unsigned burst = a.o.burst;
    const uint64_t delay = a.delay_tsc;
    const uint64_t hz = rte_get_tsc_hz();
    rte_mbuf *pkts[max_burst];
    while (!quit.load(std::memory_order_relaxed)) {
        bool got = false;
        uint64_t now = rte_rdtsc();
        uint64_t next_due = UINT64_MAX;
        for (auto &q : w.queues) {
            const uint16_t n = rte_eth_rx_burst(q.rx_port, q.queue, pkts, uint16_t(burst));
            if (n) {
                got = true;
                c.add(c.rx, n);
                for (uint16_t i = 0; i < n; i++)
                    macswap(pkts[i]);
            }
            if (delay == 0) {
                if (n)
                    send_or_drop(q, pkts, n, c);
                continue;
            }
            uint64_t dropped = 0;
            for (uint16_t i = 0; i < n; i++)
                if (!q.push(pkts[i], now + delay)) {
                    rte_pktmbuf_free(pkts[i]);
                    dropped++;
                }
            if (dropped)
                c.add(c.drops, dropped);
            if (send_due(q, now, burst, c))
                got = true; // the Tx ring is full: poll again rather than sleep
            if (!q.empty())
                next_due = std::min(next_due, q.front().due);
        }
        if (!got && a.o.idle_sleep_us) {
            uint64_t us = a.o.idle_sleep_us;
            if (next_due != UINT64_MAX) {
                now = rte_rdtsc();
                const uint64_t until = next_due > now ? (next_due - now) * 1000000 / hz : 0;
                us = std::min(us, until);
            }
            if (us)
                rte_delay_us_sleep(unsigned(us));
        }
    }
    uint64_t held = 0;
    for (auto &q : w.queues)
        while (!q.empty()) {
            rte_pktmbuf_free(q.front().m);
            q.pop();
            held++;
        }
    c.add(c.held_at_exit, held);
    return 0;
}

// ---- pools ----

// A static pool serves the ports of its node; ports without a node use the main lcore's.
int static_node(uint16_t port)
{
    const int node = rte_eth_dev_socket_id(port);
    return node < 0 ? int(rte_socket_id()) : node;
}

rte_mempool *pool_for_port(app &a, uint16_t port)
{
    if (a.o.elastic)
        return elastic_numa_mempool_for_port(a.fam, port);
    auto it = a.static_pools.find(static_node(port));
    return it == a.static_pools.end() ? nullptr : it->second;
}

int create_pools(app &a)
{
    if (a.o.elastic) {
        elastic_mempool_params p;
        elastic_mempool_params_init(&p);
        p.base_objs = a.o.base_objs;
        p.chunk_objs = a.o.chunk_objs;
        p.tick_ms = a.o.tick_ms;
        p.sample_period_ms = a.o.sample_ms;
        p.idle_period_ms = a.o.idle_ms;
        p.headroom_chunks = a.o.headroom;
        if (a.o.low_watermark)
            p.low_watermark = a.o.low_watermark;
        if (a.o.adaptive)
            p.flags |= ELASTIC_MEMPOOL_F_ADAPTIVE;
        if (a.o.no_pregrow)
            p.flags |= ELASTIC_MEMPOOL_F_NO_PREGROW;
        if (a.o.cache == 0)
            p.flags |= ELASTIC_MEMPOOL_F_LCORE_MAGAZINE;
        a.fam = elastic_numa_mempool_family_create(a.o.prefix.c_str(), a.o.n_max, a.o.cache, 0,
                                                   RTE_MBUF_DEFAULT_BUF_SIZE, &p);
        if (a.fam == nullptr) {
            fprintf(stderr, "%s: elastic_numa_mempool_family_create(%s): %s\n", prog,
                    a.o.prefix.c_str(), rte_strerror(rte_errno));
            return -1;
        }
    }
    for (uint16_t port : a.ports) {
        if (!a.o.elastic && pool_for_port(a, port) == nullptr) {
            const int node = static_node(port);
            const std::string name = a.o.prefix + "_static@" + std::to_string(node);
            rte_mempool *sp = rte_pktmbuf_pool_create(name.c_str(), a.o.n_max, a.o.cache, 0,
                                                      RTE_MBUF_DEFAULT_BUF_SIZE, node);
            if (sp == nullptr) {
                fprintf(stderr, "%s: rte_pktmbuf_pool_create(%s, %u): %s\n", prog,
                        name.c_str(), a.o.n_max, rte_strerror(rte_errno));
                return -1;
            }
            a.static_pools[node] = sp;
        }
        rte_mempool *mp = pool_for_port(a, port);
        if (mp == nullptr) {
            fprintf(stderr, "%s: no pool for port %u: %s\n", prog, port,
                    rte_strerror(rte_errno));
            return -1;
        }
        if (std::find(a.pools.begin(), a.pools.end(), mp) == a.pools.end())
            a.pools.push_back(mp);
    }
    return 0;
}

void free_pools(app &a)
{
    elastic_numa_mempool_family_free(a.fam);
    a.fam = nullptr;
    for (auto &[node, mp] : a.static_pools)
        rte_mempool_free(mp);
    a.static_pools.clear();
    a.pools.clear();
}

// Bytes a static pool pins: each memory chunk rounded up to the pages it sits on.
void static_pinned_cb(rte_mempool *, void *arg, rte_mempool_memhdr *mh, unsigned)
{
    uint64_t page = RTE_PGSIZE_4K;
    if (const rte_memseg_list *msl = rte_mem_virt2memseg_list(mh->addr))
        page = msl->page_sz;
    *static_cast<uint64_t *>(arg) += RTE_ALIGN_CEIL(uint64_t(mh->len), page);
}

struct pool_totals {
    uint64_t pinned = 0, in_use = 0, chunks = 0;
    uint64_t grows = 0, grows_dp = 0, grows_ahead = 0, shrinks = 0;
};

pool_totals pool_snapshot(const app &a)
{
    pool_totals t;
    for (rte_mempool *mp : a.pools) {
        t.in_use += rte_mempool_in_use_count(mp);
        elastic_pool_stats st{};
        elastic_mempool_xstats xs{};
        if (elastic_mempool_stats_get(mp, &st) == 0 && elastic_mempool_xstats_get(mp, &xs) == 0) {
            t.pinned += st.pinned_bytes;
            t.chunks += st.nb_chunks;
            t.grows += st.nb_grows;
            t.grows_dp += xs.nb_grow_datapath;
            t.grows_ahead += xs.nb_grow_maintenance;
            t.shrinks += st.nb_shrinks;
        } else {
            uint64_t b = 0;
            rte_mempool_mem_iter(mp, static_pinned_cb, &b);
            t.pinned += b;
            t.chunks += mp->nb_mem_chunks;
        }
    }
    return t;
}

// ---- this process's hugepage files (the check that pages went back) ----

// Bytes of hugepages this process's files hold: the EAL names them <prefix>map_<n> in the
// hugetlbfs mounts; a freed page is a hole (--single-file-segments) or a deleted file.
// -1 when there are none to look at (--no-huge, --in-memory).
int64_t hugepage_bytes_held()
{
    const char *rt = rte_eal_get_runtime_dir();
    const char *slash = rt ? strrchr(rt, '/') : nullptr;
    if (slash == nullptr)
        return -1;
    const std::string lead = std::string(slash + 1) + "map_";
    FILE *m = setmntent("/proc/mounts", "r");
    if (m == nullptr)
        return -1;
    int64_t total = 0;
    bool any = false;
    while (mntent *e = getmntent(m)) {
        if (strcmp(e->mnt_type, "hugetlbfs") != 0)
            continue;
        DIR *d = opendir(e->mnt_dir);
        if (d == nullptr)
            continue;
        while (dirent *de = readdir(d)) {
            if (strncmp(de->d_name, lead.c_str(), lead.size()) != 0)
                continue;
            struct stat sb;
            const std::string path = std::string(e->mnt_dir) + "/" + de->d_name;
            if (stat(path.c_str(), &sb) == 0) {
                total += int64_t(sb.st_blocks) * 512;
                any = true;
            }
        }
        closedir(d);
    }
    endmntent(m);
    return any ? total : -1;
}

// ---- ports ----

int setup_ports(app &a)
{
    for (uint16_t port : a.ports) {
        rte_eth_dev_info info;
        int rc = rte_eth_dev_info_get(port, &info);
        if (rc != 0) {
            fprintf(stderr, "%s: port %u: dev_info: %s\n", prog, port, rte_strerror(-rc));
            return -1;
        }
        if (a.o.queues > info.max_rx_queues || a.o.queues > info.max_tx_queues) {
            fprintf(stderr, "%s: port %u (%s) has at most %u Rx / %u Tx queues; --queues %u\n",
                    prog, port, info.driver_name, info.max_rx_queues, info.max_tx_queues,
                    a.o.queues);
            return -1;
        }
        rte_eth_conf conf{};
        rc = rte_eth_dev_configure(port, uint16_t(a.o.queues), uint16_t(a.o.queues), &conf);
        rte_mempool *mp = pool_for_port(a, port);
        const unsigned socket = unsigned(mp->socket_id < 0 ? SOCKET_ID_ANY : mp->socket_id);
        for (unsigned q = 0; rc == 0 && q < a.o.queues; q++) {
            rc = rte_eth_rx_queue_setup(port, uint16_t(q), uint16_t(a.o.rxd), socket, nullptr,
                                        mp);
            if (rc == 0)
                rc = rte_eth_tx_queue_setup(port, uint16_t(q), uint16_t(a.o.txd), socket,
                                            nullptr);
        }
        if (rc == 0)
            rc = rte_eth_dev_start(port);
        if (rc != 0) {
            fprintf(stderr, "%s: port %u (%s) set-up: %s\n", prog, port, info.driver_name,
                    rte_strerror(-rc));
            return -1;
        }
        rte_eth_promiscuous_enable(port); // not every PMD has it; the result does not matter
        printf("port %u: %s, node %d, %u queue(s), pool %s\n", port, info.driver_name,
               rte_eth_dev_socket_id(port), a.o.queues, mp->name);
    }
    return 0;
}

// Stops and closes every port once (their rings' mbufs go back to the pools).
void stop_ports(app &a)
{
    if (a.ports_closed)
        return;
    for (uint16_t port : a.ports) {
        rte_eth_dev_stop(port);
        rte_eth_dev_close(port);
    }
    a.ports_closed = true;
}

// ---- statistics ----

struct totals {
    uint64_t rx = 0, tx = 0, drops = 0, held_at_exit = 0, nombuf = 0;
};

totals read_totals(const app &a)
{
    totals t;
    for (const auto &w : a.workers) {
        t.rx += w->cnt.rx.load(std::memory_order_relaxed);
        t.tx += w->cnt.tx.load(std::memory_order_relaxed);
        t.drops += w->cnt.drops.load(std::memory_order_relaxed);
        t.held_at_exit += w->cnt.held_at_exit.load(std::memory_order_relaxed);
    }
    for (uint16_t port : a.ports) {
        rte_eth_stats es{};
        if (rte_eth_stats_get(port, &es) == 0)
            t.nombuf += es.rx_nombuf;
    }
    return t;
}

const char *const header =
    "  time s  Mpps in  Mpps out    drops  rx_nombuf  pinned MiB  chunks   in use"
    "  grows dp/ahead  shrinks";
const char *const csv_header =
    "time_s,mpps_in,mpps_out,drops,rx_nombuf,pinned_mib,chunks,in_use,grows_dp,grows_ahead,"
    "shrinks";

void print_sizing(const app &a)
{
    for (rte_mempool *mp : a.pools) {
        elastic_pool_sizing sz{};
        elastic_pool_stats st{};
        if (elastic_mempool_sizing_get(mp, &sz) != 0 || elastic_mempool_stats_get(mp, &st) != 0) {
            printf("sizing %s: static pool of %u mbufs (no sizing report)\n", mp->name,
                   mp->size);
            continue;
        }
        const double obj = double(mp->header_size + mp->elt_size + mp->trailer_size);
        printf("sizing %s: peak in use %.1f MiB (%.0f mbufs), peak demand %.1f MiB, floor "
               "demand %.1f MiB over %u epochs\n",
               mp->name, double(sz.peak_in_use_bytes) / mib, double(sz.peak_in_use_bytes) / obj,
               double(sz.peak_demand_bytes) / mib, double(sz.floor_demand_bytes) / mib,
               sz.epochs);
        printf("sizing %s: recommended base %.1f MiB, wall %.1f MiB; a static pool for the "
               "peak pins %.1f MiB (%u x 2 MiB hugepages, --socket-mem %u); this pool pinned "
               "%.1f MiB at most, %.1f MiB now\n",
               mp->name, double(sz.recommended_base) / mib, double(sz.recommended_wall) / mib,
               double(sz.static_bytes) / mib, sz.hugepages_2m, sz.socket_mem_mb,
               double(st.peak_pinned_bytes) / mib, double(st.pinned_bytes) / mib);
    }
}

int run(app &a)
{
    const uint64_t hz = rte_get_tsc_hz();
    a.delay_tsc = uint64_t(a.o.delay_us) * hz / 1000000;

    uint64_t fifo = 1;
    while (fifo < uint64_t(a.o.n_max) + fifo_slack)
        fifo <<= 1;
    unsigned next = 0;
    for (uint16_t port : a.ports) {
        const uint16_t partner = uint16_t(port ^ 1);
        const bool paired = std::find(a.ports.begin(), a.ports.end(), partner) != a.ports.end();
        for (unsigned q = 0; q < a.o.queues; q++) {
            queue_ctx qc{port, paired ? partner : port, uint16_t(q), {}, 0, 0};
            if (a.o.delay_us)
                qc.fifo.resize(fifo);
            worker *w = a.workers[next++ % a.workers.size()].get();
            w->queues.push_back(std::move(qc));
            printf("lcore %u: port %u queue %u -> port %u\n", w->lcore, port, q,
                   w->queues.back().tx_port);
        }
    }
    printf("maintenance: %s\n", rte_service_lcore_count() > 0
                                    ? "service lcore (-s/-S)"
                                    : "EAL alarm (no service lcore)");
    printf("hold stage: %u us per packet\n", a.o.delay_us);

    FILE *csv = nullptr;
    if (!a.o.csv.empty()) {
        csv = fopen(a.o.csv.c_str(), "w");
        if (csv == nullptr) {
            fprintf(stderr, "%s: --csv %s: %s\n", prog, a.o.csv.c_str(), strerror(errno));
            return 1;
        }
        fprintf(csv, "%s\n", csv_header);
    }

    std::vector<worker_arg> args(a.workers.size());
    for (size_t i = 0; i < a.workers.size(); i++) {
        args[i] = {&a, a.workers[i].get()};
        rte_eal_remote_launch(worker_loop, &args[i], a.workers[i]->lcore);
    }

    if (!a.o.quiet)
        printf("%s\n", header);
    const uint64_t t0 = rte_get_tsc_cycles();
    uint64_t last = t0;
    totals prev{};
    double pinned_mib_s = 0, peak_pinned_mib = 0;
    uint64_t peak_in_use = 0;
    while (!quit.load(std::memory_order_relaxed)) {
        rte_delay_us_sleep(stats_poll_ms * 1000);
        const uint64_t now = rte_get_tsc_cycles();
        if (a.o.duration_s && now - t0 >= a.o.duration_s * hz)
            quit.store(true, std::memory_order_relaxed);
        if (now - last < stats_period_ms * hz / 1000 && !quit.load(std::memory_order_relaxed))
            continue;
        const double dt = double(now - last) / double(hz);
        last = now;
        const totals t = read_totals(a);
        const pool_totals p = pool_snapshot(a);
        const double pinned = double(p.pinned) / mib;
        pinned_mib_s += pinned * dt;
        peak_pinned_mib = std::max(peak_pinned_mib, pinned);
        peak_in_use = std::max(peak_in_use, p.in_use);
        const double ts = double(now - t0) / double(hz);
        const double in = double(t.rx - prev.rx) / dt / 1e6;
        const double out = double(t.tx - prev.tx) / dt / 1e6;
        if (!a.o.quiet)
            printf("%8.1f %8.3f %9.3f %8" PRIu64 " %10" PRIu64 " %11.1f %7" PRIu64 " %8" PRIu64
                   " %7" PRIu64 "/%-7" PRIu64 " %8" PRIu64 "\n",
                   ts, in, out, t.drops - prev.drops, t.nombuf - prev.nombuf, pinned, p.chunks,
                   p.in_use, p.grows_dp, p.grows_ahead, p.shrinks);
        if (csv) {
            fprintf(csv, "%.3f,%.6f,%.6f,%" PRIu64 ",%" PRIu64 ",%.3f,%" PRIu64 ",%" PRIu64
                         ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
                    ts, in, out, t.drops - prev.drops, t.nombuf - prev.nombuf, pinned, p.chunks,
                    p.in_use, p.grows_dp, p.grows_ahead, p.shrinks);
            fflush(csv);
        }
        prev = t;
    }
    printf("stopping: signal or --duration-s\n");
    rte_eal_mp_wait_lcore();

    const totals t = read_totals(a);
    const pool_totals before_stop = pool_snapshot(a);
    print_sizing(a);
    stop_ports(a);
    const pool_totals p = pool_snapshot(a);
    printf("summary pool=%s rx=%" PRIu64 " tx=%" PRIu64 " drops=%" PRIu64
           " held_at_exit=%" PRIu64 " rx_nombuf=%" PRIu64 " peak_pinned_mib=%.1f"
           " pinned_mib_s=%.1f peak_in_use=%" PRIu64 " grows=%" PRIu64 " grows_datapath=%" PRIu64
           " grows_ahead=%" PRIu64 " shrinks=%" PRIu64 " pinned_mib_end=%.1f\n",
           a.o.elastic ? "elastic" : "static", t.rx, t.tx, t.drops, t.held_at_exit, t.nombuf,
           peak_pinned_mib, pinned_mib_s, peak_in_use, p.grows, p.grows_dp, p.grows_ahead,
           p.shrinks, double(before_stop.pinned) / mib);
    if (csv)
        fclose(csv);
    if (p.in_use != 0) {
        printf("FAIL: %" PRIu64 " mbufs not back in their pools after the ports closed\n",
               p.in_use);
        return 1;
    }
    printf("every mbuf back: %" PRIu64 " received = %" PRIu64 " sent + %" PRIu64
           " dropped + %" PRIu64 " held at exit\n",
           t.rx, t.tx, t.drops, t.held_at_exit);
    if (t.rx != t.tx + t.drops + t.held_at_exit) {
        printf("FAIL: counters do not add up\n");
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    setvbuf(stdout, nullptr, _IOLBF, 0);
    const int split = fwd_cli::split_index(argc, argv);
    app a;
    // The application's options first: --help and bad options need no EAL.
    if (fwd_cli::asks_for_help(split, argv)) {
        usage(stdout);
        return 0;
    }
    if (split < argc) {
        const int rc = parse(argc - split - 1, argv + split + 1, a.o);
        if (rc >= 0)
            return rc;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    // virtio-user talks to its vhost-user backend over a socket: when the backend has gone, a
    // memory-table update (a growth or release) or the port's stop must not kill us.
    signal(SIGPIPE, SIG_IGN);
    if (!fwd_cli::eal_init(split, argv, prog))
        return fwd_cli::exit_usage;
    int rc = 0;
    uint16_t port;
    RTE_ETH_FOREACH_DEV(port)
        a.ports.push_back(port);
    // Workers: every lcore but the main one (service lcores are not in this iteration).
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        a.workers.push_back(std::make_unique<worker>());
        a.workers.back()->lcore = lcore;
    }
    const int64_t huge_before = hugepage_bytes_held();
    if (a.workers.empty()) {
        fprintf(stderr, "%s: no worker lcore: give the EAL at least two lcores (-l 0-1), "
                        "the main one prints, the others forward\n", prog);
        rc = fwd_cli::exit_usage;
    } else if (a.ports.empty()) {
        fprintf(stderr, "%s: no ethdev port (give a --vdev, or a PCI device)\n", prog);
        rc = fwd_cli::exit_usage;
    } else if (create_pools(a) != 0) {
        rc = 1;
    } else if (setup_ports(a) != 0) {
        rc = 1;
    } else if (!quit.load(std::memory_order_relaxed)) {
        rc = run(a);
    }
    if (!a.ports.empty())
        stop_ports(a);
    const int64_t huge_with_pools = hugepage_bytes_held();
    free_pools(a);
    const int64_t huge_after = hugepage_bytes_held();
    if (huge_before >= 0 && huge_after >= 0) {
        printf("hugepages of this process: %.1f MiB before the pools, %.1f MiB at exit with "
               "them, %.1f MiB after freeing them\n",
               double(huge_before) / mib, double(huge_with_pools) / mib,
               double(huge_after) / mib);
        // The pools' pages go back when they are freed: what is left is the EAL's and the
        // ports' (the ports are closed: at most what there was before the pools).
        if (rc == 0 && huge_after > huge_before) {
            printf("FAIL: %.1f MiB of hugepages more than before the pools were made\n",
                   double(huge_after - huge_before) / mib);
            rc = 1;
        }
    } else {
        printf("hugepages of this process: no hugepage files to check (--no-huge or "
               "--in-memory)\n");
    }
    rte_eal_cleanup();
    if (rc == 0)
        printf("clean exit\n");
    return rc;
}
