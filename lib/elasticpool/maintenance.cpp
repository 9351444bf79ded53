// SPDX-License-Identifier: BSD-3-Clause
#include "maintenance.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <list>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

#include <rte_alarm.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_service.h>
#include <rte_service_component.h>

#include "clock.hpp"
#include "elasticpool.h"
#include "log.hpp"
#include "policy.hpp"
#include "pool.hpp"
#include "provider.hpp"

namespace elastic::detail {

namespace {

constexpr uint64_t min_period_ns = ns_per_ms;
constexpr uint64_t max_period_ns = 500 * ns_per_ms; // the patent's tick: notices new lcores
constexpr const char *service_name = "elastic_maintenance";

struct member {
    maint_tick_fn fn;
    void *ctx;
    uint64_t tick_ns;
    uint64_t next_ns;
    bool busy = false; // its tick runs now (without the lock)
    bool gone = false; // removed from inside its own tick: the pass erases it
};

struct state {
    std::mutex pass_mu; // one pass at a time
    std::mutex mu;      // everything below; never held while a tick runs
    std::condition_variable cv;      // thread driver: wake up early
    std::condition_variable idle_cv; // a member's tick finished
    std::list<member> members;       // stable: a pass keeps its place while unlocked
    uint32_t live = 0;
    bool mode_set = false;
    maint_mode mode = maint_mode::automatic;
    maint_driver driver = maint_driver::none;
    uint64_t period_ns = max_period_ns;
    // thread driver: runs while the generation it was started with is current
    std::thread thread;
    uint64_t thread_gen = 0;
    // service driver
    bool service_registered = false;
    uint32_t service_id = 0;
    int service_lcore = -1;
    // alarm driver: an alarm whose token is not the current one returns at once
    uintptr_t alarm_token = 0;
    uint64_t alarm_period_ns = 0;
    // service driver's watchdog (an alarm): passes seen at its last check
    uint64_t watchdog_passes = 0;
    bool watchdog_warned = false;
    // read without the lock
    std::atomic<uint64_t> next_pass_ns{0}; // service: skip calls before this
    std::atomic<uint64_t> passes{0};
    std::atomic<unsigned> last_lcore{LCORE_ID_ANY};
    std::atomic<int> last_tid{0};
};

// Never destroyed: a driver may still run at exit.
state &st()
{
    static state *s = new state;
    return *s;
}

thread_local bool in_pass = false; // this thread runs a pass (holds st().pass_mu)

uint64_t compute_period(const state &s)
{
    uint64_t p = max_period_ns;
    for (const member &m : s.members)
        if (!m.gone)
            p = std::min(p, m.tick_ns);
    return std::max(p, min_period_ns);
}

// One pass; pass_lk holds s.pass_mu. Ticks run without s.mu, so they may create and free
// members (waiter callbacks) and nothing they take can be waited for under s.mu. Returns the
// number of members ticked.
int run_pass(state &s, uint64_t now)
{
    in_pass = true;
    int ticked = 0;
    std::unique_lock lk(s.mu);
    for (auto it = s.members.begin(); it != s.members.end();) {
        member &m = *it;
        if (m.gone || now < m.next_ns) {
            ++it;
            continue;
        }
        m.next_ns = now + m.tick_ns;
        m.busy = true;
        const maint_tick_fn fn = m.fn;
        void *ctx = m.ctx;
        lk.unlock();
        fn(ctx, now);
        lk.lock();
        m.busy = false;
        ticked++;
        s.idle_cv.notify_all();
        it = m.gone ? s.members.erase(it) : std::next(it);
    }
    s.period_ns = compute_period(s);
    lk.unlock();
    s.passes.fetch_add(1, std::memory_order_relaxed);
    s.last_lcore.store(eal_is_up() ? rte_lcore_id() : LCORE_ID_ANY, std::memory_order_relaxed);
    s.last_tid.store(int(gettid()), std::memory_order_relaxed);
    in_pass = false;
    return ticked;
}

// ---- thread driver ----

void thread_main(uint64_t gen)
{
    state &s = st();
    for (;;) {
        {
            std::lock_guard pl(s.pass_mu);
            run_pass(s, monotonic_ns());
        }
        std::unique_lock lk(s.mu);
        if (s.thread_gen != gen)
            return;
        s.cv.wait_for(lk, std::chrono::nanoseconds(s.period_ns));
        if (s.thread_gen != gen)
            return;
    }
}

// ---- service driver ----

int32_t service_cb(void *) noexcept
{
    state &s = st();
    const uint64_t now = monotonic_ns();
    if (now < s.next_pass_ns.load(std::memory_order_relaxed))
        return -EAGAIN;
    std::unique_lock pl(s.pass_mu, std::try_to_lock); // never block a service lcore
    if (!pl.owns_lock())
        return -EAGAIN;
    {
        std::lock_guard lk(s.mu);
        if (s.driver != maint_driver::service)
            return -EAGAIN;
    }
    run_pass(s, now);
    std::lock_guard lk(s.mu);
    s.next_pass_ns.store(now + s.period_ns, std::memory_order_relaxed);
    return 0;
}

// The service lcore with the fewest services mapped, or -1.
int pick_service_lcore()
{
    const int32_t n = rte_service_lcore_count();
    if (n <= 0)
        return -1;
    std::vector<uint32_t> ids(size_t(n) + 1);
    const int32_t got = rte_service_lcore_list(ids.data(), uint32_t(ids.size()));
    int best = -1;
    int32_t best_load = INT32_MAX;
    for (int32_t i = 0; i < got; i++) {
        const int32_t load = rte_service_lcore_count_services(ids[size_t(i)]);
        if (load >= 0 && load < best_load) {
            best = int(ids[size_t(i)]);
            best_load = load;
        }
    }
    return best;
}

bool start_service_locked(state &s)
{
    const int lcore = pick_service_lcore();
    if (lcore < 0)
        return false;
    if (!s.service_registered) {
        rte_service_spec spec{};
        snprintf(spec.name, sizeof(spec.name), "%s", service_name);
        spec.callback = service_cb;
        spec.socket_id = SOCKET_ID_ANY;
        int rc = rte_service_component_register(&spec, &s.service_id);
        if (rc != 0) {
            EP_LOG(ERR, "maintenance: service registration failed: %s", rte_strerror(-rc));
            return false;
        }
        rte_service_component_runstate_set(s.service_id, 1);
        rte_service_set_stats_enable(s.service_id, 1);
        s.service_registered = true;
    }
    int rc = rte_service_map_lcore_set(s.service_id, uint32_t(lcore), 1);
    if (rc != 0) {
        EP_LOG(ERR, "maintenance: mapping the service to lcore %d failed: %s", lcore,
               rte_strerror(-rc));
        return false;
    }
    s.service_lcore = lcore;
    s.next_pass_ns.store(0, std::memory_order_relaxed);
    rte_service_runstate_set(s.service_id, 1);
    // Lcores given with -s/-S are started by rte_eal_init; one added at run time may not be.
    if (rte_service_lcore_may_be_active(uint32_t(lcore)) != 1) {
        rc = rte_service_lcore_start(uint32_t(lcore));
        if (rc != 0 && rc != -EALREADY)
            EP_LOG(WARNING, "maintenance: service lcore %d could not be started: %s", lcore,
                   rte_strerror(-rc));
        else
            EP_LOG(INFO, "maintenance: started service lcore %d", lcore);
    }
    EP_LOG(DEBUG, "maintenance: service %s (id %u) on lcore %d", service_name, s.service_id,
           lcore);
    return true;
}

void stop_service_locked(state &s)
{
    // No waiting here: the callback may be blocked on s.mu. It finds the driver changed.
    rte_service_runstate_set(s.service_id, 0);
    if (s.service_lcore >= 0)
        rte_service_map_lcore_set(s.service_id, uint32_t(s.service_lcore), 0);
    s.service_lcore = -1;
}

// ---- alarm driver ----

void alarm_cb(void *arg) noexcept;

bool arm_locked(state &s, uint64_t period_ns)
{
    const uintptr_t token = ++s.alarm_token;
    const int rc = rte_eal_alarm_set(std::max<uint64_t>(period_ns / 1000, 1), alarm_cb,
                                     reinterpret_cast<void *>(token));
    if (rc != 0) {
        EP_LOG(ERR, "maintenance: rte_eal_alarm_set failed: %s", rte_strerror(-rc));
        return false;
    }
    s.alarm_period_ns = period_ns;
    return true;
}

void start_thread_locked(state &s)
{
    s.driver = maint_driver::thread;
    s.thread = std::thread(thread_main, ++s.thread_gen);
}

// While the service drives the passes an alarm checks every watchdog period that it made
// progress; when it did not (the service lcore is not running: busy with a launched function,
// stopped by the application, or outside the EAL's -l list) the alarm runs the pass itself.
uint64_t watchdog_period(const state &s)
{
    return std::max<uint64_t>(4 * s.period_ns, max_period_ns);
}

void arm_watchdog_locked(state &s)
{
    s.watchdog_passes = s.passes.load(std::memory_order_relaxed);
    arm_locked(s, watchdog_period(s)); // if this fails the service simply has no watchdog
}

void alarm_cb(void *arg) noexcept
{
    state &s = st();
    const uintptr_t token = reinterpret_cast<uintptr_t>(arg);
    {
        std::lock_guard lk(s.mu);
        if (token != s.alarm_token ||
            (s.driver != maint_driver::alarm && s.driver != maint_driver::service))
            return; // stale, or the driver stopped/changed
        if (s.driver == maint_driver::service) {
            if (s.passes.load(std::memory_order_relaxed) != s.watchdog_passes) {
                arm_watchdog_locked(s); // the service is making progress
                return;
            }
            if (!s.watchdog_warned) {
                EP_LOG(WARNING, "maintenance: service lcore %d runs no pass (held by another "
                       "service, stopped, or not in the EAL -l list?); passes run from an EAL "
                       "alarm until it does", s.service_lcore);
                s.watchdog_warned = true;
            }
        }
    }
    {
        std::lock_guard pl(s.pass_mu); // bounded: an application pass at most
        run_pass(s, monotonic_ns());
    }
    std::lock_guard lk(s.mu);
    if (token != s.alarm_token || s.live == 0)
        return; // re-armed meanwhile (shorter tick, restart), or stopped
    if (s.driver == maint_driver::service) {
        arm_locked(s, s.period_ns); // standing in: the next check comes after one period
        s.watchdog_passes = s.passes.load(std::memory_order_relaxed);
        return;
    }
    if (s.driver != maint_driver::alarm)
        return;
    if (s.mode == maint_mode::automatic && rte_service_lcore_count() > 0 &&
        start_service_locked(s)) {
        s.driver = maint_driver::service; // a service lcore appeared: hand over
        arm_watchdog_locked(s);
        return;
    }
    if (!arm_locked(s, s.period_ns)) {
        try {
            start_thread_locked(s);
        } catch (...) {
            s.driver = maint_driver::none;
        }
    }
}

// ---- choosing and starting a driver ----

maint_mode effective_mode(state &s)
{
    if (s.mode_set)
        return s.mode;
    maint_mode m = maint_mode::automatic;
    if (const char *env = std::getenv("ELASTIC_MAINTENANCE"); env != nullptr && *env != '\0') {
        if (maintenance_parse_mode(env, &m) != 0) {
            EP_LOG(WARNING, "maintenance: ELASTIC_MAINTENANCE=%s is not one of auto, service, "
                   "alarm, thread, manual; using auto", env);
            m = maint_mode::automatic;
        }
    }
    s.mode = m;
    return m;
}

// s.mu held, first member just arrived. May throw std::system_error (thread).
void start_locked(state &s)
{
    const maint_mode m = effective_mode(s);
    s.period_ns = compute_period(s);
    if (m == maint_mode::manual) {
        s.driver = maint_driver::manual;
        return;
    }
    const bool eal = eal_is_up();
    if (eal && (m == maint_mode::automatic || m == maint_mode::service)) {
        if (start_service_locked(s)) {
            s.driver = maint_driver::service;
            arm_watchdog_locked(s);
            return;
        }
        if (m == maint_mode::service)
            EP_LOG(WARNING, "maintenance: no service lcore (EAL -s/-S): using an EAL alarm");
    }
    if (eal && m != maint_mode::thread) {
        s.driver = maint_driver::alarm;
        if (arm_locked(s, s.period_ns))
            return;
    } else if (!eal && m != maint_mode::thread && m != maint_mode::automatic) {
        EP_LOG(WARNING, "maintenance: EAL not initialised: using a thread");
    }
    start_thread_locked(s);
}

// s.mu held, last member just left. Returns a thread to join after unlocking.
std::thread stop_locked(state &s)
{
    std::thread done;
    switch (s.driver) {
    case maint_driver::service:
        stop_service_locked(s);
        break;
    case maint_driver::thread:
        s.thread_gen++;
        done = std::move(s.thread);
        s.cv.notify_all();
        break;
    default: // alarm: the pending alarm finds no driver and does not re-arm
        break;
    }
    s.driver = maint_driver::none;
    return done;
}

// s.mu held: a member with a shorter tick arrived.
void retune_locked(state &s)
{
    const uint64_t old = s.period_ns;
    s.period_ns = compute_period(s);
    if (s.period_ns >= old)
        return;
    switch (s.driver) {
    case maint_driver::thread:
        s.cv.notify_all();
        break;
    case maint_driver::service:
        s.next_pass_ns.store(0, std::memory_order_relaxed);
        break;
    case maint_driver::alarm:
        arm_locked(s, s.period_ns); // the old alarm becomes stale
        break;
    default:
        break;
    }
}

void join_outside(std::thread t) noexcept
{
    if (!t.joinable())
        return;
    // From a tick (the thread's own, or an application pass holding the pass lock the thread
    // may be waiting for) joining could wait for ever: let it end by itself.
    if (t.get_id() == std::this_thread::get_id() || in_pass)
        t.detach();
    else
        t.join();
}

} // namespace

const char *maint_driver_name(maint_driver d) noexcept
{
    switch (d) {
    case maint_driver::none: return "none";
    case maint_driver::service: return "service";
    case maint_driver::alarm: return "alarm";
    case maint_driver::thread: return "thread";
    case maint_driver::manual: return "manual";
    }
    return "?";
}

int maintenance_parse_mode(const char *s, maint_mode *out) noexcept
{
    static const struct {
        const char *name;
        maint_mode mode;
    } names[] = {{"auto", maint_mode::automatic}, {"service", maint_mode::service},
                 {"alarm", maint_mode::alarm}, {"thread", maint_mode::thread},
                 {"manual", maint_mode::manual}};
    if (s == nullptr || out == nullptr)
        return -EINVAL;
    for (const auto &n : names) {
        if (strcmp(s, n.name) == 0) {
            *out = n.mode;
            return 0;
        }
    }
    return -EINVAL;
}

int maintenance_set_mode(maint_mode m) noexcept
{
    state &s = st();
    std::lock_guard lk(s.mu);
    if (s.live != 0)
        return -EBUSY;
    s.mode = m;
    s.mode_set = true;
    return 0;
}

void maintenance_add(maint_tick_fn fn, void *ctx, uint64_t tick_ns)
{
    state &s = st();
    std::lock_guard lk(s.mu);
    s.members.push_back(member{fn, ctx, std::max(tick_ns, min_period_ns), 0});
    if (++s.live == 1 && s.driver == maint_driver::none) {
        try {
            start_locked(s);
        } catch (...) {
            s.members.pop_back();
            s.live--;
            s.driver = maint_driver::none;
            throw;
        }
    } else {
        retune_locked(s);
    }
}

void maintenance_remove(void *ctx) noexcept
{
    state &s = st();
    std::thread done;
    {
        std::unique_lock lk(s.mu);
        auto find = [&] {
            return std::find_if(s.members.begin(), s.members.end(),
                                [&](const member &m) { return !m.gone && m.ctx == ctx; });
        };
        auto it = find();
        if (it == s.members.end())
            return;
        if (it->busy && in_pass) {
            // Its tick is running: on this thread (a callback of the tick frees its own pool;
            // only one pass runs at a time, and this thread runs it). The pass erases it.
            it->gone = true;
        } else {
            s.idle_cv.wait(lk, [&] { return !it->busy; }); // a tick of it in progress
            s.members.erase(it);
        }
        if (--s.live == 0)
            done = stop_locked(s);
    }
    join_outside(std::move(done));
}

void ticker_add(var_pool *p)
{
    // The service calls a member at most every tick_ns: each call is one tick.
    maintenance_add([](void *ctx, uint64_t) noexcept { static_cast<var_pool *>(ctx)->maintain(); },
                    p, p->config().tick_ns);
}

void ticker_remove(var_pool *p) noexcept { maintenance_remove(p); }

int maintenance_run() noexcept
{
    if (in_pass)
        return -EDEADLK;
    state &s = st();
    std::lock_guard pl(s.pass_mu);
    return run_pass(s, monotonic_ns());
}

maint_info maintenance_info() noexcept
{
    state &s = st();
    std::lock_guard lk(s.mu);
    maint_info i{};
    i.driver = s.driver;
    i.members = s.live;
    i.passes = s.passes.load(std::memory_order_relaxed);
    i.period_ns = s.period_ns;
    i.last_lcore = s.last_lcore.load(std::memory_order_relaxed);
    i.last_tid = s.last_tid.load(std::memory_order_relaxed);
    i.service_id = s.service_registered ? int(s.service_id) : -1;
    i.service_lcore = s.service_lcore;
    return i;
}

} // namespace elastic::detail

extern "C" int elastic_maintenance_run(void) noexcept
{
    const int rc = elastic::detail::maintenance_run();
    if (rc < 0)
        rte_errno = -rc;
    return rc;
}
