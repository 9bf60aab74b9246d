#include "spindle/sync/misuse.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "spindle/fibers/this_fiber.h"

namespace spindle::detail {
namespace {

constexpr std::uint64_t kThreadBit = std::uint64_t{1} << 63;

std::string describe(std::uint64_t id) {
  if (id == 0) return "nobody";
  if (id & kThreadBit) return "thread #" + std::to_string(id & ~kThreadBit);
  return "fiber #" + std::to_string(id);
}

}  // namespace

std::uint64_t caller_id() noexcept {
  if (const std::uint64_t f = this_fiber::id(); f != 0) return f;
  static std::atomic<std::uint64_t> next_thread{1};
  thread_local const std::uint64_t me = kThreadBit | next_thread.fetch_add(1, std::memory_order_relaxed);
  return me;
}

void sync_misuse(const char* type, const void* object, const char* what, std::uint64_t holder) noexcept {
  std::string caller = describe(caller_id());
  if (const std::uint64_t f = this_fiber::id(); f != 0 && !this_fiber::name().empty()) {
    caller += " '" + std::string(this_fiber::name()) + "'";
  }
  if (holder != 0) {
    std::fprintf(stderr, "spindle: %s %p: %s (called by %s; held by %s)\n", type, object, what, caller.c_str(),
                 describe(holder).c_str());
  } else {
    std::fprintf(stderr, "spindle: %s %p: %s (called by %s)\n", type, object, what, caller.c_str());
  }
  std::fflush(stderr);
  std::abort();
}

}  // namespace spindle::detail
