/* SPDX-License-Identifier: BSD-3-Clause */
// Two lcores get and put bursts on one elastic pool while a maintenance thread grows it ahead
// of need and releases idle chunks (millisecond periods, real clock). Every object carries a
// stamp: the owner's id while it is out, 0 while it is in the pool; a getter that finds a
// non-zero stamp got an object twice, a putter that finds a stamp not its own lost it (its
// chunk was released and regrown under it). Run it under ASan and TSan builds too.

#include "test_mempool_common.hpp"

#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

using namespace elastic::test;

namespace {

struct stamped {
    std::atomic<uint32_t> owner;
    uint32_t gets;
};

struct run_ctx {
    rte_mempool *mp;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> dup{0};
    std::atomic<uint64_t> lost{0};
    std::atomic<uint64_t> ops{0};
    std::atomic<uint64_t> refused{0};
};

int worker(void *arg)
{
    auto *c = static_cast<run_ctx *>(arg);
    const uint32_t me = rte_lcore_id() + 1;
    std::mt19937 rng(me * 7919u);
    std::vector<void *> held;
    held.reserve(8192);
    void *burst[32];
    uint64_t ops = 0;
    while (!c->stop.load(std::memory_order_relaxed)) {
        // Ramp the number held up to a random peak and back to zero: growth, then idle chunks.
        const size_t peak = 256 + rng() % 5000;
        for (int dir = 0; dir < 2 && !c->stop.load(std::memory_order_relaxed); dir++) {
            for (;;) {
                const unsigned n = 1 + rng() % 32;
                if (dir == 0 && held.size() < peak) {
                    if (rte_mempool_get_bulk(c->mp, burst, n) != 0) {
                        c->refused++;
                        break;
                    }
                    for (unsigned i = 0; i < n; i++) {
                        auto *o = static_cast<stamped *>(burst[i]);
                        if (o->owner.exchange(me) != 0)
                            c->dup++;
                        o->gets++;
                        held.push_back(o);
                    }
                } else if (dir == 1 && !held.empty()) {
                    const unsigned k = std::min<size_t>(n, held.size());
                    for (unsigned i = 0; i < k; i++) {
                        burst[i] = held.back();
                        held.pop_back();
                        if (static_cast<stamped *>(burst[i])->owner.exchange(0) != me)
                            c->lost++;
                    }
                    rte_mempool_put_bulk(c->mp, burst, k);
                } else {
                    break;
                }
                ops++;
            }
        }
        elastic_mempool_cache_flush(c->mp);
        std::this_thread::sleep_for(std::chrono::microseconds(500 + rng() % 3000));
    }
    for (void *o : held)
        if (static_cast<stamped *>(o)->owner.exchange(0) != me)
            c->lost++;
    if (!held.empty())
        rte_mempool_put_bulk(c->mp, held.data(), held.size());
    elastic_mempool_cache_flush(c->mp);
    c->ops += ops;
    return 0;
}

void stress(unsigned cache_size, const char *name)
{
    if (rte_lcore_count() < 2)
        GTEST_SKIP() << "needs two lcores";
    elastic_mempool_params p;
    elastic_mempool_params_init(&p);
    p.base_objs = 512;
    p.chunk_objs = 512;
    p.flags = ELASTIC_MEMPOOL_F_MANUAL_TICK;
    p.low_watermark = 128;
    p.sample_period_ms = 1;
    p.idle_period_ms = 3;
    p.headroom_chunks = 0;
    rte_mempool *mp = elastic_mempool_create(
        name, 16384, sizeof(stamped), cache_size, 0, nullptr, nullptr,
        [](rte_mempool *, void *, void *obj, unsigned) {
            auto *o = static_cast<stamped *>(obj);
            o->owner.store(0);
            o->gets = 0;
        },
        nullptr, SOCKET_ID_ANY, 0, &p);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    run_ctx c;
    c.mp = mp;
    std::thread maint([&c] {
        while (!c.stop.load(std::memory_order_relaxed)) {
            elastic_mempool_maintain(c.mp);
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    });
    const unsigned other = rte_get_next_lcore(-1, 1, 0);
    ASSERT_EQ(rte_eal_remote_launch(worker, &c, other), 0);
    std::thread stopper([&c] {
        const char *env = getenv("ELASTIC_STRESS_MS");
        std::this_thread::sleep_for(std::chrono::milliseconds(env ? atoi(env) : 3000));
        c.stop = true;
    });
    worker(&c); // the main lcore is the second one
    rte_eal_wait_lcore(other);
    stopper.join();
    maint.join();

    const auto st = stats_of(mp);
    const auto xs = xstats_of(mp);
    std::printf("[stress %s] ops %lu, grows %lu (datapath %lu, maintenance %lu), shrinks %lu, "
                "retired %lu, unretired %lu, refused %lu, peak chunks pinned %lu MiB\n", name,
                (unsigned long)c.ops.load(), (unsigned long)st.nb_grows,
                (unsigned long)xs.nb_grow_datapath, (unsigned long)xs.nb_grow_maintenance,
                (unsigned long)st.nb_shrinks, (unsigned long)xs.nb_retire,
                (unsigned long)xs.nb_unretire, (unsigned long)c.refused.load(),
                (unsigned long)(st.peak_pinned_bytes >> 20));
    EXPECT_EQ(c.dup.load(), 0u);
    EXPECT_EQ(c.lost.load(), 0u);
    EXPECT_GT(st.nb_grows, 0u);
    EXPECT_GT(st.nb_shrinks, 0u);
    EXPECT_EQ(st.nb_allocs, st.nb_frees);
    EXPECT_EQ(rte_mempool_avail_count(mp), mp->size);
    // Every object that exists is in the store, each once, with its stamp cleared.
    std::vector<void *> all(xs.populated);
    ASSERT_EQ(xs.free_objs + xs.parked_objs, xs.populated);
    ASSERT_EQ(rte_mempool_get_bulk(mp, all.data(), all.size()), 0);
    std::sort(all.begin(), all.end());
    EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
    for (void *o : all)
        EXPECT_EQ(static_cast<stamped *>(o)->owner.load(), 0u);
    rte_mempool_put_bulk(mp, all.data(), all.size());
    rte_mempool_free(mp);
}

TEST(MempoolStress, TwoLcoresNoCache)
{
    stress(0, "mps_nocache");
}

TEST(MempoolStress, TwoLcoresWithCache)
{
    stress(64, "mps_cache");
}

} // namespace

ELASTIC_EAL_TEST_MAIN("mempool_stress")
