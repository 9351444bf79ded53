// SPDX-License-Identifier: BSD-3-Clause
// The explicit C API of elastic_mempool.h and the ops callbacks the driver's table points at
// (drivers/mempool/elastic/rte_mempool_elastic.c). Each call is short; the store, growth and
// release live in mempool_face.cpp.
#include "elastic_mempool.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>

#include "mempool_face.hpp"
#include "provider.hpp"

using namespace elastic::detail::emp;

namespace {

// rte_mempool_free() drains the pool through our dequeue before it calls our free: from the
// DESTROY event on, nothing may grow (nor shrink) any more.
void on_mempool_event(rte_mempool_event event, rte_mempool *mp, void *)
{
    if (event != RTE_MEMPOOL_EVENT_DESTROY || !elastic_mempool_is_elastic(mp))
        return;
    if (pool_state *s = state_of(mp)) {
        mark_destroying(s);
        maint_unregister(mp); // waits for a tick of it in progress
        hooks_on_destroy(s);  // before rte_mempool_free frees any of its memory
        log_destroy(s);
    }
}

std::atomic<bool> event_registered{false};

void register_event_once() noexcept
{
    bool expected = false;
    if (event_registered.compare_exchange_strong(expected, true) &&
        rte_mempool_event_callback_register(on_mempool_event, nullptr) != 0)
        event_registered = false;
}

// Explicit creation attaches the ops by name: without the driver loaded, rte_mempool would
// only say EINVAL, so say what is missing instead.
bool ops_registered() noexcept
{
    for (uint32_t i = 0; i < rte_mempool_ops_table.num_ops; i++)
        if (strcmp(rte_mempool_ops_table.ops[i].name, ELASTIC_MEMPOOL_OPS_NAME) == 0)
            return true;
    return false;
}

int check_ops() noexcept
{
    if (ops_registered())
        return 0;
    RTE_LOG(ERR, MEMPOOL, "elastic: the \"" ELASTIC_MEMPOOL_OPS_NAME "\" mempool ops are not "
            "registered: load librte_mempool_elastic.so (EAL -d, LD_PRELOAD, or link it, "
            "pkg-config libelasticpool-mempool)\n");
    return -ENOTSUP;
}

int check_params(const elastic_mempool_params &p, unsigned n_max) noexcept
{
    if (n_max == 0 || p.base_objs == 0 || p.chunk_objs == 0 || p.base_objs > n_max)
        return -EINVAL;
    if (p.sample_period_ms == 0 || p.idle_period_ms == 0 || (p.flags & ~known_flags) != 0)
        return -EINVAL;
    if (p.headroom_chunks > max_headroom)
        return -EINVAL;
    return 0;
}

int check_name(const char *name) noexcept
{
    if (name == nullptr || name[0] == '\0')
        return -EINVAL;
    if (strnlen(name, RTE_MEMPOOL_NAMESIZE) >= RTE_MEMPOOL_NAMESIZE)
        return -ENAMETOOLONG;
    if (!elastic::detail::name_chars_valid(name)) // telemetry shows it in JSON
        return -EINVAL;
    return 0;
}

// An impossible socket is EINVAL (rte_mempool_create_empty would say ENOMEM or EINVAL).
int check_socket(int socket_id) noexcept
{
    return elastic::detail::socket_id_valid(socket_id) ? 0 : -EINVAL;
}

// Attach the ops with our config, run mp_init, allocate the state and grow the base chunk.
rte_mempool *finish_create(rte_mempool *mp, create_config &cfg, rte_mempool_ctor_t *mp_init,
                           void *mp_init_arg, const rte_pktmbuf_pool_private *mbp) noexcept
{
    int ret = rte_mempool_set_ops_byname(mp, ELASTIC_MEMPOOL_OPS_NAME, &cfg);
    if (ret != 0) {
        rte_mempool_free(mp);
        rte_errno = -ret;
        return nullptr;
    }
    if (mbp != nullptr)
        rte_pktmbuf_pool_init(mp, const_cast<rte_pktmbuf_pool_private *>(mbp));
    if (mp_init != nullptr)
        mp_init(mp, mp_init_arg);
    // An empty populate makes DPDK call our alloc once (rte_mempool_ops_alloc is not exported);
    // our populate adds nothing outside a growth, so no memory header stays behind.
    ret = rte_mempool_populate_iova(mp, nullptr, RTE_BAD_IOVA, 0, nullptr, nullptr);
    pool_state *s = state_of(mp);
    if (ret == 0 && s == nullptr)
        ret = -ENOMEM;
    if (ret == 0) {
        mp->pool_config = nullptr; // cfg lives on the caller's stack
        {
            lock_guard g(s->grow);
            ret = grow_locked(s, grow_origin::base);
        }
        if (ret == 0)
            maint_register(mp);
    }
    if (ret != 0) {
        rte_mempool_free(mp);
        rte_errno = ret == -ENOBUFS ? ENOMEM : -ret;
        return nullptr;
    }
    return mp;
}

// The creation config of the explicit API: the caller's params, or the defaults with the base
// no larger than the wall.
create_config config_of(const elastic_mempool_params *params, unsigned n_max) noexcept
{
    create_config cfg{};
    cfg.magic = config_magic;
    if (params != nullptr) {
        cfg.params = *params;
    } else {
        elastic_mempool_params_init(&cfg.params);
        cfg.params.base_objs = std::min(cfg.params.base_objs, n_max);
    }
    return cfg;
}

// The explicit API's calls on one pool: EINVAL unless mp is an elastic mempool; a negative
// result is -errno and sets rte_errno too.
template <class F>
int on_elastic(rte_mempool *mp, F f) noexcept
{
    if (!elastic_mempool_is_elastic(mp)) {
        rte_errno = EINVAL;
        return -EINVAL;
    }
    const int ret = f(state_of(mp));
    if (ret < 0)
        rte_errno = -ret;
    return ret;
}

} // namespace

