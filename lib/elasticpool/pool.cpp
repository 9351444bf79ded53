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

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memory.h>

#include "budget.hpp"
#include "clock.hpp"
#include "log.hpp"

namespace elastic::detail {

namespace {

constexpr size_t default_max_buf = size_t(1) << 20;
constexpr uint32_t known_flags = ELASTIC_POOL_F_NO_SHRINK | ELASTIC_POOL_F_ADAPTIVE |
                               ELASTIC_POOL_F_BREAKEVEN |
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
    if (!name_chars_valid(p.name)) {
        EP_LOG(ERR, "pool create: the name has bytes outside printable ASCII, '\"' or '\\'");
        return EINVAL;
    }
    if (!socket_id_valid(p.socket_id)) {
        EP_LOG(ERR, "pool %s: no socket %d", p.name, p.socket_id);
        return EINVAL;
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

    // Every chunk must fit ELASTIC_POOL_MAX_CHUNK_SIZE before any rounding (rounding a size near
    // SIZE_MAX up to a page wrapped it to a tiny chunk; a base near SIZE_MAX reached the provider
    // and came back ENOMEM). The buddy heaps count pages in 32 bits: 2^40 bytes fit.
    const size_t chunk_asked = p.chunk_size != 0 ? p.chunk_size : p.wall_size / 8;
    if (p.base_size > ELASTIC_POOL_MAX_CHUNK_SIZE || chunk_asked > ELASTIC_POOL_MAX_CHUNK_SIZE) {
        EP_LOG(ERR, "pool %s: base %zu or chunk %zu%s above ELASTIC_POOL_MAX_CHUNK_SIZE", p.name,
               p.base_size, chunk_asked, p.chunk_size != 0 ? "" : " (wall / 8)");
        return EINVAL;
    }
    // The hugetlb provider maps whole hugepages: base and chunks are whole hugepages, so that
    // pinned_bytes is what it maps (with or without hugepages: the fallback maps the same size).
    const size_t huge = kind == provider_kind::hugetlb ? hugetlb_page_size() : page_size;
    auto round_huge = [huge](size_t n) { return (n + huge - 1) / huge * huge; };
    const size_t base = round_huge(round_pages(p.base_size));
    if (p.wall_size < base) {
        EP_LOG(ERR, "pool %s: wall %zu is smaller than the base %zu", p.name, p.wall_size, base);
        return EINVAL;
    }
    size_t chunk = round_huge(round_pages(chunk_asked));
    if (chunk == 0)
        chunk = huge;
    // Largest buffer a chunk of n bytes holds. A memzone chunk of whole hugepages loses its
    // first 4 KiB to the memzone's malloc header (provider.hpp): its largest naturally aligned
    // block is then half of a power-of-two chunk.
    const size_t mz_pg = kind == provider_kind::memzone ? memzone_page_size() : 0;
    auto largest_class = [mz_pg](size_t n) -> size_t {
        if (mz_pg == 0 || n % mz_pg != 0)
            return floor_class(n);
        return size_t(buddy_heap::largest_block(uint32_t(n >> page_shift), max_orders - 1,
                                                uint32_t(memzone_head >> page_shift)))
               << page_shift;
    };
    // The largest chunk the pool can ever hold decides the largest class it can serve.
    const bool can_grow = p.wall_size - base >= chunk;
    const size_t largest = can_grow ? std::max(largest_class(base), largest_class(chunk))
                                    : largest_class(base);
    size_t max_buf = p.max_buf_size;
    if (max_buf == 0) {
        max_buf = std::min(default_max_buf, largest);
    } else if (max_buf > largest) {
        EP_LOG(ERR, "pool %s: max_buf_size %zu does not fit in a chunk (largest block %zu)",
               p.name, max_buf, largest);
        return EINVAL;
    }

    out.name = p.name;
    out.socket_id = p.socket_id;
    out.base_size = base;
    out.chunk_size = chunk;
    out.wall_size = p.wall_size;
    out.chunk_class = largest_class(chunk);
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
    out.hook = p.chunk_hook;
    out.hook_arg = p.chunk_hook_arg;
    return 0;
}

var_pool::chunk::chunk(std::unique_ptr<chunk_memory> m, size_t sz, unsigned max_order)
    : mem(std::move(m)),
      heap(uint32_t(sz >> page_shift), max_order, uint32_t(mem->head() >> page_shift)),
      base(uintptr_t(mem->addr())), size(sz)
{
}

namespace {

ledger_config ledger_config_of(const pool_config &cfg) noexcept
{
    ledger_config lc{};
    lc.wall_units = cfg.wall_size; // units are bytes of chunk
    lc.wall_bytes = cfg.wall_size;
    lc.base_bytes = cfg.base_size;
    lc.chunk_bytes = cfg.chunk_size;
    lc.margin_bytes = cfg.max_buf_size;
    lc.unit_bytes = 1;
    lc.low_wm_units = 0;
    lc.sample_ns = cfg.sample_ns;
    lc.idle_ns = cfg.idle_ns;
    lc.headroom = cfg.headroom;
    const uint64_t grown = (cfg.wall_size - cfg.base_size) / cfg.chunk_size;
    lc.max_chunks = uint32_t(std::min<uint64_t>(1 + grown, UINT32_MAX));
    lc.no_shrink = cfg.flags & ELASTIC_POOL_F_NO_SHRINK;
    lc.adaptive = cfg.flags & ELASTIC_POOL_F_ADAPTIVE;
    lc.breakeven = cfg.flags & ELASTIC_POOL_F_BREAKEVEN;
    lc.node = node_budget_resolve(cfg.socket_id);
    return lc;
}

} // namespace

// What the ledger asks of this face; made for one tick or trim under mu_. Chunks unlinked go to
// `out`, whose destruction (after mu_ is dropped) gives their memory back.
class var_pool::face final : public ledger_face {
public:
    face(var_pool &p, chunk_list &out, uint64_t now) noexcept : p_(p), out_(out), now_(now) {}

