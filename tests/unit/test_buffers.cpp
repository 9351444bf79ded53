// SPDX-License-Identifier: BSD-3-Clause
// Buffers: classes 4 KiB x 2^k, alignment, split/coalesce in the buddy heap, first fit by chunk
// order, and frees of pointers the pool did not hand out.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "unit_common.hpp"

namespace {

using namespace elastic::test;

class buffers : public ::testing::Test {
protected:
    // A pool of base `base`, chunks `chunk`, wall `wall`; max_buf_size left to its default.
    void make(size_t base, size_t chunk, size_t wall, size_t max_buf = 0)
    {
        name_ = unique_name("buf");
        auto p = heap_params(name_, base, chunk, wall, &clk_);
        p.max_buf_size = max_buf;
        pool_.reset(elastic_pool_create(&p));
        ASSERT_NE(pool_, nullptr) << rte_strerror(rte_errno);
    }

    // Start of the base chunk: in a fresh pool a buffer of the base's whole size is the base.
    uintptr_t base_start(size_t base)
    {
        void *b = elastic_buf_alloc(pool_.get(), base);
        EXPECT_NE(b, nullptr);
        EXPECT_EQ(stats_of(pool_.get()).nb_grows, 0u);
        EXPECT_EQ(elastic_buf_free(pool_.get(), b), 0);
        return addr(b);
    }

    elastic_pool *pool() { return pool_.get(); }

    fake_clock clk_;
    std::string name_;
    pool_ptr pool_;
};

TEST_F(buffers, requests_round_up_to_4kib_classes)
{
    make(1 * MiB, 1 * MiB, 4 * MiB);
    const struct {
        size_t ask, cls;
    } cases[] = {
        {1, 4 * KiB},           {4095, 4 * KiB},       {4 * KiB, 4 * KiB},
        {4 * KiB + 1, 8 * KiB}, {8 * KiB, 8 * KiB},    {12 * KiB, 16 * KiB},
        {65535, 64 * KiB},      {65537, 128 * KiB},    {200 * KiB, 256 * KiB},
        {300 * KiB, 512 * KiB}, {1 * MiB - 1, 1 * MiB}, {1 * MiB, 1 * MiB},
    };
    uint64_t in_use = 0;
    std::vector<void *> out;
    for (const auto &c : cases) {
        void *b = elastic_buf_alloc(pool(), c.ask);
        ASSERT_NE(b, nullptr) << "size " << c.ask << ": " << rte_strerror(rte_errno);
        EXPECT_EQ(addr(b) % ELASTIC_BUF_MIN_SIZE, 0u) << "size " << c.ask;
        EXPECT_EQ(elastic_buf_size(pool(), b), c.cls) << "size " << c.ask;
        std::memset(b, 0xab, c.cls); // the whole class is usable
        in_use += c.cls;
        EXPECT_EQ(stats_of(pool()).in_use_bytes, in_use);
        out.push_back(b);
    }
    const auto st = stats_of(pool());
    EXPECT_EQ(st.nb_allocs, out.size());
    EXPECT_EQ(st.peak_in_use_bytes, in_use);
    for (void *b : out)
        EXPECT_EQ(elastic_buf_free(pool(), b), 0);
    const auto end = stats_of(pool());
    EXPECT_EQ(end.in_use_bytes, 0u);
    EXPECT_EQ(end.peak_in_use_bytes, in_use);
    EXPECT_EQ(end.nb_frees, out.size());
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_size(pool(), out[0]), 0u) << "size of a freed buffer";
    EXPECT_EQ(rte_errno, EINVAL);
}

TEST_F(buffers, zero_and_too_large_are_einval_and_not_failures)
{
    make(64 * KiB, 64 * KiB, 128 * KiB);
    const auto before = stats_of(pool());
    for (size_t bad : {size_t{0}, 64 * KiB + 1, 128 * KiB, SIZE_MAX, SIZE_MAX / 2 + 2}) {
        rte_errno = 0;
        EXPECT_EQ(elastic_buf_alloc(pool(), bad), nullptr) << "size " << bad;
        EXPECT_EQ(rte_errno, EINVAL) << "size " << bad;
        rte_errno = 0;
        EXPECT_EQ(elastic_buf_alloc_timeout(pool(), bad, 1), nullptr) << "size " << bad;
        EXPECT_EQ(rte_errno, EINVAL) << "size " << bad;
        auto cb = [](elastic_pool *, void *, void *) {};
        EXPECT_EQ(elastic_buf_alloc_async(pool(), bad, cb, nullptr), -EINVAL) << "size " << bad;
    }
    const auto after = stats_of(pool());
    expect_same_counters(before, after);
    EXPECT_EQ(after.nb_alloc_fail, before.nb_alloc_fail);
    EXPECT_EQ(after.nb_queued, 0u);
}

