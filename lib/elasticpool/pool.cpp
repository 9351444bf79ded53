// SPDX-License-Identifier: BSD-3-Clause
#include "pool.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstring>

#include <rte_errno.h>
#include <rte_memory.h>

#include "clock.hpp"
#include "log.hpp"

namespace elastic::detail {

namespace {

constexpr size_t default_max_buf = size_t(1) << 20;
constexpr uint32_t known_flags = ELASTIC_POOL_F_NO_SHRINK | ELASTIC_POOL_F_ADAPTIVE |
                                 ELASTIC_POOL_F_MANUAL_TICK | ELASTIC_POOL_F_PROVIDER_MASK;

size_t round_pages(size_t n) { return (n + page_size - 1) & ~(page_size - 1); }

// Largest power-of-two number of bytes (>= a page) that fits in n bytes.
size_t floor_class(size_t n) { return n < page_size ? 0 : std::bit_floor(n); }

std::atomic<uint32_t> pool_seq{0};

} // namespace

int pool_config::from_params(const elastic_pool_params &p, pool_config &out)
{
    if (p.name == nullptr || p.name[0] == '\0') {
        EP_LOG(ERR, "pool create: no name");
        return EINVAL;
    }
    if (strnlen(p.name, ELASTIC_POOL_NAMESIZE + 1) > ELASTIC_POOL_NAMESIZE) {
        EP_LOG(ERR, "pool create: name longer than %d characters", ELASTIC_POOL_NAMESIZE);
        return ENAMETOOLONG;
    }
    if ((p.flags & ~known_flags) != 0 || std::popcount(p.flags & ELASTIC_POOL_F_PROVIDER_MASK) > 1) {
        EP_LOG(ERR, "pool %s: bad flags 0x%x", p.name, p.flags);
        return EINVAL;
    }
    if (p.base_size == 0 || p.wall_size == 0) {
        EP_LOG(ERR, "pool %s: base and wall sizes must be > 0", p.name);
        return EINVAL;
    }
    if (p.tick_ms == 0 || p.sample_period_ms == 0 || p.idle_period_ms == 0) {
        EP_LOG(ERR, "pool %s: tick, sample and idle periods must be > 0", p.name);
        return EINVAL;
    }
    const size_t base = round_pages(p.base_size);
    if (base < p.base_size || p.wall_size < base) {
        EP_LOG(ERR, "pool %s: wall %zu is smaller than the base %zu", p.name, p.wall_size, base);
        return EINVAL;
    }
    size_t chunk = round_pages(p.chunk_size != 0 ? p.chunk_size : p.wall_size / 8);
    if (chunk == 0)
        chunk = page_size;
    // The largest chunk the pool can ever hold decides the largest class it can serve.
    const bool can_grow = p.wall_size - base >= chunk;
    const size_t largest_chunk = can_grow ? std::max(base, chunk) : base;
    size_t max_buf = p.max_buf_size;
    if (max_buf == 0) {
        max_buf = std::min(default_max_buf, floor_class(largest_chunk));
    } else if (max_buf > floor_class(largest_chunk)) {
        EP_LOG(ERR, "pool %s: max_buf_size %zu does not fit in a chunk (largest block %zu)",
               p.name, max_buf, floor_class(largest_chunk));
        return EINVAL;
    }

    provider_kind kind;
    if (p.flags & ELASTIC_POOL_F_PROVIDER_HEAP)
        kind = provider_kind::heap;
    else if (p.flags & ELASTIC_POOL_F_PROVIDER_HUGETLB)
        kind = provider_kind::hugetlb;
    else if (p.flags & ELASTIC_POOL_F_PROVIDER_MEMZONE || eal_is_up())
        kind = provider_kind::memzone;
    else
        kind = provider_kind::hugetlb;
    if (kind == provider_kind::memzone && !eal_is_up()) {
        EP_LOG(ERR, "pool %s: memzone provider needs the EAL", p.name);
        return ENOTSUP;
    }

    out.name = p.name;
    out.socket_id = p.socket_id;
    out.base_size = base;
    out.chunk_size = chunk;
    out.wall_size = p.wall_size;
    const size_t max_class = std::bit_ceil(std::max(max_buf, page_size));
    out.max_buf_size = max_class;
    out.max_order = unsigned(std::countr_zero(max_class)) - page_shift;
    out.tick_ns = uint64_t(p.tick_ms) * ns_per_ms;
    out.sample_ns = uint64_t(p.sample_period_ms) * ns_per_ms;
    out.idle_ns = uint64_t(p.idle_period_ms) * ns_per_ms;
    out.headroom = p.headroom_chunks;
    out.flags = p.flags;
    out.provider = kind;
    out.clock = p.clock != nullptr ? p.clock : policy_clock_ns;
    out.clock_ctx = p.clock_ctx;
    return 0;
}

var_pool::chunk::chunk(std::unique_ptr<chunk_memory> m, size_t sz, unsigned max_order,
                       uint64_t now)
    : mem(std::move(m)), heap(uint32_t(sz >> page_shift), max_order),
      base(uintptr_t(mem->addr())), size(sz), last_alloc_ns(now)
{
}

var_pool::var_pool(const pool_config &cfg)
    : cfg_(cfg), sampler_(cfg.sample_ns, cfg.clock(cfg.clock_ctx)),
      rule_{cfg.idle_ns, cfg.headroom}, demand_(cfg.sample_ns, cfg.clock(cfg.clock_ctx))
{
}

std::unique_ptr<var_pool> var_pool::create(const pool_config &cfg) noexcept
{
    try {
        std::unique_ptr<var_pool> p(new var_pool(cfg));
        char tag[12];
        snprintf(tag, sizeof(tag), "%u", pool_seq.fetch_add(1, std::memory_order_relaxed));
        if (cfg.gate && !cfg.gate.admit(cfg.gate.ctx, cfg.base_size)) {
            EP_LOG(ERR, "pool %s: base chunk of %zu bytes refused by the node cap",
                   cfg.name.c_str(), cfg.base_size);
            rte_errno = ENOBUFS;
            return nullptr;
        }
        try {
            auto mem = reserve_chunk(cfg.provider, cfg.base_size, cfg.socket_id, tag);
            if (!mem) {
                EP_LOG(ERR, "pool %s: base chunk of %zu bytes (%s) could not be reserved",
                       cfg.name.c_str(), cfg.base_size, provider_name(cfg.provider));
                if (cfg.gate)
                    cfg.gate.give_back(cfg.gate.ctx, cfg.base_size);
                rte_errno = ENOMEM;
                return nullptr;
            }
            p->chunks_.push_back(
                std::make_unique<chunk>(std::move(mem), cfg.base_size, cfg.max_order, p->now()));
        } catch (...) {
            if (cfg.gate) // not held by the pool: its destructor will not give it back
                cfg.gate.give_back(cfg.gate.ctx, cfg.base_size);
            throw;
        }
        p->st_.pinned_bytes = cfg.base_size;
        p->st_.peak_pinned_bytes = cfg.base_size;
        snprintf(p->tag_, sizeof(p->tag_), "%s", tag);
        EP_LOG(DEBUG, "pool %s: base %zu, chunk %zu, wall %zu, max buffer %zu, provider %s",
               cfg.name.c_str(), cfg.base_size, cfg.chunk_size, cfg.wall_size, cfg.max_buf_size,
               provider_name(cfg.provider));
        return p;
    } catch (const std::bad_alloc &) {
        rte_errno = ENOMEM;
        return nullptr;
    }
}

var_pool::~var_pool()
{
    if (cfg_.gate)
        for (const auto &c : chunks_)
            cfg_.gate.give_back(cfg_.gate.ctx, c->size);
    unsigned reported = 0;
    uint64_t out = 0;
    for (const auto &c : chunks_) {
        for (uint32_t pg = 0; pg < c->heap.pages(); pg++) {
            int order = c->heap.allocated_order(pg);
            if (order < 0)
                continue;
            out++;
            if (reported++ < 16)
                EP_LOG(WARNING, "pool %s destroyed with buffer %p (%zu bytes) still out",
                       cfg_.name.c_str(), reinterpret_cast<void *>(c->base + (size_t(pg) << page_shift)),
                       page_size << order);
        }
    }
    if (out > 0)
        EP_LOG(WARNING, "pool %s destroyed with %" PRIu64 " buffers still out", cfg_.name.c_str(),
               out);
    if (!waiters_.empty())
        EP_LOG(WARNING, "pool %s destroyed with %zu requests waiting (dropped)", cfg_.name.c_str(),
               waiters_.size());
}

int var_pool::order_of(size_t size) const noexcept
{
    if (size == 0 || size > cfg_.max_buf_size)
        return -1;
    size_t cls = std::bit_ceil(std::max(size, page_size));
    return std::countr_zero(cls) - int(page_shift);
}

void *var_pool::take(unsigned order, uint64_t t) noexcept
{
    for (auto &cp : chunks_) {
        chunk &c = *cp;
        if (!c.heap.can_alloc(order))
            continue;
        int64_t pg = c.heap.alloc(order);
        if (pg < 0)
            continue;
        c.in_use++;
        c.last_alloc_ns = t;
        st_.in_use_bytes += page_size << order;
        st_.peak_in_use_bytes = std::max(st_.peak_in_use_bytes, st_.in_use_bytes);
        peak_demand_bytes_ = std::max(peak_demand_bytes_, st_.in_use_bytes);
        st_.nb_allocs++;
        demand_.observe(st_.in_use_bytes);
        return reinterpret_cast<void *>(c.base + (size_t(pg) << page_shift));
    }
    return nullptr;
}

bool var_pool::grow(uint64_t t, bool ahead) noexcept
{
    const uint64_t t0 = monotonic_ns();
    char tag[24];
    snprintf(tag, sizeof(tag), "%s_%u", tag_, grow_seq_++);
    if (cfg_.gate && !cfg_.gate.admit(cfg_.gate.ctx, cfg_.chunk_size)) {
        st_.nb_cap_hits++;
        st_.last_limit = ELASTIC_LIMIT_NODE_CAP;
        rte_errno = ENOBUFS; // the node cap: like the wall
        return false;
    }
    bool ok = false;
    if (auto mem = reserve_chunk(cfg_.provider, cfg_.chunk_size, cfg_.socket_id, tag)) {
        try {
            chunks_.push_back(std::make_unique<chunk>(std::move(mem), cfg_.chunk_size,
                                                      cfg_.max_order, t));
            ok = true;
        } catch (const std::bad_alloc &) {
        }
    }
    st_.grow_ns_total += monotonic_ns() - t0;
    if (!ok) {
        if (cfg_.gate)
            cfg_.gate.give_back(cfg_.gate.ctx, cfg_.chunk_size);
        rte_errno = ENOMEM;
        st_.nb_grow_fail++;
        st_.last_limit = ELASTIC_LIMIT_PROVIDER;
        // Ticks retry a refused growth for waiters: one line per streak of failures (and one
        // every 1024), not one per tick.
        if (grow_fail_streak_++ % 1024 == 0)
            EP_LOG(WARNING, "pool %s: growth by %zu bytes failed (%u chunks held, %u in a row)",
                   cfg_.name.c_str(), cfg_.chunk_size, unsigned(chunks_.size()),
                   grow_fail_streak_);
        return false;
    }
    grow_fail_streak_ = 0;
    st_.nb_grows++;
    if (ahead)
        st_.nb_grows_ahead++;
    if (cfg_.flags & ELASTIC_POOL_F_ADAPTIVE)
        adapt_.on_grow(t, cfg_.idle_ns);
    st_.pinned_bytes += cfg_.chunk_size;
    st_.peak_pinned_bytes = std::max(st_.peak_pinned_bytes, st_.pinned_bytes);
    return true;
}

void *var_pool::take_or_grow(unsigned order, uint64_t t) noexcept
{
    if (void *p = take(order, t))
        return p;
    const bool fits_chunk = (page_size << order) <= cfg_.chunk_size;
    if (!fits_chunk || st_.pinned_bytes + cfg_.chunk_size > cfg_.wall_size) {
        st_.nb_wall_hits++;
        st_.last_limit = ELASTIC_LIMIT_WALL;
        rte_errno = ENOBUFS; // at the wall
        return nullptr;
    }
    if (!grow(t, false))
        return nullptr; // rte_errno: ENOBUFS (node cap) or ENOMEM (provider)
    return take(order, t);
}

var_pool::chunk *var_pool::find(const void *p) const noexcept
{
    const uintptr_t a = uintptr_t(p);
    for (const auto &c : chunks_)
        if (a >= c->base && a - c->base < c->size)
            return c.get();
    return nullptr;
}

void *var_pool::alloc(size_t size) noexcept
{
    const int order = order_of(size);
    if (order < 0) {
        EP_LOG(ERR, "pool %s: bad buffer size %zu (1..%zu)", cfg_.name.c_str(), size,
               cfg_.max_buf_size);
        rte_errno = EINVAL;
        return nullptr;
    }
    std::lock_guard lk(mu_);
    void *p = nullptr;
    if (waiters_.empty())
        p = take_or_grow(unsigned(order), now());
    else
        rte_errno = ENOBUFS; // nobody overtakes a waiter
    if (p == nullptr)
        st_.nb_alloc_fail++;
    return p;
}

int var_pool::alloc_async(size_t size, elastic_buf_cb_t *cb, void *arg) noexcept
{
    const int order = order_of(size);
    if (order < 0 || cb == nullptr) {
        EP_LOG(ERR, "pool %s: bad async request (size %zu, callback %p)", cfg_.name.c_str(), size,
               reinterpret_cast<void *>(cb));
        rte_errno = EINVAL;
        return -EINVAL;
    }
    void *p = nullptr;
    {
        std::lock_guard lk(mu_);
        for (const waiter &w : waiters_) {
            if (w.cb == cb && w.arg == arg) {
                EP_LOG(ERR, "pool %s: request (%p, %p) is already waiting", cfg_.name.c_str(),
                       reinterpret_cast<void *>(cb), arg);
                rte_errno = EEXIST;
                return -EEXIST;
            }
        }
        if (waiters_.empty())
            p = take_or_grow(unsigned(order), now());
        if (p == nullptr) {
            try {
                waiters_.push_back(waiter{unsigned(order), cb, arg});
            } catch (const std::bad_alloc &) {
                st_.nb_alloc_fail++;
                rte_errno = ENOMEM;
                return -ENOMEM;
            }
            st_.nb_queued++;
            // Demand includes what waits: at the wall, in use alone would under-report it.
            waiting_bytes_ += page_size << order;
            peak_demand_bytes_ = std::max(peak_demand_bytes_, st_.in_use_bytes + waiting_bytes_);
            return 0;
        }
    }
    cb(handle(), p, arg);
    return 0;
}

int var_pool::cancel(elastic_buf_cb_t *cb, void *arg) noexcept
{
    served_list served_now;
    {
        std::lock_guard lk(mu_);
        auto it = std::find_if(waiters_.begin(), waiters_.end(),
                               [&](const waiter &w) { return w.cb == cb && w.arg == arg; });
        if (it == waiters_.end()) {
            rte_errno = ENOENT;
            return -ENOENT;
        }
        const bool was_head = it == waiters_.begin();
        waiting_bytes_ -= page_size << it->order;
        waiters_.erase(it);
        // The one behind a cancelled head may fit now: serve it rather than strand it until
        // the next free.
        if (was_head)
            serve_waiters(served_now, true);
    }
    run_callbacks(handle(), served_now);
    return 0;
}

namespace {
struct sync_waiter {
    std::mutex m;
    std::condition_variable cv;
    void *buf = nullptr;
    bool done = false;
};

void sync_waiter_cb(elastic_pool *, void *buf, void *arg)
{
    auto *w = static_cast<sync_waiter *>(arg);
    std::lock_guard lk(w->m);
    w->buf = buf;
    w->done = true;
    w->cv.notify_all();
}
} // namespace

void *var_pool::alloc_timeout(size_t size, uint32_t timeout_ms) noexcept
{
    sync_waiter w;
    int rc = alloc_async(size, sync_waiter_cb, &w);
    if (rc < 0)
        return nullptr;
    std::unique_lock lk(w.m);
    if (w.cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] { return w.done; }))
        return w.buf;
    lk.unlock();
    if (cancel(sync_waiter_cb, &w) == 0) {
        std::lock_guard g(mu_);
        st_.nb_alloc_fail++;
        rte_errno = ETIMEDOUT;
        return nullptr;
    }
    // Served while we gave up: its callback has run or is running; take the buffer.
    lk.lock();
    w.cv.wait(lk, [&] { return w.done; });
    return w.buf;
}

