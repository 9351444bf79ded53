// SPDX-License-Identifier: BSD-3-Clause
// The fixed-size face: internal state of one elastic mempool (the ops of drivers/mempool/elastic
// call into it). What it keeps is only what differs from the variable-size face: each chunk's
// stack of free objects, the mempool's elt_list/mem_list links, the datapath. The chunks'
// accounting and every policy decision are the chunk ledger's (ledger.hpp), which lives here too.
// Everything here lives in rte_zmalloc_socket memory, reachable from mp->pool_data, so a
// secondary process of the same binary sees the same store and ledger. Function pointers (obj_init, clock) are only called in the process
// that created the pool, and only that process registers the pool with the maintenance service
// (lib/elasticpool/maintenance.hpp): `ticket` is a pointer of that process.
//
// Locks: none on a magazine (one per lcore, used by its lcore only); `store` guards the chunks' free
// stacks and counters (a get or put the magazine cannot serve takes it); `grow` serialises
// growth and shrink and, with them, every change this driver makes to the mempool's elt_list,
// mem_list, populated_size and nb_mem_chunks; it also guards the ledger. The datapath never
// waits on `grow`: it only try-locks it (see store_dequeue). Order: grow, then store.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <rte_common.h>
#include <rte_mempool.h>
#include <rte_memzone.h>
#include <rte_pause.h>

#include "elastic_mempool.h"
#include "ledger.hpp"

namespace elastic::detail::emp {

// Test-and-test-and-set lock on a plain atomic (works across processes in shared memory, and
// ThreadSanitizer understands it, unlike the x86 asm of rte_spinlock).
class spin_lock {
public:
    void lock() noexcept
    {
        for (;;) {
            if (!v_.exchange(1, std::memory_order_acquire))
                return;
            while (v_.load(std::memory_order_relaxed))
                rte_pause();
        }
    }
    bool try_lock() noexcept
    {
        return !v_.load(std::memory_order_relaxed) && !v_.exchange(1, std::memory_order_acquire);
    }
    void unlock() noexcept { v_.store(0, std::memory_order_release); }

private:
    std::atomic<uint32_t> v_{0};
};

class lock_guard {
public:
    explicit lock_guard(spin_lock &l) noexcept : l_(l) { l_.lock(); }
    ~lock_guard() { l_.unlock(); }
    lock_guard(const lock_guard &) = delete;
    lock_guard &operator=(const lock_guard &) = delete;

private:
    spin_lock &l_;
};

enum class chunk_state : uint8_t { active, retiring };

// One chunk: the base (index 0) or an added memzone. Objects of a chunk go back to its stack.
struct alignas(RTE_CACHE_LINE_SIZE) chunk {
    // first cache line: what get and put touch
    uintptr_t va_lo;                     // memzone span (0, 0 for a base DPDK populated)
    uintptr_t va_hi;
    const rte_memzone *mz;               // NULL: memory owned by DPDK's populate_default
    void **stack;                        // free objects of this chunk, cap entries
    uint32_t cap;                        // objects in the chunk
    uint32_t nb_free;                    // objects in the stack now
    uint64_t last_alloc_ns;              // last dequeue from it (creation time at first)
    uint64_t allocs;                     // objects handed out from it
    uint32_t alloc_mark;                 // dequeued from since maintenance last looked
    chunk_state state;
    // second line: growth and shrink
    uint64_t bytes;                      // pinned bytes
    rte_mempool_objhdr **elt_prev;       // elt_list slot before the chunk's first objhdr
    rte_mempool_memhdr **mem_prev;       // mem_list slot before the chunk's first memhdr
    bool stack_in_mz;                    // `stack` lies at the end of the memzone (not rte_malloc)
    // Double-put detection (memzone chunks): one bit per slot, (obj - va_lo) / total_elt, set
    // while the object is in the stack. Unique per object: a page-boundary gap is shorter than
    // an object, so consecutive objects' slots differ by 1 or 2.
    uint64_t *free_map;
};

// The object -> chunk table: one slot per granule (a page, or 64 KiB when the pool has no page
// size) that an added chunk touches, open addressing. A chunk's memzone need not start on a
// page (its malloc header comes first), so a granule may hold the end of one chunk and the
// start of the next: a slot names up to two chunks, and the object's address picks one by
// range; more than two (chunks smaller than a granule) mark it crowded (scan). An address in
// no added chunk is the base's (a drop-in base is DPDK's memory, in pieces). Rebuilt on shrink.
struct page_slot {
    uintptr_t key;                       // (address >> granule shift) + 1; 0 = empty
    uint32_t idx[2];                     // chunk index + 1 of chunks in the granule; 0 = none
    uint32_t crowded;                    // more chunks than idx holds
};

// Per-lcore magazine of a pool without a DPDK cache: a small LIFO of free objects of the BASE
// chunk only, used by its own lcore only (no lock, no atomic read-modify-write: the datapath
// touches only its own cache lines). The base is never retired nor released, so a magazine can
// never pin a chunk the release rule wants, and its objects are the oldest chunk's. They count
// as free and home (get_count, stats, the ledger); like DPDK's per-lcore caches, only their
// lcore can hand them out: its own get drains it home when the store runs dry, and
// elastic_mempool_cache_flush() drains it on request. `len` is atomic for the other readers.
inline constexpr uint32_t mag_cap = RTE_MEMPOOL_CACHE_MAX_SIZE;
struct alignas(RTE_CACHE_LINE_SIZE) magazine {
    std::atomic<uint32_t> len;
    void *objs[mag_cap];
};

// What an explicit create passes through rte_mempool_set_ops_byname(..., pool_config).
struct create_config {
    uint32_t magic;
    elastic_mempool_params params;
    rte_mempool_obj_cb_t *obj_init;
    void *obj_init_arg;
    bool pktmbuf;
};
inline constexpr uint32_t config_magic = 0x454d5043; // "EMPC"
inline constexpr uint32_t state_magic = 0x454d5053;  // "EMPS"
inline constexpr uint32_t max_headroom = 64;
inline constexpr uint32_t known_flags = ELASTIC_MEMPOOL_F_NO_SHRINK | ELASTIC_MEMPOOL_F_MANUAL_TICK |
                                        ELASTIC_MEMPOOL_F_NO_PREGROW | ELASTIC_MEMPOOL_F_ADAPTIVE |
                                        ELASTIC_MEMPOOL_F_NO_GUARD | ELASTIC_MEMPOOL_F_BREAKEVEN |
                                        ELASTIC_MEMPOOL_F_LCORE_MAGAZINE;

enum class grow_origin { base, datapath, maintenance };

struct pool_state {
    uint32_t magic;
    rte_mempool *mp;

