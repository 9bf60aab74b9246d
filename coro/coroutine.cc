#include "spindle/coro/coroutine.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "spindle/coro/current.h"
#include "spindle/coro/overflow.h"
#include "spindle/coro/stack_platform.h"

namespace spindle {
namespace detail {
namespace {
std::atomic<std::uint64_t> g_id_blocks{1};
constexpr std::uint64_t kIdBlock = 1024;
thread_local std::uint64_t tls_next_id = 0, tls_id_end = 0;
}  // namespace

std::uint64_t next_unique_id() {
  // Blocks of ids per thread: no shared atomic on every fiber spawn. Called with
  // no switch in between its TLS accesses, so direct access is safe.
  if (tls_next_id == tls_id_end) {
    tls_next_id = g_id_blocks.fetch_add(kIdBlock, std::memory_order_relaxed);
    tls_id_end = tls_next_id + kIdBlock;
  }
  return tls_next_id++;
}

thread_local Coroutine* tls_current = nullptr;
// Whether this thread has its overflow handler and alternate signal stack. Both
// are constant-initialised, so reading them needs no TLS wrapper call.
thread_local bool tls_thread_ready = false;

void prepare_thread() {
  ensure_overflow_handler();
  tls_thread_ready = true;
}

Coroutine* current_coroutine() { return tls_current; }
void set_current_coroutine(Coroutine* co) { tls_current = co; }

}  // namespace detail

Coroutine* Coroutine::current() { return detail::current_coroutine(); }

Coroutine::Coroutine(Options options, std::size_t fn_size, std::size_t fn_align) : pool_(options.pool) {
  stack_ = pool_ != nullptr ? pool_->acquire() : Stack::allocate(options.stack_size);
  prepare(fn_size, fn_align, options.name);
}

void Coroutine::check_rearmable() {
  if (state_ == State::kRunning || state_ == State::kSuspended) {
    throw std::logic_error("spindle::Coroutine::rearm: coroutine " + std::to_string(id_) +
                           " has not finished");
  }
  if (state_ == State::kCreated && destroy_ != nullptr) destroy_(fn_);  // never ran
  destroy_ = nullptr;
  invoke_ = nullptr;
}

void Coroutine::prepare(std::size_t fn_size, std::size_t fn_align, std::string_view name) {
  id_ = detail::next_unique_id();
  const std::size_t n = std::min(name.size(), sizeof(name_buf_) - 1);
  std::copy_n(name.data(), n, name_buf_);
  name_ = std::string_view(name_buf_, n);
  state_ = State::kCreated;
  successor_ = nullptr;
  unwinding_ = false;
#if SPINDLE_ASAN
  // A finished coroutine's last frames never return, so their redzones stay
  // poisoned in the shadow; so do those of an unmapped stack whose addresses mmap
  // hands out again. Start every coroutine on a clean stack.
  ASAN_UNPOISON_MEMORY_REGION(stack_.bottom(), stack_.size());
#endif
  if (fn_size > stack_.size() / 4) {
    throw std::invalid_argument("spindle::Coroutine: callable of " + std::to_string(fn_size) +
                                " bytes leaves too little of a " +
                                std::to_string(stack_.size()) + "-byte stack");
  }
  // The callable sits at the top of the stack; the context's frames start below it.
  auto top = reinterpret_cast<std::uintptr_t>(stack_.top());
  const std::uintptr_t align = std::max<std::size_t>(fn_align, 16);
  top = (top - fn_size) & ~(align - 1);
  fn_ = reinterpret_cast<void*>(top);

  context_ = detail::Context{};
  context_.stack_bottom = stack_.bottom();
  context_.stack_size = stack_.size();
  context_.tsan_fiber = stack_.tsan_fiber();
#if defined(_WIN32)
  context_.stack_reservation = detail::stack_reservation(stack_);
#endif
  spindle_make_context(&context_, fn_, top - reinterpret_cast<std::uintptr_t>(stack_.bottom()),
                       &Coroutine::entry, this);
}

Coroutine::~Coroutine() {
  if (state_ == State::kRunning) misuse(this, "destroyed while running");
  if (state_ == State::kSuspended) {
    unwinding_ = true;
    resume();  // suspend() throws ForcedUnwind; the body unwinds and finishes
    if (state_ != State::kDone) misuse(this, "swallowed the forced unwind (catch (...) without rethrow?) and suspended again");
  } else if (state_ == State::kCreated && destroy_ != nullptr) {
    destroy_(fn_);  // never ran: the callable is destroyed here instead
  }
  if (pool_ != nullptr) pool_->release(std::move(stack_));
}

void Coroutine::resume_refused() const {
  throw std::logic_error("spindle::Coroutine::resume: coroutine " + std::to_string(id_) +
                         (state_ == State::kDone ? " has finished" : " is already running"));
}

void Coroutine::prepare_transfer(Coroutine& next) {
  // No switch in this function: direct TLS access is safe.
  if (detail::tls_current != this) [[unlikely]] misuse(this, "transfer_to() called from outside the coroutine");
  if (&next == this || next.state_ == State::kDone || next.state_ == State::kRunning) [[unlikely]] {
    next.resume_refused();
  }
  // `next` returns to our resumer: the resume() that is waiting for us.
  next.caller_ = caller_;
  caller_->running = &next;
  next.resumer_ = resumer_;
  next.state_ = State::kRunning;
  state_ = State::kSuspended;
  detail::tls_current = &next;
}

void Coroutine::rethrow() { std::rethrow_exception(std::exchange(exception_, nullptr)); }

void Coroutine::entry(void* arg) {
  auto* self = static_cast<Coroutine*>(arg);
  detail::context_started(&self->context_);
  if (!self->unwinding_) {
    try {
      self->invoke_(self->fn_);
    } catch (const detail::ForcedUnwind&) {
      // the owner is destroying us: finishing is all that is left to do
    } catch (...) {
      self->exception_ = std::current_exception();
    }
  }
  self->destroy_(self->fn_);
  Coroutine* next = std::exchange(self->successor_, nullptr);
  if (self->exception_ || self->unwinding_) next = nullptr;
  if (next != nullptr) self->prepare_transfer(*next);  // `next` runs in our place
  self->state_ = State::kDone;
  detail::switch_context_final(&self->context_, next != nullptr ? &next->context_ : &self->caller_->context);
}

void Coroutine::misuse(const Coroutine* co, const char* what) {
  if (co->name().empty()) {
    std::fprintf(stderr, "spindle: coroutine #%llu %s\n", static_cast<unsigned long long>(co->id()), what);
  } else {
    std::fprintf(stderr, "spindle: coroutine '%.*s' (#%llu) %s\n", static_cast<int>(co->name().size()),
                 co->name().data(), static_cast<unsigned long long>(co->id()), what);
  }
  std::abort();
}

}  // namespace spindle