void var_pool::serve_waiters(served_list &out, bool may_grow) noexcept
{
    const uint64_t t = waiters_.empty() ? 0 : now();
    while (!waiters_.empty()) {
        const waiter &w = waiters_.front();
        void *p = may_grow ? take_or_grow(w.order, t) : take(w.order, t);
        if (p == nullptr)
            break;
        try {
            out.push_back(served{w.cb, w.arg, p});
        } catch (const std::bad_alloc &) {
            // Cannot record it: give the block back and leave the waiter queued.
            chunk *c = find(p);
            c->heap.free(uint32_t((uintptr_t(p) - c->base) >> page_shift));
            c->in_use--;
            st_.in_use_bytes -= page_size << w.order;
            st_.nb_allocs--;
            break;
        }
        waiting_bytes_ -= page_size << w.order;
        waiters_.pop_front();
    }
}

void var_pool::run_callbacks(elastic_pool *h, const served_list &s) noexcept
{
    for (const served &x : s)
        x.cb(h, x.buf, x.arg);
}

int var_pool::free(void *buf) noexcept
{
    served_list served_now;
    {
        std::lock_guard lk(mu_);
        chunk *c = find(buf);
        const uintptr_t off = c != nullptr ? uintptr_t(buf) - c->base : 0;
        int order = -1;
        if (c != nullptr && (off & (page_size - 1)) == 0)
            order = c->heap.free(uint32_t(off >> page_shift));
        if (order < 0) {
            EP_LOG(ERR, "pool %s: free of %p, which is not a buffer handed out (%s)",
                   cfg_.name.c_str(), buf, c == nullptr ? "outside every chunk"
                                                        : "interior pointer or already freed");
            rte_errno = EINVAL;
            return -EINVAL;
        }
        c->in_use--;
        st_.in_use_bytes -= page_size << order;
        st_.nb_frees++;
        if (!waiters_.empty()) {
            try {
                served_now.reserve(4);
            } catch (const std::bad_alloc &) {
            }
            serve_waiters(served_now, true);
        }
    }
    run_callbacks(handle(), served_now);
    return 0;
}

