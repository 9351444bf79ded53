// SPDX-License-Identifier: BSD-3-Clause
// The C boundary: validation of handles, the name registry, errno conversion. Nothing throws
// past this file.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <rte_errno.h>
#include <rte_memory.h>

#include "elasticpool.h"
#include "log.hpp"
#include "maintenance.hpp"
#include "numa_manager.hpp"
#include "pool.hpp"
#include "registry.hpp"

using elastic::detail::pool_config;
using elastic::detail::var_pool;

namespace {

struct registry {
    std::mutex mu;
    std::map<std::string, var_pool *, std::less<>> by_name;
};

registry &reg()
{
    static registry *r = new registry; // never destroyed: pools may outlive static destructors
    return *r;
}

int fail(int err)
{
    rte_errno = err;
    return -err;
}

} // namespace

// Creates the pool, names it in the registry and hands it to the maintenance (registry.hpp).
elastic_pool *elastic::detail::create_registered(const pool_config &cfg) noexcept
{
    try {
        registry &r = reg();
        std::lock_guard lk(r.mu);
        if (r.by_name.count(cfg.name) != 0) {
            EP_LOG(ERR, "pool create: name %s is taken", cfg.name.c_str());
            rte_errno = EEXIST;
            return nullptr;
        }
        std::unique_ptr<var_pool> pool = var_pool::create(cfg);
        if (!pool)
            return nullptr; // rte_errno set
        r.by_name.emplace(cfg.name, pool.get());
        try {
            if ((cfg.flags & ELASTIC_POOL_F_MANUAL_TICK) == 0)
                elastic::detail::ticker_add(pool.get());
        } catch (...) {
            r.by_name.erase(cfg.name);
            throw;
        }
        return pool.release()->handle();
    } catch (const std::exception &e) {
        EP_LOG(ERR, "pool create: %s", e.what());
        rte_errno = ENOMEM;
        return nullptr;
    }
}

