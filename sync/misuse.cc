#include "spindle/sync/misuse.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "spindle/fibers/fiber.h"
#include "spindle/fibers/this_fiber.h"

namespace spindle::detail {
namespace {


std::string describe(std::uint64_t id) {
  if (id == 0) return "nobody";
  if (id & kCallerIsThread) return "thread #" + std::to_string(id & ~kCallerIsThread);
  return "fiber #" + std::to_string(id);
}

}  // namespace

void sync_misuse(const char* type, const void* object, const char* what, std::uint64_t holder) noexcept {
  std::string caller = describe(caller_id());
  if (const std::uint64_t f = this_fiber::id(); f != 0 && !this_fiber::name().empty()) {
    caller += " '" + std::string(this_fiber::name()) + "'";
  }
  // The address as 0x<hex> on every platform (%p has no 0x on Windows).
  const auto address = static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(object));
  if (holder != 0) {
    std::fprintf(stderr, "spindle: %s 0x%llx: %s (called by %s; held by %s)\n", type, address, what, caller.c_str(),
                 describe(holder).c_str());
  } else {
    std::fprintf(stderr, "spindle: %s 0x%llx: %s (called by %s)\n", type, address, what, caller.c_str());
  }
  std::fflush(stderr);
  std::abort();
}

}  // namespace spindle::detail
