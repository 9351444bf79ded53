/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "elastic" rte_mempool ops: only the table. The pools (store, growth, release,
 * maintenance, telemetry) live in libelasticpool.so, which this driver links (DT_NEEDED, found
 * through a $ORIGIN runpath both in the build tree and installed); loading the driver (EAL -d,
 * LD_PRELOAD, or linking it) registers the ops, as with DPDK's own mempool drivers.
 */
#include <rte_mempool.h>

#include "elastic_mempool.h"

static struct rte_mempool_ops ops_elastic = {
	.name = ELASTIC_MEMPOOL_OPS_NAME,
	.alloc = elastic_mempool_op_alloc,
	.free = elastic_mempool_op_free,
	.enqueue = elastic_mempool_op_enqueue,
	.dequeue = elastic_mempool_op_dequeue,
	.get_count = elastic_mempool_op_get_count,
	.calc_mem_size = elastic_mempool_op_calc_mem_size,
	.populate = elastic_mempool_op_populate,
	.get_info = elastic_mempool_op_get_info,
};

RTE_MEMPOOL_REGISTER_OPS(ops_elastic);
