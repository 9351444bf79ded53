/* SPDX-License-Identifier: BSD-3-Clause */
// Fault injection with a real EAL (issue 13):
//   - the provider refuses reservations (tests/fault_injector.hpp: the core's reserve_fault_set
//     hook) or is slow, for an elastic mempool and for a variable-size pool on memzones: each
//     refusal leaves the pool consistent (stats, chunk count, objects, waiters) and it grows
//     again once the provider gives;
//   - the maintenance service is stopped by the application (its runstate off, its service
//     lcore stopped): the alarm watchdog runs the passes, pools still shrink by themselves; when
//     the service runs again it takes the passes back.
// The EAL runs with -S <second cpu> when there is one (the service case skips without it).
// Linked with the core statically (the fault hook is internal) and the driver's ops table.

#include "eal_env.hpp"
#include "fault_injector.hpp"
#include "test_mempool_common.hpp"
#include "test_service_common.hpp"

#include <rte_lcore.h>
#include <rte_service.h>

#include <vector>

namespace {

using elastic::detail::maint_driver;
using elastic::detail::maintenance_info;
using namespace elastic::test;

constexpr unsigned elt_size = 2048;
constexpr unsigned base_objs = 256, chunk_objs = 256, n_max = base_objs + 4 * chunk_objs;

std::vector<void *> get_n(rte_mempool *mp, unsigned n)
{
    std::vector<void *> v;
    for (unsigned i = 0; i < n; i++) {
        void *o = nullptr;
        if (rte_mempool_get(mp, &o) != 0)
            break;
        v.push_back(o);
    }
    return v;
}

void put_all(rte_mempool *mp, std::vector<void *> &v)
{
    for (void *o : v)
        rte_mempool_put(mp, o);
    v.clear();
}

TEST(FaultsEal, MempoolGrowthRefusedByTheProviderLeavesItConsistentAndItGrowsAgain)
{
    fake_clock clk;
    elastic_mempool_params p = manual_params(base_objs, chunk_objs, &clk);
    p.headroom_chunks = 0;
    rte_mempool *mp = elastic_mempool_create("flt_mp", n_max, elt_size, 0, 0, nullptr, nullptr,
                                             nullptr, nullptr, SOCKET_ID_ANY, 0, &p);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    std::vector<void *> held = get_n(mp, base_objs);
    ASSERT_EQ(held.size(), base_objs);
    const elastic_pool_stats before = stats_of(mp);
    EXPECT_EQ(before.nb_chunks, 1u);

    {
        fault_injector fi;
        fi.fail_all = true;
        void *o = nullptr;
        EXPECT_NE(rte_mempool_get(mp, &o), 0); // the growth it needed was refused
        EXPECT_GE(fi.refused.load(), 1u);
        const elastic_pool_stats st = stats_of(mp);
        const elastic_mempool_xstats xs = xstats_of(mp);
        EXPECT_EQ(st.nb_chunks, 1u);
        EXPECT_EQ(st.pinned_bytes, before.pinned_bytes);
        EXPECT_EQ(st.nb_grow_fail, fi.refused.load());
        EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_PROVIDER));
        EXPECT_EQ(st.in_use_bytes, before.in_use_bytes);
        EXPECT_EQ(xs.populated, base_objs);
        EXPECT_EQ(xs.free_objs, 0u);
        // DPDK's counts see the pool at n_max (what is not populated counts as available).
        EXPECT_EQ(rte_mempool_in_use_count(mp), base_objs);
        // Ticks do not make it worse either.
        clk.advance_ms(2000);
        EXPECT_GE(elastic_mempool_maintain(mp), 0);
        EXPECT_EQ(stats_of(mp).nb_chunks, 1u);

        // The provider gives again, slowly: the next get grows by one chunk.
        fi.fail_all = false;
        fi.delay_us = 20000;
        ASSERT_EQ(rte_mempool_get(mp, &o), 0);
        held.push_back(o);
        EXPECT_GE(fi.last_size.load(), uint64_t(chunk_objs) * elt_size);
    }
    elastic_pool_stats st = stats_of(mp);
    EXPECT_EQ(st.nb_chunks, 2u);
    EXPECT_EQ(xstats_of(mp).populated, base_objs + chunk_objs);
    std::vector<void *> more = get_n(mp, chunk_objs - 1); // the rest of the new chunk
    EXPECT_EQ(more.size(), chunk_objs - 1);
    EXPECT_EQ(stats_of(mp).nb_chunks, 2u);

    // The Nth reservation: the next growth is refused, the one after it goes through.
    {
        fault_injector fi;
        fi.fail_at = 1;
        void *o = nullptr;
        EXPECT_NE(rte_mempool_get(mp, &o), 0);
        EXPECT_EQ(stats_of(mp).nb_chunks, 2u);
        ASSERT_EQ(rte_mempool_get(mp, &o), 0);
        held.push_back(o);
        EXPECT_EQ(fi.calls.load(), 2u);
    }
    EXPECT_EQ(stats_of(mp).nb_chunks, 3u);
    put_all(mp, more);
    put_all(mp, held);
    EXPECT_EQ(xstats_of(mp).free_objs, base_objs + 2 * chunk_objs);
    EXPECT_EQ(rte_mempool_in_use_count(mp), 0u);
    clk.advance_ms(10000);
    EXPECT_EQ(elastic_mempool_trim(mp), 2);
    st = stats_of(mp);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.in_use_bytes, 0u);
    EXPECT_EQ(xstats_of(mp).free_objs, base_objs);
    EXPECT_EQ(xstats_of(mp).populated, base_objs);
    rte_mempool_free(mp);
}

