// SPDX-License-Identifier: BSD-3-Clause
// elastic-fwd-gen: the traffic source for elastic-fwd. On port 0 (in the intended set-up a
// net_vhost port whose peer is elastic-fwd's net_virtio_user) it sends numbered frames at the
// rates of a phase schedule, receives what the forwarder sends back and checks every frame.
//
//   elastic-fwd-gen <EAL args> -- [--schedule name:seconds:pps,...] [options]   (--help)
//
// Frame (--size bytes, 64 by default):
//   0  Ethernet: dst 02:00:00:00:00:01 (the forwarder), src our port's address, type 0x88b5
//   14 magic "EFWD" | 18 sequence number (u64, big endian) | 26 send TSC (u64) |
//   34.. byte i = (seq + i) & 0xff
// A returned frame must have the addresses swapped (the forwarder's macswap), the magic, a
// sequence number below the next to send and above the last one received (one queue keeps the
// order), and the whole pattern; anything else is counted as bad.
//
// Counting: "offered" is what the schedule asked for; "sent" what the port took (a vhost port
// refuses when the peer's Rx ring has no free buffer: "refused"); "received" what came back.
// After the schedule it waits until nothing has come back for --drain-ms, then prints per-phase
// and total counts, and exits 0 when no frame was bad (1 otherwise, 2 on bad usage).

#include <algorithm>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "cli.hpp"

