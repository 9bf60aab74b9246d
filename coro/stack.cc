#include "spindle/coro/stack.h"

#include <sys/mman.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace spindle {
namespace {

std::atomic<std::uint64_t> g_map_count{0};

// MADV_GUARD_INSTALL, spelled out for older kernel headers.
constexpr int kMadvGuardInstall = 102;

// How far below the guard page a fault still counts as this stack's overflow.
constexpr std::size_t kOverflowSlack = 64 * 1024;

}  // namespace

std::uint64_t stack_map_count() { return g_map_count.load(std::memory_order_relaxed); }

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
  // Prefer a lightweight guard region (Linux 6.13+): it does not split the
  // mapping's VMA, so a million stacks do not run into vm.max_map_count (65530 by
  // default; adjacent stacks merge into few VMAs). Older kernels: mprotect.
  if (madvise(p, guard_size(), kMadvGuardInstall) != 0 && mprotect(p, guard_size(), PROT_NONE) != 0) {
    const int err = errno;
    munmap(p, total);
    throw std::system_error(err, std::generic_category(), "spindle::Stack: guard page");
  }
  g_map_count.fetch_add(1, std::memory_order_relaxed);
  Stack s;
  s.mapping_ = p;
  s.mapped_size_ = total;
  s.valgrind_id_ = VALGRIND_STACK_REGISTER(s.bottom(), s.top());
  return s;
}

Stack::Stack(Stack&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)),
      mapped_size_(std::exchange(other.mapped_size_, 0)),
      valgrind_id_(std::exchange(other.valgrind_id_, 0)),
      tsan_fiber_(std::exchange(other.tsan_fiber_, nullptr)) {}

Stack& Stack::operator=(Stack&& other) noexcept {
  if (this != &other) {
    release();
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapped_size_ = std::exchange(other.mapped_size_, 0);
    valgrind_id_ = std::exchange(other.valgrind_id_, 0);
    tsan_fiber_ = std::exchange(other.tsan_fiber_, nullptr);
  }
  return *this;
}

Stack::~Stack() { release(); }

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

bool Stack::overflow_hit(const void* addr) const {
  if (mapping_ == nullptr) return false;
  const auto a = reinterpret_cast<std::uintptr_t>(addr);
  const auto guard_lo = reinterpret_cast<std::uintptr_t>(mapping_);
  const auto guard_hi = guard_lo + guard_size();
  const auto slack_lo = guard_lo > kOverflowSlack ? guard_lo - kOverflowSlack : 0;
  return a >= slack_lo && a < guard_hi;
}

void* Stack::tsan_fiber() {
#if SPINDLE_TSAN
  if (tsan_fiber_ == nullptr && mapping_ != nullptr) tsan_fiber_ = __tsan_create_fiber(0);
#endif
  return tsan_fiber_;
}

}  // namespace spindle
