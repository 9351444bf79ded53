// SPDX-License-Identifier: BSD-3-Clause
// Shared helpers of the unit suite: a fake clock, RAII pool handles, heap-provider parameters with
// manual ticks, and small address/statistics helpers. No EAL anywhere in this suite.
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include <rte_log.h>

#include <elasticpool.h>

namespace elastic::test {

inline constexpr uint64_t ns_ms = 1'000'000;
inline constexpr uint64_t ns_s = 1000 * ns_ms;
inline constexpr size_t KiB = 1024;
inline constexpr size_t MiB = 1024 * KiB;

// A clock the test moves by hand. It starts far from zero so that "before creation" exists.
struct fake_clock {
    std::atomic<uint64_t> now{100'000 * ns_s};

    static uint64_t read(void *ctx) noexcept
    {
        return static_cast<fake_clock *>(ctx)->now.load(std::memory_order_relaxed);
    }
    void advance(uint64_t ns) noexcept { now.fetch_add(ns, std::memory_order_relaxed); }
    void set(uint64_t ns) noexcept { now.store(ns, std::memory_order_relaxed); }
    uint64_t get() const noexcept { return now.load(std::memory_order_relaxed); }
};

struct pool_deleter {
    void operator()(elastic_pool *p) const noexcept { elastic_pool_free(p); }
};
using pool_ptr = std::unique_ptr<elastic_pool, pool_deleter>;

// Pool names are per process; each test binary is its own process.
inline std::string unique_name(const char *tag)
{
    static std::atomic<unsigned> counter{0};
    std::string n = std::string(tag).substr(0, 12) + "-" + std::to_string(counter++);
    return n;
}

// Heap provider, manual ticks, fake clock (when given). Periods stay at their defaults.
inline elastic_pool_params heap_params(const std::string &name, size_t base, size_t chunk,
                                       size_t wall, fake_clock *clk = nullptr)
{
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = name.c_str();
    p.base_size = base;
    p.chunk_size = chunk;
    p.wall_size = wall;
    p.flags = ELASTIC_POOL_F_PROVIDER_HEAP | ELASTIC_POOL_F_MANUAL_TICK;
    if (clk != nullptr) {
        p.clock = &fake_clock::read;
        p.clock_ctx = clk;
    }
    return p;
}

inline elastic_pool_stats stats_of(const elastic_pool *pool)
{
    elastic_pool_stats st;
    std::memset(&st, 0xa5, sizeof(st));
    EXPECT_EQ(elastic_pool_stats_get(pool, &st), 0);
    return st;
}

// The counters that must not move when a call is refused.
inline void expect_same_counters(const elastic_pool_stats &a, const elastic_pool_stats &b)
{
    EXPECT_EQ(a.pinned_bytes, b.pinned_bytes);
    EXPECT_EQ(a.in_use_bytes, b.in_use_bytes);
    EXPECT_EQ(a.peak_in_use_bytes, b.peak_in_use_bytes);
    EXPECT_EQ(a.nb_grows, b.nb_grows);
    EXPECT_EQ(a.nb_shrinks, b.nb_shrinks);
    EXPECT_EQ(a.nb_allocs, b.nb_allocs);
    EXPECT_EQ(a.nb_frees, b.nb_frees);
    EXPECT_EQ(a.nb_chunks, b.nb_chunks);
    EXPECT_EQ(a.nb_waiters, b.nb_waiters);
}

// Captures everything rte_log writes while alive (the EAL is not needed for logging).
class log_capture {
public:
    log_capture()
    {
        f_ = open_memstream(&buf_, &len_);
        rte_openlog_stream(f_);
    }
    ~log_capture()
    {
        rte_openlog_stream(nullptr);
        std::fclose(f_);
        std::free(buf_);
    }
    log_capture(const log_capture &) = delete;
    log_capture &operator=(const log_capture &) = delete;

    std::string text()
    {
        std::fflush(f_);
        return std::string(buf_, len_);
    }
    size_t lines()
    {
        size_t n = 0;
        for (char c : text())
            n += c == '\n';
        return n;
    }

private:
    char *buf_ = nullptr;
    size_t len_ = 0;
    FILE *f_ = nullptr;
};

inline uintptr_t addr(const void *p) noexcept { return reinterpret_cast<uintptr_t>(p); }

inline bool in_range(const void *p, uintptr_t start, size_t len) noexcept
{
    return addr(p) >= start && addr(p) < start + len;
}

} // namespace elastic::test
