// SPDX-License-Identifier: BSD-3-Clause
// Fault injection on the variable-size face (issue 13): a provider that refuses the Nth
// reservation, refuses all of them for a while, or is slow (tests/fault_injector.hpp). After
// every refusal the pool is consistent (stats, chunk list, waiters) and grows again once the
// provider gives memory. Heap provider, fake clock, manual ticks; the threaded case is meant for
// the TSan build too.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <rte_errno.h>

#include "fault_injector.hpp"
#include "pool.hpp"
#include "unit_common.hpp"

namespace {

using namespace elastic::test;
using elastic::detail::var_pool;

constexpr size_t base = 16 * KiB, chunk = 16 * KiB;

// The pool's chunk list agrees with its stats: one record per chunk, the base first, chunk-sized
// after it, pinned = their sum, in use = what the chunks hold.
void expect_consistent(elastic_pool *pool)
{
    const elastic_pool_stats st = stats_of(pool);
    var_pool::chunk_info ci[64];
    const size_t n = var_pool::from(pool)->chunk_infos(ci, 64, nullptr);
    ASSERT_EQ(n, st.nb_chunks);
    uint64_t pinned = 0, used = 0;
    for (size_t i = 0; i < n && i < 64; i++) {
        EXPECT_EQ(ci[i].size, i == 0 ? st.base_size : st.chunk_size) << "chunk " << i;
        pinned += ci[i].size;
        used += ci[i].size - ci[i].free_bytes;
    }
    EXPECT_EQ(st.pinned_bytes, pinned);
    EXPECT_EQ(st.in_use_bytes, used);
    EXPECT_LE(st.pinned_bytes, st.wall_size);
}

void count_cb(elastic_pool *, void *buf, void *arg)
{
    auto *got = static_cast<std::vector<void *> *>(arg);
    got->push_back(buf);
}

TEST(Faults, TheNthReservationFailsCleanlyAndTheNextOneGrows)
{
    fake_clock clk;
    const std::string name = unique_name("nth");
    elastic_pool_params p = heap_params(name, base, chunk, base + 4 * chunk, &clk);
    p.headroom_chunks = 0;
    fault_injector fi;
    fi.fail_at = 3; // 1: the base, 2: the first growth, 3: the second growth
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr);
    std::vector<void *> bufs;
    for (int i = 0; i < 2; i++) { // the base, then a first chunk
        bufs.push_back(elastic_buf_alloc(pool.get(), chunk));
        ASSERT_NE(bufs.back(), nullptr);
    }
    const elastic_pool_stats before = stats_of(pool.get());
    EXPECT_EQ(before.nb_chunks, 2u);

    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc(pool.get(), chunk), nullptr);
    EXPECT_EQ(rte_errno, ENOMEM);
    EXPECT_EQ(fi.refused.load(), 1u);
    elastic_pool_stats st = stats_of(pool.get());
    EXPECT_EQ(st.nb_grow_fail, 1u);
    EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_PROVIDER));
    EXPECT_EQ(st.nb_alloc_fail, before.nb_alloc_fail + 1);
    EXPECT_EQ(st.nb_chunks, before.nb_chunks);
    EXPECT_EQ(st.pinned_bytes, before.pinned_bytes);
    EXPECT_EQ(st.in_use_bytes, before.in_use_bytes);
    EXPECT_EQ(st.nb_grows, before.nb_grows);
    expect_consistent(pool.get());

    // Reservation 4 is let through: the pool grows again, up to its wall.
    for (int i = 0; i < 3; i++) {
        bufs.push_back(elastic_buf_alloc(pool.get(), chunk));
        ASSERT_NE(bufs.back(), nullptr) << i;
    }
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_chunks, 5u);
    EXPECT_EQ(st.pinned_bytes, base + 4 * chunk);
    EXPECT_EQ(st.nb_grow_fail, 1u);
    expect_consistent(pool.get());

    // Everything back: idle for longer than the idle period, trim gives back every chunk.
    for (void *b : bufs)
        ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
    clk.advance(uint64_t(p.idle_period_ms) * ns_ms + ns_s);
    EXPECT_EQ(elastic_pool_trim(pool.get()), 4);
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.in_use_bytes, 0u);
    expect_consistent(pool.get());
}

TEST(Faults, AWaiterQueuedWhileTheProviderRefusesIsServedByATickOnceItGives)
{
    fake_clock clk;
    const std::string name = unique_name("wait");
    elastic_pool_params p = heap_params(name, base, chunk, base + 2 * chunk, &clk);
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr);
    void *full = elastic_buf_alloc(pool.get(), base);
    ASSERT_NE(full, nullptr);

    fault_injector fi;
    fi.fail_all = true;
    std::vector<void *> got;
    ASSERT_EQ(elastic_buf_alloc_async(pool.get(), chunk, count_cb, &got), 0);
    EXPECT_TRUE(got.empty());
    elastic_pool_stats st = stats_of(pool.get());
    EXPECT_EQ(st.nb_waiters, 1u);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_GE(st.nb_grow_fail, 1u);
    // A direct allocation may not overtake the waiter, even one the base could hold.
    EXPECT_EQ(elastic_buf_alloc(pool.get(), 4 * KiB), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);

    // Ticks retry the growth while the provider still refuses: nothing changes but the count.
    for (int i = 0; i < 3; i++) {
        clk.advance(100 * ns_ms);
        EXPECT_EQ(elastic_pool_maintain(pool.get()), 0);
    }
    EXPECT_TRUE(got.empty());
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_waiters, 1u);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_GE(st.nb_grow_fail, 4u);
    expect_consistent(pool.get());

    fi.fail_all = false; // the memory is back: the next tick grows and serves the waiter
    clk.advance(100 * ns_ms);
    EXPECT_EQ(elastic_pool_maintain(pool.get()), 0);
    ASSERT_EQ(got.size(), 1u);
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_waiters, 0u);
    EXPECT_EQ(st.nb_chunks, 2u);
    EXPECT_EQ(st.in_use_bytes, base + chunk);
    expect_consistent(pool.get());
    EXPECT_EQ(elastic_buf_free(pool.get(), got[0]), 0);
    EXPECT_EQ(elastic_buf_free(pool.get(), full), 0);
}