size_t var_pool::buf_size(const void *buf) const noexcept
{
    std::lock_guard lk(mu_);
    const chunk *c = find(buf);
    const uintptr_t off = c != nullptr ? uintptr_t(buf) - c->base : 0;
    int order = -1;
    if (c != nullptr && (off & (page_size - 1)) == 0)
        order = c->heap.allocated_order(uint32_t(off >> page_shift));
    if (order < 0) {
        rte_errno = EINVAL;
        return 0;
    }
    return page_size << order;
}

rte_iova_t var_pool::buf_iova(const void *buf) const noexcept
{
    std::lock_guard lk(mu_);
    const chunk *c = find(buf);
    unsigned order;
    if (c == nullptr ||
        c->heap.containing_block(uint32_t((uintptr_t(buf) - c->base) >> page_shift), &order) < 0) {
        rte_errno = EINVAL;
        return RTE_BAD_IOVA;
    }
    rte_iova_t iova = c->mem->iova(buf);
    if (iova == RTE_BAD_IOVA)
        rte_errno = ENOTSUP;
    return iova;
}

bool var_pool::patent_allows(uint64_t t) const noexcept
{
    std::vector<chunk_activity> act;
    try {
        act.reserve(chunks_.size());
    } catch (const std::bad_alloc &) {
        return false;
    }
    for (const auto &c : chunks_)
        act.push_back(chunk_activity{c->in_use, c->last_alloc_ns});
    return rule_.may_release_last(act, t);
}

