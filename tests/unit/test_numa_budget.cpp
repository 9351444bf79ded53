// SPDX-License-Identifier: BSD-3-Clause
// The node-budget table (budget.cpp) on its own, without the EAL (the process table): admission
// against the cap, refusals, give back, node numbers it cannot hold, the CAS under contention,
// and which node a SOCKET_ID_ANY pool is kept on. The table lives as long as the process, so
// each test uses its own node number.

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <numa.h>
#include <sched.h>

#include <rte_memory.h>

#include "budget.hpp"
#include "numa_manager.hpp"

namespace {

using namespace elastic::detail;

constexpr uint64_t KiB = 1024;

node_budget_figures figures(int node)
{
    node_budget_figures f;
    EXPECT_EQ(node_budget_get(node, f), 0);
    return f;
}

TEST(NumaBudget, NoCapAdmitsEverything)
{
    const int node = 1;
    EXPECT_TRUE(node_budget_admit(node, 1ull << 40));
    EXPECT_TRUE(node_budget_admit(node, 4 * KiB));
    EXPECT_EQ(figures(node).pinned_bytes, (1ull << 40) + 4 * KiB);
    node_budget_give_back(node, 1ull << 40);
    node_budget_give_back(node, 4 * KiB);
    EXPECT_EQ(figures(node).pinned_bytes, 0u);
    EXPECT_EQ(figures(node).refusals, 0u);
    EXPECT_FALSE(node_budget_shared()) << "no EAL: the process's own table";
}

TEST(NumaBudget, CapRefusesWhatWouldCrossItAndCountsTheRefusals)
{
    const int node = 2;
    ASSERT_EQ(node_budget_cap_set(node, 100 * KiB), 0);
    EXPECT_TRUE(node_budget_admit(node, 60 * KiB));
    EXPECT_TRUE(node_budget_admit(node, 40 * KiB)); // exactly at the cap
    EXPECT_FALSE(node_budget_admit(node, 1));
    EXPECT_FALSE(node_budget_admit(node, UINT64_MAX)); // no overflow lets it through
    node_budget_figures f = figures(node);
    EXPECT_EQ(f.cap_bytes, 100 * KiB);
    EXPECT_EQ(f.pinned_bytes, 100 * KiB);
    EXPECT_EQ(f.refusals, 2u);
    node_budget_give_back(node, 40 * KiB);
    EXPECT_TRUE(node_budget_admit(node, 40 * KiB));
    // A cap lowered below what is pinned releases nothing and refuses until enough came back.
    ASSERT_EQ(node_budget_cap_set(node, 50 * KiB), 0);
    EXPECT_EQ(figures(node).pinned_bytes, 100 * KiB);
    EXPECT_FALSE(node_budget_admit(node, 4 * KiB));
    node_budget_give_back(node, 60 * KiB);
    EXPECT_TRUE(node_budget_admit(node, 4 * KiB));
    EXPECT_FALSE(node_budget_admit(node, 8 * KiB));
    ASSERT_EQ(node_budget_cap_set(node, 0), 0); // no cap any more
    EXPECT_TRUE(node_budget_admit(node, 1ull << 30));
    node_budget_give_back(node, (1ull << 30) + 44 * KiB);
    EXPECT_EQ(figures(node).pinned_bytes, 0u);
    EXPECT_EQ(figures(node).refusals, 4u);
}

TEST(NumaBudget, GiveBackNeverGoesBelowZero)
{
    const int node = 3;
    EXPECT_TRUE(node_budget_admit(node, 8 * KiB));
    node_budget_give_back(node, 16 * KiB); // a bug elsewhere: logged, clamped
    EXPECT_EQ(figures(node).pinned_bytes, 0u);
}

TEST(NumaBudget, NodesTheTableCannotHoldAreAdmittedWithoutCap)
{
    for (int node : {-1, -7, RTE_MAX_NUMA_NODES, RTE_MAX_NUMA_NODES + 100}) {
        EXPECT_TRUE(node_budget_admit(node, 1ull << 50)) << node;
        node_budget_give_back(node, 1ull << 50); // and nothing to give back to
        EXPECT_EQ(node_budget_cap_set(node, 1), -ENOENT) << node;
        node_budget_figures f;
        EXPECT_EQ(node_budget_get(node, f), -ENOENT) << node;
    }
}

// Four threads race to admit 4 KiB at a time against a 1 MiB cap: exactly 256 admissions win,
// the pinned figure never exceeds the cap, every other attempt is a counted refusal.
TEST(NumaBudget, ConcurrentAdmissionsNeverCrossTheCap)
{
    const int node = 4;
    constexpr uint64_t cap = 1024 * KiB;
    ASSERT_EQ(node_budget_cap_set(node, cap), 0);
    std::atomic<uint64_t> admitted{0}, refused{0};
    std::vector<std::thread> th;
    for (int t = 0; t < 4; t++) {
        th.emplace_back([&] {
            for (int i = 0; i < 2000; i++) {
                if (node_budget_admit(node, 4 * KiB))
                    admitted++;
                else
                    refused++;
                EXPECT_LE(figures(node).pinned_bytes, cap);
            }
        });
    }
    for (auto &x : th)
        x.join();
    EXPECT_EQ(admitted.load(), cap / (4 * KiB));
    EXPECT_EQ(figures(node).pinned_bytes, cap);
    EXPECT_EQ(figures(node).refusals, refused.load());
    node_budget_give_back(node, cap);
    ASSERT_EQ(node_budget_cap_set(node, 0), 0);
}

TEST(NumaBudget, ResolveAnExplicitSocketIsItself)
{
    EXPECT_EQ(node_budget_resolve(0), 0);
    EXPECT_EQ(node_budget_resolve(3), 3);
    EXPECT_EQ(node_budget_resolve(RTE_MAX_NUMA_NODES + 1), RTE_MAX_NUMA_NODES + 1);
}

// SOCKET_ID_ANY without the EAL: the kernel's node of the cpu the thread runs on (0 when
// libnuma does not know).
TEST(NumaBudget, ResolveAnySocketIsTheCpusNode)
{
    const int cpu = sched_getcpu();
    ASSERT_GE(cpu, 0);
    std::thread th([cpu] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
        int expect = 0;
        if (numa_available() >= 0 && numa_node_of_cpu(cpu) >= 0)
            expect = numa_node_of_cpu(cpu);
        EXPECT_EQ(node_budget_resolve(SOCKET_ID_ANY), expect);
    });
    th.join();
}

// A family creating its pool for a node the EAL has no memory on asks for SOCKET_ID_ANY memory
// but keeps the pool on that node's budget; the scope is per thread and nests.
TEST(NumaBudget, ScopeNamesTheNodeOfAnySocketCreations)
{
    const int plain = node_budget_resolve(SOCKET_ID_ANY);
    {
        budget_node_scope outer(29); // a node number no test machine has
        EXPECT_EQ(node_budget_resolve(SOCKET_ID_ANY), 29);
        EXPECT_EQ(node_budget_resolve(2), 2) << "an explicit socket stays itself";
        {
            budget_node_scope inner(6);
            EXPECT_EQ(node_budget_resolve(SOCKET_ID_ANY), 6);
        }
        EXPECT_EQ(node_budget_resolve(SOCKET_ID_ANY), 29);
        std::thread other([] { EXPECT_NE(node_budget_resolve(SOCKET_ID_ANY), 29); });
        other.join();
    }
    EXPECT_EQ(node_budget_resolve(SOCKET_ID_ANY), plain);
}

} // namespace
