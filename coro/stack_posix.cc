// Stack on POSIX systems: one anonymous mmap, the lowest page made inaccessible.
#include <sys/mman.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include "spindle/coro/stack.h"
#include "spindle/coro/stack_platform.h"

namespace spindle {

std::size_t Stack::page_size() {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

Stack Stack::allocate(std::size_t usable_size) {
  if (usable_size == 0 || usable_size > kMaxStackSize) {
    throw std::invalid_argument("spindle::Stack: size " + std::to_string(usable_size) +
                                " is outside 1.." + std::to_string(kMaxStackSize) + " bytes");
  }
  const std::size_t page = page_size();
  const std::size_t usable = (usable_size + page - 1) / page * page;
  const std::size_t total = usable + guard_size();
  // MAP_NORESERVE: pages are committed when first touched, so a 64 KiB stack that
  // only ever uses 2 KiB costs one page of memory.
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(),
                            "spindle::Stack: mmap of " + std::to_string(total) + " bytes");
  }
  if (mprotect(p, guard_size(), PROT_NONE) != 0) {
    const int err = errno;
    munmap(p, total);
    throw std::system_error(err, std::generic_category(), "spindle::Stack: guard page");
  }
  detail::count_stack_mapping();
  Stack s;
  s.mapping_ = p;
  s.mapped_size_ = total;
  s.valgrind_id_ = VALGRIND_STACK_REGISTER(s.bottom(), s.top());
  return s;
}

void Stack::release() noexcept {
  if (mapping_ == nullptr) return;
#if SPINDLE_TSAN
  if (tsan_fiber_ != nullptr) __tsan_destroy_fiber(tsan_fiber_);
#endif
  VALGRIND_STACK_DEREGISTER(valgrind_id_);
  munmap(mapping_, mapped_size_);
  mapping_ = nullptr;
  mapped_size_ = 0;
  tsan_fiber_ = nullptr;
}

}  // namespace spindle