namespace {

constexpr const char *prog = "elastic-fwd-gen";
constexpr uint16_t ether_type = 0x88b5; // IEEE local experimental
constexpr char magic[4] = {'E', 'F', 'W', 'D'};
constexpr unsigned off_magic = 14, off_seq = 18, off_tsc = 26, off_pattern = 34;
constexpr unsigned min_size = 60, max_size = 1514;
constexpr unsigned max_burst = 256;
constexpr unsigned nb_mbufs = 8191;
constexpr unsigned mbuf_cache = 256;
constexpr uint16_t ring = 1024;
constexpr uint64_t max_rate = 100000000;  // 100 Mpps: more than any port here
constexpr double token_cap_bursts = 32;   // at most this many bursts owed after a stall
constexpr unsigned max_sleep_us = 50;
constexpr unsigned drain_bound_s = 10;
const rte_ether_addr fwd_addr = {{0x02, 0, 0, 0, 0, 0x01}};

struct phase {
    std::string name;
    double seconds;
    uint64_t pps;
};

struct options {
    std::vector<phase> schedule;
    unsigned size = 64;
    unsigned burst = 32;
    unsigned link_wait_s = 30;
    unsigned drain_ms = 1000;
    std::string csv;
    bool quiet = false;
};

const char *const default_schedule = "low:4:10000,burst:6:100000,low:10:10000,idle:4:0";

void usage(FILE *f)
{
    fprintf(f,
"Usage: %s <EAL args> -- [options]\n"
"Sends numbered frames on port 0 at the rates of a phase schedule, receives what comes back\n"
"(from elastic-fwd: addresses swapped) and checks every frame.\n"
"  --schedule SPEC   phases name:seconds:pps separated by commas (seconds may be fractional;\n"
"                    pps 0 = idle); default %s\n"
"  --size N          frame bytes without CRC, %u..%u (default 64)\n"
"  --burst N         frames per tx burst (default 32, at most %u)\n"
"  --link-wait-s N   wait at most N s for the link (the forwarder) to come up (default 30)\n"
"  --drain-ms N      after the schedule, stop when nothing came back for N ms (default 1000)\n"
"  --csv FILE        also write the per-second lines to FILE (comma-separated)\n"
"  --quiet           no per-second lines on stdout\n"
"  --help            this text\n"
"Exit status: 0 no bad frame, 1 bad frames or a failure, 2 usage.\n",
            prog, default_schedule, min_size, max_size, max_burst);
}

bool parse_schedule(const std::string &spec, std::vector<phase> &out, std::string &why)
{
    out.clear();
    size_t pos = 0;
    while (pos <= spec.size()) {
        const size_t end = std::min(spec.find(',', pos), spec.size());
        const std::string item = spec.substr(pos, end - pos);
        const size_t c1 = item.find(':'), c2 = c1 == item.npos ? item.npos : item.find(':', c1 + 1);
        if (c1 == 0 || c2 == item.npos || item.find(':', c2 + 1) != item.npos) {
            why = "'" + item + "' is not name:seconds:pps";
            return false;
        }
        phase p;
        p.name = item.substr(0, c1);
        const std::string secs = item.substr(c1 + 1, c2 - c1 - 1), rate = item.substr(c2 + 1);
        char *e = nullptr;
        p.seconds = strtod(secs.c_str(), &e);
        if (secs.empty() || *e != '\0' || !(p.seconds > 0) || p.seconds > 3600) {
            why = "'" + item + "': seconds must be in (0, 3600]";
            return false;
        }
        if (!fwd_cli::args::parse_u64(rate, p.pps) || p.pps > max_rate) {
            why = "'" + item + "': pps must be a whole number up to " + std::to_string(max_rate);
            return false;
        }
        out.push_back(p);
        pos = end + 1;
    }
    if (out.empty()) {
        why = "no phase";
        return false;
    }
    return true;
}

int parse(int argc, char **argv, options &o)
{
    fwd_cli::args a(prog, argc, argv);
    std::string s, why;
    while (!a.done() && !a.failed()) {
        if (a.flag("--help") || a.flag("-h")) {
            usage(stdout);
            return 0;
        }
        if (a.value("--schedule", s)) {
            if (!a.failed() && !parse_schedule(s, o.schedule, why))
                a.error("--schedule", why);
        } else if (a.number_as("--size", o.size, min_size, max_size) ||
                   a.number_as("--burst", o.burst, 1, max_burst) ||
                   a.number_as("--link-wait-s", o.link_wait_s, 1, 3600) ||
                   a.number_as("--drain-ms", o.drain_ms, 1, 60000)) {
        } else if (a.value("--csv", s)) {
            if (s.empty() && !a.failed())
                a.error("--csv", "empty file name");
            o.csv = s;
        } else if (a.flag("--quiet")) {
            o.quiet = true;
        } else {
            a.unknown();
        }
    }
    if (a.failed())
        return fwd_cli::exit_usage;
    if (o.schedule.empty()) {
        std::string w;
        parse_schedule(default_schedule, o.schedule, w);
    }
    return -1;
}

volatile sig_atomic_t quit = 0;
void on_signal(int) { quit = 1; }

struct phase_counts {
    uint64_t offered = 0, sent = 0, refused = 0, received = 0;
    uint64_t first_seq = 0;
    uint64_t rtt_sum = 0, rtt_max = 0; // TSC cycles
};

struct gen {
    options o;
    uint16_t port = 0;
    rte_ether_addr self{};
    rte_mempool *mp = nullptr;
    uint64_t hz = 0;
    uint64_t next_seq = 0;
    bool seen = false;
    uint64_t last_rx_seq = 0;
    uint64_t bad = 0;
    int reported = 0;
    std::vector<phase_counts> ph; // one per phase, + one for the drain
};

void fill(gen &g, rte_mbuf *m, uint64_t seq, uint64_t tsc)
{
    auto *p = reinterpret_cast<uint8_t *>(rte_pktmbuf_append(m, uint16_t(g.o.size)));
    auto *eh = reinterpret_cast<rte_ether_hdr *>(p);
    eh->dst_addr = fwd_addr;
    eh->src_addr = g.self;
    eh->ether_type = rte_cpu_to_be_16(ether_type);
    memcpy(p + off_magic, magic, sizeof(magic));
    const uint64_t be = rte_cpu_to_be_64(seq);
    memcpy(p + off_seq, &be, 8);
    memcpy(p + off_tsc, &tsc, 8);
    for (unsigned i = off_pattern; i < g.o.size; i++)
        p[i] = uint8_t(seq + i);
}

void bad_frame(gen &g, const rte_mbuf *m, const char *why)
{
    g.bad++;
    if (g.reported++ < 5) {
        printf("bad frame (%s): len %u:", why, m->pkt_len);
        const auto *p = rte_pktmbuf_mtod(m, const uint8_t *);
        for (unsigned i = 0; i < std::min<unsigned>(m->data_len, 48); i++)
            printf(" %02x", p[i]);
        printf("\n");
    }
}

// Which phase sent sequence number @p seq (phases are in sending order).
size_t phase_of(const gen &g, uint64_t seq)
{
    size_t i = g.ph.size() - 1;
    while (i > 0 && seq < g.ph[i].first_seq)
        i--;
    return i;
}

void check(gen &g, const rte_mbuf *m, uint64_t now)
{
    const auto *p = rte_pktmbuf_mtod(m, const uint8_t *);
    if (m->nb_segs != 1 || m->pkt_len != g.o.size || m->data_len != g.o.size)
        return bad_frame(g, m, "length");
    const auto *eh = reinterpret_cast<const rte_ether_hdr *>(p);
    if (eh->ether_type != rte_cpu_to_be_16(ether_type) || memcmp(p + off_magic, magic, 4) != 0)
        return bad_frame(g, m, "type or magic");
    if (!rte_is_same_ether_addr(&eh->dst_addr, &g.self) ||
        !rte_is_same_ether_addr(&eh->src_addr, &fwd_addr))
        return bad_frame(g, m, "addresses not swapped");
    uint64_t seq, tsc;
    memcpy(&seq, p + off_seq, 8);
    seq = rte_be_to_cpu_64(seq);
    memcpy(&tsc, p + off_tsc, 8);
    if (seq >= g.next_seq)
        return bad_frame(g, m, "sequence number never sent");
    if (g.seen && seq <= g.last_rx_seq)
        return bad_frame(g, m, "sequence number repeated or out of order");
    for (unsigned i = off_pattern; i < g.o.size; i++)
        if (p[i] != uint8_t(seq + i))
            return bad_frame(g, m, "payload");
    g.seen = true;
    g.last_rx_seq = seq;
    phase_counts &pc = g.ph[phase_of(g, seq)];
    pc.received++;
    const uint64_t rtt = now > tsc ? now - tsc : 0;
    pc.rtt_sum += rtt;
    pc.rtt_max = std::max(pc.rtt_max, rtt);
}

// Receives and checks one burst; returns the number received.
unsigned receive(gen &g)
{
    rte_mbuf *pkts[max_burst];
    const uint16_t n = rte_eth_rx_burst(g.port, 0, pkts, max_burst);
    if (n) {
        const uint64_t now = rte_rdtsc();
        for (uint16_t i = 0; i < n; i++)
            check(g, pkts[i], now);
        rte_pktmbuf_free_bulk(pkts, n);
    }
    return n;
}

int setup_port(gen &g)
{
    if (rte_eth_dev_count_avail() < 1) {
        fprintf(stderr, "%s: no ethdev port (give --vdev=net_vhost0,iface=SOCKET,queues=1)\n",
                prog);
        return fwd_cli::exit_usage;
    }
    g.mp = rte_pktmbuf_pool_create("fwd_gen", nb_mbufs, mbuf_cache, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
    if (g.mp == nullptr) {
        fprintf(stderr, "%s: mbuf pool: %s\n", prog, rte_strerror(rte_errno));
        return 1;
    }
    rte_eth_conf conf{};
    int rc = rte_eth_dev_configure(g.port, 1, 1, &conf);
    if (rc == 0)
        rc = rte_eth_rx_queue_setup(g.port, 0, ring, rte_eth_dev_socket_id(g.port), nullptr,
                                    g.mp);
    if (rc == 0)
        rc = rte_eth_tx_queue_setup(g.port, 0, ring, rte_eth_dev_socket_id(g.port), nullptr);
    if (rc == 0)
        rc = rte_eth_dev_start(g.port);
    if (rc == 0)
        rc = rte_eth_macaddr_get(g.port, &g.self);
    if (rc != 0) {
        fprintf(stderr, "%s: port %u set-up: %s\n", prog, g.port, rte_strerror(-rc));
        return 1;
    }
    return 0;
}

bool wait_link(gen &g)
{
    const uint64_t deadline = rte_get_tsc_cycles() + g.o.link_wait_s * g.hz;
    while (!quit && rte_get_tsc_cycles() < deadline) {
        rte_eth_link l{};
        if (rte_eth_link_get_nowait(g.port, &l) == 0 && l.link_status == RTE_ETH_LINK_UP)
            return true;
        rte_delay_us_sleep(10000);
    }
    return false;
}

int run(gen &g)
{
    FILE *csv = nullptr;
    if (!g.o.csv.empty()) {
        csv = fopen(g.o.csv.c_str(), "w");
        if (csv == nullptr) {
            fprintf(stderr, "%s: --csv %s: %s\n", prog, g.o.csv.c_str(), strerror(errno));
            return 1;
        }
        fprintf(csv, "time_s,phase,target_pps,offered_pps,sent_pps,refused,received_pps,"
                     "rtt_avg_us\n");
    }
    if (!wait_link(g)) {
        fprintf(stderr, "%s: the link did not come up in %u s (is the forwarder running?)\n",
                prog, g.o.link_wait_s);
        if (csv)
            fclose(csv);
        return 1;
    }
    g.ph.resize(g.o.schedule.size() + 1);
    for (auto &pc : g.ph)
        pc.first_seq = UINT64_MAX; // not started: no frame of it yet
    if (!g.o.quiet)
        printf("  time s  phase      target pps  offered pps   sent pps   refused  received pps"
               "  rtt avg us\n");
    const uint64_t t0 = rte_get_tsc_cycles();
    uint64_t last_print = t0;
    phase_counts at_print{};
    uint64_t rtt_sum_print = 0;
    uint64_t total_offered = 0, total_sent = 0, total_refused = 0, total_received = 0;
    rte_mbuf *pkts[max_burst];
    auto totals_now = [&] {
        total_offered = total_sent = total_refused = total_received = 0;
        rtt_sum_print = 0;
        for (const auto &pc : g.ph) {
            total_offered += pc.offered;
            total_sent += pc.sent;
            total_refused += pc.refused;
            total_received += pc.received;
            rtt_sum_print += pc.rtt_sum;
        }
    };
    auto print_row = [&](uint64_t now, const std::string &name, uint64_t target) {
        const double dt = double(now - last_print) / double(g.hz);
        if (dt <= 0)
            return;
        totals_now();
        const uint64_t rcv = total_received - at_print.received;
        const double rtt_us = rcv ? double(rtt_sum_print - at_print.rtt_sum) / double(rcv) *
                                        1e6 / double(g.hz)
                                  : 0.0;
        const double ts = double(now - t0) / double(g.hz);
        const double off = double(total_offered - at_print.offered) / dt,
                     snt = double(total_sent - at_print.sent) / dt, rc = double(rcv) / dt;
        if (!g.o.quiet)
            printf("%8.1f  %-9s %11" PRIu64 " %12.0f %10.0f %9" PRIu64 " %13.0f %11.1f\n", ts,
                   name.c_str(), target, off, snt, total_refused - at_print.refused, rc, rtt_us);
        if (csv) {
            fprintf(csv, "%.3f,%s,%" PRIu64 ",%.0f,%.0f,%" PRIu64 ",%.0f,%.1f\n", ts,
                    name.c_str(), target, off, snt, total_refused - at_print.refused, rc, rtt_us);
            fflush(csv);
        }
        at_print.offered = total_offered;
        at_print.sent = total_sent;
        at_print.refused = total_refused;
        at_print.received = total_received;
        at_print.rtt_sum = rtt_sum_print;
        last_print = now;
    };

    uint64_t phase_start = t0;
    for (size_t i = 0; i < g.o.schedule.size() && !quit; i++) {
        const phase &p = g.o.schedule[i];
        phase_counts &pc = g.ph[i];
        pc.first_seq = g.next_seq;
        const uint64_t end = phase_start + uint64_t(p.seconds * double(g.hz));
        const double per_cycle = double(p.pps) / double(g.hz);
        const double cap = double(g.o.burst) * token_cap_bursts;
        double tokens = 0;
        uint64_t last = phase_start;
        for (;;) {
            const uint64_t now = rte_get_tsc_cycles();
            if (now >= end || quit)
                break;
            tokens = std::min(cap, tokens + double(now - last) * per_cycle);
            last = now;
            bool busy = receive(g) > 0;
            while (tokens >= 1) {
                const unsigned n = std::min<unsigned>(g.o.burst, unsigned(tokens));
                if (rte_pktmbuf_alloc_bulk(g.mp, pkts, n) != 0)
                    break; // our own pool is dry: the returns will refill it
                const uint64_t tsc = rte_rdtsc();
                for (unsigned k = 0; k < n; k++)
                    fill(g, pkts[k], g.next_seq + k, tsc);
                const uint16_t sent = rte_eth_tx_burst(g.port, 0, pkts, uint16_t(n));
                // Only what the port took carries a sequence number: a refused frame is not
                // sent, and the next frame reuses its number.
                if (sent < n) {
                    rte_pktmbuf_free_bulk(pkts + sent, n - sent);
                    pc.refused += n - sent;
                }
                g.next_seq += sent;
                pc.sent += sent;
                pc.offered += n;
                tokens -= n;
                busy = true;
                if (sent < n)
                    break;
            }
            if (now - last_print >= g.hz)
                print_row(now, p.name, p.pps);
            if (!busy) {
                // Sleep until the next frame is due (bounded: returns must be polled).
                const double need = tokens < 1 && per_cycle > 0 ? (1 - tokens) / per_cycle : 1e18;
                const double us = std::min<double>(max_sleep_us, need * 1e6 / double(g.hz));
                if (us >= 1)
                    rte_delay_us_sleep(unsigned(us));
            }
        }
        phase_start = end;
    }
    // Drain: until nothing came back for drain_ms (bounded).
    g.ph.back().first_seq = g.next_seq;
    const uint64_t drain_start = rte_get_tsc_cycles();
    uint64_t last_rx = drain_start;
    for (;;) {
        const uint64_t now = rte_get_tsc_cycles();
        if (receive(g))
            last_rx = now;
        else
            rte_delay_us_sleep(max_sleep_us);
        if (now - last_print >= g.hz)
            print_row(now, "drain", 0);
        if (now - last_rx >= g.o.drain_ms * g.hz / 1000 ||
            now - drain_start >= drain_bound_s * g.hz)
            break;
    }
    print_row(rte_get_tsc_cycles(), "drain", 0);
    if (csv)
        fclose(csv);
    totals_now();
    for (size_t i = 0; i + 1 < g.ph.size(); i++) {
        const phase_counts &pc = g.ph[i];
        printf("phase %zu %s: %.1f s at %" PRIu64 " pps: offered=%" PRIu64 " sent=%" PRIu64
               " refused=%" PRIu64 " received=%" PRIu64 " lost=%" PRIu64
               " rtt_avg_us=%.1f rtt_max_us=%.1f\n",
               i, g.o.schedule[i].name.c_str(), g.o.schedule[i].seconds, g.o.schedule[i].pps,
               pc.offered, pc.sent, pc.refused, pc.received, pc.sent - pc.received,
               pc.received ? double(pc.rtt_sum) / double(pc.received) * 1e6 / double(g.hz) : 0.0,
               double(pc.rtt_max) * 1e6 / double(g.hz));
    }
    printf("gen offered=%" PRIu64 " sent=%" PRIu64 " refused=%" PRIu64 " received=%" PRIu64
           " lost=%" PRIu64 " bad=%" PRIu64 " drops=%" PRIu64 "\n",
           total_offered, total_sent, total_refused, total_received,
           total_sent - total_received - g.bad, g.bad, total_offered - total_received);
    if (g.bad) {
        printf("FAIL: %" PRIu64 " bad frames\n", g.bad);
        return 1;
    }
    if (quit) {
        printf("stopped by a signal before the schedule ended\n");
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    setvbuf(stdout, nullptr, _IOLBF, 0);
    const int split = fwd_cli::split_index(argc, argv);
    gen g;
    if (fwd_cli::asks_for_help(split, argv)) {
        usage(stdout);
        return 0;
    }
    if (split < argc) {
        const int rc = parse(argc - split - 1, argv + split + 1, g.o);
        if (rc >= 0)
            return rc;
    } else {
        std::string w;
        parse_schedule(default_schedule, g.o.schedule, w);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (!fwd_cli::eal_init(split, argv, prog))
        return fwd_cli::exit_usage;
    g.hz = rte_get_tsc_hz();
    int rc = setup_port(g);
    if (rc == 0)
        rc = run(g);
    if (g.mp != nullptr) {
        rte_eth_dev_stop(g.port);
        rte_eth_dev_close(g.port);
        rte_mempool_free(g.mp);
    }
    rte_eal_cleanup();
    return rc;
}
