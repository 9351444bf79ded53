// SPDX-License-Identifier: BSD-3-Clause
// Hostile use of the variable-size face (issue 13), one test per defect found and per class swept:
// destroying a pool under its waiters, callbacks and families; size arithmetic at its limits; a
// request no growth can serve; names that would break telemetry's JSON; errnos as documented.
// Meant for the ASan/UBSan and TSan builds as well (scripts/run-tests.sh --sanitize=...).
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <rte_errno.h>

#include <elastic_numa.h>

#include "unit_common.hpp"

namespace {

using namespace elastic::test;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

struct served_log {
    std::atomic<int> runs{0};
    elastic_pool *free_pool_on_first = nullptr; // the first callback frees this pool
};

void note_cb(elastic_pool *, void *, void *arg)
{
    auto *l = static_cast<served_log *>(arg);
    if (l->runs.fetch_add(1) == 0 && l->free_pool_on_first != nullptr)
        elastic_pool_free(l->free_pool_on_first);
}

// Distinct (cb, arg) pairs for one log: the arg names the waiter, the log is shared.
struct waiter_arg {
    served_log *log;
};
void waiter_cb(elastic_pool *pool, void *buf, void *arg)
{
    note_cb(pool, buf, static_cast<waiter_arg *>(arg)->log);
}

// Defect: a callback that frees its own pool while the same free served other waiters; the later
// callbacks ran on a dead pool with unmapped buffers. Now the pool dies when the free returns and
// the callbacks not yet run are dropped (as waiters queued at destruction are).
TEST(Lifetime, CallbackFreesItsOwnPoolWhileOthersWereServed)
{
    const std::string name = unique_name("cbfree");
    elastic_pool_params p = heap_params(name, 16 * KiB, 16 * KiB, 16 * KiB);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr);
    void *all = elastic_buf_alloc(pool, 16 * KiB);
    ASSERT_NE(all, nullptr);
    served_log log;
    log.free_pool_on_first = pool;
    std::vector<waiter_arg> args(4, waiter_arg{&log});
    for (auto &a : args)
        ASSERT_EQ(elastic_buf_alloc_async(pool, 4 * KiB, waiter_cb, &a), 0);
    ASSERT_EQ(elastic_buf_free(pool, all), 0); // serves all four; the first frees the pool
    EXPECT_EQ(log.runs.load(), 1) << "callbacks ran after their pool was freed";
    EXPECT_EQ(elastic_pool_lookup(name.c_str()), nullptr);
}

// The same from a maintenance tick (elastic_pool_maintain serves waiters too).
TEST(Lifetime, CallbackOfATickFreesItsOwnPool)
{
    const std::string name = unique_name("tickfree");
    elastic_pool_params p = heap_params(name, 16 * KiB, 16 * KiB, 32 * KiB);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr);
    void *all = elastic_buf_alloc(pool, 16 * KiB);
    void *more = elastic_buf_alloc(pool, 16 * KiB);
    ASSERT_NE(all, nullptr);
    ASSERT_NE(more, nullptr);
    served_log log;
    log.free_pool_on_first = pool;
    std::vector<waiter_arg> args(2, waiter_arg{&log});
    for (auto &a : args)
        ASSERT_EQ(elastic_buf_alloc_async(pool, 8 * KiB, waiter_cb, &a), 0);
    ASSERT_EQ(elastic_buf_free(pool, more), 0); // the growth chunk goes; both waiters are served
    EXPECT_EQ(log.runs.load(), 1);
}

// Defect: elastic_pool_free while another thread waits in elastic_buf_alloc_timeout: the waiter
// was never woken, then cancelled on the freed pool. Now it returns NULL with ECANCELED at once,
// and elastic_pool_free returns only after it has left the pool.
TEST(Lifetime, FreeWakesATimeoutWaiterWithEcanceled)
{
    const std::string name = unique_name("tofree");
    elastic_pool_params p = heap_params(name, 16 * KiB, 16 * KiB, 16 * KiB);
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr);
    ASSERT_NE(elastic_buf_alloc(pool, 16 * KiB), nullptr);
    std::atomic<bool> done{false};
    void *got = reinterpret_cast<void *>(1);
    int err = 0;
    const auto t0 = steady_clock::now();
    std::thread waiter([&] {
        got = elastic_buf_alloc_timeout(pool, 4 * KiB, 20000);
        err = rte_errno;
        done = true;
    });
    while (stats_of(pool).nb_waiters == 0)
        std::this_thread::sleep_for(milliseconds(1));
    elastic_pool_free(pool); // returns once the waiter has left the pool (ASan checks that)
    waiter.join();
    EXPECT_TRUE(done.load());
    EXPECT_EQ(got, nullptr);
    EXPECT_EQ(err, ECANCELED);
    EXPECT_LT(steady_clock::now() - t0, std::chrono::seconds(5));
}

