// SPDX-License-Identifier: BSD-3-Clause
// Per-thread front end of a variable-size pool (opt-in: elastic_pool_params.thread_cache).
//
// The idea is the mempool driver's per-lcore magazines (mempool_face.hpp), moved to this face:
// each thread keeps, per pool, a small LIFO of free buffers of each small class (4 KiB..64 KiB),
// and a cache hit is a pop or a push on that thread's own cache lines: no lock, no atomic
// read-modify-write, no shared line written. Three rules keep the method's promises exact:
//
//  - Only buffers of the BASE chunk are cached. The base is never retired nor released, so a
//    cache can never pin a chunk the release rule wants (a retiring or last chunk drains home
//    whatever the caches hold), and a cached buffer is the oldest chunk's (first fit by order of
//    addition picks the base first anyway). Buffers of grown chunks always go home at once.
//  - Cached buffers are free: stats, the ledger's in-use bytes and free room, and the base's
//    in-use count subtract them (each cache publishes its counts with relaxed stores; readers
//    hold the pool lock). Cache hits stamp the base's last-allocation time at the next tick.
//  - FIFO at the wall: the pool's generation word `tc_gen` (own cache line, read-mostly) is odd
//    while a request waits, and moves on whenever caches must flush. A thread's cache serves
//    only while its `gen_seen` equals the generation, so while anyone waits every allocation
//    goes to the pool (and is refused or queued behind the waiter) and every free goes home
//    (serving the waiters); each thread's next call flushes its cache home first.
//
// Lifetime: a cache belongs to its thread (a thread_local table of up to tc_max_pools slots)
// and is registered with its pool (var_pool::caches_). Attach, thread exit and pool destroy
// meet under one process-wide mutex (tc_registry_mutex(), then the pool lock): a thread's exit
// sends its buffers home (serving waiters); a destroyed pool takes the buffers of every live
// thread's cache back (their owners are not inside the pool: a call concurrent with
// elastic_pool_free() is undefined) and detaches the caches, which their threads delete later.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "elasticpool.h"

namespace elastic::detail {

class var_pool;

// Largest cached order (pages 2^order): 4 KiB..64 KiB. Larger classes are rarer per operation
// and would pin megabytes per thread; they take the pool lock.
inline constexpr unsigned tc_max_order = 4;
inline constexpr unsigned tc_classes = tc_max_order + 1;
inline constexpr uint32_t tc_cap_max = ELASTIC_POOL_THREAD_CACHE_MAX;
static_assert((size_t(4096) << tc_max_order) == ELASTIC_POOL_THREAD_CACHE_MAX_CLASS);
// Per class a thread caches at most base / tc_base_share bytes: one thread cannot hoard the
// base (all five classes together: under a third of it).
inline constexpr uint32_t tc_base_share = 16;
// Pools one thread keeps a cache for at once; a thread using more pools goes through the pool
// lock for the others (a slot is reused once its pool is destroyed).
inline constexpr unsigned tc_max_pools = 8;

struct alignas(64) thread_cache {
    uint32_t gen_seen = 0;                          // owner only: the pool generation it follows
    std::atomic<uint32_t> n[tc_classes] = {};       // buffers held per class (owner writes)
    std::atomic<uint64_t> allocs{0}, frees{0};      // requests served (owner writes)
    var_pool *pool = nullptr;                       // tc_registry_mutex(): nullptr once detached
    void *bufs[tc_classes][tc_cap_max];             // LIFO per class
};

// The calling thread's caches, by pool (pool pointer and the pool's unique sequence number: a
// new pool at the address of a destroyed one is not mistaken for it).
struct tc_slot {
    const var_pool *pool;
    uint64_t seq;
    thread_cache *c;
};
struct tc_thread {
    tc_slot slot[tc_max_pools] = {};
};

// Initial-exec TLS: one %fs-relative load on the fast path (the library is DT_NEEDED by the
// driver and programs; its static TLS is a pointer).
extern thread_local tc_thread *tl_tc __attribute__((tls_model("initial-exec")));

std::mutex &tc_registry_mutex() noexcept;

} // namespace elastic::detail
