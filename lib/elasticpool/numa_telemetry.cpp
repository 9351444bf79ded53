// SPDX-License-Identifier: BSD-3-Clause
// Telemetry of the per-NUMA manager, registered once at load time:
//   /elastic/nodes        every node of the topology: cap, pinned bytes and refusals of its node
//                         budget, local memory, how many pools of both faces are on it
//   /elastic/node,<n>     one node: the same figures, and its pools of both faces with the bytes
//                         each has pinned
// Replies use one level of containers (arrays in the reply's dict): DPDK 22.11 renders no
// deeper nesting reliably, and pool names (with '@') are not valid dict keys in later releases.
#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include <rte_common.h>
#include <rte_telemetry.h>

#include "numa_manager.hpp"

namespace elastic::detail {

namespace {

void add_u64(rte_tel_data *d, const char *k, uint64_t v) { rte_tel_data_add_dict_u64(d, k, v); }

// An array container of `type`, filled by fill(array), added under `key`; false when out of
// memory (the reply is then incomplete and the command fails).
template <class F>
bool add_array(rte_tel_data *d, const char *key, rte_tel_value_type type, F fill)
{
    rte_tel_data *a = rte_tel_data_alloc();
    if (a == nullptr)
        return false;
    rte_tel_data_start_array(a, type);
    fill(a);
    if (rte_tel_data_add_dict_container(d, key, a, 0) != 0) {
        rte_tel_data_free(a);
        return false;
    }
    return true;
}

template <class T, class F>
bool add_u64_array(rte_tel_data *d, const char *key, const std::vector<T> &v, F field)
{
    return add_array(d, key, RTE_TEL_U64_VAL, [&](rte_tel_data *a) {
        for (size_t i = 0; i < v.size() && i < RTE_TEL_MAX_ARRAY_ENTRIES; i++)
            rte_tel_data_add_array_u64(a, field(v[i]));
    });
}

void add_common(rte_tel_data *d)
{
    rte_tel_data_add_dict_string(d, "topology", numa_topology_source());
    // "shared": the memzone every process of the group admits against; "process": this
    // process's own table (no EAL when budgets were first used).
    rte_tel_data_add_dict_string(d, "budgets", node_budget_shared() ? "shared" : "process");
}

int cmd_nodes(const char *, const char *, rte_tel_data *d) noexcept
{
    try {
        const std::vector<numa_node_view> v = numa_nodes_view();
        rte_tel_data_start_dict(d);
        add_common(d);
        const bool ok =
            add_array(d, "nodes", RTE_TEL_INT_VAL,
                      [&](rte_tel_data *a) {
                          for (size_t i = 0; i < v.size() && i < RTE_TEL_MAX_ARRAY_ENTRIES; i++)
                              rte_tel_data_add_array_int(a, v[i].node);
                      }) &&
            add_u64_array(d, "cap_bytes", v, [](const auto &n) { return n.budget.cap_bytes; }) &&
            add_u64_array(d, "pinned_bytes", v,
                          [](const auto &n) { return n.budget.pinned_bytes; }) &&
            add_u64_array(d, "cap_refusals", v, [](const auto &n) { return n.budget.refusals; }) &&
            add_u64_array(d, "local_memory", v, [](const auto &n) { return n.local_memory; }) &&
            add_u64_array(d, "nb_pools", v, [](const auto &n) { return uint64_t(n.pools.size()); });
        return ok ? 0 : -ENOMEM;
    } catch (...) {
        return -ENOMEM;
    }
}

int cmd_node(const char *, const char *params, rte_tel_data *d) noexcept
{
    if (params == nullptr || params[0] == '\0')
        return -EINVAL;
    char *end = nullptr;
    const long node = std::strtol(params, &end, 10);
    if (*end != '\0' || node < 0 || node >= RTE_MAX_NUMA_NODES)
        return -EINVAL;
    try {
        for (const numa_node_view &n : numa_nodes_view()) {
            if (n.node != node)
                continue;
            std::vector<numa_node_pool> pools, mempools;
            for (const numa_node_pool &p : n.pools)
                (p.mempool ? mempools : pools).push_back(p);
            rte_tel_data_start_dict(d);
            add_common(d);
            rte_tel_data_add_dict_int(d, "node", n.node);
            add_u64(d, "cap_bytes", n.budget.cap_bytes);
            add_u64(d, "pinned_bytes", n.budget.pinned_bytes);
            add_u64(d, "cap_refusals", n.budget.refusals);
            add_u64(d, "local_memory", n.local_memory);
            auto names = [](const std::vector<numa_node_pool> &v) {
                return [&v](rte_tel_data *a) {
                    for (size_t i = 0; i < v.size() && i < RTE_TEL_MAX_ARRAY_ENTRIES; i++)
                        rte_tel_data_add_array_string(a, v[i].name.c_str());
                };
            };
            auto pinned = [](const numa_node_pool &p) { return p.pinned_bytes; };
            const bool ok = add_array(d, "pools", RTE_TEL_STRING_VAL, names(pools)) &&
                            add_u64_array(d, "pools_pinned_bytes", pools, pinned) &&
                            add_array(d, "mempools", RTE_TEL_STRING_VAL, names(mempools)) &&
                            add_u64_array(d, "mempools_pinned_bytes", mempools, pinned);
            return ok ? 0 : -ENOMEM;
        }
        return -EINVAL; // no such node
    } catch (...) {
        return -ENOMEM;
    }
}

} // namespace

} // namespace elastic::detail

RTE_INIT(elastic_numa_telemetry_init)
{
    using namespace elastic::detail;
    rte_telemetry_register_cmd("/elastic/nodes", cmd_nodes,
                               "NUMA nodes: node budget (cap, pinned, refusals), local memory, "
                               "pools on each. No parameters");
    rte_telemetry_register_cmd("/elastic/node", cmd_node,
                               "One NUMA node: its budget and its pools of both faces with their "
                               "pinned bytes. Parameter: node number");
}
