// SPDX-License-Identifier: BSD-3-Clause
// The seeded trace generator (elastic-trace-gen).
//
// Demand model. Each shape is a target level L(t) of file-serving bytes in use, one value per
// second. Requests arrive as a Poisson process of rate 2 x L(t) / (E[class] x 20 s) (thinning
// against the largest rate), half of them file-serving buffers, half packet buffers:
//   file    size log-uniform in 4 KiB..1 MiB (E[class] = 255 KiB), held Exp(mean 20 s)
//   packet  2 KiB objects (one 4 KiB class each), held Exp(mean 1 s)
// so the file buffers in use follow L(t) (an M(t)/G/inf queue: smoothed over ~20 s) and the
// packet buffers add a stream of small allocations that keeps the first chunks busy. Every buffer
// still held at the end is freed at the end, so every trace ends with nothing in use.
//
// Shapes (t in seconds, D the duration; every period is in absolute seconds so that they compare
// with the 60 s sample and the 300 s idle period whatever D is, except diurnal, which is a day
// compressed into D):
//   burst        quiet 1 MiB, bursts of 48..200 MiB lasting 20..120 s; the quiet gaps come in
//                pairs, one 40..280 s (shorter than the idle period) and one 320..900 s (longer)
//   diurnal      4 MiB at night, a morning hump at 0.42 D and an evening peak (140..200 MiB) at
//                0.83 D, smooth
//   step         levels from {4, 16, 48, 96, 144, 200} MiB, never the same twice in a row,
//                each held 150..900 s
//   sawtooth     teeth of 240..900 s: a linear climb from 4 MiB to 96..220 MiB, then a drop
//   poisson      a constant level of 40..120 MiB: only the arrival noise moves the demand
//   flash-crowd  12 MiB baseline; one crowd per started hour (at a random time in the middle of
//                its hour) climbs in 5..15 s to 280..380 MiB more (above a 256 MiB wall) and
//                decays with a time constant of 60..180 s
// Randomness: xoshiro256** seeded by splitmix64, hand-written distributions (never the
// implementation-defined std:: ones), so a seed gives the same bytes everywhere.
#include <algorithm>
#include <functional>
#include <queue>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>

#include "trace_lib.hpp"

