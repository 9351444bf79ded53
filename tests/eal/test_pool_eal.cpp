// SPDX-License-Identifier: BSD-3-Clause
// The variable-size pool on a running EAL: the memzone provider is the default, buffers carry
// the IOVA the EAL knows, grown chunks take hugepages from the kernel and trim gives them back,
// and a provider that runs out of hugepages leaves the pool usable.
#include "eal_env.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_memory.h>
#include <rte_memzone.h>

#include <elasticpool.h>

namespace {

using elastic::test::hugepages_free;
using elastic::test::no_huge;

constexpr size_t KiB = 1024, MiB = 1024 * KiB;
constexpr uint64_t ns_s = 1'000'000'000;
constexpr long hugepage = 2 * MiB;

struct fake_clock {
    std::atomic<uint64_t> now{100'000 * ns_s};
    static uint64_t read(void *ctx) noexcept
    {
        return static_cast<fake_clock *>(ctx)->now.load(std::memory_order_relaxed);
    }
};

struct pool_deleter {
    void operator()(elastic_pool *p) const noexcept { elastic_pool_free(p); }
};
using pool_ptr = std::unique_ptr<elastic_pool, pool_deleter>;

struct zone {
    uintptr_t addr;
    size_t len;
    std::string name;
};

// The memzones of chunks: every memzone but the node-budget table, which the first pool of
// the process reserves and which stays for the process's life (budget.cpp).
std::vector<zone> memzones()
{
    std::vector<zone> out;
    rte_memzone_walk(
        [](const rte_memzone *mz, void *arg) {
            if (std::string(mz->name) != "elastic_node_budgets")
                static_cast<std::vector<zone> *>(arg)->push_back(
                    zone{reinterpret_cast<uintptr_t>(mz->addr), mz->len, mz->name});
        },
        &out);
    return out;
}

// The memzones whose range holds [p, p + len).
size_t zones_holding(const void *p, size_t len)
{
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    size_t n = 0;
    for (const zone &z : memzones())
        n += a >= z.addr && a + len <= z.addr + z.len;
    return n;
}

elastic_pool_stats stats_of(const elastic_pool *pool)
{
    elastic_pool_stats st;
    std::memset(&st, 0, sizeof(st));
    EXPECT_EQ(elastic_pool_stats_get(pool, &st), 0);
    return st;
}

// Default provider (no provider flag), manual ticks, fake clock.
elastic_pool_params eal_params(const char *name, size_t base, size_t chunk, size_t wall,
                               fake_clock *clk)
{
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = name;
    p.base_size = base;
    p.chunk_size = chunk;
    p.wall_size = wall;
    p.flags = ELASTIC_POOL_F_MANUAL_TICK;
    p.clock = &fake_clock::read;
    p.clock_ctx = clk;
    return p;
}

void expect_iova_matches(const elastic_pool *pool, void *buf, size_t size, const char *where)
{
    const rte_iova_t iova = elastic_buf_iova(pool, buf);
    ASSERT_NE(iova, RTE_BAD_IOVA) << where << ": " << rte_strerror(rte_errno);
    EXPECT_EQ(iova, rte_mem_virt2iova(buf)) << where;
    // Interior pointers: the buffer is IOVA-contiguous (no larger than a hugepage).
    for (size_t off : {size_t{1}, 4 * KiB, size / 2 + 17, size - 1}) {
        if (off >= size)
            continue;
        const char *p = static_cast<const char *>(buf) + off;
        EXPECT_EQ(elastic_buf_iova(pool, p), iova + off) << where << " + " << off;
        EXPECT_EQ(elastic_buf_iova(pool, p), rte_mem_virt2iova(p)) << where << " + " << off;
    }
}

TEST(pool_eal, memzone_provider_is_the_default_and_iovas_are_the_eals)
{
    fake_clock clk;
    const size_t zones_before = memzones().size();
    auto p = eal_params("eal-iova", 2 * MiB, 2 * MiB, 8 * MiB, &clk);
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(memzones().size(), zones_before + 1) << "the base chunk is not a memzone";

    // One 1 MiB buffer fills the 2 MiB base (its first 4 KiB page holds the memzone's malloc
    // header: the chunk maps exactly its hugepage), the second grows a chunk: a second memzone.
    std::vector<void *> bufs;
    for (int i = 0; i < 2; i++) {
        void *b = elastic_buf_alloc(pool.get(), 1 * MiB);
        ASSERT_NE(b, nullptr) << rte_strerror(rte_errno);
        std::memset(b, 0x5a, 1 * MiB);
        EXPECT_EQ(zones_holding(b, 1 * MiB), 1u) << "buffer " << i << " not inside one memzone";
        bufs.push_back(b);
    }
    EXPECT_EQ(stats_of(pool.get()).nb_grows, 1u);
    EXPECT_EQ(memzones().size(), zones_before + 2) << "the grown chunk is not its own memzone";
    expect_iova_matches(pool.get(), bufs[0], 1 * MiB, "base buffer");
    expect_iova_matches(pool.get(), bufs[1], 1 * MiB, "grown-chunk buffer");

    // Small buffers too, in the grown chunk's other half.
    void *small = elastic_buf_alloc(pool.get(), 4 * KiB);
    ASSERT_NE(small, nullptr);
    expect_iova_matches(pool.get(), small, 4 * KiB, "4 KiB buffer");

    // Anything else has no IOVA.
    int on_stack = 0;
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_iova(pool.get(), &on_stack), RTE_BAD_IOVA);
    EXPECT_EQ(rte_errno, EINVAL);
    ASSERT_EQ(elastic_buf_free(pool.get(), bufs[1]), 0);
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_iova(pool.get(), bufs[1]), RTE_BAD_IOVA) << "IOVA of a freed buffer";
    EXPECT_EQ(rte_errno, EINVAL);
    bufs[1] = small;

