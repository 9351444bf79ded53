// SPDX-License-Identifier: BSD-3-Clause
#pragma once

#include <cstdint>

namespace elastic::detail {

// Precise monotonic clock, for measuring durations (growth time, timeouts).
uint64_t monotonic_ns() noexcept;

// The default policy clock: CLOCK_MONOTONIC_COARSE, a few ns to read and a few ms of
// resolution, plenty for periods of seconds and minutes (and for tests with tens of ms).
uint64_t policy_clock_ns(void *ctx) noexcept;

} // namespace elastic::detail
