// SPDX-License-Identifier: BSD-3-Clause
// The memory-pressure trigger (DESIGN.md §1, "other triggers"): the chunk ledger asks at every
// tick whether the node its pool pins memory on is short of memory; when it is, every empty
// trailing chunk goes at once, whatever its idle time, as long as the headroom stays
// (ledger::tick). Two sources, set through the public API (elasticpool.h):
//   - the application's callback (elastic_memory_pressure_callback_set), asked first;
//   - a threshold on the node's free hugepage bytes (elastic_memory_pressure_threshold_set),
//     read from /sys/devices/system/node/node<N>/hugepages/*/free_hugepages (the whole system's
//     /sys/kernel/mm/hugepages when the node is unknown), at most once per 100 ms per node.
// Process-wide settings (each process of a multi-process group sets its own).
#pragma once

#include <cstdint>

namespace elastic::detail {

bool node_memory_pressure(int node) noexcept;

// Free hugepage bytes of `node` (all page sizes); the whole system's for node < 0. -1 when the
// kernel does not say (no sysfs).
int64_t node_free_hugepage_bytes(int node) noexcept;

} // namespace elastic::detail
