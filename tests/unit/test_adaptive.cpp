// SPDX-License-Identifier: BSD-3-Clause
// The adaptive policy's rules (lib/elasticpool/adaptive.hpp) on hand-made numbers, and its
// decisions inside a real pool under a fake clock, next to the patent rule on the same demand.
#include <vector>

#include <gtest/gtest.h>

#include "adaptive.hpp"
#include "unit_common.hpp"

using namespace elastic::test;
using elastic::detail::adaptive_state;
using elastic::detail::demand_history;

TEST(DemandHistory, PeaksPerEpochAndSlidingWindow)
{
    demand_history h(1 * ns_s, 0);
    h.observe(100);
    h.observe(300);
    h.observe(200);
    EXPECT_EQ(h.peak_within(5 * ns_s), 300u); // the current epoch counts
    h.roll(1 * ns_s, 50);                      // closes [0,1): peak 300; next starts at 50
    EXPECT_EQ(h.closed_epochs(), 1u);
    EXPECT_EQ(h.peak_within(0), 50u);
    EXPECT_EQ(h.peak_within(1 * ns_s), 300u);
    h.roll(4 * ns_s, 50); // closes [1,2) with 50 and the quiet [2,3), [3,4) with 50
    EXPECT_EQ(h.closed_epochs(), 4u);
    EXPECT_EQ(h.peak_within(3 * ns_s), 50u);
    EXPECT_EQ(h.peak_within(4 * ns_s), 300u);
    EXPECT_EQ(h.floor_demand(), 50u);
}

TEST(DemandHistory, ClockBackwardsChangesNothing)
{
    demand_history h(1 * ns_s, 10 * ns_s);
    h.observe(7);
    h.roll(5 * ns_s, 0);
    EXPECT_EQ(h.closed_epochs(), 0u);
    EXPECT_EQ(h.peak_within(10 * ns_s), 7u);
}

TEST(AdaptiveState, HoldDoublesOnRegrowthWithinIdleAndHalvesWhenReleasesHold)
{
    adaptive_state a;
    const uint64_t idle = 4 * ns_s;
    EXPECT_EQ(a.hold_ns(idle), idle); // starts at 1x
    a.on_release(10 * ns_s);
    a.on_grow(12 * ns_s, idle); // 2 s after the release: premature
    EXPECT_EQ(a.hold_ns(idle), 2 * idle);
    a.on_grow(13 * ns_s, idle); // no release pending: no further change
    EXPECT_EQ(a.hold_ns(idle), 2 * idle);
    for (int i = 0; i < 5; i++) { // capped at 4x
        a.on_release(20 * ns_s);
        a.on_grow(21 * ns_s, idle);
    }
    EXPECT_EQ(a.hold_ns(idle), 4 * idle);
    a.on_release(30 * ns_s);
    a.settle(33 * ns_s, idle); // not yet an idle period after the release
    EXPECT_EQ(a.hold_ns(idle), 4 * idle);
    a.settle(34 * ns_s, idle);
    EXPECT_EQ(a.hold_ns(idle), 2 * idle);
    a.on_grow(35 * ns_s, idle); // the release was settled: a later growth is not a regrowth
    EXPECT_EQ(a.hold_ns(idle), 2 * idle);
    for (int i = 0; i < 5; i++) { // floor at 1/2x
        a.on_release(40 * ns_s);
        a.settle(50 * ns_s, idle);
    }
    EXPECT_EQ(a.hold_ns(idle), idle / 2);
}

TEST(AdaptiveState, SurplusAndGrowAhead)
{
    EXPECT_TRUE(adaptive_state::surplus(5 << 20, 1 << 20, 4 << 20));
    EXPECT_FALSE(adaptive_state::surplus(5 << 20, 1 << 20, (4 << 20) + 1));
    EXPECT_TRUE(adaptive_state::short_of(1 << 20, 768 << 10, 768 << 10));  // 256K < 2 x 768K
    EXPECT_FALSE(adaptive_state::short_of(4 << 20, 768 << 10, 768 << 10)); // room enough
    EXPECT_TRUE(adaptive_state::short_of(1 << 20, 2 << 20, 1));            // over-committed
}

