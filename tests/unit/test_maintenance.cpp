// SPDX-License-Identifier: BSD-3-Clause
// The maintenance service without the EAL: a thread drives the passes (started with the first
// pool, stopped with the last); ELASTIC_MAINTENANCE=manual or maintenance_set_mode() leaves the
// passes to elastic_maintenance_run(); pools created and freed while passes run every
// millisecond are never touched after free (run this under ASan: -Db_sanitize=address).

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <elasticpool.h>

#include "maintenance.hpp"
#include "unit_common.hpp"

namespace {

using elastic::detail::maint_driver;
using elastic::detail::maint_mode;
using elastic::detail::maintenance_info;
using namespace elastic::test;

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(5000))
{
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// Heap provider, automatic ticks: tick 2 ms, sample 10 ms, idle 20 ms.
elastic_pool_params auto_params(const std::string &name)
{
    elastic_pool_params p = heap_params(name, 64 * KiB, 64 * KiB, 320 * KiB);
    p.flags = ELASTIC_POOL_F_PROVIDER_HEAP;
    p.max_buf_size = 64 * KiB;
    p.tick_ms = 2;
    p.sample_period_ms = 10;
    p.idle_period_ms = 20;
    return p;
}

void grow_to_four(elastic_pool *pool)
{
    std::vector<void *> bufs;
    for (int i = 0; i < 4; i++) {
        bufs.push_back(elastic_buf_alloc(pool, 64 * KiB));
        ASSERT_NE(bufs.back(), nullptr);
    }
    ASSERT_EQ(stats_of(pool).nb_chunks, 4u);
    for (void *b : bufs)
        ASSERT_EQ(elastic_buf_free(pool, b), 0);
}

TEST(Maintenance, ParseMode)
{
    maint_mode m{};
    EXPECT_EQ(elastic::detail::maintenance_parse_mode("service", &m), 0);
    EXPECT_EQ(m, maint_mode::service);
    EXPECT_EQ(elastic::detail::maintenance_parse_mode("auto", &m), 0);
    EXPECT_EQ(m, maint_mode::automatic);
    EXPECT_EQ(elastic::detail::maintenance_parse_mode("manual", &m), 0);
    EXPECT_EQ(m, maint_mode::manual);
    EXPECT_EQ(elastic::detail::maintenance_parse_mode("sometimes", &m), -EINVAL);
    EXPECT_EQ(elastic::detail::maintenance_parse_mode(nullptr, &m), -EINVAL);
}

TEST(Maintenance, ThreadDrivesPassesWithoutEal)
{
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
    const std::string name = unique_name("thr");
    elastic_pool_params p = auto_params(name);
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(maintenance_info().driver, maint_driver::thread);
    EXPECT_EQ(maintenance_info().members, 1u);
    grow_to_four(pool.get());
    EXPECT_TRUE(wait_until([&] { return stats_of(pool.get()).nb_chunks == 1; }));
    EXPECT_EQ(stats_of(pool.get()).nb_shrinks, 3u);
    EXPECT_NE(maintenance_info().last_tid, int(gettid()));
    pool.reset();
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
    EXPECT_EQ(maintenance_info().members, 0u);
}

TEST(Maintenance, ManualModeFromTheEnvironment)
{
    ASSERT_EQ(setenv("ELASTIC_MAINTENANCE", "manual", 1), 0);
    const std::string name = unique_name("man");
    elastic_pool_params p = auto_params(name);
    p.tick_ms = 1;
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr);
    unsetenv("ELASTIC_MAINTENANCE");
    EXPECT_EQ(maintenance_info().driver, maint_driver::manual);
    grow_to_four(pool.get());
    const uint64_t passes0 = maintenance_info().passes;
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    EXPECT_EQ(maintenance_info().passes, passes0); // nothing automatic
    EXPECT_EQ(stats_of(pool.get()).nb_chunks, 4u);
    // The application's loop: one pass every millisecond.
    int ticked = 0;
    EXPECT_TRUE(wait_until([&] {
        const int n = elastic_maintenance_run();
        EXPECT_GE(n, 0);
        ticked += n;
        return stats_of(pool.get()).nb_chunks == 1;
    }));
    EXPECT_GT(ticked, 0);
    EXPECT_EQ(maintenance_info().last_tid, int(gettid()));
    // A pass right after a pass: the 1 ms tick is not due yet.
    EXPECT_EQ(elastic_maintenance_run(), 0);
    pool.reset();
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
}

