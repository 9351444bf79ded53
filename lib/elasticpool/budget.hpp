// SPDX-License-Identifier: BSD-3-Clause
// Node budgets: the bytes pinned by every pool of both faces on one NUMA node, against that
// node's cap (elastic_numa_node_cap_set). The chunk ledger (ledger.hpp) asks before every growth
// (the base chunk included) and gives back on every release, failed reservation and destroy.
//
// The table lives where every process of the DPDK multi-process group sees it (a memzone when
// the EAL is up; process memory without the EAL), so a growth in a secondary process is admitted
// against the same numbers. Lock-free (atomics only): it is called under pool locks.
#pragma once

#include <cstdint>

namespace elastic::detail {

// The node a pool's budget is kept on: socket_id itself when >= 0; for SOCKET_ID_ANY (-1) the
// node of the calling lcore / cpu at creation (0 when unknown).
int node_budget_resolve(int socket_id) noexcept;

// Admit `bytes` of growth on `node`: true and counted as pinned there, or false (over the cap;
// the refusal is counted). A node the table does not know is admitted without a cap.
bool node_budget_admit(int node, uint64_t bytes) noexcept;

// Give back bytes admitted earlier (chunk released, reservation failed, pool destroyed).
void node_budget_give_back(int node, uint64_t bytes) noexcept;

} // namespace elastic::detail