TEST_F(buffers, aligned_to_their_class_relative_to_the_chunk_start)
{
    make(256 * KiB, 256 * KiB, 256 * KiB);
    const uintptr_t start = base_start(256 * KiB);
    // Sums to exactly 256 KiB: a buddy heap serves all of it in any order without frees.
    const size_t sizes[] = {4 * KiB, 64 * KiB, 8 * KiB, 32 * KiB, 16 * KiB, 4 * KiB, 128 * KiB};
    std::vector<std::pair<uintptr_t, size_t>> got;
    for (size_t s : sizes) {
        void *b = elastic_buf_alloc(pool(), s);
        ASSERT_NE(b, nullptr) << "size " << s << ": " << rte_strerror(rte_errno);
        EXPECT_TRUE(in_range(b, start, 256 * KiB));
        EXPECT_EQ((addr(b) - start) % s, 0u) << "size " << s << " at +" << addr(b) - start;
        got.emplace_back(addr(b), s);
    }
    std::sort(got.begin(), got.end());
    for (size_t i = 1; i < got.size(); i++)
        EXPECT_LE(got[i - 1].first + got[i - 1].second, got[i].first) << "overlap";
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc(pool(), 4 * KiB), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);
    for (auto &g : got)
        EXPECT_EQ(elastic_buf_free(pool(), reinterpret_cast<void *>(g.first)), 0);
}

TEST_F(buffers, split_then_coalesce_back_to_one_max_buffer)
{
    make(1 * MiB, 1 * MiB, 1 * MiB);
    const uintptr_t start = base_start(1 * MiB);
    std::vector<void *> small;
    std::set<uintptr_t> seen;
    for (int i = 0; i < 256; i++) {
        void *b = elastic_buf_alloc(pool(), 4 * KiB);
        ASSERT_NE(b, nullptr) << "buffer " << i << ": " << rte_strerror(rte_errno);
        EXPECT_TRUE(in_range(b, start, 1 * MiB));
        EXPECT_TRUE(seen.insert(addr(b)).second) << "handed out twice";
        small.push_back(b);
    }
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc(pool(), 4 * KiB), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);
    EXPECT_EQ(stats_of(pool()).in_use_bytes, 1 * MiB);

    std::mt19937 rng(12345);
    std::shuffle(small.begin(), small.end(), rng);
    void *keep = small.back();
    small.pop_back();
    for (void *b : small)
        ASSERT_EQ(elastic_buf_free(pool(), b), 0);
    // One 4 KiB buffer left: the 1 MiB block cannot form, the half without it can.
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc(pool(), 1 * MiB), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);
    void *half = elastic_buf_alloc(pool(), 512 * KiB);
    ASSERT_NE(half, nullptr);
    EXPECT_EQ(addr(half) - start, addr(keep) < start + 512 * KiB ? 512 * KiB : 0u);
    EXPECT_EQ(elastic_buf_free(pool(), half), 0);
    EXPECT_EQ(elastic_buf_free(pool(), keep), 0);

    void *all = elastic_buf_alloc(pool(), 1 * MiB);
    ASSERT_NE(all, nullptr) << "buddies did not coalesce: " << rte_strerror(rte_errno);
    EXPECT_EQ(addr(all), start);
    EXPECT_EQ(elastic_buf_free(pool(), all), 0);
    const auto st = stats_of(pool());
    EXPECT_EQ(st.in_use_bytes, 0u);
    EXPECT_EQ(st.nb_grows, 0u);
    EXPECT_EQ(st.nb_allocs, st.nb_frees);
}

