/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * elasticpool — fixed-size face: the rte_mempool ops named "elastic".
 *
 * An elastic mempool has the size `n_max` (the wall) as far as DPDK is concerned, but pins only a
 * *base chunk* at creation. When the pool runs dry it adds a *chunk* (one memzone, populated with
 * rte_mempool_populate_iova per IOVA-contiguous run, every object initialised before it is handed
 * out) until `n_max` objects exist. Objects are handed out oldest chunk first, so the newest chunk
 * drains first; a maintenance pass releases the last chunk once it holds nothing, nothing was
 * allocated from it for the idle period and the `headroom_chunks` chunks before it were idle too
 * (the same rule as the variable-size pool, lib/elasticpool/policy.hpp).
 *
 * ```
 *   rte_mempool (size = n_max) ── chunk 0 (base) ── chunk 1 ── ... ── chunk k   (order of addition)
 *        |                          | free stack      | free stack       | free stack
 *        +- per-lcore caches (DPDK) +- memzone: objhdr|mbuf|priv|data room (none crosses a page)
 * ```
 *
 * The pools live in libelasticpool.so; the driver librte_mempool_elastic.so is only the
 * rte_mempool_ops table named "elastic" (registered when the driver is loaded), pointing at the
 * elastic_mempool_op_* functions below. Two ways in:
 * - explicit: elastic_pktmbuf_pool_create() / elastic_mempool_create() with
 *   struct elastic_mempool_params; the driver must be loaded too (link it with --no-as-needed:
 *   pkg-config libelasticpool-mempool; or EAL -d, or LD_PRELOAD), else they fail with ENOTSUP;
 * - drop-in: load librte_mempool_elastic.so (EAL -d, or LD_PRELOAD) and pass
 *   --mbuf-pool-ops-name=elastic. Plain pktmbuf pools become elastic (base and chunk sizes from the
 *   ELASTIC_MEMPOOL_* environment variables, see docs/mempool-driver.md); every other pool using
 *   the ops is populated fully and behaves like a plain locked-stack pool.
 *
 * Error contract: constructors return NULL and set rte_errno; int-returning calls return -errno
 * and set rte_errno.
 *
 * This header is self-contained C11.
 */
#ifndef ELASTIC_MEMPOOL_H
#define ELASTIC_MEMPOOL_H

#include <stdint.h>
#include <sys/types.h> /* ssize_t */

#include <rte_mempool.h>

#include "elasticpool.h"