    for (void *b : bufs)
        EXPECT_EQ(elastic_buf_free(pool.get(), b), 0);
    pool.reset();
    EXPECT_EQ(memzones().size(), zones_before) << "memzones left after the pool was freed";
}

TEST(pool_eal, explicit_providers_under_the_eal)
{
    fake_clock clk;
    auto p = eal_params("eal-heap", 64 * KiB, 64 * KiB, 128 * KiB, &clk);
    p.flags |= ELASTIC_POOL_F_PROVIDER_HEAP;
    const size_t zones_before = memzones().size();
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(memzones().size(), zones_before) << "heap provider reserved a memzone";
    void *b = elastic_buf_alloc(pool.get(), 4 * KiB);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(zones_holding(b, 4 * KiB), 0u);
    EXPECT_EQ(elastic_buf_free(pool.get(), b), 0);

    auto m = eal_params("eal-mz", 64 * KiB, 64 * KiB, 128 * KiB, &clk);
    m.flags |= ELASTIC_POOL_F_PROVIDER_MEMZONE;
    pool_ptr mz(elastic_pool_create(&m));
    ASSERT_NE(mz, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(memzones().size(), zones_before + 1);
}

TEST(pool_eal, growth_takes_hugepages_and_trim_gives_them_back)
{
    if (no_huge())
        GTEST_SKIP() << "no hugepages (--no-huge): HugePages_Free does not move";
    fake_clock clk;
    constexpr size_t chunk = 8 * MiB; // four hugepages
    auto p = eal_params("eal-huge", 2 * MiB, chunk, 2 * MiB + 2 * chunk, &clk);
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);

    std::vector<void *> bufs;
    for (int i = 0; i < 1; i++) // fill the base (one 1 MiB buffer: its first 4 KiB is not its)
        bufs.push_back(elastic_buf_alloc(pool.get(), 1 * MiB));
    const long before = hugepages_free();
    ASSERT_GE(before, 0);
    void *grown = elastic_buf_alloc(pool.get(), 1 * MiB);
    ASSERT_NE(grown, nullptr) << rte_strerror(rte_errno);
    bufs.push_back(grown);
    const long grew = hugepages_free();
    auto st = stats_of(pool.get());
    ASSERT_EQ(st.nb_grows, 1u);
    EXPECT_EQ(st.pinned_bytes, 2 * MiB + chunk);
    EXPECT_LE(grew, before - long(chunk / hugepage)) << "growth took no hugepages";

    for (void *b : bufs)
        ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
    // Nothing is released before the idle period, then trim releases the grown chunk.
    EXPECT_EQ(elastic_pool_trim(pool.get()), 0);
    clk.now += 300 * ns_s;
    EXPECT_EQ(elastic_pool_trim(pool.get()), 1);
    const long released = hugepages_free();
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.pinned_bytes, 2 * MiB);
    EXPECT_GE(released, grew + long(chunk / hugepage)) << "the chunk's hugepages did not go back";
}