TEST_F(buffers, first_fit_by_chunk_order_base_first)
{
    make(64 * KiB, 64 * KiB, 192 * KiB);
    const uintptr_t base = base_start(64 * KiB);
    std::vector<void *> in_base;
    for (int i = 0; i < 16; i++) {
        void *b = elastic_buf_alloc(pool(), 4 * KiB);
        ASSERT_NE(b, nullptr);
        EXPECT_TRUE(in_range(b, base, 64 * KiB)) << "buffer " << i << " not from the base";
        in_base.push_back(b);
    }
    EXPECT_EQ(stats_of(pool()).nb_grows, 0u) << "grew while the base had room";

    void *g = elastic_buf_alloc(pool(), 4 * KiB);
    ASSERT_NE(g, nullptr);
    EXPECT_FALSE(in_range(g, base, 64 * KiB)) << "grown chunk overlaps the base";
    EXPECT_EQ(stats_of(pool()).nb_grows, 1u);

    // A hole in the base is used before the grown chunk's free space.
    void *hole = in_base[5];
    ASSERT_EQ(elastic_buf_free(pool(), hole), 0);
    void *again = elastic_buf_alloc(pool(), 4 * KiB);
    EXPECT_EQ(again, hole);
    in_base[5] = again;

    // The rest of the first grown chunk fills before a second one is added.
    std::vector<void *> in_first{g};
    for (int i = 0; i < 15; i++) {
        void *b = elastic_buf_alloc(pool(), 4 * KiB);
        ASSERT_NE(b, nullptr);
        EXPECT_FALSE(in_range(b, base, 64 * KiB));
        in_first.push_back(b);
    }
    EXPECT_EQ(stats_of(pool()).nb_grows, 1u);
    const auto [lo, hi] = std::minmax_element(in_first.begin(), in_first.end(),
                                              [](void *a, void *b) { return addr(a) < addr(b); });
    EXPECT_EQ(addr(*hi) - addr(*lo), 60 * KiB) << "first grown chunk is not one 64 KiB range";
    const uintptr_t first = addr(*lo);

    void *second = elastic_buf_alloc(pool(), 4 * KiB);
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(stats_of(pool()).nb_grows, 2u);
    EXPECT_FALSE(in_range(second, base, 64 * KiB));
    EXPECT_FALSE(in_range(second, first, 64 * KiB));

    // The newest chunk drains: with room in both grown chunks, the older one serves.
    ASSERT_EQ(elastic_buf_free(pool(), in_first[7]), 0);
    void *older = elastic_buf_alloc(pool(), 4 * KiB);
    EXPECT_EQ(older, in_first[7]);
    in_first[7] = older;

    for (void *b : in_base)
        EXPECT_EQ(elastic_buf_free(pool(), b), 0);
    for (void *b : in_first)
        EXPECT_EQ(elastic_buf_free(pool(), b), 0);
    EXPECT_EQ(elastic_buf_free(pool(), second), 0);
    EXPECT_EQ(stats_of(pool()).in_use_bytes, 0u);
}

