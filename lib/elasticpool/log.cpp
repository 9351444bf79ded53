// SPDX-License-Identifier: BSD-3-Clause
#include "log.hpp"

namespace elastic::detail {
int logtype;
}

RTE_INIT(elastic_log_init)
{
    int t = rte_log_register_type_and_pick_level("lib.elasticpool", RTE_LOG_INFO);
    elastic::detail::logtype = t >= 0 ? t : RTE_LOGTYPE_USER1;
}