// Holds memzones that eat hugepages (or --no-huge memory) until only `keep_pages` remain free:
// one large zone first (reserving page by page is slow), then 16 MiB ones.
class filler {
public:
    explicit filler(long keep_pages)
    {
        long want = no_huge() ? 0 : hugepages_free() - keep_pages - 1;
        if (want > 8 && take(size_t(want) * hugepage) == nullptr)
            take(size_t(want / 2) * hugepage);
        for (int i = 0; i < 256; i++) {
            if (!no_huge() && hugepages_free() <= keep_pages)
                break;
            if (take(16 * MiB) == nullptr)
                break;
        }
    }
    ~filler() { release(); }
    void release()
    {
        for (const rte_memzone *mz : zones_)
            EXPECT_EQ(rte_memzone_free(mz), 0);
        zones_.clear();
    }
    size_t count() const { return zones_.size(); }

private:
    const rte_memzone *take(size_t len)
    {
        const std::string name = "eal_fill_" + std::to_string(zones_.size());
        const rte_memzone *mz =
            rte_memzone_reserve_aligned(name.c_str(), len, SOCKET_ID_ANY, 0, 2 * MiB);
        if (mz != nullptr)
            zones_.push_back(mz);
        return mz;
    }

    std::vector<const rte_memzone *> zones_;
};

TEST(pool_eal, hugepages_exhausted_during_growth_leave_the_pool_usable)
{
    fake_clock clk;
    constexpr size_t chunk = 64 * MiB;
    auto p = eal_params("eal-enomem", 4 * MiB, chunk, 4 * MiB + 16 * chunk, &clk);
    p.max_buf_size = 1 * MiB;
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    // Three 1 MiB buffers fill the 4 MiB base (the memzone's header has its first 4 KiB).
    std::vector<void *> bufs;
    for (int i = 0; i < 3; i++) {
        bufs.push_back(elastic_buf_alloc(pool.get(), 1 * MiB));
        ASSERT_NE(bufs.back(), nullptr);
    }
    EXPECT_EQ(stats_of(pool.get()).nb_grows, 0u);

    // Fewer free hugepages than one chunk needs (32): growth must fail.
    filler fill(24);
    std::printf("filler: %zu memzones, HugePages_Free now %ld\n", fill.count(),
                hugepages_free());
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc(pool.get(), 1 * MiB), nullptr);
    EXPECT_EQ(rte_errno, ENOMEM);
    auto st = stats_of(pool.get());
    EXPECT_EQ(st.nb_grow_fail, 1u);
    EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_PROVIDER));
    EXPECT_EQ(st.nb_alloc_fail, 1u);
    EXPECT_EQ(st.nb_grows, 0u);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.pinned_bytes, 4 * MiB);

    // An asynchronous request waits instead; a free serves it.
    struct got_t {
        void *buf = nullptr;
        int runs = 0;
    } got;
    auto cb = [](elastic_pool *, void *buf, void *arg) {
        auto *g = static_cast<got_t *>(arg);
        g->buf = buf;
        g->runs++;
    };
    ASSERT_EQ(elastic_buf_alloc_async(pool.get(), 1 * MiB, cb, &got), 0);
    EXPECT_EQ(got.runs, 0);
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_waiters, 1u);
    EXPECT_EQ(st.nb_grow_fail, 2u) << "the request should have tried the provider once";
    void *freed = bufs[2];
    ASSERT_EQ(elastic_buf_free(pool.get(), freed), 0);
    EXPECT_EQ(got.runs, 1);
    EXPECT_EQ(got.buf, freed);
    bufs[2] = got.buf;

    // The pool is intact and still serves what it has.
    ASSERT_EQ(elastic_buf_free(pool.get(), bufs[0]), 0);
    bufs[0] = elastic_buf_alloc(pool.get(), 1 * MiB);
    EXPECT_NE(bufs[0], nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(stats_of(pool.get()).in_use_bytes, 3 * MiB);

    // Another request queues behind a full base; when the hugepages come back, the next
    // maintenance tick grows the pool and serves it (no free needed).
    got_t later;
    ASSERT_EQ(elastic_buf_alloc_async(pool.get(), 1 * MiB, cb, &later), 0);
    EXPECT_EQ(later.runs, 0);
    EXPECT_EQ(stats_of(pool.get()).nb_grow_fail, 3u);
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc(pool.get(), 4 * KiB), nullptr) << "direct request overtook";
    EXPECT_EQ(rte_errno, ENOBUFS);
    fill.release();
    EXPECT_EQ(elastic_pool_maintain(pool.get()), 0);
    ASSERT_EQ(later.runs, 1) << "maintenance did not grow for the waiter";
    bufs.push_back(later.buf);
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_grows, 1u);
    EXPECT_EQ(st.nb_waiters, 0u);
    EXPECT_EQ(st.pinned_bytes, 4 * MiB + chunk);
    EXPECT_EQ(st.nb_grow_fail, 3u);
    EXPECT_EQ(elastic_buf_iova(pool.get(), later.buf), rte_mem_virt2iova(later.buf));

    // And direct requests are served from the grown chunk.
    void *grown = elastic_buf_alloc(pool.get(), 1 * MiB);
    ASSERT_NE(grown, nullptr) << rte_strerror(rte_errno);
    bufs.push_back(grown);
    EXPECT_EQ(stats_of(pool.get()).nb_grows, 1u);
    for (void *b : bufs)
        EXPECT_EQ(elastic_buf_free(pool.get(), b), 0);
    EXPECT_EQ(stats_of(pool.get()).in_use_bytes, 0u);
}

