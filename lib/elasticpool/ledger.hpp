// SPDX-License-Identifier: BSD-3-Clause
// The chunk ledger: the one place where a pool's chunks are accounted for and its policy is
// decided, for both faces (the variable-size pool, pool.cpp, and the elastic mempool,
// mempool_face.cpp). Patent FIG. 4's BudCtl_t is the ledger, its Buddy_t the chunk record.
//
//   patent step                          here
//   502  base block at creation          admit_base() + add()
//   514/516  the wall                    admit(): wall (units) and node budget (bytes)
//   518/520  add a block, in a list      add(): records kept in order of addition
//   602  tick / sample period            tick(): sampler, demand history
//   604-612  release the last block      judge_last() (patent rule or adaptive) -> the face
//            when idle, headroom kept     unlinks the chunk -> released()
//   alt. statistical analysis            adaptive rule, growth ahead of need, sizing report
//
// What a face supplies (ledger_face): how many of a chunk's buffers/objects are not home, the
// free units outside the last chunk, whether requests are queued, and the three actions that
// touch memory: grow one chunk, unlink + free the last chunk, put the last chunk in (or out of)
// the retiring state (it hands nothing out and drains home). How a chunk's memory is carved
// (buddy heap / object stack) is the face's alone.
//
// Units: the wall is counted in the face's units (bytes of buffers for the variable-size pool,
// objects for a mempool); pinned memory is counted in bytes (what the node budget sees).
//
// Memory: standard layout, no pointers to process memory except `recs_` (storage the face
// provides: rte_zmalloc memory for mempools, which secondary processes map at the same address),
// no function pointers; the clock is read by the face and passed in. So a mempool's ledger lives
// in rte_zmalloc memory beside the rest of its state. Not locked: the face calls it under the
// lock that guards its growth (var_pool::mu_, the mempool's grow lock).
#pragma once

#include <cstddef>
#include <cstdint>

#include "adaptive.hpp"
#include "breakeven.hpp"
#include "elasticpool.h"
#include "policy.hpp"

namespace elastic::detail {

// One chunk as the ledger sees it (order of addition, base first).
struct chunk_rec {
    uint64_t bytes;         // pinned bytes, as admitted by the node budget
    uint64_t units;         // wall units it adds (bytes of buffers or objects)
    uint64_t last_alloc_ns; // clock time of the last allocation from it (its creation at first)
    // Break-even rule (breakeven.hpp): when demand last needed this chunk, and how long after
    // that it may go (the ski-rental threshold drawn for its current idle episode; 0: none yet).
    uint64_t last_needed_ns;
    uint64_t release_after_ns;
};

enum class grow_kind : uint8_t { base, datapath, ahead };

struct ledger_config {
    uint64_t wall_units;     // the wall, in units
    uint64_t wall_bytes;     // the wall as stats report it (bytes)
    uint64_t base_bytes;     // nominal base and chunk sizes (stats, adaptive margins)
    uint64_t chunk_bytes;
    uint64_t margin_bytes;   // largest single request (adaptive margins are counted in it)
    // In-use bytes one unit stands for (variable-size pool: 1, units are bytes; mempool: the
    // object with its header). Demand is counted in in-use bytes, so the rules compare it with
    // the units held x unit_bytes, not with the pinned bytes, which round each chunk up to whole
    // pages (for a mempool, a chunk's objects may fill much less than its memzone).
    uint64_t unit_bytes;
    uint64_t low_wm_units;   // grow ahead when fewer free units are left (0: never)
    uint64_t sample_ns;
    uint64_t idle_ns;
    uint32_t headroom;
    uint32_t max_chunks;     // the base included; the face's record storage holds as many
    bool no_shrink;
    bool adaptive;
    bool breakeven;          // the break-even (rent-or-buy) rule, breakeven.hpp; wins over adaptive
    int node;                // node budget the growth is admitted by (budget.hpp)
};

// The parts of a pool that differ per face. Called by ledger::tick()/trim() under the face's
// growth lock.
class ledger_face {
public:
    // Buffers/objects of chunk i not home (handed out, or parked in caches and rings).
    virtual uint64_t chunk_in_use(uint32_t i) noexcept = 0;
    // Units that can be handed out now (active chunks), and those of the chunks before the last.
    virtual uint64_t free_units() noexcept = 0;
    virtual uint64_t free_units_outside_last() noexcept = 0;
    // In-use bytes now (demand).
    virtual uint64_t in_use_bytes() noexcept = 0;
    // Requests queued at the wall: nothing is released while anyone waits.
    virtual bool has_waiters() noexcept = 0;
    // Add one chunk ahead of need (through ledger::admit/add). false: it could not.
    virtual bool grow_ahead() noexcept = 0;
    // Unlink the last chunk (all of it is home) and give its memory back. false: it could not.
    virtual bool unlink_last() noexcept = 0;
    // The last chunk stops handing out and drains home; false: it leaves that state.
    virtual void set_retiring(bool on) noexcept = 0;
    // Whether the last chunk is retiring now (the face keeps the state: its datapath reads it).
    virtual bool retiring() noexcept = 0;

protected:
    ~ledger_face() = default;
};

class ledger {
public:
    enum class verdict { keep, release, retire };

