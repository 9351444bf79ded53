// SPDX-License-Identifier: BSD-3-Clause
// elastic-trace-gen: writes a seeded allocation trace (see trace_shapes.cpp for the model).
//
// Usage: elastic-trace-gen --shape {burst,diurnal,step,sawtooth,poisson,flash-crowd,periodic,
//                                  step-down,heavy-tail,on-off,random-walk,packets,large-bufs,
//                                  mixture,random}
//                          [--seed N (1)] [--duration-s N (3600)] [--out FILE (stdout)]
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "trace_lib.hpp"

namespace {

int usage(const char *msg)
{
    if (msg != nullptr)
        fprintf(stderr, "elastic-trace-gen: %s\n", msg);
    fprintf(stderr,
            "usage: elastic-trace-gen --shape SHAPE [--seed N] [--duration-s N] [--out FILE]\n"
            "       elastic-trace-gen --pool-args SHAPE   (the pool the family is meant for)\n"
            "shapes:");
    for (const char *n : elastic::trace::shape_names)
        fprintf(stderr, " %s", n);
    fprintf(stderr, "\n");
    return 2;
}

bool parse_uint(const char *s, uint64_t max, uint64_t &out)
{
    const std::string_view v(s);
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc() && p == v.data() + v.size() && out <= max;
}

} // namespace

int main(int argc, char **argv)
{
    using namespace elastic::trace;
    gen_config cfg;
    bool have_shape = false;
    const char *out_path = nullptr;
    for (int i = 1; i < argc; i++) {
        const std::string_view a(argv[i]);
        if (a == "-h" || a == "--help") {
            usage(nullptr);
            return 0;
        }
        if (i + 1 >= argc)
            return usage(("missing value after " + std::string(a)).c_str());
        const char *v = argv[++i];
        uint64_t n;
        if (a == "--pool-args") {
            if (!shape_from_name(v, cfg.kind))
                return usage((std::string("unknown shape '") + v + "'").c_str());
            printf("%s\n", shape_pool_args(cfg.kind));
            return 0;
        }
        if (a == "--shape") {
            if (!shape_from_name(v, cfg.kind))
                return usage((std::string("unknown shape '") + v + "'").c_str());
            have_shape = true;
        } else if (a == "--seed") {
            if (!parse_uint(v, UINT64_MAX, n))
                return usage("bad --seed");
            cfg.seed = n;
        } else if (a == "--duration-s") {
            if (!parse_uint(v, 30u * 86400u, n) || n == 0)
                return usage("bad --duration-s (1..2592000)");
            cfg.duration_s = uint32_t(n);
        } else if (a == "--out") {
            out_path = v;
        } else {
            return usage(("unknown option " + std::string(a)).c_str());
        }
    }
    if (!have_shape)
        return usage("--shape is required");

    FILE *f = out_path != nullptr ? fopen(out_path, "w") : stdout;
    if (f == nullptr) {
        fprintf(stderr, "elastic-trace-gen: %s: %s\n", out_path, strerror(errno));
        return 1;
    }
    bool ok = true;
    generate(cfg, [&](std::string_view piece) {
        ok = ok && fwrite(piece.data(), 1, piece.size(), f) == piece.size();
    });
    if ((out_path != nullptr ? fclose(f) : fflush(f)) != 0 || !ok) {
        fprintf(stderr, "elastic-trace-gen: write failed: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