bool var_pool::adaptive_allows(uint64_t t) const noexcept
{
    // The last chunk must be empty, have served nothing for a sample period (so a chunk grown
    // ahead of need is not given back at once), and be surplus to the demand of the hold window.
    const chunk &last = *chunks_.back();
    if (last.in_use != 0 || t < last.last_alloc_ns || t - last.last_alloc_ns < cfg_.sample_ns)
        return false;
    const uint64_t hold = adapt_.hold_ns(cfg_.idle_ns);
    const uint64_t need = demand_.decayed_peak_within(hold) + demand_.max_rise_within(hold);
    // Hysteresis: keep the free room that would make the tick grow ahead again at once.
    return adaptive_state::surplus(st_.pinned_bytes, last.size, need + hysteresis_bytes());
}

std::unique_ptr<var_pool::chunk> var_pool::release_one(uint64_t t) noexcept
{
    if (chunks_.size() < 2 || !waiters_.empty() || (cfg_.flags & ELASTIC_POOL_F_NO_SHRINK))
        return nullptr;
    const bool adaptive = cfg_.flags & ELASTIC_POOL_F_ADAPTIVE;
    if (!(adaptive ? adaptive_allows(t) : patent_allows(t)))
        return nullptr;
    std::unique_ptr<chunk> c = std::move(chunks_.back());
    chunks_.pop_back();
    st_.nb_shrinks++;
    st_.pinned_bytes -= c->size;
    if (cfg_.gate)
        cfg_.gate.give_back(cfg_.gate.ctx, c->size);
    if (adaptive)
        adapt_.on_release(t);
    return c;
}

