#include "spindle/fibers/fiber.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "spindle/fibers/waiter.h"

namespace spindle::detail {
namespace {

thread_local Fiber* tls_fiber = nullptr;
[[gnu::noinline]] void set_current_fiber(Fiber* f) { tls_fiber = f; }

// Marks joiner_ once the fiber has finished.
Waiter* const kJoinClosed = reinterpret_cast<Waiter*>(std::uintptr_t{1});

std::size_t normalized(std::size_t stack_size) {
  const std::size_t size = stack_size == 0 ? kDefaultStackSize : stack_size;
  const std::size_t page = Stack::page_size();
  return (size + page - 1) / page * page;
}

}  // namespace

Fiber* current_fiber() { return tls_fiber; }

void LocalSlots::clear() noexcept {
  for (std::size_t i = 0; i < kMaxFiberLocals; ++i) {
    if (values[i] != nullptr) {
      destroy[i](values[i]);
      values[i] = nullptr;
    }
  }
}

// Recycled control blocks: a cache per thread, spilling into a process-wide list.
// Blocks are freed only when the global list is full and no timer refers to them
// (a stale timer entry may outlive the wait that set it).
struct FiberPool {
  static constexpr std::size_t kThreadCache = 256;
  static constexpr std::size_t kGlobalCache = 16384;

  struct Global {
    std::mutex lock;
    Fiber* head = nullptr;
    std::size_t count = 0;
  };
  static Global& global() {
    static Global* g = new Global;  // never destroyed: thread caches spill into it at exit
    return *g;
  }

  struct ThreadCache {
    Fiber* head = nullptr;
    std::size_t count = 0;
    std::size_t stack_size = 0;
    ~ThreadCache() {
      while (head != nullptr) {
        Fiber* f = head;
        head = f->pool_next_;
        put_global(f);
      }
    }
  };
  static ThreadCache& cache() {
    thread_local ThreadCache c;
    return c;
  }

  static void put_global(Fiber* f) {
    Global& g = global();
    std::unique_lock<std::mutex> lk(g.lock);
    if (g.count >= kGlobalCache && f->timers_pending_.load(std::memory_order_acquire) == 0) {
      lk.unlock();
      delete f;
      return;
    }
    f->pool_next_ = g.head;
    g.head = f;
    ++g.count;
  }

  static Fiber* acquire(std::size_t stack_size) {
    ThreadCache& c = cache();
    if (c.head != nullptr && c.stack_size == stack_size) {
      Fiber* f = c.head;
      c.head = f->pool_next_;
      --c.count;
      return f;
    }
    Global& g = global();
    {
      std::lock_guard<std::mutex> lk(g.lock);
      for (Fiber** p = &g.head; *p != nullptr; p = &(*p)->pool_next_) {
        if ((*p)->coro_.stack().size() == stack_size) {
          Fiber* f = *p;
          *p = f->pool_next_;
          --g.count;
          return f;
        }
      }
    }
    return new Fiber(stack_size);
  }

