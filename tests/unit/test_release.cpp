// SPDX-License-Identifier: BSD-3-Clause
// The release policy under a fake clock (patent steps 602-612): samples every sample period
// however many ticks, the last chunk only, empty + idle + headroom idle, one per sample, the base
// never; trim; NO_SHRINK; a clock going backwards.
#include <cerrno>
#include <vector>

#include <gtest/gtest.h>

#include "pressure.hpp"
#include "unit_common.hpp"

namespace {

using namespace elastic::test;

constexpr size_t chunk = 64 * KiB;
constexpr uint64_t tick = 500 * ns_ms;
constexpr uint64_t sample = 60 * ns_s;
constexpr uint64_t idle = 300 * ns_s;

class release : public ::testing::Test {
protected:
    // Base and chunks of 64 KiB, room for four grown chunks.
    void make(uint32_t headroom = 1, uint32_t flags = 0, uint32_t idle_ms = 300'000)
    {
        t0_ = clk_.get();
        name_ = unique_name("rel");
        auto p = heap_params(name_, chunk, chunk, 5 * chunk, &clk_);
        p.headroom_chunks = headroom;
        p.idle_period_ms = idle_ms;
        p.flags |= flags;
        pool_.reset(elastic_pool_create(&p));
        ASSERT_NE(pool_, nullptr) << rte_strerror(rte_errno);
    }

    // n buffers of a whole chunk each: buffer i is chunk i (0 = base), allocated now.
    void fill(int n)
    {
        for (int i = 0; i < n; i++) {
            void *b = elastic_buf_alloc(pool(), chunk);
            ASSERT_NE(b, nullptr) << "chunk " << i << ": " << rte_strerror(rte_errno);
            whole_.push_back(b);
        }
        ASSERT_EQ(stats_of(pool()).nb_chunks, static_cast<uint32_t>(n));
    }
    void put(int i)
    {
        ASSERT_NE(whole_.at(i), nullptr);
        ASSERT_EQ(elastic_buf_free(pool(), whole_[i]), 0);
        whole_[i] = nullptr;
    }
    // Allocate (and give back at once) a small buffer from whichever chunk first-fit picks.
    void touch(size_t size = 4 * KiB)
    {
        void *b = elastic_buf_alloc(pool(), size);
        ASSERT_NE(b, nullptr) << rte_strerror(rte_errno);
        ASSERT_EQ(elastic_buf_free(pool(), b), 0);
    }

    uint64_t at(uint64_t offset) const { return t0_ + offset; }
    int maintain_at(uint64_t offset)
    {
        clk_.set(at(offset));
        return elastic_pool_maintain(pool());
    }
    int trim_at(uint64_t offset)
    {
        clk_.set(at(offset));
        return elastic_pool_trim(pool());
    }
    uint32_t chunks() { return stats_of(pool()).nb_chunks; }

    void TearDown() override
    {
        if (pool_ == nullptr)
            return;
        for (void *b : whole_)
            if (b != nullptr) {
                EXPECT_EQ(elastic_buf_free(pool(), b), 0);
            }
        const auto st = stats_of(pool());
        EXPECT_EQ(st.pinned_bytes, chunk + (st.nb_chunks - 1) * chunk);
        EXPECT_EQ(st.nb_chunks, 1 + st.nb_grows - st.nb_shrinks);
    }

    elastic_pool *pool() { return pool_.get(); }

    fake_clock clk_;
    uint64_t t0_ = 0;
    std::string name_;
    pool_ptr pool_;
    std::vector<void *> whole_;
};

TEST_F(release, nothing_before_a_sample_period_however_many_ticks)
{
    make(1, 0, 1000); // idle after 1 s, so only the sample period holds the release back
    fill(3);
    put(1);
    put(2);
    uint64_t t = 0;
    for (t = tick; t < sample; t += tick)
        ASSERT_EQ(maintain_at(t), 0) << "released at +" << t / ns_ms << " ms";
    auto st = stats_of(pool());
    EXPECT_EQ(st.nb_samples, 0u);
    EXPECT_EQ(st.nb_shrinks, 0u);
    EXPECT_EQ(st.nb_chunks, 3u);

    // The sample is due one period after creation (one tick later at most).
    int rc = 0;
    for (; t <= sample + tick && rc == 0; t += tick)
        rc = maintain_at(t);
    EXPECT_EQ(rc, 1) << "no release by +" << (sample + tick) / ns_ms << " ms";
    const uint64_t first = t - tick;
    st = stats_of(pool());
    EXPECT_EQ(st.nb_samples, 1u);
    EXPECT_EQ(st.nb_shrinks, 1u);
    EXPECT_EQ(st.nb_chunks, 2u);
    EXPECT_EQ(st.pinned_bytes, 2 * chunk);
    EXPECT_EQ(st.peak_pinned_bytes, 3 * chunk);

    // The next one waits a whole period again.
    for (t = first + tick; t < first + sample; t += tick)
        ASSERT_EQ(maintain_at(t), 0) << "second release at +" << (t - first) / ns_ms << " ms";
    EXPECT_EQ(maintain_at(first + sample), 1);
    st = stats_of(pool());
    EXPECT_EQ(st.nb_samples, 2u);
    EXPECT_EQ(st.nb_shrinks, 2u);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.pinned_bytes, chunk);
}

TEST_F(release, a_sample_releases_at_most_one_chunk)
{
    make();
    fill(5);
    for (int i = 0; i < 5; i++)
        put(i);
    uint64_t t = 3600 * ns_s;
    for (uint32_t expect = 4; expect >= 1; expect--) {
        EXPECT_EQ(maintain_at(t), 1);
        EXPECT_EQ(chunks(), expect);
        EXPECT_EQ(maintain_at(t), 0) << "two releases in one sample";
        EXPECT_EQ(maintain_at(t + sample - tick), 0) << "two releases in one sample";
        EXPECT_EQ(chunks(), expect);
        t += sample;
    }
    EXPECT_EQ(maintain_at(t), 0) << "the base was released";
    const auto st = stats_of(pool());
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.nb_shrinks, 4u);
    EXPECT_EQ(st.nb_samples, 5u);
    EXPECT_EQ(st.pinned_bytes, chunk);
    EXPECT_EQ(st.peak_pinned_bytes, 5 * chunk);
}

