// SPDX-License-Identifier: BSD-3-Clause
// The ports of this process whose PMD learns pool memory only once (docs/mempool-driver.md, "The
// guard"). What the growth path asks costs one atomic load and calls into no port: a port's
// family is read from its driver name when the port appears (RTE_ETH_EVENT_NEW, in the thread
// that probes it) and forgotten when it goes (RTE_ETH_EVENT_DESTROY); ports that exist when the
// table is attached are read then, in the thread that attaches it (the one creating an elastic
// mbuf pool: DPDK's control thread).
#pragma once

#include <cstdint>

namespace elastic::detail {

// Start following ports (idempotent, thread-safe): registers the ethdev event callbacks once and
// reads the ports that exist now. Called where the application creates pools.
void pmd_guard_attach() noexcept;

// A port of a snapshotting family, or -1 when the process has none. Lock-free; no ethdev call.
// `driver` (when not null) gets the family's name.
// Families: af_xdp, mlx5, mlx4, mana, sfc, thunderx, vmxnet3 (a substring of the driver name);
// ELASTIC_MEMPOOL_GUARD_DRIVERS (read once; tests only) adds up to 4 comma-separated names.
int pmd_guard_port(const char **driver) noexcept;

} // namespace elastic::detail
