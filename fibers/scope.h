// Scope: structured concurrency. Fibers spawned through a Scope are joined when it
// ends; the first exception a child throws stops its siblings (through their stop
// tokens) and is rethrown by join().
//
//   spindle::Scope scope;
//   for (auto& chunk : chunks) scope.spawn([&chunk] { process(chunk); });
//   scope.join();   // waits for all; rethrows the first failure
#pragma once

#include <exception>
#include <mutex>
#include <stop_token>
#include <utility>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"

namespace spindle {

class Scope {
 public:
  // Children run on `executor`, or on the caller's executor if null.
  explicit Scope(Executor* executor = nullptr) : executor_(executor) {}
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  // Joins every child. A child's exception that join() never rethrew is misuse: the
  // program ends with a message naming it, rather than losing the error silently.
  ~Scope();

  // Starts fn(args...) as a child. Call from the scope's owner (not from children).
  template <class F, class... A>
  void spawn(F&& f, A&&... args) {
    FiberOptions options{.executor = executor_};
    auto child = [this, fn = std::forward<F>(f)](auto&&... a) mutable {
      // While this child runs, stopping the scope stops this fiber.
      std::stop_callback on_scope_stop(stop_.get_token(),
                                       [self = detail::current_fiber()] { self->request_stop(); });
      try {
        std::invoke(std::move(fn), std::forward<decltype(a)>(a)...);
      } catch (...) {
        fail(std::current_exception());
      }
    };
    auto handle = spindle::spawn(options, std::move(child), std::forward<A>(args)...);
    std::lock_guard<std::mutex> lk(lock_);
    children_.push_back(std::move(handle));
  }

  // Waits for every child spawned so far (blocks the calling fiber or thread), then
  // rethrows the first exception any of them threw, once.
  void join();

  // Asks every child to stop (their this_fiber::stop_token() reports it).
  void request_stop();

 private:
  void fail(std::exception_ptr error);

  Executor* executor_;
  std::stop_source stop_;
  std::mutex lock_;  // guards children_, first_error_
  std::vector<JoinHandle<void>> children_;
  std::exception_ptr first_error_;
};

}  // namespace spindle