TEST_F(release, last_chunk_in_use_is_kept_and_emptied_long_idle_chunk_goes)
{
    make();
    fill(3);
    put(1);
    EXPECT_EQ(maintain_at(idle + sample), 0) << "released a chunk holding a buffer";
    EXPECT_EQ(stats_of(pool()).nb_samples, 1u);
    EXPECT_EQ(trim_at(idle + sample), 0);
    // Emptied just now but nothing allocated from it for long: idle means no allocation.
    put(2);
    EXPECT_EQ(maintain_at(idle + 2 * sample), 1);
    EXPECT_EQ(chunks(), 2u);
}

TEST_F(release, recent_allocation_in_the_last_chunk_keeps_it)
{
    make();
    fill(3);
    put(2);
    // Allocated 1 s ago, emptied now: empty but not idle.
    clk_.set(at(400 * ns_s - ns_s));
    touch(chunk); // base and chunk 1 are full: this is chunk 2
    EXPECT_EQ(maintain_at(400 * ns_s), 0);
    EXPECT_EQ(stats_of(pool()).nb_samples, 1u);
    EXPECT_EQ(trim_at(400 * ns_s), 0);
    // Exactly one idle period after that allocation (trim does not take a sample).
    EXPECT_EQ(trim_at(399 * ns_s + idle - ns_ms), 0);
    EXPECT_EQ(maintain_at(399 * ns_s + idle), 1);
    EXPECT_EQ(chunks(), 2u);
}

TEST_F(release, allocation_in_the_next_to_last_chunk_keeps_the_last)
{
    make();
    fill(3);
    put(1);
    put(2);
    clk_.set(at(350 * ns_s));
    touch(); // the base is full: first fit is chunk 1
    EXPECT_EQ(maintain_at(400 * ns_s), 0);
    EXPECT_EQ(trim_at(400 * ns_s), 0);
    EXPECT_EQ(chunks(), 3u);
    EXPECT_EQ(maintain_at(350 * ns_s + idle), 1);
    EXPECT_EQ(chunks(), 2u);
    // Now chunk 1 is last; its headroom is the base, idle since creation.
    EXPECT_EQ(maintain_at(350 * ns_s + idle + sample), 1);
    EXPECT_EQ(chunks(), 1u);
}

TEST_F(release, the_base_counts_as_headroom)
{
    make();
    fill(2);
    put(0);
    put(1);
    clk_.set(at(350 * ns_s));
    touch(); // the base serves it
    EXPECT_EQ(maintain_at(400 * ns_s), 0);
    EXPECT_EQ(trim_at(400 * ns_s), 0);
    EXPECT_EQ(maintain_at(350 * ns_s + idle), 1);
    EXPECT_EQ(chunks(), 1u);
}

