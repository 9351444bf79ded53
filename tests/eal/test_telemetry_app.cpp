/* SPDX-License-Identifier: BSD-3-Clause */
// A small DPDK program for the telemetry test (test_telemetry.sh): it starts the EAL with the
// arguments it is given, builds pools in a known state, prints READY and waits for a line on
// stdin (or EOF, or 60 s), then frees everything.
//
//   tel-a     base 64 KiB, chunks 64 KiB, wall 320 KiB, manual ticks: 3 buffers of 64 KiB out,
//             so 3 chunks of 65536 bytes with one buffer each
//   tel-b     base = wall = 64 KiB: one buffer out, a second request refused at the wall
//   telfam@N  a per-NUMA family (heap provider), one pool per node, nothing out
//   telcap@N  a second family; when this build can cap nodes, the first node is capped at what
//             every pool on it pins then and telcap@<first node> is refused a growth
//   tel-mp    elastic pktmbuf mempool, n 1024, base and chunks 256 objects, low watermark 100,
//             manual ticks: 450 objects out (a datapath growth), then one elastic_mempool_maintain
//             grows a third chunk ahead of need: chunks in use 256, 194, 0
//   tel-mp-auto  elastic pktmbuf mempool, n 256, base and chunks 128, automatic ticks (a member
//             of the maintenance service), a fake clock: 200 objects out, 100 more refused at the
//             wall, the clock moved 2 s on, elastic_mempool_trim makes the second chunk retiring
// READY is followed by the pid and "cap=1" when the cap is in force, "cap=0" otherwise.

#include <cstdio>
#include <cstring>
#include <vector>

#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <atomic>

#include <elastic_mempool.h>
#include <elastic_numa.h>
#include <elasticpool.h>

