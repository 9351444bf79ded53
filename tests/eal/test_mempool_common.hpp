/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once
// Helpers shared by the EAL tests of the elastic mempool driver (test_mempool_*.cpp).

#include "eal_env.hpp"

#include <elastic_mempool.h>

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace elastic::test {

// A clock the test moves by hand (elastic_mempool_params.clock).
struct fake_clock {
    std::atomic<uint64_t> ns{100'000'000'000};
    static uint64_t read(void *ctx) { return static_cast<fake_clock *>(ctx)->ns.load(); }
    void advance_ms(uint64_t ms) { ns += ms * 1'000'000; }
};

inline elastic_mempool_params manual_params(unsigned base, unsigned chunk, fake_clock *clk)
{
    elastic_mempool_params p;
    elastic_mempool_params_init(&p);
    p.base_objs = base;
    p.chunk_objs = chunk;
    p.flags = ELASTIC_MEMPOOL_F_MANUAL_TICK | ELASTIC_MEMPOOL_F_NO_PREGROW;
    p.sample_period_ms = 1000;
    p.idle_period_ms = 5000;
    p.headroom_chunks = 1;
    if (clk != nullptr) {
        p.clock = fake_clock::read;
        p.clock_ctx = clk;
    }
    return p;
}

inline elastic_pool_stats stats_of(const rte_mempool *mp)
{
    elastic_pool_stats st{};
    EXPECT_EQ(elastic_mempool_stats_get(mp, &st), 0);
    return st;
}

inline elastic_mempool_xstats xstats_of(const rte_mempool *mp)
{
    elastic_mempool_xstats xs{};
    EXPECT_EQ(elastic_mempool_xstats_get(mp, &xs), 0);
    return xs;
}

// Hugepage files this process maps (<file-prefix>map_*): its own pinned pages, whatever else
// runs on the machine.
inline long own_hugepage_files()
{
    namespace fs = std::filesystem;
    const std::string dir = rte_eal_get_runtime_dir();
    const std::string prefix = fs::path(dir).filename().string() + "map_";
    long n = 0;
    std::error_code ec;
    for (fs::directory_iterator it("/dev/hugepages", ec), end; !ec && it != end; it.increment(ec))
        if (it->path().filename().string().rfind(prefix, 0) == 0)
            n++;
    return n;
}

// Allocate mbufs until the pool refuses; returns them.
inline std::vector<rte_mbuf *> alloc_all(rte_mempool *mp, size_t limit = SIZE_MAX)
{
    std::vector<rte_mbuf *> v;
    while (v.size() < limit) {
        rte_mbuf *m = rte_pktmbuf_alloc(mp);
        if (m == nullptr)
            break;
        v.push_back(m);
    }
    return v;
}

inline void free_all(std::vector<rte_mbuf *> &v)
{
    for (rte_mbuf *m : v)
        rte_pktmbuf_free(m);
    v.clear();
}

} // namespace elastic::test
