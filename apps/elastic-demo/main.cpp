// SPDX-License-Identifier: BSD-3-Clause
// elastic-demo: one elastic pool with short periods under a bursty workload, so that the whole
// cycle of the method happens in about 20 seconds and can be watched:
//
//   ramp   demand rises past the wall  -> the pool grows chunk by chunk (patent 518/520)
//   hold   demand stays above the wall -> requests queue FIFO (514/516), frees serve them
//   drain  demand falls                -> the queue empties, chunks empty out
//   low    a small trickle of demand   -> idle chunks go back one per sample (602-612)
//                                         down to base + headroom
//
// Usage: elastic-demo [EAL args] [-- [--duration-s N] [--quiet] [--seed N] [--manual-tick]
//                                    [--adaptive]]
// The program exits 0 only when every stage of the cycle was seen and every request was served
// exactly once; otherwise it says which stage is missing and exits 1.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memory.h>

#include "elasticpool.h"

namespace {

constexpr size_t kib = 1024;
constexpr size_t mib = 1024 * kib;

// The pool: periods short enough for a ~20 s cycle.
constexpr size_t base_size = 4 * mib;
constexpr size_t chunk_size = 4 * mib;
constexpr size_t wall_size = 32 * mib;
constexpr uint32_t tick_ms = 100;
constexpr uint32_t sample_ms = 1000;
constexpr uint32_t idle_ms = 3000;
constexpr uint32_t headroom = 1;

// The workload: phase boundaries (seconds) and demand levels (bytes requested, not yet freed).
constexpr double ramp_end_s = 5.0;
constexpr double hold_end_s = 8.0;
constexpr double drain_end_s = 10.0;
constexpr size_t peak_demand = wall_size + wall_size / 4; // well past the wall
constexpr size_t low_demand = 1 * mib;                    // served from the base chunk
constexpr auto step = std::chrono::milliseconds(10);
constexpr unsigned hold_churn_per_step = 2;  // buffers freed and re-requested per step at peak
constexpr unsigned low_churn_every_steps = 5; // one buffer replaced every 50 ms at the low level

struct options {
    double duration_s = 45.0; // hard stop
    bool quiet = false;       // summary only, no timeline
    uint64_t seed = 1;
    bool manual_tick = false; // ELASTIC_POOL_F_MANUAL_TICK, ticks from this loop
    bool adaptive = false;    // ELASTIC_POOL_F_ADAPTIVE instead of the patent's rule
};

class workload;

struct request {
    uint64_t id;
    size_t size;    // bytes asked for
    void *buf;      // set by the callback
    workload *owner;
};

const char *phase_name(double t)
{
    if (t < ramp_end_s)
        return "ramp";
    if (t < hold_end_s)
        return "hold";
    if (t < drain_end_s)
        return "drain";
    return "low";
}

size_t target_demand(double t)
{
    if (t < ramp_end_s)
        return static_cast<size_t>(static_cast<double>(peak_demand) * t / ramp_end_s);
    if (t < hold_end_s)
        return peak_demand;
    if (t < drain_end_s) {
        const double f = (t - hold_end_s) / (drain_end_s - hold_end_s);
        return peak_demand - static_cast<size_t>(static_cast<double>(peak_demand - low_demand) * f);
    }
    return low_demand;
}

double mib_of(uint64_t bytes)
{
    return static_cast<double>(bytes) / static_cast<double>(mib);
}

class workload {
public:
    workload(elastic_pool *pool, uint64_t seed) : pool_(pool), rng_(seed) {}

    ~workload()
    {
        for (request *r : held_)
            delete r;
    }

    // Serve callback: may run inside elastic_buf_alloc_async/elastic_buf_free on this thread or
    // from the pool's maintenance; only touches the served list under its own lock.
    static void on_served(elastic_pool *, void *buf, void *arg) noexcept
    {
        auto *r = static_cast<request *>(arg);
        r->buf = buf;
        if (buf != nullptr)
            stamp(r);
        std::lock_guard<std::mutex> g(r->owner->served_mtx_);
        r->owner->served_.push_back(r);
    }

