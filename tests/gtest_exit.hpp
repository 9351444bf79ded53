/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

// The exit status of a GoogleTest binary, as meson reads it: 1 when a test failed, else 77
// (meson: SKIP) when a test was skipped, else 0. GoogleTest's own RUN_ALL_TESTS() returns 0 for
// a run with skips, which meson would count as OK.
//
// Every skip is printed on stdout, one line each, for people and for scripts/run-tests.sh
// (which checks them against tests/skips.txt):
//
//   SKIP <Suite.Test>: <message>     a test that called GTEST_SKIP
//   SKIP: <message>                  the whole binary (a skip in an Environment's SetUp)
//
// Used by tests/gtest_main.cpp (the main of every unit test) and ELASTIC_EAL_TEST_MAIN.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace elastic::test {

/// The skip messages of @p r joined by "; " (newlines flattened); "" when it has none.
inline std::string skip_messages(const ::testing::TestResult &r)
{
    std::string out;
    for (int i = 0; i < r.total_part_count(); i++) {
        const ::testing::TestPartResult &part = r.GetTestPartResult(i);
        if (!part.skipped())
            continue;
        std::string msg = part.message();
        for (char &c : msg) {
            if (c == '\n' || c == '\r')
                c = ' ';
        }
        if (!out.empty())
            out += "; ";
        out += msg.empty() ? std::string("(no message)") : msg;
    }
    return out;
}

/// Turns RUN_ALL_TESTS()'s result into the exit status above and prints the skips.
inline int exit_status(int run_all_tests_result)
{
    const ::testing::UnitTest &unit = *::testing::UnitTest::GetInstance();
    if (run_all_tests_result != 0 || unit.Failed())
        return 1;
    int skips = 0;
    auto say = [&skips](const std::string &what, const std::string &msg) {
        std::printf("SKIP%s%s: %s\n", what.empty() ? "" : " ", what.c_str(),
                    msg.empty() ? "(no message)" : msg.c_str());
        skips++;
    };
    if (unit.ad_hoc_test_result().Skipped())
        say("", skip_messages(unit.ad_hoc_test_result()));
    for (int s = 0; s < unit.total_test_suite_count(); s++) {
        const ::testing::TestSuite &suite = *unit.GetTestSuite(s);
        if (suite.ad_hoc_test_result().Skipped())
            say(std::string(suite.name()) + ".*", skip_messages(suite.ad_hoc_test_result()));
        for (int t = 0; t < suite.total_test_count(); t++) {
            const ::testing::TestInfo &info = *suite.GetTestInfo(t);
            if (info.should_run() && info.result()->Skipped())
                say(std::string(suite.name()) + "." + info.name(),
                    skip_messages(*info.result()));
        }
    }
    std::fflush(stdout);
    return skips > 0 ? 77 : 0;
}

} // namespace elastic::test
