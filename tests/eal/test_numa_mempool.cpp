/* SPDX-License-Identifier: BSD-3-Clause */
// Mempool families and node budgets over the mempool face, with the EAL (a net_null vdev for the
// port lookup): on the machine's topology (the EAL's sockets) and on hwloc synthetic topologies
// of 2 and 4 nodes.
//
// This machine may have one NUMA node, and the EAL then has memory on socket 0 only. On a
// synthetic topology a node the EAL has no memory on gets a pool whose memory comes from
// SOCKET_ID_ANY (rte_mempool.socket_id -1) while its node budget is that node's (documented in
// elastic_numa.h). So placement is checked as: the pool is the family's pool of its node (name,
// lookups by node and cpu), its budget node (stats.node) is the node, its socket_id is the node
// when the EAL has memory there; and budgets as: a cap on a node refuses that node's mempool
// growth like the wall (-ENOBUFS, NODE_CAP in the stats) and no other node's.

#include "test_mempool_common.hpp"

#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <elastic_numa.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace elastic::test;

eal_env *the_env = nullptr;

struct mfamily_deleter {
    void operator()(elastic_numa_mempool_family *f) const noexcept
    {
        elastic_numa_mempool_family_free(f);
    }
};
using mfamily_ptr = std::unique_ptr<elastic_numa_mempool_family, mfamily_deleter>;

constexpr unsigned base_objs = 128;
constexpr unsigned chunk_objs = 128;
constexpr unsigned n_max = 512;

fake_clock clk; // every family's pools: trim releases a chunk once the clock moved past idle

mfamily_ptr make_family(const char *prefix)
{
    elastic_mempool_params p = manual_params(base_objs, chunk_objs, &clk);
    return mfamily_ptr(elastic_numa_mempool_family_create(prefix, n_max, 0, 0, 1024, &p));
}

std::vector<int> all_nodes()
{
    std::vector<int> v(static_cast<size_t>(std::max(elastic_numa_node_count(), 0)));
    elastic_numa_nodes(v.data(), unsigned(v.size()));
    return v;
}

std::vector<int> eal_sockets()
{
    std::vector<int> s;
    for (unsigned i = 0; i < rte_socket_count(); i++)
        s.push_back(rte_socket_id_by_idx(i));
    return s;
}

bool eal_has(int node)
{
    const std::vector<int> s = eal_sockets();
    return std::find(s.begin(), s.end(), node) != s.end();
}

elastic_numa_node_stats node_stats(int node)
{
    elastic_numa_node_stats st{};
    EXPECT_EQ(elastic_numa_node_stats_get(node, &st), 0) << "node " << node;
    return st;
}

void put_all(rte_mempool *mp, std::vector<void *> &objs)
{
    if (!objs.empty())
        rte_mempool_put_bulk(mp, objs.data(), unsigned(objs.size()));
    objs.clear();
}

// ---- the machine's topology: the EAL's ----

TEST(NumaMempoolEal, TopologyIsTheEals)
{
    ASSERT_EQ(elastic_numa_topology_set(nullptr), 0);
    EXPECT_EQ(all_nodes(), eal_sockets());
    unsigned lcore;
    RTE_LCORE_FOREACH(lcore) {
        const int s = int(rte_lcore_to_socket_id(lcore));
        EXPECT_TRUE(eal_has(s)) << "lcore " << lcore;
    }
}

