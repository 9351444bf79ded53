// SPDX-License-Identifier: BSD-3-Clause
// Read-only views of a pool's chunks for telemetry; kept apart from pool.cpp.
#include "pool.hpp"

namespace elastic::detail {

size_t var_pool::chunk_infos(chunk_info *out, size_t n, uint64_t *now_ns) const noexcept
{
    std::lock_guard lk(mu_);
    const uint64_t t = now();
    for (size_t i = 0; i < n && i < chunks_.size(); i++) {
        const chunk &c = *chunks_[i];
        out[i].size = c.size;
        out[i].free_bytes = size_t(c.heap.free_pages()) << page_shift;
        out[i].in_use = c.in_use;
        const uint64_t last = ledger_.rec(uint32_t(i)).last_alloc_ns;
        out[i].idle_ns = t >= last ? t - last : 0;
    }
    if (now_ns != nullptr)
        *now_ns = t;
    return chunks_.size();
}

} // namespace elastic::detail