    // configuration
    uint32_t base_objs;                  // target of the base chunk
    uint32_t chunk_objs;
    uint32_t low_wm;
    uint32_t flags;
    uint32_t total_elt;                  // header + elt + trailer
    size_t pg_sz;
    uint64_t tick_ns;
    elastic_clock_fn *clock;
    void *clock_ctx;
    int owner_pid;
    rte_mempool_obj_cb_t *obj_init;
    void *obj_init_arg;
    bool explicit_mode;                  // created by elastic_*_create (base is chunk 0 memzone)
    bool lazy;                           // drop-in pktmbuf pool populated to base only
    bool pktmbuf;                        // objects are mbufs: replay rte_pktmbuf_init
    bool auto_tick;                      // the creating process registers it for maintenance
    bool destroying;                     // rte_mempool_free started: never grow again
    bool no_guard;                       // ELASTIC_MEMPOOL_F_NO_GUARD
    bool guarded;                        // a snapshotting PMD's Rx queue uses it (guard_check)
    uint16_t guard_port;
    elastic_chunk_hook_fn *hook;         // per-chunk hook (owner process only) or NULL
    void *hook_arg;
    uint64_t nb_hook_veto;               // (grow) growths the hook refused
    std::atomic<void *> ticket{nullptr}; // maintenance registration (owner process) or NULL
    ledger *led;                         // the chunk ledger (guarded by `grow`)
    chunk_rec *recs;                     // its records, max_chunks of them

    // store (guarded by `store`): what get and put touch, on one cache line of its own
    alignas(RTE_CACHE_LINE_SIZE) spin_lock store;
    uint32_t nb_chunks;
    uint32_t first_hint;                 // no active chunk below this index has free objects
    uint32_t free_active;                // objects that can be handed out
    uint32_t parked;                     // objects back in a retiring chunk
    int32_t retiring;                    // index of the retiring chunk, or -1
    uint32_t populated;                  // objects of published chunks (own count)
    uint32_t peak_out;
    chunk *chunks;
    chunk *put_c;                        // chunk of the last put (puts come in runs) or NULL
    uintptr_t put_lo;                    // its va_lo
    // (store) the rest
    alignas(RTE_CACHE_LINE_SIZE) page_slot *pages;
    uint32_t page_mask;                  // slots - 1 (a power of two)
    uint32_t nb_pages;                   // granules in the table
    uint32_t page_shift;                 // log2 of the granule
    uint32_t max_chunks;
    uint32_t tick_peak;                  // most objects out (store view) since the last tick
    uint32_t tick_max_bulk;              // largest get through the store (objects) since the last tick
    uint64_t allocs_released;            // allocs of chunks released

