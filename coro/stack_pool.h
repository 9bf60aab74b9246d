// StackPool: a cache of equally sized stacks, so that creating a fiber reuses a
// mapping instead of paying mmap + mprotect + munmap each time.
#pragma once

#include <cstddef>
#include <vector>

#include "spindle/coro/stack.h"

namespace spindle {

// Not thread-safe: a pool belongs to one thread (the scheduler keeps one per
// worker). A stack taken from one pool may be given back to another of the same
// stack size. Cached stacks keep the pages their last user touched.
class StackPool {
 public:
  // `stack_size`: usable bytes of every stack; `max_cached`: stacks kept for reuse,
  // beyond which released stacks are unmapped. Throws std::invalid_argument for a
  // stack size Stack::allocate refuses.
  explicit StackPool(std::size_t stack_size = kDefaultStackSize, std::size_t max_cached = 256);

  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // A cached stack if there is one, else a fresh mapping.
  Stack acquire();
  // Keeps `stack` for reuse, or unmaps it if the cache is full or its size differs.
  void release(Stack stack);

  std::size_t stack_size() const { return stack_size_; }
  std::size_t cached() const { return free_.size(); }

 private:
  std::size_t stack_size_;
  std::size_t max_cached_;
  std::vector<Stack> free_;  // capacity reserved up front: release never allocates
};

}  // namespace spindle