  static void release(Fiber* f) {
    ThreadCache& c = cache();
    const std::size_t size = f->coro_.stack().size();
    if (c.count == 0) c.stack_size = size;
    if (c.count < kThreadCache && c.stack_size == size) {
      f->pool_next_ = c.head;
      c.head = f;
      ++c.count;
      return;
    }
    put_global(f);
  }
};

Fiber::Fiber(std::size_t stack_size) : coro_([] {}, {.stack_size = stack_size}) {
  run = &Fiber::run_task;
  timer_expired = &Fiber::on_timer;
}

Fiber* Fiber::acquire(std::size_t stack_size) { return FiberPool::acquire(normalized(stack_size)); }

void Fiber::start(Executor* executor, std::string_view name, void (*body)(void*), void* payload,
                  void (*destroy_payload)(void*)) {
  executor_ = executor;
  body_ = body;
  payload_ = payload;
  destroy_payload_ = destroy_payload;
  exception_ = nullptr;
  refs_.store(2, std::memory_order_relaxed);  // the running fiber + its JoinHandle
  finished_.store(false, std::memory_order_relaxed);
  joiner_.store(nullptr, std::memory_order_relaxed);
  stop_requested_.store(false, std::memory_order_relaxed);
  action_ = Action::kNone;
  id_ = next_unique_id();
  coro_.rearm([this] { run_body(); }, name);
}

void Fiber::run_body() {
  try {
    body_(payload_);
  } catch (const ForcedUnwind&) {
    throw;
  } catch (...) {
    exception_ = std::current_exception();
  }
  locals_.clear();  // FiberLocal values die with their fiber, on its own stack
}

void Fiber::run_task(Task* task) {
  auto* f = static_cast<Fiber*>(task);
  // Still on the executor thread before the switch: direct TLS access is safe.
  Fiber* outer = std::exchange(tls_fiber, f);  // non-null only if a fiber drives an executor loop
  f->coro_.resume();
  set_current_fiber(outer);
  // The fiber is off its stack now: from here on other threads may resume it.
  switch (std::exchange(f->action_, Action::kNone)) {
    case Action::kNone:
      f->finish();
      break;
    case Action::kPark:
      if (!f->park_callback_(f->park_arg_)) f->executor_->submit(f, Placement::kNext);
      break;  // f may already be running elsewhere: do not touch it
    case Action::kYield:
      f->executor_->submit(f, Placement::kBack);
      break;
    case Action::kRunChild: {
      Fiber* child = std::exchange(f->child_, nullptr);
      Executor* ex = f->executor_;
      ex->submit(f, Placement::kFront);
      ex->submit(child, Placement::kNext);
      break;
    }
  }
}

void Fiber::finish() {
  Executor* executor = executor_;
  finished_.store(true, std::memory_order_release);
  Waiter* joiner = joiner_.exchange(kJoinClosed, std::memory_order_acq_rel);
  if (joiner != nullptr) joiner->notify();
  release();
  executor->on_work_finished();  // last: the executor may be waiting to shut down
}

void Fiber::park(bool (*callback)(void*), void* arg) {
  park_callback_ = callback;
  park_arg_ = arg;
  action_ = Action::kPark;
  coro_.suspend();
}

void Fiber::run_child_first(Fiber* child) {
  child_ = child;
  action_ = Action::kRunChild;
  coro_.suspend();
}

bool Fiber::set_joiner(Waiter* waiter) {
  Waiter* expected = nullptr;
  if (joiner_.compare_exchange_strong(expected, waiter, std::memory_order_acq_rel)) return true;
  if (expected == kJoinClosed) return false;
  std::fprintf(stderr, "spindle: fiber #%llu joined from two places at once\n", static_cast<unsigned long long>(id_));
  std::abort();
}

void Fiber::release() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (payload_ != nullptr) destroy_payload_(std::exchange(payload_, nullptr));
  if (stop_source_made_) {  // both references are gone: nobody else touches it
    stop_source_ = std::stop_source(std::nostopstate);
    stop_source_made_ = false;
  }
  FiberPool::release(this);
}

void Fiber::request_stop() {
  std::stop_source source;
  {
    std::lock_guard<std::mutex> lk(stop_lock_);
    stop_requested_.store(true, std::memory_order_release);
    source = stop_source_;
  }
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

std::uint64_t Fiber::begin_wait() {
  const std::uint64_t seq = (wait_word_.load(std::memory_order_relaxed) >> 2) + 1;
  wait_word_.store((seq << 2) | kWaiting, std::memory_order_release);
  return seq;
}

bool Fiber::end_wait(std::uint64_t seq, WaitState to) {
  std::uint64_t expected = (seq << 2) | kWaiting;
  return wait_word_.compare_exchange_strong(expected, (seq << 2) | to, std::memory_order_acq_rel);
}

void Fiber::on_timer(Task* task, std::uint64_t seq) {
  auto* f = static_cast<Fiber*>(task);
  if (f->end_wait(seq, kTimedOut)) f->wake();
  f->timers_pending_.fetch_sub(1, std::memory_order_release);
}

}  // namespace spindle::detail
