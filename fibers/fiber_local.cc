#include "spindle/fibers/fiber_local.h"

#include <mutex>
#include <stdexcept>
#include <string>

#include "spindle/sched/os_thread.h"

namespace spindle::detail {
namespace {

std::mutex g_slot_lock;
bool g_slot_used[kMaxFiberLocals] = {};
std::uint64_t g_next_generation = 1;

struct ThreadSlots {
  LocalSlots slots;  // its destructor destroys the values
};

}  // namespace

LocalSlotId allocate_local_slot() {
  std::lock_guard<std::mutex> lk(g_slot_lock);
  for (std::size_t i = 0; i < kMaxFiberLocals; ++i) {
    if (!g_slot_used[i]) {
      g_slot_used[i] = true;
      return {i, g_next_generation++};
    }
  }
  throw std::length_error("spindle::FiberLocal: all " + std::to_string(kMaxFiberLocals) + " slots in use");
}

void free_local_slot(std::size_t slot) {
  std::lock_guard<std::mutex> lk(g_slot_lock);
  g_slot_used[slot] = false;
}

LocalSlots& current_local_slots() {
  if (Fiber* f = current_fiber()) return f->locals();
  // Not a thread_local with a destructor: under mingw's emulated TLS that would
  // run on freed memory (sched/os_thread.h, at_thread_exit).
  constinit thread_local ThreadSlots* thread_slots = nullptr;
  if (thread_slots == nullptr) [[unlikely]] {
    thread_slots = new ThreadSlots;
    at_thread_exit([](void* p) { delete static_cast<ThreadSlots*>(p); }, thread_slots);
  }
  return thread_slots->slots;
}

}  // namespace spindle::detail
