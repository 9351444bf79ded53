// SPDX-License-Identifier: BSD-3-Clause
// bench-mempool: the elastic mempool ops against DPDK's ring_mp_mc, stack and bucket in one
// binary under one EAL, then the cost of growth.
//
// 1. Backend: objects/s of get_bulk(n) + put_bulk(n) pairs on pools of 16,383 objects of
//    2,176 bytes; cache 0 and 256; bulk 1 and 32; 1 lcore and 2 lcores (both hammering one
//    pool). The elastic pool is pre-grown to 8 chunks (base = chunk = size / 8), so the
//    chunk lookup on put is measured, not a one-chunk best case.
// 2. Growth latency: reserve + populate + rte_pktmbuf_init per chunk of 2,048 mbufs.
// 3. Ramp: one lcore takes mbufs one by one (~2 us apart) until 10 chunks were grown; worst
//    rte_pktmbuf_alloc latency (median of 5 runs), gets that found the pool dry while a growth
//    was under way (a get never waits for one), datapath growths; without and with growth ahead
//    of need (maintenance every millisecond from another thread).
//
// Usage: bench-mempool [EAL args --] [--ms=<ms per backend case>] [--quick]
//                      [--only=backend|growth|ramp]
// BENCH_MEMPOOL_CASE=cache:bulk:lcores runs only that backend case, BENCH_MEMPOOL_OPS=<ops>
// only that pool.
// Without EAL args: --no-pci --file-prefix=mempool_bench_<pid> -l 0,1; ELASTIC_EAL_ARGS words
// are added in either case.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "elastic_mempool.h"

