/* SPDX-License-Identifier: BSD-3-Clause */
// pmd_reader: receives on port 0 (whatever vdev the EAL arguments give: net_virtio_user,
// net_vhost, net_tap) into an elastic pktmbuf pool (explicit API) and proves that the PMD's
// packets land in chunks the pool grew while the port ran, in two separate growth phases with a
// release between them, and that every packet is intact.
//
//   pmd_reader <EAL args> -- --expect=txonly|seq [--hold=N] [--seconds=S] [--status=FILE]
//              [--min-rx=N]
//
// Phases (each bounded in time; the whole run by --seconds):
//   warm   until the first packet;
//   hold1  every packet is checked and held (not freed) until N are held: the Rx refill of the
//          PMD runs the pool dry and it grows (on the datapath or ahead, from maintenance);
//   shrink all held mbufs go back; packets are freed as they come; wait for a chunk release
//          (short sample and idle periods, headroom 0);
//   hold2  hold N again: the pool grows again (chunks added after the release);
//   run    free as they come; "phases_done" is written to FILE; wait for SIGUSR1 (the test has
//          stopped the writer), then drain until the port is quiet for 300 ms.
// Every mbuf is attributed to a chunk by address: the chunk hook records each chunk's range when
// it is added (before any of its objects is handed out) and drops it when it is released (after
// all its objects are home), so an mbuf outside every live chunk is a bug. Every packet's content
// is checked (--expect): testpmd's txonly packet (DPDK 22.11 app/test-pmd/txonly.c: 64 bytes,
// Ether to 02:00:00:00:00:00, IPv4 198.18.0.1 -> 198.18.0.2 with a valid checksum, UDP 9 -> 9,
// payload untouched by testpmd, so zero), or the test's own frames (ethertype 0x88b5, a 64-bit
// sequence number that only increases, then bytes (seq + i) & 0xff). After the check the packet's
// bytes are poisoned before the mbuf goes back, so a packet the PMD did not really write into its
// mbuf (stale data of an earlier packet) fails the check.
// Output: key=value lines, then "PASS: ..." (exit 0) or "FAIL: ..." (exit 1).

#include <elastic_mempool.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace {

constexpr uint16_t rx_ring = 1024;
constexpr unsigned base_objs = 2400;   // 3 hugepages of 800 mbufs: the ring and some
constexpr unsigned chunk_objs = 800;   // one 2 MiB page each (tests/eal TruePages)
constexpr unsigned n_max = 16000;
constexpr uint8_t poison = 0xa5;
constexpr size_t poison_len = 128;

enum class expect_kind { txonly, seq };

struct options {
    expect_kind expect = expect_kind::txonly;
    unsigned hold = 4000;
    unsigned seconds = 60;
    unsigned min_rx = 1;
    std::string status;
};

enum phase : int { warm, hold1, shrink, hold2, run, drain, nb_phases };
const char *const phase_name[nb_phases] = {"warm", "hold1", "shrink", "hold2", "run", "drain"};

// A chunk as the hook saw it.
struct chunk_rec {
    uintptr_t lo = 0, hi = 0;
    uint32_t index = 0;
    int added_in = -1;        // phase when added; -1 before the port started
    bool after_start = false;
    bool live = true;
    uint64_t pkts = 0;
};

struct state {
    std::mutex mu; // hook (datapath or maintenance thread) vs lookups
    std::vector<chunk_rec> chunks;
    std::atomic<int> phase{warm};
    bool port_started = false;
    uint64_t adds = 0, releases = 0, releases_in_traffic = 0;
    uint64_t adds_after_start = 0;
};

state g;
volatile sig_atomic_t writer_stopped = 0;

void on_usr1(int) { writer_stopped = 1; }

int chunk_hook(void *, enum elastic_chunk_event ev, const struct elastic_chunk_info *info,
               void *)
{
    std::lock_guard lk(g.mu);
    const auto lo = reinterpret_cast<uintptr_t>(info->addr);
    if (ev == ELASTIC_CHUNK_EV_ADD) {
        chunk_rec c;
        c.lo = lo;
        c.hi = lo + info->len;
        c.index = info->index;
        c.after_start = g.port_started;
        c.added_in = g.port_started ? g.phase.load() : -1;
        g.chunks.push_back(c);
        g.adds++;
        if (g.port_started)
            g.adds_after_start++;
    } else {
        for (auto &c : g.chunks)
            if (c.live && c.lo == lo) {
                c.live = false;
                break;
            }
        g.releases++;
        const int ph = g.phase.load();
        if (g.port_started && ph > warm && ph < drain)
            g.releases_in_traffic++;
    }
    return 0;
}

