// SPDX-License-Identifier: BSD-3-Clause
// The trace evaluator (perf/trace_lib.cpp): its metrics on a small hand-made trace whose answers
// are worked out below, and the parser's errors with their line numbers.
#include <string>
#include <tuple>
#include <vector>

#include <chrono>

#include <gtest/gtest.h>

#include "trace_lib.hpp"

namespace {

using namespace elastic::trace;

constexpr uint64_t MiB = 1024 * 1024;

// Pool: base 1 MiB, chunk 1 MiB, wall 2 MiB (so one growth chunk at most), tick 500 ms,
// sample 1000 ms, idle 2000 ms, headroom 1. Largest class: 1 MiB. Ticks at 500, 1000, ...;
// a sample is due at 1000, 2000, 3000, ... (1000 ms after the last).
//
//   t     event                      what the pool does
//   0     a A 1 MiB                  A takes the whole base
//   100   a B 4 KiB                  base full: grow chunk 1 (grow 1, on the request path:
//                                    stall 1); B in chunk 1. Pinned 2 MiB from t=100
//   200   a C 1 MiB                  base full, chunk 1 split by B, 2 MiB + 1 MiB > wall:
//                                    queued (queued 1)
//   700   f A                        the base is free: C is served from it (wait 500 ms);
//                                    base last allocation = 700
//   800   f B                        chunk 1 empty; its last allocation was at 100
//   samples 1000, 2000: chunk 1 not idle yet (idle from 2100); 3000: chunk 1 idle (2900 ms),
//         the base (the headroom chunk) idle too (2300 ms): chunk 1 released (shrink 1).
//         Pinned 1 MiB from 3000
//   4000  a D 4 KiB                  base full (C): grow (grow 2, stall 2), 1000 ms after the
//                                    release: regrow within idle 1. Pinned 2 MiB from 4000
//   4100  a F 1 MiB                  nothing fits, at the wall: queued (queued 2)
//   4200  a E 2 MiB                  larger than the largest class: refused (failed 1)
//   4300  f E                        freeing a refused request: ignored
//   4400  f F                        F still queued: cancelled, no wait counted
//   4500  f C
//   5000  f D                        end of the trace. Sample at 5000 (before the events of
//                                    5000): chunk 1 allocated at 4000, not idle: kept.
//
// pinned byte-ms = 1 MiB x 100 + 2 MiB x 2900 + 1 MiB x 1000 + 2 MiB x 1000
//                = 1 MiB x 8900 = 9'332'326'400 -> 9332326.400 byte-seconds
// mean = 9'332'326'400 / 5000 = 1'866'465 (floor); peak 2 MiB
// grows 2, shrinks 1, stalls 2, regrows 1, failed 1, queued 2, wait total 500, max 500.
const char *hand_trace = R"(# hand-made trace, see above
# t_ms,op,id,size
0,a,A,1M
100,a,B,4096
200,a,C,1048576
700,f,A
800,f,B,4K
4000,a,D,4096
4100,a,F,1MiB
4200,a,E,2M
4300,f,E
4400,f,F
4500,f,C
5000,f,D,
)";

eval_config small_pool(policy p)
{
    eval_config c;
    c.pol = p;
    c.base = 1 * MiB;
    c.chunk = 1 * MiB;
    c.wall = 2 * MiB;
    c.tick_ms = 500;
    c.sample_ms = 1000;
    c.idle_ms = 2000;
    c.headroom = 1;
    return c;
}

trace parsed(const char *text)
{
    trace tr;
    parse_error e;
    EXPECT_TRUE(parse_trace(text, tr, e)) << "line " << e.line << ": " << e.message;
    return tr;
}

