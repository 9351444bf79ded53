// SPDX-License-Identifier: BSD-3-Clause
// DPDK telemetry commands, registered once at load time:
//   /elastic/list              {"pools": [variable-size pools], "mempools": [elastic mempools]}
//   /elastic/info,<name>       one pool: sizes, counters, chunks, the limit it ran into, the
//                              periods and the sizing report; a variable-size pool of that name
//                              first, else an elastic mempool (asked through the driver's hook,
//                              telemetry.hpp); "kind" says which
//   /elastic/maintenance       what drives the maintenance passes
// Read them with dpdk-telemetry.py -f <file-prefix> (see docs/operations.md).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <rte_common.h>
#include <rte_lcore.h>
#include <rte_telemetry.h>

#include "elasticpool.h"
#include "maintenance.hpp"
#include "numa_manager.hpp"
#include "pool.hpp"
#include "registry.hpp"
#include "telemetry.hpp"

namespace elastic::detail {

namespace {

constexpr size_t max_chunks_listed = 128; // keeps a reply well inside the 16 KiB telemetry buffer

std::atomic<mempool_list_fn> mempool_list{nullptr};
std::atomic<mempool_info_fn> mempool_info{nullptr};

const char *provider_of(const pool_config &c)
{
    return provider_name(c.provider);
}

// The limit that stopped the pool's last refused growth.
const char *limit_hit(const elastic_pool_stats &st)
{
    switch (st.last_limit) {
    case ELASTIC_LIMIT_WALL: return "wall";
    case ELASTIC_LIMIT_NODE_CAP: return "node_cap";
    case ELASTIC_LIMIT_PROVIDER: return "provider";
    case ELASTIC_LIMIT_HOOK: return "hook";
    default: return "none";
    }
}

void add_u64(rte_tel_data *d, const char *k, uint64_t v) { rte_tel_data_add_dict_u64(d, k, v); }

// Adds an array of u64 under `key`; the container is owned by `d` afterwards.
template <class F>
void add_chunk_array(rte_tel_data *d, const char *key, const std::vector<var_pool::chunk_info> &c,
                     F field)
{
    rte_tel_data *a = rte_tel_data_alloc();
    if (a == nullptr)
        return;
    rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
    for (const auto &ci : c)
        rte_tel_data_add_array_u64(a, field(ci));
    if (rte_tel_data_add_dict_container(d, key, a, 0) != 0)
        rte_tel_data_free(a);
}

int cmd_list(const char *, const char *, rte_tel_data *d) noexcept
{
    try {
        rte_tel_data_start_dict(d);
        rte_tel_data *pools = rte_tel_data_alloc();
        if (pools == nullptr)
            return -ENOMEM;
        rte_tel_data_start_array(pools, RTE_TEL_STRING_VAL);
        for (const std::string &n : pool_names())
            rte_tel_data_add_array_string(pools, n.c_str());
        if (rte_tel_data_add_dict_container(d, "pools", pools, 0) != 0) {
            rte_tel_data_free(pools);
            return -ENOMEM;
        }
        rte_tel_data *mempools = rte_tel_data_alloc();
        if (mempools == nullptr)
            return -ENOMEM;
        rte_tel_data_start_array(mempools, RTE_TEL_STRING_VAL);
        if (const mempool_list_fn fn = mempool_list.load())
            fn(mempools);
        if (rte_tel_data_add_dict_container(d, "mempools", mempools, 0) != 0) {
            rte_tel_data_free(mempools);
            return -ENOMEM;
        }
        return 0;
    } catch (...) {
        return -ENOMEM;
    }
}

int cmd_info(const char *, const char *params, rte_tel_data *d) noexcept
{
    if (params == nullptr || params[0] == '\0')
        return -EINVAL;
    try {
        elastic_pool_stats st{};
        elastic_pool_sizing sz{};
        std::vector<var_pool::chunk_info> chunks(max_chunks_listed);
        size_t nb_chunks = 0;
        std::string name, provider;
        int socket = SOCKET_ID_ANY;
        uint64_t tick = 0, sample = 0, idle = 0;
        uint32_t headroom = 0, flags = 0;
        const bool found = with_pool(params, [&](const var_pool &p) {
            p.stats(st);
            p.sizing(sz);
            nb_chunks = p.chunk_infos(chunks.data(), chunks.size(), nullptr);
            const pool_config &c = p.config();
            name = c.name;
            provider = provider_of(c);
            socket = c.socket_id;
            tick = c.tick_ns;
            sample = c.sample_ns;
            idle = c.idle_ns;
            headroom = c.headroom;
            flags = c.flags;
        });
        if (!found) {
            const mempool_info_fn fn = mempool_info.load();
            return fn != nullptr && fn(params, d) == 0 ? 0 : -EINVAL;
        }
        chunks.resize(std::min(nb_chunks, chunks.size()));
        const numa_pool_info ni = numa_info_of_pool(name);

        rte_tel_data_start_dict(d);
        rte_tel_data_add_dict_string(d, "kind", "pool");
        rte_tel_data_add_dict_string(d, "name", name.c_str());
        rte_tel_data_add_dict_int(d, "socket_id", socket);
        rte_tel_data_add_dict_string(d, "provider", provider.c_str());
        add_u64(d, "flags", flags);
        add_u64(d, "pinned_bytes", st.pinned_bytes);
        add_u64(d, "peak_pinned_bytes", st.peak_pinned_bytes);
        add_u64(d, "in_use_bytes", st.in_use_bytes);
        add_u64(d, "peak_in_use_bytes", st.peak_in_use_bytes);
        add_u64(d, "thread_cached_bytes", st.thread_cached_bytes);
        add_u64(d, "base_size", st.base_size);
        add_u64(d, "chunk_size", st.chunk_size);
        add_u64(d, "wall_size", st.wall_size);
        add_u64(d, "max_buf_size", st.max_buf_size);
        add_u64(d, "nb_chunks", st.nb_chunks);
        add_u64(d, "nb_waiters", st.nb_waiters);
        add_u64(d, "nb_grows", st.nb_grows);
        add_u64(d, "nb_grows_ahead", st.nb_grows_ahead);
        add_u64(d, "nb_shrinks", st.nb_shrinks);
        add_u64(d, "nb_allocs", st.nb_allocs);
        add_u64(d, "nb_frees", st.nb_frees);
        add_u64(d, "nb_alloc_fail", st.nb_alloc_fail);
        add_u64(d, "nb_queued", st.nb_queued);
        add_u64(d, "nb_grow_fail", st.nb_grow_fail);
        add_u64(d, "nb_wall_hits", st.nb_wall_hits);
        add_u64(d, "nb_cap_hits", st.nb_cap_hits);
        add_u64(d, "nb_hook_vetoes", st.nb_hook_vetoes);
        add_u64(d, "nb_samples", st.nb_samples);
        add_u64(d, "grow_ns_total", st.grow_ns_total);
        rte_tel_data_add_dict_string(d, "limit_hit", limit_hit(st));
        if (ni.node >= 0) {
            rte_tel_data_add_dict_string(d, "numa_family", ni.family.c_str());
            rte_tel_data_add_dict_int(d, "numa_node", ni.node);
            add_u64(d, "node_cap_bytes", ni.cap_bytes);
            add_u64(d, "node_pinned_bytes", ni.node_pinned_bytes);
            add_u64(d, "node_cap_refusals", ni.cap_refusals);
        }
        add_u64(d, "tick_ms", tick / 1'000'000);
        add_u64(d, "sample_period_ms", sample / 1'000'000);
        add_u64(d, "idle_period_ms", idle / 1'000'000);
        add_u64(d, "headroom_chunks", headroom);
        add_u64(d, "chunks_listed", chunks.size());
        add_chunk_array(d, "chunk_sizes", chunks, [](const auto &c) { return uint64_t(c.size); });
        add_chunk_array(d, "chunk_in_use", chunks, [](const auto &c) { return c.in_use; });
        add_chunk_array(d, "chunk_free_bytes", chunks,
                        [](const auto &c) { return uint64_t(c.free_bytes); });
        add_chunk_array(d, "chunk_idle_ms", chunks,
                        [](const auto &c) { return c.idle_ns / 1'000'000; });
        add_u64(d, "sizing_peak_in_use_bytes", sz.peak_in_use_bytes);
        add_u64(d, "sizing_peak_demand_bytes", sz.peak_demand_bytes);
        add_u64(d, "sizing_window_peak_bytes", sz.window_peak_bytes);
        add_u64(d, "sizing_floor_demand_bytes", sz.floor_demand_bytes);
        add_u64(d, "sizing_recommended_base", sz.recommended_base);
        add_u64(d, "sizing_recommended_wall", sz.recommended_wall);
        add_u64(d, "sizing_static_bytes", sz.static_bytes);
        add_u64(d, "sizing_hugepages_2m", sz.hugepages_2m);
        add_u64(d, "sizing_socket_mem_mb", sz.socket_mem_mb);
        add_u64(d, "sizing_epochs", sz.epochs);
        return 0;
    } catch (...) {
        return -ENOMEM;
    }
}

int cmd_maintenance(const char *, const char *, rte_tel_data *d) noexcept
{
    const maint_info i = maintenance_info();
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "driver", maint_driver_name(i.driver));
    add_u64(d, "pools", i.members);
    add_u64(d, "passes", i.passes);
    add_u64(d, "period_us", i.period_ns / 1000);
    rte_tel_data_add_dict_int(d, "service_id", i.service_id);
    rte_tel_data_add_dict_int(d, "service_lcore", i.service_lcore);
    rte_tel_data_add_dict_int(d, "last_lcore",
                              i.last_lcore == LCORE_ID_ANY ? -1 : int(i.last_lcore));
    return 0;
}

} // namespace

void register_mempool_telemetry(mempool_list_fn list, mempool_info_fn info) noexcept
{
    mempool_list.store(list);
    mempool_info.store(info);
}

} // namespace elastic::detail

RTE_INIT(elastic_telemetry_init)
{
    using namespace elastic::detail;
    rte_telemetry_register_cmd("/elastic/list", cmd_list,
                               "Names of the elastic pools and elastic mempools. No parameters");
    rte_telemetry_register_cmd("/elastic/info", cmd_info,
                               "One elastic pool: sizes, counters, chunks, limit hit, periods, "
                               "sizing report. Parameter: pool name");
    rte_telemetry_register_cmd("/elastic/maintenance", cmd_maintenance,
                               "What drives the elastic maintenance passes. No parameters");
}
