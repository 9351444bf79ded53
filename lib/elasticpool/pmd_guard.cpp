// SPDX-License-Identifier: BSD-3-Clause
#include "pmd_guard.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <rte_alarm.h>
#include <rte_ethdev.h>

#include "log.hpp"

namespace elastic::detail {

namespace {

// PMDs of DPDK 22.11 that learn a pool's memory once (at Rx queue set-up or start, or at the
// READY event, which an elastic pool fires only at its wall) and never see a chunk added later.
// Source evidence in docs/mempool-driver.md.
constexpr const char *builtin_families[] = {"af_xdp", "mlx5", "mlx4", "mana", "sfc", "thunderx",
                                            "vmxnet3"};
constexpr size_t nb_builtin = sizeof(builtin_families) / sizeof(builtin_families[0]);

// ELASTIC_MEMPOOL_GUARD_DRIVERS: names added by tests (e.g. "net_null" to guard a null port).
constexpr size_t max_extra = 4;
constexpr size_t extra_len = 32;
char extra_families[max_extra][extra_len];
size_t nb_extra = 0;
std::once_flag extra_once;

void read_extra() noexcept
{
    const char *env = std::getenv("ELASTIC_MEMPOOL_GUARD_DRIVERS");
    for (const char *p = env; p != nullptr && *p != '\0' && nb_extra < max_extra;) {
        const char *end = std::strchr(p, ',');
        const size_t n = end != nullptr ? size_t(end - p) : std::strlen(p);
        if (n > 0 && n < extra_len) {
            std::memcpy(extra_families[nb_extra], p, n);
            extra_families[nb_extra][n] = '\0';
            nb_extra++;
        }
        p = end != nullptr ? end + 1 : nullptr;
    }
}

// family_[port]: 0 none, k: family k - 1 (builtin first, then the extra names), `pending`: a
// port announced by RTE_ETH_EVENT_NEW and not read yet (it guards nothing until it is).
constexpr uint8_t pending = 0xff;
std::atomic<uint8_t> family_[RTE_MAX_ETHPORTS];
// A NEW port is read from an EAL alarm (the interrupt thread), once ethdev has made it valid:
// ethdev fires NEW before it does. Retried every millisecond, at most a second.
constexpr uint64_t learn_retry_us = 1000;
constexpr uintptr_t learn_tries = 1000;
std::atomic<int> nb_snapshot_ports{0};
std::once_flag attach_once;

const char *family_name(uint8_t f) noexcept
{
    if (f == 0 || f == pending)
        return nullptr;
    return f <= nb_builtin ? builtin_families[f - 1] : extra_families[f - 1 - nb_builtin];
}

uint8_t family_of(const char *driver) noexcept
{
    std::call_once(extra_once, read_extra);
    if (driver == nullptr)
        return 0;
    for (size_t i = 0; i < nb_builtin; i++)
        if (std::strstr(driver, builtin_families[i]) != nullptr)
            return uint8_t(i + 1);
    for (size_t i = 0; i < nb_extra; i++)
        if (std::strstr(driver, extra_families[i]) != nullptr)
            return uint8_t(nb_builtin + i + 1);
    return 0;
}

void set_family(uint16_t port, uint8_t f) noexcept
{
    if (port >= RTE_MAX_ETHPORTS)
        return;
    const uint8_t old = family_[port].exchange(f, std::memory_order_acq_rel);
    const bool was = old != 0 && old != pending, is = f != 0 && f != pending;
    if (!was && is) {
        nb_snapshot_ports.fetch_add(1, std::memory_order_release);
        EP_LOG(DEBUG, "port %u: PMD family %s learns pool memory once: elastic mbuf pools of "
               "this process no longer grow", port, family_name(f));
    } else if (was && !is) {
        nb_snapshot_ports.fetch_sub(1, std::memory_order_release);
    }
}

// Reads a port's driver name (rte_eth_dev_info_get: the PMD's static description, no queue).
// Called in the thread creating a pool (attach) and from the EAL alarm after a port appears;
// false when ethdev does not know the port (yet).
bool learn_port(uint16_t port) noexcept
{
    rte_eth_dev_info info;
    if (rte_eth_dev_info_get(port, &info) != 0)
        return false;
    set_family(port, family_of(info.driver_name));
    return true;
}

// arg: port | tries << 16.
void learn_later(void *arg) noexcept
{
    const auto v = reinterpret_cast<uintptr_t>(arg);
    const auto port = uint16_t(v & 0xffff);
    const uintptr_t tries = v >> 16;
    if (family_[port].load(std::memory_order_acquire) != pending || learn_port(port))
        return;
    if (tries + 1 >= learn_tries ||
        rte_eal_alarm_set(learn_retry_us, learn_later,
                          reinterpret_cast<void *>(uintptr_t(port) | (tries + 1) << 16)) != 0)
        EP_LOG(WARNING, "port %u: its driver could not be read: it is not guarded", port);
}

int on_port_event(uint16_t port, rte_eth_event_type ev, void *, void *) noexcept
{
    if (port >= RTE_MAX_ETHPORTS)
        return 0;
    if (ev == RTE_ETH_EVENT_NEW) {
        // Not valid for ethdev calls until the event returns: read it from an alarm.
        set_family(port, pending);
        if (rte_eal_alarm_set(1, learn_later, reinterpret_cast<void *>(uintptr_t(port))) != 0)
            EP_LOG(WARNING, "port %u: cannot read its driver later: not guarded", port);
    } else if (ev == RTE_ETH_EVENT_DESTROY) {
        set_family(port, 0);
    }
    return 0;
}

void attach() noexcept
{
    // Callbacks first, then the ports there are: a port probed in between is read twice
    // (harmless), none is missed.
    if (rte_eth_dev_callback_register(RTE_ETH_ALL, RTE_ETH_EVENT_NEW, on_port_event,
                                      nullptr) != 0 ||
        rte_eth_dev_callback_register(RTE_ETH_ALL, RTE_ETH_EVENT_DESTROY, on_port_event,
                                      nullptr) != 0)
        EP_LOG(WARNING, "cannot follow ethdev events: ports probed later are not guarded");
    uint16_t port;
    RTE_ETH_FOREACH_DEV(port)
        learn_port(port);
}

} // namespace

void pmd_guard_attach() noexcept
{
    std::call_once(attach_once, attach);
}

int pmd_guard_port(const char **driver) noexcept
{
    if (nb_snapshot_ports.load(std::memory_order_acquire) == 0)
        return -1;
    for (uint16_t port = 0; port < RTE_MAX_ETHPORTS; port++) {
        const uint8_t f = family_[port].load(std::memory_order_acquire);
        if (f == 0 || f == pending)
            continue;
        if (driver != nullptr)
            *driver = family_name(f);
        return port;
    }
    return -1;
}

} // namespace elastic::detail
