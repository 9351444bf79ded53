// SPDX-License-Identifier: BSD-3-Clause
// Waiters: asynchronous requests run at once or queue FIFO; frees serve them in order; cancel;
// duplicates; the blocking variant with a timeout.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "unit_common.hpp"

namespace {

using namespace elastic::test;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// What the callbacks saw, in order.
struct journal {
    std::mutex mu;
    std::vector<std::pair<int, void *>> served;

    std::vector<int> order()
    {
        std::lock_guard<std::mutex> g(mu);
        std::vector<int> ids;
        for (auto &s : served)
            ids.push_back(s.first);
        return ids;
    }
};

struct waiter {
    int id;
    journal *j;
    elastic_pool *expect_pool = nullptr;
    std::atomic<int> runs{0};
    void *buf = nullptr;
    std::thread::id thread;
    bool pool_ok = true;
};

void record(elastic_pool *pool, void *buf, void *arg)
{
    auto *w = static_cast<waiter *>(arg);
    w->buf = buf;
    w->thread = std::this_thread::get_id();
    w->pool_ok = pool == w->expect_pool;
    {
        std::lock_guard<std::mutex> g(w->j->mu);
        w->j->served.emplace_back(w->id, buf);
    }
    w->runs.fetch_add(1);
}

void record_other(elastic_pool *pool, void *buf, void *arg)
{
    record(pool, buf, arg);
}

class waiters : public ::testing::Test {
protected:
    // A pool of exactly 64 KiB (wall = base) filled with eight 8 KiB buffers, sorted by address:
    // bufs_[0]/[1], [2]/[3], ... are buddies.
    void SetUp() override
    {
        name_ = unique_name("wait");
        auto p = heap_params(name_, 64 * KiB, 64 * KiB, 64 * KiB, &clk_);
        pool_.reset(elastic_pool_create(&p));
        ASSERT_NE(pool_, nullptr) << rte_strerror(rte_errno);
        for (int i = 0; i < 8; i++) {
            void *b = elastic_buf_alloc(pool(), 8 * KiB);
            ASSERT_NE(b, nullptr);
            bufs_.push_back(b);
        }
        std::sort(bufs_.begin(), bufs_.end(), [](void *a, void *b) { return addr(a) < addr(b); });
        for (int i = 1; i < 8; i++)
            ASSERT_EQ(addr(bufs_[i]) - addr(bufs_[i - 1]), 8 * KiB);
        rte_errno = 0;
        ASSERT_EQ(elastic_buf_alloc(pool(), 4 * KiB), nullptr);
        ASSERT_EQ(rte_errno, ENOBUFS);
    }

    void TearDown() override
    {
        if (pool_ == nullptr)
            return;
        const auto st = stats_of(pool());
        EXPECT_EQ(st.nb_waiters, 0u) << "test left waiters behind";
    }

    void make_waiter(waiter &w, int id)
    {
        w.id = id;
        w.j = &j_;
        w.expect_pool = pool();
    }

    elastic_pool *pool() { return pool_.get(); }
    void free_buf(int i)
    {
        ASSERT_NE(bufs_[i], nullptr);
        ASSERT_EQ(elastic_buf_free(pool(), bufs_[i]), 0);
        bufs_[i] = nullptr;
    }
    void free_all(std::vector<void *> extra = {})
    {
        for (void *&b : bufs_)
            if (b != nullptr) {
                EXPECT_EQ(elastic_buf_free(pool(), b), 0);
                b = nullptr;
            }
        for (void *b : extra)
            EXPECT_EQ(elastic_buf_free(pool(), b), 0);
        EXPECT_EQ(stats_of(pool()).in_use_bytes, 0u);
    }

