// SPDX-License-Identifier: BSD-3-Clause
// Start-up shared by the Google Benchmark programs that run under the EAL (bench-buf,
// bench-varsize): EAL words before a "--", benchmark flags after it; a default file prefix and
// --no-pci unless the words say otherwise; ELASTIC_EAL_ARGS appended; and the random table of
// "mixed" request sizes.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include "elasticpool.h"

namespace bench_eal {

inline std::vector<std::string> words(const char *s)
{
    std::vector<std::string> out;
    std::string cur;
    for (; s != nullptr && *s != '\0'; s++) {
        if (*s == ' ' || *s == '\t' || *s == '\n') {
            if (!cur.empty())
                out.push_back(cur);
            cur.clear();
        } else {
            cur += *s;
        }
    }
    if (!cur.empty())
        out.push_back(cur);
    return out;
}

inline bool has_prefix(const std::vector<std::string> &args, std::string_view p)
{
    for (const auto &a : args)
        if (std::string_view(a).substr(0, p.size()) == p)
            return true;
    return false;
}

// rte_eal_init with the words before "--" (plus the defaults), then benchmark::Initialize with
// the rest. Returns false (with a message; the EAL cleaned up if it had started) on failure.
inline bool start(int argc, char **argv, const char *default_prefix)
{
    int dd = -1;
    for (int i = 1; i < argc; i++)
        if (std::strcmp(argv[i], "--") == 0) {
            dd = i;
            break;
        }
    std::vector<std::string> eal{argv[0]};
    static std::vector<char *> bench; // benchmark keeps pointers into argv
    bench.assign(1, argv[0]);
    for (int i = 1; i < argc; i++) {
        if (i == dd)
            continue;
        if (i < dd)
            eal.emplace_back(argv[i]);
        else
            bench.push_back(argv[i]);
    }
    if (!has_prefix(eal, "--file-prefix"))
        eal.emplace_back(std::string("--file-prefix=") + default_prefix);
    if (!has_prefix(eal, "--no-pci") && !has_prefix(eal, "-a") && !has_prefix(eal, "--allow"))
        eal.emplace_back("--no-pci");
    for (auto &w : words(std::getenv("ELASTIC_EAL_ARGS")))
        eal.push_back(std::move(w));
    std::vector<char *> eal_argv;
    for (auto &a : eal)
        eal_argv.push_back(a.data());
    eal_argv.push_back(nullptr);

    // The EAL pins this thread to the main lcore's CPU and the benchmark threads would inherit
    // that: give them back the CPUs the process had.
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    sched_getaffinity(0, sizeof(cpus), &cpus);
    if (rte_eal_init(static_cast<int>(eal_argv.size() - 1), eal_argv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
        return false;
    }
    pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);

    int bench_argc = static_cast<int>(bench.size());
    bench.push_back(nullptr);
    benchmark::Initialize(&bench_argc, bench.data());
    if (benchmark::ReportUnrecognizedArguments(bench_argc, bench.data())) {
        rte_eal_cleanup();
        return false;
    }
    return true;
}

// A fixed random table of request sizes: every class 4 KiB .. 256 KiB equally likely, the size
// random within the class's upper half (4 KiB exactly for the smallest).
inline std::vector<size_t> mixed_table(size_t n)
{
    std::mt19937_64 rng(42);
    std::vector<size_t> t(n);
    for (size_t &v : t) {
        const unsigned k = std::uniform_int_distribution<unsigned>(0, 6)(rng);
        const size_t cls = ELASTIC_BUF_MIN_SIZE << k;
        v = std::uniform_int_distribution<size_t>(k == 0 ? cls : cls / 2 + 1, cls)(rng);
    }
    return t;
}

} // namespace bench_eal
