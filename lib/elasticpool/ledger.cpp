// SPDX-License-Identifier: BSD-3-Clause
#include "ledger.hpp"

#include <algorithm>

#include <rte_errno.h>

#include "budget.hpp"
#include "pressure.hpp"

namespace elastic::detail {

ledger::ledger(const ledger_config &cfg, chunk_rec *recs, uint64_t now) noexcept
    : cfg_(cfg), recs_(recs), n_(0), units_(0), pinned_(0),
      sampler_(cfg.sample_ns, now), rule_{cfg.idle_ns, cfg.headroom},
      demand_(cfg.sample_ns, now), adapt_{}, fail_streak_(0), last_limit_(ELASTIC_LIMIT_NONE),
      peak_pinned_(0), peak_in_use_(0), peak_demand_(0), nb_grows_(0), nb_grows_ahead_(0),
      nb_shrinks_(0), nb_grow_fail_(0), nb_wall_hits_(0), nb_cap_hits_(0), nb_samples_(0),
      nb_retire_(0), nb_hook_vetoes_(0), nb_guard_refusals_(0), grow_ns_total_(0), grow_ns_max_(0), retired_ns_(0), tick_peak_(0),
      rng_(0x656c6173746963ull /* "elastic" */), nb_pressure_releases_(0), be_last_release_ns_(0),
      be_released_(false), be_regrowths_(0), be_regrowth_stalls_(0)
{
}

// ---- growth ----

void ledger::refuse_wall() noexcept
{
    nb_wall_hits_++;
    last_limit_ = ELASTIC_LIMIT_WALL;
    rte_errno = ENOBUFS;
}

bool ledger::admit(uint64_t units, uint64_t bytes) noexcept
{
    if (units == 0 || !below_wall(units)) {
        refuse_wall();
        return false;
    }
    return admit_base(bytes);
}

bool ledger::admit_base(uint64_t bytes) noexcept
{
    // No wall here: the base (or more of it, ledger::extend) is always under it.
    if (!node_budget_admit(cfg_.node, bytes)) {
        nb_cap_hits_++;
        last_limit_ = ELASTIC_LIMIT_NODE_CAP;
        rte_errno = ENOBUFS; // the node cap refuses like the wall
        return false;
    }
    return true;
}

uint32_t ledger::add(uint64_t units, uint64_t bytes, uint64_t now, grow_kind kind,
                     uint64_t grow_ns) noexcept
{
    const uint32_t i = n_++;
    recs_[i] = chunk_rec{bytes, units, now, now, 0};
    units_ += units;
    pinned_ += bytes;
    peak_pinned_ = std::max(peak_pinned_, pinned_);
    fail_streak_ = 0;
    if (kind == grow_kind::base)
        return i;
    nb_grows_++;
    nb_grows_ahead_ += kind == grow_kind::ahead;
    grow_ns_total_ += grow_ns;
    grow_ns_max_ = std::max(grow_ns_max_, grow_ns);
    if (cfg_.adaptive)
        adapt_.on_grow(now, cfg_.idle_ns);
    if (cfg_.breakeven && be_released_ && now >= be_last_release_ns_ &&
        now - be_last_release_ns_ < cfg_.idle_ns) {
        be_regrowths_++;
        be_regrowth_stalls_ += kind == grow_kind::datapath;
    }
    return i;
}

void ledger::extend(uint32_t i, uint64_t units, uint64_t bytes) noexcept
{
    recs_[i].units += units;
    recs_[i].bytes += bytes;
    units_ += units;
    pinned_ += bytes;
    peak_pinned_ = std::max(peak_pinned_, pinned_);
}

uint32_t ledger::grow_failed(uint64_t bytes, uint64_t grow_ns) noexcept
{
    node_budget_give_back(cfg_.node, bytes);
    nb_grow_fail_++;
    last_limit_ = ELASTIC_LIMIT_PROVIDER;
    grow_ns_total_ += grow_ns;
    return ++fail_streak_;
}

void ledger::grow_vetoed(uint64_t bytes, uint64_t grow_ns) noexcept
{
    node_budget_give_back(cfg_.node, bytes);
    nb_hook_vetoes_++;
    last_limit_ = ELASTIC_LIMIT_HOOK;
    grow_ns_total_ += grow_ns;
}

void ledger::refuse_guard() noexcept
{
    nb_guard_refusals_++;
    last_limit_ = ELASTIC_LIMIT_GUARD;
    rte_errno = ENOBUFS;
}

void ledger::give_back_all() noexcept
{
    for (uint32_t i = 0; i < n_; i++)
        node_budget_give_back(cfg_.node, recs_[i].bytes);
    n_ = 0;
    units_ = 0;
    pinned_ = 0;
}

// ---- activity ----

void ledger::observe(uint64_t in_use_bytes, uint64_t waiting_bytes) noexcept
{
    demand_.observe(in_use_bytes);
    tick_peak_ = std::max(tick_peak_, in_use_bytes);
    peak_in_use_ = std::max(peak_in_use_, in_use_bytes);
    peak_demand_ = std::max(peak_demand_, in_use_bytes + waiting_bytes);
}

void ledger::observe_peak(uint64_t in_use_bytes) noexcept
{
    tick_peak_ = std::max(tick_peak_, in_use_bytes);
    peak_in_use_ = std::max(peak_in_use_, in_use_bytes);
    peak_demand_ = std::max(peak_demand_, in_use_bytes);
}

// ---- the release rule ----

bool ledger::patent_allows(uint64_t now, ledger_face &f, bool assume_empty) noexcept
{
    const uint32_t last = n_ - 1;
    if (!assume_empty && f.chunk_in_use(last) != 0)
        return false;
    if (!rule_.idle(chunk_activity{0, recs_[last].last_alloc_ns}, now))
        return false;
    for (uint32_t h = 1; h <= cfg_.headroom && h <= last; h++)
        if (!rule_.idle(chunk_activity{0, recs_[last - h].last_alloc_ns}, now))
            return false;
    return true;
}

bool ledger::adaptive_allows(uint64_t now, ledger_face &f, bool assume_empty) noexcept
{
    // The last chunk must be empty, have served nothing for a sample period (so a chunk grown
    // ahead of need is not given back at once), and be surplus to the demand of the hold window.
    const chunk_rec &last = recs_[n_ - 1];
    if (!assume_empty && f.chunk_in_use(n_ - 1) != 0)
        return false;
    if (now < last.last_alloc_ns || now - last.last_alloc_ns < cfg_.sample_ns)
        return false;
    const uint64_t hold = adapt_.hold_ns(cfg_.idle_ns);
    const uint64_t need = demand_.decayed_peak_within(hold) + demand_.max_rise_within(hold);
    // Hysteresis: keep the free room that would make the tick grow ahead again at once.
    return adaptive_state::surplus(capacity_bytes(), last.units * unit_bytes_(),
                                   need + hysteresis_bytes());
}

// ---- the break-even rule (breakeven.hpp) ----

uint64_t ledger::breakeven_reserve() const noexcept
{
    // The largest request served in the last idle period (a buffer class, or a mempool get of
    // n objects), at most a chunk; the face's largest single unit when none was seen yet.
    uint64_t req = std::min(demand_.max_request_within(cfg_.idle_ns), cfg_.chunk_bytes);
    if (req == 0)
        req = cfg_.margin_bytes;
    return demand_.max_rise_within(cfg_.idle_ns) + breakeven::margin_requests * req;
}

// The ski-rental horizon: a buy costs what a release costs in expectation, the chance that its
// regrowth stalls times the user's price of a stall (one idle period of the chunk).
uint64_t ledger::breakeven_horizon() const noexcept
{
    return breakeven::horizon(cfg_.idle_ns, be_regrowths_, be_regrowth_stalls_);
}

// Each tick: which chunks demand needed since the last tick; a chunk that stops being needed
// starts an idle episode and draws its release threshold.
void ledger::breakeven_track(uint64_t now, uint64_t in_use) noexcept
{
    const uint64_t need = std::max(tick_peak_, in_use) + breakeven_reserve();
    tick_peak_ = in_use;
    uint64_t below = n_ > 0 ? recs_[0].units * unit_bytes_() : 0;
    for (uint32_t i = 1; i < n_; i++) {
        chunk_rec &r = recs_[i];
        if (need > below) {
            r.last_needed_ns = now;
            r.release_after_ns = 0;
        } else if (r.release_after_ns == 0) {
            r.release_after_ns = breakeven::draw_threshold(rng_, breakeven_horizon());
        }
        below += r.units * unit_bytes_();
    }
}

bool ledger::breakeven_allows(uint64_t now, ledger_face &f, bool assume_empty) noexcept
{
    const chunk_rec &last = recs_[n_ - 1];
    if (!assume_empty && f.chunk_in_use(n_ - 1) != 0)
        return false;
    return last.release_after_ns != 0 && now >= last.last_needed_ns &&
           now - last.last_needed_ns >= last.release_after_ns;
}

// While demand rises, keep free room for the largest rise of the last idle period plus the
// margin, added by maintenance so that the request path seldom grows.
void ledger::breakeven_grow_ahead(ledger_face &f, uint64_t in_use) noexcept
{
    const uint64_t rise = in_use > adapt_.last_tick_in_use ? in_use - adapt_.last_tick_in_use : 0;
    adapt_.last_tick_in_use = in_use;
    demand_.observe_rise(rise);
    if (rise == 0 || f.retiring() || f.has_waiters())
        return;
    const uint64_t want = breakeven_reserve();
    while (capacity_bytes() - std::min(capacity_bytes(), in_use) < want)
        if (!f.grow_ahead())
            break;
}

// Memory pressure: the idle period does not count, the headroom does (in free units).
bool ledger::pressure_allows(ledger_face &f, bool assume_empty) noexcept
{
    if (!assume_empty && f.chunk_in_use(n_ - 1) != 0)
        return false;
    return f.free_units_outside_last() >= uint64_t(cfg_.headroom) * recs_[n_ - 1].units;
}

ledger::verdict ledger::judge_last(uint64_t now, ledger_face &f) noexcept
{
    return judge_last(now, f, false);
}

ledger::verdict ledger::judge_last(uint64_t now, ledger_face &f, bool pressure) noexcept
{
    if (n_ < 2 || cfg_.no_shrink || f.has_waiters())
        return verdict::keep;
    // Do not release what growth ahead of need would add back at once.
    if (cfg_.low_wm_units != 0 && f.free_units_outside_last() < cfg_.low_wm_units)
        return verdict::keep;
    auto allows = [&](bool assume_empty) {
        if (pressure && pressure_allows(f, assume_empty))
            return true;
        return cfg_.breakeven  ? breakeven_allows(now, f, assume_empty)
               : cfg_.adaptive ? adaptive_allows(now, f, assume_empty)
                               : patent_allows(now, f, assume_empty);
    };
    if (allows(false))
        return verdict::release;
    if (!f.retiring() && allows(true))
        return verdict::retire;
    return verdict::keep;
}

bool ledger::release_last(uint64_t now, ledger_face &f) noexcept
{
    if (n_ < 2 || !f.unlink_last())
        return false;
    const chunk_rec r = recs_[--n_];
    units_ -= r.units;
    pinned_ -= r.bytes;
    node_budget_give_back(cfg_.node, r.bytes);
    nb_shrinks_++;
    if (cfg_.adaptive)
        adapt_.on_release(now);
    be_released_ = true;
    be_last_release_ns_ = now;
    return true;
}

// ---- maintenance ----

void ledger::retire_last(uint64_t now, ledger_face &f) noexcept
{
    f.set_retiring(true);
    retired_ns_ = now;
    nb_retire_++;
}

// A retiring chunk whose buffers are all home goes (its release was decided already), unless
// the clock went back behind that decision.
int ledger::drain_retiring(uint64_t now, ledger_face &f) noexcept
{
    if (!f.retiring() || now < retired_ns_ || f.chunk_in_use(n_ - 1) != 0)
        return 0;
    return release_last(now, f) ? 1 : 0;
}

// Margins in bytes of the adaptive rule, from the largest request rather than from the chunk
// size alone, so that they stay right when chunks are large.
uint64_t ledger::hysteresis_bytes() const noexcept
{
    return std::min<uint64_t>(cfg_.chunk_bytes / 2, 4 * cfg_.margin_bytes);
}

uint64_t ledger::rise_floor_bytes() const noexcept
{
    return std::min<uint64_t>(cfg_.chunk_bytes / 3, 2 * cfg_.margin_bytes);
}

void ledger::grow_ahead(ledger_face &f, uint64_t in_use) noexcept
{
    if (cfg_.breakeven) {
        breakeven_grow_ahead(f, in_use);
        if (!f.retiring() && cfg_.low_wm_units != 0 && f.free_units() < cfg_.low_wm_units)
            (void)f.grow_ahead();
        return;
    }
    // While the last chunk is retiring demand is low, and a chunk added behind it would stop it
    // being the last one; a request that needs it back takes it back into service.
    const bool retiring = f.retiring();
    if (cfg_.adaptive) {
        const uint64_t rise =
            in_use > adapt_.last_tick_in_use ? in_use - adapt_.last_tick_in_use : 0;
        adapt_.last_tick_in_use = in_use;
        demand_.observe_rise(rise);
        // Only while demand climbs: it rose since the last tick. (Not "at its peak": buffers
        // freed between ticks keep in use a little under the running peak even on a ramp.)
        if (!retiring && !f.has_waiters() && rise != 0) {
            const uint64_t expect = std::max({rise, demand_.max_rise_within(cfg_.idle_ns) / 2,
                                              rise_floor_bytes()});
            while (adaptive_state::short_of(capacity_bytes(), in_use, expect))
                if (!f.grow_ahead())
                    break;
        }
    }
    // The low watermark: one chunk per tick while fewer free units are left.
    if (!retiring && cfg_.low_wm_units != 0 && f.free_units() < cfg_.low_wm_units)
        (void)f.grow_ahead();
}

// Every release the rule (and memory pressure) allows now; the last chunk retires when it would
// be allowed once its buffers are home.
int ledger::release_all(uint64_t now, ledger_face &f, bool pressure) noexcept
{
    int released = 0;
    if (f.retiring())
        return 0; // one release decision at a time
    for (;;) {
        const verdict v = judge_last(now, f, pressure);
        if (v == verdict::retire)
            retire_last(now, f);
        if (v != verdict::release || !release_last(now, f))
            break;
        released++;
        if (pressure)
            nb_pressure_releases_++;
    }
    return released;
}

int ledger::tick(uint64_t now, ledger_face &f, bool force_sample) noexcept
{
    int released = drain_retiring(now, f);
    const uint64_t in_use = f.in_use_bytes();
    demand_.roll(now, in_use);
    // Under memory pressure nothing grows ahead of need (the request path still grows): a chunk
    // added now would be empty and go again at once.
    const bool pressure = !cfg_.no_shrink && node_memory_pressure(cfg_.node);
    if (!pressure)
        grow_ahead(f, in_use);
    else
        adapt_.last_tick_in_use = in_use; // the rise is measured from here when it ends
    if (cfg_.breakeven)
        breakeven_track(now, in_use);
    // The break-even rule decides at every tick (its thresholds are not multiples of a sample);
    // memory pressure too (it must not wait for a sample).
    if (cfg_.breakeven || pressure)
        released += release_all(now, f, pressure);
    const bool due = sampler_.due(now) || force_sample;
    if (!due)
        return released;
    if (cfg_.breakeven) {
        nb_samples_++; // samples only count for the sizing report's epochs here
        return released;
    }
    nb_samples_++;
    if (cfg_.adaptive)
        adapt_.settle(now, cfg_.idle_ns);
    if (released != 0 || f.retiring())
        return released; // one release decision at a time
    // The patent rule gives back at most one chunk per sample; the adaptive rule every chunk
    // that is surplus.
    for (;;) {
        const verdict v = judge_last(now, f);
        if (v == verdict::retire)
            retire_last(now, f);
        if (v != verdict::release || !release_last(now, f))
            break;
        released++;
        if (!cfg_.adaptive)
            break;
    }
    return released;
}

int ledger::trim(uint64_t now, ledger_face &f) noexcept
{
    demand_.roll(now, f.in_use_bytes());
    int released = drain_retiring(now, f);
    return released + release_all(now, f, false);
}

// ---- figures ----

void ledger::fill_stats(elastic_pool_stats &st) const noexcept
{
    st.pinned_bytes = pinned_;
    st.peak_pinned_bytes = peak_pinned_;
    st.peak_in_use_bytes = std::max(st.peak_in_use_bytes, peak_in_use_);
    st.nb_grows = nb_grows_;
    st.nb_grows_ahead = nb_grows_ahead_;
    st.nb_shrinks = nb_shrinks_;
    st.nb_grow_fail = nb_grow_fail_;
    st.nb_wall_hits = nb_wall_hits_;
    st.nb_cap_hits = nb_cap_hits_;
    st.nb_hook_vetoes = nb_hook_vetoes_;
    st.grow_ns_total = grow_ns_total_;
    st.nb_samples = nb_samples_;
    st.nb_chunks = n_;
    st.last_limit = last_limit_;
    st.node = cfg_.node;
    st.base_size = n_ > 0 ? recs_[0].bytes : cfg_.base_bytes;
    st.chunk_size = cfg_.chunk_bytes;
    st.wall_size = cfg_.wall_bytes;
}

void ledger::sizing(elastic_pool_sizing &sz) const noexcept
{
    constexpr uint64_t huge = uint64_t(2) << 20;
    auto round_up = [](uint64_t v, uint64_t to) { return to == 0 ? v : (v + to - 1) / to * to; };
    sz = elastic_pool_sizing{};
    sz.peak_in_use_bytes = peak_in_use_;
    sz.peak_demand_bytes = peak_demand_;
    sz.window_peak_bytes = demand_.peak_within(cfg_.idle_ns);
    sz.floor_demand_bytes = demand_.floor_demand();
    sz.epochs = uint32_t(demand_.closed_epochs());
    // Base: the demand that was always there; wall: the peak demand (queued requests included)
    // with a quarter of margin, in whole chunks above the base.
    sz.recommended_base = std::max<uint64_t>(round_up(sz.floor_demand_bytes, huge), huge);
    const uint64_t want = peak_demand_ + peak_demand_ / 4;
    sz.recommended_wall = want <= sz.recommended_base
                              ? sz.recommended_base
                              : sz.recommended_base +
                                    round_up(want - sz.recommended_base, cfg_.chunk_bytes);
    // A static deployment pins the wall for its whole life.
    sz.static_bytes = round_up(sz.recommended_wall, huge);
    sz.hugepages_2m = uint32_t(sz.static_bytes / huge);
    sz.socket_mem_mb = uint32_t(round_up(sz.static_bytes, uint64_t(1) << 20) >> 20);
}

} // namespace elastic::detail
