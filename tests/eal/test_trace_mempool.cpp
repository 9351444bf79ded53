/* SPDX-License-Identifier: BSD-3-Clause */
// Trace replay against an elastic mempool (perf/trace_mempool.cpp, elastic-trace-eval --face
// mempool): a hand-made trace whose counts are worked out below, and the same policy verdicts as
// the variable-size replay where the faces must agree.
//
// Pool: 1984-byte objects (2048 with the header), base 16 objects, chunks of 16, wall 32 (two
// chunks), tick 500 ms, sample 1000 ms, idle 2000 ms, headroom 1, patent rule.
//   t     event            what the pool does
//   0     a A 32 KiB       ceil(32768 / 1984) = 17 objects > the base's 16: the get finds the
//                          pool dry and grows chunk 1 (grow 1, stall 1)
//   100   a B 2 KiB        2 objects (2048 / 1984 rounds up), from chunk 1
//   200   a C 64 KiB       34 objects > the wall (32): refused at once (failed 1)
//   700   f A, 800 f B     everything home; chunk 1 last served at 100
//   samples 1000, 2000     chunk 1 not idle yet (idle from 2100); 3000: chunk 1 idle, the base
//                          (its headroom) idle since 0: released (shrink 1)
//   4000  a D 1 KiB        1 object from the base: no growth
//   5000  f D              end
// grows 1, stalls 1, shrinks 1, failed 1, queued 0 (a mempool has no queue).
#include "eal_env.hpp"

#include <string>

#include "trace_lib.hpp"

namespace {

using namespace elastic::trace;

const char *hand_trace = R"(# t_ms,op,id,size
0,a,A,32K
100,a,B,2K
200,a,C,64K
700,f,A
800,f,B
4000,a,D,1K
5000,f,D
)";

eval_config small(policy p)
{
    eval_config c;
    c.pol = p;
    c.base = 16 * 2048;
    c.chunk = 16 * 2048;
    c.wall = 32 * 2048;
    c.tick_ms = 500;
    c.sample_ms = 1000;
    c.idle_ms = 2000;
    c.headroom = 1;
    return c;
}

trace parsed()
{
    trace tr;
    parse_error e;
    EXPECT_TRUE(parse_trace(hand_trace, tr, e)) << e.line << ": " << e.message;
    return tr;
}

TEST(TraceMempool, PatentCountsWorkedByHand)
{
    const trace tr = parsed();
    metrics m;
    std::string err;
    ASSERT_EQ(evaluate_mempool(tr, small(policy::patent), 1984, m, err), 0) << err;
    EXPECT_EQ(m.grows, 1u);
    EXPECT_EQ(m.stalls, 1u);
    EXPECT_EQ(m.shrinks, 1u);
    EXPECT_EQ(m.failed, 1u);
    EXPECT_EQ(m.queued, 0u);
    EXPECT_EQ(m.regrows_within_idle, 0u);
    EXPECT_EQ(m.end_ms, 5000u);
    EXPECT_GT(m.pinned_byte_ms, 0u);
}

// The offline optimum in objects is a lower bound of every policy's pinned byte-seconds here too,
// and static pins the wall from the start, so it never grows nor stalls.
TEST(TraceMempool, EveryPolicyReplaysAboveTheOptimum)
{
    const trace tr = parsed();
    metrics opt;
    std::string err;
    ASSERT_EQ(evaluate_mempool(tr, small(policy::optimum), 1984, opt, err), 0) << err;
    for (policy p : {policy::static_wall, policy::patent, policy::adaptive, policy::breakeven}) {
        metrics m;
        ASSERT_EQ(evaluate_mempool(tr, small(p), 1984, m, err), 0) << policy_name(p) << err;
        EXPECT_GE(m.pinned_byte_ms, opt.pinned_byte_ms) << policy_name(p);
        EXPECT_EQ(m.failed, 1u) << policy_name(p);
        if (p == policy::static_wall) {
            EXPECT_EQ(m.grows, 0u);
            EXPECT_EQ(m.stalls, 0u);
        }
    }
}

} // namespace

ELASTIC_EAL_TEST_MAIN("trace_mempool")
