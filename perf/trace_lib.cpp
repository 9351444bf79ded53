// SPDX-License-Identifier: BSD-3-Clause
// Trace parser and evaluator (see trace_lib.hpp for the format).
//
// The evaluator's clock: simulated time starts at 0 when the pool is created. Maintenance ticks
// fall at k x tick_ms (k >= 1). Before the events of time t, every tick at or before t runs
// (elastic_pool_maintain with the clock at the tick); then the events of t run in file order
// with the clock at t. The pinned bytes are integrated as a step function over [0, end], end =
// the time of the last event.
//
// Metrics (all from the public API and the callbacks):
//   grows, shrinks, peak_pinned_bytes   the pool's counters at the end
//   stalls               growths made inside an allocation or a free (request path):
//                        the rise of nb_grows - nb_grows_ahead across that call
//   regrows_within_idle  growths less than idle_ms after the last release
//   failed               allocations refused at once (EINVAL: larger than the largest class;
//                        ENOBUFS: larger than a chunk while the base has no room;
//                        ENOMEM); a later free of such an id is ignored
//   queued               allocations whose callback did not run inside elastic_buf_alloc_async
//   queue_wait_ms_*      time from the request to its callback; a request still queued at the
//                        end counts its wait up to the end; a cancelled one (freed while queued:
//                        elastic_buf_alloc_cancel) counts no wait
#include "trace_lib.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstring>
#include <string>
#include <unordered_map>

#include <elasticpool.h>

namespace elastic::trace {

namespace {

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

bool parse_u64(std::string_view s, uint64_t &out) noexcept
{
    if (s.empty())
        return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

} // namespace

bool parse_size(std::string_view s, uint64_t &out, bool allow_zero) noexcept
{
    s = trim(s);
    size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    uint64_t v;
    if (!parse_u64(s.substr(0, digits), v))
        return false;
    std::string_view suffix = s.substr(digits);
    unsigned shift = 0;
    if (!suffix.empty()) {
        switch (suffix[0]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return false;
        }
        suffix.remove_prefix(1);
        if (!suffix.empty() && suffix != "B" && suffix != "iB")
            return false;
    }
    if (shift != 0 && v > (UINT64_MAX >> shift))
        return false;
    v <<= shift;
    if (v == 0 && !allow_zero)
        return false;
    out = v;
    return true;
}

bool parse_trace(std::string_view text, trace &out, parse_error &err)
{
    out = trace{};
    std::unordered_map<std::string, uint32_t> live; // id -> request
    uint64_t last_t = 0;
    size_t line_no = 0;
    auto fail = [&](std::string msg) {
        err.line = line_no;
        err.message = std::move(msg);
        return false;
    };
    while (!text.empty()) {
        line_no++;
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (size_t hash = line.find('#'); hash != std::string_view::npos)
            line = line.substr(0, hash);
        line = trim(line);
        if (line.empty())
            continue;

        std::string_view f[4];
        size_t nf = 0;
        for (;;) {
            if (nf == 4)
                return fail("too many fields (expected t_ms,op,id,size)");
            const size_t comma = line.find(',');
            f[nf++] = trim(line.substr(0, comma));
            if (comma == std::string_view::npos)
                break;
            line.remove_prefix(comma + 1);
        }
        if (nf < 3)
            return fail("too few fields (expected t_ms,op,id,size)");

        uint64_t t;
        if (!parse_u64(f[0], t))
            return fail("bad time '" + std::string(f[0]) + "' (integer milliseconds)");
        if (t < last_t)
            return fail("time " + std::to_string(t) + " goes backwards (previous " +
                        std::to_string(last_t) + ")");
        last_t = t;
        const std::string_view id = f[2];
        if (id.empty() || id.size() > 64 || id.find_first_of(" \t") != std::string_view::npos)
            return fail("bad id '" + std::string(id) + "' (1..64 characters, no space)");

        if (f[1] == "a") {
            if (nf != 4)
                return fail("allocation without a size");
            uint64_t size;
            if (!parse_size(f[3], size))
                return fail("bad size '" + std::string(f[3]) + "' (bytes > 0, K/M/G suffix)");
            if (out.sizes.size() >= UINT32_MAX)
                return fail("too many allocations");
            const uint32_t req = uint32_t(out.sizes.size());
            auto [it, fresh] = live.try_emplace(std::string(id), req);
            if (!fresh)
                return fail("id '" + std::string(id) + "' is allocated and not freed yet");
            out.sizes.push_back(size);
            out.events.push_back(event{t, req, false});
        } else if (f[1] == "f") {
            uint64_t ignored;
            if (nf == 4 && !f[3].empty() && !parse_size(f[3], ignored, true))
                return fail("bad size '" + std::string(f[3]) + "'");
            auto it = live.find(std::string(id));
            if (it == live.end())
                return fail("free of unknown id '" + std::string(id) +
                            "' (never allocated or already freed)");
            out.events.push_back(event{t, it->second, true});
            live.erase(it);
        } else {
            return fail("bad op '" + std::string(f[1]) + "' (a or f)");
        }
    }
    return true;
}

bool policy_from_name(std::string_view name, policy &out) noexcept
{
    if (name == "static")
        out = policy::static_wall;
    else if (name == "patent")
        out = policy::patent;
    else if (name == "adaptive")
        out = policy::adaptive;
    else if (name == "breakeven")
        out = policy::breakeven;
    else if (name == "optimum")
        out = policy::optimum;
    else
        return false;
    return true;
}

const char *policy_name(policy p) noexcept
{
    switch (p) {
    case policy::static_wall: return "static";
    case policy::patent: return "patent";
    case policy::adaptive: return "adaptive";
    case policy::breakeven: return "breakeven";
    case policy::optimum: return "optimum";
    }
    return "?";
}

namespace {

class replay {
public:
    replay(const trace &tr, const eval_config &cfg) : tr_(tr), cfg_(cfg), req_(tr.sizes.size()) {}
    ~replay() { teardown(); }

