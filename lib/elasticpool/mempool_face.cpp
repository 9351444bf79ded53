// SPDX-License-Identifier: BSD-3-Clause
// The store of an elastic mempool: chunks in order of addition, each with a stack of its free
// objects; growth by whole memzones; release of the last chunk under the shared rule.
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
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memory.h>

#include "maintenance.hpp"

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

// Which chunk does obj belong to? Added chunks have a span; everything else is the base.
// `hint` is the range that matched last (objects tend to come back in runs of one chunk).
inline uint32_t chunk_of(const pool_state *s, const void *obj, uint32_t &hint) noexcept
{
    const uintptr_t a = reinterpret_cast<uintptr_t>(obj);
    if (hint < s->nb_ranges && a - s->ranges[hint].lo < s->ranges[hint].hi - s->ranges[hint].lo)
        return s->ranges[hint].idx;
    uint32_t lo = 0, hi = s->nb_ranges;
    while (lo < hi) {
        const uint32_t mid = (lo + hi) / 2;
        if (s->ranges[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && a < s->ranges[lo - 1].hi) {
        hint = lo - 1;
        return s->ranges[lo - 1].idx;
    }
    return 0;
}

void range_insert(pool_state *s, uintptr_t lo, uintptr_t hi, uint32_t idx) noexcept
{
    uint32_t i = s->nb_ranges;
    while (i > 0 && s->ranges[i - 1].lo > lo) {
        s->ranges[i] = s->ranges[i - 1];
        i--;
    }
    s->ranges[i] = range{lo, hi, idx};
    s->nb_ranges++;
}

void range_remove(pool_state *s, uint32_t idx) noexcept
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < s->nb_ranges; i++)
        if (s->ranges[i].idx != idx)
            s->ranges[j++] = s->ranges[i];
    s->nb_ranges = j;
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
    if (out > s->peak_out)
        s->peak_out = out;
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

// The base chunk's target for a DPDK-driven populate.
uint32_t base_target(const pool_state *s) noexcept
{
    return s->lazy ? std::min(s->base_objs, s->mp->size) : s->mp->size;
}

// Release the last chunk if all its objects are home. Grow lock held.
bool release_last_locked(pool_state *s) noexcept
{
    rte_mempool *mp = s->mp;
    chunk c;
    {
        lock_guard g(s->store);
        if (s->nb_chunks < 2)
            return false;
        const uint32_t idx = s->nb_chunks - 1;
        chunk &lc = s->chunks[idx];
        if (lc.nb_free != lc.cap)
            return false;
        if (lc.state == chunk_state::active)
            s->free_active -= lc.cap;
        else
            s->parked -= lc.cap;
        if (s->retiring == static_cast<int32_t>(idx))
            s->retiring = -1;
        range_remove(s, idx);
        s->put_c = nullptr;
        s->nb_chunks--;
        s->populated -= lc.cap;
        s->first_hint = std::min(s->first_hint, s->nb_chunks);
        s->pinned_bytes -= lc.bytes;
        s->allocs_released += lc.allocs;
        s->nb_shrinks++;
        c = lc;
        lc = chunk{};
    }
    unlink_lists(mp, c, c.cap);
    rte_memzone_free(c.mz);
    rte_free(c.stack);
    return true;
}

// Turn the marks left by gets into allocation times. Store lock held.
void observe_marks(pool_state *s, uint64_t now) noexcept
{
    for (uint32_t i = 0; i < s->nb_chunks; i++) {
        if (s->chunks[i].alloc_mark) {
            s->chunks[i].alloc_mark = 0;
            s->chunks[i].last_alloc_ns = now;
        }
    }
}

// The release rule of policy.hpp on the last chunks; `assume_empty` asks whether the last chunk
// could go if all its objects were back (the retiring decision).
bool rule_allows(pool_state *s, uint64_t now, bool assume_empty) noexcept
{
    chunk_activity act[max_headroom + 2];
    lock_guard g(s->store);
    observe_marks(s, now);
    if (s->nb_chunks < 2)
        return false;
    const uint32_t want = std::max<uint32_t>(s->rule.headroom + 1, 2);
    const uint32_t n = std::min(want, s->nb_chunks);
    const uint32_t first = s->nb_chunks - n;
    for (uint32_t i = 0; i < n; i++) {
        const chunk &c = s->chunks[first + i];
        act[i] = chunk_activity{c.cap - c.nb_free, c.last_alloc_ns};
    }
    if (assume_empty)
        act[n - 1].in_use = 0;
    // Do not release what growth ahead of need would add back at once.
    const chunk &last = s->chunks[s->nb_chunks - 1];
    const uint32_t left = s->free_active -
        (last.state == chunk_state::active ? last.nb_free : 0);
    if (s->low_wm != 0 && !(s->flags & ELASTIC_MEMPOOL_F_NO_PREGROW) && left < s->low_wm)
        return false;
    return s->rule.may_release_last(std::span<const chunk_activity>(act, n), now);
}

void retire_last(pool_state *s) noexcept
{
    lock_guard g(s->store);
    if (s->nb_chunks < 2 || s->retiring >= 0)
        return;
    const uint32_t idx = s->nb_chunks - 1;
    chunk &c = s->chunks[idx];
    c.state = chunk_state::retiring;
    s->free_active -= c.nb_free;
    s->parked += c.nb_free;
    s->retiring = idx;
    s->nb_retire++;
}

bool may_grow(const pool_state *s) noexcept
{
    if (s->destroying || s->populated != s->mp->populated_size || s->populated >= s->mp->size)
        return false;
    if (s->nb_chunks >= s->max_chunks)
        return false;
    // Drop-in: DPDK's populate_default has not brought the base in yet.
    if (!s->explicit_mode && s->populated < base_target(s))
        return false;
    // A custom obj_init can only be replayed in the process that gave it.
    if (s->obj_init != nullptr && !s->pktmbuf && s->owner_pid != self_pid)
        return false;
    return true;
}

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
    s->base_objs = std::min(p.base_objs, mp->size);
    s->chunk_objs = p.chunk_objs;
    s->low_wm = (p.flags & ELASTIC_MEMPOOL_F_NO_PREGROW) ? 0 : p.low_watermark;
    s->flags = p.flags;
    s->rule = release_rule{uint64_t{p.idle_period_ms} * ns_per_ms,
                           std::min(p.headroom_chunks, max_headroom)};
    s->tick_ns = uint64_t{p.tick_ms} * ns_per_ms;
    s->clock = p.clock;
    s->clock_ctx = p.clock_ctx;
    s->samples = sampler(uint64_t{p.sample_period_ms} * ns_per_ms, now_ns(s));
    s->auto_tick = !(p.flags & ELASTIC_MEMPOOL_F_MANUAL_TICK) && p.tick_ms != 0;

    const uint32_t base = s->lazy ? s->base_objs : mp->size;
    s->max_chunks = 1 + (mp->size - base + s->chunk_objs - 1) / s->chunk_objs;
    s->chunks = zalloc<chunk>("elastic_mempool_chunks", s->max_chunks, mp->socket_id);
    s->ranges = zalloc<range>("elastic_mempool_ranges", s->max_chunks, mp->socket_id);
    if (s->chunks == nullptr || s->ranges == nullptr) {
        rte_free(s->chunks);
        rte_free(s->ranges);
        rte_free(s);
        return -ENOMEM;
    }
    if (!s->explicit_mode) {
        // The base is whatever DPDK's populate path hands us (see populate()).
        chunk &c = s->chunks[0];
        c.cap = base;
        c.stack = zalloc<void *>("elastic_mempool_stack", base, mp->socket_id);
        if (c.stack == nullptr) {
            rte_free(s->chunks);
            rte_free(s->ranges);
            rte_free(s);
            return -ENOMEM;
        }
        c.state = chunk_state::active;
        c.last_alloc_ns = now_ns(s);
        s->nb_chunks = 1;
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
    // rte_mempool_free() has unlinked the objects and memory headers; the memzones of our
    // chunks are ours to free (a base populated by DPDK has its own callback).
    for (uint32_t i = 0; i < s->max_chunks; i++) {
        if (s->chunks[i].mz != nullptr)
            rte_memzone_free(s->chunks[i].mz);
        rte_free(s->chunks[i].stack);
    }
    rte_free(s->chunks);
    rte_free(s->ranges);
    s->magic = 0;
    rte_free(s);
    mp->pool_data = nullptr;
}

int store_enqueue(pool_state *s, void *const *objs, unsigned n) noexcept
{
    lock_guard g(s->store);
    if (chunk *pc = s->put_c; pc != nullptr && pc->nb_free + n <= pc->cap) {
        // Common case: all n go back to the chunk of the last put.
        const uintptr_t lo = s->put_lo, span = pc->va_hi - lo;
        unsigned k = 0;
        while (k < n && reinterpret_cast<uintptr_t>(objs[k]) - lo < span)
            k++;
        if (likely(k == n)) {
            void **dst = pc->stack + pc->nb_free;
            for (unsigned j = 0; j < n; j++)
                dst[j] = objs[j];
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
    uint32_t hint = s->range_hint;
    uint32_t to_active = 0, to_parked = 0;
    unsigned i = 0;
    while (i < n) {
        const uint32_t idx = s->nb_ranges == 0 ? 0 : chunk_of(s, objs[i], hint);
        chunk &c = s->chunks[idx];
        void **const stack = c.stack;
        const uint32_t cap = c.cap;
        uint32_t nf = c.nb_free;
        unsigned j = i;
        // The run of objects of this chunk (one address range check each).
        if (c.mz != nullptr) {
            const uintptr_t lo = c.va_lo, span = c.va_hi - c.va_lo;
            while (j < n && nf < cap && reinterpret_cast<uintptr_t>(objs[j]) - lo < span)
                stack[nf++] = objs[j++];
        } else if (s->nb_ranges == 0) {
            while (j < n && nf < cap)
                stack[nf++] = objs[j++];
        } else if (nf < cap) {
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
            to_active += j - i;
            if (idx < s->first_hint)
                s->first_hint = idx;
        } else {
            to_parked += j - i;
        }
        i = j;
    }
    s->free_active += to_active;
    s->parked += to_parked;
    s->range_hint = hint;
    return 0;
}

int store_dequeue(pool_state *s, void **objs, unsigned n) noexcept
{
    if (unlikely(n == 0))
        return 0;
    // Reading the clock costs more than the rest of a get on some machines (rdtsc ~60 ns in a
    // VM): with the default clock a get only marks the chunk and maintenance stamps it with
    // its own time (idle times are then late by at most one tick). A custom clock (tests,
    // trace replay) is read here, for exact times.
    const uint64_t now = (s->clock != nullptr && s->owner_pid == self_pid) ? now_ns(s) : 0;
    for (;;) {
        {
            lock_guard g(s->store);
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
                    if (now != 0)
                        c.last_alloc_ns = now;
                    else
                        c.alloc_mark = 1;
                    c.allocs += n;
                    s->free_active -= n;
                    const uint32_t out = s->populated - s->free_active - s->parked;
                    if (out > s->peak_out)
                        s->peak_out = out;
                    return 0;
                }
                take(s, objs, n, now);
                return 0;
            }
        }
        // Slow path: grow until n objects are free or the pool cannot grow.
        lock_guard gg(s->grow);
        bool enough;
        {
            lock_guard g(s->store);
            unretire(s);
            enough = s->free_active >= n;
        }
        if (enough)
            continue;
        if (grow_locked(s, grow_origin::datapath) < 0) {
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
                               __atomic_load_n(&s->parked, __ATOMIC_RELAXED);
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
    if (s->growing) {
        c = &s->chunks[s->nb_chunks]; // staged, not published
        limit = c->cap - c->nb_free;
    } else {
        if (s->explicit_mode)
            return 0; // explicit pools are populated by their own chunks only
        c = &s->chunks[0];
        const uint32_t target = base_target(s);
        limit = target - std::min(target, s->populated);
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
        lock_guard g(s->store);
        c->nb_free += n;
        s->free_active += n;
        s->populated += n;
        c->bytes += len;
        s->pinned_bytes += len;
        s->peak_pinned_bytes = std::max(s->peak_pinned_bytes, s->pinned_bytes);
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
    if (!may_grow(s)) {
        if (!s->destroying && (s->populated >= mp->size || s->nb_chunks >= s->max_chunks)) {
            lock_guard g(s->store);
            s->nb_wall_hits++;
            s->last_limit = ELASTIC_LIMIT_WALL;
        }
        return -ENOBUFS;
    }
    const uint64_t t0 = tsc_ns();
    const bool base = s->nb_chunks == 0;
    const uint32_t objs = std::min(base ? s->base_objs : s->chunk_objs, mp->size - s->populated);
    const uint32_t pg_shift = s->pg_sz != 0 ? rte_bsf64(s->pg_sz) : 0;
    size_t min_chunk = 0, align = 0;
    ssize_t mem = rte_mempool_op_calc_mem_size_default(mp, objs, pg_shift, &min_chunk, &align);
    if (mem < 0)
        return static_cast<int>(mem);
    if (s->pg_sz != 0) {
        align = std::max(align, s->pg_sz);
        mem = RTE_ALIGN_CEIL(mem, static_cast<ssize_t>(s->pg_sz));
    }
    void **stack = zalloc<void *>("elastic_mempool_stack", objs, mp->socket_id);
    if (stack == nullptr) {
        lock_guard g(s->store);
        s->nb_grow_fail++;
        s->last_limit = ELASTIC_LIMIT_PROVIDER;
        return -ENOMEM;
    }
    char name[RTE_MEMZONE_NAMESIZE];
    snprintf(name, sizeof(name), "EMP%" PRIxPTR "_%u", reinterpret_cast<uintptr_t>(mp),
             s->mz_seq++);
    const rte_memzone *mz = rte_memzone_reserve_aligned(name, mem, mp->socket_id, 0, align);
    if (mz == nullptr && mp->socket_id != SOCKET_ID_ANY && rte_errno == ENOMEM)
        mz = nullptr; // keep the pool's node: a chunk elsewhere would defeat NUMA placement
    if (mz == nullptr) {
        rte_free(stack);
        lock_guard g(s->store);
        s->nb_grow_fail++;
        s->last_limit = ELASTIC_LIMIT_PROVIDER;
        EMP_LOG(DEBUG, "%s: no memzone of %zd bytes: %s\n", mp->name, mem,
                rte_strerror(rte_errno));
        return -ENOMEM;
    }

    const uint32_t idx = s->nb_chunks;
    chunk &c = s->chunks[idx];
    c = chunk{};
    c.va_lo = reinterpret_cast<uintptr_t>(mz->addr);
    c.va_hi = c.va_lo + mz->len;
    c.mz = mz;
    c.stack = stack;
    c.cap = objs;
    c.bytes = mz->len;
    c.elt_prev = mp->elt_list.stqh_last;
    c.mem_prev = mp->mem_list.stqh_last;
    c.state = chunk_state::active;

    // Populate one IOVA-contiguous run at a time.
    s->growing = true;
    int err = 0;
    char *addr = static_cast<char *>(mz->addr);
    size_t off = 0;
    const bool no_iova = (mp->flags & RTE_MEMPOOL_F_NO_IOVA_CONTIG) != 0;
    while (off < mz->len && c.nb_free < c.cap) {
        const rte_iova_t iova = no_iova ? RTE_BAD_IOVA : iova_of(addr + off);
        size_t run = mz->len - off;
        if (s->pg_sz != 0 && iova != RTE_BAD_IOVA) {
            run = std::min<size_t>(RTE_PTR_ALIGN_CEIL(addr + off + 1, s->pg_sz) - (addr + off),
                                   mz->len - off);
            while (off + run < mz->len && iova_of(addr + off + run) == iova + run)
                run = std::min(run + s->pg_sz, mz->len - off);
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
        rte_memzone_free(mz);
        rte_free(stack);
        c = chunk{};
        lock_guard g(s->store);
        s->nb_grow_fail++;
        return err;
    }
    c.cap = staged;

    // Initialise every object before anyone can get it.
    for (uint32_t i = 0; i < staged; i++) {
        if (s->pktmbuf)
            rte_pktmbuf_init(mp, nullptr, c.stack[i], s->populated + i);
        else if (s->obj_init != nullptr)
            s->obj_init(mp, s->obj_init_arg, c.stack[i], s->populated + i);
    }
    const uint64_t t1 = tsc_ns();
    c.last_alloc_ns = now_ns(s);

    lock_guard g(s->store);
    s->nb_chunks++;
    s->put_c = nullptr;
    range_insert(s, c.va_lo, c.va_hi, idx);
    s->free_active += staged;
    s->populated += staged;
    s->first_hint = std::min(s->first_hint, idx);
    s->pinned_bytes += c.bytes;
    s->peak_pinned_bytes = std::max(s->peak_pinned_bytes, s->pinned_bytes);
    if (base)
        return 0;
    s->chunk_bytes = c.bytes;
    s->nb_grows++;
    if (origin == grow_origin::datapath)
        s->nb_grow_datapath++;
    else
        s->nb_grow_maintenance++;
    s->grow_ns_total += t1 - t0;
    s->grow_ns_max = std::max(s->grow_ns_max, t1 - t0);
    EMP_LOG(DEBUG, "%s: chunk %u of %u objects (%zu bytes) added by %s in %" PRIu64 " ns\n",
            mp->name, idx, staged, mz->len,
            origin == grow_origin::datapath ? "datapath" : "maintenance", t1 - t0);
    return 0;
}

int maintain(pool_state *s, bool sample_now_only) noexcept
{
    lock_guard gg(s->grow);
    if (s->destroying)
        return -EBUSY;
    int released = 0;
    // A retiring chunk whose objects are all back goes now (its release was decided already).
    bool done;
    {
        lock_guard g(s->store);
        done = s->retiring >= 0 && s->chunks[s->retiring].nb_free == s->chunks[s->retiring].cap;
    }
    if (done && release_last_locked(s))
        released = 1;

    // Growth ahead of need.
    if (s->low_wm != 0) {
        uint32_t free_objs;
        {
            lock_guard g(s->store);
            free_objs = s->free_active;
        }
        if (free_objs < s->low_wm && may_grow(s))
            (void)grow_locked(s, grow_origin::maintenance);
    }

    const uint64_t now = now_ns(s);
    bool due;
    {
        lock_guard g(s->store);
        observe_marks(s, now);
        due = sample_now_only || s->samples.due(now);
        if (due)
            s->nb_samples++;
    }
    if (!due || released || (s->flags & ELASTIC_MEMPOOL_F_NO_SHRINK))
        return released;
    {
        lock_guard g(s->store);
        if (s->retiring >= 0)
            return 0; // one release at a time
    }
    if (rule_allows(s, now, false)) {
        if (release_last_locked(s))
            return 1;
    } else if (rule_allows(s, now, true)) {
        retire_last(s);
    }
    return 0;
}

int trim(pool_state *s) noexcept
{
    lock_guard gg(s->grow);
    if (s->destroying)
        return -EBUSY;
    if (s->flags & ELASTIC_MEMPOOL_F_NO_SHRINK)
        return 0;
    const uint64_t now = now_ns(s);
    int n = 0;
    while (rule_allows(s, now, false) && release_last_locked(s))
        n++;
    bool retiring;
    {
        lock_guard g(s->store);
        retiring = s->retiring >= 0;
    }
    if (!retiring && rule_allows(s, now, true))
        retire_last(s);
    return n;
}

void mark_destroying(pool_state *s) noexcept
{
    lock_guard gg(s->grow);
    s->destroying = true;
}

void fill_stats(pool_state *s, elastic_pool_stats *st, elastic_mempool_xstats *xs) noexcept
{
    lock_guard g(s->store);
    const uint64_t te = s->total_elt;
    const uint32_t out = s->populated - s->free_active - s->parked;
    if (st != nullptr) {
        *st = elastic_pool_stats{};
        st->pinned_bytes = s->pinned_bytes;
        st->in_use_bytes = out * te;
        st->peak_in_use_bytes = s->peak_out * te;
        st->peak_pinned_bytes = s->peak_pinned_bytes;
        st->nb_grows = s->nb_grows;
        st->nb_grows_ahead = s->nb_grow_maintenance;
        st->nb_wall_hits = s->nb_wall_hits;
        st->last_limit = s->last_limit;
        st->nb_shrinks = s->nb_shrinks;
        st->nb_alloc_fail = s->nb_alloc_fail;
        uint64_t allocs = s->allocs_released;
        for (uint32_t i = 0; i < s->nb_chunks; i++)
            allocs += s->chunks[i].allocs;
        st->nb_allocs = allocs;
        st->nb_frees = allocs - out;
        st->nb_grow_fail = s->nb_grow_fail;
        st->grow_ns_total = s->grow_ns_total;
        st->nb_samples = s->nb_samples;
        st->nb_chunks = s->nb_chunks;
        st->base_size = s->nb_chunks > 0 ? s->chunks[0].bytes : 0;
        st->chunk_size = s->chunk_bytes;
        st->wall_size = uint64_t{s->mp->size} * te;
        st->max_buf_size = s->mp->elt_size;
    }
    if (xs != nullptr) {
        *xs = elastic_mempool_xstats{};
        xs->nb_grow_datapath = s->nb_grow_datapath;
        xs->nb_grow_maintenance = s->nb_grow_maintenance;
        xs->nb_retire = s->nb_retire;
        xs->nb_unretire = s->nb_unretire;
        xs->grow_ns_max = s->grow_ns_max;
        xs->populated = s->populated;
        xs->free_objs = s->free_active;
        xs->parked_objs = s->parked;
        xs->retiring = s->retiring >= 0;
    }
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
        v.in_use = c.cap - c.nb_free;
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
    auto get = [](const char *name, uint32_t dflt) noexcept -> uint32_t {
        const char *v = getenv(name);
        if (v == nullptr || *v == '\0')
            return dflt;
        char *end = nullptr;
        const unsigned long x = strtoul(v, &end, 0);
        if (*end != '\0' || x > UINT32_MAX) {
            EMP_LOG(WARNING, "ignoring %s=%s\n", name, v);
            return dflt;
        }
        return static_cast<uint32_t>(x);
    };
    p->base_objs = std::max<uint32_t>(1, get("ELASTIC_MEMPOOL_BASE_OBJS", p->base_objs));
    p->chunk_objs = std::max<uint32_t>(1, get("ELASTIC_MEMPOOL_CHUNK_OBJS", p->chunk_objs));
    p->tick_ms = get("ELASTIC_MEMPOOL_TICK_MS", p->tick_ms);
    p->sample_period_ms = std::max<uint32_t>(1, get("ELASTIC_MEMPOOL_SAMPLE_MS",
                                                    p->sample_period_ms));
    p->idle_period_ms = get("ELASTIC_MEMPOOL_IDLE_MS", p->idle_period_ms);
    p->headroom_chunks = get("ELASTIC_MEMPOOL_HEADROOM", p->headroom_chunks);
    p->low_watermark = get("ELASTIC_MEMPOOL_LOW_WATERMARK", p->chunk_objs / 2);
    p->flags = get("ELASTIC_MEMPOOL_FLAGS", 0) &
               (ELASTIC_MEMPOOL_F_NO_SHRINK | ELASTIC_MEMPOOL_F_MANUAL_TICK |
                ELASTIC_MEMPOOL_F_NO_PREGROW);
}

} // namespace elastic::detail::emp