namespace {

constexpr size_t kib = 1024;

elastic_pool *make(const char *name, size_t base, size_t wall, uint32_t flags)
{
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = name;
    p.base_size = base;
    p.chunk_size = 64 * kib;
    p.wall_size = wall;
    p.max_buf_size = 64 * kib;
    p.flags = flags;
    elastic_pool *pool = elastic_pool_create(&p);
    if (pool == nullptr)
        std::fprintf(stderr, "pool %s: %s\n", name, rte_strerror(rte_errno));
    return pool;
}

std::atomic<uint64_t> fake_ns{1'000'000'000};

uint64_t fake_clock(void *) { return fake_ns.load(); }

rte_mempool *make_mempool(const char *name, unsigned n, unsigned objs, unsigned low_wm,
                          uint32_t flags, bool fake)
{
    elastic_mempool_params p;
    elastic_mempool_params_init(&p);
    p.base_objs = objs;
    p.chunk_objs = objs;
    p.low_watermark = low_wm;
    p.flags = flags;
    p.idle_period_ms = 1000;
    p.headroom_chunks = 0;
    if (fake)
        p.clock = fake_clock;
    rte_mempool *mp = elastic_pktmbuf_pool_create(name, n, 0, 0, 512, SOCKET_ID_ANY, &p);
    if (mp == nullptr)
        std::fprintf(stderr, "mempool %s: %s\n", name, rte_strerror(rte_errno));
    return mp;
}

// The two mempools in the state the header describes; false when something is off.
bool setup_mempools(rte_mempool *mp, rte_mempool *mpa, std::vector<void *> &objs,
                    std::vector<void *> &objs_a)
{
    if (mp == nullptr || mpa == nullptr)
        return false;
    objs.resize(450);
    if (rte_mempool_get_bulk(mp, objs.data(), 450) != 0) {
        objs.clear();
        return false;
    }
    if (elastic_mempool_maintain(mp) != 0)
        return false;
    objs_a.resize(200);
    if (rte_mempool_get_bulk(mpa, objs_a.data(), 200) != 0) {
        objs_a.clear();
        return false;
    }
    void *more[100];
    if (rte_mempool_get_bulk(mpa, more, 100) == 0)
        return false; // must hit the wall
    fake_ns += 2'000'000'000;
    if (elastic_mempool_trim(mpa) != 0)
        return false;
    elastic_mempool_xstats xs{};
    elastic_mempool_xstats_get(mpa, &xs);
    return xs.retiring == 1;
}

} // namespace

int main(int argc, char **argv)
{
    alarm(60); // never outlives a stuck test
    if (rte_eal_init(argc, argv) < 0) {
        std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    int rc = 1;
    std::vector<void *> a_bufs;
    void *b_buf = nullptr;
    elastic_pool *a = make("tel-a", 64 * kib, 320 * kib, ELASTIC_POOL_F_MANUAL_TICK);
    elastic_pool *b = make("tel-b", 64 * kib, 64 * kib, ELASTIC_POOL_F_MANUAL_TICK);
    elastic_pool_params tmpl;
    elastic_pool_params_init(&tmpl);
    tmpl.base_size = 64 * kib;
    tmpl.wall_size = 256 * kib;
    tmpl.flags = ELASTIC_POOL_F_PROVIDER_HEAP;
    elastic_numa_family *fam = elastic_numa_family_create("telfam", &tmpl);
    tmpl.chunk_size = 64 * kib;
    tmpl.max_buf_size = 64 * kib;
    elastic_numa_family *capfam = elastic_numa_family_create("telcap", &tmpl);
    rte_mempool *mp = make_mempool("tel-mp", 1024, 256, 100, ELASTIC_MEMPOOL_F_MANUAL_TICK, false);
    rte_mempool *mpa = make_mempool("tel-mp-auto", 256, 128, 0, ELASTIC_MEMPOOL_F_NO_PREGROW, true);
    std::vector<void *> mp_objs, mpa_objs;
    const bool mempools_ok = setup_mempools(mp, mpa, mp_objs, mpa_objs);
    if (!mempools_ok)
        std::fprintf(stderr, "could not set the mempools up\n");
    bool refused = false;
    if (a != nullptr && b != nullptr) {
        for (int i = 0; i < 3; i++)
            a_bufs.push_back(elastic_buf_alloc(a, 64 * kib));
        b_buf = elastic_buf_alloc(b, 64 * kib);
        refused = elastic_buf_alloc(b, 64 * kib) == nullptr && rte_errno == ENOBUFS;
    }
    // The node budget counts every pool of both faces on the node: cap it at what they pin
    // now, so that the next growth there (telcap's) is refused.
    int first_node = -1;
    elastic_numa_nodes(&first_node, 1);
    elastic_numa_node_stats ns{};
    const bool cap = elastic_numa_node_stats_get(first_node, &ns) == 0 &&
                     elastic_numa_node_cap_set(first_node, ns.pinned_bytes) == 0;
    void *cap_buf = nullptr;
    elastic_pool *cap_pool = capfam != nullptr ? elastic_numa_pool(capfam, first_node) : nullptr;
    bool cap_refused = !cap;
    if (cap && cap_pool != nullptr) {
        cap_buf = elastic_buf_alloc(cap_pool, 64 * kib); // the base
        cap_refused = elastic_buf_alloc(cap_pool, 64 * kib) == nullptr && rte_errno == ENOBUFS;
    }
    if (a != nullptr && b != nullptr && fam != nullptr && capfam != nullptr && cap_refused &&
        mempools_ok) {
        if (a_bufs[0] && a_bufs[1] && a_bufs[2] && b_buf && refused) {
            std::printf("READY %d cap=%d\n", int(getpid()), cap ? 1 : 0);
            std::fflush(stdout);
            char line[64];
            (void)!std::fgets(line, sizeof(line), stdin);
            rc = 0;
        } else {
            std::fprintf(stderr, "could not set the pools up\n");
        }
    }
    for (void *buf : a_bufs)
        if (buf != nullptr)
            elastic_buf_free(a, buf);
    if (b_buf != nullptr)
        elastic_buf_free(b, b_buf);
    if (cap_buf != nullptr)
        elastic_buf_free(cap_pool, cap_buf);
    elastic_numa_family_free(capfam);
    elastic_numa_family_free(fam);
    elastic_pool_free(b);
    elastic_pool_free(a);
    if (!mp_objs.empty())
        rte_mempool_put_bulk(mp, mp_objs.data(), unsigned(mp_objs.size()));
    if (!mpa_objs.empty())
        rte_mempool_put_bulk(mpa, mpa_objs.data(), unsigned(mpa_objs.size()));
    rte_mempool_free(mpa);
    rte_mempool_free(mp);
    rte_eal_cleanup();
    return rc;
}
