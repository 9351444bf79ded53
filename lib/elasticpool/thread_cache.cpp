// SPDX-License-Identifier: BSD-3-Clause
// Per-thread caches of the variable-size face: the slow paths (the design is in
// thread_cache.hpp; the hit paths are var_pool::alloc and var_pool::free in pool.cpp).
#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <new>

#include <rte_errno.h>

#include "log.hpp"
#include "pool.hpp"

namespace elastic::detail {

thread_local tc_thread *tl_tc __attribute__((tls_model("initial-exec"))) = nullptr;

std::mutex &tc_registry_mutex() noexcept
{
    static std::mutex *m = new std::mutex; // never destroyed: threads exit after static dtors
    return *m;
}

namespace {

// Sends the exiting thread's cached buffers home (a thread_local with a destructor; armed by the
// thread's first cache).
void tc_thread_gone(tc_thread *t) noexcept;

struct tc_exit_hook {
    tc_thread *t = nullptr;
    bool gone = false; // the thread is exiting: no new cache (callbacks may still allocate)
    ~tc_exit_hook()
    {
        gone = true;
        if (t != nullptr)
            tc_thread_gone(t);
        t = nullptr;
    }
};
thread_local tc_exit_hook tl_exit;

void tc_thread_gone(tc_thread *t) noexcept
{
    tl_tc = nullptr; // callbacks run below take the pools' locked paths
    for (tc_slot &sl : t->slot) {
        if (sl.c == nullptr)
            continue;
        std::unique_lock reg(tc_registry_mutex());
        if (var_pool *p = sl.c->pool; p != nullptr)
            p->tc_thread_exit(sl.c, reg); // unlocks reg
        else
            reg.unlock();
        delete sl.c;
        sl = tc_slot{};
    }
    delete t;
}

} // namespace

void var_pool::base_mark(const void *p, unsigned order) noexcept
{
    base_cls_[(uintptr_t(p) - base_lo_) >> page_shift].store(uint8_t(order + 1),
                                                             std::memory_order_relaxed);
}

void var_pool::base_unmark(const void *p) noexcept
{
    base_cls_[(uintptr_t(p) - base_lo_) >> page_shift].store(0, std::memory_order_relaxed);
}

thread_cache *var_pool::tc_attach() noexcept
{
    if (tl_exit.gone)
        return nullptr;
    tc_thread *t = tl_tc;
    if (t == nullptr) {
        t = new (std::nothrow) tc_thread;
        if (t == nullptr)
            return nullptr;
        tl_tc = t;
        tl_exit.t = t; // arms the exit hook
    }
    std::lock_guard reg(tc_registry_mutex());
    tc_slot *slot = nullptr;
    for (tc_slot &sl : t->slot) {
        if (sl.c == nullptr || sl.c->pool == nullptr) { // empty, or its pool was destroyed
            slot = &sl;
            break;
        }
    }
    if (slot == nullptr)
        return nullptr; // tc_max_pools pools cached already: this one takes the lock
    auto *c = new (std::nothrow) thread_cache;
    if (c == nullptr)
        return nullptr;
    std::lock_guard lk(mu_);
    try {
        caches_.push_back(c);
    } catch (const std::bad_alloc &) {
        delete c;
        return nullptr;
    }
    delete slot->c; // a detached cache of a destroyed pool (or nullptr)
    c->pool = this;
    c->gen_seen = tc_gen_.load(std::memory_order_relaxed) & ~1u;
    *slot = tc_slot{this, seq_, c};
    return c;
}

void *var_pool::tc_alloc_slow(unsigned order) noexcept
{
    const bool cached_class = int(order) <= tc_top_;
    thread_cache *c = my_cache();
    if (c == nullptr && cached_class)
        c = tc_attach();
    served_list served_now;
    void *p = nullptr;
    int err = 0;
    {
        std::lock_guard lk(mu_);
        if (c != nullptr)
            tc_sync_locked(*c, served_now);
        if (waiters_.empty()) {
            const uint64_t t = now();
            p = take(order, t);
            // This thread's cached buffers of other classes may merge into one of this class:
            // they go home before the pool grows.
            if (p == nullptr && c != nullptr && tc_flush_locked(*c) != 0)
                p = take(order, t);
            if (p == nullptr)
                p = take_or_grow(order, t);
            if (p != nullptr && c != nullptr && cached_class && in_base(p))
                tc_refill_locked(*c, order);
            if (p == nullptr)
                err = rte_errno;
        } else {
            err = ENOBUFS; // nobody overtakes a waiter
        }
        if (p == nullptr)
            nb_alloc_fail_++;
        if (served_now.empty()) {
            if (p == nullptr)
                rte_errno = err;
            return p;
        }
        users_++;
    }
    run_callbacks_and_release(served_now);
    if (p == nullptr)
        rte_errno = err;
    return p;
}

uint32_t var_pool::tc_flush_locked(thread_cache &c) noexcept
{
    uint32_t moved = 0;
    for (unsigned k = 0; k < tc_classes; k++) {
        const uint32_t n = c.n[k].load(std::memory_order_relaxed);
        if (n == 0)
            continue;
        moved += tc_trim_locked(c, k, 0);
    }
    return moved;
}

uint32_t var_pool::tc_trim_locked(thread_cache &c, unsigned order, uint32_t keep) noexcept
{
    const uint32_t n = c.n[order].load(std::memory_order_relaxed);
    if (n <= keep)
        return 0;
    const uint32_t out = n - keep; // the oldest go home; the most recent (warm) ones stay
    chunk &b = *chunks_[0];
    for (uint32_t i = 0; i < out; i++) {
        void *buf = c.bufs[order][i];
        const uint32_t pg = uint32_t((uintptr_t(buf) - b.base) >> page_shift);
        base_unmark(buf);
        const int o = b.heap.free(pg);
        if (o < 0) {
            // The same buffer was freed twice into caches: the copy is dropped here.
            EP_LOG(ERR, "pool %s: buffer %p was freed twice (found in a thread cache)",
                   cfg_.name.c_str(), buf);
            continue;
        }
        b.in_use--;
        in_use_bytes_ -= page_size << o;
    }
    std::memmove(&c.bufs[order][0], &c.bufs[order][out], keep * sizeof(void *));
    c.n[order].store(keep, std::memory_order_relaxed);
    return out;
}

void var_pool::tc_refill_locked(thread_cache &c, unsigned order) noexcept
{
    // Half a cache of more base blocks: the next allocations of this class hit, and the next
    // frees have room. Stamped by the take() that served the request before this.
    const uint32_t want = tc_cap_[order] / 2;
    chunk &b = *chunks_[0];
    uint32_t n = c.n[order].load(std::memory_order_relaxed);
    while (n < want) {
        const int64_t pg = b.heap.alloc(order);
        if (pg < 0)
            break;
        void *buf = reinterpret_cast<void *>(b.base + (size_t(pg) << page_shift));
        b.in_use++;
        in_use_bytes_ += page_size << order;
        base_mark(buf, order);
        c.bufs[order][n++] = buf;
    }
    c.n[order].store(n, std::memory_order_relaxed);
}

void var_pool::tc_sync_locked(thread_cache &c, served_list &out) noexcept
{
    const uint32_t g = tc_gen_.load(std::memory_order_relaxed);
    if (c.gen_seen == g)
        return;
    tc_flush_locked(c);
    c.gen_seen = g & ~1u; // odd (waiters): never equal, the cache stays off
    if (!waiters_.empty())
        serve_waiters(out, true);
}

void var_pool::tc_note_waiters() noexcept
{
    if (tc_top_ < 0)
        return;
    const uint32_t g = tc_gen_.load(std::memory_order_relaxed);
    const bool waiting = !waiters_.empty();
    if (waiting && (g & 1) == 0)
        tc_gen_.store(g + 3, std::memory_order_relaxed); // a new generation, odd
    else if (!waiting && (g & 1) != 0)
        tc_gen_.store(g & ~1u, std::memory_order_relaxed);
}

void var_pool::tc_cached(uint64_t &bytes, uint64_t &bufs) const noexcept
{
    bytes = 0;
    bufs = 0;
    for (const thread_cache *c : caches_) {
        for (unsigned k = 0; k < tc_classes; k++) {
            const uint64_t n = c->n[k].load(std::memory_order_relaxed);
            bufs += n;
            bytes += n << (page_shift + k);
        }
    }
}

uint64_t var_pool::tc_cached_bytes() const noexcept
{
    if (caches_.empty())
        return 0;
    uint64_t bytes, bufs;
    tc_cached(bytes, bufs);
    return bytes;
}

void var_pool::tc_counts(uint64_t &allocs, uint64_t &frees) const noexcept
{
    allocs = tc_gone_allocs_;
    frees = tc_gone_frees_;
    for (const thread_cache *c : caches_) {
        allocs += c->allocs.load(std::memory_order_relaxed);
        frees += c->frees.load(std::memory_order_relaxed);
    }
}

void var_pool::tc_detach_all() noexcept
{
    std::lock_guard reg(tc_registry_mutex());
    std::lock_guard lk(mu_);
    for (thread_cache *c : caches_) {
        // Its thread is not inside this pool (a call concurrent with destroy is undefined):
        // its buffers are read here, under the registry lock its exit would need.
        tc_flush_locked(*c);
        tc_gone_allocs_ += c->allocs.load(std::memory_order_relaxed);
        tc_gone_frees_ += c->frees.load(std::memory_order_relaxed);
        c->pool = nullptr; // its thread deletes it
    }
    caches_.clear();
}

void var_pool::tc_thread_exit(thread_cache *c, std::unique_lock<std::mutex> &reg) noexcept
{
    served_list served_now;
    {
        std::lock_guard lk(mu_);
        tc_flush_locked(*c);
        tc_gone_allocs_ += c->allocs.load(std::memory_order_relaxed);
        tc_gone_frees_ += c->frees.load(std::memory_order_relaxed);
        caches_.erase(std::find(caches_.begin(), caches_.end(), c));
        c->pool = nullptr;
        if (!waiters_.empty())
            serve_waiters(served_now, true);
        if (!served_now.empty())
            users_++;
    }
    reg.unlock();
    if (!served_now.empty())
        run_callbacks_and_release(served_now);
}

int var_pool::thread_cache_flush() noexcept
{
    thread_cache *c = tc_top_ >= 0 ? my_cache() : nullptr;
    if (c == nullptr)
        return 0;
    served_list served_now;
    uint32_t moved;
    {
        std::lock_guard lk(mu_);
        moved = tc_flush_locked(*c);
        if (!waiters_.empty())
            serve_waiters(served_now, true);
        if (served_now.empty())
            return int(moved);
        users_++;
    }
    run_callbacks_and_release(served_now);
    return int(moved);
}

} // namespace elastic::detail
