/* SPDX-License-Identifier: BSD-3-Clause */
// A program that links libelasticpool.so AND the elastic mempool driver holds two copies of the
// core (the driver has it linked in whole). They must behave as one (lib/elasticpool/hub.hpp):
// exactly one copy serves, the pools of one copy and the mempools of the other are members of
// one maintenance service (one "elastic_maintenance" component on the service lcore), and the
// telemetry commands are registered once.

#include "eal_env.hpp"
#include "test_service_common.hpp"

#include <dlfcn.h>

#include <rte_service.h>

#include "hub.hpp"

namespace {

using elastic::detail::maint_driver;
using elastic::detail::maintenance_info;
using namespace elastic::test;

using is_own_fn = bool (*)() noexcept;

// hub_is_own() of the copy in the library `soname` (already loaded).
int copy_is_own(const char *soname)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
    if (h == nullptr)
        return -1;
    auto fn = reinterpret_cast<is_own_fn>(dlsym(h, "_ZN7elastic6detail10hub_is_ownEv"));
    const int r = fn == nullptr ? -1 : fn() ? 1 : 0;
    dlclose(h);
    return r;
}

TEST(TwoCores, BothCopiesAreLoadedAndOneServes)
{
    const int lib = copy_is_own("libelasticpool.so.0");
    const int drv = copy_is_own("librte_mempool_elastic.so");
    ASSERT_GE(lib, 0) << dlerror();
    ASSERT_GE(drv, 0) << dlerror();
    EXPECT_EQ(lib + drv, 1) << "lib serves: " << lib << ", driver serves: " << drv;
}

TEST(TwoCores, PoolsAndMempoolsShareOneService)
{
    const std::string pname = svc_name("two");
    elastic_pool_params pp = svc_params(pname);
    elastic_pool *pool = elastic_pool_create(&pp); // libelasticpool.so's copy (linked first)
    ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    rte_mempool *mp = make_mempool(mp_name("two"), 512, mp_params(128)); // the driver's copy
    ASSERT_NE(mp, nullptr) << rte_strerror(rte_errno);

    const auto info = maintenance_info();
    EXPECT_EQ(info.members, 2u);
    EXPECT_EQ(info.driver, maint_driver::service);
    EXPECT_EQ(rte_service_get_count(), 1u); // one component, not one per copy
    EXPECT_EQ(rte_service_lcore_count_services(eal_cpus().at(1)), 1);

    const elastic_pool_stats mst = mp_grow_and_wait_for_release(mp);
    EXPECT_EQ(mst.nb_shrinks, 3u);
    const elastic_pool_stats pst = grow_and_wait_for_release(pool);
    EXPECT_EQ(pst.nb_shrinks, 3u);
    EXPECT_EQ(maintenance_info().last_lcore, eal_cpus().at(1));

    rte_mempool_free(mp);
    EXPECT_EQ(maintenance_info().members, 1u);
    elastic_pool_free(pool);
    EXPECT_EQ(maintenance_info().members, 0u);
    EXPECT_EQ(maintenance_info().driver, maint_driver::none);
}

} // namespace

int main(int argc, char **argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    if (elastic::test::eal_cpus().size() < 2) {
        std::fprintf(stderr, "test_two_cores needs two cpus (one main lcore, one service lcore)\n");
        return 77; // meson: skipped
    }
    const std::string svc = std::to_string(elastic::test::eal_cpus()[1]);
    ::testing::AddGlobalTestEnvironment(new elastic::test::eal_env("two_cores", {"-S", svc}));
    return RUN_ALL_TESTS();
}
