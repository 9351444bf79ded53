// SPDX-License-Identifier: BSD-3-Clause
// The variable-size face: a buddy heap in every chunk, FIFO waiters at the wall. The chunks'
// accounting and every policy decision (wall, node budget, release rule, samples, growth ahead,
// stats, sizing) are the chunk ledger's (ledger.hpp); this class carves the chunks' memory,
// serves and queues requests, and tells the ledger what is home.
//
// One mutex per pool guards everything but the per-thread caches (thread_cache.hpp, opt-in),
// which serve small classes without it; the locked path is lock, scan the chunks in order of
// addition for one whose buddy heap has a free block of the class, split, stamp the chunk's
// last-allocation time in the ledger, unlock. Callbacks of served waiters run after the lock is
// dropped, in FIFO order. Chunk memory is given back after the lock is dropped too.
#pragma once

#include <cstddef>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "buddy.hpp"
#include "elasticpool.h"
#include "ledger.hpp"
#include "provider.hpp"
#include "thread_cache.hpp"

namespace elastic::detail {

// Validated, rounded creation parameters.
struct pool_config {
    std::string name;
    int socket_id;
    size_t base_size, chunk_size, wall_size, max_buf_size;
    unsigned max_order; // largest class, in pages: 2^max_order
    size_t chunk_class; // largest buffer an added chunk can hold (its first 4 KiB may not be
                        // usable: memzone chunks of whole hugepages, provider.hpp)
    uint64_t tick_ns, sample_ns, idle_ns;
    uint32_t headroom;
    uint32_t flags;
    uint32_t thread_cache; // buffers per class per thread cache (0: none)
    provider_kind provider;
    elastic_clock_fn *clock;
    void *clock_ctx;
    elastic_chunk_hook_fn *hook; // per-chunk hook or nullptr
    void *hook_arg;

    // Fills `out` from the C params; returns 0 or a positive errno (message logged).
    static int from_params(const elastic_pool_params &p, pool_config &out);
};

class var_pool {
public:
    // Reserves the base chunk; nullptr with rte_errno on failure.
    static std::unique_ptr<var_pool> create(const pool_config &cfg) noexcept;
    ~var_pool();

    // elastic_pool_free(): what destroying a pool does to what refers to it. Waiters queued by
    // elastic_buf_alloc_async are dropped (their callbacks never run); threads waiting in
    // alloc_timeout return NULL with ECANCELED; callbacks of requests already served but not yet
    // called back are dropped too. Returns once no other thread is inside the pool (it waits for
    // them), except when called from one of the pool's own callbacks: then the pool is deleted
    // when the last call running its callbacks returns. The object is gone after this.
    void destroy() noexcept;

    void *alloc(size_t size) noexcept;
    int alloc_async(size_t size, elastic_buf_cb_t *cb, void *arg) noexcept;
    int cancel(elastic_buf_cb_t *cb, void *arg) noexcept;
    void *alloc_timeout(size_t size, uint32_t timeout_ms) noexcept;
    int free(void *buf) noexcept;
    size_t buf_size(const void *buf) const noexcept;
    rte_iova_t buf_iova(const void *buf) const noexcept;

    int thread_cache_flush() noexcept; // the calling thread's cache goes home
    // Thread exit (thread_cache.cpp): c's buffers go home, c leaves the pool. Called with
    // tc_registry_mutex() held in `reg`, which it unlocks before running served callbacks.
    void tc_thread_exit(thread_cache *c, std::unique_lock<std::mutex> &reg) noexcept;

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
        size_t size;            // chunk size (base_size or chunk_size): what it pins
        uint64_t in_use = 0;    // buffers out
        chunk(std::unique_ptr<chunk_memory> m, size_t sz, unsigned max_order);
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
    using chunk_list = std::vector<std::unique_ptr<chunk>>;
    class face; // the ledger_face of this pool (pool.cpp)

    explicit var_pool(const pool_config &cfg, uint64_t now);

    uint64_t now() const noexcept { return cfg_.clock(cfg_.clock_ctx); }
    int order_of(size_t size) const noexcept; // -1 when 0 or too large
    // All of the following run with mu_ held.
    void *take(unsigned order, uint64_t now) noexcept;    // from existing chunks, first fit
    void *take_or_grow(unsigned order, uint64_t now) noexcept; // rte_errno on failure
    bool grow(uint64_t now, grow_kind kind) noexcept;
    chunk *find(const void *p) const noexcept;
    // Whether some growth could ever serve a request of this class (or the pool cannot grow at
    // all, so that waiting at the wall is all there is).
    bool growth_can_serve(unsigned order) const noexcept;
    // Serve the queue head first while memory is there (growing only when may_grow).
    void serve_waiters(served_list &out, bool may_grow) noexcept;
    void untake(void *p, unsigned order) noexcept; // undo a take() not handed out

