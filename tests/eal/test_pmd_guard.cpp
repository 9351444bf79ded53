/* SPDX-License-Identifier: BSD-3-Clause */
// The guard for PMDs that snapshot pool memory, with real ports under a real EAL. No AF_XDP here:
// meson runs this binary with ELASTIC_MEMPOOL_GUARD_DRIVERS=net_null, which makes net_null a
// guarded family (tests only). Checked:
// - a process without such a port grows; once a port of the family is probed (RTE_ETH_EVENT_NEW,
//   read from an EAL alarm right after it) the next growth is refused by the guard: counted in nb_guard_refusals, not as a wall hit nor a
//   provider failure, limit "guard", the pool flagged and never released;
// - once the port is removed (RTE_ETH_EVENT_DESTROY), a new pool grows again;
// - ports probed in one thread while another grows pools: every pool either grew or was
//   guarded with a port's number, never a wall hit (run under -Db_sanitize=thread too).

#include "test_mempool_common.hpp"

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace elastic::test;

namespace {

constexpr uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
constexpr unsigned base_objs = 256;
constexpr unsigned chunk_objs = 256;

rte_mempool *make_pool(const std::string &name, fake_clock *clk)
{
    auto p = manual_params(base_objs, chunk_objs, clk);
    p.idle_period_ms = 1000;
    p.headroom_chunks = 0;
    return elastic_pktmbuf_pool_create(name.c_str(), 4 * base_objs, 0, 0, data_room,
                                       SOCKET_ID_ANY, &p);
}

// A port that appears is read from an EAL alarm shortly after its NEW event (ethdev makes it
// valid only after the event): a generous bound for the interrupt thread to run it.
void settle()
{
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

int port_of(const char *vdev)
{
    uint16_t port;
    return rte_eth_dev_get_port_by_name(vdev, &port) == 0 ? port : -1;
}

TEST(PmdGuard, APortOfASnapshottingFamilyStopsGrowthAndIsCountedAsSuch)
{
    fake_clock clk;
    rte_mempool *before = make_pool("pg_before", &clk);
    ASSERT_NE(before, nullptr) << rte_strerror(rte_errno);
    auto v = alloc_all(before, base_objs + 1);
    ASSERT_EQ(v.size(), base_objs + 1) << "no guarded port yet: the pool grows";
    EXPECT_EQ(stats_of(before).nb_grows, 1u);
    EXPECT_EQ(xstats_of(before).guarded, 0u);

    ASSERT_EQ(rte_eal_hotplug_add("vdev", "net_null_pg0", ""), 0);
    settle();
    const int port = port_of("net_null_pg0");
    ASSERT_GE(port, 0);
    // The pool that exists: its next growth is refused, it is flagged, counted as the guard's.
    auto more = alloc_all(before, 2 * chunk_objs);
    EXPECT_EQ(more.size(), chunk_objs - 1) << "the grown chunk serves, no further growth";
    const auto st = stats_of(before);
    const auto xs = xstats_of(before);
    EXPECT_EQ(st.nb_grows, 1u);
    EXPECT_EQ(xs.guarded, 1u);
    EXPECT_EQ(xs.guard_port, uint16_t(port));
    EXPECT_GE(xs.nb_guard_refusals, 1u);
    EXPECT_EQ(st.nb_wall_hits, 0u) << "a guard refusal is no wall hit";
    EXPECT_EQ(st.nb_grow_fail, 0u) << "nor a provider failure";
    EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_GUARD));
    EXPECT_EQ(st.nb_hook_vetoes, 0u);
    // Every further try is counted once more; nothing is released while guarded.
    rte_mbuf *m = rte_pktmbuf_alloc(before);
    EXPECT_EQ(m, nullptr);
    EXPECT_EQ(xstats_of(before).nb_guard_refusals, xs.nb_guard_refusals + 1);
    free_all(more);
    free_all(v);
    clk.advance_ms(60'000);
    EXPECT_EQ(elastic_mempool_trim(before), 0) << "a guarded pool keeps its chunks";
    EXPECT_EQ(stats_of(before).nb_chunks, 2u);
    rte_mempool_free(before);

    // A pool made while the port exists is guarded at its first growth.
    rte_mempool *during = make_pool("pg_during", &clk);
    ASSERT_NE(during, nullptr);
    v = alloc_all(during, base_objs + 1);
    EXPECT_EQ(v.size(), base_objs);
    EXPECT_EQ(xstats_of(during).guarded, 1u);
    EXPECT_EQ(stats_of(during).nb_grows, 0u);
    free_all(v);
    rte_mempool_free(during);

    // The port goes: pools grow again.
    ASSERT_EQ(rte_eal_hotplug_remove("vdev", "net_null_pg0"), 0);
    rte_mempool *after = make_pool("pg_after", &clk);
    ASSERT_NE(after, nullptr);
    v = alloc_all(after, base_objs + 1);
    EXPECT_EQ(v.size(), base_objs + 1);
    EXPECT_EQ(xstats_of(after).guarded, 0u);
    EXPECT_EQ(xstats_of(after).nb_guard_refusals, 0u);
    free_all(v);
    rte_mempool_free(after);
}

// A pool with ELASTIC_MEMPOOL_F_NO_GUARD grows whatever port exists.
TEST(PmdGuard, NoGuardFlagGrowsBesideSuchAPort)
{
    ASSERT_EQ(rte_eal_hotplug_add("vdev", "net_null_pg1", ""), 0);
    settle();
    auto p = manual_params(base_objs, chunk_objs, nullptr);
    p.flags |= ELASTIC_MEMPOOL_F_NO_GUARD;
    rte_mempool *mp = elastic_pktmbuf_pool_create("pg_noguard", 4 * base_objs, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    auto v = alloc_all(mp, base_objs + 1);
    EXPECT_EQ(v.size(), base_objs + 1);
    EXPECT_EQ(xstats_of(mp).guarded, 0u);
    free_all(v);
    rte_mempool_free(mp);
    ASSERT_EQ(rte_eal_hotplug_remove("vdev", "net_null_pg1"), 0);
}

// Ports appear in one thread (NEW events, read from the EAL alarm) while this one grows pools
// made before: each pool either grew or was guarded (then it names a port of the family and its
// refusals are the guard's), never a wall hit. Ports are only added while both run (a port's
// memory freed by one thread and reused by the other's memzone would be ordered by DPDK's heap
// lock, which TSan cannot see); they are removed after.
TEST(PmdGuard, PortsAppearWhilePoolsGrow)
{
    constexpr int nb_ports = 4;
    constexpr int nb_pools = 16;
    std::vector<rte_mempool *> pools;
    for (int i = 0; i < nb_pools; i++) {
        const std::string name = "pg_c" + std::to_string(i);
        auto p = manual_params(base_objs, chunk_objs, nullptr);
        rte_mempool *mp = elastic_pktmbuf_pool_create(name.c_str(), 4 * base_objs, 0, 0,
                                                      data_room, SOCKET_ID_ANY, &p);
        ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
        pools.push_back(mp);
    }
    std::thread ports([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(10)); // some pools grow first
        for (int i = 0; i < nb_ports; i++) {
            const std::string name = "net_null_pgc" + std::to_string(i);
            EXPECT_EQ(rte_eal_hotplug_add("vdev", name.c_str(), ""), 0) << name;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    int grew = 0, guarded = 0;
    std::vector<std::vector<rte_mbuf *>> held(nb_pools);
    for (int i = 0; i < nb_pools; i++) {
        rte_mempool *mp = pools[size_t(i)];
        held[size_t(i)] = alloc_all(mp, 4 * base_objs);
        const auto st = stats_of(mp);
        const auto xs = xstats_of(mp);
        EXPECT_EQ(held[size_t(i)].size(), size_t(base_objs) + st.nb_grows * chunk_objs);
        EXPECT_EQ(st.nb_wall_hits, 0u);
        if (xs.guarded) {
            guarded++;
            EXPECT_GE(xs.nb_guard_refusals, 1u);
            EXPECT_LT(xs.guard_port, RTE_MAX_ETHPORTS);
            EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_GUARD));
        } else {
            grew++;
            EXPECT_EQ(st.nb_grows, 3u) << "unguarded: to n_max";
            EXPECT_EQ(xs.nb_guard_refusals, 0u);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ports.join();
    settle();
    printf("%d pools grew to n_max, %d were guarded while ports appeared\n", grew, guarded);
    EXPECT_EQ(grew + guarded, nb_pools);
    // Every port is there now: a pool that had not been guarded is at its first try.
    rte_mempool *late = make_pool("pg_late", nullptr);
    ASSERT_NE(late, nullptr);
    auto v = alloc_all(late, base_objs + 1);
    EXPECT_EQ(v.size(), base_objs);
    EXPECT_EQ(xstats_of(late).guarded, 1u);
    free_all(v);
    rte_mempool_free(late);
    for (size_t i = 0; i < pools.size(); i++) {
        free_all(held[i]);
        rte_mempool_free(pools[i]);
    }
    for (int i = 0; i < nb_ports; i++)
        EXPECT_EQ(rte_eal_hotplug_remove("vdev", ("net_null_pgc" + std::to_string(i)).c_str()),
                  0);
    uint16_t port;
    int left = 0;
    RTE_ETH_FOREACH_DEV(port)
        left++;
    EXPECT_EQ(left, 0) << "every port was removed";
}

} // namespace

ELASTIC_EAL_TEST_MAIN("pmd_guard")
