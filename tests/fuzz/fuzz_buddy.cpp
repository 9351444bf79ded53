// SPDX-License-Identifier: BSD-3-Clause
// libFuzzer: the buddy heap against a shadow model. Input: pages (2 bytes), max order (1 byte),
// then operations of 2 bytes (alloc of an order / free of a live block / free of any page).
// Checked after every operation: blocks are naturally aligned, inside the chunk and never
// overlap; free pages add up; a foreign, interior or double free is refused and changes nothing.
// At the end everything is freed: all pages free, and every class the fresh heap could serve can
// be served again (full coalescing).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <vector>

#include "buddy.hpp"

using elastic::detail::buddy_heap;

#define CHECK(c)                                                                                \
    do {                                                                                        \
        if (!(c))                                                                               \
            abort();                                                                            \
    } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n < 3)
        return 0;
    const uint32_t pages = 1 + ((uint32_t(d[0]) << 8 | d[1]) % 4096);
    const unsigned max_order = d[2] % 13;
    buddy_heap h(pages, max_order);
    std::vector<bool> fresh(max_order + 1);
    for (unsigned k = 0; k <= max_order; k++)
        fresh[k] = h.can_alloc(k);
    std::map<uint32_t, unsigned> live; // start page -> order
    std::vector<uint8_t> shadow(pages, 0);
    uint64_t used = 0;
    for (size_t i = 3; i + 1 < n; i += 2) {
        const uint8_t op = d[i], arg = d[i + 1];
        if (op % 3 == 0) {
            const unsigned k = arg % (max_order + 1);
            const bool could = h.can_alloc(k);
            const int64_t p = h.alloc(k);
            CHECK((p >= 0) == could);
            if (p < 0)
                continue;
            const uint32_t pg = uint32_t(p), len = uint32_t(1) << k;
            CHECK(pg % len == 0 && uint64_t(pg) + len <= pages);
            for (uint32_t j = pg; j < pg + len; j++) {
                CHECK(shadow[j] == 0);
                shadow[j] = 1;
            }
            CHECK(h.allocated_order(pg) == int(k));
            live[pg] = k;
            used += len;
        } else if (op % 3 == 1 && !live.empty()) {
            auto it = live.begin();
            std::advance(it, arg % live.size());
            const uint32_t pg = it->first, len = uint32_t(1) << it->second;
            CHECK(h.free(pg) == int(it->second));
            for (uint32_t j = pg; j < pg + len; j++)
                shadow[j] = 0;
            used -= len;
            live.erase(it);
        } else {
            const uint32_t pg = (uint32_t(arg) * 2654435761u) % pages;
            if (live.count(pg) != 0)
                continue;
            const uint32_t before = h.free_pages();
            CHECK(h.free(pg) < 0); // not a live block start: foreign, interior or double free
            CHECK(h.free_pages() == before);
        }
        CHECK(h.free_pages() == pages - used);
    }
    for (const auto &[pg, k] : live)
        CHECK(h.free(pg) == int(k));
    CHECK(h.free_pages() == pages);
    for (unsigned k = 0; k <= max_order; k++)
        CHECK(h.can_alloc(k) == fresh[k]);
    return 0;
}
