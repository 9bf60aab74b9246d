// Test helper: the "destroy it as soon as your wait returns" guarantee of the sync
// primitives, exercised where it is easiest to break.
//
// Each round makes a fresh object; a fiber waits on it and destroys it the moment
// its wait returns, while a plain thread does the waking. The plain thread's wake
// goes through the global queue to a worker kept awake, so the woken fiber can run
// and finish while the waking call has not yet returned (the fault injector
// stretches that window: wake_idle_worker has a fault point). A waking call that touches the object
// after letting the waiter go then touches freed memory: ASan reports it.
//
// A round costs a few scheduling latencies of the waking thread, so on a busy
// machine (CI with another process on a core, sanitizers) rounds can take
// milliseconds each. Runs stop after `rounds` or after `budget` of wall time,
// whichever comes first, and return how many rounds ran: every round that runs is
// checked as fully as any other, and a slow machine runs fewer of them instead of
// timing out. Callers assert on the returned count, not on `rounds`.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/scheduler.h"

namespace spindle::testing_lifetime {

template <class T>
int run_rounds(Scheduler& sched, int rounds, const std::function<void(T*)>& wake,
               const std::function<void(std::unique_ptr<T>)>& wait_and_destroy,
               std::chrono::steady_clock::duration budget = std::chrono::seconds(30)) {
  const auto give_up = std::chrono::steady_clock::now() + budget;
  int ran = 0;
  std::atomic<T*> slot{nullptr};
  std::atomic<bool> stop{false};
  std::thread waker([&] {
    for (;;) {
      T* p = slot.load(std::memory_order_acquire);
      if (p == nullptr) {
        if (stop.load(std::memory_order_acquire)) return;
        std::this_thread::yield();
        continue;
      }
      slot.store(nullptr, std::memory_order_release);  // before waking: p may die then
      wake(p);
    }
  });
  // Busy fibers keep the workers awake, so the woken fiber runs within a
  // microsecond or so, well inside a delay the injector puts into the waking call.
  std::atomic<bool> busy{true};
  std::vector<JoinHandle<void>> keep_awake;
  for (std::size_t i = 0; i < sched.worker_count(); ++i) {
    keep_awake.push_back(spawn(sched, [&busy] {
      while (busy.load(std::memory_order_relaxed)) this_fiber::yield();
    }));
  }
  spawn(sched, [&] {
    for (int round = 0; round < rounds && (round == 0 || std::chrono::steady_clock::now() < give_up); ++round) {
      auto obj = std::make_unique<T>();
      while (slot.load(std::memory_order_acquire) != nullptr) std::this_thread::yield();
      slot.store(obj.get(), std::memory_order_release);
      wait_and_destroy(std::move(obj));
      ++ran;
    }
  }).join();
  busy.store(false, std::memory_order_relaxed);
  for (auto& h : keep_awake) h.join();
  stop.store(true, std::memory_order_release);
  waker.join();
  if (ran < rounds) std::printf("lifetime rounds: %d of %d within the time budget (a slow machine)\n", ran, rounds);
  return ran;
}

}  // namespace spindle::testing_lifetime