    // `recs` has room for the records present (none yet) and the next one to be added: a face
    // that grows its storage lazily rebinds it before add(). `now` starts the sample period and
    // the demand epochs. (Placement-new it into rte_zmalloc memory to share it.)
    ledger(const ledger_config &cfg, chunk_rec *recs, uint64_t now) noexcept;
    // The face moved its record storage (it grew): same records, more room.
    void rebind(chunk_rec *recs) noexcept { recs_ = recs; }

    // ---- growth ----
    // May a chunk of `units` / `bytes` be added? On true the bytes are counted in the node
    // budget: follow with add() or grow_failed(). On false rte_errno = ENOBUFS and the stats say
    // why (ELASTIC_LIMIT_WALL or ELASTIC_LIMIT_NODE_CAP).
    bool admit(uint64_t units, uint64_t bytes) noexcept;
    // The base chunk: only the node budget applies.
    bool admit_base(uint64_t bytes) noexcept;
    // The admitted chunk is in place (appended); returns its index.
    uint32_t add(uint64_t units, uint64_t bytes, uint64_t now, grow_kind kind,
                 uint64_t grow_ns) noexcept;
    // More of chunk i's memory arrived after an admit_base() (a drop-in mempool's base, which
    // DPDK populates in pieces).
    void extend(uint32_t i, uint64_t units, uint64_t bytes) noexcept;
    // The admitted chunk could not be reserved: budget given back, counted; returns the length
    // of the streak of failures (faces log the first of a streak).
    uint32_t grow_failed(uint64_t bytes, uint64_t grow_ns) noexcept;
    // The admitted chunk was reserved and the chunk hook refused it: budget given back, counted
    // as a veto (not as a provider failure, ELASTIC_LIMIT_HOOK).
    void grow_vetoed(uint64_t bytes, uint64_t grow_ns) noexcept;
    // A growth the guard refused (a PMD that snapshots pool memory uses the pool): counted as a
    // guard refusal (not as a wall hit, ELASTIC_LIMIT_GUARD); rte_errno = ENOBUFS.
    void refuse_guard() noexcept;
    // A growth refused before admit() was asked (a request larger than any chunk): counted as
    // a wall hit.
    void refuse_wall() noexcept;
    // The pool goes away: every chunk's bytes go back to the node budget.
    void give_back_all() noexcept;
    // Is there room under the wall for one more chunk of `units`?
    bool below_wall(uint64_t units) const noexcept
    {
        return n_ < cfg_.max_chunks && units_ + units <= cfg_.wall_units;
    }

    // ---- activity ----
    void note_alloc(uint32_t i, uint64_t now) noexcept { recs_[i].last_alloc_ns = now; }
    // The class bytes of a request served (the variable-size face; a mempool's requests are all
    // one object, its margin_bytes).
    void note_request(uint64_t class_bytes) noexcept { demand_.observe_request(class_bytes); }
    // A new in-use (and queued) figure that may be a peak of demand.
    void observe(uint64_t in_use_bytes, uint64_t waiting_bytes = 0) noexcept;
    // A peak of in use the face measured between ticks (it counts the sizing report's peak).
    void observe_peak(uint64_t in_use_bytes) noexcept;