// Many waiters on many threads, the pool freed under them (a TSan/ASan target).
TEST(Lifetime, FreeUnderManyTimeoutWaiters)
{
    for (int round = 0; round < 20; round++) {
        const std::string name = unique_name("manyfree");
        elastic_pool_params p = heap_params(name, 16 * KiB, 16 * KiB, 16 * KiB);
        elastic_pool *pool = elastic_pool_create(&p);
        ASSERT_NE(pool, nullptr);
        void *b = elastic_buf_alloc(pool, 16 * KiB);
        ASSERT_NE(b, nullptr);
        std::vector<std::thread> ts;
        std::atomic<int> back{0};
        for (int i = 0; i < 4; i++)
            ts.emplace_back([&] {
                void *x = elastic_buf_alloc_timeout(pool, 4 * KiB, 20000);
                EXPECT_EQ(x, nullptr);
                back++;
            });
        while (stats_of(pool).nb_waiters < 4)
            std::this_thread::sleep_for(milliseconds(1));
        elastic_pool_free(pool);
        for (auto &t : ts)
            t.join();
        EXPECT_EQ(back.load(), 4);
    }
}

// Defect: freeing a family's member pool left the family a dangling pointer (node stats read
// freed memory, the family freed it again). Now the family forgets the member.
TEST(Lifetime, FreeingAFamilyMemberTakesItOutOfTheFamily)
{
    ASSERT_EQ(elastic_numa_topology_set("node:2 core:1 pu:1"), 0);
    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.base_size = 64 * KiB;
    p.chunk_size = 64 * KiB;
    p.wall_size = 256 * KiB;
    p.flags = ELASTIC_POOL_F_PROVIDER_HEAP | ELASTIC_POOL_F_MANUAL_TICK;
    elastic_numa_family *fam = elastic_numa_family_create("relfam", &p);
    ASSERT_NE(fam, nullptr);
    elastic_pool *member = elastic_numa_pool(fam, 0);
    ASSERT_NE(member, nullptr);
    elastic_pool_free(member);
    rte_errno = 0;
    EXPECT_EQ(elastic_numa_pool(fam, 0), nullptr);
    EXPECT_EQ(rte_errno, ENOENT);
    elastic_numa_node_stats st;
    EXPECT_EQ(elastic_numa_node_stats_get(0, &st), 0);
    EXPECT_EQ(st.nb_pools, 0u);
    EXPECT_NE(elastic_numa_pool(fam, 1), nullptr);
    elastic_numa_family_free(fam); // frees node 1's pool only
    EXPECT_EQ(elastic_pool_lookup("relfam@1"), nullptr);
    ASSERT_EQ(elastic_numa_topology_set(nullptr), 0);
}

// Defects: a huge chunk_size wrapped to a one-page chunk; near-SIZE_MAX sizes reached the
// provider (ENOMEM) instead of EINVAL. Every size must fit ELASTIC_POOL_MAX_CHUNK_SIZE.
TEST(Overflow, SizesThatDoNotFitAreEinval)
{
    struct {
        size_t base, chunk, wall, max_buf;
    } cases[] = {
        {16 * KiB, SIZE_MAX - 100, SIZE_MAX, 0},          // wrapped to a page before
        {16 * KiB, SIZE_MAX - 4095, SIZE_MAX, 0},
        {SIZE_MAX - 4095, 0, SIZE_MAX, 0},                // absurd base: ENOMEM before
        {SIZE_MAX - 100, 0, SIZE_MAX, 0},
        {16 * KiB, 0, SIZE_MAX, 0},                       // chunk = wall / 8: 2^61 bytes
        {16 * KiB, size_t(1) << 62, SIZE_MAX, 0},
        {16 * KiB, 16 * KiB, 64 * KiB, SIZE_MAX},         // bit_ceil(SIZE_MAX) is undefined
        {ELASTIC_POOL_MAX_CHUNK_SIZE + 1, 0, SIZE_MAX, 0},
    };
    for (const auto &c : cases) {
        const std::string name = unique_name("ovf");
        elastic_pool_params p = heap_params(name, c.base, c.chunk, c.wall);
        p.max_buf_size = c.max_buf;
        rte_errno = 0;
        elastic_pool *pool = elastic_pool_create(&p);
        EXPECT_EQ(pool, nullptr) << c.base << " " << c.chunk << " " << c.wall;
        EXPECT_EQ(rte_errno, EINVAL) << c.base << " " << c.chunk << " " << c.wall;
        elastic_pool_free(pool);
    }
    // A wall of SIZE_MAX with sane chunks is fine: the pool grows chunk by chunk.
    const std::string name = unique_name("ovfok");
    elastic_pool_params p = heap_params(name, 16 * KiB, 16 * KiB, SIZE_MAX);
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr);
    void *a = elastic_buf_alloc(pool.get(), 16 * KiB);
    void *b = elastic_buf_alloc(pool.get(), 16 * KiB);
    EXPECT_NE(a, nullptr);
    EXPECT_NE(b, nullptr);
    elastic_buf_free(pool.get(), a);
    elastic_buf_free(pool.get(), b);
}

