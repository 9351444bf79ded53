/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

// The GoogleTest environment every EAL test binary runs under: it starts the EAL once, before
// the first test, and stops it after the last one, leaving nothing behind.
//
//   EAL arguments: <name> --no-pci --file-prefix=ept_<name>_<pid> -l <first two cpus we may use>
//                  --log-level=lib.eal:error <words of $ELASTIC_EAL_ARGS>
//
// scripts/setup.sh exports ELASTIC_EAL_ARGS="--no-huge -m 512" and ELASTIC_NO_HUGE=1 on machines
// without hugepages; tests that count HugePages_Free skip themselves there (no_huge()).
// A test file ends with ELASTIC_EAL_TEST_MAIN("name") instead of linking gtest_main: a skipped
// test, or an EAL that cannot start for want of permission or memory, exits 77 (meson: SKIP).

#include <gtest/gtest.h>

#include "../gtest_exit.hpp"

#include <rte_eal.h>
#include <rte_errno.h>

#include <sched.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace elastic::test {

/// HugePages_Free from /proc/meminfo (default hugepage size), or -1 when it cannot be read.
inline long hugepages_free() noexcept
{
    std::FILE *f = std::fopen("/proc/meminfo", "r");
    if (f == nullptr)
        return -1;
    long value = -1;
    char line[256];
    while (std::fgets(line, sizeof(line), f) != nullptr) {
        if (std::sscanf(line, "HugePages_Free: %ld", &value) == 1)
            break;
    }
    std::fclose(f);
    return value;
}

/// True when the run is without hugepages: ELASTIC_NO_HUGE is set (and not "0"), or the EAL
/// reports that it runs without them (--no-huge).
inline bool no_huge() noexcept
{
    const char *env = std::getenv("ELASTIC_NO_HUGE");
    if (env != nullptr && *env != '\0' && std::strcmp(env, "0") != 0)
        return true;
    return rte_eal_has_hugepages() == 0;
}

/// The -l list given to the EAL: the first two CPUs this process may run on ("0,1"), or the
/// only one. Read once, before the EAL pins the main thread to one of them.
inline const std::vector<unsigned> &eal_cpus()
{
    static const std::vector<unsigned> cpus = [] {
        std::vector<unsigned> list;
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof(set), &set) == 0) {
            for (unsigned cpu = 0; cpu < CPU_SETSIZE && list.size() < 2; cpu++) {
                if (CPU_ISSET(cpu, &set))
                    list.push_back(cpu);
            }
        }
        if (list.empty())
            list.push_back(0);
        return list;
    }();
    return cpus;
}

/// Runs rte_eal_init once for the whole test binary and rte_eal_cleanup at the end, then removes
/// the EAL's runtime directory and hugepage files of its own --file-prefix.
class eal_env : public ::testing::Environment {
public:
    explicit eal_env(std::string name) : name_(sanitized(std::move(name)))
    {
        prefix_ = "ept_";
        prefix_ += name_;
        prefix_ += '_';
        prefix_ += std::to_string(getpid());
    }

    /// Same, with extra EAL arguments placed before those of $ELASTIC_EAL_ARGS (e.g. a service
    /// lcore: {"-S", "1"}).
    eal_env(std::string name, std::vector<std::string> extra_args) : eal_env(std::move(name))
    {
        extra_ = std::move(extra_args);
    }

    /// This binary's --file-prefix (ept_<name>_<pid>).
    const std::string &prefix() const noexcept { return prefix_; }

    /// The EAL arguments, program name first.
    std::vector<std::string> eal_args() const
    {
        std::string lcores;
        for (unsigned cpu : eal_cpus()) {
            if (!lcores.empty())
                lcores += ',';
            lcores += std::to_string(cpu);
        }
        std::vector<std::string> args{name_, "--no-pci", "--file-prefix=" + prefix_, "-l", lcores,
            "--log-level=lib.eal:error"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        if (const char *extra = std::getenv("ELASTIC_EAL_ARGS"); extra != nullptr) {
            std::istringstream words(extra);
            for (std::string word; words >> word;)
                args.push_back(word);
        }
        return args;
    }

    void SetUp() override
    {
        std::vector<std::string> args = eal_args();
        std::vector<char *> argv;
        std::string line;
        for (std::string &arg : args) {
            argv.push_back(arg.data());
            line += " " + arg;
        }
        argv.push_back(nullptr);
        std::fprintf(stderr, "[eal_env] rte_eal_init:%s\n", line.c_str());
        if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
            const int err = rte_errno;
            // The machine cannot give what the EAL needs: no permission (not root, hugetlbfs or
            // /var/run/dpdk not accessible) or not enough memory (hugepages taken). Anything
            // else (bad arguments, EAL already up, internal errors) is a failure of ours.
            if (err == EACCES || err == ENOMEM)
                GTEST_SKIP() << "the EAL cannot start on this machine: rte_eal_init: "
                             << rte_strerror(err) << " (args:" << line << ")";
            FAIL() << "rte_eal_init failed: " << rte_strerror(err) << " (args:" << line
                   << "; set ELASTIC_EAL_ARGS=\"--no-huge -m 512\" on a machine without "
                   << "hugepages, or run scripts/setup.sh)";
        }
        runtime_dir_ = rte_eal_get_runtime_dir();
        up_ = true;
    }

    void TearDown() override
    {
        if (up_) {
            EXPECT_EQ(rte_eal_cleanup(), 0) << "rte_eal_cleanup: " << rte_strerror(rte_errno);
            up_ = false;
        }
        remove_leftovers();
    }

private:
    static std::string sanitized(std::string name)
    {
        for (char &c : name) {
            if (!std::isalnum(static_cast<unsigned char>(c)))
                c = '_';
        }
        return name.substr(0, 40);
    }

    void remove_leftovers() const noexcept
    {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (!runtime_dir_.empty())
            fs::remove_all(runtime_dir_, ec);
        fs::remove_all(fs::path("/var/run/dpdk") / prefix_, ec);
        // Hugepage files are named <prefix>map_<n>; match that, not just <prefix>, so that
        // ept_x_12 never takes ept_x_123's files.
        const std::string stem = prefix_ + "map_";
        for (fs::directory_iterator it("/dev/hugepages", ec), end; !ec && it != end;
                it.increment(ec)) {
            std::error_code ignored;
            if (it->path().filename().string().rfind(stem, 0) == 0)
                fs::remove(it->path(), ignored);
        }
    }

    std::string name_;
    std::string prefix_;
    std::string runtime_dir_;
    std::vector<std::string> extra_;
    bool up_ = false;
};

} // namespace elastic::test

/// main() of an EAL test binary: GoogleTest with an eal_env named NAME. Exits 1 when a test
/// failed, 77 (meson: SKIP) when one was skipped or the EAL could not start for a reason of the
/// machine's, else 0; each skip is printed (gtest_exit.hpp). A binary with its own main() ends
/// it with `return elastic::test::exit_status(RUN_ALL_TESTS());` for the same rule.
#define ELASTIC_EAL_TEST_MAIN(NAME)                                                            \
    int main(int argc, char **argv)                                                            \
    {                                                                                          \
        ::testing::InitGoogleTest(&argc, argv);                                                \
        ::testing::AddGlobalTestEnvironment(new ::elastic::test::eal_env(NAME));               \
        return ::elastic::test::exit_status(RUN_ALL_TESTS());                                  \
    }
