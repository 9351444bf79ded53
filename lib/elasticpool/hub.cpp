// SPDX-License-Identifier: BSD-3-Clause
#include "hub.hpp"

namespace elastic::detail {

namespace {

const core_hub own_hub = {
    core_hub_abi,
    sizeof(core_hub),
    own::maint_add,
    own::maint_remove,
    own::maint_set_mode,
    own::maint_run,
    own::maint_get_info,
    own::mempool_telemetry,
};

} // namespace

} // namespace elastic::detail

// Not const: the compiler must read it through the GOT (a constant could be folded to this
// copy's own value).
extern "C" [[gnu::visibility("default")]] const elastic::detail::core_hub *elastic_core_hub_v1;
const elastic::detail::core_hub *elastic_core_hub_v1 = &elastic::detail::own_hub;

namespace elastic::detail {

const core_hub &hub() noexcept
{
    const core_hub *h = __atomic_load_n(&elastic_core_hub_v1, __ATOMIC_RELAXED);
    if (h == nullptr || h->abi != core_hub_abi || h->size != sizeof(core_hub))
        return own_hub;
    return *h;
}

bool hub_is_own() noexcept { return &hub() == &own_hub; }

} // namespace elastic::detail