// Margins in bytes of the adaptive rule, from the largest request rather than from the chunk
// size alone, so that they stay right when chunks are large.
uint64_t var_pool::hysteresis_bytes() const noexcept
{
    return std::min<uint64_t>(cfg_.chunk_size / 2, 4 * uint64_t(cfg_.max_buf_size));
}

uint64_t var_pool::rise_floor_bytes() const noexcept
{
    return std::min<uint64_t>(cfg_.chunk_size / 3, 2 * uint64_t(cfg_.max_buf_size));
}

void var_pool::grow_ahead(uint64_t t) noexcept
{
    const uint64_t in_use = st_.in_use_bytes;
    const uint64_t rise = in_use > adapt_.last_tick_in_use ? in_use - adapt_.last_tick_in_use : 0;
    adapt_.last_tick_in_use = in_use;
    demand_.observe_rise(rise);
    // Only while demand climbs: it rose since the last tick. (Not "at its peak": buffers freed
    // between ticks keep in use a little under the running peak even on a steep ramp.)
    if (!waiters_.empty() || rise == 0)
        return;
    const uint64_t expect = std::max({rise, demand_.max_rise_within(cfg_.idle_ns) / 2,
                                      rise_floor_bytes()});
    while (st_.pinned_bytes + cfg_.chunk_size <= cfg_.wall_size &&
           adaptive_state::short_of(st_.pinned_bytes, in_use, expect))
        if (!grow(t, true))
            break;
}

