// Fiber stacks: mmap'd, committed lazily by the kernel as pages are touched, with an
// inaccessible guard region below the usable range so that an overflow faults
// instead of corrupting memory (coro/overflow.h turns that fault into a clear
// message).
//
// How far the guard reaches (POSIX): 256 KiB below every stack (kGuardRegion), which
// costs address space, not memory. A function whose frame is larger than the room
// left on the stack moves the stack pointer past the usable range in one step; as
// long as the frame is at most 256 KiB, its first access still lands in the guard
// region, whatever it touches first. Larger frames can jump the guard into a
// neighbouring mapping: code with frames (or alloca/VLAs) that large should be
// built with -fstack-clash-protection, which makes GCC and clang touch every page
// of a large frame in order, so the first access beyond the stack is in the guard.
// Windows compilers always probe frames larger than a page (__chkstk), so there one
// guard page suffices.
#pragma once

#include <cstddef>
#include <cstdint>

#include "spindle/coro/sanitizers.h"

namespace spindle {

// Default usable stack size. 64 KiB holds ordinary code with room to spare, and
// only touched pages use memory: a fiber parked in Event::wait has touched one
// page of it, and 1,000,000 such fibers took 5.4 KiB of RSS each, control blocks
// included (bench/parked_fibers). Address space per stack is this plus the guard
// region (320 KiB in all; x86-64 gives a process 128 TiB). ASan's redzones roughly
// triple frame sizes, so sanitizer builds default to 256 KiB.
#if SPINDLE_ASAN || SPINDLE_TSAN
inline constexpr std::size_t kDefaultStackSize = 256 * 1024;
#else
inline constexpr std::size_t kDefaultStackSize = 64 * 1024;
#endif

// Largest stack we agree to map: anything bigger is almost surely a unit mistake.
inline constexpr std::size_t kMaxStackSize = std::size_t{1} << 30;

// Bytes of address space reserved as a guard below every stack on POSIX systems
// (rounded up to whole pages); see the top of this file.
inline constexpr std::size_t kGuardRegion = 256 * 1024;

// One mapping: [guard region][usable bytes ... top). Move-only; unmaps on
// destruction. Not thread-safe; a Stack belongs to whoever holds it.
//
// On Linux >= 6.13 the guard is made with madvise(MADV_GUARD_INSTALL), which keeps
// the stack a single memory mapping (VMA) that merges with its neighbours, so the
// number of live stacks is bounded by memory, not by vm.max_map_count. Older
// kernels get mprotect, which splits each stack into two VMAs: there about
// vm.max_map_count / 2 stacks (32,765 by default) can be live at once, and
// allocate() past that throws a std::system_error naming vm.max_map_count.
class Stack {
 public:
  // Maps a stack with at least `usable_size` bytes (rounded up to whole pages) and a
  // guard region. Throws std::invalid_argument for 0 or more than kMaxStackSize, and
  // std::system_error if the kernel refuses the mapping or the guard (its message
  // says so when the limit on the number of mappings was hit).
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
  // Lowest usable address, just above the guard region.
  void* bottom() const { return static_cast<char*>(mapping_) + guard_size(); }
  // Usable bytes between bottom() and top().
  std::size_t size() const { return mapped_size_ - guard_size(); }

  // True if `addr` lies anywhere in the guard region or just below it: a fault
  // there was this stack overflowing.
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
  // Bytes below bottom() that fault when touched: kGuardRegion rounded up to
  // pages on POSIX systems, one page on Windows.
  static std::size_t guard_size();
  // True when guards cost a memory mapping each (POSIX kernels without
  // MADV_GUARD_INSTALL, found out at the first allocation): then
  // vm.max_map_count bounds the number of live stacks.
  static bool guard_splits_mapping();

 private:
  void release() noexcept;

  void* mapping_ = nullptr;
  std::size_t mapped_size_ = 0;  // guard region included
  unsigned valgrind_id_ = 0;
  void* tsan_fiber_ = nullptr;
  unsigned tsan_uses_ = 0;
};

// Number of stack mappings made by this process so far (tests use it to prove that
// pools reuse stacks instead of remapping).
std::uint64_t stack_map_count();

}  // namespace spindle
