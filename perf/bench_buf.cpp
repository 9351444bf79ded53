// SPDX-License-Identifier: BSD-3-Clause
// bench-buf: cost of one allocation + free of a buffer, elastic_buf_alloc/free against
// rte_malloc/rte_free and malloc/free, in one binary under the same EAL.
//
//   pair   allocate one buffer, write a byte, free it            (the best case of every allocator)
//   batch  allocate 32 buffers, write a byte in each, free them in the same order
//          (ns per alloc+free pair, with 32 buffers of the size out at once)
//
// Sizes: 4 KiB, 64 KiB, 256 KiB, 1 MiB and "mixed" (a fixed random table of 4 KiB-256 KiB
// requests, every class 4 KiB..256 KiB equally likely, the size random within the class's upper
// half). 1 and 2 threads, all against one pool; the items counter is alloc+free pairs.
//
// Usage: bench-buf [EAL args --] [benchmark flags]
// Without EAL args it uses --no-pci --file-prefix=elastic_bench; the words of ELASTIC_EAL_ARGS
// (e.g. "--no-huge -m 512") are added in either case. The pool is sized so that no benchmark
// reaches the wall (base 128 MiB); the program fails if any elastic allocation was refused.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>

#include "bench_eal.hpp"
#include "elasticpool.h"

namespace {

constexpr size_t kib = 1024;
constexpr size_t mib = 1024 * kib;
constexpr size_t batch = 32;
constexpr size_t mixed_table_size = 4096; // power of two

elastic_pool *g_pool;
std::vector<size_t> g_mixed;

struct elastic_api {
    static void *alloc(size_t n) noexcept { return elastic_buf_alloc(g_pool, n); }
    static void release(void *p) noexcept { elastic_buf_free(g_pool, p); }
};

struct rte_malloc_api {
    static void *alloc(size_t n) noexcept { return rte_malloc(nullptr, n, 0); }
    static void release(void *p) noexcept { rte_free(p); }
};

struct malloc_api {
    static void *alloc(size_t n) noexcept { return std::malloc(n); }
    static void release(void *p) noexcept { std::free(p); }
};

// size 0 = mixed
inline size_t size_at(size_t size, size_t &i) noexcept
{
    return size != 0 ? size : g_mixed[i++ & (mixed_table_size - 1)];
}

template <class Api>
void bm_pair(benchmark::State &state)
{
    const auto size = static_cast<size_t>(state.range(0));
    size_t i = static_cast<size_t>(state.thread_index()) * 1031;
    for (auto _ : state) {
        void *p = Api::alloc(size_at(size, i));
        if (p == nullptr) {
            state.SkipWithError("allocation failed");
            break;
        }
        *static_cast<volatile char *>(p) = 1;
        benchmark::DoNotOptimize(p);
        Api::release(p);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

template <class Api>
void bm_batch(benchmark::State &state)
{
    const auto size = static_cast<size_t>(state.range(0));
    size_t i = static_cast<size_t>(state.thread_index()) * 1031;
    void *bufs[batch];
    for (auto _ : state) {
        size_t got = 0;
        for (; got < batch; got++) {
            bufs[got] = Api::alloc(size_at(size, i));
            if (bufs[got] == nullptr)
                break;
            *static_cast<volatile char *>(bufs[got]) = 1;
        }
        benchmark::DoNotOptimize(bufs);
        for (size_t k = 0; k < got; k++)
            Api::release(bufs[k]);
        if (got != batch) {
            state.SkipWithError("allocation failed");
            break;
        }
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}

template <class Api>
void register_all(const char *api)
{
    const struct {
        const char *label;
        int64_t size;
    } sizes[] = {{"4KiB", 4 * kib}, {"64KiB", 64 * kib}, {"256KiB", 256 * kib}, {"1MiB", mib},
                   {"mixed", 0}};
    for (const auto &s : sizes) {
        const std::string pair = std::string("pair/") + api + "/" + s.label;
        const std::string bat = std::string("batch32/") + api + "/" + s.label;
        benchmark::RegisterBenchmark(pair.c_str(), bm_pair<Api>)
            ->Arg(s.size)->Threads(1)->Threads(2)->UseRealTime();
        benchmark::RegisterBenchmark(bat.c_str(), bm_batch<Api>)
            ->Arg(s.size)->Threads(1)->Threads(2)->UseRealTime();
    }
}

void make_mixed_table()
{
    g_mixed = bench_eal::mixed_table(mixed_table_size);
}

} // namespace

int main(int argc, char **argv)
{
    // EAL args are those before a "--", benchmark flags the rest.
    if (!bench_eal::start(argc, argv, "elastic_bench"))
        return 1;

    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = "bench_buf";
    p.base_size = 128 * mib;  // 2 threads x 32 x 1 MiB = 64 MiB at most out at once
    p.chunk_size = 32 * mib;
    p.wall_size = 256 * mib;
    p.max_buf_size = mib;
    g_pool = elastic_pool_create(&p);
    if (g_pool == nullptr) {
        std::fprintf(stderr, "elastic_pool_create: %s\n", rte_strerror(rte_errno));
        rte_eal_cleanup();
        return 1;
    }
    make_mixed_table();
    register_all<elastic_api>("elastic");
    register_all<rte_malloc_api>("rte_malloc");
    register_all<malloc_api>("malloc");

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();

    elastic_pool_stats st;
    elastic_pool_stats_get(g_pool, &st);
    std::fprintf(stderr,
                 "elastic pool: %lu allocs, %lu refused, %lu grows, peak in use %.1f MiB, "
                 "peak pinned %.1f MiB of wall %.0f MiB\n",
                 static_cast<unsigned long>(st.nb_allocs),
                 static_cast<unsigned long>(st.nb_alloc_fail),
                 static_cast<unsigned long>(st.nb_grows),
                 static_cast<double>(st.peak_in_use_bytes) / mib,
                 static_cast<double>(st.peak_pinned_bytes) / mib,
                 static_cast<double>(st.wall_size) / mib);
    const bool ok = st.nb_alloc_fail == 0 && st.in_use_bytes == 0;
    if (!ok)
        std::fprintf(stderr, "FAILED: the pool refused allocations or buffers are still out\n");
    elastic_pool_free(g_pool);
    rte_eal_cleanup();
    return ok ? 0 : 1;
}
