// SPDX-License-Identifier: BSD-3-Clause
// bench-varsize (issue 10): one alloc+free pair per iteration of the variable-size face, with and
// without its per-thread cache, against rte_malloc, glibc malloc and an rte_mempool per size
// class, in one binary under one EAL, so that every ratio is measured in the same run.
//
//   elastic     elastic_buf_alloc/free, pool without thread cache (one mutex per pool)
//   elastic_tc  the same with elastic_pool_params.thread_cache = tc_per_class
//   rte_malloc  rte_malloc(NULL, size, 0) / rte_free
//   malloc      glibc malloc/free
//   mempool     one rte_mempool per class 4 KiB..1 MiB (elements of the class size, per-lcore
//               cache of mp_cache objects), the class picked as elastic rounds a size
//
// Sizes 4 KiB, 16 KiB, 64 KiB, 256 KiB, 1 MiB and "mixed" (a fixed random table, every class
// 4 KiB..256 KiB equally likely, the size random within the class's upper half). 1 and 2
// threads, all of them on one pool / heap / set of mempools. Every benchmark thread registers
// with the EAL (rte_thread_register) so that it has an lcore id: the mempools' per-lcore caches
// work for it as for a datapath lcore. The items counter is alloc+free pairs; with 2 threads
// Google Benchmark reports their total rate (UseRealTime).
//
// Usage: bench-varsize [EAL args --] [benchmark flags]; perf/varsize-bench.sh runs it and prints
// the table. The program fails if any elastic allocation was refused or a buffer stayed out.

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include "bench_eal.hpp"
#include "elasticpool.h"