    fake_clock clk_;
    journal j_;
    std::string name_;
    pool_ptr pool_;
    std::vector<void *> bufs_;
};

TEST(waiters_plain, async_runs_inside_the_call_when_memory_is_there)
{
    fake_clock clk;
    journal j;
    const std::string name = unique_name("asyncnow");
    auto p = heap_params(name, 64 * KiB, 64 * KiB, 128 * KiB, &clk);
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);

    waiter a;
    a.id = 1;
    a.j = &j;
    a.expect_pool = pool.get();
    ASSERT_EQ(elastic_buf_alloc_async(pool.get(), 64 * KiB, record, &a), 0);
    EXPECT_EQ(a.runs.load(), 1);
    ASSERT_NE(a.buf, nullptr);
    EXPECT_TRUE(a.pool_ok);
    EXPECT_EQ(a.thread, std::this_thread::get_id());
    EXPECT_EQ(elastic_buf_size(pool.get(), a.buf), 64 * KiB);

    // Base full, wall not reached: growth serves it, still inside the call.
    waiter b;
    b.id = 2;
    b.j = &j;
    b.expect_pool = pool.get();
    ASSERT_EQ(elastic_buf_alloc_async(pool.get(), 4 * KiB, record, &b), 0);
    EXPECT_EQ(b.runs.load(), 1);
    ASSERT_NE(b.buf, nullptr);

    auto st = stats_of(pool.get());
    EXPECT_EQ(st.nb_grows, 1u);
    EXPECT_EQ(st.nb_queued, 0u);
    EXPECT_EQ(st.nb_waiters, 0u);
    EXPECT_EQ(st.nb_allocs, 2u);
    EXPECT_EQ(st.in_use_bytes, 68 * KiB);
    EXPECT_EQ(elastic_buf_free(pool.get(), a.buf), 0);
    EXPECT_EQ(elastic_buf_free(pool.get(), b.buf), 0);
    EXPECT_EQ(a.runs.load(), 1);
    EXPECT_EQ(b.runs.load(), 1);
}

TEST_F(waiters, frees_serve_strictly_fifo_and_block_direct_allocations)
{
    waiter big, small;
    make_waiter(big, 1);
    make_waiter(small, 2);
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 16 * KiB, record, &big), 0);
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 4 * KiB, record, &small), 0);
    EXPECT_EQ(big.runs.load(), 0);
    EXPECT_EQ(small.runs.load(), 0);
    auto st = stats_of(pool());
    EXPECT_EQ(st.nb_waiters, 2u);
    EXPECT_EQ(st.nb_queued, 2u);
    const uint64_t fails = st.nb_alloc_fail;

    // 8 KiB free: the small request would fit, but the big one is first.
    free_buf(2);
    EXPECT_TRUE(j_.order().empty()) << "a later small request overtook an earlier large one";
    EXPECT_EQ(stats_of(pool()).nb_waiters, 2u);
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc(pool(), 4 * KiB), nullptr) << "direct allocation jumped the queue";
    EXPECT_EQ(rte_errno, ENOBUFS);
    EXPECT_EQ(stats_of(pool()).nb_alloc_fail, fails + 1);

    // Its buddy: 16 KiB coalesces and goes to the big request, within the free.
    free_buf(3);
    EXPECT_EQ(j_.order(), (std::vector<int>{1}));
    EXPECT_EQ(big.runs.load(), 1);
    EXPECT_EQ(big.thread, std::this_thread::get_id());
    EXPECT_TRUE(big.pool_ok);
    EXPECT_EQ(addr(big.buf), addr(bufs_[0]) + 16 * KiB);
    EXPECT_EQ(elastic_buf_size(pool(), big.buf), 16 * KiB);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 1u);

    free_buf(0);
    EXPECT_EQ(j_.order(), (std::vector<int>{1, 2}));
    EXPECT_EQ(small.runs.load(), 1);
    EXPECT_EQ(elastic_buf_size(pool(), small.buf), 4 * KiB);
    st = stats_of(pool());
    EXPECT_EQ(st.nb_waiters, 0u);
    EXPECT_EQ(st.in_use_bytes, 5 * 8 * KiB + 16 * KiB + 4 * KiB);

    // Nobody waits any more: direct allocation works again (the other 4 KiB of bufs_[0]).
    void *d = elastic_buf_alloc(pool(), 4 * KiB);
    ASSERT_NE(d, nullptr) << rte_strerror(rte_errno);
    free_all({big.buf, small.buf, d});
    st = stats_of(pool());
    EXPECT_EQ(st.nb_allocs, st.nb_frees);
    EXPECT_EQ(st.nb_allocs, 8u + 3u);
    EXPECT_EQ(big.runs.load(), 1);
    EXPECT_EQ(small.runs.load(), 1);
}

