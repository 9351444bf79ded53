/* SPDX-License-Identifier: BSD-3-Clause */
// Multi-process use of an elastic mempool (issue 13; docs/mempool-driver.md "Multi-process").
// The binary re-executes itself (/proc/self/exe) in the roles it needs, named by
// ELASTIC_MPX_ROLE; pipes (file descriptors named in the environment) order the steps.
//   - A secondary allocates and frees stamped mbufs while the primary grows and shrinks the
//     pool: no mbuf is handed to both, the shared counters add up, everything comes home.
//   - The primary exits first (rte_eal_cleanup, the pool never freed): the secondary keeps
//     using the objects that exist; a get that needs a growth returns (no hang), and objects
//     stay consistent.
//   - The primary is killed (SIGKILL) in the middle of a growth (a slow provider: the core's
//     fault hook) with a secondary attached: the grow lock stays held by a dead process, so
//     the secondary's gets beyond the populated objects fail at once (nb_grow_busy) instead of
//     waiting, while the objects that exist still circulate.
// Not with --no-huge (secondary processes need shared hugepage files).

#include "eal_env.hpp"
#include "provider.hpp"
#include "test_mempool_common.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace elastic::test;
using std::chrono::steady_clock;

constexpr uint16_t data_room = 512;
constexpr unsigned base_objs = 256, chunk_objs = 256, n_max = base_objs + 8 * chunk_objs;
constexpr int secondary_churn_ms = 3000;
constexpr const char *pool_name = "mpx_shared";

eal_env *the_env = nullptr;

// A secondary's rte_eal_init failed: it must map the primary's memory at the same addresses,
// which something else in its address space can hold now and then (seen under ASan, whose
// shadow takes large ranges). The tests start such a secondary again (twice at most).
constexpr int attach_failed = 10;

// ---- helpers shared by the roles ----

int env_int(const char *name)
{
    const char *v = std::getenv(name);
    return v == nullptr ? -1 : std::atoi(v);
}

void send_byte(int fd, char c) { (void)!write(fd, &c, 1); }

// Waits at most ms for one byte on fd; returns it, or 0 on timeout/EOF.
char wait_byte(int fd, int ms)
{
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) != 1)
        return 0;
    char c = 0;
    return read(fd, &c, 1) == 1 ? c : 0;
}

bool eal_init_as(const std::string &prefix, bool secondary, unsigned cpu)
{
    std::vector<std::string> args{"mpx", "--no-pci", "--file-prefix=" + prefix, "-l",
                                  std::to_string(cpu), "--log-level=lib.eal:error"};
    if (secondary)
        args.push_back("--proc-type=secondary");
    std::vector<char *> argv;
    for (std::string &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    return rte_eal_init(int(args.size()), argv.data()) >= 0;
}

uint64_t *stamp_of(rte_mbuf *m) { return rte_pktmbuf_mtod(m, uint64_t *); }

// Takes up to n mbufs, stamps each with tag|seq. Returns them.
std::vector<rte_mbuf *> take_stamped(rte_mempool *mp, size_t n, uint64_t tag, uint64_t &seq)
{
    std::vector<rte_mbuf *> v;
    while (v.size() < n) {
        rte_mbuf *m = rte_pktmbuf_alloc(mp);
        if (m == nullptr)
            break;
        *stamp_of(m) = tag | seq++;
        v.push_back(m);
    }
    return v;
}

// Checks the stamps of v against what was written (the first stamp and the count), frees them.
// Returns false when one was overwritten (handed to somebody else) or belongs to another pool.
bool check_and_free(rte_mempool *mp, std::vector<rte_mbuf *> &v, uint64_t tag, uint64_t first)
{
    bool ok = true;
    for (size_t i = 0; i < v.size(); i++) {
        const char *reason = nullptr;
        ok &= v[i]->pool == mp && rte_mbuf_check(v[i], 1, &reason) == 0;
        ok &= *stamp_of(v[i]) == (tag | (first + i));
        rte_pktmbuf_free(v[i]);
    }
    v.clear();
    return ok;
}

pid_t spawn(const char *role, const std::string &prefix, std::vector<std::pair<const char *, int>> fds)
{
    fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        setenv("ELASTIC_MPX_ROLE", role, 1);
        setenv("ELASTIC_MPX_PREFIX", prefix.c_str(), 1);
        for (auto [name, fd] : fds)
            setenv(name, std::to_string(fd).c_str(), 1);
        execl("/proc/self/exe", "test_multiprocess", nullptr);
        _exit(99);
    }
    return pid;
}

