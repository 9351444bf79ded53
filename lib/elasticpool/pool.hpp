// SPDX-License-Identifier: BSD-3-Clause
// The variable-size pool: chunk list + wall + FIFO waiters + release policy + stats
// (patent FIG. 4: BudCtl_t is `var_pool`, Buddy_t is `var_pool::chunk`).
//
// One mutex per pool guards everything; the fast path is lock, scan the chunks in order of
// addition for one whose buddy heap has a free block of the class, split, stamp the chunk's
// last-allocation time, unlock. Callbacks of served waiters run after the lock is dropped, in
// FIFO order. Chunk memory is given back after the lock is dropped too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "adaptive.hpp"
#include "buddy.hpp"
#include "elasticpool.h"
#include "gate.hpp"
#include "policy.hpp"
#include "provider.hpp"

namespace elastic::detail {

// Validated, rounded creation parameters.
struct pool_config {
    std::string name;
    int socket_id;
    size_t base_size, chunk_size, wall_size, max_buf_size;
    unsigned max_order; // largest class, in pages: 2^max_order
    uint64_t tick_ns, sample_ns, idle_ns;
    uint32_t headroom;
    uint32_t flags;
    provider_kind provider;
    elastic_clock_fn *clock;
    void *clock_ctx;
    growth_gate gate{}; // a budget growth must be admitted by (node cap); empty: none

    // Fills `out` from the C params; returns 0 or a positive errno (message logged).
    static int from_params(const elastic_pool_params &p, pool_config &out);
};

class var_pool {
public:
    // Reserves the base chunk; nullptr with rte_errno on failure.
    static std::unique_ptr<var_pool> create(const pool_config &cfg) noexcept;
    ~var_pool();

    void *alloc(size_t size) noexcept;
    int alloc_async(size_t size, elastic_buf_cb_t *cb, void *arg) noexcept;
    int cancel(elastic_buf_cb_t *cb, void *arg) noexcept;
    void *alloc_timeout(size_t size, uint32_t timeout_ms) noexcept;
    int free(void *buf) noexcept;
    size_t buf_size(const void *buf) const noexcept;
    rte_iova_t buf_iova(const void *buf) const noexcept;

    int maintain() noexcept; // one tick
    int trim() noexcept;
    void stats(elastic_pool_stats &st) const noexcept;
    void sizing(elastic_pool_sizing &sz) const noexcept;

    const pool_config &config() const noexcept { return cfg_; }

    // The C handle is this object.
    elastic_pool *handle() noexcept { return reinterpret_cast<elastic_pool *>(this); }
    static var_pool *from(elastic_pool *p) noexcept { return reinterpret_cast<var_pool *>(p); }
    static const var_pool *from(const elastic_pool *p) noexcept
    {
        return reinterpret_cast<const var_pool *>(p);
    }

    // Introspection for telemetry (implemented in pool_introspect.cpp): one record per chunk,
    // in order of addition (base first), taken under the pool lock.
    struct chunk_info {
        size_t size;            // nominal chunk bytes
        size_t free_bytes;      // bytes free in its buddy heap
        uint64_t in_use;        // buffers out
        uint64_t idle_ns;       // pool-clock time since its last allocation (0 if clock went back)
    };
    // Copies up to n records into out and the pool clock's now into *now_ns (may be null);
    // returns the number of chunks held.
    size_t chunk_infos(chunk_info *out, size_t n, uint64_t *now_ns) const noexcept;

private:
    struct chunk {
        std::unique_ptr<chunk_memory> mem;
        buddy_heap heap;
        uintptr_t base;         // address of page 0
        size_t size;            // nominal chunk size (base_size or chunk_size)
        uint64_t in_use = 0;    // buffers out
        uint64_t last_alloc_ns; // clock time of the last allocation (creation at first)
        chunk(std::unique_ptr<chunk_memory> m, size_t sz, unsigned max_order, uint64_t now);
    };
    struct waiter {
        unsigned order;
        elastic_buf_cb_t *cb;
        void *arg;
    };
    struct served {
        elastic_buf_cb_t *cb;
        void *arg;
        void *buf;
    };
    using served_list = std::vector<served>;

    explicit var_pool(const pool_config &cfg);

    uint64_t now() const noexcept { return cfg_.clock(cfg_.clock_ctx); }
    int order_of(size_t size) const noexcept; // -1 when 0 or too large
    // All of the following run with mu_ held.
    void *take(unsigned order, uint64_t now) noexcept;    // from existing chunks, first fit
    void *take_or_grow(unsigned order, uint64_t now) noexcept; // rte_errno on failure
    bool grow(uint64_t now, bool ahead) noexcept;
    chunk *find(const void *p) const noexcept;
    // Serve the queue head first while memory is there (growing only when may_grow).
    void serve_waiters(served_list &out, bool may_grow) noexcept;
    std::unique_ptr<chunk> release_one(uint64_t now) noexcept; // by the configured rule
    bool patent_allows(uint64_t now) const noexcept;
    bool adaptive_allows(uint64_t now) const noexcept;
    void grow_ahead(uint64_t now) noexcept;
    uint64_t hysteresis_bytes() const noexcept;
    uint64_t rise_floor_bytes() const noexcept;

    static void run_callbacks(elastic_pool *h, const served_list &s) noexcept;

    pool_config cfg_;
    mutable std::mutex mu_;
    std::vector<std::unique_ptr<chunk>> chunks_; // order of addition, base first
    std::deque<waiter> waiters_;
    sampler sampler_;
    release_rule rule_;
    demand_history demand_;
    adaptive_state adapt_;
    uint32_t grow_seq_ = 0;
    uint32_t grow_fail_streak_ = 0;
    uint64_t waiting_bytes_ = 0;     // class bytes of the queued requests
    uint64_t peak_demand_bytes_ = 0; // highest in use + waiting seen // refused growths since the last one that worked
    char tag_[12] = "";        // makes memzone names unique
    elastic_pool_stats st_{};
};

} // namespace elastic::detail