// Defect: a request larger than any growth chunk, when the base is partly in use, waited for ever
// and blocked every request behind it. Now it is refused at once (ENOBUFS), never queued.
TEST(Waiters, ARequestNoGrowthCanServeIsRefusedNotQueued)
{
    const std::string name = unique_name("never");
    elastic_pool_params p = heap_params(name, 2 * MiB, 256 * KiB, 4 * MiB);
    p.max_buf_size = 1 * MiB;
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr);
    void *small = elastic_buf_alloc(pool.get(), 4 * KiB); // one half of the base in part
    void *half = elastic_buf_alloc(pool.get(), 1 * MiB);  // the other half
    ASSERT_NE(small, nullptr);
    ASSERT_NE(half, nullptr);
    served_log big, little;
    EXPECT_EQ(elastic_buf_alloc_async(pool.get(), 1 * MiB, note_cb, &big), -ENOBUFS);
    EXPECT_EQ(rte_errno, ENOBUFS);
    EXPECT_EQ(stats_of(pool.get()).nb_waiters, 0u);
    // Nothing blocks the queue: a small request is served at once (by a growth).
    EXPECT_EQ(elastic_buf_alloc_async(pool.get(), 4 * KiB, note_cb, &little), 0);
    EXPECT_EQ(little.runs.load(), 1);
    // The blocking variant says the same at once, not after its timeout.
    const auto t0 = steady_clock::now();
    rte_errno = 0;
    EXPECT_EQ(elastic_buf_alloc_timeout(pool.get(), 1 * MiB, 10000), nullptr);
    EXPECT_EQ(rte_errno, ENOBUFS);
    EXPECT_LT(steady_clock::now() - t0, std::chrono::seconds(2));
    // Served once the base has room again (the small request took a page of the first half).
    ASSERT_EQ(elastic_buf_free(pool.get(), half), 0);
    EXPECT_EQ(elastic_buf_alloc_async(pool.get(), 1 * MiB, note_cb, &big), 0);
    EXPECT_EQ(big.runs.load(), 1);
    EXPECT_EQ(elastic_buf_free(pool.get(), small), 0);
}

// A pool that cannot grow (wall == base) still queues at its wall: that is the method.
TEST(Waiters, APoolThatCannotGrowStillQueuesAtItsWall)
{
    const std::string name = unique_name("nogrow");
    elastic_pool_params p = heap_params(name, 64 * KiB, 0, 64 * KiB);
    pool_ptr pool(elastic_pool_create(&p));
    ASSERT_NE(pool, nullptr);
    void *all = elastic_buf_alloc(pool.get(), 64 * KiB);
    ASSERT_NE(all, nullptr);
    served_log l;
    EXPECT_EQ(elastic_buf_alloc_async(pool.get(), 32 * KiB, note_cb, &l), 0);
    EXPECT_EQ(l.runs.load(), 0);
    ASSERT_EQ(elastic_buf_free(pool.get(), all), 0);
    EXPECT_EQ(l.runs.load(), 1);
}

// Defect: a name with non-ASCII bytes made /elastic/list invalid JSON for every pool. Names are
// printable ASCII without '"' and '\\'.
TEST(Names, NamesThatWouldBreakJsonAreRefused)
{
    const char *bad[] = {"caf\xc3\xa9", "quo\"te", "back\\slash", "tab\tname", "nl\nname",
                         "\x7f"};
    for (const char *n : bad) {
        const std::string name = n; // heap_params keeps name.c_str(): it must outlive p
        elastic_pool_params p = heap_params(name, 16 * KiB, 16 * KiB, 64 * KiB);
        rte_errno = 0;
        EXPECT_EQ(elastic_pool_create(&p), nullptr) << n;
        EXPECT_EQ(rte_errno, EINVAL) << n;
    }
    const std::string ok_name = "ok name-1.2@3:x";
    elastic_pool_params p = heap_params(ok_name, 16 * KiB, 16 * KiB, 64 * KiB);
    pool_ptr pool(elastic_pool_create(&p));
    EXPECT_NE(pool, nullptr);
}

// Defect: an impossible socket was ENOMEM (or silently accepted); it is EINVAL.
TEST(Errno, ImpossibleSocketIsEinval)
{
    for (int socket : {-2, -100, 1 << 20, INT_MAX}) {
        const std::string name = unique_name("sock");
        elastic_pool_params p = heap_params(name, 16 * KiB, 16 * KiB, 64 * KiB);
        p.socket_id = socket;
        rte_errno = 0;
        EXPECT_EQ(elastic_pool_create(&p), nullptr) << socket;
        EXPECT_EQ(rte_errno, EINVAL) << socket;
    }
}

} // namespace