namespace elastic::trace {

namespace {

constexpr double mib = 1024.0 * 1024.0;
constexpr double file_hold_s = 20.0;
constexpr double packet_hold_s = 1.0;
constexpr double min_file = 4096.0, max_file = 1048576.0;
constexpr uint64_t packet_size = 2048;
// E[class] of a log-uniform size over 4 KiB..1 MiB: each of the 8 octaves equally likely, a size
// in (2^k, 2^(k+1)] uses the class 2^(k+1): (2^13 + ... + 2^20) / 8 bytes.
constexpr double mean_file_class = double((uint64_t(1) << 21) - (uint64_t(1) << 13)) / 8.0;

class rng {
public:
    explicit rng(uint64_t seed) noexcept
    {
        for (auto &w : s_) {
            seed += 0x9e3779b97f4a7c15ull;
            uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            w = z ^ (z >> 31);
        }
    }
    uint64_t next() noexcept
    {
        const uint64_t r = std::rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = std::rotl(s_[3], 45);
        return r;
    }
    double u01() noexcept { return double(next() >> 11) * 0x1.0p-53; } // [0, 1)
    double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * u01(); }
    double exponential(double mean) noexcept { return -mean * std::log1p(-u01()); }
    uint64_t below(uint64_t n) noexcept { return next() % n; } // n small: bias negligible

private:
    uint64_t s_[4];
};

using levels = std::vector<double>; // bytes, one per second

void fill(levels &l, double from_s, double to_s, double v)
{
    const size_t a = size_t(std::max(0.0, from_s));
    const size_t b = std::min(l.size(), size_t(std::max(0.0, to_s)));
    for (size_t i = a; i < b; i++)
        l[i] = v;
}

void shape_burst(levels &l, rng &r, std::string &notes)
{
    const double quiet = 1 * mib;
    std::fill(l.begin(), l.end(), quiet);
    double t = r.uniform(10, 60);
    bool short_first = r.u01() < 0.5;
    unsigned n = 0;
    while (t < double(l.size())) {
        const double len = r.uniform(20, 120), h = r.uniform(48, 200) * mib;
        fill(l, t, t + len, h);
        t += len;
        // Gaps in pairs: one shorter and one longer than the 300 s idle period.
        const bool is_short = (n % 2 == 0) == short_first;
        const double gap = is_short ? r.uniform(40, 280) : r.uniform(320, 900);
        char line[128];
        snprintf(line, sizeof(line), "# burst %u: %.0f..%.0f s at %.0f MiB, then quiet %.0f s\n",
                 n, t - len, t, h / mib, gap);
        notes += line;
        t += gap;
        n++;
        if (n % 2 == 0)
            short_first = r.u01() < 0.5;
    }
}

void shape_diurnal(levels &l, rng &r, std::string &notes)
{
    const double low = 4 * mib, high = r.uniform(140, 200) * mib;
    const double morning = r.uniform(0.5, 0.75);
    char line[96];
    snprintf(line, sizeof(line), "# night %.0f MiB, evening peak %.0f MiB, morning %.0f%%\n",
             low / mib, high / mib, morning * 100);
    notes += line;
    const double d = double(l.size());
    for (size_t i = 0; i < l.size(); i++) {
        const double x = (double(i) + 0.5) / d;
        const double m = (x - 0.42) / 0.12, e = (x - 0.83) / 0.08;
        const double f = morning * std::exp(-m * m) + std::exp(-e * e);
        l[i] = low + (high - low) * std::min(1.0, f);
    }
}

void shape_step(levels &l, rng &r, std::string &notes)
{
    static constexpr double choice[] = {4, 16, 48, 96, 144, 200};
    size_t prev = 6;
    double t = 0;
    while (t < double(l.size())) {
        size_t k;
        do
            k = size_t(r.below(6));
        while (k == prev);
        prev = k;
        const double len = r.uniform(150, 900);
        fill(l, t, t + len, choice[k] * mib);
        char line[96];
        snprintf(line, sizeof(line), "# step %.0f..%.0f s at %.0f MiB\n", t, t + len, choice[k]);
        notes += line;
        t += len;
    }
}

void shape_sawtooth(levels &l, rng &r, std::string &notes)
{
    const double low = 4 * mib;
    double t = 0;
    while (t < double(l.size())) {
        const double len = r.uniform(240, 900), peak = r.uniform(96, 220) * mib;
        for (size_t i = size_t(t); i < std::min(l.size(), size_t(t + len)); i++)
            l[i] = low + (peak - low) * (double(i) - t) / len;
        char line[96];
        snprintf(line, sizeof(line), "# tooth %.0f..%.0f s up to %.0f MiB\n", t, t + len,
                 peak / mib);
        notes += line;
        t += len;
    }
}

void shape_poisson(levels &l, rng &r, std::string &notes)
{
    const double v = r.uniform(40, 120) * mib;
    std::fill(l.begin(), l.end(), v);
    char line[64];
    snprintf(line, sizeof(line), "# constant %.0f MiB\n", v / mib);
    notes += line;
}

void shape_flash_crowd(levels &l, rng &r, std::string &notes)
{
    const double base = 12 * mib;
    std::fill(l.begin(), l.end(), base);
    const double d = double(l.size());
    for (double hour = 0; hour < d; hour += 3600) {
        const double span = std::min(3600.0, d - hour);
        const double at = hour + span * r.uniform(0.25, 0.75);
        const double rise = r.uniform(5, 15), peak = r.uniform(280, 380) * mib;
        const double tau = r.uniform(60, 180);
        for (size_t i = size_t(at); i < l.size(); i++) {
            const double x = double(i) - at;
            l[i] += x < rise ? peak * x / rise : peak * std::exp(-(x - rise) / tau);
        }
        char line[112];
        snprintf(line, sizeof(line), "# crowd at %.0f s: +%.0f MiB in %.0f s, decay %.0f s\n",
                 at, peak / mib, rise, tau);
        notes += line;
    }
}

struct gen_event {
    uint64_t t_ms;
    uint64_t seq; // generation order: ties in time keep it (an alloc precedes its free)
    uint64_t id;
    uint64_t size;
    bool is_free;
};

void append_u64(std::string &s, uint64_t v)
{
    char b[24];
    auto res = std::to_chars(b, b + sizeof(b), v);
    s.append(b, res.ptr);
}

} // namespace

bool shape_from_name(std::string_view name, shape &out) noexcept
{
    for (size_t i = 0; i < std::size(shape_names); i++) {
        if (name == shape_names[i]) {
            out = shape(i);
            return true;
        }
    }
    return false;
}