namespace {

constexpr size_t kib = 1024;
constexpr size_t mib = 1024 * kib;
constexpr size_t mixed_table_size = 4096; // power of two
constexpr unsigned nb_classes = 9;        // 4 KiB .. 1 MiB
// Thread cache of the elastic_tc pool: buffers per class and thread (the pool's base of 32 MiB
// allows this many of every cached class: base / 16 per class).
constexpr uint32_t tc_per_class = 32;
// Per class mempool: objects and per-lcore cache. Two threads hold at most 1.5 x cache each in
// their caches plus one in hand; 1 MiB x 48 objects is the largest of these pools.
constexpr unsigned mp_objs = 48;
constexpr unsigned mp_cache = 8;

elastic_pool *g_pool, *g_pool_tc;
rte_mempool *g_mp[nb_classes];
std::vector<size_t> g_mixed;

inline unsigned class_of(size_t n) noexcept
{
    const size_t c = std::bit_ceil(n < 4 * kib ? 4 * kib : n);
    return unsigned(std::countr_zero(c)) - 12;
}

struct elastic_api {
    static void *alloc(size_t n) noexcept { return elastic_buf_alloc(g_pool, n); }
    static void release(void *p, size_t) noexcept { elastic_buf_free(g_pool, p); }
};
struct elastic_tc_api {
    static void *alloc(size_t n) noexcept { return elastic_buf_alloc(g_pool_tc, n); }
    static void release(void *p, size_t) noexcept { elastic_buf_free(g_pool_tc, p); }
};
struct rte_malloc_api {
    static void *alloc(size_t n) noexcept { return rte_malloc(nullptr, n, 0); }
    static void release(void *p, size_t) noexcept { rte_free(p); }
};
struct malloc_api {
    static void *alloc(size_t n) noexcept { return std::malloc(n); }
    static void release(void *p, size_t) noexcept { std::free(p); }
};
struct mempool_api {
    static void *alloc(size_t n) noexcept
    {
        void *o;
        return rte_mempool_get(g_mp[class_of(n)], &o) == 0 ? o : nullptr;
    }
    static void release(void *p, size_t n) noexcept { rte_mempool_put(g_mp[class_of(n)], p); }
};

// size 0 = mixed
inline size_t size_at(size_t size, size_t &i) noexcept
{
    return size != 0 ? size : g_mixed[i++ & (mixed_table_size - 1)];
}

// The benchmark thread gets an EAL lcore id for the run (the main lcore has one already).
struct eal_thread {
    bool registered = false;
    eal_thread()
    {
        if (rte_lcore_id() == LCORE_ID_ANY)
            registered = rte_thread_register() == 0;
    }
    ~eal_thread()
    {
        if (registered)
            rte_thread_unregister();
    }
};

template <class Api>
void bm_pair(benchmark::State &state)
{
    const auto size = static_cast<size_t>(state.range(0));
    size_t i = static_cast<size_t>(state.thread_index()) * 1031;
    eal_thread reg;
    for (auto _ : state) {
        const size_t n = size_at(size, i);
        void *p = Api::alloc(n);
        if (p == nullptr) {
            state.SkipWithError("allocation failed");
            break;
        }
        *static_cast<volatile char *>(p) = 1;
        benchmark::DoNotOptimize(p);
        Api::release(p, n);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

template <class Api>
void register_all(const char *api)
{
    const struct {
        const char *label;
        int64_t size;
    } sizes[] = {{"4KiB", 4 * kib},   {"16KiB", 16 * kib}, {"64KiB", 64 * kib},
                 {"256KiB", 256 * kib}, {"1MiB", mib},     {"mixed", 0}};
    for (const auto &s : sizes) {
        const std::string pair = std::string("pair/") + api + "/" + s.label;
        benchmark::RegisterBenchmark(pair.c_str(), bm_pair<Api>)
            ->Arg(s.size)->Threads(1)->Threads(2)->UseRealTime();
    }
}

void make_mixed_table()
{
    g_mixed = bench_eal::mixed_table(mixed_table_size);
}

elastic_pool *make_pool(const char *name, uint32_t thread_cache)
{
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = name;
    p.base_size = 32 * mib; // pairs hold one buffer per thread: no case grows
    p.chunk_size = 16 * mib;
    p.wall_size = 64 * mib;
    p.max_buf_size = mib;
    p.thread_cache = thread_cache;
    elastic_pool *pool = elastic_pool_create(&p);
    if (pool == nullptr)
        std::fprintf(stderr, "elastic_pool_create %s: %s\n", name, rte_strerror(rte_errno));
    return pool;
}

bool report(elastic_pool *pool)
{
    elastic_pool_stats st;
    elastic_pool_stats_get(pool, &st);
    std::fprintf(stderr,
                 "elastic pool %s: %lu allocs, %lu refused, %lu grows, in use %lu, "
                 "in thread caches %lu bytes\n",
                 elastic_pool_name(pool), static_cast<unsigned long>(st.nb_allocs),
                 static_cast<unsigned long>(st.nb_alloc_fail),
                 static_cast<unsigned long>(st.nb_grows),
                 static_cast<unsigned long>(st.in_use_bytes),
                 static_cast<unsigned long>(st.thread_cached_bytes));
    return st.nb_alloc_fail == 0 && st.in_use_bytes == 0;
}

} // namespace

int main(int argc, char **argv)
{
    // EAL args are those before a "--", benchmark flags the rest.
    if (!bench_eal::start(argc, argv, "elastic_bench_varsize"))
        return 1;

    g_pool = make_pool("bench_varsize", 0);
    g_pool_tc = make_pool("bench_varsize_tc", tc_per_class);
    bool ok = g_pool != nullptr && g_pool_tc != nullptr;
    for (unsigned k = 0; ok && k < nb_classes; k++) {
        char name[RTE_MEMPOOL_NAMESIZE];
        std::snprintf(name, sizeof(name), "bench_vs_%u", k);
        g_mp[k] = rte_mempool_create(name, mp_objs, unsigned(4 * kib) << k, mp_cache, 0,
                                     nullptr, nullptr, nullptr, nullptr, SOCKET_ID_ANY, 0);
        if (g_mp[k] == nullptr) {
            std::fprintf(stderr, "rte_mempool_create %s: %s\n", name, rte_strerror(rte_errno));
            ok = false;
        }
    }
    if (ok) {
        make_mixed_table();
        register_all<elastic_api>("elastic");
        register_all<elastic_tc_api>("elastic_tc");
        register_all<rte_malloc_api>("rte_malloc");
        register_all<malloc_api>("malloc");
        register_all<mempool_api>("mempool");
        benchmark::RunSpecifiedBenchmarks();
        benchmark::Shutdown();
        elastic_pool_thread_cache_flush(g_pool_tc); // the main thread's own cache
        ok = report(g_pool) && report(g_pool_tc);
        if (!ok)
            std::fprintf(stderr, "FAILED: a pool refused allocations or buffers are still out\n");
    }
    for (rte_mempool *mp : g_mp)
        rte_mempool_free(mp);
    elastic_pool_free(g_pool_tc);
    elastic_pool_free(g_pool);
    rte_eal_cleanup();
    return ok ? 0 : 1;
}
