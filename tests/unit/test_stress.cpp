// SPDX-License-Identifier: BSD-3-Clause
// Stress: two threads allocate (directly, with a timeout, and asynchronously) and free random
// sizes for ~2 s while a third runs maintenance and trim with millisecond periods. Every buffer
// carries a content stamp over its whole class, checked before it is freed; at the end no two
// live buffers overlap, and the counters balance exactly. Run under TSan and ASan too.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "unit_common.hpp"

namespace {

using namespace elastic::test;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr size_t base = 256 * KiB, chunk = 256 * KiB, wall = base + 3 * chunk;
constexpr size_t max_buf = 256 * KiB;
constexpr auto run_time = milliseconds(2000);
constexpr auto burst = milliseconds(300); // each worker drops everything this often
constexpr size_t max_held = 24;

uint64_t word_of(uint64_t stamp, size_t i) noexcept
{
    return stamp ^ (uint64_t(i) * 0x9e3779b97f4a7c15ull);
}

struct buffer {
    void *p;
    size_t size; // class size reported by the pool
    uint64_t stamp;
};

// One asynchronous request per worker at a time; the callback may run on any thread.
struct async_req {
    std::mutex mu;
    bool pending = false; // queued or running
    bool done = false;
    void *buf = nullptr;
    size_t asked = 0;
};

void async_cb(elastic_pool *, void *buf, void *arg)
{
    auto *r = static_cast<async_req *>(arg);
    std::lock_guard<std::mutex> g(r->mu);
    r->buf = buf;
    r->done = true;
}

struct worker {
    int id = 0;
    elastic_pool *pool = nullptr;
    std::vector<buffer> held;
    uint64_t seq = 0;
    std::mt19937_64 rng;
    async_req req;
    // What this worker saw succeed.
    uint64_t allocs = 0, frees = 0, async_now = 0, async_later = 0, timeouts = 0, enobufs = 0;
    uint64_t bad = 0; // stamp mismatches, wrong sizes, unexpected errors
    std::string first_error;

    void error(const std::string &what)
    {
        if (bad++ == 0)
            first_error = what;
    }

    size_t random_size()
    {
        const unsigned r = unsigned(rng() % 100);
        if (r < 70)
            return 1 + rng() % (16 * KiB);
        if (r < 95)
            return 16 * KiB + 1 + rng() % (48 * KiB);
        return 64 * KiB + 1 + rng() % (max_buf - 64 * KiB);
    }

    void adopt(void *p, size_t asked)
    {
        const size_t cls = elastic_buf_size(pool, p);
        if (cls < asked || cls < ELASTIC_BUF_MIN_SIZE || (cls & (cls - 1)) != 0 ||
            reinterpret_cast<uintptr_t>(p) % ELASTIC_BUF_MIN_SIZE != 0) {
            error("bad buffer: asked " + std::to_string(asked) + ", class " + std::to_string(cls));
            return;
        }
        const uint64_t stamp = (uint64_t(id) << 56) | ++seq;
        auto *w = static_cast<uint64_t *>(p);
        for (size_t i = 0; i < cls / sizeof(uint64_t); i++)
            w[i] = word_of(stamp, i);
        held.push_back(buffer{p, cls, stamp});
    }

    bool check(const buffer &b)
    {
        const auto *w = static_cast<const uint64_t *>(b.p);
        for (size_t i = 0; i < b.size / sizeof(uint64_t); i++)
            if (w[i] != word_of(b.stamp, i)) {
                error("stamp of buffer " + std::to_string(b.stamp) + " overwritten at word " +
                      std::to_string(i));
                return false;
            }
        return true;
    }

    void free_one(size_t idx)
    {
        const buffer b = held[idx];
        held[idx] = held.back();
        held.pop_back();
        check(b);
        if (int rc = elastic_buf_free(pool, b.p); rc != 0)
            error("free returned " + std::to_string(rc));
        else
            frees++;
    }

    void free_random()
    {
        if (!held.empty())
            free_one(rng() % held.size());
    }

    void pick_up_async()
    {
        void *p = nullptr;
        size_t asked = 0;
        {
            std::lock_guard<std::mutex> g(req.mu);
            if (!req.pending || !req.done)
                return;
            p = req.buf;
            asked = req.asked;
            req.pending = false;
            req.done = false;
        }
        async_later++;
        allocs++;
        adopt(p, asked);
    }

