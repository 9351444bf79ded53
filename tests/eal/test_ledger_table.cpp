/* SPDX-License-Identifier: BSD-3-Clause */
// One policy table, two faces: every case below is run against a variable-size pool (heap
// provider) and an elastic mempool, both over the one chunk ledger, with a fake clock, and must
// give the same decisions (chunks held, chunks released per tick, the limit that stopped a
// growth).
//
// Each face is driven through the same verbs: fill(k) takes one chunk's worth of units and keeps
// it as "lot" k; put(k) gives lot k back; tick() is one maintenance pass; trim(). The two faces
// are made alike in bytes, so that even the adaptive rule (which counts bytes) decides alike:
// a lot is 64 units of about 32 KiB (64 buffers of 32 KiB, the largest class; 64 objects of
// 32 KiB less a cache line, header included, so that the objects, the chunk's stack of free
// objects and the memzone's malloc header fit one 2 MiB page) and fills a 2 MiB chunk. Chunks are equal (base = chunk), first fit
// in order of addition, so lot k lands in chunk k.
#include "test_mempool_common.hpp"

#include <elastic_numa.h>
#include <elasticpool.h>

#include <rte_errno.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using elastic::test::fake_clock;

constexpr unsigned lot_objs = 64;          // units per chunk
constexpr size_t unit_bytes = 32 * 1024;   // one buffer
constexpr size_t obj_bytes = unit_bytes - RTE_CACHE_LINE_SIZE; // one object, header included
constexpr size_t lot_bytes = lot_objs * unit_bytes;
constexpr unsigned max_chunks = 4;         // the wall, in chunks

struct policy_case {
    const char *name;
    uint32_t headroom = 1;
    bool adaptive = false;
    bool no_shrink = false;
    bool breakeven = false;
};

// One way of driving a pool.
class face {
public:
    virtual ~face() = default;
    virtual const char *kind() const = 0;
    // 0 or -errno (rte_errno) when the lot cannot be taken.
    virtual int fill(int lot) = 0;
    virtual void put(int lot) = 0;
    virtual int tick() = 0;
    virtual int trim() = 0;
    virtual elastic_pool_stats stats() = 0;
    virtual elastic_pool_sizing sizing() = 0;
    virtual bool retiring() = 0;
    virtual size_t unit() const = 0; // bytes of one unit in the stats
    fake_clock clk;
};

class var_face final : public face {
public:
    explicit var_face(const policy_case &c)
    {
        static int seq;
        name_ = "lt_var" + std::to_string(seq++);
        elastic_pool_params p;
        elastic_pool_params_init(&p);
        p.name = name_.c_str();
        p.socket_id = 0;
        p.base_size = lot_bytes;
        p.chunk_size = lot_bytes;
        p.wall_size = max_chunks * lot_bytes;
        p.max_buf_size = unit_bytes;
        p.tick_ms = 500;
        p.sample_period_ms = 1000;
        p.idle_period_ms = 5000;
        p.headroom_chunks = c.headroom;
        p.flags = ELASTIC_POOL_F_PROVIDER_HEAP | ELASTIC_POOL_F_MANUAL_TICK |
                  (c.adaptive ? ELASTIC_POOL_F_ADAPTIVE : 0) |
                  (c.breakeven ? ELASTIC_POOL_F_BREAKEVEN : 0) |
                  (c.no_shrink ? ELASTIC_POOL_F_NO_SHRINK : 0);
        p.clock = fake_clock::read;
        p.clock_ctx = &clk;
        pool_ = elastic_pool_create(&p);
        EXPECT_NE(pool_, nullptr) << rte_strerror(rte_errno);
    }
    ~var_face() override
    {
        for (auto &kv : lots_)
            for (void *b : kv.second)
                elastic_buf_free(pool_, b);
        elastic_pool_free(pool_);
    }
    const char *kind() const override { return "variable-size"; }
    size_t unit() const override { return unit_bytes; }
    int fill(int lot) override
    {
        std::vector<void *> bufs;
        for (unsigned i = 0; i < lot_objs; i++) {
            void *b = elastic_buf_alloc(pool_, unit_bytes);
            if (b == nullptr) {
                const int err = rte_errno;
                for (void *x : bufs)
                    elastic_buf_free(pool_, x);
                return -err;
            }
            bufs.push_back(b);
        }
        lots_[lot] = std::move(bufs);
        return 0;
    }
    void put(int lot) override
    {
        for (void *b : lots_.at(lot))
            EXPECT_EQ(elastic_buf_free(pool_, b), 0);
        lots_.erase(lot);
    }
    int tick() override { return elastic_pool_maintain(pool_); }
    int trim() override { return elastic_pool_trim(pool_); }
    elastic_pool_stats stats() override
    {
        elastic_pool_stats st{};
        EXPECT_EQ(elastic_pool_stats_get(pool_, &st), 0);
        return st;
    }
    elastic_pool_sizing sizing() override
    {
        elastic_pool_sizing sz{};
        EXPECT_EQ(elastic_pool_sizing_get(pool_, &sz), 0);
        return sz;
    }
    bool retiring() override
    {
        // The variable-size face keeps the retiring state internal; telemetry shows it. Here
        // the observable effect is used: nothing is handed out of a retiring last chunk.
        return false;
    }

private:
    std::string name_;
    elastic_pool *pool_ = nullptr;
    std::map<int, std::vector<void *>> lots_;
};

