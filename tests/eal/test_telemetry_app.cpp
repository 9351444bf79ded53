/* SPDX-License-Identifier: BSD-3-Clause */
// A small DPDK program for the telemetry test (test_telemetry.sh): it starts the EAL with the
// arguments it is given, builds pools in a known state, prints READY and waits for a line on
// stdin (or EOF, or 60 s), then frees everything.
//
//   tel-a     base 64 KiB, chunks 64 KiB, wall 320 KiB, manual ticks: 3 buffers of 64 KiB out,
//             so 3 chunks of 65536 bytes with one buffer each
//   tel-b     base = wall = 64 KiB: one buffer out, a second request refused at the wall
//   telfam@N  a per-NUMA family (heap provider), one pool per node, nothing out
//   telcap@N  a second family; when this build can cap nodes, the first node is capped at the
//             two families' bases (128 KiB) and telcap@<first node> is refused a growth
// READY is followed by the pid and "cap=1" when the cap is in force, "cap=0" otherwise.

#include <cstdio>
#include <cstring>
#include <vector>

#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

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
    int first_node = -1;
    elastic_numa_nodes(&first_node, 1);
    const bool cap = elastic_numa_node_cap_set(first_node, 128 * kib) == 0;
    void *cap_buf = nullptr;
    elastic_pool *cap_pool = capfam != nullptr ? elastic_numa_pool(capfam, first_node) : nullptr;
    bool cap_refused = !cap;
    if (cap && cap_pool != nullptr) {
        cap_buf = elastic_buf_alloc(cap_pool, 64 * kib); // the base
        cap_refused = elastic_buf_alloc(cap_pool, 64 * kib) == nullptr && rte_errno == ENOBUFS;
    }
    if (a != nullptr && b != nullptr && fam != nullptr && capfam != nullptr && cap_refused) {
        for (int i = 0; i < 3; i++)
            a_bufs.push_back(elastic_buf_alloc(a, 64 * kib));
        b_buf = elastic_buf_alloc(b, 64 * kib);
        const bool refused = elastic_buf_alloc(b, 64 * kib) == nullptr && rte_errno == ENOBUFS;
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
    rte_eal_cleanup();
    return rc;
}
