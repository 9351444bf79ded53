/* SPDX-License-Identifier: BSD-3-Clause */
// Hugepages taken by another process during growth (issue 13), run by test_hugepages_taken.sh:
// the EAL uses a private hugetlbfs whose size= quota bounds the pages (ELASTIC_HUGE_DIR). A child
// process fills what is left of it with a file of its own; both faces' growth then fails
// cleanly (ENOMEM / a refused get, nb_grow_fail, last limit "provider", nothing half-added, a
// waiter stays queued), and once the file is removed (the pages return) they grow again, up to
// their walls. At the end every hugepage file of this process in the mount is back to its count
// before the pools.

#include "eal_env.hpp"
#include "test_mempool_common.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace elastic::test;

constexpr size_t hugepage = 2 * 1024 * 1024;
constexpr long max_hog_pages = 64; // more than the mount can hold: bounded anyway

std::string huge_dir() { return std::getenv("ELASTIC_HUGE_DIR"); }

// This process's hugepage files in the mount (<file-prefix>map_*).
long own_files()
{
    namespace fs = std::filesystem;
    const std::string prefix =
        fs::path(rte_eal_get_runtime_dir()).filename().string() + "map_";
    long n = 0;
    std::error_code ec;
    for (fs::directory_iterator it(huge_dir(), ec), end; !ec && it != end; it.increment(ec))
        n += it->path().filename().string().rfind(prefix, 0) == 0;
    return n;
}

// Another process takes every page left in the mount: it fallocates a file page by page until
// the quota refuses, then exits (the file keeps the pages). Returns the pages taken.
long take_the_rest(const std::string &file)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    const pid_t pid = fork();
    if (pid == 0) { // only async-signal-safe calls here: the parent has threads
        long n = 0;
        const int fd = open(file.c_str(), O_CREAT | O_RDWR, 0600);
        while (fd >= 0 && n < max_hog_pages &&
               fallocate(fd, 0, off_t(n) * off_t(hugepage), off_t(hugepage)) == 0)
            n++;
        (void)!write(fds[1], &n, sizeof(n));
        _exit(0);
    }
    close(fds[1]);
    long n = -1;
    if (read(fds[0], &n, sizeof(n)) != ssize_t(sizeof(n)))
        n = -1;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return n;
}

void on_buf(elastic_pool *, void *buf, void *arg)
{
    static_cast<std::vector<void *> *>(arg)->push_back(buf);
}