TEST(trace_eval, patent_metrics_worked_by_hand)
{
    const trace tr = parsed(hand_trace);
    ASSERT_EQ(tr.events.size(), 12u);
    ASSERT_EQ(tr.sizes.size(), 6u);
    EXPECT_EQ(tr.end_ms(), 5000u);

    std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> tl;
    std::vector<std::string> chunk_log;
    eval_config cfg = small_pool(policy::patent);
    cfg.timeline = [&](uint64_t t, uint64_t pinned, uint64_t in_use) {
        tl.emplace_back(t, pinned, in_use);
    };
    cfg.chunk_log = [&](uint64_t t, const char *kind, uint64_t n, uint64_t pinned, uint64_t) {
        chunk_log.push_back(std::to_string(t) + " " + kind + " " + std::to_string(n) + " " +
                            std::to_string(pinned >> 20));
    };
    metrics m;
    std::string err;
    ASSERT_EQ(evaluate(tr, cfg, m, err), 0) << err;
    EXPECT_EQ(m.pinned_byte_ms, 8900 * MiB);
    EXPECT_EQ(m.end_ms, 5000u);
    EXPECT_EQ(m.peak_pinned_bytes, 2 * MiB);
    EXPECT_EQ(m.mean_pinned_bytes, 1'866'465u);
    EXPECT_EQ(m.grows, 2u);
    EXPECT_EQ(m.shrinks, 1u);
    EXPECT_EQ(m.stalls, 2u);
    EXPECT_EQ(m.regrows_within_idle, 1u);
    EXPECT_EQ(m.failed, 1u);
    EXPECT_EQ(m.queued, 2u);
    EXPECT_EQ(m.cancelled, 1u);
    EXPECT_EQ(m.queue_wait_ms_total, 500u);
    EXPECT_EQ(m.max_queue_wait_ms, 500u);
    EXPECT_EQ(to_json(m),
              "{\"policy\":\"patent\",\"pinned_byte_seconds\":9332326.400,"
              "\"peak_pinned_bytes\":2097152,\"mean_pinned_bytes\":1866465,\"grows\":2,"
              "\"shrinks\":1,\"stalls\":2,\"regrows_within_idle\":1,\"failed\":1,\"queued\":2,"
              "\"queue_wait_ms_total\":500,\"max_queue_wait_ms\":500}");

    // Timeline: the start, one row per tick (10 ticks up to 5000), and one per change of the
    // pinned bytes at an event (growths at 100 and 4000; the release at 3000 is a tick row).
    ASSERT_EQ(tl.size(), 1u + 10u + 2u);
    EXPECT_EQ(tl.front(), std::make_tuple(uint64_t(0), 1 * MiB, uint64_t(0)));
    EXPECT_EQ(tl[1], std::make_tuple(uint64_t(100), 2 * MiB, 1 * MiB + 4096));
    auto at = [&](uint64_t t) {
        for (const auto &row : tl)
            if (std::get<0>(row) == t)
                return row;
        ADD_FAILURE() << "no timeline row at " << t;
        return std::make_tuple(t, uint64_t(0), uint64_t(0));
    };
    EXPECT_EQ(at(2500), std::make_tuple(uint64_t(2500), 2 * MiB, 1 * MiB)); // C in the base
    EXPECT_EQ(at(3000), std::make_tuple(uint64_t(3000), 1 * MiB, 1 * MiB)); // chunk 1 gone
    EXPECT_EQ(tl.back(), std::make_tuple(uint64_t(5000), 2 * MiB, 4096u));  // tick before f D

    // Chunk log: time, kind, chunks, pinned MiB after.
    EXPECT_EQ(chunk_log,
              (std::vector<std::string>{"100 stall 1 2", "3000 release 1 1", "4000 stall 1 2"}));
}

// The static policy pins the wall as its base: 2 MiB x 5000 ms, never grows. The buddy base of
// 2 MiB holds A in one half and B in the other, so C and F queue exactly as before.
TEST(trace_eval, static_metrics_worked_by_hand)
{
    const trace tr = parsed(hand_trace);
    metrics m;
    std::string err;
    ASSERT_EQ(evaluate(tr, small_pool(policy::static_wall), m, err), 0) << err;
    EXPECT_EQ(m.pinned_byte_ms, 2 * MiB * 5000);
    EXPECT_EQ(m.peak_pinned_bytes, 2 * MiB);
    EXPECT_EQ(m.mean_pinned_bytes, 2 * MiB);
    EXPECT_EQ(m.grows, 0u);
    EXPECT_EQ(m.shrinks, 0u);
    EXPECT_EQ(m.stalls, 0u);
    EXPECT_EQ(m.regrows_within_idle, 0u);
    EXPECT_EQ(m.failed, 1u);
    EXPECT_EQ(m.queued, 2u);
    EXPECT_EQ(m.queue_wait_ms_total, 500u);
    EXPECT_EQ(m.max_queue_wait_ms, 500u);
    EXPECT_EQ(to_json(m).rfind("{\"policy\":\"static\",\"pinned_byte_seconds\":10485760.000,", 0),
              0u);
}