TEST(pool_eal, destroy_with_buffers_out_releases_every_memzone)
{
    fake_clock clk;
    const size_t zones_before = memzones().size();
    auto p = eal_params("eal-leak", 2 * MiB, 2 * MiB, 6 * MiB, &clk);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    // One 1 MiB buffer per 2 MiB chunk (their first 4 KiB are the memzone headers'): three
    // fill the wall.
    for (int i = 0; i < 3; i++)
        ASSERT_NE(elastic_buf_alloc(pool, 1 * MiB), nullptr);
    EXPECT_EQ(memzones().size(), zones_before + 3);
    elastic_pool_free(pool);
    EXPECT_EQ(memzones().size(), zones_before);
    rte_errno = 0;
    EXPECT_EQ(elastic_pool_lookup("eal-leak"), nullptr);
    EXPECT_EQ(rte_errno, ENOENT);
}

// Per-thread caches on EAL lcores (issue 10): a worker lcore's allocations and frees hit its own
// cache of memzone-chunk buffers (IOVAs intact); the lcore's thread lives on, so the cache
// stays until the lcore flushes it; a pool destroyed with a live lcore's cache takes it back.
struct lcore_job {
    elastic_pool *pool;
    int (*fn)(lcore_job &);
    void *first = nullptr, *again = nullptr;
    rte_iova_t iova = RTE_BAD_IOVA;
    int flushed = -1;
};
int run_job(void *arg)
{
    auto *j = static_cast<lcore_job *>(arg);
    return j->fn(*j);
}

TEST(pool_eal, thread_cache_on_a_worker_lcore)
{
    const unsigned worker = rte_get_next_lcore(-1, 1, 0);
    if (worker >= RTE_MAX_LCORE)
        GTEST_SKIP() << "one lcore only";
    fake_clock clk;
    const size_t zones_before = memzones().size();
    for (int round = 0; round < 2; round++) {
        auto p = eal_params("eal-tcache", 4 * MiB, 2 * MiB, 8 * MiB, &clk);
        p.thread_cache = 8;
        pool_ptr pool(elastic_pool_create(&p));
        ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
        lcore_job j{pool.get(), [](lcore_job &jb) {
                        jb.first = elastic_buf_alloc(jb.pool, 4 * KiB);
                        if (jb.first == nullptr)
                            return -1;
                        std::memset(jb.first, 0x5a, 4 * KiB);
                        jb.iova = elastic_buf_iova(jb.pool, jb.first);
                        if (elastic_buf_free(jb.pool, jb.first) != 0)
                            return -2;
                        jb.again = elastic_buf_alloc(jb.pool, 4 * KiB); // a hit: the same one
                        return elastic_buf_free(jb.pool, jb.again);
                    }};
        ASSERT_EQ(rte_eal_remote_launch(run_job, &j, worker), 0);
        ASSERT_EQ(rte_eal_wait_lcore(worker), 0);
        EXPECT_EQ(j.again, j.first);
        EXPECT_NE(j.iova, RTE_BAD_IOVA);
        EXPECT_EQ(j.iova, rte_mem_virt2iova(j.first));
        auto st = stats_of(pool.get());
        EXPECT_GT(st.thread_cached_bytes, 0u) << "the worker lcore keeps its cache";
        EXPECT_EQ(st.in_use_bytes, 0u);
        EXPECT_EQ(st.nb_allocs, 2u);
        if (round == 0) {
            j.fn = [](lcore_job &jb) {
                jb.flushed = elastic_pool_thread_cache_flush(jb.pool);
                return 0;
            };
            ASSERT_EQ(rte_eal_remote_launch(run_job, &j, worker), 0);
            ASSERT_EQ(rte_eal_wait_lcore(worker), 0);
            EXPECT_GT(j.flushed, 0);
            EXPECT_EQ(stats_of(pool.get()).thread_cached_bytes, 0u);
        }
        // Round 1: destroyed with the live worker's cache full; round 0: after its flush.
        pool.reset();
        EXPECT_EQ(memzones().size(), zones_before);
    }
}

} // namespace

ELASTIC_EAL_TEST_MAIN("pool_eal")
