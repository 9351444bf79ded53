/* SPDX-License-Identifier: BSD-3-Clause */
// Maintenance without a service lcore: the passes run from an EAL alarm (the EAL's interrupt
// thread), pools with millisecond periods still shrink by themselves, and a service lcore added
// at run time takes the maintenance over.

#include "eal_env.hpp"
#include "test_service_common.hpp"

#include <fstream>

#include <rte_lcore.h>
#include <rte_service.h>
#include <rte_service_component.h>

namespace {

using elastic::detail::maint_driver;
using elastic::detail::maintenance_info;
using namespace elastic::test;

std::string thread_name(int tid)
{
    std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/comm");
    std::string s;
    std::getline(f, s);
    return s;
}

TEST(AlarmMaintenance, NoServiceLcore)
{
    EXPECT_EQ(rte_service_lcore_count(), 0);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
}

TEST(AlarmMaintenance, PassesRunFromTheAlarmAndReleaseChunks)
{
    const std::string name = svc_name("alarm");
    elastic_pool_params p = svc_params(name);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    auto info = maintenance_info();
    EXPECT_EQ(info.driver, maint_driver::alarm);
    EXPECT_EQ(info.service_id, -1);
    EXPECT_EQ(info.period_ns, 2'000'000u); // the pool's tick

    const uint64_t passes0 = info.passes;
    const elastic_pool_stats st = grow_and_wait_for_release(pool);
    EXPECT_EQ(st.nb_grows, 3u);
    EXPECT_EQ(st.nb_shrinks, 3u);
    EXPECT_EQ(st.pinned_bytes, 64 * svc_kib);

    info = maintenance_info();
    EXPECT_GT(info.passes, passes0);
    EXPECT_EQ(info.last_lcore, unsigned(LCORE_ID_ANY)); // not an lcore: the interrupt thread
    EXPECT_NE(info.last_tid, int(gettid()));
    EXPECT_EQ(thread_name(info.last_tid), "eal-intr-thread");

    elastic_pool_free(pool);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
    // Stopped: no pass runs any more (a stale alarm may still fire once and return).
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uint64_t passes1 = maintenance_info().passes;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(maintenance_info().passes, passes1);
}

TEST(AlarmMaintenance, ShorterTickOfALaterPoolTakesEffect)
{
    const std::string slow_name = svc_name("alarm-slow");
    elastic_pool_params slow = svc_params(slow_name);
    slow.tick_ms = 400;
    elastic_pool *a = elastic_pool_create(&slow);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(maintenance_info().period_ns, 400'000'000u);
    const std::string fast_name = svc_name("alarm-fast");
    elastic_pool_params fast = svc_params(fast_name);
    elastic_pool *b = elastic_pool_create(&fast);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(maintenance_info().period_ns, 2'000'000u);
    const uint64_t passes0 = maintenance_info().passes;
    // Within 100 ms a 400 ms alarm gives at most one pass; the re-armed 2 ms one gives many.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_GE(maintenance_info().passes - passes0, 5u);
    elastic_pool_free(b);
    elastic_pool_free(a);
}

TEST(AlarmMaintenance, PoolsCreatedAndFreedWhileTheAlarmRuns)
{
    churn_pools(ELASTIC_POOL_F_PROVIDER_HEAP, 150);
}

// Without a service lcore the elastic mempools are ticked by the same alarm as the pools (as in
// an unmodified testpmd with --mbuf-pool-ops-name=elastic).
TEST(AlarmMaintenance, MempoolIsTickedByTheSameAlarm)
{
    const std::string pname = svc_name("alarm-with-mp");
    elastic_pool_params pp = svc_params(pname);
    pp.tick_ms = 100;
    elastic_pool *pool = elastic_pool_create(&pp);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(maintenance_info().period_ns, 100'000'000u);

    rte_mempool *mp = make_mempool(mp_name("alarm"), 512, mp_params(128));
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    auto info = maintenance_info();
    EXPECT_EQ(info.members, 2u);
    EXPECT_EQ(info.driver, maint_driver::alarm);
    EXPECT_EQ(info.period_ns, 2'000'000u); // the mempool's shorter tick drives the passes

    const uint64_t passes0 = info.passes;
    const elastic_pool_stats st = mp_grow_and_wait_for_release(mp);
    EXPECT_EQ(st.nb_shrinks, 3u);
    EXPECT_EQ(st.pinned_bytes, st.base_size);
    info = maintenance_info();
    EXPECT_GT(info.passes, passes0);
    EXPECT_EQ(info.last_lcore, unsigned(LCORE_ID_ANY));
    EXPECT_EQ(thread_name(info.last_tid), "eal-intr-thread");

    rte_mempool_free(mp);
    info = maintenance_info();
    EXPECT_EQ(info.members, 1u);
    // back to the pool's tick (computed again by the next pass)
    EXPECT_TRUE(wait_until([] { return maintenance_info().period_ns == 100'000'000u; }));
    elastic_pool_free(pool);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
}

TEST(AlarmMaintenance, MempoolsCreatedAndFreedWhileTheAlarmRuns)
{
    churn_mempools(100);
}

TEST(AlarmMaintenance, ServiceLcoreAddedAtRunTimeTakesOver)
{
    if (eal_cpus().size() < 2)
        GTEST_SKIP() << "needs a second lcore";
    const unsigned lcore = eal_cpus()[1];
    const std::string name = svc_name("alarm-then-svc");
    elastic_pool_params p = svc_params(name);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(maintenance_info().driver, maint_driver::alarm);

    ASSERT_EQ(rte_service_lcore_add(lcore), 0);
    // Not started by us: the maintenance starts a stopped service lcore it maps itself to.
    EXPECT_TRUE(wait_until([] { return maintenance_info().driver == maint_driver::service; }));
    EXPECT_EQ(maintenance_info().service_lcore, int(lcore));
    EXPECT_TRUE(wait_until([&] { return maintenance_info().last_lcore == lcore; }));
    const elastic_pool_stats st = grow_and_wait_for_release(pool);
    EXPECT_EQ(st.nb_shrinks, 3u);
    EXPECT_EQ(maintenance_info().last_lcore, lcore);

    elastic_pool_free(pool);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
    EXPECT_EQ(rte_service_lcore_count_services(lcore), 0);
    EXPECT_EQ(rte_service_lcore_stop(lcore), 0);
    EXPECT_TRUE(wait_until([&] { return rte_service_lcore_may_be_active(lcore) == 0; }));
    EXPECT_EQ(rte_service_lcore_del(lcore), 0);
}

std::atomic<bool> hog_stop{false};
std::atomic<bool> hog_running{false};

// A service that never returns until told: it holds its service lcore.
int32_t hog(void *)
{
    hog_running = true;
    while (!hog_stop.load())
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    return 0;
}

// A service lcore held by a service that does not return: the maintenance service mapped there
// never runs, the alarm watchdog notices that no pass happens and runs them itself.
TEST(AlarmMaintenance, WatchdogStandsInWhenTheServiceLcoreIsHeld)
{
    if (eal_cpus().size() < 2)
        GTEST_SKIP() << "needs a second lcore";
    const unsigned lcore = eal_cpus()[1];
    rte_service_spec spec{};
    snprintf(spec.name, sizeof(spec.name), "test_hog");
    spec.callback = hog;
    spec.socket_id = SOCKET_ID_ANY;
    uint32_t hog_id = 0;
    ASSERT_EQ(rte_service_component_register(&spec, &hog_id), 0);
    ASSERT_EQ(rte_service_component_runstate_set(hog_id, 1), 0);
    ASSERT_EQ(rte_service_runstate_set(hog_id, 1), 0);
    ASSERT_EQ(rte_service_lcore_add(lcore), 0);
    ASSERT_EQ(rte_service_map_lcore_set(hog_id, lcore, 1), 0);
    ASSERT_EQ(rte_service_lcore_start(lcore), 0);
    ASSERT_TRUE(wait_until([] { return hog_running.load(); }));

    const std::string name = svc_name("watchdog");
    elastic_pool_params p = svc_params(name);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(maintenance_info().driver, maint_driver::service);
    EXPECT_EQ(maintenance_info().service_lcore, int(lcore));
    const elastic_pool_stats st = grow_and_wait_for_release(pool);
    EXPECT_EQ(st.nb_shrinks, 3u);
    const auto info = maintenance_info();
    EXPECT_EQ(info.driver, maint_driver::service);
    EXPECT_EQ(info.last_lcore, unsigned(LCORE_ID_ANY)); // not the held service lcore
    EXPECT_EQ(thread_name(info.last_tid), "eal-intr-thread");
    elastic_pool_free(pool);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);

    hog_stop = true;
    EXPECT_EQ(rte_service_runstate_set(hog_id, 0), 0);
    EXPECT_EQ(rte_service_map_lcore_set(hog_id, lcore, 0), 0);
    EXPECT_EQ(rte_service_lcore_stop(lcore), 0);
    EXPECT_EQ(rte_eal_wait_lcore(lcore), 0);
    EXPECT_EQ(rte_service_lcore_del(lcore), 0);
    EXPECT_EQ(rte_service_component_runstate_set(hog_id, 0), 0);
    EXPECT_EQ(rte_service_component_unregister(hog_id), 0);
}

} // namespace

ELASTIC_EAL_TEST_MAIN("service_alarm")