#ifdef __cplusplus
extern "C" {
#define ELASTIC_MP_NOEXCEPT noexcept
#else
#define ELASTIC_MP_NOEXCEPT
#endif

/** Name of the ops (for rte_mempool_set_ops_byname and --mbuf-pool-ops-name). */
#define ELASTIC_MEMPOOL_OPS_NAME "elastic"

/** @name Flags (elastic_mempool_params.flags)
 * @{ */
/** Never release chunks. */
#define ELASTIC_MEMPOOL_F_NO_SHRINK   (1u << 0)
/** Not a member of the maintenance service: ticks only from elastic_mempool_maintain()/_trim(). */
#define ELASTIC_MEMPOOL_F_MANUAL_TICK (1u << 2)
/** No growth ahead of need from maintenance: only the datapath grows. */
#define ELASTIC_MEMPOOL_F_NO_PREGROW  (1u << 3)
/** The adaptive release and growth-ahead rule (as ELASTIC_POOL_F_ADAPTIVE) instead of the
 *  patent rule; see docs/self-tuning.md. Drop-in pools: ELASTIC_MEMPOOL_ADAPTIVE=1. */
#define ELASTIC_MEMPOOL_F_ADAPTIVE    (1u << 4)
/** No guard for PMDs that snapshot pool memory at queue set-up (docs/mempool-driver.md): the
 *  pool grows and releases whatever uses it. Only for tests that show what the guard prevents.
 *  Drop-in pools: ELASTIC_MEMPOOL_NO_GUARD=1. */
#define ELASTIC_MEMPOOL_F_NO_GUARD    (1u << 5)
/** Per-lcore magazines for a pool without a DPDK cache (cache_size 0): each EAL lcore keeps up
 *  to RTE_MEMPOOL_CACHE_MAX_SIZE free base-chunk objects that its gets and puts use without a
 *  lock (docs/mempool-driver.md). The price: a double put into a magazine is not detected
 *  (nb_double_put counts only those the store sees). Drop-in pools populated in full (which
 *  have no double-put detection) get magazines without asking. */
#define ELASTIC_MEMPOOL_F_LCORE_MAGAZINE (1u << 6)
/** The break-even rule (as ELASTIC_POOL_F_BREAKEVEN; wins over ELASTIC_MEMPOOL_F_ADAPTIVE).
 *  Drop-in pools: ELASTIC_MEMPOOL_BREAKEVEN=1. */
#define ELASTIC_MEMPOOL_F_BREAKEVEN   (1u << 7)
/** @} */

/** Creation parameters. Always start from elastic_mempool_params_init(). */
struct elastic_mempool_params {
	unsigned base_objs;        /**< objects of the base chunk (default 4096, capped at n_max) */
	unsigned chunk_objs;       /**< objects per added chunk (default 2048) */
	uint32_t tick_ms;          /**< tick by the maintenance service (default 500; 0: none) */
	uint32_t sample_period_ms; /**< wall-clock time between release decisions (default 60000) */
	uint32_t idle_period_ms;   /**< no allocation for this long makes a chunk idle (300000) */
	uint32_t headroom_chunks;  /**< idle chunks kept before the released one (default 1) */
	uint32_t flags;            /**< ELASTIC_MEMPOOL_F_* */
	/** maintenance grows one chunk when fewer free objects are left (default chunk_objs / 2;
	 *  0 disables growth ahead of need, like ELASTIC_MEMPOOL_F_NO_PREGROW) */
	unsigned low_watermark;
	elastic_clock_fn *clock;   /**< NULL = monotonic clock; used only in the creating process */
	void *clock_ctx;           /**< passed to clock */
	/** NULL: none. Called for the base too, during creation (a veto fails it with that errno);
	 *  see elastic_chunk_event in elasticpool.h. elastic_mempool_chunk_hook_set() sets one on
	 *  a pool that exists (drop-in pools). */
	elastic_chunk_hook_fn *chunk_hook;
	void *chunk_hook_arg;      /**< passed to chunk_hook */
};

/** Counters that elastic_pool_stats has no field for. */
struct elastic_mempool_xstats {
	uint64_t nb_grow_datapath;    /**< chunks added by a get that found the pool dry */
	uint64_t nb_grow_maintenance; /**< chunks added ahead of need by maintenance */
	uint64_t nb_retire;           /**< chunks put in the retiring state */
	uint64_t nb_unretire;         /**< retiring chunks taken back into service */
	uint64_t grow_ns_max;         /**< slowest growth (reserve + populate + obj_init) */
	uint32_t populated;           /**< objects that exist now (base + chunks) */
	uint32_t free_objs;           /**< objects that can be handed out (store + magazines) */
	uint32_t parked_objs;         /**< objects back in a retiring chunk */
	uint32_t retiring;            /**< 1 when the last chunk is retiring */
	/** 1 once a growth found a port of a PMD family that snapshots pool memory (AF_XDP,
	 *  mlx5, ...; see docs/mempool-driver.md) in the process: every elastic mbuf pool counts
	 *  as used by it; the pool no longer grows nor releases. */
	uint32_t guarded;
	uint16_t guard_port;          /**< the port that set `guarded` (when set) */
	uint64_t nb_hook_veto;        /**< growths the chunk hook refused (= nb_hook_vetoes of
				       *   elastic_pool_stats; not counted in nb_grow_fail) */
	uint64_t nb_double_put;       /**< objects put back while already free (a double put):
	                                   dropped, not handed out twice; logged. Detected for the
	                                   chunks the driver reserves (every chunk of an explicit
	                                   pool, grown chunks of a drop-in pool); a drop-in base
	                                   DPDK populated detects only a put into a full chunk */
	uint32_t magazine_objs;       /**< of free_objs, those in per-lcore magazines (base chunk
				       *   objects of a pool without a DPDK cache) */
	uint64_t nb_grow_busy;        /**< gets that failed because another growth was under way
				       *   (a get never waits for one) */
	uint64_t nb_guard_refusals;   /**< growths the guard refused (`guarded` set; counted
				       *   neither in nb_wall_hits nor in nb_grow_fail) */
};

/** Fill @p p with the defaults. */
void elastic_mempool_params_init(struct elastic_mempool_params *p) ELASTIC_MP_NOEXCEPT;

/**
 * Create an elastic pktmbuf pool: like rte_pktmbuf_pool_create() with @p n_max as n, but only
 * the base chunk is pinned now. @p params NULL means the defaults.
 * @return the pool, or NULL with rte_errno:
 *   - ENOTSUP: the "elastic" ops are not registered (the driver is not loaded)
 *   - EINVAL: n_max 0, n_max below the base, zero base/chunk objects, zero periods, unknown flags,
 *     cache_size above RTE_MEMPOOL_CACHE_MAX_SIZE or above n_max / 1.5, priv_size not aligned,
 *     a name with bytes outside printable ASCII, '"' or '\\', a socket that is neither
 *     SOCKET_ID_ANY nor one of the EAL's
 *   - ENAMETOOLONG: name longer than RTE_MEMPOOL_NAMESIZE - 1
 *   - EEXIST: a mempool of that name exists
 *   - ENOMEM: the base chunk or the pool's bookkeeping could not be allocated
 */
struct rte_mempool *elastic_pktmbuf_pool_create(const char *name, unsigned n_max,
		unsigned cache_size, uint16_t priv_size, uint16_t data_room_size, int socket_id,
		const struct elastic_mempool_params *params) ELASTIC_MP_NOEXCEPT;

/**
 * Create an elastic pool of any objects: mirrors rte_mempool_create() (n = @p n_max) plus the
 * params. @p mp_init runs once; @p obj_init runs on the base chunk's objects now and on every
 * grown chunk's objects before they are handed out. Flags RTE_MEMPOOL_F_SP_PUT/SC_GET are
 * accepted and ignored. Errors as elastic_pktmbuf_pool_create().
 */
struct rte_mempool *elastic_mempool_create(const char *name, unsigned n_max, unsigned elt_size,
		unsigned cache_size, unsigned private_data_size, rte_mempool_ctor_t *mp_init,
		void *mp_init_arg, rte_mempool_obj_cb_t *obj_init, void *obj_init_arg,
		int socket_id, unsigned flags,
		const struct elastic_mempool_params *params) ELASTIC_MP_NOEXCEPT;

/** @return 1 when @p mp uses the elastic ops, 0 otherwise (also for NULL). */
int elastic_mempool_is_elastic(const struct rte_mempool *mp) ELASTIC_MP_NOEXCEPT;

/**
 * Snapshot the counters in the variable-size pool's struct: bytes are chunk bytes (pinned) and
 * object bytes (in use = objects out of the store x object size, header included).
 * @return 0; -EINVAL for NULL arguments or a pool that is not elastic.
 */
int elastic_mempool_stats_get(const struct rte_mempool *mp,
			      struct elastic_pool_stats *st) ELASTIC_MP_NOEXCEPT;

/** Counters beyond elastic_pool_stats. @return 0 or -EINVAL. */
int elastic_mempool_xstats_get(const struct rte_mempool *mp,
			       struct elastic_mempool_xstats *xs) ELASTIC_MP_NOEXCEPT;

/**
 * The sizing report of the pool's demand (as elastic_pool_sizing_get(): bytes are object bytes,
 * header included; the recommended wall is in whole chunks). Demand is sampled at every
 * maintenance tick (the peak since the last one) for the epochs; the peak is exact.
 * @return 0; -EINVAL for NULL arguments or a pool that is not elastic.
 */
int elastic_mempool_sizing_get(const struct rte_mempool *mp,
			       struct elastic_pool_sizing *sz) ELASTIC_MP_NOEXCEPT;

/**
 * Set (or, with @p hook NULL, clear) the pool's chunk hook (see elastic_chunk_event in
 * elasticpool.h). A new hook is first called with ELASTIC_CHUNK_EV_ADD for every chunk the pool
 * holds (a drop-in pool's base: once per memory piece DPDK populated it with), oldest first; its
 * veto there leaves the pool without a hook (the chunks it accepted get ELASTIC_CHUNK_EV_RELEASE
 * first). Only in the process that created the pool.
 * @return 0; -EINVAL for a pool that is not elastic, -EPERM in another process, -EBUSY while
 *   the pool is destroyed, or the hook's veto.
 */
int elastic_mempool_chunk_hook_set(struct rte_mempool *mp, elastic_chunk_hook_fn *hook,
				   void *arg) ELASTIC_MP_NOEXCEPT;

/**
 * One maintenance tick now: complete a pending release (retiring chunk fully back), grow one
 * chunk when the free objects are below the low watermark, and when a sample is due take one
 * release decision (release the last chunk, or make it retiring when objects of it are still out).
 * @return 1 when a chunk was released, 0 when not, -EINVAL for a pool that is not elastic,
 *   -EBUSY while the pool is being destroyed.
 */
int elastic_mempool_maintain(struct rte_mempool *mp) ELASTIC_MP_NOEXCEPT;

/**
 * Release at once every chunk the idle/headroom rule allows, without waiting for a sample; when
 * the rule allows the last chunk but objects of it are still out, it becomes retiring.
 * @return chunks released (>= 0), -EINVAL, -EBUSY as elastic_mempool_maintain().
 */
int elastic_mempool_trim(struct rte_mempool *mp) ELASTIC_MP_NOEXCEPT;

/**
 * Flush the calling lcore's default cache of @p mp back to the store (an elastic-aware lcore
 * calls it when it goes quiet, so its cached objects stop pinning a chunk). For a pool without
 * a DPDK cache, the driver's per-lcore magazine of the lcore goes home instead (it holds only
 * base-chunk objects, which pin nothing; this makes the pool hand out strictly oldest-first
 * again). No-op on a non-EAL thread.
 * @return objects flushed, or -EINVAL.
 */
int elastic_mempool_cache_flush(struct rte_mempool *mp) ELASTIC_MP_NOEXCEPT;

/**
 * @name For the ops driver
 * The callbacks of the rte_mempool_ops named "elastic", one per field of struct rte_mempool_ops
 * with the same contract. Only drivers/mempool/elastic/rte_mempool_elastic.c calls them (through
 * its ops table); an application never does.
 * @{
 */
/** rte_mempool_ops.alloc: the pool's state; registers the mempool event callback once. */
int elastic_mempool_op_alloc(struct rte_mempool *mp) ELASTIC_MP_NOEXCEPT;
/** rte_mempool_ops.free: releases the state and the added chunks. */
void elastic_mempool_op_free(struct rte_mempool *mp) ELASTIC_MP_NOEXCEPT;
/** rte_mempool_ops.enqueue: objects back to their chunks' stacks. */
int elastic_mempool_op_enqueue(struct rte_mempool *mp, void *const *obj_table,
			       unsigned n) ELASTIC_MP_NOEXCEPT;
/** rte_mempool_ops.dequeue: oldest chunk first; grows a chunk when the pool runs dry. */
int elastic_mempool_op_dequeue(struct rte_mempool *mp, void **obj_table,
			       unsigned n) ELASTIC_MP_NOEXCEPT;
/** rte_mempool_ops.get_count: free objects + objects not populated yet. */
unsigned elastic_mempool_op_get_count(const struct rte_mempool *mp) ELASTIC_MP_NOEXCEPT;
/** rte_mempool_ops.calc_mem_size: the base only for lazy (plain pktmbuf) pools. */
ssize_t elastic_mempool_op_calc_mem_size(const struct rte_mempool *mp, uint32_t obj_num,
		uint32_t pg_shift, size_t *min_chunk_size, size_t *align) ELASTIC_MP_NOEXCEPT;
/** rte_mempool_ops.populate: stages the objects, runs obj_init, then publishes them. */
int elastic_mempool_op_populate(struct rte_mempool *mp, unsigned max_objs, void *vaddr,
		rte_iova_t iova, size_t len, rte_mempool_populate_obj_cb_t *obj_cb,
		void *obj_cb_arg) ELASTIC_MP_NOEXCEPT;
/** rte_mempool_ops.get_info: no contiguous blocks. */
int elastic_mempool_op_get_info(const struct rte_mempool *mp,
				struct rte_mempool_info *info) ELASTIC_MP_NOEXCEPT;
/** @} */

#ifdef __cplusplus
}
#endif

#undef ELASTIC_MP_NOEXCEPT

#endif /* ELASTIC_MEMPOOL_H */
