#include "spindle/fibers/fiber.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "spindle/fibers/fiber_pool.h"
#include "spindle/fibers/waiter.h"
#include "spindle/sched/os_thread.h"
#include "spindle/sched/scheduler.h"

namespace spindle::detail {

static_assert(SchedulerOptions::kMaxStackSize == kMaxStackSize, "sched states coro's stack limit");

namespace {

thread_local Fiber* tls_fiber = nullptr;
[[gnu::noinline]] void set_current_fiber(Fiber* f) { tls_fiber = f; }

// The fiber that handed this thread to the running one and whose action is still
// to be done: set just before a hand-off, taken just after it, on one thread.
thread_local Fiber* tls_handoff_from = nullptr;

std::size_t normalized(std::size_t stack_size) {
  const std::size_t size = stack_size == 0 ? kDefaultStackSize : stack_size;
  const std::size_t page = Stack::page_size();  // a power of two
  return (size + page - 1) & ~(page - 1);
}

}  // namespace

Fiber* current_fiber() { return tls_fiber; }

std::uint64_t caller_id() noexcept {
  if (const Fiber* f = tls_fiber) return f->id();
  // Constant-initialised (no guard on every read); numbered on first use. No
  // switch happens in here, so direct thread-local access is safe.
  thread_local std::uint64_t me = 0;
  if (me == 0) [[unlikely]] {
    static std::atomic<std::uint64_t> next_thread{1};
    me = kCallerIsThread | next_thread.fetch_add(1, std::memory_order_relaxed);
  }
  return me;
}

void LocalSlots::clear() noexcept {
  if (table == nullptr || !table->any) return;
  Table& t = *table;
  t.any = false;
  for (std::size_t i = 0; i < kMaxFiberLocals; ++i) {
    if (t.values[i] != nullptr) {
      t.destroy[i](t.values[i]);
      t.values[i] = nullptr;
    }
  }
}

Fiber::Fiber(std::size_t stack_size) : coro_([] {}, {.stack_size = stack_size}) {
  run = &Fiber::run_task;
  timer_expired = &Fiber::on_timer;
}

Fiber* Fiber::acquire(std::size_t stack_size) {
  // Checked before rounding up to pages, which would wrap sizes near SIZE_MAX to 0.
  if (stack_size > kMaxStackSize) {
    throw std::invalid_argument("spindle::spawn: stack size " + std::to_string(stack_size) +
                                " bytes is above the limit of " + std::to_string(kMaxStackSize) +
                                " (FiberOptions::stack_size, SchedulerOptions::stack_size)");
  }
  return FiberPool::acquire(normalized(stack_size));
}

void Fiber::discard() noexcept {
  payload_ = nullptr;
  executor_ = nullptr;
  FiberPool::release(this);
}

void Fiber::start(Executor* executor, std::string_view name, void (*body)(void*), void* payload,
                  void (*destroy_payload)(void*)) {
  executor_ = executor;
  body_ = body;
  payload_ = payload;
  destroy_payload_ = destroy_payload;
  exception_ = nullptr;
  end_.store(0, std::memory_order_relaxed);
  stop_requested_.store(false, std::memory_order_relaxed);
  action_ = Action::kNone;
  park_hook_ = nullptr;
  coro_.rearm([this] { run_body(); }, name);
  id_ = coro_.id();  // unique per rearm: a fiber is known by its coroutine's id
}

void Fiber::run_body() {
  run_pending_handoff();  // a new fiber may start by being handed a worker
  try {
    body_(payload_);
  } catch (const ForcedUnwind&) {
    throw;
  } catch (...) {
    exception_ = std::current_exception();
  }
  locals_.clear();  // FiberLocal values die with their fiber, on its own stack
  // Finish by handing the worker straight to the next local fiber, which runs
  // finish() for us (action kNone) once we are off this stack.
  if (Fiber* next = take_handoff_target()) coro_.finish_into(next->coro_);
}

[[gnu::always_inline]] inline void Fiber::after_switch() {
  // This fiber is off its stack now: from here on other threads may resume it.
  switch (std::exchange(action_, Action::kNone)) {
    case Action::kNone:
      finish();
      break;
    case Action::kPark:
      if (!park_callback_(park_arg_)) executor_->submit(this, Placement::kNext);
      break;  // this fiber may already be running elsewhere: do not touch it
    case Action::kYield:
      executor_->submit(this, Placement::kBack);
      break;
    case Action::kRunChild: {
      Fiber* child = std::exchange(child_, nullptr);
      Executor* ex = executor_;
      ex->submit(this, Placement::kFront);
      ex->submit(child, Placement::kNext);
      break;
    }
    case Action::kQueueFront:
      executor_->submit(this, Placement::kFront);
      break;
  }
}

void Fiber::run_task(Task* task) {
  auto* f = static_cast<Fiber*>(task);
  // Still on the executor thread before the switch: direct TLS access is safe.
  Fiber* outer = std::exchange(tls_fiber, f);  // non-null only if a fiber drives an executor loop
  f->coro_.resume();
  // The fiber that switched back: f, or one that f (or a successor) handed the
  // thread to.
  Fiber* back = current_fiber();
  set_current_fiber(outer);
  back->after_switch();
}

[[gnu::noinline]] Fiber* Fiber::take_handoff_target() {
  Task* t = Scheduler::take_for_handoff(executor_, &Fiber::run_task);
  if (t == nullptr) return nullptr;
  auto* next = static_cast<Fiber*>(t);
  tls_handoff_from = this;
  tls_fiber = next;
  return next;
}

[[gnu::noinline]] bool Fiber::begin_handoff_to(Fiber* next) {
  if (!Scheduler::may_hand_off(executor_)) return false;
  tls_handoff_from = this;
  tls_fiber = next;
  return true;
}

[[gnu::noinline]] void Fiber::run_pending_handoff() {
  if (Fiber* from = std::exchange(tls_handoff_from, nullptr)) from->after_switch();
}

void Fiber::finish() {
  Executor* executor = executor_;
  if (exception_ != nullptr) [[unlikely]] unhandled_handler_ = executor->unhandled_exception_handler();
  const std::uintptr_t old = end_.fetch_or(kFinished, std::memory_order_acq_rel);
  // Unless the handle is already gone, it may recycle this block from now on.
  // notify_or_release: a joiner whose wait was stopped waits until we are done
  // with its Waiter (see withdraw_joiner).
  if (auto* joiner = reinterpret_cast<Waiter*>(old & ~kFlags)) joiner->notify_or_release();
  if (old & kReleased) recycle();
  executor->on_work_finished();  // last: the executor may be waiting to shut down
}

bool Fiber::set_joiner(Waiter* waiter) {
  std::uintptr_t expected = 0;
  if (end_.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(waiter), std::memory_order_acq_rel)) {
    return true;
  }
  if (expected & kFinished) return false;
  std::fprintf(stderr, "spindle: fiber #%llu joined from two places at once\n", static_cast<unsigned long long>(id_));
  std::abort();
}