    // Per-thread caches (thread_cache.hpp; the fast paths in pool.cpp, the rest in
    // thread_cache.cpp).
    thread_cache *my_cache() const noexcept;
    thread_cache *tc_attach() noexcept;              // without mu_; nullptr when none can be had
    void *tc_alloc_slow(unsigned order) noexcept;
    bool in_base(const void *p) const noexcept
    {
        return uintptr_t(p) - base_lo_ < base_len_;
    }
    void base_mark(const void *p, unsigned order) noexcept;  // handed out of the base heap
    void base_unmark(const void *p) noexcept;                // back in the base heap
    // With mu_ held:
    uint32_t tc_flush_locked(thread_cache &c) noexcept;     // all of c home; buffers moved
    uint32_t tc_trim_locked(thread_cache &c, unsigned order, uint32_t keep) noexcept;
    void tc_refill_locked(thread_cache &c, unsigned order) noexcept; // more base blocks
    void tc_sync_locked(thread_cache &c, served_list &out) noexcept; // flush on a new generation
    void tc_note_waiters() noexcept;                 // generation odd while anyone waits
    void tc_cached(uint64_t &bytes, uint64_t &bufs) const noexcept;
    uint64_t tc_cached_bytes() const noexcept;
    void tc_counts(uint64_t &allocs, uint64_t &frees) const noexcept;
    void tc_detach_all() noexcept;                   // destroy(): every cache's buffers home

    static void run_callbacks(elastic_pool *h, const served_list &s) noexcept;
    // The chunk hook for chunk `idx` (0 or its negative-errno veto of an ADD).
    int call_hook(elastic_chunk_event ev, const chunk &c, uint32_t idx) noexcept;
    // Callbacks run outside mu_ while the caller holds the pool (users_, taken under mu_):
    // run them in order, stopping if the pool is destroyed meanwhile, then let go.
    void run_callbacks_and_release(const served_list &s) noexcept;
    void release() noexcept; // the last to let go of a destroyed pool deletes it

    pool_config cfg_;
    mutable std::mutex mu_;
    chunk_list chunks_;              // order of addition, base first (the ledger's order)
    std::vector<chunk_rec> recs_;    // the ledger's records (grown before each growth)
    ledger ledger_;
    std::deque<waiter> waiters_;
    bool retiring_ = false;          // the last chunk hands nothing out (it drains home)
    uint32_t grow_seq_ = 0;
    uint64_t waiting_bytes_ = 0;     // class bytes of the queued requests
    uint64_t in_use_bytes_ = 0;
    uint64_t nb_allocs_ = 0, nb_frees_ = 0, nb_alloc_fail_ = 0, nb_queued_ = 0;
    char tag_[12] = "";        // makes memzone names unique
    // Lifetime (destroy()): calls that run callbacks or wait outside mu_ hold the pool.
    uint32_t users_ = 0;                 // under mu_
    std::atomic<bool> dying_{false};     // destroy() started
    bool delete_by_last_ = false;        // under mu_: destroyed from one of its callbacks
    std::condition_variable users_cv_;   // destroy() waits for users_ == 0
    // Per-thread caches (thread_cache.hpp). Constant after create, read by the fast paths:
    int tc_top_ = -1;                    // largest cached order, -1: no caches
    uint32_t tc_cap_[tc_classes] = {};   // buffers per class per cache
    uintptr_t base_lo_ = 0;              // the base chunk's range
    size_t base_len_ = 0;
    uint64_t seq_ = 0;                   // unique per pool in the process
    // Per base page: 1 + order of the block handed out of the heap that starts there, else 0.
    // Written under mu_, read by the free fast path (relaxed).
    std::unique_ptr<std::atomic<uint8_t>[]> base_cls_;
    std::vector<thread_cache *> caches_; // under tc_registry_mutex() and mu_
    uint64_t tc_gone_allocs_ = 0, tc_gone_frees_ = 0; // counts of caches that left (mu_)
    uint64_t tc_allocs_seen_ = 0;        // cache allocations at the last tick (mu_)
    alignas(64) std::atomic<uint32_t> tc_gen_{0}; // odd while anyone waits; +2: caches flush
    char tc_gen_pad_[64 - sizeof(std::atomic<uint32_t>)];
};

// The calling thread's cache for this pool, or nullptr (fast path: one TLS load, compares).
inline thread_cache *var_pool::my_cache() const noexcept
{
    const tc_thread *t = tl_tc;
    if (t == nullptr)
        return nullptr;
    for (const tc_slot &sl : t->slot)
        if (sl.pool == this && sl.seq == seq_)
            return sl.c;
    return nullptr;
}

} // namespace elastic::detail
