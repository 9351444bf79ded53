/* SPDX-License-Identifier: BSD-3-Clause */
// Per-chunk hooks of both faces and true page counts, under a real EAL:
// - a mempool's hook sees each chunk (the base at creation) before any object of it is handed
//   out, and again once all of them are home, before its memory goes (trim, destroy); a veto
//   stops the growth cleanly and costs no hugepage;
// - a hook set on a pool that exists first sees every chunk it holds; a veto there leaves none;
// - a variable-size pool's hook: the same two events, a vetoed growth fails the request;
// - a mempool chunk holds whole hugepages and nothing more: pinned_bytes, the hook's
//   pinned_bytes, this process's hugepage files and HugePages_Free move by the same amount on
//   every growth and release.

#include "test_mempool_common.hpp"

#include <elasticpool.h>

#include <rte_errno.h>
#include <rte_memzone.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace elastic::test;

namespace {

constexpr uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE;

// What a hook saw, in order.
struct event {
    elastic_chunk_event ev;
    uintptr_t lo, hi;
    uint32_t index, objs;
    uint64_t pinned;
    bool mz;
    bool vetoed;
};

struct recorder {
    std::vector<event> events;
    int veto = 0;           // returned for the next ADD (then reset) when non-zero
    int veto_at_index = -1; // or veto the ADD of this index
    uint64_t sum = 0;       // touches the memory in each call: it must be mapped