// FIFO waits, and a request still queued at the end counts its wait up to the end.
//   0 a A 1M (base), 0 a B 1M (grow: chunk 1; stall), 100 a H 1M (queued, at the wall),
//   200 a G 4K (queued behind H: nobody overtakes a waiter), 300 f A: H takes the base
//   (wait 200); G still cannot fit (B in chunk 1, H in the base) and stays queued.
TEST(trace_eval, fifo_waits_and_queued_at_end)
{
    const trace tr = parsed("0,a,A,1M\n0,a,B,1M\n100,a,H,1M\n200,a,G,4K\n300,f,A\n1000,f,B\n");
    metrics m;
    std::string err;
    ASSERT_EQ(evaluate(tr, small_pool(policy::patent), m, err), 0) << err;
    // The free of B at 1000 serves G (wait 800), so nothing is left queued at the end.
    EXPECT_EQ(m.queued, 2u);
    EXPECT_EQ(m.stalls, 1u);
    EXPECT_EQ(m.grows, 1u);
    EXPECT_EQ(m.queue_wait_ms_total, 200u + 800u);
    EXPECT_EQ(m.max_queue_wait_ms, 800u);

    const trace tr2 = parsed("0,a,A,1M\n0,a,B,1M\n100,a,H,1M\n200,a,G,4K\n300,f,A\n1000,a,Z,4K\n");
    ASSERT_EQ(evaluate(tr2, small_pool(policy::patent), m, err), 0) << err;
    // H waits 200; G and then Z (behind G) are still queued at 1000: 800 and 0.
    EXPECT_EQ(m.queued, 3u);
    EXPECT_EQ(m.queue_wait_ms_total, 200u + 800u + 0u);
    EXPECT_EQ(m.max_queue_wait_ms, 800u);
}

// The adaptive policy runs on the same trace: it must create its pool and reproduce what does
// not depend on the release rule (the queue, the refusal, the first growth on the request path).
TEST(trace_eval, adaptive_policy_replays_or_reports_unavailable)
{
    const trace tr = parsed(hand_trace);
    metrics m;
    std::string err;
    const int rc = evaluate(tr, small_pool(policy::adaptive), m, err);
    if (rc == -ENOTSUP)
        GTEST_SKIP() << "adaptive policy not available: " << err;
    ASSERT_EQ(rc, 0) << err;
    EXPECT_EQ(m.pol, policy::adaptive);
    EXPECT_EQ(m.failed, 1u);
    EXPECT_GE(m.grows, 1u);
    EXPECT_LE(m.peak_pinned_bytes, 2 * MiB);
    EXPECT_GE(m.pinned_byte_ms, 1 * MiB * 5000);
    EXPECT_LE(m.pinned_byte_ms, 2 * MiB * 5000);
    // C (at 200, before any tick) and F (at 4100, chunk 1 kept or regrown: the wall either way)
    // queue whatever the release rule; C waits for the free of A at 700.
    EXPECT_EQ(m.queued, 2u);
    EXPECT_EQ(m.queue_wait_ms_total, 500u);
}

