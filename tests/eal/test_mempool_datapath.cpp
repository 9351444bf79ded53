/* SPDX-License-Identifier: BSD-3-Clause */
// The elastic mempool's datapath (issue 10) under a real EAL: per-lcore magazines of pools
// without a DPDK cache hold only base objects, count as free and home for the release rule, and
// are their lcore's own (drained home by it when the store is dry, or on request); objects of
// grown chunks always go home (so chunks still drain and release); a get never waits for a
// growth in progress; O(1) object -> chunk lookup with many chunks.

#include "test_mempool_common.hpp"

#include <rte_errno.h>
#include <rte_lcore.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

using namespace elastic::test;

namespace {

struct pool_guard {
    rte_mempool *mp;
    ~pool_guard() { rte_mempool_free(mp); }
};

constexpr unsigned elt = 256;

rte_mempool *make(const char *name, unsigned n, unsigned base, unsigned chunk,
                  elastic_mempool_params &p, rte_mempool_obj_cb_t *init = nullptr,
                  void *arg = nullptr)
{
    p.base_objs = base;
    p.chunk_objs = chunk;
    p.flags |= ELASTIC_MEMPOOL_F_LCORE_MAGAZINE;
    return elastic_mempool_create(name, n, elt, 0, 0, nullptr, nullptr, init, arg,
                                  SOCKET_ID_ANY, 0, &p);
}

// Runs f on a thread registered with the EAL (an lcore id of its own, so a magazine of its own).
template <typename F>
void on_other_lcore(F f)
{
    std::thread t([&] {
        ASSERT_EQ(rte_thread_register(), 0) << rte_strerror(rte_errno);
        ASSERT_NE(rte_lcore_id(), rte_get_main_lcore());
        f();
        rte_thread_unregister();
    });
    t.join();
}

// Base objects put back one by one stay in the lcore's magazine: free for get_count and the
// stats, out of nobody's hands, and served back to the same lcore without the store.
TEST(MempoolDatapath, MagazineObjectsAreFree)
{
    fake_clock clk;
    auto p = manual_params(512, 256, &clk);
    rte_mempool *mp = make("mdp_free", 1024, 512, 256, p);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    pool_guard g{mp};
    std::vector<void *> v(40);
    for (auto &o : v)
        ASSERT_EQ(rte_mempool_get(mp, &o), 0);
    for (void *o : v)
        rte_mempool_put(mp, o);
    auto xs = xstats_of(mp);
    EXPECT_EQ(xs.magazine_objs, 40u);
    EXPECT_EQ(xs.free_objs, 512u);
    EXPECT_EQ(rte_mempool_avail_count(mp), 1024u);
    EXPECT_EQ(stats_of(mp).in_use_bytes, 0u);
    // LIFO: the last put comes back first, from the magazine.
    void *o = nullptr;
    ASSERT_EQ(rte_mempool_get(mp, &o), 0);
    EXPECT_EQ(o, v.back());
    EXPECT_EQ(xstats_of(mp).magazine_objs, 39u);
    rte_mempool_put(mp, o);
    EXPECT_EQ(elastic_mempool_cache_flush(mp), 40); // the lcore's magazine goes home
    EXPECT_EQ(xstats_of(mp).magazine_objs, 0u);
    EXPECT_EQ(xstats_of(mp).free_objs, 512u);
}

// Without ELASTIC_MEMPOOL_F_LCORE_MAGAZINE an explicit pool has no magazine and every double
// put is caught by the store; with it, a double put into a magazine is caught when the magazine
// goes home, and the object is still handed out once.
TEST(MempoolDatapath, MagazineIsOptInAndDoublePutsAreCaughtHome)
{
    auto p = manual_params(512, 512, nullptr);
    p.base_objs = 512;
    p.chunk_objs = 512;
    rte_mempool *plain = elastic_mempool_create("mdp_plain", 512, elt, 0, 0, nullptr, nullptr,
                                                nullptr, nullptr, SOCKET_ID_ANY, 0, &p);
    ASSERT_NE(plain, nullptr);
    pool_guard g1{plain};
    void *o = nullptr, *other = nullptr;
    ASSERT_EQ(rte_mempool_get(plain, &other), 0); // (so that the chunk is not full)
    ASSERT_EQ(rte_mempool_get(plain, &o), 0);
    rte_mempool_put(plain, o);
    EXPECT_EQ(xstats_of(plain).magazine_objs, 0u);
    rte_mempool_put(plain, o); // a double put
    EXPECT_EQ(xstats_of(plain).nb_double_put, 1u);
    rte_mempool_put(plain, other);

    auto q = manual_params(512, 512, nullptr);
    rte_mempool *mp = make("mdp_double", 512, 512, 512, q);
    ASSERT_NE(mp, nullptr);
    pool_guard g2{mp};
    ASSERT_EQ(rte_mempool_get(mp, &o), 0);
    rte_mempool_put(mp, o);
    rte_mempool_put(mp, o); // both copies land in the magazine
    EXPECT_EQ(xstats_of(mp).magazine_objs, 2u);
    EXPECT_EQ(elastic_mempool_cache_flush(mp), 2);
    EXPECT_EQ(xstats_of(mp).nb_double_put, 1u);
    std::vector<void *> all(512);
    ASSERT_EQ(rte_mempool_get_bulk(mp, all.data(), 512), 0);
    EXPECT_EQ(std::set<void *>(all.begin(), all.end()).size(), 512u);
    rte_mempool_put_bulk(mp, all.data(), 512);
}

// Grown chunks' objects never enter a magazine: after a full ramp and free, with base objects
// held in the magazine, both grown chunks are home and the release rule takes them.
TEST(MempoolDatapath, GrownChunksDrainPastMagazines)
{
    fake_clock clk;
    auto p = manual_params(512, 256, &clk);
    p.headroom_chunks = 0;
    rte_mempool *mp = make("mdp_drain", 1024, 512, 256, p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    std::vector<void *> v(1024);
    for (auto &o : v)
        ASSERT_EQ(rte_mempool_get(mp, &o), 0);
    EXPECT_EQ(stats_of(mp).nb_chunks, 3u);
    // Back one by one, the grown chunks' first: a magazine would take them if it could.
    for (auto it = v.rbegin(); it != v.rend(); ++it)
        rte_mempool_put(mp, *it);
    auto xs = xstats_of(mp);
    EXPECT_EQ(xs.magazine_objs, 128u); // the limit: base 512 / (2 x 2 lcores)
    EXPECT_EQ(xs.free_objs, 1024u);
    clk.advance_ms(6000);
    EXPECT_EQ(elastic_mempool_trim(mp), 2);
    EXPECT_EQ(stats_of(mp).nb_chunks, 1u);
    EXPECT_EQ(xstats_of(mp).magazine_objs, 128u);
    EXPECT_EQ(rte_mempool_avail_count(mp), 1024u);
    // And every object is still there exactly once.
    std::vector<void *> w(512);
    ASSERT_EQ(rte_mempool_get_bulk(mp, w.data(), 512), 0);
    EXPECT_EQ(std::set<void *>(w.begin(), w.end()).size(), 512u);
    rte_mempool_put_bulk(mp, w.data(), 512);
}

// A magazine is its lcore's alone (as DPDK's per-lcore caches): at the wall, another lcore
// reaches all but the objects parked in it; the owner's own get drains it home when the store is
// dry, and elastic_mempool_cache_flush() gives them to everybody.
TEST(MempoolDatapath, MagazineIsItsLcoresOwn)
{
    auto p = manual_params(512, 512, nullptr);
    rte_mempool *mp = make("mdp_own", 512, 512, 512, p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    std::vector<void *> v(512);
    ASSERT_EQ(rte_mempool_get_bulk(mp, v.data(), 512), 0);
    for (void *o : v)
        rte_mempool_put(mp, o); // 128 to this lcore's magazine, the rest to the store
    EXPECT_EQ(xstats_of(mp).magazine_objs, 128u);
    EXPECT_EQ(rte_mempool_avail_count(mp), 512u); // free, wherever they are
    on_other_lcore([&] {
        std::vector<void *> w(512);
        EXPECT_EQ(rte_mempool_get_bulk(mp, w.data(), 512), -ENOBUFS);
        ASSERT_EQ(rte_mempool_get_bulk(mp, w.data(), 384), 0);
        rte_mempool_put_bulk(mp, w.data(), 384);
    });
    // The owner gets all 512: the store is short, so its magazine goes home first.
    ASSERT_EQ(rte_mempool_get_bulk(mp, v.data(), 512), 0);
    EXPECT_EQ(std::set<void *>(v.begin(), v.end()).size(), 512u);
    for (void *o : v)
        rte_mempool_put(mp, o);
    EXPECT_EQ(elastic_mempool_cache_flush(mp), 128);
    on_other_lcore([&] {
        std::vector<void *> w(512);
        EXPECT_EQ(rte_mempool_get_bulk(mp, w.data(), 512), 0);
        rte_mempool_put_bulk(mp, w.data(), 512);
    });
    EXPECT_EQ(stats_of(mp).nb_grows, 0u);
    EXPECT_EQ(rte_mempool_avail_count(mp), 512u);
}

// A get that finds the pool dry while another growth is under way fails at once (ENOBUFS,
// counted) instead of spinning behind it; the growth then completes for its own caller.
TEST(MempoolDatapath, GetNeverWaitsForAGrowth)
{
    struct gate {
        std::atomic<bool> hold{true};
        std::atomic<bool> blocked{false};
    } gt;
    auto init = [](rte_mempool *, void *arg, void *, unsigned idx) {
        auto *g = static_cast<gate *>(arg);
        if (idx < 64)
            return; // the base
        g->blocked = true;
        while (g->hold.load())
            std::this_thread::sleep_for(std::chrono::microseconds(100));
    };
    auto p = manual_params(64, 64, nullptr);
    rte_mempool *mp = make("mdp_nowait", 128, 64, 64, p, init, &gt);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    std::vector<void *> base(64);
    ASSERT_EQ(rte_mempool_get_bulk(mp, base.data(), 64), 0);
    void *grown = nullptr;
    int grow_ret = 1;
    std::thread grower([&] { grow_ret = rte_mempool_get(mp, &grown); }); // grows, held in init
    while (!gt.blocked.load())
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    void *o = nullptr;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(rte_mempool_get(mp, &o), -ENOBUFS);
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(waited, std::chrono::milliseconds(50));
    gt.hold = false;
    grower.join();
    EXPECT_EQ(grow_ret, 0);
    auto xs = xstats_of(mp);
    EXPECT_EQ(xs.nb_grow_busy, 1u);
    EXPECT_EQ(xs.nb_grow_datapath, 1u);
    ASSERT_EQ(rte_mempool_get(mp, &o), 0); // served by the new chunk
    rte_mempool_put(mp, o);
    rte_mempool_put(mp, grown);
    rte_mempool_put_bulk(mp, base.data(), 64);
}

// O(1) lookup: objects of many chunks, put back in a scrambled order, each reach their own chunk
// (chunk in-use counts all zero: every chunk released by trim).
TEST(MempoolDatapath, ScrambledPutsFindTheirChunks)
{
    fake_clock clk;
    auto p = manual_params(64, 64, &clk);
    p.headroom_chunks = 0;
    rte_mempool *mp = make("mdp_scramble", 64 * 40, 64, 64, p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    std::vector<void *> v(64 * 40);
    for (auto &o : v)
        ASSERT_EQ(rte_mempool_get(mp, &o), 0);
    EXPECT_EQ(stats_of(mp).nb_chunks, 40u);
    for (size_t i = 0; i < v.size(); i++) // a stride coprime with the count: every chunk mixed
        std::swap(v[i], v[(i * 97 + 13) % v.size()]);
    for (size_t i = 0; i < v.size(); i += 3)
        rte_mempool_put_bulk(mp, &v[i], unsigned(std::min<size_t>(3, v.size() - i)));
    clk.advance_ms(6000);
    EXPECT_EQ(elastic_mempool_trim(mp), 39);
    EXPECT_EQ(rte_mempool_avail_count(mp), mp->size);
}

} // namespace

int main(int argc, char **argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new eal_env("mempool_datapath"));
    return elastic::test::exit_status(RUN_ALL_TESTS());
}
