// SPDX-License-Identifier: BSD-3-Clause
// The maintenance service (patent step 602: TckCnt): one for every pool of the process.
//
// Members (variable-size pools, elastic mempools) register a tick function and a tick period.
// A *pass* visits every member once and ticks those whose period has run out; passes are driven
// by one of
//   service  a DPDK service component named "elastic_maintenance", mapped to a service lcore
//            (the application gave -s/-S, or added one at run time with rte_service_lcore_add);
//   alarm    an EAL alarm re-armed after each pass (EAL up, no service lcore); it hands over to
//            the service as soon as a service lcore appears (automatic mode);
//   thread   a plain std::thread (no EAL);
//   manual   nothing automatic: the application calls elastic_maintenance_run() from its loop.
// The driver starts with the first member and stops with the last. The choice is automatic
// unless ELASTIC_MAINTENANCE=service|alarm|thread|manual is set (read when the driver starts)
// or maintenance_set_mode() was called.
//
// Locking: passes are serialised by one mutex; the member list has its own, which is never held
// while a tick runs. A member being ticked is marked busy: removing it waits for that tick to
// end, so no tick ever touches a member after its removal returned. Ticks run without any
// maintenance lock, so a tick (a waiter callback inside it) may create and free members, its own
// included. Nothing that waits for a driver callback (rte_eal_alarm_cancel, a thread join) is
// ever called under a lock the callback takes: alarms are never cancelled (a stale one carries
// an old token and returns at once) and the thread is joined after unlocking.
//
// Per process: the core exists once, in libelasticpool.so (the mempool driver links it rather
// than a copy of it), so the state below is the process's one maintenance.
#pragma once

#include <cstdint>

namespace elastic::detail {

class var_pool;

// Tick function of a member: `now_ns` is CLOCK_MONOTONIC. Must be bounded (never waits for the
// datapath or for memory).
using maint_tick_fn = void (*)(void *ctx, uint64_t now_ns) noexcept;

// Register a member, identified by ctx; its tick runs at most every tick_ns (>= 1 ms used).
// May throw std::bad_alloc / std::system_error.
void maintenance_add(maint_tick_fn fn, void *ctx, uint64_t tick_ns);
// Unregister; after return no tick of ctx runs or is running (except the caller's own, when
// called from inside a tick). Unknown ctx: no-op.
void maintenance_remove(void *ctx) noexcept;

// The variable-size pools' registration (capi.cpp).
void ticker_add(var_pool *p);
void ticker_remove(var_pool *p) noexcept;

enum class maint_mode { automatic, service, alarm, thread, manual };

// Choose how passes are driven. Applies from the next start of the driver (when the first
// member arrives); -EBUSY while members are registered, -EINVAL for a bad value.
int maintenance_set_mode(maint_mode m) noexcept;
// Parse "auto", "service", "alarm", "thread", "manual"; -EINVAL otherwise.
int maintenance_parse_mode(const char *s, maint_mode *out) noexcept;

// One pass now from the calling thread; returns the number of members ticked, -EDEADLK from
// inside a tick.
int maintenance_run() noexcept;

// What drives the passes now, and counters (tests, telemetry).
enum class maint_driver { none, service, alarm, thread, manual };
const char *maint_driver_name(maint_driver d) noexcept;
struct maint_info {
    maint_driver driver;
    uint32_t members;
    uint64_t passes;        // passes run since the process started (all drivers, run() included)
    uint64_t period_ns;     // time between automatic passes now
    unsigned last_lcore;    // rte_lcore_id() of the last pass (LCORE_ID_ANY off-lcore or no EAL)
    int last_tid;           // gettid() of the last pass
    int service_id;         // -1 when the component is not registered
    int service_lcore;      // lcore it is mapped to, -1 when not mapped
};
maint_info maintenance_info() noexcept;

} // namespace elastic::detail