// Waits (bounded) for a child; returns its exit status, 128 + signal, or -1 on timeout (then
// it is killed).
int reap(pid_t pid, int limit_ms)
{
    const auto end = steady_clock::now() + std::chrono::milliseconds(limit_ms);
    int status = 0;
    for (;;) {
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (steady_clock::now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

// Removes what a child primary of that prefix left (runtime directory, hugepage files).
void remove_prefix(const std::string &prefix)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::remove_all(fs::path("/var/run/dpdk") / prefix, ec);
    const std::string stem = prefix + "map_";
    for (fs::directory_iterator it("/dev/hugepages", ec), end; !ec && it != end; it.increment(ec))
        if (it->path().filename().string().rfind(stem, 0) == 0)
            fs::remove(it->path(), ec);
}

long prefix_files(const std::string &prefix)
{
    namespace fs = std::filesystem;
    long n = 0;
    std::error_code ec;
    const std::string stem = prefix + "map_";
    for (fs::directory_iterator it("/dev/hugepages", ec), end; !ec && it != end; it.increment(ec))
        n += it->path().filename().string().rfind(stem, 0) == 0;
    return n;
}

rte_mempool *create_shared(fake_clock *clk)
{
    elastic_mempool_params p = manual_params(base_objs, chunk_objs, clk);
    p.headroom_chunks = 0;
    return elastic_pktmbuf_pool_create(pool_name, n_max, 0, 0, data_room, SOCKET_ID_ANY, &p);
}

// ---- roles (child processes) ----

// Secondary: churns stamped mbufs for secondary_churn_ms. Exit status: bit 0 a bad stamp or
// mbuf, bit 1 nothing allocated, 10/11 no EAL / no pool.
int role_secondary_churn(const std::string &prefix)
{
    const auto cpus = eal_cpus();
    if (!eal_init_as(prefix, true, cpus.back()))
        return attach_failed;
    rte_mempool *mp = rte_mempool_lookup(pool_name);
    if (mp == nullptr || !elastic_mempool_is_elastic(mp))
        return 11;
    const uint64_t tag = uint64_t(2) << 56;
    uint64_t seq = 0, taken = 0;
    int fails = 0;
    std::mt19937 rng(7);
    const auto end = steady_clock::now() + std::chrono::milliseconds(secondary_churn_ms);
    while (steady_clock::now() < end) {
        const uint64_t first = seq;
        std::vector<rte_mbuf *> v = take_stamped(mp, 50 + rng() % 400, tag, seq);
        taken += v.size();
        if (!check_and_free(mp, v, tag, first))
            fails |= 1;
        std::this_thread::sleep_for(std::chrono::microseconds(200)); // a shared machine
    }
    if (taken == 0)
        fails |= 2;
    std::printf("secondary: %lu mbufs taken\n", (unsigned long)taken);
    rte_eal_cleanup();
    return fails;
}

// Child primary: creates the pool, grows it once, reports 'R', then on 'X' exits (the pool
// never freed) or on 'G' takes mbufs until a growth starts, which the fault hook stalls after
// reporting 'g' (the test kills it there).
int role_primary(const std::string &prefix)
{
    const int to_test = env_int("ELASTIC_MPX_OUT"), from_test = env_int("ELASTIC_MPX_IN");
    if (!eal_init_as(prefix, false, eal_cpus().front()))
        return 10;
    rte_mempool *mp = create_shared(nullptr);
    if (mp == nullptr)
        return 11;
    std::vector<rte_mbuf *> v = alloc_all(mp, base_objs + chunk_objs);
    if (v.size() != base_objs + chunk_objs)
        return 12;
    free_all(v);
    send_byte(to_test, 'R');
    const char c = wait_byte(from_test, 60000);
    if (c == 'G') {
        // The next reservation stalls (a slow provider) after saying so: killed there.
        static int out_fd;
        out_fd = to_test;
        elastic::detail::reserve_fault_set(
            [](size_t, void *) noexcept {
                send_byte(out_fd, 'g');
                std::this_thread::sleep_for(std::chrono::seconds(60));
                return 0;
            },
            nullptr);
        v = alloc_all(mp); // grows: stalls in the hook
        return 13;         // not reached when killed
    }
    rte_eal_cleanup(); // 'X' (or the test went away): exit with the pool still there
    return 0;
}

// Secondary of a primary that goes away: takes 200 mbufs, reports 'A', waits for 'C' (the
// primary is gone: exited, or killed inside a growth), then checks that the objects still
// circulate and that a get needing a growth returns at once. Exit status: bits of what failed.
int role_secondary_orphan(const std::string &prefix)
{
    const int to_test = env_int("ELASTIC_MPX_OUT"), from_test = env_int("ELASTIC_MPX_IN");
    const bool killed = std::getenv("ELASTIC_MPX_KILLED") != nullptr;
    if (!eal_init_as(prefix, true, eal_cpus().back()))
        return attach_failed;
    rte_mempool *mp = rte_mempool_lookup(pool_name);
    if (mp == nullptr || !elastic_mempool_is_elastic(mp))
        return 11;
    const uint32_t populated = xstats_of(mp).populated; // the primary is idle now
    const uint64_t tag = uint64_t(3) << 56;
    uint64_t seq = 0;
    std::vector<rte_mbuf *> v = take_stamped(mp, 200, tag, seq);
    int fails = v.size() == 200 ? 0 : 1;
    send_byte(to_test, 'A');
    if (wait_byte(from_test, 60000) != 'C')
        return 12;
    // The primary is gone. The objects held still go home and come out again. A killed
    // primary took every free object before its growth: those are lost with it.
    if (!check_and_free(mp, v, tag, 0))
        fails |= 2;
    uint64_t first = seq;
    v = take_stamped(mp, populated, tag, seq);
    const size_t can_take = v.size();
    if (killed ? can_take < 200 : can_take != populated)
        fails |= 4;
    // One more needs a growth: it returns at once, refused (no primary to map new pages for
    // a secondary; or the dead primary's growth holds the grow lock: nb_grow_busy).
    const auto t0 = steady_clock::now();
    rte_mbuf *extra = rte_pktmbuf_alloc(mp);
    const long ms = long(std::chrono::duration_cast<std::chrono::milliseconds>(
                             steady_clock::now() - t0).count());
    std::printf("secondary after the primary %s: %u populated, %zu taken, growth get %s in "
                "%ld ms\n", killed ? "was killed mid-growth" : "exited", populated, can_take,
                extra != nullptr ? "served" : "refused", ms);
    if (extra != nullptr)
        rte_pktmbuf_free(extra);
    if (ms > 1000)
        fails |= 8;
    if (!check_and_free(mp, v, tag, first))
        fails |= 16;
    first = seq;
    v = take_stamped(mp, can_take, tag, seq); // all of them home and usable again
    if (v.size() != can_take)
        fails |= 32;
    if (!check_and_free(mp, v, tag, first))
        fails |= 64;
    // What takes the grow lock (stats, maintain, trim, free) waits for the dead process's
    // growth for ever: shown, not relied on (a thread left behind, the process ends with _exit).
    std::atomic<bool> stats_back{false};
    std::thread([&] {
        elastic_mempool_xstats xs{};
        elastic_mempool_xstats_get(mp, &xs);
        stats_back = true;
    }).detach();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::printf("secondary: xstats %s\n", stats_back ? "returned" : "blocked (grow lock held)");
    if (!killed && !stats_back)
        fails |= 128;
    send_byte(to_test, 'D');
    fflush(nullptr);
    // No rte_eal_cleanup: with the primary gone its IPC would wait for answers.
    _exit(fails);
}

// ---- the tests (the test process is a primary of its own prefix) ----

TEST(MultiProcess, SecondaryAllocatesWhileThePrimaryGrowsAndShrinks)
{
    if (no_huge())
        GTEST_SKIP() << "secondary processes need shared hugepage files (not with --no-huge)";
    fake_clock clk;
    rte_mempool *mp = create_shared(&clk);
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);
    pid_t pid = spawn("secondary_churn", the_env->prefix(), {});
    ASSERT_GT(pid, 0);
    int attempts = 0;
    const uint64_t tag = uint64_t(1) << 56;
    uint64_t seq = 0;
    int cycles = 0, bad = 0, status = -2;
    std::mt19937 rng(3);
    const auto end = steady_clock::now() + std::chrono::seconds(30);
    while (steady_clock::now() < end) {
        const uint64_t first = seq;
        std::vector<rte_mbuf *> v = take_stamped(mp, 200 + rng() % 1200, tag, seq);
        bad += !check_and_free(mp, v, tag, first);
        clk.advance_ms(10000); // idle: the trim releases what is home
        EXPECT_GE(elastic_mempool_trim(mp), 0);
        cycles++;
        // Leaves room for the secondary's memory-map lock (the growths and releases take it
        // for writing) and for the machine.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            if (status == attach_failed && attempts++ < 2) { // see attach_failed
                std::printf("secondary could not attach: again\n");
                pid = spawn("secondary_churn", the_env->prefix(), {});
                ASSERT_GT(pid, 0);
                status = -2;
                continue;
            }
            break;
        }
    }
    if (status == -2)
        status = reap(pid, 1000);
    EXPECT_EQ(status, 0) << "secondary failures (bits: 1 stamp, 2 nothing allocated)";
    EXPECT_EQ(bad, 0);
    const elastic_pool_stats st = stats_of(mp);
    std::printf("primary: %d cycles; pool: %lu grows, %lu shrinks, %lu allocs, %lu grow_busy\n",
                cycles, (unsigned long)st.nb_grows, (unsigned long)st.nb_shrinks,
                (unsigned long)st.nb_allocs, (unsigned long)xstats_of(mp).nb_grow_busy);
    EXPECT_GE(cycles, 5);
    EXPECT_GE(st.nb_grows, 2u);
    EXPECT_GE(st.nb_shrinks, 1u);
    EXPECT_EQ(st.nb_allocs, st.nb_frees);
    EXPECT_EQ(st.in_use_bytes, 0u);
    EXPECT_EQ(rte_mempool_in_use_count(mp), 0u);
    // The secondary's last gets and growths left marks on their chunks (a process that does
    // not own the pool's custom clock marks; the owner's next tick turns a mark into its
    // time): the first trim sees those chunks as just used, the one after an idle period
    // releases them. (Before the fix a chunk the secondary grew carried the secondary's
    // monotonic time, far ahead of this fake clock: it and every chunk below it stayed.)
    for (int i = 0; i < 2; i++) {
        clk.advance_ms(10000);
        EXPECT_GE(elastic_mempool_trim(mp), 0);
    }
    EXPECT_EQ(stats_of(mp).nb_chunks, 1u);
    EXPECT_EQ(xstats_of(mp).free_objs, base_objs);
    rte_mempool_free(mp);
}