namespace {

// base 1 MiB + up to 7 chunks of 1 MiB, sample 1 s, idle 4 s.
pool_ptr make_pool(const std::string &name, fake_clock &clk, bool adaptive)
{
    elastic_pool_params p = heap_params(name, 1 * MiB, 1 * MiB, 8 * MiB, &clk);
    p.sample_period_ms = 1000;
    p.idle_period_ms = 4000;
    if (adaptive)
        p.flags |= ELASTIC_POOL_F_ADAPTIVE;
    pool_ptr pool(elastic_pool_create(&p));
    EXPECT_NE(pool, nullptr) << rte_errno;
    return pool;
}

// Demand of 5 MiB at the creation instant, all freed at once; then one tick per second.
// Returns, for each second 1..8, how many chunks were released at that tick.
std::vector<int> releases_after_burst(bool adaptive)
{
    fake_clock clk;
    pool_ptr pool = make_pool(adaptive ? "adapt-burst" : "patent-burst", clk, adaptive);
    std::vector<void *> bufs;
    for (int i = 0; i < 5; i++) {
        bufs.push_back(elastic_buf_alloc(pool.get(), 1 * MiB));
        EXPECT_NE(bufs.back(), nullptr);
    }
    EXPECT_EQ(stats_of(pool.get()).nb_grows, 4u);
    for (void *b : bufs)
        EXPECT_EQ(elastic_buf_free(pool.get(), b), 0);
    std::vector<int> out;
    for (int s = 1; s <= 8; s++) {
        clk.advance(1 * ns_s);
        out.push_back(elastic_pool_maintain(pool.get()));
    }
    EXPECT_EQ(stats_of(pool.get()).nb_chunks, 1u);
    return out;
}

} // namespace

TEST(AdaptivePool, ReleasesEverySurplusChunkAtOnceWhenTheWindowForgetsThePeak)
{
    // Patent: the last chunk is idle after 4 s, then one chunk per sample.
    EXPECT_EQ(releases_after_burst(false), (std::vector<int>{0, 0, 0, 1, 1, 1, 1, 0}));
    // Adaptive, window 4 epochs of 1 s: the 5 MiB peak of epoch [0,1) weighs 4/4, 3/4, 2/4, 1/4
    // at the ticks 1..4 and is gone at 5; need = weighted peak + hysteresis (min(chunk / 2,
    // 4 x max buffer) = 0.5 MiB); every trailing chunk that leaves `need` covered goes in the
    // same sample (the ticks see no rise: the burst came and went between them):
    //   tick 1: need 5.5 MiB, pinned 5 -> keep; tick 2: 4.25 -> 5 - 1 < 4.25 keep;
    //   tick 3: 3 -> release 2 (5 -> 3 MiB); tick 4: 1.75 -> release 1; tick 5: 0.5 -> 1.
    EXPECT_EQ(releases_after_burst(true), (std::vector<int>{0, 0, 2, 1, 1, 0, 0, 0}));
}

TEST(AdaptivePool, KeepsWhatTheWindowPeakNeeds)
{
    fake_clock clk;
    pool_ptr pool = make_pool("adapt-keep", clk, true);
    std::vector<void *> bufs;
    for (int i = 0; i < 5; i++)
        bufs.push_back(elastic_buf_alloc(pool.get(), 1 * MiB));
    // Demand falls to 3 MiB and stays there.
    for (int i = 3; i < 5; i++)
        ASSERT_EQ(elastic_buf_free(pool.get(), bufs[i]), 0);
    for (int s = 1; s <= 10; s++) {
        clk.advance(1 * ns_s);
        elastic_pool_maintain(pool.get());
    }
    // The first tick saw in use rise 0 -> 3 MiB and grew ahead up to the wall (3 chunks). Once
    // that rise has left the 4 s window, need = 3 MiB + 0.5 MiB hysteresis: base + 3 chunks
    // stay (4 - 1 < 3.5), the four above them were released.
    elastic_pool_stats st = stats_of(pool.get());
    EXPECT_EQ(st.nb_grows_ahead, 3u);
    EXPECT_EQ(st.nb_chunks, 4u);
    EXPECT_EQ(st.nb_shrinks, 4u);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(elastic_buf_free(pool.get(), bufs[i]), 0);
}