int var_pool::maintain() noexcept
{
    served_list served_now;
    std::unique_ptr<chunk> released;
    std::vector<std::unique_ptr<chunk>> surplus;
    {
        std::lock_guard lk(mu_);
        const uint64_t t = now();
        const bool due = sampler_.due(t);
        // Waiters below the wall wait for a growth the provider refused: retry it.
        if (!waiters_.empty())
            serve_waiters(served_now, true);
        demand_.roll(t, st_.in_use_bytes);
        const bool adaptive = cfg_.flags & ELASTIC_POOL_F_ADAPTIVE;
        if (adaptive)
            grow_ahead(t);
        if (due) {
            st_.nb_samples++;
            if (adaptive) {
                // Every surplus chunk goes at once; their memory is given back below.
                adapt_.settle(t, cfg_.idle_ns);
                while (auto c = release_one(t)) {
                    try {
                        surplus.push_back(std::move(c));
                    } catch (const std::bad_alloc &) {
                        break;
                    }
                }
            } else {
                released = release_one(t);
            }
        }
    }
    run_callbacks(handle(), served_now);
    // The chunks' memory goes back here, outside the lock.
    return released ? 1 : int(surplus.size());
}

int var_pool::trim() noexcept
{
    std::vector<std::unique_ptr<chunk>> released;
    {
        std::lock_guard lk(mu_);
        const uint64_t t = now();
        demand_.roll(t, st_.in_use_bytes);
        while (auto c = release_one(t)) {
            try {
                released.push_back(std::move(c));
            } catch (const std::bad_alloc &) {
                break; // c is destroyed here, under the lock: rare and still correct
            }
        }
    }
    return int(released.size());
}

