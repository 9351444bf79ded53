// SPDX-License-Identifier: BSD-3-Clause
// Buddy heap over one chunk, in pages of 4 KiB (patent step 504: buffers of 4 KiB x 2^k).
//
// A chunk of N pages is cut at creation into naturally aligned power-of-two blocks (relative to
// the chunk start) no larger than 2^max_order pages: N = 12, max_order 8 gives [0,8) and [8,12).
// A block of order k at page p has its buddy at p ^ 2^k (the XOR flips the one bit that tells the
// two halves of the order-(k+1) block apart): p = 8, k = 2 -> buddy 12, which lies past N = 12,
// so that block never coalesces. Freeing merges with the buddy while the buddy is a free block of
// the same order; allocating splits the smallest free block that fits and frees the upper halves.
//
// All metadata lives outside the chunk (the chunk's memory is all usable, pinned bytes are
// exactly the chunk size): one state byte per page and free lists linked by 32-bit page index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace elastic::detail {

inline constexpr unsigned page_shift = 12;
inline constexpr size_t page_size = size_t(1) << page_shift;
inline constexpr unsigned max_orders = 24; // up to 2^23 pages = 32 GiB per buffer

class buddy_heap {
public:
    // pages: chunk size in pages (>= 1); max_order: largest block is 2^max_order pages;
    // first: pages [0, first) are not the heap's (never free, never a block, never merged
    // with): a memzone chunk's first page holds its malloc header. Blocks stay naturally
    // aligned relative to page 0.
    buddy_heap(uint32_t pages, unsigned max_order, uint32_t first = 0);

    // Largest block (in pages, a power of two <= 2^max_order) such a heap holds: the largest
    // naturally aligned power-of-two run inside [first, pages).
    static uint32_t largest_block(uint32_t pages, unsigned max_order, uint32_t first) noexcept;

    // Page index of a new block of 2^order pages, or -1 when none is free.
    int64_t alloc(unsigned order) noexcept;

    // Free the block that starts at `page`. Returns its order, or -1 when no allocated block
    // starts there (foreign, interior or double free): nothing is changed then.
    int free(uint32_t page) noexcept;

    // Order of the allocated block starting at `page`, or -1.
    int allocated_order(uint32_t page) const noexcept;

    // Start page of the allocated block containing `page` (its order in *order), or -1.
    int64_t containing_block(uint32_t page, unsigned *order) const noexcept;

    bool can_alloc(unsigned order) const noexcept { return (avail_mask_ >> order) != 0; }
    uint32_t pages() const noexcept { return pages_; }
    uint32_t free_pages() const noexcept { return free_pages_; }
    unsigned max_order() const noexcept { return max_order_; }

private:
    static constexpr uint32_t none = UINT32_MAX;
    static constexpr uint8_t free_bit = 0x80;
    static constexpr uint8_t used_bit = 0x40;
    static constexpr uint8_t order_mask = 0x3f;

    void push(uint32_t page, unsigned order) noexcept;
    void unlink(uint32_t page, unsigned order) noexcept;

    uint32_t pages_;
    unsigned max_order_;
    uint32_t free_pages_ = 0;
    uint32_t avail_mask_ = 0;          // bit k: free list k is not empty
    uint32_t heads_[max_orders];
    std::vector<uint8_t> state_;       // per page: free_bit|order or used_bit|order at a block start
    std::vector<uint32_t> next_, prev_;
};

} // namespace elastic::detail