bool parse(int argc, char **argv, options &o)
{
    for (int i = 0; i < argc; i++) {
        std::string_view a = argv[i];
        auto val = [&](std::string_view key) -> const char * {
            return a.substr(0, key.size()) == key ? argv[i] + key.size() : nullptr;
        };
        if (const char *v = val("--expect=")) {
            if (std::string_view(v) == "txonly")
                o.expect = expect_kind::txonly;
            else if (std::string_view(v) == "seq")
                o.expect = expect_kind::seq;
            else
                return false;
        } else if (const char *v = val("--hold=")) {
            o.hold = unsigned(strtoul(v, nullptr, 10));
        } else if (const char *v = val("--seconds=")) {
            o.seconds = unsigned(strtoul(v, nullptr, 10));
        } else if (const char *v = val("--min-rx=")) {
            o.min_rx = unsigned(strtoul(v, nullptr, 10));
        } else if (const char *v = val("--status=")) {
            o.status = v;
        } else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return false;
        }
    }
    return o.hold > 0 && o.hold < n_max - rx_ring - base_objs && o.seconds > 0;
}

void status(const options &o, const char *what)
{
    printf("status=%s\n", what);
    fflush(stdout);
    if (o.status.empty())
        return;
    if (FILE *f = fopen(o.status.c_str(), "a")) {
        fprintf(f, "%s\n", what);
        fclose(f);
    }
}

// The header checksum as the writer computed it (over the header with the field zero).
bool cksum_ok(const rte_ipv4_hdr *ip)
{
    rte_ipv4_hdr h;
    memcpy(&h, ip, sizeof(h));
    h.hdr_checksum = 0;
    return rte_ipv4_cksum(&h) == ip->hdr_checksum;
}

struct checker {
    expect_kind kind;
    uint64_t good = 0, bad = 0, other = 0, seq_gaps = 0;
    uint64_t first_seq = 0, next_seq = 0; // the first sequence number seen, the last + 1
    bool seen_seq = false;
    int reported = 0;

    void report(const rte_mbuf *m, const char *why)
    {
        bad++;
        if (reported++ < 5) {
            printf("bad packet (%s): len %u/%u nb_segs %u:", why, m->pkt_len, m->data_len,
                   m->nb_segs);
            const auto *p = rte_pktmbuf_mtod(m, const uint8_t *);
            for (unsigned i = 0; i < std::min<unsigned>(m->data_len, 64); i++)
                printf(" %02x", p[i]);
            printf("\n");
        }
    }

    void txonly(const rte_mbuf *m)
    {
        constexpr unsigned len = 64, hdrs = 14 + 20 + 8;
        if (m->nb_segs != 1 || m->pkt_len != len || m->data_len != len)
            return report(m, "length");
        const auto *p = rte_pktmbuf_mtod(m, const uint8_t *);
        static const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0};
        if (memcmp(p, dst, 6) != 0 || p[12] != 0x08 || p[13] != 0x00)
            return report(m, "ether");
        const auto *ip = reinterpret_cast<const rte_ipv4_hdr *>(p + 14);
        if (ip->version_ihl != 0x45 || ip->type_of_service != 0 ||
            rte_be_to_cpu_16(ip->total_length) != len - 14 || ip->packet_id != 0 ||
            ip->fragment_offset != 0 || ip->time_to_live != 64 ||
            ip->next_proto_id != IPPROTO_UDP ||
            rte_be_to_cpu_32(ip->src_addr) != RTE_IPV4(198, 18, 0, 1) ||
            rte_be_to_cpu_32(ip->dst_addr) != RTE_IPV4(198, 18, 0, 2) ||
            !cksum_ok(ip))
            return report(m, "ipv4");
        const auto *udp = reinterpret_cast<const rte_udp_hdr *>(p + 34);
        if (rte_be_to_cpu_16(udp->src_port) != 9 || rte_be_to_cpu_16(udp->dst_port) != 9 ||
            rte_be_to_cpu_16(udp->dgram_len) != len - 34 || udp->dgram_cksum != 0)
            return report(m, "udp");
        for (unsigned i = hdrs; i < len; i++)
            if (p[i] != 0)
                return report(m, "payload");
        good++;
    }

    void seq(const rte_mbuf *m)
    {
        const auto *p = rte_pktmbuf_mtod(m, const uint8_t *);
        if (m->data_len < 14 || p[12] != 0x88 || p[13] != 0xb5) {
            // The kernel's own frames on a tap (none expected with IPv6 off, but not ours).
            if (m->data_len >= 14 && memcmp(p, "\x02\x00\x00\x00\x00\x02", 6) == 0)
                return report(m, "ours, but ethertype");
            other++;
            return;
        }
        constexpr unsigned len = 128;
        if (m->nb_segs != 1 || m->pkt_len != len || m->data_len != len)
            return report(m, "length");
        uint64_t s;
        memcpy(&s, p + 14, 8);
        s = rte_be_to_cpu_64(s);
        for (unsigned i = 22; i < len; i++)
            if (p[i] != uint8_t(s + i))
                return report(m, "payload");
        if (seen_seq && s < next_seq)
            return report(m, "sequence went back");
        if (seen_seq && s > next_seq)
            seq_gaps += s - next_seq;
        if (!seen_seq)
            first_seq = s;
        seen_seq = true;
        next_seq = s + 1;
        good++;
    }

    void check(const rte_mbuf *m)
    {
        if (kind == expect_kind::txonly)
            txonly(m);
        else
            seq(m);
    }
};