    uint64_t chunk_in_use(uint32_t i) noexcept override { return p_.chunks_[i]->in_use; }
    uint64_t free_units() noexcept override { return free_bytes(p_.chunks_.size()); }
    uint64_t free_units_outside_last() noexcept override
    {
        return free_bytes(p_.chunks_.size() - 1);
    }
    uint64_t in_use_bytes() noexcept override { return p_.in_use_bytes_; }
    bool has_waiters() noexcept override { return !p_.waiters_.empty(); }
    bool grow_ahead() noexcept override
    {
        return p_.ledger_.below_wall(p_.cfg_.chunk_size) && p_.grow(now_, grow_kind::ahead);
    }
    bool unlink_last() noexcept override
    {
        if (p_.chunks_.size() < 2)
            return false;
        p_.call_hook(ELASTIC_CHUNK_EV_RELEASE, *p_.chunks_.back(),
                     uint32_t(p_.chunks_.size() - 1));
        try {
            out_.push_back(std::move(p_.chunks_.back()));
        } catch (const std::bad_alloc &) {
            return false;
        }
        p_.chunks_.pop_back();
        p_.retiring_ = false;
        return true;
    }
    void set_retiring(bool on) noexcept override { p_.retiring_ = on; }
    bool retiring() noexcept override { return p_.retiring_; }

private:
    uint64_t free_bytes(size_t n) const noexcept
    {
        uint64_t b = 0;
        for (size_t i = 0; i < n; i++)
            if (!(p_.retiring_ && i + 1 == p_.chunks_.size()))
                b += uint64_t(p_.chunks_[i]->heap.free_pages()) << page_shift;
        return b;
    }