Fiber::Withdrawal Fiber::withdraw_joiner(Waiter* waiter) {
  const auto mine = reinterpret_cast<std::uintptr_t>(waiter);
  std::uintptr_t expected = mine;
  // Pairs with finish()'s fetch_or: exactly one of the two takes the pointer out.
  if (end_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) return Withdrawal::kWithdrawn;
  return (expected & ~kFlags) == mine ? Withdrawal::kFinishing : Withdrawal::kNotRegistered;
}

void Fiber::release() {
  // Joined (or detached after it finished): the fiber side is done with the block
  // and nobody else can reach it, so no read-modify-write is needed.
  if (!(end_.load(std::memory_order_acquire) & kFinished) &&
      !(end_.fetch_or(kReleased, std::memory_order_acq_rel) & kFinished)) {
    return;  // still running: finish() recycles
  }
  recycle();
}

void Fiber::recycle() {
  // join() takes the exception before it releases the block: one still here was
  // detached (before or after the fiber ended) and nobody will ever see it.
  if (exception_ != nullptr) [[unlikely]] report_unhandled_exception();
  if (payload_ != nullptr) destroy_payload_(std::exchange(payload_, nullptr));
  if (stop_source_made_) {  // both sides are done: nobody else touches it
    stop_source_ = std::stop_source(std::nostopstate);
    stop_source_made_ = false;
  }
  FiberPool::release(this);
}

