/* SPDX-License-Identifier: BSD-3-Clause */
// The elastic mempool driver under a real EAL: growth to the wall, mbuf fields on grown chunks,
// oldest-chunk-first, release after the idle period (fake clock) with pages going back,
// retiring, nothing grown during rte_mempool_free, bad input, hugepages exhausted, and a
// secondary process that looks the pool up and allocates from it.

#include "test_mempool_common.hpp"

#include <rte_errno.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_memzone.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

using namespace elastic::test;

namespace {

constexpr uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
constexpr uint16_t priv = 64;

eal_env *the_env = nullptr;

struct pool_guard {
    rte_mempool *mp;
    ~pool_guard() { rte_mempool_free(mp); }
};

TEST(MempoolDriver, GrowsToTheWallAndFailsCleanly)
{
    auto p = manual_params(256, 512, nullptr);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_wall", 256 + 3 * 512 + 100, 0, priv,
                                                  data_room, SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    pool_guard g{mp};
    EXPECT_TRUE(elastic_mempool_is_elastic(mp));
    EXPECT_EQ(mp->populated_size, 256u);
    EXPECT_EQ(rte_mempool_avail_count(mp), mp->size);
    auto st = stats_of(mp);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.nb_grows, 0u);

    auto v = alloc_all(mp);
    EXPECT_EQ(v.size(), mp->size); // 256 + 3 x 512 + a last chunk of 100
    EXPECT_EQ(mp->populated_size, mp->size);
    st = stats_of(mp);
    EXPECT_EQ(st.nb_chunks, 5u);
    EXPECT_EQ(st.nb_grows, 4u);
    EXPECT_EQ(xstats_of(mp).nb_grow_datapath, 4u);
    EXPECT_EQ(rte_mempool_avail_count(mp), 0u);
    EXPECT_EQ(rte_mempool_in_use_count(mp), mp->size);

    // At the wall: a clean refusal, nothing corrupted, and it works again after a free.
    EXPECT_EQ(rte_pktmbuf_alloc(mp), nullptr);
    void *obj = nullptr;
    EXPECT_EQ(rte_mempool_get(mp, &obj), -ENOBUFS);
    EXPECT_GE(stats_of(mp).nb_alloc_fail, 2u);
    std::set<rte_mbuf *> unique(v.begin(), v.end());
    EXPECT_EQ(unique.size(), v.size());
    rte_pktmbuf_free(v.back());
    v.pop_back();
    rte_mbuf *m = rte_pktmbuf_alloc(mp);
    ASSERT_NE(m, nullptr);
    v.push_back(m);
    free_all(v);
    EXPECT_EQ(rte_mempool_avail_count(mp), mp->size);
    EXPECT_EQ(rte_mempool_obj_iter(mp, [](rte_mempool *, void *, void *, unsigned) {}, nullptr),
              mp->size);
}

TEST(MempoolDriver, MbufsOfGrownChunksAreValid)
{
    auto p = manual_params(128, 700, nullptr);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_fields", 128 + 3 * 700, 32, priv,
                                                  data_room, SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    pool_guard g{mp};
    auto v = alloc_all(mp);
    ASSERT_EQ(v.size(), mp->size);
    const bool iova_known = rte_eal_iova_mode() != RTE_IOVA_DC;
    for (rte_mbuf *m : v) {
        ASSERT_EQ(m->pool, mp);
        ASSERT_EQ(m->buf_addr, reinterpret_cast<char *>(m) + sizeof(rte_mbuf) + priv);
        if (iova_known && rte_mempool_virt2iova(m) != RTE_BAD_IOVA) {
            ASSERT_EQ(m->buf_iova, rte_mempool_virt2iova(m) + sizeof(rte_mbuf) + priv);
            // The IOVA is the one of the memory: DMA into it lands in the mbuf.
            ASSERT_EQ(m->buf_iova, rte_mem_virt2iova(m->buf_addr));
        }
        ASSERT_EQ(m->buf_len, data_room);
        ASSERT_EQ(rte_pktmbuf_priv_size(mp), priv);
        ASSERT_EQ(m->priv_size, priv);
        ASSERT_EQ(m->data_off, RTE_PKTMBUF_HEADROOM);
        ASSERT_EQ(rte_mbuf_refcnt_read(m), 1);
        ASSERT_EQ(m->nb_segs, 1);
        const char *reason = nullptr;
        ASSERT_EQ(rte_mbuf_check(m, 1, &reason), 0) << reason;
        // Writable all the way: a frame fits.
        char *d = rte_pktmbuf_append(m, 1500);
        ASSERT_NE(d, nullptr);
        memset(d, 0xab, 1500);
    }
    free_all(v);
    EXPECT_EQ(rte_mempool_avail_count(mp), mp->size);
}