TEST_F(release, headroom_zero_ignores_the_chunks_before)
{
    make(0);
    fill(3);
    put(0);
    put(2);
    clk_.set(at(350 * ns_s));
    touch(); // the base
    // Chunk 1 is in use and the base busy: chunk 2 goes all the same.
    EXPECT_EQ(maintain_at(400 * ns_s), 1);
    EXPECT_EQ(chunks(), 2u);
    EXPECT_EQ(maintain_at(400 * ns_s + sample), 0) << "chunk 1 holds a buffer";
    put(1);
    EXPECT_EQ(maintain_at(400 * ns_s + 2 * sample), 1);
    EXPECT_EQ(chunks(), 1u);
}

TEST_F(release, headroom_two_needs_two_idle_chunks_before)
{
    make(2);
    fill(3);
    put(0);
    put(1);
    put(2);
    clk_.set(at(350 * ns_s));
    touch(); // the base: two before chunk 2
    EXPECT_EQ(maintain_at(400 * ns_s), 0);
    EXPECT_EQ(trim_at(400 * ns_s), 0);
    EXPECT_EQ(maintain_at(350 * ns_s + idle), 1);
    EXPECT_EQ(chunks(), 2u);
    // Chunk 1 last: headroom 2 wants two before it, only the base exists and it is idle.
    EXPECT_EQ(maintain_at(350 * ns_s + idle + sample), 1);
    EXPECT_EQ(chunks(), 1u);
}

TEST_F(release, headroom_two_with_the_next_to_last_busy_and_the_base_idle)
{
    make(2);
    fill(4);
    for (int i = 1; i < 4; i++)
        put(i);
    clk_.set(at(350 * ns_s));
    touch(); // chunk 1 (base full), two before chunk 3
    EXPECT_EQ(maintain_at(400 * ns_s), 0);
    EXPECT_EQ(maintain_at(350 * ns_s + idle), 1);
    EXPECT_EQ(chunks(), 3u);
}

TEST_F(release, a_clock_going_backwards_releases_nothing)
{
    make();
    fill(2);
    EXPECT_EQ(maintain_at(1000 * ns_s), 0); // a sample, chunk 1 in use
    EXPECT_EQ(stats_of(pool()).nb_samples, 1u);
    put(0);
    put(1);
    // Back 1 s, then far back: the sampler is not fooled by unsigned wrap-around.
    EXPECT_EQ(maintain_at(1000 * ns_s - ns_s), 0);
    clk_.set(0);
    EXPECT_EQ(elastic_pool_maintain(pool()), 0);
    EXPECT_EQ(elastic_pool_trim(pool()), 0) << "chunk allocated at t0 looks idle at time 0";
    auto st = stats_of(pool());
    EXPECT_EQ(st.nb_samples, 1u);
    EXPECT_EQ(st.nb_chunks, 2u);

    // An allocation at +2000 s, then the clock at +1000 s: chunk 1 is not idle (nor the base).
    clk_.set(at(2000 * ns_s));
    void *a = elastic_buf_alloc(pool(), chunk); // the base
    void *b = elastic_buf_alloc(pool(), chunk); // chunk 1
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(chunks(), 2u);
    ASSERT_EQ(elastic_buf_free(pool(), a), 0);
    ASSERT_EQ(elastic_buf_free(pool(), b), 0);
    EXPECT_EQ(trim_at(1000 * ns_s + sample), 0);
    EXPECT_EQ(maintain_at(1000 * ns_s + 2 * sample), 0);
    EXPECT_EQ(chunks(), 2u);

    // Forward again: normal service.
    EXPECT_EQ(maintain_at(2000 * ns_s + idle), 1);
    EXPECT_EQ(chunks(), 1u);
}

TEST_F(release, the_base_is_never_released)
{
    make(0, 0, 1000);
    EXPECT_EQ(trim_at(10 * idle), 0);
    for (int i = 1; i <= 5; i++)
        EXPECT_EQ(maintain_at(10 * idle + i * sample), 0);
    const auto st = stats_of(pool());
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.nb_shrinks, 0u);
    EXPECT_EQ(st.pinned_bytes, chunk);
    EXPECT_GE(st.nb_samples, 5u);
    void *b = elastic_buf_alloc(pool(), chunk);
    EXPECT_NE(b, nullptr);
    EXPECT_EQ(elastic_buf_free(pool(), b), 0);
}

