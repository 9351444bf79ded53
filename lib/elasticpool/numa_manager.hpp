// SPDX-License-Identifier: BSD-3-Clause
// The per-NUMA-node manager (public face: elastic_numa.h). The topology comes from hwloc (the
// machine's, or a synthetic one for tests); families hold one pool per node; node budgets cap
// the bytes pinned per node through the pools' growth gate (gate.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace elastic::detail {

// An immutable snapshot of the topology. Shared by the families made from it.
class numa_topology {
public:
    struct node {
        int id;                    // OS node number = DPDK socket id
        std::vector<unsigned> cpus; // OS cpu numbers
        uint64_t memory;           // local memory, bytes (0 when unknown)
    };

    // The machine's topology (with PCI devices) or a synthetic one. nullptr with *err = -errno.
    static std::shared_ptr<const numa_topology> load(const char *synthetic, int *err) noexcept;
    ~numa_topology();
    numa_topology(const numa_topology &) = delete;
    numa_topology &operator=(const numa_topology &) = delete;

    const std::vector<node> &nodes() const noexcept { return nodes_; }
    const node *find(int id) const noexcept;
    int node_of_cpu(unsigned cpu) const noexcept; // -ENOENT
    int node_of_pci(const char *busid) const noexcept; // -ENOENT, -ENODATA
    bool synthetic() const noexcept { return synthetic_; }

private:
    numa_topology() = default;
    void *topo_ = nullptr; // hwloc_topology_t
    bool synthetic_ = false;
    std::vector<node> nodes_;
    std::map<unsigned, int> cpu_node_;
};

// What telemetry shows of a pool that belongs to a family (node -1 otherwise).
struct numa_pool_info {
    std::string family;
    int node = -1;
    uint64_t cap_bytes = 0;
    uint64_t node_pinned_bytes = 0;
    uint64_t cap_refusals = 0; // of this pool
};
numa_pool_info numa_info_of_pool(const std::string &pool_name) noexcept;

} // namespace elastic::detail