TEST_F(buffers, bad_frees_change_nothing)
{
    make(64 * KiB, 64 * KiB, 128 * KiB);
    const uintptr_t base = base_start(64 * KiB);
    void *b8 = elastic_buf_alloc(pool(), 8 * KiB);
    void *b4 = elastic_buf_alloc(pool(), 4 * KiB);
    ASSERT_NE(b8, nullptr);
    ASSERT_NE(b4, nullptr);
    std::memset(b8, 0x11, 8 * KiB);
    std::memset(b4, 0x22, 4 * KiB);

    // A 4 KiB-aligned address inside the base that no buffer covers.
    uintptr_t unused = 0;
    for (uintptr_t a = base; a < base + 64 * KiB; a += 4 * KiB)
        if (!in_range(reinterpret_cast<void *>(a), addr(b8), 8 * KiB) && a != addr(b4)) {
            unused = a;
            break;
        }
    ASSERT_NE(unused, 0u);

    const std::string other_name = unique_name("other");
    const auto op = heap_params(other_name, 64 * KiB, 64 * KiB, 64 * KiB, &clk_);
    pool_ptr other(elastic_pool_create(&op));
    ASSERT_NE(other, nullptr);
    void *foreign_buf = elastic_buf_alloc(other.get(), 4 * KiB);
    ASSERT_NE(foreign_buf, nullptr);
    const auto other_before = stats_of(other.get());

    int on_stack = 0;
    void *heap = std::aligned_alloc(4 * KiB, 4 * KiB);
    ASSERT_NE(heap, nullptr);
    const struct {
        void *p;
        const char *what;
    } bad[] = {
        {&on_stack, "stack address"},
        {heap, "4 KiB-aligned malloc block"},
        {static_cast<char *>(b8) + 4 * KiB, "second half of an 8 KiB buffer"},
        {static_cast<char *>(b8) + 1, "interior pointer"},
        {static_cast<char *>(b4) + 100, "interior pointer"},
        {reinterpret_cast<void *>(unused), "free block in the chunk"},
        {reinterpret_cast<void *>(base + 64 * KiB * 1024), "far beyond the chunk"},
        {foreign_buf, "buffer of another pool"},
    };
    const auto before = stats_of(pool());
    for (const auto &x : bad) {
        log_capture log;
        rte_errno = 0;
        EXPECT_EQ(elastic_buf_free(pool(), x.p), -EINVAL) << x.what;
        EXPECT_EQ(rte_errno, EINVAL) << x.what;
        EXPECT_GE(log.lines(), 1u) << x.what << ": no log line";
        rte_errno = 0;
        EXPECT_EQ(elastic_buf_size(pool(), x.p), 0u) << x.what;
        EXPECT_EQ(rte_errno, EINVAL) << x.what;
    }
    expect_same_counters(before, stats_of(pool()));
    expect_same_counters(other_before, stats_of(other.get()));
    std::free(heap);

    // Double free.
    ASSERT_EQ(elastic_buf_free(pool(), b4), 0);
    const auto after_free = stats_of(pool());
    {
        log_capture log;
        rte_errno = 0;
        EXPECT_EQ(elastic_buf_free(pool(), b4), -EINVAL);
        EXPECT_EQ(rte_errno, EINVAL);
        EXPECT_GE(log.lines(), 1u) << "double free: no log line";
    }
    expect_same_counters(after_free, stats_of(pool()));

    // Nothing was corrupted: b8's contents are intact, and exactly the rest of the wall can
    // still be handed out (a free that was wrongly accepted would show as extra capacity).
    for (size_t i = 0; i < 8 * KiB; i++)
        ASSERT_EQ(static_cast<unsigned char *>(b8)[i], 0x11) << "byte " << i;
    std::vector<void *> rest;
    std::set<uintptr_t> seen{addr(b8), addr(b8) + 4 * KiB};
    for (;;) {
        void *b = elastic_buf_alloc(pool(), 4 * KiB);
        if (b == nullptr)
            break;
        EXPECT_TRUE(seen.insert(addr(b)).second) << "handed out twice";
        rest.push_back(b);
        ASSERT_LE(rest.size(), 64u);
    }
    EXPECT_EQ(rte_errno, ENOBUFS);
    EXPECT_EQ(rest.size(), (128 * KiB - 8 * KiB) / (4 * KiB));
    for (void *b : rest)
        EXPECT_EQ(elastic_buf_free(pool(), b), 0);
    EXPECT_EQ(elastic_buf_free(pool(), b8), 0);
    EXPECT_EQ(stats_of(pool()).in_use_bytes, 0u);
    EXPECT_EQ(elastic_buf_free(other.get(), foreign_buf), 0);
}

TEST_F(buffers, a_chunk_that_is_not_a_power_of_two_is_used_whole)
{
    make(12 * KiB, 12 * KiB, 12 * KiB); // the buddy heap cuts it into 8 KiB + 4 KiB
    const auto st = stats_of(pool());
    EXPECT_EQ(st.max_buf_size, 8 * KiB);
    EXPECT_EQ(st.pinned_bytes, 12 * KiB);
    void *a = elastic_buf_alloc(pool(), 4 * KiB);
    void *b = elastic_buf_alloc(pool(), 4 * KiB);
    void *c = elastic_buf_alloc(pool(), 4 * KiB);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    ASSERT_NE(c, nullptr) << "the last 4 KiB of the chunk is not usable";
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc(pool(), 4 * KiB), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);
    for (void *x : {a, b, c})
        EXPECT_EQ(elastic_buf_free(pool(), x), 0);
    void *big = elastic_buf_alloc(pool(), 8 * KiB);
    void *small = elastic_buf_alloc(pool(), 4 * KiB);
    ASSERT_NE(big, nullptr);
    ASSERT_NE(small, nullptr);
    EXPECT_EQ(elastic_buf_free(pool(), big), 0);
    EXPECT_EQ(elastic_buf_free(pool(), small), 0);
}

TEST_F(buffers, heap_provider_has_no_iova)
{
    make(64 * KiB, 64 * KiB, 64 * KiB);
    void *b = elastic_buf_alloc(pool(), 4 * KiB);
    ASSERT_NE(b, nullptr);
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_iova(pool(), b), RTE_BAD_IOVA);
    EXPECT_EQ(rte_errno, ENOTSUP);
    EXPECT_EQ(elastic_buf_free(pool(), b), 0);
}

} // namespace
