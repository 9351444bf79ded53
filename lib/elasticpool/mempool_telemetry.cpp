// SPDX-License-Identifier: BSD-3-Clause
// The elastic mempools in the /elastic/list and /elastic/info,<name> telemetry commands: the
// driver fills the hook of lib/elasticpool/telemetry.hpp at load time. Both walk the mempool
// list with rte_mempool_walk, which holds the list's read lock: a pool freed meanwhile by the
// process that created it (rte_mempool_free takes the write lock first) is never read after.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <rte_common.h>
#include <rte_mempool.h>
#include <rte_telemetry.h>

#include "mempool_face.hpp"
#include "maintenance.hpp"
#include "telemetry.hpp"

namespace elastic::detail::emp {

namespace {

// A mempool's name as telemetry shows it. Explicit pools' names are checked at creation, but a
// drop-in pool is named by the application: bytes outside printable ASCII, '"', '\\' and '%' are
// percent-encoded ("caf%C3%A9"), so that one odd name cannot make the JSON of every command
// invalid (DPDK 22.11 writes strings as they are). /elastic/info takes either form.
struct shown_name {
    char s[3 * RTE_MEMPOOL_NAMESIZE + 1];
    explicit shown_name(const char *name) noexcept
    {
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;
        for (size_t i = 0; i < RTE_MEMPOOL_NAMESIZE && name[i] != '\0'; i++) {
            const auto c = static_cast<unsigned char>(name[i]);
            if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '%') {
                s[o++] = '%';
                s[o++] = hex[c >> 4];
                s[o++] = hex[c & 15];
            } else {
                s[o++] = char(c);
            }
        }
        s[o] = '\0';
    }
};


constexpr uint32_t max_chunks_listed = 128; // well inside the 16 KiB telemetry buffer

const char *limit_name(uint32_t l) noexcept
{
    switch (l) {
    case ELASTIC_LIMIT_WALL: return "wall";
    case ELASTIC_LIMIT_NODE_CAP: return "node_cap";
    case ELASTIC_LIMIT_PROVIDER: return "provider";
    case ELASTIC_LIMIT_HOOK: return "hook";
    case ELASTIC_LIMIT_GUARD: return "guard";
    default: return "none";
    }
}

void add_u64(rte_tel_data *d, const char *k, uint64_t v) noexcept
{
    rte_tel_data_add_dict_u64(d, k, v);
}

// An array (u64 or string) of one field of each chunk, added to `d` under `key`.
template <class F>
void add_chunk_u64(rte_tel_data *d, const char *key, const chunk_view *c, uint32_t n,
                   F field) noexcept
{
    rte_tel_data *a = rte_tel_data_alloc();
    if (a == nullptr)
        return;
    rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
    for (uint32_t i = 0; i < n; i++)
        rte_tel_data_add_array_u64(a, field(c[i]));
    if (rte_tel_data_add_dict_container(d, key, a, 0) != 0)
        rte_tel_data_free(a);
}

void add_chunk_states(rte_tel_data *d, const chunk_view *c, uint32_t n) noexcept
{
    rte_tel_data *a = rte_tel_data_alloc();
    if (a == nullptr)
        return;
    rte_tel_data_start_array(a, RTE_TEL_STRING_VAL);
    for (uint32_t i = 0; i < n; i++)
        rte_tel_data_add_array_string(a, c[i].retiring ? "retiring" : "active");
    if (rte_tel_data_add_dict_container(d, "chunk_state", a, 0) != 0)
        rte_tel_data_free(a);
}

void fill_info(rte_mempool *mp, rte_tel_data *d) noexcept
{
    pool_state *s = state_of(mp);
    elastic_pool_stats st;
    elastic_mempool_xstats xs;
    fill_stats(s, &st, &xs);
    chunk_view views[max_chunks_listed];
    const uint32_t nb = chunk_views(s, views, max_chunks_listed);
    const uint32_t listed = std::min(nb, max_chunks_listed);

    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "kind", "mempool");
    rte_tel_data_add_dict_string(d, "name", shown_name(mp->name).s);
    rte_tel_data_add_dict_int(d, "socket_id", mp->socket_id);
    rte_tel_data_add_dict_string(d, "mode", s->explicit_mode ? "explicit"
                                 : s->lazy ? "drop-in lazy" : "drop-in full");
    add_u64(d, "flags", s->flags);
    add_u64(d, "size", mp->size);
    add_u64(d, "elt_size", mp->elt_size);
    add_u64(d, "obj_bytes", s->total_elt);
    add_u64(d, "cache_size", mp->cache_size);
    add_u64(d, "pinned_bytes", st.pinned_bytes);
    add_u64(d, "peak_pinned_bytes", st.peak_pinned_bytes);
    add_u64(d, "in_use_bytes", st.in_use_bytes);
    add_u64(d, "peak_in_use_bytes", st.peak_in_use_bytes);
    add_u64(d, "in_use_objs", xs.populated - xs.free_objs - xs.parked_objs);
    add_u64(d, "peak_in_use_objs", st.peak_in_use_bytes / std::max<uint64_t>(s->total_elt, 1));
    add_u64(d, "populated", xs.populated);
    add_u64(d, "free_objs", xs.free_objs);
    add_u64(d, "parked_objs", xs.parked_objs);
    add_u64(d, "base_size", st.base_size);
    add_u64(d, "chunk_size", st.chunk_size);
    add_u64(d, "wall_size", st.wall_size);
    add_u64(d, "nb_chunks", st.nb_chunks);
    add_u64(d, "nb_grows", st.nb_grows);
    add_u64(d, "nb_grow_datapath", xs.nb_grow_datapath);
    add_u64(d, "nb_grow_maintenance", xs.nb_grow_maintenance);
    add_u64(d, "nb_grow_fail", st.nb_grow_fail);
    add_u64(d, "nb_shrinks", st.nb_shrinks);
    add_u64(d, "nb_retire", xs.nb_retire);
    add_u64(d, "nb_unretire", xs.nb_unretire);
    add_u64(d, "nb_allocs", st.nb_allocs);
    add_u64(d, "nb_frees", st.nb_frees);
    add_u64(d, "nb_alloc_fail", st.nb_alloc_fail);
    add_u64(d, "nb_wall_hits", st.nb_wall_hits);
    add_u64(d, "nb_samples", st.nb_samples);
    add_u64(d, "grow_ns_total", st.grow_ns_total);
    add_u64(d, "grow_ns_max", xs.grow_ns_max);
    add_u64(d, "guarded", xs.guarded);
    add_u64(d, "guard_port", xs.guard_port);
    add_u64(d, "nb_hook_veto", xs.nb_hook_veto);
    add_u64(d, "nb_guard_refusals", xs.nb_guard_refusals);
    rte_tel_data_add_dict_string(d, "limit_hit", limit_name(st.last_limit));
    add_u64(d, "retiring", xs.retiring);
    add_u64(d, "tick_ms", s->tick_ns / ns_per_ms);
    const ledger_config &lc = s->led->config(); // fixed at creation
    add_u64(d, "sample_period_ms", lc.sample_ns / ns_per_ms);
    add_u64(d, "idle_period_ms", lc.idle_ns / ns_per_ms);
    add_u64(d, "headroom_chunks", lc.headroom);
    rte_tel_data_add_dict_string(d, "policy", lc.adaptive ? "adaptive" : "patent");
    rte_tel_data_add_dict_int(d, "node", st.node);
    add_u64(d, "nb_cap_hits", st.nb_cap_hits);
    elastic_pool_sizing sz;
    sizing(s, &sz);
    add_u64(d, "peak_demand_bytes", sz.peak_demand_bytes);
    add_u64(d, "recommended_base", sz.recommended_base);
    add_u64(d, "recommended_wall", sz.recommended_wall);
    add_u64(d, "low_watermark", s->low_wm);
    // 1: this process ticks it through the maintenance service (automatic ticks)
    add_u64(d, "maintained", maint_registered(s) ? 1 : 0);
    add_u64(d, "chunks_listed", listed);
    add_chunk_u64(d, "chunk_sizes", views, listed, [](const chunk_view &c) { return c.bytes; });
    add_chunk_u64(d, "chunk_objs", views, listed,
                  [](const chunk_view &c) { return uint64_t{c.objs}; });
    add_chunk_u64(d, "chunk_in_use", views, listed,
                  [](const chunk_view &c) { return uint64_t{c.in_use}; });
    add_chunk_states(d, views, listed);
    add_chunk_u64(d, "chunk_idle_ms", views, listed,
                  [](const chunk_view &c) { return c.idle_ns / ns_per_ms; });
}