TEST(trace_parse, sizes_and_suffixes)
{
    uint64_t v = 0;
    EXPECT_TRUE(parse_size("4096", v));
    EXPECT_EQ(v, 4096u);
    EXPECT_TRUE(parse_size("4K", v));
    EXPECT_EQ(v, 4096u);
    EXPECT_TRUE(parse_size("16M", v));
    EXPECT_EQ(v, 16 * MiB);
    EXPECT_TRUE(parse_size("2GiB", v));
    EXPECT_EQ(v, 2048 * MiB);
    EXPECT_TRUE(parse_size(" 1mB ", v));
    EXPECT_EQ(v, MiB);
    EXPECT_FALSE(parse_size("0", v));
    EXPECT_TRUE(parse_size("0", v, true));
    EXPECT_FALSE(parse_size("", v));
    EXPECT_FALSE(parse_size("M", v));
    EXPECT_FALSE(parse_size("-4K", v));
    EXPECT_FALSE(parse_size("4X", v));
    EXPECT_FALSE(parse_size("4KK", v));
    EXPECT_FALSE(parse_size("4.5M", v));
    EXPECT_FALSE(parse_size("99999999999999999999", v));
    EXPECT_FALSE(parse_size("17179869184G", v)); // 2^34 GiB overflows 64 bits
}

TEST(trace_parse, comments_blank_lines_and_spaces)
{
    const trace tr = parsed("\n# only a comment\n  10 , a , x1 , 2K  # trailing comment\r\n\n"
                            "10,f,x1\n20,a,x1,8K\n30,f,x1,8192\n");
    ASSERT_EQ(tr.events.size(), 4u);
    EXPECT_EQ(tr.sizes, (std::vector<uint64_t>{2048, 8192}));
    EXPECT_EQ(tr.events[1].req, 0u); // the free names the first request
    EXPECT_TRUE(tr.events[1].is_free);
    EXPECT_EQ(tr.events[3].req, 1u); // the id reused after its free is a new request
    EXPECT_EQ(tr.end_ms(), 30u);
}

struct bad_case {
    const char *text;
    size_t line;
    const char *says;
};

TEST(trace_parse, errors_name_the_line)
{
    const bad_case cases[] = {
        {"0,a,x,4K\n# c\n5,b,y,4K\n", 3, "bad op 'b'"},
        {"0,a,x\n", 1, "allocation without a size"},
        {"0,a,x,4K\n1,a\n", 2, "too few fields"},
        {"0,a,x,4K,9\n", 1, "too many fields"},
        {"abc,a,x,4K\n", 1, "bad time 'abc'"},
        {"-1,a,x,4K\n", 1, "bad time"},
        {"1.5,a,x,4K\n", 1, "bad time"},
        {"10,a,x,4K\n\n9,f,x\n", 3, "goes backwards"},
        {"0,a,x,0\n", 1, "bad size '0'"},
        {"0,a,x,4Q\n", 1, "bad size '4Q'"},
        {"0,a,x,\n", 1, "bad size ''"},
        {"0,a,x,4K\n1,a,x,4K\n", 2, "is allocated and not freed yet"},
        {"0,a,x,4K\n1,f,y\n", 2, "free of unknown id 'y'"},
        {"0,a,x,4K\n1,f,x\n2,f,x\n", 3, "free of unknown id 'x'"},
        {"0,a,,4K\n", 1, "bad id"},
        {"0,a,a b,4K\n", 1, "bad id"},
        {"0,a,x,4K\n1,f,x,zz\n", 2, "bad size 'zz'"},
    };
    for (const bad_case &c : cases) {
        trace tr;
        parse_error e;
        EXPECT_FALSE(parse_trace(c.text, tr, e)) << c.text;
        EXPECT_EQ(e.line, c.line) << c.text << " -> " << e.message;
        EXPECT_NE(e.message.find(c.says), std::string::npos) << c.text << " -> " << e.message;
    }
}

TEST(trace_parse, policy_names)
{
    policy p;
    ASSERT_TRUE(policy_from_name("static", p));
    EXPECT_EQ(p, policy::static_wall);
    ASSERT_TRUE(policy_from_name("patent", p));
    EXPECT_EQ(p, policy::patent);
    ASSERT_TRUE(policy_from_name("adaptive", p));
    EXPECT_EQ(p, policy::adaptive);
    EXPECT_FALSE(policy_from_name("Patent", p));
    EXPECT_STREQ(policy_name(policy::static_wall), "static");
}

} // namespace

