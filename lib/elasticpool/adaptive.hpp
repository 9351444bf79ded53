// SPDX-License-Identifier: BSD-3-Clause
// Statistics of demand and the adaptive policy (the patent's "statistical analysis of demand").
//
// demand_history keeps the peak in-use bytes of each epoch (one epoch = one sample period) for
// the last `epochs` epochs: the sliding-window peaks both the adaptive rule and the sizing report
// read.
//
// The adaptive rule, taken at each sample instead of the fixed 5-min/one-chunk rule:
//  - keep enough chunks for the demand of the hold window (idle period x hold factor), each
//    sample period's peak weighted down linearly with its age (so a slow decline is followed
//    down), plus the fastest rise between two ticks seen in that window, plus a hysteresis of
//    min(chunk / 2, 4 x largest buffer) (so a release does not make the next tick grow ahead
//    again); every empty trailing chunk above that goes at once, not one per sample;
//  - burst recurrence: a growth (on the request path or ahead of need) within the idle period
//    after a release means the release was premature, so the hold factor doubles (up to 4x); every release that
//    is not followed by one within the idle period halves it again (down to 1/2x);
//  - grow ahead of need: at a tick, when in use rose since the last tick, add chunks from the
//    maintenance pass until the free bytes are at least twice the expected rise: that rise, half
//    the fastest of the idle period, or min(chunk / 3, 2 x largest buffer), whichever is
//    largest (counted in nb_grows_ahead), so the request path seldom stalls on a growth.
//
// The constants were chosen on the trace families of perf/elastic-trace-gen (seeds 1-3) and
// checked on other seeds and chunk sizes of 4, 8, 16 and 32 MiB; docs/self-tuning.md has the
// figures. Margins are in bytes of the largest request, not chunk fractions, so they hold for
// large chunks too.
// Pure arithmetic on values handed in, so tests drive it with hand-made numbers.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace elastic::detail {

class demand_history {
public:
    static constexpr size_t epochs = 64;

    explicit demand_history(uint64_t epoch_ns, uint64_t now) noexcept
        : epoch_ns_(epoch_ns ? epoch_ns : 1), epoch_start_(now)
    {
    }

    // Called with every new in-use value that may be a peak (after an allocation).
    void observe(uint64_t in_use) noexcept { cur_ = std::max(cur_, in_use); }

    // Called at each tick with the rise of in use since the previous tick.
    void observe_rise(uint64_t rise) noexcept { cur_rise_ = std::max(cur_rise_, rise); }

    // Called with the class bytes of every request served (break-even margin).
    void observe_request(uint64_t bytes) noexcept { cur_req_ = std::max(cur_req_, bytes); }

    // Largest request class served within the window (0: none).
    uint64_t max_request_within(uint64_t window_ns) const noexcept
    {
        return window_max(req_, cur_req_, window_ns);
    }

    // Largest rise between two ticks within the window: how fast demand can climb.
    uint64_t max_rise_within(uint64_t window_ns) const noexcept
    {
        return window_max(rise_, cur_rise_, window_ns);
    }

    // Close the epochs that ended by `now`; `in_use` starts the next one.
    void roll(uint64_t now, uint64_t in_use) noexcept
    {
        if (now < epoch_start_)
            return;
        uint64_t n = (now - epoch_start_) / epoch_ns_;
        if (n == 0)
            return;
        push(cur_, cur_rise_, cur_req_);
        for (uint64_t i = 1; i < n && i <= epochs; i++)
            push(in_use, 0, 0); // whole epochs with no allocation: demand was what stayed in use
        epoch_start_ += n * epoch_ns_;
        cur_ = in_use;
        cur_rise_ = 0;
        cur_req_ = 0;
    }

    // Highest demand over the current epoch and the closed epochs within `window_ns` before it.
    uint64_t peak_within(uint64_t window_ns) const noexcept
    {
        return window_max(ring_, cur_, window_ns);
    }