TEST_F(release, no_shrink_never_releases_but_still_samples)
{
    make(1, ELASTIC_POOL_F_NO_SHRINK);
    fill(5);
    for (int i = 0; i < 5; i++)
        put(i);
    for (int i = 1; i <= 6; i++)
        EXPECT_EQ(maintain_at(idle + i * sample), 0);
    EXPECT_EQ(trim_at(100 * idle), 0);
    const auto st = stats_of(pool());
    EXPECT_EQ(st.nb_chunks, 5u);
    EXPECT_EQ(st.nb_shrinks, 0u);
    EXPECT_EQ(st.pinned_bytes, 5 * chunk);
    EXPECT_EQ(st.nb_samples, 6u);
}

TEST_F(release, trim_releases_all_the_rule_allows_at_once)
{
    make();
    fill(5);
    for (int i = 0; i < 5; i++)
        put(i);
    EXPECT_EQ(trim_at(idle - ns_ms), 0) << "released before the idle period";
    EXPECT_EQ(chunks(), 5u);
    EXPECT_EQ(trim_at(idle), 4);
    auto st = stats_of(pool());
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.nb_shrinks, 4u);
    EXPECT_EQ(st.pinned_bytes, chunk);
    EXPECT_EQ(st.peak_pinned_bytes, 5 * chunk);
    EXPECT_EQ(trim_at(idle), 0);

    // Growth works again afterwards and is counted again.
    clk_.set(at(idle + ns_s));
    fill(3);
    st = stats_of(pool());
    EXPECT_EQ(st.nb_grows, 4u + 2u);
    EXPECT_EQ(st.pinned_bytes, 3 * chunk);
}

TEST_F(release, trim_stops_at_a_busy_headroom_chunk)
{
    make();
    fill(5);
    for (int i = 0; i < 5; i++)
        put(i);
    clk_.set(at(100 * ns_s));
    touch(chunk); // the base: blocks the release of chunk 1 only
    EXPECT_EQ(trim_at(idle), 3);
    EXPECT_EQ(chunks(), 2u);
    EXPECT_EQ(trim_at(100 * ns_s + idle), 1);
    EXPECT_EQ(chunks(), 1u);
}

TEST_F(release, trim_releases_nothing_when_the_last_chunk_is_busy)
{
    make();
    fill(5);
    for (int i = 0; i < 4; i++)
        put(i);
    EXPECT_EQ(trim_at(10 * idle), 0);
    EXPECT_EQ(chunks(), 5u);
    put(4);
    EXPECT_EQ(trim_at(10 * idle), 4);
}

} // namespace

// ---- memory pressure (issue 12) -------------------------------------------------------------

struct pressure_flag {
    int on = 0;
    int asked = 0;
    int last_node = -2;
};

int pressure_cb(int node, void *ctx)
{
    auto *p = static_cast<pressure_flag *>(ctx);
    p->asked++;
    p->last_node = node;
    return p->on;
}

class pressure : public release {
protected:
    void TearDown() override
    {
        elastic_memory_pressure_callback_set(nullptr, nullptr);
        release::TearDown();
    }
    pressure_flag flag_;
};

// Under pressure the idle period does not count: every empty trailing chunk goes at the next
// tick, but one chunk's worth of free room stays (headroom 1), and the base stays.
TEST_F(pressure, releases_empty_chunks_at_once_but_keeps_the_headroom)
{
    make();
    ASSERT_EQ(elastic_memory_pressure_callback_set(pressure_cb, &flag_), 0);
    fill(5);
    for (int i = 4; i >= 2; i--)
        put(i);
    // No pressure: a tick a second after the frees releases nothing (idle period 300 s).
    EXPECT_EQ(maintain_at(ns_s), 0);
    EXPECT_GE(flag_.asked, 1);
    EXPECT_EQ(flag_.last_node, 0);
    flag_.on = 1;
    // Chunks 4 and 3 go; chunk 2 stays as the one chunk of free room (headroom 1).
    EXPECT_EQ(maintain_at(ns_s + tick), 2);
    EXPECT_EQ(chunks(), 3u);
    EXPECT_EQ(maintain_at(ns_s + 2 * tick), 0) << "the headroom went";
    const auto st = stats_of(pool());
    EXPECT_EQ(st.nb_shrinks, 2u);
    flag_.on = 0;
}

