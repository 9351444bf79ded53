// SPDX-License-Identifier: BSD-3-Clause
#include "provider.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <new>

#include <numa.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_memzone.h>

#include "log.hpp"

namespace elastic::detail {

const char *provider_name(provider_kind k) noexcept
{
    switch (k) {
    case provider_kind::memzone: return "memzone";
    case provider_kind::hugetlb: return "hugetlb";
    case provider_kind::heap: return "heap";
    }
    return "?";
}

size_t memzone_page_size() noexcept
{
    if (!eal_is_up() || !rte_eal_has_hugepages())
        return 0;
    size_t pg = 0;
    rte_memseg_list_walk([](const rte_memseg_list *msl, void *arg) {
        auto *p = static_cast<size_t *>(arg);
        if (msl->page_sz != 0 && (*p == 0 || msl->page_sz < *p))
            *p = msl->page_sz;
        return 0;
    }, &pg);
    return pg;
}

size_t hugetlb_page_size() noexcept
{
    static const size_t pg = [] {
        size_t kib = 0;
        if (std::FILE *f = std::fopen("/proc/meminfo", "r")) {
            char line[128];
            while (kib == 0 && std::fgets(line, sizeof(line), f) != nullptr)
                if (std::sscanf(line, "Hugepagesize: %zu kB", &kib) != 1)
                    kib = 0;
            std::fclose(f);
        }
        return kib != 0 ? kib << 10 : size_t(RTE_PGSIZE_2M);
    }();
    return pg;
}

bool socket_id_valid(int socket) noexcept
{
    if (socket == SOCKET_ID_ANY)
        return true;
    if (socket < 0 || socket >= RTE_MAX_NUMA_NODES)
        return false;
    if (!eal_is_up())
        return true; // hwloc/libnuma nodes: mbind says later
    for (unsigned i = 0; i < rte_socket_count(); i++)
        if (rte_socket_id_by_idx(i) == socket)
            return true;
    return false;
}

bool name_chars_valid(const char *name) noexcept
{
    for (const unsigned char *c = reinterpret_cast<const unsigned char *>(name); *c != 0; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            return false;
    return true;
}

bool eal_is_up() noexcept
{
    // The EAL counts its lcores during rte_eal_init(); before it the count is 0.
    return rte_lcore_count() > 0;
}

namespace {

// DPDK's malloc element header before a memzone's first byte (struct malloc_elem, 2 cache lines
// in 22.11 release builds; the mempool face plans with the same number).
constexpr size_t malloc_hdr = 2 * RTE_CACHE_LINE_SIZE;

class memzone_chunk final : public chunk_memory {
public:
    // `whole_pages`: the memzone was reserved as whole pages less the malloc header, so the
    // chunk starts at the page its header is on (4 KiB-aligned, that 4 KiB not usable).
    memzone_chunk(const rte_memzone *mz, bool whole_pages) noexcept : mz_(mz)
    {
        const uintptr_t a = reinterpret_cast<uintptr_t>(mz->addr);
        if (whole_pages) {
            const uintptr_t lo = a & ~uintptr_t(memzone_head - 1);
            addr_ = reinterpret_cast<void *>(lo);
            size_ = a + mz->len - lo;
            head_ = a == lo ? 0 : memzone_head;
        } else {
            addr_ = mz->addr;
            size_ = mz->len;
        }
        va_mode_ = rte_eal_iova_mode() == RTE_IOVA_VA;
    }
    ~memzone_chunk() override
    {
        if (rte_memzone_free(mz_) != 0)
            EP_LOG(ERR, "freeing memzone %s failed", mz_->name);
    }
    rte_iova_t iova(const void *p) const noexcept override
    {
        if (va_mode_)
            return rte_iova_t(uintptr_t(p));
        // PA mode: the memzone need not be IOVA-contiguous; ask the memseg map.
        return rte_mem_virt2iova(p);
    }

private:
    const rte_memzone *mz_;
    bool va_mode_;
};

class mmap_chunk final : public chunk_memory {
public:
    mmap_chunk(void *addr, size_t size) noexcept
    {
        addr_ = addr;
        size_ = size;
    }
    ~mmap_chunk() override { munmap(addr_, size_); }
    rte_iova_t iova(const void *) const noexcept override { return RTE_BAD_IOVA; }
};

std::atomic<uint32_t> memzone_seq{0};

std::unique_ptr<chunk_memory> reserve_memzone(size_t size, int socket, const char *tag) noexcept
{
    if (!eal_is_up()) {
        rte_errno = ENOTSUP;
        return nullptr;
    }
    // A size of whole hugepages: ask for them less the malloc header, cache-line aligned.
    const size_t pg = memzone_page_size();
    const bool whole_pages = pg != 0 && size % pg == 0 && size > memzone_head;
    const size_t len = whole_pages ? size - malloc_hdr : size;
    // Smaller than a page: aligned to their own size rounded up to a power of two, so a chunk
    // lies inside one page (its buffers IOVA-contiguous) and chunks pack into pages the heap
    // shares with the process's other DPDK memory (no page of their own, no header spilling
    // onto another: pinned_bytes counts their bytes). Larger sizes that are not whole pages:
    // page-aligned; they map up to two pages more than they count (the last one's rest and
    // the one their header spills onto).
    const size_t huge = rte_eal_has_hugepages() ? (pg != 0 ? pg : size_t(RTE_PGSIZE_2M))
                                                : size_t(RTE_PGSIZE_4K);
    const unsigned align = whole_pages ? RTE_CACHE_LINE_SIZE
                           : size < huge ? unsigned(std::bit_ceil(std::max<size_t>(size,
                                                                        RTE_CACHE_LINE_SIZE)))
                                         : unsigned(huge);
    for (int attempt = 0; attempt < 8; attempt++) {
        char name[RTE_MEMZONE_NAMESIZE];
        snprintf(name, sizeof(name), "ep%d_%s_%u", int(getpid() % 100000), tag,
                 memzone_seq.fetch_add(1, std::memory_order_relaxed));
        const rte_memzone *mz = rte_memzone_reserve_aligned(name, len, socket, 0, align);
        if (mz != nullptr) {
            const uintptr_t a = reinterpret_cast<uintptr_t>(mz->addr);
            if (whole_pages && (a - malloc_hdr) % pg != 0) {
                // It went into pages the heap held already (freed memory still mapped): the
                // chunk would not start on a hugepage, so a buffer could cross one (not
                // IOVA-contiguous in PA mode). Rare; take a hugepage-aligned memzone instead,
                // which may map one page more than counted.
                rte_memzone_free(mz);
                EP_LOG(DEBUG, "memzone of %zu bytes landed inside mapped pages: aligned instead",
                       len);
                mz = rte_memzone_reserve_aligned(name, size, socket, 0, unsigned(pg));
                if (mz == nullptr)
                    break;
                auto c = std::unique_ptr<chunk_memory>(new (std::nothrow) memzone_chunk(mz, false));
                if (!c) {
                    rte_memzone_free(mz);
                    rte_errno = ENOMEM;
                }
                return c;
            }
            auto c = std::unique_ptr<chunk_memory>(new (std::nothrow) memzone_chunk(mz, whole_pages));
            if (!c) {
                rte_memzone_free(mz);
                rte_errno = ENOMEM;
            }
            return c;
        }
        if (rte_errno != EEXIST)
            break;
    }
    EP_LOG(WARNING, "memzone of %zu bytes on socket %d: %s", size, socket, rte_strerror(rte_errno));
    rte_errno = ENOMEM;
    return nullptr;
}

std::unique_ptr<chunk_memory> reserve_mmap(size_t size, int socket, bool pinned) noexcept
{
    void *addr = MAP_FAILED;
    size_t len = size;
    if (pinned) {
        // MAP_HUGETLB maps whole hugepages; pools ask for whole ones (pool_config).
        const size_t huge = hugetlb_page_size();
        const size_t hlen = (size + huge - 1) / huge * huge;
        addr = mmap(nullptr, hlen, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
        if (addr != MAP_FAILED)
            len = hlen;
    }
    if (addr == MAP_FAILED)
        addr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (addr == MAP_FAILED) {
        EP_LOG(WARNING, "mmap of %zu bytes failed: %s", len, strerror(errno));
        rte_errno = ENOMEM;
        return nullptr;
    }
    if (pinned) {
        if (socket >= 0 && numa_available() >= 0 && socket <= numa_max_node())
            numa_tonode_memory(addr, len, socket);
        if (mlock(addr, len) != 0)
            EP_LOG(WARNING, "mlock of %zu bytes failed (%s): chunk is not pinned", len,
                   strerror(errno));
    }
    auto c = std::unique_ptr<chunk_memory>(new (std::nothrow) mmap_chunk(addr, len));
    if (!c) {
        munmap(addr, len);
        rte_errno = ENOMEM;
    }
    return c;
}

} // namespace

namespace {
struct fault_hook {
    reserve_fault_fn *fn;
    void *ctx;
};
std::atomic<const fault_hook *> fault{nullptr};
fault_hook fault_slots[2]; // set alternates between them: a hook never changes under a reader
unsigned fault_next = 0;
} // namespace

void reserve_fault_set(reserve_fault_fn *fn, void *ctx) noexcept
{
    if (fn == nullptr) {
        fault.store(nullptr, std::memory_order_release);
        return;
    }
    fault_hook &h = fault_slots[fault_next++ % 2];
    h = {fn, ctx};
    fault.store(&h, std::memory_order_release);
}

int reserve_fault_check(size_t size) noexcept
{
    const fault_hook *h = fault.load(std::memory_order_acquire);
    return h == nullptr ? 0 : h->fn(size, h->ctx);
}

std::unique_ptr<chunk_memory> reserve_chunk(provider_kind kind, size_t size, int socket,
                                            const char *tag) noexcept
{
    if (const int err = reserve_fault_check(size); err != 0) {
        EP_LOG(WARNING, "%s chunk of %zu bytes refused by fault injection (%d)",
               provider_name(kind), size, err);
        rte_errno = ENOMEM;
        return nullptr;
    }
    switch (kind) {
    case provider_kind::memzone: return reserve_memzone(size, socket, tag);
    case provider_kind::hugetlb: return reserve_mmap(size, socket, true);
    case provider_kind::heap: return reserve_mmap(size, socket, false);
    }
    rte_errno = EINVAL;
    return nullptr;
}

} // namespace elastic::detail
