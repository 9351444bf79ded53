// SPDX-License-Identifier: BSD-3-Clause
// The hugetlb provider, the default without the EAL: chunks come from hugepages when the machine
// has free ones (2 MiB-aligned, HugePages_Free - HugePages_Rsvd drops) and go back on release;
// without them the chunks are ordinary pages. Either way there is no IOVA without the EAL.
#include <cerrno>
#include <cstdio>
#include <vector>

#include <gtest/gtest.h>

#include "unit_common.hpp"

namespace {

using namespace elastic::test;

// HugePages_Free - HugePages_Rsvd: default-size hugepages nobody holds or has reserved.
long hugepages_available()
{
    std::FILE *f = std::fopen("/proc/meminfo", "r");
    if (f == nullptr)
        return -1;
    long free_pages = -1, rsvd = -1, v = 0;
    char line[256];
    while (std::fgets(line, sizeof(line), f) != nullptr) {
        if (std::sscanf(line, "HugePages_Free: %ld", &v) == 1)
            free_pages = v;
        else if (std::sscanf(line, "HugePages_Rsvd: %ld", &v) == 1)
            rsvd = v;
    }
    std::fclose(f);
    return free_pages < 0 || rsvd < 0 ? -1 : free_pages - rsvd;
}

long hugepage_kib()
{
    std::FILE *f = std::fopen("/proc/meminfo", "r");
    if (f == nullptr)
        return 0;
    long kib = 0;
    char line[256];
    while (std::fgets(line, sizeof(line), f) != nullptr)
        if (std::sscanf(line, "Hugepagesize: %ld kB", &kib) == 1)
            break;
    std::fclose(f);
    return kib;
}

TEST(hugetlb, default_provider_without_eal)
{
    fake_clock clk;
    const std::string name = unique_name("hugetlb");
    constexpr size_t chunk = 4 * MiB;
    auto p = heap_params(name, chunk, chunk, 2 * chunk, &clk);
    p.flags = ELASTIC_POOL_F_MANUAL_TICK; // no provider flag, no EAL: hugetlb
    p.max_buf_size = chunk;
    const long avail_before = hugepages_available();
    const bool huge = hugepage_kib() == 2048 && avail_before >= long(4 * chunk / (2 * MiB));
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    const long avail_base = hugepages_available();

    void *whole = elastic_buf_alloc(pool.get(), chunk); // the base chunk itself
    ASSERT_NE(whole, nullptr);
    std::memset(whole, 0x3c, chunk);
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_iova(pool.get(), whole), RTE_BAD_IOVA);
    EXPECT_EQ(rte_errno, ENOTSUP);
    void *grown = elastic_buf_alloc(pool.get(), chunk);
    ASSERT_NE(grown, nullptr);
    std::memset(grown, 0x3c, chunk);
    const long avail_grown = hugepages_available();
    if (huge) {
        EXPECT_EQ(addr(whole) % (2 * MiB), 0u) << "base chunk not on a hugepage boundary";
        EXPECT_EQ(addr(grown) % (2 * MiB), 0u) << "grown chunk not on a hugepage boundary";
        EXPECT_LE(avail_base, avail_before - 2) << "the base chunk took no hugepages";
        EXPECT_LE(avail_grown, avail_base - 2) << "the grown chunk took no hugepages";
    } else {
        std::printf("no free 2 MiB hugepages: the provider used ordinary pages\n");
    }

    ASSERT_EQ(elastic_buf_free(pool.get(), grown), 0);
    ASSERT_EQ(elastic_buf_free(pool.get(), whole), 0);
    clk.advance(300 * ns_s);
    EXPECT_EQ(elastic_pool_trim(pool.get()), 1);
    EXPECT_EQ(stats_of(pool.get()).pinned_bytes, chunk);
    if (huge) {
        EXPECT_GE(hugepages_available(), avail_grown + 2) << "release kept the hugepages";
    }
    pool.reset();
    if (huge) {
        EXPECT_GE(hugepages_available(), avail_base + 2) << "free kept the base's hugepages";
    }
}

} // namespace
