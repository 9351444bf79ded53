/* SPDX-License-Identifier: BSD-3-Clause */
// Shared by the maintenance-service EAL tests (with and without a service lcore): small pools
// with millisecond periods that grow, are emptied, and must shrink back to their base chunk by
// the automatic maintenance alone.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <rte_mempool.h>

#include <elastic_mempool.h>
#include <elasticpool.h>

#include "maintenance.hpp"

namespace elastic::test {

inline constexpr size_t svc_kib = 1024;

inline std::string svc_name(const char *tag)
{
    static std::atomic<unsigned> n{0};
    return std::string(tag) + "-" + std::to_string(n++);
}

// 64 KiB base and chunks, wall 320 KiB; tick 2 ms, sample 10 ms, idle 20 ms, headroom 1.
inline elastic_pool_params svc_params(const std::string &name, uint32_t extra_flags = 0)
{
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = name.c_str();
    p.base_size = 64 * svc_kib;
    p.chunk_size = 64 * svc_kib;
    p.wall_size = 320 * svc_kib;
    p.max_buf_size = 64 * svc_kib;
    p.tick_ms = 2;
    p.sample_period_ms = 10;
    p.idle_period_ms = 20;
    p.flags = extra_flags;
    return p;
}

inline elastic_pool_stats svc_stats(const elastic_pool *p)
{
    elastic_pool_stats st{};
    EXPECT_EQ(elastic_pool_stats_get(p, &st), 0);
    return st;
}

// Waits (bounded) until pred() holds; returns whether it did.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(5000))
{
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// Grow a pool to 4 chunks, give everything back, and let the automatic maintenance release the
// three grown chunks. Returns the pool's stats at the end.
inline elastic_pool_stats grow_and_wait_for_release(elastic_pool *pool)
{
    std::vector<void *> bufs;
    for (int i = 0; i < 4; i++) {
        void *b = elastic_buf_alloc(pool, 64 * svc_kib);
        EXPECT_NE(b, nullptr) << rte_strerror(rte_errno);
        if (b != nullptr)
            bufs.push_back(b);
    }
    EXPECT_EQ(svc_stats(pool).nb_chunks, 4u);
    for (void *b : bufs)
        EXPECT_EQ(elastic_buf_free(pool, b), 0);
    EXPECT_TRUE(wait_until([&] { return svc_stats(pool).nb_chunks == 1; }))
        << "chunks still held: " << svc_stats(pool).nb_chunks;
    return svc_stats(pool);
}

// Pools created and freed in a loop by two threads while the driver ticks every millisecond:
// a tick on a freed pool is a heap-use-after-free under ASan (and garbage without it).
inline void churn_pools(uint32_t flags, int rounds)
{
    const uint64_t passes0 = detail::maintenance_info().passes;
    auto worker = [&](int id) {
        for (int i = 0; i < rounds; i++) {
            std::string name = svc_name(id == 0 ? "churn-a" : "churn-b");
            elastic_pool_params p = svc_params(name, flags);
            p.tick_ms = 1;
            p.sample_period_ms = 1;
            p.idle_period_ms = 1;
            p.headroom_chunks = 0;
            elastic_pool *pool = elastic_pool_create(&p);
            ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
            void *a = elastic_buf_alloc(pool, 64 * svc_kib);
            void *b = elastic_buf_alloc(pool, 64 * svc_kib); // grows
            ASSERT_NE(a, nullptr);
            ASSERT_NE(b, nullptr);
            EXPECT_EQ(elastic_buf_free(pool, b), 0);
            std::this_thread::sleep_for(std::chrono::microseconds(200 * (i % 8)));
            EXPECT_EQ(elastic_buf_free(pool, a), 0);
            elastic_pool_free(pool);
        }
    };
    std::thread t0(worker, 0), t1(worker, 1);
    t0.join();
    t1.join();
    EXPECT_GT(detail::maintenance_info().passes, passes0);
    EXPECT_EQ(detail::maintenance_info().members, 0u);
    EXPECT_EQ(detail::maintenance_info().driver, detail::maint_driver::none);
}

// ---- elastic mempools (drivers/mempool/elastic), members of the same maintenance ----

// A mempool name (RTE_MEMPOOL_NAMESIZE: keep tags short).
inline std::string mp_name(const char *tag)
{
    static std::atomic<unsigned> n{0};
    return std::string("u") + tag + std::to_string(n++);
}

// Base and chunks of `objs` objects; tick 2 ms, sample 10 ms, idle 20 ms, headroom 0, no growth
// ahead of need (the automatic maintenance must only release).
inline elastic_mempool_params mp_params(unsigned objs, uint32_t extra_flags = 0)
{
    elastic_mempool_params p;
    elastic_mempool_params_init(&p);
    p.base_objs = objs;
    p.chunk_objs = objs;
    p.tick_ms = 2;
    p.sample_period_ms = 10;
    p.idle_period_ms = 20;
    p.headroom_chunks = 0;
    p.flags = ELASTIC_MEMPOOL_F_NO_PREGROW | extra_flags;
    return p;
}

inline rte_mempool *make_mempool(const std::string &name, unsigned n,
                                 const elastic_mempool_params &p)
{
    // No cache: gets and puts reach the store at once, so chunk counts are exact.
    return elastic_pktmbuf_pool_create(name.c_str(), n, 0, 0, 256, SOCKET_ID_ANY, &p);
}

inline elastic_pool_stats mp_stats(const rte_mempool *mp)
{
    elastic_pool_stats st{};
    EXPECT_EQ(elastic_mempool_stats_get(mp, &st), 0);
    return st;
}

// Take every object of a 4-chunk mempool (3 datapath growths), give them back, and let the
// automatic maintenance release the three grown chunks. Returns the stats at the end.
inline elastic_pool_stats mp_grow_and_wait_for_release(rte_mempool *mp)
{
    std::vector<void *> objs(mp->size);
    EXPECT_EQ(rte_mempool_get_bulk(mp, objs.data(), mp->size), 0);
    EXPECT_EQ(mp_stats(mp).nb_chunks, 4u);
    rte_mempool_put_bulk(mp, objs.data(), mp->size);
    EXPECT_TRUE(wait_until([&] { return mp_stats(mp).nb_chunks == 1; }))
        << "chunks still held: " << mp_stats(mp).nb_chunks;
    return mp_stats(mp);
}

// Elastic mempools created and freed in a loop by two threads while the maintenance ticks every
// millisecond. The maintenance holds a heap ticket per mempool that rte_mempool_free deletes
// after unregistering: a tick after that is a heap-use-after-free under ASan.
inline void churn_mempools(int rounds)
{
    const uint64_t passes0 = detail::maintenance_info().passes;
    std::atomic<uint64_t> shrinks{0};
    auto worker = [&](int id) {
        for (int i = 0; i < rounds; i++) {
            const std::string name = mp_name(id == 0 ? "ca" : "cb");
            elastic_mempool_params p = mp_params(64);
            p.tick_ms = 1;
            p.sample_period_ms = 1;
            p.idle_period_ms = 1;
            rte_mempool *mp = make_mempool(name, 256, p);
            ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
            void *objs[100];
            ASSERT_EQ(rte_mempool_get_bulk(mp, objs, 100), 0); // grows one chunk
            rte_mempool_put_bulk(mp, objs, 100);
            std::this_thread::sleep_for(std::chrono::microseconds(250 * (i % 8)));
            // Every eighth round waits (bounded) for the release: short sleeps race the tick, so
            // a churn could otherwise end without one, and the release path would go unexercised.
            if (i % 8 == 7)
                wait_until([&] { return mp_stats(mp).nb_shrinks > 0; }, std::chrono::milliseconds(2000));
            shrinks += mp_stats(mp).nb_shrinks;
            rte_mempool_free(mp);
        }
    };
    std::thread t0(worker, 0), t1(worker, 1);
    t0.join();
    t1.join();
    EXPECT_GT(detail::maintenance_info().passes, passes0);
    EXPECT_GT(shrinks.load(), 0u) << "the maintenance never released a chunk during the churn";
    EXPECT_EQ(detail::maintenance_info().members, 0u);
    EXPECT_EQ(detail::maintenance_info().driver, detail::maint_driver::none);
}

} // namespace elastic::test
