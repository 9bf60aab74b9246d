// Coroutine: a function running on its own stack that can suspend itself and be
// resumed later, possibly from another thread. No scheduler involved: this is the
// building block that fibers (fibers/) put on executors.
//
//   spindle::Coroutine co([&] {
//     std::puts("one");
//     spindle::Coroutine::current()->suspend();
//     std::puts("two");
//   });
//   co.resume();   // prints "one"
//   co.resume();   // prints "two"; co.done() is now true
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include "spindle/coro/context.h"
#include "spindle/coro/current.h"
#include "spindle/coro/stack.h"
#include "spindle/coro/stack_pool.h"

namespace spindle {

class Coroutine;

namespace detail {
// Defined in coroutine.cc. Read and written directly only on the calling thread
// before a switch; after a switch only through detail::current_coroutine() and
// friends (coro/current.h).
extern thread_local Coroutine* tls_current;
extern thread_local bool tls_thread_ready;
void prepare_thread();

// What resume() keeps in its own frame while the coroutine, or the ones it hands
// the thread to, runs: the resumer's saved context, and which coroutine holds the
// thread (transfer_to and finish_into update it), so that resume() learns who came
// back without a thread-local read. Coroutines reach it through caller_, by
// pointer: the resumer never reads memory that a later resume() of the same
// coroutine, maybe on another thread, rewrites.
struct ResumePoint {
  Context context{Context::SaveSlot{}};
  Coroutine* running;
};

// Thrown out of suspend() into a coroutine whose owner destroys it unfinished, so
// that its stack unwinds and its destructors run. Not a std::exception on purpose:
// a `catch (...)` that swallows it is misuse, reported when detected.
struct ForcedUnwind {};
}  // namespace detail

// How a Coroutine gets its stack and what diagnostics call it. Also spelled
// Coroutine::Options. Declared outside the class because a nested struct's default
// member initializers cannot serve a default argument of its enclosing class's
// constructor (clang rejects `Options options = {}` there).
struct CoroutineOptions {
  // Usable stack bytes, used when `pool` is null.
  std::size_t stack_size = kDefaultStackSize;
  // Stacks come from (and return to) this pool when set. It must outlive the
  // coroutine and belong to the thread that destroys it.
  StackPool* pool = nullptr;
  // Shown in diagnostics (stack overflow, misuse); truncated to 31 characters.
  std::string_view name = {};
};

class Coroutine {
 public:
  using Options = CoroutineOptions;

  // Creates a suspended coroutine that will run `body()` on its own stack at the
  // first resume(). The callable is stored at the top of that stack: creating a
  // coroutine allocates no heap memory beyond the stack (none with a warm pool).
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Coroutine>>>
  explicit Coroutine(F&& body, Options options = {});

  Coroutine(const Coroutine&) = delete;
  Coroutine& operator=(const Coroutine&) = delete;

  // Destroying a started, unfinished coroutine resumes it once with
  // detail::ForcedUnwind thrown from its suspend(), so every object on its stack is
  // destroyed; then the stack is released. Must not run inside the coroutine itself.
  ~Coroutine();

  // Runs the coroutine on the calling thread (blocking it) until it suspends or
  // finishes. An exception that escapes the body is rethrown here. Throws
  // std::logic_error if the coroutine is finished or already running.
  void resume();

  // Called from inside this coroutine: returns control to whoever resumed it.
  // Returns when it is resumed again. Aborts with a message if called from outside.
  void suspend();

  // Called from inside this coroutine: suspends it and continues `next` (suspended
  // or never started) in its place on this thread, with one switch instead of a
  // suspend() and a resume(). `next` inherits this coroutine's resumer: when `next`
  // suspends or finishes, the resume() that started this coroutine returns (and
  // rethrows what escaped `next`). Returns when this coroutine runs again. The
  // fibers layer uses it to hand a worker from one fiber straight to the next.
  // Throws std::logic_error if `next` is finished or running; aborts with a message
  // if called from outside this coroutine.
  void transfer_to(Coroutine& next);

  // Called from inside this coroutine: when its body returns, the thread goes on
  // into `next` (suspended or never started), as transfer_to would, instead of
  // back to the resumer; `next` inherits the resumer. An exception escaping the
  // body cancels this: resume() returns and rethrows it as usual. The fibers layer
  // uses it to hand a worker from a finishing fiber straight to the next one.
  void finish_into(Coroutine& next) { successor_ = &next; }

  // Gives a finished (or never started) coroutine a new body, reusing its stack:
  // what the fibers layer does to recycle fibers. The old callable, if it never
  // ran, is destroyed first. Throws std::logic_error on a running or suspended one.
  template <class F>
  void rearm(F&& body, std::string_view name = {});

  bool done() const { return state_ == State::kDone; }
  bool started() const { return state_ != State::kCreated; }

  // The coroutine running on this thread, or null on a thread's own stack. Not
  // inlined: the answer changes across a suspend() that resumes on another thread.
  static Coroutine* current();