TEST_F(waiters, many_waiters_in_order)
{
    std::vector<std::unique_ptr<waiter>> ws;
    for (int i = 0; i < 6; i++) {
        ws.push_back(std::make_unique<waiter>());
        make_waiter(*ws.back(), i);
        ASSERT_EQ(elastic_buf_alloc_async(pool(), i % 2 ? 4 * KiB : 8 * KiB, record,
                                          ws.back().get()),
                  0);
    }
    EXPECT_EQ(stats_of(pool()).nb_waiters, 6u);
    // 8 KiB freed at a time: each serves the head of the queue and what follows while it fits.
    for (int i = 0; i < 8; i++)
        free_buf(i);
    EXPECT_EQ(j_.order(), (std::vector<int>{0, 1, 2, 3, 4, 5}));
    std::vector<void *> got;
    for (auto &w : ws) {
        EXPECT_EQ(w->runs.load(), 1);
        got.push_back(w->buf);
    }
    EXPECT_EQ(stats_of(pool()).nb_waiters, 0u);
    free_all(got);
}

TEST_F(waiters, cancel_removes_a_waiter_and_its_callback_never_runs)
{
    waiter a, b, never;
    make_waiter(a, 1);
    make_waiter(b, 2);
    make_waiter(never, 3);
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 16 * KiB, record, &a), 0);
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 8 * KiB, record, &b), 0);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 2u);

    EXPECT_EQ(elastic_buf_alloc_cancel(pool(), record, &a), 0);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 1u);
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc_cancel(pool(), record, &a), -ENOENT);
    EXPECT_EQ(rte_errno, ENOENT);
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc_cancel(pool(), record, &never), -ENOENT);
    EXPECT_EQ(rte_errno, ENOENT);
    EXPECT_EQ(elastic_buf_alloc_cancel(pool(), record_other, &b), -ENOENT) << "cb is part of it";

    // b is now the head and gets the first 8 KiB.
    free_buf(5);
    EXPECT_EQ(j_.order(), (std::vector<int>{2}));
    EXPECT_EQ(addr(b.buf), addr(bufs_[4]) + 8 * KiB);
    EXPECT_EQ(elastic_buf_alloc_cancel(pool(), record, &b), -ENOENT) << "already served";
    free_buf(4);
    free_buf(6);
    EXPECT_EQ(a.runs.load(), 0);
    EXPECT_EQ(b.runs.load(), 1);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 0u);
    free_all({b.buf});
    EXPECT_EQ(a.runs.load(), 0);
}

