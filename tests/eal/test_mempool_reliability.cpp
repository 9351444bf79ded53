/* SPDX-License-Identifier: BSD-3-Clause */
// Hostile use of the elastic mempool face (issue 13): a double put is detected and never hands an
// object out twice; a huge chunk_objs still grows; names and sockets the explicit API must refuse;
// a family's member mempool freed on its own leaves the family.
#include "test_mempool_common.hpp"

#include <elastic_numa.h>

#include <rte_errno.h>

#include <climits>
#include <set>
#include <string>
#include <vector>

using namespace elastic::test;

namespace {

constexpr uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE;

struct pool_guard {
    rte_mempool *mp;
    ~pool_guard() { rte_mempool_free(mp); }
};

// Defect: a put of an object already free went into its chunk's stack again, and two gets then
// handed out the same object. Now it is dropped, counted (nb_double_put) and logged.
void double_put_case(unsigned n_before_grow)
{
    auto p = manual_params(64, 64, nullptr);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpr_dput", 64 * 4, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    pool_guard g{mp};
    std::vector<void *> held;
    for (unsigned i = 0; i < n_before_grow; i++) { // reach the chunk to test
        void *o = nullptr;
        ASSERT_EQ(rte_mempool_get(mp, &o), 0);
        held.push_back(o);
    }
    void *a = nullptr, *b = nullptr;
    ASSERT_EQ(rte_mempool_get(mp, &a), 0);
    ASSERT_EQ(rte_mempool_get(mp, &b), 0);
    rte_mempool_put(mp, a);
    rte_mempool_put(mp, a); // the double put (cache size 0: straight to the driver)
    EXPECT_EQ(xstats_of(mp).nb_double_put, 1u);
    std::vector<void *> all;
    void *o = nullptr;
    while (rte_mempool_get(mp, &o) == 0)
        all.push_back(o);
    std::set<void *> uniq(all.begin(), all.end());
    EXPECT_EQ(uniq.size(), all.size()) << "an object was handed out twice";
    EXPECT_EQ(all.size() + held.size() + 1, mp->size); // b is still out
    for (void *x : all)
        rte_mempool_put(mp, x);
    for (void *x : held)
        rte_mempool_put(mp, x);
    rte_mempool_put(mp, b);
    EXPECT_EQ(rte_mempool_avail_count(mp), mp->size);
    EXPECT_EQ(xstats_of(mp).nb_double_put, 1u);
}

TEST(MempoolReliability, DoublePutInTheBaseIsDroppedAndCounted) { double_put_case(0); }
TEST(MempoolReliability, DoublePutInAGrownChunkIsDroppedAndCounted) { double_put_case(100); }

// Defect: with chunk_objs near UINT32_MAX the chunk count wrapped in 32 bits and the pool never
// grew past its base, silently.
TEST(MempoolReliability, HugeChunkObjsStillGrowsToTheWall)
{
    auto p = manual_params(128, UINT32_MAX, nullptr);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpr_huge", 1000, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    pool_guard g{mp};
    auto v = alloc_all(mp);
    EXPECT_EQ(v.size(), 1000u);
    EXPECT_EQ(stats_of(mp).nb_chunks, 2u); // the base, then one chunk up to the wall
    free_all(v);
}

// Names that would break telemetry's JSON and impossible sockets are EINVAL, as documented.
TEST(MempoolReliability, BadNamesAndSocketsAreEinval)
{
    for (const char *name : {"mp\xc3\xa9", "mp\"q", "mp\\b", "mp\tx"}) {
        rte_errno = 0;
        EXPECT_EQ(elastic_pktmbuf_pool_create(name, 512, 0, 0, data_room, SOCKET_ID_ANY, nullptr),
                  nullptr);
        EXPECT_EQ(rte_errno, EINVAL) << name;
    }
    for (int socket : {-2, RTE_MAX_NUMA_NODES, RTE_MAX_NUMA_NODES - 1, INT_MAX}) {
        rte_errno = 0;
        EXPECT_EQ(elastic_pktmbuf_pool_create("mpr_sock", 512, 0, 0, data_room, socket, nullptr),
                  nullptr);
        EXPECT_EQ(rte_errno, EINVAL) << socket;
        rte_errno = 0;
        EXPECT_EQ(elastic_mempool_create("mpr_sock2", 512, 64, 0, 0, nullptr, nullptr, nullptr,
                                         nullptr, socket, 0, nullptr),
                  nullptr);
        EXPECT_EQ(rte_errno, EINVAL) << socket;
    }
}

// Defect class (lifetimes): rte_mempool_free of a family's member left the family a dangling
// pointer. Now the member leaves the family.
TEST(MempoolReliability, FreeingAFamilyMemberTakesItOutOfTheFamily)
{
    auto p = manual_params(64, 64, nullptr);
    elastic_numa_mempool_family *fam =
        elastic_numa_mempool_family_create("mprfam", 256, 0, 0, data_room, &p);
    ASSERT_NE(fam, nullptr) << rte_strerror(rte_errno);
    const int node = int(rte_socket_id_by_idx(0));
    rte_mempool *member = elastic_numa_mempool(fam, node);
    ASSERT_NE(member, nullptr);
    rte_mempool_free(member);
    rte_errno = 0;
    EXPECT_EQ(elastic_numa_mempool(fam, node), nullptr);
    EXPECT_EQ(rte_errno, ENOENT);
    elastic_numa_node_stats st;
    EXPECT_EQ(elastic_numa_node_stats_get(node, &st), 0);
    elastic_numa_mempool_family_free(fam); // must not free the member again
    EXPECT_EQ(rte_mempool_lookup(("mprfam@" + std::to_string(node)).c_str()), nullptr);
}

} // namespace

ELASTIC_EAL_TEST_MAIN("mempool_reliability")
