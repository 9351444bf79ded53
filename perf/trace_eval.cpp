// SPDX-License-Identifier: BSD-3-Clause
// elastic-trace-eval: replays an allocation trace through a real pool (heap provider, manual
// ticks, simulated clock) and prints one line of JSON with the policy's metrics (trace_lib.cpp
// says how each is measured).
//
// Usage: elastic-trace-eval --trace FILE --policy {static,patent,adaptive,breakeven,optimum}
//          [--base B (16M)] [--chunk B (16M)] [--wall B (256M)] [--tick-ms N (500)]
//          [--sample-ms N (60000)] [--idle-ms N (300000)] [--headroom N (1)]
//          [--timeline FILE] [--chunk-log FILE] [--verbose]
//          [--face {pool,mempool} (pool)] [--obj-size B (1984)]
// --face mempool replays against an elastic mempool of --obj-size objects instead of a
// variable-size pool (trace_mempool.cpp); it starts the EAL without hugepages (--no-huge,
// --no-pci, -m sized to the wall) and a private file prefix. --chunk-log is pool-only. The
// default object, 1984 bytes, is 2048 with its header: two per 4 KiB page.
// Sizes take K/M/G suffixes. `static` pins the wall from the start (base = wall).
// --timeline writes "t_s pinned_bytes in_use_bytes" rows: one per tick and one per change of the
// pinned bytes. --chunk-log writes "t_s kind chunks pinned_bytes in_use_bytes" rows, one per
// growth (kind stall / ahead / grow) and release. --verbose keeps the pool's own log lines
// (silenced below CRIT otherwise).
// Exit status: 0 done; 2 bad usage or bad trace (the message names the line); 3 the pool refused
// the policy (ENOTSUP: "adaptive: not available"); 1 anything else.
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <rte_eal.h>
#include <rte_log.h>
#include <unistd.h>

#include "trace_lib.hpp"

namespace {

int usage(const std::string &msg)
{
    if (!msg.empty())
        fprintf(stderr, "elastic-trace-eval: %s\n", msg.c_str());
    fprintf(stderr,
            "usage: elastic-trace-eval --trace FILE --policy {static,patent,adaptive,breakeven,optimum}\n"
            "         [--base B] [--chunk B] [--wall B] [--tick-ms N] [--sample-ms N]\n"
            "         [--idle-ms N] [--headroom N] [--timeline FILE] [--chunk-log FILE]\n"
            "         [--verbose] [--face {pool,mempool}] [--obj-size B]\n");
    return 2;
}

bool parse_u32(const char *s, uint32_t &out)
{
    const std::string_view v(s);
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc() && p == v.data() + v.size();
}

} // namespace