    // read-mostly: what the datapath reads before it takes a lock
    alignas(RTE_CACHE_LINE_SIZE) magazine *mags; // RTE_MAX_LCORE of them, or NULL (DPDK cache)
    uint32_t mag_limit;                  // objects a magazine holds at most
    uint32_t nb_mags;                    // magazines (lcore ids 0 .. nb_mags - 1)
    std::atomic<uint32_t> mag_hw;        // 1 + highest lcore that used its magazine
    uintptr_t base_lo;                   // explicit pools: the base chunk's memzone span
    uintptr_t base_span;                 // (0: drop-in, base = not in the page table)

    // growth in progress (guarded by `grow`)
    alignas(RTE_CACHE_LINE_SIZE) spin_lock grow;
    std::atomic<bool> grow_busy{false};  // a growth or release (ms) holds `grow`: do not wait
    bool growing;
    uint32_t mz_seq;

    // the datapath's own counters (guarded by `store`); objects handed out are counted per
    // chunk, objects given back are handed out minus out now. Growth, release and their
    // counters are the ledger's.
    uint64_t nb_alloc_fail;
    uint64_t nb_unretire;                // retiring chunks a get took back into service
    uint64_t nb_double_put;              // objects put while already free (dropped)
    uint64_t nb_grow_busy;               // failed gets that found a growth in progress
};

static_assert(sizeof(chunk) == 2 * RTE_CACHE_LINE_SIZE);
static_assert(offsetof(chunk, state) < RTE_CACHE_LINE_SIZE);
static_assert(offsetof(pool_state, put_lo) + sizeof(uintptr_t) -
              offsetof(pool_state, store) <= RTE_CACHE_LINE_SIZE);

// emp_pool.cpp
uint64_t now_ns(const pool_state *s) noexcept;
pool_state *state_of(const rte_mempool *mp) noexcept;
int state_alloc(rte_mempool *mp) noexcept;
void state_free(rte_mempool *mp) noexcept;
int store_enqueue(pool_state *s, void *const *objs, unsigned n) noexcept;
int store_dequeue(pool_state *s, void **objs, unsigned n) noexcept;
unsigned store_count(const pool_state *s) noexcept;
// Move this lcore's magazine home; returns the objects moved.
unsigned mag_flush_own(pool_state *s) noexcept;
ssize_t calc_mem_size(const rte_mempool *mp, uint32_t obj_num, uint32_t pg_shift,
                      size_t *min_chunk_size, size_t *align) noexcept;
int populate(rte_mempool *mp, unsigned max_objs, void *vaddr, rte_iova_t iova, size_t len,
             rte_mempool_populate_obj_cb_t *obj_cb, void *obj_cb_arg) noexcept;
int grow_locked(pool_state *s, grow_origin origin) noexcept;
int maintain(pool_state *s, bool sample_now_only) noexcept;
int trim(pool_state *s) noexcept;
void mark_destroying(pool_state *s) noexcept;
// The DESTROY event: the hook sees ELASTIC_CHUNK_EV_RELEASE for every chunk still held.
void hooks_on_destroy(pool_state *s) noexcept;
// elastic_mempool_chunk_hook_set(): 0 or -errno.
int hook_set(pool_state *s, elastic_chunk_hook_fn *hook, void *arg) noexcept;
void log_destroy(pool_state *s) noexcept;
void fill_stats(pool_state *s, elastic_pool_stats *st, elastic_mempool_xstats *xs) noexcept;
void sizing(pool_state *s, elastic_pool_sizing *sz) noexcept;
// Register the pool with the process's maintenance service (owner process, automatic ticks);
// a failure is logged and leaves the pool to explicit elastic_mempool_maintain() calls.
void maint_register(rte_mempool *mp) noexcept;
// Unregister; after return no tick of the pool runs or is running. Idempotent.
void maint_unregister(rte_mempool *mp) noexcept;
// Whether this process runs the pool's automatic ticks.
bool maint_registered(const pool_state *s) noexcept;

// One chunk as telemetry shows it.
struct chunk_view {
    uint64_t bytes;
    uint32_t objs;
    uint32_t in_use;                     // objects of the chunk not in its stack
    uint64_t idle_ns;                    // since the last allocation from it
    bool retiring;
};
// Copies up to max chunks (order of addition); returns the number of chunks of the pool.
uint32_t chunk_views(pool_state *s, chunk_view *out, uint32_t max) noexcept;
void params_from_env(elastic_mempool_params *p) noexcept;

} // namespace elastic::detail::emp
