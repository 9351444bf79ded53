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
        unsetenv("ELASTIC_MEMPOOL_ADAPTIVE");
        unsetenv("ELASTIC_MEMPOOL_BREAKEVEN");
        unsetenv("ELASTIC_MEMPOOL_FLAGS");
    }
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
    setenv("ELASTIC_MEMPOOL_FLAGS", "64", 1);
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

} // namespace