int main(int argc, char **argv)
{
    using namespace elastic::trace;
    eval_config cfg;
    const char *trace_path = nullptr, *timeline_path = nullptr, *chunk_log_path = nullptr;
    bool have_policy = false, verbose = false, mempool = false;
    // 1984 + DPDK's 64-byte object header = 2048 bytes: two objects per 4 KiB page. (Without
    // hugepages DPDK keeps every object inside one page, so 2048-byte objects, 2112 with the
    // header, would take a whole 4 KiB page each and pin twice the bytes.)
    uint64_t obj_size = 1984;
    for (int i = 1; i < argc; i++) {
        const std::string a(argv[i]);
        if (a == "-h" || a == "--help") {
            usage("");
            return 0;
        }
        if (a == "--verbose") {
            verbose = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage("missing value after " + a);
        const char *v = argv[++i];
        bool ok = true;
        if (a == "--trace")
            trace_path = v;
        else if (a == "--timeline")
            timeline_path = v;
        else if (a == "--chunk-log")
            chunk_log_path = v;
        else if (a == "--policy")
            ok = have_policy = policy_from_name(v, cfg.pol);
        else if (a == "--base")
            ok = parse_size(v, cfg.base);
        else if (a == "--chunk")
            ok = parse_size(v, cfg.chunk);
        else if (a == "--wall")
            ok = parse_size(v, cfg.wall);
        else if (a == "--tick-ms")
            ok = parse_u32(v, cfg.tick_ms) && cfg.tick_ms > 0;
        else if (a == "--sample-ms")
            ok = parse_u32(v, cfg.sample_ms) && cfg.sample_ms > 0;
        else if (a == "--idle-ms")
            ok = parse_u32(v, cfg.idle_ms);
        else if (a == "--headroom")
            ok = parse_u32(v, cfg.headroom);
        else if (a == "--face")
            ok = (mempool = std::string(v) == "mempool") || std::string(v) == "pool";
        else if (a == "--obj-size")
            ok = parse_size(v, obj_size) && obj_size <= (1u << 20);
        else
            return usage("unknown option " + a);
        if (!ok)
            return usage("bad value '" + std::string(v) + "' for " + a);
    }
    if (trace_path == nullptr || !have_policy)
        return usage("--trace and --policy are required");
    if (!verbose)
        rte_log_set_level_pattern("lib.elasticpool*", RTE_LOG_CRIT);

    std::string text;
    {
        std::ifstream in(trace_path, std::ios::binary);
        if (!in) {
            fprintf(stderr, "elastic-trace-eval: %s: %s\n", trace_path, strerror(errno));
            return 2;
        }
        std::ostringstream ss;
        ss << in.rdbuf();
        text = std::move(ss).str();
    }
    trace tr;
    parse_error perr;
    if (!parse_trace(text, tr, perr)) {
        fprintf(stderr, "elastic-trace-eval: %s:%zu: %s\n", trace_path, perr.line,
                perr.message.c_str());
        return 2;
    }
    text.clear();
    text.shrink_to_fit();

    FILE *tl = nullptr;
    if (timeline_path != nullptr) {
        tl = fopen(timeline_path, "w");
        if (tl == nullptr) {
            fprintf(stderr, "elastic-trace-eval: %s: %s\n", timeline_path, strerror(errno));
            return 1;
        }
        fprintf(tl, "# policy %s, trace %s\n# t_s pinned_bytes in_use_bytes\n",
                policy_name(cfg.pol), trace_path);
        cfg.timeline = [tl](uint64_t t_ms, uint64_t pinned, uint64_t in_use) {
            fprintf(tl, "%" PRIu64 ".%03u %" PRIu64 " %" PRIu64 "\n", t_ms / 1000,
                    unsigned(t_ms % 1000), pinned, in_use);
        };
    }
    FILE *cl = nullptr;
    if (chunk_log_path != nullptr) {
        cl = fopen(chunk_log_path, "w");
        if (cl == nullptr) {
            fprintf(stderr, "elastic-trace-eval: %s: %s\n", chunk_log_path, strerror(errno));
            return 1;
        }
        fprintf(cl, "# policy %s, trace %s\n# t_s kind chunks pinned_bytes in_use_bytes\n",
                policy_name(cfg.pol), trace_path);
        cfg.chunk_log = [cl](uint64_t t_ms, const char *kind, uint64_t n, uint64_t pinned,
                             uint64_t in_use) {
            fprintf(cl, "%" PRIu64 ".%03u %s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t_ms / 1000,
                    unsigned(t_ms % 1000), kind, n, pinned, in_use);
        };
    }
    metrics m;
    std::string err;
    int rc;
    if (mempool && cfg.pol == policy::optimum) {
        offline_optimum(tr, cfg, m, uint32_t(obj_size)); // no pool, no EAL
        rc = 0;
    } else if (mempool) {
        // Memory for the wall and the EAL's own needs, in MiB, without hugepages.
        const std::string mem = std::to_string((cfg.wall >> 20) * 2 + 128);
        const std::string name = "trace_eval_" + std::to_string(getpid());
        const std::string prefix = "--file-prefix=" + name;
        const char *eal_argv[] = {"elastic-trace-eval", "--no-huge", "-m", mem.c_str(),
                                  "--no-pci", "--no-telemetry", "-l", "0", prefix.c_str(),
                                  "--log-level=lib.eal:crit", nullptr};
        if (rte_eal_init(9 + 1, const_cast<char **>(eal_argv)) < 0) {
            fprintf(stderr, "elastic-trace-eval: rte_eal_init failed\n");
            return 1;
        }
        if (!verbose)
            rte_log_set_level_pattern("*elastic*", RTE_LOG_CRIT);
        rc = evaluate_mempool(tr, cfg, uint32_t(obj_size), m, err);
        // The runtime directory of this run's own prefix (DPDK 22.11 leaves it behind; one per
        // replay filled /var/run/dpdk with a thousand of them in one eval-all run).
        const std::string rundir = std::string(rte_eal_get_runtime_dir());
        rte_eal_cleanup();
        std::error_code ec;
        if (rundir.find(name) != std::string::npos)
            std::filesystem::remove_all(rundir, ec);
    } else {
        rc = evaluate(tr, cfg, m, err);
    }
    if (cl != nullptr && fclose(cl) != 0) {
        fprintf(stderr, "elastic-trace-eval: %s: %s\n", chunk_log_path, strerror(errno));
        return 1;
    }
    if (tl != nullptr && fclose(tl) != 0) {
        fprintf(stderr, "elastic-trace-eval: %s: %s\n", timeline_path, strerror(errno));
        return 1;
    }
    if (rc == -ENOTSUP) {
        fprintf(stderr, "elastic-trace-eval: %s: not available (%s)\n", policy_name(cfg.pol),
                err.c_str());
        return 3;
    }
    if (rc == -EOVERFLOW) { // the input's times: exit 2 naming it
        fprintf(stderr, "elastic-trace-eval: %s: %s (times are milliseconds from the pool's "
                "creation at 0: rebase epoch times to the first event)\n", trace_path,
                err.c_str());
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "elastic-trace-eval: %s%s\n", err.c_str(),
                verbose ? "" : " (--verbose shows the pool's log)");
        return 1;
    }
    printf("%s\n", to_json(m).c_str());
    return 0;
}
