// SPDX-License-Identifier: BSD-3-Clause
// Node budgets (budget.hpp): one table of per-node {cap, pinned, refusals}, atomics only.
//
// Where the table lives is decided once per process, at its first use (admit, give back, a cap
// set or read), and never changes afterwards:
//   - the EAL is up: a memzone named "elastic_node_budgets", looked up, or reserved by the first
//     process of the multi-process group that needs it (primary or secondary). Every process of
//     the group then admits against the same numbers;
//   - no EAL (hugetlb and heap providers, unit tests): a table in this process's memory.
// Switching later would split the books: bytes admitted in one table would be given back to the
// other. So a process that uses budgets before rte_eal_init() (a cap set, a pool without the
// EAL) keeps its private table after the EAL comes up, and its secondaries do not see it. Set
// caps and create pools after rte_eal_init() to share them (docs/operations.md).
//
// The memzone table stays mapped until rte_eal_cleanup(); pools must be gone by then (they are:
// their memzones go with the EAL too).
#include "budget.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <type_traits>

#include <numa.h>
#include <sched.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_memzone.h>
#include <rte_pause.h>

#include "log.hpp"
#include "numa_manager.hpp"
#include "provider.hpp"

namespace elastic::detail {

namespace {

constexpr char memzone_name[] = "elastic_node_budgets";
// Written last by the process that initialised the table; "EPNB" + layout version 1. A process
// of another build with another layout refuses the table instead of misreading it.
constexpr uint64_t table_magic = 0x4550'4e42'0000'0001ull;

struct node_slot {
    std::atomic<uint64_t> cap;      // bytes; 0 = no cap
    std::atomic<uint64_t> pinned;   // bytes admitted and not given back
    std::atomic<uint64_t> refusals; // admissions refused by the cap
};

struct budget_table {
    std::atomic<uint64_t> magic;
    uint32_t nb_nodes; // RTE_MAX_NUMA_NODES of the process that made it
    uint32_t pad;
    node_slot nodes[RTE_MAX_NUMA_NODES];
};

// The table may sit in memory mapped by several processes at different addresses: it must hold
// only address-free, lock-free atomics and plain integers.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<budget_table>);

budget_table process_table; // zero-initialised static storage: cap 0, nothing pinned
std::atomic<budget_table *> table_in_use{nullptr};
std::atomic<bool> table_shared{false};
thread_local int creation_node = -1; // budget_node_scope

void init_table(budget_table *t) noexcept
{
    for (node_slot &s : t->nodes) {
        s.cap.store(0, std::memory_order_relaxed);
        s.pinned.store(0, std::memory_order_relaxed);
        s.refusals.store(0, std::memory_order_relaxed);
    }
    t->nb_nodes = RTE_MAX_NUMA_NODES;
    t->magic.store(table_magic, std::memory_order_release);
}

// A table another process reserved may still be being initialised (its memory need not be
// zeroed yet): wait for the magic, a few stores away, at most ~1 s.
budget_table *ready(const rte_memzone *mz) noexcept
{
    auto *t = static_cast<budget_table *>(mz->addr);
    for (unsigned i = 0; i < 1'000'000; i++) {
        if (t->magic.load(std::memory_order_acquire) == table_magic &&
            t->nb_nodes == RTE_MAX_NUMA_NODES)
            return t;
        rte_pause();
    }
    EP_LOG(ERR, "numa: memzone %s has another layout; node budgets of this process are not "
                "shared", memzone_name);
    return nullptr;
}

// The memzone table, or nullptr (then the process table is used, logged).
budget_table *memzone_table() noexcept
{
    const rte_memzone *mz = rte_memzone_lookup(memzone_name);
    if (mz == nullptr) {
        mz = rte_memzone_reserve(memzone_name, sizeof(budget_table), SOCKET_ID_ANY, 0);
        if (mz != nullptr) {
            init_table(static_cast<budget_table *>(mz->addr));
            return static_cast<budget_table *>(mz->addr);
        }
        if (rte_errno == EEXIST) // another process or thread reserved it first
            mz = rte_memzone_lookup(memzone_name);
    }
    if (mz == nullptr || mz->len < sizeof(budget_table)) {
        EP_LOG(WARNING, "numa: no memzone %s (%s); node budgets of this process are not shared",
               memzone_name, rte_strerror(rte_errno));
        return nullptr;
    }
    return ready(mz);
}

budget_table &table() noexcept
{
    budget_table *t = table_in_use.load(std::memory_order_acquire);
    if (t != nullptr) [[likely]]
        return *t;
    static std::mutex mu; // first use only
    std::lock_guard lk(mu);
    t = table_in_use.load(std::memory_order_relaxed);
    if (t == nullptr) {
        const int saved = rte_errno; // the lookup's misses are not the caller's business
        t = eal_is_up() ? memzone_table() : nullptr;
        rte_errno = saved;
        table_shared.store(t != nullptr, std::memory_order_relaxed);
        if (t == nullptr)
            t = &process_table;
        table_in_use.store(t, std::memory_order_release);
    }
    return *t;
}

node_slot *slot(int node) noexcept
{
    if (node < 0 || node >= RTE_MAX_NUMA_NODES)
        return nullptr;
    return &table().nodes[node];
}

} // namespace

int node_budget_resolve(int socket_id) noexcept
{
    if (socket_id >= 0)
        return socket_id;
    if (creation_node >= 0) // a family creating its pool for a node the EAL has no memory on
        return creation_node;
    if (eal_is_up()) {
        const unsigned s = rte_socket_id(); // SOCKET_ID_ANY on a thread the EAL does not know
        if (s != unsigned(SOCKET_ID_ANY) && s < RTE_MAX_NUMA_NODES)
            return int(s);
    }
    const int cpu = sched_getcpu();
    if (cpu >= 0 && numa_available() >= 0) {
        const int n = numa_node_of_cpu(cpu);
        if (n >= 0)
            return n;
    }
    return 0;
}

bool node_budget_admit(int node, uint64_t bytes) noexcept
{
    node_slot *s = slot(node);
    if (s == nullptr) // a node no table can hold: nothing to count it against
        return true;
    uint64_t cur = s->pinned.load(std::memory_order_relaxed);
    for (;;) {
        const uint64_t cap = s->cap.load(std::memory_order_relaxed);
        // cur > cap happens after a cap was lowered below what is pinned: refuse until enough
        // was given back. `cap - cur < bytes` cannot overflow as `cur + bytes > cap` could.
        if (cap != 0 && (cur > cap || cap - cur < bytes)) {
            s->refusals.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        if (s->pinned.compare_exchange_weak(cur, cur + bytes, std::memory_order_relaxed))
            return true;
    }
}

void node_budget_give_back(int node, uint64_t bytes) noexcept
{
    node_slot *s = slot(node);
    if (s == nullptr)
        return;
    // Never below zero: a give back without its admission (a bug elsewhere) must not make the
    // node look empty for ever after. Logged, since it means the books are wrong.
    uint64_t cur = s->pinned.load(std::memory_order_relaxed);
    for (;;) {
        const uint64_t next = cur >= bytes ? cur - bytes : 0;
        if (s->pinned.compare_exchange_weak(cur, next, std::memory_order_relaxed))
            break;
    }
    if (cur < bytes)
        EP_LOG(ERR, "numa: node %d: %llu bytes given back, only %llu admitted", node,
               static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(cur));
}

int node_budget_cap_set(int node, uint64_t cap_bytes) noexcept
{
    node_slot *s = slot(node);
    if (s == nullptr)
        return -ENOENT;
    s->cap.store(cap_bytes, std::memory_order_relaxed);
    return 0;
}

int node_budget_get(int node, node_budget_figures &out) noexcept
{
    node_slot *s = slot(node);
    if (s == nullptr)
        return -ENOENT;
    out.cap_bytes = s->cap.load(std::memory_order_relaxed);
    out.pinned_bytes = s->pinned.load(std::memory_order_relaxed);
    out.refusals = s->refusals.load(std::memory_order_relaxed);
    return 0;
}

bool node_budget_shared() noexcept
{
    table();
    return table_shared.load(std::memory_order_relaxed);
}

budget_node_scope::budget_node_scope(int node) noexcept : saved_(creation_node)
{
    creation_node = node;
}

budget_node_scope::~budget_node_scope()
{
    creation_node = saved_;
}

} // namespace elastic::detail
