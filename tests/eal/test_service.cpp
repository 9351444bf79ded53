/* SPDX-License-Identifier: BSD-3-Clause */
// Maintenance on a service lcore: the EAL runs with -S <second cpu>, so the maintenance service
// "elastic_maintenance" must be registered, mapped to that lcore, run its passes there, and
// release idle chunks of pools with millisecond periods. It stops with the last pool.

#include "eal_env.hpp"
#include "test_service_common.hpp"

#include <rte_lcore.h>
#include <rte_service.h>

namespace {

using elastic::detail::maint_driver;
using elastic::detail::maintenance_info;
using namespace elastic::test;

unsigned service_lcore() { return eal_cpus().at(1); }

TEST(ServiceMaintenance, EalHasOneServiceLcore)
{
    ASSERT_EQ(rte_service_lcore_count(), 1);
    uint32_t ids[RTE_MAX_LCORE];
    ASSERT_EQ(rte_service_lcore_list(ids, RTE_MAX_LCORE), 1);
    EXPECT_EQ(ids[0], service_lcore());
    EXPECT_EQ(maintenance_info().driver, maint_driver::none); // no pool yet
}

TEST(ServiceMaintenance, PassesRunOnTheServiceLcoreAndReleaseChunks)
{
    const std::string name = svc_name("svc");
    elastic_pool_params p = svc_params(name);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);

    auto info = maintenance_info();
    EXPECT_EQ(info.driver, maint_driver::service);
    EXPECT_EQ(info.members, 1u);
    ASSERT_GE(info.service_id, 0);
    EXPECT_EQ(info.service_lcore, int(service_lcore()));
    uint32_t id = UINT32_MAX;
    ASSERT_EQ(rte_service_get_by_name("elastic_maintenance", &id), 0);
    EXPECT_EQ(id, uint32_t(info.service_id));
    EXPECT_EQ(rte_service_runstate_get(id), 1);
    EXPECT_EQ(rte_service_map_lcore_get(id, service_lcore()), 1);
    EXPECT_EQ(rte_service_lcore_count_services(service_lcore()), 1);

    const uint64_t passes0 = info.passes;
    const elastic_pool_stats st = grow_and_wait_for_release(pool);
    EXPECT_EQ(st.nb_grows, 3u);
    EXPECT_EQ(st.nb_shrinks, 3u);
    EXPECT_EQ(st.pinned_bytes, 64 * svc_kib);
    EXPECT_GT(st.nb_samples, 0u);

    info = maintenance_info();
    EXPECT_GT(info.passes, passes0);
    EXPECT_EQ(info.last_lcore, service_lcore()); // the pass ran on the service lcore
    EXPECT_NE(info.last_tid, int(gettid()));
    uint64_t calls = 0;
    EXPECT_EQ(rte_service_attr_get(id, RTE_SERVICE_ATTR_CALL_COUNT, &calls), 0);
    EXPECT_GT(calls, 0u);

    elastic_pool_free(pool);
    info = maintenance_info();
    EXPECT_EQ(info.driver, maint_driver::none);
    EXPECT_EQ(info.members, 0u);
    EXPECT_EQ(rte_service_runstate_get(id), 0);
    EXPECT_EQ(rte_service_lcore_count_services(service_lcore()), 0);
}

TEST(ServiceMaintenance, RestartsWithTheNextPool)
{
    const std::string name = svc_name("svc-again");
    elastic_pool_params p = svc_params(name);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(maintenance_info().driver, maint_driver::service);
    const elastic_pool_stats st = grow_and_wait_for_release(pool);
    EXPECT_EQ(st.nb_shrinks, 3u);
    EXPECT_EQ(maintenance_info().last_lcore, service_lcore());
    elastic_pool_free(pool);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
}

TEST(ServiceMaintenance, ManualTickPoolsAreNotMembers)
{
    const std::string name = svc_name("svc-manual");
    elastic_pool_params p = svc_params(name, ELASTIC_POOL_F_MANUAL_TICK);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(maintenance_info().members, 0u);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
    elastic_pool_free(pool);
}