    var_pool &p_;
    chunk_list &out_;
    uint64_t now_;
};

var_pool::var_pool(const pool_config &cfg, uint64_t t)
    : cfg_(cfg), recs_(4), ledger_(ledger_config_of(cfg), recs_.data(), t)
{
}

std::unique_ptr<var_pool> var_pool::create(const pool_config &cfg) noexcept
{
    try {
        std::unique_ptr<var_pool> p(new var_pool(cfg, cfg.clock(cfg.clock_ctx)));
        char tag[12];
        snprintf(tag, sizeof(tag), "%u", pool_seq.fetch_add(1, std::memory_order_relaxed));
        if (!p->ledger_.admit_base(cfg.base_size)) {
            EP_LOG(ERR, "pool %s: base chunk of %zu bytes refused by the node budget",
                   cfg.name.c_str(), cfg.base_size);
            rte_errno = ENOBUFS;
            return nullptr;
        }
        std::unique_ptr<chunk_memory> mem;
        try {
            mem = reserve_chunk(cfg.provider, cfg.base_size, cfg.socket_id, tag);
            if (mem)
                p->chunks_.push_back(
                    std::make_unique<chunk>(std::move(mem), cfg.base_size, cfg.max_order));
        } catch (const std::bad_alloc &) {
        }
        if (p->chunks_.empty()) {
            EP_LOG(ERR, "pool %s: base chunk of %zu bytes (%s) could not be reserved",
                   cfg.name.c_str(), cfg.base_size, provider_name(cfg.provider));
            p->ledger_.grow_failed(cfg.base_size, 0);
            rte_errno = ENOMEM;
            return nullptr;
        }
        if (const int veto = p->call_hook(ELASTIC_CHUNK_EV_ADD, *p->chunks_[0], 0)) {
            EP_LOG(ERR, "pool %s: the chunk hook refused the base (%d)", cfg.name.c_str(), veto);
            p->chunks_.clear();
            p->ledger_.grow_vetoed(cfg.base_size, 0);
            rte_errno = veto < 0 ? -veto : EPERM;
            return nullptr;
        }
        p->ledger_.add(cfg.base_size, cfg.base_size, p->now(), grow_kind::base, 0);
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

int var_pool::call_hook(elastic_chunk_event ev, const chunk &c, uint32_t idx) noexcept
{
    if (cfg_.hook == nullptr)
        return 0;
    elastic_chunk_info info{};
    // The usable part: past the memzone's malloc header page when there is one.
    info.addr = static_cast<char *>(c.mem->addr()) + c.mem->head();
    info.len = c.mem->size() - c.mem->head();
    info.iova = c.mem->iova(info.addr);
    const size_t mz_pg = cfg_.provider == provider_kind::memzone ? memzone_page_size() : 0;
    info.page_size = mz_pg != 0 ? mz_pg : page_size;
    info.pinned_bytes = c.size;
    info.index = idx;
    info.socket_id = cfg_.socket_id;
    info.mz = nullptr;
    int ret;
    try {
        ret = cfg_.hook(handle(), ev, &info, cfg_.hook_arg);
    } catch (...) {
        ret = -EFAULT;
    }
    return ev == ELASTIC_CHUNK_EV_ADD ? ret : 0;
}

var_pool::~var_pool()
{
    for (size_t i = chunks_.size(); i-- > 0;)
        call_hook(ELASTIC_CHUNK_EV_RELEASE, *chunks_[i], uint32_t(i));
    ledger_.give_back_all();
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
    const size_t usable = chunks_.size() - (retiring_ ? 1 : 0);
    for (size_t i = 0; i < usable; i++) {
        chunk &c = *chunks_[i];
        if (!c.heap.can_alloc(order))
            continue;
        int64_t pg = c.heap.alloc(order);
        if (pg < 0)
            continue;
        c.in_use++;
        ledger_.note_alloc(uint32_t(i), t);
        ledger_.note_request(page_size << order);
        in_use_bytes_ += page_size << order;
        nb_allocs_++;
        ledger_.observe(in_use_bytes_);
        return reinterpret_cast<void *>(c.base + (size_t(pg) << page_shift));
    }
    return nullptr;
}

bool var_pool::grow(uint64_t t, grow_kind kind) noexcept
{
    const uint64_t t0 = monotonic_ns();
    try {
        if (recs_.size() <= ledger_.chunks()) {
            recs_.resize(std::max<size_t>(2 * recs_.size(), ledger_.chunks() + 1));
            ledger_.rebind(recs_.data());
        }
    } catch (const std::bad_alloc &) {
        rte_errno = ENOMEM;
        return false;
    }
    if (!ledger_.admit(cfg_.chunk_size, cfg_.chunk_size))
        return false; // rte_errno ENOBUFS: the wall or the node budget
    char tag[24];
    snprintf(tag, sizeof(tag), "%s_%u", tag_, grow_seq_++);
    bool ok = false;
    if (auto mem = reserve_chunk(cfg_.provider, cfg_.chunk_size, cfg_.socket_id, tag)) {
        try {
            chunks_.push_back(std::make_unique<chunk>(std::move(mem), cfg_.chunk_size,
                                                      cfg_.max_order));
            ok = true;
        } catch (const std::bad_alloc &) {
        }
    }
    if (ok) {
        if (const int veto = call_hook(ELASTIC_CHUNK_EV_ADD, *chunks_.back(),
                                       uint32_t(chunks_.size() - 1))) {
            chunks_.pop_back(); // its memory goes back now
            ledger_.grow_vetoed(cfg_.chunk_size, monotonic_ns() - t0);
            rte_errno = veto < 0 ? -veto : EPERM;
            return false;
        }
    }
    if (!ok) {
        const uint32_t streak = ledger_.grow_failed(cfg_.chunk_size, monotonic_ns() - t0);
        rte_errno = ENOMEM;
        // Ticks retry a refused growth for waiters: one line per streak of failures (and one
        // every 1024), not one per tick.
        if ((streak - 1) % 1024 == 0)
            EP_LOG(WARNING, "pool %s: growth by %zu bytes failed (%u chunks held, %u in a row)",
                   cfg_.name.c_str(), cfg_.chunk_size, unsigned(chunks_.size()), streak);
        return false;
    }
    ledger_.add(cfg_.chunk_size, cfg_.chunk_size, t, kind, monotonic_ns() - t0);
    return true;
}

void *var_pool::take_or_grow(unsigned order, uint64_t t) noexcept
{
    if (void *p = take(order, t))
        return p;
    if (retiring_) { // demand is back: the retiring chunk serves again before any growth
        retiring_ = false;
        if (void *p = take(order, t))
            return p;
    }
    if ((page_size << order) > cfg_.chunk_class) {
        ledger_.refuse_wall(); // no chunk that could be added would hold it
        return nullptr;
    }
    if (!grow(t, grow_kind::datapath))
        return nullptr; // rte_errno: ENOBUFS (wall, node budget) or ENOMEM (provider)
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
        nb_alloc_fail_++;
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
        if (p == nullptr && !growth_can_serve(unsigned(order))) {
            // Only the base could ever hold it, and not now: queued, it could wait for ever and
            // hold up every request behind it. Refused instead (the pool can grow, so every
            // queued request is one some growth or free will serve).
            nb_alloc_fail_++;
            EP_LOG(DEBUG, "pool %s: request of %zu bytes refused: larger than a chunk (%zu) "
                   "and the base has no room for it now", cfg_.name.c_str(), size,
                   cfg_.chunk_size);
            rte_errno = ENOBUFS;
            return -ENOBUFS;
        }
        if (p == nullptr) {
            try {
                waiters_.push_back(waiter{unsigned(order), cb, arg});
            } catch (const std::bad_alloc &) {
                nb_alloc_fail_++;
                rte_errno = ENOMEM;
                return -ENOMEM;
            }
            nb_queued_++;
            // Demand includes what waits: at the wall, in use alone would under-report it.
            waiting_bytes_ += page_size << order;
            ledger_.observe(in_use_bytes_, waiting_bytes_);
            return 0;
        }
        users_++;
    }
    run_callbacks_and_release(served_list{served{cb, arg, p}});
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
        if (served_now.empty())
            return 0;
        users_++;
    }
    run_callbacks_and_release(served_now);
    return 0;
}

namespace {
struct sync_waiter {
    std::mutex m;
    std::condition_variable cv;
    void *buf = nullptr;
    bool done = false;
    bool cancelled = false; // the pool was destroyed while it waited
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
    {
        std::lock_guard g(mu_);
        users_++; // destroy() waits for this call to leave
    }
    struct holder {
        var_pool *p;
        ~holder() { p->release(); }
    } hold{this};
    sync_waiter w;
    int rc = alloc_async(size, sync_waiter_cb, &w);
    if (rc < 0)
        return nullptr;
    std::unique_lock lk(w.m);
    if (!w.cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] { return w.done; })) {
        lk.unlock();
        if (cancel(sync_waiter_cb, &w) == 0) {
            std::lock_guard g(mu_);
            nb_alloc_fail_++;
            rte_errno = ETIMEDOUT;
            return nullptr;
        }
        // Served while we gave up (its callback has run or is running: take the buffer), or
        // cancelled by destroy().
        lk.lock();
        w.cv.wait(lk, [&] { return w.done; });
    }
    if (w.cancelled) {
        rte_errno = ECANCELED;
        return nullptr;
    }
    return w.buf;
}

bool var_pool::growth_can_serve(unsigned order) const noexcept
{
    const bool can_grow = cfg_.wall_size - cfg_.base_size >= cfg_.chunk_size;
    return !can_grow || (page_size << order) <= cfg_.chunk_size;
}

namespace {
// The pools whose callbacks this thread is running (innermost first): destroy() from one of
// them must not wait for itself.
struct cb_frame {
    const var_pool *pool;
    const cb_frame *up;
};
thread_local const cb_frame *cb_top = nullptr;

bool in_callback_of(const var_pool *p) noexcept
{
    for (const cb_frame *f = cb_top; f != nullptr; f = f->up)
        if (f->pool == p)
            return true;
    return false;
}
} // namespace

void var_pool::run_callbacks_and_release(const served_list &s) noexcept
{
    const cb_frame frame{this, cb_top};
    cb_top = &frame;
    size_t i = 0;
    for (; i < s.size() && !dying_.load(std::memory_order_acquire); i++)
        s[i].cb(handle(), s[i].buf, s[i].arg);
    cb_top = frame.up;
    if (i < s.size())
        EP_LOG(WARNING, "pool %s destroyed by a callback: %zu served requests not called back",
               cfg_.name.c_str(), s.size() - i);
    release();
}

void var_pool::release() noexcept
{
    std::unique_lock lk(mu_);
    if (--users_ != 0 || !dying_.load(std::memory_order_relaxed))
        return;
    if (delete_by_last_) {
        lk.unlock();
        delete this;
        return;
    }
    users_cv_.notify_all(); // destroy() deletes once it has the lock (after this unlock)
}

void var_pool::destroy() noexcept
{
    std::unique_lock lk(mu_);
    dying_.store(true, std::memory_order_release);
    size_t dropped = 0;
    for (const waiter &w : waiters_) {
        if (w.cb == sync_waiter_cb) {
            auto *sw = static_cast<sync_waiter *>(w.arg);
            std::lock_guard g(sw->m);
            sw->done = true;
            sw->cancelled = true;
            sw->cv.notify_all();
        } else {
            dropped++;
        }
    }
    if (dropped > 0)
        EP_LOG(WARNING, "pool %s destroyed with %zu requests waiting (dropped, not called back)",
               cfg_.name.c_str(), dropped);
    waiters_.clear();
    waiting_bytes_ = 0;
    if (users_ != 0) {
        if (in_callback_of(this)) {
            delete_by_last_ = true; // this thread is one of the users: it cannot wait for itself
            return;
        }
        users_cv_.wait(lk, [&] { return users_ == 0; });
    }
    lk.unlock();
    delete this;
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
            in_use_bytes_ -= page_size << w.order;
            nb_allocs_--;
            break;
        }
        waiting_bytes_ -= page_size << w.order;
        waiters_.pop_front();
    }
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
        in_use_bytes_ -= page_size << order;
        nb_frees_++;
        if (!waiters_.empty()) {
            try {
                served_now.reserve(4);
            } catch (const std::bad_alloc &) {
            }
            serve_waiters(served_now, true);
        }
        if (served_now.empty())
            return 0;
        users_++;
    }
    run_callbacks_and_release(served_now);
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