TEST(MempoolDriver, HandsOutTheOldestChunkFirst)
{
    auto p = manual_params(200, 300, nullptr);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_order", 200 + 2 * 300, 0, priv,
                                                  data_room, SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    auto base = alloc_all(mp, 200);
    std::set<rte_mbuf *> base_set(base.begin(), base.end());
    auto rest = alloc_all(mp);
    EXPECT_EQ(rest.size(), 600u);
    free_all(rest); // the grown chunks' objects go back first,
    free_all(base); // then the base's: LIFO alone would hand these out first.
    auto again = alloc_all(mp, 200);
    std::set<rte_mbuf *> again_set(again.begin(), again.end());
    EXPECT_EQ(again_set, base_set);
    free_all(again);
}

TEST(MempoolDriver, ReleasesIdleChunksAndGivesPagesBack)
{
    fake_clock clk;
    auto p = manual_params(2048, 2048, &clk);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_release", 4 * 2048, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    auto v = alloc_all(mp);
    ASSERT_EQ(v.size(), 4u * 2048);
    ASSERT_EQ(stats_of(mp).nb_chunks, 4u);
    const uint64_t pinned_full = stats_of(mp).pinned_bytes;
    free_all(v);
    const long files_before = own_hugepage_files();
    const long free_before = hugepages_free();

    // Not idle yet: nothing goes, however many ticks.
    clk.advance_ms(1000);
    EXPECT_EQ(elastic_mempool_maintain(mp), 0);
    clk.advance_ms(3000);
    EXPECT_EQ(elastic_mempool_maintain(mp), 0);
    EXPECT_EQ(stats_of(mp).nb_chunks, 4u);

    // Idle period over: one chunk per sample, the last first.
    clk.advance_ms(1001);
    EXPECT_EQ(elastic_mempool_maintain(mp), 1);
    EXPECT_EQ(stats_of(mp).nb_chunks, 3u);
    EXPECT_EQ(elastic_mempool_maintain(mp), 0); // no sample due
    clk.advance_ms(1000);
    EXPECT_EQ(elastic_mempool_maintain(mp), 1);
    clk.advance_ms(1000);
    EXPECT_EQ(elastic_mempool_maintain(mp), 1);
    clk.advance_ms(1000);
    EXPECT_EQ(elastic_mempool_maintain(mp), 0); // the base stays
    auto st = stats_of(mp);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.nb_shrinks, 3u);
    EXPECT_EQ(st.pinned_bytes, pinned_full - 3 * st.chunk_size);
    EXPECT_EQ(mp->populated_size, 2048u);
    EXPECT_EQ(mp->nb_mem_chunks, static_cast<uint32_t>(
        rte_mempool_mem_iter(mp, [](rte_mempool *, void *, rte_mempool_memhdr *, unsigned) {},
                             nullptr)));
    EXPECT_EQ(rte_mempool_obj_iter(mp, [](rte_mempool *, void *, void *, unsigned) {}, nullptr),
              2048u);
    EXPECT_EQ(rte_mempool_avail_count(mp), mp->size);
    if (!no_huge()) {
        const long pages = static_cast<long>(3 * st.chunk_size >> 21);
        EXPECT_LE(own_hugepage_files(), files_before - pages);
        EXPECT_GE(hugepages_free(), free_before + pages)
            << "HugePages_Free must rise (flaky only if others allocate at the same time)";
    }
    // And it grows again.
    v = alloc_all(mp);
    EXPECT_EQ(v.size(), mp->size);
    free_all(v);
}

