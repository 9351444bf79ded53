// SPDX-License-Identifier: BSD-3-Clause
// The sizing report (elastic_pool_sizing_get) on a demand worked out by hand, fake clock.
#include <vector>

#include <gtest/gtest.h>

#include "unit_common.hpp"

using namespace elastic::test;

namespace {
void noop_cb(elastic_pool *, void *, void *) {}
} // namespace

TEST(sizing, peaks_floor_and_recommendations_from_the_demand_seen)
{
    fake_clock clk;
    const std::string name = unique_name("sizing");
    elastic_pool_params p = heap_params(name, 1 * MiB, 1 * MiB, 4 * MiB, &clk);
    p.sample_period_ms = 1000;
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);

    elastic_pool_sizing sz;
    ASSERT_EQ(elastic_pool_sizing_get(pool.get(), &sz), 0);
    EXPECT_EQ(sz.peak_in_use_bytes, 0u);
    EXPECT_EQ(sz.peak_demand_bytes, 0u);
    EXPECT_EQ(sz.epochs, 0u);

    // 4 MiB in use (the wall), and two more 1 MiB requests queue: demand 6 MiB.
    std::vector<void *> bufs;
    for (int i = 0; i < 4; i++) {
        bufs.push_back(elastic_buf_alloc(pool.get(), 1 * MiB));
        ASSERT_NE(bufs.back(), nullptr);
    }
    int a = 0, b = 0;
    ASSERT_EQ(elastic_buf_alloc_async(pool.get(), 1 * MiB, noop_cb, &a), 0);
    ASSERT_EQ(elastic_buf_alloc_async(pool.get(), 1 * MiB, noop_cb, &b), 0);
    ASSERT_EQ(stats_of(pool.get()).nb_waiters, 2u);
    ASSERT_EQ(elastic_buf_alloc_cancel(pool.get(), noop_cb, &a), 0);
    ASSERT_EQ(elastic_buf_alloc_cancel(pool.get(), noop_cb, &b), 0);

    // Then 1 MiB stays in use for five sample periods.
    for (int i = 1; i < 4; i++)
        ASSERT_EQ(elastic_buf_free(pool.get(), bufs[i]), 0);
    for (int s = 0; s < 5; s++) {
        clk.advance(1 * ns_s);
        elastic_pool_maintain(pool.get());
    }

    ASSERT_EQ(elastic_pool_sizing_get(pool.get(), &sz), 0);
    EXPECT_EQ(sz.epochs, 5u);
    EXPECT_EQ(sz.peak_in_use_bytes, 4 * MiB);
    EXPECT_EQ(sz.peak_demand_bytes, 6 * MiB) << "queued requests are demand too";
    EXPECT_EQ(sz.window_peak_bytes, 4 * MiB); // the 300 s idle period covers the first epoch
    EXPECT_EQ(sz.floor_demand_bytes, 1 * MiB);
    // Base: 1 MiB floor in whole 2 MiB pages -> 2 MiB. Wall: 6 MiB x 1.25 = 7.5 MiB, i.e. the
    // base plus 6 whole 1 MiB chunks = 8 MiB. Static: 8 MiB = 4 hugepages, --socket-mem 8.
    EXPECT_EQ(sz.recommended_base, 2 * MiB);
    EXPECT_EQ(sz.recommended_wall, 8 * MiB);
    EXPECT_EQ(sz.static_bytes, 8 * MiB);
    EXPECT_EQ(sz.hugepages_2m, 4u);
    EXPECT_EQ(sz.socket_mem_mb, 8u);

    EXPECT_EQ(elastic_pool_sizing_get(pool.get(), nullptr), -EINVAL);
    EXPECT_EQ(elastic_pool_sizing_get(nullptr, &sz), -EINVAL);
    ASSERT_EQ(elastic_buf_free(pool.get(), bufs[0]), 0);
}