    void run(const std::atomic<bool> &stop)
    {
        auto next_burst_end = steady_clock::now() + burst;
        while (!stop.load(std::memory_order_relaxed)) {
            pick_up_async();
            if (steady_clock::now() >= next_burst_end) {
                while (!held.empty())
                    free_random();
                std::this_thread::sleep_for(milliseconds(5));
                next_burst_end = steady_clock::now() + burst;
                continue;
            }
            const unsigned r = unsigned(rng() % 100);
            if (held.size() >= max_held || r < 40) {
                free_random();
                continue;
            }
            const size_t size = random_size();
            if (r < 85) {
                void *p = elastic_buf_alloc(pool, size);
                if (p != nullptr) {
                    allocs++;
                    adopt(p, size);
                } else if (rte_errno == ENOBUFS) {
                    enobufs++;
                    free_random();
                } else {
                    error(std::string("alloc: ") + rte_strerror(rte_errno));
                }
            } else if (r < 93) {
                void *p = elastic_buf_alloc_timeout(pool, size, 2);
                if (p != nullptr) {
                    allocs++;
                    adopt(p, size);
                } else if (rte_errno == ETIMEDOUT) {
                    timeouts++;
                    free_random();
                } else {
                    error(std::string("alloc_timeout: ") + rte_strerror(rte_errno));
                }
            } else {
                {
                    std::lock_guard<std::mutex> g(req.mu);
                    if (req.pending)
                        continue;
                    req.pending = true;
                    req.done = false;
                    req.asked = size;
                }
                // The callback takes req.mu: never call the pool with it held.
                if (int rc = elastic_buf_alloc_async(pool, size, async_cb, &req); rc != 0) {
                    error("alloc_async returned " + std::to_string(rc));
                    std::lock_guard<std::mutex> g(req.mu);
                    req.pending = false;
                    continue;
                }
                std::lock_guard<std::mutex> g(req.mu);
                if (req.done)
                    async_now++; // served within the call; picked up on the next round
            }
        }
        // Withdraw a request still queued, or collect it when it was served meanwhile.
        bool pending;
        {
            std::lock_guard<std::mutex> g(req.mu);
            pending = req.pending && !req.done;
        }
        if (pending) {
            const int rc = elastic_buf_alloc_cancel(pool, async_cb, &req);
            if (rc == 0) {
                std::lock_guard<std::mutex> g(req.mu);
                req.pending = false;
            } else if (rc != -ENOENT) {
                error("cancel returned " + std::to_string(rc));
            }
        }
        for (;;) {
            {
                std::lock_guard<std::mutex> g(req.mu);
                if (!req.pending || req.done)
                    break;
            }
            std::this_thread::yield();
        }
        pick_up_async();
    }
};

TEST(stress, two_threads_and_maintenance_lose_and_duplicate_nothing)
{
    const std::string name = unique_name("stress");
    auto p = heap_params(name, base, chunk, wall);
    p.max_buf_size = max_buf;
    p.sample_period_ms = 1;
    p.idle_period_ms = 2;
    p.headroom_chunks = 1;
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);

    std::atomic<bool> stop{false};
    worker w[2];
    for (int i = 0; i < 2; i++) {
        w[i].id = i + 1;
        w[i].pool = pool.get();
        w[i].rng.seed(0x5eed + i);
    }

