/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * elasticpool — the per-NUMA-node manager.
 *
 * The manager reads the machine's topology with hwloc (NUMA nodes, their cpus and local memory,
 * the node each PCI device sits on) and keeps **one pool per (consumer, node)**: a *family* of
 * pools created from one template under a name prefix, named `<prefix>@<node>` (node = the
 * kernel's NUMA node number, which is DPDK's socket id), each with socket_id = its node. A
 * consumer picks its pool by node, by the calling lcore/cpu, by ethdev port or by PCI address,
 * so every buffer it takes is local to where it is used.
 *
 * A **node-wide cap** bounds the bytes pinned by all the manager's pools on one node together
 * (every family). Growth that would cross it is refused like the wall (ENOBUFS, requests may
 * queue and are served when memory comes back); telemetry (`/elastic/info`) says `node_cap` as
 * the limit hit.
 *
 * ```
 *   family "rx":   rx@0 (socket 0)   rx@1 (socket 1)   ...   one elastic pool per node
 *   family "tx":   tx@0              tx@1
 *                  \__ node 0 cap __/ \__ node 1 cap __/      pinned bytes of all pools on it
 * ```
 *
 * Error contract as elasticpool.h: NULL + rte_errno, or -errno (rte_errno set).
 */
#ifndef ELASTIC_NUMA_H
#define ELASTIC_NUMA_H

#include <stddef.h>
#include <stdint.h>

#include "elasticpool.h"

