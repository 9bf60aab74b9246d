// Fiber stacks: mmap'd, committed lazily by the kernel as pages are touched, with an
// inaccessible guard page below the usable range so that an overflow faults instead
// of corrupting memory (coro/overflow.h turns that fault into a clear message).
#pragma once

#include <cstddef>
#include <cstdint>

#include "spindle/coro/sanitizers.h"

namespace spindle {

// Default usable stack size. 64 KiB holds ordinary code with room to spare while
// 1M parked fibers stay affordable (only touched pages use memory). ASan's redzones
// roughly triple frame sizes, so sanitizer builds default to 256 KiB.
#if SPINDLE_ASAN || SPINDLE_TSAN
inline constexpr std::size_t kDefaultStackSize = 256 * 1024;
#else
inline constexpr std::size_t kDefaultStackSize = 64 * 1024;
#endif

// Largest stack we agree to map: anything bigger is almost surely a unit mistake.
inline constexpr std::size_t kMaxStackSize = std::size_t{1} << 30;

// One mapping: [guard page][usable bytes ... top). Move-only; unmaps on destruction.
// Not thread-safe; a Stack belongs to whoever holds it.
class Stack {
 public:
  // Maps a stack with at least `usable_size` bytes (rounded up to whole pages) and a
  // guard page. Throws std::invalid_argument for 0 or more than kMaxStackSize, and
  // std::system_error if the kernel refuses the mapping.
  static Stack allocate(std::size_t usable_size);

  Stack() = default;
  Stack(Stack&& other) noexcept;
  Stack& operator=(Stack&& other) noexcept;
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  ~Stack();

  bool valid() const { return mapping_ != nullptr; }
  // Highest address (exclusive): stacks grow down from here.
  void* top() const { return static_cast<char*>(mapping_) + mapped_size_; }
  // Lowest usable address, just above the guard page.
  void* bottom() const { return static_cast<char*>(mapping_) + guard_size(); }
  // Usable bytes between bottom() and top().
  std::size_t size() const { return mapped_size_ - guard_size(); }

  // True if `addr` lies in the guard page or just below it (a frame larger than a
  // page can skip over the guard): the fault was this stack overflowing.
  bool overflow_hit(const void* addr) const;

  // TSan's fiber handle for contexts running on this stack, created on first use
  // and kept while the stack is pooled (creating one costs ~0.75 ms on GCC's
  // libtsan). Each call is one more context on it. A context that ends by its
  // final switch leaves its frames on TSan's shadow call stack for that fiber, so
  // after kTsanFiberReuse contexts the handle is replaced (TSan aborts once a
  // shadow stack reaches 65536 frames). Null without TSan.
  void* tsan_fiber();
  static constexpr unsigned kTsanFiberReuse = 256;

  static std::size_t page_size();
  static std::size_t guard_size() { return page_size(); }

 private:
  void release() noexcept;

  void* mapping_ = nullptr;
  std::size_t mapped_size_ = 0;  // guard page included
  unsigned valgrind_id_ = 0;
  void* tsan_fiber_ = nullptr;
  unsigned tsan_uses_ = 0;
};

// Number of stack mappings made by this process so far (tests use it to prove that
// pools reuse stacks instead of remapping).
std::uint64_t stack_map_count();

}  // namespace spindle