TEST(MempoolDriver, RealClockMillisecondPeriods)
{
    auto p = manual_params(100, 100, nullptr); // monotonic clock
    p.sample_period_ms = 5;
    p.idle_period_ms = 40;
    p.headroom_chunks = 0;
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_realclk", 300, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    auto v = alloc_all(mp);
    ASSERT_EQ(v.size(), 300u);
    free_all(v);
    const auto t0 = std::chrono::steady_clock::now();
    int released = 0;
    double first_ms = -1;
    while (released < 2 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) {
        const int r = elastic_mempool_maintain(mp);
        ASSERT_GE(r, 0);
        if (r > 0 && first_ms < 0)
            first_ms = std::chrono::duration<double, std::milli>(
                std::chrono::steady_clock::now() - t0).count();
        released += r;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(released, 2);
    // Not before the idle period (measured from the allocations, which came before t0).
    EXPECT_GE(first_ms, 30.0);
    EXPECT_LT(first_ms, 2000.0);
    EXPECT_EQ(stats_of(mp).nb_chunks, 1u);
}

TEST(MempoolDriver, IdleRuleUsesTheSharedPolicy)
{
    fake_clock clk;
    auto p = manual_params(100, 100, &clk);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_rule", 400, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    auto v = alloc_all(mp);
    ASSERT_EQ(v.size(), 400u);
    free_all(v);
    // Allocations keep chunk 0 and 1 busy; chunks 2 and 3 stay untouched (oldest first).
    for (int i = 0; i < 6; i++) {
        clk.advance_ms(1000);
        auto w = alloc_all(mp, 150); // chunk 0 and half of chunk 1
        free_all(w);
        EXPECT_EQ(elastic_mempool_maintain(mp), i == 4 ? 1 : 0) << "tick " << i;
    }
    // Chunk 3 went (it and its headroom chunk 2 were idle); chunk 2 cannot go while chunk 1,
    // its headroom, is in use.
    for (int i = 0; i < 10; i++) {
        clk.advance_ms(1000);
        auto w = alloc_all(mp, 150);
        free_all(w);
        EXPECT_EQ(elastic_mempool_maintain(mp), 0);
    }
    EXPECT_EQ(stats_of(mp).nb_chunks, 3u);
    // A clock going backwards releases nothing.
    clk.ns -= 20'000'000'000ull;
    EXPECT_EQ(elastic_mempool_trim(mp), 0);
    clk.ns += 40'000'000'000ull;
    EXPECT_EQ(elastic_mempool_trim(mp), 2); // trim: at once, both idle chunks
    EXPECT_EQ(stats_of(mp).nb_chunks, 1u);
}

TEST(MempoolDriver, RetiringChunkParksAndGoesWhenAllBack)
{
    fake_clock clk;
    auto p = manual_params(100, 100, &clk);
    p.headroom_chunks = 0;
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_retire", 300, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    auto v = alloc_all(mp);
    ASSERT_EQ(v.size(), 300u);
    // Keep the last chunk's objects (the last 100 handed out came from chunk 2) partly out.
    std::vector<rte_mbuf *> held(v.end() - 10, v.end());
    std::set<rte_mbuf *> last_chunk(v.end() - 100, v.end());
    v.resize(v.size() - 10);
    free_all(v);
    clk.advance_ms(6000);
    EXPECT_EQ(elastic_mempool_maintain(mp), 0);
    auto xs = xstats_of(mp);
    EXPECT_EQ(xs.retiring, 1u);
    EXPECT_EQ(xs.parked_objs, 90u);
    EXPECT_EQ(xs.free_objs, 200u);
    EXPECT_EQ(rte_mempool_avail_count(mp), 290u);
    // It hands nothing out: 200 allocations all come from chunks 0 and 1.
    auto w = alloc_all(mp, 200);
    ASSERT_EQ(w.size(), 200u);
    for (rte_mbuf *m : w)
        EXPECT_EQ(last_chunk.count(m), 0u);
    free_all(w);
    // Objects coming back park; when all are back the next tick releases it.
    free_all(held);
    EXPECT_EQ(xstats_of(mp).parked_objs, 100u);
    EXPECT_EQ(elastic_mempool_maintain(mp), 1);
    EXPECT_EQ(stats_of(mp).nb_chunks, 2u);
    EXPECT_EQ(xstats_of(mp).retiring, 0u);
    EXPECT_EQ(rte_mempool_avail_count(mp), 300u);

    // Un-retired when demand returns.
    v = alloc_all(mp);
    ASSERT_EQ(v.size(), 300u);
    held.assign(v.end() - 1, v.end());
    v.pop_back();
    free_all(v);
    clk.advance_ms(6000);
    EXPECT_EQ(elastic_mempool_maintain(mp), 0);
    EXPECT_EQ(xstats_of(mp).retiring, 1u);
    w = alloc_all(mp);
    EXPECT_EQ(w.size(), 299u); // the parked 99 too
    EXPECT_EQ(xstats_of(mp).retiring, 0u);
    EXPECT_EQ(xstats_of(mp).nb_unretire, 1u);
    free_all(w);
    free_all(held);
}

TEST(MempoolDriver, CacheFlushUnpinsAChunk)
{
    fake_clock clk;
    auto p = manual_params(256, 256, &clk);
    p.headroom_chunks = 0;
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_flush", 512, 64, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    auto v = alloc_all(mp);
    ASSERT_EQ(v.size(), 512u);
    free_all(v); // up to 96 objects stay in this lcore's cache
    const unsigned cached = rte_mempool_default_cache(mp, rte_lcore_id())->len;
    EXPECT_GT(cached, 0u);
    clk.advance_ms(6000);
    elastic_mempool_maintain(mp);
    EXPECT_EQ(elastic_mempool_cache_flush(mp), static_cast<int>(cached));
    EXPECT_EQ(rte_mempool_default_cache(mp, rte_lcore_id())->len, 0u);
    clk.advance_ms(1000);
    EXPECT_EQ(elastic_mempool_maintain(mp), 1);
    EXPECT_EQ(stats_of(mp).nb_chunks, 1u);
}

TEST(MempoolDriver, ObjInitIsReplayedOnGrownChunks)
{
    struct counter {
        std::atomic<unsigned> calls{0};
    } c;
    auto p = manual_params(64, 64, nullptr);
    rte_mempool *mp = elastic_mempool_create(
        "mpd_objinit", 256, 128, 0, 0, nullptr, nullptr,
        [](rte_mempool *, void *arg, void *obj, unsigned idx) {
            static_cast<counter *>(arg)->calls++;
            memset(obj, 0, 128);
            *static_cast<uint32_t *>(obj) = 0xC0FFEE00u + idx;
        },
        &c, SOCKET_ID_ANY, 0, &p);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    pool_guard g{mp};
    EXPECT_EQ(c.calls.load(), 64u);
    std::vector<void *> objs(256);
    ASSERT_EQ(rte_mempool_get_bulk(mp, objs.data(), 256), 0);
    EXPECT_EQ(c.calls.load(), 256u);
    std::set<uint32_t> stamps;
    for (void *o : objs)
        stamps.insert(*static_cast<uint32_t *>(o));
    EXPECT_EQ(stamps.size(), 256u);
    EXPECT_EQ(*stamps.begin(), 0xC0FFEE00u);
    EXPECT_EQ(*stamps.rbegin(), 0xC0FFEE00u + 255);
    rte_mempool_put_bulk(mp, objs.data(), 256);
}

TEST(MempoolDriver, GrowthAheadOfNeedFromMaintenance)
{
    fake_clock clk;
    auto p = manual_params(256, 256, &clk);
    p.flags = ELASTIC_MEMPOOL_F_MANUAL_TICK;
    p.low_watermark = 64;
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_pregrow", 1024, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    auto v = alloc_all(mp, 200); // 56 free < 64
    EXPECT_EQ(stats_of(mp).nb_grows, 0u);
    EXPECT_EQ(elastic_mempool_maintain(mp), 0);
    EXPECT_EQ(xstats_of(mp).nb_grow_maintenance, 1u);
    auto w = alloc_all(mp, 300);
    EXPECT_EQ(w.size(), 300u);
    EXPECT_EQ(xstats_of(mp).nb_grow_datapath, 0u);
    free_all(v);
    free_all(w);
}

// Capture the DPDK log to check what happened inside a call.
struct log_capture {
    char *buf = nullptr;
    size_t len = 0;
    FILE *f = nullptr;
    FILE *old = nullptr;
    log_capture()
    {
        f = open_memstream(&buf, &len);
        old = rte_log_get_stream();
        rte_openlog_stream(f);
        rte_log_set_level_pattern("mempool.elastic", RTE_LOG_DEBUG);
    }
    std::string done()
    {
        rte_openlog_stream(old == stderr ? nullptr : old);
        rte_log_set_level_pattern("mempool.elastic", RTE_LOG_NOTICE);
        fclose(f);
        std::string s(buf, len);
        free(buf);
        return s;
    }
};

TEST(MempoolDriver, NothingGrowsDuringFree)
{
    auto p = manual_params(128, 128, nullptr);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_destroy", 1024, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    log_capture cap;
    // Base + one chunk, all out: the drain's first dequeue finds the store empty.
    auto v = alloc_all(mp, 256);
    ASSERT_EQ(v.size(), 256u);
    EXPECT_EQ(xstats_of(mp).free_objs, 0u);
    rte_mempool_free(mp); // objects still out: logged nowhere, but nothing may grow
    const std::string log = cap.done();
    size_t grows = 0;
    for (size_t pos = 0; (pos = log.find("added by", pos)) != std::string::npos; pos++)
        grows++;
    EXPECT_EQ(grows, 1u) << log;
    int zones = 0;
    rte_memzone_walk([](const rte_memzone *mz, void *arg) {
        if (strncmp(mz->name, "EMP", 3) == 0)
            (*static_cast<int *>(arg))++;
    }, &zones);
    EXPECT_EQ(zones, 0);
}

TEST(MempoolDriver, BadInputIsRefused)
{
    auto p = manual_params(100, 100, nullptr);
    auto expect_fail = [](rte_mempool *mp, int err) {
        EXPECT_EQ(mp, nullptr);
        EXPECT_EQ(rte_errno, err);
        rte_mempool_free(mp);
    };
    expect_fail(elastic_pktmbuf_pool_create("mpd_bad", 99, 0, 0, data_room, SOCKET_ID_ANY, &p),
                EINVAL); // n_max below the base
    expect_fail(elastic_pktmbuf_pool_create("mpd_bad", 0, 0, 0, data_room, SOCKET_ID_ANY, &p),
                EINVAL);
    auto z = p;
    z.base_objs = 0;
    expect_fail(elastic_pktmbuf_pool_create("mpd_bad", 100, 0, 0, data_room, SOCKET_ID_ANY, &z),
                EINVAL);
    z = p;
    z.chunk_objs = 0;
    expect_fail(elastic_pktmbuf_pool_create("mpd_bad", 100, 0, 0, data_room, SOCKET_ID_ANY, &z),
                EINVAL);
    z = p;
    z.idle_period_ms = 0;
    expect_fail(elastic_pktmbuf_pool_create("mpd_bad", 100, 0, 0, data_room, SOCKET_ID_ANY, &z),
                EINVAL);
    z = p;
    z.flags = 1u << 30;
    expect_fail(elastic_pktmbuf_pool_create("mpd_bad", 100, 0, 0, data_room, SOCKET_ID_ANY, &z),
                EINVAL);
    expect_fail(elastic_mempool_create("mpd_bad", 100, 0, 0, 0, nullptr, nullptr, nullptr,
                                       nullptr, SOCKET_ID_ANY, 0, &p), EINVAL); // elt_size 0
    expect_fail(elastic_pktmbuf_pool_create("mpd_bad", 4096, RTE_MEMPOOL_CACHE_MAX_SIZE + 1, 0,
                                            data_room, SOCKET_ID_ANY, &p), EINVAL);
    expect_fail(elastic_pktmbuf_pool_create("mpd_bad", 100, 80, 0, data_room, SOCKET_ID_ANY,
                                            &p), EINVAL); // 1.5 x cache > n
    expect_fail(elastic_pktmbuf_pool_create("mpd_bad", 100, 0, 3, data_room, SOCKET_ID_ANY,
                                            &p), EINVAL); // priv not aligned
    const std::string long_name(RTE_MEMPOOL_NAMESIZE, 'x');
    expect_fail(elastic_pktmbuf_pool_create(long_name.c_str(), 100, 0, 0, data_room,
                                            SOCKET_ID_ANY, &p), ENAMETOOLONG);
    expect_fail(elastic_pktmbuf_pool_create(nullptr, 100, 0, 0, data_room, SOCKET_ID_ANY, &p),
                EINVAL);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_taken", 100, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    expect_fail(elastic_pktmbuf_pool_create("mpd_taken", 100, 0, 0, data_room, SOCKET_ID_ANY,
                                            &p), EEXIST);
    rte_mempool_free(mp);
    rte_mempool *ring = rte_pktmbuf_pool_create("mpd_ring", 64, 0, 0, data_room, SOCKET_ID_ANY);
    ASSERT_NE(ring, nullptr);
    elastic_pool_stats st;
    EXPECT_EQ(elastic_mempool_stats_get(ring, &st), -EINVAL);
    EXPECT_EQ(elastic_mempool_maintain(ring), -EINVAL);
    EXPECT_EQ(elastic_mempool_trim(nullptr), -EINVAL);
    EXPECT_FALSE(elastic_mempool_is_elastic(ring));
    rte_mempool_free(ring);
}

