#include "spindle/coro/stack_pool.h"

#include <stdexcept>
#include <string>
#include <utility>

namespace spindle {

StackPool::StackPool(std::size_t stack_size, std::size_t max_cached)
    : stack_size_(stack_size), max_cached_(max_cached) {
  if (stack_size == 0 || stack_size > kMaxStackSize) {
    throw std::invalid_argument("spindle::StackPool: stack size " + std::to_string(stack_size) +
                                " is outside 1.." + std::to_string(kMaxStackSize) + " bytes");
  }
  free_.reserve(max_cached_);
}

Stack StackPool::acquire() {
  if (free_.empty()) return Stack::allocate(stack_size_);
  Stack s = std::move(free_.back());
  free_.pop_back();
  return s;
}

void StackPool::release(Stack stack) {
  if (!stack.valid()) return;
  if (free_.size() < max_cached_ && stack.size() >= stack_size_ &&
      stack.size() < stack_size_ + Stack::page_size()) {
    free_.push_back(std::move(stack));
  }
  // otherwise `stack` unmaps as it goes out of scope
}

}  // namespace spindle