class mempool_face final : public face {
public:
    explicit mempool_face(const policy_case &c) : single_(c.breakeven)
    {
        static int seq;
        const std::string name = "lt_mp" + std::to_string(seq++);
        elastic_mempool_params p = elastic::test::manual_params(lot_objs, lot_objs, &clk);
        p.headroom_chunks = c.headroom;
        p.flags |= (c.adaptive ? ELASTIC_MEMPOOL_F_ADAPTIVE : 0) |
                   (c.breakeven ? ELASTIC_MEMPOOL_F_BREAKEVEN : 0) |
                   (c.no_shrink ? ELASTIC_MEMPOOL_F_NO_SHRINK : 0);
        p.low_watermark = 0;
        // Objects of exactly unit_bytes with their header: no spreading over memory channels.
        const unsigned elt = unsigned(obj_bytes) - RTE_CACHE_LINE_SIZE;
        mp_ = elastic_mempool_create(name.c_str(), max_chunks * lot_objs, elt, 0, 0, nullptr,
                                     nullptr, nullptr, nullptr, 0, RTE_MEMPOOL_F_NO_SPREAD, &p);
        EXPECT_NE(mp_, nullptr) << rte_strerror(rte_errno);
        if (mp_ != nullptr) {
            EXPECT_EQ(mp_->header_size + mp_->elt_size + mp_->trailer_size, obj_bytes);
        }
    }
    ~mempool_face() override
    {
        for (auto &kv : lots_)
            rte_mempool_put_bulk(mp_, kv.second.data(), unsigned(kv.second.size()));
        rte_mempool_free(mp_);
    }
    const char *kind() const override { return "mempool"; }
    size_t unit() const override { return obj_bytes; }
    int fill(int lot) override
    {
        std::vector<void *> objs(lot_objs);
        // The break-even margin counts the largest request: take the lot one object per get,
        // as the variable-size face takes one buffer per allocation, so both see one unit.
        if (single_) {
            for (unsigned i = 0; i < lot_objs; i++)
                if (rte_mempool_get(mp_, &objs[i]) != 0) {
                    if (i != 0)
                        rte_mempool_put_bulk(mp_, objs.data(), i);
                    return -ENOBUFS;
                }
        } else if (rte_mempool_get_bulk(mp_, objs.data(), lot_objs) != 0) {
            return -ENOBUFS;
        }
        lots_[lot] = std::move(objs);
        return 0;
    }
    void put(int lot) override
    {
        auto &v = lots_.at(lot);
        rte_mempool_put_bulk(mp_, v.data(), unsigned(v.size()));
        lots_.erase(lot);
    }
    int tick() override { return elastic_mempool_maintain(mp_); }
    int trim() override { return elastic_mempool_trim(mp_); }
    elastic_pool_stats stats() override { return elastic::test::stats_of(mp_); }
    elastic_pool_sizing sizing() override
    {
        elastic_pool_sizing sz{};
        EXPECT_EQ(elastic_mempool_sizing_get(mp_, &sz), 0);
        return sz;
    }
    bool retiring() override { return elastic::test::xstats_of(mp_).retiring != 0; }

private:
    bool single_ = false;
    rte_mempool *mp_ = nullptr;
    std::map<int, std::vector<void *>> lots_;
};