TEST(ServiceMaintenance, PoolsCreatedAndFreedWhileTheServiceRuns)
{
    churn_pools(ELASTIC_POOL_F_PROVIDER_HEAP, 150);
    EXPECT_EQ(rte_service_lcore_count_services(service_lcore()), 0);
}

// An elastic mempool is a member of the same service as the variable-size pools: one component,
// mapped once, its passes release the mempool's idle chunks on the service lcore.
TEST(ServiceMaintenance, MempoolIsTickedByTheSameService)
{
    const std::string pname = svc_name("svc-with-mp");
    elastic_pool_params pp = svc_params(pname);
    elastic_pool *pool = elastic_pool_create(&pp);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    const int service_id = maintenance_info().service_id;

    rte_mempool *mp = make_mempool(mp_name("svc"), 512, mp_params(128));
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    auto info = maintenance_info();
    EXPECT_EQ(info.members, 2u);
    EXPECT_EQ(info.driver, maint_driver::service);
    EXPECT_EQ(info.service_id, service_id); // the same component
    EXPECT_EQ(info.period_ns, 2'000'000u);
    EXPECT_EQ(rte_service_lcore_count_services(service_lcore()), 1);
    uint32_t id = UINT32_MAX;
    ASSERT_EQ(rte_service_get_by_name("elastic_maintenance", &id), 0);
    EXPECT_EQ(id, uint32_t(service_id));

    const uint64_t passes0 = info.passes;
    const elastic_pool_stats st = mp_grow_and_wait_for_release(mp);
    EXPECT_EQ(st.nb_grows, 3u);
    EXPECT_EQ(st.nb_shrinks, 3u);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.pinned_bytes, st.base_size);
    EXPECT_GT(st.nb_samples, 0u);
    info = maintenance_info();
    EXPECT_GT(info.passes, passes0);
    EXPECT_EQ(info.last_lcore, service_lcore()); // released from a pass on the service lcore
    EXPECT_NE(info.last_tid, int(gettid()));

    // Freeing the mempool leaves the pool's membership; the pool's leaves none.
    rte_mempool_free(mp);
    EXPECT_EQ(maintenance_info().members, 1u);
    EXPECT_EQ(maintenance_info().driver, maint_driver::service);
    elastic_pool_free(pool);
    EXPECT_EQ(maintenance_info().members, 0u);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
    EXPECT_EQ(rte_service_lcore_count_services(service_lcore()), 0);
}

TEST(ServiceMaintenance, ManualTickMempoolIsNotAMember)
{
    rte_mempool *mp = make_mempool(mp_name("svcm"), 512,
                                   mp_params(128, ELASTIC_MEMPOOL_F_MANUAL_TICK));
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(maintenance_info().members, 0u);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
    std::vector<void *> objs(mp->size);
    ASSERT_EQ(rte_mempool_get_bulk(mp, objs.data(), mp->size), 0);
    rte_mempool_put_bulk(mp, objs.data(), mp->size);
    std::this_thread::sleep_for(std::chrono::milliseconds(60)); // 3 idle periods
    EXPECT_EQ(mp_stats(mp).nb_chunks, 4u); // nobody ticked it
    // The explicit API still works.
    int released = 0;
    EXPECT_TRUE(wait_until([&] {
        released += elastic_mempool_maintain(mp);
        return released == 3;
    }));
    EXPECT_EQ(mp_stats(mp).nb_chunks, 1u);
    rte_mempool_free(mp);
}

TEST(ServiceMaintenance, MempoolsCreatedAndFreedWhileTheServiceRuns)
{
    churn_mempools(100);
    EXPECT_EQ(rte_service_lcore_count_services(service_lcore()), 0);
}

} // namespace

int main(int argc, char **argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    if (elastic::test::eal_cpus().size() < 2) {
        std::printf("SKIP: test_service needs two cpus (one main lcore, one service lcore)\n");
        return 77; // meson: skipped
    }
    const std::string svc = std::to_string(elastic::test::eal_cpus()[1]);
    ::testing::AddGlobalTestEnvironment(
        new elastic::test::eal_env("service", {"-S", svc}));
    return elastic::test::exit_status(RUN_ALL_TESTS());
}