#ifdef __cplusplus
extern "C" {
#define ELASTIC_NOEXCEPT noexcept
#else
#define ELASTIC_NOEXCEPT
#endif

/** Longest family prefix: room for "@" and a node number of up to 3 digits in a pool name. */
#define ELASTIC_NUMA_PREFIXSIZE (ELASTIC_POOL_NAMESIZE - 4)

/** @name Topology
 * @{ */

/**
 * Use a synthetic hwloc topology instead of the machine's (tests, capacity planning), e.g.
 * "pack:2 numa:1 core:2 pu:1" (2 nodes, cpus 0-1 on node 0, 2-3 on node 1). NULL: the machine.
 * @return 0; -EBUSY while families exist; -EINVAL for a description hwloc rejects.
 */
int elastic_numa_topology_set(const char *synthetic) ELASTIC_NOEXCEPT;

/** @return the number of NUMA nodes (>= 1), or -errno when the topology cannot be read. */
int elastic_numa_node_count(void) ELASTIC_NOEXCEPT;

/**
 * Node numbers, ascending (they need not be 0..n-1).
 * @return the number of nodes (may exceed @p n; only @p n are written), or -errno.
 */
int elastic_numa_nodes(int *nodes, unsigned n) ELASTIC_NOEXCEPT;

/** Cpus of a node (ascending). @return their count (may exceed @p n), -ENOENT: no such node. */
int elastic_numa_node_cpus(int node, unsigned *cpus, unsigned n) ELASTIC_NOEXCEPT;

/** @return the node's local memory in bytes (0 when unknown), 0 with rte_errno ENOENT. */
uint64_t elastic_numa_node_memory(int node) ELASTIC_NOEXCEPT;

/** @return the node of a cpu, or -ENOENT. */
int elastic_numa_node_of_cpu(unsigned cpu) ELASTIC_NOEXCEPT;

/**
 * Node a PCI device is attached to, from hwloc's I/O discovery.
 * @param busid "dddd:bb:dd.f" or "bb:dd.f"
 * @return the node; -ENOENT when the device is unknown; -ENODATA when hwloc cannot place it
 *   (no locality information: a caller would then use any node).
 */
int elastic_numa_node_of_pci(const char *busid) ELASTIC_NOEXCEPT;

/** @} */

/** @name Families: one pool per (consumer, node)
 * @{ */

struct elastic_numa_family;

/**
 * Create a family: one pool per node, named "<prefix>@<node>", all from @p tmpl (its name and
 * socket_id are ignored). The base chunks are admitted by the node caps.
 * @return the family, or NULL with rte_errno: EINVAL (NULL or empty prefix, bad template — as
 *   elastic_pool_create), ENAMETOOLONG (prefix longer than ELASTIC_NUMA_PREFIXSIZE), EEXIST
 *   (family or one of its pool names exists), ENOBUFS (a base chunk would cross its node's cap),
 *   ENOMEM.
 */
struct elastic_numa_family *elastic_numa_family_create(const char *prefix,
		const struct elastic_pool_params *tmpl) ELASTIC_NOEXCEPT;

/** Free the family and all its pools (as elastic_pool_free each). NULL is a no-op. */
void elastic_numa_family_free(struct elastic_numa_family *fam) ELASTIC_NOEXCEPT;

/** @return the family with that prefix, or NULL (rte_errno ENOENT; EINVAL for NULL). */
struct elastic_numa_family *elastic_numa_family_lookup(const char *prefix) ELASTIC_NOEXCEPT;

/** @return the family's pool on @p node, or NULL (rte_errno ENOENT: no such node; EINVAL). */
struct elastic_pool *elastic_numa_pool(const struct elastic_numa_family *fam,
				       int node) ELASTIC_NOEXCEPT;

/** @return the family's pool on the node of @p cpu, or NULL (ENOENT, EINVAL). */
struct elastic_pool *elastic_numa_pool_for_cpu(const struct elastic_numa_family *fam,
					       unsigned cpu) ELASTIC_NOEXCEPT;

/**
 * The family's pool for the caller: the node of the calling lcore (rte_socket_id()) when the EAL
 * is up and the thread is an lcore; otherwise the node of the cpu it runs on now (sched_getcpu).
 * @return the pool, or NULL (EINVAL).
 */
struct elastic_pool *elastic_numa_pool_here(const struct elastic_numa_family *fam)
	ELASTIC_NOEXCEPT;

/**
 * The family's pool for an ethdev port: its node (rte_eth_dev_socket_id); the family's first
 * node when the port reports none (SOCKET_ID_ANY, e.g. virtual devices).
 * @return the pool, or NULL with rte_errno: EINVAL (NULL family, port not valid), ENOENT (the
 *   port's node has no pool: topology and EAL disagree), ENOTSUP (EAL not initialised).
 */
struct elastic_pool *elastic_numa_pool_for_port(const struct elastic_numa_family *fam,
						uint16_t port_id) ELASTIC_NOEXCEPT;

/** The family's pool on the node of a PCI device (see elastic_numa_node_of_pci()). */
struct elastic_pool *elastic_numa_pool_for_pci(const struct elastic_numa_family *fam,
					       const char *busid) ELASTIC_NOEXCEPT;

/** @} */

/** @name Node caps
 * @{ */

/**
 * Cap the bytes pinned by all the manager's pools on @p node together; 0 removes the cap.
 * Lowering a cap below what is pinned releases nothing; it only refuses growth until enough
 * chunks were released.
 * @return 0, or -ENOENT (no such node).
 */
int elastic_numa_node_cap_set(int node, uint64_t cap_bytes) ELASTIC_NOEXCEPT;

/** Figures of one node. */
struct elastic_numa_node_stats {
	int node;                /**< node number */
	uint32_t nb_pools;       /**< manager's pools on it */
	uint64_t cap_bytes;      /**< 0 = no cap */
	uint64_t pinned_bytes;   /**< pinned by the manager's pools on it now */
	uint64_t cap_refusals;   /**< growths (and bases) the cap refused */
	uint64_t local_memory;   /**< node memory, bytes (0 when unknown) */
};

/** @return 0, -ENOENT (no such node), -EINVAL (NULL). */
int elastic_numa_node_stats_get(int node, struct elastic_numa_node_stats *st) ELASTIC_NOEXCEPT;

/** @} */

#ifdef __cplusplus
}
#endif

#undef ELASTIC_NOEXCEPT

#endif /* ELASTIC_NUMA_H */
