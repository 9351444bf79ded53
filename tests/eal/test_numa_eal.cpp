/* SPDX-License-Identifier: BSD-3-Clause */
// The per-NUMA manager with the EAL up: the pool for an ethdev port (a net_null vdev, no real
// device) and for the calling lcore, memzone-backed family pools on the machine's nodes.

#include "eal_env.hpp"

#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <elastic_numa.h>
#include <elasticpool.h>

namespace {

struct family_deleter {
    void operator()(elastic_numa_family *f) const noexcept { elastic_numa_family_free(f); }
};
using family_ptr = std::unique_ptr<elastic_numa_family, family_deleter>;

family_ptr make_family(const char *prefix)
{
    elastic_pool_params t;
    elastic_pool_params_init(&t);
    t.base_size = 64 * 1024;
    t.chunk_size = 64 * 1024;
    t.wall_size = 256 * 1024;
    t.flags = ELASTIC_POOL_F_MANUAL_TICK; // memzone provider: the EAL is up
    return family_ptr(elastic_numa_family_create(prefix, &t));
}

TEST(NumaEal, PoolForAPortIsOnThePortsNode)
{
    ASSERT_EQ(rte_eth_dev_count_avail(), 1u) << "net_null0 expected";
    uint16_t port = RTE_MAX_ETHPORTS;
    uint16_t id;
    RTE_ETH_FOREACH_DEV(id) {
        port = id;
    }
    ASSERT_LT(port, RTE_MAX_ETHPORTS);
    family_ptr fam = make_family("port");
    ASSERT_NE(fam, nullptr) << rte_strerror(rte_errno);
    const int s = rte_eth_dev_socket_id(port);
    elastic_pool *p = elastic_numa_pool_for_port(fam.get(), port);
    ASSERT_NE(p, nullptr) << rte_strerror(rte_errno);
    if (s >= 0) {
        EXPECT_EQ(p, elastic_numa_pool(fam.get(), s));
    }
    void *b = elastic_buf_alloc(p, 4096);
    ASSERT_NE(b, nullptr);
    EXPECT_NE(elastic_buf_iova(p, b), RTE_BAD_IOVA); // memzone chunks: DMA-able
    EXPECT_EQ(elastic_buf_free(p, b), 0);
    EXPECT_EQ(elastic_numa_pool_for_port(fam.get(), RTE_MAX_ETHPORTS - 1), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
}

struct here_result {
    const elastic_numa_family *fam;
    elastic_pool *pool = nullptr;
    unsigned socket = 0;
};

int here_on_lcore(void *arg)
{
    auto *r = static_cast<here_result *>(arg);
    r->pool = elastic_numa_pool_here(r->fam);
    r->socket = rte_socket_id();
    return 0;
}

TEST(NumaEal, PoolHereOnEveryLcoreIsItsSocketsPool)
{
    family_ptr fam = make_family("lcore");
    ASSERT_NE(fam, nullptr);
    here_result main_r{fam.get()};
    here_on_lcore(&main_r);
    EXPECT_EQ(main_r.pool, elastic_numa_pool(fam.get(), int(main_r.socket)));
    unsigned workers = 0;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        here_result r{fam.get()};
        ASSERT_EQ(rte_eal_remote_launch(here_on_lcore, &r, lcore), 0);
        ASSERT_EQ(rte_eal_wait_lcore(lcore), 0);
        EXPECT_EQ(r.socket, rte_lcore_to_socket_id(lcore));
        EXPECT_EQ(r.pool, elastic_numa_pool(fam.get(), int(r.socket))) << "lcore " << lcore;
        workers++;
    }
    std::printf("[ info ] %u worker lcores checked\n", workers);
}

} // namespace

int main(int argc, char **argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(
        new elastic::test::eal_env("numa_eal", {"--vdev=net_null0"}));
    return elastic::test::exit_status(RUN_ALL_TESTS());
}