namespace {

constexpr unsigned pool_objs = 16383;
constexpr unsigned elt_size = 2176;

struct case_ctx {
    rte_mempool *mp;
    unsigned bulk;
    uint64_t ms;
    std::atomic<uint64_t> objs{0};
    std::atomic<unsigned> ready{0};
    unsigned nb_lcores;
};

int hammer(void *arg)
{
    auto *c = static_cast<case_ctx *>(arg);
    void *objs[32];
    c->ready++;
    while (c->ready.load() < c->nb_lcores)
        ;
    const uint64_t end = rte_get_tsc_cycles() + c->ms * rte_get_tsc_hz() / 1000;
    uint64_t n = 0;
    while (rte_get_tsc_cycles() < end) {
        for (int i = 0; i < 64; i++) {
            if (rte_mempool_get_bulk(c->mp, objs, c->bulk) == 0) {
                rte_mempool_put_bulk(c->mp, objs, c->bulk);
                n += c->bulk;
            }
        }
    }
    c->objs += n;
    return 0;
}

rte_mempool *make_pool(const char *ops, unsigned cache)
{
    char name[RTE_MEMPOOL_NAMESIZE];
    static unsigned seq;
    snprintf(name, sizeof(name), "bm_%s_%u", ops, seq++);
    if (strcmp(ops, "elastic") == 0) {
        elastic_mempool_params p;
        elastic_mempool_params_init(&p);
        p.base_objs = (pool_objs + 7) / 8;
        p.chunk_objs = (pool_objs + 7) / 8;
        // Lock-free per-lcore magazines (used without a DPDK cache), as a drop-in pool
        // populated in full has them.
        p.flags = ELASTIC_MEMPOOL_F_MANUAL_TICK | ELASTIC_MEMPOOL_F_NO_SHRINK |
                  ELASTIC_MEMPOOL_F_LCORE_MAGAZINE;
        rte_mempool *mp = elastic_mempool_create(name, pool_objs, elt_size, cache, 0, nullptr,
                                                 nullptr, nullptr, nullptr, SOCKET_ID_ANY, 0,
                                                 &p);
        if (mp == nullptr)
            return nullptr;
        std::vector<void *> all(pool_objs); // grow to all 8 chunks
        if (rte_mempool_get_bulk(mp, all.data(), pool_objs) != 0) {
            rte_mempool_free(mp);
            return nullptr;
        }
        rte_mempool_put_bulk(mp, all.data(), pool_objs);
        return mp;
    }
    rte_mempool *mp = rte_mempool_create_empty(name, pool_objs, elt_size, cache, 0,
                                               SOCKET_ID_ANY, 0);
    if (mp == nullptr)
        return nullptr;
    if (rte_mempool_set_ops_byname(mp, ops, nullptr) != 0 || rte_mempool_populate_default(mp) < 0) {
        rte_mempool_free(mp);
        return nullptr;
    }
    return mp;
}

double run_case(rte_mempool *mp, unsigned bulk, unsigned lcores, uint64_t ms)
{
    case_ctx c;
    c.mp = mp;
    c.bulk = bulk;
    c.ms = ms;
    c.nb_lcores = lcores;
    unsigned worker = RTE_MAX_LCORE;
    if (lcores == 2) {
        worker = rte_get_next_lcore(-1, 1, 0);
        rte_eal_remote_launch(hammer, &c, worker);
    }
    hammer(&c);
    if (lcores == 2)
        rte_eal_wait_lcore(worker);
    return static_cast<double>(c.objs.load()) / (static_cast<double>(ms) / 1000.0);
}

void backend(uint64_t ms)
{
    const char *ops_list[] = {"elastic", "ring_mp_mc", "stack", "bucket"};
    const unsigned caches[] = {0, 256};
    const unsigned bulks[] = {1, 32};
    const unsigned max_lcores = rte_lcore_count() >= 2 ? 2 : 1;
    std::printf("\n== backend: Mobj/s of get+put (one run, %lu ms per case)\n",
                (unsigned long)ms);
    std::printf("%-6s %-5s %-6s | %10s %10s %10s %10s | %-9s %-9s\n", "cache", "bulk",
                "lcores", "elastic", "ring_mp_mc", "stack", "bucket", "el/ring", "el/stack");
    for (unsigned cache : caches)
        for (unsigned bulk : bulks)
            for (unsigned lc = 1; lc <= max_lcores; lc++) {
                if (const char *only = getenv("BENCH_MEMPOOL_CASE")) { // "cache:bulk:lcores"
                    unsigned oc, ob, ol;
                    if (sscanf(only, "%u:%u:%u", &oc, &ob, &ol) == 3 &&
                        (oc != cache || ob != bulk || ol != lc))
                        continue;
                }
                double r[4] = {0, 0, 0, 0};
                for (int i = 0; i < 4; i++) {
                    const char *only_ops = getenv("BENCH_MEMPOOL_OPS");
                    if (only_ops != nullptr && strcmp(only_ops, ops_list[i]) != 0)
                        continue;
                    rte_mempool *mp = make_pool(ops_list[i], cache);
                    if (mp == nullptr) {
                        r[i] = -1;
                        continue;
                    }
                    r[i] = run_case(mp, bulk, lc, ms);
                    rte_mempool_free(mp);
                }
                std::printf("%-6u %-5u %-6u | %10.1f %10.1f %10.1f %10.1f | %-9.3f %-9.3f\n",
                            cache, bulk, lc, r[0] / 1e6, r[1] / 1e6, r[2] / 1e6, r[3] / 1e6,
                            r[1] > 0 ? r[0] / r[1] : 0.0, r[2] > 0 ? r[0] / r[2] : 0.0);
            }
}

void growth_latency()
{
    elastic_mempool_params p;
    elastic_mempool_params_init(&p);
    p.base_objs = 2048;
    p.chunk_objs = 2048;
    p.flags = ELASTIC_MEMPOOL_F_MANUAL_TICK | ELASTIC_MEMPOOL_F_NO_SHRINK |
              ELASTIC_MEMPOOL_F_NO_PREGROW;
    rte_mempool *mp = elastic_pktmbuf_pool_create("bm_growth", 16 * 2048, 0, 0,
                                                  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY, &p);
    if (mp == nullptr) {
        std::printf("growth: cannot create pool: %s\n", rte_strerror(rte_errno));
        return;
    }
    std::vector<rte_mbuf *> v(16 * 2048);
    for (auto &m : v)
        m = rte_pktmbuf_alloc(mp);
    elastic_pool_stats st;
    elastic_mempool_xstats xs;
    elastic_mempool_stats_get(mp, &st);
    elastic_mempool_xstats_get(mp, &xs);
    std::printf("\n== growth: %lu chunks of 2048 mbufs (%zu bytes each): mean %.3f ms, "
                "max %.3f ms per chunk (memzone reserve + populate + rte_pktmbuf_init)\n",
                (unsigned long)st.nb_grows, st.chunk_size,
                st.nb_grows ? st.grow_ns_total / 1e6 / st.nb_grows : 0.0, xs.grow_ns_max / 1e6);
    for (auto *m : v)
        rte_pktmbuf_free(m);
    rte_mempool_free(mp);
}

// One ramp: take mbufs one by one (~2 us apart) until the pool has grown 10 chunks past its
// base (11 x 2,048 mbufs). A get that finds the pool dry (the wall is far: only while a growth
// of maintenance is under way, which a get never waits for) is counted and retried.
struct ramp_result {
    double worst_us;
    unsigned dry;
    uint64_t grow_datapath;
    uint64_t grow_maintenance;
};

ramp_result ramp_once(bool pregrow, unsigned run)
{
    constexpr unsigned chunk = 2048, target = 11 * chunk;
    elastic_mempool_params p;
    elastic_mempool_params_init(&p);
    p.base_objs = chunk;
    p.chunk_objs = chunk;
    p.low_watermark = chunk / 2;
    p.flags = ELASTIC_MEMPOOL_F_MANUAL_TICK | ELASTIC_MEMPOOL_F_NO_SHRINK |
              (pregrow ? 0 : ELASTIC_MEMPOOL_F_NO_PREGROW);
    char name[RTE_MEMPOOL_NAMESIZE];
    snprintf(name, sizeof(name), "bm_ramp%s_%u", pregrow ? "_pre" : "", run);
    rte_mempool *mp = elastic_pktmbuf_pool_create(name, 2 * target, 0, 0,
                                                  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY, &p);
    if (mp == nullptr)
        return ramp_result{-1, 0, 0, 0};
    std::atomic<bool> stop{false};
    std::thread maint([&] {
        while (!stop.load()) {
            elastic_mempool_maintain(mp);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    std::vector<rte_mbuf *> v;
    v.reserve(target);
    uint64_t worst = 0;
    unsigned dry = 0;
    const uint64_t hz = rte_get_tsc_hz();
    while (v.size() < target && dry < 1'000'000) {
        const uint64_t t0 = rte_get_tsc_cycles();
        rte_mbuf *m = rte_pktmbuf_alloc(mp);
        const uint64_t dt = rte_get_tsc_cycles() - t0;
        worst = std::max(worst, dt);
        if (m == nullptr)
            dry++;
        else
            v.push_back(m);
        rte_delay_us_block(2); // ~2 us between packets: ~4 ms per chunk of demand
    }
    stop = true;
    maint.join();
    elastic_mempool_xstats xs;
    elastic_mempool_xstats_get(mp, &xs);
    for (auto *m : v)
        rte_pktmbuf_free(m);
    rte_mempool_free(mp);
    return ramp_result{worst * 1e6 / hz, dry, xs.nb_grow_datapath, xs.nb_grow_maintenance};
}

void ramp(bool pregrow, unsigned runs)
{
    std::vector<double> worst;
    std::printf("ramp %-22s:", pregrow ? "with growth ahead" : "datapath growth only");
    for (unsigned r = 0; r < runs; r++) {
        const ramp_result res = ramp_once(pregrow, r);
        worst.push_back(res.worst_us);
        std::printf(" [worst %.1f us, dry %u, grown dp %lu / maint %lu]", res.worst_us, res.dry,
                    (unsigned long)res.grow_datapath, (unsigned long)res.grow_maintenance);
    }
    std::sort(worst.begin(), worst.end());
    std::printf("\n  median worst get latency over %u runs: %.1f us (target <= 50 us)\n", runs,
                worst[worst.size() / 2]);
}

} // namespace

int main(int argc, char **argv)
{
    std::vector<std::string> eal{argv[0]};
    int first_own = 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            for (int j = 1; j < i; j++)
                eal.emplace_back(argv[j]);
            first_own = i + 1;
        }
    // Its own prefix, hugepage files unlinked once mapped, and the runtime directory removed at
    // exit (DPDK 22.11 leaves it): a run leaves nothing in /dev/hugepages or /var/run/dpdk.
    const std::string own_prefix = "mempool_bench_" + std::to_string(getpid());
    if (eal.size() == 1) {
        eal.insert(eal.end(), {"--no-pci", "--file-prefix=" + own_prefix, "--huge-unlink",
                               "-l", "0,1"});
    }
    if (const char *extra = getenv("ELASTIC_EAL_ARGS")) {
        std::string s(extra), w;
        for (size_t i = 0; i <= s.size(); i++) {
            if (i == s.size() || s[i] == ' ') {
                if (!w.empty())
                    eal.push_back(w);
                w.clear();
            } else {
                w += s[i];
            }
        }
    }
    uint64_t ms = 300;
    bool quick = false;
    std::string only; // backend, growth or ramp
    for (int i = first_own; i < argc; i++) {
        if (strncmp(argv[i], "--only=", 7) == 0)
            only = argv[i] + 7;
        if (strncmp(argv[i], "--ms=", 5) == 0)
            ms = strtoull(argv[i] + 5, nullptr, 10);
        else if (strcmp(argv[i], "--quick") == 0)
            quick = true;
    }
    std::vector<char *> eargv;
    for (auto &s : eal)
        eargv.push_back(s.data());
    if (rte_eal_init(static_cast<int>(eargv.size()), eargv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    if (only.empty() || only == "backend")
        backend(quick ? 50 : ms);
    if (only.empty() || only == "growth")
        growth_latency();
    if (only.empty() || only == "ramp") {
        std::printf("\n== ramp: 10 chunks of 2,048 mbufs grown, one mbuf every ~2 us\n");
        ramp(false, quick ? 1 : 5);
        ramp(true, quick ? 1 : 5);
    }
    const std::string rundir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    if (rundir.find(own_prefix) != std::string::npos) {
        std::error_code ec;
        std::filesystem::remove_all(rundir, ec);
    }
    return 0;
}
