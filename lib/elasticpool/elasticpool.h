/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * elasticpool — self-tuning pinned buffer pools, variable-size face.
 *
 * A pool reserves a *base chunk* at creation. When no chunk can serve a request it adds an
 * *additional chunk* (all of `chunk_size`, separate reservations, kept in order of addition) until
 * the *wall* is reached. Requests are served first-fit from the chunks in the order they were added
 * (base first), so the newest chunk drains first. At the wall requests queue FIFO; a free serves
 * the waiters first. A periodic maintenance pass releases the *last* chunk when it holds nothing,
 * nothing was allocated from it for the idle period, and the `headroom_chunks` chunks before it were
 * idle too.
 *
 * ```
 *   pool ── chunk 0 (base) ── chunk 1 ── chunk 2 ── ... ── chunk n   (order of addition)
 *            |  buddy heap: 4 KiB x 2^k blocks, split/coalesce, metadata outside the chunk
 *            +- pinned: memzone (EAL) | hugetlb+mlock+mbind | heap (tests)
 * ```
 *
 * Buffers are 4 KiB x 2^k bytes (requests rounded up to the next class), aligned to 4 KiB (in fact
 * to their own class size relative to the chunk start; memzone chunks start on a hugepage boundary,
 * so a buffer no larger than a hugepage is IOVA-contiguous).
 *
 * Error contract: constructors return NULL and set rte_errno; int-returning calls return -errno
 * and set rte_errno. Every call is thread-safe and never throws.
 *
 * Blocking: every call on a pool takes that pool's lock (a mutex, held for the bookkeeping only).
 * Only elastic_buf_alloc_timeout() waits for memory to be freed. A call that grows the pool
 * (elastic_buf_alloc(), elastic_buf_alloc_async(), elastic_pool_maintain()) reserves the chunk
 * from its provider under the lock: a memzone or a hugetlb mmap + mlock, which can take
 * milliseconds and holds up the pool's other callers meanwhile.
 *
 * This header is self-contained C11.
 */
#ifndef ELASTICPOOL_H
#define ELASTICPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_memory.h>