TEST_F(waiters, same_cb_and_arg_twice_is_eexist)
{
    waiter a, b;
    make_waiter(a, 1);
    make_waiter(b, 2);
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 8 * KiB, record, &a), 0);
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc_async(pool(), 4 * KiB, record, &a), -EEXIST);
    EXPECT_EQ(rte_errno, EEXIST);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 1u);
    EXPECT_EQ(elastic_buf_alloc_async(pool(), 8 * KiB, record, &b), 0) << "other arg";
    EXPECT_EQ(elastic_buf_alloc_async(pool(), 8 * KiB, record_other, &a), 0) << "other cb";
    EXPECT_EQ(stats_of(pool()).nb_waiters, 3u);

    free_buf(0);
    free_buf(1);
    free_buf(2);
    EXPECT_EQ(j_.order(), (std::vector<int>{1, 2, 1}));
    EXPECT_EQ(a.runs.load(), 2);
    EXPECT_EQ(b.runs.load(), 1);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 0u);
    std::vector<void *> got;
    {
        std::lock_guard<std::mutex> g(j_.mu);
        for (auto &s : j_.served)
            got.push_back(s.second);
    }
    // Once served, the same pair may queue again.
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 8 * KiB, record, &a), 0);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 1u);
    EXPECT_EQ(elastic_buf_alloc_cancel(pool(), record, &a), 0);
    free_all(got);
}

struct reentrant {
    std::atomic<int> runs{0};
    int free_rc = 1;
    int stats_rc = 1;
    void *alloc_in_cb = nullptr;
};

void free_inside_callback(elastic_pool *pool, void *buf, void *arg)
{
    auto *r = static_cast<reentrant *>(arg);
    elastic_pool_stats st;
    r->stats_rc = elastic_pool_stats_get(pool, &st);
    r->free_rc = elastic_buf_free(pool, buf);
    r->alloc_in_cb = elastic_buf_alloc(pool, 4 * KiB);
    r->runs.fetch_add(1);
}

TEST_F(waiters, callbacks_run_without_the_lock_and_may_free_and_allocate)
{
    reentrant r;
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 8 * KiB, free_inside_callback, &r), 0);
    EXPECT_EQ(r.runs.load(), 0);
    free_buf(7);
    ASSERT_EQ(r.runs.load(), 1);
    EXPECT_EQ(r.stats_rc, 0);
    EXPECT_EQ(r.free_rc, 0);
    EXPECT_NE(r.alloc_in_cb, nullptr) << "allocation inside a callback failed";
    free_all({r.alloc_in_cb});
}

TEST_F(waiters, timeout_expires_not_before_the_time_asked)
{
    const uint64_t queued = stats_of(pool()).nb_queued;
    const auto t0 = steady_clock::now();
    rte_errno = 0;
    void *b = elastic_buf_alloc_timeout(pool(), 4 * KiB, 60);
    const auto waited = steady_clock::now() - t0;
    EXPECT_EQ(b, nullptr);
    EXPECT_EQ(rte_errno, ETIMEDOUT);
    EXPECT_GE(waited, milliseconds(60));
    auto st = stats_of(pool());
    EXPECT_EQ(st.nb_waiters, 0u) << "timed-out request still queued";
    EXPECT_EQ(st.nb_queued, queued + 1);

    // Withdrawn: a free is not handed to the departed request, direct allocation works.
    free_buf(0);
    void *d = elastic_buf_alloc(pool(), 8 * KiB);
    EXPECT_NE(d, nullptr);
    st = stats_of(pool());
    EXPECT_EQ(st.in_use_bytes, 64 * KiB);
    free_all({d});
}

TEST_F(waiters, zero_timeout_gives_up_at_once)
{
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc_timeout(pool(), 4 * KiB, 0), nullptr);
    EXPECT_EQ(rte_errno, ETIMEDOUT);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 0u);
    free_buf(0);
    void *b = elastic_buf_alloc_timeout(pool(), 8 * KiB, 0);
    EXPECT_NE(b, nullptr) << "memory was there";
    free_all({b});
}