    static int hook(void *, elastic_chunk_event ev, const elastic_chunk_info *info, void *arg)
    {
        auto *r = static_cast<recorder *>(arg);
        const auto lo = reinterpret_cast<uintptr_t>(info->addr);
        r->events.push_back({ev, lo, lo + info->len, info->index, info->objs,
                             info->pinned_bytes, info->mz != nullptr, false});
        r->sum += *static_cast<volatile const uint8_t *>(info->addr);
        if (ev != ELASTIC_CHUNK_EV_ADD)
            return 0;
        int v = int(info->index) == r->veto_at_index ? -EACCES : 0;
        if (r->veto != 0) {
            v = r->veto;
            r->veto = 0;
        }
        r->events.back().vetoed = v != 0;
        return v;
    }
    // Chunks added and not released (address ranges).
    std::vector<event> live() const
    {
        std::vector<event> v;
        for (const auto &e : events) {
            if (e.ev == ELASTIC_CHUNK_EV_ADD) {
                if (!e.vetoed)
                    v.push_back(e);
            } else {
                for (auto it = v.begin(); it != v.end(); ++it)
                    if (it->lo == e.lo && it->hi == e.hi) {
                        v.erase(it);
                        break;
                    }
            }
        }
        return v;
    }
    size_t count(elastic_chunk_event ev) const
    {
        size_t n = 0;
        for (const auto &e : events)
            n += e.ev == ev;
        return n;
    }
};

bool inside(const std::vector<event> &chunks, const void *p)
{
    const auto a = reinterpret_cast<uintptr_t>(p);
    for (const auto &c : chunks)
        if (a >= c.lo && a < c.hi)
            return true;
    return false;
}

TEST(MempoolHooks, SeeEveryChunkBeforeHandOutAndAfterAllIsHome)
{
    fake_clock clk;
    recorder rec;
    auto p = manual_params(512, 512, &clk);
    p.chunk_hook = recorder::hook;
    p.chunk_hook_arg = &rec;
    rte_mempool *mp = elastic_pktmbuf_pool_create("hk_mp", 4 * 512, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    // The base was shown during creation.
    ASSERT_EQ(rec.events.size(), 1u);
    EXPECT_EQ(rec.events[0].ev, ELASTIC_CHUNK_EV_ADD);
    EXPECT_EQ(rec.events[0].index, 0u);
    EXPECT_EQ(rec.events[0].objs, 512u);
    EXPECT_TRUE(rec.events[0].mz);

    // Every object handed out lies in a chunk the hook has seen (and not seen go).
    auto v = alloc_all(mp);
    ASSERT_EQ(v.size(), 4u * 512);
    ASSERT_EQ(rec.count(ELASTIC_CHUNK_EV_ADD), 4u);
    const auto chunks = rec.live();
    for (rte_mbuf *m : v)
        ASSERT_TRUE(inside(chunks, m)) << "mbuf " << m << " outside every chunk the hook saw";
    for (uint32_t i = 0; i < 4; i++)
        EXPECT_EQ(rec.events[i].index, i);
    uint64_t pinned = 0;
    for (const auto &c : chunks)
        pinned += c.pinned;
    EXPECT_EQ(pinned, stats_of(mp).pinned_bytes) << "the hook's pinned_bytes add up";

    // Nothing is released while its objects are out, whatever the rule says.
    clk.advance_ms(60'000);
    EXPECT_EQ(elastic_mempool_trim(mp), 0);
    EXPECT_EQ(rec.count(ELASTIC_CHUNK_EV_RELEASE), 0u);
    free_all(v);
    // Home and idle: trim releases down to base + headroom, the last chunk first; each release
    // is shown before the memory goes (the hook reads it).
    clk.advance_ms(60'000);
    const int released = elastic_mempool_trim(mp);
    EXPECT_GE(released, 1);
    ASSERT_EQ(rec.count(ELASTIC_CHUNK_EV_RELEASE), size_t(released));
    EXPECT_EQ(rec.events[4].ev, ELASTIC_CHUNK_EV_RELEASE);
    EXPECT_EQ(rec.events[4].index, 3u);
    EXPECT_EQ(rec.events[4].lo, rec.events[3].lo);
    const size_t chunks_left = stats_of(mp).nb_chunks;
    EXPECT_EQ(rec.live().size(), chunks_left);

    // Destroy: every chunk still held is shown once more, newest first.
    const size_t before = rec.events.size();
    rte_mempool_free(mp);
    ASSERT_EQ(rec.events.size(), before + chunks_left);
    EXPECT_TRUE(rec.live().empty());
    EXPECT_EQ(rec.events.back().index, 0u);
}

TEST(MempoolHooks, AVetoStopsTheGrowthAndCostsNoPage)
{
    recorder rec;
    auto p = manual_params(512, 512, nullptr);
    p.chunk_hook = recorder::hook;
    p.chunk_hook_arg = &rec;
    rte_mempool *mp = elastic_pktmbuf_pool_create("hk_veto", 4 * 512, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    auto v = alloc_all(mp, 512);
    ASSERT_EQ(v.size(), 512u);
    const long files = own_hugepage_files();
    rec.veto = -EACCES;
    void *obj = nullptr;
    EXPECT_EQ(rte_mempool_get(mp, &obj), -ENOBUFS) << "the get fails as at the wall";
    EXPECT_EQ(xstats_of(mp).nb_hook_veto, 1u);
    EXPECT_EQ(stats_of(mp).nb_chunks, 1u);
    // A veto is the hook's, not the provider's nor the wall's.
    EXPECT_EQ(stats_of(mp).nb_hook_vetoes, 1u);
    EXPECT_EQ(stats_of(mp).nb_grow_fail, 0u) << "a veto is no provider failure";
    EXPECT_EQ(stats_of(mp).nb_wall_hits, 0u);
    EXPECT_EQ(stats_of(mp).last_limit, uint32_t(ELASTIC_LIMIT_HOOK));
    EXPECT_EQ(xstats_of(mp).nb_guard_refusals, 0u);
    EXPECT_EQ(mp->populated_size, 512u) << "the vetoed chunk's objects are unlinked";
    EXPECT_EQ(own_hugepage_files(), files) << "the vetoed chunk's pages went back";
    // The next growth is accepted.
    rte_mbuf *m = rte_pktmbuf_alloc(mp);
    ASSERT_NE(m, nullptr);
    EXPECT_TRUE(inside(rec.live(), m));
    v.push_back(m);
    free_all(v);
    rte_mempool_free(mp);
    EXPECT_TRUE(rec.live().empty());

    // A vetoed base fails the creation with the veto's errno.
    recorder no;
    no.veto = -EACCES;
    p.chunk_hook_arg = &no;
    EXPECT_EQ(elastic_pktmbuf_pool_create("hk_veto2", 1024, 0, 0, data_room, SOCKET_ID_ANY, &p),
              nullptr);
    EXPECT_EQ(rte_errno, EACCES);
    EXPECT_EQ(rte_mempool_lookup("hk_veto2"), nullptr);
}

TEST(MempoolHooks, SetOnAPoolThatExistsShowsItsChunksFirst)
{
    auto p = manual_params(256, 256, nullptr);
    rte_mempool *mp = elastic_pktmbuf_pool_create("hk_set", 4 * 256, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr);
    auto v = alloc_all(mp, 3 * 256);
    ASSERT_EQ(stats_of(mp).nb_chunks, 3u);

    recorder bad;
    bad.veto_at_index = 2;
    EXPECT_EQ(elastic_mempool_chunk_hook_set(mp, recorder::hook, &bad), -EACCES);
    ASSERT_EQ(bad.events.size(), 5u); // ADD 0, ADD 1, ADD 2 (vetoed), RELEASE 1, RELEASE 0
    EXPECT_EQ(bad.events[3].ev, ELASTIC_CHUNK_EV_RELEASE);
    EXPECT_EQ(bad.events[3].index, 1u);
    EXPECT_EQ(bad.events[4].index, 0u);
    auto w = alloc_all(mp, 1); // grows: no hook any more
    EXPECT_EQ(bad.events.size(), 5u);

    recorder rec;
    ASSERT_EQ(elastic_mempool_chunk_hook_set(mp, recorder::hook, &rec), 0);
    ASSERT_EQ(rec.events.size(), 4u);
    for (uint32_t i = 0; i < 4; i++) {
        EXPECT_EQ(rec.events[i].ev, ELASTIC_CHUNK_EV_ADD);
        EXPECT_EQ(rec.events[i].index, i);
    }
    for (rte_mbuf *m : v)
        EXPECT_TRUE(inside(rec.live(), m));
    EXPECT_EQ(elastic_mempool_chunk_hook_set(nullptr, recorder::hook, &rec), -EINVAL);
    free_all(v);
    free_all(w);
    // Cleared: the hook lets go of what it saw.
    ASSERT_EQ(elastic_mempool_chunk_hook_set(mp, nullptr, nullptr), 0);
    EXPECT_TRUE(rec.live().empty());
    rte_mempool_free(mp);
    EXPECT_EQ(rec.events.size(), 8u);
}

TEST(PoolHooks, VariableSizePoolShowsItsChunks)
{
    fake_clock clk;
    recorder rec;
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = "hk_var";
    p.base_size = 256 * 1024;
    p.chunk_size = 256 * 1024;
    p.wall_size = 1024 * 1024;
    p.flags = ELASTIC_POOL_F_PROVIDER_MEMZONE | ELASTIC_POOL_F_MANUAL_TICK;
    p.sample_period_ms = 1000;
    p.idle_period_ms = 5000;
    p.clock = fake_clock::read;
    p.clock_ctx = &clk;
    p.chunk_hook = recorder::hook;
    p.chunk_hook_arg = &rec;
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    ASSERT_EQ(rec.events.size(), 1u);
    EXPECT_EQ(rec.events[0].index, 0u);
    EXPECT_EQ(rec.events[0].hi - rec.events[0].lo, 256u * 1024);

    std::vector<void *> bufs;
    for (int i = 0; i < 3; i++) {
        void *b = elastic_buf_alloc(pool, 256 * 1024);
        ASSERT_NE(b, nullptr) << i;
        EXPECT_TRUE(inside(rec.live(), b));
        bufs.push_back(b);
    }
    EXPECT_EQ(rec.count(ELASTIC_CHUNK_EV_ADD), 3u);
    rec.veto = -EACCES;
    EXPECT_EQ(elastic_buf_alloc(pool, 256 * 1024), nullptr);
    EXPECT_EQ(rec.count(ELASTIC_CHUNK_EV_ADD), 4u);
    EXPECT_EQ(rec.live().size(), 3u) << "the vetoed chunk is not held";
    elastic_pool_stats st{};
    ASSERT_EQ(elastic_pool_stats_get(pool, &st), 0);
    EXPECT_EQ(st.nb_chunks, 3u);
    EXPECT_EQ(st.nb_hook_vetoes, 1u);
    EXPECT_EQ(st.nb_grow_fail, 0u) << "a veto is no provider failure";
    EXPECT_EQ(st.nb_wall_hits, 0u);
    EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_HOOK));

    for (void *b : bufs)
        EXPECT_EQ(elastic_buf_free(pool, b), 0);
    clk.advance_ms(60'000);
    const int released = elastic_pool_trim(pool);
    EXPECT_GE(released, 1);
    EXPECT_EQ(rec.count(ELASTIC_CHUNK_EV_RELEASE), size_t(released));
    elastic_pool_free(pool);
    EXPECT_TRUE(rec.live().empty());
}

// Reads HugePages_Free around `step` until it moved by `want` pages: other programs on the
// machine (other tests) take and give hugepages too, so one exact reading in three tries is
// asked for; this process's own hugepage files must move by `want` every time.
template <typename Step, typename Undo>
::testing::AssertionResult pages_move(long want, Step step, Undo undo)
{
    long last_machine = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        const long files = own_hugepage_files();
        const long free_before = hugepages_free();
        step();
        const long machine = free_before - hugepages_free();
        const long own = own_hugepage_files() - files;
        if (own != want)
            return ::testing::AssertionFailure() << "own hugepage files moved by " << own
                                                 << ", want " << want;
        if (machine == want)
            return ::testing::AssertionSuccess();
        last_machine = machine;
        undo();
    }
    return ::testing::AssertionFailure() << "HugePages_Free moved by " << last_machine
                                         << " pages, want " << want << " (three tries)";
}

TEST(TruePages, AChunkHoldsWholeHugepagesAndGivesThemAllBack)
{
    if (no_huge())
        GTEST_SKIP() << "no hugepages (--no-huge): HugePages_Free does not move";
    constexpr uint64_t pg = RTE_PGSIZE_2M;
    fake_clock clk;
    // 800 mbufs of 2,368 bytes: just under one 2 MiB page with the chunk's stack (the old
    // layout mapped two pages for it while counting one).
    auto p = manual_params(800, 800, &clk);
    p.idle_period_ms = 1000;
    p.headroom_chunks = 0;
    rte_mempool *mp = elastic_pktmbuf_pool_create("hk_pages", 6 * 800, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &p);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    const auto st0 = stats_of(mp);
    EXPECT_EQ(st0.pinned_bytes % pg, 0u);
    EXPECT_EQ(st0.chunk_size % pg, 0u);
    const long chunk_pages = long(st0.chunk_size / pg);
    printf("chunk of 800 mbufs: %ld hugepage(s), base %" PRIu64 " bytes\n", chunk_pages,
           st0.pinned_bytes);

    std::vector<rte_mbuf *> v = alloc_all(mp, 800);
    ASSERT_EQ(v.size(), 800u);
    for (int i = 1; i < 6; i++) {
        std::vector<rte_mbuf *> more;
        const uint64_t pinned_before = stats_of(mp).pinned_bytes;
        ASSERT_TRUE(pages_move(chunk_pages,
            [&] { more = alloc_all(mp, 800); },
            [&] {
                free_all(more);
                clk.advance_ms(10'000);
                ASSERT_EQ(elastic_mempool_trim(mp), 1);
            })) << "growth " << i;
        ASSERT_EQ(more.size(), 800u);
        EXPECT_EQ(stats_of(mp).pinned_bytes - pinned_before, uint64_t(chunk_pages) * pg);
        v.insert(v.end(), more.begin(), more.end());
    }
    ASSERT_EQ(stats_of(mp).nb_chunks, 6u);
    // Releases: each gives back exactly what pinned_bytes drops by.
    free_all(v);
    v = alloc_all(mp, 800); // the base stays busy, chunks 1..5 idle
    for (int i = 5; i >= 1; i--) {
        const uint64_t pinned_before = stats_of(mp).pinned_bytes;
        std::vector<rte_mbuf *> back;
        ASSERT_TRUE(pages_move(-chunk_pages,
            [&] {
                clk.advance_ms(10'000); // a sample is due: one release per sample
                ASSERT_EQ(elastic_mempool_maintain(mp), 1);
            },
            [&] { back = alloc_all(mp, 800); free_all(back); })) << "release " << i;
        EXPECT_EQ(pinned_before - stats_of(mp).pinned_bytes, uint64_t(chunk_pages) * pg);
    }
    EXPECT_EQ(stats_of(mp).pinned_bytes, st0.pinned_bytes);
    free_all(v);
    rte_mempool_free(mp);
}

// The variable-size face: memzone chunks of whole hugepages hold exactly those pages (the memzone
// is the pages less its malloc header; the header's 4 KiB are not handed out), for chunks of one
// and of two hugepages.
TEST(TruePages, VariableSizeChunksHoldWholeHugepages)
{
    if (no_huge())
        GTEST_SKIP() << "no hugepages (--no-huge): HugePages_Free does not move";
    constexpr uint64_t pg = RTE_PGSIZE_2M;
    for (const long chunk_pages : {1L, 2L}) {
        fake_clock clk;
        recorder rec;
        elastic_pool_params p;
        elastic_pool_params_init(&p);
        const std::string name = "hk_var_pages" + std::to_string(chunk_pages);
        p.name = name.c_str();
        p.base_size = pg;
        p.chunk_size = size_t(chunk_pages) * pg;
        p.wall_size = pg + 5 * p.chunk_size;
        p.flags = ELASTIC_POOL_F_PROVIDER_MEMZONE | ELASTIC_POOL_F_MANUAL_TICK;
        p.sample_period_ms = 1000;
        p.idle_period_ms = 1000;
        p.headroom_chunks = 0;
        p.clock = fake_clock::read;
        p.clock_ctx = &clk;
        p.chunk_hook = recorder::hook;
        p.chunk_hook_arg = &rec;
        elastic_pool *pool = elastic_pool_create(&p);
        ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
        elastic_pool_stats st{};
        ASSERT_EQ(elastic_pool_stats_get(pool, &st), 0);
        EXPECT_EQ(st.pinned_bytes, pg);
        EXPECT_EQ(st.max_buf_size, size_t(1) << 20);
        ASSERT_EQ(rec.events.size(), 1u);
        EXPECT_EQ(rec.events[0].pinned, pg);
        EXPECT_EQ(rec.events[0].hi - rec.events[0].lo, pg - 4096) << "the header's 4 KiB";
        EXPECT_EQ(rec.events[0].lo % 4096, 0u);

        // Fill the base with 1 MiB buffers; each growth then holds exactly chunk_pages more.
        std::vector<void *> held;
        void *grew = nullptr;
        for (int k = 0; k < 4 && grew == nullptr; k++) {
            void *b = elastic_buf_alloc(pool, 1 << 20);
            ASSERT_NE(b, nullptr);
            ASSERT_EQ(elastic_pool_stats_get(pool, &st), 0);
            (st.nb_chunks > 1 ? grew : held.emplace_back()) = b;
        }
        ASSERT_NE(grew, nullptr) << "a 1 MiB buffer past the base grows";
        EXPECT_EQ(held.size(), 1u) << "the base holds one 1 MiB buffer";
        ASSERT_EQ(elastic_buf_free(pool, grew), 0);
        clk.advance_ms(10'000);
        ASSERT_EQ(elastic_pool_trim(pool), 1);
        for (int i = 1; i <= 4; i++) {
            std::vector<void *> more;
            uint64_t pinned_before = 0;
            ASSERT_TRUE(pages_move(chunk_pages,
                [&] {
                    elastic_pool_stats s0{};
                    elastic_pool_stats_get(pool, &s0);
                    pinned_before = s0.pinned_bytes;
                    // One chunk's worth of 1 MiB buffers (less the header's share).
                    for (long k = 0; k < 2 * chunk_pages - 1; k++) {
                        void *b = elastic_buf_alloc(pool, 1 << 20);
                        ASSERT_NE(b, nullptr);
                        // 1 MiB-aligned: no buffer crosses a hugepage (IOVA-contiguous).
                        EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % (1 << 20), 0u);
                        more.push_back(b);
                    }
                },
                [&] {
                    for (void *b : more)
                        EXPECT_EQ(elastic_buf_free(pool, b), 0);
                    more.clear();
                    clk.advance_ms(10'000);
                    ASSERT_EQ(elastic_pool_trim(pool), 1);
                })) << chunk_pages << " page(s) per chunk, growth " << i;
            ASSERT_EQ(elastic_pool_stats_get(pool, &st), 0);
            EXPECT_EQ(st.pinned_bytes - pinned_before, uint64_t(chunk_pages) * pg);
            EXPECT_EQ(st.nb_chunks, uint32_t(i + 1));
            held.insert(held.end(), more.begin(), more.end());
        }
        EXPECT_EQ(rec.events.back().pinned, uint64_t(chunk_pages) * pg);
        // Releases give back exactly what pinned_bytes drops by. Buffers of the chunks go
        // first (the base's stay out, so it stays busy).
        const size_t base_bufs = held.size() - 4 * size_t(2 * chunk_pages - 1);
        for (size_t k = base_bufs; k < held.size(); k++)
            EXPECT_EQ(elastic_buf_free(pool, held[k]), 0);
        held.resize(base_bufs);
        for (int i = 4; i >= 1; i--) {
            ASSERT_EQ(elastic_pool_stats_get(pool, &st), 0);
            const uint64_t pinned_before = st.pinned_bytes;
            std::vector<void *> back;
            ASSERT_TRUE(pages_move(-chunk_pages,
                [&] {
                    clk.advance_ms(10'000);
                    ASSERT_EQ(elastic_pool_maintain(pool), 1);
                },
                [&] {
                    for (long k = 0; k < 2 * chunk_pages - 1; k++)
                        back.push_back(elastic_buf_alloc(pool, 1 << 20));
                    for (void *b : back)
                        EXPECT_EQ(elastic_buf_free(pool, b), 0);
                    back.clear();
                })) << chunk_pages << " page(s) per chunk, release " << i;
            ASSERT_EQ(elastic_pool_stats_get(pool, &st), 0);
            EXPECT_EQ(pinned_before - st.pinned_bytes, uint64_t(chunk_pages) * pg);
        }
        EXPECT_EQ(st.pinned_bytes, pg);
        for (void *b : held)
            EXPECT_EQ(elastic_buf_free(pool, b), 0);
        elastic_pool_free(pool);
        EXPECT_TRUE(rec.live().empty());
    }
    // A buffer as large as a chunk of one hugepage no longer fits: its first 4 KiB are the
    // header's.
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = "hk_var_toobig";
    p.base_size = pg;
    p.chunk_size = pg;
    p.wall_size = 4 * pg;
    p.max_buf_size = pg;
    p.flags = ELASTIC_POOL_F_PROVIDER_MEMZONE | ELASTIC_POOL_F_MANUAL_TICK;
    EXPECT_EQ(elastic_pool_create(&p), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
}

// This process's own telemetry socket (DPDK's v2 protocol: a greeting, then one JSON reply per
// command). Returns the reply, or "" when telemetry is not there.
std::string telemetry(const std::string &cmd)
{
    const std::string path = std::string(rte_eal_get_runtime_dir()) + "/dpdk_telemetry.v2";
    const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (fd < 0)
        return "";
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path.c_str());
    std::string out;
    std::vector<char> buf(1 << 16);
    if (connect(fd, reinterpret_cast<sockaddr *>(&sun), sizeof(sun)) == 0 &&
        read(fd, buf.data(), buf.size()) > 0 && // the greeting
        write(fd, cmd.data(), cmd.size()) == ssize_t(cmd.size())) {
        const ssize_t n = read(fd, buf.data(), buf.size());
        if (n > 0)
            out.assign(buf.data(), size_t(n));
    }
    close(fd);
    return out;
}

// The number after "key": in a telemetry reply, or -1.
long long json_u64(const std::string &reply, const char *key)
{
    const std::string k = std::string("\"") + key + "\":";
    const size_t at = reply.find(k);
    return at == std::string::npos ? -1 : std::atoll(reply.c_str() + at + k.size());
}

// Sum of the numbers of the array "key": [a,b,...] in a telemetry reply, or -1.
long long json_sum(const std::string &reply, const char *key)
{
    const std::string k = std::string("\"") + key + "\":[";
    size_t at = reply.find(k);
    if (at == std::string::npos)
        return -1;
    at += k.size();
    long long sum = 0;
    while (at < reply.size() && reply[at] != ']') {
        char *end = nullptr;
        sum += std::strtoll(reply.c_str() + at, &end, 10);
        at = size_t(end - reply.c_str());
        if (at < reply.size() && reply[at] == ',')
            at++;
        else if (at < reply.size() && reply[at] != ']')
            return -1;
    }
    return sum;
}

// Chunks smaller than a hugepage: each lies inside one page and they pack into shared pages
// (aligned to their own size, not to a hugepage each: 32 of 64 KiB map at most 3 new pages,
// where page-aligned ones mapped 32 to 64); pinned_bytes counts their bytes.
TEST(TruePages, SubPageChunksPackIntoSharedHugepages)
{
    if (no_huge())
        GTEST_SKIP() << "no hugepages (--no-huge): no hugepage files to count";
    constexpr uint64_t pg = RTE_PGSIZE_2M;
    constexpr size_t chunk = 64 * 1024;
    constexpr int grown = 32;
    recorder rec;
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = "hk_subpage";
    p.base_size = chunk;
    p.chunk_size = chunk;
    p.wall_size = (grown + 1) * chunk;
    p.flags = ELASTIC_POOL_F_PROVIDER_MEMZONE | ELASTIC_POOL_F_MANUAL_TICK;
    p.chunk_hook = recorder::hook;
    p.chunk_hook_arg = &rec;
    const long files0 = own_hugepage_files();
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    std::vector<void *> bufs;
    for (int i = 0; i <= grown; i++) {
        void *b = elastic_buf_alloc(pool, chunk);
        ASSERT_NE(b, nullptr) << i;
        bufs.push_back(b);
    }
    elastic_pool_stats st{};
    ASSERT_EQ(elastic_pool_stats_get(pool, &st), 0);
    EXPECT_EQ(st.nb_chunks, uint32_t(grown + 1));
    EXPECT_EQ(st.pinned_bytes, uint64_t(grown + 1) * chunk);
    const long files = own_hugepage_files() - files0;
    constexpr long bound = 1 + long((2 * (grown + 1) * chunk + pg - 1) / pg);
    printf("%d chunks of 64 KiB: %ld new hugepage file(s) (at most %ld)\n", grown + 1, files,
           bound);
    EXPECT_LE(files, bound) << "sub-page chunks each took pages of their own";
    for (const event &e : rec.live()) {
        EXPECT_EQ(e.lo / pg, (e.hi - 1) / pg) << "a chunk crosses a hugepage";
        EXPECT_EQ(e.lo % chunk, 0u) << "aligned to its size";
        EXPECT_EQ(e.pinned, chunk);
    }
    for (void *b : bufs)
        EXPECT_EQ(elastic_buf_free(pool, b), 0);
    elastic_pool_free(pool);
    EXPECT_LE(own_hugepage_files(), files0) << "their pages went back with them";
}

// What telemetry says a pool pins is what this process maps for it: /elastic/info's
// pinned_bytes and the sum of its chunk_sizes equal the stats and move with this process's
// hugepage files (and HugePages_Free, one exact reading in three tries), for a variable-size
// pool of whole-hugepage chunks and for an elastic mbuf pool; the sizing report speaks in whole
// hugepages.
TEST(TruePages, TelemetryPinnedBytesAreTheHugepagesHeld)
{
    if (no_huge())
        GTEST_SKIP() << "no hugepages (--no-huge): no hugepage files to count";
    if (telemetry("/elastic/list").empty())
        GTEST_SKIP() << "no telemetry socket in this process (--no-telemetry?)";
    constexpr uint64_t pg = RTE_PGSIZE_2M;
    fake_clock clk;
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = "hk_tel_var";
    p.base_size = pg;
    p.chunk_size = pg;
    p.wall_size = 5 * pg;
    p.flags = ELASTIC_POOL_F_PROVIDER_MEMZONE | ELASTIC_POOL_F_MANUAL_TICK;
    p.sample_period_ms = 1000;
    p.idle_period_ms = 1000;
    p.headroom_chunks = 0;
    p.clock = fake_clock::read;
    p.clock_ctx = &clk;
    const long files0 = own_hugepage_files();
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    auto check_var = [&](const char *when) {
        elastic_pool_stats st{};
        ASSERT_EQ(elastic_pool_stats_get(pool, &st), 0);
        const std::string r = telemetry("/elastic/info,hk_tel_var");
        EXPECT_EQ(json_u64(r, "pinned_bytes"), (long long)st.pinned_bytes) << when << ": " << r;
        EXPECT_EQ(json_sum(r, "chunk_sizes"), (long long)st.pinned_bytes) << when << ": " << r;
        EXPECT_EQ(uint64_t(own_hugepage_files() - files0) * pg, st.pinned_bytes)
            << when << ": this process's hugepage files";
    };
    check_var("base");
    std::vector<void *> held;
    for (int i = 0; i < 4; i++) {
        void *b = nullptr;
        ASSERT_TRUE(pages_move(1,
            [&] { // one 1 MiB buffer per chunk (its header's 4 KiB take the rest)
                b = elastic_buf_alloc(pool, 1 << 20);
                ASSERT_NE(b, nullptr);
                if (i == 0) { // the base held one already: fill it first
                    held.push_back(b);
                    b = elastic_buf_alloc(pool, 1 << 20);
                    ASSERT_NE(b, nullptr);
                }
            },
            [&] {
                EXPECT_EQ(elastic_buf_free(pool, b), 0);
                if (i == 0) {
                    EXPECT_EQ(elastic_buf_free(pool, held.back()), 0);
                    held.pop_back();
                }
                clk.advance_ms(10'000);
                elastic_pool_trim(pool);
            })) << "growth " << i;
        held.push_back(b);
        check_var("after a growth");
    }
    elastic_pool_sizing sz{};
    ASSERT_EQ(elastic_pool_sizing_get(pool, &sz), 0);
    EXPECT_EQ(sz.static_bytes, uint64_t(sz.hugepages_2m) * pg) << "the sizing report's pages";
    EXPECT_EQ(sz.recommended_base % pg, 0u);
    const std::string rv = telemetry("/elastic/info,hk_tel_var");
    for (void *b : held)
        EXPECT_EQ(elastic_buf_free(pool, b), 0);
    clk.advance_ms(10'000);
    EXPECT_EQ(elastic_pool_trim(pool), 4);
    check_var("after the releases");
    elastic_pool_free(pool);
    EXPECT_EQ(own_hugepage_files(), files0);

    // An elastic mbuf pool: 800 mbufs a chunk, one hugepage each.
    auto mpp = manual_params(800, 800, &clk);
    mpp.idle_period_ms = 1000;
    mpp.headroom_chunks = 0;
    rte_mempool *mp = elastic_pktmbuf_pool_create("hk_tel_mp", 4 * 800, 0, 0, data_room,
                                                  SOCKET_ID_ANY, &mpp);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    // (The mempool's own structures may take a page besides its base: counted from here on.)
    const long mfiles0 = own_hugepage_files();
    const uint64_t base_pinned = stats_of(mp).pinned_bytes;
    EXPECT_EQ(base_pinned % pg, 0u);
    auto check_mp = [&](const char *when) {
        const auto st = stats_of(mp);
        const std::string r = telemetry("/elastic/info,hk_tel_mp");
        EXPECT_EQ(json_u64(r, "pinned_bytes"), (long long)st.pinned_bytes) << when << ": " << r;
        EXPECT_EQ(json_sum(r, "chunk_sizes"), (long long)st.pinned_bytes) << when << ": " << r;
        EXPECT_EQ(uint64_t(own_hugepage_files() - mfiles0) * pg, st.pinned_bytes - base_pinned)
            << when;
    };
    check_mp("base");
    auto v = alloc_all(mp, 800);
    for (int i = 0; i < 3; i++) {
        std::vector<rte_mbuf *> more;
        ASSERT_TRUE(pages_move(long(stats_of(mp).chunk_size / pg),
            [&] { more = alloc_all(mp, 800); },
            [&] {
                free_all(more);
                clk.advance_ms(10'000);
                elastic_mempool_trim(mp);
            })) << "mempool growth " << i;
        v.insert(v.end(), more.begin(), more.end());
        check_mp("after a growth");
    }
    free_all(v);
    clk.advance_ms(10'000);
    EXPECT_EQ(elastic_mempool_trim(mp), 3);
    check_mp("after the releases");
    rte_mempool_free(mp);
    EXPECT_LE(own_hugepage_files(), mfiles0 - long(base_pinned / pg));
    EXPECT_NE(rv.find("\"pinned_bytes\":"), std::string::npos);
}

} // namespace

ELASTIC_EAL_TEST_MAIN("chunk_hooks")