    // ---- maintenance ----
    // One tick: finish a retiring release, grow ahead of need, and when a sample is due (or
    // `force_sample`) take the release decision. Returns the chunks released.
    // Under memory pressure (pressure.hpp: the node's free hugepages below the threshold, or
    // the application's callback says so) every empty trailing chunk goes at once, whatever its
    // idle time, as long as `headroom` chunks' worth of free units stay, and nothing grows ahead
    // of need.
    int tick(uint64_t now, ledger_face &f, bool force_sample = false) noexcept;
    // Release at once what the rule allows (no sample needed); the last chunk becomes retiring
    // when the rule would allow it once its buffers are home. Returns the chunks released.
    int trim(uint64_t now, ledger_face &f) noexcept;
    // What the rule says of the last chunk now.
    verdict judge_last(uint64_t now, ledger_face &f) noexcept;
    verdict judge_last(uint64_t now, ledger_face &f, bool pressure) noexcept;

    // ---- figures ----
    uint32_t chunks() const noexcept { return n_; }
    const chunk_rec &rec(uint32_t i) const noexcept { return recs_[i]; }
    uint64_t pinned_bytes() const noexcept { return pinned_; }
    uint64_t units() const noexcept { return units_; }
    const ledger_config &config() const noexcept { return cfg_; }
    // Fills the ledger's fields of the stats (the face fills in use, allocs, waiters ...).
    void fill_stats(elastic_pool_stats &st) const noexcept;
    void sizing(elastic_pool_sizing &sz) const noexcept;
    uint64_t nb_retire() const noexcept { return nb_retire_; }
    uint64_t nb_guard_refusals() const noexcept { return nb_guard_refusals_; }
    uint64_t nb_grow_datapath() const noexcept { return nb_grows_ - nb_grows_ahead_; }
    uint64_t grow_ns_max() const noexcept { return grow_ns_max_; }
    // Chunks released because of memory pressure (pressure.hpp).
    uint64_t nb_pressure_releases() const noexcept { return nb_pressure_releases_; }

private:
    bool patent_allows(uint64_t now, ledger_face &f, bool assume_empty) noexcept;
    bool adaptive_allows(uint64_t now, ledger_face &f, bool assume_empty) noexcept;
    bool breakeven_allows(uint64_t now, ledger_face &f, bool assume_empty) noexcept;
    bool pressure_allows(ledger_face &f, bool assume_empty) noexcept;
    int release_all(uint64_t now, ledger_face &f, bool pressure) noexcept;
    void breakeven_track(uint64_t now, uint64_t in_use) noexcept;
    void breakeven_grow_ahead(ledger_face &f, uint64_t in_use) noexcept;
    uint64_t breakeven_reserve() const noexcept;
    uint64_t breakeven_horizon() const noexcept;
    bool release_last(uint64_t now, ledger_face &f) noexcept;
    void retire_last(uint64_t now, ledger_face &f) noexcept;
    int drain_retiring(uint64_t now, ledger_face &f) noexcept;
    void grow_ahead(ledger_face &f, uint64_t in_use) noexcept;
    uint64_t hysteresis_bytes() const noexcept;
    // What the chunks held can serve, in in-use bytes.
    uint64_t capacity_bytes() const noexcept { return units_ * unit_bytes_(); }
    uint64_t unit_bytes_() const noexcept { return cfg_.unit_bytes ? cfg_.unit_bytes : 1; }
    uint64_t rise_floor_bytes() const noexcept;

    ledger_config cfg_;
    chunk_rec *recs_;
    uint32_t n_;
    uint64_t units_;
    uint64_t pinned_;
    sampler sampler_;
    release_rule rule_;
    demand_history demand_;
    adaptive_state adapt_;
    uint32_t fail_streak_;
    uint32_t last_limit_;
    uint64_t peak_pinned_, peak_in_use_, peak_demand_;
    uint64_t nb_grows_, nb_grows_ahead_, nb_shrinks_, nb_grow_fail_;
    uint64_t nb_wall_hits_, nb_cap_hits_, nb_samples_, nb_retire_;
    uint64_t nb_hook_vetoes_, nb_guard_refusals_;
    uint64_t grow_ns_total_, grow_ns_max_;
    uint64_t retired_ns_; // when the last chunk was made retiring
    uint64_t tick_peak_;  // highest in-use bytes since the last tick (break-even rule)
    uint64_t rng_;        // splitmix64 state of the ski-rental draws (fixed seed: reproducible)
    uint64_t nb_pressure_releases_;
    // Break-even: regrowths (growths within the idle period after a release) and how many of
    // them were made on the request path (stalls): the estimate of what a release costs.
    uint64_t be_last_release_ns_;
    bool be_released_;
    uint64_t be_regrowths_, be_regrowth_stalls_;
};

} // namespace elastic::detail
