// SPDX-License-Identifier: BSD-3-Clause
// The memory-pressure trigger's sources (pressure.hpp).
#include "pressure.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <dirent.h>
#include <mutex>
#include <string>

#include "elasticpool.h"

namespace elastic::detail {

namespace {

std::mutex mu; // guards the callback pair and the cache (maintenance runs on any thread)
elastic_memory_pressure_fn cb_fn = nullptr;
void *cb_ctx = nullptr;
std::atomic<uint64_t> threshold{0};

// Reading sysfs at every tick of every pool would cost more than the tick: cache per node.
constexpr auto reread_after = std::chrono::milliseconds(100);
constexpr int cache_nodes = 64;
struct cached {
    std::chrono::steady_clock::time_point at{};
    int64_t free_bytes = -1;
    bool valid = false;
};
cached cache[cache_nodes + 1]; // [0]: the whole system

int64_t read_u64_file(const std::string &path) noexcept
{
    FILE *f = fopen(path.c_str(), "r");
    if (f == nullptr)
        return -1;
    unsigned long long v = 0;
    const int n = fscanf(f, "%llu", &v);
    fclose(f);
    return n == 1 ? int64_t(v) : -1;
}

} // namespace

int64_t node_free_hugepage_bytes(int node) noexcept
{
    const std::string dir = node >= 0 ? "/sys/devices/system/node/node" + std::to_string(node) +
                                            "/hugepages"
                                      : std::string("/sys/kernel/mm/hugepages");
    DIR *d = opendir(dir.c_str());
    if (d == nullptr)
        return -1;
    int64_t total = 0;
    bool any = false;
    while (const dirent *e = readdir(d)) {
        unsigned long kb;
        if (sscanf(e->d_name, "hugepages-%lukB", &kb) != 1)
            continue;
        const int64_t n = read_u64_file(dir + "/" + e->d_name + "/free_hugepages");
        if (n < 0)
            continue;
        total += n * int64_t(kb) * 1024;
        any = true;
    }
    closedir(d);
    return any ? total : -1;
}

bool node_memory_pressure(int node) noexcept
{
    const uint64_t min_free = threshold.load(std::memory_order_relaxed);
    elastic_memory_pressure_fn fn;
    void *ctx;
    {
        std::lock_guard<std::mutex> g(mu);
        fn = cb_fn;
        ctx = cb_ctx;
    }
    if (fn != nullptr && fn(node, ctx) != 0)
        return true;
    if (min_free == 0)
        return false;
    const int slot = node >= 0 && node < cache_nodes ? node + 1 : 0;
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> g(mu);
    cached &c = cache[slot];
    if (!c.valid || now - c.at >= reread_after) {
        c.free_bytes = node_free_hugepage_bytes(slot == 0 ? -1 : node);
        c.at = now;
        c.valid = true;
    }
    return c.free_bytes >= 0 && uint64_t(c.free_bytes) < min_free;
}

} // namespace elastic::detail

extern "C" int elastic_memory_pressure_callback_set(elastic_memory_pressure_fn fn,
                                                    void *ctx) noexcept
{
    std::lock_guard<std::mutex> g(elastic::detail::mu);
    elastic::detail::cb_fn = fn;
    elastic::detail::cb_ctx = ctx;
    return 0;
}

extern "C" int elastic_memory_pressure_threshold_set(uint64_t min_free_bytes) noexcept
{
    elastic::detail::threshold.store(min_free_bytes, std::memory_order_relaxed);
    std::lock_guard<std::mutex> g(elastic::detail::mu);
    for (auto &c : elastic::detail::cache)
        c.valid = false;
    return 0;
}