extern "C" {

// ---- the ops callbacks (the driver's rte_mempool_ops table) ----

int elastic_mempool_op_alloc(struct rte_mempool *mp) noexcept
{
    register_event_once();
    return state_alloc(mp);
}

void elastic_mempool_op_free(struct rte_mempool *mp) noexcept
{
    state_free(mp);
}

int elastic_mempool_op_enqueue(struct rte_mempool *mp, void *const *obj_table,
                               unsigned n) noexcept
{
    return store_enqueue(state_of(mp), obj_table, n);
}

int elastic_mempool_op_dequeue(struct rte_mempool *mp, void **obj_table, unsigned n) noexcept
{
    return store_dequeue(state_of(mp), obj_table, n);
}

unsigned elastic_mempool_op_get_count(const struct rte_mempool *mp) noexcept
{
    const pool_state *s = state_of(mp);
    return s != nullptr ? store_count(s) : 0;
}

ssize_t elastic_mempool_op_calc_mem_size(const struct rte_mempool *mp, uint32_t obj_num,
        uint32_t pg_shift, size_t *min_chunk_size, size_t *align) noexcept
{
    return calc_mem_size(mp, obj_num, pg_shift, min_chunk_size, align);
}

int elastic_mempool_op_populate(struct rte_mempool *mp, unsigned max_objs, void *vaddr,
        rte_iova_t iova, size_t len, rte_mempool_populate_obj_cb_t *obj_cb,
        void *obj_cb_arg) noexcept
{
    return populate(mp, max_objs, vaddr, iova, len, obj_cb, obj_cb_arg);
}

int elastic_mempool_op_get_info(const struct rte_mempool *, struct rte_mempool_info *info) noexcept
{
    info->contig_block_size = 0;
    return 0;
}

// ---- the explicit API ----

void elastic_mempool_params_init(struct elastic_mempool_params *p) noexcept
{
    if (p == nullptr)
        return;
    *p = elastic_mempool_params{};
    p->base_objs = 4096;
    p->chunk_objs = 2048;
    p->tick_ms = 500;
    p->sample_period_ms = 60000;
    p->idle_period_ms = 300000;
    p->headroom_chunks = 1;
    p->flags = 0;
    p->low_watermark = p->chunk_objs / 2;
}

struct rte_mempool *elastic_pktmbuf_pool_create(const char *name, unsigned n_max,
        unsigned cache_size, uint16_t priv_size, uint16_t data_room_size, int socket_id,
        const struct elastic_mempool_params *params) noexcept
{
    create_config cfg = config_of(params, n_max);
    cfg.pktmbuf = true;
    int ret = check_ops();
    if (ret == 0)
        ret = check_name(name);
    if (ret == 0)
        ret = check_params(cfg.params, n_max);
    if (ret == 0)
        ret = check_socket(socket_id);
    if (ret == 0 && RTE_ALIGN(priv_size, RTE_MBUF_PRIV_ALIGN) != priv_size)
        ret = -EINVAL;
    if (ret != 0) {
        rte_errno = -ret;
        return nullptr;
    }
    const unsigned elt_size = sizeof(rte_mbuf) + unsigned{priv_size} + data_room_size;
    rte_pktmbuf_pool_private mbp{};
    mbp.mbuf_data_room_size = data_room_size;
    mbp.mbuf_priv_size = priv_size;
    rte_mempool *mp = rte_mempool_create_empty(name, n_max, elt_size, cache_size,
                                               sizeof(rte_pktmbuf_pool_private), socket_id, 0);
    if (mp == nullptr)
        return nullptr;
    return finish_create(mp, cfg, nullptr, nullptr, &mbp);
}

struct rte_mempool *elastic_mempool_create(const char *name, unsigned n_max, unsigned elt_size,
        unsigned cache_size, unsigned private_data_size, rte_mempool_ctor_t *mp_init,
        void *mp_init_arg, rte_mempool_obj_cb_t *obj_init, void *obj_init_arg, int socket_id,
        unsigned flags, const struct elastic_mempool_params *params) noexcept
{
    create_config cfg = config_of(params, n_max);
    cfg.obj_init = obj_init;
    cfg.obj_init_arg = obj_init_arg;
    int ret = check_ops();
    if (ret == 0)
        ret = check_name(name);
    if (ret == 0)
        ret = check_params(cfg.params, n_max);
    if (ret == 0)
        ret = check_socket(socket_id);
    if (ret == 0 && elt_size == 0)
        ret = -EINVAL;
    if (ret != 0) {
        rte_errno = -ret;
        return nullptr;
    }
    flags &= ~(RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
    rte_mempool *mp = rte_mempool_create_empty(name, n_max, elt_size, cache_size,
                                               private_data_size, socket_id, flags);
    if (mp == nullptr)
        return nullptr;
    return finish_create(mp, cfg, mp_init, mp_init_arg, nullptr);
}

int elastic_mempool_is_elastic(const struct rte_mempool *mp) noexcept
{
    if (mp == nullptr || mp->ops_index < 0 || mp->ops_index >= RTE_MEMPOOL_MAX_OPS_IDX)
        return 0;
    const rte_mempool_ops *ops = rte_mempool_get_ops(mp->ops_index);
    return strcmp(ops->name, ELASTIC_MEMPOOL_OPS_NAME) == 0 && state_of(mp) != nullptr;
}

int elastic_mempool_stats_get(const struct rte_mempool *mp, struct elastic_pool_stats *st) noexcept
{
    if (st == nullptr || !elastic_mempool_is_elastic(mp)) {
        rte_errno = EINVAL;
        return -EINVAL;
    }
    fill_stats(state_of(mp), st, nullptr);
    return 0;
}

int elastic_mempool_xstats_get(const struct rte_mempool *mp,
                               struct elastic_mempool_xstats *xs) noexcept
{
    if (xs == nullptr || !elastic_mempool_is_elastic(mp)) {
        rte_errno = EINVAL;
        return -EINVAL;
    }
    fill_stats(state_of(mp), nullptr, xs);
    return 0;
}

int elastic_mempool_sizing_get(const struct rte_mempool *mp,
                               struct elastic_pool_sizing *sz) noexcept
{
    if (sz == nullptr || !elastic_mempool_is_elastic(mp)) {
        rte_errno = EINVAL;
        return -EINVAL;
    }
    sizing(state_of(mp), sz);
    return 0;
}

int elastic_mempool_maintain(struct rte_mempool *mp) noexcept
{
    return on_elastic(mp, [](pool_state *s) { return maintain(s, false); });
}

int elastic_mempool_trim(struct rte_mempool *mp) noexcept
{
    return on_elastic(mp, [](pool_state *s) { return trim(s); });
}

int elastic_mempool_cache_flush(struct rte_mempool *mp) noexcept
{
    if (!elastic_mempool_is_elastic(mp)) {
        rte_errno = EINVAL;
        return -EINVAL;
    }
    const unsigned lcore = rte_lcore_id();
    if (lcore == LCORE_ID_ANY || mp->cache_size == 0)
        return 0;
    rte_mempool_cache *cache = rte_mempool_default_cache(mp, lcore);
    if (cache == nullptr)
        return 0;
    const int n = static_cast<int>(cache->len);
    rte_mempool_cache_flush(cache, mp);
    return n;
}

} // extern "C"

int elastic_mempool_chunk_hook_set(struct rte_mempool *mp, elastic_chunk_hook_fn *hook,
                                   void *arg) noexcept
{
    return on_elastic(mp, [hook, arg](pool_state *s) { return hook_set(s, hook, arg); });
}