TEST(HugepagesTaken, GrowthFailsCleanlyWhileAnotherProcessHoldsThePagesAndResumesAfter)
{
    ASSERT_NE(std::getenv("ELASTIC_HUGE_DIR"), nullptr) << "run by test_hugepages_taken.sh";
    const long files_before = own_files();

    elastic_pool_params p;
    elastic_pool_params_init(&p);
    p.name = "taken_var";
    p.base_size = 2 * hugepage;
    p.chunk_size = hugepage;
    p.wall_size = 2 * hugepage + 6 * hugepage;
    p.max_buf_size = 512 * 1024;
    p.flags = ELASTIC_POOL_F_PROVIDER_MEMZONE | ELASTIC_POOL_F_MANUAL_TICK;
    elastic_pool *pool = elastic_pool_create(&p);
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);

    fake_clock clk;
    elastic_mempool_params mpp = manual_params(256, 512, &clk);
    mpp.headroom_chunks = 0;
    rte_mempool *mp = elastic_mempool_create("taken_mp", 256 + 4 * 512, 2048, 0, 0, nullptr,
                                             nullptr, nullptr, nullptr, SOCKET_ID_ANY, 0, &mpp);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);

    const std::string hog = huge_dir() + "/hog_" + std::to_string(getpid());
    const long taken = take_the_rest(hog);
    std::printf("another process took %ld hugepages of the mount\n", taken);
    ASSERT_GT(taken, 0);
    ASSERT_LT(taken, max_hog_pages);

    // Variable-size face: fill until a growth is needed; the provider refuses it (the heap may
    // still have room in pages it maps, so a few growths can succeed first).
    std::vector<void *> bufs;
    int err = 0;
    for (int i = 0; i < 64; i++) {
        void *b = elastic_buf_alloc(pool, 512 * 1024);
        if (b == nullptr) {
            err = rte_errno;
            break;
        }
        bufs.push_back(b);
    }
    EXPECT_EQ(err, ENOMEM);
    elastic_pool_stats st{};
    ASSERT_EQ(elastic_pool_stats_get(pool, &st), 0);
    EXPECT_GE(st.nb_grow_fail, 1u);
    EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_PROVIDER));
    EXPECT_LT(st.pinned_bytes, p.wall_size);
    EXPECT_EQ(st.pinned_bytes, p.base_size + uint64_t(st.nb_chunks - 1) * p.chunk_size);
    EXPECT_EQ(st.in_use_bytes, bufs.size() * 512 * 1024);
    const uint32_t chunks_while_taken = st.nb_chunks;
    std::vector<void *> got;
    ASSERT_EQ(elastic_buf_alloc_async(pool, 512 * 1024, on_buf, &got), 0);
    EXPECT_EQ(elastic_pool_maintain(pool), 0); // retries, still refused
    EXPECT_TRUE(got.empty());

    // Mempool face: gets until refused.
    std::vector<void *> objs;
    for (int i = 0; i < 256 + 4 * 512; i++) {
        void *o = nullptr;
        if (rte_mempool_get(mp, &o) != 0)
            break;
        objs.push_back(o);
    }
    elastic_pool_stats mst = stats_of(mp);
    EXPECT_LT(objs.size(), size_t(256 + 4 * 512));
    EXPECT_GE(mst.nb_grow_fail, 1u);
    EXPECT_EQ(mst.last_limit, uint32_t(ELASTIC_LIMIT_PROVIDER));
    EXPECT_EQ(xstats_of(mp).populated, objs.size());
    std::printf("while taken: var pool %u chunks, mempool %zu objects in %u chunks\n",
                chunks_while_taken, objs.size(), mst.nb_chunks);

    // The pages return.
    ASSERT_EQ(unlink(hog.c_str()), 0);
    EXPECT_EQ(elastic_pool_maintain(pool), 0);
    ASSERT_EQ(got.size(), 1u) << "the waiter is served once the pages are back";
    bufs.push_back(got[0]);
    for (int i = 0; i < 64; i++) {
        void *b = elastic_buf_alloc(pool, 512 * 1024);
        if (b == nullptr) {
            EXPECT_EQ(rte_errno, ENOBUFS); // the wall now, not the provider
            break;
        }
        bufs.push_back(b);
    }
    ASSERT_EQ(elastic_pool_stats_get(pool, &st), 0);
    EXPECT_EQ(st.pinned_bytes, p.wall_size);
    EXPECT_EQ(st.last_limit, uint32_t(ELASTIC_LIMIT_WALL));
    for (;;) {
        void *o = nullptr;
        if (rte_mempool_get(mp, &o) != 0)
            break;
        objs.push_back(o);
    }
    EXPECT_EQ(objs.size(), size_t(256 + 4 * 512));
    EXPECT_EQ(xstats_of(mp).populated, 256u + 4 * 512);

    for (void *b : bufs)
        EXPECT_EQ(elastic_buf_free(pool, b), 0);
    for (void *o : objs)
        rte_mempool_put(mp, o);
    elastic_pool_free(pool);
    rte_mempool_free(mp);
    EXPECT_EQ(own_files(), files_before) << "every hugepage of the pools went back";
}

} // namespace

int main(int argc, char **argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    const char *dir = std::getenv("ELASTIC_HUGE_DIR");
    if (dir == nullptr) {
        std::printf("SKIP: run by test_hugepages_taken.sh (ELASTIC_HUGE_DIR not set)\n");
        return 77;
    }
    ::testing::AddGlobalTestEnvironment(
        new elastic::test::eal_env("hugepages_taken", {"--huge-dir", dir}));
    return elastic::test::exit_status(RUN_ALL_TESTS());
}