    // Ask for one buffer of a random size between 4 KiB and 256 KiB.
    void request_one()
    {
        const unsigned k = std::uniform_int_distribution<unsigned>(0, 6)(rng_);
        const size_t cls = ELASTIC_BUF_MIN_SIZE << k;
        const size_t lo = k == 0 ? cls : cls / 2 + 1;
        const size_t size = std::uniform_int_distribution<size_t>(lo, cls)(rng_);
        auto *r = new request{next_id_++, size, nullptr, this};
        demand_ += size;
        issued_++;
        const int rc = elastic_buf_alloc_async(pool_, size, on_served, r);
        if (rc < 0) {
            std::fprintf(stderr, "elastic_buf_alloc_async(%zu): %s\n", size, std::strerror(-rc));
            errors_++;
            demand_ -= size;
            issued_--;
            delete r;
        }
        collect();
    }

    // Give back a held buffer: a random one, or the oldest.
    bool free_one(bool oldest)
    {
        if (held_.empty())
            return false;
        const size_t i = oldest ? 0 :
            std::uniform_int_distribution<size_t>(0, held_.size() - 1)(rng_);
        request *r = held_[i];
        held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
        if (!stamp_ok(r)) {
            std::fprintf(stderr, "request %" PRIu64 ": buffer %p was overwritten\n", r->id, r->buf);
            errors_++;
        }
        const int rc = elastic_buf_free(pool_, r->buf);
        if (rc < 0) {
            std::fprintf(stderr, "elastic_buf_free(%p): %s\n", r->buf, std::strerror(-rc));
            errors_++;
        }
        demand_ -= r->size;
        delete r;
        collect(); // the free may have served waiters
        return true;
    }

    // Move what the callbacks served into the held list, checking each buffer.
    void collect()
    {
        std::vector<request *> got;
        {
            std::lock_guard<std::mutex> g(served_mtx_);
            got.swap(served_);
        }
        for (request *r : got) {
            served_count_++;
            if (r->buf == nullptr) {
                std::fprintf(stderr, "request %" PRIu64 " served without a buffer\n", r->id);
                errors_++;
                demand_ -= r->size;
                delete r;
                continue;
            }
            const size_t cls = elastic_buf_size(pool_, r->buf);
            const auto addr = reinterpret_cast<uintptr_t>(r->buf);
            if (cls < r->size || addr % ELASTIC_BUF_MIN_SIZE != 0) {
                std::fprintf(stderr, "request %" PRIu64 ": %zu bytes got %p class %zu\n", r->id,
                             r->size, r->buf, cls);
                errors_++;
            }
            held_.push_back(r);
        }
    }

    // Bring demand towards the target: request while below, free at random while above.
    void steer(size_t target)
    {
        if (demand_ > target) {
            while (demand_ > target && free_one(false)) {
            }
        } else {
            while (demand_ < target)
                request_one();
        }
    }

    void free_all()
    {
        collect();
        while (free_one(false)) {
        }
    }

    uint64_t demand() const { return demand_; }
    uint64_t issued() const { return issued_; }
    uint64_t served() const { return served_count_; }
    uint64_t queued_now() const { return issued_ - served_count_; }
    uint64_t errors() const { return errors_; }

private:
    // Stamp both ends of a buffer with its request id, so a buffer handed out twice shows.
    static void stamp(request *r) noexcept
    {
        auto *p = static_cast<unsigned char *>(r->buf);
        std::memcpy(p, &r->id, sizeof(r->id));
        std::memcpy(p + r->size - sizeof(r->id), &r->id, sizeof(r->id));
    }

    static bool stamp_ok(const request *r) noexcept
    {
        const auto *p = static_cast<const unsigned char *>(r->buf);
        uint64_t a;
        uint64_t b;
        std::memcpy(&a, p, sizeof(a));
        std::memcpy(&b, p + r->size - sizeof(b), sizeof(b));
        return a == r->id && b == r->id;
    }

