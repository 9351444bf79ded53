/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * elasticpool — the per-NUMA-node manager.
 *
 * **Topology.** When the EAL runs, the nodes are its sockets (rte_socket_count(),
 * rte_socket_id_by_idx()) and the node of an lcore is rte_lcore_to_socket_id(); hwloc gives each
 * node its cpus and local memory, places PCI devices, and is the whole topology without the EAL.
 * A synthetic hwloc topology (elastic_numa_topology_set()) wins over both: tests and capacity
 * planning on more nodes than the machine has. Node numbers are the kernel's NUMA node numbers,
 * which are DPDK's socket ids.
 *
 * **Families.** The manager keeps **one pool per (consumer, node)**: a *family* of pools made
 * from one template under a name prefix, named `<prefix>@<node>`, each on its node. Two kinds:
 * variable-size pools (elastic_numa_family_create(), elasticpool.h) and elastic mbuf pools
 * (elastic_numa_mempool_family_create(), elastic_mempool.h). A consumer picks its pool by node, by
 * the calling lcore/cpu, by ethdev port or by PCI address, so every buffer it takes is local to
 * where it is used.
 *
 * **Node budgets.** A node-wide cap bounds the bytes pinned by **every** elastic pool on the
 * node together — both faces, in families or not, explicit or drop-in mempools, the base chunks
 * included. A pool's node is its socket_id, or for SOCKET_ID_ANY the node of the lcore (else the
 * cpu) that created it. Growth that would cross the cap is refused like the wall (ENOBUFS; a
 * variable-size request may queue and is served when memory comes back); the pool's stats say
 * ELASTIC_LIMIT_NODE_CAP. With the EAL the budgets live in a memzone ("elastic_node_budgets"):
 * every process of the multi-process group admits against the same numbers, and a cap set in
 * one holds in all. Without the EAL they live in the process. Whichever a process used first it
 * keeps: set caps and create pools after rte_eal_init() to share them.
 *
 * ```
 *   family "rx":   rx@0 (socket 0)   rx@1 (socket 1)   ...   one pool per node
 *   mbufs "pkt":   pkt@0             pkt@1                   one elastic mbuf pool per node
 *   other pools:   foo (socket 0)    drop-in mbuf pool (socket 1)
 *                  \__ node 0 cap __/ \__ node 1 cap __/      bytes pinned by all pools on it
 * ```
 *
 * Telemetry: `/elastic/nodes` (each node's cap, pinned bytes, refusals and pools of both faces)
 * and `/elastic/info,<name>` (a family pool's node and its budget); see docs/operations.md.
 *
 * Error contract as elasticpool.h: NULL + rte_errno, or -errno (rte_errno set).
 *
 * This header is self-contained C11.
 */
#ifndef ELASTIC_NUMA_H
#define ELASTIC_NUMA_H

#include <stddef.h>
#include <stdint.h>

#include "elasticpool.h"

struct rte_mempool;
struct elastic_mempool_params; /* elastic_mempool.h */

#ifdef __cplusplus
extern "C" {
#define ELASTIC_NOEXCEPT noexcept
#else
#define ELASTIC_NOEXCEPT
#endif

/**
 * Longest family prefix (both kinds): room for "@" and a node number of up to 3 digits in a pool
 * name (ELASTIC_POOL_NAMESIZE; mempool names allow more).
 */
#define ELASTIC_NUMA_PREFIXSIZE (ELASTIC_POOL_NAMESIZE - 4)

/** @name Topology
 * @{ */

/**
 * Use a synthetic hwloc topology instead of the machine's (tests, capacity planning), e.g.
 * "pack:2 numa:1 core:2 pu:1" (2 nodes, cpus 0-1 on node 0, 2-3 on node 1). NULL: the machine
 * (the EAL's sockets when it runs). Node caps are kept: they belong to the node numbers.
 * @return 0; -EBUSY while families (of either kind) exist; -EINVAL for a description hwloc
 *   rejects; -ENOMEM; -EIO or -ENODATA when the machine's topology cannot be read.
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

/** @name Families of variable-size pools: one pool per (consumer, node)
 * @{ */

struct elastic_numa_family;

/**
 * Create a family: one pool per node, named "<prefix>@<node>", all from @p tmpl (its name and
 * socket_id are ignored; each pool's socket_id is its node). With the memzone provider, a node
 * the EAL has no memory on (a synthetic topology larger than the machine) gets a pool whose
 * memory comes from SOCKET_ID_ANY; its node budget is still that node's.
 * @return the family, or NULL with rte_errno:
 *   - EINVAL: NULL template, NULL or empty prefix, a prefix with '@', bad template (as
 *     elastic_pool_create())
 *   - ENAMETOOLONG: prefix longer than ELASTIC_NUMA_PREFIXSIZE
 *   - EEXIST: the family or one of its pool names exists
 *   - ENOBUFS: a base chunk would cross its node's cap
 *   - ENOMEM: a base chunk could not be reserved, or no memory for the bookkeeping
 *   - ENOTSUP: the memzone provider was asked for without the EAL
 *   - EIO, ENODATA: the topology cannot be read
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
 * is up and the thread is an lcore; otherwise the node of the cpu it runs on now (sched_getcpu);
 * the family's first node when neither is one of its nodes.
 * @return the pool, or NULL (EINVAL: NULL family).
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

/**
 * The family's pool on the node of a PCI device (see elastic_numa_node_of_pci()); the first
 * node when hwloc cannot place the device.
 * @return the pool, or NULL with rte_errno: EINVAL (NULL argument), ENOENT (unknown device, or
 *   its node has no pool).
 */
struct elastic_pool *elastic_numa_pool_for_pci(const struct elastic_numa_family *fam,
					       const char *busid) ELASTIC_NOEXCEPT;

/** @} */

/** @name Families of elastic mbuf pools: one rte_mempool per (consumer, node)
 * Needs the EAL and the "elastic" ops (the driver loaded, see elastic_mempool.h).
 * @{ */

struct elastic_numa_mempool_family;

/**
 * Create a mempool family: one elastic pktmbuf pool per node, named "<prefix>@<node>", made with
 * elastic_pktmbuf_pool_create(name, @p n_max, @p cache_size, @p priv_size, @p data_room_size,
 * node, @p params) — the same arguments for every node; @p params NULL means the defaults. Each
 * pool's socket_id is its node, its budget that node's. A node the EAL has no memory on (a
 * synthetic topology larger than the machine) gets a pool with SOCKET_ID_ANY memory
 * (rte_mempool.socket_id -1) whose node budget is still that node's.
 * @return the family, or NULL with rte_errno:
 *   - EINVAL: NULL or empty prefix, a prefix with '@', arguments elastic_pktmbuf_pool_create()
 *     refuses (n_max 0 or below the base, cache_size too large, priv_size not aligned, bad params)
 *   - ENAMETOOLONG: prefix longer than ELASTIC_NUMA_PREFIXSIZE
 *   - EEXIST: the family or one of its mempool names exists
 *   - ENOBUFS: a base chunk would cross its node's cap
 *   - ENOMEM: a base chunk or the pool's bookkeeping could not be allocated
 *   - ENOTSUP: the EAL is not initialised, or the "elastic" ops are not registered
 *   - EIO, ENODATA: the topology cannot be read
 */
struct elastic_numa_mempool_family *elastic_numa_mempool_family_create(const char *prefix,
		unsigned n_max, unsigned cache_size, uint16_t priv_size, uint16_t data_room_size,
		const struct elastic_mempool_params *params) ELASTIC_NOEXCEPT;

/**
 * Free the family and all its mempools (rte_mempool_free each: no mbuf of them may be in use
 * any more). NULL is a no-op.
 */
void elastic_numa_mempool_family_free(struct elastic_numa_mempool_family *fam) ELASTIC_NOEXCEPT;

/** @return the mempool family with that prefix, or NULL (rte_errno ENOENT; EINVAL for NULL). */
struct elastic_numa_mempool_family *elastic_numa_mempool_family_lookup(const char *prefix)
	ELASTIC_NOEXCEPT;

/** @return the family's mempool on @p node, or NULL (rte_errno ENOENT: no such node; EINVAL). */
struct rte_mempool *elastic_numa_mempool(const struct elastic_numa_mempool_family *fam,
					 int node) ELASTIC_NOEXCEPT;

/** @return the family's mempool on the node of @p cpu, or NULL (ENOENT, EINVAL). */
struct rte_mempool *elastic_numa_mempool_for_cpu(const struct elastic_numa_mempool_family *fam,
						 unsigned cpu) ELASTIC_NOEXCEPT;

/**
 * The family's mempool for the caller, chosen as elastic_numa_pool_here() chooses.
 * @return the mempool, or NULL (EINVAL: NULL family).
 */
struct rte_mempool *elastic_numa_mempool_here(const struct elastic_numa_mempool_family *fam)
	ELASTIC_NOEXCEPT;

/**
 * The family's mempool for an ethdev port (the pool to give its Rx queues): its node
 * (rte_eth_dev_socket_id); the family's first node when the port reports none (SOCKET_ID_ANY).
 * @return the mempool, or NULL with rte_errno: EINVAL (NULL family, port not valid), ENOENT (the
 *   port's node has no pool), ENOTSUP (EAL not initialised).
 */
struct rte_mempool *elastic_numa_mempool_for_port(const struct elastic_numa_mempool_family *fam,
						  uint16_t port_id) ELASTIC_NOEXCEPT;

/**
 * The family's mempool on the node of a PCI device; the first node when hwloc cannot place it.
 * @return the mempool, or NULL with rte_errno: EINVAL (NULL argument), ENOENT (unknown device,
 *   or its node has no pool).
 */
struct rte_mempool *elastic_numa_mempool_for_pci(const struct elastic_numa_mempool_family *fam,
						 const char *busid) ELASTIC_NOEXCEPT;

/** @} */

/** @name Node caps
 * @{ */

/**
 * Cap the bytes pinned by every elastic pool on @p node together (both faces, in families or
 * not); 0 removes the cap. With the EAL the cap is shared by the processes of the group.
 * Lowering a cap below what is pinned releases nothing; it only refuses growth until enough
 * chunks were released.
 * @return 0, or -ENOENT (no such node, or a node number of RTE_MAX_NUMA_NODES or more);
 *   -EIO, -ENODATA when the topology cannot be read.
 */
int elastic_numa_node_cap_set(int node, uint64_t cap_bytes) ELASTIC_NOEXCEPT;

/** Figures of one node. */
struct elastic_numa_node_stats {
	int node;                /**< node number */
	uint32_t nb_pools;       /**< pools of both faces on it (variable-size pools of this
				      process; elastic mempools of the group) */
	uint64_t cap_bytes;      /**< 0 = no cap */
	uint64_t pinned_bytes;   /**< pinned by every pool on it now (every process of the group
				      with the EAL) */
	uint64_t cap_refusals;   /**< growths (and bases) the cap refused */
	uint64_t local_memory;   /**< node memory, bytes (0 when unknown) */
	uint32_t nb_mempools;    /**< of nb_pools, elastic mempools */
};

/** @return 0, -ENOENT (no such node), -EINVAL (NULL), -ENOMEM. */
int elastic_numa_node_stats_get(int node, struct elastic_numa_node_stats *st) ELASTIC_NOEXCEPT;

/** @} */

#ifdef __cplusplus
}
#endif

#undef ELASTIC_NOEXCEPT

#endif /* ELASTIC_NUMA_H */
