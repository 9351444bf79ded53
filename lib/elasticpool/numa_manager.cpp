// SPDX-License-Identifier: BSD-3-Clause
#include "numa_manager.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <hwloc.h>
#include <sched.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "elastic_numa.h"
#include "gate.hpp"
#include "log.hpp"
#include "pool.hpp"
#include "provider.hpp"
#include "registry.hpp"

namespace elastic::detail {

// ---- topology ----

numa_topology::~numa_topology()
{
    if (topo_ != nullptr)
        hwloc_topology_destroy(static_cast<hwloc_topology_t>(topo_));
}

std::shared_ptr<const numa_topology> numa_topology::load(const char *synthetic, int *err) noexcept
{
    try {
        std::shared_ptr<numa_topology> t(new numa_topology);
        hwloc_topology_t h;
        if (hwloc_topology_init(&h) != 0) {
            *err = -ENOMEM;
            return nullptr;
        }
        t->topo_ = h;
        if (synthetic != nullptr) {
            if (hwloc_topology_set_synthetic(h, synthetic) != 0) {
                EP_LOG(ERR, "numa: hwloc rejects synthetic topology \"%s\"", synthetic);
                *err = -EINVAL;
                return nullptr;
            }
            t->synthetic_ = true;
        } else {
            hwloc_topology_set_io_types_filter(h, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
        }
        if (hwloc_topology_load(h) != 0) {
            EP_LOG(ERR, "numa: hwloc could not load the topology: %s", strerror(errno));
            *err = -EIO;
            return nullptr;
        }
        const int n = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_NUMANODE);
        for (int i = 0; i < n; i++) {
            hwloc_obj_t o = hwloc_get_obj_by_type(h, HWLOC_OBJ_NUMANODE, unsigned(i));
            node nd{int(o->os_index), {}, o->attr != nullptr ? o->attr->numanode.local_memory : 0};
            unsigned cpu;
            hwloc_bitmap_foreach_begin(cpu, o->cpuset)
            {
                nd.cpus.push_back(cpu);
                t->cpu_node_.emplace(cpu, nd.id);
            }
            hwloc_bitmap_foreach_end();
            t->nodes_.push_back(std::move(nd));
        }
        std::sort(t->nodes_.begin(), t->nodes_.end(),
                  [](const node &a, const node &b) { return a.id < b.id; });
        if (t->nodes_.empty()) {
            *err = -ENODATA;
            return nullptr;
        }
        *err = 0;
        return t;
    } catch (const std::bad_alloc &) {
        *err = -ENOMEM;
        return nullptr;
    }
}

const numa_topology::node *numa_topology::find(int id) const noexcept
{
    for (const node &n : nodes_)
        if (n.id == id)
            return &n;
    return nullptr;
}

int numa_topology::node_of_cpu(unsigned cpu) const noexcept
{
    auto it = cpu_node_.find(cpu);
    return it == cpu_node_.end() ? -ENOENT : it->second;
}

int numa_topology::node_of_pci(const char *busid) const noexcept
{
    if (busid == nullptr || synthetic_)
        return -ENOENT;
    auto h = static_cast<hwloc_topology_t>(topo_);
    hwloc_obj_t dev = hwloc_get_pcidev_by_busidstring(h, busid);
    if (dev == nullptr)
        return -ENOENT;
    hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(h, dev);
    if (anc == nullptr || anc->nodeset == nullptr || hwloc_bitmap_iszero(anc->nodeset))
        return -ENODATA;
    // An ancestor above several nodes (the whole machine) does not place the device, unless
    // the machine has just one node.
    if (hwloc_bitmap_weight(anc->nodeset) != 1 && nodes_.size() != 1)
        return -ENODATA;
    return hwloc_bitmap_first(anc->nodeset);
}

// ---- growth gate ----

namespace {

struct node_budget {
    int node;
    std::atomic<uint64_t> cap{0};       // 0 = none
    std::atomic<uint64_t> admitted{0};  // bytes the gate let the pools pin
    std::atomic<uint64_t> refusals{0};
    explicit node_budget(int n) : node(n) {}
};

struct pool_gate {
    node_budget *budget;
    std::atomic<uint64_t> refusals{0};
    explicit pool_gate(node_budget *b) : budget(b) {}
};

bool gate_admit(void *ctx, size_t bytes) noexcept
{
    auto *g = static_cast<pool_gate *>(ctx);
    node_budget &b = *g->budget;
    uint64_t cur = b.admitted.load(std::memory_order_relaxed);
    for (;;) {
        const uint64_t cap = b.cap.load(std::memory_order_relaxed);
        if (cap != 0 && cur + bytes > cap) {
            b.refusals.fetch_add(1, std::memory_order_relaxed);
            g->refusals.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        if (b.admitted.compare_exchange_weak(cur, cur + bytes, std::memory_order_relaxed))
            return true;
    }
}

void gate_give_back(void *ctx, size_t bytes) noexcept
{
    static_cast<pool_gate *>(ctx)->budget->admitted.fetch_sub(bytes, std::memory_order_relaxed);
}

// ---- families ----

struct family_pool {
    int node;
    elastic_pool *pool;
    std::unique_ptr<pool_gate> gate; // outlives the pool
};

struct family {
    std::string prefix;
    std::shared_ptr<const numa_topology> topo;
    std::vector<family_pool> pools; // by node, ascending

    elastic_pool *pool_of(int node) const noexcept
    {
        for (const family_pool &fp : pools)
            if (fp.node == node)
                return fp.pool;
        return nullptr;
    }
    static family *from(elastic_numa_family *f) noexcept { return reinterpret_cast<family *>(f); }
    static const family *from(const elastic_numa_family *f) noexcept
    {
        return reinterpret_cast<const family *>(f);
    }
    elastic_numa_family *handle() noexcept { return reinterpret_cast<elastic_numa_family *>(this); }
};

struct manager {
    std::mutex mu;
    std::shared_ptr<const numa_topology> topo;
    std::string synthetic; // empty: the machine
    std::map<int, std::unique_ptr<node_budget>> budgets;
    std::vector<std::unique_ptr<node_budget>> retired; // gates may still point at them
    std::map<std::string, std::unique_ptr<family>, std::less<>> families;
};

manager &mgr()
{
    static manager *m = new manager; // never destroyed: pools may outlive static destructors
    return *m;
}

int fail(int err)
{
    rte_errno = err;
    return -err;
}

// m.mu held. Makes t the topology; node budgets start afresh (caps removed).
void install_topology(manager &m, std::shared_ptr<const numa_topology> t)
{
    for (auto &kv : m.budgets)
        m.retired.push_back(std::move(kv.second));
    m.budgets.clear();
    for (const auto &n : t->nodes())
        m.budgets.emplace(n.id, std::make_unique<node_budget>(n.id));
    m.topo = std::move(t);
}

// m.mu held. Loads the topology on first use; -errno on failure.
int ensure_topology(manager &m)
{
    if (m.topo)
        return 0;
    int err = 0;
    auto t = numa_topology::load(m.synthetic.empty() ? nullptr : m.synthetic.c_str(), &err);
    if (!t)
        return err;
    install_topology(m, std::move(t));
    return 0;
}

// Runs fn(topology) under the lock; -errno when it cannot be loaded.
template <class F>
int with_topology(F fn) noexcept
{
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    if (int err = ensure_topology(m); err != 0)
        return fail(-err);
    return fn(*m.topo);
}

uint64_t node_pinned_locked(manager &m, int node)
{
    uint64_t sum = 0;
    for (const auto &kv : m.families) {
        for (const family_pool &fp : kv.second->pools) {
            elastic_pool_stats st;
            if (fp.node == node && elastic_pool_stats_get(fp.pool, &st) == 0)
                sum += st.pinned_bytes;
        }
    }
    return sum;
}

elastic_pool *pool_or_enoent(const family *f, int node)
{
    elastic_pool *p = f->pool_of(node);
    if (p == nullptr)
        rte_errno = ENOENT;
    return p;
}

} // namespace

numa_pool_info numa_info_of_pool(const std::string &pool_name) noexcept
{
    numa_pool_info info;
    try {
        const size_t at = pool_name.rfind('@');
        if (at == std::string::npos)
            return info;
        manager &m = mgr();
        std::lock_guard lk(m.mu);
        auto it = m.families.find(std::string_view(pool_name).substr(0, at));
        if (it == m.families.end())
            return info;
        for (const family_pool &fp : it->second->pools) {
            if (elastic_pool_name(fp.pool) != pool_name)
                continue;
            info.family = it->first;
            info.node = fp.node;
            info.cap_refusals = fp.gate->refusals.load(std::memory_order_relaxed);
            info.cap_bytes = fp.gate->budget->cap.load(std::memory_order_relaxed);
            info.node_pinned_bytes = node_pinned_locked(m, fp.node);
        }
    } catch (...) {
        info = numa_pool_info{};
    }
    return info;
}

} // namespace elastic::detail

using namespace elastic::detail;

extern "C" {

int elastic_numa_topology_set(const char *synthetic) noexcept
{
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    if (!m.families.empty())
        return fail(EBUSY);
    try {
        int err = 0;
        auto t = numa_topology::load(synthetic, &err); // nothing changes when it fails
        if (!t)
            return fail(-err);
        m.synthetic = synthetic != nullptr ? synthetic : "";
        install_topology(m, std::move(t));
        return 0;
    } catch (const std::bad_alloc &) {
        return fail(ENOMEM);
    }
}

int elastic_numa_node_count(void) noexcept
{
    return with_topology([](const numa_topology &t) { return int(t.nodes().size()); });
}

int elastic_numa_nodes(int *nodes, unsigned n) noexcept
{
    if (nodes == nullptr && n != 0)
        return fail(EINVAL);
    return with_topology([&](const numa_topology &t) {
        for (unsigned i = 0; i < n && i < t.nodes().size(); i++)
            nodes[i] = t.nodes()[i].id;
        return int(t.nodes().size());
    });
}

int elastic_numa_node_cpus(int node, unsigned *cpus, unsigned n) noexcept
{
    if (cpus == nullptr && n != 0)
        return fail(EINVAL);
    return with_topology([&](const numa_topology &t) {
        const numa_topology::node *nd = t.find(node);
        if (nd == nullptr)
            return fail(ENOENT);
        for (unsigned i = 0; i < n && i < nd->cpus.size(); i++)
            cpus[i] = nd->cpus[i];
        return int(nd->cpus.size());
    });
}

uint64_t elastic_numa_node_memory(int node) noexcept
{
    uint64_t mem = 0;
    with_topology([&](const numa_topology &t) {
        const numa_topology::node *nd = t.find(node);
        if (nd == nullptr)
            return fail(ENOENT);
        mem = nd->memory;
        return 0;
    });
    return mem;
}

int elastic_numa_node_of_cpu(unsigned cpu) noexcept
{
    return with_topology([&](const numa_topology &t) {
        const int n = t.node_of_cpu(cpu);
        return n < 0 ? fail(-n) : n;
    });
}

int elastic_numa_node_of_pci(const char *busid) noexcept
{
    if (busid == nullptr)
        return fail(EINVAL);
    return with_topology([&](const numa_topology &t) {
        const int n = t.node_of_pci(busid);
        return n < 0 ? fail(-n) : n;
    });
}

struct elastic_numa_family *
elastic_numa_family_create(const char *prefix, const struct elastic_pool_params *tmpl) noexcept
{
    if (prefix == nullptr || prefix[0] == '\0' || tmpl == nullptr || strchr(prefix, '@')) {
        EP_LOG(ERR, "numa family: bad prefix or template");
        rte_errno = EINVAL;
        return nullptr;
    }
    if (strnlen(prefix, ELASTIC_NUMA_PREFIXSIZE + 1) > ELASTIC_NUMA_PREFIXSIZE) {
        EP_LOG(ERR, "numa family: prefix longer than %d characters", ELASTIC_NUMA_PREFIXSIZE);
        rte_errno = ENAMETOOLONG;
        return nullptr;
    }
    manager &m = mgr();
    std::unique_ptr<family> f;
    try {
        std::lock_guard lk(m.mu);
        if (int err = ensure_topology(m); err != 0) {
            rte_errno = -err;
            return nullptr;
        }
        if (m.families.count(std::string_view(prefix)) != 0) {
            rte_errno = EEXIST;
            return nullptr;
        }
        f = std::make_unique<family>();
        f->prefix = prefix;
        f->topo = m.topo;
        f->pools.reserve(m.topo->nodes().size());
        int err = 0;
        for (const auto &n : m.topo->nodes()) {
            char name[ELASTIC_POOL_NAMESIZE + 16];
            snprintf(name, sizeof(name), "%s@%d", prefix, n.id);
            elastic_pool_params p = *tmpl;
            p.name = name;
            p.socket_id = n.id;
            pool_config cfg;
            if ((err = pool_config::from_params(p, cfg)) != 0)
                break;
            auto gate = std::make_unique<pool_gate>(m.budgets.at(n.id).get());
            cfg.gate = growth_gate{gate_admit, gate_give_back, gate.get()};
            elastic_pool *pool = create_registered(cfg);
            if (pool == nullptr) {
                err = rte_errno;
                // A base chunk the node cap refused is reported as the cap, not as memory.
                if (gate->refusals.load() != 0)
                    err = ENOBUFS;
                break;
            }
            f->pools.push_back(family_pool{n.id, pool, std::move(gate)});
        }
        if (err == 0) {
            family *raw = f.get();
            m.families.emplace(raw->prefix, std::move(f));
            EP_LOG(DEBUG, "numa family %s: %zu pools", prefix, raw->pools.size());
            return raw->handle();
        }
        for (family_pool &fp : f->pools)
            elastic_pool_free(fp.pool);
        rte_errno = err;
        return nullptr;
    } catch (const std::exception &e) {
        EP_LOG(ERR, "numa family %s: %s", prefix, e.what());
        if (f)
            for (family_pool &fp : f->pools)
                elastic_pool_free(fp.pool);
        rte_errno = ENOMEM;
        return nullptr;
    }
}

void elastic_numa_family_free(struct elastic_numa_family *fam) noexcept
{
    if (fam == nullptr)
        return;
    manager &m = mgr();
    std::unique_ptr<family> owned;
    {
        std::lock_guard lk(m.mu);
        auto it = m.families.find(family::from(fam)->prefix);
        if (it == m.families.end() || it->second.get() != family::from(fam))
            return;
        owned = std::move(it->second);
        m.families.erase(it);
    }
    // Outside the manager's lock: freeing waits for a maintenance tick in progress, whose
    // callbacks may call into the manager.
    for (family_pool &fp : owned->pools)
        elastic_pool_free(fp.pool);
}

struct elastic_numa_family *elastic_numa_family_lookup(const char *prefix) noexcept
{
    if (prefix == nullptr) {
        rte_errno = EINVAL;
        return nullptr;
    }
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    auto it = m.families.find(std::string_view(prefix));
    if (it == m.families.end()) {
        rte_errno = ENOENT;
        return nullptr;
    }
    return it->second->handle();
}

struct elastic_pool *elastic_numa_pool(const struct elastic_numa_family *fam, int node) noexcept
{
    if (fam == nullptr) {
        rte_errno = EINVAL;
        return nullptr;
    }
    return pool_or_enoent(family::from(fam), node);
}

struct elastic_pool *elastic_numa_pool_for_cpu(const struct elastic_numa_family *fam,
                                               unsigned cpu) noexcept
{
    if (fam == nullptr) {
        rte_errno = EINVAL;
        return nullptr;
    }
    const family *f = family::from(fam);
    const int node = f->topo->node_of_cpu(cpu);
    if (node < 0) {
        rte_errno = ENOENT;
        return nullptr;
    }
    return pool_or_enoent(f, node);
}

struct elastic_pool *elastic_numa_pool_here(const struct elastic_numa_family *fam) noexcept
{
    if (fam == nullptr) {
        rte_errno = EINVAL;
        return nullptr;
    }
    const family *f = family::from(fam);
    int node = -1;
    if (eal_is_up() && rte_lcore_id() != LCORE_ID_ANY) {
        const unsigned s = rte_socket_id();
        if (s != unsigned(SOCKET_ID_ANY) && f->pool_of(int(s)) != nullptr)
            node = int(s);
    }
    if (node < 0) {
        const int cpu = sched_getcpu();
        if (cpu >= 0)
            node = f->topo->node_of_cpu(unsigned(cpu));
    }
    elastic_pool *p = node >= 0 ? f->pool_of(node) : nullptr;
    return p != nullptr ? p : f->pools.front().pool; // unplaceable thread: the first node
}

struct elastic_pool *elastic_numa_pool_for_port(const struct elastic_numa_family *fam,
                                                uint16_t port_id) noexcept
{
    if (fam == nullptr) {
        rte_errno = EINVAL;
        return nullptr;
    }
    if (!eal_is_up()) {
        rte_errno = ENOTSUP;
        return nullptr;
    }
    if (!rte_eth_dev_is_valid_port(port_id)) {
        rte_errno = EINVAL;
        return nullptr;
    }
    const family *f = family::from(fam);
    const int s = rte_eth_dev_socket_id(port_id);
    if (s < 0) // SOCKET_ID_ANY: the device does not say
        return f->pools.front().pool;
    return pool_or_enoent(f, s);
}

struct elastic_pool *elastic_numa_pool_for_pci(const struct elastic_numa_family *fam,
                                               const char *busid) noexcept
{
    if (fam == nullptr || busid == nullptr) {
        rte_errno = EINVAL;
        return nullptr;
    }
    const family *f = family::from(fam);
    const int node = f->topo->node_of_pci(busid);
    if (node == -ENODATA)
        return f->pools.front().pool;
    if (node < 0) {
        rte_errno = -node;
        return nullptr;
    }
    return pool_or_enoent(f, node);
}

int elastic_numa_node_cap_set(int node, uint64_t cap_bytes) noexcept
{
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    if (int err = ensure_topology(m); err != 0)
        return fail(-err);
    auto it = m.budgets.find(node);
    if (it == m.budgets.end())
        return fail(ENOENT);
    it->second->cap.store(cap_bytes, std::memory_order_relaxed);
    return 0;
}

int elastic_numa_node_stats_get(int node, struct elastic_numa_node_stats *st) noexcept
{
    if (st == nullptr)
        return fail(EINVAL);
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    if (int err = ensure_topology(m); err != 0)
        return fail(-err);
    auto it = m.budgets.find(node);
    const numa_topology::node *nd = m.topo->find(node);
    if (it == m.budgets.end() || nd == nullptr)
        return fail(ENOENT);
    *st = elastic_numa_node_stats{};
    st->node = node;
    for (const auto &kv : m.families)
        for (const family_pool &fp : kv.second->pools)
            st->nb_pools += fp.node == node;
    st->cap_bytes = it->second->cap.load(std::memory_order_relaxed);
    st->pinned_bytes = node_pinned_locked(m, node);
    st->cap_refusals = it->second->refusals.load(std::memory_order_relaxed);
    st->local_memory = nd->memory;
    return 0;
}

} // extern "C"
