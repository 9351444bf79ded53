// SPDX-License-Identifier: BSD-3-Clause
// The fixed-size face over the chunk ledger: chunks in order of addition, each with a stack of
// its free objects; growth by whole memzones; release of the last chunk when the ledger decides
// it (ledger.hpp holds the rule, the wall, the node budget, samples and counters).
//
// Growth (under the grow lock): reserve one memzone (page-aligned and a whole number of pages,
// so that releasing it gives its hugepages back), call rte_mempool_populate_iova once per
// IOVA-contiguous run; our populate op lays the objects out into the new chunk's stack without
// publishing them (DPDK links them into elt_list); run obj_init (rte_pktmbuf_init for mbufs) on
// each; only then publish the chunk to the store. A failure anywhere unlinks what was added.
//
// Shrink (under the grow lock): the last chunk must have all its objects back; it leaves the
// store, its objhdrs (the tail of elt_list, chunks being released in reverse order of addition)
// and memhdrs (tail of mem_list) are unlinked, populated_size and nb_mem_chunks drop, and the
// memzone is freed.
#include "mempool_face.hpp"
#include "numa_manager.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include <new>
#include <exception>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memory.h>

#include "budget.hpp"
#include "maintenance.hpp"
#include "pmd_guard.hpp"
#include "provider.hpp"

