// SPDX-License-Identifier: BSD-3-Clause
#include "buddy.hpp"

#include <algorithm>
#include <bit>

namespace elastic::detail {

buddy_heap::buddy_heap(uint32_t pages, unsigned max_order, uint32_t first)
    : pages_(pages), max_order_(max_order < max_orders ? max_order : max_orders - 1),
      state_(pages, 0), next_(pages, none), prev_(pages, none)
{
    for (auto &h : heads_)
        h = none;
    // Cut [first, pages) into the largest naturally aligned blocks that fit. Pages below
    // `first` keep state 0: not free (no merge with them), not allocated (free() refuses them).
    uint32_t p = first;
    while (p < pages_) {
        unsigned k = max_order_;
        while (k > 0 && ((p & ((uint32_t(1) << k) - 1)) != 0 || p + (uint32_t(1) << k) > pages_))
            k--;
        push(p, k);
        free_pages_ += uint32_t(1) << k;
        p += uint32_t(1) << k;
    }
}

uint32_t buddy_heap::largest_block(uint32_t pages, unsigned max_order, uint32_t first) noexcept
{
    for (unsigned k = std::min(max_order, max_orders - 1) + 1; k-- > 0;) {
        const uint64_t b = uint64_t(1) << k;
        const uint64_t start = (uint64_t(first) + b - 1) & ~(b - 1);
        if (start + b <= pages)
            return uint32_t(b);
    }
    return 0;
}

void buddy_heap::push(uint32_t page, unsigned order) noexcept
{
    state_[page] = free_bit | uint8_t(order);
    prev_[page] = none;
    next_[page] = heads_[order];
    if (heads_[order] != none)
        prev_[heads_[order]] = page;
    heads_[order] = page;
    avail_mask_ |= 1u << order;
}

void buddy_heap::unlink(uint32_t page, unsigned order) noexcept
{
    state_[page] = 0;
    if (prev_[page] != none)
        next_[prev_[page]] = next_[page];
    else
        heads_[order] = next_[page];
    if (next_[page] != none)
        prev_[next_[page]] = prev_[page];
    if (heads_[order] == none)
        avail_mask_ &= ~(1u << order);
}

int64_t buddy_heap::alloc(unsigned order) noexcept
{
    if (order > max_order_)
        return -1;
    uint32_t mask = avail_mask_ >> order;
    if (mask == 0)
        return -1;
    unsigned k = order + unsigned(std::countr_zero(mask));
    uint32_t p = heads_[k];
    unlink(p, k);
    while (k > order) { // split: keep the lower half, free the upper one
        k--;
        push(p + (uint32_t(1) << k), k);
    }
    state_[p] = used_bit | uint8_t(order);
    free_pages_ -= uint32_t(1) << order;
    return p;
}

int buddy_heap::free(uint32_t page) noexcept
{
    if (page >= pages_ || (state_[page] & used_bit) == 0)
        return -1;
    const unsigned order = state_[page] & order_mask;
    state_[page] = 0;
    free_pages_ += uint32_t(1) << order;
    unsigned k = order;
    while (k < max_order_) {
        uint32_t buddy = page ^ (uint32_t(1) << k);
        if (buddy + (uint32_t(1) << k) > pages_ || state_[buddy] != (free_bit | uint8_t(k)))
            break;
        unlink(buddy, k);
        page &= ~(uint32_t(1) << k);
        k++;
    }
    push(page, k);
    return int(order);
}

int buddy_heap::allocated_order(uint32_t page) const noexcept
{
    if (page >= pages_ || (state_[page] & used_bit) == 0)
        return -1;
    return state_[page] & order_mask;
}

int64_t buddy_heap::containing_block(uint32_t page, unsigned *order) const noexcept
{
    if (page >= pages_)
        return -1;
    for (unsigned k = 0; k <= max_order_; k++) {
        uint32_t start = page & ~((uint32_t(1) << k) - 1);
        if (state_[start] == (used_bit | uint8_t(k))) {
            *order = k;
            return start;
        }
    }
    return -1;
}

} // namespace elastic::detail