    elastic_pool *pool_;
    std::mt19937_64 rng_;
    std::deque<request *> held_; // served, in the order they were served
    std::mutex served_mtx_;
    std::vector<request *> served_; // served by callbacks, not yet collected
    uint64_t next_id_ = 1;
    uint64_t demand_ = 0;
    uint64_t issued_ = 0;
    uint64_t served_count_ = 0;
    uint64_t errors_ = 0;
};

bool parse_options(int argc, char **argv, options &o)
{
    for (int i = 1; i < argc; i++) {
        const std::string_view a = argv[i];
        auto value = [&](const char *what) -> const char * {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", what);
                return nullptr;
            }
            return argv[++i];
        };
        if (a == "--quiet") {
            o.quiet = true;
        } else if (a == "--manual-tick") {
            o.manual_tick = true;
        } else if (a == "--adaptive") {
            o.adaptive = true;
        } else if (a == "--duration-s") {
            const char *v = value("--duration-s");
            if (v == nullptr)
                return false;
            o.duration_s = std::strtod(v, nullptr);
            if (!(o.duration_s > 0)) {
                std::fprintf(stderr, "bad --duration-s %s\n", v);
                return false;
            }
        } else if (a == "--seed") {
            const char *v = value("--seed");
            if (v == nullptr)
                return false;
            o.seed = std::strtoull(v, nullptr, 0);
        } else {
            std::fprintf(stderr,
                         "usage: elastic-demo [EAL args] -- [--duration-s N] [--quiet] "
                         "[--seed N] [--manual-tick] [--adaptive]\n");
            return false;
        }
    }
    return true;
}

void print_header()
{
    std::printf("%7s  %-5s  %10s  %10s  %10s  %6s  %7s  %5s  %7s\n", "time s", "phase",
                "demand MiB", "pinned MiB", "in use MiB", "chunks", "waiters", "grows",
                "shrinks");
}

void print_row(double t, const workload &w, const elastic_pool_stats &st)
{
    std::printf("%7.1f  %-5s  %10.2f  %10.1f  %10.2f  %6" PRIu32 "  %7" PRIu32 "  %5" PRIu64
                "  %7" PRIu64 "\n",
                t, phase_name(t), mib_of(w.demand()), mib_of(st.pinned_bytes),
                mib_of(st.in_use_bytes), st.nb_chunks, st.nb_waiters, st.nb_grows,
                st.nb_shrinks);
    std::fflush(stdout);
}

