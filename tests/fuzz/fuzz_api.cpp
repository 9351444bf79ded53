// SPDX-License-Identifier: BSD-3-Clause
// libFuzzer: sequences of public API calls on a variable-size pool (heap provider, manual ticks,
// a fake clock) against a model of what is out and what waits.
//
// Input: 4 header bytes (base pages, chunk size, wall in chunks, headroom/flags), then
// operations of 3 bytes: alloc, async alloc, cancel, free (own, interior, double), maintain after
// moving the clock, trim, destroy and recreate.
// Checked after every operation:
//   - no buffer is handed out twice and no two live buffers overlap (each carries a stamp of its
//     id, checked when it is freed);
//   - stats agree with the model: in_use_bytes = the live buffers' class sizes, nb_waiters = the
//     requests queued, allocs - frees = live buffers, pinned = base + chunks x chunk_size <= wall;
//   - async callbacks run exactly once, in FIFO order of the requests not cancelled (a free made
//     from inside a callback runs its own callbacks first: see on_buf);
//     a cancel of a queued request succeeds and of anything else is -ENOENT;
//   - refusals carry the documented errno and change no counter but nb_alloc_fail.
// At the end (and before each destroy) everything is freed: every queued request is then served
// (nothing deadlocks once the pool is empty), in_use is 0, and a trim after the idle period
// leaves at most base + headroom chunks.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <vector>

#include <rte_errno.h>
#include <rte_log.h>

#include "elasticpool.h"

