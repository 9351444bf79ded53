// SPDX-License-Identifier: BSD-3-Clause
// Direct tests of the shared release and sampling rules (lib/elasticpool/policy.hpp).
#include <array>
#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

#include "policy.hpp"

namespace {

using elastic::detail::chunk_activity;
using elastic::detail::ns_per_ms;
using elastic::detail::release_rule;
using elastic::detail::sampler;

constexpr uint64_t idle = 300'000 * ns_per_ms;
constexpr uint64_t t0 = 1'000'000 * ns_per_ms;

TEST(policy_idle, boundary_is_inclusive)
{
    const release_rule r{idle, 1};
    const chunk_activity c{0, t0};
    EXPECT_FALSE(r.idle(c, t0));
    EXPECT_FALSE(r.idle(c, t0 + idle - 1));
    EXPECT_TRUE(r.idle(c, t0 + idle));
    EXPECT_TRUE(r.idle(c, t0 + 10 * idle));
}

TEST(policy_idle, in_use_does_not_matter_for_idleness)
{
    const release_rule r{idle, 1};
    EXPECT_TRUE(r.idle(chunk_activity{5, t0}, t0 + idle));
}

TEST(policy_idle, clock_backwards_is_never_idle)
{
    const release_rule r{idle, 1};
    const chunk_activity c{0, t0};
    EXPECT_FALSE(r.idle(c, t0 - 1));
    EXPECT_FALSE(r.idle(c, 0)); // unsigned wrap-around must not look like a long idle time
    const release_rule zero{0, 1};
    EXPECT_TRUE(zero.idle(c, t0));
    EXPECT_FALSE(zero.idle(c, t0 - 1));
}

TEST(policy_release, base_alone_is_never_released)
{
    const release_rule r{idle, 0};
    const std::array<chunk_activity, 1> one{{{0, 0}}};
    EXPECT_FALSE(r.may_release_last(one, t0 + 10 * idle));
    EXPECT_FALSE(r.may_release_last(std::span<const chunk_activity>{}, t0));
}

TEST(policy_release, last_must_be_empty_and_idle)
{
    const release_rule r{idle, 1};
    const uint64_t now = t0 + idle;
    std::array<chunk_activity, 2> c{{{0, t0}, {0, t0}}};
    EXPECT_TRUE(r.may_release_last(c, now));
    c[1].in_use = 1;
    EXPECT_FALSE(r.may_release_last(c, now));
    c[1] = {0, t0 + 1}; // allocated 1 ns later: not yet idle
    EXPECT_FALSE(r.may_release_last(c, now));
    c[1] = {0, now + 1}; // allocated "after" now: clock went backwards
    EXPECT_FALSE(r.may_release_last(c, now));
}

TEST(policy_release, headroom_one_counts_the_base)
{
    const release_rule r{idle, 1};
    const uint64_t now = t0 + idle;
    std::array<chunk_activity, 2> c{{{3, t0 + 1}, {0, t0}}};
    EXPECT_FALSE(r.may_release_last(c, now)); // base allocated from too recently
    c[0].last_alloc_ns = t0;
    EXPECT_TRUE(r.may_release_last(c, now)); // base busy (in_use 3) but idle: fine
}

TEST(policy_release, next_to_last_blocks_only_within_headroom)
{
    const uint64_t now = t0 + idle;
    std::array<chunk_activity, 4> c{{{0, t0}, {0, t0}, {0, t0}, {0, t0}}};
    c[1].last_alloc_ns = now; // second chunk busy recently
    EXPECT_TRUE((release_rule{idle, 0}).may_release_last(c, now));
    EXPECT_TRUE((release_rule{idle, 1}).may_release_last(c, now));
    EXPECT_FALSE((release_rule{idle, 2}).may_release_last(c, now));
    EXPECT_FALSE((release_rule{idle, 3}).may_release_last(c, now));
    c[1].last_alloc_ns = t0;
    c[2].last_alloc_ns = now; // the next-to-last
    EXPECT_TRUE((release_rule{idle, 0}).may_release_last(c, now));
    EXPECT_FALSE((release_rule{idle, 1}).may_release_last(c, now));
}

TEST(policy_release, headroom_larger_than_chunks_checks_those_that_exist)
{
    const uint64_t now = t0 + idle;
    const std::array<chunk_activity, 3> c{{{0, t0}, {0, t0}, {0, t0}}};
    EXPECT_TRUE((release_rule{idle, 5}).may_release_last(c, now));
    EXPECT_TRUE((release_rule{idle, std::numeric_limits<uint32_t>::max()})
                    .may_release_last(c, now));
    std::array<chunk_activity, 3> d = c;
    d[0].last_alloc_ns = now; // the base is within every headroom >= 2
    EXPECT_FALSE((release_rule{idle, 5}).may_release_last(d, now));
    EXPECT_TRUE((release_rule{idle, 1}).may_release_last(d, now));
}

TEST(policy_sampler, due_only_after_a_full_period_however_many_ticks)
{
    const uint64_t period = 60'000 * ns_per_ms;
    sampler s(period, t0);
    EXPECT_EQ(s.period_ns(), period);
    EXPECT_EQ(s.last_ns(), t0);
    for (uint64_t t = t0; t < t0 + period; t += 500 * ns_per_ms)
        EXPECT_FALSE(s.due(t)) << "tick at +" << (t - t0) / ns_per_ms << " ms";
    EXPECT_FALSE(s.due(t0 + period - 1));
    EXPECT_TRUE(s.due(t0 + period));
    EXPECT_EQ(s.last_ns(), t0 + period);
    EXPECT_FALSE(s.due(t0 + period)); // consumed
    EXPECT_FALSE(s.due(t0 + 2 * period - 1));
    EXPECT_TRUE(s.due(t0 + 2 * period));
}

TEST(policy_sampler, late_tick_restarts_the_period_from_itself)
{
    const uint64_t period = 1000;
    sampler s(period, 0);
    EXPECT_TRUE(s.due(5500)); // a long gap gives one sample, not five
    EXPECT_FALSE(s.due(6000));
    EXPECT_FALSE(s.due(6499));
    EXPECT_TRUE(s.due(6500));
}

TEST(policy_sampler, clock_backwards_is_never_due)
{
    const uint64_t period = 1000;
    sampler s(period, t0);
    EXPECT_FALSE(s.due(t0 - 1));
    EXPECT_FALSE(s.due(0)); // no wrap-around
    EXPECT_EQ(s.last_ns(), t0);
    EXPECT_TRUE(s.due(t0 + period));
}

} // namespace
