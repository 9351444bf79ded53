/* SPDX-License-Identifier: BSD-3-Clause */
// Drop-in elastic mempools take their parameters from the environment (params_from_env): the
// adaptive rule can be asked for there as for explicit pools (ELASTIC_MEMPOOL_F_ADAPTIVE).
#include <gtest/gtest.h>

#include <cstdlib>

#include "mempool_face.hpp"

namespace {

using elastic::detail::emp::params_from_env;

class mempool_env : public ::testing::Test {
protected:
    void TearDown() override
    {
        for (const char *v : all_vars)
            unsetenv(v);
    }
    static constexpr const char *all_vars[] = {
        "ELASTIC_MEMPOOL_ADAPTIVE", "ELASTIC_MEMPOOL_FLAGS", "ELASTIC_MEMPOOL_BASE_OBJS",
        "ELASTIC_MEMPOOL_CHUNK_OBJS", "ELASTIC_MEMPOOL_TICK_MS", "ELASTIC_MEMPOOL_SAMPLE_MS",
        "ELASTIC_MEMPOOL_IDLE_MS", "ELASTIC_MEMPOOL_HEADROOM", "ELASTIC_MEMPOOL_LOW_WATERMARK",
        "ELASTIC_MEMPOOL_BREAKEVEN"};
};

TEST_F(mempool_env, patent_rule_by_default)
{
    elastic_mempool_params p;
    params_from_env(&p);
    EXPECT_EQ(p.flags & ELASTIC_MEMPOOL_F_ADAPTIVE, 0u);
}

TEST_F(mempool_env, adaptive_variable)
{
    setenv("ELASTIC_MEMPOOL_ADAPTIVE", "1", 1);
    elastic_mempool_params p;
    params_from_env(&p);
    EXPECT_NE(p.flags & ELASTIC_MEMPOOL_F_ADAPTIVE, 0u);
    setenv("ELASTIC_MEMPOOL_ADAPTIVE", "0", 1);
    params_from_env(&p);
    EXPECT_EQ(p.flags & ELASTIC_MEMPOOL_F_ADAPTIVE, 0u);
}

TEST_F(mempool_env, breakeven_variable_and_flag_bit)
{
    elastic_mempool_params p;
    params_from_env(&p);
    EXPECT_EQ(p.flags & ELASTIC_MEMPOOL_F_BREAKEVEN, 0u);
    setenv("ELASTIC_MEMPOOL_BREAKEVEN", "1", 1);
    params_from_env(&p);
    EXPECT_NE(p.flags & ELASTIC_MEMPOOL_F_BREAKEVEN, 0u);
    unsetenv("ELASTIC_MEMPOOL_BREAKEVEN");
    setenv("ELASTIC_MEMPOOL_FLAGS", "128", 1);
    params_from_env(&p);
    EXPECT_NE(p.flags & ELASTIC_MEMPOOL_F_BREAKEVEN, 0u);
}

TEST_F(mempool_env, adaptive_flag_bit)
{
    setenv("ELASTIC_MEMPOOL_FLAGS", "16", 1);
    elastic_mempool_params p;
    params_from_env(&p);
    EXPECT_EQ(p.flags, unsigned(ELASTIC_MEMPOOL_F_ADAPTIVE));
}

// Issue 13: the environment accepted values the explicit API refuses (octal and hex, zero periods,
// headrooms and flags out of range, signs, spaces). Each is now refused like the explicit API
// refuses it: a warning, and the default for that variable.
TEST_F(mempool_env, values_the_explicit_api_refuses_fall_back_to_the_default)
{
    elastic_mempool_params dflt;
    params_from_env(&dflt);
    struct {
        const char *var, *value;
    } cases[] = {
        {"ELASTIC_MEMPOOL_BASE_OBJS", "010"},        // octal: was 8
        {"ELASTIC_MEMPOOL_BASE_OBJS", "0x100"},      // hex: was 256
        {"ELASTIC_MEMPOOL_BASE_OBJS", "0"},
        {"ELASTIC_MEMPOOL_BASE_OBJS", "-1"},         // was 4294967295
        {"ELASTIC_MEMPOOL_BASE_OBJS", " 12"},
        {"ELASTIC_MEMPOOL_BASE_OBJS", "+12"},
        {"ELASTIC_MEMPOOL_CHUNK_OBJS", "0"},
        {"ELASTIC_MEMPOOL_CHUNK_OBJS", "99999999999"},
        {"ELASTIC_MEMPOOL_SAMPLE_MS", "0"},
        {"ELASTIC_MEMPOOL_IDLE_MS", "0"},             // was accepted: never idle
        {"ELASTIC_MEMPOOL_HEADROOM", "65"},           // above the explicit API's 64
        {"ELASTIC_MEMPOOL_HEADROOM", "4294967295"},
        {"ELASTIC_MEMPOOL_FLAGS", "1024"},            // unknown flag: was masked silently
        {"ELASTIC_MEMPOOL_FLAGS", "3x"},
        {"ELASTIC_MEMPOOL_ADAPTIVE", "yes"},
        {"ELASTIC_MEMPOOL_ADAPTIVE", "2"},
        {"ELASTIC_MEMPOOL_TICK_MS", "1e3"},
    };
    for (const auto &c : cases) {
        setenv(c.var, c.value, 1);
        elastic_mempool_params p;
        params_from_env(&p);
        EXPECT_EQ(p.base_objs, dflt.base_objs) << c.var << "=" << c.value;
        EXPECT_EQ(p.chunk_objs, dflt.chunk_objs) << c.var << "=" << c.value;
        EXPECT_EQ(p.tick_ms, dflt.tick_ms) << c.var << "=" << c.value;
        EXPECT_EQ(p.sample_period_ms, dflt.sample_period_ms) << c.var << "=" << c.value;
        EXPECT_EQ(p.idle_period_ms, dflt.idle_period_ms) << c.var << "=" << c.value;
        EXPECT_EQ(p.headroom_chunks, dflt.headroom_chunks) << c.var << "=" << c.value;
        EXPECT_EQ(p.flags, dflt.flags) << c.var << "=" << c.value;
        unsetenv(c.var);
    }
}

TEST_F(mempool_env, valid_values_are_taken)
{
    setenv("ELASTIC_MEMPOOL_BASE_OBJS", "1000", 1);
    setenv("ELASTIC_MEMPOOL_CHUNK_OBJS", "500", 1);
    setenv("ELASTIC_MEMPOOL_TICK_MS", "0", 1); // no automatic ticks, as the explicit API
    setenv("ELASTIC_MEMPOOL_SAMPLE_MS", "100", 1);
    setenv("ELASTIC_MEMPOOL_IDLE_MS", "200", 1);
    setenv("ELASTIC_MEMPOOL_HEADROOM", "64", 1);
    setenv("ELASTIC_MEMPOOL_LOW_WATERMARK", "100", 1);
    setenv("ELASTIC_MEMPOOL_FLAGS", "1", 1);
    elastic_mempool_params p;
    params_from_env(&p);
    EXPECT_EQ(p.base_objs, 1000u);
    EXPECT_EQ(p.chunk_objs, 500u);
    EXPECT_EQ(p.tick_ms, 0u);
    EXPECT_EQ(p.sample_period_ms, 100u);
    EXPECT_EQ(p.idle_period_ms, 200u);
    EXPECT_EQ(p.headroom_chunks, 64u);
    EXPECT_EQ(p.low_watermark, 100u);
    EXPECT_EQ(p.flags, 1u);
}

// A watermark above the pool's size is refused when the pool's size is known (state_alloc);
// the default is chunk_objs / 2 with the chunk as the environment gives it.
TEST_F(mempool_env, low_watermark_default_follows_the_chunk)
{
    setenv("ELASTIC_MEMPOOL_CHUNK_OBJS", "600", 1);
    elastic_mempool_params p;
    params_from_env(&p);
    EXPECT_EQ(p.low_watermark, 300u);
}

} // namespace