TEST(AdaptivePool, GrowsAheadOfRisingDemandFromTheTick)
{
    fake_clock clk;
    pool_ptr pool = make_pool("adapt-ahead", clk, true);
    EXPECT_EQ(elastic_pool_maintain(pool.get()), 0); // tick at creation: in use 0
    std::vector<void *> bufs;
    for (int i = 0; i < 3; i++)
        bufs.push_back(elastic_buf_alloc(pool.get(), 256 * KiB));
    clk.advance(500 * ns_ms);
    // Rose by 768 KiB with 256 KiB free: grow until 2 x 768 KiB is free, i.e. two chunks.
    elastic_pool_maintain(pool.get());
    elastic_pool_stats st = stats_of(pool.get());
    EXPECT_EQ(st.nb_grows, 2u);
    EXPECT_EQ(st.nb_grows_ahead, 2u);
    bufs.push_back(elastic_buf_alloc(pool.get(), 512 * KiB)); // served without a growth
    ASSERT_NE(bufs.back(), nullptr);
    EXPECT_EQ(stats_of(pool.get()).nb_grows, 2u);
    clk.advance(500 * ns_ms);
    elastic_pool_maintain(pool.get()); // rose 512 KiB, 1.75 MiB free >= 2 x 512 KiB: enough
    EXPECT_EQ(stats_of(pool.get()).nb_grows, 2u);
    for (void *b : bufs)
        ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
}

TEST(AdaptivePool, NoGrowthAheadWhenInUseDidNotRise)
{
    fake_clock clk;
    pool_ptr pool = make_pool("adapt-flat", clk, true);
    elastic_pool_maintain(pool.get());
    // A burst that comes and goes between two ticks: the tick sees no rise.
    std::vector<void *> bufs;
    for (int i = 0; i < 5; i++)
        bufs.push_back(elastic_buf_alloc(pool.get(), 1 * MiB));
    for (void *b : bufs)
        ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
    clk.advance(500 * ns_ms);
    elastic_pool_maintain(pool.get());
    elastic_pool_stats st = stats_of(pool.get());
    EXPECT_EQ(st.nb_grows, 4u); // on the request path
    EXPECT_EQ(st.nb_grows_ahead, 0u);
}

TEST(AdaptivePool, PatentPoolNeverGrowsAhead)
{
    fake_clock clk;
    pool_ptr pool = make_pool("patent-ahead", clk, false);
    elastic_pool_maintain(pool.get());
    std::vector<void *> bufs;
    for (int i = 0; i < 3; i++)
        bufs.push_back(elastic_buf_alloc(pool.get(), 256 * KiB));
    clk.advance(500 * ns_ms);
    elastic_pool_maintain(pool.get());
    EXPECT_EQ(stats_of(pool.get()).nb_grows, 0u);
    for (void *b : bufs)
        ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
}

TEST(AdaptivePool, RegrowthSoonAfterAReleaseLengthensTheHold)
{
    fake_clock clk;
    pool_ptr pool = make_pool("adapt-regrow", clk, true);
    auto burst = [&](int n) {
        std::vector<void *> b;
        for (int i = 0; i < n; i++)
            b.push_back(elastic_buf_alloc(pool.get(), 1 * MiB));
        for (void *x : b)
            EXPECT_EQ(elastic_buf_free(pool.get(), x), 0);
    };
    auto tick_until_release = [&](int max_s) {
        for (int s = 1; s <= max_s; s++) {
            clk.advance(1 * ns_s);
            if (elastic_pool_maintain(pool.get()) > 0)
                return s;
        }
        return -1;
    };
    burst(3);
    // Hold 1x, 4 epochs: release needs 3 MiB x weight + 0.5 <= 2, weight <= 1/2; the burst's
    // epoch [0,1) weighs (4 - (n - 1))/4 at tick n: 2/4 at tick 3.
    EXPECT_EQ(tick_until_release(20), 3);
    clk.advance(1 * ns_s);
    burst(3); // regrowth on the request path 1 s after the release: premature, hold 2x
    // No tick ran since the one at 3 s, so the burst counts in epoch [3,4) s, which is closed
    // epoch i = n at the n-th tick from now (the tick at 5 s closes [3,4) and [4,5)). Release
    // needs weight <= 1/2: with 8 epochs (8 - n)/8 at n = 4; with the old 4 it would be n = 2.
    EXPECT_EQ(tick_until_release(20), 4);
}
