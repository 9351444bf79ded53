// SPDX-License-Identifier: BSD-3-Clause
// Families of pools, one per NUMA node, on this machine and on hwloc synthetic topologies of 2
// and 4 nodes (heap provider): every buffer comes from its node's pool, pools are found by node,
// cpu and calling thread, and node caps hold per node for every pool on it (in a family or not).
// The node-budget counters live as long as the process: checks of refusals are differences.

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <numa.h>
#include <sched.h>

#include <elastic_numa.h>
#include <elasticpool.h>

#include "numa_manager.hpp"
#include "unit_common.hpp"

namespace {

using namespace elastic::test;

elastic_pool_params family_template(uint32_t extra_flags = 0)
{
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.base_size = 64 * KiB;
    p.chunk_size = 64 * KiB;
    p.wall_size = 256 * KiB;
    p.max_buf_size = 64 * KiB;
    p.flags = ELASTIC_POOL_F_PROVIDER_HEAP | ELASTIC_POOL_F_MANUAL_TICK | extra_flags;
    return p;
}

struct family_deleter {
    void operator()(elastic_numa_family *f) const noexcept { elastic_numa_family_free(f); }
};
using family_ptr = std::unique_ptr<elastic_numa_family, family_deleter>;

std::vector<int> all_nodes()
{
    std::vector<int> v(static_cast<size_t>(elastic_numa_node_count()));
    elastic_numa_nodes(v.data(), unsigned(v.size()));
    return v;
}

std::vector<unsigned> cpus_of(int node)
{
    std::vector<unsigned> v(static_cast<size_t>(elastic_numa_node_cpus(node, nullptr, 0)));
    elastic_numa_node_cpus(node, v.data(), unsigned(v.size()));
    return v;
}

// nullptr: this machine.
class NumaFamily : public ::testing::TestWithParam<const char *> {
protected:
    void SetUp() override { ASSERT_EQ(elastic_numa_topology_set(GetParam()), 0); }
    void TearDown() override { EXPECT_EQ(elastic_numa_topology_set(nullptr), 0); }
};

TEST_P(NumaFamily, OnePoolPerNodeNamedPrefixAtNode)
{
    const elastic_pool_params t = family_template();
    family_ptr fam(elastic_numa_family_create("fam", &t));
    ASSERT_NE(fam, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(elastic_numa_family_lookup("fam"), fam.get());
    for (int node : all_nodes()) {
        const std::string name = "fam@" + std::to_string(node);
        elastic_pool *p = elastic_numa_pool(fam.get(), node);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(elastic_pool_lookup(name.c_str()), p);
        EXPECT_STREQ(elastic_pool_name(p), name.c_str());
        EXPECT_EQ(elastic::detail::numa_info_of_pool(name).node, node);
        EXPECT_EQ(elastic::detail::numa_info_of_pool(name).family, "fam");
    }
    EXPECT_EQ(elastic_numa_pool(fam.get(), 99), nullptr);
    EXPECT_EQ(rte_errno, ENOENT);
    fam.reset();
    EXPECT_EQ(elastic_pool_lookup("fam@0"), nullptr);
    EXPECT_EQ(elastic_numa_family_lookup("fam"), nullptr);
    EXPECT_EQ(rte_errno, ENOENT);
}

TEST_P(NumaFamily, EveryBufferComesFromItsNodesPool)
{
    const elastic_pool_params t = family_template();
    family_ptr fam(elastic_numa_family_create("bufs", &t));
    ASSERT_NE(fam, nullptr);
    const std::vector<int> nodes = all_nodes();
    struct taken {
        int node;
        elastic_pool *pool;
        void *buf;
    };
    std::vector<taken> out;
    for (int node : nodes) {
        for (unsigned cpu : cpus_of(node)) {
            elastic_pool *p = elastic_numa_pool_for_cpu(fam.get(), cpu);
            ASSERT_EQ(p, elastic_numa_pool(fam.get(), node)) << "cpu " << cpu;
            void *b = elastic_buf_alloc(p, 16 * KiB);
            ASSERT_NE(b, nullptr);
            out.push_back({node, p, b});
        }
    }
    // Each buffer belongs to its own node's pool and to no other.
    for (const taken &x : out) {
        for (int node : nodes) {
            const elastic_pool *p = elastic_numa_pool(fam.get(), node);
            if (node == x.node)
                EXPECT_EQ(elastic_buf_size(p, x.buf), 16 * KiB);
            else
                EXPECT_EQ(elastic_buf_size(p, x.buf), 0u) << "node " << node;
        }
    }
    for (const taken &x : out)
        EXPECT_EQ(elastic_buf_free(x.pool, x.buf), 0);
}

TEST_P(NumaFamily, PoolHereFollowsTheCpuTheThreadRunsOn)
{
    const elastic_pool_params t = family_template();
    family_ptr fam(elastic_numa_family_create("here", &t));
    ASSERT_NE(fam, nullptr);
    cpu_set_t allowed;
    ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
    unsigned checked = 0;
    for (unsigned cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        elastic_pool *expect = elastic_numa_pool_for_cpu(fam.get(), cpu);
        if (expect == nullptr) // a synthetic topology smaller than the machine
            expect = elastic_numa_pool(fam.get(), all_nodes()[0]);
        std::thread th([&] {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
            ASSERT_EQ(sched_getcpu(), int(cpu));
            EXPECT_EQ(elastic_numa_pool_here(fam.get()), expect) << "cpu " << cpu;
        });
        th.join();
        checked++;
    }
    EXPECT_GT(checked, 0u);
}

TEST_P(NumaFamily, PortNeedsTheEal)
{
    const elastic_pool_params t = family_template();
    family_ptr fam(elastic_numa_family_create("port", &t));
    ASSERT_NE(fam, nullptr);
    EXPECT_EQ(elastic_numa_pool_for_port(fam.get(), 0), nullptr);
    EXPECT_EQ(rte_errno, ENOTSUP);
}

TEST_P(NumaFamily, BadArguments)
{
    const elastic_pool_params t = family_template();
    EXPECT_EQ(elastic_numa_family_create(nullptr, &t), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_family_create("", &t), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_family_create("a@b", &t), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_family_create("x", nullptr), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    const std::string long_prefix(ELASTIC_NUMA_PREFIXSIZE + 1, 'p');
    EXPECT_EQ(elastic_numa_family_create(long_prefix.c_str(), &t), nullptr);
    EXPECT_EQ(rte_errno, ENAMETOOLONG);
    const std::string just_fits(ELASTIC_NUMA_PREFIXSIZE, 'p');
    family_ptr ok(elastic_numa_family_create(just_fits.c_str(), &t));
    EXPECT_NE(ok, nullptr) << rte_strerror(rte_errno);
    elastic_pool_params bad = t;
    bad.wall_size = 1; // smaller than the base
    EXPECT_EQ(elastic_numa_family_create("bad", &bad), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_pool(nullptr, 0), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_pool_here(nullptr), nullptr);
    EXPECT_EQ(elastic_numa_pool_for_pci(nullptr, "0000:00:00.0"), nullptr);
}

TEST_P(NumaFamily, DuplicatesAreRefusedAndLeaveNothingBehind)
{
    const elastic_pool_params t = family_template();
    family_ptr a(elastic_numa_family_create("dup", &t));
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(elastic_numa_family_create("dup", &t), nullptr);
    EXPECT_EQ(rte_errno, EEXIST);
    // A pool that takes the name of the family's last node's pool.
    const std::vector<int> nodes = all_nodes();
    const std::string clash = "clash@" + std::to_string(nodes.back());
    elastic_pool_params p = family_template();
    p.name = clash.c_str();
    pool_ptr squatter(elastic_pool_create(&p));
    ASSERT_NE(squatter, nullptr);
    EXPECT_EQ(elastic_numa_family_create("clash", &t), nullptr);
    EXPECT_EQ(rte_errno, EEXIST);
    for (int node : nodes) {
        const std::string name = "clash@" + std::to_string(node);
        if (name != clash) {
            EXPECT_EQ(elastic_pool_lookup(name.c_str()), nullptr) << name;
        }
    }
    EXPECT_EQ(elastic_numa_family_lookup("clash"), nullptr);
    // No topology change while families exist.
    EXPECT_EQ(elastic_numa_topology_set("pack:2 numa:1 core:1 pu:1"), -EBUSY);
}

INSTANTIATE_TEST_SUITE_P(Topologies, NumaFamily,
    ::testing::Values(nullptr, "pack:2 numa:1 core:2 pu:1", "pack:4 numa:1 core:1 pu:1"),
    [](const ::testing::TestParamInfo<const char *> &i) {
        return i.param == nullptr ? std::string("machine")
                                  : std::string("synthetic") + std::to_string(i.index);
    });

// ---- node caps ----

class NumaCap : public ::testing::TestWithParam<const char *> {
protected:
    void SetUp() override
    {
        ASSERT_EQ(elastic_numa_topology_set(GetParam()), 0);
    }
    void TearDown() override
    {
        for (int node : all_nodes())
            elastic_numa_node_cap_set(node, 0);
        EXPECT_EQ(elastic_numa_topology_set(nullptr), 0);
    }
};

elastic_numa_node_stats node_stats(int node)
{
    elastic_numa_node_stats st{};
    EXPECT_EQ(elastic_numa_node_stats_get(node, &st), 0);
    return st;
}

TEST_P(NumaCap, CapHoldsPerNodeAcrossFamilies)
{
    const std::vector<int> nodes = all_nodes();
    ASSERT_GE(nodes.size(), 2u);
    const int capped = nodes[0];
    const uint64_t refusals_before = node_stats(capped).cap_refusals;
    // Two families: two bases (128 KiB) on every node; the cap leaves room for one chunk.
    ASSERT_EQ(elastic_numa_node_cap_set(capped, 192 * KiB), 0);
    const elastic_pool_params t = family_template();
    family_ptr a(elastic_numa_family_create("capa", &t));
    family_ptr b(elastic_numa_family_create("capb", &t));
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(node_stats(capped).pinned_bytes, 128 * KiB);
    EXPECT_EQ(node_stats(capped).nb_pools, 2u);

    elastic_pool *a0 = elastic_numa_pool(a.get(), capped);
    elastic_pool *b0 = elastic_numa_pool(b.get(), capped);
    std::vector<void *> a_bufs, b_bufs;
    a_bufs.push_back(elastic_buf_alloc(a0, 64 * KiB)); // base
    a_bufs.push_back(elastic_buf_alloc(a0, 64 * KiB)); // grows: 192 KiB on the node
    ASSERT_NE(a_bufs[0], nullptr);
    ASSERT_NE(a_bufs[1], nullptr);
    b_bufs.push_back(elastic_buf_alloc(b0, 64 * KiB)); // base
    ASSERT_NE(b_bufs[0], nullptr);
    EXPECT_EQ(elastic_buf_alloc(b0, 64 * KiB), nullptr); // would cross the cap
    EXPECT_EQ(rte_errno, ENOBUFS);                       // like the wall
    EXPECT_EQ(elastic_buf_alloc(a0, 64 * KiB), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);
    elastic_numa_node_stats st = node_stats(capped);
    EXPECT_EQ(st.pinned_bytes, 192 * KiB);
    EXPECT_LE(st.pinned_bytes, st.cap_bytes);
    EXPECT_EQ(st.cap_refusals - refusals_before, 2u);
    elastic_pool_stats b0_st;
    ASSERT_EQ(elastic_pool_stats_get(b0, &b0_st), 0);
    EXPECT_EQ(b0_st.last_limit, uint32_t(ELASTIC_LIMIT_NODE_CAP)) << "the pool says which limit";
    EXPECT_EQ(b0_st.nb_cap_hits, 1u);
    EXPECT_EQ(b0_st.nb_wall_hits, 0u);
    const std::string b0_name = elastic_pool_name(b0);
    EXPECT_EQ(elastic::detail::numa_info_of_pool(b0_name).cap_refusals, 1u);

    // Every other node is uncapped: its pools grow to their walls.
    for (size_t i = 1; i < nodes.size(); i++) {
        const uint64_t other_refusals = node_stats(nodes[i]).cap_refusals;
        elastic_pool *p = elastic_numa_pool(b.get(), nodes[i]);
        std::vector<void *> got;
        for (int k = 0; k < 4; k++) {
            got.push_back(elastic_buf_alloc(p, 64 * KiB));
            ASSERT_NE(got.back(), nullptr) << "node " << nodes[i];
        }
        EXPECT_EQ(node_stats(nodes[i]).pinned_bytes, 256 * KiB + 64 * KiB);
        EXPECT_EQ(node_stats(nodes[i]).cap_refusals, other_refusals);
        for (void *x : got)
            elastic_buf_free(p, x);
    }

    // A queued request on the capped node is served once another pool of the node shrinks.
    void *served = nullptr;
    auto cb = [](elastic_pool *, void *buf, void *arg) { *static_cast<void **>(arg) = buf; };
    ASSERT_EQ(elastic_buf_alloc_async(b0, 64 * KiB, cb, &served), 0);
    EXPECT_EQ(served, nullptr);
    EXPECT_EQ(elastic_buf_free(a0, a_bufs[1]), 0);
    a_bufs.pop_back();
    // Freeing family a gives its bytes on the node back (its grown chunk would go the same way
    // when released by the idle rule).
    EXPECT_EQ(elastic_buf_free(a0, a_bufs[0]), 0);
    a_bufs.clear();
    a.reset();
    EXPECT_EQ(node_stats(capped).pinned_bytes, 64 * KiB);
    EXPECT_EQ(elastic_pool_maintain(b0), 0); // retries the waiter's growth
    EXPECT_NE(served, nullptr);
    EXPECT_EQ(node_stats(capped).pinned_bytes, 128 * KiB);
    if (served != nullptr)
        b_bufs.push_back(served);
    for (void *x : b_bufs)
        EXPECT_EQ(elastic_buf_free(b0, x), 0);
}

// The cap counts every pool on the node, not only the manager's: a pool made on its own with
// socket_id = the node shares the budget with the family's pool there.
TEST_P(NumaCap, CapCountsEveryPoolOnTheNode)
{
    const std::vector<int> nodes = all_nodes();
    ASSERT_GE(nodes.size(), 2u);
    const int node = nodes[1]; // not the first: placement must not default to it
    const uint64_t refusals_before = node_stats(node).cap_refusals;
    ASSERT_EQ(elastic_numa_node_cap_set(node, 128 * KiB), 0);
    elastic_pool_params p = family_template();
    const std::string loner_name = unique_name("loner");
    p.name = loner_name.c_str();
    p.socket_id = node;
    pool_ptr loner(elastic_pool_create(&p));
    ASSERT_NE(loner, nullptr) << rte_strerror(rte_errno);
    const elastic_pool_params t = family_template();
    family_ptr fam(elastic_numa_family_create("every", &t));
    ASSERT_NE(fam, nullptr) << rte_strerror(rte_errno);
    elastic_pool *member = elastic_numa_pool(fam.get(), node);
    ASSERT_NE(member, nullptr);

    elastic_numa_node_stats st = node_stats(node);
    EXPECT_EQ(st.pinned_bytes, 128 * KiB) << "the loner's base and the member's base";
    EXPECT_EQ(st.nb_pools, 2u);
    EXPECT_EQ(st.nb_mempools, 0u);
    elastic_pool_stats ps;
    ASSERT_EQ(elastic_pool_stats_get(loner.get(), &ps), 0);
    EXPECT_EQ(ps.node, node);
    ASSERT_EQ(elastic_pool_stats_get(member, &ps), 0);
    EXPECT_EQ(ps.node, node);

    // Both bases are in use; neither pool may grow now, whichever asks.
    void *m0 = elastic_buf_alloc(member, 64 * KiB);
    void *l0 = elastic_buf_alloc(loner.get(), 64 * KiB);
    ASSERT_NE(m0, nullptr);
    ASSERT_NE(l0, nullptr);
    EXPECT_EQ(elastic_buf_alloc(member, 64 * KiB), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);
    EXPECT_EQ(elastic_buf_alloc(loner.get(), 64 * KiB), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);
    ASSERT_EQ(elastic_pool_stats_get(loner.get(), &ps), 0);
    EXPECT_EQ(ps.last_limit, uint32_t(ELASTIC_LIMIT_NODE_CAP));
    EXPECT_EQ(node_stats(node).cap_refusals - refusals_before, 2u);
    EXPECT_EQ(node_stats(node).pinned_bytes, 128 * KiB);

    // The loner goes: its base comes back to the node, and the member may grow into it.
    EXPECT_EQ(elastic_buf_free(loner.get(), l0), 0);
    loner.reset();
    EXPECT_EQ(node_stats(node).pinned_bytes, 64 * KiB);
    EXPECT_EQ(node_stats(node).nb_pools, 1u);
    void *m1 = elastic_buf_alloc(member, 64 * KiB);
    EXPECT_NE(m1, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(node_stats(node).pinned_bytes, 128 * KiB);
    EXPECT_EQ(elastic_buf_free(member, m0), 0);
    if (m1 != nullptr) {
        EXPECT_EQ(elastic_buf_free(member, m1), 0);
    }
    fam.reset();
    EXPECT_EQ(node_stats(node).pinned_bytes, 0u);
}

// A pool with SOCKET_ID_ANY is kept on the node of the cpu that created it (no EAL here: the
// kernel's node of that cpu, from libnuma).
TEST(NumaBudgetNode, AnySocketPoolIsOnItsCreatorsNode)
{
    ASSERT_EQ(elastic_numa_topology_set(nullptr), 0);
    const int cpu = sched_getcpu();
    ASSERT_GE(cpu, 0);
    int expect = 0;
    if (numa_available() >= 0 && numa_node_of_cpu(cpu) >= 0)
        expect = numa_node_of_cpu(cpu);
    std::thread th([&] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
        const uint64_t before = node_stats(expect).pinned_bytes;
        elastic_pool_params p = family_template();
        const std::string name = unique_name("anysock");
        p.name = name.c_str();
        p.socket_id = SOCKET_ID_ANY;
        pool_ptr pool(elastic_pool_create(&p));
        ASSERT_NE(pool, nullptr);
        elastic_pool_stats ps;
        ASSERT_EQ(elastic_pool_stats_get(pool.get(), &ps), 0);
        EXPECT_EQ(ps.node, expect) << "cpu " << cpu;
        EXPECT_EQ(node_stats(expect).pinned_bytes - before, 64 * KiB);
        pool.reset();
        EXPECT_EQ(node_stats(expect).pinned_bytes, before);
    });
    th.join();
}

TEST_P(NumaCap, BaseBeyondTheCapFailsTheFamily)
{
    const std::vector<int> nodes = all_nodes();
    ASSERT_EQ(elastic_numa_node_cap_set(nodes.back(), 32 * KiB), 0);
    const elastic_pool_params t = family_template();
    EXPECT_EQ(elastic_numa_family_create("toobig", &t), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);
    for (int node : nodes) {
        const std::string name = "toobig@" + std::to_string(node);
        EXPECT_EQ(elastic_pool_lookup(name.c_str()), nullptr);
        EXPECT_EQ(node_stats(node).pinned_bytes, 0u);
    }
}

TEST_P(NumaCap, UnknownNode)
{
    EXPECT_EQ(elastic_numa_node_cap_set(77, 1), -ENOENT);
    elastic_numa_node_stats st;
    EXPECT_EQ(elastic_numa_node_stats_get(77, &st), -ENOENT);
}

INSTANTIATE_TEST_SUITE_P(Topologies, NumaCap,
    ::testing::Values("pack:2 numa:1 core:2 pu:1", "pack:4 numa:1 core:1 pu:1"),
    [](const ::testing::TestParamInfo<const char *> &i) {
        return std::string("synthetic") + std::to_string(i.index);
    });

} // namespace
