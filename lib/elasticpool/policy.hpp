// SPDX-License-Identifier: BSD-3-Clause
// The release and sampling rules of the method (patent steps 602-612), shared by both faces:
// the variable-size pool (buddy heap per chunk) and the elastic mempool driver (objects per chunk).
// Pure functions of the chunks' activity and the clock, so they are tested with a fake clock.
#pragma once

#include <cstdint>
#include <span>

namespace elastic::detail {

inline constexpr uint64_t ns_per_ms = 1'000'000;

// What the release rule needs to know of one chunk.
struct chunk_activity {
    uint64_t in_use;        // buffers or objects handed out from it and not yet back
    uint64_t last_alloc_ns; // clock time of the last allocation from it (its creation at first)
};

struct release_rule {
    uint64_t idle_ns;       // no allocation for this long makes a chunk idle
    uint32_t headroom;      // idle chunks that must stand before the released one

    // "Idle" means no allocation for idle_ns, not empty. A clock that went backwards
    // (now < last) makes nothing idle.
    bool idle(const chunk_activity &c, uint64_t now) const noexcept
    {
        return now >= c.last_alloc_ns && now - c.last_alloc_ns >= idle_ns;
    }

    // May the last chunk of `chunks` (order of addition, base first) be released now?
    // The base chunk (index 0) never is; the last must hold nothing and be idle, and the
    // `headroom` chunks before it (as many as exist; the base counts) must be idle too.
    bool may_release_last(std::span<const chunk_activity> chunks, uint64_t now) const noexcept
    {
        if (chunks.size() < 2)
            return false;
        const size_t last = chunks.size() - 1;
        if (chunks[last].in_use != 0 || !idle(chunks[last], now))
            return false;
        for (size_t h = 1; h <= headroom && h <= last; h++)
            if (!idle(chunks[last - h], now))
                return false;
        return true;
    }
};

// Ticks only ask whether a sample is due; a sample is due when period_ns of clock time has
// passed since the last one, however many ticks came in between.
class sampler {
public:
    sampler(uint64_t period_ns, uint64_t now) noexcept : period_ns_(period_ns), last_ns_(now) {}

    bool due(uint64_t now) noexcept
    {
        if (now < last_ns_ || now - last_ns_ < period_ns_)
            return false;
        last_ns_ = now;
        return true;
    }

    uint64_t last_ns() const noexcept { return last_ns_; }
    uint64_t period_ns() const noexcept { return period_ns_; }

private:
    uint64_t period_ns_;
    uint64_t last_ns_;
};

} // namespace elastic::detail
