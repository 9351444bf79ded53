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
//
// Families of issue 12: their level parameters AND their request mix are drawn per seed (packet
// share of arrivals 0.3..0.7, mean file holding time 10..60 s, mean packet holding time
// 0.2..3 s; arrival rate L(t) / E[class x hold] so that the bytes in use follow L(t)):
//   periodic     bursts of 48..200 MiB, 20..120 s wide, every 360..1500 s (a period longer than
//                the 300 s idle period), quiet 1..8 MiB between them, heights jittered +-20 %
//   step-down    from 150..240 MiB down in steps of 8..40 MiB every 90..400 s to a floor of
//                4..16 MiB, held 300..900 s, then back up to a new top
//   heavy-tail   30..120 MiB modulated +-30 % over 1200..3600 s; file holding times Pareto
//                (alpha 1.2..1.8, same mean): a few buffers stay out for very long
//   on-off       3..8 independent sources of 8..40 MiB each, on Exp(30..300 s), off
//                Exp(60..900 s), over 2 MiB
//   random-walk  a reflected random walk in 4..220 MiB, one Gaussian step (sd 2..8 MiB) per 10 s
//   packets      packet buffers only (2 KiB, held 2..8 s): 0.3..1 MiB plus bursts to 1.5..3.2 MiB;
//                meant for a 256 KiB / 256 KiB / 4 MiB pool (shape_pool_args)
//   large-bufs   file buffers of 128 KiB..1 MiB (packet share 0..0.3), levels 2..56 MiB held
//                60..900 s; meant for 2 MiB chunks and a 64 MiB wall, so a chunk holds 2..16
//                requests
//   mixture      the sum of two families drawn from the eleven above and below the line of
//                default pools (not packets, large-bufs), each scaled by 0.5..0.7
//   random       1..3 such families with random weights (sum 0.8..1.3) and a random request mix:
//                a new family mix per seed
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
constexpr double file_hold_s_default = 20.0;
constexpr double packet_hold_s_default = 1.0;
constexpr double min_file_default = 4096.0, max_file_default = 1048576.0;
constexpr double packet_class = 4096.0; // a 2 KiB packet buffer uses the 4 KiB class
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
    double normal() noexcept // Box-Muller, one of the pair
    {
        const double u = 1.0 - u01(), v = u01();
        return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
    }

private:
    uint64_t s_[4];
};

using levels = std::vector<double>; // bytes, one per second

// How requests are drawn from the level L(t) (issue 5's mix for the six first families).
struct request_mix {
    double packet_frac = 0.5;        // share of arrivals that are packet buffers
    double file_hold_s = file_hold_s_default;
    double packet_hold_s = packet_hold_s_default;
    double min_file = min_file_default, max_file = max_file_default;
    double pareto_alpha = 0;         // > 1: Pareto file holding times of mean file_hold_s
    double per_byte = 0;             // arrivals/s per byte of L (0: computed from the above)
};

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

// ---- families of issue 12 -----------------------------------------------------------------

void note(std::string &notes, const char *fmt, double a, double b = 0, double c = 0,
          double d = 0)
{
    char line[160];
    snprintf(line, sizeof(line), fmt, a, b, c, d);
    notes += line;
}

// E[class] of a log-uniform size over [lo, hi] with classes 4 KiB x 2^k (numerically: 4096
// points evenly spaced in log size).
double mean_class(double lo, double hi)
{
    constexpr int n = 4096;
    double s = 0;
    for (int i = 0; i < n; i++) {
        const double x = std::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * (i + 0.5) / n);
        s += double(std::bit_ceil(std::max<uint64_t>(4096, uint64_t(std::llround(x)))));
    }
    return s / n;
}

void random_mix(request_mix &m, rng &r, std::string &notes)
{
    m.packet_frac = r.uniform(0.3, 0.7);
    m.file_hold_s = r.uniform(10, 60);
    m.packet_hold_s = r.uniform(0.2, 3);
    note(notes, "# mix: %.0f%% packets held %.1f s, files held %.0f s\n", m.packet_frac * 100,
         m.packet_hold_s, m.file_hold_s);
}

void shape_periodic(levels &l, rng &r, std::string &notes)
{
    const double period = r.uniform(360, 1500), quiet = r.uniform(1, 8) * mib;
    const double width = r.uniform(20, std::min(120.0, period / 4)), h = r.uniform(48, 200) * mib;
    note(notes, "# period %.0f s, bursts %.0f s at ~%.0f MiB, quiet %.0f MiB\n", period, width,
         h / mib, quiet / mib);
    std::fill(l.begin(), l.end(), quiet);
    for (double t = r.uniform(0, period); t < double(l.size()); t += period) {
        const double at = t + period * r.uniform(-0.05, 0.05);
        fill(l, at, at + width, h * r.uniform(0.8, 1.2));
    }
}