extern "C" {

void elastic_pool_params_init(struct elastic_pool_params *p) noexcept
{
    if (p == nullptr)
        return;
    *p = elastic_pool_params{};
    p->socket_id = SOCKET_ID_ANY;
    p->tick_ms = 500;
    p->sample_period_ms = 60000;
    p->idle_period_ms = 300000;
    p->headroom_chunks = 1;
}

struct elastic_pool *elastic_pool_create(const struct elastic_pool_params *p) noexcept
{
    if (p == nullptr) {
        EP_LOG(ERR, "pool create: NULL params");
        rte_errno = EINVAL;
        return nullptr;
    }
    try {
        pool_config cfg;
        if (int err = pool_config::from_params(*p, cfg); err != 0) {
            rte_errno = err;
            return nullptr;
        }
        return elastic::detail::create_registered(cfg);
    } catch (const std::exception &e) {
        EP_LOG(ERR, "pool create: %s", e.what());
        rte_errno = ENOMEM;
        return nullptr;
    }
}

void elastic_pool_free(struct elastic_pool *pool) noexcept
{
    if (pool == nullptr)
        return;
    var_pool *p = var_pool::from(pool);
    elastic::detail::ticker_remove(p); // after this no tick touches p
    {
        registry &r = reg();
        std::lock_guard lk(r.mu);
        r.by_name.erase(p->config().name);
    }
    elastic::detail::numa_forget_pool(pool); // a family member leaves its family
    p->destroy(); // wakes and waits for the threads inside it (see var_pool::destroy)
}

struct elastic_pool *elastic_pool_lookup(const char *name) noexcept
{
    if (name == nullptr) {
        rte_errno = EINVAL;
        return nullptr;
    }
    registry &r = reg();
    std::lock_guard lk(r.mu);
    auto it = r.by_name.find(std::string_view(name));
    if (it == r.by_name.end()) {
        rte_errno = ENOENT;
        return nullptr;
    }
    return it->second->handle();
}

const char *elastic_pool_name(const struct elastic_pool *pool) noexcept
{
    return pool != nullptr ? var_pool::from(pool)->config().name.c_str() : nullptr;
}

void *elastic_buf_alloc(struct elastic_pool *pool, size_t size) noexcept
{
    if (pool == nullptr) {
        rte_errno = EINVAL;
        return nullptr;
    }
    return var_pool::from(pool)->alloc(size);
}

int elastic_buf_alloc_async(struct elastic_pool *pool, size_t size, elastic_buf_cb_t *cb,
                            void *arg) noexcept
{
    if (pool == nullptr)
        return fail(EINVAL);
    return var_pool::from(pool)->alloc_async(size, cb, arg);
}

int elastic_buf_alloc_cancel(struct elastic_pool *pool, elastic_buf_cb_t *cb, void *arg) noexcept
{
    if (pool == nullptr || cb == nullptr)
        return fail(EINVAL);
    return var_pool::from(pool)->cancel(cb, arg);
}

void *elastic_buf_alloc_timeout(struct elastic_pool *pool, size_t size, uint32_t timeout_ms) noexcept
{
    if (pool == nullptr) {
        rte_errno = EINVAL;
        return nullptr;
    }
    return var_pool::from(pool)->alloc_timeout(size, timeout_ms);
}

int elastic_buf_free(struct elastic_pool *pool, void *buf) noexcept
{
    if (pool == nullptr)
        return fail(EINVAL);
    return var_pool::from(pool)->free(buf);
}

size_t elastic_buf_size(const struct elastic_pool *pool, const void *buf) noexcept
{
    if (pool == nullptr) {
        rte_errno = EINVAL;
        return 0;
    }
    return var_pool::from(pool)->buf_size(buf);
}

rte_iova_t elastic_buf_iova(const struct elastic_pool *pool, const void *buf) noexcept
{
    if (pool == nullptr) {
        rte_errno = EINVAL;
        return RTE_BAD_IOVA;
    }
    return var_pool::from(pool)->buf_iova(buf);
}

int elastic_pool_maintain(struct elastic_pool *pool) noexcept
{
    if (pool == nullptr)
        return fail(EINVAL);
    return var_pool::from(pool)->maintain();
}

int elastic_pool_trim(struct elastic_pool *pool) noexcept
{
    if (pool == nullptr)
        return fail(EINVAL);
    return var_pool::from(pool)->trim();
}

int elastic_pool_thread_cache_flush(struct elastic_pool *pool) noexcept
{
    if (pool == nullptr)
        return fail(EINVAL);
    return var_pool::from(pool)->thread_cache_flush();
}

int elastic_pool_stats_get(const struct elastic_pool *pool, struct elastic_pool_stats *st) noexcept
{
    if (pool == nullptr || st == nullptr)
        return fail(EINVAL);
    var_pool::from(pool)->stats(*st);
    return 0;
}

int elastic_pool_sizing_get(const struct elastic_pool *pool, struct elastic_pool_sizing *sz) noexcept
{
    if (pool == nullptr || sz == nullptr)
        return fail(EINVAL);
    var_pool::from(pool)->sizing(*sz);
    return 0;
}

} // extern "C"

// Read access for telemetry and the per-NUMA manager (registry.hpp).
namespace elastic::detail {

std::vector<std::string> pool_names()
{
    registry &r = reg();
    std::lock_guard lk(r.mu);
    std::vector<std::string> names;
    names.reserve(r.by_name.size());
    for (const auto &kv : r.by_name)
        names.push_back(kv.first);
    return names;
}

bool with_pool(std::string_view name, const std::function<void(const var_pool &)> &fn)
{
    registry &r = reg();
    std::lock_guard lk(r.mu);
    auto it = r.by_name.find(name);
    if (it == r.by_name.end())
        return false;
    fn(*it->second);
    return true;
}

} // namespace elastic::detail
