// SPDX-License-Identifier: BSD-3-Clause
// The per-NUMA-node manager (public face: elastic_numa.h). The topology comes from the EAL when it
// runs (its sockets), from hwloc otherwise (the machine's, or a synthetic one for tests, which
// wins over the EAL); hwloc always gives the cpus, the memory and the PCI locality of the nodes.
// Families hold one pool per node, of either face. Node budgets (budget.cpp, interface in
// budget.hpp) cap the bytes pinned per node by every pool of both faces.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct elastic_pool;
struct rte_mempool;

namespace elastic::detail {

// A member pool freed on its own leaves its family (elastic_pool_free, the mempool ops' free).
void numa_forget_pool(const ::elastic_pool *pool) noexcept;
void numa_forget_mempool(const rte_mempool *mp) noexcept;

// An immutable snapshot of the topology. Shared by the families made from it.
class numa_topology {
public:
    enum class source { hwloc, eal, synthetic };
    struct node {
        int id;                    // OS node number = DPDK socket id
        std::vector<unsigned> cpus; // OS cpu numbers
        uint64_t memory;           // local memory, bytes (0 when unknown)
    };

    // The machine's topology (with PCI devices) or a synthetic one. With `eal` (the EAL is up,
    // no synthetic description) the nodes are the EAL's sockets. nullptr with *err = -errno.
    static std::shared_ptr<const numa_topology> load(const char *synthetic, bool eal,
                                                     int *err) noexcept;
    ~numa_topology();
    numa_topology(const numa_topology &) = delete;
    numa_topology &operator=(const numa_topology &) = delete;

    const std::vector<node> &nodes() const noexcept { return nodes_; }
    const node *find(int id) const noexcept;
    int node_of_cpu(unsigned cpu) const noexcept; // -ENOENT
    int node_of_pci(const char *busid) const noexcept; // -ENOENT, -ENODATA
    bool synthetic() const noexcept { return source_ == source::synthetic; }
    source from() const noexcept { return source_; }

private:
    numa_topology() = default;
    void *topo_ = nullptr; // hwloc_topology_t
    source source_ = source::hwloc;
    std::vector<node> nodes_;
    std::map<unsigned, int> cpu_node_;
};

const char *topology_source_name(numa_topology::source s) noexcept;

// What telemetry shows of a pool that belongs to a family (node -1 otherwise).
struct numa_pool_info {
    std::string family;
    int node = -1;
    uint64_t cap_bytes = 0;
    uint64_t node_pinned_bytes = 0; // every pool of both faces on the node
    uint64_t cap_refusals = 0;      // of this pool (its nb_cap_hits)
};
numa_pool_info numa_info_of_pool(const std::string &pool_name) noexcept;

// ---- node budget table (budget.cpp), beyond what the ledger calls (budget.hpp) ----

struct node_budget_figures {
    uint64_t cap_bytes = 0;    // 0 = no cap
    uint64_t pinned_bytes = 0; // admitted and not given back, every pool of both faces
    uint64_t refusals = 0;     // admissions the cap refused
};
// 0, or -ENOENT for a node the table cannot hold (< 0 or >= RTE_MAX_NUMA_NODES).
int node_budget_cap_set(int node, uint64_t cap_bytes) noexcept;
int node_budget_get(int node, node_budget_figures &out) noexcept;
// Whether this process's table is the memzone shared with the other processes of the group.
bool node_budget_shared() noexcept;

// While it lives, node_budget_resolve(SOCKET_ID_ANY) on this thread answers `node`: a family
// creates its pool for a node the EAL has no memory on (a synthetic topology larger than the
// machine) with SOCKET_ID_ANY memory, kept on that node's budget.
class budget_node_scope {
public:
    explicit budget_node_scope(int node) noexcept;
    ~budget_node_scope();
    budget_node_scope(const budget_node_scope &) = delete;
    budget_node_scope &operator=(const budget_node_scope &) = delete;

private:
    int saved_;
};

// ---- what telemetry (numa_telemetry.cpp) shows per node ----

struct numa_node_pool {
    std::string name;
    uint64_t pinned_bytes = 0;
    bool mempool = false; // face: elastic mempool, else variable-size pool
};
struct numa_node_view {
    int node = -1;
    uint64_t local_memory = 0;
    node_budget_figures budget;
    std::vector<numa_node_pool> pools; // this process's pools of both faces on the node
};
// Every node of the topology; empty when it cannot be read. May throw std::bad_alloc.
std::vector<numa_node_view> numa_nodes_view();
const char *numa_topology_source() noexcept; // "eal", "hwloc", "synthetic" or "none"

} // namespace elastic::detail
