// SPDX-License-Identifier: BSD-3-Clause
// A budget that a pool's growth must be admitted by, shared by several pools: the per-NUMA
// manager's node-wide cap on pinned bytes (numa_manager.cpp). The pool core calls it; the
// manager implements it with atomics only (it runs under the pool lock).
#pragma once

#include <cstddef>

namespace elastic::detail {

struct growth_gate {
    // Before reserving a chunk of `bytes` (the base chunk at creation too), pool lock held.
    // false: refused like the wall (ENOBUFS; a request may queue; maintenance retries waiters).
    bool (*admit)(void *ctx, size_t bytes) noexcept = nullptr;
    // Admitted bytes given back: the reservation failed after all, a chunk was released, or the
    // pool was destroyed (once per chunk it still held).
    void (*give_back)(void *ctx, size_t bytes) noexcept = nullptr;
    void *ctx = nullptr;

    explicit operator bool() const noexcept { return admit != nullptr; }
};

} // namespace elastic::detail