TEST(MempoolDriver, HugepagesExhaustedDuringGrowth)
{
    auto p = manual_params(256, 2048, nullptr);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_exhaust", 256 + 4 * 2048, 0, 0,
                                                  data_room, SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    auto v = alloc_all(mp, 256);
    ASSERT_EQ(v.size(), 256u);
    // Take all the memory this process may have (--socket-limit, or the -m of --no-huge).
    std::vector<const rte_memzone *> hog;
    for (size_t sz = size_t{256} << 20; sz >= 4096;) {
        char name[RTE_MEMZONE_NAMESIZE];
        snprintf(name, sizeof(name), "mpd_hog_%zu", hog.size());
        const rte_memzone *mz = rte_memzone_reserve(name, sz, SOCKET_ID_ANY, 0);
        if (mz != nullptr)
            hog.push_back(mz);
        else
            sz /= 2;
        ASSERT_LT(hog.size(), 2000u) << "no memory limit? set --socket-limit";
    }
    EXPECT_EQ(rte_pktmbuf_alloc(mp), nullptr);
    auto st = stats_of(mp);
    EXPECT_GE(st.nb_grow_fail, 1u);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(mp->populated_size, 256u);
    EXPECT_EQ(mp->nb_mem_chunks, static_cast<uint32_t>(
        rte_mempool_mem_iter(mp, [](rte_mempool *, void *, rte_mempool_memhdr *, unsigned) {},
                             nullptr)));
    EXPECT_EQ(rte_mempool_in_use_count(mp), 256u);
    // The pool still works within what it has.
    rte_pktmbuf_free(v.back());
    v.back() = rte_pktmbuf_alloc(mp);
    ASSERT_NE(v.back(), nullptr);
    for (const rte_memzone *mz : hog)
        rte_memzone_free(mz);
    // A later growth works.
    auto w = alloc_all(mp, 100);
    EXPECT_EQ(w.size(), 100u);
    EXPECT_EQ(stats_of(mp).nb_grows, 1u);
    free_all(w);
    free_all(v);
    EXPECT_EQ(rte_mempool_avail_count(mp), mp->size);
}