void Fiber::report_unhandled_exception() noexcept {  // noexcept: a throwing handler terminates
  const FiberInfo info{id_, coro_.name()};
  std::exception_ptr error = std::exchange(exception_, nullptr);
  if (auto handler = std::exchange(unhandled_handler_, nullptr); handler != nullptr && *handler) {
    (*handler)(info, std::move(error));
    return;
  }
  // Like an exception escaping a std::thread: name the fiber, then let the
  // terminate handler print the exception too (it is the active one here).
  std::string what = "an exception not derived from std::exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "spindle: exception escaped detached fiber #%llu '%.*s': %s\n",
               static_cast<unsigned long long>(info.id), static_cast<int>(info.name.size()), info.name.data(),
               what.c_str());
  std::fflush(stderr);
  try {
    std::rethrow_exception(error);
  } catch (...) {
    std::terminate();
  }
}

void Fiber::request_stop() {
  std::stop_source source;
  {
    std::lock_guard<std::mutex> lk(stop_lock_);
    // seq_cst: the Dekker pair of begin_wait(own_stop) (word store, flag load):
    // either the waiter sees the flag, or we see its wait below.
    stop_requested_.store(true, std::memory_order_seq_cst);
    source = stop_source_;
  }
  // A wait that the fiber's own stop cancels (this_fiber::sleep_*) ends now.
  const std::uint64_t w = wait_word_.load(std::memory_order_seq_cst);
  if ((w & kOwnStopBit) && (w & kStateMask) == kWaiting) stop_wait(w >> kSeqShift);
  if (source.stop_possible()) source.request_stop();  // callbacks run outside our lock
}

std::stop_token Fiber::stop_token() {
  std::lock_guard<std::mutex> lk(stop_lock_);
  if (!stop_source_made_) {
    stop_source_ = std::stop_source();  // created on first use: most fibers never ask
    stop_source_made_ = true;
    if (stop_requested_.load(std::memory_order_acquire)) stop_source_.request_stop();
  }
  return stop_source_.get_token();
}

std::uint64_t Fiber::begin_wait(bool own_stop) {
  const std::uint64_t seq = (wait_word_.load(std::memory_order_relaxed) >> kSeqShift) + 1;
  // seq_cst: with own_stop, the Dekker pair of request_stop() (flag store, word
  // load) against this store and the caller's load of stop_requested_ afterwards.
  wait_word_.store((seq << kSeqShift) | (own_stop ? kOwnStopBit : 0) | kWaiting, std::memory_order_seq_cst);
  return seq;
}

bool Fiber::end_wait(std::uint64_t seq, WaitState to) {
  std::uint64_t w = wait_word_.load(std::memory_order_relaxed);
  // Only kPublishedBit can change under us (the park callback): retry for it.
  while ((w >> kSeqShift) == seq && (w & kStateMask) == kWaiting) {
    if (wait_word_.compare_exchange_weak(w, (w & ~kStateMask) | to, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool Fiber::stop_wait(std::uint64_t seq) {
  std::uint64_t w = wait_word_.load(std::memory_order_relaxed);
  while ((w >> kSeqShift) == seq && (w & kStateMask) == kWaiting) {
    if (wait_word_.compare_exchange_weak(w, (w & ~kStateMask) | kStopped, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
      // Published: the fiber is parked and we ended its wait, so we ready it. Not
      // published: mark_published() will see kStopped and the park callback
      // readies it (both are read-modify-writes of this word: one sees the other).
      if (w & kPublishedBit) wake();
      return true;
    }
  }
  return false;
}

bool Fiber::mark_published(std::uint64_t seq) {
  std::uint64_t w = wait_word_.load(std::memory_order_relaxed);
  while ((w >> kSeqShift) == seq) {
    if (wait_word_.compare_exchange_weak(w, w | kPublishedBit, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      return (w & kStateMask) == kStopped;
    }
  }
  return false;  // a later wait: this one ended and the fiber ran on
}

void Fiber::on_timer(Task* task, std::uint64_t seq) {
  auto* f = static_cast<Fiber*>(task);
  if (f->end_wait(seq, kTimedOut)) f->wake();
  f->timers_pending_.fetch_sub(1, std::memory_order_release);
}

}  // namespace spindle::detail
