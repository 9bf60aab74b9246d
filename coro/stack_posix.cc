// Stack on POSIX systems: one anonymous mmap whose lowest kGuardRegion bytes are a
// guard region.
//
//   mapping_                      bottom()                                  top()
//   | guard region (256 KiB)       | usable, RW, committed when first touched |
//   | MADV_GUARD_INSTALL markers   |                                          |
//   | (or PROT_NONE, older kernels)|                                          |
//
// The guard is installed with madvise(MADV_GUARD_INSTALL) (Linux >= 6.13): guard
// markers in the page tables, which leave the mapping one VMA, so neighbouring
// stacks merge into a few VMAs and a million stacks stay far below
// vm.max_map_count (65530 by default). Kernels without it (EINVAL) get
// mprotect(PROT_NONE), which splits every stack into two VMAs: there the number of
// live stacks is bounded by about vm.max_map_count / 2, and the allocation past
// that bound throws a std::system_error that says so.
#include <sys/mman.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>

#include "spindle/coro/stack.h"
#include "spindle/coro/stack_platform.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // <linux/mman.h> of Linux 6.13; older headers lack it
#endif

namespace spindle {
namespace {

// False once MADV_GUARD_INSTALL was refused or found to have no effect: every
// later stack goes straight to mprotect. Relaxed: each thread may find out for
// itself, and finds the same.
std::atomic<bool> g_guard_install_works{true};
// Whether the first guard installed with MADV_GUARD_INSTALL was checked.
std::atomic<bool> g_guard_install_checked{false};

// True if reading `p` faults: the kernel refuses to copy from it (EFAULT). An
// emulator such as qemu-user accepts unknown madvise advice and ignores it; its
// guard would not guard, so the first one is checked this way.
bool unreadable(const void* p) {
  int fds[2];
  if (pipe(fds) != 0) return true;  // cannot tell: trust the kernel's answer
  const ssize_t n = write(fds[1], p, 1);
  const int err = errno;
  close(fds[0]);
  close(fds[1]);
  return n < 0 && err == EFAULT;
}

// Reads one number from a /proc file; -1 if unreadable.
long read_number(const char* path) {
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  long v = -1;
  if (std::fscanf(f, "%ld", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

// Lines of /proc/self/maps: the process's memory mappings (VMAs); -1 if unreadable.
long count_mappings() {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr) return -1;
  long lines = 0;
  for (int c; (c = std::fgetc(f)) != EOF;) lines += c == '\n';
  std::fclose(f);
  return lines;
}

// Throws for a failed mmap or mprotect of a stack, saying whether the process ran
// into the kernel's limit on mappings (ENOMEM with the map count near the limit).
[[noreturn]] void throw_stack_error(int err, const std::string& what) {
  if (err == ENOMEM) {
    const long limit = read_number("/proc/sys/vm/max_map_count");
    const long used = count_mappings();
    if (limit > 0 && used >= 0 && used + 16 >= limit) {
      const bool splits = !g_guard_install_works.load(std::memory_order_relaxed);
      throw std::system_error(
          err, std::generic_category(),
          what + ": the process has " + std::to_string(used) +
              " memory mappings and hit the kernel's map count limit (vm.max_map_count = " +
              std::to_string(limit) + ")" +
              (splits ? "; guards are made with mprotect here (no MADV_GUARD_INSTALL, Linux >= 6.13), "
                        "so each stack costs two mappings"
                      : "") +
              ": raise vm.max_map_count or keep fewer fibers alive");
    }
  }
  throw std::system_error(err, std::generic_category(), what);
}

// Makes [p, p + len) a guard region. Returns 0 or an errno value.
int install_guard(void* p, std::size_t len) {
  if (g_guard_install_works.load(std::memory_order_relaxed)) {
    if (madvise(p, len, MADV_GUARD_INSTALL) == 0) {
      if (g_guard_install_checked.load(std::memory_order_relaxed)) return 0;
      g_guard_install_checked.store(true, std::memory_order_relaxed);
      if (unreadable(p)) return 0;
      // Accepted but not in effect. Nothing to undo: the range is plain memory.
    } else if (errno != EINVAL) {  // EINVAL: the kernel does not know it
      return errno;
    }
    g_guard_install_works.store(false, std::memory_order_relaxed);
  }
  return mprotect(p, len, PROT_NONE) == 0 ? 0 : errno;
}

}  // namespace

std::size_t Stack::page_size() {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t Stack::guard_size() {
  static const std::size_t size = [] {
    const std::size_t page = page_size();
    return (kGuardRegion + page - 1) / page * page;
  }();
  return size;
}

namespace detail {
void use_mprotect_guards() { g_guard_install_works.store(false, std::memory_order_relaxed); }
}  // namespace detail

bool Stack::guard_splits_mapping() { return !g_guard_install_works.load(std::memory_order_relaxed); }

Stack Stack::allocate(std::size_t usable_size) {
  if (usable_size == 0 || usable_size > kMaxStackSize) {
    throw std::invalid_argument("spindle::Stack: size " + std::to_string(usable_size) +
                                " is outside 1.." + std::to_string(kMaxStackSize) + " bytes");
  }
  const std::size_t page = page_size();
  const std::size_t usable = (usable_size + page - 1) / page * page;
  const std::size_t total = usable + guard_size();
  // MAP_NORESERVE: pages are committed when first touched, so a 64 KiB stack that
  // only ever uses 2 KiB costs one page of memory, and the guard region none.
  // MAP_STACK: no transparent huge pages (Linux >= 6.7), which would commit 2 MiB
  // at a parked fiber's first touch.
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) {
    throw_stack_error(errno, "spindle::Stack: mmap of " + std::to_string(total) + " bytes");
  }
  if (const int err = install_guard(p, guard_size()); err != 0) {
    munmap(p, total);
    throw_stack_error(err, "spindle::Stack: guard region of " + std::to_string(guard_size()) + " bytes");
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
  munmap(mapping_, mapped_size_);  // the guard markers go with the mapping
  mapping_ = nullptr;
  mapped_size_ = 0;
  tsan_fiber_ = nullptr;
}

}  // namespace spindle