int run(const options &o)
{
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = "elastic_demo";
    p.socket_id = SOCKET_ID_ANY;
    p.base_size = base_size;
    p.chunk_size = chunk_size;
    p.wall_size = wall_size;
    p.max_buf_size = 256 * kib;
    p.tick_ms = tick_ms;
    p.sample_period_ms = sample_ms;
    p.idle_period_ms = idle_ms;
    p.headroom_chunks = headroom;
    p.flags = ELASTIC_POOL_F_PROVIDER_MEMZONE | (o.manual_tick ? ELASTIC_POOL_F_MANUAL_TICK : 0u) |
              (o.adaptive ? ELASTIC_POOL_F_ADAPTIVE : 0u);

    elastic_pool *pool = elastic_pool_create(&p);
    if (pool == nullptr) {
        std::fprintf(stderr, "elastic_pool_create: %s\n", rte_strerror(rte_errno));
        return 1;
    }

    std::printf("pool %s: base %zu MiB, chunk %zu MiB, wall %zu MiB, tick %u ms, sample %u ms, "
                "idle %u ms, headroom %u, provider memzone%s%s\n",
                elastic_pool_name(pool), base_size / mib, chunk_size / mib, wall_size / mib,
                tick_ms, sample_ms, idle_ms, headroom, o.manual_tick ? ", manual ticks" : "",
                o.adaptive ? ", adaptive policy" : "");
    std::printf("workload: 4 KiB-256 KiB requests; demand ramps to %.0f MiB by %.0f s, holds to "
                "%.0f s, falls to %.0f MiB by %.0f s\n\n",
                mib_of(peak_demand), ramp_end_s, hold_end_s, mib_of(low_demand), drain_end_s);
    if (!o.quiet)
        print_header();

    bool ok = true;
    uint32_t max_waiters = 0;
    uint64_t max_demand = 0;
    double pinned_sum_mib = 0; // for the mean pinned figure of the sizing line
    uint64_t pinned_samples = 0;
    double wall_at = -1;
    double first_queue_at = -1;
    double queue_empty_at = -1;
    double back_at = -1;
    const uint32_t final_chunks = 1 + headroom;
    const size_t final_pinned = base_size + headroom * chunk_size;

    {
        workload w(pool, o.seed);
        const auto t0 = std::chrono::steady_clock::now();
        auto next_step = t0;
        auto next_tick = t0;
        double next_print = 0.0;
        uint64_t steps = 0;

        for (;;) {
            const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
                                 .count();
            if (t >= o.duration_s)
                break;

            if (t < hold_end_s && t >= ramp_end_s) {
                // At the peak, keep the queue moving: give some buffers back and ask again.
                for (unsigned i = 0; i < hold_churn_per_step; i++)
                    w.free_one(false);
            } else if (t >= drain_end_s && steps % low_churn_every_steps == 0) {
                // The trickle: replace the oldest buffer, so leftovers of the burst go away.
                w.free_one(true);
            }
            w.steer(target_demand(t));

            if (o.manual_tick && std::chrono::steady_clock::now() >= next_tick) {
                elastic_pool_maintain(pool);
                next_tick += std::chrono::milliseconds(tick_ms);
            }
            w.collect();

            elastic_pool_stats st;
            if (elastic_pool_stats_get(pool, &st) != 0) {
                std::fprintf(stderr, "elastic_pool_stats_get failed\n");
                ok = false;
                break;
            }
            max_waiters = std::max(max_waiters, st.nb_waiters);
            max_demand = std::max<uint64_t>(max_demand, w.demand());
            pinned_sum_mib += mib_of(st.pinned_bytes);
            pinned_samples++;
            if (wall_at < 0 && st.pinned_bytes + st.chunk_size > st.wall_size)
                wall_at = t;
            if (first_queue_at < 0 && st.nb_waiters > 0)
                first_queue_at = t;
            // The last time the queue emptied (it may empty and refill while at the wall).
            if (st.nb_waiters > 0)
                queue_empty_at = -1;
            else if (first_queue_at >= 0 && queue_empty_at < 0)
                queue_empty_at = t;
            if (!o.quiet && t >= next_print) {
                print_row(t, w, st);
                next_print += 0.5;
            }
            if (t >= drain_end_s && st.nb_shrinks > 0 && st.nb_chunks <= final_chunks) {
                if (back_at < 0)
                    back_at = t;
                // Stay two more samples to show that it holds at base + headroom.
                if (t - back_at >= 2.0 * sample_ms / 1000.0) {
                    if (!o.quiet)
                        print_row(t, w, st);
                    break;
                }
            }
            steps++;
            next_step += step;
            std::this_thread::sleep_until(next_step);
        }

        const double mean_pinned_mib = pinned_samples > 0 ? pinned_sum_mib / pinned_samples : 0;
        elastic_pool_stats before_free;
        elastic_pool_stats_get(pool, &before_free);
        w.free_all();
        elastic_pool_stats st;
        elastic_pool_stats_get(pool, &st);

        std::printf("\nsummary\n");
        std::printf("  requests issued %" PRIu64 ", served %" PRIu64 ", queued at some point %"
                    PRIu64 ", refused %" PRIu64 "\n",
                    w.issued(), w.served(), st.nb_queued, st.nb_alloc_fail);
        std::printf("  peak demand %.1f MiB, peak in use %.1f MiB, peak pinned %.1f MiB "
                    "(wall %.0f MiB), max waiters %" PRIu32 "\n",
                    mib_of(max_demand), mib_of(st.peak_in_use_bytes),
                    mib_of(st.peak_pinned_bytes), mib_of(st.wall_size), max_waiters);
        std::printf("  grows %" PRIu64 " (%" PRIu64 " ahead of need; %.2f ms reserving, %.2f ms "
                    "each), shrinks %" PRIu64 ", samples %" PRIu64 "\n",
                    st.nb_grows, st.nb_grows_ahead, static_cast<double>(st.grow_ns_total) / 1e6,
                    st.nb_grows ? static_cast<double>(st.grow_ns_total) / 1e6 /
                                      static_cast<double>(st.nb_grows) : 0.0,
                    st.nb_shrinks, st.nb_samples);
        auto at = [](double s) {
            char b[32];
            if (s < 0)
                return std::string("never");
            std::snprintf(b, sizeof(b), "at %.1f s", s);
            return std::string(b);
        };
        std::printf("  wall reached %s, first waiter %s, queue empty again %s, back to %" PRIu32
                    " chunks %s\n",
                    at(wall_at).c_str(), at(first_queue_at).c_str(), at(queue_empty_at).c_str(),
                    final_chunks, at(back_at).c_str());
        std::printf("  at the end: %" PRIu32 " chunks, %.1f MiB pinned, %.2f MiB in use "
                    "(after freeing everything: %.2f MiB)\n",
                    before_free.nb_chunks, mib_of(before_free.pinned_bytes),
                    mib_of(before_free.in_use_bytes), mib_of(st.in_use_bytes));

        auto check = [&](bool cond, const char *what) {
            if (!cond) {
                std::printf("  FAILED: %s\n", what);
                ok = false;
            }
        };
        check(st.nb_grows > 0, "the pool never grew");
        check(wall_at >= 0 && st.peak_pinned_bytes + st.chunk_size > st.wall_size,
              "the pool never reached the wall");
        check(st.nb_queued > 0 && max_waiters > 0, "no request ever waited");
        check(queue_empty_at >= 0, "the queue never drained");
        check(w.issued() == w.served(), "some requests were never served");
        check(st.nb_shrinks > 0, "the pool never released a chunk");
        // The patent rule stops at base + headroom exactly; the adaptive one may go lower.
        const bool back = o.adaptive ? before_free.nb_chunks <= final_chunks &&
                                           before_free.pinned_bytes <= final_pinned
                                     : before_free.nb_chunks == final_chunks &&
                                           before_free.pinned_bytes == final_pinned;
        check(back_at >= 0 && back, "the pool did not shrink back to base + headroom");
        check(st.in_use_bytes == 0 && st.nb_allocs == st.nb_frees,
              "buffers still out after freeing everything");
        check(w.errors() == 0, "errors during the run (see above)");

        // What a static deployment would have needed for the same demand (issue 4's sizing
        // report, also in telemetry's /elastic/info).
        elastic_pool_sizing sz;
        if (elastic_pool_sizing_get(pool, &sz) == 0) {
            std::printf("  sizing report (%" PRIu32 " sample periods seen): peak demand %.1f MiB "
                        "of buffer classes (in use %.1f MiB, the rest queued at the wall); "
                        "recommended base %.1f MiB, wall %.1f MiB; a static pool would pin "
                        "%.1f MiB = %" PRIu32 " x 2 MiB hugepages (--socket-mem %" PRIu32
                        "); this run pinned %.1f MiB on average\n",
                        sz.epochs, mib_of(sz.peak_demand_bytes), mib_of(sz.peak_in_use_bytes),
                        mib_of(sz.recommended_base),
                        mib_of(sz.recommended_wall), mib_of(sz.static_bytes), sz.hugepages_2m,
                        sz.socket_mem_mb, mean_pinned_mib);
            // Requests queued at the wall: the demand seen is above the wall, and so is the
            // recommendation.
            check(sz.peak_in_use_bytes == st.peak_in_use_bytes && sz.epochs > 0 &&
                      sz.peak_demand_bytes > st.wall_size &&
                      sz.recommended_wall >= sz.peak_demand_bytes &&
                      sz.static_bytes >= sz.recommended_wall,
                  "the sizing report does not match the run");
        } else {
            check(false, "elastic_pool_sizing_get failed");
        }
        if (ok)
            std::printf("  OK: grew, hit the wall, queued, drained and shrank back\n");
    }

    elastic_pool_free(pool);
    return ok ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
    const int n = rte_eal_init(argc, argv);
    if (n < 0) {
        std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    argc -= n;
    argv += n;

    options o;
    int rc = 1;
    if (parse_options(argc, argv, o))
        rc = run(o);
    rte_eal_cleanup();
    return rc;
}
