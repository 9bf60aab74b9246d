// The portable half of Stack; the mapping itself is in stack_posix.cc or
// stack_win32.cc.
#include "spindle/coro/stack.h"

#include <atomic>
#include <utility>

#include "spindle/coro/stack_platform.h"

namespace spindle {
namespace {

std::atomic<std::uint64_t> g_map_count{0};

}  // namespace

namespace detail {
void count_stack_mapping() { g_map_count.fetch_add(1, std::memory_order_relaxed); }
}  // namespace detail

std::uint64_t stack_map_count() { return g_map_count.load(std::memory_order_relaxed); }

Stack::Stack(Stack&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)),
      mapped_size_(std::exchange(other.mapped_size_, 0)),
      valgrind_id_(std::exchange(other.valgrind_id_, 0)),
      tsan_fiber_(std::exchange(other.tsan_fiber_, nullptr)),
      tsan_uses_(std::exchange(other.tsan_uses_, 0)) {}

Stack& Stack::operator=(Stack&& other) noexcept {
  if (this != &other) {
    release();
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapped_size_ = std::exchange(other.mapped_size_, 0);
    valgrind_id_ = std::exchange(other.valgrind_id_, 0);
    tsan_fiber_ = std::exchange(other.tsan_fiber_, nullptr);
    tsan_uses_ = std::exchange(other.tsan_uses_, 0);
  }
  return *this;
}

Stack::~Stack() { release(); }

bool Stack::overflow_hit(const void* addr) const {
  if (mapping_ == nullptr) return false;
  const auto a = reinterpret_cast<std::uintptr_t>(addr);
  const auto guard_lo = reinterpret_cast<std::uintptr_t>(mapping_);
  const auto guard_hi = guard_lo + guard_size();
  const auto slack_lo = guard_lo > detail::kOverflowSlack ? guard_lo - detail::kOverflowSlack : 0;
  return a >= slack_lo && a < guard_hi;
}

void* Stack::tsan_fiber() {
#if SPINDLE_TSAN
  if (tsan_fiber_ != nullptr && ++tsan_uses_ > kTsanFiberReuse) {
    __tsan_destroy_fiber(tsan_fiber_);  // not running: its last context has finished
    tsan_fiber_ = nullptr;
  }
  if (tsan_fiber_ == nullptr && mapping_ != nullptr) {
    tsan_fiber_ = __tsan_create_fiber(0);
    tsan_uses_ = 0;
  }
#endif
  return tsan_fiber_;
}

}  // namespace spindle
