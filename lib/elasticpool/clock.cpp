// SPDX-License-Identifier: BSD-3-Clause
#include "clock.hpp"

#include <ctime>

namespace elastic::detail {

static uint64_t read_ns(clockid_t id) noexcept
{
    timespec ts;
    clock_gettime(id, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

uint64_t monotonic_ns() noexcept { return read_ns(CLOCK_MONOTONIC); }

uint64_t policy_clock_ns(void *) noexcept { return read_ns(CLOCK_MONOTONIC_COARSE); }

} // namespace elastic::detail
