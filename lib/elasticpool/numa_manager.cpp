// SPDX-License-Identifier: BSD-3-Clause
// The per-NUMA-node manager: topology, families of pools of both faces, node caps and what
// telemetry shows per node. The node budgets themselves are budget.cpp's table; this file only
// sets caps in it and reads it.
#include "numa_manager.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <hwloc.h>
#include <sched.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include "elastic_mempool.h"
#include "elastic_numa.h"
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

const char *topology_source_name(numa_topology::source s) noexcept
{
    switch (s) {
    case numa_topology::source::hwloc: return "hwloc";
    case numa_topology::source::eal: return "eal";
    case numa_topology::source::synthetic: return "synthetic";
    }
    return "?";
}

namespace {

// The EAL's sockets in its own order (ascending in practice), or empty when it is not up.
std::vector<int> eal_sockets()
{
    std::vector<int> s;
    if (!eal_is_up())
        return s;
    const unsigned n = rte_socket_count();
    for (unsigned i = 0; i < n; i++) {
        const int id = rte_socket_id_by_idx(i);
        if (id >= 0)
            s.push_back(id);
    }
    return s;
}

} // namespace

std::shared_ptr<const numa_topology> numa_topology::load(const char *synthetic, bool eal,
                                                         int *err) noexcept
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
            t->source_ = source::synthetic;
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
        // With the EAL the nodes are its sockets: those are what a socket_id can name (a node
        // hwloc sees without cpus, e.g. memory-only, is no DPDK socket). hwloc still gives each
        // its cpus and memory; a socket hwloc does not know has neither.
        if (const std::vector<int> sockets = eal && synthetic == nullptr ? eal_sockets()
                                                                           : std::vector<int>{};
            !sockets.empty()) {
            std::vector<node> kept;
            for (int s : sockets) {
                auto it = std::find_if(t->nodes_.begin(), t->nodes_.end(),
                                       [s](const node &x) { return x.id == s; });
                kept.push_back(it != t->nodes_.end() ? std::move(*it) : node{s, {}, 0});
            }
            t->nodes_ = std::move(kept);
            std::erase_if(t->cpu_node_, [&](const auto &kv) {
                return std::find(sockets.begin(), sockets.end(), kv.second) == sockets.end();
            });
            t->source_ = source::eal;
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
    if (busid == nullptr || synthetic())
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

// ---- families ----

namespace {

// One pool per node of the topology it was made from; immutable once created, so lookups need
// no lock (the caller must not free a family while looking it up, as with any handle).
template <class Pool>
struct basic_family {
    struct member {
        int node;
        Pool *pool;
    };
    std::string prefix;
    std::shared_ptr<const numa_topology> topo;
    std::vector<member> pools; // by node, ascending

    Pool *pool_of(int node) const noexcept
    {
        for (const member &m : pools)
            if (m.node == node)
                return m.pool;
        return nullptr;
    }
    Pool *first() const noexcept { return pools.front().pool; }
};

using pool_family = basic_family<elastic_pool>;
using mempool_family = basic_family<rte_mempool>;

// The C handles are the family objects.
pool_family *from(elastic_numa_family *f) noexcept { return reinterpret_cast<pool_family *>(f); }
const pool_family *from(const elastic_numa_family *f) noexcept
{
    return reinterpret_cast<const pool_family *>(f);
}
elastic_numa_family *handle(pool_family *f) noexcept
{
    return reinterpret_cast<elastic_numa_family *>(f);
}
mempool_family *from(elastic_numa_mempool_family *f) noexcept
{
    return reinterpret_cast<mempool_family *>(f);
}
const mempool_family *from(const elastic_numa_mempool_family *f) noexcept
{
    return reinterpret_cast<const mempool_family *>(f);
}
elastic_numa_mempool_family *handle(mempool_family *f) noexcept
{
    return reinterpret_cast<elastic_numa_mempool_family *>(f);
}

struct manager {
    // Recursive: a mempool whose creation fails inside a family's creation is freed under this
    // lock, and freeing a pool takes it (numa_forget_mempool).
    std::recursive_mutex mu;
    std::shared_ptr<const numa_topology> topo;
    std::string synthetic; // empty: the machine
    std::map<std::string, std::unique_ptr<pool_family>, std::less<>> families;
    std::map<std::string, std::unique_ptr<mempool_family>, std::less<>> mempool_families;
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

template <class T>
T *fail_null(int err)
{
    rte_errno = err;
    return nullptr;
}

// m.mu held. Loads the topology on first use, and again from the EAL once it is up (a topology
// read before rte_eal_init() is hwloc's; families made from it keep it). A synthetic topology
// stays until elastic_numa_topology_set() changes it. -errno on failure.
int ensure_topology(manager &m)
{
    const bool eal = m.synthetic.empty() && eal_is_up();
    if (m.topo && (!eal || m.topo->from() == numa_topology::source::eal))
        return 0;
    int err = 0;
    auto t = numa_topology::load(m.synthetic.empty() ? nullptr : m.synthetic.c_str(), eal, &err);
    if (!t)
        return m.topo ? 0 : err; // keep what was there
    m.topo = std::move(t);
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

bool is_eal_socket(int node)
{
    const std::vector<int> s = eal_sockets();
    return std::find(s.begin(), s.end(), node) != s.end();
}

// The socket a family's pool for `node` reserves its memory on. A node the EAL has no memory on
// (a synthetic topology larger than the machine) gets SOCKET_ID_ANY memory; its budget is still
// kept on `node` (budget_node_scope around the creation). Without the EAL (hugetlb, heap) the
// node itself.
int memory_socket(int node, bool memzones)
{
    return memzones && eal_is_up() && !is_eal_socket(node) ? SOCKET_ID_ANY : node;
}

uint64_t refusals_of(int node)
{
    node_budget_figures f;
    return node_budget_get(node, f) == 0 ? f.refusals : 0;
}

// The errno of a failed creation of a family member: a base chunk the node cap refused is
// reported as the cap (ENOBUFS), whatever the face says about it. The refusal count is the
// node's, so a refusal of another pool at the same moment could be taken for this one's; it
// only changes which errno a failure reports.
int creation_errno(int face_errno, int node, uint64_t refusals_before)
{
    if (refusals_of(node) != refusals_before)
        return ENOBUFS;
    return face_errno != 0 ? face_errno : ENOMEM;
}

bool bad_prefix(const char *prefix)
{
    if (prefix == nullptr || prefix[0] == '\0' || strchr(prefix, '@') != nullptr) {
        EP_LOG(ERR, "numa family: bad prefix");
        rte_errno = EINVAL;
        return true;
    }
    if (strnlen(prefix, ELASTIC_NUMA_PREFIXSIZE + 1) > ELASTIC_NUMA_PREFIXSIZE) {
        EP_LOG(ERR, "numa family: prefix longer than %d characters", ELASTIC_NUMA_PREFIXSIZE);
        rte_errno = ENAMETOOLONG;
        return true;
    }
    return false;
}

std::string member_name(const char *prefix, int node)
{
    return std::string(prefix) + "@" + std::to_string(node);
}

// ---- lookups shared by both kinds of family ----

template <class Pool>
Pool *by_node(const basic_family<Pool> *f, int node)
{
    if (f == nullptr)
        return fail_null<Pool>(EINVAL);
    Pool *p = f->pool_of(node);
    return p != nullptr ? p : fail_null<Pool>(ENOENT);
}

template <class Pool>
Pool *for_cpu(const basic_family<Pool> *f, unsigned cpu)
{
    if (f == nullptr)
        return fail_null<Pool>(EINVAL);
    const int node = f->topo->node_of_cpu(cpu);
    return node < 0 ? fail_null<Pool>(ENOENT) : by_node(f, node);
}

template <class Pool>
Pool *here(const basic_family<Pool> *f)
{
    if (f == nullptr)
        return fail_null<Pool>(EINVAL);
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
    Pool *p = node >= 0 ? f->pool_of(node) : nullptr;
    return p != nullptr ? p : f->first(); // unplaceable thread: the first node
}

template <class Pool>
Pool *for_port(const basic_family<Pool> *f, uint16_t port_id)
{
    if (f == nullptr)
        return fail_null<Pool>(EINVAL);
    if (!eal_is_up())
        return fail_null<Pool>(ENOTSUP);
    if (!rte_eth_dev_is_valid_port(port_id))
        return fail_null<Pool>(EINVAL);
    const int s = rte_eth_dev_socket_id(port_id);
    if (s < 0) // SOCKET_ID_ANY: the device does not say (virtual devices)
        return f->first();
    return by_node(f, s);
}

template <class Pool>
Pool *for_pci(const basic_family<Pool> *f, const char *busid)
{
    if (f == nullptr || busid == nullptr)
        return fail_null<Pool>(EINVAL);
    const int node = f->topo->node_of_pci(busid);
    if (node == -ENODATA)
        return f->first();
    return node < 0 ? fail_null<Pool>(-node) : by_node(f, node);
}

// ---- the pools of both faces and their nodes (node stats, telemetry) ----

// The budget node a pool's stats report, once struct elastic_pool_stats has it (the ledger
// fills it); `fallback` until then.
template <class Stats>
int stats_node(const Stats &st, int fallback)
{
    if constexpr (requires { st.node; })
        return int(st.node);
    else
        return fallback;
}

// m.mu held. The family node of a pool named `name`, or -1.
template <class Map>
int family_node(const Map &families, const std::string &name)
{
    const size_t at = name.rfind('@');
    if (at == std::string::npos)
        return -1;
    auto it = families.find(std::string_view(name).substr(0, at));
    if (it == families.end())
        return -1;
    for (const auto &mb : it->second->pools)
        if (member_name(it->first.c_str(), mb.node) == name)
            return mb.node;
    return -1;
}

struct pool_on_node {
    int node;
    numa_node_pool pool;
};

// m.mu held. Every pool of this process of both faces, with its budget node (-1: unknown until
// the stats carry it). Mempools are shared by the processes of the group: each lists them all.
std::vector<pool_on_node> pools_by_node(const manager &m)
{
    std::vector<pool_on_node> out;
    for (const std::string &name : pool_names()) {
        elastic_pool_stats st{};
        int socket = SOCKET_ID_ANY;
        if (!with_pool(name, [&](const var_pool &p) {
                p.stats(st);
                socket = p.config().socket_id;
            }))
            continue; // freed meanwhile
        int node = family_node(m.families, name);
        node = stats_node(st, node >= 0 ? node : socket);
        out.push_back({node, {name, st.pinned_bytes, false}});
    }
    if (!eal_is_up()) // no mempool list without the EAL's shared configuration
        return out;
    struct walk_ctx {
        const manager &m;
        std::vector<pool_on_node> &out;
    } ctx{m, out};
    rte_mempool_walk(
        [](rte_mempool *mp, void *arg) {
            auto &c = *static_cast<walk_ctx *>(arg);
            elastic_pool_stats st{};
            if (!elastic_mempool_is_elastic(mp) || elastic_mempool_stats_get(mp, &st) != 0)
                return;
            try {
                int node = family_node(c.m.mempool_families, mp->name);
                node = stats_node(st, node >= 0 ? node : mp->socket_id);
                c.out.push_back({node, {mp->name, st.pinned_bytes, true}});
            } catch (...) {
                // out of memory: the list misses this pool
            }
        },
        &ctx);
    return out;
}

} // namespace

numa_pool_info numa_info_of_pool(const std::string &pool_name) noexcept
{
    numa_pool_info info;
    try {
        manager &m = mgr();
        {
            std::lock_guard lk(m.mu);
            const int node = family_node(m.families, pool_name);
            if (node < 0)
                return info;
            info.family = pool_name.substr(0, pool_name.rfind('@'));
            info.node = node;
        }
        node_budget_figures f;
        if (node_budget_get(info.node, f) == 0) {
            info.cap_bytes = f.cap_bytes;
            info.node_pinned_bytes = f.pinned_bytes;
        }
        elastic_pool_stats st{};
        if (with_pool(pool_name, [&](const var_pool &p) { p.stats(st); }))
            info.cap_refusals = st.nb_cap_hits;
    } catch (...) {
        info = numa_pool_info{};
    }
    return info;
}

std::vector<numa_node_view> numa_nodes_view()
{
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    std::vector<numa_node_view> v;
    if (ensure_topology(m) != 0)
        return v;
    const std::vector<pool_on_node> pools = pools_by_node(m);
    for (const auto &n : m.topo->nodes()) {
        numa_node_view nv;
        nv.node = n.id;
        nv.local_memory = n.memory;
        node_budget_get(n.id, nv.budget);
        for (const pool_on_node &p : pools)
            if (p.node == n.id)
                nv.pools.push_back(p.pool);
        v.push_back(std::move(nv));
    }
    return v;
}

const char *numa_topology_source() noexcept
{
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    if (ensure_topology(m) != 0)
        return "none";
    return topology_source_name(m.topo->from());
}

} // namespace elastic::detail

using namespace elastic::detail;

namespace elastic::detail {

// A member pool freed by itself (elastic_pool_free, rte_mempool_free) leaves its family: lookups
// for its node say ENOENT, node statistics no longer count it and the family's free does not free
// it again. Never called with the manager's lock held (creation undoes outside it).
template <class Map, class Pool>
static void forget_member(Map &families, const Pool *pool) noexcept
{
    for (auto &kv : families) {
        auto &v = kv.second->pools;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (it->pool == pool) {
                EP_LOG(INFO, "numa family %s: its pool for node %d was freed: the family has "
                       "no pool there any more", kv.first.c_str(), it->node);
                v.erase(it);
                return;
            }
        }
    }
}

void numa_forget_pool(const ::elastic_pool *pool) noexcept
{
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    forget_member(m.families, pool);
}

void numa_forget_mempool(const rte_mempool *mp) noexcept
{
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    forget_member(m.mempool_families, mp);
}

} // namespace elastic::detail

extern "C" {

int elastic_numa_topology_set(const char *synthetic) noexcept
{
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    if (!m.families.empty() || !m.mempool_families.empty())
        return fail(EBUSY);
    try {
        int err = 0;
        // Nothing changes when it fails.
        auto t = numa_topology::load(synthetic, synthetic == nullptr && eal_is_up(), &err);
        if (!t)
            return fail(-err);
        m.synthetic = synthetic != nullptr ? synthetic : "";
        m.topo = std::move(t);
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
    if (tmpl == nullptr) {
        EP_LOG(ERR, "numa family: no template");
        return fail_null<elastic_numa_family>(EINVAL);
    }
    if (bad_prefix(prefix))
        return nullptr;
    manager &m = mgr();
    std::unique_ptr<pool_family> f;
    auto undo = [&f] {
        if (f)
            for (const auto &mb : f->pools)
                elastic_pool_free(mb.pool);
    };
    try {
        std::unique_lock lk(m.mu);
        if (int err = ensure_topology(m); err != 0)
            return fail_null<elastic_numa_family>(-err);
        if (m.families.count(std::string_view(prefix)) != 0)
            return fail_null<elastic_numa_family>(EEXIST);
        f = std::make_unique<pool_family>();
        f->prefix = prefix;
        f->topo = m.topo;
        f->pools.reserve(m.topo->nodes().size());
        const bool memzones = (tmpl->flags & (ELASTIC_POOL_F_PROVIDER_HEAP |
                                              ELASTIC_POOL_F_PROVIDER_HUGETLB)) == 0;
        int err = 0;
        for (const auto &n : m.topo->nodes()) {
            const std::string name = member_name(prefix, n.id);
            elastic_pool_params p = *tmpl;
            p.name = name.c_str();
            p.socket_id = memory_socket(n.id, memzones);
            const uint64_t refused = refusals_of(n.id);
            budget_node_scope scope(n.id);
            elastic_pool *pool = elastic_pool_create(&p);
            if (pool == nullptr) {
                err = creation_errno(rte_errno, n.id, refused);
                break;
            }
            f->pools.push_back({n.id, pool});
        }
        if (err == 0) {
            pool_family *raw = f.get();
            m.families.emplace(raw->prefix, std::move(f));
            EP_LOG(DEBUG, "numa family %s: %zu pools", prefix, raw->pools.size());
            return handle(raw);
        }
        lk.unlock(); // freeing a member takes the lock (numa_forget_pool)
        undo();
        return fail_null<elastic_numa_family>(err);
    } catch (const std::exception &e) {
        EP_LOG(ERR, "numa family %s: %s", prefix, e.what());
        undo();
        return fail_null<elastic_numa_family>(ENOMEM);
    }
}

void elastic_numa_family_free(struct elastic_numa_family *fam) noexcept
{
    if (fam == nullptr)
        return;
    manager &m = mgr();
    std::unique_ptr<pool_family> owned;
    {
        std::lock_guard lk(m.mu);
        auto it = m.families.find(from(fam)->prefix);
        if (it == m.families.end() || it->second.get() != from(fam))
            return;
        owned = std::move(it->second);
        m.families.erase(it);
    }
    // Outside the manager's lock: freeing waits for a maintenance tick in progress, whose
    // callbacks may call into the manager.
    for (const auto &mb : owned->pools)
        elastic_pool_free(mb.pool);
}

struct elastic_numa_family *elastic_numa_family_lookup(const char *prefix) noexcept
{
    if (prefix == nullptr)
        return fail_null<elastic_numa_family>(EINVAL);
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    auto it = m.families.find(std::string_view(prefix));
    if (it == m.families.end())
        return fail_null<elastic_numa_family>(ENOENT);
    return handle(it->second.get());
}

struct elastic_pool *elastic_numa_pool(const struct elastic_numa_family *fam, int node) noexcept
{
    return by_node(from(fam), node);
}

struct elastic_pool *elastic_numa_pool_for_cpu(const struct elastic_numa_family *fam,
                                               unsigned cpu) noexcept
{
    return for_cpu(from(fam), cpu);
}

struct elastic_pool *elastic_numa_pool_here(const struct elastic_numa_family *fam) noexcept
{
    return here(from(fam));
}

struct elastic_pool *elastic_numa_pool_for_port(const struct elastic_numa_family *fam,
                                                uint16_t port_id) noexcept
{
    return for_port(from(fam), port_id);
}

struct elastic_pool *elastic_numa_pool_for_pci(const struct elastic_numa_family *fam,
                                               const char *busid) noexcept
{
    return for_pci(from(fam), busid);
}

struct elastic_numa_mempool_family *elastic_numa_mempool_family_create(const char *prefix,
        unsigned n_max, unsigned cache_size, uint16_t priv_size, uint16_t data_room_size,
        const struct elastic_mempool_params *params) noexcept
{
    if (bad_prefix(prefix))
        return nullptr;
    if (!eal_is_up()) {
        EP_LOG(ERR, "numa mempool family %s: the EAL is not initialised", prefix);
        return fail_null<elastic_numa_mempool_family>(ENOTSUP);
    }
    manager &m = mgr();
    std::unique_ptr<mempool_family> f;
    auto undo = [&f] {
        if (f)
            for (const auto &mb : f->pools)
                rte_mempool_free(mb.pool);
    };
    try {
        std::unique_lock lk(m.mu);
        if (int err = ensure_topology(m); err != 0)
            return fail_null<elastic_numa_mempool_family>(-err);
        if (m.mempool_families.count(std::string_view(prefix)) != 0)
            return fail_null<elastic_numa_mempool_family>(EEXIST);
        f = std::make_unique<mempool_family>();
        f->prefix = prefix;
        f->topo = m.topo;
        f->pools.reserve(m.topo->nodes().size());
        int err = 0;
        for (const auto &n : m.topo->nodes()) {
            const std::string name = member_name(prefix, n.id);
            const uint64_t refused = refusals_of(n.id);
            budget_node_scope scope(n.id);
            rte_mempool *mp = elastic_pktmbuf_pool_create(name.c_str(), n_max, cache_size,
                    priv_size, data_room_size, memory_socket(n.id, true), params);
            if (mp == nullptr) {
                err = creation_errno(rte_errno, n.id, refused);
                break;
            }
            f->pools.push_back({n.id, mp});
        }
        if (err == 0) {
            mempool_family *raw = f.get();
            m.mempool_families.emplace(raw->prefix, std::move(f));
            EP_LOG(DEBUG, "numa mempool family %s: %zu pools", prefix, raw->pools.size());
            return handle(raw);
        }
        lk.unlock(); // freeing a member takes the lock (numa_forget_mempool)
        undo();
        return fail_null<elastic_numa_mempool_family>(err);
    } catch (const std::exception &e) {
        EP_LOG(ERR, "numa mempool family %s: %s", prefix, e.what());
        undo();
        return fail_null<elastic_numa_mempool_family>(ENOMEM);
    }
}

void elastic_numa_mempool_family_free(struct elastic_numa_mempool_family *fam) noexcept
{
    if (fam == nullptr)
        return;
    manager &m = mgr();
    std::unique_ptr<mempool_family> owned;
    {
        std::lock_guard lk(m.mu);
        auto it = m.mempool_families.find(from(fam)->prefix);
        if (it == m.mempool_families.end() || it->second.get() != from(fam))
            return;
        owned = std::move(it->second);
        m.mempool_families.erase(it);
    }
    for (const auto &mb : owned->pools) // outside the lock, as elastic_numa_family_free
        rte_mempool_free(mb.pool);
}

struct elastic_numa_mempool_family *elastic_numa_mempool_family_lookup(const char *prefix) noexcept
{
    if (prefix == nullptr)
        return fail_null<elastic_numa_mempool_family>(EINVAL);
    manager &m = mgr();
    std::lock_guard lk(m.mu);
    auto it = m.mempool_families.find(std::string_view(prefix));
    if (it == m.mempool_families.end())
        return fail_null<elastic_numa_mempool_family>(ENOENT);
    return handle(it->second.get());
}

struct rte_mempool *elastic_numa_mempool(const struct elastic_numa_mempool_family *fam,
                                         int node) noexcept
{
    return by_node(from(fam), node);
}

struct rte_mempool *elastic_numa_mempool_for_cpu(const struct elastic_numa_mempool_family *fam,
                                                 unsigned cpu) noexcept
{
    return for_cpu(from(fam), cpu);
}

struct rte_mempool *elastic_numa_mempool_here(const struct elastic_numa_mempool_family *fam)
    noexcept
{
    return here(from(fam));
}

struct rte_mempool *elastic_numa_mempool_for_port(const struct elastic_numa_mempool_family *fam,
                                                  uint16_t port_id) noexcept
{
    return for_port(from(fam), port_id);
}

struct rte_mempool *elastic_numa_mempool_for_pci(const struct elastic_numa_mempool_family *fam,
                                                 const char *busid) noexcept
{
    return for_pci(from(fam), busid);
}

int elastic_numa_node_cap_set(int node, uint64_t cap_bytes) noexcept
{
    {
        manager &m = mgr();
        std::lock_guard lk(m.mu);
        if (int err = ensure_topology(m); err != 0)
            return fail(-err);
        if (m.topo->find(node) == nullptr)
            return fail(ENOENT);
    }
    const int ret = node_budget_cap_set(node, cap_bytes);
    return ret < 0 ? fail(-ret) : 0;
}

int elastic_numa_node_stats_get(int node, struct elastic_numa_node_stats *st) noexcept
{
    if (st == nullptr)
        return fail(EINVAL);
    try {
        for (const numa_node_view &v : numa_nodes_view()) {
            if (v.node != node)
                continue;
            *st = elastic_numa_node_stats{};
            st->node = node;
            for (const numa_node_pool &p : v.pools) {
                st->nb_pools++;
                st->nb_mempools += p.mempool;
            }
            st->cap_bytes = v.budget.cap_bytes;
            st->pinned_bytes = v.budget.pinned_bytes;
            st->cap_refusals = v.budget.refusals;
            st->local_memory = v.local_memory;
            return 0;
        }
    } catch (const std::bad_alloc &) {
        return fail(ENOMEM);
    }
    return fail(ENOENT);
}

} // extern "C"
