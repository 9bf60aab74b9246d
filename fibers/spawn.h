// spawn: start a fiber; JoinHandle<T>: wait for it and take its result.
//
//   auto h = spindle::spawn([](int x) { return x * 2; }, 21);  // on the current scheduler
//   auto g = spindle::spawn(sched, [] { ... });                 // from any thread
//   int v = h.join();          // 42, or rethrows what the fiber threw
//   g.detach();                // or let it run on its own
//
// Spawning from a fiber onto its own executor runs the child first: the parent is
// queued behind it, where idle workers can steal it (work-first, as in Cilk). A
// fork-join tree therefore keeps only about depth x fan-out fibers alive instead of
// every pending leaf. From anywhere else the child is queued and a parked worker
// woken.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "spindle/fibers/fiber.h"
#include "spindle/fibers/waiter.h"
#include "spindle/sched/executor.h"

namespace spindle {

struct FiberOptions {
  // Where to run; null means the executor of the calling fiber or thread.
  Executor* executor = nullptr;
  // Shown in diagnostics (stack overflow, deadlock reports); truncated to 31 chars.
  std::string_view name = {};
  // Usable stack bytes; 0 takes the executor's fiber_stack_size() (for a
  // Scheduler, SchedulerOptions::stack_size), and if that is 0 too, coro's
  // kDefaultStackSize.
  std::size_t stack_size = 0;
};

namespace detail {

// A spawn's callable (with its bound arguments) and the slot for its result.
template <class Fn, class R>
struct Payload {
  Fn fn;
  std::optional<std::conditional_t<std::is_void_v<R>, char, R>> result;

  static void run(void* p) {
    auto* self = static_cast<Payload*>(p);
    if constexpr (std::is_void_v<R>) {
      std::move(self->fn)();
      self->result.emplace();
    } else {
      self->result.emplace(std::move(self->fn)());
    }
  }
};

[[noreturn]] void handle_misuse(const char* what, std::uint64_t fiber_id);
// The calling fiber's or thread's executor; throws if there is none.
Executor& default_executor();
// Submits (or, from a fiber on the same executor, runs first) a started fiber.
void launch(Fiber* fiber);

// Undoes a spawn that throws before its fiber is launched. Construction counts the
// fiber as the executor's work (on_work_started, which itself may throw); unless
// commit() is called, destruction destroys the held payload, returns the held
// control block to its pool unstarted, and gives the work count back
// (on_work_finished) — so the executor's count, its workers' spawn credit and the
// fiber pools are exactly as before the spawn.
class SpawnRollback {
 public:
  explicit SpawnRollback(Executor& executor) : executor_(&executor) { executor.on_work_started(); }
  SpawnRollback(const SpawnRollback&) = delete;
  SpawnRollback& operator=(const SpawnRollback&) = delete;
  ~SpawnRollback() {
    if (executor_ == nullptr) return;
    if (payload_ != nullptr) destroy_payload_(payload_);
    if (fiber_ != nullptr) fiber_->discard();
    executor_->on_work_finished();
  }
  Fiber* hold(Fiber* fiber) { return fiber_ = fiber; }
  void hold(void* payload, void (*destroy)(void*)) {
    payload_ = payload;
    destroy_payload_ = destroy;
  }
  void commit() { executor_ = nullptr; }

 private:
  Executor* executor_;
  Fiber* fiber_ = nullptr;
  void* payload_ = nullptr;
  void (*destroy_payload_)(void*) = nullptr;
};

}  // namespace detail

namespace detail {
struct HandleKey {  // only spawn() can make a joinable handle
  explicit HandleKey() = default;
};
}  // namespace detail

template <class T>
class [[nodiscard]] JoinHandle {
  using Slot = std::optional<std::conditional_t<std::is_void_v<T>, char, T>>;

 public:
  JoinHandle() = default;
  JoinHandle(detail::HandleKey, detail::Fiber* fiber, Slot* result, void (*destroy)(void*))
      : fiber_(fiber), result_(result), destroy_(destroy) {}
  JoinHandle(JoinHandle&& other) noexcept
      : fiber_(std::exchange(other.fiber_, nullptr)), result_(std::exchange(other.result_, nullptr)),
        destroy_(other.destroy_) {}
  JoinHandle& operator=(JoinHandle&& other) noexcept {
    if (this != &other) {
      if (fiber_ != nullptr) detail::handle_misuse("JoinHandle overwritten while joinable", fiber_->id());
      fiber_ = std::exchange(other.fiber_, nullptr);
      result_ = std::exchange(other.result_, nullptr);
      destroy_ = other.destroy_;
    }
    return *this;
  }
  // Destroying a joinable handle is misuse: the program ends with a message.
  ~JoinHandle() {
    if (fiber_ != nullptr) {
      detail::handle_misuse("JoinHandle destroyed while joinable: join() or detach() it first", fiber_->id());
    }
  }

  bool joinable() const { return fiber_ != nullptr; }
  std::uint64_t id() const { return fiber_ != nullptr ? fiber_->id() : 0; }

  // Waits for the fiber to finish and returns its result, or rethrows its
  // exception. Blocks the calling fiber (parked) or the calling thread. Throws
  // std::logic_error if the handle was already joined or detached, or if a fiber
  // joins itself.
  T join() {
    check_joinable();
    if (!fiber_->finished()) {
      Waiter w;
      w.object = fiber_;
      w.kind = "join";
      auto* f = fiber_;
      w.wait([f, &w] { return f->set_joiner(&w); });
    }
    return take_result();
  }

  // What join(stop_token) returns: the result, or nullopt if the stop came first;
  // for JoinHandle<void>, true if the fiber finished, false if the stop came first.
  using StoppableResult = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