namespace {

// The offline optimum of the hand trace (ticks every 500 ms; over each tick interval the base
// plus whole chunks for the highest in-use bytes of that interval, capped at the wall):
//   [0, 500)      A 1M, B 4K, C 1M: 2 MiB + 4 KiB -> 3 MiB, capped: 2 MiB
//   [500, 1000)   starts at 2 MiB + 4 KiB (then A, B freed): 2 MiB
//   [1000, 4000)  C alone, 1 MiB: the base, 1 MiB (six intervals)
//   [4000, 4500)  D, F: 2 MiB + 4 KiB -> 2 MiB (E, 2 MiB, is refused: counts nothing)
//   [4500, 5000)  starts at 1 MiB + 4 KiB (F cancelled, D): 2 MiB
// = 2 MiB x 2000 + 1 MiB x 3000 = 1 MiB x 7000 byte-ms; mean 7'340'032'000 / 5000 = 1'468'006.
TEST(trace_eval, offline_optimum_worked_by_hand)
{
    const trace tr = parsed(hand_trace);
    metrics m;
    std::string err;
    ASSERT_EQ(evaluate(tr, small_pool(policy::optimum), m, err), 0) << err;
    EXPECT_EQ(m.pinned_byte_ms, 7000 * MiB);
    EXPECT_EQ(m.mean_pinned_bytes, 1'468'006u);
    EXPECT_EQ(m.peak_pinned_bytes, 2 * MiB);
    EXPECT_EQ(m.end_ms, 5000u);
    EXPECT_EQ(m.stalls, 0u);
    // A lower bound of every policy on the same pool.
    for (policy p : {policy::patent, policy::adaptive, policy::breakeven, policy::static_wall}) {
        metrics q;
        ASSERT_EQ(evaluate(tr, small_pool(p), q, err), 0) << err;
        EXPECT_GE(q.pinned_byte_ms, m.pinned_byte_ms) << policy_name(p);
    }
}

// Issue 13: a two-line trace with epoch-millisecond times ran every tick from 0 (3.4 billion
// ticks: it never ended). Quiet stretches are skipped: bounded by the input, not by its times.
TEST(trace_eval, epoch_millisecond_times_are_bounded)
{
    const trace tr = parsed("1700000000000,a,x,4096\n1700000000100,f,x\n");
    eval_config cfg = small_pool(policy::patent);
    cfg.base = 4096;
    cfg.chunk = 4096;
    cfg.wall = 8192;
    metrics m;
    std::string err;
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(evaluate(tr, cfg, m, err), 0) << err;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    EXPECT_EQ(m.end_ms, 1700000000100u);
    EXPECT_EQ(m.grows, 0u);
    EXPECT_EQ(m.peak_pinned_bytes, 4096u);
    EXPECT_EQ(m.mean_pinned_bytes, 4096u); // the base, the whole time
}

// The skip changes nothing that a run of every tick shows: a trace with a long quiet gap gives
// the same metrics with and without it (adaptive and patent, growth before and after the gap).
TEST(trace_eval, skipping_quiet_ticks_changes_no_metric)
{
    const char *text = "0,a,a,1M\n10,a,b,1M\n20,f,a\n30,f,b\n"
                       "500000000,a,c,1M\n500000010,a,d,1M\n500000020,f,c\n500000030,f,d\n";
    const trace tr = parsed(text);
    for (policy p : {policy::patent, policy::adaptive}) {
        eval_config cfg = small_pool(p);
        metrics m;
        std::string err;
        ASSERT_EQ(evaluate(tr, cfg, m, err), 0) << err;
        EXPECT_EQ(m.grows, 2u) << policy_name(p);
        EXPECT_EQ(m.shrinks, 1u) << policy_name(p); // released in the gap, once
        EXPECT_EQ(m.peak_pinned_bytes, 2 * MiB) << policy_name(p);
    }
}

// A trace whose pinned byte-ms integral overflows is an input error (trace_eval exits 2).
TEST(trace_eval, integral_overflow_is_reported)
{
    const trace tr = parsed("0,a,x,4096\n18000000000000000,f,x\n");
    eval_config cfg = small_pool(policy::patent);
    metrics m;
    std::string err;
    EXPECT_EQ(evaluate(tr, cfg, m, err), -EOVERFLOW);
    EXPECT_NE(err.find("overflow"), std::string::npos);
}

} // namespace
