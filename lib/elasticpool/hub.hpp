// SPDX-License-Identifier: BSD-3-Clause
// One core per process, even when it is linked in twice.
//
// The core is linked whole into libelasticpool.so and into the elastic mempool driver .so, so a
// program that links libelasticpool.so and loads the driver (EAL -d, LD_PRELOAD, or linked)
// holds two copies. Each copy defines the exported pointer `elastic_core_hub_v1` to its own table
// of entry points; the dynamic linker binds every copy's reference to one definition (the first
// in the global lookup scope: the program, its libraries in load order, LD_PRELOAD first; a
// driver dlopen'ed by EAL -d sees the program's scope before its own). Every copy then sends its
// maintenance registrations and the mempools' telemetry hook to that one copy, and only that
// copy registers the telemetry commands: one maintenance service, one /elastic/* answer.
// A copy whose table has another ABI is ignored (each copy then keeps its own maintenance).
#pragma once

#include <cstdint>

#include "maintenance.hpp"
#include "telemetry.hpp"

namespace elastic::detail {

inline constexpr uint32_t core_hub_abi = 1;

struct core_hub {
    uint32_t abi;
    uint32_t size; // sizeof(core_hub)
    void (*maint_add)(maint_tick_fn fn, void *ctx, uint64_t tick_ns);
    void (*maint_remove)(void *ctx) noexcept;
    int (*maint_set_mode)(maint_mode m) noexcept;
    int (*maint_run)() noexcept;
    maint_info (*maint_get_info)() noexcept;
    void (*mempool_telemetry)(mempool_list_fn list, mempool_info_fn info) noexcept;
};

// The process's hub: the bound definition when its ABI matches, this copy's own otherwise.
const core_hub &hub() noexcept;
// Whether this copy is the one that serves the process.
bool hub_is_own() noexcept;

// This copy's implementations (hub.cpp's table points to them; hidden: never interposed).
namespace own {
[[gnu::visibility("hidden")]] void maint_add(maint_tick_fn fn, void *ctx, uint64_t tick_ns);
[[gnu::visibility("hidden")]] void maint_remove(void *ctx) noexcept;
[[gnu::visibility("hidden")]] int maint_set_mode(maint_mode m) noexcept;
[[gnu::visibility("hidden")]] int maint_run() noexcept;
[[gnu::visibility("hidden")]] maint_info maint_get_info() noexcept;
[[gnu::visibility("hidden")]] void mempool_telemetry(mempool_list_fn list,
                                                     mempool_info_fn info) noexcept;
} // namespace own

} // namespace elastic::detail