// The secondary: same binary, same driver; looks the pool up, allocates past what exists
// (growing from the secondary), checks the mbufs, frees them. Exit status = failures.
int secondary_main(const char *prefix)
{
    std::string pfx = std::string("--file-prefix=") + prefix;
    const char *argv[] = {"secondary", "--no-pci", "--proc-type=secondary", pfx.c_str(),
                          "-l", "0", "--log-level=lib.eal:error"};
    if (rte_eal_init(static_cast<int>(RTE_DIM(argv)), const_cast<char **>(argv)) < 0)
        return 10;
    int fails = 0;
    rte_mempool *mp = rte_mempool_lookup("mpd_shared");
    if (mp == nullptr || !elastic_mempool_is_elastic(mp))
        return 11;
    std::vector<rte_mbuf *> v = alloc_all(mp, 1000);
    if (v.size() != 1000)
        fails |= 1;
    for (rte_mbuf *m : v) {
        const char *reason = nullptr;
        if (m->pool != mp || rte_mbuf_check(m, 1, &reason) != 0)
            fails |= 2;
    }
    free_all(v);
    rte_eal_cleanup();
    return fails;
}

TEST(MempoolDriver, SecondaryProcessLooksUpAndAllocates)
{
    if (rte_eal_process_type() != RTE_PROC_PRIMARY || the_env == nullptr)
        GTEST_SKIP();
    if (no_huge())
        GTEST_SKIP() << "secondary processes need shared hugepage files (not with --no-huge)";
    auto p = manual_params(256, 256, nullptr);
    rte_mempool *mp = elastic_pktmbuf_pool_create("mpd_shared", 2048, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    pool_guard g{mp};
    fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        setenv("ELASTIC_MPD_SECONDARY", the_env->prefix().c_str(), 1);
        execl("/proc/self/exe", "test_mempool_driver", nullptr);
        _exit(12);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    auto st = stats_of(mp);
    EXPECT_GE(st.nb_grows, 3u); // grown in the secondary: 1000 > 256
    EXPECT_EQ(st.nb_allocs, 1000u);
    EXPECT_EQ(st.nb_frees, 1000u);
    EXPECT_EQ(rte_mempool_avail_count(mp), mp->size);
    auto v = alloc_all(mp);
    EXPECT_EQ(v.size(), mp->size);
    free_all(v);
}

} // namespace

int main(int argc, char **argv)
{
    if (const char *prefix = getenv("ELASTIC_MPD_SECONDARY"))
        return secondary_main(prefix);
    // Bound what this process may take, so that the exhaustion test never starves the machine.
    std::string extra = getenv("ELASTIC_EAL_ARGS") ? getenv("ELASTIC_EAL_ARGS") : "";
    if (extra.find("--no-huge") == std::string::npos &&
        extra.find("--socket-limit") == std::string::npos) {
        extra += " --socket-limit=256";
        setenv("ELASTIC_EAL_ARGS", extra.c_str(), 1);
    }
    ::testing::InitGoogleTest(&argc, argv);
    the_env = new eal_env("mempool_driver");
    ::testing::AddGlobalTestEnvironment(the_env);
    return elastic::test::exit_status(RUN_ALL_TESTS());
}