    // Like peak_within, but a closed epoch's peak counts less the older it is: the most recent
    // at full weight, down linearly to 1/k for the oldest of the k epochs in the window. Demand
    // that declines slowly is followed down instead of held at its old peak for a whole window.
    uint64_t decayed_peak_within(uint64_t window_ns) const noexcept
    {
        const uint64_t k = epochs_in(window_ns);
        uint64_t peak = cur_;
        for (uint64_t i = 0; i < std::min<uint64_t>(k, count_); i++) {
            uint64_t v = closed(ring_, i);
            peak = std::max(peak, v / k * (k - i) + v % k * (k - i) / k);
        }
        return peak;
    }

    // Lowest epoch peak over the history (the demand that was always there).
    uint64_t floor_demand() const noexcept
    {
        uint64_t low = cur_;
        for (size_t i = 0; i < count_; i++)
            low = std::min(low, closed(ring_, i));
        return low;
    }

    uint64_t epoch_ns() const noexcept { return epoch_ns_; }
    size_t closed_epochs() const noexcept { return count_; }

private:
    uint64_t epochs_in(uint64_t window_ns) const noexcept
    {
        return (window_ns + epoch_ns_ - 1) / epoch_ns_;
    }

    // The i-th most recent closed epoch's value (i = 0: the last one closed).
    uint64_t closed(const std::array<uint64_t, epochs> &r, uint64_t i) const noexcept
    {
        return r[(head_ + epochs - 1 - i) % epochs];
    }

    // Max of `cur` and the closed epochs of `r` within the window.
    uint64_t window_max(const std::array<uint64_t, epochs> &r, uint64_t cur,
                        uint64_t window_ns) const noexcept
    {
        const uint64_t k = std::min<uint64_t>(epochs_in(window_ns), count_);
        for (uint64_t i = 0; i < k; i++)
            cur = std::max(cur, closed(r, i));
        return cur;
    }

    void push(uint64_t v, uint64_t rise, uint64_t req) noexcept
    {
        ring_[head_] = v;
        rise_[head_] = rise;
        req_[head_] = req;
        head_ = (head_ + 1) % epochs;
        count_ = std::min(count_ + 1, epochs);
    }

    uint64_t epoch_ns_;
    uint64_t epoch_start_;
    uint64_t cur_ = 0;
    uint64_t cur_rise_ = 0;
    uint64_t cur_req_ = 0;
    std::array<uint64_t, epochs> ring_{};
    std::array<uint64_t, epochs> rise_{};
    std::array<uint64_t, epochs> req_{};
    size_t head_ = 0;
    size_t count_ = 0;
};

struct adaptive_state {
    // Hold window = idle period x hold_num / 4: 2 (1/2x) .. 16 (4x); starts at 4 (1x).
    uint32_t hold_num = 4;
    uint64_t last_release_ns = 0;
    bool release_pending_check = false; // a release whose regrowth we still watch for
    uint64_t last_tick_in_use = 0;

    uint64_t hold_ns(uint64_t idle_ns) const noexcept { return idle_ns / 4 * hold_num; }

    // A growth happened at `now`: was the last release premature?
    void on_grow(uint64_t now, uint64_t idle_ns) noexcept
    {
        if (release_pending_check && now - last_release_ns < idle_ns)
            hold_num = std::min<uint32_t>(hold_num * 2, 16);
        release_pending_check = false;
    }

    // Called at samples: a release that survived the idle period without regrowth.
    void settle(uint64_t now, uint64_t idle_ns) noexcept
    {
        if (release_pending_check && now - last_release_ns >= idle_ns) {
            hold_num = std::max<uint32_t>(hold_num / 2, 2);
            release_pending_check = false;
        }
    }

    void on_release(uint64_t now) noexcept
    {
        last_release_ns = now;
        release_pending_check = true;
    }

    // How many trailing chunks to keep: pinned must still cover `need` after a release.
    static bool surplus(uint64_t pinned, uint64_t chunk, uint64_t need) noexcept
    {
        return pinned >= chunk && pinned - chunk >= need;
    }

    // While demand climbs: is the free room short of twice the expected rise?
    static bool short_of(uint64_t pinned, uint64_t in_use, uint64_t expect) noexcept
    {
        return pinned - std::min(pinned, in_use) < 2 * expect;
    }
};

} // namespace elastic::detail
