// SPDX-License-Identifier: BSD-3-Clause
// libFuzzer: the trace parser (perf/trace_lib.cpp) and parse_size on any bytes: never crashes,
// never reads out of bounds; an accepted trace has non-decreasing times and valid request ids.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "elasticpool.h"
#include "trace_lib.hpp"

// The evaluator in trace_lib.cpp calls the pool; the parser never does. Stubs keep this target
// free of the library and the EAL.
extern "C" {
void elastic_pool_params_init(struct elastic_pool_params *) noexcept { abort(); }
struct elastic_pool *elastic_pool_create(const struct elastic_pool_params *) noexcept { abort(); }
void elastic_pool_free(struct elastic_pool *) noexcept { abort(); }
int elastic_buf_alloc_async(struct elastic_pool *, size_t, elastic_buf_cb_t *, void *) noexcept
{
    abort();
}
int elastic_buf_alloc_cancel(struct elastic_pool *, elastic_buf_cb_t *, void *) noexcept
{
    abort();
}
int elastic_buf_free(struct elastic_pool *, void *) noexcept { abort(); }
int elastic_pool_maintain(struct elastic_pool *) noexcept { abort(); }
int elastic_pool_stats_get(const struct elastic_pool *, struct elastic_pool_stats *) noexcept
{
    abort();
}
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    using namespace elastic::trace;
    const std::string_view text(reinterpret_cast<const char *>(d), n);
    uint64_t sz;
    (void)parse_size(text, sz);
    trace tr;
    parse_error err;
    if (!parse_trace(text, tr, err))
        return 0;
    uint64_t last = 0;
    for (const event &e : tr.events) {
        if (e.t_ms < last || e.req >= tr.sizes.size())
            abort();
        last = e.t_ms;
    }
    return 0;
}