TEST_F(waiters, timeout_with_memory_there_returns_at_once)
{
    void *was = bufs_[3];
    free_buf(3);
    void *b = elastic_buf_alloc_timeout(pool(), 8 * KiB, 60'000);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b, was);
    EXPECT_EQ(stats_of(pool()).nb_queued, 0u);
    free_all({b});
}

TEST_F(waiters, timeout_succeeds_when_another_thread_frees)
{
    void *to_free = bufs_[6];
    bufs_[6] = nullptr;
    std::thread t([&] {
        // Free only once the request is queued, so the wait is real.
        const auto deadline = steady_clock::now() + std::chrono::seconds(10);
        while (stats_of(pool()).nb_waiters == 0 && steady_clock::now() < deadline)
            std::this_thread::sleep_for(milliseconds(1));
        std::this_thread::sleep_for(milliseconds(20));
        EXPECT_EQ(elastic_buf_free(pool(), to_free), 0);
    });
    void *b = elastic_buf_alloc_timeout(pool(), 8 * KiB, 10'000);
    t.join();
    ASSERT_NE(b, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(b, to_free);
    const auto st = stats_of(pool());
    EXPECT_EQ(st.nb_waiters, 0u);
    EXPECT_EQ(st.nb_queued, 1u);
    free_all({b});
}

TEST_F(waiters, timeout_waits_its_turn_behind_async_waiters)
{
    waiter a;
    make_waiter(a, 1);
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 8 * KiB, record, &a), 0);
    std::atomic<void *> got{nullptr};
    std::atomic<bool> done{false};
    std::thread t([&] {
        got = elastic_buf_alloc_timeout(pool(), 8 * KiB, 10'000);
        done = true;
    });
    const auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (stats_of(pool()).nb_waiters < 2 && steady_clock::now() < deadline)
        std::this_thread::sleep_for(milliseconds(1));
    ASSERT_EQ(stats_of(pool()).nb_waiters, 2u);

    free_buf(1); // serves the async waiter, which was first
    EXPECT_EQ(a.runs.load(), 1);
    EXPECT_EQ(a.buf, static_cast<char *>(bufs_[0]) + 8 * KiB);
    std::this_thread::sleep_for(milliseconds(20));
    EXPECT_FALSE(done.load()) << "the blocking request overtook or got memory from nowhere";
    free_buf(4);
    t.join();
    EXPECT_EQ(got.load(), static_cast<char *>(bufs_[3]) + 8 * KiB);
    free_all({a.buf, got.load()});
}

} // namespace

// A large head waiter blocks a small one behind it; when the head is cancelled, the small one is
// served at once from memory that is already free, not stranded until the next free.
TEST_F(waiters, cancelling_the_head_serves_the_next_one_at_once)
{
    waiter big, small;
    make_waiter(big, 1);
    make_waiter(small, 2);
    free_buf(0); // 8 KiB free: enough for `small`, not for `big`
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 16 * KiB, record, &big), 0);
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 8 * KiB, record, &small), 0);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 2u);
    EXPECT_EQ(small.runs.load(), 0) << "FIFO: nobody overtakes the head";

    EXPECT_EQ(elastic_buf_alloc_cancel(pool(), record, &big), 0);
    EXPECT_EQ(small.runs.load(), 1);
    EXPECT_EQ(small.buf, reinterpret_cast<void *>(addr(bufs_[1]) - 8 * KiB));
    EXPECT_EQ(big.runs.load(), 0);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 0u);
    free_all({small.buf});
}

// Cancelling a waiter that is not the head changes nothing for the others.
TEST_F(waiters, cancelling_a_later_waiter_leaves_the_head_waiting)
{
    waiter big, small;
    make_waiter(big, 1);
    make_waiter(small, 2);
    free_buf(0);
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 16 * KiB, record, &big), 0);
    ASSERT_EQ(elastic_buf_alloc_async(pool(), 8 * KiB, record, &small), 0);
    EXPECT_EQ(elastic_buf_alloc_cancel(pool(), record, &small), 0);
    EXPECT_EQ(stats_of(pool()).nb_waiters, 1u);
    EXPECT_EQ(big.runs.load(), 0);
    free_buf(1); // 0 and 1 coalesce into 16 KiB: the head is served
    EXPECT_EQ(big.runs.load(), 1);
    EXPECT_EQ(small.runs.load(), 0);
    free_all({big.buf});
}
