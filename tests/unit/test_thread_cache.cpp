// SPDX-License-Identifier: BSD-3-Clause
// Per-thread caches of the variable-size face (elastic_pool_params.thread_cache,
// lib/elasticpool/thread_cache.hpp): the hit path and its counters; the FIFO queue at the wall is
// not overtaken and cached buffers serve waiters; the release rule counts cached buffers as free
// and sees cache hits as base allocations (fake clock); a grown (retiring) chunk drains home;
// thread exit returns the buffers; a pool destroyed under live threads' caches; a multi-thread
// stress with content stamps (nothing handed out twice, nothing lost).
#include <array>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "unit_common.hpp"

namespace {

using namespace elastic::test;

constexpr size_t page = 4 * KiB;
constexpr uint64_t tick = 500 * ns_ms;
constexpr uint64_t sample = 60 * ns_s;
constexpr uint64_t idle = 300 * ns_s;

pool_ptr make_pool(const std::string &name, size_t base, size_t chunk, size_t wall,
                   uint32_t cache, fake_clock *clk = nullptr, uint32_t headroom = 1)
{
    auto p = heap_params(name, base, chunk, wall, clk);
    p.thread_cache = cache;
    p.headroom_chunks = headroom;
    pool_ptr pool(elastic_pool_create(&p));
    EXPECT_NE(pool, nullptr) << rte_strerror(rte_errno);
    return pool;
}

// Runs fn in a new thread and joins it (its cache goes home at its exit).
void in_thread(const std::function<void()> &fn)
{
    std::thread t(fn);
    t.join();
}

// A thread that runs steps handed to it one at a time, and stays alive between them.
class worker {
public:
    worker() : t_([this] { loop(); }) {}
    ~worker()
    {
        {
            std::lock_guard g(mu_);
            quit_ = true;
        }
        cv_.notify_all();
        t_.join();
    }
    void run(std::function<void()> fn)
    {
        std::unique_lock g(mu_);
        job_ = std::move(fn);
        cv_.notify_all();
        cv_.wait(g, [&] { return !job_; });
    }

private:
    void loop()
    {
        std::unique_lock g(mu_);
        for (;;) {
            cv_.wait(g, [&] { return quit_ || static_cast<bool>(job_); });
            if (job_) {
                job_();
                job_ = nullptr;
                cv_.notify_all();
                continue;
            }
            return;
        }
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::function<void()> job_;
    bool quit_ = false;
    std::thread t_;
};

TEST(thread_cache, params_are_checked)
{
    const std::string n = unique_name("tc-par");
    auto p = heap_params(n, MiB, MiB, 2 * MiB);
    p.thread_cache = ELASTIC_POOL_THREAD_CACHE_MAX + 1;
    rte_errno = 0;
    EXPECT_EQ(elastic_pool_create(&p), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
    elastic_pool_params d;
    elastic_pool_params_init(&d);
    EXPECT_EQ(d.thread_cache, 0u) << "opt-in: off by default";
    EXPECT_EQ(elastic_pool_thread_cache_flush(nullptr), -EINVAL);
}

TEST(thread_cache, hit_path_serves_from_the_threads_own_cache)
{
    const std::string n = unique_name("tc-hit");
    // Base 1 MiB: a 4 KiB class holds min(8, 1 MiB / 16 / 4 KiB) = 8 per thread.
    pool_ptr pool = make_pool(n, MiB, MiB, 2 * MiB, 8);
    ASSERT_NE(pool, nullptr);
    in_thread([&] {
        void *a = elastic_buf_alloc(pool.get(), page);
        ASSERT_NE(a, nullptr);
        auto st = stats_of(pool.get());
        // The miss took one for the caller and refilled half a cache (4) from the base.
        EXPECT_EQ(st.in_use_bytes, page);
        EXPECT_EQ(st.thread_cached_bytes, 4 * page);
        EXPECT_EQ(st.nb_allocs, 1u);
        ASSERT_EQ(elastic_buf_free(pool.get(), a), 0);
        void *b = elastic_buf_alloc(pool.get(), 100);
        EXPECT_EQ(b, a) << "LIFO: the buffer just freed comes back";
        EXPECT_EQ(elastic_buf_size(pool.get(), b), page);
        st = stats_of(pool.get());
        EXPECT_EQ(st.nb_allocs, 2u);
        EXPECT_EQ(st.nb_frees, 1u);
        EXPECT_EQ(st.in_use_bytes, page);
        EXPECT_EQ(st.thread_cached_bytes, 4 * page);
        // Fill the class: 8 fit, the 9th free sends half home with it.
        std::vector<void *> v;
        for (int i = 0; i < 8; i++) {
            void *x = elastic_buf_alloc(pool.get(), page);
            ASSERT_NE(x, nullptr);
            v.push_back(x);
        }
        v.push_back(b);
        for (void *x : v)
            ASSERT_EQ(elastic_buf_free(pool.get(), x), 0);
        st = stats_of(pool.get());
        EXPECT_EQ(st.in_use_bytes, 0u);
        EXPECT_LE(st.thread_cached_bytes, 8 * page);
        EXPECT_GE(st.thread_cached_bytes, 4 * page);
        EXPECT_EQ(st.nb_allocs, st.nb_frees);
        const uint64_t cached = st.thread_cached_bytes;
        EXPECT_EQ(elastic_pool_thread_cache_flush(pool.get()), int(cached / page));
        st = stats_of(pool.get());
        EXPECT_EQ(st.thread_cached_bytes, 0u);
        EXPECT_EQ(st.in_use_bytes, 0u);
        // Bad frees still fail, with or without a cache in the way.
        EXPECT_EQ(elastic_buf_free(pool.get(), static_cast<char *>(a) + 1), -EINVAL);
        int local = 0;
        EXPECT_EQ(elastic_buf_free(pool.get(), &local), -EINVAL);
    });
}

// The documented limit of the opt-in: a double free into a cache is caught when the cache goes
// home (logged, the copy dropped), and the pool's heap stays consistent.
TEST(thread_cache, double_free_into_a_cache_is_caught_when_it_goes_home)
{
    const std::string n = unique_name("tc-dbl");
    pool_ptr pool = make_pool(n, MiB, MiB, MiB, 8);
    ASSERT_NE(pool, nullptr);
    in_thread([&] {
        void *a = elastic_buf_alloc(pool.get(), page);
        ASSERT_NE(a, nullptr);
        ASSERT_EQ(elastic_buf_free(pool.get(), a), 0);
        EXPECT_EQ(elastic_buf_free(pool.get(), a), 0) << "not caught here (documented)";
        log_capture log;
        EXPECT_GT(elastic_pool_thread_cache_flush(pool.get()), 0);
        EXPECT_NE(log.text().find("freed twice"), std::string::npos) << log.text();
        const auto st = stats_of(pool.get());
        EXPECT_EQ(st.thread_cached_bytes, 0u);
        EXPECT_EQ(st.in_use_bytes, 0u);
        // The heap is whole: the base goes out as one buffer, and a third free is refused.
        void *whole = elastic_buf_alloc(pool.get(), MiB);
        EXPECT_NE(whole, nullptr);
        EXPECT_EQ(elastic_buf_free(pool.get(), whole), 0);
        EXPECT_EQ(elastic_pool_thread_cache_flush(pool.get()), 0);
        EXPECT_EQ(elastic_buf_free(pool.get(), a), -EINVAL);
    });
}

TEST(thread_cache, large_classes_and_grown_chunks_bypass_the_cache)
{
    const std::string n = unique_name("tc-big");
    pool_ptr pool = make_pool(n, MiB, MiB, 3 * MiB, 8);
    ASSERT_NE(pool, nullptr);
    in_thread([&] {
        void *big = elastic_buf_alloc(pool.get(), 128 * KiB); // above the cached classes
        ASSERT_NE(big, nullptr);
        EXPECT_EQ(stats_of(pool.get()).thread_cached_bytes, 0u);
        ASSERT_EQ(elastic_buf_free(pool.get(), big), 0);
        EXPECT_EQ(stats_of(pool.get()).thread_cached_bytes, 0u);
        void *whole = elastic_buf_alloc(pool.get(), MiB); // the base, whole
        ASSERT_NE(whole, nullptr);
        void *g = elastic_buf_alloc(pool.get(), page); // from chunk 1 (the base is full)
        ASSERT_NE(g, nullptr);
        EXPECT_EQ(stats_of(pool.get()).nb_chunks, 2u);
        ASSERT_EQ(elastic_buf_free(pool.get(), g), 0);
        auto st = stats_of(pool.get());
        EXPECT_EQ(st.thread_cached_bytes, 0u) << "a grown chunk's buffer went home";
        EXPECT_EQ(st.in_use_bytes, MiB);
        ASSERT_EQ(elastic_buf_free(pool.get(), whole), 0);
    });
}

// At the wall a queued request is not overtaken by a thread whose cache holds buffers; that
// thread's next call flushes its cache home, which serves the waiter.
TEST(thread_cache, waiter_is_not_overtaken_and_cached_buffers_serve_it)
{
    const std::string n = unique_name("tc-fifo");
    // No growth: base = wall = 256 KiB; 4 KiB class: min(8, 16 KiB / 4 KiB) = 4 per thread.
    pool_ptr pool = make_pool(n, 256 * KiB, 256 * KiB, 256 * KiB, 8);
    ASSERT_NE(pool, nullptr);
    worker t;
    void *tb = nullptr;
    t.run([&] {
        tb = elastic_buf_alloc(pool.get(), page); // + 2 more cached
        ASSERT_NE(tb, nullptr);
    });
    ASSERT_EQ(stats_of(pool.get()).thread_cached_bytes, 2 * page);
    // The main thread takes all the rest (one 4 KiB block at a time, uncached: 1 MiB class
    // would not fit the buddy layout left over).
    std::vector<void *> mine;
    for (;;) {
        void *b = elastic_buf_alloc(pool.get(), 64 * KiB);
        if (b == nullptr)
            break;
        mine.push_back(b);
    }
    for (;;) {
        void *b = elastic_buf_alloc(pool.get(), page);
        if (b == nullptr)
            break;
        mine.push_back(b);
    }
    ASSERT_EQ(rte_errno, ENOBUFS);
    elastic_pool_thread_cache_flush(pool.get()); // the main thread's own cache is empty anyway
    ASSERT_EQ(stats_of(pool.get()).thread_cached_bytes, 2 * page);

    // Three requests wait; the other thread's two cached buffers are out of this thread's reach.
    struct req {
        int id;
        std::vector<int> *order;
        void *buf = nullptr;
    };
    std::vector<int> order;
    auto cb = [](elastic_pool *, void *buf, void *arg) {
        auto *r = static_cast<req *>(arg);
        r->buf = buf;
        r->order->push_back(r->id);
    };
    std::array<req, 3> w{req{1, &order}, req{2, &order}, req{3, &order}};
    for (req &r : w)
        ASSERT_EQ(elastic_buf_alloc_async(pool.get(), page, cb, &r), 0);
    ASSERT_TRUE(order.empty());
    EXPECT_EQ(stats_of(pool.get()).nb_waiters, 3u);

    // The cached thread asks for a 4 KiB buffer: its cache goes home first and serves the
    // first two waiters in order; the third still waits, so this request is refused (nobody
    // overtakes a waiter) although the thread had buffers cached.
    t.run([&] {
        rte_errno = 0;
        EXPECT_EQ(elastic_buf_alloc(pool.get(), page), nullptr);
        EXPECT_EQ(rte_errno, ENOBUFS);
    });
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
    auto st = stats_of(pool.get());
    EXPECT_EQ(st.nb_waiters, 1u);
    EXPECT_EQ(st.thread_cached_bytes, 0u);

    // While a request waits, frees go home (to the waiter), not into a cache.
    t.run([&] { ASSERT_EQ(elastic_buf_free(pool.get(), tb), 0); });
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(w[2].buf, tb);
    EXPECT_EQ(stats_of(pool.get()).thread_cached_bytes, 0u);
    for (req &r : w) {
        ASSERT_NE(r.buf, nullptr);
        mine.push_back(r.buf);
    }
    // The queue is empty: the cache serves again.
    t.run([&] {
        void *x = elastic_buf_alloc(pool.get(), page);
        EXPECT_EQ(x, nullptr) << "everything is out";
    });
    for (void *b : mine)
        ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
    t.run([&] {
        void *x = elastic_buf_alloc(pool.get(), page);
        ASSERT_NE(x, nullptr);
        ASSERT_EQ(elastic_buf_free(pool.get(), x), 0);
        EXPECT_GT(stats_of(pool.get()).thread_cached_bytes, 0u);
    });
    st = stats_of(pool.get());
    EXPECT_EQ(st.in_use_bytes, 0u);
    EXPECT_EQ(st.nb_allocs, st.nb_frees);
}

// A thread's own cached buffers (of other classes) merge back before it waits or fails.
TEST(thread_cache, own_cache_goes_home_before_failing)
{
    const std::string n = unique_name("tc-own");
    pool_ptr pool = make_pool(n, 256 * KiB, 256 * KiB, 256 * KiB, 8);
    ASSERT_NE(pool, nullptr);
    in_thread([&] {
        void *a = elastic_buf_alloc(pool.get(), page);
        ASSERT_NE(a, nullptr);
        ASSERT_EQ(elastic_buf_free(pool.get(), a), 0);
        ASSERT_GT(stats_of(pool.get()).thread_cached_bytes, 0u);
        void *whole = elastic_buf_alloc(pool.get(), 256 * KiB);
        EXPECT_NE(whole, nullptr) << "the cached 4 KiB blocks merged back into the whole base";
        EXPECT_EQ(stats_of(pool.get()).thread_cached_bytes, 0u);
        ASSERT_EQ(elastic_buf_free(pool.get(), whole), 0);
    });
}

class tc_release : public ::testing::Test {
protected:
    // Base and chunks of 1 MiB, up to 3 chunks; a thread cache of 8.
    void make(uint32_t headroom = 1)
    {
        t0_ = clk_.get();
        name_ = unique_name("tc-rel");
        pool_ = make_pool(name_, MiB, MiB, 3 * MiB, 8, &clk_, headroom);
        ASSERT_NE(pool_, nullptr);
    }
    int maintain_at(uint64_t offset)
    {
        clk_.set(t0_ + offset);
        return elastic_pool_maintain(pool_.get());
    }
    // Run the release clock through one idle period, ticking every sample.
    int ticks_until(uint64_t from, uint64_t to)
    {
        int released = 0;
        for (uint64_t t = from; t <= to; t += sample)
            released += maintain_at(t);
        return released;
    }
    fake_clock clk_;
    uint64_t t0_ = 0;
    std::string name_;
    pool_ptr pool_;
};

// Chunk 1 is empty and idle; buffers of the base sit in a live thread's cache. Counted as
// free, they do not stop its release (the headroom rule needs the base's free room).
TEST_F(tc_release, cached_buffers_count_as_free_for_the_release_rule)
{
    make();
    worker t;
    void *whole = nullptr;
    t.run([&] {
        void *small = elastic_buf_alloc(pool_.get(), page);
        ASSERT_NE(small, nullptr);
        ASSERT_EQ(elastic_buf_free(pool_.get(), small), 0);
    });
    const uint64_t cached = stats_of(pool_.get()).thread_cached_bytes;
    ASSERT_GT(cached, 0u);
    // Grow: a whole-chunk buffer cannot come from the base (cached blocks split it).
    whole = elastic_buf_alloc(pool_.get(), MiB);
    ASSERT_NE(whole, nullptr);
    ASSERT_EQ(stats_of(pool_.get()).nb_chunks, 2u);
    ASSERT_EQ(elastic_buf_free(pool_.get(), whole), 0);
    auto st = stats_of(pool_.get());
    EXPECT_EQ(st.in_use_bytes, 0u) << "cached buffers are not in use";
    EXPECT_EQ(st.thread_cached_bytes, cached);
    EXPECT_EQ(maintain_at(tick), 0) << "not idle yet";
    EXPECT_EQ(ticks_until(sample, idle + 2 * sample), 1);
    EXPECT_EQ(stats_of(pool_.get()).nb_chunks, 1u);
    EXPECT_EQ(stats_of(pool_.get()).thread_cached_bytes, cached) << "the cache kept its own";
}

// Cache hits are allocations from the base: with headroom 1 the base is the next-to-last chunk,
// and a base kept busy by cache hits keeps the last chunk (patent step 611).
TEST_F(tc_release, cache_hits_keep_the_base_from_counting_as_idle)
{
    make();
    worker t;
    t.run([&] {
        void *small = elastic_buf_alloc(pool_.get(), page);
        ASSERT_NE(small, nullptr);
        ASSERT_EQ(elastic_buf_free(pool_.get(), small), 0);
    });
    void *whole = elastic_buf_alloc(pool_.get(), MiB);
    ASSERT_NE(whole, nullptr);
    ASSERT_EQ(elastic_buf_free(pool_.get(), whole), 0);
    // Every sample the thread allocates from its cache (no lock taken, no stamp) and the tick
    // stamps the base.
    int released = 0;
    for (uint64_t at = sample; at <= idle + 3 * sample; at += sample) {
        t.run([&] {
            void *x = elastic_buf_alloc(pool_.get(), page);
            ASSERT_NE(x, nullptr);
            ASSERT_EQ(elastic_buf_free(pool_.get(), x), 0);
        });
        released += maintain_at(at);
    }
    EXPECT_EQ(released, 0) << "the base was busy (cache hits): no idle headroom before chunk 1";
    // The thread stops: after an idle period chunk 1 goes.
    EXPECT_EQ(ticks_until(idle + 4 * sample, 2 * idle + 6 * sample), 1);
}

int pressure_on(int, void *) { return 1; }

// Under memory pressure a grown chunk with a buffer out retires; its buffer, freed by a thread
// with a cache, goes home (never into the cache) and the chunk goes.
TEST_F(tc_release, retiring_chunk_drains_home_through_a_cached_thread)
{
    make(0);
    worker t;
    void *whole = elastic_buf_alloc(pool_.get(), MiB); // the base, whole
    ASSERT_NE(whole, nullptr);
    void *g = elastic_buf_alloc(pool_.get(), page); // chunk 1
    ASSERT_NE(g, nullptr);
    ASSERT_EQ(stats_of(pool_.get()).nb_chunks, 2u);
    ASSERT_EQ(elastic_buf_free(pool_.get(), whole), 0);
    t.run([&] {
        void *x = elastic_buf_alloc(pool_.get(), page); // from the base: fills the cache
        ASSERT_NE(x, nullptr);
        ASSERT_EQ(elastic_buf_free(pool_.get(), x), 0);
    });
    ASSERT_GT(stats_of(pool_.get()).thread_cached_bytes, 0u);
    ASSERT_EQ(elastic_memory_pressure_callback_set(pressure_on, nullptr), 0);
    EXPECT_EQ(maintain_at(tick), 0) << "chunk 1 holds a buffer: it retires";
    t.run([&] { ASSERT_EQ(elastic_buf_free(pool_.get(), g), 0); });
    EXPECT_EQ(maintain_at(2 * tick), 1);
    elastic_memory_pressure_callback_set(nullptr, nullptr);
    auto st = stats_of(pool_.get());
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.in_use_bytes, 0u);
}

TEST(thread_cache, thread_exit_returns_the_cached_buffers)
{
    const std::string n = unique_name("tc-exit");
    pool_ptr pool = make_pool(n, MiB, MiB, 2 * MiB, 16);
    ASSERT_NE(pool, nullptr);
    for (int round = 0; round < 3; round++) {
        in_thread([&] {
            std::vector<void *> v;
            for (size_t sz : {page, 2 * page, 4 * page, 8 * page, 16 * page, page, page}) {
                void *b = elastic_buf_alloc(pool.get(), sz);
                ASSERT_NE(b, nullptr);
                v.push_back(b);
            }
            for (void *b : v)
                ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
            EXPECT_GT(stats_of(pool.get()).thread_cached_bytes, 0u);
        });
        const auto st = stats_of(pool.get());
        EXPECT_EQ(st.thread_cached_bytes, 0u) << "round " << round;
        EXPECT_EQ(st.in_use_bytes, 0u);
        EXPECT_EQ(st.nb_allocs, st.nb_frees);
    }
    // All home: the whole base can be handed out as one buffer.
    void *whole = elastic_buf_alloc(pool.get(), MiB);
    ASSERT_NE(whole, nullptr);
    EXPECT_EQ(stats_of(pool.get()).nb_chunks, 1u);
    ASSERT_EQ(elastic_buf_free(pool.get(), whole), 0);
}

// A thread that exits with cached buffers while a request waits: they serve it (the callback
// runs in the exiting thread).
TEST(thread_cache, thread_exit_serves_a_waiter)
{
    const std::string n = unique_name("tc-exitw");
    pool_ptr pool = make_pool(n, 256 * KiB, 256 * KiB, 256 * KiB, 8);
    ASSERT_NE(pool, nullptr);
    std::atomic<bool> go{false}, cached{false};
    std::thread t([&] {
        void *b = elastic_buf_alloc(pool.get(), page);
        ASSERT_NE(b, nullptr);
        ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
        cached = true;
        while (!go.load())
            std::this_thread::yield();
    });
    while (!cached.load())
        std::this_thread::yield();
    std::vector<void *> mine;
    for (void *b; (b = elastic_buf_alloc(pool.get(), page)) != nullptr;)
        mine.push_back(b);
    elastic_pool_thread_cache_flush(pool.get());
    std::atomic<void *> got{nullptr};
    auto cb = [](elastic_pool *, void *buf, void *arg) {
        static_cast<std::atomic<void *> *>(arg)->store(buf);
    };
    ASSERT_EQ(elastic_buf_alloc_async(pool.get(), page, cb, &got), 0);
    EXPECT_EQ(got.load(), nullptr);
    go = true;
    t.join();
    ASSERT_NE(got.load(), nullptr) << "the exiting thread's cache served the waiter";
    mine.push_back(got.load());
    for (void *b : mine)
        ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
    elastic_pool_thread_cache_flush(pool.get());
    EXPECT_EQ(stats_of(pool.get()).in_use_bytes, 0u);
}

// elastic_pool_free() while live threads hold caches of the pool: their buffers come home (no
// "still out" line), the caches are detached, and the threads go on with other pools and exit
// cleanly (ASan checks that nothing touches the freed pool).
TEST(thread_cache, pool_destroy_with_caches_of_live_threads)
{
    worker a, b;
    for (int round = 0; round < 3; round++) {
        const std::string n = unique_name("tc-dst");
        pool_ptr pool = make_pool(n, MiB, MiB, 2 * MiB, 8);
        ASSERT_NE(pool, nullptr);
        for (worker *w : {&a, &b})
            w->run([&] {
                void *x = elastic_buf_alloc(pool.get(), page);
                ASSERT_NE(x, nullptr);
                ASSERT_EQ(elastic_buf_free(pool.get(), x), 0);
            });
        EXPECT_GT(stats_of(pool.get()).thread_cached_bytes, 0u);
        log_capture log;
        pool.reset();
        EXPECT_EQ(log.text().find("still out"), std::string::npos) << log.text();
    }
    // More pools than a thread has cache slots: the rest work through the lock.
    std::vector<pool_ptr> pools;
    for (int i = 0; i < 12; i++) {
        pools.push_back(make_pool(unique_name("tc-many"), MiB, MiB, MiB, 8));
        ASSERT_NE(pools.back(), nullptr);
    }
    a.run([&] {
        for (auto &p : pools) {
            void *x = elastic_buf_alloc(p.get(), page);
            ASSERT_NE(x, nullptr);
            ASSERT_EQ(elastic_buf_free(p.get(), x), 0);
            EXPECT_EQ(stats_of(p.get()).in_use_bytes, 0u);
        }
    });
}

// Threads allocate, stamp, pass buffers to one another, check and free, with waiters (timed
// allocations) at the wall now and then. A buffer handed out twice shows as a stamp changed
// under its owner or as a live-set collision; none may be lost at the end.
TEST(thread_cache, stress_with_content_stamps)
{
    const std::string n = unique_name("tc-str");
    // Base 2 MiB, wall 4 MiB: the demand below hits the wall now and then.
    pool_ptr pool = make_pool(n, 2 * MiB, MiB, 4 * MiB, 16);
    ASSERT_NE(pool, nullptr);
    constexpr int threads = 4;
    constexpr int iters = 50000;
    constexpr int hold = 24;
    std::mutex live_mu;
    std::set<void *> live;
    std::atomic<uint64_t> dup{0}, smashed{0}, bad_free{0};
    std::mutex xmu; // the exchange: buffers freed by another thread than their allocator
    std::vector<std::pair<void *, uint64_t>> xchg;

    auto stamp_ok = [](void *b, uint64_t s, size_t sz) {
        uint64_t head, tail;
        std::memcpy(&head, b, 8);
        std::memcpy(&tail, static_cast<char *>(b) + sz - 8, 8);
        return head == s && tail == ~s;
    };
    auto body = [&](int id) {
        std::mt19937 rng(1234 + id);
        std::vector<std::tuple<void *, uint64_t, size_t>> mine;
        auto give_back = [&](void *b, uint64_t s, size_t sz) {
            if (!stamp_ok(b, s, sz))
                smashed++;
            {
                std::lock_guard g(live_mu);
                live.erase(b);
            }
            if (elastic_buf_free(pool.get(), b) != 0)
                bad_free++;
        };
        for (int i = 0; i < iters; i++) {
            const unsigned r = rng();
            const size_t sz = (r % 8 == 0) ? 128 * KiB : page << (r % 5); // mostly cached
            void *b = (r % 97 == 0) ? elastic_buf_alloc_timeout(pool.get(), sz, 1)
                                    : elastic_buf_alloc(pool.get(), sz);
            if (b != nullptr) {
                {
                    std::lock_guard g(live_mu);
                    if (!live.insert(b).second)
                        dup++;
                }
                const uint64_t s = (uint64_t(id) << 56) | uint64_t(i) << 8 | 0x5a;
                std::memcpy(b, &s, 8);
                const uint64_t ns = ~s;
                std::memcpy(static_cast<char *>(b) + sz - 8, &ns, 8);
                mine.emplace_back(b, s, sz);
            }
            if (mine.size() > hold || (b == nullptr && !mine.empty())) {
                const size_t k = rng() % mine.size();
                auto [x, s, xs] = mine[k];
                mine[k] = mine.back();
                mine.pop_back();
                if (rng() % 4 == 0) { // someone else frees it (its size: elastic_buf_size)
                    std::lock_guard g(xmu);
                    xchg.emplace_back(x, s);
                } else {
                    give_back(x, s, xs);
                }
            }
            if (i % 16 == 0) {
                std::vector<std::pair<void *, uint64_t>> take;
                {
                    std::lock_guard g(xmu);
                    take.swap(xchg);
                }
                for (auto [x, s] : take)
                    give_back(x, s, elastic_buf_size(pool.get(), x));
            }
        }
        for (auto [x, s, xs] : mine)
            give_back(x, s, xs);
    };
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; i++)
        ts.emplace_back(body, i);
    for (auto &t : ts)
        t.join();
    for (auto [x, s] : xchg) {
        const size_t sz = elastic_buf_size(pool.get(), x);
        EXPECT_TRUE(stamp_ok(x, s, sz));
        EXPECT_EQ(elastic_buf_free(pool.get(), x), 0);
    }
    elastic_pool_thread_cache_flush(pool.get()); // those frees filled this thread's cache
    EXPECT_EQ(dup.load(), 0u) << "a buffer was handed out twice";
    EXPECT_EQ(smashed.load(), 0u) << "a buffer changed under its owner";
    EXPECT_EQ(bad_free.load(), 0u);
    const auto st = stats_of(pool.get());
    EXPECT_EQ(st.thread_cached_bytes, 0u) << "the threads exited: their caches went home";
    EXPECT_EQ(st.in_use_bytes, 0u) << "nothing lost";
    EXPECT_EQ(st.nb_allocs, st.nb_frees);
    EXPECT_EQ(st.nb_waiters, 0u);
    std::printf("stress: %" PRIu64 " allocations, %" PRIu64 " refused, %" PRIu64 " queued, "
                "%u chunks\n", st.nb_allocs, st.nb_alloc_fail, st.nb_queued, st.nb_chunks);
    // Everything is home: the base can be handed out again as two 1 MiB buffers.
    void *h1 = elastic_buf_alloc(pool.get(), MiB);
    void *h2 = elastic_buf_alloc(pool.get(), MiB);
    EXPECT_NE(h1, nullptr);
    EXPECT_NE(h2, nullptr);
    for (void *h : {h1, h2}) {
        if (h != nullptr) {
            EXPECT_EQ(elastic_buf_free(pool.get(), h), 0);
        }
    }
}

} // namespace