std::unique_ptr<face> make(const std::string &kind, const policy_case &c)
{
    if (kind == "var")
        return std::make_unique<var_face>(c);
    return std::make_unique<mempool_face>(c);
}

class LedgerTable : public ::testing::TestWithParam<std::string> {};

// Growth on demand, one chunk per lot, up to the wall; the wall refuses with ENOBUFS and says so.
TEST_P(LedgerTable, GrowsToTheWallThenRefuses)
{
    auto f = make(GetParam(), policy_case{"wall"});
    for (int k = 0; k < int(max_chunks); k++) {
        ASSERT_EQ(f->fill(k), 0) << f->kind() << " lot " << k;
        EXPECT_EQ(f->stats().nb_chunks, uint32_t(k + 1));
    }
    EXPECT_EQ(f->fill(99), -ENOBUFS);
    const elastic_pool_stats st = f->stats();
    EXPECT_EQ(st.nb_grows, max_chunks - 1);
    EXPECT_GE(st.nb_wall_hits, 1u);
    EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_WALL));
    EXPECT_EQ(st.node, 0);
}

// The patent rule: one chunk per sample, only when the last is empty and idle for the idle
// period and the one before it (headroom 1) is idle too; the base never goes.
TEST_P(LedgerTable, PatentReleasesOnePerSampleAfterIdle)
{
    auto f = make(GetParam(), policy_case{"patent"});
    for (int k = 0; k < 4; k++)
        ASSERT_EQ(f->fill(k), 0);
    for (int k = 3; k >= 1; k--)
        f->put(k);
    // Idle 4 s of 5: nothing goes, whatever the samples say.
    for (int s = 0; s < 4; s++) {
        f->clk.advance_ms(1000);
        EXPECT_EQ(f->tick(), 0) << f->kind() << " second " << s + 1;
    }
    EXPECT_EQ(f->stats().nb_chunks, 4u);
    f->clk.advance_ms(1000); // 5 s idle: chunk 3 goes
    EXPECT_EQ(f->tick(), 1) << f->kind();
    EXPECT_EQ(f->tick(), 0) << f->kind() << ": no second release within the sample";
    f->clk.advance_ms(1000); // next sample: chunk 2
    EXPECT_EQ(f->tick(), 1) << f->kind();
    f->clk.advance_ms(1000); // chunk 1 goes: its headroom is the base, idle since the start
    EXPECT_EQ(f->tick(), 1) << f->kind();
    f->clk.advance_ms(1000);
    EXPECT_EQ(f->tick(), 0) << f->kind() << ": the base stays";
    const elastic_pool_stats st = f->stats();
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.nb_shrinks, 3u);
}

// The next-to-last chunk served recently: the last stays as headroom's guard.
TEST_P(LedgerTable, HeadroomKeepsTheLastWhileTheOneBeforeIsBusy)
{
    auto f = make(GetParam(), policy_case{"headroom"});
    for (int k = 0; k < 3; k++)
        ASSERT_EQ(f->fill(k), 0);
    f->put(2);
    // Chunk 1 keeps allocating: put and take its lot every second.
    for (int s = 0; s < 8; s++) {
        f->clk.advance_ms(1000);
        f->put(1);
        ASSERT_EQ(f->fill(1), 0);
        EXPECT_EQ(f->tick(), 0) << f->kind() << " second " << s + 1;
    }
    EXPECT_EQ(f->stats().nb_chunks, 3u);
    // With headroom 0 the same history releases at once.
    auto g = make(GetParam(), policy_case{"headroom0", 0});
    for (int k = 0; k < 3; k++)
        ASSERT_EQ(g->fill(k), 0);
    g->put(2);
    for (int s = 0; s < 5; s++) {
        g->clk.advance_ms(1000);
        g->put(1);
        ASSERT_EQ(g->fill(1), 0);
        g->tick();
    }
    EXPECT_EQ(g->stats().nb_chunks, 2u) << g->kind();
}

// A last chunk that is idle but still holds a lot is not released; once the lot is back, the
// release follows at the next tick (mempools: through the retiring state).
TEST_P(LedgerTable, BusyLastChunkGoesWhenItsUnitsAreHome)
{
    auto f = make(GetParam(), policy_case{"busy"});
    for (int k = 0; k < 3; k++)
        ASSERT_EQ(f->fill(k), 0);
    f->put(1);
    for (int s = 0; s < 6; s++) {
        f->clk.advance_ms(1000);
        EXPECT_EQ(f->tick(), 0) << f->kind() << " second " << s + 1;
    }
    EXPECT_EQ(f->stats().nb_chunks, 3u);
    f->put(2);
    f->clk.advance_ms(500);
    EXPECT_EQ(f->tick(), 1) << f->kind();
    EXPECT_EQ(f->stats().nb_chunks, 2u);
}

