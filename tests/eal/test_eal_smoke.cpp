/* SPDX-License-Identifier: BSD-3-Clause */
// Smoke test of the EAL test environment (eal_env.hpp): the EAL is up with the arguments we
// gave it, and a 4 MiB memzone takes hugepages from the kernel and gives them back when freed.

#include "eal_env.hpp"

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_memory.h>
#include <rte_memzone.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

namespace {

constexpr size_t mz_size = size_t{4} << 20;
constexpr unsigned mz_align = 2u << 20;
constexpr long page_size = 2l << 20;

bool eal_args_say_no_huge()
{
    const char *extra = std::getenv("ELASTIC_EAL_ARGS");
    if (extra == nullptr)
        return false;
    std::istringstream words(extra);
    for (std::string word; words >> word;) {
        if (word == "--no-huge")
            return true;
    }
    return false;
}

TEST(EalSmoke, EalRunsWithOurArguments)
{
    EXPECT_EQ(rte_eal_process_type(), RTE_PROC_PRIMARY);
    EXPECT_EQ(rte_lcore_count(), elastic::test::eal_cpus().size());
    EXPECT_EQ(rte_eal_has_hugepages() == 0, eal_args_say_no_huge());
    if (eal_args_say_no_huge()) {
        EXPECT_TRUE(elastic::test::no_huge());
    }
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    std::string tail = "/ept_eal_smoke_";
    tail += std::to_string(getpid());
    ASSERT_GE(runtime_dir.size(), tail.size());
    EXPECT_EQ(runtime_dir.substr(runtime_dir.size() - tail.size()), tail);
}

TEST(EalSmoke, MemzoneReserveLookupFree)
{
    const rte_memzone *mz = rte_memzone_reserve_aligned("smoke_mz", mz_size, SOCKET_ID_ANY, 0,
        mz_align);
    ASSERT_NE(mz, nullptr) << rte_strerror(rte_errno);
    EXPECT_GE(mz->len, mz_size);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(mz->addr) % mz_align, 0u);
    EXPECT_NE(mz->iova, RTE_BAD_IOVA);
    EXPECT_EQ(rte_memzone_lookup("smoke_mz"), mz);

    // The whole zone is ours to write.
    std::memset(mz->addr, 0xa5, mz_size);
    const auto *bytes = static_cast<const unsigned char *>(mz->addr);
    EXPECT_EQ(bytes[0], 0xa5);
    EXPECT_EQ(bytes[mz_size - 1], 0xa5);

    // A second zone of the same name is refused.
    EXPECT_EQ(rte_memzone_reserve_aligned("smoke_mz", 4096, SOCKET_ID_ANY, 0, 4096), nullptr);
    EXPECT_EQ(rte_errno, EEXIST);

    EXPECT_EQ(rte_memzone_free(mz), 0);
    EXPECT_EQ(rte_memzone_lookup("smoke_mz"), nullptr);
}

TEST(EalSmoke, HugepagesGoBackToTheKernel)
{
    if (elastic::test::no_huge())
        GTEST_SKIP() << "no hugepages (--no-huge): HugePages_Free does not move";

    const long before = elastic::test::hugepages_free();
    ASSERT_GE(before, 0) << "cannot read HugePages_Free from /proc/meminfo";

    const rte_memzone *mz = rte_memzone_reserve_aligned("smoke_mz_huge", mz_size, SOCKET_ID_ANY,
        RTE_MEMZONE_2MB, mz_align);
    ASSERT_NE(mz, nullptr) << rte_strerror(rte_errno);
    EXPECT_EQ(mz->hugepage_sz, static_cast<uint64_t>(page_size));
    const long reserved = elastic::test::hugepages_free();
    // 4 MiB at a 2 MiB boundary spans two whole pages: the heap had none of them mapped.
    EXPECT_LE(reserved, before - static_cast<long>(mz_size / page_size));

    ASSERT_EQ(rte_memzone_free(mz), 0);
    const long freed = elastic::test::hugepages_free();
    EXPECT_GE(freed, before) << "the memzone's hugepages did not go back to the kernel";
}

} // namespace

ELASTIC_EAL_TEST_MAIN("eal_smoke")