#ifdef __cplusplus
extern "C" {
#define ELASTIC_NOEXCEPT noexcept
#else
#define ELASTIC_NOEXCEPT
#endif

/** Longest pool name, without the terminating NUL. */
#define ELASTIC_POOL_NAMESIZE 24
/** Largest base or chunk size (bytes) a pool accepts; larger is EINVAL (the default chunk,
 *  wall_size / 8, included: give a chunk_size with a huge wall). */
#define ELASTIC_POOL_MAX_CHUNK_SIZE ((size_t)1 << 40)

/** Smallest buffer class: 4 KiB. */
#define ELASTIC_BUF_MIN_SIZE 4096u

/** @name Pool flags (elastic_pool_params.flags)
 * @{ */
/** Never release chunks (the maintenance still samples; trim does nothing). */
#define ELASTIC_POOL_F_NO_SHRINK      (1u << 0)
/**
 * Adaptive policy (statistics of demand) instead of the patent's fixed rule: at each sample every
 * empty trailing chunk not needed by the peak demand of the hold window (the idle period, scaled
 * 1/2x..4x by burst recurrence) is released; ticks grow a chunk ahead of a rising demand.
 */
#define ELASTIC_POOL_F_ADAPTIVE       (1u << 1)
/** No automatic ticks: maintenance runs only from elastic_pool_maintain()/elastic_pool_trim(). */
#define ELASTIC_POOL_F_MANUAL_TICK    (1u << 2)
/**
 * Break-even policy (rent or buy; wins over ELASTIC_POOL_F_ADAPTIVE): each trailing chunk that
 * demand (plus the growth-ahead reserve) stopped needing is released after a random time drawn
 * from the ski-rental distribution on [0, idle period] (mean 0.58 x the idle period), which
 * bounds its expected pinned byte-seconds plus regrowths, priced at one idle period of the chunk,
 * by e/(e-1) x the offline optimum's; while demand rises, maintenance keeps free room for the
 * largest rise between two ticks seen in the last idle period. docs/self-tuning.md §7.
 */
#define ELASTIC_POOL_F_BREAKEVEN      (1u << 3)
/** Chunk provider: DPDK memzones (the default when the EAL is initialised). */
#define ELASTIC_POOL_F_PROVIDER_MEMZONE (1u << 8)
/** Chunk provider: hugetlb mmap (4 KiB pages if none), mlock, mbind (default without EAL). */
#define ELASTIC_POOL_F_PROVIDER_HUGETLB (1u << 9)
/** Chunk provider: ordinary heap pages, not pinned (unit tests, trace replay). */
#define ELASTIC_POOL_F_PROVIDER_HEAP  (1u << 10)
/** Mask of the provider bits: at most one may be set. */
#define ELASTIC_POOL_F_PROVIDER_MASK  (7u << 8)
/** @} */

/**
 * Clock used for ticks, samples and idle times: nanoseconds, monotonic. NULL in the params means
 * CLOCK_MONOTONIC_COARSE (a few ns to read, a few ms of resolution: plenty for periods of
 * seconds and minutes). A program that replays a trace, or a test, passes its own.
 */
typedef uint64_t elastic_clock_fn(void *ctx);

/** @name Per-chunk hooks (both faces: elastic_pool_params and elastic_mempool_params)
 * A chunk hook sees every chunk of a pool twice: once its memory is reserved and before any of
 * its buffers or objects can be handed out (ELASTIC_CHUNK_EV_ADD), and once all of them are home
 * and before its memory is freed (ELASTIC_CHUNK_EV_RELEASE). An application uses it to
 * rte_dev_dma_map() the memory, register it with a NIC or an RDMA stack, or refuse a growth.
 * The hook runs under the pool's growth lock, in the thread that grows or releases (a datapath
 * lcore, the maintenance service, or the caller of trim/free): it must not call into the same
 * pool. It is a function pointer of the creating process: a pool with a hook grows and releases
 * only in that process.
 * @{ */
/** What happens to the chunk. */
enum elastic_chunk_event {
	/** Reserved, nothing of it handed out yet. Return 0 to accept it, or a negative errno to
	 *  veto the growth: the memory is freed, the growth fails with that errno (and the request
	 *  that needed it fails as at the wall); a vetoed base fails the pool's creation. */
	ELASTIC_CHUNK_EV_ADD = 1,
	/** All of it is home; its memory is freed when the hook returns (its result is ignored).
	 *  Also for every chunk still held when the pool is destroyed. */
	ELASTIC_CHUNK_EV_RELEASE = 2,
};

/** One chunk's memory as a hook sees it. */
struct elastic_chunk_info {
	void *addr;                   /**< first byte (buffers/objects lie in [addr, addr + len)) */
	size_t len;                   /**< bytes */
	rte_iova_t iova;              /**< IOVA of addr, RTE_BAD_IOVA without one (hugetlb, heap) */
	size_t page_size;             /**< page size backing it (IOVA-contiguous per page) */
	uint64_t pinned_bytes;        /**< whole pages it holds (what pinned_bytes counts) */
	uint32_t index;               /**< position in the order of addition (0: the base) */
	uint32_t objs;                /**< objects in it (mempools), 0 for variable-size pools */
	int socket_id;                /**< NUMA node of the memory */
	const struct rte_memzone *mz; /**< its memzone, or NULL (hugetlb/heap provider, memory of
	                               *   a drop-in mempool's base that DPDK reserved) */
};

/**
 * A chunk hook. @p pool is the `struct elastic_pool *` or the `struct rte_mempool *` the chunk
 * belongs to. @return 0, or (for ELASTIC_CHUNK_EV_ADD) a negative errno to refuse the chunk.
 */
typedef int elastic_chunk_hook_fn(void *pool, enum elastic_chunk_event ev,
				  const struct elastic_chunk_info *info, void *arg);
/** @} */

/** Creation parameters. Always start from elastic_pool_params_init(). */
struct elastic_pool_params {
	const char *name;          /**< unique, 1..ELASTIC_POOL_NAMESIZE characters, printable
	                                ASCII without '"' and '\\' (telemetry shows it in JSON) */
	int socket_id;             /**< NUMA node of the chunks, or SOCKET_ID_ANY (-1) */
	size_t base_size;          /**< base chunk bytes (rounded up to 4 KiB; with the hugetlb
	                                provider to whole hugepages); > 0 */
	size_t chunk_size;         /**< additional chunk bytes (rounded as base_size); 0 = wall / 8 */
	size_t wall_size;          /**< most bytes ever pinned (base + chunks); >= base_size */
	size_t max_buf_size;       /**< largest request; 0 = min(1 MiB, largest block of a chunk) */
	uint32_t tick_ms;          /**< automatic maintenance tick (default 500) */
	uint32_t sample_period_ms; /**< wall-clock time between release decisions (default 60000) */
	uint32_t idle_period_ms;   /**< no allocation for this long makes a chunk idle (300000) */
	uint32_t headroom_chunks;  /**< idle chunks kept before the released one (default 1) */
	uint32_t flags;            /**< ELASTIC_POOL_F_* */
	elastic_clock_fn *clock;   /**< NULL = CLOCK_MONOTONIC_COARSE */
	void *clock_ctx;           /**< passed to clock */
	elastic_chunk_hook_fn *chunk_hook; /**< NULL: none; see elastic_chunk_event */
	void *chunk_hook_arg;      /**< passed to chunk_hook */
};

/** The limits that can stop a growth (elastic_pool_stats.last_limit). */
enum elastic_pool_limit {
	ELASTIC_LIMIT_NONE = 0,     /**< no growth was ever stopped */
	ELASTIC_LIMIT_WALL = 1,     /**< the pool's wall */
	ELASTIC_LIMIT_NODE_CAP = 2, /**< the per-NUMA-node cap (elastic_numa.h) */
	ELASTIC_LIMIT_PROVIDER = 3, /**< the provider refused a reservation (hugepages exhausted) */
	ELASTIC_LIMIT_HOOK = 4,     /**< the chunk hook vetoed the chunk (nb_hook_vetoes) */
	/** the guard: a PMD that snapshots pool memory uses the mempool (elastic_mempool.h,
	 *  elastic_mempool_xstats.nb_guard_refusals) */
	ELASTIC_LIMIT_GUARD = 5,
};

/** Counters of one pool; a consistent snapshot taken under the pool's lock. */
struct elastic_pool_stats {
	/** base_size + chunk_size per chunk held beyond the base. With the memzone provider a
	 *  chunk whose size is whole hugepages maps exactly those pages (the memzone is the pages
	 *  less its malloc header, whose 4 KiB page is not handed out: such a chunk's largest
	 *  buffer is half a power-of-two chunk), so this is the hugepages the pool holds. Memzone
	 *  chunks smaller than a hugepage lie inside one page, aligned to their size, packed into
	 *  pages DPDK's heap shares with the process's other memory: their bytes are counted (no
	 *  pool holds such a page alone). Memzone chunks above a hugepage that are not whole pages
	 *  may map up to two pages more than counted. The hugetlb provider's sizes are whole
	 *  hugepages (base_size/chunk_size are rounded up): exactly what it maps. Elastic mempools
	 *  always count whole pages. See docs/mempool-driver.md, "Pinned bytes are pages". */
	uint64_t pinned_bytes;
	uint64_t in_use_bytes;      /**< bytes handed out (rounded classes) */
	uint64_t peak_in_use_bytes; /**< highest in_use_bytes seen */
	uint64_t peak_pinned_bytes; /**< highest pinned_bytes seen */
	uint64_t nb_grows;          /**< chunks added (the base chunk not counted) */
	uint64_t nb_grows_ahead;    /**< of nb_grows, those made by maintenance ahead of need */
	uint64_t nb_shrinks;        /**< chunks released */
	uint64_t nb_alloc_fail;     /**< requests refused with ENOBUFS/ENOMEM */
	uint64_t nb_allocs;         /**< buffers handed out (directly or to waiters) */
	uint64_t nb_frees;          /**< buffers given back */
	uint64_t nb_queued;         /**< requests that had to wait */
	uint64_t nb_grow_fail;      /**< chunk reservations the provider refused (not counted:
	                                 vetoes of the chunk hook, refusals of the guard) */
	uint64_t nb_wall_hits;      /**< growths the wall stopped (a request then failed or queued;
	                                 not counted: refusals of the mempool guard) */
	uint64_t nb_cap_hits;       /**< growths the node cap stopped */
	uint64_t grow_ns_total;     /**< time spent reserving chunks */
	uint64_t nb_samples;        /**< release decisions taken */
	uint32_t nb_chunks;         /**< chunks held, the base included */
	uint32_t nb_waiters;        /**< requests queued now */
	uint32_t last_limit;        /**< enum elastic_pool_limit: what stopped the last refused growth */
	int32_t node;               /**< NUMA node whose budget the pool's growth is admitted by */
	size_t base_size;           /**< effective (rounded) base chunk size */
	size_t chunk_size;          /**< effective (rounded) additional chunk size */
	size_t wall_size;           /**< the wall */
	size_t max_buf_size;        /**< largest class served */
	uint64_t nb_hook_vetoes;    /**< chunks the chunk hook refused (ELASTIC_LIMIT_HOOK) */
};

/**
 * Sizing report: what the demand seen so far says a deployment needs. Demand is tracked as the
 * peak in-use bytes of each sample period (the last 64 are kept).
 */
struct elastic_pool_sizing {
	uint64_t peak_in_use_bytes;  /**< highest in-use bytes ever */
	uint64_t peak_demand_bytes;  /**< highest in use + queued requests ever (>= the above) */
	uint64_t window_peak_bytes;  /**< highest demand within the last idle period */
	uint64_t floor_demand_bytes; /**< lowest per-period peak kept: demand always present */
	uint64_t recommended_base;   /**< floor demand, in whole 2 MiB hugepages (at least one) */
	uint64_t recommended_wall;   /**< peak demand x 1.25, in whole chunks above the base */
	uint64_t static_bytes;       /**< what a static pool sized for the peak would pin */
	uint32_t hugepages_2m;       /**< static_bytes in 2 MiB hugepages */
	uint32_t socket_mem_mb;      /**< static_bytes as an EAL --socket-mem figure (MiB) */
	uint32_t epochs;             /**< sample periods observed (closed) */
};

/** Fill @p p with defaults (see the field comments); name NULL, sizes 0, socket SOCKET_ID_ANY. */
void elastic_pool_params_init(struct elastic_pool_params *p) ELASTIC_NOEXCEPT;

/**
 * Create a pool and reserve its base chunk.
 * @return the pool, or NULL with rte_errno set:
 *   - EINVAL: NULL params, bad name (empty, or bytes outside printable ASCII, '"' or '\\'), zero
 *     base or wall, wall < base (rounded: hugetlb bases are whole hugepages), base or chunk (wall / 8 by default) above
 *     ELASTIC_POOL_MAX_CHUNK_SIZE, max_buf_size larger than any chunk, zero periods, more than one
 *     provider flag, unknown flags, a socket that is neither SOCKET_ID_ANY nor a node (of the EAL
 *     when it runs)
 *   - ENAMETOOLONG: name longer than ELASTIC_POOL_NAMESIZE
 *   - EEXIST: a pool of that name exists
 *   - ENOMEM: the base chunk could not be reserved
 *   - ENOTSUP: the memzone provider was asked for but the EAL is not initialised
 */
struct elastic_pool *elastic_pool_create(const struct elastic_pool_params *p) ELASTIC_NOEXCEPT;

/**
 * Destroy a pool and release every chunk. Buffers still out are logged (one line each, up to 16,
 * then a count) and their memory is released with the pool: the caller must not touch them again.
 * What refers to the pool:
 *   - requests queued by elastic_buf_alloc_async() are dropped: their callbacks never run (logged);
 *   - threads waiting in elastic_buf_alloc_timeout() return at once, NULL with ECANCELED; this call
 *     returns only after every such thread, and every call running the pool's callbacks, has left
 *     the pool;
 *   - called from one of the pool's own callbacks, it returns at once; the callbacks of requests
 *     served by the same call but not yet called back are dropped, and the pool is deleted when
 *     the call that runs its callbacks returns (to its caller: no use of the pool after that);
 *   - a pool of a NUMA family leaves its family: lookups for its node give ENOENT, and
 *     elastic_numa_family_free() does not free it again.
 * Any other call on the pool concurrent with or after this one is undefined. NULL is a no-op.
 */
void elastic_pool_free(struct elastic_pool *pool) ELASTIC_NOEXCEPT;

/** @return the pool of that name, or NULL with rte_errno = ENOENT (EINVAL for NULL). */
struct elastic_pool *elastic_pool_lookup(const char *name) ELASTIC_NOEXCEPT;

/** @return the pool's name (NULL for a NULL pool). */
const char *elastic_pool_name(const struct elastic_pool *pool) ELASTIC_NOEXCEPT;

/**
 * Allocate a buffer of at least @p size bytes. Never waits for memory to be freed (a request that
 * cannot be served fails); it takes the pool lock and, when no chunk can serve the request and the
 * wall allows, reserves a new chunk from the provider first (see "Blocking" above).
 * @return the buffer (4 KiB-aligned), or NULL with rte_errno:
 *   - EINVAL: NULL pool, size 0 or size > max_buf_size
 *   - ENOBUFS: the wall is reached and nothing fits, or other requests are waiting
 *   - ENOMEM: a chunk was needed and the provider could not reserve one
 */
void *elastic_buf_alloc(struct elastic_pool *pool, size_t size) ELASTIC_NOEXCEPT;

/** Callback of an asynchronous allocation: runs exactly once with the buffer. */
typedef void elastic_buf_cb_t(struct elastic_pool *pool, void *buf, void *arg);

/**
 * Allocate, or queue the request FIFO when it cannot be served now.
 * The callback runs exactly once: inside this call when memory is there (growing the pool when
 * the wall allows), otherwise from the elastic_buf_free(), elastic_buf_alloc_cancel() or
 * maintenance tick that makes room (every tick retries a growth the provider refused),
 * strictly in FIFO order — a later request never overtakes an earlier one. Callbacks run without the pool lock held; they may
 * allocate and free.
 * A request larger than chunk_size, in a pool that can grow, can only ever be held by the base:
 * when the base has no room for it now, it is refused (-ENOBUFS), never queued, since queued it
 * could wait for ever and hold up every request behind it.
 * @return 0 when accepted; -EINVAL (NULL pool or cb, size 0 or > max_buf_size);
 *   -EEXIST when the same (cb, arg) pair is already waiting (it names the waiter for cancel);
 *   -ENOBUFS for a request larger than chunk_size that the base cannot hold now (see above);
 *   -ENOMEM when the queue cannot grow.
 */
int elastic_buf_alloc_async(struct elastic_pool *pool, size_t size, elastic_buf_cb_t *cb,
			    void *arg) ELASTIC_NOEXCEPT;

/**
 * Cancel a queued request identified by its (cb, arg) pair. The callback will not run. When the
 * cancelled request was the head of the queue, the requests behind it that fit now are served
 * before this returns (their callbacks run in this call).
 * @return 0 when removed; -ENOENT when no such request waits (it may have been served already,
 *   in which case its callback has run or is running); -EINVAL for NULL pool or cb.
 */
int elastic_buf_alloc_cancel(struct elastic_pool *pool, elastic_buf_cb_t *cb,
			     void *arg) ELASTIC_NOEXCEPT;

/**
 * Allocate, waiting in the FIFO for at most @p timeout_ms milliseconds (real time) when memory is
 * not there. For ordinary threads, never for a datapath lcore.
 * @return the buffer, or NULL with rte_errno: EINVAL as elastic_buf_alloc(); ETIMEDOUT when the
 *   time ran out (the request is withdrawn from the queue); ENOBUFS as elastic_buf_alloc_async();
 *   ECANCELED when the pool was freed while this call waited.
 */
void *elastic_buf_alloc_timeout(struct elastic_pool *pool, size_t size,
				uint32_t timeout_ms) ELASTIC_NOEXCEPT;

/**
 * Give a buffer back. Serves waiters first (their callbacks run before this returns).
 * @return 0, or -EINVAL for a NULL pool, a pointer the pool did not hand out (including one inside
 *   a buffer) or a buffer already freed; nothing is changed then.
 */
int elastic_buf_free(struct elastic_pool *pool, void *buf) ELASTIC_NOEXCEPT;

/** @return the class size of a buffer handed out, or 0 (rte_errno = EINVAL) for anything else. */
size_t elastic_buf_size(const struct elastic_pool *pool, const void *buf) ELASTIC_NOEXCEPT;

/**
 * @return the IOVA (DMA address) of @p buf, which may point anywhere inside a buffer handed out;
 *   RTE_BAD_IOVA (rte_errno = EINVAL) for anything else, or when the provider has no IOVA
 *   (hugetlb and heap providers without the EAL: rte_errno = ENOTSUP).
 */
rte_iova_t elastic_buf_iova(const struct elastic_pool *pool, const void *buf) ELASTIC_NOEXCEPT;

/**
 * One maintenance tick now, in addition to any automatic ones, in the calling thread. Under the
 * pool lock it: retries the growth a waiting request needs (the provider refused it before) and
 * serves the waiters that fit; in adaptive mode grows ahead of a rising demand; and, when
 * sample_period_ms of clock time has passed since the last sample, takes a release decision (the
 * patent rule releases at most one chunk; the adaptive policy every surplus chunk). So it may
 * reserve chunks (a memzone or mmap + mlock: milliseconds) while holding the lock. Then, with the
 * lock released, it runs the callbacks of the waiters it served and gives the released chunks'
 * memory back. Not for a datapath loop that must not stall: leave it to the maintenance service.
 * @return the number of chunks released (0 or 1 with the patent rule), -EINVAL for a NULL pool.
 */
int elastic_pool_maintain(struct elastic_pool *pool) ELASTIC_NOEXCEPT;

/**
 * Release at once every chunk the idle/headroom rule allows, without waiting for a sample.
 * @return the number of chunks released (>= 0), -EINVAL for a NULL pool.
 */
int elastic_pool_trim(struct elastic_pool *pool) ELASTIC_NOEXCEPT;

/** Snapshot the counters. @return 0, or -EINVAL for NULL arguments. */
int elastic_pool_stats_get(const struct elastic_pool *pool,
			   struct elastic_pool_stats *st) ELASTIC_NOEXCEPT;

/** Sizing report of a pool (see struct elastic_pool_sizing). @return 0, or -EINVAL. */
int elastic_pool_sizing_get(const struct elastic_pool *pool,
			    struct elastic_pool_sizing *sz) ELASTIC_NOEXCEPT;

/**
 * Run one maintenance pass now from the calling thread: every pool with automatic ticks (no
 * ELASTIC_POOL_F_MANUAL_TICK) whose tick_ms has run out since its last tick gets one tick.
 *
 * For applications that drive maintenance from their own loop: set ELASTIC_MAINTENANCE=manual in
 * the environment (read when the first pool is created) so that nothing else drives it, and call
 * this at least every tick_ms. Without it the passes run on a DPDK service lcore (a service
 * component named "elastic_maintenance"), from an EAL alarm when there is no service lcore, or
 * from a thread without the EAL; calling this as well is harmless (a pool is never ticked more
 * often than its tick_ms). It never waits for memory to be freed, but it waits for a pass already
 * running in another thread to finish, and each tick is an elastic_pool_maintain() of one pool:
 * that pool's lock, possibly a chunk reservation, waiter callbacks run in this thread.
 * @return the number of pools ticked (>= 0); -EDEADLK (rte_errno set) when called from inside a
 *   maintenance tick (an allocation callback run by one).
 */
int elastic_maintenance_run(void) ELASTIC_NOEXCEPT;

/**
 * Memory pressure callback: return nonzero when the node is short of memory. Called from
 * maintenance, at every tick of every pool (both faces) with the pool's NUMA node; it must not
 * block or call into the pool.
 */
typedef int (*elastic_memory_pressure_fn)(int node, void *ctx);

/**
 * Set (or, with NULL, remove) the process-wide memory-pressure callback. Under pressure,
 * maintenance releases at once every empty trailing chunk of every pool on that node, whatever
 * its idle time, as long as headroom_chunks chunks' worth of free room stays (and never the
 * base); chunks with buffers out stop handing out and go when they drain. No-shrink pools keep
 * everything. @return 0.
 */
int elastic_memory_pressure_callback_set(elastic_memory_pressure_fn fn,
					 void *ctx) ELASTIC_NOEXCEPT;

/**
 * Pressure from the kernel's numbers: a node is under pressure when its free hugepage bytes
 * (every page size, /sys/devices/system/node/nodeN/hugepages) fall below `min_free_bytes`.
 * 0 (the default) turns this off. Read at most every 100 ms per node. The callback, when set,
 * is asked first; either one saying so is pressure. @return 0.
 */
int elastic_memory_pressure_threshold_set(uint64_t min_free_bytes) ELASTIC_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#undef ELASTIC_NOEXCEPT

#endif /* ELASTICPOOL_H */