    int run(metrics &m, std::string &err);

private:
    enum class state : uint8_t { idle, pending, live, queued, failed, done };
    struct request {
        replay *owner = nullptr;
        void *buf = nullptr;
        uint64_t t_req_ms = 0;
        state st = state::idle;
    };

    static uint64_t clock_fn(void *ctx) noexcept
    {
        return static_cast<const replay *>(ctx)->now_ms_ * 1'000'000;
    }
    static void served(elastic_pool *, void *buf, void *arg) noexcept;

    int create(std::string &err);
    void teardown() noexcept;
    bool advance_to(uint64_t t_ms, std::string &err);
    void observe(bool request_path, bool tick);
    int do_event(const event &ev, std::string &err);

    const trace &tr_;
    const eval_config &cfg_;
    std::vector<request> req_;
    elastic_pool *pool_ = nullptr;
    uint64_t now_ms_ = 0;       // simulated clock
    uint64_t last_tick_ms_ = 0;
    uint64_t quiet_since_ms_ = 0; // last event, or change of the pinned bytes or waiters
    elastic_pool_stats st_{};   // last snapshot
    bool shrunk_ = false;
    uint64_t last_shrink_ms_ = 0;
    metrics m_;
};

void replay::served(elastic_pool *, void *buf, void *arg) noexcept
{
    request &r = *static_cast<request *>(arg);
    replay &self = *r.owner;
    if (r.st == state::queued) {
        const uint64_t wait = self.now_ms_ - r.t_req_ms;
        self.m_.queue_wait_ms_total += wait;
        self.m_.max_queue_wait_ms = std::max(self.m_.max_queue_wait_ms, wait);
    }
    r.buf = buf;
    r.st = state::live;
}

int replay::create(std::string &err)
{
    static std::atomic<unsigned> seq{0};
    const std::string name = "trace-" + std::to_string(seq.fetch_add(1));
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = name.c_str();
    p.base_size = cfg_.pol == policy::static_wall ? cfg_.wall : cfg_.base;
    p.chunk_size = cfg_.chunk;
    p.wall_size = cfg_.wall;
    p.tick_ms = cfg_.tick_ms;
    p.sample_period_ms = cfg_.sample_ms;
    p.idle_period_ms = cfg_.idle_ms;
    p.headroom_chunks = cfg_.headroom;
    p.flags = ELASTIC_POOL_F_PROVIDER_HEAP | ELASTIC_POOL_F_MANUAL_TICK;
    if (cfg_.pol == policy::adaptive)
        p.flags |= ELASTIC_POOL_F_ADAPTIVE;
    if (cfg_.pol == policy::breakeven)
        p.flags |= ELASTIC_POOL_F_BREAKEVEN;
    p.clock = &clock_fn;
    p.clock_ctx = this;
    now_ms_ = 0;
    pool_ = elastic_pool_create(&p);
    if (pool_ == nullptr) {
        const int e = rte_errno;
        err = std::string("elastic_pool_create (") + policy_name(cfg_.pol) + "): " +
              std::strerror(e);
        return -e;
    }
    elastic_pool_stats_get(pool_, &st_);
    return 0;
}

void replay::teardown() noexcept
{
    if (pool_ == nullptr)
        return;
    for (request &r : req_) {
        if (r.st == state::queued)
            elastic_buf_alloc_cancel(pool_, &served, &r);
        else if (r.st == state::live)
            elastic_buf_free(pool_, r.buf);
        r.st = state::done;
    }
    elastic_pool_free(pool_);
    pool_ = nullptr;
}

// After a call into the pool: update the counters that need the before/after difference.
void replay::observe(bool request_path, bool tick)
{
    elastic_pool_stats now;
    elastic_pool_stats_get(pool_, &now);
    const uint64_t shrinks = now.nb_shrinks - st_.nb_shrinks;
    const uint64_t grows = now.nb_grows - st_.nb_grows;
    const uint64_t grows_ahead = now.nb_grows_ahead - st_.nb_grows_ahead;
    if (shrinks > 0) {
        shrunk_ = true;
        last_shrink_ms_ = now_ms_;
    }
    if (grows > 0 && shrunk_ && now_ms_ - last_shrink_ms_ < cfg_.idle_ms)
        m_.regrows_within_idle += grows;
    const uint64_t plain = grows - std::min(grows, grows_ahead);
    if (request_path)
        m_.stalls += plain;
    if (cfg_.chunk_log) {
        if (shrinks > 0)
            cfg_.chunk_log(now_ms_, "release", shrinks, now.pinned_bytes, now.in_use_bytes);
        if (grows_ahead > 0)
            cfg_.chunk_log(now_ms_, "ahead", grows_ahead, now.pinned_bytes, now.in_use_bytes);
        if (plain > 0)
            cfg_.chunk_log(now_ms_, request_path ? "stall" : "grow", plain, now.pinned_bytes,
                           now.in_use_bytes);
    }
    if (cfg_.timeline && (tick || now.pinned_bytes != st_.pinned_bytes))
        cfg_.timeline(now_ms_, now.pinned_bytes, now.in_use_bytes);
    if (request_path || now.pinned_bytes != st_.pinned_bytes || now.nb_waiters != 0)
        quiet_since_ms_ = now_ms_;
    st_ = now;
}

// Integrates the pinned bytes up to t_ms, running the ticks due on the way.
bool replay::advance_to(uint64_t t_ms, std::string &err)
{
    auto integrate = [&](uint64_t to) {
        uint64_t add;
        if (__builtin_mul_overflow(st_.pinned_bytes, to - now_ms_, &add) ||
            __builtin_add_overflow(m_.pinned_byte_ms, add, &m_.pinned_byte_ms)) {
            err = "pinned byte-ms overflow: trace too long";
            return false;
        }
        now_ms_ = to;
        return true;
    };
    // A pool left alone (no waiter, pinned bytes unchanged) for longer than any of its rules
    // looks back (the idle period, the adaptive policy's 64 samples, and one more sample) stays
    // as it is: its ticks are skipped up to the last one before t_ms. Without this a trace with
    // epoch-millisecond times ran every tick from 0 (billions).
    const uint64_t quiet_ms = uint64_t{cfg_.idle_ms} + 66 * uint64_t{cfg_.sample_ms} +
                              2 * uint64_t{cfg_.tick_ms};
    while (last_tick_ms_ + cfg_.tick_ms <= t_ms) {
        if (st_.nb_waiters == 0 && last_tick_ms_ > quiet_since_ms_ + quiet_ms) {
            const uint64_t left = (t_ms - last_tick_ms_) / cfg_.tick_ms; // >= 1
            if (left > 1) {
                last_tick_ms_ += (left - 1) * cfg_.tick_ms;
                if (!integrate(last_tick_ms_))
                    return false;
            }
        }
        last_tick_ms_ += cfg_.tick_ms;
        if (!integrate(last_tick_ms_))
            return false;
        elastic_pool_maintain(pool_);
        observe(false, true);
    }
    return integrate(t_ms);
}

int replay::do_event(const event &ev, std::string &err)
{
    request &r = req_[ev.req];
    if (!ev.is_free) {
        r.owner = this;
        r.t_req_ms = now_ms_;
        r.st = state::pending;
        const int rc = elastic_buf_alloc_async(pool_, tr_.sizes[ev.req], &served, &r);
        if (rc < 0) {
            if (rc != -EINVAL && rc != -ENOMEM && rc != -ENOBUFS) {
                err = std::string("elastic_buf_alloc_async: ") + std::strerror(-rc);
                return rc;
            }
            r.st = state::failed;
            m_.failed++;
        } else if (r.st == state::pending) {
            r.st = state::queued;
            m_.queued++;
        }
        observe(true, false);
        return 0;
    }
    switch (r.st) {
    case state::live: {
        const int rc = elastic_buf_free(pool_, r.buf);
        if (rc < 0) {
            err = std::string("elastic_buf_free: ") + std::strerror(-rc);
            return rc;
        }
        break;
    }
    case state::queued: {
        const int rc = elastic_buf_alloc_cancel(pool_, &served, &r);
        if (rc < 0) {
            err = std::string("elastic_buf_alloc_cancel: ") + std::strerror(-rc);
            return rc;
        }
        m_.cancelled++;
        break;
    }
    case state::failed:
        break;
    default:
        err = "internal: free of a request in a bad state";
        return -EINVAL;
    }
    r.st = state::done;
    observe(true, false);
    return 0;
}

int replay::run(metrics &m, std::string &err)
{
    m_ = metrics{};
    m_.pol = cfg_.pol;
    if (cfg_.tick_ms == 0) {
        err = "tick period must be > 0";
        return -EINVAL;
    }
    if (int rc = create(err); rc < 0)
        return rc;
    if (cfg_.timeline)
        cfg_.timeline(0, st_.pinned_bytes, st_.in_use_bytes);
    for (const event &ev : tr_.events) {
        if (ev.t_ms != now_ms_ && !advance_to(ev.t_ms, err))
            return -EOVERFLOW;
        if (int rc = do_event(ev, err); rc < 0)
            return rc;
    }
    const uint64_t end = tr_.end_ms();
    for (const request &r : req_) {
        if (r.st != state::queued)
            continue;
        const uint64_t wait = end - r.t_req_ms;
        m_.queue_wait_ms_total += wait;
        m_.max_queue_wait_ms = std::max(m_.max_queue_wait_ms, wait);
    }
    m_.end_ms = end;
    m_.grows = st_.nb_grows;
    m_.shrinks = st_.nb_shrinks;
    m_.peak_pinned_bytes = st_.peak_pinned_bytes;
    m_.mean_pinned_bytes = end == 0 ? st_.pinned_bytes : m_.pinned_byte_ms / end;
    m = m_;
    return 0;
}

} // namespace

void offline_optimum(const trace &tr, const eval_config &cfg, metrics &out, uint32_t obj_size)
{
    constexpr uint64_t page = 4096, default_max_buf = uint64_t(1) << 20;
    auto round_up = [](uint64_t v, uint64_t to) { return (v + to - 1) / to * to; };
    // The pool's sizes as elastic_pool_create rounds them (pool.cpp): pages, the largest class.
    // A mempool's: whole objects with their header (trace_mempool.cpp), any request.
    const uint64_t total = uint64_t(obj_size) + 64;
    const uint64_t base = obj_size ? cfg.base / total * total : round_up(cfg.base, page);
    const uint64_t chunk = obj_size ? cfg.chunk / total * total : round_up(cfg.chunk, page);
    const uint64_t wall = std::max(base, obj_size ? cfg.wall / total * total : cfg.wall);
    const uint64_t largest = wall - base >= chunk ? std::max(base, chunk) : base;
    const uint64_t max_buf =
        obj_size ? wall : std::min(default_max_buf, std::bit_floor(largest));
    auto need = [&](uint64_t in_use) {
        const uint64_t v = in_use <= base ? base : base + round_up(in_use - base, chunk);
        return std::min(v, wall);
    };
    std::vector<uint64_t> cls(tr.sizes.size(), 0);
    out = metrics{};
    out.pol = policy::optimum;
    const uint64_t end = tr.end_ms(), tick = std::max<uint32_t>(cfg.tick_ms, 1);
    uint64_t in_use = 0, peak = 0;
    size_t e = 0;
    for (uint64_t t0 = 0; t0 < end || (t0 == 0 && end == 0); t0 += tick) {
        // Highest in-use bytes among the events of [t0, t0 + tick), starting from what is in use.
        peak = in_use;
        for (; e < tr.events.size() && tr.events[e].t_ms < t0 + tick; e++) {
            const event &ev = tr.events[e];
            if (ev.is_free) {
                in_use -= cls[ev.req];
                continue;
            }
            const uint64_t size = tr.sizes[ev.req];
            cls[ev.req] = size > max_buf ? 0
                          : obj_size ? (size + obj_size - 1) / obj_size * total
                                     : std::bit_ceil(std::max(size, page));
            in_use += cls[ev.req];
            peak = std::max(peak, in_use);
        }
        const uint64_t pinned = need(peak);
        const uint64_t len = std::min(end, t0 + tick) - t0;
        out.pinned_byte_ms += pinned * len;
        out.peak_pinned_bytes = std::max(out.peak_pinned_bytes, pinned);
        if (cfg.timeline)
            cfg.timeline(t0, pinned, peak);
        if (end == 0)
            break;
    }
    out.end_ms = end;
    out.mean_pinned_bytes = end == 0 ? base : out.pinned_byte_ms / end;
}

int evaluate(const trace &tr, const eval_config &cfg, metrics &out, std::string &err)
{
    if (cfg.pol == policy::optimum) {
        offline_optimum(tr, cfg, out);
        return 0;
    }
    replay r(tr, cfg);
    return r.run(out, err);
}

std::string to_json(const metrics &m)
{
    char buf[768];
    snprintf(buf, sizeof(buf),
             "{\"policy\":\"%s\",\"pinned_byte_seconds\":%" PRIu64 ".%03u,"
             "\"peak_pinned_bytes\":%" PRIu64 ",\"mean_pinned_bytes\":%" PRIu64 ","
             "\"grows\":%" PRIu64 ",\"shrinks\":%" PRIu64 ",\"stalls\":%" PRIu64 ","
             "\"regrows_within_idle\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"queued\":%" PRIu64 ","
             "\"queue_wait_ms_total\":%" PRIu64 ",\"max_queue_wait_ms\":%" PRIu64 "}",
             policy_name(m.pol), m.pinned_byte_ms / 1000, unsigned(m.pinned_byte_ms % 1000),
             m.peak_pinned_bytes, m.mean_pinned_bytes, m.grows, m.shrinks, m.stalls,
             m.regrows_within_idle, m.failed, m.queued, m.queue_wait_ms_total,
             m.max_queue_wait_ms);
    return buf;
}

} // namespace elastic::trace
