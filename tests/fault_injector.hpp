// SPDX-License-Identifier: BSD-3-Clause
// A provider that fails and stalls on request (issue 13): installs the core's fault hook
// (reserve_fault_set, provider.hpp) for its lifetime. Reservations are counted from 1 as the
// pool asks for them (both faces, the base included); the injector refuses the one numbered
// fail_at, every fail_every-th, or all of them while fail_all is set, and delays every other one
// by delay_us (a slow provider: the reservation still succeeds). Shared by the unit and EAL
// suites; they link the core statically (the shared library does not export the hook).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "provider.hpp"

namespace elastic::test {

class fault_injector {
public:
    std::atomic<uint64_t> fail_at{0};    // refuse reservation number fail_at (0: none)
    std::atomic<uint64_t> fail_every{0}; // refuse every fail_every-th (0: none)
    std::atomic<bool> fail_all{false};   // refuse every reservation
    std::atomic<uint32_t> delay_us{0};   // delay every reservation that is let through

    std::atomic<uint64_t> calls{0};      // reservations asked for
    std::atomic<uint64_t> refused{0};    // of which refused
    std::atomic<uint64_t> last_size{0};  // bytes of the last one asked for

    fault_injector() noexcept { elastic::detail::reserve_fault_set(&hook, this); }
    ~fault_injector() { elastic::detail::reserve_fault_set(nullptr, nullptr); }
    fault_injector(const fault_injector &) = delete;
    fault_injector &operator=(const fault_injector &) = delete;

private:
    static int hook(size_t size, void *ctx) noexcept
    {
        auto *f = static_cast<fault_injector *>(ctx);
        const uint64_t n = f->calls.fetch_add(1) + 1;
        f->last_size.store(size);
        const uint64_t every = f->fail_every.load();
        if (f->fail_all.load() || n == f->fail_at.load() || (every != 0 && n % every == 0)) {
            f->refused.fetch_add(1);
            return 12; // ENOMEM: what a provider out of memory says
        }
        if (const uint32_t us = f->delay_us.load(); us != 0)
            std::this_thread::sleep_for(std::chrono::microseconds(us));
        return 0;
    }
};

} // namespace elastic::test
