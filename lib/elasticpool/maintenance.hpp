// SPDX-License-Identifier: BSD-3-Clause
// Automatic maintenance ticks (patent step 602: TckCnt). One ticker thread serves every pool of
// the process; it starts with the first pool that wants automatic ticks and stops with the last.
// Removing a pool waits for a tick that is running on it, so no tick touches a freed pool.
#pragma once

namespace elastic::detail {

class var_pool;

void ticker_add(var_pool *p);    // may throw std::bad_alloc / std::system_error
void ticker_remove(var_pool *p) noexcept;

} // namespace elastic::detail
