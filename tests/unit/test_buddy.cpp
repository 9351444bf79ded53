// SPDX-License-Identifier: BSD-3-Clause
// Direct tests of the buddy heap (lib/elasticpool/buddy.hpp): the initial cut of a chunk that is
// not a power of two, split and coalesce, refusals, and a long random run against a page map.
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "buddy.hpp"

namespace {

using elastic::detail::buddy_heap;

// The blocks a fresh heap of `pages` is cut into, as orders, in address order.
std::vector<unsigned> initial_cut(uint32_t pages, unsigned max_order)
{
    std::vector<unsigned> out;
    uint32_t p = 0;
    while (p < pages) {
        unsigned k = max_order;
        while (k > 0 && ((p % (1u << k)) != 0 || p + (1u << k) > pages))
            k--;
        out.push_back(k);
        p += 1u << k;
    }
    return out;
}

// A memzone chunk of whole hugepages: page 0 holds the malloc header and is not the heap's.
TEST(buddy, a_chunk_without_its_first_page)
{
    buddy_heap h(512, 8, 1); // one 2 MiB hugepage of 4 KiB pages, max 1 MiB blocks
    EXPECT_EQ(h.free_pages(), 511u);
    EXPECT_EQ(buddy_heap::largest_block(512, 8, 1), 256u);
    EXPECT_EQ(buddy_heap::largest_block(512, 9, 1), 256u) << "the 2 MiB block would need page 0";
    EXPECT_EQ(buddy_heap::largest_block(1024, 9, 1), 512u);
    EXPECT_EQ(buddy_heap::largest_block(1536, 10, 1), 512u);
    EXPECT_EQ(buddy_heap::largest_block(512, 9, 0), 512u);
    EXPECT_EQ(h.free(0), -1) << "page 0 is no block";
    EXPECT_EQ(h.allocated_order(0), -1);
    unsigned order = 0;
    EXPECT_EQ(h.containing_block(0, &order), -1);
    // Every page but 0 is handed out, in blocks that never cover page 0, and all merge back.
    std::vector<int64_t> got;
    for (int64_t pg; (pg = h.alloc(0)) >= 0;)
        got.push_back(pg);
    EXPECT_EQ(got.size(), 511u);
    EXPECT_EQ(std::count(got.begin(), got.end(), 0), 0);
    for (int64_t pg : got)
        EXPECT_EQ(h.free(uint32_t(pg)), 0);
    EXPECT_EQ(h.free_pages(), 511u);
    EXPECT_EQ(h.alloc(8), 256) << "the 1 MiB block is whole again";
    EXPECT_EQ(h.alloc(8), -1);
    EXPECT_EQ(h.alloc(7), 128);
}

TEST(buddy, twelve_pages_are_eight_plus_four)
{
    buddy_heap h(12, 8);
    EXPECT_EQ(h.pages(), 12u);
    EXPECT_EQ(h.free_pages(), 12u);
    EXPECT_FALSE(h.can_alloc(4));
    EXPECT_TRUE(h.can_alloc(3));
    EXPECT_EQ(h.alloc(4), -1);
    EXPECT_EQ(h.alloc(3), 0);
    EXPECT_EQ(h.alloc(3), -1);
    EXPECT_EQ(h.alloc(2), 8);
    EXPECT_EQ(h.free_pages(), 0u);
    EXPECT_EQ(h.alloc(0), -1);
    EXPECT_EQ(h.free(8), 2);
    EXPECT_EQ(h.free(8), -1) << "double free";
    EXPECT_EQ(h.free(0), 3);
    EXPECT_EQ(h.free_pages(), 12u);
    // [8,12) never joins [0,8): still no block of 16.
    EXPECT_EQ(h.alloc(4), -1);
}

TEST(buddy, split_keeps_the_lower_half_and_coalesces_back)
{
    buddy_heap h(8, 3);
    const int64_t a = h.alloc(0);
    const int64_t b = h.alloc(0);
    const int64_t c = h.alloc(1);
    const int64_t d = h.alloc(2);
    EXPECT_EQ(a, 0);
    EXPECT_EQ(b, 1);
    EXPECT_EQ(c, 2);
    EXPECT_EQ(d, 4);
    EXPECT_EQ(h.free_pages(), 0u);
    EXPECT_EQ(h.free(1), 0);
    EXPECT_EQ(h.alloc(1), -1) << "page 1 alone is not an order-1 block";
    EXPECT_EQ(h.free(0), 0);
    EXPECT_EQ(h.alloc(1), 0) << "pages 0 and 1 did not coalesce";
    EXPECT_EQ(h.free(0), 1);
    EXPECT_EQ(h.free(2), 1);
    EXPECT_EQ(h.free(4), 2);
    EXPECT_EQ(h.alloc(3), 0) << "did not coalesce to the whole heap";
}

TEST(buddy, refusals_change_nothing)
{
    buddy_heap h(16, 4);
    const int64_t a = h.alloc(2); // [0,4)
    ASSERT_EQ(a, 0);
    EXPECT_EQ(h.free(1), -1) << "interior page";
    EXPECT_EQ(h.free(4), -1) << "start of a free block";
    EXPECT_EQ(h.free(16), -1) << "past the end";
    EXPECT_EQ(h.free(UINT32_MAX), -1);
    EXPECT_EQ(h.alloc(5), -1) << "above max_order";
    EXPECT_EQ(h.free_pages(), 12u);
    EXPECT_EQ(h.allocated_order(0), 2);
    EXPECT_EQ(h.allocated_order(1), -1);
    EXPECT_EQ(h.allocated_order(4), -1);
    unsigned order = 99;
    EXPECT_EQ(h.containing_block(3, &order), 0);
    EXPECT_EQ(order, 2u);
    EXPECT_EQ(h.containing_block(4, &order), -1);
    EXPECT_EQ(h.containing_block(16, &order), -1);
    EXPECT_EQ(h.free(0), 2);
    EXPECT_EQ(h.containing_block(3, &order), -1);
    EXPECT_EQ(h.alloc(4), 0);
}

TEST(buddy, one_page_heap)
{
    buddy_heap h(1, 8);
    EXPECT_EQ(h.alloc(1), -1);
    EXPECT_EQ(h.alloc(0), 0);
    EXPECT_EQ(h.alloc(0), -1);
    EXPECT_EQ(h.free(0), 0);
    EXPECT_EQ(h.alloc(0), 0);
}

struct random_case {
    uint32_t pages;
    unsigned max_order;
};

class buddy_random : public ::testing::TestWithParam<random_case> {};

TEST_P(buddy_random, never_overlaps_and_always_coalesces)
{
    const auto [pages, max_order] = GetParam();
    buddy_heap h(pages, max_order);
    std::vector<int> owner(pages, -1); // block id per page
    struct block {
        uint32_t start;
        unsigned order;
    };
    std::vector<block> live;
    std::mt19937 rng(pages * 31 + max_order);
    uint32_t used = 0;
    for (int step = 0; step < 20000; step++) {
        if (!live.empty() && (rng() % 100 < 45 || used == pages)) {
            const size_t i = rng() % live.size();
            const block b = live[i];
            ASSERT_EQ(h.free(b.start), int(b.order)) << "step " << step;
            ASSERT_EQ(h.free(b.start), -1) << "double free accepted at step " << step;
            for (uint32_t p = b.start; p < b.start + (1u << b.order); p++)
                owner[p] = -1;
            used -= 1u << b.order;
            live[i] = live.back();
            live.pop_back();
        } else {
            const unsigned order = rng() % (max_order + 1);
            const int64_t s = h.alloc(order);
            if (s < 0) {
                // Refused: then no free, aligned run of 2^order pages fits in a block of the cut
                // (a conservative check: at least the heap cannot be empty enough to hold it in
                // any of the initial blocks wholly free).
                uint32_t p = 0;
                for (unsigned k : initial_cut(pages, max_order)) {
                    if (k >= order) {
                        bool all_free = true;
                        for (uint32_t q = p; q < p + (1u << k); q++)
                            all_free = all_free && owner[q] < 0;
                        ASSERT_FALSE(all_free) << "refused order " << order << " with the block "
                                               << p << " (order " << k << ") wholly free";
                    }
                    p += 1u << k;
                }
                continue;
            }
            const uint32_t start = uint32_t(s);
            ASSERT_EQ(start % (1u << order), 0u) << "misaligned";
            ASSERT_LE(start + (1u << order), pages);
            for (uint32_t p = start; p < start + (1u << order); p++) {
                ASSERT_EQ(owner[p], -1) << "page " << p << " handed out twice";
                owner[p] = step;
            }
            used += 1u << order;
            live.push_back(block{start, order});
        }
        ASSERT_EQ(h.free_pages(), pages - used);
    }
    for (const block &b : live)
        ASSERT_EQ(h.free(b.start), int(b.order));
    EXPECT_EQ(h.free_pages(), pages);
    // Fully coalesced: the initial cut can be allocated again, largest blocks first.
    std::vector<unsigned> cut = initial_cut(pages, max_order);
    std::sort(cut.rbegin(), cut.rend());
    for (unsigned k : cut)
        EXPECT_GE(h.alloc(k), 0) << "order " << k << " missing after everything was freed";
    EXPECT_EQ(h.free_pages(), 0u);
}

INSTANTIATE_TEST_SUITE_P(shapes, buddy_random,
                         ::testing::Values(random_case{1, 0}, random_case{5, 2},
                                           random_case{12, 8}, random_case{64, 3},
                                           random_case{100, 4}, random_case{256, 8},
                                           random_case{300, 6}));

} // namespace
