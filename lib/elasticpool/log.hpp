// SPDX-License-Identifier: BSD-3-Clause
// One registered logtype for the core ("lib.elasticpool") and one private macro.
#pragma once

#include <rte_log.h>

namespace elastic::detail {
extern int logtype;
}

#define EP_LOG(level, fmt, ...) \
    rte_log(RTE_LOG_##level, ::elastic::detail::logtype, \
            "elasticpool: " fmt "\n" __VA_OPT__(,) __VA_ARGS__)