TEST(NumaMempoolEal, OnePoolPerSocketNamedPrefixAtNode)
{
    ASSERT_EQ(elastic_numa_topology_set(nullptr), 0);
    mfamily_ptr fam = make_family("mfm");
    ASSERT_NE(fam, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(elastic_numa_mempool_family_lookup("mfm"), fam.get());
    for (int node : all_nodes()) {
        const std::string name = "mfm@" + std::to_string(node);
        rte_mempool *mp = elastic_numa_mempool(fam.get(), node);
        ASSERT_NE(mp, nullptr);
        EXPECT_EQ(rte_mempool_lookup(name.c_str()), mp);
        EXPECT_TRUE(elastic_mempool_is_elastic(mp));
        EXPECT_EQ(mp->socket_id, node);
        EXPECT_EQ(stats_of(mp).node, node);
        EXPECT_EQ(mp->size, n_max);
        EXPECT_EQ(mp->populated_size, base_objs);
    }
    EXPECT_EQ(elastic_numa_mempool_family_create("mfm", n_max, 0, 0, 1024, nullptr), nullptr);
    EXPECT_EQ(rte_errno, EEXIST);
    EXPECT_EQ(elastic_numa_mempool(fam.get(), 99), nullptr);
    EXPECT_EQ(rte_errno, ENOENT);
    fam.reset();
    EXPECT_EQ(rte_mempool_lookup("mfm@0"), nullptr);
    EXPECT_EQ(elastic_numa_mempool_family_lookup("mfm"), nullptr);
    EXPECT_EQ(rte_errno, ENOENT);
}

TEST(NumaMempoolEal, PoolForAPortIsOnThePortsNode)
{
    ASSERT_EQ(elastic_numa_topology_set(nullptr), 0);
    ASSERT_EQ(rte_eth_dev_count_avail(), 1u) << "net_null0 expected";
    uint16_t port = RTE_MAX_ETHPORTS;
    uint16_t id;
    RTE_ETH_FOREACH_DEV(id) {
        port = id;
    }
    mfamily_ptr fam = make_family("mfp");
    ASSERT_NE(fam, nullptr) << rte_strerror(rte_errno);
    const int s = rte_eth_dev_socket_id(port);
    rte_mempool *mp = elastic_numa_mempool_for_port(fam.get(), port);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(mp, elastic_numa_mempool(fam.get(), s >= 0 ? s : all_nodes()[0]));
    // The pool feeds the port: an mbuf from it is an mbuf.
    rte_mbuf *m = rte_pktmbuf_alloc(mp);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->pool, mp);
    rte_pktmbuf_free(m);
    EXPECT_EQ(elastic_numa_mempool_for_port(fam.get(), RTE_MAX_ETHPORTS - 1), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_mempool_for_port(nullptr, port), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
}

struct here_result {
    const elastic_numa_mempool_family *fam;
    rte_mempool *pool = nullptr;
    unsigned socket = 0;
};

int here_on_lcore(void *arg)
{
    auto *r = static_cast<here_result *>(arg);
    r->pool = elastic_numa_mempool_here(r->fam);
    r->socket = rte_socket_id();
    return 0;
}

TEST(NumaMempoolEal, PoolHereOnEveryLcoreIsItsSocketsPool)
{
    ASSERT_EQ(elastic_numa_topology_set(nullptr), 0);
    mfamily_ptr fam = make_family("mfh");
    ASSERT_NE(fam, nullptr) << rte_strerror(rte_errno);
    here_result main_r{fam.get()};
    here_on_lcore(&main_r);
    EXPECT_EQ(main_r.pool, elastic_numa_mempool(fam.get(), int(main_r.socket)));
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        here_result r{fam.get()};
        ASSERT_EQ(rte_eal_remote_launch(here_on_lcore, &r, lcore), 0);
        ASSERT_EQ(rte_eal_wait_lcore(lcore), 0);
        EXPECT_EQ(r.socket, rte_lcore_to_socket_id(lcore));
        EXPECT_EQ(r.pool, elastic_numa_mempool(fam.get(), int(r.socket))) << "lcore " << lcore;
    }
}

