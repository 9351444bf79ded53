// SPDX-License-Identifier: BSD-3-Clause
// Chunk providers: where a chunk's pinned memory comes from (patent step 518: an additional block,
// not contiguous with the others). One small interface, three implementations:
//   memzone  DPDK EAL running: rte_memzone_reserve_aligned on the pool's socket, real IOVA;
//            freeing the memzone gives the hugepages back to the kernel. With hugepages a chunk
//            of N hugepages maps exactly N: the memzone is N pages less its malloc header, so
//            DPDK's heap grows by N pages, puts the header at their start and the memzone right
//            after it. The chunk then starts at the first page (hugepage-aligned, so buffers up
//            to a hugepage stay IOVA-contiguous) and its first 4 KiB (the header's) are not
//            usable: head() says so (memzone_pages()).
//   hugetlb  no EAL: mmap with huge pages when the kernel has them (4 KiB pages otherwise),
//            mbind to the node (libnuma), mlock. No IOVA. Pools size its chunks in whole
//            hugepages (hugetlb_page_size()), so a chunk maps exactly its size either way.
//   heap     ordinary anonymous pages, not pinned: unit tests and trace replay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include <rte_memory.h>

namespace elastic::detail {

enum class provider_kind { memzone, hugetlb, heap };

const char *provider_name(provider_kind k) noexcept;

// One reserved chunk of memory. Destroying it gives the memory back.
class chunk_memory {
public:
    virtual ~chunk_memory() = default;
    // [addr(), addr() + size()): the chunk, 4 KiB-aligned; its first head() bytes (0 or 4 KiB)
    // hold somebody else's data (the memzone's malloc header) and are never handed out.
    void *addr() const noexcept { return addr_; }
    size_t size() const noexcept { return size_; }
    size_t head() const noexcept { return head_; }
    // IOVA of a byte inside the chunk, or RTE_BAD_IOVA when the provider has none.
    virtual rte_iova_t iova(const void *p) const noexcept = 0;

protected:
    void *addr_ = nullptr;
    size_t size_ = 0;
    size_t head_ = 0;
};

// The page size memzone chunks are made of: the smallest hugepage size the EAL has memory of,
// or 0 without hugepages (--no-huge) or without the EAL. Chunks of the memzone provider are
// whole multiples of it and hold exactly their pages (see memzone above).
size_t memzone_page_size() noexcept;

// The kernel's default hugepage size (Hugepagesize in /proc/meminfo, read once): what the
// hugetlb provider's MAP_HUGETLB maps; 2 MiB when it cannot be read.
size_t hugetlb_page_size() noexcept;

// Bytes at the start of a memzone chunk that are not usable (its malloc header's 4 KiB page).
inline constexpr size_t memzone_head = 4096;

// Reserve `size` bytes on `socket` (SOCKET_ID_ANY allowed). Returns nullptr with rte_errno set
// (ENOMEM when the memory is not there). `tag` makes memzone names unique and readable.
std::unique_ptr<chunk_memory> reserve_chunk(provider_kind kind, size_t size, int socket,
                                            const char *tag) noexcept;

// Fault injection, for tests (issue 13). While a hook is set, every chunk reservation of either
// face (reserve_chunk, and the memzones of elastic mempools) first calls it with the bytes
// wanted; a non-zero answer refuses that reservation as the provider would (nothing reserved,
// rte_errno ENOMEM, counted in nb_grow_fail). The hook may sleep: a slow provider. It runs under
// the pool's growth lock, in any thread that grows. Internal C++, not exported by the shared
// library: tests that link the core set it. nullptr clears it.
using reserve_fault_fn = int(size_t size, void *ctx);
void reserve_fault_set(reserve_fault_fn *fn, void *ctx) noexcept;
// 0 when there is no hook or it lets this reservation go on.
int reserve_fault_check(size_t size) noexcept;

// Whether the DPDK EAL has been initialised in this process.
bool eal_is_up() noexcept;

// Whether a pool may ask for memory on `socket`: SOCKET_ID_ANY, or a node number below
// RTE_MAX_NUMA_NODES that the EAL knows (when it runs). Anything else is EINVAL for every API.
bool socket_id_valid(int socket) noexcept;

// Whether a pool name can be shown as it is in telemetry's JSON and in logs: printable ASCII
// (0x20..0x7e) without '"' and '\\'.
bool name_chars_valid(const char *name) noexcept;

} // namespace elastic::detail
