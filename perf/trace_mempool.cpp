// SPDX-License-Identifier: BSD-3-Clause
// Trace replay against an elastic mempool (issue 12): the same trace, clock and metrics as
// trace_lib.cpp's variable-size replay, but the pool is the other face of the one ledger, an
// elastic mempool of fixed-size objects (elastic_mempool_create, ops "elastic"). Needs the EAL
// (elastic-trace-eval --face mempool starts it, without hugepages).
//
// Mapping: a request of `size` bytes takes ceil(size / obj_size) objects in one
// rte_mempool_get_bulk (all or nothing) and its free puts them back. The pool: n_max =
// wall / (obj_size + header) objects, likewise base_objs and chunk_objs (static: base = n_max),
// per-lcore cache 0, manual ticks on the simulated clock, no low-watermark growth
// (the var-size replay has none either; the adaptive and break-even rules grow ahead on their
// own). Pinned bytes are the ledger's (chunk bytes, object headers included, so a little more
// than the var-size pool's for the same trace).
// Differences in the metrics: a mempool has no queue, so a get the pool cannot serve (the wall)
// is `failed` (a drop) and `queued` stays 0; stalls are chunks added by a get that found the
// pool dry (xstats nb_grow_datapath).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <elastic_mempool.h>
#include <rte_errno.h>
#include <rte_mempool.h>

#include "trace_lib.hpp"

namespace elastic::trace {

namespace {

struct sim_clock {
    uint64_t ms = 0;
    static uint64_t read(void *ctx) noexcept { return static_cast<sim_clock *>(ctx)->ms * 1'000'000; }
};

} // namespace

int evaluate_mempool(const trace &tr, const eval_config &cfg, uint32_t obj_size, metrics &out,
                     std::string &err)
{
    if (cfg.pol == policy::optimum) {
        offline_optimum(tr, cfg, out, obj_size);
        return 0;
    }
    if (obj_size == 0 || cfg.tick_ms == 0) {
        err = "object size and tick must be > 0";
        return -EINVAL;
    }
    static std::atomic<unsigned> seq{0};
    const std::string name = "trmp" + std::to_string(seq.fetch_add(1));
    sim_clock clk;
    elastic_mempool_params p;
    elastic_mempool_params_init(&p);
    // Objects in base, chunk and wall: their bytes over the object's size with its header, so
    // that the chunks hold the same bytes as the variable-size pool's.
    const uint64_t total = uint64_t(obj_size) + RTE_CACHE_LINE_SIZE;
    const unsigned n_max = unsigned(cfg.wall / total);
    p.base_objs = cfg.pol == policy::static_wall ? n_max : unsigned(cfg.base / total);
    p.chunk_objs = std::max<unsigned>(1, unsigned(cfg.chunk / total));
    p.tick_ms = cfg.tick_ms;
    p.sample_period_ms = cfg.sample_ms;
    p.idle_period_ms = cfg.idle_ms;
    p.headroom_chunks = cfg.headroom;
    p.low_watermark = 0;
    p.flags = ELASTIC_MEMPOOL_F_MANUAL_TICK | ELASTIC_MEMPOOL_F_NO_PREGROW;
    if (cfg.pol == policy::adaptive)
        p.flags |= ELASTIC_MEMPOOL_F_ADAPTIVE;
    if (cfg.pol == policy::breakeven)
        p.flags |= ELASTIC_MEMPOOL_F_BREAKEVEN;
    p.clock = &sim_clock::read;
    p.clock_ctx = &clk;
    rte_mempool *mp = elastic_mempool_create(name.c_str(), n_max, obj_size, 0, 0, nullptr,
                                             nullptr, nullptr, nullptr, SOCKET_ID_ANY,
                                             RTE_MEMPOOL_F_NO_SPREAD, &p);
    if (mp == nullptr) {
        const int e = rte_errno;
        err = std::string("elastic_mempool_create (") + policy_name(cfg.pol) + "): " +
              rte_strerror(e);
        return -e;
    }

    metrics m;
    m.pol = cfg.pol;
    std::vector<std::vector<void *>> held(tr.sizes.size());
    std::vector<uint8_t> failed(tr.sizes.size(), 0);
    elastic_pool_stats st{};
    elastic_mempool_xstats xs{};
    elastic_mempool_stats_get(mp, &st);
    elastic_mempool_xstats_get(mp, &xs);
    bool shrunk = false;
    uint64_t last_shrink_ms = 0, last_tick_ms = 0;
    auto observe = [&](bool request_path, bool tick) {
        elastic_pool_stats now;
        elastic_mempool_xstats xnow;
        elastic_mempool_stats_get(mp, &now);
        elastic_mempool_xstats_get(mp, &xnow);
        const uint64_t grows = now.nb_grows - st.nb_grows;
        if (now.nb_shrinks != st.nb_shrinks) {
            shrunk = true;
            last_shrink_ms = clk.ms;
        }
        if (grows > 0 && shrunk && clk.ms - last_shrink_ms < cfg.idle_ms)
            m.regrows_within_idle += grows;
        if (request_path)
            m.stalls += xnow.nb_grow_datapath - xs.nb_grow_datapath;
        if (cfg.timeline && (tick || now.pinned_bytes != st.pinned_bytes))
            cfg.timeline(clk.ms, now.pinned_bytes, now.in_use_bytes);
        st = now;
        xs = xnow;
    };
    auto integrate = [&](uint64_t to) {
        m.pinned_byte_ms += st.pinned_bytes * (to - clk.ms);
        clk.ms = to;
    };
    if (cfg.timeline)
        cfg.timeline(0, st.pinned_bytes, st.in_use_bytes);
    for (const event &ev : tr.events) {
        while (last_tick_ms + cfg.tick_ms <= ev.t_ms) {
            last_tick_ms += cfg.tick_ms;
            integrate(last_tick_ms);
            elastic_mempool_maintain(mp);
            observe(false, true);
        }
        integrate(ev.t_ms);
        if (!ev.is_free) {
            const uint64_t size = tr.sizes[ev.req];
            const unsigned k = unsigned((size + obj_size - 1) / obj_size);
            std::vector<void *> objs(k);
            if (k > n_max || rte_mempool_get_bulk(mp, objs.data(), k) != 0) {
                failed[ev.req] = 1;
                m.failed++;
            } else {
                held[ev.req] = std::move(objs);
            }
        } else if (!failed[ev.req]) {
            auto &v = held[ev.req];
            rte_mempool_put_bulk(mp, v.data(), unsigned(v.size()));
            v.clear();
            v.shrink_to_fit();
        }
        observe(true, false);
    }
    for (auto &v : held)
        if (!v.empty())
            rte_mempool_put_bulk(mp, v.data(), unsigned(v.size()));
    const uint64_t end = tr.end_ms();
    m.end_ms = end;
    m.grows = st.nb_grows;
    m.shrinks = st.nb_shrinks;
    m.peak_pinned_bytes = st.peak_pinned_bytes;
    m.mean_pinned_bytes = end == 0 ? st.pinned_bytes : m.pinned_byte_ms / end;
    rte_mempool_free(mp);
    out = m;
    return 0;
}

} // namespace elastic::trace
