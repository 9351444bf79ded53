// SPDX-License-Identifier: BSD-3-Clause
#include "maintenance.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "clock.hpp"
#include "pool.hpp"

namespace elastic::detail {

namespace {

struct ticker_state {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<var_pool *> pools;
    std::thread thread;
    uint64_t generation = 0; // a thread runs while the generation it was started with is current
};

// Never destroyed: a thread may still be running at exit, and joinable std::thread objects must
// not be destroyed.
ticker_state &state()
{
    static ticker_state *s = new ticker_state;
    return *s;
}

void ticker_main(uint64_t gen)
{
    ticker_state &s = state();
    std::unique_lock lk(s.mu);
    while (s.generation == gen) {
        const uint64_t now = monotonic_ns();
        uint64_t period = 500 * ns_per_ms;
        for (var_pool *p : s.pools) {
            p->auto_tick(now);
            period = std::min(period, p->config().tick_ns);
        }
        period = std::max<uint64_t>(period, ns_per_ms);
        s.cv.wait_for(lk, std::chrono::nanoseconds(period));
    }
}

} // namespace

void ticker_add(var_pool *p)
{
    ticker_state &s = state();
    std::lock_guard lk(s.mu);
    s.pools.push_back(p);
    if (!s.thread.joinable())
        s.thread = std::thread(ticker_main, ++s.generation);
    else
        s.cv.notify_all(); // pick up a shorter tick at once
}

void ticker_remove(var_pool *p) noexcept
{
    ticker_state &s = state();
    std::thread done;
    {
        std::lock_guard lk(s.mu); // waits for a tick in progress
        auto it = std::find(s.pools.begin(), s.pools.end(), p);
        if (it == s.pools.end())
            return;
        s.pools.erase(it);
        if (s.pools.empty()) {
            s.generation++;
            done = std::move(s.thread);
        }
    }
    s.cv.notify_all();
    if (done.joinable()) {
        if (done.get_id() == std::this_thread::get_id())
            done.detach(); // removed from a callback running on the ticker itself
        else
            done.join();
    }
}

} // namespace elastic::detail