#define CHECK(c)                                                                                \
    do {                                                                                        \
        if (!(c)) {                                                                             \
            fprintf(stderr, "fuzz_api: check failed at line %d: %s\n", __LINE__, #c);           \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

namespace {

constexpr size_t page = 4096;
constexpr uint64_t ns_ms = 1'000'000;
constexpr uint32_t idle_ms = 1000; // short periods: a few maintain steps cross them
constexpr uint32_t sample_ms = 100;
constexpr unsigned max_pending = 64; // async requests queued at once (bounds the model)

uint64_t fake_now = 1'000'000 * ns_ms;
uint64_t read_clock(void *) noexcept { return fake_now; }

struct live_buf {
    size_t cls;   // elastic_buf_size()
    uint64_t id;  // stamp written at its first byte and last 8 bytes
};

struct model {
    elastic_pool *pool = nullptr;
    size_t base = 0, chunk = 0, wall = 0;
    uint32_t headroom = 0;
    unsigned cb_depth = 0;   // callbacks of the pool running in this thread
    bool plain_rule = false; // the patent rule, shrinking allowed: trim's result is known
    std::map<uintptr_t, live_buf> live;
    std::deque<uint64_t> pending;        // async request ids in FIFO order
    std::map<uint64_t, size_t> pending_size;
    uint64_t next_id = 1;
    uint64_t in_use = 0;
    uint64_t pool_allocs = 0, pool_frees = 0; // this pool's, as the model counts them
};

model m;

void stamp(void *buf, size_t cls, uint64_t id)
{
    memcpy(buf, &id, sizeof(id));
    memcpy(static_cast<char *>(buf) + cls - sizeof(id), &id, sizeof(id));
}

// A buffer handed out: aligned, its class fits the request, it overlaps no live buffer.
void took(void *buf, size_t size, uint64_t id)
{
    const uintptr_t a = reinterpret_cast<uintptr_t>(buf);
    CHECK(a % page == 0);
    const size_t cls = elastic_buf_size(m.pool, buf);
    CHECK(cls >= size && cls >= page);
    auto next = m.live.lower_bound(a);
    CHECK(next == m.live.end() || next->first >= a + cls);
    if (next != m.live.begin()) {
        auto prev = std::prev(next);
        CHECK(prev->first + prev->second.cls <= a);
    }
    m.live[a] = {cls, id};
    stamp(buf, cls, id);
    m.in_use += cls;
    m.pool_allocs++;
}

void give_back(std::map<uintptr_t, live_buf>::iterator it)
{
    void *buf = reinterpret_cast<void *>(it->first);
    const live_buf b = it->second;
    uint64_t head, tail;
    memcpy(&head, buf, sizeof(head));
    memcpy(&tail, static_cast<char *>(buf) + b.cls - sizeof(tail), sizeof(tail));
    CHECK(head == b.id && tail == b.id); // nobody else was handed this memory
    m.live.erase(it);
    m.in_use -= b.cls;
    m.pool_frees++;
    CHECK(elastic_buf_free(m.pool, buf) == 0);
}

// Async callback: arg is the request id. Runs once, for the oldest request still queued.
void on_buf(elastic_pool *pool, void *buf, void *arg)
{
    const uint64_t id = reinterpret_cast<uintptr_t>(arg);
    CHECK(pool == m.pool);
    // Memory goes to the queue in FIFO order, and a call runs the callbacks of what it served
    // in that order. A free made inside a callback runs the callbacks of what it serves before
    // it returns, so those may come before the outer call's remaining (earlier) ones.
    auto it = std::find(m.pending.begin(), m.pending.end(), id);
    CHECK(it != m.pending.end());
    CHECK(m.cb_depth > 0 || it == m.pending.begin());
    m.pending.erase(it);
    m.cb_depth++;
    const size_t size = m.pending_size[id];
    m.pending_size.erase(id);
    CHECK(buf != nullptr);
    took(buf, size, id);
    // Every fifth callback frees its buffer at once (re-entry: may serve the next waiters).
    if (id % 5 == 0)
        give_back(m.live.find(reinterpret_cast<uintptr_t>(buf)));
    m.cb_depth--;
}

void check_stats()
{
    elastic_pool_stats st;
    CHECK(elastic_pool_stats_get(m.pool, &st) == 0);
    CHECK(st.in_use_bytes == m.in_use);
    CHECK(st.nb_waiters == m.pending.size());
    CHECK(st.nb_allocs - st.nb_frees == m.live.size());
    CHECK(st.nb_allocs == m.pool_allocs && st.nb_frees == m.pool_frees);
    CHECK(st.nb_chunks >= 1);
    CHECK(st.pinned_bytes == m.base + uint64_t(st.nb_chunks - 1) * m.chunk);
    CHECK(st.pinned_bytes <= m.wall);
    CHECK(st.in_use_bytes <= st.pinned_bytes);
    CHECK(st.peak_in_use_bytes >= st.in_use_bytes);
}

void create(const uint8_t *h)
{
    m.base = (1 + h[0] % 16) * page;
    m.chunk = page << (h[1] % 6);
    m.wall = m.base + m.chunk * (h[2] % 8);
    m.headroom = h[3] % 3;
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = "fuzz-api";
    p.base_size = m.base;
    p.chunk_size = m.chunk;
    p.wall_size = m.wall;
    p.headroom_chunks = m.headroom;
    p.idle_period_ms = idle_ms;
    p.sample_period_ms = sample_ms;
    p.flags = ELASTIC_POOL_F_PROVIDER_HEAP | ELASTIC_POOL_F_MANUAL_TICK;
    if (h[3] & 0x10)
        p.flags |= ELASTIC_POOL_F_ADAPTIVE;
    else if (h[3] & 0x20)
        p.flags |= ELASTIC_POOL_F_BREAKEVEN;
    if (h[3] & 0x40)
        p.flags |= ELASTIC_POOL_F_NO_SHRINK;
    m.plain_rule = (h[3] & 0x70) == 0;
    p.clock = read_clock;
    m.pool = elastic_pool_create(&p);
    CHECK(m.pool != nullptr);
    m.live.clear();
    m.pending.clear();
    m.pending_size.clear();
    m.in_use = 0;
    m.pool_allocs = m.pool_frees = 0;
    check_stats();
}

// Free everything; every queued request must be served on the way (the pool empties).
void drain()
{
    for (unsigned round = 0; !m.live.empty(); round++) {
        CHECK(round < 1'000'000);
        give_back(m.live.begin());
        check_stats();
    }
    CHECK(m.pending.empty());
    CHECK(m.in_use == 0);
    elastic_pool_stats st;
    CHECK(elastic_pool_stats_get(m.pool, &st) == 0);
    CHECK(st.in_use_bytes == 0 && st.nb_waiters == 0);
    // Idle for longer than the idle period: trim keeps at most headroom chunks beyond the base.
    fake_now += (idle_ms + 1) * ns_ms;
    CHECK(elastic_pool_trim(m.pool) >= 0);
    CHECK(elastic_pool_stats_get(m.pool, &st) == 0);
    if (m.plain_rule)
        CHECK(st.nb_chunks <= 1 + m.headroom);
}

void destroy()
{
    elastic_pool_free(m.pool); // queued callbacks are dropped: on_buf would abort on a stale id
    m.pool = nullptr;
    m.live.clear();
    m.pending.clear();
    m.pending_size.clear();
}

size_t request_size(uint8_t a, uint8_t b)
{
    // Mostly within a chunk, sometimes above it (refused or served by the base), rarely absurd.
    const size_t max = m.chunk * 2 > m.base ? m.chunk * 2 : m.base;
    if (a == 0xff)
        return b == 0 ? 0 : SIZE_MAX - b;
    return 1 + ((size_t(a) << 8 | b) * 37) % max;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    rte_openlog_stream(fopen("/dev/null", "w")); // the pool logs every refusal
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n < 4)
        return 0;
    create(d);
    const uint8_t *hdr = d;
    for (size_t i = 4; i + 2 < n; i += 3) {
        const uint8_t op = d[i] % 16, a = d[i + 1], b = d[i + 2];
        elastic_pool_stats before;
        CHECK(elastic_pool_stats_get(m.pool, &before) == 0);
        if (op <= 4) { // alloc
            const size_t size = request_size(a, b);
            const uint64_t id = m.next_id++;
            void *buf = elastic_buf_alloc(m.pool, size);
            if (buf != nullptr) {
                CHECK(m.pending.empty()); // never overtakes a queued request
                took(buf, size, id);
            } else {
                const int e = rte_errno;
                CHECK(e == ENOBUFS || e == ENOMEM || e == EINVAL);
                if (size == 0 || size > before.max_buf_size)
                    CHECK(e == EINVAL);
            }
        } else if (op <= 7) { // async alloc
            if (m.pending.size() >= max_pending)
                continue;
            const size_t size = request_size(a, b);
            const uint64_t id = m.next_id++;
            m.pending.push_back(id);
            m.pending_size[id] = size;
            const int r = elastic_buf_alloc_async(m.pool, size, on_buf,
                                                  reinterpret_cast<void *>(uintptr_t(id)));
            if (r != 0) {
                CHECK(r == -ENOBUFS || r == -EINVAL);
                if (size == 0 || size > before.max_buf_size)
                    CHECK(r == -EINVAL);
                if (r == -ENOBUFS)
                    CHECK(size > before.chunk_size);
                CHECK(!m.pending.empty() && m.pending.back() == id);
                m.pending.pop_back();
                m.pending_size.erase(id);
            }
        } else if (op == 8) { // cancel a queued request, or one that is not queued
            if (!m.pending.empty() && (a & 1)) {
                const size_t k = b % m.pending.size();
                const uint64_t id = m.pending[k];
                m.pending.erase(m.pending.begin() + long(k));
                m.pending_size.erase(id);
                CHECK(elastic_buf_alloc_cancel(m.pool, on_buf,
                                               reinterpret_cast<void *>(uintptr_t(id))) == 0);
            } else {
                const uint64_t id = m.next_id + 1000; // never requested
                CHECK(elastic_buf_alloc_cancel(m.pool, on_buf,
                                               reinterpret_cast<void *>(uintptr_t(id))) ==
                      -ENOENT);
            }
        } else if (op <= 11) { // free a live buffer
            if (m.live.empty())
                continue;
            auto it = m.live.begin();
            std::advance(it, (size_t(a) << 8 | b) % m.live.size());
            give_back(it);
        } else if (op == 12) { // bad frees: interior, double, foreign; nothing changes
            void *bad = nullptr;
            if (!m.live.empty() && (a % 3) == 0) {
                auto it = m.live.begin();
                std::advance(it, b % m.live.size());
                if (it->second.cls <= page)
                    continue;
                bad = reinterpret_cast<void *>(it->first + page * (1 + b % (it->second.cls / page - 1)));
            } else if ((a % 3) == 1) {
                bad = &m; // not pool memory
            } else {
                // A buffer allocated and freed: a double free unless handed out again.
                void *buf = elastic_buf_alloc(m.pool, page);
                if (buf == nullptr)
                    continue;
                CHECK(m.pending.empty());
                took(buf, page, m.next_id++);
                give_back(m.live.find(reinterpret_cast<uintptr_t>(buf)));
                CHECK(elastic_pool_stats_get(m.pool, &before) == 0);
                bad = buf;
                if (m.live.count(reinterpret_cast<uintptr_t>(buf)) != 0)
                    continue;
            }
            CHECK(elastic_buf_free(m.pool, bad) == -EINVAL);
            elastic_pool_stats after;
            CHECK(elastic_pool_stats_get(m.pool, &after) == 0);
            CHECK(after.nb_frees == before.nb_frees && after.in_use_bytes == before.in_use_bytes);
        } else if (op == 13) { // maintain after moving the clock (ms .. minutes)
            fake_now += (uint64_t(a) * a * b + 1) * ns_ms / 4;
            CHECK(elastic_pool_maintain(m.pool) >= 0);
        } else if (op == 14) {
            CHECK(elastic_pool_trim(m.pool) >= 0);
        } else { // destroy and recreate, sometimes after draining
            if (a & 1)
                drain();
            destroy();
            create(hdr);
        }
        check_stats();
    }
    drain();
    destroy();
    return 0;
}