void shape_step_down(levels &l, rng &r, std::string &notes)
{
    double t = 0;
    while (t < double(l.size())) {
        const double top = r.uniform(150, 240) * mib, floor = r.uniform(4, 16) * mib;
        note(notes, "# from %.0f MiB at %.0f s down to %.0f MiB\n", top / mib, t, floor / mib);
        for (double v = top; v > floor && t < double(l.size());) {
            const double len = r.uniform(90, 400);
            fill(l, t, t + len, v);
            t += len;
            v -= r.uniform(8, 40) * mib;
        }
        const double hold = r.uniform(300, 900);
        fill(l, t, t + hold, floor);
        t += hold;
    }
}

void shape_heavy_tail(levels &l, rng &r, std::string &notes, request_mix &m)
{
    const double v = r.uniform(30, 120) * mib, period = r.uniform(1200, 3600);
    const double phase = r.uniform(0, 6.283185307179586);
    m.pareto_alpha = r.uniform(1.2, 1.8);
    note(notes, "# %.0f MiB +-30%% over %.0f s, Pareto holds alpha %.2f\n", v / mib, period,
         m.pareto_alpha);
    for (size_t i = 0; i < l.size(); i++)
        l[i] = v * (1 + 0.3 * std::sin(6.283185307179586 * double(i) / period + phase));
}

void shape_on_off(levels &l, rng &r, std::string &notes)
{
    std::fill(l.begin(), l.end(), 2 * mib);
    const unsigned n = 3 + unsigned(r.below(6));
    for (unsigned k = 0; k < n; k++) {
        const double size = r.uniform(8, 40) * mib;
        const double on = r.uniform(30, 300), off = r.uniform(60, 900);
        note(notes, "# source %.0f: %.0f MiB, on ~%.0f s, off ~%.0f s\n", k, size / mib, on, off);
        double t = r.exponential(off);
        while (t < double(l.size())) {
            const double len = r.exponential(on);
            for (size_t i = size_t(t); i < std::min(l.size(), size_t(t + len)); i++)
                l[i] += size;
            t += len + r.exponential(off);
        }
    }
}

void shape_random_walk(levels &l, rng &r, std::string &notes)
{
    constexpr double lo = 4 * mib, hi = 220 * mib;
    double v = r.uniform(20, 150) * mib;
    const double sd = r.uniform(2, 8) * mib;
    note(notes, "# random walk from %.0f MiB, sd %.1f MiB per 10 s\n", v / mib, sd / mib);
    for (size_t i = 0; i < l.size(); i++) {
        if (i % 10 == 0 && i != 0) {
            v += sd * r.normal();
            v = v < lo ? 2 * lo - v : v > hi ? 2 * hi - v : v;
        }
        l[i] = v;
    }
}

void shape_packets(levels &l, rng &r, std::string &notes, request_mix &m)
{
    m.packet_frac = 1;
    m.packet_hold_s = r.uniform(2, 8);
    const double base = r.uniform(0.3, 1) * mib, top = r.uniform(1.5, 3.2) * mib;
    const double gap = r.uniform(200, 900);
    note(notes, "# packets held %.1f s: %.2f MiB, bursts to %.2f MiB every ~%.0f s\n",
         m.packet_hold_s, base / mib, top / mib, gap);
    std::fill(l.begin(), l.end(), base);
    for (double t = r.exponential(gap); t < double(l.size()); t += r.exponential(gap)) {
        const double len = r.uniform(30, 300);
        fill(l, t, t + len, top * r.uniform(0.7, 1));
        t += len;
    }
}

void shape_large_bufs(levels &l, rng &r, std::string &notes, request_mix &m)
{
    m.packet_frac = r.uniform(0, 0.3);
    m.min_file = 128 * 1024.0;
    note(notes, "# 128 KiB..1 MiB buffers, %.0f%% packets, held %.0f s\n", m.packet_frac * 100,
         m.file_hold_s);
    double t = 0;
    while (t < double(l.size())) {
        const double len = r.uniform(60, 900), v = r.uniform(2, 56) * mib;
        fill(l, t, t + len, v);
        t += len;
    }
}

void shape_levels(shape s, levels &l, rng &r, std::string &notes, request_mix &m);

// The families a mixture draws from: every family on the default pool but the mixtures.
constexpr shape mixable[] = {shape::burst,     shape::diurnal,    shape::step,
                             shape::sawtooth,  shape::poisson,    shape::flash_crowd,
                             shape::periodic,  shape::step_down,  shape::heavy_tail,
                             shape::on_off,    shape::random_walk};