void on_buf(elastic_pool *, void *buf, void *arg)
{
    static_cast<std::vector<void *> *>(arg)->push_back(buf);
}

TEST(FaultsEal, MemzonePoolWaiterSurvivesRefusalsAndIsServedWhenMemoryReturns)
{
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = "flt_var";
    p.base_size = 2 * 1024 * 1024;
    p.chunk_size = 2 * 1024 * 1024;
    p.wall_size = 8 * 1024 * 1024;
    p.max_buf_size = 1024 * 1024;
    p.flags = ELASTIC_POOL_F_PROVIDER_MEMZONE | ELASTIC_POOL_F_MANUAL_TICK;
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    fault_injector fi;
    fi.fail_all = true;
    // Fill the base: the request after that needs a growth, which the provider refuses.
    std::vector<void *> held;
    for (int i = 0; i < 8; i++) {
        void *b = elastic_buf_alloc(pool, 1024 * 1024);
        if (b == nullptr) {
            EXPECT_EQ(rte_errno, ENOMEM);
            break;
        }
        held.push_back(b);
    }
    ASSERT_FALSE(held.empty());
    ASSERT_EQ(elastic::test::svc_stats(pool).nb_chunks, 1u);
    std::vector<void *> got;
    ASSERT_EQ(elastic_buf_alloc_async(pool, 1024 * 1024, on_buf, &got), 0);
    EXPECT_TRUE(got.empty());
    for (int i = 0; i < 3; i++)
        EXPECT_EQ(elastic_pool_maintain(pool), 0);
    elastic_pool_stats st = elastic::test::svc_stats(pool);
    EXPECT_EQ(st.nb_waiters, 1u);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_GE(st.nb_grow_fail, 4u);
    EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_PROVIDER));

    fi.fail_all = false; // memory is back: the next tick grows and serves the waiter
    EXPECT_EQ(elastic_pool_maintain(pool), 0);
    ASSERT_EQ(got.size(), 1u);
    st = elastic::test::svc_stats(pool);
    EXPECT_EQ(st.nb_waiters, 0u);
    EXPECT_EQ(st.nb_chunks, 2u);
    EXPECT_NE(elastic_buf_iova(pool, got[0]), RTE_BAD_IOVA);
    EXPECT_EQ(elastic_buf_free(pool, got[0]), 0);
    for (void *b : held)
        EXPECT_EQ(elastic_buf_free(pool, b), 0);
    elastic_pool_free(pool);
}

// The application stops the maintenance service (runstate off) and its service lcore: the alarm
// watchdog notices that no pass runs and runs them from the EAL's interrupt thread, so idle
// chunks are still released. Running the service again gives the passes back to it.
TEST(FaultsEal, ServiceLcoreStoppedTheAlarmTakesOver)
{
    if (rte_service_lcore_count() < 1)
        GTEST_SKIP() << "needs a service lcore (two cpus)";
    const std::string name = elastic::test::svc_name("stopped");
    elastic_pool_params p = elastic::test::svc_params(name);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr);
    auto info = maintenance_info();
    ASSERT_EQ(info.driver, maint_driver::service);
    const unsigned lcore = unsigned(info.service_lcore);
    ASSERT_TRUE(elastic::test::wait_until([&] { return maintenance_info().last_lcore == lcore; }));

    // Stop the service, then its lcore (DPDK refuses to stop the only lcore of a running
    // service, so an application stops the service first).
    ASSERT_EQ(rte_service_runstate_set(uint32_t(info.service_id), 0), 0);
    ASSERT_EQ(rte_service_lcore_stop(lcore), 0);
    ASSERT_TRUE(elastic::test::wait_until([&] { return rte_service_lcore_may_be_active(lcore) == 0; }));
    const elastic_pool_stats st = elastic::test::grow_and_wait_for_release(pool);
    EXPECT_EQ(st.nb_shrinks, 3u);
    info = maintenance_info();
    EXPECT_EQ(info.driver, maint_driver::service); // still the service's, the alarm stands in
    EXPECT_EQ(info.last_lcore, unsigned(LCORE_ID_ANY));

    // The application runs it again: passes come from the service lcore again.
    ASSERT_EQ(rte_service_runstate_set(uint32_t(info.service_id), 1), 0);
    ASSERT_EQ(rte_service_lcore_start(lcore), 0);
    EXPECT_TRUE(elastic::test::wait_until([&] { return maintenance_info().last_lcore == lcore; }));
    const elastic_pool_stats st2 = elastic::test::grow_and_wait_for_release(pool);
    EXPECT_EQ(st2.nb_shrinks, 6u);
    elastic_pool_free(pool);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
}

} // namespace

int main(int argc, char **argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    std::vector<std::string> extra;
    if (elastic::test::eal_cpus().size() >= 2)
        extra = {"-S", std::to_string(elastic::test::eal_cpus()[1])};
    ::testing::AddGlobalTestEnvironment(new elastic::test::eal_env("faults", extra));
    return elastic::test::exit_status(RUN_ALL_TESTS());
}