TEST_F(pressure, headroom_zero_releases_every_empty_chunk_never_the_base)
{
    make(0);
    ASSERT_EQ(elastic_memory_pressure_callback_set(pressure_cb, &flag_), 0);
    fill(5);
    for (int i = 4; i >= 0; i--)
        put(i);
    flag_.on = 1;
    EXPECT_EQ(maintain_at(tick), 4);
    EXPECT_EQ(chunks(), 1u);
}

TEST_F(pressure, a_chunk_with_buffers_out_goes_when_they_come_home)
{
    make(0);
    ASSERT_EQ(elastic_memory_pressure_callback_set(pressure_cb, &flag_), 0);
    fill(3);
    put(1);
    flag_.on = 1;
    EXPECT_EQ(maintain_at(tick), 0); // chunk 2 holds a buffer: kept (retiring), chunk 1 behind it
    EXPECT_EQ(chunks(), 3u);
    put(2);
    EXPECT_EQ(maintain_at(2 * tick), 2);
    EXPECT_EQ(chunks(), 1u);
}

TEST_F(pressure, no_shrink_pools_keep_everything)
{
    make(0, ELASTIC_POOL_F_NO_SHRINK);
    ASSERT_EQ(elastic_memory_pressure_callback_set(pressure_cb, &flag_), 0);
    fill(3);
    put(2);
    put(1);
    flag_.on = 1;
    EXPECT_EQ(maintain_at(tick), 0);
    EXPECT_EQ(trim_at(2 * tick), 0);
    EXPECT_EQ(chunks(), 3u);
}

TEST_F(pressure, a_threshold_above_any_free_hugepages_is_pressure)
{
    make(0);
    // Heap-provider pools are on node 0 here; with a threshold no machine reaches, the node is
    // under pressure whenever the kernel reports its hugepages at all.
    // (Without sysfs hugepage counts the kernel says nothing, and nothing is pressure.)
    const bool known = elastic::detail::node_free_hugepage_bytes(0) >= 0;
    fill(3);
    put(2);
    put(1);
    ASSERT_EQ(elastic_memory_pressure_threshold_set(UINT64_MAX), 0);
    const int n = maintain_at(tick);
    ASSERT_EQ(elastic_memory_pressure_threshold_set(0), 0);
    EXPECT_EQ(n, known ? 2 : 0);
    EXPECT_EQ(maintain_at(2 * tick), 0);
}

// ---- the break-even rule (issue 12) ---------------------------------------------------------

// An empty trailing chunk demand no longer needs goes within the idle period (its ski-rental
// threshold is at most T); the free room of the margin stays: two requests of the largest class
// (here a whole chunk each), so with nothing in use the base and chunk 1 stay.
TEST_F(release, breakeven_releases_within_the_idle_period)
{
    make(1, ELASTIC_POOL_F_BREAKEVEN, 10'000); // T = 10 s
    fill(4);
    for (int i = 3; i >= 0; i--)
        put(i);
    int released = 0;
    uint64_t t = tick;
    for (; t <= 10 * ns_s + 2 * tick && released < 2; t += tick)
        released += maintain_at(t);
    EXPECT_EQ(released, 2) << "not all released within T + a tick";
    EXPECT_EQ(chunks(), 2u);
    for (; t <= 30 * ns_s; t += tick)
        EXPECT_EQ(maintain_at(t), 0);
}

// A chunk that demand keeps needing stays, however long. (The first tick sees in use rise by
// three chunks and grows ahead for as much again, up to the wall.)
TEST_F(release, breakeven_keeps_what_demand_needs)
{
    make(1, ELASTIC_POOL_F_BREAKEVEN, 10'000);
    fill(3);
    for (uint64_t t = tick; t <= 60 * ns_s; t += tick)
        EXPECT_EQ(maintain_at(t), 0);
    EXPECT_EQ(stats_of(pool()).nb_shrinks, 0u);
    EXPECT_GE(chunks(), 3u);
}

// Under pressure maintenance grows nothing ahead of need (what it added would be empty and go at
// once); the request path still grows.
TEST_F(pressure, no_growth_ahead_under_pressure)
{
    make(0, ELASTIC_POOL_F_BREAKEVEN);
    ASSERT_EQ(elastic_memory_pressure_callback_set(pressure_cb, &flag_), 0);
    flag_.on = 1;
    fill(3); // in use rises by three chunks before the first tick
    EXPECT_EQ(maintain_at(tick), 0);
    EXPECT_EQ(stats_of(pool()).nb_grows_ahead, 0u);
    EXPECT_EQ(chunks(), 3u);
    flag_.on = 0;
}