TEST(Maintenance, SetModeOnlyWithoutMembers)
{
    const std::string name = unique_name("mode");
    elastic_pool_params p = auto_params(name);
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(elastic::detail::maintenance_set_mode(maint_mode::manual), -EBUSY);
    pool.reset();
    ASSERT_EQ(elastic::detail::maintenance_set_mode(maint_mode::manual), 0);
    pool.reset(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(maintenance_info().driver, maint_driver::manual);
    pool.reset();
    ASSERT_EQ(elastic::detail::maintenance_set_mode(maint_mode::automatic), 0);
    pool.reset(elastic_pool_create(&p));
    EXPECT_EQ(maintenance_info().driver, maint_driver::thread);
}

// A tick (here a member of our own, as the elastic mempool driver registers) removes itself,
// frees a pool and creates another: all from inside a pass, on the maintenance thread.
struct reentry {
    elastic_pool *victim = nullptr;
    elastic_pool *created = nullptr;
    std::string name;
    int tid = 0;
    int run_rc = 0;
    int ticks = 0;
    std::atomic<bool> done{false};
};

void reentry_tick(void *ctx, uint64_t) noexcept
{
    auto *x = static_cast<reentry *>(ctx);
    if (x->ticks++ > 0) {
        ADD_FAILURE() << "ticked after removing itself";
        return;
    }
    x->tid = int(gettid());
    x->run_rc = elastic_maintenance_run();
    elastic::detail::maintenance_remove(x); // itself, from its own tick
    elastic_pool_free(x->victim);           // another member
    elastic_pool_params q = auto_params(x->name);
    x->created = elastic_pool_create(&q);
    x->done = true;
}

TEST(Maintenance, TickMayRemoveItselfFreeAndCreatePools)
{
    const std::string name = unique_name("victim");
    elastic_pool_params p = auto_params(name);
    reentry r;
    r.victim = elastic_pool_create(&p);
    ASSERT_NE(r.victim, nullptr);
    r.name = unique_name("reent-new");
    elastic::detail::maintenance_add(reentry_tick, &r, elastic::test::ns_ms);
    // (No count of members here: the thread may already have run the tick, which removes
    // itself, before this line; under TSan it often does.)
    ASSERT_TRUE(wait_until([&] { return r.done.load(); }));
    EXPECT_NE(r.tid, int(gettid()));  // it ran on the maintenance thread
    EXPECT_EQ(r.run_rc, -EDEADLK);    // no nested pass
    ASSERT_NE(r.created, nullptr);
    pool_ptr keep(r.created);
    EXPECT_EQ(elastic_pool_lookup(name.c_str()), nullptr);
    EXPECT_EQ(maintenance_info().members, 1u);
    EXPECT_EQ(maintenance_info().driver, maint_driver::thread);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(r.ticks, 1);
}

TEST(Maintenance, PoolsCreatedAndFreedWhileTheThreadRuns)
{
    const uint64_t passes0 = maintenance_info().passes;
    auto worker = [](int id) {
        for (int i = 0; i < 200; i++) {
            const std::string name = unique_name(id == 0 ? "churn-a" : "churn-b");
            elastic_pool_params p = auto_params(name);
            p.tick_ms = 1;
            p.sample_period_ms = 1;
            p.idle_period_ms = 1;
            p.headroom_chunks = 0;
            elastic_pool *pool = elastic_pool_create(&p);
            ASSERT_NE(pool, nullptr);
            void *a = elastic_buf_alloc(pool, 64 * KiB);
            void *b = elastic_buf_alloc(pool, 64 * KiB);
            ASSERT_NE(a, nullptr);
            ASSERT_NE(b, nullptr);
            EXPECT_EQ(elastic_buf_free(pool, b), 0);
            std::this_thread::sleep_for(std::chrono::microseconds(150 * (i % 8)));
            EXPECT_EQ(elastic_buf_free(pool, a), 0);
            elastic_pool_free(pool);
        }
    };
    std::thread t0(worker, 0), t1(worker, 1);
    t0.join();
    t1.join();
    EXPECT_GT(maintenance_info().passes, passes0);
    EXPECT_EQ(maintenance_info().members, 0u);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
}

} // namespace
