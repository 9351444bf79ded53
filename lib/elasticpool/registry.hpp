// SPDX-License-Identifier: BSD-3-Clause
// The registry of pools by name (defined in capi.cpp), for telemetry and the per-NUMA manager.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

struct elastic_pool;

namespace elastic::detail {

class var_pool;
struct pool_config;

// elastic_pool_create() from a validated configuration (pool_config::from_params), for callers
// inside the library that set fields the C parameters do not have. NULL with rte_errno set.
::elastic_pool *create_registered(const pool_config &cfg) noexcept;

// Names of every pool of the process, sorted. May throw std::bad_alloc.
std::vector<std::string> pool_names();

// Runs fn on the pool named `name` while it cannot be freed (the registry lock is held: fn must
// not create, free or look up pools). Returns false when there is no such pool.
bool with_pool(std::string_view name, const std::function<void(const var_pool &)> &fn);

} // namespace elastic::detail