void list_cb(rte_mempool *mp, void *arg) noexcept
{
    if (elastic_mempool_is_elastic(mp))
        rte_tel_data_add_array_string(static_cast<rte_tel_data *>(arg), shown_name(mp->name).s);
}

void list(rte_tel_data *array) noexcept
{
    rte_mempool_walk(list_cb, array);
}

struct info_req {
    const char *name;
    rte_tel_data *d;
    bool found;
};

void info_cb(rte_mempool *mp, void *arg) noexcept
{
    auto *r = static_cast<info_req *>(arg);
    if (r->found ||
        (strncmp(mp->name, r->name, RTE_MEMPOOL_NAMESIZE) != 0 &&
         strcmp(shown_name(mp->name).s, r->name) != 0) ||
        !elastic_mempool_is_elastic(mp))
        return;
    r->found = true;
    fill_info(mp, r->d);
}

int info(const char *name, rte_tel_data *d) noexcept
{
    info_req r{name, d, false};
    rte_mempool_walk(info_cb, &r);
    return r.found ? 0 : -ENOENT;
}

} // namespace

} // namespace elastic::detail::emp

RTE_INIT(elastic_mempool_telemetry_init)
{
    elastic::detail::register_mempool_telemetry(elastic::detail::emp::list,
                                                elastic::detail::emp::info);
}