// The clock going backwards makes nothing idle.
TEST_P(LedgerTable, ClockBackwardsReleasesNothing)
{
    auto f = make(GetParam(), policy_case{"backwards"});
    for (int k = 0; k < 3; k++)
        ASSERT_EQ(f->fill(k), 0);
    f->put(2);
    f->put(1);
    f->clk.ns -= 60'000'000'000ull;
    for (int s = 0; s < 4; s++) {
        f->clk.advance_ms(1000);
        EXPECT_EQ(f->tick(), 0) << f->kind();
    }
    EXPECT_EQ(f->trim(), 0);
    EXPECT_EQ(f->stats().nb_chunks, 3u);
}

// No-shrink pools keep every chunk; trim gives nothing back either.
TEST_P(LedgerTable, NoShrinkKeepsEverything)
{
    policy_case c{"noshrink"};
    c.no_shrink = true;
    auto f = make(GetParam(), c);
    for (int k = 0; k < 3; k++)
        ASSERT_EQ(f->fill(k), 0);
    f->put(2);
    f->put(1);
    for (int s = 0; s < 12; s++) {
        f->clk.advance_ms(1000);
        EXPECT_EQ(f->tick(), 0);
    }
    EXPECT_EQ(f->trim(), 0);
    EXPECT_EQ(f->stats().nb_chunks, 3u);
}

// Trim releases at once every chunk the idle/headroom rule allows, no sample needed.
TEST_P(LedgerTable, TrimReleasesAllTheRuleAllows)
{
    auto f = make(GetParam(), policy_case{"trim"});
    for (int k = 0; k < 4; k++)
        ASSERT_EQ(f->fill(k), 0);
    for (int k = 3; k >= 1; k--)
        f->put(k);
    EXPECT_EQ(f->trim(), 0) << f->kind() << ": nothing idle yet";
    f->clk.advance_ms(5000);
    EXPECT_EQ(f->trim(), 3) << f->kind();
    EXPECT_EQ(f->stats().nb_chunks, 1u);
}

// The adaptive rule counts bytes; both faces see the same bytes, so they must release the same
// chunks at the same samples, down to the base once demand has been gone for the hold window.
TEST(LedgerTableAdaptive, BothFacesDecideAlike)
{
    policy_case c{"adaptive"};
    c.adaptive = true;
    std::vector<int> seq[2];
    const char *kinds[2] = {"var", "mempool"};
    for (int i = 0; i < 2; i++) {
        auto f = make(kinds[i], c);
        for (int k = 0; k < 4; k++)
            ASSERT_EQ(f->fill(k), 0);
        for (int k = 3; k >= 0; k--)
            f->put(k);
        for (int s = 0; s < 30; s++) {
            f->clk.advance_ms(1000);
            seq[i].push_back(f->tick());
        }
        EXPECT_EQ(f->stats().nb_chunks, 1u) << kinds[i];
        EXPECT_EQ(f->stats().nb_shrinks, 3u) << kinds[i];
    }
    EXPECT_EQ(seq[0], seq[1]);
    // Nothing goes in the first sample period: the chunks served within it.
    EXPECT_EQ(seq[0].at(0), 0);
}

// The sizing report: the peak demand of both faces, in bytes, and the walls they recommend.
TEST_P(LedgerTable, SizingReportSeesThePeak)
{
    auto f = make(GetParam(), policy_case{"sizing"});
    for (int k = 0; k < 3; k++)
        ASSERT_EQ(f->fill(k), 0);
    f->clk.advance_ms(1000);
    f->tick();
    for (int k = 2; k >= 0; k--)
        f->put(k);
    f->clk.advance_ms(1000);
    f->tick();
    const elastic_pool_sizing sz = f->sizing();
    EXPECT_EQ(sz.peak_in_use_bytes, 3 * lot_objs * f->unit()) << f->kind();
    EXPECT_EQ(sz.peak_demand_bytes, 3 * lot_objs * f->unit()) << f->kind();
    // Peak x 1.25 in whole chunks above a base of one 2 MiB page: 7.5 MiB -> 8 MiB.
    EXPECT_EQ(sz.recommended_wall, 4 * lot_bytes) << f->kind();
    EXPECT_EQ(sz.epochs, 2u) << f->kind();
}

