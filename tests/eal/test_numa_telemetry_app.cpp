/* SPDX-License-Identifier: BSD-3-Clause */
// A small DPDK program for the NUMA telemetry test (test_numa_telemetry.sh): it starts the EAL
// with the arguments it is given, makes pools of both faces on the first node and caps that
// node, prints READY and waits for a line on stdin (or EOF, or 60 s), then frees everything.
//
//   ntel-v    variable-size pool, memzone provider, socket = first node, base 64 KiB
//   ntelm@N   a mempool family: one elastic pktmbuf pool per node
//   cap       first node capped at what is pinned there + 64 KiB; a 128 KiB pool is refused
// READY is followed by the first node, the cap and the refusals counted so far.

#include <cinttypes>
#include <cstdio>

#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include <elastic_mempool.h>
#include <elastic_numa.h>
#include <elasticpool.h>

int main(int argc, char **argv)
{
    alarm(60); // never outlives a stuck test
    if (rte_eal_init(argc, argv) < 0) {
        std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    int rc = 1;
    int node = -1;
    elastic_numa_nodes(&node, 1);
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = "ntel-v";
    p.socket_id = node;
    p.base_size = 64 * 1024;
    p.wall_size = 256 * 1024;
    p.flags = ELASTIC_POOL_F_MANUAL_TICK | ELASTIC_POOL_F_PROVIDER_MEMZONE;
    elastic_pool *v = elastic_pool_create(&p);
    elastic_mempool_params mp;
    elastic_mempool_params_init(&mp);
    mp.base_objs = 128;
    mp.chunk_objs = 128;
    mp.flags = ELASTIC_MEMPOOL_F_MANUAL_TICK;
    elastic_numa_mempool_family *fam = elastic_numa_mempool_family_create("ntelm", 512, 0, 0,
                                                                          1024, &mp);
    elastic_numa_node_stats st{};
    elastic_numa_node_stats_get(node, &st);
    const uint64_t cap = st.pinned_bytes + 64 * 1024;
    const bool capped = elastic_numa_node_cap_set(node, cap) == 0;
    elastic_pool_params big = p;
    big.name = "ntel-big";
    big.base_size = 128 * 1024;
    elastic_pool *refused = elastic_pool_create(&big);
    const bool refused_ok = refused == nullptr && rte_errno == ENOBUFS;
    elastic_numa_node_stats_get(node, &st);
    if (v != nullptr && fam != nullptr && capped && refused_ok) {
        std::printf("READY %d node=%d cap=%" PRIu64 " refusals=%" PRIu64 "\n", int(getpid()),
                    node, cap, st.cap_refusals);
        std::fflush(stdout);
        char line[64];
        (void)!std::fgets(line, sizeof(line), stdin);
        rc = 0;
    } else {
        std::fprintf(stderr, "could not set up: pool %p family %p capped %d refused %d (%s)\n",
                     static_cast<void *>(v), static_cast<void *>(fam), capped, refused_ok,
                     rte_strerror(rte_errno));
    }
    elastic_pool_free(refused);
    elastic_numa_node_cap_set(node, 0);
    elastic_numa_mempool_family_free(fam);
    elastic_pool_free(v);
    rte_eal_cleanup();
    return rc;
}