void add_component(levels &l, rng &r, std::string &notes, request_mix &m, double weight)
{
    const shape s = mixable[r.below(std::size(mixable))];
    levels part(l.size(), 0.0);
    note(notes, "# component x%.2f:\n", weight);
    notes.pop_back();
    notes += std::string(" ") + shape_names[size_t(s)] + "\n";
    shape_levels(s, part, r, notes, m);
    for (size_t i = 0; i < l.size(); i++)
        l[i] += weight * part[i];
}

void shape_mixture(levels &l, rng &r, std::string &notes, request_mix &m)
{
    std::fill(l.begin(), l.end(), 0.0);
    for (int k = 0; k < 2; k++)
        add_component(l, r, notes, m, r.uniform(0.5, 0.7));
}

void shape_random(levels &l, rng &r, std::string &notes, request_mix &m)
{
    std::fill(l.begin(), l.end(), 0.0);
    const unsigned n = 1 + unsigned(r.below(3));
    double w[3], sum = 0;
    for (unsigned k = 0; k < n; k++)
        sum += w[k] = r.uniform(0.2, 1);
    const double total = r.uniform(0.8, 1.3);
    for (unsigned k = 0; k < n; k++)
        add_component(l, r, notes, m, w[k] / sum * total);
}

void shape_levels(shape s, levels &l, rng &r, std::string &notes, request_mix &m)
{
    switch (s) {
    case shape::burst: shape_burst(l, r, notes); break;
    case shape::diurnal: shape_diurnal(l, r, notes); break;
    case shape::step: shape_step(l, r, notes); break;
    case shape::sawtooth: shape_sawtooth(l, r, notes); break;
    case shape::poisson: shape_poisson(l, r, notes); break;
    case shape::flash_crowd: shape_flash_crowd(l, r, notes); break;
    case shape::periodic: shape_periodic(l, r, notes); break;
    case shape::step_down: shape_step_down(l, r, notes); break;
    case shape::heavy_tail: shape_heavy_tail(l, r, notes, m); break;
    case shape::on_off: shape_on_off(l, r, notes); break;
    case shape::random_walk: shape_random_walk(l, r, notes); break;
    case shape::packets: shape_packets(l, r, notes, m); break;
    case shape::large_bufs: shape_large_bufs(l, r, notes, m); break;
    case shape::mixture: shape_mixture(l, r, notes, m); break;
    case shape::random: shape_random(l, r, notes, m); break;
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

const char *shape_pool_args(shape s) noexcept
{
    switch (s) {
    case shape::packets: return "--base 256K --chunk 256K --wall 4M";
    case shape::large_bufs: return "--base 2M --chunk 2M --wall 64M";
    default: return "";
    }
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
    request_mix mix;
    if (cfg.kind >= shape::periodic) // issue 12 families: random request mix too
        random_mix(mix, r, notes);
    else // issue 5's fixed mix, its rate from the file buffers alone (same bytes as before)
        mix.per_byte = 2.0 / (mean_file_class * file_hold_s_default);
    shape_levels(cfg.kind, l, r, notes, mix);
    if (mix.per_byte == 0) {
        const double e_file = mean_class(mix.min_file, mix.max_file) * mix.file_hold_s;
        const double e_packet = packet_class * mix.packet_hold_s;
        mix.per_byte = 1.0 / ((1 - mix.packet_frac) * e_file + mix.packet_frac * e_packet);
    }
    // Pareto(xm, alpha) of mean file_hold_s: xm = mean (alpha - 1) / alpha.
    const double pareto_xm =
        mix.pareto_alpha > 1 ? mix.file_hold_s * (mix.pareto_alpha - 1) / mix.pareto_alpha : 0;

    // Arrivals: thinning of a Poisson process at the largest rate. Run twice from the same
    // random state: once to count the allocations (the header says how many), once to write.
    // Memory is the levels (8 bytes a second) and the allocations live at one time (a heap of
    // pending frees), never the whole trace (a 30-day trace is gigabytes of text).
    const double per_byte = mix.per_byte; // arrivals/s per byte of L
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
            if (rr.u01() < mix.packet_frac) {
                size = packet_size;
                hold = rr.exponential(mix.packet_hold_s);
            } else {
                const double sz =
                    std::exp(rr.uniform(std::log(mix.min_file), std::log(mix.max_file)));
                size = std::clamp(uint64_t(std::llround(sz)), uint64_t(mix.min_file),
                                  uint64_t(mix.max_file));
                hold = pareto_xm > 0
                           ? pareto_xm / std::pow(1.0 - rr.u01(), 1.0 / mix.pareto_alpha)
                           : rr.exponential(mix.file_hold_s);
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