const char *shape_name(shape s) noexcept
{
    const auto i = size_t(s);
    return i < std::size(shape_names) ? shape_names[i] : "?";
}

void generate(const gen_config &cfg, const std::function<void(std::string_view)> &sink)
{
    rng r(cfg.seed * 0x2545f4914f6cdd1dull + uint64_t(cfg.kind));
    levels l(cfg.duration_s, 0.0);
    std::string notes;
    switch (cfg.kind) {
    case shape::burst: shape_burst(l, r, notes); break;
    case shape::diurnal: shape_diurnal(l, r, notes); break;
    case shape::step: shape_step(l, r, notes); break;
    case shape::sawtooth: shape_sawtooth(l, r, notes); break;
    case shape::poisson: shape_poisson(l, r, notes); break;
    case shape::flash_crowd: shape_flash_crowd(l, r, notes); break;
    }

    // Arrivals: thinning of a Poisson process at the largest rate. Run twice from the same
    // random state: once to count the allocations (the header says how many), once to write.
    // Memory is the levels (8 bytes a second) and the allocations live at one time (a heap of
    // pending frees), never the whole trace (a 30-day trace is gigabytes of text).
    const double per_byte = 2.0 / (mean_file_class * file_hold_s); // arrivals/s per byte of L
    const double lmax = l.empty() ? 0.0 : *std::max_element(l.begin(), l.end());
    const double rate_max = lmax * per_byte;
    const uint64_t end_ms = uint64_t(cfg.duration_s) * 1000;
    auto arrivals = [&](rng rr, auto &&emit) {
        uint64_t seq = 0, id = 0;
        double t = 0;
        while (rate_max > 0) {
            t += rr.exponential(1.0 / rate_max);
            if (t >= double(cfg.duration_s))
                break;
            if (rr.u01() * lmax >= l[size_t(t)])
                continue;
            uint64_t size;
            double hold;
            if (rr.u01() < 0.5) {
                size = packet_size;
                hold = rr.exponential(packet_hold_s);
            } else {
                const double sz = std::exp(rr.uniform(std::log(min_file), std::log(max_file)));
                size = std::clamp(uint64_t(std::llround(sz)), uint64_t(min_file),
                                  uint64_t(max_file));
                hold = rr.exponential(file_hold_s);
            }
            const uint64_t ta = uint64_t(t * 1000.0);
            const uint64_t tf =
                std::min(end_ms, ta + std::max<uint64_t>(1, uint64_t(hold * 1000.0)));
            emit(gen_event{ta, seq, id, size, false}, gen_event{tf, seq + 1, id, size, true});
            seq += 2;
            id++;
        }
        return id;
    };
    const uint64_t n = arrivals(r, [](const gen_event &, const gen_event &) {});

    std::string out;
    out.reserve(64 * 1024);
    out += "# elastic-trace-gen --shape ";
    out += shape_name(cfg.kind);
    out += " --seed ";
    append_u64(out, cfg.seed);
    out += " --duration-s ";
    append_u64(out, cfg.duration_s);
    out += "\n";
    out += notes;
    out += "# ";
    append_u64(out, n);
    out += " allocations\n# t_ms,op,id,size\n";
    auto line = [&](const gen_event &e) {
        append_u64(out, e.t_ms);
        out += e.is_free ? ",f," : ",a,";
        append_u64(out, e.id);
        out += ',';
        append_u64(out, e.size);
        out += '\n';
        if (out.size() >= 60 * 1024) {
            sink(out);
            out.clear();
        }
    };
    // Events in (time, generation order): allocations come in time order; a pending free is
    // written before the first allocation that sorts after it.
    auto later = [](const gen_event &a, const gen_event &b) {
        return a.t_ms != b.t_ms ? a.t_ms > b.t_ms : a.seq > b.seq;
    };
    std::priority_queue<gen_event, std::vector<gen_event>, decltype(later)> frees(later);
    arrivals(r, [&](const gen_event &a, const gen_event &f) {
        while (!frees.empty() && later(a, frees.top())) {
            line(frees.top());
            frees.pop();
        }
        line(a);
        frees.push(f);
    });
    while (!frees.empty()) {
        line(frees.top());
        frees.pop();
    }
    sink(out);
}

std::string generate(const gen_config &cfg)
{
    std::string all;
    generate(cfg, [&](std::string_view piece) { all += piece; });
    return all;
}

} // namespace elastic::trace