    // Maintenance: ticks and trims, and the invariants of every snapshot.
    uint64_t snapshots = 0, bad_snapshots = 0;
    std::thread maint([&] {
        for (unsigned n = 0; !stop.load(std::memory_order_relaxed); n++) {
            if (elastic_pool_maintain(pool.get()) < 0)
                bad_snapshots++;
            if (n % 8 == 0 && elastic_pool_trim(pool.get()) < 0)
                bad_snapshots++;
            elastic_pool_stats st;
            if (elastic_pool_stats_get(pool.get(), &st) != 0 || st.pinned_bytes > wall ||
                st.pinned_bytes != base + uint64_t(st.nb_chunks - 1) * chunk ||
                st.in_use_bytes > st.pinned_bytes || st.nb_chunks != 1 + st.nb_grows - st.nb_shrinks)
                bad_snapshots++;
            snapshots++;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    });
    std::thread t0([&] { w[0].run(stop); });
    std::thread t1([&] { w[1].run(stop); });
    std::this_thread::sleep_for(run_time);
    stop = true;
    t0.join();
    t1.join();
    maint.join();

    for (auto &x : w) {
        EXPECT_EQ(x.bad, 0u) << "worker " << x.id << ": " << x.first_error;
        std::printf("worker %d: %llu allocs (%llu async, %llu of them at once), %llu frees, "
                    "%llu ENOBUFS, %llu timeouts, %zu held at the end\n",
                    x.id, (unsigned long long)x.allocs, (unsigned long long)x.async_later,
                    (unsigned long long)x.async_now, (unsigned long long)x.frees,
                    (unsigned long long)x.enobufs, (unsigned long long)x.timeouts, x.held.size());
    }
    EXPECT_EQ(bad_snapshots, 0u);
    EXPECT_GT(snapshots, 100u);

    // No two live buffers overlap.
    std::vector<buffer> all;
    for (auto &x : w)
        all.insert(all.end(), x.held.begin(), x.held.end());
    std::sort(all.begin(), all.end(), [](const buffer &a, const buffer &b) { return a.p < b.p; });
    for (size_t i = 1; i < all.size(); i++)
        EXPECT_LE(addr(all[i - 1].p) + all[i - 1].size, addr(all[i].p))
            << "buffers " << all[i - 1].stamp << " and " << all[i].stamp << " overlap";
    auto st = stats_of(pool.get());
    uint64_t live_bytes = 0;
    for (auto &b : all)
        live_bytes += b.size;
    EXPECT_EQ(st.in_use_bytes, live_bytes);
    EXPECT_EQ(st.nb_waiters, 0u);

    for (auto &x : w)
        while (!x.held.empty())
            x.free_one(x.held.size() - 1);
    for (auto &x : w)
        EXPECT_EQ(x.bad, 0u) << "worker " << x.id << ": " << x.first_error;

    st = stats_of(pool.get());
    const uint64_t allocs = w[0].allocs + w[1].allocs, frees = w[0].frees + w[1].frees;
    std::printf("pool: %llu allocs, %llu frees, %llu grows, %llu shrinks, %llu samples, "
                "%llu queued, %llu alloc failures, peak in use %llu KiB\n",
                (unsigned long long)st.nb_allocs, (unsigned long long)st.nb_frees,
                (unsigned long long)st.nb_grows, (unsigned long long)st.nb_shrinks,
                (unsigned long long)st.nb_samples, (unsigned long long)st.nb_queued,
                (unsigned long long)st.nb_alloc_fail,
                (unsigned long long)(st.peak_in_use_bytes / KiB));
    EXPECT_EQ(st.in_use_bytes, 0u);
    EXPECT_EQ(st.nb_allocs, st.nb_frees);
    EXPECT_EQ(st.nb_allocs, allocs) << "the pool counted buffers nobody received";
    EXPECT_EQ(st.nb_frees, frees);
    EXPECT_EQ(st.nb_waiters, 0u);
    EXPECT_GT(allocs, 1000u);
    EXPECT_GE(st.nb_grows, 1u);
    EXPECT_GE(st.nb_shrinks, 1u) << "maintenance never released anything during the run";
    EXPECT_GT(st.nb_queued, 0u) << "no request ever waited";

    // Everything is free: after trimming once everything is idle, one max buffer fits per chunk
    // and the pool is back to its base.
    std::this_thread::sleep_for(milliseconds(5));
    elastic_pool_trim(pool.get());
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_chunks, 1u);
    EXPECT_EQ(st.pinned_bytes, base);
    void *whole = elastic_buf_alloc(pool.get(), base);
    EXPECT_NE(whole, nullptr) << "the base did not coalesce back into one block";
    EXPECT_EQ(elastic_buf_free(pool.get(), whole), 0);
}

// Pools with automatic ticks created, used, looked up and freed from two threads at once: the
// name registry and the shared ticker thread (started and stopped as pools come and go).
TEST(stress, pools_come_and_go_with_automatic_ticks)
{
    std::atomic<bool> stop{false};
    std::atomic<unsigned> created{0}, bad{0};
    auto churn = [&](int id) {
        for (int i = 0; i < 150; i++) {
            const std::string name = "churn" + std::to_string(id) + "-" + std::to_string(i);
            auto p = heap_params(name, 64 * KiB, 64 * KiB, 128 * KiB);
            p.flags = ELASTIC_POOL_F_PROVIDER_HEAP; // automatic ticks
            p.tick_ms = 1;
            p.sample_period_ms = 1;
            p.idle_period_ms = 1;
            elastic_pool *pool = elastic_pool_create(&p);
            if (pool == nullptr) {
                bad++;
                continue;
            }
            created++;
            if (elastic_pool_lookup(name.c_str()) != pool)
                bad++;
            void *a = elastic_buf_alloc(pool, 64 * KiB);
            void *b = elastic_buf_alloc(pool, 64 * KiB); // grows
            if (a == nullptr || b == nullptr)
                bad++;
            if (i % 3 == 0)
                std::this_thread::sleep_for(milliseconds(2)); // let the ticker see it
            if (a != nullptr && elastic_buf_free(pool, a) != 0)
                bad++;
            if (b != nullptr && i % 2 == 0 && elastic_buf_free(pool, b) != 0)
                bad++;
            elastic_pool_free(pool); // with b still out every other time
            if (elastic_pool_lookup(name.c_str()) != nullptr)
                bad++;
        }
    };
    std::thread lookups([&] {
        while (!stop.load()) {
            for (int id = 0; id < 2; id++)
                (void)elastic_pool_lookup(("churn" + std::to_string(id) + "-7").c_str());
            std::this_thread::yield();
        }
    });
    std::thread t0(churn, 0), t1(churn, 1);
    t0.join();
    t1.join();
    stop = true;
    lookups.join();
    EXPECT_EQ(bad.load(), 0u);
    EXPECT_EQ(created.load(), 300u);
}

} // namespace