int var_pool::maintain() noexcept
{
    served_list served_now;
    chunk_list released; // destroyed last: the chunks' memory goes back outside the lock
    int n;
    {
        std::lock_guard lk(mu_);
        const uint64_t t = now();
        // Waiters below the wall wait for a growth the provider refused: retry it.
        if (!waiters_.empty())
            serve_waiters(served_now, true);
        face f(*this, released, t);
        n = ledger_.tick(t, f);
        if (served_now.empty())
            return n;
        users_++;
    }
    run_callbacks_and_release(served_now);
    return n;
}

int var_pool::trim() noexcept
{
    chunk_list released;
    int n;
    {
        std::lock_guard lk(mu_);
        const uint64_t t = now();
        face f(*this, released, t);
        n = ledger_.trim(t, f);
    }
    return n;
}

void var_pool::stats(elastic_pool_stats &st) const noexcept
{
    std::lock_guard lk(mu_);
    st = elastic_pool_stats{};
    ledger_.fill_stats(st);
    st.in_use_bytes = in_use_bytes_;
    st.nb_allocs = nb_allocs_;
    st.nb_frees = nb_frees_;
    st.nb_alloc_fail = nb_alloc_fail_;
    st.nb_queued = nb_queued_;
    st.nb_waiters = uint32_t(waiters_.size());
    st.max_buf_size = cfg_.max_buf_size;
}

void var_pool::sizing(elastic_pool_sizing &sz) const noexcept
{
    std::lock_guard lk(mu_);
    ledger_.sizing(sz);
}

} // namespace elastic::detail
