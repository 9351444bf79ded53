// SPDX-License-Identifier: BSD-3-Clause
// The telemetry commands (telemetry.cpp) answer for the variable-size pools themselves and ask
// the mempool face (mempool_telemetry.cpp) about elastic mempools through a hook it registers at
// load time, so that the commands need not know the face's internals.
#pragma once

struct rte_tel_data;

namespace elastic::detail {

// Adds the names of the process's elastic mempools to `array` (started as a string array).
using mempool_list_fn = void (*)(rte_tel_data *array) noexcept;
// Fills `dict` (not started) for the elastic mempool `name`: 0, or -ENOENT when there is none.
using mempool_info_fn = int (*)(const char *name, rte_tel_data *dict) noexcept;

// Called once by the mempool face (RTE_INIT); later calls replace the hook.
void register_mempool_telemetry(mempool_list_fn list, mempool_info_fn info) noexcept;

} // namespace elastic::detail
