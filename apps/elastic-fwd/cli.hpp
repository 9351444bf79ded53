/* SPDX-License-Identifier: BSD-3-Clause */
// Command-line helpers shared by elastic-fwd and elastic-fwd-gen: both take EAL arguments, then
// "--", then their own options. The own options are parsed before rte_eal_init(), so that a bad
// option costs no hugepage and exits 2 at once with a message naming it.
#pragma once

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <rte_eal.h>
#include <rte_errno.h>

namespace fwd_cli {

/** Exit status for bad usage (unknown option, bad value), as getopt programs use. */
constexpr int exit_usage = 2;

/** Index of the first "--" in argv (argc when there is none): EAL words are before it. */
inline int split_index(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (std::string_view(argv[i]) == "--")
            return i;
    return argc;
}

/** Is there a --help or -h among the EAL words (before "--", @p split)? */
inline bool asks_for_help(int split, char **argv)
{
    for (int i = 1; i < split; i++)
        if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h")
            return true;
    return false;
}

/** rte_eal_init() on the words before "--"; false, with a message, when it fails. */
inline bool eal_init(int split, char **argv, const char *prog)
{
    if (rte_eal_init(split, argv) >= 0)
        return true;
    fprintf(stderr, "%s: EAL initialisation failed: %s (check the EAL arguments before '--')\n",
            prog, rte_strerror(rte_errno));
    return false;
}

/**
 * "--name=value" or "--name value": when argv[i] is option @p name, stores its value in @p out
 * (advancing @p i past a separate value) and returns true. A missing value is an error.
 */
class args {
public:
    args(const char *prog, int argc, char **argv) : prog_(prog), argc_(argc), argv_(argv) {}

    bool done() const { return i_ >= argc_; }
    std::string_view cur() const { return argv_[i_]; }
    void next() { i_++; }
    const char *prog() const { return prog_; }
    bool failed() const { return failed_; }

    /** Is the current word the flag @p name (no value)? Advances past it when it is. */
    bool flag(std::string_view name)
    {
        if (cur() != name)
            return false;
        i_++;
        return true;
    }

    /** Is the current word option @p name with a value? Sets @p val; advances past both. */
    bool value(std::string_view name, std::string &val)
    {
        const std::string_view a = cur();
        if (a.size() > name.size() && a.substr(0, name.size()) == name && a[name.size()] == '=') {
            val = std::string(a.substr(name.size() + 1));
            i_++;
            return true;
        }
        if (a != name)
            return false;
        if (i_ + 1 >= argc_) {
            error(name, "needs a value");
            val.clear();
            i_++;
            return true;
        }
        val = argv_[i_ + 1];
        i_ += 2;
        return true;
    }

    /** Option @p name with an unsigned value in [lo, hi]. */
    bool number(std::string_view name, uint64_t &out, uint64_t lo, uint64_t hi)
    {
        std::string v;
        if (!value(name, v))
            return false;
        if (failed_)
            return true;
        if (!parse_u64(v, out) || out < lo || out > hi)
            error(name, "'" + v + "' is not a whole number in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "]");
        return true;
    }

    template <typename T> bool number_as(std::string_view name, T &out, uint64_t lo, uint64_t hi)
    {
        uint64_t v = out;
        if (!number(name, v, lo, hi))
            return false;
        out = T(v);
        return true;
    }

    void error(std::string_view name, const std::string &why)
    {
        if (!failed_)
            fprintf(stderr, "%s: option %.*s: %s (--help for usage)\n", prog_, int(name.size()),
                    name.data(), why.c_str());
        failed_ = true;
    }

    void unknown()
    {
        if (!failed_)
            fprintf(stderr, "%s: unknown option '%s' (--help for usage)\n", prog_, argv_[i_]);
        failed_ = true;
        i_++;
    }

    static bool parse_u64(const std::string &s, uint64_t &out)
    {
        if (s.empty() || s[0] < '0' || s[0] > '9')
            return false;
        errno = 0;
        char *end = nullptr;
        const unsigned long long v = strtoull(s.c_str(), &end, 10);
        if (errno != 0 || *end != '\0')
            return false;
        out = v;
        return true;
    }

private:
    const char *prog_;
    int argc_;
    char **argv_;
    int i_ = 0;
    bool failed_ = false;
};

} // namespace fwd_cli