  std::uint64_t id() const { return id_; }
  std::string_view name() const { return name_; }
  const Stack& stack() const { return stack_; }

 private:
  enum class State : std::uint8_t { kCreated, kRunning, kSuspended, kDone };

  Coroutine(Options options, std::size_t fn_size, std::size_t fn_align);
  // Places a callable of this size at the top of the stack and makes a fresh
  // context below it; also (re)assigns id and name.
  void prepare(std::size_t fn_size, std::size_t fn_align, std::string_view name);
  void check_rearmable();
  static void entry(void* self);
  [[noreturn]] void resume_refused() const;
  // transfer_to's checks and bookkeeping, out of line (the switch stays inline).
  void prepare_transfer(Coroutine& next);
  [[noreturn]] void rethrow();
  [[noreturn]] static void misuse(const Coroutine* co, const char* what);

  detail::Context context_;  // this coroutine's saved state while suspended
  // Whoever called resume(), while this one runs (inherited by transfer_to).
  detail::ResumePoint* caller_ = nullptr;
  Stack stack_;
  StackPool* pool_ = nullptr;
  void* fn_ = nullptr;                  // the callable, at the top of stack_
  void (*invoke_)(void*) = nullptr;     // calls it
  void (*destroy_)(void*) = nullptr;    // destroys it (once, after it ran or if never run)
  Coroutine* resumer_ = nullptr;        // current() of the caller, restored on return
  Coroutine* successor_ = nullptr;      // finish_into's target, while the body runs
  std::exception_ptr exception_;        // escaped the body; rethrown by resume()
  State state_ = State::kCreated;
  bool unwinding_ = false;              // set by ~Coroutine: suspend() throws ForcedUnwind
  std::uint64_t id_ = 0;
  std::string_view name_;
  char name_buf_[32] = {};
};

// resume() and suspend() are inline so that the switch is called from the user's
// own code: an out-of-line wrapper would `ret` into a frame the return-stack
// predictor does not expect, a mispredicted return on every switch.
inline void Coroutine::resume() {
  if (state_ == State::kDone || state_ == State::kRunning) [[unlikely]] resume_refused();
  if (!detail::tls_thread_ready) [[unlikely]] detail::prepare_thread();
  state_ = State::kRunning;
  Coroutine* const resumer = std::exchange(detail::tls_current, this);  // still on the calling thread
  resumer_ = resumer;
  // Fresh for every resume (the caller may be another thread than last time): the
  // sanitizers learn its stack and fiber afresh.
  detail::ResumePoint point;
  point.running = this;
  caller_ = &point;
  detail::switch_context(&point.context, &context_);
  // Back on the caller's stack: this coroutine, or one it handed the thread to,
  // suspended or finished; point.running says which. After a hand-over *this may
  // already run on another thread: touch only `back` (which suspended to us and is
  // ours until we publish it) and locals.
  Coroutine* back = point.running;
  detail::set_current_coroutine(resumer);
  if (back->exception_) [[unlikely]] back->rethrow();
}

inline void Coroutine::transfer_to(Coroutine& next) {
  prepare_transfer(next);
  detail::switch_context(&context_, &next.context_);
  // Resumed (by resume() or another transfer_to), which set state_ to kRunning.
  if (unwinding_) [[unlikely]] throw detail::ForcedUnwind{};
}

inline void Coroutine::suspend() {
  if (detail::current_coroutine() != this) [[unlikely]] {
    misuse(this, "suspend() called from outside the coroutine");
  }
  state_ = State::kSuspended;
  detail::switch_context(&context_, &caller_->context);
  // resume() set state_ to kRunning before switching back in.
  if (unwinding_) [[unlikely]] throw detail::ForcedUnwind{};
}

template <class F>
void Coroutine::rearm(F&& body, std::string_view name) {
  using Fn = std::decay_t<F>;
  check_rearmable();
  prepare(sizeof(Fn), alignof(Fn), name);
  ::new (fn_) Fn(std::forward<F>(body));
  invoke_ = [](void* p) { (*static_cast<Fn*>(p))(); };
  destroy_ = [](void* p) { static_cast<Fn*>(p)->~Fn(); };
}

template <class F, class>
Coroutine::Coroutine(F&& body, Options options)
    : Coroutine(options, sizeof(std::decay_t<F>), alignof(std::decay_t<F>)) {
  using Fn = std::decay_t<F>;
  // The private constructor reserved room for Fn at the top of the stack; if Fn's
  // constructor throws, the delegated-to constructor already completed, so
  // ~Coroutine runs and releases the stack without calling destroy_.
  ::new (fn_) Fn(std::forward<F>(body));
  invoke_ = [](void* p) { (*static_cast<Fn*>(p))(); };
  destroy_ = [](void* p) { static_cast<Fn*>(p)->~Fn(); };
}

}  // namespace spindle
