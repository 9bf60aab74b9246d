// spindle::blocking(fn): run a call that blocks its thread — getaddrinfo, file
// I/O, a legacy library — on a bounded pool of threads while the calling fiber
// parks, so the fiber's worker keeps running other fibers (Go hands its P off
// during a syscall; marl has blocking_call). Returns fn's value or rethrows what
// it threw.
//
//   std::string text = spindle::blocking([&] { return read_whole_file(path); });
//
// Called from a plain thread (not a fiber), fn simply runs on that thread.
// A blocking call cannot be cancelled: fn runs to its end even if the fiber's
// stop is requested meanwhile.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "spindle/fibers/fiber.h"
#include "spindle/fibers/waiter.h"

namespace spindle {

// A bounded pool of threads for blocking calls. Threads start on demand, up to
// max_threads; calls beyond that wait in FIFO order. A thread idle for
// `idle_timeout` exits. The destructor waits for the queued calls and the threads.
class BlockingPool {
 public:
  explicit BlockingPool(std::size_t max_threads = 64,
                        std::chrono::milliseconds idle_timeout = std::chrono::seconds(10));
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;
  ~BlockingPool();

  // Runs fn() on one of the pool's threads; parks the calling fiber (or, on a
  // plain thread, blocks the thread) until it returns, then returns its value or
  // rethrows its exception.
  template <class Fn>
  std::invoke_result_t<Fn&> run(Fn&& fn);

  // The bound on threads.
  std::size_t max_threads() const { return max_threads_; }
  // Threads alive now (running a call or idle).
  std::size_t thread_count() const;

  // The process's pool, used by spindle::blocking (64 threads; never destroyed).
  static BlockingPool& default_pool();

  // A queued call; lives on the caller's stack. Public for run()'s sake only.
  struct Job {
    void (*invoke)(Job*) = nullptr;
    Job* next = nullptr;
    Waiter* waiter = nullptr;
    // kQueued -> (caller parks) kParked -> (pool thread) kDone; or kQueued -> kDone
    // first, and the caller sees kDone when it tries to park and does not wait.
    // The pool thread's exchange (acq_rel) publishes the result to the caller.
    std::atomic<std::uint32_t> state{0};
  };
  static constexpr std::uint32_t kQueued = 0, kParked = 1, kDone = 2;

 private:
  void submit(Job* job);
  void thread_main();
  static void finish(Job* job);

  const std::size_t max_threads_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex lock_;
  std::condition_variable work_;     // a job was queued, or shutdown
  std::condition_variable exited_;   // a thread exited
  Job* head_ = nullptr;
  Job* tail_ = nullptr;
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;
  bool stopping_ = false;
};

template <class Fn>
std::invoke_result_t<Fn&> BlockingPool::run(Fn&& fn) {
  using R = std::invoke_result_t<Fn&>;
  if (detail::current_fiber() == nullptr) return fn();  // a plain thread may block itself
  struct Call : Job {
    std::remove_reference_t<Fn>* fn;
    std::optional<std::conditional_t<std::is_void_v<R>, char, std::conditional_t<std::is_reference_v<R>, std::remove_reference_t<R>*, R>>> result;
    std::exception_ptr error;
  } call;
  call.fn = &fn;
  call.invoke = [](Job* j) {
    auto* c = static_cast<Call*>(j);
    try {
      if constexpr (std::is_void_v<R>) {
        (*c->fn)();
        c->result.emplace();
      } else if constexpr (std::is_reference_v<R>) {
        c->result.emplace(&(*c->fn)());
      } else {
        c->result.emplace((*c->fn)());
      }
    } catch (...) {
      c->error = std::current_exception();
    }
  };
  Waiter w;
  w.object = this;
  w.kind = "blocking call";
  call.waiter = &w;
  submit(&call);
  // Parks unless the call is done already. The compare-exchange is the last
  // touch of this frame by the park callback (fibers/waiter.h).
  std::atomic<std::uint32_t>* state = &call.state;
  w.wait([state] {
    std::uint32_t expected = kQueued;
    return state->compare_exchange_strong(expected, kParked, std::memory_order_acq_rel);
  });
  // kDone was stored with release by the pool thread; this acquire pairs with it.
  (void)call.state.load(std::memory_order_acquire);
  if (call.error) std::rethrow_exception(call.error);
  if constexpr (std::is_void_v<R>) {
    return;
  } else if constexpr (std::is_reference_v<R>) {
    return **call.result;
  } else {
    return std::move(*call.result);
  }
}

// Runs fn on BlockingPool::default_pool() (see the top of this file).
template <class Fn>
std::invoke_result_t<Fn&> blocking(Fn&& fn) {
  return BlockingPool::default_pool().run(std::forward<Fn>(fn));
}

}  // namespace spindle
