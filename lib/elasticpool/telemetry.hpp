// SPDX-License-Identifier: BSD-3-Clause
// The telemetry commands (telemetry.cpp) answer for the variable-size pools themselves and ask
// the elastic mempool driver (drivers/mempool/elastic) about elastic mempools through a hook the
// driver registers at load time, so that lib/ does not depend on drivers/.
//
// The core is linked whole into libelasticpool.so and into the driver .so; each copy registers
// the /elastic/* commands in its constructor. DPDK 22.11's rte_telemetry_register_cmd does not
// refuse a command registered twice: the later registration answers (see docs/operations.md).
#pragma once

struct rte_tel_data;

namespace elastic::detail {

// Adds the names of the process's elastic mempools to `array` (started as a string array).
using mempool_list_fn = void (*)(rte_tel_data *array) noexcept;
// Fills `dict` (not started) for the elastic mempool `name`: 0, or -ENOENT when there is none.
using mempool_info_fn = int (*)(const char *name, rte_tel_data *dict) noexcept;

// Called once by the driver (RTE_INIT); later calls replace the hook.
void register_mempool_telemetry(mempool_list_fn list, mempool_info_fn info) noexcept;

} // namespace elastic::detail