struct child_pipes {
    int to_child[2] = {-1, -1}, from_child[2] = {-1, -1};
    child_pipes()
    {
        EXPECT_EQ(pipe(to_child), 0);
        EXPECT_EQ(pipe(from_child), 0);
    }
    ~child_pipes()
    {
        for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]})
            close(fd);
    }
    std::vector<std::pair<const char *, int>> for_child() const
    {
        return {{"ELASTIC_MPX_IN", to_child[0]}, {"ELASTIC_MPX_OUT", from_child[1]}};
    }
    // After the spawn: the child's ends closed here, so that its death reads as end of file.
    void spawned()
    {
        close(to_child[0]);
        close(from_child[1]);
        to_child[0] = from_child[1] = -1;
    }
};

// Runs a child primary and an orphan secondary of prefix `prefix`; `kill_in_growth` kills the
// primary in the middle of a growth instead of letting it exit. Returns the secondary's status.
int primary_goes_away(const std::string &prefix, bool kill_in_growth)
{
    child_pipes prim;
    const pid_t ppid = spawn("primary", prefix, prim.for_child());
    prim.spawned();
    if (ppid <= 0 || wait_byte(prim.from_child[0], 30000) != 'R') {
        reap(ppid, 0);
        return -10;
    }
    if (kill_in_growth)
        setenv("ELASTIC_MPX_KILLED", "1", 1);
    pid_t spid = -1;
    std::unique_ptr<child_pipes> secp;
    for (int attempt = 0; attempt < 3; attempt++) {
        secp = std::make_unique<child_pipes>();
        spid = spawn("secondary_orphan", prefix, secp->for_child());
        secp->spawned();
        if (spid > 0 && wait_byte(secp->from_child[0], 30000) == 'A')
            break;
        const int st = reap(spid, 5000);
        spid = -1;
        if (st != attach_failed)
            break;
        std::printf("secondary could not attach: again\n");
    }
    unsetenv("ELASTIC_MPX_KILLED");
    if (spid <= 0) {
        reap(ppid, 0);
        return -11;
    }
    if (kill_in_growth) {
        send_byte(prim.to_child[1], 'G');
        const char g = wait_byte(prim.from_child[0], 30000);
        kill(ppid, SIGKILL); // in the middle of its growth: the grow lock is held
        EXPECT_EQ(g, 'g') << "the primary did not reach its growth";
        EXPECT_EQ(reap(ppid, 10000), 128 + SIGKILL);
    } else {
        send_byte(prim.to_child[1], 'X');
        EXPECT_EQ(reap(ppid, 30000), 0) << "the primary's exit";
    }
    send_byte(secp->to_child[1], 'C');
    EXPECT_EQ(wait_byte(secp->from_child[0], 40000), 'D');
    const int status = reap(spid, 30000);
    remove_prefix(prefix);
    EXPECT_EQ(prefix_files(prefix), 0);
    return status;
}

