// SPDX-License-Identifier: BSD-3-Clause
// Trace replay of elastic pools (issue 5): the trace format and its parser, the seeded trace
// generator, and the evaluator that replays a trace through a real pool on a simulated clock.
// elastic-trace-gen and elastic-trace-eval are thin front ends; the unit tests call this directly.
//
// Trace format: one event per line, CSV `t_ms,op,id,size`; `#` starts a comment (to the end of
// the line), blank lines are ignored, spaces around fields are allowed.
//   t_ms  integer milliseconds, non-decreasing from line to line
//   op    `a` allocate `size` bytes and name the buffer `id`; `f` free buffer `id`
//   id    1..64 characters, no comma, no space; an id may be reused once its buffer is freed
//   size  bytes, an optional K/M/G suffix (binary); > 0 for `a`; optional (ignored) for `f`
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace elastic::trace {

// "16M" -> 16 MiB, "4096" -> 4096; K, M, G (optionally followed by "iB" or "B"), binary.
// Returns false on anything else, on zero when !allow_zero, and on overflow.
bool parse_size(std::string_view s, uint64_t &out, bool allow_zero = false) noexcept;

// ---- the trace ------------------------------------------------------------------------------

struct event {
    uint64_t t_ms;
    uint32_t req;   // index into trace::sizes: one request per `a` line
    bool is_free;
};

struct trace {
    std::vector<event> events;  // in file order
    std::vector<uint64_t> sizes; // bytes of each request (index = event::req)
    uint64_t end_ms() const noexcept { return events.empty() ? 0 : events.back().t_ms; }
};

struct parse_error {
    size_t line = 0;     // 1-based; 0 when the error is not about one line
    std::string message; // without the line number
};

// Parses a whole trace. Checks everything that can be checked without a pool: syntax, sizes,
// non-decreasing times, an `a` of an id already live, an `f` of an id that is not live.
// Returns true, or false with `err` filled (the first error).
bool parse_trace(std::string_view text, trace &out, parse_error &err);

// ---- the generator --------------------------------------------------------------------------

// The first six are the families of issue 5 (fixed request mix); the others (issue 12) draw
// their request mix (packet share, holding times, size range) at random per seed as well as
// their level parameters; `random` draws a mixture of 1..3 of the other families per seed.
enum class shape {
    burst, diurnal, step, sawtooth, poisson, flash_crowd,
    periodic, step_down, heavy_tail, on_off, random_walk, packets, large_bufs, mixture, random
};

inline constexpr const char *shape_names[] = {
    "burst",    "diurnal",   "step",    "sawtooth",   "poisson",    "flash-crowd",
    "periodic", "step-down", "heavy-tail", "on-off",  "random-walk", "packets",
    "large-bufs", "mixture", "random"};

// Pool a family is meant to be replayed on, when it is not the default (16M/16M/256M): packets
// on a 256 KiB / 256 KiB / 4 MiB pool, large-bufs on 2 MiB chunks (requests up to half a chunk).
// Empty for the default. perf/eval-all.sh passes it to elastic-trace-eval.
const char *shape_pool_args(shape s) noexcept;

bool shape_from_name(std::string_view name, shape &out) noexcept;
const char *shape_name(shape s) noexcept;

struct gen_config {
    shape kind = shape::burst;
    uint64_t seed = 1;
    uint32_t duration_s = 3600;
};

// Writes the trace as text, in pieces of about 64 KiB to `sink` (deterministic: same config, same
// bytes, on any machine with the same libm). Memory is bounded by the duration (8 bytes a second)
// and the allocations live at one time, not by the trace's length. See trace_shapes.cpp for the
// demand model.
void generate(const gen_config &cfg, const std::function<void(std::string_view)> &sink);
// The same, the whole trace in one string (tests, short traces).
std::string generate(const gen_config &cfg);

// ---- the evaluator --------------------------------------------------------------------------

// optimum: not a pool but the yardstick (offline_optimum below).
enum class policy { static_wall, patent, adaptive, breakeven, optimum };

bool policy_from_name(std::string_view name, policy &out) noexcept;
const char *policy_name(policy p) noexcept;

struct eval_config {
    policy pol = policy::patent;
    uint64_t base = 16ull << 20;   // static: ignored, the base is the wall
    uint64_t chunk = 16ull << 20;
    uint64_t wall = 256ull << 20;
    uint32_t tick_ms = 500;
    uint32_t sample_ms = 60'000;
    uint32_t idle_ms = 300'000;
    uint32_t headroom = 1;
    // Called at every tick and after every event that changed the pinned bytes:
    // simulated time, pinned bytes, in-use bytes (after the tick or event).
    std::function<void(uint64_t t_ms, uint64_t pinned, uint64_t in_use)> timeline;
    // Called for every change of the chunk count: kind is "stall" (growth on the request path),
    // "ahead" (growth by maintenance ahead of need), "grow" (other maintenance growth) or
    // "release"; n chunks; pinned and in-use bytes after it.
    std::function<void(uint64_t t_ms, const char *kind, uint64_t n, uint64_t pinned,
                       uint64_t in_use)>
        chunk_log;
};

struct metrics {
    policy pol = policy::patent;
    uint64_t pinned_byte_ms = 0;    // integral of pinned bytes over [0, end] in byte x ms
    uint64_t end_ms = 0;
    uint64_t peak_pinned_bytes = 0;
    uint64_t mean_pinned_bytes = 0; // pinned_byte_ms / end_ms (floor); pinned at 0 for end 0
    uint64_t grows = 0;
    uint64_t shrinks = 0;
    uint64_t stalls = 0;            // growths on the request path (not ahead of need)
    uint64_t regrows_within_idle = 0;
    uint64_t failed = 0;            // requests refused (EINVAL: too large; ENOMEM)
    uint64_t queued = 0;            // requests that waited (cancelled ones included)
    uint64_t cancelled = 0;         // freed while still queued
    uint64_t queue_wait_ms_total = 0;
    uint64_t max_queue_wait_ms = 0;
};

// Replays `tr` through a new pool (heap provider, manual ticks, simulated clock).
// Returns 0; -ENOTSUP when the pool refuses the policy (e.g. adaptive not built in);
// another -errno with `err` set when the pool cannot be created or misbehaves.
int evaluate(const trace &tr, const eval_config &cfg, metrics &out, std::string &err);

// The offline optimum with the same chunking and no stall (issue 12): the least pinned
// byte-seconds any policy of this pool could reach on `tr`. The model: chunks can only be added
// or released by maintenance, at the ticks (a growth on the request path is a stall), so over
// each tick interval [k T, (k+1) T) a stall-free policy must already hold base + whole chunks
// covering the highest in-use bytes of that interval (buffer classes 4 KiB x 2^k, capped at the
// wall; requests larger than the pool's largest class are refused and count nothing). With
// perfect foresight it holds exactly that, so the integral of that step function is the
// optimum, and also a lower bound for every real policy: it ignores fragmentation (a buddy heap
// per chunk cannot always pack in-use bytes that tightly). `out` gets pinned_byte_ms,
// peak_pinned_bytes, mean_pinned_bytes and end_ms; the timeline callback, when set, gets one row
// per tick.
// obj_size != 0: the same for an elastic mempool of obj_size-byte objects (+ a 64-byte header):
// a request is ceil(size / obj_size) objects, chunks hold whole objects (trace_mempool.cpp).
void offline_optimum(const trace &tr, const eval_config &cfg, metrics &out,
                     uint32_t obj_size = 0);

// The same replay against an elastic mempool of `obj_size`-byte objects (trace_mempool.cpp:
// a request takes ceil(size / obj_size) objects; a mempool has no queue, so a refused get is
// `failed`). The EAL must be up. Only in elastic-trace-eval (it links the mempool driver).
int evaluate_mempool(const trace &tr, const eval_config &cfg, uint32_t obj_size, metrics &out,
                     std::string &err);

// One line of JSON, keys in the order of issue 5, no trailing newline.
std::string to_json(const metrics &m);

} // namespace elastic::trace
