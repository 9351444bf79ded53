// SPDX-License-Identifier: BSD-3-Clause
// The per-NUMA manager's view of the topology: this machine (compared with libnuma and sysfs)
// and hwloc synthetic topologies of 2 and 4 nodes.

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <numa.h>
#include <sched.h>

#include <elastic_numa.h>

namespace {

std::vector<int> nodes()
{
    const int n = elastic_numa_node_count();
    EXPECT_GE(n, 1);
    std::vector<int> v(size_t(std::max(n, 0)));
    EXPECT_EQ(elastic_numa_nodes(v.data(), unsigned(v.size())), n);
    return v;
}

std::vector<unsigned> cpus_of(int node)
{
    const int n = elastic_numa_node_cpus(node, nullptr, 0);
    EXPECT_GE(n, 0);
    std::vector<unsigned> v(size_t(std::max(n, 0)));
    EXPECT_EQ(elastic_numa_node_cpus(node, v.data(), unsigned(v.size())), n);
    return v;
}

struct synthetic_case {
    const char *desc;
    std::vector<std::vector<unsigned>> cpus; // per node 0..n-1
};

class NumaSynthetic : public ::testing::TestWithParam<synthetic_case> {
protected:
    void SetUp() override { ASSERT_EQ(elastic_numa_topology_set(GetParam().desc), 0); }
    void TearDown() override { EXPECT_EQ(elastic_numa_topology_set(nullptr), 0); }
};

TEST_P(NumaSynthetic, NodesAndCpus)
{
    const synthetic_case &c = GetParam();
    const std::vector<int> n = nodes();
    ASSERT_EQ(n.size(), c.cpus.size());
    for (size_t i = 0; i < n.size(); i++) {
        EXPECT_EQ(n[i], int(i));
        EXPECT_EQ(cpus_of(n[i]), c.cpus[i]) << "node " << i;
        for (unsigned cpu : c.cpus[i])
            EXPECT_EQ(elastic_numa_node_of_cpu(cpu), int(i)) << "cpu " << cpu;
    }
    unsigned ncpus = 0;
    for (const auto &v : c.cpus)
        ncpus += unsigned(v.size());
    EXPECT_EQ(elastic_numa_node_of_cpu(ncpus), -ENOENT);
    EXPECT_EQ(elastic_numa_node_cpus(int(n.size()), nullptr, 0), -ENOENT);
    // Synthetic topologies have no PCI devices.
    EXPECT_EQ(elastic_numa_node_of_pci("0000:00:00.0"), -ENOENT);
}

INSTANTIATE_TEST_SUITE_P(Topologies, NumaSynthetic,
    ::testing::Values(synthetic_case{"pack:2 numa:1 core:2 pu:1", {{0, 1}, {2, 3}}},
                      synthetic_case{"pack:4 numa:1 core:1 pu:2", {{0, 1}, {2, 3}, {4, 5},
                                                                   {6, 7}}},
                      synthetic_case{"pack:1 numa:2 core:3 pu:1", {{0, 1, 2}, {3, 4, 5}}}));

TEST(NumaTopology, BadSyntheticLeavesTheTopologyAlone)
{
    ASSERT_EQ(elastic_numa_topology_set("pack:2 numa:1 core:1 pu:1"), 0);
    EXPECT_EQ(elastic_numa_topology_set("no such thing"), -EINVAL);
    EXPECT_EQ(elastic_numa_node_count(), 2);
    EXPECT_EQ(elastic_numa_topology_set(nullptr), 0);
}

TEST(NumaTopology, ThisMachineAgreesWithLibnuma)
{
    ASSERT_EQ(elastic_numa_topology_set(nullptr), 0);
    const std::vector<int> n = nodes();
    std::set<unsigned> all;
    for (int node : n) {
        for (unsigned cpu : cpus_of(node)) {
            EXPECT_TRUE(all.insert(cpu).second) << "cpu " << cpu << " on two nodes";
            EXPECT_EQ(elastic_numa_node_of_cpu(cpu), node);
            if (numa_available() >= 0) {
                EXPECT_EQ(numa_node_of_cpu(int(cpu)), node) << "cpu " << cpu;
            }
        }
        const uint64_t mem = elastic_numa_node_memory(node);
        EXPECT_GT(mem, 0u) << "node " << node;
        if (numa_available() >= 0) {
            // Both read the node's MemTotal; allow a page of rounding.
            const long long libnuma = numa_node_size64(node, nullptr);
            EXPECT_NEAR(double(mem), double(libnuma), 4096.0) << "node " << node;
        }
    }
    cpu_set_t set;
    ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
    for (unsigned cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            EXPECT_TRUE(all.count(cpu)) << "cpu " << cpu << " we may run on has no node";
        }
    }
    if (numa_available() >= 0) {
        EXPECT_EQ(int(n.size()), numa_num_configured_nodes());
    }
}

// Every PCI device hwloc keeps is placed where sysfs says (numa_node -1 = no information: on a
// one-node machine that node, else -ENODATA). Read-only: nothing is opened.
TEST(NumaTopology, PciLocalityMatchesSysfs)
{
    ASSERT_EQ(elastic_numa_topology_set(nullptr), 0);
    namespace fs = std::filesystem;
    std::error_code ec;
    unsigned known = 0;
    for (fs::directory_iterator it("/sys/bus/pci/devices", ec), end; !ec && it != end;
            it.increment(ec)) {
        const std::string busid = it->path().filename().string();
        std::ifstream f(it->path() / "numa_node");
        int sys_node = -1;
        f >> sys_node;
        const int got = elastic_numa_node_of_pci(busid.c_str());
        if (got == -ENOENT)
            continue; // hwloc keeps only "important" devices (network, storage, GPUs, ...)
        known++;
        if (sys_node >= 0) {
            EXPECT_EQ(got, sys_node) << busid;
        } else if (elastic_numa_node_count() == 1) {
            EXPECT_EQ(got, nodes()[0]) << busid;
        } else {
            EXPECT_EQ(got, -ENODATA) << busid;
        }
    }
    EXPECT_EQ(elastic_numa_node_of_pci("ffff:ff:1f.7"), -ENOENT);
    EXPECT_EQ(elastic_numa_node_of_pci(nullptr), -EINVAL);
    std::printf("[ info ] %u PCI devices placed by hwloc\n", known);
}

} // namespace
