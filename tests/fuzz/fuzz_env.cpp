// SPDX-License-Identifier: BSD-3-Clause
// libFuzzer: the environment parsers of drop-in mempools (ELASTIC_MEMPOOL_*, params_from_env in
// mempool_face.cpp) and of the maintenance mode (ELASTIC_MAINTENANCE, maintenance_parse_mode)
// on arbitrary strings.
//
// Input: records separated by '\n'. A record's first byte picks a variable (its low bits) and
// whether to set or unset it (its top bit); the rest of the record is the value (up to a NUL).
// Checked for every input:
//   - nothing crashes, whatever the bytes;
//   - each field equals what an independent reading of the rule gives: the value when it is
//     plain decimal digits without a leading zero and inside the range the explicit API accepts
//     for that field, otherwise the default (elastic_mempool_params_init, the drop-in sizes);
//   - the result is always a parameter set the explicit API accepts (check_params in
//     mempool_capi.cpp: objects > 0, periods > 0, headroom <= 64, known flags only);
//   - a maintenance mode is accepted exactly when it is one of its five names.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <rte_log.h>

#include "elastic_mempool.h"
#include "maintenance.hpp"
#include "mempool_face.hpp"

#define CHECK(c)                                                                                \
    do {                                                                                        \
        if (!(c)) {                                                                             \
            fprintf(stderr, "fuzz_env: check failed at line %d: %s\n", __LINE__, #c);           \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

namespace {

using namespace elastic::detail;

struct var {
    const char *name;
    uint32_t lo, hi;
};
// The ranges of the explicit API (elastic_mempool.h, check_params), one per variable.
const var vars[] = {
    {"ELASTIC_MEMPOOL_BASE_OBJS", 1, UINT32_MAX},
    {"ELASTIC_MEMPOOL_CHUNK_OBJS", 1, UINT32_MAX},
    {"ELASTIC_MEMPOOL_TICK_MS", 0, UINT32_MAX},
    {"ELASTIC_MEMPOOL_SAMPLE_MS", 1, UINT32_MAX},
    {"ELASTIC_MEMPOOL_IDLE_MS", 1, UINT32_MAX},
    {"ELASTIC_MEMPOOL_HEADROOM", 0, 64},
    {"ELASTIC_MEMPOOL_LOW_WATERMARK", 0, UINT32_MAX},
    {"ELASTIC_MEMPOOL_FLAGS", 0, UINT32_MAX},
    {"ELASTIC_MEMPOOL_ADAPTIVE", 0, 1},
    {"ELASTIC_MEMPOOL_NO_GUARD", 0, 1},
    {"ELASTIC_MEMPOOL_BREAKEVEN", 0, 1},
};
constexpr size_t nb_vars = sizeof(vars) / sizeof(vars[0]);
constexpr uint32_t all_flags = ELASTIC_MEMPOOL_F_NO_SHRINK | ELASTIC_MEMPOOL_F_MANUAL_TICK |
                               ELASTIC_MEMPOOL_F_NO_PREGROW | ELASTIC_MEMPOOL_F_ADAPTIVE |
                               ELASTIC_MEMPOOL_F_NO_GUARD | ELASTIC_MEMPOOL_F_LCORE_MAGAZINE |
                               ELASTIC_MEMPOOL_F_BREAKEVEN;

// The rule, read independently of the parser: digits only, no leading zero, in [lo, hi].
bool accept(const std::string *v, uint32_t lo, uint32_t hi, uint32_t &out)
{
    if (v == nullptr || v->empty() || v->size() > 10 || ((*v)[0] == '0' && v->size() > 1))
        return false;
    uint64_t x = 0;
    for (char c : *v) {
        if (c < '0' || c > '9')
            return false;
        x = x * 10 + uint64_t(c - '0');
    }
    if (x < lo || x > hi)
        return false;
    out = uint32_t(x);
    return true;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    rte_openlog_stream(fopen("/dev/null", "w")); // every refused value is a warning
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    std::string value[nb_vars + 1];
    bool set[nb_vars + 1] = {};
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && d[e] != '\n')
            e++;
        if (e > i) {
            const size_t k = (d[i] & 0x7f) % (nb_vars + 1);
            set[k] = (d[i] & 0x80) == 0;
            std::string v(reinterpret_cast<const char *>(d + i + 1), e - i - 1);
            value[k] = v.substr(0, v.find('\0')); // what an environment can hold
        }
        i = e + 1;
    }
    for (size_t k = 0; k < nb_vars; k++) {
        if (set[k])
            setenv(vars[k].name, value[k].c_str(), 1);
        else
            unsetenv(vars[k].name);
    }
    elastic_mempool_params got;
    emp::params_from_env(&got);

    auto v = [&](size_t k) { return set[k] ? &value[k] : nullptr; };
    elastic_mempool_params want;
    elastic_mempool_params_init(&want);
    uint32_t x;
    want.base_objs = accept(v(0), 1, UINT32_MAX, x) ? x : 8192;   // drop-in default sizes
    want.chunk_objs = accept(v(1), 1, UINT32_MAX, x) ? x : 4096;
    want.tick_ms = accept(v(2), 0, UINT32_MAX, x) ? x : want.tick_ms;
    want.sample_period_ms = accept(v(3), 1, UINT32_MAX, x) ? x : want.sample_period_ms;
    want.idle_period_ms = accept(v(4), 1, UINT32_MAX, x) ? x : want.idle_period_ms;
    want.headroom_chunks = accept(v(5), 0, 64, x) ? x : want.headroom_chunks;
    want.low_watermark = accept(v(6), 0, UINT32_MAX, x) ? x : want.chunk_objs / 2;
    want.flags = accept(v(7), 0, UINT32_MAX, x) && (x & ~all_flags) == 0 ? x : 0;
    if (accept(v(8), 0, 1, x) && x == 1)
        want.flags |= ELASTIC_MEMPOOL_F_ADAPTIVE;
    if (accept(v(9), 0, 1, x) && x == 1)
        want.flags |= ELASTIC_MEMPOOL_F_NO_GUARD;
    if (accept(v(10), 0, 1, x) && x == 1)
        want.flags |= ELASTIC_MEMPOOL_F_BREAKEVEN;

    CHECK(got.base_objs == want.base_objs);
    CHECK(got.chunk_objs == want.chunk_objs);
    CHECK(got.tick_ms == want.tick_ms);
    CHECK(got.sample_period_ms == want.sample_period_ms);
    CHECK(got.idle_period_ms == want.idle_period_ms);
    CHECK(got.headroom_chunks == want.headroom_chunks);
    CHECK(got.low_watermark == want.low_watermark);
    CHECK(got.flags == want.flags);
    CHECK(got.clock == nullptr && got.chunk_hook == nullptr);
    // What the explicit API accepts (check_params), whatever the environment said.
    CHECK(got.base_objs > 0 && got.chunk_objs > 0);
    CHECK(got.sample_period_ms > 0 && got.idle_period_ms > 0);
    CHECK(got.headroom_chunks <= emp::max_headroom);
    CHECK((got.flags & ~emp::known_flags) == 0);

    // ELASTIC_MAINTENANCE: one of five names, nothing else.
    const std::string &mode = value[nb_vars];
    maint_mode m = maint_mode::manual;
    const bool known = mode == "auto" || mode == "service" || mode == "alarm" ||
                       mode == "thread" || mode == "manual";
    CHECK((maintenance_parse_mode(mode.c_str(), &m) == 0) == known);
    return 0;
}
