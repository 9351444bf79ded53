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

// Hugetlb bytes this process maps: the sizes of its mappings whose kernel page size is the
// hugepage size (/proc/self/smaps). Counted whether or not the pages were touched (a sanitizer
// makes mlock a no-op); nobody else's pages count.
long own_hugetlb_kib()
{
    std::FILE *f = std::fopen("/proc/self/smaps", "r");
    if (f == nullptr)
        return -1;
    const long huge_kib = hugepage_kib();
    long kib = 0, size = 0, v = 0;
    char line[512];
    while (std::fgets(line, sizeof(line), f) != nullptr) {
        if (std::sscanf(line, "Size: %ld kB", &v) == 1)
            size = v;
        else if (std::sscanf(line, "KernelPageSize: %ld kB", &v) == 1 && v == huge_kib)
            kib += size;
    }
    std::fclose(f);
    return kib;
}

// Sizes that are not whole hugepages are rounded up to them: pinned_bytes is what the provider
// maps (checked against this process's hugetlb mappings), on creation, growth and release.
TEST(hugetlb, chunks_are_whole_hugepages_and_pinned_bytes_is_what_is_mapped)
{
    fake_clock clk;
    const size_t huge = size_t(hugepage_kib()) * 1024;
    ASSERT_GT(huge, 0u);
    const std::string name = unique_name("hugepg");
    auto p = heap_params(name, huge / 2, huge + huge / 2, 8 * huge, &clk);
    p.flags = ELASTIC_POOL_F_PROVIDER_HUGETLB | ELASTIC_POOL_F_MANUAL_TICK;
    p.max_buf_size = huge / 2;
    const long mapped_before = own_hugetlb_kib();
    const bool have = hugepages_available() >= 8 && mapped_before >= 0 && hugepage_kib() > 0;
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    auto st = stats_of(pool.get());
    EXPECT_EQ(st.base_size, huge) << "half a hugepage asked: one mapped";
    EXPECT_EQ(st.chunk_size, 2 * huge) << "one and a half asked: two mapped";
    EXPECT_EQ(st.pinned_bytes, huge);
    auto mapped = [&] { return uint64_t(own_hugetlb_kib() - mapped_before) * 1024; };
    if (have) {
        EXPECT_EQ(mapped(), st.pinned_bytes) << "the base maps what pinned_bytes says";
    }

    // Fill the base, then one buffer more: one chunk of two hugepages.
    std::vector<void *> bufs;
    for (int i = 0; i < 3; i++) {
        void *b = elastic_buf_alloc(pool.get(), huge / 2);
        ASSERT_NE(b, nullptr) << i;
        bufs.push_back(b);
    }
    st = stats_of(pool.get());
    EXPECT_EQ(st.nb_chunks, 2u);
    EXPECT_EQ(st.pinned_bytes, 3 * huge);
    if (have) {
        EXPECT_EQ(mapped(), st.pinned_bytes) << "a grown chunk maps what pinned_bytes says";
    }
    for (void *b : bufs)
        ASSERT_EQ(elastic_buf_free(pool.get(), b), 0);
    clk.advance(300 * ns_s);
    EXPECT_EQ(elastic_pool_trim(pool.get()), 1);
    st = stats_of(pool.get());
    EXPECT_EQ(st.pinned_bytes, huge);
    if (have) {
        EXPECT_EQ(mapped(), st.pinned_bytes) << "a release unmaps what pinned_bytes drops by";
    }
    if (!have)
        std::printf("no free hugepages (or no smaps): sizes checked, mappings not\n");

    // A wall below the rounded base cannot be kept.
    const std::string small = unique_name("hugesm");
    auto q = heap_params(small, huge / 2, huge / 2, huge / 2, &clk);
    q.flags = ELASTIC_POOL_F_PROVIDER_HUGETLB | ELASTIC_POOL_F_MANUAL_TICK;
    rte_errno = 0;
    EXPECT_EQ(elastic_pool_create(&q), nullptr);
    EXPECT_EQ(rte_errno, EINVAL);
}

} // namespace