// A node budget refuses a growth like the wall, and says NODE_CAP.
TEST_P(LedgerTable, NodeBudgetRefusesLikeTheWall)
{
    auto f = make(GetParam(), policy_case{"budget"});
    ASSERT_EQ(f->fill(0), 0);
    elastic_numa_node_stats ns{};
    ASSERT_EQ(elastic_numa_node_stats_get(0, &ns), 0);
    // Room for less than one more chunk on node 0.
    ASSERT_EQ(elastic_numa_node_cap_set(0, ns.pinned_bytes + 1), 0);
    const int rc = f->fill(1);
    ASSERT_EQ(elastic_numa_node_cap_set(0, 0), 0);
    EXPECT_EQ(rc, -ENOBUFS) << f->kind();
    const elastic_pool_stats st = f->stats();
    EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_NODE_CAP)) << f->kind();
    EXPECT_EQ(st.nb_cap_hits, 1u);
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(f->fill(1), 0) << f->kind() << ": the cap removed, growth works again";
}

// Memory pressure (a callback here): the idle period does not count, the headroom does. Both
// faces release at the next tick every empty trailing chunk but the one chunk of free room that
// headroom 1 keeps; a chunk with units out retires and goes when they are home.
int pressure_on(int, void *ctx) { return *static_cast<int *>(ctx); }

TEST_P(LedgerTable, MemoryPressureReleasesAtOnceKeepingTheHeadroom)
{
    auto f = make(GetParam(), policy_case{"pressure"});
    for (int k = 0; k < 4; k++)
        ASSERT_EQ(f->fill(k), 0);
    f->put(3);
    f->put(2);
    int on = 0;
    ASSERT_EQ(elastic_memory_pressure_callback_set(pressure_on, &on), 0);
    f->clk.advance_ms(500);
    EXPECT_EQ(f->tick(), 0) << f->kind() << ": no pressure, nothing idle";
    on = 1;
    f->clk.advance_ms(500);
    EXPECT_EQ(f->tick(), 1) << f->kind() << ": chunk 3 goes, chunk 2 is the headroom";
    f->clk.advance_ms(500);
    EXPECT_EQ(f->tick(), 0) << f->kind();
    EXPECT_EQ(f->stats().nb_chunks, 3u);
    // Lot 1 comes home: chunk 2 goes (chunk 1 is now the headroom).
    f->put(1);
    f->clk.advance_ms(500);
    EXPECT_EQ(f->tick(), 1) << f->kind();
    EXPECT_EQ(f->stats().nb_chunks, 2u);
    on = 0;
    ASSERT_EQ(elastic_memory_pressure_callback_set(nullptr, nullptr), 0);
    EXPECT_EQ(f->stats().nb_shrinks, 2u);
}

// The break-even rule counts bytes and draws its thresholds from a fixed seed: both faces,
// driven alike, release the same chunks at the same ticks, all within the idle period (5 s).
TEST(LedgerTableBreakeven, BothFacesDecideAlike)
{
    policy_case c{"breakeven"};
    c.breakeven = true;
    std::vector<int> seq[2];
    const char *kinds[2] = {"var", "mempool"};
    for (int i = 0; i < 2; i++) {
        auto f = make(kinds[i], c);
        for (int k = 0; k < 4; k++)
            ASSERT_EQ(f->fill(k), 0);
        for (int k = 3; k >= 0; k--)
            f->put(k);
        for (int s = 0; s < 24; s++) {
            f->clk.advance_ms(250);
            seq[i].push_back(f->tick());
        }
        EXPECT_EQ(f->stats().nb_chunks, 1u) << kinds[i];
        EXPECT_EQ(f->stats().nb_shrinks, 3u) << kinds[i];
    }
    EXPECT_EQ(seq[0], seq[1]);
}

INSTANTIATE_TEST_SUITE_P(BothFaces, LedgerTable, ::testing::Values("var", "mempool"),
                         [](const auto &info) { return info.param; });

} // namespace

ELASTIC_EAL_TEST_MAIN("ledger_table")
