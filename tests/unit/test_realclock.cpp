// SPDX-License-Identifier: BSD-3-Clause
// The one real-clock test: automatic ticks every 5 ms, samples every 20 ms, idle after 50 ms.
// Chunks grow, then go back on their own within a generous deadline, never before the idle
// period has passed since the last allocation from them.
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "unit_common.hpp"

namespace {

using namespace elastic::test;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr uint32_t tick_ms = 5, sample_ms = 20, idle_ms = 50;
constexpr auto deadline = std::chrono::seconds(10); // generous: the machine is shared

// Polls the stats until pred holds or the deadline passes; returns the time it first held.
template <typename Pred>
steady_clock::time_point wait_for(elastic_pool *pool, Pred pred, bool &ok)
{
    const auto end = steady_clock::now() + deadline;
    for (;;) {
        const auto st = stats_of(pool);
        const auto t = steady_clock::now();
        if (pred(st)) {
            ok = true;
            return t;
        }
        if (t > end) {
            ok = false;
            return t;
        }
        std::this_thread::sleep_for(milliseconds(1));
    }
}

TEST(real_clock, chunks_are_released_automatically_after_the_idle_period)
{
    const std::string name = unique_name("realclk");
    auto p = heap_params(name, 64 * KiB, 64 * KiB, 192 * KiB);
    p.flags = ELASTIC_POOL_F_PROVIDER_HEAP; // automatic ticks, CLOCK_MONOTONIC
    p.tick_ms = tick_ms;
    p.sample_period_ms = sample_ms;
    p.idle_period_ms = idle_ms;
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);

    // Ticks run by themselves: samples are taken without any call from us.
    bool ok = false;
    wait_for(pool.get(), [](const elastic_pool_stats &st) { return st.nb_samples >= 2; }, ok);
    EXPECT_TRUE(ok) << "no automatic samples";

    // Grow to three chunks. The last chunk's last allocation is not before `last_alloc`.
    void *a = elastic_buf_alloc(pool.get(), 64 * KiB);
    void *b = elastic_buf_alloc(pool.get(), 64 * KiB);
    const auto last_alloc = steady_clock::now();
    void *c = elastic_buf_alloc(pool.get(), 64 * KiB);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    ASSERT_NE(c, nullptr);
    auto st = stats_of(pool.get());
    EXPECT_EQ(st.nb_chunks, 3u);
    EXPECT_EQ(st.pinned_bytes, 192 * KiB);

    // While a buffer is out of the last chunk, it stays (well past the idle period).
    ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
    ASSERT_EQ(elastic_buf_free(pool.get(), a), 0);
    std::this_thread::sleep_for(milliseconds(4 * idle_ms));
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_chunks, 3u) << "released the last chunk while a buffer was out of it";
    EXPECT_EQ(st.nb_shrinks, 0u);
    const uint64_t samples_before = st.nb_samples;
    EXPECT_GE(samples_before, 2u + (4 * idle_ms) / sample_ms / 2) << "too few samples";

    // Freed now; it has been idle since `last_alloc`. It has been retiring since the first
    // sample that found it idle with a buffer out, so it goes at the next tick; the chunk
    // before it goes at a later sample (one release per sample).
    ASSERT_EQ(elastic_buf_free(pool.get(), c), 0);
    const auto first = wait_for(
        pool.get(), [](const elastic_pool_stats &s) { return s.nb_shrinks >= 1; }, ok);
    ASSERT_TRUE(ok) << "no automatic release within " << deadline.count() << " s";
    EXPECT_GE(first - last_alloc, milliseconds(idle_ms)) << "released before the idle period";
    wait_for(pool.get(), [](const elastic_pool_stats &s) { return s.nb_chunks == 1; }, ok);
    ASSERT_TRUE(ok) << "the second grown chunk was not released";
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_shrinks, 2u);
    EXPECT_EQ(st.pinned_bytes, 64 * KiB);
    EXPECT_EQ(st.peak_pinned_bytes, 192 * KiB);
    EXPECT_GE(st.nb_samples, samples_before + 1);

    // Grow again, use it, and check the release waits for the idle period from this allocation.
    void *d = elastic_buf_alloc(pool.get(), 64 * KiB);
    const auto regrow = steady_clock::now();
    void *e = elastic_buf_alloc(pool.get(), 64 * KiB);
    ASSERT_NE(d, nullptr);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(stats_of(pool.get()).nb_grows, 3u);
    ASSERT_EQ(elastic_buf_free(pool.get(), e), 0);
    ASSERT_EQ(elastic_buf_free(pool.get(), d), 0);
    const auto again = wait_for(
        pool.get(), [](const elastic_pool_stats &s) { return s.nb_shrinks >= 3; }, ok);
    ASSERT_TRUE(ok) << "regrown chunk not released";
    EXPECT_GE(again - regrow, milliseconds(idle_ms)) << "released before the idle period";
    EXPECT_EQ(stats_of(pool.get()).nb_chunks, 1u);
}

} // namespace