void poison_and_free(rte_mbuf *m)
{
    auto *p = static_cast<uint8_t *>(m->buf_addr) + RTE_PKTMBUF_HEADROOM;
    memset(p, poison, std::min<size_t>(poison_len, m->buf_len - RTE_PKTMBUF_HEADROOM));
    rte_pktmbuf_free(m);
}

void free_all(std::vector<rte_mbuf *> &v)
{
    for (auto *m : v)
        poison_and_free(m);
    v.clear();
}

struct pool_view {
    elastic_pool_stats st{};
    elastic_mempool_xstats xs{};
    void get(const rte_mempool *mp)
    {
        elastic_mempool_stats_get(mp, &st);
        elastic_mempool_xstats_get(mp, &xs);
    }
};

int prove(const options &o)
{
    elastic_mempool_params p;
    elastic_mempool_params_init(&p);
    p.base_objs = base_objs;
    p.chunk_objs = chunk_objs;
    p.tick_ms = 10;
    p.sample_period_ms = 50;
    p.idle_period_ms = 200;
    p.headroom_chunks = 0;
    p.chunk_hook = chunk_hook;
    rte_mempool *mp = elastic_pktmbuf_pool_create("pmd_reader", n_max, 0, 0,
                                                  RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id(), &p);
    if (mp == nullptr) {
        printf("FAIL: elastic_pktmbuf_pool_create: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    if (rte_eth_dev_count_avail() < 1) {
        printf("FAIL: no port\n");
        rte_mempool_free(mp);
        return 1;
    }
    const uint16_t port = 0;
    rte_eth_conf conf{};
    int rc = rte_eth_dev_configure(port, 1, 1, &conf);
    if (rc == 0)
        rc = rte_eth_rx_queue_setup(port, 0, rx_ring, rte_eth_dev_socket_id(port), nullptr, mp);
    if (rc == 0)
        rc = rte_eth_tx_queue_setup(port, 0, 256, rte_eth_dev_socket_id(port), nullptr);
    rte_eth_promiscuous_enable(port); // not every vdev has it; the result does not matter
    {
        std::lock_guard lk(g.mu);
        g.port_started = true; // before start: the queue's first refill may already grow
    }
    if (rc == 0)
        rc = rte_eth_dev_start(port);
    if (rc != 0) {
        printf("FAIL: port set-up: %s\n", rte_strerror(-rc));
        rte_mempool_free(mp);
        return 1;
    }
    status(o, ("pid " + std::to_string(getpid())).c_str()); // the test signals us, not timeout
    status(o, "port_started");

    checker chk{o.expect};
    std::vector<rte_mbuf *> held;
    held.reserve(o.hold + 64);
    uint64_t rx = 0, outside = 0, rx_at_phase[nb_phases] = {};
    uint64_t hold_peak_chunks[nb_phases] = {};
    const uint64_t hz = rte_get_timer_hz();
    const uint64_t t0 = rte_get_timer_cycles();
    const uint64_t deadline = t0 + o.seconds * hz;
    uint64_t phase_start = t0, last_rx = t0;
    const uint64_t phase_limit[nb_phases] = {15 * hz, 15 * hz, 15 * hz, 15 * hz, 0, hz * 5};
    uint64_t releases_at_shrink_start = 0;
    std::string fail;
    pool_view pv;

    auto set_phase = [&](phase ph) {
        pv.get(mp);
        printf("phase=%s t_ms=%" PRIu64 " rx=%" PRIu64 " chunks=%u grows=%" PRIu64
               " shrinks=%" PRIu64 " pinned_bytes=%" PRIu64 "\n",
               phase_name[ph], (rte_get_timer_cycles() - t0) * 1000 / hz, rx, pv.st.nb_chunks,
               pv.st.nb_grows, pv.st.nb_shrinks, pv.st.pinned_bytes);
        fflush(stdout);
        g.phase.store(ph);
        phase_start = rte_get_timer_cycles();
        rx_at_phase[ph] = rx;
    };

    rte_mbuf *burst[64];
    for (;;) {
        const uint64_t now = rte_get_timer_cycles();
        const phase ph = phase(g.phase.load());
        if (ph == drain) {
            if (now - last_rx > hz * 3 / 10 || now - phase_start > phase_limit[drain])
                break;
        } else if (now > deadline) {
            fail = std::string("deadline in phase ") + phase_name[ph];
            break;
        } else if (phase_limit[ph] && now - phase_start > phase_limit[ph]) {
            fail = std::string("phase ") + phase_name[ph] + " took too long";
            break;
        }
        const uint16_t n = rte_eth_rx_burst(port, 0, burst, RTE_DIM(burst));
        if (n) {
            last_rx = now;
            rx += n;
            std::lock_guard lk(g.mu);
            for (uint16_t i = 0; i < n; i++) {
                const auto a = reinterpret_cast<uintptr_t>(burst[i]);
                bool found = false;
                for (auto &c : g.chunks)
                    if (c.live && a >= c.lo && a < c.hi) {
                        c.pkts++;
                        found = true;
                        break;
                    }
                outside += !found;
            }
        }
        for (uint16_t i = 0; i < n; i++) {
            chk.check(burst[i]);
            if (ph == hold1 || ph == hold2)
                held.push_back(burst[i]);
            else
                poison_and_free(burst[i]);
        }
        switch (ph) {
        case warm:
            if (rx > 0)
                set_phase(hold1);
            break;
        case hold1:
        case hold2:
            if (held.size() >= o.hold) {
                pv.get(mp);
                hold_peak_chunks[ph] = pv.st.nb_chunks;
                free_all(held);
                if (ph == hold1) {
                    std::lock_guard lk(g.mu);
                    releases_at_shrink_start = g.releases;
                }
                set_phase(ph == hold1 ? shrink : run);
                if (ph == hold2)
                    status(o, "phases_done");
            }
            break;
        case shrink: {
            bool released;
            {
                std::lock_guard lk(g.mu);
                released = g.releases > releases_at_shrink_start;
            }
            // Half a second more of traffic after the release, then grow again.
            if (released && now - phase_start > hz / 2)
                set_phase(hold2);
            break;
        }
        case run:
            if (writer_stopped)
                set_phase(drain);
            break;
        default:
            break;
        }
    }
    free_all(held);
    rte_eth_stats es{};
    rte_eth_stats_get(port, &es);
    rte_eth_dev_stop(port);
    pv.get(mp);

    // Packets into chunks grown after the port started, by the phase that grew them.
    uint64_t grown_pkts[nb_phases] = {}, grown_chunks[nb_phases] = {};
    uint64_t base_pkts = 0;
    {
        std::lock_guard lk(g.mu);
        for (const auto &c : g.chunks) {
            if (c.after_start && c.added_in >= 0) {
                grown_pkts[c.added_in] += c.pkts;
                grown_chunks[c.added_in]++;
            } else {
                base_pkts += c.pkts;
            }
            printf("chunk index=%u added_in=%s bytes=%" PRIuPTR " pkts=%" PRIu64 " %s\n",
                   c.index, c.added_in >= 0 ? phase_name[c.added_in] : "before_start",
                   c.hi - c.lo, c.pkts, c.live ? "live" : "released");
        }
    }
    // Growth phase 1 = chunks added before the first release (warm, hold1, shrink up to it);
    // growth phase 2 = chunks added in hold2 (after it).
    const uint64_t phase1_pkts = grown_pkts[warm] + grown_pkts[hold1] + grown_pkts[shrink];
    const uint64_t phase2_pkts = grown_pkts[hold2];
    printf("rx=%" PRIu64 " ipackets=%" PRIu64 " imissed=%" PRIu64 " rx_nombuf=%" PRIu64
           " ierrors=%" PRIu64 "\n", rx, es.ipackets, es.imissed, es.rx_nombuf, es.ierrors);
    printf("good=%" PRIu64 " bad=%" PRIu64 " other=%" PRIu64 " seq_gaps=%" PRIu64
           " outside=%" PRIu64 "\n", chk.good, chk.bad, chk.other, chk.seq_gaps, outside);
    if (chk.kind == expect_kind::seq)
        printf("seq_first=%" PRIu64 " seq_next=%" PRIu64 "\n", chk.first_seq, chk.next_seq);
    printf("chunks_added=%" PRIu64 " added_after_start=%" PRIu64 " releases=%" PRIu64
           " releases_in_traffic=%" PRIu64 "\n", g.adds, g.adds_after_start, g.releases,
           g.releases_in_traffic);
    printf("growth1_chunks=%" PRIu64 " growth1_pkts=%" PRIu64 " growth2_chunks=%" PRIu64
           " growth2_pkts=%" PRIu64 " base_pkts=%" PRIu64 "\n",
           grown_chunks[warm] + grown_chunks[hold1] + grown_chunks[shrink], phase1_pkts,
           grown_chunks[hold2], phase2_pkts, base_pkts);
    printf("peak_chunks_hold1=%" PRIu64 " peak_chunks_hold2=%" PRIu64 " nb_grows=%" PRIu64
           " grow_datapath=%" PRIu64 " grow_maintenance=%" PRIu64 " nb_shrinks=%" PRIu64
           " grow_ns_max=%" PRIu64 " grow_ns_total=%" PRIu64 " pinned_bytes_end=%" PRIu64
           " peak_pinned_bytes=%" PRIu64 "\n",
           hold_peak_chunks[hold1], hold_peak_chunks[hold2], pv.st.nb_grows,
           pv.xs.nb_grow_datapath, pv.xs.nb_grow_maintenance, pv.st.nb_shrinks,
           pv.xs.grow_ns_max, pv.st.grow_ns_total, pv.st.pinned_bytes,
           pv.st.peak_pinned_bytes);
    printf("rx_by_phase warm=%" PRIu64 " hold1=%" PRIu64 " shrink=%" PRIu64 " hold2=%" PRIu64
           " run=%" PRIu64 " drain=%" PRIu64 "\n",
           rx_at_phase[hold1] - rx_at_phase[warm], rx_at_phase[shrink] - rx_at_phase[hold1],
           rx_at_phase[hold2] - rx_at_phase[shrink], rx_at_phase[run] - rx_at_phase[hold2],
           rx_at_phase[drain] - rx_at_phase[run], rx - rx_at_phase[drain]);

    std::vector<std::string> why;
    if (!fail.empty())
        why.push_back(fail);
    if (rx < o.min_rx)
        why.push_back("received " + std::to_string(rx) + " < " + std::to_string(o.min_rx));
    if (chk.bad)
        why.push_back(std::to_string(chk.bad) + " bad packets");
    if (outside)
        why.push_back(std::to_string(outside) + " mbufs outside every chunk");
    if (phase1_pkts == 0)
        why.push_back("no packet in a chunk of the first growth");
    if (phase2_pkts == 0)
        why.push_back("no packet in a chunk of the second growth");
    if (g.releases_in_traffic == 0)
        why.push_back("no release during traffic");
    rte_eth_dev_close(port);
    rte_mempool_free(mp);
    if (!why.empty()) {
        printf("FAIL:");
        for (auto &w : why)
            printf(" %s;", w.c_str());
        printf("\n");
        return 1;
    }
    printf("PASS: %" PRIu64 " packets intact, %" PRIu64 " / %" PRIu64
           " into chunks of growth 1 / 2, %" PRIu64 " release(s) during traffic\n",
           chk.good, phase1_pkts, phase2_pkts, g.releases_in_traffic);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    setvbuf(stdout, nullptr, _IOLBF, 0);
    signal(SIGUSR1, on_usr1);
    // virtio-user talks to its vhost-user backend over a socket: once the writer has quit, a
    // memory-table update or the port's stop would kill the reader before it reports.
    signal(SIGPIPE, SIG_IGN);
    const int n = rte_eal_init(argc, argv);
    if (n < 0) {
        printf("FAIL: rte_eal_init: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    options o;
    int rc = 1;
    if (!parse(argc - n - 1, argv + n + 1, o))
        printf("FAIL: usage: pmd_reader <EAL args> -- --expect=txonly|seq [--hold=N] "
               "[--seconds=S] [--status=FILE] [--min-rx=N]\n");
    else
        rc = prove(o);
    rte_eal_cleanup();
    return rc;
}