TEST(NumaMempoolEal, BadArguments)
{
    ASSERT_EQ(elastic_numa_topology_set(nullptr), 0);
    EXPECT_EQ(elastic_numa_mempool_family_create(nullptr, n_max, 0, 0, 1024, nullptr), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_mempool_family_create("", n_max, 0, 0, 1024, nullptr), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_mempool_family_create("a@b", n_max, 0, 0, 1024, nullptr), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    const std::string long_prefix(ELASTIC_NUMA_PREFIXSIZE + 1, 'p');
    EXPECT_EQ(elastic_numa_mempool_family_create(long_prefix.c_str(), n_max, 0, 0, 1024, nullptr),
              nullptr);
    EXPECT_EQ(rte_errno, ENAMETOOLONG);
    EXPECT_EQ(elastic_numa_mempool_family_create("zero", 0, 0, 0, 1024, nullptr), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_mempool_family_create("priv", n_max, 0, 3, 1024, nullptr), nullptr);
    EXPECT_EQ(rte_errno, EINVAL) << "priv_size not aligned";
    EXPECT_EQ(rte_mempool_lookup("priv@0"), nullptr) << "nothing left behind";
    EXPECT_EQ(elastic_numa_mempool_family_lookup(nullptr), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_mempool(nullptr, 0), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_mempool_here(nullptr), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_mempool_for_cpu(nullptr, 0), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    EXPECT_EQ(elastic_numa_mempool_for_pci(nullptr, "0000:00:00.0"), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    elastic_numa_mempool_family_free(nullptr);
}

// ---- synthetic topologies of 2 and 4 nodes ----

class NumaMempoolSynthetic : public ::testing::TestWithParam<const char *> {
protected:
    void SetUp() override { ASSERT_EQ(elastic_numa_topology_set(GetParam()), 0); }
    void TearDown() override
    {
        for (int node : all_nodes())
            elastic_numa_node_cap_set(node, 0);
        EXPECT_EQ(elastic_numa_topology_set(nullptr), 0);
    }
};

TEST_P(NumaMempoolSynthetic, FamiliesLandOnTheirNodes)
{
    const std::vector<int> nodes = all_nodes();
    ASSERT_GE(nodes.size(), 2u);
    std::vector<uint64_t> pinned_before;
    for (int node : nodes)
        pinned_before.push_back(node_stats(node).pinned_bytes);
    mfamily_ptr fam = make_family("mfs");
    ASSERT_NE(fam, nullptr) << rte_strerror(rte_errno);
    for (size_t i = 0; i < nodes.size(); i++) {
        const int node = nodes[i];
        rte_mempool *mp = elastic_numa_mempool(fam.get(), node);
        ASSERT_NE(mp, nullptr) << "node " << node;
        EXPECT_STREQ(mp->name, ("mfs@" + std::to_string(node)).c_str());
        EXPECT_EQ(mp->socket_id, eal_has(node) ? node : SOCKET_ID_ANY) << "node " << node;
        const elastic_pool_stats st = stats_of(mp);
        EXPECT_EQ(st.node, node) << "budget node of mfs@" << node;
        // Its base chunk is on its node's budget, and listed under the node.
        const elastic_numa_node_stats ns = node_stats(node);
        EXPECT_EQ(ns.pinned_bytes - pinned_before[i], st.pinned_bytes) << "node " << node;
        EXPECT_GE(ns.nb_mempools, 1u) << "node " << node;
        unsigned cpus[8];
        const int nc = elastic_numa_node_cpus(node, cpus, 8);
        ASSERT_GT(nc, 0);
        for (int c = 0; c < std::min(nc, 8); c++)
            EXPECT_EQ(elastic_numa_mempool_for_cpu(fam.get(), cpus[c]), mp) << "cpu " << cpus[c];
    }
    fam.reset();
    for (size_t i = 0; i < nodes.size(); i++)
        EXPECT_EQ(node_stats(nodes[i]).pinned_bytes, pinned_before[i]) << "node " << nodes[i];
}

// A cap on one node refuses the growth of that node's mempool like the wall, and of no other.
TEST_P(NumaMempoolSynthetic, NodeCapRefusesGrowthLikeTheWall)
{
    const std::vector<int> nodes = all_nodes();
    ASSERT_GE(nodes.size(), 2u);
    mfamily_ptr fam = make_family("mfc");
    ASSERT_NE(fam, nullptr) << rte_strerror(rte_errno);
    for (int capped : {nodes[0], nodes.back()}) {
        SCOPED_TRACE("capped node " + std::to_string(capped));
        // The cap is what the node holds now: the base chunks fit, nothing more.
        const elastic_numa_node_stats before = node_stats(capped);
        ASSERT_EQ(elastic_numa_node_cap_set(capped, before.pinned_bytes), 0);
        rte_mempool *mp = elastic_numa_mempool(fam.get(), capped);
        std::vector<void *> objs(base_objs);
        ASSERT_EQ(rte_mempool_get_bulk(mp, objs.data(), base_objs), 0) << "the base serves";
        void *more = nullptr;
        const int refused = rte_mempool_get(mp, &more);
        EXPECT_EQ(refused, -ENOBUFS) << "a growth beyond the cap";
        if (refused == 0) // keep the books straight for what follows
            objs.push_back(more);
        elastic_pool_stats st = stats_of(mp);
        EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_NODE_CAP));
        EXPECT_EQ(st.nb_cap_hits, 1u);
        EXPECT_EQ(st.nb_wall_hits, 0u);
        EXPECT_EQ(st.nb_chunks, 1u);
        const elastic_numa_node_stats after = node_stats(capped);
        EXPECT_EQ(after.cap_refusals - before.cap_refusals, 1u);
        EXPECT_EQ(after.pinned_bytes, before.pinned_bytes);

        // Every other node's pool grows.
        for (int other : nodes) {
            if (other == capped)
                continue;
            rte_mempool *o = elastic_numa_mempool(fam.get(), other);
            std::vector<void *> got(base_objs + 1);
            EXPECT_EQ(rte_mempool_get_bulk(o, got.data(), unsigned(got.size())), 0)
                << "node " << other;
            EXPECT_EQ(stats_of(o).nb_chunks, 2u) << "node " << other;
            rte_mempool_put_bulk(o, got.data(), unsigned(got.size()));
            clk.advance_ms(10'000);
            EXPECT_EQ(elastic_mempool_trim(o), 1) << "node " << other;
        }

        // Lift the cap: the same get grows the pool.
        ASSERT_EQ(elastic_numa_node_cap_set(capped, 0), 0);
        ASSERT_EQ(rte_mempool_get(mp, &more), 0);
        EXPECT_EQ(stats_of(mp).nb_chunks, 2u);
        objs.push_back(more);
        put_all(mp, objs);
        clk.advance_ms(10'000);
        EXPECT_EQ(elastic_mempool_trim(mp), 1);
        EXPECT_EQ(node_stats(capped).pinned_bytes, before.pinned_bytes);
    }
}

// The base chunk is admitted by the cap too: a family whose base would cross a node's cap is
// refused with ENOBUFS and leaves nothing behind.
TEST_P(NumaMempoolSynthetic, BaseBeyondTheCapFailsTheFamily)
{
    const std::vector<int> nodes = all_nodes();
    const int capped = nodes.back();
    const uint64_t pinned = node_stats(capped).pinned_bytes;
    ASSERT_EQ(elastic_numa_node_cap_set(capped, pinned + 4096), 0);
    EXPECT_EQ(make_family("mfb"), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);
    for (int node : nodes)
        EXPECT_EQ(rte_mempool_lookup(("mfb@" + std::to_string(node)).c_str()), nullptr);
    EXPECT_EQ(node_stats(capped).pinned_bytes, pinned);
}

INSTANTIATE_TEST_SUITE_P(Topologies, NumaMempoolSynthetic,
    ::testing::Values("pack:2 numa:1 core:2 pu:1", "pack:4 numa:1 core:1 pu:1"),
    [](const ::testing::TestParamInfo<const char *> &i) {
        return std::string("synthetic") + std::to_string(i.index);
    });

// ---- budgets shared with a secondary process ----

elastic_pool_params pool_64k(const char *name, int node)
{
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = name;
    p.socket_id = node;
    p.base_size = 64 * 1024;
    p.wall_size = 64 * 1024;
    p.flags = ELASTIC_POOL_F_MANUAL_TICK | ELASTIC_POOL_F_PROVIDER_MEMZONE;
    return p;
}

// The secondary: same binary. It sees the primary's cap and pinned bytes on the node, and its
// own pools are admitted against them: one base of 64 KiB fits, a second does not. Exit status =
// failures (bits).
int secondary_main(const char *prefix)
{
    const std::string pfx = std::string("--file-prefix=") + prefix;
    const char *argv[] = {"secondary", "--no-pci", "--proc-type=secondary", pfx.c_str(),
                          "-l", "0", "--log-level=lib.eal:error"};
    if (rte_eal_init(static_cast<int>(RTE_DIM(argv)), const_cast<char **>(argv)) < 0)
        return 64;
    const int node = std::atoi(std::getenv("ELASTIC_NUMA_NODE"));
    const uint64_t cap = std::strtoull(std::getenv("ELASTIC_NUMA_CAP"), nullptr, 10);
    int fails = 0;
    elastic_numa_node_stats st{};
    if (elastic_numa_node_stats_get(node, &st) != 0 || st.cap_bytes != cap ||
        st.pinned_bytes + 64 * 1024 != cap)
        fails |= 1;
    const elastic_pool_params p1 = pool_64k("nsec-1", node);
    elastic_pool *one = elastic_pool_create(&p1);
    if (one == nullptr)
        fails |= 2;
    const elastic_pool_params p2 = pool_64k("nsec-2", node);
    elastic_pool *two = elastic_pool_create(&p2);
    if (two != nullptr || rte_errno != ENOBUFS)
        fails |= 4;
    elastic_pool_free(two);
    elastic_pool_free(one);
    rte_eal_cleanup();
    // _exit: the secondary's vdev bus attach leaks 137 bytes inside DPDK 22.11 (librte_bus_vdev),
    // which LeakSanitizer would report at exit in the ASan build; nothing of ours is left.
    std::fflush(nullptr);
    _exit(fails);
}

TEST(NumaMempoolEal, BudgetsAreSharedWithASecondaryProcess)
{
    if (no_huge())
        GTEST_SKIP() << "secondary processes need shared hugepage files (not with --no-huge)";
    ASSERT_EQ(elastic_numa_topology_set(nullptr), 0);
    mfamily_ptr fam = make_family("mfx"); // something of both faces pinned on the node
    ASSERT_NE(fam, nullptr) << rte_strerror(rte_errno);
    const int node = all_nodes()[0];
    const elastic_numa_node_stats before = node_stats(node);
    const uint64_t cap = before.pinned_bytes + 64 * 1024;
    ASSERT_EQ(elastic_numa_node_cap_set(node, cap), 0);
    std::fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        setenv("ELASTIC_NUMA_SECONDARY", the_env->prefix().c_str(), 1);
        setenv("ELASTIC_NUMA_NODE", std::to_string(node).c_str(), 1);
        setenv("ELASTIC_NUMA_CAP", std::to_string(cap).c_str(), 1);
        execl("/proc/self/exe", "test_numa_mempool", nullptr);
        _exit(65);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: figures not seen, 2: first base refused, "
                                         "4: second base admitted";
    const elastic_numa_node_stats after = node_stats(node);
    EXPECT_EQ(after.cap_refusals - before.cap_refusals, 1u) << "the secondary's refusal";
    EXPECT_EQ(after.pinned_bytes, before.pinned_bytes) << "the secondary gave its base back";
    // What the secondary gave back the primary may take.
    const elastic_pool_params p = pool_64k("nprim", node);
    elastic_pool *mine = elastic_pool_create(&p);
    EXPECT_NE(mine, nullptr) << rte_strerror(rte_errno);
    elastic_pool_free(mine);
    EXPECT_EQ(elastic_numa_node_cap_set(node, 0), 0);
}

} // namespace

int main(int argc, char **argv)
{
    if (const char *prefix = std::getenv("ELASTIC_NUMA_SECONDARY"))
        return secondary_main(prefix);
    ::testing::InitGoogleTest(&argc, argv);
    the_env = new eal_env("numa_mempool", {"--vdev=net_null0"});
    ::testing::AddGlobalTestEnvironment(the_env);
    return elastic::test::exit_status(RUN_ALL_TESTS());
}