  // As join(), but gives up when a stop is requested on `stop` (also at once if it
  // already was): returns nullopt (false for JoinHandle<void>) and the handle stays
  // joinable, to join or detach later. If the fiber finished, returns its result
  // (true for void) or rethrows its exception, as join() does. Blocks the calling
  // fiber (parked) or thread. Pass this_fiber::stop_token() to give up when the
  // calling fiber is asked to stop.
  StoppableResult join(const std::stop_token& stop) {
    check_joinable();
    if (!fiber_->finished()) {
      Waiter w;
      w.object = fiber_;
      w.kind = "join";
      auto* f = fiber_;
      if (w.wait([f, &w] { return f->set_joiner(&w); }, std::nullopt, stop) == WakeReason::kStopped) {
        switch (f->withdraw_joiner(&w)) {
          case detail::Fiber::Withdrawal::kWithdrawn:
            return StoppableResult{};  // still running; still joinable
          case detail::Fiber::Withdrawal::kFinishing:
            w.wait_released();  // it finished and is about to leave our Waiter alone
            break;
          case detail::Fiber::Withdrawal::kNotRegistered:
            break;  // it had finished before we could register
        }
      }
    }
    if constexpr (std::is_void_v<T>) {
      take_result();
      return true;
    } else {
      return StoppableResult(take_result());
    }
  }
  // Lets the fiber run on its own; its result is discarded. Throws std::logic_error
  // if already joined or detached.
  void detach() {
    if (fiber_ == nullptr) throw std::logic_error("spindle::JoinHandle::detach: already joined or detached");
    std::exchange(fiber_, nullptr)->release();
  }

  // Asks the fiber to stop: its this_fiber::stop_token() reports it, and its
  // this_fiber::sleep_for/sleep_until (now or later) return false at once.
  void request_stop() {
    if (fiber_ != nullptr) fiber_->request_stop();
  }

 private:
  void check_joinable() const {
    if (fiber_ == nullptr) throw std::logic_error("spindle::JoinHandle::join: already joined or detached");
    if (fiber_ == detail::current_fiber()) throw std::logic_error("spindle::JoinHandle::join: a fiber cannot join itself");
  }
  // The fiber has finished: takes its result (or rethrows) and lets go of it.
  T take_result() {
    detail::Fiber* f = std::exchange(fiber_, nullptr);
    void* payload = f->take_payload();
    std::exception_ptr error = f->take_exception();
    auto* slot = result_;
    auto cleanup = [&] {
      destroy_(payload);
      f->release();
    };
    if (error) {
      cleanup();
      std::rethrow_exception(error);
    }
    if constexpr (std::is_void_v<T>) {
      cleanup();
    } else {
      T value = std::move(**slot);
      cleanup();
      return value;
    }
  }

  detail::Fiber* fiber_ = nullptr;
  Slot* result_ = nullptr;
  void (*destroy_)(void*) = nullptr;
};

// Starts fn(args...) on a fiber. Arguments are decay-copied (use std::ref to pass
// references). Throws std::logic_error if there is no executor to run on, or if the
// executor is shutting down and the call comes from outside it;
// std::invalid_argument if the stack size is above kMaxStackSize (coro/stack.h);
// std::system_error if the stack cannot be mapped; and whatever copying or moving
// fn and args throws (std::bad_alloc included). A spawn that throws has no effect:
// nothing is started, and the executor (its shutdown included) is as before.
template <class F, class... A>
auto spawn(const FiberOptions& options, F&& f, A&&... args) {
  using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>;
  auto bound = [fn = std::forward<F>(f), tup = std::make_tuple(std::forward<A>(args)...)]() mutable -> R {
    return std::apply(std::move(fn), std::move(tup));
  };
  using P = detail::Payload<decltype(bound), R>;
  Executor& executor = options.executor != nullptr ? *options.executor : detail::default_executor();
  // Everything from here to launch may throw (an invalid stack size, a failed stack
  // allocation, bad_alloc, a throwing move of the callable): the rollback then gives
  // back what was taken, so a failed spawn leaves the executor as it was.
  detail::SpawnRollback rollback(executor);
  detail::Fiber* fiber = rollback.hold(
      detail::Fiber::acquire(options.stack_size != 0 ? options.stack_size : executor.fiber_stack_size()));
  P* payload;
  void (*destroy)(void*);
  if constexpr (sizeof(P) <= detail::Fiber::kInlinePayload && alignof(P) <= 16) {
    payload = ::new (fiber->inline_payload()) P{std::move(bound), std::nullopt};
    destroy = [](void* p) { static_cast<P*>(p)->~P(); };
  } else {
    payload = new P{std::move(bound), std::nullopt};
    destroy = [](void* p) { delete static_cast<P*>(p); };
  }
  rollback.hold(payload, destroy);
  fiber->start(&executor, options.name, &P::run, payload, destroy);
  JoinHandle<R> handle(detail::HandleKey{}, fiber, &payload->result, destroy);
  rollback.commit();  // from here nothing throws: the fiber owns the payload
  detail::launch(fiber);
  return handle;
}

// Starts fn(args...) on `executor` (a Scheduler, ThreadPool, ManualExecutor...).
template <class F, class... A>
auto spawn(Executor& executor, F&& f, A&&... args) {
  return spawn(FiberOptions{.executor = &executor}, std::forward<F>(f), std::forward<A>(args)...);
}

// Starts fn(args...) on the executor of the calling fiber (or executor thread).
template <class F, class... A,
          class = std::enable_if_t<!std::is_base_of_v<Executor, std::remove_cvref_t<F>> &&
                                   !std::is_same_v<std::remove_cvref_t<F>, FiberOptions>>>
auto spawn(F&& f, A&&... args) {
  return spawn(FiberOptions{}, std::forward<F>(f), std::forward<A>(args)...);
}

}  // namespace spindle