RTE_LOG_REGISTER_IMPL(elastic_mempool_logtype, "mempool.elastic", NOTICE);
#define EMP_LOG(level, ...) \
    rte_log(RTE_LOG_##level, elastic_mempool_logtype, "elastic mempool: " __VA_ARGS__)

namespace elastic::detail::emp {

namespace {

int self_pid = 0;
uint64_t tsc_mult = 0; // ns = cycles * tsc_mult >> 32

RTE_INIT(emp_init_pid)
{
    self_pid = getpid();
}

// Monotonic nanoseconds from the TSC: ~10 ns per read, the same time base in every process.
uint64_t tsc_ns() noexcept
{
    if (unlikely(tsc_mult == 0))
        tsc_mult = (uint64_t{1'000'000'000} << 32) / rte_get_tsc_hz();
    const unsigned __int128 c = rte_get_tsc_cycles();
    return static_cast<uint64_t>((c * tsc_mult) >> 32);
}

template <typename T>
T *zalloc(const char *what, size_t n, int socket) noexcept
{
    void *p = rte_zmalloc_socket(what, n * sizeof(T), RTE_CACHE_LINE_SIZE, socket);
    if (p == nullptr && socket != SOCKET_ID_ANY)
        p = rte_zmalloc_socket(what, n * sizeof(T), RTE_CACHE_LINE_SIZE, SOCKET_ID_ANY);
    return static_cast<T *>(p);
}

// Fibonacci hashing of a granule number into the page table.
inline uint32_t page_hash(uintptr_t key, uint32_t mask) noexcept
{
    return static_cast<uint32_t>((uint64_t{key} * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
}

// Which chunk does obj belong to? O(1): one probe of the page table in the common case (load
// factor <= 1/2), then one or two address range checks. Not found: the base (chunk 0), whose
// memory may be DPDK's. Store lock held.
inline uint32_t chunk_of(const pool_state *s, const void *obj) noexcept
{
    if (s->nb_pages == 0)
        return 0;
    const uintptr_t a = reinterpret_cast<uintptr_t>(obj);
    const uintptr_t key = (a >> s->page_shift) + 1;
    auto in = [s, a](uint32_t i) noexcept {
        return a - s->chunks[i].va_lo < s->chunks[i].va_hi - s->chunks[i].va_lo;
    };
    for (uint32_t h = page_hash(key, s->page_mask);; h = (h + 1) & s->page_mask) {
        const page_slot &e = s->pages[h];
        if (e.key == 0)
            return 0;
        if (e.key != key)
            continue;
        for (uint32_t i : e.idx)
            if (i != 0 && in(i - 1))
                return i - 1;
        if (e.crowded) // more than two chunks in one granule (small chunks): scan them
            for (uint32_t i = 1; i < s->nb_chunks; i++)
                if (in(i))
                    return i;
        return 0;
    }
}

void pages_insert(pool_state *s, uintptr_t lo, uintptr_t hi, uint32_t idx) noexcept
{
    for (uintptr_t g = lo >> s->page_shift; g <= (hi - 1) >> s->page_shift; g++) {
        const uintptr_t key = g + 1;
        uint32_t h = page_hash(key, s->page_mask);
        while (s->pages[h].key != 0 && s->pages[h].key != key)
            h = (h + 1) & s->page_mask;
        page_slot &e = s->pages[h];
        if (e.key == 0) {
            e.key = key;
            s->nb_pages++;
        }
        if (e.idx[0] == 0)
            e.idx[0] = idx + 1;
        else if (e.idx[1] == 0)
            e.idx[1] = idx + 1;
        else
            e.crowded = 1;
    }
}

// Linear probing cannot simply empty a slot: rebuild from the chunks that stay (on shrink).
void pages_rebuild(pool_state *s) noexcept
{
    memset(s->pages, 0, sizeof(page_slot) * (size_t{s->page_mask} + 1));
    s->nb_pages = 0;
    for (uint32_t i = 1; i < s->nb_chunks; i++)
        pages_insert(s, s->chunks[i].va_lo, s->chunks[i].va_hi, i);
}

// Double-put detection (chunk::free_map). Store lock held.
inline uint64_t slot_of(const pool_state *s, const chunk &c, const void *obj) noexcept
{
    return (reinterpret_cast<uintptr_t>(obj) - c.va_lo) / s->total_elt;
}

// Marks obj free; false (and counted, logged) when it was free already: a double put.
inline bool mark_free(pool_state *s, chunk &c, void *obj) noexcept
{
    if (c.free_map == nullptr)
        return true;
    const uint64_t k = slot_of(s, c, obj), bit = uint64_t{1} << (k % 64);
    if (unlikely(c.free_map[k / 64] & bit)) {
        if (s->nb_double_put++ < 16 || (s->nb_double_put & (s->nb_double_put - 1)) == 0)
            EMP_LOG(ERR, "%s: object %p put back while free (double put %" PRIu64 "): "
                    "dropped\n", s->mp->name, obj, s->nb_double_put);
        return false;
    }
    c.free_map[k / 64] |= bit;
    return true;
}

inline void mark_taken(const pool_state *s, chunk &c, void *const *objs, unsigned n) noexcept
{
    if (c.free_map == nullptr)
        return;
    for (unsigned j = 0; j < n; j++) {
        const uint64_t k = slot_of(s, c, objs[j]);
        c.free_map[k / 64] &= ~(uint64_t{1} << (k % 64));
    }
}

// Hand out n objects, oldest chunk first. Store lock held, free_active >= n.
void take(pool_state *s, void **objs, unsigned n, uint64_t now) noexcept
{
    uint32_t i = s->first_hint;
    unsigned got = 0;
    for (; got < n; i++) {
        chunk &c = s->chunks[i];
        if (c.state != chunk_state::active || c.nb_free == 0)
            continue;
        const unsigned k = std::min<unsigned>(c.nb_free, n - got);
        c.nb_free -= k;
        void *const *src = c.stack + c.nb_free;
        for (unsigned j = 0; j < k; j++)
            objs[got + j] = src[j];
        mark_taken(s, c, objs + got, k);
        if (now != 0)
            c.last_alloc_ns = now;
        else
            c.alloc_mark = 1;
        c.allocs += k;
        got += k;
    }
    // i is one past the last chunk used; it may still hold objects.
    uint32_t h = i - 1;
    while (h < s->nb_chunks &&
           (s->chunks[h].nb_free == 0 || s->chunks[h].state != chunk_state::active))
        h++;
    s->first_hint = h;
    s->free_active -= n;
    const uint32_t out = s->populated - s->free_active - s->parked;
    if (out > s->tick_peak) {
        s->tick_peak = out;
        s->peak_out = std::max(s->peak_out, out);
    }
}

void unretire(pool_state *s) noexcept
{
    if (s->retiring < 0)
        return;
    chunk &c = s->chunks[s->retiring];
    c.state = chunk_state::active;
    s->free_active += c.nb_free;
    s->parked -= c.nb_free;
    if (c.nb_free > 0 && static_cast<uint32_t>(s->retiring) < s->first_hint)
        s->first_hint = s->retiring;
    s->retiring = -1;
    s->nb_unretire++;
}

// ---- true page counts ----
// A memzone is a malloc element: DPDK 22.11 puts the element's header (sizeof(struct
// malloc_elem), two cache lines; lib/eal/common/malloc_elem.h, no trailer without
// RTE_MALLOC_DEBUG) right before the memzone's first byte, and expands the heap by
// align_ceil(max(header, align) + len, page) (malloc_heap.c, try_expand_heap_primary). A
// page-aligned memzone of N pages therefore maps N + 1 pages (its header spills onto the page
// before). Ours ask for N pages less the header, cache-line aligned: the element fills exactly N
// fresh pages and freeing it gives all N back.
constexpr size_t malloc_hdr = 2 * RTE_CACHE_LINE_SIZE;

// Pages of `pg` bytes that [lo, hi) touches.
uint64_t pages_spanned(uintptr_t lo, uintptr_t hi, size_t pg) noexcept
{
    return hi <= lo ? 0 : (hi - 1) / pg - lo / pg + 1;
}

// Objects that fit in `len` bytes starting `start` bytes into a page, laid out as populate()
// lays them (none crosses a page boundary when it fits in one).
uint32_t objs_fitting(size_t start, size_t len, size_t total, size_t pg, uint32_t want) noexcept
{
    uint32_t n = 0;
    size_t off = 0;
    while (n < want) {
        size_t a = start + off;
        if (total <= pg && a / pg != (a + total - 1) / pg)
            off += RTE_ALIGN_CEIL(a, pg) - a;
        if (off + total > len)
            break;
        off += total;
        n++;
    }
    return n;
}

// How a chunk of `objs` objects is laid out: objects from the memzone's start, then its stack
// of free objects (objs pointers) at the end; the memzone plus its malloc header fill whole pages.
struct chunk_plan {
    size_t reserve;  // memzone bytes to ask for
    size_t pinned;   // pages it maps
    size_t stack_off; // offset of the stack in the memzone (end of the objects' area)
};

chunk_plan plan_chunk(const pool_state *s, uint32_t objs) noexcept
{
    const size_t stack_bytes = RTE_ALIGN_CEIL(size_t{objs} * sizeof(void *), RTE_CACHE_LINE_SIZE);
    const size_t total = s->total_elt;
    const size_t pg = s->pg_sz;
    if (pg == 0) { // no page constraint (RTE_MEMPOOL_F_NO_IOVA_CONTIG): bytes as they come
        const size_t obj_bytes = RTE_ALIGN_CEIL(size_t{objs} * total, RTE_CACHE_LINE_SIZE);
        return {obj_bytes + stack_bytes, obj_bytes + stack_bytes + malloc_hdr, obj_bytes};
    }
    size_t pages = (malloc_hdr + size_t{objs} * total + stack_bytes + pg - 1) / pg;
    for (;; pages++) {
        const size_t len = pages * pg - malloc_hdr;
        const size_t stack_off = RTE_ALIGN_FLOOR(len - stack_bytes, RTE_CACHE_LINE_SIZE);
        if (objs_fitting(malloc_hdr, stack_off, total, pg, objs) == objs)
            return {len, pages * pg, stack_off};
    }
}

size_t page_size_of(const void *addr, size_t dflt) noexcept
{
    const rte_memseg_list *msl = rte_mem_virt2memseg_list(addr);
    return msl != nullptr ? msl->page_sz : dflt;
}

void free_chunk_memory(chunk &c) noexcept
{
    if (!c.stack_in_mz)
        rte_free(c.stack);
    if (c.mz != nullptr)
        rte_memzone_free(c.mz);
    rte_free(c.free_map);
    c.stack = nullptr;
    c.mz = nullptr;
    c.free_map = nullptr;
}

// Pages a piece of a drop-in pool's base holds: DPDK reserved its memzone page-aligned, so the
// piece at a memzone's start holds the page its malloc header spilled onto as well.
uint64_t base_piece_bytes(const pool_state *s, void *vaddr, size_t len) noexcept
{
    const size_t pg = page_size_of(vaddr, s->pg_sz);
    if (pg == 0)
        return len;
    struct walk {
        const void *va;
        bool start;
    } w{vaddr, false};
    rte_memzone_walk([](const rte_memzone *mz, void *arg) {
        auto *w = static_cast<walk *>(arg);
        w->start = w->start || mz->addr == w->va;
    }, &w);
    const uintptr_t lo = reinterpret_cast<uintptr_t>(vaddr);
    return pages_spanned(lo - (w.start ? malloc_hdr : 0), lo + len, pg) * pg;
}

// ---- per-chunk hooks ----
int hook_call(pool_state *s, elastic_chunk_event ev, const elastic_chunk_info &info) noexcept
{
    try {
        return s->hook(s->mp, ev, &info, s->hook_arg);
    } catch (...) { // a C++ hook that throws: a veto, never an exception through DPDK
        return -EFAULT;
    }
}

// Calls the hook for chunk idx (`c`, possibly already out of the store); the DPDK-populated base
// of a drop-in pool once per memory piece (the memhdrs before the next chunk's). Stops at and
// returns the first veto of an ADD.
int call_hook(pool_state *s, elastic_chunk_event ev, const chunk &c, uint32_t idx) noexcept
{
    if (s->hook == nullptr || s->owner_pid != self_pid)
        return 0;
    elastic_chunk_info info{};
    info.index = idx;
    info.objs = c.cap;
    if (c.mz != nullptr) {
        info.addr = c.mz->addr;
        info.len = c.mz->len;
        info.iova = c.mz->iova;
        info.page_size = page_size_of(c.mz->addr, s->pg_sz);
        info.pinned_bytes = c.bytes;
        info.socket_id = c.mz->socket_id;
        info.mz = c.mz;
        const int ret = hook_call(s, ev, info);
        return ev == ELASTIC_CHUNK_EV_ADD ? ret : 0;
    }
    rte_mempool_memhdr *end = idx + 1 < s->nb_chunks ? *s->chunks[idx + 1].mem_prev : nullptr;
    for (rte_mempool_memhdr *h = STAILQ_FIRST(&s->mp->mem_list); h != nullptr && h != end;
         h = STAILQ_NEXT(h, next)) {
        info.addr = h->addr;
        info.len = h->len;
        info.iova = h->iova;
        info.page_size = page_size_of(h->addr, s->pg_sz);
        info.pinned_bytes = info.page_size == 0 ? h->len :
            pages_spanned(reinterpret_cast<uintptr_t>(h->addr),
                          reinterpret_cast<uintptr_t>(h->addr) + h->len, info.page_size) *
            info.page_size;
        info.socket_id = s->mp->socket_id;
        const int ret = hook_call(s, ev, info);
        if (ev == ELASTIC_CHUNK_EV_ADD && ret != 0)
            return ret;
    }
    return 0;
}

// ---- the guard for PMDs that snapshot pool memory ----
// Before a growth: does the process have a port whose PMD learns pool memory only once (AF_XDP,
// mlx5, ...; pmd_guard.hpp)? Then the pool stays as it is from now on (no growth, no release),
// says so once and flags it in its xstats. Every elastic mbuf pool of such a process counts as
// used by the port: telling which pool an Rx queue takes mbufs from would mean calling into the
// port (rte_eth_rx_queue_info_get) from a datapath lcore or the maintenance thread, maybe while
// the application configures it. This costs one atomic load and calls into no port.
// Grow lock held.
bool guard_check(pool_state *s) noexcept
{
    if (s->guarded)
        return true;
    if (s->no_guard || !s->pktmbuf)
        return false;
    pmd_guard_attach(); // a secondary process that created no pool: its ports are read now
    const char *family = nullptr;
    const int port = pmd_guard_port(&family);
    if (port < 0)
        return false;
    uint32_t chunks;
    {
        lock_guard g(s->store);
        unretire(s);
        s->guarded = true;
        s->guard_port = uint16_t(port);
        chunks = s->nb_chunks;
    }
    EMP_LOG(WARNING, "%s: port %d (%s) takes mbufs from elastic pools and that PMD learns pool "
            "memory only once: the pool stays at %u objects in %u chunks (no growth, no "
            "release; xstats 'guarded'). Size its base for the port (see "
            "docs/mempool-driver.md)\n", s->mp->name, port, family, s->populated, chunks);
    if (chunks > 1 && strcmp(family, "af_xdp") == 0)
        EMP_LOG(ERR, "%s: %u chunks were added before the guard saw port %d: if its AF_XDP Rx "
                "queue uses this pool, its umem covers only memory from the first one\n",
                s->mp->name, chunks - 1, port);
    return true;
}


// Unlink from the mempool everything a chunk added after its recorded list tails.
void unlink_lists(rte_mempool *mp, chunk &c, uint32_t nb_objs) noexcept
{
    *c.elt_prev = nullptr;
    mp->elt_list.stqh_last = c.elt_prev;
    mp->populated_size -= nb_objs;
    rte_mempool_memhdr *h = *c.mem_prev;
    while (h != nullptr) {
        rte_mempool_memhdr *next = STAILQ_NEXT(h, next);
        rte_free(h);
        mp->nb_mem_chunks--;
        h = next;
    }
    *c.mem_prev = nullptr;
    mp->mem_list.stqh_last = c.mem_prev;
}

// Marks a long operation under the grow lock (a growth, a release): a get that finds the pool
// dry fails at once instead of waiting for it (see store_dequeue).
struct busy_mark {
    explicit busy_mark(pool_state *s) noexcept : s_(s) { s_->grow_busy.store(true); }
    ~busy_mark() { s_->grow_busy.store(false); }
    busy_mark(const busy_mark &) = delete;
    busy_mark &operator=(const busy_mark &) = delete;
    pool_state *s_;
};

// Objects in the magazines now (all of them the base chunk's). Relaxed reads: exact when no
// datapath runs, as any count read by maintenance.
uint32_t mag_total(const pool_state *s) noexcept
{
    if (s->mags == nullptr)
        return 0;
    uint32_t n = 0;
    const uint32_t hw = s->mag_hw.load(std::memory_order_acquire);
    for (uint32_t l = 0; l < hw; l++)
        n += s->mags[l].len.load(std::memory_order_relaxed);
    return n;
}

// Move magazine m home to the base chunk's stack; an object put twice (both copies in
// magazines) is found here by the double-put map and dropped. Store lock held; called by m's
// owner lcore.
unsigned mag_drain_locked(pool_state *s, magazine &m) noexcept
{
    const uint32_t n = m.len.load(std::memory_order_relaxed);
    if (n == 0)
        return 0;
    chunk &c = s->chunks[0];
    uint32_t kept = 0;
    for (uint32_t j = 0; j < n; j++)
        if (mark_free(s, c, m.objs[j]))
            c.stack[c.nb_free + kept++] = m.objs[j];
    c.nb_free += kept;
    s->free_active += kept; // the base is never retiring
    s->first_hint = 0;
    m.len.store(0, std::memory_order_relaxed);
    return n;
}

// The base chunk's target for a DPDK-driven populate.
uint32_t base_target(const pool_state *s) noexcept
{
    return s->lazy ? std::min(s->base_objs, s->mp->size) : s->mp->size;
}

// Unlink the last chunk if all its objects are home and free its memory (the ledger decided;
// it does the accounting). Grow lock held.
bool release_last_locked(pool_state *s) noexcept
{
    rte_mempool *mp = s->mp;
    // A PMD that registered the pool's memory keeps using it (guard_check); a hook is a
    // function of the creating process.
    if (s->guarded || (s->hook != nullptr && s->owner_pid != self_pid))
        return false;
    chunk c;
    busy_mark busy(s); // freeing a memzone takes a while: gets must not wait for it
    uint32_t idx;
    {
        lock_guard g(s->store);
        if (s->nb_chunks < 2)
            return false;
        idx = s->nb_chunks - 1;
        chunk &lc = s->chunks[idx];
        if (lc.nb_free != lc.cap)
            return false;
        if (lc.state == chunk_state::active)
            s->free_active -= lc.cap;
        else
            s->parked -= lc.cap;
        if (s->retiring == static_cast<int32_t>(idx))
            s->retiring = -1;
        s->put_c = nullptr;
        s->nb_chunks--;
        pages_rebuild(s);
        s->populated -= lc.cap;
        s->first_hint = std::min(s->first_hint, s->nb_chunks);
        s->allocs_released += lc.allocs;
        c = lc;
        lc = chunk{};
    }
    unlink_lists(mp, c, c.cap);
    call_hook(s, ELASTIC_CHUNK_EV_RELEASE, c, idx);
    free_chunk_memory(c);
    return true;
}

// Give the ledger the allocation times of the chunks: the marks left by gets (default clock)
// become `now`; times stamped by gets (a custom clock) are copied. Grow lock held.
void sync_activity(pool_state *s, uint64_t now) noexcept
{
    lock_guard g(s->store);
    for (uint32_t i = 0; i < s->nb_chunks; i++) {
        chunk &c = s->chunks[i];
        if (c.alloc_mark) {
            c.alloc_mark = 0;
            c.last_alloc_ns = now;
        }
        if (c.last_alloc_ns != s->led->rec(i).last_alloc_ns)
            s->led->note_alloc(i, c.last_alloc_ns);
    }
}

void retire_last(pool_state *s) noexcept
{
    lock_guard g(s->store);
    if (s->nb_chunks < 2 || s->retiring >= 0 || s->guarded)
        return;
    const uint32_t idx = s->nb_chunks - 1;
    chunk &c = s->chunks[idx];
    c.state = chunk_state::retiring;
    s->free_active -= c.nb_free;
    s->parked += c.nb_free;
    s->retiring = idx;
}

// May this face add a chunk now, wall aside (the wall is the ledger's)?
bool may_grow(const pool_state *s) noexcept
{
    if (s->destroying || s->populated != s->mp->populated_size)
        return false;
    // Drop-in: DPDK's populate_default has not brought the base in yet.
    if (!s->explicit_mode && s->populated < base_target(s))
        return false;
    // A custom obj_init can only be replayed in the process that gave it.
    if (s->obj_init != nullptr && !s->pktmbuf && s->owner_pid != self_pid)
        return false;
    // So can a chunk hook.
    if (s->hook != nullptr && s->owner_pid != self_pid)
        return false;
    return true;
}

// Objects of a chunk not home (handed out, in caches or rings); a magazine is home (its objects
// are the base's, free, and handed out like the store's). Store lock held.
uint32_t chunk_out(const pool_state *s, uint32_t i) noexcept
{
    const chunk &c = s->chunks[i];
    const uint32_t out = c.cap - c.nb_free;
    return i == 0 ? out - std::min(out, mag_total(s)) : out;
}

// Objects out of the pool (handed out, in DPDK caches or rings). Store lock held.
uint32_t objs_out(const pool_state *s) noexcept
{
    return s->populated - s->free_active - s->parked - mag_total(s);
}

// Objects the next chunk would hold (0 at the wall).
uint32_t next_chunk_objs(const pool_state *s) noexcept
{
    const uint32_t left = s->mp->size - std::min(s->populated, s->mp->size);
    return std::min(s->nb_chunks == 0 ? s->base_objs : s->chunk_objs, left);
}

// The page table's granule: the page, or 64 KiB for pools without a page size
// (RTE_MEMPOOL_F_NO_IOVA_CONTIG).
size_t granule_of(size_t pg_sz) noexcept
{
    return pg_sz != 0 ? pg_sz : size_t{1} << 16;
}

// What the ledger asks of this face (under the grow lock).
class face final : public ledger_face {
public:
    explicit face(pool_state *s) noexcept : s_(s) {}

    uint64_t chunk_in_use(uint32_t i) noexcept override
    {
        lock_guard g(s_->store);
        return chunk_out(s_, i);
    }
    uint64_t free_units() noexcept override
    {
        lock_guard g(s_->store);
        return s_->free_active + mag_total(s_);
    }
    uint64_t free_units_outside_last() noexcept override
    {
        lock_guard g(s_->store);
        const chunk &last = s_->chunks[s_->nb_chunks - 1];
        // Magazines hold the base's objects: outside the last chunk unless the base is last.
        const uint32_t mags = s_->nb_chunks > 1 ? mag_total(s_) : 0;
        return s_->free_active + mags -
               (last.state == chunk_state::active ? last.nb_free : 0);
    }
    uint64_t in_use_bytes() noexcept override
    {
        lock_guard g(s_->store);
        return uint64_t{objs_out(s_)} * s_->total_elt;
    }
    bool has_waiters() noexcept override { return false; } // a get never waits
    bool grow_ahead() noexcept override
    {
        const uint32_t objs = next_chunk_objs(s_);
        return objs != 0 && may_grow(s_) && s_->led->below_wall(objs) &&
               grow_locked(s_, grow_origin::maintenance) == 0;
    }
    bool unlink_last() noexcept override { return release_last_locked(s_); }
    void set_retiring(bool on) noexcept override
    {
        if (on) {
            retire_last(s_);
        } else {
            lock_guard g(s_->store);
            unretire(s_);
        }
    }
    bool retiring() noexcept override
    {
        lock_guard g(s_->store);
        return s_->retiring >= 0;
    }

private:
    pool_state *s_;
};

rte_iova_t iova_of(const void *addr) noexcept
{
    const rte_memseg *ms = rte_mem_virt2memseg(addr, nullptr);
    if (ms == nullptr || ms->iova == RTE_BAD_IOVA)
        return rte_mem_virt2iova(addr);
    return ms->iova + RTE_PTR_DIFF(addr, ms->addr);
}

} // namespace

uint64_t now_ns(const pool_state *s) noexcept
{
    if (s->clock != nullptr && s->owner_pid == self_pid)
        return s->clock(s->clock_ctx);
    return tsc_ns();
}

pool_state *state_of(const rte_mempool *mp) noexcept
{
    auto *s = static_cast<pool_state *>(mp->pool_data);
    return (s != nullptr && s->magic == state_magic) ? s : nullptr;
}

int state_alloc(rte_mempool *mp) noexcept
{
    auto *s = zalloc<pool_state>("elastic_mempool", 1, mp->socket_id);
    if (s == nullptr)
        return -ENOMEM;
    new (s) pool_state{};
    s->mp = mp;
    s->owner_pid = self_pid;
    s->retiring = -1;
    s->total_elt = mp->header_size + mp->elt_size + mp->trailer_size;
    if (rte_mempool_get_page_size(mp, &s->pg_sz) < 0)
        s->pg_sz = 0;

    elastic_mempool_params p;
    const auto *cfg = static_cast<const create_config *>(mp->pool_config);
    if (cfg != nullptr && cfg->magic == config_magic) {
        p = cfg->params;
        s->explicit_mode = true;
        s->obj_init = cfg->obj_init;
        s->obj_init_arg = cfg->obj_init_arg;
        s->pktmbuf = cfg->pktmbuf;
        s->lazy = true;
    } else {
        params_from_env(&p);
        // Only a plain pktmbuf pool may stay lazy: its obj_init is known (rte_pktmbuf_init).
        const auto *priv = static_cast<const rte_pktmbuf_pool_private *>(rte_mempool_get_priv(mp));
        s->lazy = mp->private_data_size >= sizeof(rte_pktmbuf_pool_private) &&
                  mp->elt_size == RTE_ALIGN_CEIL(sizeof(rte_mbuf) + priv->mbuf_priv_size +
                                                 priv->mbuf_data_room_size, sizeof(uint64_t)) &&
                  (priv->flags & RTE_PKTMBUF_POOL_F_PINNED_EXT_BUF) == 0;
        s->pktmbuf = s->lazy;
        if (!s->lazy)
            p.flags |= ELASTIC_MEMPOOL_F_MANUAL_TICK | ELASTIC_MEMPOOL_F_NO_SHRINK;
    }
    if (!s->explicit_mode && p.low_watermark > mp->size) {
        EMP_LOG(WARNING, "%s: ignoring ELASTIC_MEMPOOL_LOW_WATERMARK=%u (above the pool's %u "
                "objects): using %u\n", mp->name, p.low_watermark, mp->size, p.chunk_objs / 2);
        p.low_watermark = p.chunk_objs / 2;
    }
    s->base_objs = std::min(p.base_objs, mp->size);
    s->chunk_objs = p.chunk_objs;
    s->low_wm = (p.flags & ELASTIC_MEMPOOL_F_NO_PREGROW) ? 0 : p.low_watermark;
    s->flags = p.flags;
    s->no_guard = (p.flags & ELASTIC_MEMPOOL_F_NO_GUARD) != 0;
    if (s->pktmbuf && !s->no_guard)
        pmd_guard_attach(); // the creating (control) thread reads the ports that exist now
    s->hook = p.chunk_hook;
    s->hook_arg = p.chunk_hook_arg;
    s->tick_ns = uint64_t{p.tick_ms} * ns_per_ms;
    s->clock = p.clock;
    s->clock_ctx = p.clock_ctx;
    s->auto_tick = !(p.flags & ELASTIC_MEMPOOL_F_MANUAL_TICK) && p.tick_ms != 0;

    const uint32_t base = s->lazy ? s->base_objs : mp->size;
    // In 64 bits: with a chunk_objs near UINT32_MAX the 32-bit sum wrapped and the pool was
    // given room for its base only (it silently never grew).
    s->max_chunks = static_cast<uint32_t>(
        1 + (uint64_t{mp->size} - base + s->chunk_objs - 1) / s->chunk_objs);
    s->chunks = zalloc<chunk>("elastic_mempool_chunks", s->max_chunks, mp->socket_id);
    {
        // Page table: at most a load factor of 1/2 with every added chunk in.
        const size_t g = granule_of(s->pg_sz);
        // (A chunk holds at most the pool's size: chunk_objs may be far larger, even UINT32_MAX.)
        const uint64_t granules =
            uint64_t{s->max_chunks} *
            (plan_chunk(s, std::min(s->chunk_objs, mp->size)).pinned / g + 2);
        s->page_shift = rte_bsf64(g);
        s->page_mask = static_cast<uint32_t>(rte_align64pow2(std::max<uint64_t>(16,
                                                                                 2 * granules))) - 1;
        s->pages = zalloc<page_slot>("elastic_mempool_pages", size_t{s->page_mask} + 1,
                                     mp->socket_id);
    }
    // Magazines for pools without a DPDK cache whose base objects are known by address: an
    // explicit pool that asks (the base is a memzone; it gives up detecting double puts into
    // a magazine) or a drop-in pool populated in full (everything is base, and DPDK's memory
    // has no double-put map anyway). A lazy drop-in pool's base is DPDK's memory in pieces: it
    // goes through the store.
    const bool mags = mp->cache_size == 0 &&
                      (s->explicit_mode ? (p.flags & ELASTIC_MEMPOOL_F_LCORE_MAGAZINE) != 0
                                        : !s->lazy);
    // Only its lcore can hand a magazine's objects out: all magazines together hold at most
    // half the base (lcores of the EAL, at least 2 counted), each at most DPDK's largest cache.
    s->mag_limit = std::min<uint32_t>(mag_cap, (s->explicit_mode ? s->base_objs : mp->size) /
                                                   (2 * std::max(2u, rte_lcore_count())));
    // One magazine per lcore id up to the EAL's highest (threads registered later go to the
    // store).
    unsigned last = 0;
    for (unsigned l = rte_get_next_lcore(-1, 0, 0); l < RTE_MAX_LCORE;
         l = rte_get_next_lcore(l, 0, 0))
        last = l;
    if (mags && s->mag_limit >= 4) {
        s->mags = zalloc<magazine>("elastic_mempool_mags", last + 1, mp->socket_id);
        s->nb_mags = s->mags != nullptr ? last + 1 : 0;
    }
    s->recs = zalloc<chunk_rec>("elastic_mempool_ledger", s->max_chunks, mp->socket_id);
    s->led = zalloc<ledger>("elastic_mempool_ledger", 1, mp->socket_id);
    auto undo = [s]() noexcept {
        rte_free(s->chunks);
        rte_free(s->pages);
        rte_free(s->mags);
        rte_free(s->recs);
        rte_free(s->led);
        rte_free(s);
    };
    if (s->chunks == nullptr || s->pages == nullptr || s->recs == nullptr || s->led == nullptr) {
        undo();
        return -ENOMEM;
    }
    {
        ledger_config lc{};
        const uint64_t base_mem = plan_chunk(s, base).pinned;
        const uint64_t chunk_mem_b = plan_chunk(s, std::min(s->chunk_objs, mp->size)).pinned;
        lc.wall_units = mp->size;
        lc.wall_bytes = uint64_t{mp->size} * s->total_elt;
        lc.base_bytes = base_mem;
        lc.chunk_bytes = chunk_mem_b;
        lc.margin_bytes = s->total_elt; // a get takes objects one by one (bursts are small)
        lc.unit_bytes = s->total_elt;
        lc.low_wm_units = s->low_wm;
        lc.sample_ns = uint64_t{p.sample_period_ms} * ns_per_ms;
        lc.idle_ns = uint64_t{p.idle_period_ms} * ns_per_ms;
        lc.headroom = std::min(p.headroom_chunks, max_headroom);
        lc.max_chunks = s->max_chunks;
        lc.no_shrink = p.flags & ELASTIC_MEMPOOL_F_NO_SHRINK;
        lc.adaptive = p.flags & ELASTIC_MEMPOOL_F_ADAPTIVE;
        lc.breakeven = p.flags & ELASTIC_MEMPOOL_F_BREAKEVEN;
        lc.node = node_budget_resolve(mp->socket_id); // in the creating thread (families' scope)
        new (s->led) ledger(lc, s->recs, now_ns(s));
    }
    if (!s->explicit_mode) {
        // The base is whatever DPDK's populate path hands us (see populate()).
        chunk &c = s->chunks[0];
        c.cap = base;
        c.stack = zalloc<void *>("elastic_mempool_stack", base, mp->socket_id);
        if (c.stack == nullptr) {
            undo();
            return -ENOMEM;
        }
        c.state = chunk_state::active;
        c.last_alloc_ns = now_ns(s);
        s->nb_chunks = 1;
        // Its memory and objects arrive with DPDK's populate calls (ledger::extend).
        s->led->add(0, 0, c.last_alloc_ns, grow_kind::base, 0);
    }
    s->magic = state_magic;
    mp->pool_data = s;
    EMP_LOG(INFO, "%s: %s, size %u, base %u, chunk %u objects\n", mp->name,
            s->explicit_mode ? "explicit" : s->lazy ? "drop-in lazy" : "drop-in full", mp->size,
            s->explicit_mode || s->lazy ? s->base_objs : mp->size, s->chunk_objs);
    if (!s->explicit_mode)
        maint_register(mp); // explicit pools register once their base is in
    return 0;
}

void state_free(rte_mempool *mp) noexcept
{
    pool_state *s = state_of(mp);
    if (s == nullptr)
        return;
    maint_unregister(mp); // normally done by the DESTROY event already
    numa_forget_mempool(mp); // a family member freed by rte_mempool_free() leaves its family
    // rte_mempool_free() has unlinked the objects and memory headers; the memzones of our
    // chunks are ours to free (a base populated by DPDK has its own callback).
    for (uint32_t i = 0; i < s->max_chunks; i++)
        free_chunk_memory(s->chunks[i]);
    s->led->give_back_all();
    rte_free(s->chunks);
    rte_free(s->pages);
    rte_free(s->mags);
    rte_free(s->recs);
    rte_free(s->led);
    s->magic = 0;
    rte_free(s);
    mp->pool_data = nullptr;
}

namespace {

// The calling lcore's magazine, or NULL (a pool with a DPDK cache, a non-EAL thread, another
// process: lcore ids are per process, and a magazine has exactly one user).
inline magazine *my_mag(pool_state *s) noexcept
{
    if (s->mags == nullptr || s->owner_pid != self_pid)
        return nullptr;
    const unsigned l = rte_lcore_id();
    return l < s->nb_mags ? &s->mags[l] : nullptr;
}

// Small copies inline (a get or put of one or a few objects is the common call).
inline void copy_objs(void **dst, void *const *src, unsigned n) noexcept
{
    if (n <= 8) {
        for (unsigned j = 0; j < n; j++)
            dst[j] = src[j];
    } else {
        memcpy(dst, src, n * sizeof(void *));
    }
}

inline bool is_base_obj(const pool_state *s, const void *obj) noexcept
{
    // Explicit: the base is chunk 0's memzone. Drop-in pools with magazines have no other chunk.
    return !s->explicit_mode || reinterpret_cast<uintptr_t>(obj) - s->base_lo < s->base_span;
}

// Put into the calling lcore's magazine what fits of n objects if all are the base's; returns
// how many went in (the first ones), the rest is for the store.
inline unsigned mag_put(pool_state *s, magazine &m, void *const *objs, unsigned n) noexcept
{
    const uint32_t len = m.len.load(std::memory_order_relaxed);
    const unsigned k = std::min<unsigned>(n, s->mag_limit - len);
    if (k == 0)
        return 0;
    for (unsigned j = 0; j < n; j++)
        if (!is_base_obj(s, objs[j]))
            return 0;
    copy_objs(m.objs + len, objs, k);
    m.len.store(len + k, std::memory_order_relaxed);
    return k;
}

inline bool mag_get(magazine &m, void **objs, unsigned n) noexcept
{
    const uint32_t len = m.len.load(std::memory_order_relaxed);
    if (len < n)
        return false;
    copy_objs(objs, m.objs + (len - n), n);
    m.len.store(len - n, std::memory_order_relaxed);
    return true;
}

void note_mag_user(pool_state *s, const magazine &m) noexcept
{
    const uint32_t l = static_cast<uint32_t>(&m - s->mags) + 1;
    uint32_t hw = s->mag_hw.load(std::memory_order_relaxed);
    while (hw < l && !s->mag_hw.compare_exchange_weak(hw, l, std::memory_order_release))
        ;
}

} // namespace

unsigned mag_flush_own(pool_state *s) noexcept
{
    magazine *m = my_mag(s);
    if (m == nullptr)
        return 0;
    lock_guard g(s->store);
    return mag_drain_locked(s, *m);
}

int store_enqueue(pool_state *s, void *const *objs, unsigned n) noexcept
{
    if (magazine *m = my_mag(s); m != nullptr) {
        const unsigned k = mag_put(s, *m, objs, n);
        if (k != 0 && unlikely(static_cast<uint32_t>(m - s->mags) >=
                               s->mag_hw.load(std::memory_order_relaxed)))
            note_mag_user(s, *m);
        if (k == n)
            return 0;
        objs += k; // the rest goes home through the store
        n -= k;
    }
    lock_guard g(s->store);
    if (chunk *pc = s->put_c; pc != nullptr && pc->nb_free + n <= pc->cap) {
        // Common case: all n go back to the chunk of the last put.
        const uintptr_t lo = s->put_lo, span = pc->va_hi - lo;
        unsigned k = 0;
        while (k < n && reinterpret_cast<uintptr_t>(objs[k]) - lo < span)
            k++;
        if (likely(k == n)) {
            void **dst = pc->stack + pc->nb_free;
            unsigned m = 0;
            for (unsigned j = 0; j < n; j++)
                if (likely(mark_free(s, *pc, objs[j])))
                    dst[m++] = objs[j];
            n = m;
            pc->nb_free += n;
            if (pc->state == chunk_state::active) {
                s->free_active += n;
                const uint32_t idx = static_cast<uint32_t>(pc - s->chunks);
                if (idx < s->first_hint)
                    s->first_hint = idx;
            } else {
                s->parked += n;
            }
            return 0;
        }
    }
    uint32_t to_active = 0, to_parked = 0;
    unsigned i = 0;
    while (i < n) {
        // O(1) per object: a page table probe (a run of one chunk's objects is then one range
        // check each).
        const uint32_t idx = chunk_of(s, objs[i]);
        chunk &c = s->chunks[idx];
        void **const stack = c.stack;
        const uint32_t cap = c.cap;
        uint32_t nf = c.nb_free;
        unsigned j = i;
        unsigned dropped = 0;
        if (c.mz != nullptr) {
            // The run of objects of this chunk (one address range check each).
            const uintptr_t lo = c.va_lo, span = c.va_hi - c.va_lo;
            for (; j < n && nf < cap && reinterpret_cast<uintptr_t>(objs[j]) - lo < span; j++) {
                if (likely(mark_free(s, c, objs[j])))
                    stack[nf++] = objs[j];
                else
                    dropped++;
            }
        } else if (s->nb_pages == 0) {
            while (j < n && nf < cap) // no added chunk: everything is the base's
                stack[nf++] = objs[j++];
        } else {
            // A drop-in base has no span: the run goes on while the table says "base".
            while (j < n && nf < cap && (j == i || chunk_of(s, objs[j]) == 0))
                stack[nf++] = objs[j++];
        }
        if (unlikely(j == i)) {
            EMP_LOG(ERR, "%s: object %p put into a full chunk %u (double free?)\n",
                    s->mp->name, objs[i], idx);
            i++;
            continue;
        }
        c.nb_free = nf;
        if (c.mz != nullptr) {
            s->put_c = &c;
            s->put_lo = c.va_lo;
        }
        if (c.state == chunk_state::active) {
            to_active += j - i - dropped;
            if (idx < s->first_hint)
                s->first_hint = idx;
        } else {
            to_parked += j - i - dropped;
        }
        i = j;
    }
    s->free_active += to_active;
    s->parked += to_parked;
    return 0;
}

namespace {

// The store alone serves n (no growth, no magazine). Takes the store lock.
bool store_dequeue_from_store(pool_state *s, void **objs, unsigned n) noexcept
{
    const uint64_t now = (s->clock != nullptr && s->owner_pid == self_pid) ? now_ns(s) : 0;
    lock_guard g(s->store);
    if (s->free_active < n)
        return false;
    take(s, objs, n, now);
    return true;
}

} // namespace

int store_dequeue(pool_state *s, void **objs, unsigned n) noexcept
{
    if (unlikely(n == 0))
        return 0;
    magazine *m = my_mag(s);
    if (m != nullptr) {
        if (mag_get(*m, objs, n))
            return 0; // the base's objects: the oldest chunk; its stamp is moot (never released)
        // Not enough in it: the store is asked for the rest; the magazine adds its own only
        // once the store has served (so that a failed get takes nothing from it).
        const uint32_t k = m->len.load(std::memory_order_relaxed);
        if (k != 0 && store_dequeue_from_store(s, objs + k, n - k))
            return mag_get(*m, objs, k) ? 0 : -EIO;
    }
    // Reading the clock costs more than the rest of a get on some machines (rdtsc ~60 ns in a
    // VM): with the default clock a get only marks the chunk and maintenance stamps it with
    // its own time (idle times are then late by at most one tick). A custom clock (tests,
    // trace replay) is read here, for exact times.
    const uint64_t now = (s->clock != nullptr && s->owner_pid == self_pid) ? now_ns(s) : 0;
    for (;;) {
        {
            lock_guard g(s->store);
            if (unlikely(n > s->tick_max_bulk))
                s->tick_max_bulk = n; // the largest request, for the break-even margin
            if (s->free_active < n && s->retiring >= 0 &&
                s->free_active + s->chunks[s->retiring].nb_free >= n)
                unretire(s); // demand is back
            if (likely(s->free_active >= n)) {
                // Common case: the oldest chunk with free objects has all n.
                chunk &c = s->chunks[s->first_hint];
                if (likely(c.nb_free > n && c.state == chunk_state::active)) {
                    c.nb_free -= n;
                    void *const *src = c.stack + c.nb_free;
                    for (unsigned j = 0; j < n; j++)
                        objs[j] = src[j];
                    mark_taken(s, c, objs, n);
                    if (now != 0)
                        c.last_alloc_ns = now;
                    else
                        c.alloc_mark = 1;
                    c.allocs += n;
                    s->free_active -= n;
                    // The store's view of demand: objects in magazines count as out here
                    // (over by at most what the magazines hold; ticks take the exact figure).
                    const uint32_t out = s->populated - s->free_active - s->parked;
                    if (unlikely(out > s->tick_peak)) {
                        s->tick_peak = out;
                        s->peak_out = std::max(s->peak_out, out);
                    }
                    return 0;
                }
                take(s, objs, n, now);
                return 0;
            }
        }
        // The store cannot serve n. This lcore's magazine goes home first (other lcores'
        // magazines are theirs alone, as DPDK's per-lcore caches are: at most mag_limit each).
        if (m != nullptr && m->len.load(std::memory_order_relaxed) != 0) {
            {
                lock_guard g(s->store);
                mag_drain_locked(s, *m);
            }
            continue;
        }
        // Then a growth of our own, but never wait for another one (1-2 ms): a growth in
        // progress (datapath or maintenance) makes this get fail at once, as a dry ring would.
        // Short holders of the grow lock (ticks, stats) are waited for.
        if (!s->grow.try_lock()) {
            if (s->grow_busy.load(std::memory_order_relaxed)) {
                lock_guard g(s->store);
                s->nb_grow_busy++;
                s->nb_alloc_fail++;
                return -ENOBUFS;
            }
            rte_pause();
            continue;
        }
        bool enough;
        {
            lock_guard g(s->store);
            unretire(s);
            enough = s->free_active >= n;
        }
        const int ret = enough ? 0 : grow_locked(s, grow_origin::datapath);
        s->grow.unlock();
        if (ret < 0) {
            lock_guard g(s->store);
            s->nb_alloc_fail++;
            return -ENOBUFS;
        }
    }
}

unsigned store_count(const pool_state *s) noexcept
{
    // Free (active and parked) plus what is not populated yet: DPDK's avail_count caps its sum
    // with the caches at mp->size, and in-use = size - avail stays right while the pool grows.
    const uint32_t free_objs = __atomic_load_n(&s->free_active, __ATOMIC_RELAXED) +
                               __atomic_load_n(&s->parked, __ATOMIC_RELAXED) + mag_total(s);
    const uint32_t populated = __atomic_load_n(&s->populated, __ATOMIC_RELAXED);
    return free_objs + (s->mp->size - std::min(populated, s->mp->size));
}

ssize_t calc_mem_size(const rte_mempool *mp, uint32_t obj_num, uint32_t pg_shift,
                      size_t *min_chunk_size, size_t *align) noexcept
{
    const pool_state *s = state_of(mp);
    if (s != nullptr && s->lazy && !s->explicit_mode) {
        const uint32_t target = base_target(s);
        const uint32_t left = target > s->populated ? target - s->populated : 0;
        obj_num = std::max<uint32_t>(1, std::min(obj_num, left));
    }
    return rte_mempool_op_calc_mem_size_default(mp, obj_num, pg_shift, min_chunk_size, align);
}

int populate(rte_mempool *mp, unsigned max_objs, void *vaddr, rte_iova_t iova, size_t len,
             rte_mempool_populate_obj_cb_t *obj_cb, void *obj_cb_arg) noexcept
{
    pool_state *s = state_of(mp);
    if (s == nullptr)
        return -EINVAL;
    chunk *c;
    unsigned limit;
    uint64_t piece_bytes = 0;
    if (s->growing) {
        c = &s->chunks[s->nb_chunks]; // staged, not published
        limit = c->cap - c->nb_free;
    } else {
        if (s->explicit_mode)
            return 0; // explicit pools are populated by their own chunks only
        c = &s->chunks[0];
        const uint32_t target = base_target(s);
        limit = target - std::min(target, s->populated);
        // A drop-in base arrives in pieces from DPDK's populate: each is admitted by the node
        // budget like a growth (and refused like one: the creation then fails).
        lock_guard gg(s->grow);
        piece_bytes = base_piece_bytes(s, vaddr, len);
        if (!s->led->admit_base(piece_bytes)) {
            EMP_LOG(ERR, "%s: %" PRIu64 " bytes of the base refused by node %d's budget\n",
                    mp->name, piece_bytes, s->led->config().node);
            return -ENOBUFS;
        }
    }
    limit = std::min(limit, max_objs);

    // Slice objects; none crosses a page boundary (as DPDK's default populate).
    const size_t total = s->total_elt;
    char *va = static_cast<char *>(vaddr);
    size_t off = 0;
    unsigned n = 0;
    void **out = c->stack + c->nb_free;
    while (n < limit) {
        if (s->pg_sz != 0 && total <= s->pg_sz) {
            uintptr_t a = reinterpret_cast<uintptr_t>(va + off);
            if (a / s->pg_sz != (a + total - 1) / s->pg_sz)
                off += RTE_ALIGN_CEIL(a, s->pg_sz) - a;
        }
        if (off + total > len)
            break;
        void *obj = va + off + mp->header_size;
        obj_cb(mp, obj_cb_arg, obj,
               iova == RTE_BAD_IOVA ? RTE_BAD_IOVA : iova + off + mp->header_size);
        out[n++] = obj;
        off += total;
    }
    if (s->growing) {
        c->nb_free += n; // still invisible: the chunk is not counted in nb_chunks
        return static_cast<int>(n);
    }
    {
        lock_guard gg(s->grow);
        s->led->extend(0, n, piece_bytes);
        lock_guard g(s->store);
        c->nb_free += n;
        s->free_active += n;
        s->populated += n;
        c->bytes += piece_bytes;
        s->first_hint = 0;
    }
    // Lazy base reached: claim the rest so populate_default stops reserving memory.
    if (n > 0 && s->lazy && s->populated == base_target(s) && s->populated < mp->size)
        return static_cast<int>(max_objs);
    return static_cast<int>(n);
}

int grow_locked(pool_state *s, grow_origin origin) noexcept
{
    rte_mempool *mp = s->mp;
    if (!may_grow(s))
        return -ENOBUFS;
    const bool base = s->nb_chunks == 0;
    const uint32_t objs = next_chunk_objs(s);
    if (objs == 0 || !s->led->below_wall(objs)) {
        s->led->refuse_wall();
        return -ENOBUFS;
    }
    if (!base && guard_check(s)) {
        s->led->refuse_guard(); // the pool's size is its wall from now on
        return -ENOBUFS;
    }
    const chunk_plan plan = plan_chunk(s, objs);
    const uint64_t mem = plan.pinned;
    if (base ? !s->led->admit_base(mem) : !s->led->admit(objs, mem))
        return -ENOBUFS; // the node budget
    busy_mark busy(s);
    const uint64_t t0 = tsc_ns();
    char name[RTE_MEMZONE_NAMESIZE];
    snprintf(name, sizeof(name), "EMP%" PRIxPTR "_%u", reinterpret_cast<uintptr_t>(mp),
             s->mz_seq++);
    // Only on the pool's node: a chunk elsewhere would defeat NUMA placement. Cache-line
    // aligned, whole pages with its malloc header (plan_chunk).
    const rte_memzone *mz = nullptr;
    if (reserve_fault_check(plan.reserve) != 0) // tests' fault injection (provider.hpp)
        rte_errno = ENOMEM;
    else
        mz = rte_memzone_reserve_aligned(name, plan.reserve, mp->socket_id, 0,
                                         RTE_CACHE_LINE_SIZE);
    if (mz == nullptr) {
        s->led->grow_failed(mem, tsc_ns() - t0);
        EMP_LOG(DEBUG, "%s: no memzone of %zu bytes: %s\n", mp->name, plan.reserve,
                rte_strerror(rte_errno));
        return -ENOMEM;
    }
    if (s->pg_sz != 0) {
        const uintptr_t a = reinterpret_cast<uintptr_t>(mz->addr);
        const uint64_t spans = pages_spanned(a - malloc_hdr, a + mz->len, s->pg_sz) * s->pg_sz;
        if (spans != mem) // it went into pages the heap held already (shared with others)
            EMP_LOG(DEBUG, "%s: memzone %s spans %" PRIu64 " bytes of pages, planned %" PRIu64
                    "\n", mp->name, name, spans, mem);
    }
    void **stack = static_cast<void **>(RTE_PTR_ADD(mz->addr, plan.stack_off));

    const uint32_t idx = s->nb_chunks;
    chunk &c = s->chunks[idx];
    c = chunk{};
    c.va_lo = reinterpret_cast<uintptr_t>(mz->addr);
    c.va_hi = c.va_lo + mz->len;
    c.mz = mz;
    c.stack = stack;
    c.stack_in_mz = true;
    c.cap = objs;
    c.bytes = mem;
    c.elt_prev = mp->elt_list.stqh_last;
    c.mem_prev = mp->mem_list.stqh_last;
    c.state = chunk_state::active;

    // Populate one IOVA-contiguous run at a time.
    s->growing = true;
    int err = 0;
    char *addr = static_cast<char *>(mz->addr);
    size_t off = 0;
    const bool no_iova = (mp->flags & RTE_MEMPOOL_F_NO_IOVA_CONTIG) != 0;
    const size_t obj_end = plan.stack_off; // the stack follows the objects
    while (off < obj_end && c.nb_free < c.cap) {
        const rte_iova_t iova = no_iova ? RTE_BAD_IOVA : iova_of(addr + off);
        size_t run = obj_end - off;
        if (s->pg_sz != 0 && iova != RTE_BAD_IOVA) {
            run = std::min<size_t>(RTE_PTR_ALIGN_CEIL(addr + off + 1, s->pg_sz) - (addr + off),
                                   obj_end - off);
            while (off + run < obj_end && iova_of(addr + off + run) == iova + run)
                run = std::min(run + s->pg_sz, obj_end - off);
        }
        // No free callback: a function pointer of this process would be wrong in another one
        // (a chunk grown by a secondary); state_free() frees the memzones of live chunks.
        const int ret = rte_mempool_populate_iova(mp, addr + off, iova, run, nullptr, nullptr);
        if (ret < 0) {
            err = ret;
            break;
        }
        off += run;
    }
    s->growing = false;
    const uint32_t staged = c.nb_free;
    if (err == 0 && staged == 0)
        err = -ENOMEM;
    if (err != 0) {
        unlink_lists(mp, c, staged);
        free_chunk_memory(c);
        c = chunk{};
        s->led->grow_failed(mem, tsc_ns() - t0);
        return err;
    }
    c.cap = staged;
    c.free_map = zalloc<uint64_t>("elastic_mempool_free_map",
                                  (mz->len / s->total_elt + 1 + 63) / 64, mp->socket_id);
    if (c.free_map == nullptr) {
        unlink_lists(mp, c, staged);
        free_chunk_memory(c);
        c = chunk{};
        s->led->grow_failed(mem, tsc_ns() - t0);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < staged; i++) {
        const uint64_t k = slot_of(s, c, c.stack[i]);
        c.free_map[k / 64] |= uint64_t{1} << (k % 64);
    }

    // Initialise every object before anyone can get it.
    for (uint32_t i = 0; i < staged; i++) {
        if (s->pktmbuf)
            rte_pktmbuf_init(mp, nullptr, c.stack[i], s->populated + i);
        else if (s->obj_init != nullptr)
            s->obj_init(mp, s->obj_init_arg, c.stack[i], s->populated + i);
    }
    // The application's hook: after the memory is there, before anything of it is handed out.
    if (const int veto = call_hook(s, ELASTIC_CHUNK_EV_ADD, c, idx); veto != 0) {
        unlink_lists(mp, c, staged);
        free_chunk_memory(c);
        c = chunk{};
        s->led->grow_vetoed(mem, tsc_ns() - t0);
        s->nb_hook_veto++;
        EMP_LOG(DEBUG, "%s: chunk %u refused by the chunk hook (%d)\n", mp->name, idx, veto);
        return veto < 0 ? veto : -EPERM;
    }
    const uint64_t t1 = tsc_ns();
    // A process that does not own the pool's custom clock cannot read it (its time is another
    // clock's, possibly far ahead: the chunk would look used in the future and never idle).
    // The chunk gets a mark that the owner's next tick turns into its time, as gets do, and the
    // ledger a time of the owner's clock it already knows (the previous chunk's).
    const bool foreign_clock = s->clock != nullptr && s->owner_pid != self_pid && idx > 0;
    c.last_alloc_ns = foreign_clock ? s->led->rec(idx - 1).last_alloc_ns : now_ns(s);
    c.alloc_mark = foreign_clock;

    s->led->add(staged, uint64_t(mem), c.last_alloc_ns,
                base ? grow_kind::base
                     : origin == grow_origin::datapath ? grow_kind::datapath : grow_kind::ahead,
                t1 - t0);
    lock_guard g(s->store);
    s->nb_chunks++;
    s->put_c = nullptr;
    if (base) {
        s->base_lo = c.va_lo; // explicit pools: what a magazine may hold
        s->base_span = c.va_hi - c.va_lo;
    } else {
        pages_insert(s, c.va_lo, c.va_hi, idx);
    }
    s->free_active += staged;
    s->populated += staged;
    s->first_hint = std::min(s->first_hint, idx);
    if (base)
        return 0;
    EMP_LOG(DEBUG, "%s: chunk %u of %u objects (%zu bytes) added by %s in %" PRIu64 " ns\n",
            mp->name, idx, staged, size_t(mem),
            origin == grow_origin::datapath ? "datapath" : "maintenance", t1 - t0);
    return 0;
}

int maintain(pool_state *s, bool sample_now_only) noexcept
{
    lock_guard gg(s->grow);
    if (s->destroying)
        return -EBUSY;
    const uint64_t now = now_ns(s);
    sync_activity(s, now);
    uint32_t peak, bulk;
    {
        // The peak of demand since the last tick (gets do not call the ledger).
        lock_guard g(s->store);
        peak = s->tick_peak;
        s->tick_peak = objs_out(s);
        bulk = s->tick_max_bulk;
        s->tick_max_bulk = 0;
    }
    s->led->observe(uint64_t{peak} * s->total_elt);
    if (bulk != 0)
        s->led->note_request(uint64_t{bulk} * s->total_elt);
    face f(s);
    return s->led->tick(now, f, sample_now_only);
}

int trim(pool_state *s) noexcept
{
    lock_guard gg(s->grow);
    if (s->destroying)
        return -EBUSY;
    const uint64_t now = now_ns(s);
    sync_activity(s, now);
    face f(s);
    return s->led->trim(now, f);
}

void mark_destroying(pool_state *s) noexcept
{
    lock_guard gg(s->grow);
    s->destroying = true;
}

void hooks_on_destroy(pool_state *s) noexcept
{
    lock_guard gg(s->grow);
    for (uint32_t i = s->nb_chunks; i-- > 0;)
        call_hook(s, ELASTIC_CHUNK_EV_RELEASE, s->chunks[i], i);
    s->hook = nullptr;
}

int hook_set(pool_state *s, elastic_chunk_hook_fn *hook, void *arg) noexcept
{
    if (s->owner_pid != self_pid)
        return -EPERM;
    lock_guard gg(s->grow);
    if (s->destroying)
        return -EBUSY;
    // The old hook lets go of the chunks it saw; the new one sees each of them first.
    for (uint32_t i = s->nb_chunks; s->hook != nullptr && i-- > 0;)
        call_hook(s, ELASTIC_CHUNK_EV_RELEASE, s->chunks[i], i);
    s->hook = hook;
    s->hook_arg = arg;
    for (uint32_t i = 0; hook != nullptr && i < s->nb_chunks; i++) {
        const int veto = call_hook(s, ELASTIC_CHUNK_EV_ADD, s->chunks[i], i);
        if (veto == 0)
            continue;
        while (i-- > 0)
            call_hook(s, ELASTIC_CHUNK_EV_RELEASE, s->chunks[i], i);
        s->hook = nullptr;
        s->hook_arg = nullptr;
        return veto < 0 ? veto : -EPERM;
    }
    return 0;
}

void fill_stats(pool_state *s, elastic_pool_stats *st, elastic_mempool_xstats *xs) noexcept
{
    lock_guard gg(s->grow); // the ledger's figures
    lock_guard g(s->store);
    const uint64_t te = s->total_elt;
    const uint32_t mags = mag_total(s);
    const uint32_t out = s->populated - s->free_active - s->parked - mags;
    if (st != nullptr) {
        *st = elastic_pool_stats{};
        st->in_use_bytes = out * te;
        st->peak_in_use_bytes = s->peak_out * te;
        s->led->fill_stats(*st);
        st->nb_alloc_fail = s->nb_alloc_fail;
        uint64_t allocs = s->allocs_released;
        for (uint32_t i = 0; i < s->nb_chunks; i++)
            allocs += s->chunks[i].allocs;
        st->nb_allocs = allocs;
        st->nb_frees = allocs - out;
        st->max_buf_size = s->mp->elt_size;
    }
    if (xs != nullptr) {
        *xs = elastic_mempool_xstats{};
        xs->nb_grow_datapath = s->led->nb_grow_datapath();
        elastic_pool_stats ls{};
        s->led->fill_stats(ls);
        xs->nb_grow_maintenance = ls.nb_grows_ahead;
        xs->nb_retire = s->led->nb_retire();
        xs->nb_unretire = s->nb_unretire;
        xs->grow_ns_max = s->led->grow_ns_max();
        xs->populated = s->populated;
        xs->free_objs = s->free_active + mags;
        xs->parked_objs = s->parked;
        xs->retiring = s->retiring >= 0;
        xs->guarded = s->guarded;
        xs->guard_port = s->guard_port;
        xs->nb_hook_veto = s->nb_hook_veto;
        xs->nb_double_put = s->nb_double_put;
        xs->magazine_objs = mags;
        xs->nb_grow_busy = s->nb_grow_busy;
        xs->nb_guard_refusals = s->led->nb_guard_refusals();
    }
}

void sizing(pool_state *s, elastic_pool_sizing *sz) noexcept
{
    lock_guard gg(s->grow);
    uint32_t peak;
    {
        lock_guard g(s->store);
        peak = s->peak_out; // exact, even between ticks
    }
    s->led->observe_peak(uint64_t{peak} * s->total_elt);
    s->led->sizing(*sz);
}

void log_destroy(pool_state *s) noexcept
{
    elastic_pool_stats st;
    elastic_mempool_xstats xs;
    fill_stats(s, &st, &xs);
    EMP_LOG(INFO, "%s: destroyed: %u chunks, %" PRIu64 " grows (%" PRIu64 " datapath, %" PRIu64
            " maintenance), %" PRIu64 " shrinks, peak %" PRIu64 " MiB pinned\n", s->mp->name,
            st.nb_chunks, st.nb_grows, xs.nb_grow_datapath, xs.nb_grow_maintenance,
            st.nb_shrinks, st.peak_pinned_bytes >> 20);
}

namespace {

// What the maintenance service holds for a pool: memory of the creating process (heap), so that
// a tick after the pool's removal would be a use after free that ASan reports.
struct ticket {
    pool_state *s;
};

void tick(void *ctx, uint64_t) noexcept
{
    // maintain() takes the grow lock and returns -EBUSY once the pool is being destroyed.
    (void)maintain(static_cast<ticket *>(ctx)->s, false);
}

} // namespace

void maint_register(rte_mempool *mp) noexcept
{
    pool_state *s = state_of(mp);
    if (s == nullptr || !s->auto_tick || s->destroying || s->owner_pid != self_pid ||
        s->ticket.load() != nullptr)
        return;
    auto *t = new (std::nothrow) ticket{s};
    if (t == nullptr) {
        EMP_LOG(WARNING, "%s: no memory to register with the maintenance service: only "
                "elastic_mempool_maintain() ticks it\n", mp->name);
        return;
    }
    try {
        maintenance_add(tick, t, s->tick_ns);
    } catch (const std::exception &e) {
        EMP_LOG(WARNING, "%s: cannot register with the maintenance service (%s): only "
                "elastic_mempool_maintain() ticks it\n", mp->name, e.what());
        delete t;
        return;
    }
    s->ticket.store(t);
}

void maint_unregister(rte_mempool *mp) noexcept
{
    pool_state *s = state_of(mp);
    if (s == nullptr || s->owner_pid != self_pid)
        return;
    auto *t = static_cast<ticket *>(s->ticket.exchange(nullptr));
    if (t == nullptr)
        return;
    maintenance_remove(t); // waits for a tick of it in progress
    delete t;
}

bool maint_registered(const pool_state *s) noexcept
{
    return s->owner_pid == self_pid && s->ticket.load(std::memory_order_relaxed) != nullptr;
}

uint32_t chunk_views(pool_state *s, chunk_view *out, uint32_t max) noexcept
{
    const uint64_t now = now_ns(s);
    lock_guard g(s->store);
    for (uint32_t i = 0; i < s->nb_chunks && i < max; i++) {
        const chunk &c = s->chunks[i];
        chunk_view &v = out[i];
        v.bytes = c.bytes;
        v.objs = c.cap;
        v.in_use = chunk_out(s, i);
        // A mark not turned into a time yet: allocated from since the last tick.
        v.idle_ns = c.alloc_mark || now < c.last_alloc_ns ? 0 : now - c.last_alloc_ns;
        v.retiring = c.state == chunk_state::retiring;
    }
    return s->nb_chunks;
}

void params_from_env(elastic_mempool_params *p) noexcept
{
    elastic_mempool_params_init(p);
    p->base_objs = 8192;
    p->chunk_objs = 4096;
    // Each variable is held to what the explicit API accepts for its field (check_params in
    // mempool_capi.cpp): plain decimal digits only (no sign, space, octal or hex), in range.
    // Anything else is named in a warning and the default is used.
    auto get = [](const char *name, uint32_t dflt, uint32_t lo, uint32_t hi) noexcept {
        const char *v = getenv(name);
        if (v == nullptr || *v == '\0')
            return dflt;
        uint64_t x = 0;
        const char *c = v;
        for (; *c >= '0' && *c <= '9' && x <= UINT32_MAX; c++)
            x = x * 10 + uint64_t(*c - '0');
        // A leading zero is refused: strtoul(, 0) read "010" as octal 8 before.
        if (*c != '\0' || (v[0] == '0' && v[1] != '\0') || x < lo || x > hi) {
            EMP_LOG(WARNING, "ignoring %s=%s (want a decimal number in %u..%u): using %u\n",
                    name, v, lo, hi, dflt);
            return dflt;
        }
        return static_cast<uint32_t>(x);
    };
    p->base_objs = get("ELASTIC_MEMPOOL_BASE_OBJS", p->base_objs, 1, UINT32_MAX);
    p->chunk_objs = get("ELASTIC_MEMPOOL_CHUNK_OBJS", p->chunk_objs, 1, UINT32_MAX);
    p->tick_ms = get("ELASTIC_MEMPOOL_TICK_MS", p->tick_ms, 0, UINT32_MAX);
    p->sample_period_ms = get("ELASTIC_MEMPOOL_SAMPLE_MS", p->sample_period_ms, 1, UINT32_MAX);
    p->idle_period_ms = get("ELASTIC_MEMPOOL_IDLE_MS", p->idle_period_ms, 1, UINT32_MAX);
    p->headroom_chunks = get("ELASTIC_MEMPOOL_HEADROOM", p->headroom_chunks, 0, max_headroom);
    // The pool's size is not known here: state_alloc() refuses a watermark above it.
    p->low_watermark = get("ELASTIC_MEMPOOL_LOW_WATERMARK", p->chunk_objs / 2, 0, UINT32_MAX);
    p->flags = get("ELASTIC_MEMPOOL_FLAGS", 0, 0, UINT32_MAX);
    if ((p->flags & ~known_flags) != 0) {
        EMP_LOG(WARNING, "ignoring ELASTIC_MEMPOOL_FLAGS=%s (unknown flags 0x%x): using 0\n",
                getenv("ELASTIC_MEMPOOL_FLAGS"), p->flags & ~known_flags);
        p->flags = 0;
    }
    if (get("ELASTIC_MEMPOOL_ADAPTIVE", 0, 0, 1) != 0)
        p->flags |= ELASTIC_MEMPOOL_F_ADAPTIVE;
    if (get("ELASTIC_MEMPOOL_NO_GUARD", 0, 0, 1) != 0)
        p->flags |= ELASTIC_MEMPOOL_F_NO_GUARD;
    if (get("ELASTIC_MEMPOOL_BREAKEVEN", 0, 0, 1) != 0)
        p->flags |= ELASTIC_MEMPOOL_F_BREAKEVEN;
}

} // namespace elastic::detail::emp