TEST(Faults, ARefusedBaseFailsCreationAndLeavesNoTrace)
{
    const std::string name = unique_name("base");
    elastic_pool_params p = heap_params(name, base, chunk, base + 2 * chunk);
    {
        fault_injector fi;
        fi.fail_at = 1;
        rte_errno = 0;
        EXPECT_EQ(elastic_pool_create(&p), nullptr);
        EXPECT_EQ(rte_errno, ENOMEM);
        EXPECT_EQ(fi.refused.load(), 1u);
        EXPECT_EQ(elastic_pool_lookup(name.c_str()), nullptr);
        EXPECT_EQ(rte_errno, ENOENT);
    }
    pool_ptr pool(elastic_pool_create(&p)); // the name is free again
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(stats_of(pool.get()).nb_chunks, 1u);
}

// A slow provider that refuses every third reservation, under two threads allocating and
// freeing (stamped contents) while a third ticks and trims with the clock moving: no buffer is
// handed out twice, nothing is lost, and the pool ends consistent and back at its base.
TEST(Faults, ASlowFailingProviderUnderThreadsLosesNothing)
{
    fake_clock clk;
    const std::string name = unique_name("slow");
    elastic_pool_params p = heap_params(name, base, chunk, base + 6 * chunk, &clk);
    p.headroom_chunks = 0;
    p.idle_period_ms = 50;
    p.sample_period_ms = 10;
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr);
    fault_injector fi;
    fi.fail_every = 3;
    fi.delay_us = 200;

    constexpr int iterations = 5000;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> bad{0}, allocs{0}, refused{0};
    auto worker = [&](uint64_t seed) {
        std::mt19937_64 rng(seed);
        std::vector<std::pair<uint64_t *, uint64_t>> mine;
        for (int i = 0; i < iterations; i++) {
            clk.advance(ns_ms); // idle periods pass: ticks release, demand grows again
            if (i % 25 == 0)
                elastic_pool_maintain(pool.get());
            // Bursts (up to 8 held) and quiet stretches (1 held): the pool grows and shrinks.
            const size_t hold = (i / 200) % 2 == 0 ? 8 : 1;
            if (mine.size() < hold && (rng() % 3 != 0 || mine.empty())) {
                const size_t size = 4 * KiB << (rng() % 3);
                auto *b = static_cast<uint64_t *>(elastic_buf_alloc(pool.get(), size));
                if (b == nullptr) {
                    if (rte_errno != ENOMEM && rte_errno != ENOBUFS)
                        bad++;
                    refused++;
                    continue;
                }
                const uint64_t stamp = seed << 32 | uint64_t(i);
                b[0] = stamp;
                b[size / 8 - 1] = stamp;
                mine.emplace_back(b, stamp | uint64_t(size) << 48);
                allocs++;
            } else {
                const size_t k = rng() % mine.size();
                auto [b, tag] = mine[k];
                const uint64_t stamp = tag & ((uint64_t(1) << 48) - 1);
                const size_t size = size_t(tag >> 48);
                if (b[0] != stamp || b[size / 8 - 1] != stamp)
                    bad++; // somebody else was handed this memory
                if (elastic_buf_free(pool.get(), b) != 0)
                    bad++;
                mine.erase(mine.begin() + long(k));
            }
        }
        for (auto [b, tag] : mine)
            if (elastic_buf_free(pool.get(), b) != 0)
                bad++;
    };
    std::thread ticker([&] {
        for (int i = 0; i < 100000 && !stop.load(); i++) {
            clk.advance(5 * ns_ms);
            elastic_pool_maintain(pool.get());
            if (i % 16 == 0)
                elastic_pool_trim(pool.get());
            std::this_thread::yield();
        }
    });
    std::thread a(worker, 1), b(worker, 2);
    a.join();
    b.join();
    stop = true;
    ticker.join();

    EXPECT_EQ(bad.load(), 0u);
    EXPECT_GT(allocs.load(), 0u);
    EXPECT_GT(fi.refused.load(), 0u);
    elastic_pool_stats st = stats_of(pool.get());
    EXPECT_EQ(st.in_use_bytes, 0u);
    EXPECT_EQ(st.nb_allocs, st.nb_frees);
    EXPECT_EQ(st.nb_allocs, allocs.load());
    EXPECT_EQ(st.nb_waiters, 0u);
    EXPECT_EQ(st.nb_grow_fail, fi.refused.load());
    EXPECT_GE(st.nb_grows, 10u); // it went up and down many times
    EXPECT_GE(st.nb_shrinks, 5u);
    expect_consistent(pool.get());
    fi.fail_every = 0;
    clk.advance(ns_s);
    EXPECT_GE(elastic_pool_trim(pool.get()), 0);
    EXPECT_EQ(stats_of(pool.get()).nb_chunks, 1u);
    std::printf("reservations %lu, refused %lu, allocations %lu (refused %lu), grows %lu\n",
                (unsigned long)fi.calls.load(), (unsigned long)fi.refused.load(),
                (unsigned long)allocs.load(), (unsigned long)refused.load(),
                (unsigned long)st.nb_grows);
}

} // namespace