void var_pool::stats(elastic_pool_stats &st) const noexcept
{
    std::lock_guard lk(mu_);
    st = st_;
    st.nb_chunks = uint32_t(chunks_.size());
    st.nb_waiters = uint32_t(waiters_.size());
    st.base_size = cfg_.base_size;
    st.chunk_size = cfg_.chunk_size;
    st.wall_size = cfg_.wall_size;
    st.max_buf_size = cfg_.max_buf_size;
}

void var_pool::sizing(elastic_pool_sizing &sz) const noexcept
{
    std::lock_guard lk(mu_);
    constexpr uint64_t huge = uint64_t(2) << 20;
    auto round_up = [](uint64_t v, uint64_t to) { return (v + to - 1) / to * to; };
    sz = elastic_pool_sizing{};
    sz.peak_in_use_bytes = st_.peak_in_use_bytes;
    sz.peak_demand_bytes = peak_demand_bytes_;
    sz.window_peak_bytes = demand_.peak_within(cfg_.idle_ns);
    sz.floor_demand_bytes = demand_.floor_demand();
    sz.epochs = uint32_t(demand_.closed_epochs());
    // Base: the demand that was always there; wall: the peak demand (queued requests included)
    // with a quarter of margin, in whole chunks above the base.
    sz.recommended_base = std::max<uint64_t>(round_up(sz.floor_demand_bytes, huge), huge);
    const uint64_t want = peak_demand_bytes_ + peak_demand_bytes_ / 4;
    sz.recommended_wall = want <= sz.recommended_base
                              ? sz.recommended_base
                              : sz.recommended_base +
                                    round_up(want - sz.recommended_base, cfg_.chunk_size);
    // A static deployment pins the wall for its whole life.
    sz.static_bytes = round_up(sz.recommended_wall, huge);
    sz.hugepages_2m = uint32_t(sz.static_bytes / huge);
    sz.socket_mem_mb = uint32_t(round_up(sz.static_bytes, uint64_t(1) << 20) >> 20);
}

} // namespace elastic::detail
