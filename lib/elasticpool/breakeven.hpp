// SPDX-License-Identifier: BSD-3-Clause
// The break-even policy (ELASTIC_POOL_F_BREAKEVEN / ELASTIC_MEMPOOL_F_BREAKEVEN): release and
// growth ahead decided from a stated cost model instead of fitted constants. docs/self-tuning.md
// §7 has the model, its bound and the measurements.
//
// Model (rent or buy, one instance per chunk and idle episode):
//  - Rent: holding a chunk that demand does not need costs its bytes for every second held
//    (pinned byte-seconds, the quantity the pool exists to save).
//  - Buy: giving it back and needing it again costs one regrowth. We price a regrowth at
//    B = chunk bytes x T, T = the pool's idle period: the idle period is the user's own statement
//    of how long an unneeded chunk is worth keeping (the patent holds one exactly that long), so
//    the exchange rate between memory and regrowths is the user's, not ours.
//  - An idle episode of a chunk starts when demand stops needing it (below) and ends when demand
//    needs it again. Holding it through an episode of length g costs g x chunk; releasing it at x
//    costs x x chunk + B if the episode ends later (g > x). The offline optimum pays
//    min(g, T) x chunk per episode.
//  - Deterministic ski rental (release at x = T) pays at most 2 x the optimum per episode.
//    Randomised ski rental (Karlin, Manasse, McGeoch, Owicki 1994) draws x from the density
//    e^(x/T) / (T (e - 1)) on [0, T] and pays at most e / (e - 1) ~ 1.58 x the optimum in
//    expectation, against any episode lengths fixed in advance. We use it: expected hold
//    T / (e - 1) ~ 0.58 T.
//  - "Needed": chunk i (base = 0) is needed at a tick when the highest in-use bytes since the
//    previous tick, plus the growth-ahead reserve, plus the margin, exceed the bytes of the
//    chunks before it. Releasing a chunk growth ahead would add back at the next rise would buy
//    it back at once, so the reserve is part of what demand needs.
//  - Growth ahead (the buy happens off the request path): demand rising by r between two ticks
//    may rise by as much as the largest rise of the last T before the next tick; while demand
//    rises, keep free room >= that rise + margin. A request grows on its own path (a stall) only
//    when demand climbs faster than it did in the last T.
//  - Margin: two requests of the largest class. One, so the largest request fits in the free
//    room without a growth; one more for the free bytes the buddy heaps strand below the largest
//    class (a free block split across two chunks or two buddies serves no largest request).
// The only constants are the margin (in requests of the largest class) and e; T, the tick and
// the largest class come from the pool's parameters.
#pragma once

#include <cmath>
#include <cstdint>

namespace elastic::detail::breakeven {

// Free room kept, in requests of the largest class (see the model above).
inline constexpr uint64_t margin_requests = 2;

// The horizon T_eff of the ski rental. Buying back a released chunk ahead of need (maintenance
// grows it before a request needs it) costs next to nothing in pinned bytes; only a regrowth on
// the request path (a stall) costs the user's price, one idle period of the chunk. So a release
// costs p x chunk x T in expectation, p the chance that a regrowth stalls, and the break-even
// horizon is p x T. p is estimated from the pool's own regrowths (growths within T of a
// release) by Laplace's rule of succession, (stalled + 1) / (regrowths + 2): 1/2 before any
// evidence, then the observed rate. A pool whose regrowths stall holds its chunks longer, up to T.
inline uint64_t horizon(uint64_t t_ns, uint64_t regrowths, uint64_t stalled) noexcept
{
    return uint64_t(double(t_ns) * double(stalled + 1) / double(regrowths + 2));
}

// splitmix64: the ledger's draws come from a fixed seed, so a pool's decisions are reproducible
// and both faces, driven alike, decide alike.
inline uint64_t next(uint64_t &state) noexcept
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// A release threshold for one idle episode, drawn from the randomised ski-rental density on
// [0, T]: x = T ln(1 + u (e - 1)), u uniform in [0, 1). At least 1 ns (0 means "none drawn").
inline uint64_t draw_threshold(uint64_t &state, uint64_t t_ns) noexcept
{
    const double u = double(next(state) >> 11) * 0x1.0p-53;
    const double x = double(t_ns) * std::log1p(u * (M_E - 1.0));
    const uint64_t v = x >= double(t_ns) ? t_ns : uint64_t(x);
    return v == 0 ? 1 : v;
}

} // namespace elastic::detail::breakeven