TEST(MultiProcess, PrimaryExitsFirstTheSecondaryKeepsTheObjectsThatExist)
{
    if (no_huge())
        GTEST_SKIP() << "secondary processes need shared hugepage files (not with --no-huge)";
    const std::string prefix = "ept_mpxexit_" + std::to_string(getpid());
    EXPECT_EQ(primary_goes_away(prefix, false), 0)
        << "secondary failures (bits: 1 first take, 2/16/64 stamps, 4/32 populated objects, "
           "8 the growth get did not return within 1 s, 128 stats blocked)";
}

TEST(MultiProcess, PrimaryKilledMidGrowthTheSecondaryNeverWaitsForIt)
{
    if (no_huge())
        GTEST_SKIP() << "secondary processes need shared hugepage files (not with --no-huge)";
    const std::string prefix = "ept_mpxkill_" + std::to_string(getpid());
    EXPECT_EQ(primary_goes_away(prefix, true), 0)
        << "secondary failures (bits: 1 first take, 2/16/64 stamps, 4/32 populated objects, "
           "8 the growth get did not return within 1 s)";
}

} // namespace

int main(int argc, char **argv)
{
    if (const char *role = std::getenv("ELASTIC_MPX_ROLE")) {
        const std::string r = role, prefix = std::getenv("ELASTIC_MPX_PREFIX");
        alarm(90); // a role never outlives its test
        if (r == "secondary_churn")
            return role_secondary_churn(prefix);
        if (r == "primary")
            return role_primary(prefix);
        if (r == "secondary_orphan")
            return role_secondary_orphan(prefix);
        return 98;
    }
    ::testing::InitGoogleTest(&argc, argv);
    the_env = new eal_env("multiprocess");
    ::testing::AddGlobalTestEnvironment(the_env);
    return elastic::test::exit_status(RUN_ALL_TESTS());
}
