/* SPDX-License-Identifier: BSD-3-Clause */
// main() of every unit test binary (gtest_main_dep in tests/meson.build), in place of
// GoogleTest's own: exit 1 when a test failed, 77 (meson: SKIP) when one was skipped, else 0;
// every skip printed with its message (gtest_exit.hpp).

#include "gtest_exit.hpp"

int main(int argc, char **argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    return elastic::test::exit_status(RUN_ALL_TESTS());
}
